/* SPDX-License-Identifier: MIT */
/* CPython Lib/test/test_asyncio/test_sock_lowlevel.py, ported (see
 * conformance.h): loop.sock_* are cio_sock_* on non-blocking sockets
 * (sock_recv_into is cio_sock_recv into the caller's buffer); the servers
 * are stream_fixture.h's.  CPython runs the file once per selector; the
 * conformance ctest runs it on every cio back end (epoll, poll, io_uring). */
#define CONF_FILE "test_sock_lowlevel"
#include "conformance.h"
#include "stream_fixture.h"

#include <fcntl.h>

static const char GET[] = "GET / HTTP/1.0\r\n\r\n";

static bool starts_with(const char *p, size_t n, const char *prefix)
{
    return n >= strlen(prefix) && memcmp(p, prefix, strlen(prefix)) == 0;
}

typedef struct io {
    int fd;
    const void *data;
    size_t n;
    char *buf;
    ssize_t rc;
} io;

static void *recv_task(void *arg)
{
    io *o = arg;
    o->rc = cio_sock_recv(o->fd, o->buf, o->n);
    return NULL;
}

static void *sendall_task(void *arg)
{
    io *o = arg;
    o->rc = cio_sock_sendall(o->fd, o->data, o->n);
    return NULL;
}

static void *connect_task(void *arg)
{
    io *o = arg;
    o->rc = cio_sock_connect(o->fd, o->data, (socklen_t)o->n);
    return NULL;
}

static void *accept_task(void *arg)
{
    io *o = arg;
    o->rc = cio_sock_accept(o->fd, NULL, NULL);
    return NULL;
}

/* Spawns, lets it start (sleep(0)), cancels. */
static void start_and_cancel(cio_task_fn fn, io *o)
{
    cio_task *t = cio_spawn(fn, o);
    cio_sleep(0);
    cio_cancel(t, NULL);
    cio_await(t, NULL);
    cio_release(t);
}

/* ---- sock_recv racing a cancelled sock_recv ------------------------------ */

/* _basetest_sock_recv_racing and _basetest_sock_recv_into_racing: a parked
 * recv is cancelled; the next recv gets the answer whole. */
static void recv_racing(const fixture *fx)
{
    struct sockaddr_storage ss;
    socklen_t sl = fixture_addr(fx, &ss);
    int fd = cio_socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(cio_sock_connect(fd, (struct sockaddr *)&ss, sl), 0);
    char buf[1024];
    io r = {.fd = fd, .buf = buf, .n = sizeof buf};
    start_and_cancel(recv_task, &r);
    io w = {.fd = fd, .data = GET, .n = strlen(GET)};
    cio_task *t = cio_spawn(sendall_task, &w);
    ssize_t n = cio_sock_recv(fd, buf, sizeof buf);
    CHECK(n > 0 && starts_with(buf, (size_t)n, "HTTP/1.0 200 OK"));
    CHECK(cio_sock_recv(fd, buf + (n > 0 ? n : 0), sizeof buf - (size_t)(n > 0 ? n : 0)) >= 0); /* consume */
    CHECK_EQ(cio_await(t, NULL), 0);
    CHECK_EQ(w.rc, 0);
    cio_release(t);
    cio_close(fd);
}

/* _basetest_sock_send_racing: a sendall parked on a full buffer is
 * cancelled; another sendall right after it gets its bytes through. */
static void *recv_all_nonspace(void *arg)
{
    io *o = arg;
    char buf[8192];
    size_t len = 0;
    for (;;) {
        ssize_t r = cio_sock_recv(o->fd, buf, sizeof buf);
        if (r <= 0) {
            o->rc = r;
            break;
        }
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] != ' ' && len < 63)
                o->buf[len++] = buf[i];
    }
    o->n = len;
    return NULL;
}

static void send_racing(void)
{
    struct sockaddr_in a;
    int lfd = listener(1, &a);
    int fd = cio_socket(AF_INET, SOCK_STREAM, 0);
    int v = 1024;
    CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v), 0);
    io c = {.fd = fd, .data = &a, .n = sizeof a};
    cio_task *ct = cio_spawn(connect_task, &c);
    cio_sleep(0);
    int sfd = cio_sock_accept(lfd, NULL, NULL);
    CHECK(sfd >= 0);
    CHECK_EQ(cio_await(ct, NULL), 0);
    CHECK_EQ(c.rc, 0);
    cio_release(ct);
    /* fill the buffer until sending 4 bytes would block */
    static char spaces[8192];
    memset(spaces, ' ', sizeof spaces);
    for (size_t size = 8192; size >= 4; size /= 2) {
        while (send(fd, spaces, size, MSG_DONTWAIT | MSG_NOSIGNAL) > 0) {
        }
        CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
    }
    io hello = {.fd = fd, .data = "hello", .n = 5};
    start_and_cancel(sendall_task, &hello);
    char got[64];
    io all = {.fd = sfd, .buf = got};
    cio_task *rt = cio_spawn(recv_all_nonspace, &all);
    CHECK_EQ(cio_sock_sendall(fd, "world", 5), 0);
    shutdown(fd, SHUT_WR);
    CHECK_EQ(cio_await(rt, NULL), 0);
    cio_release(rt);
    CHECK(all.n >= 5 && memcmp(got + all.n - 5, "world", 5) == 0);
    cio_close(sfd);
    cio_close(fd);
    cio_close(lfd);
}

