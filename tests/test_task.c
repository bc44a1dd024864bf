/* SPDX-License-Identifier: MIT */
/* Tasks: spawning, names, ids, states, eager and lazy start, current task,
 * all_tasks, done callbacks, results and errors, awaiting, sleeping and
 * yielding.
 *
 * Exit 0 = pass. */
/* CIO_TEST: RUN_SERIAL */
/* (serial: sleep accuracy is checked against wall time) */
#include "check.h"

#include <math.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char trace[256];
static size_t ntrace;
static void tr(char c)
{
    if (ntrace + 1 < sizeof trace) {
        trace[ntrace++] = c;
        trace[ntrace] = 0;
    }
}
static void tr_reset(void)
{
    ntrace = 0;
    trace[0] = 0;
}

static void *return_arg(void *arg) { return arg; }

static void *yield_then_return(void *arg)
{
    cio_yield();
    return arg;
}

/* ---- spawning, names, ids ------------------------------------------------ */

static void *t_spawn_names(void *arg)
{
    (void)arg;
    cio_task *self = cio_current_task();
    CHECK(self != NULL);
    CHECK(strcmp(cio_task_name(self), "t_spawn_names") == 0);
    cio_task *a = cio_spawn(return_arg, (void *)1);
    cio_task *b = cio_spawn(return_arg, (void *)2);
    CHECK(a && b);
    CHECK(cio_is_task(a));
    /* ids are unique and increasing; the default name is Task-<id> */
    CHECK(cio_task_id(a) > cio_task_id(self));
    CHECK_EQ(cio_task_id(b), cio_task_id(a) + 1);
    char want[32];
    snprintf(want, sizeof want, "Task-%llu", (unsigned long long)cio_task_id(a));
    CHECK(strcmp(cio_task_name(a), want) == 0);
    CHECK(cio_task_name(a) == cio_task_name(a)); /* made once, then kept */
    /* set / get */
    CHECK_EQ(cio_task_set_name(a, "alpha"), 0);
    CHECK(strcmp(cio_task_name(a), "alpha") == 0);
    char buf[] = "temporary";
    CHECK_EQ(cio_task_set_name(a, buf), 0);
    buf[0] = 'X'; /* copied */
    CHECK(strcmp(cio_task_name(a), "temporary") == 0);
    CHECK_EQ(cio_task_set_name(a, NULL), 0); /* back to the default */
    CHECK(strcmp(cio_task_name(a), want) == 0);
    /* name from the options, copied */
    char nm[] = "named";
    cio_task *c = cio_spawn_ex(NULL, return_arg, (void *)3, &(cio_task_opts){.name = nm});
    nm[0] = 'X';
    CHECK(strcmp(cio_task_name(c), "named") == 0);
    /* get_coro */
    void *arg_out = NULL;
    CHECK(cio_task_fn_of(c, &arg_out) == return_arg);
    CHECK_EQ((intptr_t)arg_out, 3);
    /* results */
    void *v = NULL;
    CHECK_EQ(cio_await(a, &v), 0);
    CHECK_EQ((intptr_t)v, 1);
    CHECK_EQ(cio_await(b, &v), 0);
    CHECK_EQ((intptr_t)v, 2);
    CHECK_EQ(cio_await(c, &v), 0);
    CHECK_EQ((intptr_t)v, 3);
    /* a finished task keeps its name and id, and an unnamed one gets its
     * default name made after it finished */
    CHECK(strcmp(cio_task_name(c), "named") == 0);
    snprintf(want, sizeof want, "Task-%llu", (unsigned long long)cio_task_id(b));
    CHECK(strcmp(cio_task_name(b), want) == 0);
    /* plain futures */
    cio_future *f = cio_future_new(NULL);
    CHECK(!cio_is_task(f));
    CHECK(strcmp(cio_task_name(f), "Future") == 0);
    CHECK_EQ(cio_task_id(f), 0);
    CHECK_EQ(cio_task_set_name(f, "x"), -EINVAL);
    CHECK(cio_task_fn_of(f, &arg_out) == NULL);
    CHECK_EQ(cio_task_state(f), CIO_TASK_SUSPENDED);
    cio_future_set_result(f, NULL);
    CHECK_EQ(cio_task_state(f), CIO_TASK_DONE);
    CHECK_EQ(cio_task_cancelling(f), 0);
    cio_release(f);
    cio_release(a);
    cio_release(b);
    cio_release(c);
    /* a released task keeps running and finishes */
    int flag = 0;
    cio_task *d = cio_spawn(return_arg, &flag);
    cio_release(d);
    CHECK_EQ(cio_yield(), 0);
    CHECK_EQ(cio_all_tasks(NULL, NULL, 0), 1);
    CHECK(strcmp(cio_task_state_name(CIO_TASK_CREATED), "created") == 0);
    CHECK(strcmp(cio_task_state_name(CIO_TASK_SCHEDULED), "scheduled") == 0);
    CHECK(strcmp(cio_task_state_name(CIO_TASK_RUNNING), "running") == 0);
    CHECK(strcmp(cio_task_state_name(CIO_TASK_SUSPENDED), "suspended") == 0);
    CHECK(strcmp(cio_task_state_name(CIO_TASK_DONE), "done") == 0);
    CHECK(strcmp(cio_task_state_name(99), "?") == 0);
    return NULL;
}

