/* SPDX-License-Identifier: MIT */
/* Stream servers (asyncio.start_server / start_unix_server):
 *
 *   127.0.0.1 port 0 with 100 concurrent clients, cio_server_port,
 *   serve_forever returning after close and cancelled, wait_closed waiting
 *   for the handlers, server_free with handlers still running (cancelled, no
 *   leak), handlers that close / abort / leave their stream (the server
 *   closes it, flushing), reuse_port, the dual-stack wildcard (127.0.0.1 and
 *   ::1), ipv6_only, unix servers, start errors, and EMFILE while accepting
 *   (in a forked child with a low RLIMIT_NOFILE: the server neither dies nor
 *   spins, and accepts again once fds are free).
 *
 * Exit 0 = pass. */
/* CIO_TEST: TIMEOUT=300 */
#include "check.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------- */

static bool have_ipv6(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

typedef struct stats {
    int started, finished, cancelled, active_max;
    cio_server *srv;
} stats;

/* Echoes lines until EOF; leaves the stream for the server to close. */
static void *echo_handler(cio_stream *s, void *arg)
{
    stats *st = arg;
    st->started++;
    if (st->srv && (int)cio_server_active(st->srv) > st->active_max)
        st->active_max = (int)cio_server_active(st->srv);
    for (;;) {
        const char *d;
        size_t n;
        int rc = cio_stream_readline(s, &d, &n);
        if (rc == -ECANCELED)
            st->cancelled++;
        if (rc < 0 || n == 0)
            break;
        if (cio_stream_write(s, d, n) < 0 || cio_stream_drain(s) < 0)
            break;
    }
    st->finished++;
    return NULL;
}

static char *port_str(cio_server *srv, char *buf)
{
    sprintf(buf, "%d", cio_server_port(srv));
    return buf;
}

/* Connects, sends one line, checks the echo. 0 or an error code. */
static int echo_once(const char *host, const char *port, const char *line)
{
    cio_stream *s;
    int rc = cio_open_connection(host, port, NULL, &s);
    if (rc < 0)
        return rc;
    size_t n = strlen(line);
    rc = cio_stream_write(s, line, n);
    const char *d;
    size_t got = 0;
    if (rc == 0)
        rc = cio_stream_readline(s, &d, &got);
    if (rc == 0 && (got != n || memcmp(d, line, n) != 0))
        rc = -EPROTO;
    int c = cio_stream_close(s);
    return rc < 0 ? rc : c;
}

typedef struct client {
    const char *host, *port;
    int id, rc;
} client;

static void *client_task(void *arg)
{
    client *c = arg;
    char line[64];
    snprintf(line, sizeof line, "hello from client %d\n", c->id);
    /* a few round trips on one connection */
    cio_stream *s;
    c->rc = cio_open_connection(c->host, c->port, NULL, &s);
    if (c->rc < 0)
        return NULL;
    for (int i = 0; i < 3 && c->rc == 0; i++) {
        c->rc = cio_stream_write(s, line, strlen(line));
        const char *d;
        size_t n;
        if (c->rc == 0)
            c->rc = cio_stream_readline(s, &d, &n);
        if (c->rc == 0 && (n != strlen(line) || memcmp(d, line, n) != 0))
            c->rc = -EPROTO;
    }
    if (c->rc == 0)
        c->rc = cio_stream_write_eof(s);
    if (c->rc == 0) {
        char b;
        c->rc = (int)cio_stream_read(s, &b, 1); /* the server's close: EOF */
    }
    int rc = cio_stream_close(s);
    if (c->rc == 0)
        c->rc = rc;
    return NULL;
}

static void wait_idle(cio_server *srv)
{
    for (int i = 0; i < 2000 && cio_server_active(srv) > 0; i++)
        cio_sleep(0.005);
}

/* ---- basics ------------------------------------------------------------------- */

static void *t_many_clients(void *arg)
{
    (void)arg;
    stats st = {0};
    cio_server *srv = NULL;
    CHECK_EQ(cio_start_server(echo_handler, &st, "127.0.0.1", "0", NULL, &srv), 0);
    if (!srv)
        return NULL;
    st.srv = srv;
    CHECK(cio_server_port(srv) > 0);
    int fds[4];
    CHECK_EQ(cio_server_sockets(srv, fds, 4), 1);
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    CHECK_EQ(getsockname(fds[0], (struct sockaddr *)&a, &al), 0);
    CHECK_EQ(ntohs(a.sin_port), cio_server_port(srv));
    CHECK_EQ(cio_server_active(srv), 0);
    char ps[16];
    enum { N = 100 };
    client cs[N];
    cio_task *ts[N];
    for (int i = 0; i < N; i++) {
        cs[i] = (client){.host = "127.0.0.1", .port = port_str(srv, ps), .id = i};
        ts[i] = cio_spawn(client_task, &cs[i]);
    }
    CHECK_EQ(cio_gather(ts, N, NULL, NULL, 0), 0);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(cs[i].rc, 0);
        cio_release(ts[i]);
    }
    wait_idle(srv);
    CHECK_EQ(st.started, N);
    CHECK_EQ(st.finished, N);
    CHECK(st.active_max > 1); /* handled concurrently */
    CHECK_EQ(cio_server_active(srv), 0);
    cio_server_close(srv);
    CHECK_EQ(cio_server_sockets(srv, fds, 4), 0);
    CHECK_EQ(cio_server_wait_closed(srv), 0);
    cio_server_free(srv);
    fprintf(stderr, "  %d clients, at most %d handled at once\n", N, st.active_max);
    return NULL;
}

