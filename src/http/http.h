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

/* Serves the HTTP connection s for the server (a cio_http_server *, as
 * arg): the cio_start_server handler of cio_http_server_listen, and the
 * way in of fuzz/http_server.c.  Closes and frees s before it returns.
 * Suspends. */
void *cio__http_conn_main(cio_stream *s, void *arg);

/* Opens rel (a relative path, read-only) under the directory dirfd without
 * ever leaving it: openat2(RESOLVE_BENEATH) where the kernel has it, else
 * a walk one component at a time that refuses ".." and every symlink
 * (static.c).  Returns
 * the fd or -errno (-ELOOP / -EXDEV for a way out, -ENOENT...).  Never
 * suspends. */
int cio__open_beneath(int dirfd, const char *rel);

/* The Content-Type for a file name, by its extension (static string). */
const char *cio__mime_type(const char *name);

/* Test hook: non-zero makes openat2 count as failing with this errno
 * (ENOSYS: an old kernel, EPERM: a seccomp filter), as the fallback's tests
 * need on kernels that have it. */
extern int cio__http_test_openat2_errno;

#endif
