/* SPDX-License-Identifier: MIT */
/* HTTP server requests (see server.c for the whole): the request's scratch
 * memory, its accessors and query parameters, parsing with llhttp (the
 * callbacks), and reading the head and the body.
 *
 * Requests are parsed in place: llhttp runs over the stream's read buffer,
 * s->rbuf[s->rstart, s->rend), and s->rstart stays at the start of the
 * request being served until it is done.  While the head is still arriving
 * its pieces are remembered as offsets from s->rstart (the buffer may be
 * compacted or grown between reads); once llhttp pauses at the end of the
 * head, the pieces are NUL-terminated where they lie (the delimiters after
 * them are no longer needed) and turned into pointers.  From then on the
 * head never moves: the buffer keeps room after it (BODY_ROOM) and body
 * bytes are read into that room, reused once parsed.  llhttp pauses at the
 * end of each message too, which is how pipelined requests are told apart,
 * and at chunk boundaries, where the chunk framing is counted.
 *
 * Timeouts are deadlines handed to the buffer fill (http.h), which arms a
 * cio_timeout scope only when it really has to wait.  Request smuggling is
 * llhttp's strict mode (built with LLHTTP_STRICT_MODE=1, no lenient flags)
 * plus checks of ours: obsolete line folding (llhttp folds it into the
 * value), the Host header count, empty header names (llhttp 8.1 takes
 * them), chunk sizes over INT64_MAX, and the length of chunk-size lines and
 * trailers (llhttp skips any amount of them). */
#include "http/httpd.h"

#include <stdlib.h>
#include <strings.h>

#define BODY_ROOM (16 * 1024)    /* free buffer kept after a head, for the body */
#define BODY_ROOM_MAX (64 * 1024)
#define CHUNK_LINE_MAX 4096      /* a chunk-size line with its extensions and CRLF (as Go) */
#define EXCESS_MAX (16 * 1024)   /* chunk framing beyond 16 bytes a chunk plus twice its data (as Go) */

/* ---- scratch memory ----------------------------------------------------- */

