/* SPDX-License-Identifier: MIT */
/* CPython Lib/test/test_asyncio/test_eager_task_factory.py (3.12+), ported
 * (see conformance.h).
 *
 * asyncio.eager_task_factory is cio's CIO_TASK_EAGER (cio.h, cio_task_opts):
 * the flag is given per spawn instead of through loop.set_task_factory, and
 * the task runs at once, until its first suspension, before cio_spawn_ex
 * returns.  run_coro() runs the body as a task of a running loop, which is
 * what CONF_TASK does. */
#define CONF_FILE "test_eager_task_factory"
#include "conformance.h"

static bool streq(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

/* loop.create_task() with the eager task factory */
static cio_task *eager(cio_task_fn fn, void *arg)
{
    cio_task *t = cio_spawn_ex(NULL, fn, arg, &(cio_task_opts){.flags = CIO_TASK_EAGER});
    CHECK(t != NULL);
    return t;
}

static void *set_result(void *arg)
{
    cio_future_set_result(arg, "my message");
    return NULL;
}

CONF_TASK(test_await_future_during_eager_step)
{
    cio_future *fut = cio_future_new(NULL);
    cio_task *t = eager(set_result, fut);
    /* the eager step completed the task */
    CHECK(cio_done(t));
    void *v = NULL;
    CHECK_EQ(cio_await(fut, &v), 0);
    CHECK(streq(v, "my message"));
    cio_release(t);
    cio_release(fut);
    return NULL;
}

static void *hello(void *arg)
{
    (void)arg;
    return "hello";
}

CONF_TASK(test_eager_completion)
{
    cio_task *t = eager(hello, NULL);
    /* the eager step completed the task */
    CHECK(cio_done(t));
    void *v = NULL;
    CHECK_EQ(cio_await(t, &v), 0);
    CHECK(streq(v, "hello"));
    cio_release(t);
    return NULL;
}

static void *sleep_then_finish(void *arg)
{
    (void)arg;
    if (cio_sleep(0.01) < 0)
        return NULL; /* the CancelledError propagates */
    return "finished after blocking";
}

CONF_TASK(test_block_after_eager_step)
{
    cio_task *t = eager(sleep_then_finish, NULL);
    CHECK(!cio_done(t));
    void *v = NULL;
    CHECK_EQ(cio_await(t, &v), 0);
    CHECK(cio_done(t));
    CHECK(streq(v, "finished after blocking"));
    cio_release(t);
    return NULL;
}

static void *finish_without_blocking(void *arg)
{
    (void)arg;
    return "finished without blocking";
}

CONF_TASK(test_cancellation_after_eager_completion)
{
    cio_task *t = eager(finish_without_blocking, NULL);
    cio_cancel(t, NULL);
    void *v = NULL;
    CHECK_EQ(cio_await(t, &v), 0);
    /* a finished task can't be cancelled */
    CHECK(!cio_cancelled(t));
    CHECK(streq(v, "finished without blocking"));
    cio_release(t);
    return NULL;
}

/* run(): t.cancel('cancellation message'); await t (the CancelledError
 * propagates out of run()) */
static void *cancel_after_block_run(void *arg)
{
    (void)arg;
    cio_task *t = eager(sleep_then_finish, NULL);
    cio_cancel(t, "cancellation message");
    CHECK(cio_task_cancelling(t) > 0);
    int rc = cio_await(t, NULL);
    const char *m = cio_error_message(t);
    void *r = rc < 0 ? (m ? cio_fail(rc, "%s", m) : cio_fail(rc, NULL)) : NULL;
    cio_release(t);
    return r;
}

CONF_TASK(test_cancellation_after_eager_step_blocks)
{
    cio_task *run = cio_spawn(cancel_after_block_run, NULL);
    CHECK_EQ(cio_await(run, NULL), -ECANCELED);
    CHECK(streq(cio_error_message(run), "cancellation message"));
    cio_release(run);
    return NULL;
}

static cio_task *captured_current_task;
static void *capture_current(void *arg)
{
    (void)arg;
    captured_current_task = cio_current_task();
    /* the task before and after blocking is the same */
    if (cio_sleep(0.01) < 0)
        return NULL;
    CHECK(cio_current_task() == captured_current_task);
    return NULL;
}

CONF_TASK(test_current_task)
{
    captured_current_task = NULL;
    cio_task *t = eager(capture_current, NULL);
    CHECK(captured_current_task == t);
    CHECK_EQ(cio_await(t, NULL), 0);
    cio_release(t);
    captured_current_task = NULL;
    return NULL;
}

enum { MAXT = 16 };
static cio_task *captured_all[MAXT];
static size_t ncaptured;
static void *capture_all_tasks(void *arg)
{
    (void)arg;
    ncaptured = cio_all_tasks(NULL, captured_all, MAXT);
    return NULL;
}

static bool in_tasks(cio_task *const *tasks, size_t n, const cio_task *t)
{
    for (size_t i = 0; i < n && i < MAXT; i++)
        if (tasks[i] == t)
            return true;
    return false;
}

static bool in_all_tasks(const cio_task *t)
{
    cio_task *all[MAXT];
    size_t n = cio_all_tasks(NULL, all, MAXT);
    return in_tasks(all, n, t);
}

CONF_TASK(test_all_tasks_with_eager_completion)
{
    ncaptured = 0;
    cio_task *t = eager(capture_all_tasks, NULL);
    CHECK(in_tasks(captured_all, ncaptured, t));
    CHECK(!in_all_tasks(t));
    cio_release(t);
    return NULL;
}

typedef struct two_futs {
    cio_future *fut1, *fut2;
} two_futs;
static void *capture_then_block(void *arg)
{
    two_futs *x = arg;
    ncaptured = cio_all_tasks(NULL, captured_all, MAXT);
    if (cio_await(x->fut1, NULL) < 0)
        return NULL;
    cio_future_set_result(x->fut2, NULL);
    return NULL;
}

CONF_TASK(test_all_tasks_with_blocking)
{
    ncaptured = 0;
    two_futs x = {cio_future_new(NULL), cio_future_new(NULL)};
    cio_task *t = eager(capture_then_block, &x);
    CHECK(in_tasks(captured_all, ncaptured, t));
    CHECK(in_all_tasks(t));
    cio_future_set_result(x.fut1, NULL);
    CHECK_EQ(cio_await(x.fut2, NULL), 0);
    CHECK(!in_all_tasks(t));
    cio_release(t);
    cio_release(x.fut1);
    cio_release(x.fut2);
    return NULL;
}

CONF_MAIN()
