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

#include <limits.h>
#include <malloc.h>

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
    mallopt(M_TRIM_THRESHOLD, INT_MAX); /* keep freed heap for the arm_warm pass */
    double fill_cpu, c1;
    long fill_faults = bench_minflt_cpu(&fill_cpu);
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
    fill_faults = bench_minflt_cpu(&c1) - fill_faults;
    fill_cpu = (c1 - fill_cpu) * 1e9 / (double)npending;

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

    /* Arming again on memory the process already has (the handles the
     * closed loop gave back; the heap is not trimmed, as in a server that
     * has run a while): what arming costs without the first touch of a
     * page, which on a virtual machine is most of the fresh figure. */
    loop = cio_loop_new();
    if (!loop) {
        printf("# arm_warm: cio_loop_new: %s\n", strerror(errno));
        return 1;
    }
    double warm_cpu;
    long f0 = bench_minflt_cpu(&warm_cpu);
    t0 = bench_now_ns();
    for (unsigned long i = 0; i < npending; i++)
        if (cio_call_later(loop, delays[i & (NDELAYS - 1)], never, NULL, NULL) != 0) {
            printf("# arm_warm: cio_call_later failed\n");
            return 1;
        }
    double warm_ns = (double)(bench_now_ns() - t0) / (double)npending;
    long warm_faults = bench_minflt_cpu(&c1) - f0;
    warm_cpu = (c1 - warm_cpu) * 1e9 / (double)npending;
    printf("# arm %lu new timers: fresh memory %.0f ns/timer (CPU %.0f ns, %.3f page faults/timer); memory reused "
           "%.0f ns/timer (CPU %.0f ns, %.3f page faults/timer)\n",
           npending, fill_ns, fill_cpu, (double)fill_faults / (double)npending, warm_ns, warm_cpu,
           (double)warm_faults / (double)npending);
    cio_loop_close(loop);
    return 0;
}
