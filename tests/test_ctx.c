/* SPDX-License-Identifier: MIT */
/* Tests for the context switch (src/core/ctx*) and the stack pool
 * (src/core/stack.c).  Standalone: exit 0 = pass, otherwise every failed
 * check is printed.
 *
 *   test_ctx            run the tests
 *   test_ctx NAME...    run only these (test_ping_pong, ...: lib/select.h)
 *   test_ctx --bench    print the bare switch floor: ctx_switch_roundtrip ns=X
 *   test_ctx --million  park 1,000,000 coroutines and report resident bytes
 *                       per task (needs ~5 GiB of RAM)
 */
/* fork, sigaction, sigaltstack are not in ISO C. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
/* Relative to this file, so it builds with -Isrc/core, -Isrc or neither. */
#include "../src/core/ctx.h"
#include "../src/core/stack.h"
#include "lib/select.h"

#include <errno.h>
#include <fcntl.h>
#include <fenv.h>
#include <signal.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#  include <emmintrin.h>
#endif

/* ThreadSanitizer (CIO__TSAN, core/sanitizer.h) maps its own memory
 * (shadow, fiber state) next to the stacks: the counts of mappings and
 * resident bytes below are not the pool's under it, so those two
 * measurements are skipped (and say so). */

/* Valgrind cannot hold 30,000 mappings, ignores the SSE rounding mode in
 * its arithmetic and inflates RSS; those checks are skipped under it. */
#if defined(__has_include)
#  if __has_include(<valgrind/valgrind.h>)
#    include <valgrind/valgrind.h>
#    define UNDER_VALGRIND() RUNNING_ON_VALGRIND
#  endif
#endif
#if !defined(UNDER_VALGRIND)
#  define UNDER_VALGRIND() 0
#endif

#define NOINLINE __attribute__((noinline))
#if defined(CIO__ASAN)
/* Keeps a frame on the real stack even with detect_stack_use_after_return,
 * which would otherwise move big locals to a heap "fake stack". */
#  define REAL_FRAME __attribute__((no_sanitize_address))
#else
#  define REAL_FRAME
#endif

static int checks, failures;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        checks++;                                                            \
        if (!(cond)) {                                                       \
            failures++;                                                      \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);           \
            printf(__VA_ARGS__);                                             \
            printf("\n");                                                    \
            fflush(stdout);                                                  \
        }                                                                    \
    } while (0)

static cio__stack_pool pool;
static cio__ctx main_ctx;

static void get_stack(cio__stack_pool *p, size_t size, cio__stack *s)
{
    int r = cio__stack_get(p, size, s);

    if (r != 0) {
        printf("FAIL cio__stack_get(%zu) = %d\n", size, r);
        exit(1);
    }
}

static int count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    int n = 0, c;

    if (!f)
        return -1;
    while ((c = getc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static long resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;

    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &res) != 2)
        res = -1;
    fclose(f);
    return res * sysconf(_SC_PAGESIZE);
}

static int count_fds(void)
{
    int n = 0;

    for (int fd = 0; fd < 1024; fd++)
        n += fcntl(fd, F_GETFD) != -1;
    return n;
}

