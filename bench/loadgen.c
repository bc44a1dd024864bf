/* SPDX-License-Identifier: MIT */
/* loadgen -- the load generator of bench/net.sh and bench/soak.sh: one
 * thread, level-triggered epoll, non-blocking sockets, no library.
 *
 * Modes (-m):
 *   echo        every connection sends SIZE bytes and waits for all SIZE of
 *               them to come back, then sends again (ping-pong, one
 *               message in flight per connection)
 *   http        every connection sends "GET / HTTP/1.1" (keep-alive) and
 *               reads the whole response (head + Content-Length body),
 *               then sends again; any status other than 200 is an error
 *   abort-echo  "a client that times out": connects, sends SIZE bytes (use
 *               a large SIZE, e.g. 262144) without reading, gives up after
 *               -T ms and closes -- with a reset (SO_LINGER 0) every other
 *               time, with a FIN otherwise -- then reconnects.  The server
 *               is left blocked in a write/drain that must be cancelled.
 *   abort-http  the same with half a request head ("GET / HTTP/1.1\r\nHo"):
 *               the server is left waiting for the rest of the head.
 * -k K closes and reopens a connection after every K messages (connect /
 * disconnect churn; 0: never).
 *
 * All connections are opened before the clock starts; then -w seconds of
 * warm-up, then the measurement: -d seconds, or until -n messages are done.
 * Output, one line:
 *   msgs=N secs=S rate=R total=T errors=E connects=C cpu_s=U closed_by_server=K
 * msgs/secs/rate over the measurement only, total = every message
 * including warm-up (for system-call counts over the whole run), cpu_s =
 * the load generator's own CPU time (user+sys) during the measurement,
 * closed_by_server = abort modes: the times the server closed first.
 * Exit 0, or 1 if nothing at all could be measured (e.g. connection
 * refused).
 *
 * Usage: loadgen -p PORT [-H HOST] [-m MODE] [-c CONNS] [-s SIZE]
 *                [-d SECS | -n MSGS] [-w SECS] [-k K] [-T MS] [-S] [-q]
 * -S busy-polls (epoll_wait with a zero timeout) instead of sleeping: the
 * load generator then owns its CPU, and the server never pays for waking
 * it up (in a VM an inter-processor interrupt is a costly exit), which
 * otherwise makes the server's CPU per message swing with the load
 * generator's idle time. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { M_ECHO, M_HTTP, M_ABORT_ECHO, M_ABORT_HTTP };

typedef struct conn {
    int fd;
    int connected;
    size_t sent, got;    /* of the current message */
    size_t want;         /* bytes of the response expected (http: once the head is in) */
    size_t head_end;     /* http: 0 until the head is parsed */
    unsigned since_open; /* messages on this connection */
    uint64_t deadline;   /* abort modes: when to give up */
    unsigned nabort;
} conn;

static const char *host = "127.0.0.1";
static int port, mode = M_ECHO, nconns = 50, quiet;
static size_t size = 1024;
static double duration = 2, warmup = 0.5;
static uint64_t nmsgs;
static unsigned reconnect_every, abort_ms = 50;
static int spin; /* -S: never sleep in epoll_wait (busy-poll) */

static int ep;
static conn *cs;
static char *msg;
static size_t msglen;
static char rbuf[256 * 1024];
static uint64_t done, errors, connects, server_closed;
static struct sockaddr_in addr;