/* ---- states --------------------------------------------------------------- */

static int state_inside;
static void *record_state(void *arg)
{
    state_inside = cio_task_state(cio_current_task());
    CHECK(cio_current_task() != NULL);
    if (arg)
        cio_await(arg, NULL);
    return NULL;
}

static void *t_states(void *arg)
{
    (void)arg;
    CHECK_EQ(cio_task_state(cio_current_task()), CIO_TASK_RUNNING);
    /* lazy: created until started */
    state_inside = -1;
    cio_task *lz = cio_spawn_ex(NULL, record_state, NULL, &(cio_task_opts){.flags = CIO_TASK_LAZY});
    CHECK_EQ(cio_task_state(lz), CIO_TASK_CREATED);
    CHECK(!cio_done(lz));
    cio_yield();
    cio_yield();
    CHECK_EQ(state_inside, -1); /* never ran */
    CHECK_EQ(cio_task_state(lz), CIO_TASK_CREATED);
    CHECK_EQ(cio_task_start(lz), 0);
    CHECK_EQ(cio_task_state(lz), CIO_TASK_SCHEDULED);
    CHECK_EQ(cio_task_start(lz), CIO_EINVALSTATE); /* twice */
    CHECK_EQ(cio_await(lz, NULL), 0);
    CHECK_EQ(state_inside, CIO_TASK_RUNNING);
    CHECK_EQ(cio_task_state(lz), CIO_TASK_DONE);
    CHECK_EQ(cio_task_start(lz), CIO_EINVALSTATE); /* done */
    cio_release(lz);
    /* a normal task: scheduled, then suspended, scheduled again when woken,
     * done */
    cio_future *f = cio_future_new(NULL);
    cio_task *t = cio_spawn(record_state, f);
    CHECK_EQ(cio_task_state(t), CIO_TASK_SCHEDULED);
    CHECK_EQ(cio_task_start(t), CIO_EINVALSTATE); /* not lazy */
    cio_yield();
    CHECK_EQ(cio_task_state(t), CIO_TASK_SUSPENDED);
    cio_future_set_result(f, NULL);
    CHECK_EQ(cio_task_state(t), CIO_TASK_SCHEDULED); /* woken, not yet resumed */
    CHECK_EQ(cio_await(t, NULL), 0);
    CHECK_EQ(cio_task_state(t), CIO_TASK_DONE);
    CHECK(cio_done(t));
    CHECK_EQ(cio_task_start(f), CIO_EINVALSTATE); /* not a task */
    cio_release(t);
    cio_release(f);
    return NULL;
}

/* ---- eager start ------------------------------------------------------- */

static void *eager_child(void *arg)
{
    tr('c');
    if (arg)
        cio_yield();
    tr('C');
    return (void *)99;
}

static cio_task *eager_from_cb;
static void spawn_eager_cb(void *arg)
{
    (void)arg;
    tr('k');
    eager_from_cb = cio_spawn_ex(NULL, eager_child, NULL, &(cio_task_opts){.flags = CIO_TASK_EAGER});
    tr('K');
}