/* Runs fn in a child and returns its wait status. */
static int in_child(void (*fn)(void *), void *arg)
{
    int status = 0;
    pid_t pid;

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        fn(arg);
        _exit(0);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

/* ---- 1. ping-pong between the main stack and two coroutines ---- */

static cio__ctx pp_ctx[2];
static unsigned long pp_value;

/* Six accumulators that live across every switch, so the compiler keeps
 * them in callee-saved registers (or spills them) and a switch that
 * dropped one would change the digest. */
#define PP_STEP(a, b, c, d, e, f, i)                                        \
    do {                                                                     \
        a = a * 3 + (i);  b ^= a << 1;    c += b * 5;                        \
        d = d * 7 ^ c;    e += d >> 3;    f = f * 11 + e;                    \
    } while (0)
#define PP_DIGEST(a, b, c, d, e, f) ((a) ^ (b) * 3 ^ (c) * 5 ^ (d) * 7 ^ (e) * 9 ^ (f))

static void pp_entry(void *arg)
{
    unsigned long id = (unsigned long)(uintptr_t)arg;
    unsigned long a = id, b = id + 1, c = id + 2, d = id + 3, e = id + 4, f = id + 5;

    for (unsigned long i = 0;; i++) {
        PP_STEP(a, b, c, d, e, f, i);
        pp_value = PP_DIGEST(a, b, c, d, e, f);
        cio__ctx_switch(&pp_ctx[id - 1], &main_ctx);
    }
}

static void test_ping_pong(void)
{
    cio__stack s[2];
    unsigned long acc[2][6];
    unsigned long m1 = 17, m2 = 19, m3 = 23;
    int bad = 0;

    for (int i = 0; i < 2; i++) {
        get_stack(&pool, 0, &s[i]);
        cio__ctx_make(&pp_ctx[i], s[i].lo, s[i].size, pp_entry,
                      (void *)(uintptr_t)(i + 1));
        for (int k = 0; k < 6; k++)
            acc[i][k] = (unsigned long)(i + 1 + k);
    }
    for (unsigned long i = 0; i < 1000; i++) {
        for (int id = 0; id < 2; id++) {
            unsigned long *v = acc[id];
            pp_value = 0;
            cio__ctx_switch(&main_ctx, &pp_ctx[id]);
            PP_STEP(v[0], v[1], v[2], v[3], v[4], v[5], i);
            bad += pp_value != PP_DIGEST(v[0], v[1], v[2], v[3], v[4], v[5]);
            m1 += 1; m2 += m1; m3 ^= m2;
        }
    }
    CHECK(bad == 0, "%d of 2000 values from the coroutines were wrong", bad);
    /* The same arithmetic on the main side must be undisturbed. */
    {
        unsigned long x1 = 17, x2 = 19, x3 = 23;
        for (int i = 0; i < 2000; i++) {
            x1 += 1; x2 += x1; x3 ^= x2;
        }
        CHECK(m1 == x1 && m2 == x2 && m3 == x3, "main-side locals corrupted");
    }
    cio__stack_put(&pool, &s[0]);
    cio__stack_put(&pool, &s[1]);
}

/* ---- 2. direct coroutine-to-coroutine switches ---- */

static cio__ctx ab_a, ab_b;
static cio__stack ab_sb;
static char ab_log[32];
static size_t ab_n;

static void ab_b_entry(void *arg)
{
    ab_log[ab_n++] = *(const char *)arg;       /* 'b' */
    cio__ctx_switch(&ab_b, &ab_a);
    ab_log[ab_n++] = 'd';
    cio__ctx_switch(&ab_b, &main_ctx);
    ab_log[ab_n++] = 'f';
    cio__ctx_switch_last(&ab_b, &ab_a);
}

static void ab_a_entry(void *arg)
{
    (void)arg;
    ab_log[ab_n++] = 'a';
    /* B is made and first entered from a coroutine stack. */
    cio__ctx_make(&ab_b, ab_sb.lo, ab_sb.size, ab_b_entry, "b");
    cio__ctx_switch(&ab_a, &ab_b);
    ab_log[ab_n++] = 'c';
    cio__ctx_switch(&ab_a, &main_ctx);
    ab_log[ab_n++] = 'g';
    cio__ctx_switch_last(&ab_a, &main_ctx);
}

static void test_direct(void)
{
    cio__stack sa;

    get_stack(&pool, 0, &sa);
    get_stack(&pool, 0, &ab_sb);
    cio__ctx_make(&ab_a, sa.lo, sa.size, ab_a_entry, NULL);
    cio__ctx_switch(&main_ctx, &ab_a);          /* a b c */
    ab_log[ab_n++] = 'm';
    cio__ctx_switch(&main_ctx, &ab_b);          /* d */
    ab_log[ab_n++] = 'e';
    cio__ctx_switch(&main_ctx, &ab_b);          /* f, then B -> A: g */
    ab_log[ab_n] = 0;
    CHECK(strcmp(ab_log, "abcmdefg") == 0, "order was %s", ab_log);
    cio__stack_put(&pool, &sa);
    cio__stack_put(&pool, &ab_sb);
}

/* ---- 3. floating point control state is per context ---- */

static cio__ctx fp_ctx;
static int fp_seen_at_start, fp_mode_ok, fp_csr_ok;
static double fp_result;
static volatile double fp_one = 1.0, fp_three = 3.0;

#if defined(__x86_64__)
static unsigned mxcsr_rc(void) { return (_mm_getcsr() >> 13) & 3; }
static unsigned x87_rc(void)
{
    unsigned short cw;
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    return (cw >> 10) & 3;
}
/* SSE and x87 encode the four modes identically. */
static unsigned rc_of(int mode)
{
    switch (mode) {
    case FE_TONEAREST: return 0;
    case FE_DOWNWARD: return 1;
    case FE_UPWARD: return 2;
    default: return 3;
    }
}
#define BOTH_UNITS(mode) (mxcsr_rc() == rc_of(mode) && x87_rc() == rc_of(mode))
#else
#define BOTH_UNITS(mode) 1
#endif

static void fp_entry(void *arg)
{
    (void)arg;
    fp_seen_at_start = fegetround();
    fesetround(FE_UPWARD);
    for (;;) {
        cio__ctx_switch(&fp_ctx, &main_ctx);
        fp_mode_ok = fegetround() == FE_UPWARD;
        fp_csr_ok = BOTH_UNITS(FE_UPWARD);
        fp_result = fp_one / fp_three;
    }
}

static void test_fp(void)
{
    cio__stack s;
    double nearest, up;

    get_stack(&pool, 0, &s);
    fesetround(FE_TOWARDZERO);
    cio__ctx_make(&fp_ctx, s.lo, s.size, fp_entry, NULL);
    fesetround(FE_TONEAREST);
    cio__ctx_switch(&main_ctx, &fp_ctx);
    CHECK(fp_seen_at_start == FE_TOWARDZERO,
          "new context should inherit the maker's rounding mode, got %d",
          fp_seen_at_start);
    CHECK(fegetround() == FE_TONEAREST, "main lost its rounding mode");
    CHECK(BOTH_UNITS(FE_TONEAREST), "main MXCSR/x87 rounding changed");
    nearest = fp_one / fp_three;

    cio__ctx_switch(&main_ctx, &fp_ctx);
    CHECK(fp_mode_ok, "coroutine lost FE_UPWARD");
    CHECK(fp_csr_ok, "coroutine MXCSR/x87 rounding not FE_UPWARD");
    up = fp_result;
    CHECK(up > nearest || UNDER_VALGRIND(), "1/3 rounded up (%.17g) should exceed nearest (%.17g)",
          up, nearest);

    fesetround(FE_DOWNWARD);
    cio__ctx_switch(&main_ctx, &fp_ctx);
    CHECK(fp_mode_ok && fp_csr_ok, "main's FE_DOWNWARD leaked into coroutine");
    CHECK(fegetround() == FE_DOWNWARD, "coroutine's mode leaked into main");
    CHECK(BOTH_UNITS(FE_DOWNWARD), "main MXCSR/x87 not FE_DOWNWARD");
    fesetround(FE_TONEAREST);
    CHECK(fp_one / fp_three == nearest || UNDER_VALGRIND(),
          "main arithmetic not round-to-nearest");
    cio__stack_put(&pool, &s);
}

/* ---- 4. ABI stack alignment at entry ---- */

static cio__ctx al_ctx;
static uintptr_t al_frame, al_local;
static char al_text[64];
static int al_sse_ok;
static volatile double al_pi = 3.14159265358979, al_e = 2.718281828459045;

static NOINLINE void al_sse(void)
{
    alignas(16) double v[2];
    volatile uintptr_t addr = (uintptr_t)v;

    al_local = addr;
#if defined(__x86_64__)
    /* movapd faults on a misaligned address. */
    _mm_store_pd(v, _mm_set_pd(al_e, al_pi));
    al_sse_ok = v[0] == al_pi && v[1] == al_e;
#else
    v[0] = al_pi;
    v[1] = al_e;
    al_sse_ok = v[0] == al_pi && v[1] == al_e;
#endif
}

static void al_entry(void *arg)
{
    /* The frame pointer is the entry stack pointer minus the saved return
     * address and frame pointer, so it is 16-aligned iff entry was called
     * with the ABI alignment. */
    al_frame = (uintptr_t)__builtin_frame_address(0);
    /* Let main check the frame before anything here can crash on it. */
    cio__ctx_switch(&al_ctx, &main_ctx);
    al_sse();
    snprintf(al_text, sizeof al_text, "%.3f %.2e %s", al_pi, al_e,
             (const char *)arg);
    printf("  (printf with doubles inside a coroutine: %.5f %g)\n", al_pi, al_e);
    fflush(stdout);
    cio__ctx_switch_last(&al_ctx, &main_ctx);
}

static void test_alignment(void)
{
    cio__stack s;

    /* Odd sizes are rounded up by the pool; also try a raw misaligned top. */
    for (int k = 0; k < 2; k++) {
        get_stack(&pool, 0, &s);
        al_frame = al_local = 1;
        al_sse_ok = 0;
        cio__ctx_make(&al_ctx, s.lo, s.size - (k ? 24 : 0), al_entry, "ok");
        cio__ctx_switch(&main_ctx, &al_ctx);
        CHECK(al_frame % 16 == 0, "frame at entry %#lx not 16-aligned",
              (unsigned long)al_frame);
        CHECK(al_frame > (uintptr_t)s.lo &&
                  al_frame < (uintptr_t)s.lo + s.size,
              "entry did not run on the given stack");
        if (al_frame % 16 != 0) {
            cio__stack_put(&pool, &s);      /* abandoned, it would crash */
            continue;
        }
        cio__ctx_switch(&main_ctx, &al_ctx);
        CHECK(al_local % 16 == 0, "alignas(16) local at %#lx",
              (unsigned long)al_local);
        CHECK(al_sse_ok, "aligned SSE store");
        CHECK(strcmp(al_text, "3.142 2.72e+00 ok") == 0, "snprintf gave '%s'",
              al_text);
        cio__stack_put(&pool, &s);
    }
}

/* ---- 5. an entry that returns aborts the process ---- */

static cio__ctx ret_ctx;

static void ret_entry(void *arg)
{
    (void)arg;
}

static void child_return(void *arg)
{
    cio__stack s;

    (void)arg;
    get_stack(&pool, 0, &s);
    cio__ctx_make(&ret_ctx, s.lo, s.size, ret_entry, NULL);
    cio__ctx_switch(&main_ctx, &ret_ctx);
    _exit(3);
}

static void test_entry_returns(void)
{
    int st = in_child(child_return, NULL);

    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
          "returning entry: wait status %#x", st);
}