CONF_TASK(test_sock_client_racing)
{
    fixture fx;
    fixture_start(&fx, false, false);
    recv_racing(&fx); /* sock_recv */
    recv_racing(&fx); /* sock_recv_into: the same call in cio */
    fixture_stop(&fx);
    send_racing();
    return NULL;
}

/* A connect cancelled before the peer listens; once it listens, connecting
 * the same socket again succeeds (Linux: at the first or second retry). */
CONF_TASK(test_sock_client_connect_racing)
{
    struct sockaddr_in a;
    int lfd = listener(0, &a);
    int fd = cio_socket(AF_INET, SOCK_STREAM, 0);
    io c = {.fd = fd, .data = &a, .n = sizeof a};
    start_and_cancel(connect_task, &c);
    CHECK_EQ(listen(lfd, 1), 0);
    int rc = -1;
    for (int i = 0; i < 128 && rc != 0; i++) {
        rc = cio_sock_connect(fd, (struct sockaddr *)&a, sizeof a);
        if (rc != -ECONNREFUSED && rc != -EALREADY && rc != 0)
            break;
    }
    CHECK_EQ(rc, 0);
    cio_close(fd);
    cio_close(lfd);
    return NULL;
}

/* ---- 1 MB through the fixture's /loop ------------------------------------- */

enum { DATA_SIZE = 1000000 };

/* _basetest_huge_content(_recvinto): POST a megabyte, get it back after the
 * head, byte for byte. */
static void huge_content(bool into)
{
    fixture fx;
    fixture_start(&fx, false, false);
    struct sockaddr_storage ss;
    socklen_t sl = fixture_addr(&fx, &ss);
    int fd = cio_socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(cio_sock_connect(fd, (struct sockaddr *)&ss, sl), 0);
    char head[128];
    int hl = snprintf(head, sizeof head, "POST /loop HTTP/1.0\r\nContent-Length: %d\r\n\r\n", DATA_SIZE);
    CHECK_EQ(cio_sock_sendall(fd, head, (size_t)hl), 0);
    char *chunk = malloc(DATA_SIZE);
    for (size_t i = 0; i < DATA_SIZE; i++)
        chunk[i] = (char)('0' + i % 10);
    io w = {.fd = fd, .data = chunk, .n = DATA_SIZE};
    cio_task *t = cio_spawn(sendall_task, &w);
    /* recv: the bytes gathered; recv_into: each call into the same buffer */
    char *buf = malloc(2 * DATA_SIZE);
    size_t have = 0, body = 0, size = DATA_SIZE;
    ssize_t r = cio_sock_recv(fd, buf, DATA_SIZE);
    CHECK(r > 0 && starts_with(buf, (size_t)r, "HTTP/1.0 200 OK"));
    have = r > 0 ? (size_t)r : 0;
    const char *end;
    while (!(end = memmem(buf, have, "\r\n\r\n", 4)) && r > 0) {
        size_t at = into ? 0 : have;
        r = cio_sock_recv(fd, buf + at, DATA_SIZE);
        have = at + (r > 0 ? (size_t)r : 0);
    }
    CHECK(end != NULL);
    bool same = true;
    for (const char *p = end ? end + 4 : buf + have; p < buf + have; p++)
        same &= *p == (char)('0' + body++ % 10);
    while ((r = cio_sock_recv(fd, buf, DATA_SIZE)) > 0)
        for (ssize_t i = 0; i < r; i++)
            same &= buf[i] == (char)('0' + body++ % 10);
    CHECK(same);
    CHECK_EQ(size - body, 0);
    CHECK_EQ(cio_await(t, NULL), 0);
    CHECK_EQ(w.rc, 0);
    cio_release(t);
    free(buf);
    free(chunk);
    cio_close(fd);
    fixture_stop(&fx);
}

CONF_TASK(test_huge_content)
{
    huge_content(false);
    return NULL;
}

CONF_TASK(test_huge_content_recvinto)
{
    huge_content(true);
    return NULL;
}

/* ---- datagrams ---------------------------------------------------------------- */

static bool same_addr(const struct sockaddr_storage *ss, socklen_t l, const struct sockaddr_in *want)
{
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    return l == sizeof *want && a->sin_family == AF_INET && a->sin_port == want->sin_port &&
           a->sin_addr.s_addr == want->sin_addr.s_addr;
}

/* sock_sendto 4096 bytes of 1 to the echo server, sock_recvfrom(_into) them
 * back into buf (nbytes at most): the same bytes, from the server's address. */
