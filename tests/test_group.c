/* SPDX-License-Identifier: MIT */
/* Task groups: asyncio.TaskGroup.
 *
 * Reference: CPython's test_asyncio/test_taskgroups.py: a failing child
 * cancels its siblings and the body, the body's cancellation is withdrawn at
 * exit, outside cancellation propagates, spawning into a shutting-down group
 * fails, nested groups. */
#include "check.h"
#include "lib/tasks.h"

#include <stdint.h>

static cio_task *self(void) { return cio_current_task(); }

/* ---- all succeed ------------------------------------------------------------ */

static void *t_all_succeed(void *arg)
{
    (void)arg;
    reset_order();
    cio_group *g = cio_group_new();
    CHECK(g != NULL);
    kid k[3] = {{.id = 0, .delay = 0.02, .value = 1}, {.id = 1, .delay = 0.01, .value = 2},
                {.id = 2, .delay = 0.0, .value = 3}};
    cio_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = cio_group_spawn(g, kid_fn, &k[i], NULL);
    CHECK_EQ(cio_group_wait(g), 0);
    for (int i = 0; i < 3; i++) {
        void *v;
        CHECK(cio_done(t[i]));
        CHECK_EQ(cio_result(t[i], &v), 0);
        CHECK_EQ((intptr_t)v, i + 1);
    }
    CHECK_EQ(cio_group_nerrors(g), 0);
    cio_task *c = (cio_task *)1;
    CHECK_EQ(cio_group_error(g, 0, &c), -EINVAL);
    CHECK(c == NULL);
    CHECK_EQ(cio_task_cancelling(self()), 0);
    /* the group is finished: spawning fails */
    errno = 0;
    CHECK(cio_group_spawn(g, kid_fn, &k[0], NULL) == NULL);
    CHECK_EQ(errno, -CIO_EGROUPABORTED);
    cio_group_free(g);

    /* an empty group */
    g = cio_group_new();
    CHECK_EQ(cio_group_wait(g), 0);
    cio_group_free(g);

    /* named children, eager children */
    g = cio_group_new();
    cio_task_opts o = {.name = "eager-one", .flags = CIO_TASK_EAGER};
    kid e = {.delay = -1, .value = 4};
    cio_task *et = cio_group_spawn(g, kid_fn, &e, &o);
    CHECK(et != NULL);
    CHECK(cio_done(et)); /* finished inside the spawn */
    CHECK(strcmp(cio_task_name(et), "eager-one") == 0);
    kid e2 = {.delay = 0.01, .value = 5};
    cio_task *et2 = cio_group_spawn(g, kid_fn, &e2, &o);
    CHECK_EQ(cio_group_wait(g), 0);
    CHECK(cio_done(et) && cio_done(et2));
    cio_group_free(g);
    return NULL;
}

/* ---- one child fails -------------------------------------------------------- */

