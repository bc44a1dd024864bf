/* SPDX-License-Identifier: MIT */
/*
 * http_status -- the streams example of seed 001 ("asyncio中的流使用示例"),
 * ported line by line: the HTTP status line of several URLs, fetched
 * concurrently over (TLS) streams.
 *
 *     async def get_status(url):
 *         url_parsed = urlsplit(url)
 *         try:
 *             if url_parsed.scheme == 'https':
 *                 reader, writer = await asyncio.open_connection(
 *                     url_parsed.hostname, 443, ssl=True)
 *             else:
 *                 reader, writer = await asyncio.open_connection(
 *                     url_parsed.hostname, 80)
 *             query = f'GET {url_parsed.path} HTTP/1.1\r\n'
 *                     f'Host: {url_parsed.hostname}\r\n\r\n'
 *             writer.write(query.encode())
 *             await writer.drain()
 *             response = await reader.readline()
 *             status = response.decode().strip()
 *             return status
 *         except Exception as e:
 *             print(f"Error fetching {url}: {e}")
 *             return None
 *         finally:
 *             writer.close()
 *             await writer.wait_closed()
 *
 *     async def main():
 *         sites = ['https://www.baidu.com/', ..., 'https://www.163.com/']
 *         tasks = [get_status(url) for url in sites]
 *         results = await asyncio.gather(*tasks, return_exceptions=True)
 *         for url, status in zip(sites, results):
 *             if status is not None:
 *                 print(f'{url:30}:\t{status}')
 *             else:
 *                 print(f'{url:30}:\tError')
 *
 *     asyncio.run(main())
 *
 * Differences, all on purpose:
 *   - get_status does not swallow its error: the task fails with it
 *     (cio_fail) and gather(return_exceptions=True) hands it back per URL,
 *     so main prints, in argument order, `URL:<TAB>error: <reason>` where
 *     the article printed a separate "Error fetching" line and then "Error".
 *     A failed URL is not fatal: the exit status is 0 whatever the URLs did.
 *   - the port comes from the URL when it has one (default 443 / 80), the
 *     path defaults to "/" (the article sent an empty one for "https://x"),
 *     the query string is kept, and the request says "Connection: close".
 *   - certificates and host names are verified (as ssl=True does); --cafile
 *     trusts a given CA instead of the system store.
 *   - each check runs under a timeout (--timeout, default 10 s); the article
 *     relied on asyncio's 60 s TLS handshake timeout.
 *   - with no arguments the article's list of sites is checked.
 *
 * Usage: http_status [--cafile PATH] [--timeout SECONDS] [URL...]
 */
#include <cio.h>

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The article's sites. */
static const char *const default_sites[] = {
    "https://www.baidu.com/",   "https://www.bilibili.com/", "https://www.weibo.com/",
    "https://www.douyin.com/",  "https://www.zhihu.com/",    "https://www.taobao.com/",
    "https://www.sohu.com/",    "https://www.tmall.com/",    "https://www.xinhuanet.com/",
    "https://www.163.com/",
};

static const char *cafile;     /* --cafile: trust this CA instead of the system store */
static double timeout_s = 10;  /* --timeout: per URL; <= 0: none */

/* ---- urlsplit ----------------------------------------------------------- */

/* The parts of a URL that get_status needs. */
typedef struct url_parts {
    bool https;
    char host[256];   /* without IPv6 brackets */
    char port[8];     /* the URL's, or 443 / 80 */
    bool port_given;
    char *target;     /* path?query, malloc'd; "/" when the URL has none */
} url_parts;

/* urlsplit(url) for http:// and https:// URLs.  0, or -EINVAL with a reason
 * in *why. */
