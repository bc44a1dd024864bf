/* SPDX-License-Identifier: MIT */
/* Task groups (asyncio.TaskGroup).
 *
 * A group cancels the body's task and later withdraws its own cancellation
 * with cio_task_uncancel(), as the scoped timeouts of timeout.c do, so
 * nested groups, scopes and cancellations from outside compose through the
 * task's cancelling count exactly as in asyncio 3.11+. */
#include "core/internal.h"

#include <stdlib.h>

typedef struct gchild {
    cio__dhook d;
    cio_group *g;
    cio_task *t;
} gchild;

typedef struct gerr {
    cio_task *t; /* NULL: the body's own error (cio_group_exit) */
    int code;
} gerr;

struct cio_group {
    cio__task *parent;
    gchild **kids;
    size_t nkids, capkids;
    size_t running;
    gerr *errs;
    size_t nerr, caperr;
    cio__wait w;
    cio__dbatch batch; /* the children's completion hooks */
    int32_t ncancel0; /* the body's cancelling count when the group opened */
    bool saw0;        /* and whether a CancelledError was propagating then */
    bool parked, aborting, parent_cancel_requested, exiting, exited;
};

cio_group *cio_group_new(void)
{
    cio__task *t = cio__current();
    if (!t) {
        errno = EPERM;
        return NULL;
    }
    cio_group *g = calloc(1, sizeof *g);
    if (!g) {
        errno = ENOMEM;
        return NULL;
    }
    g->parent = t;
    cio__dbatch_init(&g->batch);
    g->ncancel0 = t->ncancel;
    g->saw0 = t->saw_cancel;
    return g;
}

static void group_abort(cio_group *g)
{
    g->aborting = true;
    for (size_t i = 0; i < g->nkids; i++)
        if (!cio_done(g->kids[i]->t))
            cio_cancel(g->kids[i]->t, NULL);
}

static void group_add_error(cio_group *g, cio_task *t, int code)
{
    if (g->nerr == g->caperr) {
        size_t cap = g->caperr ? 2 * g->caperr : 4;
        gerr *e = realloc(g->errs, cap * sizeof *e);
        if (e) {
            g->errs = e;
            g->caperr = cap;
        }
    }
    if (g->nerr < g->caperr)
        g->errs[g->nerr++] = (gerr){t, code};
}

/* TaskGroup._on_task_done: runs from the ready queue (a deferred hook), so
 * a sibling that finished in the same pass has had its step already. */
static void group_child_done(cio__dhook *d, cio_future *f)
{
    gchild *c = CIO__CONTAINER_OF(d, gchild, d);
    cio_group *g = c->g;
    g->running--;
    if (f->state == CIO__ERROR) {
        f->retrieved = 1; /* the group reports it */
        group_add_error(g, f, f->err);
        if (!g->aborting && !g->parent_cancel_requested && g->parent->f.state == CIO__PENDING) {
            /* Cancel the siblings and whatever the body is doing now; the
             * body's cancellation is withdrawn when it leaves the group. */
            group_abort(g);
            g->parent_cancel_requested = true;
            cio__task_cancel(g->parent, NULL);
        }
    }
    if (g->running == 0 && g->parked) {
        g->parked = false;
        cio__wake(g->parent, 0);
    }
}

cio_task *cio_group_spawn(cio_group *g, cio_task_fn fn, void *arg, const cio_task_opts *opts)
{
    /* asyncio refuses once the group is aborting, and once it has finished
     * (exiting with no task left); children may spawn siblings while the
     * body waits in cio_group_exit. */
    if (g->aborting || g->exited || (g->exiting && g->running == 0)) {
        errno = -CIO_EGROUPABORTED;
        return NULL;
    }
    if (g->nkids == g->capkids) {
        size_t cap = g->capkids ? 2 * g->capkids : 8;
        gchild **k = realloc(g->kids, cap * sizeof *k);
        if (!k) {
            errno = ENOMEM;
            return NULL;
        }
        g->kids = k;
        g->capkids = cap;
    }
    gchild *c = malloc(sizeof *c);
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    cio_task *t = cio_spawn_ex(g->parent->f.loop, fn, arg, opts);
    if (!t) {
        free(c);
        return NULL;
    }
    c->g = g;
    c->t = t;
    cio__dhook_init(&c->d);
    g->kids[g->nkids++] = c;
    g->running++;
    cio__dhook_add(&g->batch, t, &c->d, group_child_done); /* an eager child may be done already */
    return t;
}

