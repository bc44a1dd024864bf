/* SPDX-License-Identifier: MIT */
/* Scoped timeouts (asyncio.timeout, asyncio.timeout_at).
 *
 * A scope cancels the body's task when its deadline passes and withdraws
 * that cancellation with cio_task_uncancel() on exit, as task groups
 * (group.c) do, so nested scopes, groups and cancellations from outside
 * compose through the task's cancelling count exactly as in asyncio 3.11+:
 * a scope only converts -ECANCELED into -ETIMEDOUT when the count drops
 * back to what it was at entry. */
#include "core/internal.h"

#include <string.h>

enum { TS_ENTERED = 1, TS_EXPIRING, TS_EXPIRED, TS_EXITED };

typedef struct tscope {
    cio__timer tm;
    cio__task *task;
    double when;
    int32_t cancelling;
    uint8_t state;
    uint8_t saw0; /* a CancelledError was propagating at entry (cleanup code) */
} tscope;

_Static_assert(sizeof(tscope) <= sizeof(cio_timeout), "cio_timeout too small");

static void tscope_fire(cio__timer *tm)
{
    tscope *s = CIO__CONTAINER_OF(tm, tscope, tm);
    s->state = TS_EXPIRING;
    cio__task_cancel(s->task, NULL);
}

static void tscope_arm(tscope *s)
{
    cio_loop *l = s->task->f.loop;
    cio__wheel_del(&l->wheel, &s->tm);
    if (s->when < CIO_NO_TIMEOUT) {
        s->tm.fire = tscope_fire;
        s->tm.when = cio__secs_to_ns(s->when); /* in the past: the next pass */
        cio__wheel_add(&l->wheel, &s->tm);
    }
}

/* asyncio's None is CIO_NO_TIMEOUT (NaN reads as none too); any other
 * deadline counts, one in the past expires at once. */
static double deadline_of(double when) { return when < CIO_NO_TIMEOUT ? when : CIO_NO_TIMEOUT; }

int cio_timeout_enter_at(cio_timeout *st, double when)
{
    tscope *s = (tscope *)st;
    memset(st, 0, sizeof *st);
    cio__task *t = cio__current();
    if (!t)
        return CIO_ENOTASK;
    s->task = t;
    s->cancelling = t->ncancel;
    s->saw0 = t->saw_cancel;
    s->state = TS_ENTERED;
    s->when = deadline_of(when);
    tscope_arm(s);
    return 0;
}

int cio_timeout_enter(cio_timeout *s, double delay)
{
    return cio_timeout_enter_at(s, delay < CIO_NO_TIMEOUT ? cio_time() + delay : CIO_NO_TIMEOUT);
}

int cio_timeout_reschedule(cio_timeout *st, double when)
{
    tscope *s = (tscope *)st;
    if (s->state != TS_ENTERED)
        return CIO_EINVALSTATE;
    s->when = deadline_of(when);
    tscope_arm(s);
    return 0;
}

double cio_timeout_when(const cio_timeout *st) { return ((const tscope *)st)->when; }

bool cio_timeout_expired(const cio_timeout *st)
{
    const tscope *s = (const tscope *)st;
    return s->state == TS_EXPIRING || s->state == TS_EXPIRED;
}

int cio_timeout_exit(cio_timeout *st, int rc)
{
    tscope *s = (tscope *)st;
    if (s->state != TS_ENTERED && s->state != TS_EXPIRING)
        return rc;
    cio__wheel_del(&s->task->f.loop->wheel, &s->tm);
    if (s->state == TS_EXPIRING) {
        s->state = TS_EXPIRED;
        if (cio_task_uncancel(&s->task->f) <= s->cancelling && rc == -ECANCELED) {
            /* converted: this scope's CancelledError no longer propagates
             * (one that already did at entry still does), though
             * cancelling() may stay above zero (requests caught before) */
            s->task->saw_cancel = s->saw0;
            return -ETIMEDOUT;
        }
        return rc;
    }
    s->state = TS_EXITED;
    return rc;
}
