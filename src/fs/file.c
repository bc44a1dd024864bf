/* Async files (aiofiles).
 *
 * Regular files are always "ready" to epoll, so the loop cannot wait on
 * them; each operation runs on the loop's default executor and only the
 * calling task waits.  A cancelled task does not return before its
 * operation has finished on the worker thread: the worker may be writing
 * into the caller's buffer, which must stay valid until then.  File system
 * calls are short, so the cancellation is late by at most one system call;
 * the -ECANCELED is then returned (the bytes it moved are not reported, as
 * asyncio's cancelled aiofiles calls do not). */
#include "core/internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct cio_file {
    int fd;
    bool append;
};

enum { OP_OPEN, OP_READ, OP_WRITE, OP_PREAD, OP_PWRITE, OP_FSYNC, OP_FSTAT, OP_STAT, OP_CLOSE };

typedef struct op {
    int kind;
    int fd;
    const char *path;
    int flags;
    mode_t mode;
    void *buf;
    size_t n;
    off_t off;
    struct stat *st;
    ssize_t ret; /* >= 0 or -errno */
} op;

static void *op_run(void *arg)
{
    op *o = arg;
    ssize_t r = 0;
    size_t done = 0;
    switch (o->kind) {
    case OP_OPEN:
        r = open(o->path, o->flags | O_CLOEXEC, o->mode);
        break;
    case OP_READ:
        do
            r = read(o->fd, o->buf, o->n);
        while (r < 0 && errno == EINTR);
        break;
    case OP_PREAD:
        do
            r = pread(o->fd, o->buf, o->n, o->off);
        while (r < 0 && errno == EINTR);
        break;
    case OP_WRITE:
    case OP_PWRITE:
        /* a write is complete or failed: short writes are continued */
        while (done < o->n) {
            r = o->kind == OP_WRITE ? write(o->fd, (char *)o->buf + done, o->n - done)
                                    : pwrite(o->fd, (char *)o->buf + done, o->n - done, o->off + (off_t)done);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            done += (size_t)r;
        }
        if (done == o->n)
            r = (ssize_t)done;
        else if (r == 0)
            r = -1, errno = ENOSPC;
        break;
    case OP_FSYNC:
        r = fsync(o->fd);
        break;
    case OP_FSTAT:
        r = fstat(o->fd, o->st);
        break;
    case OP_STAT:
        r = stat(o->path, o->st);
        break;
    case OP_CLOSE:
        r = close(o->fd);
        if (r < 0 && errno == EINTR)
            r = 0; /* Linux closes the fd even then */
        break;
    }
    o->ret = r < 0 ? -errno : r;
    return NULL;
}

/* Waits for f without letting a cancellation abandon the job (see the top
 * of the file); the cancellation is delivered once f is done. */
typedef struct fwait {
    cio__wait w;
    cio__fcb cb;
} fwait;

static void fwait_fire(cio__fcb *cb, cio_future *f)
{
    (void)f;
    fwait *fw = CIO__CONTAINER_OF(cb, fwait, cb);
    cio__wake(fw->w.task, 0);
}

static bool fwait_cancel(cio__wait *w)
{
    (void)w;
    return false; /* stays parked; must_cancel is set */
}

static ssize_t run(op *o)
{
    cio__task *t;
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    cio_future *f = cio_run_in_executor(NULL, op_run, o);
    if (!f)
        return -errno;
    if (!cio_done(f)) {
        fwait fw;
        fw.w.what = "file";
        fw.w.cancel = fwait_cancel;
        fw.w.droppable = true; /* a pending cancellation wins once the job is done */
        cio__fcb_add(f, &fw.cb, fwait_fire);
        rc = cio__park(&fw.w);
        cio__fcb_remove(&fw.cb);
    }
    if (rc == 0)
        rc = cio_result(f, NULL);
    cio_release(f);
    if (rc < 0) {
        if (rc == -ECANCELED && o->kind == OP_OPEN && o->ret >= 0)
            close((int)o->ret); /* the file was opened for nobody */
        return rc;
    }
    return o->ret;
}

