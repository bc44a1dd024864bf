/* SPDX-License-Identifier: MIT */
/*
 * echo_client -- the client for echo_server (seed 001, "asyncio streams"):
 *
 *     # 打开一个连接
 *     reader, writer = await asyncio.open_connection('127.0.0.1', port)
 *     # 写入字节数据
 *     writer.write(message.encode())
 *     # 等待数据传输
 *     await writer.drain()
 *     writer.write_eof()
 *     # 读取字节数据
 *     byte_data = await reader.read()
 *     print(byte_data.decode(), end='')
 *     # 关闭套接字
 *     writer.close()
 *     await writer.wait_closed()
 *
 * It sends a message (with a newline added) or, with -s, everything on its
 * standard input; half-closes the connection (write_eof) so that the server
 * sees the end; and prints exactly what comes back, as it comes, until the
 * server closes.  Reading goes on in a task of its own while the sending
 * task writes, so that large inputs do not deadlock against the socket
 * buffers.  The whole exchange is bounded by a timeout.
 *
 * Usage: echo_client [-H|--host HOST] [-p|--port PORT] [-m|--message TEXT]
 *                    [-s|--stdin] [-t|--timeout SECONDS] [PORT [MESSAGE]]
 *   -H, --host HOST       server address or name (default 127.0.0.1)
 *   -p, --port PORT       server port (default 8888)
 *   -m, --message TEXT    what to send (default "Hello World!")
 *   -s, --stdin           send standard input instead of a message
 *   -t, --timeout SECONDS give up after this long (default 10)
 * Exit status: 0 when everything sent came back, 1 on a connection error or
 * timeout, 2 for bad arguments.
 */
#include <cio.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *host = "127.0.0.1";
static const char *port = "8888";
static const char *message = "Hello World!";
static bool from_stdin;
static double timeout_s = 10;

static char *payload;
static size_t payload_len, received;

/* Prints what the server sends back until it closes. */
static void *reader_task(void *arg)
{
    cio_stream *s = arg;
    char buf[16384];
    for (;;) {
        ssize_t n = cio_stream_read(s, buf, sizeof buf); /* byte_data = await reader.read(n) */
        if (n < 0)
            return cio_fail((int)n, NULL);
        if (n == 0)
            return NULL;
        fwrite(buf, 1, (size_t)n, stdout);
        received += (size_t)n;
    }
}

static int exchange(void)
{
    cio_stream *s;
    int rc = cio_open_connection(host, port, NULL, &s);
    if (rc < 0) {
        fprintf(stderr, "echo_client: cannot connect to %s:%s: %s\n", host, port, cio_strerror(rc));
        return rc;
    }
    cio_task *rd = cio_spawn(reader_task, s);
    if (!rd) {
        cio_stream_abort(s);
        return -errno;
    }
    rc = cio_stream_write(s, payload, payload_len); /* writer.write(message.encode()) */
    if (rc == 0)
        rc = cio_stream_drain(s); /* await writer.drain() */
    if (rc == 0)
        rc = cio_stream_write_eof(s); /* no more from us */
    if (rc < 0) /* could not send: stop reading too */
        cio_cancel(rd, NULL);
    int rrc = cio_await(rd, NULL); /* until the server has echoed everything and closed */
    cio_release(rd);
    if (rc == 0)
        rc = rrc;
    if (rc == 0)
        rc = cio_stream_close(s); /* writer.close(); await writer.wait_closed() */
    else
        cio_stream_abort(s);
    if (rc < 0 && rc != -ECANCELED)
        fprintf(stderr, "echo_client: %s:%s: %s\n", host, port, cio_strerror(rc));
    return rc;
}

static void *amain(void *arg)
{
    (void)arg;
    cio_timeout to;
    cio_timeout_enter(&to, timeout_s);
    int rc = cio_timeout_exit(&to, exchange());
    if (rc == -ETIMEDOUT)
        fprintf(stderr, "echo_client: %s:%s: no complete answer within %g s\n", host, port, timeout_s);
    fflush(stdout);
    if (rc == 0 && received != payload_len) {
        fprintf(stderr, "echo_client: sent %zu bytes, got %zu back\n", payload_len, received);
        rc = -EPROTO;
    }
    return rc < 0 ? cio_fail(rc, NULL) : NULL;
}

static int read_stdin(void)
{
    size_t cap = 65536;
    payload = malloc(cap);
    for (;;) {
        if (!payload)
            return -ENOMEM;
        size_t n = fread(payload + payload_len, 1, cap - payload_len, stdin);
        payload_len += n;
        if (n == 0)
            return ferror(stdin) ? -EIO : 0;
        if (payload_len == cap) {
            cap *= 2;
            char *p = realloc(payload, cap);
            if (!p)
                free(payload);
            payload = p;
        }
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: echo_client [-H|--host HOST] [-p|--port PORT] [-m|--message TEXT]\n"
               "                   [-s|--stdin] [-t|--timeout SECONDS] [PORT [MESSAGE]]\n"
               "  -H, --host HOST       server address or name (default 127.0.0.1)\n"
               "  -p, --port PORT       server port (default 8888)\n"
               "  -m, --message TEXT    what to send, a newline added (default \"Hello World!\")\n"
               "  -s, --stdin           send standard input instead\n"
               "  -t, --timeout SECONDS give up after this long (default 10)\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'H'},   {"port", required_argument, NULL, 'p'},
        {"message", required_argument, NULL, 'm'}, {"stdin", no_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "H:p:m:st:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'H': host = optarg; break;
        case 'p': port = optarg; break;
        case 'm': message = optarg; break;
        case 's': from_stdin = true; break;
        case 't':
            timeout_s = atof(optarg);
            if (!(timeout_s > 0)) {
                fprintf(stderr, "echo_client: bad timeout '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc)
        port = argv[optind++];
    if (optind < argc)
        message = argv[optind++];
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (from_stdin) {
        if (read_stdin() < 0) {
            fprintf(stderr, "echo_client: cannot read standard input\n");
            return 1;
        }
    } else {
        size_t n = strlen(message);
        payload = malloc(n + 1);
        if (!payload)
            return 1;
        memcpy(payload, message, n);
        payload[n] = '\n';
        payload_len = n + 1;
    }
    int rc = cio_run(amain, NULL, NULL);
    free(payload);
    return rc == 0 ? 0 : 1;
}
