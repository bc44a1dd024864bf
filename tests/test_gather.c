/* SPDX-License-Identifier: MIT */
/* cio_gather: asyncio.gather over tasks and plain futures.
 *
 * Reference: CPython's test_asyncio/test_gather.py and test_tasks.py
 * (gather sections): argument order, first error, return_exceptions,
 * cancellation of the outer call, children that swallow cancellation. */
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

/* ---- results in argument order ------------------------------------------ */

static void *t_order(void *arg)
{
    (void)arg;
    reset_order();
    kid k[3] = {{.id = 0, .delay = 0.03, .value = 10}, {.id = 1, .delay = 0.01, .value = 11},
                {.id = 2, .delay = 0.02, .value = 12}};
    cio_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = cio_spawn(kid_fn, &k[i]);
    void *res[3] = {(void *)1, (void *)1, (void *)1};
    int err[3] = {7, 7, 7};
    CHECK_EQ(cio_gather(t, 3, res, err, 0), 0);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ((intptr_t)res[i], 10 + i);
        CHECK_EQ(err[i], 0);
        CHECK(cio_done(t[i]));
    }
    /* completion order differs from argument order */
    CHECK_EQ(order[0], 1);
    CHECK_EQ(order[1], 2);
    CHECK_EQ(order[2], 0);
    /* results and errors may be NULL */
    CHECK_EQ(cio_gather(t, 3, NULL, NULL, 0), 0);
    for (int i = 0; i < 3; i++)
        cio_release(t[i]);
    return NULL;
}

/* ---- the first error propagates at once; the others keep running --------- */

static void *t_first_error(void *arg)
{
    (void)arg;
    reset_order();
    kid k[3] = {{.id = 0, .delay = 0.4, .value = 1},
                {.id = 1, .delay = 0.01, .fail = -EIO},
                {.id = 2, .delay = 0.3, .value = 3}};
    cio_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = cio_spawn(kid_fn, &k[i]);
    void *res[3];
    int err[3];
    double t0 = cio_time();
    CHECK_EQ(cio_gather(t, 3, res, err, 0), -EIO);
    CHECK(took(cio_time() - t0, 0.01)); /* the failure's time: not the slower ones' */
    CHECK_EQ(err[1], -EIO);
    CHECK_EQ(err[0], CIO_EINVALSTATE);
    CHECK_EQ(err[2], CIO_EINVALSTATE);
    CHECK(res[0] == NULL && res[1] == NULL && res[2] == NULL);
    CHECK(!cio_done(t[0]) && !cio_done(t[2]));
    CHECK_EQ(cio_task_cancelling(cio_current_task()), 0);
    /* the others were not cancelled and complete later */
    void *v;
    CHECK_EQ(join(t[0], &v), 0);
    CHECK_EQ((intptr_t)v, 1);
    CHECK_EQ(join(t[2], &v), 0);
    CHECK_EQ((intptr_t)v, 3);
    CHECK_EQ(k[0].sleep_rc, 0);
    CHECK_EQ(k[2].sleep_rc, 0);
    CHECK_EQ(norder, 3);
    /* the error message travels with the child */
    CHECK(cio_error_message(t[1]) && strcmp(cio_error_message(t[1]), "kid 1 failed") == 0);
    for (int i = 0; i < 3; i++)
        cio_release(t[i]);
    return NULL;
}

/* ---- CIO_RETURN_EXCEPTIONS ---------------------------------------------- */

static void cancel_cb(void *f) { cio_cancel(f, NULL); }

static void *t_return_exceptions(void *arg)
{
    (void)arg;
    reset_order();
    kid k[4] = {{.id = 0, .delay = 0.03, .value = 100},
                {.id = 1, .delay = 0.01, .fail = -EPIPE},
                {.id = 2, .delay = 1.0, .value = 5}, /* cancelled from a callback */
                {.id = 3, .delay = 0.02, .fail = -ENOENT}};
    cio_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = cio_spawn(kid_fn, &k[i]);
    CHECK_EQ(cio_call_later(cio_loop_current(), 0.015, cancel_cb, t[2], NULL), 0);
    void *res[4];
    int err[4];
    CHECK_EQ(cio_gather(t, 4, res, err, CIO_RETURN_EXCEPTIONS), 0);
    CHECK_EQ(err[0], 0);
    CHECK_EQ((intptr_t)res[0], 100);
    CHECK_EQ(err[1], -EPIPE);
    CHECK(res[1] == NULL);
    CHECK_EQ(err[2], -ECANCELED);
    CHECK(res[2] == NULL);
    CHECK_EQ(err[3], -ENOENT);
    for (int i = 0; i < 4; i++)
        CHECK(cio_done(t[i]));
    /* the gathering task was not cancelled and can go on */
    CHECK_EQ(cio_task_cancelling(cio_current_task()), 0);
    CHECK_EQ(cio_sleep(0.001), 0);
    for (int i = 0; i < 4; i++)
        cio_release(t[i]);
    return NULL;
}

