/* SPDX-License-Identifier: MIT */
/* cio_shield: asyncio.shield.
 *
 * Reference: CPython's test_asyncio/test_tasks.py (shield sections):
 * cancelling the outer leaves the inner running, cancelling the inner
 * cancels the outer, results and errors are passed through. */
#include "check.h"
#include "lib/tasks.h"

#include <stdint.h>

/* Awaits a future (the outer) from its own task. */
typedef struct ajob {
    cio_future *f;
    int rc;
    void *v;
} ajob;

static void *awaiter(void *arg)
{
    ajob *j = arg;
    j->rc = cio_await(j->f, &j->v);
    return NULL;
}

static void *t_cancel_outer(void *arg)
{
    (void)arg;
    kid k = {.delay = 0.2, .value = 5};
    cio_task *inner = cio_spawn(kid_fn, &k);
    cio_future *outer = cio_shield(inner);
    CHECK(outer != NULL);
    CHECK(outer != inner);
    CHECK(!cio_is_task(outer));
    CHECK(!cio_done(outer));
    CHECK_EQ(cio_sleep(0.005), 0);
    CHECK(cio_cancel(outer, NULL));
    CHECK(cio_cancelled(outer));
    CHECK(!cio_done(inner));
    CHECK_EQ(cio_task_cancelling(inner), 0);
    void *v;
    CHECK_EQ(join(inner, &v), 0);
    CHECK_EQ((intptr_t)v, 5);
    CHECK_EQ(k.sleep_rc, 0);
    CHECK(cio_cancelled(outer)); /* stays cancelled */
    CHECK_EQ(cio_result(outer, NULL), -ECANCELED);
    cio_release(outer);
    cio_release(inner);
    return NULL;
}

static void *t_cancel_awaiter(void *arg)
{
    (void)arg;
    kid k = {.delay = 0.3, .value = 6};
    cio_task *inner = cio_spawn(kid_fn, &k);
    cio_future *outer = cio_shield(inner);
    ajob j = {.f = outer};
    cio_task *a = cio_spawn(awaiter, &j);
    CHECK_EQ(cio_sleep(0.01), 0);
    cio_cancel(a, NULL);
    CHECK_EQ(join(a, NULL), -ECANCELED);
    CHECK_EQ(j.rc, -ECANCELED);
    CHECK(cio_cancelled(outer)); /* the await cancelled the outer */
    CHECK(!cio_done(inner));     /* ... but not the inner */
    void *v;
    CHECK_EQ(join(inner, &v), 0);
    CHECK_EQ((intptr_t)v, 6);
    cio_release(a);
    cio_release(outer);
    cio_release(inner);

    /* a plain inner future, awaited through wait_for with a timeout: the
     * timeout cancels the outer only */
    cio_future *pf = cio_future_new(NULL);
    outer = cio_shield(pf);
    CHECK_EQ(cio_wait_for(outer, 0.01, NULL), -ETIMEDOUT);
    CHECK(cio_cancelled(outer));
    CHECK(!cio_done(pf));
    CHECK_EQ(cio_future_set_result(pf, (void *)3), 0);
    cio_release(outer);
    cio_release(pf);
    return NULL;
}

static void *t_cancel_inner(void *arg)
{
    (void)arg;
    kid k = {.delay = 1.0};
    cio_task *inner = cio_spawn(kid_fn, &k);
    cio_future *outer = cio_shield(inner);
    ajob j = {.f = outer};
    cio_task *a = cio_spawn(awaiter, &j);
    CHECK_EQ(cio_sleep(0.01), 0);
    cio_cancel(inner, "inner stop");
    /* the awaiter gets -ECANCELED, an error code: it was not itself cancelled */
    CHECK_EQ(join(a, NULL), 0);
    CHECK_EQ(j.rc, -ECANCELED);
    CHECK(cio_cancelled(inner));
    CHECK(cio_cancelled(outer));
    CHECK(cio_error_message(outer) && strcmp(cio_error_message(outer), "inner stop") == 0);
    cio_release(a);
    cio_release(outer);
    cio_release(inner);

    /* plain inner future cancelled */
    cio_future *pf = cio_future_new(NULL);
    outer = cio_shield(pf);
    cio_cancel(pf, NULL);
    /* as asyncio's _inner_done_callback: on the loop's next pass */
    CHECK(!cio_done(outer));
    CHECK_EQ(cio_yield(), 0);
    CHECK(cio_cancelled(outer));
    cio_release(outer);
    cio_release(pf);
    return NULL;
}

static void *t_inner_error(void *arg)
{
    (void)arg;
    kid k = {.delay = 0.01, .fail = -ECONNREFUSED};
    cio_task *inner = cio_spawn(kid_fn, &k);
    cio_future *outer = cio_shield(inner);
    void *v = (void *)1;
    CHECK_EQ(join(outer, &v), -ECONNREFUSED);
    CHECK(v == NULL);
    CHECK(cio_done(outer) && !cio_cancelled(outer));
    CHECK(cio_error_message(outer) && strcmp(cio_error_message(outer), "kid 0 failed") == 0);
    /* the outer carries the error: the inner's counts as retrieved */
    CHECK(inner->retrieved);
    cio_release(outer);
    cio_release(inner);

    /* result passes through, awaited directly */
    kid r = {.delay = 0.01, .value = 12};
    inner = cio_spawn(kid_fn, &r);
    outer = cio_shield(inner);
    CHECK_EQ(cio_await(outer, &v), 0);
    CHECK_EQ((intptr_t)v, 12);
    cio_release(outer);
    cio_release(inner);

    /* the outer was cancelled, the inner fails later: nobody is left to
     * look at the error, which is marked retrieved (no debug report) */
    kid e = {.delay = 0.01, .fail = -EIO};
    inner = cio_spawn(kid_fn, &e);
    outer = cio_shield(inner);
    cio_cancel(outer, NULL);
    /* the shield's hook runs before this wait's (no cio_result here) */
    CHECK_EQ(cio_wait(&inner, 1, CIO_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL), 0);
    CHECK(cio_done(inner));
    CHECK(inner->retrieved);
    cio_release(outer);
    cio_release(inner);
    return NULL;
}

