/* SPDX-License-Identifier: MIT */
/* Timing wheel tests on a virtual clock: time only moves when the test says
 * so, which makes "fired exactly when due" checkable to the nanosecond and
 * lets a test cross years without sleeping.
 *
 * Usage: test_timer [NAME...] runs every test, or only those named
 * (test_empty, test_random, ...: lib/select.h); test_timer --seed N runs
 * every test with seed N for the randomised ones (test_random, test_churn),
 * which are deterministic for a seed.  Exit 0 = pass; on failure, a message
 * naming the check and exit 1.
 */
#include "core/timer.h"
#include "lib/select.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TICK ((uint64_t)1 << CIO__TICK_SHIFT)
#define MS 1000000ull
#define SEC 1000000000ull
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n  ", __FILE__,         \
                    __LINE__, #cond);                                        \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

/* ---- deterministic randomness ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n) { return n ? rnd() % n : 0; }

/* Spread evenly over orders of magnitude in [2^lo, 2^hi), so every wheel
 * level gets its share instead of nearly everything landing on the top one. */
static uint64_t rnd_log(unsigned lo, unsigned hi)
{
    unsigned b = lo + (unsigned)rnd_below(hi - lo);
    return ((uint64_t)1 << b) + (rnd() & (((uint64_t)1 << b) - 1));
}

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- test timers and the virtual loop ---- */

enum { IDLE, ARMED, FIRED, DELETED };

typedef struct ttimer ttimer;
struct ttimer {
    cio__timer t;
    uint32_t id;
    int state;
    int fires;
    uint64_t fired_at;
    void (*hook)(ttimer *self);
    void *arg;
    uint64_t added_in;   /* g_calls when last armed */
};

#define TT(tp) ((ttimer *)((char *)(tp) - offsetof(ttimer, t)))

static cio__wheel W;
static uint64_t g_now;        /* now of the expire call in progress */
static uint64_t g_prev_now;   /* now of the previous expire call */
static uint64_t g_calls;      /* expire calls started so far */
static int g_first_call;      /* no expire yet since the timers were added */
static int g_strict;          /* check "not fired by an earlier call" */
static uint32_t *g_log;
static size_t g_nlog, g_caplog;

static void log_reset(void) { g_nlog = 0; }

static void on_fire(cio__timer *t)
{
    ttimer *x = TT(t);
    CHECK(!cio__timer_armed(t), "timer %u still armed in its callback", x->id);
    CHECK(x->state == ARMED, "timer %u fired in state %d", x->id, x->state);
    CHECK(t->when <= g_now, "timer %u fired %llu ns early", x->id,
          (unsigned long long)(t->when - g_now));
    if (g_strict)
        CHECK(g_first_call || t->when > g_prev_now,
              "timer %u fired late: due at %llu, previous expire at %llu", x->id,
              (unsigned long long)t->when, (unsigned long long)g_prev_now);
    x->fires++;
    x->fired_at = g_now;
    x->state = FIRED;
    if (g_nlog == g_caplog) {
        g_caplog = g_caplog ? 2 * g_caplog : 1024;
        g_log = realloc(g_log, g_caplog * sizeof *g_log);
        CHECK(g_log, "out of memory");
    }
    g_log[g_nlog++] = x->id;
    if (x->hook)
        x->hook(x);
}

static void tt_init(ttimer *x, uint32_t id, uint64_t when)
{
    memset(x, 0, sizeof *x);
    x->id = id;
    x->t.when = when;
    x->t.fire = on_fire;
}

static void tt_add(ttimer *x)
{
    x->state = ARMED;
    x->added_in = g_calls;
    cio__wheel_add(&W, &x->t);
}

static void tt_del(ttimer *x)
{
    cio__wheel_del(&W, &x->t);
    if (x->state == ARMED)
        x->state = DELETED;
}

static size_t run_expire(uint64_t now)
{
    g_now = now;
    g_calls++;
    size_t n = cio__wheel_expire(&W, now);
    g_prev_now = now;
    g_first_call = 0;
    return n;
}

static void wheel_start(uint64_t now)
{
    cio__wheel_init(&W, now);
    g_now = g_prev_now = now;
    g_first_call = 1;
    g_strict = 0;
    log_reset();
}

/* White-box: with nothing armed, no slot may still claim to be occupied
 * (a stale bit would not break results, only make timeouts needlessly early
 * and advances visit empty slots). */
static void check_drained(void)
{
    CHECK(cio__wheel_count(&W) == 0, "count %zu", cio__wheel_count(&W));
    CHECK(W.levels == 0, "level bits 0x%x left", W.levels);
    for (unsigned l = 0; l < CIO__WHEEL_LEVELS; l++)
        CHECK(W.occupied[l] == 0, "level %u bitmap 0x%llx left", l,
              (unsigned long long)W.occupied[l]);
    for (unsigned i = 0; i < CIO__WHEEL_NLISTS; i++)
        CHECK(W.lists[i] == NULL, "list %u not empty", i);
}

/* ---- the randomised reference test ---- */

static ttimer *R;     /* timers of the randomised test, for the comparator */