/* ---- zero items ---------------------------------------------------------- */

static void *t_zero(void *arg)
{
    (void)arg;
    flag = false;
    cio_task *other = cio_spawn(set_flag, NULL);
    CHECK_EQ(cio_gather(NULL, 0, NULL, NULL, 0), 0);
    CHECK_EQ(cio_gather(NULL, 0, NULL, NULL, CIO_RETURN_EXCEPTIONS), 0);
    CHECK(!flag); /* did not suspend */
    /* does not look at a pending cancellation either */
    cio_task *self = cio_current_task();
    CHECK(cio_cancel(self, NULL));
    CHECK_EQ(cio_gather(NULL, 0, NULL, NULL, 0), 0);
    CHECK(!flag);
    CHECK_EQ(cio_yield(), -ECANCELED); /* delivered at the next real suspension */
    CHECK_EQ(cio_task_uncancel(self), 0);
    CHECK_EQ(join(other, NULL), 0);
    CHECK(flag);
    cio_release(other);
    return NULL;
}

/* ---- already-done futures ------------------------------------------------ */

static void *t_already_done(void *arg)
{
    (void)arg;
    cio_future *f[3];
    for (int i = 0; i < 3; i++)
        f[i] = cio_future_new(NULL);
    cio_future_set_result(f[0], (void *)1);
    cio_future_set_result(f[1], (void *)2);
    cio_future_set_result(f[2], (void *)3);
    flag = false;
    cio_task *other = cio_spawn(set_flag, NULL);
    void *res[3];
    int err[3];
    CHECK_EQ(cio_gather(f, 3, res, err, 0), 0);
    CHECK(!flag); /* no suspension */
    CHECK_EQ((intptr_t)res[0], 1);
    CHECK_EQ((intptr_t)res[1], 2);
    CHECK_EQ((intptr_t)res[2], 3);

    /* a done error and a done cancellation */
    cio_future *g[3];
    for (int i = 0; i < 3; i++)
        g[i] = cio_future_new(NULL);
    cio_future_set_result(g[0], (void *)9);
    cio_future_set_error(g[1], -EBADMSG, "bad");
    cio_cancel(g[2], NULL);
    CHECK_EQ(cio_gather(g, 3, res, err, CIO_RETURN_EXCEPTIONS), 0);
    CHECK_EQ(err[0], 0);
    CHECK_EQ((intptr_t)res[0], 9);
    CHECK_EQ(err[1], -EBADMSG);
    CHECK_EQ(err[2], -ECANCELED);
    CHECK_EQ(cio_gather(g, 3, res, err, 0), -EBADMSG);
    CHECK(!flag);

    /* a done error settles the gather even if others are still pending:
     * no suspension, and a pending cancellation is not looked at */
    cio_future *h[2] = {cio_future_new(NULL), g[1]};
    cio_task *self = cio_current_task();
    cio_cancel(self, NULL);
    CHECK_EQ(cio_gather(h, 2, res, err, 0), -EBADMSG);
    CHECK_EQ(err[0], CIO_EINVALSTATE);
    CHECK(!flag);
    CHECK(!cio_done(h[0])); /* not cancelled */
    CHECK_EQ(cio_yield(), -ECANCELED);
    CHECK_EQ(cio_task_uncancel(self), 0);
    cio_release(h[0]);

    /* only a cancellation among done ones, without return_exceptions:
     * -ECANCELED, an error code (the caller itself is not cancelled) */
    cio_future *c[2] = {g[0], g[2]};
    CHECK_EQ(cio_gather(c, 2, res, err, 0), -ECANCELED);
    CHECK_EQ(cio_task_cancelling(self), 0);

    CHECK_EQ(join(other, NULL), 0);
    cio_release(other);
    for (int i = 0; i < 3; i++) {
        cio_release(f[i]);
        cio_release(g[i]);
    }
    return NULL;
}

/* ---- the same future twice ------------------------------------------------ */

static void set_result_cb(void *f) { cio_future_set_result(f, (void *)77); }