static int url_split(const char *url, url_parts *u, const char **why)
{
    memset(u, 0, sizeof *u);
    const char *p = strstr(url, "://");
    if (!p) {
        *why = "not a URL (no scheme)";
        return -EINVAL;
    }
    size_t slen = (size_t)(p - url);
    if (slen == 5 && strncasecmp(url, "https", 5) == 0)
        u->https = true;
    else if (slen == 4 && strncasecmp(url, "http", 4) == 0)
        u->https = false;
    else {
        *why = "unsupported scheme (only http and https)";
        return -EINVAL;
    }
    const char *auth = p + 3;
    size_t alen = strcspn(auth, "/?#");
    const char *rest = auth + alen;
    /* Drop any user:password@. */
    for (size_t i = alen; i > 0; i--)
        if (auth[i - 1] == '@') {
            alen -= i;
            auth += i;
            break;
        }
    const char *host = auth, *port = NULL;
    size_t hlen;
    if (alen > 0 && auth[0] == '[') { /* [IPv6]:port */
        const char *close = memchr(auth, ']', alen);
        if (!close) {
            *why = "invalid IPv6 address (no ']')";
            return -EINVAL;
        }
        host = auth + 1;
        hlen = (size_t)(close - host);
        const char *after = close + 1;
        if (after < auth + alen) {
            if (*after != ':') {
                *why = "invalid authority after ']'";
                return -EINVAL;
            }
            port = after + 1;
        }
    } else {
        const char *colon = memchr(auth, ':', alen);
        hlen = colon ? (size_t)(colon - auth) : alen;
        if (colon)
            port = colon + 1;
    }
    if (hlen == 0) {
        *why = "no host name";
        return -EINVAL;
    }
    if (hlen >= sizeof u->host) {
        *why = "host name too long";
        return -EINVAL;
    }
    memcpy(u->host, host, hlen);
    u->host[hlen] = '\0';
    if (port && port < auth + alen) {
        size_t plen = (size_t)(auth + alen - port);
        unsigned long v = 0;
        for (size_t i = 0; i < plen; i++) {
            if (port[i] < '0' || port[i] > '9' || (v = v * 10 + (unsigned long)(port[i] - '0')) > 65535) {
                *why = "invalid port";
                return -EINVAL;
            }
        }
        if (v == 0) {
            *why = "invalid port";
            return -EINVAL;
        }
        snprintf(u->port, sizeof u->port, "%lu", v);
        u->port_given = true;
    } else {
        strcpy(u->port, u->https ? "443" : "80");
    }
    /* The request target: path and query, without the fragment. */
    size_t tlen = strcspn(rest, "#");
    bool slash = tlen == 0 || rest[0] != '/';
    u->target = malloc(tlen + 2);
    if (!u->target) {
        *why = NULL;
        return -ENOMEM;
    }
    snprintf(u->target, tlen + 2, "%s%.*s", slash ? "/" : "", (int)tlen, rest);
    return 0;
}

/* ---- get_status --------------------------------------------------------- */

/* The part of get_status that runs under the timeout.  On success *status
 * is the malloc'd status line, stripped. */
static int fetch_status(const url_parts *u, char **status)
{
    const cio_tls_opts tls = {.ca_file = cafile};
    const cio_stream_opts opts = {.tls = u->https ? &tls : NULL};

    /* reader, writer = await asyncio.open_connection(hostname, port, ssl=True) */
    cio_stream *s = NULL;
    int rc = cio_open_connection(u->host, u->port, &opts, &s);
    if (rc < 0)
        return rc;

    /* query = f'GET {path} HTTP/1.1\r\nHost: {hostname}\r\n\r\n' */
    bool v6 = strchr(u->host, ':') != NULL;
    char *query = NULL;
    int qlen = asprintf(&query,
                        "GET %s HTTP/1.1\r\n"
                        "Host: %s%s%s%s%s\r\n"
                        "Connection: close\r\n"
                        "\r\n",
                        u->target, v6 ? "[" : "", u->host, v6 ? "]" : "", u->port_given ? ":" : "",
                        u->port_given ? u->port : "");
    if (qlen < 0) {
        cio_stream_abort(s);
        return -ENOMEM;
    }

    /* writer.write(query.encode()); await writer.drain() */
    rc = cio_stream_write(s, query, (size_t)qlen);
    free(query);
    if (rc == 0)
        rc = cio_stream_drain(s);

    /* response = await reader.readline(); status = response.decode().strip() */
    const char *line = NULL;
    size_t len = 0;
    if (rc == 0)
        rc = cio_stream_readline(s, &line, &len);
    if (rc == 0 && len == 0)
        rc = CIO_EINCOMPLETE; /* EOF before any status line */
    if (rc == 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
                           line[len - 1] == '\t'))
            len--;
        while (len > 0 && (line[0] == ' ' || line[0] == '\t')) {
            line++;
            len--;
        }
        *status = strndup(line, len);
        if (!*status)
            rc = -ENOMEM;
    }

    /* finally: writer.close(); await writer.wait_closed().  Once we have the
     * status line, a failing close does not matter. */
    if (rc == 0) {
        (void)cio_stream_close(s);
    } else if (rc == -ECANCELED) {
        cio_stream_abort(s); /* don't linger in close() when told to stop */
    } else {
        (void)cio_stream_close(s);
    }
    return rc;
}

/* async def get_status(url): the task's result is the malloc'd status line;
 * on failure the task fails with the error and a message saying what went
 * wrong. */
