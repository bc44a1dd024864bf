/* SPDX-License-Identifier: MIT */
/* Coroutine stack pool.
 *
 * Design notes: why stacks look the way they do
 * ---------------------------------------------
 * The target is a million concurrently parked tasks on a stock Linux
 * (vm.max_map_count = 65530, vm.overcommit_memory = 0) at about 8 KiB of
 * resident memory each, with spawning costing no system call in the steady
 * state.  Three things follow.
 *
 * 1. No mmap per stack.  Stacks are carved out of slabs: one
 *    mmap(PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE) of
 *    about 32 MiB serves ~248 stacks of the default 128 KiB.  Sizes are
 *    rounded up to a power of two from 16 KiB to 8 MiB, one slab chain and
 *    one free list per size class; larger stacks get a mapping of their own
 *    and are unmapped on put.  A slab is carved lazily from its low end, so
 *    a slot costs nothing until a task first asks for it, and freed stacks
 *    go onto a LIFO list so the next spawn reuses the stack whose pages are
 *    already resident and in cache.  Each slot is [guard page][stack].
 *
 * 2. Lazily committed.  The pool never writes to a stack on get or put (no
 *    memset, no free-list link inside the stack: the pool's bookkeeping
 *    lives in a separate malloc'd array per slab), so a parked task costs
 *    only the pages it touched, typically the top page or two.  MAP_NORESERVE
 *    keeps the slabs out of the commit charge under the default heuristic
 *    overcommit (it does not help with vm.overcommit_memory = 2, where a
 *    million 128 KiB stacks need 128 GiB of commit).  Transparent huge pages
 *    are switched off for slabs: one 2 MiB page would otherwise back the
 *    tops of sixteen unrelated stacks.  Nothing is zeroed when a stack comes
 *    back, so a new task sees the previous task's garbage, exactly like a
 *    thread stack; to keep that garbage from pinning memory forever, when
 *    more than CIO__STACK_HOT_MAX free stacks of one class pile up, those
 *    not reused for a second or more are handed back to the kernel with
 *    MADV_DONTNEED (checked at most once a second, see trim_cold: a burst
 *    of spawns that reuses its stacks never pays for it).
 *
 * 3. Guard pages where the memory map allows.  The classic guard page is
 *    mprotect(PROT_NONE), and every one splits a VMA: a slab of n guarded
 *    stacks becomes 2n+1 mappings, and the kernel refuses to go past
 *    vm.max_map_count (65530) mappings per process, at which point mmap,
 *    mprotect and even malloc start failing.  So a million stacks cannot all
 *    have mprotect guards.  In order of preference:
 *
 *    a. madvise(MADV_GUARD_INSTALL) (Linux 6.13+) puts a guard marker in the
 *       page tables without touching the VMA, so every stack gets a real
 *       guard at no map cost.  Support is probed on the first stack a pool
 *       carves; EINVAL means an older kernel and switches the pool to b, as
 *       does a guard that reads like ordinary memory (emulators such as
 *       qemu-user accept and ignore unknown advice).
 *    b. mprotect guards, but only for the first CIO__STACK_MPROTECT_BUDGET
 *       stacks of the whole process (a global atomic counter, because the
 *       map limit is per process, not per loop).  That costs at most about
 *       2 * 16384 mappings and leaves half the limit to everybody else.
 *    c. Past the budget, no guard: a 64-bit canary at the stack's lowest
 *       address, which the task layer checks each time a task switches out
 *       (cio__stack_canary_ok).  That detects an overflow after the fact
 *       rather than preventing it, so the report names the culprit but the
 *       neighbour may already be damaged; the unguarded page below the
 *       canary (the slot keeps its layout) absorbs the first 4 KiB of an
 *       overflow.  The canary also keeps the bottom page resident, which is
 *       why the budget per unguarded task is ~8 KiB rather than ~4 KiB.
 *
 *    A guard is installed once, when a slot is first carved out of a slab,
 *    never on get or put, so recycling a stack is a free-list pop.  Even a
 *    guard page only catches overflows that touch it: a frame larger than a
 *    page can jump over it unless the code is built with
 *    -fstack-clash-protection.
 *
 * 4. Compact stacks, for tasks that park in large numbers.  A parked task
 *    keeps the pages its stack touched, at least one: 4 KiB plus its
 *    record.  Below a page the kernel cannot help, so a request for less
 *    than a page (CIO_STACK_COMPACT in cio.h) gets a slot of that size,
 *    rounded up to 128 bytes, packed back to back with other compact slots
 *    in a slab of their own: no guard page (it would cost a page per
 *    stack), a canary at the slot's lowest word instead, checked at every
 *    switch out as in 3c.  A task parked on a future needs about 400 bytes
 *    of stack (cio_gather about 960), so a 640-byte slot plus the 248-byte
 *    task record (256 with malloc's header) and the pool's 32 bytes of
 *    bookkeeping come to 928 bytes.
 *
 *    Why not copied stacks, as libaco does (every task runs on one big
 *    shared stack; at a switch the used part is copied out to a buffer of
 *    its size and back in when the task resumes)?  They would let compact
 *    tasks call deep C code and take signals, but a copied-out stack is not
 *    at its address while another task runs, and cio keeps the records of
 *    every wait on the parked task's stack (cio__wait, linked into the
 *    awaited future's callback list, the timer wheel, fd and lock waiter
 *    lists): completing a future would walk a list through another task's
 *    frames.  Moving every wait record off the stack (21 call sites in six
 *    modules) would also cost a malloc or a per-task side record on every
 *    suspension; packed stacks keep every address valid for free.
 *
 *    The price of packing, documented in cio.h: a compact task must stay
 *    shallow (no printf, getaddrinfo, TLS or other deep C call chains), an
 *    overflow is detected after the fact at the next switch out (the slot
 *    below, another task's live frames, may already be damaged: the report
 *    then aborts), and a signal handler must not run on a compact stack
 *    (the kernel's signal frame is up to 3.4 KiB with AVX-512: cio's
 *    handlers use SA_ONSTACK and a running loop's thread has an alternate
 *    stack, signal.c; the user's own handlers need SA_ONSTACK).  Compact slots are never
 *    handed back to the kernel (a slot is smaller than a page); freed ones
 *    are reused LIFO, so a pool holds the peak of its compact tasks.
 *    Fresh compact slabs are populated 64 KiB at a time
 *    (MADV_POPULATE_WRITE) when carving reaches them, so a burst of new
 *    compact tasks takes one system call per 16 pages rather than a page
 *    fault per 4 tasks.  On a shadow-paging virtual machine (ours) that
 *    saves only the guest's part: there a page costs about 17 us at its
 *    first touch, or 1 us to populate plus 11 us at its first touch (the
 *    hypervisor fills its own page table then), so a fresh task costs
 *    about 11 us per 4 KiB it touches whatever cio does; compact tasks
 *    touch a quarter of a page.
 *
 * 5. Why the task record is not at the top of its stack (which would make
 *    a parked default-mode task cost exactly its one page, 4096 bytes,
 *    rather than 4096 + 256 + 32).  A record lives from cio_spawn until
 *    its last reference goes, a stack only while the task runs or is
 *    parked: it is taken at the first run and given back the moment the
 *    task ends.  A record inside the stack ties the two together, so every
 *    task spawned but not yet run and every finished task someone still
 *    holds (gather's children until gather returns, a list of tasks
 *    awaited later, cio_result after done) would pin a stack and the page
 *    its record touched: a gather of 100,000 short tasks, which today runs
 *    them one after another on one hot stack with 256-byte records (25
 *    MiB), would take 100,000 stacks and 400 MiB, and the first round a
 *    page fault per task.  Records must also outlive the loop (cio.h), so
 *    slabs holding them could not be unmapped at cio_loop_close, and a
 *    reference released after the close (on any thread) would have to
 *    find and free its orphaned slab.  And 4096 would still not be reached
 *    while the pool keeps its per-slot bookkeeping outside the stacks.
 *
 * Sanitizers: under AddressSanitizer a stack is unpoisoned on get (only if
 * the previous task left redzones behind, so untouched shadow stays
 * uncommitted); under Valgrind every stack is registered with
 * VALGRIND_STACK_REGISTER when carved and deregistered when unmapped.
 */
