/* SPDX-License-Identifier: MIT */
/* CPython Lib/test/test_asyncio/test_tasks.py, ported (see conformance.h).
 *
 * How the Python maps to C here:
 *   - a coroutine given to a task is a task function; `await inner()` of a
 *     plain coroutine is a C call;
 *   - an exception propagating out of a task is cio_fail(code, message)
 *     (reraise() passes on the error and message an await gave);
 *     RuntimeError is -EIO, ZeroDivisionError -EDOM, ValueError -EINVAL,
 *     TypeError -EPROTOTYPE;
 *   - `except CancelledError: carry on` is cio_task_uncancel() (cio.h, "How a
 *     task ends");
 *   - test_utils.run_briefly(loop) is run_briefly(); cases that drive a loop
 *     from outside, as the CPython test does, are CONF_PLAIN;
 *   - asyncio.gather() used as a future is a task running cio_gather
 *     (gather_task());
 *   - new_test_loop's virtual clock is replaced by short real sleeps, used
 *     only to order events; elapsed time is bounded from below only. */
#define CONF_FILE "test_tasks"
#include "conformance.h"

#include <pthread.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------ */

static bool streq(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

static cio_loop *loop_open(void)
{
    cio_loop *l = cio_loop_new();
    if (!l) {
        perror("cio_loop_new");
        abort();
    }
    cio_loop_set_current(l);
    return l;
}

/* test_utils.run_briefly: a couple of loop iterations. */
static void run_briefly(cio_loop *l)
{
    CHECK_EQ(check_run_briefly(l), 0);
}

/* GatherTestsBase._run_loop: run until nothing is ready. */
static void run_loop(cio_loop *l)
{
    run_briefly(l);
    for (int i = 0; i < 100 && l->nready; i++)
        run_briefly(l);
}

/* Ends a plain case: one more iteration, then the leak checks and close. */
static void loop_close(cio_loop *l)
{
    run_briefly(l);
    check_loop_clean(l);
    CHECK_EQ(cio_loop_close(l), 0);
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* `raise` of what an await gave: the task ends with that error and message. */
static void *reraise(int rc, const cio_future *f)
{
    const char *m = f ? cio_error_message(f) : NULL;
    return m ? cio_fail(rc, "%s", m) : cio_fail(rc, NULL);
}

static void *empty(void *arg)
{
    (void)arg;
    return NULL;
}

static void *ret_arg(void *arg) { return arg; }

/* asyncio.sleep(dt, result): a cancellation propagates (the task ends
 * cancelled, with the message given to cancel()). */
typedef struct nap {
    double dt;
    const char *result;
} nap;
static void *sleeper(void *arg)
{
    const nap *n = arg;
    if (cio_sleep(n->dt) < 0)
        return NULL;
    return (void *)n->result;
}

static nap nap10 = {10, NULL};

/* loop.run_until_complete(asyncio.sleep(dt)) */
static void run_for(cio_loop *l, double dt)
{
    nap n = {dt, NULL};
    cio_task *t = cio_spawn_ex(l, sleeper, &n, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), 0);
    cio_release(t);
}

/* `await fut` propagating its error. */
static void *await_fut(void *arg)
{
    void *v = NULL;
    int rc = cio_await(arg, &v);
    return rc < 0 ? reraise(rc, arg) : v;
}

typedef struct cancel_req {
    cio_future *f;
    const char *msg;
    bool ret;
} cancel_req;
static void cancel_cb(void *arg)
{
    cancel_req *c = arg;
    c->ret = cio_cancel(c->f, c->msg);
}

/* done / pending as sets */
static bool set_has(cio_future *const *s, size_t n, const cio_future *f)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == f)
            return true;
    return false;
}
static bool set_eq(cio_future *const *got, size_t n, cio_future *const *want, size_t m)
{
    for (size_t i = 0; i < n; i++)
        if (!set_has(want, m, got[i]))
            return false;
    for (size_t i = 0; i < m; i++)
        if (!set_has(got, n, want[i]))
            return false;
    return true;
}
#define SET(...) ((cio_future *[]){__VA_ARGS__}), (sizeof((cio_future *[]){__VA_ARGS__}) / sizeof(cio_future *))

/* asyncio.gather() as a future: a task running cio_gather over futs. */
enum { GMAX = 8 };
typedef struct gath {
    cio_future *futs[GMAX];
    size_t n;
    int flags;
    void *results[GMAX];
    int errors[GMAX];
} gath;
static void *gather_body(void *arg)
{
    gath *g = arg;
    int rc = cio_gather(g->futs, g->n, g->results, g->errors, g->flags);
    if (rc == -ECANCELED && cio_task_cancelling(cio_current_task()) > 0)
        return NULL; /* the gathering task itself was cancelled */
    if (rc < 0) {
        for (size_t i = 0; i < g->n; i++)
            if (g->errors[i] == rc)
                return reraise(rc, g->futs[i]);
        return cio_fail(rc, NULL);
    }
    return g;
}
static cio_task *gather_task(cio_loop *l, gath *g) { return cio_spawn_ex(l, gather_body, g, NULL); }

/* ---- BaseTaskTests ------------------------------------------------------ */

CONF_PLAIN(test_task_cancel_message_getter)
{
    cio_loop *l = loop_open();
    cio_task *t = cio_spawn_ex(l, empty, NULL, NULL);
    CHECK(cio_error_message(t) == NULL);
    CHECK(cio_cancel(t, "my message"));
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), -ECANCELED);
    CHECK(streq(cio_error_message(t), "my message"));
    cio_release(t);
    loop_close(l);
}

CONF_PLAIN(test_other_loop_future)
{
    cio_loop *other = cio_loop_new();
    cio_loop *l = loop_open();
    cio_future *fut = cio_future_new(other);
    cio_task *t = cio_spawn_ex(l, await_fut, fut, NULL);
    /* RuntimeError: Task got Future attached to a different loop */
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), -EXDEV);
    cio_release(t);
    cio_release(fut);
    loop_close(l);
    CHECK_EQ(cio_loop_close(other), 0);
}

static cio_task *self_task;
static void *await_self(void *arg)
{
    (void)arg;
    int rc = cio_await(self_task, NULL);
    return rc < 0 ? cio_fail(rc, "Task cannot await on itself") : NULL;
}

CONF_PLAIN(test_task_awaits_on_itself)
{
    cio_loop *l = loop_open();
    self_task = cio_spawn_ex(l, await_self, NULL, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, self_task, NULL), -EDEADLK);
    cio_release(self_task);
    loop_close(l);
}

CONF_PLAIN(test_task_class)
{
    cio_loop *l = loop_open();
    cio_task *t = cio_spawn_ex(l, ret_arg, "ok", NULL);
    void *v = NULL;
    CHECK_EQ(cio_loop_run_until_complete(l, t, &v), 0);
    CHECK(cio_done(t));
    CHECK(streq(v, "ok"));
    CHECK(cio_future_loop(t) == l);
    cio_release(t);

    cio_loop *l2 = loop_open();
    t = cio_spawn_ex(l2, ret_arg, "ok", NULL);
    CHECK(cio_future_loop(t) == l2);
    CHECK_EQ(cio_loop_run_until_complete(l2, t, NULL), 0);
    cio_release(t);
    loop_close(l2);
    loop_close(l);
}

static void *spawn_notmuch(void *arg)
{
    (void)arg;
    return cio_spawn(ret_arg, "ok");
}

CONF_PLAIN(test_ensure_future_coroutine)
{
    cio_loop *l = loop_open();
    cio_task *t = cio_spawn_ex(l, ret_arg, "ok", NULL);
    CHECK(cio_future_loop(t) == l);
    void *v = NULL;
    CHECK_EQ(cio_loop_run_until_complete(l, t, &v), 0);
    CHECK(cio_done(t));
    CHECK(streq(v, "ok"));
    cio_release(t);

    /* no current event loop */
    cio_loop_set_current(NULL);
    errno = 0;
    CHECK(cio_spawn(ret_arg, "ok") == NULL);
    CHECK_EQ(errno, -CIO_ENOLOOP);

    /* inside a task: the running loop */
    cio_task *outer = cio_spawn_ex(l, spawn_notmuch, NULL, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, outer, &v), 0);
    t = v;
    CHECK(t != NULL && cio_future_loop(t) == l);
    v = NULL;
    CHECK_EQ(cio_loop_run_until_complete(l, t, &v), 0);
    CHECK(cio_done(t));
    CHECK(streq(v, "ok"));
    cio_release(t);
    cio_release(outer);

    /* the loop set with set_event_loop */
    cio_loop_set_current(l);
    t = cio_spawn(ret_arg, "ok");
    CHECK(cio_future_loop(t) == l);
    CHECK_EQ(cio_loop_run_until_complete(l, t, &v), 0);
    CHECK(cio_done(t));
    CHECK(streq(v, "ok"));
    cio_release(t);
    loop_close(l);
}

CONF_PLAIN(test_task_repr_autogenerated)
{
    cio_loop *l = loop_open();
    cio_task *t1 = cio_spawn_ex(l, empty, NULL, NULL);
    cio_task *t2 = cio_spawn_ex(l, empty, NULL, NULL);
    CHECK(strcmp(cio_task_name(t1), cio_task_name(t2)) != 0);
    unsigned long long n1 = 0, n2 = 0;
    char tail;
    CHECK_EQ(sscanf(cio_task_name(t1), "Task-%llu%c", &n1, &tail), 1);
    CHECK_EQ(sscanf(cio_task_name(t2), "Task-%llu%c", &n2, &tail), 1);
    /* autogenerated task names have monotonically increasing numbers */
    CHECK(n1 < n2);
    CHECK_EQ(cio_loop_run_until_complete(l, t1, NULL), 0);
    CHECK_EQ(cio_loop_run_until_complete(l, t2, NULL), 0);
    cio_release(t1);
    cio_release(t2);
    loop_close(l);
}

