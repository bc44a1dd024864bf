/* SPDX-License-Identifier: MIT */
/* CPython Lib/test/test_asyncio/test_queues.py, ported (see conformance.h),
 * with the 3.13 shutdown tests (_QueueShutdownTestMixin).  Items are small
 * integers carried in the pointers; the mixin tests run on all three kinds
 * of queue (FIFO, LIFO, priority) as CPython runs them in three classes. */
#define CONF_FILE "test_queues"
#include "conformance.h"
#include "../lib/tasks.h"

#include <stdint.h>

#define I(x) ((void *)(intptr_t)(x))
#define V(p) ((int)(intptr_t)(p))

static int cmp_int(const void *a, const void *b)
{
    intptr_t x = (intptr_t)a, y = (intptr_t)b;
    return (x > y) - (x < y);
}

enum { FIFO, LIFO, PRIO, NKINDS };

static cio_queue *make_q(int kind, size_t maxsize)
{
    cio_queue *q = kind == FIFO ? cio_queue_new(maxsize)
                   : kind == LIFO ? cio_queue_new_lifo(maxsize)
                                  : cio_queue_new_priority(maxsize, cmp_int);
    CHECK(q != NULL);
    return q;
}

/* q.get() as a task: its result is the item. */
static void *get_task(void *q)
{
    void *v;
    int rc = cio_queue_get(q, &v);
    return rc ? cio_fail(rc, NULL) : v;
}

typedef struct putarg {
    cio_queue *q;
    void *item;
} putarg;

/* q.put(item) as a task: its result is 1. */
static void *put_task(void *arg)
{
    putarg *p = arg;
    int rc = cio_queue_put(p->q, p->item);
    return rc ? cio_fail(rc, NULL) : I(1);
}

static int get(cio_queue *q)
{
    void *v = I(-1);
    CHECK_EQ(cio_queue_get(q, &v), 0);
    return V(v);
}

static int get_nowait(cio_queue *q)
{
    void *v = I(-1);
    CHECK_EQ(cio_queue_get_nowait(q, &v), 0);
    return V(v);
}

/* ---- QueueBasicTests ---------------------------------------------------- */

CONF_TASK(test_empty)
{
    cio_queue *q = make_q(FIFO, 0);
    CHECK(cio_queue_empty(q));
    CHECK_EQ(cio_queue_put(q, I(1)), 0);
    CHECK(!cio_queue_empty(q));
    CHECK_EQ(get(q), 1);
    CHECK(cio_queue_empty(q));
    cio_queue_free(q);
    return NULL;
}

CONF_TASK(test_full)
{
    cio_queue *q = make_q(FIFO, 0);
    CHECK(!cio_queue_full(q));
    cio_queue_free(q);
    q = make_q(FIFO, 1);
    CHECK_EQ(cio_queue_put(q, I(1)), 0);
    CHECK(cio_queue_full(q));
    cio_queue_free(q);
    return NULL;
}

static void order_of(int kind, int a, int b, int c)
{
    cio_queue *q = make_q(kind, 0);
    int in[] = {1, 3, 2};
    for (int i = 0; i < 3; i++)
        CHECK_EQ(cio_queue_put(q, I(in[i])), 0);
    int x = get(q), y = get(q), z = get(q);
    CHECK_EQ(x, a);
    CHECK_EQ(y, b);
    CHECK_EQ(z, c);
    cio_queue_free(q);
}

CONF_TASK(QueueBasicTests__test_order)
{
    order_of(FIFO, 1, 3, 2);
    return NULL;
}

typedef struct maxsize_st {
    cio_queue *q;
    int have_been_put[4];
    int n;
} maxsize_st;

static void *maxsize_putter(void *arg)
{
    maxsize_st *s = arg;
    for (int i = 0; i < 3; i++) {
        int rc = cio_queue_put(s->q, I(i));
        if (rc)
            return cio_fail(rc, NULL);
        s->have_been_put[s->n++] = i;
    }
    return I(1);
}

