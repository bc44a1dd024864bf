/* SPDX-License-Identifier: MIT */
/* The crawler's engine (see crawl.h): fetch with cio's HTTP client, extract
 * links with libxml2, resolve them with libcurl's URL API, write results
 * with cio's async files, log in the article's format. */
#include "crawl.h"

#include <curl/curl.h>
#include <errno.h>
#include <libxml/HTMLparser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---- string set --------------------------------------------------------- */

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int strset_grow(strset *set)
{
    size_t cap = set->cap ? set->cap * 2 : 64;
    char **slot = calloc(cap, sizeof *slot);
    if (!slot)
        return -ENOMEM;
    for (size_t i = 0; i < set->cap; i++) {
        char *s = set->slot[i];
        if (!s)
            continue;
        size_t j = hash(s) & (cap - 1);
        while (slot[j])
            j = (j + 1) & (cap - 1);
        slot[j] = s;
    }
    free(set->slot);
    set->slot = slot;
    set->cap = cap;
    return 0;
}

int strset_add(strset *set, const char *s)
{
    if ((set->n + 1) * 10 > set->cap * 7 && strset_grow(set) < 0)
        return -ENOMEM;
    size_t j = hash(s) & (set->cap - 1);
    while (set->slot[j]) {
        if (strcmp(set->slot[j], s) == 0)
            return 0;
        j = (j + 1) & (set->cap - 1);
    }
    if (!(set->slot[j] = strdup(s)))
        return -ENOMEM;
    set->n++;
    return 1;
}

bool strset_has(const strset *set, const char *s)
{
    if (!set->cap)
        return false;
    for (size_t j = hash(s) & (set->cap - 1); set->slot[j]; j = (j + 1) & (set->cap - 1))
        if (strcmp(set->slot[j], s) == 0)
            return true;
    return false;
}

void strset_free(strset *set)
{
    for (size_t i = 0; i < set->cap; i++)
        free(set->slot[i]);
    free(set->slot);
    set->slot = NULL;
    set->cap = set->n = 0;
}

/* ---- links -------------------------------------------------------------- */

/* Whether href starts with an RFC 3986 scheme ("mailto:", "http:"...). */
static bool has_scheme(const char *href)
{
    const char *p = href;
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
        return false;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' ||
           *p == '.')
        p++;
    return *p == ':';
}

static bool is_ctl(unsigned char c) { return c < 0x20 || c == 0x7f; }

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if (is_ctl((unsigned char)*s))
            return true;
    return false;
}

/* Percent-encodes the C0 controls and DEL left in a URL (WHATWG's C0
 * control percent-encode set), so no output line can be split or forged by
 * one (\v, \f and friends are line breaks to some readers).  Frees url. */
static char *escape_controls(char *url)
{
    size_t extra = 0;
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        extra += is_ctl(*p) ? 2 : 0;
    if (!extra)
        return url;
    char *out = malloc(strlen(url) + extra + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)url; out && *p; p++)
        o += is_ctl(*p) ? sprintf(o, "%%%02X", *p) : (*o = (char)*p, 1);
    if (out)
        *o = 0;
    free(url);
    return out;
}

/* RFC 3986 reference resolution, done by libcurl (not by hand).  An
 * absolute URI libcurl does not model (mailto:, javascript:, data:) is
 * kept as it is, as Python's urljoin does (its controls escaped). */
/* A same-document reference ("" or "#f"), which libcurl resolves against
 * the base's directory: "" is the base itself (as urljoin gives it), "#f"
 * the base with its fragment replaced (RFC 3986 5.2.2: an empty path keeps
 * the base's path and query). */
static char *same_document(const char *base, const char *href)
{
    size_t keep = *href ? strcspn(base, "#") : strlen(base);
    size_t n = keep + strlen(href);
    char *out = malloc(n + 1);
    if (out)
        snprintf(out, n + 1, "%.*s%s", (int)keep, base, href);
    return out;
}

