/* SPDX-License-Identifier: MIT */
/* Virtual time (CIO_LOOP_VIRTUAL_TIME, CIO_VIRTUAL_TIME=1): timers fire in
 * order at exactly their loop times, long sleeps take no real time, timeouts
 * and wait_for work on it, and I/O that is already there is handled before
 * the clock jumps.
 *
 * Real time is bounded from above only, generously (a virtual hour must not
 * take a real minute).  Exit 0 = pass. */
#include "check.h"

#include <math.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

/* loop times are equal to the nanosecond (doubles of ~1e5 s: 1e-6 margin) */
#define CHECK_TIME(got, want) CHECK(fabs((got) - (want)) < 1e-6)

static double real_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static cio_loop *vloop(void)
{
    cio_loop *l = cio_loop_new_ex(&(cio_loop_opts){.flags = CIO_LOOP_VIRTUAL_TIME});
    CHECK(l != NULL);
    return l;
}

/* Runs fn as the main task of a fresh virtual-time loop, with the leak
 * checks of RUN_TASK_TEST, and bounds its real time. */
static void run_virtual(const char *name, cio_task_fn fn)
{
    double r0 = real_now();
    setenv("CIO_VIRTUAL_TIME", "1", 1);
    check_run_task_test(name, fn);
    unsetenv("CIO_VIRTUAL_TIME");
    CHECK(real_now() - r0 < 60);
}
#define RUN_VIRTUAL_TEST(fn)                                                                         \
    do {                                                                                             \
        if (check_selected(#fn))                                                                     \
            run_virtual(#fn, fn);                                                                    \
    } while (0)

/* ---- timers --------------------------------------------------------------- */

typedef struct stamp {
    cio_loop *loop;
    int id;
    double at;
} stamp;

static void stamp_cb(void *arg)
{
    stamp *s = arg;
    s->at = cio_loop_time(s->loop);
    order_push(s->id);
}

static void stop_cb(void *arg) { cio_loop_stop(arg); }

static void test_timers_in_order(void)
{
    check_current = "timers_in_order";
    double r0 = real_now();
    cio_loop *l = vloop();
    double t0 = cio_loop_time(l);
    /* the clock does not move by itself */
    usleep(2000);
    CHECK_TIME(cio_loop_time(l), t0);
    order_reset();
    stamp s[6];
    double delays[6] = {30, 10, 20, 10, 0.5, 7200};
    for (int i = 0; i < 6; i++) {
        s[i] = (stamp){l, i + 1, -1};
        if (i == 4) /* call_at */
            CHECK_EQ(cio_call_at(l, t0 + delays[i], stamp_cb, &s[i], NULL), 0);
        else
            CHECK_EQ(cio_call_later(l, delays[i], stamp_cb, &s[i], NULL), 0);
    }
    cio_handle *h;
    stamp never = {l, 99, -1};
    CHECK_EQ(cio_call_later(l, 15, stamp_cb, &never, &h), 0);
    CHECK_TIME(cio_handle_when(h), t0 + 15);
    cio_handle_cancel(h);
    CHECK_EQ(cio_call_later(l, 7200, stop_cb, l, NULL), 0);
    CHECK_EQ(cio_loop_run_forever(l), 0);
    CHECK_ORDER(5, 2, 4, 3, 1, 6);
    for (int i = 0; i < 6; i++)
        CHECK_TIME(s[i].at, t0 + delays[i]);
    CHECK_TIME(cio_loop_time(l), t0 + 7200);
    CHECK_EQ(never.at, -1);
    check_loop_clean(l);
    CHECK_EQ(cio_loop_close(l), 0);
    CHECK(real_now() - r0 < 60);
    fprintf(stderr, "%s %s\n", check_failures ? "FAIL" : "ok  ", check_current);
}

/* ---- sleeping ------------------------------------------------------------- */

static void *t_sleep_hour(void *arg)
{
    (void)arg;
    double r0 = real_now(), t0 = cio_time();
    CHECK_TIME(cio_time(), cio_loop_time(cio_loop_current()));
    CHECK_EQ(cio_sleep(3600), 0);
    CHECK_TIME(cio_time(), t0 + 3600);
    CHECK(real_now() - r0 < 60);
    /* sleep(0) and running code take no loop time */
    CHECK_EQ(cio_sleep(0), 0);
    for (volatile int i = 0; i < 1000000; i++) {
    }
    CHECK_TIME(cio_time(), t0 + 3600);
    /* many short sleeps add up exactly */
    for (int i = 0; i < 1000; i++)
        CHECK_EQ(cio_sleep(0.001), 0);
    CHECK_TIME(cio_time(), t0 + 3601);
    return NULL;
}

typedef struct sleeper {
    double secs, woke;
    int id;
} sleeper;

static void *sleeper_fn(void *arg)
{
    sleeper *s = arg;
    CHECK_EQ(cio_sleep(s->secs), 0);
    s->woke = cio_time();
    order_push(s->id);
    return NULL;
}

/* concurrent sleeps overlap: the longest decides, not the sum */
static void *t_concurrent_sleeps(void *arg)
{
    (void)arg;
    order_reset();
    double t0 = cio_time();
    sleeper s[4] = {{4, 0, 1}, {1, 0, 2}, {3, 0, 3}, {1, 0, 4}};
    cio_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = cio_spawn(sleeper_fn, &s[i]);
    CHECK_EQ(cio_gather(t, 4, NULL, NULL, 0), 0);
    CHECK_ORDER(2, 4, 3, 1);
    for (int i = 0; i < 4; i++) {
        CHECK_TIME(s[i].woke, t0 + s[i].secs);
        cio_release(t[i]);
    }
    CHECK_TIME(cio_time(), t0 + 4);
    return NULL;
}

/* ---- timeouts ------------------------------------------------------------- */

static void *sleep_arg(void *arg)
{
    cio_sleep(*(double *)arg);
    return arg;
}

static void *t_timeouts(void *arg)
{
    (void)arg;
    double t0 = cio_time();
    /* wait_for: a future never completed times out at exactly +5 */
    cio_future *f = cio_future_new(NULL);
    CHECK_EQ(cio_wait_for(f, 5, NULL), -ETIMEDOUT);
    CHECK(cio_cancelled(f));
    CHECK_TIME(cio_time(), t0 + 5);
    cio_release(f);
    /* wait_for on a task that finishes in time: its result, at its time */
    double d = 2;
    cio_task *t = cio_spawn(sleep_arg, &d);
    void *v = NULL;
    CHECK_EQ(cio_wait_for(t, 10, &v), 0);
    CHECK(v == &d);
    CHECK_TIME(cio_time(), t0 + 7);
    cio_release(t);
    /* a timeout scope around a long sleep */
    cio_timeout sc;
    CHECK_EQ(cio_timeout_enter(&sc, 100), 0);
    CHECK_TIME(cio_timeout_when(&sc), t0 + 107);
    int rc = cio_sleep(1000);
    CHECK_EQ(cio_timeout_exit(&sc, rc), -ETIMEDOUT);
    CHECK_TIME(cio_time(), t0 + 107);
    /* wait with a timeout: returns at the timeout with the slow one pending */
    double d1 = 1, d2 = 50;
    cio_task *a = cio_spawn(sleep_arg, &d1), *b = cio_spawn(sleep_arg, &d2);
    cio_future *fs[2] = {a, b}, *done[2], *pending[2];
    size_t nd = 0, np = 0;
    CHECK_EQ(cio_wait(fs, 2, CIO_ALL_COMPLETED, 10, done, &nd, pending, &np), 0);
    CHECK_EQ(nd, 1);
    CHECK_EQ(np, 1);
    CHECK(done[0] == a);
    CHECK_TIME(cio_time(), t0 + 117);
    CHECK_EQ(cio_await(b, NULL), 0);
    CHECK_TIME(cio_time(), t0 + 157);
    cio_release(a);
    cio_release(b);
    /* as_completed with an overall timeout */
    double d3 = 3, d4 = 30;
    a = cio_spawn(sleep_arg, &d3);
    b = cio_spawn(sleep_arg, &d4);
    cio_future *two[2] = {a, b};
    cio_as_completed *it = cio_as_completed_new(two, 2, 20);
    cio_future *got;
    CHECK_EQ(cio_as_completed_next(it, &got), 0);
    CHECK(got == a);
    CHECK_TIME(cio_time(), t0 + 160);
    CHECK_EQ(cio_as_completed_next(it, &got), -ETIMEDOUT);
    CHECK_TIME(cio_time(), t0 + 177);
    cio_as_completed_free(it);
    cio_cancel(b, NULL);
    CHECK_EQ(cio_await(b, NULL), -ECANCELED);
    cio_release(a);
    cio_release(b);
    return NULL;
}

/* ---- file descriptors ------------------------------------------------------ */

typedef struct reader {
    int fd;
    double at;
    ssize_t n;
} reader;

static void *reader_fn(void *arg)
{
    reader *r = arg;
    char buf[16];
    r->n = cio_sock_recv(r->fd, buf, sizeof buf);
    r->at = cio_time();
    return NULL;
}

static void write_cb(void *arg)
{
    int fd = *(int *)arg;
    CHECK_EQ(write(fd, "x", 1), 1);
}

/* Data already in a socket is read at the current loop time, although a
 * timer is armed: the clock does not jump past it.  Data written at a
 * later loop time is read at exactly that time. */
static void *t_fd_pending(void *arg)
{
    (void)arg;
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    double t0 = cio_time();
    reader r = {sv[0], -1, -2};
    cio_task *t = cio_spawn(reader_fn, &r);
    CHECK_EQ(cio_yield(), 0); /* the reader is parked on the socket */
    CHECK_EQ(write(sv[1], "a", 1), 1);
    CHECK_EQ(cio_wait_for(t, 100, NULL), 0);
    CHECK_EQ(r.n, 1);
    CHECK_TIME(r.at, t0);
    CHECK_TIME(cio_time(), t0);
    cio_release(t);
    /* written by a timer 2.5 s on, with a 60 s timeout and a 10 s timer armed */
    cio_handle *h;
    CHECK_EQ(cio_call_later(cio_loop_current(), 10, write_cb, &sv[1], &h), 0);
    CHECK_EQ(cio_call_later(cio_loop_current(), 2.5, write_cb, &sv[1], NULL), 0);
    r = (reader){sv[0], -1, -2};
    t = cio_spawn(reader_fn, &r);
    CHECK_EQ(cio_wait_for(t, 60, NULL), 0);
    CHECK_EQ(r.n, 1);
    CHECK_TIME(r.at, t0 + 2.5);
    cio_handle_cancel(h);
    cio_release(t);
    cio_close(sv[0]);
    cio_close(sv[1]);
    return NULL;
}

static void *late_writer(void *arg)
{
    usleep(20000);
    CHECK_EQ(write(*(int *)arg, "z", 1), 1);
    return NULL;
}

/* With no timer armed there is nothing to jump to: the loop waits for the
 * I/O for real (here from another thread), and the clock does not move. */
static void *t_no_timer_waits(void *arg)
{
    (void)arg;
    int p[2];
    CHECK_EQ(pipe(p), 0);
    double t0 = cio_time();
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, late_writer, &p[1]), 0);
    CHECK(cio_wait_readable(p[0]) > 0);
    CHECK_TIME(cio_time(), t0);
    pthread_join(th, NULL);
    cio_close(p[0]);
    cio_close(p[1]);
    return NULL;
}

/* ---- asyncio.run on virtual time (the environment variable) ---------------- */

static void *run_main(void *arg)
{
    double *elapsed = arg, t0 = cio_time();
    cio_sleep(1000);
    *elapsed = cio_time() - t0;
    return NULL;
}

static void test_cio_run_env(void)
{
    check_current = "cio_run_env";
    int fails = check_failures;
    double elapsed = 0, r0 = real_now();
    setenv("CIO_VIRTUAL_TIME", "1", 1);
    CHECK_EQ(cio_run(run_main, &elapsed, NULL), 0);
    CHECK_TIME(elapsed, 1000);
    CHECK(real_now() - r0 < 60);
    /* "0" means real time */
    setenv("CIO_VIRTUAL_TIME", "0", 1);
    cio_loop *l = cio_loop_new();
    CHECK(!l->vtime);
    cio_loop_close(l);
    unsetenv("CIO_VIRTUAL_TIME");
    l = cio_loop_new();
    CHECK(!l->vtime);
    cio_loop_close(l);
    fprintf(stderr, "%s %s\n", check_failures == fails ? "ok  " : "FAIL", check_current);
}

int main(void)
{
    RUN_TEST(test_timers_in_order);
    RUN_VIRTUAL_TEST(t_sleep_hour);
    RUN_VIRTUAL_TEST(t_concurrent_sleeps);
    RUN_VIRTUAL_TEST(t_timeouts);
    RUN_VIRTUAL_TEST(t_fd_pending);
    RUN_VIRTUAL_TEST(t_no_timer_waits);
    RUN_TEST(test_cio_run_env);
    return check_exit();
}
