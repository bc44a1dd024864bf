/* SPDX-License-Identifier: MIT */
/* The HTTP server's internals (cio_http_server_*), shared by its files:
 *   server.c    connections and their task, serving a request, lingering
 *               close, the server object
 *   route.c     patterns, method ids, matching, 405
 *   request.c   requests: scratch memory, accessors, the query, llhttp's
 *               callbacks, reading the head and the body
 *   response.c  responses: status reasons, dates, the output buffer, heads,
 *               bodies
 *   static.c    content types, opening paths beneath a directory, sending
 *               files, the static routes
 * See server.c for the design. */
#ifndef CIO_HTTP_HTTPD_H
#define CIO_HTTP_HTTPD_H

#include "http/http.h"

#include <llhttp.h>
#include <string.h>
#include <time.h>

#define DISCARD_MAX (64 * 1024)  /* unread request bodies up to this are dropped, keeping the connection */
#define MAX_PARAMS 16            /* path parameters per route */
#define ARENA0 1024              /* per-connection scratch memory before any malloc */
#define OUT_FLUSH (64 * 1024)    /* batched responses are written out beyond this */
#define COPY_MAX (16 * 1024)     /* larger bodies are written from the caller's memory */

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

/* A path's match: the parameters' spans in the path, and the methods of
 * the routes whose pattern fit but not the method (bits by llhttp id). */
typedef struct route_match {
    const char *pv[MAX_PARAMS];
    size_t pl[MAX_PARAMS], np;
    uint64_t allow;
} route_match;

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
enum { EV_NONE, EV_CHUNK_HEADER, EV_CHUNK_DONE }; /* why llhttp paused in a chunked body */

/* Where the exchange is: waiting for the first byte of a request (the
 * only phase shutdown cancels at once), its head arriving, its body (the
 * handler runs), the request complete (llhttp finished it). */
typedef enum { PH_IDLE, PH_HEAD, PH_BODY, PH_DONE } conn_phase;

/* What becomes of the connection after this exchange: it takes the next
 * request, it closes (an error was answered, the response said
 * Connection: close, a body too large to drop), or it is unusable and is
 * aborted (a write failed, the task was cancelled, a response was cut
 * short).  Only ever moves forward (conn_closing, conn_broken). */
typedef enum { CONN_OPEN, CONN_CLOSING, CONN_BROKEN } conn_state;

/* The exchange's flags (conn.flags). */
enum {
    CF_URL_SEEN = 1u << 0,       /* llhttp reported (part of) the target */
    CF_FIELD_SEEN = 1u << 1,     /* the header (or trailer) name being parsed has bytes */
    CF_KEEPALIVE = 1u << 2,      /* the request allows another one after it */
    CF_EXPECT = 1u << 3,         /* Expect: 100-continue with a body */
    CF_CONTINUE_SENT = 1u << 4,  /* ...and "100 Continue" is in the output */
    CF_BODY_STARTED = 1u << 5,   /* the handler started reading the body */
    CF_TRAILERS = 1u << 6,       /* past the last chunk */
};
enum { END_QUIET, END_CLOSE, END_LINGER, END_ABORT };
enum { MODE_LENGTH, MODE_CHUNKED }; /* how a response's body is framed */
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
    int last;   /* LAST_*: the header piece seen last */
    int perr;   /* status for an error found in a callback */
    int method; /* llhttp method */
    /* the exchange */
    conn_phase phase;
    conn_state state;
    unsigned flags;     /* CF_* */
    int event;          /* EV_*: the chunk boundary llhttp paused at */
    size_t ntrailers;
    size_t frame_mark;  /* chunk framing is counted up to this offset in rbuf */
    size_t frame_run;   /* framing bytes since the last chunk boundary (or trailer bytes) */
    uint64_t excess;    /* chunk framing beyond what the chunks' data allows (EXCESS_MAX) */
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

/* The connection closes after this exchange (unless it is broken already). */
static inline void conn_closing(conn *c)
{
    if (c->state == CONN_OPEN)
        c->state = CONN_CLOSING;
}

/* The connection is unusable: it is aborted after this exchange. */
static inline void conn_broken(conn *c) { c->state = CONN_BROKEN; }

static inline double deadline_in(double t) { return t < 0 ? -1 : cio_time() + t; }

/* RFC 9110 tchar: the characters of header names and methods. */
static inline bool is_tchar(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* route.c: adds a route (method: llhttp id, -1: any) at the end of srv's
 * list; its handler is fn(req, res, arg); *out (if out) is the route.
 * 0, -EINVAL (a bad pattern) or -ENOMEM.  Never suspends. */
int cio__http_route_add(cio_http_server *srv, int method, const char *pattern, cio_http_handler fn, void *arg,
                        route **out);
/* route.c: frees srv's routes (and closes the static routes' directories). */
void cio__http_routes_free(cio_http_server *srv);
/* route.c: the first route matching path and method (llhttp id; a GET
 * route answers HEAD), with the parameters in *m; NULL if none, with the
 * methods of the routes matching only the path in m->allow. */
const route *cio__http_route_find(const cio_http_server *srv, const char *path, int method, route_match *m);
/* route.c: answers a request no route took: 405 with an Allow header
 * listing allow's methods, or 404 if allow is 0.  As
 * cio_http_response_text. */
int cio__http_answer_unrouted(cio_http_response *res, uint64_t allow);

/* request.c: n bytes of the request's scratch memory (freed when the next
 * request starts), or NULL.  Never suspends. */
void *cio__http_arena_alloc(conn *c, size_t n);
/* request.c: frees the scratch memory. */
void cio__http_arena_reset(conn *c);
/* request.c: readies c for its next request (request, response, parser
 * state, scratch memory). */
void cio__http_request_reset(conn *c);
/* request.c: sets up c's parser (llhttp with the server's callbacks). */
void cio__http_parser_init(conn *c);
/* request.c: reads and parses a request head.  Returns 0, an error status
 * to answer, or R_STOP to close without answering.  Suspends. */
int cio__http_read_head(conn *c, bool first);
/* request.c: makes body bytes ready in rbuf[span_off + span_given,
 * span_off + span_len).  Returns 1 when some are, 0 at the end of the body,
 * or an error (the status owed is then in body_err).  Suspends. */
int cio__http_body_fill(conn *c);

/* response.c: the output buffer has room for n more bytes.  0 or -ENOMEM. */
int cio__http_out_reserve(conn *c, size_t n);
/* response.c: writes out the batched output (waiting, bounded by
 * write_timeout, while the client holds it back).  0 or the connection's
 * error (the connection is then broken).  Suspends. */
int cio__http_flush(conn *c);
/* response.c: cio__http_flush once the output holds OUT_FLUSH bytes. */
int cio__http_maybe_flush(conn *c);
/* response.c: marks the connection broken (a write failed); returns rc. */
int cio__http_fail_write(conn *c, int rc);
/* response.c: appends "100 Continue" to the output.  0 or -ENOMEM. */
int cio__http_continue(conn *c);
/* response.c: appends the status line and headers (framing: MODE_*, len
 * the Content-Length of MODE_LENGTH) and marks the response started.  0 or
 * -ENOMEM.  Never suspends. */
int cio__http_emit_head(conn *c, int mode, uint64_t len);
/* response.c: t as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") in out. */
void cio__http_fmt_date(time_t t, char *out, size_t n);

#endif
