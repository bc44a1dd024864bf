/* SPDX-License-Identifier: MIT */
/* The fixture of the HTTP server's tests (test_http_server.c,
 * test_http_server_limits.c): a server with a route for each behaviour
 * under test and a static tree (a scratch directory with files, symlinks in
 * and out, a TLS certificate when openssl is there); the raw client that
 * reads responses byte-exactly is http_exchange.h's.  Static functions:
 * each test program includes it once. */
#ifndef CIO_TESTS_HTTP_SERVER_FIXTURE_H
#define CIO_TESTS_HTTP_SERVER_FIXTURE_H

#include "../check.h"
#include "http/http.h"
#include "http_exchange.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- the server under test ------------------------------------------------ */

static char static_dir[256]; /* scratch tree for the static routes */
static char file_path[300];

static int h_root(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    return cio_http_response_text(res, 200, "root");
}

/* echoes the body, whole */
static int h_echo(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const char *d;
    size_t n;
    int rc = cio_http_request_body(req, &d, &n);
    if (rc < 0)
        return rc;
    char len[32];
    snprintf(len, sizeof len, "%zu", n);
    cio_http_response_header(res, "X-Len", len);
    cio_http_response_header(res, "Content-Type", "application/octet-stream");
    return cio_http_response_body(res, d, n);
}

/* echoes the body read in small pieces, as a chunked response */
static int h_echo_stream(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    char buf[7001];
    for (;;) {
        ssize_t n = cio_http_request_read(req, buf, sizeof buf);
        if (n < 0)
            return (int)n;
        if (n == 0)
            break;
        int rc = cio_http_response_write(res, buf, (size_t)n);
        if (rc < 0)
            return rc;
    }
    return cio_http_response_end(res);
}

static int h_user(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    char out[512];
    snprintf(out, sizeof out, "id=%s post=%s path=%s", cio_http_request_param(req, "id"),
             cio_http_request_param(req, "post"), cio_http_request_path(req));
    return cio_http_response_text(res, 200, out);
}

static int h_query(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const char *a = cio_http_request_query_value(req, "a"), *b = cio_http_request_query_value(req, "b");
    const char *cd = cio_http_request_query_value(req, "c d"), *f = cio_http_request_query_value(req, "flag");
    const char *m = cio_http_request_query_value(req, "missing");
    char out[512];
    snprintf(out, sizeof out, "a=%s b=%s cd=%s flag=[%s] missing=%s raw=%s", a ? a : "-", b ? b : "-",
             cd ? cd : "-", f ? f : "-", m ? m : "-", cio_http_request_query(req));
    return cio_http_response_text(res, 200, out);
}

static int h_headers(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const char *v = cio_http_request_header(req, "x-TEST");
    const char *name0, *v0;
    name0 = cio_http_request_header_at(req, 0, &v0);
    char out[512];
    snprintf(out, sizeof out, "x-test=[%s] n=%zu first=%s:%s v=%d cl=%lld method=%s target=%s", v ? v : "-",
             cio_http_request_nheaders(req), name0 ? name0 : "-", name0 ? v0 : "-", cio_http_request_version(req),
             (long long)cio_http_request_content_length(req), cio_http_request_method(req),
             cio_http_request_target(req));
    CHECK(cio_http_request_header_at(req, cio_http_request_nheaders(req), NULL) == NULL);
    CHECK(cio_http_request_stream(req) != NULL);
    return cio_http_response_text(res, 200, out);
}

/* three chunks, 0.2 s apart */
/* h_stream waits on stream_gate (when a test sets one) after its first
 * piece, so a test can see that piece while the handler is provably still
 * running; h_stream_done says it has returned. */
static cio_event *stream_gate;
static bool h_stream_done;
static int h_stream(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    h_stream_done = false;
    cio_http_response_header(res, "Content-Type", "text/plain");
    for (int i = 0; i < 3; i++) {
        char piece[32];
        snprintf(piece, sizeof piece, "piece %d;", i);
        int rc = cio_http_response_write(res, piece, strlen(piece));
        if (rc < 0)
            return rc;
        if (i == 0 && stream_gate && (rc = cio_event_wait(stream_gate)) < 0)
            return rc;
        if (i < 2 && (rc = cio_sleep(0.2)) < 0)
            return rc;
    }
    h_stream_done = true;
    return 0; /* the server ends the chunked body */
}