static int cmp_ref(const void *a, const void *b)
{
    const cio__timer *x = &R[*(const uint32_t *)a].t, *y = &R[*(const uint32_t *)b].t;
    if (x->when != y->when)
        return x->when < y->when ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static uint64_t gen_deadline(uint64_t base, const ttimer *done, size_t ndone)
{
    uint64_t r = rnd_below(100);
    if (r < 5)                                  /* far in the past */
        return rnd_below(base + 1);
    if (r < 15 && ndone)                        /* exact tie with another timer */
        return done[rnd_below(ndone)].t.when;
    if (r < 90)                                 /* microseconds .. hours */
        return base + rnd_log(10, 44);
    if (r < 97)                                 /* hours .. decades */
        return base + rnd_log(44, 62);
    if (r < 99)                                 /* centuries */
        return ((uint64_t)1 << 62) + rnd_below((uint64_t)1 << 63);
    return UINT64_MAX - rnd_below(2 * TICK);    /* "never" */
}

typedef struct {
    uint64_t at;
    uint32_t id;
} planned_del;

static int cmp_del(const void *a, const void *b)
{
    const planned_del *x = a, *y = b;
    return x->at < y->at ? -1 : x->at > y->at;
}

static void delete_one(ttimer *x, size_t *armed)
{
    int was_armed = x->state == ARMED;
    tt_del(x);
    tt_del(x);                                  /* twice: the second is a no-op */
    CHECK(!cio__timer_armed(&x->t), "armed after delete");
    *armed -= (size_t)was_armed;
    CHECK(cio__wheel_count(&W) == *armed, "count %zu, expected %zu", cio__wheel_count(&W), *armed);
}

/* Arms n timers in shuffled order with random deadlines, then drives a
 * virtual loop with a mix of realistic and adversarial clock moves. About
 * del_pct % of the timers get a planned deletion time, mostly before their
 * deadline, sometimes after it (then the delete is a no-op). Checks against a
 * sorted reference: firing order, exactly-once, "fired in the first expire
 * whose now >= when", the count, and the poll timeout. */
static void run_random(uint64_t seed, uint32_t n, unsigned del_pct)
{
    rng_state = seed;
    ttimer *T = calloc(n, sizeof *T);
    uint32_t *order = malloc(n * sizeof *order), *ref = malloc(n * sizeof *ref);
    CHECK(T && order && ref, "out of memory");
    R = T;

    /* Uptime: not a small number. A level can only hold deadlines whose
     * digit there exceeds the start position's, so a start with a digit of 63
     * would leave that level empty: avoid it, to reach every level. */
    uint64_t now;
    for (;;) {
        now = 5 * HOUR + rnd_below(SEC);
        uint64_t tick = now >> CIO__TICK_SHIFT;
        unsigned l = 0;
        while (l < CIO__WHEEL_LEVELS - 1 && ((tick >> (l * CIO__WHEEL_BITS)) & 63) < 60)
            l++;
        if (l == CIO__WHEEL_LEVELS - 1)
            break;
    }
    wheel_start(now);
    g_strict = 1;

    for (uint32_t i = 0; i < n; i++)
        tt_init(&T[i], i, gen_deadline(now, T, i));
    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    for (uint32_t i = n - 1; i > 0; i--) {
        uint32_t j = (uint32_t)rnd_below(i + 1), tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    uint64_t last_seq = 0;
    for (uint32_t k = 0; k < n; k++) {
        tt_add(&T[order[k]]);
        CHECK(k == 0 || T[order[k]].t.seq > last_seq, "seq not increasing with insertion");
        last_seq = T[order[k]].t.seq;
    }
    CHECK(cio__wheel_count(&W) == n, "count %zu after %u adds", cio__wheel_count(&W), n);
    if (n >= 100000)
        for (unsigned l = 0; l < CIO__WHEEL_LEVELS; l++)
            CHECK(W.occupied[l] != 0, "level %u unused: the test does not reach every level", l);

    for (uint32_t i = 0; i < n; i++)
        ref[i] = i;
    qsort(ref, n, sizeof *ref, cmp_ref);

    planned_del *del_at = malloc(n * sizeof *del_at);
    CHECK(del_at, "out of memory");
    size_t ndels = 0, dp = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (rnd_below(100) >= del_pct)
            continue;
        uint64_t span = T[i].t.when > now ? T[i].t.when - now : 0;
        del_at[ndels].at = sat_add(now, rnd_below(sat_add(span, span / 4)));
        del_at[ndels++].id = i;
    }
    qsort(del_at, ndels, sizeof *del_at, cmp_del);

    size_t armed = n, pos = 0, iters = 0, idle_wakeups = 0, expires_with_fire = 0;
    unsigned idle_run = 0, idle_run_max = 0;
    int64_t to = cio__wheel_timeout(&W, now);
    while (armed) {
        CHECK(++iters < 50ull * n + 100000, "no progress: %zu armed at now=%llu", armed,
              (unsigned long long)now);

        uint64_t r = rnd_below(100), next = now;
        while (pos < n && R[ref[pos]].state != ARMED)
            pos++;
        uint64_t earliest = pos < n ? R[ref[pos]].t.when : UINT64_MAX;
        int slept_full = 0;
        if (r < 40 && to >= 0) {                 /* slept the whole timeout */
            next = sat_add(now, (uint64_t)to);
            slept_full = 1;
        } else if (r < 55 && to > 0) {           /* woken early by I/O */
            next = now + rnd_below((uint64_t)to + 1);
        } else if (r < 70) {                     /* a busy loop: tiny steps */
            next = sat_add(now, rnd_below(2 * TICK));
        } else if (r < 80) {                     /* a long stall */
            next = sat_add(now, rnd_log(0, 50));
        } else if (r < 90) {                     /* exactly on a deadline */
            if (earliest > now)
                next = earliest;
        }                                        /* else: same now again */
        now = next;

        /* Deletes happen between expires, as I/O callbacks' do: the ones
         * scheduled by now (some of them already due, which then must not
         * fire, some already fired, a no-op), plus a few random ones. */
        while (dp < ndels && del_at[dp].at <= now) {
            delete_one(&T[del_at[dp++].id], &armed);
            idle_run = 0;
        }
        if (del_pct && rnd_below(4) == 0) {
            delete_one(&T[rnd_below(n)], &armed);
            idle_run = 0;
        }
        while (pos < n && R[ref[pos]].state != ARMED)
            pos++;
        earliest = pos < n ? R[ref[pos]].t.when : UINT64_MAX;

        /* Sometimes ask for the timeout at the new time first, so both
         * timeout and expire get to advance the wheel. */
        if (rnd_below(4) == 0) {
            int64_t t0 = cio__wheel_timeout(&W, now);
            CHECK(armed ? t0 >= 0 : t0 == -1, "timeout %lld with %zu armed", (long long)t0, armed);
            if (armed && earliest <= now)
                CHECK(t0 == 0, "timeout %lld but a timer is due", (long long)t0);
            if (armed && earliest > now)
                CHECK(t0 > 0 && (uint64_t)t0 <= earliest - now,
                      "timeout %lld, earliest deadline in %llu", (long long)t0,
                      (unsigned long long)(earliest - now));
        }

        size_t expect = 0;
        for (size_t p = pos; p < n && R[ref[p]].t.when <= now; p++)
            expect += R[ref[p]].state == ARMED;
        size_t before = g_nlog;
        size_t got = run_expire(now);
        CHECK(got == expect, "expire(%llu) fired %zu, expected %zu", (unsigned long long)now, got,
              expect);
        CHECK(g_nlog - before == got, "expire's return value disagrees with the callbacks");
        armed -= got;
        CHECK(cio__wheel_count(&W) == armed, "count %zu, expected %zu", cio__wheel_count(&W), armed);
        if (got) {
            expires_with_fire++;
            idle_run = 0;
        } else if (slept_full) {
            idle_wakeups++;
            if (++idle_run > idle_run_max)
                idle_run_max = idle_run;
        }

        while (pos < n && R[ref[pos]].state != ARMED)
            pos++;
        earliest = pos < n ? R[ref[pos]].t.when : UINT64_MAX;
        to = cio__wheel_timeout(&W, now);
        if (!armed) {
            CHECK(to == -1, "timeout %lld on an empty wheel", (long long)to);
        } else {
            CHECK(earliest > now, "an armed timer is still due after expire");
            CHECK(to > 0, "timeout %lld but nothing is due", (long long)to);
            CHECK((uint64_t)to <= earliest - now, "timeout %lld later than the deadline in %llu",
                  (long long)to, (unsigned long long)(earliest - now));
        }
    }

    /* The log must be the sorted reference minus the deleted timers. */
    size_t k = 0, ndel = 0;
    for (uint32_t i = 0; i < n; i++) {
        ttimer *x = &T[ref[i]];
        if (x->state == DELETED) {
            CHECK(x->fires == 0, "deleted timer %u fired", x->id);
            ndel++;
            continue;
        }
        CHECK(x->state == FIRED && x->fires == 1, "timer %u fired %d times", x->id, x->fires);
        CHECK(k < g_nlog && g_log[k] == x->id,
              "order: position %zu fired timer %u, expected %u (when %llu seq %llu)", k,
              k < g_nlog ? g_log[k] : 0, x->id, (unsigned long long)x->t.when,
              (unsigned long long)x->t.seq);
        k++;
    }
    CHECK(k == g_nlog, "log has %zu entries, expected %zu", g_nlog, k);
    CHECK(cio__wheel_count(&W) == 0 && cio__wheel_timeout(&W, now) == -1, "wheel not empty");
    check_drained();
    /* The timeout may be early by up to the span of the earliest occupied
     * slot, but each whole-timeout sleep that fires nothing must bring the
     * earliest timer down at least one level: at most one per level in a
     * row (unless deletes change what "earliest" is). */
    CHECK(idle_run_max <= CIO__WHEEL_LEVELS, "%u idle wake-ups in a row", idle_run_max);
    printf("ok random n=%u del=%u%%: %zu loop iterations, %zu deleted, %zu expires fired, "
           "%zu whole-timeout sleeps fired nothing (at most %u in a row)\n",
           n, del_pct, iters, ndel, expires_with_fire, idle_wakeups, idle_run_max);
    free(T);
    free(order);
    free(ref);
    free(del_at);
}

/* ---- focused tests ---- */

static void test_empty(void)
{
    wheel_start(3 * HOUR);
    CHECK(cio__wheel_count(&W) == 0, "count on a new wheel");
    CHECK(cio__wheel_timeout(&W, 3 * HOUR) == -1, "timeout on a new wheel");
    CHECK(run_expire(3 * HOUR) == 0, "expire on a new wheel");
    double t0 = wall_now();
    run_expire(3 * HOUR + 10 * MIN);
    run_expire(3 * HOUR + 10 * MIN + 30 * DAY);
    run_expire(100 * 365 * DAY);
    double dt = wall_now() - t0;
    CHECK(dt < 2.0, "jumps on an empty wheel took %.3f ms", dt * 1e3);
    CHECK(cio__wheel_timeout(&W, 100 * 365 * DAY) == -1, "timeout after jumps");
    ttimer x;
    tt_init(&x, 0, 0);
    cio__wheel_del(&W, &x.t);                   /* never armed: no-op */
    CHECK(cio__wheel_count(&W) == 0, "deleting an unarmed timer changed the count");
    printf("ok empty\n");
}

/* Steps of at most one tick: every timer must fire at or after when and
 * less than one step (so less than one tick) after it. */
static void test_precision(void)
{
    enum { N = 20000 };
    static ttimer T[N];
    rng_state = 7;
    uint64_t now = 2 * HOUR + 123457;
    wheel_start(now);
    for (uint32_t i = 0; i < N; i++) {
        tt_init(&T[i], i, now + rnd_below(10 * SEC));
        tt_add(&T[i]);
    }
    size_t fired = 0;
    while (fired < N) {
        now += 1 + rnd_below(TICK);
        fired += run_expire(now);
    }
    for (uint32_t i = 0; i < N; i++) {
        CHECK(T[i].fires == 1, "timer %u fired %d times", i, T[i].fires);
        CHECK(T[i].fired_at >= T[i].t.when && T[i].fired_at - T[i].t.when < TICK,
              "timer %u: due %llu, fired %llu", i, (unsigned long long)T[i].t.when,
              (unsigned long long)T[i].fired_at);
    }
    CHECK(cio__wheel_count(&W) == 0, "count after all fired");
    printf("ok precision\n");
}

/* Two timers 0.3 ms apart in one tick, added latest first. */
static void test_same_tick_order(void)
{
    uint64_t base = 7 * HOUR;                    /* tick aligned */
    wheel_start(base);
    ttimer a, b, c;
    tt_init(&a, 1, base + 5 * TICK + 700000);
    tt_init(&b, 2, base + 5 * TICK + 400000);
    tt_init(&c, 3, base + 5 * TICK + 400000);  /* ties with b: added later */
    tt_add(&a);
    tt_add(&c);
    tt_add(&b);
    CHECK(run_expire(base + 6 * TICK) == 3, "all three due");
    CHECK(g_log[0] == 3 && g_log[1] == 2 && g_log[2] == 1, "order %u %u %u", g_log[0], g_log[1],
          g_log[2]);

    /* Same tick, exact deadlines: each fires on its own call. */
    wheel_start(base);
    tt_init(&a, 1, base + TICK + 700000);
    tt_init(&b, 2, base + TICK + 400000);
    tt_add(&a);
    tt_add(&b);
    CHECK(run_expire(base + TICK + 399999) == 0, "nothing due yet");
    CHECK(cio__wheel_timeout(&W, base + TICK + 399999) == 1, "timeout should be exact: 1 ns");
    CHECK(run_expire(base + TICK + 400000) == 1 && g_log[0] == 2, "b on time");
    CHECK(cio__wheel_timeout(&W, base + TICK + 400000) == 300000, "timeout exact within a tick");
    CHECK(run_expire(base + TICK + 699999) == 0, "a not yet");
    CHECK(run_expire(base + TICK + 700000) == 1 && g_log[1] == 1, "a on time");
    printf("ok same-tick order\n");
}

static ttimer X[8];

static void hook_delete_arg(ttimer *self)
{
    ttimer *victim = self->arg;
    size_t before = cio__wheel_count(&W);
    int was_armed = cio__timer_armed(&victim->t);
    tt_del(victim);
    CHECK(cio__wheel_count(&W) == before - (size_t)was_armed, "count after delete in callback");
}

static void hook_delete_self(ttimer *self)
{
    size_t before = cio__wheel_count(&W);
    cio__wheel_del(&W, &self->t);
    CHECK(cio__wheel_count(&W) == before, "deleting itself changed the count");
    CHECK(!cio__timer_armed(&self->t), "armed after self delete");
}

static void hook_readd_arg_past(ttimer *self)
{
    ttimer *victim = self->arg;
    tt_del(victim);
    victim->t.when = g_now - 5 * SEC;            /* already past */
    tt_add(victim);
    /* From a callback, timeout must still answer sanely and not let the
     * re-added timer into this expire. */
    CHECK(cio__wheel_timeout(&W, g_now) == 0, "something is due");
}

static void test_delete_in_callback(void)
{
    uint64_t base = 11 * HOUR + 777;
    wheel_start(base);
    for (uint32_t i = 0; i < 8; i++)
        tt_init(&X[i], i, base + 10 * MS + i * 1000);
    X[0].hook = hook_delete_arg, X[0].arg = &X[1];      /* 1 is due in the same call */
    X[2].hook = hook_delete_self;
    X[3].hook = hook_delete_arg, X[3].arg = &X[7];      /* 7 is far away */
    X[7].t.when = base + 3 * DAY;
    X[4].hook = hook_delete_arg, X[4].arg = &X[0];      /* 0 already fired: no-op */
    X[5].hook = hook_readd_arg_past, X[5].arg = &X[6];  /* 6 due now, re-added */
    for (uint32_t i = 8; i-- > 0;)
        tt_add(&X[i]);
    CHECK(cio__wheel_count(&W) == 8, "count");
    size_t n = run_expire(base + 20 * MS);
    CHECK(n == 5, "fired %zu, expected 0 2 3 4 5", n);
    CHECK(g_log[0] == 0 && g_log[1] == 2 && g_log[2] == 3 && g_log[3] == 4 && g_log[4] == 5,
          "order");
    CHECK(X[1].fires == 0 && X[1].state == DELETED, "deleted due timer fired");
    CHECK(X[7].fires == 0 && !cio__timer_armed(&X[7].t), "deleted far timer");
    CHECK(X[6].fires == 0 && cio__timer_armed(&X[6].t), "re-added timer fired in the same call");
    CHECK(cio__wheel_count(&W) == 1, "count %zu", cio__wheel_count(&W));
    CHECK(cio__wheel_timeout(&W, base + 20 * MS) == 0, "re-added past timer is due");
    CHECK(run_expire(base + 20 * MS) == 1 && X[6].fires == 1, "re-added timer fires next call");
    CHECK(cio__wheel_count(&W) == 0 && cio__wheel_timeout(&W, base + 20 * MS) == -1, "empty");
    run_expire(base + 10 * DAY);
    CHECK(X[7].fires == 0 && X[1].fires == 0, "deleted timers stay dead");
    check_drained();
    printf("ok delete in callback\n");
}

static void hook_rearm_now(ttimer *self)
{
    self->t.when = g_now;
    tt_add(self);
}

static void test_readd_zero_delay(void)
{
    uint64_t now = 9 * HOUR + 5;
    wheel_start(now);
    ttimer a, b;
    tt_init(&a, 1, now);
    tt_init(&b, 2, now);
    a.hook = b.hook = hook_rearm_now;
    tt_add(&a);
    tt_add(&b);
    for (int i = 0; i < 1000; i++) {
        log_reset();
        if (i % 3 == 2)
            now += rnd_below(3 * TICK);
        CHECK(run_expire(now) == 2, "each expire fires both exactly once (round %d)", i);
        CHECK(g_log[0] == 1 && g_log[1] == 2, "re-armed in order a, b: keeps (when, seq) order");
        CHECK(cio__wheel_count(&W) == 2, "count");
        CHECK(cio__wheel_timeout(&W, now) == 0, "re-armed timers are due");
    }
    tt_del(&a);
    tt_del(&b);
    CHECK(cio__wheel_count(&W) == 0 && run_expire(now) == 0, "deleted");
    check_drained();
    printf("ok re-add at delay 0\n");
}

static void hook_add_arg(ttimer *self)
{
    ttimer *x = self->arg;
    x->t.when = g_now + 100;                     /* future, same tick */
    tt_add(x);
}

static void test_add_within_tick_from_callback(void)
{
    uint64_t now = 4 * HOUR;                     /* tick aligned, so now+100 shares the tick */
    wheel_start(now);
    ttimer a, b;
    tt_init(&a, 1, now);
    tt_init(&b, 2, 0);
    a.hook = hook_add_arg, a.arg = &b;
    tt_add(&a);
    CHECK(run_expire(now) == 1, "a fires");
    CHECK(cio__wheel_timeout(&W, now) == 100, "exact timeout for b: %lld",
          (long long)cio__wheel_timeout(&W, now));
    CHECK(run_expire(now + 99) == 0 && b.fires == 0, "b early");
    CHECK(cio__wheel_timeout(&W, now + 99) == 1, "1 ns left");
    CHECK(run_expire(now + 100) == 1 && b.fires == 1, "b on time");
    printf("ok add within the tick from a callback\n");
}

static void test_past(void)
{
    uint64_t base = 10 * HOUR + 31337;
    wheel_start(base);
    const uint64_t when[9] = { 0, base - 1, 0, base - HOUR, 1, base - 999, 0, base, base + 1 };
    ttimer T[9];
    for (uint32_t i = 0; i < 9; i++)
        tt_init(&T[i], i, when[i]);
    static const uint32_t order[] = { 5, 2, 7, 0, 8, 3, 6, 1, 4 };
    for (unsigned i = 0; i < 9; i++)
        tt_add(&T[order[i]]);
    CHECK(cio__wheel_timeout(&W, base) == 0, "past timers are due");
    CHECK(run_expire(base) == 8, "all but the future one fire");
    /* when 0: ids 2, 0, 6 in insertion order; then 1 -> 4, base-1h -> 3,
     * base-999 -> 5, base-1 -> 1, base -> 7. */
    static const uint32_t want[] = { 2, 0, 6, 4, 3, 5, 1, 7 };
    for (unsigned i = 0; i < 8; i++)
        CHECK(g_log[i] == want[i], "position %u: got %u want %u", i, g_log[i], want[i]);
    CHECK(run_expire(base + 1) == 1, "future one");

    /* After a long advance, a deadline of 0 is still "due at the next expire". */
    uint64_t later = base + 40 * DAY;
    run_expire(later);
    ttimer z;
    tt_init(&z, 99, 0);
    tt_add(&z);
    CHECK(cio__wheel_timeout(&W, later) == 0 && run_expire(later) == 1 && z.fires == 1,
          "when=0 after a long advance");
    printf("ok past deadlines\n");
}

/* Wall-time bounds here are loose (a loaded machine must not fail them) but
 * stepping tick by tick through 30 days (2.5e9 ticks) would miss them by
 * orders of magnitude. */
static void test_idle_jumps(void)
{
    enum { N = 1000 };
    static ttimer T[N];
    uint64_t now = 6 * HOUR + 999;
    wheel_start(now);
    g_strict = 1;
    ttimer few[5];
    uint64_t d[5] = { SEC, 5 * MIN, HOUR, 10 * DAY, UINT64_MAX };
    for (unsigned i = 0; i < 5; i++) {
        tt_init(&few[i], i, d[i] == UINT64_MAX ? UINT64_MAX : now + d[i]);
        tt_add(&few[i]);
    }
    double t0 = wall_now();
    CHECK(run_expire(now + 10 * MIN) == 2, "1 s and 5 min fire after 10 min");
    CHECK(run_expire(now + 10 * MIN + 30 * DAY) == 2, "1 h and 10 days fire after 30 more days");
    double dt = wall_now() - t0;
    CHECK(dt < 2.0, "idle jumps with a few timers took %.3f ms", dt * 1e3);
    CHECK(cio__wheel_count(&W) == 1, "never-timer still armed");
    int64_t to = cio__wheel_timeout(&W, now + 10 * MIN + 30 * DAY);
    CHECK(to == INT64_MAX, "a deadline centuries away clamps to INT64_MAX");

    /* Many 30-day jumps with 1000 timers spread over ~80 years. */
    now += 10 * MIN + 30 * DAY;
    for (uint32_t i = 0; i < N; i++) {
        tt_init(&T[i], i + 10, now + rnd_below(1000 * 30 * DAY));
        tt_add(&T[i]);
    }
    g_first_call = 1;                            /* some are due at once: not late */
    t0 = wall_now();
    size_t fired = 0;
    for (int i = 0; i < 1001; i++) {
        now += 30 * DAY;
        fired += run_expire(now);
    }
    dt = wall_now() - t0;
    CHECK(fired == N, "fired %zu of %d", fired, N);
    CHECK(dt < 5.0, "1001 30-day jumps took %.3f ms", dt * 1e3);
    for (uint32_t i = 0; i < N; i++)
        CHECK(T[i].fires == 1 && T[i].fired_at >= T[i].t.when &&
                  T[i].fired_at - T[i].t.when < 30 * DAY,
              "timer %u", i);
    CHECK(run_expire(UINT64_MAX) == 1 && few[4].fires == 1, "never fires at the end of time");
    CHECK(cio__wheel_count(&W) == 0, "empty");
    printf("ok idle jumps (%.3f ms for 1001 jumps of 30 days)\n", dt * 1e3);
}

static void test_end_of_time(void)
{
    uint64_t now = UINT64_MAX - 3 * SEC;
    wheel_start(now);
    ttimer a, b, c, d;
    tt_init(&a, 1, UINT64_MAX);
    tt_init(&b, 2, UINT64_MAX - 1);
    tt_init(&c, 3, UINT64_MAX);
    tt_init(&d, 4, now - 1);
    tt_add(&a);
    tt_add(&b);
    tt_add(&c);
    tt_add(&d);
    CHECK(cio__wheel_timeout(&W, now) == 0, "d is due");
    CHECK(run_expire(now) == 1 && d.fires == 1, "d");
    int64_t to = cio__wheel_timeout(&W, now);
    CHECK(to > 0 && (uint64_t)to <= UINT64_MAX - 1 - now, "timeout %lld", (long long)to);
    CHECK(run_expire(UINT64_MAX - 2) == 0, "nothing yet");
    CHECK(run_expire(UINT64_MAX - 1) == 1 && b.fires == 1, "b");
    CHECK(cio__wheel_timeout(&W, UINT64_MAX - 1) == 1, "1 ns to the end");
    CHECK(run_expire(UINT64_MAX) == 2 && g_log[2] == 1 && g_log[3] == 3, "a then c");
    CHECK(cio__wheel_timeout(&W, UINT64_MAX) == -1, "empty");

    /* A wheel started at 0 (a fresh virtual clock). */
    wheel_start(0);
    tt_init(&a, 1, 0);
    tt_init(&b, 2, 1);
    tt_add(&b);
    tt_add(&a);
    CHECK(run_expire(0) == 1 && a.fires == 1, "at 0");
    CHECK(cio__wheel_timeout(&W, 0) == 1, "1 ns");
    CHECK(run_expire(1) == 1 && b.fires == 1, "at 1");
    printf("ok end of time\n");
}

/* Re-arming a fired or deleted timer: it gets a new seq and behaves new. */
static void test_rearm(void)
{
    uint64_t now = HOUR;
    wheel_start(now);
    ttimer a, b;
    tt_init(&a, 1, now + 10 * MS);
    tt_init(&b, 2, now + 10 * MS);
    tt_add(&a);
    tt_add(&b);
    tt_del(&a);
    a.state = IDLE;
    tt_add(&a);                                  /* same when, now after b */
    CHECK(a.t.seq > b.t.seq, "re-add takes a new seq");
    CHECK(run_expire(now + 10 * MS) == 2 && g_log[0] == 2 && g_log[1] == 1, "b before a");
    a.state = IDLE;
    a.t.when = now + 20 * MS;
    tt_add(&a);
    CHECK(run_expire(now + 20 * MS) == 1 && a.fires == 2, "fired again");
    printf("ok re-arm\n");
}

/* ---- churn: adds, deletes and re-arms everywhere, checked by invariants ---- */

static ttimer *C;
static uint32_t c_n;
static size_t c_armed;
static uint64_t c_last_when, c_last_seq;
static int c_any_fired;
static size_t c_due_killed;   /* due at the start of an expire, deleted by a callback */

static uint64_t churn_deadline(uint64_t now)
{
    uint64_t r = rnd_below(100);
    if (r < 10)
        return now > HOUR ? now - rnd_below(HOUR) : rnd_below(now + 1);
    if (r < 20)
        return now;
    if (r < 40)
        return sat_add(now, rnd_below(2 * TICK));
    if (r < 80)
        return sat_add(now, rnd_log(10, 36));
    if (r < 95)
        return sat_add(now, rnd_log(36, 50));
    return sat_add(now, rnd_log(50, 64));
}

/* One random operation on a random timer: arm it if idle, else delete it,
 * or delete and re-arm it. */
static void churn_op(void)
{
    ttimer *x = &C[rnd_below(c_n)];
    uint64_t r = rnd_below(3);
    if (x->state == ARMED && x->t.when <= g_now && x->added_in < g_calls)
        c_due_killed++;
    if (x->state == ARMED) {
        tt_del(x);
        c_armed--;
        if (r == 0)
            return;
    }
    x->t.when = churn_deadline(g_now);
    tt_add(x);
    c_armed++;
}

static void churn_hook(ttimer *self)
{
    /* Within one call, (when, seq) must rise. */
    if (c_any_fired)
        CHECK(self->t.when > c_last_when ||
                  (self->t.when == c_last_when && self->t.seq > c_last_seq),
              "out of order within one expire");
    c_any_fired = 1;
    c_last_when = self->t.when;
    c_last_seq = self->t.seq;
    c_armed--;
    uint64_t r = rnd_below(10);
    if (r < 3) {                                 /* re-arm itself, maybe already due */
        self->t.when = churn_deadline(g_now);
        tt_add(self);
        c_armed++;
    }
    if (r >= 2 && r < 6)
        churn_op();                              /* touch another timer, maybe one due now */
    CHECK(cio__wheel_count(&W) == c_armed, "count %zu, expected %zu in a callback",
          cio__wheel_count(&W), c_armed);
}

/* A small pool under constant churn from outside and inside callbacks, so
 * the due list, the pending list and the slots are all mutated while
 * non-empty. After every expire: nothing armed before that call may still
 * be due, and the timeout must match the earliest armed deadline. */
static void run_churn(uint64_t seed, uint32_t n, uint32_t iters)
{
    rng_state = seed;
    C = calloc(n, sizeof *C);
    CHECK(C, "out of memory");
    c_n = n;
    c_armed = 0;
    uint64_t now = 17 * HOUR + rnd_below(HOUR);
    wheel_start(now);
    for (uint32_t i = 0; i < n; i++) {
        tt_init(&C[i], i, 0);
        C[i].hook = churn_hook;
    }
    size_t fired_total = 0;
    int64_t to = -1;
    for (uint32_t it = 0; it < iters; it++) {
        unsigned ops = (unsigned)rnd_below(it < iters / 10 ? 20 : 6);
        for (unsigned k = 0; k < ops; k++)
            churn_op();
        CHECK(cio__wheel_count(&W) == c_armed, "count %zu, expected %zu", cio__wheel_count(&W),
              c_armed);

        uint64_t r = rnd_below(100);
        if (r < 40 && to >= 0)
            now = sat_add(now, (uint64_t)to);
        else if (r < 70)
            now = sat_add(now, rnd_below(3 * TICK));
        else if (r < 80)
            now = sat_add(now, rnd_log(0, 40));
        else if (r < 85)
            now = sat_add(now, rnd_log(40, 50));
        /* else the same now: due-list timers that are still in the future
         * and timers added since must behave */
        if (now == UINT64_MAX) {                 /* the end of time: start over */
            for (uint32_t i = 0; i < n; i++)
                if (C[i].state == ARMED)
                    tt_del(&C[i]);
            c_armed = 0;
            check_drained();
            now = rnd_below(HOUR);
            cio__wheel_init(&W, now);
        }

        g_now = now;
        if (rnd_below(3) == 0) {
            uint64_t earliest = UINT64_MAX;
            for (uint32_t i = 0; i < n; i++)
                if (C[i].state == ARMED && C[i].t.when < earliest)
                    earliest = C[i].t.when;
            int64_t t0 = cio__wheel_timeout(&W, now);
            if (!c_armed)
                CHECK(t0 == -1, "timeout %lld on an empty wheel", (long long)t0);
            else if (earliest <= now)
                CHECK(t0 == 0, "timeout %lld with a timer due", (long long)t0);
            else
                CHECK(t0 > 0 && (uint64_t)t0 <= earliest - now, "timeout %lld, deadline in %llu",
                      (long long)t0, (unsigned long long)(earliest - now));
        }

        size_t expect = 0;
        for (uint32_t i = 0; i < n; i++)
            expect += C[i].state == ARMED && C[i].t.when <= now;
        c_any_fired = 0;
        c_due_killed = 0;
        size_t got = run_expire(now);
        CHECK(got == expect - c_due_killed, "expire fired %zu, %zu were due, %zu deleted", got,
              expect, c_due_killed);
        fired_total += got;
        CHECK(cio__wheel_count(&W) == c_armed, "count after expire");

        uint64_t earliest = UINT64_MAX;
        int due_left = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (C[i].state != ARMED)
                continue;
            CHECK(cio__timer_armed(&C[i].t), "model and wheel disagree on timer %u", i);
            if (C[i].t.when <= now) {
                CHECK(C[i].added_in == g_calls, "timer %u due at %llu not fired by expire(%llu)",
                      i, (unsigned long long)C[i].t.when, (unsigned long long)now);
                due_left = 1;
            }
            if (C[i].t.when < earliest)
                earliest = C[i].t.when;
        }
        to = cio__wheel_timeout(&W, now);
        if (!c_armed)
            CHECK(to == -1, "timeout %lld on an empty wheel", (long long)to);
        else if (due_left)
            CHECK(to == 0, "timeout %lld, a timer re-armed in the past is due", (long long)to);
        else
            CHECK(to > 0 && (uint64_t)to <= earliest - now, "timeout %lld, deadline in %llu",
                  (long long)to, (unsigned long long)(earliest - now));
    }
    for (uint32_t i = 0; i < n; i++)
        if (C[i].state == ARMED)
            tt_del(&C[i]);
    check_drained();
    printf("ok churn n=%u: %u iterations, %zu fired\n", n, iters, fired_total);
    free(C);
}

