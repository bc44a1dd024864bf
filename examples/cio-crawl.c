/* SPDX-License-Identifier: MIT */
/* cio-crawl: a concurrent web crawler on cio (the areq engine, recursive).
 *
 *   cio-crawl [options] [URL...]
 *     -i FILE          start URLs from FILE (one per line)
 *     -c N             requests in flight at most (default 64)
 *     -n N             stop after N pages (default: no limit)
 *     --same-host      only follow links to the start URLs' hosts
 *     -t SECONDS       per-request timeout (default 30)
 *     --max-body BYTES a page's body at most, decompressed (default 10 MiB):
 *                      a longer page is skipped with an error line
 *     -o FILE          output (default foundurls.txt)
 *     --cafile FILE    trust this CA for https
 *     --quiet          no per-page log lines (the default with --demo)
 *     -v               per-page log lines even with --demo
 *     --demo [PAGES]   crawl a generated local site of PAGES pages (default
 *                      3000) served by cio on 127.0.0.1 in a thread of its
 *                      own: what `make demo` runs
 *     --serve PAGES    only serve that site: print "port N" and run until
 *                      killed (for tests)
 *
 * On a terminal a progress bar shows pages done, requests in flight, errors
 * and pages/s; otherwise a plain progress line every 2 s.  A summary ends
 * the run. */
#include "crawl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct run {
    char **urls;
    size_t n;
    crawl_opts o;
    crawl_stats st;
} run;

static void *crawl_main(void *arg)
{
    run *r = arg;
    int rc = crawl_run(r->urls, r->n, &r->o, &r->st);
    return rc < 0 ? cio_fail(rc, NULL) : NULL;
}

/* ---- the demo site, in its own thread and loop --------------------------- */

typedef struct demo {
    size_t pages;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int port; /* 0 until up, < 0 on failure */
    cio_loop *loop;
    cio_task *task; /* serving the site */
} demo;

static void *site_main(void *arg)
{
    demo *d = arg;
    cio_http_server *srv = NULL;
    int port = 0;
    int rc = crawl_site_start(d->pages, &srv, &port);
    pthread_mutex_lock(&d->mu);
    d->port = rc < 0 ? rc : port;
    d->loop = cio_loop_current();
    d->task = cio_current_task();
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    if (rc < 0)
        return cio_fail(rc, "cannot start the demo site");
    cio_http_server_serve_forever(srv); /* until site_stop cancels us */
    cio_task_catch_cancel();
    cio_http_server_free(srv);
    return NULL;
}

static void *site_thread(void *arg)
{
    cio_run(site_main, arg, NULL);
    return NULL;
}

static void site_stop(void *arg) { cio_cancel(((demo *)arg)->task, NULL); }

static int read_file(const char *path, run *r)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!*line)
            continue;
        char **nu = realloc(r->urls, (r->n + 1) * sizeof *nu);
        if (!nu || !(nu[r->n] = strdup(line))) {
            fclose(f);
            return -1;
        }
        r->urls = nu;
        r->n++;
    }
    fclose(f);
    return 0;
}

static int usage(const char *me)
{
    fprintf(stderr,
            "usage: %s [-i FILE] [-c N] [-n N] [--same-host] [-t SECONDS] [--max-body BYTES] [-o FILE] "
            "[--cafile FILE] [--quiet] [--demo [PAGES]] [URL...]\n",
            me);
    return 2;
}

int main(int argc, char **argv)
{
    run r = {0};
    r.o.concurrency = 64;
    r.o.follow = true;
    r.o.timeout = 30;
    r.o.out_path = "foundurls.txt";
    r.o.logger = "crawl";
    bool quiet = false, verbose = false;
    size_t demo_pages = 0, d_serve = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(a, "-i") && more) {
            if (read_file(argv[++i], &r) < 0) {
                perror(argv[i]);
                return 1;
            }
        } else if (!strcmp(a, "-c") && more) {
            r.o.concurrency = (size_t)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(a, "-n") && more) {
            r.o.max_pages = (size_t)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--same-host")) {
            r.o.same_host = true;
        } else if (!strcmp(a, "--max-body") && more) {
            r.o.max_body = (size_t)strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(a, "-t") && more) {
            r.o.timeout = atof(argv[++i]);
        } else if (!strcmp(a, "-o") && more) {
            r.o.out_path = argv[++i];
        } else if (!strcmp(a, "--cafile") && more) {
            r.o.ca_file = argv[++i];
        } else if (!strcmp(a, "--quiet")) {
            quiet = true;
        } else if (!strcmp(a, "-v")) {
            verbose = true;
        } else if (!strcmp(a, "--serve") && more) {
            d_serve = (size_t)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--demo")) {
            demo_pages = 3000;
            if (more && argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9')
                demo_pages = (size_t)strtoul(argv[++i], NULL, 10);
        } else if (a[0] == '-') {
            return usage(argv[0]);
        } else {
            char **nu = realloc(r.urls, (r.n + 1) * sizeof *nu);
            if (!nu || !(nu[r.n] = strdup(a)))
                return 1;
            r.urls = nu;
            r.n++;
        }
    }
    demo d = {.pages = demo_pages, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    pthread_t th;
    if (d_serve) {
        d.pages = d_serve;
        if (pthread_create(&th, NULL, site_thread, &d) != 0)
            return 1;
        pthread_mutex_lock(&d.mu);
        while (d.port == 0)
            pthread_cond_wait(&d.cv, &d.mu);
        pthread_mutex_unlock(&d.mu);
        if (d.port < 0)
            return 1;
        printf("port %d\n", d.port);
        fflush(stdout);
        pthread_join(th, NULL);
        return 0;
    }
    if (demo_pages) {
        if (pthread_create(&th, NULL, site_thread, &d) != 0) {
            perror("pthread_create");
            return 1;
        }
        pthread_mutex_lock(&d.mu);
        while (d.port == 0)
            pthread_cond_wait(&d.cv, &d.mu);
        pthread_mutex_unlock(&d.mu);
        if (d.port < 0) {
            fprintf(stderr, "cio-crawl: demo site: %s\n", cio_strerror(d.port));
            return 1;
        }
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/", d.port);
        char **nu = realloc(r.urls, (r.n + 1) * sizeof *nu);
        if (!nu || !(nu[r.n] = strdup(url)))
            return 1;
        r.urls = nu;
        r.n++;
        r.o.same_host = true;
        fprintf(stderr, "cio-crawl: demo site of %zu pages at %s\n", demo_pages, url);
    }
    if (r.n == 0)
        return usage(argv[0]);
    r.o.progress = isatty(2) ? 1 : 2;
    if (demo_pages && !verbose)
        quiet = true;
    if (quiet || r.o.progress == 1)
        cio_log_set_level(CIO_LOG_ERROR + (quiet ? 1 : 0)); /* the bar replaces the log on a terminal */
    int rc = cio_run(crawl_main, &r, NULL);
    cio_log_flush();
    crawl_print_summary(stdout, &r.st);
    if (demo_pages) {
        cio_call_soon_threadsafe(d.loop, site_stop, &d);
        pthread_join(th, NULL);
    }
    for (size_t i = 0; i < r.n; i++)
        free(r.urls[i]);
    free(r.urls);
    if (rc < 0) {
        fprintf(stderr, "cio-crawl: %s\n", cio_strerror(rc));
        return 1;
    }
    return 0;
}