static intptr_t inner1(void) { return 42; }
static intptr_t inner2(void) { return 1000; }
static void *basics_outer(void *arg)
{
    (void)arg;
    intptr_t a = inner1();
    intptr_t b = inner2();
    return (void *)(a + b);
}

CONF_PLAIN(test_task_basics)
{
    cio_loop *l = loop_open();
    cio_task *t = cio_spawn_ex(l, basics_outer, NULL, NULL);
    void *v = NULL;
    CHECK_EQ(cio_loop_run_until_complete(l, t, &v), 0);
    CHECK_EQ((intptr_t)v, 1042);
    cio_release(t);
    loop_close(l);
}

CONF_PLAIN(test_cancelling)
{
    cio_loop *l = loop_open();
    cio_task *t = cio_spawn_ex(l, sleeper, &nap10, NULL);
    CHECK(!cio_task_cancelling(t));
    CHECK(cio_cancel(t, NULL));
    CHECK(cio_task_cancelling(t));
    CHECK(cio_cancel(t, NULL));
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), -ECANCELED);
    cio_release(t);
    loop_close(l);
}

static void *uncancel_sleeps(void *arg)
{
    (void)arg;
    if (cio_sleep(10) == -ECANCELED) {
        cio_task_uncancel(cio_current_task());
        cio_sleep(10);
    }
    return NULL;
}

CONF_PLAIN(test_uncancel_basic)
{
    cio_loop *l = loop_open();
    cio_task *t = cio_spawn_ex(l, uncancel_sleeps, NULL, NULL);
    run_for(l, 0.01);

    /* cancel the first sleep */
    CHECK(cio_cancel(t, NULL));
    CHECK_EQ(cio_task_cancelling(t), 1);
    CHECK(!cio_cancelled(t));
    run_for(l, 0.01);

    /* after uncancel() */
    CHECK_EQ(cio_task_cancelling(t), 0);
    CHECK(!cio_cancelled(t));

    /* cancel the second sleep */
    CHECK(cio_cancel(t, NULL));
    CHECK_EQ(cio_task_cancelling(t), 1);
    CHECK(!cio_cancelled(t));
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), -ECANCELED);
    CHECK(cio_cancelled(t));
    CHECK(cio_done(t));

    /* uncancel is no longer effective after the task is complete */
    cio_task_uncancel(t);
    CHECK(cio_cancelled(t));
    CHECK(cio_done(t));
    cio_release(t);
    loop_close(l);
}

typedef struct req {
    double sleep, timeout;
    cio_task *task;
    bool timed_out, block_finished, outer_reached;
} req;
static void req_on_timeout(void *arg)
{
    req *r = arg;
    r->timed_out = true;
    cio_cancel(r->task, NULL);
}
static void *make_request_with_timeout(void *arg)
{
    req *r = arg;
    r->task = cio_current_task();
    cio_handle *h = NULL;
    CHECK_EQ(cio_call_later(cio_future_loop(r->task), r->timeout, req_on_timeout, r, &h), 0);
    /* the structured block affected by the timeout */
    int rc = cio_sleep(r->sleep);
    if (rc == 0)
        r->block_finished = true;
    /* finally: */
    cio_handle_cancel(h);
    if (r->timed_out && cio_task_uncancel(r->task) == 0 && rc == -ECANCELED)
        CHECK(r->timed_out); /* raise TimeoutError ... except TimeoutError */
    else if (rc < 0)
        return NULL; /* the CancelledError propagates */
    /* outer code not affected by the timeout */
    r->outer_reached = true;
    if (cio_sleep(0) < 0)
        return NULL;
    return r;
}

CONF_PLAIN(test_uncancel_structured_blocks)
{
    cio_loop *l = loop_open();
    /* timed out */
    req r1 = {.sleep = 10.0, .timeout = 0.05};
    cio_task *t1 = cio_spawn_ex(l, make_request_with_timeout, &r1, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, t1, NULL), 0);
    CHECK(r1.timed_out);
    CHECK(!r1.block_finished);
    CHECK(r1.outer_reached);
    CHECK_EQ(cio_task_cancelling(t1), 0);
    /* did not time out */
    req r2 = {.sleep = 0, .timeout = 10.0};
    cio_task *t2 = cio_spawn_ex(l, make_request_with_timeout, &r2, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, t2, NULL), 0);
    CHECK(!r2.timed_out);
    CHECK(r2.block_finished);
    CHECK(r2.outer_reached);
    CHECK_EQ(cio_task_cancelling(t2), 0);
    cio_release(t1);
    cio_release(t2);
    loop_close(l);
}

static void *sleep10_ret12(void *arg)
{
    (void)arg;
    if (cio_sleep(10.0) < 0)
        return NULL;
    return (void *)12;
}

CONF_PLAIN(test_cancel)
{
    cio_loop *l = loop_open();
    cio_task *t = cio_spawn_ex(l, sleep10_ret12, NULL, NULL);
    cancel_req c = {t, NULL, false};
    cio_call_soon(l, cancel_cb, &c, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), -ECANCELED);
    CHECK(c.ret);
    CHECK(cio_done(t));
    CHECK(cio_cancelled(t));
    CHECK(!cio_cancel(t, NULL));
    cio_release(t);
    loop_close(l);
}

/* coro(): task = sleep(10); [sleep(0)]; task.cancel(msg); wait([task]);
 * task.result() or task.exception() (both raise the CancelledError). */
typedef struct cmsg {
    const char *msg;
    bool use_exception, skip_sleep;
} cmsg;
static void *cancel_then_outcome(void *arg)
{
    const cmsg *c = arg;
    cio_task *task = cio_spawn(sleeper, &nap10);
    if (!c->skip_sleep)
        cio_sleep(0);
    cio_cancel(task, c->msg);
    CHECK_EQ(cio_wait(&task, 1, CIO_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL), 0);
    int rc = c->use_exception ? cio_exception(task) : cio_result(task, NULL);
    void *r = rc < 0 ? reraise(rc, task) : NULL;
    cio_release(task);
    return r;
}

static void check_cancel_message(cmsg c)
{
    cio_loop *l = loop_open();
    cio_task *t = cio_spawn_ex(l, cancel_then_outcome, &c, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), -ECANCELED);
    /* exc.args == expected_args; no chained context */
    CHECK(streq(cio_error_message(t), c.msg));
    cio_release(t);
    loop_close(l);
}

CONF_PLAIN(test_cancel_with_message_then_future_result)
{
    /* cancel() and cancel(None) are both a NULL message in C */
    check_cancel_message((cmsg){NULL, false, false});
    check_cancel_message((cmsg){"my message", false, false});
}

CONF_PLAIN(test_cancel_with_message_then_future_exception)
{
    check_cancel_message((cmsg){NULL, true, false});
    check_cancel_message((cmsg){"my message", true, false});
}

CONF_PLAIN(test_cancel_with_message_before_starting_task)
{
    check_cancel_message((cmsg){"my message", true, true});
}

typedef struct ctxcase {
    cio_future *fut;
    cio_task *inner;
    char inner_msg[32];
} ctxcase;
static void *ctx_sleep(void *arg)
{
    ctxcase *c = arg;
    cio_future_set_result(c->fut, NULL);
    cio_sleep(10);
    return NULL;
}
static void *ctx_coro(void *arg)
{
    ctxcase *c = arg;
    c->inner = cio_spawn(ctx_sleep, c);
    int rc = cio_await(c->fut, NULL);
    if (rc < 0)
        return reraise(rc, c->fut);
    cancel_req cr = {c->inner, "msg", false};
    cio_call_soon(cio_loop_current(), cancel_cb, &cr, NULL);
    rc = cio_await(c->inner, NULL);
    if (rc == -ECANCELED) {
        /* except CancelledError as ex: raise ValueError("cancelled") from ex */
        snprintf(c->inner_msg, sizeof c->inner_msg, "%s", cio_error_message(c->inner));
        return cio_fail(-EINVAL, "cancelled");
    }
    return NULL;
}

CONF_PLAIN(test_cancellation_exception_context)
{
    cio_loop *l = loop_open();
    ctxcase c = {cio_future_new(l), NULL, ""};
    cio_task *t = cio_spawn_ex(l, ctx_coro, &c, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), -EINVAL);
    CHECK(streq(cio_error_message(t), "cancelled"));
    /* the innermost context: CancelledError('msg') */
    CHECK(streq(c.inner_msg, "msg"));
    CHECK(cio_cancelled(c.inner));
    cio_release(c.inner);
    cio_release(c.fut);
    cio_release(t);
    loop_close(l);
}

static void *two_sleeps_ret12(void *arg)
{
    (void)arg;
    if (cio_sleep(0) < 0 || cio_sleep(0) < 0)
        return NULL;
    return (void *)12;
}

CONF_PLAIN(test_cancel_yield)
{
    cio_loop *l = loop_open();
    cio_task *t = cio_spawn_ex(l, two_sleeps_ret12, NULL, NULL);
    run_briefly(l); /* start coro */
    cio_cancel(t, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), -ECANCELED);
    CHECK(cio_done(t));
    CHECK(cio_cancelled(t));
    CHECK(!cio_cancel(t, NULL));
    cio_release(t);
    loop_close(l);
}

static void *await_ret12(void *arg)
{
    int rc = cio_await(arg, NULL);
    if (rc < 0)
        return reraise(rc, arg);
    return (void *)12;
}

/* the future a task awaits is cancelled (and the task too, if also_task):
 * the task ends cancelled */
static void check_cancel_inner(bool also_task)
{
    cio_loop *l = loop_open();
    cio_future *f = cio_future_new(l);
    cio_task *t = cio_spawn_ex(l, await_ret12, f, NULL);
    run_briefly(l); /* start task */
    cio_cancel(f, NULL);
    if (also_task)
        cio_cancel(t, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), -ECANCELED);
    CHECK(cio_done(t));
    CHECK(cio_cancelled(f));
    CHECK(cio_cancelled(t));
    cio_release(t);
    cio_release(f);
    loop_close(l);
}

