/* SPDX-License-Identifier: MIT */
/*
 * wait_modes -- asyncio.wait and asyncio.wait_for (seeds 001, 003, 004),
 * ported snippet by snippet; each snippet runs under its own asyncio.run,
 * so each section here is its own cio_run:
 *
 *   FIRST_COMPLETED  (001) a fast and a slow task named 任务1 / 任务2
 *   ALL_COMPLETED    (004) tasks A, B, C sleeping 2, 3, 1 seconds
 *   timeout          (001) ten tasks sleeping random.uniform(0, 2), wait(timeout=1)
 *   FIRST_EXCEPTION  (003) task1 / task2 with no failure (wait returns when
 *                    all are done), then with a third task that fails
 *   wait_for         (001) a task of 1 + random() seconds, wait_for(timeout=0.2);
 *                    (004) a task of 3 seconds, wait_for(timeout=2)
 *
 * asyncio.wait returns sets; cio_wait fills arrays in argument order, so the
 * done / pending lists print in that order.  The random numbers come from a
 * port of Python's generator: with the same seed the program draws what the
 * Python draws.
 *
 * Usage: wait_modes [-s|--scale FACTOR] [--seed N]
 *   -s, --scale FACTOR  multiply every sleep and timeout by FACTOR (default 1.0)
 *   --seed N            seed of the random generator (default: from the clock)
 */
#include <cio.h>

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pyrandom.h"


/* repr(float): the shortest form that reads back as the same double. */
static const char *py_repr(double v, char *buf, size_t size)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (!strpbrk(buf, ".eni"))
        strncat(buf, ".0", size - strlen(buf) - 1);
    return buf;
}

/* ---- helpers ---------------------------------------------------------------- */

static double scale = 1.0;

/* time.perf_counter() on the loop's clock (cio_time), so that durations are
 * exact when the program runs on virtual time (CIO_VIRTUAL_TIME=1). */
static double perf_counter(void) { return cio_time(); }

/* Spawns n tasks fn(args + i * argsize) with the given names (NULL: default
 * names); on failure releases those already spawned and returns -errno. */
static int spawn_all(cio_task **tasks, size_t n, cio_task_fn fn, void *args, size_t argsize, const char *const *names)
{
    for (size_t i = 0; i < n; i++) {
        cio_task_opts opts = {.name = names ? names[i] : NULL};
        tasks[i] = cio_spawn_ex(NULL, fn, (char *)args + i * argsize, &opts);
        if (!tasks[i]) {
            int err = errno;
            while (i--)
                cio_release(tasks[i]);
            return -err;
        }
    }
    return 0;
}

static void release_all(cio_task **tasks, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cio_release(tasks[i]);
}

/* ---- FIRST_COMPLETED (001) -------------------------------------------------- */

typedef struct async_task_args {
    const char *name;
    int duration;
    char result[64];
} async_task_args;

/* 模拟一个可能需要不同时间完成的异步任务 */
static void *async_task(void *arg)
{
    async_task_args *a = arg;
    printf("任务 %s 开始,预计耗时 %d 秒\n", a->name, a->duration);
    int rc = cio_sleep(a->duration * scale);
    if (rc)
        return cio_fail(rc, NULL);
    printf("任务 %s 完成\n", a->name);
    snprintf(a->result, sizeof a->result, "结果 %s", a->name);
    return a->result;
}

