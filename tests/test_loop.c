/* SPDX-License-Identifier: MIT */
/* Event loops and callbacks: life cycle, run_until_complete / run_forever /
 * stop, current loop, nested runs, closing with pending work, call_soon /
 * call_later / call_at ordering, handle cancellation, cio_run.
 *
 * Exit 0 = pass. */
/* CIO_TEST: RUN_SERIAL */
#include "check.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int fails_before, fds_before;

static void begin(const char *name)
{
    check_current = name;
    fails_before = check_failures;
    fds_before = check_count_fds();
}

static void end(void)
{
    CHECK_EQ(check_count_fds(), fds_before);
    fprintf(stderr, "%s %s\n", check_failures == fails_before ? "ok  " : "FAIL", check_current);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Callbacks log into check.h's order recorder. */
static void log_cb(void *arg) { order_push((int)(intptr_t)arg); }

static void stop_cb(void *arg) { cio_loop_stop(arg); }

/* ---- life cycle --------------------------------------------------------- */

static void test_new_close(void)
{
    begin("new_close");
    CHECK(cio_loop_current() == NULL);
    cio_loop *l = cio_loop_new();
    CHECK(l != NULL);
    CHECK(!cio_loop_is_running(l));
    CHECK(!cio_loop_is_closed(l));
    /* the back end named by CIO_BACKEND (io_uring may fall back to epoll) */
    const char *want = getenv("CIO_BACKEND");
    const char *be = cio_loop_backend(l);
    if (want && strcmp(want, "poll") == 0)
        CHECK(strcmp(be, "poll") == 0);
    else if (want && (strcmp(want, "io_uring") == 0 || strcmp(want, "uring") == 0))
        CHECK(strcmp(be, "io_uring") == 0 || strcmp(be, "epoll") == 0);
    else
        CHECK(strcmp(be, "epoll") == 0);
    CHECK(!cio_loop_get_debug(l));
    cio_loop_set_debug(l, true);
    CHECK(cio_loop_get_debug(l));
    cio_loop_set_debug(l, false);
    CHECK(cio_loop_current() == NULL); /* cio_loop_new does not make it current */
    check_loop_clean(l);
    CHECK_EQ(cio_loop_close(l), 0);
    CHECK_EQ(cio_loop_close(NULL), CIO_ENOLOOP);
    /* several loops at once in one thread */
    /* epoll by default */
    char *saved = want ? strdup(want) : NULL;
    unsetenv("CIO_BACKEND");
    cio_loop *d = cio_loop_new();
    CHECK(strcmp(cio_loop_backend(d), "epoll") == 0);
    CHECK_EQ(cio_loop_close(d), 0);
    if (saved) {
        setenv("CIO_BACKEND", saved, 1);
        free(saved);
    }
    cio_loop *a = cio_loop_new(), *b = cio_loop_new();
    CHECK(a && b && a != b);
    CHECK_EQ(cio_loop_close(a), 0);
    CHECK_EQ(cio_loop_close(b), 0);
    end();
}

static void set_result_cb(void *arg) { cio_future_set_result(arg, (void *)(intptr_t)1234); }
static void set_error_cb(void *arg) { cio_future_set_error(arg, -EIO, "disk on fire"); }

static void test_run_until_complete(void)
{
    begin("run_until_complete");
    cio_loop *l = cio_loop_new();
    /* result */
    cio_future *f = cio_future_new(l);
    CHECK(f != NULL);
    CHECK(cio_future_loop(f) == l);
    CHECK_EQ(cio_call_soon(l, set_result_cb, f, NULL), 0);
    void *res = NULL;
    CHECK_EQ(cio_loop_run_until_complete(l, f, &res), 0);
    CHECK_EQ((intptr_t)res, 1234);
    CHECK(!cio_loop_is_running(l));
    /* already done: returns at once, same outcome */
    res = NULL;
    CHECK_EQ(cio_loop_run_until_complete(l, f, &res), 0);
    CHECK_EQ((intptr_t)res, 1234);
    cio_release(f);
    /* error */
    f = cio_future_new(l);
    cio_call_soon(l, set_error_cb, f, NULL);
    res = (void *)1;
    CHECK_EQ(cio_loop_run_until_complete(l, f, &res), -EIO);
    CHECK(res == NULL);
    CHECK(cio_error_message(f) && strcmp(cio_error_message(f), "disk on fire") == 0);
    cio_release(f);
    /* cancelled */
    f = cio_future_new(l);
    cio_cancel(f, "bye");
    CHECK_EQ(cio_loop_run_until_complete(l, f, NULL), -ECANCELED);
    cio_release(f);
    /* stopped before the future is done */
    f = cio_future_new(l);
    cio_call_soon(l, stop_cb, l, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, f, &res), CIO_EINVALSTATE);
    CHECK(!cio_done(f));
    /* and it can be run again afterwards */
    cio_call_soon(l, set_result_cb, f, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, f, &res), 0);
    CHECK_EQ((intptr_t)res, 1234);
    cio_release(f);
    check_loop_clean(l);
    CHECK_EQ(cio_loop_close(l), 0);
    end();
}

