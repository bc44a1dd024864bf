/* HTTP/1.1 server (aiohttp.web) on cio streams and llhttp.
 *
 * One task per connection (a cio_start_server handler) serves its requests
 * in order.  Requests are parsed in place: llhttp runs over the stream's
 * read buffer, s->rbuf[s->rstart, s->rend), and s->rstart stays at the
 * start of the request being served until it is done.  While the head is
 * still arriving its pieces are remembered as offsets from s->rstart (the
 * buffer may be compacted or grown between reads); once llhttp pauses at
 * the end of the head, the pieces are NUL-terminated where they lie (the
 * delimiters after them are no longer needed) and turned into pointers.
 * From then on the head never moves: the buffer keeps room after it
 * (BODY_ROOM) and body bytes are read into that room, reused once parsed.
 *
 * llhttp pauses at the end of each message too, which is how pipelined
 * requests are told apart; their responses are appended to one output
 * buffer that is written out only when the connection is about to wait for
 * input (or once it holds OUT_FLUSH bytes), so requests that arrived
 * together are answered with one write.  Large bodies go out from the
 * caller's memory with writev, files with sendfile.
 *
 * Timeouts are deadlines handed to the buffer fill (http.h), which arms a
 * cio_timeout scope only when it really has to wait.  Request smuggling is
 * llhttp's strict mode (built with LLHTTP_STRICT_MODE=1, no lenient flags)
 * plus two checks of ours: obsolete line folding (llhttp folds it into the
 * value) and the Host header count.
 *
 * Shutdown: the server keeps a list of its connections, each with an
 * "idle" flag (waiting for the first byte of a request); idle ones are
 * cancelled at once, busy ones see `stopping` and answer with
 * Connection: close. */
#include "http/http.h"

#include <llhttp.h>

#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define DEF_MAX_HEAD (16 * 1024)
#define DEF_MAX_HEADERS 100
#define DEF_MAX_BODY (1024 * 1024)
#define DEF_HEAD_TIMEOUT 10.0
#define DEF_BODY_TIMEOUT 30.0
#define DEF_KEEPALIVE 15.0
#define DEF_WRITE_TIMEOUT 30.0

#define BODY_ROOM (16 * 1024)    /* free buffer kept after a head, for the body */
#define BODY_ROOM_MAX (64 * 1024)
#define OUT_MIN (16 * 1024)      /* first output buffer */
#define OUT_FLUSH (64 * 1024)    /* batched responses are written out beyond this */
#define COPY_MAX (16 * 1024)     /* larger bodies are written from the caller's memory */
#define DISCARD_MAX (64 * 1024)  /* unread request bodies up to this are dropped, keeping the connection */
#define MAX_PARAMS 16            /* path parameters per route */
#define ARENA0 1024              /* per-connection scratch memory before any malloc */
#define LINGER_TIME 2.0          /* closing: how long to drain what the client still sends */
#define LINGER_BYTES (256 * 1024)
#define FAIR_BATCH 64            /* requests served in a row before yielding to other tasks */
#define YIELD_BYTES (4u << 20)   /* sendfile: bytes sent in a row before yielding */

/* ---- routes ------------------------------------------------------------- */

enum { SEG_LIT, SEG_PARAM, SEG_TAIL };

typedef struct seg {
    const char *s; /* literal text, or parameter name (NUL-terminated) */
    size_t len;
    int kind;
} seg;

typedef struct route {
    struct route *next;
    int method; /* llhttp method, -1: any */
    cio_http_handler fn;
    void *arg;
    char *buf; /* the pattern, cut into segments */
    seg *segs;
    size_t nsegs;
    int dirfd; /* static routes: the directory (O_PATH), else -1 */
} route;

struct cio_http_server {
    int refs; /* the owner's, and one per connection */
    cio_http_server_opts o;
    route *routes, **tail;
    cio_server *srv;
    cio__link conns;
    size_t nconns;
    bool stopping;
};

/* ---- connections -------------------------------------------------------- */

typedef struct hdr {
    uint32_t noff, nlen, voff, vlen; /* from the request start, while the head arrives */
    const char *name, *value;
} hdr;

struct cio_http_request {
    const char *method, *target, *path, *query;
    int version;
    int64_t clen;
    hdr *h;
    size_t nh;
    const char *pname[MAX_PARAMS], *pval[MAX_PARAMS];
    size_t np;
    const char **qname, **qval;
    size_t nq;
    bool qparsed;
    bool body_cached;
    const char *body;
    size_t body_len;
};

struct cio_http_response {
    int status;
    bool started;    /* head in the output */
    bool done;       /* complete */
    bool chunked;    /* body in chunks */
    bool no_body;    /* HEAD, 1xx, 204, 304: the body is dropped */
    bool want_close; /* the handler set Connection: close */
    bool ctype, date, server;
};

typedef struct ablock {
    struct ablock *next;
    size_t cap, used;
    char data[];
} ablock;

enum { LAST_NONE, LAST_FIELD, LAST_FIELD_DONE, LAST_VALUE, LAST_VALUE_DONE };
enum { PH_HEAD, PH_BODY };
enum { END_QUIET, END_CLOSE, END_LINGER, END_ABORT };
#define R_STOP (-1)