/* pipe2, MAP_ANONYMOUS, madvise and friends are not in ISO C. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "stack.h"
#include "sanitizer.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Bytes of a compact slab populated at once; see 4 above. */
#define PACKED_POPULATE ((size_t)64 << 10)

/* Bytes of address space per slab. */
#ifndef CIO__STACK_SLAB_BYTES
#define CIO__STACK_SLAB_BYTES ((size_t)32 << 20)
#endif

/* Process-wide number of mprotect guard pages; see 3b above. */
#ifndef CIO__STACK_MPROTECT_BUDGET
#define CIO__STACK_MPROTECT_BUDGET 16384
#endif

#define CANARY UINT64_C(0xC10057AC4CA4A21E)

#if defined(CIO__ASAN)
#  include <sanitizer/asan_interface.h>
#  define NO_ASAN __attribute__((no_sanitize_address))
#else
#  define NO_ASAN
#endif

#if !defined(CIO_NO_VALGRIND) && defined(__has_include)
#  if __has_include(<valgrind/valgrind.h>)
#    include <valgrind/valgrind.h>
#    define CIO__VALGRIND 1
#  endif
#endif

enum { SLOT_OUT, SLOT_HOT, SLOT_CLEAN };

#define LARGE_CLASS 0xff
#define PACKED_CLASS 0x80 /* cls | PACKED_CLASS: pool->packed[cls] */
#define IS_PACKED(cls) ((cls) != LARGE_CLASS && ((cls) & PACKED_CLASS))

