/* SPDX-License-Identifier: MIT */
/* CPython Lib/test/test_asyncio/test_streams.py, ported (see conformance.h).
 *
 * asyncio.StreamReader(loop=...) with feed_data is cio_stream_new_reader
 * with cio_stream_feed_data; stream._buffer is cio_stream_peek; exceptions
 * set with set_exception are negative codes (ValueError: -EDOM here);
 * open_connection / start_server run against stream_fixture.h's servers
 * on 127.0.0.1 (port 0) and unix sockets in a temporary directory.
 * cio_stream_close is close() and wait_closed() in one call. */
#define CONF_FILE "test_streams"
#include "conformance.h"
#include "stream_fixture.h"

#include <fcntl.h>
#include <sys/wait.h>

static const char DATA[] = "line1\nline2\nline3\n";
#define DLEN (sizeof DATA - 1)

static void check_buffer(cio_stream *s, const char *want, size_t wlen, int line)
{
    size_t n;
    const char *p = cio_stream_peek(s, &n);
    if (n != wlen || memcmp(p, want, n) != 0) {
        fprintf(stderr, "FAIL %s: line %d: buffer holds %zu bytes \"%.*s\"\n", check_current, line, n, (int)n, p);
        check_failures++;
    }
}
#define CHECK_BUFFER(s, want) check_buffer(s, want, strlen(want), __LINE__)
#define CHECK_BYTES(p, n, want) CHECK((n) == strlen(want) && memcmp(p, want, n) == 0)

static cio_stream *reader(size_t limit)
{
    cio_stream *s = cio_stream_new_reader(limit);
    CHECK(s != NULL);
    return s;
}

static void feed(cio_stream *s, const char *data) { CHECK_EQ(cio_stream_feed_data(s, data, strlen(data)), 0); }

/* A read call as a task of its own (loop.create_task(stream.read(...))). */
enum { R_READ, R_READLINE, R_READEXACTLY, R_READ_ALL };
typedef struct rop {
    cio_stream *s;
    int kind;
    size_t n;
    int rc;
    size_t len;
    char buf[128];
} rop;

static void *rop_task(void *arg)
{
    rop *r = arg;
    const char *d;
    char *all;
    switch (r->kind) {
    case R_READ:
        r->rc = (int)cio_stream_read(r->s, r->buf, r->n);
        r->len = r->rc > 0 ? (size_t)r->rc : 0;
        break;
    case R_READLINE:
        r->rc = cio_stream_readline(r->s, &d, &r->len);
        if (r->rc == 0 && r->len <= sizeof r->buf)
            memcpy(r->buf, d, r->len);
        break;
    case R_READEXACTLY:
        r->rc = cio_stream_readexactly(r->s, r->buf, r->n, &r->len);
        break;
    default:
        r->rc = cio_stream_read_all(r->s, &all, &r->len);
        if (r->rc == 0 && r->len <= sizeof r->buf)
            memcpy(r->buf, all, r->len);
        free(all);
    }
    return NULL;
}

/* Runs the read as a task after cb(s) was scheduled with call_soon, as
 * `loop.call_soon(cb); loop.run_until_complete(read_task)`. */
static void run_read_with(rop *r, cio_callback cb)
{
    if (cb)
        CHECK_EQ(cio_call_soon(cio_loop_current(), cb, r->s, NULL), 0);
    cio_task *t = cio_spawn(rop_task, r);
    CHECK_EQ(cio_await(t, NULL), 0);
    cio_release(t);
}

/* ---- open_connection ------------------------------------------------------ */

/* _basetest_open_connection: GET, the status line, the rest ends with the
 * body; close. */
static void basetest_open_connection(bool unix_sock, bool tls, bool readline_first)
{
    fixture fx;
    fixture_start(&fx, unix_sock, tls);
    cio_stream *s;
    int rc = fixture_connect(&fx, &s);
    CHECK_EQ(rc, 0);
    if (rc < 0) {
        fixture_stop(&fx);
        return;
    }
    CHECK_EQ(cio_stream_write(s, "GET / HTTP/1.0\r\n\r\n", 18), 0);
    const char *d;
    size_t n;
    if (readline_first) {
        CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
        CHECK_BYTES(d, n, "HTTP/1.0 200 OK\r\n");
    }
    char *all;
    CHECK_EQ(cio_stream_read_all(s, &all, &n), 0);
    CHECK(n >= 16 && memcmp(all + n - 16, "\r\n\r\nTest message", 16) == 0);
    free(all);
    CHECK_EQ(cio_stream_close(s), 0);
    fixture_stop(&fx);
}

