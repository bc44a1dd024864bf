/* SPDX-License-Identifier: MIT */
/* cio_wait, cio_wait_for and cio_as_completed: asyncio.wait, wait_for and
 * as_completed over tasks and plain futures.
 *
 * Reference: CPython's test_asyncio/test_tasks.py (wait, wait_for,
 * as_completed sections) and test_waitfor.py. */
#include "check.h"
#include "lib/tasks.h"

#include <stdint.h>

static bool flag;
static void *set_flag(void *arg)
{
    (void)arg;
    flag = true;
    return NULL;
}

static void cancel_cb(void *f) { cio_cancel(f, NULL); }
static void set77_cb(void *f) { CHECK_EQ(cio_future_set_result(f, (void *)77), 0); }
static void set_err_cb(void *f) { cio_future_set_error(f, -EPROTO, NULL); }

static void busy(double secs)
{
    double end = cio_time() + secs;
    while (cio_time() < end)
        ;
}
static void busy_cb(void *arg) { busy(*(double *)arg); }

/* ======================================================================== */
/* wait                                                                     */
/* ======================================================================== */

static void *t_wait_all(void *arg)
{
    (void)arg;
    kid k[3] = {{.id = 0, .delay = 0.03, .value = 1}, {.id = 1, .delay = 0.01, .fail = -EIO},
                {.id = 2, .delay = 0.02, .value = 3}};
    cio_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = cio_spawn(kid_fn, &k[i]);
    cio_future *done[3] = {0}, *pending[3] = {0};
    size_t nd = 99, np = 99;
    CHECK_EQ(cio_wait(t, 3, CIO_ALL_COMPLETED, CIO_NO_TIMEOUT, done, &nd, pending, &np), 0);
    CHECK_EQ(nd, 3);
    CHECK_EQ(np, 0);
    for (int i = 0; i < 3; i++)
        CHECK(done[i] == t[i]); /* argument order, not completion order */
    /* wait never retrieves: the error is still there */
    CHECK_EQ(cio_result(t[1], NULL), -EIO);
    /* all done already: returns at once, no suspension */
    flag = false;
    cio_task *o = cio_spawn(set_flag, NULL);
    CHECK_EQ(cio_wait(t, 3, CIO_FIRST_EXCEPTION, CIO_NO_TIMEOUT, done, &nd, NULL, NULL), 0);
    CHECK_EQ(nd, 3);
    CHECK(!flag);
    CHECK_EQ(join(o, NULL), 0);
    cio_release(o);
    for (int i = 0; i < 3; i++)
        cio_release(t[i]);
    return NULL;
}

static void *t_wait_first_completed(void *arg)
{
    (void)arg;
    kid k[3] = {{.id = 0, .delay = 0.3, .value = 1}, {.id = 1, .delay = 0.01, .value = 2},
                {.id = 2, .delay = 0.2, .value = 3}};
    cio_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = cio_spawn(kid_fn, &k[i]);
    cio_future *done[3], *pending[3];
    size_t nd, np;
    double t0 = cio_time();
    CHECK_EQ(cio_wait(t, 3, CIO_FIRST_COMPLETED, CIO_NO_TIMEOUT, done, &nd, pending, &np), 0);
    CHECK(took(cio_time() - t0, 0.01)); /* the first one's time */
    CHECK_EQ(nd, 1);
    CHECK(done[0] == t[1]);
    CHECK_EQ(np, 2);
    CHECK(pending[0] == t[0] && pending[1] == t[2]); /* argument order */
    /* nothing was cancelled */
    void *v;
    CHECK_EQ(join(t[0], &v), 0);
    CHECK_EQ((intptr_t)v, 1);
    CHECK_EQ(join(t[2], &v), 0);
    CHECK_EQ((intptr_t)v, 3);
    /* ndone/npending may be NULL, and done/pending too */
    CHECK_EQ(cio_wait(t, 3, CIO_FIRST_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL), 0);
    for (int i = 0; i < 3; i++)
        cio_release(t[i]);

    /* plain futures, one completed in the same iteration as another */
    cio_future *f[3];
    for (int i = 0; i < 3; i++)
        f[i] = cio_future_new(NULL);
    cio_call_soon(cio_loop_current(), set77_cb, f[2], NULL);
    cio_call_soon(cio_loop_current(), set77_cb, f[0], NULL);
    CHECK_EQ(cio_wait(f, 3, CIO_FIRST_COMPLETED, CIO_NO_TIMEOUT, done, &nd, pending, &np), 0);
    CHECK_EQ(nd, 2);
    CHECK(done[0] == f[0] && done[1] == f[2]);
    CHECK_EQ(np, 1);
    CHECK(pending[0] == f[1]);
    for (int i = 0; i < 3; i++)
        cio_release(f[i]);
    return NULL;
}

