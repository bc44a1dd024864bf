/* Zero-copy reading for the HTTP server: appends to a stream's read buffer
 * without compacting it (see http.h). */
#include "http/http.h"

#include <stdlib.h>
#include <string.h>

#define MIN_CAP (16 * 1024)

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

/* Waits for the transport's "want", bounded by deadline (< 0: none). */
static int wait_until(cio_stream *s, ssize_t want, double deadline)
{
    if (s->closed)
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

static ssize_t fill_more(cio_stream *s, size_t max_cap, double deadline, bool wait_first)
{
    if (s->rend == s->rcap) {
        if (s->rcap >= max_cap)
            return -ENOBUFS;
        size_t cap = s->rcap ? s->rcap * 2 : MIN_CAP;
        if (cap > max_cap)
            cap = max_cap;
        int rc = cio__stream_reserve(s, cap);
        if (rc < 0)
            return rc;
    }
    if (wait_first && s->tp == &cio__plain_transport) {
        int rc = wait_until(s, CIO__WANT_READ, deadline);
        if (rc < 0)
            return rc;
    }
    for (;;) {
        if (s->closed)
            return -EBADF;
        ssize_t r = s->tp->recv(s, s->rbuf + s->rend, s->rcap - s->rend);
        if (r > 0) {
            s->rend += (size_t)r;
            return r;
        }
        if (r == 0) {
            s->eof = true;
            return 0;
        }
        if (r != CIO__WANT_READ && r != CIO__WANT_WRITE) {
            if (!s->err)
                s->err = (int)r;
            return r;
        }
        int rc = wait_until(s, r, deadline);
        if (rc < 0)
            return rc;
    }
}

ssize_t cio__stream_fill_more(cio_stream *s, size_t max_cap, double deadline, bool wait_first)
{
    if (s->eof)
        return 0;
    /* pinned like every suspending stream call (see stream.c) */
    s->busy++;
    ssize_t r = fill_more(s, max_cap, deadline, wait_first);
    if (--s->busy == 0 && s->zombie)
        cio__stream_destroy(s);
    return r;
}
