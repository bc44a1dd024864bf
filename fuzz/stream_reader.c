/* SPDX-License-Identifier: MIT */
/* Fuzz target: cio's stream reader (read, readexactly, readuntil with 1-3
 * separators, readline, at_eof, read_all) against a model of the byte
 * stream, fed in chunks through a standalone reader (feed_data) or a real
 * unix socketpair stream.
 *
 * Input layout (bytes past the end read as 0):
 *   [0] limit: 1..40, or a power of two up to 2^31 from 224 on
 *   [1] flags: bit 0 socketpair, bits 1-2 separators - 1 (at most 3),
 *       bit 3 payload mapped onto "ab\n\r" (so separators match often)
 *   [2] operations (1..32)   [3] chunk sizes (0..7; 0: one chunk)
 *   operation byte: low 3 bits the call (read, readexactly, readuntil with
 *   all separators, with the first, readline, at_eof, yield / cancelled
 *   read / set_error, read_all), high 5 bits its argument
 *   then each separator as a length byte (1..4) and its bytes (mapped onto
 *   "ab\n\r"), the operation bytes, the chunk size bytes (1..256), and the
 *   rest is the payload.
 *
 * A feeder task writes the payload chunk by chunk, yielding between chunks,
 * then EOF; the main task runs the operations and checks each result
 * against the model: every byte is returned once, in order, the buffer
 * always holds the next bytes of the stream, IncompleteRead and LimitOverrun
 * come exactly when asyncio's rules say (the overrun's `consumed` within
 * what the chunking allows), at_eof is true exactly at the end once the
 * feeder is done.  A fresh loop per input; nothing may leak. */
