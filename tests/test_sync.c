/* SPDX-License-Identifier: MIT */
/* Synchronisation primitives (src/sync/sync.c): Lock, Event, Condition,
 * Semaphore, BoundedSemaphore, Barrier and guards.
 *
 * For every primitive: FIFO order of waiters, cancelled waiters skipped,
 * cio_timeout scopes around the wait (-ETIMEDOUT, no waiter left behind),
 * and the race asyncio has had bugs in (issue 10 §2a): a waiter is woken
 * for the resource (lock, permit, notification, barrier release) and is
 * cancelled before it runs.  The cancellation wins (the call returns
 * -ECANCELED) and the resource goes to the next waiter: nothing lost,
 * duplicated, or held with no owner.  Misuse gives errors that say what
 * was misused (issue 14 §3). */
#include "check.h"
#include "lib/tasks.h"

#include <stdint.h>

/* ---- helpers ------------------------------------------------------------ */

typedef struct worker {
    int id;
    void *obj;
    int rc;    /* what the wait returned */
    int rc2;   /* what the next suspension returned */
    int step;  /* progress marker */
    bool held; /* ran with the resource */
} worker;

/* ---- Lock --------------------------------------------------------------- */

static void *lock_basic(void *arg)
{
    (void)arg;
    cio_lock *l = cio_lock_new();
    CHECK(l != NULL);
    CHECK(!cio_lock_locked(l));
    /* issue 14 §3: the error says what was misused */
    CHECK_EQ(cio_lock_release(l), CIO_ENOTACQUIRED);
    CHECK(!strcmp(cio_strerror(CIO_ENOTACQUIRED), "lock is not acquired"));
    CHECK_EQ(cio_lock_acquire(l), 0);
    CHECK(cio_lock_locked(l));
    CHECK_EQ(cio_lock_release(l), 0);
    CHECK(!cio_lock_locked(l));
    CHECK_EQ(cio_lock_release(l), CIO_ENOTACQUIRED);

    /* an uncontended acquire completes without suspending, so it does not
     * look at a pending cancellation */
    cio_task *self = cio_current_task();
    cio_cancel(self, NULL);
    CHECK_EQ(cio_lock_acquire(l), 0);
    CHECK_EQ(cio_lock_release(l), 0);
    CHECK_EQ(cio_sleep(0), -ECANCELED);
    CHECK_EQ(cio_task_uncancel(self), 0);
    cio_lock_free(l);
    return NULL;
}

/* Acquires, records its id, holds the lock over a yield, releases. */
static void *lock_worker(void *arg)
{
    worker *w = arg;
    w->rc = cio_lock_acquire(w->obj);
    if (w->rc)
        return NULL;
    w->held = true;
    order_push(w->id);
    cio_yield();
    CHECK(cio_lock_locked(w->obj));
    cio_lock_release(w->obj);
    return NULL;
}

static void *lock_fifo(void *arg)
{
    (void)arg;
    order_reset();
    cio_lock *l = cio_lock_new();
    worker w[5];
    cio_task *t[5];
    CHECK_EQ(cio_lock_acquire(l), 0);
    for (int i = 0; i < 5; i++) {
        w[i] = (worker){.id = i, .obj = l};
        t[i] = spawn(lock_worker, &w[i]);
    }
    settle();
    CHECK_EQ(norder, 0);
    CHECK_EQ(cio_lock_release(l), 0);
    /* worker 0 is woken and takes the lock when it runs (unlocked until
     * then, as asyncio); the releaser cannot barge back in ahead of the
     * queue: it waits behind the five workers */
    CHECK(!cio_lock_locked(l));
    CHECK_EQ(cio_lock_waiters(l), 5);
    CHECK_EQ(cio_lock_acquire(l), 0);
    order_push(99);
    CHECK_ORDER(0, 1, 2, 3, 4, 99);
    CHECK_EQ(cio_lock_release(l), 0);
    CHECK(!cio_lock_locked(l));
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(w[i].rc, 0);
        CHECK_EQ(finish(t[i]), 0);
    }
    cio_lock_free(l);
    return NULL;
}

static void *lock_cancel_middle(void *arg)
{
    (void)arg;
    order_reset();
    cio_lock *l = cio_lock_new();
    worker w[5];
    cio_task *t[5];
    CHECK_EQ(cio_lock_acquire(l), 0);
    for (int i = 0; i < 5; i++) {
        w[i] = (worker){.id = i, .obj = l};
        t[i] = spawn(lock_worker, &w[i]);
    }
    settle();
    CHECK(cio_cancel(t[1], NULL));
    CHECK(cio_cancel(t[3], NULL));
    settle();
    CHECK_EQ(w[1].rc, -ECANCELED);
    CHECK_EQ(w[3].rc, -ECANCELED);
    CHECK(cio_done(t[1]) && cio_cancelled(t[1]));
    CHECK(cio_done(t[3]) && cio_cancelled(t[3]));
    CHECK(cio_lock_locked(l));
    CHECK_EQ(norder, 0);
    /* cancel the first waiter too: the lock goes to the second one */
    CHECK(cio_cancel(t[0], NULL));
    CHECK_EQ(cio_lock_release(l), 0);
    CHECK_EQ(cio_lock_acquire(l), 0);
    CHECK_ORDER(2, 4);
    CHECK_EQ(cio_lock_release(l), 0);
    CHECK_EQ(finish(t[0]), -ECANCELED);
    CHECK_EQ(finish(t[1]), -ECANCELED);
    CHECK_EQ(finish(t[2]), 0);
    CHECK_EQ(finish(t[3]), -ECANCELED);
    CHECK_EQ(finish(t[4]), 0);
    CHECK(!cio_lock_locked(l));
    cio_lock_free(l);
    return NULL;
}

/* Acquires, then makes one more suspending call while holding the lock and
 * releases whatever that call returned. */
static void *lock_race_worker(void *arg)
{
    worker *w = arg;
    w->rc = cio_lock_acquire(w->obj);
    w->step = 1;
    if (w->rc)
        return NULL;
    w->held = cio_lock_locked(w->obj);
    order_push(w->id);
    w->rc2 = cio_sleep(10); /* a cancellation arrives here */
    cio_lock_release(w->obj);
    return NULL;
}

/* Issue 10 §2a: the lock released to a waiter that is cancelled before it
 * runs.  The cancellation wins (acquire returns -ECANCELED, the critical
 * section never runs) and the wake-up passes to the next waiter; alone, the
 * waiter leaves the lock unlocked (it used to stay locked with no owner). */
