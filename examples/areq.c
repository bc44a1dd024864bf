/* SPDX-License-Identifier: MIT */
/* areq: "Asynchronously get links embedded in multiple pages' HTML."
 * Article 000's areq.py ported function by function, in its order:
 * fetch_html, parse, write_one, bulk_crawl_and_write and the main block.
 * It reads the URLs of urls.txt into a set, GETs them all concurrently over
 * one session (aiohttp.ClientSession: a connection pool), finds the links
 * of each page with the article's regex, joins them to the page's URL as
 * urllib.parse.urljoin does, and appends "source_url<TAB>parsed_url" lines
 * to foundurls.txt through async file calls (aiofiles), logging the
 * article's lines.  tests/examples_areq.sh runs it beside the Python
 * program (tests/areq.py) on one site and compares the two outputs.
 *
 *     areq [-i urls.txt] [-o foundurls.txt] [--cafile CA.pem]
 */
#include "crawl.h" /* strset (Python's set), crawl_urljoin (urljoin) */

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const logger = "areq"; /* logging.getLogger("areq") */

/* HREF_RE = re.compile(r'href="(.*?)"').  POSIX regular expressions have
 * no non-greedy `.*?`; it stops at the first `"` after `href="`, and
 * Python's `.` matches anything but a newline, so the group is the longest
 * run of characters that are neither `"` nor newline: the same matches.
 * The newline in the bracket below is a real one (POSIX gives `\n` inside
 * brackets no meaning).  Case-sensitive, as the Python pattern is. */
static const char HREF_PATTERN[] = "href=\"([^\"\n]*)\"";
static regex_t HREF_RE;

typedef struct write_one_args {
    const char *file;
    const char *url;
    cio_http_session *session;
} write_one_args;

/* GET request wrapper to fetch page HTML: resp.raise_for_status() (a status
 * >= 400 is CIO_EHTTPSTATUS), then the "Got response" line.  0 with *resp
 * (its body is resp.text()), or the error, *resp set for a status error. */
static int fetch_html(const char *url, cio_http_session *session, cio_http_client_response **resp)
{
    cio_http_client_request_opts o = {.raise_for_status = true};
    int rc = cio_http_session_request(session, "GET", url, &o, resp);
    if (rc < 0)
        return rc;
    cio_log(CIO_LOG_INFO, logger, "Got response [%d] for URL: %s", cio_http_client_response_status(*resp), url);
    return 0;
}

/* The except clauses of parse(): a status error has a status and a message
 * (aiohttp.ClientResponseError); a connection, DNS, TLS or protocol error
 * has neither ([None]; cio names the cause where aiohttp prints None);
 * out of memory is the "Non-aiohttp exception". */
static void log_fetch_error(const char *url, int rc, const cio_http_client_response *resp)
{
    if (rc == CIO_EHTTPSTATUS) {
        const char *reason = cio_http_client_response_reason(resp);
        cio_log(CIO_LOG_ERROR, logger, "aiohttp exception for %s [%d]: %s", url, cio_http_client_response_status(resp),
                reason && *reason ? reason : "None");
    } else if (rc == -ENOMEM) {
        cio_log(CIO_LOG_ERROR, logger, "Non-aiohttp exception occured:  %s", cio_strerror(rc));
    } else {
        cio_log(CIO_LOG_ERROR, logger, "aiohttp exception for %s [None]: %s", url, cio_strerror(rc));
    }
}

/* for link in HREF_RE.findall(html): abslink = urljoin(url, link) into
 * found.  REG_STARTEND bounds the search by the body's length, so a NUL
 * byte in a page does not end it (Python's str has no terminator). */
