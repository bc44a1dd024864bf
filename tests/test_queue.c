/* SPDX-License-Identifier: MIT */
/* Queues (src/sync/queue.c): FIFO, LIFO and priority order, maxsize,
 * put/get suspending and their _nowait forms, task_done/join, shutdown
 * (normal and immediate, Python 3.13), cancellation (waiters in the middle,
 * the wake-up/cancel race of issue 10 §2a, deadlines), and a producer/consumer stress with
 * random cancellations in which every item must arrive exactly once or go
 * back to its producer.
 *
 *   test_queue [seed]   (the stress is deterministic for a seed) */
#include "check.h"
#include "lib/tasks.h"

#include <stdint.h>

#define P(x) ((void *)(uintptr_t)(x))
#define U(p) ((uintptr_t)(p))

typedef struct qw {
    int id;
    cio_queue *q;
    void *item; /* put: what to put; get: what was got */
    int rc;
    int rc2; /* the next suspension after a successful call (hold) */
    int step;
    bool hold; /* after success, cio_sleep(10) (cancel it to finish) */
} qw;

static void *getter(void *arg)
{
    qw *w = arg;
    w->rc = cio_queue_get(w->q, &w->item);
    w->step = 1;
    if (w->rc == 0) {
        order_push(w->id * 1000 + (int)U(w->item));
        if (w->hold)
            w->rc2 = cio_sleep(10);
    }
    return NULL;
}

static void *putter(void *arg)
{
    qw *w = arg;
    w->rc = cio_queue_put(w->q, w->item);
    w->step = 1;
    if (w->rc == 0) {
        order_push(w->id);
        if (w->hold)
            w->rc2 = cio_sleep(10);
    }
    return NULL;
}

static void *joiner(void *arg)
{
    qw *w = arg;
    w->rc = cio_queue_join(w->q);
    w->step = 1;
    return NULL;
}

/* ---- order -------------------------------------------------------------- */

typedef struct prio_item {
    int prio;
    int id;
} prio_item;

static int cmp_prio(const void *a, const void *b)
{
    const prio_item *x = a, *y = b;
    return (x->prio > y->prio) - (x->prio < y->prio);
}

/* Items compared as integers. */
static int cmp_u(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    return (x > y) - (x < y);
}

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void *queue_order(void *arg)
{
    (void)arg;
    void *v;
    /* FIFO, across ring wrap-around and growth */
    cio_queue *q = cio_queue_new(0);
    CHECK(q != NULL);
    CHECK_EQ(cio_queue_maxsize(q), 0);
    uintptr_t next_in = 1, next_out = 1;
    for (int round = 0; round < 6; round++) {
        for (int i = 0; i < 11 + round * 7; i++)
            CHECK_EQ(cio_queue_put(q, P(next_in++)), 0);
        for (int i = 0; i < 9 + round * 3; i++) {
            CHECK_EQ(cio_queue_get(q, &v), 0);
            CHECK_EQ(U(v), next_out++);
        }
    }
    CHECK_EQ(cio_queue_qsize(q), next_in - next_out);
    while (!cio_queue_empty(q)) {
        CHECK_EQ(cio_queue_get_nowait(q, &v), 0);
        CHECK_EQ(U(v), next_out++);
    }
    CHECK_EQ(next_out, next_in);
    CHECK(!cio_queue_full(q)); /* unbounded: never full */
    cio_queue_free(q);

    /* LIFO */
    q = cio_queue_new_lifo(0);
    for (int i = 1; i <= 40; i++)
        CHECK_EQ(cio_queue_put_nowait(q, P(i)), 0);
    for (int i = 40; i >= 21; i--) {
        CHECK_EQ(cio_queue_get(q, &v), 0);
        CHECK_EQ(U(v), i);
    }
    CHECK_EQ(cio_queue_put(q, P(99)), 0);
    CHECK_EQ(cio_queue_get(q, &v), 0);
    CHECK_EQ(U(v), 99);
    for (int i = 20; i >= 1; i--) {
        CHECK_EQ(cio_queue_get_nowait(q, &v), 0);
        CHECK_EQ(U(v), i);
    }
    CHECK_EQ(cio_queue_get_nowait(q, &v), CIO_EQUEUEEMPTY);
    cio_queue_free(q);

    /* priority: a user compare function, ties leave in insertion order */
    errno = 0;
    CHECK(cio_queue_new_priority(0, NULL) == NULL);
    CHECK_EQ(errno, EINVAL);
    enum { N = 300 };
    static prio_item items[N];
    q = cio_queue_new_priority(0, cmp_prio);
    int got = 0;
    prio_item *last = NULL;
    for (int i = 0; i < N; i++) {
        items[i] = (prio_item){(int)(rnd() % 10), i};
        CHECK_EQ(cio_queue_put(q, &items[i]), 0);
        if (i % 7 == 6) { /* interleave a few gets */
            CHECK_EQ(cio_queue_get(q, &v), 0);
            got++;
        }
    }
    while (cio_queue_qsize(q)) {
        CHECK_EQ(cio_queue_get(q, &v), 0);
        prio_item *it = v;
        if (last) {
            CHECK(last->prio <= it->prio);
            if (last->prio == it->prio)
                CHECK(last->id < it->id);
        }
        last = it;
        got++;
    }
    CHECK_EQ(got, N);
    cio_queue_free(q);

    /* the classic (priority, data) example, all ties */
    q = cio_queue_new_priority(0, cmp_prio);
    prio_item t[6] = {{3, 0}, {1, 1}, {3, 2}, {1, 3}, {2, 4}, {1, 5}};
    for (int i = 0; i < 6; i++)
        CHECK_EQ(cio_queue_put_nowait(q, &t[i]), 0);
    const int want[6] = {1, 3, 5, 4, 0, 2};
    for (int i = 0; i < 6; i++) {
        CHECK_EQ(cio_queue_get_nowait(q, &v), 0);
        CHECK_EQ(((prio_item *)v)->id, want[i]);
    }
    cio_queue_free(q);
    return NULL;
}