void *cio__http_arena_alloc(conn *c, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (ARENA0 - c->a0used >= n) {
        void *p = c->arena0 + c->a0used;
        c->a0used += n;
        return p;
    }
    ablock *b = c->ablocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 4096 ? n : 4096;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = c->ablocks;
        c->ablocks = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

void cio__http_arena_reset(conn *c)
{
    c->a0used = 0;
    while (c->ablocks) {
        ablock *b = c->ablocks;
        c->ablocks = b->next;
        free(b);
    }
}
/* ---- a new request ------------------------------------------------------ */

void cio__http_request_reset(conn *c)
{
    memset(&c->req, 0, sizeof c->req);
    c->req.h = c->hdrs;
    c->req.query = "";
    c->req.path = c->req.target = "";
    c->req.method = "";
    c->req.version = 11;
    memset(&c->res, 0, sizeof c->res);
    c->res.status = 200;
    c->last = LAST_NONE;
    c->perr = 0;
    c->phase = PH_HEAD;
    c->method = -1;
    c->flags = 0;
    /* c->state is CONN_OPEN: an exchange that ends closing or broken ends
     * the connection */
    c->event = EV_NONE;
    c->ntrailers = c->frame_mark = c->frame_run = 0;
    c->excess = 0;
    c->body_err = c->body_rc = 0;
    c->body_total = 0;
    c->span_off = c->span_len = c->span_given = 0;
    c->head_end = 0;
    c->uhlen = 0;
    cio__http_arena_reset(c);
    if (c->bcap > 64 * 1024) { /* no large buffer kept for idle connections */
        free(c->bbuf);
        c->bbuf = NULL;
        c->bcap = 0;
    }
}


/* ---- percent-decoding --------------------------------------------------- */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decodes src[0, n) into dst (NUL-terminated).  strict: a malformed
 * escape or a NUL byte is an error (-1); otherwise kept as is.  plus: '+'
 * means a space (query strings). */
static int pct_decode(char *dst, const char *src, size_t n, bool strict, bool plus)
{
    char *d = dst;
    for (size_t i = 0; i < n; i++) {
        char ch = src[i];
        if (ch == '%') {
            int hi = i + 1 < n ? hexval((unsigned char)src[i + 1]) : -1;
            int lo = i + 2 < n ? hexval((unsigned char)src[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                if (strict)
                    return -1;
                *d++ = ch;
                continue;
            }
            *d++ = (char)(hi * 16 + lo);
            i += 2;
        } else if (ch == '+' && plus) {
            *d++ = ' ';
        } else {
            *d++ = ch;
        }
    }
    *d = '\0';
    return 0;
}
/* ---- requests ----------------------------------------------------------- */

const char *cio_http_request_method(const cio_http_request *req) { return req->method; }
const char *cio_http_request_target(const cio_http_request *req) { return req->target; }
const char *cio_http_request_path(const cio_http_request *req) { return req->path; }
const char *cio_http_request_query(const cio_http_request *req) { return req->query; }
int cio_http_request_version(const cio_http_request *req) { return req->version; }
int64_t cio_http_request_content_length(const cio_http_request *req) { return req->clen; }
size_t cio_http_request_nheaders(const cio_http_request *req) { return req->nh; }
cio_stream *cio_http_request_stream(const cio_http_request *req) { return CONN_OF_REQ(req)->s; }

const char *cio_http_request_header_at(const cio_http_request *req, size_t i, const char **value)
{
    if (i >= req->nh)
        return NULL;
    if (value)
        *value = req->h[i].value;
    return req->h[i].name;
}

const char *cio_http_request_header(const cio_http_request *req, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < req->nh; i++)
        if (req->h[i].nlen == nl && !strcasecmp(req->h[i].name, name))
            return req->h[i].value;
    return NULL;
}

const char *cio_http_request_param(const cio_http_request *req, const char *name)
{
    for (size_t i = 0; i < req->np; i++)
        if (!strcmp(req->pname[i], name))
            return req->pval[i];
    return NULL;
}

static int parse_query(conn *c)
{
    cio_http_request *rq = &c->req;
    const char *q = rq->query;
    size_t n = 1;
    for (const char *p = q; *p; p++)
        n += *p == '&';
    rq->qname = cio__http_arena_alloc(c, 2 * n * sizeof(char *));
    if (!rq->qname)
        return -ENOMEM;
    rq->qval = rq->qname + n;
    char *buf = cio__http_arena_alloc(c, strlen(q) + 2 * n);
    if (!buf)
        return -ENOMEM;
    while (*q) {
        const char *e = strchrnul(q, '&');
        const char *eq = memchr(q, '=', (size_t)(e - q));
        if (e > q) {
            const char *ne = eq ? eq : e;
            rq->qname[rq->nq] = buf;
            pct_decode(buf, q, (size_t)(ne - q), false, true);
            buf += strlen(buf) + 1;
            rq->qval[rq->nq] = buf;
            if (eq)
                pct_decode(buf, eq + 1, (size_t)(e - eq - 1), false, true);
            else
                *buf = '\0';
            buf += strlen(buf) + 1;
            rq->nq++;
        }
        q = *e ? e + 1 : e;
    }
    return 0;
}

const char *cio_http_request_query_value(cio_http_request *req, const char *name)
{
    if (!req->qparsed) {
        if (parse_query(CONN_OF_REQ(req)) < 0) {
            errno = ENOMEM;
            return NULL;
        }
        req->qparsed = true;
    }
    for (size_t i = 0; i < req->nq; i++)
        if (!strcmp(req->qname[i], name))
            return req->qval[i];
    return NULL;
}

/* ---- llhttp callbacks --------------------------------------------------- */

static inline size_t rel_off(conn *c, const char *at) { return (size_t)(at - (c->s->rbuf + c->s->rstart)); }

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    conn *c = p->data;
    size_t off = rel_off(c, at);
    if (!(c->flags & CF_URL_SEEN)) {
        c->flags |= CF_URL_SEEN;
        c->url_off = (uint32_t)off;
    }
    c->url_end = (uint32_t)(off + len);
    return 0;
}

