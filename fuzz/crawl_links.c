/* SPDX-License-Identifier: MIT */
/* Fuzz target: the crawler's link extraction and URL resolution
 * (examples/lib/crawl.c) on random HTML and base URLs.
 *
 * Input: the base URL up to the first newline, the page after it (no
 * newline: the whole input is the page of http://example.com/dir/page.html).
 * Invariants (abort on a violation): no extracted link holds a byte below
 * 0x20 or DEL (so none can forge a line of foundurls.txt); every link the
 * crawler would follow (crawl_normalize) is an absolute http(s) URL with a
 * host and no fragment, equally free of controls. */
#include "crawl.h"

#include <libxml/parser.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void require(bool ok, const char *what, const char *url)
{
    if (!ok) {
        fprintf(stderr, "crawl_links: %s: \"%s\"\n", what, url);
        abort();
    }
}

static bool clean(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

static void check_link(const char *link)
{
    require(clean(link), "control byte in a link", link);
    char *norm = crawl_normalize(link);
    if (!norm)
        return;
    require(!strncmp(norm, "http://", 7) || !strncmp(norm, "https://", 8), "followed link not http(s)", norm);
    require(clean(norm), "control byte in a followed link", norm);
    require(!strchr(norm, '#'), "fragment kept", norm);
    char *host = crawl_host(norm);
    require(host && *host, "followed link without a host", norm);
    free(host);
    free(norm);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    xmlInitParser();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t blen = nl ? (size_t)(nl - data) : 0;
    char *base = nl ? strndup((const char *)data, blen) : strdup("http://example.com/dir/page.html");
    const char *html = (const char *)data + (nl ? blen + 1 : 0);
    size_t hlen = size - (nl ? blen + 1 : 0);
    strset links = {0};
    int n = crawl_extract_links(html, hlen, base, &links);
    if (n >= 0)
        require((size_t)n == links.n, "count differs from the set", base);
    for (size_t i = 0; i < links.cap; i++)
        if (links.slot[i])
            check_link(links.slot[i]);
    strset_free(&links);
    free(base);
    return 0;
}
