/* SPDX-License-Identifier: MIT */
/* Fuzz target: the HTTP server's request path (src/http/server.c and request.c, llhttp)
 * under hostile requests.  One connection over a socketpair, served by the
 * server's own per-connection entry (cio__http_conn_main: the real parsing,
 * routing, body reading and response code), in a fresh loop per input.  The
 * client side writes the input in pieces (their sizes drawn from the
 * input), then half-closes, while another task reads everything until the
 * server closes.  Handlers read the body whole, streamed or not at all,
 * look at parameters, query values and headers, stream chunked responses,
 * send a large body (from the caller's memory) and serve static files.
 * Every response must start with "HTTP/1.1 "; nothing may crash, hang or
 * leak.
 *
 * Input: byte 0 flags (bit 0: small limits: 512-byte head, 8 headers,
 * 1000-byte body; bits 1-7: the largest piece, 1 + b/2 bytes, or everything
 * at once when 0), byte 1 seeds the piece sizes, then the client's bytes
 * (pipelined requests welcome). */
#include <cio.h>

#include "http/http.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64]; /* the static files' directory */

static int h_echo(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const char *d;
    size_t n;
    int rc = cio_http_request_body(req, &d, &n);
    if (rc < 0)
        return rc;
    const char *again; /* a second call hands out the same body */
    size_t n2;
    if (cio_http_request_body(req, &again, &n2) < 0 || again != d || n2 != n)
        abort();
    return cio_http_response_body(res, d, n);
}

static int h_stream(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    char buf[7];
    for (;;) {
        ssize_t n = cio_http_request_read(req, buf, sizeof buf);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return cio_http_response_end(res);
        int rc = cio_http_response_write(res, buf, (size_t)n);
        if (rc < 0)
            return rc;
    }
}

static int h_info(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    size_t sum = strlen(cio_http_request_method(req)) + strlen(cio_http_request_target(req)) +
                 strlen(cio_http_request_path(req)) + strlen(cio_http_request_query(req));
    const char *p = cio_http_request_param(req, "a"), *q = cio_http_request_query_value(req, "x");
    sum += (p ? strlen(p) : 0) + (q ? strlen(q) : 0);
    for (size_t i = 0; i < cio_http_request_nheaders(req); i++) {
        const char *v, *name = cio_http_request_header_at(req, i, &v);
        sum += strlen(name) + strlen(v);
    }
    const char *host = cio_http_request_header(req, "host");
    sum += host ? strlen(host) : 0;
    char out[64];
    snprintf(out, sizeof out, "%zu %d %lld", sum, cio_http_request_version(req),
             (long long)cio_http_request_content_length(req));
    if (cio_http_request_header(req, "x-close"))
        cio_http_response_header(res, "Connection", "close");
    return cio_http_response_text(res, 200, out);
}

static int h_big(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    static char body[40000]; /* over COPY_MAX: written from here */
    return cio_http_response_body(res, body, sizeof body);
}

static int h_fail(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    char buf[16];
    if (cio_http_request_read(req, buf, sizeof buf) > 0) /* a streamed response cut short */
        cio_http_response_write(res, buf, 1);
    return -EIO;
}

static cio_http_server *make_server(bool small)
{
    cio_http_server_opts o = {.head_timeout = 2, .body_timeout = 2, .keepalive_timeout = 2, .write_timeout = 2};
    if (small) {
        o.max_head_size = 512;
        o.max_headers = 8;
        o.max_body_size = 1000;
    }
    cio_http_server *srv = cio_http_server_new(&o);
    if (!srv || cio_http_server_route(srv, "POST", "/echo", h_echo, NULL) < 0 ||
        cio_http_server_route(srv, "PUT", "/stream", h_stream, NULL) < 0 ||
        cio_http_server_route(srv, "GET", "/info/{a}/{rest*}", h_info, NULL) < 0 ||
        cio_http_server_route(srv, NULL, "/any", h_info, NULL) < 0 ||
        cio_http_server_route(srv, "GET", "/big", h_big, NULL) < 0 ||
        cio_http_server_route(srv, "POST", "/fail", h_fail, NULL) < 0 ||
        cio_http_server_static(srv, "/s", root) < 0)
        abort();
    return srv;
}