static void *ret_value_task(void *arg) { return (void *)((intptr_t)arg * 2); }
static void *ret_error_task(void *arg)
{
    (void)arg;
    return cio_fail(-ENOSPC, "no room for %d", 7);
}

static void test_run_until_complete_task(void)
{
    begin("run_until_complete_task");
    cio_loop *l = cio_loop_new();
    cio_task *t = cio_spawn_ex(l, ret_value_task, (void *)21, NULL);
    CHECK(t != NULL);
    void *res = NULL;
    CHECK_EQ(cio_loop_run_until_complete(l, t, &res), 0);
    CHECK_EQ((intptr_t)res, 42);
    cio_release(t);
    t = cio_spawn_ex(l, ret_error_task, NULL, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, t, &res), -ENOSPC);
    CHECK(cio_error_message(t) && strcmp(cio_error_message(t), "no room for 7") == 0);
    cio_release(t);
    /* one more iteration for the reaping */
    check_run_briefly(l);
    check_loop_clean(l);
    CHECK_EQ(cio_loop_close(l), 0);
    end();
}

static bool running_seen;
static void running_cb(void *arg)
{
    running_seen = cio_loop_is_running(arg) && cio_loop_current() == arg;
}

static void stop_and_schedule_cb(void *arg)
{
    cio_loop *l = arg;
    log_cb((void *)1);
    cio_loop_stop(l);
    /* scheduled during the last iteration: runs on the next run, not now */
    cio_call_soon(l, log_cb, (void *)3, NULL);
}

static void test_run_forever_stop(void)
{
    begin("run_forever_stop");
    cio_loop *l = cio_loop_new();
    norder = 0;
    running_seen = false;
    cio_call_soon(l, running_cb, l, NULL);
    cio_call_soon(l, stop_and_schedule_cb, l, NULL);
    /* already scheduled when stop() is called: still runs in this iteration */
    cio_call_soon(l, log_cb, (void *)2, NULL);
    CHECK_EQ(cio_loop_run_forever(l), 0);
    CHECK(running_seen);
    CHECK(!cio_loop_is_running(l));
    CHECK_EQ(norder, 2);
    CHECK_EQ(order[0], 1);
    CHECK_EQ(order[1], 2);
    /* stop from a timer: the loop blocks in the back end until then */
    double t0 = now();
    cio_call_later(l, 0.05, stop_cb, l, NULL);
    CHECK_EQ(cio_loop_run_forever(l), 0);
    double dt = now() - t0;
    CHECK(dt >= 0.05); /* never early; late is the machine's business */
    CHECK_EQ(norder, 3); /* the leftover callback ran on this second run */
    CHECK_EQ(order[2], 3);
    check_loop_clean(l);
    CHECK_EQ(cio_loop_close(l), 0);
    end();
}

static void *stopper_thread(void *arg)
{
    usleep(50000);
    CHECK_EQ(cio_loop_stop_threadsafe(arg), 0);
    return NULL;
}

static void test_stop_threadsafe(void)
{
    begin("stop_threadsafe");
    cio_loop *l = cio_loop_new();
    pthread_t th;
    double t0 = now();
    pthread_create(&th, NULL, stopper_thread, l);
    CHECK_EQ(cio_loop_run_forever(l), 0); /* blocks in epoll_wait until the other thread wakes it */
    double dt = now() - t0;
    pthread_join(th, NULL);
    CHECK(dt >= 0.045);
    check_loop_clean(l);
    CHECK_EQ(cio_loop_close(l), 0);
    end();
}

static void test_time(void)
{
    begin("time");
    cio_loop *l = cio_loop_new();
    double prev = cio_loop_time(l);
    for (int i = 0; i < 100000; i++) {
        double t = cio_loop_time(l);
        CHECK(t >= prev);
        if (t < prev)
            break;
        prev = t;
    }
    /* CLOCK_MONOTONIC */
    double a = now(), t = cio_loop_time(l), b = now();
    CHECK(t >= a - 1e-6 && t <= b + 1e-6);
    usleep(20000);
    CHECK(cio_loop_time(l) - t >= 0.019);
    /* cio_time() outside a running loop: the current loop's clock, here
     * none: CLOCK_MONOTONIC */
    a = now();
    t = cio_time();
    b = now();
    CHECK(t >= a - 1e-6 && t <= b + 1e-6);
    CHECK_EQ(cio_loop_close(l), 0);
    end();
}