char *crawl_urljoin(const char *base, const char *href)
{
    if (!*href || *href == '#') {
        char *same = same_document(base, href);
        return same ? escape_controls(same) : NULL;
    }
    CURLU *u = curl_url();
    char *out = NULL;
    if (!u)
        return NULL;
    if (curl_url_set(u, CURLUPART_URL, base, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, href, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
        char *s = NULL;
        if (curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK) {
            out = strdup(s);
            curl_free(s);
        }
    }
    curl_url_cleanup(u);
    if (!out && has_scheme(href))
        out = strdup(href);
    return out ? escape_controls(out) : NULL;
}

/* An href as the WHATWG URL parser takes it: leading and trailing C0
 * controls and spaces stripped, every ASCII tab and newline removed (so
 * "x:a&#10;https://bank.example/" cannot become two lines of output). */
static char *trimmed(const xmlChar *v)
{
    const unsigned char *s = v;
    while (*s && *s <= 0x20)
        s++;
    size_t n = strlen((const char *)s);
    while (n && s[n - 1] <= 0x20)
        n--;
    char *out = malloc(n + 1), *o = out;
    for (size_t i = 0; out && i < n; i++)
        if (s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            *o++ = (char)s[i];
    if (out)
        *o = 0;
    return out;
}

static bool is(const xmlNode *n, const char *name) { return n->type == XML_ELEMENT_NODE && strcasecmp((const char *)n->name, name) == 0; }

/* The next node in document order, without recursion (pages can nest
 * deeply, and this runs on a task's stack). */
static xmlNode *next_node(xmlNode *n)
{
    if (n->children && n->type == XML_ELEMENT_NODE)
        return n->children;
    while (n) {
        if (n->next)
            return n->next;
        n = n->parent;
        if (n && n->type == XML_HTML_DOCUMENT_NODE)
            return NULL;
    }
    return NULL;
}

int crawl_extract_links(const char *html, size_t len, const char *page_url, strset *out)
{
    if (len > INT32_MAX)
        return -EFBIG;
    htmlDocPtr doc = htmlReadMemory(html, (int)len, page_url, NULL,
                                    HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET);
    if (!doc)
        return 0; /* nothing parseable: no links */
    xmlNode *root = xmlDocGetRootElement(doc);
    char *base = strdup(page_url);
    int added = 0;
    /* <base href> changes what relative links are resolved against */
    for (xmlNode *n = root; n && base; n = next_node(n)) {
        if (is(n, "base")) {
            xmlChar *v = xmlGetProp(n, (const xmlChar *)"href");
            if (v) {
                char *t = trimmed(v);
                char *nb = t ? crawl_urljoin(page_url, t) : NULL;
                free(t);
                xmlFree(v);
                if (nb) {
                    free(base);
                    base = nb;
                }
            }
            break;
        }
    }
    for (xmlNode *n = root; n && base; n = next_node(n)) {
        if (!(is(n, "a") || is(n, "area") || is(n, "link")))
            continue;
        xmlChar *v = xmlGetProp(n, (const xmlChar *)"href");
        if (!v)
            continue;
        char *t = trimmed(v);
        xmlFree(v);
        char *abs = t ? crawl_urljoin(base, t) : NULL;
        free(t);
        if (abs) {
            int r = strset_add(out, abs);
            if (r > 0)
                added++;
            free(abs);
        }
    }
    free(base);
    xmlFreeDoc(doc);
    return added;
}

char *crawl_normalize(const char *url)
{
    CURLU *u = curl_url();
    char *out = NULL, *scheme = NULL, *s = NULL;
    if (!u)
        return NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0)) {
        curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
        /* libcurl decodes %XX in a host name: "%7F" comes out raw */
        if (curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK && !has_ctl(s))
            out = strdup(s);
    }
    curl_free(scheme);
    curl_free(s);
    curl_url_cleanup(u);
    return out;
}

char *crawl_host(const char *url)
{
    CURLU *u = curl_url();
    char *h = NULL, *out = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK && curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK)
        out = strdup(h);
    curl_free(h);
    curl_url_cleanup(u);
    return out;
}

/* ---- the crawl ---------------------------------------------------------- */

typedef struct crawl {
    const crawl_opts *o;
    crawl_stats *st;
    cio_http_session *sess;
    cio_queue *q;
    strset seen, hosts;
    size_t outstanding; /* queued or being fetched */
    size_t inflight;
    size_t enqueued;
    double t0;
    const char *log;
} crawl;