/* AddressSanitizer's frames carry redzones and its interceptors (even
 * clock_gettime's) take kilobytes of stack: there a compact request gets
 * four times its size plus ASAN_EXTRA, in steps of a KiB. */
#if defined(CIO__ASAN)
#define PACKED_STEP ((size_t)1024)
#define ASAN_EXTRA ((size_t)8192)
#else
#define PACKED_STEP CIO__STACK_PACKED_STEP
#endif

/* 32 bytes per carved slot, resident for as long as its slab is mapped,
 * so part of what every parked task costs: the stack's size follows from
 * its class (slot_size_of), and Valgrind's stack ids, needed only to
 * deregister, are kept by the slab, and only when running on Valgrind. */
struct cio__stack_slot {
    cio__stack_slot *next;      /* free lists */
    cio__stack_slot *prev;      /* hot list only (trimming takes the tail) */
    char *lo;
    uint32_t put_mark;          /* the pool's trim epoch when last put back */
    unsigned char guard;        /* CIO__STACK_GUARD_* */
    unsigned char cls;          /* class index or LARGE_CLASS */
    unsigned char state;        /* SLOT_* */
};

struct cio__stack_slab {
    cio__stack_slab *next, *prev;   /* all slabs of the pool */
    char *base;
    size_t len;                     /* bytes mapped */
    size_t size;                    /* usable bytes per stack */
    size_t slot_size;               /* guard page + size */
    size_t nslots, ncarved;
    unsigned *vg_ids;               /* Valgrind's ids of the carved stacks, or NULL */
    cio__stack_slot slots[];
};

static atomic_size_t mprotect_used;

static bool budget_take(void)
{
    size_t n = atomic_load_explicit(&mprotect_used, memory_order_relaxed);

    do {
        if (n >= CIO__STACK_MPROTECT_BUDGET)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&mprotect_used, &n, n + 1,
                                                    memory_order_relaxed,
                                                    memory_order_relaxed));
    return true;
}

static void budget_give(size_t n)
{
    atomic_fetch_sub_explicit(&mprotect_used, n, memory_order_relaxed);
}

#define CIO__STACK_MIN_SHIFT 14 /* CIO__STACK_MIN_CLASS == 1 << 14 */
_Static_assert(CIO__STACK_MIN_CLASS == (size_t)1 << CIO__STACK_MIN_SHIFT, "class arithmetic");

static size_t class_size(unsigned cls)
{
    if (cls & PACKED_CLASS)
        return ((cls & ~PACKED_CLASS) + 1) * PACKED_STEP;
    return CIO__STACK_MIN_CLASS << cls;
}

/* A large stack is the one slot of its own slab. */
static cio__stack_slab *large_slab(cio__stack_slot *s)
{
    return (cio__stack_slab *)((char *)s - offsetof(cio__stack_slab, slots));
}

