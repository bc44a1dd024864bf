/* SPDX-License-Identifier: MIT */
/* The connection pool (aiomysql.Pool): at most maxsize connections, a
 * FIFO semaphore of maxsize permits for the waiters (so acquire inherits
 * the semaphore's fairness, timeouts and cancellation), free connections
 * kept for reuse, and connections in an unknown state never handed out. */
#include "mysql/mysql.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

struct cio_mysql_pool {
    cio_mysql_opts o;  /* with its strings copied */
    char *strings[6];
    cio_sem *slots;    /* one permit per connection that may be in use */
    cio_mysql **free_; /* idle connections, the most recently used last */
    size_t nfree, size, used;
    bool closing;
    cio_event *drained; /* set once closing with nothing in use */
};

static void pool_release_void(void *c) { cio_mysql_pool_release(((cio_mysql *)c)->pool, c); }

size_t cio_mysql_pool_size(const cio_mysql_pool *p) { return p->size; }
size_t cio_mysql_pool_freesize(const cio_mysql_pool *p) { return p->nfree; }
size_t cio_mysql_pool_waiters(const cio_mysql_pool *p) { return cio_sem_waiters(p->slots); }

static void drop(cio_mysql_pool *p, cio_mysql *c)
{
    p->size--;
    mysql__destroy(c);
}

/* A free connection whose socket is readable has been closed by the
 * server (wait_timeout, KILL, a restart) or holds bytes nobody asked for:
 * either way it cannot be trusted (aiomysql checks its reader for EOF).
 * Looking costs a system call, a third of a point select's, so only a
 * connection idle for STALE_AFTER seconds is looked at: one going straight
 * back to work was healthy a moment ago (if the server died since, its
 * query fails with -ECONNRESET and it is dropped, as it would be when the
 * server dies just after the look). */
#define STALE_AFTER 0.25
static bool stale(const cio_mysql *c)
{
    if (cio_loop_time(c->loop) - c->idle_since < STALE_AFTER)
        return false;
    struct pollfd pfd = {.fd = (int)mysql_get_socket(c->my), .events = POLLIN};
    return pfd.fd < 0 || poll(&pfd, 1, 0) != 0;
}

static int open_one(cio_mysql_pool *p, cio_mysql **out)
{
    p->size++; /* counted while connecting, so maxsize holds */
    int rc = cio_mysql_connect(&p->o, out);
    if (rc < 0) {
        p->size--;
        return rc;
    }
    (*out)->pool = p;
    return 0;
}

static char *dup_opt(cio_mysql_pool *p, int i, const char *s)
{
    return s ? (p->strings[i] = strdup(s)) : NULL;
}

int cio_mysql_pool_create(const cio_mysql_opts *opts, cio_mysql_pool **out)
{
    *out = NULL;
    if (!opts || (opts->maxsize && opts->minsize > opts->maxsize))
        return mysql__fail_plain(-EINVAL);
    cio_mysql_pool *p = calloc(1, sizeof *p);
    if (!p)
        return mysql__fail_plain(-ENOMEM);
    p->o = *opts;
    p->o.maxsize = opts->maxsize ? opts->maxsize : 10;
    p->o.minsize = opts->minsize ? opts->minsize : 1;
    const char *s[6] = {opts->host, opts->unix_socket, opts->user, opts->password, opts->db, opts->charset};
    const char **dst[6] = {&p->o.host, &p->o.unix_socket, &p->o.user, &p->o.password, &p->o.db, &p->o.charset};
    bool ok = true;
    for (int i = 0; i < 6; i++)
        ok &= !s[i] || (*dst[i] = dup_opt(p, i, s[i])) != NULL;
    p->slots = cio_sem_new(p->o.maxsize);
    p->drained = cio_event_new();
    p->free_ = calloc(p->o.maxsize, sizeof *p->free_);
    int rc = ok && p->slots && p->drained && p->free_ ? 0 : mysql__fail_plain(-ENOMEM);
    while (rc == 0 && p->size < p->o.minsize) {
        cio_mysql *c;
        if ((rc = open_one(p, &c)) == 0) {
            c->idle_since = cio_loop_time(c->loop);
            p->free_[p->nfree++] = c;
        }
    }
    if (rc < 0) {
        cio_mysql_pool_free(p); /* cio_mysql_errno() still names the connect error */
        return rc;
    }
    *out = p;
    return 0;
}

/* Takes a connection for a task that holds a permit. */
static int take(cio_mysql_pool *p, cio_mysql **out)
{
    while (p->nfree) {
        cio_mysql *c = p->free_[--p->nfree];
        if (!stale(c)) {
            *out = c;
            return 0;
        }
        drop(p, c);
    }
    return open_one(p, out);
}

int cio_mysql_pool_acquire(cio_mysql_pool *p, double timeout, cio_mysql **out)
{
    *out = NULL;
    if (p->closing)
        return mysql__fail_plain(CIO_EINVALSTATE);
    cio_timeout t;
    bool timed = timeout != CIO_NO_TIMEOUT;
    if (timed && cio_timeout_enter(&t, timeout) < 0)
        return mysql__fail_plain(CIO_ENOTASK);
    int rc = cio_sem_acquire(p->slots);
    if (timed)
        rc = cio_timeout_exit(&t, rc);
    if (rc < 0)
        return mysql__fail_plain(rc);
    if (p->closing) { /* closed while we waited */
        cio_sem_release(p->slots);
        return mysql__fail_plain(CIO_EINVALSTATE);
    }
    if ((rc = take(p, out)) < 0) {
        cio_sem_release(p->slots); /* the slot passes to the next waiter */
        return rc;
    }
    (*out)->in_use = true;
    p->used++;
    return 0;
}

int cio_mysql_pool_release(cio_mysql_pool *p, cio_mysql *c)
{
    if (!p || !c || c->pool != p || !c->in_use)
        return -EINVAL;
    if (c->busy)
        return -EBUSY;
    c->in_use = false;
    p->used--;
    /* a connection still in a transaction (or mid-call in another task)
     * would hand its state to the next user: close it instead */
    if (c->broken || p->closing || cio_mysql_in_transaction(c))
        drop(p, c);
    else {
        c->idle_since = cio_loop_time(c->loop);
        p->free_[p->nfree++] = c;
    }
    cio_sem_release(p->slots);
    if (p->closing && p->used == 0)
        cio_event_set(p->drained);
    return 0;
}

int cio_mysql_pool_guard(cio_mysql_pool *p, double timeout, cio_mysql **out, cio_guard *g)
{
    g->obj = NULL;
    int rc = cio_mysql_pool_acquire(p, timeout, out);
    if (rc == 0)
        cio_guard_arm(g, *out, pool_release_void);
    return rc;
}

void cio_mysql_pool_close(cio_mysql_pool *p)
{
    if (p->closing)
        return;
    p->closing = true;
    while (p->nfree)
        drop(p, p->free_[--p->nfree]);
    /* wake every waiter: each finds the pool closing and gives its permit on */
    cio_sem_release(p->slots);
    if (p->used == 0)
        cio_event_set(p->drained);
}

int cio_mysql_pool_wait_closed(cio_mysql_pool *p)
{
    if (!p->closing)
        return CIO_EINVALSTATE;
    return cio_event_wait(p->drained);
}

void cio_mysql_pool_free(cio_mysql_pool *p)
{
    if (!p)
        return;
    if (p->slots)
        cio_mysql_pool_close(p);
    cio_sem_free(p->slots);
    cio_event_free(p->drained);
    free(p->free_);
    for (int i = 0; i < 6; i++)
        free(p->strings[i]);
    free(p);
}