static void enqueue(crawl *c, const char *url)
{
    if (c->o->max_pages && c->enqueued >= c->o->max_pages)
        return;
    char *u = strdup(url);
    if (!u)
        return;
    if (cio_queue_put_nowait(c->q, u) < 0) {
        free(u);
        return;
    }
    c->enqueued++;
    c->outstanding++;
}

static void follow(crawl *c, strset *links)
{
    for (size_t i = 0; i < links->cap; i++) {
        const char *l = links->slot[i];
        if (!l)
            continue;
        char *norm = crawl_normalize(l);
        if (!norm)
            continue;
        bool ok = true;
        if (c->o->same_host) {
            char *h = crawl_host(norm);
            ok = h && strset_has(&c->hosts, h);
            free(h);
        }
        if (ok && strset_add(&c->seen, norm) == 1)
            enqueue(c, norm);
        free(norm);
    }
}

static void process(crawl *c, const char *url)
{
    c->inflight++;
    cio_http_client_response *r = NULL;
    cio_http_client_request_opts ro = {.raise_for_status = true,
                            .timeout_total = c->o->timeout > 0 ? c->o->timeout : 30,
                            .max_body = c->o->max_body ? c->o->max_body : CRAWL_MAX_BODY};
    int rc = cio_http_session_request(c->sess, "GET", url, &ro, &r);
    c->inflight--;
    if (rc == CIO_EHTTPSTATUS) {
        const char *reason = cio_http_client_response_reason(r);
        cio_log(CIO_LOG_ERROR, c->log, "aiohttp exception for %s [%d]: %s", url, cio_http_client_response_status(r),
                reason && *reason ? reason : "None");
        c->st->errors++;
        cio_http_client_response_free(r);
        return;
    }
    if (rc == -EFBIG) {
        cio_log(CIO_LOG_ERROR, c->log, "aiohttp exception for %s [None]: body longer than %zu bytes (skipped)", url,
                ro.max_body);
        c->st->errors++;
        return;
    }
    if (rc < 0) {
        if (rc != -ECANCELED) {
            cio_log(CIO_LOG_ERROR, c->log, "aiohttp exception for %s [None]: %s", url, cio_strerror(rc));
            c->st->errors++;
        }
        return;
    }
    cio_log(CIO_LOG_INFO, c->log, "Got response [%d] for URL: %s", cio_http_client_response_status(r), url);
    c->st->pages++;
    size_t len;
    const char *body = cio_http_client_response_body(r, &len);
    c->st->bytes += len;
    strset links = {0};
    int n = crawl_extract_links(body, len, url, &links);
    cio_http_client_response_free(r);
    if (n < 0) {
        cio_log(CIO_LOG_ERROR, c->log, "Error parsing %s: %s", url, cio_strerror(n));
        c->st->errors++;
        return;
    }
    cio_log(CIO_LOG_INFO, c->log, "Found %zu links for %s", links.n, url);
    if (links.n) {
        /* one append per page: lines of one page stay together */
        size_t cap = 0;
        for (size_t i = 0; i < links.cap; i++)
            if (links.slot[i])
                cap += strlen(url) + strlen(links.slot[i]) + 2;
        char *buf = malloc(cap + 1), *p = buf;
        if (buf) {
            for (size_t i = 0; i < links.cap; i++)
                if (links.slot[i])
                    p += sprintf(p, "%s\t%s\n", url, links.slot[i]);
            int w = cio_file_append_all(c->o->out_path, buf, (size_t)(p - buf));
            free(buf);
            if (w < 0) {
                cio_log(CIO_LOG_ERROR, c->log, "Cannot write %s: %s", c->o->out_path, cio_strerror(w));
            } else {
                c->st->links += links.n;
                cio_log(CIO_LOG_INFO, c->log, "Wrote results for source URL: %s", url);
            }
        }
        if (c->o->follow)
            follow(c, &links);
    }
    strset_free(&links);
}

static void *worker(void *arg)
{
    crawl *c = arg;
    for (;;) {
        void *u;
        if (cio_queue_get(c->q, &u) < 0)
            return NULL; /* shut down: the crawl is over */
        process(c, u);
        free(u);
        if (--c->outstanding == 0)
            cio_queue_shutdown(c->q, false, NULL);
    }
}

