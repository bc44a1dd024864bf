/* SPDX-License-Identifier: MIT */
/* Futures: completion, references, done callbacks, and the deferred hooks
 * the combinators, task groups and shield decide on.  A task is a future
 * with a stack (task.c); what is specific to tasks stays there. */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- futures ------------------------------------------------------------ */

void cio__future_init(cio_future *f, cio_loop *l, bool is_task)
{
    f->loop = l;
    cio__list_init(&f->callbacks);
    f->result = NULL;
    f->msg = NULL;
    f->err = 0;
    f->refs = 1;
    f->state = CIO__PENDING;
    f->is_task = is_task;
    f->retrieved = 0;
    f->in_all = 1;
    f->gathering = 0;
    cio__list_push_back(&l->all, &f->all);
}

/* Pointer-returning calls report cio's own codes as errno = -code (as
 * cio_group_spawn does), so cio_strerror(-errno) names them. */
cio_loop *cio__loop_for_new(cio_loop *loop)
{
    cio_loop *l = cio__loop_get(loop);
    if (!l)
        errno = -CIO_ENOLOOP;
    else if (l->closed)
        errno = -CIO_ELOOPCLOSED;
    else
        return l;
    return NULL;
}

cio_future *cio_future_new(cio_loop *loop)
{
    cio_loop *l = cio__loop_for_new(loop);
    if (!l)
        return NULL;
    cio_future *f = malloc(sizeof *f);
    if (!f) {
        errno = ENOMEM;
        return NULL;
    }
    cio__future_init(f, l, false);
    return f;
}

/* A live object always holds a reference; refs == 0 is a record whose last
 * reference is gone (quarantined in debug mode, or pooled for reuse).  And
 * the loop holds one on every task until it has finished. */
static void misuse_abort(const cio_future *f, const char *call, const char *what)
{
    char obj[64];
    const char *name = f->is_task ? cio__task_report_name(cio__task_of((cio_future *)f)) : NULL;
    if (name)
        snprintf(obj, sizeof obj, "Task <%s>", name);
    else if (f->is_task)
        snprintf(obj, sizeof obj, "Task <Task-%llu>", (unsigned long long)cio__task_of((cio_future *)f)->id);
    else
        snprintf(obj, sizeof obj, "Future <%p>", (const void *)f);
    fprintf(stderr, "cio: %s of %s %s\n", call, obj, what);
    abort();
}

#define AFTER_LAST "after its last reference was released (double release?)"

cio_future *cio_ref(cio_future *f)
{
    if (CIO__UNLIKELY(f->refs == 0))
        misuse_abort(f, "cio_ref", AFTER_LAST);
    f->refs++;
    return f;
}

typedef struct ucb {
    cio__fcb base;
    cio_done_fn fn;
    void *arg;
} ucb;

static void ucb_fire(cio__fcb *cb, cio_future *f)
{
    ucb *u = (ucb *)cb;
    if (f->loop)
        cio__schedule_done_callback(f->loop, f, u->fn, u->arg);
    free(u);
}

/* The last reference is gone: unlink f and free what it owns; the record
 * itself is disposed of now, or after the quarantine in debug mode. */
static void future_free(cio_future *f)
{
    if (f->state == CIO__ERROR && !f->retrieved)
        cio__report_unretrieved(f);
    cio_loop *l = f->loop;
    if (f->in_all)
        cio__list_remove(&f->all);
    f->in_all = 0;
    cio__link *it;
    while ((it = cio__list_pop_front(&f->callbacks))) {
        cio__fcb *cb = CIO__CONTAINER_OF(it, cio__fcb, link);
        if (cb->fn == ucb_fire)
            free(cb);
    }
    free(f->msg);
    f->msg = NULL;
    if (f->is_task)
        cio__task_drop_fields(cio__task_of(f));
    cio__record_retire(l, f);
}

