/* SPDX-License-Identifier: MIT */
/* Streams (asyncio's StreamReader / StreamWriter) over TCP on 127.0.0.1,
 * unix sockets and pipes:
 *
 *   reading: read / readexactly / readuntil (one and several separators,
 *   separators split across packets) / readline / read_all / at_eof,
 *   CIO_EINCOMPLETE with the partial data, CIO_ELIMITOVERRUN with the data
 *   kept; writing: write / writev / drain, back-pressure bounded by the
 *   high-water mark against a peer that never reads, half-close in both
 *   directions, close flushing, abort resetting; cancellation inside every
 *   call, a stream closed while another task is parked in it, fd numbers
 *   reused in the same loop iteration; unix sockets; names.
 *
 * RUN_TASK_TEST checks that no fd, task, timer or watched fd is left; the
 * ASan build checks memory.  The suite runs on the back end CIO_BACKEND
 * names (lib/backends.h: CTest registers each back end once).
 *
 * Exit 0 = pass. */
/* CIO_TEST: TIMEOUT=300 */
#include "check.h"
#include "lib/backends.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static const char *backend;

/* ---- helpers ---------------------------------------------------------------- */

static int tcp_listener(int backlog, int *port)
{
    int fd = cio_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_EQ(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    CHECK_EQ(listen(fd, backlog), 0);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A client stream (opened with cio_open_connection) and the accepted peer as
 * a stream too (sopts) or, when speer is NULL, as a raw non-blocking fd. */
static void make_pair(const cio_stream_opts *copts, cio_stream **client, const cio_stream_opts *sopts,
                      cio_stream **speer, int *rawpeer)
{
    int port;
    int lfd = tcp_listener(8, &port);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    *client = NULL;
    CHECK_EQ(cio_open_connection("127.0.0.1", ps, copts, client), 0);
    int fd = cio_sock_accept(lfd, NULL, NULL);
    CHECK(fd >= 0);
    cio_close(lfd);
    if (speer) {
        *speer = NULL;
        CHECK_EQ(cio_stream_from_fd(fd, sopts, true, speer), 0);
    } else {
        *rawpeer = fd;
    }
}

/* Pins both kernel buffers small, so a 4 MiB write to a peer that never reads
 * really parks: with autotuning, loopback TCP can absorb several MiB (tcp_wmem
 * and tcp_rmem maxima), and a writer that finishes early would test nothing. */
static void small_kernel_buffers(int writer_fd, int reader_fd)
{
    int v = 16 * 1024;
    CHECK_EQ(setsockopt(writer_fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v), 0);
    CHECK_EQ(setsockopt(reader_fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v), 0);
}

static void fill_pattern(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((i * 131u + seed) ^ (i >> 11));
}

static bool same_file(int fd, const struct stat *st)
{
    struct stat now;
    return fstat(fd, &now) == 0 && now.st_ino == st->st_ino && now.st_dev == st->st_dev;
}

/* Writes bytes to a raw fd from a task, after a delay (0: none). */
typedef struct delayed_write {
    int fd;
    const char *parts[4];
    double delay;
    bool close_after;   /* close (FIN) after the last part */
    bool shut_after;    /* shutdown(SHUT_WR) after the last part */
} delayed_write;

static void *delayed_write_task(void *arg)
{
    delayed_write *d = arg;
    for (int i = 0; i < 4 && d->parts[i]; i++) {
        if (d->delay > 0)
            cio_sleep(d->delay);
        CHECK_EQ(cio_sock_sendall(d->fd, d->parts[i], strlen(d->parts[i])), 0);
    }
    if (d->delay > 0)
        cio_sleep(d->delay);
    if (d->shut_after)
        shutdown(d->fd, SHUT_WR);
    if (d->close_after) {
        cio_close(d->fd);
        d->fd = -1;
    }
    return NULL;
}

/* ---- reading ------------------------------------------------------------------ */

static void *t_read_api(void *arg)
{
    (void)arg;
    cio_stream *s;
    int p;
    make_pair(NULL, &s, NULL, NULL, &p);
    const char *msg = "hello world\nline2\r\nfoo||bar--END--tail";
    CHECK_EQ(cio_sock_sendall(p, msg, strlen(msg)), 0);
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK(n == 12 && memcmp(d, "hello world\n", 12) == 0);
    const char *crlf[] = {"\r\n"};
    CHECK_EQ(cio_stream_readuntil(s, crlf, 1, &d, &n), 0);
    CHECK(n == 7 && memcmp(d, "line2\r\n", 7) == 0);
    /* several separators: the one that comes first in the data wins */
    const char *two[] = {"--END--", "||"};
    CHECK_EQ(cio_stream_readuntil(s, two, 2, &d, &n), 0);
    CHECK(n == 5 && memcmp(d, "foo||", 5) == 0);
    CHECK_EQ(cio_stream_readuntil(s, two, 2, &d, &n), 0);
    CHECK(n == 10 && memcmp(d, "bar--END--", 10) == 0);
    char buf[64];
    CHECK_EQ(cio_stream_read(s, buf, 2), 2);
    CHECK(memcmp(buf, "ta", 2) == 0);
    CHECK(!cio_stream_at_eof(s));
    CHECK_EQ(cio_stream_read(s, buf, 0), 0);

    /* a separator split across packets, parked while waiting for the rest */
    delayed_write dw = {.fd = p, .parts = {"abc\r", "\nxyz<<E", "ND>>"}, .delay = 0.01};
    cio_task *w = cio_spawn(delayed_write_task, &dw);
    CHECK_EQ(cio_stream_readuntil(s, crlf, 1, &d, &n), 0);
    CHECK(n == 7 && memcmp(d, "ilabc\r\n", 7) == 0);
    const char *endm[] = {"<<END>>"};
    CHECK_EQ(cio_stream_readuntil(s, endm, 1, &d, &n), 0);
    CHECK(n == 10 && memcmp(d, "xyz<<END>>", 10) == 0);
    cio_await(w, NULL);
    cio_release(w);

    /* the rest, then EOF */
    CHECK_EQ(cio_sock_sendall(p, "rest", 4), 0);
    shutdown(p, SHUT_WR);
    char *all;
    size_t alen;
    CHECK_EQ(cio_stream_read_all(s, &all, &alen), 0);
    CHECK(alen == 4 && memcmp(all, "rest", 4) == 0);
    free(all);
    CHECK(cio_stream_at_eof(s));
    CHECK_EQ(cio_stream_read(s, buf, sizeof buf), 0);
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK_EQ(n, 0);
    size_t got = 99;
    CHECK_EQ(cio_stream_readexactly(s, buf, 1, &got), CIO_EINCOMPLETE);
    CHECK_EQ(got, 0);
    CHECK_EQ(cio_stream_readuntil(s, crlf, 1, &d, &n), CIO_EINCOMPLETE);
    CHECK_EQ(n, 0);
    CHECK_EQ(cio_stream_read_all(s, &all, &alen), 0);
    CHECK_EQ(alen, 0);
    free(all);
    /* bad separators */
    const char *empty[] = {""};
    CHECK_EQ(cio_stream_readuntil(s, empty, 1, &d, &n), -EINVAL);
    CHECK_EQ(cio_stream_readuntil(s, crlf, 0, &d, &n), -EINVAL);
    CHECK_EQ(cio_stream_close(s), 0);
    cio_close(p);
    return NULL;
}

typedef struct bulk {
    int fd;
    cio_stream *s;
    const unsigned char *data;
    size_t n, chunk;
    bool close_after;
} bulk;

static void *bulk_send_task(void *arg)
{
    bulk *b = arg;
    for (size_t off = 0; off < b->n; off += b->chunk) {
        size_t k = b->n - off < b->chunk ? b->n - off : b->chunk;
        if (b->s) {
            CHECK_EQ(cio_stream_write(b->s, b->data + off, k), 0);
            CHECK_EQ(cio_stream_drain(b->s), 0);
        } else {
            CHECK_EQ(cio_sock_sendall(b->fd, b->data + off, k), 0);
        }
    }
    if (b->close_after && !b->s) {
        cio_close(b->fd);
        b->fd = -1;
    }
    return NULL;
}

static void *t_readexactly(void *arg)
{
    (void)arg;
    /* a large readexactly, filled while the data trickles in */
    cio_stream *s;
    int p;
    make_pair(NULL, &s, NULL, NULL, &p);
    size_t n = 3u << 20;
    unsigned char *data = malloc(n), *buf = malloc(n);
    fill_pattern(data, n, 1);
    bulk b = {.fd = p, .data = data, .n = n, .chunk = 100000};
    cio_task *t = cio_spawn(bulk_send_task, &b);
    size_t got = 0;
    /* a small one first (through the buffer), then the rest (direct) */
    CHECK_EQ(cio_stream_readexactly(s, buf, 10, &got), 0);
    CHECK_EQ(got, 10);
    CHECK_EQ(cio_stream_readexactly(s, buf + 10, n - 10, &got), 0);
    CHECK_EQ(got, n - 10);
    CHECK(memcmp(buf, data, n) == 0);
    cio_await(t, NULL);
    cio_release(t);

    /* the peer closes in the middle: CIO_EINCOMPLETE, the partial data intact */
    CHECK_EQ(cio_sock_sendall(p, "0123456789", 10), 0);
    cio_close(p);
    memset(buf, 0, 100);
    got = 0;
    CHECK_EQ(cio_stream_readexactly(s, buf, 100, &got), CIO_EINCOMPLETE);
    CHECK_EQ(got, 10);
    CHECK(memcmp(buf, "0123456789", 10) == 0);
    CHECK(cio_stream_at_eof(s));
    cio_stream_abort(s);

    /* the same for a large request (read straight into the caller's buffer),
     * with the peer closing while the reader is parked */
    make_pair(NULL, &s, NULL, NULL, &p);
    bulk b2 = {.fd = p, .data = data, .n = 20000, .chunk = 7000, .close_after = true};
    t = cio_spawn(bulk_send_task, &b2);
    memset(buf, 0, 50000);
    CHECK_EQ(cio_stream_readexactly(s, buf, 50000, &got), CIO_EINCOMPLETE);
    CHECK_EQ(got, 20000);
    CHECK(memcmp(buf, data, 20000) == 0);
    cio_await(t, NULL);
    cio_release(t);
    cio_stream_abort(s);

    /* small pieces arriving one at a time, then EOF */
    make_pair(NULL, &s, NULL, NULL, &p);
    delayed_write dw = {.fd = p, .parts = {"abc", "defg", "hij"}, .delay = 0.01, .close_after = true};
    t = cio_spawn(delayed_write_task, &dw);
    char small[32];
    CHECK_EQ(cio_stream_readexactly(s, small, 5, &got), 0);
    CHECK(memcmp(small, "abcde", 5) == 0);
    CHECK_EQ(cio_stream_readexactly(s, small, 20, &got), CIO_EINCOMPLETE);
    CHECK_EQ(got, 5);
    CHECK(memcmp(small, "fghij", 5) == 0);
    cio_await(t, NULL);
    cio_release(t);
    CHECK_EQ(cio_stream_close(s), 0);
    free(data);
    free(buf);
    return NULL;
}

static void *t_readuntil_eof(void *arg)
{
    (void)arg;
    cio_stream *s;
    int p;
    make_pair(NULL, &s, NULL, NULL, &p);
    /* parked in readuntil when the peer sends a partial line and closes */
    delayed_write dw = {.fd = p, .parts = {"par", "tial"}, .delay = 0.01, .close_after = true};
    cio_task *t = cio_spawn(delayed_write_task, &dw);
    const char *nl[] = {"\n", "\r\n"};
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readuntil(s, nl, 2, &d, &n), CIO_EINCOMPLETE);
    CHECK(n == 7 && memcmp(d, "partial", 7) == 0);
    CHECK(cio_stream_at_eof(s)); /* consumed */
    char buf[8];
    CHECK_EQ(cio_stream_read(s, buf, sizeof buf), 0);
    cio_await(t, NULL);
    cio_release(t);
    cio_stream_abort(s);

    /* readline returns the last unterminated line with 0 */
    make_pair(NULL, &s, NULL, NULL, &p);
    CHECK_EQ(cio_sock_sendall(p, "one\ntwo", 7), 0);
    cio_close(p);
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK(n == 4 && memcmp(d, "one\n", 4) == 0);
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK(n == 3 && memcmp(d, "two", 3) == 0);
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK_EQ(n, 0);
    CHECK_EQ(cio_stream_close(s), 0);
    return NULL;
}

static void *t_limit(void *arg)
{
    (void)arg;
    cio_stream_opts o = {.limit = 1024};
    cio_stream *s;
    int p;
    make_pair(&o, &s, NULL, NULL, &p);
    /* a separator, but 2001 bytes after the start: over the limit */
    char *big = malloc(5000);
    memset(big, 'x', 2000);
    memcpy(big + 2000, "\nshort\n", 7);
    CHECK_EQ(cio_sock_sendall(p, big, 2007), 0);
    cio_sleep(0.02); /* let it all arrive */
    const char *nl[] = {"\n"};
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readuntil(s, nl, 1, &d, &n), CIO_ELIMITOVERRUN);
    CHECK(n > 1024);
    /* the data stays: read it with read() */
    char *buf = malloc(5000);
    size_t got = 0;
    while (got < 2001) {
        ssize_t r = cio_stream_read(s, buf + got, 2001 - got);
        CHECK(r > 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    CHECK(memcmp(buf, big, 2001) == 0);
    /* and the next readuntil succeeds */
    CHECK_EQ(cio_stream_readuntil(s, nl, 1, &d, &n), 0);
    CHECK(n == 6 && memcmp(d, "short\n", 6) == 0);

    /* no separator at all: overrun once more than the limit is buffered */
    memset(big, 'y', 5000);
    CHECK_EQ(cio_sock_sendall(p, big, 5000), 0);
    CHECK_EQ(cio_stream_readuntil(s, nl, 1, &d, &n), CIO_ELIMITOVERRUN);
    CHECK(n > 1024 && n <= 5000);
    got = 0;
    while (got < 5000) {
        ssize_t r = cio_stream_read(s, buf, 5000);
        CHECK(r > 0);
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] != 'y')
                CHECK(!"not the bytes sent");
        got += (size_t)r;
    }
    CHECK_EQ(got, 5000);
    CHECK_EQ(cio_sock_sendall(p, "ok\n", 3), 0);
    CHECK_EQ(cio_stream_readuntil(s, nl, 1, &d, &n), 0);
    CHECK(n == 3 && memcmp(d, "ok\n", 3) == 0);

    /* a line of exactly the limit is fine */
    memset(big, 'z', 1023);
    big[1023] = '\n';
    CHECK_EQ(cio_sock_sendall(p, big, 1024), 0);
    CHECK_EQ(cio_stream_readuntil(s, nl, 1, &d, &n), 0);
    CHECK_EQ(n, 1024);

    /* readline drops the oversized line and goes on with the next */
    memset(big, 'w', 3000);
    memcpy(big + 3000, "\nnext\n", 6);
    CHECK_EQ(cio_sock_sendall(p, big, 3006), 0);
    cio_sleep(0.02);
    CHECK_EQ(cio_stream_readline(s, &d, &n), CIO_ELIMITOVERRUN);
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK(n == 5 && memcmp(d, "next\n", 5) == 0);
    free(big);
    free(buf);
    cio_close(p);
    CHECK_EQ(cio_stream_close(s), 0);
    return NULL;
}