typedef struct sf {
    cio_server *srv;
    int rc;
} sf;

static void *serve_task(void *arg)
{
    sf *x = arg;
    x->rc = cio_server_serve_forever(x->srv);
    return NULL;
}

static void *t_serve_forever(void *arg)
{
    (void)arg;
    stats st = {0};
    char ps[16];
    /* returns once the server is closed */
    cio_server *srv;
    CHECK_EQ(cio_start_server(echo_handler, &st, "127.0.0.1", "0", NULL, &srv), 0);
    port_str(srv, ps);
    sf x = {.srv = srv, .rc = 1};
    cio_task *t = cio_spawn(serve_task, &x);
    CHECK_EQ(echo_once("127.0.0.1", ps, "one\n"), 0);
    CHECK(!cio_done(t));
    cio_server_close(srv);
    cio_await(t, NULL);
    CHECK_EQ(x.rc, 0);
    cio_release(t);
    CHECK_EQ(echo_once("127.0.0.1", ps, "two\n"), -ECONNREFUSED);
    CHECK_EQ(cio_server_serve_forever(srv), 0); /* already closed: at once */
    CHECK_EQ(cio_server_wait_closed(srv), 0);
    cio_server_free(srv);

    /* cancelled: closes the server and returns -ECANCELED */
    CHECK_EQ(cio_start_server(echo_handler, &st, "127.0.0.1", "0", NULL, &srv), 0);
    port_str(srv, ps);
    x = (sf){.srv = srv, .rc = 1};
    t = cio_spawn(serve_task, &x);
    cio_sleep(0.01);
    cio_cancel(t, NULL);
    cio_await(t, NULL);
    CHECK_EQ(x.rc, -ECANCELED);
    CHECK(cio_cancelled(t));
    cio_release(t);
    int fds[2];
    CHECK_EQ(cio_server_sockets(srv, fds, 2), 0);
    CHECK_EQ(echo_once("127.0.0.1", ps, "three\n"), -ECONNREFUSED);
    cio_server_free(srv);

    /* the server can be freed by another task while serve_forever waits */
    CHECK_EQ(cio_start_server(echo_handler, &st, "127.0.0.1", "0", NULL, &srv), 0);
    x = (sf){.srv = srv, .rc = 1};
    t = cio_spawn(serve_task, &x);
    cio_sleep(0.01);
    cio_server_free(srv);
    cio_await(t, NULL);
    CHECK_EQ(x.rc, 0);
    cio_release(t);
    return NULL;
}

/* ---- handlers and the server's life cycle -------------------------------------------- */

