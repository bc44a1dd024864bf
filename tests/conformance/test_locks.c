/* SPDX-License-Identifier: MIT */
/* CPython Lib/test/test_asyncio/test_locks.py, ported (see conformance.h).
 *
 * asyncio's "result" lists are check.h's order recorder (order_push /
 * CHECK_ORDER); a coroutine c1(result) is a task running a small function
 * with its id.  len(x._waiters) is cio_*_waiters(); a Barrier's repr state is
 * cio_barrier_state(). */
#define CONF_FILE "test_locks"
#include "conformance.h"
#include "../lib/tasks.h"

#include <stdint.h>

#define I(x) ((void *)(intptr_t)(x))
#define V(p) ((int)(intptr_t)(p))

/* The result of a done task (asserting it is done), without releasing it. */
static int result_of(cio_task *t, void **v)
{
    CHECK(cio_done(t));
    return cio_result(t, v);
}

static void cancel_cb(void *t) { cio_cancel(t, NULL); }

static void call_soon(cio_callback cb, void *arg) { CHECK_EQ(cio_call_soon(cio_loop_current(), cb, arg, NULL), 0); }

/* gather(*tasks): every outcome in errors[] (return_exceptions), releases
 * them. */
static void gather_release(cio_task **t, size_t n, void **results, int *errors)
{
    CHECK_EQ(cio_gather(t, n, results, errors, CIO_RETURN_EXCEPTIONS), 0);
    for (size_t i = 0; i < n; i++)
        cio_release(t[i]);
}

/* A coroutine cN(result): `await wait(obj)`, then result.append(N); its
 * result is ret. */
typedef struct cw {
    void *obj;
    int id;
    int (*wait)(void *obj);
    void *ret;
} cw;

static void *c_task(void *arg)
{
    cw *c = arg;
    int rc = c->wait(c->obj);
    if (rc)
        return cio_fail(rc, NULL);
    order_push(c->id);
    return c->ret;
}

static int lock_acquire_v(void *l) { return cio_lock_acquire(l); }
static int event_wait_v(void *e) { return cio_event_wait(e); }
static int sem_acquire_v(void *s) { return cio_sem_acquire(s); }

/* ---- LockTests ---------------------------------------------------------- */

static void *lock_acquire_task(void *l)
{
    int rc = cio_lock_acquire(l);
    return rc ? cio_fail(rc, NULL) : I(1);
}

CONF_TASK(LockTests__test_acquire)
{
    order_reset();
    cio_lock *lock = cio_lock_new();
    CHECK_EQ(cio_lock_acquire(lock), 0);
    cw c1 = {lock, 1, lock_acquire_v, I(1)}, c2 = {lock, 2, lock_acquire_v, I(1)}, c3 = {lock, 3, lock_acquire_v, I(1)};
    cio_task *t1 = spawn(c_task, &c1), *t2 = spawn(c_task, &c2);
    cio_yield();
    CHECK_EQ(norder, 0);
    CHECK_EQ(cio_lock_release(lock), 0);
    cio_yield();
    CHECK_ORDER(1);
    cio_yield();
    CHECK_ORDER(1);
    cio_task *t3 = spawn(c_task, &c3);
    CHECK_EQ(cio_lock_release(lock), 0);
    cio_yield();
    CHECK_ORDER(1, 2);
    CHECK_EQ(cio_lock_release(lock), 0);
    cio_yield();
    CHECK_ORDER(1, 2, 3);
    cio_task *t[3] = {t1, t2, t3};
    for (int i = 0; i < 3; i++) {
        void *r = NULL;
        CHECK_EQ(result_of(t[i], &r), 0);
        CHECK_EQ(V(r), 1);
        cio_release(t[i]);
    }
    CHECK_EQ(cio_lock_release(lock), 0);
    cio_lock_free(lock);
    return NULL;
}

CONF_TASK(LockTests__test_acquire_cancel)
{
    cio_lock *lock = cio_lock_new();
    CHECK_EQ(cio_lock_acquire(lock), 0);
    cio_task *task = spawn(lock_acquire_task, lock);
    call_soon(cancel_cb, task);
    CHECK_EQ(await_release(task, NULL), -ECANCELED);
    CHECK_EQ(cio_lock_waiters(lock), 0);
    CHECK_EQ(cio_lock_release(lock), 0);
    cio_lock_free(lock);
    return NULL;
}

typedef struct lockit_arg {
    cio_lock *lock;
    cio_future *blocker;
} lockit_arg;

static void *lockit(void *arg)
{
    lockit_arg *a = arg;
    int rc = cio_lock_acquire(a->lock);
    if (rc)
        return cio_fail(rc, NULL);
    if (a->blocker)
        rc = cio_await(a->blocker, NULL);
    cio_lock_release(a->lock);
    return rc ? cio_fail(rc, NULL) : NULL;
}

CONF_TASK(test_cancel_race)
{
    /* A holds the lock, B and C wait; then B is cancelled and A releases
     * at once: the lock must go to C */
    cio_lock *lock = cio_lock_new();
    cio_future *fa = cio_future_new(NULL);
    lockit_arg a = {lock, fa}, b = {lock, NULL}, c = {lock, NULL};
    cio_task *ta = spawn(lockit, &a);
    cio_yield();
    CHECK(cio_lock_locked(lock));
    cio_task *tb = spawn(lockit, &b);
    cio_yield();
    CHECK_EQ(cio_lock_waiters(lock), 1);
    cio_task *tc = spawn(lockit, &c);
    cio_yield();
    CHECK_EQ(cio_lock_waiters(lock), 2);
    /* create the race and check */
    CHECK_EQ(cio_future_set_result(fa, NULL), 0);
    cio_cancel(tb, NULL);
    /* (asyncio keeps B's cancelled future in _waiters[0] until B runs;
     * cio drops a cancelled waiter at once) */
    CHECK_EQ(cio_lock_waiters(lock), 1);
    cio_yield();
    CHECK(!cio_lock_locked(lock));
    CHECK(cio_done(ta));
    CHECK(cio_cancelled(tb));
    CHECK_EQ(await_release(tc, NULL), 0);
    CHECK_EQ(await_release(ta, NULL), 0);
    CHECK_EQ(await_release(tb, NULL), -ECANCELED);
    cio_release(fa);
    cio_lock_free(lock);
    return NULL;
}

typedef struct crr {
    cio_lock *lock;
    int lock_count, call_count;
    cio_task *t1;
} crr;

static void *crr_lockit(void *arg)
{
    crr *s = arg;
    s->call_count++;
    int rc = cio_lock_acquire(s->lock);
    if (rc)
        return cio_fail(rc, NULL);
    s->lock_count++;
    return NULL;
}

static void crr_trigger(void *arg)
{
    crr *s = arg;
    cio_cancel(s->t1, NULL);
    CHECK_EQ(cio_lock_release(s->lock), 0);
}

CONF_TASK(test_cancel_release_race)
{
    /* Issue 32734: acquire 4 locks, cancel the second, release the first:
     * only one more may be taken */
    crr s = {.lock = cio_lock_new()};
    CHECK_EQ(cio_lock_acquire(s.lock), 0);
    s.t1 = spawn(crr_lockit, &s);
    cio_task *t2 = spawn(crr_lockit, &s), *t3 = spawn(crr_lockit, &s);
    cio_yield(); /* start the tasks */
    call_soon(crr_trigger, &s);
    CHECK_EQ(cio_await(s.t1, NULL), -ECANCELED);
    CHECK_EQ(s.lock_count, 1); /* only one lock was taken */
    CHECK_EQ(s.call_count, 3);
    CHECK(cio_cancelled(s.t1) && cio_done(t2));
    /* clean up the task stuck on acquire */
    cio_cancel(t3, NULL);
    cio_yield();
    CHECK(cio_cancelled(t3));
    cio_release(s.t1);
    cio_release(t2);
    cio_release(t3);
    CHECK_EQ(cio_lock_release(s.lock), 0);
    cio_lock_free(s.lock);
    return NULL;
}

