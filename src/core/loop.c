/* SPDX-License-Identifier: MIT */
/* The event loop: ready queue, timers, back end, file descriptor
 * registrations, and the loop's life cycle (the thread-safe inbox is in
 * inbox.c).
 *
 * One iteration (cio__loop_run_once) does, in order:
 *   1. wait for I/O: blocking (until the next timer) when nothing is ready,
 *      after a short spin if the iteration before ran something (spin());
 *      when work is ready, a non-blocking poll only every 32 iterations and
 *      only if user fds are watched, so a task that just yields costs two
 *      context switches and a queue push, not a system call (every
 *      iteration while the back end has be_work: completion operations
 *      in flight, which costs a system call only when there is something
 *      to submit);
 *   2. drain the thread-safe inbox (one atomic load when empty);
 *   3. expire due timers (a clock read only when timers are armed);
 *   4. run the tasks and callbacks that were ready when the iteration began
 *      (what they make ready runs in the next iteration, as in asyncio).
 */
#include "core/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

_Thread_local cio_loop *cio__tls_loop;
_Thread_local cio_loop *cio__tls_running;
bool (*cio__fail_outside_task)(int code, const char *fmt, va_list ap);

#define FREE_HANDLES_MAX 4096
#define CIO__SPIN_DEFAULT_NS 50000 /* cio_loop_set_spin */

uint64_t cio__secs_to_ns(double s)
{
    if (!(s > 0)) /* also NaN */
        return 0;
    if (s >= 1e9) /* ~31 years: "never" for a timer */
        return (uint64_t)1e18;
    return (uint64_t)(s * 1e9 + 0.5);
}

cio_loop *cio__loop_get(cio_loop *l)
{
    if (l)
        return l;
    if (cio__tls_running)
        return cio__tls_running;
    return cio__tls_loop;
}

cio_loop *cio_loop_current(void) { return cio__loop_get(NULL); }

int cio_loop_set_current(cio_loop *loop)
{
    if (cio__tls_running && cio__tls_running != loop)
        return CIO_ERUNNING;
    cio__tls_loop = loop;
    return 0;
}

void cio__ready_push_front(cio_loop *l, cio__rnode *n)
{
    n->next = l->rhead;
    if (!l->rhead)
        l->rtail = &n->next;
    l->rhead = n;
    l->nready++;
}

static cio__rnode *ready_pop(cio_loop *l)
{
    cio__rnode *n = l->rhead;
    l->rhead = n->next;
    if (!l->rhead)
        l->rtail = &l->rhead;
    l->nready--;
    return n;
}

/* ---- handles ------------------------------------------------------------ */

cio_handle *cio__handle_new(cio_loop *l)
{
    cio_handle *h = l->free_handles;
    if (h) {
        l->free_handles = h->ts_next;
        l->nfree_handles--;
    } else if (!(h = malloc(sizeof *h))) {
        return NULL;
    }
    /* field by field: a memset of the whole record (timer links included)
     * is a measurable part of call_later + cancel */
    h->rn.next = NULL;
    h->rn.kind = CIO__RN_HANDLE;
    h->timer.where = 0;
    h->loop = l;
    h->cb = NULL;
    h->arg = NULL;
    h->fut = NULL;
    h->fcb = NULL;
    h->when = 0;
    h->refs = 1;
    h->cancelled = 0;
    h->foreign = 0;
    h->ts_next = NULL;
    return h;
}

static void handle_free(cio_handle *h)
{
    cio_loop *l = h->loop;
    if (h->fut) {
        cio_release(h->fut);
        h->fut = NULL;
    }
    if (!h->foreign && l && !l->closed && l->nfree_handles < FREE_HANDLES_MAX) {
        h->ts_next = l->free_handles;
        l->free_handles = h;
        l->nfree_handles++;
    } else {
        free(h);
    }
}

void cio__handle_unref(cio_handle *h)
{
    if (--h->refs == 0)
        handle_free(h);
}

static void handle_timer_fire(cio__timer *tm)
{
    cio_handle *h = CIO__CONTAINER_OF(tm, cio_handle, timer);
    cio__ready_push(h->loop, &h->rn); /* the timer's reference moves to the queue */
}

