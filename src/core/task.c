/* SPDX-License-Identifier: MIT */
/* Tasks: spawning, the task trampoline, switching, cancellation, await,
 * sleeping (futures themselves are in future.c).
 *
 * A task is a future with a stack.  Switching is always loop <-> task: a
 * task parks by switching to the loop's context, and the loop resumes it by
 * switching back; a task never switches straight to another task, which
 * keeps every stack's ASan/Valgrind bookkeeping simple and makes the loop
 * the only place that decides what runs next. */
#include "core/internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- task records ------------------------------------------------------ */

/* The name survives the record's death for misuse reports: it is kept
 * (truncated) in deadname; without one, reports say "Task-<id>". */
static void task_keep_name(cio__task *t)
{
    t->deadname[0] = 0;
    if (t->name) {
        size_t n = strnlen(t->name, sizeof t->deadname - 1);
        memcpy(t->deadname, t->name, n);
        t->deadname[n] = 0;
        free(t->name);
        t->name = NULL;
    }
}

const char *cio__task_report_name(const cio__task *t)
{
    if (t->name)
        return t->name;
    return t->f.refs == 0 && t->deadname[0] ? t->deadname : NULL;
}

void cio__task_drop_fields(cio__task *t)
{
    task_keep_name(t);
    free(t->fail_msg);
    free(t->cancel_msg);
    free(t->spawn_bt);
    t->fail_msg = t->cancel_msg = NULL;
    t->spawn_bt = NULL;
}

/* ---- switching ---------------------------------------------------------- */

cio_task *cio_current_task(void) { return (cio_task *)cio__current(); }

void cio__task_reap(cio_loop *l, cio__task *t)
{
    if (CIO__UNLIKELY(t->overflowed))
        cio__stack_overflow_abort(t);
    cio__ctx_free(&t->ctx); /* its TSan fiber (TSan builds only) */
    if (t->has_stack) {
        cio__stack_put(&l->stacks, &t->stack);
        t->has_stack = 0;
    }
    if (CIO__UNLIKELY(!l->stacks.reclaim_armed) && cio__stack_pool_burst_over(&l->stacks))
        cio__reclaim_arm(l);
    cio_release(&t->f); /* the loop's reference */
}

static void task_complete(cio__task *t, void *res);
static void task_entry(void *arg);

/* First run of t: a task cancelled before its first step ends now, on the
 * loop's stack, without ever getting one; otherwise it gets its stack.
 * Returns whether there is anything to switch to. */
bool cio__task_prepare(cio_loop *l, cio__task *t)
{
    if (!t->must_cancel) {
        size_t want = t->stack.size;
        if (cio__stack_get(&l->stacks, want, &t->stack) == 0) {
            t->has_stack = 1;
            cio__ctx_make(&t->ctx, t->stack.lo, t->stack.size, task_entry, t);
            return true;
        }
        t->stack.size = want;
        t->failed = 1; /* no memory for a stack: the task fails without running */
        t->fail_code = -ENOMEM;
    }
    task_complete(t, NULL);
    cio__task_reap(l, t);
    return false;
}

void cio__switch_to_task_debug(cio_loop *l, cio__task *t)
{
    l->current = t;
    t->tstate = CIO__TS_RUNNING;
    double t0 = cio_loop_time(l);
    cio__ctx_switch(&l->main_ctx, &t->ctx);
    double dt = cio_loop_time(l) - t0;
    l->current = NULL;
    if (dt >= l->slow_duration)
        cio__debug_report_slow(l, t, NULL, dt);
    if (t->tstate == CIO__TS_DONE)
        cio__task_reap(l, t);
}

int cio__park(cio__wait *w)
{
    cio__task *t = cio__current();
    cio_loop *l = t->f.loop;
    w->task = t;
    w->status = 0;
    t->wait = w;
    t->tstate = CIO__TS_SUSPENDED;
    cio__switch_to_loop(l, t, false);
    int st = w->status;
    if (CIO__UNLIKELY(t->must_cancel) && w->droppable) {
        t->must_cancel = 0;
        st = -ECANCELED;
    }
    if (CIO__UNLIKELY(st == -ECANCELED))
        cio__note_cancel(t);
    return st;
}

