/* SPDX-License-Identifier: MIT */
/*
 * semaphore -- at most 3 "requests" in flight at once (seed 004), ported
 * line by line:
 *
 *     async def get_response(url, sleep_time):
 *         # 在并发函数中添加,直接控制并发数
 *         async with sem:
 *             print("开始爬取,网页为%s" % url)
 *             await asyncio.sleep(sleep_time)
 *             print("网页%s爬取完毕" % url)
 *
 *     async def main(loop):
 *         url = 1
 *         while 1:
 *             sleep_time = random.randint(1, 3)
 *             task = get_response(url, sleep_time)
 *             loop.create_task(task)
 *             # 如果这里不await,看不出效果,线程的使用权一直没有释放.
 *             await asyncio.sleep(0)
 *             url += 1
 *
 *     # 设置协程的并发数
 *     sem = asyncio.Semaphore(3)
 *     obj = asyncio.get_event_loop()
 *     obj.run_until_complete(main(obj))
 *
 * `async with sem:` is CIO_GUARD + cio_sem_guard(): every way out of the
 * block gives the permit back.  The article's main loops forever; here it
 * stops after -n requests (default 10) and waits for them, then prints how
 * many were in flight at most ("最大并发数: 3"), counted where the requests
 * start and end.  The semaphore is created inside the loop's task, which is
 * the article's own fix for "attached to a different loop".
 *
 * Usage: semaphore [-n|--requests N] [-l|--limit N] [-s|--scale FACTOR] [--seed N]
 *   -n, --requests N    how many requests main starts (default 10; 0 = forever)
 *   -l, --limit N       the semaphore's value (default 3)
 *   -s, --scale FACTOR  multiply every sleep by FACTOR (default 1.0)
 *   --seed N            seed of the random generator (default: the time)
 */
#include <cio.h>

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "pyrandom.h"


/* ---- the program ----------------------------------------------------------- */

static double scale = 1.0;
static long nrequests = 10;
static size_t limit = 3;

static cio_sem *sem;
static int in_flight, max_in_flight; /* one loop, one thread: plain ints */

typedef struct request {
    long url;
    int sleep_time;
} request;

/* async def get_response(url, sleep_time) */
static void *get_response(void *arg)
{
    request *r = arg;
    long url = r->url;
    int sleep_time = r->sleep_time;
    free(r);
    /* 在并发函数中添加,直接控制并发数 */
    CIO_GUARD(g); /* async with sem: */
    int rc = cio_sem_guard(sem, &g);
    if (rc)
        return cio_fail(rc, NULL); /* nothing to release */
    if (++in_flight > max_in_flight)
        max_in_flight = in_flight;
    printf("开始爬取,网页为%ld\n", url);
    rc = cio_sleep(sleep_time * scale);
    in_flight--;
    if (rc)
        return cio_fail(rc, NULL); /* the guard still releases sem */
    printf("网页%ld爬取完毕\n", url);
    return NULL;
}

/* async def main(loop) */
static void *main_task(void *arg)
{
    cio_loop *loop = arg;
    /* 设置协程的并发数: inside the loop's own task */
    sem = cio_sem_new(limit);
    if (!sem)
        return cio_fail(-errno, NULL);
    cio_task **tasks = calloc((size_t)(nrequests > 0 ? nrequests : 1), sizeof *tasks);
    if (!tasks) {
        cio_sem_free(sem);
        return cio_fail(-ENOMEM, NULL);
    }
    long n = 0;
    int rc = 0;
    long url = 1;
    while (nrequests == 0 || url <= nrequests) {
        int sleep_time = py_randint(1, 3);
        request *r = malloc(sizeof *r);
        if (!r) {
            rc = -ENOMEM;
            break;
        }
        *r = (request){url, sleep_time};
        /* 2种创建task对象的方式: loop.create_task(task) */
        cio_task *t = cio_spawn_ex(loop, get_response, r, NULL);
        if (!t) {
            rc = -errno;
            free(r);
            break;
        }
        if (nrequests)
            tasks[n++] = t;
        else
            cio_release(t); /* forever: nobody waits for them */
        /* 如果这里不await,看不出效果,线程的使用权一直没有释放. */
        if ((rc = cio_sleep(0)))
            break;
        url += 1;
    }
    if (rc)
        for (long i = 0; i < n; i++)
            cio_cancel(tasks[i], NULL);
    /* the article's loop never ends; ours waits for its requests, which
     * must be done before the semaphore goes */
    int grc = cio_gather(tasks, (size_t)n, NULL, NULL, CIO_RETURN_EXCEPTIONS);
    if (!rc)
        rc = grc;
    for (long i = 0; i < n; i++)
        cio_release(tasks[i]);
    free(tasks);
    cio_sem_free(sem);
    if (rc)
        return cio_fail(rc, NULL);
    printf("最大并发数: %d\n", max_in_flight);
    return NULL;
}

static void usage(FILE *out, const char *prog)
{
    fprintf(out, "usage: %s [-n|--requests N] [-l|--limit N] [-s|--scale FACTOR] [--seed N]\n", prog);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"requests", required_argument, NULL, 'n'}, {"limit", required_argument, NULL, 'l'},
        {"scale", required_argument, NULL, 's'},    {"seed", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    uint64_t seed = (uint64_t)time(NULL);
    int opt;
    char *end;
    long v;
    while ((opt = getopt_long(argc, argv, "n:l:s:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'n':
        case 'l':
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || v < (opt == 'l') || v > 10000000) {
                fprintf(stderr, "%s: bad %s '%s'\n", argv[0], opt == 'n' ? "count" : "limit", optarg);
                return 2;
            }
            if (opt == 'n')
                nrequests = v;
            else
                limit = (size_t)v;
            break;
        case 's':
            scale = strtod(optarg, &end);
            if (*end || end == optarg || !(scale >= 0)) {
                fprintf(stderr, "%s: bad scale '%s'\n", argv[0], optarg);
                return 2;
            }
            break;
        case 'S':
            errno = 0;
            seed = strtoull(optarg, &end, 10);
            if (errno || *end || end == optarg) {
                fprintf(stderr, "%s: bad seed '%s'\n", argv[0], optarg);
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
    py_seed(seed);

    /* obj = asyncio.get_event_loop(); obj.run_until_complete(main(obj)) */
    cio_loop *obj = cio_loop_new();
    if (!obj) {
        perror("cio_loop_new");
        return 1;
    }
    cio_loop_set_current(obj);
    cio_task *m = cio_spawn_ex(obj, main_task, obj, NULL);
    int rc = m ? cio_loop_run_until_complete(obj, m, NULL) : -errno;
    if (m)
        cio_release(m);
    cio_loop_close(obj);
    if (rc) {
        fprintf(stderr, "%s: %s\n", argv[0], cio_strerror(rc));
        return 1;
    }
    return 0;
}
