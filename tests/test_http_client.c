/* SPDX-License-Identifier: MIT */
/* The HTTP client (src/http/client.c: libcurl's multi-socket interface
 * driven by the loop) against a small HTTP/1.1 server written here with cio
 * streams (cio_start_server), on 127.0.0.1:
 *
 *   200 with body and headers (lookup case-insensitive, header_at), 404 and
 *   a custom reason phrase, HEAD, 204; redirect chains (302 -> 200, the URL
 *   after redirects, max_redirects per session and per request, -1: not
 *   followed) and a loop -> CIO_EHTTPREDIRECTS; timeout_total and
 *   timeout_read -> -ETIMEDOUT; chunked and gzip-encoded bodies; POST / PUT
 *   echoing body and headers (also > 1 MiB with Expect: 100-continue), the
 *   user agent; keep-alive (20 requests, 1 connection); limit_per_host 2
 *   with 10 concurrent requests (never more than 2 connections); 1000
 *   concurrent requests; raise_for_status -> CIO_EHTTPSTATUS with the
 *   response; connection refused; a name that does not resolve; bad URLs;
 *   streaming a 10 MiB body read slowly (the transfer pauses: the server's
 *   writes stall, the client's memory stays bounded), cancelled reads;
 *   cancelling a request in flight (the session still works, nothing left);
 *   a cio_timeout scope around a request; HTTPS with certificates made at
 *   test time (verified with ca_file, untrusted without, wrong host name,
 *   insecure_no_verify).
 *
 * RUN_TASK_TEST checks that no task, timer, watched fd or fd is left; the
 * ASan build checks memory.  Exit 0 = pass. */
/* CIO_TEST: TIMEOUT=300 */
#include "check.h"
#include "lib/http_exchange.h"
#include "pki.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the server ------------------------------------------------------------- */

#define BIGBODY (10u << 20)
#define MAXHDR 48

typedef struct hsrv {
    cio_server *srv;
    char base[64]; /* "http://127.0.0.1:PORT" (https for TLS) */
    int accepted, open, max_open, requests;
    bool stop;
    size_t big_sent; /* bytes of /big the stream has taken (after drain) */
    int slow_done;   /* /slow handlers that got to the end */
    bool late_held;  /* /head-then-wait's handler holds its body back */
    int slow_fd;     /* the server side of the last /slow connection */
    char user_agent[128];
} hsrv;

typedef struct hreq {
    char method[16];
    char target[2048];
    char names[MAXHDR][64];
    char values[MAXHDR][512];
    int nhdr;
    char *body;
    size_t blen;
    bool keep;
    bool expect_continue;
} hreq;

static const char *req_header(const hreq *r, const char *name)
{
    for (int i = 0; i < r->nhdr; i++)
        if (strcasecmp(r->names[i], name) == 0)
            return r->values[i];
    return NULL;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* One line without its CRLF into out.  1, 0 at EOF, or an error. */
static int get_line(cio_stream *s, char *out, size_t cap)
{
    const char *d;
    size_t n;
    int rc = cio_stream_readline(s, &d, &n);
    if (rc < 0)
        return rc;
    if (n == 0)
        return 0;
    while (n && (d[n - 1] == '\n' || d[n - 1] == '\r'))
        n--;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, d, n);
    out[n] = 0;
    return 1;
}

/* Reads one request.  1, 0 at EOF, or an error. */
static int read_request(cio_stream *s, hreq *r)
{
    char line[2200];
    int rc = get_line(s, line, sizeof line);
    if (rc <= 0)
        return rc;
    char version[16] = "";
    if (sscanf(line, "%15s %2047s %15s", r->method, r->target, version) != 3)
        return -EPROTO;
    r->nhdr = 0;
    r->keep = strcmp(version, "HTTP/1.1") == 0;
    for (;;) {
        if ((rc = get_line(s, line, sizeof line)) <= 0)
            return rc < 0 ? rc : -EPROTO;
        if (!line[0])
            break;
        char *colon = strchr(line, ':');
        if (!colon || r->nhdr == MAXHDR)
            continue;
        *colon = 0;
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        copy_str(r->names[r->nhdr], sizeof r->names[0], line);
        copy_str(r->values[r->nhdr], sizeof r->values[0], v);
        r->nhdr++;
    }
    const char *c = req_header(r, "Connection");
    if (c && strcasecmp(c, "close") == 0)
        r->keep = false;
    const char *e = req_header(r, "Expect");
    r->expect_continue = e && strcasecmp(e, "100-continue") == 0;
    const char *cl = req_header(r, "Content-Length");
    r->body = NULL;
    r->blen = cl ? strtoul(cl, NULL, 10) : 0;
    if (r->blen && strncmp(r->target, "/early-echo", 11) != 0) { /* that one reads its body itself */
        if (r->expect_continue && (rc = send_all(s, "HTTP/1.1 100 Continue\r\n\r\n", 25)) < 0)
            return rc;
        r->body = malloc(r->blen);
        if (!r->body)
            return -ENOMEM;
        size_t got;
        if ((rc = cio_stream_readexactly(s, r->body, r->blen, &got)) < 0)
            return rc;
    }
    return 1;
}

/* Status line and headers (Content-Length unless len is (size_t)-1). */
static int send_head(cio_stream *s, const hreq *r, int status, const char *reason, const char *extra, size_t len)
{
    char head[4096];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\n", status, reason);
    if (len != (size_t)-1)
        n += snprintf(head + n, sizeof head - (size_t)n, "Content-Length: %zu\r\n", len);
    n += snprintf(head + n, sizeof head - (size_t)n, "%s%s\r\n", extra ? extra : "",
                  r->keep ? "" : "Connection: close\r\n");
    return cio_stream_write(s, head, (size_t)n);
}

static int respond(cio_stream *s, const hreq *r, int status, const char *reason, const char *extra, const void *body,
                   size_t len)
{
    int rc = send_head(s, r, status, reason, extra, status == 204 ? (size_t)-1 : len);
    if (rc == 0 && len && strcmp(r->method, "HEAD") != 0 && status != 204)
        rc = cio_stream_write(s, body, len);
    return rc < 0 ? rc : cio_stream_drain(s);
}

/* Sleeps up to secs, in steps, unless the server is stopping. */
static void nap(hsrv *h, double secs)
{
    for (double t = 0; t < secs && !h->stop; t += 0.02)
        if (cio_sleep(0.02) < 0)
            return;
}

static void fill_pattern(unsigned char *p, size_t n, size_t start)
{
    for (size_t i = 0; i < n; i++) {
        size_t k = start + i;
        p[i] = (unsigned char)((k * 131u) ^ (k >> 11));
    }
}

static bool is_pattern(const unsigned char *p, size_t n, size_t start)
{
    for (size_t i = 0; i < n; i++) {
        size_t k = start + i;
        if (p[i] != (unsigned char)((k * 131u) ^ (k >> 11)))
            return false;
    }
    return true;
}

/* gzip (RFC 1952) with stored deflate blocks: real framing, checksummed. */
static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
    }
    return c ^ 0xffffffffu;
}

