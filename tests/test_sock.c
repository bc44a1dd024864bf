/* SPDX-License-Identifier: MIT */
/* Socket calls for tasks (cio_sock_*), on real sockets over 127.0.0.1 / ::1
 * and unix socket pairs: connect/accept/recv/sendall, refused, connect
 * timeouts against a listener whose backlog is full, resets, EPIPE without
 * SIGPIPE (sockets and pipes), cancellation leaving the fd to the caller,
 * and UDP (cio_sock_sendto/recvfrom, cio_udp_open bound and connected).
 * Every test runs on the back end CIO_BACKEND names (lib/backends.h).
 *
 * Exit 0 = pass. */
#include "check.h"
#include "lib/backends.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *backend;

/* ---- helpers ----------------------------------------------------------------- */

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

/* A non-blocking listening (or only bound, backlog < 0) TCP socket on the
 * loopback address of family; *addr receives its address. */
/* Pins fd's send and receive buffers small (the kernel doubles the figure),
 * so that a writer whose peer does not keep up blocks after some 32 KiB,
 * whatever the kernel's defaults and autotuning. */
static void pin_bufs(int fd)
{
    int sz = 16384;
    CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz), 0);
    CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz), 0);
}

static int tcp_listener(int family, int backlog, struct sockaddr_storage *addr, socklen_t *len)
{
    int fd = cio_socket(family, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    if (fd < 0)
        return fd;
    memset(addr, 0, sizeof *addr);
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)addr;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        *len = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)addr;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        *len = sizeof *a;
    }
    CHECK_EQ(bind(fd, (struct sockaddr *)addr, *len), 0);
    if (backlog >= 0)
        CHECK_EQ(listen(fd, backlog), 0);
    socklen_t l = *len;
    CHECK_EQ(getsockname(fd, (struct sockaddr *)addr, &l), 0);
    return fd;
}

static bool fd_valid(int fd) { return fcntl(fd, F_GETFD) >= 0; }

static void fill_pattern(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((i * 131u + seed) ^ (i >> 9));
}

/* ---- connect, accept, recv, sendall -------------------------------------------- */

typedef struct echo_srv {
    int lfd;
    int family;       /* of the accepted peer */
    bool nonblock, cloexec;
    size_t echoed;
} echo_srv;

/* Accepts one connection and echoes everything back until EOF. */
static void *echo_server_task(void *arg)
{
    echo_srv *e = arg;
    struct sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    int c = cio_sock_accept(e->lfd, (struct sockaddr *)&peer, &plen);
    CHECK(c >= 0);
    if (c < 0)
        return NULL;
    pin_bufs(c);
    e->family = peer.ss_family;
    e->nonblock = (fcntl(c, F_GETFL) & O_NONBLOCK) != 0;
    e->cloexec = (fcntl(c, F_GETFD) & FD_CLOEXEC) != 0;
    char buf[8192];
    for (;;) {
        ssize_t r = cio_sock_recv(c, buf, sizeof buf);
        CHECK(r >= 0);
        if (r <= 0)
            break;
        CHECK_EQ(cio_sock_sendall(c, buf, (size_t)r), 0);
        e->echoed += (size_t)r;
    }
    cio_close(c);
    return NULL;
}

typedef struct reader_ctx {
    int fd;
    const unsigned char *expect;
    size_t n, got;
    bool same;
} reader_ctx;

/* Reads until EOF, comparing with the expected bytes. */
static void *reader_task(void *arg)
{
    reader_ctx *r = arg;
    unsigned char *buf = malloc(65536);
    r->same = true;
    for (;;) {
        ssize_t k = cio_sock_recv(r->fd, buf, 65536);
        CHECK(k >= 0);
        if (k <= 0)
            break;
        if (r->got + (size_t)k > r->n || memcmp(buf, r->expect + r->got, (size_t)k) != 0)
            r->same = false;
        r->got += (size_t)k;
    }
    free(buf);
    return NULL;
}

