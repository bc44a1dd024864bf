/* SPDX-License-Identifier: MIT */
/* Scoped timeouts: asyncio.timeout / timeout_at (3.11+).
 *
 * Reference: CPython's test_asyncio/test_timeouts.py: expiry turns the
 * cancellation into TimeoutError at exit, nested scopes only report their
 * own expiry, outer cancellations are never turned into timeouts,
 * reschedule, when(), expired(). */
#include "check.h"
#include "lib/tasks.h"

#include <stdint.h>

static cio_task *self(void) { return cio_current_task(); }
static size_t ntimers(void) { return cio__wheel_count(&cio_loop_current()->wheel); }

/* ---- expiry ----------------------------------------------------------------- */

static void *t_expires(void *arg)
{
    (void)arg;
    cio_timeout s;
    double t0 = cio_time();
    CHECK_EQ(cio_timeout_enter(&s, 0.02), 0);
    CHECK_EQ(ntimers(), 1);
    CHECK(!cio_timeout_expired(&s));
    int rc = cio_sleep(5.0);
    double dt = cio_time() - t0;
    CHECK_EQ(rc, -ECANCELED);
    CHECK(took(dt, 0.02));
    CHECK(cio_timeout_expired(&s)); /* already before exit */
    CHECK_EQ(cio_task_cancelling(self()), 1);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
    CHECK(cio_timeout_expired(&s));
    /* the task is not cancelled afterwards */
    CHECK_EQ(cio_task_cancelling(self()), 0);
    CHECK_EQ(cio_sleep(0.002), 0);
    CHECK_EQ(ntimers(), 0);
    /* exiting twice changes nothing */
    CHECK_EQ(cio_timeout_exit(&s, -ECANCELED), -ECANCELED);

    /* a deadline already past: the first suspension is cancelled */
    CHECK_EQ(cio_timeout_enter(&s, 0), 0);
    rc = cio_sleep(5.0);
    CHECK_EQ(rc, -ECANCELED);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
    CHECK_EQ(cio_timeout_enter_at(&s, cio_time() - 10), 0);
    rc = cio_yield();
    CHECK_EQ(rc, -ECANCELED);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);

    /* the body handles the -ECANCELED itself and ends with 0: no timeout
     * reported, the cancellation is still withdrawn */
    CHECK_EQ(cio_timeout_enter(&s, 0.01), 0);
    rc = cio_sleep(5.0);
    CHECK_EQ(rc, -ECANCELED);
    CHECK_EQ(cio_timeout_exit(&s, 0), 0);
    CHECK(cio_timeout_expired(&s));
    CHECK_EQ(cio_task_cancelling(self()), 0);
    CHECK_EQ(cio_sleep(0.001), 0);

    /* the body passes another error: unchanged */
    CHECK_EQ(cio_timeout_enter(&s, 0.01), 0);
    CHECK_EQ(cio_sleep(5.0), -ECANCELED);
    CHECK_EQ(cio_timeout_exit(&s, -EIO), -EIO);
    CHECK_EQ(cio_task_cancelling(self()), 0);
    return NULL;
}

