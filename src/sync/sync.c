/* SPDX-License-Identifier: MIT */
/* Lock, Event, Condition, Semaphore, BoundedSemaphore, Barrier.
 *
 * These follow asyncio's locks.py step by step (3.13 where it fixed a lost
 * wake-up).  All waits are FIFO.  A wake-up never hands a resource over:
 * release() unlocks and wakes the first waiter, which takes the lock when
 * it runs; until then it still counts as a waiter, so nobody else can jump
 * the queue.  If the woken waiter is cancelled before it runs, the
 * cancellation wins (the call returns -ECANCELED) and the waiter passes the
 * wake-up on to the next one (Lock._wake_up_first, Semaphore._wake_up_next,
 * Condition's notify on error), so nothing is lost, duplicated or left
 * held without an owner. */
#include "sync/sync.h"

#include <stdlib.h>

static bool swait_cancel(cio__wait *w)
{
    cio__swait *s = CIO__CONTAINER_OF(w, cio__swait, w);
    cio__list_remove(&s->link);
    cio__wake(w->task, -ECANCELED);
    return true;
}

int cio__swait_park(cio__link *list, cio__swait *s, const char *what, bool droppable)
{
    s->w.what = what;
    s->w.cancel = swait_cancel;
    s->w.droppable = droppable;
    s->done = false;
    cio__list_push_back(list, &s->link);
    int rc = cio__park(&s->w);
    cio__list_remove(&s->link); /* no-op unless woken by a list of its own (src/net) */
    return rc;
}

static void swait_wake(cio__swait *s, int status)
{
    s->done = true;
    cio__wake(s->w.task, status);
}

bool cio__swait_wake_first(cio__link *list, int status)
{
    cio__link *n = cio__list_pop_front(list);
    if (!n)
        return false;
    swait_wake(CIO__CONTAINER_OF(n, cio__swait, link), status);
    return true;
}

size_t cio__swait_count(const cio__link *list)
{
    size_t n = 0;
    for (const cio__link *l = list->next; l != list; l = l->next)
        n++;
    return n;
}

void cio__wlist_init(cio__wlist *l)
{
    cio__list_init(&l->pending);
    l->nwoken = 0;
}

size_t cio__wlist_count(const cio__wlist *l) { return cio__swait_count(&l->pending) + l->nwoken; }

int cio__wlist_park(cio__wlist *l, cio__swait *s, const char *what)
{
    int rc = cio__swait_park(&l->pending, s, what, true);
    if (s->done)
        l->nwoken--;
    return rc;
}

bool cio__wlist_wake_next(cio__wlist *l)
{
    if (!cio__swait_wake_first(&l->pending, 0))
        return false;
    l->nwoken++;
    return true;
}

void cio__wlist_wake_all(cio__wlist *l)
{
    while (cio__wlist_wake_next(l)) {
    }
}

/* The acquire calls suspend by nature (asyncio's are coroutines): outside a
 * task they fail even when they could succeed at once. */
static int need_task(void) { return cio__current() ? 0 : CIO_ENOTASK; }

void cio__guard_release(cio_guard *g)
{
    if (g->obj) {
        void *o = g->obj;
        g->obj = NULL;
        g->release(o);
    }
}

/* The guard calls of the primitives (cio_lock_guard, cio_sem_guard): g is
 * disarmed, then armed with release once acquire(obj) succeeded. */
static int guard_acquire(cio_guard *g, void *obj, int (*acquire)(void *), void (*release)(void *))
{
    g->obj = NULL;
    int rc = acquire(obj);
    if (rc == 0)
        cio_guard_arm(g, obj, release);
    return rc;
}

/* ---- Lock --------------------------------------------------------------- */

struct cio_lock {
    bool locked;
    cio__wlist waiters;
};

cio_lock *cio_lock_new(void)
{
    cio_lock *l = calloc(1, sizeof *l);
    if (!l) {
        errno = ENOMEM;
        return NULL;
    }
    cio__wlist_init(&l->waiters);
    return l;
}