CONF_PLAIN(test_cancel_inner_future) { check_cancel_inner(false); }

CONF_PLAIN(test_cancel_both_task_and_inner_future) { check_cancel_inner(true); }

typedef struct futs3 {
    cio_future *f1, *f2, *f3;
} futs3;
static void *catching(void *arg)
{
    futs3 *x = arg;
    int rc = cio_await(x->f1, NULL);
    if (rc < 0)
        return reraise(rc, x->f1);
    rc = cio_await(x->f2, NULL);
    if (rc == -ECANCELED) {
        cio_task_uncancel(cio_current_task());
        return (void *)42;
    }
    return NULL;
}

CONF_PLAIN(test_cancel_task_catching)
{
    cio_loop *l = loop_open();
    futs3 x = {cio_future_new(l), cio_future_new(l), NULL};
    cio_task *t = cio_spawn_ex(l, catching, &x, NULL);
    run_briefly(l);
    CHECK_EQ(cio_task_state(t), CIO_TASK_SUSPENDED); /* waiting on fut1 */
    cio_future_set_result(x.f1, NULL);
    run_briefly(l);
    CHECK_EQ(cio_task_state(t), CIO_TASK_SUSPENDED); /* waiting on fut2 */
    cio_cancel(t, NULL);
    CHECK(cio_cancelled(x.f2));
    void *v = NULL;
    CHECK_EQ(cio_loop_run_until_complete(l, t, &v), 0);
    CHECK_EQ((intptr_t)v, 42);
    CHECK(!cio_cancelled(t));
    cio_release(t);
    cio_release(x.f1);
    cio_release(x.f2);
    loop_close(l);
}

static void *ignoring(void *arg)
{
    futs3 *x = arg;
    int rc = cio_await(x->f1, NULL);
    if (rc < 0)
        return reraise(rc, x->f1);
    if (cio_await(x->f2, NULL) == -ECANCELED)
        cio_task_uncancel(cio_current_task()); /* except CancelledError: pass */
    void *res = NULL;
    rc = cio_await(x->f3, &res);
    return rc < 0 ? reraise(rc, x->f3) : res;
}

CONF_PLAIN(test_cancel_task_ignoring)
{
    cio_loop *l = loop_open();
    futs3 x = {cio_future_new(l), cio_future_new(l), cio_future_new(l)};
    cio_task *t = cio_spawn_ex(l, ignoring, &x, NULL);
    run_briefly(l);
    CHECK_EQ(cio_task_state(t), CIO_TASK_SUSPENDED);
    cio_future_set_result(x.f1, NULL);
    run_briefly(l);
    CHECK_EQ(cio_task_state(t), CIO_TASK_SUSPENDED);
    cio_cancel(t, NULL);
    CHECK(cio_cancelled(x.f2));
    run_briefly(l);
    CHECK_EQ(cio_task_state(t), CIO_TASK_SUSPENDED); /* waiting on fut3 */
    cio_future_set_result(x.f3, (void *)42);
    void *v = NULL;
    CHECK_EQ(cio_loop_run_until_complete(l, t, &v), 0);
    CHECK_EQ((intptr_t)v, 42);
    CHECK(!cio_cancelled(x.f3));
    CHECK(!cio_cancelled(t));
    cio_release(t);
    cio_release(x.f1);
    cio_release(x.f2);
    cio_release(x.f3);
    loop_close(l);
}

static cio_task *cur_t;
static void *cancel_self_then_sleep(void *arg)
{
    (void)arg;
    cio_cancel(cur_t, NULL);
    CHECK_EQ(cio_task_cancelling(cur_t), 1); /* _must_cancel */
    /* the sleep is cancelled at once */
    if (cio_sleep(100) < 0)
        return NULL;
    return (void *)12;
}

/* a task that cancels itself ends cancelled */
static void check_self_cancel(cio_task_fn body)
{
    cio_loop *l = loop_open();
    cur_t = cio_spawn_ex(l, body, NULL, NULL);
    CHECK(!cio_cancelled(cur_t));
    double t0 = mono();
    CHECK_EQ(cio_loop_run_until_complete(l, cur_t, NULL), -ECANCELED);
    CHECK(mono() - t0 < 50); /* not the 100 s sleep */
    CHECK(cio_done(cur_t));
    CHECK(cio_cancelled(cur_t));
    CHECK(!cio_cancel(cur_t, NULL));
    cio_release(cur_t);
    loop_close(l);
}

CONF_PLAIN(test_cancel_current_task) { check_self_cancel(cancel_self_then_sleep); }

static void *cancel_self_then_return(void *arg)
{
    (void)arg;
    cio_cancel(cur_t, NULL);
    CHECK_EQ(cio_task_cancelling(cur_t), 1);
    return (void *)12;
}

CONF_PLAIN(test_cancel_at_end) { check_self_cancel(cancel_self_then_return); }

static int stop_x;
static void *stop_at_two(void *arg)
{
    (void)arg;
    while (stop_x < 10) {
        if (cio_sleep(0.01) < 0)
            return NULL;
        stop_x++;
        if (stop_x == 2)
            cio_loop_stop(cio_loop_current());
    }
    return NULL;
}

CONF_PLAIN(test_stop_while_run_in_complete)
{
    cio_loop *l = loop_open();
    stop_x = 0;
    cio_task *t = cio_spawn_ex(l, stop_at_two, NULL, NULL);
    double t0 = cio_loop_time(l);
    /* RuntimeError: Event loop stopped before Future completed. */
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), CIO_EINVALSTATE);
    CHECK(!cio_done(t));
    CHECK_EQ(stop_x, 2);
    CHECK(cio_loop_time(l) - t0 >= 0.02);
    cio_cancel(t, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), -ECANCELED);
    cio_release(t);
    loop_close(l);
}

/* a task that awaits f and is cancelled while a cancel of its own is pending */
typedef struct awaited {
    cio_future *fut;
    cio_task *task, *nested;
} awaited;
static void *awaited_coro(void *arg)
{
    awaited *a = arg;
    a->nested = cio_spawn(await_fut, a->fut);
    cio_sleep(0);
    cio_cancel(a->task, NULL); /* request the current task to be cancelled */
    int rc = cio_await(a->nested, NULL); /* which cancels nested at once */
    return rc < 0 ? reraise(rc, a->nested) : NULL;
}

/* ---- wait ---------------------------------------------------------------- */

static nap nap_a = {0.01, "a"}, nap_b = {0.02, "b"};

typedef struct waitctx {
    cio_future *futs[4];
    size_t n;
    int mode;
    double timeout;
    cio_future *done[4], *pending[4];
    size_t ndone, npending;
    int rc;
} waitctx;
/* asyncio.wait(...) run as a task of its own (run_until_complete(wait())) */
static void *wait_body(void *arg)
{
    waitctx *w = arg;
    w->ndone = w->npending = 0;
    w->rc = cio_wait(w->futs, w->n, w->mode, w->timeout, w->done, &w->ndone, w->pending, &w->npending);
    return (void *)42;
}
static int run_wait(waitctx *w)
{
    cio_task *t = cio_spawn(wait_body, w);
    void *v = NULL;
    int rc = cio_await(t, &v);
    CHECK_EQ((intptr_t)v, 42);
    cio_release(t);
    return rc < 0 ? rc : w->rc;
}

/* "move forward to close generator": wait([a, b]) (a cancelled first, if
 * it sleeps for long), then release both */
static void finish_both(cio_task *a, cio_task *b, bool cancel_a)
{
    if (cancel_a)
        cio_cancel(a, NULL);
    waitctx w = {.futs = {a, b}, .n = 2, .mode = CIO_ALL_COMPLETED, .timeout = CIO_NO_TIMEOUT};
    CHECK_EQ(run_wait(&w), 0);
    cio_release(a);
    cio_release(b);
}

CONF_TASK(test_wait)
{
    double t0 = cio_time();
    cio_task *a = cio_spawn(sleeper, &nap_a);
    cio_task *b = cio_spawn(sleeper, &nap_b);
    for (int i = 0; i < 2; i++) { /* again: no time, a different path */
        waitctx w = {.futs = {b, a}, .n = 2, .mode = CIO_ALL_COMPLETED, .timeout = CIO_NO_TIMEOUT};
        CHECK_EQ(run_wait(&w), 0);
        CHECK(set_eq(w.done, w.ndone, SET(a, b)));
        CHECK_EQ(w.npending, 0);
        CHECK(cio_time() - t0 >= 0.02);
    }
    cio_release(a);
    cio_release(b);
    return NULL;
}

CONF_TASK(test_wait_duplicate_coroutines)
{
    cio_task *c = cio_spawn(ret_arg, "test");
    cio_task *s = cio_spawn(ret_arg, "spam");
    waitctx w = {.futs = {c, c, s}, .n = 3, .mode = CIO_ALL_COMPLETED, .timeout = CIO_NO_TIMEOUT};
    CHECK_EQ(run_wait(&w), 0);
    CHECK_EQ(w.npending, 0);
    CHECK(set_eq(w.done, w.ndone, SET(c, s)));
    void *v1 = NULL, *v2 = NULL;
    CHECK_EQ(cio_result(c, &v1), 0);
    CHECK_EQ(cio_result(s, &v2), 0);
    CHECK(streq(v1, "test") && streq(v2, "spam"));
    cio_release(c);
    cio_release(s);
    return NULL;
}

CONF_TASK(test_wait_errors)
{
    /* ValueError: an empty set */
    CHECK_EQ(cio_wait(NULL, 0, CIO_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL), -EINVAL);
    /* ValueError: -1 is an invalid return_when value */
    cio_task *s = cio_spawn(sleeper, &nap10);
    CHECK_EQ(cio_wait(&s, 1, -1, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL), -EINVAL);
    cio_cancel(s, NULL);
    CHECK_EQ(cio_await(s, NULL), -ECANCELED);
    cio_release(s);
    return NULL;
}