/* ---- current loop, nested runs ------------------------------------------ */

static cio_loop *other_loop;

static void *current_task_fn(void *arg)
{
    cio_loop *l = arg;
    CHECK(cio_loop_current() == l); /* the running loop wins over set_current */
    CHECK_EQ(cio_loop_set_current(other_loop), CIO_ERUNNING);
    CHECK_EQ(cio_loop_set_current(l), 0);
    /* nested runs are refused, on this loop and on any other */
    cio_future *f = cio_future_new(l);
    CHECK_EQ(cio_loop_run_until_complete(l, f, NULL), CIO_ERUNNING);
    CHECK_EQ(cio_loop_run_forever(l), CIO_ERUNNING);
    cio_future *g = cio_future_new(other_loop);
    CHECK_EQ(cio_loop_run_until_complete(other_loop, g, NULL), CIO_ERUNNING);
    CHECK_EQ(cio_loop_run_forever(other_loop), CIO_ERUNNING);
    CHECK(!cio_loop_is_running(other_loop));
    cio_release(g);
    cio_release(f);
    /* closing the running loop is refused */
    CHECK_EQ(cio_loop_close(l), CIO_ERUNNING);
    CHECK(!cio_loop_is_closed(l));
    CHECK(cio_loop_is_running(l));
    /* cio_run inside a running loop is refused */
    CHECK_EQ(cio_run(ret_value_task, NULL, NULL), CIO_ERUNNING);
    return (void *)7;
}

static void test_current(void)
{
    begin("current");
    cio_loop *l = cio_loop_new();
    other_loop = cio_loop_new();
    CHECK(cio_loop_current() == NULL);
    CHECK_EQ(cio_loop_set_current(other_loop), 0);
    CHECK(cio_loop_current() == other_loop);
    /* spawn with NULL loop uses the current one */
    cio_task *t = cio_spawn_ex(l, current_task_fn, l, NULL);
    void *res = NULL;
    CHECK_EQ(cio_loop_run_until_complete(l, t, &res), 0);
    CHECK_EQ((intptr_t)res, 7);
    cio_release(t);
    /* the loop set from inside the task stays current */
    CHECK(cio_loop_current() == l);
    CHECK_EQ(cio_loop_set_current(NULL), 0);
    CHECK(cio_loop_current() == NULL);
    cio_loop_set_current(other_loop);
    CHECK_EQ(cio_loop_close(other_loop), 0);
    CHECK(cio_loop_current() == NULL); /* closing the current loop clears it */
    /* future_new / spawn without a current loop */
    errno = 0;
    CHECK(cio_future_new(NULL) == NULL);
    CHECK_EQ(errno, -CIO_ENOLOOP);
    errno = 0;
    CHECK(cio_spawn(ret_value_task, NULL) == NULL);
    CHECK_EQ(errno, -CIO_ENOLOOP);
    CHECK_EQ(cio_call_soon(NULL, log_cb, NULL, NULL), CIO_ENOLOOP);
    CHECK_EQ(cio_loop_close(l), 0);
    end();
}

/* ---- closing a loop with pending work ----------------------------------- */

static int cleanup_ran;
static void *sleeper_task(void *arg)
{
    (void)arg;
    cio_sleep(100);
    cleanup_ran++; /* never: the task is abandoned, not resumed */
    return NULL;
}

static void *awaiter_task(void *arg)
{
    cio_await(arg, NULL);
    cleanup_ran++;
    return NULL;
}

static void *fd_waiter_task(void *arg)
{
    cio_wait_readable((int)(intptr_t)arg);
    cleanup_ran++;
    return NULL;
}

static int done_cb_calls;
static void count_done_cb(cio_future *f, void *arg)
{
    (void)f;
    (void)arg;
    done_cb_calls++;
}

