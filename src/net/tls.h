/* SPDX-License-Identifier: MIT */
/* Internal interface between the TLS transport (tls.c) and its context
 * cache (tls_ctx.c), and the cache's test hooks.  The transport itself is
 * declared in net.h. */
#ifndef CIO_NET_TLS_H
#define CIO_NET_TLS_H

#include <cio.h>

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

/* opts->alpn in wire format (length-prefixed strings, malloc'd into *out;
 * NULL and 0 for none).  0, -EINVAL for a bad list, or -ENOMEM. */
int cio__tls_alpn_wire(const cio_tls_opts *o, unsigned char **out, size_t *len);

/* A context for these options (a reference the caller frees with
 * SSL_CTX_free), from the cache or built, or NULL with *err set
 * (CIO_ETLS for a configuration OpenSSL refuses, -ENOMEM). */
SSL_CTX *cio__tls_ctx_get(const cio_tls_opts *o, bool server, const unsigned char *alpn, size_t alpn_len,
                          int *err);

/* The server's ALPN choice (tls.c), installed on every server context. */
int cio__tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                         unsigned int inlen, void *arg);

/* Test hooks: the number of stat() calls the context cache has made so far
 * (it checks the files named in the options once per recheck interval, not
 * per connection), and the interval (seconds; default 1; 0: every
 * connection). */
unsigned long cio__tls_stat_calls(void);
void cio__tls_set_recheck(double secs);

#endif