static void *t_eager(void *arg)
{
    (void)arg;
    tr_reset();
    /* runs until its first suspension before cio_spawn returns */
    tr('p');
    cio_task *c = cio_spawn_ex(NULL, eager_child, (void *)1, &(cio_task_opts){.flags = CIO_TASK_EAGER});
    tr('P');
    CHECK(strcmp(trace, "pcP") == 0);
    CHECK_EQ(cio_task_state(c), CIO_TASK_SCHEDULED); /* it yielded */
    void *v;
    CHECK_EQ(cio_await(c, &v), 0);
    CHECK_EQ((intptr_t)v, 99);
    CHECK(strcmp(trace, "pcPC") == 0);
    cio_release(c);
    /* one that finishes without suspending is done on return */
    tr_reset();
    c = cio_spawn_ex(NULL, eager_child, NULL, &(cio_task_opts){.flags = CIO_TASK_EAGER});
    CHECK(strcmp(trace, "cC") == 0);
    CHECK(cio_done(c));
    CHECK_EQ(cio_result(c, &v), 0);
    CHECK_EQ((intptr_t)v, 99);
    cio_release(c);
    /* a plain spawn does not run before the spawner suspends */
    tr_reset();
    c = cio_spawn(eager_child, NULL);
    tr('P');
    cio_yield();
    CHECK(strcmp(trace, "PcC") == 0);
    cio_release(c);
    /* eager from a callback (no current task) */
    tr_reset();
    eager_from_cb = NULL;
    cio_call_soon(cio_loop_current(), spawn_eager_cb, NULL, NULL);
    cio_sleep(0.001);
    CHECK(strcmp(trace, "kcCK") == 0);
    CHECK(eager_from_cb && cio_done(eager_from_cb));
    cio_release(eager_from_cb);
    /* the spawning task is not cancelled by the eager switch: a pending
     * cancellation still arrives at its next suspension */
    return NULL;
}

static void test_eager_not_running(void)
{
    check_current = "eager_not_running";
    int fails = check_failures;
    cio_loop *l = cio_loop_new();
    tr_reset();
    /* the loop is not running: eager has nothing to run on, it is scheduled */
    cio_task *t = cio_spawn_ex(l, eager_child, NULL, &(cio_task_opts){.flags = CIO_TASK_EAGER});
    CHECK_EQ(cio_task_state(t), CIO_TASK_SCHEDULED);
    CHECK(strcmp(trace, "") == 0);
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), 0);
    CHECK(strcmp(trace, "cC") == 0);
    cio_release(t);
    check_run_briefly(l);
    check_loop_clean(l);
    cio_loop_close(l);
    fprintf(stderr, "%s %s\n", check_failures == fails ? "ok  " : "FAIL", check_current);
}

/* ---- current task, all tasks ------------------------------------------- */

static cio_task *cur_in_cb = (cio_task *)1;
static void current_cb(void *arg)
{
    (void)arg;
    cur_in_cb = cio_current_task();
}

static void *sleep_arg(void *arg)
{
    cio_sleep((double)(intptr_t)arg / 1000.0);
    return NULL;
}