CONF_TASK(test_finished_waiter_cancelled)
{
    cio_lock *lock = cio_lock_new();
    CHECK_EQ(cio_lock_acquire(lock), 0);
    CHECK(cio_lock_locked(lock));
    cio_task *tb = spawn(lock_acquire_task, lock);
    cio_yield();
    CHECK_EQ(cio_lock_waiters(lock), 1);
    /* a second waiter, wake the first and cancel it: the second must get it */
    cio_task *tc = spawn(lock_acquire_task, lock);
    cio_cancel(tb, NULL);
    CHECK_EQ(cio_lock_release(lock), 0);
    cio_yield();
    CHECK(cio_lock_locked(lock));
    CHECK(cio_cancelled(tb));
    CHECK_EQ(await_release(tc, NULL), 0);
    cio_release(tb);
    CHECK_EQ(cio_lock_release(lock), 0);
    cio_lock_free(lock);
    return NULL;
}

CONF_TASK(LockTests__test_release_not_acquired)
{
    cio_lock *lock = cio_lock_new();
    CHECK_EQ(cio_lock_release(lock), CIO_ENOTACQUIRED); /* RuntimeError */
    CHECK(strstr(cio_strerror(CIO_ENOTACQUIRED), "lock is not acquired") != NULL);
    cio_lock_free(lock);
    return NULL;
}

CONF_TASK(LockTests__test_release_no_waiters)
{
    cio_lock *lock = cio_lock_new();
    CHECK_EQ(cio_lock_acquire(lock), 0);
    CHECK(cio_lock_locked(lock));
    CHECK_EQ(cio_lock_release(lock), 0);
    CHECK(!cio_lock_locked(lock));
    cio_lock_free(lock);
    return NULL;
}

CONF_TASK(LockTests__test_context_manager)
{
    cio_lock *lock = cio_lock_new();
    CHECK(!cio_lock_locked(lock));
    {
        CIO_GUARD(g);
        CHECK_EQ(cio_lock_guard(lock, &g), 0);
        CHECK(cio_lock_locked(lock));
    }
    CHECK(!cio_lock_locked(lock));
    cio_lock_free(lock);
    return NULL;
}

/* ---- EventTests --------------------------------------------------------- */

CONF_TASK(EventTests__test_wait)
{
    order_reset();
    cio_event *ev = cio_event_new();
    CHECK(!cio_event_is_set(ev));
    cw c1 = {ev, 1, event_wait_v, NULL}, c2 = {ev, 2, event_wait_v, NULL}, c3 = {ev, 3, event_wait_v, NULL};
    cio_task *t1 = spawn(c_task, &c1), *t2 = spawn(c_task, &c2);
    cio_yield();
    CHECK_EQ(norder, 0);
    cio_task *t3 = spawn(c_task, &c3);
    cio_event_set(ev);
    cio_yield();
    CHECK_ORDER(3, 1, 2);
    cio_task *t[3] = {t1, t2, t3};
    for (int i = 0; i < 3; i++) {
        void *r = I(1);
        CHECK_EQ(result_of(t[i], &r), 0);
        CHECK(r == NULL);
        cio_release(t[i]);
    }
    cio_event_free(ev);
    return NULL;
}

CONF_TASK(test_wait_on_set)
{
    cio_event *ev = cio_event_new();
    cio_event_set(ev);
    CHECK_EQ(cio_event_wait(ev), 0);
    cio_event_free(ev);
    return NULL;
}

static void *event_wait_task(void *ev)
{
    int rc = cio_event_wait(ev);
    return rc ? cio_fail(rc, NULL) : I(1);
}

CONF_TASK(EventTests__test_wait_cancel)
{
    cio_event *ev = cio_event_new();
    cio_task *wait = spawn(event_wait_task, ev);
    call_soon(cancel_cb, wait);
    CHECK_EQ(await_release(wait, NULL), -ECANCELED);
    CHECK_EQ(cio_event_waiters(ev), 0);
    cio_event_free(ev);
    return NULL;
}

CONF_TASK(test_clear)
{
    cio_event *ev = cio_event_new();
    CHECK(!cio_event_is_set(ev));
    cio_event_set(ev);
    CHECK(cio_event_is_set(ev));
    cio_event_clear(ev);
    CHECK(!cio_event_is_set(ev));
    cio_event_free(ev);
    return NULL;
}

CONF_TASK(test_clear_with_waiters)
{
    order_reset();
    cio_event *ev = cio_event_new();
    cw c1 = {ev, 1, event_wait_v, I(1)};
    cio_task *t = spawn(c_task, &c1);
    cio_yield();
    CHECK_EQ(norder, 0);
    cio_event_set(ev);
    cio_event_clear(ev);
    CHECK(!cio_event_is_set(ev));
    cio_event_set(ev);
    cio_event_set(ev);
    CHECK_EQ(cio_event_waiters(ev), 1);
    cio_yield();
    CHECK_ORDER(1);
    CHECK_EQ(cio_event_waiters(ev), 0);
    void *r = NULL;
    CHECK_EQ(result_of(t, &r), 0);
    CHECK_EQ(V(r), 1);
    cio_release(t);
    cio_event_free(ev);
    return NULL;
}

/* ---- ConditionTests ----------------------------------------------------- */

/* acquire; if wait(): result.append(id); (release if rel); return True */
typedef struct condc {
    cio_cond *cond;
    int id;
    bool rel;
} condc;

static void *cond_c(void *arg)
{
    condc *c = arg;
    int rc = cio_cond_acquire(c->cond);
    if (rc == 0)
        rc = cio_cond_wait(c->cond);
    if (rc)
        return cio_fail(rc, NULL);
    order_push(c->id);
    if (c->rel)
        cio_cond_release(c->cond);
    return I(1);
}

static void check_true_results(cio_task **t, int n)
{
    for (int i = 0; i < n; i++) {
        void *r = NULL;
        CHECK_EQ(result_of(t[i], &r), 0);
        CHECK_EQ(V(r), 1);
        cio_release(t[i]);
    }
}

CONF_TASK(ConditionTests__test_wait)
{
    order_reset();
    cio_cond *cond = cio_cond_new(NULL);
    condc c1 = {cond, 1, false}, c2 = {cond, 2, false}, c3 = {cond, 3, false};
    cio_task *t[3] = {spawn(cond_c, &c1), spawn(cond_c, &c2), spawn(cond_c, &c3)};
    cio_yield();
    CHECK_EQ(norder, 0);
    CHECK(!cio_cond_locked(cond));
    CHECK_EQ(cio_cond_acquire(cond), 0);
    CHECK_EQ(cio_cond_notify(cond, 1), 0);
    cio_yield();
    CHECK_EQ(norder, 0);
    CHECK(cio_cond_locked(cond));
    CHECK_EQ(cio_cond_release(cond), 0);
    cio_yield();
    CHECK_ORDER(1);
    CHECK(cio_cond_locked(cond));
    CHECK_EQ(cio_cond_notify(cond, 2), 0);
    cio_yield();
    CHECK_ORDER(1);
    CHECK(cio_cond_locked(cond));
    CHECK_EQ(cio_cond_release(cond), 0);
    cio_yield();
    CHECK_ORDER(1, 2);
    CHECK(cio_cond_locked(cond));
    CHECK_EQ(cio_cond_release(cond), 0);
    cio_yield();
    CHECK_ORDER(1, 2, 3);
    CHECK(cio_cond_locked(cond));
    check_true_results(t, 3);
    cio_cond_free(cond);
    return NULL;
}

static void *cond_wait_task(void *cond)
{
    int rc = cio_cond_wait(cond);
    return rc ? cio_fail(rc, NULL) : I(1);
}

CONF_TASK(ConditionTests__test_wait_cancel)
{
    cio_cond *cond = cio_cond_new(NULL);
    CHECK_EQ(cio_cond_acquire(cond), 0);
    cio_task *wait = spawn(cond_wait_task, cond);
    call_soon(cancel_cb, wait);
    CHECK_EQ(await_release(wait, NULL), -ECANCELED);
    CHECK_EQ(cio_cond_waiters(cond), 0);
    CHECK(cio_cond_locked(cond));
    cio_cond_free(cond);
    return NULL;
}

static void cond_release_cb(void *cond) { CHECK_EQ(cio_cond_release(cond), 0); }

