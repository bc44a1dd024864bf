/* Lock, Event, Condition, Semaphore, BoundedSemaphore, Barrier.
 *
 * All waits are FIFO.  Where a wake-up hands over a resource (a lock, a
 * permit, a notification) it is handed over directly to the first waiter:
 * the waker gives it away and the waiter owns it when it resumes, even if
 * it was cancelled in between (cio__wait.droppable = false), in which case
 * the cancellation stays pending for its next suspension point.  So a
 * cancellation racing with a wake-up can never lose a permit or a
 * notification, which is the bug class asyncio's primitives have had. */
#include "sync/sync.h"

#include <stdlib.h>

static bool swait_cancel(cio__wait *w)
{
    cio__swait *s = CIO__CONTAINER_OF(w, cio__swait, w);
    cio__list_remove(&s->link);
    if (s->on_cancel)
        s->on_cancel(s);
    cio__wake(w->task, -ECANCELED);
    return true;
}

int cio__swait_park(cio__link *queue, cio__swait *s, const char *what, bool droppable)
{
    s->w.what = what;
    s->w.cancel = swait_cancel;
    s->w.droppable = droppable;
    cio__list_push_back(queue, &s->link);
    return cio__park(&s->w);
}

bool cio__swait_wake_first(cio__link *queue, int status)
{
    cio__link *n = cio__list_pop_front(queue);
    if (!n)
        return false;
    cio__swait *s = CIO__CONTAINER_OF(n, cio__swait, link);
    cio__wake(s->w.task, status);
    return true;
}

void cio__guard_release(cio_guard *g)
{
    if (g->obj) {
        void *o = g->obj;
        g->obj = NULL;
        g->release(o);
    }
}

/* ---- Lock --------------------------------------------------------------- */

struct cio_lock {
    bool locked;
    cio__link waiters;
};

cio_lock *cio_lock_new(void)
{
    cio_lock *l = calloc(1, sizeof *l);
    if (!l) {
        errno = ENOMEM;
        return NULL;
    }
    cio__list_init(&l->waiters);
    return l;
}

void cio_lock_free(cio_lock *l) { free(l); }
bool cio_lock_locked(const cio_lock *l) { return l->locked; }

int cio_lock_acquire(cio_lock *l)
{
    if (!l->locked && cio__list_empty(&l->waiters)) {
        l->locked = true;
        return 0;
    }
    cio__task *t;
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    cio__swait s = {0};
    /* status 0 = the releaser handed the lock to us */
    return cio__swait_park(&l->waiters, &s, "lock", false);
}

int cio_lock_release(cio_lock *l)
{
    if (!l->locked)
        return CIO_EINVALSTATE;
    if (!cio__swait_wake_first(&l->waiters, 0))
        l->locked = false;
    return 0;
}

static void lock_release_void(void *l) { cio_lock_release(l); }

int cio_lock_guard(cio_lock *l, cio_guard *g)
{
    g->obj = NULL;
    int rc = cio_lock_acquire(l);
    if (rc == 0) {
        g->obj = l;
        g->release = lock_release_void;
    }
    return rc;
}

/* ---- Event -------------------------------------------------------------- */

struct cio_event {
    bool set;
    cio__link waiters;
};

cio_event *cio_event_new(void)
{
    cio_event *e = calloc(1, sizeof *e);
    if (!e) {
        errno = ENOMEM;
        return NULL;
    }
    cio__list_init(&e->waiters);
    return e;
}

void cio_event_free(cio_event *e) { free(e); }
bool cio_event_is_set(const cio_event *e) { return e->set; }
void cio_event_clear(cio_event *e) { e->set = false; }

void cio_event_set(cio_event *e)
{
    if (e->set)
        return;
    e->set = true;
    while (cio__swait_wake_first(&e->waiters, 0)) {
    }
}

int cio_event_wait(cio_event *e)
{
    if (e->set)
        return 0;
    cio__task *t;
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    cio__swait s = {0};
    return cio__swait_park(&e->waiters, &s, "event", true);
}

/* ---- Condition ---------------------------------------------------------- */

