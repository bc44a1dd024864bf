/* SPDX-License-Identifier: MIT */
/* echo_lines(s, count): the server side of the line-echo tests
 * (test_bursts, test_limits, test_tls, test_tls_cost; tls_conn.h's
 * roundtrip is the client side).  Writes every line read from s back,
 * drained, until EOF or an error; with count not NULL, adds one to *count
 * after each line echoed, as it goes (test_tls_cost reads it while the
 * handler still runs).  Leaves s open: the handler closes it (or returns,
 * and the server does). */
#ifndef CIO_TESTS_LIB_ECHO_H
#define CIO_TESTS_LIB_ECHO_H

#include <cio.h>

static inline void echo_lines(cio_stream *s, int *count)
{
    for (;;) {
        const char *data;
        size_t len;
        if (cio_stream_readline(s, &data, &len) < 0 || len == 0)
            break;
        if (cio_stream_write(s, data, len) < 0 || cio_stream_drain(s) < 0)
            break;
        if (count)
            ++*count;
    }
}

#endif
