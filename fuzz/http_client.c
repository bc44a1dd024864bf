/* SPDX-License-Identifier: MIT */
/* Fuzz target: the HTTP client (src/http/client.c over libcurl) reading
 * hostile responses.  A raw cio server on 127.0.0.1, in the same loop,
 * answers the request with the input's bytes (in pieces, then closes);
 * cio_http_session_request must return a response or a clear error, never
 * crash, hang or leak, and never hand out more body than max_body.
 *
 * Input: byte 0 flags (bit 0: streaming, bit 1: HEAD, bit 2: raise_for_status,
 * bit 3: a 1-byte max_body instead of 4 KiB), byte 1 the size of the pieces
 * the response is written in (1 + b % 64 bytes; b = 0: all at once), then
 * the response. */
#include <cio.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY 4096

typedef struct fz {
    const uint8_t *resp;
    size_t len, piece;
    int flags;
    char url[64];
} fz;

/* Whether the request's head has arrived (read a byte at a time: cheap on
 * buffered bytes; cio_stream_readuntil on a stream that has never buffered
 * anything computes NULL + 0 in stream.c, which clang's UBSan stops on). */
static bool read_head(cio_stream *s)
{
    uint32_t last = 0;
    unsigned char c;
    size_t got;
    while (cio_stream_readexactly(s, &c, 1, &got) == 0)
        if ((last = last << 8 | c) == 0x0d0a0d0a)
            return true;
    return false;
}

static void *handler(cio_stream *s, void *arg)
{
    fz *f = arg;
    if (read_head(s)) {
        for (size_t off = 0; off < f->len;) {
            size_t k = f->piece && f->len - off > f->piece ? f->piece : f->len - off;
            if (cio_stream_write(s, f->resp + off, k) < 0 || cio_stream_drain(s) < 0)
                break;
            off += k;
        }
    }
    cio_stream_close(s);
    return NULL;
}

static void require(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "http_client: %s\n", what);
        abort();
    }
}

static void use_response(fz *f, cio_http_client_response *r, size_t max)
{
    require(cio_http_client_response_reason(r) != NULL, "no reason phrase");
    for (size_t i = 0; i < cio_http_client_response_nheaders(r); i++)
        require(cio_http_client_response_header_at(r, i) != NULL, "header index");
    (void)cio_http_client_response_header(r, "Content-Type");
    (void)cio_http_client_response_url(r);
    if (!(f->flags & 1)) {
        size_t len;
        const char *b = cio_http_client_response_body(r, &len);
        require(b && b[len] == 0 && len <= max, "buffered body past max_body or not terminated");
        return;
    }
    char buf[512];
    size_t total = 0;
    ssize_t k;
    while ((k = cio_http_client_response_read(r, buf, sizeof buf)) > 0)
        total += (size_t)k;
    require(total <= max, "streamed body past max_body");
}

static void *fuzz_main(void *arg)
{
    fz *f = arg;
    cio_server *srv;
    if (cio_start_server(handler, f, "127.0.0.1", "0", NULL, &srv) < 0)
        abort();
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d/", cio_server_port(srv));
    size_t max = f->flags & 8 ? 1 : MAX_BODY;
    cio_http_session_opts so = {.timeout_total = 5, .timeout_connect = 5, .max_redirects = -1, .max_body = max};
    cio_http_session *s = cio_http_session_new(&so);
    cio_http_client_request_opts ro = {.stream = f->flags & 1, .raise_for_status = f->flags & 4};
    cio_http_client_response *r = NULL;
    int rc = cio_http_session_request(s, f->flags & 2 ? "HEAD" : "GET", f->url, &ro, &r);
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "http_client: %d (%s) status %d\n", rc, cio_strerror(rc),
                r ? cio_http_client_response_status(r) : 0);
    require(rc <= 0, "positive result");
    require((rc == 0 || rc == CIO_EHTTPSTATUS) == (r != NULL), "response and result disagree");
    if (r) {
        use_response(f, r, max);
        cio_http_client_response_free(r);
    }
    cio_http_session_free(s);
    cio_server_close(srv);
    cio_server_wait_closed(srv);
    cio_server_free(srv);
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    fz f = {.resp = data + 2, .len = size - 2, .flags = data[0], .piece = data[1] ? 1 + data[1] % 64 : 0};
    if (cio_run(fuzz_main, &f, NULL) != 0)
        abort();
    return 0;
}
