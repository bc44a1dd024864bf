/* SPDX-License-Identifier: MIT */
/* Signals: add_signal_handler-style callbacks and cio_signal_wait().
 *
 * A self-pipe, as asyncio's set_wakeup_fd: the process-wide handler writes
 * the signal number into the owning loop's pipe (write(2) is
 * async-signal-safe), and the loop's internal reader dispatches it.
 * signalfd would need the signal blocked in every thread of the process,
 * which a library cannot promise; the self-pipe works with whatever threads
 * the application has. */
#include "core/internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NSIGS 65

typedef struct sigwaiter {
    cio__wait w;
    cio__link link;
    int signo;
} sigwaiter;

typedef struct sigent {
    cio_callback cb;
    void *arg;
    int nwaiters;
    bool installed;
    struct sigaction old;
} sigent;

struct cio__sigstate {
    unsigned seen_gen; /* sig_gen when this loop last looked */
    int pipe[2];
    cio__link waiters;
    sigent ent[NSIGS];
};

/* Which loop's pipe each signal goes to (write end), -1 for none. */
static atomic_int sig_fd[NSIGS] = {[0 ... NSIGS - 1] = -1};

/* Bumped by the handler after writing to a pipe.  A loop that always has
 * work ready polls its fds only now and then; it checks this counter every
 * iteration so that a signal is not left sitting in the pipe. */
static atomic_uint sig_gen;

static void on_signal(int signo)
{
    int saved = errno;
    int fd = signo > 0 && signo < NSIGS ? atomic_load_explicit(&sig_fd[signo], memory_order_relaxed) : -1;
    if (fd >= 0) {
        unsigned char b = (unsigned char)signo;
        ssize_t r = write(fd, &b, 1); /* a full pipe drops the signal: it is already pending */
        (void)r;
        atomic_fetch_add_explicit(&sig_gen, 1, memory_order_release);
    }
    errno = saved;
}

static void dispatch(cio_loop *l, int signo)
{
    struct cio__sigstate *ss = l->sig;
    cio__link *it, *tmp;
    cio__list_foreach_safe(it, tmp, &ss->waiters)
    {
        sigwaiter *w = CIO__CONTAINER_OF(it, sigwaiter, link);
        if (w->signo == signo) {
            cio__list_remove(&w->link);
            cio__wake(w->w.task, signo);
        }
    }
    if (ss->ent[signo].cb)
        ss->ent[signo].cb(ss->ent[signo].arg);
}

bool cio__signals_pending(cio_loop *l)
{
    unsigned g = atomic_load_explicit(&sig_gen, memory_order_acquire);
    if (!l->sig || g == l->sig->seen_gen)
        return false;
    l->sig->seen_gen = g; /* one poll per change, also for other loops' signals */
    return true;
}