typedef struct conn {
    cio__link link;
    cio_http_server *hs;
    cio_stream *s;
    cio_task *task;
    llhttp_t p;
    cio_http_request req;
    cio_http_response res;
    /* parsing */
    size_t pos;      /* first byte not given to llhttp yet (offset in rbuf) */
    size_t head_end; /* end of the head (offset in rbuf) */
    uint32_t url_off, url_end;
    bool url_seen;
    int last;   /* LAST_*: the header piece seen last */
    int perr;   /* status for an error found in a callback */
    int phase;  /* PH_* */
    int method; /* llhttp method */
    /* the exchange */
    bool keepalive;     /* the request allows another one after it */
    bool must_close;    /* close after this exchange */
    bool close_after;   /* the response said Connection: close */
    bool broken;        /* unusable: abort */
    bool idle;          /* waiting for the first byte of a request */
    bool expect;        /* Expect: 100-continue with a body */
    bool continue_sent;
    bool msg_done;      /* llhttp finished the request */
    bool body_started;
    int body_err;       /* status owed after a body error (400/408/413) */
    int body_rc;        /* sticky body error code */
    double body_deadline;
    uint64_t body_total;
    size_t span_off, span_len, span_given; /* body bytes ready: rbuf[span_off, +span_len) */
    /* output */
    char *out;
    size_t olen, ocap;
    char *uh; /* the response's own headers, "Name: value\r\n"... */
    size_t uhlen, uhcap;
    char *bbuf; /* whole bodies that arrived in pieces */
    size_t bcap;
    /* scratch memory for the request: decoded path, parameters, query */
    size_t a0used;
    ablock *ablocks;
    _Alignas(16) char arena0[ARENA0];
    hdr hdrs[];
} conn;

#define CONN_OF_REQ(r) CIO__CONTAINER_OF(r, conn, req)
#define CONN_OF_RES(r) CIO__CONTAINER_OF(r, conn, res)

static double deadline_in(double t) { return t < 0 ? -1 : cio_time() + t; }

/* ---- scratch memory ----------------------------------------------------- */

static void *arena_alloc(conn *c, size_t n)
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

static void arena_reset(conn *c)
{
    c->a0used = 0;
    while (c->ablocks) {
        ablock *b = c->ablocks;
        c->ablocks = b->next;
        free(b);
    }
}

/* ---- small helpers ------------------------------------------------------ */

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
static void fmt_date(time_t t, char *out, size_t n)
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
        fmt_date(now, buf, sizeof buf);
    }
    return buf;
}

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

static bool is_tchar(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* ---- output ------------------------------------------------------------- */

static int out_reserve(conn *c, size_t n)
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

static int fail_write(conn *c, int rc)
{
    c->broken = true;
    return rc;
}

/* Writes out the batched output. */
static int flush(conn *c)
{
    if (c->broken)
        return -EPIPE;
    if (c->olen == 0)
        return 0;
    int rc = cio_stream_write(c->s, c->out, c->olen);
    c->olen = 0;
    if (rc == 0)
        rc = drain(c);
    return rc < 0 ? fail_write(c, rc) : 0;
}

/* The batched output, then data, then tail, without copying data. */
static int write_through(conn *c, const void *data, size_t len, const char *tail)
{
    struct iovec iov[3];
    int n = 0;
    if (c->olen)
        iov[n++] = (struct iovec){c->out, c->olen};
    iov[n++] = (struct iovec){(void *)data, len};
    if (tail)
        iov[n++] = (struct iovec){(void *)tail, strlen(tail)};
    int rc = cio_stream_writev(c->s, iov, n);
    c->olen = 0;
    if (rc == 0)
        rc = drain(c);
    return rc < 0 ? fail_write(c, rc) : 0;
}

static int maybe_flush(conn *c) { return c->olen >= OUT_FLUSH ? flush(c) : 0; }

/* ---- responses ---------------------------------------------------------- */

enum { MODE_LENGTH, MODE_CHUNKED };

static bool keep_alive_ok(conn *c)
{
    if (c->must_close || !c->keepalive || c->hs->stopping || c->res.want_close)
        return false;
    if (!c->msg_done) {
        if (c->expect && !c->continue_sent)
            return false; /* the client may or may not send the body now */
        /* a handler answering without touching a large body will not read
         * it; one that started reading is taken to finish (if it does not,
         * the connection closes after this response all the same) */
        if (!c->body_started && c->req.clen > 0 && (uint64_t)c->req.clen - c->body_total > DISCARD_MAX)
            return false;
    }
    return true;
}

/* Appends the status line and headers to the output. */
static int emit_head(conn *c, int mode, uint64_t len)
{
    cio_http_response *res = &c->res;
    int st = res->status;
    bool status_no_body = st < 200 || st == 204 || st == 304;
    bool raw = mode == MODE_CHUNKED && c->req.version == 10; /* HTTP/1.0: until close */
    bool ka = keep_alive_ok(c) && !raw;
    int rc = out_reserve(c, 256 + c->uhlen);
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
    c->close_after = !ka;
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
    if (c->broken)
        return -EPIPE;
    int rc;
    if (len && !res->ctype && (rc = cio_http_response_header(res, "Content-Type", "application/octet-stream")) < 0)
        return rc;
    if ((rc = emit_head(c, MODE_LENGTH, len)) < 0)
        return rc;
    res->done = true;
    if (res->no_body || len == 0)
        return maybe_flush(c);
    if (len > COPY_MAX)
        return write_through(c, data, len, NULL);
    if ((rc = out_reserve(c, len)) < 0)
        return rc;
    out_raw(c, data, len);
    return maybe_flush(c);
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
    if (c->broken)
        return -EPIPE;
    int rc;
    if (!res->started && (rc = emit_head(c, MODE_CHUNKED, 0)) < 0)
        return rc;
    if (len == 0 || res->no_body)
        return flush(c);
    if (res->chunked) {
        if ((rc = out_reserve(c, 24 + (len <= COPY_MAX ? len + 2 : 0))) < 0)
            return rc;
        out_hex(c, len);
        out_raw(c, "\r\n", 2);
        if (len > COPY_MAX)
            return write_through(c, data, len, "\r\n");
        out_raw(c, data, len);
        out_raw(c, "\r\n", 2);
        return flush(c);
    }
    if (len > COPY_MAX)
        return write_through(c, data, len, NULL);
    if ((rc = out_reserve(c, len)) < 0)
        return rc;
    out_raw(c, data, len);
    return flush(c);
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
        int rc = out_reserve(c, 5);
        if (rc < 0)
            return fail_write(c, rc);
        out_raw(c, "0\r\n\r\n", 5);
    }
    return c->broken ? -EPIPE : 0;
}