static int schedule(cio_loop *l, double when, bool timed, cio_callback cb, void *arg, cio_handle **out)
{
    if (out)
        *out = NULL;
    if (!l)
        return CIO_ENOLOOP;
    if (l->closed)
        return CIO_ELOOPCLOSED;
    cio_handle *h = cio__handle_new(l);
    if (!h)
        return -ENOMEM;
    h->cb = cb;
    h->arg = arg;
    if (timed) {
        h->when = when;
        h->timer.fire = handle_timer_fire;
        h->timer.when = when <= 0 ? 0 : cio__secs_to_ns(when);
        cio__wheel_add(&l->wheel, &h->timer);
    } else {
        h->when = cio_loop_time(l);
        /* Thread-safe calls posted before this one (from any thread) run
         * before it, as in asyncio where both go to the one ready queue. */
        if (atomic_load_explicit(&l->ts_pending, memory_order_acquire))
            cio__ts_drain(l);
        cio__ready_push(l, &h->rn);
    }
    if (out) {
        h->refs++;
        h->foreign = 1; /* the caller may release it after the loop is gone:
                           free it with free(), not into the loop's cache */
        *out = h;
    }
    return 0;
}

int cio_call_soon(cio_loop *loop, cio_callback cb, void *arg, cio_handle **out)
{
    return schedule(loop, 0, false, cb, arg, out);
}

int cio_call_at(cio_loop *loop, double when, cio_callback cb, void *arg, cio_handle **out)
{
    return schedule(loop, when, true, cb, arg, out);
}

int cio_call_later(cio_loop *loop, double delay, cio_callback cb, void *arg, cio_handle **out)
{
    if (!loop)
        return CIO_ENOLOOP;
    if (!(delay > 0))
        delay = 0;
    return schedule(loop, cio_loop_time(loop) + delay, true, cb, arg, out);
}

void cio_handle_cancel(cio_handle *h)
{
    if (!h)
        return;
    if (h->cancelled != 1) {
        /* also from inside its own callback (2): it then reads as cancelled,
         * as asyncio's Handle does */
        h->cancelled = 1;
        if (h->loop && cio__timer_armed(&h->timer)) {
            /* O(1): the wheel unlinks it; the reference the timer held goes
             * (h->loop is NULL once the loop closed: nothing is armed then) */
            cio__wheel_del(&h->loop->wheel, &h->timer);
            h->refs--;
        }
        /* a handle already in the ready queue is skipped when popped */
    }
    cio__handle_unref(h);
}

void cio_handle_release(cio_handle *h)
{
    if (h)
        cio__handle_unref(h);
}

/* h->cancelled: 0 pending, 1 cancelled, 2 ran (or running) */
bool cio_handle_cancelled(const cio_handle *h) { return h->cancelled == 1; }
double cio_handle_when(const cio_handle *h) { return h->when; }

static void run_handle(cio_loop *l, cio_handle *h)
{
    if (!h->cancelled) {
        h->cancelled = 2; /* ran: not cancelled (Handle.cancelled() is false) */
        if (CIO__UNLIKELY(l->debug)) {
            double t0 = cio_loop_time(l);
            if (h->fcb)
                h->fcb(h->fut, h->arg);
            else
                h->cb(h->arg);
            double dt = cio_loop_time(l) - t0;
            if (dt >= l->slow_duration)
                cio__debug_report_slow(l, NULL, h, dt);
        } else if (h->fcb) {
            h->fcb(h->fut, h->arg);
        } else {
            h->cb(h->arg);
        }
    }
    cio__handle_unref(h);
}

void cio__schedule_done_callback(cio_loop *l, cio_future *f, cio_done_fn fn, void *arg)
{
    cio_handle *h = cio__handle_new(l);
    if (!h) {
        /* Out of memory while completing a future: running the callback now
         * beats losing it. */
        fn(f, arg);
        return;
    }
    h->fut = cio_ref(f);
    h->fcb = fn;
    h->arg = arg;
    cio__ready_push(l, &h->rn);
}

/* ---- file descriptors --------------------------------------------------- */

