/* SPDX-License-Identifier: MIT */
/* What a TLS connection costs the server, counted rather than timed: the
 * system calls per message and per handshake, no file system call per
 * connection (the context cache), session resumption, also from a
 * server on another loop (thread) of the process, and the records writes
 * make (coalesced small writes, full-size records), as a raw OpenSSL
 * client's message callback sees them arrive.
 *
 * recv, send and sendmsg are interposed below (the executable's definition
 * wins over libc's for every caller in the process) to count the calls per
 * fd; they make the same system call.  The clients are cio streams, or a
 * blocking OpenSSL client in a thread (cio_to_thread) where a session must
 * be carried from one connection to the next or records counted.  Certificates: tests/pki.h;
 * skipped (77) without the openssl tool.  127.0.0.1 only. */
#include "check.h"
#include "lib/echo.h"
#include "net/tls.h"
#include "lib/tls_conn.h"
#include "pki.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- counting system calls per fd ------------------------------------------ */

#define MAXFD 4096

static atomic_int n_recv[MAXFD], n_again[MAXFD], n_send[MAXFD];

static void count(atomic_int *c, int fd)
{
    if (fd >= 0 && fd < MAXFD)
        atomic_fetch_add(&c[fd], 1);
}

ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    count(n_recv, fd);
    long r = syscall(SYS_recvfrom, fd, buf, n, flags, NULL, NULL);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        count(n_again, fd);
    return r;
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    count(n_send, fd);
    return syscall(SYS_sendto, fd, buf, n, flags, NULL, 0);
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
    count(n_send, fd);
    return syscall(SYS_sendmsg, fd, m, flags);
}

static void reset_counts(int fd)
{
    atomic_store(&n_recv[fd], 0);
    atomic_store(&n_again[fd], 0);
    atomic_store(&n_send[fd], 0);
}

static void reset_all_counts(void)
{
    for (int fd = 0; fd < MAXFD; fd++)
        reset_counts(fd);
}

/* ---- helpers ------------------------------------------------------------------ */

/* What the server side of a connection did. */
typedef struct srvside {
    int fd;
    int hs_sends; /* sends made by the handshake, seen when the handler starts */
    int hs_recvs, hs_again; /* ... its recvs, and those that found nothing */
    int msgs;
} srvside;

/* Echoes lines until EOF; the counts on its fd start at accept(). */
static void *echo_handler(cio_stream *s, void *arg)
{
    srvside *ss = arg;
    ss->fd = cio_stream_fd(s);
    ss->hs_sends = atomic_load(&n_send[ss->fd]);
    ss->hs_recvs = atomic_load(&n_recv[ss->fd]);
    ss->hs_again = atomic_load(&n_again[ss->fd]);
    echo_lines(s, &ss->msgs);
    cio_stream_close(s);
    return NULL;
}

/* ---- tests -------------------------------------------------------------------- */

/* One recv per message: after a read that emptied the socket the server
 * waits for readiness instead of trying a recv that would fail with
 * EAGAIN (two recvs per message, one of them always EAGAIN, before).  One
 * send per echo.  The handshake sends its flight in one send and holds the
 * session tickets back for the first echo (three sends before: the flight
 * and one per ticket).  Each side's handshake waits for readiness before
 * each read: the client makes one recv (the server's flight), the server
 * two (the ClientHello, the Finished), none failing with EAGAIN. */