/* ---- nowait, sizes ------------------------------------------------------ */

static void *queue_nowait(void *arg)
{
    (void)arg;
    cio_queue *q = cio_queue_new(2);
    void *v = P(1);
    CHECK_EQ(cio_queue_maxsize(q), 2);
    CHECK(cio_queue_empty(q));
    CHECK(!cio_queue_full(q));
    CHECK_EQ(cio_queue_get_nowait(q, &v), CIO_EQUEUEEMPTY);
    CHECK(v == NULL);
    CHECK_EQ(cio_queue_put_nowait(q, P(10)), 0);
    CHECK_EQ(cio_queue_put_nowait(q, P(20)), 0);
    CHECK(cio_queue_full(q));
    CHECK_EQ(cio_queue_qsize(q), 2);
    CHECK_EQ(cio_queue_unfinished(q), 2);
    CHECK_EQ(cio_queue_put_nowait(q, P(30)), CIO_EQUEUEFULL);
    CHECK_EQ(cio_queue_qsize(q), 2);
    CHECK_EQ(cio_queue_get_nowait(q, &v), 0);
    CHECK_EQ(U(v), 10);
    CHECK(!cio_queue_full(q));
    CHECK_EQ(cio_queue_put_nowait(q, P(30)), 0);
    CHECK_EQ(cio_queue_get_nowait(q, &v), 0);
    CHECK_EQ(U(v), 20);
    CHECK_EQ(cio_queue_get_nowait(q, &v), 0);
    CHECK_EQ(U(v), 30);
    CHECK_EQ(cio_queue_get_nowait(q, &v), CIO_EQUEUEEMPTY);
    CHECK(cio_queue_empty(q));
    CHECK_EQ(cio_queue_unfinished(q), 3);

    /* put/get that need not suspend ignore a pending cancellation */
    cio_cancel(cio_current_task(), NULL);
    CHECK_EQ(cio_queue_put(q, P(1)), 0);
    CHECK_EQ(cio_queue_get(q, &v), 0);
    /* ...a get that would suspend delivers it */
    CHECK_EQ(cio_queue_get(q, &v), -ECANCELED);
    CHECK(v == NULL);
    cio_task_uncancel(cio_current_task());
    CHECK_EQ(cio_queue_put(q, P(1)), 0);
    CHECK_EQ(cio_queue_put(q, P(2)), 0);
    cio_cancel(cio_current_task(), NULL);
    CHECK_EQ(cio_queue_put(q, P(3)), -ECANCELED); /* full: not added */
    cio_task_uncancel(cio_current_task());
    CHECK_EQ(cio_queue_qsize(q), 2);
    cio_queue_free(q);
    return NULL;
}

/* ---- blocking put/get, FIFO of waiters ---------------------------------- */