cio__fdent *cio__fdent_get(cio_loop *l, int fd, bool create)
{
    if (fd < 0)
        return NULL;
    size_t ci = (size_t)fd / CIO__FD_CHUNK, i = (size_t)fd % CIO__FD_CHUNK;
    if (ci >= l->nfdchunks) {
        if (!create)
            return NULL;
        size_t n = l->nfdchunks ? l->nfdchunks : 4;
        while (n <= ci)
            n *= 2;
        cio__fdent **c = realloc(l->fdchunks, n * sizeof *c);
        if (!c)
            return NULL;
        memset(c + l->nfdchunks, 0, (n - l->nfdchunks) * sizeof *c);
        l->fdchunks = c;
        l->nfdchunks = n;
    }
    cio__fdent *chunk = l->fdchunks[ci];
    if (!chunk) {
        if (!create)
            return NULL;
        chunk = calloc(CIO__FD_CHUNK, sizeof *chunk);
        if (!chunk)
            return NULL;
        for (size_t k = 0; k < CIO__FD_CHUNK; k++)
            cio__list_init(&chunk[k].waiters);
        l->fdchunks[ci] = chunk;
    }
    return &chunk[i];
}

static unsigned fd_needed(const cio__fdent *e)
{
    unsigned m = 0;
    if (e->rcb)
        m |= CIO_READABLE;
    if (e->wcb)
        m |= CIO_WRITABLE;
    cio__link *it;
    for (it = e->waiters.next; it != &e->waiters; it = it->next)
        m |= (unsigned)CIO__CONTAINER_OF(it, cio__fdwait, link)->events;
    return m;
}

static int fd_set_interest(cio_loop *l, int fd, cio__fdent *e, unsigned mask)
{
    if (mask == e->interest)
        return 0;
    int rc = l->be->ctl(l, fd, e->gen, e->interest, mask);
    if (rc < 0) {
        if (mask == 0) { /* the fd is gone anyway: forget it */
            rc = 0;
        } else {
            return rc;
        }
    }
    if (!e->interest && mask)
        l->nwatched++;
    else if (e->interest && !mask)
        l->nwatched--;
    e->interest = (uint8_t)mask;
    return rc;
}

void cio__io_event(cio_loop *l, int fd, uint32_t gen, unsigned events)
{
    cio__fdent *e = cio__fdent_get(l, fd, false);
    if (!e || e->gen != gen || !e->interest)
        return; /* stale: the fd was forgotten since the event was queued */
    cio__link *it, *tmp;
    unsigned woke = 0;
    cio__list_foreach_safe(it, tmp, &e->waiters)
    {
        cio__fdwait *w = CIO__CONTAINER_OF(it, cio__fdwait, link);
        unsigned got = events & (unsigned)w->events;
        if (got) {
            woke |= got;
            /* Woken, but left on the list with no events until it resumes,
             * so that cio_fd_forget() before then can still turn the
             * readiness of the old file into -EBADF. */
            w->events = 0;
            cio__wake(w->w.task, (int)got);
        }
    }
    if ((events & CIO_READABLE) && e->rcb) {
        e->rcb(e->rarg);
        if (e->gen != gen)
            return;
    }
    if ((events & CIO_WRITABLE) && e->wcb) {
        e->wcb(e->warg);
        if (e->gen != gen)
            return;
    }
    /* Lazy disarm: interest stays registered after a waiter is satisfied (the
     * next wait usually follows soon and then costs no epoll_ctl); only a
     * direction that fired with nobody interested is dropped.  The
     * directions that just woke someone count as wanted. */
    unsigned need = fd_needed(e) | woke;
    if (e->interest & events & ~need)
        fd_set_interest(l, fd, e, e->interest & need);
}

static bool fdwait_cancel(cio__wait *w)
{
    cio__fdwait *fw = CIO__CONTAINER_OF(w, cio__fdwait, w);
    cio__list_remove(&fw->link);
    cio__wake(w->task, -ECANCELED);
    return true;
}

int cio_wait_fd(int fd, int events)
{
    cio__task *t;
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    if (fd < 0 || !(events & (CIO_READABLE | CIO_WRITABLE)) || (events & ~(CIO_READABLE | CIO_WRITABLE)))
        return -EINVAL;
    cio_loop *l = t->f.loop;
    cio__fdent *e = cio__fdent_get(l, fd, true);
    if (!e)
        return -ENOMEM;
    if (e->internal)
        return -EBUSY;
    rc = fd_set_interest(l, fd, e, e->interest | (unsigned)events);
    if (rc < 0)
        return rc;
    cio__fdwait fw;
    fw.fd = fd;
    fw.events = events;
    fw.w.what = events == CIO_READABLE ? "fd readable" : events == CIO_WRITABLE ? "fd writable" : "fd ready";
    fw.w.cancel = fdwait_cancel;
    fw.w.droppable = true;
    cio__list_push_back(&e->waiters, &fw.link);
    rc = cio__park(&fw.w);
    cio__list_remove(&fw.link); /* if still listed (woken by an event) */
    return rc;
}