/* ---- 6. many coroutines, round robin and a direct chain ---- */

#define RR_N 1000
static cio__ctx rr_ctx[RR_N];
static long rr_count[RR_N];
static int rr_chain;

static void rr_entry(void *arg)
{
    long i = (long)(intptr_t)arg;

    for (;;) {
        rr_count[i]++;
        if (rr_chain)
            cio__ctx_switch(&rr_ctx[i], i + 1 < RR_N ? &rr_ctx[i + 1] : &main_ctx);
        else
            cio__ctx_switch(&rr_ctx[i], &main_ctx);
    }
}

static void test_many(void)
{
    static cio__stack s[RR_N];
    int bad = 0;

    for (long i = 0; i < RR_N; i++) {
        get_stack(&pool, 16 << 10, &s[i]);
        cio__ctx_make(&rr_ctx[i], s[i].lo, s[i].size, rr_entry,
                      (void *)(intptr_t)i);
    }
    for (int round = 0; round < 5; round++)
        for (int i = 0; i < RR_N; i++)
            cio__ctx_switch(&main_ctx, &rr_ctx[i]);
    rr_chain = 1;
    cio__ctx_switch(&main_ctx, &rr_ctx[0]);
    for (int i = 0; i < RR_N; i++) {
        bad += rr_count[i] != 6;
        bad += !cio__stack_canary_ok(&s[i]);
    }
    CHECK(bad == 0, "%d coroutines with wrong counts or canaries", bad);
    for (int i = 0; i < RR_N; i++)
        cio__stack_put(&pool, &s[i]);
}