/* 主函数,用于启动和管理异步任务 */
static void *main_first_completed(void *arg)
{
    (void)arg;
    /* 创建两个任务,一个快一个慢 */
    async_task_args args[2] = {{.name = "任务1"}, {.name = "任务2"}};
    args[0].duration = py_randint(1, 3);
    args[1].duration = py_randint(4, 6);
    static const char *const names[2] = {"任务1", "任务2"};
    cio_task *tasks[2];
    int rc = spawn_all(tasks, 2, async_task, args, sizeof args[0], names);
    if (rc)
        return cio_fail(rc, NULL);

    cio_task *done[2], *pending[2];
    size_t ndone = 0, npending = 0;
    rc = cio_wait(tasks, 2, CIO_FIRST_COMPLETED, CIO_NO_TIMEOUT, done, &ndone, pending, &npending);
    if (rc)
        goto out;
    /* 处理完成的任务 */
    for (size_t i = 0; i < ndone; i++) {
        void *result;
        if ((rc = cio_result(done[i], &result))) /* 提取结果 */
            goto out;
        printf("%s的执行结果:%s\n", cio_task_name(done[i]), (const char *)result);
    }
    printf("已完成任务数:%zu\n", ndone);
    /* 等待剩余的任务完成(如果需要) */
    if (npending > 0)
        rc = cio_wait(pending, npending, CIO_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL);
out:
    release_all(tasks, 2);
    return rc ? cio_fail(rc, NULL) : NULL;
}

/* ---- ALL_COMPLETED (004) ---------------------------------------------------- */

typedef struct named_task_args {
    const char *name;
    int duration;
    char result[64];
} named_task_args;

/* async def task(name, duration): sleep, return f"Task {name} finished" */
static void *named_task(void *arg)
{
    named_task_args *a = arg;
    int rc = cio_sleep(a->duration * scale);
    if (rc)
        return cio_fail(rc, NULL);
    snprintf(a->result, sizeof a->result, "Task %s finished", a->name);
    return a->result;
}

static void *main_all_completed(void *arg)
{
    (void)arg;
    /* 创建多个任务 */
    named_task_args args[3] = {{.name = "A", .duration = 2}, {.name = "B", .duration = 3}, {.name = "C", .duration = 1}};
    cio_task *tasks[3];
    int rc = spawn_all(tasks, 3, named_task, args, sizeof args[0], NULL);
    if (rc)
        return cio_fail(rc, NULL);
    /* 等待所有任务完成 */
    cio_task *done[3];
    size_t ndone = 0;
    rc = cio_wait(tasks, 3, CIO_ALL_COMPLETED, CIO_NO_TIMEOUT, done, &ndone, NULL, NULL);
    for (size_t i = 0; !rc && i < ndone; i++) {
        void *result;
        if (!(rc = cio_await(done[i], &result))) /* print(await d) */
            printf("%s\n", (const char *)result);
    }
    release_all(tasks, 3);
    return rc ? cio_fail(rc, NULL) : NULL;
}

/* ---- timeout (001) ---------------------------------------------------------- */

/* 在新任务中执行的协程 */
static void *task_coro_uniform(void *arg)
{
    int n = *(const int *)arg;
    /* 模拟不同的执行时间 */
    double value = py_uniform(0, 2); /* 保证每个任务的执行时间为0到2秒 */
    int rc = cio_sleep(value * scale);
    if (rc)
        return cio_fail(rc, NULL);
    printf("> 任务 %d 完成,执行时间 %.2f 秒\n", n, value);
    return NULL;
}

static void *main_timeout(void *arg)
{
    (void)arg;
    enum { N = 10 };
    int ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = i;
    /* 创建多个任务 */
    cio_task *tasks[N];
    int rc = spawn_all(tasks, N, task_coro_uniform, ids, sizeof ids[0], NULL);
    if (rc)
        return cio_fail(rc, NULL);
    /* 设置最大等待时间为1秒,超时后返回已完成的任务 */
    cio_task *pending[N];
    size_t ndone = 0, npending = 0;
    rc = cio_wait(tasks, N, CIO_ALL_COMPLETED, 1 * scale, NULL, &ndone, pending, &npending);
    if (!rc) {
        /* 打印结果:已完成的任务和待处理的任务 */
        printf("已完成的任务数量: %zu\n", ndone);
        printf("待处理的任务数量: %zu\n", npending);
        /* 如果超时后有任务未完成,显示它们的状态 */
        if (npending) {
            printf("以下任务未在超时时间内完成:\n");
            for (size_t i = 0; i < npending; i++)
                for (size_t j = 0; j < N; j++) /* tasks.index(task) */
                    if (tasks[j] == pending[i])
                        printf("- 任务 %zu\n", j);
        }
    }
    /* the pending ones are cancelled when cio_run ends, as by asyncio.run */
    release_all(tasks, N);
    return rc ? cio_fail(rc, NULL) : NULL;
}

