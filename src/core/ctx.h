/* SPDX-License-Identifier: MIT */
/* Machine context switch for cio's stackful coroutines.
 *
 * The back end is chosen at build time, not through function pointers:
 *   - CIO_CTX_UCONTEXT defined: makecontext/swapcontext (ctx_ucontext.c).
 *     Portable but slow, because swapcontext saves and restores the signal
 *     mask with a system call on every switch.
 *   - otherwise a few instructions of assembly for x86-64 SysV
 *     (ctx_x86_64.S) or AArch64 (ctx_aarch64.S), with ctx_asm.c for the
 *     parts that are easier in C.
 * Every ctx_* source guards itself with the same conditions, so a build may
 * compile all of them unconditionally; the ones not selected come out empty.
 *
 * No locking: a suspended context must be resumed on the thread that last
 * ran it (compiled code caches thread-local addresses in registers).
 */
#ifndef CIO_CORE_CTX_H
#define CIO_CORE_CTX_H

#if defined(CIO_CTX_UCONTEXT)
#elif defined(__x86_64__) && !defined(_WIN64)
#  define CIO__CTX_ASM_X86_64 1
#elif defined(__aarch64__)
#  define CIO__CTX_ASM_AARCH64 1
#else
#  error "cio: no assembly context switch for this CPU/ABI; define CIO_CTX_UCONTEXT to use the ucontext fallback"
#endif

/* The .S files include this header for the selection above only. */
#ifndef __ASSEMBLER__

#include <stddef.h>
#if defined(CIO_CTX_UCONTEXT)
#  include <ucontext.h>
#endif

/* ThreadSanitizer build?  Then every context made with cio__ctx_make is a
 * TSan fiber and every switch tells TSan (ctx_tsan.h); without that TSan
 * sees one thread whose shadow call stack keeps growing and jumping between
 * unrelated frames. */
#include "sanitizer.h"

typedef struct cio__ctx {
#if defined(CIO_CTX_UCONTEXT)
    ucontext_t uc;
#else
    /* Saved stack pointer; everything else lives in a small frame on the
     * suspended stack itself, so a suspended context costs 8 bytes here. */
    void *sp;
#endif
    /* AddressSanitizer fiber bookkeeping: the bounds of the stack this
     * context runs on and ASan's fake stack while it is suspended.  Present
     * in every build (never touched without ASan) so that objects compiled
     * with and without -fsanitize=address agree on the layout of structs
     * that embed a cio__ctx. */
    const void *asan_stack_lo;
    size_t asan_stack_size;
    void *asan_fake_stack;
    /* ThreadSanitizer fiber of this context: from cio__ctx_reserve or
     * cio__ctx_make (past a cap, a shared one: see ctx_tsan.h), given back
     * by cio__ctx_free; for a native stack's context, its thread's fiber,
     * learnt at every switch away.  Present in every build, like the ASan
     * fields. */
    void *tsan_fiber;
} cio__ctx;

/* Prepare ctx so that the first switch to it calls entry(arg) on the stack
 * [stack_lo, stack_lo + size).  The stack must be at least a few hundred
 * bytes; its top is used for the initial frame and is written immediately.
 * entry must never return (the task layer switches away for the last time);
 * if it does, the process aborts.  The new context starts with the floating
 * point control state (rounding mode, exception masks) of the caller of
 * cio__ctx_make, like a ucontext made from getcontext would. */
void cio__ctx_make(cio__ctx *ctx, void *stack_lo, size_t size,
                   void (*entry)(void *arg), void *arg);

/* Save the callee-saved registers and FP control state into *from and resume
 * *to.  Returns when something switches back to from.  Works from the
 * thread's native stack and from coroutine stacks alike (A -> loop -> B and
 * A -> B directly).  from needs no initialisation (a context for the native
 * stack is simply a cio__ctx that is switched from first); to must have been
 * made with cio__ctx_make or filled by an earlier switch away from it. */
void cio__ctx_switch(cio__ctx *from, cio__ctx *to);

/* Same as cio__ctx_switch, but promises that from will never be resumed.
 * Only matters under AddressSanitizer, where it releases the fake stack of
 * the dying coroutine; elsewhere it is exactly cio__ctx_switch.  The task
 * layer should use it for a finished task's final switch. */
void cio__ctx_switch_last(cio__ctx *from, cio__ctx *to);

/* Both are empty inlines unless built with ThreadSanitizer (ctx_tsan.h).
 *
 * cio__ctx_reserve sets up now, for a context to be made later, what
 * cio__ctx_make would otherwise set up then besides the stack: the TSan
 * fiber.  Some TSan runtimes take a fraction of a millisecond per fiber;
 * the task layer reserves at spawn, so that tasks spawned together still
 * start together.  A reserved ctx goes to cio__ctx_make (which keeps the
 * fiber) or to cio__ctx_free.
 *
 * cio__ctx_free releases what cio__ctx_reserve or cio__ctx_make set up
 * besides the stack.  Call it once ctx will never be switched to again,
 * from another context (never from ctx itself), on the thread that made
 * it; then ctx may be reserved or made again.  Only for such contexts (or
 * ones already freed), never for a native stack's. */
#if defined(CIO__TSAN)
void cio__ctx_reserve(cio__ctx *ctx);
void cio__ctx_free(cio__ctx *ctx);
#else
static inline void cio__ctx_reserve(cio__ctx *ctx) { (void)ctx; }
static inline void cio__ctx_free(cio__ctx *ctx) { (void)ctx; }
#endif

#endif /* !__ASSEMBLER__ */

#endif /* CIO_CORE_CTX_H */