/* ---- 6b. a stack abandoned mid-function is reused cleanly ---- */

static cio__ctx ab1_ctx, ab2_ctx;

static NOINLINE void abandon_deep(int depth)
{
    /* Under ASan these arrays sit between redzones that stay poisoned
     * when the coroutine is abandoned without unwinding. */
    volatile char small[24], big[3000];

    small[0] = big[0] = (char)depth;
    if (depth < 8)
        abandon_deep(depth + 1);
    else
        cio__ctx_switch(&ab1_ctx, &main_ctx);      /* never resumed */
    big[1] = small[0];
}

static void abandon_entry(void *arg)
{
    /* Right below the initial frame, which cio__ctx_make rewrites (with
     * instrumented stores) when the stack is reused. */
    volatile char top[40];

    top[0] = (char)(intptr_t)arg;
    abandon_deep(0);
    top[1] = top[0];
}

static NOINLINE void reuse_fill(void)
{
    volatile char buf[30000];

    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (char)i;
}

static void reuse_entry(void *arg)
{
    (void)arg;
    reuse_fill();
    cio__ctx_switch_last(&ab2_ctx, &main_ctx);
}

static void test_reuse_abandoned(void)
{
    cio__stack s;
    void *lo;

    get_stack(&pool, 32 << 10, &s);
    lo = s.lo;
    cio__ctx_make(&ab1_ctx, s.lo, s.size, abandon_entry, NULL);
    cio__ctx_switch(&main_ctx, &ab1_ctx);
    cio__stack_put(&pool, &s);
    get_stack(&pool, 32 << 10, &s);
    CHECK(s.lo == lo, "expected the abandoned stack back");
    cio__ctx_make(&ab2_ctx, s.lo, s.size, reuse_entry, NULL);
    cio__ctx_switch(&main_ctx, &ab2_ctx);
    cio__stack_put(&pool, &s);
}

/* ---- 7. pool: LIFO reuse, size classes, guards ---- */