CONF_TASK(test_wait_cancel_contested)
{
    cio_cond *cond = cio_cond_new(NULL);
    CHECK_EQ(cio_cond_acquire(cond), 0);
    CHECK(cio_cond_locked(cond));
    cio_task *wait_task = spawn(cond_wait_task, cond);
    cio_yield();
    CHECK(!cio_cond_locked(cond));
    /* notify, but contest the lock before cancelling */
    CHECK_EQ(cio_cond_acquire(cond), 0);
    CHECK(cio_cond_locked(cond));
    CHECK_EQ(cio_cond_notify(cond, 1), 0);
    call_soon(cancel_cb, wait_task);
    call_soon(cond_release_cb, cond);
    int rc = await_release(wait_task, NULL);
    CHECK(rc == 0 || rc == -ECANCELED); /* CPython accepts either */
    CHECK(cio_cond_locked(cond));
    cio_cond_free(cond);
    return NULL;
}

typedef struct woc {
    cio_cond *cond;
    bool waited;
} woc;

static void *wait_on_cond(void *arg)
{
    woc *s = arg;
    CIO_GUARD(g);
    int rc = cio_lock_guard(cio_cond_lock(s->cond), &g);
    if (rc)
        return cio_fail(rc, NULL);
    s->waited = true; /* make sure this area was reached */
    rc = cio_cond_wait(s->cond);
    return rc ? cio_fail(rc, NULL) : NULL;
}

CONF_TASK(test_wait_cancel_after_notify)
{
    /* bpo-32841 */
    woc s = {cio_cond_new(NULL), false};
    cio_task *waiter = spawn(wait_on_cond, &s);
    cio_yield(); /* start waiting */
    CHECK_EQ(cio_cond_acquire(s.cond), 0);
    CHECK_EQ(cio_cond_notify(s.cond, 1), 0);
    cio_yield(); /* get to acquire() */
    cio_cancel(waiter, NULL);
    cio_yield(); /* activate cancellation */
    CHECK_EQ(cio_cond_release(s.cond), 0);
    cio_yield(); /* cancellation should occur */
    CHECK(cio_cancelled(waiter));
    CHECK(s.waited);
    cio_release(waiter);
    CHECK(!cio_cond_locked(s.cond));
    cio_cond_free(s.cond);
    return NULL;
}

CONF_TASK(test_wait_unacquired)
{
    cio_cond *cond = cio_cond_new(NULL);
    CHECK_EQ(cio_cond_wait(cond), CIO_ENOTACQUIRED); /* RuntimeError */
    cio_cond_free(cond);
    return NULL;
}

static bool presult;
static bool predicate(void *arg)
{
    (void)arg;
    return presult;
}

static void *wait_for_c(void *arg)
{
    condc *c = arg;
    int rc = cio_cond_acquire(c->cond);
    if (rc == 0)
        rc = cio_cond_wait_for(c->cond, predicate, NULL);
    if (rc)
        return cio_fail(rc, NULL);
    order_push(c->id);
    cio_cond_release(c->cond);
    return I(1);
}

CONF_TASK(test_wait_for)
{
    order_reset();
    presult = false;
    cio_cond *cond = cio_cond_new(NULL);
    condc c1 = {cond, 1, true};
    cio_task *t = spawn(wait_for_c, &c1);
    cio_yield();
    CHECK_EQ(norder, 0);
    CHECK_EQ(cio_cond_acquire(cond), 0);
    CHECK_EQ(cio_cond_notify(cond, 1), 0);
    CHECK_EQ(cio_cond_release(cond), 0);
    cio_yield();
    CHECK_EQ(norder, 0);
    presult = true;
    CHECK_EQ(cio_cond_acquire(cond), 0);
    CHECK_EQ(cio_cond_notify(cond, 1), 0);
    CHECK_EQ(cio_cond_release(cond), 0);
    cio_yield();
    CHECK_ORDER(1);
    check_true_results(&t, 1);
    cio_cond_free(cond);
    return NULL;
}

static bool always(void *arg)
{
    (void)arg;
    return true;
}

static bool never(void *arg)
{
    (void)arg;
    return false;
}

CONF_TASK(test_wait_for_unacquired)
{
    cio_cond *cond = cio_cond_new(NULL);
    /* the predicate can be true at once */
    CHECK_EQ(cio_cond_wait_for(cond, always, NULL), 0);
    CHECK_EQ(cio_cond_wait_for(cond, never, NULL), CIO_ENOTACQUIRED);
    cio_cond_free(cond);
    return NULL;
}

CONF_TASK(test_notify)
{
    order_reset();
    cio_cond *cond = cio_cond_new(NULL);
    condc c1 = {cond, 1, true}, c2 = {cond, 2, true}, c3 = {cond, 3, true};
    cio_task *t[3] = {spawn(cond_c, &c1), spawn(cond_c, &c2), spawn(cond_c, &c3)};
    cio_yield();
    CHECK_EQ(norder, 0);
    CHECK_EQ(cio_cond_acquire(cond), 0);
    CHECK_EQ(cio_cond_notify(cond, 1), 0);
    CHECK_EQ(cio_cond_release(cond), 0);
    cio_yield();
    CHECK_ORDER(1);
    CHECK_EQ(cio_cond_acquire(cond), 0);
    CHECK_EQ(cio_cond_notify(cond, 1), 0);
    CHECK_EQ(cio_cond_notify(cond, 2048), 0);
    CHECK_EQ(cio_cond_release(cond), 0);
    cio_yield();
    CHECK_ORDER(1, 2, 3);
    check_true_results(t, 3);
    cio_cond_free(cond);
    return NULL;
}

CONF_TASK(test_notify_all)
{
    order_reset();
    cio_cond *cond = cio_cond_new(NULL);
    condc c1 = {cond, 1, true}, c2 = {cond, 2, true};
    cio_task *t[2] = {spawn(cond_c, &c1), spawn(cond_c, &c2)};
    cio_yield();
    CHECK_EQ(norder, 0);
    CHECK_EQ(cio_cond_acquire(cond), 0);
    CHECK_EQ(cio_cond_notify_all(cond), 0);
    CHECK_EQ(cio_cond_release(cond), 0);
    cio_yield();
    CHECK_ORDER(1, 2);
    check_true_results(t, 2);
    cio_cond_free(cond);
    return NULL;
}

CONF_TASK(test_notify_unacquired)
{
    cio_cond *cond = cio_cond_new(NULL);
    CHECK_EQ(cio_cond_notify(cond, 1), CIO_ENOTACQUIRED);
    cio_cond_free(cond);
    return NULL;
}

CONF_TASK(test_notify_all_unacquired)
{
    cio_cond *cond = cio_cond_new(NULL);
    CHECK_EQ(cio_cond_notify_all(cond), CIO_ENOTACQUIRED);
    cio_cond_free(cond);
    return NULL;
}

CONF_TASK(ConditionTests__test_context_manager)
{
    cio_cond *cond = cio_cond_new(NULL);
    CHECK(!cio_cond_locked(cond));
    {
        CIO_GUARD(g);
        CHECK_EQ(cio_lock_guard(cio_cond_lock(cond), &g), 0);
        CHECK(cio_cond_locked(cond));
    }
    CHECK(!cio_cond_locked(cond));
    cio_cond_free(cond);
    return NULL;
}

static void explicit_lock_f(cio_lock *lock, cio_cond *cond)
{
    cio_lock *own_lock = NULL;
    cio_cond *own_cond = NULL;
    if (!lock)
        lock = own_lock = cio_lock_new();
    if (!cond)
        cond = own_cond = cio_cond_new(lock);
    CHECK(cio_cond_lock(cond) == lock);
    CHECK(!cio_lock_locked(lock));
    CHECK(!cio_cond_locked(cond));
    {
        CIO_GUARD(g);
        CHECK_EQ(cio_lock_guard(cio_cond_lock(cond), &g), 0);
        CHECK(cio_lock_locked(lock));
        CHECK(cio_cond_locked(cond));
    }
    CHECK(!cio_lock_locked(lock));
    CHECK(!cio_cond_locked(cond));
    {
        CIO_GUARD(g);
        CHECK_EQ(cio_lock_guard(lock, &g), 0);
        CHECK(cio_lock_locked(lock));
        CHECK(cio_cond_locked(cond));
    }
    CHECK(!cio_lock_locked(lock));
    CHECK(!cio_cond_locked(cond));
    cio_cond_free(own_cond);
    if (own_lock)
        cio_lock_free(own_lock);
}