static void *t_echo_syscalls(void *arg)
{
    (void)arg;
    srvside ss = {.fd = -1};
    cio_server *srv = serve(echo_handler, &ss, &(cio_tls_opts){.cert_file = srv_pem, .key_file = srv_key});
    cio_stream *c;
    reset_all_counts();
    CHECK_EQ(dial(srv, &(cio_tls_opts){.ca_file = ca_pem}, &c), 0);
    int cfd = cio_stream_fd(c);
    CHECK_EQ(atomic_load(&n_again[cfd]), 0);
    CHECK_EQ(atomic_load(&n_recv[cfd]), 1);
    CHECK_EQ(atomic_load(&n_send[cfd]), 2); /* the hello; the Finished */
    roundtrip(c, "first\n"); /* the handler runs, its counts are known */
    CHECK(ss.fd >= 0);
    CHECK_EQ(ss.hs_sends, 1);
    CHECK_EQ(ss.hs_recvs, 2); /* the ClientHello, the Finished */
    CHECK_EQ(ss.hs_again, 0);
    CHECK_EQ(atomic_load(&n_send[ss.fd]), 2); /* the tickets rode with the first echo */
    CHECK_EQ(atomic_load(&n_again[ss.fd]), 0); /* nor did the first read after the handshake fail */
    reset_counts(ss.fd);
    enum { N = 50 };
    for (int i = 0; i < N; i++)
        roundtrip(c, "a message of a few bytes\n");
    CHECK_EQ(ss.msgs, N + 1);
    int recvs = atomic_load(&n_recv[ss.fd]), again = atomic_load(&n_again[ss.fd]);
    fprintf(stderr, "server, %d messages: %d recv (%d EAGAIN), %d send\n", N, recvs, again,
            atomic_load(&n_send[ss.fd]));
    CHECK_EQ(again, 0);
    CHECK_EQ(recvs, N);
    CHECK_EQ(atomic_load(&n_send[ss.fd]), N);
    CHECK_EQ(cio_stream_close(c), 0);
    server_done(srv);
    return NULL;
}

/* Writes BIG bytes in one call after the first line, then echoes as
 * echo_handler does; the send buffer is pinned large enough for all of it
 * (no EAGAIN: the count of sends is the count of records). */
#define BIG (128 * 1024)

static void *big_handler(cio_stream *s, void *arg)
{
    srvside *ss = arg;
    ss->fd = cio_stream_fd(s);
    int sz = 1 << 20;
    CHECK_EQ(setsockopt(ss->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz), 0);
    const char *data;
    size_t len;
    CHECK_EQ(cio_stream_readline(s, &data, &len), 0);
    reset_counts(ss->fd);
    char *big = malloc(BIG);
    CHECK(big != NULL);
    if (big) {
        memset(big, 'b', BIG);
        CHECK_EQ(cio_stream_write(s, big, BIG), 0);
        CHECK_EQ(cio_stream_drain(s), 0);
        ss->hs_sends = atomic_load(&n_send[ss->fd]);
        free(big);
    }
    return echo_handler(s, arg);
}

/* A large write goes out in full-size records (16 KiB, TLS's largest), one
 * send each; the session tickets held back since the handshake ride with
 * the first. */
static void *t_record_sizes(void *arg)
{
    (void)arg;
    srvside ss = {.fd = -1};
    cio_server *srv = serve(big_handler, &ss, &(cio_tls_opts){.cert_file = srv_pem, .key_file = srv_key});
    cio_stream *c;
    CHECK_EQ(dial(srv, &(cio_tls_opts){.ca_file = ca_pem}, &c), 0);
    CHECK_EQ(cio_stream_write(c, "go\n", 3), 0);
    char *got = malloc(BIG);
    CHECK(got != NULL);
    if (got) {
        size_t n = 0;
        CHECK_EQ(cio_stream_readexactly(c, got, BIG, &n), 0);
        CHECK_EQ(n, BIG);
        CHECK(got[0] == 'b' && got[BIG - 1] == 'b');
        free(got);
    }
    CHECK_EQ(ss.hs_sends, BIG / 16384);
    roundtrip(c, "still in step\n");
    CHECK_EQ(cio_stream_close(c), 0);
    server_done(srv);
    return NULL;
}

/* ---- a blocking OpenSSL client (run in a thread: cio_to_thread) ----------------- */

