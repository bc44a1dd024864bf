/* SPDX-License-Identifier: MIT */
/* Name resolution (c-ares on the loop) and connecting by name:
 * cio_getaddrinfo / cio_getnameinfo / cio_connect_tcp.
 *
 *   - localhost from /etc/hosts, numeric IPv4/IPv6 (never reaching c-ares),
 *     service names and the ephemeral port "0", the wildcard
 *   - names longer than 253 characters or with a label over 63: -EINVAL
 *   - a name that does not exist (.invalid): CIO_EDNS, or -ETIMEDOUT on a
 *     machine whose resolver does not answer (bounded by a timeout scope)
 *   - cancellation in the middle of a query: -ECANCELED, nothing left
 *     behind (no fd, no timer, no watched fd, no leak under ASan)
 *   - getnameinfo of 127.0.0.1 (as libc answers it from /etc/hosts)
 *   - cio_connect_tcp: refused, timeout, numeric, happy eyeballs
 *
 * Some parts need a name with both an IPv6 and an IPv4 address, and a name
 * server that never answers.  They run in a forked child with a private
 * mount namespace in which /etc/hosts and /etc/resolv.conf are replaced by
 * bind mounts ("localhost" -> ::1 and 127.0.0.1; nameserver 127.0.0.1, port
 * 53 bound by a socket that never reads).  Without the privileges for that,
 * those parts are skipped with a message.
 *
 * Exit 0 = pass. */
#include "check.h"
#include "net/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------- */

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

static int ai_port(const struct addrinfo *a)
{
    if (a->ai_family == AF_INET)
        return ntohs(((struct sockaddr_in *)a->ai_addr)->sin_port);
    if (a->ai_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)a->ai_addr)->sin6_port);
    return -1;
}

static const char *ai_str(const struct addrinfo *a, char *buf, size_t n)
{
    const void *p = a->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
                                            : (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
    return inet_ntop(a->ai_family, p, buf, (socklen_t)n) ? buf : "?";
}

static size_t ai_count(const struct addrinfo *a)
{
    size_t n = 0;
    for (; a; a = a->ai_next)
        n++;
    return n;
}

/* A loopback TCP listener of family on port (0: any); its port in *port.
 * backlog < 0: bound only. v6only on IPv6 so that both families can share
 * a port number. */
static int listener(int family, int port, int backlog, int *out_port)
{
    int fd = cio_socket(family, SOCK_STREAM, 0);
    if (fd < 0)
        return fd;
    int one = 1;
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a->sin_port = htons((uint16_t)port);
        len = sizeof *a;
    } else {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        a->sin6_port = htons((uint16_t)port);
        len = sizeof *a;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || (backlog >= 0 && listen(fd, backlog) < 0)) {
        int e = -errno;
        cio_close(fd);
        return e;
    }
    len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    if (out_port)
        *out_port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                            : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

static int peer_family(int fd)
{
    struct sockaddr_storage ss;
    socklen_t l = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &l) < 0)
        return -errno;
    return ss.ss_family;
}

/* Fills the accept queue of a backlog-0 listener so that further connects
 * hang; returns how many filler sockets were stored in fills. */
/* A listener of `family` (backlog as listener's) on a port of the kernel's
 * choice, and a socket of the other family on the same port (other_backlog
 * likewise).  Another process (a concurrent test) may hold that port in the
 * other family: then both are tried again on a new port.  0 or -errno. */
static int listener_pair(int family, int backlog, int other_backlog, int *fd, int *other, int *port)
{
    int other_family = family == AF_INET ? AF_INET6 : AF_INET;
    for (int tries = 0; tries < 100; tries++) {
        *fd = listener(family, 0, backlog, port);
        if (*fd < 0)
            return *fd;
        *other = listener(other_family, *port, other_backlog, NULL);
        if (*other >= 0)
            return 0;
        cio_close(*fd);
        if (*other != -EADDRINUSE)
            return *other;
    }
    return -EADDRINUSE;
}

