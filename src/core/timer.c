/* SPDX-License-Identifier: MIT */
/* Hierarchical timing wheel.
 *
 * Why a wheel: network timeouts are armed on every read and nearly always
 * cancelled, so add and delete must be O(1) and touch as little memory as
 * possible; a heap pays O(log n) cache misses for both.
 *
 * Ticks. A timer's tick is floor(when / 2^20). The tick only chooses where a
 * timer waits; whether it fires is decided on the exact `when` (see "due"
 * below), so flooring instead of rounding up cannot fire anything early, and
 * a timer is ready in the very tick its deadline falls in, so it fires on
 * time rather than up to a tick late. Ticks of any uint64_t fit in 44 bits.
 *
 * Levels. Eight levels of 64 slots; level L is digit L of the tick written in
 * base 64. w->tick is the wheel's position. A timer with tick T > w->tick goes
 * to the level of the highest base-64 digit in which T and w->tick differ,
 * into the slot named by T's digit there. So T agrees with the position on
 * every digit above its level and is strictly greater at its level. Three
 * facts follow, and the whole design rests on them:
 *  - everything at level L is earlier than everything at level L+1, so the
 *    earliest slot of the wheel is the lowest set bit of the lowest non-empty
 *    level: two ctz on the occupancy bitmaps, no scan;
 *  - that slot's first possible tick ("start": the position's higher digits,
 *    the slot's digit, zeros below) is a lower bound for every armed timer in
 *    the wheel, which is what cio__wheel_timeout reports;
 *  - the position may jump straight to any tick below that start without
 *    moving a single timer (each still agrees with it above its level and is
 *    still greater at it), so long idle gaps cost nothing, and an empty wheel
 *    just sets its position.
 * Advancing to tick N therefore repeats: find the earliest slot; if its start
 * is beyond N, stop; else set the position to that start and re-place the
 * slot's timers, which now differ from the position only below their old
 * level and so drop to lower levels, or, at level 0, become ready. Each timer
 * is re-placed at most once per level, i.e. at most 8 times in its life.
 * This is classic cascading, driven by the bitmaps rather than by stepping
 * through ticks. No deadline ever overflows: the position and every tick fit
 * in 44 bits, so starts shifted back to ns stay below 2^64.
 *
 * Due. Timers whose tick is <= the position are "ready". They first go, in no
 * order and in O(1), onto the pending list: that is where a cascade drops
 * them and where cio__wheel_add puts a deadline that is already near or past.
 * The pending list is then sorted by (when, seq) with a linked-list merge
 * sort and merged into the due list, which is kept sorted. Sorting in
 * batches, rather than inserting one by one, keeps add O(1) even when
 * thousands of already-past timers are added between two expires. The
 * advance sorts in each slot's batch as it drains it: ticks come out in
 * increasing order, so each batch belongs after everything already due, and
 * the merge point is searched from the due list's tail, making the usual
 * case an append; after a long sleep this is many small cache-hot sorts
 * instead of one huge cache-cold one. Expire then pops the due list while
 * head->when <= now. Timers of the current tick whose exact deadline is
 * still ahead stay sorted at its head, so later expires in the same tick
 * cost O(1) and fire them exactly on time.
 *
 * Poll timeout. After the same advance, the due list's head, if any, is the
 * exact earliest deadline; otherwise the earliest slot's start is a lower
 * bound, early by at most that slot's span (one tick at level 0, 64^L ticks
 * at level L). Sleeping to such a bound and expiring moves the earliest
 * timer down at least one level, so a loop that always sleeps the full
 * timeout wakes at most 8 times in a row without firing anything. The
 * position never runs ahead of the clock: pre-cascading to get an exact
 * answer would put every timer armed before that point on the sorted list.
 *
 * Horizon. w->horizon caches the earliest slot's start (adds lower it,
 * advances recompute it, deletes may leave it early), so the common expire
 * that reaches no slot costs a compare instead of the bitmap walk.
 *
 * Timers added during expire. Expire merges the pending list only once,
 * before the first callback, and the wheel has already been advanced to now.
 * A callback's new timer thus lands in a slot (future tick) or on the pending
 * list, never on the due list being drained, so it cannot fire in this call,
 * and re-arming at delay 0 cannot loop. Deleting any timer from a callback is
 * an ordinary O(1) unlink from whatever list `where` names.
 *
 * Lists are NULL-terminated and doubly linked with their heads in one array;
 * `where` is the head's index + 1, so unlinking needs no search and, for a
 * slot, tells which occupancy bit to clear when the slot empties. Pushing at
 * the head writes only the new timer, the head and the old first timer.
 */
