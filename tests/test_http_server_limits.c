/* SPDX-License-Identifier: MIT */
/* The HTTP server under hostile input, and each of its limits at the
 * boundary (limit - 1 and limit accepted, limit + 1 refused with the
 * documented status, the connection closed):
 *
 *   head size (431, 414 for the request line), header count (431), body
 *   size by Content-Length and by chunks (413, a chunk declared too large
 *   refused before its bytes), the unread-body discard limit (64 KiB kept,
 *   more closes), path parameters per route (16); chunk-size lines with
 *   extensions or leading zeros (4 KiB, 400), framing that outweighs the
 *   data (400), endless extensions and trailers (answered at once, not
 *   after the body timeout), trailers counted with the head (431); the
 *   timeouts (slowloris head -> 408, slow body -> 408, idle keep-alive and
 *   silent connections closed, a client that does not read closed after
 *   write_timeout, with a bounded amount buffered for it meanwhile);
 *   request smuggling (CL+TE, duplicate / conflicting / malformed
 *   Content-Length, bare CR, obsolete line folding, bad chunk sizes, 16
 *   hex digits included, empty and invalid header names, bad values, bad
 *   Transfer-Encoding, missing Host) -> 400 and close; static files with
 *   openat2 and with the component walk that replaces it (ENOSYS, EPERM):
 *   symlinks in and out of the root, "..", symlinked directories.
 *
 * RUN_TASK_TEST checks that no task, timer, watched fd or fd is left; the
 * ASan build checks memory.
 *
 * Exit 0 = pass. */
/* CIO_TEST: TIMEOUT=300 */
#include "lib/http_server_fixture.h"

