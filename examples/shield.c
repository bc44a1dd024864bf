/* SPDX-License-Identifier: MIT */
/*
 * shield -- asyncio.shield (seed 001, section 2.2.5), the article's three
 * cases, each under its own asyncio.run:
 *
 *   1. shield.cancel() cancels only the shield: the inner task completes
 *      (任务开始 / 任务完成);
 *   2. task.cancel() on the inner task cancels the shield too (任务被取消);
 *   3. a second task cancels the shield while main awaits it: main gets
 *      CancelledError (已取消: True / 任务已被取消), the inner task still
 *      finishes with its result (保护任务: <Future cancelled>,
 *      任务: <Task finished ... result=1>).
 *
 * Cases 1 and 2 also print the shield itself, so that its state can be seen
 * (the article only tells it).
 *
 * Usage: shield [-s|--scale FACTOR]
 *   -s, --scale FACTOR  multiply every sleep by FACTOR (default 1.0)
 */
#include <cio.h>

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static double scale = 1.0;

static void *coro(void *arg);
static void *simple_task(void *arg);

/* print(f): Python's repr of a future or a task whose result is an int. */
static void print_future(const char *label, cio_future *f)
{
    const char *state = !cio_done(f) ? "pending" : cio_cancelled(f) ? "cancelled" : "finished";
    printf("%s", label);
    if (cio_is_task(f)) {
        cio_task_fn fn = cio_task_fn_of(f, NULL);
        printf("<Task %s name='%s' coro=<%s() %s>", state, cio_task_name(f),
               fn == coro ? "coro" : fn == simple_task ? "simple_task" : "?", cio_done(f) ? "done" : "running");
    } else {
        printf("<Future %s", state);
    }
    if (cio_done(f) && !cio_cancelled(f)) {
        void *value = NULL;
        int rc = cio_result(f, &value);
        if (rc)
            printf(" exception=%s", cio_strerror(rc));
        else
            printf(" result=%d", (int)(intptr_t)value);
    }
    printf(">\n");
}

/* `except asyncio.CancelledError:` after awaiting something that was
 * cancelled: the current task goes on instead of ending cancelled. */
static void swallow_cancel(void) { cio_task_uncancel(cio_current_task()); }

/* ---- cases 1 and 2 ------------------------------------------------------------ */

static void *coro(void *arg)
{
    (void)arg;
    printf("任务开始\n");
    int rc = cio_sleep(3 * scale);
    if (rc)
        return cio_fail(rc, NULL);
    printf("任务完成\n");
    return NULL;
}

/* cancel_inner false: case 1 (cancel the shield); true: case 2 (cancel the task) */
static void *main_case(bool cancel_inner)
{
    /* 创建异步任务 */
    cio_task *task = cio_spawn(coro, NULL);
    if (!task)
        return cio_fail(-errno, NULL);
    /* 使用shield包装任务,以创建一个不可取消的任务 */
    cio_future *shield = cio_shield(task);
    if (!shield) {
        int err = errno;
        cio_release(task);
        return cio_fail(-err, NULL);
    }
    if (cancel_inner)
        cio_cancel(task, NULL); /* 取消task */
    else
        cio_cancel(shield, NULL); /* 尝试取消shield,但这不会影响内部的task */
    /* 等待任务执行完成 */
    int rc = cio_await(task, NULL);
    if (rc == -ECANCELED) {
        swallow_cancel();
        printf("任务被取消\n");
        rc = 0;
    }
    if (!rc)
        print_future("shield: ", shield);
    cio_release(shield);
    cio_release(task);
    return rc ? cio_fail(rc, NULL) : NULL;
}

static void *main_cancel_shield(void *arg)
{
    (void)arg;
    return main_case(false);
}

static void *main_cancel_task(void *arg)
{
    (void)arg;
    return main_case(true);
}

/* ---- case 3 -------------------------------------------------------------------- */

/* 定义一个简单的异步任务,模拟处理逻辑 */
static void *simple_task(void *arg)
{
    int rc = cio_sleep(1 * scale);
    return rc ? cio_fail(rc, NULL) : arg;
}

/* 定义一个异步任务,稍后取消指定任务 (it owns a reference to it) */
static void *cancel_task(void *arg)
{
    cio_future *task = arg;
    int rc = cio_sleep(0.2 * scale);
    if (rc) {
        cio_release(task);
        return cio_fail(rc, NULL);
    }
    bool was_cancelled = cio_cancel(task, NULL);
    printf("已取消: %s\n", was_cancelled ? "True" : "False");
    cio_release(task);
    return NULL;
}

/* 主协程,调度其他任务 */
static void *main_shielded(void *arg)
{
    (void)arg;
    cio_task *task = cio_spawn(simple_task, (void *)(intptr_t)1);
    if (!task)
        return cio_fail(-errno, NULL);
    cio_future *shielded = cio_shield(task);
    if (!shielded) {
        int err = errno;
        cio_release(task);
        return cio_fail(-err, NULL);
    }
    /* 创建取消任务的协程 */
    cio_task *canceller = cio_spawn(cancel_task, cio_ref(shielded));
    int rc = 0;
    if (!canceller) {
        rc = -errno;
        cio_release(shielded); /* the reference meant for cancel_task */
        goto out;
    }
    cio_release(canceller);

    void *result = NULL;
    rc = cio_await(shielded, &result);
    if (rc == 0) {
        printf(">获得: %d\n", (int)(intptr_t)result);
    } else if (rc == -ECANCELED && cio_cancelled(shielded)) {
        swallow_cancel();
        printf("任务已被取消\n");
        rc = 0;
    }
    if (rc || (rc = cio_sleep(1 * scale)))
        goto out;
    print_future("保护任务: ", shielded);
    print_future("任务: ", task);
out:
    cio_release(shielded);
    cio_release(task);
    return rc ? cio_fail(rc, NULL) : NULL;
}

/* ---- main ---------------------------------------------------------------------- */

static const struct section {
    const char *title;
    cio_task_fn main;
} sections[] = {
    {"取消 shield", main_cancel_shield},
    {"取消 task", main_cancel_task},
    {"取消 shielded", main_shielded},
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
