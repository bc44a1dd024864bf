/* SPDX-License-Identifier: MIT */
/* gather, wait, wait_for, as_completed, shield: written once over futures,
 * so they take tasks, plain futures and executor jobs alike.
 *
 * Each combinator hangs one deferred hook (cio__dhook) on every child: as
 * asyncio's done callbacks, they run from the ready queue after the child
 * completed, so a sibling that became ready in the same pass (its timer
 * fired too) runs its step before the combinator decides anything.  Hooks
 * only update counters and wake the waiting task; no allocation happens per
 * child beyond one array for the hooks (on the stack for small sets), and
 * one handle per pass for the whole set (cio__dbatch). */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>

#define SMALL 8

typedef struct child_hook {
    cio__dhook d;
    struct multi *m;
    size_t idx;
} child_hook;

/* asyncio's timeouts: CIO_NO_TIMEOUT (or NaN) is none, <= 0 expired. */
static bool no_timeout(double timeout) { return !(timeout < CIO_NO_TIMEOUT); }

/* A task created with CIO_TASK_LAZY is work not started yet, where asyncio
 * takes a coroutine: the combinators that accept those start it. */
static void start_lazy(cio_future *f)
{
    if (f->is_task && cio__task_of(f)->tstate == CIO__TS_CREATED)
        cio_task_start(f);
}

/* State shared by gather and wait, on the waiting task's stack. */
typedef struct multi {
    cio__wait w;
    cio__timer tm;
    cio__dbatch batch;
    child_hook *hooks;
    cio_future *const *futs;
    size_t n, remaining;
    int mode;        /* gather: -1; wait: cio_wait_mode */
    int flags;       /* gather flags */
    int first_error; /* gather: first error in completion order */
    bool cancel_requested;
    bool parked;
} multi;

static void multi_wake(multi *m, int status)
{
    if (m->parked) {
        m->parked = false;
        cio__wake(m->w.task, status);
    }
}

static void child_done(cio__dhook *d, cio_future *f)
{
    child_hook *h = CIO__CONTAINER_OF(d, child_hook, d);
    multi *m = h->m;
    m->remaining--;
    if (m->mode < 0) { /* gather */
        int code = cio__future_code(f);
        if (code && !(m->flags & CIO_RETURN_EXCEPTIONS) && !m->first_error && !m->cancel_requested) {
            m->first_error = code;
            multi_wake(m, 0);
        }
    } else if (m->mode == CIO_FIRST_COMPLETED || (m->mode == CIO_FIRST_EXCEPTION && f->state == CIO__ERROR)) {
        /* asyncio's FIRST_EXCEPTION: a cancelled future is not an exception */
        multi_wake(m, 0);
    }
    if (m->remaining == 0)
        multi_wake(m, 0);
}

static int hooks_alloc(multi *m, child_hook *small)
{
    m->hooks = small;
    if (m->n > SMALL) {
        m->hooks = malloc(m->n * sizeof *m->hooks);
        if (!m->hooks)
            return -ENOMEM;
    }
    /* One hook per entry (a future listed twice gets two, each fires once),
     * so remaining counts pending entries. */
    m->remaining = 0;
    cio__dbatch_init(&m->batch);
    for (size_t i = 0; i < m->n; i++) {
        m->hooks[i].m = m;
        m->hooks[i].idx = i;
        cio__dhook_init(&m->hooks[i].d);
        if (m->futs[i]->state == CIO__PENDING) {
            cio__dhook_add(&m->batch, m->futs[i], &m->hooks[i].d, child_done);
            m->remaining++;
        }
    }
    return 0;
}

static void hooks_free(multi *m, child_hook *small)
{
    for (size_t i = 0; i < m->n; i++)
        cio__dhook_remove(&m->hooks[i].d);
    cio__dbatch_close(&m->batch);
    if (m->hooks != small)
        free(m->hooks);
}

