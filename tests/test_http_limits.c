/* SPDX-License-Identifier: MIT */
/* The HTTP client's body limit (max_body, counted after decompression)
 * against a raw cio TCP server on 127.0.0.1 serving hostile bodies:
 *
 *   plain and gzip-encoded bodies of limit-1, limit and limit+1 bytes
 *   (decompressed): the first two arrive whole, the third is -EFBIG with no
 *   response; the per-request limit overrides the session's; a gzip bomb
 *   (endless, about 160:1) and an endless plain body end with -EFBIG while
 *   the heap grows by less than a generous bound (bytes buffered, sampled
 *   by a watcher task that cancels the request should it ever pass 256 MiB);
 *   the default limit (CIO_HTTP_MAX_BODY) stops a bomb on a session with no
 *   max_body; streaming gives exactly max_body bytes, then -EFBIG (and a
 *   body of exactly max_body ends with 0); the session works afterwards;
 *   malformed responses (no status line, bad chunk sizes) are CIO_EHTTP, and
 *   so are heads past libcurl's limits (a 100 KiB line, 300 KiB in all) and
 *   more than 5 stacked content encodings, and URLs over libcurl's 8000000
 *   bytes are -EINVAL (each limit from both sides).
 *
 * RUN_TASK_TEST checks that no task, timer, watched fd or fd is left; the
 * ASan build checks memory.  Exit 0 = pass. */
/* CIO_TEST: TIMEOUT=300 */
#include "check.h"
#include "lib/hostile.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#define LIM ((size_t)1 << 20)

/* ---- a request under a heap watcher --------------------------------------------- */

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

#define HEAP_CAP ((size_t)256 << 20)

typedef struct watched {
    cio_http_session *s;
    const char *url;
    cio_http_client_request_opts o;
    int rc;
    cio_http_client_response *r;
    size_t base, peak; /* heap in use before, and its highest sample */
    bool done;
} watched;

static void *req_main(void *arg)
{
    watched *w = arg;
    w->rc = cio_http_session_request(w->s, "GET", w->url, &w->o, &w->r);
    w->done = true;
    return NULL;
}

/* Runs the request in a task while this one samples the heap every
 * millisecond; past HEAP_CAP the request is cancelled (a missing limit
 * then fails the test instead of exhausting the machine). */
static int watched_get(watched *w)
{
    w->base = w->peak = heap_in_use();
    cio_task *t = cio_spawn(req_main, w);
    while (!w->done) {
        size_t now = heap_in_use();
        if (now > w->peak)
            w->peak = now;
        /* the heap may also shrink below the base (freed buffers of an
         * earlier request): unsigned, now - base would wrap to a huge
         * "growth" and cancel a request that is within its limit */
        if (now > w->base && now - w->base > HEAP_CAP)
            cio_cancel(t, NULL);
        cio_sleep(0.001);
    }
    cio_await(t, NULL);
    cio_release(t);
    return w->rc;
}

/* ---- the tests -------------------------------------------------------------------- */

/* Gets path and checks: a body of want zero/'p' bytes, or -EFBIG and no response. */
static void expect_body(cio_http_session *s, const char *u, const cio_http_client_request_opts *o, size_t want, bool gz,
                        bool fits)
{
    cio_http_client_response *r = (cio_http_client_response *)1;
    int rc = cio_http_session_request(s, "GET", u, o, &r);
    if (!fits) {
        CHECK_EQ(rc, -EFBIG);
        CHECK(r == NULL);
        return;
    }
    CHECK_EQ(rc, 0);
    size_t len = 0;
    const char *b = r ? cio_http_client_response_body(r, &len) : NULL;
    CHECK_EQ(len, want);
    bool same = b != NULL;
    for (size_t i = 0; same && i < len; i++)
        same = b[i] == (gz ? 0 : 'p');
    CHECK(same);
    if (!same)
        fprintf(stderr, "  %s: body differs\n", u);
    cio_http_client_response_free(r);
}

