/* SPDX-License-Identifier: MIT */
/* The limits of docs/limits.md, each at its boundary (limit - 1, limit,
 * limit + 1), on real sockets (loopback TCP; kernel buffers pinned small
 * where a writer must block):
 *
 *   streams   read limit (readuntil / readline: CIO_ELIMITOVERRUN), the
 *             write high-water mark (drain; write_blocks), readexactly and
 *             read_all sizes (not bound by the limit)
 *   servers   backlog (the kernel queues backlog + 1), running out of fds
 *             (EMFILE: accepting pauses, resumes when one is free; in a
 *             forked child with a low RLIMIT_NOFILE)
 *   tasks     stack size classes (16 KiB .. 8 MiB, above: own mapping), the
 *             stack overflow guard (in a forked child), the burst that arms
 *             the reclaim pass, the free stacks and pooled task records an
 *             idle loop keeps
 *   loops     fd table chunks (fds 255 / 256 / 257), timer delays (huge:
 *             clamped; never early)
 *   executors max_workers (the next job waits for a free worker)
 *
 * Exit 0 = pass. */
/* CIO_TEST: TIMEOUT=300 */
#include "check.h"
#include "lib/echo.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------ */

static int listener(int backlog, int rcvbuf, struct sockaddr_in *a)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    socklen_t al = sizeof *a;
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (rcvbuf) /* before listen: the accepted socket inherits it, window included */
        CHECK_EQ(setsockopt(l, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    CHECK_EQ(bind(l, (struct sockaddr *)a, sizeof *a), 0);
    CHECK_EQ(listen(l, backlog), 0);
    CHECK_EQ(getsockname(l, (struct sockaddr *)a, &al), 0);
    return l;
}

/* A connected loopback TCP pair of non-blocking fds; with small set, the
 * writer's send and the reader's receive buffers are pinned small. */
static void tcp_pair(int *writer, int *reader, bool small)
{
    struct sockaddr_in a;
    int l = listener(4, small ? 4096 : 0, &a);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (small) {
        int v = 4096;
        CHECK_EQ(setsockopt(c, SOL_SOCKET, SO_SNDBUF, &v, sizeof v), 0);
    }
    CHECK_EQ(connect(c, (struct sockaddr *)&a, sizeof a), 0); /* loopback: completes before accept */
    int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    CHECK(s >= 0);
    close(l);
    fcntl(c, F_SETFL, O_NONBLOCK);
    fcntl(s, F_SETFL, O_NONBLOCK);
    *writer = c;
    *reader = s;
}

static cio_stream *stream_of(int fd, const cio_stream_opts *o)
{
    cio_stream *s = NULL;
    CHECK_EQ(cio_stream_from_fd(fd, o, false, &s), 0);
    return s;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EAGAIN) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            poll(&pf, 1, 1000);
            continue;
        }
        CHECK(w > 0);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* ---- streams: the read limit -------------------------------------------- */

/* readuntil on a chunk of n bytes ending in the separator, limit L. */
static int readuntil_chunk(size_t limit, size_t n, size_t *len)
{
    int w, r;
    tcp_pair(&w, &r, false);
    cio_stream *s = stream_of(r, &(cio_stream_opts){.limit = limit});
    char *buf = malloc(n);
    memset(buf, 'a', n - 1);
    buf[n - 1] = '\n';
    send_all(w, buf, n);
    free(buf);
    static const char *const nl[] = {"\n"};
    const char *d;
    int rc = cio_stream_readuntil(s, nl, 1, &d, len);
    cio_stream_abort(s);
    close(w);
    return rc;
}