#include "timer.h"

#include <assert.h>

#define NSLOTS (CIO__WHEEL_LEVELS * CIO__WHEEL_SLOTS)
#define DUE NSLOTS              /* lists[] index of the sorted due list */
#define PEND (NSLOTS + 1)       /* lists[] index of the unsorted pending list */
#define SLOT_MASK (CIO__WHEEL_SLOTS - 1)

static inline uint64_t tick_of(uint64_t ns) { return ns >> CIO__TICK_SHIFT; }

static inline void push(cio__wheel *w, unsigned idx, cio__timer *t)
{
    cio__timer *head = w->lists[idx];
    t->prev = NULL;
    t->next = head;
    if (head)
        head->prev = t;
    w->lists[idx] = t;
    t->where = idx + 1;
}

static inline void place(cio__wheel *w, cio__timer *t)
{
    uint64_t tick = tick_of(t->when);
    if (tick <= w->tick) {
        push(w, PEND, t);
        return;
    }
    unsigned level = (unsigned)(63 - __builtin_clzll(tick ^ w->tick)) / CIO__WHEEL_BITS;
    unsigned shift = level * CIO__WHEEL_BITS;
    unsigned slot = (unsigned)(tick >> shift) & SLOT_MASK;
    push(w, level * CIO__WHEEL_SLOTS + slot, t);
    w->occupied[level] |= (uint64_t)1 << slot;
    w->levels |= 1u << level;
    uint64_t start = tick >> shift << shift;
    if (start < w->horizon)
        w->horizon = start;
}

/* First tick the earliest non-empty slot can hold; w->levels must be != 0. */
static inline uint64_t earliest_start(const cio__wheel *w, unsigned *level_out, unsigned *slot_out)
{
    unsigned level = (unsigned)__builtin_ctz(w->levels);
    unsigned slot = (unsigned)__builtin_ctzll(w->occupied[level]);
    unsigned shift = level * CIO__WHEEL_BITS;
    *level_out = level;
    *slot_out = slot;
    return ((w->tick >> shift >> CIO__WHEEL_BITS << CIO__WHEEL_BITS) | slot) << shift;
}