/* asyncio: cancelling the gather cancels every child and (here) completes
 * once they have all finished, whatever they did with the cancellation. */
static void gather_cancel_children(multi *m, const char *msg)
{
    m->cancel_requested = true;
    for (size_t i = 0; i < m->n; i++)
        if (m->futs[i]->state == CIO__PENDING)
            cio_cancel(m->futs[i], msg);
}

static bool gather_cancel(cio__wait *w)
{
    multi *m = CIO__CONTAINER_OF(w, multi, w);
    gather_cancel_children(m, w->task->cancel_msg);
    if (m->remaining == 0)
        multi_wake(m, 0);
    return true;
}

/* asyncio.gather refuses futures tied to different loops (ValueError), and
 * a task can only wait for futures of its own loop (as cio_await). */
static bool one_loop(cio_future *const *futs, size_t n)
{
    cio__task *t = cio__current();
    for (size_t i = 0; i < n; i++)
        if (futs[i]->loop != futs[0]->loop || (t && futs[i]->loop != t->f.loop))
            return false;
    return true;
}

int cio_gather(cio_future *const *futs, size_t n, void **results, int *errors, int flags)
{
    if (n == 0)
        return 0;
    if (!one_loop(futs, n))
        return -EXDEV;
    for (size_t i = 0; i < n; i++)
        start_lazy(futs[i]);
    /* Settled without suspending (and so without looking at a pending
     * cancellation) when every child is done, or when one already failed. */
    bool all_done = true;
    int first_error = 0;
    for (size_t i = 0; i < n; i++) {
        if (futs[i]->state == CIO__PENDING)
            all_done = false;
        else if (!first_error && !(flags & CIO_RETURN_EXCEPTIONS))
            first_error = cio__future_code(futs[i]);
    }
    multi m = {0};
    child_hook small[SMALL];
    m.futs = futs;
    m.n = n;
    m.mode = -1;
    m.flags = flags;
    m.first_error = first_error;
    int rc = 0;
    if (!all_done && !first_error) {
        cio__task *t = cio__current();
        if (!t)
            return CIO_ENOTASK;
        if ((rc = hooks_alloc(&m, small)))
            return rc;
        if (t->must_cancel) {
            /* Cancelled before the call: asyncio delivers it to the gather's
             * future at the await, which cancels every child. */
            t->must_cancel = 0;
            gather_cancel_children(&m, t->cancel_msg);
        }
        if (m.remaining > 0 && !m.first_error) {
            m.w.what = "gather";
            m.w.cancel = gather_cancel;
            m.w.droppable = true;
            m.parked = true;
            rc = cio__park(&m.w);
            m.parked = false;
        }
        hooks_free(&m, small);
    }
    for (size_t i = 0; i < n; i++) {
        int code = cio_result(futs[i], results ? &results[i] : NULL);
        if (errors)
            errors[i] = code;
        if (code && !m.first_error && !(flags & CIO_RETURN_EXCEPTIONS))
            m.first_error = code;
    }
    if (rc == -ECANCELED || m.cancel_requested)
        rc = -ECANCELED;
    else if (!rc)
        rc = m.first_error;
    if (rc == -ECANCELED) {
        /* Delivers the caller's own cancellation (cancel_requested); a child
         * cancelled by someone else is only an error code, as in cio_await. */
        cio__task *cur = cio__current();
        if (cur)
            cio__note_cancel(cur);
    }
    return rc;
}

/* ---- wait --------------------------------------------------------------- */

static bool multi_cancel(cio__wait *w)
{
    multi *m = CIO__CONTAINER_OF(w, multi, w);
    cio__wheel_del(&w->task->f.loop->wheel, &m->tm);
    m->parked = false;
    cio__wake(w->task, -ECANCELED);
    return true;
}

static void multi_timeout(cio__timer *tm)
{
    multi *m = CIO__CONTAINER_OF(tm, multi, tm);
    multi_wake(m, -ETIMEDOUT);
}