CONF_TASK(test_maxsize)
{
    maxsize_st s = {.q = make_q(FIFO, 2)};
    CHECK_EQ(cio_queue_maxsize(s.q), 2);
    cio_task *t = spawn(maxsize_putter, &s);
    for (int i = 0; i < 2; i++)
        cio_yield();
    /* the putter is blocked after putting two items */
    CHECK_EQ(s.n, 2);
    CHECK_EQ(s.have_been_put[0], 0);
    CHECK_EQ(s.have_been_put[1], 1);
    CHECK_EQ(get(s.q), 0);
    /* let the putter resume and put the last item */
    cio_yield();
    CHECK_EQ(s.n, 3);
    CHECK_EQ(s.have_been_put[2], 2);
    CHECK_EQ(get(s.q), 1);
    CHECK_EQ(get(s.q), 2);
    CHECK(cio_done(t));
    void *r = NULL;
    CHECK_EQ(await_release(t, &r), 0);
    CHECK_EQ(V(r), 1);
    cio_queue_free(s.q);
    return NULL;
}

/* ---- QueueGetTests ------------------------------------------------------ */

CONF_TASK(test_blocking_get)
{
    cio_queue *q = make_q(FIFO, 0);
    CHECK_EQ(cio_queue_put_nowait(q, I(1)), 0);
    CHECK_EQ(get(q), 1);
    cio_queue_free(q);
    return NULL;
}

/* CPython appends a bare future to q._putters; here a real putter waits
 * there, and the get must wake it (its waiter done) at once. */
CONF_TASK(test_get_with_putters)
{
    cio_queue *q = make_q(FIFO, 1);
    CHECK_EQ(cio_queue_put(q, I(1)), 0);
    putarg pa = {q, I(2)};
    cio_task *waiter = spawn(put_task, &pa);
    cio_yield();
    CHECK_EQ(cio_queue_putters(q), 1);
    CHECK_EQ(get(q), 1);
    CHECK_EQ(cio_queue_putters(q), 0);
    CHECK_EQ(cio_task_state(waiter), CIO_TASK_SCHEDULED); /* woken */
    void *r = NULL;
    CHECK_EQ(await_release(waiter, &r), 0);
    CHECK_EQ(V(r), 1);
    CHECK_EQ(get_nowait(q), 2);
    cio_queue_free(q);
    return NULL;
}

typedef struct bgw {
    cio_queue *q;
    cio_event *started;
    bool finished;
} bgw;

static void *blocking_get_waiter(void *arg)
{
    bgw *s = arg;
    cio_event_set(s->started);
    void *v;
    int rc = cio_queue_get(s->q, &v);
    s->finished = true;
    return rc ? cio_fail(rc, NULL) : v;
}

static void put_one_cb(void *q) { CHECK_EQ(cio_queue_put_nowait(q, I(1)), 0); }

CONF_TASK(test_blocking_get_wait)
{
    bgw s = {.q = make_q(FIFO, 0), .started = cio_event_new()};
    cio_task *t = spawn(blocking_get_waiter, &s);
    CHECK_EQ(cio_event_wait(s.started), 0);
    CHECK(!s.finished);
    CHECK_EQ(cio_call_later(cio_loop_current(), 0.01, put_one_cb, s.q, NULL), 0);
    void *r = NULL;
    CHECK_EQ(await_release(t, &r), 0);
    CHECK(s.finished);
    CHECK_EQ(V(r), 1);
    cio_event_free(s.started);
    cio_queue_free(s.q);
    return NULL;
}

CONF_TASK(test_nonblocking_get)
{
    cio_queue *q = make_q(FIFO, 0);
    CHECK_EQ(cio_queue_put_nowait(q, I(1)), 0);
    CHECK_EQ(get_nowait(q), 1);
    cio_queue_free(q);
    return NULL;
}

