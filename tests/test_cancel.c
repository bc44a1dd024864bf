/* SPDX-License-Identifier: MIT */
/* Cancellation, after CPython's test_asyncio task tests: before the first
 * step, while parked in every kind of suspending call, after done,
 * swallowed with uncancel, counted, delivered once, with a message,
 * propagated through await, racing with a wake-up.
 *
 * Exit 0 = pass. */
#include "check.h"

#include <signal.h>
#include <unistd.h>

static cio_task *self_task(void) { return cio_current_task(); }

static int body_ran;
static int rc_seen[8];

static void *mark_body(void *arg)
{
    (void)arg;
    body_ran++;
    return (void *)1;
}

/* ---- before the first step ------------------------------------------------ */

static void *t_cancel_before_start(void *arg)
{
    (void)arg;
    body_ran = 0;
    cio_task *t = cio_spawn(mark_body, NULL);
    CHECK(cio_cancel(t, "too early"));
    CHECK_EQ(cio_task_cancelling(t), 1);
    CHECK(!cio_done(t)); /* a task is cancelled when it gets to run */
    void *v = (void *)5;
    CHECK_EQ(cio_await(t, &v), -ECANCELED);
    CHECK(v == NULL);
    CHECK_EQ(body_ran, 0);
    CHECK(cio_cancelled(t));
    CHECK(cio_error_message(t) && strcmp(cio_error_message(t), "too early") == 0);
    cio_task_uncancel(cio_current_task()); /* its -ECANCELED is not ours */
    cio_release(t);
    /* a lazy task that is never started: cancelling it finishes it */
    t = cio_spawn_ex(NULL, mark_body, NULL, &(cio_task_opts){.flags = CIO_TASK_LAZY});
    CHECK(cio_cancel(t, NULL));
    CHECK_EQ(cio_await(t, NULL), -ECANCELED);
    cio_task_uncancel(cio_current_task());
    CHECK_EQ(body_ran, 0);
    CHECK(cio_cancelled(t));
    CHECK(cio_error_message(t) == NULL);
    CHECK_EQ(cio_task_start(t), CIO_EINVALSTATE);
    cio_release(t);
    /* eager: it ran to its first suspension already, so it is cancelled there */
    return NULL;
}

/* ---- while parked ---------------------------------------------------------- */

static void *sleep_long(void *arg)
{
    int *rc = arg;
    *rc = cio_sleep(30);
    return (void *)2;
}

static void *await_arg(void *arg)
{
    void **pp = arg;
    rc_seen[1] = cio_await(pp[0], NULL);
    return (void *)3;
}

static void *t_cancel_sleep(void *arg)
{
    (void)arg;
    int rc = 1;
    cio_task *t = cio_spawn(sleep_long, &rc);
    cio_yield();
    CHECK_EQ(cio_task_state(t), CIO_TASK_SUSPENDED);
    double t0 = cio_time();
    CHECK(cio_cancel(t, "wake up"));
    CHECK_EQ(cio_task_state(t), CIO_TASK_SCHEDULED); /* woken with -ECANCELED */
    CHECK_EQ(cio_await(t, NULL), -ECANCELED);
    cio_task_uncancel(cio_current_task());
    CHECK(cio_time() == t0); /* virtual clock: not a moment of its 30 s sleep */
    CHECK_EQ(rc, -ECANCELED);
    CHECK(cio_cancelled(t)); /* it returned after -ECANCELED without uncancel */
    CHECK(strcmp(cio_error_message(t), "wake up") == 0);
    /* cancel after done */
    CHECK(!cio_cancel(t, "late"));
    CHECK_EQ(cio_task_cancelling(t), 1);
    CHECK(strcmp(cio_error_message(t), "wake up") == 0);
    cio_release(t);
    return NULL;
}