static void pipe_readable(void *arg)
{
    cio_loop *l = arg;
    unsigned char buf[64];
    ssize_t n;
    while ((n = read(l->sig->pipe[0], buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] < NSIGS && l->sig)
                dispatch(l, buf[i]);
}

static int sigstate_get(cio_loop *l)
{
    if (l->sig)
        return 0;
    struct cio__sigstate *ss = calloc(1, sizeof *ss);
    if (!ss)
        return -ENOMEM;
    if (pipe2(ss->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        int e = errno;
        free(ss);
        return -e;
    }
    cio__list_init(&ss->waiters);
    l->sig = ss;
    int rc = cio__add_internal_reader(l, ss->pipe[0], pipe_readable, l);
    if (rc < 0) {
        close(ss->pipe[0]);
        close(ss->pipe[1]);
        free(ss);
        l->sig = NULL;
    }
    return rc;
}

static bool valid_signo(int signo) { return signo > 0 && signo < NSIGS && signo != SIGKILL && signo != SIGSTOP; }

static int install(cio_loop *l, int signo)
{
    sigent *e = &l->sig->ent[signo];
    if (e->installed)
        return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    /* SA_ONSTACK: the handler may interrupt a compact task, whose slot has
     * no room for the kernel's signal frame; the running loop holds an
     * alternate stack on its thread for it (cio__altstack_hold). */
    sa.sa_flags = SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(signo, &sa, &e->old) < 0)
        return -errno;
    atomic_store(&sig_fd[signo], l->sig->pipe[1]);
    e->installed = true;
    return 0;
}

static void maybe_uninstall(cio_loop *l, int signo)
{
    sigent *e = &l->sig->ent[signo];
    if (!e->installed || e->cb || e->nwaiters)
        return;
    int fd = l->sig->pipe[1];
    /* Put the old disposition back only if the signal is still ours: if
     * another loop added it since, the signal is that loop's now, and
     * restoring ours would take it away from it. */
    if (atomic_compare_exchange_strong(&sig_fd[signo], &fd, -1))
        sigaction(signo, &e->old, NULL);
    e->installed = false;
}

int cio_add_signal_handler(cio_loop *loop, int signo, cio_callback cb, void *arg)
{
    cio_loop *l = cio__loop_get(loop);
    if (!l)
        return CIO_ENOLOOP;
    if (!valid_signo(signo) || !cb)
        return -EINVAL;
    int rc = sigstate_get(l);
    if (rc < 0)
        return rc;
    if ((rc = install(l, signo)) < 0)
        return rc;
    l->sig->ent[signo].cb = cb;
    l->sig->ent[signo].arg = arg;
    return 0;
}

bool cio_remove_signal_handler(cio_loop *loop, int signo)
{
    cio_loop *l = cio__loop_get(loop);
    if (!l || !l->sig || !valid_signo(signo) || !l->sig->ent[signo].cb)
        return false;
    l->sig->ent[signo].cb = NULL;
    maybe_uninstall(l, signo);
    return true;
}

static bool sigwait_cancel(cio__wait *w)
{
    sigwaiter *sw = CIO__CONTAINER_OF(w, sigwaiter, w);
    cio__list_remove(&sw->link);
    cio__wake(w->task, -ECANCELED);
    return true;
}

int cio_signal_wait(int signo)
{
    cio__task *t;
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    if (!valid_signo(signo))
        return -EINVAL;
    cio_loop *l = t->f.loop;
    if ((rc = sigstate_get(l)) < 0 || (rc = install(l, signo)) < 0)
        return rc;
    sigwaiter sw;
    sw.signo = signo;
    sw.w.what = "signal";
    sw.w.cancel = sigwait_cancel;
    sw.w.droppable = true;
    cio__list_push_back(&l->sig->waiters, &sw.link);
    l->sig->ent[signo].nwaiters++;
    rc = cio__park(&sw.w);
    if (l->sig) {
        l->sig->ent[signo].nwaiters--;
        maybe_uninstall(l, signo);
    }
    return rc;
}

void cio__signals_close(cio_loop *l)
{
    struct cio__sigstate *ss = l->sig;
    if (!ss)
        return;
    for (int s = 1; s < NSIGS; s++) {
        ss->ent[s].cb = NULL;
        ss->ent[s].nwaiters = 0;
        maybe_uninstall(l, s);
    }
    cio_fd_forget(l, ss->pipe[0]);
    close(ss->pipe[0]);
    close(ss->pipe[1]);
    free(ss);
    l->sig = NULL;
}

/* ---- the alternate signal stack of a running loop's thread -------------- */

/* Per thread: the thread's own alternate stack if it has a big enough one
 * (sanitizers install one per thread), else ours, removed again (the
 * previous one put back) when the last holder lets go.  Signal frames are
 * up to 3.4 KiB (AVX-512) and a handler's own frames come on top: 64 KiB
 * is what the overflow report (debug.c) and any handler need; it is
 * address space until a signal touches it. */
#define ALTSTACK_SIZE (64 * 1024)
#define ALTSTACK_MIN (16 * 1024)
static _Thread_local char *altstack;
static _Thread_local stack_t altstack_prev;
static _Thread_local int altstack_holders;

void cio__altstack_hold(void)
{
    if (altstack_holders++ > 0)
        return;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) && cur.ss_size >= ALTSTACK_MIN)
        return;
    altstack = malloc(ALTSTACK_SIZE);
    if (!altstack)
        return; /* handlers then run on the interrupted stack, as without cio */
    stack_t ss = {.ss_sp = altstack, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
    if (sigaltstack(&ss, &altstack_prev) < 0) {
        free(altstack);
        altstack = NULL;
    }
}

void cio__altstack_drop(void)
{
    if (altstack_holders == 0 || --altstack_holders > 0 || !altstack)
        return;
    sigaltstack(&altstack_prev, NULL); /* back to the previous one (or none) */
    free(altstack);
    altstack = NULL;
}
