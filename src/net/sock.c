/* SPDX-License-Identifier: MIT */
/* Socket calls for tasks (asyncio's loop.sock_*), connecting by host name,
 * and UDP endpoints.
 *
 * Every call tries the system call first and waits for readiness only on
 * EAGAIN: on a busy connection data is usually there already, and the wait
 * (an epoll registration that stays cached for the fd) is skipped.
 *
 * On a back end with completions (cio__op) connect, accept, recv, sendall,
 * recvfrom and sendto (RECVMSG/SENDMSG) are operations the calling task
 * parks on instead: the kernel does the attempt and the waiting, and the
 * call costs no system call of its own (it rides in the loop's next
 * submission). */
#include "net/net.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* write(2) for fds that are not sockets (pipes, ttys), which have no
 * MSG_NOSIGNAL: a reader that has gone would raise SIGPIPE, whose default
 * action kills the process.  SIGPIPE is blocked in this thread around the
 * write and the one the write raised is consumed, so the caller gets -EPIPE
 * and the process-wide disposition is never touched. */
ssize_t cio__write_nosigpipe(int fd, const void *buf, size_t n)
{
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    bool was_blocked = sigismember(&old, SIGPIPE), was_pending = false;
    if (was_blocked) { /* one already pending is not ours to consume */
        sigset_t pend;
        was_pending = sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE);
    }
    ssize_t w = write(fd, buf, n);
    int e = errno;
    if (w < 0 && e == EPIPE && !was_pending) {
        static const struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    if (!was_blocked)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return w;
}

int cio_socket(int domain, int type, int protocol)
{
    int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    return fd < 0 ? -errno : fd;
}

/* One attempt of a call's system call, described by the same record as its
 * completion operation: >= 0, or -1 with errno set. */
typedef ssize_t (*attempt_fn)(cio__op *op);

/* The readiness path: attempts until one succeeds or fails for good,
 * waiting for ev whenever the socket would block. */
static ssize_t retry(cio__op *op, int ev, attempt_fn attempt)
{
    for (;;) {
        ssize_t r = attempt(op);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int rc = cio_wait_fd(op->fd, ev);
        if (rc < 0)
            return rc;
    }
}

/* The cio_sock_* calls suspend: outside a task they fail at once with
 * CIO_ENOTASK, even when the socket happens to be ready (working only
 * sometimes would hide the mistake until the one time it must wait). */
#define NEED_TASK()                         \
    do {                                    \
        if (CIO__UNLIKELY(!cio__current())) \
            return CIO_ENOTASK;             \
    } while (0)

/* op goes to the kernel whole when the loop can, else through retry().
 * fallback: a completion result that sends the call to the readiness path
 * after all (-EOPNOTSUPP: none). */
static ssize_t sock_call(cio__op *op, int ev, attempt_fn attempt, int fallback)
{
    NEED_TASK();
    ssize_t r = cio__op_run(op);
    if (r != -EOPNOTSUPP && r != fallback)
        return r;
    return retry(op, ev, attempt);
}

static ssize_t try_connect(cio__op *op)
{
    int rc = connect(op->fd, op->addr, *op->addrlen);
    if (rc < 0 && errno == EAGAIN)
        errno = EINPROGRESS; /* not retried: its outcome is awaited in cio_sock_connect */
    return rc;
}

int cio_sock_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    cio__op op = {.kind = CIO__OP_CONNECT, .fd = fd, .addr = (struct sockaddr *)addr, .addrlen = &len};
    NEED_TASK();
    int rc = cio__op_run(&op);
    if (rc == -EOPNOTSUPP)
        rc = (int)retry(&op, CIO_WRITABLE, try_connect);
    else if (rc == -EALREADY)
        rc = -EINPROGRESS; /* a kernel that hands the operation's "in progress" back */
    if (rc != -EINPROGRESS)
        return rc;
    rc = cio_wait_writable(fd);
    if (rc < 0)
        return rc;
    int err = 0;
    socklen_t elen = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
        return -errno;
    return -err;
}

static ssize_t try_accept(cio__op *op) { return accept4(op->fd, op->addr, op->addrlen, op->flags); }

int cio_sock_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    cio__op op = {.kind = CIO__OP_ACCEPT, .fd = fd, .addr = addr, .addrlen = len, .flags = SOCK_NONBLOCK | SOCK_CLOEXEC};
    return (int)sock_call(&op, CIO_READABLE, try_accept, -EOPNOTSUPP);
}

