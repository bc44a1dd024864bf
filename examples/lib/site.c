/* SPDX-License-Identifier: MIT */
/* The demo site for `make demo` and the title crawler: a generated web
 * site of interlinked pages served by cio's HTTP server on 127.0.0.1.
 * Page K links to a handful of other pages in every way HTML allows
 * (relative, absolute, single quotes, entities, fragments, <base>-free ../
 * paths), to a few pages that do not exist (404), and to its article,
 * /article/K.html, whose titles are marked up as on the site of article
 * 004 (<h3 class="info-title shuang">): 1 + K % 3 of them.  Every 50th
 * page answers slowly. */
#include "crawl.h"

#include <errno.h>
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
    n += (size_t)snprintf(b + n, cap - n,
                          "<li><a href=\"/article/%zu.html\">article</a></li>\n"
                          "<li><a href=\"mailto:site@example.invalid\">mail</a></li>\n</ul></body></html>\n",
                          k);
    *len = n;
    return b;
}

/* The article of page k: its titles, and a link home (malloc'd).  Only
 * one URL leads to an article, so a crawler that keys on URLs stores each
 * title once. */
static char *article(size_t k, size_t *len)
{
    size_t cap = 2048, n = 0;
    char *b = malloc(cap);
    if (!b)
        return NULL;
    n += (size_t)snprintf(b + n, cap - n,
                          "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Article %zu</title></head>"
                          "<body>\n<div class=\"list\">\n",
                          k);
    for (size_t i = 0; i < crawl_site_titles_of(k); i++)
        n += (size_t)snprintf(b + n, cap - n,
                              "<div class=\"info\"><h3 class=\"info-title shuang\">协程的那点事 %zu.%zu: asyncio &amp; "
                              "aiomysql</h3><p>...</p></div>\n",
                              k, i + 1);
    n += (size_t)snprintf(b + n, cap - n, "</div>\n<a href=\"/page/%zu.html\">back</a></body></html>\n", k);
    *len = n;
    return b;
}

size_t crawl_site_titles_of(size_t k) { return 1 + k % 3; }

/* The number K in "K.html", if it names one of the site's pages. */
static bool page_number(const char *name, size_t *k)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(name, &end, 10);
    if (end == name || name[0] < '0' || name[0] > '9' || errno || strcmp(end, ".html") != 0 || v >= the_site.pages)
        return false;
    *k = (size_t)v;
    return true;
}

static int send_html(cio_http_response *res, char *body, size_t len)
{
    if (!body)
        return cio_http_response_text(res, 500, "out of memory");
    cio_http_response_header(res, "Content-Type", "text/html; charset=utf-8");
    int rc = cio_http_response_body(res, body, len);
    free(body);
    return rc;
}

static int not_found(cio_http_response *res)
{
    static const char body[] = "<html><body>not found</body></html>\n";
    cio_http_response_status(res, 404);
    cio_http_response_header(res, "Content-Type", "text/html; charset=utf-8");
    return cio_http_response_body(res, body, sizeof body - 1);
}

static int on_page(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const char *name = cio_http_request_param(req, "name");
    size_t k = 0, len = 0;
    if (name && !page_number(name, &k))
        return not_found(res);
    if (k % 50 == 25 && cio_sleep(0.05) < 0)
        return -ECANCELED;
    char *b = page(k, &len);
    return send_html(res, b, len);
}

static int on_article(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    size_t k, len = 0;
    if (!page_number(cio_http_request_param(req, "name"), &k))
        return not_found(res);
    char *b = article(k, &len);
    return send_html(res, b, len);
}

static int on_other(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req, (void)arg;
    return not_found(res);
}

int crawl_site_start(size_t pages, cio_http_server **out, int *port)
{
    the_site.pages = pages ? pages : 1;
    cio_http_server *srv = cio_http_server_new(NULL);
    if (!srv)
        return -errno;
    int rc = cio_http_server_route(srv, "GET", "/", on_page, NULL);
    if (rc == 0)
        rc = cio_http_server_route(srv, "GET", "/page/{name}", on_page, NULL);
    if (rc == 0)
        rc = cio_http_server_route(srv, "GET", "/article/{name}", on_article, NULL);
    if (rc == 0)
        rc = cio_http_server_route(srv, NULL, "/{rest*}", on_other, NULL);
    if (rc == 0)
        rc = cio_http_server_listen(srv, "127.0.0.1", "0");
    if (rc < 0) {
        cio_http_server_free(srv);
        return rc;
    }
    *out = srv;
    *port = the_site.port = cio_http_server_port(srv);
    return 0;
}
