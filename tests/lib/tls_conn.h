/* SPDX-License-Identifier: MIT */
/* Servers and clients for the TLS tests (test_tls, test_tls_cost): a
 * server on 127.0.0.1 with a free port, a dial to it, a line echoed.
 * Header-only, as every test is one source file; needs check.h first. */
#ifndef CIO_TESTS_LIB_TLS_CONN_H
#define CIO_TESTS_LIB_TLS_CONN_H

#include <stdio.h>
#include <string.h>

static cio_server *serve(cio_conn_handler h, void *arg, const cio_tls_opts *tls)
{
    cio_server *srv = NULL;
    cio_server_opts so = {.tls = tls};
    int rc = cio_start_server(h, arg, "127.0.0.1", "0", &so, &srv);
    CHECK_EQ(rc, 0);
    return srv;
}

static void server_done(cio_server *srv)
{
    if (!srv)
        return;
    cio_server_close(srv);
    CHECK_EQ(cio_server_wait_closed(srv), 0);
    cio_server_free(srv);
}

static int dial(cio_server *srv, const cio_tls_opts *tls, cio_stream **out)
{
    *out = NULL;
    if (!srv)
        return -EINVAL;
    char port[16];
    snprintf(port, sizeof port, "%d", cio_server_port(srv));
    return cio_open_connection("127.0.0.1", port, &(cio_stream_opts){.tls = tls}, out);
}

/* Writes line, reads one line back, compares. */
static void roundtrip(cio_stream *c, const char *line)
{
    CHECK_EQ(cio_stream_write(c, line, strlen(line)), 0);
    CHECK_EQ(cio_stream_drain(c), 0);
    const char *data = NULL;
    size_t len = 0;
    CHECK_EQ(cio_stream_readline(c, &data, &len), 0);
    CHECK_EQ(len, strlen(line));
    CHECK(data && len == strlen(line) && memcmp(data, line, len) == 0);
}

#endif