CONF_TASK(test_explicit_lock)
{
    /* all should work in the same way */
    explicit_lock_f(NULL, NULL);
    cio_lock *l1 = cio_lock_new();
    explicit_lock_f(l1, NULL);
    cio_lock *lock = cio_lock_new();
    cio_cond *cond = cio_cond_new(lock);
    explicit_lock_f(lock, cond);
    cio_cond_free(cond);
    cio_lock_free(lock);
    cio_lock_free(l1);
    return NULL;
}

CONF_TASK(test_timeout_in_block)
{
    cio_cond *condition = cio_cond_new(NULL);
    {
        CIO_GUARD(g);
        CHECK_EQ(cio_lock_guard(cio_cond_lock(condition), &g), 0);
        cio_task *t = spawn(cond_wait_task, condition);
        CHECK_EQ(cio_wait_for(t, 0.5, NULL), -ETIMEDOUT);
        cio_release(t);
        /* the cancelled wait re-acquired the lock for us to release */
        CHECK(cio_cond_locked(condition));
    }
    CHECK(!cio_cond_locked(condition));
    cio_cond_free(condition);
    return NULL;
}

/* 3.12+ (not in 3.11): a consumer notified and cancelled before it runs
 * (test_cancelled_wakeup) or while it re-acquires the lock
 * (test_cancelled_wakeup_relock) must not lose the notification: the other
 * consumer gets it (issue 10 §2a). */
typedef struct cwk {
    cio_cond *condition;
    int state;
} cwk;

static bool state_not_0(void *arg) { return ((cwk *)arg)->state != 0; }
static bool state_is_0(void *arg) { return ((cwk *)arg)->state == 0; }

static void *cwk_consumer(void *arg)
{
    cwk *s = arg;
    CIO_GUARD(g);
    int rc = cio_lock_guard(cio_cond_lock(s->condition), &g);
    while (rc == 0) {
        if ((rc = cio_cond_wait_for(s->condition, state_not_0, s)))
            break;
        if (s->state < 0)
            return NULL;
        s->state--;
    }
    return cio_fail(rc, NULL);
}

static void cancelled_wakeup(bool relock)
{
    cwk s = {cio_cond_new(NULL), 0};
    cio_task *c[2] = {spawn(cwk_consumer, &s), spawn(cwk_consumer, &s)};
    cio_yield(); /* let them settle */
    {
        CIO_GUARD(g);
        CHECK_EQ(cio_lock_guard(cio_cond_lock(s.condition), &g), 0);
        s.state++; /* produce one item and wake up one */
        CHECK_EQ(cio_cond_notify(s.condition, 1), 0);
        if (relock)
            cio_yield(); /* it wakes up and waits to re-acquire the lock */
        cio_cancel(c[0], NULL); /* cancel it before it ran / while it waits for the lock */
        /* wait for the item to be consumed: if it is not, the notify did
         * not take hold because it raced with the cancel */
        cio_timeout to;
        CHECK_EQ(cio_timeout_enter(&to, 0.01), 0);
        int rc = cio_cond_wait_for(s.condition, state_is_0, &s);
        rc = cio_timeout_exit(&to, rc);
        CHECK(rc == 0 || rc == -ETIMEDOUT);
        CHECK_EQ(s.state, 0);
        s.state = -1; /* clean up */
        CHECK_EQ(cio_cond_notify_all(s.condition), 0);
    }
    CHECK_EQ(cio_await(c[1], NULL), 0);
    CHECK_EQ(cio_await(c[0], NULL), -ECANCELED);
    cio_release(c[0]);
    cio_release(c[1]);
    cio_cond_free(s.condition);
}

CONF_TASK(test_cancelled_wakeup)
{
    cancelled_wakeup(false);
    return NULL;
}

CONF_TASK(test_cancelled_wakeup_relock)
{
    cancelled_wakeup(true);
    return NULL;
}

/* ---- SemaphoreTests ----------------------------------------------------- */

CONF_TASK(test_initial_value_zero)
{
    cio_sem *sem = cio_sem_new(0);
    CHECK(cio_sem_locked(sem));
    cio_sem_free(sem);
    return NULL;
}

static void *sem_acquire_task(void *s)
{
    int rc = cio_sem_acquire(s);
    return rc ? cio_fail(rc, NULL) : I(1);
}

CONF_TASK(SemaphoreTests__test_acquire)
{
    order_reset();
    cio_sem *sem = cio_sem_new(3);
    CHECK_EQ(cio_sem_acquire(sem), 0);
    CHECK_EQ(cio_sem_acquire(sem), 0);
    CHECK(!cio_sem_locked(sem));
    cw c1 = {sem, 1, sem_acquire_v, I(1)}, c2 = {sem, 2, sem_acquire_v, I(1)}, c3 = {sem, 3, sem_acquire_v, I(1)},
       c4 = {sem, 4, sem_acquire_v, I(1)};
    cio_task *t1 = spawn(c_task, &c1), *t2 = spawn(c_task, &c2), *t3 = spawn(c_task, &c3);
    cio_yield();
    CHECK_ORDER(1);
    CHECK(cio_sem_locked(sem));
    CHECK_EQ(cio_sem_waiters(sem), 2);
    CHECK_EQ(cio_sem_value(sem), 0);
    cio_task *t4 = spawn(c_task, &c4);
    CHECK_EQ(cio_sem_release(sem), 0);
    CHECK_EQ(cio_sem_release(sem), 0);
    CHECK_EQ(cio_sem_value(sem), 0);
    cio_yield();
    CHECK_EQ(cio_sem_value(sem), 0);
    CHECK_EQ(norder, 3);
    CHECK(cio_sem_locked(sem));
    CHECK_EQ(cio_sem_waiters(sem), 1);
    CHECK_EQ(cio_sem_value(sem), 0);
    void *r = NULL;
    CHECK_EQ(result_of(t1, &r), 0);
    CHECK_EQ(V(r), 1);
    cio_release(t1);
    cio_task *race[3] = {t2, t3, t4};
    int done = 0;
    for (int i = 0; i < 3; i++)
        done += cio_done(race[i]) && cio_result(race[i], &r) == 0 && V(r) == 1;
    CHECK_EQ(done, 2);
    /* clean up the locked semaphore */
    CHECK_EQ(cio_sem_release(sem), 0);
    int errs[3];
    gather_release(race, 3, NULL, errs);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(errs[i], 0);
    cio_sem_free(sem);
    return NULL;
}

CONF_TASK(SemaphoreTests__test_acquire_cancel)
{
    cio_sem *sem = cio_sem_new(1);
    CHECK_EQ(cio_sem_acquire(sem), 0);
    cio_task *acquire = spawn(sem_acquire_task, sem);
    call_soon(cancel_cb, acquire);
    CHECK_EQ(await_release(acquire, NULL), -ECANCELED);
    CHECK_EQ(cio_sem_waiters(sem), 0);
    cio_sem_free(sem);
    return NULL;
}

CONF_TASK(test_acquire_cancel_before_awoken)
{
    cio_sem *sem = cio_sem_new(0);
    cio_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = spawn(sem_acquire_task, sem);
    cio_yield();
    cio_cancel(t[0], NULL);
    cio_cancel(t[1], NULL);
    CHECK_EQ(cio_sem_release(sem), 0);
    cio_yield();
    cio_yield();
    CHECK_EQ(cio_done(t[2]) + cio_done(t[3]), 1);
    CHECK(cio_done(t[2]));
    CHECK(!cio_done(t[3]));
    cio_cancel(t[2], NULL);
    cio_cancel(t[3], NULL);
    cio_yield();
    for (int i = 0; i < 4; i++) {
        CHECK(cio_done(t[i]));
        cio_release(t[i]);
    }
    cio_sem_free(sem);
    return NULL;
}

CONF_TASK(test_acquire_hang)
{
    cio_sem *sem = cio_sem_new(0);
    cio_task *t1 = spawn(sem_acquire_task, sem), *t2 = spawn(sem_acquire_task, sem);
    cio_yield();
    cio_cancel(t1, NULL);
    CHECK_EQ(cio_sem_release(sem), 0);
    cio_yield();
    cio_yield();
    CHECK(cio_sem_locked(sem));
    CHECK(cio_done(t2));
    CHECK_EQ(await_release(t1, NULL), -ECANCELED);
    CHECK_EQ(await_release(t2, NULL), 0);
    cio_sem_free(sem);
    return NULL;
}