typedef struct fz {
    const uint8_t *data;
    size_t len, maxpiece;
    uint32_t rng;
    cio_stream *client;
    cio_http_server *srv;
    cio_stream *server_side;
} fz;

static void *serve_task(void *arg)
{
    fz *f = arg;
    return cio__http_conn_main(f->server_side, f->srv);
}

static void *write_task(void *arg)
{
    fz *f = arg;
    for (size_t off = 0; off < f->len;) {
        size_t k = f->len - off;
        if (f->maxpiece) {
            f->rng = f->rng * 1103515245u + 12345u;
            size_t want = 1 + (f->rng >> 16) % f->maxpiece;
            if (want < k)
                k = want;
        }
        if (cio_stream_write(f->client, f->data + off, k) < 0 || cio_stream_drain(f->client) < 0)
            return NULL; /* the server closed */
        off += k;
        if (cio_yield() < 0 || cio_yield() < 0) /* let the server parse this piece alone */
            return NULL;
    }
    cio_stream_write_eof(f->client);
    return NULL;
}

static void *main_task(void *arg)
{
    fz *f = arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    if (cio_stream_from_fd(sv[0], NULL, false, &f->server_side) < 0 ||
        cio_stream_from_fd(sv[1], NULL, false, &f->client) < 0)
        abort();
    cio_task *server = cio_spawn(serve_task, f), *writer = cio_spawn(write_task, f);
    /* everything the server says, until it closes */
    char buf[16384], first[9];
    size_t total = 0;
    ssize_t n;
    while ((n = cio_stream_read(f->client, buf, sizeof buf)) > 0) {
        if (total < sizeof first)
            memcpy(first + total, buf, (size_t)n < sizeof first - total ? (size_t)n : sizeof first - total);
        total += (size_t)n;
    }
    if (total >= sizeof first && memcmp(first, "HTTP/1.1 ", sizeof first))
        abort(); /* every answer is a status line */
    cio_await(writer, NULL);
    cio_await(server, NULL);
    cio_release(writer);
    cio_release(server);
    cio_stream_close(f->client);
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    fz f = {.data = data + 2, .len = size - 2, .maxpiece = data[0] >> 1, .rng = data[1]};
    cio_loop *l = cio_loop_new();
    if (!l)
        abort();
    cio_loop_set_current(l);
    f.srv = make_server(data[0] & 1);
    cio_task *t = cio_spawn_ex(l, main_task, &f, NULL);
    if (!t || cio_loop_run_until_complete(l, t, NULL) < 0)
        abort();
    cio_release(t);
    cio_http_server_free(f.srv);
    cio_loop_close(l);
    return 0;
}

static void remove_root(void)
{
    static const char *const names[] = {"sub/index.html", "sub", "a.txt", "up", "link"};
    char p[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", root, names[i]);
        remove(p);
    }
    rmdir(root);
}

static void put(const char *name, const char *text)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", root, name);
    FILE *fp = fopen(p, "w");
    if (!fp)
        abort();
    fputs(text, fp);
    fclose(fp);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    snprintf(root, sizeof root, "/tmp/cio_fuzz_http_XXXXXX");
    if (!mkdtemp(root))
        abort();
    char p[128];
    snprintf(p, sizeof p, "%s/sub", root);
    mkdir(p, 0755);
    put("a.txt", "static file\n");
    put("sub/index.html", "<p>index</p>");
    snprintf(p, sizeof p, "%s/up", root);
    if (symlink("..", p) < 0)
        abort();
    snprintf(p, sizeof p, "%s/link", root);
    if (symlink("a.txt", p) < 0)
        abort();
    atexit(remove_root);
    return 0;
}