CONF_TASK(test_nonblocking_get_exception)
{
    cio_queue *q = make_q(FIFO, 0);
    void *v;
    CHECK_EQ(cio_queue_get_nowait(q, &v), CIO_EQUEUEEMPTY);
    cio_queue_free(q);
    return NULL;
}

CONF_TASK(test_get_cancelled_race)
{
    cio_queue *q = make_q(FIFO, 0);
    cio_task *t1 = spawn(get_task, q);
    cio_task *t2 = spawn(get_task, q);
    cio_yield();
    cio_cancel(t1, NULL);
    cio_yield();
    CHECK(cio_done(t1));
    CHECK_EQ(cio_queue_put(q, I('a')), 0);
    cio_yield();
    void *r = NULL;
    CHECK_EQ(await_release(t2, &r), 0);
    CHECK_EQ(V(r), 'a');
    CHECK_EQ(await_release(t1, NULL), -ECANCELED);
    cio_queue_free(q);
    return NULL;
}

CONF_TASK(test_get_with_waiting_putters)
{
    cio_queue *q = make_q(FIFO, 1);
    putarg a = {q, I('a')}, b = {q, I('b')};
    cio_task *ta = spawn(put_task, &a), *tb = spawn(put_task, &b);
    CHECK_EQ(get(q), 'a');
    CHECK_EQ(get(q), 'b');
    CHECK_EQ(await_release(ta, NULL), 0);
    CHECK_EQ(await_release(tb, NULL), 0);
    cio_queue_free(q);
    return NULL;
}

typedef struct pc {
    cio_queue *q;
    int n;
} pc;

static void *consumer(void *arg)
{
    pc *p = arg;
    for (int i = 0; i < p->n; i++) {
        void *v;
        int rc = cio_queue_get(p->q, &v);
        if (rc)
            return cio_fail(rc, NULL);
    }
    return NULL;
}

static void *producer(void *arg)
{
    pc *p = arg;
    for (int i = 0; i < p->n; i++) {
        int rc = cio_queue_put(p->q, I(i));
        if (rc)
            return cio_fail(rc, NULL);
    }
    return NULL;
}

CONF_TASK(test_why_are_getters_waiting)
{
    pc p = {make_q(FIFO, 1), 5};
    cio_group *g = cio_group_new();
    CHECK(cio_group_spawn(g, producer, &p, NULL) != NULL);
    CHECK(cio_group_spawn(g, consumer, &p, NULL) != NULL);
    CHECK_EQ(cio_group_wait(g), 0);
    cio_group_free(g);
    cio_queue_free(p.q);
    return NULL;
}

CONF_TASK(test_cancelled_getters_not_being_held_in_self_getters)
{
    cio_queue *q = make_q(FIFO, 5);
    cio_task *t = spawn(get_task, q);
    CHECK_EQ(cio_wait_for(t, 0.1, NULL), -ETIMEDOUT);
    cio_release(t);
    CHECK_EQ(cio_queue_getters(q), 0);
    cio_queue_free(q);
    return NULL;
}

/* ---- QueuePutTests ------------------------------------------------------ */

CONF_TASK(test_blocking_put)
{
    cio_queue *q = make_q(FIFO, 0);
    CHECK_EQ(cio_queue_put(q, I(1)), 0); /* no maxsize: does not block */
    CHECK_EQ(get(q), 1);
    cio_queue_free(q);
    return NULL;
}

typedef struct bpw {
    cio_queue *q;
    cio_event *started;
    bool finished;
} bpw;

static void *blocking_putter(void *arg)
{
    bpw *s = arg;
    cio_event_set(s->started);
    int rc = cio_queue_put(s->q, I(1));
    if (rc == 0)
        rc = cio_queue_put(s->q, I(2));
    if (rc)
        return cio_fail(rc, NULL);
    s->finished = true;
    return NULL;
}

static void get_nowait_cb(void *q)
{
    void *v;
    CHECK_EQ(cio_queue_get_nowait(q, &v), 0);
}