CONF_TASK(test_wait_first_completed)
{
    cio_task *a = cio_spawn(sleeper, &nap10);
    cio_task *b = cio_spawn(sleeper, &nap_a);
    waitctx w = {.futs = {b, a}, .n = 2, .mode = CIO_FIRST_COMPLETED, .timeout = CIO_NO_TIMEOUT};
    CHECK_EQ(run_wait(&w), 0);
    CHECK(set_eq(w.done, w.ndone, SET(b)));
    CHECK(set_eq(w.pending, w.npending, SET(a)));
    CHECK(!cio_done(a));
    CHECK(cio_done(b));
    void *v = (void *)1;
    CHECK_EQ(cio_result(b, &v), 0);
    CHECK(streq(v, "a"));
    /* move forward: end a */
    finish_both(a, b, true);
    return NULL;
}

static void *yield_once(void *arg)
{
    (void)arg;
    cio_sleep(0);
    return NULL;
}
static void *yield_twice(void *arg)
{
    (void)arg;
    cio_sleep(0);
    cio_sleep(0);
    return NULL;
}

static void *raise_zde(void *arg)
{
    (void)arg;
    return cio_fail(-EDOM, "err");
}
static void *sleep_raise_zde(void *arg)
{
    const nap *n = arg;
    if (cio_sleep(n->dt) < 0)
        return NULL;
    return cio_fail(-EDOM, "really");
}

CONF_TASK(test_wait_first_exception)
{
    /* first_exception, task already has exception */
    cio_task *a = cio_spawn(sleeper, &nap10);
    cio_task *b = cio_spawn(raise_zde, NULL);
    waitctx w = {.futs = {b, a}, .n = 2, .mode = CIO_FIRST_EXCEPTION, .timeout = CIO_NO_TIMEOUT};
    CHECK_EQ(run_wait(&w), 0);
    CHECK(set_eq(w.done, w.ndone, SET(b)));
    CHECK(set_eq(w.pending, w.npending, SET(a)));
    CHECK_EQ(cio_exception(b), -EDOM);
    finish_both(a, b, true);
    return NULL;
}

CONF_TASK(test_wait_first_exception_in_wait)
{
    /* first_exception, exception during waiting */
    double t0 = cio_time();
    cio_task *a = cio_spawn(sleeper, &nap10);
    cio_task *b = cio_spawn(sleep_raise_zde, &nap_a);
    waitctx w = {.futs = {b, a}, .n = 2, .mode = CIO_FIRST_EXCEPTION, .timeout = CIO_NO_TIMEOUT};
    CHECK_EQ(run_wait(&w), 0);
    CHECK(set_eq(w.done, w.ndone, SET(b)));
    CHECK(set_eq(w.pending, w.npending, SET(a)));
    CHECK(cio_time() - t0 >= 0.01);
    CHECK_EQ(cio_exception(b), -EDOM);
    finish_both(a, b, true);
    return NULL;
}

CONF_TASK(test_wait_with_exception)
{
    double t0 = cio_time();
    cio_task *a = cio_spawn(sleeper, &nap_a);
    cio_task *b = cio_spawn(sleep_raise_zde, &nap_b);
    for (int i = 0; i < 2; i++) {
        waitctx w = {.futs = {b, a}, .n = 2, .mode = CIO_ALL_COMPLETED, .timeout = CIO_NO_TIMEOUT};
        CHECK_EQ(run_wait(&w), 0);
        CHECK_EQ(w.ndone, 2);
        CHECK_EQ(w.npending, 0);
        int errors = 0;
        for (size_t j = 0; j < w.ndone; j++)
            errors += cio_exception(w.done[j]) != 0;
        CHECK_EQ(errors, 1);
        CHECK(cio_time() - t0 >= 0.02);
    }
    cio_release(a);
    cio_release(b);
    return NULL;
}

CONF_TASK(test_wait_with_timeout)
{
    static nap slow = {0.2, "b"};
    double t0 = cio_time();
    cio_task *a = cio_spawn(sleeper, &nap_a);
    cio_task *b = cio_spawn(sleeper, &slow);
    waitctx w = {.futs = {b, a}, .n = 2, .mode = CIO_ALL_COMPLETED, .timeout = 0.1};
    CHECK_EQ(run_wait(&w), 0);
    CHECK(set_eq(w.done, w.ndone, SET(a)));
    CHECK(set_eq(w.pending, w.npending, SET(b)));
    CHECK(cio_time() - t0 >= 0.1);
    finish_both(a, b, false);
    return NULL;
}

CONF_TASK(test_wait_concurrent_complete)
{
    static nap a01 = {0.1, "a"}, b015 = {0.15, "b"};
    double t0 = cio_time();
    cio_task *a = cio_spawn(sleeper, &a01);
    cio_task *b = cio_spawn(sleeper, &b015);
    /* a finishes when the timeout expires */
    waitctx w = {.futs = {b, a}, .n = 2, .mode = CIO_ALL_COMPLETED, .timeout = 0.1};
    CHECK_EQ(run_wait(&w), 0);
    CHECK(set_eq(w.done, w.ndone, SET(a)));
    CHECK(set_eq(w.pending, w.npending, SET(b)));
    CHECK(cio_time() - t0 >= 0.1);
    finish_both(a, b, false);
    return NULL;
}

/* ---- as_completed --------------------------------------------------------- */

/* collects the values in completion order; returns the number of values, or
 * -(error) on the first error (timeout) after storing it in *err */
static size_t collect(cio_as_completed *it, const char **values, size_t cap, int *err)
{
    size_t n = 0;
    *err = 0;
    for (;;) {
        cio_future *f = NULL;
        int rc = cio_as_completed_next(it, &f);
        if (rc == CIO_EDONE)
            break;
        if (rc < 0) {
            *err = rc;
            break;
        }
        void *v = NULL;
        CHECK_EQ(cio_result(f, &v), 0);
        if (n < cap)
            values[n] = v;
        n++;
    }
    return n;
}

CONF_TASK(test_as_completed)
{
    static nap c015 = {0.05, "c"};
    cio_task *a = cio_spawn(sleeper, &nap_a);
    static nap b001 = {0.01, "b"};
    cio_task *b = cio_spawn(sleeper, &b001);
    cio_task *c = cio_spawn(sleeper, &c015);
    cio_as_completed *it = cio_as_completed_new((cio_future *[]){b, c, a}, 3, CIO_NO_TIMEOUT);
    CHECK(it != NULL);
    const char *res[4] = {0};
    int err;
    CHECK_EQ(collect(it, res, 4, &err), 3);
    CHECK_EQ(err, 0);
    CHECK(streq(res[0], "a") || streq(res[1], "a"));
    CHECK(streq(res[0], "b") || streq(res[1], "b"));
    CHECK(streq(res[2], "c"));
    cio_as_completed_free(it);
    cio_release(a);
    cio_release(b);
    cio_release(c);
    return NULL;
}

CONF_TASK(test_as_completed_with_timeout)
{
    static nap slow = {0.2, "b"};
    double t0 = cio_time();
    cio_task *a = cio_spawn(sleeper, &nap_a);
    cio_task *b = cio_spawn(sleeper, &slow);
    cio_as_completed *it = cio_as_completed_new((cio_future *[]){a, b}, 2, 0.1);
    cio_future *f = NULL;
    CHECK_EQ(cio_as_completed_next(it, &f), 0);
    void *v = NULL;
    CHECK(f == a);
    CHECK_EQ(cio_result(f, &v), 0);
    CHECK(streq(v, "a"));
    /* the second await raises TimeoutError */
    CHECK_EQ(cio_as_completed_next(it, &f), -ETIMEDOUT);
    CHECK(cio_time() - t0 >= 0.1);
    cio_as_completed_free(it);
    finish_both(a, b, false);
    return NULL;
}

CONF_TASK(test_as_completed_with_unused_timeout)
{
    cio_task *a = cio_spawn(sleeper, &nap_a);
    cio_as_completed *it = cio_as_completed_new(&a, 1, 1);
    const char *res[2] = {0};
    int err;
    CHECK_EQ(collect(it, res, 2, &err), 1);
    CHECK_EQ(err, 0);
    CHECK(streq(res[0], "a"));
    cio_as_completed_free(it);
    cio_release(a);
    return NULL;
}

/* ---- sleep ---------------------------------------------------------------- */

static void *half_sleeps(void *arg)
{
    const nap *n = arg;
    if (cio_sleep(n->dt / 2) < 0 || cio_sleep(n->dt / 2) < 0)
        return NULL;
    return (void *)n->result;
}

CONF_PLAIN(test_sleep)
{
    cio_loop *l = loop_open();
    nap n = {0.02, "yeah"};
    double t0 = cio_loop_time(l);
    cio_task *t = cio_spawn_ex(l, half_sleeps, &n, NULL);
    void *v = NULL;
    CHECK_EQ(cio_loop_run_until_complete(l, t, &v), 0);
    CHECK(cio_done(t));
    CHECK(streq(v, "yeah"));
    CHECK(cio_loop_time(l) - t0 >= 0.02);
    cio_release(t);
    loop_close(l);
}

CONF_PLAIN(test_sleep_cancel)
{
    cio_loop *l = loop_open();
    nap n = {10.0, "yeah"};
    cio_task *t = cio_spawn_ex(l, sleeper, &n, NULL);
    run_briefly(l);
    /* the sleep's timer handle is armed ... */
    CHECK_EQ(cio__wheel_count(&l->wheel), 1);
    cio_cancel(t, NULL);
    run_briefly(l);
    /* ... and cancelled with the task */
    CHECK_EQ(cio__wheel_count(&l->wheel), 0);
    CHECK(cio_cancelled(t));
    cio_release(t);
    loop_close(l);
}

static void *doit_cancel_sleeper(void *arg)
{
    (void)arg;
    static nap long_nap = {5000, NULL};
    cio_task *s = cio_spawn(sleeper, &long_nap);
    cancel_req c = {s, NULL, false};
    cio_call_later(cio_loop_current(), 0.01, cancel_cb, &c, NULL);
    int rc = cio_await(s, NULL);
    cio_release(s);
    return rc == -ECANCELED ? "cancelled" : "slept in";
}