static void *t_wait_first_exception(void *arg)
{
    (void)arg;
    /* with an exception */
    kid k[3] = {{.id = 0, .delay = 0.01, .value = 1}, {.id = 1, .delay = 0.03, .fail = -EIO},
                {.id = 2, .delay = 1.0, .value = 3}};
    cio_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = cio_spawn(kid_fn, &k[i]);
    cio_future *done[3], *pending[3];
    size_t nd, np;
    double t0 = cio_time();
    CHECK_EQ(cio_wait(t, 3, CIO_FIRST_EXCEPTION, CIO_NO_TIMEOUT, done, &nd, pending, &np), 0);
    CHECK(took(cio_time() - t0, 0.03)); /* the failure's time, not the 1 s one */
    CHECK_EQ(nd, 2);
    CHECK(done[0] == t[0] && done[1] == t[1]);
    CHECK_EQ(np, 1);
    CHECK(pending[0] == t[2]);
    CHECK(!cio_cancelled(t[2]));
    cio_cancel(t[2], NULL);
    CHECK_EQ(join(t[2], NULL), -ECANCELED);
    CHECK_EQ(cio_result(t[1], NULL), -EIO);
    for (int i = 0; i < 3; i++)
        cio_release(t[i]);

    /* without an exception: same as ALL_COMPLETED */
    kid ok[2] = {{.id = 0, .delay = 0.01, .value = 1}, {.id = 1, .delay = 0.02, .value = 2}};
    for (int i = 0; i < 2; i++)
        t[i] = cio_spawn(kid_fn, &ok[i]);
    CHECK_EQ(cio_wait(t, 2, CIO_FIRST_EXCEPTION, CIO_NO_TIMEOUT, done, &nd, pending, &np), 0);
    CHECK_EQ(nd, 2);
    CHECK_EQ(np, 0);
    for (int i = 0; i < 2; i++)
        cio_release(t[i]);

    /* a cancellation is not an exception for FIRST_EXCEPTION (asyncio) */
    kid c[2] = {{.id = 0, .delay = 1.0}, {.id = 1, .delay = 0.04, .value = 2}};
    for (int i = 0; i < 2; i++)
        t[i] = cio_spawn(kid_fn, &c[i]);
    cio_call_later(cio_loop_current(), 0.01, cancel_cb, t[0], NULL);
    CHECK_EQ(cio_wait(t, 2, CIO_FIRST_EXCEPTION, CIO_NO_TIMEOUT, done, &nd, pending, &np), 0);
    CHECK_EQ(nd, 2);
    CHECK(cio_cancelled(t[0]));
    CHECK_EQ(cio_result(t[1], NULL), 0);
    /* ... also when already cancelled at the call */
    cio_future *pf[2] = {t[0], cio_future_new(NULL)};
    cio_call_later(cio_loop_current(), 0.01, set77_cb, pf[1], NULL);
    CHECK_EQ(cio_wait(pf, 2, CIO_FIRST_EXCEPTION, CIO_NO_TIMEOUT, done, &nd, pending, &np), 0);
    CHECK_EQ(nd, 2);
    CHECK_EQ(np, 0);
    cio_release(pf[1]);
    for (int i = 0; i < 2; i++)
        cio_release(t[i]);

    /* a plain future with an error */
    cio_future *f[2] = {cio_future_new(NULL), cio_future_new(NULL)};
    cio_call_later(cio_loop_current(), 0.01, set_err_cb, f[1], NULL);
    CHECK_EQ(cio_wait(f, 2, CIO_FIRST_EXCEPTION, CIO_NO_TIMEOUT, done, &nd, pending, &np), 0);
    CHECK_EQ(nd, 1);
    CHECK(done[0] == f[1]);
    CHECK(pending[0] == f[0]);
    cio_result(f[1], NULL);
    cio_release(f[0]);
    cio_release(f[1]);
    return NULL;
}

static void *t_wait_timeout(void *arg)
{
    (void)arg;
    kid k[3] = {{.id = 0, .delay = 0.4, .value = 1}, {.id = 1, .delay = 0.01, .value = 2},
                {.id = 2, .delay = 0.3, .value = 3}};
    cio_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = cio_spawn(kid_fn, &k[i]);
    cio_future *done[3], *pending[3];
    size_t nd, np;
    double t0 = cio_time();
    CHECK_EQ(cio_wait(t, 3, CIO_ALL_COMPLETED, 0.05, done, &nd, pending, &np), 0); /* 0, not -ETIMEDOUT */
    double dt = cio_time() - t0;
    CHECK(took(dt, 0.05)); /* the timeout's */
    CHECK_EQ(nd, 1);
    CHECK(done[0] == t[1]);
    CHECK_EQ(np, 2);
    CHECK(pending[0] == t[0] && pending[1] == t[2]);
    /* never cancels the pending ones */
    CHECK(!cio_done(t[0]) && !cio_done(t[2]));
    CHECK_EQ(cio_task_cancelling(t[0]), 0);
    void *v;
    CHECK_EQ(join(t[0], &v), 0);
    CHECK_EQ((intptr_t)v, 1);
    CHECK_EQ(join(t[2], &v), 0);
    CHECK_EQ(k[0].sleep_rc, 0);
    for (int i = 0; i < 3; i++)
        cio_release(t[i]);

    /* timeout 0 with pending futures: returns (after one loop pass) with
     * everything pending; a condition met first wins over the timeout */
    cio_future *f[2] = {cio_future_new(NULL), cio_future_new(NULL)};
    CHECK_EQ(cio_wait(f, 2, CIO_ALL_COMPLETED, 0, done, &nd, pending, &np), 0);
    CHECK_EQ(nd, 0);
    CHECK_EQ(np, 2);
    cio_call_soon(cio_loop_current(), set77_cb, f[0], NULL);
    CHECK_EQ(cio_wait(f, 2, CIO_FIRST_COMPLETED, 10.0, done, &nd, pending, &np), 0);
    CHECK_EQ(nd, 1);
    CHECK(!cio_done(f[1]));
    cio_release(f[0]);
    cio_release(f[1]);
    return NULL;
}

