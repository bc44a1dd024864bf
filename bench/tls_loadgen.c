/* SPDX-License-Identifier: MIT */
/* tls_loadgen -- the load generator of bench/tls.sh: OpenSSL clients on one
 * thread, level-triggered epoll, non-blocking sockets, no cio.
 *
 * Modes (-m):
 *   echo  every connection sends SIZE bytes and waits for all SIZE of them
 *         to come back, then sends again (ping-pong, one message in flight
 *         per connection); a message is one round trip
 *   hs    every connection handshakes, sends one byte and reads it back
 *         (which also brings the server's session tickets), sends its
 *         close_notify and closes, then reconnects; a message is one such
 *         connection.  -r offers the session of the connection before
 *         (resumption; the count of resumed handshakes is reported)
 * The client offers TLS 1.3 only, TLS_AES_128_GCM_SHA256 and X25519, and
 * does not verify the certificate (the handshake's signature is still
 * checked, as TLS 1.3 requires).
 *
 * All connections are opened before the clock starts (echo: and have done
 * their handshake; hs: they start their first handshake then); -w seconds
 * of warm-up, then -d seconds measured.
 * Output, one line:
 *   msgs=N secs=S rate=R total=T errors=E cpu_s=U resumed=K
 * msgs/secs/rate over the measurement only, total = every message including
 * warm-up, cpu_s = the load generator's own CPU time (user+sys) during the
 * measurement, resumed = hs -r: handshakes the server resumed.
 * -P PID adds srv_cpu_s=C: the CPU time (user+sys, all threads) process
 * PID used during the measurement, read from /proc/PID/stat.
 * -S busy-polls (epoll_wait with a zero timeout), as bench/loadgen does.
 *
 * Usage: tls_loadgen -p PORT [-m echo|hs] [-c CONNS] [-s SIZE] [-d SECS]
 *                    [-w SECS] [-r] [-S] [-P PID] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { ST_CONNECTING, ST_HANDSHAKE, ST_WRITE, ST_READ };

typedef struct conn {
    int fd;
    SSL *ssl;
    SSL_SESSION *sess; /* hs -r: offered at the next connection */
    int st;
    size_t off;   /* bytes written (ST_WRITE) or read (ST_READ) of the message */
    int ready;    /* its first handshake is done */
    uint32_t ev;  /* events registered */
} conn;

static SSL_CTX *ctx;
static int ep, port = 0, nconns = 50, hs_mode = 0, resume = 0, busy = 0;
static size_t size = 1024;
static char *wbuf, *rbuf;
static long long msgs, errors, resumed;
static int nready; /* connections whose first handshake is done */
static struct sockaddr_in addr;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

/* CPU seconds process pid has used so far (-1 if unknown). */
static double proc_cpu(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the name may hold spaces */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void watch(conn *c, uint32_t ev)
{
    if (c->ev == ev)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(ep, c->ev ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &e);
    c->ev = ev;
}

static int open_conn(conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->ev = 0;
    c->st = ST_CONNECTING;
    c->off = 0;
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS)
        return -1;
    c->ssl = SSL_new(ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_connect_state(c->ssl);
    if (resume && c->sess)
        SSL_set_session(c->ssl, c->sess);
    watch(c, EPOLLOUT);
    return 0;
}

static void close_conn(conn *c, int clean)
{
    if (clean)
        SSL_shutdown(c->ssl); /* our close_notify; not waiting for the server's */
    SSL_free(c->ssl);
    c->ssl = NULL;
    close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
}

/* What a failed SSL call asks for: 1 wait (events set), -1 error. */
static int want(conn *c, int r)
{
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        watch(c, EPOLLIN);
        return 1;
    case SSL_ERROR_WANT_WRITE:
        watch(c, EPOLLOUT);
        return 1;
    default:
        ERR_clear_error();
        return -1;
    }
}