/* Names are tokens (RFC 9110), in the head and the trailers alike. */
static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    conn *c = p->data;
    for (size_t i = 0; i < len; i++)
        if (!is_tchar((unsigned char)at[i])) {
            c->perr = 400;
            return HPE_USER;
        }
    if (len)
        c->flags |= CF_FIELD_SEEN; /* llhttp reports an empty name as an empty span */
    if (c->phase != PH_HEAD)
        return 0; /* trailers: counted and checked, not kept */
    size_t off = rel_off(c, at);
    if (c->last == LAST_FIELD) { /* the same name, continued in a later read */
        hdr *h = &c->hdrs[c->req.nh - 1];
        h->nlen = (uint32_t)(off + len - h->noff);
        return 0;
    }
    if (c->req.nh == c->hs->o.max_headers) {
        c->perr = 431;
        return HPE_USER;
    }
    hdr *h = &c->hdrs[c->req.nh++];
    h->noff = (uint32_t)off;
    h->nlen = (uint32_t)len;
    h->voff = h->vlen = 0;
    c->last = LAST_FIELD;
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    conn *c = p->data;
    if (!(c->flags & CF_FIELD_SEEN)) { /* an empty name: llhttp 8.1 lets ": a" through */
        c->perr = 400;
        return HPE_USER;
    }
    c->flags &= ~CF_FIELD_SEEN;
    if (c->phase == PH_HEAD) {
        c->last = LAST_FIELD_DONE;
    } else if (c->req.nh + ++c->ntrailers > c->hs->o.max_headers) {
        c->perr = 431; /* trailer lines count with the header lines */
        return HPE_USER;
    }
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    conn *c = p->data;
    if (c->phase != PH_HEAD || c->req.nh == 0)
        return 0;
    size_t off = rel_off(c, at);
    hdr *h = &c->hdrs[c->req.nh - 1];
    if (c->last == LAST_VALUE) {
        /* a continuation must follow on directly; llhttp reports an obsolete
         * line fold (CRLF SP) as more value after a gap */
        if (off != (size_t)h->voff + h->vlen) {
            c->perr = 400;
            return HPE_USER;
        }
        h->vlen += (uint32_t)len;
        return 0;
    }
    /* between the name and the value: the colon and blanks only.  llhttp
     * skips "CRLF SP" after an empty value as if it were blanks, and starts
     * a value with blanks after a fold onto a finished one */
    const char *gap = c->s->rbuf + c->s->rstart + h->noff + h->nlen;
    if (c->last != LAST_FIELD_DONE || (len && (at[0] == ' ' || at[0] == '\t')) ||
        (at > gap && memchr(gap, '\n', (size_t)(at - gap)))) {
        c->perr = 400; /* obsolete line folding */
        return HPE_USER;
    }
    h->voff = (uint32_t)off;
    h->vlen = (uint32_t)len;
    c->last = LAST_VALUE;
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    conn *c = p->data;
    if (c->phase == PH_HEAD)
        c->last = LAST_VALUE_DONE;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    conn *c = p->data;
    c->phase = PH_BODY;
    return HPE_PAUSED; /* the head is in: serve it before reading on */
}

/* The body pieces parsed from one buffer are made contiguous in place (the
 * chunk framing between them is overwritten): always moving down, into
 * bytes llhttp has already passed. */
static int on_body(llhttp_t *p, const char *at, size_t len)
{
    conn *c = p->data;
    char *rb = c->s->rbuf;
    if (c->span_len == 0) {
        c->span_off = (size_t)(at - rb);
        c->span_len = len;
    } else {
        char *dst = rb + c->span_off + c->span_len;
        if (dst != at)
            memmove(dst, at, len);
        c->span_len += len;
    }
    c->frame_mark = (size_t)(at + len - rb);
    return 0;
}

/* The chunk boundaries pause the parser, so that body_fill can count the
 * framing between them exactly (see framing_check).  Not after the last
 * chunk: its trailers were counted already, and the message ends at once. */