static const char http_req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: loadgen\r\n\r\n";
static const char http_half[] = "GET / HTTP/1.1\r\nHo";

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static void open_conn(conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        perror("loadgen: socket");
        exit(1);
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->connected = 0;
    c->sent = c->got = c->want = c->head_end = 0;
    c->since_open = 0;
    c->deadline = 0;
    connects++;
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) == 0)
        c->connected = 1;
    else if (errno != EINPROGRESS) {
        errors++;
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void close_conn(conn *c, int rst)
{
    if (rst) {
        struct linger l = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    close(c->fd);
    c->fd = -1;
}

static void set_events(conn *c, uint32_t e)
{
    struct epoll_event ev = {.events = e, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what is left of the current message; 0 done, 1 would block, -1 error. */
static int send_rest(conn *c)
{
    while (c->sent < msglen) {
        ssize_t n = send(c->fd, msg + c->sent, msglen - c->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? 1 : -1;
        }
        c->sent += (size_t)n;
    }
    return 0;
}

/* What a connection waits for once its message is out: the response, except
 * in abort-echo, whose client never reads (so that the server's writes
 * block). */
static uint32_t quiet_events(void) { return mode == M_ABORT_ECHO ? 0 : EPOLLIN; }

static void restart(conn *c)
{
    close_conn(c, 0);
    open_conn(c);
}

/* The connection finished a message: count it, then send the next one. */
static void next_message(conn *c)
{
    done++;
    c->since_open++;
    c->sent = c->got = c->want = c->head_end = 0;
    if (reconnect_every && c->since_open >= reconnect_every) {
        restart(c);
        return;
    }
    int r = send_rest(c);
    if (r < 0) {
        errors++;
        restart(c);
    } else if (r > 0) {
        set_events(c, quiet_events() | EPOLLOUT);
    }
}

/* http: parses the head in rbuf[0..len) once it is complete; returns the
 * whole response length, 0 if the head is not complete, -1 on a bad one. */
static long http_response_len(const char *b, size_t len)
{
    const char *end = memmem(b, len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end - b) + 4;
    if (len < 12 || memcmp(b + 9, "200", 3) != 0)
        return -1;
    long cl = -1;
    for (const char *p = b; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        p = nl + 1;
        if ((size_t)(end - p) > 15 && strncasecmp(p, "content-length:", 15) == 0) {
            cl = strtol(p + 15, NULL, 10);
            break;
        }
    }
    if (cl < 0)
        return -1;
    return (long)head + cl;
}

static void on_readable(conn *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, rbuf, sizeof rbuf, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return;
            errors++;
            restart(c);
            return;
        }
        if (n == 0) {
            errors++;
            restart(c);
            return;
        }
        if (mode == M_ECHO) {
            c->got += (size_t)n;
            if (c->got >= msglen) {
                if (c->got > msglen)
                    errors++; /* more than was sent: impossible for an echo */
                next_message(c);
            }
            return; /* level-triggered: more data is reported again */
        }
        if (mode == M_HTTP) {
            /* A hello response is small: it arrives in one segment in
             * practice.  Keep a short per-connection tail for the rare split. */
            static char *acc[65536];
            static size_t acclen[65536];
            size_t idx = (size_t)(c - cs);
            const char *b = rbuf;
            size_t len = (size_t)n;
            if (acclen[idx]) { /* the rest of a split response */
                if (acclen[idx] + len > 8192) {
                    errors++;
                    acclen[idx] = 0;
                    restart(c);
                    return;
                }
                memcpy(acc[idx] + acclen[idx], rbuf, len);
                acclen[idx] += len;
                b = acc[idx];
                len = acclen[idx];
            }
            long want = http_response_len(b, len);
            if (want < 0) {
                errors++;
                acclen[idx] = 0;
                restart(c);
                return;
            }
            if (want == 0 || (size_t)want > len) {
                if (b == rbuf) {
                    if (!acc[idx])
                        acc[idx] = malloc(8192);
                    if (!acc[idx] || len > 8192) {
                        errors++;
                        restart(c);
                        return;
                    }
                    memcpy(acc[idx], rbuf, len);
                    acclen[idx] = len;
                }
                return;
            }
            if ((size_t)want < len)
                errors++; /* more than one response: never pipelined here */
            acclen[idx] = 0;
            next_message(c);
            return;
        }
        /* abort modes: whatever the server says is ignored */
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: loadgen -p PORT [-H HOST] [-m echo|http|abort-echo|abort-http] [-c CONNS] [-s SIZE]\n"
                    "               [-d SECS | -n MSGS] [-w SECS] [-k K] [-T MS] [-S] [-q]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "p:H:m:c:s:d:n:w:k:T:qS")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'H': host = optarg; break;
        case 'm':
            if (strcmp(optarg, "echo") == 0)
                mode = M_ECHO;
            else if (strcmp(optarg, "http") == 0)
                mode = M_HTTP;
            else if (strcmp(optarg, "abort-echo") == 0)
                mode = M_ABORT_ECHO;
            else if (strcmp(optarg, "abort-http") == 0)
                mode = M_ABORT_HTTP;
            else
                usage();
            break;
        case 'c': nconns = atoi(optarg); break;
        case 's': size = strtoul(optarg, NULL, 10); break;
        case 'd': duration = atof(optarg); break;
        case 'n': nmsgs = strtoull(optarg, NULL, 10); break;
        case 'w': warmup = atof(optarg); break;
        case 'k': reconnect_every = (unsigned)atoi(optarg); break;
        case 'T': abort_ms = (unsigned)atoi(optarg); break;
        case 'q': quiet = 1; break;
        case 'S': spin = 1; break;
        default: usage();
        }
    }
    if (port <= 0 || nconns < 1 || nconns > 65536 || size < 1)
        usage();
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nconns + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)nconns + 64 ? rl.rlim_max : (rlim_t)nconns + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "loadgen: bad address %s\n", host);
        return 2;
    }
    if (mode == M_HTTP) {
        msg = (char *)http_req;
        msglen = sizeof http_req - 1;
    } else if (mode == M_ABORT_HTTP) {
        msg = (char *)http_half;
        msglen = sizeof http_half - 1;
    } else {
        msg = malloc(size);
        for (size_t i = 0; i < size; i++)
            msg[i] = (char)('a' + i % 26);
        msglen = size;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    cs = calloc((size_t)nconns, sizeof *cs);

    /* Connect everything first (the clock has not started). */
    for (int i = 0; i < nconns; i++)
        open_conn(&cs[i]);
    int pending = nconns;
    uint64_t give_up = now_ns() + 10000000000ull;
    struct epoll_event evs[512];
    for (int i = 0; i < nconns; i++)
        if (cs[i].connected)
            pending--;
    while (pending > 0 && now_ns() < give_up) {
        int n = epoll_wait(ep, evs, 512, 100);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c->connected)
                continue;
            int err = 0;
            socklen_t el = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
            if (err) {
                fprintf(stderr, "loadgen: connect to %s:%d: %s\n", host, port, strerror(err));
                return 1;
            }
            c->connected = 1;
            set_events(c, EPOLLIN);
            pending--;
        }
    }
    if (pending > 0) {
        fprintf(stderr, "loadgen: %d of %d connections not established in 10 s\n", pending, nconns);
        return 1;
    }
    for (int i = 0; i < nconns; i++) {
        set_events(&cs[i], quiet_events());
        cs[i].deadline = now_ns() + (uint64_t)abort_ms * 1000000u;
        int r = send_rest(&cs[i]);
        if (r > 0)
            set_events(&cs[i], quiet_events() | EPOLLOUT);
        else if (r < 0)
            errors++;
    }

    uint64_t t0 = now_ns();
    uint64_t t_meas = t0 + (uint64_t)(warmup * 1e9), t_end = 0;
    uint64_t done_at_meas = 0;
    double cpu0 = 0;
    int measuring = warmup <= 0;
    if (measuring) {
        cpu0 = cpu_s();
        t_end = nmsgs ? 0 : t0 + (uint64_t)(duration * 1e9);
    }
    int abort_mode = mode == M_ABORT_ECHO || mode == M_ABORT_HTTP;
    for (;;) {
        int n = epoll_wait(ep, evs, 512, spin ? 0 : abort_mode ? 5 : 20);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            uint32_t e = evs[i].events;
            if (!c->connected) { /* a reconnect completing */
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err) {
                    errors++;
                    restart(c);
                    continue;
                }
                c->connected = 1;
                c->deadline = now_ns() + (uint64_t)abort_ms * 1000000u;
                int r = send_rest(c);
                set_events(c, r > 0 ? quiet_events() | EPOLLOUT : quiet_events());
                if (r < 0) {
                    errors++;
                    restart(c);
                }
                continue;
            }
            if (e & EPOLLOUT) {
                int r = send_rest(c);
                if (r < 0) {
                    if (!abort_mode)
                        errors++;
                    restart(c);
                    continue;
                }
                if (r == 0)
                    set_events(c, quiet_events());
            }
            if (e & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                if (abort_mode) {
                    ssize_t k;
                    while ((k = recv(c->fd, rbuf, sizeof rbuf, 0)) > 0) {
                    }
                    if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
                        /* the server gave up first (e.g. its head timeout): a message all the same */
                        done++;
                        server_closed++;
                        restart(c);
                    }
                } else {
                    on_readable(c);
                }
            }
        }
        uint64_t t = now_ns();
        if (abort_mode) {
            for (int i = 0; i < nconns; i++) {
                conn *c = &cs[i];
                if (c->fd >= 0 && c->connected && t >= c->deadline) {
                    done++; /* one "request" given up on */
                    close_conn(c, c->nabort++ & 1);
                    open_conn(c);
                }
            }
        }
        if (!measuring && t >= t_meas) {
            measuring = 1;
            done_at_meas = done;
            cpu0 = cpu_s();
            t_meas = t;
            t_end = nmsgs ? 0 : t + (uint64_t)(duration * 1e9);
        }
        if (measuring) {
            if ((t_end && t >= t_end) || (nmsgs && done - done_at_meas >= nmsgs)) {
                double secs = (double)(t - (warmup <= 0 ? t0 : t_meas)) * 1e-9;
                uint64_t m = done - done_at_meas;
                double cpu = cpu_s() - cpu0;
                printf("msgs=%llu secs=%.3f rate=%.0f total=%llu errors=%llu connects=%llu cpu_s=%.3f "
                       "closed_by_server=%llu\n",
                       (unsigned long long)m, secs, secs > 0 ? (double)m / secs : 0, (unsigned long long)done,
                       (unsigned long long)errors, (unsigned long long)connects, cpu,
                       (unsigned long long)server_closed);
                fflush(stdout);
                return m > 0 ? 0 : 1;
            }
        }
    }
}