CONF_PLAIN(test_task_cancel_sleeping_task)
{
    cio_loop *l = loop_open();
    double t0 = cio_loop_time(l);
    cio_task *t = cio_spawn_ex(l, doit_cancel_sleeper, NULL, NULL);
    void *v = NULL;
    CHECK_EQ(cio_loop_run_until_complete(l, t, &v), 0);
    CHECK(streq(v, "cancelled"));
    CHECK(cio_loop_time(l) - t0 >= 0.01);
    cio_release(t);
    loop_close(l);
}

CONF_PLAIN(test_task_cancel_waiter_future)
{
    cio_loop *l = loop_open();
    cio_future *fut = cio_future_new(l);
    cio_task *t = cio_spawn_ex(l, await_fut, fut, NULL);
    run_briefly(l);
    CHECK_EQ(cio_task_state(t), CIO_TASK_SUSPENDED); /* _fut_waiter is fut */
    cio_cancel(t, NULL);
    run_briefly(l);
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), -ECANCELED);
    CHECK(cio_cancelled(fut));
    cio_release(t);
    cio_release(fut);
    loop_close(l);
}

CONF_PLAIN(test_task_set_methods)
{
    cio_loop *l = loop_open();
    cio_task *t = cio_spawn_ex(l, ret_arg, "ko", NULL);
    /* RuntimeError: Task does not support set_result / set_exception */
    CHECK_EQ(cio_future_set_result(t, "ok"), CIO_EINVALSTATE);
    CHECK_EQ(cio_future_set_error(t, -EINVAL, NULL), CIO_EINVALSTATE);
    void *v = NULL;
    CHECK_EQ(cio_loop_run_until_complete(l, t, &v), 0);
    CHECK(streq(v, "ko"));
    cio_release(t);
    loop_close(l);
}

typedef struct stepres {
    cio_future *fut;
    void *result;
} stepres;
static void *wait_for_future(void *arg)
{
    stepres *s = arg;
    int rc = cio_await(s->fut, &s->result);
    return rc < 0 ? reraise(rc, s->fut) : NULL;
}

CONF_PLAIN(test_step_result_future)
{
    cio_loop *l = loop_open();
    stepres s = {cio_future_new(l), NULL};
    cio_task *t = cio_spawn_ex(l, wait_for_future, &s, NULL);
    run_briefly(l);
    CHECK_EQ(cio_task_state(t), CIO_TASK_SUSPENDED); /* the task waits on fut */
    static int res;
    cio_future_set_result(s.fut, &res);
    run_briefly(l);
    CHECK(s.result == &res);
    CHECK(cio_done(t));
    void *v = (void *)1;
    CHECK_EQ(cio_result(t, &v), 0);
    CHECK(v == NULL);
    cio_release(t);
    cio_release(s.fut);
    loop_close(l);
}

static void *ret_fut(void *arg) { return arg; }
static void *set_test(void *arg)
{
    cio_future_set_result(arg, "test");
    return NULL;
}

CONF_PLAIN(test_coroutine_non_gen_function_return_future)
{
    cio_loop *l = loop_open();
    cio_future *fut = cio_future_new(l);
    cio_task *t1 = cio_spawn_ex(l, ret_fut, fut, NULL);
    cio_task *t2 = cio_spawn_ex(l, set_test, fut, NULL);
    void *v = NULL;
    CHECK_EQ(cio_loop_run_until_complete(l, t1, &v), 0);
    CHECK(v == fut);
    v = (void *)1;
    CHECK_EQ(cio_result(t2, &v), 0);
    CHECK(v == NULL);
    cio_release(t1);
    cio_release(t2);
    cio_release(fut);
    loop_close(l);
}

static void *check_current_is_arg(void *arg)
{
    cio_task **t = arg;
    CHECK(cio_current_task() == *t);
    CHECK(cio_current_task() == *t);
    return NULL;
}

CONF_PLAIN(test_current_task)
{
    cio_loop *l = loop_open();
    CHECK(cio_current_task() == NULL);
    cio_task *t = NULL;
    t = cio_spawn_ex(l, check_current_is_arg, &t, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), 0);
    CHECK(cio_current_task() == NULL);
    cio_release(t);
    loop_close(l);
}

typedef struct interleave {
    cio_future *fut1, *fut2;
    cio_task *task1, *task2;
} interleave;
static void *il_coro1(void *arg)
{
    interleave *x = arg;
    CHECK(cio_current_task() == x->task1);
    cio_await(x->fut1, NULL);
    CHECK(cio_current_task() == x->task1);
    cio_future_set_result(x->fut2, (void *)1);
    return NULL;
}
static void *il_coro2(void *arg)
{
    interleave *x = arg;
    CHECK(cio_current_task() == x->task2);
    cio_future_set_result(x->fut1, (void *)1);
    cio_await(x->fut2, NULL);
    CHECK(cio_current_task() == x->task2);
    return NULL;
}
static void *il_wait(void *arg)
{
    interleave *x = arg;
    CHECK_EQ(cio_wait((cio_future *[]){x->task1, x->task2}, 2, CIO_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL), 0);
    return NULL;
}

CONF_PLAIN(test_current_task_with_interleaving_tasks)
{
    cio_loop *l = loop_open();
    CHECK(cio_current_task() == NULL);
    interleave x = {cio_future_new(l), cio_future_new(l), NULL, NULL};
    x.task1 = cio_spawn_ex(l, il_coro1, &x, NULL);
    x.task2 = cio_spawn_ex(l, il_coro2, &x, NULL);
    cio_task *w = cio_spawn_ex(l, il_wait, &x, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, w, NULL), 0);
    CHECK(cio_current_task() == NULL);
    CHECK(cio_done(x.task1) && cio_done(x.task2));
    cio_release(w);
    cio_release(x.task1);
    cio_release(x.task2);
    cio_release(x.fut1);
    cio_release(x.fut2);
    loop_close(l);
}

/* ---- cancellation propagation through coroutines, tasks and wait() ---- */

static int proof;
static cio_future *waiter;

static int passes_inner(void)
{
    int rc = cio_await(waiter, NULL);
    if (rc == -ECANCELED) {
        proof += 1;
        return rc; /* raise */
    }
    CHECK(!"got past sleep() in inner()");
    return 0;
}
static void *passes_outer(void *arg)
{
    (void)arg;
    if (passes_inner() == -ECANCELED) {
        cio_task_uncancel(cio_current_task());
        proof += 100; /* expect this path */
    } else {
        proof += 10;
    }
    return NULL;
}

CONF_PLAIN(test_yield_future_passes_cancel)
{
    cio_loop *l = loop_open();
    proof = 0;
    waiter = cio_future_new(l);
    cio_task *f = cio_spawn_ex(l, passes_outer, NULL, NULL);
    run_briefly(l);
    cio_cancel(f, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, f, NULL), 0);
    CHECK_EQ(proof, 101);
    CHECK(cio_cancelled(waiter));
    cio_release(f);
    cio_release(waiter);
    loop_close(l);
}

static void *proof_inner(void *arg)
{
    (void)arg;
    if (cio_await(waiter, NULL) < 0)
        return NULL;
    proof += 1;
    return NULL;
}
static void *wait_outer(void *arg)
{
    (void)arg;
    cio_task *t = cio_spawn(proof_inner, NULL);
    int rc = cio_wait(&t, 1, CIO_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL);
    cio_release(t);
    if (rc < 0)
        return NULL;
    proof += 100;
    return NULL;
}

/* Cancelling outer() ends it at once (cancelled) and leaves inner() running:
 * it goes on once waiter is set. */
static void check_inner_survives(cio_task_fn outer)
{
    cio_loop *l = loop_open();
    proof = 0;
    waiter = cio_future_new(l);
    cio_task *f = cio_spawn_ex(l, outer, NULL, NULL);
    run_briefly(l);
    cio_cancel(f, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, f, NULL), -ECANCELED);
    cio_future_set_result(waiter, NULL);
    run_briefly(l);
    CHECK_EQ(proof, 1);
    cio_release(f);
    cio_release(waiter);
    loop_close(l);
}

CONF_PLAIN(test_yield_wait_does_not_shield_cancel) { check_inner_survives(wait_outer); }

/* ---- shield ---------------------------------------------------------------- */

CONF_PLAIN(test_shield_result)
{
    cio_loop *l = loop_open();
    cio_future *inner = cio_future_new(l);
    cio_future *outer = cio_shield(inner);
    cio_future_set_result(inner, (void *)42);
    void *v = NULL;
    CHECK_EQ(cio_loop_run_until_complete(l, outer, &v), 0);
    CHECK_EQ((intptr_t)v, 42);
    cio_release(outer);
    cio_release(inner);
    loop_close(l);
}

CONF_PLAIN(test_shield_exception)
{
    cio_loop *l = loop_open();
    cio_future *inner = cio_future_new(l);
    cio_future *outer = cio_shield(inner);
    run_briefly(l);
    cio_future_set_error(inner, -EIO, "expected");
    run_briefly(l);
    CHECK_EQ(cio_exception(outer), -EIO);
    CHECK(streq(cio_error_message(outer), "expected"));
    cio_exception(inner);
    cio_release(outer);
    cio_release(inner);
    loop_close(l);
}

CONF_PLAIN(test_shield_cancel_inner)
{
    cio_loop *l = loop_open();
    cio_future *inner = cio_future_new(l);
    cio_future *outer = cio_shield(inner);
    run_briefly(l);
    cio_cancel(inner, NULL);
    run_briefly(l);
    CHECK(cio_cancelled(outer));
    cio_release(outer);
    cio_release(inner);
    loop_close(l);
}

