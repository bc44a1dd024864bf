/* SPDX-License-Identifier: MIT */
/* TLS streams (OpenSSL): handshakes and verification outcomes, ALPN,
 * half-close, start_tls, timeouts and cancellation, bulk transfer, and
 * coalesced writes when the stream ends or the writer is cancelled.
 *
 * Certificates are made at test time with the openssl command line in a
 * mkdtemp() directory: a CA, a server certificate for localhost/127.0.0.1
 * signed by it, an expired one, a self-signed one and one for another name.
 * Without the openssl tool the test is skipped (exit 77).  Everything runs
 * on 127.0.0.1. */
#include "check.h"
#include "lib/echo.h"
#include "lib/tls_conn.h"
#include "pki.h"

#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- certificates (tests/pki.h) ----------------------------------------- */

static char late_key[128]; /* a key file that appears after the server starts */

/* ---- helpers -------------------------------------------------------------- */

static bool streq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

/* What a server handler saw. */
typedef struct srvlog {
    int conns;
    char version[32];
    char alpn[32];
    int subj_rc;
    int rc;
    bool pipelined; /* start_tls handler: the client does not wait for "OK" */
} srvlog;

static void note(srvlog *lg, cio_stream *s)
{
    lg->conns++;
    const char *v = cio_stream_tls_version(s), *a = cio_stream_tls_alpn(s);
    snprintf(lg->version, sizeof lg->version, "%s", v ? v : "");
    snprintf(lg->alpn, sizeof lg->alpn, "%s", a ? a : "");
    char subj[128];
    lg->subj_rc = cio_stream_tls_peer_subject(s, subj, sizeof subj);
}

/* Echoes lines until EOF. */
static void *echo_handler(cio_stream *s, void *arg)
{
    if (arg)
        note(arg, s);
    echo_lines(s, NULL);
    cio_stream_close(s);
    return NULL;
}

/* Reads until the client goes, never answers. */
static void *silent_handler(cio_stream *s, void *arg)
{
    (void)arg;
    char *data = NULL;
    size_t len = 0;
    cio_stream_read_all(s, &data, &len);
    free(data);
    cio_stream_abort(s);
    return NULL;
}

/* ---- tests ---------------------------------------------------------------- */

static const char *const alpn_srv[] = {"http/1.1"};
static const char *const alpn_cli[] = {"h2", "http/1.1"};