/* asyncio's limit rule: the limit bounds the bytes before the separator,
 * measured where the separator starts (LimitOverrunError.consumed), and the
 * separator itself does not count. */
static void *t_limit_at_separator_start(void *arg)
{
    (void)arg;
    cio_stream *s;
    int p;
    /* the default limit (64 KiB): a 65536-byte line plus "\n" is a line */
    make_pair(NULL, &s, NULL, NULL, &p);
    size_t big = 65536;
    char *line = malloc(big + 1);
    memset(line, 'a', big);
    line[big] = '\n';
    bulk b = {.fd = p, .data = (unsigned char *)line, .n = big + 1, .chunk = 4096};
    cio_task *t = cio_spawn(bulk_send_task, &b);
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK(n == big + 1 && memcmp(d, line, big + 1) == 0);
    cio_await(t, NULL);
    cio_release(t);
    free(line);
    CHECK_EQ(cio_stream_close(s), 0);
    cio_close(p);

    cio_stream_opts o = {.limit = 8};
    make_pair(&o, &s, NULL, NULL, &p);
    const char *nl[] = {"\n"};
    CHECK_EQ(cio_sock_sendall(p, "12345678\n", 9), 0);
    CHECK_EQ(cio_stream_readuntil(s, nl, 1, &d, &n), 0);
    CHECK(n == 9 && memcmp(d, "12345678\n", 9) == 0);
    /* one byte more: refused, consumed = where the separator starts */
    CHECK_EQ(cio_sock_sendall(p, "123456789\n", 10), 0);
    cio_sleep(0.02);
    CHECK_EQ(cio_stream_readuntil(s, nl, 1, &d, &n), CIO_ELIMITOVERRUN);
    CHECK_EQ(n, 9);
    char buf[16];
    CHECK_EQ(cio_stream_readexactly(s, buf, 10, NULL), 0); /* nothing was consumed */
    CHECK(memcmp(buf, "123456789\n", 10) == 0);
    /* a separator of 2 bytes right after 8 bytes is fine too */
    const char *crlf[] = {"\r\n"};
    CHECK_EQ(cio_sock_sendall(p, "abcdefgh\r\n", 10), 0);
    CHECK_EQ(cio_stream_readuntil(s, crlf, 1, &d, &n), 0);
    CHECK(n == 10 && memcmp(d, "abcdefgh\r\n", 10) == 0);
    /* no separator: an overrun once more than limit bytes cannot be the
     * start of one (buflen + 1 - longest separator > limit) */
    const char *xyz[] = {"XYZ"};
    delayed_write dw = {.fd = p, .parts = {"abcdefghij", "k"}, .delay = 0.01};
    t = cio_spawn(delayed_write_task, &dw);
    CHECK_EQ(cio_stream_readuntil(s, xyz, 1, &d, &n), CIO_ELIMITOVERRUN);
    CHECK_EQ(n, 9); /* 11 + 1 - 3 */
    cio_await(t, NULL);
    cio_release(t);
    CHECK_EQ(cio_stream_readexactly(s, buf, 11, NULL), 0);
    CHECK(memcmp(buf, "abcdefghijk", 11) == 0);
    CHECK_EQ(cio_stream_close(s), 0);
    cio_close(p);
    return NULL;
}

