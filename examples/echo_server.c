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
 * Usage: echo_server [-H|--host HOST] PORT
 *   -H, --host HOST   address to listen on (default 127.0.0.1; "" or "*":
 *                     every interface, IPv4 and IPv6)
 *   PORT              port number (0: any free port)
 */
#include <cio.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 65536

static const char *host = "127.0.0.1";
static const char *port;

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

static void on_sigterm(void *arg) { cio_server_close(arg); }

static void *amain(void *arg)
{
    (void)arg;
    cio_server *srv;
    const char *h = host[0] == 0 || strcmp(host, "*") == 0 ? NULL : host;
    int rc = cio_start_server(handle_echo, NULL, h, port, NULL, &srv);
    if (rc < 0) {
        fprintf(stderr, "echo_server: cannot listen on %s:%s: %s\n", h ? h : "*", port, cio_strerror(rc));
        return cio_fail(rc, NULL);
    }
    printf("Serving on %s:%d\n", h ? h : "*", cio_server_port(srv));
    fflush(stdout);
    cio_loop *loop = cio_loop_current();
    cio_add_signal_handler(loop, SIGTERM, on_sigterm, srv);
    rc = cio_server_serve_forever(srv); /* until SIGTERM closes it, or Ctrl-C cancels us */
    cio_remove_signal_handler(loop, SIGTERM);
    cio_server_free(srv); /* connections still open are cancelled */
    return rc < 0 ? cio_fail(rc, NULL) : NULL;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: echo_server [-H|--host HOST] PORT\n"
               "  -H, --host HOST  address to listen on (default 127.0.0.1; '*': every interface)\n"
               "  PORT             port number (0: any free port)\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "H:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'H': host = optarg; break;
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
    int rc = cio_run(amain, NULL, NULL);
    if (rc == -EINTR)
        return 130;
    return rc < 0 ? 1 : 0;
}