static void test_pool_basic(void)
{
    cio__stack_pool p;
    cio__stack a, b, c, x;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *la, *lb, *lc;

    cio__stack_pool_init(&p, 0);
    get_stack(&p, 0, &a);
    get_stack(&p, 0, &b);
    get_stack(&p, 0, &c);
    CHECK(a.size == CIO__STACK_DEFAULT, "default size %zu", a.size);
    CHECK((uintptr_t)a.lo % page == 0, "lo not page aligned");
    CHECK((char *)b.lo == (char *)a.lo + a.size + page,
          "consecutive stacks should be adjacent slots of one slab");
    la = a.lo; lb = b.lo; lc = c.lo;
    cio__stack_put(&p, &a);
    cio__stack_put(&p, &b);
    cio__stack_put(&p, &c);
    CHECK(a.lo == NULL && a.size == 0, "put should clear the handle");
    get_stack(&p, 0, &x);
    CHECK(x.lo == lc, "LIFO: expected last put (c)");
    get_stack(&p, 0, &b);
    CHECK(b.lo == lb, "LIFO: expected b");
    get_stack(&p, 0, &a);
    CHECK(a.lo == la, "LIFO: expected a");
    cio__stack_put(&p, &a);
    cio__stack_put(&p, &b);
    cio__stack_put(&p, &x);

    {
        static const struct { size_t ask, want; } sz[] = {
            { 4096, 16 << 10 },
            { 16 << 10, 16 << 10 },
            { (16 << 10) + 1, 32 << 10 },
            { 100000, 128 << 10 },
            { 1 << 20, 1 << 20 },
            { 8 << 20, 8 << 20 },
        };
        for (size_t i = 0; i < sizeof sz / sizeof sz[0]; i++) {
            get_stack(&p, sz[i].ask, &x);
            CHECK(x.size == sz[i].want, "get(%zu) gave %zu, want %zu",
                  sz[i].ask, x.size, sz[i].want);
            /* The whole usable range must be writable. */
            memset(x.lo, 0x5a, x.size);
            CHECK(cio__stack_canary_ok(&x) || x.guard_size_ != 0,
                  "guarded stacks always pass the canary check");
            cio__stack_put(&p, &x);
        }
        get_stack(&p, (8 << 20) + 1, &x);
        CHECK(x.size == (8 << 20) + page, "large stack size %zu", x.size);
        memset(x.lo, 0x5a, x.size);
        cio__stack_put(&p, &x);
    }

    /* Impossible sizes fail cleanly. */
    CHECK(cio__stack_get(&p, SIZE_MAX, &x) == -ENOMEM, "SIZE_MAX");
    CHECK(cio__stack_get(&p, SIZE_MAX / 4, &x) == -ENOMEM, "SIZE_MAX / 4");
    CHECK(p.nout == 0, "failed gets counted as handed out");

    /* A different default. */
    cio__stack_pool_destroy(&p);
    cio__stack_pool_init(&p, 40000);
    get_stack(&p, 0, &x);
    CHECK(x.size == 64 << 10, "default 40000 -> %zu", x.size);
    CHECK(cio__stack_pool_guarded(&p) == 1, "guarded %zu",
          cio__stack_pool_guarded(&p));
    CHECK(cio__stack_is_guard_fault(&x, (char *)x.lo - 1), "byte below lo");
    CHECK(cio__stack_is_guard_fault(&x, (char *)x.lo - page), "guard start");
    CHECK(!cio__stack_is_guard_fault(&x, (char *)x.lo - page - 1),
          "below the guard");
    CHECK(!cio__stack_is_guard_fault(&x, x.lo), "lo itself");
    cio__stack_put(&p, &x);
    cio__stack_pool_destroy(&p);
    CHECK(cio__stack_pool_guarded(&p) == 0, "destroy left guards counted");

    /* Canary-only stacks. */
    cio__stack_pool_init(&p, 0);
    p.guard_mode = CIO__STACK_GUARD_NONE;
    get_stack(&p, 0, &x);
    CHECK(x.guard_size_ == 0 && cio__stack_pool_guarded(&p) == 0,
          "forced canary mode still guarded");
    CHECK(cio__stack_canary_ok(&x), "fresh canary");
    CHECK(!cio__stack_is_guard_fault(&x, (char *)x.lo - 1),
          "unguarded stack has no guard fault");
    memset((char *)x.lo + 8, 0x77, x.size - 8);
    CHECK(cio__stack_canary_ok(&x), "canary clobbered by in-bounds writes");
    memset(x.lo, 0, 8);
    CHECK(!cio__stack_canary_ok(&x), "clobbered canary not detected");
    cio__stack_put(&p, &x);
    cio__stack_pool_destroy(&p);
}

/* ---- 8. high-water mark ---- */

static cio__ctx hw_ctx;

static NOINLINE REAL_FRAME void hw_touch(size_t n)
{
    volatile char buf[40000];

    for (size_t i = 0; i < n && i < sizeof buf; i++)
        buf[i] = 1;
}

static void hw_entry(void *arg)
{
    hw_touch((size_t)(uintptr_t)arg);
    cio__ctx_switch_last(&hw_ctx, &main_ctx);
}

static void test_high_water(void)
{
    cio__stack_pool p;
    cio__stack s;
    size_t page = (size_t)sysconf(_SC_PAGESIZE), hw;

    cio__stack_pool_init(&p, 0);
    for (int mode = 0; mode < 2; mode++) {
        if (mode == 1) {
            cio__stack_pool_destroy(&p);
            cio__stack_pool_init(&p, 0);
            p.guard_mode = CIO__STACK_GUARD_NONE;
        }
        get_stack(&p, 0, &s);
        CHECK(cio__stack_high_water(&s) == 0, "untouched stack: %zu",
              cio__stack_high_water(&s));
        cio__ctx_make(&hw_ctx, s.lo, s.size, hw_entry, (void *)(uintptr_t)40000);
        hw = cio__stack_high_water(&s);
        CHECK(hw > 0 && hw <= 256, "after make: %zu", hw);
        cio__ctx_switch(&main_ctx, &hw_ctx);
        hw = cio__stack_high_water(&s);
        CHECK(hw >= 40000 && hw <= 40000 + 2 * page, "after 40000 bytes: %zu",
              hw);
        cio__stack_put(&p, &s);
    }
    cio__stack_pool_destroy(&p);
}