static void *queue_getters_fifo(void *arg)
{
    (void)arg;
    order_reset();
    cio_queue *q = cio_queue_new(0);
    qw w[5];
    cio_task *t[5];
    for (int i = 0; i < 5; i++) {
        w[i] = (qw){.id = i, .q = q};
        t[i] = spawn(getter, &w[i]);
    }
    settle();
    CHECK_EQ(norder, 0);
    CHECK(cio_cancel(t[1], NULL)); /* in the middle: skipped */
    CHECK(cio_cancel(t[3], NULL));
    settle();
    CHECK_EQ(w[1].rc, -ECANCELED);
    CHECK(w[1].item == NULL);
    CHECK_EQ(cio_queue_getters(q), 3);
    /* each put stores its item and wakes the next getter, which takes an
     * item when it runs (asyncio) */
    CHECK_EQ(cio_queue_put(q, P(1)), 0);
    CHECK_EQ(cio_queue_put_nowait(q, P(2)), 0);
    CHECK_EQ(cio_queue_put(q, P(3)), 0);
    CHECK_EQ(cio_queue_put(q, P(4)), 0); /* nobody left waiting */
    CHECK_EQ(cio_queue_getters(q), 0);
    CHECK_EQ(cio_queue_qsize(q), 4);
    settle();
    CHECK_EQ(cio_queue_qsize(q), 1);
    CHECK_ORDER(1, 2002, 4003);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(finish(t[i]), (i == 1 || i == 3) ? -ECANCELED : 0);
    CHECK_EQ(cio_queue_unfinished(q), 4);
    cio_queue_free(q);
    return NULL;
}

static void *queue_putters_fifo(void *arg)
{
    (void)arg;
    order_reset();
    void *v;
    cio_queue *q = cio_queue_new(1);
    CHECK_EQ(cio_queue_put(q, P(100)), 0);
    qw w[5];
    cio_task *t[5];
    for (int i = 0; i < 5; i++) {
        w[i] = (qw){.id = i, .q = q, .item = P(101 + i)};
        t[i] = spawn(putter, &w[i]);
    }
    settle();
    CHECK_EQ(norder, 0); /* all blocked: full */
    CHECK_EQ(cio_queue_qsize(q), 1);
    CHECK(cio_cancel(t[2], NULL));
    settle();
    CHECK_EQ(w[2].rc, -ECANCELED); /* not added; the item is still its own */
    const int want[5] = {100, 101, 102, 104, 105};
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(cio_queue_get(q, &v), 0);
        CHECK_EQ(U(v), want[i]);
        /* the woken putter adds its item when it runs (asyncio) */
        CHECK_EQ(cio_queue_qsize(q), 0);
    }
    CHECK_EQ(cio_queue_putters(q), 0);
    settle();
    CHECK_ORDER(0, 1, 3, 4);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(finish(t[i]), i == 2 ? -ECANCELED : 0);
    CHECK_EQ(cio_queue_unfinished(q), 5);

    /* a blocked put is released by get_nowait too, and by a LIFO queue */
    cio_queue_free(q);
    q = cio_queue_new_lifo(2);
    CHECK_EQ(cio_queue_put(q, P(1)), 0);
    CHECK_EQ(cio_queue_put(q, P(2)), 0);
    qw a = {.id = 7, .q = q, .item = P(3)};
    cio_task *ta = spawn(putter, &a);
    settle();
    CHECK_EQ(a.step, 0);
    CHECK_EQ(cio_queue_get_nowait(q, &v), 0);
    CHECK_EQ(U(v), 2);
    CHECK_EQ(finish(ta), 0);
    CHECK_EQ(cio_queue_get_nowait(q, &v), 0);
    CHECK_EQ(U(v), 3);
    CHECK_EQ(cio_queue_get_nowait(q, &v), 0);
    CHECK_EQ(U(v), 1);
    cio_queue_free(q);

    /* and a priority queue: the woken putter's item takes its place by
     * priority */
    prio_item it[4] = {{5, 0}, {1, 1}, {3, 2}, {0, 3}};
    q = cio_queue_new_priority(2, cmp_prio);
    CHECK_EQ(cio_queue_put(q, &it[0]), 0);
    CHECK_EQ(cio_queue_put(q, &it[1]), 0);
    qw b = {.id = 8, .q = q, .item = &it[2]}, c = {.id = 9, .q = q, .item = &it[3]};
    cio_task *tb = spawn(putter, &b), *tc = spawn(putter, &c);
    settle();
    CHECK_EQ(cio_queue_get(q, &v), 0);
    CHECK_EQ(((prio_item *)v)->id, 1);
    settle(); /* b's item goes in */
    CHECK_EQ(cio_queue_get(q, &v), 0);
    CHECK_EQ(((prio_item *)v)->id, 2);
    settle(); /* c's item goes in */
    CHECK_EQ(cio_queue_get(q, &v), 0);
    CHECK_EQ(((prio_item *)v)->id, 3);
    CHECK_EQ(cio_queue_get(q, &v), 0);
    CHECK_EQ(((prio_item *)v)->id, 0);
    CHECK_EQ(finish(tb), 0);
    CHECK_EQ(finish(tc), 0);
    cio_queue_free(q);
    return NULL;
}

