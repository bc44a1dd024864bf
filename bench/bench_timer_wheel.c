/* SPDX-License-Identifier: MIT */
/* Timer benchmark: the timing wheel against a binary heap with an index per
 * node (the structure libuv and most loops use), both written here and
 * measured in the same run.
 *
 *   timer_add_cancel_1M   with 1,000,000 timers pending (deadlines 1 s..1 h),
 *                         arm and cancel one more timer, 10M times: the cost
 *                         of a network timeout that never fires.
 *   timer_expire_*        fire 1M (and 10k) timers: stepping a virtual clock
 *                         by 1 ms through the hour (a loop that wakes every
 *                         tick; ns per expire call), and in a single expire
 *                         call (a loop that slept through; ns per timer).
 *
 * Output: one "name ns=X" line per figure, the peer's line after it, then the
 * ratio. A benchmark reports; it never fails.
 */
#include "core/timer.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NPENDING 1000000u
#define NOPS 10000000u
#define SEC 1000000000ull
#define HOUR (3600 * SEC)
#define NDEADLINES 65536u    /* deadlines for the extra timer, drawn ahead of time */

static uint64_t rng_state = 42;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- peer: indexed binary min-heap on (when, seq) ---- */

typedef struct hnode {
    uint64_t when, seq;
    uint32_t idx;            /* position in the heap array, for O(log n) cancel */
} hnode;

typedef struct {
    hnode **a;
    uint32_t n;
    uint64_t seq;
} heap;

static inline int hless(const hnode *x, const hnode *y)
{
    return x->when < y->when || (x->when == y->when && x->seq < y->seq);
}

static inline void hset(heap *h, uint32_t i, hnode *x)
{
    h->a[i] = x;
    x->idx = i;
}

static void sift_up(heap *h, uint32_t i)
{
    hnode *x = h->a[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!hless(x, h->a[p]))
            break;
        hset(h, i, h->a[p]);
        i = p;
    }
    hset(h, i, x);
}

static void sift_down(heap *h, uint32_t i)
{
    hnode *x = h->a[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && hless(h->a[c + 1], h->a[c]))
            c++;
        if (!hless(h->a[c], x))
            break;
        hset(h, i, h->a[c]);
        i = c;
    }
    hset(h, i, x);
}

static void heap_add(heap *h, hnode *x)
{
    x->seq = h->seq++;
    hset(h, h->n++, x);
    sift_up(h, x->idx);
}

static void heap_del(heap *h, hnode *x)
{
    uint32_t i = x->idx;
    hnode *last = h->a[--h->n];
    if (last == x)
        return;
    hset(h, i, last);
    if (i > 0 && hless(last, h->a[(i - 1) / 2]))
        sift_up(h, i);
    else
        sift_down(h, i);
}

/* ---- wheel ---- */

static size_t fired;
static void on_fire(cio__timer *t)
{
    (void)t;
    fired++;
}

static void report(const char *name, double ns, const char *peer, double peer_ns)
{
    printf("%s ns=%.1f\n", name, ns);
    printf("%s ns=%.1f\n", peer, peer_ns);
    printf("  ratio %s / %s = %.2f\n", peer, name, peer_ns / ns);
}

/* Fire n timers (deadlines 1 s..1 h) two ways, wheel and heap side by side:
 * stepping the clock by 1 ms through the hour (a loop that wakes every
 * tick), and in one call after sleeping through it. The heap pops while its
 * minimum is due, as a heap-based loop does. */