typedef struct slow {
    cio_event *go;
    int started;
    int done;
    int cancelled;
} slow;

/* Echoes one line after the event is set. */
static void *slow_handler(cio_stream *s, void *arg)
{
    slow *sl = arg;
    sl->started++;
    const char *d;
    size_t n;
    int rc = cio_stream_readline(s, &d, &n);
    if (rc == 0) {
        char line[64];
        snprintf(line, sizeof line, "%.*s", (int)n, d);
        rc = cio_event_wait(sl->go);
        if (rc == 0)
            rc = cio_stream_write(s, line, strlen(line));
    }
    if (rc == -ECANCELED)
        sl->cancelled++;
    sl->done++;
    return NULL;
}

typedef struct wc {
    cio_server *srv;
    double returned_at;
    int done_then;
    slow *sl;
} wc;

static void *wait_closed_task(void *arg)
{
    wc *w = arg;
    CHECK_EQ(cio_server_wait_closed(w->srv), 0);
    w->returned_at = cio_time();
    w->done_then = w->sl->done;
    return NULL;
}

static void *t_wait_closed(void *arg)
{
    (void)arg;
    slow sl = {.go = cio_event_new()};
    cio_server *srv;
    CHECK_EQ(cio_start_server(slow_handler, &sl, "127.0.0.1", "0", NULL, &srv), 0);
    char ps[16];
    port_str(srv, ps);
    cio_stream *c[3];
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(cio_open_connection("127.0.0.1", ps, NULL, &c[i]), 0);
        CHECK_EQ(cio_stream_write(c[i], "ping\n", 5), 0);
    }
    for (int i = 0; i < 2000 && cio_server_active(srv) < 3; i++)
        cio_sleep(0.005);
    CHECK_EQ(cio_server_active(srv), 3);
    wc w = {.srv = srv, .sl = &sl};
    cio_task *t = cio_spawn(wait_closed_task, &w);
    cio_sleep(0.05);
    CHECK(!cio_done(t)); /* not closed yet */
    cio_server_close(srv);
    cio_sleep(0.05);
    CHECK(!cio_done(t)); /* closed, but handlers are running */
    /* connections being handled go on after close */
    double t0 = cio_time();
    cio_event_set(sl.go);
    for (int i = 0; i < 3; i++) {
        const char *d;
        size_t n;
        CHECK_EQ(cio_stream_readline(c[i], &d, &n), 0);
        CHECK(n == 5 && memcmp(d, "ping\n", 5) == 0);
        cio_stream_close(c[i]);
    }
    cio_await(t, NULL);
    CHECK(w.returned_at >= t0);
    CHECK_EQ(w.done_then, 3);
    CHECK_EQ(cio_server_active(srv), 0);
    cio_release(t);
    cio_server_free(srv);
    cio_event_free(sl.go);
    return NULL;
}