static bool wait_satisfied(cio_future *const *futs, size_t n, int mode)
{
    size_t ndone = 0;
    for (size_t i = 0; i < n; i++) {
        if (futs[i]->state == CIO__PENDING)
            continue;
        ndone++;
        if (mode == CIO_FIRST_COMPLETED)
            return true;
        if (mode == CIO_FIRST_EXCEPTION && futs[i]->state == CIO__ERROR)
            return true;
    }
    return ndone == n;
}

int cio_wait(cio_future *const *futs, size_t n, int mode, double timeout, cio_future **done, size_t *ndone,
             cio_future **pending, size_t *npending)
{
    if (n == 0 || mode < CIO_ALL_COMPLETED || mode > CIO_FIRST_EXCEPTION)
        return -EINVAL;
    int rc = 0;
    if (!wait_satisfied(futs, n, mode)) {
        cio__task *t;
        if ((rc = cio__enter(&t)))
            return rc;
        multi m = {0};
        child_hook small[SMALL];
        m.futs = futs;
        m.n = n;
        m.mode = mode;
        if ((rc = hooks_alloc(&m, small)))
            return rc;
        if (!no_timeout(timeout)) {
            m.tm.fire = multi_timeout;
            m.tm.when = cio__loop_now_ns(t->f.loop) + cio__secs_to_ns(timeout); /* <= 0: the next pass */
            cio__wheel_add(&t->f.loop->wheel, &m.tm);
        }
        m.w.what = "wait";
        m.w.cancel = multi_cancel;
        m.w.droppable = true;
        m.parked = true;
        rc = cio__park(&m.w);
        cio__wheel_del(&t->f.loop->wheel, &m.tm);
        hooks_free(&m, small);
        if (rc == -ETIMEDOUT)
            rc = 0; /* asyncio.wait reports a timeout through the pending set */
    }
    size_t nd = 0, np = 0;
    for (size_t i = 0; i < n; i++) {
        if (futs[i]->state != CIO__PENDING) {
            if (done)
                done[nd] = futs[i];
            nd++;
        } else {
            if (pending)
                pending[np] = futs[i];
            np++;
        }
    }
    if (ndone)
        *ndone = nd;
    if (npending)
        *npending = np;
    return rc;
}

/* ---- wait_for ----------------------------------------------------------- */

typedef struct waitfor {
    cio__wait w;
    cio__timer tm;
    cio__fcb cb;
    cio_future *f;
    cio_loop *loop;
    bool timed_out;       /* the deadline passed */
    bool outer_cancelled; /* the waiting task was cancelled */
    bool parked;
} waitfor;

static void waitfor_done(cio__fcb *cb, cio_future *f)
{
    (void)f;
    waitfor *wf = CIO__CONTAINER_OF(cb, waitfor, cb);
    cio__wheel_del(&wf->loop->wheel, &wf->tm);
    if (wf->parked) {
        wf->parked = false;
        cio__wake(wf->w.task, 0);
    }
}

/* The deadline passed: wake the task, which decides when it runs.  If f got
 * its result in the meantime (in the same loop iteration), the result wins;
 * else the task cancels f and waits for it. */
static void waitfor_timeout(cio__timer *tm)
{
    waitfor *wf = CIO__CONTAINER_OF(tm, waitfor, tm);
    wf->timed_out = true;
    if (wf->parked) {
        wf->parked = false;
        cio__wake(wf->w.task, -ETIMEDOUT);
    }
}

/* The waiting task is cancelled while parked: cancel f and keep waiting
 * until it has finished; the outcome is f's (-ECANCELED if it ends
 * cancelled), the deadline no longer matters. */
