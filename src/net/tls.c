/* TLS transport: being written (OpenSSL); until then TLS requests fail. */
#include "net/net.h"

int cio__tls_start(cio_stream *s, const cio_tls_opts *opts, bool server_side, const char *host)
{
    (void)s; (void)opts; (void)server_side; (void)host;
    return -ENOTSUP;
}
const char *cio_stream_tls_version(const cio_stream *s) { (void)s; return NULL; }
const char *cio_stream_tls_cipher(const cio_stream *s) { (void)s; return NULL; }
const char *cio_stream_tls_alpn(const cio_stream *s) { (void)s; return NULL; }
int cio_stream_tls_peer_subject(const cio_stream *s, char *buf, size_t n) { (void)s; (void)buf; (void)n; return -ENOENT; }
