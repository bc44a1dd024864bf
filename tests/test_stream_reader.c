/* SPDX-License-Identifier: MIT */
/* The standalone stream reader (cio_stream_new_reader: asyncio's
 * StreamReader fed with feed_data / feed_eof / set_exception):
 *
 *   every read call on fed bytes, suspending until fed from another task or
 *   a loop callback; the reader's limit rules (as on sockets, see
 *   test_stream); errors set while a task is parked, cancellation of a
 *   parked read, a reader closed under a parked task, one reader at a time;
 *   chunks handed out stay valid while more is fed; inputs the stream
 *   reader fuzz target (fuzz/stream_reader.c) found, as regressions.
 *
 * RUN_TASK_TEST checks that nothing is left behind; the ASan build checks
 * memory.  Exit 0 = pass. */
#include "check.h"

#include <errno.h>

static const char DATA[] = "line1\nline2\nline3\n";

static void check_buffer(cio_stream *s, const char *want, int line)
{
    size_t n;
    const char *p = cio_stream_peek(s, &n);
    if (n != strlen(want) || memcmp(p, want, n) != 0) {
        fprintf(stderr, "FAIL %s: line %d: buffer holds %zu bytes \"%.*s\", want \"%s\"\n", check_current, line, n,
                (int)n, p, want);
        check_failures++;
    }
}
#define CHECK_BUFFER(s, want) check_buffer(s, want, __LINE__)

static void *t_basics(void *arg)
{
    (void)arg;
    errno = 0;
    CHECK(cio_stream_new_reader(0) == NULL);
    CHECK_EQ(errno, EINVAL);
    cio_stream *s = cio_stream_new_reader(CIO_STREAM_LIMIT);
    CHECK(s != NULL);
    CHECK(!cio_stream_at_eof(s));
    CHECK_EQ(cio_stream_feed_data(s, "", 0), 0);
    CHECK_BUFFER(s, "");
    CHECK_EQ(cio_stream_feed_data(s, DATA, 6), 0);
    CHECK_EQ(cio_stream_feed_data(s, DATA + 6, strlen(DATA) - 6), 0);
    CHECK_BUFFER(s, DATA);
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK(n == 6 && memcmp(d, "line1\n", 6) == 0);
    char buf[32];
    CHECK_EQ(cio_stream_read(s, buf, 0), 0);
    CHECK_EQ(cio_stream_read(s, buf, 7), 7);
    CHECK(memcmp(buf, "line2\nl", 7) == 0);
    CHECK_BUFFER(s, "ine3\n");
    size_t got = 99;
    CHECK_EQ(cio_stream_readexactly(s, buf, 5, &got), 0);
    CHECK_EQ(got, 5);
    CHECK(!cio_stream_at_eof(s));
    CHECK_EQ(cio_stream_feed_data(s, "tail", 4), 0);
    CHECK_EQ(cio_stream_feed_eof(s), 0);
    CHECK(!cio_stream_at_eof(s));
    CHECK_EQ(cio_stream_feed_data(s, "x", 1), CIO_EINVALSTATE);
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK(n == 4 && memcmp(d, "tail", 4) == 0);
    CHECK(cio_stream_at_eof(s));
    CHECK_EQ(cio_stream_readexactly(s, buf, 1, &got), CIO_EINCOMPLETE);
    CHECK_EQ(got, 0);
    /* nothing to write to */
    CHECK_EQ(cio_stream_write(s, "x", 1), -EBADF);
    CHECK_EQ(cio_stream_write_eof(s), -EBADF);
    CHECK(!cio_stream_can_write_eof(s));
    CHECK_EQ(cio_stream_fd(s), -1);
    CHECK_EQ(cio_stream_close(s), 0);

    /* the feeding calls are for standalone readers only */
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    CHECK_EQ(cio_stream_from_fd(sv[0], NULL, false, &s), 0);
    CHECK_EQ(cio_stream_feed_data(s, "x", 1), -EINVAL);
    CHECK_EQ(cio_stream_feed_eof(s), -EINVAL);
    CHECK_EQ(cio_stream_set_error(s, 0), -EINVAL);
    CHECK_EQ(cio_stream_set_error(s, -EPROTO), 0);
    CHECK_EQ(cio_stream_exception(s), -EPROTO);
    CHECK_EQ(cio_stream_read(s, buf, 1), -EPROTO);
    cio_stream_abort(s);
    cio_close(sv[1]);
    return NULL;
}

typedef struct feeder {
    cio_stream *s;
    const char *parts[8];
    bool eof;
    int err;
} feeder;

static void feed_cb(void *arg)
{
    feeder *f = arg;
    for (int i = 0; i < 8 && f->parts[i]; i++)
        CHECK_EQ(cio_stream_feed_data(f->s, f->parts[i], strlen(f->parts[i])), 0);
    if (f->eof)
        CHECK_EQ(cio_stream_feed_eof(f->s), 0);
    if (f->err)
        CHECK_EQ(cio_stream_set_error(f->s, f->err), 0);
}