static void test_close_pending(void)
{
    begin("close_pending");
    cio_loop *l = cio_loop_new();
    cleanup_ran = 0;
    done_cb_calls = 0;
    int p[2];
    CHECK_EQ(pipe(p), 0);
    cio_future *fut = cio_future_new(l);
    cio_task *sleeper = cio_spawn_ex(l, sleeper_task, NULL, &(cio_task_opts){.name = "sleeper"});
    cio_task *awaiter = cio_spawn_ex(l, awaiter_task, fut, &(cio_task_opts){.name = "awaiter"});
    cio_task *awaiter2 = cio_spawn_ex(l, awaiter_task, sleeper, NULL); /* awaits a task */
    cio_task *fdw = cio_spawn_ex(l, fd_waiter_task, (void *)(intptr_t)p[0], NULL);
    cio_task *lazy = cio_spawn_ex(l, sleeper_task, NULL, &(cio_task_opts){.flags = CIO_TASK_LAZY});
    cio_add_done_callback(awaiter, count_done_cb, NULL);
    /* run until all are parked */
    cio_future *f = cio_future_new(l);
    cio_call_later(l, 0.01, check_set_done, f, NULL);
    cio_loop_run_until_complete(l, f, NULL);
    cio_release(f);
    CHECK_EQ(cio_task_state(sleeper), CIO_TASK_SUSPENDED);
    CHECK_EQ(cio_task_state(awaiter), CIO_TASK_SUSPENDED);
    /* not started ones too, and callbacks that never ran */
    cio_task *never = cio_spawn_ex(l, sleeper_task, NULL, NULL);
    cio_call_soon(l, log_cb, NULL, NULL);
    cio_call_later(l, 100, log_cb, NULL, NULL);
    cio_handle *h;
    cio_call_later(l, 50, log_cb, NULL, &h);
    size_t n = cio_all_tasks(l, NULL, 0);
    CHECK_EQ(n, 6);
    CHECK_EQ(cio_loop_close(l), 0);
    CHECK_EQ(cleanup_ran, 0);
    CHECK_EQ(done_cb_calls, 0);
    /* the references held are still valid, detached from the loop */
    CHECK(cio_future_loop(sleeper) == NULL);
    CHECK(cio_future_loop(fut) == NULL);
    CHECK(strcmp(cio_task_name(sleeper), "sleeper") == 0);
    CHECK(strcmp(cio_task_name(awaiter), "awaiter") == 0);
    char want[32]; /* an unnamed one's default name, made after the close */
    snprintf(want, sizeof want, "Task-%llu", (unsigned long long)cio_task_id(never));
    CHECK(strcmp(cio_task_name(never), want) == 0);
    CHECK(!cio_cancel(sleeper, NULL)); /* nothing to cancel any more */
    CHECK_EQ(cio_task_start(lazy), CIO_ELOOPCLOSED);
    /* completing a future a dead task was awaiting must not touch that
     * task's (freed) stack */
    CHECK_EQ(cio_future_set_result(fut, NULL), 0);
    CHECK(cio_done(fut));
    cio_handle_release(h);
    cio_release(fut);
    cio_release(sleeper);
    cio_release(awaiter);
    cio_release(awaiter2);
    cio_release(fdw);
    cio_release(lazy);
    cio_release(never);
    close(p[0]);
    close(p[1]);
    end();
}

/* Releasing a pending future after its loop closed, while a dead task's
 * await hook is still linked to it. */
static void test_close_pending_release(void)
{
    begin("close_pending_release");
    cio_loop *l = cio_loop_new();
    cio_future *fut = cio_future_new(l);
    cio_task *a = cio_spawn_ex(l, awaiter_task, fut, NULL);
    cio_task *b = cio_spawn_ex(l, awaiter_task, a, NULL);
    cio_future *f = cio_future_new(l);
    cio_call_later(l, 0.005, check_set_done, f, NULL);
    cio_loop_run_until_complete(l, f, NULL);
    cio_release(f);
    CHECK_EQ(cio_loop_close(l), 0);
    cio_release(fut);
    cio_release(a);
    cio_release(b);
    end();
}

/* ---- callbacks ---------------------------------------------------------- */

static void run_briefly(cio_loop *l, double secs)
{
    cio_future *f = cio_future_new(l);
    cio_call_later(l, secs, check_set_done, f, NULL);
    cio_loop_run_until_complete(l, f, NULL);
    cio_release(f);
}

static void test_call_soon_fifo(void)
{
    begin("call_soon_fifo");
    cio_loop *l = cio_loop_new();
    norder = 0;
    for (int i = 0; i < 200; i++)
        CHECK_EQ(cio_call_soon(l, log_cb, (void *)(intptr_t)i, NULL), 0);
    run_briefly(l, 0);
    CHECK_EQ(norder, 200);
    for (int i = 0; i < 200; i++)
        CHECK_EQ(order[i], i);
    check_loop_clean(l);
    cio_loop_close(l);
    end();
}

