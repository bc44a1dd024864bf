/* Internal helpers shared by the synchronisation primitives and queues. */
#ifndef CIO_SYNC_SYNC_H
#define CIO_SYNC_SYNC_H

#include "core/internal.h"

/* A task waiting in a primitive's FIFO list (on the task's stack): asyncio's
 * waiter future.  A wake-up marks it done and makes its task ready; it only
 * takes what it was woken for (a lock, a permit, an item) when it runs
 * again, so a cancellation that lands in between wins, as in asyncio: the
 * waiter returns -ECANCELED and passes the wake-up on to the next waiter.
 * Nothing is handed over before the waiter runs, so nothing can be lost. */
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
 * unlinked on return.  (The sync primitives all pass droppable.) */
int cio__swait_park(cio__link *list, cio__swait *s, const char *what, bool droppable);

/* Wakes the first waiter of list that is not done yet, with status; it
 * stays in the list until it runs if keep (asyncio's locks count it among
 * the waiters until then), else it leaves the list now (queues).  Returns
 * false if every waiter was already woken. */
bool cio__swait_wake_next(cio__link *list, int status, bool keep);

/* cio__swait_wake_next without keep. */
static inline bool cio__swait_wake_first(cio__link *list, int status)
{
    return cio__swait_wake_next(list, status, false);
}

/* Wakes every waiter not woken yet (kept in the list until they run). */
void cio__swait_wake_all(cio__link *list, int status);

/* The number of waiters in list (woken ones that have not run included). */
size_t cio__swait_count(const cio__link *list);

#endif
