/* SPDX-License-Identifier: MIT */
/* yield_roundtrip: the cost of one task -> loop -> same task round trip.
 *
 *   cio    one task calls cio_yield() N times (sleep(0): the task goes to
 *          the back of the ready queue, switches to the loop, the loop runs
 *          an iteration and switches back to it).
 *   floor  the bare context switch round trip the library is built on:
 *          main -> coroutine -> main with cio__ctx_switch on a stack made
 *          by cio__ctx_make, nothing else.
 *
 * Prints `cio=NS floor=NS` (best of REPS repetitions, ns per round trip).
 * Env: BENCH_YIELD_N (iterations per repetition), BENCH_REPS.
 */
#include "bench_common.h"
#include "cio.h"
#include "core/ctx.h"

#define DEFAULT_N 200000ul
#define DEFAULT_REPS 30ul
#define FLOOR_STACK (64u << 10)

static unsigned long n_iter, n_reps;

/* ---- floor: bare switch ------------------------------------------------- */

static cio__ctx main_ctx, co_ctx;

static void co_entry(void *arg)
{
    (void)arg;
    for (;;)
        cio__ctx_switch(&co_ctx, &main_ctx);
}

static double floor_ns(void)
{
    void *stack = aligned_alloc(4096, FLOOR_STACK);
    double best[64] = {0};
    unsigned long reps = n_reps < 64 ? n_reps : 64;

    if (!stack)
        return -1;
    cio__ctx_make(&co_ctx, stack, FLOOR_STACK, co_entry, NULL);
    cio__ctx_switch(&main_ctx, &co_ctx); /* warm up: enter the coroutine */
    for (unsigned long r = 0; r < reps; r++) {
        uint64_t t0 = bench_now_ns();
        for (unsigned long i = 0; i < n_iter; i++)
            cio__ctx_switch(&main_ctx, &co_ctx);
        best[r] = (double)(bench_now_ns() - t0) / (double)n_iter;
    }
    /* The coroutine is parked forever in co_entry; its stack is leaked on
     * purpose (freeing it under a live context would be a trap for a later
     * edit of this file). */
    return bench_min(best, reps);
}

/* ---- cio: cio_yield in one task ----------------------------------------- */

static void *yield_main(void *arg)
{
    double *out = arg;
    double best[64] = {0};
    unsigned long reps = n_reps < 64 ? n_reps : 64;

    for (unsigned long i = 0; i < 10000; i++) /* warm up */
        cio_yield();
    for (unsigned long r = 0; r < reps; r++) {
        uint64_t t0 = bench_now_ns();
        for (unsigned long i = 0; i < n_iter; i++)
            if (cio_yield() != 0)
                return cio_fail(-EINVAL, "cio_yield failed");
        best[r] = (double)(bench_now_ns() - t0) / (double)n_iter;
    }
    *out = bench_min(best, reps);
    return NULL;
}

int main(void)
{
    double cio_ns = -1, fl;
    int rc;

    n_iter = bench_env_ul("BENCH_YIELD_N", DEFAULT_N);
    n_reps = bench_env_ul("BENCH_REPS", DEFAULT_REPS);
    fl = floor_ns();
    rc = cio_run(yield_main, &cio_ns, NULL);
    if (rc != 0) {
        fprintf(stderr, "yield: cio_run: %s\n", cio_strerror(rc));
        printf("cio=na floor=%.2f\n", fl);
        return 1;
    }
    printf("cio=%.2f floor=%.2f\n", cio_ns, fl);
    return 0;
}
