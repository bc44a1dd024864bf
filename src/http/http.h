/* Internal interface of the HTTP server (server.c): zero-copy access to a
 * stream's read buffer (buffer.c).
 *
 * The server parses requests in place, straight from the stream's read
 * buffer s->rbuf[s->rstart, s->rend): s->rstart stays at the start of the
 * request being served until it is done, so the head's bytes never move
 * while a handler holds pointers into them.  stream.c's own fill() compacts
 * and caps the buffer at the reader limit, which the server cannot allow;
 * hence a fill of its own that only ever appends. */
#ifndef CIO_HTTP_HTTP_H
#define CIO_HTTP_HTTP_H

#include "net/net.h"

/* Reads once more into s's read buffer, after s->rend.  When the buffer is
 * full it is grown (realloc: the bytes keep their offsets, not their
 * addresses) up to max_cap bytes; bytes already there are never moved
 * otherwise.  When the read must wait and deadline >= 0 (loop time), the
 * wait ends there with -ETIMEDOUT; no timer is armed when data is already
 * waiting in the socket.  Reading is the stream's own (cio__stream_recv:
 * no recv() right after a short one, RECV operations on io_uring).
 * Returns the count (> 0), 0 at
 * end of stream (s->eof set), -ENOBUFS when the buffer is full at max_cap,
 * or a negative error (-ECANCELED, -EBADF once closed, the connection's
 * error).  Suspends. */
ssize_t cio__stream_fill_more(cio_stream *s, size_t max_cap, double deadline);

/* Grows s's read buffer to at least cap bytes (the bytes keep their offsets).
 * 0 or -ENOMEM.  Never suspends. */
int cio__stream_reserve(cio_stream *s, size_t cap);

#endif
