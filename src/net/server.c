/* SPDX-License-Identifier: MIT */
/* Stream servers (asyncio.start_server / start_unix_server).
 *
 * One accept task per listening socket; one task per connection running the
 * user's handler.  The server is reference counted: the owner holds one
 * reference and every connection task holds one, so freeing the server
 * while handlers still unwind is safe. */
#include "net/net.h"
#include "sync/sync.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

/* How long accepting pauses when the process is out of fds: long enough not
 * to spin, short enough to pick up again quickly once fds are free. */
#define EMFILE_PAUSE 0.05

struct cio_server {
    int refs;
    cio_loop *loop;
    cio_conn_handler handler;
    void *arg;
    cio_server_opts opts;
    int *fds;
    cio_task **acceptors;
    size_t nfds;
    bool closed;
    int port;
    char *unix_path;
    size_t active;
    cio__link conns;   /* conn records of running handlers */
    cio__link waiters; /* tasks in serve_forever / wait_closed (cio__swait) */
};

typedef struct conn {
    cio__link link;
    cio__fcb done; /* runs when the task finishes, even if it never started */
    cio_server *srv;
    cio_stream *s;  /* NULL once the connection task has dealt with it */
    cio_task *task;
} conn;

static void server_unref(cio_server *srv)
{
    if (--srv->refs > 0)
        return;
    free(srv->fds);
    free(srv->acceptors);
    free(srv->unix_path);
    free(srv);
}

/* Waiters re-check their own condition (closed, or closed and idle). */
static void wake_waiters(cio_server *srv)
{
    if (srv->closed)
        while (cio__swait_wake_first(&srv->waiters, 0)) {
        }
}

static void *conn_main(void *arg)
{
    conn *c = arg;
    cio_server *srv = c->srv;
    cio_stream *s = c->s;
    int rc = 0;
    if (srv->opts.tls)
        rc = cio__tls_start(s, srv->opts.tls, true, NULL);
    if (rc == 0)
        srv->handler(s, srv->arg);
    /* the handler owns the stream; whatever it left open is closed here */
    c->s = NULL;
    s->server_owned = false;
    if (!cio__stream_fd_closed(s)) {
        if (cio__stream_closing(s) || rc < 0)
            cio_stream_abort(s);
        else
            cio_stream_close(s); /* frees s whatever it returns (aborting on error) */
    } else if (s->busy == 0) {
        cio__stream_destroy(s);
    } else {
        s->state = CIO__SS_ZOMBIE; /* the last call inside frees it */
    }
    return NULL;
}

/* The connection task is done (or was cancelled before it ever ran). */
static void conn_finished(cio__fcb *cb, cio_future *f)
{
    (void)f;
    conn *c = CIO__CONTAINER_OF(cb, conn, done);
    cio_server *srv = c->srv;
    if (c->s) {
        c->s->server_owned = false;
        cio_stream_abort(c->s);
    }
    cio__list_remove(&c->link);
    free(c);
    srv->active--;
    wake_waiters(srv);
    server_unref(srv);
}

/* Serves one accepted connection: its stream and handler task.  Takes fd. */
static void add_conn(cio_server *srv, int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    cio_stream *s;
    if (cio__stream_new(fd, 1, &srv->opts.stream, &s) < 0) { /* closes fd */
        free(c);
        return;
    }
    s->server_owned = true;
    c->srv = srv;
    c->s = s;
    c->task = cio_spawn_ex(srv->loop, conn_main, c, NULL);
    if (!c->task) {
        s->server_owned = false;
        cio_stream_abort(s);
        free(c);
        return;
    }
    srv->refs++;
    srv->active++;
    cio__list_push_back(&srv->conns, &c->link);
    cio__fcb_add(c->task, &c->done, conn_finished);
    cio_release(c->task); /* the loop keeps it alive; c->task stays valid while c is listed */
}

static bool out_of_fds(int err) { return err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM; }

