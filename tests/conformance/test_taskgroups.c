/* SPDX-License-Identifier: MIT */
/* CPython Lib/test/test_asyncio/test_taskgroups.py (3.11), ported (see
 * conformance.h).
 *
 * `async with TaskGroup() as g: BODY` is g = cio_group_new(); BODY;
 * rc = cio_group_exit(g, status the body ended with).  The ExceptionGroup's
 * contents are cio_group_nerrors / cio_group_error (children in failure
 * order, then the body's own error with child NULL); its "types" are the
 * set of codes.  Exceptions are error codes: ZeroDivisionError -EDOM,
 * ValueError -EINVAL, TypeError -EPROTOTYPE, MyExc -EBADMSG, MyBaseExc
 * -ENOTRECOVERABLE, CustomException -EBADE.  A nested group's
 * ExceptionGroup reaching the outer body is the outer body's error (the
 * inner group's first code; its own set is checked on the inner group). */
#define CONF_FILE "test_taskgroups"
#include "conformance.h"

#include <stdarg.h>
#include <stdint.h>

enum {
    ZERODIV = -EDOM,
    VALUEERR = -EINVAL,
    TYPEERR = -EPROTOTYPE,
    MYEXC = -EBADMSG,
    MYBASEEXC = -ENOTRECOVERABLE,
    CUSTOMEXC = -EBADE,
};

static void *end_with(int rc) { return rc ? cio_fail(rc, NULL) : NULL; }

/* A child: sleeps, then returns value or fails; `finally_fail` fails after
 * the sleep whatever it returned (try: await sleep finally: raise); on a
 * cancellation it counts in *num and sets cancelled_seen, then re-raises. */
typedef struct job {
    double delay;
    int fail;
    intptr_t value;
    int finally_fail;
    int *num;
    bool cancelled_seen;
} job;

static void *job_fn(void *arg)
{
    job *j = arg;
    int rc = cio_sleep(j->delay);
    if (j->finally_fail)
        return cio_fail(j->finally_fail, NULL);
    if (rc == -ECANCELED) {
        j->cancelled_seen = true;
        if (j->num)
            (*j->num)++;
        return NULL; /* raise */
    }
    if (j->fail)
        return cio_fail(j->fail, NULL);
    return (void *)j->value;
}

/* The group's error set after it is gone: codes, and whether each came
 * from the body. */
typedef struct eg {
    int n;
    int code[64];
    bool body[64];
} eg;

static void save_errs(eg *e, cio_group *g)
{
    e->n = (int)cio_group_nerrors(g);
    for (int i = 0; i < e->n && i < 64; i++) {
        cio_task *c;
        e->code[i] = cio_group_error(g, (size_t)i, &c);
        e->body[i] = c == NULL;
    }
}

/* get_error_types(eg) == {codes...}: every error's code is listed and every
 * listed code occurs. */
static bool types_are(const eg *e, int ncodes, ...)
{
    int want[8];
    va_list ap;
    va_start(ap, ncodes);
    for (int i = 0; i < ncodes; i++)
        want[i] = va_arg(ap, int);
    va_end(ap);
    if (e->n == 0)
        return false;
    for (int i = 0; i < e->n; i++) {
        bool listed = false;
        for (int k = 0; k < ncodes; k++)
            listed |= e->code[i] == want[k];
        if (!listed)
            return false;
    }
    for (int k = 0; k < ncodes; k++) {
        bool found = false;
        for (int i = 0; i < e->n; i++)
            found |= e->code[i] == want[k];
        if (!found)
            return false;
    }
    return true;
}

static cio_task *spawn_job(cio_group *g, job *j) { return cio_group_spawn(g, job_fn, j, NULL); }

/* asyncio.create_task(runner()) then await r, without taking the runner's
 * cancellation as ours */
static int await_runner(cio_task *r)
{
    int rc = cio_await(r, NULL);
    cio_release(r);
    return rc;
}