static void *t_read_limit(void *arg)
{
    (void)arg;
    size_t len;
    /* the default, 64 KiB, measured where the separator starts (asyncio):
     * a separator starting at offset limit-1 or limit is found, one starting
     * at limit+1 is an overrun, which consumes nothing and reports that
     * offset (asyncio's `consumed`) */
    CHECK_EQ(readuntil_chunk(0, 65536, &len), 0);
    CHECK_EQ(len, 65536);
    CHECK_EQ(readuntil_chunk(0, 65537, &len), 0);
    CHECK_EQ(len, 65537);
    CHECK_EQ(readuntil_chunk(0, 65538, &len), CIO_ELIMITOVERRUN);
    CHECK_EQ(len, 65537);
    /* a limit of 1000 */
    CHECK_EQ(readuntil_chunk(1000, 1000, &len), 0);
    CHECK_EQ(readuntil_chunk(1000, 1001, &len), 0);
    CHECK_EQ(readuntil_chunk(1000, 1002, &len), CIO_ELIMITOVERRUN);
    CHECK_EQ(len, 1001);
    /* no separator yet: more than the limit buffered is an overrun; exactly
     * the limit keeps waiting (here: EOF then gives the partial chunk) */
    for (size_t n = 999; n <= 1001; n++) {
        int w, r;
        tcp_pair(&w, &r, false);
        cio_stream *s = stream_of(r, &(cio_stream_opts){.limit = 1000});
        char buf[1001];
        memset(buf, 'b', sizeof buf);
        send_all(w, buf, n);
        shutdown(w, SHUT_WR);
        static const char *const nl[] = {"\n"};
        const char *d;
        int rc = cio_stream_readuntil(s, nl, 1, &d, &len);
        CHECK_EQ(rc, n > 1000 ? CIO_ELIMITOVERRUN : CIO_EINCOMPLETE);
        CHECK_EQ(len, n);
        cio_stream_abort(s);
        close(w);
    }
    /* readline: an overlong line is dropped, reading goes on */
    int w, r;
    tcp_pair(&w, &r, false);
    cio_stream *s = stream_of(r, &(cio_stream_opts){.limit = 1000});
    char line[1002];
    memset(line, 'c', 1001);
    line[1001] = '\n';
    send_all(w, line, 1002);
    send_all(w, "next\n", 5);
    const char *d;
    CHECK_EQ(cio_stream_readline(s, &d, &len), CIO_ELIMITOVERRUN);
    CHECK_EQ(cio_stream_readline(s, &d, &len), 0);
    CHECK(len == 5 && memcmp(d, "next\n", 5) == 0);
    cio_stream_abort(s);
    close(w);
    return NULL;
}

/* Writes n bytes of a then closes the stream (FIN), from a task of its own
 * (n is more than the kernel buffers hold). */
typedef struct wjob {
    cio_stream *s;
    const char *p;
    size_t n;
} wjob;

static void *write_close(void *arg)
{
    wjob *j = arg;
    CHECK_EQ(cio_stream_write(j->s, j->p, j->n), 0);
    CHECK_EQ(cio_stream_close(j->s), 0);
    return NULL;
}

/* readexactly and read_all are not bound by the read limit. */
static void *t_read_sizes(void *arg)
{
    (void)arg;
    const size_t n = 1 << 20;
    char *buf = malloc(n), *out = malloc(n + 1);
    memset(buf, 'd', n);
    for (size_t want = n - 1; want <= n + 1; want++) {
        int w, r;
        tcp_pair(&w, &r, false);
        cio_stream *s = stream_of(r, &(cio_stream_opts){.limit = 1000});
        wjob j = {stream_of(w, NULL), buf, n};
        cio_task *wt = cio_spawn(write_close, &j);
        size_t got = 0;
        int rc = cio_stream_readexactly(s, out, want, &got);
        CHECK_EQ(rc, want <= n ? 0 : CIO_EINCOMPLETE);
        CHECK_EQ(got, want <= n ? want : n); /* the partial bytes */
        CHECK_EQ(cio_await(wt, NULL), 0);
        cio_release(wt);
        cio_stream_abort(s);
    }
    int w, r;
    tcp_pair(&w, &r, false);
    cio_stream *s = stream_of(r, &(cio_stream_opts){.limit = 1000});
    wjob j = {stream_of(w, NULL), buf, n};
    cio_task *wt = cio_spawn(write_close, &j);
    char *all = NULL;
    size_t len = 0;
    CHECK_EQ(cio_stream_read_all(s, &all, &len), 0);
    CHECK_EQ(len, n);
    free(all);
    CHECK_EQ(cio_await(wt, NULL), 0);
    cio_release(wt);
    cio_stream_abort(s);
    free(buf);
    free(out);
    return NULL;
}

/* ---- streams: the write high-water mark --------------------------------- */

