/* SPDX-License-Identifier: MIT */
/* Async files (aiofiles) on the loop's back end: the executor on epoll and
 * poll, the ring on io_uring (CTest runs this program as test_file,
 * test_file@poll and test_file@io_uring).
 *
 *   - open modes r, r+, w, w+, a, a+, x (EEXIST), "b" accepted, bad mode
 *     strings and NULL arguments -EINVAL, created files 0666 & ~umask;
 *   - read / write / pread / pwrite (holes, the position untouched by
 *     pread/pwrite), fsync, stat / fstat / cio_stat, close;
 *   - 32 MiB writes and reads (regular file and a pipe with a slow reader:
 *     short writes are continued, also when a signal interrupts the write),
 *     a write cut short by RLIMIT_FSIZE gives -EFBIG, never a short count;
 *   - whole-file helpers (read_all / write_all / append_all; /proc files
 *     whose size says 0);
 *   - errors as codes: ENOENT, ENOTDIR, EISDIR, EBADF, EACCES on a 0000 file
 *     (as root: in a child that became nobody);
 *   - the loop never blocks: another task's timer keeps firing on time while
 *     a task waits in a pipe read or writes 32 MiB;
 *   - 50 tasks appending lines to one file (O_APPEND: every line intact);
 *   - cancellation in a file call: returns -ECANCELED only once the system
 *     call is over (executor), or through the kernel's cancellation on
 *     io_uring (a result that beat it is returned and the cancellation
 *     comes at the next suspension); no fd or memory leak; a cancelled
 *     close closes the file once (never a reused fd number);
 *   - calls outside a task: CIO_ENOTASK.
 *
 * Everything lives in a mkdtemp() directory under /tmp.  Exit 0 = pass. */
/* CIO_TEST: RUN_SERIAL TIMEOUT=240 */
#include "check.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

static char dir[64];
static const char *backend = "epoll";
static bool on_uring;

static void path_of(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

static void fill_pattern(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((i * 131u + seed) ^ (i >> 13));
}

static bool is_pattern(const unsigned char *p, size_t n, size_t start, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        size_t k = start + i;
        if (p[i] != (unsigned char)((k * 131u + seed) ^ (k >> 13)))
            return false;
    }
    return true;
}

static bool fd_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

static off_t size_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* The file's content through plain POSIX calls (for checks). */
static char *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    *len = 0;
    if (fd < 0)
        return NULL;
    struct stat st;
    fstat(fd, &st);
    char *buf = malloc((size_t)st.st_size + 1);
    size_t n = 0;
    while (buf && n < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (buf)
        buf[n] = 0;
    *len = n;
    return buf;
}

static bool content_is(const char *path, const char *text)
{
    size_t len;
    char *d = slurp(path, &len);
    bool ok = d && len == strlen(text) && memcmp(d, text, len) == 0;
    if (!ok)
        fprintf(stderr, "  %s holds \"%.*s\", expected \"%s\"\n", path, (int)len, d ? d : "", text);
    free(d);
    return ok;
}

/* Waits (up to secs) until t is done; true if it is. */
static bool wait_done(cio_task *t, double secs)
{
    size_t nd = 0;
    cio_future *f = t;
    CHECK_EQ(cio_wait(&f, 1, CIO_ALL_COMPLETED, secs, NULL, &nd, NULL, NULL), 0);
    return cio_done(t);
}

/* ---- open modes ------------------------------------------------------------ */