static void *lock_cancel_at_wakeup(void *arg)
{
    (void)arg;
    order_reset();
    cio_lock *l = cio_lock_new();
    worker a = {.id = 1, .obj = l}, b = {.id = 2, .obj = l};
    CHECK_EQ(cio_lock_acquire(l), 0);
    cio_task *ta = spawn(lock_race_worker, &a);
    cio_task *tb = spawn(lock_worker, &b);
    settle();
    /* wake a, then cancel a before it gets to run */
    CHECK_EQ(cio_lock_release(l), 0);
    CHECK(cio_cancel(ta, NULL));
    CHECK_EQ(a.step, 0);
    CHECK(!cio_lock_locked(l));
    CHECK_EQ(cio_lock_waiters(l), 2); /* a, woken, still queued ahead of b */
    CHECK_EQ(finish(ta), -ECANCELED);
    CHECK_EQ(a.rc, -ECANCELED); /* cancellation wins */
    CHECK(!a.held);
    CHECK_EQ(finish(tb), 0); /* b got the lock a passed on: nothing lost */
    CHECK_EQ(b.rc, 0);
    CHECK_ORDER(2);
    CHECK(!cio_lock_locked(l));
    CHECK_EQ(cio_lock_waiters(l), 0);

    /* the same race when the waiter is alone: the lock must not stay locked */
    worker c = {.id = 3, .obj = l};
    CHECK_EQ(cio_lock_acquire(l), 0);
    cio_task *tc = spawn(lock_race_worker, &c);
    settle();
    CHECK_EQ(cio_lock_release(l), 0);
    CHECK(cio_cancel(tc, NULL));
    CHECK_EQ(finish(tc), -ECANCELED);
    CHECK_EQ(c.rc, -ECANCELED);
    CHECK_EQ(c.step, 1);
    CHECK(!cio_lock_locked(l));
    CHECK_EQ(cio_lock_waiters(l), 0);
    /* and it is free for the next one at once */
    CHECK_EQ(cio_lock_acquire(l), 0);
    CHECK_EQ(cio_lock_release(l), 0);
    cio_lock_free(l);
    return NULL;
}

static void *lock_timeout_worker(void *arg)
{
    worker *w = arg;
    cio_timeout s;
    CHECK_EQ(cio_timeout_enter(&s, 0.02), 0);
    int rc = cio_lock_acquire(w->obj);
    w->rc = cio_timeout_exit(&s, rc);
    if (rc == 0)
        cio_lock_release(w->obj);
    return NULL;
}

static void *lock_timeout(void *arg)
{
    (void)arg;
    cio_lock *l = cio_lock_new();
    CHECK_EQ(cio_lock_acquire(l), 0);
    worker a = {.obj = l}, b = {.obj = l};
    cio_task *ta = spawn(lock_timeout_worker, &a);
    CHECK_EQ(finish(ta), 0); /* -ETIMEDOUT is a normal return, not a cancellation */
    CHECK_EQ(a.rc, -ETIMEDOUT);
    CHECK(cio_lock_locked(l));
    /* no waiter left behind: releasing really unlocks */
    CHECK_EQ(cio_lock_release(l), 0);
    CHECK(!cio_lock_locked(l));

    /* acquired in time: the scope ends with 0 */
    CHECK_EQ(cio_lock_acquire(l), 0);
    cio_task *tb = spawn(lock_timeout_worker, &b);
    cio_sleep(0.005);
    CHECK_EQ(cio_lock_release(l), 0);
    CHECK_EQ(finish(tb), 0);
    CHECK_EQ(b.rc, 0);
    CHECK(!cio_lock_locked(l));

    /* in the current task, around a wait that times out */
    CHECK_EQ(cio_lock_acquire(l), 0);
    cio_timeout s;
    cio_timeout_enter(&s, 0.01);
    int rc = cio_lock_acquire(l);
    CHECK_EQ(rc, -ECANCELED);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
    CHECK_EQ(cio_task_cancelling(cio_current_task()), 0);
    CHECK_EQ(cio_sleep(0), 0); /* no cancellation left pending */
    CHECK_EQ(cio_lock_release(l), 0);
    CHECK(!cio_lock_locked(l));
    cio_lock_free(l);
    return NULL;
}

/* ---- Event -------------------------------------------------------------- */

static void *event_worker(void *arg)
{
    worker *w = arg;
    w->rc = cio_event_wait(w->obj);
    w->step = 1;
    if (w->rc == 0)
        order_push(w->id);
    return NULL;
}

static void *event_basic(void *arg)
{
    (void)arg;
    order_reset();
    cio_event *e = cio_event_new();
    CHECK(!cio_event_is_set(e));
    worker w[4];
    cio_task *t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){.id = i, .obj = e};
        t[i] = spawn(event_worker, &w[i]);
    }
    settle();
    CHECK_EQ(norder, 0);
    CHECK(cio_cancel(t[2], NULL)); /* leaves the middle of the queue */
    cio_event_set(e);
    CHECK(cio_event_is_set(e));
    cio_event_set(e); /* idempotent */
    settle();
    CHECK_ORDER(0, 1, 3); /* everyone woken, in FIFO order */
    CHECK_EQ(w[2].rc, -ECANCELED);
    CHECK_EQ(finish(t[0]), 0);
    CHECK_EQ(finish(t[1]), 0);
    CHECK_EQ(finish(t[2]), -ECANCELED);
    CHECK_EQ(finish(t[3]), 0);
    /* set: returns at once, even with a cancellation pending */
    CHECK_EQ(cio_event_wait(e), 0);
    cio_cancel(cio_current_task(), NULL);
    CHECK_EQ(cio_event_wait(e), 0);
    CHECK_EQ(cio_yield(), -ECANCELED);
    cio_task_uncancel(cio_current_task());
    cio_event_clear(e);
    CHECK(!cio_event_is_set(e));

    /* set then cleared before the waiter ran: it was woken, it returns 0 */
    worker a = {.id = 7, .obj = e};
    cio_task *ta = spawn(event_worker, &a);
    settle();
    cio_event_set(e);
    cio_event_clear(e);
    CHECK_EQ(finish(ta), 0);
    CHECK_EQ(a.rc, 0);

    /* set, then the waiter is cancelled before it runs: the event is not a
     * resource (it stays set), so as in asyncio the cancellation wins */
    worker b = {.id = 8, .obj = e};
    cio_task *tb = spawn(event_worker, &b);
    settle();
    cio_event_set(e);
    cio_cancel(tb, NULL);
    CHECK_EQ(finish(tb), -ECANCELED);
    CHECK_EQ(b.rc, -ECANCELED);
    CHECK(cio_event_is_set(e));
    cio_event_free(e);
    return NULL;
}

static void *event_timeout(void *arg)
{
    (void)arg;
    cio_event *e = cio_event_new();
    cio_timeout s;
    cio_timeout_enter(&s, 0.01);
    int rc = cio_event_wait(e);
    CHECK_EQ(rc, -ECANCELED);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
    /* no stale waiter: setting now touches nobody (ASan would see a stale
     * waiter on a dead stack frame) and a fresh waiter works */
    worker w = {.id = 1, .obj = e};
    cio_task *t = spawn(event_worker, &w);
    settle();
    cio_event_set(e);
    CHECK_EQ(finish(t), 0);
    CHECK_EQ(w.rc, 0);
    /* set in time */
    cio_event_clear(e);
    cio_timeout_enter(&s, 1.0);
    worker w2 = {.obj = e};
    t = spawn(event_worker, &w2);
    settle();
    cio_event_set(e);
    rc = cio_event_wait(e);
    CHECK_EQ(cio_timeout_exit(&s, rc), 0);
    CHECK_EQ(finish(t), 0);
    cio_event_free(e);
    return NULL;
}