/* ---- the wake-up/cancel races (issue 10 §2a) ---------------------------- */

/* The getter woken by a put is cancelled before it runs: the cancellation
 * wins, the item stays in the queue and the wake-up goes to the next
 * getter (it used to be handed to the cancelled getter and lost). */
static void *queue_get_cancel_at_wakeup(void *arg)
{
    (void)arg;
    order_reset();
    for (int kind = 0; kind < 3; kind++) {
        cio_queue *q = kind == 0 ? cio_queue_new(0) : kind == 1 ? cio_queue_new_lifo(0) : cio_queue_new_priority(0, cmp_u);
        qw a = {.id = 1, .q = q, .hold = true}, b = {.id = 2, .q = q, .hold = true};
        cio_task *ta = spawn(getter, &a), *tb = spawn(getter, &b);
        settle();
        CHECK_EQ(cio_queue_put_nowait(q, P(7)), 0); /* wakes a */
        CHECK(cio_cancel(ta, NULL));                /* before a runs */
        CHECK_EQ(a.step, 0);
        CHECK_EQ(cio_queue_qsize(q), 1);
        CHECK_EQ(finish(ta), -ECANCELED);
        CHECK_EQ(a.rc, -ECANCELED); /* the cancellation wins */
        CHECK(a.item == NULL);
        settle();
        CHECK_EQ(b.step, 1); /* b got the item a could not take */
        CHECK_EQ(b.rc, 0);
        CHECK_EQ(U(b.item), 7);
        CHECK_EQ(cio_queue_qsize(q), 0);
        cio_cancel(tb, NULL);
        CHECK_EQ(finish(tb), -ECANCELED);
        CHECK_EQ(cio_queue_unfinished(q), 1);
        cio_queue_free(q);
    }
    CHECK_ORDER(2007, 2007, 2007);
    return NULL;
}

/* The putter woken by a get is cancelled before it runs: its put fails
 * with -ECANCELED and adds nothing (it used to add the item and report
 * -ECANCELED, so a retried put blocked on a queue full of its own item);
 * the free slot goes to the next putter. */
static void *queue_put_cancel_at_wakeup(void *arg)
{
    (void)arg;
    order_reset();
    void *v;
    cio_queue *q = cio_queue_new(1);
    CHECK_EQ(cio_queue_put(q, P(1)), 0);
    qw a = {.id = 1, .q = q, .item = P(2), .hold = true}, b = {.id = 2, .q = q, .item = P(3), .hold = true};
    cio_task *ta = spawn(putter, &a), *tb = spawn(putter, &b);
    settle();
    CHECK_EQ(cio_queue_get(q, &v), 0); /* wakes a */
    CHECK_EQ(U(v), 1);
    CHECK(cio_cancel(ta, NULL)); /* before a runs */
    CHECK_EQ(finish(ta), -ECANCELED);
    CHECK_EQ(a.rc, -ECANCELED); /* its item was not added */
    settle();
    CHECK_EQ(b.rc, 0); /* b got the slot */
    CHECK_EQ(cio_queue_qsize(q), 1);
    CHECK_EQ(cio_queue_get(q, &v), 0);
    CHECK_EQ(U(v), 3);
    CHECK(cio_queue_empty(q));
    /* a retried put of a's item goes in at once */
    CHECK_EQ(cio_queue_put(q, P(2)), 0);
    CHECK_EQ(cio_queue_get_nowait(q, &v), 0);
    CHECK_EQ(U(v), 2);
    cio_cancel(tb, NULL);
    CHECK_EQ(finish(tb), -ECANCELED);
    CHECK_ORDER(2);
    cio_queue_free(q);
    return NULL;
}

/* ---- task_done / join --------------------------------------------------- */

