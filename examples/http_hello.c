/* SPDX-License-Identifier: MIT */
/*
 * http_hello -- the smallest aiohttp.web application, in cio:
 *
 *     from aiohttp import web
 *
 *     async def hello(request):
 *         return web.Response(text="Hello, World!")
 *
 *     app = web.Application()
 *     app.add_routes([web.get('/{tail:.*}', hello)])
 *     web.run_app(app, port=port)
 *
 * Every GET (and HEAD) answers "Hello, World!" as text/plain with a
 * Content-Length, on keep-alive connections (pipelined requests are
 * answered with one write); other methods get 405, as in aiohttp.  It is
 * the server the benchmarks compare with nginx.
 *
 * It prints one line when it is listening ("Serving on HOST:PORT") and then
 * runs until it is killed: SIGTERM shuts down gracefully (requests in
 * flight finish, for up to 5 s) and exits 0; Ctrl-C (SIGINT) cancels it as
 * asyncio.run does (exit 130).
 *
 * Usage: http_hello [-H|--host HOST] [-t|--threads N] PORT
 *   -H, --host HOST    address to listen on (default 127.0.0.1; "" or "*":
 *                      every interface, IPv4 and IPv6)
 *   -t, --threads N    N event loops in N threads sharing the port with
 *                      SO_REUSEPORT (default 1), as nginx's worker processes
 *   PORT               port number (0: any free port; single thread only)
 */
#include <cio.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *host = "127.0.0.1";
static const char *port;
static int nthreads = 1;

static const char hello_text[] = "Hello, World!";

/* async def hello(request): return web.Response(text="Hello, World!") */
static int hello(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    cio_http_response_header(res, "Content-Type", "text/plain");
    return cio_http_response_body(res, hello_text, sizeof hello_text - 1);
}

/* SIGTERM (handled by thread 0's loop): every thread's server is shut down
 * gracefully by a task of its own loop; serve_forever returns as soon as
 * its server stops accepting, and each main then waits for that task. */
typedef struct worker {
    cio_loop *loop;
    cio_http_server *srv;
    cio_task *stopper;
} worker;

static worker workers[1024];

static void *shutdown_main(void *arg)
{
    cio_http_server_shutdown(arg, 5.0);
    return NULL;
}

static void start_shutdown(void *arg) /* on the worker's own loop */
{
    worker *w = arg;
    if (!w->stopper)
        w->stopper = cio_spawn(shutdown_main, w->srv);
}

static void on_sigterm(void *arg)
{
    (void)arg;
    static bool seen;
    if (seen)
        return;
    seen = true;
    start_shutdown(&workers[0]);
    for (int i = 1; i < nthreads; i++) {
        cio_loop *l = __atomic_load_n(&workers[i].loop, __ATOMIC_ACQUIRE);
        if (l)
            cio_call_soon_threadsafe(l, start_shutdown, &workers[i]);
    }
}

static void *serve_main(void *arg)
{
    (void)arg;
    size_t me = cio_thread_index();
    worker *w = &workers[me];
    const char *h = host[0] == 0 || strcmp(host, "*") == 0 ? NULL : host;
    cio_http_server_opts opts = {0};
    opts.server.reuse_port = nthreads > 1;
    cio_http_server *srv = cio_http_server_new(&opts);
    if (!srv)
        return cio_fail(-errno, "cannot create the server");
    int rc = cio_http_server_route(srv, "GET", "/{tail*}", hello, NULL);
    if (rc == 0)
        rc = cio_http_server_listen(srv, h, port);
    if (rc < 0) {
        fprintf(stderr, "http_hello: cannot listen on %s:%s: %s\n", h ? h : "*", port, cio_strerror(rc));
        cio_http_server_free(srv);
        return cio_fail(rc, NULL);
    }
    w->srv = srv;
    __atomic_store_n(&w->loop, cio_loop_current(), __ATOMIC_RELEASE);
    if (me == 0) {
        printf("Serving on %s:%d\n", h ? h : "*", cio_http_server_port(srv));
        fflush(stdout);
        cio_add_signal_handler(cio_loop_current(), SIGTERM, on_sigterm, NULL);
    }
    rc = cio_http_server_serve_forever(srv); /* 0 once SIGTERM stopped it; -ECANCELED on Ctrl-C */
    if (me == 0)
        cio_remove_signal_handler(cio_loop_current(), SIGTERM);
    if (w->stopper) {
        cio_await(w->stopper, NULL); /* the requests in flight finish */
        cio_release(w->stopper);
        w->stopper = NULL;
    }
    cio_http_server_free(srv);
    return rc < 0 ? cio_fail(rc, NULL) : NULL;
}

static void usage(FILE *f) { fprintf(f, "usage: http_hello [-H|--host HOST] [-t|--threads N] PORT\n"); }

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},
        {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "H:t:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'H':
            host = optarg;
            break;
        case 't':
            nthreads = atoi(optarg);
            if (nthreads < 1 || nthreads > 1024) {
                fprintf(stderr, "http_hello: bad thread count '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    port = argv[optind];
    if (nthreads > 1 && strcmp(port, "0") == 0) {
        fprintf(stderr, "http_hello: port 0 needs a single thread\n");
        return 2;
    }
    int rc = nthreads > 1 ? cio_run_threads((size_t)nthreads, serve_main, NULL, false, NULL)
                          : cio_run(serve_main, NULL, NULL);
    if (rc == -EINTR)
        return 130;
    if (rc < 0) {
        fprintf(stderr, "http_hello: %s\n", cio_strerror(rc));
        return 1;
    }
    return 0;
}
