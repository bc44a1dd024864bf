/* SPDX-License-Identifier: MIT */
/* Fixtures of tests/conformance/test_events.c: running the loop in rounds,
 * callbacks recording what they got, readers and writers,
 * the child programs of the subprocess tests, and MyProto's counterpart
 * for servers and connections (a connection handler on streams), TLS
 * servers and clients on the certificates of tests/pki.h. */
#ifndef CIO_CONF_EVENTS_FIXTURE_H
#define CIO_CONF_EVENTS_FIXTURE_H

#include "conformance.h"

#include <arpa/inet.h>
#include <semaphore.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void stop_cb(void *arg) { cio_loop_stop(arg); }

/* test_utils.run_until(loop, pred): runs the loop in short rounds until
 * pred holds (at most ~10 s) */
static void run_until(cio_loop *l, bool (*pred)(void *), void *arg)
{
    for (int i = 0; i < 1000 && !pred(arg); i++) {
        cio_call_later(l, 0.01, stop_cb, l, NULL);
        cio_loop_run_forever(l);
    }
    CHECK(pred(arg));
}

/* loop.close() after the test: runs what is left, checks for leaks */
static void close_clean(cio_loop *l)
{
    cio_call_soon(l, stop_cb, l, NULL);
    cio_loop_run_forever(l);
    check_loop_clean(l);
    CHECK_EQ(cio_loop_close(l), 0);
}

static cio_process_opts pipes3 = {.stdin_mode = CIO_PIPE, .stdout_mode = CIO_PIPE, .stderr_mode = CIO_PIPE};

/* proto.got_data[1].wait() until want bytes are in: reads stdout */
static void read_exactly(cio_stream *s, char *buf, size_t n)
{
    size_t got = 0;
    CHECK_EQ(cio_stream_readexactly(s, buf, n, &got), 0);
    CHECK_EQ(got, n);
}

/* transport.close() kills the child: check_killed(returncode) */
static void close_killed(cio_process *p)
{
    cio_process_kill(p);
    CHECK_EQ(cio_process_wait(p), -SIGKILL);
    cio_process_free(p);
}

/* echo2.py: stdout gets OUT:<stdin>, stderr ERR:<stdin> */
static const char echo2[] = "x=$(cat); printf 'OUT:%s' \"$x\"; printf 'ERR:%s' \"$x\" >&2";

static void *no_handler(cio_stream *s, void *arg)
{
    (void)s, (void)arg;
    return NULL;
}

/* MyProto as a connection handler: CONNECTED when called, nbytes as it
 * reads, CLOSED once it closed its end (transport.close) */
typedef struct my_proto {
    const char *state;
    size_t nbytes;
    struct sockaddr_storage sockname, peername;
    int nsockname, npeername;
    const char *reply;   /* data_received writes this back */
    size_t want;         /* bytes to read before closing */
    cio_event *done;
} my_proto;

static void *proto_handler(cio_stream *s, void *arg)
{
    my_proto *p = arg;
    p->state = "CONNECTED";
    socklen_t n = sizeof p->sockname;
    p->nsockname = cio_stream_sockname(s, &p->sockname, &n) == 0;
    n = sizeof p->peername;
    p->npeername = cio_stream_peername(s, &p->peername, &n) == 0;
    char buf[64];
    while (p->nbytes < p->want) {
        ssize_t r = cio_stream_read(s, buf, sizeof buf);
        if (r <= 0)
            break;
        p->nbytes += (size_t)r;
        if (p->reply)
            cio_stream_write(s, p->reply, strlen(p->reply));
    }
    cio_stream_close(s);
    p->state = "CLOSED";
    cio_event_set(p->done);
    return NULL;
}

/* a blocking client socket connected to 127.0.0.1:port */
static int client_connect(int port)
{
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c, (struct sockaddr *)&a, sizeof a) < 0) {
        int e = -errno;
        close(c);
        return e;
    }
    return c;
}

static int reuseport_of(cio_server *srv)
{
    int fd, v = -1;
    socklen_t n = sizeof v;
    CHECK_EQ(cio_server_sockets(srv, &fd, 1), 1);
    CHECK_EQ(getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &v, &n), 0);
    return v;
}