/* Freed with handlers still running: they are cancelled, nothing leaks. */
static void *t_free_with_handlers(void *arg)
{
    (void)arg;
    slow sl = {.go = cio_event_new()};
    cio_server *srv;
    CHECK_EQ(cio_start_server(slow_handler, &sl, "127.0.0.1", "0", NULL, &srv), 0);
    char ps[16];
    port_str(srv, ps);
    enum { N = 5 };
    cio_stream *c[N];
    for (int i = 0; i < N; i++) {
        CHECK_EQ(cio_open_connection("127.0.0.1", ps, NULL, &c[i]), 0);
        if (i % 2) /* some parked in readline, some in the event */
            CHECK_EQ(cio_stream_write(c[i], "ping\n", 5), 0);
    }
    for (int i = 0; i < 2000 && sl.started < N; i++)
        cio_sleep(0.005);
    CHECK_EQ(sl.started, N);
    CHECK_EQ(cio_server_active(srv), N);
    cio_server_free(srv);
    for (int i = 0; i < 2000 && sl.done < N; i++)
        cio_sleep(0.005);
    CHECK_EQ(sl.done, N);
    CHECK_EQ(sl.cancelled, N);
    /* the clients see the connections end */
    for (int i = 0; i < N; i++) {
        char b;
        ssize_t r = cio_stream_read(c[i], &b, 1);
        CHECK(r == 0 || r == -ECONNRESET);
        cio_stream_abort(c[i]);
    }

    /* freed just after the connections were accepted, before (some of) the
     * handler tasks ever ran: those never run, and nothing leaks */
    sl = (slow){.go = sl.go};
    CHECK_EQ(cio_start_server(slow_handler, &sl, "127.0.0.1", "0", NULL, &srv), 0);
    port_str(srv, ps);
    for (int i = 0; i < N; i++)
        CHECK_EQ(cio_open_connection("127.0.0.1", ps, NULL, &c[i]), 0);
    for (int i = 0; i < 2000 && cio_server_active(srv) < N; i++)
        cio_yield();
    CHECK_EQ(cio_server_active(srv), N);
    int started = sl.started;
    cio_server_free(srv);
    cio_sleep(0.02);
    CHECK(started < N);
    CHECK_EQ(sl.done, sl.started);
    CHECK_EQ(sl.cancelled, sl.started);
    for (int i = 0; i < N; i++) {
        char b;
        ssize_t r = cio_stream_read(c[i], &b, 1);
        CHECK(r == 0 || r == -ECONNRESET);
        cio_stream_abort(c[i]);
    }
    cio_event_free(sl.go);
    return NULL;
}

/* What handlers do with their stream: close it, abort it, or leave it
 * (with data still buffered) for the server to close. */
enum { H_CLOSE, H_ABORT, H_LEAVE, H_LEAVE_BIG, H_CLOSE_PARKED, H_STUCK_RESET, H_STUCK_FREE };

typedef struct hmode {
    int mode;
    int done;
    cio_stream *leaked; /* for H_CLOSE_PARKED: closed by another task */
} hmode;

static void *reader_of(void *arg)
{
    char b[8];
    return (void *)(intptr_t)cio_stream_read(arg, b, sizeof b);
}

/* Small socket buffers on fd, so that a big write must stay in the
 * writer's buffer however large the kernel's defaults are (loopback
 * buffers of several MiB would otherwise absorb it). */
static void small_bufs(int fd)
{
    int sz = 4096;
    CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz), 0);
    CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz), 0);
}

static void *mode_handler(cio_stream *s, void *arg)
{
    hmode *h = arg;
    CHECK_EQ(cio_stream_write(s, "hi\n", 3), 0);
    if (h->mode == H_CLOSE) {
        CHECK_EQ(cio_stream_close(s), 0);
    } else if (h->mode == H_ABORT) {
        cio_stream_drain(s);
        cio_sleep(0.01);
        cio_stream_abort(s);
    } else if (h->mode == H_LEAVE_BIG || h->mode == H_STUCK_RESET || h->mode == H_STUCK_FREE) {
        small_bufs(cio_stream_fd(s));
        char *big = malloc(4u << 20);
        memset(big, 'B', 4u << 20);
        CHECK_EQ(cio_stream_write(s, big, 4u << 20), 0); /* buffered: the client reads slowly */
        free(big);
    } else if (h->mode == H_CLOSE_PARKED) {
        /* another task is parked reading when the handler closes */
        cio_task *t = cio_spawn(reader_of, s);
        cio_sleep(0.01);
        CHECK_EQ(cio_stream_close(s), 0);
        void *r;
        cio_await(t, &r);
        CHECK((intptr_t)r < 0);
        cio_release(t);
    }
    h->done++;
    return NULL;
}

