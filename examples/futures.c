/* SPDX-License-Identifier: MIT */
/*
 * futures -- asyncio.Future by hand (seed 004), the article's three
 * examples, each under its own asyncio.run, and one more with a callback:
 *
 *   # 示例 1:手动设置 Future 的结果
 *   async def main():
 *       loop = asyncio.get_event_loop()
 *       fut = loop.create_future()
 *       print("Setting future result manually...")
 *       fut.set_result('manual result')
 *       result = await fut
 *       print("Future received result:", result)
 *
 *   # 示例 2:手动取消 Future
 *   async def main():
 *       fut = loop.create_future()
 *       print("Cancelling future manually...")
 *       fut.cancel()
 *       try:
 *           await fut
 *       except asyncio.CancelledError:
 *           print("Future was cancelled")
 *
 *   # 组合多个 Future
 *   async def set_after(fut, delay, value):
 *       await asyncio.sleep(delay)
 *       fut.set_result(value)
 *
 *   async def main():
 *       fut1 = loop.create_future()
 *       fut2 = loop.create_future()
 *       loop.create_task(set_after(fut1, 2, 'result1'))
 *       loop.create_task(set_after(fut2, 4, 'result2'))
 *       print("Waiting for both futures...")
 *       results = await asyncio.gather(fut1, fut2)
 *       print("Results from futures:", results)
 *
 *   # a future completed by a loop callback: loop.call_later(1, fut.set_result, ...),
 *   # with fut.add_done_callback(...)
 *
 * Usage: futures [-s|--scale FACTOR]
 *   -s, --scale FACTOR  multiply every sleep by FACTOR (default 1.0)
 */
#include <cio.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static double scale = 1.0;

/* ---- 示例 1:手动设置 Future 的结果 ------------------------------------------- */

static void *main_set_result(void *arg)
{
    (void)arg;
    /* 创建一个未完成的 Future 对象 */
    cio_future *fut = cio_future_new(NULL);
    if (!fut)
        return cio_fail(-errno, NULL);
    /* 手动设置 Future 的结果 */
    printf("Setting future result manually...\n");
    int rc = cio_future_set_result(fut, "manual result");
    /* 等待 Future 完成 */
    void *result = NULL;
    if (!rc)
        rc = cio_await(fut, &result);
    if (!rc)
        printf("Future received result: %s\n", (const char *)result);
    cio_release(fut);
    return rc ? cio_fail(rc, NULL) : NULL;
}

/* ---- 示例 2:手动取消 Future ---------------------------------------------------- */

static void *main_cancel(void *arg)
{
    (void)arg;
    cio_future *fut = cio_future_new(NULL);
    if (!fut)
        return cio_fail(-errno, NULL);
    /* 手动取消 Future */
    printf("Cancelling future manually...\n");
    cio_cancel(fut, NULL);
    /* 尝试等待一个已取消的 Future: CancelledError */
    int rc = cio_await(fut, NULL);
    if (rc == -ECANCELED && cio_cancelled(fut)) {
        cio_task_uncancel(cio_current_task()); /* except asyncio.CancelledError: */
        printf("Future was cancelled\n");
        rc = 0;
    }
    cio_release(fut);
    return rc ? cio_fail(rc, NULL) : NULL;
}

/* ---- 组合多个 Future ----------------------------------------------------------- */

typedef struct set_after_args {
    cio_future *fut; /* a reference owned by the task */
    double delay;
    const char *value;
} set_after_args;

/* async def set_after(fut, delay, value) */
static void *set_after(void *arg)
{
    set_after_args *a = arg;
    int rc = cio_sleep(a->delay * scale);
    if (!rc)
        rc = cio_future_set_result(a->fut, (void *)a->value);
    cio_release(a->fut);
    return rc ? cio_fail(rc, NULL) : NULL;
}

static void *main_gather(void *arg)
{
    (void)arg;
    int rc = 0;
    /* 创建两个 Future 对象 */
    cio_future *futs[2] = {NULL, NULL};
    set_after_args args[2] = {{.delay = 2, .value = "result1"}, {.delay = 4, .value = "result2"}};
    for (size_t i = 0; i < 2; i++) {
        if (!(futs[i] = cio_future_new(NULL))) {
            rc = -errno;
            goto out;
        }
    }
    /* 设定一些异步操作完成 Future */
    for (size_t i = 0; i < 2; i++) {
        args[i].fut = cio_ref(futs[i]);
        cio_task *t = cio_spawn(set_after, &args[i]);
        if (!t) {
            rc = -errno;
            cio_release(args[i].fut);
            goto out;
        }
        cio_release(t);
    }
    /* 使用 asyncio.gather 等待多个 Future 完成 */
    printf("Waiting for both futures...\n");
    void *results[2];
    if ((rc = cio_gather(futs, 2, results, NULL, 0)))
        goto out;
    printf("Results from futures: ['%s', '%s']\n", (const char *)results[0], (const char *)results[1]);
out:
    for (size_t i = 0; i < 2; i++)
        if (futs[i])
            cio_release(futs[i]);
    return rc ? cio_fail(rc, NULL) : NULL;
}

/* ---- a future completed by a loop callback ------------------------------------- */

/* loop.call_later(1, fut.set_result, 'result from call_later') */
static void set_result_cb(void *arg)
{
    cio_future *fut = arg;
    if (!cio_done(fut)) /* it may have been cancelled meanwhile */
        cio_future_set_result(fut, "result from call_later");
}

/* fut.add_done_callback(report) */
static void report(cio_future *fut, void *arg)
{
    (void)arg;
    void *value = NULL;
    int rc = cio_result(fut, &value);
    if (rc)
        printf("Done callback: %s\n", cio_strerror(rc));
    else
        printf("Done callback: future finished with '%s'\n", (const char *)value);
}

static void *main_call_later(void *arg)
{
    (void)arg;
    cio_future *fut = cio_future_new(NULL);
    if (!fut)
        return cio_fail(-errno, NULL);
    cio_handle *h = NULL;
    int rc = cio_add_done_callback(fut, report, NULL);
    if (!rc)
        rc = cio_call_later(cio_loop_current(), 1 * scale, set_result_cb, fut, &h);
    void *result = NULL;
    if (!rc) {
        printf("Waiting for the future set by call_later...\n");
        rc = cio_await(fut, &result);
    }
    if (!rc)
        printf("Future received result: %s\n", (const char *)result);
    if (h)
        cio_handle_cancel(h); /* nothing left to cancel unless we stopped early; drops our reference */
    cio_release(fut);
    return rc ? cio_fail(rc, NULL) : NULL;
}

/* ---- main ----------------------------------------------------------------------- */

static const struct section {
    const char *title;
    cio_task_fn main;
} sections[] = {
    {"示例 1:手动设置 Future 的结果", main_set_result},
    {"示例 2:手动取消 Future", main_cancel},
    {"组合多个 Future", main_gather},
    {"call_later 设置 Future 的结果", main_call_later},
};

static void usage(FILE *out, const char *prog)
{
    fprintf(out, "usage: %s [-s|--scale FACTOR]\n", prog);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"scale", required_argument, NULL, 's'},
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
    setvbuf(stdout, NULL, _IOLBF, 0);

    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        printf("%s== %s ==\n", i ? "\n" : "", sections[i].title);
        /* asyncio.run(main()) */
        int rc = cio_run(sections[i].main, NULL, NULL);
        if (rc) {
            fprintf(stderr, "%s: %s: %s\n", argv[0], sections[i].title, cio_strerror(rc));
            return 1;
        }
    }
    return 0;
}