/* Several separators (asyncio 3.13's tuple): the shortest chunk wins; when
 * two end at the same byte the shorter separator is the match (which is
 * what the limit is measured against). */
static void *t_multi_sep_shortest(void *arg)
{
    (void)arg;
    cio_stream_opts o = {.limit = 3};
    cio_stream *s;
    int p;
    make_pair(NULL, &s, NULL, NULL, &p);
    CHECK_EQ(cio_sock_sendall(p, "abcXYZdef\n", 10), 0);
    cio_sleep(0.02);
    const char *two[] = {"abcXYZ", "c"};
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readuntil(s, two, 2, &d, &n), 0);
    CHECK(n == 3 && memcmp(d, "abc", 3) == 0);
    CHECK_EQ(cio_stream_close(s), 0);
    cio_close(p);

    make_pair(&o, &s, NULL, NULL, &p);
    CHECK_EQ(cio_sock_sendall(p, "abc\r\n", 5), 0);
    cio_sleep(0.02);
    const char *crlf_nl[] = {"\r\n", "\n"};
    CHECK_EQ(cio_stream_readuntil(s, crlf_nl, 2, &d, &n), CIO_ELIMITOVERRUN);
    CHECK_EQ(n, 4); /* "\n" matched, at 4 > 3 */
    const char *crlf[] = {"\r\n"};
    CHECK_EQ(cio_stream_readuntil(s, crlf, 1, &d, &n), 0); /* "\r\n" alone starts at 3 */
    CHECK(n == 5 && memcmp(d, "abc\r\n", 5) == 0);
    CHECK_EQ(cio_stream_close(s), 0);
    cio_close(p);
    return NULL;
}

/* at_eof() is true as soon as EOF is known and nothing is buffered, even
 * when the last read took exactly the bytes that were there. */
static void *t_at_eof_known(void *arg)
{
    (void)arg;
    cio_stream *s;
    int p;
    make_pair(NULL, &s, NULL, NULL, &p);
    CHECK(!cio_stream_at_eof(s));
    CHECK_EQ(cio_sock_sendall(p, "abc", 3), 0);
    shutdown(p, SHUT_WR);
    cio_sleep(0.02);
    char buf[4];
    CHECK_EQ(cio_stream_readexactly(s, buf, 3, NULL), 0);
    CHECK(cio_stream_at_eof(s));
    CHECK_EQ(cio_stream_read(s, buf, sizeof buf), 0);
    CHECK_EQ(cio_stream_close(s), 0);
    cio_close(p);

    /* data still to come: not at EOF, and the bytes looked at are kept */
    make_pair(NULL, &s, NULL, NULL, &p);
    CHECK_EQ(cio_sock_sendall(p, "xy", 2), 0);
    cio_sleep(0.02);
    CHECK(!cio_stream_at_eof(s));
    cio_close(p);
    cio_sleep(0.02);
    CHECK(!cio_stream_at_eof(s));
    CHECK_EQ(cio_stream_read(s, buf, sizeof buf), 2);
    CHECK(memcmp(buf, "xy", 2) == 0);
    CHECK(cio_stream_at_eof(s));
    CHECK_EQ(cio_stream_close(s), 0);

    /* a pipe (no peeking: the look reads into the buffer's free end) */
    int pp[2];
    CHECK_EQ(pipe2(pp, O_NONBLOCK | O_CLOEXEC), 0);
    CHECK_EQ(cio_stream_from_fd(pp[0], NULL, false, &s), 0);
    CHECK_EQ(write(pp[1], "abc", 3), 3);
    CHECK_EQ(cio_stream_readexactly(s, buf, 2, NULL), 0);
    CHECK(!cio_stream_at_eof(s));
    close(pp[1]);
    CHECK_EQ(cio_stream_readexactly(s, buf, 1, NULL), 0);
    CHECK(cio_stream_at_eof(s));
    CHECK_EQ(cio_stream_close(s), 0);
    return NULL;
}

