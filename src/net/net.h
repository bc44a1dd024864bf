/* SPDX-License-Identifier: MIT */
/* Internal interface of the networking module: streams and their
 * transports (plain fd, TLS), shared by stream.c, server.c, tls.c and
 * process.c. */
#ifndef CIO_NET_NET_H
#define CIO_NET_NET_H

#include "backend/backend.h"

#include <sys/socket.h>

/* A transport moves bytes for a stream without ever blocking.  recv/send
 * return a count (> 0), 0 for end of stream (recv only), one of the two
 * "want" codes below when the operation must be retried once the fd is
 * readable / writable, or a negative error. */
#define CIO__WANT_READ (-20001)
#define CIO__WANT_WRITE (-20002)

typedef struct cio__transport {
    const char *name;
    ssize_t (*recv)(cio_stream *s, void *buf, size_t n);
    ssize_t (*send)(cio_stream *s, const void *buf, size_t n);
    /* Half-close the sending side (TLS: close_notify). 0, want code, error. */
    int (*shutdown)(cio_stream *s);
    /* Release the transport's state (not the fd). */
    void (*free)(cio_stream *s);
} cio__transport;

extern const cio__transport cio__plain_transport;

/* A stream's life cycle; it only moves forward. */
typedef enum cio__stream_state {
    CIO__SS_OPEN,
    CIO__SS_CLOSING,   /* close or abort started (close may be flushing) */
    CIO__SS_FD_CLOSED, /* the fd is closed; the memory stays while calls are inside or the server owns it */
    CIO__SS_ZOMBIE,    /* closed, and its owner has let go: freed when the last pin goes */
} cio__stream_state;

struct cio_stream {
    int fd;
    cio_loop *loop;
    const cio__transport *tp;
    void *tls; /* transport state (SSL *) */
    uint8_t state; /* cio__stream_state */
    /* what the stream is */
    bool is_sock : 1;
    bool feed : 1;         /* a standalone reader: no fd, fed by cio_stream_feed_data */
    bool write_blocks : 1; /* write() itself waits above the high-water mark */
    bool server_owned : 1; /* freed by the server's connection task */
    bool ring : 1;         /* on completions (see below) */
    /* reading */
    bool eof : 1;     /* the peer finished sending */
    bool in_read : 1; /* a public read call is in progress (one reader at a time) */
    bool reading : 1; /* a transport read is in progress (one reader at a time) */
    bool drained : 1; /* the last recv came back short: wait before the next */
    /* writing */
    bool eof_sent : 1; /* write_eof done */
    bool paused : 1;   /* writer above high water, until low water */
    bool flushing : 1; /* background flush armed (writer callback) */
    bool sending : 1;  /* sop is in flight, over the start of wbuf[wstart, wend) */
    int busy;          /* pins: calls inside the stream, a SEND in flight */
    int err;           /* first connection error (sticky), 0 if none */
    int exc;           /* cio_stream_set_error: every read call returns it */
    size_t limit, high, low;
    /* read buffer: data in rbuf[rstart, rend) (see reader.c for rbuf_held) */
    char *rbuf;
    size_t rcap, rstart, rend;
    char *rbuf_held; /* the buffer before feed_data or at_eof moved the data */
    cio__link feedwait; /* the task parked in a standalone reader until fed */
    /* write buffer: data in wbuf[wstart, wend) */
    char *wbuf;
    size_t wcap, wstart, wend;
    cio__link drainers; /* tasks in drain() or waiting for a flush, as cio__swait records */
    cio__link deferred; /* in the loop's list of streams to flush (coalesce.c), or unlinked */
    char *tls_alpn;
    /* On completions (plain sockets on a loop whose back end runs RECV and
     * SEND operations): reads are RECV operations of the reading task,
     * writes one SEND of the buffered bytes at a time, in flight in the
     * kernel (see stream.c) */
    char *wbuf_held; /* an old wbuf the kernel still reads from */
    cio__op sop;
};

static inline bool cio__stream_closing(const cio_stream *s) { return s->state >= CIO__SS_CLOSING; }
static inline bool cio__stream_fd_closed(const cio_stream *s) { return s->state >= CIO__SS_FD_CLOSED; }

/* Every public call that may suspend pins the stream: a close or abort from
 * another task while this one is parked closes the fd at once but leaves the
 * memory until the last call has returned.  unpin frees a zombie stream
 * whose last pin it was (s is then gone). */
static inline void cio__stream_pin(cio_stream *s) { s->busy++; }
void cio__stream_unpin(cio_stream *s);