/* A task that feeds one part per loop iteration. */
static void *feed_task(void *arg)
{
    feeder *f = arg;
    for (int i = 0; i < 8 && f->parts[i]; i++) {
        cio_yield();
        CHECK_EQ(cio_stream_feed_data(f->s, f->parts[i], strlen(f->parts[i])), 0);
    }
    cio_yield();
    if (f->eof)
        CHECK_EQ(cio_stream_feed_eof(f->s), 0);
    if (f->err)
        CHECK_EQ(cio_stream_set_error(f->s, f->err), 0);
    return NULL;
}

static void *t_parked_until_fed(void *arg)
{
    (void)arg;
    cio_stream *s = cio_stream_new_reader(CIO_STREAM_LIMIT);
    /* fed from a loop callback */
    feeder f = {.s = s, .parts = {"chunk2 ", "chunk3 ", "\n chunk4"}};
    CHECK_EQ(cio_stream_feed_data(s, "chunk1 ", 7), 0);
    CHECK_EQ(cio_call_soon(cio_loop_current(), feed_cb, &f, NULL), 0);
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK(n == 22 && memcmp(d, "chunk1 chunk2 chunk3 \n", 22) == 0);
    CHECK_BUFFER(s, " chunk4");
    /* fed from another task, a byte at a time, separators split */
    feeder g = {.s = s, .parts = {"X", "Y", "a", "a", "a", "Q", "E", "a"}};
    cio_task *t = cio_spawn(feed_task, &g);
    const char *aaa[] = {"aaa"};
    CHECK_EQ(cio_stream_readuntil(s, aaa, 1, &d, &n), 0);
    CHECK(n == 12 && memcmp(d, " chunk4XYaaa", 12) == 0);
    char buf[8];
    CHECK_EQ(cio_stream_readexactly(s, buf, 3, NULL), 0);
    CHECK(memcmp(buf, "QEa", 3) == 0);
    CHECK_EQ(cio_await(t, NULL), 0);
    cio_release(t);
    /* a parked read woken by EOF returns 0 */
    feeder e = {.s = s, .eof = true};
    CHECK_EQ(cio_call_soon(cio_loop_current(), feed_cb, &e, NULL), 0);
    CHECK_EQ(cio_stream_read(s, buf, sizeof buf), 0);
    CHECK(cio_stream_at_eof(s));
    cio_stream_abort(s);
    return NULL;
}

typedef struct reader_ctx {
    cio_stream *s;
    int rc;
    size_t len;
    char buf[64];
} reader_ctx;

static void *readline_task(void *arg)
{
    reader_ctx *r = arg;
    const char *d;
    r->rc = cio_stream_readline(r->s, &d, &r->len);
    if (r->rc == 0 && r->len <= sizeof r->buf)
        memcpy(r->buf, d, r->len);
    return NULL;
}

/* set_error: a parked reader is woken with the error, every later read call
 * returns it, buffered data or not. */
static void *t_set_error(void *arg)
{
    (void)arg;
    cio_stream *s = cio_stream_new_reader(CIO_STREAM_LIMIT);
    CHECK_EQ(cio_stream_exception(s), 0);
    reader_ctx r = {.s = s};
    cio_task *t = cio_spawn(readline_task, &r);
    cio_yield();
    feeder f = {.s = s, .parts = {"no newline"}, .err = -EPROTO};
    cio_task *ft = cio_spawn(feed_task, &f);
    CHECK_EQ(cio_await(t, NULL), 0);
    CHECK_EQ(r.rc, -EPROTO);
    CHECK_EQ(cio_await(ft, NULL), 0);
    cio_release(t);
    cio_release(ft);
    CHECK_EQ(cio_stream_exception(s), -EPROTO);
    CHECK_BUFFER(s, "no newline");
    char buf[4];
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_read(s, buf, 1), -EPROTO);
    CHECK_EQ(cio_stream_read(s, buf, 0), -EPROTO);
    CHECK_EQ(cio_stream_readexactly(s, buf, 1, NULL), -EPROTO);
    CHECK_EQ(cio_stream_readline(s, &d, &n), -EPROTO);
    char *all;
    CHECK_EQ(cio_stream_read_all(s, &all, &n), -EPROTO);
    CHECK_EQ(cio_stream_close(s), 0);
    return NULL;
}

/* A parked read cancelled: -ECANCELED once, nothing lost, and the reader is
 * free again (no stale waiter: set_error afterwards touches nobody, and
 * the next read is not refused as a second reader). */