/* ---- 9. slabs: thousands of stacks, few mappings ---- */

static void test_slabs(void)
{
    enum { N = 10000, M = 100000 };
    static cio__stack s[M];
    cio__stack_pool p;
    int before, after;

    cio__stack_pool_init(&p, 0);
    before = count_maps();
    for (int i = 0; i < N; i++)
        get_stack(&p, 0, &s[i]);
    after = count_maps();
    printf("  10000 stacks: /proc/self/maps %d -> %d lines, %zu guarded "
           "(%zu by mprotect), guard mode %s\n",
           before, after, cio__stack_pool_guarded(&p), p.nmprotect,
           p.guard_mode == CIO__STACK_GUARD_MADVISE ? "MADV_GUARD_INSTALL"
           : p.guard_mode == CIO__STACK_GUARD_MPROTECT ? "mprotect" : "none");
    /* Each mprotect guard may split a mapping in two; nothing else may add
     * more than a few mappings per slab. */
    CHECK(after - before <= (int)(2 * p.nmprotect) + N / 100,
          "maps grew by %d for %d stacks", after - before, N);
    /* With mprotect guards, the process-wide budget may run out first. */
    CHECK(cio__stack_pool_guarded(&p) == N ||
              (p.guard_mode == CIO__STACK_GUARD_MPROTECT &&
               cio__stack_pool_guarded(&p) == p.nmprotect),
          "guarded %zu of %d", cio__stack_pool_guarded(&p), N);
    for (int i = 0; i < N; i++)
        cio__stack_put(&p, &s[i]);

    /* 100,000 get+put pairs: one hot stack reused every time. */
    {
        void *first = NULL;
        int same = 0;
        before = count_maps();
        for (int i = 0; i < M; i++) {
            cio__stack t;
            get_stack(&p, 0, &t);
            if (i == 0)
                first = t.lo;
            same += t.lo == first;
            cio__stack_put(&p, &t);
        }
        CHECK(same == M, "hot stack reused %d of %d times", same, M);
        CHECK(count_maps() == before, "get/put loop changed the memory map");
    }

    /* 100,000 held at once, then all returned. */
    before = count_maps();
    for (int i = 0; i < M; i++)
        get_stack(&p, 0, &s[i]);
    after = count_maps();
    printf("  100000 stacks held: maps %d -> %d lines, %zu guarded\n", before,
           after, cio__stack_pool_guarded(&p));
    CHECK(after - before <= (int)(2 * p.nmprotect) + M / 100,
          "maps grew by %d for %d stacks", after - before, M);
    /* Touch the top of each, as a task would. */
    for (int i = 0; i < M; i++)
        ((volatile char *)s[i].lo)[s[i].size - 1] = 1;
    {
        cio__stack t, u;
        void *last = s[M - 1].lo;
        for (int i = 0; i < M; i++)
            cio__stack_put(&p, &s[i]);
        get_stack(&p, 0, &t);
        CHECK(t.lo == last, "LIFO after mass put");
        /* Only the last byte was written: the word holding it counts. */
        CHECK(cio__stack_high_water(&t) == 8, "hot stack high water %zu",
              cio__stack_high_water(&t));
        cio__stack_put(&p, &t);
        /* Recently used stacks stay hot; a forced trim hands the coldest
         * ones back to the kernel. */
        cio__stack_pool_trim(&p);
        for (int i = 0; i < M; i++)
            get_stack(&p, 0, &s[i]);
        u = s[M - 1];
        CHECK(cio__stack_high_water(&u) == 0, "trimmed stack still resident");
        CHECK(cio__stack_canary_ok(&u), "canary after trim");
        for (int i = 0; i < M; i++)
            cio__stack_put(&p, &s[i]);
    }
    cio__stack_pool_destroy(&p);
}

/* ---- 10. guard pages stop an overflow (in a child) ---- */

static cio__stack gf_victim, gf_neighbour;
static cio__ctx gf_ctx;
static volatile int gf_limit = 1 << 30;
static int gf_use_handler;

static NOINLINE REAL_FRAME int gf_recurse(int depth, volatile char *up)
{
    volatile char buf[512];

    buf[0] = (char)depth;
    buf[511] = up ? up[0] : 0;
    if (depth > gf_limit)
        return 0;
    return gf_recurse(depth + 1, buf) + buf[1];
}

static int gf_neighbour_intact(void)
{
    const unsigned char *top = (unsigned char *)gf_neighbour.lo + gf_neighbour.size;

    for (int i = 1; i <= 4096; i++)
        if (top[-i] != 0xA5)
            return 0;
    return 1;
}

static void gf_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    if (!cio__stack_is_guard_fault(&gf_victim, si->si_addr))
        _exit(41);
    _exit(gf_neighbour_intact() ? 42 : 43);
}