CONF_TASK(test_taskgroup_01)
{
    job foo1 = {.delay = 0.1, .value = 42}, foo2 = {.delay = 0.2, .value = 11};
    cio_group *g = cio_group_new();
    cio_task *t1 = spawn_job(g, &foo1), *t2 = spawn_job(g, &foo2);
    CHECK_EQ(cio_group_exit(g, 0), 0);
    void *v;
    CHECK_EQ(cio_result(t1, &v), 0);
    CHECK_EQ((intptr_t)v, 42);
    CHECK_EQ(cio_result(t2, &v), 0);
    CHECK_EQ((intptr_t)v, 11);
    cio_group_free(g);
    return NULL;
}

CONF_TASK(test_taskgroup_02)
{
    job foo1 = {.delay = 0.1, .value = 42}, foo2 = {.delay = 0.2, .value = 11};
    cio_group *g = cio_group_new();
    cio_task *t1 = spawn_job(g, &foo1);
    int rc = cio_sleep(0.15);
    cio_task *t2 = spawn_job(g, &foo2);
    CHECK_EQ(cio_group_exit(g, rc), 0);
    void *v;
    CHECK_EQ(cio_result(t1, &v), 0);
    CHECK_EQ((intptr_t)v, 42);
    CHECK_EQ(cio_result(t2, &v), 0);
    CHECK_EQ((intptr_t)v, 11);
    cio_group_free(g);
    return NULL;
}

CONF_TASK(test_taskgroup_03)
{
    job foo1 = {.delay = 1, .value = 42}, foo2 = {.delay = 0.2, .value = 11};
    cio_group *g = cio_group_new();
    cio_task *t1 = spawn_job(g, &foo1);
    int rc = cio_sleep(0.15);
    /* cancel t1 explicitly: everything else goes on as expected */
    cio_cancel(t1, NULL);
    cio_task *t2 = spawn_job(g, &foo2);
    CHECK_EQ(cio_group_exit(g, rc), 0);
    CHECK(cio_cancelled(t1));
    void *v;
    CHECK_EQ(cio_result(t2, &v), 0);
    CHECK_EQ((intptr_t)v, 11);
    cio_group_free(g);
    return NULL;
}

typedef struct run04 {
    int num;
    job foo1, foo2;
    cio_task *t2;
    eg errs;
} run04;

static void *runner04(void *arg)
{
    run04 *r = arg;
    cio_group *g = cio_group_new();
    spawn_job(g, &r->foo1);
    r->t2 = cio_ref(spawn_job(g, &r->foo2));
    int rc = cio_group_exit(g, 0);
    save_errs(&r->errs, g);
    cio_group_free(g);
    if (rc)
        return end_with(rc);
    r->num += 10;
    return NULL;
}

CONF_TASK(test_taskgroup_04)
{
    run04 r = {.foo1 = {.delay = 0.1, .fail = ZERODIV}, .foo2 = {.delay = 1}};
    r.foo2.num = NULL;
    CHECK_EQ(await_runner(cio_spawn(runner04, &r)), ZERODIV); /* ExceptionGroup */
    CHECK(types_are(&r.errs, 1, ZERODIV));
    CHECK_EQ(r.num, 0);
    CHECK(r.foo2.cancelled_seen);
    CHECK(cio_cancelled(r.t2));
    cio_release(r.t2);
    return NULL;
}

typedef struct runcc {
    int num;
    bool runner_cancel;
    job foo1[3], foo2;
    eg errs;
} runcc;

static void *runner_cc(void *arg)
{
    runcc *r = arg;
    cio_group *g = cio_group_new();
    for (int i = 0; i < 3; i++)
        spawn_job(g, &r->foo1[i]);
    spawn_job(g, &r->foo2);
    int rc = cio_sleep(10);
    if (rc == -ECANCELED)
        r->runner_cancel = true;
    rc = cio_group_exit(g, rc);
    save_errs(&r->errs, g);
    cio_group_free(g);
    if (rc)
        return end_with(rc);
    r->num += 10;
    return NULL;
}

