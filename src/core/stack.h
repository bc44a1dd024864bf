/* SPDX-License-Identifier: MIT */
/* Coroutine stack pool: stacks carved from large lazily-committed slabs,
 * recycled through per-size-class LIFO free lists, with guard pages where
 * the kernel's map limit allows and canaries where it does not.  The
 * rationale is in the block comment at the top of stack.c.
 *
 * One pool per event loop; single-threaded, no locks.  The pool struct is
 * defined here so it can be embedded, but its fields are private except
 * where noted.
 */
#ifndef CIO_CORE_STACK_H
#define CIO_CORE_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Smallest and largest size class; requests above the largest class get a
 * mapping of their own. */
#define CIO__STACK_MIN_CLASS   ((size_t)16 << 10)
#define CIO__STACK_MAX_CLASS   ((size_t)8 << 20)
#define CIO__STACK_NCLASSES    10      /* 16 KiB, 32 KiB, ..., 8 MiB */
#define CIO__STACK_DEFAULT     ((size_t)128 << 10)

/* Requests below a page get a compact stack: unguarded slots of a multiple
 * of CIO__STACK_PACKED_STEP bytes (at least CIO__STACK_PACKED_MIN) packed
 * back to back in slabs, several to a page, each with a canary at its
 * lowest word (see "Compact stacks" in stack.c). */
#define CIO__STACK_PACKED_STEP ((size_t)128)
#define CIO__STACK_PACKED_MIN  ((size_t)512)
#define CIO__STACK_NPACKED     32      /* 128 B, 256 B, ..., 4 KiB */

/* Free stacks per class kept as they are before the coldest get trimmed.
 * Each holds the pages its last task touched (typically 8-16 KiB), so this
 * bounds what an idle pool keeps resident to a few MiB per class; stacks
 * beyond it are trimmed only once idle for a second (see trim_cold in
 * stack.c), so a steady load that reuses them never pays for it. */
#ifndef CIO__STACK_HOT_MAX
#define CIO__STACK_HOT_MAX 256
#endif

/* How a stack is protected against overflow. */
enum {
    CIO__STACK_GUARD_NONE = 0,   /* canary word at lo only */
    CIO__STACK_GUARD_MADVISE,    /* MADV_GUARD_INSTALL page (no VMA split) */
    CIO__STACK_GUARD_MPROTECT    /* PROT_NONE page (splits the VMA) */
};

typedef struct cio__stack_slot cio__stack_slot;   /* private, stack.c */
typedef struct cio__stack_slab cio__stack_slab;   /* private, stack.c */

typedef struct cio__stack {
    void *lo;           /* lowest usable address (just above the guard, if any) */
    size_t size;        /* usable bytes (multiple of the page size) */
    /* private */
    cio__stack_slot *slot_;     /* the pool's record of this stack */
    size_t guard_size_;         /* bytes of guard just below lo; 0 = canary */
} cio__stack;

struct cio__stack_class {
    cio__stack_slot *hot;        /* free, most recently used first */
    cio__stack_slot *hot_tail;   /* coldest of the hot list, trimmed first */
    cio__stack_slot *clean;      /* free and trimmed: nothing resident */
    size_t nhot;
    cio__stack_slab *carving;    /* slab with never-used slots, or NULL */
};