int cio_wait_readable(int fd) { return cio_wait_fd(fd, CIO_READABLE); }
int cio_wait_writable(int fd) { return cio_wait_fd(fd, CIO_WRITABLE); }

static int set_callback(cio_loop *l, int fd, bool write, cio_callback cb, void *arg, bool internal)
{
    if (!l)
        return CIO_ENOLOOP;
    if (l->closed)
        return CIO_ELOOPCLOSED;
    if (fd < 0 || !cb)
        return -EINVAL;
    cio__fdent *e = cio__fdent_get(l, fd, true);
    if (!e)
        return -ENOMEM;
    if (e->internal && !internal)
        return -EBUSY;
    int rc = fd_set_interest(l, fd, e, e->interest | (write ? CIO_WRITABLE : CIO_READABLE));
    if (rc < 0)
        return rc;
    if (write) {
        e->wcb = cb;
        e->warg = arg;
    } else {
        e->rcb = cb;
        e->rarg = arg;
    }
    if (internal && !e->internal) {
        e->internal = 1;
        l->ninternal++;
    }
    return 0;
}

int cio_add_reader(cio_loop *loop, int fd, cio_callback cb, void *arg) { return set_callback(cio__loop_get(loop), fd, false, cb, arg, false); }
int cio_add_writer(cio_loop *loop, int fd, cio_callback cb, void *arg) { return set_callback(cio__loop_get(loop), fd, true, cb, arg, false); }
int cio__add_internal_reader(cio_loop *l, int fd, cio_callback cb, void *arg) { return set_callback(l, fd, false, cb, arg, true); }

static bool remove_callback(cio_loop *l, int fd, bool write)
{
    if (!l)
        return false;
    cio__fdent *e = cio__fdent_get(l, fd, false);
    if (!e || e->internal || !(write ? e->wcb : e->rcb))
        return false;
    if (write)
        e->wcb = NULL;
    else
        e->rcb = NULL;
    /* Drop the interest now: a reader removed before close() must not leave
     * an epoll registration behind that outlives the fd. */
    fd_set_interest(l, fd, e, e->interest & fd_needed(e));
    return true;
}

bool cio_remove_reader(cio_loop *loop, int fd) { return remove_callback(cio__loop_get(loop), fd, false); }
bool cio_remove_writer(cio_loop *loop, int fd) { return remove_callback(cio__loop_get(loop), fd, true); }

void cio_fd_forget(cio_loop *loop, int fd)
{
    cio_loop *l = cio__loop_get(loop);
    if (!l)
        return;
    if (l->be->forget_fd)
        l->be->forget_fd(l, fd); /* operations the kernel still runs on it */
    cio__fdent *e = cio__fdent_get(l, fd, false);
    if (!e)
        return;
    fd_set_interest(l, fd, e, 0);
    e->gen++; /* events already queued for the old file are now stale */
    e->rcb = e->wcb = NULL;
    if (e->internal) {
        e->internal = 0;
        l->ninternal--;
    }
    cio__link *it;
    while ((it = cio__list_pop_front(&e->waiters))) {
        cio__fdwait *w = CIO__CONTAINER_OF(it, cio__fdwait, link);
        if (w->events)
            cio__wake(w->w.task, -EBADF);
        else /* woken for the old file, not resumed yet: that event is stale too */
            w->w.status = -EBADF;
    }
}

int cio_close(int fd)
{
    cio_fd_forget(NULL, fd);
    return close(fd) < 0 ? -errno : 0;
}

/* ---- life cycle --------------------------------------------------------- */

cio_loop *cio_loop_new(void) { return cio_loop_new_ex(NULL); }