/* datagram_received answers b'resp:' + data to the sender */
static void *datagram_server(void *arg)
{
    int fd = *(int *)arg;
    char buf[64];
    struct sockaddr_storage from;
    socklen_t n = sizeof from;
    ssize_t r = cio_sock_recvfrom(fd, buf + 5, sizeof buf - 5, (struct sockaddr *)&from, &n);
    if (r < 0)
        return cio_fail((int)r, NULL);
    memcpy(buf, "resp:", 5);
    CHECK_EQ(cio_sock_sendto(fd, buf, (size_t)r + 5, (struct sockaddr *)&from, n), r + 5);
    return (void *)r; /* server.nbytes */
}

/* the client of test_connect_accepted_socket, in a thread */
typedef struct acc_client {
    struct sockaddr_in addr;
    char response[100];
    ssize_t nresponse;
} acc_client;

static void *accepted_client(void *arg)
{
    acc_client *c = arg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fd, (struct sockaddr *)&c->addr, sizeof c->addr) == 0 && send(fd, "test data", 9, 0) == 9)
        c->nresponse = recv(fd, c->response, 99, 0);
    close(fd);
    return NULL;
}

/* run_test_server: answers an HTTP/1.0 request with a short response */
static void *http_handler(cio_stream *s, void *arg)
{
    (void)arg;
    const char *line;
    size_t n;
    while (cio_stream_readline(s, &line, &n) == 0 && n > 2) {
    }
    cio_stream_write(s, "HTTP/1.0 200 OK\r\n\r\nTest message", 31);
    cio_stream_close(s);
    return NULL;
}

/* _basetest_create_connection: connected, sockname available, some bytes
 * received, closed */
static void basetest_create_connection(cio_stream *c, bool check_sockname)
{
    if (check_sockname) {
        struct sockaddr_storage a;
        socklen_t n = sizeof a;
        CHECK_EQ(cio_stream_sockname(c, &a, &n), 0);
    }
    CHECK_EQ(cio_stream_write(c, "GET / HTTP/1.0\r\n\r\n", 18), 0);
    char *all = NULL;
    size_t len = 0;
    CHECK_EQ(cio_stream_read_all(c, &all, &len), 0); /* until pr.done */
    CHECK(len > 0);
    free(all);
    cio_stream_close(c);
}

/* ---- callbacks, readers and writers ------------------------------------------- */

typedef struct results {
    cio_loop *loop;
    const char *got[4];
    int n, stop_at;
} results;

typedef struct call {
    results *r;
    const char *arg1, *arg2;
} call;

static void append_cb(void *arg)
{
    call *c = arg;
    results *r = c->r;
    if (r->n < 4)
        r->got[r->n++] = c->arg1;
    if (c->arg2 && r->n < 4)
        r->got[r->n++] = c->arg2;
    if (r->n >= r->stop_at)
        cio_loop_stop(r->loop);
}

typedef struct ts_thread {
    cio_loop *loop;
    call *c;
    sem_t lock;
} ts_thread;

static void *run_in_thread(void *arg)
{
    ts_thread *t = arg;
    CHECK_EQ(cio_call_soon_threadsafe(t->loop, append_cb, t->c), 0);
    sem_post(&t->lock); /* lock.release() */
    return NULL;
}

typedef struct rd {
    cio_loop *loop;
    int r;
    char bytes[16];
    size_t n;
    bool closed;
} rd;

static void reader_cb(void *arg)
{
    rd *x = arg;
    char buf[1024];
    ssize_t n = recv(x->r, buf, sizeof buf, 0);
    if (n < 0)
        return; /* spurious readiness */
    if (n > 0) {
        size_t k = (size_t)n < sizeof x->bytes - x->n ? (size_t)n : sizeof x->bytes - x->n;
        memcpy(x->bytes + x->n, buf, k);
        x->n += k;
    } else {
        CHECK(cio_remove_reader(x->loop, x->r));
        cio_close(x->r);
        x->closed = true;
    }
}