/* Whether a duration on the virtual clock is `want` (exact to the
 * nanosecond there; the margin only absorbs the doubles' rounding). */
static bool took(double dt, double want) { return fabs(dt - want) < 1e-6; }

static int fill_backlog(int family, int port, int *fills, int cap)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a->sin_port = htons((uint16_t)port);
        len = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        a->sin6_port = htons((uint16_t)port);
        len = sizeof *a;
    }
    int n = 0;
    while (n < cap) {
        int fd = cio_socket(family, SOCK_STREAM, 0);
        cio_timeout to;
        cio_timeout_enter(&to, 0.2);
        int rc = cio_timeout_exit(&to, cio_sock_connect(fd, (struct sockaddr *)&ss, len));
        if (rc < 0) {
            cio_close(fd);
            break;
        }
        fills[n++] = fd;
    }
    return n;
}

/* ---- getaddrinfo -------------------------------------------------------------- */

static void *t_localhost(void *arg)
{
    (void)arg;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    CHECK_EQ(cio_getaddrinfo("localhost", "8080", &hints, &res), 0);
    CHECK(res != NULL);
    char b[64];
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        CHECK_EQ(a->ai_family, AF_INET);
        CHECK(strcmp(ai_str(a, b, sizeof b), "127.0.0.1") == 0);
        CHECK_EQ(ai_port(a), 8080);
        CHECK_EQ(a->ai_socktype, SOCK_STREAM);
        CHECK_EQ(a->ai_protocol, IPPROTO_TCP);
    }
    cio_freeaddrinfo(res);

    /* any family: 127.0.0.1 is among the answers */
    hints = (struct addrinfo){.ai_socktype = SOCK_STREAM};
    CHECK_EQ(cio_getaddrinfo("localhost", "80", &hints, &res), 0);
    bool v4 = false;
    for (struct addrinfo *a = res; a; a = a->ai_next)
        if (a->ai_family == AF_INET && strcmp(ai_str(a, b, sizeof b), "127.0.0.1") == 0)
            v4 = true;
    CHECK(v4);
    cio_freeaddrinfo(res);

    /* the ephemeral port "0" (what servers and UDP endpoints ask for) */
    hints = (struct addrinfo){.ai_family = AF_INET, .ai_socktype = SOCK_DGRAM, .ai_flags = AI_PASSIVE};
    CHECK_EQ(cio_getaddrinfo("localhost", "0", &hints, &res), 0);
    CHECK(res && ai_port(res) == 0);
    CHECK(res && res->ai_protocol == IPPROTO_UDP);
    cio_freeaddrinfo(res);

    /* a service by name */
    hints = (struct addrinfo){.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    CHECK_EQ(cio_getaddrinfo("localhost", "http", &hints, &res), 0);
    CHECK(res && ai_port(res) == 80);
    cio_freeaddrinfo(res);
    CHECK_EQ(cio_getaddrinfo("localhost", "no-such-service-xyz", &hints, &res), CIO_EDNS);
    CHECK(res == NULL);

    /* the canonical name when asked for */
    hints = (struct addrinfo){.ai_family = AF_INET, .ai_socktype = SOCK_STREAM, .ai_flags = AI_CANONNAME};
    CHECK_EQ(cio_getaddrinfo("localhost", "80", &hints, &res), 0);
    CHECK(res && res->ai_canonname && strcmp(res->ai_canonname, "localhost") == 0);
    cio_freeaddrinfo(res);

    /* no hints at all */
    CHECK_EQ(cio_getaddrinfo("localhost", NULL, NULL, &res), 0);
    CHECK(res != NULL);
    cio_freeaddrinfo(res);
    return NULL;
}