/* readuntil / readline on a stream that never buffered a byte (issue 14
 * 2.8: clang's UBSan saw a zero offset applied to the NULL buffer). */
static void *t_fresh_stream_eof(void *arg)
{
    (void)arg;
    cio_stream *s;
    int p;
    make_pair(NULL, &s, NULL, NULL, &p);
    cio_close(p);
    const char *nl[] = {"\n", "\r\n"};
    const char *d = "x";
    size_t n = 99;
    CHECK_EQ(cio_stream_readuntil(s, nl, 2, &d, &n), CIO_EINCOMPLETE);
    CHECK_EQ(n, 0);
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK_EQ(n, 0);
    CHECK(cio_stream_at_eof(s));
    CHECK_EQ(cio_stream_close(s), 0);
    return NULL;
}

/* ---- writing -------------------------------------------------------------------- */

typedef struct sink {
    cio_stream *s;
    int fd;
    const unsigned char *expect;
    size_t got;
    bool same;
    int rc;
} sink;

/* Reads a stream (or raw fd) to EOF, comparing. */
static void *sink_task(void *arg)
{
    sink *k = arg;
    unsigned char *buf = malloc(1 << 16);
    k->same = true;
    for (;;) {
        ssize_t r = k->s ? cio_stream_read(k->s, buf, 1 << 16) : cio_sock_recv(k->fd, buf, 1 << 16);
        if (r < 0)
            k->rc = (int)r;
        if (r <= 0)
            break;
        if (k->expect && memcmp(buf, k->expect + k->got, (size_t)r) != 0)
            k->same = false;
        k->got += (size_t)r;
    }
    free(buf);
    return NULL;
}

static void *t_write_drain(void *arg)
{
    (void)arg;
    cio_stream *c, *sv;
    make_pair(NULL, &c, NULL, &sv, NULL);
    size_t n = 8u << 20;
    unsigned char *data = malloc(n);
    fill_pattern(data, n, 5);
    sink k = {.s = sv, .expect = data};
    cio_task *t = cio_spawn(sink_task, &k);
    /* write + drain in 1 MiB pieces, the last two with writev */
    size_t off = 0;
    for (; off < n - (2u << 20); off += 1u << 20) {
        CHECK_EQ(cio_stream_write(c, data + off, 1u << 20), 0);
        CHECK_EQ(cio_stream_drain(c), 0);
        CHECK(cio_stream_write_buffer_size(c) <= 64 * 1024);
    }
    struct iovec iov[3] = {{data + off, 1000}, {data + off + 1000, (1u << 20) - 1000}, {data + off + (1u << 20), 1u << 20}};
    CHECK_EQ(cio_stream_writev(c, iov, 3), 0);
    CHECK_EQ(cio_stream_drain(c), 0);
    CHECK_EQ(cio_stream_write_eof(c), 0);
    CHECK_EQ(cio_await(t, NULL), 0);
    cio_release(t);
    CHECK_EQ(k.got, n);
    CHECK(k.same);
    CHECK_EQ(k.rc, 0);
    /* small writes go out by themselves, without a drain: at once on
     * readiness back ends, with the loop's next submission on io_uring */
    CHECK_EQ(cio_stream_write(sv, "x", 1), 0);
    for (int i = 0; i < 1000 && cio_stream_write_buffer_size(sv); i++)
        cio_sleep(0.001);
    CHECK_EQ(cio_stream_write_buffer_size(sv), 0);
    char b;
    CHECK_EQ(cio_stream_read(c, &b, 1), 1);
    CHECK_EQ(cio_stream_close(c), 0);
    CHECK_EQ(cio_stream_close(sv), 0);
    free(data);
    return NULL;
}

typedef struct bp {
    cio_stream *s;
    bool use_drain;
    size_t chunk, total, written, max_after, max_seen;
    int rc;
} bp;

static void *set_flag_task(void *arg)
{
    *(bool *)arg = true;
    return NULL;
}

static void *bp_writer(void *arg)
{
    bp *b = arg;
    unsigned char *chunk = malloc(b->chunk);
    memset(chunk, 'b', b->chunk);
    b->rc = 0;
    while (b->written < b->total) {
        int rc = cio_stream_write(b->s, chunk, b->chunk);
        if (rc == 0 && b->use_drain)
            rc = cio_stream_drain(b->s);
        if (rc < 0) {
            b->rc = rc;
            break;
        }
        b->written += b->chunk;
        size_t sz = cio_stream_write_buffer_size(b->s);
        if (sz > b->max_after)
            b->max_after = sz;
    }
    free(chunk);
    return NULL;
}

static void *bp_monitor(void *arg)
{
    bp *b = arg;
    for (;;) {
        size_t sz = cio_stream_write_buffer_size(b->s);
        if (sz > b->max_seen)
            b->max_seen = sz;
        if (cio_sleep(0.001) < 0)
            break;
    }
    return NULL;
}

/* A peer that never reads: the writer's buffer stays bounded by the
 * high-water mark (write_blocks, or drain after each write) while it tries
 * to push 50 MiB; then it is cancelled. */
