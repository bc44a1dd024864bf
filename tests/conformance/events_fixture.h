/* Fixtures of tests/conformance/test_events.c: running the loop in rounds,
 * the child programs of the subprocess tests, and MyProto's counterpart
 * for servers and connections (a connection handler on streams). */
#ifndef CIO_CONF_EVENTS_FIXTURE_H
#define CIO_CONF_EVENTS_FIXTURE_H

#include "conformance.h"

#include <arpa/inet.h>
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

#endif