/* Every suspending call inside the scope respects it (children: tasks.h's kid). */
static void *t_expires_in_combinators(void *arg)
{
    (void)arg;
    cio_timeout s;
    /* await */
    kid k = {.delay = 5.0};
    cio_task *t = cio_spawn(kid_fn, &k);
    cio_timeout_enter(&s, 0.01);
    int rc = cio_await(t, NULL);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
    CHECK(cio_cancelled(t));
    cio_release(t);
    /* gather: the children are cancelled and awaited */
    kid g[2] = {{.delay = 5.0}, {.delay = 5.0}};
    cio_task *gt[2] = {cio_spawn(kid_fn, &g[0]), cio_spawn(kid_fn, &g[1])};
    cio_timeout_enter(&s, 0.01);
    rc = cio_gather(gt, 2, NULL, NULL, 0);
    CHECK_EQ(rc, -ECANCELED);
    CHECK(cio_done(gt[0]) && cio_done(gt[1]));
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
    cio_release(gt[0]);
    cio_release(gt[1]);
    /* wait: nothing cancelled */
    kid w = {.delay = 0.3};
    t = cio_spawn(kid_fn, &w);
    cio_timeout_enter(&s, 0.01);
    rc = cio_wait(&t, 1, CIO_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL);
    CHECK_EQ(rc, -ECANCELED);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
    CHECK(!cio_done(t));
    CHECK_EQ(join(t, NULL), 0);
    cio_release(t);
    /* wait_for with a longer timeout of its own: the scope reports */
    cio_future *f = cio_future_new(NULL);
    cio_timeout_enter(&s, 0.01);
    rc = cio_wait_for(f, 5.0, NULL);
    CHECK_EQ(rc, -ECANCELED);
    CHECK(cio_cancelled(f));
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
    cio_release(f);
    /* wait_for with a shorter timeout: its -ETIMEDOUT passes through */
    f = cio_future_new(NULL);
    cio_timeout_enter(&s, 5.0);
    rc = cio_wait_for(f, 0.01, NULL);
    CHECK_EQ(rc, -ETIMEDOUT);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
    CHECK(!cio_timeout_expired(&s));
    cio_release(f);
    CHECK_EQ(cio_task_cancelling(self()), 0);
    CHECK_EQ(ntimers(), 0);
    return NULL;
}

/* ---- no expiry -------------------------------------------------------------------- */

static void *t_no_expiry(void *arg)
{
    (void)arg;
    cio_timeout s;
    CHECK_EQ(cio_timeout_enter(&s, 1.0), 0);
    CHECK_EQ(cio_sleep(0.01), 0);
    CHECK_EQ(cio_timeout_exit(&s, 0), 0);
    CHECK(!cio_timeout_expired(&s));
    CHECK_EQ(ntimers(), 0); /* its timer is gone */
    CHECK_EQ(cio_timeout_enter(&s, 1.0), 0);
    CHECK_EQ(cio_timeout_exit(&s, -EIO), -EIO);
    CHECK_EQ(cio_timeout_enter(&s, 1.0), 0);
    CHECK_EQ(cio_timeout_exit(&s, 42), 42);
    /* -ECANCELED that is not the scope's passes through (here: an awaited
     * future cancelled by someone else) */
    cio_future *f = cio_future_new(NULL);
    cio_cancel(f, NULL);
    CHECK_EQ(cio_timeout_enter(&s, 1.0), 0);
    int rc = cio_await(f, NULL);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ECANCELED);
    cio_release(f);
    CHECK_EQ(ntimers(), 0);
    CHECK_EQ(cio_task_cancelling(self()), 0);
    return NULL;
}

/* ---- nested scopes ------------------------------------------------------------------ */