static void *get_status(void *arg)
{
    const char *url = arg;
    url_parts u;
    const char *why = NULL;
    int rc = url_split(url, &u, &why);
    if (rc < 0)
        return why ? cio_fail(rc, "%s", why) : cio_fail(rc, NULL);

    char *status = NULL;
    cio_timeout tmo;
    rc = cio_timeout_enter(&tmo, timeout_s > 0 ? timeout_s : CIO_NO_TIMEOUT);
    if (rc == 0)
        rc = cio_timeout_exit(&tmo, fetch_status(&u, &status));
    free(u.target);

    if (status && rc == -ETIMEDOUT) { /* the line came in; only the close ran late */
        rc = 0;
    }
    if (rc < 0) {
        free(status);
        if (rc == -ETIMEDOUT)
            return cio_fail(rc, "timed out after %g seconds", timeout_s);
        if (rc == CIO_EINCOMPLETE)
            return cio_fail(rc, "connection closed before the status line");
        return cio_fail(rc, NULL);
    }
    return status;
}

/* ---- main --------------------------------------------------------------- */

typedef struct sites {
    const char *const *v;
    size_t n;
} sites;

static void *main_task(void *arg)
{
    const sites *s = arg;

    /* tasks = [get_status(url) for url in sites] */
    cio_task **tasks = calloc(s->n, sizeof *tasks);
    char **results = calloc(s->n, sizeof *results);
    int *errors = calloc(s->n, sizeof *errors);
    if (!tasks || !results || !errors) {
        free(tasks);
        free(results);
        free(errors);
        return cio_fail(-ENOMEM, NULL);
    }
    size_t n = 0;
    int rc = 0;
    for (; n < s->n; n++) {
        const cio_task_opts topts = {.name = s->v[n]};
        tasks[n] = cio_spawn_ex(NULL, get_status, (void *)s->v[n], &topts);
        if (!tasks[n]) {
            rc = -errno;
            break;
        }
    }

    /* results = await asyncio.gather(*tasks, return_exceptions=True) */
    if (rc == 0)
        rc = cio_gather(tasks, n, (void **)results, errors, CIO_RETURN_EXCEPTIONS);
    else
        for (size_t i = 0; i < n; i++)
            cio_cancel(tasks[i], NULL);

    /* for url, status in zip(sites, results): print(f'{url:30}:\t{status}') */
    if (rc == 0) {
        for (size_t i = 0; i < n; i++) {
            if (errors[i] == 0) {
                printf("%-30s:\t%s\n", s->v[i], results[i]);
            } else {
                const char *msg = cio_error_message(tasks[i]);
                printf("%-30s:\terror: %s\n", s->v[i], msg ? msg : cio_strerror(errors[i]));
            }
        }
    }

    for (size_t i = 0; i < n; i++) {
        free(results[i]);
        cio_release(tasks[i]);
    }
    free(tasks);
    free(results);
    free(errors);
    return rc ? cio_fail(rc, NULL) : NULL;
}

static void usage(FILE *out, const char *prog)
{
    fprintf(out,
            "usage: %s [--cafile PATH] [--timeout SECONDS] [URL...]\n"
            "  Prints the HTTP status line of each URL (http:// or https://), checked\n"
            "  concurrently; with no URL, the article's list of sites.\n"
            "  --cafile PATH      trust the CA certificates in PATH instead of the system store\n"
            "  --timeout SECONDS  give up on a URL after SECONDS (default 10; 0: never)\n",
            prog);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"cafile", required_argument, NULL, 'c'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    char *end;
    while ((opt = getopt_long(argc, argv, "c:t:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            cafile = optarg;
            break;
        case 't':
            timeout_s = strtod(optarg, &end);
            if (*end || end == optarg || !(timeout_s >= 0) || timeout_s > 1e9) {
                fprintf(stderr, "%s: bad timeout '%s'\n", argv[0], optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout, argv[0]);
            return 0;
        default:
            usage(stderr, argv[0]);
            return 2;
        }
    }

    sites s = {default_sites, sizeof default_sites / sizeof default_sites[0]};
    if (optind < argc) {
        s.v = (const char *const *)(argv + optind);
        s.n = (size_t)(argc - optind);
    }

    setvbuf(stdout, NULL, _IOLBF, 0);
    /* asyncio.run(main()) */
    int rc = cio_run(main_task, &s, NULL);
    if (rc) {
        fprintf(stderr, "%s: %s\n", argv[0], cio_strerror(rc));
        return rc == -EINTR ? 130 : 1;
    }
    return 0;
}