static void *t_one_fails(void *arg)
{
    (void)arg;
    reset_order();
    cio_group *g = cio_group_new();
    kid k[3] = {{.id = 0, .delay = 0.01, .fail = -EIO},
                {.id = 1, .delay = 5.0, .value = 2, .cleanup = 0.01},
                {.id = 2, .delay = 5.0, .value = 3}};
    cio_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = cio_group_spawn(g, kid_fn, &k[i], NULL);
    double t0 = cio_time();
    /* the body's pending suspension is cancelled by the failure */
    CHECK_EQ(cio_sleep(5.0), -ECANCELED);
    CHECK(took(cio_time() - t0, 0.01)); /* at the failure */
    CHECK_EQ(cio_task_cancelling(self()), 1);
    CHECK_EQ(cio_group_wait(g), -EIO);
    /* the siblings were cancelled and have finished */
    CHECK(cio_cancelled(t[1]) && cio_cancelled(t[2]));
    CHECK_EQ(k[1].sleep_rc, -ECANCELED);
    CHECK(k[1].finished && k[2].finished);
    /* the body's cancellation is withdrawn: it goes on */
    CHECK_EQ(cio_task_cancelling(self()), 0);
    CHECK_EQ(cio_sleep(0.005), 0);
    CHECK_EQ(cio_group_nerrors(g), 1);
    cio_task *c = NULL;
    CHECK_EQ(cio_group_error(g, 0, &c), -EIO);
    CHECK(c == t[0]);
    CHECK(strcmp(cio_error_message(c), "kid 0 failed") == 0);
    cio_group_free(g);

    /* the failure arrives while the body waits in cio_group_wait */
    g = cio_group_new();
    kid m[2] = {{.id = 0, .delay = 0.01, .fail = -EPIPE}, {.id = 1, .delay = 5.0}};
    for (int i = 0; i < 2; i++)
        t[i] = cio_group_spawn(g, kid_fn, &m[i], NULL);
    CHECK_EQ(cio_group_wait(g), -EPIPE);
    CHECK(cio_cancelled(t[1]));
    CHECK_EQ(cio_task_cancelling(self()), 0);
    CHECK_EQ(cio_sleep(0.001), 0);
    cio_group_free(g);

    /* an eager child that fails at once: as asyncio (gh-128550), the group
     * hears of it on the loop's next pass, not inside the spawn, so the
     * body is not cancelled before it even got the child; then the body's
     * cancellation is pending and withdrawn at exit */
    g = cio_group_new();
    kid n[3] = {{.id = 0, .delay = -1, .fail = -EPERM}, {.id = 1, .delay = 5.0}, {.id = 2, .delay = 5.0}};
    cio_task_opts eager = {.flags = CIO_TASK_EAGER};
    t[0] = cio_group_spawn(g, kid_fn, &n[0], &eager); /* fails at once */
    CHECK(cio_done(t[0]));
    CHECK_EQ(cio_task_cancelling(self()), 0);
    t[1] = cio_group_spawn(g, kid_fn, &n[1], NULL);
    CHECK(t[1] != NULL);
    CHECK_EQ(cio_yield(), -ECANCELED); /* the group heard of it */
    CHECK_EQ(cio_task_cancelling(self()), 1);
    errno = 0;
    CHECK(cio_group_spawn(g, kid_fn, &n[2], NULL) == NULL);
    CHECK_EQ(errno, -CIO_EGROUPABORTED);
    CHECK_EQ(cio_group_exit(g, -ECANCELED), -EPERM);
    CHECK(cio_cancelled(t[1]));
    CHECK_EQ(cio_task_cancelling(self()), 0);
    CHECK_EQ(cio_sleep(0.001), 0); /* nothing left pending */
    cio_group_free(g);
    return NULL;
}

/* ---- several children fail ---------------------------------------------------- */

static void *t_several_fail(void *arg)
{
    (void)arg;
    reset_order();
    cio_group *g = cio_group_new();
    /* 0 fails first; 1 and 2 fail while cleaning up after the cancellation
     * (2 sooner than 1); 3 just ends cancelled */
    kid k[4] = {{.id = 0, .delay = 0.01, .fail = -EIO},
                {.id = 1, .delay = 5.0, .on_cancel = ON_CANCEL_FAIL, .fail = -EPIPE, .cleanup = 0.03},
                {.id = 2, .delay = 5.0, .on_cancel = ON_CANCEL_FAIL, .fail = -ENOENT, .cleanup = 0.01},
                {.id = 3, .delay = 5.0}};
    cio_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = cio_group_spawn(g, kid_fn, &k[i], NULL);
    CHECK_EQ(cio_group_wait(g), -EIO); /* the first */
    CHECK_EQ(cio_group_nerrors(g), 3);
    cio_task *c;
    CHECK_EQ(cio_group_error(g, 0, &c), -EIO);
    CHECK(c == t[0]);
    CHECK_EQ(cio_group_error(g, 1, &c), -ENOENT);
    CHECK(c == t[2]);
    CHECK_EQ(cio_group_error(g, 2, &c), -EPIPE);
    CHECK(c == t[1]);
    CHECK_EQ(cio_group_error(g, 3, &c), -EINVAL);
    CHECK(cio_cancelled(t[3]));
    CHECK_EQ(cio_task_cancelling(self()), 0);
    cio_group_free(g);

    /* several failing in the same loop iteration, none cancelled in time:
     * children that fail whatever their sleep returned */
    g = cio_group_new();
    kid s[3] = {{.id = 0, .delay = 0.01, .fail = -E2BIG, .on_cancel = ON_CANCEL_FAIL},
                {.id = 1, .delay = 0.01, .fail = -EDOM, .on_cancel = ON_CANCEL_FAIL},
                {.id = 2, .delay = 0.01, .fail = -ERANGE, .on_cancel = ON_CANCEL_FAIL}};
    for (int i = 0; i < 3; i++)
        t[i] = cio_group_spawn(g, kid_fn, &s[i], NULL);
    CHECK_EQ(cio_group_wait(g), -E2BIG);
    CHECK_EQ(cio_group_nerrors(g), 3);
    CHECK_EQ(cio_group_error(g, 0, NULL), -E2BIG);
    CHECK_EQ(cio_group_error(g, 1, NULL), -EDOM);
    CHECK_EQ(cio_group_error(g, 2, NULL), -ERANGE);
    cio_group_free(g);

    /* many failures: the error list grows */
    g = cio_group_new();
    kid many[20];
    for (int i = 0; i < 20; i++) {
        many[i] = (kid){.id = i, .delay = 0.01, .fail = -(100 + i), .on_cancel = ON_CANCEL_FAIL};
        cio_group_spawn(g, kid_fn, &many[i], NULL);
    }
    CHECK_EQ(cio_group_wait(g), -100);
    CHECK_EQ(cio_group_nerrors(g), 20);
    for (size_t i = 0; i < 20; i++)
        CHECK_EQ(cio_group_error(g, i, NULL), -(100 + (int)i));
    cio_group_free(g);
    return NULL;
}

