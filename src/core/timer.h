/* SPDX-License-Identifier: MIT */
/* Timers: a hierarchical timing wheel with O(1) add and O(1) cancel.
 *
 * Internal to cio. The loop embeds one cio__wheel, arms cio__timer records
 * that live inside the objects waiting on them (tasks, wait_for, deadlines),
 * asks cio__wheel_timeout how long it may block in the back end, and calls
 * cio__wheel_expire after every wait. See timer.c for how it works and why.
 *
 * Ownership: the wheel never allocates and never frees. A timer is owned by
 * whoever embeds it; while armed the wheel links it into its lists, so it must
 * not be freed or moved until it has fired or been deleted.
 *
 * Time: every value is nanoseconds of the loop's monotonic clock
 * (CLOCK_MONOTONIC). Any uint64_t is accepted, UINT64_MAX included ("never").
 */
#ifndef CIO_CORE_TIMER_H
#define CIO_CORE_TIMER_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

/* A tick is 2^20 ns (~1.05 ms) so that time -> tick is a shift. */
#define CIO__TICK_SHIFT 20
#define CIO__WHEEL_BITS 6                       /* 64 slots per level */
#define CIO__WHEEL_SLOTS (1u << CIO__WHEEL_BITS)
/* 44 bits of tick (UINT64_MAX >> 20) need ceil(44 / 6) = 8 levels; the wheel
 * therefore covers the whole uint64_t range, not just "100 years". */
#define CIO__WHEEL_LEVELS 8
#define CIO__WHEEL_NLISTS (CIO__WHEEL_LEVELS * CIO__WHEEL_SLOTS + 2)

typedef struct cio__timer cio__timer;
struct cio__timer {
    cio__timer *next, *prev;      /* intrusive links (slot list or due list) */
    uint64_t when;                /* deadline in ns on the loop's monotonic clock; set by the caller before add */
    uint64_t seq;                 /* set by the wheel on add: insertion order, breaks ties */
    void (*fire)(cio__timer *t);  /* set by the caller: called when the timer expires */
    uint32_t where;               /* private: 0 = not armed, else which list it's on */
};

typedef struct cio__wheel {
    /* Every armed timer whose deadline tick is <= tick is on the due or the
     * pending list; every other one is in a wheel slot. */
    uint64_t tick;
    uint64_t seq;                 /* next insertion number */
    size_t count;                 /* armed timers */
    uint32_t levels;              /* bit L set iff occupied[L] != 0 */
    uint32_t expiring;            /* inside cio__wheel_expire's callback loop */
    cio__timer *due_tail;         /* last timer of the due list */
    /* Never later than the first tick of the earliest occupied slot (a
     * delete may leave it early), so expire can skip the bitmaps. */
    uint64_t horizon;
    uint64_t occupied[CIO__WHEEL_LEVELS];   /* bit s set iff slot s of level L is non-empty */
    /* Heads of NULL-terminated doubly linked lists: the level/slot lists,
     * then the due list (sorted by (when, seq)), then the pending list
     * (due-tick timers not yet sorted into it). timer->where is index + 1. */
    cio__timer *lists[CIO__WHEEL_NLISTS];
} cio__wheel;

/* Empties the wheel and sets its clock to now_ns. Any previously armed
 * timers are forgotten (their records are not touched). */
void cio__wheel_init(cio__wheel *w, uint64_t now_ns);

/* Arms t, which must not be armed, for t->when; stamps t->seq. O(1).
 * A timer that was never armed must have where == 0 (zero-initialise it);
 * after firing or cio__wheel_del it can be re-armed as is.
 * A deadline at or before now is allowed: the timer fires at the next
 * cio__wheel_expire whose now is >= t->when. */
void cio__wheel_add(cio__wheel *w, cio__timer *t);

/* Disarms t. O(1). No-op if t is not armed. Safe from inside a fire
 * callback, for any timer, including one that is due in the same expire
 * (it then does not fire) and the one whose callback is running. */
void cio__wheel_del(cio__wheel *w, cio__timer *t);

static inline bool cio__timer_armed(const cio__timer *t) { return t->where != 0; }

/* Number of armed timers. */
static inline size_t cio__wheel_count(const cio__wheel *w) { return w->count; }

/* How long the loop may block, in ns: -1 if no timer is armed, 0 if some
 * timer has when <= now_ns, else a positive value never later than the
 * earliest deadline (it may be earlier: a wake-up can be early, never late).
 * O(levels), plus any cascading work that expire would have done anyway
 * (the wheel is advanced to now_ns, except when called from a callback).
 * Values beyond INT64_MAX are clamped to INT64_MAX. */
int64_t cio__wheel_timeout(cio__wheel *w, uint64_t now_ns);

/* Fires every timer with when <= now_ns in (when, seq) order, each exactly
 * once, and returns how many fired. Each timer is disarmed before its
 * callback runs. Callbacks may add and delete any timers; a timer added
 * during this call never fires in it, even if already past (it fires at the
 * next call), so a callback re-arming at delay 0 cannot loop forever.
 * Not re-entrant: a callback must not call cio__wheel_expire. */
size_t cio__wheel_expire(cio__wheel *w, uint64_t now_ns);

#endif