static void *t_current_all(void *arg)
{
    (void)arg;
    cio_task *self = cio_current_task();
    cio_call_soon(cio_loop_current(), current_cb, NULL, NULL);
    cio_yield();
    CHECK(cur_in_cb == NULL); /* callbacks run outside any task */
    CHECK(cio_current_task() == self);
    cio_task *kids[3];
    cio_future *gate[3];
    for (int i = 0; i < 3; i++) {
        gate[i] = cio_future_new(NULL);
        kids[i] = cio_spawn(record_state, gate[i]);
    }
    cio_task *all[8];
    size_t n = cio_all_tasks(NULL, all, 8);
    CHECK_EQ(n, 4);
    bool seen_self = false;
    int seen_kids = 0;
    for (size_t i = 0; i < n && i < 8; i++) {
        if (all[i] == self)
            seen_self = true;
        for (int k = 0; k < 3; k++)
            if (all[i] == kids[k])
                seen_kids++;
    }
    CHECK(seen_self);
    CHECK_EQ(seen_kids, 3);
    /* a small buffer: the full count, cap filled */
    cio_task *two[2] = {NULL, NULL};
    CHECK_EQ(cio_all_tasks(NULL, two, 2), 4);
    CHECK(two[0] && two[1]);
    CHECK_EQ(cio_all_tasks(cio_loop_current(), NULL, 0), 4);
    cio_future_set_result(gate[0], NULL);
    cio_await(kids[0], NULL);
    CHECK_EQ(cio_all_tasks(NULL, NULL, 0), 3); /* done tasks are not listed */
    cio_future_set_result(gate[1], NULL);
    cio_future_set_result(gate[2], NULL);
    cio_await(kids[2], NULL);
    cio_await(kids[1], NULL);
    CHECK_EQ(cio_all_tasks(NULL, NULL, 0), 1);
    for (int i = 0; i < 3; i++) {
        cio_release(kids[i]);
        cio_release(gate[i]);
    }
    /* a lazy task counts as not done */
    cio_task *lz = cio_spawn_ex(NULL, return_arg, NULL, &(cio_task_opts){.flags = CIO_TASK_LAZY});
    CHECK_EQ(cio_all_tasks(NULL, NULL, 0), 2);
    cio_task_start(lz);
    cio_await(lz, NULL);
    cio_release(lz);
    return NULL;
}

static void test_current_outside(void)
{
    check_current = "current_outside";
    int fails = check_failures;
    CHECK(cio_current_task() == NULL);
    CHECK_EQ(cio_all_tasks(NULL, NULL, 0), 0); /* no loop */
    CHECK_EQ(cio_sleep(0.01), CIO_ENOTASK);
    CHECK_EQ(cio_yield(), CIO_ENOTASK);
    CHECK(cio_fail(-EIO, "x") == NULL); /* outside: no effect */
    cio_loop *l = cio_loop_new();
    cio_future *f = cio_future_new(l);
    CHECK_EQ(cio_await(f, NULL), CIO_ENOTASK);
    /* a done future does not need a task */
    cio_future_set_result(f, (void *)5);
    void *v = NULL;
    CHECK_EQ(cio_await(f, &v), 0);
    CHECK_EQ((intptr_t)v, 5);
    cio_release(f);
    cio_loop_close(l);
    fprintf(stderr, "%s %s\n", check_failures == fails ? "ok  " : "FAIL", check_current);
}

/* ---- done callbacks ------------------------------------------------------ */

typedef struct dcrec {
    cio_future *f[16];
    int tag[16];
    int n;
} dcrec;
static dcrec dc;

static void dc_fn(cio_future *f, void *arg)
{
    if (dc.n < 16) {
        dc.f[dc.n] = f;
        dc.tag[dc.n] = (int)(intptr_t)arg;
        dc.n++;
    }
}
static void dc_other(cio_future *f, void *arg) { dc_fn(f, (void *)((intptr_t)arg + 1000)); }

