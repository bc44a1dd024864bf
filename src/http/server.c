/* HTTP/1.1 server (aiohttp.web) on cio streams and llhttp: routes, the
 * connections and the server object.  Requests are parsed in parse.c,
 * responses written in response.c, paths resolved in static.c (httpd.h).
 *
 * One task per connection (a cio_start_server handler) serves its requests
 * in order: reads a head, routes it, runs the handler, finishes what the
 * handler left (the response, the body: dropped when small, else the
 * connection closes), and goes on with the next request.
 *
 * Shutdown: the server keeps a list of its connections, each with an
 * "idle" flag (waiting for the first byte of a request); idle ones are
 * cancelled at once, busy ones see `stopping` and answer with
 * Connection: close. */
#include "http/httpd.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define DEF_MAX_HEAD (16 * 1024)
#define DEF_MAX_HEADERS 100
#define DEF_MAX_BODY (1024 * 1024)
#define DEF_HEAD_TIMEOUT 10.0
#define DEF_BODY_TIMEOUT 30.0
#define DEF_KEEPALIVE 15.0
#define DEF_WRITE_TIMEOUT 30.0
#define LINGER_TIME 2.0          /* closing: how long to drain what the client still sends */
#define LINGER_BYTES (256 * 1024)
#define FAIR_BATCH 64            /* requests served in a row before yielding to other tasks */

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

static void arena_reset(conn *c)
{
    c->a0used = 0;
    while (c->ablocks) {
        ablock *b = c->ablocks;
        c->ablocks = b->next;
        free(b);
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
    c->field_seen = c->trailers = false;
    c->event = EV_NONE;
    c->ntrailers = c->frame_mark = c->frame_run = 0;
    c->excess = 0;
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
            char *v = cio__http_arena_alloc(c, pl[k] + 1);
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
        cio__http_body_fill(c); /* a request without a body: llhttp completes it at once */
    if (c->broken || c->close_after || c->must_close)
        return;
    /* drop what the handler left of the body, if that is cheap */
    size_t dropped = 0;
    for (;;) {
        int b = cio__http_body_fill(c);
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
    if (cio__http_flush(c) < 0 || c->broken) {
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
        int st = cio__http_read_head(c, first);
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
            if (cio__http_flush(c) < 0 || cio_yield() < 0)
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

void *cio__http_conn_main(cio_stream *s, void *arg)
{
    cio_http_server *hs = arg;
    conn *c = malloc(sizeof *c + hs->o.max_headers * sizeof(hdr));
    if (!c)
        return NULL; /* the server closes the stream */
    memset(c, 0, sizeof *c);
    c->hs = hs;
    c->s = s;
    c->task = cio_current_task();
    cio__http_parser_init(c);
    hs->refs++;
    hs->nconns++;
    cio__list_push_back(&hs->conns, &c->link);
    int how = hs->stopping ? END_QUIET : serve(c);
    if (how == END_ABORT)
        cio_stream_abort(s);
    else if (how == END_LINGER)
        linger_close(c);
    else if (cio__http_flush(c) < 0)
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
    int rc = add_route(srv, HTTP_GET, pattern, cio__http_static_handler, NULL, &r);
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
    return cio_start_server(cio__http_conn_main, srv, host, port, &srv->o.server, &srv->srv);
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