/* ---- spawning into an aborting group ------------------------------------------ */

static void *t_spawn_aborting(void *arg)
{
    (void)arg;
    cio_group *g = cio_group_new();
    kid k[2] = {{.id = 0, .delay = 0.01, .fail = -EIO}, {.id = 1, .delay = 5.0}};
    cio_group_spawn(g, kid_fn, &k[0], NULL);
    cio_group_spawn(g, kid_fn, &k[1], NULL);
    CHECK_EQ(cio_sleep(5.0), -ECANCELED);
    kid late = {.id = 2, .delay = 0.0};
    errno = 0;
    CHECK(cio_group_spawn(g, kid_fn, &late, NULL) == NULL);
    CHECK_EQ(errno, -CIO_EGROUPABORTED);
    CHECK(errno > 0);
    CHECK_EQ(cio_group_wait(g), -EIO);
    CHECK(!late.finished);
    cio_group_free(g);
    return NULL;
}

/* A child spawning a sibling while the body waits (allowed, as asyncio) and
 * a child trying to after the failure. */
typedef struct spawner {
    cio_group *g;
    kid *k;
    int err;
    cio_task *spawned;
    double delay;
} spawner;

static void *spawner_fn(void *arg)
{
    spawner *s = arg;
    cio_sleep(s->delay);
    errno = 0;
    s->spawned = cio_group_spawn(s->g, kid_fn, s->k, NULL);
    s->err = errno;
    return NULL;
}

static void *t_spawn_from_child(void *arg)
{
    (void)arg;
    cio_group *g = cio_group_new();
    kid k = {.id = 0, .delay = 0.02, .value = 7};
    spawner s = {.g = g, .k = &k, .delay = 0.01};
    cio_group_spawn(g, spawner_fn, &s, NULL);
    CHECK_EQ(cio_group_wait(g), 0);
    CHECK(s.spawned != NULL);
    CHECK(k.finished); /* waited for the grandchild too */
    cio_group_free(g);

    g = cio_group_new();
    kid f = {.id = 0, .delay = 0.005, .fail = -EIO};
    kid k2 = {.id = 1, .delay = 0.0};
    /* this child gets the group's cancellation, then tries to spawn */
    spawner s2 = {.g = g, .k = &k2, .delay = 5.0};
    cio_group_spawn(g, kid_fn, &f, NULL);
    cio_group_spawn(g, spawner_fn, &s2, NULL);
    CHECK_EQ(cio_group_wait(g), -EIO);
    CHECK(s2.spawned == NULL);
    CHECK_EQ(s2.err, -CIO_EGROUPABORTED);
    cio_group_free(g);
    return NULL;
}

/* ---- the body cancelled from outside -------------------------------------------- */

typedef struct bjob {
    kid k[2];
    cio_task *t[2];
    int wait_rc;
    int sleep_rc;
    bool kids_done_at_return;
    int cancelling_after;
    bool sleep_in_body;
} bjob;