static void *t_wait_einval(void *arg)
{
    (void)arg;
    size_t nd = 5, np = 5;
    CHECK_EQ(cio_wait(NULL, 0, CIO_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, &nd, NULL, &np), -EINVAL);
    cio_future *f = cio_future_new(NULL);
    CHECK_EQ(cio_wait(&f, 1, 42, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL), -EINVAL);
    CHECK_EQ(cio_wait(&f, 1, -1, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL), -EINVAL);
    cio_release(f);
    return NULL;
}

typedef struct wjob {
    cio_future **futs;
    size_t n;
    int rc;
    size_t nd, np;
} wjob;

static void *waiter(void *arg)
{
    wjob *j = arg;
    j->rc = cio_wait(j->futs, j->n, CIO_ALL_COMPLETED, 10.0, NULL, &j->nd, NULL, &j->np);
    return NULL;
}

static void *t_wait_cancelled(void *arg)
{
    (void)arg;
    kid k[2] = {{.id = 0, .delay = 0.3, .value = 1}, {.id = 1, .delay = 0.35, .value = 2}};
    cio_task *t[2];
    for (int i = 0; i < 2; i++)
        t[i] = cio_spawn(kid_fn, &k[i]);
    wjob j = {.futs = t, .n = 2};
    cio_task *w = cio_spawn(waiter, &j);
    CHECK_EQ(cio_sleep(0.01), 0);
    cio_cancel(w, NULL);
    CHECK_EQ(join(w, NULL), -ECANCELED);
    CHECK_EQ(j.rc, -ECANCELED);
    CHECK_EQ(j.np, 2);
    /* the children keep running and complete */
    CHECK(!cio_done(t[0]) && !cio_done(t[1]));
    void *v;
    CHECK_EQ(join(t[0], &v), 0);
    CHECK_EQ((intptr_t)v, 1);
    CHECK_EQ(join(t[1], &v), 0);
    CHECK_EQ((intptr_t)v, 2);
    cio_release(w);
    for (int i = 0; i < 2; i++)
        cio_release(t[i]);
    return NULL;
}

/* ======================================================================== */
/* wait_for                                                                 */
/* ======================================================================== */

static void *t_wait_for_in_time(void *arg)
{
    (void)arg;
    kid k = {.delay = 0.01, .value = 7};
    cio_task *t = cio_spawn(kid_fn, &k);
    void *v = NULL;
    CHECK_EQ(cio_wait_for(t, 1.0, &v), 0);
    CHECK_EQ((intptr_t)v, 7);
    CHECK_EQ(cio__wheel_count(&cio_loop_current()->wheel), 0); /* no timer left */
    cio_release(t);
    /* an error in time is returned as is */
    kid e = {.delay = 0.01, .fail = -EPIPE};
    t = cio_spawn(kid_fn, &e);
    CHECK_EQ(cio_wait_for(t, 1.0, &v), -EPIPE);
    CHECK(v == NULL);
    cio_release(t);
    /* a plain future */
    cio_future *f = cio_future_new(NULL);
    cio_call_later(cio_loop_current(), 0.01, set77_cb, f, NULL);
    CHECK_EQ(cio_wait_for(f, 1.0, &v), 0);
    CHECK_EQ((intptr_t)v, 77);
    cio_release(f);
    return NULL;
}