bool cio_http_response_started(const cio_http_response *res) { return res->started; }

/* ---- files -------------------------------------------------------------- */

static const struct {
    const char *ext, *type;
} mime_types[] = {
    {"html", "text/html; charset=utf-8"},  {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"}, {"json", "application/json"},
    {"txt", "text/plain; charset=utf-8"},  {"md", "text/markdown; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},              {"png", "image/png"},
    {"jpg", "image/jpeg"},                 {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},                  {"webp", "image/webp"},
    {"avif", "image/avif"},                {"ico", "image/x-icon"},
    {"pdf", "application/pdf"},            {"wasm", "application/wasm"},
    {"woff", "font/woff"},                 {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},                   {"otf", "font/otf"},
    {"mp4", "video/mp4"},                  {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},                 {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},                  {"zip", "application/zip"},
    {"gz", "application/gzip"},            {"tar", "application/x-tar"},
};

static const char *mime_of(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash ? slash : name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof mime_types / sizeof mime_types[0]; i++)
            if (!strcasecmp(dot + 1, mime_types[i].ext))
                return mime_types[i].type;
    return "application/octet-stream";
}

/* Waits until the socket takes more, bounded by write_timeout. */
static int wait_writable(conn *c, int fd)
{
    cio_timeout sc;
    int rc = cio_timeout_enter(&sc, c->hs->o.write_timeout);
    if (rc < 0)
        return rc;
    rc = cio_wait_writable(fd);
    return cio_timeout_exit(&sc, rc < 0 ? rc : 0);
}

/* The body of a file: sendfile(2) on plain sockets, else read + write. */
static int send_file_body(conn *c, int fd, uint64_t size)
{
    cio_stream *s = c->s;
    int rc;
    if (size <= COPY_MAX) {
        if ((rc = out_reserve(c, size)) < 0)
            return fail_write(c, rc);
        ssize_t n = pread(fd, c->out + c->olen, size, 0);
        if (n < 0 || (uint64_t)n != size)
            return fail_write(c, n < 0 ? -errno : -EIO);
        c->olen += size;
        return maybe_flush(c);
    }
    if ((rc = flush(c)) < 0)
        return rc;
    off_t off = 0;
    if (s->tp == &cio__plain_transport && s->is_sock && cio_stream_write_buffer_size(s) == 0) {
        size_t since_yield = 0;
        while ((uint64_t)off < size) {
            uint64_t left = size - (uint64_t)off;
            ssize_t n = sendfile(s->fd, fd, &off, left > (1u << 30) ? (1u << 30) : (size_t)left);
            if (n > 0) {
                since_yield += (size_t)n;
                if (since_yield >= YIELD_BYTES) {
                    since_yield = 0;
                    if ((rc = cio_yield()) < 0)
                        return fail_write(c, rc);
                }
                continue;
            }
            if (n == 0)
                return fail_write(c, -EIO); /* the file shrank */
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                return fail_write(c, -errno);
            if ((rc = wait_writable(c, s->fd)) < 0)
                return fail_write(c, rc);
        }
        return 0;
    }
    if ((rc = out_reserve(c, OUT_FLUSH)) < 0)
        return fail_write(c, rc);
    while ((uint64_t)off < size) {
        uint64_t left = size - (uint64_t)off;
        size_t want = left < OUT_FLUSH ? (size_t)left : OUT_FLUSH;
        ssize_t n = pread(fd, c->out, want, off);
        if (n <= 0)
            return fail_write(c, n < 0 ? -errno : -EIO);
        off += n;
        c->olen = (size_t)n;
        if ((rc = flush(c)) < 0)
            return rc;
    }
    return 0;
}

/* Answers with an open file (closes fd).  name gives the content type. */
static int send_fd(conn *c, int fd, const char *name)
{
    cio_http_response *res = &c->res;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0)
        rc = -errno;
    else if (S_ISDIR(st.st_mode))
        rc = -EISDIR;
    else if (!S_ISREG(st.st_mode))
        rc = -EACCES;
    if (rc == 0 && !res->ctype)
        rc = cio_http_response_header(res, "Content-Type", mime_of(name));
    char lm[64];
    fmt_date(st.st_mtime, lm, sizeof lm);
    if (rc == 0)
        rc = cio_http_response_header(res, "Last-Modified", lm);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    const char *ims = cio_http_request_header(&c->req, "If-Modified-Since");
    if (ims && !strcmp(ims, lm) && res->status == 200) {
        res->status = 304;
        rc = emit_head(c, MODE_LENGTH, 0);
        res->done = true;
        close(fd);
        return rc;
    }
    if ((rc = emit_head(c, MODE_LENGTH, (uint64_t)st.st_size)) < 0) {
        close(fd);
        return rc;
    }
    res->done = true;
    if (!res->no_body && st.st_size > 0)
        rc = send_file_body(c, fd, (uint64_t)st.st_size);
    close(fd);
    return rc;
}