CONF_TASK(test_cancel_children_on_child_error)
{
    runcc r = {.foo2 = {.delay = 5}};
    for (int i = 0; i < 3; i++)
        r.foo1[i] = (job){.delay = 0.1, .fail = ZERODIV};
    CHECK_EQ(await_runner(cio_spawn(runner_cc, &r)), ZERODIV);
    CHECK(types_are(&r.errs, 1, ZERODIV));
    CHECK_EQ(r.num, 0);
    CHECK(r.foo2.cancelled_seen);
    CHECK(r.runner_cancel);
    return NULL;
}

/* runner: a group of n children; the body sleeps `body_sleep` (0: none),
 * counting in *num (+10) when that sleep is cancelled; optionally raising
 * body_fail afterwards. */
typedef struct runner {
    job kids[8];
    int nkids;
    double body_sleep;
    int *num;
    int body_fail;
    eg errs;
} runner;

static void *runner_fn(void *arg)
{
    runner *r = arg;
    cio_group *g = cio_group_new();
    for (int i = 0; i < r->nkids; i++)
        spawn_job(g, &r->kids[i]);
    int rc = 0;
    if (r->body_sleep > 0) {
        rc = cio_sleep(r->body_sleep);
        if (rc == -ECANCELED && r->num)
            *r->num += 10;
        if (rc == -ECANCELED && r->body_fail)
            rc = r->body_fail; /* raise MyExc from the except block */
    }
    rc = cio_group_exit(g, rc);
    save_errs(&r->errs, g);
    cio_group_free(g);
    return end_with(rc);
}

static runner *five_sleepers(runner *r, int *num, double body_sleep)
{
    memset(r, 0, sizeof *r);
    r->nkids = 5;
    for (int i = 0; i < 5; i++)
        r->kids[i] = (job){.delay = 5, .num = num};
    r->body_sleep = body_sleep;
    r->num = num;
    return r;
}

/* create_task(runner), sleep(0.1), not done, cancel, await */
static int cancel_runner_later(runner *rn)
{
    cio_task *r = cio_spawn(runner_fn, rn);
    CHECK_EQ(cio_sleep(0.1), 0);
    CHECK(!cio_done(r));
    cio_cancel(r, NULL);
    return await_runner(r);
}

CONF_TASK(test_cancellation)
{
    int num = 0;
    runner rn;
    CHECK_EQ(cancel_runner_later(five_sleepers(&rn, &num, 0)), -ECANCELED);
    CHECK_EQ(num, 5);
    return NULL;
}

CONF_TASK(test_taskgroup_07)
{
    int num = 0;
    runner rn;
    CHECK_EQ(cancel_runner_later(five_sleepers(&rn, &num, 10)), -ECANCELED);
    CHECK_EQ(num, 15);
    return NULL;
}

CONF_TASK(test_taskgroup_08)
{
    runner rn = {.nkids = 5, .body_sleep = 10};
    for (int i = 0; i < 5; i++)
        rn.kids[i] = (job){.delay = 10, .finally_fail = ZERODIV};
    CHECK_EQ(cancel_runner_later(&rn), ZERODIV);
    CHECK(types_are(&rn.errs, 1, ZERODIV));
    return NULL;
}

/* test_taskgroup_09 / _10: the body raises 1/0 (after a sleep or at once) */
static void body_raises(double sleep_first)
{
    job foo1 = {.delay = 1, .value = 42}, foo2 = {.delay = 2, .value = 11};
    cio_group *g = cio_group_new();
    cio_task *t1 = spawn_job(g, &foo1), *t2 = spawn_job(g, &foo2);
    int rc = sleep_first > 0 ? cio_sleep(sleep_first) : 0;
    CHECK_EQ(rc, 0);
    rc = cio_group_exit(g, ZERODIV);
    CHECK_EQ(rc, ZERODIV);
    eg e;
    save_errs(&e, g);
    CHECK(types_are(&e, 1, ZERODIV));
    CHECK(e.body[0]);
    CHECK(cio_cancelled(t1));
    CHECK(cio_cancelled(t2));
    cio_group_free(g);
}