static void *t_wait_for_timeout(void *arg)
{
    (void)arg;
    kid k = {.delay = 5.0, .value = 7, .cleanup = 0.03};
    cio_task *t = cio_spawn(kid_fn, &k);
    void *v = (void *)1;
    double t0 = cio_time();
    CHECK_EQ(cio_wait_for(t, 0.02, &v), -ETIMEDOUT);
    double dt = cio_time() - t0;
    CHECK(v == NULL);
    /* the child was cancelled and awaited: its cleanup ran first */
    CHECK(cio_done(t));
    CHECK(cio_cancelled(t));
    CHECK(k.finished);
    CHECK_EQ(k.sleep_rc, -ECANCELED);
    CHECK_EQ(k.cleanup_rc, 0);
    CHECK(took(dt, 0.05)); /* the 0.02 s timeout, then the child's 0.03 s cleanup */
    /* the waiting task is not cancelled */
    cio_task *self = cio_current_task();
    CHECK_EQ(cio_task_cancelling(self), 0);
    CHECK_EQ(cio_sleep(0.001), 0);
    cio_release(t);

    /* a plain future */
    cio_future *f = cio_future_new(NULL);
    CHECK_EQ(cio_wait_for(f, 0.01, &v), -ETIMEDOUT);
    CHECK(cio_cancelled(f));
    CHECK_EQ(cio_future_set_result(f, NULL), CIO_EINVALSTATE);
    cio_release(f);

    /* a child whose cleanup fails: its error wins over the timeout */
    kid e = {.delay = 5.0, .on_cancel = ON_CANCEL_FAIL, .fail = -EBUSY};
    t = cio_spawn(kid_fn, &e);
    CHECK_EQ(cio_wait_for(t, 0.01, NULL), -EBUSY);
    cio_release(t);
    return NULL;
}

static void *t_wait_for_zero(void *arg)
{
    (void)arg;
    /* pending task: cancelled and awaited */
    kid k = {.delay = 5.0, .cleanup = 0.01};
    cio_task *t = cio_spawn(kid_fn, &k);
    CHECK_EQ(cio_yield(), 0); /* let it start */
    CHECK_EQ(cio_wait_for(t, 0, NULL), -ETIMEDOUT);
    CHECK(cio_cancelled(t));
    CHECK(k.finished);
    cio_release(t);
    /* a task that has not started yet */
    kid n = {.delay = 5.0};
    t = cio_spawn(kid_fn, &n);
    CHECK_EQ(cio_wait_for(t, 0, NULL), -ETIMEDOUT);
    CHECK(cio_cancelled(t));
    CHECK(!n.finished); /* never ran */
    cio_release(t);
    /* pending plain future */
    cio_future *f = cio_future_new(NULL);
    CHECK_EQ(cio_wait_for(f, 0, NULL), -ETIMEDOUT);
    CHECK(cio_cancelled(f));
    cio_release(f);
    /* done ones: the result, without suspending or looking at a pending
     * cancellation */
    f = cio_future_new(NULL);
    cio_future_set_result(f, (void *)5);
    flag = false;
    cio_task *o = cio_spawn(set_flag, NULL);
    void *v = NULL;
    cio_task *self = cio_current_task();
    cio_cancel(self, NULL);
    CHECK_EQ(cio_wait_for(f, 0, &v), 0);
    CHECK_EQ((intptr_t)v, 5);
    CHECK(!flag);
    CHECK_EQ(cio_yield(), -ECANCELED);
    CHECK_EQ(cio_task_uncancel(self), 0);
    cio_release(f);
    kid d = {.delay = 0.0, .value = 9};
    t = cio_spawn(kid_fn, &d);
    CHECK_EQ(join(t, NULL), 0);
    CHECK_EQ(cio_wait_for(t, 0, &v), 0);
    CHECK_EQ((intptr_t)v, 9);
    cio_release(t);
    CHECK_EQ(join(o, NULL), 0);
    cio_release(o);
    return NULL;
}

static void *t_wait_for_forever(void *arg)
{
    (void)arg;
    kid k = {.delay = 0.05, .value = 3};
    cio_task *t = cio_spawn(kid_fn, &k);
    void *v;
    CHECK_EQ(cio_wait_for(t, CIO_NO_TIMEOUT, &v), 0);
    CHECK_EQ((intptr_t)v, 3);
    cio_release(t);
    cio_future *f = cio_future_new(NULL);
    cio_call_later(cio_loop_current(), 0.02, set77_cb, f, NULL);
    CHECK_EQ(cio_wait_for(f, CIO_NO_TIMEOUT, &v), 0);
    CHECK_EQ((intptr_t)v, 77);
    cio_release(f);
    return NULL;
}

/* The child swallows the cancellation and returns a value: the value wins
 * (asyncio: a result that arrives together with the timeout wins). */
static void *t_wait_for_swallow(void *arg)
{
    (void)arg;
    kid k = {.delay = 5.0, .value = 99, .on_cancel = ON_CANCEL_SWALLOW, .cleanup = 0.01};
    cio_task *t = cio_spawn(kid_fn, &k);
    void *v = NULL;
    CHECK_EQ(cio_wait_for(t, 0.01, &v), 0);
    CHECK_EQ((intptr_t)v, 99);
    CHECK(!cio_cancelled(t));
    CHECK_EQ(cio_task_cancelling(cio_current_task()), 0);
    cio_release(t);
    /* same with timeout 0 */
    kid z = {.delay = 5.0, .value = 98, .on_cancel = ON_CANCEL_SWALLOW};
    t = cio_spawn(kid_fn, &z);
    CHECK_EQ(cio_yield(), 0);
    CHECK_EQ(cio_wait_for(t, 0, &v), 0);
    CHECK_EQ((intptr_t)v, 98);
    cio_release(t);
    return NULL;
}