static void *t_numeric(void *arg)
{
    (void)arg;
    cio_loop *l = cio_loop_current();
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    char b[64];
    CHECK_EQ(cio_getaddrinfo("127.0.0.1", "8080", &hints, &res), 0);
    CHECK_EQ(ai_count(res), 1);
    CHECK(res && res->ai_family == AF_INET && ai_port(res) == 8080);
    CHECK(res && strcmp(ai_str(res, b, sizeof b), "127.0.0.1") == 0);
    cio_freeaddrinfo(res);

    CHECK_EQ(cio_getaddrinfo("::1", "443", &hints, &res), 0);
    CHECK_EQ(ai_count(res), 1);
    CHECK(res && res->ai_family == AF_INET6 && ai_port(res) == 443);
    CHECK(res && strcmp(ai_str(res, b, sizeof b), "::1") == 0);
    cio_freeaddrinfo(res);

    CHECK_EQ(cio_getaddrinfo("10.1.2.3", "0", &hints, &res), 0);
    CHECK(res && ai_port(res) == 0);
    cio_freeaddrinfo(res);

    /* the wildcard */
    hints.ai_flags = AI_PASSIVE;
    CHECK_EQ(cio_getaddrinfo(NULL, "9000", &hints, &res), 0);
    CHECK(res != NULL);
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        CHECK(a->ai_family == AF_INET || a->ai_family == AF_INET6);
        CHECK_EQ(ai_port(a), 9000);
    }
    cio_freeaddrinfo(res);

    /* AI_NUMERICHOST: a name is refused without a lookup */
    hints = (struct addrinfo){.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
    CHECK_EQ(cio_getaddrinfo("localhost", "80", &hints, &res), CIO_EDNS);
    CHECK(res == NULL);
    CHECK_EQ(cio_getaddrinfo("::1", "80", &hints, &res), 0);
    cio_freeaddrinfo(res);

    /* numeric hosts answer without the resolver: no c-ares channel yet */
    CHECK(!cio__dns_started(l));
    /* and they need no task */
    return NULL;
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = 0;
    return s;
}

/* A name of labels of `label` characters (the last may be shorter) and
 * `total` characters in all. */
static char *dotted(size_t total, size_t label)
{
    char *s = malloc(total + 1);
    size_t k = 0;
    for (size_t i = 0; i < total; i++) {
        if (k == label && i + 1 < total) {
            s[i] = '.';
            k = 0;
        } else {
            s[i] = 'a';
            k++;
        }
    }
    s[total] = 0;
    return s;
}

static void *t_too_long(void *arg)
{
    (void)arg;
    cio_loop *l = cio_loop_current();
    struct addrinfo *res = (struct addrinfo *)1;
    char *label64 = repeat('x', 64);
    CHECK_EQ(cio_getaddrinfo(label64, "80", NULL, &res), -EINVAL);
    CHECK(res == NULL);
    char name[128];
    snprintf(name, sizeof name, "www.%s.example", label64);
    CHECK_EQ(cio_getaddrinfo(name, "80", NULL, &res), -EINVAL);
    char *n254 = dotted(254, 63);
    CHECK_EQ(strlen(n254), 254);
    CHECK(n254[253] != '.');
    CHECK_EQ(cio_getaddrinfo(n254, "80", NULL, &res), -EINVAL);
    char *n300 = dotted(300, 20);
    CHECK_EQ(cio_getaddrinfo(n300, "80", NULL, &res), -EINVAL);
    char *n1000 = repeat('y', 1000);
    CHECK_EQ(cio_getaddrinfo(n1000, "80", NULL, &res), -EINVAL);
    /* refused before any query is made (never truncated and sent) */
    CHECK(!cio__dns_started(l));
    /* connecting by such a name fails the same way */
    CHECK_EQ(cio_connect_tcp(n254, "80", -1, false), -EINVAL);
    cio_stream *s = (cio_stream *)1;
    CHECK_EQ(cio_open_connection(label64, "80", NULL, &s), -EINVAL);
    CHECK(s == NULL);

    /* 63-character labels and 252 or 253 characters are fine (answered by
     * the name server, if any, so only "not -EINVAL" is checked, within 3 s) */
    for (size_t len = 252; len <= 253; len++) {
        char *name = dotted(len, 63);
        CHECK_EQ(strlen(name), len);
        cio_timeout to;
        cio_timeout_enter(&to, 3);
        int rc = cio_timeout_exit(&to, cio_getaddrinfo(name, "80", NULL, &res));
        CHECK(rc != -EINVAL);
        CHECK(rc == 0 || rc == CIO_EDNS || rc == -ETIMEDOUT);
        if (rc == 0)
            cio_freeaddrinfo(res);
        free(name);
    }
    free(label64);
    free(n254);
    free(n300);
    free(n1000);
    return NULL;
}