static void *t_modes(void *arg)
{
    (void)arg;
    char p[128], q[128], missing[128];
    path_of(p, sizeof p, "modes");
    path_of(q, sizeof q, "modes-x");
    path_of(missing, sizeof missing, "modes-missing");
    unlink(p);
    unlink(q);
    cio_file *f = NULL;
    char buf[64];

    /* w: creates, write-only */
    CHECK_EQ(cio_file_open(p, "w", &f), 0);
    CHECK(f != NULL);
    if (!f)
        return NULL;
    CHECK(cio_file_fd(f) >= 0);
    CHECK_EQ(fcntl(cio_file_fd(f), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    CHECK_EQ(cio_file_write(f, "hello", 5), 5);
    CHECK_EQ(cio_file_read(f, buf, sizeof buf), -EBADF);
    CHECK_EQ(cio_file_close(f), 0);
    CHECK(content_is(p, "hello"));

    /* r: read-only, from the start, no create */
    CHECK_EQ(cio_file_open(p, "r", &f), 0);
    CHECK_EQ(cio_file_read(f, buf, 3), 3);
    CHECK(memcmp(buf, "hel", 3) == 0);
    CHECK_EQ(cio_file_read(f, buf, sizeof buf), 2);
    CHECK(memcmp(buf, "lo", 2) == 0);
    CHECK_EQ(cio_file_read(f, buf, sizeof buf), 0); /* end of file */
    CHECK_EQ(cio_file_write(f, "x", 1), -EBADF);
    CHECK_EQ(cio_file_close(f), 0);
    f = (cio_file *)1;
    CHECK_EQ(cio_file_open(missing, "r", &f), -ENOENT);
    CHECK(f == NULL);

    /* r+: read and write, no truncation, no create */
    CHECK_EQ(cio_file_open(p, "r+", &f), 0);
    CHECK_EQ(cio_file_read(f, buf, 2), 2);
    CHECK_EQ(cio_file_write(f, "XY", 2), 2); /* at the position */
    CHECK_EQ(cio_file_close(f), 0);
    CHECK(content_is(p, "heXYo"));
    CHECK_EQ(cio_file_open(missing, "r+", &f), -ENOENT);

    /* a: appends whatever the position, write-only */
    CHECK_EQ(cio_file_open(p, "a", &f), 0);
    CHECK_EQ(cio_file_write(f, "!!", 2), 2);
    CHECK_EQ(cio_file_read(f, buf, sizeof buf), -EBADF);
    CHECK_EQ(cio_file_close(f), 0);
    CHECK(content_is(p, "heXYo!!"));

    /* a+: reads from the start, writes at the end */
    CHECK_EQ(cio_file_open(p, "a+", &f), 0);
    CHECK_EQ(cio_file_read(f, buf, 2), 2);
    CHECK(memcmp(buf, "he", 2) == 0);
    CHECK_EQ(cio_file_write(f, "?", 1), 1);
    CHECK_EQ(cio_file_pread(f, buf, sizeof buf, 0), 8);
    CHECK(memcmp(buf, "heXYo!!?", 8) == 0);
    CHECK_EQ(cio_file_close(f), 0);

    /* w+: truncates, reads what it wrote */
    CHECK_EQ(cio_file_open(p, "w+", &f), 0);
    struct stat st;
    CHECK_EQ(cio_file_stat(f, &st), 0);
    CHECK_EQ(st.st_size, 0);
    CHECK_EQ(cio_file_write(f, "abc", 3), 3);
    CHECK_EQ(cio_file_read(f, buf, sizeof buf), 0); /* the position is at the end */
    CHECK_EQ(cio_file_pread(f, buf, sizeof buf, 0), 3);
    CHECK(memcmp(buf, "abc", 3) == 0);
    CHECK_EQ(cio_file_close(f), 0);
    CHECK(content_is(p, "abc"));

    /* a on a missing file creates it */
    unlink(missing);
    CHECK_EQ(cio_file_open(missing, "a", &f), 0);
    CHECK_EQ(cio_file_write(f, "new", 3), 3);
    CHECK_EQ(cio_file_close(f), 0);
    CHECK(content_is(missing, "new"));
    unlink(missing);

    /* x: exclusive creation */
    CHECK_EQ(cio_file_open(q, "x", &f), 0);
    CHECK_EQ(cio_file_write(f, "x1", 2), 2);
    CHECK_EQ(cio_file_read(f, buf, 1), -EBADF);
    CHECK_EQ(cio_file_close(f), 0);
    f = (cio_file *)1;
    CHECK_EQ(cio_file_open(q, "x", &f), -EEXIST);
    CHECK(f == NULL);
    CHECK_EQ(cio_file_open(q, "x+", &f), -EEXIST);
    CHECK(content_is(q, "x1"));
    unlink(q);
    CHECK_EQ(cio_file_open(q, "x+", &f), 0);
    CHECK_EQ(cio_file_write(f, "yz", 2), 2);
    CHECK_EQ(cio_file_pread(f, buf, 2, 0), 2);
    CHECK(memcmp(buf, "yz", 2) == 0);
    CHECK_EQ(cio_file_close(f), 0);

    /* "b" (and "t") are accepted and ignored, in any place after the letter */
    const char *fine[] = {"rb", "r+b", "rb+", "wb", "w+b", "ab", "a+b", "rt"};
    for (size_t i = 0; i < sizeof fine / sizeof *fine; i++) {
        f = NULL;
        int rc = cio_file_open(p, fine[i], &f);
        if (rc != 0)
            fprintf(stderr, "  mode \"%s\": %d\n", fine[i], rc);
        CHECK_EQ(rc, 0);
        if (f)
            CHECK_EQ(cio_file_close(f), 0);
    }

    /* bad modes and arguments: -EINVAL, nothing opened nor created */
    int fds = check_count_fds();
    const char *bad[] = {"", "z", "rw", "r+x", "q+", "+", "R", "w-", "ra", "br"};
    char fresh[128];
    path_of(fresh, sizeof fresh, "never-created");
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        f = (cio_file *)1;
        int rc = cio_file_open(fresh, bad[i], &f);
        if (rc != -EINVAL)
            fprintf(stderr, "  bad mode \"%s\": %d\n", bad[i], rc);
        CHECK_EQ(rc, -EINVAL);
        CHECK(f == NULL);
        if (f && f != (cio_file *)1)
            cio_file_close(f);
    }
    f = (cio_file *)1;
    CHECK_EQ(cio_file_open(fresh, NULL, &f), -EINVAL);
    CHECK(f == NULL);
    CHECK_EQ(cio_file_open(NULL, "r", &f), -EINVAL);
    CHECK(f == NULL);
    CHECK_EQ(size_of(fresh), -1);
    CHECK_EQ(check_count_fds(), fds);

    /* created files get 0666 & ~umask */
    mode_t old = umask(027);
    unlink(q);
    CHECK_EQ(cio_file_open(q, "w", &f), 0);
    CHECK_EQ(cio_file_close(f), 0);
    CHECK_EQ(stat(q, &st), 0);
    CHECK_EQ(st.st_mode & 0777, 0640);
    umask(old);
    unlink(q);
    unlink(p);
    return NULL;
}

/* ---- read / write / pread / pwrite / fsync / stat / close ------------------- */

static void *t_rw(void *arg)
{
    (void)arg;
    char p[128];
    path_of(p, sizeof p, "rw");
    cio_file *f;
    char buf[256];
    CHECK_EQ(cio_file_open(p, "w+", &f), 0);
    if (!f)
        return NULL;
    CHECK_EQ(cio_file_write(f, "0123456789", 10), 10);
    CHECK_EQ(cio_file_write(f, "", 0), 0);
    CHECK_EQ(cio_file_pread(f, buf, 4, 3), 4);
    CHECK(memcmp(buf, "3456", 4) == 0);
    CHECK_EQ(cio_file_pwrite(f, "ab", 2, 1), 2);
    /* neither moved the position (10): the next write appends */
    CHECK_EQ(cio_file_write(f, "Z", 1), 1);
    CHECK_EQ(cio_file_pread(f, buf, sizeof buf, 0), 11);
    CHECK(memcmp(buf, "0ab3456789Z", 11) == 0);
    CHECK_EQ(cio_file_pread(f, buf, 10, 1000), 0);   /* past the end */
    CHECK_EQ(cio_file_pread(f, buf, 1, -1), -EINVAL); /* negative offset */
    CHECK_EQ(cio_file_pwrite(f, "x", 1, -5), -EINVAL);
    CHECK_EQ(cio_file_read(f, buf, 0), 0);

    /* a pwrite past the end leaves a hole of zeros */
    CHECK_EQ(cio_file_pwrite(f, "END", 3, 100), 3);
    struct stat st, ref;
    CHECK_EQ(cio_file_stat(f, &st), 0);
    CHECK_EQ(st.st_size, 103);
    CHECK_EQ(cio_file_pread(f, buf, sizeof buf, 0), 103);
    bool zeros = true;
    for (int i = 11; i < 100; i++)
        zeros &= buf[i] == 0;
    CHECK(zeros);
    CHECK(memcmp(buf + 100, "END", 3) == 0);

    /* fsync, and fstat against the real thing */
    CHECK_EQ(cio_file_fsync(f), 0);
    CHECK_EQ(cio_file_stat(f, &st), 0);
    CHECK_EQ(fstat(cio_file_fd(f), &ref), 0);
    CHECK_EQ(st.st_ino, ref.st_ino);
    CHECK_EQ(st.st_dev, ref.st_dev);
    CHECK_EQ(st.st_mode, ref.st_mode);
    CHECK_EQ(st.st_nlink, ref.st_nlink);
    CHECK_EQ(st.st_uid, ref.st_uid);
    CHECK_EQ(st.st_size, ref.st_size);
    CHECK_EQ(st.st_blocks, ref.st_blocks);
    CHECK_EQ(st.st_mtim.tv_sec, ref.st_mtim.tv_sec);
    CHECK_EQ(st.st_mtim.tv_nsec, ref.st_mtim.tv_nsec);
    CHECK(S_ISREG(st.st_mode));

    /* cio_stat by path: same file; a directory; a missing one */
    struct stat ps;
    CHECK_EQ(cio_stat(p, &ps), 0);
    CHECK_EQ(ps.st_ino, ref.st_ino);
    CHECK_EQ(ps.st_size, 103);
    CHECK_EQ(cio_stat(dir, &ps), 0);
    CHECK(S_ISDIR(ps.st_mode));
    char missing[128];
    path_of(missing, sizeof missing, "nope/nothing");
    CHECK_EQ(cio_stat(missing, &ps), -ENOENT);

    /* close: 0, and the fd is really closed */
    int fd = cio_file_fd(f);
    CHECK_EQ(cio_file_close(f), 0);
    CHECK(!fd_open(fd));
    CHECK_EQ(cio_file_close(NULL), 0);
    unlink(p);
    return NULL;
}

/* ---- large transfers --------------------------------------------------------- */

#define BIG (32u << 20)

static void *t_large(void *arg)
{
    (void)arg;
    char p[128];
    path_of(p, sizeof p, "large");
    unsigned char *buf = malloc(BIG), *back = malloc(BIG);
    CHECK(buf && back);
    if (!buf || !back) {
        free(buf);
        free(back);
        return NULL;
    }
    fill_pattern(buf, BIG, 7);
    cio_file *f;
    CHECK_EQ(cio_file_open(p, "w+", &f), 0);
    CHECK_EQ(cio_file_write(f, buf, BIG), (ssize_t)BIG);
    struct stat st;
    CHECK_EQ(cio_file_stat(f, &st), 0);
    CHECK_EQ(st.st_size, BIG);
    /* read back by pread in 1 MiB pieces */
    bool same = true;
    for (size_t off = 0; off < BIG; off += 1u << 20) {
        ssize_t r = cio_file_pread(f, back, 1u << 20, (off_t)off);
        CHECK_EQ(r, 1u << 20);
        same &= r == (1 << 20) && is_pattern(back, 1u << 20, off, 7);
    }
    CHECK(same);
    /* read from the position (0 after reopening) in one call */
    CHECK_EQ(cio_file_close(f), 0);
    CHECK_EQ(cio_file_open(p, "r", &f), 0);
    size_t got = 0;
    for (;;) {
        ssize_t r = cio_file_read(f, back + got, BIG - got);
        CHECK(r >= 0);
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == BIG) {
            CHECK_EQ(cio_file_read(f, back, 1), 0);
            break;
        }
    }
    CHECK_EQ(got, BIG);
    CHECK(memcmp(buf, back, BIG) == 0);
    CHECK_EQ(cio_file_close(f), 0);
    /* pwrite 32 MiB at 1 MiB: the file grows to 33 MiB */
    CHECK_EQ(cio_file_open(p, "r+", &f), 0);
    fill_pattern(buf, BIG, 99);
    CHECK_EQ(cio_file_pwrite(f, buf, BIG, 1 << 20), (ssize_t)BIG);
    CHECK_EQ(cio_file_stat(f, &st), 0);
    CHECK_EQ(st.st_size, BIG + (1u << 20));
    CHECK_EQ(cio_file_pread(f, back, BIG, 1 << 20), (ssize_t)BIG);
    CHECK(memcmp(buf, back, BIG) == 0);
    CHECK_EQ(cio_file_pread(f, back, 1u << 20, 0), 1 << 20);
    CHECK(is_pattern(back, 1u << 20, 0, 7)); /* the first MiB is the old data */
    CHECK_EQ(cio_file_fsync(f), 0);
    CHECK_EQ(cio_file_close(f), 0);
    /* the whole-file reader on it */
    char *data = NULL;
    size_t len = 0;
    CHECK_EQ(cio_file_read_all(p, &data, &len), 0);
    CHECK_EQ(len, BIG + (1u << 20));
    CHECK(data && memcmp(data + (1 << 20), buf, BIG) == 0);
    free(data);
    unlink(p);
    free(buf);
    free(back);
    return NULL;
}

