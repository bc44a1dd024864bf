/* SPDX-License-Identifier: MIT */
/* Futures: completion rules, outcomes, messages, references, done callbacks,
 * awaiting futures completed by callbacks and timers.
 *
 * Exit 0 = pass. */
#include "check.h"

static void *t_outcomes(void *arg)
{
    (void)arg;
    cio_loop *l = cio_loop_current();
    cio_future *f = cio_future_new(NULL);
    CHECK(f != NULL);
    CHECK(cio_future_loop(f) == l);
    CHECK(!cio_done(f));
    CHECK(!cio_cancelled(f));
    void *v = (void *)1;
    CHECK_EQ(cio_result(f, &v), CIO_EINVALSTATE);
    CHECK(v == NULL);
    CHECK_EQ(cio_exception(f), CIO_EINVALSTATE);
    /* result */
    CHECK_EQ(cio_future_set_result(f, (void *)10), 0);
    CHECK(cio_done(f));
    CHECK_EQ(cio_future_set_result(f, (void *)11), CIO_EINVALSTATE);
    CHECK_EQ(cio_future_set_error(f, -EIO, NULL), CIO_EINVALSTATE);
    CHECK(!cio_cancel(f, NULL));
    CHECK_EQ(cio_result(f, &v), 0);
    CHECK_EQ((intptr_t)v, 10);
    CHECK_EQ(cio_result(f, NULL), 0);
    CHECK_EQ(cio_exception(f), 0);
    CHECK(cio_error_message(f) == NULL);
    cio_release(f);
    /* error */
    f = cio_future_new(l);
    CHECK_EQ(cio_future_set_error(f, 0, "zero"), -EINVAL);
    CHECK_EQ(cio_future_set_error(f, 5, "positive"), -EINVAL);
    CHECK_EQ(cio_future_set_error(f, -ECANCELED, "use cancel"), -EINVAL);
    CHECK(!cio_done(f));
    char msg[] = "broken pipe here";
    CHECK_EQ(cio_future_set_error(f, -EPIPE, msg), 0);
    msg[0] = 'X'; /* copied */
    CHECK_EQ(cio_future_set_result(f, NULL), CIO_EINVALSTATE);
    v = (void *)1;
    CHECK_EQ(cio_result(f, &v), -EPIPE);
    CHECK(v == NULL);
    CHECK_EQ(cio_exception(f), -EPIPE);
    CHECK(!cio_cancelled(f));
    CHECK(strcmp(cio_error_message(f), "broken pipe here") == 0);
    cio_release(f);
    /* error with no message, cio's own code */
    f = cio_future_new(l);
    CHECK_EQ(cio_future_set_error(f, CIO_EBROKENBARRIER, NULL), 0);
    CHECK_EQ(cio_exception(f), CIO_EBROKENBARRIER);
    CHECK(cio_error_message(f) == NULL);
    cio_release(f);
    /* futures API refused on tasks */
    cio_task *self = cio_current_task();
    CHECK_EQ(cio_future_set_result(self, NULL), CIO_EINVALSTATE);
    CHECK_EQ(cio_future_set_error(self, -EIO, NULL), CIO_EINVALSTATE);
    /* strerror */
    CHECK(strcmp(cio_strerror(-ECANCELED), "cancelled") == 0);
    CHECK(strcmp(cio_strerror(-ETIMEDOUT), "timed out") == 0);
    CHECK(cio_strerror(CIO_EINVALSTATE) != NULL && *cio_strerror(CIO_EINVALSTATE));
    CHECK(strcmp(cio_strerror(-ENOENT), "No such file or directory") == 0);
    CHECK(cio_strerror(-99999) != NULL);
    CHECK(cio_strerror(12345) != NULL);
    return NULL;
}

static void *t_refs(void *arg)
{
    (void)arg;
    cio_future *f = cio_future_new(NULL);
    CHECK(cio_ref(f) == f);
    CHECK(cio_ref(f) == f);
    cio_release(f);
    cio_release(f);
    CHECK(!cio_done(f)); /* still alive: one reference left */
    cio_future_set_result(f, NULL);
    cio_release(f);
    cio_release(NULL); /* no-op */
    /* a pending future can be released; nothing else happens */
    f = cio_future_new(NULL);
    cio_release(f);
    return NULL;
}

static void set_result_cb(void *arg) { cio_future_set_result(arg, (void *)0x5a); }
static void set_error_cb(void *arg) { cio_future_set_error(arg, -ECONNRESET, "peer went away"); }
static void cancel_cb(void *arg) { cio_cancel(arg, "from a timer"); }