static void *t_done_callbacks(void *arg)
{
    (void)arg;
    memset(&dc, 0, sizeof dc);
    cio_task *t = cio_spawn(yield_then_return, (void *)7);
    CHECK_EQ(cio_add_done_callback(t, dc_fn, (void *)1), 0);
    CHECK_EQ(cio_add_done_callback(t, dc_fn, (void *)2), 0);
    CHECK_EQ(cio_add_done_callback(t, dc_other, (void *)3), 0);
    CHECK_EQ(cio_add_done_callback(t, dc_fn, (void *)4), 0);
    CHECK_EQ(cio_add_done_callback(t, dc_fn, (void *)2), 0); /* duplicate */
    CHECK_EQ(cio_add_done_callback(t, NULL, NULL), -EINVAL);
    /* remove: every (fn, arg) match */
    CHECK_EQ(cio_remove_done_callback(t, dc_fn, (void *)2), 2);
    CHECK_EQ(cio_remove_done_callback(t, dc_fn, (void *)2), 0);
    CHECK_EQ(cio_remove_done_callback(t, dc_other, (void *)1), 0);
    CHECK_EQ(cio_await(t, NULL), 0);
    /* scheduled with call_soon when the task finished, in the order added,
     * so before this awaiter (whose wake-up hook came last) resumed */
    CHECK_EQ(dc.n, 3);
    CHECK_EQ(dc.tag[0], 1);
    CHECK_EQ(dc.tag[1], 1003);
    CHECK_EQ(dc.tag[2], 4);
    for (int i = 0; i < 3; i++)
        CHECK(dc.f[i] == t);
    /* added after done: scheduled at once, still not synchronous */
    CHECK_EQ(cio_add_done_callback(t, dc_fn, (void *)5), 0);
    CHECK_EQ(dc.n, 3);
    CHECK_EQ(cio_remove_done_callback(t, dc_fn, (void *)5), 0); /* already scheduled */
    cio_yield();
    CHECK_EQ(dc.n, 4);
    CHECK_EQ(dc.tag[3], 5);
    /* the callback holds its own reference: releasing early is safe */
    cio_add_done_callback(t, dc_fn, (void *)6);
    cio_release(t);
    cio_yield();
    CHECK_EQ(dc.n, 5);
    CHECK_EQ(dc.tag[4], 6);
    /* never synchronously from the call that completed the future */
    cio_future *f = cio_future_new(NULL);
    cio_add_done_callback(f, dc_fn, (void *)8);
    cio_add_done_callback(f, dc_fn, (void *)9);
    cio_future_set_result(f, NULL);
    CHECK_EQ(dc.n, 5);
    cio_yield();
    CHECK_EQ(dc.n, 7);
    CHECK(dc.f[5] == f && dc.f[6] == f);
    CHECK_EQ(dc.tag[5], 8);
    CHECK_EQ(dc.tag[6], 9);
    cio_release(f);
    dc.n = 5;
    /* a pending task released with callbacks still attached */
    cio_task *u = cio_spawn(yield_then_return, NULL);
    cio_add_done_callback(u, dc_fn, (void *)7);
    cio_release(u);
    cio_sleep(0.001);
    CHECK_EQ(dc.n, 6);
    CHECK_EQ(dc.tag[5], 7);
    return NULL;
}

/* ---- results and errors ------------------------------------------------- */

static void *fail_fmt(void *arg)
{
    cio_sleep(0.001);
    return cio_fail(-EIO, "read %d bytes of %s", (int)(intptr_t)arg, "x.dat");
}

static void *fail_no_msg(void *arg)
{
    (void)arg;
    return cio_fail(CIO_EQUEUEFULL, NULL);
}

static void *fail_positive(void *arg)
{
    (void)arg;
    return cio_fail(5, "positive code");
}

static void *fail_twice(void *arg)
{
    (void)arg;
    cio_fail(-EIO, "first");
    return cio_fail(-ENOENT, "second");
}

static void *fail_cancel(void *arg)
{
    (void)arg;
    return cio_fail(-ECANCELED, "gave up");
}

/* catches its cancellation and passes it on with cio_fail, with or
 * without a message of its own (arg) */
static void *pass_cancel_on(void *arg)
{
    int rc = cio_sleep(1000);
    CHECK_EQ(rc, -ECANCELED);
    return arg ? cio_fail(rc, "%s", (const char *)arg) : cio_fail(rc, NULL);
}

static void *wait_forever(void *arg)
{
    (void)arg;
    cio_sleep(1000);
    return NULL;
}

