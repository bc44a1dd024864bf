/* SPDX-License-Identifier: MIT */
/*
 * callbacks -- done callbacks, and a coroutine run after another one
 * completes (seed 004), ported line by line.  Three parts on one loop, run
 * one after the other with run_until_complete, as the article does.
 *
 * 1. 同步函数的回调 (a plain function as done callback):
 *
 *     def follow(t):
 *         # 这里的t是test函数的运行返回值,是一个task运行完的对象,result方法可以获取返回值
 *         print(t.result())
 *
 *     async def test(i):
 *         print(f"from test,开始阻塞,传入的参数是{i}")
 *         await asyncio.sleep(1)
 *         print(f"from test,停止阻塞,传入的参数是{i}")
 *         return f"test的返回结果{i}"
 *
 *     obj = asyncio.get_event_loop()
 *     f1 = obj.create_task(test("t1"))
 *     f1.add_done_callback(follow)
 *     f2 = asyncio.ensure_future(test("t2"))
 *     f2.add_done_callback(follow)
 *     f3 = obj.create_task(test("t3"))      # f3没有回调函数
 *     obj.run_until_complete(asyncio.wait([f1, f2, f3], timeout=6))
 *
 * 2. A callback with an extra argument, bound with functools.partial (the
 *    article imports partial; cio_add_done_callback's user pointer is that
 *    extra argument):
 *
 *     def follow_named(name, t):
 *         print(f"回调函数follow_named被调用,额外参数是{name},上一个test返回值是{t.result()}")
 *
 *     f4 = obj.create_task(test("t4"))
 *     f4.add_done_callback(partial(follow_named, "f4"))
 *     obj.run_until_complete(asyncio.wait([f4], timeout=6))
 *
 * 3. 使用协程函数进行回调 (a coroutine as "callback": add_done_callback is
 *    low level and cannot await, so a small coroutine awaits the task and
 *    then the follow-up coroutine):
 *
 *     async def follow2(t):
 *         print(f"follow2开始运行,传入的参数t是{t}")
 *         await asyncio.sleep(2)
 *         print(f"from回调函数follow2,上一个test返回值是{t.result()}")
 *
 *     async def add_success_callback(fun1, fun2):
 *         await fun1
 *         ret = await fun2(fun1)
 *         return ret
 *
 *     f1 = obj.create_task(test("t1"))
 *     f1 = add_success_callback(f1, follow2)
 *     f2 = asyncio.ensure_future(test("t2"))
 *     f2 = add_success_callback(f2, follow2)
 *     obj.run_until_complete(asyncio.wait([f1, f2], timeout=6))
 *
 * Done callbacks run on a later loop iteration, so in part 1 the three
 * "停止阻塞" lines come before the two results, as in Python.  A task
 * prints as <Task finished name='Task-7' coro=<test() done> result='...'>.
 *
 * Usage: callbacks [-s|--scale FACTOR]
 *   -s, --scale FACTOR  multiply every sleep and timeout by FACTOR (default 1.0)
 */
#include <cio.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static double scale = 1.0;

/* test(i)'s argument and the storage of its result string */
typedef struct test_arg {
    const char *i;
    char result[64];
} test_arg;

/* async def test(i) */
static void *test(void *arg)
{
    test_arg *a = arg;
    printf("from test,开始阻塞,传入的参数是%s\n", a->i);
    int rc = cio_sleep(1 * scale);
    if (rc)
        return cio_fail(rc, NULL);
    printf("from test,停止阻塞,传入的参数是%s\n", a->i);
    snprintf(a->result, sizeof a->result, "test的返回结果%s", a->i);
    return a->result;
}

/* t.result(): the string, or the error's name */
static const char *result_of(cio_task *t)
{
    void *v = NULL;
    int rc = cio_result(t, &v);
    return rc ? cio_strerror(rc) : v;
}

/* def follow(t) */
static void follow(cio_task *t, void *arg)
{
    (void)arg;
    /* 这里的t是test函数的运行返回值,是一个task运行完的对象,result方法可以获取返回值 */
    printf("%s\n", result_of(t));
}

/* def follow_named(name, t), bound as partial(follow_named, "f4") */
static void follow_named(cio_task *t, void *name)
{
    printf("回调函数follow_named被调用,额外参数是%s,上一个test返回值是%s\n", (const char *)name, result_of(t));
}

/* async def follow2(t) */
static int follow2(cio_task *t)
{
    printf("follow2开始运行,传入的参数t是<Task %s name='%s' coro=<test() done> result='%s'>\n",
           cio_done(t) ? "finished" : "pending", cio_task_name(t), result_of(t));
    int rc = cio_sleep(2 * scale);
    if (rc)
        return rc;
    printf("from回调函数follow2,上一个test返回值是%s\n", result_of(t));
    return 0;
}

