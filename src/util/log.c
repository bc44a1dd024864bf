/* SPDX-License-Identifier: MIT */
/* A small levelled logger in the crawler's format:
 *     %(asctime)s %(levelname)s:%(name)s: %(message)s   (datefmt %H:%M:%S)
 *
 * A record is formatted by the caller into a ring buffer and written out by
 * one background thread, so a slow terminal or a full pipe never stalls the
 * event loop: when the ring is full, records are dropped and counted, and
 * the count is reported with the next record that fits. */
#include "cio.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>

#define RING (256 * 1024)
#define MAXREC 4096

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER, idle = PTHREAD_COND_INITIALIZER;
static char ring[RING];
static size_t head, tail; /* bytes in ring[tail..head) modulo RING; head - tail <= RING */
static size_t dropped;
static bool started, writing;
static int out_fd = 2;
static int writer_fd = -1;   /* the sink the writer is writing to right now */
static int deferred_fd = -1; /* a replaced sink still in use by the writer: it closes it */
static atomic_int level = -1;

static const char *const names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};

static int level_from_env(void)
{
    const char *e = getenv("CIO_LOG_LEVEL");
    if (e)
        for (int i = 0; i <= CIO_LOG_CRITICAL; i++)
            if (strcasecmp(e, names[i]) == 0)
                return i;
    return CIO_LOG_INFO;
}

int cio_log_level(void)
{
    int l = atomic_load_explicit(&level, memory_order_relaxed);
    if (l < 0) {
        l = level_from_env();
        atomic_store(&level, l);
    }
    return l;
}

void cio_log_set_level(int lvl)
{
    if (lvl < CIO_LOG_DEBUG)
        lvl = CIO_LOG_DEBUG;
    if (lvl > CIO_LOG_CRITICAL + 1)
        lvl = CIO_LOG_CRITICAL + 1;
    atomic_store(&level, lvl);
}

static void put(const char *s, size_t n);

/* Reports the records dropped so far, if the note fits (mu held). */
static void put_drop_note(void)
{
    char note[64];
    int nl = snprintf(note, sizeof note, "(%zu log records dropped)\n", dropped);
    if (RING - (head - tail) >= (size_t)nl) {
        put(note, (size_t)nl);
        dropped = 0;
    }
}

static void *writer(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (head == tail)
            pthread_cond_wait(&cv, &mu);
        /* everything up to head, which is a record boundary (the wrap of
         * the ring is not): a record never goes half to one sink and half
         * to the next after cio_log_set_file */
        size_t start = tail % RING, n = head - tail;
        size_t first = start + n > RING ? RING - start : n;
        writing = true;
        int fd = writer_fd = out_fd;
        pthread_mutex_unlock(&mu);
        size_t off = 0;
        while (off < n) {
            struct iovec v[2];
            int k = 0;
            if (off < first) {
                v[k++] = (struct iovec){ring + start + off, first - off};
                if (n > first)
                    v[k++] = (struct iovec){ring, n - first};
            } else {
                v[k++] = (struct iovec){ring + (off - first), n - off};
            }
            ssize_t w = writev(fd, v, k);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break; /* the output is gone: drop */
            off += (size_t)w;
        }
        pthread_mutex_lock(&mu);
        tail += n;
        writing = false;
        writer_fd = -1;
        if (deferred_fd >= 0) { /* cio_log_set_file replaced it meanwhile */
            close(deferred_fd);
            deferred_fd = -1;
        }
        /* room again: say now how many records were dropped, rather than
         * with the next record (which may never come) */
        if (dropped)
            put_drop_note();
        if (head == tail)
            pthread_cond_broadcast(&idle);
    }
    return NULL;
}

static void put(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ring[(head + i) % RING] = s[i];
    head += n;
}

int cio_log_set_file(const char *path)
{
    int fd = 2;
    if (path) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
            return -errno;
    }
    cio_log_flush();
    pthread_mutex_lock(&mu);
    int old = out_fd;
    out_fd = fd;
    if (old != 2 && writing && old == writer_fd) {
        /* the flush gave up on a stuck sink: the writer is still in write(2)
         * on it (and may write again to finish its chunk), so closing it
         * now could let a new file take its number under the writer */
        deferred_fd = old;
        old = 2;
    }
    pthread_mutex_unlock(&mu);
    if (old != 2)
        close(old);
    return 0;
}

void cio_log_flush(void)
{
    pthread_mutex_lock(&mu);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 2; /* never hang on a dead terminal */
    while (started && (head != tail || writing))
        if (pthread_cond_timedwait(&idle, &mu, &ts) != 0)
            break;
    pthread_mutex_unlock(&mu);
}

static void flush_at_exit(void) { cio_log_flush(); }

void cio_logv(int lvl, const char *name, const char *fmt, va_list ap)
{
    if (lvl < cio_log_level())
        return;
    if (lvl < CIO_LOG_DEBUG)
        lvl = CIO_LOG_DEBUG;
    if (lvl > CIO_LOG_CRITICAL)
        lvl = CIO_LOG_CRITICAL;
    char rec[MAXREC];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    int n = (int)strftime(rec, sizeof rec, "%H:%M:%S ", &tm);
    n += snprintf(rec + n, sizeof rec - (size_t)n, "%s:%s: ", names[lvl], name ? name : "root");
    if (n < (int)sizeof rec) {
        int m = vsnprintf(rec + n, sizeof rec - (size_t)n, fmt, ap);
        n = m < 0 ? n : n + m;
    }
    if (n > MAXREC - 2) { /* too long: cut, and say so */
        n = MAXREC - 5;
        memcpy(rec + n, "...", 3);
        n += 3;
    }
    rec[n++] = '\n';
    pthread_mutex_lock(&mu);
    if (!started) {
        pthread_t th;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &a, writer, NULL) == 0) {
            started = true;
            atexit(flush_at_exit);
        }
        pthread_attr_destroy(&a);
    }
    if (!started) { /* no thread: write directly */
        pthread_mutex_unlock(&mu);
        ssize_t w = write(out_fd, rec, (size_t)n);
        (void)w;
        return;
    }
    char note[64];
    int nl = 0;
    if (dropped)
        nl = snprintf(note, sizeof note, "(%zu log records dropped)\n", dropped);
    if (RING - (head - tail) >= (size_t)(n + nl)) {
        if (nl) {
            put(note, (size_t)nl);
            dropped = 0;
        }
        put(rec, (size_t)n);
        pthread_cond_signal(&cv);
    } else {
        dropped++;
    }
    pthread_mutex_unlock(&mu);
}

void cio_log(int lvl, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cio_logv(lvl, name, fmt, ap);
    va_end(ap);
}
