/* SPDX-License-Identifier: MIT */
/* CPython Lib/test/test_asyncio/test_waitfor.py (3.11), ported (see
 * conformance.h).  A coroutine handed to wait_for is a task created with
 * CIO_TASK_LAZY (cio_wait_for starts it); TimeoutError is -ETIMEDOUT;
 * `except CancelledError: pass` is cio_task_catch_cancel(). */
#define CONF_FILE "test_waitfor"
#include "conformance.h"

#include <stdint.h>

#define EPSILON 0.0001 /* passes "timeout > 0", costs nothing */

static cio_task *lazy(cio_task_fn fn, void *arg)
{
    return cio_spawn_ex(NULL, fn, arg, &(cio_task_opts){.flags = CIO_TASK_LAZY});
}

/* SlowTask: runs for TASK_TIMEOUT seconds, ignoring cancel requests */
#define TASK_TIMEOUT 0.2

typedef struct slow {
    bool exited;
} slow;

static void *slow_run(void *arg)
{
    slow *s = arg;
    double exitat = cio_time() + TASK_TIMEOUT;
    for (;;) {
        double tosleep = exitat - cio_time();
        if (tosleep <= 0)
            break;
        if (cio_sleep(tosleep) == -ECANCELED)
            cio_task_catch_cancel();
    }
    s->exited = true;
    return NULL;
}

typedef struct wfjob {
    cio_task_fn fn; /* a coroutine: made a lazy task here */
    void *arg;
    cio_future *f;  /* or an existing future/task */
    double timeout;
} wfjob;

static void *wait_for_task(void *arg)
{
    wfjob *j = arg;
    cio_future *f = j->f ? cio_ref(j->f) : lazy(j->fn, j->arg);
    int rc = cio_wait_for(f, j->timeout, NULL);
    cio_release(f);
    return rc ? cio_fail(rc, NULL) : NULL;
}

CONF_TASK(test_asyncio_wait_for_cancelled)
{
    slow t = {0};
    wfjob j = {.fn = slow_run, .arg = &t, .timeout = TASK_TIMEOUT * 2};
    cio_task *waitfortask = cio_spawn(wait_for_task, &j);
    CHECK_EQ(cio_sleep(0), 0);
    cio_cancel(waitfortask, NULL);
    CHECK_EQ(cio_wait(&waitfortask, 1, CIO_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL), 0);
    CHECK(t.exited);
    cio_release(waitfortask);
    return NULL;
}

CONF_TASK(test_asyncio_wait_for_timeout)
{
    slow t = {0};
    cio_task *f = lazy(slow_run, &t);
    int rc = cio_wait_for(f, TASK_TIMEOUT / 2, NULL);
    CHECK(rc == 0 || rc == -ETIMEDOUT); /* try: ... except TimeoutError: pass */
    CHECK(t.exited);
    cio_release(f);
    return NULL;
}

CONF_TASK(test_wait_for_timeout_less_then_0_or_0_future_done)
{
    cio_future *fut = cio_future_new(NULL);
    cio_future_set_result(fut, "done");
    void *ret;
    CHECK_EQ(cio_wait_for(fut, 0, &ret), 0);
    CHECK(strcmp(ret, "done") == 0);
    CHECK(cio_done(fut));
    cio_release(fut);
    return NULL;
}

static void *set_true(void *arg)
{
    *(bool *)arg = true;
    return NULL;
}

CONF_TASK(test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started)
{
    bool foo_started = false;
    cio_task *foo = lazy(set_true, &foo_started);
    CHECK_EQ(cio_wait_for(foo, 0, NULL), -ETIMEDOUT);
    CHECK(!foo_started);
    cio_release(foo);
    return NULL;
}

typedef struct foo {
    int running; /* -1: None */
    cio_future *started;
    double sleep;
} foo;

static void *foo_fn(void *arg)
{
    foo *f = arg;
    f->running = 1;
    if (f->started)
        cio_future_set_result(f->started, NULL);
    int rc = cio_sleep(f->sleep);
    f->running = 0; /* finally */
    return rc ? cio_fail(rc, NULL) : "done";
}

CONF_TASK(test_wait_for_timeout_less_then_0_or_0)
{
    double timeouts[] = {0, -1};
    for (int i = 0; i < 2; i++) {
        foo f = {.running = -1, .started = cio_future_new(NULL), .sleep = 10};
        cio_task *fut = cio_spawn(foo_fn, &f);
        CHECK_EQ(cio_await(f.started, NULL), 0);
        CHECK_EQ(cio_wait_for(fut, timeouts[i], NULL), -ETIMEDOUT);
        CHECK(cio_done(fut));
        CHECK(cio_cancelled(fut)); /* cancelled because of the timeout */
        CHECK_EQ(f.running, 0);
        cio_release(fut);
        cio_release(f.started);
    }
    return NULL;
}

CONF_TASK(test_wait_for)
{
    foo f = {.running = -1, .sleep = 300 /* support.LONG_TIMEOUT */};
    cio_task *fut = cio_spawn(foo_fn, &f);
    CHECK_EQ(cio_wait_for(fut, 0.1, NULL), -ETIMEDOUT);
    CHECK(cio_done(fut));
    CHECK(cio_cancelled(fut));
    CHECK_EQ(f.running, 0);
    cio_release(fut);
    return NULL;
}

