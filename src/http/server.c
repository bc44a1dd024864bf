/* SPDX-License-Identifier: MIT */
/* HTTP/1.1 server (aiohttp.web) on cio streams and llhttp: the connections
 * (their task, serving requests, lingering close) and the server object.
 * Routes are in route.c, requests read and parsed in request.c, responses
 * written in response.c, files served in static.c (httpd.h).
 *
 * One task per connection (a cio_start_server handler) serves its requests
 * in order: reads a head, routes it, runs the handler, finishes what the
 * handler left (the response, the body: dropped when small, else the
 * connection closes), and goes on with the next request.
 *
 * A connection's phase says where its exchange is (PH_IDLE: waiting for
 * the first byte of a request ... PH_DONE), its state what becomes of it
 * afterwards (CONN_OPEN: the next request, CONN_CLOSING, CONN_BROKEN:
 * aborted); see httpd.h.
 *
 * Shutdown: the server keeps a list of its connections; idle ones
 * (PH_IDLE) are cancelled at once, busy ones see `stopping` and answer
 * with Connection: close. */
#include "http/httpd.h"

#include <stdlib.h>
#include <sys/ioctl.h>

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

/* ---- serving ------------------------------------------------------------ */

/* Answers with an error status (if nothing was sent yet) and marks the
 * connection for closing. */
static void send_error(conn *c, int status)
{
    cio_http_response *res = &c->res;
    conn_closing(c);
    if (res->started)
        return;
    c->uhlen = 0;
    memset(res, 0, sizeof *res);
    res->status = status;
    char body[64];
    snprintf(body, sizeof body, "%s\n", cio_http_status_reason(status));
    cio_http_response_text(res, status, body);
}

/* The steps of serving a parsed request: find its route, bind the path
 * parameters, run the handler, finish what it left, discard the rest of
 * the body. */

/* Copies the matched parameters into the request (scratch memory).  0 or
 * -ENOMEM. */
static int bind_params(conn *c, const route *r, const route_match *m)
{
    cio_http_request *rq = &c->req;
    size_t k = 0;
    for (size_t i = 0; i < r->nsegs && k < m->np; i++) {
        if (r->segs[i].kind == SEG_LIT)
            continue;
        char *v = cio__http_arena_alloc(c, m->pl[k] + 1);
        if (!v)
            break;
        memcpy(v, m->pv[k], m->pl[k]);
        v[m->pl[k]] = '\0';
        rq->pname[k] = r->segs[i].s;
        rq->pval[k] = v;
        k++;
    }
    rq->np = k;
    return k == m->np ? 0 : -ENOMEM;
}

/* Settles the response after the handler returned rc: the error owed for
 * a bad body, a 500 for a failed handler, the end of what it left open.
 * Returns whether the connection may go on (else it is CONN_BROKEN). */
static bool finish_response(conn *c, int rc)
{
    cio_http_response *res = &c->res;
    if (cio_task_cancelling(c->task) > 0 || c->state == CONN_BROKEN) {
        conn_broken(c); /* cancelled (shutdown deadline, server freed) or the connection broke */
        return false;
    }
    if (c->body_err) {
        if (res->started && !res->done) {
            conn_broken(c);
            return false;
        }
        send_error(c, c->body_err);
    } else if (rc < 0 && !res->started) {
        c->uhlen = 0;
        memset(res, 0, sizeof *res);
        cio_http_response_text(res, 500, "Internal Server Error\n");
    } else if (rc < 0 && !res->done) {
        conn_broken(c); /* a streamed response cut short: the client must see it */
        return false;
    }
    if (!res->done)
        cio_http_response_end(res);
    return true;
}

/* Drops what the handler left of the body when that is cheap (up to
 * DISCARD_MAX), so the connection can take the next request; else it is
 * marked for closing. */
static void discard_body(conn *c)
{
    if (c->phase != PH_DONE && c->req.clen == 0 && !c->body_rc)
        cio__http_body_fill(c); /* a request without a body: llhttp completes it at once */
    if (c->state != CONN_OPEN)
        return;
    size_t dropped = 0;
    for (;;) {
        int b = cio__http_body_fill(c);
        if (b == 0)
            break;
        if (b < 0) {
            conn_closing(c);
            break;
        }
        dropped += c->span_len - c->span_given;
        c->span_given = c->span_len;
        if (dropped > DISCARD_MAX) {
            conn_closing(c);
            break;
        }
    }
}

static void serve_request(conn *c)
{
    route_match m;
    const route *r = cio__http_route_find(c->hs, c->req.path, c->method, &m);
    int rc;
    if (!r)
        rc = cio__http_answer_unrouted(&c->res, m.allow);
    else if ((rc = bind_params(c, r, &m)) == 0)
        rc = r->fn(&c->req, &c->res, r->arg);
    if (finish_response(c, rc))
        discard_body(c);
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
    if (cio__http_flush(c) < 0 || c->state == CONN_BROKEN) {
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
    if (c->phase != PH_DONE || c->body_err || c->s->rend > c->pos)
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
        cio__http_request_reset(c);
        int st = cio__http_read_head(c, first);
        first = false;
        if (st == R_STOP)
            return c->state == CONN_BROKEN ? END_ABORT : END_QUIET;
        if (st > 0) {
            send_error(c, st);
            return END_LINGER;
        }
        serve_request(c);
        if (c->state == CONN_BROKEN)
            return END_ABORT;
        if (c->state == CONN_CLOSING)
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
    cio__http_routes_free(hs);
    free(hs);
}

void *cio__http_conn_main(cio_stream *s, void *arg)
{
    cio_http_server *hs = arg;
    conn *c = malloc(sizeof *c + hs->o.max_headers * sizeof(hdr));
    if (!c)
        return NULL; /* the server closes the stream */
    memset(c, 0, sizeof *c);
    c->phase = PH_HEAD; /* PH_IDLE only while read_head waits for a first byte */
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
    cio__http_arena_reset(c);
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
        if (!idle_only || c->phase == PH_IDLE)
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
