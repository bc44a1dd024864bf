/* Queues: FIFO, LIFO and priority, with maxsize, task_done/join and
 * shutdown (Python 3.13 semantics).
 *
 * Items are handed over directly: a put with a getter waiting gives the item
 * to that getter, and a get from a full queue moves the first waiting
 * putter's item in.  Handed-over items belong to the waiter even if it is
 * cancelled before it resumes (the cancellation then stays pending), so no
 * item is ever lost or duplicated by a cancellation race. */
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

/* Put without suspending: hand to a waiting getter, or store. */
static int put_now(cio_queue *q, void *item)
{
    cio__swait *g = cio__swait_first(&q->getters);
    if (g) {
        cio__list_remove(&g->link);
        g->item = item;
        q->unfinished++;
        cio__wake(g->w.task, 0);
        return 0;
    }
    return push(q, item);
}

int cio_queue_put_nowait(cio_queue *q, void *item)
{
    if (q->shutdown)
        return CIO_EQUEUESHUTDOWN;
    if (cio_queue_full(q))
        return CIO_EQUEUEFULL;
    return put_now(q, item);
}

int cio_queue_put(cio_queue *q, void *item)
{
    if (q->shutdown)
        return CIO_EQUEUESHUTDOWN;
    if (!cio_queue_full(q))
        return put_now(q, item);
    cio__task *t;
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    cio__swait s = {0};
    s.item = item;
    /* 0: a getter moved our item into the queue */
    return cio__swait_park(&q->putters, &s, "queue put", false);
}

/* Get without suspending; the queue is not empty. */
static void *get_now(cio_queue *q)
{
    void *item = pop(q);
    cio__swait *p = cio__swait_first(&q->putters);
    if (p && push(q, p->item) == 0) { /* room was just made: cannot fail */
        cio__list_remove(&p->link);
        cio__wake(p->w.task, 0);
    }
    return item;
}

int cio_queue_get_nowait(cio_queue *q, void **item)
{
    *item = NULL;
    if (q->len) {
        *item = get_now(q);
        return 0;
    }
    return q->shutdown ? CIO_EQUEUESHUTDOWN : CIO_EQUEUEEMPTY;
}

int cio_queue_get(cio_queue *q, void **item)
{
    *item = NULL;
    if (q->len) {
        *item = get_now(q);
        return 0;
    }
    if (q->shutdown)
        return CIO_EQUEUESHUTDOWN;
    cio__task *t;
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    cio__swait s = {0};
    rc = cio__swait_park(&q->getters, &s, "queue get", false);
    if (rc == 0)
        *item = s.item;
    return rc;
}

int cio_queue_task_done(cio_queue *q)
{
    if (q->unfinished == 0)
        return -EINVAL;
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
    cio__swait s = {0};
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
    /* Waiting getters find the queue empty; waiting putters' items were
     * never enqueued and stay theirs. */
    while (cio__swait_wake_first(&q->getters, CIO_EQUEUESHUTDOWN)) {
    }
    while (cio__swait_wake_first(&q->putters, CIO_EQUEUESHUTDOWN)) {
    }
}