cio_loop *cio_loop_new_ex(const cio_loop_opts *opts)
{
    /* An explicit name must be known; the environment's falls back to
     * epoll, as it always did. */
    const cio__backend *chosen = cio__backend_default();
    if (opts && opts->backend) {
        if (!(chosen = cio__backend_named(opts->backend))) {
            errno = EINVAL;
            return NULL;
        }
    } else {
        const char *env = getenv("CIO_BACKEND");
        const cio__backend *b = env && *env ? cio__backend_named(env) : NULL;
        if (b)
            chosen = b;
    }
    cio_loop *l = calloc(1, sizeof *l);
    if (!l) {
        errno = ENOMEM;
        return NULL;
    }
    l->rtail = &l->rhead;
    cio__list_init(&l->all);
    l->next_task_id = 1;
    l->slow_duration = 0.1;
    l->wake_fd = -1;
    const char *vt = getenv("CIO_VIRTUAL_TIME");
    l->vtime = (opts && (opts->flags & CIO_LOOP_VIRTUAL_TIME)) || (vt && *vt && strcmp(vt, "0") != 0);
    l->vnow = cio__now_ns(); /* virtual time starts from the real clock */
    cio__wheel_init(&l->wheel, l->vnow);
    cio__stack_pool_init(&l->stacks, 0);
    pthread_mutex_init(&l->ts_lock, NULL);
    l->be = chosen;
    int rc = l->be->init(l);
    if (rc < 0 && l->be->fallback && !(opts && (opts->flags & CIO_LOOP_NO_FALLBACK))) {
        /* The kernel refused the back end (too old, disabled by sysctl or
         * a seccomp filter, an operation missing): its fallback does the
         * same job. */
        l->be = l->be->fallback;
        rc = l->be->init(l);
    }
    if (rc < 0)
        goto fail;
    l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->wake_fd < 0) {
        rc = -errno;
        goto fail_be;
    }
    rc = cio__add_internal_reader(l, l->wake_fd, cio__wake_fd_readable, l);
    if (rc < 0)
        goto fail_be;
    const char *spin_us = getenv("CIO_SPIN_US");
    l->spin_ns = spin_us && *spin_us ? cio__secs_to_ns(strtod(spin_us, NULL) * 1e-6) : CIO__SPIN_DEFAULT_NS;
    const char *dbg = getenv("CIO_DEBUG");
    if (dbg && *dbg && strcmp(dbg, "0") != 0)
        l->debug = true;
    return l;
fail_be:
    l->be->destroy(l);
fail:
    if (l->wake_fd >= 0)
        close(l->wake_fd);
    for (size_t i = 0; i < l->nfdchunks; i++)
        free(l->fdchunks[i]);
    free(l->fdchunks);
    cio__stack_pool_destroy(&l->stacks);
    pthread_mutex_destroy(&l->ts_lock);
    free(l);
    errno = -rc;
    return NULL;
}

bool cio_loop_is_running(const cio_loop *loop) { return loop->running; }
bool cio_loop_is_closed(const cio_loop *loop) { return loop->closed; }
const char *cio_loop_backend(const cio_loop *loop) { return loop->be->name; }
void cio_loop_set_debug(cio_loop *loop, bool on)
{
    /* A running loop installed (or not) its debug handlers (stack overflow,
     * SIGQUIT) when it started; keep that in step, so that run_end removes
     * exactly what was installed. */
    if (loop->running && on != loop->debug) {
        if (on)
            cio__debug_install(loop);
        else
            cio__debug_uninstall(loop);
    }
    loop->debug = on;
}
bool cio_loop_get_debug(const cio_loop *loop) { return loop->debug; }
void cio_loop_set_slow_duration(cio_loop *loop, double s) { loop->slow_duration = s; }
void cio_loop_set_stack_size(cio_loop *loop, size_t bytes) { loop->default_stack = bytes; }
void cio_loop_set_spin(cio_loop *loop, double seconds) { loop->spin_ns = cio__secs_to_ns(seconds); }

double cio_loop_time(const cio_loop *loop) { return (double)cio__loop_now_ns(loop) * 1e-9; }

double cio_time(void)
{
    cio_loop *l = cio__loop_get(NULL);
    return (double)(l ? cio__loop_now_ns(l) : cio__now_ns()) * 1e-9;
}

void cio_loop_stop(cio_loop *loop) { loop->stopping = true; }

/* Virtual time, with every task parked, nothing ready and the next timer
 * ns away: what has already arrived is handled first, at the current loop
 * time (a poll that does not block; a second one while completion operations
 * are in flight, whose completions may follow their submission); only if
 * nothing came does the clock jump, by ns, which the wheel keeps no later
 * than the earliest deadline, so a jump never passes a timer. */