CONF_TASK(test_open_connection)
{
    basetest_open_connection(false, false, true);
    return NULL;
}

CONF_TASK(test_open_unix_connection)
{
    basetest_open_connection(true, false, true);
    return NULL;
}

CONF_TASK(test_open_connection_no_loop_ssl)
{
    basetest_open_connection(false, true, false);
    return NULL;
}

CONF_TASK(test_open_unix_connection_no_loop_ssl)
{
    basetest_open_connection(true, true, false);
    return NULL;
}

/* connection_lost(ZeroDivisionError()) sets the reader's exception: the
 * next read raises it. */
static void basetest_open_connection_error(bool unix_sock)
{
    fixture fx;
    fixture_start(&fx, unix_sock, false);
    cio_stream *s;
    CHECK_EQ(fixture_connect(&fx, &s), 0);
    CHECK_EQ(cio_stream_set_error(s, -EDOM), 0);
    char buf[16];
    CHECK_EQ(cio_stream_read(s, buf, sizeof buf), -EDOM);
    cio_stream_close(s);
    fixture_stop(&fx);
}

CONF_TASK(test_open_connection_error)
{
    basetest_open_connection_error(false);
    return NULL;
}

CONF_TASK(test_open_unix_connection_error)
{
    basetest_open_connection_error(true);
    return NULL;
}

/* ---- the reader ------------------------------------------------------------ */

CONF_TASK(test_feed_empty_data)
{
    cio_stream *s = reader(CIO_STREAM_LIMIT);
    CHECK_EQ(cio_stream_feed_data(s, "", 0), 0);
    CHECK_BUFFER(s, "");
    cio_stream_abort(s);
    return NULL;
}

CONF_TASK(test_feed_nonempty_data)
{
    cio_stream *s = reader(CIO_STREAM_LIMIT);
    feed(s, DATA);
    CHECK_BUFFER(s, DATA);
    cio_stream_abort(s);
    return NULL;
}

CONF_TASK(test_read_zero)
{
    cio_stream *s = reader(CIO_STREAM_LIMIT);
    feed(s, DATA);
    char buf[4];
    CHECK_EQ(cio_stream_read(s, buf, 0), 0);
    CHECK_BUFFER(s, DATA);
    cio_stream_abort(s);
    return NULL;
}

static void feed_data_cb(void *arg) { feed(arg, DATA); }

CONF_TASK(test_read)
{
    rop r = {.s = reader(CIO_STREAM_LIMIT), .kind = R_READ, .n = 30};
    run_read_with(&r, feed_data_cb);
    CHECK_EQ(r.rc, (int)DLEN);
    CHECK_BYTES(r.buf, r.len, DATA);
    CHECK_BUFFER(r.s, "");
    cio_stream_abort(r.s);
    return NULL;
}

CONF_TASK(test_read_line_breaks)
{
    cio_stream *s = reader(CIO_STREAM_LIMIT);
    feed(s, "line1");
    feed(s, "line2");
    char buf[8];
    CHECK_EQ(cio_stream_read(s, buf, 5), 5);
    CHECK(memcmp(buf, "line1", 5) == 0);
    CHECK_BUFFER(s, "line2");
    cio_stream_abort(s);
    return NULL;
}

static void feed_eof_cb(void *arg) { CHECK_EQ(cio_stream_feed_eof(arg), 0); }

CONF_TASK(test_read_eof)
{
    rop r = {.s = reader(CIO_STREAM_LIMIT), .kind = R_READ, .n = 1024};
    run_read_with(&r, feed_eof_cb);
    CHECK_EQ(r.rc, 0);
    CHECK_BUFFER(r.s, "");
    cio_stream_abort(r.s);
    return NULL;
}

static void chunks_eof_cb(void *arg)
{
    feed(arg, "chunk1\n");
    feed(arg, "chunk2");
    CHECK_EQ(cio_stream_feed_eof(arg), 0);
}

