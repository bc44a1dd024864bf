/* SPDX-License-Identifier: MIT */
/* Internal interface of the HTTP server (server.c).
 *
 * The server parses requests in place, straight from the stream's read
 * buffer s->rbuf[s->rstart, s->rend) (cio__stream_fill_more, net/net.h). */
#ifndef CIO_HTTP_HTTP_H
#define CIO_HTTP_HTTP_H

#include "net/net.h"

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