/* sleeps ?ms= milliseconds, then answers */
static int h_slow_started;  /* how many h_slow handlers have begun */
static int h_slow_finished; /* how many h_slow sleeps have ended */
static int h_slow(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    h_slow_started++;
    const char *ms = cio_http_request_query_value(req, "ms");
    int rc = cio_sleep((ms ? atoi(ms) : 100) / 1000.0);
    if (rc < 0)
        return rc;
    h_slow_finished++;
    return cio_http_response_text(res, 200, "slow done");
}

/* Waits (up to 5 s: a loaded machine is slow) until the h_slow handler
 * after the `before` already begun has started: the request is in it. */
static inline void wait_slow_started(int before)
{
    for (int i = 0; i < 500 && h_slow_started == before; i++)
        cio_sleep(0.01);
    CHECK_EQ(h_slow_started, before + 1);
}

static int h_fail(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)res;
    (void)arg;
    return -EIO;
}

static int h_inject(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    int r1 = cio_http_response_header(res, "X-A", "a\r\nSet-Cookie: evil=1");
    int r2 = cio_http_response_header(res, "Bad Name", "v");
    int r3 = cio_http_response_header(res, "Content-Length", "5");
    int r4 = cio_http_response_status(res, 99);
    int r5 = cio_http_response_header(res, "X-Ok", "fine\tvalue");
    char out[128];
    snprintf(out, sizeof out, "%d %d %d %d %d", r1, r2, r3, r4, r5);
    int rc = cio_http_response_text(res, 200, out);
    CHECK(cio_http_response_started(res));
    CHECK_EQ(cio_http_response_header(res, "X-Late", "1"), CIO_EINVALSTATE);
    CHECK_EQ(cio_http_response_body(res, "x", 1), CIO_EINVALSTATE);
    CHECK_EQ(cio_http_response_write(res, "x", 1), CIO_EINVALSTATE);
    return rc;
}

static int h_ignore(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    return cio_http_response_text(res, 200, "ignored");
}

static int h_file(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    int rc = cio_http_response_file(res, cio_http_request_query_value(req, "missing") ? "/nonexistent/x" : file_path);
    if (rc == -ENOENT)
        return cio_http_response_text(res, 404, "no file");
    return rc;
}

static int h_put(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    return cio_http_response_text(res, 201, "put");
}

static int h_any(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    return cio_http_response_text(res, 200, cio_http_request_method(req));
}

static cio_http_server *mk_server(const cio_http_server_opts *o, int *port)
{
    cio_http_server *srv = cio_http_server_new(o);
    CHECK(srv != NULL);
    CHECK_EQ(cio_http_server_route(srv, "GET", "/", h_root, NULL), 0);
    CHECK_EQ(cio_http_server_route(srv, "POST", "/echo", h_echo, NULL), 0);
    CHECK_EQ(cio_http_server_route(srv, "POST", "/echo-stream", h_echo_stream, NULL), 0);
    CHECK_EQ(cio_http_server_route(srv, "GET", "/users/{id}/posts/{post}", h_user, NULL), 0);
    CHECK_EQ(cio_http_server_route(srv, "GET", "/q", h_query, NULL), 0);
    CHECK_EQ(cio_http_server_route(srv, "GET", "/headers", h_headers, NULL), 0);
    CHECK_EQ(cio_http_server_route(srv, "POST", "/headers", h_headers, NULL), 0);
    CHECK_EQ(cio_http_server_route(srv, "GET", "/stream", h_stream, NULL), 0);
    CHECK_EQ(cio_http_server_route(srv, "GET", "/slow", h_slow, NULL), 0);
    CHECK_EQ(cio_http_server_route(srv, "GET", "/fail", h_fail, NULL), 0);
    CHECK_EQ(cio_http_server_route(srv, "GET", "/inject", h_inject, NULL), 0);
    CHECK_EQ(cio_http_server_route(srv, "POST", "/ignore", h_ignore, NULL), 0);
    CHECK_EQ(cio_http_server_route(srv, "GET", "/file", h_file, NULL), 0);
    CHECK_EQ(cio_http_server_route(srv, "PUT", "/only-put", h_put, NULL), 0);
    CHECK_EQ(cio_http_server_route(srv, "DELETE", "/only-put", h_put, NULL), 0);
    CHECK_EQ(cio_http_server_route(srv, NULL, "/any/{rest*}", h_any, NULL), 0);
    CHECK_EQ(cio_http_server_static(srv, "/static/", static_dir), 0);
    CHECK_EQ(cio_http_server_listen(srv, "127.0.0.1", "0"), 0);
    *port = cio_http_server_port(srv);
    CHECK(*port > 0);
    return srv;
}