static ssize_t try_recv(cio__op *op)
{
    ssize_t r = recv(op->fd, op->buf, op->len, 0);
    if (r < 0 && errno == ENOTSOCK) /* pipes and ttys work too */
        r = read(op->fd, op->buf, op->len);
    return r;
}

ssize_t cio_sock_recv(int fd, void *buf, size_t n)
{
    cio__op op = {.kind = CIO__OP_RECV, .fd = fd, .buf = buf, .len = n};
    return sock_call(&op, CIO_READABLE, try_recv, -ENOTSOCK); /* a pipe or a tty: readiness */
}

static ssize_t try_send(cio__op *op)
{
    ssize_t w = send(op->fd, op->buf, op->len, MSG_NOSIGNAL);
    if (w < 0 && errno == ENOTSOCK)
        w = cio__write_nosigpipe(op->fd, op->buf, op->len);
    if (w == 0 && op->len) {
        errno = EAGAIN; /* nothing taken: wait for room */
        w = -1;
    }
    return w;
}

int cio_sock_sendall(int fd, const void *buf, size_t n)
{
    NEED_TASK();
    cio__op op = {.kind = CIO__OP_SEND, .fd = fd, .buf = (void *)buf, .len = n, .flags = MSG_NOSIGNAL};
    bool ops = true;
    while (op.len) {
        ssize_t w = ops ? cio__op_run(&op) : -EOPNOTSUPP;
        if (w == -EOPNOTSUPP || w == -ENOTSOCK || w == 0) {
            ops = false; /* a pipe or a tty (or a send that took nothing): readiness */
            w = retry(&op, CIO_WRITABLE, try_send);
        }
        if (w < 0)
            return (int)w;
        op.buf = (char *)op.buf + w;
        op.len -= (size_t)w;
    }
    return 0;
}

static ssize_t try_recvmsg(cio__op *op) { return recvmsg(op->fd, op->buf, op->flags); }
static ssize_t try_sendmsg(cio__op *op) { return sendmsg(op->fd, op->buf, op->flags); }

ssize_t cio_sock_recvfrom(int fd, void *buf, size_t n, struct sockaddr *addr, socklen_t *len)
{
    /* the kernel reads msg when the operation is submitted: the task is
     * parked by then */
    struct iovec iov = {buf, n};
    struct msghdr msg = {.msg_name = addr, .msg_namelen = addr && len ? *len : 0, .msg_iov = &iov, .msg_iovlen = 1};
    cio__op op = {.kind = CIO__OP_RECVMSG, .fd = fd, .buf = &msg};
    ssize_t r = sock_call(&op, CIO_READABLE, try_recvmsg, -EOPNOTSUPP);
    if (r >= 0 && addr && len)
        *len = msg.msg_namelen;
    return r;
}

ssize_t cio_sock_sendto(int fd, const void *buf, size_t n, const struct sockaddr *addr, socklen_t len)
{
    struct iovec iov = {(void *)buf, n};
    struct msghdr msg = {.msg_name = (void *)addr, .msg_namelen = addr ? len : 0, .msg_iov = &iov, .msg_iovlen = 1};
    cio__op op = {.kind = CIO__OP_SENDMSG, .fd = fd, .buf = &msg, .flags = MSG_NOSIGNAL};
    return sock_call(&op, CIO_WRITABLE, try_sendmsg, -EOPNOTSUPP);
}

/* ---- connecting by name ------------------------------------------------- */

static int connect_one(const struct addrinfo *ai)
{
    int fd = cio_socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0)
        return fd;
    int rc = cio_sock_connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc < 0) {
        cio_close(fd);
        return rc;
    }
    if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

/* RFC 8305 connection racing: one attempt task per address, families
 * interleaved, each started 250 ms after the previous one or as soon as an
 * attempt fails; the first to connect wins, the others are cancelled (their
 * sockets closed by the attempt itself). */
typedef struct he_state {
    int winner, last_err;
    size_t live;
    cio_event *kick;
} he_state;

typedef struct he_att {
    he_state *st;
    const struct addrinfo *ai;
} he_att;

static void *he_attempt(void *arg)
{
    he_att *a = arg;
    he_state *st = a->st;
    int fd = connect_one(a->ai);
    if (fd >= 0) {
        if (st->winner < 0)
            st->winner = fd;
        else
            cio_close(fd);
    } else if (fd != -ECANCELED) {
        st->last_err = fd;
    }
    st->live--;
    cio_event_set(st->kick);
    return NULL;
}

