/* SPDX-License-Identifier: MIT */
/* Streams: asyncio's StreamReader and StreamWriter over a transport (plain
 * fd or TLS): the transport, the writer and the life cycle here, the
 * reader's buffer and its calls in reader.c.
 *
 * Reading happens in the calling task: read first, wait for readiness only
 * on "want read".  Writing never waits in write(): bytes go straight to the
 * transport when nothing is buffered, the rest is buffered and flushed in
 * the background by a writer callback on the loop; drain() parks above the
 * high-water mark until the buffer is at the low-water mark, and the opt-in
 * write_blocks mode makes write() itself do that, so a peer that never reads
 * cannot make the writer's memory grow past the high-water mark.
 *
 * A TLS stream coalesces (net.h, coalesce.c): its writes wait in the buffer
 * even when nothing is queued, so that the small writes a task makes before
 * it next suspends become one record and one send instead of one each; full
 * records go at once.  Plain streams send at once, as asyncio's
 * transport.write does: there a write costs a send but no record header or
 * cipher call, and the kernel coalesces segments itself.
 *
 * On a back end with completions (plain sockets, when it runs RECV and
 * SEND operations; see cio__op) the same logic runs on completions instead
 * of readiness: a read is a RECV operation the reading task parks on, and
 * the write buffer is sent by one SEND at a time, put in flight by write()
 * and followed up by its completion callback.  No recv/send system call is
 * made by the stream: every operation rides in the loop's one submission
 * per iteration.
 * While a SEND is in flight the kernel reads from wbuf + wstart:
 * that region is never moved (a buffer that must grow is copied and the old
 * one kept until the completion), and the stream's memory is pinned (busy)
 * until the completion has run.
 *
 * A stream may be closed or aborted by one task while another is parked in
 * a call on it: the fd is closed at once (the parked call returns -EBADF;
 * on completions cio_fd_forget cancels the operations in the kernel first)
 * and the memory is freed when the last call inside the stream returns. */
#include "net/net.h"
#include "sync/sync.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_HIGH (64 * 1024)
#define DEFAULT_LOW (16 * 1024)

/* ---- the plain transport ------------------------------------------------ */

static ssize_t plain_recv(cio_stream *s, void *buf, size_t n)
{
    for (;;) {
        ssize_t r = s->is_sock ? recv(s->fd, buf, n, 0) : read(s->fd, buf, n);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? CIO__WANT_READ : -errno;
    }
}

static ssize_t plain_send(cio_stream *s, const void *buf, size_t n)
{
    for (;;) {
        ssize_t w = s->is_sock ? send(s->fd, buf, n, MSG_NOSIGNAL) : cio__write_nosigpipe(s->fd, buf, n);
        if (w >= 0)
            return w;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? CIO__WANT_WRITE : -errno;
    }
}

static int plain_shutdown(cio_stream *s)
{
    if (!s->is_sock)
        return 0; /* a pipe is half-closed by closing it */
    return shutdown(s->fd, SHUT_WR) < 0 ? -errno : 0;
}

static void plain_free(cio_stream *s) { (void)s; }

const cio__transport cio__plain_transport = {"plain", plain_recv, plain_send, plain_shutdown, plain_free};

/* ---- life cycle --------------------------------------------------------- */

cio_stream *cio__stream_alloc(size_t limit)
{
    cio_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->loop = cio_loop_current();
    s->limit = limit;
    cio__list_init(&s->drainers);
    cio__list_init(&s->feedwait);
    cio__list_init(&s->deferred);
    return s;
}

int cio__stream_new(int fd, int is_sock, const cio_stream_opts *opts, cio_stream **out)
{
    *out = NULL;
    cio_stream *s = cio__stream_alloc(opts && opts->limit ? opts->limit : CIO_STREAM_LIMIT);
    if (!s) {
        cio_close(fd);
        return -ENOMEM;
    }
    s->fd = fd;
    s->tp = &cio__plain_transport;
    if (is_sock < 0) {
        int type;
        socklen_t tl = sizeof type;
        is_sock = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0;
    }
    s->is_sock = is_sock;
    s->high = opts && opts->high_water ? opts->high_water : DEFAULT_HIGH;
    s->low = opts && opts->low_water ? opts->low_water : DEFAULT_LOW;
    if (s->low > s->high)
        s->low = s->high;
    s->write_blocks = opts && opts->write_blocks;
    s->ring = s->is_sock && cio__op_supported(s->loop, CIO__OP_RECV) && cio__op_supported(s->loop, CIO__OP_SEND);
    *out = s;
    return 0;
}