static bool waitfor_cancel(cio__wait *w)
{
    waitfor *wf = CIO__CONTAINER_OF(w, waitfor, w);
    wf->outer_cancelled = true;
    cio__wheel_del(&wf->loop->wheel, &wf->tm);
    if (cio_cancel(wf->f, w->task->cancel_msg))
        return true; /* a plain future completed (and woke us) inside cio_cancel */
    if (wf->parked) {
        wf->parked = false;
        cio__wake(w->task, -ECANCELED);
    }
    return true;
}

/* As asyncio 3.12+ (wait_for over a timeout scope): a cancellation of the
 * caller goes to f, whose outcome is then the call's, as in cio_await. */
int cio_wait_for(cio_future *f, double timeout, void **value)
{
    if (value)
        *value = NULL;
    /* 3.12+ awaits a coroutine inline: it gets its first step before a
     * cancellation or a timeout can reach it (wait_for(coro, 0) excepted) */
    if (!(timeout <= 0))
        cio__task_start_inline(f);
    else
        start_lazy(f);
    cio__task *t = cio__current();
    if (f->state != CIO__PENDING) {
        int rc = cio_result(f, value);
        if (rc == -ECANCELED && t)
            cio__note_cancel(t);
        return rc;
    }
    if (no_timeout(timeout))
        return cio_await(f, value);
    int rc = cio__await_check(t, f);
    if (rc)
        return rc;
    /* No reference taken: the caller owns f and cannot drop it while
     * parked here (as with gather and wait). */
    waitfor wf = {0};
    wf.f = f;
    wf.loop = t->f.loop;
    wf.timed_out = timeout <= 0;
    bool cancel_sent = false;
    cio__fcb_add(f, &wf.cb, waitfor_done);
    if (t->must_cancel) {
        /* Cancelled before the call: as asyncio, the cancellation goes to
         * what is awaited. */
        t->must_cancel = 0;
        wf.outer_cancelled = true;
        cancel_sent = true;
        cio_cancel(f, t->cancel_msg);
    } else if (!wf.timed_out) {
        wf.tm.fire = waitfor_timeout;
        wf.tm.when = cio__loop_now_ns(wf.loop) + cio__secs_to_ns(timeout);
        cio__wheel_add(&wf.loop->wheel, &wf.tm);
    }
    while (f->state == CIO__PENDING) {
        if (wf.timed_out && !cancel_sent) {
            cancel_sent = true;
            cio_cancel(f, NULL); /* a plain future is done at once */
            continue;
        }
        wf.w.what = "wait_for";
        wf.w.cancel = waitfor_cancel;
        /* Not droppable: a cancellation that arrives after the wake-up is
         * handled below, since f may still need cancelling. */
        wf.w.droppable = false;
        wf.parked = true;
        cio__park(&wf.w);
        wf.parked = false;
        if (t->must_cancel) {
            /* cancelled after the wake-up, before the task ran again */
            t->must_cancel = 0;
            wf.outer_cancelled = true;
            cio__wheel_del(&wf.loop->wheel, &wf.tm);
            if (f->state != CIO__PENDING) {
                rc = -ECANCELED; /* f's outcome is dropped, as cio_await does */
                break;
            }
            /* the deadline passed too: asyncio's timeout cancels f at once,
             * so f gets both requests, the deadline's first */
            if (wf.timed_out && !cancel_sent)
                cio_cancel(f, NULL);
            cancel_sent = true;
            cio_cancel(f, t->cancel_msg);
        }
    }
    cio__fcb_remove(&wf.cb);
    cio__wheel_del(&wf.loop->wheel, &wf.tm);
    if (rc == 0) {
        rc = cio_result(f, value);
        if (rc == -ECANCELED && wf.timed_out && !wf.outer_cancelled)
            rc = -ETIMEDOUT;
    }
    if (rc == -ECANCELED)
        cio__note_cancel(t);
    return rc;
}

/* ---- as_completed ------------------------------------------------------- */

