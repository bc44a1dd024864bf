/* SPDX-License-Identifier: MIT */
/* Generators (src/sync/gen.c): a producer task hands values one at a time
 * to a consumer.  Covered: values in order (one at a time and through
 * cio_gen_collect), a generator that yields nothing, early close (the
 * pending yield returns CIO_EGENCLOSED and the producer frees what it holds:
 * ASan's leak check sees it otherwise), cio_gen_free without close while the
 * producer is parked, a producer error reaching the consumer once and then
 * CIO_EDONE, the consumer cancelled while waiting (the producer is cancelled
 * too, the consumer ends cancelled), a value handed over and the consumer
 * cancelled before it runs (the cancellation wins, the value waits for the
 * next cio_gen_next), deadlines, misuse. */
#include "check.h"
#include "lib/tasks.h"

#include <stdint.h>

#define P(x) ((void *)(uintptr_t)(x))
#define U(p) ((uintptr_t)(p))

/* What the producer saw and did, for the checks. */
typedef struct prod {
    int count;        /* values to yield (-1: forever) */
    double delay;     /* sleep before each value */
    int slow_from;    /* from this value on, sleep 10 s instead (-1: never) */
    int fail_after;   /* fail with -EIO after this many values (-1: never) */
    int on_close;     /* what to return with when closed (0 or an error) */
    bool yield_again; /* after CIO_EGENCLOSED, try to yield once more */
    double cleanup_sleep; /* an asynchronous cleanup: sleeps this long */
    int cleanup_rc;
    int yielded;
    int last_rc;      /* what the yield or sleep that stopped it returned */
    int again_rc;
    bool cleaned;     /* its cleanup ran */
    bool started;
    cio_task *self;
    char name[32];
} prod;

static void *producer(cio_gen *g, void *arg)
{
    prod *p = arg;
    p->started = true;
    p->self = cio_current_task();
    snprintf(p->name, sizeof p->name, "%s", cio_task_name(p->self));
    char *buf = malloc(64); /* held across yields: leaks unless cleaned up */
    int rc = 0;
    for (int i = 0; p->count < 0 || i < p->count; i++) {
        if (p->fail_after >= 0 && i == p->fail_after) {
            free(buf);
            p->cleaned = true;
            return cio_fail(-EIO, "producer failed after %d", i);
        }
        double d = p->slow_from >= 0 && i >= p->slow_from ? 10 : p->delay;
        if (d > 0 && (rc = cio_sleep(d)) < 0)
            break;
        rc = cio_gen_yield(g, P(i));
        if (rc < 0)
            break;
        p->yielded++;
    }
    p->last_rc = rc;
    if (rc == CIO_EGENCLOSED && p->yield_again)
        p->again_rc = cio_gen_yield(g, P(1000));
    if (p->cleanup_sleep > 0)
        p->cleanup_rc = cio_sleep(p->cleanup_sleep);
    free(buf);
    p->cleaned = true;
    if (rc == CIO_EGENCLOSED && p->on_close)
        return cio_fail(p->on_close, "closing failed");
    return NULL;
}

static prod mkprod(int count, double delay)
{
    return (prod){.count = count, .delay = delay, .fail_after = -1, .slow_from = -1};
}

/* ---- values ------------------------------------------------------------- */

static void *gen_basic(void *arg)
{
    (void)arg;
    prod p = mkprod(10, 0.001);
    cio_gen *g = cio_gen_new(producer, &p, &(cio_task_opts){.name = "numbers"});
    CHECK(g != NULL);
    settle();
    CHECK(!p.started); /* started by the first request */
    void *v;
    for (int i = 0; i < 10; i++) {
        CHECK_EQ(cio_gen_next(g, &v), 0);
        CHECK_EQ(U(v), i);
        /* one at a time: the producer waits for the next request */
        CHECK_EQ(p.yielded, i);
        cio_sleep(0.003);
        CHECK_EQ(p.yielded, i);
    }
    v = P(1);
    CHECK_EQ(cio_gen_next(g, &v), CIO_EDONE);
    CHECK(v == NULL);
    CHECK_EQ(cio_gen_next(g, &v), CIO_EDONE);
    CHECK_EQ(cio_gen_next(g, &v), CIO_EDONE);
    CHECK(p.cleaned);
    CHECK_EQ(p.last_rc, 0);
    CHECK(strcmp(p.name, "numbers") == 0);
    CHECK_EQ(cio_gen_close(g), 0); /* already done */
    cio_gen_free(g);
    return NULL;
}