void cio_lock_free(cio_lock *l) { free(l); }
bool cio_lock_locked(const cio_lock *l) { return l->locked; }
size_t cio_lock_waiters(const cio_lock *l) { return cio__wlist_count(&l->waiters); }

/* Lock._wake_up_first: only the first waiter; if it is already woken it
 * will take the lock, or pass it on if it was cancelled. */
static void lock_wake_first(cio_lock *l)
{
    if (!cio__wlist_has_woken(&l->waiters))
        cio__wlist_wake_next(&l->waiters);
}

int cio_lock_acquire(cio_lock *l)
{
    int rc = need_task();
    if (rc)
        return rc;
    /* cancelled waiters leave the list at once: empty means nobody queued */
    if (!l->locked && cio__wlist_empty(&l->waiters)) {
        l->locked = true;
        return 0;
    }
    cio__task *t;
    if ((rc = cio__enter(&t)))
        return rc;
    cio__swait s;
    if ((rc = cio__wlist_park(&l->waiters, &s, "lock"))) {
        if (!l->locked)
            lock_wake_first(l); /* our wake-up, if we had one, goes on */
        return rc;
    }
    l->locked = true;
    return 0;
}

int cio_lock_release(cio_lock *l)
{
    if (!l->locked)
        return CIO_ENOTACQUIRED;
    l->locked = false;
    lock_wake_first(l);
    return 0;
}

static int lock_acquire_void(void *l) { return cio_lock_acquire(l); }
static void lock_release_void(void *l) { cio_lock_release(l); }
int cio_lock_guard(cio_lock *l, cio_guard *g) { return guard_acquire(g, l, lock_acquire_void, lock_release_void); }

/* ---- Event -------------------------------------------------------------- */

struct cio_event {
    bool set;
    cio__wlist waiters;
};

cio_event *cio_event_new(void)
{
    cio_event *e = calloc(1, sizeof *e);
    if (!e) {
        errno = ENOMEM;
        return NULL;
    }
    cio__wlist_init(&e->waiters);
    return e;
}

void cio_event_free(cio_event *e) { free(e); }
bool cio_event_is_set(const cio_event *e) { return e->set; }
void cio_event_clear(cio_event *e) { e->set = false; }
size_t cio_event_waiters(const cio_event *e) { return cio__wlist_count(&e->waiters); }

void cio_event_set(cio_event *e)
{
    if (e->set)
        return;
    e->set = true;
    cio__wlist_wake_all(&e->waiters);
}

int cio_event_wait(cio_event *e)
{
    if (e->set)
        return 0;
    cio__task *t;
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    cio__swait s;
    return cio__wlist_park(&e->waiters, &s, "event");
}

/* ---- Condition ---------------------------------------------------------- */

struct cio_cond {
    cio_lock *lock;
    bool own_lock;
    cio__wlist waiters;
};

cio_cond *cio_cond_new(cio_lock *lock)
{
    cio_cond *c = calloc(1, sizeof *c);
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    if (!lock) {
        if (!(lock = cio_lock_new())) {
            free(c);
            return NULL;
        }
        c->own_lock = true;
    }
    c->lock = lock;
    cio__wlist_init(&c->waiters);
    return c;
}

void cio_cond_free(cio_cond *c)
{
    if (!c)
        return;
    if (c->own_lock)
        cio_lock_free(c->lock);
    free(c);
}

cio_lock *cio_cond_lock(cio_cond *c) { return c->lock; }
int cio_cond_acquire(cio_cond *c) { return cio_lock_acquire(c->lock); }
int cio_cond_release(cio_cond *c) { return cio_lock_release(c->lock); }
bool cio_cond_locked(const cio_cond *c) { return c->lock->locked; }
size_t cio_cond_waiters(const cio_cond *c) { return cio__wlist_count(&c->waiters); }