static unsigned char *gzip_stored(const unsigned char *data, size_t n, size_t *outlen)
{
    size_t blocks = n / 65535 + 1;
    unsigned char *o = malloc(10 + n + blocks * 5 + 8), *p = o;
    static const unsigned char hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    memcpy(p, hdr, 10);
    p += 10;
    size_t off = 0;
    do {
        size_t len = n - off > 65535 ? 65535 : n - off;
        *p++ = off + len == n ? 1 : 0; /* BFINAL, BTYPE 00 */
        *p++ = (unsigned char)(len & 0xff);
        *p++ = (unsigned char)(len >> 8);
        *p++ = (unsigned char)(~len & 0xff);
        *p++ = (unsigned char)((~len >> 8) & 0xff);
        memcpy(p, data + off, len);
        p += len;
        off += len;
    } while (off < n);
    uint32_t crc = crc32_of(data, n), isize = (uint32_t)n;
    for (int i = 0; i < 4; i++)
        *p++ = (unsigned char)(crc >> (8 * i));
    for (int i = 0; i < 4; i++)
        *p++ = (unsigned char)(isize >> (8 * i));
    *outlen = (size_t)(p - o);
    return o;
}

static const char *gzip_text(size_t *n)
{
    static char text[200000];
    static size_t len;
    if (!len) {
        for (int i = 0; len < sizeof text - 100; i++)
            len += (size_t)snprintf(text + len, sizeof text - len, "gzip line %d: the quick brown fox\n", i);
    }
    *n = len;
    return text;
}

static int serve(hsrv *h, cio_stream *s, hreq *r)
{
    char path[2048];
    copy_str(path, sizeof path, r->target);
    char *q = strchr(path, '?');
    if (q)
        *q = 0;
    char extra[2048];
    int n;
    if (strcmp(path, "/hello") == 0) {
        return respond(s, r, 200, "OK", "Content-Type: text/plain\r\nX-Test-Header: MiXeD-Value\r\nX-Multi: one\r\n",
                       "hello world\n", 12);
    }
    if (strncmp(path, "/status/", 8) == 0) {
        int st = atoi(path + 8);
        char body[64];
        n = snprintf(body, sizeof body, "status %d", st);
        return respond(s, r, st, cio_http_status_reason(st), "Content-Type: text/plain\r\n", body, (size_t)n);
    }
    if (strcmp(path, "/custom-reason") == 0)
        return respond(s, r, 299, "Custom Thing Happened", NULL, "custom", 6);
    if (strncmp(path, "/redirect/", 10) == 0) {
        int k = atoi(path + 10);
        if (k > 1)
            snprintf(extra, sizeof extra, "Location: /redirect/%d\r\n", k - 1);
        else
            snprintf(extra, sizeof extra, "Location: /hello\r\n");
        return respond(s, r, 302, "Found", extra, "moved", 5);
    }
    if (strcmp(path, "/abs-redirect") == 0) {
        snprintf(extra, sizeof extra, "Location: %s/hello?from=abs\r\n", h->base);
        return respond(s, r, 301, "Moved Permanently", extra, "", 0);
    }
    if (strcmp(path, "/loop") == 0)
        return respond(s, r, 302, "Found", "Location: /loop\r\n", "loop", 4);
    if (strcmp(path, "/slow") == 0) {
        h->slow_fd = cio_stream_fd(s);
        nap(h, 2.0);
        if (h->stop)
            return -ECANCELED;
        h->slow_done++;
        return respond(s, r, 200, "OK", NULL, "slow", 4);
    }
    if (strcmp(path, "/stall") == 0) { /* 100 of 1000 bytes, then nothing for 5 s */
        char body[1000];
        memset(body, 's', sizeof body);
        int rc = send_head(s, r, 200, "OK", NULL, sizeof body);
        if (rc == 0)
            rc = send_all(s, body, 100);
        if (rc < 0)
            return rc;
        nap(h, 5.0);
        if (h->stop)
            return -ECANCELED;
        return send_all(s, body + 100, sizeof body - 100);
    }
    if (strcmp(path, "/head-then-wait") == 0) { /* the head now, the body 0.5 s later */
        int rc = send_head(s, r, 200, "OK", "X-Early: yes\r\n", 5);
        if (rc == 0)
            rc = cio_stream_drain(s);
        h->late_held = true;
        nap(h, 0.5);
        h->late_held = false;
        return rc < 0 ? rc : send_all(s, "late!", 5);
    }
    if (strcmp(path, "/early-echo") == 0) {
        /* answers (head first) before reading the body, then checks the
         * body against the pattern and says so */
        int rc = send_head(s, r, 200, "OK", "Transfer-Encoding: chunked\r\n", (size_t)-1);
        if (rc == 0)
            rc = cio_stream_drain(s);
        unsigned char *buf = malloc(64 * 1024);
        size_t got = 0;
        bool same = true;
        while (rc == 0 && got < r->blen) {
            size_t want = r->blen - got < 64 * 1024 ? r->blen - got : 64 * 1024;
            ssize_t k = cio_stream_read(s, buf, want);
            if (k <= 0) {
                rc = k < 0 ? (int)k : -EPIPE;
                break;
            }
            same &= is_pattern(buf, (size_t)k, got);
            got += (size_t)k;
        }
        free(buf);
        r->blen = 0;
        if (rc < 0)
            return rc;
        const char *verdict = same ? "3\r\nok\n\r\n0\r\n\r\n" : "4\r\nbad\n\r\n0\r\n\r\n";
        return send_all(s, verdict, strlen(verdict));
    }
    if (strcmp(path, "/hold") == 0) {
        nap(h, 0.1);
        return respond(s, r, 200, "OK", NULL, "held", 4);
    }
    if (strcmp(path, "/chunked") == 0) {
        int rc = send_head(s, r, 200, "OK", "Transfer-Encoding: chunked\r\n", (size_t)-1);
        for (int i = 0; rc == 0 && i < 50; i++) {
            char piece[64], chunk[96];
            int pl = snprintf(piece, sizeof piece, "chunk-%d;", i);
            int cl = snprintf(chunk, sizeof chunk, "%x\r\n%s\r\n", pl, piece);
            rc = send_all(s, chunk, (size_t)cl);
            if (rc == 0 && i % 10 == 9)
                rc = cio_sleep(0.005);
        }
        return rc < 0 ? rc : send_all(s, "0\r\nX-Trailer: t\r\n\r\n", 19);
    }
    if (strcmp(path, "/gzip") == 0) {
        size_t tl, gl;
        const char *text = gzip_text(&tl);
        const char *ae = req_header(r, "Accept-Encoding");
        if (!ae || !strstr(ae, "gzip"))
            return respond(s, r, 200, "OK", "Content-Type: text/plain\r\n", text, tl);
        unsigned char *gz = gzip_stored((const unsigned char *)text, tl, &gl);
        int rc = respond(s, r, 200, "OK", "Content-Type: text/plain\r\nContent-Encoding: gzip\r\n", gz, gl);
        free(gz);
        return rc;
    }
    if (strcmp(path, "/echo") == 0) {
        const char *custom = req_header(r, "X-Custom"), *ct = req_header(r, "Content-Type");
        snprintf(extra, sizeof extra,
                 "X-Echo-Method: %s\r\nX-Echo-Length: %zu\r\nX-Echo-Custom: %s\r\nX-Echo-Content-Type: %s\r\n"
                 "X-Echo-Expect: %s\r\n",
                 r->method, r->blen, custom ? custom : "(none)", ct ? ct : "(none)",
                 r->expect_continue ? "100-continue" : "(none)");
        return respond(s, r, 200, "OK", extra, r->body, r->blen);
    }
    if (strcmp(path, "/big") == 0) {
        int one = 256 * 1024; /* a fixed send buffer: the stall shows sooner */
        setsockopt(cio_stream_fd(s), SOL_SOCKET, SO_SNDBUF, &one, sizeof one);
        int rc = send_head(s, r, 200, "OK", "Content-Type: application/octet-stream\r\n", BIGBODY);
        unsigned char *chunk = malloc(64 * 1024);
        for (size_t off = 0; rc == 0 && off < BIGBODY && !h->stop; off += 64 * 1024) {
            fill_pattern(chunk, 64 * 1024, off);
            rc = send_all(s, chunk, 64 * 1024);
            if (rc == 0)
                h->big_sent = off + 64 * 1024;
        }
        free(chunk);
        return rc;
    }
    return respond(s, r, 404, "Not Found", "Content-Type: text/plain\r\n", "no such page", 12);
}