static void *t_done_inner(void *arg)
{
    (void)arg;
    cio_future *f = cio_future_new(NULL);
    cio_future_set_result(f, (void *)8);
    cio_future *outer = cio_shield(f);
    CHECK(outer != NULL);
    CHECK(cio_done(outer));
    void *v;
    CHECK_EQ(cio_result(outer, &v), 0);
    CHECK_EQ((intptr_t)v, 8);
    CHECK(!cio_cancel(outer, NULL)); /* already done */
    cio_release(outer);
    cio_release(f);

    f = cio_future_new(NULL);
    cio_future_set_error(f, -ENOSPC, "full");
    outer = cio_shield(f);
    CHECK_EQ(cio_result(outer, NULL), -ENOSPC);
    CHECK(strcmp(cio_error_message(outer), "full") == 0);
    cio_release(outer);
    cio_release(f);

    f = cio_future_new(NULL);
    cio_cancel(f, NULL);
    outer = cio_shield(f);
    CHECK(cio_cancelled(outer));
    cio_release(outer);
    cio_release(f);

    /* a finished task */
    kid k = {.delay = 0, .value = 4};
    cio_task *t = cio_spawn(kid_fn, &k);
    CHECK_EQ(join(t, NULL), 0);
    outer = cio_shield(t);
    CHECK_EQ(cio_result(outer, &v), 0);
    CHECK_EQ((intptr_t)v, 4);
    cio_release(outer);
    cio_release(t);
    return NULL;
}

/* The outer is released while the inner still runs: no leak, no
 * use-after-free when the inner completes (ASan checks). */
static void *t_release_outer_early(void *arg)
{
    (void)arg;
    kid k = {.delay = 0.02, .value = 1};
    cio_task *inner = cio_spawn(kid_fn, &k);
    cio_future *outer = cio_shield(inner);
    cio_release(outer);
    void *v;
    CHECK_EQ(join(inner, &v), 0);
    CHECK_EQ((intptr_t)v, 1);
    cio_release(inner);

    /* inner released too, before it finishes: the task runs on */
    kid k2 = {.delay = 0.02, .value = 2};
    inner = cio_spawn(kid_fn, &k2);
    outer = cio_shield(inner);
    cio_release(inner);
    cio_release(outer);
    CHECK_EQ(cio_sleep(0.04), 0);
    CHECK(k2.finished);

    /* cancelled outer released, then inner fails */
    kid k3 = {.delay = 0.01, .fail = -EIO};
    inner = cio_spawn(kid_fn, &k3);
    outer = cio_shield(inner);
    cio_cancel(outer, NULL);
    cio_release(outer);
    CHECK_EQ(join(inner, NULL), -EIO);
    cio_release(inner);

    /* a plain inner future: outer released, then the inner completes */
    cio_future *pf = cio_future_new(NULL);
    outer = cio_shield(pf);
    cio_release(outer);
    cio_future_set_result(pf, NULL);
    cio_release(pf);

    /* several shields on one inner, some released */
    kid k4 = {.delay = 0.01, .value = 9};
    inner = cio_spawn(kid_fn, &k4);
    cio_future *o[3];
    for (int i = 0; i < 3; i++)
        o[i] = cio_shield(inner);
    cio_release(o[0]);
    cio_cancel(o[1], NULL);
    CHECK_EQ(join(o[2], &v), 0);
    CHECK_EQ((intptr_t)v, 9);
    CHECK(cio_cancelled(o[1]));
    cio_release(o[1]);
    cio_release(o[2]);
    cio_release(inner);
    return NULL;
}

/* A shield of a shield, and an outer awaited by gather. */
static void *t_nested(void *arg)
{
    (void)arg;
    kid k = {.delay = 0.02, .value = 3};
    cio_task *inner = cio_spawn(kid_fn, &k);
    cio_future *s1 = cio_shield(inner);
    cio_future *s2 = cio_shield(s1);
    cio_cancel(s2, NULL);
    CHECK(!cio_done(s1));
    void *v;
    CHECK_EQ(join(s1, &v), 0);
    CHECK_EQ((intptr_t)v, 3);
    cio_release(s2);
    cio_release(s1);
    cio_release(inner);
    return NULL;
}

int main(void)
{
    /* timers and tasks only: every test runs on the virtual clock, so
     * sleeps end in order under any load */
    setenv("CIO_VIRTUAL_TIME", "1", 1);
    RUN_TASK_TEST(t_cancel_outer);
    RUN_TASK_TEST(t_cancel_awaiter);
    RUN_TASK_TEST(t_cancel_inner);
    RUN_TASK_TEST(t_inner_error);
    RUN_TASK_TEST(t_done_inner);
    RUN_TASK_TEST(t_release_outer_early);
    RUN_TASK_TEST(t_nested);
    return check_exit();
}