/* A 32 MiB write into a pipe (opened through /proc/self/fd) read slowly by
 * a thread: the pipe takes 64 KiB at a time.  On the executor the worker's
 * blocking write is interrupted by signals (no SA_RESTART), which makes it
 * return short counts; the ring gives short counts for pipes by itself.
 * Either way cio_file_write continues until all 32 MiB are in. */
typedef struct pipe_reader {
    int fd;
    size_t got;
    bool ok;
    pid_t writer_tid; /* the thread seen blocked writing, 0 if none */
    int fd_in_writer; /* the fd number it writes to */
    atomic_int signals;
    atomic_bool stop;
} pipe_reader;

static atomic_int usr1_seen;
static void on_usr1(int sig)
{
    (void)sig;
    atomic_fetch_add(&usr1_seen, 1);
}

/* A thread of ours blocked in write(fd, ...): its tid, or 0. */
static pid_t find_writer(int fd)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    pid_t found = 0;
    struct dirent *e;
    char want[32];
    snprintf(want, sizeof want, "%d 0x%x ", (int)SYS_write, fd);
    while (!found && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], line[256];
        snprintf(path, sizeof path, "/proc/self/task/%s/syscall", e->d_name);
        FILE *fp = fopen(path, "r");
        if (!fp)
            continue;
        if (fgets(line, sizeof line, fp) && strncmp(line, want, strlen(want)) == 0)
            found = (pid_t)atoi(e->d_name);
        fclose(fp);
    }
    closedir(d);
    return found;
}

