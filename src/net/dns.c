/* SPDX-License-Identifier: MIT */
/* Name resolution with c-ares, driven by the loop.
 *
 * Each loop has one c-ares channel, created on first use: c-ares tells us
 * which sockets it wants watched (ARES_OPT_SOCK_STATE_CB) and we register
 * them as readers/writers on the loop; its retransmission timer is a loop
 * timer re-armed from ares_timeout() after every bit of progress.  A query
 * belongs to the task that asked; if that task is cancelled, the query is
 * orphaned (c-ares has no per-query cancel) and its result is freed when it
 * arrives.  Numeric hosts never reach c-ares.  /etc/hosts is honoured by
 * c-ares itself ("lookups fb"). */
#include "net/net.h"

#include <ares.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct dns dns;
typedef struct dsock dsock;
struct dns {
    ares_channel ch;
    cio_loop *loop;
    cio_handle *timer;
    dsock *socks;
    size_t live; /* queries a task is parked on (not orphaned, not done) */
};

/* The wait record lives on the parked task's stack, not in the query: a
 * cancelled query is freed by its c-ares callback, possibly before the task
 * resumes and reads its wake status. */
typedef struct qwait {
    cio__wait w;
    struct query *q;
} qwait;

typedef struct query {
    qwait *qw; /* while a task is parked on it */
    dns *d;
    bool orphan, done, parked;
    int status;
    struct addrinfo *res;
    char host[NI_MAXHOST], serv[NI_MAXSERV];
} query;

static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_init_rc;
static void ares_global_init(void) { ares_init_rc = ares_library_init(ARES_LIB_INIT_ALL); }

/* ---- our own addrinfo blocks --------------------------------------------- */

/* One malloc per node: the addrinfo, its address and its canonical name. */
static struct addrinfo *ai_node(int family, int socktype, int protocol, const struct sockaddr *sa, socklen_t len,
                                const char *canon)
{
    size_t cl = canon ? strlen(canon) + 1 : 0;
    struct addrinfo *ai = calloc(1, sizeof *ai + sizeof(struct sockaddr_storage) + cl);
    if (!ai)
        return NULL;
    ai->ai_family = family;
    ai->ai_socktype = socktype;
    ai->ai_protocol = protocol;
    ai->ai_addrlen = len;
    ai->ai_addr = (struct sockaddr *)(ai + 1);
    memcpy(ai->ai_addr, sa, len);
    if (canon) {
        ai->ai_canonname = (char *)(ai + 1) + sizeof(struct sockaddr_storage);
        memcpy(ai->ai_canonname, canon, cl);
    }
    return ai;
}

void cio_freeaddrinfo(struct addrinfo *res)
{
    while (res) {
        struct addrinfo *next = res->ai_next;
        free(res);
        res = next;
    }
}

/* Copies libc's list into our format (so one free function serves all). */
static int from_libc(struct addrinfo *in, struct addrinfo **out)
{
    struct addrinfo *head = NULL, **tail = &head;
    for (struct addrinfo *a = in; a; a = a->ai_next) {
        struct addrinfo *n = ai_node(a->ai_family, a->ai_socktype, a->ai_protocol, a->ai_addr, a->ai_addrlen,
                                     a->ai_canonname);
        if (!n) {
            cio_freeaddrinfo(head);
            freeaddrinfo(in);
            return -ENOMEM;
        }
        *tail = n;
        tail = &n->ai_next;
    }
    freeaddrinfo(in);
    *out = head;
    return 0;
}

int cio__resolve_numeric(const char *host, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
    struct addrinfo h = hints ? *hints : (struct addrinfo){0}, *r;
    h.ai_flags |= AI_NUMERICHOST;
    h.ai_flags &= ~AI_CANONNAME;
    if (getaddrinfo(host, service, &h, &r) != 0)
        return CIO_EDNS;
    return from_libc(r, res);
}

static int map_ares(int status)
{
    switch (status) {
    case ARES_SUCCESS:
        return 0;
    case ARES_ENOMEM:
        return -ENOMEM;
    case ARES_ETIMEOUT:
        return -ETIMEDOUT;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
        return -ECANCELED;
    case ARES_EBADNAME:
        return -EINVAL;
    default:
        return CIO_EDNS;
    }
}

/* ---- the channel on the loop --------------------------------------------- */