/* A name that cannot exist: CIO_EDNS from a resolver that answers, or the
 * scope's -ETIMEDOUT from one that does not.  On the real clock: a real
 * resolver answers it. */
static void *t_nxdomain(void *arg)
{
    (void)arg;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = (struct addrinfo *)1;
    double t0 = cio_time();
    cio_timeout to;
    cio_timeout_enter(&to, 4);
    int rc = cio_timeout_exit(&to, cio_getaddrinfo("cio-test-no-such-host.invalid", "80", &hints, &res));
    double dt = cio_time() - t0;
    fprintf(stderr, "  .invalid: %s after %.3f s\n", cio_strerror(rc), dt);
    CHECK(rc == CIO_EDNS || rc == -ETIMEDOUT);
    CHECK(res == NULL);
    /* no upper bound on dt: the rc says whether the scope or the resolver ended it */
    /* the task is not left cancelled */
    CHECK_EQ(cio_sleep(0), 0);

    /* the same through open_connection and connect_tcp */
    cio_stream *s = NULL;
    cio_timeout_enter(&to, 4);
    rc = cio_timeout_exit(&to, cio_open_connection("cio-test-no-such-host.invalid", "80", NULL, &s));
    CHECK(rc == CIO_EDNS || rc == -ETIMEDOUT);
    CHECK(s == NULL);
    rc = cio_connect_tcp("cio-test-no-such-host.invalid", "80", 4, false);
    CHECK(rc == CIO_EDNS || rc == -ETIMEDOUT);
    return NULL;
}

typedef struct lookup {
    const char *host;
    int rc;
    struct addrinfo *res;
} lookup;

static void *lookup_task(void *arg)
{
    lookup *lk = arg;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    lk->rc = cio_getaddrinfo(lk->host, "80", &hints, &lk->res);
    return NULL;
}

/* Cancelled while the query is out (before any answer can have been read:
 * the cancel comes in the same loop iteration): -ECANCELED, and the
 * resolver's socket and timer go with it (checked by RUN_TASK_TEST). */
static void *t_cancel_mid_query(void *arg)
{
    (void)arg;
    for (int round = 0; round < 3; round++) {
        lookup lk = {.host = round == 2 ? "cio-mid-query-2.invalid" : "cio-mid-query.invalid"};
        cio_task *t = cio_spawn(lookup_task, &lk);
        cio_yield(); /* it starts, sends its query and parks */
        bool pending = !cio_done(t);
        CHECK(pending);
        cio_cancel(t, NULL);
        cio_await(t, NULL);
        if (pending) {
            CHECK_EQ(lk.rc, -ECANCELED);
            CHECK(cio_cancelled(t));
        }
        CHECK(lk.res == NULL);
        cio_release(t);
    }
    /* the resolver still works afterwards */
    lookup lk = {.host = "localhost"};
    lookup_task(&lk);
    CHECK_EQ(lk.rc, 0);
    cio_freeaddrinfo(lk.res);
    /* let late answers to the cancelled queries (if any) arrive and be
     * dropped: still nothing left behind */
    cio_sleep(0.05);
    return NULL;
}

/* Many lookups at once, of names from /etc/hosts and numeric ones. */
static void *t_concurrent(void *arg)
{
    (void)arg;
    enum { N = 64 };
    lookup lk[N];
    cio_task *ts[N];
    for (int i = 0; i < N; i++) {
        lk[i] = (lookup){.host = i % 3 == 0 ? "127.0.0.1" : "localhost"};
        ts[i] = cio_spawn(lookup_task, &lk[i]);
    }
    CHECK_EQ(cio_gather(ts, N, NULL, NULL, 0), 0);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(lk[i].rc, 0);
        CHECK(lk[i].res != NULL);
        cio_freeaddrinfo(lk[i].res);
        cio_release(ts[i]);
    }
    return NULL;
}