static void *t_echo(void *arg)
{
    (void)arg;
    srvlog lg = {0};
    cio_tls_opts so = {.cert_file = srv_pem, .key_file = srv_key, .alpn = alpn_srv, .nalpn = 1};
    cio_server *srv = serve(echo_handler, &lg, &so);

    /* by address: the certificate's IP SAN */
    cio_tls_opts co = {.ca_file = ca_pem, .alpn = alpn_cli, .nalpn = 2};
    cio_stream *c;
    CHECK_EQ(dial(srv, &co, &c), 0);
    if (c) {
        roundtrip(c, "hello over tls\n");
        roundtrip(c, "and again\n");
        CHECK(streq(cio_stream_tls_version(c), "TLSv1.3"));
        CHECK(cio_stream_tls_cipher(c) != NULL);
        CHECK(streq(cio_stream_tls_alpn(c), "http/1.1"));
        char subj[256];
        CHECK_EQ(cio_stream_tls_peer_subject(c, subj, sizeof subj), 0);
        CHECK(strstr(subj, "CN=localhost") != NULL);
        CHECK(strstr(subj, "O=cio tests") != NULL);
        char tiny[4];
        CHECK_EQ(cio_stream_tls_peer_subject(c, tiny, sizeof tiny), 0);
        CHECK_EQ(strlen(tiny), 3);
        CHECK(cio_stream_can_write_eof(c));
        CHECK_EQ(cio_stream_close(c), 0);
    }
    CHECK_EQ(lg.conns, 1);
    CHECK(streq(lg.version, "TLSv1.3"));
    CHECK(streq(lg.alpn, "http/1.1"));
    CHECK_EQ(lg.subj_rc, -ENOENT); /* no client certificate */

    /* by name (SNI + DNS SAN) */
    co.server_hostname = "localhost";
    CHECK_EQ(dial(srv, &co, &c), 0);
    if (c) {
        roundtrip(c, "by name\n");
        CHECK_EQ(cio_stream_close(c), 0);
    }

    /* no protocol in common: no ALPN, still connected */
    static const char *const only_h2[] = {"h2"};
    cio_tls_opts co2 = {.ca_file = ca_pem, .alpn = only_h2, .nalpn = 1};
    CHECK_EQ(dial(srv, &co2, &c), 0);
    if (c) {
        CHECK(cio_stream_tls_alpn(c) == NULL);
        roundtrip(c, "no alpn\n");
        CHECK_EQ(cio_stream_close(c), 0);
    }
    /* bad ALPN lists */
    static const char *const empty[] = {""};
    cio_tls_opts co3 = {.ca_file = ca_pem, .alpn = empty, .nalpn = 1};
    CHECK_EQ(dial(srv, &co3, &c), -EINVAL);
    CHECK(c == NULL);
    server_done(srv);

    /* a plain stream has no TLS information */
    srv = serve(echo_handler, NULL, NULL);
    CHECK_EQ(dial(srv, NULL, &c), 0);
    if (c) {
        roundtrip(c, "plain\n");
        CHECK(cio_stream_tls_version(c) == NULL);
        CHECK(cio_stream_tls_cipher(c) == NULL);
        CHECK(cio_stream_tls_alpn(c) == NULL);
        char subj[64];
        CHECK_EQ(cio_stream_tls_peer_subject(c, subj, sizeof subj), -ENOENT);
        CHECK_EQ(cio_stream_close(c), 0);
    }
    server_done(srv);
    return NULL;
}

typedef struct vcase {
    const char *pem, *key;
    const char *server_hostname;
    bool use_ca;
    int want;
} vcase;