static void *t_same_twice(void *arg)
{
    (void)arg;
    cio_future *f = cio_future_new(NULL);
    cio_future *g = cio_future_new(NULL);
    CHECK_EQ(cio_call_later(cio_loop_current(), 0.01, set_result_cb, f, NULL), 0);
    CHECK_EQ(cio_call_later(cio_loop_current(), 0.02, set_result_cb, g, NULL), 0);
    cio_future *v[4] = {f, g, f, f};
    void *res[4];
    int err[4];
    CHECK_EQ(cio_gather(v, 4, res, err, 0), 0);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ((intptr_t)res[i], 77);
        CHECK_EQ(err[i], 0);
    }
    cio_release(f);
    cio_release(g);

    /* a task twice */
    kid k = {.id = 0, .delay = 0.01, .value = 5};
    cio_task *t = cio_spawn(kid_fn, &k);
    cio_task *tt[2] = {t, t};
    CHECK_EQ(cio_gather(tt, 2, res, err, 0), 0);
    CHECK_EQ((intptr_t)res[0], 5);
    CHECK_EQ((intptr_t)res[1], 5);
    cio_release(t);

    /* a pending future twice, cancelled through the gather */
    f = cio_future_new(NULL);
    cio_future *ff[2] = {f, f};
    cio_task *self = cio_current_task();
    CHECK_EQ(cio_call_later(cio_loop_current(), 0.01, cancel_cb, self, NULL), 0);
    CHECK_EQ(cio_gather(ff, 2, res, err, 0), -ECANCELED);
    CHECK(cio_cancelled(f));
    CHECK_EQ(cio_task_uncancel(self), 0);
    cio_release(f);
    return NULL;
}

/* ---- cancelling the waiting task ------------------------------------------ */

typedef struct gjob {
    cio_future **futs;
    size_t n;
    int flags;
    void **res;
    int *err;
    int rc;
    bool all_done_at_return;
    double returned_at;
    bool precancel; /* cancel itself before calling gather */
} gjob;

static void *gatherer(void *arg)
{
    gjob *j = arg;
    if (j->precancel)
        cio_cancel(cio_current_task(), NULL);
    j->rc = cio_gather(j->futs, j->n, j->res, j->err, j->flags);
    j->returned_at = cio_time();
    j->all_done_at_return = true;
    for (size_t i = 0; i < j->n; i++)
        if (!cio_done(j->futs[i]))
            j->all_done_at_return = false;
    return (void *)42; /* ends cancelled anyway: the -ECANCELED propagated */
}

static void *t_cancel_gather(void *arg)
{
    (void)arg;
    reset_order();
    kid k[4] = {{.id = 0, .delay = 1.0, .value = 1, .cleanup = 0.03}, /* slow to clean up */
                {.id = 1, .delay = 0.005, .value = 2},                 /* done before the cancel */
                {.id = 2, .delay = 1.0, .value = 3},
                {.id = 3, .delay = 1.0, .value = 4, .cleanup = 0.01}};
    cio_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = cio_spawn(kid_fn, &k[i]);
    void *res[4];
    int err[4];
    gjob j = {.futs = t, .n = 4, .res = res, .err = err};
    cio_task *g = cio_spawn(gatherer, &j);
    CHECK_EQ(cio_sleep(0.02), 0);
    CHECK(k[1].finished);
    double tc = cio_time();
    CHECK(cio_cancel(g, "stop"));
    CHECK_EQ(join(g, NULL), -ECANCELED);
    CHECK_EQ(j.rc, -ECANCELED);
    CHECK(j.all_done_at_return); /* returned only after every child finished */
    CHECK(took(j.returned_at - tc, 0.03)); /* kid 0's cleanup, the slowest */
    CHECK(cio_cancelled(t[0]) && cio_cancelled(t[2]) && cio_cancelled(t[3]));
    CHECK_EQ(k[0].sleep_rc, -ECANCELED);
    CHECK_EQ(k[2].sleep_rc, -ECANCELED);
    CHECK_EQ(err[0], -ECANCELED);
    CHECK_EQ(err[1], 0);
    CHECK_EQ((intptr_t)res[1], 2);
    CHECK_EQ(err[2], -ECANCELED);
    CHECK_EQ(err[3], -ECANCELED);
    /* the cancel message reached the children */
    CHECK(cio_error_message(t[2]) && strcmp(cio_error_message(t[2]), "stop") == 0);
    /* order: 1 finished first; 2 (no cleanup), then 3, then 0 */
    CHECK_EQ(order[0], 1);
    CHECK_EQ(order[1], 2);
    CHECK_EQ(order[2], 3);
    CHECK_EQ(order[3], 0);
    CHECK_EQ(k[0].cleanup_rc, 0); /* a cancellation is delivered once: the cleanup's sleep is not cancelled */
    CHECK_EQ(k[3].cleanup_rc, 0);
    cio_release(g);
    for (int i = 0; i < 4; i++)
        cio_release(t[i]);
    return NULL;
}