typedef struct nohang {
    cio_sem *sem;
    cio_task *t2;
} nohang;

static void *nohang_c1(void *arg)
{
    nohang *s = arg;
    {
        CIO_GUARD(g);
        int rc = cio_sem_guard(s->sem, &g);
        if (rc)
            return cio_fail(rc, NULL);
        cio_yield();
    }
    cio_cancel(s->t2, NULL);
    return NULL;
}

static void *nohang_c2(void *arg)
{
    nohang *s = arg;
    CIO_GUARD(g);
    int rc = cio_sem_guard(s->sem, &g);
    if (rc)
        return cio_fail(rc, NULL);
    CHECK(false); /* self.assertFalse(True): never gets here */
    return NULL;
}

CONF_TASK(test_acquire_no_hang)
{
    nohang s = {cio_sem_new(1), NULL};
    cio_task *t[2];
    t[0] = spawn(nohang_c1, &s);
    t[1] = s.t2 = spawn(nohang_c2, &s);
    void *res[2] = {I(1), I(1)};
    int errs[2];
    gather_release(t, 2, res, errs);
    CHECK_EQ(errs[0], 0);
    CHECK(res[0] == NULL);
    CHECK_EQ(errs[1], -ECANCELED);
    cio_task *a = spawn(sem_acquire_task, s.sem);
    CHECK_EQ(cio_wait_for(a, 1.0, NULL), 0);
    cio_release(a);
    cio_sem_free(s.sem);
    return NULL;
}

CONF_TASK(SemaphoreTests__test_release_not_acquired)
{
    cio_sem *sem = cio_sem_new_bounded(1);
    CHECK_EQ(cio_sem_release(sem), CIO_ESEMOVERFLOW); /* ValueError */
    CHECK(strstr(cio_strerror(CIO_ESEMOVERFLOW), "BoundedSemaphore released too many times") != NULL);
    cio_sem_free(sem);
    return NULL;
}

CONF_TASK(SemaphoreTests__test_release_no_waiters)
{
    cio_sem *sem = cio_sem_new(1);
    CHECK_EQ(cio_sem_acquire(sem), 0);
    CHECK(cio_sem_locked(sem));
    CHECK_EQ(cio_sem_release(sem), 0);
    CHECK(!cio_sem_locked(sem));
    cio_sem_free(sem);
    return NULL;
}

static void *fifo_coro(void *arg)
{
    cw *c = arg;
    for (int phase = 1; phase <= 2; phase++) {
        int rc = cio_sem_acquire(c->obj);
        if (rc)
            return cio_fail(rc, NULL);
        order_push(c->id * 10 + phase);
        cio_sleep(0.01);
        cio_sem_release(c->obj);
    }
    return NULL;
}

CONF_TASK(test_acquire_fifo_order)
{
    order_reset();
    cio_sem *sem = cio_sem_new(1);
    cw c[3] = {{.obj = sem, .id = 1}, {.obj = sem, .id = 2}, {.obj = sem, .id = 3}};
    cio_group *tg = cio_group_new();
    for (int i = 0; i < 3; i++)
        CHECK(cio_group_spawn(tg, fifo_coro, &c[i], NULL) != NULL);
    CHECK_EQ(cio_group_wait(tg), 0);
    cio_group_free(tg);
    /* c1_1, c2_1, c3_1, c1_2, c2_2, c3_2 */
    CHECK_ORDER(11, 21, 31, 12, 22, 32);
    cio_sem_free(sem);
    return NULL;
}

static void *fifo2_c2(void *arg)
{
    cw *c = arg;
    int rc = cio_sem_acquire(c->obj);
    if (rc)
        return cio_fail(rc, NULL);
    order_push(2);
    cio_sem_release(c->obj);
    if ((rc = cio_sem_acquire(c->obj)))
        return cio_fail(rc, NULL);
    order_push(4);
    return I(1);
}

CONF_TASK(test_acquire_fifo_order_2)
{
    order_reset();
    cio_sem *sem = cio_sem_new(1);
    cw c1 = {sem, 1, sem_acquire_v, I(1)}, c2 = {sem, 2, sem_acquire_v, I(1)}, c3 = {sem, 3, sem_acquire_v, I(1)};
    cio_task *t[3] = {spawn(c_task, &c1), spawn(fifo2_c2, &c2), spawn(c_task, &c3)};
    cio_yield();
    CHECK_EQ(cio_sem_release(sem), 0);
    CHECK_EQ(cio_sem_release(sem), 0);
    CHECK_EQ(cio_gather(t, 3, NULL, NULL, 0), 0);
    for (int i = 0; i < 3; i++)
        cio_release(t[i]);
    CHECK_ORDER(1, 2, 3, 4);
    cio_sem_free(sem);
    return NULL;
}

CONF_TASK(test_acquire_fifo_order_3)
{
    order_reset();
    cio_sem *sem = cio_sem_new(0);
    cw c1 = {sem, 1, sem_acquire_v, I(1)}, c2 = {sem, 2, sem_acquire_v, I(1)}, c3 = {sem, 3, sem_acquire_v, I(1)};
    cio_task *t[3] = {spawn(c_task, &c1), spawn(c_task, &c2), spawn(c_task, &c3)};
    cio_yield();
    cio_cancel(t[0], NULL);
    cio_yield();
    CHECK_EQ(cio_sem_release(sem), 0);
    CHECK_EQ(cio_sem_release(sem), 0);
    int errs[3];
    gather_release(t, 3, NULL, errs);
    CHECK_EQ(errs[0], -ECANCELED);
    CHECK_ORDER(2, 3);
    cio_sem_free(sem);
    return NULL;
}

/* 3.12+ (not in 3.11): a successful acquire wakes as many waiters queued
 * behind it (FIFO) as there are free permits. */
typedef struct fo4 {
    cio_sem *sem;
    cio_task *t4;
} fo4;

static void *fo4_c4(void *arg)
{
    (void)arg;
    order_push(4);
    return I(1);
}

static void *fo4_c1(void *arg)
{
    fo4 *s = arg;
    /* the first task waits at once; c2 wakes it */
    CHECK_EQ(cio_sem_value(s->sem), 0);
    int rc = cio_sem_acquire(s->sem);
    if (rc)
        return cio_fail(rc, NULL);
    CHECK_EQ(cio_sem_value(s->sem), 0); /* every waiting task woken by now */
    s->t4 = spawn(fo4_c4, NULL);        /* runs after c3, not c2 */
    order_push(1);
    return I(1);
}

static void *fo4_c2(void *arg)
{
    fo4 *s = arg;
    /* releases three times, for c1, c2 and c3 */
    for (int i = 0; i < 3; i++)
        CHECK_EQ(cio_sem_release(s->sem), 0);
    CHECK_EQ(cio_sem_value(s->sem), 2);
    CHECK(cio_sem_locked(s->sem)); /* c1 has not woken up yet */
    int rc = cio_sem_acquire(s->sem);
    if (rc)
        return cio_fail(rc, NULL);
    order_push(2);
    return I(1);
}

static void *fo4_c3(void *arg)
{
    fo4 *s = arg;
    int rc = cio_sem_acquire(s->sem);
    if (rc)
        return cio_fail(rc, NULL);
    CHECK(cio_sem_locked(s->sem));
    order_push(3);
    return I(1);
}

CONF_TASK(test_acquire_fifo_order_4)
{
    order_reset();
    fo4 s = {cio_sem_new(0), NULL};
    cio_task *t[4] = {spawn(fo4_c1, &s), spawn(fo4_c2, &s), spawn(fo4_c3, &s), NULL};
    cio_yield();
    /* three tasks in the queue, the first not woken up yet */
    CHECK_EQ(cio_sem_value(s.sem), 2);
    CHECK_EQ(cio_sem_waiters(s.sem), 3);
    cio_yield();
    CHECK(s.t4 != NULL);
    t[3] = s.t4;
    if (t[3])
        CHECK_EQ(cio_gather(t, 4, NULL, NULL, 0), 0);
    for (int i = 0; i < 4; i++)
        if (t[i])
            cio_release(t[i]);
    CHECK_ORDER(1, 2, 3, 4);
    cio_sem_free(s.sem);
    return NULL;
}

/* ---- BarrierTests ------------------------------------------------------- */

enum { N = 5 };