CONF_TASK(test_blocking_put_wait)
{
    bpw s = {.q = make_q(FIFO, 1), .started = cio_event_new()};
    CHECK_EQ(cio_call_later(cio_loop_current(), 0.01, get_nowait_cb, s.q, NULL), 0);
    cio_task *t = spawn(blocking_putter, &s);
    CHECK_EQ(cio_event_wait(s.started), 0);
    CHECK(!s.finished);
    CHECK_EQ(await_release(t, NULL), 0);
    CHECK(s.finished);
    cio_event_free(s.started);
    cio_queue_free(s.q);
    return NULL;
}

CONF_TASK(test_nonblocking_put)
{
    cio_queue *q = make_q(FIFO, 0);
    CHECK_EQ(cio_queue_put_nowait(q, I(1)), 0);
    CHECK_EQ(get_nowait(q), 1);
    cio_queue_free(q);
    return NULL;
}

/* Issue 10 §2a: item 1 woke the reader, which is cancelled before it runs:
 * 1 must not be lost (the next get returns 1, not 2). */
CONF_TASK(test_get_cancel_drop_one_pending_reader)
{
    cio_queue *q = make_q(FIFO, 0);
    cio_task *reader = spawn(get_task, q);
    cio_yield();
    CHECK_EQ(cio_queue_put_nowait(q, I(1)), 0);
    CHECK_EQ(cio_queue_put_nowait(q, I(2)), 0);
    cio_cancel(reader, NULL);
    void *r = NULL;
    int rc = await_release(reader, &r);
    if (rc == -ECANCELED) { /* try again */
        reader = spawn(get_task, q);
        rc = await_release(reader, &r);
    }
    CHECK_EQ(rc, 0);
    CHECK_EQ(V(r), 1); /* 2 would mean 1 got dropped */
    CHECK_EQ(get_nowait(q), 2);
    cio_queue_free(q);
    return NULL;
}

CONF_TASK(test_get_cancel_drop_many_pending_readers)
{
    cio_queue *q = make_q(FIFO, 0);
    cio_group *g = cio_group_new();
    cio_task *r1 = cio_group_spawn(g, get_task, q, NULL);
    cio_task *r2 = cio_group_spawn(g, get_task, q, NULL);
    cio_task *r3 = cio_group_spawn(g, get_task, q, NULL);
    cio_yield();
    CHECK_EQ(cio_queue_put_nowait(q, I(1)), 0);
    CHECK_EQ(cio_queue_put_nowait(q, I(2)), 0);
    cio_cancel(r1, NULL);
    CHECK_EQ(cio_await(r1, NULL), -ECANCELED);
    CHECK_EQ(cio_await(r3, NULL), 0);
    CHECK_EQ(cio_group_wait(g), 0);
    /* it is undefined in which order concurrent readers receive results */
    void *v2 = NULL, *v3 = NULL;
    CHECK_EQ(cio_result(r2, &v2), 0);
    CHECK_EQ(cio_result(r3, &v3), 0);
    CHECK((V(v2) == 1 && V(v3) == 2) || (V(v2) == 2 && V(v3) == 1));
    cio_group_free(g);
    CHECK(cio_queue_empty(q));
    cio_queue_free(q);
    return NULL;
}

/* Issue 10 §2a: the put woken by a get is cancelled before it runs: its
 * item must not be in the queue (a retried put then succeeds). */
CONF_TASK(test_put_cancel_drop)
{
    cio_queue *q = make_q(FIFO, 1);
    CHECK_EQ(cio_queue_put_nowait(q, I(1)), 0);
    /* putting a second item has to block */
    putarg pa = {q, I(2)};
    cio_task *writer = spawn(put_task, &pa);
    cio_yield();
    CHECK_EQ(get_nowait(q), 1);
    cio_cancel(writer, NULL);
    int rc = await_release(writer, NULL);
    if (rc == -ECANCELED) { /* try again */
        writer = spawn(put_task, &pa);
        rc = await_release(writer, NULL);
    }
    CHECK_EQ(rc, 0);
    CHECK_EQ(get_nowait(q), 2);
    CHECK_EQ(cio_queue_qsize(q), 0);
    cio_queue_free(q);
    return NULL;
}