static void *t_backpressure(void *arg)
{
    (void)arg;
    for (int mode = 0; mode < 2; mode++) {
        cio_stream_opts o = {.high_water = 64 * 1024, .low_water = 16 * 1024, .write_blocks = mode == 0};
        cio_stream *s;
        int p;
        make_pair(&o, &s, NULL, NULL, &p);
        bp b = {.s = s, .use_drain = mode == 1, .chunk = 32 * 1024, .total = 50u << 20};
        cio_task *w = cio_spawn(bp_writer, &b), *m = cio_spawn(bp_monitor, &b);
        cio_sleep(0.5);
        CHECK(!cio_done(w));
        cio_cancel(w, NULL);
        cio_await(w, NULL);
        cio_cancel(m, NULL);
        cio_await(m, NULL);
        CHECK_EQ(b.rc, -ECANCELED);
        CHECK(b.written < b.total);
        CHECK(b.written > 0);
        CHECK(b.max_after <= o.high_water);
        CHECK(b.max_seen <= o.high_water + b.chunk);
        CHECK(b.max_seen > 0);
        fprintf(stderr, "  %s: %zu KiB accepted, buffer at most %zu KiB\n", mode == 0 ? "write_blocks" : "drain",
                b.written >> 10, b.max_seen >> 10);
        cio_release(w);
        cio_release(m);
        cio_stream_abort(s);
        cio_close(p);
    }

    /* without either, write() never waits: the buffer grows (as asyncio's)
     * and drain() is where the writer waits */
    cio_stream *s;
    int p;
    make_pair(NULL, &s, NULL, NULL, &p);
    small_kernel_buffers(cio_stream_fd(s), p); /* the drain must wait */
    size_t n = 8u << 20;
    char *data = calloc(1, n);
    bool ran = false; /* set by a task that can only run if write suspends */
    cio_task *probe = cio_spawn(set_flag_task, &ran);
    CHECK_EQ(cio_stream_write(s, data, n), 0);
    CHECK(!ran);
    CHECK_EQ(cio_await(probe, NULL), 0);
    cio_release(probe);
    CHECK(cio_stream_write_buffer_size(s) > 64 * 1024);
    cio_timeout to;
    cio_timeout_enter(&to, 0.1);
    CHECK_EQ(cio_timeout_exit(&to, cio_stream_drain(s)), -ETIMEDOUT);
    /* a reader appears: drain finishes */
    sink k = {.fd = p};
    cio_task *t = cio_spawn(sink_task, &k);
    CHECK_EQ(cio_stream_drain(s), 0);
    CHECK(cio_stream_write_buffer_size(s) <= 16 * 1024);
    CHECK_EQ(cio_stream_close(s), 0);
    cio_await(t, NULL);
    cio_release(t);
    CHECK_EQ(k.got, n);
    free(data);
    cio_close(p);
    return NULL;
}

/* ---- half-close, close, abort ------------------------------------------------------ */

typedef struct half {
    cio_stream *s;
    bool server_first;
} half;

static void *half_server(void *arg)
{
    half *h = arg;
    char *d;
    size_t n;
    if (!h->server_first) {
        /* reads the request to EOF, then replies */
        CHECK_EQ(cio_stream_read_all(h->s, &d, &n), 0);
        CHECK(n == 7 && memcmp(d, "request", 7) == 0);
        free(d);
        CHECK(cio_stream_at_eof(h->s));
        CHECK_EQ(cio_stream_write(h->s, "response", 8), 0);
        CHECK_EQ(cio_stream_close(h->s), 0);
    } else {
        /* sends and half-closes first, then reads the reply */
        CHECK(cio_stream_can_write_eof(h->s));
        CHECK_EQ(cio_stream_write(h->s, "greeting", 8), 0);
        CHECK_EQ(cio_stream_write_eof(h->s), 0);
        CHECK_EQ(cio_stream_write_eof(h->s), 0); /* again: nothing to do */
        CHECK_EQ(cio_stream_write(h->s, "more", 4), -EINVAL);
        CHECK_EQ(cio_stream_read_all(h->s, &d, &n), 0);
        CHECK(n == 5 && memcmp(d, "reply", 5) == 0);
        free(d);
        CHECK_EQ(cio_stream_close(h->s), 0);
    }
    return NULL;
}

static void *t_half_close(void *arg)
{
    (void)arg;
    for (int dir = 0; dir < 2; dir++) {
        cio_stream *c, *sv;
        make_pair(NULL, &c, NULL, &sv, NULL);
        half h = {.s = sv, .server_first = dir == 1};
        cio_task *t = cio_spawn(half_server, &h);
        char *d;
        size_t n;
        if (dir == 0) {
            CHECK(cio_stream_can_write_eof(c));
            CHECK_EQ(cio_stream_write(c, "request", 7), 0);
            CHECK_EQ(cio_stream_write_eof(c), 0);
            CHECK_EQ(cio_stream_read_all(c, &d, &n), 0);
            CHECK(n == 8 && memcmp(d, "response", 8) == 0);
            free(d);
        } else {
            CHECK_EQ(cio_stream_read_all(c, &d, &n), 0);
            CHECK(n == 8 && memcmp(d, "greeting", 8) == 0);
            free(d);
            CHECK(cio_stream_at_eof(c));
            CHECK_EQ(cio_stream_write(c, "reply", 5), 0);
            CHECK_EQ(cio_stream_write_eof(c), 0);
        }
        CHECK_EQ(cio_await(t, NULL), 0);
        cio_release(t);
        CHECK_EQ(cio_stream_close(c), 0);
    }
    return NULL;
}

/* close() flushes everything buffered before closing. */
static void *t_close_flushes(void *arg)
{
    (void)arg;
    cio_stream *c;
    int p;
    make_pair(NULL, &c, NULL, NULL, &p);
    small_kernel_buffers(cio_stream_fd(c), p); /* the write must stay buffered */
    size_t n = 16u << 20;
    unsigned char *data = malloc(n);
    fill_pattern(data, n, 9);
    CHECK_EQ(cio_stream_write(c, data, n), 0); /* mostly buffered */
    CHECK(cio_stream_write_buffer_size(c) > 0);
    sink k = {.fd = p, .expect = data};
    cio_task *t = cio_spawn(sink_task, &k);
    CHECK(!cio_stream_is_closing(c));
    CHECK_EQ(cio_stream_close(c), 0); /* suspends until all was sent */
    CHECK_EQ(cio_await(t, NULL), 0);
    cio_release(t);
    CHECK_EQ(k.got, n);
    CHECK(k.same);
    CHECK_EQ(k.rc, 0); /* an orderly EOF, no reset */
    cio_close(p);
    free(data);
    return NULL;
}

/* abort() resets the connection: the peer gets -ECONNRESET. */
static void *t_abort(void *arg)
{
    (void)arg;
    /* client aborts; the server, parked in read, sees the reset */
    cio_stream *c, *sv;
    make_pair(NULL, &c, NULL, &sv, NULL);
    sink k = {.s = sv};
    cio_task *t = cio_spawn(sink_task, &k);
    cio_sleep(0.01);
    CHECK_EQ(cio_stream_write(c, "unsent", 0), 0);
    cio_stream_abort(c);
    cio_await(t, NULL);
    cio_release(t);
    CHECK_EQ(k.rc, -ECONNRESET);
    /* writing to the reset connection: an error, sticky */
    int rc = cio_stream_write(sv, "x", 1);
    if (rc == 0) /* the first bytes may still be taken by the kernel */
        rc = cio_stream_write(sv, "x", 1);
    CHECK(rc == -EPIPE || rc == -ECONNRESET);
    CHECK(cio_stream_write(sv, "y", 1) < 0);
    CHECK(cio_stream_drain(sv) < 0);
    CHECK_EQ(cio_stream_close(sv), 0);

    /* the other way, with data buffered that abort drops */
    make_pair(NULL, &c, NULL, &sv, NULL);
    small_kernel_buffers(cio_stream_fd(sv), cio_stream_fd(c)); /* the write must stay buffered */
    char *lots = calloc(1, 8u << 20);
    CHECK_EQ(cio_stream_write(sv, lots, 8u << 20), 0);
    CHECK(cio_stream_write_buffer_size(sv) > 0);
    cio_stream_abort(sv);
    free(lots);
    char buf[4096];
    ssize_t r;
    size_t total = 0;
    while ((r = cio_stream_read(c, buf, sizeof buf)) > 0)
        total += (size_t)r;
    CHECK_EQ(r, -ECONNRESET);
    CHECK(total < (8u << 20));
    cio_stream_abort(c);
    return NULL;
}