static void *t_cancel_await_future(void *arg)
{
    (void)arg;
    cio_future *f = cio_future_new(NULL);
    void *pp[1] = {f};
    rc_seen[1] = 1;
    cio_task *t = cio_spawn(await_arg, pp);
    cio_yield();
    CHECK_EQ(cio_task_state(t), CIO_TASK_SUSPENDED);
    CHECK(cio_cancel(t, "fut"));
    /* as asyncio: the awaited future is cancelled too */
    CHECK(cio_cancelled(f));
    CHECK(strcmp(cio_error_message(f), "fut") == 0);
    CHECK_EQ(cio_await(t, NULL), -ECANCELED);
    cio_task_uncancel(cio_current_task());
    CHECK_EQ(rc_seen[1], -ECANCELED);
    CHECK(cio_cancelled(t));
    cio_release(t);
    cio_release(f);
    return NULL;
}

static int inner_rc;
static void *inner_sleeper(void *arg)
{
    inner_rc = cio_sleep(30);
    if (arg) { /* swallow it and return a value */
        cio_task_uncancel(cio_current_task());
        return arg;
    }
    return NULL;
}

static void *outer_awaiter(void *arg)
{
    cio_task *inner = cio_spawn_ex(NULL, inner_sleeper, arg, &(cio_task_opts){.name = "inner"});
    void *v = NULL;
    rc_seen[2] = cio_await(inner, &v);
    rc_seen[3] = cio_cancelled(inner);
    rc_seen[4] = (int)(intptr_t)v;
    cio_release(inner);
    return (void *)4;
}

static void *t_cancel_await_task(void *arg)
{
    (void)arg;
    /* the inner task is cancelled too, with the same message */
    inner_rc = 1;
    rc_seen[2] = 1;
    cio_task *outer = cio_spawn(outer_awaiter, NULL);
    cio_yield();
    cio_yield();
    CHECK(cio_cancel(outer, "both"));
    CHECK_EQ(cio_await(outer, NULL), -ECANCELED);
    cio_task_uncancel(cio_current_task());
    CHECK_EQ(inner_rc, -ECANCELED);
    CHECK_EQ(rc_seen[2], -ECANCELED);
    CHECK(rc_seen[3]);
    CHECK(cio_cancelled(outer));
    CHECK(cio_error_message(outer) && strcmp(cio_error_message(outer), "both") == 0);
    cio_release(outer);
    /* the inner task swallows it: the outer gets its value and, not having
     * seen -ECANCELED itself, ends with its own result */
    outer = cio_spawn(outer_awaiter, (void *)77);
    cio_yield();
    cio_yield();
    CHECK(cio_cancel(outer, NULL));
    void *v = NULL;
    CHECK_EQ(cio_await(outer, &v), 0);
    CHECK_EQ((intptr_t)v, 4);
    CHECK_EQ(rc_seen[2], 0);
    CHECK_EQ(rc_seen[4], 77);
    CHECK(!cio_cancelled(outer));
    CHECK_EQ(cio_task_cancelling(outer), 1);
    cio_release(outer);
    return NULL;
}

static void *fd_wait_body(void *arg)
{
    rc_seen[5] = cio_wait_readable((int)(intptr_t)arg);
    return NULL;
}

static void *sig_wait_body(void *arg)
{
    (void)arg;
    rc_seen[6] = cio_signal_wait(SIGUSR2);
    return NULL;
}

static void *t_cancel_fd_and_signal(void *arg)
{
    (void)arg;
    int p[2];
    CHECK_EQ(pipe(p), 0);
    rc_seen[5] = 1;
    cio_task *t = cio_spawn(fd_wait_body, (void *)(intptr_t)p[0]);
    cio_yield();
    CHECK_EQ(cio_task_state(t), CIO_TASK_SUSPENDED);
    CHECK(cio_cancel(t, NULL));
    CHECK_EQ(cio_await(t, NULL), -ECANCELED);
    cio_task_uncancel(cio_current_task());
    CHECK_EQ(rc_seen[5], -ECANCELED);
    cio_release(t);
    /* the wait is gone: data written now wakes nobody, and a new wait works */
    CHECK_EQ(write(p[1], "x", 1), 1);
    CHECK_EQ(cio_wait_readable(p[0]), CIO_READABLE);
    cio_close(p[0]);
    cio_close(p[1]);

    struct sigaction before, after;
    sigaction(SIGUSR2, NULL, &before);
    rc_seen[6] = 1;
    t = cio_spawn(sig_wait_body, NULL);
    cio_yield();
    CHECK_EQ(cio_task_state(t), CIO_TASK_SUSPENDED);
    CHECK(cio_cancel(t, NULL));
    CHECK_EQ(cio_await(t, NULL), -ECANCELED);
    cio_task_uncancel(cio_current_task());
    CHECK_EQ(rc_seen[6], -ECANCELED);
    cio_release(t);
    /* the handler installed for the wait is gone again */
    sigaction(SIGUSR2, NULL, &after);
    CHECK(after.sa_handler == before.sa_handler);
    return NULL;
}

