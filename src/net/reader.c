/* SPDX-License-Identifier: MIT */
/* Streams, the reading half: asyncio's StreamReader over the stream's read
 * buffer rbuf[rstart, rend), filled from the transport (cio__stream_recv,
 * in the reading task) or, for a standalone reader (cio_stream_new_reader),
 * by cio_stream_feed_data.
 *
 * The rules are asyncio's: read returns what is buffered (waiting only while
 * nothing is), readexactly raises IncompleteReadError at EOF, readuntil
 * (3.13: several separators) returns the shortest chunk that ends with a
 * separator, and the limit bounds the bytes before the separator, measured
 * where it starts (LimitOverrunError.consumed); nothing is consumed on an
 * overrun, and readline then drops the line as asyncio does.
 *
 * Pointers handed out (readuntil / readline data, cio_stream_peek) point
 * into rbuf and stay valid until the next read call: the bytes before rstart
 * are overwritten only inside read calls (fill compacts), never by
 * feed_data, which moves the buffered bytes to a new buffer instead and
 * keeps the old one (rbuf_held) until the next read call, nor by at_eof,
 * which only writes past rend. */
#include "net/net.h"
#include "sync/sync.h"

#include <stdlib.h>
#include <string.h>

#define MIN_RBUF (16 * 1024)
#define DIRECT_READ (16 * 1024) /* reads this big bypass the buffer (sockets) */
#define PROBE (4 * 1024)        /* at_eof's first buffer for a transport it cannot peek at */

static size_t sat_add(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }

/* ---- filling -------------------------------------------------------------- */

/* Parks the reader of a standalone stream until it is fed.  Returns the
 * bytes added (> 0), 0 at EOF, or the error it was woken with
 * (cio_stream_set_error, -EBADF when closed, -ECANCELED). */
static ssize_t wait_fed(cio_stream *s)
{
    if (cio__stream_fd_closed(s))
        return -EBADF;
    if (s->eof)
        return 0; /* nothing more will come */
    size_t before = s->rend - s->rstart;
    cio__task *t;
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    cio__swait sw = {0};
    rc = cio__swait_park(&s->feedwait, &sw, "stream feed", true);
    if (rc < 0)
        return rc;
    return (ssize_t)(s->rend - s->rstart - before);
}

/* Reads once more into the buffer, which may grow up to maxcap bytes (or
 * stays as big as it is): > 0 bytes added, 0 at EOF, or an error. */
static ssize_t fill(cio_stream *s, size_t maxcap)
{
    if (s->feed)
        return wait_fed(s);
    if (s->rstart == s->rend)
        s->rstart = s->rend = 0;
    if (s->rend == s->rcap) {
        if (s->rstart > 0) {
            memmove(s->rbuf, s->rbuf + s->rstart, s->rend - s->rstart);
            s->rend -= s->rstart;
            s->rstart = 0;
        } else {
            if (maxcap < MIN_RBUF)
                maxcap = MIN_RBUF;
            if (s->rcap >= maxcap)
                return -ENOBUFS;
            size_t cap = s->rcap ? sat_add(s->rcap, s->rcap) : MIN_RBUF;
            if (cap > maxcap)
                cap = maxcap;
            char *nb = realloc(s->rbuf, cap);
            if (!nb)
                return -ENOMEM;
            s->rbuf = nb;
            s->rcap = cap;
        }
    }
    ssize_t r = cio__stream_recv(s, s->rbuf + s->rend, s->rcap - s->rend, -1);
    if (r > 0)
        s->rend += (size_t)r;
    return r;
}

/* Room for n more bytes after rend, for feed_data, which runs between read
 * calls: the bytes before rstart may be the chunk the last
 * read call returned, so they are never moved over; the buffered bytes go
 * to a new buffer and the old one is kept until the next read call (a
 * buffer replaced since then holds no such chunk and is freed). */