static int on_chunk_header(llhttp_t *p)
{
    conn *c = p->data;
    c->event = EV_CHUNK_HEADER;
    return HPE_PAUSED;
}

static int on_chunk_complete(llhttp_t *p)
{
    conn *c = p->data;
    if (c->flags & CF_TRAILERS)
        return 0;
    c->event = EV_CHUNK_DONE;
    return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *p)
{
    conn *c = p->data;
    c->phase = PH_DONE;
    return HPE_PAUSED; /* the next pipelined request waits for its turn */
}

static const llhttp_settings_t settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_chunk_header = on_chunk_header,
    .on_chunk_complete = on_chunk_complete,
};

void cio__http_parser_init(conn *c)
{
    llhttp_init(&c->p, HTTP_REQUEST, &settings);
    c->p.data = c;
}

/* ---- reading ------------------------------------------------------------ */

/* Reads more into the buffer (see cio__stream_fill_more). */
static ssize_t fill(conn *c, size_t max_cap, double deadline) { return cio__stream_fill_more(c->s, max_cap, deadline); }

/* ---- reading the body --------------------------------------------------- */

static int body_fail(conn *c, int status, int rc)
{
    if (status)
        c->body_err = status;
    else
        conn_broken(c);
    c->body_rc = rc;
    return rc;
}

/* Counts the bytes llhttp passed since frame_mark that were not body: the
 * chunk-size line with its extensions (CHUNK_LINE_MAX, else 400: nothing
 * else bounds what llhttp skips there, leading zeros included), then the
 * trailers, which count with the head against max_head_size (431).  At a
 * chunk header, checks the size: over INT64_MAX is malformed (400, as Go
 * and nginx), over what is left of max_body_size is refused at once (413)
 * rather than waited for; and the framing so far against the data: more
 * than EXCESS_MAX beyond 16 bytes a chunk plus twice the data is 400 (Go's
 * rule), so that no body costs more than a bounded multiple of its size to
 * parse.  Returns 0 or the status to answer. */
static int framing_check(conn *c)
{
    cio_http_server *hs = c->hs;
    int ev = c->event;
    c->event = EV_NONE;
    c->frame_run += c->pos - c->frame_mark;
    c->frame_mark = c->pos;
    if (c->flags & CF_TRAILERS)
        return c->frame_run > hs->o.max_head_size - (c->head_end - c->s->rstart) ? 431 : 0;
    if (c->frame_run > CHUNK_LINE_MAX)
        return 400;
    if (ev == EV_CHUNK_HEADER) {
        uint64_t size = c->p.content_length;
        if (size > INT64_MAX)
            return 400;
        uint64_t have = c->body_total + c->span_len; /* the span is not counted in yet */
        if (have > hs->o.max_body_size || size > hs->o.max_body_size - have)
            return 413;
        /* many small chunks with long lines: the framing may not outweigh
         * the data (a 1-byte chunk with a 4 KiB line is legal, a million of
         * them is not) */
        uint64_t credit = 16 + 2 * (size < (1ull << 40) ? size : 1ull << 40);
        uint64_t spent = c->excess + c->frame_run + 2; /* the CRLF after the data */
        c->excess = spent > credit ? spent - credit : 0;
        if (c->excess > EXCESS_MAX)
            return 400;
        if (size == 0)
            c->flags |= CF_TRAILERS;
    }
    if (ev != EV_NONE)
        c->frame_run = 0; /* a chunk boundary */
    return 0;
}

static int status_error(int status) { return status == 400 ? CIO_EHTTP : CIO_ELIMITOVERRUN; }

/* Makes body bytes ready in rbuf[span_off + span_given, span_off + span_len).
 * Returns 1 when some are, 0 at the end of the body, or an error. */