typedef struct cio__stack_pool {
    size_t default_size;
    size_t page;
    /* Public for tests: how the next new stack will be guarded.  Starts as
     * CIO__STACK_GUARD_MADVISE and drops to MPROTECT the first time the
     * kernel rejects MADV_GUARD_INSTALL.  A test may set it to MPROTECT or
     * NONE right after init to exercise the fallbacks. */
    int guard_mode;
    bool guard_probed;           /* MADV_GUARD_INSTALL seen to really work */
    size_t nguarded;             /* stacks carrying a guard page */
    size_t nmprotect;            /* of those, mprotect guards (global budget) */
    size_t nout;                 /* stacks handed out and not put back */
    uint32_t trim_epoch;         /* bumped at every trim check (at most 1/s) */
    uint32_t trim_puts;          /* puts since the last trim check */
    uint64_t trim_last_ns;       /* CLOCK_MONOTONIC of the last trim check */
    size_t peak_out;             /* most stacks out at once since the last reclaim pass */
    /* Public: a reclaim pass is scheduled (the loop's business, core/task.c) */
    bool reclaim_armed;
    cio__stack_slab *slabs;      /* every slab and large mapping */
    struct cio__stack_class classes[CIO__STACK_NCLASSES];
    struct cio__stack_class packed[CIO__STACK_NPACKED];   /* never trimmed */
} cio__stack_pool;

/* Initialise an empty pool; maps nothing yet.  default_size 0 -> 128 KiB. */
void cio__stack_pool_init(cio__stack_pool *p, size_t default_size);

/* Unmap every slab and give back this pool's share of the process-wide
 * mprotect guard budget.  All stacks must have been put back. */
void cio__stack_pool_destroy(cio__stack_pool *p);

/* Hand out a stack of at least size usable bytes (0 -> the pool default):
 * below a page, a compact stack (rounded up to CIO__STACK_PACKED_STEP, at
 * least CIO__STACK_PACKED_MIN; under AddressSanitizer four times that plus
 * 8 KiB, rounded up to a KiB); otherwise rounded up to a power of two
 * between 16 KiB and 8 MiB, or to whole pages above that.  Never touches the stack memory, which therefore holds
 * whatever the previous user left there.  Fills *out and returns 0, or
 * returns -ENOMEM.  The caller owns the stack until cio__stack_put. */
int cio__stack_get(cio__stack_pool *p, size_t size, cio__stack *out);

/* Hands the memory of every free stack beyond the hot limit back to the
 * kernel now, however recently it was used (cio__stack_put does this by
 * itself for stacks idle a second or more). */
void cio__stack_pool_trim(cio__stack_pool *p);

/* Whether a burst of tasks has ended: at least CIO__STACK_BURST fewer
 * stacks are out now than at the peak since the last reclaim pass.  Cheap:
 * checked at every task's end to decide whether to schedule a pass. */
#define CIO__STACK_BURST 256
static inline bool cio__stack_pool_burst_over(const cio__stack_pool *p)
{
    return p->peak_out - p->nout >= CIO__STACK_BURST;
}

/* One reclaim pass, meant to run about once a second after a burst (the
 * loop schedules it, core/task.c): hands back to the kernel the free
 * stacks beyond the hot limit that nobody reused since the previous pass,
 * and starts a new peak.  Returns true while free stacks beyond the limit
 * are still resident (reused since the last pass: a later pass trims them
 * once they stay idle). */
bool cio__stack_pool_reclaim(cio__stack_pool *p);

/* Give a stack back to the pool.  Must not be called while running on that
 * stack if anything could cio__stack_get it before the switch away. */
void cio__stack_put(cio__stack_pool *p, cio__stack *s);

/* True if fault_addr lies in this stack's guard page.  Async-signal-safe,
 * meant for a SIGSEGV handler running on an alternate signal stack. */
bool cio__stack_is_guard_fault(const cio__stack *s, const void *fault_addr);

/* For stacks without a guard page: is the canary word at lo intact?
 * Always true for guarded stacks.  Cheap enough for every switch-out. */
bool cio__stack_canary_ok(const cio__stack *s);

/* Bytes of the stack ever touched, measured from the top (the deepest point
 * any user of this stack reached since it was carved or last trimmed).
 * Costs one mincore call and a scan of one page; for debug dumps. */
size_t cio__stack_high_water(const cio__stack *s);

/* How many stacks of this pool currently carry a guard page. */
size_t cio__stack_pool_guarded(const cio__stack_pool *p);

#endif /* CIO_CORE_STACK_H */
