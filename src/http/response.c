/* SPDX-License-Identifier: MIT */
/* HTTP server responses (see server.c for the whole): status reasons and
 * dates, the output buffer, the head, bodies whole or streamed (chunked).
 * Files and the static routes are in static.c.
 *
 * Responses are appended to one output buffer per connection that is
 * written out only when the connection is about to wait for input (or once
 * it holds OUT_FLUSH bytes), so pipelined requests that arrived together
 * are answered with one write.  Large bodies go out from the caller's
 * memory, with a bounded amount buffered for a slow client (see
 * write_through). */
#include "http/httpd.h"

#include <stdlib.h>
#include <strings.h>
#include <time.h>

#define OUT_MIN (16 * 1024)      /* first output buffer */
#define WRITE_SLICE (64 * 1024)  /* ...a slice at a time: at most this much buffered past the high-water mark */

/* ---- status and dates --------------------------------------------------- */

const char *cio_http_status_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* IMF-fixdate (RFC 9110), independent of the locale: 29 characters. */
void cio__http_fmt_date(time_t t, char *out, size_t n)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char mons[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, n, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday, mons[tm.tm_mon % 12],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The Date header's value, formatted once a second per thread. */
static const char *http_date(void)
{
    static __thread time_t last = -1;
    static __thread char buf[64];
    time_t now = time(NULL);
    if (now != last) {
        last = now;
        cio__http_fmt_date(now, buf, sizeof buf);
    }
    return buf;
}
/* ---- output ------------------------------------------------------------- */

int cio__http_out_reserve(conn *c, size_t n)
{
    if (c->ocap - c->olen >= n)
        return 0;
    size_t cap = c->ocap ? c->ocap : OUT_MIN;
    while (cap - c->olen < n)
        cap *= 2;
    char *nb = realloc(c->out, cap);
    if (!nb)
        return -ENOMEM;
    c->out = nb;
    c->ocap = cap;
    return 0;
}

/* Appends; the caller reserved the room. */
static inline void out_raw(conn *c, const void *p, size_t n)
{
    memcpy(c->out + c->olen, p, n);
    c->olen += n;
}

static inline void out_str(conn *c, const char *s) { out_raw(c, s, strlen(s)); }

static void out_dec(conn *c, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    out_raw(c, tmp + i, sizeof tmp - i);
}

static void out_hex(conn *c, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    out_raw(c, tmp + i, sizeof tmp - i);
}

/* Waits, bounded by write_timeout, while the stream is above its high-water
 * mark. */
static int drain(conn *c)
{
    if (!c->s->paused)
        return 0;
    cio_timeout sc;
    int rc = cio_timeout_enter(&sc, c->hs->o.write_timeout);
    if (rc < 0)
        return rc;
    rc = cio_stream_drain(c->s);
    return cio_timeout_exit(&sc, rc);
}

int cio__http_fail_write(conn *c, int rc)
{
    conn_broken(c);
    return rc;
}

/* Writes out the batched output. */
int cio__http_flush(conn *c)
{
    if (c->state == CONN_BROKEN)
        return -EPIPE;
    if (c->olen == 0)
        return 0;
    int rc = cio_stream_write(c->s, c->out, c->olen);
    c->olen = 0;
    if (rc == 0)
        rc = drain(c);
    return rc < 0 ? cio__http_fail_write(c, rc) : 0;
}

/* The batched output, then data, then tail, from the caller's memory: the
 * socket takes what it can straight from there, and what it does not take
 * is buffered one WRITE_SLICE at a time, waiting (drain, bounded by
 * write_timeout) whenever the stream is above its high-water mark.  So a
 * client that does not read holds back at most high_water + WRITE_SLICE
 * bytes of a body however large, not a copy of it; the caller's memory
 * stays valid as the caller is suspended here until the last slice. */
static int write_through(conn *c, const void *data, size_t len, const char *tail)
{
    const char *p = data;
    int rc = 0;
    while (rc == 0 && len) {
        size_t n = len < WRITE_SLICE ? len : WRITE_SLICE;
        struct iovec iov[2];
        int k = 0;
        if (c->olen)
            iov[k++] = (struct iovec){c->out, c->olen};
        iov[k++] = (struct iovec){(void *)p, n};
        rc = cio_stream_writev(c->s, iov, k);
        c->olen = 0;
        if (rc == 0)
            rc = drain(c);
        p += n;
        len -= n;
    }
    if (rc == 0 && tail)
        rc = cio_stream_write(c->s, tail, strlen(tail));
    return rc < 0 ? cio__http_fail_write(c, rc) : 0;
}

int cio__http_maybe_flush(conn *c) { return c->olen >= OUT_FLUSH ? cio__http_flush(c) : 0; }

int cio__http_continue(conn *c)
{
    if (cio__http_out_reserve(c, 32) < 0)
        return -ENOMEM;
    out_str(c, "HTTP/1.1 100 Continue\r\n\r\n");
    return 0;
}

/* ---- responses ---------------------------------------------------------- */

static bool keep_alive_ok(conn *c)
{
    if (c->state != CONN_OPEN || !(c->flags & CF_KEEPALIVE) || c->hs->stopping || c->res.want_close)
        return false;
    if (c->phase != PH_DONE) {
        if ((c->flags & (CF_EXPECT | CF_CONTINUE_SENT)) == CF_EXPECT)
            return false; /* the client may or may not send the body now */
        /* a handler answering without touching a large body will not read
         * it; one that started reading is taken to finish (if it does not,
         * the connection closes after this response all the same) */
        if (!(c->flags & CF_BODY_STARTED) && c->req.clen > 0 && (uint64_t)c->req.clen - c->body_total > DISCARD_MAX)
            return false;
    }
    return true;
}

/* Appends the status line and headers to the output. */
int cio__http_emit_head(conn *c, int mode, uint64_t len)
{
    cio_http_response *res = &c->res;
    int st = res->status;
    bool status_no_body = st < 200 || st == 204 || st == 304;
    bool raw = mode == MODE_CHUNKED && c->req.version == 10; /* HTTP/1.0: until close */
    bool ka = keep_alive_ok(c) && !raw;
    int rc = cio__http_out_reserve(c, 256 + c->uhlen);
    if (rc < 0)
        return rc;
    out_str(c, "HTTP/1.1 ");
    out_dec(c, (uint64_t)st);
    out_raw(c, " ", 1);
    out_str(c, cio_http_status_reason(st));
    out_raw(c, "\r\n", 2);
    if (!res->server)
        out_str(c, "Server: cio\r\n");
    if (!res->date) {
        out_str(c, "Date: ");
        out_str(c, http_date());
        out_raw(c, "\r\n", 2);
    }
    if (!status_no_body) {
        if (mode == MODE_LENGTH) {
            out_str(c, "Content-Length: ");
            out_dec(c, len);
            out_raw(c, "\r\n", 2);
        } else if (!raw) {
            out_str(c, "Transfer-Encoding: chunked\r\n");
        }
    }
    if (!ka)
        out_str(c, "Connection: close\r\n");
    else if (c->req.version == 10)
        out_str(c, "Connection: keep-alive\r\n");
    if (c->uhlen)
        out_raw(c, c->uh, c->uhlen);
    out_raw(c, "\r\n", 2);
    res->started = true;
    res->no_body = status_no_body || c->method == HTTP_HEAD;
    res->chunked = mode == MODE_CHUNKED && !raw && !res->no_body;
    if (!ka)
        conn_closing(c); /* the response says Connection: close */
    return 0;
}

int cio_http_response_status(cio_http_response *res, int status)
{
    if (res->started)
        return CIO_EINVALSTATE;
    if (status < 200 || status > 599)
        return -EINVAL;
    res->status = status;
    return 0;
}

int cio_http_response_header(cio_http_response *res, const char *name, const char *value)
{
    conn *c = CONN_OF_RES(res);
    if (res->started)
        return CIO_EINVALSTATE;
    if (!name || !value || !*name)
        return -EINVAL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (!is_tchar(*p))
            return -EINVAL;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return -EINVAL;
    if (!strcasecmp(name, "Content-Length") || !strcasecmp(name, "Transfer-Encoding"))
        return -EINVAL;
    if (!strcasecmp(name, "Connection")) {
        if (!strcasecmp(value, "close"))
            res->want_close = true;
        else if (strcasecmp(value, "keep-alive"))
            return -EINVAL;
        return 0;
    }
    if (!strcasecmp(name, "Content-Type"))
        res->ctype = true;
    else if (!strcasecmp(name, "Date"))
        res->date = true;
    else if (!strcasecmp(name, "Server"))
        res->server = true;
    size_t nl = strlen(name), vl = strlen(value), need = nl + vl + 4;
    if (c->uhcap - c->uhlen < need) {
        size_t cap = c->uhcap ? c->uhcap : 512;
        while (cap - c->uhlen < need)
            cap *= 2;
        char *nb = realloc(c->uh, cap);
        if (!nb)
            return -ENOMEM;
        c->uh = nb;
        c->uhcap = cap;
    }
    char *p = c->uh + c->uhlen;
    memcpy(p, name, nl);
    p += nl;
    *p++ = ':';
    *p++ = ' ';
    memcpy(p, value, vl);
    p += vl;
    *p++ = '\r';
    *p++ = '\n';
    c->uhlen += need;
    return 0;
}

int cio_http_response_body(cio_http_response *res, const void *data, size_t len)
{
    conn *c = CONN_OF_RES(res);
    if (res->started)
        return CIO_EINVALSTATE;
    if (c->state == CONN_BROKEN)
        return -EPIPE;
    int rc;
    if (len && !res->ctype && (rc = cio_http_response_header(res, "Content-Type", "application/octet-stream")) < 0)
        return rc;
    if ((rc = cio__http_emit_head(c, MODE_LENGTH, len)) < 0)
        return rc;
    res->done = true;
    if (res->no_body || len == 0)
        return cio__http_maybe_flush(c);
    if (len > COPY_MAX)
        return write_through(c, data, len, NULL);
    if ((rc = cio__http_out_reserve(c, len)) < 0)
        return rc;
    out_raw(c, data, len);
    return cio__http_maybe_flush(c);
}

int cio_http_response_text(cio_http_response *res, int status, const char *text)
{
    int rc = cio_http_response_status(res, status);
    if (rc == 0 && !res->ctype)
        rc = cio_http_response_header(res, "Content-Type", "text/plain; charset=utf-8");
    if (rc == 0)
        rc = cio_http_response_body(res, text, text ? strlen(text) : 0);
    return rc;
}

int cio_http_response_write(cio_http_response *res, const void *data, size_t len)
{
    conn *c = CONN_OF_RES(res);
    if (res->done)
        return CIO_EINVALSTATE;
    if (c->state == CONN_BROKEN)
        return -EPIPE;
    int rc;
    if (!res->started && (rc = cio__http_emit_head(c, MODE_CHUNKED, 0)) < 0)
        return rc;
    if (len == 0 || res->no_body)
        return cio__http_flush(c);
    if (res->chunked) {
        if ((rc = cio__http_out_reserve(c, 24 + (len <= COPY_MAX ? len + 2 : 0))) < 0)
            return rc;
        out_hex(c, len);
        out_raw(c, "\r\n", 2);
        if (len > COPY_MAX)
            return write_through(c, data, len, "\r\n");
        out_raw(c, data, len);
        out_raw(c, "\r\n", 2);
        return cio__http_flush(c);
    }
    if (len > COPY_MAX)
        return write_through(c, data, len, NULL);
    if ((rc = cio__http_out_reserve(c, len)) < 0)
        return rc;
    out_raw(c, data, len);
    return cio__http_flush(c);
}

int cio_http_response_end(cio_http_response *res)
{
    conn *c = CONN_OF_RES(res);
    if (!res->started)
        return cio_http_response_body(res, NULL, 0);
    if (res->done)
        return 0;
    res->done = true;
    if (res->chunked) {
        int rc = cio__http_out_reserve(c, 5);
        if (rc < 0)
            return cio__http_fail_write(c, rc);
        out_raw(c, "0\r\n\r\n", 5);
    }
    return c->state == CONN_BROKEN ? -EPIPE : 0;
}

bool cio_http_response_started(const cio_http_response *res) { return res->started; }