static int room_for(cio_stream *s, size_t n)
{
    if (s->rcap - s->rend >= n)
        return 0;
    size_t have = s->rend - s->rstart;
    if (have > SIZE_MAX / 4 || n > SIZE_MAX / 4)
        return -ENOMEM;
    size_t cap = 2 * (have + n); /* twice what is live: a steady feed/read does not grow it */
    if (cap < MIN_RBUF)
        cap = MIN_RBUF;
    char *nb = malloc(cap);
    if (!nb)
        return -ENOMEM;
    if (have)
        memcpy(nb, s->rbuf + s->rstart, have);
    if (s->rbuf_held)
        free(s->rbuf);
    else
        s->rbuf_held = s->rbuf;
    s->rbuf = nb;
    s->rcap = cap;
    s->rstart = 0;
    s->rend = have;
    return 0;
}

static size_t take(cio_stream *s, void *buf, size_t n)
{
    size_t have = s->rend - s->rstart;
    if (n > have)
        n = have;
    if (n == 0)
        return 0; /* rbuf may still be NULL: no memcpy from it */
    memcpy(buf, s->rbuf + s->rstart, n);
    s->rstart += n;
    return n;
}

/* The buffered bytes (a valid pointer also while rbuf is NULL). */
static const char *buffered(const cio_stream *s) { return s->rbuf ? s->rbuf + s->rstart : ""; }

/* Reads straight into the caller's buffer (large reads on sockets skip a
 * copy). */
static bool direct_ok(const cio_stream *s, size_t n) { return n >= DIRECT_READ && !s->feed; }

/* ---- the read calls ------------------------------------------------------- */

static ssize_t impl_read(cio_stream *s, void *buf, size_t n)
{
    if (n == 0)
        return 0;
    if (s->rend == s->rstart && !s->eof) {
        if (s->err && cio__stream_fd_closed(s))
            return s->err;
        if (direct_ok(s, n))
            return cio__stream_recv(s, buf, n, -1);
        ssize_t r = fill(s, MIN_RBUF);
        if (r < 0)
            return r;
    }
    return (ssize_t)take(s, buf, n);
}

static int impl_readexactly(cio_stream *s, void *buf, size_t n, size_t *got)
{
    size_t done = take(s, buf, n);
    ssize_t r = 1;
    while (done < n && r > 0) {
        if (s->eof) {
            r = 0;
        } else if (direct_ok(s, n - done)) {
            r = cio__stream_recv(s, (char *)buf + done, n - done, -1);
            if (r > 0)
                done += (size_t)r;
        } else {
            r = fill(s, MIN_RBUF);
            if (r > 0)
                done += take(s, (char *)buf + done, n - done);
        }
    }
    if (got)
        *got = done;
    if (done == n)
        return 0;
    return r == 0 ? CIO_EINCOMPLETE : (int)r;
}

typedef struct sep_set {
    const char *const *seps;
    size_t n, minlen, maxlen;
} sep_set;

static int sep_set_init(sep_set *ss, const char *const *seps, size_t nseps)
{
    *ss = (sep_set){seps, nseps, SIZE_MAX, 0};
    if (nseps == 0)
        return -EINVAL;
    for (size_t i = 0; i < nseps; i++) {
        size_t sl = seps[i] ? strlen(seps[i]) : 0;
        if (sl == 0)
            return -EINVAL;
        if (sl < ss->minlen)
            ss->minlen = sl;
        if (sl > ss->maxlen)
            ss->maxlen = sl;
    }
    return 0;
}

/* asyncio's match: among the first occurrence (from offset from on) of each
 * separator, the one that ends first; at equal ends the shorter separator
 * (3.13 sorts them by length and keeps the first strictly shorter end).
 * Returns true with the match's start and end (relative to rstart). */
