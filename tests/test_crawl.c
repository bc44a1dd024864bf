/* SPDX-License-Identifier: MIT */
/* The crawler's engine (examples/lib/crawl.c) against hostile pages served
 * on 127.0.0.1 by a raw cio server (tests/lib/hostile.h):
 *
 *   links with CR, LF, TAB, vertical tab and leading/trailing controls
 *   (`<a href="x:a&#10;https://bank.example/&#9;https://evil.example/">`)
 *   never forge a line of foundurls.txt: every line is "source<TAB>link"
 *   with no control byte, the hrefs cleaned as the WHATWG URL parser does;
 *   a gzip bomb and an endless body are skipped with an error line at the
 *   crawler's default limit (10 MiB), and max_body at limit-1 / limit /
 *   limit+1 of a page's decompressed size.
 *
 * Exit 0 = pass. */
/* CIO_TEST: TIMEOUT=120 */
#include "check.h"
#include "crawl.h"
#include "lib/hostile.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char hostile_page[] =
    "<html><body>\n"
    "<a href=\"x:a&#10;https://bank.example/&#9;https://evil.example/\">forge</a>\n"
    "<a href=\" &#13;&#10;/p?q=1&#13;&#10;\t\">trimmed</a>\n"
    "<a href=\"mailto:a\x0b" "b\x01" "c\">raw controls</a>\n"
    "<a href=\"java&#9;script:alert(1)\">tab in scheme</a>\n"
    "<a href=\"/o&#10;k\">ok</a>\n"
    "</body></html>\n";

/* Per process: the test runs on several back ends at once in one directory. */
static char out_path[64], log_path[64];

/* The file's text (malloc'd), or NULL. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strdup(buf);
}

/* Every line after the header is "source<TAB>link" with no other control
 * byte; returns the number of such lines, -1 if one is malformed. */
static int check_lines(const char *text, const char *source)
{
    const char *header = "source_url\tparsed_url\n";
    if (strncmp(text, header, strlen(header)) != 0)
        return -1;
    int lines = 0;
    for (const char *p = text + strlen(header); *p; lines++) {
        const char *nl = strchr(p, '\n');
        if (!nl || strncmp(p, source, strlen(source)) != 0 || p[strlen(source)] != '\t')
            return -1;
        for (const char *q = p + strlen(source) + 1; q < nl; q++)
            if ((unsigned char)*q < 0x20 || *q == 0x7f)
                return -1;
        p = nl + 1;
    }
    return lines;
}

static bool has_line(const char *text, const char *source, const char *link)
{
    char want[512];
    snprintf(want, sizeof want, "\n%s\t%s\n", source, link);
    return strstr(text, want) != NULL;
}

static int crawl(char **urls, size_t n, size_t max_body, crawl_stats *st)
{
    crawl_opts o = {.out_path = out_path, .logger = "crawltest", .max_body = max_body, .timeout = 30};
    return crawl_run(urls, n, &o, st);
}

static void *t_hostile_links(void *arg)
{
    (void)arg;
    srv h = {.page = hostile_page};
    if (!start(&h))
        return NULL;
    char *page = strdup(url(&h, "/page", 0));
    crawl_stats st;
    CHECK_EQ(crawl(&page, 1, 0, &st), 0);
    CHECK_EQ(st.pages, 1);
    char *text = slurp(out_path);
    CHECK(text != NULL);
    if (text) {
        CHECK_EQ(check_lines(text, page), 5);
        CHECK(has_line(text, page, "x:ahttps://bank.example/https://evil.example/"));
        CHECK(has_line(text, page, "mailto:a%0Bb%01c"));
        CHECK(has_line(text, page, "javascript:alert(1)"));
        char abs[256];
        snprintf(abs, sizeof abs, "%s/p?q=1", h.base);
        CHECK(has_line(text, page, abs));
        snprintf(abs, sizeof abs, "%s/ok", h.base);
        CHECK(has_line(text, page, abs));
        CHECK(!strstr(text, "\nhttps://bank.example/"));
        if (check_failures)
            fprintf(stderr, "  foundurls:\n%s", text);
    }
    free(text);
    free(page);
    stop(&h);
    unlink(out_path);
    return NULL;
}