static bool have3(void *arg) { return ((rd *)arg)->n >= 3; }
static bool have6(void *arg) { return ((rd *)arg)->n >= 6; }

typedef struct sender {
    int fd;
    const char *data;
} sender;

static void send_cb(void *arg)
{
    sender *s = arg;
    if (s->data)
        CHECK_EQ(send(s->fd, s->data, strlen(s->data), 0), (ssize_t)strlen(s->data));
    else
        close(s->fd);
}

typedef struct wr {
    cio_loop *loop;
    int w;
    char data[1024];
} wr;

static void writer_cb(void *arg)
{
    wr *x = arg;
    CHECK_EQ(send(x->w, x->data, sizeof x->data, 0), (ssize_t)sizeof x->data);
    cio_loop_stop(x->loop);
}

/* ---- TLS (test certificates from tests/pki.h, made once) ----------------------- */

#include "../pki.h"

static void pki_once(void)
{
    static int made;
    if (!made) {
        made = pki_make("conf-events");
        CHECK_EQ(made, 1); /* the openssl tool is needed, as for test_tls */
        atexit(pki_remove);
    }
}

/* _make_ssl_server / _make_ssl_unix_server: a TLS server whose connections
 * MyProto handles (or the HTTP test server) */
typedef struct ssl_srv {
    bool unix_;
    cio_server *srv;
    char port[16], path[64];
    cio_tls_opts tls;
    my_proto p;
} ssl_srv;

static void ssl_server_start(ssl_srv *s, bool unix_, const char *cert, const char *key, cio_conn_handler h)
{
    pki_once();
    memset(s, 0, sizeof *s);
    s->unix_ = unix_;
    s->tls = (cio_tls_opts){.cert_file = cert, .key_file = key};
    s->p = (my_proto){.state = "INITIAL", .want = 3, .done = cio_event_new()};
    cio_server_opts o = {.tls = &s->tls};
    if (unix_) {
        snprintf(s->path, sizeof s->path, "/tmp/cio-conf-tls%d.sock", (int)getpid());
        unlink(s->path);
        CHECK_EQ(cio_start_unix_server(h, &s->p, s->path, &o, &s->srv), 0);
    } else {
        CHECK_EQ(cio_start_server(h, &s->p, "127.0.0.1", "0", &o, &s->srv), 0);
        snprintf(s->port, sizeof s->port, "%d", cio_server_port(s->srv));
    }
}

static int ssl_connect(ssl_srv *s, const cio_tls_opts *tls, cio_stream **c)
{
    cio_stream_opts o = {.tls = tls};
    *c = NULL;
    return s->unix_ ? cio_open_unix_connection(s->path, &o, c) : cio_open_connection("127.0.0.1", s->port, &o, c);
}

static void ssl_server_stop(ssl_srv *s)
{
    cio_server_close(s->srv);
    CHECK_EQ(cio_server_wait_closed(s->srv), 0);
    cio_server_free(s->srv);
    if (s->unix_)
        unlink(s->path);
    cio_event_free(s->p.done);
}

/* test_create_server_ssl and its unix twin: an unverified client writes
 * b'xxx'; MyProto sees the 3 bytes and closes */
static void create_server_ssl(bool unix_)
{
    ssl_srv s;
    ssl_server_start(&s, unix_, srv_pem, srv_key, proto_handler);
    cio_tls_opts dummy = {.insecure_no_verify = true}; /* server_hostname='' for unix: none */
    cio_stream *c;
    CHECK_EQ(ssl_connect(&s, &dummy, &c), 0);
    if (!c) {
        ssl_server_stop(&s);
        return;
    }
    CHECK_EQ(cio_stream_write(c, "xxx", 3), 0);
    CHECK_EQ(cio_event_wait(s.p.done), 0);
    CHECK_EQ(s.p.nbytes, 3);
    CHECK(strcmp(s.p.state, "CLOSED") == 0);
    if (!unix_) { /* check_ssl_extra_info: sockname, peername, cipher */
        struct sockaddr_storage a;
        socklen_t n = sizeof a;
        CHECK_EQ(cio_stream_sockname(c, &a, &n), 0);
        n = sizeof a;
        CHECK_EQ(cio_stream_peername(c, &a, &n), 0);
        CHECK_EQ(ntohs(((struct sockaddr_in *)&a)->sin_port), atoi(s.port));
        CHECK(cio_stream_tls_cipher(c) != NULL);
        CHECK(cio_stream_tls_version(c) != NULL);
    }
    cio_stream_close(c);
    ssl_server_stop(&s);
}