void cio__wake(cio__task *t, int status)
{
    cio__wait *w = t->wait;
    w->status = status;
    t->wait = NULL;
    t->tstate = CIO__TS_SCHEDULED;
    cio__ready_push(t->f.loop, &t->rn);
}

/* ---- tasks -------------------------------------------------------------- */

static void task_complete(cio__task *t, void *res)
{
    int state = CIO__RESULT, err = 0;
    char *msg = NULL;
    if (t->failed) {
        err = t->fail_code;
        state = err == -ECANCELED ? CIO__CANCELLED : CIO__ERROR;
        msg = t->fail_msg;
        t->fail_msg = NULL;
        res = NULL;
    } else if (t->must_cancel || t->saw_cancel) {
        state = CIO__CANCELLED;
        err = -ECANCELED;
        msg = t->cancel_msg;
        t->cancel_msg = NULL;
        res = NULL;
    }
    t->tstate = CIO__TS_DONE;
    t->must_cancel = 0;
    t->f.loop->ntasks--;
    cio__future_complete(&t->f, state, res, err, msg);
}

static void task_entry(void *arg)
{
    cio__task *t = arg;
    void *res = NULL;
    if (!t->must_cancel) /* cancelled before its first step: never runs */
        res = t->fn(t->arg);
    task_complete(t, res);
    cio__switch_to_loop(t->f.loop, t, true);
    abort(); /* a finished task is never resumed */
}

cio_task *cio_spawn(cio_task_fn fn, void *arg) { return cio_spawn_ex(NULL, fn, arg, NULL); }

/* Runs the scheduled task t now, up to its first suspension, then comes
 * straight back to the caller (eager_task_factory, `await coro` inline). */
static void run_eagerly(cio_loop *l, cio__task *t)
{
    cio__task *cur = l->current;
    if (cur) {
        /* Both go to the front of the queue and the caller steps aside.
         * This internal switch is not a cancellation point. */
        cur->tstate = CIO__TS_SCHEDULED;
        cio__ready_push_front(l, &cur->rn);
        cio__ready_push_front(l, &t->rn);
        cio__switch_to_loop(l, cur, false);
    } else {
        cio__switch_to_task(l, t);
    }
}

cio_task *cio_spawn_ex(cio_loop *loop, cio_task_fn fn, void *arg, const cio_task_opts *opts)
{
    cio_loop *l = cio__loop_for_new(loop);
    if (!l)
        return NULL;
    if (!fn) {
        errno = EINVAL;
        return NULL;
    }
    cio__task *t = cio__task_record_new(l);
    if (!t) {
        errno = ENOMEM;
        return NULL;
    }
    t->name = NULL;
    if (opts && opts->name && !(t->name = strdup(opts->name))) {
        t->f.is_task = 1;
        cio__record_dispose(l, &t->f);
        errno = ENOMEM;
        return NULL;
    }
    /* the stack is taken at the first run (cio__task_prepare) */
    memset(&t->stack, 0, sizeof t->stack);
    t->stack.size = opts && opts->stack_size ? opts->stack_size : l->default_stack;
    cio__future_init(&t->f, l, true);
    t->f.refs = 2; /* the caller's and the loop's */
    t->rn.kind = CIO__RN_TASK;
    t->fn = fn;
    t->arg = arg;
    t->wait = NULL;
    t->id = l->next_task_id++;
    t->ncancel = 0;
    t->nhandled = 0;
    t->fail_code = 0;
    t->fail_msg = NULL;
    t->cancel_msg = NULL;
    t->must_cancel = t->saw_cancel = t->failed = 0;
    t->has_stack = 0;
    t->overflowed = 0;
    t->spawn_bt = NULL;
    if (CIO__UNLIKELY(l->debug))
        cio__debug_note_spawn(t);
    /* In TSan builds, its fiber: now, not at the first run, as some TSan
     * runtimes take ~0.3 ms to make one (see core/ctx_tsan.h). */
    cio__ctx_reserve(&t->ctx);
    l->ntasks++;
    unsigned flags = opts ? opts->flags : 0;
    if (flags & CIO_TASK_LAZY) {
        t->tstate = CIO__TS_CREATED;
        return &t->f;
    }
    t->tstate = CIO__TS_SCHEDULED;
    if ((flags & CIO_TASK_EAGER) && l->running) {
        run_eagerly(l, t);
        return &t->f;
    }
    cio__ready_push(l, &t->rn);
    return &t->f;
}