static size_t count(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void *t_body_limit(void *arg)
{
    (void)arg;
    srv h = {0};
    if (!start(&h))
        return NULL;
    CHECK_EQ(cio_log_set_file(log_path), 0);
    /* the crawler's default: 10 MiB, bombs and endless bodies skipped */
    char *urls[] = {strdup(url(&h, "/bomb", 0)), strdup(url(&h, "/endless", 0)), strdup(url(&h, "/plain/%zu", 1000))};
    crawl_stats st;
    CHECK_EQ(crawl(urls, 3, 0, &st), 0);
    CHECK_EQ(st.pages, 1);
    CHECK_EQ(st.errors, 2);
    /* max_body at a page's size -1, +0, +1 (decompressed: gzip pages) */
    const size_t n = 100000;
    char *gz = strdup(url(&h, "/gzip/%zu", n));
    for (size_t lim = n - 1; lim <= n + 1; lim++) {
        CHECK_EQ(crawl(&gz, 1, lim, &st), 0);
        CHECK_EQ(st.pages, lim >= n ? 1 : 0);
        CHECK_EQ(st.errors, lim >= n ? 0 : 1);
    }
    cio_log_flush();
    cio_log_set_file(NULL);
    char *log = slurp(log_path);
    CHECK(log != NULL);
    if (log) {
        char want[256];
        snprintf(want, sizeof want, "ERROR:crawltest: aiohttp exception for %s [None]: body longer than %zu bytes", urls[0],
                 CRAWL_MAX_BODY);
        CHECK(strstr(log, want) != NULL);
        snprintf(want, sizeof want, "aiohttp exception for %s [None]: body longer than %zu bytes", gz, n - 1);
        CHECK_EQ(count(log, want), 1);
        CHECK_EQ(count(log, "body longer than"), 3);
        if (check_failures)
            fprintf(stderr, "  log:\n%s", log);
    }
    free(log);
    for (int i = 0; i < 3; i++)
        free(urls[i]);
    free(gz);
    stop(&h);
    unlink(log_path);
    unlink(out_path);
    return NULL;
}

/* crawl_normalize: libcurl decodes %XX in a host name; a control byte it
 * decodes there makes the URL uncrawlable (found by fuzz/crawl_links). */
static void t_normalize(void)
{
    check_current = "t_normalize";
    int fails = check_failures;
    char *u = crawl_normalize("http://a%7Fb.example/x");
    CHECK(u == NULL);
    free(u);
    CHECK((u = crawl_normalize("http://a%0Ab.example/x")) == NULL);
    free(u);
    u = crawl_normalize("HTTP://Ok.Example/p?q#frag");
    CHECK(u && strcmp(u, "http://Ok.Example/p?q") == 0);
    free(u);
    fprintf(stderr, "%s t_normalize\n", check_failures == fails ? "ok  " : "FAIL");
}

/* crawl_urljoin against what Python's urllib.parse.urljoin gives (the
 * article's areq.py calls it); libcurl alone resolved "#f" against the
 * directory and "" to the directory. */
static void t_urljoin(void)
{
    check_current = "t_urljoin";
    int fails = check_failures;
    static const char base[] = "http://127.0.0.1:8/page/1.html";
    static const char *const cases[][2] = {
        {"", "http://127.0.0.1:8/page/1.html"},
        {"#f", "http://127.0.0.1:8/page/1.html#f"},
        {"?q", "http://127.0.0.1:8/page/1.html?q"},
        {"2.html", "http://127.0.0.1:8/page/2.html"},
        {"../x/./y.html?a=1&amp;b=2", "http://127.0.0.1:8/x/y.html?a=1&amp;b=2"},
        {"../../../x", "http://127.0.0.1:8/x"},
        {"//other/x", "http://other/x"},
        {"/p#top", "http://127.0.0.1:8/p#top"},
        {"mailto:x@y", "mailto:x@y"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *u = crawl_urljoin(base, cases[i][0]);
        CHECK(u && strcmp(u, cases[i][1]) == 0);
        if (!u || strcmp(u, cases[i][1]) != 0)
            fprintf(stderr, "  urljoin(base, \"%s\") = %s\n", cases[i][0], u ? u : "NULL");
        free(u);
    }
    /* a fragment of the base is replaced, not kept */
    char *u = crawl_urljoin("http://h/a.html#old", "#new");
    CHECK(u && strcmp(u, "http://h/a.html#new") == 0);
    free(u);
    fprintf(stderr, "%s t_urljoin\n", check_failures == fails ? "ok  " : "FAIL");
}

int main(void)
{
    snprintf(out_path, sizeof out_path, "crawl-out-%d.txt", (int)getpid());
    snprintf(log_path, sizeof log_path, "crawl-log-%d.txt", (int)getpid());
    RUN_TEST(t_normalize);
    RUN_TEST(t_urljoin);
    RUN_TASK_TEST(t_hostile_links);
    RUN_TASK_TEST(t_body_limit);
    return check_exit();
}