static inline bool before(const cio__timer *a, const cio__timer *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

/* Merge two next-linked sorted lists. seq is unique, so no stability issue. */
static cio__timer *merge(cio__timer *a, cio__timer *b)
{
    cio__timer head, *tail = &head;
    while (a && b) {
        if (before(b, a)) {
            tail->next = b;
            b = b->next;
        } else {
            tail->next = a;
            a = a->next;
        }
        tail = tail->next;
    }
    tail->next = a ? a : b;
    return head.next;
}

/* Bottom-up merge sort of a next-linked list: bin[i] holds a sorted run of
 * 2^i timers, like a binary counter, so there is no recursion and no
 * allocation. Also marks every timer as being on the due list. */
static cio__timer *sort_to_due(cio__timer *list)
{
    cio__timer *bin[64];
    unsigned used = 0;
    while (list) {
        cio__timer *run = list;
        list = list->next;
        run->next = NULL;
        run->where = DUE + 1;
        unsigned i = 0;
        for (; i < used && bin[i]; i++) {
            run = merge(bin[i], run);
            bin[i] = NULL;
        }
        bin[i] = run;
        if (i == used)
            used++;
    }
    cio__timer *out = NULL;
    for (unsigned i = 0; i < used; i++)
        if (bin[i])
            out = merge(bin[i], out);
    return out;
}

/* Links x after tail on the due list (at its head when tail is NULL). */
static inline void due_link(cio__wheel *w, cio__timer *tail, cio__timer *x)
{
    x->prev = tail;
    if (tail)
        tail->next = x;
    else
        w->lists[DUE] = x;
}

/* Sort the pending list into the due list. Newly ready timers nearly always
 * sort after everything already due (cascades hand them over in tick order),
 * so the merge point is searched from the tail: the common case appends in
 * O(k log k) for k new timers, whatever the due list's length. */
static void settle(cio__wheel *w)
{
    cio__timer *b = w->lists[PEND];
    if (!b)
        return;
    w->lists[PEND] = NULL;
    b = sort_to_due(b);

    cio__timer *tail = w->due_tail, *x;
    while (tail && before(b, tail))
        tail = tail->prev;
    cio__timer *a = tail ? tail->next : w->lists[DUE];
    while (a && b) {
        if (before(b, a)) {
            x = b;
            b = b->next;
        } else {
            x = a;
            a = a->next;
        }
        due_link(w, tail, x);
        tail = x;
    }
    if (a) {
        /* The rest of the old list follows, links and tail intact. */
        due_link(w, tail, a);
        return;
    }
    for (; b; b = b->next) {
        due_link(w, tail, b);
        tail = b;
    }
    w->due_tail = tail;
}

static void advance(cio__wheel *w, uint64_t tick)
{
    w->horizon = UINT64_MAX;
    while (w->levels) {
        unsigned level, slot;
        uint64_t start = earliest_start(w, &level, &slot);
        if (start > tick) {
            w->horizon = start;
            break;
        }
        w->tick = start;
        unsigned idx = level * CIO__WHEEL_SLOTS + slot;
        cio__timer *t = w->lists[idx];
        w->lists[idx] = NULL;
        w->occupied[level] &= ~((uint64_t)1 << slot);
        if (!w->occupied[level])
            w->levels &= ~(1u << level);
        while (t) {
            cio__timer *next = t->next;
            place(w, t);
            t = next;
        }
        /* Sort each tick's timers in as they come: a small, cache-hot
         * batch appended at the tail, instead of one huge cache-cold sort
         * after a long sleep. */
        if (w->lists[PEND])
            settle(w);
    }
    if (tick > w->tick)
        w->tick = tick;
}

/* Bring the wheel to now: every timer whose tick has come is on the sorted
 * due list afterwards. */
static inline void catch_up(cio__wheel *w, uint64_t now_ns)
{
    uint64_t tick = tick_of(now_ns);
    if (tick >= w->horizon || w->lists[PEND]) {
        advance(w, tick);
        settle(w);
    } else if (tick > w->tick) {
        w->tick = tick;   /* no slot can be reached: skip the bitmap walk */
    }
}

void cio__wheel_init(cio__wheel *w, uint64_t now_ns)
{
    w->tick = tick_of(now_ns);
    w->seq = 0;
    w->count = 0;
    w->levels = 0;
    w->expiring = 0;
    w->due_tail = NULL;
    w->horizon = UINT64_MAX;
    for (unsigned i = 0; i < CIO__WHEEL_LEVELS; i++)
        w->occupied[i] = 0;
    for (unsigned i = 0; i < CIO__WHEEL_NLISTS; i++)
        w->lists[i] = NULL;
}

void cio__wheel_add(cio__wheel *w, cio__timer *t)
{
    assert(t->where == 0 && "timer already armed");
    t->seq = w->seq++;
    w->count++;
    place(w, t);
}

void cio__wheel_del(cio__wheel *w, cio__timer *t)
{
    uint32_t where = t->where;
    if (!where)
        return;
    unsigned idx = where - 1;
    if (t->prev)
        t->prev->next = t->next;
    else
        w->lists[idx] = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else if (idx == DUE)
        w->due_tail = t->prev;
    t->where = 0;
    w->count--;
    if (idx < NSLOTS && !w->lists[idx]) {
        unsigned level = idx / CIO__WHEEL_SLOTS;
        w->occupied[level] &= ~((uint64_t)1 << (idx & SLOT_MASK));
        if (!w->occupied[level])
            w->levels &= ~(1u << level);
    }
}

int64_t cio__wheel_timeout(cio__wheel *w, uint64_t now_ns)
{
    if (!w->count)
        return -1;
    /* Settling now makes the answer exact for ready timers and saves the
     * loop a zero-timeout round trip. Not from a callback, though: settling
     * there would let timers added during expire fire in the same call. */
    if (!w->expiring)
        catch_up(w, now_ns);
    if (w->lists[PEND])
        return 0;
    uint64_t at;
    /* Due timers have ticks <= the position and wheel timers ticks above
     * it, so a non-empty due list always holds the earliest deadline. */
    if (w->lists[DUE]) {
        at = w->lists[DUE]->when;
    } else {
        unsigned level, slot;
        at = earliest_start(w, &level, &slot) << CIO__TICK_SHIFT;
    }
    if (at <= now_ns)
        return 0;
    uint64_t d = at - now_ns;
    return d > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)d;
}

size_t cio__wheel_expire(cio__wheel *w, uint64_t now_ns)
{
    assert(!w->expiring && "cio__wheel_expire is not re-entrant");
    catch_up(w, now_ns);

    size_t fired = 0;
    cio__timer *t;
    w->expiring = 1;
    while ((t = w->lists[DUE]) && t->when <= now_ns) {
        w->lists[DUE] = t->next;
        if (t->next)
            t->next->prev = NULL;
        else
            w->due_tail = NULL;
        t->where = 0;
        w->count--;
        fired++;
        t->fire(t);
    }
    w->expiring = 0;
    return fired;
}