/* Accepting on completions: one multishot ACCEPT operation per listening
 * socket stays in the kernel and accepts as clients arrive; each completion's fd
 * is queued here (on the accept task's stack) and the task woken to serve
 * the queue.  The kernel ends the operation on an error (EMFILE: the task
 * pauses as on readiness, then arms it again) or when it is cancelled.
 * The task never returns while the operation is in flight, so its stack
 * outlives every completion. */
typedef struct mshot {
    cio__op op;
    cio__wait w;
    bool live;   /* the operation is in the kernel */
    bool parked; /* the task waits for a completion */
    int err;     /* the last error completion, 0 if none since */
    int *q;      /* accepted fds: q[head, n) */
    size_t head, n, cap;
} mshot;

static bool mshot_push(mshot *m, int fd)
{
    if (m->head == m->n)
        m->head = m->n = 0;
    if (m->n == m->cap) {
        if (m->head) {
            memmove(m->q, m->q + m->head, (m->n - m->head) * sizeof *m->q);
            m->n -= m->head;
            m->head = 0;
        } else {
            size_t cap = m->cap ? m->cap * 2 : 16;
            int *nq = realloc(m->q, cap * sizeof *nq);
            if (!nq)
                return false;
            m->q = nq;
            m->cap = cap;
        }
    }
    m->q[m->n++] = fd;
    return true;
}

static void mshot_done(cio__op *op)
{
    mshot *m = CIO__CONTAINER_OF(op, mshot, op);
    if (op->res < 0)
        m->err = op->res;
    else if (!mshot_push(m, op->res))
        close(op->res); /* no memory to remember it: that client is refused */
    if (!op->more)
        m->live = false;
    if (m->parked) {
        m->parked = false;
        cio__wake(m->w.task, 0);
    }
}

/* A cancelled task stays parked until the operation's last completion. */
static bool mshot_cancel(cio__wait *w)
{
    mshot *m = CIO__CONTAINER_OF(w, mshot, w);
    if (m->live)
        cio__op_cancel(w->task->f.loop, &m->op);
    return false;
}

static void mshot_park(mshot *m, cio__task *t)
{
    m->w.task = t;
    m->w.what = "accept (multishot)";
    m->w.cancel = mshot_cancel;
    m->w.droppable = false;
    m->parked = true;
    cio__park(&m->w);
}

static void accept_ops(cio_server *srv, int lfd)
{
    cio__task *t = cio__current();
    mshot m = {.err = 0};
    for (;;) {
        if (t->must_cancel) { /* before srv is touched: a closed server may be gone */
            cio__enter(&t); /* delivers it: the task ends cancelled */
            break;
        }
        if (m.head < m.n) {
            add_conn(srv, m.q[m.head++]);
            continue;
        }
        if (m.err) {
            int e = m.err;
            m.err = 0;
            if (e == -ECANCELED || e == -EBADF || e == -EINVAL)
                break; /* the listener was closed */
            if (out_of_fds(e) && cio_sleep(EMFILE_PAUSE) == -ECANCELED)
                break;
            continue; /* ECONNABORTED, EPROTO...: that client only */
        }
        if (srv->closed)
            break;
        if (!m.live) {
            m.op = (cio__op){.kind = CIO__OP_ACCEPT, .oflags = CIO__OPF_MULTISHOT, .fd = lfd, .flags = SOCK_NONBLOCK | SOCK_CLOEXEC};
            if (cio__op_start(t->f.loop, &m.op, mshot_done) < 0)
                break;
            m.live = true;
        }
        mshot_park(&m, t);
    }
    while (m.live) { /* the kernel still has the operation: its completions land in m */
        cio__op_cancel(t->f.loop, &m.op);
        mshot_park(&m, t);
    }
    for (size_t i = m.head; i < m.n; i++)
        close(m.q[i]);
    free(m.q);
}