static void *gen_collect(void *arg)
{
    (void)arg;
    prod p = mkprod(10, 0.001);
    cio_gen *g = cio_gen_new(producer, &p, NULL);
    void **vals = P(1);
    size_t n = 99;
    CHECK_EQ(cio_gen_collect(g, &vals, &n), 0);
    CHECK_EQ(n, 10);
    CHECK(vals != NULL);
    for (size_t i = 0; i < n && vals; i++)
        CHECK_EQ(U(vals[i]), i);
    free(vals);
    CHECK(p.cleaned);
    /* collecting an exhausted generator: nothing */
    CHECK_EQ(cio_gen_collect(g, &vals, &n), 0);
    CHECK_EQ(n, 0);
    free(vals);
    cio_gen_free(g);

    /* more values than the first allocation holds, after a few next() */
    p = mkprod(100, 0);
    g = cio_gen_new(producer, &p, NULL);
    void *v;
    CHECK_EQ(cio_gen_next(g, &v), 0);
    CHECK_EQ(cio_gen_next(g, &v), 0);
    CHECK_EQ(cio_gen_collect(g, &vals, &n), 0);
    CHECK_EQ(n, 98);
    for (size_t i = 0; i < n && vals; i++)
        CHECK_EQ(U(vals[i]), i + 2);
    free(vals);
    cio_gen_free(g);
    return NULL;
}

static void *gen_empty(void *arg)
{
    (void)arg;
    prod p = mkprod(0, 0);
    cio_gen *g = cio_gen_new(producer, &p, NULL);
    void *v = P(1);
    CHECK_EQ(cio_gen_next(g, &v), CIO_EDONE);
    CHECK(v == NULL);
    CHECK(p.started && p.cleaned);
    CHECK_EQ(cio_gen_next(g, &v), CIO_EDONE);
    cio_gen_free(g);

    p = mkprod(0, 0.002);
    g = cio_gen_new(producer, &p, NULL);
    void **vals = P(1);
    size_t n = 5;
    CHECK_EQ(cio_gen_collect(g, &vals, &n), 0);
    CHECK_EQ(n, 0);
    CHECK(vals == NULL);
    cio_gen_free(g);
    return NULL;
}

/* ---- early exit --------------------------------------------------------- */

static void *gen_close_early(void *arg)
{
    (void)arg;
    void *v;
    prod p = mkprod(-1, 0.001);
    cio_gen *g = cio_gen_new(producer, &p, NULL);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(cio_gen_next(g, &v), 0);
        CHECK_EQ(U(v), i);
    }
    CHECK(!p.cleaned);
    CHECK_EQ(cio_gen_close(g), 0); /* waits until the producer returned */
    CHECK(p.cleaned);
    CHECK_EQ(p.last_rc, CIO_EGENCLOSED);
    CHECK_EQ(p.yielded, 2); /* its third yield is the one that got closed */
    CHECK_EQ(cio_gen_next(g, &v), CIO_EDONE);
    CHECK_EQ(cio_gen_close(g), 0);
    cio_gen_free(g);

    /* the producer's own error while closing is close()'s result */
    p = mkprod(-1, 0);
    p.on_close = -EIO;
    g = cio_gen_new(producer, &p, NULL);
    CHECK_EQ(cio_gen_next(g, &v), 0);
    CHECK_EQ(cio_gen_close(g), -EIO);
    CHECK(p.cleaned);
    CHECK_EQ(cio_gen_next(g, &v), CIO_EDONE); /* reported once, by close */
    cio_gen_free(g);

    /* a producer that tries to yield again after being closed */
    p = mkprod(-1, 0);
    p.yield_again = true;
    g = cio_gen_new(producer, &p, NULL);
    CHECK_EQ(cio_gen_next(g, &v), 0);
    CHECK_EQ(cio_gen_close(g), 0);
    CHECK_EQ(p.again_rc, CIO_EGENCLOSED);
    CHECK(p.cleaned);
    cio_gen_free(g);

    /* closed before it started: the producer never runs */
    p = mkprod(3, 0);
    g = cio_gen_new(producer, &p, NULL);
    CHECK_EQ(cio_gen_close(g), 0);
    CHECK_EQ(cio_gen_next(g, &v), CIO_EDONE);
    settle();
    CHECK(!p.started);
    cio_gen_free(g);
    return NULL;
}