static void *t_nested(void *arg)
{
    (void)arg;
    cio_timeout outer, inner;
    /* inner shorter: the inner reports, the outer passes its result on */
    CHECK_EQ(cio_timeout_enter(&outer, 1.0), 0);
    CHECK_EQ(cio_timeout_enter(&inner, 0.01), 0);
    int rc = cio_sleep(5.0);
    CHECK_EQ(rc, -ECANCELED);
    rc = cio_timeout_exit(&inner, rc);
    CHECK_EQ(rc, -ETIMEDOUT);
    CHECK(cio_timeout_expired(&inner));
    CHECK_EQ(cio_sleep(0.005), 0); /* still inside the outer scope, not cancelled */
    rc = cio_timeout_exit(&outer, rc);
    CHECK_EQ(rc, -ETIMEDOUT); /* passed through: the TimeoutError propagates */
    CHECK(!cio_timeout_expired(&outer));
    CHECK_EQ(cio_task_cancelling(self()), 0);

    /* outer shorter: the inner passes -ECANCELED through, the outer reports */
    CHECK_EQ(cio_timeout_enter(&outer, 0.01), 0);
    CHECK_EQ(cio_timeout_enter(&inner, 1.0), 0);
    rc = cio_sleep(5.0);
    CHECK_EQ(rc, -ECANCELED);
    rc = cio_timeout_exit(&inner, rc);
    CHECK_EQ(rc, -ECANCELED);
    CHECK(!cio_timeout_expired(&inner));
    CHECK(cio_timeout_expired(&outer));
    rc = cio_timeout_exit(&outer, rc);
    CHECK_EQ(rc, -ETIMEDOUT);
    CHECK_EQ(cio_task_cancelling(self()), 0);

    /* both expire in the same loop iteration (both deadlines already past
     * when the task suspends, in either order): the inner sees a second
     * cancellation that is not its own and passes -ECANCELED; the outer
     * reports */
    for (int outer_first = 0; outer_first < 2; outer_first++) {
        double now = cio_time();
        CHECK_EQ(cio_timeout_enter_at(&outer, now - (outer_first ? 0.02 : 0.01)), 0);
        CHECK_EQ(cio_timeout_enter_at(&inner, now - (outer_first ? 0.01 : 0.02)), 0);
        rc = cio_sleep(5.0);
        CHECK_EQ(rc, -ECANCELED);
        CHECK(cio_timeout_expired(&inner) && cio_timeout_expired(&outer));
        CHECK_EQ(cio_task_cancelling(self()), 2);
        rc = cio_timeout_exit(&inner, rc);
        CHECK_EQ(rc, -ECANCELED);
        rc = cio_timeout_exit(&outer, rc);
        CHECK_EQ(rc, -ETIMEDOUT);
        CHECK_EQ(cio_task_cancelling(self()), 0);
    }

    /* three levels, the middle one expires */
    cio_timeout mid;
    CHECK_EQ(cio_timeout_enter(&outer, 1.0), 0);
    CHECK_EQ(cio_timeout_enter(&mid, 0.01), 0);
    CHECK_EQ(cio_timeout_enter(&inner, 1.0), 0);
    rc = cio_sleep(5.0);
    rc = cio_timeout_exit(&inner, rc);
    CHECK_EQ(rc, -ECANCELED);
    rc = cio_timeout_exit(&mid, rc);
    CHECK_EQ(rc, -ETIMEDOUT);
    rc = cio_timeout_exit(&outer, rc);
    CHECK_EQ(rc, -ETIMEDOUT);
    CHECK_EQ(cio_task_cancelling(self()), 0);
    CHECK_EQ(ntimers(), 0);
    return NULL;
}

/* ---- outer cancellation --------------------------------------------------------------- */

typedef struct sjob {
    double delay;     /* the scope's */
    double cleanup;   /* after the -ECANCELED, sleep this long inside the scope */
    int sleep_rc;
    int cleanup_rc;
    int exit_rc;
    bool expired;
    int cancelling_after;
} sjob;

static void *scoped_sleeper(void *arg)
{
    sjob *j = arg;
    cio_timeout s;
    cio_timeout_enter(&s, j->delay);
    j->sleep_rc = cio_sleep(5.0);
    if (j->cleanup > 0)
        j->cleanup_rc = cio_sleep(j->cleanup);
    j->exit_rc = cio_timeout_exit(&s, j->sleep_rc);
    j->expired = cio_timeout_expired(&s);
    j->cancelling_after = cio_task_cancelling(cio_current_task());
    return (void *)1;
}