/* Usable bytes of s's stack. */
static size_t slot_size_of(cio__stack_slot *s)
{
    return s->cls == LARGE_CLASS ? large_slab(s)->size : class_size(s->cls);
}

static struct cio__stack_class *class_of(cio__stack_pool *p, unsigned cls)
{
    return cls & PACKED_CLASS ? &p->packed[cls & ~PACKED_CLASS] : &p->classes[cls];
}

void cio__stack_pool_init(cio__stack_pool *p, size_t default_size)
{
    long page = sysconf(_SC_PAGESIZE);

    memset(p, 0, sizeof *p);
    p->page = page > 0 ? (size_t)page : 4096;
    p->default_size = default_size ? default_size : CIO__STACK_DEFAULT;
    p->guard_mode = CIO__STACK_GUARD_MADVISE;
}

/* Map a slab of nslots stacks of size usable bytes, each above guard bytes
 * (a page, or 0 for compact slots), and link it in; the slots are carved
 * later, one by one. */
static cio__stack_slab *slab_new(cio__stack_pool *p, size_t size, size_t guard, size_t nslots)
{
    size_t slot_size = size + guard;
    size_t len = slot_size * nslots;
    cio__stack_slab *sl;
    void *base;
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;

#ifdef MAP_STACK
    flags |= MAP_STACK;
#endif
    sl = malloc(sizeof *sl + nslots * sizeof sl->slots[0]);
    if (!sl)
        return NULL;
    sl->vg_ids = NULL;
#if defined(CIO__VALGRIND)
    if (RUNNING_ON_VALGRIND)
        sl->vg_ids = calloc(nslots, sizeof *sl->vg_ids); /* NULL: stacks unregistered */
#endif
    base = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (base == MAP_FAILED) {
        free(sl->vg_ids);
        free(sl);
        return NULL;
    }
#ifdef MADV_NOHUGEPAGE
    /* Advisory: failure only costs memory. */
    (void)madvise(base, len, MADV_NOHUGEPAGE);
#endif
    sl->base = base;
    sl->len = len;
    sl->size = size;
    sl->slot_size = slot_size;
    sl->nslots = nslots;
    sl->ncarved = 0;
    sl->prev = NULL;
    sl->next = p->slabs;
    if (p->slabs)
        p->slabs->prev = sl;
    p->slabs = sl;
    return sl;
}

static void slab_free(cio__stack_pool *p, cio__stack_slab *sl)
{
    for (size_t i = 0; i < sl->ncarved; i++) {
        cio__stack_slot *s = &sl->slots[i];
#if defined(CIO__VALGRIND)
        if (sl->vg_ids)
            VALGRIND_STACK_DEREGISTER(sl->vg_ids[i]);
#endif
        if (s->guard != CIO__STACK_GUARD_NONE)
            p->nguarded--;
        if (s->guard == CIO__STACK_GUARD_MPROTECT) {
            p->nmprotect--;
            budget_give(1);
        }
    }
    if (sl->prev)
        sl->prev->next = sl->next;
    else
        p->slabs = sl->next;
    if (sl->next)
        sl->next->prev = sl->prev;
    munmap(sl->base, sl->len);
    free(sl->vg_ids);
    free(sl);
}

/* Some environments (qemu-user, for one) answer 0 to any madvise advice
 * they do not know, which would leave every stack silently unguarded.  A
 * real guard makes the kernel fail to copy from it, without side effects. */
static bool guard_is_real(const char *guard)
{
    int fds[2];
    bool real;

    if (pipe2(fds, O_CLOEXEC) != 0)
        return true;            /* cannot tell; believe the kernel */
    real = write(fds[1], guard, 1) < 0 && errno == EFAULT;
    close(fds[0]);
    close(fds[1]);
    return real;
}