static void *group_body(void *arg)
{
    bjob *j = arg;
    cio_group *g = cio_group_new();
    for (int i = 0; i < 2; i++)
        j->t[i] = cio_group_spawn(g, kid_fn, &j->k[i], NULL);
    if (j->sleep_in_body)
        j->sleep_rc = cio_sleep(5.0);
    j->wait_rc = cio_group_wait(g);
    j->kids_done_at_return = cio_done(j->t[0]) && cio_done(j->t[1]);
    j->cancelling_after = cio_task_cancelling(cio_current_task());
    cio_group_free(g);
    return (void *)1;
}

static void *t_body_cancelled(void *arg)
{
    (void)arg;
    for (int in_body = 0; in_body < 2; in_body++) {
        bjob j = {.k = {{.id = 0, .delay = 5.0, .cleanup = 0.02}, {.id = 1, .delay = 5.0}}, .sleep_in_body = in_body};
        cio_task *b = cio_spawn(group_body, &j);
        CHECK_EQ(cio_sleep(0.01), 0);
        cio_cancel(b, NULL);
        CHECK_EQ(join(b, NULL), -ECANCELED); /* the body ends cancelled */
        if (in_body)
            CHECK_EQ(j.sleep_rc, -ECANCELED);
        CHECK_EQ(j.wait_rc, -ECANCELED);
        CHECK(j.kids_done_at_return);
        CHECK(j.k[0].finished && j.k[1].finished);
        CHECK_EQ(j.k[0].sleep_rc, -ECANCELED);
        CHECK_EQ(j.k[0].cleanup_rc, 0);
        CHECK_EQ(j.cancelling_after, 1); /* the outside request stays */
        cio_release(b);
    }

    /* cancelled from outside after a child failed (aborting already): the
     * child's error is reported instead (the ExceptionGroup replaces the
     * CancelledError, as in asyncio); the outside request stays counted */
    bjob j = {.k = {{.id = 0, .delay = 0.005, .fail = -EIO}, {.id = 1, .delay = 5.0, .cleanup = 0.3}}};
    cio_task *b = cio_spawn(group_body, &j);
    CHECK_EQ(cio_sleep(0.02), 0);
    cio_cancel(b, NULL);
    CHECK_EQ(join(b, NULL), 0);
    CHECK_EQ(j.wait_rc, -EIO);
    CHECK(j.kids_done_at_return);
    CHECK_EQ(j.cancelling_after, 1);
    cio_release(b);
    return NULL;
}

/* A body that swallows an outside cancellation (uncancel) is not cancelled:
 * the group completes normally. */
static void *swallow_body(void *arg)
{
    int *rc = arg;
    cio_group *g = cio_group_new();
    kid k = {.id = 0, .delay = 0.03, .value = 1};
    cio_task *t = cio_group_spawn(g, kid_fn, &k, NULL);
    if (cio_sleep(5.0) == -ECANCELED)
        cio_task_uncancel(cio_current_task());
    *rc = cio_group_wait(g);
    CHECK(!cio_cancelled(t));
    cio_group_free(g);
    return (void *)2;
}

/* A task that was cancelled before it opened the group (and caught it,
 * e.g. a cleanup path): the group is not aborted by that old request. */
static void *cleanup_body(void *arg)
{
    int *rc = arg;
    cio_cancel(cio_current_task(), NULL);
    CHECK_EQ(cio_sleep(1.0), -ECANCELED); /* caught, not uncancelled */
    cio_group *g = cio_group_new();
    kid k = {.id = 0, .delay = 0.01, .value = 1};
    cio_task *t = cio_group_spawn(g, kid_fn, &k, NULL);
    *rc = cio_group_wait(g);
    CHECK(!cio_cancelled(t));
    CHECK_EQ(k.sleep_rc, 0);
    cio_group_free(g);
    return NULL;
}

static void *t_body_swallows(void *arg)
{
    (void)arg;
    int rc = 99;
    cio_task *b = cio_spawn(swallow_body, &rc);
    CHECK_EQ(cio_sleep(0.01), 0);
    cio_cancel(b, NULL);
    void *v;
    CHECK_EQ(join(b, &v), 0);
    CHECK_EQ((intptr_t)v, 2);
    CHECK_EQ(rc, 0);
    cio_release(b);

    rc = 99;
    b = cio_spawn(cleanup_body, &rc);
    CHECK_EQ(join(b, NULL), -ECANCELED); /* its own old cancellation */
    CHECK_EQ(rc, 0);
    cio_release(b);
    return NULL;
}

/* ---- children spawned after some finished ----------------------------------------- */

