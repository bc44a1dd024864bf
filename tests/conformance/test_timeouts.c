/* SPDX-License-Identifier: MIT */
/* CPython Lib/test/test_asyncio/test_timeouts.py (3.11), ported (see
 * conformance.h).  `async with asyncio.timeout(d) as cm:` is
 * cio_timeout_enter(&cm, d) ... cio_timeout_exit(&cm, rc) with the status
 * the body ended with; TimeoutError is -ETIMEDOUT; `with
 * self.assertRaises(CancelledError)` around an await that the test goes on
 * from is that await returning -ECANCELED followed by cio_task_catch_cancel()
 * (the exception was caught). */
#define CONF_FILE "test_timeouts"
#include "conformance.h"

#include <time.h>

static cio_task *self(void) { return cio_current_task(); }

/* time.sleep(): blocks the loop */
static void block_for(double secs)
{
    struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

CONF_TASK(test_timeout_basic)
{
    cio_timeout cm;
    CHECK_EQ(cio_timeout_enter(&cm, 0.01), 0);
    CHECK_EQ(cio_timeout_exit(&cm, cio_sleep(10)), -ETIMEDOUT);
    CHECK(cio_timeout_expired(&cm));
    return NULL;
}

CONF_TASK(test_timeout_at_basic)
{
    cio_timeout cm;
    double deadline = cio_time() + 0.01;
    CHECK_EQ(cio_timeout_enter_at(&cm, deadline), 0);
    CHECK_EQ(cio_timeout_exit(&cm, cio_sleep(10)), -ETIMEDOUT);
    CHECK(cio_timeout_expired(&cm));
    CHECK(deadline == cio_timeout_when(&cm));
    return NULL;
}

CONF_TASK(test_nested_timeouts)
{
    bool cancelled = false;
    cio_timeout cm1, cm2;
    double deadline = cio_time() + 0.01;
    CHECK_EQ(cio_timeout_enter_at(&cm1, deadline), 0);
    /* only the topmost scope turns it into a timeout */
    CHECK_EQ(cio_timeout_enter_at(&cm2, deadline), 0);
    int rc = cio_timeout_exit(&cm2, cio_sleep(10));
    if (rc == -ECANCELED)
        cancelled = true;
    CHECK_EQ(cio_timeout_exit(&cm1, rc), -ETIMEDOUT);
    CHECK(cancelled);
    CHECK(cio_timeout_expired(&cm1));
    CHECK(cio_timeout_expired(&cm2));
    return NULL;
}

CONF_TASK(test_waiter_cancelled)
{
    bool cancelled = false;
    cio_timeout cm;
    CHECK_EQ(cio_timeout_enter(&cm, 0.01), 0);
    int rc = cio_sleep(10);
    if (rc == -ECANCELED)
        cancelled = true;
    CHECK_EQ(cio_timeout_exit(&cm, rc), -ETIMEDOUT);
    CHECK(cancelled);
    return NULL;
}

CONF_TASK(test_timeout_not_called)
{
    cio_timeout cm;
    CHECK_EQ(cio_timeout_enter(&cm, 10), 0);
    CHECK_EQ(cio_timeout_exit(&cm, cio_sleep(0.01)), 0);
    double t1 = cio_time();
    CHECK(!cio_timeout_expired(&cm));
    CHECK(cio_timeout_when(&cm) > t1);
    return NULL;
}

CONF_TASK(test_timeout_disabled)
{
    cio_timeout cm;
    CHECK_EQ(cio_timeout_enter(&cm, CIO_NO_TIMEOUT), 0);
    CHECK_EQ(cio_timeout_exit(&cm, cio_sleep(0.01)), 0);
    CHECK(!cio_timeout_expired(&cm));
    CHECK(cio_timeout_when(&cm) == CIO_NO_TIMEOUT);
    return NULL;
}

CONF_TASK(test_timeout_at_disabled)
{
    cio_timeout cm;
    CHECK_EQ(cio_timeout_enter_at(&cm, CIO_NO_TIMEOUT), 0);
    CHECK_EQ(cio_timeout_exit(&cm, cio_sleep(0.01)), 0);
    CHECK(!cio_timeout_expired(&cm));
    CHECK(cio_timeout_when(&cm) == CIO_NO_TIMEOUT);
    return NULL;
}

/* timeout(delay) then `await sleep(nap)`: TimeoutError, expired, and the
 * deadline within [t0, t1] (or before t0 for a delay in the past) */
static void expire_check(double delay, double nap)
{
    double t0 = cio_time();
    cio_timeout cm;
    CHECK_EQ(cio_timeout_enter(&cm, delay), 0);
    CHECK_EQ(cio_timeout_exit(&cm, cio_sleep(nap)), -ETIMEDOUT);
    double t1 = cio_time();
    CHECK(cio_timeout_expired(&cm));
    if (delay >= 0)
        CHECK(t0 <= cio_timeout_when(&cm) && cio_timeout_when(&cm) <= t1);
    else
        CHECK(t0 >= cio_timeout_when(&cm) && cio_timeout_when(&cm) <= t1);
}

CONF_TASK(test_timeout_zero)
{
    expire_check(0, 10);
    return NULL;
}

CONF_TASK(test_timeout_zero_sleep_zero)
{
    expire_check(0, 0);
    return NULL;
}

CONF_TASK(test_timeout_in_the_past_sleep_zero)
{
    expire_check(-11, 0);
    return NULL;
}

CONF_TASK(test_foreign_exception_passed)
{
    cio_timeout cm;
    CHECK_EQ(cio_timeout_enter(&cm, 0.01), 0);
    CHECK_EQ(cio_timeout_exit(&cm, -ENOKEY), -ENOKEY); /* raise KeyError */
    CHECK(!cio_timeout_expired(&cm));
    return NULL;
}

/* try: await sleep(1) finally: 1/0 */
static int crash(void)
{
    cio_sleep(1);
    return -EDOM;
}

CONF_TASK(test_foreign_exception_on_timeout)
{
    cio_timeout cm;
    CHECK_EQ(cio_timeout_enter(&cm, 0.01), 0);
    CHECK_EQ(cio_timeout_exit(&cm, crash()), -EDOM);
    return NULL;
}

CONF_TASK(test_foreign_cancel_doesnt_timeout_if_not_expired)
{
    cio_timeout cm;
    CHECK_EQ(cio_timeout_enter(&cm, 10), 0);
    cio_cancel(self(), NULL);
    CHECK_EQ(cio_timeout_exit(&cm, cio_sleep(10)), -ECANCELED);
    cio_task_catch_cancel(); /* assertRaises(CancelledError) */
    CHECK(!cio_timeout_expired(&cm));
    return NULL;
}

static void *outer_timeout(void *arg)
{
    (void)arg;
    cio_timeout cm;
    CHECK_EQ(cio_timeout_enter(&cm, 0.001), 0);
    CHECK_EQ(cio_timeout_exit(&cm, cio_sleep(10)), -ETIMEDOUT);
    return NULL;
}

CONF_TASK(test_outer_task_is_not_cancelled)
{
    cio_task *task = cio_spawn(outer_timeout, NULL);
    CHECK_EQ(cio_await(task, NULL), 0);
    CHECK(!cio_cancelled(task));
    CHECK(cio_done(task));
    cio_release(task);
    return NULL;
}

CONF_TASK(test_nested_timeouts_concurrent)
{
    cio_timeout outer, inner;
    CHECK_EQ(cio_timeout_enter(&outer, 0.002), 0);
    CHECK_EQ(cio_timeout_enter(&inner, 0.1), 0);
    block_for(0.01); /* pretend we crunch some numbers */
    int rc = cio_timeout_exit(&inner, cio_sleep(1));
    CHECK(rc != 0); /* assertRaises(TimeoutError): something propagates */
    CHECK_EQ(cio_timeout_exit(&outer, rc), -ETIMEDOUT);
    return NULL;
}

CONF_TASK(test_nested_timeouts_loop_busy)
{
    double t0 = cio_time();
    cio_timeout outer, inner;
    CHECK_EQ(cio_timeout_enter(&outer, 0.1), 0);
    CHECK_EQ(cio_timeout_enter(&inner, 0.01), 0);
    block_for(0.1); /* the loop is busy for a while */
    int rc = cio_timeout_exit(&inner, cio_sleep(1));
    CHECK(rc != 0);
    if (rc == -ETIMEDOUT) /* caught by (2): this sleep is interrupted by (1) */
        rc = cio_sleep(10);
    CHECK_EQ(cio_timeout_exit(&outer, rc), -ETIMEDOUT);
    double t1 = cio_time();
    CHECK(t0 <= t1 && t1 <= t0 + 1);
    return NULL;
}

typedef struct resched {
    cio_future *fut;
    cio_timeout cm; /* outlives the task, as the Python object does */
    double deadline1;
} resched;

static void *resched_f(void *arg)
{
    resched *r = arg;
    if (cio_timeout_enter_at(&r->cm, r->deadline1) < 0)
        return NULL;
    cio_future_set_result(r->fut, &r->cm);
    int rc = cio_timeout_exit(&r->cm, cio_sleep(50));
    return rc ? cio_fail(rc, NULL) : NULL;
}

CONF_TASK(test_reschedule)
{
    resched r = {.fut = cio_future_new(NULL)};
    r.deadline1 = cio_time() + 10;
    double deadline2 = r.deadline1 + 20;
    cio_task *task = cio_spawn(resched_f, &r);
    void *v;
    CHECK_EQ(cio_await(r.fut, &v), 0);
    cio_timeout *cm = v;
    CHECK(cio_timeout_when(cm) == r.deadline1);
    CHECK_EQ(cio_timeout_reschedule(cm, deadline2), 0);
    CHECK(cio_timeout_when(cm) == deadline2);
    CHECK_EQ(cio_timeout_reschedule(cm, CIO_NO_TIMEOUT), 0);
    CHECK(cio_timeout_when(cm) == CIO_NO_TIMEOUT);
    cio_cancel(task, NULL);
    CHECK_EQ(cio_await(task, NULL), -ECANCELED);
    cio_task_catch_cancel(); /* not ours: an error code */
    CHECK(!cio_timeout_expired(cm));
    cio_release(task);
    cio_release(r.fut);
    return NULL;
}

CONF_TASK(test_nested_timeout_in_finally)
{
    cio_timeout outer, inner;
    CHECK_EQ(cio_timeout_enter(&outer, 0.01), 0);
    int rc = cio_sleep(1);
    /* finally: */
    CHECK_EQ(cio_timeout_enter(&inner, 0.01), 0);
    CHECK_EQ(cio_timeout_exit(&inner, cio_sleep(10)), -ETIMEDOUT);
    CHECK_EQ(cio_timeout_exit(&outer, rc), -ETIMEDOUT);
    return NULL;
}

CONF_TASK(test_timeout_after_cancellation)
{
    cio_cancel(self(), NULL);
    CHECK_EQ(cio_sleep(1), -ECANCELED); /* work which will be cancelled */
    cio_task_catch_cancel();            /* except CancelledError: pass */
    /* finally: */
    cio_timeout cm;
    CHECK_EQ(cio_timeout_enter(&cm, 0.0), 0);
    CHECK_EQ(cio_timeout_exit(&cm, cio_sleep(1)), -ETIMEDOUT); /* some cleanup */
    return NULL;
}

CONF_TASK(test_cancel_in_timeout_after_cancellation)
{
    cio_cancel(self(), NULL);
    CHECK_EQ(cio_sleep(1), -ECANCELED);
    cio_task_catch_cancel();
    cio_timeout cm;
    CHECK_EQ(cio_timeout_enter(&cm, 1.0), 0);
    cio_cancel(self(), NULL);
    CHECK_EQ(cio_timeout_exit(&cm, cio_sleep(2)), -ECANCELED);
    cio_task_catch_cancel(); /* assertRaises(CancelledError) */
    return NULL;
}

CONF_TASK(test_timeout_finished)
{
    cio_timeout cm;
    CHECK_EQ(cio_timeout_enter(&cm, 0.01), 0);
    CHECK_EQ(cio_timeout_exit(&cm, 0), 0);
    CHECK_EQ(cio_timeout_reschedule(&cm, 0.02), CIO_EINVALSTATE); /* "finished" */
    return NULL;
}

CONF_TASK(test_timeout_expired)
{
    cio_timeout cm;
    CHECK_EQ(cio_timeout_enter(&cm, 0.01), 0);
    CHECK_EQ(cio_timeout_exit(&cm, cio_sleep(1)), -ETIMEDOUT);
    CHECK_EQ(cio_timeout_reschedule(&cm, 0.02), CIO_EINVALSTATE); /* "expired" */
    return NULL;
}

CONF_TASK(test_timeout_expiring)
{
    cio_timeout cm;
    CHECK_EQ(cio_timeout_enter(&cm, 0.01), 0);
    CHECK_EQ(cio_sleep(1), -ECANCELED);
    cio_task_catch_cancel(); /* assertRaises(CancelledError) */
    CHECK_EQ(cio_timeout_reschedule(&cm, 0.02), CIO_EINVALSTATE); /* "expiring" */
    CHECK_EQ(cio_timeout_exit(&cm, 0), 0);
    CHECK_EQ(cio_task_cancelling(self()), 0);
    return NULL;
}

CONF_TASK(test_timeout_not_entered)
{
    cio_timeout cm = {0}; /* asyncio.timeout(0.01), not entered */
    CHECK_EQ(cio_timeout_reschedule(&cm, 0.02), CIO_EINVALSTATE);
    return NULL;
}

CONF_PLAIN(test_timeout_without_task)
{
    cio_timeout cm;
    CHECK_EQ(cio_timeout_enter(&cm, 0.01), CIO_ENOTASK);
    CHECK_EQ(cio_timeout_reschedule(&cm, 0.02), CIO_EINVALSTATE); /* "has not been entered" */
}

CONF_MAIN()