/* Runs c as far as it goes without waiting; -1 on an error. */
static int step(conn *c)
{
    size_t msg = hs_mode ? 1 : size;
    for (;;) {
        size_t n = 0;
        int r;
        switch (c->st) {
        case ST_CONNECTING: {
            int err = 0;
            socklen_t l = sizeof err;
            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || err)
                return -1;
            c->st = ST_HANDSHAKE;
            break;
        }
        case ST_HANDSHAKE:
            if ((r = SSL_do_handshake(c->ssl)) != 1)
                return want(c, r) > 0 ? 0 : -1;
            if (!c->ready) {
                c->ready = 1;
                nready++;
            }
            c->st = ST_WRITE;
            c->off = 0;
            break;
        case ST_WRITE:
            if ((r = SSL_write_ex(c->ssl, wbuf + c->off, msg - c->off, &n)) != 1)
                return want(c, r) > 0 ? 0 : -1;
            c->off += n;
            if (c->off == msg) {
                c->st = ST_READ;
                c->off = 0;
            }
            break;
        case ST_READ:
            if ((r = SSL_read_ex(c->ssl, rbuf, msg - c->off, &n)) != 1)
                return want(c, r) > 0 ? 0 : -1;
            c->off += n;
            if (c->off < msg)
                break;
            msgs++;
            c->st = ST_WRITE;
            c->off = 0;
            if (hs_mode) {
                if (SSL_session_reused(c->ssl))
                    resumed++;
                if (resume) {
                    SSL_SESSION_free(c->sess);
                    c->sess = SSL_get1_session(c->ssl);
                }
                close_conn(c, 1);
                return open_conn(c);
            }
            break;
        }
    }
}

static void fail_conn(conn *c)
{
    errors++;
    if (c->ssl)
        close_conn(c, 0);
    SSL_SESSION_free(c->sess);
    c->sess = NULL;
    if (open_conn(c) < 0) {
        fprintf(stderr, "tls_loadgen: cannot reconnect: %s\n", strerror(errno));
        exit(1);
    }
}

static void run_for(conn *cs, double secs)
{
    (void)cs;
    double end = now() + secs;
    struct epoll_event evs[256];
    while (now() < end) {
        int n = epoll_wait(ep, evs, 256, busy ? 0 : 100);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (step(c) < 0)
                fail_conn(c);
        }
    }
}

int main(int argc, char **argv)
{
    double secs = 2, warm = 0.5;
    int o, srv_pid = 0;
    while ((o = getopt(argc, argv, "p:m:c:s:d:w:rSP:")) != -1) {
        switch (o) {
        case 'p': port = atoi(optarg); break;
        case 'm': hs_mode = strcmp(optarg, "hs") == 0; break;
        case 'c': nconns = atoi(optarg); break;
        case 's': size = (size_t)atol(optarg); break;
        case 'd': secs = atof(optarg); break;
        case 'w': warm = atof(optarg); break;
        case 'r': resume = 1; break;
        case 'S': busy = 1; break;
        case 'P': srv_pid = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: tls_loadgen -p PORT [-m echo|hs] [-c N] [-s SIZE] [-d S] [-w S] [-r] [-S]\n");
            return 2;
        }
    }
    if (port <= 0 || nconns <= 0 || size == 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256") != 1 || SSL_CTX_set1_groups_list(ctx, "X25519") != 1)
        return 1;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    wbuf = malloc(size);
    rbuf = malloc(size);
    memset(wbuf, 'x', size);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ep = epoll_create1(EPOLL_CLOEXEC);
    conn *cs = calloc((size_t)nconns, sizeof *cs);
    for (int i = 0; i < nconns; i++)
        if (open_conn(&cs[i]) < 0) {
            fprintf(stderr, "tls_loadgen: connect: %s\n", strerror(errno));
            return 1;
        }
    /* echo: every connection handshaken before the warm-up (1000 of them
     * take seconds); hs: the handshakes are what is measured */
    for (double t = now(); !hs_mode && nready < nconns && now() - t < 120;)
        run_for(cs, 0.05);
    run_for(cs, warm);
    long long m0 = msgs, r0 = resumed;
    double s0 = srv_pid ? proc_cpu(srv_pid) : -1;
    double t0 = now(), c0 = cpu_now();
    run_for(cs, secs);
    double el = now() - t0, cpu = cpu_now() - c0;
    double s1 = srv_pid ? proc_cpu(srv_pid) : -1;
    long long m = msgs - m0;
    printf("msgs=%lld secs=%.3f rate=%.0f total=%lld errors=%lld cpu_s=%.3f resumed=%lld", m, el, (double)m / el,
           msgs, errors, cpu, resumed - r0);
    if (s0 >= 0 && s1 >= 0)
        printf(" srv_cpu_s=%.3f", s1 - s0);
    printf("\n");
    return m > 0 ? 0 : 1;
}