static void *t_spawn_later(void *arg)
{
    (void)arg;
    reset_order();
    cio_group *g = cio_group_new();
    kid k[3] = {{.id = 0, .delay = 0.005, .value = 1}, {.id = 1, .delay = 0.005, .value = 2},
                {.id = 2, .delay = 0.01, .value = 3}};
    cio_task *a = cio_group_spawn(g, kid_fn, &k[0], NULL);
    CHECK_EQ(cio_sleep(0.02), 0);
    CHECK(cio_done(a));
    cio_task *b = cio_group_spawn(g, kid_fn, &k[1], NULL);
    CHECK(b != NULL);
    CHECK_EQ(cio_sleep(0.02), 0);
    CHECK(cio_done(b));
    cio_task *c = cio_group_spawn(g, kid_fn, &k[2], NULL); /* all others done */
    CHECK(c != NULL);
    CHECK(!cio_done(c));
    CHECK_EQ(cio_group_wait(g), 0);
    CHECK(cio_done(c));
    CHECK_EQ(norder, 3);
    cio_group_free(g);

    /* a failure among children that finished before the body waited */
    g = cio_group_new();
    kid f = {.id = 0, .delay = 0.0, .fail = -EIO};
    cio_group_spawn(g, kid_fn, &f, NULL);
    CHECK_EQ(cio_sleep(0.01), -ECANCELED); /* the failure cancelled the body */
    CHECK_EQ(cio_group_wait(g), -EIO);
    CHECK_EQ(cio_task_cancelling(self()), 0);
    cio_group_free(g);
    return NULL;
}

/* ---- free before wait ---------------------------------------------------------------- */

static void *t_free_before_wait(void *arg)
{
    (void)arg;
    cio_group *g = cio_group_new();
    kid k[2] = {{.id = 0, .delay = 5.0, .cleanup = 0.01}, {.id = 1, .delay = 0.0, .value = 1}};
    cio_task *t[2];
    for (int i = 0; i < 2; i++)
        t[i] = cio_ref(cio_group_spawn(g, kid_fn, &k[i], NULL)); /* keep them past the free */
    CHECK_EQ(cio_sleep(0.005), 0);
    CHECK(cio_done(t[1]));
    cio_group_free(g); /* cancels the running child */
    CHECK(!cio_done(t[0]));
    CHECK_EQ(cio_task_cancelling(t[0]), 1);
    CHECK_EQ(join(t[0], NULL), -ECANCELED);
    CHECK(k[0].finished);
    CHECK_EQ(cio_task_cancelling(self()), 0);
    for (int i = 0; i < 2; i++)
        cio_release(t[i]);

    /* without keeping references: the children finish on their own */
    g = cio_group_new();
    kid m = {.id = 0, .delay = 5.0, .cleanup = 0.01};
    cio_group_spawn(g, kid_fn, &m, NULL);
    CHECK_EQ(cio_yield(), 0); /* let it start (cancelled before, it would never run) */
    cio_group_free(g);
    CHECK_EQ(cio_sleep(0.1), 0);
    CHECK(m.finished);

    /* a child failing after the group was freed does not touch it */
    g = cio_group_new();
    kid e = {.id = 0, .delay = 5.0, .on_cancel = ON_CANCEL_FAIL, .fail = -EIO};
    cio_group_spawn(g, kid_fn, &e, NULL);
    CHECK_EQ(cio_yield(), 0);
    cio_group_free(g);
    CHECK_EQ(cio_sleep(0.01), 0);
    CHECK(e.finished);
    CHECK_EQ(cio_task_cancelling(self()), 0);
    return NULL;
}

/* ---- nested groups -------------------------------------------------------------------- */

static void *inner_group_child(void *arg)
{
    int *fail = arg;
    cio_group *g = cio_group_new();
    kid k[2] = {{.id = 10, .delay = 0.01, .fail = *fail}, {.id = 11, .delay = 5.0}};
    for (int i = 0; i < 2; i++)
        cio_group_spawn(g, kid_fn, &k[i], NULL);
    int rc = cio_group_wait(g);
    cio_group_free(g);
    if (rc)
        return cio_fail(rc, "inner group failed");
    return (void *)5;
}

