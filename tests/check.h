/* SPDX-License-Identifier: MIT */
/* Tiny test harness shared by the test programs.
 *
 *   CHECK(cond)              fail the current test (and the program) with file:line
 *   CHECK_EQ(a, b)           integers, printing both values
 *   RUN_TASK_TEST(fn)        runs fn(NULL) as the main task of a fresh loop and
 *                            then checks that nothing was left behind: no task
 *                            alive, no timer armed, nothing ready, no fd watched,
 *                            no fd leaked (compared with /proc/self/fd before)
 *   check_loop_clean(loop)   the same check for a loop the test manages itself
 *
 * Each test program returns check_exit() from main: 0 if all passed, 1 else.
 * Tests include core/internal.h on purpose: the leak checks look at the
 * loop's own counters.
 *
 * One test at a time: `build/tests/test_x NAME...` runs only the
 * RUN_TASK_TESTs named (the function's name, as the "ok" lines print it);
 * `make test T=NAME` finds the program and does the same in each flavour.
 * The names are read from /proc/self/cmdline, so no main() has to pass its
 * argv along.  A first argument starting with '-' is the program's own
 * (a mode, e.g. a child it re-executes) and leaves every test selected.
 * A name that matches no RUN_TASK_TEST makes check_exit() fail, so a typo
 * cannot pass for a run. */
#ifndef CIO_TESTS_CHECK_H
#define CIO_TESTS_CHECK_H

#include "core/internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;
static const char *check_current = "";

/* The names given on the command line: check_names[0..check_nnames), each
 * with whether a test of that name ran; check_nnames -1 until read. */
#define CHECK_MAX_NAMES 32
static char check_cmdline[4096];
static const char *check_names[CHECK_MAX_NAMES];
static bool check_name_ran[CHECK_MAX_NAMES];
static int check_nnames = -1;

static inline void check_read_names(void)
{
    check_nnames = 0;
    FILE *f = fopen("/proc/self/cmdline", "r");
    if (!f)
        return;
    size_t n = fread(check_cmdline, 1, sizeof check_cmdline - 1, f);
    fclose(f);
    check_cmdline[n] = '\0'; /* NUL-separated argv; skip argv[0] */
    const char *end = check_cmdline + n, *p = check_cmdline + strlen(check_cmdline) + 1;
    if (p >= end || *p == '-')
        return;
    for (; p < end && check_nnames < CHECK_MAX_NAMES; p += strlen(p) + 1)
        check_names[check_nnames++] = p;
}

/* Whether the test called name runs: no names given, or one of them. */
static inline bool check_selected(const char *name)
{
    if (check_nnames < 0)
        check_read_names();
    bool any = check_nnames == 0;
    for (int i = 0; i < check_nnames; i++)
        if (strcmp(check_names[i], name) == 0)
            any = check_name_ran[i] = true;
    return any;
}

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

static inline void check_run_task_test(const char *name, cio_task_fn fn)
{
    check_current = name;
    int before = check_count_fds();
    int fails = check_failures;
    cio_loop *l = cio_loop_new();
    CHECK(l != NULL);
    if (!l)
        return;
    cio_loop_set_current(l);
    cio_task *t = cio_spawn_ex(l, fn, NULL, &(cio_task_opts){.name = name});
    CHECK(t != NULL);
    void *res = NULL;
    int rc = cio_loop_run_until_complete(l, t, &res);
    CHECK_EQ(rc, 0);
    cio_release(t);
    /* let callbacks scheduled by the last step run: one more iteration */
    cio_future *f = cio_future_new(l);
    cio_call_soon(l, check_set_done, f, NULL);
    cio_loop_run_until_complete(l, f, NULL);
    cio_release(f);
    check_loop_clean(l);
    CHECK_EQ(cio_loop_close(l), 0);
    CHECK_EQ(check_count_fds(), before);
    fprintf(stderr, "%s %s\n", check_failures == fails ? "ok  " : "FAIL", name);
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
    for (int i = 0; i < check_nnames; i++)
        if (!check_name_ran[i]) {
            fprintf(stderr, "FAIL no test named %s in this program\n", check_names[i]);
            check_failures++;
        }
    if (check_failures)
        fprintf(stderr, "%d check(s) failed\n", check_failures);
    return check_failures ? 1 : 0;
}

#endif