static void *gen_free_parked(void *arg)
{
    (void)arg;
    void *v;
    /* freed while the producer is parked in its yield */
    prod p = mkprod(-1, 0.001);
    cio_gen *g = cio_gen_new(producer, &p, NULL);
    CHECK_EQ(cio_gen_next(g, &v), 0);
    CHECK_EQ(cio_gen_next(g, &v), 0);
    cio_gen_free(g);
    CHECK(!p.cleaned); /* it unwinds on its own, soon */
    settle();
    CHECK(p.cleaned);
    CHECK_EQ(p.last_rc, CIO_EGENCLOSED);

    /* the same, with a producer that does not sleep */
    p = mkprod(-1, 0);
    g = cio_gen_new(producer, &p, NULL);
    CHECK_EQ(cio_gen_next(g, &v), 0);
    cio_gen_free(g);
    settle();
    CHECK(p.cleaned);

    /* freed before it ever started, and after it finished */
    p = mkprod(3, 0);
    g = cio_gen_new(producer, &p, NULL);
    cio_gen_free(g);
    settle();
    CHECK(!p.started);
    p = mkprod(1, 0);
    g = cio_gen_new(producer, &p, NULL);
    CHECK_EQ(cio_gen_next(g, &v), 0);
    CHECK_EQ(cio_gen_next(g, &v), CIO_EDONE);
    cio_gen_free(g);
    CHECK(p.cleaned);
    cio_gen_free(NULL);
    return NULL;
}

static int cb_rc;
static void close_and_free_cb(void *arg)
{
    cb_rc = cio_gen_close(arg); /* in a callback: outside any task */
    cio_gen_free(arg);
}

typedef struct closer {
    cio_gen *g;
    int rc;
    int step;
} closer;

static void *closer_task(void *arg)
{
    closer *c = arg;
    void *v;
    CHECK_EQ(cio_gen_next(c->g, &v), 0);
    c->step = 1;
    c->rc = cio_gen_close(c->g);
    c->step = 2;
    cio_gen_free(c->g);
    return NULL;
}

/* Producers whose cleanup suspends (an async finally block). */
static void *gen_close_async_cleanup(void *arg)
{
    (void)arg;
    void *v;
    /* close() waits for the whole cleanup */
    prod p = mkprod(-1, 0);
    p.cleanup_sleep = 0.01;
    cio_gen *g = cio_gen_new(producer, &p, NULL);
    CHECK_EQ(cio_gen_next(g, &v), 0);
    CHECK_EQ(cio_gen_close(g), 0);
    CHECK(p.cleaned);
    CHECK_EQ(p.cleanup_rc, 0);
    cio_gen_free(g);

    /* closed and freed from a callback: the cleanup runs to its end, it is
     * not cancelled by the free */
    p = mkprod(-1, 0);
    p.cleanup_sleep = 0.01;
    p.cleanup_rc = 1;
    g = cio_gen_new(producer, &p, NULL);
    CHECK_EQ(cio_gen_next(g, &v), 0);
    cb_rc = 1;
    cio_call_soon(cio_loop_current(), close_and_free_cb, g, NULL);
    cio_sleep(0.05);
    CHECK_EQ(cb_rc, 0);
    CHECK(p.cleaned);
    CHECK_EQ(p.last_rc, CIO_EGENCLOSED);
    CHECK_EQ(p.cleanup_rc, 0);

    /* the closing task is cancelled while it waits for the cleanup: close()
     * reports that cancellation (it is not swallowed), the cancellation
     * reaches the producer, and the closing task ends cancelled */
    p = mkprod(-1, 0);
    p.cleanup_sleep = 10;
    p.cleanup_rc = 1;
    g = cio_gen_new(producer, &p, NULL);
    closer c = {.g = g};
    cio_task *tc = spawn(closer_task, &c);
    settle();
    CHECK_EQ(c.step, 1);
    CHECK(!p.cleaned);
    CHECK(cio_cancel(tc, NULL));
    CHECK_EQ(finish(tc), -ECANCELED);
    CHECK_EQ(c.step, 2);
    CHECK_EQ(c.rc, -ECANCELED);
    CHECK(p.cleaned);
    CHECK_EQ(p.cleanup_rc, -ECANCELED);

    /* a cancellation pending before close(): close() waits for the producer
     * with the cancel pending, which cancels the producer (bpo-34872: what
     * is awaited gets the cancellation).  The producer has not run since it
     * was told to close, so the cancellation wins at its yield (asyncio
     * throws GeneratorExit there first and the cancellation reaches the
     * cleanup's first wait: the generator runs inline in the closing task
     * there, in its own task here); its cleanup then runs to its end, and
     * close() reports the cancellation */
    p = mkprod(-1, 0);
    p.cleanup_sleep = 0.01;
    p.cleanup_rc = 1;
    g = cio_gen_new(producer, &p, NULL);
    CHECK_EQ(cio_gen_next(g, &v), 0);
    cio_cancel(cio_current_task(), NULL);
    CHECK_EQ(cio_gen_close(g), -ECANCELED);
    CHECK_EQ(cio_task_uncancel(cio_current_task()), 0);
    CHECK(p.cleaned);
    CHECK_EQ(p.last_rc, -ECANCELED);
    CHECK_EQ(p.cleanup_rc, 0);
    cio_gen_free(g);
    return NULL;
}