#include <cio.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FZ_CHECK(cond)                                                                               \
    do {                                                                                             \
        if (!(cond)) {                                                                               \
            fprintf(stderr, "stream_reader: %s:%d: %s\n", __FILE__, __LINE__, #cond);                \
            abort();                                                                                 \
        }                                                                                            \
    } while (0)

enum { MAX_SEPS = 3, MAX_OPS = 32, MAX_CHUNKS = 7 };

typedef struct fz {
    /* the input, decoded */
    size_t limit;
    bool sock, mapped;
    char seps[MAX_SEPS][5];
    const char *sepv[MAX_SEPS];
    size_t nseps, maxsep;
    uint8_t ops[MAX_OPS];
    size_t nops;
    size_t chunks[MAX_CHUNKS], nchunks;
    uint8_t *payload;
    size_t plen;
    /* the run */
    cio_stream *s;
    int peer; /* the socketpair's other end, -1 for a standalone reader */
    bool fed_all;
    size_t pos;      /* the model: bytes of the payload consumed so far */
    int err;         /* set with cio_stream_set_error */
    bool cancelling; /* the read runs in a task that gets cancelled */
} fz;

typedef struct cursor {
    const uint8_t *p;
    size_t n, at;
} cursor;

static uint8_t next(cursor *c) { return c->at < c->n ? c->p[c->at++] : 0; }

static char map(uint8_t b) { return "ab\n\r"[b & 3]; }

static void decode(fz *z, const uint8_t *data, size_t size)
{
    cursor c = {data, size, 0};
    uint8_t l = next(&c), flags = next(&c);
    z->limit = l < 224 ? 1u + l % 40 : (size_t)1 << (l - 224 > 31 ? 31 : l - 224);
    z->sock = flags & 1;
    z->mapped = flags & 8;
    z->nseps = 1 + (flags >> 1) % 3;
    z->nops = 1 + next(&c) % MAX_OPS;
    z->nchunks = next(&c) % (MAX_CHUNKS + 1);
    for (size_t i = 0; i < z->nseps; i++) {
        size_t len = 1 + next(&c) % 4;
        for (size_t j = 0; j < len; j++)
            z->seps[i][j] = map(next(&c));
        z->seps[i][len] = '\0';
        z->sepv[i] = z->seps[i];
        if (len > z->maxsep)
            z->maxsep = len;
    }
    for (size_t i = 0; i < z->nops; i++)
        z->ops[i] = next(&c);
    for (size_t i = 0; i < z->nchunks; i++)
        z->chunks[i] = 1 + (size_t)next(&c);
    z->plen = c.at < size ? size - c.at : 0;
    z->payload = malloc(z->plen ? z->plen : 1);
    for (size_t i = 0; i < z->plen; i++)
        z->payload[i] = z->mapped ? (uint8_t)map(data[c.at + i]) : data[c.at + i];
}

/* ---- the feeder ---------------------------------------------------------- */

static void *feeder(void *arg)
{
    fz *z = arg;
    size_t off = 0, ci = 0;
    while (off < z->plen) {
        size_t k = z->nchunks ? z->chunks[ci++ % z->nchunks] : z->plen;
        if (k > z->plen - off)
            k = z->plen - off;
        int rc = z->peer >= 0 ? cio_sock_sendall(z->peer, z->payload + off, k)
                              : cio_stream_feed_data(z->s, z->payload + off, k);
        if (rc < 0)
            return NULL; /* cancelled (the reader stopped early) */
        off += k;
        if (cio_yield() < 0)
            return NULL;
    }
    if (z->peer >= 0)
        shutdown(z->peer, SHUT_WR);
    else
        FZ_CHECK(cio_stream_feed_eof(z->s) == 0);
    z->fed_all = true;
    return NULL;
}

/* ---- the model ----------------------------------------------------------- */

static const uint8_t *rest(const fz *z) { return z->payload + z->pos; }
static size_t rest_len(const fz *z) { return z->plen - z->pos; }

/* The buffer always holds the stream's next bytes. */
static void check_buffer(const fz *z)
{
    size_t n;
    const char *p = cio_stream_peek(z->s, &n);
    FZ_CHECK(n <= rest_len(z));
    FZ_CHECK(n == 0 || memcmp(p, rest(z), n) == 0);
}

/* asyncio's match in the rest of the stream: the first-ending occurrence of
 * any separator, the shorter one at equal ends. */
static bool model_match(const fz *z, const char *const *seps, size_t nseps, size_t *start, size_t *end)
{
    const uint8_t *r = rest(z);
    size_t n = rest_len(z);
    for (size_t e = 1; e <= n; e++) {
        size_t best = 0;
        for (size_t i = 0; i < nseps; i++) {
            size_t sl = strlen(seps[i]);
            if (sl <= e && memcmp(r + e - sl, seps[i], sl) == 0 && (!best || sl < best))
                best = sl;
        }
        if (best) {
            *start = e - best;
            *end = e;
            return true;
        }
    }
    return false;
}

static void op_read(fz *z, size_t n)
{
    uint8_t *buf = malloc(n);
    ssize_t r = cio_stream_read(z->s, buf, n);
    if (r == -ECANCELED && z->cancelling) {
        /* nothing taken */
    } else if (rest_len(z) == 0) {
        FZ_CHECK(r == 0);
    } else {
        FZ_CHECK(r >= 1 && (size_t)r <= n && (size_t)r <= rest_len(z));
        FZ_CHECK(memcmp(buf, rest(z), (size_t)r) == 0);
        z->pos += (size_t)r;
    }
    free(buf);
}

static void op_readexactly(fz *z, size_t n)
{
    uint8_t *buf = malloc(n ? n : 1);
    size_t got = SIZE_MAX;
    int rc = cio_stream_readexactly(z->s, buf, n, &got);
    if (rc == -ECANCELED && z->cancelling) {
        FZ_CHECK(got < n); /* what came is in buf, consumed */
    } else if (rest_len(z) >= n) {
        FZ_CHECK(rc == 0 && got == n);
    } else {
        FZ_CHECK(rc == CIO_EINCOMPLETE && got == rest_len(z));
    }
    FZ_CHECK(got == 0 || memcmp(buf, rest(z), got) == 0);
    z->pos += got;
    free(buf);
}

static size_t maxlen(const char *const *seps, size_t nseps)
{
    size_t m = 0;
    for (size_t i = 0; i < nseps; i++)
        if (strlen(seps[i]) > m)
            m = strlen(seps[i]);
    return m;
}

/* An overrun consumes nothing; `consumed` is where the match starts, or the
 * bytes searched without one (buffered + 1 - longest separator, for some
 * buffered count the chunking produced). */
static void check_overrun(const fz *z, const char *d, size_t consumed, bool found, size_t start, size_t maxsep)
{
    FZ_CHECK(consumed > z->limit);
    if (found)
        FZ_CHECK(consumed <= start);
    else
        FZ_CHECK(consumed + maxsep - 1 <= rest_len(z));
    size_t n;
    const char *p = cio_stream_peek(z->s, &n);
    FZ_CHECK(p == d && n >= consumed);
}

static void op_readuntil(fz *z, size_t nseps)
{
    const char *d;
    size_t len, start = 0, end = 0, maxsep = maxlen(z->sepv, nseps);
    bool found = model_match(z, z->sepv, nseps, &start, &end);
    int rc = cio_stream_readuntil(z->s, z->sepv, nseps, &d, &len);
    if (rc == -ECANCELED && z->cancelling) {
        FZ_CHECK(len == 0); /* nothing consumed */
    } else if (found && start <= z->limit) {
        FZ_CHECK(rc == 0 && len == end && memcmp(d, rest(z), len) == 0);
        z->pos += len;
    } else if (found || rest_len(z) >= z->limit + maxsep) {
        FZ_CHECK(rc == CIO_ELIMITOVERRUN);
        check_overrun(z, d, len, found, start, maxsep);
    } else {
        FZ_CHECK(rc == CIO_EINCOMPLETE && len == rest_len(z));
        FZ_CHECK(len == 0 || memcmp(d, rest(z), len) == 0);
        z->pos += len;
    }
}

static void op_readline(fz *z)
{
    static const char *const nl[] = {"\n"};
    const char *d;
    size_t len, start = 0, end = 0;
    bool found = model_match(z, nl, 1, &start, &end);
    int rc = cio_stream_readline(z->s, &d, &len);
    if (rc == -ECANCELED && z->cancelling) {
        FZ_CHECK(len == 0);
    } else if (found && start <= z->limit) {
        FZ_CHECK(rc == 0 && len == end && memcmp(d, rest(z), len) == 0);
    } else if (found || rest_len(z) > z->limit) {
        /* dropped: through the newline if it was buffered, else the
         * newline-free bytes buffered (more than the limit) */
        FZ_CHECK(rc == CIO_ELIMITOVERRUN);
        FZ_CHECK(len > z->limit && len <= rest_len(z));
        FZ_CHECK(memchr(rest(z), '\n', len - 1) == NULL);
        FZ_CHECK(rest(z)[len - 1] != '\n' || len == end);
    } else {
        FZ_CHECK(rc == 0 && len == rest_len(z)); /* the last line, unterminated */
        FZ_CHECK(len == 0 || memcmp(d, rest(z), len) == 0);
    }
    z->pos += len;
}

static void op_read_all(fz *z)
{
    char *all;
    size_t len;
    FZ_CHECK(cio_stream_read_all(z->s, &all, &len) == 0);
    FZ_CHECK(len == rest_len(z) && (len == 0 || memcmp(all, rest(z), len) == 0));
    z->pos += len;
    free(all);
}

/* After set_error every read call returns the error. */
static void check_error_sticks(fz *z)
{
    char b[4];
    const char *d;
    size_t n;
    FZ_CHECK(cio_stream_read(z->s, b, sizeof b) == z->err);
    FZ_CHECK(cio_stream_readexactly(z->s, b, 1, NULL) == z->err);
    FZ_CHECK(cio_stream_readline(z->s, &d, &n) == z->err);
    FZ_CHECK(cio_stream_readuntil(z->s, z->sepv, z->nseps, &d, &n) == z->err);
}

static size_t size_of(uint8_t arg)
{
    static const size_t big[] = {100, 1000, 4096, 20000};
    return arg < 28 ? 1 + (size_t)arg : big[arg - 28];
}

typedef struct cancelled_op {
    fz *z;
    uint8_t op;
} cancelled_op;

static bool run_op(fz *z, uint8_t op);

static void *cancelled_task(void *arg)
{
    cancelled_op *c = arg;
    run_op(c->z, c->op);
    return NULL;
}

/* A read (read, readexactly, readuntil, readline by kind) in a task of its
 * own, cancelled after `yields` loop iterations: it either finished (the
 * usual checks) or returned -ECANCELED having consumed nothing (readexactly:
 * the bytes it reports). */
static void op_cancelled(fz *z, unsigned kind, unsigned yields)
{
    static const uint8_t ops[] = {0 | 7 << 3, 1 | 9 << 3, 2, 4};
    cancelled_op c = {z, ops[kind]};
    z->cancelling = true;
    cio_task *t = cio_spawn(cancelled_task, &c);
    FZ_CHECK(t != NULL);
    for (unsigned i = 0; i < yields; i++)
        cio_yield();
    cio_cancel(t, NULL);
    cio_await(t, NULL);
    cio_release(t);
    z->cancelling = false;
}

/* One operation; false when reading is over. */
static bool run_op(fz *z, uint8_t op)
{
    uint8_t arg = op >> 3;
    switch (op & 7) {
    case 0: op_read(z, size_of(arg)); break;
    case 1: op_readexactly(z, arg == 31 ? 0 : size_of(arg)); break;
    case 2: op_readuntil(z, z->nseps); break;
    case 3: op_readuntil(z, 1); break;
    case 4: op_readline(z); break;
    case 5:
        if (cio_stream_at_eof(z->s))
            FZ_CHECK(rest_len(z) == 0);
        else
            FZ_CHECK(rest_len(z) > 0 || !z->fed_all);
        break;
    case 6:
        if (arg >= 16 && arg < 31) {
            op_cancelled(z, arg & 3, (arg >> 2) & 3);
            break;
        }
        if (arg == 31) {
            z->err = -EPROTO;
            FZ_CHECK(cio_stream_set_error(z->s, z->err) == 0);
            FZ_CHECK(cio_stream_exception(z->s) == z->err);
            check_error_sticks(z);
            return false;
        }
        cio_yield();
        break;
    default: op_read_all(z); return false;
    }
    check_buffer(z);
    return true;
}

static void *reader(void *arg)
{
    fz *z = arg;
    z->peer = -1;
    if (z->sock) {
        int sv[2];
        FZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
        cio_stream_opts o = {.limit = z->limit};
        FZ_CHECK(cio_stream_from_fd(sv[0], &o, false, &z->s) == 0);
        z->peer = sv[1];
    } else {
        z->s = cio_stream_new_reader(z->limit);
        FZ_CHECK(z->s != NULL);
    }
    cio_task *f = cio_spawn(feeder, z);
    FZ_CHECK(f != NULL);
    bool more = true;
    for (size_t i = 0; i < z->nops && more; i++)
        more = run_op(z, z->ops[i]);
    if (more)
        op_read_all(z); /* the rest of the stream, and the feeder can finish */
    if (z->err)
        cio_cancel(f, NULL);
    cio_await(f, NULL);
    cio_release(f);
    if (!z->err) {
        FZ_CHECK(z->pos == z->plen);
        FZ_CHECK(cio_stream_at_eof(z->s));
    }
    FZ_CHECK(cio_stream_close(z->s) == 0);
    if (z->peer >= 0)
        close(z->peer);
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz z = {0};
    decode(&z, data, size);
    cio_loop *loop = cio_loop_new();
    FZ_CHECK(loop != NULL);
    cio_loop_set_current(loop);
    cio_task *t = cio_spawn_ex(loop, reader, &z, NULL);
    FZ_CHECK(t != NULL);
    FZ_CHECK(cio_loop_run_until_complete(loop, t, NULL) == 0);
    cio_release(t);
    FZ_CHECK(cio_loop_close(loop) == 0);
    free(z.payload);
    return 0;
}