static void *http_handler(cio_stream *s, void *arg)
{
    hsrv *h = arg;
    h->accepted++;
    if (++h->open > h->max_open)
        h->max_open = h->open;
    hreq *r = calloc(1, sizeof *r);
    while (r && !h->stop) {
        int rc = read_request(s, r);
        if (rc <= 0) { /* EOF or a broken request */
            free(r->body);
            break;
        }
        h->requests++;
        const char *ua = req_header(r, "User-Agent");
        copy_str(h->user_agent, sizeof h->user_agent, ua ? ua : "");
        rc = serve(h, s, r);
        free(r->body);
        r->body = NULL;
        if (rc < 0 || !r->keep)
            break;
    }
    free(r);
    h->open--;
    cio_stream_close(s);
    return NULL;
}

static cio_tls_opts srv_tls, wrong_tls;

static bool start(hsrv *h, const cio_tls_opts *tls)
{
    memset(h, 0, sizeof *h);
    cio_server_opts so = {.tls = tls};
    int rc = cio_start_server(http_handler, h, "127.0.0.1", "0", &so, &h->srv);
    CHECK_EQ(rc, 0);
    if (rc)
        return false;
    snprintf(h->base, sizeof h->base, "%s://127.0.0.1:%d", tls ? "https" : "http", cio_server_port(h->srv));
    return true;
}

/* Stops the server and waits for its handlers (the clients must have let
 * go of their connections: free the sessions first). */
static void stop(hsrv *h)
{
    if (!h->srv)
        return;
    h->stop = true;
    int rc = server_stop(h->srv);
    CHECK_EQ(rc, 0);
    h->srv = NULL;
    if (rc)
        cio_sleep(0.1); /* let the cancelled handlers finish */
}

static char *url(const hsrv *h, const char *path)
{
    static char buf[8][256];
    static int k;
    char *u = buf[k++ % 8];
    snprintf(u, sizeof buf[0], "%s%s", h->base, path);
    return u;
}

static bool streq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

static bool body_is(const cio_http_client_response *r, const char *text)
{
    size_t len;
    const char *b = r ? cio_http_client_response_body(r, &len) : NULL;
    bool ok = b && len == strlen(text) && memcmp(b, text, len) == 0 && b[len] == 0;
    if (!ok)
        fprintf(stderr, "  body \"%.*s\", expected \"%s\"\n", b ? (int)len : 0, b ? b : "", text);
    return ok;
}

static double elapsed_since(double t0) { return cio_time() - t0; }

/* ---- basics ---------------------------------------------------------------------- */

static void *t_get_status_headers_body(void *arg)
{
    (void)arg;
    hsrv h;
    if (!start(&h, NULL))
        return NULL;
    cio_http_session *s = cio_http_session_new(NULL);
    CHECK(s != NULL);
    cio_http_client_response *r = NULL;

    /* 200 with body and headers */
    CHECK_EQ(cio_http_get(s, url(&h, "/hello"), &r), 0);
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ(cio_http_client_response_status(r), 200);
        CHECK(streq(cio_http_client_response_reason(r), "OK"));
        CHECK(body_is(r, "hello world\n"));
        CHECK(streq(cio_http_client_response_url(r), url(&h, "/hello")));
        CHECK(streq(cio_http_client_response_header(r, "X-Test-Header"), "MiXeD-Value"));
        CHECK(streq(cio_http_client_response_header(r, "x-test-header"), "MiXeD-Value"));
        CHECK(streq(cio_http_client_response_header(r, "X-TEST-HEADER"), "MiXeD-Value"));
        CHECK(streq(cio_http_client_response_header(r, "content-type"), "text/plain"));
        CHECK(streq(cio_http_client_response_header(r, "Content-Length"), "12"));
        CHECK(cio_http_client_response_header(r, "X-Test") == NULL); /* a prefix is not a match */
        CHECK(cio_http_client_response_header(r, "X-Test-Header-More") == NULL);
        CHECK(cio_http_client_response_header(r, "Missing") == NULL);
        size_t nh = cio_http_client_response_nheaders(r);
        CHECK(nh >= 4);
        bool seen = false;
        for (size_t i = 0; i < nh; i++)
            seen |= streq(cio_http_client_response_header_at(r, i), "X-Multi: one");
        CHECK(seen);
        CHECK(cio_http_client_response_header_at(r, nh) == NULL);
        CHECK(streq(h.user_agent, "cio/0.1"));
        cio_http_client_response_free(r);
    }

    /* 404 with its reason, no error without raise_for_status */
    CHECK_EQ(cio_http_get(s, url(&h, "/status/404"), &r), 0);
    if (r) {
        CHECK_EQ(cio_http_client_response_status(r), 404);
        CHECK(streq(cio_http_client_response_reason(r), "Not Found"));
        CHECK(body_is(r, "status 404"));
        cio_http_client_response_free(r);
    }
    CHECK_EQ(cio_http_get(s, url(&h, "/nowhere"), &r), 0);
    if (r) {
        CHECK_EQ(cio_http_client_response_status(r), 404);
        cio_http_client_response_free(r);
    }
    CHECK_EQ(cio_http_get(s, url(&h, "/custom-reason"), &r), 0);
    if (r) {
        CHECK_EQ(cio_http_client_response_status(r), 299);
        CHECK(streq(cio_http_client_response_reason(r), "Custom Thing Happened"));
        cio_http_client_response_free(r);
    }
    CHECK_EQ(cio_http_get(s, url(&h, "/status/500"), &r), 0);
    if (r) {
        CHECK_EQ(cio_http_client_response_status(r), 500);
        CHECK(streq(cio_http_client_response_reason(r), "Internal Server Error"));
        cio_http_client_response_free(r);
    }

    /* 204: no body */
    CHECK_EQ(cio_http_get(s, url(&h, "/status/204"), &r), 0);
    if (r) {
        CHECK_EQ(cio_http_client_response_status(r), 204);
        CHECK(body_is(r, ""));
        cio_http_client_response_free(r);
    }

    /* HEAD: the headers, no body */
    CHECK_EQ(cio_http_session_request(s, "HEAD", url(&h, "/hello"), NULL, &r), 0);
    if (r) {
        CHECK_EQ(cio_http_client_response_status(r), 200);
        CHECK(streq(cio_http_client_response_header(r, "Content-Length"), "12"));
        CHECK(body_is(r, ""));
        cio_http_client_response_free(r);
    }

    /* chunked */
    CHECK_EQ(cio_http_get(s, url(&h, "/chunked"), &r), 0);
    if (r) {
        char want[1024];
        size_t n = 0;
        for (int i = 0; i < 50; i++)
            n += (size_t)snprintf(want + n, sizeof want - n, "chunk-%d;", i);
        CHECK_EQ(cio_http_client_response_status(r), 200);
        CHECK(body_is(r, want));
        CHECK(streq(cio_http_client_response_header(r, "Transfer-Encoding"), "chunked"));
        cio_http_client_response_free(r);
    }

    /* gzip: decompressed */
    CHECK_EQ(cio_http_get(s, url(&h, "/gzip"), &r), 0);
    if (r) {
        size_t tl;
        const char *text = gzip_text(&tl);
        CHECK_EQ(cio_http_client_response_status(r), 200);
        CHECK(streq(cio_http_client_response_header(r, "Content-Encoding"), "gzip"));
        const char *cl = cio_http_client_response_header(r, "Content-Length");
        CHECK(cl && (size_t)atol(cl) > tl); /* stored blocks: a little bigger than the text */
        CHECK(body_is(r, text));
        cio_http_client_response_free(r);
    }

    /* bad URLs */
    r = (cio_http_client_response *)1;
    CHECK_EQ(cio_http_get(s, "ftp://127.0.0.1/x", &r), -EINVAL);
    CHECK(r == NULL);
    CHECK_EQ(cio_http_get(s, "http://[::1", &r), -EINVAL);
    CHECK_EQ(cio_http_get(s, NULL, &r), -EINVAL);
    CHECK_EQ(cio_http_get(NULL, url(&h, "/hello"), &r), -EINVAL);
    CHECK(r == NULL);

    cio_http_session_free(s);

    /* a session with a user agent of its own */
    s = cio_http_session_new(&(cio_http_session_opts){.user_agent = "test-agent/2"});
    CHECK_EQ(cio_http_get(s, url(&h, "/hello"), &r), 0);
    cio_http_client_response_free(r);
    CHECK(streq(h.user_agent, "test-agent/2"));
    cio_http_session_free(s);
    stop(&h);
    return NULL;
}