static void *barrier_wait_task(void *b)
{
    int rc = cio_barrier_wait(b);
    return rc < 0 ? cio_fail(rc, NULL) : I(rc);
}

static void *barrier_reset_task(void *b)
{
    cio_barrier_reset(b);
    return NULL;
}

static void *barrier_abort_task(void *b)
{
    cio_barrier_abort(b);
    return NULL;
}

/* gather_tasks(n, coro): spawns n tasks of fn(arg) and gathers them
 * (raising the first error); results in res (may be NULL). */
static int gather_tasks(int n, cio_task_fn fn, void *arg, void **res)
{
    cio_task *t[16] = {0};
    for (int i = 0; i < n; i++)
        t[i] = spawn(fn, arg);
    int rc = cio_gather(t, (size_t)n, res, NULL, 0);
    for (int i = 0; i < n; i++) {
        CHECK(cio_done(t[i]));
        cio_release(t[i]);
    }
    return rc;
}

static bool state_is(cio_barrier *b, const char *s) { return !strcmp(cio_barrier_state(b), s); }

CONF_TASK(BarrierTests__test_repr)
{
    /* repr shows the state and waiters:n/parties: asserted through
     * cio_barrier_state and cio_barrier_n_waiting */
    cio_barrier *barrier = cio_barrier_new(N);
    CHECK(state_is(barrier, "filling"));
    cio_task *waiters[16];
    int nw = 0, incr = 2;
    for (int i = 0; i < incr; i++)
        waiters[nw++] = spawn(barrier_wait_task, barrier);
    cio_yield();
    CHECK_EQ(cio_barrier_n_waiting(barrier), incr);
    CHECK_EQ(cio_barrier_parties(barrier), N);
    CHECK(state_is(barrier, "filling"));
    /* create the missing waiters */
    size_t missing = cio_barrier_parties(barrier) - cio_barrier_n_waiting(barrier);
    for (size_t i = 0; i < missing; i++)
        waiters[nw++] = spawn(barrier_wait_task, barrier);
    cio_yield();
    CHECK(state_is(barrier, "draining"));
    /* add a part of waiters, and reset */
    for (int i = 0; i < incr; i++)
        waiters[nw++] = spawn(barrier_wait_task, barrier);
    cio_yield();
    cio_barrier_reset(barrier);
    CHECK(state_is(barrier, "resetting"));
    /* add a part of waiters again, and abort */
    for (int i = 0; i < incr; i++)
        waiters[nw++] = spawn(barrier_wait_task, barrier);
    cio_yield();
    cio_barrier_abort(barrier);
    CHECK(state_is(barrier, "broken"));
    CHECK(cio_barrier_broken(barrier));
    gather_release(waiters, (size_t)nw, NULL, NULL);
    cio_barrier_free(barrier);
    return NULL;
}

CONF_TASK(test_barrier_parties)
{
    errno = 0;
    CHECK(cio_barrier_new(0) == NULL); /* ValueError */
    CHECK_EQ(errno, EINVAL);
    /* (Barrier(-4): a size_t cannot be negative) */
    cio_barrier *b = cio_barrier_new(N);
    CHECK(b != NULL);
    cio_barrier_free(b);
    return NULL;
}

typedef struct bres {
    cio_barrier *b;
    int results[16], n;
    int results2[16], n2;
    int results3[16], n3;
    int count, aux;
} bres;

static void *cm_coro(void *arg)
{
    bres *s = arg;
    int i = cio_barrier_wait(s->b); /* async with barrier as i */
    if (i < 0)
        return cio_fail(i, NULL);
    s->results[s->n++] = i;
    return NULL;
}

static void check_all_indexes(const int *v, int n)
{
    int seen = 0;
    for (int i = 0; i < n; i++)
        if (v[i] >= 0 && v[i] < n)
            seen |= 1 << v[i];
    CHECK_EQ(seen, (1 << n) - 1); /* sorted(results) == list(range(n)) */
}

CONF_TASK(BarrierTests__test_context_manager)
{
    bres s = {.b = cio_barrier_new(3)};
    CHECK_EQ(gather_tasks(3, cm_coro, &s, NULL), 0);
    CHECK_EQ(s.n, 3);
    check_all_indexes(s.results, 3);
    CHECK_EQ(cio_barrier_n_waiting(s.b), 0);
    CHECK(!cio_barrier_broken(s.b));
    cio_barrier_free(s.b);
    return NULL;
}

CONF_TASK(test_filling_one_task)
{
    cio_barrier *barrier = cio_barrier_new(1);
    CHECK_EQ(cio_barrier_wait(barrier), 0);
    CHECK_EQ(cio_barrier_n_waiting(barrier), 0);
    CHECK(!cio_barrier_broken(barrier));
    cio_barrier_free(barrier);
    return NULL;
}

CONF_TASK(test_filling_one_task_twice)
{
    cio_barrier *barrier = cio_barrier_new(1);
    cio_task *t1 = spawn(barrier_wait_task, barrier);
    cio_yield();
    CHECK_EQ(cio_barrier_n_waiting(barrier), 0);
    cio_task *t2 = spawn(barrier_wait_task, barrier);
    cio_yield();
    void *r1 = I(-1), *r2 = I(-2);
    CHECK_EQ(result_of(t1, &r1), 0);
    CHECK_EQ(result_of(t2, &r2), 0);
    CHECK(r1 == r2);
    CHECK_EQ(cio_done(t1), cio_done(t2));
    CHECK_EQ(cio_barrier_n_waiting(barrier), 0);
    CHECK(!cio_barrier_broken(barrier));
    cio_release(t1);
    cio_release(t2);
    cio_barrier_free(barrier);
    return NULL;
}

CONF_TASK(test_filling_task_by_task)
{
    cio_barrier *barrier = cio_barrier_new(3);
    cio_task *t[3];
    t[0] = spawn(barrier_wait_task, barrier);
    cio_yield();
    CHECK_EQ(cio_barrier_n_waiting(barrier), 1);
    CHECK(state_is(barrier, "filling"));
    t[1] = spawn(barrier_wait_task, barrier);
    cio_yield();
    CHECK_EQ(cio_barrier_n_waiting(barrier), 2);
    CHECK(state_is(barrier, "filling"));
    t[2] = spawn(barrier_wait_task, barrier);
    cio_yield();
    gather_release(t, 3, NULL, NULL); /* asyncio.wait */
    CHECK_EQ(cio_barrier_n_waiting(barrier), 0);
    CHECK(!cio_barrier_broken(barrier));
    cio_barrier_free(barrier);
    return NULL;
}

static void *wait_twice_coro(void *arg)
{
    bres *s = arg;
    int rc = cio_barrier_wait(s->b);
    if (rc < 0)
        return cio_fail(rc, NULL);
    s->results[s->n++] = 1; /* True */
    if ((rc = cio_barrier_wait(s->b)) < 0)
        return cio_fail(rc, NULL);
    s->results[s->n++] = 0; /* False */
    return NULL;
}

CONF_TASK(test_filling_tasks_wait_twice)
{
    bres s = {.b = cio_barrier_new(N)};
    CHECK_EQ(gather_tasks(N, wait_twice_coro, &s, NULL), 0);
    CHECK_EQ(s.n, N * 2);
    int trues = 0;
    for (int i = 0; i < s.n; i++)
        trues += s.results[i];
    CHECK_EQ(trues, N);
    CHECK_EQ(s.n - trues, N);
    CHECK_EQ(cio_barrier_n_waiting(s.b), 0);
    CHECK(!cio_barrier_broken(s.b));
    cio_barrier_free(s.b);
    return NULL;
}

static void *check_rv_coro(void *arg)
{
    bres *s = arg;
    int rc = cio_barrier_wait(s->b);
    if (rc < 0)
        return cio_fail(rc, NULL);
    s->results[s->n++] = 1;
    int i = cio_barrier_wait(s->b);
    if (i < 0)
        return cio_fail(i, NULL);
    s->results2[s->n2++] = 1;
    return I(i);
}