int cio_cond_wait(cio_cond *c)
{
    cio__task *t = cio__current();
    if (!t)
        return CIO_ENOTASK;
    if (!c->lock->locked)
        return CIO_ENOTACQUIRED;
    int rc = cio__enter(&t);
    if (rc)
        return rc; /* still holding the lock */
    cio_lock_release(c->lock);
    cio__swait s;
    rc = cio__wlist_park(&c->waiters, &s, "condition");
    /* The lock must be held again on return, even when cancelled; a
     * cancellation while re-acquiring it still ends the wait with
     * -ECANCELED (asyncio re-raises it after the loop). */
    for (;;) {
        int a = cio_lock_acquire(c->lock);
        if (a == 0)
            break;
        rc = a;
    }
    /* Notified but not returning 0: the notification goes to another
     * waiter instead of being lost (asyncio 3.13). */
    if (rc && s.done)
        cio__wlist_wake_next(&c->waiters);
    return rc;
}

int cio_cond_wait_for(cio_cond *c, bool (*pred)(void *arg), void *arg)
{
    while (!pred(arg)) {
        int rc = cio_cond_wait(c);
        if (rc)
            return rc;
    }
    return 0;
}

int cio_cond_notify(cio_cond *c, size_t n)
{
    if (!c->lock->locked)
        return CIO_ENOTACQUIRED;
    while (n-- && cio__wlist_wake_next(&c->waiters)) {
    }
    return 0;
}

int cio_cond_notify_all(cio_cond *c) { return cio_cond_notify(c, SIZE_MAX); }

/* ---- Semaphore ---------------------------------------------------------- */

struct cio_sem {
    size_t value, bound; /* bound: the initial value, if bounded */
    bool bounded;
    cio__wlist waiters;
};

static cio_sem *sem_make(size_t value, bool bounded)
{
    cio_sem *s = calloc(1, sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    s->value = value;
    s->bound = value;
    s->bounded = bounded;
    cio__wlist_init(&s->waiters);
    return s;
}

cio_sem *cio_sem_new(size_t value) { return sem_make(value, false); }
/* BoundedSemaphore(0) is bounded too: every release is one too many. */
cio_sem *cio_sem_new_bounded(size_t value) { return sem_make(value, true); }
void cio_sem_free(cio_sem *s) { free(s); }
size_t cio_sem_value(const cio_sem *s) { return s->value; }
size_t cio_sem_waiters(const cio_sem *s) { return cio__wlist_count(&s->waiters); }
/* Woken waiters count until they run: a permit they were given is taken. */
bool cio_sem_locked(const cio_sem *s) { return s->value == 0 || !cio__wlist_empty(&s->waiters); }

/* Semaphore._wake_up_next: the permit is reserved for the woken waiter. */
static bool sem_wake_next(cio_sem *s)
{
    if (!cio__wlist_wake_next(&s->waiters))
        return false;
    s->value--;
    return true;
}

int cio_sem_acquire(cio_sem *s)
{
    int rc = need_task();
    if (rc)
        return rc;
    if (!cio_sem_locked(s)) {
        s->value--;
        return 0;
    }
    cio__task *t;
    if ((rc = cio__enter(&t)))
        return rc;
    cio__swait w;
    rc = cio__wlist_park(&s->waiters, &w, "semaphore");
    if (rc && w.done)
        s->value++; /* woken with a permit we are not taking: give it back */
    /* Waiters that arrived meanwhile had to queue (FIFO): wake as many as
     * there are permits. */
    while (s->value > 0 && sem_wake_next(s)) {
    }
    return rc;
}

int cio_sem_release(cio_sem *s)
{
    if (s->bounded && s->value >= s->bound)
        return CIO_ESEMOVERFLOW;
    s->value++;
    sem_wake_next(s);
    return 0;
}

static int sem_acquire_void(void *s) { return cio_sem_acquire(s); }
static void sem_release_void(void *s) { cio_sem_release(s); }
int cio_sem_guard(cio_sem *s, cio_guard *g) { return guard_acquire(g, s, sem_acquire_void, sem_release_void); }