int cio__http_body_fill(conn *c)
{
    if (c->span_given < c->span_len)
        return 1;
    if (c->body_rc)
        return c->body_rc;
    if (c->phase == PH_DONE)
        return 0;
    cio_stream *s = c->s;
    if (!(c->flags & CF_BODY_STARTED)) {
        c->flags |= CF_BODY_STARTED;
        c->body_deadline = deadline_in(c->hs->o.body_timeout);
        if ((c->flags & (CF_EXPECT | CF_CONTINUE_SENT)) == CF_EXPECT && !c->res.started) {
            if (cio__http_continue(c) < 0)
                return body_fail(c, 0, -ENOMEM);
            c->flags |= CF_CONTINUE_SENT;
        }
    }
    c->span_len = c->span_given = 0;
    for (;;) {
        c->frame_mark = c->pos;
        size_t n = s->rend - c->pos;
        llhttp_errno_t e = llhttp_execute(&c->p, s->rbuf + c->pos, n);
        if (e == HPE_OK) {
            c->pos += n;
        } else if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
            c->pos = (size_t)(llhttp_get_error_pos(&c->p) - s->rbuf);
            if (e == HPE_PAUSED) {
                llhttp_resume(&c->p);
            } else {
                c->phase = PH_DONE;
                conn_closing(c);
            }
        } else {
            return body_fail(c, c->perr ? c->perr : 400, status_error(c->perr ? c->perr : 400));
        }
        bool boundary = c->event != EV_NONE;
        int st = framing_check(c);
        if (st)
            return body_fail(c, st, status_error(st));
        /* paused at a chunk boundary: parse on (the pieces of the body in
         * this buffer join up, see on_body) */
        if (c->phase != PH_DONE && (boundary || c->pos < s->rend))
            continue;
        if (c->span_len) {
            c->body_total += c->span_len;
            if (c->body_total > c->hs->o.max_body_size)
                return body_fail(c, 413, CIO_ELIMITOVERRUN);
            return 1;
        }
        if (c->phase == PH_DONE)
            return 0;
        /* everything after the head is parsed: read more into that room,
         * after sending what is owed (earlier responses, 100 Continue) */
        if (cio__http_flush(c) < 0)
            return body_fail(c, 0, -EPIPE);
        s->rend = c->pos = c->head_end;
        ssize_t r = fill(c, s->rcap, c->body_deadline);
        if (r > 0)
            continue;
        if (r == -ETIMEDOUT)
            return body_fail(c, 408, -ETIMEDOUT);
        return body_fail(c, 0, r == 0 ? CIO_EINCOMPLETE : (int)r);
    }
}

ssize_t cio_http_request_read(cio_http_request *req, void *buf, size_t n)
{
    conn *c = CONN_OF_REQ(req);
    if (n == 0)
        return 0;
    int rc = cio__http_body_fill(c);
    if (rc <= 0)
        return rc;
    size_t k = c->span_len - c->span_given;
    if (k > n)
        k = n;
    memcpy(buf, c->s->rbuf + c->span_off + c->span_given, k);
    c->span_given += k;
    return (ssize_t)k;
}

int cio_http_request_body(cio_http_request *req, const char **data, size_t *len)
{
    conn *c = CONN_OF_REQ(req);
    *data = "";
    *len = 0;
    if (req->body_cached) {
        *data = req->body;
        *len = req->body_len;
        return 0;
    }
    int rc = cio__http_body_fill(c);
    if (rc < 0)
        return rc;
    if (rc > 0) {
        const char *p = c->s->rbuf + c->span_off + c->span_given;
        size_t l = c->span_len - c->span_given;
        c->span_given = c->span_len;
        if (c->phase == PH_DONE) {
            /* it all came in one piece: hand it out where it lies */
            req->body = p;
            req->body_len = l;
        } else {
            size_t n = 0;
            for (;;) {
                size_t need = n + l;
                if (c->bcap < need) {
                    size_t cap = c->bcap ? c->bcap : 16 * 1024;
                    if (req->clen > 0 && (uint64_t)req->clen <= c->hs->o.max_body_size && cap < (size_t)req->clen)
                        cap = (size_t)req->clen;
                    while (cap < need)
                        cap *= 2;
                    char *nb = realloc(c->bbuf, cap);
                    if (!nb)
                        return body_fail(c, 0, -ENOMEM);
                    c->bbuf = nb;
                    c->bcap = cap;
                }
                memcpy(c->bbuf + n, p, l);
                n = need;
                rc = cio__http_body_fill(c);
                if (rc < 0)
                    return rc;
                if (rc == 0)
                    break;
                p = c->s->rbuf + c->span_off + c->span_given;
                l = c->span_len - c->span_given;
                c->span_given = c->span_len;
            }
            req->body = c->bbuf;
            req->body_len = n;
        }
    } else {
        req->body = "";
        req->body_len = 0;
    }
    req->body_cached = true;
    *data = req->body;
    *len = req->body_len;
    return 0;
}

