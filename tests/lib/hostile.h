/* SPDX-License-Identifier: MIT */
/* A raw HTTP/1.1 server on cio streams (cio_start_server, 127.0.0.1, a
 * free port) serving hostile bodies to the client and crawler tests:
 *   /plain/N   N bytes 'p' (Content-Length)
 *   /gzip/N    N zero bytes gzip-encoded (Content-Encoding: gzip)
 *   /bomb      an endless gzip bomb (chunked, about 160:1)
 *   /endless   an endless plain body (chunked)
 *   /page      srv.page as text/html (if set)
 *   /raw       srv.raw verbatim (a whole response, hostile or not), then EOF
 * A body written until the client goes away records its wire size. */
#ifndef CIO_TESTS_HOSTILE_H
#define CIO_TESTS_HOSTILE_H

#include "gzbomb.h"
#include "http_exchange.h"

#include <cio.h>
#include <stdio.h>

typedef struct srv {
    cio_server *srv;
    char base[64];
    size_t wire;      /* bytes of the last endless body written (after drain) */
    const char *page; /* /page */
    const char *raw;  /* /raw */
} srv;

static int send_chunk(cio_stream *s, const void *d, size_t n)
{
    char h[32];
    int k = snprintf(h, sizeof h, "%zx\r\n", n);
    int rc = cio_stream_write(s, h, (size_t)k);
    if (rc == 0)
        rc = cio_stream_write(s, d, n);
    return rc < 0 ? rc : send_all(s, "\r\n", 2);
}

static int serve(srv *h, cio_stream *s, const char *path)
{
    char head[256];
    if (!strcmp(path, "/raw") && h->raw) {
        send_all(s, h->raw, strlen(h->raw));
        return -EPIPE; /* then close */
    }
    if (!strcmp(path, "/page") && h->page) {
        snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %zu\r\n\r\n",
                 strlen(h->page));
        int rc = cio_stream_write(s, head, strlen(head));
        return rc < 0 ? rc : send_all(s, h->page, strlen(h->page));
    }
    if (!strncmp(path, "/plain/", 7) || !strncmp(path, "/gzip/", 6)) {
        bool gz = path[1] == 'g';
        size_t n = strtoul(strchr(path + 1, '/') + 1, NULL, 10), len = n;
        unsigned char *body = gz ? gz_zeros(n, &len) : malloc(n);
        if (!gz)
            memset(body, 'p', n);
        snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n%s\r\n", len,
                 gz ? "Content-Encoding: gzip\r\n" : "");
        int rc = cio_stream_write(s, head, strlen(head));
        if (rc == 0)
            rc = send_all(s, body, len);
        free(body);
        return rc;
    }
    bool bomb = strcmp(path, "/bomb") == 0;
    snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n%s\r\n",
             bomb ? "Content-Encoding: gzip\r\n" : "");
    int rc = send_all(s, head, strlen(head));
    gzbomb b = {0};
    if (bomb)
        gz_begin(&b);
    static char plain[64 * 1024];
    memset(plain, 'e', sizeof plain);
    h->wire = 0;
    while (rc == 0) {
        if (bomb)
            gz_runs(&b, 4096); /* 1 MiB decompressed in 6.5 KiB */
        const void *d = bomb ? (const void *)b.buf : (const void *)plain;
        size_t n = bomb ? b.len : sizeof plain;
        rc = send_chunk(s, d, n);
        if (rc == 0)
            h->wire += n;
        b.len = 0;
    }
    free(b.buf);
    return rc;
}

static void *handler(cio_stream *s, void *arg)
{
    srv *h = arg;
    static const char *const end[] = {"\r\n\r\n"};
    const char *d;
    size_t n;
    while (cio_stream_readuntil(s, end, 1, &d, &n) == 0) {
        char path[128] = "";
        sscanf(d, "GET %127s", path);
        if (serve(h, s, path) < 0)
            break;
    }
    cio_stream_close(s);
    return NULL;
}

static bool start(srv *h)
{
    int rc = cio_start_server(handler, h, "127.0.0.1", "0", NULL, &h->srv);
    CHECK_EQ(rc, 0);
    snprintf(h->base, sizeof h->base, "http://127.0.0.1:%d", rc ? 0 : cio_server_port(h->srv));
    return rc == 0;
}

static void stop(srv *h)
{
    CHECK_EQ(server_stop(h->srv), 0);
}

static const char *url(const srv *h, const char *fmt, size_t n)
{
    static char buf[4][160];
    static int k;
    char *u = buf[k++ % 4], path[64];
    snprintf(path, sizeof path, fmt, n);
    snprintf(u, sizeof buf[0], "%s%s", h->base, path);
    return u;
}

#endif