static void *accept_main(void *arg)
{
    cio_server *srv = arg;
    /* the acceptor's index tells which fd to use */
    int lfd = -1;
    cio_task *me = cio_current_task();
    for (size_t i = 0; i < srv->nfds; i++)
        if (srv->acceptors[i] == me)
            lfd = srv->fds[i];
    if (lfd >= 0 && cio__op_supported(srv->loop, CIO__OP_ACCEPT)) {
        accept_ops(srv, lfd);
        return NULL;
    }
    while (!srv->closed && lfd >= 0) {
        int fd = cio_sock_accept(lfd, NULL, NULL);
        if (fd == -ECANCELED || fd == -EBADF)
            break;
        if (out_of_fds(fd)) {
            if (cio_sleep(EMFILE_PAUSE) == -ECANCELED)
                break;
            continue;
        }
        if (fd < 0)
            continue; /* ECONNABORTED, EPROTO...: that client only */
        add_conn(srv, fd);
    }
    return NULL;
}

static int server_make(cio_conn_handler handler, void *arg, const cio_server_opts *opts, cio_server **out)
{
    *out = NULL;
    cio_loop *l = cio_loop_current();
    if (!l)
        return CIO_ENOLOOP;
    if (!handler)
        return -EINVAL;
    cio_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return -ENOMEM;
    srv->refs = 1;
    srv->loop = l;
    srv->handler = handler;
    srv->arg = arg;
    if (opts)
        srv->opts = *opts;
    cio__list_init(&srv->conns);
    cio__list_init(&srv->waiters);
    *out = srv;
    return 0;
}

static int add_fd(cio_server *srv, int fd)
{
    int *nf = realloc(srv->fds, (srv->nfds + 1) * sizeof *nf);
    if (!nf)
        return -ENOMEM;
    srv->fds = nf;
    cio_task **na = realloc(srv->acceptors, (srv->nfds + 1) * sizeof *na);
    if (!na)
        return -ENOMEM;
    srv->acceptors = na;
    srv->fds[srv->nfds] = fd;
    srv->acceptors[srv->nfds] = NULL;
    srv->nfds++;
    return 0;
}

static int start_acceptors(cio_server *srv)
{
    for (size_t i = 0; i < srv->nfds; i++) {
        int backlog = srv->opts.backlog > 0 ? srv->opts.backlog : 511;
        if (listen(srv->fds[i], backlog) < 0)
            return -errno;
    }
    for (size_t i = 0; i < srv->nfds; i++) {
        srv->acceptors[i] = cio_spawn_ex(srv->loop, accept_main, srv, &(cio_task_opts){.name = "cio-accept"});
        if (!srv->acceptors[i])
            return -errno;
    }
    return 0;
}

