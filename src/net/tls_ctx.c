/* SPDX-License-Identifier: MIT */
/* TLS contexts: building them and the process-wide cache (tls.c uses
 * them for its connections).
 *
 * Building a context is costly (a client parses the whole system CA bundle,
 * a server its key and chain), so contexts are kept in a small process-wide
 * cache (a mutex, CTX_CACHE_SIZE entries, least recently used evicted)
 * keyed by the option *values* that go into a context: the
 * role, insecure_no_verify, the ALPN list and each named file or directory.
 * An entry also remembers the stat() identity (device, inode, size, mtime)
 * of those files, compared again at most once per CTX_RECHECK seconds, so
 * that a renewed certificate on disk is picked up within a second while a
 * busy server makes no file system call per connection.  Entries expire
 * after CTX_CACHE_TTL seconds, which is when changes to the system CA store
 * (not stat()ed) are seen.  Per-connection settings (SNI, the name to
 * verify, the server's ALPN choice) live on the SSL object.  The context
 * holds the server's session cache and ticket keys, so sessions resume
 * across every loop (thread) of the process that serves the same options.
 * Contexts are reference counted, so an evicted one stays alive until its
 * last stream is freed.  The cache is never torn down (it stays reachable
 * at exit; OpenSSL's own atexit cleanup runs before any destructor of ours
 * could).  Failed builds are not cached. */
#include "core/internal.h"
#include "net/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CTX_CACHE_SIZE 16
#define CTX_CACHE_TTL 3600.0
#define CTX_RECHECK 1.0 /* seconds between two stat() checks of a context's files */

/* Encrypted keys are not supported: without this OpenSSL would prompt for
 * a pass phrase on the terminal, blocking the loop. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

/* opts->alpn in wire format (length-prefixed strings). */
int cio__tls_alpn_wire(const cio_tls_opts *o, unsigned char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (o->nalpn == 0)
        return 0;
    if (!o->alpn)
        return -EINVAL;
    size_t total = 0;
    for (size_t i = 0; i < o->nalpn; i++) {
        size_t l = o->alpn[i] ? strlen(o->alpn[i]) : 0;
        if (l == 0 || l > 255)
            return -EINVAL;
        total += l + 1;
    }
    if (total > 65535)
        return -EINVAL;
    unsigned char *w = malloc(total), *p = w;
    if (!w)
        return -ENOMEM;
    for (size_t i = 0; i < o->nalpn; i++) {
        size_t l = strlen(o->alpn[i]);
        *p++ = (unsigned char)l;
        memcpy(p, o->alpn[i], l);
        p += l;
    }
    *out = w;
    *len = total;
    return 0;
}

static SSL_CTX *ctx_build(const cio_tls_opts *o, bool server, const unsigned char *alpn, size_t alpn_len, int *err)
{
    *err = CIO_ETLS;
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx) {
        *err = -ENOMEM;
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
        goto fail;
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    /* no SSL_MODE_RELEASE_BUFFERS: it frees the read buffer whenever it is
     * empty, an allocation and a free per record; a connection keeps its
     * two record buffers (about 34 KiB, see docs/limits.md) instead */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1); /* one recv() per socket read, not one per record part */
    SSL_CTX_set_default_passwd_cb(ctx, no_password);
    if (o->cert_file) {
        if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, o->key_file ? o->key_file : o->cert_file, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1)
            goto fail;
    } else if (server) {
        goto fail; /* a server needs a certificate */
    }
    if (server) {
        SSL_CTX_set_alpn_select_cb(ctx, cio__tls_alpn_select, NULL);
    } else {
        if (!o->insecure_no_verify) {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
            if (o->ca_file || o->ca_path) {
                if (SSL_CTX_load_verify_locations(ctx, o->ca_file, o->ca_path) != 1)
                    goto fail;
            } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
                goto fail;
            }
        }
        if (alpn_len && SSL_CTX_set_alpn_protos(ctx, alpn, (unsigned int)alpn_len) != 0) /* 0 is success */
            goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* Test hooks (net/tls.h): stat() calls made by the cache, and the
 * interval between two identity checks of an entry's files. */
static unsigned long stat_calls;
static double recheck_secs = CTX_RECHECK;

unsigned long cio__tls_stat_calls(void) { return stat_calls; }

void cio__tls_set_recheck(double secs) { recheck_secs = secs; }

/* A cache key, or the identity of its files: a string built with f. */
static char *key_string(const cio_tls_opts *o, bool server, const unsigned char *alpn, size_t alpn_len,
                        void (*put)(FILE *f, const char *path), size_t *klen)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fprintf(f, "%c%c", server ? 'S' : 'C', o->insecure_no_verify ? 'I' : 'V');
    put(f, o->ca_file);
    put(f, o->ca_path);
    put(f, o->cert_file);
    put(f, o->key_file);
    fprintf(f, "A%zu:", alpn_len);
    if (alpn_len)
        fwrite(alpn, 1, alpn_len, f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *klen = len;
    return buf;
}

/* One named file (or directory) in a cache key: its name. */
static void put_name(FILE *f, const char *path)
{
    if (path)
        fprintf(f, "%zu:%s;", strlen(path), path);
    else
        fputs("-;", f);
}