struct cio_cond {
    cio_lock *lock;
    bool own_lock;
    cio__link waiters;
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
    cio__list_init(&c->waiters);
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

int cio_cond_wait(cio_cond *c)
{
    cio__task *t = cio__current();
    if (!t)
        return CIO_ENOTASK;
    if (!c->lock->locked)
        return CIO_EINVALSTATE;
    int rc = 0;
    if (t->must_cancel) {
        t->must_cancel = 0;
        t->saw_cancel = 1;
        return -ECANCELED; /* still holding the lock, as asyncio */
    }
    cio_lock_release(c->lock);
    cio__swait s = {0};
    rc = cio__swait_park(&c->waiters, &s, "condition", false);
    /* The lock must be held again on return, even when cancelled. */
    bool cancelled_meanwhile = false;
    for (;;) {
        int a = cio_lock_acquire(c->lock);
        if (a == 0)
            break;
        cancelled_meanwhile = true;
    }
    if (cancelled_meanwhile && rc == 0) {
        /* Notified, then cancelled while re-acquiring: keep the notification
         * (return 0) and deliver the cancellation at the next suspension. */
        t->must_cancel = 1;
    }
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
        return CIO_EINVALSTATE;
    while (n-- && cio__swait_wake_first(&c->waiters, 0)) {
    }
    return 0;
}

int cio_cond_notify_all(cio_cond *c) { return cio_cond_notify(c, SIZE_MAX); }

/* ---- Semaphore ---------------------------------------------------------- */

struct cio_sem {
    size_t value, bound; /* bound: the initial value, if bounded */
    bool bounded;
    cio__link waiters;
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
    cio__list_init(&s->waiters);
    return s;
}

cio_sem *cio_sem_new(size_t value) { return sem_make(value, false); }
/* BoundedSemaphore(0) is bounded too: every release is one too many. */
cio_sem *cio_sem_new_bounded(size_t value) { return sem_make(value, true); }
void cio_sem_free(cio_sem *s) { free(s); }
size_t cio_sem_value(const cio_sem *s) { return s->value; }
bool cio_sem_locked(const cio_sem *s) { return s->value == 0 || !cio__list_empty(&s->waiters); }

int cio_sem_acquire(cio_sem *s)
{
    if (s->value > 0 && cio__list_empty(&s->waiters)) {
        s->value--;
        return 0;
    }
    cio__task *t;
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    cio__swait w = {0};
    return cio__swait_park(&s->waiters, &w, "semaphore", false);
}

int cio_sem_release(cio_sem *s)
{
    if (cio__swait_wake_first(&s->waiters, 0))
        return 0; /* the permit goes straight to the first waiter */
    if (s->bounded && s->value >= s->bound)
        return -EOVERFLOW;
    s->value++;
    return 0;
}

static void sem_release_void(void *s) { cio_sem_release(s); }

int cio_sem_guard(cio_sem *s, cio_guard *g)
{
    g->obj = NULL;
    int rc = cio_sem_acquire(s);
    if (rc == 0) {
        g->obj = s;
        g->release = sem_release_void;
    }
    return rc;
}

/* ---- Barrier ------------------------------------------------------------ */

struct cio_barrier {
    size_t parties, count;
    bool broken;
    cio__link waiters;
};

cio_barrier *cio_barrier_new(size_t parties)
{
    if (parties == 0) {
        errno = EINVAL;
        return NULL;
    }
    cio_barrier *b = calloc(1, sizeof *b);
    if (!b) {
        errno = ENOMEM;
        return NULL;
    }
    b->parties = parties;
    cio__list_init(&b->waiters);
    return b;
}

void cio_barrier_free(cio_barrier *b) { free(b); }
size_t cio_barrier_parties(const cio_barrier *b) { return b->parties; }
size_t cio_barrier_n_waiting(const cio_barrier *b) { return b->count; }
bool cio_barrier_broken(const cio_barrier *b) { return b->broken; }

typedef struct bwait {
    cio__swait s;
    cio_barrier *b;
} bwait;

static void barrier_leave(cio__swait *s) { ((bwait *)s)->b->count--; }

int cio_barrier_wait(cio_barrier *b)
{
    if (b->broken)
        return CIO_EBROKENBARRIER;
    size_t index = b->count;
    if (index + 1 == b->parties) {
        /* The last party releases everyone; the next cycle starts empty. */
        size_t i = 0;
        cio__link *n;
        while ((n = cio__list_pop_front(&b->waiters)))
            cio__wake(CIO__CONTAINER_OF(n, cio__swait, link)->w.task, (int)i++);
        b->count = 0;
        return (int)index;
    }
    cio__task *t;
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    b->count++;
    bwait w = {.b = b};
    w.s.on_cancel = barrier_leave;
    return cio__swait_park(&b->waiters, &w.s, "barrier", false);
}

static void barrier_break(cio_barrier *b)
{
    while (cio__swait_wake_first(&b->waiters, CIO_EBROKENBARRIER)) {
    }
    b->count = 0;
}

void cio_barrier_abort(cio_barrier *b)
{
    b->broken = true;
    barrier_break(b);
}

void cio_barrier_reset(cio_barrier *b)
{
    barrier_break(b);
    b->broken = false;
}