static void *pipe_reader_main(void *arg)
{
    pipe_reader *pr = arg;
    unsigned char *chunk = malloc(256 * 1024);
    pr->ok = chunk != NULL;
    int rounds = 0;
    while (chunk && pr->got < BIG && !atomic_load(&pr->stop)) {
        ssize_t r = read(pr->fd, chunk, 256 * 1024);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        pr->ok &= is_pattern(chunk, (size_t)r, pr->got, 3);
        pr->got += (size_t)r;
        /* now and then, while the writer is blocked, interrupt it */
        if (++rounds % 16 == 0 && pr->fd_in_writer >= 0) {
            usleep(2000);
            pid_t tid = find_writer(pr->fd_in_writer);
            if (tid) {
                pr->writer_tid = tid;
                if (syscall(SYS_tgkill, getpid(), tid, SIGUSR1) == 0)
                    atomic_fetch_add(&pr->signals, 1);
            }
        }
    }
    free(chunk);
    return NULL;
}

static void *t_large_pipe(void *arg)
{
    (void)arg;
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocked write returns what it wrote */
    sigaction(SIGUSR1, &sa, &old);
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[1]);
    cio_file *f = NULL;
    CHECK_EQ(cio_file_open(path, "w", &f), 0);
    close(p[1]); /* f holds the write side now */
    unsigned char *buf = malloc(BIG);
    CHECK(buf != NULL);
    if (f && buf) {
        fill_pattern(buf, BIG, 3);
        pipe_reader pr = {.fd = p[0], .fd_in_writer = cio_file_fd(f)};
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, pipe_reader_main, &pr), 0);
        atomic_store(&usr1_seen, 0);
        CHECK_EQ(cio_file_write(f, buf, BIG), (ssize_t)BIG);
        CHECK_EQ(cio_file_close(f), 0); /* EOF for the reader */
        f = NULL;
        pthread_join(th, NULL);
        CHECK_EQ(pr.got, BIG);
        CHECK(pr.ok);
        fprintf(stderr, "  pipe write on %s: %d signal(s) sent to the blocked writer, %d handled\n", backend,
                atomic_load(&pr.signals), atomic_load(&usr1_seen));
        if (!on_uring && atomic_load(&pr.signals) == 0) /* /proc/self/task/N/syscall unreadable? */
            fprintf(stderr, "  note: the worker was never seen in write(2): no interrupted writes\n");
    }
    if (f)
        cio_file_close(f);
    free(buf);
    close(p[0]);
    sigaction(SIGUSR1, &old, NULL);
    return NULL;
}

/* A write that the kernel cuts short (RLIMIT_FSIZE: the first write stops
 * at the limit, the next fails with EFBIG) is an error, never a short
 * count: the continuation loop reaches the failing write. */
static void *t_short_then_error(void *arg)
{
    (void)arg;
    char p[128];
    path_of(p, sizeof p, "fsize");
    unlink(p);
    void (*old_xfsz)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    CHECK_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 1 << 20;
    CHECK_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
    size_t n = 3u << 20;
    unsigned char *buf = malloc(n);
    fill_pattern(buf, n, 5);
    cio_file *f;
    CHECK_EQ(cio_file_open(p, "w", &f), 0);
    CHECK_EQ(cio_file_write(f, buf, n), -EFBIG);
    CHECK_EQ(cio_file_pwrite(f, buf, n, 0), -EFBIG);
    CHECK_EQ(cio_file_close(f), 0);
    CHECK_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_xfsz);
    CHECK_EQ(size_of(p), 1 << 20); /* what the short write did write */
    size_t len;
    char *d = slurp(p, &len);
    CHECK(d && len == (1u << 20) && memcmp(d, buf, len) == 0);
    free(d);
    free(buf);
    unlink(p);
    return NULL;
}

/* ---- whole-file helpers -------------------------------------------------------- */

static void *t_whole(void *arg)
{
    (void)arg;
    char p[128], missing[128];
    path_of(p, sizeof p, "whole");
    path_of(missing, sizeof missing, "no-such-dir/whole");
    char *data = NULL;
    size_t len = 99;

    CHECK_EQ(cio_file_write_all(p, "first\n", 6), 0);
    CHECK(content_is(p, "first\n"));
    CHECK_EQ(cio_file_write_all(p, "one\n", 4), 0); /* truncates */
    CHECK(content_is(p, "one\n"));
    CHECK_EQ(cio_file_append_all(p, "two\n", 4), 0);
    CHECK_EQ(cio_file_append_all(p, "three\n", 6), 0);
    CHECK_EQ(cio_file_read_all(p, &data, &len), 0);
    CHECK_EQ(len, 14);
    CHECK(data && memcmp(data, "one\ntwo\nthree\n", 14) == 0);
    free(data);

    /* empty file, empty write */
    CHECK_EQ(cio_file_write_all(p, "", 0), 0);
    CHECK_EQ(size_of(p), 0);
    data = NULL;
    CHECK_EQ(cio_file_read_all(p, &data, &len), 0);
    CHECK_EQ(len, 0);
    free(data);

    /* append_all creates */
    unlink(p);
    CHECK_EQ(cio_file_append_all(p, "created\n", 8), 0);
    CHECK(content_is(p, "created\n"));

    /* bigger than the first guess, and a file whose size says 0 (/proc) */
    size_t n = 300 * 1000 + 17;
    unsigned char *big = malloc(n);
    fill_pattern(big, n, 11);
    CHECK_EQ(cio_file_write_all(p, big, n), 0);
    CHECK_EQ(cio_file_read_all(p, &data, &len), 0);
    CHECK_EQ(len, n);
    CHECK(data && memcmp(data, big, n) == 0);
    free(data);
    free(big);
    CHECK_EQ(cio_file_read_all("/proc/self/status", &data, &len), 0);
    CHECK(len > 0 && data && memmem(data, len, "Name:", 5) != NULL);
    free(data);

    /* errors */
    data = (char *)1;
    len = 5;
    CHECK_EQ(cio_file_read_all(missing, &data, &len), -ENOENT);
    CHECK(data == NULL);
    CHECK_EQ(len, 0);
    CHECK_EQ(cio_file_read_all(dir, &data, &len), -EISDIR);
    CHECK(data == NULL);
    CHECK_EQ(cio_file_write_all(missing, "x", 1), -ENOENT);
    CHECK_EQ(cio_file_append_all(missing, "x", 1), -ENOENT);
    CHECK_EQ(cio_file_write_all(dir, "x", 1), -EISDIR);
    unlink(p);
    return NULL;
}