/* Sends until the kernel takes nothing more (the peer does not read). */
static void fill_kernel(int fd)
{
    char b[1024];
    memset(b, 'f', sizeof b);
    struct pollfd pf = {.fd = fd, .events = POLLOUT};
    do {
        while (send(fd, b, sizeof b, MSG_NOSIGNAL | MSG_DONTWAIT) > 0 ||
               send(fd, b, 1, MSG_NOSIGNAL | MSG_DONTWAIT) > 0) {
        }
    } while (poll(&pf, 1, 50) == 1);
}

/* Reads everything the peer sends until task t is done. */
static void read_until_done(int fd, cio_task *t)
{
    char b[4096];
    for (int i = 0; i < 10000 && !cio_done(t); i++) {
        while (recv(fd, b, sizeof b, MSG_DONTWAIT) > 0) {
        }
        cio_sleep(0.001);
    }
}

static void *drain_task(void *arg) { return (void *)(intptr_t)cio_stream_drain(arg); }

typedef struct wb {
    cio_stream *s;
    size_t n;
} wb;
static void *write_task(void *arg)
{
    wb *j = arg;
    static char bytes[16];
    return (void *)(intptr_t)cio_stream_write(j->s, bytes, j->n);
}

/* The kernel may still take a couple of KiB after a full buffer frees up
 * (window updates): far less than HIGH - LOW, so a paused writer stays
 * paused until the peer reads. */
enum { HIGH = 16384, LOW = 1024 };

/* Leaves exactly k bytes in the stream's own buffer, once the kernel has
 * stopped taking any (it may still take a little after it first refused,
 * and on io_uring a SEND in flight takes what it can): tops the buffer up
 * to k and lets the loop run until it stays there. */
static void buffer_exactly(cio_stream *s, size_t k)
{
    static char bytes[HIGH + 1];
    for (int i = 0; i < 100; i++) {
        size_t have = cio_stream_write_buffer_size(s);
        if (have < k)
            CHECK_EQ(cio_stream_write(s, bytes, k - have), 0);
        cio_sleep(0.02);
        if (cio_stream_write_buffer_size(s) == k)
            break;
    }
    CHECK_EQ(cio_stream_write_buffer_size(s), k);
}

/* A stream whose kernel buffers are full: everything written stays in its
 * own buffer. */
static cio_stream *blocked_writer(int *reader, bool write_blocks)
{
    int w;
    tcp_pair(&w, reader, true);
    fill_kernel(w);
    return stream_of(w, &(cio_stream_opts){.high_water = HIGH, .low_water = LOW, .write_blocks = write_blocks});
}

/* With k bytes buffered (write_blocks: k - 1, and t writes the last one),
 * task t (a drain or that write) ends at once up to the mark; past it, it
 * waits until the peer reads. */
static void check_pauses(cio_stream *s, int r, cio_task *t, size_t k)
{
    cio_yield();
    cio_yield();
    if (k <= HIGH) {
        CHECK(cio_done(t));
        CHECK_EQ(cio_stream_write_buffer_size(s), k);
    } else {
        cio_sleep(0.05); /* ordering only: nothing reads, it cannot end */
        CHECK(!cio_done(t));
        read_until_done(r, t);
        CHECK(cio_stream_write_buffer_size(s) <= LOW);
    }
    void *res = (void *)1;
    CHECK_EQ(cio_await(t, &res), 0);
    CHECK(res == NULL);
    cio_release(t);
    cio_stream_abort(s);
    close(r);
}

static void *t_high_water(void *arg)
{
    (void)arg;
    for (size_t k = HIGH - 1; k <= HIGH + 1; k++) {
        int r;
        cio_stream *s = blocked_writer(&r, false);
        buffer_exactly(s, k); /* write never suspends without write_blocks */
        check_pauses(s, r, cio_spawn(drain_task, s), k);
    }
    /* write_blocks: the write that takes the buffer past the mark suspends */
    for (size_t k = HIGH - 1; k <= HIGH + 1; k++) {
        int r;
        cio_stream *s = blocked_writer(&r, true);
        buffer_exactly(s, k - 1);
        wb j = {s, 1};
        check_pauses(s, r, cio_spawn(write_task, &j), k);
    }
    return NULL;
}

/* ---- servers: backlog ---------------------------------------------------- */

