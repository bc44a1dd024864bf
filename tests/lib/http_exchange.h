/* SPDX-License-Identifier: MIT */
/* Raw HTTP/1.1 on cio streams, for the tests of the HTTP server and client
 * (test_http_server, test_http_server_limits through http_server_fixture.h;
 * test_http_client, test_http_limits and test_crawl through hostile.h or
 * directly): bytes written as given, responses read byte-exactly, so that
 * malformed input can be sent and exactly what came back checked.
 * Needs check.h (included here); static functions, one program each.
 *
 *   open_client(port)        a connection to 127.0.0.1:port (CHECKed)
 *   send_all(s, d, n)        write and drain: 0 or an error
 *   send_str(s, str)         the same for a string
 *   read_resp(s, &r)         one response (5 s at most): status, head, body
 *                            (Content-Length, chunked, or until EOF); then
 *                            resp_free(&r).  read_resp_ex: head only, timeout
 *   resp_header(&r, name, out, n)  a header's value, or NULL
 *   exchange(s, raw, &r)     send raw, read one response, CHECKing both
 *   expect_status_close(port, raw, status)  on a new connection: that
 *                            status, "Connection: close" and the close
 *   closed_within(s, secs)   whether the peer closes the connection in time
 *   server_stop(srv)         close a cio_server, wait for its handlers (10 s
 *                            at most) and free it */
#ifndef CIO_TESTS_LIB_HTTP_EXCHANGE_H
#define CIO_TESTS_LIB_HTTP_EXCHANGE_H

#include "../check.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct resp {
    int status;
    char head[4096];
    char *body;
    size_t blen;
    bool chunked;
} resp;

static inline void resp_free(resp *r)
{
    free(r->body);
    r->body = NULL;
    r->blen = 0;
}

static inline cio_stream *open_client(int port)
{
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    cio_stream *s = NULL;
    CHECK_EQ(cio_open_connection("127.0.0.1", ps, NULL, &s), 0);
    return s;
}

/* Writes d[0, n) and waits until it is flushed: 0 or an error. */
static inline int send_all(cio_stream *s, const void *d, size_t n)
{
    int rc = cio_stream_write(s, d, n);
    return rc < 0 ? rc : cio_stream_drain(s);
}

static inline int send_str(cio_stream *s, const char *str) { return send_all(s, str, strlen(str)); }

/* The value of a header in r's head (case-insensitive name), copied to out. */
static inline const char *resp_header(const resp *r, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    const char *p = strstr(r->head, "\r\n");
    while (p && p[2] != '\r') {
        p += 2;
        if (!strncasecmp(p, name, nl) && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t l = strcspn(v, "\r");
            if (l >= n)
                l = n - 1;
            memcpy(out, v, l);
            out[l] = '\0';
            return out;
        }
        p = strstr(p, "\r\n");
    }
    return NULL;
}

static inline int resp_append(resp *r, const char *d, size_t n)
{
    char *nb = realloc(r->body, r->blen + n + 1);
    if (!nb)
        return -ENOMEM;
    r->body = nb;
    memcpy(r->body + r->blen, d, n);
    r->blen += n;
    r->body[r->blen] = '\0';
    return 0;
}

/* Reads one response (head, then its body unless head_only). */
static inline int read_resp_inner(cio_stream *s, resp *r, bool head_only)
{
    static const char *const crlf2[] = {"\r\n\r\n"}, *const crlf[] = {"\r\n"};
    const char *d;
    size_t n;
    int rc = cio_stream_readuntil(s, crlf2, 1, &d, &n);
    if (rc < 0)
        return rc;
    size_t hl = n < sizeof r->head - 1 ? n : sizeof r->head - 1;
    memcpy(r->head, d, hl);
    r->head[hl] = '\0';
    if (sscanf(r->head, "HTTP/1.1 %d", &r->status) != 1)
        return -EPROTO;
    resp_append(r, "", 0);
    char v[64];
    if (head_only || r->status < 200 || r->status == 204 || r->status == 304)
        return 0;
    if (resp_header(r, "Transfer-Encoding", v, sizeof v)) {
        r->chunked = !strcmp(v, "chunked");
        for (;;) {
            if ((rc = cio_stream_readuntil(s, crlf, 1, &d, &n)) < 0)
                return rc;
            size_t sz = strtoul(d, NULL, 16);
            if (sz == 0) {
                if ((rc = cio_stream_readuntil(s, crlf, 1, &d, &n)) < 0) /* no trailers from us */
                    return rc;
                return n == 2 ? 0 : -EPROTO;
            }
            char *buf = malloc(sz + 2);
            rc = cio_stream_readexactly(s, buf, sz + 2, NULL);
            if (rc == 0)
                resp_append(r, buf, sz);
            free(buf);
            if (rc < 0)
                return rc;
        }
    }
    if (resp_header(r, "Content-Length", v, sizeof v)) {
        size_t cl = strtoul(v, NULL, 10);
        char *buf = malloc(cl + 1);
        rc = cio_stream_readexactly(s, buf, cl, NULL);
        if (rc == 0)
            resp_append(r, buf, cl);
        free(buf);
        return rc;
    }
    char *all;
    if ((rc = cio_stream_read_all(s, &all, &n)) < 0) /* until the server closes */
        return rc;
    resp_append(r, all, n);
    free(all);
    return 0;
}

static inline int read_resp_ex(cio_stream *s, resp *r, bool head_only, double timeout)
{
    memset(r, 0, sizeof *r);
    cio_timeout sc;
    cio_timeout_enter(&sc, timeout);
    int rc = read_resp_inner(s, r, head_only);
    return cio_timeout_exit(&sc, rc);
}

static inline int read_resp(cio_stream *s, resp *r) { return read_resp_ex(s, r, false, 5.0); }

/* Whether the server closes the connection (EOF or reset) within timeout. */
static inline bool closed_within(cio_stream *s, double timeout)
{
    cio_timeout sc;
    cio_timeout_enter(&sc, timeout);
    char buf[256];
    ssize_t n;
    do
        n = cio_stream_read(s, buf, sizeof buf);
    while (n > 0);
    n = cio_timeout_exit(&sc, (int)n);
    return n == 0 || n == -ECONNRESET || n == -EPIPE;
}

/* Sends raw bytes on a new connection; expects one response with status
 * and the connection closed after it. */
static inline void expect_status_close(int port, const char *raw, int status)
{
    cio_stream *s = open_client(port);
    CHECK_EQ(send_str(s, raw), 0);
    resp r;
    int rc = read_resp(s, &r);
    CHECK_EQ(rc, 0);
    if (r.status != status)
        fprintf(stderr, "  request %.60s...: status %d, wanted %d\n", raw, r.status, status);
    CHECK_EQ(r.status, status);
    char v[64];
    CHECK(resp_header(&r, "Connection", v, sizeof v) && !strcmp(v, "close"));
    CHECK(closed_within(s, 3.0));
    resp_free(&r);
    cio_stream_close(s);
}

/* One request, one response on s. */
static inline void exchange(cio_stream *s, const char *raw, resp *r)
{
    CHECK_EQ(send_str(s, raw), 0);
    CHECK_EQ(read_resp(s, r), 0);
}

/* Closes srv, waits at most 10 s for its handlers to return and frees it.
 * Returns what the wait returned: 0, or -ETIMEDOUT (handlers cancelled). */
static inline int server_stop(cio_server *srv)
{
    cio_server_close(srv);
    cio_timeout sc;
    cio_timeout_enter(&sc, 10.0);
    int rc = cio_timeout_exit(&sc, cio_server_wait_closed(srv));
    cio_server_free(srv);
    return rc;
}

#endif
