/* SPDX-License-Identifier: MIT */
/* Barrier: asyncio's state machine (filling, draining, resetting, broken).
 *
 * asyncio builds it on a Condition whose lock is never held across a
 * suspension, so here the condition is a plain waiter list: every state
 * change wakes all waiters (notify_all) and each re-checks its own
 * predicate.  Tasks released by the last party drain out of wait() while
 * the barrier is DRAINING; newcomers block until the last one has left, so
 * a reset or abort during draining only affects the cycle it was meant for. */
#include "sync/sync.h"

#include <stdlib.h>

enum { B_FILLING, B_DRAINING, B_RESETTING, B_BROKEN };

struct cio_barrier {
    size_t parties;
    size_t count; /* tasks inside wait() */
    int state;
    cio__wlist waiters;
};

cio_barrier *cio_barrier_new(size_t parties)
{
    if (parties == 0) {
        errno = EINVAL;
        return NULL;
    }
    cio_barrier *b = calloc(1, sizeof *b);
    if (!b) {
        errno = ENOMEM;
        return NULL;
    }
    b->parties = parties;
    cio__wlist_init(&b->waiters);
    return b;
}

void cio_barrier_free(cio_barrier *b) { free(b); }
size_t cio_barrier_parties(const cio_barrier *b) { return b->parties; }
size_t cio_barrier_n_waiting(const cio_barrier *b) { return b->state == B_FILLING ? b->count : 0; }
bool cio_barrier_broken(const cio_barrier *b) { return b->state == B_BROKEN; }

const char *cio_barrier_state(const cio_barrier *b)
{
    static const char *const names[] = {"filling", "draining", "resetting", "broken"};
    return names[b->state];
}

static int barrier_park(cio_barrier *b)
{
    cio__task *t;
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    cio__swait s;
    return cio__wlist_park(&b->waiters, &s, "barrier");
}

static bool passing(int state) { return state == B_DRAINING || state == B_RESETTING; }

int cio_barrier_wait(cio_barrier *b)
{
    /* Block while the previous cycle drains or resets. */
    while (passing(b->state)) {
        int rc = barrier_park(b);
        if (rc)
            return rc;
    }
    if (b->state == B_BROKEN)
        return CIO_EBROKENBARRIER;
    size_t index = b->count;
    if (index + 1 < b->parties && !cio__current())
        return CIO_ENOTASK; /* would have to wait */
    b->count++;
    int rc = 0;
    if (index + 1 == b->parties) {
        b->state = B_DRAINING; /* the last party releases everyone */
        cio__wlist_wake_all(&b->waiters);
    } else {
        while (rc == 0 && b->state == B_FILLING)
            rc = barrier_park(b);
        if (rc == 0 && b->state != B_DRAINING)
            rc = CIO_EBROKENBARRIER; /* reset or aborted */
    }
    /* The last task out ends draining or resetting. */
    if (--b->count == 0) {
        if (passing(b->state))
            b->state = B_FILLING;
        cio__wlist_wake_all(&b->waiters);
    }
    return rc ? rc : (int)index;
}

void cio_barrier_abort(cio_barrier *b)
{
    b->state = B_BROKEN;
    cio__wlist_wake_all(&b->waiters);
}

void cio_barrier_reset(cio_barrier *b)
{
    b->state = b->count > 0 ? B_RESETTING : B_FILLING;
    cio__wlist_wake_all(&b->waiters);
}