static int handled;
static void *count_conn(cio_stream *s, void *arg)
{
    (void)s;
    (void)arg;
    handled++;
    return NULL;
}

static bool connected_within(int fd, int ms)
{
    struct pollfd pf = {.fd = fd, .events = POLLOUT};
    int err = 0;
    socklen_t el = sizeof err;
    return poll(&pf, 1, ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0;
}

/* Linux queues backlog + 1 connections nobody accepted yet; the next SYN is
 * dropped (the client retries) until the server accepts.  The loop does not
 * run between start and the connects, so nothing accepts meanwhile. */
static void *t_backlog(void *arg)
{
    (void)arg;
    enum { BACKLOG = 2 };
    cio_server *srv = NULL;
    handled = 0;
    CHECK_EQ(cio_start_server(count_conn, NULL, "127.0.0.1", "0", &(cio_server_opts){.backlog = BACKLOG}, &srv), 0);
    if (!srv)
        return NULL;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cio_server_port(srv))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int c[BACKLOG + 2];
    for (int i = 0; i < BACKLOG + 2; i++) {
        c[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        CHECK(connect(c[i], (struct sockaddr *)&a, sizeof a) == 0 || errno == EINPROGRESS);
    }
    for (int i = 0; i < BACKLOG + 1; i++) /* backlog - 1, backlog, backlog + 1 */
        CHECK(connected_within(c[i], 5000));
    CHECK(!connected_within(c[BACKLOG + 1], 200)); /* its SYN was dropped */
    /* once the loop runs, the server accepts them all (the last one at its
     * SYN's retransmission) */
    for (int i = 0; i < 1500 && handled < BACKLOG + 2; i++)
        cio_sleep(0.01);
    CHECK_EQ(handled, BACKLOG + 2);
    for (int i = 0; i < BACKLOG + 2; i++)
        close(c[i]);
    cio_server_close(srv);
    CHECK_EQ(cio_server_wait_closed(srv), 0);
    cio_server_free(srv);
    return NULL;
}

/* ---- servers: out of fds ------------------------------------------------- */

static void *echo_handler(cio_stream *s, void *arg)
{
    (void)arg;
    echo_lines(s, NULL);
    return NULL;
}

enum { FD_ROOM = 3 }; /* connections the child's server has fds for */
static int emfile_pipe;

static void *emfile_server(void *arg)
{
    (void)arg;
    cio_server *srv = NULL;
    if (cio_start_server(echo_handler, NULL, "127.0.0.1", "0", NULL, &srv) < 0)
        return NULL;
    int port = cio_server_port(srv);
    if (write(emfile_pipe, &port, sizeof port) != sizeof port)
        return NULL;
    close(emfile_pipe);
    /* room for exactly FD_ROOM more fds: holes below the highest open fd
     * are plugged (new fds take the lowest free number) */
    int top = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            top = fd;
    for (int fd = 0; fd < top; fd++)
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDONLY | O_CLOEXEC) < 0)
            return NULL;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = (rlim_t)top + 1 + FD_ROOM;
    setrlimit(RLIMIT_NOFILE, &rl);
    cio_server_serve_forever(srv);
    return NULL;
}

static bool echoed_within(int fd, int ms)
{
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    char b[8];
    return poll(&pf, 1, ms) == 1 && recv(fd, b, sizeof b, 0) == 2;
}

static void t_emfile(void)
{
    check_current = "emfile";
    int fails = check_failures;
    int p[2];
    CHECK_EQ(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        emfile_pipe = p[1];
        alarm(60);
        cio_run(emfile_server, NULL, NULL);
        _exit(0);
    }
    close(p[1]);
    int port = 0;
    CHECK_EQ(read(p[0], &port, sizeof port), (ssize_t)sizeof port);
    close(p[0]);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int c[FD_ROOM + 1];
    for (int i = 0; i < FD_ROOM + 1; i++) {
        c[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK_EQ(connect(c[i], (struct sockaddr *)&a, sizeof a), 0); /* the backlog takes it */
        CHECK_EQ(send(c[i], "x\n", 2, MSG_NOSIGNAL), 2);
    }
    /* the limit - 1 and limit-th connections are served */
    for (int i = 0; i < FD_ROOM; i++)
        CHECK(echoed_within(c[i], 10000));
    /* limit + 1 waits: the server has no fd for it (and neither dies nor
     * drops it) */
    CHECK(!echoed_within(c[FD_ROOM], 300));
    close(c[0]); /* one fd comes free */
    CHECK(echoed_within(c[FD_ROOM], 10000));
    for (int i = 1; i < FD_ROOM + 1; i++)
        close(c[i]);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL); /* it was still serving */
    fprintf(stderr, "%s %s\n", check_failures == fails ? "ok  " : "FAIL", check_current);
}