static int connect_blocking(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

typedef struct raw_client {
    SSL_CTX *ctx;
    SSL *ssl; /* NULL when the set-up failed */
    int fd;
} raw_client;

/* A TLS client over a connected socket to 127.0.0.1:port (no handshake
 * yet; no verification). */
static raw_client raw_open(int port)
{
    raw_client c = {.ctx = SSL_CTX_new(TLS_client_method()), .fd = connect_blocking(port)};
    if (c.ctx && c.fd >= 0 && (c.ssl = SSL_new(c.ctx)) && SSL_set_fd(c.ssl, c.fd) != 1) {
        SSL_free(c.ssl);
        c.ssl = NULL;
    }
    return c;
}

static void raw_close(raw_client *c)
{
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    if (c->fd >= 0)
        close(c->fd);
}

/* ---- records as a raw OpenSSL client receives them ---------------------------- */

#define SMALL_N 10   /* writes of SMALL_LEN bytes, made without suspending */
#define SMALL_LEN 100
#define MED_N 40     /* writes of MED_LEN bytes: more than two records' worth */
#define MED_LEN 1000
#define LARGE (100 * 1024)
#define MAXREC 64
#define TAG 17 /* a TLS 1.3 record's overhead: its inner content type and a 16-byte AEAD tag */

static inline uint8_t pat(size_t i) { return (uint8_t)(i ^ (i >> 8) ^ (i >> 13) ^ 0xa5); }

/* The application-data records of one phase, by plaintext length. */
typedef struct phase {
    int n;
    int len[MAXREC];
} phase;

typedef struct rec_job {
    int port;
    int last_hdr; /* the length field of the last record header read */
    phase *cur;   /* where records go now (NULL: not counted) */
    phase small, med, large;
    int ok;
} rec_job;

/* OpenSSL reports each record read: its header, then (TLS 1.3, once
 * decrypted) its inner content type; application data is counted. */
static void on_msg(int write_p, int version, int type, const void *buf, size_t len, SSL *ssl, void *arg)
{
    (void)version;
    (void)ssl;
    rec_job *j = arg;
    const unsigned char *p = buf;
    if (write_p)
        return;
    if (type == SSL3_RT_HEADER && len == SSL3_RT_HEADER_LENGTH)
        j->last_hdr = p[3] << 8 | p[4];
    else if (type == SSL3_RT_INNER_CONTENT_TYPE && len == 1 && p[0] == SSL3_RT_APPLICATION_DATA && j->cur &&
             j->cur->n < MAXREC)
        j->cur->len[j->cur->n++] = j->last_hdr - TAG;
}

/* Reads exactly n bytes and checks them against pat(). */
static bool read_pattern(SSL *ssl, size_t n)
{
    unsigned char buf[4096];
    for (size_t got = 0; got < n;) {
        size_t want = n - got < sizeof buf ? n - got : sizeof buf, k = 0;
        if (SSL_read_ex(ssl, buf, want, &k) != 1)
            return false;
        for (size_t i = 0; i < k; i++)
            if (buf[i] != pat(got + i))
                return false;
        got += k;
    }
    return true;
}

/* Asks for each phase with a line and reads what the server writes. */
static void *rec_client_main(void *arg)
{
    rec_job *j = arg;
    raw_client c = raw_open(j->port);
    SSL *ssl = c.ssl;
    char hi[3];
    size_t got = 0;
    if (ssl && SSL_set_min_proto_version(ssl, TLS1_3_VERSION) == 1) {
        SSL_set_msg_callback(ssl, on_msg);
        SSL_set_msg_callback_arg(ssl, j);
        /* the first echo brings the session tickets: records not counted */
        j->ok = SSL_connect(ssl) == 1 && SSL_write(ssl, "hi\n", 3) == 3 && SSL_read_ex(ssl, hi, 3, &got) == 1 &&
                got == 3;
        j->cur = &j->small;
        j->ok = j->ok && SSL_write(ssl, "s\n", 2) == 2 && read_pattern(ssl, SMALL_N * SMALL_LEN);
        j->cur = &j->med;
        j->ok = j->ok && SSL_write(ssl, "m\n", 2) == 2 && read_pattern(ssl, MED_N * MED_LEN);
        j->cur = &j->large;
        j->ok = j->ok && SSL_write(ssl, "l\n", 2) == 2 && read_pattern(ssl, LARGE);
        j->cur = NULL;
        SSL_shutdown(ssl);
    }
    raw_close(&c);
    return NULL;
}

/* Writes n bytes of the pattern in writes of chunk bytes, without
 * suspending. */
static int write_pattern(cio_stream *s, size_t n, size_t chunk)
{
    char buf[MED_LEN];
    char *big = chunk > sizeof buf ? malloc(chunk) : buf;
    int rc = big ? 0 : -ENOMEM;
    for (size_t off = 0; off < n && rc == 0; off += chunk) {
        for (size_t i = 0; i < chunk; i++)
            big[i] = (char)pat(off + i);
        rc = cio_stream_write(s, big, chunk);
    }
    if (big != buf)
        free(big);
    return rc;
}

/* Echoes the first line, then answers each phase's line with its writes,
 * and goes back to reading (the task suspends) without a drain. */
static void *phases_handler(cio_stream *s, void *arg)
{
    (void)arg;
    const char *data;
    size_t len;
    if (cio_stream_readline(s, &data, &len) == 0 && len == 3)
        CHECK_EQ(cio_stream_write(s, "hi\n", 3), 0);
    while (cio_stream_readline(s, &data, &len) == 0 && len == 2) {
        if (data[0] == 's')
            CHECK_EQ(write_pattern(s, SMALL_N * SMALL_LEN, SMALL_LEN), 0);
        else if (data[0] == 'm')
            CHECK_EQ(write_pattern(s, MED_N * MED_LEN, MED_LEN), 0);
        else
            CHECK_EQ(write_pattern(s, LARGE, LARGE), 0);
    }
    cio_stream_close(s);
    return NULL;
}

/* Small writes made before the task suspends leave as one record (ten
 * before: one per write); writes adding up to more than a record leave in
 * full-size records (16 KiB of plaintext, TLS's largest) and one record for
 * the rest, as does a large write: the bytes arrive complete and in order. */
static void *t_coalesced_records(void *arg)
{
    (void)arg;
    cio_server *srv = serve(phases_handler, NULL, &(cio_tls_opts){.cert_file = srv_pem, .key_file = srv_key});
    rec_job j = {.port = cio_server_port(srv)};
    CHECK_EQ(cio_to_thread(rec_client_main, &j, NULL), 0);
    CHECK_EQ(j.ok, 1);
    CHECK_EQ(j.small.n, 1);
    CHECK_EQ(j.small.len[0], SMALL_N * SMALL_LEN);
    CHECK_EQ(j.med.n, 3);
    CHECK_EQ(j.med.len[0], 16384);
    CHECK_EQ(j.med.len[1], 16384);
    CHECK_EQ(j.med.len[2], MED_N * MED_LEN - 2 * 16384);
    CHECK_EQ(j.large.n, LARGE / 16384 + 1);
    for (int i = 0; i < j.large.n - 1 && i < MAXREC; i++)
        CHECK_EQ(j.large.len[i], 16384);
    CHECK_EQ(j.large.len[j.large.n - 1], LARGE % 16384);
    server_done(srv);
    return NULL;
}

/* The context cache checks the certificate and key files once per
 * interval, not once per connection; with a zero interval every
 * connection checks them (and a renewed certificate is seen at once). */
static void *t_ctx_cache_stat_free(void *arg)
{
    (void)arg;
    srvside ss = {.fd = -1};
    cio_tls_opts so = {.cert_file = srv_pem, .key_file = srv_key}, co = {.ca_file = ca_pem};
    cio_server *srv = serve(echo_handler, &ss, &so);
    cio_stream *c;
    CHECK_EQ(dial(srv, &co, &c), 0); /* builds (or finds) both contexts */
    roundtrip(c, "warm\n");
    CHECK_EQ(cio_stream_close(c), 0);

    cio__tls_set_recheck(3600);
    unsigned long before = cio__tls_stat_calls();
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(dial(srv, &co, &c), 0);
        roundtrip(c, "cached\n");
        CHECK_EQ(cio_stream_close(c), 0);
    }
    CHECK_EQ(cio__tls_stat_calls() - before, 0);

    cio__tls_set_recheck(0);
    before = cio__tls_stat_calls();
    CHECK_EQ(dial(srv, &co, &c), 0);
    roundtrip(c, "checked\n");
    CHECK_EQ(cio_stream_close(c), 0);
    /* the server's certificate and key, the client's CA file */
    CHECK(cio__tls_stat_calls() - before >= 3);
    cio__tls_set_recheck(1.0);
    server_done(srv);
    return NULL;
}