int cio_http_response_file(cio_http_response *res, const char *path)
{
    if (res->started)
        return CIO_EINVALSTATE;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    return send_fd(CONN_OF_RES(res), fd, path);
}

/* openat2(RESOLVE_BENEATH) where the kernel has it: no way out of dirfd,
 * symlinks included; plain openat otherwise (the path itself was checked). */
static int open_beneath(int dirfd, const char *rel)
{
    static int have_openat2 = 1; /* shared by the loops of all threads */
    if (__atomic_load_n(&have_openat2, __ATOMIC_RELAXED)) {
        struct open_how how = {.flags = O_RDONLY | O_CLOEXEC,
                               .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
        long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
        if (fd >= 0)
            return (int)fd;
        if (errno != ENOSYS && errno != EPERM)
            return -errno;
        __atomic_store_n(&have_openat2, 0, __ATOMIC_RELAXED); /* no openat2 here, or a seccomp filter */
    }
    int fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static int static_handler(cio_http_request *req, cio_http_response *res, void *arg)
{
    route *r = arg;
    conn *c = CONN_OF_REQ(req);
    const char *rel = cio_http_request_param(req, "path");
    if (!rel)
        rel = "";
    /* lexical check on the decoded path: no ".." segment anywhere */
    for (const char *p = rel; *p;) {
        const char *e = strchrnul(p, '/');
        if (e - p == 2 && p[0] == '.' && p[1] == '.')
            return cio_http_response_text(res, 403, "Forbidden\n");
        p = *e ? e + 1 : e;
    }
    while (*rel == '/')
        rel++;
    size_t rl = strlen(rel);
    if (rl == 0 || rel[rl - 1] == '/') {
        char *p = arena_alloc(c, rl + sizeof "index.html");
        if (!p)
            return -ENOMEM;
        memcpy(p, rel, rl);
        memcpy(p + rl, "index.html", sizeof "index.html");
        rel = p;
    }
    int fd = open_beneath(r->dirfd, rel);
    if (fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
            int ifd = open_beneath(fd, "index.html");
            close(fd);
            fd = ifd;
            rel = "index.html";
        }
    }
    if (fd < 0) {
        if (fd == -ENOENT || fd == -ENOTDIR || fd == -ENAMETOOLONG)
            return cio_http_response_text(res, 404, "Not Found\n");
        if (fd == -EXDEV || fd == -ELOOP || fd == -EACCES || fd == -EPERM)
            return cio_http_response_text(res, 403, "Forbidden\n");
        return fd;
    }
    int rc = send_fd(c, fd, rel);
    if (rc == -EACCES || rc == -EISDIR)
        return cio_http_response_text(res, 404, "Not Found\n");
    return rc;
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
    rq->qname = arena_alloc(c, 2 * n * sizeof(char *));
    if (!rq->qname)
        return -ENOMEM;
    rq->qval = rq->qname + n;
    char *buf = arena_alloc(c, strlen(q) + 2 * n);
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
    if (!c->url_seen) {
        c->url_seen = true;
        c->url_off = (uint32_t)off;
    }
    c->url_end = (uint32_t)(off + len);
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    conn *c = p->data;
    if (c->phase != PH_HEAD)
        return 0; /* trailers: ignored */
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
    if (c->phase == PH_HEAD)
        c->last = LAST_FIELD_DONE;
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

/* Body pieces of one llhttp_execute are made contiguous in place (the
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
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    conn *c = p->data;
    c->msg_done = true;
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
};

/* ---- reading ------------------------------------------------------------ */

/* Reads more into the buffer (see cio__stream_fill_more). */
static ssize_t fill(conn *c, size_t max_cap, double deadline) { return cio__stream_fill_more(c->s, max_cap, deadline); }

/* ---- reading the body --------------------------------------------------- */

static int body_fail(conn *c, int status, int rc)
{
    if (status)
        c->body_err = status;
    else
        c->broken = true;
    c->body_rc = rc;
    return rc;
}

/* Makes body bytes ready in rbuf[span_off + span_given, span_off + span_len).
 * Returns 1 when some are, 0 at the end of the body, or an error. */
static int body_fill(conn *c)
{
    if (c->span_given < c->span_len)
        return 1;
    if (c->body_rc)
        return c->body_rc;
    if (c->msg_done)
        return 0;
    cio_stream *s = c->s;
    if (!c->body_started) {
        c->body_started = true;
        c->body_deadline = deadline_in(c->hs->o.body_timeout);
        if (c->expect && !c->continue_sent && !c->res.started) {
            if (out_reserve(c, 32) < 0)
                return body_fail(c, 0, -ENOMEM);
            out_str(c, "HTTP/1.1 100 Continue\r\n\r\n");
            c->continue_sent = true;
        }
    }
    for (;;) {
        c->span_len = c->span_given = 0;
        size_t n = s->rend - c->pos;
        llhttp_errno_t e = llhttp_execute(&c->p, s->rbuf + c->pos, n);
        if (e == HPE_OK) {
            c->pos += n;
        } else if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
            c->pos = (size_t)(llhttp_get_error_pos(&c->p) - s->rbuf);
            if (e == HPE_PAUSED) {
                llhttp_resume(&c->p);
            } else {
                c->msg_done = true;
                c->must_close = true;
            }
        } else {
            return body_fail(c, 400, CIO_EHTTP);
        }
        if (c->span_len) {
            c->body_total += c->span_len;
            if (c->body_total > c->hs->o.max_body_size)
                return body_fail(c, 413, CIO_ELIMITOVERRUN);
            return 1;
        }
        if (c->msg_done)
            return 0;
        /* everything after the head is parsed: read more into that room,
         * after sending what is owed (earlier responses, 100 Continue) */
        if (flush(c) < 0)
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
    int rc = body_fill(c);
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
    int rc = body_fill(c);
    if (rc < 0)
        return rc;
    if (rc > 0) {
        const char *p = c->s->rbuf + c->span_off + c->span_given;
        size_t l = c->span_len - c->span_given;
        c->span_given = c->span_len;
        if (c->msg_done) {
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
                rc = body_fill(c);
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
    char *d = arena_alloc(c, pl + 2);
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
            c->must_close = true;
            return 500;
        }
    }
    c->method = p->method;
    c->keepalive = llhttp_should_keep_alive(p);
    if (p->http_major != 1)
        return 505;
    rq->version = p->http_minor == 0 ? 10 : 11;
    rq->method = llhttp_method_name((llhttp_method_t)p->method);
    if (!c->url_seen)
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
        c->must_close = true; /* CONNECT / Upgrade: answered as plain HTTP, then closed */
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
        c->expect = rq->clen != 0;
    }
    c->phase = PH_BODY;
    return parse_target(c);
}

/* Reads and parses a request head.  Returns 0, an error status to answer,
 * or R_STOP to close without answering. */
static int read_head(conn *c, bool first)
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
        if (flush(c) < 0)
            return R_STOP;
        if (!started) {
            /* idle: nothing of the next request yet */
            if (hs->stopping)
                return R_STOP;
            s->rstart = s->rend = c->pos = 0;
            c->idle = true;
            ssize_t r = fill(c, cap_max, deadline_in(first ? hs->o.head_timeout : hs->o.keepalive_timeout));
            c->idle = false;
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
                c->broken = true;
            return R_STOP;
        }
    }
}