/* ---- tasks: stacks ------------------------------------------------------- */

static void *my_stack_size(void *arg)
{
    (void)arg;
    return (void *)(uintptr_t)cio__task_of(cio_current_task())->stack.size;
}

static size_t stack_for(size_t want)
{
    cio_task *t = cio_spawn_ex(NULL, my_stack_size, NULL, &(cio_task_opts){.stack_size = want});
    void *res = NULL;
    CHECK_EQ(cio_await(t, &res), 0);
    cio_release(t);
    return (size_t)(uintptr_t)res;
}

static void *t_stack_sizes(void *arg)
{
    (void)arg;
    const size_t K = 1024, M = 1024 * K, page = (size_t)sysconf(_SC_PAGESIZE);
    CHECK_EQ(stack_for(0), 128 * K); /* the default */
    CHECK_EQ(stack_for(16 * K - 1), 16 * K); /* the smallest class */
    CHECK_EQ(stack_for(page), 16 * K);         /* a page or more: a guarded stack */
#if !defined(CIO__ASAN)
    CHECK_EQ(stack_for(1), 512);                /* below a page: compact (cio.h), at least 512 */
    CHECK_EQ(stack_for(page - 1), page);        /* rounded up to 256 bytes */
#endif
    CHECK_EQ(stack_for(32 * K - 1), 32 * K);
    CHECK_EQ(stack_for(32 * K), 32 * K);
    CHECK_EQ(stack_for(32 * K + 1), 64 * K);
    CHECK_EQ(stack_for(8 * M - 1), 8 * M); /* the largest class */
    CHECK_EQ(stack_for(8 * M), 8 * M);
    CHECK_EQ(stack_for(8 * M + 1), 8 * M + page); /* a mapping of its own, whole pages */
    cio_loop_set_stack_size(cio_loop_current(), 40 * K);
    CHECK_EQ(stack_for(0), 64 * K);
    cio_loop_set_stack_size(cio_loop_current(), 0);
    CHECK_EQ(stack_for(0), 128 * K);
    return NULL;
}

/* Touches n bytes of its stack, a page at a time from the top down. */
static __attribute__((noinline)) void touch_stack(size_t n)
{
    volatile char *buf = __builtin_alloca(n);
    for (size_t i = n; i > 0; i -= i >= 4096 ? 4096 : i)
        buf[i - 1] = 1;
    buf[0] = 1;
}

static void *use_stack(void *arg)
{
    touch_stack((size_t)(uintptr_t)arg);
    return NULL;
}

static size_t overflow_bytes;
static void overflow_child(void)
{
    cio_loop *l = cio_loop_new();
    cio_loop_set_current(l);
    cio_task *t = cio_spawn_ex(l, use_stack, (void *)(uintptr_t)overflow_bytes, &(cio_task_opts){.stack_size = 256 * 1024});
    cio_loop_run_until_complete(l, t, NULL);
    _exit(0);
}

/* A 256 KiB stack: 192 KiB of it are fine, 320 KiB hit the guard page and
 * end the process (SIGSEGV; SIGABRT with a report in debug mode or under a
 * sanitizer) instead of writing over a neighbour. */
static void t_stack_guard(void)
{
    check_current = "stack_guard";
    int fails = check_failures;
    size_t sizes[2] = {192 * 1024, 320 * 1024};
    for (int i = 0; i < 2; i++) {
        overflow_bytes = sizes[i];
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            struct rlimit rl = {0, 0};
            setrlimit(RLIMIT_CORE, &rl);
            int devnull = open("/dev/null", O_WRONLY);
            dup2(devnull, 2);
            alarm(20);
            overflow_child();
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (i == 0)
            CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        else
            CHECK(WIFSIGNALED(st) && (WTERMSIG(st) == SIGSEGV || WTERMSIG(st) == SIGABRT || WTERMSIG(st) == SIGBUS));
    }
    fprintf(stderr, "%s %s\n", check_failures == fails ? "ok  " : "FAIL", check_current);
}