static void test_call_later_order(void)
{
    begin("call_later_order");
    cio_loop *l = cio_loop_new();
    norder = 0;
    double t = cio_loop_time(l);
    cio_call_later(l, 0.030, log_cb, (void *)4, NULL);
    cio_call_later(l, 0.010, log_cb, (void *)1, NULL);
    cio_call_later(l, 0.020, log_cb, (void *)3, NULL);
    cio_call_at(l, t + 0.015, log_cb, (void *)2, NULL);
    cio_call_later(l, 0, log_cb, (void *)0, NULL);
    cio_call_later(l, -5, log_cb, (void *)-1, NULL); /* negative delay: as 0 */
    /* same deadline: scheduling order */
    double same = t + 0.040;
    for (int i = 10; i < 20; i++)
        cio_call_at(l, same, log_cb, (void *)(intptr_t)i, NULL);
    /* a later deadline scheduled first still comes after */
    cio_call_at(l, same + 0.001, log_cb, (void *)30, NULL);
    cio_call_at(l, same - 0.001, log_cb, (void *)5, NULL);
    /* let everything become due at once, then run one iteration: the wheel
     * must still hand them out in deadline order */
    usleep(60000);
    run_briefly(l, 0);
    int want[] = {0, -1, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 30};
    CHECK_EQ(norder, (int)(sizeof want / sizeof want[0]));
    for (int i = 0; i < norder && i < (int)(sizeof want / sizeof want[0]); i++)
        CHECK_EQ(order[i], want[i]);
    /* and when they become due over time */
    norder = 0;
    t = cio_loop_time(l);
    cio_call_later(l, 0.03, log_cb, (void *)3, NULL);
    cio_call_later(l, 0.01, log_cb, (void *)1, NULL);
    cio_call_later(l, 0.02, log_cb, (void *)2, NULL);
    cio_call_at(l, t + 0.02, log_cb, (void *)22, NULL);
    run_briefly(l, 0.05);
    CHECK_EQ(norder, 4);
    CHECK_EQ(order[0], 1);
    CHECK_EQ(order[1], 22); /* t + 0.02 comes before (a later now) + 0.02 */
    CHECK_EQ(order[2], 2);
    CHECK_EQ(order[3], 3);
    check_loop_clean(l);
    cio_loop_close(l);
    end();
}

typedef struct timed {
    cio_loop *l;
    double when;
    double ran_at;
    int runs;
} timed;

static void timed_cb(void *arg)
{
    timed *t = arg;
    t->ran_at = cio_loop_time(t->l);
    t->runs++;
}

static void test_call_at_never_early(void)
{
    begin("call_at_never_early");
    cio_loop *l = cio_loop_new();
    timed ts[20];
    double base = cio_loop_time(l);
    for (int i = 0; i < 20; i++) {
        ts[i] = (timed){.l = l, .when = base + 0.001 * (i * 3 + 1) + 0.0003 * (i % 3)};
        cio_handle *h;
        CHECK_EQ(cio_call_at(l, ts[i].when, timed_cb, &ts[i], &h), 0);
        CHECK(cio_handle_when(h) == ts[i].when);
        cio_handle_release(h);
    }
    run_briefly(l, 0.1);
    for (int i = 0; i < 20; i++) {
        CHECK_EQ(ts[i].runs, 1);
        CHECK(ts[i].ran_at >= ts[i].when);
        CHECK(ts[i].ran_at < ts[i].when + 2.0); /* ran, not a wheel tick late: generously */
    }
    /* call_later's handle when */
    cio_handle *h;
    double t0 = cio_loop_time(l);
    cio_call_later(l, 0.5, log_cb, NULL, &h);
    double t1 = cio_loop_time(l);
    CHECK(cio_handle_when(h) >= t0 + 0.5 && cio_handle_when(h) <= t1 + 0.5);
    cio_handle_cancel(h);
    /* call_soon's handle when: the time it was scheduled */
    t0 = cio_loop_time(l);
    cio_call_soon(l, log_cb, NULL, &h);
    t1 = cio_loop_time(l);
    CHECK(cio_handle_when(h) >= t0 && cio_handle_when(h) <= t1);
    cio_handle_cancel(h);
    run_briefly(l, 0);
    check_loop_clean(l);
    cio_loop_close(l);
    end();
}

static void test_handle_cancel(void)
{
    begin("handle_cancel");
    cio_loop *l = cio_loop_new();
    norder = 0;
    cio_handle *a, *b, *c, *d;
    CHECK_EQ(cio_call_soon(l, log_cb, (void *)1, &a), 0);
    CHECK_EQ(cio_call_later(l, 0.01, log_cb, (void *)2, &b), 0);
    CHECK_EQ(cio_call_at(l, cio_loop_time(l) + 0.01, log_cb, (void *)3, &c), 0);
    CHECK_EQ(cio_call_soon(l, log_cb, (void *)4, &d), 0);
    CHECK(!cio_handle_cancelled(a));
    CHECK(!cio_handle_cancelled(b));
    cio_handle_cancel(a); /* gives back our reference too */
    cio_handle_cancel(b);
    cio_handle_cancel(c);
    /* a timer whose deadline already passed, cancelled before the loop ran */
    cio_handle *e;
    cio_call_later(l, 0.001, log_cb, (void *)5, &e);
    usleep(5000);
    cio_handle_cancel(e);
    run_briefly(l, 0.03);
    CHECK_EQ(norder, 1);
    CHECK_EQ(order[0], 4);
    /* after it ran, the handle is not "cancelled" (Handle.cancelled()) and
     * cancelling it is a no-op */
    CHECK(!cio_handle_cancelled(d));
    cio_handle_cancel(d);
    cio_handle_cancel(NULL);
    cio_handle_release(NULL);
    check_loop_clean(l);
    cio_loop_close(l);
    end();
}