static void *queue_join(void *arg)
{
    (void)arg;
    void *v;
    cio_queue *q = cio_queue_new(0);
    CHECK_EQ(cio_queue_task_done(q), CIO_ETASKDONE);
    CHECK_EQ(cio_queue_join(q), 0); /* nothing unfinished */
    for (int i = 0; i < 3; i++)
        CHECK_EQ(cio_queue_put(q, P(i + 1)), 0);
    qw j1 = {.q = q}, j2 = {.q = q};
    cio_task *t1 = spawn(joiner, &j1), *t2 = spawn(joiner, &j2);
    settle();
    CHECK_EQ(j1.step, 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(cio_queue_get(q, &v), 0);
    settle();
    CHECK_EQ(j1.step, 0); /* got, but not done */
    CHECK_EQ(cio_queue_unfinished(q), 3);
    CHECK_EQ(cio_queue_task_done(q), 0);
    CHECK_EQ(cio_queue_task_done(q), 0);
    settle();
    CHECK_EQ(j1.step, 0);
    CHECK_EQ(cio_queue_unfinished(q), 1);
    CHECK_EQ(cio_queue_task_done(q), 0);
    CHECK_EQ(cio_queue_unfinished(q), 0);
    CHECK_EQ(finish(t1), 0);
    CHECK_EQ(finish(t2), 0);
    CHECK_EQ(j1.rc, 0);
    CHECK_EQ(j2.rc, 0);
    CHECK_EQ(cio_queue_task_done(q), CIO_ETASKDONE); /* one too many */
    CHECK_EQ(cio_queue_unfinished(q), 0);

    /* items handed straight to a waiting getter count too */
    qw g = {.id = 1, .q = q};
    cio_task *tg = spawn(getter, &g);
    settle();
    CHECK_EQ(cio_queue_put(q, P(5)), 0);
    CHECK_EQ(cio_queue_unfinished(q), 1);
    CHECK_EQ(finish(tg), 0);
    qw j3 = {.q = q};
    cio_task *t3 = spawn(joiner, &j3);
    settle();
    CHECK_EQ(j3.step, 0);
    /* a cancelled joiner leaves; join is deadline-aware */
    cio_timeout s;
    cio_timeout_enter(&s, 0.01);
    int rc = cio_queue_join(q);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
    cio_cancel(t3, NULL);
    CHECK_EQ(finish(t3), -ECANCELED);
    CHECK_EQ(j3.rc, -ECANCELED);
    CHECK_EQ(cio_queue_task_done(q), 0);
    CHECK_EQ(cio_queue_join(q), 0);
    cio_queue_free(q);
    return NULL;
}

/* ---- deadlines ---------------------------------------------------------- */

static void *queue_timeout(void *arg)
{
    (void)arg;
    void *v = P(1);
    cio_queue *q = cio_queue_new(1);
    cio_timeout s;
    cio_timeout_enter(&s, 0.01);
    int rc = cio_queue_get(q, &v);
    CHECK_EQ(rc, -ECANCELED);
    CHECK(v == NULL);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
    /* no getter left behind: the next put is stored */
    CHECK_EQ(cio_queue_put_nowait(q, P(1)), 0);
    CHECK_EQ(cio_queue_qsize(q), 1);

    /* put on a full queue */
    cio_timeout_enter(&s, 0.01);
    rc = cio_queue_put(q, P(2));
    CHECK_EQ(rc, -ECANCELED);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
    CHECK_EQ(cio_queue_qsize(q), 1);
    /* no putter left behind: a get does not pull item 2 in */
    CHECK_EQ(cio_queue_get(q, &v), 0);
    CHECK_EQ(U(v), 1);
    CHECK(cio_queue_empty(q));
    CHECK_EQ(cio_queue_unfinished(q), 1);

    /* satisfied in time: the scope passes 0 through */
    qw p = {.id = 1, .q = q, .item = P(3)};
    cio_timeout_enter(&s, 1.0);
    cio_task *tp = spawn(putter, &p);
    rc = cio_queue_get(q, &v);
    CHECK_EQ(cio_timeout_exit(&s, rc), 0);
    CHECK_EQ(U(v), 3);
    CHECK_EQ(finish(tp), 0);
    cio_queue_free(q);
    return NULL;
}

/* ---- shutdown ----------------------------------------------------------- */

static void *queue_shutdown_getters(void *arg)
{
    (void)arg;
    cio_queue *q = cio_queue_new(0);
    qw w[3];
    cio_task *t[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (qw){.id = i, .q = q};
        t[i] = spawn(getter, &w[i]);
    }
    /* and a getter that was handed an item just before the shutdown */
    qw h = {.id = 9, .q = q};
    cio_task *th = spawn(getter, &h);
    settle();
    CHECK(!cio_queue_is_shutdown(q));
    CHECK_EQ(cio_queue_put(q, P(1)), 0); /* to w[0] */
    cio_queue_shutdown(q, false, NULL);
    CHECK(cio_queue_is_shutdown(q));
    for (int i = 0; i < 3; i++)
        CHECK_EQ(finish(t[i]), 0);
    CHECK_EQ(finish(th), 0);
    CHECK_EQ(w[0].rc, 0);
    CHECK_EQ(U(w[0].item), 1);
    CHECK_EQ(w[1].rc, CIO_EQUEUESHUTDOWN);
    CHECK_EQ(w[2].rc, CIO_EQUEUESHUTDOWN);
    CHECK_EQ(h.rc, CIO_EQUEUESHUTDOWN);
    CHECK(w[1].item == NULL);
    CHECK_EQ(cio_queue_put(q, P(2)), CIO_EQUEUESHUTDOWN);
    CHECK_EQ(cio_queue_put_nowait(q, P(2)), CIO_EQUEUESHUTDOWN);
    void *v;
    CHECK_EQ(cio_queue_get(q, &v), CIO_EQUEUESHUTDOWN);
    CHECK_EQ(cio_queue_get_nowait(q, &v), CIO_EQUEUESHUTDOWN);
    cio_queue_shutdown(q, false, NULL); /* twice: harmless */
    cio_queue_shutdown(q, true, NULL);
    CHECK_EQ(cio_queue_task_done(q), 0);
    CHECK_EQ(cio_queue_join(q), 0);
    cio_queue_free(q);
    return NULL;
}

static void *queue_shutdown_putters(void *arg)
{
    (void)arg;
    order_reset();
    void *v;
    cio_queue *q = cio_queue_new(2);
    CHECK_EQ(cio_queue_put(q, P(1)), 0);
    CHECK_EQ(cio_queue_put(q, P(2)), 0);
    qw w[3];
    cio_task *t[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (qw){.id = i, .q = q, .item = P(10 + i)};
        t[i] = spawn(putter, &w[i]);
    }
    qw j = {.q = q};
    cio_task *tj = spawn(joiner, &j);
    settle();
    cio_queue_shutdown(q, false, NULL);
    /* putters released, their items not enqueued */
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(finish(t[i]), 0);
        CHECK_EQ(w[i].rc, CIO_EQUEUESHUTDOWN);
    }
    CHECK_EQ(norder, 0);
    CHECK_EQ(cio_queue_qsize(q), 2);
    settle();
    CHECK_EQ(j.step, 0); /* normal shutdown does not release join */
    /* gets drain what is left, then fail */
    CHECK_EQ(cio_queue_get(q, &v), 0);
    CHECK_EQ(U(v), 1);
    CHECK_EQ(cio_queue_get_nowait(q, &v), 0);
    CHECK_EQ(U(v), 2);
    CHECK_EQ(cio_queue_get(q, &v), CIO_EQUEUESHUTDOWN);
    CHECK_EQ(cio_queue_get_nowait(q, &v), CIO_EQUEUESHUTDOWN);
    CHECK_EQ(cio_queue_task_done(q), 0);
    CHECK_EQ(cio_queue_task_done(q), 0);
    CHECK_EQ(finish(tj), 0);
    CHECK_EQ(j.rc, 0);
    cio_queue_free(q);
    return NULL;
}

