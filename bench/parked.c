/* SPDX-License-Identifier: MIT */
/* parked_1m: resident memory per parked task.
 *
 * The main task creates one future, spawns N tasks that each cio_await() it,
 * yields once so that every one of them runs up to its await and parks,
 * then reads VmRSS (and VmPTE, the page tables, which VmRSS does not count)
 * from /proc/self/status and the number of mappings from /proc/self/maps
 * (the kernel refuses to go past vm.max_map_count, 65530 by default).  The
 * task records and stacks of the run are the cost: the references returned
 * by cio_spawn are given back right away (the tasks keep running), so the
 * benchmark itself keeps no per-task array.  Then it completes the future,
 * which wakes all of them, and checks that all N finish with the value.
 *
 * The same run is the fresh-task figure: spawning and parking N tasks on
 * memory the process never used before (the first cio_run of the process),
 * in us per task, with the minor page faults per task (getrusage
 * ru_minflt) next to it.
 *
 * Prints `cio=BYTES` (VmRSS delta / N) and a `#` line with the details.
 * Env: BENCH_PARKED_N (default 1000000), BENCH_PARKED_STACK (the loop's
 * default stack size; CIO_STACK_COMPACT=640 is compact mode, 0 default).
 */
#include "bench_common.h"
#include "cio.h"

#include <sys/resource.h>

#define DEFAULT_N 1000000ul

static unsigned long n_tasks, stack_size;
static cio_future *gate;
static unsigned long n_parked, n_woken;

typedef struct outcome {
    long rss0, rss1, pte0, pte1, maps0, maps1, max_maps, flt0, flt1;
    double cpu0, cpu1;
    double spawn_s, wake_s;
    int err;
} outcome;

static void *waiter(void *arg)
{
    (void)arg;
    void *v = NULL;
    n_parked++;
    if (cio_await(gate, &v) == 0 && v == (void *)&n_woken)
        n_woken++;
    return NULL;
}

static long max_map_count(void)
{
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

static void *parked_main(void *arg)
{
    outcome *o = arg;
    cio_loop_set_stack_size(cio_loop_current(), stack_size);
    o->max_maps = max_map_count();
    if (!(gate = cio_future_new(NULL))) {
        o->err = 1;
        return NULL;
    }
    o->rss0 = bench_status_bytes("VmRSS");
    o->pte0 = bench_status_bytes("VmPTE");
    o->maps0 = bench_count_maps();
    o->flt0 = bench_minflt_cpu(&o->cpu0);
    uint64_t t0 = bench_now_ns();
    for (unsigned long i = 0; i < n_tasks; i++) {
        cio_task *t = cio_spawn(waiter, NULL);
        if (!t) {
            fprintf(stderr, "parked: cio_spawn #%lu: %s\n", i, strerror(errno));
            o->err = 1;
            break;
        }
        cio_release(t); /* the task keeps running */
    }
    /* Every spawned task runs to its await in the next iteration; we are
     * queued behind them. */
    cio_yield();
    o->spawn_s = (double)(bench_now_ns() - t0) * 1e-9;
    o->flt1 = bench_minflt_cpu(&o->cpu1);
    o->rss1 = bench_status_bytes("VmRSS");
    o->pte1 = bench_status_bytes("VmPTE");
    o->maps1 = bench_count_maps();
    t0 = bench_now_ns();
    cio_future_set_result(gate, &n_woken);
    while (n_woken < n_parked)
        if (cio_yield() != 0)
            break;
    /* One more pass so that the last woken tasks have finished. */
    cio_yield();
    o->wake_s = (double)(bench_now_ns() - t0) * 1e-9;
    cio_release(gate);
    return NULL;
}

int main(void)
{
    outcome o = {0};
    n_tasks = bench_env_ul("BENCH_PARKED_N", DEFAULT_N);
    stack_size = bench_env_ul("BENCH_PARKED_STACK", 0);
    uint64_t t0 = bench_now_ns();
    int rc = cio_run(parked_main, &o, NULL);
    double total = (double)(bench_now_ns() - t0) * 1e-9;
    if (rc != 0 || o.err || n_parked != n_tasks || n_woken != n_tasks) {
        fprintf(stderr, "parked: rc=%s parked=%lu woken=%lu of %lu\n", cio_strerror(rc), n_parked, n_woken, n_tasks);
        printf("cio=na\n");
        return 1;
    }
    double per = (double)(o.rss1 - o.rss0) / (double)n_tasks;
    printf("cio=%.0f\n", per);
    printf("# parked_1m: cio %lu tasks (stack %lu%s) parked on one future: VmRSS +%.1f MiB (%.0f B/task), page tables VmPTE +%.1f MiB "
           "(%.0f B/task), mappings %ld -> %ld (limit %ld); spawn+park on fresh memory %.2f s = %.2f us/task (CPU time "
           "%.2f us/task) with %.3f page faults/task, wake+finish all %.2f s, total with teardown %.2f s\n",
           n_tasks, stack_size, stack_size && stack_size < 4096 ? ", compact" : "", (double)(o.rss1 - o.rss0) / 1048576.0, per, (double)(o.pte1 - o.pte0) / 1048576.0,
           (double)(o.pte1 - o.pte0) / (double)n_tasks, o.maps0, o.maps1, o.max_maps, o.spawn_s,
           o.spawn_s * 1e6 / (double)n_tasks, (o.cpu1 - o.cpu0) * 1e6 / (double)n_tasks, (double)(o.flt1 - o.flt0) / (double)n_tasks, o.wake_s, total);
    return 0;
}
