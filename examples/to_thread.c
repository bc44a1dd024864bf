/* SPDX-License-Identifier: MIT */
/*
 * to_thread -- blocking calls moved off the loop (seeds 001 and 002), ported
 * line by line.  Two programs, each run by its own asyncio.run.
 *
 * Seed 001:
 *
 *     def blocking_task():
 *         print('任务开始')
 *         time.sleep(2)  # 这里的 time.sleep 是阻塞当前线程的操作
 *         print('任务完成')
 *
 *     async def main():
 *         print('主协程正在执行阻塞任务')
 *         coro = asyncio.to_thread(blocking_task)
 *         task = asyncio.create_task(coro)
 *         print('主协程正在做其他事情')
 *         await asyncio.sleep(0)  # 让出控制权,确保 task 能被执行
 *         await task
 *
 *     asyncio.run(main())
 *
 * Seed 002 (three jobs; with to_thread they overlap, so the whole run takes
 * one job's time, 10 + 1 seconds, not three):
 *
 *     def hard_work():
 *         print('thread id:', threading.get_ident())
 *         sleep(10)
 *
 *     async def do_async_job():
 *         await asyncio.to_thread(hard_work)
 *         await asyncio.sleep(1)
 *         print('job done!')
 *
 *     async def main():
 *         print(time())
 *         task1 = asyncio.create_task(do_async_job())
 *         task2 = asyncio.create_task(do_async_job())
 *         task3 = asyncio.create_task(do_async_job())
 *         await asyncio.gather(task1, task2, task3)
 *         print(time())
 *
 * With --blocking, do_async_job calls hard_work() directly, as the article's
 * first version does: the loop is blocked, the three jobs run one after the
 * other (31 seconds), and every "thread id" is the loop's own.
 *
 * Usage: to_thread [-s|--scale FACTOR] [--blocking]
 *   -s, --scale FACTOR  multiply every sleep (blocking or not) by FACTOR (default 1.0)
 *   --blocking          seed 002's first version: hard_work() blocks the loop
 */
#include <cio.h>

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double scale = 1.0;
static bool blocking;

/* time.sleep(): blocks the calling thread */
static void time_sleep(double seconds)
{
    double s = seconds * scale;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* time.time() */
static double time_time(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* ---- seed 001 --------------------------------------------------------------- */

/* def blocking_task() */
static void *blocking_task(void *arg)
{
    (void)arg;
    printf("任务开始\n");
    fflush(stdout);
    time_sleep(2); /* 这里的 time.sleep 是阻塞当前线程的操作 */
    printf("任务完成\n");
    fflush(stdout);
    return NULL;
}

/* asyncio.to_thread(blocking_task) as a coroutine of its own */
static void *to_thread_coro(void *arg)
{
    cio_task_fn fn = (cio_task_fn)arg;
    void *res = NULL;
    int rc = cio_to_thread(fn, NULL, &res);
    return rc ? cio_fail(rc, NULL) : res;
}

static void *main_001(void *arg)
{
    (void)arg;
    printf("主协程正在执行阻塞任务\n");
    cio_task *task = cio_spawn(to_thread_coro, (void *)blocking_task);
    if (!task)
        return cio_fail(-errno, NULL);
    printf("主协程正在做其他事情\n");
    fflush(stdout);
    int rc = cio_sleep(0); /* 让出控制权,确保 task 能被执行 */
    if (!rc)
        rc = cio_await(task, NULL);
    cio_release(task);
    return rc ? cio_fail(rc, NULL) : NULL;
}

/* ---- seed 002 --------------------------------------------------------------- */

/* def hard_work() */
static void *hard_work(void *arg)
{
    (void)arg;
    printf("thread id: %lu\n", (unsigned long)pthread_self());
    fflush(stdout);
    time_sleep(10);
    return NULL;
}

/* async def do_async_job() */
static void *do_async_job(void *arg)
{
    (void)arg;
    int rc = 0;
    if (blocking)
        hard_work(NULL); /* blocks the loop: nobody else runs meanwhile */
    else
        rc = cio_to_thread(hard_work, NULL, NULL);
    if (!rc)
        rc = cio_sleep(1 * scale);
    if (rc)
        return cio_fail(rc, NULL);
    printf("job done!\n");
    fflush(stdout);
    return NULL;
}

static void *main_002(void *arg)
{
    (void)arg;
    printf("%.6f\n", time_time());
    cio_task *tasks[3];
    size_t n = 0;
    int rc = 0;
    for (; n < 3; n++)
        if (!(tasks[n] = cio_spawn(do_async_job, NULL))) {
            rc = -errno;
            break;
        }
    if (!rc)
        rc = cio_gather(tasks, n, NULL, NULL, 0);
    for (size_t i = 0; i < n; i++)
        cio_release(tasks[i]);
    if (rc)
        return cio_fail(rc, NULL);
    printf("%.6f\n", time_time());
    return NULL;
}

static void usage(FILE *out, const char *prog) { fprintf(out, "usage: %s [-s|--scale FACTOR] [--blocking]\n", prog); }

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"scale", required_argument, NULL, 's'},
        {"blocking", no_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    char *end;
    while ((opt = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        switch (opt) {
        case 's':
            scale = strtod(optarg, &end);
            if (*end || end == optarg || !(scale >= 0)) {
                fprintf(stderr, "%s: bad scale '%s'\n", argv[0], optarg);
                return 2;
            }
            break;
        case 'b':
            blocking = true;
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
    int rc = cio_run(main_001, NULL, NULL);
    if (!rc)
        rc = cio_run(main_002, NULL, NULL);
    if (rc) {
        fprintf(stderr, "%s: %s\n", argv[0], cio_strerror(rc));
        return 1;
    }
    return 0;
}