static void gf_entry(void *arg)
{
    (void)arg;
    gf_recurse(0, NULL);
    cio__ctx_switch_last(&gf_ctx, &main_ctx);
}

static void child_overflow(void *arg)
{
    cio__stack_pool p;
    struct sigaction sa;
    stack_t ss;

    cio__stack_pool_init(&p, 64 << 10);
    p.guard_mode = (int)(intptr_t)arg;
    get_stack(&p, 0, &gf_neighbour);
    get_stack(&p, 0, &gf_victim);
    if ((char *)gf_victim.lo != (char *)gf_neighbour.lo + gf_neighbour.size +
                                    gf_victim.guard_size_ ||
        gf_victim.guard_size_ == 0)
        _exit(40);
    memset((char *)gf_neighbour.lo + gf_neighbour.size - 4096, 0xA5, 4096);

    memset(&sa, 0, sizeof sa);
    if (gf_use_handler) {
        ss.ss_sp = malloc(1 << 16);
        ss.ss_size = 1 << 16;
        ss.ss_flags = 0;
        sigaltstack(&ss, NULL);
        sa.sa_sigaction = gf_handler;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    } else {
        sa.sa_handler = SIG_DFL;
    }
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);

    cio__ctx_make(&gf_ctx, gf_victim.lo, gf_victim.size, gf_entry, NULL);
    cio__ctx_switch(&main_ctx, &gf_ctx);
    _exit(44);      /* the recursion "finished": no guard */
}

static void test_guard_fault(void)
{
    static const struct { int mode; const char *name; } modes[] = {
        { CIO__STACK_GUARD_MADVISE, "madvise" },
        { CIO__STACK_GUARD_MPROTECT, "mprotect" },
    };

    for (int m = 0; m < 2; m++) {
        int st;

        gf_use_handler = 0;
        st = in_child(child_overflow, (void *)(intptr_t)modes[m].mode);
        /* Even under ASan: SIG_DFL set by the child overrides its handler. */
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
              "%s guard: overflow should die of SIGSEGV, wait status %#x",
              modes[m].name, st);
        gf_use_handler = 1;
        st = in_child(child_overflow, (void *)(intptr_t)modes[m].mode);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 42,
              "%s guard: handler check, status %#x (41 = fault not in guard, "
              "43 = neighbour corrupted, 40 = layout, 44 = no fault)",
              modes[m].name, st);
    }
}

/* ---- 11. mprotect budget (in a child: it is process-wide) ---- */

static void child_budget(void *arg)
{
    enum { B = 16384, EXTRA = 50 };
    cio__stack_pool p;
    cio__stack *s = malloc((B + EXTRA) * sizeof *s);
    int before, after;

    (void)arg;
    /* Where MADV_GUARD_INSTALL is missing, the parent's pool holds part of
     * the budget; this child never uses it again. */
    cio__stack_pool_destroy(&pool);
    cio__stack_pool_init(&p, 16 << 10);
    p.guard_mode = CIO__STACK_GUARD_MPROTECT;
    before = count_maps();
    for (int i = 0; i < B + EXTRA; i++)
        if (cio__stack_get(&p, 0, &s[i]) != 0)
            _exit(50);
    after = count_maps();
    if (cio__stack_pool_guarded(&p) != B)
        _exit(51);
    if (after - before > 2 * B + 100)
        _exit(52);
    for (int i = 0; i < B; i++)
        if (s[i].guard_size_ == 0)
            _exit(53);
    for (int i = B; i < B + EXTRA; i++)
        if (s[i].guard_size_ != 0 || !cio__stack_canary_ok(&s[i]))
            _exit(54);
    for (int i = 0; i < B + EXTRA; i++)
        cio__stack_put(&p, &s[i]);
    cio__stack_pool_destroy(&p);
    if (count_maps() > before + 5)
        _exit(55);

    /* Destroy gave the budget back. */
    cio__stack_pool_init(&p, 16 << 10);
    p.guard_mode = CIO__STACK_GUARD_MPROTECT;
    for (int i = 0; i < EXTRA; i++)
        if (cio__stack_get(&p, 0, &s[i]) != 0 || s[i].guard_size_ == 0)
            _exit(56);
    for (int i = 0; i < EXTRA; i++)
        cio__stack_put(&p, &s[i]);
    cio__stack_pool_destroy(&p);
    free(s);
    _exit(0);
}

static void test_budget(void)
{
    int st;

    if (UNDER_VALGRIND()) {
        printf("  mprotect budget: skipped under valgrind\n");
        return;
    }
#if defined(CIO__TSAN)
    printf("  mprotect budget: skipped under ThreadSanitizer (its own mappings)\n");
    return;
#endif
    st = in_child(child_budget, NULL);

    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "mprotect budget: child status %#x (see child_budget exit codes)", st);
}

/* ---- 12. parked tasks are cheap ---- */

static cio__ctx *pk_ctx;