static void *t_verify(void *arg)
{
    (void)arg;
    const vcase cases[] = {
        {srv_pem, srv_key, NULL, false, CIO_ECERTUNTRUSTED}, /* system store: our CA is unknown */
        {exp_pem, exp_key, NULL, true, CIO_ECERTEXPIRED},
        {self_pem, self_key, NULL, true, CIO_ECERTUNTRUSTED},
        {wrong_pem, wrong_key, NULL, true, CIO_ECERTHOSTNAME},
        {wrong_pem, wrong_key, "other.example", true, 0}, /* server_hostname overrides the host */
        {srv_pem, srv_key, "bad.example", true, CIO_ECERTHOSTNAME},
        {srv_pem, srv_key, "LOCALHOST", true, 0},
        {srv_pem, srv_key, NULL, true, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const vcase *v = &cases[i];
        cio_tls_opts so = {.cert_file = v->pem, .key_file = v->key};
        cio_server *srv = serve(echo_handler, NULL, &so);
        for (int insecure = 0; insecure < 2; insecure++) {
            cio_tls_opts co = {.ca_file = v->use_ca ? ca_pem : NULL,
                               .server_hostname = v->server_hostname,
                               .insecure_no_verify = insecure};
            cio_stream *c = NULL;
            int rc = dial(srv, &co, &c);
            int want = insecure ? 0 : v->want;
            if (rc != want)
                fprintf(stderr, "case %zu insecure=%d: %d (%s), wanted %d\n", i, insecure, rc, cio_strerror(rc),
                        want);
            CHECK_EQ(rc, want);
            CHECK((rc == 0) == (c != NULL));
            if (c) {
                roundtrip(c, "verified?\n");
                CHECK_EQ(cio_stream_close(c), 0);
            }
        }
        server_done(srv);
    }

    /* a CA file that does not exist: a configuration error */
    cio_tls_opts so = {.cert_file = srv_pem, .key_file = srv_key};
    cio_server *srv = serve(echo_handler, NULL, &so);
    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.pem", pki_dir);
    cio_stream *c;
    CHECK_EQ(dial(srv, &(cio_tls_opts){.ca_file = missing}, &c), CIO_ETLS);
    CHECK(c == NULL);
    server_done(srv);
    return NULL;
}

/* A server whose key file is missing fails each handshake, goes on
 * accepting, and works as soon as the key appears. */
static void *t_bad_key(void *arg)
{
    (void)arg;
    srvlog lg = {0};
    cio_tls_opts so = {.cert_file = srv_pem, .key_file = late_key};
    cio_server *srv = serve(echo_handler, &lg, &so);
    cio_tls_opts co = {.ca_file = ca_pem};
    for (int i = 0; i < 3; i++) {
        cio_stream *c;
        int rc = dial(srv, &co, &c);
        CHECK(rc == -ECONNRESET || rc == -EPIPE);
        CHECK(c == NULL);
    }
    CHECK_EQ(lg.conns, 0);
    /* the key arrives */
    CHECK(link(srv_key, late_key) == 0);
    cio_stream *c;
    CHECK_EQ(dial(srv, &co, &c), 0);
    if (c) {
        roundtrip(c, "now it works\n");
        CHECK_EQ(cio_stream_close(c), 0);
    }
    CHECK_EQ(lg.conns, 1);
    unlink(late_key);
    server_done(srv);

    /* no certificate at all */
    srv = serve(echo_handler, &lg, &(cio_tls_opts){0});
    CHECK(dial(srv, &co, &c) < 0);
    server_done(srv);
    return NULL;
}

static void *t_timeout(void *arg)
{
    (void)arg;
    cio_server *srv = serve(silent_handler, NULL, NULL); /* plain: never answers the ClientHello */
    cio_tls_opts co = {.ca_file = ca_pem, .handshake_timeout = 0.2};
    double t0 = cio_time();
    cio_stream *c;
    CHECK_EQ(dial(srv, &co, &c), -ETIMEDOUT);
    double el = cio_time() - t0;
    CHECK(el >= 0.18); /* from below only: only the handshake timeout can end it (a silent peer) */
    CHECK(c == NULL);
    server_done(srv);
    return NULL;
}

typedef struct dialer {
    cio_server *srv;
    const cio_tls_opts *tls;
    int rc;
    cio_stream *c;
} dialer;

static void *dial_task(void *arg)
{
    dialer *d = arg;
    d->rc = dial(d->srv, d->tls, &d->c);
    return NULL;
}

static void *t_cancel(void *arg)
{
    (void)arg;
    /* client side: cancelled while waiting for the server's reply */
    cio_server *srv = serve(silent_handler, NULL, NULL);
    cio_tls_opts co = {.ca_file = ca_pem};
    dialer d = {.srv = srv, .tls = &co, .rc = 1};
    cio_task *t = cio_spawn(dial_task, &d);
    CHECK(t != NULL);
    CHECK_EQ(cio_sleep(0.1), 0);
    CHECK_EQ(d.rc, 1); /* still in the handshake */
    CHECK(cio_cancel(t, NULL));
    cio_wait(&t, 1, CIO_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL);
    CHECK_EQ(d.rc, -ECANCELED);
    CHECK(d.c == NULL);
    cio_release(t);
    server_done(srv);

    /* server side: a handshake in progress when the server is freed */
    cio_tls_opts so = {.cert_file = srv_pem, .key_file = srv_key};
    srv = serve(echo_handler, NULL, &so);
    cio_stream *c;
    CHECK_EQ(dial(srv, NULL, &c), 0); /* plain: sends no ClientHello */
    CHECK_EQ(cio_sleep(0.05), 0);
    CHECK_EQ(cio_server_active(srv), 1);
    cio_server_free(srv); /* cancels the connection task */
    CHECK_EQ(cio_sleep(0.05), 0);
    if (c) {
        char b[8];
        ssize_t r = cio_stream_read(c, b, sizeof b);
        CHECK(r == 0 || r == -ECONNRESET);
        cio_stream_abort(c);
    }
    return NULL;
}

/* Reads everything, then answers "pong:" + what came, then closes. */
static void *halfclose_handler(cio_stream *s, void *arg)
{
    srvlog *lg = arg;
    char *data = NULL;
    size_t len = 0;
    lg->rc = cio_stream_read_all(s, &data, &len);
    lg->conns++;
    if (lg->rc == 0) {
        cio_stream_write(s, "pong:", 5);
        cio_stream_write(s, data, len);
    }
    free(data);
    cio_stream_close(s);
    return NULL;
}

/* Writes a greeting, then half-closes, then echoes what comes until EOF. */
static void *server_eof_handler(cio_stream *s, void *arg)
{
    srvlog *lg = arg;
    cio_stream_write(s, "bye\n", 4);
    lg->rc = cio_stream_write_eof(s);
    char *data = NULL;
    size_t len = 0;
    if (cio_stream_read_all(s, &data, &len) == 0 && len == 6 && memcmp(data, "thanks", 6) == 0)
        lg->conns++;
    free(data);
    cio_stream_close(s);
    return NULL;
}

static void *t_half_close(void *arg)
{
    (void)arg;
    srvlog lg = {0};
    cio_tls_opts so = {.cert_file = srv_pem, .key_file = srv_key};
    cio_tls_opts co = {.ca_file = ca_pem};
    cio_server *srv = serve(halfclose_handler, &lg, &so);
    cio_stream *c;
    CHECK_EQ(dial(srv, &co, &c), 0);
    if (c) {
        CHECK_EQ(cio_stream_write(c, "ping", 4), 0);
        CHECK_EQ(cio_stream_write_eof(c), 0);
        CHECK_EQ(cio_stream_write_eof(c), 0);
        CHECK_EQ(cio_stream_write(c, "x", 1), -EINVAL);
        char *data = NULL;
        size_t len = 0;
        CHECK_EQ(cio_stream_read_all(c, &data, &len), 0);
        CHECK_EQ(len, 9);
        CHECK(data && len == 9 && memcmp(data, "pong:ping", 9) == 0);
        free(data);
        CHECK(cio_stream_at_eof(c));
        CHECK_EQ(cio_stream_close(c), 0);
    }
    server_done(srv);
    CHECK_EQ(lg.conns, 1);
    CHECK_EQ(lg.rc, 0);

    /* the other way round: the server half-closes first */
    srvlog lg2 = {0};
    srv = serve(server_eof_handler, &lg2, &so);
    CHECK_EQ(dial(srv, &co, &c), 0);
    if (c) {
        char *data = NULL;
        size_t len = 0;
        CHECK_EQ(cio_stream_read_all(c, &data, &len), 0);
        CHECK(data && len == 4 && memcmp(data, "bye\n", 4) == 0);
        free(data);
        CHECK_EQ(cio_stream_write(c, "thanks", 6), 0);
        CHECK_EQ(cio_stream_close(c), 0);
    }
    server_done(srv);
    CHECK_EQ(lg2.rc, 0);
    CHECK_EQ(lg2.conns, 1);
    return NULL;
}

/* Sends "partial", then ends TCP under TLS's feet (no close_notify). */
static void *truncating_handler(cio_stream *s, void *arg)
{
    (void)arg;
    cio_stream_write(s, "partial", 7);
    cio_stream_drain(s);
    shutdown(cio_stream_fd(s), SHUT_WR);
    char *data = NULL;
    size_t len = 0;
    cio_stream_read_all(s, &data, &len);
    free(data);
    cio_stream_abort(s);
    return NULL;
}

static void *t_truncated(void *arg)
{
    (void)arg;
    cio_tls_opts so = {.cert_file = srv_pem, .key_file = srv_key};
    cio_tls_opts co = {.ca_file = ca_pem};
    cio_server *srv = serve(truncating_handler, NULL, &so);
    cio_stream *c;
    CHECK_EQ(dial(srv, &co, &c), 0);
    if (c) {
        char buf[16];
        size_t got = 0;
        CHECK_EQ(cio_stream_readexactly(c, buf, 7, &got), 0);
        CHECK(memcmp(buf, "partial", 7) == 0);
        CHECK_EQ(cio_stream_read(c, buf, sizeof buf), -ECONNRESET);
        CHECK(!cio_stream_at_eof(c));
        cio_stream_close(c);
    }
    server_done(srv);
    return NULL;
}

/* STARTTLS: a plain line, "OK", then TLS on the same connection. */
static void *starttls_handler(cio_stream *s, void *arg)
{
    srvlog *lg = arg;
    static const cio_tls_opts so = {.cert_file = srv_pem, .key_file = srv_key};
    const char *data;
    size_t len;
    if (lg->pipelined)
        cio_sleep(0.1); /* let the ClientHello arrive behind the command */
    if (cio_stream_readline(s, &data, &len) < 0 || len != 9 || memcmp(data, "STARTTLS\n", 9) != 0) {
        lg->rc = -EPROTO;
        goto out;
    }
    if (!lg->pipelined && cio_stream_write(s, "OK\n", 3) < 0)
        goto out;
    lg->rc = cio_stream_start_tls(s, &so, true);
    if (lg->rc < 0)
        goto out;
    note(lg, s);
    if (cio_stream_readline(s, &data, &len) == 0 && len) {
        cio_stream_write(s, "got ", 4);
        cio_stream_write(s, data, len);
    }
out:
    cio_stream_close(s);
    return NULL;
}

static void *t_start_tls(void *arg)
{
    (void)arg;
    for (int pipelined = 0; pipelined < 2; pipelined++) {
        srvlog lg = {.pipelined = pipelined};
        cio_server *srv = serve(starttls_handler, &lg, NULL);
        cio_stream *c;
        CHECK_EQ(dial(srv, NULL, &c), 0);
        if (c) {
            CHECK_EQ(cio_stream_write(c, "STARTTLS\n", 9), 0);
            if (!pipelined) {
                const char *data;
                size_t len;
                CHECK_EQ(cio_stream_readline(c, &data, &len), 0);
                CHECK(len == 3 && memcmp(data, "OK\n", 3) == 0);
            }
            CHECK(cio_stream_tls_version(c) == NULL);
            /* no server_hostname: the peer's address is verified */
            cio_tls_opts co = {.ca_file = ca_pem};
            CHECK_EQ(cio_stream_start_tls(c, &co, false), 0);
            CHECK(streq(cio_stream_tls_version(c), "TLSv1.3"));
            CHECK_EQ(cio_stream_start_tls(c, &co, false), CIO_EINVALSTATE);
            CHECK_EQ(cio_stream_write(c, "secret\n", 7), 0);
            const char *data;
            size_t len;
            CHECK_EQ(cio_stream_readline(c, &data, &len), 0);
            CHECK(len == 11 && memcmp(data, "got secret\n", 11) == 0);
            CHECK_EQ(cio_stream_close(c), 0);
        }
        server_done(srv);
        CHECK_EQ(lg.rc, 0);
        CHECK_EQ(lg.conns, 1);
        CHECK(streq(lg.version, "TLSv1.3"));
    }

    /* a failed upgrade leaves a stream that can only be closed */
    srvlog lg = {0};
    cio_server *srv = serve(starttls_handler, &lg, NULL);
    cio_stream *c;
    CHECK_EQ(dial(srv, NULL, &c), 0);
    if (c) {
        CHECK_EQ(cio_stream_write(c, "STARTTLS\n", 9), 0);
        const char *data;
        size_t len;
        CHECK_EQ(cio_stream_readline(c, &data, &len), 0);
        cio_tls_opts co = {.ca_file = ca_pem, .server_hostname = "bad.example"};
        CHECK_EQ(cio_stream_start_tls(c, &co, false), CIO_ECERTHOSTNAME);
        CHECK(cio_stream_tls_version(c) == NULL);
        CHECK_EQ(cio_stream_write(c, "x\n", 2), CIO_ECERTHOSTNAME);
        char b[4];
        CHECK_EQ(cio_stream_read(c, b, sizeof b), CIO_ECERTHOSTNAME);
        cio_stream_close(c);
    }
    server_done(srv);
    CHECK(lg.rc < 0);
    return NULL;
}

/* Both ends made from a socketpair with cio_stream_from_fd. */
typedef struct fd_side {
    int fd;
    const cio_tls_opts *tls;
    bool server;
    int rc;
    char line[32];
} fd_side;

static void *fd_side_main(void *arg)
{
    fd_side *p = arg;
    cio_stream *s;
    p->rc = cio_stream_from_fd(p->fd, &(cio_stream_opts){.tls = p->tls}, p->server, &s);
    if (p->rc < 0)
        return NULL;
    if (p->server) {
        echo_handler(s, NULL);
        return NULL;
    }
    roundtrip(s, "over a socketpair\n");
    snprintf(p->line, sizeof p->line, "%s", cio_stream_tls_version(s) ? cio_stream_tls_version(s) : "");
    cio_stream_close(s);
    return NULL;
}

static void *t_from_fd(void *arg)
{
    (void)arg;
    cio_tls_opts so = {.cert_file = srv_pem, .key_file = srv_key};
    for (int named = 1; named >= 0; named--) {
        int sv[2];
        CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        /* no address to verify on a unix socket: the name must be given */
        cio_tls_opts co = {.ca_file = ca_pem, .server_hostname = named ? "localhost" : NULL};
        fd_side a = {.fd = sv[0], .tls = &so, .server = true}, b = {.fd = sv[1], .tls = &co};
        cio_task *ts[2] = {cio_spawn(fd_side_main, &a), cio_spawn(fd_side_main, &b)};
        cio_wait(ts, 2, CIO_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL);
        cio_release(ts[0]);
        cio_release(ts[1]);
        if (named) {
            CHECK_EQ(a.rc, 0);
            CHECK_EQ(b.rc, 0);
            CHECK(streq(b.line, "TLSv1.3"));
        } else {
            CHECK_EQ(b.rc, -EINVAL);
            CHECK_EQ(a.rc, -ECONNRESET); /* the client went away without a word */
        }
    }
    return NULL;
}

/* ---- bulk ------------------------------------------------------------------- */

#define BULK (8u << 20)

static inline uint8_t pat(size_t i) { return (uint8_t)(i ^ (i >> 8) ^ (i >> 16) ^ 0x5a); }

static void *bulk_echo_handler(cio_stream *s, void *arg)
{
    srvlog *lg = arg;
    char *buf = malloc(64 * 1024);
    size_t total = 0;
    for (;;) {
        ssize_t r = cio_stream_read(s, buf, 64 * 1024);
        if (r <= 0) {
            lg->rc = (int)r;
            break;
        }
        total += (size_t)r;
        if (cio_stream_write(s, buf, (size_t)r) < 0 || cio_stream_drain(s) < 0) {
            lg->rc = -EPIPE;
            break;
        }
    }
    lg->conns = total == BULK;
    free(buf);
    cio_stream_close(s);
    return NULL;
}

typedef struct bulk_writer {
    cio_stream *s;
    int rc;
} bulk_writer;

static void *bulk_write_main(void *arg)
{
    bulk_writer *w = arg;
    size_t chunk = 100 * 1000;
    char *buf = malloc(chunk);
    for (size_t off = 0; off < BULK && w->rc == 0; off += chunk) {
        size_t n = BULK - off < chunk ? BULK - off : chunk;
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)pat(off + i);
        if ((w->rc = cio_stream_write(w->s, buf, n)) == 0)
            w->rc = cio_stream_drain(w->s);
    }
    if (w->rc == 0)
        w->rc = cio_stream_write_eof(w->s);
    free(buf);
    return NULL;
}