void cio_release(cio_future *f)
{
    if (!f)
        return;
    if (CIO__UNLIKELY(f->refs == 0))
        misuse_abort(f, "cio_release", AFTER_LAST);
    if (--f->refs == 0) {
        if (CIO__UNLIKELY(f->is_task && cio__task_of(f)->tstate != CIO__TS_DONE))
            misuse_abort(f, "cio_release", "took the loop's own reference: the task has not finished (one release too many)");
        future_free(f);
    }
}

void cio__fcb_add(cio_future *f, cio__fcb *cb, void (*fn)(cio__fcb *, cio_future *))
{
    cb->fn = fn;
    cio__list_push_back(&f->callbacks, &cb->link);
}

void cio__future_complete(cio_future *f, int state, void *result, int err, char *msg)
{
    f->state = (uint8_t)state;
    f->result = result;
    f->err = err;
    f->retrieved = 0; /* a new error, even after a cancel() (set_exception sets _log_traceback) */
    free(f->msg);
    f->msg = msg;
    cio__link *it;
    while ((it = cio__list_pop_front(&f->callbacks))) {
        cio__fcb *cb = CIO__CONTAINER_OF(it, cio__fcb, link);
        cb->fn(cb, f);
    }
}

int cio__future_code(const cio_future *f)
{
    switch (f->state) {
    case CIO__RESULT:
        return 0;
    case CIO__PENDING:
        return CIO_EINVALSTATE;
    case CIO__CANCELLED:
        return -ECANCELED;
    default:
        return f->err;
    }
}

static char *dupmsg(const char *msg) { return msg ? strdup(msg) : NULL; }

int cio_future_set_result(cio_future *f, void *value)
{
    if (f->state != CIO__PENDING || f->is_task)
        return CIO_EINVALSTATE;
    cio__future_complete(f, CIO__RESULT, value, 0, NULL);
    return 0;
}

int cio_future_set_error(cio_future *f, int code, const char *msg)
{
    if (code >= 0 || code == -ECANCELED)
        return -EINVAL;
    if (f->state != CIO__PENDING || f->is_task)
        return CIO_EINVALSTATE;
    cio__future_complete(f, CIO__ERROR, NULL, code, dupmsg(msg));
    return 0;
}

bool cio_cancel(cio_future *f, const char *msg)
{
    f->retrieved = 1; /* as asyncio: cancel() silences "never retrieved", done or not */
    if (f->state != CIO__PENDING)
        return false;
    if (f->is_task)
        return cio__task_cancel(cio__task_of(f), msg);
    if (f->gathering)
        return cio__gathering_cancel(f, msg);
    cio__future_complete(f, CIO__CANCELLED, NULL, -ECANCELED, dupmsg(msg));
    return true;
}

bool cio_done(const cio_future *f) { return f->state != CIO__PENDING; }
bool cio_cancelled(const cio_future *f) { return f->state == CIO__CANCELLED; }
const char *cio_error_message(const cio_future *f) { return f->msg; }
cio_loop *cio_future_loop(const cio_future *f) { return f->loop; }
bool cio_is_task(const cio_future *f) { return f->is_task; }

int cio_result(cio_future *f, void **value)
{
    if (value)
        *value = f->state == CIO__RESULT ? f->result : NULL;
    if (f->state != CIO__PENDING)
        f->retrieved = 1;
    return cio__future_code(f);
}

int cio_exception(cio_future *f) { return cio_result(f, NULL); }

int cio_add_done_callback(cio_future *f, cio_done_fn fn, void *arg)
{
    if (!fn)
        return -EINVAL;
    if (f->state != CIO__PENDING) {
        if (!f->loop)
            return CIO_ELOOPCLOSED;
        cio_handle *h = cio__handle_new(f->loop);
        if (!h)
            return -ENOMEM;
        h->fut = cio_ref(f);
        h->fcb = fn;
        h->arg = arg;
        cio__ready_push(f->loop, &h->rn);
        return 0;
    }
    ucb *u = malloc(sizeof *u);
    if (!u)
        return -ENOMEM;
    u->fn = fn;
    u->arg = arg;
    cio__fcb_add(f, &u->base, ucb_fire);
    return 0;
}