static void echo_roundtrip(int fd, const udp_echo *u, char *buf, size_t nbytes)
{
    char data[4096];
    memset(data, 1, sizeof data);
    CHECK_EQ(cio_sock_sendto(fd, data, sizeof data, (const struct sockaddr *)&u->addr, sizeof u->addr), 4096);
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    CHECK_EQ(cio_sock_recvfrom(fd, buf, nbytes, (struct sockaddr *)&from, &fl), 4096);
    CHECK(memcmp(buf, data, sizeof data) == 0);
    CHECK(same_addr(&from, fl, &u->addr));
}

CONF_TASK(test_recvfrom)
{
    udp_echo u;
    udp_echo_start(&u);
    int fd = cio_socket(AF_INET, SOCK_DGRAM, 0);
    char buf[4096];
    echo_roundtrip(fd, &u, buf, sizeof buf);
    cio_close(fd);
    udp_echo_stop(&u);
    return NULL;
}

CONF_TASK(test_recvfrom_into)
{
    udp_echo u;
    udp_echo_start(&u);
    int fd = cio_socket(AF_INET, SOCK_DGRAM, 0);
    char small[4096], big[8192];
    echo_roundtrip(fd, &u, small, sizeof small);
    echo_roundtrip(fd, &u, big, 4096); /* a bigger buffer, nbytes=4096 */
    cio_close(fd);
    udp_echo_stop(&u);
    return NULL;
}

/* ---- connecting and accepting ------------------------------------------------------- */

CONF_TASK(test_sock_client_fail)
{
    struct sockaddr_in a;
    int tmp = listener(0, &a); /* an unused port: bound, then closed */
    cio_close(tmp);
    int fd = cio_socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(cio_sock_connect(fd, (struct sockaddr *)&a, sizeof a), -ECONNREFUSED);
    cio_close(fd);
    return NULL;
}

CONF_TASK(test_sock_accept)
{
    struct sockaddr_in a;
    int lfd = listener(1, &a);
    int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* a blocking one */
    CHECK_EQ(connect(client, (struct sockaddr *)&a, sizeof a), 0);
    struct sockaddr_storage addr;
    socklen_t al = sizeof addr;
    int conn = cio_sock_accept(lfd, (struct sockaddr *)&addr, &al);
    CHECK(conn >= 0);
    CHECK(fcntl(conn, F_GETFL) & O_NONBLOCK); /* conn.gettimeout() == 0 */
    struct sockaddr_in cname;
    socklen_t l = sizeof cname;
    CHECK_EQ(getsockname(client, (struct sockaddr *)&cname, &l), 0);
    CHECK(same_addr(&addr, al, &cname));
    struct sockaddr_storage peer;
    l = sizeof peer;
    CHECK_EQ(getpeername(client, (struct sockaddr *)&peer, &l), 0);
    CHECK(same_addr(&peer, l, &a));
    close(client);
    cio_close(conn);
    cio_close(lfd);
    return NULL;
}

CONF_TASK(test_cancel_sock_accept)
{
    struct sockaddr_in a;
    int lfd = listener(1, &a);
    io acc = {.fd = lfd};
    cio_task *t = cio_spawn(accept_task, &acc);
    CHECK_EQ(cio_wait_for(t, 0.1, NULL), -ETIMEDOUT);
    CHECK(cio_cancelled(t));
    cio_release(t);
    cio_close(lfd);
    int fd = cio_socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(cio_sock_connect(fd, (struct sockaddr *)&a, sizeof a), -ECONNREFUSED);
    cio_close(fd);
    return NULL;
}

/* create_connection(sock=...) over a socket connected by hand is
 * cio_stream_from_fd; MyProto's connection_made writes the request,
 * data_received counts, the connection ends after EOF. */
CONF_TASK(test_create_connection_sock)
{
    fixture fx;
    fixture_start(&fx, false, false);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    CHECK_EQ(cio_getaddrinfo("127.0.0.1", fx.port, &hints, &res), 0);
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = cio_socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd >= 0 && cio_sock_connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            cio_close(fd);
            fd = -1;
        }
    }
    cio_freeaddrinfo(res);
    CHECK(fd >= 0); /* else "Can not create socket." */
    cio_stream *s;
    CHECK_EQ(cio_stream_from_fd(fd, NULL, false, &s), 0);
    static const char req[] = "GET / HTTP/1.0\r\nHost: example.com\r\n\r\n";
    CHECK_EQ(cio_stream_write(s, req, sizeof req - 1), 0);
    size_t nbytes = 0;
    char buf[1024];
    ssize_t r;
    while ((r = cio_stream_read(s, buf, sizeof buf)) > 0)
        nbytes += (size_t)r;
    CHECK_EQ(r, 0); /* eof_received, then connection_lost */
    CHECK(nbytes > 0);
    CHECK(cio_stream_at_eof(s));
    CHECK_EQ(cio_stream_close(s), 0);
    fixture_stop(&fx);
    return NULL;
}

CONF_MAIN()
