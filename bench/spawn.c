/* SPDX-License-Identifier: MIT */
/* spawn_join: the cost of one short-lived task, amortised over a batch.
 *
 * Inside one main task, each round spawns N trivial tasks (each returns its
 * argument), waits for all of them with one cio_gather(), checks the
 * results and releases the references.  The first round pays for carving
 * stacks and growing free lists; the figure is the best of the later rounds
 * (the steady state, where stacks and task records are recycled).  A second
 * variant (3 rounds, for the `#` line) waits with cio_await() on each task in
 * turn instead of gather.
 *
 * Prints `cio=NS` (ns per task, steady state) and a `#` line with details.
 * Env: BENCH_SPAWN_N (tasks per round), BENCH_SPAWN_ROUNDS, BENCH_SPAWN_STACK
 * (stack size in bytes; default: the loop's default; CIO_STACK_COMPACT, 640,
 * for compact stacks), BENCH_SPAWN_YIELD=1 (each task yields once before
 * returning, so that all N are alive at once, each on its own stack; the Go
 * peer then calls runtime.Gosched()).
 */
#include "bench_common.h"
#include "cio.h"

#define DEFAULT_N 100000ul
#define DEFAULT_ROUNDS 5ul
#define MAX_ROUNDS 64

static unsigned long n_tasks, n_rounds, n_await_rounds;
static cio_task_opts opts; /* stack_size from BENCH_SPAWN_STACK (0: default) */
static cio_task **tasks;
static void **results;

static bool yield_once;

static void *child(void *arg)
{
    if (yield_once)
        cio_yield();
    return arg;
}

typedef struct outcome {
    double gather_rounds[MAX_ROUNDS];
    double await_rounds[MAX_ROUNDS];
    int err;
} outcome;

/* One round; returns ns per task or -1. */
static double round_gather(void)
{
    uint64_t t0 = bench_now_ns();
    for (unsigned long i = 0; i < n_tasks; i++)
        if (!(tasks[i] = cio_spawn_ex(NULL, child, (void *)(uintptr_t)(i + 1), &opts)))
            return -1;
    int rc = cio_gather(tasks, n_tasks, results, NULL, 0);
    for (unsigned long i = 0; i < n_tasks; i++)
        cio_release(tasks[i]);
    uint64_t t1 = bench_now_ns();
    if (rc != 0)
        return -1;
    for (unsigned long i = 0; i < n_tasks; i++)
        if (results[i] != (void *)(uintptr_t)(i + 1))
            return -1;
    return (double)(t1 - t0) / (double)n_tasks;
}

static double round_await(void)
{
    int bad = 0;
    uint64_t t0 = bench_now_ns();
    for (unsigned long i = 0; i < n_tasks; i++)
        if (!(tasks[i] = cio_spawn_ex(NULL, child, (void *)(uintptr_t)(i + 1), &opts)))
            return -1;
    for (unsigned long i = 0; i < n_tasks; i++) {
        void *v;
        bad |= cio_await(tasks[i], &v) != 0 || v != (void *)(uintptr_t)(i + 1);
        cio_release(tasks[i]);
    }
    uint64_t t1 = bench_now_ns();
    return bad ? -1 : (double)(t1 - t0) / (double)n_tasks;
}

static void *spawn_main(void *arg)
{
    outcome *o = arg;
    for (unsigned long r = 0; r < n_rounds; r++) {
        if ((o->gather_rounds[r] = round_gather()) < 0) {
            o->err = 1;
            return NULL;
        }
    }
    for (unsigned long r = 0; r < n_await_rounds; r++) {
        if ((o->await_rounds[r] = round_await()) < 0) {
            o->err = 1;
            return NULL;
        }
    }
    return NULL;
}

int main(void)
{
    outcome o = {0};
    double tmp[MAX_ROUNDS];

    n_tasks = bench_env_ul("BENCH_SPAWN_N", DEFAULT_N);
    n_rounds = bench_env_ul("BENCH_SPAWN_ROUNDS", DEFAULT_ROUNDS);
    opts.stack_size = bench_env_ul("BENCH_SPAWN_STACK", 0);
    yield_once = bench_env_ul("BENCH_SPAWN_YIELD", 0) != 0;
    if (n_rounds < 2)
        n_rounds = 2;
    if (n_rounds > MAX_ROUNDS)
        n_rounds = MAX_ROUNDS;
    n_await_rounds = n_rounds < 3 ? n_rounds : 3;
    tasks = calloc(n_tasks, sizeof *tasks);
    results = calloc(n_tasks, sizeof *results);
    if (!tasks || !results)
        return 1;
    int rc = cio_run(spawn_main, &o, NULL);
    if (rc != 0 || o.err) {
        fprintf(stderr, "spawn: %s\n", rc ? cio_strerror(rc) : "a round failed");
        printf("cio=na\n");
        return 1;
    }
    double steady = bench_min(o.gather_rounds + 1, n_rounds - 1);
    memcpy(tmp, o.gather_rounds + 1, (n_rounds - 1) * sizeof *tmp);
    double med = bench_median(tmp, n_rounds - 1);
    double aw = bench_min(o.await_rounds + 1, n_await_rounds - 1);
    printf("cio=%.1f\n", steady);
    printf("# spawn_join: cio %lu tasks/round (stack %lu, %s) x %lu rounds: gather first round %.1f ns/task, later rounds best %.1f median "
           "%.1f; await-each best %.1f ns/task\n",
           n_tasks, (unsigned long)opts.stack_size, yield_once ? "each yields once" : "no yield", n_rounds, o.gather_rounds[0], steady, med, aw);
    return 0;
}
