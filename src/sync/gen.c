/* SPDX-License-Identifier: MIT */
/* Generators (async generators / async iterators / `async for` / anext).
 *
 * The producer runs as a task of its own, started by the first
 * cio_gen_next().  Producer and consumer take turns: next() wakes the
 * producer and parks until it yields a value or ends; yield() hands the
 * value over and parks until the next request.  Closing early wakes the
 * producer's pending yield with CIO_EGENCLOSED so it can free what it holds
 * and return (GeneratorExit). */
#include "sync/sync.h"

#include <stdlib.h>
#include <string.h>

enum { G_NEW, G_STARTED, G_DONE };

/* The consumer parked in next() or the producer parked in yield(). */
typedef struct gwait {
    cio__wait w;
    cio_gen *g;
} gwait;

struct cio_gen {
    cio_gen_fn fn;
    void *arg;
    cio_task_opts opts;
    char *name;
    cio_task *task;
    int state;
    bool has_value, closing, error_reported, orphan;
    void *value;
    struct gwait *consumer; /* waiting in next() */
    struct gwait *producer; /* parked in yield() */
    cio__fcb done_cb;
};

static void *gen_body(void *arg)
{
    cio_gen *g = arg;
    return g->fn(g, g->arg);
}

static void gen_task_done(cio__fcb *cb, cio_future *f)
{
    (void)f;
    cio_gen *g = CIO__CONTAINER_OF(cb, cio_gen, done_cb);
    g->state = G_DONE;
    if (g->orphan) { /* freed by its owner while the producer finished up */
        free(g->name);
        free(g);
        return;
    }
    if (g->consumer) {
        gwait *c = g->consumer;
        g->consumer = NULL;
        cio__wake(c->w.task, 0);
    }
}

cio_gen *cio_gen_new(cio_gen_fn fn, void *arg, const cio_task_opts *opts)
{
    if (!fn) {
        errno = EINVAL;
        return NULL;
    }
    cio_gen *g = calloc(1, sizeof *g);
    if (!g) {
        errno = ENOMEM;
        return NULL;
    }
    g->fn = fn;
    g->arg = arg;
    if (opts) {
        g->opts = *opts;
        if (opts->name && !(g->name = strdup(opts->name))) {
            free(g);
            errno = ENOMEM;
            return NULL;
        }
        g->opts.name = g->name;
    }
    g->opts.flags &= ~(unsigned)(CIO_TASK_LAZY | CIO_TASK_EAGER);
    cio__list_init(&g->done_cb.link);
    return g;
}

/* The consumer was cancelled while waiting for a value: as in asyncio, where
 * the CancelledError is thrown into the generator, the producer is
 * cancelled and the consumer waits for it to yield or end. */
static bool consumer_cancel(cio__wait *w)
{
    cio_gen *g = CIO__CONTAINER_OF(w, gwait, w)->g;
    if (cio_cancel(g->task, w->task->cancel_msg))
        return true;
    /* The producer is already done (its completion wakes us anyway): just
     * stop waiting. */
    g->consumer = NULL;
    cio__wake(w->task, -ECANCELED);
    return true;
}

int cio_gen_next(cio_gen *g, void **value)
{
    *value = NULL;
    if (g->has_value) {
        /* A value yielded while nobody was taking it (the consumer was
         * cancelled after the hand-over, or the producer went on after its
         * yield was cancelled): hand it over now, without waking the
         * producer, which would overwrite it with the next one. */
        g->has_value = false;
        *value = g->value;
        return 0;
    }
    if (g->state == G_DONE) {
        if (!g->error_reported && g->task) {
            g->error_reported = true;
            int code = cio_result(g->task, NULL);
            cio__task *cur;
            /* The producer ended cancelled: if that is this task's own
             * cancellation coming back (consumer_cancel passed it on), it
             * has now been delivered, as in cio_await(). */
            if (code == -ECANCELED && (cur = cio__current()))
                cio__note_cancel(cur);
            if (code)
                return code;
        }
        return CIO_EDONE;
    }
    cio__task *t;
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    if (g->consumer)
        return -EBUSY; /* another consumer is already waiting */
    if (g->state == G_NEW) {
        g->task = cio_spawn_ex(t->f.loop, gen_body, g, &g->opts);
        if (!g->task)
            return -errno;
        g->state = G_STARTED;
        cio__fcb_add(g->task, &g->done_cb, gen_task_done);
    } else if (g->producer) {
        gwait *p = g->producer;
        g->producer = NULL;
        cio__wake(p->w.task, 0);
    }
    gwait s = {.g = g};
    s.w.what = "generator next";
    s.w.cancel = consumer_cancel;
    /* Woken with a value, then cancelled before running: the cancellation
     * wins and the value stays in g for the next cio_gen_next (see the
     * top), so it is neither lost nor repeated. */
    s.w.droppable = true;
    g->consumer = &s;
    rc = cio__park(&s.w);
    g->consumer = NULL;
    if (rc)
        return rc;
    if (g->has_value) {
        g->has_value = false;
        *value = g->value;
        return 0;
    }
    return cio_gen_next(g, value); /* the producer ended */
}

