/* SPDX-License-Identifier: MIT */
/* Tiny test harness shared by the test programs.
 *
 *   CHECK(cond)              fail the current test (and the program) with file:line
 *   CHECK_EQ(a, b)           integers, printing both values
 *   CHECK_ORDER(1, 2, 3)     the ids order_push() recorded, in that order
 *   RUN_TASK_TEST(fn)        runs fn(NULL) as the main task of a fresh loop and
 *                            then checks that nothing was left behind: no task
 *                            alive, no timer armed, nothing ready, no fd watched,
 *                            no fd leaked (compared with /proc/self/fd before)
 *   RUN_TEST(fn)             fn() for a test that makes its own loops (lib/select.h)
 *   check_run_task_test_on(name, fn, opts)  RUN_TASK_TEST's run on a loop made
 *                            with cio_loop_new_ex(opts) (a given back end...)
 *   check_loop_clean(loop)   the leak check for a loop the test manages itself
 *   check_run_briefly(loop)  one more loop iteration (a task's reaping) before it
 *
 * Each test program returns check_exit() from main: 0 if all passed, 1 else.
 * Tests include core/internal.h on purpose: the leak checks look at the
 * loop's own counters.
 *
 * One test at a time: `build/tests/test_x NAME...` runs only the tests named
 * (the function's name given to RUN_TASK_TEST / RUN_TEST / a program's own
 * RUN_..._TEST); `make test T=NAME` finds the program and does the same in
 * each flavour.  A name that matches no test makes check_exit() fail, so a
 * typo cannot pass for a run.  How names are read: tests/lib/select.h.
 *
 * What else is where:
 *   tests/lib/select.h    selection by name (also for test_ctx and test_timer,
 *                         which have CHECK macros of their own)
 *   tests/lib/tasks.h     task scaffolding: spawn, settle, finish, join,
 *                         await_release, took, the configurable child kid
 *   tests/lib/backends.h  run a program's tests on the back end CIO_BACKEND names
 *   tests/lib/child.h     forked children whose output is read back (child_pipe,
 *                         child_stderr)
 *   tests/lib/http_exchange.h  raw HTTP/1.1 on a stream: send, read a response
 *                         byte-exactly, expect a status; server_stop
 *   tests/lib/http_server_fixture.h  the HTTP server (routes, static tree) the
 *                         server tests run against
 *   tests/lib/hostile.h, gzbomb.h    hostile HTTP bodies for client and crawler tests
 *   tests/lib/tls_conn.h  TLS tests' server, dial and one-line round trip
 *   tests/lib/echo.h      echo_lines: the server side of a line-echo test
 *   tests/pki.h           a throw-away CA and certificates
 *   tests/conformance/conformance.h  the CPython test_asyncio ports (CONF_TASK) */
#ifndef CIO_TESTS_CHECK_H
#define CIO_TESTS_CHECK_H

#include "core/internal.h"
#include "lib/select.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;
static const char *check_current = "";