static void *t_handler_modes(void *arg)
{
    (void)arg;
    for (int mode = H_CLOSE; mode <= H_STUCK_FREE; mode++) {
        hmode h = {.mode = mode};
        cio_server *srv;
        CHECK_EQ(cio_start_server(mode_handler, &h, "127.0.0.1", "0", NULL, &srv), 0);
        char ps[16];
        cio_stream *c;
        CHECK_EQ(cio_open_connection("127.0.0.1", port_str(srv, ps), NULL, &c), 0);
        small_bufs(cio_stream_fd(c)); /* both ends: the 4 MiB must stay buffered */
        const char *d;
        size_t n;
        CHECK_EQ(cio_stream_readline(c, &d, &n), 0);
        CHECK(n == 3 && memcmp(d, "hi\n", 3) == 0);
        if (mode == H_STUCK_RESET || mode == H_STUCK_FREE) {
            /* the client never reads what the server must flush when the
             * handler returns; then it resets the connection, or the
             * server is freed, while the server's close is flushing */
            for (int i = 0; i < 2000 && h.done == 0; i++)
                cio_sleep(0.005);
            cio_sleep(0.02);
            CHECK_EQ(cio_server_active(srv), 1);
            if (mode == H_STUCK_RESET) {
                cio_stream_abort(c);
                wait_idle(srv);
                CHECK_EQ(cio_server_active(srv), 0);
                cio_server_free(srv);
            } else {
                cio_server_free(srv);
                cio_sleep(0.02);
                cio_stream_abort(c);
            }
            continue;
        }
        if (mode == H_LEAVE_BIG) {
            cio_sleep(0.05); /* the handler has returned; the server flushes */
            char *all;
            CHECK_EQ(cio_stream_read_all(c, &all, &n), 0);
            CHECK_EQ(n, 4u << 20);
            CHECK(n > 0 && all[0] == 'B' && all[n - 1] == 'B');
            free(all);
        } else {
            char b;
            ssize_t r = cio_stream_read(c, &b, 1);
            if (mode == H_ABORT)
                CHECK_EQ(r, -ECONNRESET);
            else
                CHECK_EQ(r, 0);
        }
        cio_stream_close(c);
        wait_idle(srv);
        CHECK_EQ(h.done, 1);
        CHECK_EQ(cio_server_active(srv), 0);
        cio_server_free(srv);
    }
    return NULL;
}

/* ---- addresses ------------------------------------------------------------------- */

typedef struct tagged {
    int hits;
} tagged;

static void *tag_handler(cio_stream *s, void *arg)
{
    tagged *t = arg;
    t->hits++;
    cio_stream_write(s, "x\n", 2);
    return NULL;
}

static void *t_reuse_port(void *arg)
{
    (void)arg;
    tagged ta = {0}, tb = {0};
    cio_server *a, *b;
    cio_server_opts o = {.reuse_port = true};
    CHECK_EQ(cio_start_server(tag_handler, &ta, "127.0.0.1", "0", &o, &a), 0);
    char ps[16];
    port_str(a, ps);
    CHECK_EQ(cio_start_server(tag_handler, &tb, "127.0.0.1", ps, &o, &b), 0);
    CHECK_EQ(cio_server_port(b), cio_server_port(a));
    /* without reuse_port the port is taken */
    cio_server *c = (cio_server *)1;
    CHECK_EQ(cio_start_server(tag_handler, &tb, "127.0.0.1", ps, NULL, &c), -EADDRINUSE);
    CHECK(c == NULL);
    /* the kernel spreads connections over both */
    for (int i = 0; i < 64; i++) {
        cio_stream *s;
        CHECK_EQ(cio_open_connection("127.0.0.1", ps, NULL, &s), 0);
        const char *d;
        size_t n;
        CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
        cio_stream_close(s);
    }
    CHECK_EQ(ta.hits + tb.hits, 64);
    CHECK(ta.hits > 0);
    CHECK(tb.hits > 0);
    fprintf(stderr, "  reuse_port: %d + %d connections\n", ta.hits, tb.hits);
    wait_idle(a);
    wait_idle(b);
    cio_server_free(a);
    cio_server_free(b);
    return NULL;
}