void cio__stream_unpin(cio_stream *s)
{
    if (--s->busy == 0 && s->state == CIO__SS_ZOMBIE)
        cio__stream_destroy(s);
}

void cio__stream_destroy(cio_stream *s)
{
    cio__stream_undefer(s); /* the pass must not see it again */
    if (s->tp && s->tp->free)
        s->tp->free(s);
    free(s->rbuf);
    free(s->rbuf_held);
    free(s->wbuf);
    free(s->wbuf_held);
    free(s->tls_alpn);
    free(s);
}

int cio_stream_from_fd(int fd, const cio_stream_opts *opts, bool server_side, cio_stream **out)
{
    *out = NULL;
    if (fd < 0)
        return -EBADF;
    cio_stream *s;
    int rc = cio__stream_new(fd, -1, opts, &s);
    if (rc < 0)
        return rc;
    if (opts && opts->tls) {
        rc = cio__tls_start(s, opts->tls, server_side, NULL);
        if (rc < 0) {
            cio_stream_abort(s);
            return rc;
        }
    }
    *out = s;
    return 0;
}

static void wake_drainers(cio_stream *s)
{
    while (cio__swait_wake_first(&s->drainers, 0)) {
    }
}

static void flush_disarm(cio_stream *s)
{
    if (s->flushing) {
        s->flushing = false;
        if (!cio__stream_fd_closed(s)) {
            cio_remove_writer(s->loop, s->fd);
            cio_remove_reader(s->loop, s->fd);
        }
    }
}