static __attribute__((noinline)) void vtime_idle(cio_loop *l, uint64_t ns)
{
    int n = l->be->poll(l, 0);
    if (n == 0 && l->be_work && l->nready == 0)
        n = l->be->poll(l, 0);
    if (n == 0 && l->nready == 0 && !atomic_load_explicit(&l->ts_pending, memory_order_acquire) &&
        !(l->sig && cio__signals_pending(l)))
        l->vnow += ns;
}

/* Before the loop blocks, when the iteration before ran something: polls
 * without blocking for up to spin_ns (no longer than until the next timer,
 * ns when >= 0), as Go's scheduler spins before it parks its thread.  A
 * peer that answers within the spin costs no sleep and wake-up; on a
 * virtual machine a wake-up is an interrupt into a halted virtual CPU, tens
 * of microseconds.  Adaptive, so that a peer slower than the spin (a TLS
 * client doing its handshake's public-key work) does not cost a wasted
 * spin per wait: after two spins in a row that caught nothing, only every
 * 16th chance spins, until one catches something.  Whether something came. */
static __attribute__((noinline)) bool spin(cio_loop *l, int64_t ns)
{
    if (l->spin_miss >= 2 && (++l->spin_probe & 15) != 0)
        return false;
    uint64_t start = cio__now_ns(), limit = ns >= 0 && (uint64_t)ns < l->spin_ns ? (uint64_t)ns : l->spin_ns;
    do {
        if (l->be->poll(l, 0) > 0 || l->nready || atomic_load_explicit(&l->ts_pending, memory_order_acquire)) {
            l->spin_miss = 0;
            return true;
        }
    } while (cio__now_ns() - start < limit);
    if (l->spin_miss < 2)
        l->spin_miss++;
    return false;
}

/* One iteration; inline into run_forever (see the hot paths in
 * internal.h), and out of line as cio__loop_run_once for everyone else. */
static inline __attribute__((always_inline)) void run_once(cio_loop *l)
{
    if (l->nready == 0 && !l->stopping) {
        int64_t ns = cio__wheel_count(&l->wheel) ? cio__wheel_timeout(&l->wheel, cio__loop_now_ns(l)) : -1;
        if (CIO__UNLIKELY(l->vtime) && ns > 0) {
            vtime_idle(l, (uint64_t)ns);
        } else if (!(l->worked && ns != 0 && l->spin_ns && spin(l, ns))) {
            int64_t ms = ns < 0 ? -1 : (ns + 999999) / 1000000;
            l->be->poll(l, ms > 24 * 3600 * 1000 ? 24 * 3600 * 1000 : (int)ms);
        }
    } else if ((l->nwatched > l->ninternal && ((++l->iter & 31) == 0 || l->stopping)) ||
               (CIO__UNLIKELY(l->sig != NULL) && cio__signals_pending(l)) || l->be_work) {
        l->be->poll(l, 0);
    }
    if (atomic_load_explicit(&l->ts_pending, memory_order_acquire))
        cio__ts_drain(l);
    if (cio__wheel_count(&l->wheel))
        cio__wheel_expire(&l->wheel, cio__loop_now_ns(l));

    size_t n = l->nready;
    l->worked = n != 0;
    while (n-- && l->rhead) {
        cio__rnode *rn = ready_pop(l);
        if (CIO__LIKELY(rn->kind == CIO__RN_TASK))
            cio__switch_to_task(l, CIO__CONTAINER_OF(rn, cio__task, rn));
        else
            run_handle(l, CIO__CONTAINER_OF(rn, cio_handle, rn));
    }
}

void cio__loop_run_once(cio_loop *l) { run_once(l); }

int cio__loop_run_begin(cio_loop *l)
{
    if (l->closed)
        return CIO_ELOOPCLOSED;
    if (l->running || cio__tls_running)
        return CIO_ERUNNING;
    l->running = true;
    l->stopping = false;
    cio__tls_running = l;
    cio__altstack_hold();
    if (l->debug)
        cio__debug_install(l);
    return 0;
}

void cio__loop_run_end(cio_loop *l)
{
    if (l->debug)
        cio__debug_uninstall(l);
    cio__altstack_drop();
    l->running = false;
    l->stopping = false;
    cio__tls_running = NULL;
}

int cio_loop_run_forever(cio_loop *loop)
{
    int rc = cio__loop_run_begin(loop);
    if (rc)
        return rc;
    while (!loop->stopping)
        run_once(loop);
    cio__loop_run_end(loop);
    return 0;
}