static void *t_cancel_parked(void *arg)
{
    (void)arg;
    cio_stream *s = cio_stream_new_reader(CIO_STREAM_LIMIT);
    reader_ctx r = {.s = s};
    cio_task *t = cio_spawn(readline_task, &r);
    cio_yield();
    CHECK(!cio_done(t));
    /* a second reader meanwhile: refused, nothing taken */
    CHECK_EQ(cio_stream_feed_data(s, "ab", 2), 0);
    char buf[4];
    CHECK_EQ(cio_stream_read(s, buf, 1), -EBUSY);
    CHECK(cio_cancel(t, NULL));
    CHECK_EQ(cio_await(t, NULL), -ECANCELED); /* the task saw the cancellation */
    CHECK_EQ(r.rc, -ECANCELED);
    cio_release(t);
    CHECK_BUFFER(s, "ab");
    CHECK_EQ(cio_stream_feed_data(s, "c\n", 2), 0);
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK(n == 4 && memcmp(d, "abc\n", 4) == 0);
    /* cancelled before the error was set: the error reaches later calls only */
    t = cio_spawn(readline_task, &r);
    cio_yield();
    cio_cancel(t, NULL);
    cio_yield();
    CHECK_EQ(cio_stream_set_error(s, -EIO), 0);
    cio_await(t, NULL);
    CHECK_EQ(r.rc, -ECANCELED);
    cio_release(t);
    CHECK_EQ(cio_stream_readline(s, &d, &n), -EIO);
    cio_stream_abort(s);
    return NULL;
}

static void *closer(void *arg)
{
    cio_yield();
    cio_stream_abort(arg);
    return NULL;
}

/* Closed while a task is parked reading it: the parked call returns -EBADF
 * and the memory goes when it has returned (ASan). */
static void *t_closed_while_parked(void *arg)
{
    (void)arg;
    cio_stream *s = cio_stream_new_reader(CIO_STREAM_LIMIT);
    CHECK_EQ(cio_stream_feed_data(s, "partial", 7), 0);
    cio_task *c = cio_spawn(closer, s);
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readline(s, &d, &n), -EBADF);
    CHECK_EQ(cio_await(c, NULL), 0);
    cio_release(c);
    return NULL;
}

/* A chunk readline handed out stays valid while more is fed, also when the
 * buffer has to move (ASan checks the reads of d). */
static void *t_chunk_survives_feed(void *arg)
{
    (void)arg;
    cio_stream *s = cio_stream_new_reader(1 << 20);
    CHECK_EQ(cio_stream_feed_data(s, "first\n", 6), 0);
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    char *big = malloc(256 * 1024);
    memset(big, 'b', 256 * 1024);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(cio_stream_feed_data(s, big, 256 * 1024), 0); /* moves the buffer, twice at least */
    CHECK(n == 6 && memcmp(d, "first\n", 6) == 0);
    CHECK(!cio_stream_at_eof(s)); /* no look at a socket either */
    CHECK(n == 6 && memcmp(d, "first\n", 6) == 0);
    size_t total = 0;
    char buf[4096];
    CHECK_EQ(cio_stream_feed_eof(s), 0);
    for (;;) {
        ssize_t r = cio_stream_read(s, buf, sizeof buf);
        CHECK(r >= 0);
        if (r <= 0)
            break;
        total += (size_t)r;
    }
    CHECK_EQ(total, 4 * 256 * 1024);
    free(big);
    CHECK_EQ(cio_stream_close(s), 0);
    return NULL;
}

/* The limit rules on a fed reader: a limit-long line plus its separator is
 * a line; consumed says where the separator starts; readline drops what
 * asyncio drops. */
static void *t_limit(void *arg)
{
    (void)arg;
    cio_stream *s = cio_stream_new_reader(3);
    const char *aaa[] = {"AAA"};
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_feed_data(s, "some dataAA", 11), 0);
    CHECK_EQ(cio_stream_readuntil(s, aaa, 1, &d, &n), CIO_ELIMITOVERRUN);
    CHECK_EQ(n, 9); /* searched 11 + 1 - 3 bytes, no separator */
    CHECK_BUFFER(s, "some dataAA");
    CHECK_EQ(cio_stream_feed_data(s, "A", 1), 0);
    CHECK_EQ(cio_stream_readuntil(s, aaa, 1, &d, &n), CIO_ELIMITOVERRUN);
    CHECK_EQ(n, 9); /* found, starting at 9 */
    CHECK(memcmp(d + n, "AAA", 3) == 0);
    CHECK_BUFFER(s, "some dataAAA");
    cio_stream_abort(s);

    s = cio_stream_new_reader(7);
    CHECK_EQ(cio_stream_feed_data(s, "1234567\n12345678\nok\n12345678", 28), 0);
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK(n == 8 && memcmp(d, "1234567\n", 8) == 0);
    CHECK_EQ(cio_stream_readline(s, &d, &n), CIO_ELIMITOVERRUN);
    CHECK_EQ(n, 9); /* dropped through the newline */
    CHECK_BUFFER(s, "ok\n12345678");
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK_EQ(cio_stream_readline(s, &d, &n), CIO_ELIMITOVERRUN);
    CHECK_EQ(n, 8); /* no newline: everything buffered */
    CHECK_BUFFER(s, "");
    cio_stream_abort(s);
    return NULL;
}

int main(void)
{
    RUN_TASK_TEST(t_basics);
    RUN_TASK_TEST(t_parked_until_fed);
    RUN_TASK_TEST(t_set_error);
    RUN_TASK_TEST(t_cancel_parked);
    RUN_TASK_TEST(t_closed_while_parked);
    RUN_TASK_TEST(t_chunk_survives_feed);
    RUN_TASK_TEST(t_limit);
    return check_exit();
}