static bool find_sep(const cio_stream *s, const sep_set *ss, size_t from, size_t *start, size_t *end)
{
    const char *base = buffered(s);
    size_t have = s->rend - s->rstart, best_end = SIZE_MAX, best_len = 0;
    for (size_t i = 0; i < ss->n; i++) {
        size_t sl = strlen(ss->seps[i]);
        if (have - from < sl)
            continue;
        const char *p = memmem(base + from, have - from, ss->seps[i], sl);
        if (!p)
            continue;
        size_t e = (size_t)(p - base) + sl;
        if (e < best_end || (e == best_end && sl < best_len)) {
            best_end = e;
            best_len = sl;
        }
    }
    if (best_end == SIZE_MAX)
        return false;
    *start = best_end - best_len;
    *end = best_end;
    return true;
}

static int impl_readuntil(cio_stream *s, const sep_set *ss, const char **data, size_t *len)
{
    /* the buffer may need the limit plus a separator to decide */
    size_t maxcap = sat_add(s->limit, ss->maxlen);
    size_t offset = 0; /* no separator starts before this */
    size_t start, end;
    for (;;) {
        size_t have = s->rend - s->rstart;
        if (have - offset >= ss->minlen) {
            if (find_sep(s, ss, offset, &start, &end))
                break;
            offset = have + 1 > ss->maxlen ? have + 1 - ss->maxlen : 0;
            if (offset > s->limit) {
                *data = buffered(s);
                *len = offset; /* searched, nothing consumed */
                return CIO_ELIMITOVERRUN;
            }
        }
        if (s->eof) {
            /* a complete separator may have come with the last bytes:
             * checked above, before EOF is looked at */
            *data = buffered(s);
            *len = have;
            s->rstart = s->rend;
            return CIO_EINCOMPLETE;
        }
        ssize_t r = fill(s, maxcap);
        if (r < 0)
            return (int)r;
    }
    *data = buffered(s);
    if (start > s->limit) {
        *len = start;
        return CIO_ELIMITOVERRUN;
    }
    *len = end;
    s->rstart += end;
    return 0;
}

static int impl_readline(cio_stream *s, const char **data, size_t *len)
{
    static const char *const nl[] = {"\n"};
    sep_set ss;
    sep_set_init(&ss, nl, 1);
    int rc = impl_readuntil(s, &ss, data, len);
    if (rc == CIO_EINCOMPLETE)
        return 0; /* the last, unterminated line (empty at EOF) */
    if (rc == CIO_ELIMITOVERRUN) {
        /* asyncio drops the line through its newline when one was found
         * where the overrun was measured, else everything buffered */
        size_t consumed = *len, have = s->rend - s->rstart;
        *len = consumed < have && s->rbuf[s->rstart + consumed] == '\n' ? consumed + 1 : have;
        s->rstart += *len; /* *len: how many bytes were dropped */
        *data = "";
    }
    return rc;
}