CONF_TASK(test_nonblocking_put_exception)
{
    cio_queue *q = make_q(FIFO, 1);
    CHECK_EQ(cio_queue_put_nowait(q, I(1)), 0);
    CHECK_EQ(cio_queue_put_nowait(q, I(2)), CIO_EQUEUEFULL);
    cio_queue_free(q);
    return NULL;
}

CONF_TASK(test_put_cancelled)
{
    cio_queue *q = make_q(FIFO, 0);
    putarg pa = {q, I(1)};
    cio_task *t = spawn(put_task, &pa);
    CHECK_EQ(get(q), 1);
    CHECK(cio_done(t));
    void *r = NULL;
    CHECK_EQ(await_release(t, &r), 0);
    CHECK_EQ(V(r), 1);
    cio_queue_free(q);
    return NULL;
}

CONF_TASK(test_put_cancelled_race)
{
    cio_queue *q = make_q(FIFO, 1);
    putarg a = {q, I('a')}, b = {q, I('b')}, c = {q, I('X')};
    cio_task *put_a = spawn(put_task, &a), *put_b = spawn(put_task, &b), *put_c = spawn(put_task, &c);
    cio_yield();
    CHECK(cio_done(put_a));
    CHECK(!cio_done(put_b));
    cio_cancel(put_c, NULL);
    cio_yield();
    CHECK(cio_done(put_c));
    CHECK_EQ(get_nowait(q), 'a');
    cio_yield();
    CHECK_EQ(get_nowait(q), 'b');
    CHECK_EQ(await_release(put_b, NULL), 0);
    CHECK_EQ(await_release(put_a, NULL), 0);
    CHECK_EQ(await_release(put_c, NULL), -ECANCELED);
    CHECK(cio_queue_empty(q));
    cio_queue_free(q);
    return NULL;
}

CONF_TASK(test_put_with_waiting_getters)
{
    cio_queue *q = make_q(FIFO, 0);
    cio_task *t = spawn(get_task, q);
    cio_yield();
    CHECK_EQ(cio_queue_put(q, I('a')), 0);
    void *r = NULL;
    CHECK_EQ(await_release(t, &r), 0);
    CHECK_EQ(V(r), 'a');
    cio_queue_free(q);
    return NULL;
}

static void *why_getter(void *q)
{
    cio_yield();
    size_t num = cio_queue_qsize(q);
    for (size_t i = 0; i < num; i++) {
        void *v;
        CHECK_EQ(cio_queue_get_nowait(q, &v), 0);
    }
    return NULL;
}

CONF_TASK(test_why_are_putters_waiting)
{
    cio_queue *q = make_q(FIFO, 2);
    putarg p[4];
    cio_group *g = cio_group_new();
    CHECK(cio_group_spawn(g, why_getter, q, NULL) != NULL);
    for (int i = 0; i < 4; i++) {
        p[i] = (putarg){q, I(i)};
        CHECK(cio_group_spawn(g, put_task, &p[i], NULL) != NULL);
    }
    CHECK_EQ(cio_group_wait(g), 0);
    cio_group_free(g);
    cio_queue_free(q);
    return NULL;
}

CONF_TASK(test_cancelled_puts_not_being_held_in_self_putters)
{
    cio_queue *q = make_q(FIFO, 1);
    CHECK_EQ(cio_queue_put_nowait(q, I(1)), 0);
    putarg pa = {q, I(1)};
    cio_task *t = spawn(put_task, &pa);
    cio_yield();
    CHECK_EQ(cio_queue_putters(q), 1);
    cio_cancel(t, NULL);
    CHECK_EQ(await_release(t, NULL), -ECANCELED);
    CHECK_EQ(cio_queue_putters(q), 0);
    cio_queue_free(q);
    return NULL;
}