/* ---- redirects ---------------------------------------------------------------------- */

static void *t_redirects(void *arg)
{
    (void)arg;
    hsrv h;
    if (!start(&h, NULL))
        return NULL;
    cio_http_session *s = cio_http_session_new(NULL);
    cio_http_client_response *r = NULL;

    /* 302 -> 302 -> 302 -> 200 */
    CHECK_EQ(cio_http_get(s, url(&h, "/redirect/3"), &r), 0);
    if (r) {
        CHECK_EQ(cio_http_client_response_status(r), 200);
        CHECK(streq(cio_http_client_response_reason(r), "OK"));
        CHECK(body_is(r, "hello world\n"));
        CHECK(streq(cio_http_client_response_url(r), url(&h, "/hello")));
        /* the headers are the final response's */
        CHECK(streq(cio_http_client_response_header(r, "X-Test-Header"), "MiXeD-Value"));
        CHECK(cio_http_client_response_header(r, "Location") == NULL);
        cio_http_client_response_free(r);
    }
    /* an absolute Location */
    CHECK_EQ(cio_http_get(s, url(&h, "/abs-redirect"), &r), 0);
    if (r) {
        CHECK_EQ(cio_http_client_response_status(r), 200);
        CHECK(streq(cio_http_client_response_url(r), url(&h, "/hello?from=abs")));
        cio_http_client_response_free(r);
    }
    /* a loop: CIO_EHTTPREDIRECTS after max_redirects (10 by default) */
    int before = h.requests;
    r = (cio_http_client_response *)1;
    CHECK_EQ(cio_http_get(s, url(&h, "/loop"), &r), CIO_EHTTPREDIRECTS);
    CHECK(r == NULL);
    CHECK_EQ(h.requests - before, 11);
    /* per request: 2 allowed, 3 needed */
    cio_http_client_request_opts o = {.max_redirects = 2};
    CHECK_EQ(cio_http_session_request(s, "GET", url(&h, "/redirect/3"), &o, &r), CIO_EHTTPREDIRECTS);
    o.max_redirects = 3;
    CHECK_EQ(cio_http_session_request(s, "GET", url(&h, "/redirect/3"), &o, &r), 0);
    if (r) {
        CHECK_EQ(cio_http_client_response_status(r), 200);
        cio_http_client_response_free(r);
    }
    /* -1: not followed */
    o.max_redirects = -1;
    CHECK_EQ(cio_http_session_request(s, "GET", url(&h, "/redirect/3"), &o, &r), 0);
    if (r) {
        CHECK_EQ(cio_http_client_response_status(r), 302);
        CHECK(streq(cio_http_client_response_reason(r), "Found"));
        CHECK(streq(cio_http_client_response_header(r, "location"), "/redirect/2"));
        CHECK(streq(cio_http_client_response_url(r), url(&h, "/redirect/3")));
        CHECK(body_is(r, "moved"));
        cio_http_client_response_free(r);
    }
    cio_http_session_free(s);

    /* the session's own limit */
    s = cio_http_session_new(&(cio_http_session_opts){.max_redirects = 4});
    before = h.requests;
    CHECK_EQ(cio_http_get(s, url(&h, "/loop"), &r), CIO_EHTTPREDIRECTS);
    CHECK_EQ(h.requests - before, 5);
    CHECK_EQ(cio_http_get(s, url(&h, "/redirect/4"), &r), 0);
    cio_http_client_response_free(r);
    cio_http_session_free(s);
    s = cio_http_session_new(&(cio_http_session_opts){.max_redirects = -1});
    CHECK_EQ(cio_http_get(s, url(&h, "/redirect/1"), &r), 0);
    if (r) {
        CHECK_EQ(cio_http_client_response_status(r), 302);
        cio_http_client_response_free(r);
    }
    cio_http_session_free(s);
    stop(&h);
    return NULL;
}

/* ---- timeouts ----------------------------------------------------------------------- */

static void *t_timeouts(void *arg)
{
    (void)arg;
    hsrv h;
    if (!start(&h, NULL))
        return NULL;
    cio_http_client_response *r = NULL;

    /* the session's timeout_total */
    cio_http_session *s = cio_http_session_new(&(cio_http_session_opts){.timeout_total = 0.3});
    double t0 = cio_time();
    r = (cio_http_client_response *)1;
    CHECK_EQ(cio_http_get(s, url(&h, "/slow"), &r), -ETIMEDOUT);
    CHECK(r == NULL);
    double took = elapsed_since(t0);
    CHECK(took >= 0.25); /* not early; the rc says the timeout, not /slow's answer (2 s), ended it */
    /* a quick one still passes */
    CHECK_EQ(cio_http_get(s, url(&h, "/hello"), &r), 0);
    cio_http_client_response_free(r);
    /* a request's own, longer, timeout wins (longer by far: /slow's 2 s nap
     * may take much longer on a loaded machine) */
    cio_http_client_request_opts o = {.timeout_total = 60.0};
    CHECK_EQ(cio_http_session_request(s, NULL, url(&h, "/slow"), &o, &r), 0);
    if (r) {
        CHECK(body_is(r, "slow"));
        cio_http_client_response_free(r);
    }
    cio_http_session_free(s);

    /* a request's timeout_total */
    s = cio_http_session_new(NULL);
    o = (cio_http_client_request_opts){.timeout_total = 0.2};
    t0 = cio_time();
    CHECK_EQ(cio_http_session_request(s, NULL, url(&h, "/slow"), &o, &r), -ETIMEDOUT);
    took = elapsed_since(t0);
    CHECK(took >= 0.15);

    /* timeout_read: the head and 100 bytes arrive, then nothing */
    o = (cio_http_client_request_opts){.timeout_read = 1.0};
    t0 = cio_time();
    CHECK_EQ(cio_http_session_request(s, NULL, url(&h, "/stall"), &o, &r), -ETIMEDOUT);
    took = elapsed_since(t0);
    fprintf(stderr, "  timeout_read 1 s on a stalled body: %.2f s\n", took);
    CHECK(took >= 0.9); /* the stall never ends: only timeout_read returns */
    /* ...but a slow response is fine with a longer one (generously longer
     * than /slow's 2 s nap: a loaded machine stretches it) */
    o = (cio_http_client_request_opts){.timeout_read = 60.0};
    CHECK_EQ(cio_http_session_request(s, NULL, url(&h, "/slow"), &o, &r), 0);
    cio_http_client_response_free(r);
    cio_http_session_free(s);
    stop(&h);
    return NULL;
}