static void dns_timer(void *arg);

static void rearm(dns *d)
{
    if (d->timer) {
        cio_handle_cancel(d->timer);
        d->timer = NULL;
    }
    struct timeval tv, *tvp = ares_timeout(d->ch, NULL, &tv);
    if (tvp)
        cio_call_later(d->loop, (double)tvp->tv_sec + tvp->tv_usec * 1e-6, dns_timer, d, &d->timer);
}

static void dns_timer(void *arg)
{
    dns *d = arg;
    cio_handle_release(d->timer);
    d->timer = NULL;
    ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    rearm(d);
}

/* One record per socket c-ares asks us to watch, so the loop callbacks know
 * which fd and which direction became ready. */
typedef struct dsock {
    struct dsock *next;
    dns *d;
    int fd;
} dsock;

static void on_read(void *arg)
{
    dsock *k = arg;
    dns *d = k->d;
    ares_process_fd(d->ch, k->fd, ARES_SOCKET_BAD); /* may close k's socket and free k */
    rearm(d);
}

static void on_write(void *arg)
{
    dsock *k = arg;
    dns *d = k->d;
    ares_process_fd(d->ch, ARES_SOCKET_BAD, k->fd);
    rearm(d);
}

static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    dns *d = data;
    dsock **pp = &d->socks, *k;
    while ((k = *pp) && k->fd != fd)
        pp = &k->next;
    if (!readable && !writable) {
        cio_fd_forget(d->loop, fd); /* c-ares closes it next */
        if (k) {
            *pp = k->next;
            free(k);
        }
        return;
    }
    if (!k) {
        if (!(k = calloc(1, sizeof *k)))
            return; /* c-ares times the query out */
        k->d = d;
        k->fd = fd;
        k->next = d->socks;
        d->socks = k;
    }
    if (readable)
        cio_add_reader(d->loop, fd, on_read, k);
    else
        cio_remove_reader(d->loop, fd);
    if (writable)
        cio_add_writer(d->loop, fd, on_write, k);
    else
        cio_remove_writer(d->loop, fd);
}

static void dns_shutdown(cio_loop *l, void *arg)
{
    dns *d = arg;
    (void)l;
    ares_destroy(d->ch); /* orphaned queries get ARES_EDESTRUCTION and free themselves */
    if (d->timer)
        cio_handle_cancel(d->timer);
    while (d->socks) {
        dsock *k = d->socks;
        d->socks = k->next;
        free(k);
    }
    free(d);
}

/* cio__dns_use_servers: one process-wide setting read when a channel is
 * made (tests set it before their loop's first query). */
static struct {
    char csv[256];
    int timeout_ms, tries;
} override;

void cio__dns_use_servers(const char *csv, int timeout_ms, int tries)
{
    snprintf(override.csv, sizeof override.csv, "%s", csv ? csv : "");
    override.timeout_ms = timeout_ms;
    override.tries = tries;
}

static int dns_init(dns *d)
{
    struct ares_options o = {0};
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS;
    o.sock_state_cb = sock_state;
    o.sock_state_cb_data = d;
    o.lookups = (char *)"fb"; /* /etc/hosts first, then DNS */
    if (override.csv[0]) {
        o.lookups = (char *)"b";
        o.timeout = override.timeout_ms;
        o.tries = override.tries;
        mask |= ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    }
    int rc = ares_init_options(&d->ch, &o, mask);
    if (rc == ARES_SUCCESS && override.csv[0] && (rc = ares_set_servers_ports_csv(d->ch, override.csv)) != ARES_SUCCESS)
        ares_destroy(d->ch);
    return rc;
}

bool cio__dns_started(const cio_loop *l) { return cio__loop_hook_arg(l, dns_shutdown) != NULL; }

/* The loop's channel: the arg of its shutdown hook (cio__loop_hook_arg). */
static dns *dns_get(cio_loop *l, int *err)
{
    dns *known = cio__loop_hook_arg(l, dns_shutdown);
    if (known)
        return known;
    pthread_once(&ares_once, ares_global_init);
    if (ares_init_rc != ARES_SUCCESS) {
        *err = CIO_EDNS;
        return NULL;
    }
    dns *d = calloc(1, sizeof *d);
    if (!d) {
        *err = -ENOMEM;
        return NULL;
    }
    d->loop = l;
    int rc = dns_init(d);
    if (rc != ARES_SUCCESS) {
        free(d);
        *err = map_ares(rc);
        return NULL;
    }
    cio__loop_add_shutdown_hook(l, dns_shutdown, d);
    if (!cio__loop_hook_arg(l, dns_shutdown)) {
        *err = -ENOMEM; /* no memory for the hook: it ran at once */
        return NULL;
    }
    return d;
}