typedef struct rudone {
    cio__fcb cb;
    cio_loop *l;
} rudone;

static void stop_cb(void *arg) { cio_loop_stop(arg); }

int cio_loop_stop_threadsafe(cio_loop *loop) { return cio_call_soon_threadsafe(loop, stop_cb, loop); }

/* As asyncio's _run_until_complete_cb, a done callback: the loop stops one
 * iteration later, after what was ready when f completed has run (a task
 * that f's task spawned just before finishing gets its first step). */
static void rudone_fn(cio__fcb *cb, cio_future *f)
{
    (void)f;
    cio_loop *l = ((rudone *)cb)->l;
    if (cio_call_soon(l, stop_cb, l, NULL) < 0)
        cio_loop_stop(l);
}

int cio_loop_run_until_complete(cio_loop *loop, cio_future *f, void **result)
{
    if (result)
        *result = NULL;
    if (!cio_done(f)) {
        rudone d = {.l = loop};
        cio__fcb_add(f, &d.cb, rudone_fn);
        int rc = cio_loop_run_forever(loop);
        cio__fcb_remove(&d.cb);
        if (rc)
            return rc;
        if (!cio_done(f))
            return CIO_EINVALSTATE;
    }
    return cio_result(f, result);
}

void cio__loop_add_shutdown_hook(cio_loop *l, void (*fn)(cio_loop *, void *), void *arg)
{
    cio__shutdown_hook *h = malloc(sizeof *h);
    if (!h) {
        fn(l, arg); /* cannot defer it: run it now */
        return;
    }
    h->fn = fn;
    h->arg = arg;
    h->next = l->shutdown_hooks;
    l->shutdown_hooks = h;
}

void *cio__loop_hook_arg(const cio_loop *l, void (*fn)(cio_loop *, void *))
{
    for (const cio__shutdown_hook *h = l->shutdown_hooks; h; h = h->next)
        if (h->fn == fn)
            return h->arg;
    return NULL;
}

static void run_shutdown_hooks(cio_loop *l)
{
    cio__shutdown_hook *h;
    while ((h = l->shutdown_hooks)) {
        l->shutdown_hooks = h->next;
        h->fn(l, h->arg);
        free(h);
    }
}

int cio_loop_close(cio_loop *l)
{
    if (!l)
        return CIO_ENOLOOP;
    if (l->running)
        return CIO_ERUNNING;
    if (l->closed)
        return 0;
    run_shutdown_hooks(l);
    /* Handles still scheduled never run. */
    while (l->rhead) {
        cio__rnode *rn = ready_pop(l);
        if (rn->kind == CIO__RN_HANDLE)
            cio__handle_unref(CIO__CONTAINER_OF(rn, cio_handle, rn));
    }
    /* Callbacks whose timer is still armed never run: give back the
     * reference each armed timer holds (the other armed timers live in
     * abandoned tasks' stacks or in combinators and need nothing). */
    for (size_t i = 0; i < CIO__WHEEL_NLISTS; i++) {
        cio__timer *tm = l->wheel.lists[i], *next;
        for (; tm; tm = next) {
            next = tm->next;
            if (tm->fire == handle_timer_fire) {
                cio_handle *th = CIO__CONTAINER_OF(tm, cio_handle, timer);
                th->loop = NULL; /* the caller may still hold it */
                cio__handle_unref(th);
            }
        }
    }
    /* Abandon pending tasks: their stacks go back; records stay valid for
     * whoever still holds a reference, detached from the loop. */
    cio__loop_abandon(l);
    cio__signals_close(l);
    cio__ts_close(l);
    cio_fd_forget(l, l->wake_fd);
    close(l->wake_fd);
    l->be->destroy(l);
    for (size_t i = 0; i < l->nfdchunks; i++)
        free(l->fdchunks[i]);
    free(l->fdchunks);
    while (l->free_tasks) {
        cio__task *t = l->free_tasks;
        l->free_tasks = (cio__task *)t->rn.next;
        free(t);
    }
    while (l->free_handles) {
        cio_handle *fh = l->free_handles;
        l->free_handles = fh->ts_next;
        free(fh);
    }
    cio__stack_pool_destroy(&l->stacks);
    if (cio__tls_loop == l)
        cio__tls_loop = NULL;
    pthread_mutex_destroy(&l->ts_lock);
    free(l);
    return 0;
}
