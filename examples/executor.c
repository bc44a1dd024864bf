/* SPDX-License-Identifier: MIT */
/*
 * executor -- 1000 blocking calls through a pool of 5 threads (seed 004),
 * ported line by line:
 *
 *     def faa(idx):
 *         print("第%s个foo开始运行" % idx)
 *         time.sleep(2)
 *         return idx
 *
 *     async def faa_faster(pool, idx):
 *         obj = asyncio.get_event_loop()
 *         # 第一个参数默认是None,如果传(进)线程池进去,就以多(进)线程形式运行普通函数
 *         ret = obj.run_in_executor(pool, faa, idx)
 *         a = await ret
 *         print(a)
 *
 *     pool = ThreadPoolExecutor(max_workers=5)
 *     task = [faa_faster(pool, i) for i in range(1000)]
 *     obj = asyncio.get_event_loop()
 *     obj.run_until_complete(asyncio.wait(task))
 *
 * The article's first version passes None (the loop's default executor,
 * min(32, cores + 4) threads): that is -w 0.  With 5 workers the 1000 calls
 * of 2 seconds take 1000 / 5 * 2 = 400 seconds; -s scales time.sleep.
 * "第i个foo开始运行" is printed by the worker threads, the results by the
 * tasks, in completion order.  At the end the program adds one line the
 * article does not have: how many calls came back and how many ran at once
 * at most ("1000 results, at most 5 at once"), counted in the workers.
 *
 * Usage: executor [-n|--calls N] [-w|--workers N] [-s|--scale FACTOR]
 *   -n, --calls N       number of calls (default 1000)
 *   -w, --workers N     max_workers of the pool (default 5; 0: the default executor)
 *   -s, --scale FACTOR  multiply time.sleep(2) by FACTOR (default 1.0)
 */
#include <cio.h>

#include <errno.h>
#include <getopt.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double scale = 1.0;
static atomic_int running, max_running;
static int nresults;

static void time_sleep(double seconds)
{
    double s = seconds * scale;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* def faa(idx): runs on a worker thread */
static void *faa(void *arg)
{
    intptr_t idx = (intptr_t)arg;
    int now = atomic_fetch_add(&running, 1) + 1;
    int m = atomic_load(&max_running);
    while (now > m && !atomic_compare_exchange_weak(&max_running, &m, now)) {
    }
    printf("第%ld个foo开始运行\n", (long)idx);
    time_sleep(2);
    atomic_fetch_sub(&running, 1);
    return (void *)idx;
}

typedef struct call {
    cio_executor *pool;
    intptr_t idx;
} call;

/* async def faa_faster(pool, idx) */
static void *faa_faster(void *arg)
{
    call *c = arg;
    /* obj = asyncio.get_event_loop(); ret = obj.run_in_executor(pool, faa, idx) */
    cio_future *ret = cio_run_in_executor(c->pool, faa, (void *)c->idx);
    if (!ret)
        return cio_fail(-errno, NULL);
    void *a = NULL;
    int rc = cio_await(ret, &a);
    cio_release(ret);
    if (rc)
        return cio_fail(rc, NULL);
    printf("%ld\n", (long)(intptr_t)a);
    nresults++;
    return NULL;
}

/* asyncio.wait(task): a task that waits for all of them */
typedef struct wait_args {
    cio_task **tasks;
    size_t n;
} wait_args;

static void *wait_all(void *arg)
{
    wait_args *w = arg;
    int rc = cio_wait(w->tasks, w->n, CIO_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL);
    return rc ? cio_fail(rc, NULL) : NULL;
}

static void usage(FILE *out, const char *prog)
{
    fprintf(out, "usage: %s [-n|--calls N] [-w|--workers N] [-s|--scale FACTOR]\n", prog);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"calls", required_argument, NULL, 'n'}, {"workers", required_argument, NULL, 'w'},
        {"scale", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long ncalls = 1000, workers = 5;
    int opt;
    char *end;
    while ((opt = getopt_long(argc, argv, "n:w:s:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'n':
        case 'w': {
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || v < (opt == 'n') || v > 1000000) {
                fprintf(stderr, "%s: bad %s '%s'\n", argv[0], opt == 'n' ? "count" : "worker count", optarg);
                return 2;
            }
            if (opt == 'n')
                ncalls = v;
            else
                workers = v;
            break;
        }
        case 's':
            scale = strtod(optarg, &end);
            if (*end || end == optarg || !(scale >= 0)) {
                fprintf(stderr, "%s: bad scale '%s'\n", argv[0], optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout, argv[0]);
            return 0;
        default:
            usage(stderr, argv[0]);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr, argv[0]);
        return 2;
    }

    /* pool = ThreadPoolExecutor(max_workers=5), or None */
    cio_executor *pool = NULL;
    if (workers > 0 && !(pool = cio_executor_new((size_t)workers))) {
        perror("cio_executor_new");
        return 1;
    }
    /* obj = asyncio.get_event_loop() */
    cio_loop *obj = cio_loop_new();
    if (!obj) {
        perror("cio_loop_new");
        return 1;
    }
    cio_loop_set_current(obj);
    /* task = [faa_faster(pool, i) for i in range(1000)] */
    call *calls = calloc((size_t)ncalls, sizeof *calls);
    cio_task **task = calloc((size_t)ncalls, sizeof *task);
    int rc = calls && task ? 0 : -ENOMEM;
    size_t n = 0;
    for (; !rc && n < (size_t)ncalls; n++) {
        calls[n] = (call){pool, (intptr_t)n};
        if (!(task[n] = cio_spawn_ex(obj, faa_faster, &calls[n], NULL)))
            rc = -errno;
    }
    if (rc && n)
        n--; /* the last spawn failed */
    /* obj.run_until_complete(asyncio.wait(task)) */
    if (!rc) {
        wait_args w = {task, n};
        cio_task *waiter = cio_spawn_ex(obj, wait_all, &w, NULL);
        rc = waiter ? cio_loop_run_until_complete(obj, waiter, NULL) : -errno;
        if (waiter)
            cio_release(waiter);
    }
    for (size_t i = 0; i < n; i++)
        cio_release(task[i]);
    cio_loop_close(obj);
    cio_executor_free(pool);
    free(calls);
    free(task);
    if (rc) {
        fprintf(stderr, "%s: %s\n", argv[0], cio_strerror(rc));
        return 1;
    }
    printf("%d results, at most %d at once\n", nresults, atomic_load(&max_running));
    return 0;
}