/* ---- Condition ---------------------------------------------------------- */

typedef struct condw {
    worker w;
    cio_cond *c;
    int *counter;
    int target;
    int checks;
    bool hold; /* after a successful wait, hold the lock in cio_sleep(10) */
} condw;

static void *cond_worker(void *arg)
{
    condw *cw = arg;
    worker *w = &cw->w;
    CHECK_EQ(cio_cond_acquire(cw->c), 0);
    w->step = 1;
    w->rc = cio_cond_wait(cw->c);
    w->step = 2;
    w->held = cio_cond_locked(cw->c); /* always re-acquired */
    order_push(w->id);
    if (w->rc == 0 && cw->hold)
        w->rc2 = cio_sleep(10);
    cio_cond_release(cw->c);
    return NULL;
}

static void *cond_basic(void *arg)
{
    (void)arg;
    order_reset();
    cio_cond *c = cio_cond_new(NULL);
    CHECK(c != NULL);
    CHECK(cio_cond_lock(c) != NULL);
    CHECK(!cio_cond_locked(c));
    CHECK_EQ(cio_cond_wait(c), CIO_ENOTACQUIRED);
    CHECK_EQ(cio_cond_notify(c, 1), CIO_ENOTACQUIRED);
    CHECK_EQ(cio_cond_notify_all(c), CIO_ENOTACQUIRED);
    CHECK_EQ(cio_cond_release(c), CIO_ENOTACQUIRED);

    condw w[5];
    cio_task *t[5];
    for (int i = 0; i < 5; i++) {
        w[i] = (condw){.w = {.id = i}, .c = c};
        t[i] = spawn(cond_worker, &w[i]);
    }
    settle();
    for (int i = 0; i < 5; i++)
        CHECK_EQ(w[i].w.step, 1);
    CHECK(!cio_cond_locked(c)); /* every waiter released it */

    CHECK_EQ(cio_cond_acquire(c), 0);
    CHECK_EQ(cio_cond_notify(c, 2), 0);
    CHECK_EQ(cio_cond_notify(c, 0), 0);
    settle();
    CHECK_EQ(norder, 0); /* they need the lock back first */
    CHECK_EQ(cio_cond_release(c), 0);
    settle();
    CHECK_ORDER(0, 1); /* notify(2): the first two, in order */
    CHECK_EQ(w[2].w.step, 1);
    CHECK(!cio_cond_locked(c));

    CHECK_EQ(cio_cond_acquire(c), 0);
    CHECK_EQ(cio_cond_notify_all(c), 0);
    CHECK_EQ(cio_cond_release(c), 0);
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(finish(t[i]), 0);
        CHECK_EQ(w[i].w.rc, 0);
        CHECK(w[i].w.held);
    }
    CHECK_ORDER(0, 1, 2, 3, 4);
    CHECK(!cio_cond_locked(c));
    cio_cond_free(c);

    /* a condition over a caller's lock */
    cio_lock *l = cio_lock_new();
    c = cio_cond_new(l);
    CHECK(cio_cond_lock(c) == l);
    CHECK_EQ(cio_lock_acquire(l), 0);
    CHECK(cio_cond_locked(c));
    CHECK_EQ(cio_cond_notify(c, 1), 0); /* nobody waiting: fine */
    CHECK_EQ(cio_cond_release(c), 0);
    CHECK(!cio_lock_locked(l));
    cio_cond_free(c);
    cio_lock_free(l); /* the condition did not own it */
    return NULL;
}

static bool reached(void *arg)
{
    condw *cw = arg;
    cw->checks++;
    return *cw->counter >= cw->target;
}

static void *cond_wait_for_worker(void *arg)
{
    condw *cw = arg;
    CHECK_EQ(cio_cond_acquire(cw->c), 0);
    cw->w.rc = cio_cond_wait_for(cw->c, reached, cw);
    cw->w.held = cio_cond_locked(cw->c);
    if (cw->w.rc == 0)
        CHECK(*cw->counter >= cw->target);
    order_push(cw->w.id);
    cio_cond_release(cw->c);
    return NULL;
}

static void *cond_wait_for(void *arg)
{
    (void)arg;
    order_reset();
    cio_cond *c = cio_cond_new(NULL);
    int counter = 0;
    condw a = {.w = {.id = 1}, .c = c, .counter = &counter, .target = 3};
    condw b = {.w = {.id = 2}, .c = c, .counter = &counter, .target = 5};
    cio_task *ta = spawn(cond_wait_for_worker, &a);
    cio_task *tb = spawn(cond_wait_for_worker, &b);
    settle();
    CHECK_EQ(a.checks, 1);
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(cio_cond_acquire(c), 0);
        counter++;
        CHECK_EQ(cio_cond_notify_all(c), 0);
        CHECK_EQ(cio_cond_release(c), 0);
        settle();
        if (i == 2)
            CHECK_ORDER(1);
    }
    CHECK_ORDER(1, 2);
    CHECK_EQ(a.checks, 4); /* 0, 1, 2, 3 */
    CHECK_EQ(b.checks, 6);
    CHECK_EQ(finish(ta), 0);
    CHECK_EQ(finish(tb), 0);
    CHECK_EQ(a.w.rc, 0);
    CHECK_EQ(b.w.rc, 0);
    CHECK(a.w.held && b.w.held);

    /* already true: returns at once, without waiting */
    CHECK_EQ(cio_cond_acquire(c), 0);
    condw d = {.c = c, .counter = &counter, .target = 1};
    CHECK_EQ(cio_cond_wait_for(c, reached, &d), 0);
    CHECK_EQ(d.checks, 1);
    /* cancelled while waiting for it: -ECANCELED, lock held */
    d.target = 100;
    cio_timeout s;
    cio_timeout_enter(&s, 0.01);
    int rc = cio_cond_wait_for(c, reached, &d);
    CHECK_EQ(rc, -ECANCELED);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
    CHECK(cio_cond_locked(c));
    CHECK_EQ(cio_cond_release(c), 0);
    cio_cond_free(c);
    return NULL;
}