static int happy_eyeballs(struct addrinfo *res)
{
    size_t n = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
        n++;
    he_att *att = calloc(n, sizeof *att);
    cio_task **ts = calloc(n, sizeof *ts);
    he_state st = {.winner = -1, .last_err = -ECONNREFUSED, .kick = cio_event_new()};
    int rc = 0;
    if (!att || !ts || !st.kick) {
        rc = -ENOMEM;
        goto out;
    }
    /* interleave: first family, other family, first, other... */
    size_t k = 0;
    int fam = res->ai_family;
    for (struct addrinfo *a = res, *b = res; k < n;) {
        while (a && a->ai_family != fam)
            a = a->ai_next;
        while (b && b->ai_family == fam)
            b = b->ai_next;
        if (a) {
            att[k++].ai = a;
            a = a->ai_next;
        }
        if (b && k < n) {
            att[k++].ai = b;
            b = b->ai_next;
        }
    }
    size_t started = 0;
    for (size_t i = 0; i < n && st.winner < 0; i++) {
        att[i].st = &st;
        if (!(ts[i] = cio_spawn(he_attempt, &att[i]))) {
            rc = -ENOMEM;
            break;
        }
        started++;
        st.live++;
        cio_event_clear(st.kick);
        if (i + 1 < n) {
            cio_timeout to;
            cio_timeout_enter(&to, 0.25);
            int w = cio_timeout_exit(&to, cio_event_wait(st.kick));
            if (w < 0 && w != -ETIMEDOUT) {
                rc = w;
                break;
            }
        }
    }
    while (rc == 0 && st.winner < 0 && st.live > 0) {
        cio_event_clear(st.kick);
        rc = cio_event_wait(st.kick);
    }
    for (size_t i = 0; i < started; i++) {
        if (!cio_done(ts[i])) {
            cio_cancel(ts[i], NULL);
            cio_await(ts[i], NULL);
        }
        cio_release(ts[i]);
    }
    if (rc < 0) {
        if (st.winner >= 0)
            cio_close(st.winner);
    } else {
        rc = st.winner >= 0 ? st.winner : st.last_err;
    }
out:
    cio_event_free(st.kick);
    free(att);
    free(ts);
    return rc;
}

int cio_connect_tcp(const char *host, const char *port, double timeout, bool happy)
{
    cio_timeout scope;
    int rc = cio_timeout_enter(&scope, timeout > 0 ? timeout : CIO_NO_TIMEOUT);
    if (rc < 0)
        return rc;
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    rc = cio_getaddrinfo(host, port, &hints, &res);
    if (rc == 0) {
        if (happy && res->ai_next) {
            rc = happy_eyeballs(res);
        } else {
            rc = -ECONNREFUSED;
            for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                rc = connect_one(ai);
                if (rc >= 0 || rc == -ECANCELED)
                    break;
            }
        }
        cio_freeaddrinfo(res);
    }
    rc = cio_timeout_exit(&scope, rc);
    return rc;
}

/* ---- datagrams ---------------------------------------------------------- */

int cio_udp_open(const char *lhost, const char *lport, const char *rhost, const char *rport)
{
    struct addrinfo hints = {0}, *local = NULL, *remote = NULL;
    hints.ai_socktype = SOCK_DGRAM;
    int rc, fd = -1;
    if (rhost || rport) {
        if ((rc = cio_getaddrinfo(rhost ? rhost : "127.0.0.1", rport ? rport : "0", &hints, &remote)) < 0)
            return rc;
        hints.ai_family = remote->ai_family;
    }
    if (lhost || lport) {
        hints.ai_flags = AI_PASSIVE;
        if ((rc = cio_getaddrinfo(lhost, lport ? lport : "0", &hints, &local)) < 0)
            goto out;
    }
    const struct addrinfo *ai = local ? local : remote;
    if (!ai) {
        rc = -EINVAL;
        goto out;
    }
    if ((fd = cio_socket(ai->ai_family, SOCK_DGRAM, 0)) < 0) {
        rc = fd;
        goto out;
    }
    if (local) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, local->ai_addr, local->ai_addrlen) < 0) {
            rc = -errno;
            goto out;
        }
    }
    if (remote && connect(fd, remote->ai_addr, remote->ai_addrlen) < 0) {
        rc = -errno;
        goto out;
    }
    rc = fd;
    fd = -1;
out:
    if (fd >= 0)
        cio_close(fd);
    if (local)
        cio_freeaddrinfo(local);
    if (remote)
        cio_freeaddrinfo(remote);
    return rc;
}