/* The same with return_exceptions: still -ECANCELED (bpo-32684). */
static void *t_cancel_gather_rex(void *arg)
{
    (void)arg;
    reset_order();
    kid k[2] = {{.id = 0, .delay = 1.0}, {.id = 1, .delay = 1.0, .cleanup = 0.01}};
    cio_task *t[2];
    for (int i = 0; i < 2; i++)
        t[i] = cio_spawn(kid_fn, &k[i]);
    void *res[2];
    int err[2];
    gjob j = {.futs = t, .n = 2, .flags = CIO_RETURN_EXCEPTIONS, .res = res, .err = err};
    cio_task *g = cio_spawn(gatherer, &j);
    CHECK_EQ(cio_sleep(0.01), 0);
    cio_cancel(g, NULL);
    CHECK_EQ(join(g, NULL), -ECANCELED);
    CHECK_EQ(j.rc, -ECANCELED);
    CHECK(j.all_done_at_return);
    CHECK_EQ(err[0], -ECANCELED);
    CHECK_EQ(err[1], -ECANCELED);
    CHECK_EQ(k[1].cleanup_rc, 0);
    cio_release(g);
    for (int i = 0; i < 2; i++)
        cio_release(t[i]);
    return NULL;
}

/* A cancellation already pending when gather is called: asyncio cancels
 * the gather (and so every child) at the await. */
static void *t_cancel_pending_at_entry(void *arg)
{
    (void)arg;
    reset_order();
    kid k[2] = {{.id = 0, .delay = 1.0, .cleanup = 0.01}, {.id = 1, .delay = 1.0}};
    cio_task *t[2];
    for (int i = 0; i < 2; i++)
        t[i] = cio_spawn(kid_fn, &k[i]);
    CHECK_EQ(cio_yield(), 0); /* let the children start */
    gjob j = {.futs = t, .n = 2, .precancel = true};
    cio_task *g = cio_spawn(gatherer, &j);
    CHECK_EQ(join(g, NULL), -ECANCELED);
    CHECK_EQ(j.rc, -ECANCELED);
    CHECK(j.all_done_at_return);
    CHECK(cio_cancelled(t[0]) && cio_cancelled(t[1]));
    CHECK_EQ(k[0].cleanup_rc, 0);
    cio_release(g);
    for (int i = 0; i < 2; i++)
        cio_release(t[i]);
    return NULL;
}

/* ---- a child swallows its cancellation ------------------------------------- */

static void *t_child_swallows(void *arg)
{
    (void)arg;
    reset_order();
    kid k[2] = {{.id = 0, .delay = 1.0, .value = 1},
                {.id = 1, .delay = 1.0, .value = 42, .on_cancel = ON_CANCEL_SWALLOW}};
    cio_task *t[2];
    for (int i = 0; i < 2; i++)
        t[i] = cio_spawn(kid_fn, &k[i]);
    void *res[2];
    int err[2];
    gjob j = {.futs = t, .n = 2, .res = res, .err = err};
    cio_task *g = cio_spawn(gatherer, &j);
    CHECK_EQ(cio_sleep(0.01), 0);
    cio_cancel(g, NULL);
    CHECK_EQ(join(g, NULL), -ECANCELED);
    CHECK_EQ(j.rc, -ECANCELED); /* still cancelled, as asyncio */
    CHECK(j.all_done_at_return);
    CHECK(cio_cancelled(t[0]));
    CHECK(!cio_cancelled(t[1]));
    CHECK_EQ(err[0], -ECANCELED);
    CHECK_EQ(err[1], 0);
    CHECK_EQ((intptr_t)res[1], 42);
    cio_release(g);

    /* every child swallows: the gather is still cancelled */
    kid s[2] = {{.id = 0, .delay = 1.0, .value = 7, .on_cancel = ON_CANCEL_SWALLOW},
                {.id = 1, .delay = 1.0, .value = 8, .on_cancel = ON_CANCEL_SWALLOW}};
    cio_task *u[2];
    for (int i = 0; i < 2; i++)
        u[i] = cio_spawn(kid_fn, &s[i]);
    gjob j2 = {.futs = u, .n = 2, .res = res, .err = err};
    g = cio_spawn(gatherer, &j2);
    CHECK_EQ(cio_sleep(0.01), 0);
    cio_cancel(g, NULL);
    CHECK_EQ(join(g, NULL), -ECANCELED);
    CHECK_EQ(j2.rc, -ECANCELED);
    CHECK_EQ((intptr_t)res[0], 7);
    CHECK_EQ((intptr_t)res[1], 8);
    cio_release(g);
    for (int i = 0; i < 2; i++) {
        cio_release(t[i]);
        cio_release(u[i]);
    }

    /* a child cancelled by someone else, without return_exceptions: gather
     * returns -ECANCELED at once; the caller is not itself cancelled */
    kid c[2] = {{.id = 0, .delay = 1.0}, {.id = 1, .delay = 0.3, .value = 3}};
    for (int i = 0; i < 2; i++)
        t[i] = cio_spawn(kid_fn, &c[i]);
    CHECK_EQ(cio_call_later(cio_loop_current(), 0.01, cancel_cb, t[0], NULL), 0);
    CHECK_EQ(cio_gather(t, 2, res, err, 0), -ECANCELED);
    CHECK(!cio_done(t[1]));
    cio_task *self = cio_current_task();
    CHECK_EQ(cio_task_cancelling(self), 0);
    CHECK_EQ(join(t[1], NULL), 0);
    for (int i = 0; i < 2; i++)
        cio_release(t[i]);
    return NULL;
}