/* Turn the page below lo into a guard, or failing that write the canary. */
static unsigned char install_guard(cio__stack_pool *p, char *guard, char *lo)
{
    if (p->guard_mode == CIO__STACK_GUARD_MADVISE) {
        if (madvise(guard, p->page, MADV_GUARD_INSTALL) == 0) {
            if (p->guard_probed)
                return CIO__STACK_GUARD_MADVISE;
            if (guard_is_real(guard)) {
                p->guard_probed = true;
                return CIO__STACK_GUARD_MADVISE;
            }
            errno = EINVAL;
        }
        /* Anything but a transient failure means this kernel (or valgrind)
         * does not know the advice; stop asking. */
        if (errno != ENOMEM && errno != EAGAIN && errno != EINTR)
            p->guard_mode = CIO__STACK_GUARD_MPROTECT;
    }
    if (p->guard_mode != CIO__STACK_GUARD_NONE && budget_take()) {
        if (mprotect(guard, p->page, PROT_NONE) == 0) {
            p->nmprotect++;
            return CIO__STACK_GUARD_MPROTECT;
        }
        /* Typically ENOMEM at the map limit; the canary still works. */
        budget_give(1);
    }
    memcpy(lo, &(uint64_t){CANARY}, sizeof(uint64_t));
    return CIO__STACK_GUARD_NONE;
}

static cio__stack_slot *carve(cio__stack_pool *p, cio__stack_slab *sl,
                              unsigned char cls)
{
    cio__stack_slot *s = &sl->slots[sl->ncarved];
    size_t off = sl->ncarved * sl->slot_size;
    char *guard = sl->base + off;
    char *lo = guard + (sl->slot_size - sl->size);

    sl->ncarved++;
    s->next = s->prev = NULL;
    s->lo = lo;
    s->cls = cls;
    s->state = SLOT_OUT;
    if (IS_PACKED(cls)) {
        /* Advisory (Linux 5.14+): without it the slots fault in one by one. */
        if (off % PACKED_POPULATE < sl->slot_size) {
            size_t from = off - off % PACKED_POPULATE;
            size_t n = sl->len - from < PACKED_POPULATE ? sl->len - from : PACKED_POPULATE;
            (void)madvise(sl->base + from, n, MADV_POPULATE_WRITE);
        }
        memcpy(lo, &(uint64_t){CANARY}, sizeof(uint64_t));
        s->guard = CIO__STACK_GUARD_NONE;
    } else {
        s->guard = install_guard(p, guard, lo);
    }
    if (s->guard != CIO__STACK_GUARD_NONE)
        p->nguarded++;
#if defined(CIO__VALGRIND)
    if (sl->vg_ids)
        sl->vg_ids[s - sl->slots] = VALGRIND_STACK_REGISTER(lo, lo + sl->size);
#endif
    return s;
}

static cio__stack_slot *get_large(cio__stack_pool *p, size_t size)
{
    cio__stack_slab *sl;

    if (size > SIZE_MAX / 2)
        return NULL;
    size = (size + p->page - 1) & ~(p->page - 1);
    sl = slab_new(p, size, p->page, 1);
    return sl ? carve(p, sl, LARGE_CLASS) : NULL;
}

static cio__stack_slot *get_class(cio__stack_pool *p, unsigned cls)
{
    struct cio__stack_class *c = class_of(p, cls);
    cio__stack_slot *s;

    if ((s = c->hot) != NULL) {
        c->hot = s->next;
        if (c->hot)
            c->hot->prev = NULL;
        else
            c->hot_tail = NULL;
        c->nhot--;
        return s;
    }
    if ((s = c->clean) != NULL) {
        c->clean = s->next;
        return s;
    }
    if (!c->carving || c->carving->ncarved == c->carving->nslots) {
        size_t size = class_size(cls);
        size_t guard = IS_PACKED(cls) ? 0 : p->page;
        size_t n = CIO__STACK_SLAB_BYTES / (size + guard);
        c->carving = slab_new(p, size, guard, n ? n : 1);
        if (!c->carving)
            return NULL;
    }
    return carve(p, c->carving, (unsigned char)cls);
}