/* ---- swallowing, counting, delivering once ------------------------------- */

static void *swallow(void *arg)
{
    (void)arg;
    rc_seen[0] = cio_sleep(30);
    if (rc_seen[0] == -ECANCELED)
        CHECK_EQ(cio_task_uncancel(cio_current_task()), 0);
    CHECK_EQ(cio_sleep(0.001), 0); /* goes on normally */
    return (void *)42;
}

static void *t_swallow(void *arg)
{
    (void)arg;
    cio_task *t = cio_spawn(swallow, NULL);
    cio_yield();
    CHECK(cio_cancel(t, NULL));
    void *v = NULL;
    CHECK_EQ(cio_await(t, &v), 0);
    CHECK_EQ((intptr_t)v, 42);
    CHECK_EQ(rc_seen[0], -ECANCELED);
    CHECK(!cio_cancelled(t));
    CHECK_EQ(cio_task_cancelling(t), 0);
    cio_release(t);
    return NULL;
}

static void *self_cancel_and_withdraw(void *arg)
{
    cio_task *self = cio_current_task();
    CHECK(cio_cancel(self, NULL));
    CHECK(cio_cancel(self, NULL));
    CHECK(cio_cancel(self, NULL));
    CHECK_EQ(cio_task_cancelling(self), 3);
    CHECK_EQ(cio_task_uncancel(self), 2);
    CHECK_EQ(cio_task_uncancel(self), 1);
    if (arg) {
        /* still one request: the next suspension gets it */
        CHECK_EQ(cio_yield(), -ECANCELED);
        return (void *)1;
    }
    CHECK_EQ(cio_task_uncancel(self), 0);
    CHECK_EQ(cio_task_uncancel(self), 0); /* never below 0 */
    /* at zero the undelivered cancellation is withdrawn */
    CHECK_EQ(cio_yield(), 0);
    CHECK_EQ(cio_sleep(0.001), 0);
    return (void *)9;
}

static void *t_cancelling_count(void *arg)
{
    (void)arg;
    cio_task *t = cio_spawn(self_cancel_and_withdraw, NULL);
    void *v;
    CHECK_EQ(cio_await(t, &v), 0);
    CHECK_EQ((intptr_t)v, 9);
    CHECK(!cio_cancelled(t));
    cio_release(t);
    t = cio_spawn(self_cancel_and_withdraw, (void *)1);
    CHECK_EQ(cio_await(t, &v), -ECANCELED);
    cio_task_uncancel(cio_current_task());
    CHECK(cio_cancelled(t));
    CHECK_EQ(cio_task_cancelling(t), 1);
    cio_release(t);
    /* a plain future has no count */
    cio_future *f = cio_future_new(NULL);
    CHECK_EQ(cio_task_uncancel(f), 0);
    cio_release(f);
    return NULL;
}

static void *twice_body(void *arg)
{
    (void)arg;
    rc_seen[0] = cio_sleep(30);
    rc_seen[1] = cio_sleep(0.001);
    rc_seen[2] = cio_yield();
    return NULL;
}

