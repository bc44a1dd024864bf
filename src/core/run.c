/* SPDX-License-Identifier: MIT */
/* asyncio.run: cio_run creates a loop, runs main on it, cancels what is
 * left, closes the loop; Ctrl-C cancels main. */
#include "core/internal.h"

#include <stdlib.h>

typedef struct run_state {
    cio_task *main;
    bool interrupted;
    struct sigaction old_int;
    bool hooked;
} run_state;

static void sigint_cb(void *arg)
{
    run_state *rs = arg;
    if (rs->interrupted || cio_done(rs->main)) {
        /* Second Ctrl-C: give the user the default action back. */
        cio_remove_signal_handler(cio_future_loop(rs->main), SIGINT);
        raise(SIGINT);
        return;
    }
    rs->interrupted = true;
    cio_cancel(rs->main, "interrupted by SIGINT");
    cio__threads_interrupted();
}

/* The tasks cancel_all cancelled (references), to look at once they end. */
typedef struct cancelled_set {
    cio_future **v;
    size_t n, cap;
} cancelled_set;

static void cancel_one(cancelled_set *cs, cio_future *f)
{
    cio_cancel(f, NULL);
    if (cs->n == cs->cap) {
        size_t cap = cs->cap ? 2 * cs->cap : 16;
        cio_future **v = realloc(cs->v, cap * sizeof *v);
        if (!v)
            return; /* out of memory: it is still cancelled, only not reported */
        cs->v = v;
        cs->cap = cap;
    }
    cs->v[cs->n++] = cio_ref(f);
}

/* Cancels every task still alive and runs the loop until they finish, then
 * reports those that ended with an error rather than cancelled, through
 * the loop's exception handler (asyncio.run's _cancel_all_tasks). */
static void cancel_all(cio_loop *l)
{
    if (!l->ntasks || cio__loop_run_begin(l))
        return;
    cancelled_set cs = {0};
    while (l->ntasks) {
        cio__link *it;
        for (it = l->all.next; it != &l->all; it = it->next) {
            cio_future *f = CIO__CONTAINER_OF(it, cio_future, all);
            cio__task *t = cio__task_of(f);
            if (f->is_task && t->tstate != CIO__TS_DONE && !t->ncancel && !t->must_cancel)
                cancel_one(&cs, f);
        }
        cio__loop_run_once(l);
    }
    cio__loop_run_end(l);
    for (size_t i = 0; i < cs.n; i++) {
        cio_future *f = cs.v[i];
        if (f->state == CIO__ERROR) {
            cio_exception_context ctx = {
                .message = "unhandled exception during cio_run() shutdown",
                .future = f,
                .error = cio_exception(f),
                .error_message = f->msg,
            };
            cio_loop_call_exception_handler(l, &ctx);
        }
        cio_release(f);
    }
    free(cs.v);
}

int cio_run(cio_task_fn main, void *arg, void **result)
{
    if (result)
        *result = NULL;
    if (cio__tls_running)
        return CIO_ERUNNING;
    cio_loop *prev = cio__tls_loop;
    cio_loop *l = cio_loop_new();
    if (!l)
        return -errno;
    cio__tls_loop = l;
    run_state rs = {0};
    cio_task *t = cio_spawn_ex(l, main, arg, NULL);
    int rc;
    if (!t) {
        rc = -errno;
    } else {
        rs.main = t;
        struct sigaction cur;
        if (cio__threads_hook_sigint() && sigaction(SIGINT, NULL, &cur) == 0 && cur.sa_handler == SIG_DFL)
            rs.hooked = cio_add_signal_handler(l, SIGINT, sigint_cb, &rs) == 0;
        cio__threads_started(l, t);
        rc = cio_loop_run_until_complete(l, t, result);
        cancel_all(l);
        cio__threads_ending();
        if (rs.hooked)
            cio_remove_signal_handler(l, SIGINT);
        /* Ctrl-C: KeyboardInterrupt if main ended cancelled by that
         * cancellation alone; cancelled by someone else as well, it stays
         * -ECANCELED (asyncio's Runner: uncancel() == 0). */
        if (rs.interrupted && rc == -ECANCELED && cio_task_cancelling(t) <= 1)
            rc = -EINTR;
        cio_release(t);
    }
    cio_loop_close(l);
    cio__tls_loop = prev;
    return rc;
}