/* A child cancelled by someone else makes gather return -ECANCELED (without
 * CIO_RETURN_EXCEPTIONS), but that only reports the child: the caller was
 * not cancelled, and a task that returns afterwards ends with its value
 * (the cio_await rule).  A cancellation of the caller itself, though, is
 * delivered by gather: the task ends cancelled unless it uncancels. */
typedef struct pjob {
    cio_future *f;
    int flags;
    int rc;
} pjob;

static void *gather_one(void *arg)
{
    pjob *j = arg;
    j->rc = cio_gather(&j->f, 1, NULL, NULL, j->flags);
    return (void *)1;
}

static void *t_cancelled_child_is_an_error(void *arg)
{
    (void)arg;
    for (int flags = 0; flags <= CIO_RETURN_EXCEPTIONS; flags++) {
        for (int done_before = 0; done_before < 2; done_before++) {
            cio_future *f = cio_future_new(NULL);
            if (done_before)
                cio_cancel(f, NULL);
            else
                cio_call_later(cio_loop_current(), 0.005, cancel_cb, f, NULL);
            pjob j = {.f = f, .flags = flags};
            cio_task *t = cio_spawn(gather_one, &j);
            void *v = NULL;
            int rc = join(t, &v);
            CHECK_EQ(j.rc, flags ? 0 : -ECANCELED);
            CHECK_EQ(rc, 0);
            CHECK_EQ((intptr_t)v, 1);
            cio_release(t);
            cio_release(f);
        }
    }
    /* the caller's own cancellation: delivered, the task ends cancelled */
    for (int flags = 0; flags <= CIO_RETURN_EXCEPTIONS; flags++) {
        cio_future *f = cio_future_new(NULL);
        pjob j = {.f = f, .flags = flags};
        cio_task *t = cio_spawn(gather_one, &j);
        CHECK_EQ(cio_yield(), 0);
        cio_cancel(t, NULL);
        CHECK_EQ(join(t, NULL), -ECANCELED);
        CHECK_EQ(j.rc, -ECANCELED);
        CHECK(cio_cancelled(f));
        cio_release(t);
        cio_release(f);
    }
    return NULL;
}

/* ---- plain futures completed by callbacks ---------------------------------- */

static void set_err_cb(void *f) { cio_future_set_error(f, -ECONNRESET, "reset"); }

