/* SPDX-License-Identifier: MIT */
/* TLS transport over OpenSSL 3.
 *
 * A TLS stream keeps its SSL object in s->tls (a tls_state) and moves bytes
 * with SSL_read_ex / SSL_write_ex.  The SSL talks to the socket through a
 * small BIO of our own instead of OpenSSL's socket BIO, for four reasons:
 *   - it sends with MSG_NOSIGNAL, or cio__write_nosigpipe() for an fd that
 *     is not a socket (the socket BIO uses write(), which raises SIGPIPE on
 *     a connection the peer reset, and cio installs no handler);
 *   - bytes the stream had already read from the socket when start_tls()
 *     began (a ClientHello that arrived right behind a STARTTLS line) are
 *     fed to the TLS engine first, so they are neither lost nor, worse,
 *     handed to the application as if they had come inside TLS;
 *   - the errno of a failed socket call is kept, so that errors read as
 *     -ECONNRESET / -EPIPE rather than a vague SSL_ERROR_SYSCALL;
 *   - it saves system calls: a handshake step's records leave in one send,
 *     a TLS 1.3 server's session tickets with its first record after the
 *     handshake (bio_write_ex), and a read that follows one which emptied
 *     the socket waits for readiness instead of failing with EAGAIN (the
 *     handshake here, the stream's reads through s->drained, as the plain
 *     transport does).  An echo message costs one recv and one send, a
 *     full handshake three sends (flight; tickets with the first
 *     response; close_notify), as Go's does.
 *
 * End of stream.  A close_notify from the peer reads as EOF (0).  An EOF on
 * the socket without a close_notify (the peer, or something between us,
 * just closed TCP: the data may have been truncated) reads as -ECONNRESET,
 * during the handshake and afterwards: the connection was lost rather than
 * closed, which is what ECONNRESET says elsewhere in cio; CIO_ETLS is kept
 * for protocol failures (bad records, alerts, configuration).  Our own
 * half-close (write_eof) sends a close_notify and keeps reading; TLS 1.3 and
 * OpenSSL's TLS 1.2 both allow the peer to go on sending after it.
 *
 * Contexts (SSL_CTX) come from the process-wide cache of tls_ctx.c. */
#include "net/tls.h"
#include "net/net.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define DEFAULT_HANDSHAKE_TIMEOUT 60.0

typedef struct tls_state {
    SSL *ssl;
    int fd;
    bool is_sock;
    bool saw_eof;       /* the socket read returned 0 */
    bool short_read;    /* the last socket read returned less than asked (or nothing) */
    bool cork;          /* the handshake runs: socket writes are held back in out */
    bool shut_sent;     /* our close_notify is out */
    bool fatal;         /* a fatal error happened (no SSL_shutdown after that) */
    int err;            /* ... and its code */
    int sys_err;        /* errno of the last failed socket call, 0 if none */
    char *pre;          /* bytes read by the stream before TLS started */
    size_t pre_len, pre_off;
    char *out;          /* records held back (see bio_write_ex), out[0, out_len) */
    size_t out_len, out_cap;
    unsigned char *alpn; /* server: the protocols we accept, wire format */
    size_t alpn_len;
} tls_state;

static const cio__transport tls_transport;

/* ---- the socket BIO ----------------------------------------------------- */

/* One send of iov (the held-back records and the new one); the count, or
 * -1 with errno (EINTR retried). */