CONF_TASK(test_read_until_eof)
{
    rop r = {.s = reader(CIO_STREAM_LIMIT), .kind = R_READ_ALL};
    run_read_with(&r, chunks_eof_cb);
    CHECK_EQ(r.rc, 0);
    CHECK_BYTES(r.buf, r.len, "chunk1\nchunk2");
    CHECK_BUFFER(r.s, "");
    cio_stream_abort(r.s);
    return NULL;
}

CONF_TASK(test_read_exception)
{
    cio_stream *s = reader(CIO_STREAM_LIMIT);
    feed(s, "line\n");
    char buf[4];
    CHECK_EQ(cio_stream_read(s, buf, 2), 2);
    CHECK(memcmp(buf, "li", 2) == 0);
    CHECK_EQ(cio_stream_set_error(s, -EDOM), 0);
    CHECK_EQ(cio_stream_read(s, buf, 2), -EDOM);
    cio_stream_abort(s);
    return NULL;
}

/* limit=0 is refused; limit=-1 has no size_t counterpart. */
CONF_TASK(test_invalid_limit)
{
    errno = 0;
    CHECK(cio_stream_new_reader(0) == NULL);
    CHECK_EQ(errno, EINVAL);
    return NULL;
}

CONF_TASK(test_read_limit)
{
    cio_stream *s = reader(3);
    feed(s, "chunk");
    char buf[8];
    CHECK_EQ(cio_stream_read(s, buf, 5), 5);
    CHECK(memcmp(buf, "chunk", 5) == 0);
    CHECK_BUFFER(s, "");
    cio_stream_abort(s);
    return NULL;
}

static void readline_cb(void *arg)
{
    feed(arg, "chunk2 ");
    feed(arg, "chunk3 ");
    feed(arg, "\n chunk4");
}

CONF_TASK(test_readline)
{
    rop r = {.s = reader(CIO_STREAM_LIMIT), .kind = R_READLINE};
    feed(r.s, "chunk1 ");
    run_read_with(&r, readline_cb);
    CHECK_EQ(r.rc, 0);
    CHECK_BYTES(r.buf, r.len, "chunk1 chunk2 chunk3 \n");
    CHECK_BUFFER(r.s, " chunk4");
    cio_stream_abort(r.s);
    return NULL;
}

CONF_TASK(test_readline_limit_with_existing_data)
{
    cio_stream *s = reader(3);
    feed(s, "li");
    feed(s, "ne1\nline2\n");
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readline(s, &d, &n), CIO_ELIMITOVERRUN);
    CHECK_BUFFER(s, "line2\n"); /* the remaining data after the error */
    cio_stream_abort(s);

    s = reader(3);
    feed(s, "li");
    feed(s, "ne1");
    feed(s, "li");
    CHECK_EQ(cio_stream_readline(s, &d, &n), CIO_ELIMITOVERRUN);
    CHECK_BUFFER(s, ""); /* no newline: the whole buffer went */
    cio_stream_abort(s);
    return NULL;
}

CONF_TASK(test_at_eof)
{
    cio_stream *s = reader(CIO_STREAM_LIMIT);
    CHECK(!cio_stream_at_eof(s));
    feed(s, "some data\n");
    CHECK(!cio_stream_at_eof(s));
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK(!cio_stream_at_eof(s));
    feed(s, "some data\n");
    CHECK_EQ(cio_stream_feed_eof(s), 0);
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK(cio_stream_at_eof(s));
    cio_stream_abort(s);
    return NULL;
}

static void limit_cb1(void *arg)
{
    feed(arg, "chunk1");
    feed(arg, "chunk2");
    feed(arg, "chunk3\n");
    CHECK_EQ(cio_stream_feed_eof(arg), 0);
}

static void limit_cb2(void *arg)
{
    feed(arg, "chunk1");
    feed(arg, "chunk2\n");
    feed(arg, "chunk3\n");
    CHECK_EQ(cio_stream_feed_eof(arg), 0);
}

