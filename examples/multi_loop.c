/* SPDX-License-Identifier: MIT */
/*
 * multi_loop -- two event loops, each in a thread of its own, each running
 * its own task (seed 004, set_event_loop), ported line by line:
 *
 *     async def rnd(sleep_time):
 *         await asyncio.sleep(sleep_time)
 *         ret = random.randint(1, 6)
 *         print("from rnd的结果是", ret, type(ret))
 *         return ret
 *
 *     obj = asyncio.get_event_loop()
 *     new_loop = asyncio.new_event_loop()
 *     asyncio.set_event_loop(new_loop)
 *     print(obj is new_loop)
 *     f1 = new_loop.create_task(rnd(2))
 *     f2 = obj.create_task(rnd(3))
 *     new_loop.run_until_complete(asyncio.wait([f1]))
 *     obj.run_until_complete(asyncio.wait([f2]))
 *     print("over")
 *
 * The article says it sets up "a new loop as a new thread, so that two
 * threads each run their own coroutines", but its code runs both loops one
 * after the other in the main thread (2 + 3 = 5 seconds).  Here new_loop
 * really runs in a second thread, made that thread's current loop with
 * cio_loop_set_current() (set_event_loop), while obj runs in the main
 * thread: the two waits overlap and the program takes 3 seconds, the longer
 * of the two.  Each loop's objects stay in its own thread; the only thing
 * the threads share is the random generator, behind a mutex.
 *
 * Usage: multi_loop [-s|--scale FACTOR] [--seed N]
 *   -s, --scale FACTOR  multiply every sleep by FACTOR (default 1.0)
 *   --seed N            seed of the random generator (default: the time)
 */
#include <cio.h>

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "pyrandom.h"


/* ---- the program ----------------------------------------------------------- */

static double scale = 1.0;

/* The two loops' threads share the one generator: Python's GIL, here. */
static pthread_mutex_t random_lock = PTHREAD_MUTEX_INITIALIZER;

/* async def rnd(sleep_time) */
static void *rnd(void *arg)
{
    int sleep_time = (int)(intptr_t)arg;
    int rc = cio_sleep(sleep_time * scale);
    if (rc)
        return cio_fail(rc, NULL);
    pthread_mutex_lock(&random_lock);
    int ret = py_randint(1, 6);
    pthread_mutex_unlock(&random_lock);
    printf("from rnd的结果是 %d <class 'int'>\n", ret);
    fflush(stdout);
    return (void *)(intptr_t)ret;
}

/* asyncio.wait([f]) run by run_until_complete: a task of its own */
static void *wait_one(void *arg)
{
    cio_future *f = arg;
    int rc = cio_wait(&f, 1, CIO_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL);
    return rc ? cio_fail(rc, NULL) : NULL;
}

static int run_wait(cio_loop *loop, cio_task *f)
{
    cio_task *w = cio_spawn_ex(loop, wait_one, f, NULL);
    if (!w)
        return -errno;
    int rc = cio_loop_run_until_complete(loop, w, NULL);
    cio_release(w);
    return rc;
}

/* The second thread: new_loop is its event loop. */
static void *new_loop_thread(void *arg)
{
    cio_loop *new_loop = arg;
    /* asyncio.set_event_loop(new_loop), in this thread */
    int rc = cio_loop_set_current(new_loop);
    /* f1 = new_loop.create_task(rnd(2)) */
    cio_task *f1 = rc ? NULL : cio_spawn_ex(new_loop, rnd, (void *)(intptr_t)2, NULL);
    if (!rc && !f1)
        rc = -errno;
    /* new_loop.run_until_complete(asyncio.wait([f1])) */
    if (!rc)
        rc = run_wait(new_loop, f1);
    if (f1)
        cio_release(f1);
    cio_loop_close(new_loop);
    return (void *)(intptr_t)rc;
}

static void usage(FILE *out, const char *prog) { fprintf(out, "usage: %s [-s|--scale FACTOR] [--seed N]\n", prog); }

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"scale", required_argument, NULL, 's'},
        {"seed", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t seed = (uint64_t)time(NULL);
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

    /* obj = asyncio.get_event_loop(): this thread's loop */
    cio_loop *obj = cio_loop_new();
    if (!obj) {
        perror("cio_loop_new");
        return 1;
    }
    cio_loop_set_current(obj);
    /* new_loop = asyncio.new_event_loop(): handed to a thread of its own */
    cio_loop *new_loop = cio_loop_new();
    if (!new_loop) {
        perror("cio_loop_new");
        return 1;
    }
    printf("%s\n", obj == new_loop ? "True" : "False"); /* print(obj is new_loop) */
    fflush(stdout);

    pthread_t th;
    int err = pthread_create(&th, NULL, new_loop_thread, new_loop);
    if (err) {
        fprintf(stderr, "%s: pthread_create: %s\n", argv[0], cio_strerror(-err));
        return 1;
    }
    /* f2 = obj.create_task(rnd(3)); obj.run_until_complete(asyncio.wait([f2])) */
    int rc;
    cio_task *f2 = cio_spawn_ex(obj, rnd, (void *)(intptr_t)3, NULL);
    rc = f2 ? run_wait(obj, f2) : -errno;
    if (f2)
        cio_release(f2);
    void *trc;
    pthread_join(th, &trc);
    if (!rc)
        rc = (int)(intptr_t)trc;
    cio_loop_close(obj);
    if (rc) {
        fprintf(stderr, "%s: %s\n", argv[0], cio_strerror(rc));
        return 1;
    }
    printf("over\n");
    return 0;
}
