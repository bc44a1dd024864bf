/* SPDX-License-Identifier: MIT */
/* ucontext fallback for CPUs without an assembly context switch (see ctx.h).
 *
 * Correct everywhere glibc/musl provide makecontext, but every swapcontext
 * does a sigprocmask system call, so a switch costs hundreds of ns instead of
 * a few.  The signal mask is therefore per context in this build, which
 * nobody should rely on: the assembly back ends share one mask.
 */
/* makecontext and friends are not in ISO C. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "ctx.h"

#if defined(CIO_CTX_UCONTEXT)

#include <stdint.h>
#include <stdlib.h>
#include <string.h>


#if defined(CIO__ASAN)
#  include <sanitizer/common_interface_defs.h>
#endif
#if defined(CIO__TSAN)
#  include "ctx_tsan.h"
#else
#  define tsan_switch(from, to) ((void)0)
#endif

/* Kept on the new stack rather than in *ctx so that the task layer may move
 * ctx between make and the first switch. */
struct start_block {
    void (*entry)(void *);
    void *arg;
};

#if defined(CIO__ASAN)
/* See ctx_asm.c for why these annotations exist. */
static _Thread_local cio__ctx *switching_from;

static void after_switch(void *fake_stack)
{
    const void *lo;
    size_t size;

    __sanitizer_finish_switch_fiber(fake_stack, &lo, &size);
    switching_from->asan_stack_lo = lo;
    switching_from->asan_stack_size = size;
}
#endif

/* makecontext only passes int arguments, so the pointer travels as two
 * 32-bit halves; this works for 32- and 64-bit pointers alike. */
static void start(unsigned lo, unsigned hi)
{
    uintptr_t p = (uintptr_t)(((uint64_t)hi << 32) | (uint64_t)lo);
    struct start_block *b = (struct start_block *)p;

#if defined(CIO__ASAN)
    after_switch(NULL);
#endif
    b->entry(b->arg);
    /* uc_link is NULL, so returning would silently end the thread. */
    abort();
}

void cio__ctx_make(cio__ctx *ctx, void *stack_lo, size_t size,
                   void (*entry)(void *arg), void *arg)
{
    uintptr_t top = ((uintptr_t)stack_lo + size) & ~(uintptr_t)15;
    struct start_block *b = (struct start_block *)(top - 16);
    uint64_t p = (uint64_t)(uintptr_t)b;
#if defined(CIO__TSAN)
    void *tsan_fiber = tsan_make_begin(ctx);
#endif

    memset(ctx, 0, sizeof *ctx);
#if defined(CIO__TSAN)
    tsan_make_end(ctx, tsan_fiber); /* not after getcontext: -Wclobbered */
#endif
    b->entry = entry;
    b->arg = arg;
    /* Also captures the caller's FP environment and signal mask, which the
     * new context starts with. */
    if (getcontext(&ctx->uc) != 0)
        abort();
    ctx->uc.uc_stack.ss_sp = stack_lo;
    ctx->uc.uc_stack.ss_size = (size_t)((uintptr_t)b - (uintptr_t)stack_lo);
    ctx->uc.uc_stack.ss_flags = 0;
    ctx->uc.uc_link = NULL;
    makecontext(&ctx->uc, (void (*)(void))start, 2,
                (unsigned)(p & 0xffffffffu), (unsigned)(p >> 32));
    ctx->asan_stack_lo = stack_lo;
    ctx->asan_stack_size = size;
}

void cio__ctx_switch(cio__ctx *from, cio__ctx *to)
{
#if defined(CIO__ASAN)
    switching_from = from;
    __sanitizer_start_switch_fiber(&from->asan_fake_stack, to->asan_stack_lo,
                                   to->asan_stack_size);
#endif
    tsan_switch(from, to);
    if (swapcontext(&from->uc, &to->uc) != 0)
        abort();
#if defined(CIO__ASAN)
    after_switch(from->asan_fake_stack);
#endif
}

void cio__ctx_switch_last(cio__ctx *from, cio__ctx *to)
{
#if defined(CIO__ASAN)
    switching_from = from;
    __sanitizer_start_switch_fiber(NULL, to->asan_stack_lo, to->asan_stack_size);
#endif
    /* The dying context's fiber is destroyed later by cio__ctx_free. */
    tsan_switch(from, to);
    (void)from;
    setcontext(&to->uc);
    abort();
}

#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int cio__ctx_ucontext_unused;
#endif /* CIO_CTX_UCONTEXT */