CONF_TASK(test_readline_limit)
{
    rop r = {.s = reader(7), .kind = R_READLINE};
    run_read_with(&r, limit_cb1);
    CHECK_EQ(r.rc, CIO_ELIMITOVERRUN);
    CHECK_BUFFER(r.s, "");
    cio_stream_abort(r.s);

    r = (rop){.s = reader(7), .kind = R_READLINE};
    run_read_with(&r, limit_cb2);
    CHECK_EQ(r.rc, CIO_ELIMITOVERRUN);
    CHECK_BUFFER(r.s, "chunk3\n");
    cio_stream_abort(r.s);

    /* the strictness of the limit */
    cio_stream *s = reader(7);
    const char *d;
    size_t n;
    feed(s, "1234567\n");
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK_BYTES(d, n, "1234567\n");
    CHECK_BUFFER(s, "");
    feed(s, "12345678\n");
    CHECK_EQ(cio_stream_readline(s, &d, &n), CIO_ELIMITOVERRUN);
    CHECK_BUFFER(s, "");
    feed(s, "12345678");
    CHECK_EQ(cio_stream_readline(s, &d, &n), CIO_ELIMITOVERRUN);
    CHECK_BUFFER(s, "");
    cio_stream_abort(s);
    return NULL;
}

CONF_TASK(test_readline_nolimit_nowait)
{
    cio_stream *s = reader(CIO_STREAM_LIMIT);
    CHECK_EQ(cio_stream_feed_data(s, DATA, 6), 0);
    feed(s, DATA + 6);
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK_BYTES(d, n, "line1\n");
    CHECK_BUFFER(s, "line2\nline3\n");
    cio_stream_abort(s);
    return NULL;
}

CONF_TASK(test_readline_eof)
{
    cio_stream *s = reader(CIO_STREAM_LIMIT);
    feed(s, "some data");
    CHECK_EQ(cio_stream_feed_eof(s), 0);
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK_BYTES(d, n, "some data");
    cio_stream_abort(s);
    return NULL;
}

CONF_TASK(test_readline_empty_eof)
{
    cio_stream *s = reader(CIO_STREAM_LIMIT);
    CHECK_EQ(cio_stream_feed_eof(s), 0);
    const char *d;
    size_t n = 99;
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK_EQ(n, 0);
    cio_stream_abort(s);
    return NULL;
}

CONF_TASK(test_readline_read_byte_count)
{
    cio_stream *s = reader(CIO_STREAM_LIMIT);
    feed(s, DATA);
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    char buf[8];
    CHECK_EQ(cio_stream_read(s, buf, 7), 7);
    CHECK(memcmp(buf, "line2\nl", 7) == 0);
    CHECK_BUFFER(s, "ine3\n");
    cio_stream_abort(s);
    return NULL;
}

CONF_TASK(test_readline_exception)
{
    cio_stream *s = reader(CIO_STREAM_LIMIT);
    feed(s, "line\n");
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK_BYTES(d, n, "line\n");
    CHECK_EQ(cio_stream_set_error(s, -EDOM), 0);
    CHECK_EQ(cio_stream_readline(s, &d, &n), -EDOM);
    CHECK_BUFFER(s, "");
    cio_stream_abort(s);
    return NULL;
}

CONF_TASK(test_readuntil_separator)
{
    cio_stream *s = reader(CIO_STREAM_LIMIT);
    const char *empty[] = {""};
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readuntil(s, empty, 1, &d, &n), -EINVAL);
    cio_stream_abort(s);
    return NULL;
}

static void readuntil_expect(cio_stream *s, const char *sep, const char *want)
{
    const char *seps[] = {sep};
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readuntil(s, seps, 1, &d, &n), 0);
    CHECK_BYTES(d, n, want);
}

CONF_TASK(test_readuntil_multi_chunks)
{
    cio_stream *s = reader(CIO_STREAM_LIMIT);
    feed(s, "lineAAA");
    readuntil_expect(s, "AAA", "lineAAA");
    CHECK_BUFFER(s, "");
    feed(s, "lineAAA");
    readuntil_expect(s, "AAA", "lineAAA");
    CHECK_BUFFER(s, "");
    feed(s, "lineAAAxxx");
    readuntil_expect(s, "AAA", "lineAAA");
    CHECK_BUFFER(s, "xxx");
    cio_stream_abort(s);
    return NULL;
}

CONF_TASK(test_readuntil_multi_chunks_1)
{
    cio_stream *s = reader(CIO_STREAM_LIMIT);
    static const char *const rounds[][4] = {
        {"QWEaa", "XYaa", "a", NULL}, {"QWEaa", "XYa", "aa", NULL}, {"aaa", NULL}, {"Xaaa", NULL},
        {"XXX", "a", "a", "a"},
    };
    static const char *const want[] = {"QWEaaXYaaa", "QWEaaXYaaa", "aaa", "Xaaa", "XXXaaa"};
    for (size_t i = 0; i < 5; i++) {
        for (size_t j = 0; j < 4 && rounds[i][j]; j++)
            feed(s, rounds[i][j]);
        readuntil_expect(s, "aaa", want[i]);
        CHECK_BUFFER(s, "");
    }
    cio_stream_abort(s);
    return NULL;
}