static void *t_cancel_twice_delivered_once(void *arg)
{
    (void)arg;
    memset(rc_seen, 1, sizeof rc_seen);
    cio_task *t = cio_spawn(twice_body, NULL);
    cio_yield();
    CHECK(cio_cancel(t, "one"));
    CHECK(cio_cancel(t, "two")); /* still pending: true, counted */
    CHECK_EQ(cio_task_cancelling(t), 2);
    CHECK_EQ(cio_await(t, NULL), -ECANCELED);
    cio_task_uncancel(cio_current_task());
    CHECK_EQ(rc_seen[0], -ECANCELED);
    CHECK_EQ(rc_seen[1], 0);
    CHECK_EQ(rc_seen[2], 0);
    CHECK(cio_cancelled(t));
    /* the latest message is the one reported */
    CHECK(cio_error_message(t) && strcmp(cio_error_message(t), "two") == 0);
    cio_release(t);
    /* twice before the first step: the body never runs, once */
    body_ran = 0;
    t = cio_spawn(mark_body, NULL);
    cio_cancel(t, NULL);
    cio_cancel(t, NULL);
    CHECK_EQ(cio_await(t, NULL), -ECANCELED);
    cio_task_uncancel(cio_current_task());
    CHECK_EQ(body_ran, 0);
    cio_release(t);
    return NULL;
}

/* Two requests, one delivery, one uncancel: the count is still 1, so the
 * task still counts as cancelled (see cio_task_uncancel); a second uncancel
 * swallows it. */
static void *uncancel_n(void *arg)
{
    int n = (int)(intptr_t)arg;
    int rc = cio_sleep(30);
    CHECK_EQ(rc, -ECANCELED);
    for (int i = 0; i < n; i++)
        cio_task_uncancel(cio_current_task());
    return (void *)6;
}

static void *t_uncancel_partial(void *arg)
{
    (void)arg;
    for (int n = 1; n <= 2; n++) {
        cio_task *t = cio_spawn(uncancel_n, (void *)(intptr_t)n);
        cio_yield();
        cio_cancel(t, NULL);
        cio_cancel(t, NULL);
        void *v = NULL;
        int rc = cio_await(t, &v);
        if (n == 1) {
            CHECK_EQ(rc, -ECANCELED);
            cio_task_uncancel(cio_current_task());
        } else {
            CHECK_EQ(rc, 0);
            CHECK_EQ((intptr_t)v, 6);
        }
        cio_release(t);
    }
    return NULL;
}

/* ---- propagation through await ---------------------------------------------- */

static void *just_await(void *arg)
{
    rc_seen[7] = cio_await(arg, NULL);
    return (void *)8; /* returns normally after the -ECANCELED */
}

/* cio.h, "How a task ends": an -ECANCELED that only reports that an awaited
 * task or future was cancelled by someone else is an ordinary error code;
 * the awaiting task, not cancelled itself, ends with what it returns. */
static void *t_await_cancelled_task(void *arg)
{
    (void)arg;
    cio_task *victim = cio_spawn(sleep_long, &rc_seen[0]);
    cio_task *a = cio_spawn(just_await, victim);
    cio_yield();
    cio_cancel(victim, "victim");
    void *v = NULL;
    CHECK_EQ(cio_await(a, &v), 0);
    CHECK_EQ((intptr_t)v, 8);
    CHECK_EQ(rc_seen[7], -ECANCELED);
    CHECK(!cio_cancelled(a));
    CHECK_EQ(cio_task_cancelling(a), 0); /* nobody cancelled a itself */
    CHECK(cio_cancelled(victim));
    /* awaiting an already cancelled task, without suspending */
    rc_seen[7] = 1;
    cio_task *b = cio_spawn(just_await, victim);
    CHECK_EQ(cio_await(b, &v), 0);
    CHECK_EQ(rc_seen[7], -ECANCELED);
    CHECK(!cio_cancelled(b));
    /* an already cancelled plain future too */
    cio_future *f = cio_future_new(NULL);
    cio_cancel(f, NULL);
    rc_seen[7] = 1;
    cio_task *c = cio_spawn(just_await, f);
    CHECK_EQ(cio_await(c, &v), 0);
    CHECK_EQ(rc_seen[7], -ECANCELED);
    CHECK(!cio_cancelled(c));
    /* but when the awaiting task itself is cancelled while awaiting, the
     * -ECANCELED is its own and it ends cancelled */
    cio_task *v2 = cio_spawn(sleep_long, &rc_seen[0]);
    cio_task *d = cio_spawn(just_await, v2);
    cio_yield();
    cio_yield();
    cio_cancel(d, NULL);
    CHECK_EQ(cio_await(d, NULL), -ECANCELED);
    CHECK(cio_cancelled(d));
    CHECK(cio_cancelled(v2)); /* cancelled through the await */
    cio_release(f);
    cio_release(a);
    cio_release(b);
    cio_release(c);
    cio_release(d);
    cio_release(v2);
    cio_release(victim);
    return NULL;
}