/* ---- getnameinfo ------------------------------------------------------------------ */

static void *t_getnameinfo(void *arg)
{
    (void)arg;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(80)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char host[NI_MAXHOST], serv[NI_MAXSERV], lhost[NI_MAXHOST], lserv[NI_MAXSERV];
    /* what libc says (from /etc/hosts and /etc/services) */
    int lrc = getnameinfo((struct sockaddr *)&sin, sizeof sin, lhost, sizeof lhost, lserv, sizeof lserv, NI_NAMEREQD);
    CHECK_EQ(lrc, 0);
    int rc = cio_getnameinfo((struct sockaddr *)&sin, sizeof sin, host, sizeof host, serv, sizeof serv, 0);
    CHECK_EQ(rc, 0);
    if (rc == 0 && lrc == 0) {
        fprintf(stderr, "  127.0.0.1:80 -> %s %s (libc: %s %s)\n", host, serv, lhost, lserv);
        CHECK(strcmp(host, lhost) == 0);
        CHECK(strcmp(serv, lserv) == 0);
    }
    /* numeric */
    CHECK_EQ(cio_getnameinfo((struct sockaddr *)&sin, sizeof sin, host, sizeof host, serv, sizeof serv,
                             NI_NUMERICHOST | NI_NUMERICSERV),
             0);
    CHECK(strcmp(host, "127.0.0.1") == 0);
    CHECK(strcmp(serv, "80") == 0);
    /* host only */
    CHECK_EQ(cio_getnameinfo((struct sockaddr *)&sin, sizeof sin, host, sizeof host, NULL, 0, 0), 0);
    CHECK(strcmp(host, lhost) == 0);
    /* a buffer too small */
    char tiny[3];
    CHECK_EQ(cio_getnameinfo((struct sockaddr *)&sin, sizeof sin, tiny, sizeof tiny, NULL, 0, 0), -ENOSPC);
    CHECK_EQ(cio_getnameinfo((struct sockaddr *)&sin, sizeof sin, NULL, 0, tiny, sizeof tiny, NI_NUMERICSERV), 0);
    CHECK_EQ(cio_getnameinfo((struct sockaddr *)&sin, sizeof sin, NULL, 0, tiny, 2, NI_NUMERICSERV), -ENOSPC);
    /* IPv6, numeric */
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(443), .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    CHECK_EQ(cio_getnameinfo((struct sockaddr *)&s6, sizeof s6, host, sizeof host, serv, sizeof serv,
                             NI_NUMERICHOST | NI_NUMERICSERV),
             0);
    CHECK(strcmp(host, "::1") == 0);
    if (strcmp(host, "::1") != 0)
        fprintf(stderr, "  ::1 -> \"%s\"\n", host);
    CHECK(strcmp(serv, "443") == 0);
    return NULL;
}

/* ---- connecting by name ------------------------------------------------------------ */