/* ---- tasks: what a burst leaves behind ------------------------------------ */

static void *park(void *arg)
{
    cio_future *gate = arg;
    cio_await(gate, NULL);
    return NULL;
}

/* n tasks at once (each on a default stack), then all end. */
static void burst_of(int n)
{
    cio_future *gate = cio_future_new(NULL);
    cio_task **ts = malloc((size_t)n * sizeof *ts);
    for (int i = 0; i < n; i++)
        ts[i] = cio_spawn(park, gate);
    cio_yield(); /* every one takes its stack */
    cio_future_set_result(gate, NULL);
    for (int i = 0; i < n; i++) {
        cio_await(ts[i], NULL);
        cio_release(ts[i]);
    }
    free(ts);
    cio_release(gate);
}

static void wait_reclaimed(cio_loop *l)
{
    for (int i = 0; i < 1000 && l->stacks.reclaim_armed; i++)
        cio_sleep(0.01);
    CHECK(!l->stacks.reclaim_armed);
}

/* One burst of n tasks on a fresh loop, then idle until the reclaim passes
 * are over. */
typedef struct bres {
    int n;
    bool armed;   /* right after the burst */
    size_t nhot;  /* free stacks kept as they are (128 KiB class) */
    size_t nfree; /* pooled task records */
} bres;

static void *burst_main(void *arg)
{
    bres *b = arg;
    cio_loop *l = cio_loop_current();
    burst_of(b->n);
    b->armed = l->stacks.reclaim_armed;
    wait_reclaimed(l);
    b->nhot = l->stacks.classes[3].nhot;
    b->nfree = l->nfree_tasks;
    return NULL;
}

static bres burst_on_fresh_loop(int n)
{
    bres b = {.n = n};
    CHECK_EQ(cio_run(burst_main, &b, NULL), 0);
    return b;
}

/* The reclaim pass is armed once CIO__STACK_BURST tasks of a burst ended;
 * afterwards an idle loop keeps CIO__STACK_HOT_MAX free stacks per size
 * class as they are (the rest are trimmed) and CIO__TASKS_KEEP pooled task
 * records (the rest are freed). */
static void t_burst_leftovers(void)
{
    check_current = "burst_leftovers";
    int fails = check_failures;
    CHECK_EQ(CIO__STACK_MIN_CLASS << 3, CIO__STACK_DEFAULT); /* class 3 is the default */
    for (int n = CIO__STACK_BURST - 1; n <= CIO__STACK_BURST + 1; n++)
        CHECK_EQ(burst_on_fresh_loop(n).armed, n >= CIO__STACK_BURST);
    for (int n = CIO__STACK_HOT_MAX - 1; n <= CIO__STACK_HOT_MAX + 1; n++)
        CHECK_EQ(burst_on_fresh_loop(n).nhot, (size_t)(n < CIO__STACK_HOT_MAX ? n : CIO__STACK_HOT_MAX));
    for (int n = CIO__TASKS_KEEP - 1; n <= CIO__TASKS_KEEP + 1; n++)
        CHECK_EQ(burst_on_fresh_loop(n).nfree, (size_t)(n < CIO__TASKS_KEEP ? n : CIO__TASKS_KEEP));
    fprintf(stderr, "%s %s\n", check_failures == fails ? "ok  " : "FAIL", check_current);
}

/* ---- loops --------------------------------------------------------------- */

/* The fd table grows in chunks of CIO__FD_CHUNK: fds on either side of a
 * chunk boundary are watched alike. */
static void *t_fd_chunks(void *arg)
{
    (void)arg;
    int p[2];
    CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    CHECK_EQ(write(p[1], "z", 1), 1);
    for (int fd = CIO__FD_CHUNK - 1; fd <= CIO__FD_CHUNK + 1; fd++) {
        CHECK_EQ(dup2(p[0], fd), fd);
        CHECK_EQ(cio_wait_readable(fd), CIO_READABLE);
        cio_fd_forget(cio_loop_current(), fd);
        close(fd);
    }
    close(p[0]);
    close(p[1]);
    return NULL;
}