/* ---- serving ------------------------------------------------------------ */

static void request_reset(conn *c)
{
    memset(&c->req, 0, sizeof c->req);
    c->req.h = c->hdrs;
    c->req.query = "";
    c->req.path = c->req.target = "";
    c->req.method = "";
    c->req.version = 11;
    memset(&c->res, 0, sizeof c->res);
    c->res.status = 200;
    c->url_seen = false;
    c->last = LAST_NONE;
    c->perr = 0;
    c->phase = PH_HEAD;
    c->method = -1;
    c->keepalive = c->must_close = c->close_after = false;
    c->expect = c->continue_sent = c->msg_done = c->body_started = false;
    c->body_err = c->body_rc = 0;
    c->body_total = 0;
    c->span_off = c->span_len = c->span_given = 0;
    c->head_end = 0;
    c->uhlen = 0;
    arena_reset(c);
    if (c->bcap > 64 * 1024) { /* no large buffer kept for idle connections */
        free(c->bbuf);
        c->bbuf = NULL;
        c->bcap = 0;
    }
}

/* Answers with an error status (if nothing was sent yet) and marks the
 * connection for closing. */
static void send_error(conn *c, int status)
{
    cio_http_response *res = &c->res;
    c->must_close = true;
    if (res->started)
        return;
    c->uhlen = 0;
    memset(res, 0, sizeof *res);
    res->status = status;
    char body[64];
    snprintf(body, sizeof body, "%s\n", cio_http_status_reason(status));
    cio_http_response_text(res, status, body);
}

