/* SPDX-License-Identifier: MIT */
/* Debug mode: slow step reports, task dumps, stack overflow detection; the
 * loop's exception handler. */
#include "core/internal.h"

#include <execinfo.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cio__debug_report_slow(cio_loop *l, cio__task *t, cio_handle *h, double secs)
{
    (void)l;
    if (t)
        fprintf(stderr, "cio: Executing <Task %s> took %.3f seconds\n", cio_task_name(&t->f), secs);
    else
        fprintf(stderr, "cio: Executing <Handle %p> took %.3f seconds\n", h->fcb ? (void *)h->fcb : (void *)h->cb, secs);
}

/* ---- the exception handler ---------------------------------------------- */

#define SPAWN_FRAMES 16

struct cio__spawn_bt {
    int n;
    void *pc[SPAWN_FRAMES];
};

void cio__debug_note_spawn(cio__task *t)
{
    t->spawn_bt = malloc(sizeof *t->spawn_bt);
    if (t->spawn_bt)
        t->spawn_bt->n = backtrace(t->spawn_bt->pc, SPAWN_FRAMES);
}

/* spawned_at for the context: the frames above this file's own, one per
 * line (malloc'd), or NULL. */
static char *spawned_at(const cio_future *f)
{
    const struct cio__spawn_bt *bt = f->is_task ? cio__task_of((cio_future *)f)->spawn_bt : NULL;
    if (!bt || bt->n <= 1)
        return NULL;
    char **sym = backtrace_symbols(bt->pc + 1, bt->n - 1);
    if (!sym)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (m) {
        for (int i = 0; i < bt->n - 1; i++)
            fprintf(m, "%s\n", sym[i]);
        fclose(m);
    }
    free(sym);
    return buf;
}

void cio_loop_set_exception_handler(cio_loop *loop, cio_exception_handler fn, void *arg)
{
    loop->exc_handler = fn;
    loop->exc_arg = fn ? arg : NULL;
}

cio_exception_handler cio_loop_get_exception_handler(const cio_loop *loop, void **arg)
{
    if (arg)
        *arg = loop->exc_arg;
    return loop->exc_handler;
}

void cio_loop_call_exception_handler(cio_loop *loop, const cio_exception_context *ctx)
{
    if (loop && loop->exc_handler)
        loop->exc_handler(loop, ctx, loop->exc_arg);
    else
        cio_loop_default_exception_handler(loop, ctx);
}

void cio_loop_default_exception_handler(cio_loop *loop, const cio_exception_context *ctx)
{
    (void)loop;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return;
    fprintf(m, "cio: %s\n", ctx->message ? ctx->message : "Unhandled error in event loop");
    const cio_future *f = ctx->future;
    if (f)
        fprintf(m, "  %s: <%s state=%s>\n", f->is_task ? "task" : "future", cio_task_name(f),
                cio_task_state_name(cio_task_state(f)));
    if (ctx->error)
        fprintf(m, "  error: %s (%d)%s%s\n", cio_strerror(ctx->error), ctx->error, ctx->error_message ? ": " : "",
                ctx->error_message ? ctx->error_message : "");
    if (ctx->spawned_at)
        fprintf(m, "  spawned at:\n%s", ctx->spawned_at);
    fclose(m);
    /* one write, so that reports from several threads do not interleave */
    ssize_t r = write(2, buf, len);
    (void)r;
    free(buf);
}

void cio__report_unretrieved(cio_future *f)
{
    char *where = spawned_at(f);
    cio_exception_context ctx = {
        .message = f->is_task ? "Task exception was never retrieved" : "Future exception was never retrieved",
        .future = f,
        .error = f->err,
        .error_message = f->msg,
        .spawned_at = where,
    };
    f->retrieved = 1; /* reported once, whatever the handler does */
    cio_loop_call_exception_handler(f->loop && !f->loop->closed ? f->loop : NULL, &ctx);
    free(where);
}

void cio__report_destroyed_pending(cio_loop *l, cio_future *f)
{
    char *where = spawned_at(f);
    cio_exception_context ctx = {.message = "Task was destroyed but it is pending!", .future = f, .spawned_at = where};
    cio_loop_call_exception_handler(l, &ctx);
    free(where);
}