/* ---- reading the head --------------------------------------------------- */

/* Moves the current request to the front of the buffer. */
static void compact(conn *c)
{
    cio_stream *s = c->s;
    size_t off = s->rstart;
    if (off == 0)
        return;
    memmove(s->rbuf, s->rbuf + off, s->rend - off);
    s->rend -= off;
    s->rstart = 0;
    c->pos -= off;
    if (c->head_end >= off)
        c->head_end -= off;
}

static int overflow_status(conn *c) { return c->req.nh == 0 && c->last == LAST_NONE ? 414 : 431; }

/* Sets path and query from the target (decoded path in scratch memory). */
static int parse_target(conn *c)
{
    cio_http_request *rq = &c->req;
    char *t = (char *)rq->target;
    rq->query = "";
    if (t[0] != '/') {
        if (!strncasecmp(t, "http://", 7) || !strncasecmp(t, "https://", 8)) {
            t = strstr(t, "://") + 3;
            t += strcspn(t, "/?#");
        } else {
            rq->path = t; /* "*" (OPTIONS) or host:port (CONNECT): matches no route */
            return 0;
        }
    }
    size_t pl = strcspn(t, "?#");
    if (t[pl] == '?') {
        char *q = t + pl + 1;
        char *hash = strchr(q, '#');
        if (hash)
            *hash = '\0';
        rq->query = q;
    }
    char *d = cio__http_arena_alloc(c, pl + 2);
    if (!d)
        return 500;
    if (pl == 0) {
        memcpy(d, "/", 2);
    } else if (pct_decode(d, t, pl, true, false) < 0) {
        return 400;
    }
    rq->path = d;
    return 0;
}

/* The head is complete: turns offsets into NUL-terminated strings, checks
 * what llhttp leaves to us.  Returns 0 or an error status. */
