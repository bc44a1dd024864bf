/* SPDX-License-Identifier: MIT */
/* HTTP server routes (see server.c for the whole): patterns cut into
 * segments, method names to llhttp's ids, matching a request's path, and
 * the 405 answer for a path that only routes of other methods match.
 *
 * Routes are a list tried in the order added; the first whose pattern and
 * method fit wins.  Matching allocates nothing: parameters are returned as
 * spans of the path, copied out by the caller (server.c's bind step). */
#include "http/httpd.h"

#include <stdlib.h>
#include <unistd.h>

/* llhttp's id of method name m, or -2 for an unknown one. */
static int method_id(const char *m)
{
    for (int i = 0; i <= HTTP_FLUSH; i++) {
        const char *n = llhttp_method_name((llhttp_method_t)i);
        if (!strcmp(n, m))
            return i;
    }
    return -2;
}

/* Cuts pattern into segments (see cio_http_server_route). */
static int compile(route *r, const char *pattern)
{
    if (!pattern || pattern[0] != '/')
        return -EINVAL;
    r->buf = strdup(pattern + 1);
    if (!r->buf)
        return -ENOMEM;
    size_t n = 1;
    for (const char *p = r->buf; *p; p++)
        n += *p == '/';
    r->segs = calloc(n, sizeof *r->segs);
    if (!r->segs)
        return -ENOMEM;
    size_t nparams = 0;
    char *p = r->buf;
    for (size_t i = 0; i < n; i++) {
        char *e = strchrnul(p, '/');
        bool last = *e == '\0';
        *e = '\0';
        size_t l = (size_t)(e - p);
        seg *g = &r->segs[i];
        if (l && p[0] == '{') {
            if (l < 3 || p[l - 1] != '}')
                return -EINVAL;
            p[l - 1] = '\0';
            g->kind = SEG_PARAM;
            if (p[l - 2] == '*') {
                if (!last || l < 4)
                    return -EINVAL;
                p[l - 2] = '\0';
                g->kind = SEG_TAIL;
            }
            g->s = p + 1;
            g->len = strlen(g->s);
            if (strpbrk(g->s, "{}*") || ++nparams > MAX_PARAMS)
                return -EINVAL;
        } else {
            if (memchr(p, '{', l) || memchr(p, '}', l))
                return -EINVAL;
            g->kind = SEG_LIT;
            g->s = p;
            g->len = l;
        }
        p = e + 1;
    }
    r->nsegs = n;
    return 0;
}

static void route_free(route *r)
{
    if (r->dirfd >= 0)
        close(r->dirfd);
    free(r->segs);
    free(r->buf);
    free(r);
}

int cio__http_route_add(cio_http_server *srv, int method, const char *pattern, cio_http_handler fn, void *arg,
                        route **out)
{
    route *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->method = method;
    r->fn = fn;
    r->arg = arg;
    r->dirfd = -1;
    int rc = compile(r, pattern);
    if (rc < 0) {
        route_free(r);
        return rc;
    }
    *srv->tail = r;
    srv->tail = &r->next;
    if (out)
        *out = r;
    return 0;
}

void cio__http_routes_free(cio_http_server *srv)
{
    while (srv->routes) {
        route *r = srv->routes;
        srv->routes = r->next;
        route_free(r);
    }
    srv->tail = &srv->routes;
}

int cio_http_server_route(cio_http_server *srv, const char *method, const char *pattern, cio_http_handler handler,
                          void *arg)
{
    if (!handler)
        return -EINVAL;
    int m = method ? method_id(method) : -1;
    if (m == -2)
        return -EINVAL;
    return cio__http_route_add(srv, m, pattern, handler, arg, NULL);
}

/* Whether path fits r's pattern; if so, the parameters' spans in m. */
static bool match(const route *r, const char *path, route_match *m)
{
    const char *p = path;
    size_t n = 0;
    for (size_t i = 0; i < r->nsegs; i++) {
        const seg *g = &r->segs[i];
        if (*p != '/')
            return false;
        p++;
        if (g->kind == SEG_TAIL) {
            m->pv[n] = p;
            m->pl[n++] = strlen(p);
            m->np = n;
            return true;
        }
        const char *e = strchrnul(p, '/');
        size_t l = (size_t)(e - p);
        if (g->kind == SEG_LIT) {
            if (l != g->len || memcmp(p, g->s, l))
                return false;
        } else {
            if (l == 0)
                return false;
            m->pv[n] = p;
            m->pl[n++] = l;
        }
        p = e;
    }
    m->np = n;
    return *p == '\0';
}

const route *cio__http_route_find(const cio_http_server *srv, const char *path, int method, route_match *m)
{
    m->np = 0;
    m->allow = 0;
    for (const route *r = srv->routes; r; r = r->next) {
        if (!match(r, path, m))
            continue;
        if (r->method < 0 || r->method == method || (method == HTTP_HEAD && r->method == HTTP_GET))
            return r;
        m->allow |= 1ull << r->method;
    }
    return NULL;
}

int cio__http_answer_unrouted(cio_http_response *res, uint64_t allow)
{
    if (!allow)
        return cio_http_response_text(res, 404, "Not Found\n");
    char buf[512];
    size_t n = 0;
    if (allow & (1ull << HTTP_GET))
        allow |= 1ull << HTTP_HEAD;
    for (int m = 0; m < 64; m++) {
        if (!(allow & (1ull << m)))
            continue;
        const char *name = llhttp_method_name((llhttp_method_t)m);
        size_t l = strlen(name);
        if (n + l + 3 > sizeof buf)
            break;
        if (n) {
            buf[n++] = ',';
            buf[n++] = ' ';
        }
        memcpy(buf + n, name, l);
        n += l;
    }
    buf[n] = '\0';
    int rc = cio_http_response_header(res, "Allow", buf);
    return rc < 0 ? rc : cio_http_response_text(res, 405, "Method Not Allowed\n");
}