static int dropped[16];
static int ndropped;
static void drop(void *item)
{
    if (ndropped < 16)
        dropped[ndropped++] = (int)U(item);
}

static void *queue_shutdown_immediate(void *arg)
{
    (void)arg;
    order_reset();
    ndropped = 0;
    void *v;
    cio_queue *q = cio_queue_new(3);
    for (int i = 1; i <= 3; i++)
        CHECK_EQ(cio_queue_put(q, P(i)), 0);
    qw p[2] = {{.id = 1, .q = q, .item = P(10)}, {.id = 2, .q = q, .item = P(11)}};
    cio_task *tp0 = spawn(putter, &p[0]), *tp1 = spawn(putter, &p[1]);
    qw j[2] = {{.q = q}, {.q = q}};
    cio_task *tj0 = spawn(joiner, &j[0]), *tj1 = spawn(joiner, &j[1]);
    settle();
    cio_queue_shutdown(q, true, drop);
    /* every item dropped, in queue order, none of the putters' */
    CHECK_EQ(ndropped, 3);
    CHECK_EQ(dropped[0], 1);
    CHECK_EQ(dropped[1], 2);
    CHECK_EQ(dropped[2], 3);
    CHECK(cio_queue_empty(q));
    CHECK_EQ(cio_queue_unfinished(q), 0);
    CHECK_EQ(finish(tp0), 0);
    CHECK_EQ(finish(tp1), 0);
    CHECK_EQ(p[0].rc, CIO_EQUEUESHUTDOWN);
    CHECK_EQ(p[1].rc, CIO_EQUEUESHUTDOWN);
    CHECK_EQ(finish(tj0), 0);
    CHECK_EQ(finish(tj1), 0);
    CHECK_EQ(j[0].rc, 0); /* join released */
    CHECK_EQ(j[1].rc, 0);
    CHECK_EQ(cio_queue_get(q, &v), CIO_EQUEUESHUTDOWN);
    CHECK_EQ(cio_queue_task_done(q), CIO_ETASKDONE);
    cio_queue_free(q);

    /* an item got but not yet done keeps join waiting; a putter woken by
     * the get that has not run yet finds the queue shut down: its put
     * fails and the item stays its own (asyncio 3.13) */
    ndropped = 0;
    q = cio_queue_new(1);
    CHECK_EQ(cio_queue_put(q, P(1)), 0);
    qw a = {.id = 3, .q = q, .item = P(2)};
    cio_task *ta = spawn(putter, &a);
    settle();
    CHECK_EQ(cio_queue_get(q, &v), 0); /* 1 is ours now; a is woken */
    CHECK_EQ(U(v), 1);
    qw jj = {.q = q};
    cio_task *tjj = spawn(joiner, &jj);
    cio_queue_shutdown(q, true, NULL); /* drop NULL: just emptied */
    CHECK(cio_queue_empty(q));
    CHECK_EQ(cio_queue_unfinished(q), 1);
    CHECK_EQ(finish(ta), 0);
    CHECK_EQ(a.rc, CIO_EQUEUESHUTDOWN);
    CHECK_EQ(cio_queue_unfinished(q), 1);
    settle();
    CHECK_EQ(jj.step, 0);
    CHECK_EQ(cio_queue_task_done(q), 0);
    CHECK_EQ(finish(tjj), 0);
    CHECK_EQ(jj.rc, 0);
    cio_queue_free(q);
    return NULL;
}

