/* SPDX-License-Identifier: MIT */
/* timer_add_cancel: the cost of a timeout that never fires, through the
 * public API, with a large number of timers pending.
 *
 * A loop gets NPENDING call_later handles (delays spread uniformly over
 * 60 s .. 1 h, owned by the loop); then, NOPS times, one more
 * cio_call_later(loop, delay, cb, arg, &h) followed at once by
 * cio_handle_cancel(h).  Delays for the measured timers are drawn ahead of
 * time from the same range.  Best of REPS repetitions.  The loop does not
 * need to run for this (call_later and cancel never switch); nothing fires.
 *
 * Prints `cio=NS` (ns per call_later + cancel pair) and a `#` line.
 * Env: BENCH_TIMERS_PENDING, BENCH_TIMERS_OPS, BENCH_REPS.
 */
#include "bench_common.h"
#include "cio.h"

#define DEFAULT_PENDING 1000000ul
#define DEFAULT_OPS 400000ul
#define DEFAULT_REPS 20ul
#define NDELAYS 65536u

static unsigned long fired;
static void never(void *arg)
{
    (void)arg;
    fired++;
}

int main(void)
{
    unsigned long npending = bench_env_ul("BENCH_TIMERS_PENDING", DEFAULT_PENDING);
    unsigned long nops = bench_env_ul("BENCH_TIMERS_OPS", DEFAULT_OPS);
    unsigned long reps = bench_env_ul("BENCH_REPS", DEFAULT_REPS);
    static double delays[NDELAYS];
    double best[64] = {0};
    uint64_t rng = 42;

    if (reps > 64)
        reps = 64;
    for (unsigned i = 0; i < NDELAYS; i++)
        delays[i] = 60.0 + (double)(bench_rnd(&rng) % 3540000000ull) * 1e-6;

    cio_loop *loop = cio_loop_new();
    if (!loop) {
        fprintf(stderr, "timers: cio_loop_new: %s\n", strerror(errno));
        printf("cio=na\n");
        return 1;
    }
    uint64_t t0 = bench_now_ns();
    for (unsigned long i = 0; i < npending; i++) {
        double d = 60.0 + (double)(bench_rnd(&rng) % 3540000000ull) * 1e-6;
        int rc = cio_call_later(loop, d, never, NULL, NULL);
        if (rc != 0) {
            fprintf(stderr, "timers: cio_call_later: %s\n", cio_strerror(rc));
            printf("cio=na\n");
            return 1;
        }
    }
    double fill_ns = (double)(bench_now_ns() - t0) / (double)npending;

    /* Warm up the handle free list and the wheel's slot heads. */
    for (unsigned i = 0; i < NDELAYS; i++) {
        cio_handle *h;
        if (cio_call_later(loop, delays[i], never, NULL, &h) == 0)
            cio_handle_cancel(h);
    }
    for (unsigned long r = 0; r < reps; r++) {
        t0 = bench_now_ns();
        for (unsigned long i = 0; i < nops; i++) {
            cio_handle *h;
            if (__builtin_expect(cio_call_later(loop, delays[i & (NDELAYS - 1)], never, NULL, &h) != 0, 0)) {
                printf("cio=na\n");
                return 1;
            }
            cio_handle_cancel(h);
        }
        best[r] = (double)(bench_now_ns() - t0) / (double)nops;
    }

    /* The same through cio_call_at with absolute deadlines computed ahead of
     * time: call_later minus its clock read. */
    double at[64] = {0};
    double base = cio_loop_time(loop);
    for (unsigned long r = 0; r < reps; r++) {
        t0 = bench_now_ns();
        for (unsigned long i = 0; i < nops; i++) {
            cio_handle *h;
            if (__builtin_expect(cio_call_at(loop, base + delays[i & (NDELAYS - 1)], never, NULL, &h) != 0, 0)) {
                printf("cio=na\n");
                return 1;
            }
            cio_handle_cancel(h);
        }
        at[r] = (double)(bench_now_ns() - t0) / (double)nops;
    }

    /* The bare clock read every call_later makes (loop.time()). */
    double clk[64] = {0};
    volatile double sink = 0;
    for (unsigned long r = 0; r < reps; r++) {
        t0 = bench_now_ns();
        for (unsigned long i = 0; i < nops; i++)
            sink += cio_loop_time(loop);
        clk[r] = (double)(bench_now_ns() - t0) / (double)nops;
    }
    (void)sink;

    double b = bench_min(best, reps);
    printf("cio=%.1f\n", b);
    printf("# timer_add_cancel: cio %lu pending over 60 s..1 h (filled at %.0f ns/call_later), %lu call_later+cancel pairs x %lu: best "
           "%.1f ns/pair; call_at+cancel (no clock read) %.1f ns/pair; one cio_loop_time() (clock_gettime) %.1f ns; "
           "fired %lu (must be 0)\n",
           npending, fill_ns, nops, reps, b, bench_min(at, reps), bench_min(clk, reps), fired);
    cio_loop_close(loop);
    return 0;
}
