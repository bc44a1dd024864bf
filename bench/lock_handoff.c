/* SPDX-License-Identifier: MIT */
/* lock_handoff: the cost of one acquire/release of a contended cio_lock.
 *
 * Two tasks each run N times: cio_lock_acquire, cio_yield (so that the
 * other task runs while the lock is held and really has to wait for it),
 * cio_lock_release.  cio's lock is FIFO-fair, as asyncio's: release wakes
 * the first waiter, which takes the lock when it runs (before the releasing
 * task can take it again), so the two strictly alternate and every acquire
 * but the first of each pair parks.  The figure is the wall time of the whole run
 * (spawn to gather) divided by the 2N acquire/release pairs; it includes
 * the cio_yield.
 *
 * Prints `cio=NS` (best of REPS repetitions, ns per acquire/release) and a
 * `#` line with the median and a check that the lock alternated.
 * Env: BENCH_LOCK_N (iterations per task, default 500000: 1M acquires), BENCH_REPS.
 */
#include "bench_common.h"
#include "cio.h"

#define DEFAULT_N 500000ul
#define DEFAULT_REPS 5ul
#define MAX_REPS 32

/* CPU time of the whole process (ns): next to the wall clock, it shows how
 * much of a figure is the machine being busy with something else. */
static uint64_t cpu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned long n_iter, n_reps;
static cio_lock *lock;
static int inside;              /* tasks holding the lock: must stay 0 or 1 */
static unsigned long switches;  /* times the holder changed */
static uintptr_t last_holder;
static int failed;

static void *contender(void *arg)
{
    for (unsigned long i = 0; i < n_iter; i++) {
        int rc = cio_lock_acquire(lock);
        if (rc != 0) {
            failed = rc;
            return cio_fail(rc, "cio_lock_acquire");
        }
        if (++inside != 1)
            failed = -EINVAL;
        if (last_holder != (uintptr_t)arg) {
            switches++;
            last_holder = (uintptr_t)arg;
        }
        rc = cio_yield();
        inside--;
        if (cio_lock_release(lock) != 0 || rc != 0) {
            failed = -EINVAL;
            return cio_fail(-EINVAL, "cio_yield / cio_lock_release");
        }
    }
    return NULL;
}

static double one_round(double *cpu)
{
    switches = 0;
    last_holder = 0;
    uint64_t c0 = cpu_now_ns(), t0 = bench_now_ns();
    cio_task *t[2];
    t[0] = cio_spawn(contender, (void *)1);
    t[1] = cio_spawn(contender, (void *)2);
    if (!t[0] || !t[1])
        return -1;
    int rc = cio_gather(t, 2, NULL, NULL, 0);
    uint64_t t1 = bench_now_ns(), c1 = cpu_now_ns();
    *cpu = (double)(c1 - c0) / (double)(2 * n_iter);
    cio_release(t[0]);
    cio_release(t[1]);
    if (rc != 0 || failed || cio_lock_locked(lock))
        return -1;
    return (double)(t1 - t0) / (double)(2 * n_iter);
}

typedef struct outcome {
    double ns[MAX_REPS], cpu[MAX_REPS];
    unsigned long switches;
    int err;
} outcome;

static void *bench_main(void *arg)
{
    outcome *o = arg;
    if (!(lock = cio_lock_new())) {
        o->err = 1;
        return NULL;
    }
    unsigned long saved = n_iter;
    n_iter = saved / 10 ? saved / 10 : 1; /* warm up */
    if (one_round(&o->cpu[0]) < 0)
        o->err = 1;
    n_iter = saved;
    for (unsigned long r = 0; r < n_reps && !o->err; r++)
        if ((o->ns[r] = one_round(&o->cpu[r])) < 0)
            o->err = 1;
    o->switches = switches;
    cio_lock_free(lock);
    return NULL;
}

int main(void)
{
    static outcome o;

    n_iter = bench_env_ul("BENCH_LOCK_N", DEFAULT_N);
    n_reps = bench_env_ul("BENCH_REPS", DEFAULT_REPS);
    if (n_reps > MAX_REPS)
        n_reps = MAX_REPS;
    int rc = cio_run(bench_main, &o, NULL);
    if (rc != 0 || o.err) {
        fprintf(stderr, "lock_handoff: %s\n", rc ? cio_strerror(rc) : "a round failed");
        printf("cio=na\n");
        return 1;
    }
    printf("cio=%.2f\n", bench_min(o.ns, n_reps));
    printf("# lock_handoff: cio 2 tasks x %lu iterations x %lu reps, median %.2f ns, best CPU time %.2f ns, "
           "holder changed %lu times in %lu acquires\n",
           n_iter, n_reps, bench_median(o.ns, n_reps), bench_min(o.cpu, n_reps), o.switches, 2 * n_iter);
    return 0;
}
