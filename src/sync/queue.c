/* SPDX-License-Identifier: MIT */
/* Queues: FIFO, LIFO and priority, with maxsize, task_done/join and
 * shutdown (Python 3.13 semantics), as asyncio's queues.py.
 *
 * Items always go through the queue: a put wakes the first waiting getter,
 * which takes an item when it runs (and waits again if another task took it
 * first); a get wakes the first waiting putter, which then finds room.  A
 * waiter cancelled after its wake-up returns -ECANCELED and passes the
 * wake-up on, so an item is never lost in a cancelled getter, and a
 * cancelled put never adds its item. */
#include "sync/sync.h"

#include <stdlib.h>

enum { Q_FIFO, Q_LIFO, Q_PRIO };

typedef struct qent {
    void *item;
    uint64_t seq; /* priority ties keep insertion order */
} qent;

struct cio_queue {
    int kind;
    size_t maxsize;
    qent *buf;
    size_t cap, head, len;
    int (*cmp)(const void *a, const void *b);
    uint64_t seq;
    size_t unfinished;
    bool shutdown;
    cio__link getters, putters, joiners;
};

static cio_queue *queue_make(int kind, size_t maxsize, int (*cmp)(const void *, const void *))
{
    cio_queue *q = calloc(1, sizeof *q);
    if (!q) {
        errno = ENOMEM;
        return NULL;
    }
    q->kind = kind;
    q->maxsize = maxsize;
    q->cmp = cmp;
    cio__list_init(&q->getters);
    cio__list_init(&q->putters);
    cio__list_init(&q->joiners);
    return q;
}

cio_queue *cio_queue_new(size_t maxsize) { return queue_make(Q_FIFO, maxsize, NULL); }
cio_queue *cio_queue_new_lifo(size_t maxsize) { return queue_make(Q_LIFO, maxsize, NULL); }

cio_queue *cio_queue_new_priority(size_t maxsize, int (*cmp)(const void *a, const void *b))
{
    if (!cmp) {
        errno = EINVAL;
        return NULL;
    }
    return queue_make(Q_PRIO, maxsize, cmp);
}

void cio_queue_free(cio_queue *q)
{
    if (!q)
        return;
    free(q->buf);
    free(q);
}

size_t cio_queue_qsize(const cio_queue *q) { return q->len; }
size_t cio_queue_maxsize(const cio_queue *q) { return q->maxsize; }
bool cio_queue_empty(const cio_queue *q) { return q->len == 0; }
bool cio_queue_full(const cio_queue *q) { return q->maxsize && q->len >= q->maxsize; }
bool cio_queue_is_shutdown(const cio_queue *q) { return q->shutdown; }
size_t cio_queue_unfinished(const cio_queue *q) { return q->unfinished; }
size_t cio_queue_getters(const cio_queue *q) { return cio__swait_count(&q->getters); }
size_t cio_queue_putters(const cio_queue *q) { return cio__swait_count(&q->putters); }

static bool prio_less(const cio_queue *q, const qent *a, const qent *b)
{
    int c = q->cmp(a->item, b->item);
    return c < 0 || (c == 0 && a->seq < b->seq);
}

static int push(cio_queue *q, void *item)
{
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16; /* a power of two: indexes wrap with a mask */
        qent *nb = malloc(cap * sizeof *nb);
        if (!nb)
            return -ENOMEM;
        for (size_t i = 0; i < q->len; i++) /* unwrap the ring */
            nb[i] = q->buf[(q->head + i) & (q->cap - 1)];
        free(q->buf);
        q->buf = nb;
        q->cap = cap;
        q->head = 0;
    }
    qent e = {item, q->seq++};
    if (q->kind == Q_FIFO) {
        q->buf[(q->head + q->len) & (q->cap - 1)] = e;
    } else if (q->kind == Q_LIFO) {
        q->buf[q->len] = e;
    } else { /* binary heap, sift up */
        size_t i = q->len;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!prio_less(q, &e, &q->buf[p]))
                break;
            q->buf[i] = q->buf[p];
            i = p;
        }
        q->buf[i] = e;
    }
    q->len++;
    q->unfinished++;
    return 0;
}