int cio_remove_done_callback(cio_future *f, cio_done_fn fn, void *arg)
{
    int n = 0;
    cio__link *it, *tmp;
    cio__list_foreach_safe(it, tmp, &f->callbacks)
    {
        cio__fcb *cb = CIO__CONTAINER_OF(it, cio__fcb, link);
        if (cb->fn == ucb_fire && ((ucb *)cb)->fn == fn && ((ucb *)cb)->arg == arg) {
            cio__list_remove(it);
            free(cb);
            n++;
        }
    }
    return n;
}

/* ---- deferred hooks ----------------------------------------------------- */

void cio__dbatch_init(cio__dbatch *b)
{
    b->h = NULL;
    cio__list_init(&b->ready);
}

void cio__dbatch_close(cio__dbatch *b)
{
    cio_handle *h = b->h;
    if (!h)
        return;
    b->h = NULL;
    if (!h->fut->loop) {
        /* Its loop was closed with it queued: the loop dropped the queue's
         * reference and is gone (h->loop with it); ours is the last. */
        cio_release(h->fut);
        free(h);
        return;
    }
    h->cancelled = 1; /* the loop drops it unrun */
    cio__handle_unref(h);
}

void cio__dhook_init(cio__dhook *d)
{
    cio__list_init(&d->cb.link);
    d->b = NULL;
    d->f = NULL;
}

static void dbatch_run(cio_future *f, void *arg)
{
    (void)f;
    cio__dbatch *b = arg;
    if (b->h) {
        cio__handle_unref(b->h); /* ours; the queue's goes when the handle ends */
        b->h = NULL;
    }
    /* Only what fired before this pass: a hook firing while these run
     * queues the batch again.  The list head is ours, so a hook's fn may
     * remove the others and free the batch. */
    cio__link run;
    cio__list_init(&run);
    if (!cio__list_empty(&b->ready)) {
        run.next = b->ready.next;
        run.prev = b->ready.prev;
        run.next->prev = run.prev->next = &run;
        cio__list_init(&b->ready);
    }
    cio__link *it;
    while ((it = cio__list_pop_front(&run))) {
        cio__dhook *d = CIO__CONTAINER_OF(it, cio__dhook, cb.link);
        d->fn(d, d->f);
    }
}

static void dhook_fire(cio__fcb *cb, cio_future *f)
{
    cio__dhook *d = CIO__CONTAINER_OF(cb, cio__dhook, cb);
    cio__dbatch *b = d->b;
    d->f = f;
    cio__list_push_back(&b->ready, &cb->link);
    if (b->h)
        return; /* queued already: it takes this one too */
    cio_handle *h = f->loop ? cio__handle_new(f->loop) : NULL;
    if (!h) {
        dbatch_run(f, b); /* out of memory (or no loop): late beats never */
        return;
    }
    h->fut = cio_ref(f); /* tells cio__dbatch_close whether the loop is gone */
    h->fcb = dbatch_run;
    h->arg = b;
    h->refs = 2; /* the queue's and the batch's, so that closing can cancel it */
    b->h = h;
    cio__ready_push(f->loop, &h->rn);
}

void cio__dhook_add(cio__dbatch *b, cio_future *f, cio__dhook *d, void (*fn)(cio__dhook *, cio_future *))
{
    d->b = b;
    d->fn = fn;
    d->cb.fn = dhook_fire;
    if (f->state != CIO__PENDING) {
        cio__list_init(&d->cb.link);
        dhook_fire(&d->cb, f);
        return;
    }
    cio__fcb_add(f, &d->cb, dhook_fire);
}

bool cio__fcb_is_user(const cio__fcb *cb) { return cb->fn == ucb_fire; }