CONF_TASK(test_taskgroup_09)
{
    body_raises(0.1);
    return NULL;
}

CONF_TASK(test_taskgroup_10)
{
    body_raises(0);
    return NULL;
}

/* test_taskgroup_11 / _12: an inner group whose children fail in cleanup,
 * inside an outer group (with a sleeping child for _12); the runner is
 * cancelled from outside. */
typedef struct nested {
    job kids[5];
    bool outer_child;
    job sleeper;
    eg outer_errs, inner_errs;
} nested;

static void *nested_runner(void *arg)
{
    nested *n = arg;
    cio_group *g1 = cio_group_new();
    if (n->outer_child)
        spawn_job(g1, &n->sleeper);
    cio_group *g2 = cio_group_new();
    for (int i = 0; i < 5; i++)
        spawn_job(g2, &n->kids[i]);
    int rc = cio_group_exit(g2, cio_sleep(10));
    save_errs(&n->inner_errs, g2);
    cio_group_free(g2);
    rc = cio_group_exit(g1, rc);
    save_errs(&n->outer_errs, g1);
    cio_group_free(g1);
    return end_with(rc);
}

static void nested_cancelled(bool outer_child)
{
    nested n = {.outer_child = outer_child, .sleeper = {.delay = 10}};
    for (int i = 0; i < 5; i++)
        n.kids[i] = (job){.delay = 10, .finally_fail = ZERODIV};
    cio_task *r = cio_spawn(nested_runner, &n);
    CHECK_EQ(cio_sleep(0.1), 0);
    CHECK(!cio_done(r));
    cio_cancel(r, NULL);
    CHECK_EQ(await_runner(r), ZERODIV);
    /* {ExceptionGroup}: the outer set is the body's error, the inner
     * group's ExceptionGroup of {ZeroDivisionError} */
    CHECK_EQ(n.outer_errs.n, 1);
    CHECK(n.outer_errs.body[0]);
    CHECK(types_are(&n.inner_errs, 1, ZERODIV));
    if (outer_child)
        CHECK(n.sleeper.cancelled_seen);
}

CONF_TASK(test_taskgroup_11)
{
    nested_cancelled(false);
    return NULL;
}

CONF_TASK(test_taskgroup_12)
{
    nested_cancelled(true);
    return NULL;
}

/* crash_after(t) in the outer group and crash_after(u) in the inner one */
typedef struct crash2 {
    job outer, inner;
    eg outer_errs, inner_errs;
} crash2;

static void *crash2_runner(void *arg)
{
    crash2 *c = arg;
    cio_group *g1 = cio_group_new();
    spawn_job(g1, &c->outer);
    cio_group *g2 = cio_group_new();
    spawn_job(g2, &c->inner);
    int rc = cio_group_exit(g2, 0);
    save_errs(&c->inner_errs, g2);
    cio_group_free(g2);
    rc = cio_group_exit(g1, rc);
    save_errs(&c->outer_errs, g1);
    cio_group_free(g1);
    return end_with(rc);
}

CONF_TASK(test_taskgroup_13)
{
    crash2 c = {.outer = {.delay = 0.1, .fail = VALUEERR}, .inner = {.delay = 10, .fail = VALUEERR}};
    CHECK_EQ(await_runner(cio_spawn(crash2_runner, &c)), VALUEERR);
    CHECK(types_are(&c.outer_errs, 1, VALUEERR));
    CHECK(!c.outer_errs.body[0]); /* the child's ValueError, not a group */
    CHECK_EQ(c.inner_errs.n, 0);
    return NULL;
}