static void *t_outer_cancel(void *arg)
{
    (void)arg;
    /* cancelled from outside inside a scope: not a timeout */
    sjob j = {.delay = 1.0};
    cio_task *t = cio_spawn(scoped_sleeper, &j);
    CHECK_EQ(cio_sleep(0.01), 0);
    cio_cancel(t, NULL);
    CHECK_EQ(join(t, NULL), -ECANCELED);
    CHECK_EQ(j.sleep_rc, -ECANCELED);
    CHECK_EQ(j.exit_rc, -ECANCELED);
    CHECK(!j.expired);
    CHECK_EQ(j.cancelling_after, 1);
    cio_release(t);

    /* cancelled from outside, then the scope expires during the cleanup:
     * still -ECANCELED */
    sjob j2 = {.delay = 0.1, .cleanup = 0.3};
    t = cio_spawn(scoped_sleeper, &j2);
    CHECK_EQ(cio_sleep(0.005), 0);
    cio_cancel(t, NULL);
    CHECK_EQ(join(t, NULL), -ECANCELED);
    CHECK_EQ(j2.sleep_rc, -ECANCELED);
    CHECK_EQ(j2.cleanup_rc, -ECANCELED); /* the scope's own cancellation */
    CHECK(j2.expired);
    CHECK_EQ(j2.exit_rc, -ECANCELED);
    CHECK_EQ(j2.cancelling_after, 1);
    cio_release(t);

    /* the scope expires, then an outside cancellation arrives during the
     * cleanup: -ECANCELED (the outer request wins) */
    sjob j3 = {.delay = 0.005, .cleanup = 0.3};
    t = cio_spawn(scoped_sleeper, &j3);
    CHECK_EQ(cio_sleep(0.02), 0);
    cio_cancel(t, NULL);
    CHECK_EQ(join(t, NULL), -ECANCELED);
    CHECK_EQ(j3.sleep_rc, -ECANCELED);
    CHECK_EQ(j3.cleanup_rc, -ECANCELED);
    CHECK(j3.expired);
    CHECK_EQ(j3.exit_rc, -ECANCELED);
    CHECK_EQ(j3.cancelling_after, 1);
    cio_release(t);
    return NULL;
}

/* An outside cancellation swallowed (uncancel) before the scope expires does
 * not prevent the timeout. */
static void *swallow_then_expire(void *arg)
{
    int *out = arg;
    cio_timeout s;
    cio_timeout_enter(&s, 0.2);
    int rc = cio_sleep(5.0); /* cancelled from outside */
    CHECK_EQ(rc, -ECANCELED);
    CHECK_EQ(cio_task_uncancel(cio_current_task()), 0);
    rc = cio_sleep(5.0); /* the scope */
    out[0] = rc;
    out[1] = cio_timeout_exit(&s, rc);
    return (void *)1;
}

static void *t_swallowed_outer_cancel(void *arg)
{
    (void)arg;
    int out[2] = {0, 0};
    cio_task *t = cio_spawn(swallow_then_expire, out);
    CHECK_EQ(cio_sleep(0.01), 0);
    cio_cancel(t, NULL);
    void *v;
    CHECK_EQ(join(t, &v), 0);
    CHECK_EQ((intptr_t)v, 1);
    CHECK_EQ(out[0], -ECANCELED);
    CHECK_EQ(out[1], -ETIMEDOUT);
    cio_release(t);
    return NULL;
}

/* ---- reschedule ------------------------------------------------------------------------ */