static int impl_read_all(cio_stream *s, char **data, size_t *len)
{
    size_t cap = 0, n = 0;
    char *buf = NULL;
    for (;;) {
        if (cap - n < MIN_RBUF) {
            cap = cap ? cap * 2 : 64 * 1024;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                return -ENOMEM;
            }
            buf = nb;
        }
        ssize_t r = impl_read(s, buf + n, cap - n);
        if (r < 0) {
            free(buf);
            return (int)r;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *data = buf;
    *len = n;
    return 0;
}

/* ---- public entry points -------------------------------------------------- */

/* Every read call starts here: one reader at a time, the chunk of the last
 * read call is released, and an error set with cio_stream_set_error wins
 * over buffered data (asyncio raises the exception first). */
static int begin_read(cio_stream *s)
{
    if (s->in_read)
        return -EBUSY;
    free(s->rbuf_held);
    s->rbuf_held = NULL;
    if (s->exc)
        return s->exc;
    s->in_read = true;
    cio__stream_pin(s);
    return 0;
}

/* Every read call that began ends here, with its result. */
static ssize_t end_read(cio_stream *s, ssize_t r)
{
    s->in_read = false;
    cio__stream_unpin(s);
    return r;
}

ssize_t cio_stream_read(cio_stream *s, void *buf, size_t n)
{
    int rc = begin_read(s);
    if (rc)
        return rc;
    return end_read(s, impl_read(s, buf, n));
}

int cio_stream_readexactly(cio_stream *s, void *buf, size_t n, size_t *got)
{
    if (got)
        *got = 0;
    int rc = begin_read(s);
    if (rc)
        return rc;
    return (int)end_read(s, impl_readexactly(s, buf, n, got));
}

int cio_stream_readuntil(cio_stream *s, const char *const *seps, size_t nseps, const char **data, size_t *len)
{
    *data = "";
    *len = 0;
    sep_set ss;
    int rc = sep_set_init(&ss, seps, nseps);
    if (rc == 0)
        rc = begin_read(s);
    if (rc)
        return rc;
    return (int)end_read(s, impl_readuntil(s, &ss, data, len));
}

int cio_stream_readline(cio_stream *s, const char **data, size_t *len)
{
    *data = "";
    *len = 0;
    int rc = begin_read(s);
    if (rc)
        return rc;
    return (int)end_read(s, impl_readline(s, data, len));
}

int cio_stream_read_all(cio_stream *s, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    int rc = begin_read(s);
    if (rc)
        return rc;
    return (int)end_read(s, impl_read_all(s, data, len));
}

/* Nothing buffered and EOF not yet seen: one non-blocking look tells
 * whether the peer has finished (asyncio's transport has read it already).
 * A plain socket is peeked at; other transports read into the free end of
 * the buffer, never moving it (the HTTP server keeps offsets into it), and
 * the bytes that came are kept.  Not while a read is in progress (its
 * bytes would be taken from under it), nor on a closed stream. */
static void look_for_eof(cio_stream *s)
{
    if (s->feed || cio__stream_fd_closed(s) || s->in_read || s->reading)
        return;
    if (s->tp == &cio__plain_transport && s->is_sock) {
        char c;
        if (recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
            s->eof = true;
        return; /* data, nothing yet, or an error the next read reports */
    }
    if (!s->rbuf && room_for(s, PROBE) < 0)
        return;
    if (s->rend == s->rcap)
        return; /* no room without moving: the next read will tell */
    ssize_t r = s->tp->recv(s, s->rbuf + s->rend, s->rcap - s->rend);
    if (r > 0)
        s->rend += (size_t)r;
    else if (r == 0)
        s->eof = true;
    else if (r != CIO__WANT_READ && r != CIO__WANT_WRITE && !s->err)
        s->err = (int)r;
}

bool cio_stream_at_eof(cio_stream *s)
{
    if (s->rend == s->rstart && !s->eof)
        look_for_eof(s);
    return s->eof && s->rstart == s->rend;
}

const char *cio_stream_peek(const cio_stream *s, size_t *len)
{
    *len = s->rend - s->rstart;
    return buffered(s);
}

/* ---- the standalone reader ------------------------------------------------ */

cio_stream *cio_stream_new_reader(size_t limit)
{
    if (limit == 0) {
        errno = EINVAL; /* asyncio: "Limit cannot be <= 0" */
        return NULL;
    }
    cio_stream *s = cio__stream_alloc(limit);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    s->fd = -1;
    s->feed = true;
    return s;
}

int cio_stream_feed_data(cio_stream *s, const void *data, size_t n)
{
    if (!s->feed)
        return -EINVAL;
    if (s->eof || cio__stream_fd_closed(s))
        return CIO_EINVALSTATE;
    if (n == 0)
        return 0;
    int rc = room_for(s, n);
    if (rc < 0)
        return rc;
    memcpy(s->rbuf + s->rend, data, n);
    s->rend += n;
    cio__swait_wake_first(&s->feedwait, 0);
    return 0;
}

int cio_stream_feed_eof(cio_stream *s)
{
    if (!s->feed)
        return -EINVAL;
    s->eof = true;
    cio__swait_wake_first(&s->feedwait, 0);
    return 0;
}

int cio_stream_set_error(cio_stream *s, int err)
{
    if (err >= 0)
        return -EINVAL;
    s->exc = err;
    cio__swait_wake_first(&s->feedwait, err);
    return 0;
}

int cio_stream_exception(const cio_stream *s) { return s->exc; }