static void *t_limits(void *arg)
{
    (void)arg;
    cio_http_server_opts o = {.max_head_size = 1024, .max_headers = 10, .max_body_size = 1000};
    int port;
    cio_http_server *srv = mk_server(&o, &port);
    char *req = malloc(8192);
    /* request line over the head limit: 414 */
    char *p = req + sprintf(req, "GET /");
    memset(p, 'a', 2000);
    strcpy(p + 2000, " HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_status_close(port, req, 414);
    /* one header too large: 431 */
    p = req + sprintf(req, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(p, 'b', 2000);
    strcpy(p + 2000, "\r\n\r\n");
    expect_status_close(port, req, 431);
    /* too many headers: 431 */
    p = req + sprintf(req, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 12; i++)
        p += sprintf(p, "X-H%d: %d\r\n", i, i);
    strcpy(p, "\r\n");
    expect_status_close(port, req, 431);
    /* exactly at the count: fine */
    p = req + sprintf(req, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (int i = 0; i < 8; i++)
        p += sprintf(p, "X-H%d: %d\r\n", i, i);
    strcpy(p, "\r\n");
    expect_status_close(port, req, 200);
    /* body over the limit by Content-Length: 413 before any body is sent */
    expect_status_close(port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", 413);
    /* by chunks, read whole or streamed */
    for (int k = 0; k < 2; k++) {
        p = req + sprintf(req, "POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                          k ? "/echo-stream" : "/echo");
        for (int i = 0; i < 6; i++) {
            p += sprintf(p, "c8\r\n");
            memset(p, 'z', 200);
            p += 200;
            p += sprintf(p, "\r\n");
        }
        strcpy(p, "0\r\n\r\n");
        expect_status_close(port, req, 413);
    }
    /* just under the limit: fine */
    p = req + sprintf(req, "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1000\r\n\r\n");
    memset(p, 'y', 1000);
    p[1000] = '\0';
    expect_status_close(port, req, 200);
    free(req);
    end_server(srv);
    return NULL;
}

/* writes a header line every 0.1 s until the server gives up */
static void *trickle_task(void *arg)
{
    cio_stream *s = arg;
    for (int i = 0; i < 30; i++)
        if (cio_sleep(0.1) < 0 || send_str(s, "X-Slow: 1\r\n") < 0)
            break;
    return NULL;
}

static void *t_timeouts(void *arg)
{
    (void)arg;
    cio_http_server_opts o = {.head_timeout = 0.3, .body_timeout = 0.3, .keepalive_timeout = 0.3};
    int port;
    cio_http_server *srv = mk_server(&o, &port);
    resp r;
    /* slowloris: the head trickles in, a header line every 0.1 s: 408 */
    cio_stream *s = open_client(port);
    double t0 = cio_time();
    CHECK_EQ(send_str(s, "GET / HTTP/1.1\r\nHost: x\r\n"), 0);
    cio_task *tr = cio_spawn(trickle_task, s);
    CHECK_EQ(read_resp(s, &r), 0);
    CHECK_EQ(r.status, 408);
    double el = cio_time() - t0;
    CHECK(el >= 0.28); /* a lower bound only: a loaded machine is slower */
    CHECK(closed_within(s, 3.0));
    cio_cancel(tr, NULL);
    cio_await(tr, NULL);
    cio_release(tr);
    resp_free(&r);
    cio_stream_close(s);
    /* the body does not come: 408 */
    s = open_client(port);
    t0 = cio_time();
    CHECK_EQ(send_str(s, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"), 0);
    CHECK_EQ(read_resp(s, &r), 0);
    CHECK_EQ(r.status, 408);
    el = cio_time() - t0;
    CHECK(el >= 0.28); /* a lower bound only: a loaded machine is slower */
    CHECK(closed_within(s, 3.0));
    resp_free(&r);
    cio_stream_close(s);
    /* idle keep-alive: closed quietly */
    s = open_client(port);
    exchange(s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    CHECK_EQ(r.status, 200);
    resp_free(&r);
    t0 = cio_time();
    char buf[64];
    cio_timeout sc;
    cio_timeout_enter(&sc, 3.0);
    ssize_t n = cio_stream_read(s, buf, sizeof buf);
    n = cio_timeout_exit(&sc, (int)n);
    CHECK_EQ(n, 0); /* EOF, no bytes */
    el = cio_time() - t0;
    CHECK(el >= 0.25); /* a lower bound only: a loaded machine is slower */
    cio_stream_close(s);
    /* a connection that never sends anything */
    s = open_client(port);
    t0 = cio_time();
    CHECK(closed_within(s, 3.0));
    el = cio_time() - t0;
    CHECK(el >= 0.25); /* a lower bound only: a loaded machine is slower */
    cio_stream_close(s);
    CHECK_EQ(cio_http_server_connections(srv), 0);
    end_server(srv);
    return NULL;
}

static void *t_smuggling(void *arg)
{
    (void)arg;
    int port;
    cio_http_server *srv = mk_server(NULL, &port);
    static const struct {
        const char *what, *req;
        int status;
    } cases[] = {
        {"CL + TE", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
        {"TE + CL", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400},
        {"duplicate CL", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400},
        {"conflicting CL", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
        {"CL list", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc", 400},
        {"CL sign", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", 400},
        {"CL overflow", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
        {"bare CR in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400},
        {"bare CR line end", "GET / HTTP/1.1\rHost: x\r\n\r\n", 400},
        {"bare LF", "GET / HTTP/1.1\nHost: x\n\n", 400},
        {"obs-fold SP", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400},
        {"obs-fold HTAB", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n", 400},
        {"obs-fold empty", "GET / HTTP/1.1\r\nHost: x\r\nX-A:\r\n b\r\n\r\n", 400},
        {"bad chunk size", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400},
        {"negative chunk", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n", 400},
        {"chunk overflow", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nabc\r\n0\r\n\r\n", 400},
        {"chunk no CRLF", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX0\r\n\r\n", 400},
        {"TE not chunked", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc", 400},
        {"TE chunked, gzip", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400},
        {"TE not chunked, GET", "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\nabc", 400},
        {"CL + TE, GET", "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n0\r\n\r\n", 400},
        {"dup CL, GET", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nab", 400},
        {"TE twice", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
        {"space in name", "GET / HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n", 400},
        {"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400},
        {"control in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01z\r\n\r\n", 400},
        {"DEL in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fz\r\n\r\n", 400},
        {"NUL in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a", 400}, /* completed below with a NUL */
        {"leading space", "GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400},
        {"no Host", "GET / HTTP/1.1\r\n\r\n", 400},
        {"two Hosts", "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},
        {"bad method", "G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"space in target", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"bad version", "GET / HTTP/1.x\r\nHost: x\r\n\r\n", 400},
        {"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
        {"Expect unknown", "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_current = cases[i].what;
        if (!strcmp(cases[i].what, "NUL in value")) {
            cio_stream *s = open_client(port);
            static const char raw[] = "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0z\r\n\r\n";
            CHECK_EQ(cio_stream_write(s, raw, sizeof raw - 1), 0);
            resp r;
            CHECK_EQ(read_resp(s, &r), 0);
            CHECK_EQ(r.status, 400);
            CHECK(closed_within(s, 3.0));
            resp_free(&r);
            cio_stream_close(s);
            continue;
        }
        expect_status_close(port, cases[i].req, cases[i].status);
    }
    check_current = "t_smuggling";
    /* a smuggled request after a good one on the same connection: the good
     * one is answered, the bad one gets 400, nothing after it is served */
    cio_stream *s = open_client(port);
    CHECK_EQ(send_str(s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                         "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "0\r\n\r\nGET /fail HTTP/1.1\r\nHost: x\r\n\r\n"),
             0);
    resp r;
    CHECK_EQ(read_resp(s, &r), 0);
    CHECK_EQ(r.status, 200);
    resp_free(&r);
    CHECK_EQ(read_resp(s, &r), 0);
    CHECK_EQ(r.status, 400);
    resp_free(&r);
    CHECK(closed_within(s, 3.0));
    cio_stream_close(s);
    end_server(srv);
    return NULL;
}

/* ---- hostile input and limits at their boundaries -------------------------- */

/* Sends raw[0, n) on a new connection and returns the status of the one
 * response read back (or a negative code). */
static int status_of(int port, const char *raw, size_t n)
{
    cio_stream *s = open_client(port);
    int rc = cio_stream_write(s, raw, n);
    resp r;
    if (rc == 0)
        rc = read_resp(s, &r);
    if (rc == 0)
        rc = r.status;
    resp_free(&r);
    cio_stream_close(s);
    return rc;
}

/* A GET whose head is exactly size bytes (an X-Pad header fills it up). */
static size_t head_of_size(char *buf, size_t size)
{
    static const char pre[] = "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ";
    size_t pad = size - (sizeof pre - 1) - 4;
    memcpy(buf, pre, sizeof pre - 1);
    memset(buf + sizeof pre - 1, 'p', pad);
    memcpy(buf + size - 4, "\r\n\r\n", 5);
    return size;
}

/* A chunked POST /echo whose first chunk line (size, extension, CRLF) is
 * line bytes long; body "hello" then "!" on a normal line; the second
 * chunk's line may be padded as well. */
static size_t chunked_with_line(char *buf, size_t line, size_t line2)
{
    char *p = buf + sprintf(buf, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;e=");
    memset(p, 'a', line - 6);
    p += line - 6;
    p += sprintf(p, "\r\nhello\r\n1;f=");
    memset(p, 'b', line2 - 6);
    p += line2 - 6;
    p += sprintf(p, "\r\n!\r\n0\r\n\r\n");
    return (size_t)(p - buf);
}

static void *t_limit_head_size(void *arg)
{
    (void)arg;
    cio_http_server_opts o = {.max_head_size = 2048};
    int port;
    cio_http_server *srv = mk_server(&o, &port);
    char *req = malloc(8192);
    CHECK_EQ(status_of(port, req, head_of_size(req, 2047)), 200);
    CHECK_EQ(status_of(port, req, head_of_size(req, 2048)), 200);
    head_of_size(req, 2049);
    expect_status_close(port, req, 431);
    /* the request line alone over the limit: 414 */
    char *p = req + sprintf(req, "GET /");
    memset(p, 'a', 2048);
    strcpy(p + 2048, " HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_status_close(port, req, 414);
    free(req);
    end_server(srv);
    return NULL;
}

static void *t_limit_header_count(void *arg)
{
    (void)arg;
    cio_http_server_opts o = {.max_headers = 10};
    int port;
    cio_http_server *srv = mk_server(&o, &port);
    char req[1024];
    for (int n = 9; n <= 11; n++) { /* Host + n-1 others */
        char *p = req + sprintf(req, "GET / HTTP/1.1\r\nHost: x\r\n");
        for (int i = 1; i < n; i++)
            p += sprintf(p, "X-H%d: %d\r\n", i, i);
        strcpy(p, "\r\n");
        if (n <= 10)
            CHECK_EQ(status_of(port, req, strlen(req)), 200);
        else
            expect_status_close(port, req, 431);
    }
    end_server(srv);
    return NULL;
}

static void *t_limit_body(void *arg)
{
    (void)arg;
    cio_http_server_opts o = {.max_body_size = 1000};
    int port;
    cio_http_server *srv = mk_server(&o, &port);
    char *req = malloc(8192);
    for (size_t n = 999; n <= 1001; n++) {
        /* by Content-Length (refused before the body is read) */
        char *p = req + sprintf(req, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", n);
        memset(p, 'y', n);
        p[n] = '\0';
        if (n <= 1000)
            CHECK_EQ(status_of(port, req, strlen(req)), 200);
        else
            expect_status_close(port, req, 413);
        /* chunked, in two chunks */
        p = req + sprintf(req, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1f4\r\n");
        memset(p, 'z', 500);
        p += 500;
        p += sprintf(p, "\r\n%zx\r\n", n - 500);
        memset(p, 'z', n - 500);
        p += n - 500;
        strcpy(p, "\r\n0\r\n\r\n");
        if (n <= 1000)
            CHECK_EQ(status_of(port, req, strlen(req)), 200);
        else
            expect_status_close(port, req, 413);
    }
    /* a body the handler does not read: up to 64 KiB is dropped and the
     * connection kept, beyond that the connection closes after the answer */
    end_server(srv);
    srv = mk_server(NULL, &port);
    char *big = malloc(70000);
    for (size_t n = 65535; n <= 65537; n++) {
        cio_stream *s = open_client(port);
        char head[128];
        snprintf(head, sizeof head, "POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", n);
        memset(big, 'd', n);
        CHECK_EQ(send_str(s, head), 0);
        CHECK_EQ(cio_stream_write(s, big, n), 0);
        resp r;
        CHECK_EQ(read_resp(s, &r), 0);
        CHECK_EQ(r.status, 200);
        char v[64];
        bool closes = resp_header(&r, "Connection", v, sizeof v) && !strcmp(v, "close");
        CHECK_EQ(closes, n > 65536);
        resp_free(&r);
        if (!closes) {
            exchange(s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r);
            CHECK(r.status == 200 && !strcmp(r.body, "root"));
            resp_free(&r);
        } else {
            CHECK(closed_within(s, 3.0));
        }
        cio_stream_close(s);
    }
    free(big);
    /* a chunk declared larger than the limit: 413 at once, without waiting
     * for its bytes */
    expect_status_close(port, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\nab",
                        413);
    free(req);
    end_server(srv);
    return NULL;
}

static void *t_chunk_line(void *arg)
{
    (void)arg;
    int port;
    cio_http_server *srv = mk_server(NULL, &port);
    char *req = malloc(64 * 1024);
    resp r;
    /* the chunk-size line with its extensions, CRLF included: 4096 bytes
     * at most, for the first chunk and a later one */
    for (size_t line = 4095; line <= 4097; line++) {
        for (int which = 0; which < 2; which++) {
            size_t n = chunked_with_line(req, which ? 8 : line, which ? line : 8);
            req[n] = '\0';
            if (line <= 4096) {
                cio_stream *s = open_client(port);
                CHECK_EQ(cio_stream_write(s, req, n), 0);
                CHECK_EQ(read_resp(s, &r), 0);
                CHECK(r.status == 200 && r.blen == 6 && !memcmp(r.body, "hello!", 6));
                resp_free(&r);
                cio_stream_close(s);
            } else {
                expect_status_close(port, req, 400);
            }
        }
    }
    /* framing may not outweigh the data: 1-byte chunks with short lines
     * are fine, with 4 KiB lines 16 KiB of excess is the most (the 5th) */
    char *p = req + sprintf(req, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3000; i++)
        p += sprintf(p, "1\r\n%c\r\n", 'a' + i % 26);
    strcpy(p, "0\r\n\r\n");
    cio_stream *s = open_client(port);
    CHECK_EQ(send_str(s, req), 0);
    CHECK_EQ(read_resp(s, &r), 0);
    CHECK(r.status == 200 && r.blen == 3000 && r.body[2999] == 'a' + 2999 % 26);
    resp_free(&r);
    cio_stream_close(s);
    for (int chunks = 4; chunks <= 5; chunks++) {
        p = req + sprintf(req, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (int i = 0; i < chunks; i++) {
            p += sprintf(p, "1;e=");
            memset(p, 'x', 4090); /* a 4096-byte line */
            p += 4090;
            p += sprintf(p, "\r\nz\r\n");
        }
        strcpy(p, "0\r\n\r\n");
        if (chunks == 4)
            CHECK_EQ(status_of(port, req, strlen(req)), 200);
        else
            expect_status_close(port, req, 400);
    }
    /* leading zeros count too */
    p = req + sprintf(req, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    memset(p, '0', 5000);
    strcpy(p + 5000, "5\r\nhello\r\n0\r\n\r\n");
    expect_status_close(port, req, 400);
    free(req);
    end_server(srv);
    return NULL;
}

/* sends an endless chunk extension until the server stops taking it */
static void *endless_ext_task(void *arg)
{
    cio_stream *s = arg;
    char *junk = malloc(64 * 1024);
    memset(junk, 'x', 64 * 1024);
    size_t sent = 0;
    while (sent < (64u << 20) && cio_stream_write(s, junk, 64 * 1024) == 0 && cio_stream_drain(s) == 0)
        sent += 64 * 1024;
    free(junk);
    return NULL;
}

static void *t_chunk_ext_flood(void *arg)
{
    (void)arg;
    int port;
    cio_http_server *srv = mk_server(NULL, &port);
    cio_stream *s = open_client(port);
    CHECK_EQ(send_str(s, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;name="), 0);
    cio_task *w = cio_spawn(endless_ext_task, s);
    resp r;
    CHECK_EQ(read_resp(s, &r), 0); /* at once, not after the 30 s body timeout */
    CHECK_EQ(r.status, 400);
    resp_free(&r);
    CHECK(closed_within(s, 5.0));
    CHECK_EQ(cio_await(w, NULL), 0);
    cio_release(w);
    cio_stream_close(s);
    /* the same with trailers: an endless trailer value */
    s = open_client(port);
    CHECK_EQ(send_str(s, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: "), 0);
    w = cio_spawn(endless_ext_task, s);
    CHECK_EQ(read_resp(s, &r), 0);
    CHECK_EQ(r.status, 431);
    resp_free(&r);
    CHECK(closed_within(s, 5.0));
    CHECK_EQ(cio_await(w, NULL), 0);
    cio_release(w);
    cio_stream_close(s);
    end_server(srv);
    return NULL;
}

static void *t_limit_trailers(void *arg)
{
    (void)arg;
    cio_http_server_opts o = {.max_head_size = 1024, .max_headers = 10};
    int port;
    cio_http_server *srv = mk_server(&o, &port);
    char *req = malloc(8192);
    static const char head[] = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n";
    /* trailer lines count with the header lines: 2 + 8 = 10 */
    for (int n = 7; n <= 9; n++) {
        char *p = req + sprintf(req, "%s", head);
        for (int i = 0; i < n; i++)
            p += sprintf(p, "X-T%d: %d\r\n", i, i);
        strcpy(p, "\r\n");
        if (n <= 8)
            CHECK_EQ(status_of(port, req, strlen(req)), 200);
        else
            expect_status_close(port, req, 431);
    }
    /* trailer bytes count with the head's: head (58) + trailers <= 1024 */
    size_t head_len = strlen("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (size_t total = 1023; total <= 1025; total++) {
        size_t tl = total - head_len; /* "X-P: ...\r\n\r\n" */
        char *p = req + sprintf(req, "%sX-P: ", head);
        memset(p, 'q', tl - 9);
        strcpy(p + tl - 9, "\r\n\r\n");
        if (total <= 1024)
            CHECK_EQ(status_of(port, req, strlen(req)), 200);
        else
            expect_status_close(port, req, 431);
    }
    free(req);
    end_server(srv);
    return NULL;
}

static void *t_bad_header_names(void *arg)
{
    (void)arg;
    int port;
    cio_http_server *srv = mk_server(NULL, &port);
    expect_status_close(port, "GET / HTTP/1.1\r\n: a\r\nHost: x\r\n\r\n", 400);
    expect_status_close(port, "GET / HTTP/1.1\r\nHost: x\r\n: a\r\n\r\n", 400);
    expect_status_close(port, "GET / HTTP/1.1\r\nHost: x\r\n:\r\n\r\n", 400);
    expect_status_close(port, "GET / HTTP/1.1\r\nHost: x\r\nX(y): a\r\n\r\n", 400);
    /* in the trailers too */
    expect_status_close(port, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n: a\r\n\r\n", 400);
    /* chunk sizes of 16 hex digits or more */
    expect_status_close(port, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nab", 400);
    expect_status_close(port, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n8000000000000000\r\nab", 400);
    end_server(srv);
    return NULL;
}

/* ---- static files without openat2 ------------------------------------------ */

static int get_status(cio_stream *s, const char *path, char *body, size_t n)
{
    char req[512];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    resp r;
    exchange(s, req, &r);
    snprintf(body, n, "%s", r.body ? r.body : "");
    resp_free(&r);
    return r.status;
}

/* Every mode of the path resolution: openat2, and the component walk that
 * replaces it where openat2 answers ENOSYS (old kernels) or EPERM (seccomp). */
static void *t_static_no_openat2(void *arg)
{
    (void)arg;
    /* openat2 first: an ENOSYS is remembered for the rest of the process */
    static const int modes[] = {0, ENOSYS, EPERM};
    int port;
    cio_http_server *srv = mk_server(NULL, &port);
    cio_stream *s = open_client(port);
    char body[256];
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        cio__http_test_openat2_errno = modes[m];
        bool walk = modes[m] != 0;
        CHECK_EQ(get_status(s, "/static/a.txt", body, sizeof body), 200);
        CHECK(!strcmp(body, "hello static\n"));
        CHECK_EQ(get_status(s, "/static/sub/", body, sizeof body), 200);
        CHECK(!strcmp(body, "<p>sub</p>"));
        CHECK_EQ(get_status(s, "/static/sub", body, sizeof body), 200);
        CHECK_EQ(get_status(s, "/static/sub/index.html", body, sizeof body), 200);
        /* symlinks out of the root: the last component, an intermediate one */
        CHECK_EQ(get_status(s, "/static/escape", body, sizeof body), 403);
        CHECK(strstr(body, "secret") == NULL);
        CHECK_EQ(get_status(s, "/static/sub/up/secret.txt", body, sizeof body), 403);
        CHECK(strstr(body, "secret") == NULL);
        CHECK_EQ(get_status(s, "/static/sub/up/www/a.txt", body, sizeof body), 403);
        CHECK_EQ(get_status(s, "/static/sub/../../secret.txt", body, sizeof body), 403);
        /* symlinks that stay inside: followed by openat2, refused by the walk */
        CHECK_EQ(get_status(s, "/static/link_in", body, sizeof body), walk ? 403 : 200);
        CHECK_EQ(get_status(s, "/static/dirlink/index.html", body, sizeof body), walk ? 403 : 200);
        CHECK_EQ(get_status(s, "/static/nope/a.txt", body, sizeof body), 404);
        CHECK_EQ(get_status(s, "/static/a.txt/x", body, sizeof body), 404);
        /* the resolver itself: ".." components never resolve */
        int dfd = open(static_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        CHECK(dfd >= 0);
        int fd = cio__open_beneath(dfd, "../secret.txt");
        CHECK(fd < 0);
        if (fd >= 0)
            close(fd);
        fd = cio__open_beneath(dfd, "sub/../../secret.txt");
        CHECK(fd < 0);
        if (fd >= 0)
            close(fd);
        fd = cio__open_beneath(dfd, "sub//./index.html");
        CHECK(fd >= 0);
        if (fd >= 0)
            close(fd);
        close(dfd);
    }
    cio__http_test_openat2_errno = 0;
    cio_stream_close(s);
    end_server(srv);
    return NULL;
}

/* ---- a large body for a client that does not read -------------------------- */

#define BIG_BODY (16u << 20)
static char *big_body;
static cio_stream *big_stream; /* the server's side, while /big is answered */

static int h_big(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    int sndbuf = 64 * 1024; /* the kernel takes little: the rest waits in user space */
    setsockopt(cio_stream_fd(cio_http_request_stream(req)), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    big_stream = cio_http_request_stream(req);
    int rc = cio_http_response_body(res, big_body, BIG_BODY);
    big_stream = NULL;
    return rc;
}

/* A client socket with a small receive buffer, pinned before connecting. */
static cio_stream *open_small_client(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    int rcvbuf = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ(cio_sock_connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    cio_stream *s = NULL;
    CHECK_EQ(cio_stream_from_fd(fd, NULL, false, &s), 0);
    return s;
}

static void *t_slow_reader(void *arg)
{
    (void)arg;
    big_body = malloc(BIG_BODY);
    for (size_t i = 0; i < BIG_BODY; i++)
        big_body[i] = (char)(i % 253);
    int port;
    cio_http_server *srv = mk_server(NULL, &port);
    CHECK_EQ(cio_http_server_route(srv, "GET", "/big", h_big, NULL), 0);
    cio_stream *s = open_small_client(port);
    CHECK_EQ(send_str(s, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    /* while the client reads nothing, the server holds back a bounded
     * amount, not a copy of the body */
    size_t most = 0;
    for (int i = 0; i < 30; i++) {
        cio_sleep(0.01);
        if (big_stream && cio_stream_write_buffer_size(big_stream) > most)
            most = cio_stream_write_buffer_size(big_stream);
    }
    CHECK(big_stream != NULL); /* still sending */
    CHECK(most <= 1024 * 1024);
    if (most > 1024 * 1024)
        fprintf(stderr, "  %zu bytes buffered for one slow reader\n", most);
    resp r;
    CHECK_EQ(read_resp_ex(s, &r, false, 30.0), 0);
    CHECK_EQ(r.status, 200);
    CHECK(r.blen == BIG_BODY && !memcmp(r.body, big_body, BIG_BODY));
    resp_free(&r);
    cio_stream_close(s);

    /* past write_timeout the server gives up on a client that does not read */
    end_server(srv);
    cio_http_server_opts o = {.write_timeout = 0.3};
    srv = mk_server(&o, &port);
    CHECK_EQ(cio_http_server_route(srv, "GET", "/big", h_big, NULL), 0);
    s = open_small_client(port);
    CHECK_EQ(send_str(s, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    for (int i = 0; i < 1000 && (i < 5 || cio_http_server_connections(srv) > 0); i++)
        cio_sleep(0.01);
    CHECK_EQ(cio_http_server_connections(srv), 0);
    CHECK(closed_within(s, 3.0));
    cio_stream_close(s);
    end_server(srv);
    free(big_body);
    return NULL;
}

static void run_all(void)
{
    RUN_TASK_TEST(t_limits);
    RUN_TASK_TEST(t_timeouts);
    RUN_TASK_TEST(t_smuggling);
    RUN_TASK_TEST(t_limit_head_size);
    RUN_TASK_TEST(t_limit_header_count);
    RUN_TASK_TEST(t_limit_body);
    RUN_TASK_TEST(t_chunk_line);
    RUN_TASK_TEST(t_chunk_ext_flood);
    RUN_TASK_TEST(t_limit_trailers);
    RUN_TASK_TEST(t_bad_header_names);
    RUN_TASK_TEST(t_static_no_openat2);
    RUN_TASK_TEST(t_slow_reader);
}

int main(void) { return fixture_main(run_all); }