/* ---- resumption: a blocking OpenSSL client in a thread -------------------------- */

typedef struct client_job {
    int port;
    SSL_SESSION *sess; /* in: the session to offer (or NULL); out: the new one */
    int reused;        /* out: 1 if the server resumed the session */
    int ok;
} client_job;

/* One connection: handshake (offering j->sess), one line echoed (which
 * brings the session tickets), a clean shutdown. */
static void *client_main(void *arg)
{
    client_job *j = arg;
    raw_client c = raw_open(j->port);
    SSL *ssl = c.ssl;
    char buf[64];
    size_t got = 0;
    if (ssl && (!j->sess || SSL_set_session(ssl, j->sess) == 1) &&
        SSL_connect(ssl) == 1 && SSL_write(ssl, "x\n", 2) == 2 && SSL_read_ex(ssl, buf, sizeof buf, &got) == 1 &&
        got == 2) {
        j->ok = 1;
        j->reused = SSL_session_reused(ssl);
        SSL_SESSION_free(j->sess);
        j->sess = SSL_get1_session(ssl);
        SSL_shutdown(ssl);
    }
    raw_close(&c);
    return NULL;
}

static void connect_from_thread(client_job *j)
{
    CHECK_EQ(cio_to_thread(client_main, j, NULL), 0);
    CHECK_EQ(j->ok, 1);
}