int cio_start_server(cio_conn_handler handler, void *arg, const char *host, const char *port,
                     const cio_server_opts *opts, cio_server **out)
{
    *out = NULL;
    cio_server *srv;
    int rc = server_make(handler, arg, opts, &srv);
    if (rc < 0)
        return rc;
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (!host)
        hints.ai_family = AF_INET6; /* one dual-stack socket for the wildcard */
    rc = cio_getaddrinfo(host, port ? port : "0", &hints, &res);
    if (rc < 0 && !host) {
        hints.ai_family = AF_UNSPEC; /* no IPv6 here */
        rc = cio_getaddrinfo(host, port ? port : "0", &hints, &res);
    }
    if (rc < 0)
        goto fail;
    int chosen_port = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = cio_socket(ai->ai_family, SOCK_STREAM, 0);
        if (fd < 0) {
            rc = fd;
            continue;
        }
        int one = 1, zero = 0;
        if (!srv->opts.no_reuse_address)
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (srv->opts.reuse_port)
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, host || srv->opts.ipv6_only ? &one : &zero, sizeof one);
        /* port 0 with several addresses: bind the rest to the port the first got */
        if (chosen_port) {
            if (ai->ai_family == AF_INET)
                ((struct sockaddr_in *)ai->ai_addr)->sin_port = htons((uint16_t)chosen_port);
            else if (ai->ai_family == AF_INET6)
                ((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = htons((uint16_t)chosen_port);
        }
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            rc = -errno;
            cio_close(fd);
            continue;
        }
        if ((rc = add_fd(srv, fd)) < 0) {
            cio_close(fd);
            break;
        }
        if (!chosen_port) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
                chosen_port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                            : ((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    cio_freeaddrinfo(res);
    srv->port = chosen_port;
    if (srv->nfds == 0)
        goto fail;
    if ((rc = start_acceptors(srv)) < 0)
        goto fail;
    *out = srv;
    return 0;
fail:
    cio_server_free(srv);
    return rc < 0 ? rc : -EADDRNOTAVAIL;
}

int cio_start_unix_server(cio_conn_handler handler, void *arg, const char *path, const cio_server_opts *opts,
                          cio_server **out)
{
    *out = NULL;
    cio_server *srv;
    int rc = server_make(handler, arg, opts, &srv);
    if (rc < 0)
        return rc;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t pl = strlen(path);
    if (pl >= sizeof sun.sun_path) {
        rc = -ENAMETOOLONG;
        goto fail;
    }
    memcpy(sun.sun_path, path, pl + 1);
    int fd = cio_socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) {
        rc = fd;
        goto fail;
    }
    if (bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
        rc = -errno;
        cio_close(fd);
        goto fail;
    }
    if ((rc = add_fd(srv, fd)) < 0) {
        cio_close(fd);
        goto fail;
    }
    srv->unix_path = strdup(path);
    if ((rc = start_acceptors(srv)) < 0)
        goto fail;
    *out = srv;
    return 0;
fail:
    cio_server_free(srv);
    return rc;
}

void cio_server_close(cio_server *srv)
{
    if (srv->closed)
        return;
    srv->closed = true;
    for (size_t i = 0; i < srv->nfds; i++) {
        if (srv->acceptors[i]) {
            cio_cancel(srv->acceptors[i], NULL);
            cio_release(srv->acceptors[i]);
            srv->acceptors[i] = NULL;
        }
        cio_close(srv->fds[i]);
    }
    if (srv->unix_path)
        unlink(srv->unix_path);
    wake_waiters(srv);
}

static int wait_until(cio_server *srv, bool for_close_only)
{
    while (!srv->closed || (!for_close_only && srv->active)) {
        cio__task *t;
        int rc = cio__enter(&t);
        if (rc)
            return rc;
        cio__swait w = {0};
        if ((rc = cio__swait_park(&srv->waiters, &w, for_close_only ? "serve_forever" : "wait_closed", true)))
            return rc;
        if (for_close_only)
            break;
    }
    return 0;
}

int cio_server_serve_forever(cio_server *srv)
{
    if (srv->closed)
        return 0;
    srv->refs++;
    int rc = wait_until(srv, true);
    if (rc == -ECANCELED)
        cio_server_close(srv);
    server_unref(srv);
    return rc;
}

int cio_server_wait_closed(cio_server *srv)
{
    srv->refs++;
    int rc = wait_until(srv, false);
    server_unref(srv);
    return rc;
}

void cio_server_free(cio_server *srv)
{
    if (!srv)
        return;
    cio_server_close(srv);
    cio__link *it;
    for (it = srv->conns.next; it != &srv->conns; it = it->next)
        cio_cancel(CIO__CONTAINER_OF(it, conn, link)->task, NULL);
    server_unref(srv);
}

size_t cio_server_sockets(const cio_server *srv, int *fds, size_t cap)
{
    if (srv->closed)
        return 0;
    for (size_t i = 0; i < srv->nfds && i < cap; i++)
        fds[i] = srv->fds[i];
    return srv->nfds;
}

int cio_server_port(const cio_server *srv) { return srv->port; }
size_t cio_server_active(const cio_server *srv) { return srv->active; }
