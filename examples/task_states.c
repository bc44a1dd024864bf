/* SPDX-License-Identifier: MIT */
/*
 * task_states -- the life of a task (seed 001, section 2.2), ported snippet
 * by snippet.  Each snippet of the article runs under its own asyncio.run,
 * so each section here is its own cio_run:
 *
 *   creation:   create_task(coro, name='task'), task.set_name('MyTask'), and
 *               the states created -> scheduled -> running -> suspended -> done
 *   cancel:     task1 completes, task2 is cancelled; done() / cancelled()
 *   result:     result() while pending (InvalidStateError), after await,
 *               and on a cancelled task
 *   exception:  a faulty coroutine; task.exception() after awaiting it
 *   callback:   add_done_callback(my_callback) printing task.result();
 *               remove_done_callback(handle)
 *   current:    asyncio.current_task()
 *   all_tasks:  ten named tasks, asyncio.all_tasks(), get_name(), get_coro(),
 *               then gather
 *
 * Usage: task_states [-s|--scale FACTOR]
 *   -s, --scale FACTOR  multiply every sleep by FACTOR (default 1.0)
 */
#include <cio.h>

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static double scale = 1.0;

/* Returns from a task body with the error, after releasing t (if any). */
static void *fail_release(int rc, cio_task *t)
{
    if (t)
        cio_release(t);
    return cio_fail(rc, NULL);
}

/* ---- creation and life cycle ---------------------------------------------- */

/* async def custom_coroutine(): await asyncio.sleep(1) */
static void *custom_coroutine(void *arg)
{
    (void)arg;
    printf("运行(Running): %s\n", cio_task_state_name(cio_task_state(cio_current_task())));
    int rc = cio_sleep(1 * scale);
    return rc ? cio_fail(rc, NULL) : NULL;
}

static void *main_creation(void *arg)
{
    (void)arg;
    /* task = asyncio.create_task(coro, name='task'); created, not started,
     * so that the "created" state can be seen */
    cio_task_opts opts = {.name = "task", .flags = CIO_TASK_LAZY};
    cio_task *task = cio_spawn_ex(NULL, custom_coroutine, NULL, &opts);
    if (!task)
        return cio_fail(-errno, NULL);
    printf("任务名称: %s\n", cio_task_name(task));
    /* task.set_name('MyTask') */
    int rc = cio_task_set_name(task, "MyTask");
    if (rc)
        return fail_release(rc, task);
    printf("任务名称: %s\n", cio_task_name(task));
    printf("创建(Created): %s\n", cio_task_state_name(cio_task_state(task)));
    if ((rc = cio_task_start(task)))
        return fail_release(rc, task);
    printf("调度(Scheduled): %s\n", cio_task_state_name(cio_task_state(task)));
    /* let it run up to its sleep */
    if ((rc = cio_yield()))
        return fail_release(rc, task);
    printf("挂起(Suspended): %s\n", cio_task_state_name(cio_task_state(task)));
    if ((rc = cio_await(task, NULL)))
        return fail_release(rc, task);
    printf("完成(Done): %s\n", cio_task_state_name(cio_task_state(task)));
    cio_release(task);
    return NULL;
}

/* ---- done() and cancelled() ----------------------------------------------- */

/* 异步任务1: 打印任务开始、等待1秒并打印任务完成 */
static void *task_completed(void *arg)
{
    (void)arg;
    printf("任务1正在执行\n");
    int rc = cio_sleep(1 * scale); /* 模拟异步操作,暂停1秒 */
    if (rc)
        return cio_fail(rc, NULL);
    printf("任务1完成\n");
    return NULL;
}

/* 异步任务2: 打印任务开始、等待2秒并打印任务完成 */
static void *task_cancelled(void *arg)
{
    (void)arg;
    printf("任务2正在执行\n");
    int rc = cio_sleep(2 * scale); /* 模拟异步操作,暂停2秒 */
    if (rc)
        return cio_fail(rc, NULL);
    printf("任务2完成\n");
    return NULL;
}

static void *main_cancel(void *arg)
{
    (void)arg;
    /* 创建并启动两个异步任务 */
    cio_task *task1 = cio_spawn(task_completed, NULL);
    if (!task1)
        return cio_fail(-errno, NULL);
    cio_task *task2 = cio_spawn(task_cancelled, NULL);
    if (!task2) {
        int err = errno;
        return fail_release(-err, task1);
    }
    /* 等待task1任务完成 */
    int rc = cio_await(task1, NULL);
    if (rc) {
        cio_release(task2);
        return fail_release(rc, task1);
    }
    /* 取消task2任务 */
    cio_cancel(task2, NULL);
    /* try: await task2  except asyncio.CancelledError: pass */
    rc = cio_await(task2, NULL);
    if (rc == -ECANCELED && cio_cancelled(task2)) {
        cio_task_uncancel(cio_current_task()); /* swallowed, as `except CancelledError: pass` */
        rc = 0;
    }
    if (rc) {
        cio_release(task2);
        return fail_release(rc, task1);
    }
    /* 检查task1是否完成 */
    if (cio_done(task1))
        printf("任务1已完成\n");
    /* 检查task2是否被取消 */
    if (cio_cancelled(task2))
        printf("任务2已取消\n");
    cio_release(task1);
    cio_release(task2);
    return NULL;
}