static bool producer_cancel(cio__wait *w)
{
    cio_gen *g = CIO__CONTAINER_OF(w, gwait, w)->g;
    g->producer = NULL;
    cio__wake(w->task, -ECANCELED);
    return true;
}

int cio_gen_yield(cio_gen *g, void *value)
{
    cio__task *t = cio__current();
    if (!t || !g->task || t != cio__task_of(g->task))
        return -EPERM;
    if (g->closing)
        return CIO_EGENCLOSED;
    g->value = value;
    g->has_value = true;
    if (g->consumer) {
        gwait *c = g->consumer;
        g->consumer = NULL;
        cio__wake(c->w.task, 0);
    }
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    gwait s = {.g = g};
    s.w.what = "generator yield";
    s.w.cancel = producer_cancel;
    s.w.droppable = true;
    g->producer = &s;
    rc = cio__park(&s.w);
    g->producer = NULL;
    return rc;
}

int cio_gen_close(cio_gen *g)
{
    if (g->state == G_NEW) {
        g->state = G_DONE;
        g->error_reported = true;
        return 0;
    }
    g->has_value = false; /* a value nobody took dies with the generator */
    if (g->state == G_DONE)
        return 0;
    g->closing = true;
    if (g->producer) {
        gwait *p = g->producer;
        g->producer = NULL;
        cio__wake(p->w.task, CIO_EGENCLOSED);
    } else {
        cio_cancel(g->task, NULL);
    }
    cio__task *t = cio__current();
    if (!t)
        return 0; /* outside a task: the producer finishes on its own */
    int32_t ncancel = t->ncancel;
    bool pending = t->must_cancel;
    int rc = cio_await(g->task, NULL);
    g->error_reported = true;
    /* The producer ending cancelled is the normal outcome of the close (it
     * was cancelled above, or reacted to CIO_EGENCLOSED by propagating a
     * cancellation); the closing task's own cancellation (pending before,
     * or arriving while it waited) is not, and must not be swallowed. */
    if (rc == CIO_EGENCLOSED || (rc == -ECANCELED && !pending && t->ncancel == ncancel))
        rc = 0;
    return rc;
}

void cio_gen_free(cio_gen *g)
{
    if (!g)
        return;
    if (g->task && g->state != G_DONE) {
        /* The producer still has to unwind and may touch g until it returns:
         * g is freed by the completion hook instead. */
        bool was_closing = g->closing;
        g->closing = true;
        g->orphan = true;
        if (g->producer) {
            gwait *p = g->producer;
            g->producer = NULL;
            cio__wake(p->w.task, CIO_EGENCLOSED);
        } else if (!was_closing) {
            /* (if a close already reached it, let its cleanup finish) */
            cio_cancel(g->task, NULL);
        }
        cio_release(g->task);
        return;
    }
    if (g->task) {
        cio__fcb_remove(&g->done_cb);
        cio_release(g->task);
    }
    free(g->name);
    free(g);
}

int cio_gen_collect(cio_gen *g, void ***values, size_t *n)
{
    *values = NULL;
    *n = 0;
    size_t cap = 0;
    for (;;) {
        void *v;
        int rc = cio_gen_next(g, &v);
        if (rc == CIO_EDONE)
            return 0;
        if (rc) {
            free(*values);
            *values = NULL;
            *n = 0;
            return rc;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            void **nv = realloc(*values, cap * sizeof *nv);
            if (!nv) {
                free(*values);
                *values = NULL;
                *n = 0;
                return -ENOMEM;
            }
            *values = nv;
        }
        (*values)[(*n)++] = v;
    }
}