/* The start of every lookup: inside a task, the loop's resolver (made on
 * first use), a fresh query on it.  NULL with *rc set on failure. */
static query *query_new(int *rc)
{
    cio__task *t;
    *rc = cio__enter(&t);
    if (*rc)
        return NULL;
    dns *d = dns_get(t->f.loop, rc);
    if (!d)
        return NULL;
    query *q = calloc(1, sizeof *q);
    if (!q) {
        *rc = -ENOMEM;
        return NULL;
    }
    q->d = d;
    return q;
}

/* ---- queries --------------------------------------------------------------- */

static bool query_cancel(cio__wait *w)
{
    query *q = CIO__CONTAINER_OF(w, qwait, w)->q;
    dns *d = q->d;
    q->qw = NULL;
    q->orphan = true; /* freed by the callback when c-ares is done with it */
    cio__wake(w->task, -ECANCELED);
    if (--d->live == 0) {
        /* nobody waits for an answer any more: stop the retransmissions
         * now (c-ares has no per-query cancel) rather than keep sockets and
         * a timer until the orphans time out.  The callbacks free them (q
         * included) and c-ares closes its sockets. */
        ares_cancel(d->ch);
        rearm(d);
    }
    return true;
}

static int query_wait(query *q, const char *what)
{
    qwait qw = {.q = q};
    qw.w.what = what;
    qw.w.cancel = query_cancel;
    qw.w.droppable = false; /* an answer that arrived is used */
    q->qw = &qw;
    q->parked = true;
    q->d->live++;
    return cio__park(&qw.w);
}

static void query_finish(query *q)
{
    q->done = true;
    if (q->orphan) {
        cio_freeaddrinfo(q->res);
        free(q);
    } else if (q->parked) { /* answers from /etc/hosts arrive before we park */
        q->d->live--;
        cio__wake(q->qw->w.task, 0);
        q->qw = NULL;
    }
}

static void gai_cb(void *arg, int status, int timeouts, struct ares_addrinfo *result)
{
    (void)timeouts;
    query *q = arg;
    q->status = map_ares(status);
    if (status == ARES_SUCCESS && result) {
        struct addrinfo *head = NULL, **tail = &head;
        const char *canon = result->cnames ? result->cnames->name : result->name;
        for (struct ares_addrinfo_node *n = result->nodes; n; n = n->ai_next) {
            struct addrinfo *a = ai_node(n->ai_family, n->ai_socktype, n->ai_protocol, n->ai_addr,
                                         (socklen_t)n->ai_addrlen, head ? NULL : canon);
            if (!a) {
                q->status = -ENOMEM;
                break;
            }
            *tail = a;
            tail = &a->ai_next;
        }
        q->res = head;
        if (!head && q->status == 0)
            q->status = CIO_EDNS;
    }
    if (result)
        ares_freeaddrinfo(result);
    query_finish(q);
}

static bool host_too_long(const char *host)
{
    /* RFC 1035: at most 253 characters (254 with the root dot), labels of
     * at most 63: refused, never truncated */
    size_t n = strlen(host), label = 0;
    if (n > 254 || (n == 254 && host[253] != '.'))
        return true;
    for (size_t i = 0; i < n; i++) {
        if (host[i] == '.')
            label = 0;
        else if (++label > 63)
            return true;
    }
    return false;
}