CONF_PLAIN(test_shield_cancel_outer)
{
    cio_loop *l = loop_open();
    cio_future *inner = cio_future_new(l);
    cio_future *outer = cio_shield(inner);
    run_briefly(l);
    cio_cancel(outer, NULL);
    run_briefly(l);
    CHECK(cio_cancelled(outer));
    CHECK(!cio_done(inner));
    cio_future_set_result(inner, NULL);
    cio_release(outer);
    cio_release(inner);
    loop_close(l);
}

CONF_PLAIN(test_shield_shortcut)
{
    cio_loop *l = loop_open();
    cio_future *fut = cio_future_new(l);
    cio_future_set_result(fut, (void *)42);
    cio_future *s = cio_shield(fut);
    void *v = NULL;
    CHECK_EQ(cio_loop_run_until_complete(l, s, &v), 0);
    CHECK_EQ((intptr_t)v, 42);
    cio_release(s);
    cio_release(fut);
    loop_close(l);
}

static void *shield_outer(void *arg)
{
    (void)arg;
    cio_task *t = cio_spawn(proof_inner, NULL);
    cio_future *s = cio_shield(t);
    int rc = cio_await(s, NULL);
    cio_release(s);
    cio_release(t);
    if (rc < 0)
        return NULL;
    proof += 100;
    return NULL;
}

CONF_PLAIN(test_shield_effect) { check_inner_survives(shield_outer); }

CONF_PLAIN(test_shield_gather)
{
    cio_loop *l = loop_open();
    cio_future *child1 = cio_future_new(l), *child2 = cio_future_new(l);
    gath g = {.futs = {child1, child2}, .n = 2, .flags = 0};
    cio_task *parent = gather_task(l, &g);
    cio_future *outer = cio_shield(parent);
    run_briefly(l);
    cio_cancel(outer, NULL);
    run_briefly(l);
    CHECK(cio_cancelled(outer));
    cio_future_set_result(child1, (void *)1);
    cio_future_set_result(child2, (void *)2);
    run_briefly(l);
    CHECK_EQ(cio_result(parent, NULL), 0);
    CHECK_EQ((intptr_t)g.results[0], 1);
    CHECK_EQ((intptr_t)g.results[1], 2);
    cio_release(outer);
    cio_release(parent);
    cio_release(child1);
    cio_release(child2);
    loop_close(l);
}

CONF_PLAIN(test_gather_shield)
{
    cio_loop *l = loop_open();
    cio_future *child1 = cio_future_new(l), *child2 = cio_future_new(l);
    cio_future *inner1 = cio_shield(child1), *inner2 = cio_shield(child2);
    gath g = {.futs = {inner1, inner2}, .n = 2, .flags = 0};
    cio_task *parent = gather_task(l, &g);
    run_briefly(l);
    cio_cancel(parent, NULL);
    /* this cancels inner1 and inner2 but not child1 and child2 */
    run_briefly(l);
    CHECK_EQ(cio_exception(parent), -ECANCELED);
    CHECK(cio_cancelled(inner1));
    CHECK(cio_cancelled(inner2));
    CHECK(!cio_done(child1) && !cio_done(child2));
    cio_future_set_result(child1, (void *)1);
    cio_future_set_result(child2, (void *)2);
    run_briefly(l);
    cio_release(parent);
    cio_release(inner1);
    cio_release(inner2);
    cio_release(child1);
    cio_release(child2);
    loop_close(l);
}

CONF_TASK(test_wait_invalid_args)
{
    /* (passing a future or a coroutine instead of a list is a TypeError that
     * C's types rule out) wait() expects at least a future: ValueError */
    cio_future *none[1] = {NULL};
    CHECK_EQ(cio_wait(none, 0, CIO_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL), -EINVAL);
    return NULL;
}

/* ---- gather (GatherTestsBase: FutureGatherTests and CoroutineGatherTests) */

/* The children of a gather: the futures themselves (FutureGatherTests) or
 * coroutines awaiting them (CoroutineGatherTests: here tasks). */
static void gather_wrap(cio_loop *l, gath *g, cio_future *const *futs, size_t n, bool coro)
{
    g->n = n;
    for (size_t i = 0; i < n; i++)
        g->futs[i] = coro ? cio_spawn_ex(l, await_fut, futs[i], NULL) : cio_ref(futs[i]);
}
static void gather_unwrap(gath *g)
{
    for (size_t i = 0; i < g->n; i++)
        cio_release(g->futs[i]);
}

typedef struct cbrec {
    int calls;
    cio_future *with;
} cbrec;
static void mock_cb(cio_future *f, void *arg)
{
    cbrec *r = arg;
    r->calls++;
    r->with = f;
}

/* n futures, gathered by a task (their coroutine wrappers, with coro), a
 * done callback on the gathering task */
typedef struct gfix {
    cio_loop *l;
    cio_future *f[GMAX];
    gath g;
    cio_task *fut;
    cbrec cb;
} gfix;
static void gfix_open(gfix *x, size_t n, int flags, bool coro)
{
    x->l = loop_open();
    for (size_t i = 0; i < n; i++)
        x->f[i] = cio_future_new(x->l);
    x->g = (gath){.flags = flags};
    gather_wrap(x->l, &x->g, x->f, n, coro);
    x->fut = gather_task(x->l, &x->g);
    x->cb = (cbrec){0, NULL};
    cio_add_done_callback(x->fut, mock_cb, &x->cb);
}
static void gfix_close(gfix *x)
{
    gather_unwrap(&x->g);
    for (size_t i = 0; i < x->g.n; i++)
        cio_release(x->f[i]);
    cio_release(x->fut);
    loop_close(x->l);
}

static void check_success(int flags, bool coro)
{
    gfix x;
    gfix_open(&x, 3, flags, coro);
    cio_future_set_result(x.f[1], (void *)1);
    cio_future_set_result(x.f[0], (void *)2);
    run_loop(x.l);
    CHECK_EQ(x.cb.calls, 0);
    CHECK(!cio_done(x.fut));
    cio_future_set_result(x.f[2], (void *)3);
    run_loop(x.l);
    CHECK_EQ(x.cb.calls, 1);
    CHECK(x.cb.with == x.fut);
    CHECK_EQ(cio_result(x.fut, NULL), 0);
    CHECK_EQ((intptr_t)x.g.results[0], 2);
    CHECK_EQ((intptr_t)x.g.results[1], 1);
    CHECK_EQ((intptr_t)x.g.results[2], 3);
    gfix_close(&x);
}

CONF_PLAIN(test_success)
{
    for (int coro = 0; coro < 2; coro++)
        check_success(0, coro);
}

CONF_PLAIN(test_result_exception_success)
{
    for (int coro = 0; coro < 2; coro++)
        check_success(CIO_RETURN_EXCEPTIONS, coro);
}

static void check_one_exception(bool coro)
{
    gfix x;
    gfix_open(&x, 5, 0, coro);
    cio_future_set_result(x.f[0], (void *)1);
    cio_future_set_error(x.f[1], -EDOM, "exc");
    run_loop(x.l);
    CHECK(cio_done(x.fut));
    CHECK_EQ(x.cb.calls, 1);
    CHECK(x.cb.with == x.fut);
    CHECK_EQ(cio_exception(x.fut), -EDOM);
    CHECK(streq(cio_error_message(x.fut), "exc"));
    /* does nothing */
    cio_future_set_result(x.f[2], (void *)3);
    cio_cancel(x.f[3], NULL);
    cio_future_set_error(x.f[4], -EIO, NULL);
    cio_exception(x.f[4]);
    run_loop(x.l);
    CHECK_EQ(x.cb.calls, 1);
    gfix_close(&x);
}

CONF_PLAIN(test_one_exception)
{
    for (int coro = 0; coro < 2; coro++)
        check_one_exception(coro);
}

static void check_return_exceptions(bool coro)
{
    gfix x;
    gfix_open(&x, 4, CIO_RETURN_EXCEPTIONS, coro);
    cio_future_set_result(x.f[1], (void *)1);
    cio_future_set_error(x.f[2], -EDOM, "zde");
    cio_future_set_result(x.f[0], (void *)3);
    run_loop(x.l);
    CHECK(!cio_done(x.fut));
    cio_future_set_error(x.f[3], -EIO, "rte");
    run_loop(x.l);
    CHECK(cio_done(x.fut));
    CHECK_EQ(x.cb.calls, 1);
    CHECK(x.cb.with == x.fut);
    CHECK_EQ(cio_result(x.fut, NULL), 0);
    /* [3, 1, exc, exc2] */
    CHECK_EQ((intptr_t)x.g.results[0], 3);
    CHECK_EQ((intptr_t)x.g.results[1], 1);
    CHECK_EQ(x.g.errors[0], 0);
    CHECK_EQ(x.g.errors[1], 0);
    CHECK_EQ(x.g.errors[2], -EDOM);
    CHECK_EQ(x.g.errors[3], -EIO);
    CHECK(streq(cio_error_message(x.g.futs[2]), "zde"));
    CHECK(streq(cio_error_message(x.g.futs[3]), "rte"));
    gfix_close(&x);
}

CONF_PLAIN(test_return_exceptions)
{
    for (int coro = 0; coro < 2; coro++)
        check_return_exceptions(coro);
}

CONF_TASK(test_constructor_empty_sequence_use_running_loop)
{
    /* gather() of nothing: done at once, result [] */
    CHECK_EQ(cio_gather(NULL, 0, NULL, NULL, 0), 0);
    return NULL;
}