struct cio_as_completed {
    cio__wait w;
    cio__timer tm;
    cio__dbatch batch;
    cio_loop *loop;
    size_t n, head, tail; /* ring of completed futures: done[head..tail) */
    bool parked, timed_out;
    cio_future **done;
    child_hook *hooks;
    cio_future **futs;
};

static void ac_child_done(cio__dhook *d, cio_future *f)
{
    child_hook *h = CIO__CONTAINER_OF(d, child_hook, d);
    cio_as_completed *it = (cio_as_completed *)h->m;
    it->done[it->tail++] = f;
    if (it->tail == it->n) /* all done: the overall timeout is moot */
        cio__wheel_del(&it->loop->wheel, &it->tm);
    if (it->parked) {
        it->parked = false;
        cio__wake(it->w.task, 0);
    }
}

static void ac_timeout(cio__timer *tm)
{
    cio_as_completed *it = CIO__CONTAINER_OF(tm, cio_as_completed, tm);
    it->timed_out = true;
    /* As asyncio: what completes after the timeout is never yielded. */
    for (size_t i = 0; i < it->n; i++)
        cio__dhook_remove(&it->hooks[i].d);
    cio__dbatch_close(&it->batch);
    if (it->parked) {
        it->parked = false;
        cio__wake(it->w.task, -ETIMEDOUT);
    }
}

typedef struct fut_at {
    cio_future *f;
    size_t i;
} fut_at;

static int fut_at_cmp(const void *a, const void *b)
{
    const fut_at *x = a, *y = b;
    if (x->f != y->f)
        return (uintptr_t)x->f < (uintptr_t)y->f ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* asyncio.as_completed takes a set: a future passed twice is yielded once.
 * keep[i] is false for every repeat of an earlier futs[i] (sorting a copy:
 * O(n log n), the argument order kept).  Returns how many are kept, or
 * -ENOMEM. */
static ssize_t first_occurrences(cio_future *const *futs, size_t n, bool *keep)
{
    fut_at *s = malloc((n ? n : 1) * sizeof *s);
    if (!s)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        s[i] = (fut_at){futs[i], i};
    qsort(s, n, sizeof *s, fut_at_cmp);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        keep[s[i].i] = i == 0 || s[i].f != s[i - 1].f;
        kept += keep[s[i].i];
    }
    free(s);
    return (ssize_t)kept;
}

cio_as_completed *cio_as_completed_new(cio_future *const *futs, size_t n, double timeout)
{
    cio_loop *l = n ? futs[0]->loop : cio__loop_get(NULL);
    if (!l) {
        errno = -CIO_ENOLOOP;
        return NULL;
    }
    bool *keep = malloc(n ? n : 1);
    ssize_t kept = keep ? first_occurrences(futs, n, keep) : -ENOMEM;
    if (kept < 0) {
        free(keep);
        errno = ENOMEM;
        return NULL;
    }
    cio_as_completed *it = calloc(1, sizeof *it);
    if (!it || !(it->done = malloc((n ? n : 1) * sizeof *it->done)) || !(it->hooks = malloc((n ? n : 1) * sizeof *it->hooks)) ||
        !(it->futs = malloc((n ? n : 1) * sizeof *it->futs))) {
        if (it) {
            free(it->done);
            free(it->hooks);
        }
        free(it);
        free(keep);
        errno = ENOMEM;
        return NULL;
    }
    it->loop = l;
    it->n = (size_t)kept;
    cio__dbatch_init(&it->batch);
    for (size_t j = 0, i = 0; j < n; j++) {
        if (!keep[j])
            continue;
        it->futs[i] = cio_ref(futs[j]);
        it->hooks[i].m = (multi *)it;
        it->hooks[i].idx = i;
        cio__dhook_init(&it->hooks[i].d);
        start_lazy(futs[j]);
        if (futs[j]->state != CIO__PENDING)
            it->done[it->tail++] = futs[j];
        else
            cio__dhook_add(&it->batch, futs[j], &it->hooks[i].d, ac_child_done);
        i++;
    }
    free(keep);
    if (!no_timeout(timeout) && it->tail < it->n) {
        it->tm.fire = ac_timeout;
        it->tm.when = cio__loop_now_ns(l) + cio__secs_to_ns(timeout); /* <= 0: the next pass */
        cio__wheel_add(&l->wheel, &it->tm);
    }
    return it;
}

