/* SPDX-License-Identifier: MIT */
/* echo_floor -- the hand-written epoll echo server that bench/net.sh uses
 * as the floor for cio's echo_server: no library, no tasks, no buffering
 * beyond what a partial write forces.
 *
 * Level-triggered epoll, one registration per connection for its whole
 * life (EPOLLIN; EPOLLOUT only while a partial write is pending, which a
 * 1 KiB ping-pong never causes).  On readable: one read() into a 64 KiB
 * buffer, one write() of what came in.  No read until EAGAIN: with level
 * triggering, data left in the socket is reported by the next epoll_wait,
 * so a message costs one read + one write plus its share of epoll_wait --
 * the fewest system calls a readiness-based echo server can make.
 *
 * It prints "Serving on HOST:PORT" when listening (as examples/echo_server)
 * and runs until SIGTERM or SIGINT (exit 0).
 *
 * Usage: echo_floor [-t N] [-H HOST] PORT
 *   -t N     N threads, each with its own epoll and its own SO_REUSEPORT
 *            listener (the kernel spreads connections); default 1
 *   PORT     0: any free port (single thread only)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS 512
#define BUF (64 * 1024)

typedef struct pending { /* bytes a partial write left over */
    char *data;
    size_t off, len;
} pending;

typedef struct worker {
    pthread_t th;
    int lfd, ep;
    pending *pend; /* indexed by fd */
    size_t npend;
} worker;

static volatile sig_atomic_t quit;
static const char *host = "127.0.0.1";
static int port;
static int nthreads = 1;

static void on_signal(int sig)
{
    (void)sig;
    quit = 1;
}

static int listen_on(int reuse_port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuse_port)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        listen(fd, 4096) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static pending *pend_of(worker *w, int fd)
{
    if ((size_t)fd >= w->npend) {
        size_t n = w->npend ? w->npend : 1024;
        while (n <= (size_t)fd)
            n *= 2;
        pending *p = realloc(w->pend, n * sizeof *p);
        if (!p)
            return NULL;
        memset(p + w->npend, 0, (n - w->npend) * sizeof *p);
        w->pend = p;
        w->npend = n;
    }
    return &w->pend[fd];
}

static void drop(worker *w, int fd)
{
    pending *p = pend_of(w, fd);
    if (p) {
        free(p->data);
        *p = (pending){0};
    }
    close(fd); /* also removes it from the epoll set */
}

/* Flush what a partial write left; returns 0 when all is out, 1 when some
 * is still pending, -1 on error. */
static int flush(worker *w, int fd, pending *p)
{
    while (p->off < p->len) {
        ssize_t n = write(fd, p->data + p->off, p->len - p->off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? 1 : -1;
        }
        p->off += (size_t)n;
    }
    free(p->data);
    *p = (pending){0};
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(w->ep, EPOLL_CTL_MOD, fd, &ev);
    return 0;
}

static void on_readable(worker *w, int fd, char *buf)
{
    pending *p = (size_t)fd < w->npend ? &w->pend[fd] : NULL;
    if (p && p->len) /* a partial write is pending: no reading until it is out */
        return;
    ssize_t n = read(fd, buf, BUF);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        drop(w, fd);
        return;
    }
    ssize_t off = 0;
    while (off < n) {
        ssize_t k = write(fd, buf + off, (size_t)(n - off));
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN) {
                drop(w, fd);
                return;
            }
            /* the peer does not read: keep the rest, wait for EPOLLOUT */
            p = pend_of(w, fd);
            if (!p || !(p->data = malloc((size_t)(n - off)))) {
                drop(w, fd);
                return;
            }
            memcpy(p->data, buf + off, (size_t)(n - off));
            p->off = 0;
            p->len = (size_t)(n - off);
            struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
            epoll_ctl(w->ep, EPOLL_CTL_MOD, fd, &ev);
            return;
        }
        off += k;
    }
}

static void *run(void *arg)
{
    worker *w = arg;
    char *buf = malloc(BUF);
    struct epoll_event evs[MAX_EVENTS];
    struct epoll_event lev = {.events = EPOLLIN, .data.fd = w->lfd};
    if (!buf || epoll_ctl(w->ep, EPOLL_CTL_ADD, w->lfd, &lev) < 0) {
        perror("echo_floor");
        exit(1);
    }
    while (!quit) {
        int n = epoll_wait(w->ep, evs, MAX_EVENTS, 200); /* 200 ms: notice quit */
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == w->lfd) {
                for (;;) {
                    int c = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (c < 0)
                        break; /* EAGAIN, or EMFILE: the next wait tells again */
                    int one = 1;
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event ev = {.events = EPOLLIN, .data.fd = c};
                    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c, &ev) < 0)
                        close(c);
                }
                continue;
            }
            if (evs[i].events & EPOLLOUT) {
                pending *p = pend_of(w, fd);
                if (p && p->len && flush(w, fd, p) < 0) {
                    drop(w, fd);
                    continue;
                }
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(w, fd, buf);
        }
    }
    free(buf);
    return NULL;
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "t:H:h")) != -1) {
        switch (opt) {
        case 't': nthreads = atoi(optarg); break;
        case 'H': host = optarg; break;
        default:
            fprintf(stderr, "usage: echo_floor [-t N] [-H HOST] PORT\n");
            return opt == 'h' ? 0 : 2;
        }
    }
    if (optind != argc - 1 || nthreads < 1 || nthreads > 64) {
        fprintf(stderr, "usage: echo_floor [-t N] [-H HOST] PORT\n");
        return 2;
    }
    port = atoi(argv[optind]);
    if (nthreads > 1 && port == 0) {
        fprintf(stderr, "echo_floor: port 0 needs a single thread\n");
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    worker *ws = calloc((size_t)nthreads, sizeof *ws);
    for (int i = 0; i < nthreads; i++) {
        ws[i].lfd = listen_on(nthreads > 1);
        ws[i].ep = epoll_create1(EPOLL_CLOEXEC);
        if (ws[i].lfd < 0 || ws[i].ep < 0) {
            fprintf(stderr, "echo_floor: cannot listen on %s:%d: %s\n", host, port, strerror(errno));
            return 1;
        }
    }
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    getsockname(ws[0].lfd, (struct sockaddr *)&a, &al);
    printf("Serving on %s:%d\n", host, ntohs(a.sin_port));
    fflush(stdout);
    for (int i = 1; i < nthreads; i++)
        pthread_create(&ws[i].th, NULL, run, &ws[i]);
    run(&ws[0]);
    for (int i = 1; i < nthreads; i++)
        pthread_join(ws[i].th, NULL);
    return 0;
}