int cio_task_start(cio_task *f)
{
    if (f->is_task && !f->loop)
        return CIO_ELOOPCLOSED;
    if (!f->is_task || cio__task_of(f)->tstate != CIO__TS_CREATED)
        return CIO_EINVALSTATE;
    cio__task *t = cio__task_of(f);
    t->tstate = CIO__TS_SCHEDULED;
    cio__ready_push(f->loop, &t->rn);
    return 0;
}

void cio__task_start_inline(cio_task *f)
{
    cio__task *t = cio__task_of(f);
    cio_loop *l = f->loop;
    if (!f->is_task || t->tstate != CIO__TS_CREATED || !l)
        return;
    t->tstate = CIO__TS_SCHEDULED;
    if (l->running)
        run_eagerly(l, t);
    else
        cio__ready_push(l, &t->rn);
}

bool cio__task_cancel(cio__task *t, const char *msg)
{
    if (t->tstate == CIO__TS_DONE || t->f.state != CIO__PENDING)
        return false;
    t->ncancel++;
    if (msg) {
        free(t->cancel_msg);
        t->cancel_msg = strdup(msg);
    }
    if (t->tstate == CIO__TS_SUSPENDED && t->wait && t->wait->cancel && t->wait->cancel(t->wait))
        return true;
    t->must_cancel = 1;
    if (t->tstate == CIO__TS_CREATED && t->f.loop) {
        /* A lazy task that was never started: schedule it so that it
         * finishes (cancelled, without running its body), as every
         * cancelled asyncio task does; otherwise whoever awaits it, and
         * cio_run's final cancel-and-wait, would wait forever. */
        t->tstate = CIO__TS_SCHEDULED;
        cio__ready_push(t->f.loop, &t->rn);
    }
    return true;
}

void *cio_fail(int code, const char *fmt, ...)
{
    cio__task *t = cio__current();
    if (!t) {
        va_list ap;
        va_start(ap, fmt);
        (void)(cio__fail_outside_task && cio__fail_outside_task(code, fmt, ap)); /* an executor job's, or nothing */
        va_end(ap);
        return NULL;
    }
    t->failed = 1;
    t->fail_code = code < 0 ? code : -EINVAL;
    free(t->fail_msg);
    t->fail_msg = NULL;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&t->fail_msg, fmt, ap) < 0)
            t->fail_msg = NULL;
        va_end(ap);
    } else if (code == -ECANCELED && t->cancel_msg) {
        /* passing on a cancellation without a message of its own: the
         * message given to cio_cancel goes with it, as CancelledError's
         * args do */
        t->fail_msg = strdup(t->cancel_msg);
    }
    return NULL;
}

int cio_task_cancelling(const cio_task *f) { return f->is_task ? cio__task_of((cio_future *)f)->ncancel : 0; }

int cio_task_uncancel(cio_task *f)
{
    if (!f->is_task)
        return 0;
    cio__task *t = cio__task_of(f);
    if (t->ncancel > 0)
        t->ncancel--;
    if (t->nhandled > t->ncancel)
        t->nhandled = t->ncancel;
    if (t->ncancel == 0) {
        t->must_cancel = 0;
        t->saw_cancel = 0;
    }
    return t->ncancel;
}

int cio_task_catch_cancel(void)
{
    cio__task *t = cio__current();
    if (!t)
        return CIO_ENOTASK;
    /* `except CancelledError: pass`: the error stops propagating, the
     * requests stay counted (asyncio leaves cancelling() alone), and only a
     * new request makes -ECANCELED count as delivered again. */
    t->saw_cancel = 0;
    t->nhandled = t->ncancel - (t->must_cancel ? 1 : 0); /* one not delivered yet still counts */
    return t->ncancel;
}