CONF_TASK(test_taskgroup_14)
{
    crash2 c = {.outer = {.delay = 10, .fail = VALUEERR}, .inner = {.delay = 0.1, .fail = VALUEERR}};
    CHECK_EQ(await_runner(cio_spawn(crash2_runner, &c)), VALUEERR);
    /* {ExceptionGroup} of {ValueError} */
    CHECK_EQ(c.outer_errs.n, 1);
    CHECK(c.outer_errs.body[0]);
    CHECK(types_are(&c.inner_errs, 1, VALUEERR));
    CHECK(c.outer.cancelled_seen);
    return NULL;
}

/* g1 { crash_soon(); try: sleep(10) except CancelledError: sleep(0.5); raise } */
typedef struct run15 {
    job crash;
    eg errs;
} run15;

static void *runner15(void *arg)
{
    run15 *r = arg;
    cio_group *g1 = cio_group_new();
    spawn_job(g1, &r->crash);
    int rc = cio_sleep(10);
    if (rc == -ECANCELED) {
        cio_sleep(0.5);
        rc = -ECANCELED; /* raise */
    }
    rc = cio_group_exit(g1, rc);
    save_errs(&r->errs, g1);
    cio_group_free(g1);
    return end_with(rc);
}

CONF_TASK(test_taskgroup_15)
{
    run15 r = {.crash = {.delay = 0.3, .fail = ZERODIV}};
    cio_task *t = cio_spawn(runner15, &r);
    CHECK_EQ(cio_sleep(0.1), 0);
    CHECK(!cio_done(t));
    cio_cancel(t, NULL);
    CHECK_EQ(await_runner(t), ZERODIV);
    CHECK(types_are(&r.errs, 1, ZERODIV));
    return NULL;
}

static void *runner16(void *arg)
{
    cio_task *t = cio_spawn(runner15, arg);
    int rc = cio_await(t, NULL);
    cio_release(t);
    return end_with(rc);
}

CONF_TASK(test_taskgroup_16)
{
    run15 r = {.crash = {.delay = 0.3, .fail = ZERODIV}};
    cio_task *t = cio_spawn(runner16, &r);
    CHECK_EQ(cio_sleep(0.1), 0);
    CHECK(!cio_done(t));
    cio_cancel(t, NULL);
    CHECK_EQ(await_runner(t), ZERODIV);
    CHECK(types_are(&r.errs, 1, ZERODIV));
    return NULL;
}

CONF_TASK(test_taskgroup_17)
{
    int num = 0;
    runner rn = {.body_sleep = 10, .num = &num};
    CHECK_EQ(cancel_runner_later(&rn), -ECANCELED);
    CHECK_EQ(num, 10);
    return NULL;
}

CONF_TASK(test_taskgroup_18)
{
    int num = 0;
    runner rn = {.body_sleep = 10, .num = &num, .body_fail = MYEXC};
    CHECK_EQ(cancel_runner_later(&rn), MYEXC); /* ExceptionGroup */
    CHECK(types_are(&rn.errs, 1, MYEXC));
    CHECK_EQ(num, 10);
    return NULL;
}

/* g { crash_soon() raising child_err; nested(): try sleep(10) finally raise body_err } */
typedef struct run19 {
    job crash;
    int body_err;
    eg errs;
} run19;

static void *runner19(void *arg)
{
    run19 *r = arg;
    cio_group *g = cio_group_new();
    spawn_job(g, &r->crash);
    cio_sleep(10);
    int rc = cio_group_exit(g, r->body_err); /* finally: raise */
    save_errs(&r->errs, g);
    cio_group_free(g);
    return end_with(rc);
}

static void child_and_body_errors(int child_err, int body_err)
{
    run19 r = {.crash = {.delay = 0.1, .fail = child_err}, .body_err = body_err};
    CHECK_EQ(await_runner(cio_spawn(runner19, &r)), child_err);
    CHECK(types_are(&r.errs, 2, child_err, body_err));
}