static void *t_boundaries(void *arg)
{
    (void)arg;
    srv h = {0};
    if (!start(&h))
        return NULL;
    cio_http_session *s = cio_http_session_new(&(cio_http_session_opts){.max_body = LIM});
    for (size_t n = LIM - 1; n <= LIM + 1; n++) {
        expect_body(s, url(&h, "/plain/%zu", n), NULL, n, false, n <= LIM);
        expect_body(s, url(&h, "/gzip/%zu", n), NULL, n, true, n <= LIM);
    }
    /* the request's limit wins over the session's, either way */
    cio_http_client_request_opts small = {.max_body = 100}, big = {.max_body = LIM + 1};
    expect_body(s, url(&h, "/plain/%zu", 100), &small, 100, false, true);
    expect_body(s, url(&h, "/plain/%zu", 101), &small, 101, false, false);
    expect_body(s, url(&h, "/gzip/%zu", LIM + 1), &big, LIM + 1, true, true);
    /* a gzip body small on the wire: its decompressed size counts */
    size_t wire;
    free(gz_zeros(LIM + 1, &wire));
    CHECK(wire < LIM / 100);
    cio_http_session_free(s);
    stop(&h);
    return NULL;
}

static void *t_endless(void *arg)
{
    (void)arg;
    srv h = {0};
    if (!start(&h))
        return NULL;
    cio_http_session *s = cio_http_session_new(&(cio_http_session_opts){.max_body = LIM});
    const char *paths[] = {"/bomb", "/endless"};
    for (int i = 0; i < 2; i++) {
        watched w = {.s = s, .url = url(&h, paths[i], 0)};
        CHECK_EQ(watched_get(&w), -EFBIG);
        CHECK(w.r == NULL);
        fprintf(stderr, "  %s: heap grew by %zu KiB at most, %zu KiB on the wire\n", paths[i],
                (w.peak - w.base) >> 10, h.wire >> 10);
        CHECK(w.peak - w.base < 16 * LIM); /* one-sided and generous: the limit is 1 MiB */
    }
    /* the session still works */
    expect_body(s, url(&h, "/plain/%zu", 10), NULL, 10, false, true);
    cio_http_session_free(s);

    /* no max_body: the default stops the bomb */
    s = cio_http_session_new(NULL);
    watched w = {.s = s, .url = url(&h, "/bomb", 0)};
    CHECK_EQ(watched_get(&w), -EFBIG);
    CHECK(w.peak - w.base < 2 * CIO_HTTP_MAX_BODY);
    cio_http_session_free(s);
    stop(&h);
    return NULL;
}

/* Streams u to the end: the byte count, and the final read's result. */
static size_t stream_all(cio_http_session *s, const char *u, const cio_http_client_request_opts *o, ssize_t *last)
{
    cio_http_client_response *r = NULL;
    *last = cio_http_session_request(s, "GET", u, o, &r);
    size_t total = 0;
    char buf[16384];
    while (*last == 0 && (*last = cio_http_client_response_read(r, buf, sizeof buf)) > 0) {
        total += (size_t)*last;
        *last = 0;
    }
    cio_http_client_response_free(r);
    return total;
}

static void *t_stream(void *arg)
{
    (void)arg;
    srv h = {0};
    if (!start(&h))
        return NULL;
    cio_http_session *s = cio_http_session_new(&(cio_http_session_opts){.max_body = LIM});
    cio_http_client_request_opts so = {.stream = true};
    ssize_t last;
    for (size_t n = LIM - 1; n <= LIM + 1; n++) {
        CHECK_EQ(stream_all(s, url(&h, "/gzip/%zu", n), &so, &last), n <= LIM ? n : LIM);
        CHECK_EQ(last, n <= LIM ? 0 : -EFBIG);
    }
    CHECK_EQ(stream_all(s, url(&h, "/bomb", 0), &so, &last), LIM);
    CHECK_EQ(last, -EFBIG);
    CHECK_EQ(stream_all(s, url(&h, "/endless", 0), &so, &last), LIM);
    CHECK_EQ(last, -EFBIG);
    cio_http_session_free(s);
    stop(&h);
    return NULL;
}