/* A plain future whose result is set in the same loop iteration as the
 * timeout fires: a callback holds the loop busy past both deadlines, so the
 * setter (due first) and the timeout expire together. */
static void *t_wait_for_same_iteration(void *arg)
{
    (void)arg;
    cio_loop *l = cio_loop_current();
    static double spin = 0.05;
    cio_future *f = cio_future_new(NULL);
    CHECK_EQ(cio_call_soon(l, busy_cb, &spin, NULL), 0);
    CHECK_EQ(cio_call_later(l, 0.01, set77_cb, f, NULL), 0); /* checks set_result succeeds */
    void *v = NULL;
    CHECK_EQ(cio_wait_for(f, 0.02, &v), 0);
    CHECK_EQ((intptr_t)v, 77);
    CHECK(!cio_cancelled(f));
    cio_release(f);

    /* the mirror case: the timeout is due first and the result only in a
     * later iteration: -ETIMEDOUT and the future is cancelled */
    f = cio_future_new(NULL);
    cio_handle *h;
    CHECK_EQ(cio_call_later(l, 0.2, cancel_cb, f, &h), 0);
    CHECK_EQ(cio_wait_for(f, 0.01, &v), -ETIMEDOUT);
    CHECK(cio_cancelled(f));
    cio_handle_cancel(h);
    cio_release(f);
    return NULL;
}

typedef struct wfjob {
    cio_future *f;
    double timeout;
    int rc;
    void *v;
    bool child_done_at_return;
    bool precancel;
} wfjob;

static void *wait_for_task(void *arg)
{
    wfjob *j = arg;
    if (j->precancel)
        cio_cancel(cio_current_task(), NULL);
    j->rc = cio_wait_for(j->f, j->timeout, &j->v);
    j->child_done_at_return = cio_done(j->f);
    return (void *)1;
}

static void *t_wait_for_cancelled(void *arg)
{
    (void)arg;
    /* the waiting task is cancelled: the child is cancelled and awaited */
    kid k = {.delay = 5.0, .cleanup = 0.02};
    cio_task *t = cio_spawn(kid_fn, &k);
    wfjob j = {.f = t, .timeout = 10.0};
    cio_task *w = cio_spawn(wait_for_task, &j);
    CHECK_EQ(cio_sleep(0.01), 0);
    cio_cancel(w, NULL);
    CHECK_EQ(join(w, NULL), -ECANCELED); /* the task ended cancelled */
    CHECK_EQ(j.rc, -ECANCELED);
    CHECK(j.child_done_at_return);
    CHECK(cio_cancelled(t));
    CHECK(k.finished);
    CHECK_EQ(k.cleanup_rc, 0);
    cio_release(w);
    cio_release(t);

    /* forever (CIO_NO_TIMEOUT): same */
    kid k2 = {.delay = 5.0};
    t = cio_spawn(kid_fn, &k2);
    wfjob j2 = {.f = t, .timeout = CIO_NO_TIMEOUT};
    w = cio_spawn(wait_for_task, &j2);
    CHECK_EQ(cio_sleep(0.01), 0);
    cio_cancel(w, NULL);
    CHECK_EQ(join(w, NULL), -ECANCELED);
    CHECK_EQ(j2.rc, -ECANCELED);
    CHECK(cio_cancelled(t));
    cio_release(w);
    cio_release(t);

    /* cancelled while the child's cancellation (from the timeout) is in
     * progress: -ECANCELED, not -ETIMEDOUT */
    kid k3 = {.delay = 5.0, .cleanup = 0.3};
    t = cio_spawn(kid_fn, &k3);
    wfjob j3 = {.f = t, .timeout = 0.01};
    w = cio_spawn(wait_for_task, &j3);
    while (k3.sleep_rc != -ECANCELED) /* timed out, child cleaning up */
        CHECK_EQ(cio_sleep(0.005), 0);
    CHECK(!cio_done(t));
    cio_cancel(w, NULL);
    CHECK_EQ(join(w, NULL), -ECANCELED);
    CHECK_EQ(j3.rc, -ECANCELED);
    CHECK(j3.child_done_at_return);
    /* the second cancellation reached the child's cleanup, as in asyncio */
    CHECK_EQ(k3.cleanup_rc, -ECANCELED);
    cio_release(w);
    cio_release(t);

    /* a cancellation pending at the call goes to the child */
    kid k4 = {.delay = 5.0, .cleanup = 0.01};
    t = cio_spawn(kid_fn, &k4);
    wfjob j4 = {.f = t, .timeout = 10.0, .precancel = true};
    w = cio_spawn(wait_for_task, &j4);
    CHECK_EQ(join(w, NULL), -ECANCELED);
    CHECK_EQ(j4.rc, -ECANCELED);
    CHECK(j4.child_done_at_return);
    CHECK(cio_cancelled(t));
    cio_release(w);
    cio_release(t);

    /* the waiting task cancelled, the child swallows and returns a value:
     * that value is returned (as cio_await) */
    kid k5 = {.delay = 5.0, .value = 55, .on_cancel = ON_CANCEL_SWALLOW};
    t = cio_spawn(kid_fn, &k5);
    wfjob j5 = {.f = t, .timeout = 10.0};
    w = cio_spawn(wait_for_task, &j5);
    CHECK_EQ(cio_sleep(0.01), 0);
    cio_cancel(w, NULL);
    CHECK_EQ(join(w, NULL), 0);
    CHECK_EQ(j5.rc, 0);
    CHECK_EQ((intptr_t)j5.v, 55);
    cio_release(w);
    cio_release(t);

    /* a plain future, the waiting task cancelled */
    cio_future *f = cio_future_new(NULL);
    wfjob j6 = {.f = f, .timeout = 10.0};
    w = cio_spawn(wait_for_task, &j6);
    CHECK_EQ(cio_sleep(0.01), 0);
    cio_cancel(w, NULL);
    CHECK_EQ(join(w, NULL), -ECANCELED);
    CHECK_EQ(j6.rc, -ECANCELED);
    CHECK(cio_cancelled(f));
    cio_release(w);
    cio_release(f);
    return NULL;
}