static void *t_reschedule(void *arg)
{
    (void)arg;
    cio_timeout s;
    /* extend */
    CHECK_EQ(cio_timeout_enter(&s, 0.01), 0);
    double w = cio_time() + 0.2;
    CHECK_EQ(cio_timeout_reschedule(&s, w), 0);
    CHECK(cio_timeout_when(&s) == w);
    CHECK_EQ(cio_sleep(0.03), 0);
    CHECK_EQ(cio_timeout_exit(&s, 0), 0);
    CHECK_EQ(ntimers(), 0);

    /* shorten */
    double t0 = cio_time();
    CHECK_EQ(cio_timeout_enter(&s, 5.0), 0);
    CHECK_EQ(cio_timeout_reschedule(&s, cio_time() + 0.01), 0);
    int rc = cio_sleep(5.0);
    CHECK_EQ(rc, -ECANCELED);
    CHECK(took(cio_time() - t0, 0.01)); /* the new deadline, not the 5 s one */
    /* after expiry: refused */
    CHECK_EQ(cio_timeout_reschedule(&s, cio_time() + 1.0), CIO_EINVALSTATE);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
    CHECK_EQ(cio_timeout_reschedule(&s, cio_time() + 1.0), CIO_EINVALSTATE);

    /* remove */
    CHECK_EQ(cio_timeout_enter(&s, 0.01), 0);
    CHECK_EQ(cio_timeout_reschedule(&s, CIO_NO_TIMEOUT), 0);
    CHECK(cio_timeout_when(&s) == CIO_NO_TIMEOUT);
    CHECK_EQ(ntimers(), 0);
    CHECK_EQ(cio_sleep(0.03), 0);
    CHECK(!cio_timeout_expired(&s));
    /* and set again */
    CHECK_EQ(cio_timeout_reschedule(&s, cio_time() + 0.01), 0);
    rc = cio_sleep(5.0);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);

    /* into the past: fires at the next loop iteration */
    CHECK_EQ(cio_timeout_enter(&s, 5.0), 0);
    CHECK_EQ(cio_timeout_reschedule(&s, cio_time() - 1.0), 0);
    rc = cio_yield();
    CHECK_EQ(rc, -ECANCELED);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);

    /* a scope without a deadline gets one later */
    CHECK_EQ(cio_timeout_enter(&s, CIO_NO_TIMEOUT), 0);
    CHECK_EQ(ntimers(), 0);
    CHECK_EQ(cio_timeout_reschedule(&s, cio_time() + 0.01), 0);
    CHECK_EQ(ntimers(), 1);
    rc = cio_sleep(5.0);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);

    /* after a normal exit: refused */
    CHECK_EQ(cio_timeout_enter(&s, 1.0), 0);
    CHECK_EQ(cio_timeout_exit(&s, 0), 0);
    CHECK_EQ(cio_timeout_reschedule(&s, cio_time() + 1.0), CIO_EINVALSTATE);
    CHECK_EQ(ntimers(), 0);
    CHECK_EQ(cio_task_cancelling(self()), 0);
    return NULL;
}

/* ---- when / expired ---------------------------------------------------------------------- */

static void *t_when(void *arg)
{
    (void)arg;
    cio_timeout s;
    double now = cio_time();
    CHECK_EQ(cio_timeout_enter(&s, 0.5), 0);
    CHECK(fabs(cio_timeout_when(&s) - (now + 0.5)) < 0.05);
    CHECK(!cio_timeout_expired(&s));
    CHECK_EQ(cio_timeout_exit(&s, 0), 0);

    double at = cio_time() + 0.25;
    CHECK_EQ(cio_timeout_enter_at(&s, at), 0);
    CHECK(cio_timeout_when(&s) == at);
    CHECK_EQ(cio_timeout_exit(&s, 0), 0);

    /* no deadline: CIO_NO_TIMEOUT (NaN reads as none) and no timer */
    double none[] = {CIO_NO_TIMEOUT, NAN};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        CHECK_EQ(cio_timeout_enter(&s, none[i]), 0);
        CHECK(cio_timeout_when(&s) == CIO_NO_TIMEOUT);
        CHECK_EQ(ntimers(), 0);
        CHECK_EQ(cio_timeout_exit(&s, 0), 0);
        CHECK_EQ(cio_timeout_enter_at(&s, none[i]), 0);
        CHECK(cio_timeout_when(&s) == CIO_NO_TIMEOUT);
        CHECK_EQ(ntimers(), 0);
        CHECK_EQ(cio_timeout_reschedule(&s, none[i]), 0);
        CHECK(cio_timeout_when(&s) == CIO_NO_TIMEOUT);
        CHECK_EQ(ntimers(), 0);
        CHECK_EQ(cio_timeout_exit(&s, 0), 0);
    }

    /* a negative delay (a deadline - now that went negative) has expired,
     * as asyncio.timeout(-11): it used to mean "no deadline" */
    double past[] = {-1, -0.001, -1e300};
    for (size_t i = 0; i < sizeof past / sizeof past[0]; i++) {
        double t0 = cio_time();
        CHECK_EQ(cio_timeout_enter(&s, past[i]), 0);
        CHECK(cio_timeout_when(&s) <= t0);
        int rc = cio_yield();
        CHECK_EQ(rc, -ECANCELED);
        CHECK(cio_timeout_expired(&s));
        CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
        CHECK_EQ(cio_timeout_enter_at(&s, past[i]), 0);
        CHECK(cio_timeout_when(&s) == past[i]);
        rc = cio_sleep(5.0);
        CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
    }
    CHECK_EQ(cio_task_cancelling(self()), 0);

    /* expired: after the deadline cancelled the task, before and after exit */
    CHECK_EQ(cio_timeout_enter(&s, 0.005), 0);
    int rc = cio_sleep(1.0);
    CHECK(cio_timeout_expired(&s));
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
    CHECK(cio_timeout_expired(&s));
    return NULL;
}