CONF_TASK(test_taskgroup_19)
{
    child_and_body_errors(ZERODIV, MYEXC);
    return NULL;
}

CONF_TASK(test_taskgroup_20a)
{
    child_and_body_errors(ZERODIV, MYBASEEXC); /* BaseExceptionGroup */
    return NULL;
}

CONF_TASK(test_taskgroup_21a)
{
    child_and_body_errors(MYBASEEXC, TYPEERR);
    return NULL;
}

CONF_TASK(test_taskgroup_22)
{
    runner rn = {.nkids = 2, .kids = {{.delay = 1, .value = 42}, {.delay = 2, .value = 11}}};
    cio_task *r = cio_spawn(runner_fn, &rn);
    CHECK_EQ(cio_sleep(0.05), 0);
    cio_cancel(r, NULL);
    CHECK_EQ(await_runner(r), -ECANCELED);
    return NULL;
}

/* len(g._tasks): the children not done yet */
static int live(cio_task **t, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += !cio_done(t[i]);
    return k;
}

CONF_TASK(test_taskgroup_23)
{
    job jobs[10];
    cio_task *t[10];
    cio_group *g = cio_group_new();
    int rc = 0;
    for (int count = 0; count < 10 && !rc; count++) {
        rc = cio_sleep(0.1);
        jobs[count] = (job){.delay = 0.3};
        t[count] = spawn_job(g, &jobs[count]);
        if (count == 5)
            CHECK(live(t, count + 1) < 5);
    }
    CHECK_EQ(rc, 0);
    CHECK_EQ(cio_sleep(1.35), 0);
    CHECK_EQ(live(t, 10), 0);
    CHECK_EQ(cio_group_exit(g, 0), 0);
    cio_group_free(g);
    return NULL;
}

typedef struct root24 {
    cio_group *g;
    job coro1[2];
} root24;

static void *root_fn(void *arg)
{
    root24 *r = arg;
    int rc = cio_sleep(0.1);
    if (rc)
        return end_with(rc);
    for (int i = 0; i < 2; i++)
        if (!cio_group_spawn(r->g, job_fn, &r->coro1[i], NULL))
            return end_with(-errno);
    return NULL;
}

CONF_TASK(test_taskgroup_24)
{
    root24 r = {.coro1 = {{.delay = 0.1}, {.delay = 0.2}}};
    r.g = cio_group_new();
    CHECK(cio_group_spawn(r.g, root_fn, &r, NULL) != NULL);
    CHECK_EQ(cio_group_exit(r.g, 0), 0); /* the root spawns while we wait here */
    CHECK(r.coro1[1].cancelled_seen == false && cio_group_nerrors(r.g) == 0);
    cio_group_free(r.g);
    return NULL;
}

static int nhydras;
static cio_group *hydra_group;

static void *hydra(void *arg)
{
    (void)arg;
    nhydras++;
    int rc = cio_sleep(0.01);
    if (rc)
        return end_with(rc);
    for (int i = 0; i < 2; i++)
        if (!cio_group_spawn(hydra_group, hydra, NULL, NULL))
            return end_with(-errno);
    return NULL;
}

static void *hercules(void *arg)
{
    (void)arg;
    while (nhydras < 10) {
        int rc = cio_sleep(0.015);
        if (rc)
            return end_with(rc);
    }
    return cio_fail(ZERODIV, NULL);
}

CONF_TASK(test_taskgroup_25)
{
    nhydras = 0;
    cio_group *g = hydra_group = cio_group_new();
    cio_group_spawn(g, hydra, NULL, NULL);
    cio_group_spawn(g, hercules, NULL, NULL);
    CHECK_EQ(cio_group_exit(g, 0), ZERODIV);
    eg e;
    save_errs(&e, g);
    CHECK(types_are(&e, 1, ZERODIV));
    CHECK(nhydras >= 10);
    cio_group_free(g);
    return NULL;
}