int cio__stack_get(cio__stack_pool *p, size_t size, cio__stack *out)
{
    cio__stack_slot *s = NULL;
    unsigned cls = 0;

    if (size == 0)
        size = p->default_size;
    if (size < p->page && size < CIO__STACK_NPACKED * CIO__STACK_PACKED_STEP) {
        if (size < CIO__STACK_PACKED_MIN)
            size = CIO__STACK_PACKED_MIN;
#if defined(CIO__ASAN)
        size = size * 4 + ASAN_EXTRA;
#endif
        cls = (unsigned)((size + PACKED_STEP - 1) / PACKED_STEP - 1) | PACKED_CLASS;
    } else if (size < p->page) {
        cls = 0;
    } else if (size > CIO__STACK_MAX_CLASS) {
        s = get_large(p, size);
        cls = LARGE_CLASS;
    } else if (size > CIO__STACK_MIN_CLASS) {
        /* the smallest power of two >= size, as a class (no loop: every
         * spawn comes here) */
        cls = (unsigned)(64 - __builtin_clzll((unsigned long long)size - 1)) - CIO__STACK_MIN_SHIFT;
    }
    if (cls != LARGE_CLASS)
        s = get_class(p, cls);
    if (!s)
        return -ENOMEM;
    s->state = SLOT_OUT;
    if (++p->nout > p->peak_out)
        p->peak_out = p->nout;
    out->lo = s->lo;
    out->size = cls == LARGE_CLASS ? large_slab(s)->size : class_size(cls);
    out->slot_ = s;
    out->guard_size_ = s->guard != CIO__STACK_GUARD_NONE ? p->page : 0;
#if defined(CIO__ASAN)
    /* The previous task's frames left redzones in the shadow; checking
     * first avoids committing shadow pages for stacks never poisoned. */
    if (__asan_region_is_poisoned(out->lo, out->size))
        __asan_unpoison_memory_region(out->lo, out->size);
#endif
    return 0;
}

/* Give the coldest hot stack's pages back to the kernel. */
static void trim_one(struct cio__stack_class *c)
{
    cio__stack_slot *s = c->hot_tail;
    size_t size = slot_size_of(s);
    char *lo = s->lo;

    c->hot_tail = s->prev;
    if (c->hot_tail)
        c->hot_tail->next = NULL;
    else
        c->hot = NULL;
    c->nhot--;
    (void)madvise(lo, size, MADV_DONTNEED);
    if (s->guard == CIO__STACK_GUARD_NONE)
        memcpy(lo, &(uint64_t){CANARY}, sizeof(uint64_t));
    s->state = SLOT_CLEAN;
    s->prev = NULL;
    s->next = c->clean;
    c->clean = s;
}

/* Starts a trim check: bumps the epoch and returns the mark below which
 * stacks were put back before the previous check. */
static uint32_t trim_check(cio__stack_pool *p, uint64_t now)
{
    uint32_t mark = p->trim_epoch;
    p->trim_epoch++;
    p->trim_last_ns = now;
    return mark;
}

/* Trims the class's coldest stacks beyond the hot limit that were not
 * reused since the check that returned mark; returns whether any beyond
 * the limit are left. */