/* ... in an identity: what stat() says of it. */
static void put_ident(FILE *f, const char *path)
{
    struct stat st;
    if (!path) {
        fputs("-;", f);
        return;
    }
    stat_calls++; /* under cache_mu, or before the entry exists */
    if (stat(path, &st) == 0)
        fprintf(f, "%ju.%ju.%jd.%ld.%jd;", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino, (intmax_t)st.st_mtim.tv_sec,
                (long)st.st_mtim.tv_nsec, (intmax_t)st.st_size);
    else
        fputs("?;", f);
}

typedef struct ctx_entry {
    char *key;     /* the option values (put_name) */
    size_t klen;
    char *ident;   /* the identity of the files when built (put_ident) */
    SSL_CTX *ctx;
    double born;
    double checked; /* when ident was last compared with the files */
    uint64_t used;
} ctx_entry;

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static ctx_entry cache[CTX_CACHE_SIZE];
static uint64_t cache_tick;

static void entry_clear(ctx_entry *e)
{
    SSL_CTX_free(e->ctx);
    free(e->key);
    free(e->ident);
    memset(e, 0, sizeof *e);
}

/* Whether e still stands for the files on disk: compared at most once per
 * recheck_secs (under cache_mu), so that connections do not stat() the
 * certificate and key each. */
static bool entry_fresh(ctx_entry *e, const cio_tls_opts *o, bool server, const unsigned char *alpn,
                        size_t alpn_len, double now)
{
    if (now - e->born >= CTX_CACHE_TTL)
        return false;
    if (now - e->checked < recheck_secs)
        return true;
    size_t ilen = 0;
    char *ident = key_string(o, server, alpn, alpn_len, put_ident, &ilen);
    bool same = ident && strcmp(ident, e->ident) == 0;
    free(ident);
    if (same)
        e->checked = now;
    return same;
}

/* The cached context for key, with a reference for the caller, or NULL. */
static SSL_CTX *cache_find(const char *key, size_t klen, const cio_tls_opts *o, bool server,
                           const unsigned char *alpn, size_t alpn_len, double now)
{
    SSL_CTX *ctx = NULL;
    pthread_mutex_lock(&cache_mu);
    for (size_t i = 0; i < CTX_CACHE_SIZE; i++) {
        ctx_entry *e = &cache[i];
        if (!e->ctx || e->klen != klen || memcmp(e->key, key, klen) != 0)
            continue;
        if (!entry_fresh(e, o, server, alpn, alpn_len, now)) {
            entry_clear(e);
            break;
        }
        SSL_CTX_up_ref(e->ctx);
        e->used = ++cache_tick;
        ctx = e->ctx;
        break;
    }
    pthread_mutex_unlock(&cache_mu);
    return ctx;
}

/* Adds ctx under key (taking key and ident), in an empty slot, the one
 * of the same key (another thread built it meanwhile) or the least
 * recently used. */
static void cache_put(char *key, size_t klen, char *ident, SSL_CTX *ctx, double now)
{
    pthread_mutex_lock(&cache_mu);
    ctx_entry *slot = &cache[0];
    for (size_t i = 0; i < CTX_CACHE_SIZE; i++) {
        ctx_entry *e = &cache[i];
        if (!e->ctx || (e->klen == klen && memcmp(e->key, key, klen) == 0)) {
            slot = e;
            break;
        }
        if (e->used < slot->used)
            slot = e;
    }
    if (slot->ctx)
        entry_clear(slot);
    if (SSL_CTX_up_ref(ctx) == 1) {
        *slot = (ctx_entry){.key = key, .klen = klen, .ident = ident, .ctx = ctx, .born = now, .checked = now,
                            .used = ++cache_tick};
        key = ident = NULL;
    }
    pthread_mutex_unlock(&cache_mu);
    free(key);
    free(ident);
}

SSL_CTX *cio__tls_ctx_get(const cio_tls_opts *o, bool server, const unsigned char *alpn, size_t alpn_len, int *err)
{
    size_t klen = 0, ilen = 0;
    char *key = key_string(o, server, alpn, alpn_len, put_name, &klen);
    if (!key) {
        *err = -ENOMEM;
        return NULL;
    }
    /* real time, not a loop's (possibly virtual) clock: the cache is shared
     * by every loop of the process */
    double now = (double)cio__now_ns() * 1e-9;
    SSL_CTX *ctx = cache_find(key, klen, o, server, alpn, alpn_len, now);
    if (ctx) {
        free(key);
        return ctx;
    }
    /* the identity before the build: a file replaced meanwhile shows at
     * the next check.  Built outside the lock (file I/O); two threads may
     * both build one. */
    pthread_mutex_lock(&cache_mu);
    char *ident = key_string(o, server, alpn, alpn_len, put_ident, &ilen);
    pthread_mutex_unlock(&cache_mu);
    ctx = ident ? ctx_build(o, server, alpn, alpn_len, err) : NULL;
    ERR_clear_error();
    if (!ctx) {
        if (!ident)
            *err = -ENOMEM;
        free(key);
        free(ident);
        return NULL;
    }
    cache_put(key, klen, ident, ctx, now);
    return ctx;
}