CONF_TASK(test_filling_tasks_check_return_value)
{
    bres s = {.b = cio_barrier_new(N)};
    void *res[N];
    CHECK_EQ(gather_tasks(N, check_rv_coro, &s, res), 0);
    CHECK_EQ(s.n, N);
    CHECK_EQ(s.n2, N);
    int idx[N];
    for (int i = 0; i < N; i++) {
        CHECK_EQ(s.results[i], 1);
        CHECK_EQ(s.results2[i], 1);
        idx[i] = V(res[i]);
    }
    check_all_indexes(idx, N);
    CHECK_EQ(cio_barrier_n_waiting(s.b), 0);
    CHECK(!cio_barrier_broken(s.b));
    cio_barrier_free(s.b);
    return NULL;
}

static void *draining_coro(void *arg)
{
    bres *s = arg;
    int rc = cio_barrier_wait(s->b);
    if (rc < 0)
        return cio_fail(rc, NULL);
    /* the state changes to filling for the last task out */
    s->results[s->n++] = state_is(s->b, "draining");
    return NULL;
}

CONF_TASK(test_draining_state)
{
    bres s = {.b = cio_barrier_new(N)};
    CHECK_EQ(gather_tasks(N, draining_coro, &s, NULL), 0);
    CHECK_EQ(s.n, N);
    CHECK_EQ(s.results[N - 1], 0);
    for (int i = 0; i < N - 1; i++)
        CHECK_EQ(s.results[i], 1);
    CHECK_EQ(cio_barrier_n_waiting(s.b), 0);
    CHECK(!cio_barrier_broken(s.b));
    cio_barrier_free(s.b);
    return NULL;
}

typedef struct btwd {
    cio_barrier *barrier, *barrier_nowaiting;
    int rewait_n;
} btwd;

static void *btwd_coro(void *arg)
{
    btwd *s = arg;
    int rc = cio_barrier_wait(s->barrier); /* first time waiting */
    if (rc >= 0 && s->rewait_n > 0) {
        s->rewait_n--;
        rc = cio_barrier_wait(s->barrier); /* again, only for rewait tasks */
    } else if (rc >= 0) {
        rc = cio_barrier_wait(s->barrier_nowaiting); /* for the end of draining */
        if (rc >= 0)
            rc = cio_barrier_wait(s->barrier); /* for the other waiting tasks */
    }
    return rc < 0 ? cio_fail(rc, NULL) : NULL;
}

CONF_TASK(test_blocking_tasks_while_draining)
{
    enum { rewait = 2 };
    btwd s = {cio_barrier_new(N), cio_barrier_new(N - rewait), rewait};
    /* a success means that barrier_nowaiting was waited for exactly
     * N - rewait times */
    CHECK_EQ(gather_tasks(N, btwd_coro, &s, NULL), 0);
    cio_barrier_free(s.barrier);
    cio_barrier_free(s.barrier_nowaiting);
    return NULL;
}

/* await barrier.wait(); results.append(True) */
static void *pass_coro(void *arg)
{
    bres *s = arg;
    int rc = cio_barrier_wait(s->b);
    if (rc < 0)
        return cio_fail(rc, NULL);
    s->results[s->n++] = 1;
    return NULL;
}

CONF_TASK(test_filling_tasks_cancel_one)
{
    bres s = {.b = cio_barrier_new(3)};
    cio_task *t1 = spawn(pass_coro, &s);
    cio_yield();
    CHECK_EQ(cio_barrier_n_waiting(s.b), 1);
    cio_task *t[3];
    t[0] = spawn(pass_coro, &s);
    cio_yield();
    CHECK_EQ(cio_barrier_n_waiting(s.b), 2);
    cio_cancel(t1, NULL);
    cio_yield();
    CHECK_EQ(cio_barrier_n_waiting(s.b), 1);
    CHECK_EQ(cio_await(t1, NULL), -ECANCELED);
    CHECK(cio_cancelled(t1));
    cio_release(t1);
    t[1] = spawn(pass_coro, &s);
    cio_yield();
    CHECK_EQ(cio_barrier_n_waiting(s.b), 2);
    t[2] = spawn(pass_coro, &s);
    CHECK_EQ(cio_gather(t, 3, NULL, NULL, 0), 0);
    for (int i = 0; i < 3; i++)
        cio_release(t[i]);
    CHECK_EQ(s.n, 3);
    CHECK_EQ(cio_barrier_n_waiting(s.b), 0);
    CHECK(!cio_barrier_broken(s.b));
    cio_barrier_free(s.b);
    return NULL;
}

CONF_TASK(test_reset_barrier)
{
    cio_barrier *barrier = cio_barrier_new(1);
    cio_task *t = spawn(barrier_reset_task, barrier);
    cio_yield();
    CHECK_EQ(cio_barrier_n_waiting(barrier), 0);
    CHECK(!cio_barrier_broken(barrier));
    CHECK_EQ(await_release(t, NULL), 0);
    cio_barrier_free(barrier);
    return NULL;
}

static void *broken_counting_coro(void *arg)
{
    bres *s = arg;
    int rc = cio_barrier_wait(s->b);
    if (rc == CIO_EBROKENBARRIER)
        s->results[s->n++] = 1;
    else if (rc < 0)
        return cio_fail(rc, NULL);
    return NULL;
}

CONF_TASK(test_reset_barrier_while_tasks_waiting)
{
    bres s = {.b = cio_barrier_new(N)};
    cio_task *t[N - 1];
    for (int i = 0; i < N - 1; i++) /* N-1 tasks waiting on N parties */
        t[i] = spawn(broken_counting_coro, &s);
    cio_yield();
    cio_task *r = spawn(barrier_reset_task, s.b);
    CHECK_EQ(cio_gather(t, N - 1, NULL, NULL, 0), 0);
    for (int i = 0; i < N - 1; i++)
        cio_release(t[i]);
    CHECK_EQ(s.n, N - 1);
    CHECK_EQ(cio_barrier_n_waiting(s.b), 0);
    CHECK(!state_is(s.b, "resetting"));
    CHECK(!cio_barrier_broken(s.b));
    CHECK_EQ(await_release(r, NULL), 0);
    cio_barrier_free(s.b);
    return NULL;
}

/* barrier._count (tasks inside wait) while this cycle drains: every task
 * entered before the release, so it is N minus those that have left. */
static void *half_draining_coro(void *arg)
{
    bres *s = arg;
    const int rest_of_tasks = N / 2;
    int rc = cio_barrier_wait(s->b);
    s->aux++; /* left the barrier: _count is N - aux */
    if (rc == CIO_EBROKENBARRIER) {
        s->results[s->n++] = 1; /* the waiting tasks */
    } else if (rc < 0) {
        return cio_fail(rc, NULL);
    } else if (rest_of_tasks == N - s->aux) {
        cio_barrier_reset(s->b); /* tasks outside the barrier */
    }
    return NULL;
}

CONF_TASK(test_reset_barrier_when_tasks_half_draining)
{
    bres s = {.b = cio_barrier_new(N)};
    CHECK_EQ(gather_tasks(N, half_draining_coro, &s, NULL), 0);
    CHECK_EQ(s.n, N / 2);
    CHECK_EQ(cio_barrier_n_waiting(s.b), 0);
    CHECK(!state_is(s.b, "resetting"));
    CHECK(!cio_barrier_broken(s.b));
    cio_barrier_free(s.b);
    return NULL;
}

static void *hdhb_coro(void *arg)
{
    bres *s = arg;
    const int blocking_tasks = N / 2;
    int rc = cio_barrier_wait(s->b);
    if (rc == CIO_EBROKENBARRIER) {
        s->results[s->n++] = 1; /* still waiting tasks */
        rc = cio_barrier_wait(s->b); /* wait again to reach the parties */
    } else if (rc >= 0) {
        if (++s->count > blocking_tasks) {
            cio_barrier_reset(s->b); /* BrokenBarrierError for the waiting */
            rc = cio_barrier_wait(s->b);
        } else {
            rc = cio_barrier_wait(s->b);
            if (rc == CIO_EBROKENBARRIER) {
                s->results2[s->n2++] = 1; /* no: blocked tasks go to wait */
                rc = 0;
            }
        }
    }
    return rc < 0 ? cio_fail(rc, NULL) : NULL;
}

CONF_TASK(test_reset_barrier_when_tasks_half_draining_half_blocking)
{
    bres s = {.b = cio_barrier_new(N)};
    CHECK_EQ(gather_tasks(N, hdhb_coro, &s, NULL), 0);
    CHECK_EQ(s.n, N / 2);
    CHECK_EQ(s.n2, 0);
    CHECK_EQ(cio_barrier_n_waiting(s.b), 0);
    CHECK(!state_is(s.b, "resetting"));
    CHECK(!cio_barrier_broken(s.b));
    cio_barrier_free(s.b);
    return NULL;
}

