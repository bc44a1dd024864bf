/* SPDX-License-Identifier: MIT */
/*
 * echo_server -- a streams echo server (seed 001, "asyncio streams"):
 *
 *     # 定义一个处理客户端连接的函数
 *     async def handler(reader, writer):
 *         # 在这里添加处理客户端请求的逻辑
 *         while data := await reader.read(65536):
 *             writer.write(data)
 *             await writer.drain()
 *         writer.close()
 *         await writer.wait_closed()
 *
 *     # 使用指定的处理器、地址和端口号启动服务器
 *     server = await asyncio.start_server(handler, '127.0.0.1', port)
 *     async with server:
 *         await server.serve_forever()
 *
 * asyncio hands the handler a (reader, writer) pair; cio hands it one
 * stream that is both.  Every connection is its own task, so a slow client
 * never holds up the others; drain() after each write keeps a client that
 * does not read from making the server buffer without bound.
 *
 * It prints one line when it is listening ("Serving on HOST:PORT", with the
 * port the system picked when PORT is 0) and nothing per message, then runs
 * until it is killed: SIGTERM closes the server and exits 0, Ctrl-C
 * (SIGINT) cancels it as asyncio.run does (exit 130).
 *
 * Usage: echo_server [-H|--host HOST] [-t|--threads N] PORT
 *   -H, --host HOST   address to listen on (default 127.0.0.1; "" or "*":
 *                     every interface, IPv4 and IPv6)
 *   -t, --threads N   N event loops in N threads (cio_run_threads), each
 *                     with its own listener on the port (SO_REUSEPORT: the
 *                     kernel spreads the connections); default 1
 *   PORT              port number (0: any free port; single thread only)
 */
#include <cio.h>

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 65536

static const char *host = "127.0.0.1";
static const char *port;
static int nthreads = 1;

/* async def handler(reader, writer) */
static void *handle_echo(cio_stream *s, void *arg)
{
    (void)arg;
    char *buf = malloc(CHUNK);
    if (!buf)
        return NULL; /* the server closes the stream */
    for (;;) {
        ssize_t n = cio_stream_read(s, buf, CHUNK); /* data = await reader.read(65536) */
        if (n <= 0)
            break; /* EOF, an error, or the server is shutting down */
        if (cio_stream_write(s, buf, (size_t)n) < 0 || cio_stream_drain(s) < 0)
            break;
    }
    free(buf);
    cio_stream_close(s); /* writer.close(); await writer.wait_closed() */
    return NULL;
}

/* One server per loop.  SIGTERM is handled by thread 0's loop, which
 * closes its own server and asks every other loop to close its own; each
 * serve_forever then returns and its thread ends.  Thread 0 does the same
 * when its serve_forever ends for another reason (Ctrl-C cancels every
 * thread's main by itself: see cio_run_threads), so that the other threads
 * never outlive it. */
typedef struct worker {
    cio_loop *loop;  /* while serving; under `mu` */
    cio_server *srv; /* touched only by the worker's own loop */
} worker;

static worker workers[1024];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static bool stopping; /* under `mu` */

static void close_server(void *arg) /* on the worker's own loop */
{
    worker *w = arg;
    if (w->srv)
        cio_server_close(w->srv);
}

/* Closes every other thread's server (thread 0's loop). */
static void stop_others(void)
{
    pthread_mutex_lock(&mu);
    stopping = true;
    for (int i = 1; i < nthreads; i++)
        if (workers[i].loop)
            cio_call_soon_threadsafe(workers[i].loop, close_server, &workers[i]);
    pthread_mutex_unlock(&mu);
}

static void on_sigterm(void *arg)
{
    (void)arg;
    close_server(&workers[0]);
    stop_others();
}

static void *amain(void *arg)
{
    (void)arg;
    size_t me = cio_thread_index();
    worker *w = &workers[me];
    cio_server *srv;
    cio_server_opts opts = {0};
    opts.reuse_port = nthreads > 1;
    const char *h = host[0] == 0 || strcmp(host, "*") == 0 ? NULL : host;
    int rc = cio_start_server(handle_echo, NULL, h, port, &opts, &srv);
    if (rc < 0) {
        fprintf(stderr, "echo_server: cannot listen on %s:%s: %s\n", h ? h : "*", port, cio_strerror(rc));
        if (me == 0)
            stop_others();
        return cio_fail(rc, NULL);
    }
    cio_loop *loop = cio_loop_current();
    w->srv = srv;
    pthread_mutex_lock(&mu);
    w->loop = loop;
    bool stop_now = stopping; /* thread 0 stopped before this one was serving */
    pthread_mutex_unlock(&mu);
    if (stop_now)
        cio_server_close(srv);
    if (me == 0) {
        printf("Serving on %s:%d\n", h ? h : "*", cio_server_port(srv));
        fflush(stdout);
        cio_add_signal_handler(loop, SIGTERM, on_sigterm, NULL);
    }
    rc = cio_server_serve_forever(srv); /* until SIGTERM closes it, or Ctrl-C cancels us */
    if (me == 0) {
        cio_remove_signal_handler(loop, SIGTERM);
        stop_others();
    }
    pthread_mutex_lock(&mu);
    w->loop = NULL;
    pthread_mutex_unlock(&mu);
    w->srv = NULL;
    cio_server_free(srv); /* connections still open are cancelled */
    return rc < 0 ? cio_fail(rc, NULL) : NULL;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: echo_server [-H|--host HOST] [-t|--threads N] PORT\n"
               "  -H, --host HOST    address to listen on (default 127.0.0.1; '*': every interface)\n"
               "  -t, --threads N    N event loops sharing the port (SO_REUSEPORT; default 1)\n"
               "  PORT               port number (0: any free port; single thread only)\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'H'},
        {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "H:t:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'H': host = optarg; break;
        case 't': {
            char *e;
            long t = strtol(optarg, &e, 10);
            if (*optarg == 0 || *e != 0 || t < 1 || t > 1024) {
                fprintf(stderr, "echo_server: bad thread count '%s'\n", optarg);
                return 2;
            }
            nthreads = (int)t;
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    port = argv[optind];
    char *end;
    long p = strtol(port, &end, 10);
    if (*port == 0 || *end != 0 || p < 0 || p > 65535) {
        fprintf(stderr, "echo_server: bad port '%s'\n", port);
        return 2;
    }
    if (nthreads > 1 && p == 0) {
        fprintf(stderr, "echo_server: port 0 needs a single thread\n");
        return 2;
    }
    int rc = nthreads > 1 ? cio_run_threads((size_t)nthreads, amain, NULL, false, NULL) : cio_run(amain, NULL, NULL);
    if (rc == -EINTR)
        return 130;
    return rc < 0 ? 1 : 0;
}