/* A task still counting an earlier cancellation (caught, not uncancelled)
 * gets -ETIMEDOUT from a wait_for that times out: only new cancellations
 * count (asyncio compares with cancelling() at entry). */
static void *stale_cancel_task(void *arg)
{
    int *rc = arg;
    cio_cancel(cio_current_task(), NULL);
    CHECK_EQ(cio_sleep(1.0), -ECANCELED); /* caught, not uncancelled */
    cio_future *f = cio_future_new(NULL);
    *rc = cio_wait_for(f, 0.01, NULL);
    cio_release(f);
    return NULL;
}

static void *t_wait_for_stale_cancel(void *arg)
{
    (void)arg;
    int rc = 0;
    cio_task *t = cio_spawn(stale_cancel_task, &rc);
    CHECK_EQ(join(t, NULL), -ECANCELED); /* it did see -ECANCELED earlier */
    CHECK_EQ(rc, -ETIMEDOUT);
    cio_release(t);
    return NULL;
}

/* ======================================================================== */
/* as_completed                                                             */
/* ======================================================================== */

static void *t_ac_order(void *arg)
{
    (void)arg;
    kid k[3] = {{.id = 0, .delay = 0.03, .value = 10}, {.id = 1, .delay = 0.01, .fail = -EIO},
                {.id = 2, .delay = 0.02, .value = 12}};
    cio_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = cio_spawn(kid_fn, &k[i]);
    cio_as_completed *it = cio_as_completed_new(t, 3, CIO_NO_TIMEOUT);
    CHECK(it != NULL);
    for (int i = 0; i < 3; i++)
        cio_release(t[i]); /* the iterator holds its own references */
    cio_future *f;
    int expect[3] = {1, 2, 0};
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(cio_as_completed_next(it, &f), 0);
        CHECK(f == t[expect[i]]);
    }
    CHECK_EQ(cio_result(t[1], NULL), -EIO);
    CHECK_EQ(cio_as_completed_next(it, &f), CIO_EDONE);
    CHECK(f == NULL);
    CHECK_EQ(cio_as_completed_next(it, &f), CIO_EDONE);
    cio_as_completed_free(it);

    /* empty */
    it = cio_as_completed_new(NULL, 0, 1.0);
    CHECK(it != NULL);
    CHECK_EQ(cio_as_completed_next(it, &f), CIO_EDONE);
    cio_as_completed_free(it);
    cio_as_completed_free(NULL);
    return NULL;
}

