/* SPDX-License-Identifier: MIT */
/* echo_uring_floor -- the hand-written io_uring echo server that
 * bench/net.sh uses as the floor for cio's echo_server on
 * CIO_BACKEND=io_uring: liburing and nothing else, no tasks, every
 * operation a completion handled straight from the ring.
 *
 * One ring, one multishot ACCEPT on the listener (re-armed if the kernel
 * ends it); accepted sockets get TCP_NODELAY, as in echo_floor.  The SQEs
 * queued while handling completions reach the kernel with the next wait,
 * in one io_uring_submit_and_wait_timeout per loop iteration (200 ms, to
 * notice SIGTERM): a message costs its share of one io_uring_enter and no
 * other system call.  The ring asks for SUBMIT_ALL, COOP_TASKRUN (the
 * kernel runs completions when the loop enters it, no interrupts) and
 * TASKRUN_FLAG, with a CQ of CQ_ENTRIES; on a kernel that refuses those
 * flags (EINVAL), for the large CQ alone.
 *
 * Default mode, single-shot (what cio's streams do): each connection owns
 * two 64 KiB buffers.  A RECV into one; at its completion, a SEND of what
 * came in from that buffer and, in the same submission, the next RECV into
 * the other one, so a RECV is in flight while the SEND is.  A RECV never
 * targets a buffer being sent or waiting to be: when the second RECV
 * completes before the first SEND (a peer slow to read), its data waits
 * and no RECV is posted until that SEND is done.  A short SEND is resumed
 * with the rest.  After a RECV that came back short (the socket is
 * drained) the next one is IORING_RECVSEND_POLL_FIRST: the kernel arms the
 * poll at once instead of trying a read that would fail with EAGAIN.
 *
 * -m, multishot with provided buffers: one multishot RECV per connection
 * (IOSQE_BUFFER_SELECT) takes NBUF buffers of BUF_SIZE bytes from a buffer
 * ring registered with io_uring_register_buf_ring; each completion's
 * buffer is echoed as it is and goes back to the ring at its SEND's
 * completion (returns are published once per iteration).  At most one
 * SEND per connection is in flight (SENDs submitted together on one
 * socket may complete out of order); later buffers wait in order.  A
 * multishot RECV the kernel ends (a CQE without IORING_CQE_F_MORE) is
 * re-armed; one ended by -ENOBUFS (the ring ran dry) once a buffer has come
 * back.  A connection whose peer does not read keeps its buffers: enough
 * such peers would starve the others (not a concern for a benchmark).
 *
 * A connection ends at EOF (once what came in has been echoed) or on an
 * error; its fd is closed (and its buffers given back) when none of its
 * operations is in flight any more -- shutdown() first ends a RECV still
 * waiting -- so no completion ever refers to a reused fd.
 *
 * It prints "Serving on HOST:PORT" when listening (as examples/echo_server)
 * and runs until SIGTERM or SIGINT (exit 0).  Exit 1 when the kernel
 * refuses io_uring or what the mode needs (multishot ACCEPT and RECV,
 * buffer rings: Linux 6.0).
 *
 * Usage: echo_uring_floor [-m] [-H HOST] PORT
 *   -m       multishot RECV with a provided buffer ring (default: single-shot)
 *   PORT     0: any free port
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF (64 * 1024)    /* single-shot: per buffer, two per connection */
#define NBUF 4096          /* -m: provided buffers (a power of two) */
#define BUF_SIZE 4096      /* -m: bytes each */
#define BGID 1             /* -m: their buffer group */
#define SQ_ENTRIES 256     /* a full SQ is submitted early */
#define CQ_ENTRIES 16384

enum { OP_ACCEPT = 1, OP_RECV, OP_SEND };
#define UDATA(op, fd) ((uint64_t)(op) << 32 | (uint32_t)(fd))

typedef struct conn {
    int fd;
    bool eof;        /* the peer is done: no more RECV, close once echoed */
    bool dead;       /* an error: close as soon as nothing is in flight */
    bool recving;    /* a RECV (-m: the multishot RECV) is in flight */
    bool sending;    /* a SEND is in flight */
    bool poll_first; /* single-shot: the last RECV came back short */
    bool starved;    /* -m: RECV ended by ENOBUFS, on the starved list */
    unsigned off;    /* bytes of the current SEND's buffer already sent */
    /* single-shot: buffer (0, 1) being received into, being sent, or
     * holding data that waits for the SEND in flight; -1: none */
    int rbuf, sbuf, wbuf;
    unsigned len[2];
    /* -m: buffer ids received and not yet echoed, in order, linked
     * through bid_next; the head is the one being sent; -1: empty */
    int head, tail;
    struct conn *next_starved;
    char buf[]; /* single-shot: 2 x BUF */
} conn;