static bool match(const route *r, const char *path, const char **pv, size_t *pl, size_t *np)
{
    const char *p = path;
    size_t n = 0;
    for (size_t i = 0; i < r->nsegs; i++) {
        const seg *g = &r->segs[i];
        if (*p != '/')
            return false;
        p++;
        if (g->kind == SEG_TAIL) {
            pv[n] = p;
            pl[n++] = strlen(p);
            *np = n;
            return true;
        }
        const char *e = strchrnul(p, '/');
        size_t l = (size_t)(e - p);
        if (g->kind == SEG_LIT) {
            if (l != g->len || memcmp(p, g->s, l))
                return false;
        } else {
            if (l == 0)
                return false;
            pv[n] = p;
            pl[n++] = l;
        }
        p = e;
    }
    *np = n;
    return *p == '\0';
}

static int answer_405(conn *c, uint64_t allow)
{
    char buf[512];
    size_t n = 0;
    if (allow & (1ull << HTTP_GET))
        allow |= 1ull << HTTP_HEAD;
    for (int m = 0; m < 64; m++) {
        if (!(allow & (1ull << m)))
            continue;
        const char *name = llhttp_method_name((llhttp_method_t)m);
        size_t l = strlen(name);
        if (n + l + 3 > sizeof buf)
            break;
        if (n) {
            buf[n++] = ',';
            buf[n++] = ' ';
        }
        memcpy(buf + n, name, l);
        n += l;
    }
    buf[n] = '\0';
    int rc = cio_http_response_header(&c->res, "Allow", buf);
    return rc < 0 ? rc : cio_http_response_text(&c->res, 405, "Method Not Allowed\n");
}

/* Runs the handler for the parsed request, then settles the exchange. */
static void serve_request(conn *c)
{
    cio_http_server *hs = c->hs;
    cio_http_request *rq = &c->req;
    const char *pv[MAX_PARAMS];
    size_t pl[MAX_PARAMS], np = 0;
    route *r = NULL;
    uint64_t allow = 0;
    for (route *it = hs->routes; it; it = it->next) {
        if (!match(it, rq->path, pv, pl, &np))
            continue;
        if (it->method < 0 || it->method == c->method || (c->method == HTTP_HEAD && it->method == HTTP_GET)) {
            r = it;
            break;
        }
        allow |= 1ull << it->method;
    }
    int rc;
    if (r) {
        size_t k = 0;
        for (size_t i = 0; i < r->nsegs && k < np; i++) {
            if (r->segs[i].kind == SEG_LIT)
                continue;
            char *v = arena_alloc(c, pl[k] + 1);
            if (!v)
                break;
            memcpy(v, pv[k], pl[k]);
            v[pl[k]] = '\0';
            rq->pname[k] = r->segs[i].s;
            rq->pval[k] = v;
            k++;
        }
        rq->np = k;
        rc = k == np ? r->fn(rq, &c->res, r->arg) : -ENOMEM;
    } else if (allow) {
        rc = answer_405(c, allow);
    } else {
        rc = cio_http_response_text(&c->res, 404, "Not Found\n");
    }
    cio_http_response *res = &c->res;
    if (cio_task_cancelling(c->task) > 0 || c->broken) {
        c->broken = true; /* cancelled (shutdown deadline, server freed) or the connection broke */
        return;
    }
    if (c->body_err) {
        if (res->started && !res->done) {
            c->broken = true;
            return;
        }
        send_error(c, c->body_err);
    } else if (rc < 0 && !res->started) {
        c->uhlen = 0;
        memset(res, 0, sizeof *res);
        cio_http_response_text(res, 500, "Internal Server Error\n");
    } else if (rc < 0 && !res->done) {
        c->broken = true; /* a streamed response cut short: the client must see it */
        return;
    }
    if (!res->done)
        cio_http_response_end(res);
    if (!c->msg_done && c->req.clen == 0 && !c->body_rc)
        body_fill(c); /* a request without a body: llhttp completes it at once */
    if (c->broken || c->close_after || c->must_close)
        return;
    /* drop what the handler left of the body, if that is cheap */
    size_t dropped = 0;
    for (;;) {
        int b = body_fill(c);
        if (b == 0)
            break;
        if (b < 0) {
            c->must_close = true;
            break;
        }
        dropped += c->span_len - c->span_given;
        c->span_given = c->span_len;
        if (dropped > DISCARD_MAX) {
            c->must_close = true;
            break;
        }
    }
}

/* Closes the stream, flushing for at most write_timeout. */
static void close_stream(conn *c)
{
    cio_timeout sc;
    if (cio_timeout_enter(&sc, c->hs->o.write_timeout) < 0) {
        cio_stream_abort(c->s);
        return;
    }
    int rc = cio_stream_close(c->s); /* closes also on error or cancellation */
    cio_timeout_exit(&sc, rc);
}

/* Half-closes, then reads and drops what the client still sends for a
 * while, so that closing with unread data does not reset the connection
 * before the client has read our last response. */