/* Cancel everything before it is due, in random order, without advancing. */
static void test_delete_all(void)
{
    enum { N = 5000 };
    static ttimer T[N];
    uint64_t now = 3 * HOUR + 4321;
    wheel_start(now);
    for (uint32_t i = 0; i < N; i++) {
        tt_init(&T[i], i, i % 10 == 0 ? now - i : now + rnd_log(0, 63));
        tt_add(&T[i]);
    }
    run_expire(now - 1);                         /* sorts the past ones into the due list */
    for (uint32_t i = 0; i < N; i++) {
        uint32_t j = (uint32_t)rnd_below(N - i) + i;
        tt_del(&T[j]);
        tt_del(&T[i]);
        CHECK(!cio__timer_armed(&T[i].t) && !cio__timer_armed(&T[j].t), "armed after delete");
    }
    CHECK(cio__wheel_timeout(&W, now) == -1, "timeout after cancelling everything");
    check_drained();
    CHECK(run_expire(UINT64_MAX) == 0, "cancelled timers fired");
    printf("ok delete all\n");
}

/* The randomised runs, for the seed main() was given. */
static uint64_t seed = 12345;

static void test_random(void)
{
    run_random(seed, 200000, 0);
    run_random(seed + 1, 100000, 30);
    run_random(seed + 2, 1000, 50);
}

static void test_churn(void)
{
    run_churn(seed + 3, 3000, 30000);
    run_churn(seed + 4, 50, 100000);
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "--seed") == 0)
        seed = strtoull(argv[2], NULL, 0);
    alarm(120);                                  /* a wheel that stops advancing must fail, not hang */
    RUN_TEST(test_empty);
    RUN_TEST(test_precision);
    RUN_TEST(test_same_tick_order);
    RUN_TEST(test_delete_in_callback);
    RUN_TEST(test_readd_zero_delay);
    RUN_TEST(test_add_within_tick_from_callback);
    RUN_TEST(test_past);
    RUN_TEST(test_idle_jumps);
    RUN_TEST(test_end_of_time);
    RUN_TEST(test_rearm);
    RUN_TEST(test_delete_all);
    RUN_TEST(test_random);
    RUN_TEST(test_churn);
    free(g_log);
    if (check_unmatched_names())
        return 1;
    printf("all timer tests passed\n");
    return 0;
}
