/* Static files for the HTTP server (server.c): content types, and opening
 * an untrusted relative path under the served directory without leaving it.
 *
 * openat2(RESOLVE_BENEATH) does that in one call, symlinks that stay inside
 * included.  Where it is missing (kernels before 5.6: ENOSYS) or refused (a
 * seccomp profile: EPERM, or ENOSYS again), the path is walked one component
 * at a time with O_NOFOLLOW: "." and empty components are skipped, ".." and
 * every symlink are refused, so nothing outside the directory is ever
 * reached, at the price of not serving symlinks that would stay inside. */
#include "http/http.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <limits.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

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