/* ---- FIRST_EXCEPTION (003) -------------------------------------------------- */

/* 异步函数 1 */
static void *task1(void *arg)
{
    printf("任务 1\n");
    int rc = cio_sleep(2 * scale);
    if (rc)
        return cio_fail(rc, NULL);
    printf("恢复任务 1\n");
    return arg;
}

/* 异步函数 2 */
static void *task2(void *arg)
{
    printf("任务 2\n");
    int rc = cio_sleep(1 * scale);
    if (rc)
        return cio_fail(rc, NULL);
    printf("恢复任务 2\n");
    return arg;
}

/* 异步函数 3: fails after half a second (raise ValueError("任务 3 出错")) */
static void *task3(void *arg)
{
    (void)arg;
    printf("任务 3\n");
    int rc = cio_sleep(0.5 * scale);
    if (rc)
        return cio_fail(rc, NULL);
    return cio_fail(-EINVAL, "任务 3 出错");
}

static const char *coro_name(cio_task_fn fn)
{
    return fn == task1 ? "task1" : fn == task2 ? "task2" : fn == task3 ? "task3" : "?";
}

/* print(done): a set of tasks, as Python prints it; marks errors retrieved */
static void print_set(cio_task *const *ts, size_t n)
{
    if (n == 0) {
        printf("set()\n");
        return;
    }
    printf("{");
    for (size_t i = 0; i < n; i++) {
        cio_task *t = ts[i];
        printf("%s<Task %s name='%s' coro=<%s()>", i ? ", " : "",
               !cio_done(t) ? "pending" : cio_cancelled(t) ? "cancelled" : "finished", cio_task_name(t),
               coro_name(cio_task_fn_of(t, NULL)));
        void *value = NULL;
        if (cio_done(t) && !cio_cancelled(t)) {
            int rc = cio_result(t, &value);
            if (rc == 0)
                printf(" result=%d", (int)(intptr_t)value);
            else
                printf(" exception=%s('%s')", cio_strerror(rc), cio_error_message(t) ? cio_error_message(t) : "");
        }
        printf(">");
    }
    printf("}\n");
}

typedef struct first_exception_args {
    size_t ntasks; /* 2: task1, task2; 3: and task3, which fails */
} first_exception_args;

static void *main_first_exception(void *arg)
{
    const first_exception_args *a = arg;
    char buf[32];
    double start_time = perf_counter();
    static const cio_task_fn fns[3] = {task1, task2, task3};
    cio_task *tasks[3];
    size_t n = 0;
    int rc = 0;
    for (; n < a->ntasks; n++) {
        if (!(tasks[n] = cio_spawn(fns[n], (void *)(intptr_t)(n + 1)))) {
            rc = -errno;
            goto out;
        }
    }
    /* done, pending = await asyncio.wait([...], return_when=asyncio.FIRST_EXCEPTION) */
    cio_task *done[3], *pending[3];
    size_t ndone = 0, npending = 0;
    if ((rc = cio_wait(tasks, n, CIO_FIRST_EXCEPTION, CIO_NO_TIMEOUT, done, &ndone, pending, &npending)))
        goto out;
    print_set(done, ndone);
    print_set(pending, npending);
    printf("运行时间 %s\n", py_repr(perf_counter() - start_time, buf, sizeof buf));
out:
    release_all(tasks, n);
    return rc ? cio_fail(rc, NULL) : NULL;
}