/* ---- a scope around a task group ------------------------------------------------------------ */

static void *t_around_group(void *arg)
{
    (void)arg;
    /* expires while the body waits for the children */
    cio_timeout s;
    CHECK_EQ(cio_timeout_enter(&s, 0.02), 0);
    cio_group *g = cio_group_new();
    kid k[2] = {{.delay = 5.0, .cleanup = 0.01}, {.delay = 5.0}};
    cio_task *t[2];
    for (int i = 0; i < 2; i++)
        t[i] = cio_group_spawn(g, kid_fn, &k[i], NULL);
    int rc = cio_group_wait(g);
    CHECK_EQ(rc, -ECANCELED);
    CHECK(cio_cancelled(t[0]) && cio_cancelled(t[1]));
    CHECK(k[0].finished && k[1].finished);
    cio_group_free(g);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
    CHECK_EQ(cio_task_cancelling(self()), 0);
    CHECK_EQ(cio_sleep(0.001), 0);

    /* expires while the body itself sleeps inside the group */
    CHECK_EQ(cio_timeout_enter(&s, 0.02), 0);
    g = cio_group_new();
    kid m = {.delay = 5.0};
    cio_task *mt = cio_group_spawn(g, kid_fn, &m, NULL);
    rc = cio_sleep(5.0);
    CHECK_EQ(rc, -ECANCELED);
    rc = cio_group_wait(g);
    CHECK_EQ(rc, -ECANCELED);
    CHECK(cio_cancelled(mt));
    cio_group_free(g);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
    CHECK_EQ(cio_task_cancelling(self()), 0);

    /* the group finishes in time */
    CHECK_EQ(cio_timeout_enter(&s, 1.0), 0);
    g = cio_group_new();
    kid q = {.delay = 0.01};
    cio_group_spawn(g, kid_fn, &q, NULL);
    rc = cio_group_wait(g);
    cio_group_free(g);
    CHECK_EQ(cio_timeout_exit(&s, rc), 0);

    /* a child fails inside a scope: its error passes through the scope */
    CHECK_EQ(cio_timeout_enter(&s, 1.0), 0);
    g = cio_group_new();
    kid e[2] = {{.delay = 0.01, .fail = -EIO}, {.delay = 5.0}};
    for (int i = 0; i < 2; i++)
        cio_group_spawn(g, kid_fn, &e[i], NULL);
    rc = cio_sleep(5.0);
    CHECK_EQ(rc, -ECANCELED); /* the group's cancellation */
    rc = cio_group_wait(g);
    CHECK_EQ(rc, -EIO);
    cio_group_free(g);
    CHECK_EQ(cio_timeout_exit(&s, rc), -EIO);
    CHECK(!cio_timeout_expired(&s));
    CHECK_EQ(cio_task_cancelling(self()), 0);

    /* a scope inside the group body that expires: the group is unaffected */
    g = cio_group_new();
    kid r = {.delay = 0.04};
    cio_task *rt = cio_group_spawn(g, kid_fn, &r, NULL);
    CHECK_EQ(cio_timeout_enter(&s, 0.01), 0);
    rc = cio_sleep(5.0);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
    CHECK_EQ(cio_group_wait(g), 0);
    CHECK(!cio_cancelled(rt));
    cio_group_free(g);
    CHECK_EQ(ntimers(), 0);
    return NULL;
}