/* ---- errors ----------------------------------------------------------------------- */

static void *t_open_errors_map_errno(void *arg)
{
    (void)arg;
    char p[128], sub[128], deep[128];
    path_of(p, sizeof p, "plain");
    path_of(sub, sizeof sub, "plain/sub");
    path_of(deep, sizeof deep, "missing-dir/file");
    CHECK_EQ(cio_file_write_all(p, "data", 4), 0);
    cio_file *f = (cio_file *)1;
    CHECK_EQ(cio_file_open(deep, "r", &f), -ENOENT);
    CHECK(f == NULL);
    CHECK_EQ(cio_file_open(deep, "w", &f), -ENOENT);
    CHECK_EQ(cio_file_open(sub, "r", &f), -ENOTDIR);
    CHECK_EQ(cio_file_open(dir, "w", &f), -EISDIR);
    CHECK_EQ(cio_file_open(dir, "a", &f), -EISDIR);
    CHECK_EQ(cio_file_open(dir, "r+", &f), -EISDIR);
    /* a directory opens read-only, but reading it is EISDIR */
    CHECK_EQ(cio_file_open(dir, "r", &f), 0);
    if (f) {
        char b[16];
        CHECK_EQ(cio_file_read(f, b, sizeof b), -EISDIR);
        CHECK_EQ(cio_file_pread(f, b, sizeof b, 0), -EISDIR);
        struct stat st;
        CHECK_EQ(cio_file_stat(f, &st), 0);
        CHECK(S_ISDIR(st.st_mode));
        CHECK_EQ(cio_file_close(f), 0);
    }
    unlink(p);
    return NULL;
}

/* EACCES on a 0000 file, in a process that is not root. */
static char acc_locked[128], acc_open[128];

static void *acc_main(void *arg)
{
    (void)arg;
    int bad = 0;
    cio_file *f = NULL;
    const char *modes[] = {"r", "r+", "w", "a", "a+"};
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        f = (cio_file *)1;
        int rc = cio_file_open(acc_locked, modes[i], &f);
        if (rc != -EACCES || f != NULL) {
            fprintf(stderr, "  open(0000 file, \"%s\") = %d\n", modes[i], rc);
            bad++;
        }
    }
    char *d = NULL;
    size_t len;
    if (cio_file_read_all(acc_locked, &d, &len) != -EACCES)
        bad++;
    if (cio_file_write_all(acc_locked, "x", 1) != -EACCES)
        bad++;
    /* the control: a readable file next to it opens fine */
    if (cio_file_open(acc_open, "r", &f) != 0)
        bad++;
    else
        cio_file_close(f);
    return (void *)(intptr_t)bad;
}

static void t_eacces(void)
{
    check_current = "t_eacces";
    int fails = check_failures;
    path_of(acc_locked, sizeof acc_locked, "locked");
    path_of(acc_open, sizeof acc_open, "readable");
    int fd = open(acc_locked, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK_EQ(write(fd, "secret", 6), 6);
        close(fd);
    }
    CHECK_EQ(chmod(acc_locked, 0), 0);
    fd = open(acc_open, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0)
        close(fd);
    chmod(acc_open, 0644);
    if (geteuid() != 0) {
        void *bad = NULL;
        CHECK_EQ(cio_run(acc_main, NULL, &bad), 0);
        CHECK_EQ((intptr_t)bad, 0);
    } else {
        /* root reads anything: drop to nobody in a child (the directory
         * must be searchable for it to reach the file at all) */
        chmod(dir, 0755);
        fflush(NULL);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
                perror("setuid");
                _exit(77);
            }
            void *bad = NULL;
            int rc = cio_run(acc_main, NULL, &bad);
            _exit(rc == 0 && bad == NULL ? 0 : 1);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status));
        if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
            fprintf(stderr, "  note: could not become nobody; EACCES not checked\n");
        else
            CHECK_EQ(WEXITSTATUS(status), 0);
        chmod(dir, 0700);
    }
    unlink(acc_locked);
    unlink(acc_open);
    fprintf(stderr, "%s t_eacces%s\n", check_failures == fails ? "ok  " : "FAIL",
            geteuid() == 0 ? " (as nobody, in a child)" : "");
}

/* ---- the loop never blocks ---------------------------------------------------------- */

typedef struct ticker {
    double period, max_late;
    atomic_int ticks; /* read by a writer thread */
    bool stop;
} ticker;

static void *ticker_main(void *arg)
{
    ticker *tk = arg;
    while (!tk->stop) {
        double due = cio_time() + tk->period;
        if (cio_sleep(tk->period) < 0)
            break;
        double late = cio_time() - due;
        if (late > tk->max_late)
            tk->max_late = late;
        atomic_fetch_add(&tk->ticks, 1);
    }
    return NULL;
}

/* Writes to a pipe once the loop's ticker has ticked `ticks` times (or 10 s
 * passed): only a loop that keeps running while a task waits in a read can
 * release that read. */
typedef struct ticks_pipe_write {
    int fd, ticks;
    ticker *tk;
} ticks_pipe_write;