CONF_TASK(test_readuntil_eof)
{
    cio_stream *s = reader(CIO_STREAM_LIMIT);
    feed(s, "some dataAA");
    CHECK_EQ(cio_stream_feed_eof(s), 0);
    const char *aaa[] = {"AAA"};
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readuntil(s, aaa, 1, &d, &n), CIO_EINCOMPLETE);
    CHECK_BYTES(d, n, "some dataAA"); /* IncompleteReadError.partial */
    CHECK_BUFFER(s, "");
    cio_stream_abort(s);
    return NULL;
}

/* "not found" and "is found" overruns: both leave the buffer alone; consumed
 * is 9 either way, and the separator is at consumed only when found. */
CONF_TASK(test_readuntil_limit_found_sep)
{
    cio_stream *s = reader(3);
    feed(s, "some dataAA");
    const char *aaa[] = {"AAA"};
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readuntil(s, aaa, 1, &d, &n), CIO_ELIMITOVERRUN);
    CHECK_EQ(n, 9);
    CHECK_BUFFER(s, "some dataAA"); /* not found: only "AA" at 9 */
    feed(s, "A");
    CHECK_EQ(cio_stream_readuntil(s, aaa, 1, &d, &n), CIO_ELIMITOVERRUN);
    CHECK_EQ(n, 9);
    CHECK(memcmp(d + n, "AAA", 3) == 0); /* found */
    CHECK_BUFFER(s, "some dataAAA");
    cio_stream_abort(s);
    return NULL;
}

/* readexactly(0); readexactly(-1) has no size_t counterpart. */
CONF_TASK(test_readexactly_zero_or_less)
{
    cio_stream *s = reader(CIO_STREAM_LIMIT);
    feed(s, DATA);
    char buf[4];
    size_t got = 99;
    CHECK_EQ(cio_stream_readexactly(s, buf, 0, &got), 0);
    CHECK_EQ(got, 0);
    CHECK_BUFFER(s, DATA);
    cio_stream_abort(s);
    return NULL;
}

static void feed3_cb(void *arg)
{
    for (int i = 0; i < 3; i++)
        feed(arg, DATA);
}

CONF_TASK(test_readexactly)
{
    rop r = {.s = reader(CIO_STREAM_LIMIT), .kind = R_READEXACTLY, .n = 2 * DLEN};
    run_read_with(&r, feed3_cb);
    CHECK_EQ(r.rc, 0);
    CHECK(r.len == 2 * DLEN && memcmp(r.buf, DATA, DLEN) == 0 && memcmp(r.buf + DLEN, DATA, DLEN) == 0);
    CHECK_BUFFER(r.s, DATA);
    cio_stream_abort(r.s);
    return NULL;
}

CONF_TASK(test_readexactly_limit)
{
    cio_stream *s = reader(3);
    feed(s, "chunk");
    char buf[8];
    CHECK_EQ(cio_stream_readexactly(s, buf, 5, NULL), 0);
    CHECK(memcmp(buf, "chunk", 5) == 0);
    CHECK_BUFFER(s, "");
    cio_stream_abort(s);
    return NULL;
}

static void feed_then_eof_cb(void *arg)
{
    feed(arg, DATA);
    CHECK_EQ(cio_stream_feed_eof(arg), 0);
}

/* IncompleteReadError: partial == DATA, expected == n (what was asked). */
CONF_TASK(test_readexactly_eof)
{
    rop r = {.s = reader(CIO_STREAM_LIMIT), .kind = R_READEXACTLY, .n = 2 * DLEN};
    run_read_with(&r, feed_then_eof_cb);
    CHECK_EQ(r.rc, CIO_EINCOMPLETE);
    CHECK_BYTES(r.buf, r.len, DATA);
    CHECK_BUFFER(r.s, "");
    cio_stream_abort(r.s);
    return NULL;
}