static void *t_nested(void *arg)
{
    (void)arg;
    /* an inner group in the body of the outer one; the inner fails */
    cio_group *outer = cio_group_new();
    kid o = {.id = 0, .delay = 0.3, .value = 1};
    cio_task *ot = cio_group_spawn(outer, kid_fn, &o, NULL);
    cio_group *inner = cio_group_new();
    kid in[2] = {{.id = 1, .delay = 0.01, .fail = -EIO}, {.id = 2, .delay = 5.0}};
    cio_task *it[2];
    for (int i = 0; i < 2; i++)
        it[i] = cio_group_spawn(inner, kid_fn, &in[i], NULL);
    CHECK_EQ(cio_sleep(5.0), -ECANCELED);
    CHECK_EQ(cio_group_wait(inner), -EIO);
    CHECK(cio_cancelled(it[1]));
    CHECK_EQ(cio_task_cancelling(self()), 0);
    CHECK(!cio_done(ot)); /* the outer group's child is untouched */
    cio_group_free(inner);
    CHECK_EQ(cio_group_wait(outer), 0);
    CHECK_EQ(cio_result(ot, NULL), 0);
    cio_group_free(outer);

    /* a child of the outer group runs a group of its own that fails: the
     * child fails, the outer group aborts */
    outer = cio_group_new();
    int fail = -EXDEV;
    kid sib = {.id = 3, .delay = 5.0};
    cio_task *ch = cio_group_spawn(outer, inner_group_child, &fail, NULL);
    cio_task *st = cio_group_spawn(outer, kid_fn, &sib, NULL);
    CHECK_EQ(cio_group_wait(outer), -EXDEV);
    CHECK_EQ(cio_result(ch, NULL), -EXDEV);
    CHECK(cio_cancelled(st));
    CHECK_EQ(cio_task_cancelling(self()), 0);
    cio_group_free(outer);

    /* the outer group aborts while a child sits in its own inner group: the
     * cancellation goes through the inner group to the grandchildren */
    outer = cio_group_new();
    int ok = 0;
    kid bad = {.id = 4, .delay = 0.005, .fail = -EIO};
    /* inner_group_child with fail = 0: its first grandchild succeeds, the
     * second sleeps 5 s; the outer failure must cancel it */
    ch = cio_group_spawn(outer, inner_group_child, &ok, NULL);
    cio_group_spawn(outer, kid_fn, &bad, NULL);
    double t0 = cio_time();
    CHECK_EQ(cio_group_wait(outer), -EIO);
    CHECK(took(cio_time() - t0, 0.005)); /* at the failure: the 5 s grandchild was cancelled */
    CHECK(cio_cancelled(ch));
    cio_group_free(outer);
    return NULL;
}

/* ---- misuse ------------------------------------------------------------------------------ */

static void *other_task_wait(void *arg)
{
    return (void *)(intptr_t)cio_group_wait(arg);
}

static void *t_misuse(void *arg)
{
    (void)arg;
    cio_group *g = cio_group_new();
    cio_task *o = cio_spawn(other_task_wait, g);
    void *v;
    CHECK_EQ(join(o, &v), 0);
    CHECK_EQ((intptr_t)v, -EPERM); /* only the body may wait */
    cio_release(o);
    CHECK_EQ(cio_group_wait(g), 0);
    CHECK_EQ(cio_group_wait(g), 0); /* twice is harmless */
    cio_group_free(g);
    cio_group_free(NULL);
    return NULL;
}

/* ---- two children fail in the same pass -------------------------------- */

/* As asyncio, the group hears of a child's end on the loop's next pass
 * (TaskGroup._on_task_done is a done callback): a sibling that became ready
 * in the same pass runs its step first, so its own error is not lost to a
 * cancellation (it used to end cancelled, one error reported). */
static void *t_siblings_fail_same_pass(void *arg)
{
    (void)arg;
    for (int sleeping = 0; sleeping < 2; sleeping++) {
        reset_order();
        cio_group *g = cio_group_new();
        /* -1: no suspension at all; 0.01: both timers fire in one pass */
        double d = sleeping ? 0.01 : -1;
        kid k[3] = {{.id = 0, .delay = d, .fail = -EIO}, {.id = 1, .delay = d, .fail = -EPIPE}, {.id = 2, .delay = 5.0}};
        cio_task *t[3];
        for (int i = 0; i < 3; i++)
            t[i] = cio_group_spawn(g, kid_fn, &k[i], NULL);
        CHECK_EQ(cio_group_wait(g), -EIO);
        CHECK_EQ(cio_group_nerrors(g), 2);
        cio_task *c;
        CHECK_EQ(cio_group_error(g, 0, &c), -EIO);
        CHECK(c == t[0]);
        CHECK_EQ(cio_group_error(g, 1, &c), -EPIPE);
        CHECK(c == t[1]);
        CHECK(cio_cancelled(t[2]));
        CHECK_EQ(cio_task_cancelling(self()), 0);
        cio_group_free(g);
    }
    return NULL;
}