CONF_PLAIN(test_result_exception_one_cancellation)
{
    gfix x;
    gfix_open(&x, 6, CIO_RETURN_EXCEPTIONS, false);
    cio_future_set_result(x.f[0], (void *)1);
    cio_future_set_error(x.f[1], -EDOM, "zde");
    cio_cancel(x.f[2], NULL);
    run_loop(x.l);
    CHECK(!cio_done(x.fut));
    cio_future_set_result(x.f[3], (void *)3);
    cio_cancel(x.f[4], NULL);
    cio_future_set_error(x.f[5], -EIO, "rte");
    CHECK_EQ(cio_loop_run_until_complete(x.l, x.fut, NULL), 0);
    /* [1, zde, CancelledError, 3, CancelledError, rte] */
    CHECK_EQ((intptr_t)x.g.results[0], 1);
    CHECK_EQ(x.g.errors[0], 0);
    CHECK_EQ(x.g.errors[1], -EDOM);
    CHECK_EQ(x.g.errors[2], -ECANCELED);
    CHECK_EQ((intptr_t)x.g.results[3], 3);
    CHECK_EQ(x.g.errors[3], 0);
    CHECK_EQ(x.g.errors[4], -ECANCELED);
    CHECK_EQ(x.g.errors[5], -EIO);
    run_briefly(x.l);
    CHECK_EQ(x.cb.calls, 1);
    CHECK(x.cb.with == x.fut);
    gfix_close(&x);
}

CONF_TASK(test_duplicate_coroutines)
{
    cio_task *c = cio_spawn(ret_arg, "abc");
    cio_task *d = cio_spawn(ret_arg, "def");
    void *r[4] = {0};
    CHECK_EQ(cio_gather((cio_future *[]){c, c, d, c}, 4, r, NULL, 0), 0);
    CHECK(streq(r[0], "abc") && streq(r[1], "abc") && streq(r[2], "def") && streq(r[3], "abc"));
    cio_release(c);
    cio_release(d);
    return NULL;
}

typedef struct bcast {
    cio_task *child1, *child2;
} bcast;
static void *bcast_outer(void *arg)
{
    bcast *b = arg;
    int rc = cio_gather((cio_future *[]){b->child1, b->child2}, 2, NULL, NULL, 0);
    if (rc < 0)
        return NULL;
    proof += 100;
    return NULL;
}

CONF_PLAIN(test_cancellation_broadcast)
{
    /* cancelling outer() cancels all children */
    cio_loop *l = loop_open();
    proof = 0;
    waiter = cio_future_new(l);
    bcast b = {cio_spawn_ex(l, proof_inner, NULL, NULL), cio_spawn_ex(l, proof_inner, NULL, NULL)};
    cio_task *f = cio_spawn_ex(l, bcast_outer, &b, NULL);
    run_briefly(l);
    CHECK(cio_cancel(f, NULL));
    CHECK_EQ(cio_loop_run_until_complete(l, f, NULL), -ECANCELED);
    CHECK(cio_cancelled(waiter));
    CHECK(cio_cancelled(b.child1));
    CHECK(cio_cancelled(b.child2));
    run_briefly(l);
    CHECK_EQ(proof, 0);
    cio_release(f);
    cio_release(b.child1);
    cio_release(b.child2);
    cio_release(waiter);
    loop_close(l);
}

static void *marking_inner(void *arg)
{
    int rc = cio_await(arg, NULL);
    if (rc < 0)
        return reraise(rc, arg);
    return cio_fail(-EIO, "should not be ignored");
}
static void *marking_outer(void *arg)
{
    cio_future **ab = arg;
    cio_task *i1 = cio_spawn(marking_inner, ab[0]);
    cio_task *i2 = cio_spawn(marking_inner, ab[1]);
    int rc = cio_gather((cio_future *[]){i1, i2}, 2, NULL, NULL, 0);
    void *r = rc < 0 ? reraise(rc, i1) : NULL;
    /* the other child goes on (gather does not cancel it) */
    cio_release(i1);
    cio_release(i2);
    return r;
}

CONF_PLAIN(test_exception_marking)
{
    cio_loop *l = loop_open();
    cio_future *ab[2] = {cio_future_new(l), cio_future_new(l)};
    cio_task *f = cio_spawn_ex(l, marking_outer, ab, NULL);
    run_briefly(l);
    cio_future_set_result(ab[0], NULL);
    run_briefly(l);
    cio_future_set_result(ab[1], NULL);
    run_briefly(l);
    CHECK_EQ(cio_exception(f), -EIO);
    CHECK(streq(cio_error_message(f), "should not be ignored"));
    cio_release(f);
    cio_release(ab[0]);
    cio_release(ab[1]);
    loop_close(l);
}

/* ---- cancelling gather, tracebacks ---------------------------------------- */

static void *gather_2_test(void *arg)
{
    (void)arg;
    static nap n = {0.01, NULL};
    double time = 0;
    for (;;) {
        time += 0.01;
        cio_task *s = cio_spawn(sleeper, &n);
        int rc = cio_gather(&s, 1, NULL, NULL, CIO_RETURN_EXCEPTIONS);
        cio_release(s);
        if (rc < 0)
            return NULL; /* the CancelledError propagates */
        if (time > 0.2)
            return NULL;
    }
}
static void *gather_2_main(void *arg)
{
    const char *msg = arg;
    cio_task *qwe = cio_spawn(gather_2_test, NULL);
    cio_sleep(0.04);
    cio_cancel(qwe, msg);
    int rc = cio_await(qwe, NULL);
    void *r = rc < 0 ? reraise(rc, qwe) : NULL;
    cio_release(qwe);
    return r;
}

CONF_PLAIN(test_cancel_gather_2)
{
    const char *msgs[] = {NULL, "my message"};
    for (int i = 0; i < 2; i++) {
        cio_loop *l = loop_open();
        cio_task *t = cio_spawn_ex(l, gather_2_main, (void *)msgs[i], NULL);
        /* gather() propagates the CancelledError raised by the inner task */
        CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), -ECANCELED);
        CHECK(streq(cio_error_message(t), msgs[i]));
        cio_release(t);
        loop_close(l);
    }
}

CONF_PLAIN(test_create_task_with_async_function)
{
    cio_loop *l = loop_open();
    for (int i = 0; i < 2; i++) {
        cio_task *t = cio_spawn_ex(l, empty, NULL, NULL);
        CHECK(cio_is_task(t));
        CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), 0);
        cio_release(t);
    }
    loop_close(l);
}

CONF_TASK(test_bare_create_task)
{
    cio_task *t = cio_spawn(ret_arg, (void *)1);
    CHECK(cio_is_task(t));
    void *v = NULL;
    CHECK_EQ(cio_await(t, &v), 0);
    CHECK_EQ((intptr_t)v, 1);
    cio_release(t);
    return NULL;
}

CONF_TASK(test_bare_create_named_task)
{
    cio_task *t = cio_spawn_ex(NULL, empty, NULL, &(cio_task_opts){.name = "No-op"});
    CHECK(streq(cio_task_name(t), "No-op"));
    CHECK_EQ(cio_await(t, NULL), 0);
    cio_release(t);
    return NULL;
}

CONF_PLAIN(test_get_coro)
{
    cio_loop *l = loop_open();
    static int coro_arg;
    cio_task *t = cio_spawn_ex(l, empty, &coro_arg, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), 0);
    void *a = NULL;
    CHECK(cio_task_fn_of(t, &a) == empty);
    CHECK(a == &coro_arg);
    cio_release(t);
    loop_close(l);
}

/* ---- BaseCurrentLoopTests, GenericTaskTests ------------------------------- */

CONF_PLAIN(test_current_task_no_running_loop)
{
    cio_loop *l = loop_open();
    CHECK(cio_current_task() == NULL);
    loop_close(l);
}

CONF_PLAIN(test_current_task_with_implicit_loop)
{
    cio_loop *l = loop_open();
    cio_task *t = NULL;
    t = cio_spawn(check_current_is_arg, &t);
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), 0);
    CHECK(cio_current_task() == NULL);
    cio_release(t);
    loop_close(l);
}

CONF_TASK(test_future_subclass)
{
    /* a Task is a Future: every future call takes it */
    cio_task *t = cio_spawn(ret_arg, (void *)7);
    cio_future *f = t;
    cbrec cb = {0, NULL};
    CHECK_EQ(cio_add_done_callback(f, mock_cb, &cb), 0);
    CHECK_EQ(cio_await(f, NULL), 0);
    void *v = NULL;
    CHECK_EQ(cio_result(f, &v), 0);
    CHECK_EQ((intptr_t)v, 7);
    CHECK(cio_done(f) && !cio_cancelled(f));
    cio_yield();
    CHECK_EQ(cb.calls, 1);
    cio_release(t);
    return NULL;
}

/* ---- GatherTestsBase.test_env_var_debug ----------------------------------- */

static bool debug_with_env(const char *value)
{
    if (value)
        setenv("CIO_DEBUG", value, 1);
    else
        unsetenv("CIO_DEBUG");
    cio_loop *l = cio_loop_new();
    bool on = cio_loop_get_debug(l);
    cio_loop_close(l);
    return on;
}

CONF_PLAIN(test_env_var_debug)
{
    /* (PYTHONASYNCIODEBUG is CIO_DEBUG; -E and -X dev have no C counterpart) */
    const char *saved = getenv("CIO_DEBUG");
    char *keep = saved ? strdup(saved) : NULL;
    CHECK(!debug_with_env(NULL));
    CHECK(!debug_with_env(""));
    CHECK(debug_with_env("1"));
    if (keep)
        setenv("CIO_DEBUG", keep, 1);
    else
        unsetenv("CIO_DEBUG");
    free(keep);
}

/* ---- RunCoroutineThreadsafeTests ------------------------------------------ */

typedef struct addargs {
    cio_loop *loop;
    bool fail, cancel;
    double timeout;
} addargs;
/* Wait 0.05 second and return a + b. */
static void *add(void *arg)
{
    const addargs *x = arg;
    if (cio_sleep(0.05) < 0)
        return NULL;
    if (x->fail)
        return cio_fail(-EIO, "Fail!");
    if (x->cancel) {
        cio_cancel(cio_current_task(), NULL);
        if (cio_sleep(0) < 0)
            return NULL;
    }
    return (void *)(intptr_t)(1 + 2);
}
/* target(): runs in an executor thread */
static void *target(void *arg)
{
    const addargs *x = arg;
    cio_tfuture *tf = cio_run_coroutine_threadsafe(x->loop, add, arg);
    if (!tf)
        return cio_fail(-errno, NULL);
    void *res = NULL;
    int rc = cio_tfuture_wait(tf, x->timeout, &res);
    if (!cio_tfuture_done(tf)) /* finally: future.done() or future.cancel() */
        cio_tfuture_cancel(tf);
    /* the exception as raised in the loop's task: code and message */
    const char *m = rc < 0 ? cio_tfuture_error_message(tf) : NULL;
    void *out = rc < 0 ? (m ? cio_fail(rc, "%s", m) : cio_fail(rc, NULL)) : res;
    cio_tfuture_free(tf);
    return out;
}