static void *t_dual_stack(void *arg)
{
    (void)arg;
    stats st = {0};
    cio_server *srv;
    CHECK_EQ(cio_start_server(echo_handler, &st, NULL, "0", NULL, &srv), 0);
    char ps[16];
    port_str(srv, ps);
    CHECK(cio_server_port(srv) > 0);
    CHECK_EQ(echo_once("127.0.0.1", ps, "v4\n"), 0);
    CHECK_EQ(echo_once("localhost", ps, "by name\n"), 0);
    if (have_ipv6())
        CHECK_EQ(echo_once("::1", ps, "v6\n"), 0);
    else
        fprintf(stderr, "  (no IPv6 here: ::1 part skipped)\n");
    wait_idle(srv);
    cio_server_free(srv);

    if (have_ipv6()) {
        /* ipv6_only: the wildcard takes IPv6 only */
        cio_server_opts o = {.ipv6_only = true};
        CHECK_EQ(cio_start_server(echo_handler, &st, NULL, "0", &o, &srv), 0);
        port_str(srv, ps);
        CHECK_EQ(echo_once("::1", ps, "v6\n"), 0);
        CHECK_EQ(echo_once("127.0.0.1", ps, "v4\n"), -ECONNREFUSED);
        wait_idle(srv);
        cio_server_free(srv);
        /* an explicit IPv6 address */
        CHECK_EQ(cio_start_server(echo_handler, &st, "::1", "0", NULL, &srv), 0);
        port_str(srv, ps);
        CHECK_EQ(echo_once("::1", ps, "v6\n"), 0);
        wait_idle(srv);
        cio_server_free(srv);
    }
    /* a host name, port 0 */
    CHECK_EQ(cio_start_server(echo_handler, &st, "localhost", "0", NULL, &srv), 0);
    if (srv) {
        port_str(srv, ps);
        CHECK(cio_server_port(srv) > 0);
        CHECK_EQ(echo_once("127.0.0.1", ps, "named\n"), 0);
        wait_idle(srv);
        cio_server_free(srv);
    }
    return NULL;
}

static void *t_unix_server(void *arg)
{
    (void)arg;
    char path[64];
    snprintf(path, sizeof path, "/tmp/cio-test-server-%d.sock", (int)getpid());
    unlink(path);
    stats st = {0};
    cio_server *srv;
    CHECK_EQ(cio_start_unix_server(echo_handler, &st, path, NULL, &srv), 0);
    CHECK_EQ(cio_server_port(srv), 0);
    CHECK_EQ(access(path, F_OK), 0);
    /* the path is taken while it serves */
    cio_server *other = (cio_server *)1;
    CHECK_EQ(cio_start_unix_server(echo_handler, &st, path, NULL, &other), -EADDRINUSE);
    CHECK(other == NULL);
    for (int i = 0; i < 5; i++) {
        cio_stream *s;
        CHECK_EQ(cio_open_unix_connection(path, NULL, &s), 0);
        CHECK_EQ(cio_stream_write(s, "unix\n", 5), 0);
        const char *d;
        size_t n;
        CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
        CHECK(n == 5 && memcmp(d, "unix\n", 5) == 0);
        CHECK_EQ(cio_stream_close(s), 0);
    }
    wait_idle(srv);
    CHECK_EQ(st.finished, 5);
    cio_server_close(srv);
    CHECK(access(path, F_OK) < 0); /* removed on close */
    cio_stream *s = (cio_stream *)1;
    CHECK(cio_open_unix_connection(path, NULL, &s) < 0);
    cio_server_free(srv);
    char longp[200];
    memset(longp, 'p', sizeof longp - 1);
    longp[sizeof longp - 1] = 0;
    CHECK_EQ(cio_start_unix_server(echo_handler, &st, longp, NULL, &srv), -ENAMETOOLONG);
    return NULL;
}

static void *t_start_errors(void *arg)
{
    (void)arg;
    stats st = {0};
    cio_server *srv = (cio_server *)1;
    CHECK_EQ(cio_start_server(NULL, &st, "127.0.0.1", "0", NULL, &srv), -EINVAL);
    CHECK(srv == NULL);
    cio_timeout to;
    cio_timeout_enter(&to, 4);
    int rc = cio_timeout_exit(&to, cio_start_server(echo_handler, &st, "cio-no-such-host.invalid", "0", NULL, &srv));
    CHECK(rc == CIO_EDNS || rc == -ETIMEDOUT);
    CHECK(srv == NULL);
    /* an address that is not ours */
    CHECK_EQ(cio_start_server(echo_handler, &st, "192.0.2.200", "0", NULL, &srv), -EADDRNOTAVAIL);
    return NULL;
}