static void *t_plain_futures(void *arg)
{
    (void)arg;
    cio_loop *l = cio_loop_current();
    cio_future *f[3];
    for (int i = 0; i < 3; i++)
        f[i] = cio_future_new(NULL);
    /* completed in reverse order */
    CHECK_EQ(cio_call_later(l, 0.03, set_result_cb, f[0], NULL), 0);
    CHECK_EQ(cio_call_later(l, 0.02, set_result_cb, f[1], NULL), 0);
    CHECK_EQ(cio_call_soon(l, set_err_cb, f[2], NULL), 0);
    void *res[3];
    int err[3];
    CHECK_EQ(cio_gather(f, 3, res, err, CIO_RETURN_EXCEPTIONS), 0);
    CHECK_EQ((intptr_t)res[0], 77);
    CHECK_EQ((intptr_t)res[1], 77);
    CHECK_EQ(err[2], -ECONNRESET);
    CHECK(cio_error_message(f[2]) && strcmp(cio_error_message(f[2]), "reset") == 0);
    for (int i = 0; i < 3; i++)
        cio_release(f[i]);

    /* mixed: a task and a plain future, error from the plain one first */
    kid k = {.id = 0, .delay = 0.3, .value = 1};
    cio_future *m[2] = {cio_spawn(kid_fn, &k), cio_future_new(NULL)};
    CHECK_EQ(cio_call_later(l, 0.01, set_err_cb, m[1], NULL), 0);
    CHECK_EQ(cio_gather(m, 2, res, err, 0), -ECONNRESET);
    CHECK(!cio_done(m[0]));
    CHECK_EQ(join(m[0], NULL), 0);
    cio_release(m[0]);
    cio_release(m[1]);
    return NULL;
}

/* ---- 10,000 children: the heap-allocated hook array ------------------------ */

#define MANY 10000

static void *many_fn(void *arg)
{
    intptr_t i = (intptr_t)arg;
    for (int k = 0; k < (int)(i % 3); k++)
        if (cio_yield())
            return NULL;
    return (void *)(i * 2);
}

static void many_set_cb(void *arg)
{
    cio_future **f = arg;
    for (int i = MANY - 1; i >= 0; i--)
        cio_future_set_result(f[i], (void *)(intptr_t)i);
}

static void *t_gather_ten_thousand(void *arg)
{
    (void)arg;
    cio_task **t = malloc(MANY * sizeof *t);
    void **res = malloc(MANY * sizeof *res);
    int *err = malloc(MANY * sizeof *err);
    cio_task_opts o = {.stack_size = 16 * 1024};
    for (intptr_t i = 0; i < MANY; i++) {
        t[i] = cio_spawn_ex(NULL, many_fn, (void *)i, &o);
        CHECK(t[i] != NULL);
    }
    CHECK_EQ(cio_gather(t, MANY, res, err, 0), 0);
    size_t bad = 0;
    for (intptr_t i = 0; i < MANY; i++)
        bad += (intptr_t)res[i] != i * 2 || err[i] != 0;
    CHECK_EQ(bad, 0);
    for (int i = 0; i < MANY; i++)
        cio_release(t[i]);

    /* plain futures, completed in reverse order by one callback */
    for (int i = 0; i < MANY; i++)
        t[i] = cio_future_new(NULL);
    CHECK_EQ(cio_call_soon(cio_loop_current(), many_set_cb, t, NULL), 0);
    CHECK_EQ(cio_gather(t, MANY, res, NULL, 0), 0);
    bad = 0;
    for (intptr_t i = 0; i < MANY; i++)
        bad += (intptr_t)res[i] != i;
    CHECK_EQ(bad, 0);

    /* and cancelled through a large gather */
    for (int i = 0; i < MANY; i++)
        cio_release(t[i]);
    for (intptr_t i = 0; i < MANY; i++)
        t[i] = cio_future_new(NULL);
    cio_task *self = cio_current_task();
    CHECK_EQ(cio_call_later(cio_loop_current(), 0.005, cancel_cb, self, NULL), 0);
    CHECK_EQ(cio_gather(t, MANY, res, err, 0), -ECANCELED);
    bad = 0;
    for (int i = 0; i < MANY; i++)
        bad += !cio_cancelled(t[i]) || err[i] != -ECANCELED;
    CHECK_EQ(bad, 0);
    CHECK_EQ(cio_task_uncancel(self), 0);
    for (int i = 0; i < MANY; i++)
        cio_release(t[i]);
    free(t);
    free(res);
    free(err);
    return NULL;
}

/* ---- outside a task --------------------------------------------------------- */

static void t_outside_task(void)
{
    check_current = "t_outside_task";
    cio_loop *l = cio_loop_new();
    cio_future *f = cio_future_new(l);
    CHECK_EQ(cio_gather(&f, 1, NULL, NULL, 0), CIO_ENOTASK);
    cio_future_set_result(f, (void *)3);
    void *v = NULL;
    CHECK_EQ(cio_gather(&f, 1, &v, NULL, 0), 0); /* done: no task needed */
    CHECK_EQ((intptr_t)v, 3);
    cio_release(f);
    check_loop_clean(l);
    cio_loop_close(l);
}

/* ---- gather as an object (_GatheringFuture) ----------------------------- */