static void end_server(cio_http_server *srv)
{
    CHECK_EQ(cio_http_server_shutdown(srv, 2.0), 0);
    CHECK_EQ(cio_http_server_connections(srv), 0);
    cio_http_server_free(srv);
}

static bool write_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* ---- scratch files --------------------------------------------------------- */

static char tls_cert[128], tls_key[128];
static bool have_tls;

static char scratch[64];

static void make_tree(void)
{
    snprintf(scratch, sizeof scratch, "http_server_XXXXXX");
    CHECK(mkdtemp(scratch) != NULL);
    char p[512];
    snprintf(static_dir, sizeof static_dir, "%s/www", scratch);
    CHECK_EQ(mkdir(static_dir, 0755), 0);
    snprintf(p, sizeof p, "%s/sub", static_dir);
    CHECK_EQ(mkdir(p, 0755), 0);
    snprintf(file_path, sizeof file_path, "%s/a.txt", static_dir);
    CHECK(write_file(file_path, "hello static\n", 13));
    snprintf(p, sizeof p, "%s/index.html", static_dir);
    CHECK(write_file(p, "<p>index</p>", 12));
    snprintf(p, sizeof p, "%s/sub/index.html", static_dir);
    CHECK(write_file(p, "<p>sub</p>", 10));
    char *big = malloc(500000);
    for (size_t i = 0; i < 500000; i++)
        big[i] = (char)(i % 251);
    snprintf(p, sizeof p, "%s/big.bin", static_dir);
    CHECK(write_file(p, big, 500000));
    free(big);
    snprintf(p, sizeof p, "%s/secret.txt", scratch);
    CHECK(write_file(p, "secret\n", 7));
    snprintf(p, sizeof p, "%s/escape", static_dir);
    CHECK_EQ(symlink("../secret.txt", p), 0);
    snprintf(p, sizeof p, "%s/link_in", static_dir);
    CHECK_EQ(symlink("a.txt", p), 0);
    snprintf(p, sizeof p, "%s/dirlink", static_dir);
    CHECK_EQ(symlink("sub", p), 0);
    snprintf(p, sizeof p, "%s/sub/up", static_dir);
    CHECK_EQ(symlink("../..", p), 0);
    snprintf(tls_cert, sizeof tls_cert, "%s/cert.pem", scratch);
    snprintf(tls_key, sizeof tls_key, "%s/key.pem", scratch);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout %s -out %s "
             "-days 2 -subj /CN=localhost >/dev/null 2>&1",
             tls_key, tls_cert);
    have_tls = system(cmd) == 0;
}

static void remove_tree(void)
{
    static const char *const files[] = {"www/a.txt", "www/index.html", "www/sub/index.html", "www/big.bin",
                                        "www/escape", "www/link_in", "www/dirlink", "www/sub/up", "secret.txt", "cert.pem", "key.pem"};
    char p[512];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", scratch, files[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/www/sub", scratch);
    rmdir(p);
    rmdir(static_dir);
    rmdir(scratch);
}

/* The test program's main: the scratch tree around run_all(), on the back
 * end CIO_BACKEND names (ctest runs NAME@poll and NAME@io_uring as well). */
static int fixture_main(void (*run_all)(void))
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test */
    make_tree();
    const char *be = getenv("CIO_BACKEND");
    fprintf(stderr, "-- back end %s\n", be ? be : "epoll");
    run_all();
    remove_tree();
    return check_exit();
}

#endif