CONF_TASK(test_cancelled_put_silence_value_error_exception)
{
    cio_queue *q = make_q(FIFO, 1);
    CHECK_EQ(cio_queue_put_nowait(q, I(1)), 0);
    putarg pa = {q, I(1)};
    cio_task *t = spawn(put_task, &pa);
    cio_yield();
    /* get_nowait removes the putter from the putters, then it is cancelled */
    CHECK_EQ(get_nowait(q), 1);
    cio_cancel(t, NULL);
    CHECK_EQ(await_release(t, NULL), -ECANCELED);
    CHECK(cio_queue_empty(q)); /* and its item was not added */
    cio_queue_free(q);
    return NULL;
}

CONF_TASK(LifoQueueTests__test_order)
{
    order_of(LIFO, 2, 3, 1);
    return NULL;
}

CONF_TASK(PriorityQueueTests__test_order)
{
    order_of(PRIO, 1, 2, 3);
    return NULL;
}

/* ---- _QueueJoinTestMixin (Queue, LifoQueue, PriorityQueue) --------------- */

CONF_TASK(test_task_done_underflow)
{
    for (int k = 0; k < NKINDS; k++) {
        cio_queue *q = make_q(k, 0);
        CHECK_EQ(cio_queue_task_done(q), CIO_ETASKDONE);
        CHECK(strstr(cio_strerror(CIO_ETASKDONE), "task_done() called too many times") != NULL);
        cio_queue_free(q);
    }
    return NULL;
}

typedef struct tdw {
    cio_queue *q;
    bool running;
    long accumulator;
} tdw;

static void *td_worker(void *arg)
{
    tdw *s = arg;
    while (s->running) {
        void *v;
        int rc = cio_queue_get(s->q, &v);
        if (rc)
            return cio_fail(rc, NULL);
        s->accumulator += V(v);
        CHECK_EQ(cio_queue_task_done(s->q), 0);
    }
    return NULL;
}

CONF_TASK(test_task_done)
{
    for (int k = 0; k < NKINDS; k++) {
        tdw s = {.q = make_q(k, 0), .running = true};
        for (int i = 0; i < 100; i++)
            CHECK_EQ(cio_queue_put_nowait(s.q, I(i)), 0);
        cio_group *g = cio_group_new();
        for (int i = 0; i < 2; i++)
            CHECK(cio_group_spawn(g, td_worker, &s, NULL) != NULL);
        CHECK_EQ(cio_queue_join(s.q), 0);
        CHECK_EQ(s.accumulator, 4950);
        /* close running workers */
        s.running = false;
        for (int i = 0; i < 2; i++)
            CHECK_EQ(cio_queue_put_nowait(s.q, I(0)), 0);
        CHECK_EQ(cio_group_wait(g), 0);
        cio_group_free(g);
        cio_queue_free(s.q);
    }
    return NULL;
}

CONF_TASK(test_join_empty_queue)
{
    for (int k = 0; k < NKINDS; k++) {
        cio_queue *q = make_q(k, 0);
        CHECK_EQ(cio_queue_join(q), 0);
        CHECK_EQ(cio_queue_join(q), 0);
        cio_queue_free(q);
    }
    return NULL;
}

/* ---- _QueueShutdownTestMixin (3.13) -------------------------------------- */

static void *join_task(void *q)
{
    int rc = cio_queue_join(q);
    return rc ? cio_fail(rc, NULL) : NULL;
}

/* put, put_nowait, get, get_nowait all raise QueueShutDown */
static void check_all_shut(cio_queue *q)
{
    void *v;
    CHECK_EQ(cio_queue_put(q, I(7)), CIO_EQUEUESHUTDOWN);
    CHECK_EQ(cio_queue_put_nowait(q, I(7)), CIO_EQUEUESHUTDOWN);
    CHECK_EQ(cio_queue_get(q, &v), CIO_EQUEUESHUTDOWN);
    CHECK_EQ(cio_queue_get_nowait(q, &v), CIO_EQUEUESHUTDOWN);
}