static ssize_t sock_sendv(tls_state *t, struct iovec *iov, int n)
{
    for (;;) {
        ssize_t w;
        if (!t->is_sock)
            w = n == 1 ? cio__write_nosigpipe(t->fd, iov[0].iov_base, iov[0].iov_len) : writev(t->fd, iov, n);
        else if (n == 1)
            w = send(t->fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
        else
            w = sendmsg(t->fd, &(struct msghdr){.msg_iov = iov, .msg_iovlen = (size_t)n}, MSG_NOSIGNAL);
        if (w >= 0 || errno != EINTR)
            return w;
    }
}

static int out_append(tls_state *t, const char *buf, size_t n)
{
    if (t->out_cap - t->out_len < n) {
        size_t cap = t->out_cap ? t->out_cap : 4096;
        while (cap - t->out_len < n)
            cap *= 2;
        char *nb = realloc(t->out, cap);
        if (!nb)
            return -ENOMEM;
        t->out = nb;
        t->out_cap = cap;
    }
    memcpy(t->out + t->out_len, buf, n);
    t->out_len += n;
    return 0;
}

/* Drops the first k held-back bytes; the buffer goes once it is empty
 * after the handshake (it only serves the handshake and the tickets: a
 * thousand idle connections do not keep a few KiB each). */
static void out_consume(tls_state *t, size_t k)
{
    if (k) {
        memmove(t->out, t->out + k, t->out_len - k);
        t->out_len -= k;
    }
    if (t->out_len == 0 && !t->cork) {
        free(t->out);
        t->out = NULL;
        t->out_cap = 0;
    }
}

/* Records go out in as few system calls as possible.  During the handshake
 * (cork) every record is held back and the handshake sends them at once
 * after each step (out_flush): OpenSSL flushes after each session ticket,
 * which would cost a send() per ticket.  A TLS 1.3 server keeps its
 * tickets held back after the handshake: they leave with the first record
 * written next (the first response, or the close_notify), in one sendmsg
 * with it.  A record that does not fit entirely is OpenSSL's to retry
 * (partial count or retry), as with any socket BIO; held-back bytes that
 * did not fit stay in out and go first at the retry. */
static int bio_write_ex(BIO *b, const char *buf, size_t n, size_t *done)
{
    tls_state *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    *done = 0;
    if (t->cork) {
        if (out_append(t, buf, n) < 0) {
            t->sys_err = ENOMEM;
            return 0;
        }
        *done = n;
        return 1;
    }
    struct iovec iov[2] = {{t->out, t->out_len}, {(void *)buf, n}};
    bool held = t->out_len > 0;
    ssize_t w = sock_sendv(t, held ? iov : iov + 1, held ? 2 : 1);
    if (w < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            BIO_set_retry_write(b);
        else
            t->sys_err = errno;
        return 0;
    }
    size_t k = (size_t)w;
    if (held) {
        size_t from_out = k < t->out_len ? k : t->out_len;
        out_consume(t, from_out);
        k -= from_out;
        if (t->out_len) { /* not even the held-back bytes went: retry the record later */
            BIO_set_retry_write(b);
            return 0;
        }
    }
    if (k == 0) { /* exactly the held-back bytes went */
        BIO_set_retry_write(b);
        return 0;
    }
    *done = k;
    return 1;
}

/* Sends the held-back records: 0 when none are left, CIO__WANT_WRITE, or
 * an error. */
static int out_flush(tls_state *t)
{
    while (t->out_len) {
        struct iovec iov = {t->out, t->out_len};
        ssize_t w = sock_sendv(t, &iov, 1);
        if (w < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? CIO__WANT_WRITE : -(t->sys_err = errno);
        out_consume(t, (size_t)w);
    }
    return 0;
}

static int bio_read_ex(BIO *b, char *buf, size_t n, size_t *done)
{
    tls_state *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    *done = 0;
    if (t->pre) {
        size_t k = t->pre_len - t->pre_off;
        if (k > n)
            k = n;
        memcpy(buf, t->pre + t->pre_off, k);
        t->pre_off += k;
        if (t->pre_off == t->pre_len) {
            free(t->pre);
            t->pre = NULL;
        }
        *done = k;
        return 1;
    }
    if (t->cork && t->short_read) {
        /* the handshake emptied the socket with its last read: it waits
         * for readiness before the next (see handshake), rather than make
         * a recv() that would almost surely fail with EAGAIN */
        BIO_set_retry_read(b);
        return 0;
    }
    for (;;) {
        ssize_t r = t->is_sock ? recv(t->fd, buf, n, 0) : read(t->fd, buf, n);
        t->short_read = r < (ssize_t)n;
        if (r > 0) {
            *done = (size_t)r;
            return 1;
        }
        if (r == 0) {
            t->saw_eof = true; /* reported through BIO_CTRL_EOF */
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            BIO_set_retry_read(b);
        else
            t->sys_err = errno;
        return 0;
    }
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    tls_state *t = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; /* held-back records go at the handshake's next step or with the next record */
    case BIO_CTRL_EOF:
        return t && t->saw_eof && !t->pre;
    default:
        return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static int bio_destroy(BIO *b)
{
    BIO_set_data(b, NULL);
    return 1;
}

static pthread_once_t bio_once = PTHREAD_ONCE_INIT;
static BIO_METHOD *bio_method;

static void bio_method_init(void)
{
    int type = BIO_get_new_index();
    if (type < 0)
        return;
    BIO_METHOD *m = BIO_meth_new(type | BIO_TYPE_SOURCE_SINK, "cio socket");
    if (!m)
        return;
    if (!BIO_meth_set_write_ex(m, bio_write_ex) || !BIO_meth_set_read_ex(m, bio_read_ex) ||
        !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create) ||
        !BIO_meth_set_destroy(m, bio_destroy)) {
        BIO_meth_free(m);
        return;
    }
    bio_method = m;
}

/* ---- ALPN --------------------------------------------------------------- */

/* The server's ALPN choice: the first of our protocols the client offers
 * (server preference, as OpenSSL's SSL_select_next_proto does).  No common
 * protocol: we go on without ALPN (as Python's ssl module does) rather than
 * failing with no_application_protocol; the client sees NULL. */
int cio__tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
    (void)arg;
    tls_state *t = SSL_get_app_data(ssl);
    if (!t || !t->alpn_len)
        return SSL_TLSEXT_ERR_NOACK;
    unsigned char *sel = NULL;
    unsigned char sellen = 0;
    if (SSL_select_next_proto(&sel, &sellen, t->alpn, (unsigned int)t->alpn_len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    *outlen = sellen;
    return SSL_TLSEXT_ERR_OK;
}

/* ---- errors ------------------------------------------------------------- */

/* A certificate verification result as cio's code. */
static int cert_error(long v)
{
    switch (v) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return CIO_ECERTEXPIRED;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
    case X509_V_ERR_EMAIL_MISMATCH:
        return CIO_ECERTHOSTNAME;
    default:
        /* self-signed, unknown issuer, untrusted root, bad chain, bad
         * signature, wrong purpose... */
        return CIO_ECERTUNTRUSTED;
    }
}

/* The code for a failed SSL call (SSL_get_error() gave e; not a want).
 * Marks the state fatal when OpenSSL's is.  Clears OpenSSL's error queue,
 * which is per thread and shared by every stream of the loop. */
static int ssl_failure(tls_state *t, int e, bool verifying)
{
    int rc;
    switch (e) {
    case SSL_ERROR_SYSCALL:
        /* errno, or an EOF that OpenSSL did not classify: see the top */
        rc = t->sys_err ? -t->sys_err : -ECONNRESET;
        break;
    case SSL_ERROR_SSL: {
        long v = verifying ? SSL_get_verify_result(t->ssl) : X509_V_OK;
        unsigned long le = ERR_peek_last_error();
        if (v != X509_V_OK)
            rc = cert_error(v);
        else if (ERR_GET_LIB(le) == ERR_LIB_SSL && ERR_GET_REASON(le) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
            rc = -ECONNRESET; /* EOF without close_notify */
        else if (t->sys_err)
            rc = -t->sys_err;
        else
            rc = CIO_ETLS;
        break;
    }
    default:
        rc = CIO_ETLS;
        break;
    }
    t->fatal = true;
    if (!t->err)
        t->err = rc;
    ERR_clear_error();
    return rc;
}

/* Before an SSL call.  SSL_get_error() reads the thread's error queue
 * first, so an entry left there would turn a plain "want read" into a
 * failure.  cio leaves the queue empty after each of its calls (every
 * failure path clears it), but other OpenSSL users on the same thread
 * (libcurl, a database connector) may not: peeking is cheaper than
 * clearing 16 slots on every record, and clears only when needed. */
static void ssl_enter(tls_state *t)
{
    if (ERR_peek_error() != 0)
        ERR_clear_error();
    t->sys_err = 0;
}

/* What an SSL call that returned r <= 0 means, the one mapping for every
 * call: a want code, closed for the peer's close_notify (the caller's
 * meaning: EOF for a read, -EPIPE for a write, a reset during the
 * handshake), or an error (ssl_failure). */
static int ssl_outcome(tls_state *t, int r, int closed, bool verifying)
{
    int e = SSL_get_error(t->ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        return CIO__WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return CIO__WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        return closed;
    default:
        return ssl_failure(t, e, verifying);
    }
}

/* ---- the transport ------------------------------------------------------ */

/* Whether the socket came back short at its last read and nothing read
 * is left, neither in OpenSSL nor in pre: a read now would find nothing. */
static bool emptied(tls_state *t) { return t->short_read && !t->pre && !SSL_has_pending(t->ssl); }

/* A read that finds nothing decrypted or buffered in OpenSSL, after the
 * socket came back short, asks the stream to wait for readiness first
 * (s->drained, as the plain transport does): the recv() it would make now
 * is almost surely an EAGAIN.  One recv per record then, not two. */
static ssize_t tls_recv(cio_stream *s, void *buf, size_t n)
{
    tls_state *t = s->tls;
    if (t->fatal)
        return t->err;
    size_t got = 0;
    ssl_enter(t);
    int r = SSL_read_ex(t->ssl, buf, n, &got);
    s->drained = emptied(t);
    if (r == 1)
        return (ssize_t)got;
    return ssl_outcome(t, r, 0, false);
}

static ssize_t tls_send(cio_stream *s, const void *buf, size_t n)
{
    tls_state *t = s->tls;
    if (t->fatal)
        return t->err;
    size_t done = 0;
    ssl_enter(t);
    int r = SSL_write_ex(t->ssl, buf, n, &done);
    if (r == 1)
        return (ssize_t)done;
    return ssl_outcome(t, r, -EPIPE, false);
}

/* Our close_notify (TLS's half-close); reading goes on. */
static int tls_shutdown(cio_stream *s)
{
    tls_state *t = s->tls;
    if (t->fatal)
        return t->err;
    if (t->shut_sent)
        return 0;
    ssl_enter(t);
    int r = SSL_shutdown(t->ssl); /* 0: sent; 1: sent, and the peer's came before */
    if (r >= 0) {
        t->shut_sent = true;
        return 0;
    }
    return ssl_outcome(t, r, -ECONNRESET, false);
}

static void state_free(tls_state *t)
{
    if (!t)
        return;
    SSL_free(t->ssl); /* and the BIO */
    free(t->pre);
    free(t->out);
    free(t->alpn);
    free(t);
}

static void tls_free(cio_stream *s)
{
    state_free(s->tls);
    s->tls = NULL;
}

static const cio__transport tls_transport = {"tls", tls_recv, tls_send, tls_shutdown, tls_free};

/* A stream whose handshake failed after bytes went over the wire: what is
 * left on the socket is neither plain data nor usable TLS, so every call
 * reports the handshake's error. */
static ssize_t dead_recv(cio_stream *s, void *buf, size_t n)
{
    (void)buf;
    (void)n;
    return s->err ? s->err : CIO_ETLS;
}

static ssize_t dead_send(cio_stream *s, const void *buf, size_t n)
{
    (void)buf;
    (void)n;
    return s->err ? s->err : CIO_ETLS;
}

static int dead_shutdown(cio_stream *s) { return s->err ? s->err : CIO_ETLS; }

static void dead_free(cio_stream *s) { (void)s; }

static const cio__transport dead_transport = {"tls (failed)", dead_recv, dead_send, dead_shutdown, dead_free};

/* ---- the handshake ------------------------------------------------------ */

/* Copies name into out, without IPv6 brackets and zone; true if it is an
 * IP address literal. */
static bool ip_literal(const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    if (n >= 2 && name[0] == '[' && name[n - 1] == ']') {
        name++;
        n -= 2;
    }
    if (n >= cap)
        return false;
    memcpy(out, name, n);
    out[n] = 0;
    char *pct = strchr(out, '%');
    if (pct)
        *pct = 0;
    unsigned char tmp[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, out, tmp) == 1 || inet_pton(AF_INET6, out, tmp) == 1;
}

/* The numeric address of the socket's peer (IPv4-mapped shown as IPv4). */
static int peer_ip(int fd, char *buf, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
        return -errno;
    if (ss.ss_family == AF_INET) {
        if (!inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf, (socklen_t)cap))
            return -errno;
        return 0;
    }
    if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        const void *p = a;
        int af = AF_INET6;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            p = &a->s6_addr[12];
            af = AF_INET;
        }
        if (!inet_ntop(af, p, buf, (socklen_t)cap))
            return -errno;
        return 0;
    }
    return -EAFNOSUPPORT;
}

/* SNI and the name the certificate must match (client side). */
static int set_peer_name(SSL *ssl, const char *name, bool verify)
{
    char ip[INET6_ADDRSTRLEN + 64];
    bool is_ip = ip_literal(name, ip, sizeof ip);
    /* no SNI for an address (RFC 6066 3) */
    if (!is_ip && SSL_set_tlsext_host_name(ssl, name) != 1)
        return -EINVAL;
    if (!verify)
        return 0;
    if (is_ip)
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip) == 1 ? 0 : -EINVAL;
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return SSL_set1_host(ssl, name) == 1 ? 0 : -EINVAL;
}