/* A scope opened after a failure cancelled the body but before the group
 * exits: the group's cancellation is not mistaken for the scope's. */
static void *t_group_cancel_not_timeout(void *arg)
{
    (void)arg;
    cio_group *g = cio_group_new();
    kid e = {.delay = 0.005, .fail = -EIO};
    cio_group_spawn(g, kid_fn, &e, NULL);
    cio_timeout s;
    CHECK_EQ(cio_timeout_enter(&s, 0.5), 0);
    int rc = cio_sleep(5.0);
    CHECK_EQ(rc, -ECANCELED);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ECANCELED);
    CHECK_EQ(cio_group_wait(g), -EIO);
    cio_group_free(g);
    CHECK_EQ(cio_task_cancelling(self()), 0);
    return NULL;
}

/* A negative timeout has expired already, as in asyncio (it used to mean
 * "none", so a computed deadline - now that went negative disabled it):
 * wait_for cancels at once, wait and as_completed return on the next pass. */
static void *t_negative_timeout_expired(void *arg)
{
    (void)arg;
    kid k = {.delay = 5.0};
    cio_task *t = cio_spawn(kid_fn, &k);
    CHECK_EQ(cio_yield(), 0); /* started, parked in its sleep */
    void *v = (void *)1;
    CHECK_EQ(cio_wait_for(t, -1, &v), -ETIMEDOUT);
    CHECK(v == NULL);
    CHECK(cio_cancelled(t));
    cio_release(t);
    cio_future *f = cio_future_new(NULL);
    CHECK_EQ(cio_wait_for(f, -0.5, &v), -ETIMEDOUT);
    CHECK(cio_cancelled(f));
    cio_release(f);

    f = cio_future_new(NULL);
    size_t nd = 9, np = 9;
    cio_future *pending[1];
    CHECK_EQ(cio_wait(&f, 1, CIO_ALL_COMPLETED, -1, NULL, &nd, pending, &np), 0);
    CHECK_EQ(nd, 0);
    CHECK_EQ(np, 1);
    CHECK(!cio_done(f));
    cio_as_completed *it = cio_as_completed_new(&f, 1, -3);
    CHECK(it != NULL);
    cio_future *out;
    CHECK_EQ(cio_as_completed_next(it, &out), -ETIMEDOUT);
    cio_as_completed_free(it);
    CHECK(!cio_done(f)); /* neither cancels anything */
    cio_release(f);
    return NULL;
}

static void t_outside_task(void)
{
    check_current = "t_outside_task";
    cio_timeout s;
    CHECK_EQ(cio_timeout_enter(&s, 1.0), CIO_ENOTASK);
    CHECK_EQ(cio_timeout_enter_at(&s, 1.0), CIO_ENOTASK);
}

int main(void)
{
    /* timers and tasks only: every test runs on the virtual clock, so
     * deadlines fire in order at exact loop times under any load */
    setenv("CIO_VIRTUAL_TIME", "1", 1);
    RUN_TASK_TEST(t_expires);
    RUN_TASK_TEST(t_expires_in_combinators);
    RUN_TASK_TEST(t_no_expiry);
    RUN_TASK_TEST(t_nested);
    RUN_TASK_TEST(t_outer_cancel);
    RUN_TASK_TEST(t_swallowed_outer_cancel);
    RUN_TASK_TEST(t_reschedule);
    RUN_TASK_TEST(t_when);
    RUN_TASK_TEST(t_negative_timeout_expired);
    RUN_TASK_TEST(t_around_group);
    RUN_TASK_TEST(t_group_cancel_not_timeout);
    RUN_TEST(t_outside_task);
    return check_exit();
}