CONF_TASK(test_shutdown_empty)
{
    for (int k = 0; k < NKINDS; k++) {
        cio_queue *q = make_q(k, 0);
        cio_task *get_t = spawn(get_task, q);
        cio_yield(); /* get task pending before shutdown */
        cio_queue_shutdown(q, false, NULL);
        CHECK_EQ(cio_queue_qsize(q), 0);
        CHECK_EQ(cio_queue_join(q), 0);
        cio_yield();
        CHECK(cio_done(get_t));
        CHECK_EQ(await_release(get_t, NULL), CIO_EQUEUESHUTDOWN);
        check_all_shut(q);
        cio_queue_free(q);
    }
    return NULL;
}

CONF_TASK(test_shutdown_nonempty)
{
    for (int k = 0; k < NKINDS; k++) {
        cio_queue *q = make_q(k, 1);
        CHECK_EQ(cio_queue_put_nowait(q, I(1)), 0);
        cio_task *jt = spawn(join_task, q);
        putarg pa = {q, I(2)};
        cio_task *pt = spawn(put_task, &pa);
        cio_yield();
        CHECK(!cio_done(pt));
        cio_queue_shutdown(q, false, NULL);
        CHECK_EQ(cio_queue_qsize(q), 1);
        cio_yield();
        CHECK(cio_done(pt));
        CHECK_EQ(await_release(pt, NULL), CIO_EQUEUESHUTDOWN);
        CHECK_EQ(get(q), 1); /* the enqueued item is still there */
        cio_yield();
        CHECK(!cio_done(jt));
        check_all_shut(q);
        CHECK_EQ(cio_queue_task_done(q), 0); /* one unfinished task */
        cio_yield();
        CHECK(cio_done(jt));
        CHECK_EQ(await_release(jt, NULL), 0);
        CHECK_EQ(cio_queue_task_done(q), CIO_ETASKDONE);
        cio_queue_free(q);
    }
    return NULL;
}

CONF_TASK(test_shutdown_immediate)
{
    for (int k = 0; k < NKINDS; k++) {
        cio_queue *q = make_q(k, 0);
        CHECK_EQ(cio_queue_put_nowait(q, I(1)), 0);
        cio_task *jt = spawn(join_task, q);
        cio_queue_shutdown(q, true, NULL); /* unfinished tasks: 1 -> 0 */
        CHECK_EQ(cio_queue_qsize(q), 0);
        cio_yield();
        CHECK(cio_done(jt));
        CHECK_EQ(await_release(jt, NULL), 0);
        check_all_shut(q);
        CHECK_EQ(cio_queue_task_done(q), CIO_ETASKDONE);
        cio_queue_free(q);
    }
    return NULL;
}

CONF_TASK(test_shutdown_immediate_with_unfinished)
{
    for (int k = 0; k < NKINDS; k++) {
        cio_queue *q = make_q(k, 0);
        CHECK_EQ(cio_queue_put_nowait(q, I(1)), 0);
        CHECK_EQ(cio_queue_put_nowait(q, I(1)), 0);
        cio_task *jt = spawn(join_task, q);
        CHECK_EQ(get(q), 1);
        cio_queue_shutdown(q, true, NULL); /* unfinished tasks: 2 -> 1 */
        CHECK_EQ(cio_queue_qsize(q), 0);
        cio_yield();
        CHECK(!cio_done(jt));
        check_all_shut(q);
        CHECK_EQ(cio_queue_task_done(q), 0);
        CHECK_EQ(cio_queue_task_done(q), CIO_ETASKDONE);
        cio_yield();
        CHECK(cio_done(jt));
        CHECK_EQ(await_release(jt, NULL), 0);
        cio_queue_free(q);
    }
    return NULL;
}

CONF_MAIN()