static bool group_wait_cancel(cio__wait *w)
{
    cio_group *g = CIO__CONTAINER_OF(w, cio_group, w);
    g->parked = false;
    cio__wake(w->task, -ECANCELED);
    return true;
}

/* Waits for the children; a cancellation from outside while waiting aborts
 * them (once) and is to be propagated. */
static bool group_join(cio_group *g, cio__task *t)
{
    bool cancelled = false;
    while (g->running > 0) {
        int rc;
        if (t->must_cancel) {
            t->must_cancel = 0;
            t->saw_cancel = 1;
            rc = -ECANCELED;
        } else {
            g->w.what = "task group";
            g->w.cancel = group_wait_cancel;
            g->w.droppable = true;
            g->parked = true;
            rc = cio__park(&g->w);
            g->parked = false;
        }
        if (rc == -ECANCELED && !g->aborting) {
            cancelled = true;
            group_abort(g);
        }
    }
    return cancelled;
}

/* TaskGroup.__aexit__ with the body's status rc. */
int cio_group_exit(cio_group *g, int rc)
{
    cio__task *t = cio__current();
    if (t != g->parent)
        return t ? -EPERM : CIO_ENOTASK;
    if (g->exited) /* again: harmless, the same answer */
        return g->nerr ? g->errs[0].code : 0;
    g->exiting = true;
    bool propagate_cancel = rc == -ECANCELED;
    if (rc && !g->aborting)
        group_abort(g); /* the body failed or was cancelled */
    if (group_join(g, t))
        propagate_cancel = true;
    g->exited = true;
    /* Withdraw the group's own cancellation of the body (after the wait, as
     * asyncio 3.12+, so that a child failing during it is covered too). */
    if (g->parent_cancel_requested) {
        g->parent_cancel_requested = false;
        if (cio_task_uncancel(&t->f) <= g->ncancel0) {
            propagate_cancel = false; /* no request but ours: swallowed */
            t->saw_cancel = g->saw0;
        }
    }
    if (rc && rc != -ECANCELED)
        group_add_error(g, NULL, rc);
    if (g->nerr) {
        /* The errors replace a CancelledError raised inside the group (the
         * ExceptionGroup is raised instead); one that was propagating when
         * the group opened (a group in cleanup code) still is. */
        t->saw_cancel = g->saw0;
        return g->errs[0].code;
    }
    if (propagate_cancel) {
        t->saw_cancel = 1;
        return -ECANCELED;
    }
    return 0;
}

int cio_group_wait(cio_group *g)
{
    cio__task *t = cio__current();
    if (t != g->parent)
        return t ? -EPERM : CIO_ENOTASK;
    /* Was the body cancelled from outside (it saw -ECANCELED, or one is
     * still pending, beyond the group's own request)?  Requests that were
     * already there when the group opened are not the body's. */
    int ours = g->parent_cancel_requested ? 1 : 0;
    bool cancelled = t->ncancel > g->ncancel0 + ours && (t->saw_cancel || t->must_cancel);
    return cio_group_exit(g, cancelled ? -ECANCELED : 0);
}

size_t cio_group_nerrors(const cio_group *g) { return g->nerr; }

int cio_group_error(const cio_group *g, size_t i, cio_task **child)
{
    if (i >= g->nerr) {
        if (child)
            *child = NULL;
        return -EINVAL;
    }
    if (child)
        *child = g->errs[i].t;
    return g->errs[i].code;
}

void cio_group_free(cio_group *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->nkids; i++) {
        gchild *c = g->kids[i];
        cio__dhook_remove(&c->d);
        if (!cio_done(c->t))
            cio_cancel(c->t, NULL);
        cio_release(c->t);
        free(c);
    }
    cio__dbatch_close(&g->batch);
    free(g->kids);
    free(g->errs);
    free(g);
}