static void *t_ac_timeout(void *arg)
{
    (void)arg;
    kid k[3] = {{.id = 0, .delay = 0.01, .value = 1}, {.id = 1, .delay = 0.3, .value = 2},
                {.id = 2, .delay = 5.0, .value = 3}};
    cio_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = cio_spawn(kid_fn, &k[i]);
    cio_as_completed *it = cio_as_completed_new(t, 3, 0.05);
    cio_future *f;
    CHECK_EQ(cio_as_completed_next(it, &f), 0);
    CHECK(f == t[0]);
    double t0 = cio_time();
    CHECK_EQ(cio_as_completed_next(it, &f), -ETIMEDOUT);
    CHECK(f == NULL);
    CHECK(took(cio_time() - t0, 0.04)); /* the iterator's 0.05 s from its creation */
    /* nothing was cancelled */
    CHECK(!cio_done(t[1]) && !cio_done(t[2]));
    /* what completes after the timeout is not yielded (asyncio) */
    CHECK_EQ(join(t[1], NULL), 0);
    CHECK_EQ(cio_as_completed_next(it, &f), -ETIMEDOUT);
    cio_as_completed_free(it); /* the rest can be freed */
    cio_cancel(t[2], NULL);
    CHECK_EQ(join(t[2], NULL), -ECANCELED);
    for (int i = 0; i < 3; i++)
        cio_release(t[i]);

    /* completions before the timeout are still yielded after it */
    kid m[2] = {{.id = 0, .delay = 0.01, .value = 1}, {.id = 1, .delay = 5.0}};
    for (int i = 0; i < 2; i++)
        t[i] = cio_spawn(kid_fn, &m[i]);
    it = cio_as_completed_new(t, 2, 0.03);
    CHECK_EQ(cio_sleep(0.06), 0);
    CHECK_EQ(cio_as_completed_next(it, &f), 0);
    CHECK(f == t[0]);
    CHECK_EQ(cio_as_completed_next(it, &f), -ETIMEDOUT);
    cio_as_completed_free(it);
    cio_cancel(t[1], NULL);
    CHECK_EQ(join(t[1], NULL), -ECANCELED);
    for (int i = 0; i < 2; i++)
        cio_release(t[i]);

    /* all complete before the timeout: its timer goes at once */
    kid q = {.delay = 0.01, .value = 4};
    t[0] = cio_spawn(kid_fn, &q);
    it = cio_as_completed_new(t, 1, 10.0);
    CHECK_EQ(cio_as_completed_next(it, &f), 0);
    CHECK_EQ(cio__wheel_count(&cio_loop_current()->wheel), 0);
    CHECK_EQ(cio_as_completed_next(it, &f), CIO_EDONE);
    cio_as_completed_free(it);
    cio_release(t[0]);
    return NULL;
}

static void *t_ac_done_first(void *arg)
{
    (void)arg;
    kid k = {.delay = 0.01, .value = 1};
    cio_future *fs[3] = {cio_spawn(kid_fn, &k), cio_future_new(NULL), cio_future_new(NULL)};
    cio_future_set_result(fs[2], (void *)2);
    cio_future_set_error(fs[1], -EIO, NULL);
    flag = false;
    cio_task *o = cio_spawn(set_flag, NULL);
    cio_as_completed *it = cio_as_completed_new(fs, 3, CIO_NO_TIMEOUT);
    cio_future *f;
    /* the done ones come first, in argument order, without suspending */
    CHECK_EQ(cio_as_completed_next(it, &f), 0);
    CHECK(f == fs[1]);
    CHECK_EQ(cio_as_completed_next(it, &f), 0);
    CHECK(f == fs[2]);
    CHECK(!flag);
    CHECK_EQ(cio_as_completed_next(it, &f), 0);
    CHECK(f == fs[0]);
    CHECK_EQ(cio_as_completed_next(it, &f), CIO_EDONE);
    cio_as_completed_free(it);
    cio_result(fs[1], NULL);
    for (int i = 0; i < 3; i++)
        cio_release(fs[i]);
    CHECK_EQ(join(o, NULL), 0);
    cio_release(o);
    return NULL;
}

typedef struct acjob {
    cio_as_completed *it;
    int rc;
    int got;
} acjob;

static void *ac_iterate(void *arg)
{
    acjob *j = arg;
    cio_future *f;
    while ((j->rc = cio_as_completed_next(j->it, &f)) == 0)
        j->got++;
    return NULL;
}

static void *t_ac_cancel(void *arg)
{
    (void)arg;
    kid k[2] = {{.id = 0, .delay = 0.005, .value = 1}, {.id = 1, .delay = 0.3, .value = 2}};
    cio_task *t[2];
    for (int i = 0; i < 2; i++)
        t[i] = cio_spawn(kid_fn, &k[i]);
    acjob j = {.it = cio_as_completed_new(t, 2, CIO_NO_TIMEOUT)};
    cio_task *w = cio_spawn(ac_iterate, &j);
    CHECK_EQ(cio_sleep(0.03), 0);
    cio_cancel(w, NULL);
    CHECK_EQ(join(w, NULL), -ECANCELED);
    CHECK_EQ(j.rc, -ECANCELED);
    CHECK_EQ(j.got, 1);
    /* the children were left alone; the iterator still works */
    CHECK(!cio_done(t[1]));
    cio_future *f;
    CHECK_EQ(cio_as_completed_next(j.it, &f), 0);
    CHECK(f == t[1]);
    CHECK_EQ(cio_result(f, NULL), 0);
    CHECK_EQ(cio_as_completed_next(j.it, &f), CIO_EDONE);
    cio_as_completed_free(j.it);
    cio_release(w);
    for (int i = 0; i < 2; i++)
        cio_release(t[i]);
    return NULL;
}