/* async def add_success_callback(fun1, fun2) */
typedef struct success_args {
    cio_task *fun1;
    int (*fun2)(cio_task *);
} success_args;

static void *add_success_callback(void *arg)
{
    success_args *a = arg;
    int rc = cio_await(a->fun1, NULL);
    if (!rc)
        rc = a->fun2(a->fun1); /* ret = await fun2(fun1): a coroutine called inline */
    return rc ? cio_fail(rc, NULL) : NULL;
}

/* asyncio.wait(fs, timeout=...): a task of its own, as run_until_complete
 * wraps the coroutine */
typedef struct wait_args {
    cio_future **fs;
    size_t n;
    double timeout;
} wait_args;

static void *wait_task(void *arg)
{
    wait_args *w = arg;
    int rc = cio_wait(w->fs, w->n, CIO_ALL_COMPLETED, w->timeout, NULL, NULL, NULL, NULL);
    return rc ? cio_fail(rc, NULL) : NULL;
}

static int run_wait(cio_loop *obj, cio_future **fs, size_t n, double timeout)
{
    wait_args w = {fs, n, timeout};
    cio_task *t = cio_spawn_ex(obj, wait_task, &w, NULL);
    if (!t)
        return -errno;
    int rc = cio_loop_run_until_complete(obj, t, NULL);
    cio_release(t);
    return rc;
}

static int spawn_all(cio_loop *obj, cio_task **out, cio_task_fn fn, void *args, size_t argsize, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (!(out[k] = cio_spawn_ex(obj, fn, (char *)args + k * argsize, NULL)))
            return -errno;
    return 0;
}

static int run(cio_loop *obj)
{
    int rc;
    /* ---- 1. 同步函数的回调 ---- */
    test_arg a1[3] = {{"t1", ""}, {"t2", ""}, {"t3", ""}};
    cio_task *f[3] = {0};
    if ((rc = spawn_all(obj, f, test, a1, sizeof a1[0], 3)))
        goto out1;
    /* 同步函数回调用add_done_callback 方法 */
    if ((rc = cio_add_done_callback(f[0], follow, NULL)) || (rc = cio_add_done_callback(f[1], follow, NULL)))
        goto out1;
    /* f3没有回调函数 */
    rc = run_wait(obj, f, 3, 6 * scale);
out1:
    for (size_t k = 0; k < 3; k++)
        if (f[k]) {
            cio_cancel(f[k], NULL); /* only after an error */
            cio_release(f[k]);
        }
    if (rc)
        return rc;

    /* ---- 2. functools.partial: a callback with an extra argument ---- */
    test_arg a4 = {"t4", ""};
    cio_task *f4 = cio_spawn_ex(obj, test, &a4, NULL);
    if (!f4)
        return -errno;
    rc = cio_add_done_callback(f4, follow_named, (void *)"f4");
    if (!rc)
        rc = run_wait(obj, &f4, 1, 6 * scale);
    cio_cancel(f4, NULL);
    cio_release(f4);
    if (rc)
        return rc;

    /* ---- 3. 使用协程函数进行回调 ---- */
    test_arg a3[2] = {{"t1", ""}, {"t2", ""}};
    cio_task *t[2] = {0}, *w[2] = {0};
    success_args sa[2];
    if ((rc = spawn_all(obj, t, test, a3, sizeof a3[0], 2)))
        goto out3;
    for (size_t k = 0; k < 2; k++)
        sa[k] = (success_args){t[k], follow2};
    /* f1 = add_success_callback(f1, follow2); asyncio.wait wraps it in a task */
    if ((rc = spawn_all(obj, w, add_success_callback, sa, sizeof sa[0], 2)))
        goto out3;
    rc = run_wait(obj, w, 2, 6 * scale);
out3:
    for (size_t k = 0; k < 2; k++) {
        if (w[k]) {
            cio_cancel(w[k], NULL);
            cio_release(w[k]);
        }
        if (t[k]) {
            cio_cancel(t[k], NULL);
            cio_release(t[k]);
        }
    }
    return rc;
}

static void usage(FILE *out, const char *prog) { fprintf(out, "usage: %s [-s|--scale FACTOR]\n", prog); }

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
    /* obj = asyncio.get_event_loop() */
    cio_loop *obj = cio_loop_new();
    if (!obj) {
        perror("cio_loop_new");
        return 1;
    }
    cio_loop_set_current(obj);
    int rc = run(obj);
    cio_loop_close(obj);
    if (rc) {
        fprintf(stderr, "%s: %s\n", argv[0], cio_strerror(rc));
        return 1;
    }
    return 0;
}
