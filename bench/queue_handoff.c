/* SPDX-License-Identifier: MIT */
/* queue_handoff: the cost of handing one item from a producer task to a
 * consumer task through a cio_queue.
 *
 * The main task spawns a producer (cio_queue_put of the items 1..N, as
 * pointers) and a consumer (cio_queue_get N times, checking that the items
 * arrive in order), and waits for both with cio_gather().  Two queues:
 *
 *   max1       maxsize 1: as in asyncio, a put only wakes a parked getter
 *              (which takes the item when it runs), so every item costs a
 *              park on each side (the shape of Go's unbuffered channel).
 *   unbounded  maxsize 0: put never suspends, so the producer stores all N
 *              items and the consumer then takes them without suspending
 *              (as `await q.put()` on an unbounded asyncio.Queue does).
 *
 * The clock runs from before the spawns to after the gather: ns per item.
 * Prints `cio=NS cio_unbounded=NS` (best of REPS repetitions) and a `#`
 * line with the medians.
 * Env: BENCH_QUEUE_N (items per repetition, default 1000000), BENCH_REPS.
 */
#include "bench_common.h"
#include "cio.h"

#define DEFAULT_N 1000000ul
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

static unsigned long n_items, n_reps;

typedef struct pair {
    cio_queue *q;
    int err;
} pair;

static void *producer(void *arg)
{
    pair *p = arg;
    for (unsigned long i = 1; i <= n_items; i++) {
        int rc = cio_queue_put(p->q, (void *)(uintptr_t)i);
        if (rc != 0) {
            p->err = rc;
            return cio_fail(rc, "cio_queue_put");
        }
    }
    return NULL;
}

static void *consumer(void *arg)
{
    pair *p = arg;
    for (unsigned long i = 1; i <= n_items; i++) {
        void *item = NULL;
        int rc = cio_queue_get(p->q, &item);
        if (rc != 0 || item != (void *)(uintptr_t)i) {
            p->err = rc ? rc : -EINVAL;
            return cio_fail(p->err, "cio_queue_get: %s at item %lu", rc ? cio_strerror(rc) : "wrong item", i);
        }
    }
    return NULL;
}

/* One repetition on a fresh queue: ns per item, or -1; *cpu gets the CPU
 * ns per item. */
static double one_round(size_t maxsize, double *cpu)
{
    pair p = {cio_queue_new(maxsize), 0};
    if (!p.q)
        return -1;
    uint64_t c0 = cpu_now_ns(), t0 = bench_now_ns();
    cio_task *t[2];
    t[0] = cio_spawn(consumer, &p);
    t[1] = cio_spawn(producer, &p);
    if (!t[0] || !t[1])
        return -1;
    int rc = cio_gather(t, 2, NULL, NULL, 0);
    uint64_t t1 = bench_now_ns(), c1 = cpu_now_ns();
    cio_release(t[0]);
    cio_release(t[1]);
    *cpu = (double)(c1 - c0) / (double)n_items;
    bool empty = cio_queue_empty(p.q);
    cio_queue_free(p.q);
    if (rc != 0 || p.err != 0 || !empty)
        return -1;
    return (double)(t1 - t0) / (double)n_items;
}

typedef struct outcome {
    double max1[MAX_REPS], unb[MAX_REPS];
    double max1_cpu[MAX_REPS], unb_cpu[MAX_REPS];
    int err;
} outcome;

static void *bench_main(void *arg)
{
    outcome *o = arg;
    unsigned long saved = n_items;
    n_items = saved / 10 ? saved / 10 : 1; /* warm up: stacks, free lists */
    double cpu;
    if (one_round(1, &cpu) < 0 || one_round(0, &cpu) < 0)
        o->err = 1;
    n_items = saved;
    for (unsigned long r = 0; r < n_reps && !o->err; r++) {
        o->max1[r] = one_round(1, &o->max1_cpu[r]);
        o->unb[r] = one_round(0, &o->unb_cpu[r]);
        if (o->max1[r] < 0 || o->unb[r] < 0)
            o->err = 1;
    }
    return NULL;
}

int main(void)
{
    static outcome o;

    n_items = bench_env_ul("BENCH_QUEUE_N", DEFAULT_N);
    n_reps = bench_env_ul("BENCH_REPS", DEFAULT_REPS);
    if (n_reps > MAX_REPS)
        n_reps = MAX_REPS;
    int rc = cio_run(bench_main, &o, NULL);
    if (rc != 0 || o.err) {
        fprintf(stderr, "queue_handoff: %s\n", rc ? cio_strerror(rc) : "a round failed");
        printf("cio=na cio_unbounded=na\n");
        return 1;
    }
    double b1 = bench_min(o.max1, n_reps), bu = bench_min(o.unb, n_reps);
    printf("cio=%.2f cio_unbounded=%.2f\n", b1, bu);
    printf("# queue_handoff: cio %lu items x %lu reps, median max1=%.2f unbounded=%.2f ns/item; "
           "best CPU time max1=%.2f unbounded=%.2f ns/item\n",
           n_items, n_reps, bench_median(o.max1, n_reps), bench_median(o.unb, n_reps), bench_min(o.max1_cpu, n_reps),
           bench_min(o.unb_cpu, n_reps));
    return 0;
}