/* ---- racing with a wake-up -------------------------------------------------- */

static cio_task *race_victim;
static void cancel_victim_cb(void *arg)
{
    (void)arg;
    /* the victim's timer fired in the same expiry: it is woken, not resumed */
    CHECK_EQ(cio_task_state(race_victim), CIO_TASK_SCHEDULED);
    CHECK(cio_cancel(race_victim, NULL));
}

static void *race_sleeper(void *arg)
{
    (void)arg;
    /* the canceller is due no later than this sleep */
    cio_call_later(cio_loop_current(), 0.005, cancel_victim_cb, NULL, NULL);
    rc_seen[0] = cio_sleep(0.005);
    rc_seen[1] = cio_sleep(0.001);
    return NULL;
}

static void *race_awaiter(void *arg)
{
    void *v = (void *)1;
    rc_seen[2] = cio_await(arg, &v);
    rc_seen[3] = v == NULL;
    return NULL;
}

static void *t_woken_then_cancelled(void *arg)
{
    (void)arg;
    memset(rc_seen, 1, sizeof rc_seen);
    race_victim = cio_spawn(race_sleeper, NULL);
    cio_yield(); /* it arms both timers and parks */
    /* the virtual clock jumps to their common deadline: both fire in one expiry */
    CHECK_EQ(cio_await(race_victim, NULL), -ECANCELED);
    cio_task_uncancel(cio_current_task());
    CHECK_EQ(rc_seen[0], -ECANCELED); /* the wake-up was dropped for the cancellation */
    CHECK_EQ(rc_seen[1], 0);          /* delivered once */
    cio_release(race_victim);
    /* the same for a future: result set, then cancelled before resuming */
    cio_future *f = cio_future_new(NULL);
    cio_task *t = cio_spawn(race_awaiter, f);
    cio_yield();
    cio_future_set_result(f, (void *)5);
    CHECK_EQ(cio_task_state(t), CIO_TASK_SCHEDULED);
    CHECK(cio_cancel(t, NULL)); /* not done yet: true */
    CHECK(!cio_cancelled(f));   /* the future is done, not cancelled */
    CHECK_EQ(cio_await(t, NULL), -ECANCELED);
    cio_task_uncancel(cio_current_task());
    CHECK_EQ(rc_seen[2], -ECANCELED);
    CHECK(rc_seen[3]);
    cio_release(t);
    cio_release(f);
    return NULL;
}

/* ---- self-cancellation, yield, futures ------------------------------------- */

static void *cancel_in_yield(void *arg)
{
    (void)arg;
    rc_seen[0] = cio_yield();
    rc_seen[1] = cio_yield();
    return NULL;
}

static void *returns_with_pending_cancel(void *arg)
{
    (void)arg;
    cio_cancel(cio_current_task(), "self");
    return (void *)1; /* never suspended again: ends cancelled */
}

static int fcb_count;
static void fut_cb(cio_future *f, void *arg)
{
    (void)arg;
    CHECK(cio_cancelled(f));
    fcb_count++;
}

