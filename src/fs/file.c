/* SPDX-License-Identifier: MIT */
/* Async files (aiofiles).
 *
 * Regular files are always "ready" to epoll, so the loop cannot wait on
 * them; each operation runs on the loop's default executor and only the
 * calling task waits.  A cancelled task does not return before its
 * operation has finished on the worker thread: the worker may be writing
 * into the caller's buffer, which must stay valid until then.  File system
 * calls are short, so the cancellation is late by at most one system call;
 * the -ECANCELED is then returned (the bytes it moved are not reported, as
 * asyncio's cancelled aiofiles calls do not).
 *
 * On a back end with completions the same calls are completion operations
 * (OPENAT, READ, WRITE, FSYNC, STATX, CLOSE; see cio__op), with no thread
 * involved; a kind the back end lacks takes the executor path.  There a
 * cancellation reaches the kernel: the call returns -ECANCELED if the
 * operation was stopped, or its result if it completed first (a read's
 * bytes are not lost; the cancellation then waits for the next suspending
 * call).  A write that needs several system calls (short writes) starts
 * no further one once the task is cancelled: it returns -ECANCELED, the
 * bytes already written not reported, as on the executor. */
#include "backend/backend.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

struct cio_file {
    int fd;
    bool append;
    bool stream; /* no position (a pipe, a FIFO): found by the completion path */
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
    cio_file *file; /* OP_WRITE */
    ssize_t ret;    /* >= 0 or -errno */
} op;

#define CLOSE_NOT_RUN (-((ssize_t)1 << 40))

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

/* The completion operation doing each kind. */
static const uint8_t op_kinds[] = {
    [OP_OPEN] = CIO__OP_OPENAT, [OP_READ] = CIO__OP_READ,   [OP_WRITE] = CIO__OP_WRITE,
    [OP_PREAD] = CIO__OP_READ,  [OP_PWRITE] = CIO__OP_WRITE, [OP_FSYNC] = CIO__OP_FSYNC,
    [OP_FSTAT] = CIO__OP_STATX, [OP_STAT] = CIO__OP_STATX,  [OP_CLOSE] = CIO__OP_CLOSE,
};

static void from_statx(const struct statx *x, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_dev = makedev(x->stx_dev_major, x->stx_dev_minor);
    st->st_ino = x->stx_ino;
    st->st_mode = x->stx_mode;
    st->st_nlink = x->stx_nlink;
    st->st_uid = x->stx_uid;
    st->st_gid = x->stx_gid;
    st->st_rdev = makedev(x->stx_rdev_major, x->stx_rdev_minor);
    st->st_size = (off_t)x->stx_size;
    st->st_blksize = (blksize_t)x->stx_blksize;
    st->st_blocks = (blkcnt_t)x->stx_blocks;
    st->st_atim.tv_sec = x->stx_atime.tv_sec;
    st->st_atim.tv_nsec = x->stx_atime.tv_nsec;
    st->st_mtim.tv_sec = x->stx_mtime.tv_sec;
    st->st_mtim.tv_nsec = x->stx_mtime.tv_nsec;
    st->st_ctim.tv_sec = x->stx_ctime.tv_sec;
    st->st_ctim.tv_nsec = x->stx_ctime.tv_nsec;
}

/* Transfers above this go to the kernel's workers (CIO__OPF_ASYNC): the
 * kernel would otherwise copy page-cache data inline, inside the loop's
 * submission, and a 32 MiB read stalls every other task for ~10 ms. */
#define ASYNC_MIN (256 * 1024)

/* A write as completion operations.  At the current position, the kernel
 * (offset -1) moves the file's position after a whole write, but not always
 * after a short one (6.x kernels leave it where the write began when the
 * inline attempt was cut short and the rest failed, e.g. at RLIMIT_FSIZE):
 * continuing at -1 would write the same bytes again.  So the start is read
 * first (lseek, no waiting), the chunks after a short one go to explicit
 * offsets, and the position is set at the end. */
