/* SPDX-License-Identifier: MIT */
/* Fixtures of the stream and socket conformance ports (test_streams.c,
 * test_sock_lowlevel.c): CPython's test_utils.run_test_server, an HTTP/1.0
 * server that answers "Test message" (or streams a POST to /loop back),
 * on 127.0.0.1 with port 0 or on a unix socket in a fresh temporary
 * directory, optionally over TLS (test certificates from ../pki.h); and
 * run_udp_echo_server. */
#ifndef CIO_CONF_STREAM_FIXTURE_H
#define CIO_CONF_STREAM_FIXTURE_H

#include "../pki.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct fixture {
    cio_server *srv;
    char port[16];
    char dir[32], path[64]; /* unix: the socket's directory and path */
    bool tls;
    cio_tls_opts tls_opts; /* the server keeps a pointer to it */
} fixture;

/* The server's side of a connection: the request head, then the answer
 * (HTTP/1.0: the connection ends with it). */
static inline void *fixture_handler(cio_stream *s, void *arg)
{
    (void)arg;
    static const char *const head_end[] = {"\r\n\r\n"};
    const char *d;
    size_t n;
    if (cio_stream_readuntil(s, head_end, 1, &d, &n) < 0)
        return NULL;
    bool loop = n >= 11 && memcmp(d, "POST /loop ", 11) == 0;
    const char *cl = loop ? memmem(d, n, "Content-Length: ", 16) : NULL;
    size_t left = cl ? strtoul(cl + 16, NULL, 10) : 0;
    static const char head[] = "HTTP/1.0 200 OK\r\nContent-type: text/plain\r\n\r\n";
    cio_stream_write(s, head, sizeof head - 1);
    if (!loop)
        cio_stream_write(s, "Test message", 12);
    char *buf = malloc(65536);
    while (left && buf) {
        ssize_t r = cio_stream_read(s, buf, left < 65536 ? left : 65536);
        if (r <= 0 || cio_stream_write(s, buf, (size_t)r) < 0 || cio_stream_drain(s) < 0)
            break;
        left -= (size_t)r;
    }
    free(buf);
    cio_stream_close(s);
    return NULL;
}

/* Starts the server: TCP (unix_sock false) or unix, plain or TLS. */
static inline void fixture_start(fixture *fx, bool unix_sock, bool tls)
{
    memset(fx, 0, sizeof *fx);
    cio_server_opts o = {0};
    if (tls) {
        CHECK_EQ(pki_make("conf"), 1);
        fx->tls_opts.cert_file = srv_pem;
        fx->tls_opts.key_file = srv_key;
        o.tls = &fx->tls_opts;
        fx->tls = true;
    }
    if (unix_sock) {
        snprintf(fx->dir, sizeof fx->dir, "/tmp/cio-conf-XXXXXX");
        CHECK(mkdtemp(fx->dir) != NULL);
        snprintf(fx->path, sizeof fx->path, "%s/sock", fx->dir);
        CHECK_EQ(cio_start_unix_server(fixture_handler, NULL, fx->path, &o, &fx->srv), 0);
    } else {
        CHECK_EQ(cio_start_server(fixture_handler, NULL, "127.0.0.1", "0", &o, &fx->srv), 0);
        snprintf(fx->port, sizeof fx->port, "%d", cio_server_port(fx->srv));
    }
}

static inline void fixture_stop(fixture *fx)
{
    cio_server_close(fx->srv);
    CHECK_EQ(cio_server_wait_closed(fx->srv), 0);
    cio_server_free(fx->srv);
    if (fx->path[0]) {
        unlink(fx->path);
        rmdir(fx->dir);
    }
    if (fx->tls)
        pki_remove();
}

/* The server's address, for cio_sock_connect. */
static inline socklen_t fixture_addr(const fixture *fx, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (fx->path[0]) {
        struct sockaddr_un *sun = (struct sockaddr_un *)ss;
        sun->sun_family = AF_UNIX;
        snprintf(sun->sun_path, sizeof sun->sun_path, "%s", fx->path);
        return sizeof *sun;
    }
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)atoi(fx->port));
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sizeof *sin;
}

/* open_connection / open_unix_connection to the fixture; TLS as
 * test_utils.dummy_ssl_context() (no verification). */
static inline int fixture_connect(const fixture *fx, cio_stream **out)
{
    static const cio_tls_opts insecure = {.insecure_no_verify = true};
    cio_stream_opts o = {.tls = fx->tls ? &insecure : NULL};
    if (fx->path[0])
        return cio_open_unix_connection(fx->path, &o, out);
    return cio_open_connection("127.0.0.1", fx->port, &o, out);
}

/* A listening TCP socket on 127.0.0.1, port 0 (listen: backlog, or not yet
 * listening when 0); its address in *a. */
static inline int listener(int backlog, struct sockaddr_in *a)
{
    int fd = cio_socket(AF_INET, SOCK_STREAM, 0);
    *a = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof *a;
    CHECK_EQ(bind(fd, (struct sockaddr *)a, sizeof *a), 0);
    if (backlog)
        CHECK_EQ(listen(fd, backlog), 0);
    CHECK_EQ(getsockname(fd, (struct sockaddr *)a, &l), 0);
    return fd;
}

/* run_udp_echo_server: a task echoing datagrams on 127.0.0.1 until
 * cancelled. */
typedef struct udp_echo {
    int fd;
    struct sockaddr_in addr;
    cio_task *task;
} udp_echo;

static void *udp_echo_task(void *arg)
{
    udp_echo *u = arg;
    char *buf = malloc(65536);
    for (;;) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t r = cio_sock_recvfrom(u->fd, buf, 65536, (struct sockaddr *)&from, &fl);
        if (r < 0 || cio_sock_sendto(u->fd, buf, (size_t)r, (struct sockaddr *)&from, fl) < 0)
            break;
    }
    free(buf);
    return NULL;
}

static inline void udp_echo_start(udp_echo *u)
{
    u->fd = cio_udp_open("127.0.0.1", "0", NULL, NULL);
    CHECK(u->fd >= 0);
    socklen_t l = sizeof u->addr;
    CHECK_EQ(getsockname(u->fd, (struct sockaddr *)&u->addr, &l), 0);
    u->task = cio_spawn(udp_echo_task, u);
}

static inline void udp_echo_stop(udp_echo *u)
{
    cio_cancel(u->task, NULL);
    cio_await(u->task, NULL);
    cio_release(u->task);
    cio_close(u->fd);
}

#endif