static bool ac_cancel(cio__wait *w)
{
    cio_as_completed *it = CIO__CONTAINER_OF(w, cio_as_completed, w);
    it->parked = false;
    cio__wake(w->task, -ECANCELED);
    return true;
}

int cio_as_completed_next(cio_as_completed *it, cio_future **out)
{
    *out = NULL;
    if (it->head == it->n)
        return CIO_EDONE;
    if (it->head < it->tail) {
        *out = it->done[it->head++];
        return 0;
    }
    if (it->timed_out)
        return -ETIMEDOUT;
    cio__task *t;
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    it->w.what = "as_completed";
    it->w.cancel = ac_cancel;
    it->w.droppable = true;
    it->parked = true;
    rc = cio__park(&it->w);
    it->parked = false;
    if (rc)
        return rc;
    if (it->head < it->tail) {
        *out = it->done[it->head++];
        return 0;
    }
    return -ETIMEDOUT;
}

void cio_as_completed_free(cio_as_completed *it)
{
    if (!it)
        return;
    /* The loop may be closed and gone: its futures then have no loop (and
     * the wheel with our timer went with it).  A timer is only ever armed
     * when n > 0. */
    cio_loop *l = it->n ? it->futs[0]->loop : NULL;
    if (l)
        cio__wheel_del(&l->wheel, &it->tm);
    for (size_t i = 0; i < it->n; i++) {
        cio__dhook_remove(&it->hooks[i].d);
        cio_release(it->futs[i]);
    }
    cio__dbatch_close(&it->batch);
    free(it->done);
    free(it->hooks);
    free(it->futs);
    free(it);
}

/* ---- shield ------------------------------------------------------------- */

typedef struct shield {
    cio_future outer;
    cio__dbatch batch;
    cio__dhook d;
} shield;

/* Completes a pending future as another one ended (a copy of the message). */
static void complete_like(cio_future *f, const cio_future *from)
{
    int code = cio__future_code(from);
    char *msg = from->msg ? strdup(from->msg) : NULL;
    if (code == 0)
        cio__future_complete(f, CIO__RESULT, from->result, 0, msg);
    else
        cio__future_complete(f, code == -ECANCELED ? CIO__CANCELLED : CIO__ERROR, NULL, code, msg);
}

static void shield_inner_done(cio__dhook *d, cio_future *inner)
{
    shield *s = CIO__CONTAINER_OF(d, shield, d);
    cio_future *outer = &s->outer;
    if (outer->state == CIO__PENDING)
        complete_like(outer, inner);
    /* The outer carries inner's error now (or was cancelled and nobody will
     * look at it): inner's error counts as retrieved, as in asyncio. */
    inner->retrieved = 1;
    cio_release(inner);
    cio_release(outer); /* the hook's reference */
}