static void bench_expire(uint32_t n, const char *label, uint64_t start, const uint64_t *deadline,
                         cio__timer *tm, hnode *hn, heap *h)
{
    static cio__wheel w;
    const uint64_t step = 1000000, end = start + HOUR + SEC;
    char name[96], peer[96];
    for (int bulk = 0; bulk < 2; bulk++) {
        cio__wheel_init(&w, start);
        h->n = 0;
        for (uint32_t i = 0; i < n; i++) {
            tm[i].when = hn[i].when = deadline[i];
            tm[i].fire = on_fire;
            tm[i].where = 0;
            cio__wheel_add(&w, &tm[i]);
            heap_add(h, &hn[i]);
        }
        fired = 0;
        uint64_t calls = 0;
        double t0 = now_s();
        if (bulk) {
            cio__wheel_expire(&w, end);
            calls = 1;
        } else {
            for (uint64_t now = start; now <= end; now += step, calls++)
                cio__wheel_expire(&w, now);
        }
        double wheel_s = now_s() - t0;
        size_t heap_fired = 0;
        t0 = now_s();
        for (uint64_t now = bulk ? end : start; now <= end; now += step) {
            while (h->n && h->a[0]->when <= now) {
                heap_del(h, h->a[0]);
                heap_fired++;
            }
        }
        double heap_s = now_s() - t0;
        if (fired != n || heap_fired != n) {
            fprintf(stderr, "fired %zu / %zu of %u\n", fired, heap_fired, n);
            exit(1);
        }
        if (bulk) {
            snprintf(name, sizeof name, "timer_expire_%s_bulk_per_timer", label);
            snprintf(peer, sizeof peer, "heap_expire_%s_bulk_per_timer", label);
            report(name, wheel_s * 1e9 / n, peer, heap_s * 1e9 / n);
        } else {
            /* Per call: with few timers most calls fire nothing, and the
             * per-timer figure would mostly measure empty calls. */
            snprintf(name, sizeof name, "timer_expire_%s_step1ms_per_call", label);
            snprintf(peer, sizeof peer, "heap_expire_%s_step1ms_per_call", label);
            report(name, wheel_s * 1e9 / (double)calls, peer, heap_s * 1e9 / (double)calls);
            printf("  (%llu calls; per timer fired: wheel %.1f ns, heap %.1f ns)\n",
                   (unsigned long long)calls, wheel_s * 1e9 / n, heap_s * 1e9 / n);
        }
    }
}

int main(void)
{
    const uint64_t start = 5 * HOUR + 123456789;    /* hours of uptime */
    uint64_t *deadline = malloc(NPENDING * sizeof *deadline);
    uint64_t *extra = malloc(NDEADLINES * sizeof *extra);
    cio__timer *tm = calloc(NPENDING, sizeof *tm);
    hnode *hn = calloc(NPENDING, sizeof *hn);
    heap h = { malloc((NPENDING + 1) * sizeof(hnode *)), 0, 0 };
    static cio__wheel w;      /* 4 KB of list heads: not on the stack */
    if (!deadline || !extra || !tm || !hn || !h.a) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (uint32_t i = 0; i < NPENDING; i++)
        deadline[i] = start + SEC + rnd() % (HOUR - SEC);
    for (uint32_t i = 0; i < NDEADLINES; i++)
        extra[i] = start + SEC + rnd() % (HOUR - SEC);

    /* Fill both structures with the same 1M deadlines. */
    cio__wheel_init(&w, start);
    double t0 = now_s();
    for (uint32_t i = 0; i < NPENDING; i++) {
        tm[i].when = deadline[i];
        tm[i].fire = on_fire;
        cio__wheel_add(&w, &tm[i]);
    }
    double wheel_fill = (now_s() - t0) * 1e9 / NPENDING;
    t0 = now_s();
    for (uint32_t i = 0; i < NPENDING; i++) {
        hn[i].when = deadline[i];
        heap_add(&h, &hn[i]);
    }
    double heap_fill = (now_s() - t0) * 1e9 / NPENDING;

    /* Arm and cancel one more timer, NOPS times; best of 3 runs. */
    double best_w = 1e30, best_h = 1e30;
    for (int run = 0; run < 3; run++) {
        cio__timer x = { .fire = on_fire };
        t0 = now_s();
        for (uint32_t i = 0; i < NOPS; i++) {
            x.when = extra[i & (NDEADLINES - 1)];
            cio__wheel_add(&w, &x);
            cio__wheel_del(&w, &x);
        }
        double ns = (now_s() - t0) * 1e9 / NOPS;
        if (ns < best_w)
            best_w = ns;

        hnode y = { 0, 0, 0 };
        t0 = now_s();
        for (uint32_t i = 0; i < NOPS; i++) {
            y.when = extra[i & (NDEADLINES - 1)];
            heap_add(&h, &y);
            heap_del(&h, &y);
        }
        ns = (now_s() - t0) * 1e9 / NOPS;
        if (ns < best_h)
            best_h = ns;
    }
    if (cio__wheel_count(&w) != NPENDING || h.n != NPENDING) {
        fprintf(stderr, "bench corrupted its structures\n");
        return 1;
    }
    report("timer_add_cancel_1M", best_w, "heap_add_cancel_1M", best_h);
    report("timer_fill_1M_per_add", wheel_fill, "heap_fill_1M_per_add", heap_fill);

    bench_expire(NPENDING, "1M", start, deadline, tm, hn, &h);
    bench_expire(10000, "10k", start, deadline, tm, hn, &h);

    free(deadline);
    free(extra);
    free(tm);
    free(hn);
    free(h.a);
    return 0;
}
