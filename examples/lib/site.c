/* The demo site for `make demo`: a generated web site of interlinked pages
 * served by cio on 127.0.0.1.  Page K links to a handful of other pages in
 * every way HTML allows (relative, absolute, single quotes, entities,
 * fragments, <base>-free ../ paths), to a few pages that do not exist
 * (404), and every 50th page answers slowly. */
#include "crawl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct site {
    size_t pages;
    int port;
} site;

static site the_site;

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* The body of page k (malloc'd). */
static char *page(size_t k, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    if (!b)
        return NULL;
    n += (size_t)snprintf(b + n, cap - n,
                          "<!DOCTYPE html>\n<html><head><title>Page %zu</title></head><body>\n<h1>Page %zu</h1>\n<ul>\n",
                          k, k);
    size_t N = the_site.pages;
    for (int i = 0; i < 8; i++) {
        size_t j = (size_t)(mix(k * 8 + (size_t)i) % N);
        switch (i) {
        case 0: /* relative to /page/ */
            n += (size_t)snprintf(b + n, cap - n, "<li><a href=\"%zu.html\">next %zu</a></li>\n", j, j);
            break;
        case 1: /* absolute URL */
            n += (size_t)snprintf(b + n, cap - n, "<li><a href=\"http://127.0.0.1:%d/page/%zu.html\">abs</a></li>\n",
                                  the_site.port, j);
            break;
        case 2: /* single quotes and a fragment */
            n += (size_t)snprintf(b + n, cap - n, "<li><a class=x href='/page/%zu.html#top'>quoted</a></li>\n", j);
            break;
        case 3: /* an entity in the query */
            n += (size_t)snprintf(b + n, cap - n, "<li><a href=\"../page/%zu.html?a=1&amp;b=2\">query</a></li>\n", j);
            break;
        case 4: /* sequential, so the whole site is reachable */
            n += (size_t)snprintf(b + n, cap - n, "<li><A HREF=/page/%zu.html>seq</A></li>\n", (k + 1) % N);
            break;
        case 5: /* a missing page now and then */
            if (k % 7 == 3)
                n += (size_t)snprintf(b + n, cap - n, "<li><a href=\"/missing/%zu.html\">gone</a></li>\n", k);
            break;
        default:
            n += (size_t)snprintf(b + n, cap - n, "<li><a href=\"/page/%zu.html\">more</a></li>\n", j);
        }
    }
    n += (size_t)snprintf(b + n, cap - n, "<li><a href=\"mailto:site@example.invalid\">mail</a></li>\n</ul></body></html>\n");
    *len = n;
    return b;
}

static int respond(cio_stream *s, int status, const char *reason, const char *body, size_t len)
{
    char head[256];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %zu\r\n\r\n", status,
                      reason, len);
    int rc = cio_stream_write(s, head, (size_t)hl);
    if (rc == 0 && len)
        rc = cio_stream_write(s, body, len);
    return rc == 0 ? cio_stream_drain(s) : rc;
}

static void *handle(cio_stream *s, void *arg)
{
    (void)arg;
    static const char *const end[] = {"\r\n\r\n"};
    for (;;) {
        const char *req;
        size_t rl;
        if (cio_stream_readuntil(s, end, 1, &req, &rl) < 0)
            return NULL;
        size_t k;
        char path[256] = "";
        sscanf(req, "GET %255s", path);
        if (strcmp(path, "/") == 0)
            strcpy(path, "/page/0.html");
        if (sscanf(path, "/page/%zu.html", &k) == 1 && k < the_site.pages) {
            if (k % 50 == 25 && cio_sleep(0.05) < 0)
                return NULL;
            size_t len;
            char *b = page(k, &len);
            int rc = b ? respond(s, 200, "OK", b, len) : respond(s, 500, "Internal Server Error", "", 0);
            free(b);
            if (rc < 0)
                return NULL;
        } else if (respond(s, 404, "Not Found", "<html><body>not found</body></html>\n", 37) < 0) {
            return NULL;
        }
    }
}

int crawl_site_start(size_t pages, cio_server **srv, int *port)
{
    the_site.pages = pages ? pages : 1;
    int rc = cio_start_server(handle, NULL, "127.0.0.1", "0", NULL, srv);
    if (rc < 0)
        return rc;
    *port = the_site.port = cio_server_port(*srv);
    return 0;
}