static void pk_entry(void *arg)
{
    size_t i = (size_t)(uintptr_t)arg;

    for (;;)
        cio__ctx_switch(&pk_ctx[i], &main_ctx);
}

/* Returns resident bytes per parked task. */
static double park(size_t n, int verbose)
{
    cio__stack_pool p;
    cio__stack *s = malloc(n * sizeof *s);
    long before, after;
    struct timespec t0, t1;

    pk_ctx = malloc(n * sizeof *pk_ctx);
    if (!s || !pk_ctx) {
        printf("FAIL out of memory\n");
        exit(1);
    }
    cio__stack_pool_init(&p, 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    before = resident_bytes();
    for (size_t i = 0; i < n; i++) {
        get_stack(&p, 0, &s[i]);
        cio__ctx_make(&pk_ctx[i], s[i].lo, s[i].size, pk_entry,
                      (void *)(uintptr_t)i);
        cio__ctx_switch(&main_ctx, &pk_ctx[i]);
    }
    after = resident_bytes();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (verbose)
        printf("parked %zu coroutines in %.2f s: %.0f resident bytes/task "
               "(stacks + pool metadata + page tables), %zu guarded, "
               "%d lines in /proc/self/maps\n",
               n, (double)(t1.tv_sec - t0.tv_sec) +
                      (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
               (double)(after - before) / (double)n,
               cio__stack_pool_guarded(&p), count_maps());
    for (size_t i = 0; i < n; i++)
        cio__stack_put(&p, &s[i]);
    cio__stack_pool_destroy(&p);
    free(s);
    free(pk_ctx);
    return (double)(after - before) / (double)n;
}

static void test_parked(void)
{
    double per = park(20000, 0);

    printf("  20000 parked coroutines: %.0f resident bytes each "
           "(of which cio__ctx %zu)\n", per, sizeof(cio__ctx));
#if defined(CIO__TSAN)
    printf("  resident bytes per parked task: not checked under ThreadSanitizer (its shadow)\n");
#elif !defined(CIO__ASAN)
    /* The budget is for the stack; a ucontext_t is up to 4.5 KiB more. */
    CHECK(per - (double)sizeof(cio__ctx) <= 8.5 * 1024 || UNDER_VALGRIND(),
          "%.0f bytes resident per parked task", per);
#endif
}

/* ---- benchmark ---- */

static cio__ctx bench_ctx;

static void bench_entry(void *arg)
{
    (void)arg;
    for (;;)
        cio__ctx_switch(&bench_ctx, &main_ctx);
}

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int bench(void)
{
    const long iters = 10 * 1000 * 1000;
    cio__stack s;
    double best = 1e30;

    get_stack(&pool, 0, &s);
    cio__ctx_make(&bench_ctx, s.lo, s.size, bench_entry, NULL);
    for (long i = 0; i < 100000; i++)
        cio__ctx_switch(&main_ctx, &bench_ctx);
    /* Best of three damps noise from other tenants of the machine. */
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now_ns(), ns;
        for (long i = 0; i < iters; i++)
            cio__ctx_switch(&main_ctx, &bench_ctx);
        ns = (now_ns() - t0) / (double)iters;
        if (ns < best)
            best = ns;
    }
    printf("ctx_switch_roundtrip ns=%.1f\n", best);
    {
        double t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            cio__stack t;
            get_stack(&pool, 0, &t);
            cio__stack_put(&pool, &t);
        }
        printf("stack_get_put ns=%.1f\n", (now_ns() - t0) / (double)iters);
    }
    cio__stack_put(&pool, &s);
    cio__stack_pool_destroy(&pool);
    return 0;
}

int main(int argc, char **argv)
{
    int fds;

    setvbuf(stdout, NULL, _IOLBF, 0);
    cio__stack_pool_init(&pool, 0);
    if (argc > 1 && strcmp(argv[1], "--bench") == 0)
        return bench();
    if (argc > 1 && strcmp(argv[1], "--million") == 0) {
        park(1000000, 1);
        return 0;
    }

    fds = count_fds();
    RUN_TEST(test_ping_pong);
    RUN_TEST(test_direct);
    RUN_TEST(test_fp);
    RUN_TEST(test_alignment);
    RUN_TEST(test_entry_returns);
    RUN_TEST(test_many);
    RUN_TEST(test_reuse_abandoned);
    RUN_TEST(test_pool_basic);
    RUN_TEST(test_high_water);
    RUN_TEST(test_slabs);
    RUN_TEST(test_guard_fault);
    RUN_TEST(test_budget);
    RUN_TEST(test_parked);

    CHECK(pool.nout == 0, "%zu stacks not put back", pool.nout);
    CHECK(count_fds() == fds, "file descriptors leaked: %d -> %d", fds,
          count_fds());
    cio__stack_pool_destroy(&pool);
    int unmatched = check_unmatched_names();
    printf("test_ctx: %d passed, %d failed\n", checks - failures, failures);
    return failures || unmatched ? 1 : 0;
}