/* ---- cancellation inside every call ----------------------------------------------- */

enum { OP_READ, OP_READEXACTLY, OP_READUNTIL, OP_READLINE, OP_READALL, OP_DRAIN, OP_WRITE_BLOCKS, OP_WRITE_EOF, OP_CLOSE, OP_COUNT };
static const char *op_names[] = {"read", "readexactly", "readuntil", "readline", "read_all", "drain", "write(write_blocks)", "write_eof", "close"};

typedef struct op_ctx {
    cio_stream *s;
    int op;
    int rc;
    size_t got;
    char buf[64];
} op_ctx;

static void *op_task(void *arg)
{
    op_ctx *o = arg;
    const char *nl[] = {"\n"};
    const char *d;
    size_t n;
    char *all = NULL;
    static char big[4u << 20];
    switch (o->op) {
    case OP_READ: o->rc = (int)cio_stream_read(o->s, o->buf, sizeof o->buf); break;
    case OP_READEXACTLY: o->rc = cio_stream_readexactly(o->s, o->buf, sizeof o->buf, &o->got); break;
    case OP_READUNTIL: o->rc = cio_stream_readuntil(o->s, nl, 1, &d, &n); break;
    case OP_READLINE: o->rc = cio_stream_readline(o->s, &d, &n); break;
    case OP_READALL:
        o->rc = cio_stream_read_all(o->s, &all, &n);
        free(all);
        break;
    case OP_DRAIN:
        cio_stream_write(o->s, big, sizeof big);
        o->rc = cio_stream_drain(o->s);
        break;
    case OP_WRITE_BLOCKS: o->rc = cio_stream_write(o->s, big, sizeof big); break;
    case OP_WRITE_EOF:
        cio_stream_write(o->s, big, sizeof big);
        o->rc = cio_stream_write_eof(o->s);
        break;
    case OP_CLOSE:
        cio_stream_write(o->s, big, sizeof big);
        o->rc = cio_stream_close(o->s); /* frees s, also when cancelled */
        o->s = NULL;
        break;
    }
    return NULL;
}

/* Cancels a task parked in each call: -ECANCELED; the stream can then be
 * closed (or was, by close); no fd or memory is left; an fd number reused
 * right after is never touched by the dead stream. */
static void *t_cancel_every_call(void *arg)
{
    (void)arg;
    for (int op = 0; op < OP_COUNT; op++) {
        check_current = op_names[op];
        cio_stream_opts o = {.write_blocks = op == OP_WRITE_BLOCKS};
        cio_stream *s;
        int p;
        make_pair(&o, &s, NULL, NULL, &p);
        int sfd = cio_stream_fd(s);
        small_kernel_buffers(sfd, p);
        /* partial data for the readers: must survive the cancellation */
        if (op == OP_READEXACTLY || op == OP_READUNTIL || op == OP_READLINE)
            CHECK_EQ(cio_sock_sendall(p, "par", 3), 0);
        op_ctx c = {.s = s, .op = op};
        cio_task *t = cio_spawn(op_task, &c);
        cio_sleep(0.05);
        CHECK(!cio_done(t));
        cio_cancel(t, NULL);
        cio_await(t, NULL);
        CHECK_EQ(c.rc, -ECANCELED);
        CHECK(cio_cancelled(t));
        cio_release(t);
        if (op == OP_READUNTIL || op == OP_READLINE) {
            /* the partial line stayed in the buffer */
            CHECK_EQ(cio_sock_sendall(p, "tial\n", 5), 0);
            const char *d;
            size_t n;
            CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
            CHECK(n == 8 && memcmp(d, "partial\n", 8) == 0);
        } else if (op == OP_READEXACTLY) {
            CHECK_EQ(c.got, 3); /* what was taken is reported */
            CHECK(memcmp(c.buf, "par", 3) == 0);
        } else if (op == OP_READ) {
            /* still usable */
            CHECK_EQ(cio_sock_sendall(p, "z", 1), 0);
            char b;
            CHECK_EQ(cio_stream_read(s, &b, 1), 1);
        }
        if (op != OP_CLOSE)
            cio_stream_abort(s);
        else
            CHECK(c.s == NULL);
        /* the fd number is free again; whoever gets it next keeps it */
        int sp[2];
        CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
        int mine = sp[0] == sfd ? sp[0] : sp[1] == sfd ? sp[1] : -1;
        CHECK(mine >= 0);
        struct stat st;
        fstat(sp[0], &st);
        cio_sleep(0.02);
        CHECK(same_file(sp[0], &st));
        CHECK_EQ(cio_sock_sendall(sp[1], "ok", 2), 0);
        char b2[2];
        CHECK_EQ(cio_sock_recv(sp[0], b2, 2), 2);
        cio_close(sp[0]);
        cio_close(sp[1]);
        cio_close(p);
    }
    check_current = "t_cancel_every_call";
    return NULL;
}

typedef struct oc_ctx {
    const char *port;
    cio_stream *s;
    int rc;
} oc_ctx;

static void *open_task(void *arg)
{
    oc_ctx *o = arg;
    o->s = (cio_stream *)1;
    o->rc = cio_open_connection("127.0.0.1", o->port, NULL, &o->s);
    return NULL;
}

/* open_connection cancelled while connecting (to a listener whose queue is
 * full); refused; unix path errors. */
static void *t_open_connection(void *arg)
{
    (void)arg;
    int port;
    int lfd = tcp_listener(0, &port);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    cio_stream *fill[8];
    int nfill = 0;
    for (; nfill < 8; nfill++) {
        cio_stream_opts o = {.connect_timeout = 0.2};
        int rc = cio_open_connection("127.0.0.1", ps, &o, &fill[nfill]);
        if (rc < 0) {
            CHECK_EQ(rc, -ETIMEDOUT);
            CHECK(fill[nfill] == NULL);
            break;
        }
    }
    CHECK(nfill >= 1 && nfill < 8);
    oc_ctx o = {.port = ps};
    cio_task *t = cio_spawn(open_task, &o);
    cio_sleep(0.05);
    CHECK(!cio_done(t));
    cio_cancel(t, NULL);
    cio_await(t, NULL);
    CHECK_EQ(o.rc, -ECANCELED);
    CHECK(o.s == NULL);
    cio_release(t);
    for (int i = 0; i < nfill; i++)
        cio_stream_abort(fill[i]);
    cio_close(lfd);

    /* refused */
    int b = cio_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(b, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(b, (struct sockaddr *)&a, &al);
    snprintf(ps, sizeof ps, "%d", ntohs(a.sin_port));
    cio_stream *s = (cio_stream *)1;
    CHECK_EQ(cio_open_connection("127.0.0.1", ps, NULL, &s), -ECONNREFUSED);
    CHECK(s == NULL);
    CHECK_EQ(cio_open_connection("localhost", ps, NULL, &s), -ECONNREFUSED);
    cio_close(b);
    /* unix */
    CHECK_EQ(cio_open_unix_connection("/nonexistent/cio-test.sock", NULL, &s), -ENOENT);
    CHECK(s == NULL);
    char longp[200];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = 0;
    CHECK_EQ(cio_open_unix_connection(longp, NULL, &s), -ENAMETOOLONG);
    return NULL;
}

/* ---- closed while another task is parked in it ------------------------------------------ */

typedef struct closer {
    cio_stream *s;
    bool abort;
    int newfd[2]; /* a socketpair made right after, in the same step */
    int rc;
} closer;

static void *closer_task(void *arg)
{
    closer *c = arg;
    if (c->abort)
        cio_stream_abort(c->s);
    else
        c->rc = cio_stream_close(c->s);
    /* no suspension since the close: the parked task has not run yet */
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, c->newfd), 0);
    return NULL;
}