/* ---- POST / PUT echo ------------------------------------------------------------------- */

static void *t_post(void *arg)
{
    (void)arg;
    hsrv h;
    if (!start(&h, NULL))
        return NULL;
    cio_http_session *s = cio_http_session_new(NULL);
    cio_http_client_response *r = NULL;

    /* binary body with NULs, extra headers */
    size_t n = 100 * 1000;
    unsigned char *body = malloc(n);
    fill_pattern(body, n, 0);
    body[10] = 0;
    const char *hdrs[] = {"X-Custom: hello there", "Content-Type: application/x-test", NULL};
    cio_http_client_request_opts o = {.headers = hdrs, .body = body, .body_len = n};
    CHECK_EQ(cio_http_session_request(s, NULL, url(&h, "/echo"), &o, &r), 0); /* NULL + body: POST */
    if (r) {
        CHECK_EQ(cio_http_client_response_status(r), 200);
        CHECK(streq(cio_http_client_response_header(r, "X-Echo-Method"), "POST"));
        CHECK(streq(cio_http_client_response_header(r, "X-Echo-Custom"), "hello there"));
        CHECK(streq(cio_http_client_response_header(r, "X-Echo-Content-Type"), "application/x-test"));
        char want[32];
        snprintf(want, sizeof want, "%zu", n);
        CHECK(streq(cio_http_client_response_header(r, "X-Echo-Length"), want));
        size_t len;
        const char *b = cio_http_client_response_body(r, &len);
        CHECK_EQ(len, n);
        CHECK(b && len == n && memcmp(b, body, n) == 0);
        cio_http_client_response_free(r);
    }
    free(body);

    /* PUT, and a DELETE without a body */
    o = (cio_http_client_request_opts){.body = "put-data", .body_len = 8};
    CHECK_EQ(cio_http_session_request(s, "PUT", url(&h, "/echo"), &o, &r), 0);
    if (r) {
        CHECK(streq(cio_http_client_response_header(r, "X-Echo-Method"), "PUT"));
        CHECK(body_is(r, "put-data"));
        cio_http_client_response_free(r);
    }
    CHECK_EQ(cio_http_session_request(s, "DELETE", url(&h, "/echo"), NULL, &r), 0);
    if (r) {
        CHECK(streq(cio_http_client_response_header(r, "X-Echo-Method"), "DELETE"));
        CHECK(streq(cio_http_client_response_header(r, "X-Echo-Length"), "0"));
        cio_http_client_response_free(r);
    }
    /* an empty POST body */
    o = (cio_http_client_request_opts){.body = "", .body_len = 0};
    CHECK_EQ(cio_http_session_request(s, "POST", url(&h, "/echo"), &o, &r), 0);
    if (r) {
        CHECK(streq(cio_http_client_response_header(r, "X-Echo-Method"), "POST"));
        CHECK(body_is(r, ""));
        cio_http_client_response_free(r);
    }

    /* 3 MiB: past libcurl's Expect: 100-continue threshold (the 100 is a
     * response of its own: its headers are not mixed into the final ones) */
    n = 3u << 20;
    body = malloc(n);
    fill_pattern(body, n, 5);
    o = (cio_http_client_request_opts){.body = body, .body_len = n};
    CHECK_EQ(cio_http_session_request(s, "POST", url(&h, "/echo"), &o, &r), 0);
    if (r) {
        size_t len;
        const char *b = cio_http_client_response_body(r, &len);
        CHECK(b && len == n && memcmp(b, body, n) == 0);
        CHECK_EQ(cio_http_client_response_status(r), 200);
        CHECK(streq(cio_http_client_response_reason(r), "OK"));
        fprintf(stderr, "  3 MiB POST: Expect %s\n", cio_http_client_response_header(r, "X-Echo-Expect"));
        cio_http_client_response_free(r);
    }
    free(body);
    cio_http_session_free(s);
    stop(&h);
    return NULL;
}

/* ---- connections: keep-alive, per-host limit, 1000 at once ---------------------------------- */

typedef struct getter {
    cio_http_session *s;
    const char *url;
    int rc, status;
    bool body_ok;
} getter;

static void *getter_main(void *arg)
{
    getter *g = arg;
    cio_http_client_response *r = NULL;
    g->rc = cio_http_get(g->s, g->url, &r);
    if (r) {
        g->status = cio_http_client_response_status(r);
        size_t len;
        const char *b = cio_http_client_response_body(r, &len);
        g->body_ok = b && len > 0;
        cio_http_client_response_free(r);
    }
    return NULL;
}

static int run_getters(getter *gs, size_t n)
{
    cio_task **ts = calloc(n, sizeof *ts);
    for (size_t i = 0; i < n; i++)
        ts[i] = cio_spawn(getter_main, &gs[i]);
    int rc = cio_gather(ts, n, NULL, NULL, 0);
    for (size_t i = 0; i < n; i++)
        cio_release(ts[i]);
    free(ts);
    return rc;
}

static void *t_connections(void *arg)
{
    (void)arg;
    hsrv h;
    if (!start(&h, NULL))
        return NULL;

    /* keep-alive: 20 sequential requests, one connection */
    cio_http_session *s = cio_http_session_new(NULL);
    for (int i = 0; i < 20; i++) {
        cio_http_client_response *r = NULL;
        CHECK_EQ(cio_http_get(s, url(&h, i % 2 ? "/hello" : "/chunked"), &r), 0);
        if (r)
            CHECK_EQ(cio_http_client_response_status(r), 200);
        cio_http_client_response_free(r);
    }
    CHECK_EQ(h.accepted, 1);
    CHECK_EQ(h.requests, 20);
    cio_http_session_free(s);
    cio_sleep(0.05);
    CHECK_EQ(h.open, 0); /* freeing the session closed it */

    /* limit_per_host 2, 10 concurrent requests of 100 ms */
    h.accepted = h.max_open = 0;
    s = cio_http_session_new(&(cio_http_session_opts){.limit_per_host = 2});
    getter gs[10];
    for (int i = 0; i < 10; i++)
        gs[i] = (getter){.s = s, .url = url(&h, "/hold")};
    double t0 = cio_time();
    CHECK_EQ(run_getters(gs, 10), 0);
    double took = elapsed_since(t0);
    for (int i = 0; i < 10; i++) {
        CHECK_EQ(gs[i].rc, 0);
        CHECK_EQ(gs[i].status, 200);
    }
    CHECK(h.max_open <= 2);
    CHECK_EQ(h.max_open, 2);
    CHECK(took >= 0.45); /* 5 rounds of 100 ms, two at a time */
    fprintf(stderr, "  limit_per_host 2: %d connections accepted, at most %d open, %.2f s\n", h.accepted, h.max_open,
            took);
    cio_http_session_free(s);
    cio_sleep(0.05);

    /* 1000 at once (the default total limit: 100 connections) */
    h.accepted = h.max_open = 0;
    s = cio_http_session_new(NULL);
    enum { N = 1000 };
    getter *many = calloc(N, sizeof *many);
    for (int i = 0; i < N; i++)
        many[i] = (getter){.s = s, .url = url(&h, "/hello")};
    t0 = cio_time();
    CHECK_EQ(run_getters(many, N), 0);
    took = elapsed_since(t0);
    int ok = 0;
    for (int i = 0; i < N; i++)
        ok += many[i].rc == 0 && many[i].status == 200 && many[i].body_ok;
    CHECK_EQ(ok, N);
    CHECK(h.max_open <= 100);
    fprintf(stderr, "  %d concurrent requests: %d ok in %.2f s over %d connections (at most %d open)\n", N, ok, took,
            h.accepted, h.max_open);
    free(many);
    cio_http_session_free(s);

    /* limit 3 in all */
    h.accepted = h.max_open = 0;
    s = cio_http_session_new(&(cio_http_session_opts){.limit = 3});
    getter g8[8];
    for (int i = 0; i < 8; i++)
        g8[i] = (getter){.s = s, .url = url(&h, "/hold")};
    CHECK_EQ(run_getters(g8, 8), 0);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(g8[i].status, 200);
    CHECK(h.max_open <= 3);
    cio_http_session_free(s);
    stop(&h);
    return NULL;
}