/* Cancelled while waiting: the wait only returns once it has the lock back. */
static void *cond_cancel_waiting(void *arg)
{
    (void)arg;
    order_reset();
    cio_cond *c = cio_cond_new(NULL);
    condw w[3];
    cio_task *t[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (condw){.w = {.id = i}, .c = c};
        t[i] = spawn(cond_worker, &w[i]);
    }
    settle();
    CHECK_EQ(cio_cond_acquire(c), 0);
    CHECK(cio_cancel(t[1], NULL)); /* leaves the middle of the waiters */
    settle();
    CHECK_EQ(w[1].w.step, 1); /* cannot return yet: we hold the lock */
    CHECK_EQ(cio_cond_release(c), 0);
    settle();
    CHECK_EQ(w[1].w.step, 2);
    CHECK_EQ(w[1].w.rc, -ECANCELED);
    CHECK(w[1].w.held);
    CHECK_EQ(finish(t[1]), -ECANCELED);

    /* notify(1) goes to the first remaining waiter, then the next */
    CHECK_EQ(cio_cond_acquire(c), 0);
    CHECK_EQ(cio_cond_notify(c, 1), 0);
    CHECK_EQ(cio_cond_release(c), 0);
    settle();
    CHECK_ORDER(1, 0);
    CHECK_EQ(finish(t[0]), 0);
    CHECK_EQ(w[0].w.rc, 0);
    CHECK_EQ(w[2].w.step, 1);
    CHECK_EQ(cio_cond_acquire(c), 0);
    CHECK_EQ(cio_cond_notify(c, 1), 0);
    CHECK_EQ(cio_cond_release(c), 0);
    settle();
    CHECK_ORDER(1, 0, 2);
    CHECK_EQ(finish(t[2]), 0);
    CHECK_EQ(w[2].w.rc, 0);

    /* a cancellation pending before the wait: -ECANCELED at once, and the
     * lock is still held (it was never released) */
    CHECK_EQ(cio_cond_acquire(c), 0);
    cio_cancel(cio_current_task(), NULL);
    CHECK_EQ(cio_cond_wait(c), -ECANCELED);
    CHECK(cio_cond_locked(c));
    cio_task_uncancel(cio_current_task());
    CHECK_EQ(cio_cond_release(c), 0);
    cio_cond_free(c);
    return NULL;
}

/* Issue 10 §2a: notified, then cancelled before it runs.  The cancellation
 * wins (wait returns -ECANCELED, with the lock held again) and the
 * notification goes to the next waiter instead of being lost (asyncio
 * 3.13's Condition.wait). */
static void *cond_notify_then_cancel(void *arg)
{
    (void)arg;
    for (int variant = 0; variant < 2; variant++) {
        order_reset();
        cio_cond *c = cio_cond_new(NULL);
        condw a = {.w = {.id = 1}, .c = c, .hold = true}, b = {.w = {.id = 2}, .c = c, .hold = true};
        cio_task *ta = spawn(cond_worker, &a);
        cio_task *tb = spawn(cond_worker, &b);
        settle();
        CHECK_EQ(cio_cond_waiters(c), 2);
        CHECK_EQ(cio_cond_acquire(c), 0);
        CHECK_EQ(cio_cond_notify(c, 1), 0);
        CHECK(cio_cancel(ta, NULL));
        if (variant == 0) {
            /* the lock is free by the time a runs */
            CHECK_EQ(cio_cond_release(c), 0);
        } else {
            /* a runs while we still hold the lock: it must wait for it */
            settle();
            CHECK_EQ(a.w.step, 1);
            CHECK_EQ(cio_cond_release(c), 0);
        }
        CHECK_EQ(finish(ta), -ECANCELED);
        CHECK_EQ(a.w.rc, -ECANCELED);
        CHECK(a.w.held);
        CHECK_EQ(a.w.rc2, 0); /* never got to its critical section's sleep */
        /* b got the notification a could not use */
        settle();
        CHECK_EQ(b.w.step, 2);
        CHECK_EQ(b.w.rc, 0);
        CHECK(b.w.held);
        CHECK_ORDER(1, 2);
        CHECK(cio_cond_locked(c)); /* b holds it in its sleep */
        cio_cancel(tb, NULL);
        CHECK_EQ(finish(tb), -ECANCELED);
        CHECK_EQ(b.w.rc2, -ECANCELED);
        CHECK(!cio_cond_locked(c));
        CHECK_EQ(cio_cond_waiters(c), 0);
        cio_cond_free(c);
    }
    return NULL;
}

static void *cond_timeout(void *arg)
{
    (void)arg;
    order_reset();
    cio_cond *c = cio_cond_new(NULL);
    condw b = {.w = {.id = 2}, .c = c, .hold = true};
    CHECK_EQ(cio_cond_acquire(c), 0);
    cio_timeout s;
    cio_timeout_enter(&s, 0.01);
    int rc = cio_cond_wait(c);
    CHECK_EQ(rc, -ECANCELED);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
    CHECK(cio_cond_locked(c));
    CHECK_EQ(cio_cond_release(c), 0);
    /* no stale waiter: a notify(1) goes to the real waiter */
    cio_task *tb = spawn(cond_worker, &b);
    settle();
    CHECK_EQ(cio_cond_acquire(c), 0);
    CHECK_EQ(cio_cond_notify(c, 1), 0);
    CHECK_EQ(cio_cond_release(c), 0);
    settle();
    CHECK_EQ(b.w.step, 2);
    CHECK_EQ(b.w.rc, 0);
    cio_cancel(tb, NULL);
    CHECK_EQ(finish(tb), -ECANCELED);

    cio_cond_free(c);
    return NULL;
}

static void cancel_cb(void *t) { cio_cancel(t, NULL); }

/* The deadline passes while another task holds the lock: the wait returns
 * only once it has the lock back.  The holder (lock_race_worker, which holds
 * it in cio_sleep(10)) is cancelled after 30 ms; the deadline is 10 ms. */
static void *cond_timeout_contended(void *arg)
{
    (void)arg;
    cio_cond *c = cio_cond_new(NULL);
    cio_lock *l = cio_cond_lock(c);
    worker holder = {.obj = l};
    CHECK_EQ(cio_cond_acquire(c), 0);
    cio_timeout s;
    cio_timeout_enter(&s, 0.01);
    cio_task *th = spawn(lock_race_worker, &holder);
    cio_handle *h;
    CHECK_EQ(cio_call_later(cio_loop_current(), 0.03, cancel_cb, th, &h), 0);
    double t0 = cio_time();
    int rc = cio_cond_wait(c);
    CHECK(cio_time() - t0 >= 0.025);
    CHECK_EQ(rc, -ECANCELED);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
    CHECK(cio_cond_locked(c));
    CHECK_EQ(holder.rc, 0);
    CHECK_EQ(holder.rc2, -ECANCELED);
    CHECK_EQ(finish(th), -ECANCELED);
    cio_handle_release(h);
    CHECK_EQ(cio_cond_release(c), 0);
    cio_cond_free(c);
    return NULL;
}

/* ---- Semaphore ---------------------------------------------------------- */

static void *sem_worker(void *arg)
{
    worker *w = arg;
    w->rc = cio_sem_acquire(w->obj);
    w->step = 1;
    if (w->rc)
        return NULL;
    order_push(w->id);
    w->rc2 = cio_sleep(10); /* hold the permit until cancelled */
    cio_sem_release(w->obj);
    return NULL;
}