static void echo_round_trip(int family)
{
    struct sockaddr_storage addr;
    socklen_t alen;
    echo_srv e = {.lfd = tcp_listener(family, 16, &addr, &alen)};
    cio_task *srv = cio_spawn(echo_server_task, &e);

    int fd = cio_socket(family, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    CHECK((fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
    CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    pin_bufs(fd);
    CHECK_EQ(cio_sock_connect(fd, (struct sockaddr *)&addr, alen), 0);

    /* a small message first */
    CHECK_EQ(cio_sock_sendall(fd, "hello", 5), 0);
    char small[16] = {0};
    size_t got = 0;
    while (got < 5) {
        ssize_t r = cio_sock_recv(fd, small + got, sizeof small - got);
        CHECK(r > 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    CHECK(memcmp(small, "hello", 5) == 0);

    /* then 4 MiB: far more than the (pinned) socket buffers, so sendall and the
     * echoing server both have to wait for the other side */
    size_t n = 4u << 20;
    unsigned char *big = malloc(n);
    fill_pattern(big, n, 7);
    reader_ctx rc = {.fd = fd, .expect = big, .n = n};
    cio_task *rd = cio_spawn(reader_task, &rc);
    CHECK_EQ(cio_sock_sendall(fd, big, n), 0);
    CHECK_EQ(shutdown(fd, SHUT_WR), 0);
    CHECK_EQ(cio_await(rd, NULL), 0);
    CHECK_EQ(cio_await(srv, NULL), 0);
    CHECK_EQ(rc.got, n);
    CHECK(rc.same);
    CHECK_EQ(e.echoed, n + 5);
    CHECK_EQ(e.family, family);
    CHECK(e.nonblock);
    CHECK(e.cloexec);
    cio_release(rd);
    cio_release(srv);
    free(big);
    cio_close(fd);
    cio_close(e.lfd);
}

static void *t_connect_accept_echo(void *arg)
{
    (void)arg;
    echo_round_trip(AF_INET);
    if (have_ipv6())
        echo_round_trip(AF_INET6);
    else
        fprintf(stderr, "  (no IPv6 here: ::1 part skipped)\n");
    return NULL;
}

/* A unix socketpair and a pipe work with the same calls. */
static void *t_socketpair_and_pipe(void *arg)
{
    (void)arg;
    int sp[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
    CHECK_EQ(cio_sock_sendall(sp[0], "abc", 3), 0);
    char buf[8];
    CHECK_EQ(cio_sock_recv(sp[1], buf, sizeof buf), 3);
    CHECK(memcmp(buf, "abc", 3) == 0);
    cio_close(sp[0]);
    CHECK_EQ(cio_sock_recv(sp[1], buf, sizeof buf), 0); /* EOF */
    cio_close(sp[1]);

    int p[2];
    CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    CHECK_EQ(cio_sock_sendall(p[1], "xyz", 3), 0);
    CHECK_EQ(cio_sock_recv(p[0], buf, sizeof buf), 3);
    CHECK(memcmp(buf, "xyz", 3) == 0);
    cio_close(p[1]);
    CHECK_EQ(cio_sock_recv(p[0], buf, sizeof buf), 0);
    cio_close(p[0]);
    return NULL;
}

/* ---- errors ------------------------------------------------------------------- */

static void *t_refused(void *arg)
{
    (void)arg;
    /* a port that is bound but not listening: the kernel answers RST */
    struct sockaddr_storage addr;
    socklen_t alen;
    int bound = tcp_listener(AF_INET, -1, &addr, &alen);
    int fd = cio_socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(cio_sock_connect(fd, (struct sockaddr *)&addr, alen), -ECONNREFUSED);
    CHECK(fd_valid(fd)); /* still the caller's */
    cio_close(fd);
    if (have_ipv6()) {
        int b6 = tcp_listener(AF_INET6, -1, &addr, &alen);
        fd = cio_socket(AF_INET6, SOCK_STREAM, 0);
        CHECK_EQ(cio_sock_connect(fd, (struct sockaddr *)&addr, alen), -ECONNREFUSED);
        cio_close(fd);
        cio_close(b6);
    }
    cio_close(bound);
    return NULL;
}

/* Connecting to a listener whose accept queue is full hangs (the kernel drops
 * the SYNs); a cio_timeout scope turns that into -ETIMEDOUT, and the fd
 * stays the caller's. */
static void *t_connect_timeout(void *arg)
{
    (void)arg;
    struct sockaddr_storage addr;
    socklen_t alen;
    int lfd = tcp_listener(AF_INET, 0, &addr, &alen);
    int fds[16];
    int nfds = 0, timed_out = -1;
    for (int i = 0; i < 16 && timed_out < 0; i++) {
        int fd = cio_socket(AF_INET, SOCK_STREAM, 0);
        fds[nfds++] = fd;
        cio_timeout to;
        cio_timeout_enter(&to, 0.3);
        double t0 = cio_time();
        int rc = cio_timeout_exit(&to, cio_sock_connect(fd, (struct sockaddr *)&addr, alen));
        double dt = cio_time() - t0;
        if (rc == -ETIMEDOUT) {
            timed_out = i;
            CHECK(dt >= 0.29);
            CHECK(dt < 10.0); /* it did time out: generously, under load */
            CHECK(fd_valid(fd));
        } else {
            CHECK_EQ(rc, 0); /* those the queue still had room for */
        }
    }
    CHECK(timed_out >= 1); /* the queue held at least one */
    /* the task is not left cancelled: it can go on waiting */
    CHECK_EQ(cio_sleep(0.001), 0);
    for (int i = 0; i < nfds; i++)
        cio_close(fds[i]);
    cio_close(lfd);
    return NULL;
}

typedef struct rst_ctx {
    int lfd;
    bool send_first;
} rst_ctx;

/* Accepts one connection and closes it abortively (SO_LINGER 0: RST). */
static void *rst_server(void *arg)
{
    rst_ctx *r = arg;
    int c = cio_sock_accept(r->lfd, NULL, NULL);
    CHECK(c >= 0);
    if (c < 0)
        return NULL;
    if (r->send_first)
        CHECK_EQ(cio_sock_sendall(c, "bye", 3), 0);
    cio_sleep(0.02);
    struct linger lg = {1, 0};
    CHECK_EQ(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    cio_close(c);
    return NULL;
}

static void *t_reset(void *arg)
{
    (void)arg;
    struct sockaddr_storage addr;
    socklen_t alen;
    rst_ctx r = {.lfd = tcp_listener(AF_INET, 4, &addr, &alen)};
    cio_task *t = cio_spawn(rst_server, &r);
    int fd = cio_socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(cio_sock_connect(fd, (struct sockaddr *)&addr, alen), 0);
    char buf[16];
    /* parked in recv when the RST arrives */
    CHECK_EQ(cio_sock_recv(fd, buf, sizeof buf), -ECONNRESET);
    cio_await(t, NULL);
    cio_release(t);
    cio_close(fd);
    cio_close(r.lfd);
    return NULL;
}

/* Writing to a peer that has gone: -EPIPE (after at most one -ECONNRESET),
 * never SIGPIPE (the process keeps SIGPIPE's default action, which would
 * kill it). */
static void *t_epipe_socket(void *arg)
{
    (void)arg;
    struct sockaddr_storage addr;
    socklen_t alen;
    rst_ctx r = {.lfd = tcp_listener(AF_INET, 4, &addr, &alen)};
    cio_task *t = cio_spawn(rst_server, &r);
    int fd = cio_socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(cio_sock_connect(fd, (struct sockaddr *)&addr, alen), 0);
    cio_await(t, NULL);
    cio_release(t);
    char chunk[4096] = {0};
    int rc = 0;
    for (int i = 0; i < 200 && rc == 0; i++) {
        rc = cio_sock_sendall(fd, chunk, sizeof chunk);
        if (rc == 0)
            cio_sleep(0.005);
    }
    CHECK(rc == -EPIPE || rc == -ECONNRESET);
    /* once the error was reported, every further send is -EPIPE */
    CHECK_EQ(cio_sock_sendall(fd, chunk, sizeof chunk), -EPIPE);
    CHECK_EQ(cio_sock_sendto(fd, chunk, 10, NULL, 0), -EPIPE);
    cio_close(fd);

    /* the same after an orderly close by the peer (FIN, then RST for our data) */
    int sp[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
    cio_close(sp[1]);
    CHECK_EQ(cio_sock_sendall(sp[0], "x", 1), -EPIPE);
    cio_close(sp[0]);
    cio_close(r.lfd);
    return NULL;
}

static void *t_epipe_pipe(void *arg)
{
    (void)arg;
    int p[2];
    CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    cio_close(p[0]);
    CHECK_EQ(cio_sock_sendall(p[1], "x", 1), -EPIPE);
    CHECK_EQ(cio_sock_sendall(p[1], "y", 1), -EPIPE);
    cio_close(p[1]);
    /* no SIGPIPE left pending for this thread either */
    sigset_t pend;
    sigpending(&pend);
    CHECK(!sigismember(&pend, SIGPIPE));
    return NULL;
}

/* ---- cancellation ------------------------------------------------------------- */

typedef struct parked {
    int fd;
    int op; /* 0 accept, 1 recv, 2 recvfrom, 3 connect, 4 sendall */
    const struct sockaddr *addr;
    socklen_t alen;
    int rc;
    char first; /* recv: the first byte received */
} parked;

static void *parked_task(void *arg)
{
    parked *p = arg;
    char buf[64];
    static char big[1 << 20];
    switch (p->op) {
    case 0: p->rc = cio_sock_accept(p->fd, NULL, NULL); break;
    case 1:
        p->rc = (int)cio_sock_recv(p->fd, buf, sizeof buf);
        if (p->rc > 0)
            p->first = buf[0];
        break;
    case 2: p->rc = (int)cio_sock_recvfrom(p->fd, buf, sizeof buf, NULL, NULL); break;
    case 3: p->rc = cio_sock_connect(p->fd, p->addr, p->alen); break;
    case 4:
        p->rc = 0;
        for (int i = 0; i < 64 && p->rc == 0; i++)
            p->rc = cio_sock_sendall(p->fd, big, sizeof big);
        break;
    }
    return NULL;
}

/* Cancelling a task parked in any call returns -ECANCELED and leaves the fd
 * open and usable. */
static void *t_cancel(void *arg)
{
    (void)arg;
    struct sockaddr_storage addr, full;
    socklen_t alen, flen;
    int lfd = tcp_listener(AF_INET, 8, &addr, &alen);
    int flfd = tcp_listener(AF_INET, 0, &full, &flen);
    int cfd = cio_socket(AF_INET, SOCK_STREAM, 0);
    pin_bufs(cfd); /* the parked sendall on sfd must block */
    CHECK_EQ(cio_sock_connect(cfd, (struct sockaddr *)&addr, alen), 0);
    int sfd = cio_sock_accept(lfd, NULL, NULL);
    CHECK(sfd >= 0);
    pin_bufs(sfd);
    int rsp[2]; /* a quiet pair for the parked recv */
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, rsp), 0);
    int ufd = cio_udp_open("127.0.0.1", "0", NULL, NULL);
    CHECK(ufd >= 0);
    /* fill the full listener's queue */
    int fillers[8], nfill = 0;
    for (; nfill < 8; nfill++) {
        fillers[nfill] = cio_socket(AF_INET, SOCK_STREAM, 0);
        cio_timeout to;
        cio_timeout_enter(&to, 0.2);
        int rc = cio_timeout_exit(&to, cio_sock_connect(fillers[nfill], (struct sockaddr *)&full, flen));
        if (rc == -ETIMEDOUT) {
            cio_close(fillers[nfill]);
            break;
        }
    }
    int hang = cio_socket(AF_INET, SOCK_STREAM, 0);

    parked ps[5] = {
        {.fd = lfd, .op = 0},
        {.fd = rsp[0], .op = 1},
        {.fd = ufd, .op = 2},
        {.fd = hang, .op = 3, .addr = (struct sockaddr *)&full, .alen = flen},
        {.fd = sfd, .op = 4}, /* the peer (cfd) does not read */
    };
    cio_task *ts[5];
    for (int i = 0; i < 5; i++)
        ts[i] = cio_spawn(parked_task, &ps[i]);
    cio_sleep(0.1);
    for (int i = 0; i < 5; i++) {
        CHECK(!cio_done(ts[i]));
        cio_cancel(ts[i], NULL);
    }
    for (int i = 0; i < 5; i++) {
        cio_await(ts[i], NULL);
        CHECK(cio_cancelled(ts[i]));
        CHECK_EQ(ps[i].rc, -ECANCELED);
        CHECK(fd_valid(ps[i].fd));
        cio_release(ts[i]);
    }
    /* the fds still work */
    CHECK_EQ(cio_sock_sendall(cfd, "k", 1), 0);
    char buf[4];
    CHECK_EQ(cio_sock_recv(sfd, buf, sizeof buf), 1);
    int c2 = cio_socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(cio_sock_connect(c2, (struct sockaddr *)&addr, alen), 0);
    int s2 = cio_sock_accept(lfd, NULL, NULL);
    CHECK(s2 >= 0);
    cio_close(s2);
    cio_close(c2);
    CHECK_EQ(write(rsp[1], "r", 1), 1);
    CHECK_EQ(cio_sock_recv(rsp[0], buf, sizeof buf), 1);
    cio_close(rsp[0]);
    cio_close(rsp[1]);
    cio_close(hang);
    for (int i = 0; i < nfill; i++)
        cio_close(fillers[i]);
    cio_close(ufd);
    cio_close(sfd);
    cio_close(cfd);
    cio_close(flfd);
    cio_close(lfd);
    return NULL;
}

/* Two descriptors of one socket (dup), a task parked in recv on each:
 * closing one wakes only its own waiter (-EBADF); the other keeps waiting
 * and gets the data (on io_uring the kernel cancels by file, which both
 * descriptors share: only the closed number's operations may go). */
static void *t_close_one_of_dup(void *arg)
{
    (void)arg;
    int sp[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
    int other = fcntl(sp[0], F_DUPFD_CLOEXEC, 0);
    CHECK(other >= 0);
    parked a = {.fd = sp[0], .op = 1, .rc = 1}, b = {.fd = other, .op = 1, .rc = 1};
    cio_task *ta = cio_spawn(parked_task, &a), *tb = cio_spawn(parked_task, &b);
    cio_sleep(0.02); /* both parked */
    CHECK(!cio_done(ta) && !cio_done(tb));
    CHECK_EQ(cio_close(sp[0]), 0);
    cio_await(ta, NULL);
    CHECK_EQ(a.rc, -EBADF);
    cio_sleep(0.02);
    CHECK(!cio_done(tb)); /* still waiting on its own descriptor */
    CHECK_EQ(write(sp[1], "x", 1), 1);
    cio_await(tb, NULL);
    CHECK_EQ(b.rc, 1);
    CHECK_EQ(b.first, 'x');
    cio_release(ta);
    cio_release(tb);
    cio_close(other);
    cio_close(sp[1]);
    return NULL;
}

/* Three tasks parked in accept on one listener (on io_uring the third
 * operation on one fd is kept apart from the first two): closing the
 * listener wakes every one of them with -EBADF. */
static void *t_close_under_three(void *arg)
{
    (void)arg;
    struct sockaddr_storage addr;
    socklen_t alen;
    int lfd = tcp_listener(AF_INET, 8, &addr, &alen);
    parked d[3];
    cio_task *t[3];
    for (int i = 0; i < 3; i++) {
        d[i] = (parked){.fd = lfd, .op = 0, .rc = 1};
        t[i] = cio_spawn(parked_task, &d[i]);
    }
    cio_sleep(0.02);
    for (int i = 0; i < 3; i++)
        CHECK(!cio_done(t[i]));
    CHECK_EQ(cio_close(lfd), 0);
    for (int i = 0; i < 3; i++) {
        cio_await(t[i], NULL);
        CHECK_EQ(d[i].rc, -EBADF);
        cio_release(t[i]);
    }
    return NULL;
}

/* A timeout scope around recv: -ETIMEDOUT, fd still usable. */
static void *t_recv_timeout(void *arg)
{
    (void)arg;
    int sp[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
    char buf[8];
    cio_timeout to;
    cio_timeout_enter(&to, 0.05);
    CHECK_EQ(cio_timeout_exit(&to, (int)cio_sock_recv(sp[0], buf, sizeof buf)), -ETIMEDOUT);
    CHECK_EQ(write(sp[1], "q", 1), 1);
    CHECK_EQ(cio_sock_recv(sp[0], buf, sizeof buf), 1);
    cio_close(sp[0]);
    cio_close(sp[1]);
    return NULL;
}

/* ---- datagrams ----------------------------------------------------------------- */

typedef struct udp_echo {
    int fd;
    int n;
} udp_echo;

static void *udp_echo_task(void *arg)
{
    udp_echo *u = arg;
    for (int i = 0; i < u->n; i++) {
        char buf[2048];
        struct sockaddr_storage from;
        socklen_t flen = sizeof from;
        ssize_t r = cio_sock_recvfrom(u->fd, buf, sizeof buf, (struct sockaddr *)&from, &flen);
        CHECK(r >= 0);
        if (r < 0)
            break;
        CHECK(flen > 0);
        CHECK_EQ(cio_sock_sendto(u->fd, buf, (size_t)r, (struct sockaddr *)&from, flen), r);
    }
    return NULL;
}

static int port_of(int fd)
{
    struct sockaddr_storage ss;
    socklen_t l = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &l) < 0)
        return -1;
    return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                         : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void udp_round_trip(const char *host, int family)
{
    /* bound only */
    int srv = cio_udp_open(host, "0", NULL, NULL);
    CHECK(srv >= 0);
    if (srv < 0)
        return;
    CHECK((fcntl(srv, F_GETFL) & O_NONBLOCK) != 0);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    CHECK_EQ(getsockname(srv, (struct sockaddr *)&ss, &sl), 0);
    CHECK_EQ(ss.ss_family, family);
    int port = port_of(srv);
    CHECK(port > 0);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    udp_echo u = {.fd = srv, .n = 3};
    cio_task *t = cio_spawn(udp_echo_task, &u);

    /* connected only (ephemeral local port) */
    int c1 = cio_udp_open(NULL, NULL, host, ps);
    CHECK(c1 >= 0);
    struct sockaddr_storage peer;
    socklen_t pl = sizeof peer;
    CHECK_EQ(getpeername(c1, (struct sockaddr *)&peer, &pl), 0);
    CHECK_EQ(port_of(c1) > 0, 1);
    CHECK_EQ(cio_sock_sendto(c1, "ping", 4, NULL, 0), 4);
    char buf[64];
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    CHECK_EQ(cio_sock_recvfrom(c1, buf, sizeof buf, (struct sockaddr *)&from, &fl), 4);
    CHECK(memcmp(buf, "ping", 4) == 0);
    CHECK_EQ(from.ss_family, family);

    /* bound and connected */
    int c2 = cio_udp_open(host, "0", host, ps);
    CHECK(c2 >= 0);
    CHECK(port_of(c2) > 0);
    pl = sizeof peer;
    CHECK_EQ(getpeername(c2, (struct sockaddr *)&peer, &pl), 0);
    CHECK_EQ(cio_sock_sendall(c2, "pong!", 5), 0);
    CHECK_EQ(cio_sock_recv(c2, buf, sizeof buf), 5);
    CHECK(memcmp(buf, "pong!", 5) == 0);

    /* unconnected socket, explicit destination */
    int c3 = cio_socket(family, SOCK_DGRAM, 0);
    char big[1400];
    fill_pattern((unsigned char *)big, sizeof big, 3);
    CHECK_EQ(cio_sock_sendto(c3, big, sizeof big, (struct sockaddr *)&ss, sl), (ssize_t)sizeof big);
    char back[2048];
    CHECK_EQ(cio_sock_recvfrom(c3, back, sizeof back, NULL, NULL), (ssize_t)sizeof big);
    CHECK(memcmp(back, big, sizeof big) == 0);

    cio_await(t, NULL);
    cio_release(t);
    cio_close(c1);
    cio_close(c2);
    cio_close(c3);
    cio_close(srv);
}

static void *t_udp(void *arg)
{
    (void)arg;
    udp_round_trip("127.0.0.1", AF_INET);
    if (have_ipv6())
        udp_round_trip("::1", AF_INET6);
    /* a name needs the resolver: "localhost" comes from /etc/hosts */
    int fd = cio_udp_open("localhost", "0", NULL, NULL);
    CHECK(fd >= 0);
    if (fd >= 0)
        cio_close(fd);
    /* nothing at all to bind or connect to */
    CHECK_EQ(cio_udp_open(NULL, NULL, NULL, NULL), -EINVAL);
    return NULL;
}

/* Datagram edges, the same on every back end (on io_uring they are
 * RECVMSG/SENDMSG): a datagram longer than the buffer is cut and the rest
 * dropped, the next read gets the next datagram, a sender address longer
 * than the space given reports its real length, and a connected socket
 * whose peer port is closed reports ECONNREFUSED. */
static void *t_udp_edges(void *arg)
{
    (void)arg;
    int srv = cio_udp_open("127.0.0.1", "0", NULL, NULL);
    CHECK(srv >= 0);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port_of(srv));
    int c = cio_udp_open(NULL, NULL, "127.0.0.1", ps);
    CHECK(c >= 0);
    CHECK_EQ(cio_sock_sendto(c, "0123456789", 10, NULL, 0), 10);
    CHECK_EQ(cio_sock_sendto(c, "ab", 2, NULL, 0), 2);
    char buf[4];
    struct sockaddr_storage from;
    socklen_t fl = 2; /* too short for an address */
    CHECK_EQ(cio_sock_recvfrom(srv, buf, sizeof buf, (struct sockaddr *)&from, &fl), 4);
    CHECK(memcmp(buf, "0123", 4) == 0);
    CHECK_EQ(fl, (socklen_t)sizeof(struct sockaddr_in));
    CHECK_EQ(cio_sock_recvfrom(srv, buf, sizeof buf, NULL, NULL), 2);
    CHECK(memcmp(buf, "ab", 2) == 0);
    cio_close(srv); /* nobody at the port now */
    CHECK_EQ(cio_sock_sendto(c, "x", 1, NULL, 0), 1);
    cio_timeout to;
    cio_timeout_enter(&to, 2);
    CHECK_EQ(cio_timeout_exit(&to, (int)cio_sock_recvfrom(c, buf, sizeof buf, NULL, NULL)), -ECONNREFUSED);
    cio_close(c);
    return NULL;
}

/* ---- main --------------------------------------------------------------------- */

static void run_all(void)
{
    RUN_TASK_TEST(t_connect_accept_echo);
    RUN_TASK_TEST(t_socketpair_and_pipe);
    RUN_TASK_TEST(t_refused);
    RUN_TASK_TEST(t_connect_timeout);
    RUN_TASK_TEST(t_reset);
    RUN_TASK_TEST(t_epipe_socket);
    RUN_TASK_TEST(t_epipe_pipe);
    RUN_TASK_TEST(t_cancel);
    RUN_TASK_TEST(t_close_one_of_dup);
    RUN_TASK_TEST(t_close_under_three);
    RUN_TASK_TEST(t_recv_timeout);
    RUN_TASK_TEST(t_udp);
    RUN_TASK_TEST(t_udp_edges);
}

int main(void)
{
    /* SIGPIPE keeps its default action (death): if any call raised it, the
     * test would die.  The library must not change the disposition. */
    signal(SIGPIPE, SIG_DFL);
    int rc = check_on_backend(run_all, &backend);
    if (rc)
        return rc;
    struct sigaction sa;
    CHECK_EQ(sigaction(SIGPIPE, NULL, &sa), 0);
    CHECK(sa.sa_handler == SIG_DFL);
    return check_exit();
}