static void *t_results(void *arg)
{
    (void)arg;
    void *v = (void *)1;
    /* pending */
    cio_task *p = cio_spawn(wait_forever, NULL);
    CHECK_EQ(cio_result(p, &v), CIO_EINVALSTATE);
    CHECK(v == NULL);
    CHECK_EQ(cio_exception(p), CIO_EINVALSTATE);
    CHECK(cio_error_message(p) == NULL);
    /* error with a formatted message */
    cio_task *e = cio_spawn(fail_fmt, (void *)12);
    CHECK_EQ(cio_await(e, &v), -EIO);
    CHECK(v == NULL);
    CHECK_EQ(cio_result(e, &v), -EIO);
    CHECK_EQ(cio_exception(e), -EIO);
    CHECK(!cio_cancelled(e));
    CHECK(cio_done(e));
    CHECK(cio_error_message(e) && strcmp(cio_error_message(e), "read 12 bytes of x.dat") == 0);
    /* cio's own codes */
    cio_task *q = cio_spawn(fail_no_msg, NULL);
    CHECK_EQ(cio_await(q, NULL), CIO_EQUEUEFULL);
    CHECK(cio_error_message(q) == NULL);
    /* a non-negative code is not an error code: -EINVAL */
    cio_task *pos = cio_spawn(fail_positive, NULL);
    CHECK_EQ(cio_await(pos, NULL), -EINVAL);
    /* the last cio_fail wins */
    cio_task *tw = cio_spawn(fail_twice, NULL);
    CHECK_EQ(cio_await(tw, NULL), -ENOENT);
    CHECK(strcmp(cio_error_message(tw), "second") == 0);
    /* -ECANCELED ends it cancelled */
    cio_task *fc = cio_spawn(fail_cancel, NULL);
    CHECK_EQ(cio_await(fc, NULL), -ECANCELED);
    CHECK(cio_cancelled(fc));
    CHECK_EQ(cio_exception(fc), -ECANCELED);
    CHECK(cio_error_message(fc) && strcmp(cio_error_message(fc), "gave up") == 0);
    /* awaiting a cancelled task makes this one cancelled if it just returns:
     * withdraw it so this test task itself succeeds */
    CHECK_EQ(cio_task_uncancel(cio_current_task()), 0);
    /* cio_fail(-ECANCELED, NULL) passing on a cancellation keeps the
     * message given to cio_cancel (CancelledError's args propagate); a
     * message of its own replaces it */
    cio_task *pc = cio_spawn(pass_cancel_on, NULL);
    cio_task *pm = cio_spawn(pass_cancel_on, "own words");
    cio_task *pn = cio_spawn(pass_cancel_on, NULL);
    CHECK_EQ(cio_yield(), 0);
    CHECK(cio_cancel(pc, "shutting down"));
    CHECK(cio_cancel(pm, "shutting down"));
    CHECK(cio_cancel(pn, NULL));
    CHECK_EQ(cio_await(pc, NULL), -ECANCELED);
    CHECK_EQ(cio_await(pm, NULL), -ECANCELED);
    CHECK_EQ(cio_await(pn, NULL), -ECANCELED);
    CHECK(cio_cancelled(pc) && cio_cancelled(pm) && cio_cancelled(pn));
    CHECK(cio_error_message(pc) && strcmp(cio_error_message(pc), "shutting down") == 0);
    CHECK(cio_error_message(pm) && strcmp(cio_error_message(pm), "own words") == 0);
    CHECK(cio_error_message(pn) == NULL);
    cio_release(pc);
    cio_release(pm);
    cio_release(pn);
    /* cancelled */
    CHECK(cio_cancel(p, "stop"));
    CHECK_EQ(cio_await(p, &v), -ECANCELED);
    cio_task_uncancel(cio_current_task());
    CHECK_EQ(cio_result(p, &v), -ECANCELED);
    CHECK(cio_cancelled(p));
    CHECK(cio_error_message(p) && strcmp(cio_error_message(p), "stop") == 0);
    /* a value */
    cio_task *r = cio_spawn(yield_then_return, (void *)0xbeef);
    CHECK_EQ(cio_await(r, &v), 0);
    CHECK_EQ((intptr_t)v, 0xbeef);
    CHECK_EQ(cio_exception(r), 0);
    /* await with value NULL is fine */
    CHECK_EQ(cio_await(r, NULL), 0);
    cio_release(p);
    cio_release(e);
    cio_release(q);
    cio_release(pos);
    cio_release(tw);
    cio_release(fc);
    cio_release(r);
    return NULL;
}

/* ---- awaiting ------------------------------------------------------------ */

static void *await_self(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)cio_await(cio_current_task(), NULL);
}

static cio_loop *foreign_loop;