static int parse_mode(const char *mode, int *flags)
{
    int f;
    switch (mode[0]) {
    case 'r':
        f = 0;
        break;
    case 'w':
        f = O_CREAT | O_TRUNC;
        break;
    case 'a':
        f = O_CREAT | O_APPEND;
        break;
    case 'x':
        f = O_CREAT | O_EXCL;
        break;
    default:
        return -EINVAL;
    }
    bool plus = false;
    for (const char *p = mode + 1; *p; p++) {
        if (*p == '+')
            plus = true;
        else if (*p != 'b' && *p != 't')
            return -EINVAL;
    }
    f |= plus ? O_RDWR : mode[0] == 'r' ? O_RDONLY : O_WRONLY;
    *flags = f;
    return 0;
}

int cio_file_open(const char *path, const char *mode, cio_file **out)
{
    *out = NULL;
    int flags;
    if (!path || !mode || parse_mode(mode, &flags) < 0)
        return -EINVAL;
    cio_file *f = malloc(sizeof *f);
    if (!f)
        return -ENOMEM;
    op o = {.kind = OP_OPEN, .path = path, .flags = flags, .mode = 0666};
    ssize_t r = run(&o);
    if (r < 0) {
        free(f);
        return (int)r;
    }
    f->fd = (int)r;
    f->append = flags & O_APPEND;
    *out = f;
    return 0;
}

int cio_file_fd(const cio_file *f) { return f->fd; }

ssize_t cio_file_read(cio_file *f, void *buf, size_t n)
{
    op o = {.kind = OP_READ, .fd = f->fd, .buf = buf, .n = n};
    return run(&o);
}

ssize_t cio_file_write(cio_file *f, const void *buf, size_t n)
{
    op o = {.kind = OP_WRITE, .fd = f->fd, .buf = (void *)buf, .n = n};
    return run(&o);
}

ssize_t cio_file_pread(cio_file *f, void *buf, size_t n, off_t off)
{
    op o = {.kind = OP_PREAD, .fd = f->fd, .buf = buf, .n = n, .off = off};
    return run(&o);
}

ssize_t cio_file_pwrite(cio_file *f, const void *buf, size_t n, off_t off)
{
    op o = {.kind = OP_PWRITE, .fd = f->fd, .buf = (void *)buf, .n = n, .off = off};
    return run(&o);
}

int cio_file_fsync(cio_file *f)
{
    op o = {.kind = OP_FSYNC, .fd = f->fd};
    return (int)run(&o);
}

int cio_file_stat(cio_file *f, struct stat *st)
{
    op o = {.kind = OP_FSTAT, .fd = f->fd, .st = st};
    return (int)run(&o);
}

int cio_stat(const char *path, struct stat *st)
{
    op o = {.kind = OP_STAT, .path = path, .st = st};
    return (int)run(&o);
}

int cio_file_close(cio_file *f)
{
    if (!f)
        return 0;
    op o = {.kind = OP_CLOSE, .fd = f->fd};
    ssize_t r = run(&o);
    if (r == -ECANCELED || r == CIO_ENOTASK || r == -ENOMEM)
        r = close(f->fd) < 0 ? -errno : 0; /* never leak the fd */
    free(f);
    return (int)r;
}

int cio_file_read_all(const char *path, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    cio_file *f;
    int rc = cio_file_open(path, "r", &f);
    if (rc < 0)
        return rc;
    struct stat st;
    size_t cap = 64 * 1024, n = 0;
    if (cio_file_stat(f, &st) == 0 && st.st_size > 0)
        cap = (size_t)st.st_size + 1;
    char *buf = malloc(cap);
    if (!buf) {
        cio_file_close(f);
        return -ENOMEM;
    }
    for (;;) {
        if (n == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                rc = -ENOMEM;
                break;
            }
            buf = nb;
        }
        ssize_t r = cio_file_read(f, buf + n, cap - n);
        if (r < 0) {
            rc = (int)r;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    int c = cio_file_close(f);
    if (rc == 0)
        rc = c;
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *data = buf;
    *len = n;
    return 0;
}

static int write_whole(const char *path, const char *mode, const void *data, size_t len)
{
    cio_file *f;
    int rc = cio_file_open(path, mode, &f);
    if (rc < 0)
        return rc;
    ssize_t w = cio_file_write(f, data, len);
    int c = cio_file_close(f);
    return w < 0 ? (int)w : c;
}

int cio_file_write_all(const char *path, const void *data, size_t len) { return write_whole(path, "w", data, len); }
int cio_file_append_all(const char *path, const void *data, size_t len) { return write_whole(path, "a", data, len); }