int cio_task_state(const cio_task *f)
{
    if (!f->is_task)
        return f->state == CIO__PENDING ? CIO_TASK_SUSPENDED : CIO_TASK_DONE;
    return cio__task_of((cio_future *)f)->tstate;
}

const char *cio_task_state_name(int state)
{
    static const char *const names[] = {"created", "scheduled", "running", "suspended", "done"};
    return state >= 0 && state <= CIO_TASK_DONE ? names[state] : "?";
}

const char *cio_task_name(const cio_task *f)
{
    if (!f->is_task)
        return "Future";
    cio__task *t = cio__task_of((cio_future *)f);
    if (t->name)
        return t->name;
    /* Made on demand and kept as if set: the record has no room for it,
     * and most tasks are never asked their name.  Without memory, a
     * per-thread copy (valid until the next such call). */
    static _Thread_local char spare[32];
    snprintf(spare, sizeof spare, "Task-%llu", (unsigned long long)t->id);
    t->name = strdup(spare);
    return t->name ? t->name : spare;
}

int cio_task_set_name(cio_task *f, const char *name)
{
    if (!f->is_task)
        return -EINVAL;
    cio__task *t = cio__task_of(f);
    char *n = name ? strdup(name) : NULL;
    if (name && !n)
        return -ENOMEM;
    free(t->name);
    t->name = n;
    return 0;
}

uint64_t cio_task_id(const cio_task *f) { return f->is_task ? cio__task_of((cio_future *)f)->id : 0; }

cio_task_fn cio_task_fn_of(const cio_task *f, void **arg)
{
    if (!f->is_task) {
        if (arg)
            *arg = NULL;
        return NULL;
    }
    cio__task *t = cio__task_of((cio_future *)f);
    if (arg)
        *arg = t->arg;
    return t->fn;
}

size_t cio_all_tasks(cio_loop *loop, cio_task **out, size_t cap)
{
    cio_loop *l = cio__loop_get(loop);
    if (!l)
        return 0;
    size_t n = 0;
    cio__link *it;
    for (it = l->all.next; it != &l->all; it = it->next) {
        cio_future *f = CIO__CONTAINER_OF(it, cio_future, all);
        if (f->is_task && f->state == CIO__PENDING) {
            if (n < cap)
                out[n] = f;
            n++;
        }
    }
    return n;
}

/* ---- await -------------------------------------------------------------- */

typedef struct await_wait {
    cio__wait w;
    cio__fcb cb;
    cio_future *f;
} await_wait;

static void await_fire(cio__fcb *cb, cio_future *f)
{
    (void)f;
    await_wait *aw = CIO__CONTAINER_OF(cb, await_wait, cb);
    cio__wake(aw->w.task, 0);
}

static bool await_cancel(cio__wait *w)
{
    await_wait *aw = CIO__CONTAINER_OF(w, await_wait, w);
    /* As asyncio: cancelling the awaiting task cancels what it awaits, and
     * it keeps waiting for that to finish. */
    if (cio_cancel(aw->f, w->task->cancel_msg))
        return true;
    cio__fcb_remove(&aw->cb);
    cio__wake(w->task, -ECANCELED);
    return true;
}

int cio_await(cio_future *f, void **value)
{
    if (f->state != CIO__PENDING) {
        int rc = cio_result(f, value);
        cio__task *cur;
        if (rc == -ECANCELED && (cur = cio__current()))
            cio__note_cancel(cur);
        return rc;
    }
    if (value)
        *value = NULL;
    cio__task *t = cio__current();
    int rc = cio__await_check(t, f);
    if (rc)
        return rc;
    if (t->must_cancel) {
        /* Task.__step with _must_cancel set (bpo-34872): the cancellation
         * goes to what is awaited, and the task waits for its outcome. */
        t->must_cancel = 0;
        if (!cio_cancel(f, t->cancel_msg)) {
            t->saw_cancel = 1;
            return -ECANCELED;
        }
        if (f->state != CIO__PENDING) { /* a plain future: cancelled at once */
            cio__note_cancel(t);
            return cio_result(f, NULL);
        }
    }
    await_wait aw;
    aw.f = cio_ref(f);
    aw.w.what = "await";
    aw.w.cancel = await_cancel;
    aw.w.droppable = true;
    cio__fcb_add(f, &aw.cb, await_fire);
    rc = cio__park(&aw.w);
    cio__fcb_remove(&aw.cb);
    if (rc == 0) {
        rc = cio_result(f, value);
        if (rc == -ECANCELED)
            cio__note_cancel(t);
    }
    cio_release(f);
    return rc;
}