static void *sem_basic(void *arg)
{
    (void)arg;
    cio_sem *s = cio_sem_new(2);
    CHECK_EQ(cio_sem_value(s), 2);
    CHECK(!cio_sem_locked(s));
    CHECK_EQ(cio_sem_acquire(s), 0);
    CHECK_EQ(cio_sem_acquire(s), 0);
    CHECK_EQ(cio_sem_value(s), 0);
    CHECK(cio_sem_locked(s));
    CHECK_EQ(cio_sem_release(s), 0);
    CHECK_EQ(cio_sem_release(s), 0);
    CHECK_EQ(cio_sem_release(s), 0); /* unbounded: may go past the start */
    CHECK_EQ(cio_sem_value(s), 3);
    cio_sem_free(s);

    /* BoundedSemaphore: releasing past the initial value fails and changes
     * nothing */
    s = cio_sem_new_bounded(2);
    CHECK_EQ(cio_sem_release(s), CIO_ESEMOVERFLOW);
    CHECK(!strcmp(cio_strerror(CIO_ESEMOVERFLOW), "BoundedSemaphore released too many times"));
    CHECK_EQ(cio_sem_value(s), 2);
    CHECK_EQ(cio_sem_acquire(s), 0);
    CHECK_EQ(cio_sem_release(s), 0);
    CHECK_EQ(cio_sem_release(s), CIO_ESEMOVERFLOW);
    CHECK_EQ(cio_sem_value(s), 2);
    /* with a waiter: the permit goes to the waiter, and the bound holds
     * afterwards */
    CHECK_EQ(cio_sem_acquire(s), 0);
    CHECK_EQ(cio_sem_acquire(s), 0);
    worker w = {.id = 1, .obj = s};
    cio_task *t = spawn(sem_worker, &w);
    settle();
    CHECK_EQ(w.step, 0);
    CHECK_EQ(cio_sem_release(s), 0); /* reserved for w */
    CHECK_EQ(cio_sem_value(s), 0);
    CHECK_EQ(cio_sem_release(s), 0);
    CHECK_EQ(cio_sem_value(s), 1);
    cio_cancel(t, NULL); /* before w runs: it gives its permit back */
    CHECK_EQ(finish(t), -ECANCELED);
    CHECK_EQ(w.rc, -ECANCELED);
    CHECK_EQ(cio_sem_value(s), 2);
    CHECK_EQ(cio_sem_release(s), CIO_ESEMOVERFLOW);
    CHECK_EQ(cio_sem_value(s), 2);
    cio_sem_free(s);

    /* BoundedSemaphore(0): any release is one too many */
    s = cio_sem_new_bounded(0);
    CHECK(cio_sem_locked(s));
    CHECK_EQ(cio_sem_release(s), CIO_ESEMOVERFLOW);
    CHECK_EQ(cio_sem_value(s), 0);
    cio_sem_free(s);

    /* Semaphore(0) */
    s = cio_sem_new(0);
    CHECK(cio_sem_locked(s));
    CHECK_EQ(cio_sem_release(s), 0);
    CHECK_EQ(cio_sem_value(s), 1);
    cio_sem_free(s);
    return NULL;
}

static void *sem_fifo(void *arg)
{
    (void)arg;
    order_reset();
    cio_sem *s = cio_sem_new(1);
    worker w[6];
    cio_task *t[6];
    CHECK_EQ(cio_sem_acquire(s), 0);
    for (int i = 0; i < 6; i++) {
        w[i] = (worker){.id = i, .obj = s};
        t[i] = spawn(sem_worker, &w[i]);
    }
    settle();
    CHECK_EQ(norder, 0);
    CHECK(cio_sem_locked(s));
    /* cancelled waiters in the middle are skipped */
    CHECK(cio_cancel(t[1], NULL));
    CHECK(cio_cancel(t[4], NULL));
    settle();
    CHECK_EQ(w[1].rc, -ECANCELED);
    CHECK_EQ(w[4].rc, -ECANCELED);
    /* two permits at once: the first two waiters, in order */
    CHECK_EQ(cio_sem_release(s), 0);
    CHECK_EQ(cio_sem_release(s), 0);
    CHECK_EQ(cio_sem_value(s), 0);
    /* a new acquirer does not barge in ahead of the waiters */
    worker late = {.id = 9, .obj = s};
    cio_task *tl = spawn(sem_worker, &late);
    settle();
    CHECK_ORDER(0, 2);
    CHECK_EQ(late.step, 0);
    /* each cancelled holder gives its permit to the next in line */
    cio_cancel(t[0], NULL);
    settle();
    CHECK_ORDER(0, 2, 3);
    cio_cancel(t[2], NULL);
    settle();
    CHECK_ORDER(0, 2, 3, 5);
    cio_cancel(t[3], NULL);
    settle();
    CHECK_ORDER(0, 2, 3, 5, 9);
    cio_cancel(t[5], NULL);
    cio_cancel(tl, NULL);
    for (int i = 0; i < 6; i++)
        CHECK_EQ(finish(t[i]), -ECANCELED);
    CHECK_EQ(finish(tl), -ECANCELED);
    /* one initial permit, taken once by us and released twice */
    CHECK_EQ(cio_sem_value(s), 2);
    cio_sem_free(s);
    return NULL;
}

static void *sem_cancel_at_wakeup(void *arg)
{
    (void)arg;
    order_reset();
    cio_sem *s = cio_sem_new_bounded(1);
    worker a = {.id = 1, .obj = s}, b = {.id = 2, .obj = s};
    CHECK_EQ(cio_sem_acquire(s), 0);
    cio_task *ta = spawn(sem_worker, &a);
    cio_task *tb = spawn(sem_worker, &b);
    settle();
    CHECK_EQ(cio_sem_release(s), 0); /* permit reserved for a */
    CHECK(cio_cancel(ta, NULL));      /* before a runs */
    CHECK_EQ(a.step, 0);
    CHECK_EQ(cio_sem_value(s), 0);
    CHECK(cio_sem_locked(s));
    CHECK_EQ(finish(ta), -ECANCELED);
    CHECK_EQ(a.rc, -ECANCELED); /* the cancellation wins */
    settle();
    CHECK_ORDER(2); /* a passed the permit on to b: nothing lost */
    CHECK_EQ(b.rc, 0);
    cio_cancel(tb, NULL);
    CHECK_EQ(finish(tb), -ECANCELED);
    CHECK_EQ(cio_sem_value(s), 1); /* and nothing duplicated */
    CHECK_EQ(cio_sem_release(s), CIO_ESEMOVERFLOW);
    cio_sem_free(s);
    return NULL;
}

static void *sem_timeout(void *arg)
{
    (void)arg;
    cio_sem *s = cio_sem_new(0);
    cio_timeout sc;
    cio_timeout_enter(&sc, 0.01);
    int rc = cio_sem_acquire(s);
    CHECK_EQ(rc, -ECANCELED);
    CHECK_EQ(cio_timeout_exit(&sc, rc), -ETIMEDOUT);
    /* the timed-out waiter left: a release adds a permit */
    CHECK(cio_sem_locked(s));
    CHECK_EQ(cio_sem_release(s), 0);
    CHECK_EQ(cio_sem_value(s), 1);
    CHECK(!cio_sem_locked(s));
    cio_sem_free(s);
    return NULL;
}

