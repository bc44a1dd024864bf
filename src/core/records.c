/* SPDX-License-Identifier: MIT */
/* Task and future records: the loop's pool of task records, the debug
 * mode quarantine of released ones, and the reclaim pass that gives back
 * what a burst of tasks left behind (records, stacks, heap pages). */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim */
#endif

#define FREE_TASKS_MAX (256 * 1024) /* records kept for reuse: spawn bursts of 100k+ stay off malloc */
#define RECLAIM_DELAY 1.0           /* seconds between reclaim passes after a burst */
#define QUARANTINE 1024             /* debug mode: releases a dead record waits before reuse */

cio__task *cio__task_record_new(cio_loop *l)
{
    cio__task *t = l->free_tasks;
    if (!t)
        return malloc(sizeof *t);
    l->free_tasks = (cio__task *)t->rn.next;
    if (--l->nfree_tasks < l->free_tasks_low)
        l->free_tasks_low = l->nfree_tasks;
    return t;
}

/* Gives a dead record back: a task record to the loop's pool (or malloc),
 * a future to malloc. */
void cio__record_dispose(cio_loop *l, cio_future *f)
{
    if (!f->is_task) {
        free(f);
        return;
    }
    cio__task *t = cio__task_of(f);
    if (l && !l->closed && l->nfree_tasks < FREE_TASKS_MAX) {
        t->rn.next = (cio__rnode *)l->free_tasks;
        l->free_tasks = t;
        l->nfree_tasks++;
    } else {
        free(t);
    }
}

typedef struct cio__quarantine {
    size_t next;
    cio_future *slot[QUARANTINE];
} cio__quarantine;

static void quarantine_drain(cio_loop *l, void *arg)
{
    (void)arg;
    cio__quarantine *q = l->quarantine;
    l->quarantine = NULL;
    for (size_t i = 0; i < QUARANTINE; i++)
        if (q->slot[i])
            cio__record_dispose(l, q->slot[i]);
    free(q);
}

/* Debug mode: a dead record is reused (or freed) only QUARANTINE releases
 * later, so a second cio_release of it still finds refs == 0 and aborts
 * naming it, instead of dropping a reference of whoever got the record
 * next.  The ring is created while the loop runs and drained when it
 * closes (a shutdown hook).  Returns false when f was not taken. */
static bool quarantine_put(cio_loop *l, cio_future *f)
{
    if (!l->quarantine) {
        if (!l->running || !(l->quarantine = calloc(1, sizeof *l->quarantine)))
            return false;
        cio__loop_add_shutdown_hook(l, quarantine_drain, NULL);
        if (!l->quarantine)
            return false; /* no memory for the hook: it ran at once */
    }
    cio__quarantine *q = l->quarantine;
    cio_future *old = q->slot[q->next];
    q->slot[q->next] = f;
    q->next = (q->next + 1) % QUARANTINE;
    if (old)
        cio__record_dispose(l, old);
    return true;
}

/* Pooled task records below the pool's low-water mark were not drawn on
 * since the last pass: all but CIO__TASKS_KEEP of those go back to malloc (they
 * are scattered through the heap and would keep its pages resident).
 * Returns how many were freed. */
static size_t trim_task_pool(cio_loop *l)
{
    size_t cold = l->free_tasks_low < l->nfree_tasks ? l->free_tasks_low : l->nfree_tasks;
    size_t keep = l->nfree_tasks - cold + (cold < CIO__TASKS_KEEP ? cold : CIO__TASKS_KEEP);
    cio__task *t = l->free_tasks, *prev = NULL;
    for (size_t i = 0; i < keep && t; i++) {
        prev = t;
        t = (cio__task *)t->rn.next;
    }
    if (prev)
        prev->rn.next = NULL;
    else
        l->free_tasks = NULL;
    size_t freed = 0;
    while (t) {
        cio__task *next = (cio__task *)t->rn.next;
        free(t);
        freed++;
        t = next;
    }
    l->nfree_tasks -= freed;
    l->free_tasks_low = l->nfree_tasks;
    return freed;
}

/* After a burst (thousands of connections opened and closed, say), what
 * it left behind is given back, about a second after it ended: idle
 * stacks beyond the pool's hot limit, pooled task records nobody draws on,
 * and the heap's free pages, which glibc otherwise keeps resident for good
 * (it returns only the top of the heap by itself, and the freed buffers of
 * a burst sit below the records still alive).  Repeats while there is
 * more to give back once idle. */
static void reclaim_pass(void *arg)
{
    cio_loop *l = arg;
    /* the heap is trimmed once most of a burst is gone, not while a steady
     * load merely dips (trimming costs page faults when the load comes back) */
    bool burst = cio__stack_pool_burst_over(&l->stacks) && l->stacks.nout <= l->stacks.peak_out / 2;
    bool more = cio__stack_pool_reclaim(&l->stacks);
    size_t freed = trim_task_pool(l);
    more |= l->nfree_tasks > CIO__TASKS_KEEP;
#ifdef __GLIBC__
    if (burst || freed)
        malloc_trim(0);
#else
    (void)burst;
    (void)freed;
#endif
    l->stacks.reclaim_armed = false;
    if (more)
        cio__reclaim_arm(l);
}

void cio__reclaim_arm(cio_loop *l)
{
    if (cio_call_later(l, RECLAIM_DELAY, reclaim_pass, l, NULL) == 0)
        l->stacks.reclaim_armed = true;
}

void cio__record_retire(cio_loop *l, cio_future *f)
{
    if (l && l->debug && !l->closed && quarantine_put(l, f))
        return;
    cio__record_dispose(l, f);
}