CONF_TASK(test_readexactly_exception)
{
    cio_stream *s = reader(CIO_STREAM_LIMIT);
    feed(s, "line\n");
    char buf[4];
    CHECK_EQ(cio_stream_readexactly(s, buf, 2, NULL), 0);
    CHECK(memcmp(buf, "li", 2) == 0);
    CHECK_EQ(cio_stream_set_error(s, -EDOM), 0);
    CHECK_EQ(cio_stream_readexactly(s, buf, 2, NULL), -EDOM);
    cio_stream_abort(s);
    return NULL;
}

CONF_TASK(test_exception)
{
    cio_stream *s = reader(CIO_STREAM_LIMIT);
    CHECK_EQ(cio_stream_exception(s), 0);
    CHECK_EQ(cio_stream_set_error(s, -EDOM), 0);
    CHECK_EQ(cio_stream_exception(s), -EDOM);
    cio_stream_abort(s);
    return NULL;
}

static void *set_err_task(void *arg)
{
    CHECK_EQ(cio_stream_set_error(arg, -EDOM), 0);
    return NULL;
}

CONF_TASK(test_exception_waiter)
{
    rop r = {.s = reader(CIO_STREAM_LIMIT), .kind = R_READLINE};
    cio_task *t[2] = {cio_spawn(rop_task, &r), cio_spawn(set_err_task, r.s)};
    CHECK_EQ(cio_gather(t, 2, NULL, NULL, 0), 0);
    CHECK_EQ(r.rc, -EDOM);
    cio_release(t[0]);
    cio_release(t[1]);
    cio_stream_abort(r.s);
    return NULL;
}

/* set_exception after the waiting reader was cancelled must not trip over
 * it; afterwards no reader is left waiting (a new read is not refused as a
 * second reader: it gets the exception). */
CONF_TASK(test_exception_cancel)
{
    rop r = {.s = reader(CIO_STREAM_LIMIT), .kind = R_READLINE};
    cio_task *t = cio_spawn(rop_task, &r);
    cio_yield();
    cio_cancel(t, NULL);
    cio_yield();
    CHECK_EQ(cio_stream_set_error(r.s, -EPROTO), 0);
    cio_yield();
    CHECK(cio_done(t));
    CHECK_EQ(r.rc, -ECANCELED);
    cio_release(t);
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readline(r.s, &d, &n), -EPROTO);
    cio_stream_abort(r.s);
    return NULL;
}

/* ---- servers ------------------------------------------------------------------ */

/* MyServer.handle_client: a line back, drain, close. */
static void *echo_line(cio_stream *s, void *arg)
{
    (void)arg;
    const char *d;
    size_t n;
    if (cio_stream_readline(s, &d, &n) == 0 && cio_stream_write(s, d, n) == 0)
        cio_stream_drain(s);
    cio_stream_close(s);
    return NULL;
}

static void *echo_line_task(void *arg) { return echo_line(arg, NULL); }

/* handle_client_callback: the work in a task of its own. */
static void *echo_line_spawning(cio_stream *s, void *arg)
{
    (void)arg;
    cio_task *t = cio_spawn(echo_line_task, s);
    cio_await(t, NULL);
    cio_release(t);
    return NULL;
}

/* client(): a line there and back. */
static void client_line(const char *path, const char *port, char *msg, size_t *len)
{
    cio_stream *s;
    CHECK_EQ(path ? cio_open_unix_connection(path, NULL, &s) : cio_open_connection("127.0.0.1", port, NULL, &s), 0);
    CHECK_EQ(cio_stream_write(s, "hello world!\n", 13), 0);
    const char *d;
    CHECK_EQ(cio_stream_readline(s, &d, len), 0);
    memcpy(msg, d, *len < 64 ? *len : 64);
    CHECK_EQ(cio_stream_close(s), 0);
}

static void server_stop(cio_server *srv)
{
    cio_server_close(srv);
    CHECK_EQ(cio_server_wait_closed(srv), 0);
    cio_server_free(srv);
}

CONF_TASK(test_start_server)
{
    char msg[64], port[16];
    size_t n;
    /* a handler task per connection, on port 0 */
    cio_server *srv;
    CHECK_EQ(cio_start_server(echo_line, NULL, "127.0.0.1", "0", NULL, &srv), 0);
    snprintf(port, sizeof port, "%d", cio_server_port(srv));
    client_line(NULL, port, msg, &n);
    server_stop(srv);
    CHECK_BYTES(msg, n, "hello world!\n");
    /* a handler that hands the work to a task, on a port found free */
    struct sockaddr_in a;
    cio_close(listener(0, &a));
    snprintf(port, sizeof port, "%d", ntohs(a.sin_port));
    CHECK_EQ(cio_start_server(echo_line_spawning, NULL, "127.0.0.1", port, NULL, &srv), 0);
    client_line(NULL, port, msg, &n);
    server_stop(srv);
    CHECK_BYTES(msg, n, "hello world!\n");
    return NULL;
}