/* ---- errors ------------------------------------------------------------- */

static void *gen_error(void *arg)
{
    (void)arg;
    void *v;
    prod p = mkprod(10, 0.001);
    p.fail_after = 2;
    cio_gen *g = cio_gen_new(producer, &p, NULL);
    CHECK_EQ(cio_gen_next(g, &v), 0);
    CHECK_EQ(cio_gen_next(g, &v), 0);
    CHECK_EQ(cio_gen_next(g, &v), -EIO); /* once */
    CHECK_EQ(cio_gen_next(g, &v), CIO_EDONE);
    CHECK_EQ(cio_gen_next(g, &v), CIO_EDONE);
    CHECK(p.cleaned);
    CHECK_EQ(cio_gen_close(g), 0);
    cio_gen_free(g);

    /* collect stops at the error and returns nothing */
    p = mkprod(40, 0);
    p.fail_after = 20;
    g = cio_gen_new(producer, &p, NULL);
    void **vals = P(1);
    size_t n = 7;
    CHECK_EQ(cio_gen_collect(g, &vals, &n), -EIO);
    CHECK(vals == NULL);
    CHECK_EQ(n, 0);
    cio_gen_free(g);

    /* an error before the first value */
    p = mkprod(5, 0);
    p.fail_after = 0;
    g = cio_gen_new(producer, &p, NULL);
    CHECK_EQ(cio_gen_next(g, &v), -EIO);
    CHECK_EQ(cio_gen_next(g, &v), CIO_EDONE);
    cio_gen_free(g);
    return NULL;
}

/* ---- cancellation ------------------------------------------------------- */

typedef struct cons {
    cio_gen *g;
    int n;       /* values to take first */
    int rc;      /* what the last next() returned */
    int rc2;     /* the suspension after it */
    int got;
    void *last;
} cons;

static void *consumer(void *arg)
{
    cons *c = arg;
    void *v;
    for (int i = 0; i < c->n; i++) {
        c->rc = cio_gen_next(c->g, &v);
        if (c->rc)
            return NULL;
        c->got++;
        c->last = v;
    }
    c->rc = cio_gen_next(c->g, &v);
    if (c->rc == 0) {
        c->got++;
        c->last = v;
        c->rc2 = cio_sleep(10);
    }
    return NULL;
}