static int run_target(addargs *x, void **res)
{
    x->loop = cio_loop_current();
    cio_future *f = cio_run_in_executor(NULL, target, x);
    CHECK(f != NULL);
    int rc = cio_await(f, res);
    cio_release(f);
    return rc;
}

CONF_TASK(test_run_coroutine_threadsafe)
{
    addargs x = {.timeout = CIO_NO_TIMEOUT};
    void *v = NULL;
    CHECK_EQ(run_target(&x, &v), 0);
    CHECK_EQ((intptr_t)v, 3);
    return NULL;
}

CONF_TASK(test_run_coroutine_threadsafe_with_timeout)
{
    addargs x = {.timeout = 0};
    CHECK_EQ(run_target(&x, NULL), -ETIMEDOUT);
    cio_sleep(0);
    cio_sleep(0.1);
    /* no pending task: add has been cancelled */
    cio_task *all[4];
    size_t n = cio_all_tasks(NULL, all, 4);
    CHECK_EQ(n, 1); /* this one */
    return NULL;
}

CONF_TASK(test_run_coroutine_threadsafe_task_cancelled)
{
    addargs x = {.cancel = true, .timeout = CIO_NO_TIMEOUT};
    CHECK_EQ(run_target(&x, NULL), -ECANCELED);
    return NULL;
}

/* ---- SleepTests ------------------------------------------------------------- */

static int sz_result;
static void inc_result(void *arg) { sz_result += (int)(intptr_t)arg; }

CONF_TASK(test_sleep_zero)
{
    sz_result = 0;
    cio_call_soon(cio_loop_current(), inc_result, (void *)1, NULL);
    CHECK_EQ(sz_result, 0);
    CHECK_EQ(cio_sleep(0), 0);
    CHECK_EQ(sz_result, 1); /* inc'ed by call_soon */
    inc_result((void *)10); /* sleep(0, result=10) */
    CHECK_EQ(sz_result, 11);
    return NULL;
}

/* Cases that failed on cio when they were ported (issue 10: b, f, i, j and
 * three more); each comment says what asyncio does. */

/* (f) A task that cancelled itself and then awaits nested_task: asyncio
 * cancels nested_task (and so fut) at the await. */
CONF_PLAIN(test_cancel_awaited_task)
{
    cio_loop *l = loop_open();
    awaited a = {cio_future_new(l), NULL, NULL};
    a.task = cio_spawn_ex(l, awaited_coro, &a, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, a.task, NULL), -ECANCELED);
    CHECK(cio_cancelled(a.task));
    CHECK(a.nested && cio_cancelled(a.nested));
    CHECK(cio_cancelled(a.fut));
    if (a.nested && !cio_done(a.nested)) { /* end it for the leak checks */
        cio_cancel(a.nested, NULL);
        cio_loop_run_until_complete(l, a.nested, NULL);
    }
    cio_release(a.nested);
    cio_release(a.task);
    cio_release(a.fut);
    loop_close(l);
}

/* (b) asyncio's wait() learns of a completion through a done callback,
 * which runs one iteration later, when b is done too: done == {a, b}. */
CONF_TASK(test_wait_really_done)
{
    /* some tasks in the pending list may have become done but their
     * callbacks not all been called yet */
    cio_task *a = cio_spawn(yield_once, NULL);
    cio_task *b = cio_spawn(yield_twice, NULL);
    waitctx w = {.futs = {b, a}, .n = 2, .mode = CIO_FIRST_COMPLETED, .timeout = CIO_NO_TIMEOUT};
    CHECK_EQ(run_wait(&w), 0);
    CHECK(set_eq(w.done, w.ndone, SET(a, b)));
    CHECK(cio_done(a));
    CHECK_EQ(cio_result(a, NULL), 0);
    CHECK(cio_done(b));
    CHECK_EQ(cio_result(b, NULL), 0);
    if (!cio_done(b))
        cio_await(b, NULL);
    cio_release(a);
    cio_release(b);
    return NULL;
}

/* asyncio.as_completed() makes a set of its arguments: a future given twice
 * is handed out once. */
CONF_TASK(test_as_completed_duplicate_coroutines)
{
    cio_task *c = cio_spawn(ret_arg, "ham");
    cio_task *s = cio_spawn(ret_arg, "spam");
    cio_as_completed *it = cio_as_completed_new((cio_future *[]){c, c, s}, 3, CIO_NO_TIMEOUT);
    const char *res[4] = {0};
    int err;
    CHECK_EQ(collect(it, res, 4, &err), 2);
    CHECK_EQ(err, 0);
    CHECK((streq(res[0], "ham") && streq(res[1], "spam")) || (streq(res[0], "spam") && streq(res[1], "ham")));
    cio_as_completed_free(it);
    cio_release(c);
    cio_release(s);
    return NULL;
}

/* asyncio.gather() of futures from two loops raises ValueError; cio_gather
 * returns -EXDEV, as cio_await does for a future of another loop (a scope
 * keeps a gather that would wait instead from hanging the case). */
CONF_TASK(test_constructor_heterogenous_futures)
{
    cio_loop *other = cio_loop_new();
    cio_future *fut1 = cio_future_new(NULL);
    cio_future *fut2 = cio_future_new(other);
    /* ValueError: futures from different loops (a scope keeps a gather that
     * waits instead from hanging the case) */
    cio_timeout scope;
    cio_timeout_enter(&scope, 0.5);
    int rc = cio_gather((cio_future *[]){fut1, fut2}, 2, NULL, NULL, 0);
    rc = cio_timeout_exit(&scope, rc);
    CHECK(rc == -EINVAL || rc == -EXDEV);
    cio_release(fut1);
    cio_release(fut2);
    cio_loop_close(other);
    return NULL;
}

/* asyncio.gather() as a future (cio_gather_future) refuses a cancel once
 * every child is done. */
typedef struct g1 {
    cio_future *fut;
    cio_task *child;
    cio_future *gather_task;
    int cancel_result;
} g1;
static void g1_cancelling_callback(cio_future *f, void *arg)
{
    (void)f;
    g1 *x = arg;
    x->cancel_result = cio_cancel(x->gather_task, NULL);
}

CONF_PLAIN(test_cancel_gather_1)
{
    cio_loop *l = loop_open();
    g1 x = {.fut = cio_future_new(l), .cancel_result = -1};
    x.child = cio_spawn_ex(l, await_fut, x.fut, NULL);
    x.gather_task = cio_gather_future(&x.child, 1, 0);
    run_briefly(l);
    cio_add_done_callback(x.fut, g1_cancelling_callback, &x);
    cio_future_set_result(x.fut, (void *)42); /* calls the callback after fut is done */
    /* at this point the gathering future should complete */
    cio_loop_run_until_complete(l, x.gather_task, NULL);
    /* Python issue #26923: asyncio.gather drops cancellation */
    CHECK_EQ(x.cancel_result, false);
    CHECK(!cio_cancelled(x.gather_task));
    CHECK_EQ(cio_result(x.gather_task, NULL), 0);
    void *v = NULL;
    CHECK_EQ(cio_result(x.child, &v), 0);
    CHECK_EQ((intptr_t)v, 42);
    cio_release(x.gather_task);
    cio_release(x.child);
    cio_release(x.fut);
    loop_close(l);
}

/* (j) Future.cancel() on a done future marks its exception retrieved
 * (__log_traceback = False) before returning False. */
/* A task's error is not reported as never retrieved once cancel() was
 * called on the done task (Future.cancel clears __log_traceback).  stderr is
 * captured while the loop runs in debug mode, which is when cio reports
 * unretrieved errors. */
static void *raise_type_error(void *arg)
{
    (void)arg;
    return cio_fail(-EPROTOTYPE, NULL);
}
static void *tb_runner(void *arg)
{
    (void)arg;
    cio_task *task = cio_spawn(raise_type_error, NULL);
    cio_sleep(0.05);
    cio_cancel(task, NULL);
    cio_release(task); /* task = None */
    return NULL;
}

CONF_PLAIN(test_tb_logger_not_called_after_cancel)
{
    char path[] = "/tmp/cio_conf_tb_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    cio_loop *l = loop_open();
    cio_loop_set_debug(l, true);
    cio_task *t = cio_spawn_ex(l, tb_runner, NULL, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), 0);
    cio_release(t);
    run_briefly(l);
    check_loop_clean(l);
    CHECK_EQ(cio_loop_close(l), 0);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char buf[4096] = "";
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    /* logger.error not called */
    CHECK(strstr(buf, "never retrieved") == NULL);
    if (buf[0]) /* what stderr got while captured (failed checks included) */
        fprintf(stderr, "  captured: %s", buf);
}

/* asyncio's concurrent future carries the exception (RuntimeError("Fail!")):
 * the thread re-raises it with its message (cio_tfuture_error_message). */
CONF_TASK(test_run_coroutine_threadsafe_with_exception)
{
    addargs x = {.fail = true, .timeout = CIO_NO_TIMEOUT};
    x.loop = cio_loop_current();
    cio_future *f = cio_run_in_executor(NULL, target, &x);
    CHECK_EQ(cio_await(f, NULL), -EIO);
    /* "Fail!" in exc.args: the message of the task's error */
    CHECK(streq(cio_error_message(f), "Fail!"));
    cio_release(f);
    return NULL;
}

CONF_MAIN()