CONF_TASK(test_start_unix_server)
{
    cio_conn_handler handlers[] = {echo_line, echo_line_spawning};
    for (int i = 0; i < 2; i++) {
        char dir[] = "/tmp/cio-conf-XXXXXX", path[64], msg[64];
        size_t n;
        CHECK(mkdtemp(dir) != NULL);
        snprintf(path, sizeof path, "%s/sock", dir);
        cio_server *srv;
        CHECK_EQ(cio_start_unix_server(handlers[i], NULL, path, NULL, &srv), 0);
        client_line(path, NULL, msg, &n);
        server_stop(srv);
        CHECK_BYTES(msg, n, "hello world!\n");
        unlink(path);
        rmdir(dir);
    }
    return NULL;
}

/* start_tls on both sides of a connection that began in plain text. */
static void *tls_upgrade_handler(cio_stream *s, void *arg)
{
    (void)arg;
    const char *d;
    size_t n;
    if (cio_stream_readline(s, &d, &n) == 0 && cio_stream_write(s, d, n) == 0 && cio_stream_drain(s) == 0) {
        CHECK(cio_stream_tls_version(s) == NULL);
        cio_tls_opts t = {.cert_file = srv_pem, .key_file = srv_key};
        CHECK_EQ(cio_stream_start_tls(s, &t, true), 0);
        CHECK(cio_stream_tls_version(s) != NULL);
        if (cio_stream_readline(s, &d, &n) == 0 && cio_stream_write(s, d, n) == 0)
            cio_stream_drain(s);
    }
    cio_stream_close(s);
    return NULL;
}

CONF_TASK(test_start_tls)
{
    CHECK_EQ(pki_make("conf"), 1);
    cio_server *srv;
    CHECK_EQ(cio_start_server(tls_upgrade_handler, NULL, "127.0.0.1", "0", NULL, &srv), 0);
    char port[16];
    snprintf(port, sizeof port, "%d", cio_server_port(srv));
    cio_stream *s;
    CHECK_EQ(cio_open_connection("127.0.0.1", port, NULL, &s), 0);
    CHECK_EQ(cio_stream_write(s, "hello world 1!\n", 15), 0);
    CHECK_EQ(cio_stream_drain(s), 0);
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK_BYTES(d, n, "hello world 1!\n");
    CHECK(cio_stream_tls_version(s) == NULL);
    cio_tls_opts t = {.insecure_no_verify = true}; /* simple_client_sslcontext() */
    CHECK_EQ(cio_stream_start_tls(s, &t, false), 0);
    CHECK(cio_stream_tls_version(s) != NULL);
    CHECK_EQ(cio_stream_write(s, "hello world 2!\n", 15), 0);
    CHECK_EQ(cio_stream_drain(s), 0);
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK_BYTES(d, n, "hello world 2!\n");
    CHECK_EQ(cio_stream_close(s), 0);
    server_stop(srv);
    pki_remove();
    return NULL;
}

/* A child process writes b'data' into a pipe; a reader with limit=1 reads
 * it all (asyncio issue 168). */
