/* SPDX-License-Identifier: MIT */
/* The loop's pass over the TLS streams whose coalesced writes wait (see
 * net.h): a list per loop, and one call_soon callback armed when the list
 * stops being empty, which sends each stream's bytes in the next
 * iteration.  A stream leaves the list when it is flushed or freed, so the
 * pass never sees freed memory; the list itself goes at loop close (a
 * callback still queued then never runs). */
#include "net/net.h"

#include <stdlib.h>

typedef struct deferred_list {
    cio__link streams;
    bool armed; /* the pass is queued */
} deferred_list;

/* The loop's shutdown hook: the streams still listed stay valid (their
 * owners free them), unlinked. */
static void deferred_shutdown(cio_loop *l, void *arg)
{
    (void)l;
    deferred_list *d = arg;
    while (cio__list_pop_front(&d->streams)) {
    }
    free(d);
}

static void run_pass(void *arg)
{
    deferred_list *d = arg;
    d->armed = false;
    cio__link *n;
    while ((n = cio__list_pop_front(&d->streams)))
        cio__stream_flush_deferred(CIO__CONTAINER_OF(n, cio_stream, deferred));
}

static deferred_list *list_of(cio_loop *l)
{
    deferred_list *d = cio__loop_hook_arg(l, deferred_shutdown);
    if (d)
        return d;
    if (!(d = calloc(1, sizeof *d)))
        return NULL;
    cio__list_init(&d->streams);
    cio__loop_add_shutdown_hook(l, deferred_shutdown, d);
    return cio__loop_hook_arg(l, deferred_shutdown); /* NULL: no memory for the hook, which freed d */
}

bool cio__stream_defer(cio_stream *s)
{
    if (cio__linked(&s->deferred))
        return true;
    deferred_list *d = list_of(s->loop);
    if (!d)
        return false;
    if (!d->armed) {
        if (cio_call_soon(s->loop, run_pass, d, NULL) < 0)
            return false;
        d->armed = true;
    }
    cio__list_push_back(&d->streams, &s->deferred);
    return true;
}

void cio__stream_undefer(cio_stream *s)
{
    if (cio__linked(&s->deferred))
        cio__list_remove(&s->deferred);
}