/* ---- EMFILE --------------------------------------------------------------------------- */

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

static void *t_emfile_child(void *arg)
{
    (void)arg;
    stats st = {0};
    cio_server *srv;
    CHECK_EQ(cio_start_server(echo_handler, &st, "127.0.0.1", "0", NULL, &srv), 0);
    if (!srv)
        return NULL;
    st.srv = srv;
    /* clients connect (blocking, in the kernel's backlog) before the
     * acceptor had a chance to run; then every fd left is taken */
    enum { K = 8 };
    int cl[K];
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cio_server_port(srv))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < K; i++) {
        cl[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK_EQ(connect(cl[i], (struct sockaddr *)&a, sizeof a), 0);
        fcntl(cl[i], F_SETFL, O_NONBLOCK);
    }
    int hog[1024], nhog = 0;
    while (nhog < 1024) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            CHECK_EQ(errno, EMFILE);
            break;
        }
        hog[nhog++] = fd;
    }
    CHECK(nhog < 1024);
    /* one second out of fds, with connections waiting: no spinning */
    double c0 = cpu_seconds(), t0 = cio_time();
    cio_sleep(1.0);
    double cpu = cpu_seconds() - c0, wall = cio_time() - t0;
    fprintf(stderr, "  out of fds for %.2f s: %.3f s of CPU\n", wall, cpu);
    CHECK(cpu < 0.25);
    CHECK_EQ(cio_server_active(srv), 0);
    int lfds[2];
    CHECK_EQ(cio_server_sockets(srv, lfds, 2), 1); /* still listening */
    /* fds free again: every waiting client is served */
    for (int i = 0; i < nhog; i++)
        close(hog[i]);
    double t1 = cio_time();
    for (int i = 0; i < K; i++) {
        CHECK_EQ(cio_sock_sendall(cl[i], "ping\n", 5), 0);
        char buf[8];
        size_t got = 0;
        cio_timeout to;
        cio_timeout_enter(&to, 2);
        while (got < 5) {
            ssize_t r = cio_sock_recv(cl[i], buf + got, sizeof buf - got);
            if (r <= 0) {
                CHECK(r > 0);
                break;
            }
            got += (size_t)r;
        }
        CHECK_EQ(cio_timeout_exit(&to, 0), 0);
        CHECK(got == 5 && memcmp(buf, "ping\n", 5) == 0);
    }
    fprintf(stderr, "  accepting again %.3f s after fds were freed\n", cio_time() - t1);
    for (int i = 0; i < K; i++)
        cio_close(cl[i]);
    wait_idle(srv);
    CHECK_EQ(st.finished, K);
    cio_server_free(srv);
    return NULL;
}

static void t_emfile(void)
{
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        check_failures = 0;
        /* room for what is open now plus a few dozen more */
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        int open_now = check_count_fds();
        rlim_t lim = (rlim_t)open_now + 40;
        for (int fd = 0; fd < 4096; fd++) /* the limit bounds fd numbers */
            if (fcntl(fd, F_GETFD) >= 0 && (rlim_t)fd + 40 > lim)
                lim = (rlim_t)fd + 40;
        if (lim < rl.rlim_cur)
            rl.rlim_cur = lim;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            _exit(77);
        RUN_TASK_TEST(t_emfile_child);
        _exit(check_failures ? 1 : 0);
    }
    check_current = "t_emfile";
    int st = 0;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
        fprintf(stderr, "skip t_emfile (cannot lower RLIMIT_NOFILE)\n");
        return;
    }
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL);
    RUN_TASK_TEST(t_many_clients);
    RUN_TASK_TEST(t_serve_forever);
    RUN_TASK_TEST(t_wait_closed);
    RUN_TASK_TEST(t_free_with_handlers);
    RUN_TASK_TEST(t_handler_modes);
    RUN_TASK_TEST(t_reuse_port);
    RUN_TASK_TEST(t_dual_stack);
    RUN_TASK_TEST(t_unix_server);
    RUN_TASK_TEST(t_start_errors);
    RUN_TEST(t_emfile);
    return check_exit();
}