static void *t_bulk(void *arg)
{
    (void)arg;
    srvlog lg = {0};
    cio_tls_opts so = {.cert_file = srv_pem, .key_file = srv_key};
    cio_tls_opts co = {.ca_file = ca_pem};
    cio_server *srv = serve(bulk_echo_handler, &lg, &so);
    cio_stream *c;
    CHECK_EQ(dial(srv, &co, &c), 0);
    if (c) {
        bulk_writer w = {.s = c};
        cio_task *t = cio_spawn(bulk_write_main, &w);
        char *buf = malloc(50 * 1000);
        size_t got = 0;
        bool same = true;
        for (;;) {
            /* odd sizes, and some reads large enough to bypass the buffer */
            size_t want = got % 3 == 0 ? 50 * 1000 : 777;
            ssize_t r = cio_stream_read(c, buf, want);
            if (r <= 0) {
                CHECK_EQ(r, 0);
                break;
            }
            for (ssize_t i = 0; i < r && same; i++)
                same = (uint8_t)buf[i] == pat(got + (size_t)i);
            got += (size_t)r;
        }
        free(buf);
        CHECK_EQ(got, BULK);
        CHECK(same);
        cio_wait(&t, 1, CIO_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL);
        cio_release(t);
        CHECK_EQ(w.rc, 0);
        CHECK_EQ(cio_stream_close(c), 0);
    }
    server_done(srv);
    CHECK_EQ(lg.rc, 0);
    CHECK_EQ(lg.conns, 1);
    return NULL;
}