static bool trim_idle(struct cio__stack_class *c, uint32_t mark)
{
    while (c->nhot > CIO__STACK_HOT_MAX && c->hot_tail && (int32_t)(c->hot_tail->put_mark - mark) < 0)
        trim_one(c);
    return c->nhot > CIO__STACK_HOT_MAX;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Trimming is gated by time: at most once a second, and only stacks that
 * were not reused since the previous check (a second or more idle) go back
 * to the kernel.  A loop that spawns and finishes 100k tasks over and over
 * keeps reusing the same hot stacks and never pays an madvise + page faults
 * per task; memory above the hot limit is returned once the burst is over
 * (at the next put after it, or by the loop's reclaim pass when no put
 * comes). */
static void trim_cold(cio__stack_pool *p, struct cio__stack_class *c)
{
    uint64_t now = now_ns();
    if (now - p->trim_last_ns < 1000000000u)
        return;
    trim_idle(c, trim_check(p, now));
}

bool cio__stack_pool_reclaim(cio__stack_pool *p)
{
    uint32_t mark = trim_check(p, now_ns());
    bool more = false;
    for (int i = 0; i < CIO__STACK_NCLASSES; i++)
        more |= trim_idle(&p->classes[i], mark);
    p->peak_out = p->nout;
    return more;
}

void cio__stack_pool_trim(cio__stack_pool *p)
{
    for (int i = 0; i < CIO__STACK_NCLASSES; i++)
        while (p->classes[i].nhot > CIO__STACK_HOT_MAX)
            trim_one(&p->classes[i]);
}

void cio__stack_put(cio__stack_pool *p, cio__stack *st)
{
    cio__stack_slot *s = st->slot_;
    struct cio__stack_class *c;

    /* A double put would hand one stack to two tasks; cheap enough to
     * always check. */
    if (!s || s->state != SLOT_OUT || s->lo != st->lo)
        abort();
    st->slot_ = NULL;
    st->lo = NULL;
    st->size = 0;
    p->nout--;
    if (s->cls == LARGE_CLASS) {
        slab_free(p, large_slab(s));
        return;
    }
    c = class_of(p, s->cls);
    s->state = SLOT_HOT;
    s->prev = NULL;
    s->next = c->hot;
    if (c->hot)
        c->hot->prev = s;
    else
        c->hot_tail = s;
    c->hot = s;
    s->put_mark = p->trim_epoch;
    if (++c->nhot > CIO__STACK_HOT_MAX && !IS_PACKED(s->cls) && (++p->trim_puts & 1023) == 0)
        trim_cold(p, c);
}

void cio__stack_pool_destroy(cio__stack_pool *p)
{
    assert(p->nout == 0 && "cio__stack_pool_destroy: stacks still in use");
    while (p->slabs)
        slab_free(p, p->slabs);
    memset(p->classes, 0, sizeof p->classes);
    memset(p->packed, 0, sizeof p->packed);
}

bool cio__stack_is_guard_fault(const cio__stack *s, const void *fault_addr)
{
    uintptr_t a = (uintptr_t)fault_addr, lo = (uintptr_t)s->lo;

    return s->guard_size_ != 0 && a < lo && a >= lo - s->guard_size_;
}

/* The canary sits where an overflowing frame may have left ASan redzones. */
NO_ASAN bool cio__stack_canary_ok(const cio__stack *s)
{
    uint64_t v;

    if (s->guard_size_ != 0)
        return true;
    memcpy(&v, s->lo, sizeof v);
    return v == CANARY;
}

/* Reads memory below other stacks' stack pointers: ASan may have it
 * poisoned and Valgrind considers it dead, neither matters here. */
NO_ASAN static const char *first_nonzero(const char *from, const char *to)
{
    for (const volatile uint64_t *w = (const volatile uint64_t *)from;
         (const char *)w < to; w++)
        if (*w != 0)
            return (const char *)w;
    return NULL;
}

size_t cio__stack_high_water(const cio__stack *s)
{
    const cio__stack_slot *slot = s->slot_;
    size_t page, npages, chunk = 256;
    unsigned char vec[256];
    char *lo = s->lo, *top = lo + s->size;
    size_t result = 0;

    if (!slot)
        return 0;
    if (IS_PACKED(slot->cls)) {
        /* Resident by construction; only the canary is not a sign of use. */
        const char *hit = first_nonzero(lo + sizeof(uint64_t), top);
        return hit ? (size_t)(top - hit) : 0;
    }
    page = (size_t)sysconf(_SC_PAGESIZE); /* the guard's size, guard or not */
    npages = s->size / page;
#if defined(CIO__VALGRIND)
    VALGRIND_DISABLE_ERROR_REPORTING;
#endif
    for (size_t i = 0; i < npages && result == 0; i += chunk) {
        size_t n = npages - i < chunk ? npages - i : chunk;

        if (mincore(lo + i * page, n * page, vec) != 0) {
            result = s->size;           /* cannot tell: assume the worst */
            break;
        }
        for (size_t j = 0; j < n; j++) {
            const char *pg = lo + (i + j) * page, *hit;

            if (!(vec[j] & 1))
                continue;
            /* An unguarded stack's canary is not a sign of use. */
            if (pg == lo && s->guard_size_ == 0)
                hit = first_nonzero(pg + sizeof(uint64_t), pg + page);
            else
                hit = first_nonzero(pg, pg + page);
            if (hit) {
                result = (size_t)(top - hit);
                break;
            }
        }
    }
#if defined(CIO__VALGRIND)
    VALGRIND_ENABLE_ERROR_REPORTING;
#endif
    return result;
}

size_t cio__stack_pool_guarded(const cio__stack_pool *p)
{
    return p->nguarded;
}