/* results1 is s->results2 here, results2 is s->results (pass_coro's) */
static void *wwa_coro1(void *arg)
{
    bres *s = arg;
    int rc = cio_barrier_wait(s->b);
    if (rc == CIO_EBROKENBARRIER)
        s->results2[s->n2++] = 1;
    else if (rc < 0)
        return cio_fail(rc, NULL);
    return pass_coro(s); /* finally: */
}

CONF_TASK(test_reset_barrier_while_tasks_waiting_and_waiting_again)
{
    bres s = {.b = cio_barrier_new(N)};
    cio_task *t[N - 1];
    for (int i = 0; i < N - 1; i++)
        t[i] = spawn(wwa_coro1, &s);
    /* reset the barrier: the N-1 waiting tasks get BrokenBarrierError */
    cio_task *r = spawn(barrier_reset_task, s.b);
    cio_yield();
    /* complete the waiting tasks in their `finally` */
    cio_task *c2 = spawn(pass_coro, &s);
    CHECK_EQ(cio_gather(t, N - 1, NULL, NULL, 0), 0);
    for (int i = 0; i < N - 1; i++)
        cio_release(t[i]);
    CHECK(!cio_barrier_broken(s.b));
    CHECK_EQ(s.n2, N - 1);
    CHECK_EQ(s.n, N);
    CHECK_EQ(cio_barrier_n_waiting(s.b), 0);
    CHECK_EQ(await_release(c2, NULL), 0);
    CHECK_EQ(await_release(r, NULL), 0);
    cio_barrier_free(s.b);
    return NULL;
}

/* Issue 10 §2e: this one hung before the barrier kept asyncio's draining
 * state. */
static void *rbwtd_coro(void *arg)
{
    bres *s = arg;
    int rc = cio_barrier_wait(s->b);
    if (rc < 0)
        return cio_fail(rc, NULL);
    if (++s->count == N) {
        cio_barrier_reset(s->b); /* the last task out of the barrier */
        rc = cio_barrier_wait(s->b); /* wait here to reach the parties */
        if (rc < 0)
            return cio_fail(rc, NULL);
    } else {
        rc = cio_barrier_wait(s->b); /* second waiting */
        if (rc >= 0)
            s->results[s->n++] = 1; /* N-1 tasks here */
        else
            s->results2[s->n2++] = 1; /* never here */
    }
    /* now pass the barrier again: the last wait must complete */
    if ((rc = cio_barrier_wait(s->b)) < 0)
        return cio_fail(rc, NULL);
    s->results3[s->n3++] = 1;
    return NULL;
}

CONF_TASK(test_reset_barrier_while_tasks_draining)
{
    bres s = {.b = cio_barrier_new(N)};
    CHECK_EQ(gather_tasks(N, rbwtd_coro, &s, NULL), 0);
    CHECK(!cio_barrier_broken(s.b));
    CHECK_EQ(s.n, N - 1);
    CHECK_EQ(s.n2, 0);
    CHECK_EQ(s.n3, N);
    CHECK_EQ(cio_barrier_n_waiting(s.b), 0);
    cio_barrier_free(s.b);
    return NULL;
}

CONF_TASK(test_abort_barrier)
{
    cio_barrier *barrier = cio_barrier_new(1);
    cio_task *t = spawn(barrier_abort_task, barrier);
    cio_yield();
    CHECK_EQ(cio_barrier_n_waiting(barrier), 0);
    CHECK(cio_barrier_broken(barrier));
    CHECK_EQ(await_release(t, NULL), 0);
    cio_barrier_free(barrier);
    return NULL;
}

static void *abort_hdhb_coro(void *arg)
{
    bres *s = arg;
    const int blocking_tasks = N / 2;
    int rc = cio_barrier_wait(s->b);
    if (rc == CIO_EBROKENBARRIER) {
        s->results[s->n++] = 1; /* tasks waiting to drain */
    } else if (rc < 0) {
        return cio_fail(rc, NULL);
    } else if (++s->count > blocking_tasks) {
        cio_barrier_abort(s->b); /* BrokenBarrierError for all */
    } else {
        rc = cio_barrier_wait(s->b);
        if (rc == CIO_EBROKENBARRIER)
            s->results2[s->n2++] = 1; /* blocked tasks (already drained) */
        else if (rc < 0)
            return cio_fail(rc, NULL);
    }
    return NULL;
}

CONF_TASK(test_abort_barrier_when_tasks_half_draining_half_blocking)
{
    const int blocking_tasks = N / 2;
    bres s = {.b = cio_barrier_new(N)};
    CHECK_EQ(gather_tasks(N, abort_hdhb_coro, &s, NULL), 0);
    CHECK(cio_barrier_broken(s.b));
    CHECK_EQ(s.n, blocking_tasks);
    CHECK_EQ(s.n2, N - blocking_tasks - 1);
    CHECK_EQ(cio_barrier_n_waiting(s.b), 0);
    CHECK(!state_is(s.b, "resetting"));
    cio_barrier_free(s.b);
    return NULL;
}

static void *abort_exc_coro(void *arg)
{
    bres *s = arg;
    int i = cio_barrier_wait(s->b); /* async with barrier as i */
    if (i >= 0 && i == N / 2) { /* raise RuntimeError ... */
        cio_barrier_abort(s->b); /* ... except RuntimeError: abort */
        return NULL;
    }
    if (i >= 0)
        i = cio_barrier_wait(s->b);
    if (i >= 0)
        s->results[s->n++] = 1;
    else if (i == CIO_EBROKENBARRIER)
        s->results2[s->n2++] = 1;
    else
        return cio_fail(i, NULL);
    return NULL;
}

CONF_TASK(test_abort_barrier_when_exception)
{
    /* from threading.Barrier: see lock_tests.test_reset */
    bres s = {.b = cio_barrier_new(N)};
    CHECK_EQ(gather_tasks(N, abort_exc_coro, &s, NULL), 0);
    CHECK(cio_barrier_broken(s.b));
    CHECK_EQ(s.n, 0);
    CHECK_EQ(s.n2, N - 1);
    CHECK_EQ(cio_barrier_n_waiting(s.b), 0);
    cio_barrier_free(s.b);
    return NULL;
}

typedef struct aer {
    cio_barrier *barrier1, *barrier2;
    int n1, n2, n3;
} aer;

static void *aer_coro(void *arg)
{
    aer *s = arg;
    int i = cio_barrier_wait(s->barrier1);
    if (i >= 0 && i == N / 2) {
        cio_barrier_abort(s->barrier1); /* RuntimeError, then abort */
    } else {
        if (i >= 0)
            i = cio_barrier_wait(s->barrier1);
        if (i >= 0)
            s->n1++;
        else if (i == CIO_EBROKENBARRIER)
            s->n2++;
        else
            return cio_fail(i, NULL);
    }
    /* synchronize and reset the barrier: first so that everyone has left
     * it when we reset, and after so that no one enters it before */
    if ((i = cio_barrier_wait(s->barrier2)) < 0)
        return cio_fail(i, NULL);
    if (i == N / 2)
        cio_barrier_reset(s->barrier1);
    if ((i = cio_barrier_wait(s->barrier2)) < 0)
        return cio_fail(i, NULL);
    if ((i = cio_barrier_wait(s->barrier1)) < 0)
        return cio_fail(i, NULL);
    s->n3++;
    return NULL;
}

CONF_TASK(test_abort_barrier_when_exception_then_resetting)
{
    /* from threading.Barrier: see lock_tests.test_abort_and_reset */
    aer s = {cio_barrier_new(N), cio_barrier_new(N), 0, 0, 0};
    CHECK_EQ(gather_tasks(N, aer_coro, &s, NULL), 0);
    CHECK(!cio_barrier_broken(s.barrier1));
    CHECK_EQ(s.n1, 0);
    CHECK_EQ(s.n2, N - 1);
    CHECK_EQ(s.n3, N);
    CHECK_EQ(cio_barrier_n_waiting(s.barrier1), 0);
    cio_barrier_free(s.barrier1);
    cio_barrier_free(s.barrier2);
    return NULL;
}

CONF_MAIN()