static void *ticks_pipe_writer(void *arg)
{
    ticks_pipe_write *d = arg;
    for (int i = 0; i < 50000 && atomic_load(&d->tk->ticks) < d->ticks; i++)
        usleep(200);
    ssize_t w = write(d->fd, "ping", 4);
    (void)w;
    return NULL;
}

static void *t_no_block(void *arg)
{
    (void)arg;
    ticker tk = {.period = 0.01};
    cio_task *tt = cio_spawn(ticker_main, &tk);
    cio_yield();

    /* a read from a pipe (opened as a file) whose writer waits for 20 ticks */
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    cio_file *f = NULL;
    CHECK_EQ(cio_file_open(path, "r", &f), 0);
    int ticks0 = atomic_load(&tk.ticks);
    ticks_pipe_write dw = {.fd = p[1], .ticks = ticks0 + 20, .tk = &tk};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, ticks_pipe_writer, &dw), 0);
    double t0 = cio_time();
    char buf[16];
    CHECK_EQ(cio_file_read(f, buf, sizeof buf), 4);
    double waited = cio_time() - t0;
    pthread_join(th, NULL);
    /* the ticker ran while the read waited: 20 ticks of 10 ms at least */
    CHECK(atomic_load(&tk.ticks) - ticks0 >= 20);
    CHECK(waited >= 0.15);
    fprintf(stderr, "  pipe read waited %.0f ms: %d ticks, latest %.1f ms late\n", waited * 1000,
            atomic_load(&tk.ticks) - ticks0, tk.max_late * 1000);
    if (f)
        CHECK_EQ(cio_file_close(f), 0);
    close(p[0]);
    close(p[1]);

    /* bulk file I/O: 32 MiB written, synced, read back */
    char fp[128];
    path_of(fp, sizeof fp, "noblock");
    unsigned char *big = malloc(BIG);
    fill_pattern(big, BIG, 1);
    cio_sleep(0.03); /* the ticker catches up with the time filling took */
    tk.max_late = 0;
    ticks0 = atomic_load(&tk.ticks);
    t0 = cio_time();
    CHECK_EQ(cio_file_write_all(fp, big, BIG), 0);
    cio_file *g;
    CHECK_EQ(cio_file_open(fp, "r+", &g), 0);
    CHECK_EQ(cio_file_fsync(g), 0);
    CHECK_EQ(cio_file_pread(g, big, BIG, 0), (ssize_t)BIG);
    CHECK_EQ(cio_file_close(g), 0);
    double took = cio_time() - t0;
    CHECK(is_pattern(big, BIG, 0, 1));
    /* No tick came much later than due (about 1 ms on epoll; on io_uring
     * the kernel copies page-cache data inline, in the loop thread's
     * io_uring_enter, some 30 ms for 32 MiB).  Bounded from above only, and
     * generously: a loaded machine delays a tick by scheduling alone. */
    CHECK(tk.max_late < 1.0);
    fprintf(stderr, "  32 MiB write+fsync+read took %.0f ms: %d ticks, latest %.1f ms late\n", took * 1000,
            atomic_load(&tk.ticks) - ticks0, tk.max_late * 1000);
    free(big);
    unlink(fp);

    tk.stop = true;
    CHECK(wait_done(tt, 10.0));
    cio_release(tt);
    return NULL;
}

/* ---- concurrent appends -------------------------------------------------------------- */

#define APPENDERS 50
#define LINES 40

typedef struct appender {
    const char *path;
    int id;
    int rc;
} appender;

static size_t line_len(int id, int i) { return 20 + (size_t)((id * 37 + i * 101) % 3000); }

/* "task NN line MMM " followed by filler up to the line's length, then \n */
static size_t make_line(char *out, int id, int i)
{
    size_t len = line_len(id, i);
    int n = snprintf(out, 32, "task %02d line %03d ", id, i);
    for (size_t k = (size_t)n; k < len - 1; k++)
        out[k] = (char)('a' + (id + (int)k) % 26);
    out[len - 1] = '\n';
    return len;
}

static void *appender_main(void *arg)
{
    appender *a = arg;
    char line[3100];
    cio_file *f = NULL;
    /* even tasks keep one file open, odd ones use append_all per line */
    if (a->id % 2 == 0 && (a->rc = cio_file_open(a->path, "a", &f)) < 0)
        return NULL;
    for (int i = 0; i < LINES; i++) {
        size_t n = make_line(line, a->id, i);
        if (f) {
            ssize_t w = cio_file_write(f, line, n);
            if (w != (ssize_t)n) {
                a->rc = w < 0 ? (int)w : -EIO;
                break;
            }
        } else if ((a->rc = cio_file_append_all(a->path, line, n)) < 0) {
            break;
        }
    }
    if (f) {
        int rc = cio_file_close(f);
        if (a->rc == 0)
            a->rc = rc;
    }
    return NULL;
}