static void note_time(void *arg) { *(double *)arg = cio_time(); }

/* Delays: 0 and negative run on the next iteration; a delay past what
 * the clock can hold is clamped (never fires, can be cancelled); a timer
 * never fires early. */
static void *t_timer_delays(void *arg)
{
    (void)arg;
    cio_loop *l = cio_loop_current();
    double at[3] = {0, 0, 0};
    CHECK_EQ(cio_call_later(l, 0, note_time, &at[0], NULL), 0);
    CHECK_EQ(cio_call_later(l, -1, note_time, &at[1], NULL), 0);
    cio_handle *far = NULL;
    CHECK_EQ(cio_call_later(l, 1e300, note_time, &at[2], &far), 0);
    for (int i = 0; i < 10 && (at[0] == 0 || at[1] == 0); i++)
        cio_yield(); /* due now: they run on the next iteration */
    CHECK(at[0] > 0 && at[1] > 0);
    CHECK(at[2] == 0);
    cio_handle_cancel(far);
    for (double d = 0.001; d <= 0.004; d += 0.001) {
        double fired = 0, t0 = cio_time();
        CHECK_EQ(cio_call_later(l, d, note_time, &fired, NULL), 0);
        for (int i = 0; i < 1000 && fired == 0; i++)
            cio_sleep(0.001);
        CHECK(fired >= t0 + d - 1e-9);
    }
    return NULL;
}

/* ---- executors: max_workers ---------------------------------------------- */

static pthread_mutex_t ex_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ex_cond = PTHREAD_COND_INITIALIZER;
static int ex_started, ex_released;

static void *blocking_job(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&ex_lock);
    int me = ++ex_started;
    while (ex_released < me)
        pthread_cond_wait(&ex_cond, &ex_lock);
    pthread_mutex_unlock(&ex_lock);
    return NULL;
}

static int started(void)
{
    pthread_mutex_lock(&ex_lock);
    int n = ex_started;
    pthread_mutex_unlock(&ex_lock);
    return n;
}

static void release_jobs(int n)
{
    pthread_mutex_lock(&ex_lock);
    ex_released = n;
    pthread_cond_broadcast(&ex_cond);
    pthread_mutex_unlock(&ex_lock);
}

static void *t_executor_workers(void *arg)
{
    (void)arg;
    enum { W = 2 };
    cio_executor *ex = cio_executor_new(W);
    CHECK_EQ(cio_executor_workers(ex), W);
    ex_started = ex_released = 0;
    cio_future *f[W + 1];
    for (int i = 0; i < W + 1; i++) { /* W - 1, W: a worker each; W + 1: queued */
        f[i] = cio_run_in_executor(ex, blocking_job, NULL);
        CHECK(f[i] != NULL);
    }
    for (int i = 0; i < 1000 && started() < W; i++)
        cio_sleep(0.01);
    CHECK_EQ(started(), W);
    cio_sleep(0.05); /* ordering only: no worker is free */
    CHECK_EQ(started(), W);
    release_jobs(1); /* the first job ends: its worker takes the queued one */
    for (int i = 0; i < 1000 && started() < W + 1; i++)
        cio_sleep(0.01);
    CHECK_EQ(started(), W + 1);
    release_jobs(W + 1);
    for (int i = 0; i < W + 1; i++) {
        CHECK_EQ(cio_await(f[i], NULL), 0);
        cio_release(f[i]);
    }
    cio_executor_free(ex);
    return NULL;
}

int main(void)
{
    RUN_TASK_TEST(t_read_limit);
    RUN_TASK_TEST(t_read_sizes);
    RUN_TASK_TEST(t_high_water);
    RUN_TASK_TEST(t_backlog);
    RUN_TEST(t_emfile);
    RUN_TASK_TEST(t_stack_sizes);
    RUN_TEST(t_stack_guard);
    RUN_TEST(t_burst_leftovers);
    RUN_TASK_TEST(t_fd_chunks);
    RUN_TASK_TEST(t_timer_delays);
    RUN_TASK_TEST(t_executor_workers);
    return check_exit();
}