/* Sends the held-back records, waiting for the socket as needed. */
static int flush_held(cio_stream *s, tls_state *t)
{
    int rc;
    while ((rc = out_flush(t)) == CIO__WANT_WRITE)
        if ((rc = cio_wait_writable(s->fd)) < 0)
            return rc;
    return rc;
}

/* One step of the handshake: SSL_do_handshake, then what it wrote goes
 * out in one send (see bio_write_ex).  0 when done, a want code, or an
 * error. */
static int handshake_step(cio_stream *s, tls_state *t, bool verifying)
{
    ssl_enter(t);
    int r = SSL_do_handshake(t->ssl);
    int rc = r == 1 ? 0 : ssl_outcome(t, r, -ECONNRESET, verifying);
    if (rc < 0 && rc != CIO__WANT_READ && rc != CIO__WANT_WRITE) {
        (void)out_flush(t); /* our alert, if any: best effort */
        return rc;
    }
    /* a TLS 1.3 server's last step wrote only its session tickets: they
     * wait for the next record (the first response) */
    if (r == 1 && SSL_is_server(t->ssl) && SSL_version(t->ssl) == TLS1_3_VERSION)
        return 0;
    int f = flush_held(s, t);
    return f < 0 ? f : rc;
}

/* Runs the handshake to its end, waiting for the socket as OpenSSL asks,
 * within timeout seconds (< 0: none).  *started tells whether bytes may
 * have gone over the wire. */