/* Malformed responses are CIO_EHTTP (a protocol error), not a bad URL
 * (-EINVAL) nor a reset connection. */
static void *t_malformed(void *arg)
{
    (void)arg;
    srv h = {0};
    if (!start(&h))
        return NULL;
    cio_http_session *s = cio_http_session_new(NULL);
    static const char *const bad[] = {
        "garbage\r\n\r\n", /* no status line (HTTP/0.9) */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nx", /* chunk size too long */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",                  /* not hex */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        h.raw = bad[i];
        cio_http_client_response *r = (cio_http_client_response *)1;
        CHECK_EQ(cio_http_get(s, url(&h, "/raw", 0), &r), CIO_EHTTP);
        CHECK(r == NULL);
    }
    /* libcurl's header limits: 100 KiB a line, 300 KiB in all */
    struct {
        size_t lines, line_len;
        int want;
    } heads[] = {{1, 90 << 10, 0}, {1, 110 << 10, CIO_EHTTP}, {25, 10 << 10, 0}, {35, 10 << 10, CIO_EHTTP}};
    for (size_t i = 0; i < sizeof heads / sizeof *heads; i++) {
        size_t cap = heads[i].lines * (heads[i].line_len + 16) + 128, n = 0;
        char *raw = malloc(cap);
        n += (size_t)snprintf(raw, cap, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n");
        for (size_t k = 0; k < heads[i].lines; k++) {
            n += (size_t)snprintf(raw + n, cap - n, "X-%zu: ", k);
            memset(raw + n, 'v', heads[i].line_len);
            n += heads[i].line_len;
            n += (size_t)snprintf(raw + n, cap - n, "\r\n");
        }
        snprintf(raw + n, cap - n, "\r\nok");
        h.raw = raw;
        cio_http_client_response *r = NULL;
        CHECK_EQ(cio_http_get(s, url(&h, "/raw", 0), &r), heads[i].want);
        if (r)
            CHECK_EQ(cio_http_client_response_nheaders(r), heads[i].lines + 1);
        cio_http_client_response_free(r);
        free(raw);
    }
    /* libcurl's URLs of 8000000 bytes at most (CURL_MAX_INPUT_LENGTH); one
     * that long is sent (the test server refuses such a head: some error) */
    size_t big = 8000000;
    char *u = malloc(big + 2);
    int k = snprintf(u, big + 2, "%s/", h.base);
    memset(u + k, 'a', big + 1 - (size_t)k);
    u[big + 1] = 0;
    cio_http_client_response *r = (cio_http_client_response *)1;
    CHECK_EQ(cio_http_get(s, u, &r), -EINVAL);
    CHECK(r == NULL);
    u[big] = 0;
    int rc = cio_http_get(s, u, &r);
    CHECK(rc != -EINVAL);
    cio_http_client_response_free(r);
    free(u);
    /* libcurl's 5 stacked content encodings at most */
    for (int k = 4; k <= 6; k++) {
        char raw[512];
        int n = snprintf(raw, sizeof raw, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Encoding: identity");
        for (int i = 1; i < k; i++)
            n += snprintf(raw + n, sizeof raw - (size_t)n, ", identity");
        snprintf(raw + n, sizeof raw - (size_t)n, "\r\n\r\nok");
        h.raw = raw;
        cio_http_client_response *r = NULL;
        CHECK_EQ(cio_http_get(s, url(&h, "/raw", 0), &r), k <= 5 ? 0 : CIO_EHTTP);
        cio_http_client_response_free(r);
    }
    cio_http_session_free(s);
    stop(&h);
    return NULL;
}

int main(void)
{
    RUN_TASK_TEST(t_boundaries);
    RUN_TASK_TEST(t_endless);
    RUN_TASK_TEST(t_stream);
    RUN_TASK_TEST(t_malformed);
    return check_exit();
}