/* ---- Barrier ------------------------------------------------------------ */

typedef struct barw {
    worker w;
    int cycles;
    int idx[8];
} barw;

static void *barrier_worker(void *arg)
{
    barw *bw = arg;
    for (int i = 0; i < bw->cycles; i++) {
        int rc = cio_barrier_wait(bw->w.obj);
        bw->idx[i] = rc;
        if (rc < 0) {
            bw->w.rc = rc;
            return NULL;
        }
        rc = cio_sleep(0.001 * (bw->w.id % 3));
        if (rc < 0) {
            bw->w.rc2 = rc;
            return NULL;
        }
    }
    return NULL;
}

static void *barrier_basic(void *arg)
{
    (void)arg;
    errno = 0;
    CHECK(cio_barrier_new(0) == NULL);
    CHECK_EQ(errno, EINVAL);

    cio_barrier *b1 = cio_barrier_new(1);
    CHECK_EQ(cio_barrier_wait(b1), 0);
    CHECK_EQ(cio_barrier_wait(b1), 0);
    cio_barrier_free(b1);

    cio_barrier *b = cio_barrier_new(3);
    CHECK_EQ(cio_barrier_parties(b), 3);
    CHECK_EQ(cio_barrier_n_waiting(b), 0);
    CHECK(!cio_barrier_broken(b));
    barw w[3];
    cio_task *t[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (barw){.w = {.id = i, .obj = b}, .cycles = 4};
        t[i] = spawn(barrier_worker, &w[i]);
    }
    for (int i = 0; i < 3; i++)
        CHECK_EQ(finish(t[i]), 0);
    for (int c = 0; c < 4; c++) {
        int seen = 0;
        for (int i = 0; i < 3; i++) {
            CHECK(w[i].idx[c] >= 0 && w[i].idx[c] < 3);
            if (w[i].idx[c] >= 0 && w[i].idx[c] < 3)
                seen |= 1 << w[i].idx[c];
        }
        CHECK_EQ(seen, 7); /* each index 0..2 exactly once per cycle */
    }
    /* first cycle: arrival order is spawn order */
    CHECK_EQ(w[0].idx[0], 0);
    CHECK_EQ(w[1].idx[0], 1);
    CHECK_EQ(w[2].idx[0], 2);
    CHECK_EQ(cio_barrier_n_waiting(b), 0);
    cio_barrier_free(b);
    return NULL;
}

static void *barrier_abort_reset(void *arg)
{
    (void)arg;
    cio_barrier *b = cio_barrier_new(3);
    barw w[2];
    cio_task *t[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (barw){.w = {.id = i, .obj = b}, .cycles = 1};
        t[i] = spawn(barrier_worker, &w[i]);
    }
    settle();
    CHECK_EQ(cio_barrier_n_waiting(b), 2);
    cio_barrier_abort(b);
    CHECK(cio_barrier_broken(b));
    CHECK_EQ(cio_barrier_n_waiting(b), 0);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(finish(t[i]), 0);
        CHECK_EQ(w[i].w.rc, CIO_EBROKENBARRIER);
    }
    CHECK_EQ(cio_barrier_wait(b), CIO_EBROKENBARRIER); /* later waits too */
    /* reset makes it usable again */
    cio_barrier_reset(b);
    CHECK(!cio_barrier_broken(b));
    for (int i = 0; i < 2; i++) {
        w[i] = (barw){.w = {.id = i, .obj = b}, .cycles = 1};
        t[i] = spawn(barrier_worker, &w[i]);
    }
    settle();
    CHECK_EQ(cio_barrier_n_waiting(b), 2);
    /* reset with waiters: they get CIO_EBROKENBARRIER, the barrier stays
     * usable */
    cio_barrier_reset(b);
    CHECK(!cio_barrier_broken(b));
    CHECK_EQ(cio_barrier_n_waiting(b), 0);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(finish(t[i]), 0);
        CHECK_EQ(w[i].w.rc, CIO_EBROKENBARRIER);
    }
    for (int i = 0; i < 2; i++) {
        w[i] = (barw){.w = {.id = i, .obj = b}, .cycles = 1};
        t[i] = spawn(barrier_worker, &w[i]);
    }
    settle();
    CHECK_EQ(cio_barrier_wait(b), 2);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(finish(t[i]), 0);
        CHECK_EQ(w[i].idx[0], i);
    }
    cio_barrier_free(b);
    return NULL;
}

static void *barrier_cancel(void *arg)
{
    (void)arg;
    cio_barrier *b = cio_barrier_new(3);
    barw w[4];
    cio_task *t[4];
    for (int i = 0; i < 2; i++) {
        w[i] = (barw){.w = {.id = i, .obj = b}, .cycles = 1};
        t[i] = spawn(barrier_worker, &w[i]);
    }
    settle();
    CHECK_EQ(cio_barrier_n_waiting(b), 2);
    /* a cancelled waiter leaves the barrier */
    cio_cancel(t[0], NULL);
    settle();
    CHECK_EQ(cio_barrier_n_waiting(b), 1);
    CHECK_EQ(finish(t[0]), -ECANCELED);
    CHECK_EQ(w[0].w.rc, -ECANCELED);
    CHECK(!cio_barrier_broken(b));
    /* so two more parties are needed */
    w[2] = (barw){.w = {.id = 2, .obj = b}, .cycles = 1};
    t[2] = spawn(barrier_worker, &w[2]);
    settle();
    CHECK_EQ(cio_barrier_n_waiting(b), 2);
    CHECK(!cio_done(t[1]));
    CHECK_EQ(cio_barrier_wait(b), 2);
    CHECK_EQ(finish(t[1]), 0);
    CHECK_EQ(finish(t[2]), 0);
    /* the index is the arrival count (asyncio's _count): 1 again for the
     * task that took the cancelled one's place */
    CHECK_EQ(w[1].idx[0], 1);
    CHECK_EQ(w[2].idx[0], 1);

    /* released, then cancelled before it runs: the cancellation wins (as
     * in asyncio, where it lands in the condition wait), the task still
     * drains out of the barrier, and the others pass */
    for (int i = 0; i < 2; i++) {
        w[i] = (barw){.w = {.id = i, .obj = b}, .cycles = 2};
        t[i] = spawn(barrier_worker, &w[i]);
    }
    settle();
    CHECK_EQ(cio_barrier_wait(b), 2);
    CHECK(!strcmp(cio_barrier_state(b), "draining"));
    CHECK(cio_cancel(t[0], NULL));
    settle();
    CHECK_EQ(w[0].idx[0], -ECANCELED);
    CHECK_EQ(w[0].w.rc, -ECANCELED);
    CHECK_EQ(finish(t[0]), -ECANCELED);
    CHECK_EQ(w[1].idx[0], 1);
    cio_sleep(0.02); /* w[1] sleeps 1 ms between cycles */
    CHECK_EQ(cio_barrier_n_waiting(b), 1); /* w[1] waits for its 2nd cycle */
    cio_barrier_abort(b);
    CHECK_EQ(finish(t[1]), 0);
    CHECK_EQ(w[1].idx[1], CIO_EBROKENBARRIER);

    /* deadline-aware */
    cio_barrier_reset(b);
    cio_timeout s;
    cio_timeout_enter(&s, 0.01);
    int rc = cio_barrier_wait(b);
    CHECK_EQ(rc, -ECANCELED);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
    CHECK_EQ(cio_barrier_n_waiting(b), 0);
    cio_barrier_free(b);
    return NULL;
}