static void *t_cancel_delivery_edges(void *arg)
{
    (void)arg;
    /* cancelled while scheduled in a yield */
    memset(rc_seen, 1, sizeof rc_seen);
    cio_task *t = cio_spawn(cancel_in_yield, NULL);
    cio_yield(); /* t is now in its first yield, scheduled */
    CHECK_EQ(cio_task_state(t), CIO_TASK_SCHEDULED);
    cio_cancel(t, NULL);
    cio_await(t, NULL);
    cio_task_uncancel(cio_current_task());
    CHECK_EQ(rc_seen[0], -ECANCELED);
    CHECK_EQ(rc_seen[1], 0);
    CHECK(cio_cancelled(t));
    cio_release(t);
    /* returning with a cancellation still pending */
    t = cio_spawn(returns_with_pending_cancel, NULL);
    CHECK_EQ(cio_await(t, NULL), -ECANCELED);
    cio_task_uncancel(cio_current_task());
    CHECK(strcmp(cio_error_message(t), "self") == 0);
    cio_release(t);
    /* plain future: cancelled at once, callbacks run, only once */
    fcb_count = 0;
    cio_future *f = cio_future_new(NULL);
    cio_add_done_callback(f, fut_cb, NULL);
    CHECK(cio_cancel(f, "fmsg"));
    CHECK(cio_done(f));
    CHECK(cio_cancelled(f));
    CHECK(!cio_cancel(f, NULL));
    CHECK_EQ(cio_future_set_result(f, NULL), CIO_EINVALSTATE);
    CHECK_EQ(cio_result(f, NULL), -ECANCELED);
    CHECK_EQ(cio_exception(f), -ECANCELED);
    CHECK(strcmp(cio_error_message(f), "fmsg") == 0);
    cio_yield();
    CHECK_EQ(fcb_count, 1);
    cio_release(f);
    /* a cancellation delivered to a task that keeps going and then fails:
     * its own error wins */
    return NULL;
}

static void *ignore_then_fail(void *arg)
{
    (void)arg;
    CHECK_EQ(cio_sleep(30), -ECANCELED);
    CHECK_EQ(cio_sleep(0.001), 0);
    return cio_fail(-EIO, "cleanup failed");
}

static void *t_cancel_then_fail(void *arg)
{
    (void)arg;
    cio_task *t = cio_spawn(ignore_then_fail, NULL);
    cio_yield();
    cio_cancel(t, NULL);
    CHECK_EQ(cio_await(t, NULL), -EIO);
    CHECK(!cio_cancelled(t));
    CHECK(strcmp(cio_error_message(t), "cleanup failed") == 0);
    cio_release(t);
    return NULL;
}

/* The task is cancelled before it got to the await: as Task.__step with
 * _must_cancel set (bpo-34872), the cancellation goes to the awaited future. */
static void *await_after_self_cancel(void *arg)
{
    cio_cancel(cio_current_task(), NULL);
    rc_seen[0] = cio_await(arg, NULL);
    return NULL;
}

static void *t_cancel_pending_at_await(void *arg)
{
    (void)arg;
    cio_future *f = cio_future_new(NULL);
    cio_task *t = cio_spawn(await_after_self_cancel, f);
    CHECK_EQ(cio_await(t, NULL), -ECANCELED);
    cio_task_uncancel(cio_current_task());
    CHECK_EQ(rc_seen[0], -ECANCELED);
    CHECK(cio_cancelled(f)); /* the cancellation went to what it awaited */
    cio_release(f);
    f = cio_future_new(NULL);
    /* on a done future, await does not suspend and does not look at it */
    cio_future_set_result(f, (void *)3);
    t = (cio_release(t), cio_spawn(await_after_self_cancel, f));
    CHECK_EQ(cio_await(t, NULL), -ECANCELED); /* delivered on return */
    cio_task_uncancel(cio_current_task());
    CHECK_EQ(rc_seen[0], 0);
    cio_release(t);
    cio_release(f);
    return NULL;
}


/* ---- catching a cancellation ---------------------------------------------- */

static void *catch_then_timeout(void *arg)
{
    int *out = arg;
    cio_cancel(cio_current_task(), NULL);
    out[0] = cio_sleep(1.0);               /* -ECANCELED */
    out[1] = cio_task_catch_cancel();      /* except CancelledError: pass */
    cio_timeout s;
    cio_timeout_enter(&s, 0.0);
    out[2] = cio_timeout_exit(&s, cio_sleep(1.0)); /* -ETIMEDOUT */
    out[3] = cio_task_cancelling(cio_current_task());
    out[4] = cio_sleep(0.001);             /* nothing pending */
    return (void *)7;
}