static void *t_appends(void *arg)
{
    (void)arg;
    char p[128];
    path_of(p, sizeof p, "appends");
    unlink(p);
    appender ap[APPENDERS];
    cio_task *ts[APPENDERS];
    for (int i = 0; i < APPENDERS; i++) {
        ap[i] = (appender){.path = p, .id = i};
        ts[i] = cio_spawn(appender_main, &ap[i]);
    }
    CHECK_EQ(cio_gather(ts, APPENDERS, NULL, NULL, 0), 0);
    size_t expect = 0;
    for (int i = 0; i < APPENDERS; i++) {
        CHECK_EQ(ap[i].rc, 0);
        cio_release(ts[i]);
        for (int k = 0; k < LINES; k++)
            expect += line_len(i, k);
    }
    char *data = NULL;
    size_t len = 0;
    CHECK_EQ(cio_file_read_all(p, &data, &len), 0);
    CHECK_EQ(len, expect);
    /* every line whole, each exactly once, each task's lines in order */
    int next[APPENDERS] = {0};
    int lines = 0, bad = 0;
    char want[3100];
    for (size_t off = 0; data && off < len;) {
        char *nl = memchr(data + off, '\n', len - off);
        if (!nl) {
            bad++;
            break;
        }
        size_t n = (size_t)(nl - (data + off)) + 1;
        int id = -1, i = -1;
        if (sscanf(data + off, "task %d line %d ", &id, &i) != 2 || id < 0 || id >= APPENDERS || i != next[id] ||
            make_line(want, id, i) != n || memcmp(want, data + off, n) != 0) {
            if (bad++ < 3)
                fprintf(stderr, "  bad line at %zu: %.40s\n", off, data + off);
        } else {
            next[id]++;
        }
        lines++;
        off += n;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(lines, APPENDERS * LINES);
    for (int i = 0; i < APPENDERS; i++)
        CHECK_EQ(next[i], LINES);
    free(data);
    unlink(p);
    return NULL;
}

/* ---- cancellation -------------------------------------------------------------------- */

enum { C_READ, C_OPEN, C_WRITE };

typedef struct call {
    int kind;
    const char *path;
    cio_file *f;
    void *buf;
    size_t n;
    ssize_t rc;  /* the file call's result */
    int next_rc; /* the next suspending call's */
    bool returned;
    double t_returned;
    off_t size_at_return; /* C_WRITE: the file's size when the call returned */
} call;

static void *call_main(void *arg)
{
    call *c = arg;
    switch (c->kind) {
    case C_READ:
        c->rc = cio_file_read(c->f, c->buf, c->n);
        break;
    case C_OPEN:
        c->f = NULL;
        c->rc = cio_file_open(c->path, "r", &c->f);
        break;
    case C_WRITE:
        c->rc = cio_file_write(c->f, c->buf, c->n);
        c->size_at_return = size_of(c->path);
        break;
    }
    c->returned = true;
    c->t_returned = cio_time();
    c->next_rc = cio_yield();
    return NULL;
}

/* A read parked on an empty pipe, cancelled. */
static void cancel_read(void)
{
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    call c = {.kind = C_READ};
    char buf[64];
    c.buf = buf;
    c.n = sizeof buf;
    CHECK_EQ(cio_file_open(path, "r", &c.f), 0);
    if (!c.f) {
        close(p[0]);
        close(p[1]);
        return;
    }
    int fl = fcntl(p[0], F_GETFL);
    fcntl(p[0], F_SETFL, fl | O_NONBLOCK); /* our own description; the file's stays blocking */
    cio_task *t = cio_spawn(call_main, &c);
    cio_sleep(0.05); /* parked in the read */
    CHECK(!c.returned);
    CHECK(cio_cancel(t, NULL));
    cio_sleep(0.2);
    if (!on_uring) {
        /* the worker is still inside read(2): the call has not returned */
        CHECK(!c.returned);
        CHECK_EQ(cio_task_state(t), CIO_TASK_SUSPENDED);
    }
    bool wrote = false;
    if (!c.returned) {
        CHECK_EQ(write(p[1], "xyz", 3), 3);
        wrote = true;
    }
    CHECK(wait_done(t, 5.0));
    CHECK(c.returned);
    if (!on_uring) {
        CHECK_EQ(c.rc, -ECANCELED);
        CHECK_EQ(c.next_rc, 0);
        /* the read did happen before the call returned: the bytes are gone */
        char b[8];
        CHECK_EQ(read(p[0], b, sizeof b), -1);
        CHECK_EQ(errno, EAGAIN);
    } else if (c.rc == -ECANCELED) {
        CHECK_EQ(c.next_rc, 0); /* the kernel cancelled it: delivered once */
        if (wrote) {            /* nothing was consumed */
            char b[8];
            CHECK_EQ(read(p[0], b, sizeof b), 3);
        }
    } else {
        CHECK_EQ(c.rc, 3); /* completed first: the bytes are returned */
        CHECK(memcmp(buf, "xyz", 3) == 0);
        CHECK_EQ(c.next_rc, -ECANCELED);
    }
    CHECK(cio_cancelled(t));
    cio_release(t);
    int fd = cio_file_fd(c.f);
    CHECK_EQ(cio_file_close(c.f), 0);
    CHECK(!fd_open(fd));
    close(p[0]);
    close(p[1]);
}

/* An open of a FIFO with no writer blocks in open(2) on the executor;
 * cancelled, it returns only once the open is over, and closes the file
 * that nobody will get. */
static void cancel_open(void)
{
    char fifo[128];
    path_of(fifo, sizeof fifo, "fifo");
    unlink(fifo);
    CHECK_EQ(mkfifo(fifo, 0600), 0);
    int fds = check_count_fds();
    call c = {.kind = C_OPEN, .path = fifo};
    cio_task *t = cio_spawn(call_main, &c);
    cio_sleep(0.05);
    if (on_uring && c.returned) {
        /* io_uring's openat does not wait for a FIFO's writer */
        CHECK_EQ(c.rc, 0);
        CHECK(wait_done(t, 10.0));
        cio_release(t);
        if (c.f)
            CHECK_EQ(cio_file_close(c.f), 0);
        unlink(fifo);
        CHECK_EQ(check_count_fds(), fds);
        return;
    }
    CHECK(!c.returned);
    CHECK(cio_cancel(t, NULL));
    cio_sleep(0.2);
    if (!on_uring)
        CHECK(!c.returned); /* still inside open(2) */
    int w = -1;
    if (!c.returned) /* a writer arrives: the open completes */
        w = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    CHECK(wait_done(t, 5.0));
    CHECK(c.returned);
    if (c.rc == -ECANCELED) {
        CHECK(c.f == NULL);
        CHECK_EQ(c.next_rc, 0);
    } else {
        CHECK(on_uring); /* only the ring may complete it first */
        CHECK_EQ(c.rc, 0);
        CHECK_EQ(c.next_rc, -ECANCELED);
        if (c.f)
            CHECK_EQ(cio_file_close(c.f), 0);
    }
    cio_release(t);
    if (w >= 0)
        close(w);
    CHECK_EQ(check_count_fds(), fds); /* the file opened for nobody was closed */
    unlink(fifo);
}

/* A 32 MiB write cancelled right after it started. */
static void cancel_write(void)
{
    char p[128];
    path_of(p, sizeof p, "cancel-write");
    unsigned char *big = malloc(BIG);
    fill_pattern(big, BIG, 2);
    call c = {.kind = C_WRITE, .path = p, .buf = big, .n = BIG};
    CHECK_EQ(cio_file_open(p, "w", &c.f), 0);
    cio_task *t = cio_spawn(call_main, &c);
    cio_yield(); /* it starts and parks */
    CHECK(!c.returned);
    CHECK(cio_cancel(t, NULL));
    CHECK(wait_done(t, 10.0));
    CHECK(c.returned);
    if (c.rc == -ECANCELED) {
        CHECK_EQ(c.next_rc, 0);
        if (!on_uring) /* the worker finished the write before the call returned */
            CHECK_EQ(c.size_at_return, BIG);
        else /* the ring does not leave half a write behind */
            CHECK(c.size_at_return == 0 || c.size_at_return == BIG);
    } else {
        CHECK(on_uring);
        CHECK_EQ(c.rc, (ssize_t)BIG);
        CHECK_EQ(c.size_at_return, BIG);
        CHECK_EQ(c.next_rc, -ECANCELED);
    }
    cio_release(t);
    CHECK_EQ(cio_file_close(c.f), 0);
    free(big); /* nobody touches it any more */
    unlink(p);
}

/* cio_file_close cancelled while its close(2) is in flight: the file is
 * closed exactly once.  The fd number is free again as soon as the close
 * ran, so a second close(2) of that number would hit whatever file got it
 * next (here: one opened while the closing task is still parked). */
typedef struct closer {
    cio_file *f;
    int rc;
    bool returned;
} closer;

static void *closer_main(void *arg)
{
    closer *c = arg;
    c->rc = cio_file_close(c->f);
    c->returned = true;
    return NULL;
}

static void cancel_close(void)
{
    char p[128];
    path_of(p, sizeof p, "cancel-close");
    closer c = {0};
    CHECK_EQ(cio_file_open(p, "w", &c.f), 0);
    if (!c.f)
        return;
    int fd = cio_file_fd(c.f);
    cio_task *t = cio_spawn(closer_main, &c);
    cio_yield(); /* parked in the close */
    CHECK(!c.returned);
    CHECK(cio_cancel(t, NULL));
    /* without letting the loop run (the task stays parked), wait until the
     * close has happened, then open something else: it gets the number */
    int other = -1;
    for (int i = 0; i < 2000 && fd_open(fd); i++)
        usleep(1000);
    if (!fd_open(fd))
        other = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(wait_done(t, 5.0));
    CHECK(c.returned);
    CHECK(c.rc == -ECANCELED || c.rc == 0);
    if (other >= 0) {
        if (!fd_open(other))
            fprintf(stderr, "  fd %d (reused number of the file, opened elsewhere) was closed by the cancelled "
                            "cio_file_close (returned %d)\n",
                    other, c.rc);
        CHECK(fd_open(other));
        close(other);
    }
    cio_release(t);
    unlink(p);
}

/* Cancelled before the call: -ECANCELED at once, nothing done. */
static void *precancelled_main(void *arg)
{
    call *c = arg;
    cio_cancel(cio_current_task(), NULL);
    c->rc = cio_file_write(c->f, "never", 5);
    c->next_rc = cio_yield();
    return NULL;
}

static void *t_cancel(void *arg)
{
    (void)arg;
    int fds = check_count_fds();
    cancel_read();
    CHECK_EQ(check_count_fds(), fds);
    cancel_open();
    CHECK_EQ(check_count_fds(), fds);
    cancel_write();
    CHECK_EQ(check_count_fds(), fds);
    cancel_close();
    CHECK_EQ(check_count_fds(), fds);

    char p[128];
    path_of(p, sizeof p, "precancel");
    call c = {0};
    CHECK_EQ(cio_file_open(p, "w", &c.f), 0);
    cio_task *t = cio_spawn(precancelled_main, &c);
    CHECK(wait_done(t, 10.0));
    CHECK_EQ(c.rc, -ECANCELED);
    CHECK_EQ(c.next_rc, 0);
    CHECK(cio_cancelled(t));
    cio_release(t);
    CHECK_EQ(cio_file_close(c.f), 0);
    CHECK_EQ(size_of(p), 0);
    unlink(p);
    CHECK_EQ(check_count_fds(), fds);
    return NULL;
}

/* ---- outside a task ---------------------------------------------------------------- */

static void t_outside(void)
{
    check_current = "t_outside";
    int fails = check_failures;
    cio_loop *l = cio_loop_new();
    cio_loop_set_current(l);
    char p[128];
    path_of(p, sizeof p, "outside");
    cio_file *f = (cio_file *)1;
    CHECK_EQ(cio_file_open(p, "w", &f), CIO_ENOTASK);
    CHECK(f == NULL);
    CHECK_EQ(size_of(p), -1);
    struct stat st;
    CHECK_EQ(cio_stat(dir, &st), CIO_ENOTASK);
    char *d;
    size_t n;
    CHECK_EQ(cio_file_read_all("/proc/self/status", &d, &n), CIO_ENOTASK);
    CHECK_EQ(cio_file_write_all(p, "x", 1), CIO_ENOTASK);
    CHECK_EQ(cio_loop_close(l), 0);
    fprintf(stderr, "%s t_outside\n", check_failures == fails ? "ok  " : "FAIL");
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/cio-file-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    cio_loop *probe = cio_loop_new();
    if (probe) {
        backend = cio_loop_backend(probe);
        cio_loop_close(probe);
    }
    on_uring = strcmp(backend, "io_uring") == 0;
    fprintf(stderr, "-- back end %s\n", backend);

    RUN_TASK_TEST(t_modes);
    RUN_TASK_TEST(t_rw);
    RUN_TASK_TEST(t_large);
    RUN_TASK_TEST(t_large_pipe);
    RUN_TASK_TEST(t_short_then_error);
    RUN_TASK_TEST(t_whole);
    RUN_TASK_TEST(t_open_errors_map_errno);
    RUN_TEST(t_eacces);
    RUN_TASK_TEST(t_no_block);
    RUN_TASK_TEST(t_appends);
    RUN_TASK_TEST(t_cancel);
    RUN_TEST(t_outside);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_exit();
}
