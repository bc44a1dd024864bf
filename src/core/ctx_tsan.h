/* SPDX-License-Identifier: MIT */
/* ThreadSanitizer fiber annotations for the context switch (see ctx.h).
 * Private to the back ends: included by exactly one of ctx_asm.c and
 * ctx_ucontext.c per build (the one selected), and only with CIO__TSAN, so
 * the non-static functions below are defined once.
 *
 * Each context made by cio__ctx_make is a TSan fiber of its own (own shadow
 * call stack, own vector clock); a native stack runs in its thread's fiber,
 * which its cio__ctx learns at every switch away (from needs no
 * initialisation).  Every switch passes flag 0, so it synchronises the two
 * fibers, which is right since they take turns on one thread.  A fiber
 * lives exactly as long as its context (from cio__ctx_reserve or
 * cio__ctx_make to cio__ctx_free): TSan counts live fibers as running
 * threads, so an idle one would make every fork() a fork of a
 * multi-threaded process, where TSan turns synchronisation tracking off in
 * the child (false reports), and make TSan sleep a second at exit.
 *
 * GCC 12's TSan runtime (the one before GCC 13 and clang 14) makes fibers
 * dear: creating one takes about 0.3 ms (hence cio__ctx_reserve, so that
 * tasks spawned together still start together, not 0.3 ms apart, which
 * reorders timers due within the same millisecond) and 850 KiB, and it
 * dies past 8128 live threads and fibers ("Thread limit exceeded").  Past
 * CIO__TSAN_MAX_FIBERS live fibers of their own (process-wide), new
 * contexts therefore share one: a fiber per thread handed to up to
 * CIO__TSAN_SHARED_USES contexts and destroyed when the last of them is
 * freed.  Contexts sharing a fiber still take turns with everything else on
 * their thread, so TSan reports no false races, but their frames mix in
 * that fiber's shadow call stack, where a context that ends leaves its last
 * frames for good (which is why a shared fiber is handed out only so many
 * times: the shadow stack holds 64 Ki frames).  The newer runtime creates a
 * fiber in ~10 us with ~15 KiB and takes hundreds of thousands. */
#ifndef CIO_CORE_CTX_TSAN_H
#define CIO_CORE_CTX_TSAN_H

#include <sanitizer/tsan_interface.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#ifndef CIO__TSAN_MAX_FIBERS
#  if defined(__clang__) || __GNUC__ >= 13
#    define CIO__TSAN_MAX_FIBERS 1000000
#  else
#    define CIO__TSAN_MAX_FIBERS 256 /* ~220 MiB of ThreadStates */
#  endif
#endif
#ifndef CIO__TSAN_SHARED_USES
#  define CIO__TSAN_SHARED_USES 256
#endif

/* Fibers of a context's own alive, process-wide. */
static atomic_long tsan_own_fibers;

/* A shared fiber.  cio__ctx.tsan_fiber points at one of these with the low
 * bit set.  Records are per thread and freed by the thread that made the
 * contexts (the task layer frees a context on its loop's thread). */
typedef struct tsan_shared {
    void *fiber; /* NULL while no context uses the record */
    long refs;   /* contexts using fiber */
    unsigned uses; /* contexts fiber was handed to */
    bool retired;  /* no longer its thread's current one: freed at refs 0 */
} tsan_shared;

#define TSAN_SHARED_TAG ((uintptr_t)1)

/* Per thread: the shared record new contexts get, and whether the running
 * context is a made one whose tsan_fiber is not its own fiber (shared, or
 * none if out of memory): that field is then left alone when it switches
 * away. */
static _Thread_local tsan_shared *tsan_shared_cur;
static _Thread_local bool tsan_running_borrowed;

static void tsan_shared_unref(tsan_shared *s)
{
    if (--s->refs > 0)
        return;
    __tsan_destroy_fiber(s->fiber);
    s->fiber = NULL;
    if (s->retired)
        free(s);
}

/* Returns the tagged shared record, or NULL (out of memory: the context
 * then runs in whichever fiber switches to it). */
static void *tsan_shared_take(void)
{
    tsan_shared *s = tsan_shared_cur;

    if (s && s->fiber && s->uses >= CIO__TSAN_SHARED_USES) {
        s->retired = true; /* its contexts still hold it */
        s = tsan_shared_cur = NULL;
    }
    if (!s) {
        if (!(s = calloc(1, sizeof *s)))
            return NULL;
        tsan_shared_cur = s;
    }
    if (!s->fiber) {
        s->fiber = __tsan_create_fiber(0);
        s->uses = 0;
    }
    s->uses++;
    s->refs++;
    return (void *)((uintptr_t)s | TSAN_SHARED_TAG);
}

/* A fiber of its own for ctx, or past the cap a shared one. */
static void tsan_make(cio__ctx *ctx)
{
    if (atomic_fetch_add_explicit(&tsan_own_fibers, 1, memory_order_relaxed) <
        CIO__TSAN_MAX_FIBERS) {
        ctx->tsan_fiber = __tsan_create_fiber(0);
    } else {
        atomic_fetch_sub_explicit(&tsan_own_fibers, 1, memory_order_relaxed);
        ctx->tsan_fiber = tsan_shared_take();
    }
}

/* cio__ctx_reserve marks its work by pointing asan_fake_stack (unused
 * under TSan, which never comes with ASan) at the context itself, so that
 * cio__ctx_make can tell a reserved fiber from whatever an unreserved
 * context holds. */
static inline bool tsan_reserved(const cio__ctx *ctx)
{
    return ctx->asan_fake_stack == (const void *)ctx;
}

void cio__ctx_reserve(cio__ctx *ctx)
{
    tsan_make(ctx);
    ctx->asan_fake_stack = ctx;
}

/* In cio__ctx_make, before it clears *ctx: the fiber to keep, if any. */
static inline void *tsan_make_begin(cio__ctx *ctx)
{
    return tsan_reserved(ctx) ? ctx->tsan_fiber : NULL;
}

/* In cio__ctx_make, after it cleared *ctx. */
static inline void tsan_make_end(cio__ctx *ctx, void *reserved)
{
    if (reserved)
        ctx->tsan_fiber = reserved;
    else
        tsan_make(ctx);
}

/* Right before the stack switch.  Inlined so that no instrumented frame of
 * its own straddles the fiber switch. */
static inline __attribute__((always_inline)) void tsan_switch(cio__ctx *from, cio__ctx *to)
{
    void *cur = __tsan_get_current_fiber();
    uintptr_t t = (uintptr_t)to->tsan_fiber;
    void *dst = (t & TSAN_SHARED_TAG) ? ((tsan_shared *)(t & ~TSAN_SHARED_TAG))->fiber
                                      : (void *)t;

    if (!tsan_running_borrowed)
        from->tsan_fiber = cur; /* for a context with a fiber of its own, its own */
    tsan_running_borrowed = t == 0 || (t & TSAN_SHARED_TAG);
    if (dst && dst != cur)
        __tsan_switch_to_fiber(dst, 0);
}

void cio__ctx_free(cio__ctx *ctx)
{
    uintptr_t t = (uintptr_t)ctx->tsan_fiber;

    ctx->tsan_fiber = NULL;
    ctx->asan_fake_stack = NULL;
    if (t & TSAN_SHARED_TAG) {
        tsan_shared_unref((tsan_shared *)(t & ~TSAN_SHARED_TAG));
    } else if (t) {
        __tsan_destroy_fiber((void *)t);
        atomic_fetch_sub_explicit(&tsan_own_fibers, 1, memory_order_relaxed);
    }
}

#endif /* CIO_CORE_CTX_TSAN_H */