static void *await_it(void *arg) { return (void *)(intptr_t)cio_await(arg, NULL); }

static void *t_gather_future(void *arg)
{
    (void)arg;
    /* awaited later, after the children are done */
    kid k[2] = {{.id = 0, .delay = 0.02, .value = 1}, {.id = 1, .delay = 0.01, .value = 2}};
    cio_task *t[2];
    for (int i = 0; i < 2; i++)
        t[i] = cio_spawn(kid_fn, &k[i]);
    cio_future *g = cio_gather_future(t, 2, 0);
    CHECK(g != NULL && !cio_is_task(g));
    /* hooked before this wait's own: done by the time it returns */
    CHECK_EQ(cio_wait(t, 2, CIO_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL), 0);
    CHECK(cio_done(g));
    CHECK_EQ(cio_await(g, NULL), 0);
    void *v;
    CHECK_EQ(cio_result(t[0], &v), 0);
    CHECK_EQ((intptr_t)v, 1);
    cio_release(g);
    for (int i = 0; i < 2; i++)
        cio_release(t[i]);

    /* first error: the outer completes with it, the others keep running */
    kid e[1] = {{.id = 0, .delay = 0.01, .fail = -EIO}};
    t[0] = cio_spawn(kid_fn, &e[0]);
    t[1] = cio_future_new(NULL);
    g = cio_gather_future(t, 2, 0);
    cio_release(t[0]); /* the gathering holds its own references */
    CHECK_EQ(join(g, NULL), -EIO);
    CHECK(!cio_done(t[1]));
    cio_future_set_result(t[1], (void *)7);
    CHECK_EQ(join(t[1], &v), 0);
    CHECK_EQ((intptr_t)v, 7);
    cio_release(g);
    cio_release(t[1]);

    /* cancel(): cancels every child; the outer ends cancelled once they
     * report, with the message */
    kid c[2] = {{.id = 0, .delay = 5.0, .cleanup = 0.01}, {.id = 1, .delay = 5.0}};
    for (int i = 0; i < 2; i++)
        t[i] = cio_spawn(kid_fn, &c[i]);
    g = cio_gather_future(t, 2, CIO_RETURN_EXCEPTIONS);
    CHECK_EQ(cio_yield(), 0);
    CHECK(cio_cancel(g, "stop"));
    CHECK(!cio_done(g));
    CHECK_EQ(join(g, NULL), -ECANCELED);
    CHECK(cio_cancelled(g));
    CHECK(cio_error_message(g) && strcmp(cio_error_message(g), "stop") == 0);
    CHECK(cio_cancelled(t[0]) && cio_cancelled(t[1]));
    CHECK_EQ(c[0].cleanup_rc, 0);
    CHECK(!cio_cancel(g, NULL)); /* done */
    cio_release(g);
    for (int i = 0; i < 2; i++)
        cio_release(t[i]);

    /* shielded: cancelling the shield leaves the children alone */
    kid s[1] = {{.id = 0, .delay = 0.02, .value = 4}};
    t[0] = cio_spawn(kid_fn, &s[0]);
    g = cio_gather_future(t, 1, 0);
    cio_future *sh = cio_shield(g);
    CHECK(cio_cancel(sh, NULL));
    CHECK_EQ(join(g, NULL), 0);
    CHECK(!cio_cancelled(t[0]));
    cio_release(sh);
    cio_release(g);
    cio_release(t[0]);

    /* a task awaiting it is cancelled: the cancellation reaches the children */
    kid a[1] = {{.id = 0, .delay = 5.0}};
    t[0] = cio_spawn(kid_fn, &a[0]);
    g = cio_gather_future(t, 1, 0);
    cio_task *w = cio_spawn(await_it, g);
    CHECK_EQ(cio_yield(), 0);
    cio_cancel(w, NULL);
    CHECK_EQ(join(w, NULL), -ECANCELED);
    CHECK(cio_cancelled(g) && cio_cancelled(t[0]));
    cio_release(w);
    cio_release(g);
    cio_release(t[0]);

    /* empty: done at once; lazy children are started */
    g = cio_gather_future(NULL, 0, 0);
    CHECK(cio_done(g) && cio_result(g, NULL) == 0);
    cio_release(g);
    kid l[1] = {{.id = 0, .delay = 0, .value = 5}};
    t[0] = cio_spawn_ex(NULL, kid_fn, &l[0], &(cio_task_opts){.flags = CIO_TASK_LAZY});
    g = cio_gather_future(t, 1, 0);
    CHECK_EQ(cio_await(g, NULL), 0);
    CHECK(l[0].finished);
    cio_release(g);
    cio_release(t[0]);
    return NULL;
}