static void *t_ac_free_early(void *arg)
{
    (void)arg;
    kid k[2] = {{.id = 0, .delay = 0.01, .value = 1}, {.id = 1, .delay = 0.02, .value = 2}};
    cio_task *t[2];
    for (int i = 0; i < 2; i++)
        t[i] = cio_spawn(kid_fn, &k[i]);
    cio_future *pf = cio_future_new(NULL);
    cio_future *all[3] = {t[0], t[1], pf};
    cio_as_completed *it = cio_as_completed_new(all, 3, 1.0);
    for (int i = 0; i < 2; i++)
        cio_release(t[i]);
    cio_release(pf); /* the iterator's references are the last ones */
    cio_as_completed_free(it); /* without consuming: no leak, nothing cancelled */
    CHECK_EQ(cio_sleep(0.04), 0);
    CHECK(k[0].finished && k[1].finished);
    CHECK_EQ(k[0].sleep_rc, 0);

    /* freed after some were consumed, with the timer armed */
    kid m[2] = {{.id = 0, .delay = 0.005, .value = 1}, {.id = 1, .delay = 0.02, .value = 2}};
    for (int i = 0; i < 2; i++)
        t[i] = cio_spawn(kid_fn, &m[i]);
    it = cio_as_completed_new(t, 2, 1.0);
    cio_future *f;
    CHECK_EQ(cio_as_completed_next(it, &f), 0);
    cio_as_completed_free(it);
    CHECK_EQ(join(t[1], NULL), 0);
    for (int i = 0; i < 2; i++)
        cio_release(t[i]);
    return NULL;
}

/* ======================================================================== */
/* the loop closed under waiting combinators                                */
/* ======================================================================== */

/* Tasks parked in every combinator when the loop is closed: their stacks go
 * away with them; nothing may leak (no reference kept by a combinator) and
 * nothing may touch the freed loop afterwards (ASan). */
static cio_future *orphan[4];
static cio_as_completed *orphan_it;

static void *park_wait_for(void *arg)
{
    (void)arg;
    cio_wait_for(orphan[0], 10.0, NULL);
    return NULL;
}
static void *park_wait(void *arg)
{
    (void)arg;
    cio_wait(&orphan[1], 1, CIO_ALL_COMPLETED, 10.0, NULL, NULL, NULL, NULL);
    return NULL;
}
static void *park_gather(void *arg)
{
    (void)arg;
    cio_gather(&orphan[2], 1, NULL, NULL, 0);
    return NULL;
}
static void *park_as_completed(void *arg)
{
    (void)arg;
    orphan_it = cio_as_completed_new(&orphan[3], 1, 10.0);
    cio_future *f;
    cio_as_completed_next(orphan_it, &f);
    return NULL;
}

static void t_loop_closed_under_waiters(void)
{
    check_current = "t_loop_closed_under_waiters";
    int fails = check_failures;
    cio_loop *l = cio_loop_new();
    cio_loop_set_current(l);
    for (int i = 0; i < 4; i++)
        orphan[i] = cio_future_new(l);
    cio_task_fn fns[4] = {park_wait_for, park_wait, park_gather, park_as_completed};
    cio_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = cio_spawn_ex(l, fns[i], NULL, NULL);
    cio_future *tick = cio_future_new(l);
    cio_call_later(l, 0.01, check_set_done, tick, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, tick, NULL), 0);
    cio_release(tick);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(cio_task_state(t[i]), CIO_TASK_SUSPENDED);
    CHECK_EQ(cio_loop_close(l), 0);
    cio_as_completed_free(orphan_it); /* after the loop is gone */
    for (int i = 0; i < 4; i++) {
        CHECK(!cio_done(orphan[i]));
        cio_release(orphan[i]);
        cio_release(t[i]);
    }
    fprintf(stderr, "%s %s\n", check_failures == fails ? "ok  " : "FAIL", check_current);
}

int main(void)
{
    /* timers and tasks only: the tests run on the virtual clock, so sleeps
     * and timeouts end in order at exact loop times under any load */
    setenv("CIO_VIRTUAL_TIME", "1", 1);
    RUN_TASK_TEST(t_wait_all);
    RUN_TASK_TEST(t_wait_first_completed);
    RUN_TASK_TEST(t_wait_first_exception);
    RUN_TASK_TEST(t_wait_timeout);
    RUN_TASK_TEST(t_wait_einval);
    RUN_TASK_TEST(t_wait_cancelled);
    RUN_TASK_TEST(t_wait_for_in_time);
    RUN_TASK_TEST(t_wait_for_timeout);
    RUN_TASK_TEST(t_wait_for_zero);
    RUN_TASK_TEST(t_wait_for_forever);
    RUN_TASK_TEST(t_wait_for_swallow);
    /* this one holds the loop busy past two deadlines: the real clock */
    setenv("CIO_VIRTUAL_TIME", "0", 1);
    RUN_TASK_TEST(t_wait_for_same_iteration);
    setenv("CIO_VIRTUAL_TIME", "1", 1);
    RUN_TASK_TEST(t_wait_for_cancelled);
    RUN_TASK_TEST(t_wait_for_stale_cancel);
    RUN_TASK_TEST(t_ac_order);
    RUN_TASK_TEST(t_ac_timeout);
    RUN_TASK_TEST(t_ac_done_first);
    RUN_TASK_TEST(t_ac_cancel);
    RUN_TASK_TEST(t_ac_free_early);
    RUN_TEST(t_loop_closed_under_waiters);
    return check_exit();
}