static ssize_t ops_write(op *o)
{
    size_t done = 0;
    off_t start = -1;
    bool explicit_off = false;
    int rc = 0;
    if (o->kind == OP_WRITE && !o->file->append && !o->file->stream) {
        start = lseek(o->fd, 0, SEEK_CUR);
        if (start < 0 && errno == ESPIPE)
            o->file->stream = true;
    }
    while (done < o->n) {
        cio__op u = {.kind = CIO__OP_WRITE, .fd = o->fd, .buf = (char *)o->buf + done, .len = o->n - done};
        u.off = o->kind == OP_PWRITE ? (uint64_t)o->off + done : explicit_off ? (uint64_t)start + done : (uint64_t)-1;
        if (u.len > ASYNC_MIN)
            u.oflags = CIO__OPF_ASYNC;
        rc = cio__op_run(&u); /* -ECANCELED after a first chunk, too */
        if (rc == -EINTR)
            continue;
        if (rc <= 0) {
            if (rc == 0)
                rc = -ENOSPC;
            break;
        }
        done += (size_t)rc;
        if ((size_t)rc < u.len && start >= 0)
            explicit_off = true;
    }
    if (explicit_off)
        lseek(o->fd, start + (off_t)done, SEEK_SET);
    return done == o->n ? (ssize_t)done : rc;
}

/* o as a completion operation; the caller checked the back end has it. */
static ssize_t ops_run(op *o)
{
    if ((o->kind == OP_PREAD || o->kind == OP_PWRITE) && o->off < 0)
        return -EINVAL; /* -1 would mean "the current position" to the kernel */
    if (o->kind == OP_WRITE || o->kind == OP_PWRITE)
        return ops_write(o);
    struct statx stx;
    cio__op u = {.kind = op_kinds[o->kind], .fd = o->fd};
    switch (o->kind) {
    case OP_OPEN:
        u.fd = AT_FDCWD;
        u.path = o->path;
        u.flags = o->flags | O_CLOEXEC;
        u.mode = o->mode;
        break;
    case OP_READ:
    case OP_PREAD:
        u.buf = o->buf;
        u.len = o->n;
        u.off = o->kind == OP_READ ? (uint64_t)-1 : (uint64_t)o->off;
        if (o->n > ASYNC_MIN)
            u.oflags = CIO__OPF_ASYNC;
        break;
    case OP_FSTAT:
    case OP_STAT:
        u.buf = &stx;
        u.mode = STATX_BASIC_STATS;
        u.path = o->kind == OP_STAT ? o->path : "";
        u.fd = o->kind == OP_STAT ? AT_FDCWD : o->fd;
        u.flags = o->kind == OP_STAT ? 0 : AT_EMPTY_PATH;
        break;
    }
    int rc = cio__op_run(&u);
    if (rc >= 0 && (o->kind == OP_FSTAT || o->kind == OP_STAT))
        from_statx(&stx, o->st);
    if (rc == -EINTR && o->kind == OP_CLOSE)
        rc = 0; /* Linux closes the fd even then */
    if (o->kind == OP_CLOSE && rc != -ECANCELED)
        o->ret = rc; /* it ran: cio_file_close must not close again */
    return rc;
}

static ssize_t run(op *o)
{
    cio__task *t;
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    if (cio__op_supported(t->f.loop, (cio__op_kind)op_kinds[o->kind]))
        return ops_run(o);
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
    f->stream = false;
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
    op o = {.kind = OP_WRITE, .fd = f->fd, .buf = (void *)buf, .n = n, .file = f};
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
    /* ret starts as a marker: if the close never ran (cancelled before it
     * started, no task, no memory) it is done here, so the fd never leaks;
     * if it ran, it is never repeated (the number may be reused already). */
    op o = {.kind = OP_CLOSE, .fd = f->fd, .ret = CLOSE_NOT_RUN};
    ssize_t r = run(&o);
    if (o.ret == CLOSE_NOT_RUN)
        r = close(f->fd) < 0 ? -errno : 0;
    else if (r == -ECANCELED)
        r = o.ret < 0 ? o.ret : 0;
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