cio_future *cio_shield(cio_future *inner)
{
    if (!inner->loop) {
        errno = EINVAL;
        return NULL;
    }
    /* The shield is a plain future with the hook in the same allocation;
     * cio_release frees it with free() like any future. */
    shield *s = malloc(sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    cio_future *outer = &s->outer;
    cio__future_init(outer, inner->loop, false);
    cio__dbatch_init(&s->batch);
    cio__dhook_init(&s->d);
    cio_ref(outer);
    cio_ref(inner);
    if (inner->state != CIO__PENDING) /* asyncio returns inner itself */
        shield_inner_done(&s->d, inner);
    else
        cio__dhook_add(&s->batch, inner, &s->d, shield_inner_done);
    return outer;
}

/* ---- gather as a future (_GatheringFuture) -------------------------------- */

typedef struct gathering {
    cio_future outer; /* first: freed with free() like any plain future */
    size_t n, remaining;
    int flags;
    bool cancel_requested;
    char *cancel_msg;
    cio__dbatch batch;
    cio_future **futs;
    child_hook *hooks; /* hooks[i].m points back here */
} gathering;

/* The outer is done: unhook the children still running (they keep running,
 * as in asyncio) and drop what the gathering holds, its own reference last. */
static void gathering_finish(gathering *g)
{
    for (size_t i = 0; i < g->n; i++) {
        cio__dhook_remove(&g->hooks[i].d);
        cio_release(g->futs[i]);
    }
    cio__dbatch_close(&g->batch);
    free(g->futs);
    free(g->hooks);
    free(g->cancel_msg);
    g->n = 0;
    cio_release(&g->outer);
}

static void gathering_child_done(cio__dhook *d, cio_future *f)
{
    gathering *g = (gathering *)CIO__CONTAINER_OF(d, child_hook, d)->m;
    g->remaining--;
    if (!(g->flags & CIO_RETURN_EXCEPTIONS) && f->state != CIO__RESULT) {
        f->retrieved = 1; /* the outer carries it */
        complete_like(&g->outer, f);
    } else if (g->remaining == 0) {
        if (g->cancel_requested)
            cio__future_complete(&g->outer, CIO__CANCELLED, NULL, -ECANCELED,
                                 g->cancel_msg ? strdup(g->cancel_msg) : NULL);
        else
            cio__future_complete(&g->outer, CIO__RESULT, NULL, 0, NULL);
    }
    if (g->outer.state != CIO__PENDING)
        gathering_finish(g);
}

bool cio__gathering_cancel(cio_future *f, const char *msg)
{
    gathering *g = (gathering *)f;
    bool any = false;
    for (size_t i = 0; i < g->n; i++)
        if (cio_cancel(g->futs[i], msg))
            any = true;
    if (any && !g->cancel_requested) {
        g->cancel_requested = true;
        g->cancel_msg = msg ? strdup(msg) : NULL;
    }
    return any;
}

cio_future *cio_gather_future(cio_future *const *futs, size_t n, int flags)
{
    cio_loop *l = n ? futs[0]->loop : cio__loop_get(NULL);
    if (!one_loop(futs, n)) {
        errno = EXDEV;
        return NULL;
    }
    gathering *g = l ? calloc(1, sizeof *g) : NULL;
    if (!g) {
        errno = l ? ENOMEM : -CIO_ENOLOOP;
        return NULL;
    }
    if (n && (!(g->futs = malloc(n * sizeof *g->futs)) || !(g->hooks = malloc(n * sizeof *g->hooks)))) {
        free(g->futs);
        free(g);
        errno = ENOMEM;
        return NULL;
    }
    cio__future_init(&g->outer, l, false);
    g->outer.gathering = 1;
    g->n = g->remaining = n;
    g->flags = flags;
    cio__dbatch_init(&g->batch);
    if (n == 0) {
        cio__future_complete(&g->outer, CIO__RESULT, NULL, 0, NULL);
        return &g->outer;
    }
    cio_ref(&g->outer); /* the gathering's own, until it is done */
    for (size_t i = 0; i < n; i++) {
        g->futs[i] = cio_ref(futs[i]);
        g->hooks[i].m = (multi *)g;
        g->hooks[i].idx = i;
        cio__dhook_init(&g->hooks[i].d);
        start_lazy(futs[i]);
    }
    /* hooked after every child is referenced: one already done is queued */
    for (size_t i = 0; i < n; i++)
        cio__dhook_add(&g->batch, futs[i], &g->hooks[i].d, gathering_child_done);
    return &g->outer;
}