/* Tasks created with CIO_TASK_LAZY are the coroutines asyncio's gather,
 * wait_for and as_completed accept: those start them (wait_for runs one up
 * to its first suspension at once, as 3.12+ awaits it inline). */
static void *t_lazy_started(void *arg)
{
    (void)arg;
    cio_task_opts lazy = {.flags = CIO_TASK_LAZY};
    kid k[3] = {{.id = 0, .delay = 0.02, .value = 1}, {.id = 1, .delay = 0.01, .value = 2}, {.id = 2, .delay = 0, .value = 3}};
    cio_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = cio_spawn_ex(NULL, kid_fn, &k[i], &lazy);
    void *res[3];
    CHECK_EQ(cio_gather(t, 3, res, NULL, 0), 0);
    CHECK_EQ((intptr_t)res[0] + (intptr_t)res[1] + (intptr_t)res[2], 6);
    for (int i = 0; i < 3; i++) {
        cio_release(t[i]);
        k[i].finished = false;
        t[i] = cio_spawn_ex(NULL, kid_fn, &k[i], &lazy);
    }
    cio_as_completed *it = cio_as_completed_new(t, 3, CIO_NO_TIMEOUT);
    cio_future *f;
    int ids[3], n = 0;
    while (n < 3 && cio_as_completed_next(it, &f) == 0) {
        void *v;
        CHECK_EQ(cio_result(f, &v), 0);
        ids[n++] = (int)(intptr_t)v;
    }
    CHECK_EQ(n, 3);
    CHECK(ids[0] == 3 && ids[1] == 2 && ids[2] == 1); /* completion order */
    cio_as_completed_free(it);
    for (int i = 0; i < 3; i++)
        cio_release(t[i]);

    kid w = {.id = 0, .delay = 5.0};
    cio_task *lt = cio_spawn_ex(NULL, kid_fn, &w, &lazy);
    CHECK_EQ(cio_wait_for(lt, 0.01, NULL), -ETIMEDOUT);
    CHECK_EQ(w.sleep_rc, -ECANCELED); /* it ran, and was cancelled in its sleep */
    cio_release(lt);
    return NULL;
}

/* A combinator whose completion hooks are queued when the loop closes, freed
 * afterwards (as_completed documents that): nothing touches the gone loop. */
static void *complete_and_leave(void *arg)
{
    cio_future *f = arg;
    cio_as_completed *it = cio_as_completed_new(&f, 1, CIO_NO_TIMEOUT);
    cio_future_set_result(f, NULL); /* its hook is queued for the next pass */
    return it;
}

static void t_hooks_queued_at_close(void)
{
    check_current = "t_hooks_queued_at_close";
    cio_loop *l = cio_loop_new();
    CHECK(l != NULL);
    cio_future *f = cio_future_new(l);
    cio_task *t = cio_spawn_ex(l, complete_and_leave, f, NULL);
    void *it = NULL;
    CHECK_EQ(cio_loop_run_until_complete(l, t, &it), 0);
    CHECK(it != NULL);
    cio_release(t);
    CHECK_EQ(cio_loop_close(l), 0);
    cio_as_completed_free(it);
    cio_release(f);
    fprintf(stderr, "ok   t_hooks_queued_at_close\n");
}

int main(void)
{
    /* timers and tasks only: every test runs on the virtual clock, so
     * sleeps end in order at exact loop times under any load */
    setenv("CIO_VIRTUAL_TIME", "1", 1);
    RUN_TASK_TEST(t_order);
    RUN_TASK_TEST(t_first_error);
    RUN_TASK_TEST(t_return_exceptions);
    RUN_TASK_TEST(t_zero);
    RUN_TASK_TEST(t_already_done);
    RUN_TASK_TEST(t_same_twice);
    RUN_TASK_TEST(t_cancel_gather);
    RUN_TASK_TEST(t_cancel_gather_rex);
    RUN_TASK_TEST(t_cancel_pending_at_entry);
    RUN_TASK_TEST(t_child_swallows);
    RUN_TASK_TEST(t_cancelled_child_is_an_error);
    RUN_TASK_TEST(t_plain_futures);
    RUN_TASK_TEST(t_gather_ten_thousand);
    RUN_TASK_TEST(t_gather_future);
    RUN_TASK_TEST(t_lazy_started);
    RUN_TEST(t_hooks_queued_at_close);
    RUN_TEST(t_outside_task);
    return check_exit();
}