int cio_getaddrinfo(const char *host, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
    *res = NULL;
    if (host && host_too_long(host))
        return -EINVAL;
    if (!host) {
        struct addrinfo h = hints ? *hints : (struct addrinfo){0}, *r;
        h.ai_flags |= AI_PASSIVE;
        return getaddrinfo(NULL, service, &h, &r) == 0 ? from_libc(r, res) : CIO_EDNS;
    }
    if (cio__resolve_numeric(host, service, hints, res) == 0)
        return 0;
    if (hints && (hints->ai_flags & AI_NUMERICHOST))
        return CIO_EDNS; /* a name where only an address was allowed: no lookup */
    int rc;
    query *q = query_new(&rc);
    if (!q)
        return rc;
    dns *d = q->d;
    struct ares_addrinfo_hints ah = {0};
    if (hints) {
        ah.ai_flags = hints->ai_flags & (AI_CANONNAME | AI_NUMERICSERV | AI_PASSIVE);
        ah.ai_family = hints->ai_family;
        ah.ai_socktype = hints->ai_socktype;
        ah.ai_protocol = hints->ai_protocol;
    }
    /* c-ares refuses the numeric service "0" (ARES_ESERVICE), which is how
     * callers ask for an ephemeral port: numeric services are filled in
     * below instead */
    char *end = NULL;
    unsigned long nport = service && *service >= '0' && *service <= '9' ? strtoul(service, &end, 10) : 0;
    bool numeric_serv = end && *end == '\0' && nport <= 65535;
    ares_getaddrinfo(d->ch, host, numeric_serv ? NULL : service, &ah, gai_cb, q);
    if (!q->done) {
        rearm(d);
        rc = query_wait(q, "getaddrinfo");
        if (rc < 0)
            return rc; /* orphaned: the callback frees q */
    }
    rc = q->status;
    if (rc == 0) {
        *res = q->res;
        q->res = NULL;
        /* c-ares does not filter by socktype when the service is numeric:
         * make sure every node carries the requested one */
        for (struct addrinfo *a = *res; a; a = a->ai_next) {
            if (numeric_serv && a->ai_family == AF_INET)
                ((struct sockaddr_in *)a->ai_addr)->sin_port = htons((uint16_t)nport);
            else if (numeric_serv && a->ai_family == AF_INET6)
                ((struct sockaddr_in6 *)a->ai_addr)->sin6_port = htons((uint16_t)nport);
            if (hints && hints->ai_socktype && !a->ai_socktype)
                a->ai_socktype = hints->ai_socktype;
            if (!a->ai_protocol && a->ai_socktype == SOCK_STREAM)
                a->ai_protocol = IPPROTO_TCP;
            else if (!a->ai_protocol && a->ai_socktype == SOCK_DGRAM)
                a->ai_protocol = IPPROTO_UDP;
        }
    }
    cio_freeaddrinfo(q->res);
    free(q);
    return rc;
}

static void gni_cb(void *arg, int status, int timeouts, char *node, char *service)
{
    (void)timeouts;
    query *q = arg;
    q->status = map_ares(status);
    if (node) {
        snprintf(q->host, sizeof q->host, "%s", node);
        /* c-ares appends the scope of IPv6 addresses even when there is
         * none ("::1%0"); getnameinfo(3) does not */
        size_t hl = strlen(q->host);
        if (hl > 2 && strcmp(q->host + hl - 2, "%0") == 0)
            q->host[hl - 2] = 0;
    }
    if (service)
        snprintf(q->serv, sizeof q->serv, "%s", service);
    query_finish(q);
}

int cio_getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, size_t hostlen, char *serv,
                    size_t servlen, int flags)
{
    int rc;
    query *q = query_new(&rc);
    if (!q)
        return rc;
    dns *d = q->d;
    int af = (host && hostlen ? ARES_NI_LOOKUPHOST : 0) | (serv && servlen ? ARES_NI_LOOKUPSERVICE : 0);
    if (flags & NI_NUMERICHOST)
        af |= ARES_NI_NUMERICHOST;
    if (flags & NI_NUMERICSERV)
        af |= ARES_NI_NUMERICSERV;
    if (flags & NI_NAMEREQD)
        af |= ARES_NI_NAMEREQD;
    if (flags & NI_DGRAM)
        af |= ARES_NI_DGRAM;
    ares_getnameinfo(d->ch, sa, (ares_socklen_t)salen, af, gni_cb, q);
    if (!q->done) {
        rearm(d);
        rc = query_wait(q, "getnameinfo");
        if (rc < 0)
            return rc;
    }
    rc = q->status;
    if (rc == 0) {
        if (host && hostlen && snprintf(host, hostlen, "%s", q->host) >= (int)hostlen)
            rc = -ENOSPC;
        if (serv && servlen && snprintf(serv, servlen, "%s", q->serv) >= (int)servlen)
            rc = -ENOSPC;
    }
    free(q);
    return rc;
}
