/* SPDX-License-Identifier: MIT */
/* Waiting on file descriptors, readers and writers, forgetting and closing
 * fds, and stale events for reused fd numbers, on the back end CIO_BACKEND
 * names (lib/backends.h: CTest runs test_fd, test_fd@poll, test_fd@io_uring).
 *
 * Exit 0 = pass. */
#include "check.h"
#include "lib/backends.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *backend;

static void nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static void write_byte_cb(void *arg)
{
    int fd = (int)(intptr_t)arg;
    CHECK_EQ(write(fd, "x", 1), 1);
}

static void *writer_task(void *arg)
{
    int fd = (int)(intptr_t)arg;
    cio_sleep(0.002);
    CHECK_EQ(write(fd, "y", 1), 1);
    return NULL;
}

/* ---- readiness ------------------------------------------------------------- */

static void *t_readable_writable(void *arg)
{
    (void)arg;
    cio_loop *l = cio_loop_current();
    CHECK(strcmp(cio_loop_backend(l), backend) == 0);
    int p[2];
    CHECK_EQ(pipe(p), 0);
    /* data written from a callback */
    cio_call_later(l, 0.005, write_byte_cb, (void *)(intptr_t)p[1], NULL);
    CHECK_EQ(cio_wait_readable(p[0]), CIO_READABLE);
    char c;
    CHECK_EQ(read(p[0], &c, 1), 1);
    CHECK_EQ(c, 'x');
    /* from another task */
    cio_task *w = cio_spawn(writer_task, (void *)(intptr_t)p[1]);
    CHECK_EQ(cio_wait_fd(p[0], CIO_READABLE), CIO_READABLE);
    CHECK_EQ(read(p[0], &c, 1), 1);
    CHECK_EQ(c, 'y');
    cio_await(w, NULL);
    cio_release(w);
    /* data left unread: level-triggered, a new wait returns at once */
    CHECK_EQ(write(p[1], "z", 1), 1);
    CHECK_EQ(cio_wait_readable(p[0]), CIO_READABLE);
    CHECK_EQ(cio_wait_readable(p[0]), CIO_READABLE);
    CHECK_EQ(read(p[0], &c, 1), 1);
    /* writable */
    CHECK_EQ(cio_wait_writable(p[1]), CIO_WRITABLE);
    /* a socket with nothing to read, asked for both: writable only */
    int s[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
    CHECK_EQ(cio_wait_fd(s[0], CIO_READABLE | CIO_WRITABLE), CIO_WRITABLE);
    CHECK_EQ(write(s[1], "q", 1), 1);
    CHECK_EQ(cio_wait_fd(s[0], CIO_READABLE | CIO_WRITABLE), CIO_READABLE | CIO_WRITABLE);
    /* hang-up: the reader wakes and read() reports EOF */
    CHECK_EQ(read(s[0], &c, 1), 1);
    CHECK_EQ(cio_close(s[1]), 0);
    CHECK(cio_wait_readable(s[0]) & CIO_READABLE);
    CHECK_EQ(read(s[0], &c, 1), 0);
    CHECK_EQ(cio_close(s[0]), 0);
    CHECK_EQ(cio_close(p[1]), 0);
    CHECK(cio_wait_readable(p[0]) & CIO_READABLE);
    CHECK_EQ(read(p[0], &c, 1), 0);
    CHECK_EQ(cio_close(p[0]), 0);
    return NULL;
}

static void *drain_later(void *arg)
{
    int fd = (int)(intptr_t)arg;
    cio_sleep(0.005);
    char buf[4096];
    while (read(fd, buf, sizeof buf) > 0) {
    }
    return NULL;
}

static void *t_writable_blocks(void *arg)
{
    (void)arg;
    int p[2];
    CHECK_EQ(pipe(p), 0);
    nonblock(p[1]);
    nonblock(p[0]);
    char buf[4096] = {0};
    while (write(p[1], buf, sizeof buf) > 0) {
    }
    CHECK_EQ(errno, EAGAIN);
    cio_task *d = cio_spawn(drain_later, (void *)(intptr_t)p[0]);
    double t0 = cio_loop_time(cio_loop_current());
    CHECK_EQ(cio_wait_writable(p[1]), CIO_WRITABLE);
    CHECK(cio_loop_time(cio_loop_current()) - t0 >= 0.004);
    CHECK(write(p[1], buf, 1) == 1);
    cio_await(d, NULL);
    cio_release(d);
    cio_close(p[0]);
    cio_close(p[1]);
    return NULL;
}

static int woken[8];
static void *wait_idx(void *arg)
{
    int *fds = arg;
    int rc = cio_wait_fd(fds[0], fds[1]);
    woken[fds[2]] = rc;
    return NULL;
}

static void *t_several_waiters(void *arg)
{
    (void)arg;
    int s[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
    nonblock(s[0]);
    /* two readers and a writer on the same fd */
    int a[3] = {s[0], CIO_READABLE, 0}, b[3] = {s[0], CIO_READABLE, 1}, c[3] = {s[0], CIO_WRITABLE, 2};
    memset(woken, 0, sizeof woken);
    cio_task *ta = cio_spawn(wait_idx, a), *tb = cio_spawn(wait_idx, b), *tc = cio_spawn(wait_idx, c);
    cio_sleep(0.002);
    CHECK_EQ(woken[2], CIO_WRITABLE); /* writable at once */
    CHECK_EQ(woken[0], 0);
    CHECK_EQ(woken[1], 0);
    CHECK_EQ(write(s[1], "x", 1), 1);
    cio_await(ta, NULL);
    cio_await(tb, NULL);
    CHECK_EQ(woken[0], CIO_READABLE);
    CHECK_EQ(woken[1], CIO_READABLE);
    cio_release(ta);
    cio_release(tb);
    cio_release(tc);
    /* many fds, across the fd table's chunks (256 entries each) */
    enum { N = 40 };
    int pf[N][2];
    int args[N][3];
    cio_task *ts[N];
    int hi = -1;
    for (int i = 0; i < N; i++) {
        CHECK_EQ(pipe(pf[i]), 0);
        if (i == N - 1) { /* one with a high number */
            hi = dup2(pf[i][0], 700);
            CHECK_EQ(hi, 700);
            close(pf[i][0]);
            pf[i][0] = hi;
        }
        args[i][0] = pf[i][0];
        args[i][1] = CIO_READABLE;
        args[i][2] = 0;
        ts[i] = cio_spawn(wait_idx, args[i]);
    }
    cio_yield();
    for (int i = N - 1; i >= 0; i--)
        CHECK_EQ(write(pf[i][1], "x", 1), 1);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(cio_await(ts[i], NULL), 0);
        cio_release(ts[i]);
        cio_close(pf[i][0]);
        cio_close(pf[i][1]);
    }
    cio_close(s[0]);
    cio_close(s[1]);
    return NULL;
}

/* ---- errors -------------------------------------------------------------- */

static void *t_bad_fds_refused(void *arg)
{
    (void)arg;
    int p[2];
    CHECK_EQ(pipe(p), 0);
    CHECK_EQ(cio_wait_fd(-1, CIO_READABLE), -EINVAL);
    CHECK_EQ(cio_wait_fd(p[0], 0), -EINVAL);
    CHECK_EQ(cio_wait_fd(p[0], 4), -EINVAL);
    CHECK_EQ(cio_wait_fd(p[0], CIO_READABLE | 8), -EINVAL);
    /* the loop's own fds are not for waiting */
    CHECK_EQ(cio_wait_readable(cio_loop_current()->wake_fd), -EBUSY);
    CHECK_EQ(cio_add_reader(NULL, cio_loop_current()->wake_fd, write_byte_cb, NULL), -EBUSY);
    CHECK(!cio_remove_reader(NULL, cio_loop_current()->wake_fd));
    /* a regular file */
    char path[] = "/tmp/cio_test_fd_XXXXXX";
    int rf = mkstemp(path);
    CHECK(rf >= 0);
    unlink(path);
    int rc = cio_wait_readable(rf);
    if (strcmp(backend, "epoll") == 0)
        CHECK_EQ(rc, -EPERM); /* epoll refuses regular files: an error, not a hang */
    else
        CHECK_EQ(rc, CIO_READABLE); /* poll: always ready */
    rc = cio_wait_writable(rf);
    if (strcmp(backend, "epoll") == 0)
        CHECK_EQ(rc, -EPERM);
    else
        CHECK_EQ(rc, CIO_WRITABLE);
    cio_close(rf);
    /* a closed fd number (epoll: EBADF at registration) */
    int dead = dup(p[0]);
    close(dead);
    if (strcmp(backend, "epoll") == 0)
        CHECK_EQ(cio_wait_readable(dead), -EBADF);
    cio_fd_forget(NULL, dead);
    /* outside a task */
    cio_close(p[0]);
    cio_close(p[1]);
    return NULL;
}

/* ---- forget and close while waiting ----------------------------------------- */

static void forget_cb(void *arg) { cio_fd_forget(cio_loop_current(), (int)(intptr_t)arg); }

static int closed_fd = -1;
static void close_cb(void *arg)
{
    (void)arg;
    CHECK_EQ(cio_close(closed_fd), 0);
}

static void *t_forget_close(void *arg)
{
    (void)arg;
    cio_loop *l = cio_loop_current();
    int p[2];
    CHECK_EQ(pipe(p), 0);
    cio_call_later(l, 0.003, forget_cb, (void *)(intptr_t)p[0], NULL);
    CHECK_EQ(cio_wait_readable(p[0]), -EBADF);
    /* forgotten, not closed: it can be waited on again */
    CHECK_EQ(write(p[1], "x", 1), 1);
    CHECK_EQ(cio_wait_readable(p[0]), CIO_READABLE);
    /* several waiters, both directions, then cio_close from a callback */
    int a[3] = {p[0], CIO_READABLE, 0}, b[3] = {p[0], CIO_READABLE, 1};
    char c;
    CHECK_EQ(read(p[0], &c, 1), 1);
    memset(woken, 0, sizeof woken);
    cio_task *ta = cio_spawn(wait_idx, a), *tb = cio_spawn(wait_idx, b);
    closed_fd = p[0];
    cio_call_later(l, 0.003, close_cb, NULL, NULL);
    cio_await(ta, NULL);
    cio_await(tb, NULL);
    CHECK_EQ(woken[0], -EBADF);
    CHECK_EQ(woken[1], -EBADF);
    cio_release(ta);
    cio_release(tb);
    /* forgetting an fd nobody watches, or outside any table range */
    cio_fd_forget(l, 100000);
    cio_fd_forget(l, -1);
    CHECK_EQ(cio_close(p[1]), 0);
    CHECK_EQ(cio_close(p[1]), -EBADF);
    return NULL;
}

/* ---- readers and writers -------------------------------------------------- */

typedef struct rd {
    int fd;
    int calls;
    int consume; /* read one byte per call */
    int remove_after;
} rd;

static void reader_cb(void *arg)
{
    rd *r = arg;
    r->calls++;
    if (r->consume) {
        char c;
        CHECK_EQ(read(r->fd, &c, 1), 1);
    }
    if (r->remove_after && r->calls >= r->remove_after)
        CHECK(cio_remove_reader(NULL, r->fd));
}

static void writer_cb(void *arg)
{
    rd *r = arg;
    r->calls++;
    if (r->remove_after && r->calls >= r->remove_after)
        CHECK(cio_remove_writer(NULL, r->fd));
}

static void *t_readers_writers(void *arg)
{
    (void)arg;
    cio_loop *l = cio_loop_current();
    int p[2];
    CHECK_EQ(pipe(p), 0);
    rd r = {.fd = p[0], .consume = 1};
    CHECK_EQ(cio_add_reader(l, p[0], reader_cb, &r), 0);
    cio_sleep(0.002);
    CHECK_EQ(r.calls, 0);
    CHECK_EQ(write(p[1], "abc", 3), 3);
    cio_sleep(0.005);
    CHECK_EQ(r.calls, 3); /* level-triggered: once per byte read */
    CHECK(cio_remove_reader(l, p[0]));
    CHECK(!cio_remove_reader(l, p[0]));
    CHECK_EQ(write(p[1], "d", 1), 1);
    cio_sleep(0.003);
    CHECK_EQ(r.calls, 3);
    /* unread data: called every iteration until removed */
    rd r2 = {.fd = p[0], .remove_after = 5};
    CHECK_EQ(cio_add_reader(NULL, p[0], reader_cb, &r2), 0);
    cio_sleep(0.01);
    CHECK_EQ(r2.calls, 5);
    /* replacing a reader */
    rd r3 = {.fd = p[0], .remove_after = 1}, r4 = {.fd = p[0], .consume = 1, .remove_after = 1};
    CHECK_EQ(cio_add_reader(NULL, p[0], reader_cb, &r3), 0);
    CHECK_EQ(cio_add_reader(NULL, p[0], reader_cb, &r4), 0);
    cio_sleep(0.003);
    CHECK_EQ(r3.calls, 0);
    CHECK_EQ(r4.calls, 1);
    /* writer */
    rd w = {.fd = p[1], .remove_after = 2};
    CHECK_EQ(cio_add_writer(l, p[1], writer_cb, &w), 0);
    cio_sleep(0.003);
    CHECK_EQ(w.calls, 2);
    CHECK(!cio_remove_writer(l, p[1]));
    /* reader and a task waiting on the same fd */
    rd r5 = {.fd = p[0], .consume = 0};
    CHECK_EQ(cio_add_reader(l, p[0], reader_cb, &r5), 0);
    cio_call_later(l, 0.002, write_byte_cb, (void *)(intptr_t)p[1], NULL);
    CHECK_EQ(cio_wait_readable(p[0]), CIO_READABLE);
    CHECK(r5.calls >= 1);
    CHECK(cio_remove_reader(l, p[0]));
    char c;
    CHECK_EQ(read(p[0], &c, 1), 1);
    /* bad arguments */
    CHECK_EQ(cio_add_reader(l, p[0], NULL, NULL), -EINVAL);
    CHECK_EQ(cio_add_reader(l, -1, reader_cb, &r), -EINVAL);
    CHECK_EQ(cio_add_writer(l, -1, writer_cb, &r), -EINVAL);
    CHECK(!cio_remove_reader(l, 99999));
    CHECK(!cio_remove_writer(l, -1));
    /* a reader left on an fd that is closed with cio_close is dropped */
    rd r6 = {.fd = p[0]};
    CHECK_EQ(cio_add_reader(l, p[0], reader_cb, &r6), 0);
    cio_close(p[0]);
    CHECK(!cio_remove_reader(l, p[0]));
    cio_close(p[1]);
    return NULL;
}

/* ---- stale events for a reused fd number ---------------------------------- */

/* Two readers, both with an event in the same batch.  Whichever runs first
 * closes the other's fd with cio_close and puts a new, empty pipe on the same
 * number with a new reader.  The event already collected for the old file
 * must reach neither the old reader nor the new one. */
typedef struct pairfd {
    int fd[2];      /* the two read ends */
    int wr[2];      /* their write ends */
    int calls[2];   /* old readers */
    int newcalls;   /* the new reader on the reused number */
    int newwr;      /* write end of the new pipe */
    int first;      /* which one ran first, -1 none */
} pairfd;

static pairfd pp;

static void new_reader_cb(void *arg)
{
    (void)arg;
    pp.newcalls++;
}

static void old_reader_cb(void *arg)
{
    int i = (int)(intptr_t)arg;
    pp.calls[i]++;
    if (pp.first >= 0)
        return;
    pp.first = i;
    int victim = pp.fd[1 - i];
    CHECK_EQ(cio_close(victim), 0);
    int q[2];
    CHECK_EQ(pipe(q), 0);
    if (q[0] != victim) { /* the new file gets the old number */
        if (q[0] != victim) {
            CHECK_EQ(dup2(q[0], victim), victim);
            close(q[0]);
        }
    }
    pp.newwr = q[1];
    CHECK_EQ(cio_add_reader(NULL, victim, new_reader_cb, NULL), 0);
    char c;
    CHECK_EQ(read(pp.fd[i], &c, 1), 1);
}

static void *t_stale_event_reader(void *arg)
{
    (void)arg;
    cio_loop *l = cio_loop_current();
    memset(&pp, 0, sizeof pp);
    pp.first = -1;
    for (int i = 0; i < 2; i++) {
        int q[2];
        CHECK_EQ(pipe(q), 0);
        pp.fd[i] = q[0];
        pp.wr[i] = q[1];
    }
    CHECK_EQ(cio_add_reader(l, pp.fd[0], old_reader_cb, (void *)0), 0);
    CHECK_EQ(cio_add_reader(l, pp.fd[1], old_reader_cb, (void *)1), 0);
    /* both readable before the loop next polls: one batch */
    CHECK_EQ(write(pp.wr[0], "a", 1), 1);
    CHECK_EQ(write(pp.wr[1], "b", 1), 1);
    cio_sleep(0.005);
    CHECK(pp.first >= 0);
    int f = pp.first;
    CHECK_EQ(pp.calls[f], 1);
    CHECK_EQ(pp.calls[1 - f], 0); /* the closed file's event went nowhere */
    CHECK_EQ(pp.newcalls, 0);     /* and not to the new file either */
    /* the new registration works */
    CHECK_EQ(write(pp.newwr, "n", 1), 1);
    cio_sleep(0.003);
    CHECK(pp.newcalls >= 1);
    CHECK(cio_remove_reader(l, pp.fd[1 - f]));
    CHECK(cio_remove_reader(l, pp.fd[f]));
    for (int i = 0; i < 2; i++) {
        cio_close(pp.fd[i]);
        cio_close(pp.wr[i]);
    }
    cio_close(pp.newwr);
    return NULL;
}

/* The same with tasks: both waiters are woken by one poll; whichever task
 * runs first closes the other's fd and reopens the number.  The other task,
 * woken for the old file but not yet resumed, must not report the old
 * file's readiness for the new one (it gets -EBADF, as a waiter of a closed
 * fd), and a new waiter on the new file is not woken until it has data. */
typedef struct tpair {
    int fd[2], wr[2];
    int rc[2];
    int first;
    int newwr;
    int newrc;
} tpair;
static tpair tp;

static void *tp_new_waiter(void *arg)
{
    (void)arg;
    tp.newrc = cio_wait_readable(tp.fd[1 - tp.first]);
    return NULL;
}

static void *tp_waiter(void *arg)
{
    int i = (int)(intptr_t)arg;
    int rc = cio_wait_readable(tp.fd[i]);
    tp.rc[i] = rc;
    if (tp.first < 0 && rc == CIO_READABLE) {
        tp.first = i;
        int victim = tp.fd[1 - i];
        CHECK_EQ(cio_close(victim), 0);
        int q[2];
        CHECK_EQ(pipe(q), 0);
        if (q[0] != victim) {
            CHECK_EQ(dup2(q[0], victim), victim);
            close(q[0]);
        }
        tp.newwr = q[1];
        char c;
        CHECK_EQ(read(tp.fd[i], &c, 1), 1);
    }
    return NULL;
}

static void *t_stale_event_task(void *arg)
{
    (void)arg;
    memset(&tp, 0, sizeof tp);
    tp.first = -1;
    tp.newrc = 1;
    for (int i = 0; i < 2; i++) {
        int q[2];
        CHECK_EQ(pipe(q), 0);
        tp.fd[i] = q[0];
        tp.wr[i] = q[1];
    }
    cio_task *a = cio_spawn(tp_waiter, (void *)0), *b = cio_spawn(tp_waiter, (void *)1);
    cio_yield(); /* both parked */
    CHECK_EQ(write(tp.wr[0], "a", 1), 1);
    CHECK_EQ(write(tp.wr[1], "b", 1), 1);
    cio_await(a, NULL);
    cio_await(b, NULL);
    CHECK(tp.first >= 0);
    int f = tp.first;
    CHECK_EQ(tp.rc[f], CIO_READABLE);
    CHECK_EQ(tp.rc[1 - f], -EBADF); /* not READABLE: that was the old file */
    /* a waiter on the new file sleeps until the new file has data */
    cio_task *n = cio_spawn(tp_new_waiter, NULL);
    cio_sleep(0.005);
    CHECK_EQ(tp.newrc, 1);
    CHECK(!cio_done(n));
    CHECK_EQ(write(tp.newwr, "n", 1), 1);
    cio_await(n, NULL);
    CHECK_EQ(tp.newrc, CIO_READABLE);
    cio_release(a);
    cio_release(b);
    cio_release(n);
    for (int i = 0; i < 2; i++) {
        cio_close(tp.fd[i]);
        cio_close(tp.wr[i]);
    }
    cio_close(tp.newwr);
    return NULL;
}

static void run_all(void)
{
    RUN_TASK_TEST(t_readable_writable);
    RUN_TASK_TEST(t_writable_blocks);
    RUN_TASK_TEST(t_several_waiters);
    RUN_TASK_TEST(t_bad_fds_refused);
    RUN_TASK_TEST(t_forget_close);
    RUN_TASK_TEST(t_readers_writers);
    RUN_TASK_TEST(t_stale_event_reader);
    RUN_TASK_TEST(t_stale_event_task);
}

int main(void)
{
    int rc = check_on_backend(run_all, &backend);
    if (rc)
        return rc;
    return check_exit();
}