static void progress_line(crawl *c, bool tty)
{
    double dt = cio_time() - c->t0;
    double rate = dt > 0 ? (double)c->st->pages / dt : 0;
    if (tty)
        fprintf(stderr, "\r\033[K[%-30.*s] %zu pages, %zu in flight, %zu errors, %.0f pages/s",
                (int)(c->enqueued ? 30 * (c->st->pages + c->st->errors) / c->enqueued : 0),
                "##############################", c->st->pages, c->inflight, c->st->errors, rate);
    else
        fprintf(stderr, "crawl: %zu pages, %zu in flight, %zu errors, %.0f pages/s\n", c->st->pages, c->inflight,
                c->st->errors, rate);
}

static void *ticker(void *arg)
{
    crawl *c = arg;
    bool tty = c->o->progress == 1;
    while (cio_sleep(tty ? 0.1 : 2.0) == 0)
        progress_line(c, tty);
    return NULL;
}

int crawl_run(char *const *urls, size_t n, const crawl_opts *o, crawl_stats *st)
{
    memset(st, 0, sizeof *st);
    crawl c = {.o = o, .st = st, .log = o->logger ? o->logger : "crawl"};
    c.t0 = cio_time();
    xmlInitParser();
    static const char header[] = "source_url\tparsed_url\n";
    int rc = cio_file_write_all(o->out_path, header, sizeof header - 1);
    if (rc < 0)
        return rc;
    size_t conc = o->concurrency ? o->concurrency : 64;
    cio_http_session_opts so = {.limit = (long)conc, .ca_file = o->ca_file, .timeout_connect = 10};
    if (!(c.sess = cio_http_session_new(&so)) || !(c.q = cio_queue_new(0))) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (strset_add(&c.seen, urls[i]) != 1)
            continue; /* the article reads urls.txt into a set */
        char *h = crawl_host(urls[i]);
        if (h)
            strset_add(&c.hosts, h);
        free(h);
        enqueue(&c, urls[i]);
    }
    if (c.outstanding == 0)
        goto out;
    size_t nw = o->follow ? conc : (c.outstanding < conc ? c.outstanding : conc);
    cio_task **ws = calloc(nw, sizeof *ws);
    cio_task *tick = o->progress ? cio_spawn(ticker, &c) : NULL;
    if (!ws) {
        rc = -ENOMEM;
    } else {
        cio_task_opts to = {.stack_size = 256 * 1024}; /* libxml2 parses on the task's stack */
        size_t started = 0;
        for (; started < nw; started++)
            if (!(ws[started] = cio_spawn_ex(NULL, worker, &c, &to)))
                break;
        rc = cio_gather(ws, started, NULL, NULL, CIO_RETURN_EXCEPTIONS);
        if (rc < 0) /* we were cancelled: stop the workers */
            for (size_t i = 0; i < started; i++)
                cio_cancel(ws[i], NULL);
        for (size_t i = 0; i < started; i++) {
            cio_await(ws[i], NULL);
            cio_release(ws[i]);
        }
    }
    free(ws);
    if (tick) {
        cio_cancel(tick, NULL);
        cio_await(tick, NULL);
        cio_release(tick);
        progress_line(&c, o->progress == 1);
        if (o->progress == 1)
            fputc('\n', stderr);
    }
out:
    if (c.q) {
        void *u;
        while (cio_queue_get_nowait(c.q, &u) == 0)
            free(u);
        cio_queue_free(c.q);
    }
    cio_http_session_free(c.sess);
    strset_free(&c.seen);
    strset_free(&c.hosts);
    st->seconds = cio_time() - c.t0;
    return rc == -ECANCELED ? rc : 0;
}

void crawl_print_summary(FILE *out, const crawl_stats *st)
{
    fprintf(out, "Crawled %zu pages (%zu errors), wrote %zu links, %.1f MiB in %.2f s: %.0f pages/s\n", st->pages,
            st->errors, st->links, (double)st->bytes / (1024.0 * 1024.0), st->seconds,
            st->seconds > 0 ? (double)st->pages / st->seconds : 0.0);
}