/* ---- the body fails (cio_group_exit) ------------------------------------ */

static void *t_body_error(void *arg)
{
    (void)arg;
    /* an error in the body cancels the children and joins the error set,
     * last, without a child */
    cio_group *g = cio_group_new();
    kid k[2] = {{.id = 0, .delay = 5.0}, {.id = 1, .delay = 5.0, .on_cancel = ON_CANCEL_FAIL, .fail = -EPIPE}};
    cio_task *t[2];
    for (int i = 0; i < 2; i++)
        t[i] = cio_group_spawn(g, kid_fn, &k[i], NULL);
    CHECK_EQ(cio_yield(), 0);
    CHECK_EQ(cio_group_exit(g, -EINVAL), -EPIPE);
    CHECK(cio_cancelled(t[0]));
    CHECK_EQ(cio_group_nerrors(g), 2);
    cio_task *c = (cio_task *)1;
    CHECK_EQ(cio_group_error(g, 0, &c), -EPIPE);
    CHECK(c == t[1]);
    CHECK_EQ(cio_group_error(g, 1, &c), -EINVAL);
    CHECK(c == NULL);
    CHECK_EQ(cio_task_cancelling(self()), 0);
    errno = 0;
    CHECK(cio_group_spawn(g, kid_fn, &k[0], NULL) == NULL); /* finished */
    CHECK_EQ(errno, -CIO_EGROUPABORTED);
    cio_group_free(g);

    /* alone: the body's error is the result; children never started are
     * cancelled before they run */
    g = cio_group_new();
    kid n[1] = {{.id = 0, .delay = 0.01}};
    t[0] = cio_group_spawn(g, kid_fn, &n[0], NULL);
    CHECK_EQ(cio_group_exit(g, -ENOENT), -ENOENT);
    CHECK(cio_cancelled(t[0]));
    CHECK(!n[0].finished);
    CHECK_EQ(cio_group_nerrors(g), 1);
    cio_group_free(g);

    /* exit with 0 and no child: 0; exit with -ECANCELED from outside: the
     * children are cancelled and -ECANCELED propagates */
    g = cio_group_new();
    CHECK_EQ(cio_group_exit(g, 0), 0);
    cio_group_free(g);
    g = cio_group_new();
    kid m[1] = {{.id = 0, .delay = 5.0}};
    t[0] = cio_group_spawn(g, kid_fn, &m[0], NULL);
    cio_cancel(self(), NULL);
    CHECK_EQ(cio_yield(), -ECANCELED);
    CHECK_EQ(cio_group_exit(g, -ECANCELED), -ECANCELED);
    CHECK(cio_cancelled(t[0]));
    CHECK_EQ(cio_task_uncancel(self()), 0);
    cio_group_free(g);
    return NULL;
}

static void t_outside_task(void)
{
    check_current = "t_outside_task";
    errno = 0;
    CHECK(cio_group_new() == NULL);
    CHECK_EQ(errno, EPERM);
}

int main(void)
{
    /* timers and tasks only: every test runs on the virtual clock, so
     * sleeps end in order at exact loop times under any load */
    setenv("CIO_VIRTUAL_TIME", "1", 1);
    RUN_TASK_TEST(t_all_succeed);
    RUN_TASK_TEST(t_one_fails);
    RUN_TASK_TEST(t_several_fail);
    RUN_TASK_TEST(t_spawn_aborting);
    RUN_TASK_TEST(t_spawn_from_child);
    RUN_TASK_TEST(t_body_cancelled);
    RUN_TASK_TEST(t_body_swallows);
    RUN_TASK_TEST(t_spawn_later);
    RUN_TASK_TEST(t_free_before_wait);
    RUN_TASK_TEST(t_nested);
    RUN_TASK_TEST(t_misuse);
    RUN_TASK_TEST(t_siblings_fail_same_pass);
    RUN_TASK_TEST(t_body_error);
    RUN_TEST(t_outside_task);
    return check_exit();
}