static void *t_await(void *arg)
{
    (void)arg;
    cio_loop *l = cio_loop_current();
    void *v = NULL;
    cio_future *f = cio_future_new(l);
    cio_call_later(l, 0.005, set_result_cb, f, NULL);
    CHECK_EQ(cio_await(f, &v), 0);
    CHECK_EQ((intptr_t)v, 0x5a);
    cio_release(f);
    f = cio_future_new(l);
    cio_call_soon(l, set_error_cb, f, NULL);
    v = (void *)1;
    CHECK_EQ(cio_await(f, &v), -ECONNRESET);
    CHECK(v == NULL);
    CHECK(strcmp(cio_error_message(f), "peer went away") == 0);
    cio_release(f);
    f = cio_future_new(l);
    cio_call_soon(l, cancel_cb, f, NULL);
    CHECK_EQ(cio_await(f, NULL), -ECANCELED);
    CHECK(strcmp(cio_error_message(f), "from a timer") == 0);
    cio_release(f);
    /* an already done future: no suspension (callbacks scheduled before are
     * still pending afterwards) */
    f = cio_future_new(l);
    cio_future_set_result(f, (void *)3);
    cio_future *g = cio_future_new(l);
    cio_call_soon(l, set_result_cb, g, NULL);
    CHECK_EQ(cio_await(f, &v), 0);
    CHECK(!cio_done(g));
    CHECK_EQ(cio_await(g, NULL), 0);
    cio_release(f);
    cio_release(g);
    /* release while awaited: the awaiter holds its own reference */
    f = cio_future_new(l);
    cio_call_later(l, 0.002, set_result_cb, cio_ref(f), NULL);
    cio_future *keep = f;
    cio_release(f); /* the timer's argument still holds one */
    CHECK_EQ(cio_await(keep, &v), 0);
    CHECK_EQ((intptr_t)v, 0x5a);
    cio_release(keep);
    return NULL;
}

typedef struct log {
    int tag[32];
    cio_future *f[32];
    int n;
} log_t;
static log_t lg;

static void cb_log(cio_future *f, void *arg)
{
    if (lg.n < 32) {
        lg.f[lg.n] = f;
        lg.tag[lg.n++] = (int)(intptr_t)arg;
    }
}

static void cb_adds_more(cio_future *f, void *arg)
{
    cb_log(f, arg);
    /* adding to a done future from inside a done callback: scheduled */
    cio_add_done_callback(f, cb_log, (void *)((intptr_t)arg + 100));
}

static void *t_done_callbacks(void *arg)
{
    (void)arg;
    memset(&lg, 0, sizeof lg);
    cio_future *f = cio_future_new(NULL);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(cio_add_done_callback(f, cb_log, (void *)(intptr_t)i), 0);
    CHECK_EQ(cio_add_done_callback(f, cb_adds_more, (void *)7), 0);
    CHECK_EQ(cio_remove_done_callback(f, cb_log, (void *)3), 1);
    CHECK_EQ(cio_remove_done_callback(f, cb_log, (void *)99), 0);
    cio_future_set_error(f, -EIO, NULL);
    CHECK_EQ(lg.n, 0); /* never synchronous */
    cio_yield();
    CHECK_EQ(lg.n, 5);
    int want[] = {0, 1, 2, 4, 7};
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(lg.tag[i], want[i]);
        CHECK(lg.f[i] == f);
    }
    cio_yield();
    CHECK_EQ(lg.n, 6);
    CHECK_EQ(lg.tag[5], 107);
    /* callbacks of a cancelled future run too */
    cio_future *g = cio_future_new(NULL);
    cio_add_done_callback(g, cb_log, (void *)50);
    cio_cancel(g, NULL);
    cio_yield();
    CHECK_EQ(lg.n, 7);
    CHECK_EQ(lg.tag[6], 50);
    cio_release(g);
    /* retrieving the error marks it retrieved (checked in test_debug) */
    CHECK_EQ(cio_exception(f), -EIO);
    cio_release(f);
    /* a released future with a pending callback: the callback keeps it */
    cio_future *h = cio_future_new(NULL);
    cio_add_done_callback(h, cb_log, (void *)60);
    cio_future_set_result(h, NULL);
    cio_release(h);
    cio_yield();
    CHECK_EQ(lg.n, 8);
    CHECK_EQ(lg.tag[7], 60);
    /* a pending future released with callbacks attached: they are dropped */
    cio_future *k = cio_future_new(NULL);
    cio_add_done_callback(k, cb_log, (void *)70);
    cio_release(k);
    cio_yield();
    CHECK_EQ(lg.n, 8);
    return NULL;
}

/* A future whose loop was closed: still usable as a value. */
static void test_after_close(void)
{
    check_current = "after_close";
    int fails = check_failures;
    cio_loop *l = cio_loop_new();
    cio_future *f = cio_future_new(l);
    cio_future *g = cio_future_new(l);
    cio_future_set_result(g, (void *)4);
    cio_add_done_callback(f, cb_log, NULL);
    cio_loop_close(l);
    CHECK(cio_future_loop(f) == NULL);
    CHECK_EQ(cio_add_done_callback(g, cb_log, NULL), CIO_ELOOPCLOSED);
    void *v;
    CHECK_EQ(cio_result(g, &v), 0);
    CHECK_EQ((intptr_t)v, 4);
    CHECK_EQ(cio_future_set_result(f, (void *)1), 0); /* no loop: callbacks dropped */
    CHECK(cio_done(f));
    cio_release(f);
    cio_release(g);
    fprintf(stderr, "%s %s\n", check_failures == fails ? "ok  " : "FAIL", check_current);
}

int main(void)
{
    RUN_TASK_TEST(t_outcomes);
    RUN_TASK_TEST(t_refs);
    RUN_TASK_TEST(t_await);
    RUN_TASK_TEST(t_done_callbacks);
    RUN_TEST(test_after_close);
    return check_exit();
}