static void *pop(cio_queue *q)
{
    void *item;
    if (q->kind == Q_FIFO) {
        item = q->buf[q->head].item;
        q->head = (q->head + 1) & (q->cap - 1);
        q->len--;
    } else if (q->kind == Q_LIFO) {
        item = q->buf[--q->len].item;
    } else {
        item = q->buf[0].item;
        qent last = q->buf[--q->len];
        size_t i = 0, n = q->len;
        for (;;) {
            size_t c = 2 * i + 1;
            if (c >= n)
                break;
            if (c + 1 < n && prio_less(q, &q->buf[c + 1], &q->buf[c]))
                c++;
            if (!prio_less(q, &q->buf[c], &last))
                break;
            q->buf[i] = q->buf[c];
            i = c;
        }
        if (n)
            q->buf[i] = last;
    }
    return item;
}

/* Queue._wakeup_next: the woken waiter leaves the list and re-checks the
 * queue when it runs. */
static void wakeup_next(cio__link *waiters) { cio__swait_wake_first(waiters, 0); }

int cio_queue_put_nowait(cio_queue *q, void *item)
{
    if (q->shutdown)
        return CIO_EQUEUESHUTDOWN;
    if (cio_queue_full(q))
        return CIO_EQUEUEFULL;
    int rc = push(q, item);
    if (rc == 0)
        wakeup_next(&q->getters);
    return rc;
}

/* Parks in a getter or putter list; on a cancellation after a wake-up that
 * this waiter can no longer use, the wake-up goes to the next in line (the
 * item or the free slot stays in the queue, nothing is lost). */
static int queue_park(cio_queue *q, cio__link *list, const char *what, bool (*blocked)(const cio_queue *))
{
    cio__task *t;
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    cio__swait s;
    rc = cio__swait_park(list, &s, what, true);
    if (rc && s.done && !blocked(q))
        wakeup_next(list);
    return rc;
}

int cio_queue_put(cio_queue *q, void *item)
{
    while (cio_queue_full(q)) {
        if (q->shutdown)
            return CIO_EQUEUESHUTDOWN;
        int rc = queue_park(q, &q->putters, "queue put", cio_queue_full);
        if (rc)
            return rc; /* the item was not added: still the caller's */
    }
    return cio_queue_put_nowait(q, item);
}

int cio_queue_get_nowait(cio_queue *q, void **item)
{
    *item = NULL;
    if (q->len == 0)
        return q->shutdown ? CIO_EQUEUESHUTDOWN : CIO_EQUEUEEMPTY;
    *item = pop(q);
    wakeup_next(&q->putters);
    return 0;
}

int cio_queue_get(cio_queue *q, void **item)
{
    *item = NULL;
    while (q->len == 0) {
        if (q->shutdown)
            return CIO_EQUEUESHUTDOWN;
        int rc = queue_park(q, &q->getters, "queue get", cio_queue_empty);
        if (rc)
            return rc;
    }
    return cio_queue_get_nowait(q, item);
}

int cio_queue_task_done(cio_queue *q)
{
    if (q->unfinished == 0)
        return CIO_ETASKDONE;
    if (--q->unfinished == 0)
        while (cio__swait_wake_first(&q->joiners, 0)) {
        }
    return 0;
}

int cio_queue_join(cio_queue *q)
{
    if (q->unfinished == 0)
        return 0;
    cio__task *t;
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    cio__swait s;
    return cio__swait_park(&q->joiners, &s, "queue join", true);
}

void cio_queue_shutdown(cio_queue *q, bool immediate, void (*drop)(void *item))
{
    q->shutdown = true;
    if (immediate) {
        while (q->len) {
            void *item = pop(q);
            if (drop)
                drop(item);
            if (q->unfinished)
                q->unfinished--;
        }
        if (q->unfinished == 0)
            while (cio__swait_wake_first(&q->joiners, 0)) {
        }
    }
    /* Every getter and putter re-checks: getters of an empty queue and all
     * putters fail with CIO_EQUEUESHUTDOWN (the putters' items were never
     * enqueued and stay theirs). */
    while (cio__swait_wake_first(&q->getters, 0)) {
    }
    while (cio__swait_wake_first(&q->putters, 0)) {
    }
}