static void *t_await_special(void *arg)
{
    (void)arg;
    /* a task awaiting itself */
    cio_task *s = cio_spawn(await_self, NULL);
    void *v;
    CHECK_EQ(cio_await(s, &v), 0);
    CHECK_EQ((intptr_t)v, -EDEADLK);
    cio_release(s);
    CHECK_EQ(cio_await(cio_current_task(), NULL), -EDEADLK);
    /* a future of another loop */
    foreign_loop = cio_loop_new();
    cio_future *ff = cio_future_new(foreign_loop);
    CHECK_EQ(cio_await(ff, NULL), -EXDEV);
    /* once done, its outcome can be read from anywhere */
    cio_future_set_result(ff, (void *)3);
    CHECK_EQ(cio_await(ff, &v), 0);
    CHECK_EQ((intptr_t)v, 3);
    cio_release(ff);
    cio_loop_close(foreign_loop);
    /* chains: a awaits b awaits c */
    cio_task *c = cio_spawn(sleep_arg, (void *)2);
    cio_task *b = cio_spawn(return_arg, NULL);
    cio_await(c, NULL);
    cio_await(b, NULL);
    cio_release(b);
    cio_release(c);
    /* many tasks awaiting the same future */
    cio_future *f = cio_future_new(NULL);
    cio_task *w[10];
    for (int i = 0; i < 10; i++)
        w[i] = cio_spawn(record_state, f);
    cio_yield();
    cio_future_set_result(f, NULL);
    for (int i = 0; i < 10; i++) {
        CHECK_EQ(cio_await(w[i], NULL), 0);
        cio_release(w[i]);
    }
    cio_release(f);
    return NULL;
}

/* ---- sleeping and yielding ---------------------------------------------- */

static void *t_sleep_accuracy(void *arg)
{
    (void)arg;
    /* never early (how late is the machine's business: test_vtime checks
     * exact durations on virtual time) */
    double t0 = now();
    CHECK_EQ(cio_sleep(0.05), 0);
    double dt = now() - t0;
    CHECK(dt >= 0.05);
    double lt0 = cio_loop_time(cio_loop_current());
    for (int i = 1; i <= 10; i++) {
        double want = 0.001 * i + 0.0004;
        double a = now();
        CHECK_EQ(cio_sleep(want), 0);
        double got = now() - a;
        CHECK(got >= want);
    }
    CHECK(cio_loop_time(cio_loop_current()) - lt0 >= 0.059);
    /* sleeps of several tasks finish in deadline order */
    tr_reset();
    cio_task *k[4];
    for (int i = 0; i < 4; i++)
        k[i] = cio_spawn(sleep_arg, (void *)(intptr_t)(4 * (4 - i))); /* 16, 12, 8, 4 ms */
    memset(&dc, 0, sizeof dc);
    for (int i = 0; i < 4; i++)
        cio_add_done_callback(k[i], dc_fn, (void *)(intptr_t)i);
    t0 = now();
    for (int i = 3; i >= 0; i--)
        CHECK_EQ(cio_await(k[i], NULL), 0);
    dt = now() - t0;
    cio_yield();
    CHECK_EQ(dc.n, 4); /* finished in deadline order, even if the process stalled */
    for (int i = 0; i < 4; i++)
        CHECK_EQ(dc.tag[i], 3 - i);
    CHECK(dt >= 0.016);
    for (int i = 0; i < 4; i++)
        cio_release(k[i]);
    /* negative, NaN: a yield */
    CHECK_EQ(cio_sleep(-1), 0);
    CHECK_EQ(cio_sleep(NAN), 0);
    return NULL;
}

static void *pinger(void *arg)
{
    for (int i = 0; i < 3; i++) {
        tr((char)(intptr_t)arg);
        CHECK_EQ(cio_sleep(0), 0);
    }
    return NULL;
}

static void cb_mark(void *arg) { tr((char)(intptr_t)arg); }