static void linger_close(conn *c)
{
    cio_stream *s = c->s;
    if (flush(c) < 0 || c->broken) {
        cio_stream_abort(s);
        return;
    }
    cio_timeout sc;
    int rc = cio_timeout_enter(&sc, c->hs->o.write_timeout);
    if (rc == 0) {
        rc = cio_stream_write_eof(s);
        rc = cio_timeout_exit(&sc, rc);
    }
    if (rc < 0) {
        cio_stream_abort(s);
        return;
    }
    double deadline = deadline_in(LINGER_TIME);
    size_t total = 0;
    for (;;) {
        s->rstart = s->rend = 0;
        ssize_t r = cio__stream_fill_more(s, s->rcap ? s->rcap : 4096, deadline);
        if (r <= 0) {
            if (r == -ECANCELED) {
                cio_stream_abort(s);
                return;
            }
            break;
        }
        total += (size_t)r;
        if (total > LINGER_BYTES)
            break;
    }
    close_stream(c);
}

/* Whether the client may have sent more than we read: closing would then
 * reset the connection, and the client could lose our last response. */
static bool unread_input(conn *c)
{
    if (!c->msg_done || c->body_err || c->s->rend > c->pos)
        return true;
    int pending = 0;
    return ioctl(c->s->fd, FIONREAD, &pending) < 0 || pending > 0;
}

static int serve(conn *c)
{
    cio_stream *s = c->s;
    bool first = true;
    unsigned batch = 0;
    for (;;) {
        request_reset(c);
        int st = read_head(c, first);
        first = false;
        if (st == R_STOP)
            return c->broken ? END_ABORT : END_QUIET;
        if (st > 0) {
            send_error(c, st);
            return END_LINGER;
        }
        serve_request(c);
        if (c->broken)
            return END_ABORT;
        if (c->close_after || c->must_close)
            return unread_input(c) ? END_LINGER : END_CLOSE;
        s->rstart = c->pos; /* the next request starts here */
        if (++batch == FAIR_BATCH) {
            batch = 0;
            if (flush(c) < 0 || cio_yield() < 0)
                return END_ABORT;
        }
    }
}

static void server_unref(cio_http_server *hs)
{
    if (--hs->refs > 0)
        return;
    while (hs->routes) {
        route *r = hs->routes;
        hs->routes = r->next;
        if (r->dirfd >= 0)
            close(r->dirfd);
        free(r->segs);
        free(r->buf);
        free(r);
    }
    free(hs);
}

static void *conn_main(cio_stream *s, void *arg)
{
    cio_http_server *hs = arg;
    conn *c = malloc(sizeof *c + hs->o.max_headers * sizeof(hdr));
    if (!c)
        return NULL; /* the server closes the stream */
    memset(c, 0, sizeof *c);
    c->hs = hs;
    c->s = s;
    c->task = cio_current_task();
    llhttp_init(&c->p, HTTP_REQUEST, &settings);
    c->p.data = c;
    hs->refs++;
    hs->nconns++;
    cio__list_push_back(&hs->conns, &c->link);
    int how = hs->stopping ? END_QUIET : serve(c);
    if (how == END_ABORT)
        cio_stream_abort(s);
    else if (how == END_LINGER)
        linger_close(c);
    else if (flush(c) < 0)
        cio_stream_abort(s);
    else
        close_stream(c);
    cio__list_remove(&c->link);
    hs->nconns--;
    arena_reset(c);
    free(c->out);
    free(c->uh);
    free(c->bbuf);
    free(c);
    server_unref(hs);
    return NULL;
}

/* ---- the server --------------------------------------------------------- */

cio_http_server *cio_http_server_new(const cio_http_server_opts *opts)
{
    cio_http_server *hs = calloc(1, sizeof *hs);
    if (!hs) {
        errno = ENOMEM;
        return NULL;
    }
    if (opts)
        hs->o = *opts;
    cio_http_server_opts *o = &hs->o;
    if (!o->max_head_size)
        o->max_head_size = DEF_MAX_HEAD;
    if (o->max_head_size > (1u << 30))
        o->max_head_size = 1u << 30; /* offsets are 32-bit */
    if (!o->max_headers)
        o->max_headers = DEF_MAX_HEADERS;
    if (o->max_headers > 100000)
        o->max_headers = 100000;
    if (!o->max_body_size)
        o->max_body_size = DEF_MAX_BODY;
    if (o->head_timeout == 0)
        o->head_timeout = DEF_HEAD_TIMEOUT;
    if (o->body_timeout == 0)
        o->body_timeout = DEF_BODY_TIMEOUT;
    if (o->keepalive_timeout == 0)
        o->keepalive_timeout = DEF_KEEPALIVE;
    if (o->write_timeout == 0)
        o->write_timeout = DEF_WRITE_TIMEOUT;
    if (o->write_timeout < 0) /* none, for the timeout scopes it is given to */
        o->write_timeout = CIO_NO_TIMEOUT;
    hs->refs = 1;
    hs->tail = &hs->routes;
    cio__list_init(&hs->conns);
    return hs;
}

static int method_id(const char *m)
{
    for (int i = 0; i <= HTTP_FLUSH; i++) {
        const char *n = llhttp_method_name((llhttp_method_t)i);
        if (!strcmp(n, m))
            return i;
    }
    return -2;
}

