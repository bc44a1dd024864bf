/* SPDX-License-Identifier: MIT */
/* C half of the assembly context switch: building the first frame of a new
 * context, and AddressSanitizer / ThreadSanitizer fiber annotations (see
 * ctx.h). */
#include "ctx.h"

#if !defined(CIO_CTX_UCONTEXT)

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

/* In ctx_<cpu>.S. */
void cio__ctx_asm_switch(cio__ctx *from, cio__ctx *to);
void cio__ctx_asm_trampoline(void);

#if defined(CIO__ASAN)
/* ASan has to be told about every stack switch, or it mistakes the new
 * stack for a huge frame on the old one (false reports after a noreturn
 * call, fake stacks mixed up between coroutines).  The resumed side has to
 * tell ASan where the stack it came from lies, so the bounds of the native
 * thread stack (which nobody gave us) are learnt the first time it is left. */
static _Thread_local cio__ctx *switching_from;

struct start_block {
    void (*entry)(void *);
    void *arg;
};

static void after_switch(void *fake_stack)
{
    const void *lo;
    size_t size;

    __sanitizer_finish_switch_fiber(fake_stack, &lo, &size);
    switching_from->asan_stack_lo = lo;
    switching_from->asan_stack_size = size;
}

static void asan_entry(void *p)
{
    struct start_block *b = p;
    void (*entry)(void *) = b->entry;
    void *arg = b->arg;

    after_switch(NULL);
    entry(arg);
    abort();
}

void cio__ctx_switch(cio__ctx *from, cio__ctx *to)
{
    switching_from = from;
    __sanitizer_start_switch_fiber(&from->asan_fake_stack, to->asan_stack_lo,
                                   to->asan_stack_size);
    tsan_switch(from, to);
    cio__ctx_asm_switch(from, to);
    after_switch(from->asan_fake_stack);
}

void cio__ctx_switch_last(cio__ctx *from, cio__ctx *to)
{
    /* NULL tells ASan to free this coroutine's fake stack. */
    switching_from = from;
    __sanitizer_start_switch_fiber(NULL, to->asan_stack_lo, to->asan_stack_size);
    tsan_switch(from, to);
    cio__ctx_asm_switch(from, to);
    abort();
}
#elif defined(CIO__TSAN)
/* Without ASan these replace the weak aliases of cio__ctx_asm_switch in
 * ctx_<cpu>.S.  The dying context's fiber is destroyed later, from the
 * loop, by cio__ctx_free. */
void cio__ctx_switch(cio__ctx *from, cio__ctx *to)
{
    tsan_switch(from, to);
    cio__ctx_asm_switch(from, to);
}

void cio__ctx_switch_last(cio__ctx *from, cio__ctx *to)
{
    tsan_switch(from, to);
    cio__ctx_asm_switch(from, to);
    abort();
}
#endif /* CIO__ASAN / CIO__TSAN */

void cio__ctx_make(cio__ctx *ctx, void *stack_lo, size_t size,
                   void (*entry)(void *arg), void *arg)
{
    uintptr_t top = ((uintptr_t)stack_lo + size) & ~(uintptr_t)15;
#if defined(CIO__TSAN)
    void *tsan_fiber = tsan_make_begin(ctx);
#endif

    memset(ctx, 0, sizeof *ctx);
#if defined(CIO__TSAN)
    tsan_make_end(ctx, tsan_fiber);
#endif
#if defined(CIO__ASAN)
    ctx->asan_stack_lo = stack_lo;
    ctx->asan_stack_size = size;
    {
        /* The shim needs entry and arg; keeping them on the new stack
         * rather than in *ctx lets the task layer move ctx before the
         * first switch. */
        struct start_block *b;
        top -= 16;
        b = (struct start_block *)top;
        b->entry = entry;
        b->arg = arg;
        entry = asan_entry;
        arg = b;
    }
#endif

#if defined(CIO__CTX_ASM_X86_64)
    {
        /* Frame layout: see ctx_x86_64.S.  The 16 bytes at the top stay
         * zero (a null return address for anything that unwinds past the
         * trampoline) and put the trampoline's %rsp on a 16-byte boundary. */
        uint64_t *f = (uint64_t *)(top - 80);
        uint32_t mxcsr;
        uint16_t fpucw;

        __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
        __asm__ volatile("fnstcw %0" : "=m"(fpucw));
        f[0] = (uint64_t)mxcsr | (uint64_t)fpucw << 32;
        f[1] = 0;                                    /* r15 */
        f[2] = 0;                                    /* r14 */
        f[3] = (uint64_t)(uintptr_t)arg;             /* r13 */
        f[4] = (uint64_t)(uintptr_t)entry;           /* r12 */
        f[5] = 0;                                    /* rbx */
        f[6] = 0;                                    /* rbp */
        f[7] = (uint64_t)(uintptr_t)cio__ctx_asm_trampoline;
        f[8] = 0;
        f[9] = 0;
        ctx->sp = f;
    }
#elif defined(CIO__CTX_ASM_AARCH64)
    {
        /* Frame layout: see ctx_aarch64.S. */
        uint64_t *f = (uint64_t *)(top - 16 - 176);
        uint64_t fpcr;

        __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
        memset(f, 0, 176 + 16);
        f[0] = (uint64_t)(uintptr_t)entry;           /* x19 */
        f[1] = (uint64_t)(uintptr_t)arg;             /* x20 */
        f[11] = (uint64_t)(uintptr_t)cio__ctx_asm_trampoline; /* x30 */
        f[20] = fpcr;
        ctx->sp = f;
    }
#endif
}

#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int cio__ctx_asm_unused;
#endif /* !CIO_CTX_UCONTEXT */