static void *main_first_exception_ok(void *arg)
{
    (void)arg;
    static const first_exception_args a = {.ntasks = 2};
    return main_first_exception((void *)&a);
}

static void *main_first_exception_fail(void *arg)
{
    (void)arg;
    static const first_exception_args a = {.ntasks = 3};
    return main_first_exception((void *)&a);
}

/* ---- wait_for (001, 004) ---------------------------------------------------- */

/* 定义异步函数 task_coro,作为协程任务执行 */
static void *task_coro_random(void *arg)
{
    (void)arg;
    char buf[32];
    /* 生成一个1到2之间的随机数 */
    double value = 1 + py_random();
    /* 打印接收到的值 */
    printf(">任务接收到 %s\n", py_repr(value, buf, sizeof buf));
    /* 异步等待,模拟耗时操作,等待时间由随机数决定 */
    int rc = cio_sleep(value * scale);
    if (rc)
        return cio_fail(rc, NULL);
    /* 打印任务完成消息 */
    printf(">任务完成\n");
    return NULL;
}

/* async def task(): await asyncio.sleep(3); return "Task finished" */
static void *task_three_seconds(void *arg)
{
    (void)arg;
    int rc = cio_sleep(3 * scale);
    return rc ? cio_fail(rc, NULL) : (void *)"Task finished";
}

static void *main_wait_for(void *arg)
{
    (void)arg;
    /* 创建协程任务并传入参数1 */
    cio_task *task = cio_spawn(task_coro_random, (void *)(intptr_t)1);
    if (!task)
        return cio_fail(-errno, NULL);
    /* 尝试执行任务并设置超时为0.2秒 */
    int rc = cio_wait_for(task, 0.2 * scale, NULL);
    if (rc == -ETIMEDOUT) {
        /* 超时处理:打印任务取消消息 */
        printf("放弃等待,任务已取消\n");
        printf("task.cancelled(): %s\n", cio_cancelled(task) ? "True" : "False");
    } else if (rc == -ECANCELED) {
        cio_release(task);
        return cio_fail(rc, NULL);
    } /* except Exception: pass */
    cio_release(task);

    /* (004) result = await asyncio.wait_for(task(), timeout=2) */
    if (!(task = cio_spawn(task_three_seconds, NULL)))
        return cio_fail(-errno, NULL);
    void *result = NULL;
    rc = cio_wait_for(task, 2 * scale, &result);
    if (rc == 0) {
        printf("%s\n", (const char *)result);
    } else if (rc == -ETIMEDOUT) {
        printf("The task took too long!\n");
        printf("task.cancelled(): %s\n", cio_cancelled(task) ? "True" : "False");
    } else {
        cio_release(task);
        return cio_fail(rc, NULL);
    }
    cio_release(task);
    return NULL;
}

/* ---- main ------------------------------------------------------------------- */

static const struct section {
    const char *title;
    cio_task_fn main;
} sections[] = {
    {"FIRST_COMPLETED", main_first_completed},
    {"ALL_COMPLETED", main_all_completed},
    {"timeout", main_timeout},
    {"FIRST_EXCEPTION", main_first_exception_ok},
    {"FIRST_EXCEPTION (任务 3 出错)", main_first_exception_fail},
    {"wait_for", main_wait_for},
};

static void usage(FILE *out, const char *prog)
{
    fprintf(out, "usage: %s [-s|--scale FACTOR] [--seed N]\n", prog);
}

int main(int argc, char **argv)
{
    unsigned long long seed = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 32);
    static const struct option opts[] = {
        {"scale", required_argument, NULL, 's'},
        {"seed", required_argument, NULL, 'S'},
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
        case 'S':
            seed = strtoull(optarg, &end, 10);
            if (*end || end == optarg) {
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
    setvbuf(stdout, NULL, _IOLBF, 0);

    py_seed(seed);
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