static volatile sig_atomic_t quit;
static const char *host = "127.0.0.1";
static int port;
static bool multi;
static struct io_uring ring;
static int lfd = -1;
static conn **conns; /* indexed by fd */
static size_t nconns;

/* -m */
static struct io_uring_buf_ring *br;
static char *bufs;
static int bid_next[NBUF];
static unsigned bid_len[NBUF];
static int returned;      /* buffers added to the ring, not yet published */
static conn *starved;     /* connections waiting for a buffer to come back */

static void on_signal(int sig)
{
    (void)sig;
    quit = 1;
}

static void die(const char *what, int err)
{
    fprintf(stderr, "echo_uring_floor: %s: %s\n", what, strerror(err));
    exit(1);
}

static struct io_uring_sqe *sqe_get(void)
{
    struct io_uring_sqe *s = io_uring_get_sqe(&ring);
    if (!s) { /* the SQ is full: submit it now */
        io_uring_submit(&ring);
        s = io_uring_get_sqe(&ring);
        if (!s)
            die("no SQE", EBUSY);
    }
    return s;
}

static void post_accept(void)
{
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_multishot_accept(s, lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(s, UDATA(OP_ACCEPT, lfd));
}

static void post_send(conn *c, const char *p, unsigned n)
{
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_send(s, c->fd, p, n, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, UDATA(OP_SEND, c->fd));
    c->sending = true;
}

/* Single-shot: a RECV into the buffer that is neither being sent nor
 * waiting to be, if there is one. */
static void post_recv(conn *c)
{
    int b = c->sbuf != 0 && c->wbuf != 0 ? 0 : c->sbuf != 1 && c->wbuf != 1 ? 1 : -1;
    if (b < 0 || c->recving || c->eof || c->dead)
        return;
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_recv(s, c->fd, c->buf + (size_t)b * BUF, BUF, 0);
    if (c->poll_first)
        s->ioprio |= IORING_RECVSEND_POLL_FIRST;
    io_uring_sqe_set_data64(s, UDATA(OP_RECV, c->fd));
    c->rbuf = b;
    c->recving = true;
}

/* -m: the connection's multishot RECV. */
static void post_recv_multi(conn *c)
{
    if (c->recving || c->eof || c->dead)
        return;
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_recv_multishot(s, c->fd, NULL, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = BGID;
    io_uring_sqe_set_data64(s, UDATA(OP_RECV, c->fd));
    c->recving = true;
}

/* -m: buffer BID back to the ring (published by publish_buffers). */
static void give_back(int bid)
{
    io_uring_buf_ring_add(br, bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, (unsigned short)bid,
                          io_uring_buf_ring_mask(NBUF), returned++);
}

/* -m: once per iteration, before the submission: make the buffers given
 * back visible to the kernel, and re-arm the RECVs that ran dry. */
static void publish_buffers(void)
{
    if (!returned)
        return;
    io_uring_buf_ring_advance(br, returned);
    returned = 0;
    while (starved) {
        conn *c = starved;
        starved = c->next_starved;
        c->starved = false;
        post_recv_multi(c);
    }
}

static conn **slot(int fd)
{
    if ((size_t)fd >= nconns) {
        size_t n = nconns ? nconns : 1024;
        while (n <= (size_t)fd)
            n *= 2;
        conn **p = realloc(conns, n * sizeof *p);
        if (!p)
            return NULL;
        memset(p + nconns, 0, (n - nconns) * sizeof *p);
        conns = p;
        nconns = n;
    }
    return &conns[fd];
}

static void conn_free(conn *c)
{
    if (multi) {
        for (int b = c->head; b >= 0; b = bid_next[b])
            give_back(b);
        if (c->starved) {
            conn **p = &starved;
            while (*p != c)
                p = &(*p)->next_starved;
            *p = c->next_starved;
        }
    }
    conns[c->fd] = NULL;
    close(c->fd);
    free(c);
}

/* Closes the connection if it is over and none of its operations is in
 * flight any more. */
static void maybe_close(conn *c)
{
    if ((c->eof || c->dead) && !c->recving && !c->sending)
        conn_free(c);
}

/* An error: nothing more is sent; a RECV still waiting is ended. */
static void fail(conn *c)
{
    c->dead = true;
    if (c->recving)
        shutdown(c->fd, SHUT_RDWR);
}

static void on_accept(int res, unsigned flags)
{
    if (!(flags & IORING_CQE_F_MORE))
        post_accept();
    if (res < 0) {
        if (res == -EINVAL)
            die("multishot accept (Linux 5.19)", -res);
        return; /* e.g. EMFILE: the next connection tries again */
    }
    int one = 1;
    setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn **p = slot(res);
    conn *c = p ? malloc(sizeof *c + (multi ? 0 : 2 * (size_t)BUF)) : NULL;
    if (!c) {
        close(res);
        return;
    }
    *c = (conn){.fd = res, .poll_first = true, .rbuf = -1, .sbuf = -1, .wbuf = -1, .head = -1, .tail = -1};
    *p = c;
    if (multi)
        post_recv_multi(c);
    else
        post_recv(c);
}

static void start_send(conn *c, int b)
{
    c->sbuf = b;
    c->off = 0;
    post_send(c, c->buf + (size_t)b * BUF, c->len[b]);
}

static void on_recv(conn *c, int res)
{
    int b = c->rbuf;
    c->recving = false;
    c->rbuf = -1;
    if (c->dead || res <= 0) {
        if (res == 0)
            c->eof = true;
        else if (res < 0)
            fail(c);
        maybe_close(c);
        return;
    }
    c->poll_first = res < BUF;
    c->len[b] = (unsigned)res;
    if (c->sending)
        c->wbuf = b; /* echoed after the SEND in flight */
    else
        start_send(c, b);
    post_recv(c);
}

static void on_send(conn *c, int res)
{
    c->sending = false;
    if (res <= 0 || c->dead) {
        if (res <= 0)
            fail(c);
        maybe_close(c);
        return;
    }
    c->off += (unsigned)res;
    if (c->off < c->len[c->sbuf]) { /* a short SEND: the rest */
        post_send(c, c->buf + (size_t)c->sbuf * BUF + c->off, c->len[c->sbuf] - c->off);
        return;
    }
    c->sbuf = -1;
    if (c->wbuf >= 0) {
        start_send(c, c->wbuf);
        c->wbuf = -1;
    }
    post_recv(c); /* a buffer is free again */
    maybe_close(c);
}

static void send_head(conn *c)
{
    c->off = 0;
    post_send(c, bufs + (size_t)c->head * BUF_SIZE, bid_len[c->head]);
}

static void on_recv_multi(conn *c, int res, unsigned flags)
{
    if (!(flags & IORING_CQE_F_MORE))
        c->recving = false;
    if (flags & IORING_CQE_F_BUFFER) {
        int bid = (int)(flags >> IORING_CQE_BUFFER_SHIFT);
        if (res > 0 && !c->dead) {
            bid_len[bid] = (unsigned)res;
            bid_next[bid] = -1;
            if (c->tail >= 0)
                bid_next[c->tail] = bid;
            else
                c->head = bid;
            c->tail = bid;
            if (!c->sending)
                send_head(c);
        } else {
            give_back(bid);
        }
    }
    if (res == -ENOBUFS) {
        if (!c->recving && !c->dead && !c->starved) {
            c->starved = true; /* re-armed when a buffer comes back */
            c->next_starved = starved;
            starved = c;
        }
    } else if (res == -EINVAL && !c->recving) {
        die("multishot recv with provided buffers (Linux 6.0)", -res);
    } else if (res == 0) {
        c->eof = true;
    } else if (res < 0) {
        fail(c);
    } else if (!c->recving) {
        post_recv_multi(c); /* the kernel ended it (e.g. its CQ overflowed) */
    }
    maybe_close(c);
}

static void on_send_multi(conn *c, int res)
{
    c->sending = false;
    if (res <= 0 || c->dead) {
        if (res <= 0)
            fail(c);
        maybe_close(c); /* conn_free gives back what is queued */
        return;
    }
    c->off += (unsigned)res;
    if (c->off < bid_len[c->head]) { /* a short SEND: the rest */
        post_send(c, bufs + (size_t)c->head * BUF_SIZE + c->off, bid_len[c->head] - c->off);
        return;
    }
    int done = c->head;
    c->head = bid_next[done];
    if (c->head < 0)
        c->tail = -1;
    give_back(done);
    if (c->head >= 0)
        send_head(c);
    maybe_close(c);
}

static void on_cqe(const struct io_uring_cqe *cqe)
{
    int op = (int)(cqe->user_data >> 32), fd = (int)(uint32_t)cqe->user_data;
    if (op == OP_ACCEPT) {
        on_accept(cqe->res, cqe->flags);
        return;
    }
    conn *c = (size_t)fd < nconns ? conns[fd] : NULL;
    if (!c) /* cannot happen: a connection lives as long as its operations */
        return;
    if (op == OP_RECV && multi)
        on_recv_multi(c, cqe->res, cqe->flags);
    else if (op == OP_RECV)
        on_recv(c, cqe->res);
    else if (multi)
        on_send_multi(c, cqe->res);
    else
        on_send(c, cqe->res);
}

static void setup_ring(void)
{
    struct io_uring_params p = {
        .flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
                 IORING_SETUP_TASKRUN_FLAG,
        .cq_entries = CQ_ENTRIES,
    };
    int rc = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
    if (rc == -EINVAL) { /* a kernel older than 5.19 */
        p = (struct io_uring_params){.flags = IORING_SETUP_CQSIZE, .cq_entries = CQ_ENTRIES};
        rc = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
    }
    if (rc < 0)
        die("io_uring unavailable", -rc);
    if (!multi)
        return;
    size_t sz = NBUF * sizeof(struct io_uring_buf);
    br = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    bufs = malloc((size_t)NBUF * BUF_SIZE);
    if (br == MAP_FAILED || !bufs)
        die("buffers", ENOMEM);
    struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t)br, .ring_entries = NBUF, .bgid = BGID};
    if ((rc = io_uring_register_buf_ring(&ring, &reg, 0)) < 0)
        die("provided buffer ring (Linux 5.19)", -rc);
    io_uring_buf_ring_init(br);
    for (int i = 0; i < NBUF; i++)
        give_back(i);
    publish_buffers();
}