void cio_loop_dump_tasks(cio_loop *l, FILE *out)
{
    if (!l)
        return;
    fprintf(out, "cio: %zu task(s) on loop %p (%s back end)\n", l->ntasks, (void *)l, l->be->name);
    cio__link *it;
    for (it = l->all.next; it != &l->all; it = it->next) {
        cio_future *f = CIO__CONTAINER_OF(it, cio_future, all);
        if (!f->is_task)
            continue;
        cio__task *t = cio__task_of(f);
        if (t->tstate == CIO__TS_DONE)
            continue;
        size_t used = 0;
        if (t->has_stack && (t->tstate == CIO__TS_SUSPENDED || t->tstate == CIO__TS_SCHEDULED)) {
            char *top = (char *)t->stack.lo + t->stack.size;
#ifndef CIO_CTX_UCONTEXT
            used = (size_t)(top - (char *)t->ctx.sp);
#else
            (void)top;
#endif
        }
        fprintf(out, "  #%llu %-20s %-9s waits on: %-14s cancelling=%d stack=%zu used=%zu high-water=%zu\n",
                (unsigned long long)t->id, cio_task_name(f), cio_task_state_name(t->tstate),
                t->wait && t->wait->what ? t->wait->what : "-", t->ncancel, t->stack.size, used,
                t->has_stack ? cio__stack_high_water(&t->stack) : 0);
    }
}

void cio_dump_tasks(FILE *out) { cio_loop_dump_tasks(cio__loop_get(NULL), out); }

/* ---- stack overflow ----------------------------------------------------- */

static void write_str(const char *s)
{
    ssize_t r = write(2, s, strlen(s));
    (void)r;
}

static void write_num(size_t v)
{
    char buf[32];
    int i = (int)sizeof buf;
    buf[--i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v && i > 0);
    write_str(buf + i);
}

void cio__stack_overflow_abort(cio__task *t)
{
    const char *name = cio__task_report_name(t); /* no malloc here: a SIGSEGV handler may be the caller */
    write_str("cio: stack overflow in task ");
    if (name) {
        write_str(name);
    } else {
        write_str("Task-");
        write_num(t->id);
    }
    write_str(" (stack ");
    write_num(t->stack.size);
    write_str(" bytes)\n");
    abort();
}

/* The overflow report runs on the alternate signal stack that every running
 * loop holds on its thread (cio__altstack_hold, signal.c). */
static struct sigaction old_segv, old_bus;
static atomic_int segv_installers;

static void on_segv(int signo, siginfo_t *si, void *uc)
{
    (void)uc;
    cio_loop *l = cio__tls_running;
    cio__task *t = l ? l->current : NULL;
    if (t && cio__stack_is_guard_fault(&t->stack, si->si_addr))
        cio__stack_overflow_abort(t);
    /* Not ours: restore the previous disposition; returning re-executes the
     * faulting instruction, which then gets the default action. */
    sigaction(signo, signo == SIGSEGV ? &old_segv : &old_bus, NULL);
}

static void on_sigquit(void *arg) { cio_loop_dump_tasks(arg, stderr); }

void cio__debug_install(cio_loop *l)
{
    if (atomic_fetch_add(&segv_installers, 1) == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_segv;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSEGV, &sa, &old_segv);
        sigaction(SIGBUS, &sa, &old_bus);
    }
    struct sigaction cur;
    if (sigaction(SIGQUIT, NULL, &cur) == 0 && cur.sa_handler == SIG_DFL)
        l->debug_sigquit = cio_add_signal_handler(l, SIGQUIT, on_sigquit, l) == 0;
}

void cio__debug_uninstall(cio_loop *l)
{
    if (atomic_fetch_sub(&segv_installers, 1) == 1) {
        sigaction(SIGSEGV, &old_segv, NULL);
        sigaction(SIGBUS, &old_bus, NULL);
    }
    if (l->debug_sigquit)
        cio_remove_signal_handler(l, SIGQUIT);
    l->debug_sigquit = false;
}