/* ---- Guards ------------------------------------------------------------- */

static int guard_releases;

/* Each helper returns early from a different place; the guards must release
 * on every path. */
static int g_inner(cio_sem *s, int mode)
{
    CIO_GUARD(g);
    int rc = cio_sem_guard(s, &g);
    if (rc < 0)
        return rc;
    if (mode == 0)
        return 10;
    if (cio_sleep(0.001) < 0)
        return -ECANCELED;
    if (mode == 1)
        return 11;
    return 12;
}

static int g_middle(cio_lock *l, cio_sem *s, int mode)
{
    CIO_GUARD(g);
    int rc = cio_lock_guard(l, &g);
    if (rc)
        return rc;
    CHECK(cio_lock_locked(l));
    for (int i = 0; i < 3; i++) {
        CIO_GUARD(inner);
        if (cio_sem_guard(s, &inner))
            return -1;
        if (i == mode)
            return 100 + g_inner(s, mode); /* two permits held right now */
    }
    return g_inner(s, mode);
}

static void *guard_nested(void *arg)
{
    (void)arg;
    cio_lock *l = cio_lock_new();
    cio_sem *s = cio_sem_new(2);
    CHECK_EQ(g_middle(l, s, 0), 110);
    CHECK(!cio_lock_locked(l));
    CHECK_EQ(cio_sem_value(s), 2);
    CHECK_EQ(g_middle(l, s, 1), 111);
    CHECK(!cio_lock_locked(l));
    CHECK_EQ(cio_sem_value(s), 2);
    CHECK_EQ(g_middle(l, s, 2), 112);
    CHECK(!cio_lock_locked(l));
    CHECK_EQ(cio_sem_value(s), 2);
    CHECK_EQ(g_middle(l, s, 5), 12); /* loop ended normally */
    CHECK(!cio_lock_locked(l));
    CHECK_EQ(cio_sem_value(s), 2);

    /* cancelled inside the guarded region: released on that path too */
    cio_cancel(cio_current_task(), NULL);
    CHECK_EQ(g_middle(l, s, 1), 100 - ECANCELED);
    cio_task_uncancel(cio_current_task());
    CHECK(!cio_lock_locked(l));
    CHECK_EQ(cio_sem_value(s), 2);

    /* acquire that fails: the guard stays disarmed, nothing released */
    CHECK_EQ(cio_lock_acquire(l), 0);
    {
        CIO_GUARD(g);
        cio_timeout sc;
        cio_timeout_enter(&sc, 0.005);
        int rc = cio_lock_guard(l, &g);
        CHECK_EQ(cio_timeout_exit(&sc, rc), -ETIMEDOUT);
        CHECK(g.obj == NULL);
    }
    CHECK(cio_lock_locked(l)); /* still ours */
    CHECK_EQ(cio_lock_release(l), 0);

    /* early release: once only */
    {
        CIO_GUARD(g);
        CHECK_EQ(cio_lock_guard(l, &g), 0);
        cio_guard_release(&g);
        CHECK(!cio_lock_locked(l));
        cio_guard_release(&g); /* no-op */
        CHECK_EQ(cio_lock_acquire(l), 0); /* someone else's hold */
    }
    CHECK(cio_lock_locked(l)); /* the guard did not release it again */
    CHECK_EQ(cio_lock_release(l), 0);
    cio_sem_free(s);
    cio_lock_free(l);
    return NULL;
}

/* An asynchronous release (an __aexit__ that awaits). */
static int ticks;
static void *ticker(void *arg)
{
    (void)arg;
    for (;;) {
        if (cio_sleep(0.001) < 0)
            return NULL;
        ticks++;
    }
}

static void slow_unlock(void *obj)
{
    int before = ticks;
    int rc = cio_sleep(0.01); /* suspends: other tasks run meanwhile */
    if (rc == 0)
        CHECK(ticks > before);
    guard_releases++;
    cio_lock_release(obj);
}

static int slow_guarded(cio_lock *l, bool fail)
{
    CIO_GUARD(g);
    int rc = cio_lock_acquire(l);
    if (rc)
        return rc;
    cio_guard_arm(&g, l, slow_unlock);
    if (fail)
        return -EIO;
    return 0;
}

static void *guard_async_release(void *arg)
{
    (void)arg;
    guard_releases = 0;
    ticks = 0;
    cio_task *tk = spawn(ticker, NULL);
    cio_lock *l = cio_lock_new();
    CHECK_EQ(slow_guarded(l, false), 0);
    CHECK_EQ(guard_releases, 1);
    CHECK(!cio_lock_locked(l));
    CHECK_EQ(slow_guarded(l, true), -EIO);
    CHECK_EQ(guard_releases, 2);
    CHECK(!cio_lock_locked(l));
    /* a pending cancellation reaches the release's own suspension; the
     * release still happens */
    cio_cancel(cio_current_task(), NULL);
    {
        CIO_GUARD(g);
        CHECK_EQ(cio_lock_acquire(l), 0); /* uncontended: no suspension */
        cio_guard_arm(&g, l, slow_unlock);
    }
    CHECK_EQ(guard_releases, 3);
    CHECK(!cio_lock_locked(l));
    CHECK_EQ(cio_task_uncancel(cio_current_task()), 0);
    cio_cancel(tk, NULL);
    CHECK_EQ(finish(tk), -ECANCELED);
    cio_lock_free(l);
    return NULL;
}

/* Issue 10 §2e: a reset while released tasks are still draining out of
 * the barrier must not break those that already re-entered it for the next
 * cycle (CPython's test_reset_barrier_while_tasks_draining hung): they wait
 * until the draining is over, then fill the barrier again. */
enum { NDRAIN = 4 };
typedef struct drainer {
    cio_barrier *b;
    int *count;
    int first, second, third;
} drainer;

static void *drain_worker(void *arg)
{
    drainer *d = arg;
    d->first = cio_barrier_wait(d->b);
    if (++*d->count == NDRAIN)
        cio_barrier_reset(d->b); /* the last one out resets... */
    d->second = cio_barrier_wait(d->b); /* ...while the others wait again */
    d->third = cio_barrier_wait(d->b);
    return NULL;
}