static void *sleeper(void *arg)
{
    (void)arg;
    cio_sleep(5.0);
    return NULL;
}

static void *catch_early_then_await(void *arg)
{
    (void)arg;
    cio_task *t = cio_spawn(sleeper, NULL);
    cio_cancel(cio_current_task(), NULL);
    cio_task_catch_cancel();
    int rc = cio_await(t, NULL);
    cio_release(t);
    return rc == -ECANCELED ? NULL : (void *)1;
}

/* asyncio's `except CancelledError: pass` leaves cancelling() as it is; a
 * timeout scope entered afterwards converts its own expiry and leaves the
 * count where it found it (test_timeouts.test_timeout_after_cancellation);
 * the task then ends with its value. */
static void *t_catch_cancel(void *arg)
{
    (void)arg;
    int out[5] = {0};
    cio_task *t = cio_spawn(catch_then_timeout, out);
    void *v;
    CHECK_EQ(cio_await(t, &v), 0);
    CHECK_EQ((intptr_t)v, 7);
    CHECK_EQ(out[0], -ECANCELED);
    CHECK_EQ(out[1], 1);
    CHECK_EQ(out[2], -ETIMEDOUT);
    CHECK_EQ(out[3], 1); /* back to what it was at the scope's entry */
    CHECK_EQ(out[4], 0);
    CHECK(!cio_cancelled(t));
    CHECK_EQ(cio_task_cancelling(t), 1);
    cio_release(t);

    /* after a catch, an -ECANCELED reporting someone else's cancelled future
     * is an ordinary code; a new request counts again */
    cio_cancel(self_task(), NULL);
    CHECK_EQ(cio_yield(), -ECANCELED);
    CHECK_EQ(cio_task_catch_cancel(), 1);
    cio_future *f = cio_future_new(NULL);
    cio_cancel(f, NULL);
    CHECK_EQ(cio_await(f, NULL), -ECANCELED);
    cio_release(f);
    CHECK_EQ(cio_task_cancelling(self_task()), 1);
    cio_cancel(self_task(), NULL);
    CHECK_EQ(cio_yield(), -ECANCELED);
    CHECK_EQ(cio_task_cancelling(self_task()), 2);
    CHECK_EQ(cio_task_uncancel(self_task()), 1);
    CHECK_EQ(cio_task_uncancel(self_task()), 0);
    CHECK_EQ(cio_yield(), 0);

    /* a catch while a request is still undelivered does not catch that one:
     * it goes to the awaited task, and the awaiter ends cancelled */
    cio_task *w = cio_spawn(catch_early_then_await, NULL);
    CHECK_EQ(cio_wait(&w, 1, CIO_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL), 0);
    CHECK(cio_cancelled(w));
    cio_release(w);
    return NULL;
}

int main(void)
{
    /* timers and tasks only (a pipe written before the wait, a signal
     * never sent): every test runs on the virtual clock, so timers due
     * together fire in one expiry and durations are exact under any load */
    setenv("CIO_VIRTUAL_TIME", "1", 1);
    RUN_TASK_TEST(t_cancel_before_start);
    RUN_TASK_TEST(t_cancel_sleep);
    RUN_TASK_TEST(t_cancel_await_future);
    RUN_TASK_TEST(t_cancel_await_task);
    RUN_TASK_TEST(t_cancel_fd_and_signal);
    RUN_TASK_TEST(t_swallow);
    RUN_TASK_TEST(t_cancelling_count);
    RUN_TASK_TEST(t_cancel_twice_delivered_once);
    RUN_TASK_TEST(t_uncancel_partial);
    RUN_TASK_TEST(t_await_cancelled_task);
    RUN_TASK_TEST(t_woken_then_cancelled);
    RUN_TASK_TEST(t_cancel_delivery_edges);
    RUN_TASK_TEST(t_cancel_then_fail);
    RUN_TASK_TEST(t_cancel_pending_at_await);
    RUN_TASK_TEST(t_catch_cancel);
    return check_exit();
}