static void *t_connect_tcp(void *arg)
{
    (void)arg;
    int port;
    int lfd = listener(AF_INET, 0, 8, &port);
    CHECK(lfd >= 0);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    for (int happy = 0; happy < 2; happy++) {
        int fd = cio_connect_tcp("127.0.0.1", ps, -1, happy);
        CHECK(fd >= 0);
        CHECK_EQ(peer_family(fd), AF_INET);
        CHECK((fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
        cio_close(fd);
        fd = cio_connect_tcp("localhost", ps, 2, happy);
        CHECK(fd >= 0);
        CHECK_EQ(peer_family(fd), AF_INET);
        cio_close(fd);
        int c = cio_sock_accept(lfd, NULL, NULL);
        CHECK(c >= 0);
        cio_close(c);
        c = cio_sock_accept(lfd, NULL, NULL);
        CHECK(c >= 0);
        cio_close(c);
    }
    cio_close(lfd);

    /* nothing listening: refused */
    int bound = listener(AF_INET, 0, -1, &port);
    snprintf(ps, sizeof ps, "%d", port);
    CHECK_EQ(cio_connect_tcp("127.0.0.1", ps, -1, false), -ECONNREFUSED);
    CHECK_EQ(cio_connect_tcp("localhost", ps, -1, true), -ECONNREFUSED);
    cio_close(bound);

    /* a listener whose queue is full: the timeout argument applies */
    int full = listener(AF_INET, 0, 0, &port);
    snprintf(ps, sizeof ps, "%d", port);
    int fills[8];
    int nf = fill_backlog(AF_INET, port, fills, 8);
    for (int happy = 0; happy < 2; happy++) {
        double t0 = cio_time();
        CHECK_EQ(cio_connect_tcp("127.0.0.1", ps, 0.2, happy), -ETIMEDOUT);
        CHECK(took(cio_time() - t0, 0.2)); /* exactly the timeout (virtual clock) */
    }
    /* and a scope around it */
    cio_timeout to;
    cio_timeout_enter(&to, 0.2);
    CHECK_EQ(cio_timeout_exit(&to, cio_connect_tcp("localhost", ps, -1, false)), -ETIMEDOUT);
    /* connect_timeout of open_connection */
    cio_stream *s = NULL;
    CHECK_EQ(cio_open_connection("localhost", ps, &(cio_stream_opts){.connect_timeout = 0.2}, &s), -ETIMEDOUT);
    CHECK(s == NULL);
    for (int i = 0; i < nf; i++)
        cio_close(fills[i]);
    cio_close(full);
    return NULL;
}

/* ---- in a private mount namespace ------------------------------------------------ */

/* Binds a file with `content` over `target`.  0 or -1. */
static int bind_file(const char *target, const char *content)
{
    char path[] = "/tmp/cio-test-dns.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    size_t n = strlen(content);
    bool ok = write(fd, content, n) == (ssize_t)n;
    fchmod(fd, 0644);
    close(fd);
    if (ok && mount(path, target, NULL, MS_BIND, NULL) < 0) {
        fprintf(stderr, "  mount %s: %s\n", target, strerror(errno));
        ok = false;
    }
    unlink(path); /* the mount keeps the inode */
    return ok ? 0 : -1;
}

static int dns_blackhole = -1; /* UDP 127.0.0.1:53, never read */

/* Both families: "localhost" and "dual.cio-test" are ::1 and 127.0.0.1. */
static void *t_ns_every_address(void *arg)
{
    (void)arg;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    CHECK_EQ(cio_getaddrinfo("dual.cio-test", "80", &hints, &res), 0);
    int fams[2] = {0, 0};
    size_t n = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next, n++)
        if (n < 2)
            fams[n] = a->ai_family;
    cio_freeaddrinfo(res);
    CHECK_EQ(n, 2);
    CHECK(fams[0] != fams[1]);
    if (n != 2 || fams[0] == fams[1])
        return NULL;
    /* every combination: only the first family listens, only the second,
     * none; plain and happy eyeballs */
    for (int happy = 0; happy < 2; happy++) {
        for (int which = 0; which < 2; which++) {
            int port, lfd, other;
            /* the other family: same port, bound but not listening (refused) */
            CHECK_EQ(listener_pair(fams[which], 8, -1, &lfd, &other, &port), 0);
            char ps[16];
            snprintf(ps, sizeof ps, "%d", port);
            double t0 = cio_time();
            int fd = cio_connect_tcp("dual.cio-test", ps, 5, happy);
            double dt = cio_time() - t0;
            CHECK(fd >= 0);
            CHECK_EQ(peer_family(fd), fams[which]);
            /* a refused attempt gives way at once: no loop time passed, not
             * the 0.25 s happy-eyeballs delay nor the 5 s timeout */
            CHECK(dt == 0);
            if (fd >= 0)
                cio_close(fd);
            /* the same through open_connection, and "localhost" */
            cio_stream *s = NULL;
            CHECK_EQ(cio_open_connection("localhost", ps, &(cio_stream_opts){.happy_eyeballs = happy}, &s), 0);
            if (s) {
                struct sockaddr_storage ss;
                socklen_t sl;
                CHECK_EQ(cio_stream_peername(s, &ss, &sl), 0);
                CHECK_EQ(ss.ss_family, fams[which]);
                cio_stream_abort(s);
            }
            cio_close(lfd);
            /* none listens: the last error */
            CHECK_EQ(cio_connect_tcp("dual.cio-test", ps, 5, happy), -ECONNREFUSED);
            cio_close(other);
        }
    }

    /* the first address hangs (full backlog), the second listens: plain
     * connect waits on the first until the timeout; happy eyeballs starts
     * the second after 250 ms and wins */
    int port, good, hang;
    CHECK_EQ(listener_pair(fams[1], 8, 0, &good, &hang, &port), 0);
    int fills[8];
    int nf = fill_backlog(fams[0], port, fills, 8);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    double t0 = cio_time();
    int fd = cio_connect_tcp("dual.cio-test", ps, 5, true);
    double dt = cio_time() - t0;
    CHECK(fd >= 0);
    CHECK_EQ(peer_family(fd), fams[1]);
    CHECK(took(dt, 0.25)); /* exactly RFC 8305's delay, then the second wins at once */
    if (fd >= 0)
        cio_close(fd);
    t0 = cio_time();
    CHECK_EQ(cio_connect_tcp("dual.cio-test", ps, 0.5, false), -ETIMEDOUT);
    CHECK(took(cio_time() - t0, 0.5)); /* exactly the timeout */
    /* happy eyeballs, cancelled while both attempts are out: nothing left */
    int lfd2, hang2;
    CHECK_EQ(listener_pair(fams[1], 0, 0, &lfd2, &hang2, &port), 0);
    int fills2[8];
    int nf2 = fill_backlog(fams[0], port, fills2, 8);
    int nf3 = fill_backlog(fams[1], port, fills2 + nf2, 8 - nf2);
    snprintf(ps, sizeof ps, "%d", port);
    CHECK_EQ(cio_connect_tcp("dual.cio-test", ps, 0.4, true), -ETIMEDOUT);
    for (int i = 0; i < nf2 + nf3; i++)
        cio_close(fills2[i]);
    cio_close(lfd2);
    cio_close(hang2);
    for (int i = 0; i < nf; i++)
        cio_close(fills[i]);
    cio_close(good);
    cio_close(hang);
    return NULL;
}

/* A name server that never answers: the timeout scope ends the lookup, and
 * cancelling it leaves no socket, timer or memory behind. */
static void *t_ns_blackhole(void *arg)
{
    (void)arg;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    double t0 = cio_time();
    cio_timeout to;
    cio_timeout_enter(&to, 0.3);
    CHECK_EQ(cio_timeout_exit(&to, cio_getaddrinfo("blackhole.invalid", "80", &hints, &res)), -ETIMEDOUT);
    CHECK(cio_time() - t0 >= 0.29); /* the scope ended it (the rc says so), not an early error */
    CHECK(res == NULL);

    /* two lookups out at once; cancelling one leaves the other going */
    lookup a = {.host = "one.invalid"}, b = {.host = "two.invalid"};
    cio_task *ta = cio_spawn(lookup_task, &a), *tb = cio_spawn(lookup_task, &b);
    cio_sleep(0.05);
    CHECK(!cio_done(ta) && !cio_done(tb));
    cio_cancel(ta, NULL);
    cio_await(ta, NULL);
    CHECK_EQ(a.rc, -ECANCELED);
    cio_sleep(0.05);
    CHECK(!cio_done(tb));
    /* names from /etc/hosts still resolve meanwhile */
    lookup c = {.host = "localhost"};
    lookup_task(&c);
    CHECK_EQ(c.rc, 0);
    cio_freeaddrinfo(c.res);
    cio_cancel(tb, NULL);
    cio_await(tb, NULL);
    CHECK_EQ(b.rc, -ECANCELED);
    cio_release(ta);
    cio_release(tb);

    /* reverse lookups too */
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(80)};
    inet_pton(AF_INET, "192.0.2.77", &sin.sin_addr);
    char host[NI_MAXHOST];
    cio_timeout_enter(&to, 0.3);
    CHECK_EQ(cio_timeout_exit(&to, cio_getnameinfo((struct sockaddr *)&sin, sizeof sin, host, sizeof host, NULL, 0,
                                                   NI_NAMEREQD)),
             -ETIMEDOUT);

    /* and connecting by such a name */
    cio_stream *s = NULL;
    CHECK_EQ(cio_open_connection("blackhole.invalid", "80", &(cio_stream_opts){.connect_timeout = 0.3}, &s),
             -ETIMEDOUT);
    CHECK(s == NULL);
    return NULL;
}