/* A second loop in a thread of its own serving the same options: what a
 * server with a loop per core looks like. */
typedef struct other_loop {
    atomic_int port;
    atomic_bool stop;
} other_loop;

static void *other_server_main(void *arg)
{
    other_loop *o = arg;
    srvside ss = {.fd = -1};
    cio_server *srv = serve(echo_handler, &ss, &(cio_tls_opts){.cert_file = srv_pem, .key_file = srv_key});
    atomic_store(&o->port, srv ? cio_server_port(srv) : -1);
    while (!atomic_load(&o->stop))
        cio_sleep(0.01);
    server_done(srv);
    return NULL;
}

static void *other_thread(void *arg)
{
    cio_run(other_server_main, arg, NULL);
    return NULL;
}

static void *t_resumption(void *arg)
{
    (void)arg;
    srvside ss = {.fd = -1};
    cio_server *srv = serve(echo_handler, &ss, &(cio_tls_opts){.cert_file = srv_pem, .key_file = srv_key});
    client_job j = {.port = cio_server_port(srv)};
    connect_from_thread(&j);
    CHECK_EQ(j.reused, 0);
    CHECK(j.sess != NULL);
    connect_from_thread(&j);
    CHECK_EQ(j.reused, 1); /* a ticket of this server */

    /* ... resumed by a server of the same options on another loop */
    other_loop o = {0};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, other_thread, &o), 0);
    while (atomic_load(&o.port) == 0)
        cio_sleep(0.01);
    CHECK(atomic_load(&o.port) > 0);
    j.port = atomic_load(&o.port);
    connect_from_thread(&j);
    CHECK_EQ(j.reused, 1);
    atomic_store(&o.stop, true);
    pthread_join(th, NULL);

    SSL_SESSION_free(j.sess);
    server_done(srv);
    return NULL;
}

int main(void)
{
    int skip = pki_make_or_skip("tlscost");
    if (skip)
        return skip;
    RUN_TASK_TEST(t_echo_syscalls);
    RUN_TASK_TEST(t_record_sizes);
    RUN_TASK_TEST(t_coalesced_records);
    RUN_TASK_TEST(t_ctx_cache_stat_free);
    RUN_TASK_TEST(t_resumption);
    pki_remove();
    return check_exit();
}