/* the verify / match failures: the client's handshake fails with err and
 * the server's protocol never got a connection (proto.transport is None) */
static void ssl_refused(bool unix_, const char *cert, const char *key, const cio_tls_opts *client, int err)
{
    ssl_srv s;
    ssl_server_start(&s, unix_, cert, key, proto_handler);
    cio_stream *c;
    CHECK_EQ(ssl_connect(&s, client, &c), err);
    CHECK(c == NULL);
    CHECK_EQ(cio_sleep(0.01), 0); /* run_briefly: the server sees the failure */
    CHECK(strcmp(s.p.state, "INITIAL") == 0);
    ssl_server_stop(&s);
}

/* test_create_server_ssl_verified and its unix twin */
static void ssl_verified(bool unix_)
{
    ssl_srv s;
    ssl_server_start(&s, unix_, srv_pem, srv_key, proto_handler);
    cio_tls_opts verify = {.ca_file = ca_pem, .server_hostname = "localhost"};
    cio_stream *c;
    CHECK_EQ(ssl_connect(&s, &verify, &c), 0);
    if (!c) {
        ssl_server_stop(&s);
        return;
    }
    CHECK_EQ(cio_stream_write(c, "xxx", 3), 0);
    CHECK_EQ(cio_event_wait(s.p.done), 0); /* proto.connected, then done */
    if (!unix_) { /* extra info: peername and the peer certificate */
        struct sockaddr_storage a;
        socklen_t n = sizeof a;
        CHECK_EQ(cio_stream_peername(c, &a, &n), 0);
        CHECK_EQ(ntohs(((struct sockaddr_in *)&a)->sin_port), atoi(s.port));
        char subject[256];
        CHECK_EQ(cio_stream_tls_peer_subject(c, subject, sizeof subject), 0);
        CHECK(strstr(subject, "cio tests") != NULL);
    }
    cio_stream_close(c);
    ssl_server_stop(&s);
}

/* _test_create_ssl_connection: the HTTP test server over TLS; a client
 * that does not verify gets an answer, one that verifies against the
 * system's CAs fails (certificate verify failed) */
static void create_ssl_connection(bool unix_)
{
    ssl_srv s;
    ssl_server_start(&s, unix_, srv_pem, srv_key, http_handler);
    cio_tls_opts dummy = {.insecure_no_verify = true, .server_hostname = unix_ ? "127.0.0.1" : NULL};
    cio_stream *c;
    CHECK_EQ(ssl_connect(&s, &dummy, &c), 0);
    if (c)
        basetest_create_connection(c, true);
    cio_tls_opts real = {.server_hostname = unix_ ? "127.0.0.1" : NULL};
    CHECK_EQ(ssl_connect(&s, &real, &c), CIO_ECERTUNTRUSTED);
    ssl_server_stop(&s);
}

/* the client of test_ssl_connect_accepted_socket: a task of the same loop
 * (the handshake needs both ends running) */
typedef struct tls_client {
    char port[16];
    char response[100];
    ssize_t n;
} tls_client;

static void *tls_client_task(void *arg)
{
    tls_client *t = arg;
    cio_stream *c;
    cio_stream_opts o = {.tls = &(cio_tls_opts){.insecure_no_verify = true}};
    int rc = cio_open_connection("127.0.0.1", t->port, &o, &c);
    if (rc)
        return cio_fail(rc, NULL);
    CHECK_EQ(cio_stream_write(c, "test data", 9), 0);
    t->n = cio_stream_read(c, t->response, 99);
    cio_stream_close(c);
    return NULL;
}

#endif
