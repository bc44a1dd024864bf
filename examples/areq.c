/* areq: "Asynchronously get links embedded in multiple pages' HTML."
 * The article's areq.py, ported: reads urls.txt, GETs every URL
 * concurrently over one pooled session, logs each response, extracts the
 * links of each page, resolves them against the page's URL and appends
 * "source_url<TAB>parsed_url" lines to foundurls.txt with async file
 * writes.  404s and connection errors are logged as errors, never fatal.
 *
 *     areq [-i urls.txt] [-o foundurls.txt] [--cafile CA.pem]
 */
#include "crawl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct args {
    char **urls;
    size_t n;
    crawl_opts o;
} args;

static void *bulk_crawl_and_write(void *arg)
{
    args *a = arg;
    crawl_stats st;
    int rc = crawl_run(a->urls, a->n, &a->o, &st);
    return rc < 0 ? cio_fail(rc, NULL) : NULL;
}

static int read_urls(const char *path, args *a)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[8192];
    size_t cap = 0;
    while (fgets(line, sizeof line, f)) {
        char *s = line, *e;
        while (*s == ' ' || *s == '\t')
            s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            *--e = 0;
        if (!*s)
            continue;
        if (a->n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nu = realloc(a->urls, cap * sizeof *nu);
            if (!nu) {
                fclose(f);
                return -1;
            }
            a->urls = nu;
        }
        if (!(a->urls[a->n] = strdup(s))) {
            fclose(f);
            return -1;
        }
        a->n++;
    }
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    const char *in = "urls.txt";
    args a = {0};
    a.o.out_path = "foundurls.txt";
    a.o.logger = "areq";
    a.o.concurrency = 100;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-i") || !strcmp(argv[i], "--input")) && i + 1 < argc)
            in = argv[++i];
        else if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc)
            a.o.out_path = argv[++i];
        else if (!strcmp(argv[i], "--cafile") && i + 1 < argc)
            a.o.ca_file = argv[++i];
        else {
            fprintf(stderr, "usage: %s [-i urls.txt] [-o foundurls.txt] [--cafile CA.pem]\n", argv[0]);
            return 2;
        }
    }
    if (read_urls(in, &a) < 0) {
        perror(in);
        return 1;
    }
    cio_log_set_level(CIO_LOG_DEBUG); /* logging.basicConfig(level=logging.DEBUG) */
    int rc = cio_run(bulk_crawl_and_write, &a, NULL);
    for (size_t i = 0; i < a.n; i++)
        free(a.urls[i]);
    free(a.urls);
    cio_log_flush();
    if (rc < 0) {
        fprintf(stderr, "areq: %s\n", cio_strerror(rc));
        return 1;
    }
    return 0;
}