/* ---- errors ------------------------------------------------------------------------ */

static void *t_status_refused_unresolvable(void *arg)
{
    (void)arg;
    hsrv h;
    if (!start(&h, NULL))
        return NULL;
    cio_http_client_response *r = NULL;

    /* raise_for_status, per request and per session: the response comes too */
    cio_http_session *s = cio_http_session_new(NULL);
    cio_http_client_request_opts o = {.raise_for_status = true};
    CHECK_EQ(cio_http_session_request(s, NULL, url(&h, "/status/404"), &o, &r), CIO_EHTTPSTATUS);
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ(cio_http_client_response_status(r), 404);
        CHECK(streq(cio_http_client_response_reason(r), "Not Found"));
        CHECK(body_is(r, "status 404"));
        cio_http_client_response_free(r);
    }
    CHECK_EQ(cio_http_session_request(s, NULL, url(&h, "/hello"), &o, &r), 0);
    cio_http_client_response_free(r);
    CHECK_EQ(cio_http_session_request(s, NULL, url(&h, "/status/399"), &o, &r), 0);
    cio_http_client_response_free(r);
    cio_http_session_free(s);
    s = cio_http_session_new(&(cio_http_session_opts){.raise_for_status = true});
    CHECK_EQ(cio_http_get(s, url(&h, "/status/503"), &r), CIO_EHTTPSTATUS);
    if (r) {
        CHECK_EQ(cio_http_client_response_status(r), 503);
        cio_http_client_response_free(r);
    }
    CHECK_EQ(cio_http_get(s, url(&h, "/status/400"), &r), CIO_EHTTPSTATUS);
    cio_http_client_response_free(r);
    CHECK_EQ(cio_http_get(s, url(&h, "/redirect/2"), &r), 0);
    cio_http_client_response_free(r);

    /* connection refused: a port nobody listens on */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    CHECK_EQ(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    char refused[64];
    snprintf(refused, sizeof refused, "http://127.0.0.1:%d/", ntohs(a.sin_port));
    r = (cio_http_client_response *)1;
    CHECK_EQ(cio_http_get(s, refused, &r), -ECONNREFUSED);
    CHECK(r == NULL);

    /* a name that does not resolve (bounded: DNS may be unreachable here) */
    cio_timeout sc;
    cio_timeout_enter(&sc, 10.0);
    double t0 = cio_time();
    int rc = cio_timeout_exit(&sc, cio_http_get(s, "http://no-such-host.invalid/", &r));
    fprintf(stderr, "  unresolvable name: %s after %.2f s\n", cio_strerror(rc), elapsed_since(t0));
    CHECK(rc == CIO_EDNS || rc == -ETIMEDOUT);
    CHECK(r == NULL);

    /* the session is still fine */
    CHECK_EQ(cio_http_get(s, url(&h, "/hello"), &r), 0);
    cio_http_client_response_free(r);
    cio_http_session_free(s);
    stop(&h);
    return NULL;
}