/* ---- stress ------------------------------------------------------------- */

enum { NPROD = 10, NCONS = 10, NITEMS = 300, NTASKS = NPROD + NCONS };

typedef struct stress {
    cio_queue *q;
    cio_task *tasks[NTASKS];
    bool in_wait[NTASKS]; /* inside put/get right now */
    bool started[NTASKS]; /* a task cancelled before its first step never runs */
    uint8_t received[NPROD][NITEMS];
    uint8_t returned[NPROD][NITEMS];
    int delivered_cancels;
    int wake_races; /* cancels that hit a task woken in put/get, not yet run */
    int cancels;
    uint64_t rng;
} stress;

static stress *S;

static uint64_t srnd(void)
{
    uint64_t z = (S->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void uncancel_all(void)
{
    cio_task *self = cio_current_task();
    while (cio_task_cancelling(self) > 0)
        cio_task_uncancel(self);
}

/* Cancels a random task now and then (right after a hand-over is the
 * interesting moment: the task just woken has not run yet). */
static void maybe_cancel(void)
{
    if (srnd() % 4)
        return;
    int k = (int)(srnd() % NTASKS);
    cio_task *t = S->tasks[k];
    if (!t || !S->started[k] || cio_done(t) || t == cio_current_task())
        return;
    if (S->in_wait[k] && cio_task_state(t) == CIO_TASK_SCHEDULED)
        S->wake_races++;
    if (cio_cancel(t, NULL))
        S->cancels++;
}

static void jitter(void)
{
    int r = (int)(srnd() % 8);
    int rc = r < 5 ? cio_yield() : r < 7 ? 0 : cio_sleep(0.0002);
    if (rc == -ECANCELED) {
        S->delivered_cancels++;
        uncancel_all();
    }
}

static void *stress_producer(void *arg)
{
    int p = (int)(intptr_t)arg;
    S->started[p] = true;
    for (int i = 0; i < NITEMS; i++) {
        void *item = P((uintptr_t)p * NITEMS + (uintptr_t)i + 1);
        S->in_wait[p] = true;
        int rc = cio_queue_put(S->q, item);
        S->in_wait[p] = false;
        if (rc == -ECANCELED) {
            S->returned[p][i]++; /* still ours */
            S->delivered_cancels++;
            uncancel_all();
        } else {
            CHECK_EQ(rc, 0);
        }
        maybe_cancel();
        jitter();
    }
    uncancel_all();
    return NULL;
}

static void *stress_consumer(void *arg)
{
    int c = (int)(intptr_t)arg;
    S->started[NPROD + c] = true;
    for (;;) {
        void *item;
        S->in_wait[NPROD + c] = true;
        int rc = cio_queue_get(S->q, &item);
        S->in_wait[NPROD + c] = false;
        if (rc == CIO_EQUEUESHUTDOWN)
            break;
        if (rc == -ECANCELED) {
            CHECK(item == NULL);
            S->delivered_cancels++;
            uncancel_all();
            continue;
        }
        CHECK_EQ(rc, 0);
        uintptr_t v = U(item) - 1;
        CHECK(v < (uintptr_t)NPROD * NITEMS);
        if (v < (uintptr_t)NPROD * NITEMS)
            S->received[v / NITEMS][v % NITEMS]++;
        CHECK_EQ(cio_queue_task_done(S->q), 0);
        maybe_cancel();
        jitter();
    }
    uncancel_all();
    return NULL;
}

static uint64_t stress_seed = 1;

static void *queue_stress(void *arg)
{
    (void)arg;
    S = calloc(1, sizeof *S);
    S->rng = stress_seed;
    S->q = cio_queue_new(3);
    for (int i = 0; i < NPROD; i++)
        S->tasks[i] = spawn(stress_producer, (void *)(intptr_t)i);
    for (int i = 0; i < NCONS; i++)
        S->tasks[NPROD + i] = spawn(stress_consumer, (void *)(intptr_t)i);
    for (int i = 0; i < NPROD; i++)
        while (!cio_done(S->tasks[i]))
            cio_sleep(0.001);
    cio_queue_shutdown(S->q, false, NULL);
    for (int i = 0; i < NTASKS; i++) {
        CHECK_EQ(finish(S->tasks[i]), 0);
        S->tasks[i] = NULL;
    }
    int got = 0, back = 0, bad = 0;
    for (int p = 0; p < NPROD; p++)
        for (int i = 0; i < NITEMS; i++) {
            got += S->received[p][i];
            back += S->returned[p][i];
            if (S->received[p][i] + S->returned[p][i] != 1) {
                if (bad++ < 5)
                    fprintf(stderr, "  item %d/%d: received %d times, returned %d times\n", p, i,
                            S->received[p][i], S->returned[p][i]);
            }
        }
    CHECK_EQ(bad, 0);
    CHECK_EQ(got + back, NPROD * NITEMS);
    CHECK(cio_queue_empty(S->q));
    CHECK_EQ(cio_queue_unfinished(S->q), 0);
    CHECK(back > 0);
    CHECK(S->wake_races > 0); /* the race was really exercised */
    fprintf(stderr, "  stress seed %llu: %d received, %d returned, %d cancels (%d delivered, %d at wake-up)\n",
            (unsigned long long)stress_seed, got, back, S->cancels, S->delivered_cancels, S->wake_races);
    cio_queue_free(S->q);
    free(S);
    S = NULL;
    return NULL;
}

static void outside_task(void)
{
    check_current = "outside_task";
    int fails = check_failures;
    void *v;
    cio_queue *q = cio_queue_new(1);
    CHECK_EQ(cio_queue_get(q, &v), CIO_ENOTASK);
    CHECK_EQ(cio_queue_put(q, P(1)), 0); /* no suspension needed */
    CHECK_EQ(cio_queue_put(q, P(2)), CIO_ENOTASK);
    CHECK_EQ(cio_queue_join(q), CIO_ENOTASK);
    CHECK_EQ(cio_queue_qsize(q), 1);
    cio_queue_free(q);
    fprintf(stderr, "%s outside_task\n", check_failures == fails ? "ok  " : "FAIL");
}

int main(int argc, char **argv)
{
    if (argc > 1)
        stress_seed = strtoull(argv[1], NULL, 0);
    RUN_TEST(outside_task);
    /* on the virtual clock: the timeouts race only with other tasks, so
     * their order is exact under any load */
    setenv("CIO_VIRTUAL_TIME", "1", 1);
    RUN_TASK_TEST(queue_order);
    RUN_TASK_TEST(queue_nowait);
    RUN_TASK_TEST(queue_getters_fifo);
    RUN_TASK_TEST(queue_putters_fifo);
    RUN_TASK_TEST(queue_get_cancel_at_wakeup);
    RUN_TASK_TEST(queue_put_cancel_at_wakeup);
    RUN_TASK_TEST(queue_join);
    RUN_TASK_TEST(queue_timeout);
    RUN_TASK_TEST(queue_shutdown_getters);
    RUN_TASK_TEST(queue_shutdown_putters);
    RUN_TASK_TEST(queue_shutdown_immediate);
    RUN_TASK_TEST(queue_stress);
    return check_exit();
}
