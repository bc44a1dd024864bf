/* SPDX-License-Identifier: MIT */
/* Task scaffolding shared by the tests of tasks, combinators and sync
 * primitives (test_gen, test_queue, test_sync, test_gather, test_wait,
 * test_group, test_timeout, test_shield, conformance/).  Include it after
 * check.h (or conformance.h); every helper asserts with CHECK.
 *
 *   spawn(fn, arg)         cio_spawn, asserting the task was made
 *   settle()               five cio_yield()s: every ready task runs until it parks
 *   finish(t)              waits (polling, 1 ms sleeps) until t is done, returns
 *                          its outcome code and releases it
 *   await_release(t, &v)   cio_await(t) (cancellation propagates), then releases t
 *   join(f, &v)            waits for f without taking on its cancellation (as
 *                          `await asyncio.wait([f])`), returns its outcome code
 *   took(dt, want)         a duration on the virtual clock is `want`
 *   reset_order()          empties check.h's order recorder, filling it with -1
 *
 *   kid / kid_fn           a configurable child task: sleeps `delay` (< 0: not
 *                          at all), then returns `value` or fails with `fail`;
 *                          cancelled, it cleans up for `cleanup` seconds and then
 *                          ends as `on_cancel` says.  It records what it saw and
 *                          pushes its id on the order recorder when it ends.
 */
#ifndef CIO_TESTS_LIB_TASKS_H
#define CIO_TESTS_LIB_TASKS_H

#include "../check.h"

#include <math.h>
#include <stdint.h>

static inline cio_task *spawn(cio_task_fn fn, void *arg)
{
    cio_task *t = cio_spawn(fn, arg);
    CHECK(t != NULL);
    return t;
}

/* Lets every ready task run until it parks (a few loop iterations). */
static inline void settle(void)
{
    for (int i = 0; i < 5; i++)
        cio_yield();
}

/* Waits for t, returns its outcome code and releases it. */
static inline int finish(cio_task *t)
{
    while (!cio_done(t))
        cio_sleep(0.001);
    int rc = cio_result(t, NULL);
    cio_release(t);
    return rc;
}

/* await t: its outcome code (result in *v if v); releases t. */
static inline int await_release(cio_task *t, void **v)
{
    int rc = cio_await(t, v);
    cio_release(t);
    return rc;
}

/* Waits for f without propagating its cancellation into the caller (as
 * `await asyncio.wait([f])` does) and returns its outcome. */
static inline int join(cio_future *f, void **value)
{
    CHECK_EQ(cio_wait(&f, 1, CIO_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL), 0);
    return cio_result(f, value);
}

/* Whether a duration on the virtual clock is `want` (exact to the
 * nanosecond there; the margin only absorbs the doubles' rounding). */
static inline bool took(double dt, double want) { return fabs(dt - want) < 1e-6; }

static inline void reset_order(void)
{
    norder = 0;
    memset(order, -1, sizeof order);
}

/* ---- a configurable child ---------------------------------------------- */

enum { ON_CANCEL_END = 0, ON_CANCEL_SWALLOW, ON_CANCEL_FAIL };

typedef struct kid {
    int id;         /* pushed on the order recorder when it ends */
    double delay;   /* sleeps this long, then finishes; < 0: without suspending */
    int fail;       /* 0: returns value; else ends with cio_fail(fail) */
    intptr_t value;
    int on_cancel;  /* what to do when the sleep returns -ECANCELED */
    double cleanup; /* sleeps this long after a cancellation before ending */
    /* observed */
    int sleep_rc;
    int cleanup_rc; /* what the cleanup's sleep returned */
    bool finished;
    double finished_at; /* cio_time() then */
} kid;

static inline void *kid_fn(void *arg)
{
    kid *k = arg;
    k->sleep_rc = k->delay < 0 ? 0 : cio_sleep(k->delay);
    if (k->sleep_rc == -ECANCELED) {
        if (k->cleanup > 0)
            k->cleanup_rc = cio_sleep(k->cleanup);
        k->finished = true;
        k->finished_at = cio_time();
        order_push(k->id);
        if (k->on_cancel == ON_CANCEL_SWALLOW) {
            cio_task_uncancel(cio_current_task());
            return (void *)k->value;
        }
        if (k->on_cancel == ON_CANCEL_FAIL)
            return cio_fail(k->fail, "kid %d failed in cleanup", k->id);
        return NULL; /* ends cancelled */
    }
    k->finished = true;
    k->finished_at = cio_time();
    order_push(k->id);
    if (k->fail)
        return cio_fail(k->fail, "kid %d failed", k->id);
    return (void *)k->value;
}

#endif