/* ---- streaming ------------------------------------------------------------------------- */

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static void *t_stream(void *arg)
{
    (void)arg;
    hsrv h;
    if (!start(&h, NULL))
        return NULL;
    cio_http_session *s = cio_http_session_new(NULL);
    cio_http_client_response *r = NULL;
    size_t heap0 = heap_in_use(), heap_peak = heap0;
    cio_http_client_request_opts o = {.stream = true};
    CHECK_EQ(cio_http_session_request(s, NULL, url(&h, "/big"), &o, &r), 0);
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ(cio_http_client_response_status(r), 200);
        CHECK(streq(cio_http_client_response_reason(r), "OK"));
        char want[32];
        snprintf(want, sizeof want, "%u", BIGBODY);
        CHECK(streq(cio_http_client_response_header(r, "content-length"), want));
        CHECK(streq(cio_http_client_response_url(r), url(&h, "/big")));
        size_t bl = 99;
        CHECK(cio_http_client_response_body(r, &bl) == NULL); /* streaming: no body buffer */
        CHECK_EQ(bl, 0);

        /* nobody reads: the transfer pauses, the server stalls (under load
         * it may take a while to get there: wait until the figure stays put
         * for 0.3 s, up to 10 s) well short of the body's end */
        size_t sent1 = h.big_sent, sent2 = SIZE_MAX;
        for (int i = 0; i < 33 && sent2 != sent1; i++) {
            sent2 = sent1;
            cio_sleep(0.3);
            sent1 = h.big_sent;
        }
        fprintf(stderr, "  streaming, not reading: the server stalled at %zu KiB\n", sent1 >> 10);
        CHECK_EQ(sent2, sent1);
        CHECK(sent1 < BIGBODY / 2);

        /* read slowly, in small pieces */
        unsigned char *buf = malloc(16 * 1024);
        size_t got = 0;
        bool same = true;
        int reads = 0;
        for (;;) {
            ssize_t k = cio_http_client_response_read(r, buf, 16 * 1024);
            if (k <= 0) {
                CHECK_EQ(k, 0);
                break;
            }
            same &= is_pattern(buf, (size_t)k, got);
            got += (size_t)k;
            if (++reads % 64 == 0) {
                cio_sleep(0.002);
                size_t hu = heap_in_use();
                if (hu > heap_peak)
                    heap_peak = hu;
            }
        }
        CHECK_EQ(got, BIGBODY);
        CHECK(same);
        CHECK_EQ(cio_http_client_response_read(r, buf, 16), 0); /* stays at the end */
        fprintf(stderr, "  streamed %zu MiB in %d reads; client heap grew by at most %zu KiB\n", got >> 20, reads,
                (heap_peak - heap0) >> 10);
        /* bounded: the body is never all in memory (0 when malloc is not glibc's) */
        CHECK(heap_peak - heap0 < 4u << 20);
        free(buf);
        cio_http_client_response_free(r);
    }
    /* the request returns once the head is in, before any body byte */
    double t0 = cio_time();
    CHECK_EQ(cio_http_session_request(s, NULL, url(&h, "/head-then-wait"), &o, &r), 0);
    CHECK(h.late_held); /* the handler still holds the body back */
    if (r) {
        CHECK_EQ(cio_http_client_response_status(r), 200);
        CHECK(streq(cio_http_client_response_header(r, "X-Early"), "yes"));
        char b[16];
        CHECK_EQ(cio_http_client_response_read(r, b, sizeof b), 5);
        CHECK(memcmp(b, "late!", 5) == 0);
        CHECK(elapsed_since(t0) >= 0.4);
        CHECK_EQ(cio_http_client_response_read(r, b, sizeof b), 0);
        cio_http_client_response_free(r);
    }
    /* ...and after redirects, with the final URL */
    CHECK_EQ(cio_http_session_request(s, NULL, url(&h, "/redirect/2"), &o, &r), 0);
    if (r) {
        CHECK_EQ(cio_http_client_response_status(r), 200);
        CHECK(streq(cio_http_client_response_url(r), url(&h, "/hello")));
        char b[32];
        CHECK_EQ(cio_http_client_response_read(r, b, sizeof b), 12);
        cio_http_client_response_free(r);
    }
    /* timeout_read while streaming: a reader slower than timeout_read is
     * not a stalled server (the transfer is paused by us)... */
    o.timeout_read = 1.0; /* the server thread gets 1 s between its sends even under load */
    CHECK_EQ(cio_http_session_request(s, NULL, url(&h, "/big"), &o, &r), 0);
    if (r) {
        cio_sleep(2.5);
        size_t got = 0;
        unsigned char *buf = malloc(256 * 1024);
        for (;;) {
            ssize_t k = cio_http_client_response_read(r, buf, 256 * 1024);
            if (k <= 0) {
                CHECK_EQ(k, 0);
                break;
            }
            got += (size_t)k;
        }
        CHECK_EQ(got, BIGBODY);
        free(buf);
        cio_http_client_response_free(r);
    }
    /* ...but a server that stops sending is */
    o.timeout_read = 0.5;
    CHECK_EQ(cio_http_session_request(s, NULL, url(&h, "/stall"), &o, &r), 0);
    if (r) {
        char b[2000];
        CHECK_EQ(cio_http_client_response_read(r, b, sizeof b), 100);
        t0 = cio_time();
        CHECK_EQ(cio_http_client_response_read(r, b, sizeof b), -ETIMEDOUT);
        double took = elapsed_since(t0);
        CHECK(took > 0.3);
        CHECK_EQ(cio_http_client_response_read(r, b, sizeof b), -ETIMEDOUT); /* stays failed */
        cio_http_client_response_free(r);
    }
    o.timeout_read = 0;

    /* a streamed POST whose response starts before the upload is over:
     * the body is the caller's only until the call returns, so the rest of
     * the upload must not read it any more */
    {
        size_t n = 8u << 20;
        unsigned char *body = malloc(n);
        fill_pattern(body, n, 0);
        const char *no_expect[] = {"Expect:", NULL}; /* no 100-continue round trip */
        cio_http_client_request_opts po = {.stream = true, .body = body, .body_len = n, .headers = no_expect};
        CHECK_EQ(cio_http_session_request(s, "POST", url(&h, "/early-echo"), &po, &r), 0);
        memset(body, 0, n); /* the caller reuses its buffer */
        free(body);
        if (r) {
            char b[16] = "";
            ssize_t k = cio_http_client_response_read(r, b, sizeof b - 1);
            CHECK_EQ(k, 3);
            CHECK(memcmp(b, "ok\n", 3) == 0);
            cio_http_client_response_free(r);
        }
    }

    /* a non-streaming response cannot be read piecewise */
    CHECK_EQ(cio_http_get(s, url(&h, "/hello"), &r), 0);
    if (r) {
        char b[4];
        CHECK_EQ(cio_http_client_response_read(r, b, sizeof b), -EINVAL);
        cio_http_client_response_free(r);
    }
    /* a streamed response freed half-read: the transfer is dropped */
    CHECK_EQ(cio_http_session_request(s, NULL, url(&h, "/big"), &o, &r), 0);
    if (r) {
        char b[1000];
        CHECK(cio_http_client_response_read(r, b, sizeof b) > 0);
        cio_http_client_response_free(r);
    }
    /* and the session goes on */
    CHECK_EQ(cio_http_get(s, url(&h, "/hello"), &r), 0);
    if (r)
        CHECK(body_is(r, "hello world\n"));
    cio_http_client_response_free(r);
    cio_http_session_free(s);
    stop(&h);
    return NULL;
}

/* ---- cancellation ------------------------------------------------------------------------- */

typedef struct req_task {
    cio_http_session *s;
    const char *url;
    bool stream;
    int rc;
    ssize_t read_rc;
    bool returned;
} req_task;

static void *req_main(void *arg)
{
    req_task *q = arg;
    cio_http_client_response *r = NULL;
    cio_http_client_request_opts o = {.stream = q->stream};
    q->rc = cio_http_session_request(q->s, NULL, q->url, &o, &r);
    if (q->rc == 0 && q->stream) {
        char buf[4096];
        /* read a little, then stall in a read that is cancelled */
        for (;;) {
            q->read_rc = cio_http_client_response_read(r, buf, sizeof buf);
            if (q->read_rc <= 0)
                break;
            if (cio_sleep(0.01) < 0) {
                q->read_rc = -ECANCELED;
                break;
            }
        }
    }
    cio_http_client_response_free(r);
    q->returned = true;
    return NULL;
}

static void *t_cancel(void *arg)
{
    (void)arg;
    hsrv h;
    if (!start(&h, NULL))
        return NULL;
    cio_http_session *s = cio_http_session_new(NULL);
    int fds = check_count_fds();

    /* a request in flight (the server answers after 2 s) */
    req_task q = {.s = s, .url = url(&h, "/slow")};
    cio_task *t = cio_spawn(req_main, &q);
    cio_sleep(0.2);
    CHECK(!q.returned);
    CHECK_EQ(h.open, 1);
    CHECK(cio_cancel(t, NULL));
    size_t nd;
    cio_future *f = t;
    cio_wait(&f, 1, CIO_ALL_COMPLETED, 2.0, NULL, &nd, NULL, NULL);
    CHECK(q.returned);
    CHECK_EQ(q.rc, -ECANCELED);
    CHECK_EQ(h.slow_done, 0); /* returned before the server answered (its handler sleeps 2 s) */
    CHECK(cio_cancelled(t));
    cio_release(t);
    /* the transfer was removed: its connection closed (the server's end,
     * still held by the sleeping handler, sees EOF), no fd of ours left
     * but that one */
    cio_sleep(0.05);
    char peek;
    CHECK_EQ(recv(h.slow_fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT), 0);
    CHECK_EQ(check_count_fds(), fds + 1);
    cio_sleep(0.1);
    CHECK_EQ(h.slow_done, 0);

    /* the session still works, and reuses or makes connections as needed */
    cio_http_client_response *r = NULL;
    CHECK_EQ(cio_http_get(s, url(&h, "/hello"), &r), 0);
    if (r)
        CHECK(body_is(r, "hello world\n"));
    cio_http_client_response_free(r);

    /* cancelled while reading a streamed body */
    req_task q2 = {.s = s, .url = url(&h, "/big"), .stream = true};
    t = cio_spawn(req_main, &q2);
    cio_sleep(0.3);
    CHECK(!q2.returned);
    CHECK(cio_cancel(t, NULL));
    f = t;
    cio_wait(&f, 1, CIO_ALL_COMPLETED, 2.0, NULL, &nd, NULL, NULL);
    CHECK(q2.returned);
    CHECK_EQ(q2.rc, 0);
    CHECK_EQ(q2.read_rc, -ECANCELED);
    cio_release(t);

    /* cancelled before the first suspension: nothing sent at all */
    int before = h.requests;
    req_task q3 = {.s = s, .url = url(&h, "/hello")};
    t = cio_spawn(req_main, &q3);
    CHECK(cio_cancel(t, NULL)); /* not started yet */
    f = t;
    cio_wait(&f, 1, CIO_ALL_COMPLETED, 2.0, NULL, &nd, NULL, NULL);
    CHECK(cio_cancelled(t));
    CHECK(!q3.returned); /* never ran */
    cio_release(t);
    cio_sleep(0.05);
    CHECK_EQ(h.requests, before);

    /* a timeout scope around a request */
    cio_timeout sc;
    cio_timeout_enter(&sc, 0.3);
    int rc = cio_timeout_exit(&sc, cio_http_get(s, url(&h, "/slow"), &r));
    CHECK_EQ(rc, -ETIMEDOUT);
    CHECK(r == NULL);
    CHECK_EQ(h.slow_done, 0); /* ended by the scope, before /slow's answer */
    CHECK_EQ(cio_http_get(s, url(&h, "/hello"), &r), 0);
    cio_http_client_response_free(r);

    /* many in flight, all cancelled at once */
    enum { M = 50 };
    req_task qs[M];
    cio_task *ts[M];
    for (int i = 0; i < M; i++) {
        qs[i] = (req_task){.s = s, .url = url(&h, i % 2 ? "/slow" : "/stall")};
        ts[i] = cio_spawn(req_main, &qs[i]);
    }
    cio_sleep(0.3);
    for (int i = 0; i < M; i++)
        cio_cancel(ts[i], NULL);
    cio_wait(ts, M, CIO_ALL_COMPLETED, 5.0, NULL, &nd, NULL, NULL);
    CHECK_EQ(nd, M);
    for (int i = 0; i < M; i++) {
        CHECK_EQ(qs[i].rc, -ECANCELED);
        cio_release(ts[i]);
    }
    CHECK_EQ(cio_http_get(s, url(&h, "/hello"), &r), 0);
    cio_http_client_response_free(r);

    cio_http_session_free(s);
    stop(&h);
    CHECK_EQ(h.slow_done, 0);
    return NULL;
}