static void *return_done(void *arg)
{
    (void)arg;
    return "done";
}

CONF_TASK(test_wait_for_blocking)
{
    cio_task *coro = lazy(return_done, NULL);
    void *res;
    CHECK_EQ(cio_wait_for(coro, CIO_NO_TIMEOUT, &res), 0);
    CHECK(strcmp(res, "done") == 0);
    cio_release(coro);
    return NULL;
}

static void set_ok(void *arg) { cio_future_set_result(arg, "ok"); }

CONF_TASK(test_wait_for_race_condition)
{
    cio_future *fut = cio_future_new(NULL);
    CHECK_EQ(cio_call_later(cio_loop_current(), 0.1, set_ok, fut, NULL), 0);
    void *res;
    CHECK_EQ(cio_wait_for(fut, 0.2, &res), 0);
    CHECK(strcmp(res, "ok") == 0);
    cio_release(fut);
    return NULL;
}

static void *inner_returns_1(void *arg)
{
    (void)arg;
    CHECK_EQ(cio_sleep(1), -ECANCELED); /* assertRaises(CancelledError) */
    cio_task_catch_cancel();
    return (void *)1;
}

CONF_TASK(test_wait_for_cancellation_race_condition)
{
    cio_task *inner = lazy(inner_returns_1, NULL);
    void *result;
    CHECK_EQ(cio_wait_for(inner, .01, &result), 0);
    CHECK_EQ((intptr_t)result, 1);
    cio_release(inner);
    return NULL;
}

/* try: sleep(10) except CancelledError: sleep(EPSILON); raise
 * finally: task_done = True */
static void *inner_slow_cancel(void *arg)
{
    int rc = cio_sleep(10);
    if (rc == -ECANCELED)
        cio_sleep(EPSILON);
    *(bool *)arg = true;
    return rc ? cio_fail(rc, NULL) : NULL;
}

CONF_TASK(test_wait_for_waits_for_task_cancellation)
{
    bool task_done = false;
    cio_task *inner_task = cio_spawn(inner_slow_cancel, &task_done);
    CHECK_EQ(cio_wait_for(inner_task, EPSILON, NULL), -ETIMEDOUT);
    CHECK(task_done);
    CHECK(cio_cancelled(inner_task)); /* the __context__: its CancelledError */
    cio_release(inner_task);
    return NULL;
}

static void *foo_w_timeout_0(void *arg)
{
    cio_task *inner_task = cio_spawn(inner_slow_cancel, arg);
    int rc = cio_sleep(EPSILON);
    if (rc == 0)
        rc = cio_wait_for(inner_task, 0, NULL);
    CHECK(cio_cancelled(inner_task));
    cio_release(inner_task);
    return rc ? cio_fail(rc, NULL) : NULL;
}

CONF_TASK(test_wait_for_waits_for_task_cancellation_w_timeout_0)
{
    bool task_done = false;
    cio_task *t = cio_spawn(foo_w_timeout_0, &task_done);
    CHECK_EQ(cio_await(t, NULL), -ETIMEDOUT);
    CHECK(task_done);
    cio_release(t);
    return NULL;
}

#define FOO_EXCEPTION (-EBADE)

/* try: sleep(0.2) finally: raise FooException */
static void *inner_raises(void *arg)
{
    (void)arg;
    cio_sleep(0.2);
    return cio_fail(FOO_EXCEPTION, NULL);
}

CONF_TASK(test_wait_for_reraises_exception_during_cancellation)
{
    cio_task *inner_task = cio_spawn(inner_raises, NULL);
    CHECK_EQ(cio_wait_for(inner_task, EPSILON, NULL), FOO_EXCEPTION);
    cio_release(inner_task);
    return NULL;
}

static void *blocking_coroutine(void *arg)
{
    (void)arg;
    cio_future *fut = cio_future_new(NULL);
    int rc = cio_await(fut, NULL); /* never set */
    cio_release(fut);
    return rc ? cio_fail(rc, NULL) : NULL;
}

static void cancel_cb(void *arg) { cio_cancel(arg, NULL); }

static void cancel_wait_for(double timeout)
{
    cio_task *task = cio_spawn(blocking_coroutine, NULL);
    wfjob j = {.f = task, .timeout = timeout};
    cio_task *wait = cio_spawn(wait_for_task, &j);
    CHECK_EQ(cio_call_soon(cio_loop_current(), cancel_cb, wait, NULL), 0);
    CHECK_EQ(cio_await(wait, NULL), -ECANCELED);
    /* bpo-23219: cancelling the wait must also cancel the task */
    CHECK(cio_cancelled(task));
    cio_release(wait);
    cio_release(task);
}

CONF_TASK(test_cancel_blocking_wait_for)
{
    cancel_wait_for(CIO_NO_TIMEOUT);
    return NULL;
}

CONF_TASK(test_cancel_wait_for)
{
    cancel_wait_for(60.0);
    return NULL;
}

CONF_MAIN()