typedef struct selfc {
    cio_handle *self;
    cio_handle *other;
    int runs;
    bool cancelled_inside;
} selfc;

static void self_cancel_cb(void *arg)
{
    selfc *s = arg;
    s->runs++;
    cio_handle_cancel(s->self); /* its own handle, from inside: safe */
}

static void cancel_other_cb(void *arg)
{
    selfc *s = arg;
    s->runs++;
    cio_handle_cancel(s->other);
    s->other = NULL;
}

static void other_cb(void *arg)
{
    selfc *s = arg;
    s->runs += 100;
}

static void cancelled_inside_cb(void *arg)
{
    selfc *s = arg;
    s->runs++;
    CHECK(!cio_handle_cancelled(s->self)); /* running is not cancelled */
    cio_handle *self = s->self;
    cio_handle_cancel(self); /* gives back our reference; the loop holds its own while running */
    /* asyncio: cancel() inside the callback marks the handle cancelled */
    s->cancelled_inside = cio_handle_cancelled(self);
}

static void test_timer_cancel_inside(void)
{
    begin("timer_cancel_inside");
    cio_loop *l = cio_loop_new();
    /* a timer cancelling itself from its callback */
    selfc s1 = {0};
    cio_call_later(l, 0.005, self_cancel_cb, &s1, &s1.self);
    /* a call_soon handle cancelling itself */
    selfc s2 = {0};
    cio_call_soon(l, self_cancel_cb, &s2, &s2.self);
    run_briefly(l, 0.02);
    CHECK_EQ(s1.runs, 1);
    CHECK_EQ(s2.runs, 1);
    /* a timer cancelling another one due in the same iteration */
    selfc s3 = {0};
    double when = cio_loop_time(l) + 0.005;
    cio_call_at(l, when, cancel_other_cb, &s3, NULL);
    cio_call_at(l, when, other_cb, &s3, &s3.other);
    usleep(20000); /* both are past due before the loop looks */
    run_briefly(l, 0);
    CHECK_EQ(s3.runs, 1);
    /* the same with the victim due slightly later but in the same expiry */
    selfc s4 = {0};
    when = cio_loop_time(l) + 0.005;
    cio_call_at(l, when, cancel_other_cb, &s4, NULL);
    cio_call_at(l, when + 0.002, other_cb, &s4, &s4.other);
    usleep(20000);
    run_briefly(l, 0);
    CHECK_EQ(s4.runs, 1);
    /* and the victim scheduled first (runs first: nothing to cancel) */
    selfc s5 = {0};
    when = cio_loop_time(l) + 0.005;
    cio_handle *v;
    cio_call_at(l, when, other_cb, &s5, &v);
    s5.other = v;
    cio_handle_release(v); /* the loop keeps its own */
    s5.other = NULL;
    run_briefly(l, 0.02);
    CHECK_EQ(s5.runs, 100);
    selfc s6 = {0};
    cio_call_soon(l, cancelled_inside_cb, &s6, &s6.self);
    run_briefly(l, 0);
    CHECK_EQ(s6.runs, 1);
    CHECK(s6.cancelled_inside);
    check_loop_clean(l);
    cio_loop_close(l);
    end();
}

/* ---- cio_run ------------------------------------------------------------ */

static int run_cleanups;
static void *run_child(void *arg)
{
    (void)arg;
    int rc = cio_sleep(100);
    CHECK_EQ(rc, -ECANCELED);
    /* cleanup may still suspend (await in a finally block) */
    CHECK_EQ(cio_sleep(0.01), 0);
    run_cleanups++;
    return NULL;
}

static void *run_main_ok(void *arg)
{
    CHECK(cio_loop_current() != NULL);
    for (int i = 0; i < 3; i++) {
        cio_task *c = cio_spawn(run_child, NULL);
        cio_release(c); /* keeps running */
    }
    CHECK_EQ(cio_sleep(0.01), 0);
    return (void *)((intptr_t)arg + 1);
}