/* ---- closing a loop with pending tasks ----------------------------------- */

void cio__loop_abandon(cio_loop *l)
{
    cio__link *it, *c, *ctmp;
    /* First unlink the internal hooks of every pending future.  They live in
     * their waiters' memory (abandoned tasks' stacks, about to be given back)
     * and can never be honoured now; left linked, completing or freeing the
     * future later (references stay valid after close) would write into
     * freed stacks.  User done callbacks stay: they are heap records, dropped
     * when the future completes or is freed, as the loop is gone. */
    for (it = l->all.next; it != &l->all; it = it->next) {
        cio_future *f = CIO__CONTAINER_OF(it, cio_future, all);
        if (f->state != CIO__PENDING)
            continue;
        cio__list_foreach_safe(c, ctmp, &f->callbacks)
        {
            if (!cio__fcb_is_user(CIO__CONTAINER_OF(c, cio__fcb, link)))
                cio__list_remove(c);
        }
    }
    while ((it = cio__list_pop_front(&l->all))) {
        cio_future *f = CIO__CONTAINER_OF(it, cio_future, all);
        f->in_all = 0;
        f->loop = NULL;
        if (!f->is_task)
            continue;
        cio__task *t = cio__task_of(f);
        if (t->tstate == CIO__TS_DONE)
            continue;
        cio__report_destroyed_pending(l, f);
        /* A task parked in cio_await holds a reference to what it awaits. */
        cio_future *awaited = NULL;
        if (t->tstate == CIO__TS_SUSPENDED && t->wait && t->wait->cancel == await_cancel)
            awaited = CIO__CONTAINER_OF(t->wait, await_wait, w)->f;
        t->wait = NULL;
        cio__ctx_free(&t->ctx);
        if (t->has_stack) {
            cio__stack_put(&l->stacks, &t->stack);
            t->has_stack = 0;
        }
        t->tstate = CIO__TS_DONE;
        l->ntasks--;
        cio_release(f); /* the loop's own reference */
        cio_release(awaited);
    }
}

/* ---- sleep -------------------------------------------------------------- */

typedef struct sleep_wait {
    cio__wait w;
    cio__timer tm;
} sleep_wait;

static void sleep_fire(cio__timer *tm)
{
    sleep_wait *s = CIO__CONTAINER_OF(tm, sleep_wait, tm);
    cio__wake(s->w.task, 0);
}

static bool sleep_cancel(cio__wait *w)
{
    sleep_wait *s = CIO__CONTAINER_OF(w, sleep_wait, w);
    cio__wheel_del(&w->task->f.loop->wheel, &s->tm);
    cio__wake(w->task, -ECANCELED);
    return true;
}

int cio_yield(void)
{
    cio__task *t;
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    cio_loop *l = t->f.loop;
    t->tstate = CIO__TS_SCHEDULED;
    cio__ready_push(l, &t->rn);
    cio__switch_to_loop(l, t, false);
    if (CIO__UNLIKELY(t->must_cancel)) {
        t->must_cancel = 0;
        t->saw_cancel = 1;
        return -ECANCELED;
    }
    return 0;
}

int cio_sleep(double seconds)
{
    if (!(seconds > 0))
        return cio_yield();
    cio__task *t;
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    sleep_wait s = {0};
    s.w.what = "sleep";
    s.w.cancel = sleep_cancel;
    s.w.droppable = true;
    s.tm.fire = sleep_fire;
    s.tm.when = cio__loop_now_ns(t->f.loop) + cio__secs_to_ns(seconds);
    cio__wheel_add(&t->f.loop->wheel, &s.tm);
    return cio__park(&s.w);
}