/* ---- HTTPS ------------------------------------------------------------------------------- */

static bool have_certs; /* tests/pki.h made them */

static void *t_https(void *arg)
{
    (void)arg;
    if (!have_certs) {
        fprintf(stderr, "  skipped: no certificates (openssl command line tool missing?)\n");
        return NULL;
    }
    hsrv h, hw;
    if (!start(&h, &srv_tls))
        return NULL;
    if (!start(&hw, &wrong_tls)) {
        stop(&h);
        return NULL;
    }
    cio_http_client_response *r = NULL;

    /* verified against our CA, by address and by name */
    cio_http_session *s = cio_http_session_new(&(cio_http_session_opts){.ca_file = ca_pem});
    CHECK_EQ(cio_http_get(s, url(&h, "/hello"), &r), 0);
    if (r) {
        CHECK_EQ(cio_http_client_response_status(r), 200);
        CHECK(body_is(r, "hello world\n"));
        cio_http_client_response_free(r);
    }
    char byname[128];
    snprintf(byname, sizeof byname, "https://localhost:%d/redirect/2", cio_server_port(h.srv));
    CHECK_EQ(cio_http_get(s, byname, &r), 0);
    if (r) {
        CHECK_EQ(cio_http_client_response_status(r), 200);
        char want[128];
        snprintf(want, sizeof want, "https://localhost:%d/hello", cio_server_port(h.srv));
        CHECK(streq(cio_http_client_response_url(r), want));
        cio_http_client_response_free(r);
    }
    /* a body over TLS, and reuse of the connection */
    int acc = h.accepted;
    const char *data = "over tls";
    cio_http_client_request_opts o = {.body = data, .body_len = strlen(data)};
    CHECK_EQ(cio_http_session_request(s, NULL, url(&h, "/echo"), &o, &r), 0);
    if (r)
        CHECK(body_is(r, data));
    cio_http_client_response_free(r);
    CHECK_EQ(h.accepted, acc);
    /* the wrong host name, though signed by our CA */
    r = (cio_http_client_response *)1;
    CHECK_EQ(cio_http_get(s, url(&hw, "/hello"), &r), CIO_ECERTHOSTNAME);
    CHECK(r == NULL);
    cio_http_session_free(s);

    /* the system store does not know our CA */
    s = cio_http_session_new(NULL);
    CHECK_EQ(cio_http_get(s, url(&h, "/hello"), &r), CIO_ECERTUNTRUSTED);
    CHECK(r == NULL);
    cio_http_session_free(s);

    /* a CA file that is not there */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.pem", pki_dir);
    s = cio_http_session_new(&(cio_http_session_opts){.ca_file = missing});
    int rc = cio_http_get(s, url(&h, "/hello"), &r);
    CHECK(rc == CIO_ETLS || rc == CIO_ECERTUNTRUSTED);
    cio_http_session_free(s);

    /* the explicit opt-out accepts both */
    s = cio_http_session_new(&(cio_http_session_opts){.insecure_no_verify = true});
    CHECK_EQ(cio_http_get(s, url(&h, "/hello"), &r), 0);
    cio_http_client_response_free(r);
    CHECK_EQ(cio_http_get(s, url(&hw, "/hello"), &r), 0);
    if (r)
        CHECK(body_is(r, "hello world\n"));
    cio_http_client_response_free(r);
    cio_http_session_free(s);
    stop(&h);
    stop(&hw);
    return NULL;
}

/* ---- outside a task ------------------------------------------------------------------------ */

static void t_outside(void)
{
    check_current = "t_outside";
    int fails = check_failures;
    /* no loop: no session */
    errno = 0;
    CHECK(cio_http_session_new(NULL) == NULL);
    CHECK_EQ(errno, -CIO_ENOLOOP);
    cio_loop *l = cio_loop_new();
    cio_loop_set_current(l);
    cio_http_session *s = cio_http_session_new(NULL);
    CHECK(s != NULL);
    cio_http_client_response *r = (cio_http_client_response *)1;
    CHECK_EQ(cio_http_get(s, "http://127.0.0.1:1/", &r), CIO_ENOTASK);
    CHECK(r == NULL);
    cio_http_session_free(s);
    check_loop_clean(l);
    CHECK_EQ(cio_loop_close(l), 0);
    fprintf(stderr, "%s t_outside\n", check_failures == fails ? "ok  " : "FAIL");
}

int main(void)
{
    int made = pki_make("http");
    if (made == 0)
        fprintf(stderr, "note: no openssl command line tool: HTTPS parts skipped\n");
    else if (made < 0)
        fprintf(stderr, "note: could not make the test certificates: HTTPS parts skipped\n");
    have_certs = made > 0;
    srv_tls = (cio_tls_opts){.cert_file = srv_pem, .key_file = srv_key};
    wrong_tls = (cio_tls_opts){.cert_file = wrong_pem, .key_file = wrong_key};

    RUN_TEST(t_outside);
    RUN_TASK_TEST(t_get_status_headers_body);
    RUN_TASK_TEST(t_redirects);
    RUN_TASK_TEST(t_timeouts);
    RUN_TASK_TEST(t_post);
    RUN_TASK_TEST(t_connections);
    RUN_TASK_TEST(t_status_refused_unresolvable);
    RUN_TASK_TEST(t_stream);
    RUN_TASK_TEST(t_cancel);
    RUN_TASK_TEST(t_https);

    pki_remove();
    return check_exit();
}