static int find_links(const char *url, const char *html, size_t len, strset *found)
{
    regmatch_t m[2];
    for (size_t at = 0; at < len; at = (size_t)m[0].rm_eo) {
        m[0].rm_so = (regoff_t)at;
        m[0].rm_eo = (regoff_t)len;
        if (regexec(&HREF_RE, html, 2, m, REG_STARTEND) != 0)
            break;
        char *link = strndup(html + m[1].rm_so, (size_t)(m[1].rm_eo - m[1].rm_so));
        if (!link)
            return -ENOMEM;
        char *abslink = crawl_urljoin(url, link);
        if (!abslink)
            cio_log(CIO_LOG_ERROR, logger, "Error parsing URL: %s", link);
        int rc = abslink ? strset_add(found, abslink) : 0;
        free(abslink);
        free(link);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Find HREFs in the HTML of `url`: fills found (empty after an error,
 * which is logged, not returned).  Returns 0, or -ECANCELED when the task
 * is cancelled (CancelledError is not an Exception: it propagates). */
static int parse(const char *url, cio_http_session *session, strset *found)
{
    cio_http_client_response *resp = NULL;
    int rc = fetch_html(url, session, &resp);
    if (rc == -ECANCELED)
        return rc;
    if (rc < 0) {
        log_fetch_error(url, rc, resp);
        cio_http_client_response_free(resp);
        return 0;
    }
    size_t len;
    const char *html = cio_http_client_response_body(resp, &len);
    rc = find_links(url, html, len, found);
    cio_http_client_response_free(resp);
    if (rc < 0) {
        log_fetch_error(url, rc, NULL);
        strset_free(found);
        return 0;
    }
    cio_log(CIO_LOG_INFO, logger, "Found %zu links for %s", found->n, url);
    return 0;
}

/* f.write(f"{url}\t{p}\n") */
static int write_line(cio_file *f, const char *url, const char *p)
{
    size_t n = strlen(url) + strlen(p) + 2;
    char *line = malloc(n + 1);
    if (!line)
        return -ENOMEM;
    snprintf(line, n + 1, "%s\t%s\n", url, p);
    ssize_t w = cio_file_write(f, line, n);
    free(line);
    return w < 0 ? (int)w : 0;
}

/* Write the found HREFs from `url` to `file`: `async with
 * aiofiles.open(file, "a") as f`, one awaited write per link.  A task:
 * an error opening or writing the file ends it (and the gather) with that
 * error, as the OSError would end the Python program. */
static void *write_one(void *arg)
{
    write_one_args *a = arg;
    strset res = {0};
    int rc = parse(a->url, a->session, &res);
    if (rc < 0 || res.n == 0) {
        strset_free(&res);
        return rc < 0 ? cio_fail(rc, NULL) : NULL;
    }
    cio_file *f;
    rc = cio_file_open(a->file, "a", &f);
    if (rc == 0) {
        for (size_t i = 0; rc == 0 && i < res.cap; i++)
            if (res.slot[i])
                rc = write_line(f, a->url, res.slot[i]);
        if (rc == 0)
            cio_log(CIO_LOG_INFO, logger, "Wrote results for source URL: %s", a->url);
        int closed = cio_file_close(f);
        rc = rc < 0 ? rc : closed;
    }
    strset_free(&res);
    if (rc < 0 && rc != -ECANCELED)
        cio_log(CIO_LOG_ERROR, logger, "Cannot write %s: %s", a->file, cio_strerror(rc));
    return rc < 0 ? cio_fail(rc, NULL) : NULL;
}

typedef struct bulk_args {
    const char *file;
    const strset *urls;
    const char *ca_file;
} bulk_args;

/* Crawl & write concurrently to `file` for multiple `urls`: one session
 * (`async with ClientSession() as session`), one write_one task per URL,
 * asyncio.gather over them all.  If one fails, gather returns its error at
 * once; the others are cancelled and awaited before the session closes (as
 * asyncio.run cancels what is left). */
static void *bulk_crawl_and_write(void *arg)
{
    bulk_args *a = arg;
    /* aiohttp's defaults: 100 connections, 5 minutes per request */
    cio_http_session_opts so = {.limit = 100, .timeout_total = 300, .ca_file = a->ca_file};
    cio_http_session *session = cio_http_session_new(&so);
    cio_task **tasks = calloc(a->urls->n ? a->urls->n : 1, sizeof *tasks);
    write_one_args *args = calloc(a->urls->n ? a->urls->n : 1, sizeof *args);
    size_t n = 0;
    int rc = session && tasks && args ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < a->urls->cap; i++) {
        if (!a->urls->slot[i])
            continue;
        args[n] = (write_one_args){.file = a->file, .url = a->urls->slot[i], .session = session};
        if (!(tasks[n] = cio_spawn(write_one, &args[n])))
            rc = -ENOMEM;
        else
            n++;
    }
    if (rc == 0)
        rc = cio_gather(tasks, n, NULL, NULL, 0);
    for (size_t i = 0; i < n; i++) {
        cio_cancel(tasks[i], NULL);
        cio_await(tasks[i], NULL);
        cio_release(tasks[i]);
    }
    free(args);
    free(tasks);
    cio_http_session_free(session);
    return rc < 0 ? cio_fail(rc, NULL) : NULL;
}

/* urls = set(map(str.strip, infile)) */
static int read_urls(const char *path, strset *urls)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while (rc >= 0 && (len = getline(&line, &cap, f)) >= 0) {
        char *s = line, *e = line + len;
        while (s < e && isspace((unsigned char)*s))
            s++;
        while (e > s && isspace((unsigned char)e[-1]))
            e--;
        *e = 0;
        rc = strset_add(urls, s);
    }
    free(line);
    fclose(f);
    return rc < 0 ? rc : 0;
}

/* with open(outpath, "w") as outfile: outfile.write("source_url\tparsed_url\n") */
static int write_header(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    int ok = fputs("source_url\tparsed_url\n", f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -EIO;
}

int main(int argc, char **argv)
{
    const char *in = "urls.txt";
    bulk_args a = {.file = "foundurls.txt"};
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-i") || !strcmp(argv[i], "--input")) && i + 1 < argc)
            in = argv[++i];
        else if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc)
            a.file = argv[++i];
        else if (!strcmp(argv[i], "--cafile") && i + 1 < argc)
            a.ca_file = argv[++i];
        else {
            fprintf(stderr, "usage: %s [-i urls.txt] [-o foundurls.txt] [--cafile CA.pem]\n", argv[0]);
            return 2;
        }
    }
    cio_log_set_level(CIO_LOG_DEBUG); /* logging.basicConfig(level=logging.DEBUG) */
    if (regcomp(&HREF_RE, HREF_PATTERN, REG_EXTENDED) != 0) {
        fprintf(stderr, "areq: cannot compile %s\n", HREF_PATTERN);
        return 1;
    }
    strset urls = {0};
    a.urls = &urls;
    int rc = read_urls(in, &urls);
    if (rc < 0)
        fprintf(stderr, "areq: %s: %s\n", in, cio_strerror(rc));
    else if ((rc = write_header(a.file)) < 0)
        fprintf(stderr, "areq: %s: %s\n", a.file, cio_strerror(rc));
    else if ((rc = cio_run(bulk_crawl_and_write, &a, NULL)) < 0)
        fprintf(stderr, "areq: %s\n", cio_strerror(rc));
    strset_free(&urls);
    regfree(&HREF_RE);
    cio_log_flush();
    return rc < 0 ? 1 : 0;
}
