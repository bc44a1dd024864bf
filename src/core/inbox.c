/* SPDX-License-Identifier: MIT */
/* The loop's thread-safe inbox: callbacks and future results posted from
 * other threads (cio_call_soon_threadsafe, cio_loop_stop_threadsafe,
 * cio_future_set_*_threadsafe).  A poster appends a handle under ts_lock and
 * wakes the loop through its eventfd, once per batch; the loop moves the
 * batch to its ready queue (cio__ts_drain) when the eventfd turns readable
 * and before any new call_soon, so that order across threads is kept. */
#include "core/internal.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int ts_post(cio_loop *l, cio_callback cb, void *arg, cio_future *fut, cio_done_fn fcb)
{
    cio_handle *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->rn.kind = CIO__RN_HANDLE;
    h->loop = l;
    h->refs = 1;
    h->foreign = 1;
    h->cb = cb;
    h->arg = arg;
    h->fut = fut;
    h->fcb = fcb;
    pthread_mutex_lock(&l->ts_lock);
    if (l->closed) {
        pthread_mutex_unlock(&l->ts_lock);
        free(h);
        return CIO_ELOOPCLOSED;
    }
    if (l->ts_tail)
        l->ts_tail->ts_next = h;
    else
        l->ts_head = h;
    l->ts_tail = h;
    /* Coalesced wake-up: only the first poster since the loop last drained
     * writes the eventfd.  The write happens after unlocking (a loop woken
     * while we still hold the lock would only block on it), so the poster
     * registers itself in ts_posters first: cio_loop_close waits for it
     * before freeing the loop. */
    bool wake = atomic_exchange_explicit(&l->ts_pending, 1, memory_order_acq_rel) == 0;
    if (wake)
        atomic_fetch_add_explicit(&l->ts_posters, 1, memory_order_relaxed);
    pthread_mutex_unlock(&l->ts_lock);
    if (wake) {
        uint64_t one = 1;
        ssize_t r;
        do
            r = write(l->wake_fd, &one, sizeof one);
        while (r < 0 && errno == EINTR);
        atomic_fetch_sub_explicit(&l->ts_posters, 1, memory_order_release);
    }
    return 0;
}

int cio_call_soon_threadsafe(cio_loop *loop, cio_callback cb, void *arg)
{
    if (!loop)
        return CIO_ENOLOOP;
    return ts_post(loop, cb, arg, NULL, NULL);
}

void cio__ts_drain(cio_loop *l)
{
    atomic_store_explicit(&l->ts_pending, 0, memory_order_release);
    pthread_mutex_lock(&l->ts_lock);
    cio_handle *h = l->ts_head;
    l->ts_head = l->ts_tail = NULL;
    pthread_mutex_unlock(&l->ts_lock);
    while (h) {
        cio_handle *next = h->ts_next;
        cio__ready_push(l, &h->rn);
        h = next;
    }
}

void cio__wake_fd_readable(void *arg)
{
    cio_loop *l = arg;
    uint64_t v;
    while (read(l->wake_fd, &v, sizeof v) < 0 && errno == EINTR) {
    }
    cio__ts_drain(l);
}

static void fut_set_result_cb(cio_future *f, void *arg)
{
    if (!cio_done(f))
        cio_future_set_result(f, arg);
}

typedef struct ts_err {
    int code;
    char msg[];
} ts_err;

static void fut_set_error_cb(cio_future *f, void *arg)
{
    ts_err *e = arg;
    if (!cio_done(f))
        cio_future_set_error(f, e->code, e->msg[0] ? e->msg : NULL);
    free(e);
}

int cio_future_set_result_threadsafe(cio_future *f, void *value)
{
    /* f's loop pointer is only cleared by closing the loop, which the caller
     * must not race with (it holds a reference and the loop is alive); a
     * loop closed before the call is reported, not dereferenced. */
    if (!f->loop)
        return CIO_ELOOPCLOSED;
    return ts_post(f->loop, NULL, value, f, fut_set_result_cb);
}

int cio_future_set_error_threadsafe(cio_future *f, int code, const char *msg)
{
    if (!f->loop)
        return CIO_ELOOPCLOSED;
    size_t n = msg ? strlen(msg) : 0;
    ts_err *e = malloc(sizeof *e + n + 1);
    if (!e)
        return -ENOMEM;
    e->code = code;
    memcpy(e->msg, msg ? msg : "", n + 1);
    int rc = ts_post(f->loop, NULL, e, f, fut_set_error_cb);
    if (rc < 0)
        free(e);
    return rc;
}

void cio__ts_close(cio_loop *l)
{
    /* Anything posted from other threads before closed was set is dropped.
     * closed is set under the lock that posters read it under; a poster that
     * got in first is done with the loop once it unlocks. */
    pthread_mutex_lock(&l->ts_lock);
    l->closed = true;
    cio_handle *h = l->ts_head;
    l->ts_head = l->ts_tail = NULL;
    pthread_mutex_unlock(&l->ts_lock);
    while (atomic_load_explicit(&l->ts_posters, memory_order_acquire)) /* a poster still writing the eventfd */
        sched_yield();
    while (h) {
        cio_handle *next = h->ts_next;
        if (h->fcb == fut_set_error_cb)
            free(h->arg);
        h->loop = NULL;
        cio__handle_unref(h);
        h = next;
    }
}