static int handshake(cio_stream *s, tls_state *t, double timeout, bool verifying, bool *started)
{
    cio_timeout scope;
    int rc = cio_timeout_enter(&scope, timeout < 0 ? CIO_NO_TIMEOUT : timeout);
    if (rc < 0)
        return rc;
    t->cork = true;
    for (;;) {
        if (cio__stream_fd_closed(s)) {
            rc = -EBADF;
            break;
        }
        *started = true;
        rc = handshake_step(s, t, verifying);
        if (rc == CIO__WANT_READ) {
            rc = cio_wait_readable(s->fd);
            t->short_read = false; /* readable: the next read is worth a recv() */
        } else if (rc == CIO__WANT_WRITE) {
            rc = cio_wait_writable(s->fd);
        } else {
            break;
        }
        if (rc < 0)
            break;
    }
    t->cork = false;
    out_consume(t, 0); /* frees the buffer unless tickets wait in it */
    ERR_clear_error();
    return cio_timeout_exit(&scope, rc);
}

int cio__tls_start(cio_stream *s, const cio_tls_opts *opts, bool server_side, const char *host)
{
    if (!s || !opts)
        return -EINVAL;
    if (s->tls || s->tp != &cio__plain_transport)
        return CIO_EINVALSTATE;
    if (cio__stream_fd_closed(s))
        return -EBADF;
    if (s->err)
        return s->err;
    pthread_once(&bio_once, bio_method_init);
    if (!bio_method)
        return -ENOMEM;

    bool verify = !server_side && !opts->insecure_no_verify;
    /* the name for SNI and verification: server_hostname, else the host
     * connected to, else (start_tls, from_fd) the peer's address; a client
     * that verifies needs one (as Python's check_hostname does) */
    const char *name = NULL;
    char addr[INET6_ADDRSTRLEN];
    if (!server_side) {
        name = opts->server_hostname ? opts->server_hostname : host;
        if (!name && s->is_sock && peer_ip(s->fd, addr, sizeof addr) == 0)
            name = addr;
        if (name && !*name)
            return -EINVAL;
        if (!name && verify)
            return -EINVAL;
    }
    double timeout = opts->handshake_timeout;
    if (timeout == 0 || isnan(timeout))
        timeout = DEFAULT_HANDSHAKE_TIMEOUT;
    /* < 0: no limit */

    unsigned char *alpn = NULL;
    size_t alpn_len = 0;
    int rc = cio__tls_alpn_wire(opts, &alpn, &alpn_len);
    if (rc < 0)
        return rc;
    SSL_CTX *ctx = cio__tls_ctx_get(opts, server_side, alpn, alpn_len, &rc);
    if (!ctx) {
        free(alpn);
        return rc;
    }
    tls_state *t = calloc(1, sizeof *t);
    BIO *bio = NULL;
    if (!t || !(t->ssl = SSL_new(ctx)) || !(bio = BIO_new(bio_method))) {
        SSL_CTX_free(ctx);
        free(alpn);
        state_free(t);
        ERR_clear_error();
        return -ENOMEM;
    }
    SSL_CTX_free(ctx); /* the SSL holds its own reference */
    t->fd = s->fd;
    t->is_sock = s->is_sock;
    /* the first read waits for readiness: a client's hello has not gone
     * yet, and a server got the connection when TCP's handshake was done,
     * mostly before the ClientHello arrived (bytes the stream had read
     * already, in pre, are taken first) */
    t->short_read = true;
    BIO_set_data(bio, t);
    SSL_set_bio(t->ssl, bio, bio);
    SSL_set_app_data(t->ssl, t);
    if (server_side) {
        t->alpn = alpn;
        t->alpn_len = alpn_len;
        SSL_set_accept_state(t->ssl);
    } else {
        free(alpn);
        SSL_set_connect_state(t->ssl);
        if (name && (rc = set_peer_name(t->ssl, name, verify)) < 0) {
            state_free(t);
            ERR_clear_error();
            return rc;
        }
    }
    /* what the stream already read from the socket is TLS from now on */
    size_t old_rstart = s->rstart, old_rend = s->rend;
    if (s->rend > s->rstart) {
        t->pre_len = s->rend - s->rstart;
        if (!(t->pre = malloc(t->pre_len))) {
            state_free(t);
            return -ENOMEM;
        }
        memcpy(t->pre, s->rbuf + s->rstart, t->pre_len);
        s->rstart = s->rend = 0;
    }

    bool started = false;
    rc = handshake(s, t, timeout, verify, &started);
    if (rc < 0) {
        state_free(t);
        if (started) {
            /* the connection is unusable; the stream stays valid */
            if (!s->err)
                s->err = rc == -ECANCELED ? CIO_ETLS : rc;
            s->tp = &dead_transport;
        } else {
            /* nothing happened (not in a task): the bytes are the stream's again */
            s->rstart = old_rstart;
            s->rend = old_rend;
        }
        return rc;
    }
    const unsigned char *sel = NULL;
    unsigned int sellen = 0;
    SSL_get0_alpn_selected(t->ssl, &sel, &sellen);
    free(s->tls_alpn);
    s->tls_alpn = NULL;
    if (sellen && !(s->tls_alpn = strndup((const char *)sel, sellen))) {
        state_free(t);
        if (!s->err)
            s->err = -ENOMEM;
        s->tp = &dead_transport;
        return -ENOMEM;
    }
    s->tls = t;
    s->tp = &tls_transport;
    /* what came with the handshake's last read is in OpenSSL; if nothing
     * did, the first read waits for readiness (see tls_recv) */
    s->drained = emptied(t);
    return 0;
}