static void *gen_consumer_cancelled(void *arg)
{
    (void)arg;
    void *v;
    /* the consumer waits in next() while the producer sleeps */
    prod p = mkprod(-1, 0.001);
    p.slow_from = 2; /* the third value takes long */
    cio_gen *g = cio_gen_new(producer, &p, NULL);
    cons c = {.g = g, .n = 2};
    cio_task *tc = spawn(consumer, &c);
    while (c.got < 2)
        cio_sleep(0.001);
    settle();
    CHECK(!cio_done(tc));
    CHECK(cio_cancel(tc, NULL));
    settle();
    /* the producer was cancelled in its sleep, cleaned up and ended; the
     * consumer's next() returned -ECANCELED and the consumer ends cancelled */
    CHECK(p.cleaned);
    CHECK_EQ(p.last_rc, -ECANCELED);
    CHECK_EQ(c.rc, -ECANCELED);
    CHECK_EQ(finish(tc), -ECANCELED);
    CHECK_EQ(cio_gen_next(g, &v), CIO_EDONE);
    cio_gen_free(g);

    /* the same with a deadline around next() */
    p = mkprod(-1, 0.001);
    g = cio_gen_new(producer, &p, NULL);
    p.slow_from = 1;
    CHECK_EQ(cio_gen_next(g, &v), 0);
    cio_timeout s;
    cio_timeout_enter(&s, 0.01);
    int rc = cio_gen_next(g, &v);
    CHECK_EQ(rc, -ECANCELED);
    CHECK_EQ(cio_timeout_exit(&s, rc), -ETIMEDOUT);
    CHECK_EQ(cio_task_cancelling(cio_current_task()), 0);
    CHECK(p.cleaned);
    CHECK_EQ(cio_gen_next(g, &v), CIO_EDONE);
    CHECK_EQ(cio_sleep(0), 0); /* nothing left pending */
    cio_gen_free(g);

    /* cancelled before its first value: the producer never starts */
    p = mkprod(3, 0);
    g = cio_gen_new(producer, &p, NULL);
    cio_cancel(cio_current_task(), NULL);
    CHECK_EQ(cio_gen_next(g, &v), -ECANCELED);
    cio_task_uncancel(cio_current_task());
    CHECK(!p.started);
    CHECK_EQ(cio_gen_next(g, &v), 0); /* still usable */
    CHECK_EQ(cio_gen_close(g), 0);
    CHECK(p.cleaned);
    cio_gen_free(g);
    return NULL;
}

static void cancel_cb(void *t) { cio_cancel(t, NULL); }

/* The producer schedules the consumer's cancellation right before yielding,
 * so it lands after the value was handed over and before the consumer
 * runs. */
typedef struct racep {
    cio_task *victim;
    int last_rc;
    bool cleaned;
} racep;

static void *race_producer(cio_gen *g, void *arg)
{
    racep *r = arg;
    char *buf = malloc(32);
    int rc = cio_gen_yield(g, P(1));
    if (rc == 0) {
        cio_call_soon(cio_loop_current(), cancel_cb, r->victim, NULL);
        rc = cio_gen_yield(g, P(2));
        if (rc == 0)
            rc = cio_gen_yield(g, P(3));
    }
    r->last_rc = rc;
    free(buf);
    r->cleaned = true;
    return NULL;
}

static void *gen_cancel_at_wakeup(void *arg)
{
    (void)arg;
    racep r = {0};
    cio_gen *g = cio_gen_new(race_producer, &r, NULL);
    cons c = {.g = g, .n = 1};
    cio_task *tc = spawn(consumer, &c);
    r.victim = tc;
    CHECK_EQ(finish(tc), -ECANCELED);
    CHECK_EQ(c.rc, -ECANCELED); /* issue 10 §2a: the cancellation wins */
    CHECK_EQ(U(c.last), 1);
    CHECK_EQ(c.got, 1);
    /* the producer was not disturbed: still parked after its second value */
    CHECK(!r.cleaned);
    void *v;
    CHECK_EQ(cio_gen_next(g, &v), 0);
    CHECK_EQ(U(v), 2); /* the value yielded to the cancelled consumer is kept */
    CHECK_EQ(cio_gen_next(g, &v), 0);
    CHECK_EQ(U(v), 3); /* nothing lost, nothing repeated */
    cio_gen_free(g);
    settle();
    CHECK(r.cleaned);
    CHECK_EQ(r.last_rc, CIO_EGENCLOSED);

    /* the same race, then aclose(): the kept value dies with the generator */
    racep r2 = {0};
    g = cio_gen_new(race_producer, &r2, NULL);
    cons c2 = {.g = g, .n = 1};
    tc = spawn(consumer, &c2);
    r2.victim = tc;
    CHECK_EQ(finish(tc), -ECANCELED);
    CHECK_EQ(c2.rc, -ECANCELED);
    CHECK_EQ(cio_gen_close(g), 0);
    CHECK(r2.cleaned);
    CHECK_EQ(r2.last_rc, CIO_EGENCLOSED);
    CHECK_EQ(cio_gen_next(g, &v), CIO_EDONE);
    cio_gen_free(g);
    return NULL;
}