CONF_TASK(test_read_all_from_pipe_reader)
{
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = fork();
    if (pid == 0) {
        ssize_t w = write(p[1], "data", 4);
        _exit(w == 4 ? 0 : 1);
    }
    CHECK(pid > 0);
    int status = -1;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(p[1]);
    CHECK_EQ(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    cio_stream *s;
    cio_stream_opts o = {.limit = 1};
    CHECK_EQ(cio_stream_from_fd(p[0], &o, false, &s), 0);
    char *all;
    size_t n;
    CHECK_EQ(cio_stream_read_all(s, &all, &n), 0);
    CHECK_BYTES(all, n, "data");
    free(all);
    CHECK_EQ(cio_stream_close(s), 0);
    return NULL;
}

/* ---- the writer ------------------------------------------------------------------ */

typedef struct drainer_ctx {
    cio_stream *s;
    int *drained;
} drainer_ctx;

static void *drainer(void *arg)
{
    drainer_ctx *c = arg;
    if (cio_stream_drain(c->s) == 0)
        ++*c->drained;
    return NULL;
}

typedef struct sink {
    int fd;
    size_t want;
} sink;

/* resume_writing after 0.1 s: the peer starts reading everything. */
static void *late_sink(void *arg)
{
    sink *k = arg;
    cio_sleep(0.1);
    char *buf = malloc(65536);
    while (k->want) {
        ssize_t r = cio_sock_recv(k->fd, buf, 65536);
        if (r <= 0)
            break;
        k->want -= (size_t)r;
    }
    free(buf);
    return NULL;
}

/* Ten tasks in drain() on one paused writer are all woken. */
CONF_TASK(test_multiple_drain)
{
    struct sockaddr_in a;
    int lfd = listener(1, &a);
    int cfd = cio_socket(AF_INET, SOCK_STREAM, 0);
    int small = 16 * 1024;
    CHECK_EQ(setsockopt(cfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    CHECK_EQ(cio_sock_connect(cfd, (struct sockaddr *)&a, sizeof a), 0);
    int pfd = cio_sock_accept(lfd, NULL, NULL);
    CHECK(pfd >= 0);
    cio_close(lfd);
    CHECK_EQ(setsockopt(pfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    cio_stream *s;
    CHECK_EQ(cio_stream_from_fd(cfd, NULL, false, &s), 0);
    size_t total = 1 << 20;
    char *blob = calloc(1, total);
    CHECK_EQ(cio_stream_write(s, blob, total), 0); /* far above the high-water mark: paused */
    free(blob);
    int drained = 0;
    drainer_ctx c = {s, &drained};
    cio_task *t[10];
    for (int i = 0; i < 10; i++)
        t[i] = cio_spawn(drainer, &c);
    sink k = {pfd, total};
    cio_task *kt = cio_spawn(late_sink, &k);
    CHECK_EQ(cio_gather(t, 10, NULL, NULL, 0), 0);
    CHECK_EQ(drained, 10);
    for (int i = 0; i < 10; i++)
        cio_release(t[i]);
    cio_await(kt, NULL);
    cio_release(kt);
    CHECK_EQ(k.want, 0);
    CHECK_EQ(cio_stream_close(s), 0);
    cio_close(pfd);
    return NULL;
}

static void *accept_and_close(void *arg)
{
    int fd = cio_sock_accept(*(int *)arg, NULL, NULL);
    CHECK(fd >= 0);
    cio_close(fd);
    return NULL;
}

/* write + drain in a loop against a peer that closed: drain (or write)
 * raises instead of spinning forever. */
CONF_TASK(test_drain_raises)
{
    struct sockaddr_in a;
    int lfd = listener(1, &a);
    cio_task *srv = cio_spawn(accept_and_close, &lfd);
    char port[16];
    snprintf(port, sizeof port, "%d", ntohs(a.sin_port));
    cio_stream *s;
    CHECK_EQ(cio_open_connection("127.0.0.1", port, NULL, &s), 0);
    int rc;
    for (;;) {
        if ((rc = cio_stream_write(s, "foo\n", 4)) < 0 || (rc = cio_stream_drain(s)) < 0)
            break;
        cio_yield();
    }
    CHECK(rc == -ECONNRESET || rc == -ECONNABORTED || rc == -EPIPE);
    cio_await(srv, NULL);
    cio_release(srv);
    cio_stream_abort(s);
    cio_close(lfd);
    return NULL;
}

/* close() + wait_closed() with unread data waiting. */
CONF_TASK(test_wait_closed_on_close_with_unread_data)
{
    fixture fx;
    fixture_start(&fx, false, false);
    cio_stream *s;
    CHECK_EQ(fixture_connect(&fx, &s), 0);
    CHECK_EQ(cio_stream_write(s, "GET / HTTP/1.0\r\n\r\n", 18), 0);
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK_BYTES(d, n, "HTTP/1.0 200 OK\r\n");
    CHECK_EQ(cio_stream_close(s), 0);
    fixture_stop(&fx);
    return NULL;
}

CONF_TASK(test_async_writer_api)
{
    basetest_open_connection(false, false, true);
    return NULL;
}

CONF_MAIN()