static void *run_main_fail(void *arg)
{
    (void)arg;
    cio_task *c = cio_spawn(run_child, NULL);
    cio_release(c);
    cio_sleep(0.005);
    return cio_fail(-EPROTO, "main failed");
}

static void *run_main_cancelled(void *arg)
{
    (void)arg;
    cio_cancel(cio_current_task(), NULL);
    cio_sleep(1);
    return NULL;
}

static void test_cio_run(void)
{
    begin("cio_run");
    run_cleanups = 0;
    void *res = NULL;
    CHECK_EQ(cio_run(run_main_ok, (void *)41, &res), 0);
    CHECK_EQ((intptr_t)res, 42);
    CHECK_EQ(run_cleanups, 3); /* leftover tasks were cancelled and awaited */
    CHECK(cio_loop_current() == NULL);
    run_cleanups = 0;
    res = (void *)1;
    CHECK_EQ(cio_run(run_main_fail, NULL, &res), -EPROTO);
    CHECK(res == NULL);
    CHECK_EQ(run_cleanups, 1);
    CHECK_EQ(cio_run(run_main_cancelled, NULL, NULL), -ECANCELED);
    /* cio_run restores the thread's current loop */
    cio_loop *l = cio_loop_new();
    cio_loop_set_current(l);
    CHECK_EQ(cio_run(ret_value_task, (void *)1, &res), 0);
    CHECK_EQ((intptr_t)res, 2);
    CHECK(cio_loop_current() == l);
    cio_loop_close(l);
    end();
}

/* A lazily created task that was never started must not make cio_run hang
 * when it cancels the leftovers. Run in a child with an alarm. */
static void *run_main_lazy(void *arg)
{
    (void)arg;
    cio_task *c = cio_spawn_ex(NULL, run_child, NULL, &(cio_task_opts){.flags = CIO_TASK_LAZY});
    cio_release(c);
    return (void *)5;
}

static void test_cio_run_lazy_leftover(void)
{
    begin("cio_run_lazy_leftover");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(5);
        void *res = NULL;
        int rc = cio_run(run_main_lazy, NULL, &res);
        _exit(rc == 0 && (intptr_t)res == 5 ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    end();
}

/* Failure injection: no file descriptors left.  In a child, with only
 * fds 0-3 open and RLIMIT_NOFILE set just above them. */
static void *noop_task(void *arg) { return arg; }

static int fd_exhaustion_child(void)
{
    setenv("CIO_BACKEND", "epoll", 1); /* one fd for the back end */
    for (int fd = 4; fd < 1024; fd++)
        close(fd);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    /* nothing left: the back end cannot start */
    rl.rlim_cur = 4;
    setrlimit(RLIMIT_NOFILE, &rl);
    errno = 0;
    if (cio_loop_new() != NULL || errno != EMFILE)
        return 10;
    /* one left: epoll works, the eventfd does not; nothing may leak */
    rl.rlim_cur = 5;
    setrlimit(RLIMIT_NOFILE, &rl);
    errno = 0;
    if (cio_loop_new() != NULL || errno != EMFILE)
        return 11;
    int probe = dup(0);
    if (probe != 4) /* the epoll fd was given back */
        return 12;
    close(probe);
    /* two: the loop starts; the signal pipe cannot be made */
    rl.rlim_cur = 6;
    setrlimit(RLIMIT_NOFILE, &rl);
    cio_loop *l = cio_loop_new();
    if (!l)
        return 13;
    if (cio_add_signal_handler(l, SIGUSR1, log_cb, NULL) != -EMFILE)
        return 14;
    /* and the loop still works */
    cio_task *t = cio_spawn_ex(l, noop_task, (void *)3, NULL);
    void *v = NULL;
    if (cio_loop_run_until_complete(l, t, &v) != 0 || v != (void *)3)
        return 15;
    cio_release(t);
    if (cio_loop_close(l) != 0)
        return 16;
    probe = dup(0);
    if (probe != 4)
        return 17;
    close(probe);
    return 0;
}

static void test_fd_exhaustion(void)
{
    begin("fd_exhaustion");
    fflush(NULL);
    int p[2];
    CHECK_EQ(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 3); /* fd 3: keeps the numbers dense */
        alarm(10);
        _exit(fd_exhaustion_child());
    }
    close(p[1]);
    close(p[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);
    end();
}

/* ---- spinning before sleeping (cio_loop_set_spin) ---- */

struct spin_case {
    int pipe[2];
    pid_t loop_tid;
    bool wait_sleep; /* the writer waits until the loop's thread sleeps */
    bool saw_sleep;
    long nvcsw; /* the loop thread's voluntary context switches during its wait */
};

/* The state letter of thread tid ('R', 'S'...), from /proc. */
static char thread_state(pid_t tid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* after the command name */
    return p && p[1] == ' ' ? p[2] : '?';
}

static void *spin_writer(void *arg)
{
    struct spin_case *c = arg;
    if (c->wait_sleep) { /* up to 10 s for the loop to give up spinning */
        for (int i = 0; i < 10000 && !c->saw_sleep; i++) {
            c->saw_sleep = thread_state(c->loop_tid) == 'S';
            usleep(1000);
        }
    } else {
        usleep(20000);
    }
    CHECK_EQ(write(c->pipe[1], "x", 1), 1);
    return NULL;
}

static long voluntary_switches(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_nvcsw;
}

static void *spin_task(void *arg)
{
    struct spin_case *c = arg;
    c->loop_tid = gettid();
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, spin_writer, c), 0);
    long before = voluntary_switches();
    CHECK_EQ(cio_wait_readable(c->pipe[0]), CIO_READABLE);
    c->nvcsw = voluntary_switches() - before;
    pthread_join(th, NULL);
    return NULL;
}