#define CHECK(cond)                                                                                  \
    do {                                                                                             \
        if (!(cond)) {                                                                               \
            fprintf(stderr, "FAIL %s: %s:%d: %s\n", check_current, __FILE__, __LINE__, #cond);       \
            check_failures++;                                                                        \
        }                                                                                            \
    } while (0)

#define CHECK_EQ(a, b)                                                                               \
    do {                                                                                             \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                        \
        if (va_ != vb_) {                                                                            \
            fprintf(stderr, "FAIL %s: %s:%d: %s == %s (%lld != %lld)\n", check_current, __FILE__,   \
                    __LINE__, #a, #b, va_, vb_);                                                     \
            check_failures++;                                                                        \
        }                                                                                            \
    } while (0)

/* An order recorder: tasks push ids as things happen, CHECK_ORDER(1, 2, 3)
 * asserts the sequence (FIFO wake-ups, hand-over order...). */
static int order[256];
static int norder;
static inline void order_reset(void) { norder = 0; }
static inline void order_push(int id)
{
    if (norder < 256)
        order[norder++] = id;
}
static inline void check_order(const int *want, int n, int line)
{
    if (norder != n) {
        fprintf(stderr, "FAIL %s: line %d: %d entries in order, want %d\n", check_current, line, norder, n);
        check_failures++;
        return;
    }
    for (int i = 0; i < n; i++)
        if (order[i] != want[i]) {
            fprintf(stderr, "FAIL %s: line %d: order[%d] = %d, want %d\n", check_current, line, i, order[i],
                    want[i]);
            check_failures++;
            return;
        }
}
#define CHECK_ORDER(...)                                                                             \
    do {                                                                                             \
        static const int want_[] = {__VA_ARGS__};                                                    \
        check_order(want_, (int)(sizeof want_ / sizeof want_[0]), __LINE__);                         \
    } while (0)

static inline int check_count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the DIR's own fd */
}

static inline void check_loop_clean(cio_loop *l)
{
    CHECK_EQ(l->ntasks, 0);
    /* no timer left behind but the loop's own reclaim pass, armed after a
     * burst of tasks (core/task.c) */
    CHECK_EQ(cio__wheel_count(&l->wheel), (size_t)l->stacks.reclaim_armed);
    CHECK_EQ(l->nready, 0);
    CHECK_EQ(l->nwatched, l->ninternal);
    /* every future and task released (the loop's list holds live ones) */
    CHECK(cio__list_empty(&l->all));
}

static inline void check_set_done(void *f) { cio_future_set_result(f, NULL); }

/* One more loop iteration, so that callbacks scheduled by the last step run
 * (a finished task's reaping, a released handle's last reference) before a
 * leak check or a close.  Returns what cio_loop_run_until_complete did. */
static inline int check_run_briefly(cio_loop *l)
{
    cio_future *f = cio_future_new(l);
    cio_call_soon(l, check_set_done, f, NULL);
    int rc = cio_loop_run_until_complete(l, f, NULL);
    cio_release(f);
    return rc;
}

/* check_run_task_test on a loop made with opts (NULL: cio_loop_new()); with
 * opts->backend the loop must have that back end, and the "ok" line names it. */
static inline void check_run_task_test_on(const char *name, cio_task_fn fn, const cio_loop_opts *opts)
{
    check_current = name;
    int before = check_count_fds();
    int fails = check_failures;
    cio_loop *l = opts ? cio_loop_new_ex(opts) : cio_loop_new();
    CHECK(l != NULL);
    if (!l)
        return;
    const char *be = opts ? opts->backend : NULL;
    if (be)
        CHECK(strcmp(cio_loop_backend(l), be) == 0);
    cio_loop_set_current(l);
    cio_task *t = cio_spawn_ex(l, fn, NULL, &(cio_task_opts){.name = name});
    CHECK(t != NULL);
    void *res = NULL;
    int rc = cio_loop_run_until_complete(l, t, &res);
    CHECK_EQ(rc, 0);
    cio_release(t);
    check_run_briefly(l);
    check_loop_clean(l);
    CHECK_EQ(cio_loop_close(l), 0);
    CHECK_EQ(check_count_fds(), before);
    fprintf(stderr, "%s %s%s%s%s\n", check_failures == fails ? "ok  " : "FAIL", name, be ? " [" : "",
            be ? be : "", be ? "]" : "");
}

static inline void check_run_task_test(const char *name, cio_task_fn fn)
{
    check_run_task_test_on(name, fn, NULL);
}

/* (The selection is here, not in check_run_task_test: the conformance
 * harness calls that with its own names and selects cases itself.) */
#define RUN_TASK_TEST(fn)                                                                            \
    do {                                                                                             \
        if (check_selected(#fn))                                                                     \
            check_run_task_test(#fn, fn);                                                            \
    } while (0)

static inline int check_exit(void)
{
    check_failures += check_unmatched_names();
    if (check_failures)
        fprintf(stderr, "%d check(s) failed\n", check_failures);
    return check_failures ? 1 : 0;
}

#endif
