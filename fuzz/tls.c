/* SPDX-License-Identifier: MIT */
/* Fuzz target: cio's TLS server stream (src/net/tls.c over OpenSSL) fed
 * hostile records.  A TLS server stream sits on one end of a socketpair;
 * the input's bytes arrive from the other end as the client's records,
 * then EOF.  The handshake and reads must end with data, EOF or a clear
 * error (CIO_ETLS, -ECONNRESET...), never crash, hang or leak.
 *
 * Input: byte 0 the mode (bit 0: a real cio TLS client completes the
 * handshake first, then the input is written raw on its socket, as records
 * after the handshake; bit 1: the server writes to the client before
 * reading), then the records.  The certificate is made at start-up with
 * the openssl tool (tests/pki.h: no key ships with the sources); without
 * it the target exits 77 (skipped). */
#include "../tests/pki.h"

#include <cio.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct fz {
    const uint8_t *recs;
    size_t len;
    int mode;
    int fds[2];
    cio_stream *client;
    int client_rc;
} fz;

static cio_tls_opts srv_opts, cli_opts;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (pki_make("fuzz-tls") <= 0) {
        fprintf(stderr, "tls: no test certificate (openssl tool missing?): skipped\n");
        exit(77);
    }
    atexit(pki_remove);
    srv_opts = (cio_tls_opts){.cert_file = srv_pem, .key_file = srv_key, .handshake_timeout = 5};
    cli_opts = (cio_tls_opts){.server_hostname = "localhost", .ca_file = ca_pem, .handshake_timeout = 5};
    return 0;
}

static void *client_main(void *arg)
{
    fz *f = arg;
    cio_stream_opts o = {.tls = &cli_opts};
    f->client_rc = cio_stream_from_fd(f->fds[1], &o, false, &f->client);
    return NULL;
}

/* The input, raw, on the client's socket, then EOF. */
static void send_records(fz *f, int fd)
{
    for (size_t off = 0; off < f->len;) {
        ssize_t k = write(fd, f->recs + off, f->len - off);
        if (k <= 0)
            break; /* the server hung up (or the socket buffer is full: enough) */
        off += (size_t)k;
    }
    shutdown(fd, SHUT_WR);
}

static void *fuzz_main(void *arg)
{
    fz *f = arg;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, f->fds) < 0)
        abort();
    cio_task *cli = NULL;
    if (f->mode & 1)
        cli = cio_spawn(client_main, f);
    else
        send_records(f, f->fds[1]);
    cio_stream_opts o = {.tls = &srv_opts};
    cio_stream *s = NULL;
    int rc = cio_stream_from_fd(f->fds[0], &o, true, &s);
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "tls: server handshake %d (%s)\n", rc, cio_strerror(rc));
    if (cli) {
        cio_await(cli, NULL);
        cio_release(cli);
        if (rc == 0 && f->client_rc != 0) {
            fprintf(stderr, "tls: the server's handshake passed, the client's failed (%d)\n", f->client_rc);
            abort();
        }
        if (f->client_rc == 0) /* (the client's from_fd owns fds[1], even on failure) */
            send_records(f, cio_stream_fd(f->client));
    }
    if (rc == 0) {
        if (f->mode & 2)
            cio_stream_write(s, "hello", 5);
        char buf[4096];
        ssize_t k;
        while ((k = cio_stream_read(s, buf, sizeof buf)) > 0) {
        }
        if (getenv("FUZZ_VERBOSE"))
            fprintf(stderr, "tls: read %zd (%s)\n", k, cio_strerror((int)k));
        if (k < 0 && k != CIO_ETLS && k != -ECONNRESET && k != -EPIPE) {
            fprintf(stderr, "tls: read ended with %zd (%s)\n", k, cio_strerror((int)k));
            abort();
        }
        cio_stream_close(s);
    } else if (rc != CIO_ETLS && rc != -ECONNRESET && rc != -EPIPE) {
        fprintf(stderr, "tls: handshake ended with %d (%s)\n", rc, cio_strerror(rc));
        abort();
    }
    if (f->client)
        cio_stream_abort(f->client);
    else if (!(f->mode & 1))
        close(f->fds[1]);
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fz f = {.recs = data + 1, .len = size - 1, .mode = data[0]};
    if (cio_run(fuzz_main, &f, NULL) != 0)
        abort();
    return 0;
}