/* Cuts pattern into segments (see cio_http_server_route). */
static int compile(route *r, const char *pattern)
{
    if (!pattern || pattern[0] != '/')
        return -EINVAL;
    r->buf = strdup(pattern + 1);
    if (!r->buf)
        return -ENOMEM;
    size_t n = 1;
    for (const char *p = r->buf; *p; p++)
        n += *p == '/';
    r->segs = calloc(n, sizeof *r->segs);
    if (!r->segs)
        return -ENOMEM;
    size_t nparams = 0;
    char *p = r->buf;
    for (size_t i = 0; i < n; i++) {
        char *e = strchrnul(p, '/');
        bool last = *e == '\0';
        *e = '\0';
        size_t l = (size_t)(e - p);
        seg *g = &r->segs[i];
        if (l && p[0] == '{') {
            if (l < 3 || p[l - 1] != '}')
                return -EINVAL;
            p[l - 1] = '\0';
            g->kind = SEG_PARAM;
            if (p[l - 2] == '*') {
                if (!last || l < 4)
                    return -EINVAL;
                p[l - 2] = '\0';
                g->kind = SEG_TAIL;
            }
            g->s = p + 1;
            g->len = strlen(g->s);
            if (strpbrk(g->s, "{}*") || ++nparams > MAX_PARAMS)
                return -EINVAL;
        } else {
            if (memchr(p, '{', l) || memchr(p, '}', l))
                return -EINVAL;
            g->kind = SEG_LIT;
            g->s = p;
            g->len = l;
        }
        p = e + 1;
    }
    r->nsegs = n;
    return 0;
}

static int add_route(cio_http_server *srv, int method, const char *pattern, cio_http_handler fn, void *arg,
                     route **out)
{
    route *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->method = method;
    r->fn = fn;
    r->arg = arg;
    r->dirfd = -1;
    int rc = compile(r, pattern);
    if (rc < 0) {
        free(r->segs);
        free(r->buf);
        free(r);
        return rc;
    }
    *srv->tail = r;
    srv->tail = &r->next;
    if (out)
        *out = r;
    return 0;
}

int cio_http_server_route(cio_http_server *srv, const char *method, const char *pattern, cio_http_handler handler,
                          void *arg)
{
    if (!handler)
        return -EINVAL;
    int m = method ? method_id(method) : -1;
    if (m == -2)
        return -EINVAL;
    return add_route(srv, m, pattern, handler, arg, NULL);
}

int cio_http_server_static(cio_http_server *srv, const char *prefix, const char *dir)
{
    if (!prefix || prefix[0] != '/' || strpbrk(prefix, "{}") || !dir)
        return -EINVAL;
    size_t pl = strlen(prefix);
    while (pl > 0 && prefix[pl - 1] == '/')
        pl--;
    char *pattern = malloc(pl + sizeof "/{path*}");
    if (!pattern)
        return -ENOMEM;
    memcpy(pattern, prefix, pl);
    memcpy(pattern + pl, "/{path*}", sizeof "/{path*}");
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        free(pattern);
        return -errno;
    }
    route *r;
    int rc = add_route(srv, HTTP_GET, pattern, static_handler, NULL, &r);
    free(pattern);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    r->arg = r;
    r->dirfd = fd;
    return 0;
}

int cio_http_server_listen(cio_http_server *srv, const char *host, const char *port)
{
    if (srv->srv)
        return CIO_EINVALSTATE;
    return cio_start_server(conn_main, srv, host, port, &srv->o.server, &srv->srv);
}

int cio_http_server_port(const cio_http_server *srv) { return srv->srv ? cio_server_port(srv->srv) : 0; }

size_t cio_http_server_connections(const cio_http_server *srv) { return srv->nconns; }

static void cancel_conns(cio_http_server *hs, bool idle_only)
{
    for (cio__link *it = hs->conns.next; it != &hs->conns; it = it->next) {
        conn *c = CIO__CONTAINER_OF(it, conn, link);
        if (!idle_only || c->idle)
            cio_cancel(c->task, NULL);
    }
}

int cio_http_server_serve_forever(cio_http_server *srv)
{
    if (!srv->srv)
        return CIO_EINVALSTATE;
    srv->refs++;
    int rc = cio_server_serve_forever(srv->srv);
    if (rc == -ECANCELED && srv->srv) {
        srv->stopping = true;
        cio_server_close(srv->srv);
        cancel_conns(srv, false);
        cio_server_wait_closed(srv->srv);
    }
    server_unref(srv);
    return rc;
}

int cio_http_server_shutdown(cio_http_server *srv, double timeout)
{
    srv->stopping = true;
    if (!srv->srv)
        return 0;
    srv->refs++;
    cio_server_close(srv->srv);
    cancel_conns(srv, true);
    cio_timeout sc;
    int rc = cio_timeout_enter(&sc, timeout < 0 ? CIO_NO_TIMEOUT : timeout);
    if (rc == 0) {
        rc = cio_server_wait_closed(srv->srv);
        rc = cio_timeout_exit(&sc, rc);
    }
    if (rc < 0 && srv->srv) {
        cancel_conns(srv, false);
        cio_server_wait_closed(srv->srv);
    }
    server_unref(srv);
    return rc;
}

void cio_http_server_free(cio_http_server *srv)
{
    if (!srv)
        return;
    srv->stopping = true;
    if (srv->srv) {
        cio_server_free(srv->srv); /* closes, cancels the connection tasks */
        srv->srv = NULL;
    }
    server_unref(srv);
}