static void *t_yield_interleave(void *arg)
{
    (void)arg;
    tr_reset();
    cio_task *a = cio_spawn(pinger, (void *)'A');
    cio_task *b = cio_spawn(pinger, (void *)'B');
    cio_task *c = cio_spawn(pinger, (void *)'C');
    cio_await(a, NULL);
    cio_await(b, NULL);
    cio_await(c, NULL);
    CHECK(strcmp(trace, "ABCABCABC") == 0);
    cio_release(a);
    cio_release(b);
    cio_release(c);
    /* yield lets callbacks scheduled before it run first */
    tr_reset();
    cio_call_soon(cio_loop_current(), cb_mark, (void *)'1', NULL);
    cio_call_soon(cio_loop_current(), cb_mark, (void *)'2', NULL);
    tr('y');
    cio_yield();
    tr('Y');
    CHECK(strcmp(trace, "y12Y") == 0);
    return NULL;
}

/* ---- stacks and many tasks ---------------------------------------------- */

static void *use_stack(void *arg)
{
    size_t n = (size_t)(uintptr_t)arg;
    volatile char buf[n];
    for (size_t i = 0; i < n; i += 512)
        buf[i] = (char)i;
    cio_yield();
    size_t s = 0;
    for (size_t i = 0; i < n; i += 512)
        s += (unsigned char)buf[i];
    return (void *)s;
}

static void *t_stacks(void *arg)
{
    (void)arg;
    cio_task *t = cio_spawn_ex(NULL, use_stack, (void *)(uintptr_t)(600 * 1024),
                               &(cio_task_opts){.stack_size = 1024 * 1024});
    CHECK(t != NULL);
    CHECK(cio__task_of(t)->stack.size >= 1024 * 1024);
    CHECK_EQ(cio_await(t, NULL), 0);
    cio_release(t);
    /* the loop default */
    cio_loop_set_stack_size(cio_loop_current(), 256 * 1024);
    t = cio_spawn(use_stack, (void *)(uintptr_t)(200 * 1024));
    CHECK(cio__task_of(t)->stack.size >= 256 * 1024);
    CHECK_EQ(cio_await(t, NULL), 0);
    cio_release(t);
    cio_loop_set_stack_size(cio_loop_current(), 0);
    /* many short tasks: all finish, nothing is left.  (Under TSan, fewer:
     * every task is a TSan fiber, and gcc 12's runtime makes those dear,
     * ~850 KiB each, shared past 256: see src/core/ctx_tsan.h.) */
#if defined(__SANITIZE_THREAD__)
    enum { N = 2000 };
#else
    enum { N = 20000 };
#endif
    static cio_task *many[N];
    for (int i = 0; i < N; i++) {
        many[i] = cio_spawn(yield_then_return, (void *)(intptr_t)i);
        CHECK(many[i] != NULL);
    }
    intptr_t sum = 0;
    for (int i = 0; i < N; i++) {
        void *v;
        CHECK_EQ(cio_await(many[i], &v), 0);
        sum += (intptr_t)v;
        cio_release(many[i]);
    }
    CHECK_EQ(sum, (intptr_t)N * (N - 1) / 2);
    CHECK_EQ(cio_all_tasks(NULL, NULL, 0), 1);
    return NULL;
}

/* spawn on a closed loop / with no function */
static void test_spawn_errors(void)
{
    check_current = "spawn_errors";
    int fails = check_failures;
    cio_loop *l = cio_loop_new();
    errno = 0;
    CHECK(cio_spawn_ex(l, NULL, NULL, NULL) == NULL);
    CHECK_EQ(errno, EINVAL);
    cio_loop_close(l);
    fprintf(stderr, "%s %s\n", check_failures == fails ? "ok  " : "FAIL", check_current);
}

int main(void)
{
    RUN_TASK_TEST(t_spawn_names);
    RUN_TASK_TEST(t_states);
    RUN_TASK_TEST(t_eager);
    RUN_TEST(test_eager_not_running);
    RUN_TASK_TEST(t_current_all);
    RUN_TEST(test_current_outside);
    RUN_TASK_TEST(t_done_callbacks);
    RUN_TASK_TEST(t_results);
    RUN_TASK_TEST(t_await_special);
    RUN_TASK_TEST(t_sleep_accuracy);
    RUN_TASK_TEST(t_yield_interleave);
    RUN_TASK_TEST(t_stacks);
    RUN_TEST(test_spawn_errors);
    return check_exit();
}
