/* SPDX-License-Identifier: MIT */
/* Internal helpers shared by the synchronisation primitives and queues
 * (and by src/net for its own waiter lists). */
#ifndef CIO_SYNC_SYNC_H
#define CIO_SYNC_SYNC_H

#include "core/internal.h"

/* A task waiting in a FIFO list (on the task's stack): asyncio's waiter
 * future.  A wake-up marks it done and makes its task ready. */
typedef struct cio__swait cio__swait;
struct cio__swait {
    cio__wait w;
    cio__link link;
    bool done; /* woken (a future with a result, not cancelled) */
};

/* Parks the current task at the back of list (cio__enter already done).
 * Returns the wake-up's status, or -ECANCELED: cancelled while waiting
 * (s->done false), or (if droppable) woken and then cancelled before it ran
 * (s->done true: the caller gives back what the wake-up meant).  s is
 * unlinked on return, from whichever list it is in by then. */
int cio__swait_park(cio__link *list, cio__swait *s, const char *what, bool droppable);

/* Takes the first waiter off list and wakes it with status; false if the
 * list was empty (asyncio's queues: _wakeup_next). */
bool cio__swait_wake_first(cio__link *list, int status);

/* The number of waiters in list (introspection: O(n)). */
size_t cio__swait_count(const cio__link *list);

/* The waiters of a lock-like primitive, as asyncio's _waiters deque: the
 * ones not woken yet, in FIFO order, and the woken ones that have not run
 * yet.  Those still count as waiters (locked(), len(_waiters)) and are
 * always ahead of the pending ones, as in the deque; a wake-up does not
 * hand anything over: the woken task takes the lock, permit or
 * notification when it runs, and if it was cancelled in between, the
 * cancellation wins and it passes the wake-up on.  Every operation but the
 * count is O(1), and a wake-up touches only the woken task's record. */
typedef struct cio__wlist {
    cio__link pending;
    size_t nwoken; /* woken, not run yet: they only need counting */
} cio__wlist;

void cio__wlist_init(cio__wlist *l);
static inline bool cio__wlist_empty(const cio__wlist *l) { return cio__list_empty(&l->pending) && !l->nwoken; }
/* Whether a woken waiter has not run yet (the deque's first is done). */
static inline bool cio__wlist_has_woken(const cio__wlist *l) { return l->nwoken > 0; }
size_t cio__wlist_count(const cio__wlist *l);
/* Parks at the back (droppable: a cancellation after the wake-up wins). */
int cio__wlist_park(cio__wlist *l, cio__swait *s, const char *what);
/* Wakes the first pending waiter with status 0; false if none. */
bool cio__wlist_wake_next(cio__wlist *l);
/* Wakes every pending waiter with status 0. */
void cio__wlist_wake_all(cio__wlist *l);

#endif