static void *t_closed_while_parked(void *arg)
{
    (void)arg;
    int ops[] = {OP_READ, OP_READEXACTLY, OP_READUNTIL, OP_READALL, OP_DRAIN, OP_WRITE_BLOCKS, OP_WRITE_EOF};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        for (int ab = 0; ab < 2; ab++) {
            int op = ops[i];
            bool writer = op == OP_DRAIN || op == OP_WRITE_BLOCKS || op == OP_WRITE_EOF;
            if (writer && !ab)
                continue; /* close would flush to a peer that never reads */
            check_current = op_names[op];
            cio_stream_opts o = {.write_blocks = op == OP_WRITE_BLOCKS};
            cio_stream *s;
            int p;
            make_pair(&o, &s, NULL, NULL, &p);
            int sfd = cio_stream_fd(s);
            small_kernel_buffers(sfd, p);
            op_ctx c = {.s = s, .op = op};
            cio_task *t = cio_spawn(op_task, &c);
            cio_sleep(0.05);
            CHECK(!cio_done(t));
            closer cl = {.s = s, .abort = ab};
            cio_task *ct = cio_spawn(closer_task, &cl);
            cio_await(ct, NULL);
            cio_release(ct);
            if (!ab)
                CHECK_EQ(cl.rc, 0);
            cio_await(t, NULL);
            cio_release(t);
            /* the parked call failed, without touching the new owner of
             * the fd number */
            CHECK(c.rc < 0);
            CHECK(c.rc != -ECANCELED);
            CHECK(cl.newfd[0] == sfd || cl.newfd[1] == sfd);
            CHECK_EQ(cio_sock_sendall(cl.newfd[1], "n", 1), 0);
            char b;
            CHECK_EQ(cio_sock_recv(cl.newfd[0], &b, 1), 1);
            cio_close(cl.newfd[0]);
            cio_close(cl.newfd[1]);
            cio_close(p);
        }
    }
    check_current = "t_closed_while_parked";
    return NULL;
}

/* ---- an fd number reused within one loop iteration ---------------------------------- */

typedef struct reuse {
    cio_stream *victim;     /* closed from the callback */
    int lfd;                /* a pending connection to accept there */
    int trigger;            /* the fd whose reader callback does it */
    int newfd;
    cio_stream *fresh;
    int spurious;           /* detector callbacks with nothing to read */
    int real;
    bool done;
} reuse;

static void detector_cb(void *arg)
{
    reuse *r = arg;
    char b;
    if (recv(r->newfd, &b, 1, MSG_PEEK) > 0)
        r->real++;
    else
        r->spurious++;
    cio_remove_reader(cio_loop_current(), r->newfd);
}

static void trigger_cb(void *arg)
{
    reuse *r = arg;
    cio_loop *l = cio_loop_current();
    cio_remove_reader(l, r->trigger);
    if (r->done)
        return;
    r->done = true;
    int old = cio_stream_fd(r->victim);
    cio_stream_abort(r->victim); /* its reader task is parked: memory stays until it returns */
    r->newfd = accept4(r->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    CHECK_EQ(r->newfd, old);
    /* the new owner watches the number at once, in this same iteration:
     * the readiness the old socket had must not reach it */
    cio_add_reader(l, r->newfd, detector_cb, r);
}

static void *victim_reader(void *arg)
{
    cio_stream *s = arg;
    char buf[64];
    ssize_t r = cio_stream_read(s, buf, sizeof buf);
    CHECK(r < 0); /* not the old peer's data, nor the new socket's */
    return (void *)(intptr_t)r;
}

static void *t_fd_reuse_same_iteration(void *arg)
{
    (void)arg;
    cio_loop *l = cio_loop_current();
    int port;
    int lfd = tcp_listener(8, &port);
    int tsp[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, tsp), 0);
    cio_stream *victim;
    int vpeer;
    make_pair(NULL, &victim, NULL, NULL, &vpeer);
    /* a connection waiting in lfd's queue, for the callback to accept */
    int pend = cio_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_EQ(cio_sock_connect(pend, (struct sockaddr *)&a, sizeof a), 0);

    reuse r = {.victim = victim, .lfd = lfd, .trigger = tsp[0], .newfd = -1};
    cio_task *vt = cio_spawn(victim_reader, victim);
    cio_sleep(0.01); /* parked in read */
    CHECK_EQ(cio_add_reader(l, tsp[0], trigger_cb, &r), 0);
    /* both become readable before the loop polls: the trigger first, so
     * that its callback runs while the victim's event is still queued */
    CHECK_EQ(write(tsp[1], "t", 1), 1);
    CHECK_EQ(write(vpeer, "stale", 5), 5);
    void *res;
    CHECK_EQ(cio_await(vt, &res), 0);
    cio_release(vt);
    CHECK(r.done);
    CHECK((intptr_t)res < 0);
    cio_sleep(0.02);
    CHECK_EQ(r.spurious, 0);
    CHECK_EQ(r.real, 0);
    /* now the new socket's own data: seen, and only that */
    CHECK_EQ(cio_sock_sendall(pend, "fresh", 5), 0);
    cio_sleep(0.02);
    CHECK_EQ(r.real, 1);
    CHECK_EQ(r.spurious, 0);
    cio_stream *fresh;
    CHECK_EQ(cio_stream_from_fd(r.newfd, NULL, false, &fresh), 0);
    char buf[16];
    CHECK_EQ(cio_stream_read(fresh, buf, sizeof buf), 5);
    CHECK(memcmp(buf, "fresh", 5) == 0);
    CHECK_EQ(cio_stream_close(fresh), 0);
    cio_close(pend);
    cio_close(vpeer);
    cio_close(tsp[0]);
    cio_close(tsp[1]);
    cio_close(lfd);
    return NULL;
}

/* ---- unix sockets, pipes, names -------------------------------------------------------- */

static void *t_unix(void *arg)
{
    (void)arg;
    char path[64];
    snprintf(path, sizeof path, "/tmp/cio-test-stream-%d.sock", (int)getpid());
    unlink(path);
    int lfd = cio_socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strcpy(sun.sun_path, path);
    CHECK_EQ(bind(lfd, (struct sockaddr *)&sun, sizeof sun), 0);
    CHECK_EQ(listen(lfd, 4), 0);
    cio_stream *c = NULL, *sv = NULL;
    CHECK_EQ(cio_open_unix_connection(path, NULL, &c), 0);
    int fd = cio_sock_accept(lfd, NULL, NULL);
    CHECK_EQ(cio_stream_from_fd(fd, NULL, true, &sv), 0);
    CHECK(cio_stream_can_write_eof(c));
    CHECK_EQ(cio_stream_write(c, "over unix\n", 10), 0);
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readline(sv, &d, &n), 0);
    CHECK(n == 10 && memcmp(d, "over unix\n", 10) == 0);
    struct sockaddr_storage ss;
    socklen_t sl;
    CHECK_EQ(cio_stream_peername(c, &ss, &sl), 0);
    CHECK_EQ(ss.ss_family, AF_UNIX);
    CHECK(strcmp(((struct sockaddr_un *)&ss)->sun_path, path) == 0);
    CHECK_EQ(cio_stream_sockname(sv, &ss, &sl), 0);
    CHECK_EQ(ss.ss_family, AF_UNIX);
    CHECK_EQ(cio_stream_write_eof(c), 0);
    char *all;
    CHECK_EQ(cio_stream_read_all(sv, &all, &n), 0);
    CHECK_EQ(n, 0);
    free(all);
    CHECK_EQ(cio_stream_close(sv), 0);
    CHECK_EQ(cio_stream_close(c), 0);
    cio_close(lfd);
    unlink(path);
    return NULL;
}