CONF_TASK(test_taskgroup_task_name)
{
    job coro = {.delay = 0};
    cio_group *g = cio_group_new();
    cio_task *t = cio_group_spawn(g, job_fn, &coro, &(cio_task_opts){.name = "yolo"});
    CHECK(strcmp(cio_task_name(t), "yolo") == 0);
    CHECK_EQ(cio_group_exit(g, 0), 0);
    cio_group_free(g);
    return NULL;
}

/* coro1 (sleep 0.001, 1/0) as a plain call */
static int coro1_inline(void)
{
    int rc = cio_sleep(0.001);
    return rc ? rc : ZERODIV;
}

typedef struct nocreate {
    cio_group *g;
    job coro1;
    bool refused, inline_failed;
} nocreate;

static void *coro2(void *arg)
{
    nocreate *n = arg;
    if (cio_sleep(1) == -ECANCELED) {
        cio_task_catch_cancel(); /* the except block does not re-raise */
        errno = 0;
        n->refused = cio_group_spawn(n->g, job_fn, &n->coro1, NULL) == NULL && errno == -CIO_EGROUPABORTED;
        n->inline_failed = coro1_inline() == ZERODIV; /* `await c1` */
    }
    return NULL;
}

CONF_TASK(test_taskgroup_no_create_task_after_failure)
{
    nocreate n = {.coro1 = {.delay = 0.001, .fail = ZERODIV}};
    job first = {.delay = 0.001, .fail = ZERODIV};
    n.g = cio_group_new();
    spawn_job(n.g, &first);
    cio_group_spawn(n.g, coro2, &n, NULL);
    CHECK_EQ(cio_group_exit(n.g, 0), ZERODIV);
    eg e;
    save_errs(&e, n.g);
    CHECK(types_are(&e, 1, ZERODIV));
    CHECK(n.refused);
    CHECK(n.inline_failed);
    cio_group_free(n.g);
    return NULL;
}

typedef struct exitraises {
    int cancelling;
    eg errs;
    int rc;
} exitraises;

static void *exit_raises_main(void *arg)
{
    exitraises *x = arg;
    job raise_exc = {.delay = -1, .fail = CUSTOMEXC};
    cio_group *tg = cio_group_new();
    /* async with database(): ... finally: raise CustomException */
    cio_group_spawn(tg, job_fn, &raise_exc, NULL);
    cio_sleep(1);
    x->rc = cio_group_exit(tg, CUSTOMEXC);
    /* except* CustomException */
    x->cancelling = cio_task_cancelling(cio_current_task());
    save_errs(&x->errs, tg);
    cio_group_free(tg);
    return NULL;
}

CONF_TASK(test_taskgroup_context_manager_exit_raises)
{
    exitraises x = {.cancelling = -1};
    cio_task *t = cio_spawn(exit_raises_main, &x);
    CHECK_EQ(cio_await(t, NULL), 0);
    cio_release(t);
    CHECK_EQ(x.rc, CUSTOMEXC);
    CHECK_EQ(x.cancelling, 0);
    CHECK_EQ(x.errs.n, 2);
    CHECK(types_are(&x.errs, 1, CUSTOMEXC));
    return NULL;
}

CONF_TASK(test_taskgroup_finished)
{
    cio_group *g = cio_group_new();
    CHECK_EQ(cio_group_exit(g, 0), 0);
    job coro = {.delay = 0};
    errno = 0;
    CHECK(cio_group_spawn(g, job_fn, &coro, NULL) == NULL); /* "is finished" */
    CHECK_EQ(errno, -CIO_EGROUPABORTED);
    cio_group_free(g);
    return NULL;
}

CONF_PLAIN(test_taskgroup_without_parent_task)
{
    errno = 0;
    CHECK(cio_group_new() == NULL); /* "cannot determine the parent task" */
    CHECK_EQ(errno, EPERM);
}

CONF_MAIN()