/* Exit: the ring goes first (its requests cancelled), so that no kernel
 * write lands in a buffer freed here. */
static void teardown(void)
{
    io_uring_queue_exit(&ring);
    for (size_t fd = 0; fd < nconns; fd++) {
        if (conns[fd]) {
            close((int)fd);
            free(conns[fd]);
        }
    }
    free(conns);
    close(lfd);
    if (multi) {
        munmap(br, NBUF * sizeof(struct io_uring_buf));
        free(bufs);
    }
}

static int usage(int rc)
{
    fprintf(stderr, "usage: echo_uring_floor [-m] [-H HOST] PORT\n");
    return rc;
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "mH:h")) != -1) {
        switch (opt) {
        case 'm': multi = true; break;
        case 'H': host = optarg; break;
        default: return usage(opt == 'h' ? 0 : 2);
        }
    }
    if (optind != argc - 1)
        return usage(2);
    char *end;
    long pl = strtol(argv[optind], &end, 10);
    if (*argv[optind] == '\0' || *end || pl < 0 || pl > 65535)
        return usage(2);
    port = (int)pl;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    setup_ring();
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (lfd >= 0)
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (lfd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 ||
        listen(lfd, 4096) < 0) {
        fprintf(stderr, "echo_uring_floor: cannot listen on %s:%d: %s\n", host, port, strerror(errno));
        return 1;
    }
    socklen_t al = sizeof a;
    getsockname(lfd, (struct sockaddr *)&a, &al);
    printf("Serving on %s:%d\n", host, ntohs(a.sin_port));
    fflush(stdout);

    post_accept();
    while (!quit) {
        struct io_uring_cqe *cqe;
        struct __kernel_timespec ts = {.tv_nsec = 200 * 1000 * 1000}; /* notice quit */
        int rc = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
            die("io_uring_enter", -rc);
        unsigned head, n = 0;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            on_cqe(cqe);
            n++;
        }
        io_uring_cq_advance(&ring, n);
        if (multi)
            publish_buffers();
    }
    teardown();
    return 0;
}