/* One wait of a task on a pipe that another thread writes to, on loop l
 * with the given spin. */
static void spin_wait(cio_loop *l, double spin, struct spin_case *c)
{
    cio_loop_set_spin(l, spin);
    CHECK_EQ(pipe(c->pipe), 0);
    cio_task *t = cio_spawn_ex(l, spin_task, c, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), 0);
    cio_release(t);
    cio_fd_forget(l, c->pipe[0]); /* the next wait's pipe may reuse the number */
    close(c->pipe[0]);
    close(c->pipe[1]);
}

static void spin_run(double spin, struct spin_case *c)
{
    cio_loop *l = cio_loop_new();
    CHECK(l != NULL);
    spin_wait(l, spin, c);
    CHECK_EQ(cio_loop_close(l), 0);
}

static void *sleep_task(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)cio_sleep(0.05);
}

static void test_spin(void)
{
    begin("spin");
    /* a 10 s spin: the loop's thread never sleeps while a writer takes 20 ms */
    struct spin_case c = {0};
    spin_run(10, &c);
    CHECK_EQ(c.nvcsw, 0);
    /* a 50 ms spin ends: the thread then sleeps until the write wakes it */
    struct spin_case c2 = {.wait_sleep = true};
    spin_run(0.05, &c2);
    CHECK(c2.saw_sleep);
    CHECK(c2.nvcsw >= 1);
    /* no spin (0): it sleeps at once */
    struct spin_case c3 = {.wait_sleep = true};
    spin_run(0, &c3);
    CHECK(c3.saw_sleep);
    /* adaptive: after two spins in a row that caught nothing, the next
     * wait sleeps at once, though the spin is now 100 s */
    cio_loop *l = cio_loop_new();
    CHECK(l != NULL);
    for (int i = 0; i < 3; i++) {
        struct spin_case ci = {.wait_sleep = true};
        spin_wait(l, i < 2 ? 0.01 : 100, &ci);
        CHECK(ci.saw_sleep);
    }
    CHECK_EQ(cio_loop_close(l), 0);
    /* never past the next timer: a 50 ms sleep under a 100 s spin */
    l = cio_loop_new();
    CHECK(l != NULL);
    cio_loop_set_spin(l, 100);
    double t0 = now();
    cio_task *t = cio_spawn_ex(l, sleep_task, NULL, NULL);
    void *v = (void *)1;
    CHECK_EQ(cio_loop_run_until_complete(l, t, &v), 0);
    CHECK(v == NULL);
    CHECK(now() - t0 < 50); /* not the spin's 100 s */
    cio_release(t);
    CHECK_EQ(cio_loop_close(l), 0);
    end();
}

int main(void)
{
    RUN_TEST(test_new_close);
    RUN_TEST(test_run_until_complete);
    RUN_TEST(test_run_until_complete_task);
    RUN_TEST(test_run_forever_stop);
    RUN_TEST(test_stop_threadsafe);
    RUN_TEST(test_time);
    RUN_TEST(test_current);
    RUN_TEST(test_close_pending);
    RUN_TEST(test_close_pending_release);
    RUN_TEST(test_call_soon_fifo);
    RUN_TEST(test_call_later_order);
    RUN_TEST(test_call_at_never_early);
    RUN_TEST(test_handle_cancel);
    RUN_TEST(test_timer_cancel_inside);
    RUN_TEST(test_cio_run);
    RUN_TEST(test_cio_run_lazy_leftover);
    RUN_TEST(test_fd_exhaustion);
    RUN_TEST(test_spin);
    return check_exit();
}