void cio__stream_close_fd(cio_stream *s, bool rst)
{
    if (cio__stream_fd_closed(s))
        return;
    flush_disarm(s);
    if (rst && s->is_sock) {
        struct linger lg = {1, 0};
        setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    if (s->fd >= 0) {
        cio_fd_forget(s->loop, s->fd); /* wakes parked readers/writers with -EBADF */
        close(s->fd);
    }
    s->state = CIO__SS_FD_CLOSED;
    cio__swait_wake_first(&s->feedwait, -EBADF); /* a standalone reader's */
    if (!s->err)
        s->err = -EPIPE;
    wake_drainers(s);
}

/* ---- reading ------------------------------------------------------------ */

static bool on_ring(const cio_stream *s) { return s->ring && s->tp == &cio__plain_transport; }
static void flush_coalesced(cio_stream *s);

static int set_err(cio_stream *s, int err)
{
    if (!s->err)
        s->err = err;
    return err;
}

/* Waits as the transport asked, bounded by deadline (< 0: none). */
static int wait_want(cio_stream *s, ssize_t want, double deadline)
{
    if (cio__stream_fd_closed(s))
        return -EBADF;
    int ev = want == CIO__WANT_READ ? CIO_READABLE : CIO_WRITABLE;
    if (deadline < 0)
        return cio_wait_fd(s->fd, ev);
    cio_timeout scope;
    int rc = cio_timeout_enter_at(&scope, deadline);
    if (rc < 0)
        return rc;
    rc = cio_wait_fd(s->fd, ev);
    return cio_timeout_exit(&scope, rc < 0 ? rc : 0);
}

/* One RECV, the task parked on it.  Kernel errors are the connection's;
 * -ECANCELED (the task was cancelled) and -EBADF (closed meanwhile) are
 * not. */
static ssize_t ring_recv(cio_stream *s, void *buf, size_t n)
{
    for (;;) {
        cio__op op = {.kind = CIO__OP_RECV, .fd = s->fd, .buf = buf, .len = n};
        if (s->drained) /* the last one came back short: skip the attempt that would fail */
            op.oflags = CIO__OPF_POLL_FIRST;
        int rc = cio__op_run(&op);
        s->drained = rc > 0 && (size_t)rc < n;
        if (cio__stream_fd_closed(s))
            return -EBADF;
        if (rc == -EINTR)
            continue;
        if (rc < 0 && rc != -ECANCELED && rc != -EBADF)
            set_err(s, rc);
        return rc;
    }
}

/* A plain socket that returned less than was asked for has been emptied:
 * another recv now would almost surely be an EAGAIN, a wasted system call.
 * The next read waits for readiness first (level-triggered epoll, or the
 * completion back end's poll, reports at once if data did arrive
 * meanwhile), which takes a request/response exchange from 3 system calls
 * to 2, as nginx does.
 * TLS keeps its own buffers: tls_recv sets drained itself, when the socket
 * came back short and OpenSSL holds nothing more. */
static ssize_t transport_recv(cio_stream *s, void *buf, size_t n, double deadline)
{
    if (s->drained) { /* set below for plain sockets, by tls_recv for TLS */
        s->drained = false;
        int rc = wait_want(s, CIO__WANT_READ, deadline);
        if (rc < 0)
            return rc;
    }
    for (;;) {
        if (cio__stream_fd_closed(s))
            return -EBADF;
        ssize_t r = s->tp->recv(s, buf, n);
        if (r > 0) {
            if (s->tp == &cio__plain_transport)
                s->drained = (size_t)r < n && s->is_sock;
            return r;
        }
        if (r == 0)
            return 0;
        if (r != CIO__WANT_READ && r != CIO__WANT_WRITE)
            return set_err(s, (int)r);
        int rc = wait_want(s, r, deadline);
        if (rc < 0)
            return rc;
    }
}

ssize_t cio__stream_recv(cio_stream *s, void *buf, size_t n, double deadline)
{
    if (cio__stream_fd_closed(s))
        return -EBADF;
    if (s->reading)
        return -EBUSY; /* another task is reading: one reader at a time */
    /* the request goes before we wait for its answer (and before a recv
     * that would only find EAGAIN) */
    flush_coalesced(s);
    s->reading = true;
    ssize_t r;
    if (!on_ring(s)) {
        r = transport_recv(s, buf, n, deadline);
    } else if (deadline < 0) {
        r = ring_recv(s, buf, n);
    } else {
        cio_timeout scope;
        int rc = cio_timeout_enter_at(&scope, deadline);
        r = rc < 0 ? rc : ring_recv(s, buf, n);
        if (rc == 0) {
            rc = cio_timeout_exit(&scope, r < 0 ? (int)r : 0);
            if (rc < 0)
                r = rc;
        }
    }
    s->reading = false;
    if (r == 0)
        s->eof = true;
    return r;
}

/* ---- zero-copy reading (cio__stream_fill_more) ------------------------- */

#define FILL_MIN_CAP (16 * 1024)

int cio__stream_reserve(cio_stream *s, size_t cap)
{
    if (s->rcap >= cap)
        return 0;
    char *nb = realloc(s->rbuf, cap);
    if (!nb)
        return -ENOMEM;
    s->rbuf = nb;
    s->rcap = cap;
    return 0;
}

static ssize_t fill_more(cio_stream *s, size_t max_cap, double deadline)
{
    if (s->rend == s->rcap) {
        if (s->rcap >= max_cap)
            return -ENOBUFS;
        size_t cap = s->rcap ? s->rcap * 2 : FILL_MIN_CAP;
        if (cap > max_cap)
            cap = max_cap;
        int rc = cio__stream_reserve(s, cap);
        if (rc < 0)
            return rc;
    }
    ssize_t r = cio__stream_recv(s, s->rbuf + s->rend, s->rcap - s->rend, deadline);
    if (r > 0)
        s->rend += (size_t)r;
    return r;
}

ssize_t cio__stream_fill_more(cio_stream *s, size_t max_cap, double deadline)
{
    if (s->eof)
        return 0;
    cio__stream_pin(s); /* like every suspending stream call */
    ssize_t r = fill_more(s, max_cap, deadline);
    cio__stream_unpin(s);
    return r;
}

/* ---- writing ------------------------------------------------------------ */

size_t cio_stream_write_buffer_size(const cio_stream *s) { return s->wend - s->wstart; }

static void on_flushable(void *arg);

static void flush_arm(cio_stream *s, ssize_t want)
{
    if (cio__stream_fd_closed(s))
        return;
    if (want == CIO__WANT_READ)
        cio_add_reader(s->loop, s->fd, on_flushable, s);
    else
        cio_add_writer(s->loop, s->fd, on_flushable, s);
    s->flushing = true;
}

/* Sends what is buffered until the transport pushes back.  Returns 0, a
 * want code, or an error. */
static ssize_t flush_some(cio_stream *s)
{
    while (s->wstart < s->wend) {
        ssize_t w = s->tp->send(s, s->wbuf + s->wstart, s->wend - s->wstart);
        if (w > 0) {
            s->wstart += (size_t)w;
            continue;
        }
        if (w == 0)
            w = CIO__WANT_WRITE;
        if (w == CIO__WANT_READ || w == CIO__WANT_WRITE)
            return w;
        set_err(s, (int)w);
        s->wstart = s->wend = 0; /* the connection is gone: drop what was queued */
        return w;
    }
    s->wstart = s->wend = 0;
    return 0;
}

static void after_flush(cio_stream *s)
{
    if (s->paused && (cio_stream_write_buffer_size(s) <= s->low || s->err)) {
        s->paused = false;
        wake_drainers(s);
    }
}

static void on_flushable(void *arg)
{
    cio_stream *s = arg;
    ssize_t r = flush_some(s);
    if (r == CIO__WANT_READ || r == CIO__WANT_WRITE) {
        /* stay armed; switch direction if the transport asks for the other */
        flush_disarm(s);
        flush_arm(s, r);
    } else {
        flush_disarm(s);
    }
    after_flush(s);
}

static bool coalesces(const cio_stream *s) { return s->tls != NULL; }

/* Sends a TLS stream's coalesced bytes now, as the readiness flush would
 * (which takes over if the socket pushes back); errors stay in s->err for
 * the next call.  No-op for other streams. */
static void flush_coalesced(cio_stream *s)
{
    if (!coalesces(s))
        return;
    cio__stream_undefer(s);
    if (s->wstart < s->wend && !s->flushing && !s->err && !cio__stream_fd_closed(s))
        on_flushable(s);
}

void cio__stream_flush_deferred(cio_stream *s) { flush_coalesced(s); }

/* After a write to a TLS stream (write_records sent the full records):
 * the rest waits for the task to read, drain or close, or for the loop's
 * pass; without memory for the pass it goes now.  0 or the send's error. */
static int write_coalesced(cio_stream *s)
{
    if (s->flushing || s->wstart == s->wend || cio__stream_defer(s))
        return 0; /* the readiness flush, if armed, sends it all */
    on_flushable(s);
    return s->err;
}

static void on_sent(cio__op *op);

/* Puts the buffered bytes in flight as one SEND, unless one is (or the
 * readiness flush has taken over).  Without room for it the readiness
 * flush takes over. */
static void ring_kick(cio_stream *s)
{
    if (s->sending || s->flushing || s->wstart == s->wend || cio__stream_fd_closed(s) || s->err)
        return;
    s->sop = (cio__op){.kind = CIO__OP_SEND, .fd = s->fd, .buf = s->wbuf + s->wstart, .len = s->wend - s->wstart, .flags = MSG_NOSIGNAL};
    if (cio__op_start(s->loop, &s->sop, on_sent) < 0) {
        flush_arm(s, CIO__WANT_WRITE);
        return;
    }
    s->sending = true;
    cio__stream_pin(s); /* the memory stays until on_sent */
}

static void on_sent(cio__op *op)
{
    cio_stream *s = CIO__CONTAINER_OF(op, cio_stream, sop);
    s->sending = false;
    free(s->wbuf_held);
    s->wbuf_held = NULL;
    if (op->res > 0) {
        s->wstart += (size_t)op->res;
        if (s->wstart == s->wend)
            s->wstart = s->wend = 0;
        ring_kick(s);
    } else {
        /* closed meanwhile (the cancellation), or the connection is gone */
        set_err(s, op->res == 0 || op->res == -ECANCELED ? -EPIPE : op->res);
        s->wstart = s->wend = 0;
    }
    after_flush(s);
    if (!s->sending)
        wake_drainers(s); /* flush_all waits for this */
    cio__stream_unpin(s);
}

static bool drain_cancel(cio__wait *w)
{
    cio__swait *sw = CIO__CONTAINER_OF(w, cio__swait, w);
    cio__list_remove(&sw->link);
    cio__wake(w->task, -ECANCELED);
    return true;
}

static bool paused(const cio_stream *s) { return s->paused; }
static bool sending(const cio_stream *s) { return s->sending; }

/* Parks while pending(s) holds (woken by the flush), unless the stream
 * breaks. */
static int wait_while(cio_stream *s, bool (*pending)(const cio_stream *))
{
    while (pending(s) && !s->err) {
        cio__task *t;
        int rc = cio__enter(&t);
        if (rc)
            return rc;
        cio__swait sw = {0};
        sw.w.what = "stream drain";
        sw.w.cancel = drain_cancel;
        sw.w.droppable = true;
        cio__list_push_back(&s->drainers, &sw.link);
        rc = cio__park(&sw.w);
        if (rc)
            return rc;
    }
    return s->err;
}

/* Parks until the writer is below the low-water mark (or broken). */
static int wait_drained(cio_stream *s) { return wait_while(s, paused); }

static int append(cio_stream *s, const void *buf, size_t n)
{
    if (n == 0)
        return 0; /* wbuf may still be NULL */
    if (s->wcap - s->wend < n) {
        size_t used = s->wend - s->wstart;
        if (s->wstart && s->wcap - used >= n && !s->sending) {
            memmove(s->wbuf, s->wbuf + s->wstart, used);
        } else {
            size_t cap = s->wcap ? s->wcap : 16 * 1024;
            while (cap - used < n)
                cap *= 2;
            char *nb = malloc(cap);
            if (!nb)
                return -ENOMEM;
            if (used) /* wbuf may still be NULL */
                memcpy(nb, s->wbuf + s->wstart, used);
            if (s->sending && !s->wbuf_held)
                s->wbuf_held = s->wbuf; /* the kernel reads from it until on_sent */
            else
                free(s->wbuf);
            s->wbuf = nb;
            s->wcap = cap;
        }
        s->wstart = 0;
        s->wend = used;
    }
    memcpy(s->wbuf + s->wend, buf, n);
    s->wend += n;
    return 0;
}

/* Nothing queued: n bytes straight to the transport from the caller's
 * memory; what it does not take is queued for the readiness flush. */
static int send_direct(cio_stream *s, const char *p, size_t n)
{
    while (n) {
        ssize_t w = s->tp->send(s, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w == CIO__WANT_READ || w == CIO__WANT_WRITE || w == 0) {
            int rc = append(s, p, n);
            if (rc < 0)
                return rc;
            flush_arm(s, w == 0 ? CIO__WANT_WRITE : w);
            return 0;
        }
        return set_err(s, (int)w);
    }
    return 0;
}

/* A TLS stream's write: the record being coalesced goes once it is full,
 * then the full records of buf straight from it; the rest waits in the
 * buffer (less than a record: see write_coalesced). */
static int write_records(cio_stream *s, const char *p, size_t n)
{
    size_t pending = s->wend - s->wstart;
    if (pending && pending < CIO__TLS_RECORD && pending + n >= CIO__TLS_RECORD) {
        size_t k = CIO__TLS_RECORD - pending;
        int rc = append(s, p, k);
        if (rc < 0)
            return rc;
        p += k;
        n -= k;
        ssize_t r = flush_some(s);
        if (r == CIO__WANT_READ || r == CIO__WANT_WRITE)
            flush_arm(s, r);
        else if (r < 0)
            return (int)r;
    }
    size_t full = n - n % CIO__TLS_RECORD;
    if (full && s->wstart == s->wend && !s->flushing) {
        int rc = send_direct(s, p, full);
        if (rc < 0 || s->flushing) /* pushed back: the rest queues behind */
            return rc < 0 ? rc : append(s, p + full, n - full);
        p += full;
        n -= full;
    }
    return append(s, p, n);
}

static int write_one(cio_stream *s, const char *p, size_t n)
{
    if (s->flushing || on_ring(s))
        return append(s, p, n);
    if (coalesces(s))
        return write_records(s, p, n);
    return s->wstart == s->wend ? send_direct(s, p, n) : append(s, p, n);
}

static int impl_writev(cio_stream *s, const struct iovec *iov, int iovcnt)
{
    if (s->feed)
        return -EBADF; /* a standalone reader has nothing to write to */
    if (s->err)
        return s->err;
    if (cio__stream_closing(s))
        return -EPIPE;
    if (s->eof_sent)
        return -EINVAL;
    for (int i = 0; i < iovcnt; i++) {
        int rc = write_one(s, iov[i].iov_base, iov[i].iov_len);
        if (rc < 0)
            return rc;
    }
    if (on_ring(s)) {
        ring_kick(s);
    } else if (coalesces(s)) {
        int rc = write_coalesced(s);
        if (rc < 0)
            return rc;
    }
    if (cio_stream_write_buffer_size(s) > s->high)
        s->paused = true;
    if (s->write_blocks && s->paused)
        return wait_drained(s);
    return 0;
}

/* Sends everything buffered, in the calling task. */
static int flush_all(cio_stream *s)
{
    if (on_ring(s) && !s->flushing) {
        ring_kick(s);
        int rc = wait_while(s, sending);
        if (rc < 0 || s->wstart == s->wend)
            return rc;
        /* the readiness flush took over (no room for the operation) */
    }
    for (;;) {
        if (s->err)
            return s->err;
        ssize_t r = flush_some(s);
        after_flush(s);
        if (r == 0) {
            flush_disarm(s);
            return 0;
        }
        if (r != CIO__WANT_READ && r != CIO__WANT_WRITE)
            return (int)r;
        int rc = wait_want(s, r, -1);
        if (rc < 0)
            return rc;
    }
}

static int impl_write_eof(cio_stream *s)
{
    if (s->feed)
        return -EBADF;
    if (s->eof_sent)
        return 0;
    if (cio__stream_fd_closed(s))
        return -EPIPE;
    int rc = flush_all(s);
    if (rc < 0)
        return rc;
    for (;;) {
        int r = s->tp->shutdown(s);
        if (r == 0)
            break;
        if (r != CIO__WANT_READ && r != CIO__WANT_WRITE)
            return set_err(s, r);
        if ((rc = wait_want(s, r, -1)) < 0)
            return rc;
    }
    s->eof_sent = true;
    return 0;
}

bool cio_stream_can_write_eof(const cio_stream *s) { return s->is_sock || s->tls; }

/* Closes the fd; the memory goes when no call is inside the stream any
 * more (server-owned streams: when the connection task is done). */
static void finish_close(cio_stream *s, bool rst)
{
    cio__stream_close_fd(s, rst);
    if (!s->server_owned)
        s->state = CIO__SS_ZOMBIE;
}

static int impl_close(cio_stream *s)
{
    if (cio__stream_closing(s))
        return 0;
    s->state = CIO__SS_CLOSING;
    int rc = 0;
    if (!cio__stream_fd_closed(s) && !s->err) {
        rc = flush_all(s);
        if (rc == 0 && s->tls && !s->eof_sent) {
            /* a clean TLS shutdown: our close_notify, best effort */
            int r = s->tp->shutdown(s);
            (void)r;
        }
    }
    finish_close(s, rc == -ECANCELED);
    return rc == -EPIPE ? 0 : rc;
}

void cio_stream_abort(cio_stream *s)
{
    if (s->state < CIO__SS_CLOSING)
        s->state = CIO__SS_CLOSING;
    s->wstart = s->wend = 0;
    finish_close(s, true);
    if (s->busy == 0 && !s->server_owned) /* server-owned: the connection task frees it */
        cio__stream_destroy(s);
}

/* ---- public entry points ------------------------------------------------ */

static int impl_start_tls(cio_stream *s, const cio_tls_opts *tls, bool server_side);

/* Each pins s around its work (see cio__stream_pin). */
int cio_stream_writev(cio_stream *s, const struct iovec *iov, int iovcnt)
{
    cio__stream_pin(s);
    int rc = impl_writev(s, iov, iovcnt);
    cio__stream_unpin(s);
    return rc;
}

int cio_stream_write(cio_stream *s, const void *buf, size_t n)
{
    struct iovec iov = {(void *)buf, n};
    return cio_stream_writev(s, &iov, 1);
}

int cio_stream_drain(cio_stream *s)
{
    cio__stream_pin(s);
    flush_coalesced(s); /* a drain ends a batch of writes */
    int rc = s->err ? s->err : wait_drained(s);
    cio__stream_unpin(s);
    return rc;
}

int cio_stream_write_eof(cio_stream *s)
{
    cio__stream_pin(s);
    int rc = impl_write_eof(s);
    cio__stream_unpin(s);
    return rc;
}

int cio_stream_close(cio_stream *s)
{
    cio__stream_pin(s);
    int rc = impl_close(s);
    cio__stream_unpin(s);
    return rc;
}

int cio_stream_start_tls(cio_stream *s, const cio_tls_opts *tls, bool server_side)
{
    cio__stream_pin(s);
    int rc = impl_start_tls(s, tls, server_side);
    cio__stream_unpin(s);
    return rc;
}

bool cio_stream_is_closing(const cio_stream *s) { return cio__stream_closing(s); }

/* ---- extra info --------------------------------------------------------- */

int cio_stream_fd(const cio_stream *s) { return cio__stream_fd_closed(s) ? -1 : s->fd; }

int cio_stream_peername(const cio_stream *s, struct sockaddr_storage *addr, socklen_t *len)
{
    if (cio__stream_fd_closed(s))
        return -EBADF; /* the number may belong to someone else by now */
    *len = sizeof *addr;
    return getpeername(s->fd, (struct sockaddr *)addr, len) < 0 ? -errno : 0;
}

int cio_stream_sockname(const cio_stream *s, struct sockaddr_storage *addr, socklen_t *len)
{
    if (cio__stream_fd_closed(s))
        return -EBADF;
    *len = sizeof *addr;
    return getsockname(s->fd, (struct sockaddr *)addr, len) < 0 ? -errno : 0;
}

/* ---- connecting --------------------------------------------------------- */

int cio_open_connection(const char *host, const char *port, const cio_stream_opts *opts, cio_stream **out)
{
    *out = NULL;
    cio_timeout scope;
    double ct = opts && opts->connect_timeout > 0 ? opts->connect_timeout : CIO_NO_TIMEOUT;
    int rc = cio_timeout_enter(&scope, ct);
    if (rc < 0)
        return rc;
    int fd = cio_connect_tcp(host, port, -1, opts && opts->happy_eyeballs);
    cio_stream *s = NULL;
    if (fd >= 0) {
        rc = cio__stream_new(fd, 1, opts, &s);
        if (rc == 0 && opts && opts->tls) {
            rc = cio__tls_start(s, opts->tls, false, host);
            if (rc < 0) {
                cio_stream_abort(s);
                s = NULL;
            }
        }
    } else {
        rc = fd;
    }
    rc = cio_timeout_exit(&scope, rc);
    if (rc < 0) {
        if (s)
            cio_stream_abort(s);
        return rc;
    }
    *out = s;
    return 0;
}

int cio_open_unix_connection(const char *path, const cio_stream_opts *opts, cio_stream **out)
{
    *out = NULL;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t pl = strlen(path);
    if (pl >= sizeof sun.sun_path)
        return -ENAMETOOLONG;
    memcpy(sun.sun_path, path, pl + 1);
    int fd = cio_socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return fd;
    int rc = cio_sock_connect(fd, (struct sockaddr *)&sun, sizeof sun);
    if (rc < 0) {
        cio_close(fd);
        return rc;
    }
    cio_stream *s;
    if ((rc = cio__stream_new(fd, 1, opts, &s)) < 0)
        return rc;
    if (opts && opts->tls && (rc = cio__tls_start(s, opts->tls, false, NULL)) < 0) {
        cio_stream_abort(s);
        return rc;
    }
    *out = s;
    return 0;
}

static int impl_start_tls(cio_stream *s, const cio_tls_opts *tls, bool server_side)
{
    if (s->tls)
        return CIO_EINVALSTATE;
    if (s->feed)
        return -EBADF;
    if (!tls)
        return -EINVAL;
    int rc = flush_all(s);
    if (rc < 0)
        return rc;
    return cio__tls_start(s, tls, server_side, NULL);
}