/* Receives into buf (up to n bytes) through the transport, waiting as it
 * asks (or on a RECV completion operation), bounded by deadline
 * (cio_loop_time; < 0: none).  > 0 bytes, 0 at EOF (s->eof set), -EBUSY
 * when another task is reading s, or an error (connection errors are
 * sticky in s->err).  Suspends; the caller pins s. */
ssize_t cio__stream_recv(cio_stream *s, void *buf, size_t n, double deadline);

/* Zero-copy reading, for the HTTP server, which parses requests in place:
 * s->rstart stays at the start of the request being served until it is
 * done, so the head's bytes never move while a handler holds pointers into
 * them.  reader.c's own fill() compacts and caps the buffer at the reader
 * limit, which the server cannot allow; hence a fill that only ever
 * appends. */
/* Reads once more into s's read buffer, after s->rend.  When the buffer is
 * full it is grown (realloc: the bytes keep their offsets, not their
 * addresses) up to max_cap bytes; bytes already there are never moved
 * otherwise.  When the read must wait and deadline >= 0 (loop time), the
 * wait ends there with -ETIMEDOUT; no timer is armed when data is already
 * waiting in the socket.  Reading is the stream's own (cio__stream_recv:
 * no recv() right after a short one, RECV completion operations where the
 * back end has them).  Returns the count (> 0), 0 at end of stream (s->eof
 * set), -ENOBUFS when the buffer is full at max_cap, or a negative error
 * (-ECANCELED, -EBADF once closed, the connection's error).  Suspends. */
ssize_t cio__stream_fill_more(cio_stream *s, size_t max_cap, double deadline);

/* Grows s's read buffer to at least cap bytes (the bytes keep their offsets).
 * 0 or -ENOMEM.  Never suspends. */
int cio__stream_reserve(cio_stream *s, size_t cap);

/* Allocates a stream with no fd and no transport (calloc'd, lists set
 * up, the given limit); NULL when out of memory. */
cio_stream *cio__stream_alloc(size_t limit);

/* Creates a stream around a connected non-blocking fd with the plain
 * transport (does not start TLS).  is_sock: 1 the fd is a socket, 0 it is
 * not, -1 unknown (asked of the kernel).  Takes ownership of fd, also on
 * failure. */
int cio__stream_new(int fd, int is_sock, const cio_stream_opts *opts, cio_stream **out);
/* Frees a stream whose fd is already closed. */
void cio__stream_destroy(cio_stream *s);
/* Closes the fd now (no flush), for server-owned streams and abort. */
void cio__stream_close_fd(cio_stream *s, bool rst);

/* Coalescing (coalesce.c).  A TLS stream's writes wait in its write buffer
 * so that the small writes a task makes before it next suspends leave as
 * one record: full records (CIO__TLS_RECORD bytes of plaintext, TLS's
 * largest and OpenSSL's default) go at once, the rest when the task reads,
 * drains, closes or half-closes, and at the latest in the loop's next
 * iteration, from one call_soon pass per loop over the streams deferred. */
#define CIO__TLS_RECORD (16 * 1024)
/* Puts s in its loop's list for the next pass (no-op if it is there);
 * false when there is no memory for it (the caller sends now). */
bool cio__stream_defer(cio_stream *s);
/* Takes s out of the list (no-op if it is not there). */
void cio__stream_undefer(cio_stream *s);
/* stream.c: the pass's work for one stream (sends what is buffered unless
 * the readiness flush has it, or the stream is closed or broken). */
void cio__stream_flush_deferred(cio_stream *s);

/* TLS (tls.c): turns s into a TLS stream and performs the handshake.
 * host is the name connected to (for SNI / verification when the options
 * name none).  Suspends. */
int cio__tls_start(cio_stream *s, const cio_tls_opts *opts, bool server_side, const char *host);

/* write(2) that turns a SIGPIPE into -1/EPIPE without touching the
 * process's disposition (sock.c); for pipes, which lack MSG_NOSIGNAL. */
ssize_t cio__write_nosigpipe(int fd, const void *buf, size_t n);

/* Address resolution used by the module (dns.c). */
int cio__resolve_numeric(const char *host, const char *service, const struct addrinfo *hints, struct addrinfo **res);

/* For tests and fuzz targets (dns.c): the channels created from now on
 * ask only the servers in csv ("127.0.0.1:5353"; NULL: resolv.conf's
 * again), skip /etc/hosts, and wait timeout_ms per try, tries times. */
void cio__dns_use_servers(const char *csv, int timeout_ms, int tries);
/* For tests (dns.c): whether l has made its resolver's channel. */
bool cio__dns_started(const cio_loop *l);

#endif
