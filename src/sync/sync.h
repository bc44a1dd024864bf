/* Internal helpers shared by the synchronisation primitives and queues. */
#ifndef CIO_SYNC_SYNC_H
#define CIO_SYNC_SYNC_H

#include "core/internal.h"

/* A task waiting in a primitive's FIFO queue (on the task's stack). */
typedef struct cio__swait cio__swait;
struct cio__swait {
    cio__wait w;
    cio__link link;
    void *item;                        /* queues: the item handed over */
    void (*on_cancel)(cio__swait *s);  /* optional: undo bookkeeping when cancelled */
};

/* Parks the current task at the back of queue (cio__enter already done).
 * Returns the status given to cio__swait_wake_first, or -ECANCELED. */
int cio__swait_park(cio__link *queue, cio__swait *s, const char *what, bool droppable);

/* Wakes the first waiter of queue with status; false if there was none. */
bool cio__swait_wake_first(cio__link *queue, int status);

static inline cio__swait *cio__swait_first(cio__link *queue)
{
    return cio__list_empty(queue) ? NULL : CIO__CONTAINER_OF(queue->next, cio__swait, link);
}

#endif