/* ---- extra info --------------------------------------------------------- */

static SSL *ssl_of(const cio_stream *s)
{
    if (!s || s->tp != &tls_transport || !s->tls)
        return NULL;
    return ((tls_state *)s->tls)->ssl;
}

const char *cio_stream_tls_version(const cio_stream *s)
{
    SSL *ssl = ssl_of(s);
    return ssl ? SSL_get_version(ssl) : NULL;
}

const char *cio_stream_tls_cipher(const cio_stream *s)
{
    SSL *ssl = ssl_of(s);
    return ssl ? SSL_get_cipher_name(ssl) : NULL;
}

const char *cio_stream_tls_alpn(const cio_stream *s) { return ssl_of(s) ? s->tls_alpn : NULL; }

/* The subject in RFC 2253 form ("CN=localhost,O=Example"), UTF-8, cut to
 * fit n bytes with its terminating NUL. */
int cio_stream_tls_peer_subject(const cio_stream *s, char *buf, size_t n)
{
    SSL *ssl = ssl_of(s);
    X509 *cert = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
    if (!cert)
        return -ENOENT;
    if (!buf || n == 0)
        return -EINVAL;
    BIO *m = BIO_new(BIO_s_mem());
    if (!m)
        return -ENOMEM;
    int rc = 0;
    if (X509_NAME_print_ex(m, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
        rc = CIO_ETLS;
    } else {
        char *p = NULL;
        long len = BIO_get_mem_data(m, &p);
        size_t k = len > 0 ? (size_t)len : 0;
        if (k > n - 1)
            k = n - 1;
        if (k)
            memcpy(buf, p, k);
        buf[k] = 0;
    }
    BIO_free(m);
    ERR_clear_error();
    return rc;
}