static void *barrier_reset_while_draining(void *arg)
{
    (void)arg;
    cio_barrier *b = cio_barrier_new(NDRAIN);
    int count = 0;
    drainer d[NDRAIN];
    cio_task *t[NDRAIN];
    for (int i = 0; i < NDRAIN; i++) {
        d[i] = (drainer){.b = b, .count = &count};
        t[i] = spawn(drain_worker, &d[i]);
    }
    for (int i = 0; i < NDRAIN; i++) {
        CHECK_EQ(cio_wait_for(t[i], 5.0, NULL), 0);
        cio_release(t[i]);
    }
    int seen[3] = {0};
    for (int i = 0; i < NDRAIN; i++) {
        seen[0] |= 1 << d[i].first;
        seen[1] |= 1 << d[i].second;
        seen[2] |= 1 << d[i].third;
    }
    for (int k = 0; k < 3; k++)
        CHECK_EQ(seen[k], (1 << NDRAIN) - 1); /* every index once per cycle */
    CHECK(!cio_barrier_broken(b));
    CHECK(!strcmp(cio_barrier_state(b), "filling"));
    CHECK_EQ(cio_barrier_n_waiting(b), 0);
    cio_barrier_free(b);
    return NULL;
}

/* ---- the executor's result hand-off (issue 10 §2a) ---------------------- */

/* The job finishes, its completion wakes the task in cio_to_thread, and the
 * task is cancelled before it runs again: the cancellation wins (-ECANCELED)
 * but the result is not lost: *result still receives it, so a heap result
 * can be freed (ASan's leak check sees it otherwise). */
static void *heap_job(void *arg)
{
    (void)arg;
    char *p = malloc(16);
    if (p)
        strcpy(p, "result");
    return p;
}

typedef struct tt {
    int rc;
    void *result;
} tt;

static void *to_thread_task(void *arg)
{
    tt *x = arg;
    x->rc = cio_to_thread(heap_job, NULL, &x->result);
    return NULL;
}

static void *executor_result_cancel_at_wakeup(void *arg)
{
    (void)arg;
    tt x = {0};
    cio_task *t = spawn(to_thread_task, &x);
    /* this task keeps yielding, so it is ahead of t in the ready queue when
     * the job's completion wakes t */
    while (cio_task_state(t) != CIO_TASK_SUSPENDED)
        cio_yield(); /* t parks in cio_to_thread */
    while (cio_task_state(t) == CIO_TASK_SUSPENDED)
        cio_yield();
    /* woken by the job's completion, not run yet */
    CHECK_EQ(cio_task_state(t), CIO_TASK_SCHEDULED);
    CHECK(cio_cancel(t, NULL));
    CHECK_EQ(finish(t), -ECANCELED);
    CHECK_EQ(x.rc, -ECANCELED); /* the cancellation wins */
    CHECK(x.result != NULL);    /* and the result is still delivered */
    if (x.result)
        CHECK(!strcmp(x.result, "result"));
    free(x.result);
    return NULL;
}

/* ---- outside a task ----------------------------------------------------- */

static void outside_task(void)
{
    check_current = "outside_task";
    int fails = check_failures;
    /* issue 14 §3: the acquire calls suspend by contract, even uncontended */
    cio_lock *l = cio_lock_new();
    CHECK_EQ(cio_lock_acquire(l), CIO_ENOTASK);
    CHECK(!cio_lock_locked(l));
    cio_guard g;
    CHECK_EQ(cio_lock_guard(l, &g), CIO_ENOTASK);
    CHECK(g.obj == NULL);
    CHECK_EQ(cio_lock_release(l), CIO_ENOTACQUIRED);
    cio_lock_free(l);
    cio_event *e = cio_event_new();
    CHECK_EQ(cio_event_wait(e), CIO_ENOTASK);
    cio_event_set(e);
    CHECK_EQ(cio_event_wait(e), 0); /* no need to wait */
    cio_event_free(e);
    cio_sem *s = cio_sem_new(0);
    CHECK_EQ(cio_sem_acquire(s), CIO_ENOTASK);
    CHECK_EQ(cio_sem_release(s), 0);
    CHECK_EQ(cio_sem_acquire(s), CIO_ENOTASK); /* even with a free permit */
    CHECK_EQ(cio_sem_value(s), 1);
    CHECK_EQ(cio_sem_guard(s, &g), CIO_ENOTASK);
    cio_sem_free(s);
    cio_cond *c = cio_cond_new(NULL);
    CHECK_EQ(cio_cond_acquire(c), CIO_ENOTASK);
    CHECK_EQ(cio_cond_wait(c), CIO_ENOTASK);
    CHECK_EQ(cio_cond_notify(c, 1), CIO_ENOTACQUIRED);
    cio_cond_free(c);
    cio_barrier *b = cio_barrier_new(2);
    CHECK_EQ(cio_barrier_wait(b), CIO_ENOTASK);
    CHECK_EQ(cio_barrier_n_waiting(b), 0);
    cio_barrier_free(b);
    fprintf(stderr, "%s outside_task\n", check_failures == fails ? "ok  " : "FAIL");
}

int main(void)
{
    RUN_TEST(outside_task);
    /* every test but the executor's runs on the virtual clock: its timeouts
     * race only with other tasks, so their order is exact under any load */
    setenv("CIO_VIRTUAL_TIME", "1", 1);
    RUN_TASK_TEST(lock_basic);
    RUN_TASK_TEST(lock_fifo);
    RUN_TASK_TEST(lock_cancel_middle);
    RUN_TASK_TEST(lock_cancel_at_wakeup);
    RUN_TASK_TEST(lock_timeout);
    RUN_TASK_TEST(event_basic);
    RUN_TASK_TEST(event_timeout);
    RUN_TASK_TEST(cond_basic);
    RUN_TASK_TEST(cond_wait_for);
    RUN_TASK_TEST(cond_cancel_waiting);
    RUN_TASK_TEST(cond_notify_then_cancel);
    RUN_TASK_TEST(cond_timeout);
    RUN_TASK_TEST(cond_timeout_contended);
    RUN_TASK_TEST(sem_basic);
    RUN_TASK_TEST(sem_fifo);
    RUN_TASK_TEST(sem_cancel_at_wakeup);
    RUN_TASK_TEST(sem_timeout);
    RUN_TASK_TEST(barrier_basic);
    RUN_TASK_TEST(barrier_abort_reset);
    RUN_TASK_TEST(barrier_cancel);
    RUN_TASK_TEST(barrier_reset_while_draining);
    unsetenv("CIO_VIRTUAL_TIME"); /* a worker thread: real time */
    RUN_TASK_TEST(executor_result_cancel_at_wakeup);
    setenv("CIO_VIRTUAL_TIME", "1", 1);
    RUN_TASK_TEST(guard_nested);
    RUN_TASK_TEST(guard_async_release);
    return check_exit();
}