/* ---- coalesced writes and the end of a stream --------------------------------- */

#define PIECES 10
#define PIECE 100

/* Piece i: a line of PIECE bytes. */
static void piece(char *buf, int i)
{
    memset(buf, 'a' + i, PIECE - 1);
    buf[PIECE - 1] = '\n';
}

static int write_pieces(cio_stream *s)
{
    char buf[PIECE];
    for (int i = 0; i < PIECES; i++) {
        piece(buf, i);
        int rc = cio_stream_write(s, buf, PIECE);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Reads the PIECES lines back and checks them. */
static void read_pieces(cio_stream *c)
{
    char want[PIECE], got[PIECES * PIECE];
    size_t n = 0;
    CHECK_EQ(cio_stream_readexactly(c, got, sizeof got, &n), 0);
    for (int i = 0; i < PIECES; i++) {
        piece(want, i);
        CHECK(memcmp(got + i * PIECE, want, PIECE) == 0);
    }
}

/* After the first line: writes the pieces, then ends the stream as arg
 * says at once ("close" or "abort"). */
static void *pieces_handler(cio_stream *s, void *arg)
{
    const char *data;
    size_t len;
    if (cio_stream_readline(s, &data, &len) < 0) {
        cio_stream_abort(s);
        return NULL;
    }
    CHECK_EQ(write_pieces(s), 0);
    if (strcmp(arg, "close") == 0)
        CHECK_EQ(cio_stream_close(s), 0);
    else
        cio_stream_abort(s);
    return NULL;
}

/* Writes still waiting to be coalesced when the stream is closed go out
 * before the close_notify; abort drops them, and the pass that would have
 * sent them finds the stream gone (ASan: no use after free). */
static void *t_write_then_close(void *arg)
{
    (void)arg;
    cio_tls_opts so = {.cert_file = srv_pem, .key_file = srv_key};
    cio_tls_opts co = {.ca_file = ca_pem};
    cio_server *srv = serve(pieces_handler, "close", &so);
    cio_stream *c;
    CHECK_EQ(dial(srv, &co, &c), 0);
    if (c) {
        CHECK_EQ(cio_stream_write(c, "go\n", 3), 0);
        read_pieces(c);
        char b[8];
        CHECK_EQ(cio_stream_read(c, b, sizeof b), 0); /* the close_notify, after every byte */
        CHECK_EQ(cio_stream_close(c), 0);
    }
    server_done(srv);

    srv = serve(pieces_handler, "abort", &so);
    CHECK_EQ(dial(srv, &co, &c), 0);
    if (c) {
        CHECK_EQ(cio_stream_write(c, "go\n", 3), 0);
        char b[PIECES * PIECE];
        ssize_t r = cio_stream_read(c, b, sizeof b);
        CHECK_EQ(r, -ECONNRESET); /* the pieces were dropped, not sent before the reset */
        cio_stream_abort(c);
    }
    server_done(srv);

    /* client side too: written, aborted, the pass still to come */
    srv = serve(silent_handler, NULL, &so);
    CHECK_EQ(dial(srv, &co, &c), 0);
    if (c) {
        CHECK_EQ(write_pieces(c), 0);
        CHECK_EQ(cio_stream_write_buffer_size(c), (size_t)PIECES * PIECE);
        cio_stream_abort(c);
        CHECK_EQ(cio_sleep(0), 0);
        CHECK_EQ(cio_sleep(0), 0);
    }
    server_done(srv);
    return NULL;
}

static void *pieces_then_sleep(void *arg)
{
    CHECK_EQ(write_pieces(arg), 0);
    int rc = cio_sleep(3600);
    CHECK_EQ(rc, -ECANCELED);
    return NULL;
}

/* A task cancelled after its writes, before they were sent: its bytes
 * still go out, whole and in order; the write buffer's size counts them
 * until then. */
static void *t_write_then_cancel(void *arg)
{
    (void)arg;
    cio_tls_opts so = {.cert_file = srv_pem, .key_file = srv_key};
    cio_tls_opts co = {.ca_file = ca_pem};
    cio_server *srv = serve(echo_handler, NULL, &so);
    cio_stream *c;
    CHECK_EQ(dial(srv, &co, &c), 0);
    if (c) {
        cio_task *t = cio_spawn(pieces_then_sleep, c);
        CHECK(t != NULL);
        CHECK_EQ(cio_sleep(0), 0); /* the writer runs: writes, parks */
        CHECK_EQ(cio_stream_write_buffer_size(c), (size_t)PIECES * PIECE);
        CHECK(cio_cancel(t, NULL));
        cio_wait(&t, 1, CIO_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL);
        cio_release(t);
        read_pieces(c);
        CHECK_EQ(cio_stream_write_buffer_size(c), 0);
        CHECK_EQ(cio_stream_close(c), 0);
    }
    server_done(srv);
    return NULL;
}

int main(void)
{
    int skip = pki_make_or_skip("tls");
    if (skip)
        return skip;
    snprintf(late_key, sizeof late_key, "%s/late.key", pki_dir);

    RUN_TASK_TEST(t_echo);
    RUN_TASK_TEST(t_verify);
    RUN_TASK_TEST(t_bad_key);
    RUN_TASK_TEST(t_timeout);
    RUN_TASK_TEST(t_cancel);
    RUN_TASK_TEST(t_half_close);
    RUN_TASK_TEST(t_truncated);
    RUN_TASK_TEST(t_start_tls);
    RUN_TASK_TEST(t_from_fd);
    RUN_TASK_TEST(t_bulk);
    RUN_TASK_TEST(t_write_then_close);
    RUN_TASK_TEST(t_write_then_cancel);

    pki_remove();
    return check_exit();
}
