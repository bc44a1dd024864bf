/* SPDX-License-Identifier: MIT */
/* tls_server -- cio's side of bench/tls.sh: a TLS server on one loop.
 *
 *   -m echo   echoes what it reads (cio_stream_read of up to 64 KiB, write,
 *             drain), as examples/echo_server does over TLS
 *   -m http   GET / -> "Hello, World!" (text/plain), keep-alive, cio's
 *             HTTP server over TLS, as examples/http_hello does
 *
 * Certificate and key from -c/-k (PEM).  The cipher suite and group come
 * from OpenSSL's configuration (bench/tls.sh sets OPENSSL_CONF: TLS 1.3,
 * TLS_AES_128_GCM_SHA256, X25519), the same for every OpenSSL-based peer.
 * Prints "Serving on 127.0.0.1:PORT" and serves until SIGTERM.
 *
 * Usage: tls_server -p PORT -c CERT -k KEY [-m echo|http] */
#include <cio.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK 65536

static const char *port = "0", *mode = "echo";
static cio_tls_opts tls;

static void *handle_echo(cio_stream *s, void *arg)
{
    (void)arg;
    static char buf[CHUNK]; /* one loop, one reader at a time per call */
    for (;;) {
        ssize_t n = cio_stream_read(s, buf, CHUNK);
        if (n <= 0)
            break;
        if (cio_stream_write(s, buf, (size_t)n) < 0 || cio_stream_drain(s) < 0)
            break;
    }
    cio_stream_close(s);
    return NULL;
}

static const char hello_text[] = "Hello, World!";

static int hello(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    cio_http_response_header(res, "Content-Type", "text/plain");
    return cio_http_response_body(res, hello_text, sizeof hello_text - 1);
}

static cio_event *stop;

static void on_sigterm(void *arg)
{
    (void)arg;
    cio_event_set(stop);
}

static void *amain(void *arg)
{
    (void)arg;
    stop = cio_event_new();
    cio_loop *loop = cio_loop_current();
    cio_add_signal_handler(loop, SIGTERM, on_sigterm, NULL);
    int rc;
    if (strcmp(mode, "http") == 0) {
        cio_http_server_opts opts = {.server = {.tls = &tls}};
        cio_http_server *srv = cio_http_server_new(&opts);
        if (!srv)
            return cio_fail(-ENOMEM, "cannot create the server");
        rc = cio_http_server_route(srv, "GET", "/{tail*}", hello, NULL);
        if (rc == 0)
            rc = cio_http_server_listen(srv, "127.0.0.1", port);
        if (rc < 0) {
            cio_http_server_free(srv);
            return cio_fail(rc, "cannot listen");
        }
        printf("Serving on 127.0.0.1:%d\n", cio_http_server_port(srv));
        fflush(stdout);
        cio_event_wait(stop);
        cio_http_server_shutdown(srv, 1.0);
        cio_http_server_free(srv);
    } else {
        cio_server *srv;
        rc = cio_start_server(handle_echo, NULL, "127.0.0.1", port, &(cio_server_opts){.tls = &tls}, &srv);
        if (rc < 0)
            return cio_fail(rc, "cannot listen");
        printf("Serving on 127.0.0.1:%d\n", cio_server_port(srv));
        fflush(stdout);
        cio_event_wait(stop);
        cio_server_close(srv);
        cio_server_free(srv);
    }
    cio_remove_signal_handler(loop, SIGTERM);
    cio_event_free(stop);
    return NULL;
}

int main(int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, "p:c:k:m:")) != -1) {
        switch (c) {
        case 'p': port = optarg; break;
        case 'c': tls.cert_file = optarg; break;
        case 'k': tls.key_file = optarg; break;
        case 'm': mode = optarg; break;
        default:
            fprintf(stderr, "usage: tls_server -p PORT -c CERT -k KEY [-m echo|http]\n");
            return 2;
        }
    }
    if (!tls.cert_file) {
        fprintf(stderr, "tls_server: -c CERT is required\n");
        return 2;
    }
    return cio_run(amain, NULL, NULL) == 0 ? 0 : 1;
}