/* The producer task itself is cancelled while parked in its yield (e.g. by
 * a shutdown that cancels every task); it swallows that and yields again
 * before anyone asked: that value must still reach the consumer. */
typedef struct stubborn {
    cio_task *self;
    int rcs[4];
} stubborn;

static void *stubborn_producer(cio_gen *g, void *arg)
{
    stubborn *s = arg;
    s->self = cio_current_task();
    s->rcs[0] = cio_gen_yield(g, P(1));
    if (s->rcs[0] == -ECANCELED)
        cio_task_uncancel(s->self);
    s->rcs[1] = cio_gen_yield(g, P(2));
    s->rcs[2] = cio_gen_yield(g, P(3));
    return NULL;
}

static void *gen_producer_cancelled(void *arg)
{
    (void)arg;
    stubborn s = {0};
    cio_gen *g = cio_gen_new(stubborn_producer, &s, NULL);
    void *v;
    CHECK_EQ(cio_gen_next(g, &v), 0);
    CHECK_EQ(U(v), 1);
    CHECK(cio_cancel(s.self, NULL));
    settle();
    CHECK_EQ(s.rcs[0], -ECANCELED);
    CHECK_EQ(cio_gen_next(g, &v), 0);
    CHECK_EQ(U(v), 2);
    CHECK_EQ(cio_gen_next(g, &v), 0);
    CHECK_EQ(U(v), 3);
    CHECK_EQ(cio_gen_next(g, &v), CIO_EDONE);
    cio_gen_free(g);
    return NULL;
}

/* ---- misuse ------------------------------------------------------------- */

static void *two_consumers_second(void *arg)
{
    cons *c = arg;
    void *v;
    c->rc = cio_gen_next(c->g, &v);
    return NULL;
}

static void *gen_misuse(void *arg)
{
    (void)arg;
    errno = 0;
    CHECK(cio_gen_new(NULL, NULL, NULL) == NULL);
    CHECK_EQ(errno, EINVAL);
    prod p = mkprod(3, 0.005);
    cio_gen *g = cio_gen_new(producer, &p, NULL);
    CHECK_EQ(cio_gen_yield(g, P(1)), -EPERM); /* not started, not the producer */
    void *v;
    cons c = {.g = g};
    cio_task *t2 = spawn(two_consumers_second, &c);
    settle(); /* t2 waits in next() */
    CHECK_EQ(cio_gen_next(g, &v), -EBUSY);
    CHECK_EQ(cio_gen_yield(g, P(1)), -EPERM); /* the consumer cannot yield */
    CHECK_EQ(finish(t2), 0);
    CHECK_EQ(c.rc, 0);
    CHECK_EQ(cio_gen_next(g, &v), 0);
    CHECK_EQ(U(v), 1);
    CHECK_EQ(cio_gen_close(g), 0);
    cio_gen_free(g);
    return NULL;
}

static void outside_task(void)
{
    check_current = "outside_task";
    int fails = check_failures;
    prod p = mkprod(3, 0);
    cio_gen *g = cio_gen_new(producer, &p, NULL);
    void *v;
    CHECK_EQ(cio_gen_next(g, &v), CIO_ENOTASK);
    CHECK_EQ(cio_gen_close(g), 0);
    cio_gen_free(g);
    fprintf(stderr, "%s outside_task\n", check_failures == fails ? "ok  " : "FAIL");
}

int main(void)
{
    RUN_TEST(outside_task);
    RUN_TASK_TEST(gen_basic);
    RUN_TASK_TEST(gen_collect);
    RUN_TASK_TEST(gen_empty);
    RUN_TASK_TEST(gen_close_early);
    RUN_TASK_TEST(gen_free_parked);
    RUN_TASK_TEST(gen_close_async_cleanup);
    RUN_TASK_TEST(gen_error);
    RUN_TASK_TEST(gen_consumer_cancelled);
    RUN_TASK_TEST(gen_cancel_at_wakeup);
    RUN_TASK_TEST(gen_producer_cancelled);
    RUN_TASK_TEST(gen_misuse);
    return check_exit();
}