static void *t_pipe(void *arg)
{
    (void)arg;
    int p[2];
    CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    cio_stream *r, *w;
    CHECK_EQ(cio_stream_from_fd(p[0], NULL, false, &r), 0);
    CHECK_EQ(cio_stream_from_fd(p[1], NULL, false, &w), 0);
    CHECK(!cio_stream_can_write_eof(w));
    CHECK_EQ(cio_stream_write(w, "through a pipe\n", 15), 0);
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_readline(r, &d, &n), 0);
    CHECK(n == 15);
    CHECK_EQ(cio_stream_close(w), 0);
    CHECK_EQ(cio_stream_read(r, (char[4]){0}, 4), 0);
    CHECK(cio_stream_at_eof(r));
    CHECK_EQ(cio_stream_close(r), 0);

    /* writing into a pipe whose reader has gone: -EPIPE, no SIGPIPE */
    CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    CHECK_EQ(cio_stream_from_fd(p[1], NULL, false, &w), 0);
    close(p[0]);
    CHECK_EQ(cio_stream_write(w, "x", 1), -EPIPE);
    CHECK_EQ(cio_stream_write(w, "x", 1), -EPIPE);
    CHECK_EQ(cio_stream_close(w), 0);
    /* the same with data buffered and flushed in the background */
    CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    CHECK_EQ(cio_stream_from_fd(p[1], NULL, false, &w), 0);
    char *big = calloc(1, 1 << 20);
    CHECK_EQ(cio_stream_write(w, big, 1 << 20), 0);
    CHECK(cio_stream_write_buffer_size(w) > 0);
    close(p[0]);
    cio_sleep(0.01);
    CHECK_EQ(cio_stream_drain(w), -EPIPE);
    cio_stream_abort(w);
    free(big);
    sigset_t pend;
    sigpending(&pend);
    CHECK(!sigismember(&pend, SIGPIPE));
    return NULL;
}

static void *t_names(void *arg)
{
    (void)arg;
    int port;
    int lfd = tcp_listener(4, &port);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    cio_stream *c;
    CHECK_EQ(cio_open_connection("127.0.0.1", ps, NULL, &c), 0);
    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    int fd = cio_sock_accept(lfd, (struct sockaddr *)&peer, &pl);
    struct sockaddr_storage ss;
    socklen_t sl;
    CHECK_EQ(cio_stream_peername(c, &ss, &sl), 0);
    CHECK_EQ(ss.ss_family, AF_INET);
    CHECK_EQ(ntohs(((struct sockaddr_in *)&ss)->sin_port), port);
    CHECK_EQ(((struct sockaddr_in *)&ss)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    CHECK_EQ(cio_stream_sockname(c, &ss, &sl), 0);
    CHECK_EQ(ss.ss_family, AF_INET);
    CHECK_EQ(((struct sockaddr_in *)&ss)->sin_port, peer.sin_port);
    CHECK(cio_stream_fd(c) >= 0);
    CHECK(cio_stream_tls_version(c) == NULL);
    CHECK(cio_stream_tls_alpn(c) == NULL);
    char subj[64];
    CHECK(cio_stream_tls_peer_subject(c, subj, sizeof subj) < 0);
    CHECK_EQ(cio_stream_close(c), 0);
    cio_close(fd);
    cio_close(lfd);
    return NULL;
}

/* ---- main ------------------------------------------------------------------------------ */

/* ---- one reader at a time ----------------------------------------------------- */

/* A second task reading while one is parked in a read gets -EBUSY at once
 * and nothing is taken from the first (on io_uring its RECV is in flight
 * in the buffer both would share); the first gets the data; the pinned
 * writer, meanwhile, is not affected. */
static void *t_one_reader(void *arg)
{
    (void)arg;
    cio_stream *s;
    int p;
    make_pair(NULL, &s, NULL, NULL, &p);
    op_ctx a = {.s = s, .op = OP_READ};
    cio_task *t = cio_spawn(op_task, &a);
    cio_sleep(0.02);
    CHECK(!cio_done(t));
    char b[8];
    const char *d;
    size_t n;
    CHECK_EQ(cio_stream_read(s, b, sizeof b), -EBUSY);
    CHECK_EQ(cio_stream_readline(s, &d, &n), -EBUSY);
    CHECK_EQ(cio_stream_write(s, "w", 1), 0);
    CHECK_EQ(cio_sock_recv(p, b, 1), 1);
    CHECK_EQ(cio_sock_sendall(p, "data", 4), 0);
    CHECK_EQ(cio_await(t, NULL), 0);
    cio_release(t);
    CHECK_EQ(a.rc, 4);
    CHECK(memcmp(a.buf, "data", 4) == 0);
    /* and reading works again afterwards */
    CHECK_EQ(cio_sock_sendall(p, "more\n", 5), 0);
    CHECK_EQ(cio_stream_readline(s, &d, &n), 0);
    CHECK(n == 5 && memcmp(d, "more\n", 5) == 0);
    CHECK_EQ(cio_stream_close(s), 0);
    cio_close(p);
    return NULL;
}

static void run_all(void)
{
    RUN_TASK_TEST(t_read_api);
    RUN_TASK_TEST(t_readexactly);
    RUN_TASK_TEST(t_readuntil_eof);
    RUN_TASK_TEST(t_limit);
    RUN_TASK_TEST(t_limit_at_separator_start);
    RUN_TASK_TEST(t_multi_sep_shortest);
    RUN_TASK_TEST(t_at_eof_known);
    RUN_TASK_TEST(t_fresh_stream_eof);
    RUN_TASK_TEST(t_write_drain);
    RUN_TASK_TEST(t_backpressure);
    RUN_TASK_TEST(t_half_close);
    RUN_TASK_TEST(t_close_flushes);
    RUN_TASK_TEST(t_abort);
    RUN_TASK_TEST(t_cancel_every_call);
    RUN_TASK_TEST(t_open_connection);
    RUN_TASK_TEST(t_closed_while_parked);
    RUN_TASK_TEST(t_fd_reuse_same_iteration);
    RUN_TASK_TEST(t_unix);
    RUN_TASK_TEST(t_pipe);
    RUN_TASK_TEST(t_names);
    RUN_TASK_TEST(t_one_reader);
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test */
    int rc = check_on_backend(run_all, &backend);
    if (rc)
        return rc;
    struct sigaction sa;
    sigaction(SIGPIPE, NULL, &sa);
    CHECK(sa.sa_handler == SIG_DFL);
    return check_exit();
}