static int finish_head(conn *c)
{
    cio_stream *s = c->s;
    cio_http_server *hs = c->hs;
    cio_http_request *rq = &c->req;
    llhttp_t *p = &c->p;
    c->head_end = c->pos;
    /* a body still to be read needs room after the head (see body_fill):
     * BODY_ROOM, up to BODY_ROOM_MAX for large bodies (fewer reads) */
    uint64_t more = (p->flags & F_CHUNKED) ? UINT64_MAX
                    : (p->flags & F_CONTENT_LENGTH) && p->content_length > s->rend - c->head_end
                        ? p->content_length - (s->rend - c->head_end)
                        : 0;
    size_t room = more > BODY_ROOM_MAX ? BODY_ROOM_MAX : more < BODY_ROOM ? BODY_ROOM : (size_t)more;
    if (more && s->rcap - c->head_end < room) {
        compact(c);
        if (s->rcap - c->head_end < room && cio__stream_reserve(s, c->head_end + room) < 0) {
            conn_closing(c);
            return 500;
        }
    }
    c->method = p->method;
    if (llhttp_should_keep_alive(p))
        c->flags |= CF_KEEPALIVE;
    if (p->http_major != 1)
        return 505;
    rq->version = p->http_minor == 0 ? 10 : 11;
    rq->method = llhttp_method_name((llhttp_method_t)p->method);
    if (!(c->flags & CF_URL_SEEN))
        return 400;
    char *base = s->rbuf + s->rstart;
    base[c->url_end] = '\0'; /* the space before the version */
    rq->target = base + c->url_off;
    size_t nhost = 0;
    const char *expect = NULL;
    for (size_t i = 0; i < rq->nh; i++) {
        hdr *h = &c->hdrs[i];
        char *n = base + h->noff;
        n[h->nlen] = '\0'; /* the colon */
        h->name = n;
        if (h->vlen) {
            char *v = base + h->voff;
            size_t l = h->vlen;
            while (l && (v[l - 1] == ' ' || v[l - 1] == '\t'))
                l--;
            v[l] = '\0'; /* trailing whitespace or the CR */
            h->vlen = (uint32_t)l;
            h->value = v;
        } else {
            h->value = "";
        }
        if (h->nlen == 4 && !strcasecmp(n, "host"))
            nhost++;
        else if (h->nlen == 6 && !strcasecmp(n, "expect"))
            expect = h->value;
    }
    if (nhost > 1 || (nhost == 0 && rq->version == 11))
        return 400;
    if (p->upgrade)
        conn_closing(c); /* CONNECT / Upgrade: answered as plain HTTP, then closed */
    /* llhttp rejects a request whose Transfer-Encoding does not end in
     * chunked only after on_headers_complete, where we paused: check here */
    if ((p->flags & F_TRANSFER_ENCODING) && !(p->flags & F_CHUNKED))
        return 400;
    bool chunked = (p->flags & F_CHUNKED) != 0;
    rq->clen = chunked ? -1 : (p->flags & F_CONTENT_LENGTH) ? (int64_t)p->content_length : 0;
    if (!chunked && (uint64_t)rq->clen > hs->o.max_body_size)
        return 413;
    if (expect && rq->version == 11) {
        if (strcasecmp(expect, "100-continue"))
            return 417;
        if (rq->clen != 0)
            c->flags |= CF_EXPECT;
    }
    c->phase = PH_BODY;
    return parse_target(c);
}

/* Reads and parses a request head.  Returns 0, an error status to answer,
 * or R_STOP to close without answering. */
int cio__http_read_head(conn *c, bool first)
{
    cio_stream *s = c->s;
    cio_http_server *hs = c->hs;
    size_t max_head = hs->o.max_head_size;
    size_t cap_max = max_head + BODY_ROOM;
    c->pos = s->rstart;
    bool started = s->rend > s->rstart;
    double deadline = started ? deadline_in(hs->o.head_timeout) : -1;
    for (;;) {
        if (c->pos < s->rend) {
            size_t limit = s->rstart + max_head;
            size_t end = s->rend < limit ? s->rend : limit;
            if (c->pos >= end)
                return overflow_status(c);
            size_t n = end - c->pos;
            llhttp_errno_t e = llhttp_execute(&c->p, s->rbuf + c->pos, n);
            if (e == HPE_PAUSED) {
                c->pos = (size_t)(llhttp_get_error_pos(&c->p) - s->rbuf);
                llhttp_resume(&c->p);
                return finish_head(c);
            }
            if (e != HPE_OK)
                return c->perr ? c->perr : 400;
            c->pos += n;
            if (c->pos == limit)
                return overflow_status(c);
            continue;
        }
        if (cio__http_flush(c) < 0)
            return R_STOP;
        if (!started) {
            /* idle: nothing of the next request yet */
            if (hs->stopping)
                return R_STOP;
            s->rstart = s->rend = c->pos = 0;
            c->phase = PH_IDLE;
            ssize_t r = fill(c, cap_max, deadline_in(first ? hs->o.head_timeout : hs->o.keepalive_timeout));
            c->phase = PH_HEAD;
            if (r <= 0 || hs->stopping)
                return R_STOP;
            started = true;
            deadline = deadline_in(hs->o.head_timeout);
            continue;
        }
        if (s->rcap - s->rend < 2048)
            compact(c); /* the partial head to the front: read into a roomy buffer */
        ssize_t r = fill(c, cap_max, deadline);
        if (r == -ETIMEDOUT)
            return 408;
        if (r <= 0) {
            if (r == -ECANCELED)
                conn_broken(c);
            return R_STOP;
        }
    }
}