/* ---- result() --------------------------------------------------------------- */

static void *task_with_result(void *arg)
{
    (void)arg;
    int rc = cio_sleep(0.5 * scale);
    return rc ? cio_fail(rc, NULL) : (void *)"任务的返回值";
}

static void *main_result(void *arg)
{
    (void)arg;
    cio_task *task = cio_spawn(task_with_result, NULL);
    if (!task)
        return cio_fail(-errno, NULL);
    /* result() of a pending task raises InvalidStateError */
    void *value = NULL;
    int rc = cio_result(task, &value);
    printf("任务未完成时调用 result(): %s\n", rc == CIO_EINVALSTATE ? "InvalidStateError" : cio_strerror(rc));
    /* 检查任务是否已完成 */
    if (!cio_done(task) && (rc = cio_await(task, NULL)))
        return fail_release(rc, task);
    /* 获取包装协程的返回值 */
    if ((rc = cio_result(task, &value)))
        return fail_release(rc, task);
    printf("任务结果: %s\n", (const char *)value);
    cio_release(task);

    /* a task cancelled before it ran */
    if (!(task = cio_spawn(task_with_result, NULL)))
        return cio_fail(-errno, NULL);
    cio_cancel(task, NULL);
    rc = cio_await(task, NULL);
    if (rc == -ECANCELED && cio_cancelled(task)) {
        cio_task_uncancel(cio_current_task());
        rc = 0;
    }
    if (rc)
        return fail_release(rc, task);
    /* 检查任务是否未被取消 */
    if (!cio_cancelled(task)) {
        cio_result(task, &value);
        printf("任务结果: %s\n", (const char *)value);
    } else {
        /* 任务已被取消: result() raises CancelledError */
        rc = cio_result(task, NULL);
        printf("任务已被取消, result(): %s\n", rc == -ECANCELED ? "CancelledError" : cio_strerror(rc));
        rc = 0;
    }
    cio_release(task);
    return NULL;
}

/* ---- exception() ------------------------------------------------------------ */

/* 定义一个协程,模拟异常: raise ValueError("协程中发生了错误。") */
static void *faulty_coroutine(void *arg)
{
    (void)arg;
    return cio_fail(-EINVAL, "协程中发生了错误。");
}

static void *main_exception(void *arg)
{
    (void)arg;
    /* 创建协程任务 */
    cio_task *task = cio_spawn(faulty_coroutine, NULL);
    if (!task)
        return cio_fail(-errno, NULL);
    /* 等待任务执行完成,捕获异常 */
    int rc = cio_await(task, NULL);
    if (rc == -ECANCELED)
        return fail_release(rc, task);
    if (rc) {
        /* 获取任务中的异常 */
        int exception = cio_exception(task);
        const char *msg = cio_error_message(task);
        printf("任务异常: %s\n", msg ? msg : cio_strerror(exception));
    }
    cio_release(task);
    return NULL;
}

/* ---- add_done_callback() ---------------------------------------------------- */

/* 异步函数 */
static void *my_coroutine(void *arg)
{
    (void)arg;
    printf("开始任务\n");
    int rc = cio_sleep(1 * scale);
    if (rc)
        return cio_fail(rc, NULL);
    printf("任务完成\n");
    return "任务完成";
}

/* 回调函数 */
static void my_callback(cio_future *task, void *arg)
{
    (void)arg;
    printf("回调函数被调用\n");
    void *result = NULL;
    int rc = cio_result(task, &result); /* 获取任务的返回结果 */
    if (rc)
        printf("任务失败: %s\n", cio_strerror(rc));
    else
        printf("任务的返回结果是: %s\n", (const char *)result);
}

/* def handle(task): print(task) -- registered, then removed again */
static void handle(cio_future *task, void *arg)
{
    (void)arg;
    printf("%s\n", cio_task_name(task));
}

static void *main_callback(void *arg)
{
    (void)arg;
    /* 创建任务 */
    cio_task *task = cio_spawn(my_coroutine, NULL);
    if (!task)
        return cio_fail(-errno, NULL);
    /* 注册回调函数 */
    int rc = cio_add_done_callback(task, my_callback, NULL);
    if (rc)
        return fail_release(rc, task);
    /* task.add_done_callback(handle); task.remove_done_callback(handle) */
    if ((rc = cio_add_done_callback(task, handle, NULL)))
        return fail_release(rc, task);
    if (cio_remove_done_callback(task, handle, NULL) != 1)
        return fail_release(CIO_EINVALSTATE, task);
    /* 等待任务完成 */
    if ((rc = cio_await(task, NULL)))
        return fail_release(rc, task);
    cio_release(task);
    return NULL;
}

