/* SPDX-License-Identifier: MIT */
/* Static files for the HTTP server (see server.c for the whole): content
 * types, opening an untrusted relative path under the served directory
 * without leaving it, sending a file (sendfile), and the static routes.
 *
 * openat2(RESOLVE_BENEATH) does that in one call, symlinks that stay inside
 * included.  Where it is missing (kernels before 5.6: ENOSYS) or refused (a
 * seccomp profile: EPERM, or ENOSYS again), the path is walked one component
 * at a time with O_NOFOLLOW: "." and empty components are skipped, ".." and
 * every symlink are refused, so nothing outside the directory is ever
 * reached, at the price of not serving symlinks that would stay inside. */
#include "http/httpd.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define YIELD_BYTES (4u << 20) /* sendfile: bytes sent in a row before yielding */

int cio__http_test_openat2_errno;

static const struct {
    const char *ext, *type;
} mime_types[] = {
    {"html", "text/html; charset=utf-8"},  {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"}, {"json", "application/json"},
    {"txt", "text/plain; charset=utf-8"},  {"md", "text/markdown; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},              {"png", "image/png"},
    {"jpg", "image/jpeg"},                 {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},                  {"webp", "image/webp"},
    {"avif", "image/avif"},                {"ico", "image/x-icon"},
    {"pdf", "application/pdf"},            {"wasm", "application/wasm"},
    {"woff", "font/woff"},                 {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},                   {"otf", "font/otf"},
    {"mp4", "video/mp4"},                  {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},                 {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},                  {"zip", "application/zip"},
    {"gz", "application/gzip"},            {"tar", "application/x-tar"},
};

const char *cio__mime_type(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash ? slash : name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof mime_types / sizeof mime_types[0]; i++)
            if (!strcasecmp(dot + 1, mime_types[i].ext))
                return mime_types[i].type;
    return "application/octet-stream";
}

/* O_NONBLOCK: a FIFO in the directory must not block the loop in open(). */
#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NONBLOCK)

/* Why openat(dirfd, name, ...O_NOFOLLOW) failed: a symlink reports ELOOP
 * (the last component) or ENOTDIR (O_DIRECTORY); both become -ELOOP, a way
 * out refused, rather than a missing file. */
static int nofollow_error(int dirfd, const char *name)
{
    int err = errno;
    struct stat st;
    if (err == ENOTDIR && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
        return -ELOOP;
    return -err;
}

/* The fallback: one component at a time, the directories on the way with
 * O_DIRECTORY; "", "." and "a/." at the end name the directory itself. */
static int walk_beneath(int dirfd, const char *rel)
{
    char name[NAME_MAX + 1];
    int cur = dirfd, fd;
    const char *p = rel;
    for (;;) {
        while (*p == '/')
            p++;
        const char *e = strchrnul(p, '/'), *rest = e;
        size_t l = (size_t)(e - p);
        while (*rest == '/')
            rest++;
        bool last = *rest == '\0';
        if (l == 0 || (l == 1 && p[0] == '.')) {
            if (!last) {
                p = rest;
                continue;
            }
            memcpy(name, ".", 2);
        } else if (l == 2 && p[0] == '.' && p[1] == '.') {
            fd = -EXDEV;
            break;
        } else if (l >= sizeof name) {
            fd = -ENAMETOOLONG;
            break;
        } else {
            memcpy(name, p, l);
            name[l] = '\0';
        }
        fd = openat(cur, name, OPEN_FLAGS | O_NOFOLLOW | (last ? 0 : O_DIRECTORY));
        if (fd < 0)
            fd = nofollow_error(cur, name);
        if (cur != dirfd)
            close(cur);
        if (fd < 0 || last)
            return fd;
        cur = fd;
        p = rest;
    }
    if (cur != dirfd)
        close(cur);
    return fd;
}

int cio__open_beneath(int dirfd, const char *rel)
{
    static int have_openat2 = 1; /* shared by the loops of all threads */
    int err = cio__http_test_openat2_errno;
    if (!err && __atomic_load_n(&have_openat2, __ATOMIC_RELAXED)) {
        struct open_how how = {.flags = OPEN_FLAGS, .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
        long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
        if (fd >= 0)
            return (int)fd;
        err = errno;
        if (err != ENOSYS && err != EPERM)
            return -err;
    }
    /* no openat2 in this kernel (remembered), or a seccomp filter refusing
     * it (EPERM: asked again next time, it costs one syscall) */
    if (err == ENOSYS)
        __atomic_store_n(&have_openat2, 0, __ATOMIC_RELAXED);
    return walk_beneath(dirfd, rel);
}

/* ---- sending files ------------------------------------------------------ */

/* Waits until the socket takes more, bounded by write_timeout. */
static int wait_writable(conn *c, int fd)
{
    cio_timeout sc;
    int rc = cio_timeout_enter(&sc, c->hs->o.write_timeout);
    if (rc < 0)
        return rc;
    rc = cio_wait_writable(fd);
    return cio_timeout_exit(&sc, rc < 0 ? rc : 0);
}

/* The body of a file: sendfile(2) on plain sockets, else read + write. */
static int send_file_body(conn *c, int fd, uint64_t size)
{
    cio_stream *s = c->s;
    int rc;
    if (size <= COPY_MAX) {
        if ((rc = cio__http_out_reserve(c, size)) < 0)
            return cio__http_fail_write(c, rc);
        ssize_t n = pread(fd, c->out + c->olen, size, 0);
        if (n < 0 || (uint64_t)n != size)
            return cio__http_fail_write(c, n < 0 ? -errno : -EIO);
        c->olen += size;
        return cio__http_maybe_flush(c);
    }
    if ((rc = cio__http_flush(c)) < 0)
        return rc;
    off_t off = 0;
    if (s->tp == &cio__plain_transport && s->is_sock && cio_stream_write_buffer_size(s) == 0) {
        size_t since_yield = 0;
        while ((uint64_t)off < size) {
            uint64_t left = size - (uint64_t)off;
            ssize_t n = sendfile(s->fd, fd, &off, left > (1u << 30) ? (1u << 30) : (size_t)left);
            if (n > 0) {
                since_yield += (size_t)n;
                if (since_yield >= YIELD_BYTES) {
                    since_yield = 0;
                    if ((rc = cio_yield()) < 0)
                        return cio__http_fail_write(c, rc);
                }
                continue;
            }
            if (n == 0)
                return cio__http_fail_write(c, -EIO); /* the file shrank */
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                return cio__http_fail_write(c, -errno);
            if ((rc = wait_writable(c, s->fd)) < 0)
                return cio__http_fail_write(c, rc);
        }
        return 0;
    }
    if ((rc = cio__http_out_reserve(c, OUT_FLUSH)) < 0)
        return cio__http_fail_write(c, rc);
    while ((uint64_t)off < size) {
        uint64_t left = size - (uint64_t)off;
        size_t want = left < OUT_FLUSH ? (size_t)left : OUT_FLUSH;
        ssize_t n = pread(fd, c->out, want, off);
        if (n <= 0)
            return cio__http_fail_write(c, n < 0 ? -errno : -EIO);
        off += n;
        c->olen = (size_t)n;
        if ((rc = cio__http_flush(c)) < 0)
            return rc;
    }
    return 0;
}

/* Answers with an open file (closes fd).  name gives the content type. */
static int send_fd(conn *c, int fd, const char *name)
{
    cio_http_response *res = &c->res;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0)
        rc = -errno;
    else if (S_ISDIR(st.st_mode))
        rc = -EISDIR;
    else if (!S_ISREG(st.st_mode))
        rc = -EACCES;
    if (rc == 0 && !res->ctype)
        rc = cio_http_response_header(res, "Content-Type", cio__mime_type(name));
    char lm[64];
    cio__http_fmt_date(st.st_mtime, lm, sizeof lm);
    if (rc == 0)
        rc = cio_http_response_header(res, "Last-Modified", lm);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    const char *ims = cio_http_request_header(&c->req, "If-Modified-Since");
    if (ims && !strcmp(ims, lm) && res->status == 200) {
        res->status = 304;
        rc = cio__http_emit_head(c, MODE_LENGTH, 0);
        res->done = true;
        close(fd);
        return rc;
    }
    if ((rc = cio__http_emit_head(c, MODE_LENGTH, (uint64_t)st.st_size)) < 0) {
        close(fd);
        return rc;
    }
    res->done = true;
    if (!res->no_body && st.st_size > 0)
        rc = send_file_body(c, fd, (uint64_t)st.st_size);
    close(fd);
    return rc;
}

int cio_http_response_file(cio_http_response *res, const char *path)
{
    if (res->started)
        return CIO_EINVALSTATE;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    return send_fd(CONN_OF_RES(res), fd, path);
}

/* The handler of the static routes (arg: the route, for its directory). */
static int static_handler(cio_http_request *req, cio_http_response *res, void *arg)
{
    route *r = arg;
    conn *c = CONN_OF_REQ(req);
    const char *rel = cio_http_request_param(req, "path");
    if (!rel)
        rel = "";
    /* lexical check on the decoded path: no ".." segment anywhere */
    for (const char *p = rel; *p;) {
        const char *e = strchrnul(p, '/');
        if (e - p == 2 && p[0] == '.' && p[1] == '.')
            return cio_http_response_text(res, 403, "Forbidden\n");
        p = *e ? e + 1 : e;
    }
    while (*rel == '/')
        rel++;
    size_t rl = strlen(rel);
    if (rl == 0 || rel[rl - 1] == '/') {
        char *p = cio__http_arena_alloc(c, rl + sizeof "index.html");
        if (!p)
            return -ENOMEM;
        memcpy(p, rel, rl);
        memcpy(p + rl, "index.html", sizeof "index.html");
        rel = p;
    }
    int fd = cio__open_beneath(r->dirfd, rel);
    if (fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
            int ifd = cio__open_beneath(fd, "index.html");
            close(fd);
            fd = ifd;
            rel = "index.html";
        }
    }
    if (fd < 0) {
        if (fd == -ENOENT || fd == -ENOTDIR || fd == -ENAMETOOLONG)
            return cio_http_response_text(res, 404, "Not Found\n");
        if (fd == -EXDEV || fd == -ELOOP || fd == -EACCES || fd == -EPERM)
            return cio_http_response_text(res, 403, "Forbidden\n");
        return fd;
    }
    int rc = send_fd(c, fd, rel);
    if (rc == -EACCES || rc == -EISDIR)
        return cio_http_response_text(res, 404, "Not Found\n");
    return rc;
}

/* ---- the static routes -------------------------------------------------- */

int cio_http_server_static(cio_http_server *srv, const char *prefix, const char *dir)
{
    if (!prefix || prefix[0] != '/' || strpbrk(prefix, "{}") || !dir)
        return -EINVAL;
    size_t pl = strlen(prefix);
    while (pl > 0 && prefix[pl - 1] == '/')
        pl--;
    char *pattern = malloc(pl + sizeof "/{path*}");
    if (!pattern)
        return -ENOMEM;
    memcpy(pattern, prefix, pl);
    memcpy(pattern + pl, "/{path*}", sizeof "/{path*}");
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        free(pattern);
        return -errno;
    }
    route *r;
    int rc = cio__http_route_add(srv, HTTP_GET, pattern, static_handler, NULL, &r);
    free(pattern);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    r->arg = r;
    r->dirfd = fd;
    return 0;
}
