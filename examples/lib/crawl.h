/* SPDX-License-Identifier: MIT */
/* The crawler's engine of examples/cio-crawl.c (the tool); examples/areq.c
 * (the article's program) takes its string set and URL joining. */
#ifndef CIO_EXAMPLES_CRAWL_H
#define CIO_EXAMPLES_CRAWL_H

#include <cio.h>

/* A set of strings (open addressing), for links and visited URLs. */
typedef struct strset {
    char **slot;
    size_t cap, n;
} strset;

/* Adds a copy of s; returns 1 if added, 0 if already there, -ENOMEM. */
int strset_add(strset *set, const char *s);
bool strset_has(const strset *set, const char *s);
void strset_free(strset *set);

/* Extracts the links of an HTML page with libxml2's HTML parser (so single
 * quotes, entities and odd markup work): every href of a, area and link
 * elements, resolved against the page's URL (or its <base href>) per RFC
 * 3986 with libcurl's URL API.  An href is first cleaned as the WHATWG URL
 * parser does (ASCII tab and newline removed, C0 controls and spaces
 * trimmed at both ends); controls left in a URL kept verbatim (mailto:...)
 * are percent-encoded: no link contains a byte below 0x20 or DEL.  Adds
 * the absolute URLs to out (a set: each link once).  Returns the number of
 * links added, or a negative code. */
int crawl_extract_links(const char *html, size_t len, const char *page_url, strset *out);

/* urllib.parse.urljoin(base, href) by RFC 3986 (libcurl's URL API): a
 * malloc'd absolute URL, or NULL if either cannot be parsed.  An absolute
 * URI libcurl does not model (mailto:...) is kept as it is; C0 controls and
 * DEL in the result are percent-encoded.  Unlike Python's, libcurl
 * normalises what it rebuilds: spaces percent-encoded, "http://h" given its
 * "/", dot segments of an absolute URL removed. */
char *crawl_urljoin(const char *base, const char *href);

/* Strips the fragment and checks the scheme is http or https: returns a
 * malloc'd normalised URL, or NULL if the URL is not crawlable (also when
 * it would hold a control byte: libcurl decodes %XX in host names). */
char *crawl_normalize(const char *url);

/* The host part of a URL (malloc'd), or NULL. */
char *crawl_host(const char *url);

typedef struct crawl_opts {
    size_t concurrency;    /* requests in flight at most (0: 64) */
    size_t max_pages;      /* 0: no limit */
    bool same_host;        /* only follow links to the start URLs' hosts */
    bool follow;           /* crawl recursively, or only the start URLs */
    double timeout;        /* per request, seconds (0: 30) */
    const char *out_path;  /* foundurls.txt */
    const char *ca_file;   /* trust this CA for https */
    int progress;          /* 0 none, 1 terminal progress bar, 2 plain periodic lines */
    const char *logger;    /* logger name (NULL: "crawl") */
    size_t max_body;       /* a page's body at most, decompressed (0: CRAWL_MAX_BODY); longer: an error line */
} crawl_opts;

#define CRAWL_MAX_BODY ((size_t)10 << 20) /* 10 MiB */

typedef struct crawl_stats {
    size_t pages;      /* fetched with a 2xx status */
    size_t errors;     /* HTTP errors and connection errors */
    size_t links;      /* links written */
    size_t bytes;      /* body bytes received */
    double seconds;
} crawl_stats;

/* Crawls from the start URLs as a task on the current loop; writes
 * "source_url<TAB>parsed_url" lines to opts->out_path (after a header line)
 * through async file writes, and logs as the article's areq.py does.
 * Suspends.  Returns 0 or a negative code (errors of single pages are
 * logged and counted, never fatal). */
int crawl_run(char *const *urls, size_t n, const crawl_opts *opts, crawl_stats *st);

/* Prints the end-of-crawl summary. */
void crawl_print_summary(FILE *out, const crawl_stats *st);

/* The demo site (make demo, the title crawler): serves `pages` generated,
 * interlinked pages on 127.0.0.1 from the current loop with cio's HTTP
 * server, some of them missing (404) and some slow; page K links to
 * /article/K.html, which carries crawl_site_titles_of(K) titles in
 * <h3 class="info-title shuang">.  Suspends.  Returns 0 with the server
 * (serve it with cio_http_server_serve_forever, free it with
 * cio_http_server_free) and its port, or a negative code. */
int crawl_site_start(size_t pages, cio_http_server **srv, int *port);
size_t crawl_site_titles_of(size_t k);

#endif