static int run_namespace_child(void)
{
    check_failures = 0; /* the parent's count came along with fork */
    if (unshare(CLONE_NEWNS) < 0) {
        fprintf(stderr, "  unshare(CLONE_NEWNS): %s\n", strerror(errno));
        return 77;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        fprintf(stderr, "  mount --make-rprivate /: %s\n", strerror(errno));
        return 77;
    }
    if (bind_file("/etc/hosts", "::1 localhost dual.cio-test\n"
                                "127.0.0.1 localhost dual.cio-test\n") < 0)
        return 77;
    bool v6 = have_ipv6();
    /* names from /etc/hosts and local listeners only: the virtual clock
     * (inherited from main), so the happy-eyeballs delay and the timeouts
     * are exact and a refused attempt provably takes no time */
    if (v6)
        RUN_TASK_TEST(t_ns_every_address);
    else
        fprintf(stderr, "  (no IPv6 here: every-address tests skipped)\n");
    /* the name server is another socket c-ares times on the real clock */
    setenv("CIO_VIRTUAL_TIME", "0", 1);

    /* a name server on 127.0.0.1:53 that never answers */
    dns_blackhole = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(53)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(dns_blackhole, (struct sockaddr *)&a, sizeof a) < 0) {
        fprintf(stderr, "  (cannot bind 127.0.0.1:53: %s; name server tests skipped)\n", strerror(errno));
    } else if (bind_file("/etc/resolv.conf", "nameserver 127.0.0.1\n") == 0) {
        RUN_TASK_TEST(t_ns_blackhole);
    }
    close(dns_blackhole);
    return check_failures ? 1 : 0;
}

static void in_namespace(void)
{
    /* the child's RUN_TASK_TESTs select themselves; asked here too, so that
     * the parent knows their names (check_exit) and forks only for them */
    if (!(check_selected("t_ns_every_address") | check_selected("t_ns_blackhole")))
        return;
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0)
        _exit(run_namespace_child());
    int st = 0;
    CHECK(pid > 0);
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
        fprintf(stderr, "skip namespace tests (no private mount namespace here)\n");
        return;
    }
    check_current = "namespace child";
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);
}

int main(void)
{
    RUN_TASK_TEST(t_localhost);
    RUN_TASK_TEST(t_numeric);
    RUN_TASK_TEST(t_too_long);
    RUN_TASK_TEST(t_nxdomain);
    RUN_TASK_TEST(t_cancel_mid_query);
    RUN_TASK_TEST(t_concurrent);
    RUN_TASK_TEST(t_getnameinfo);
    /* from here on, local listeners and /etc/hosts names only: the virtual
     * clock, on which a connect's timeout is exact and a listener's full
     * backlog is found without racing a wall-clock timeout under load */
    setenv("CIO_VIRTUAL_TIME", "1", 1);
    RUN_TASK_TEST(t_connect_tcp);
    in_namespace();
    return check_exit();
}