/* ---- current_task() --------------------------------------------------------- */

static void *main_current_task(void *arg);
static void *main_all_tasks(void *arg);
static void *task_coroutine(void *arg);

/* The name of a task's function, for printing get_coro(). */
static const char *coro_name(cio_task_fn fn)
{
    static const struct {
        cio_task_fn fn;
        const char *name;
    } names[] = {
        {main_current_task, "main_current_task"},
        {main_all_tasks, "main_all_tasks"},
        {task_coroutine, "task_coroutine"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].fn == fn)
            return names[i].name;
    return "?";
}

/* repr(task) in Python's form: <Task pending name='Task-1' coro=<main() running>> */
static void print_task(const cio_task *t)
{
    int state = cio_task_state(t);
    printf("<Task %s name='%s' coro=<%s() %s>>\n", state == CIO_TASK_DONE ? "finished" : "pending", cio_task_name(t),
           coro_name(cio_task_fn_of(t, NULL)), cio_task_state_name(state));
}

/* 定义主协程 */
static void *main_current_task(void *arg)
{
    (void)arg;
    /* 输出开始消息 */
    printf("主协程已启动\n");
    /* 获取当前任务 */
    cio_task *current_task = cio_current_task();
    /* 打印任务详情 */
    print_task(current_task);
    return NULL;
}

/* ---- all_tasks() ------------------------------------------------------------ */

/* 10个异步任务 */
static void *task_coroutine(void *arg)
{
    int value = (int)(intptr_t)arg;
    /* 输出任务运行信息 */
    printf("任务 %d 开始运行\n", value);
    /* 模拟异步等待,使每个任务休眠1秒 */
    int rc = cio_sleep(1 * scale);
    if (rc)
        return cio_fail(rc, NULL);
    /* 输出任务运行信息 */
    printf("任务 %d 结束运行\n", value);
    return NULL;
}

/* 主协程定义 */
static void *main_all_tasks(void *arg)
{
    (void)arg;
    enum { N = 10 };
    cio_task *started_tasks[N];
    int rc = 0;
    size_t n = 0;
    /* 输出主协程启动信息 */
    printf("主协程已启动\n");
    /* 创建10个任务 */
    for (; n < N; n++) {
        char name[32];
        snprintf(name, sizeof name, "任务%zu", n);
        cio_task_opts opts = {.name = name};
        if (!(started_tasks[n] = cio_spawn_ex(NULL, task_coroutine, (void *)(intptr_t)n, &opts))) {
            rc = -errno;
            goto out;
        }
    }
    /* 使得当前的协程(即 main 协程)挂起0.1秒,从而使得子任务运行 */
    if ((rc = cio_sleep(0.1 * scale)))
        goto out;
    /* 获取所有任务的集合 (borrowed pointers: used before the next suspension) */
    size_t count = cio_all_tasks(NULL, NULL, 0);
    cio_task **all_tasks = calloc(count ? count : 1, sizeof *all_tasks);
    if (!all_tasks) {
        rc = -ENOMEM;
        goto out;
    }
    count = cio_all_tasks(NULL, all_tasks, count);
    /* 输出所有任务的详细信息 */
    for (size_t i = 0; i < count; i++) {
        void *targ = NULL;
        cio_task_fn fn = cio_task_fn_of(all_tasks[i], &targ);
        if (fn == task_coroutine)
            printf("> %s, <coroutine %s(%d)>\n", cio_task_name(all_tasks[i]), coro_name(fn), (int)(intptr_t)targ);
        else
            printf("> %s, <coroutine %s()>\n", cio_task_name(all_tasks[i]), coro_name(fn));
    }
    free(all_tasks);
    printf("等待任务完成\n");
    /* gather会收集传入的所有任务,并阻塞当前协程,直到所有任务都执行完毕 */
    rc = cio_gather(started_tasks, n, NULL, NULL, 0);
out:
    for (size_t i = 0; i < n; i++)
        cio_release(started_tasks[i]);
    return rc ? cio_fail(rc, NULL) : NULL;
}

/* ---- main ------------------------------------------------------------------- */

static const struct section {
    const char *title;
    cio_task_fn main;
} sections[] = {
    {"任务的创建与生命周期", main_creation},
    {"任务完成与取消", main_cancel},
    {"任务结果获取", main_result},
    {"任务异常处理", main_exception},
    {"任务的回调函数", main_callback},
    {"当前任务获取", main_current_task},
    {"所有任务获取", main_all_tasks},
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
