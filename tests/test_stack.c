/* SPDX-License-Identifier: MIT */
/* Compact stacks (cio.h "Stack modes", src/core/stack.c note 4): tasks
 * spawned with a stack size below a page get packed slots with a canary.
 *
 *   - packed: compact tasks parked at once sit several to a page, each slot
 *     of the requested size, unguarded (canary); a task parked on a future
 *     fits and wakes with the value (and so do sleeps and events);
 *   - each suspending call cio.h lists parks in a compact slot with room to
 *     spare (CIO_STACK_COMPACT; gather in CIO_STACK_COMPACT_GATHER);
 *   - per loop and per task: cio_loop_set_stack_size(CIO_STACK_COMPACT)
 *     makes compact the default, a task's own size overrides it both ways;
 *   - cancellation of parked and never-started compact tasks;
 *   - a pointer into a parked compact task's stack, held by another task
 *     across suspensions, stays valid (stacks are never copied or moved);
 *   - slots are reused, and a loop's compact slots go back to the pool;
 *   - resident memory: compact parked tasks cost far less than a page each
 *     (one-sided, generous bound), a default-mode one its stack page, its
 *     record and 32 bytes of pool bookkeeping (both skipped under
 *     sanitizers and valgrind);
 *   - overflow: a compact task that recurses past its slot is reported at
 *     its next switch out and the process aborts naming it (child process).
 * Exit 0 = pass. */
#include "check.h"
#include "lib/child.h"

#include <signal.h>
#include <stdint.h>

#if defined(__has_include)
#  if __has_include(<valgrind/valgrind.h>)
#    include <valgrind/valgrind.h>
#    define UNDER_VALGRIND() RUNNING_ON_VALGRIND
#  endif
#endif
#ifndef UNDER_VALGRIND
#  define UNDER_VALGRIND() 0
#endif

#if defined(CIO__ASAN)
#  define SCALE 4 /* stack.c: compact sizes are 4n + 8 KiB under ASan */
#else
#  define SCALE 1
#endif

static const cio_task_opts compact = {.stack_size = CIO_STACK_COMPACT};

static cio__stack *stack_of(cio_task *t) { return &cio__task_of(t)->stack; }

/* The size a compact request (below a page) gets. */
static size_t want_size(size_t n)
{
    if (n < 512)
        n = 512;
#if defined(CIO__ASAN)
    return (n * 4 + 8192 + 1023) / 1024 * 1024;
#else
    return (n + 127) / 128 * 128;
#endif
}

/* ---- parked on a future, several to a page -------------------------------------- */

enum { NPARK = 64 };
static cio_future *gate;
static int woken;

static void *park_on_gate(void *arg)
{
    void *v = NULL;
    int rc = cio_await(gate, &v);
    if (rc == 0 && v == arg)
        woken++;
    return arg;
}

static void *t_packed(void *arg)
{
    (void)arg;
    cio_task *ts[NPARK];
    woken = 0;
    gate = cio_future_new(NULL);
    for (int i = 0; i < NPARK; i++)
        CHECK((ts[i] = cio_spawn_ex(NULL, park_on_gate, gate, &compact)) != NULL);
    cio_yield(); /* all run up to their await */
    int same_page = 0;
    for (int i = 0; i < NPARK; i++) {
        cio__stack *s = stack_of(ts[i]);
        CHECK_EQ(cio__task_of(ts[i])->tstate, CIO__TS_SUSPENDED);
        CHECK_EQ(s->size, want_size(CIO_STACK_COMPACT));
        CHECK_EQ(s->guard_size_, 0);
        CHECK(cio__stack_canary_ok(s));
        size_t used = cio__stack_high_water(s);
        CHECK(used > 0 && used < s->size); /* the park fits, with room */
        if (i > 0) {
            uintptr_t a = (uintptr_t)s->lo, b = (uintptr_t)stack_of(ts[i - 1])->lo;
            same_page += a / 4096 == b / 4096;
        }
    }
    /* 640-byte slots: most neighbours share a page. */
    if (SCALE == 1)
        CHECK(same_page >= NPARK / 2);
    cio_future_set_result(gate, gate);
    for (int i = 0; i < NPARK; i++) {
        void *v = NULL;
        CHECK_EQ(cio_await(ts[i], &v), 0);
        CHECK(v == gate);
        cio_release(ts[i]);
    }
    CHECK_EQ(woken, NPARK);
    cio_release(gate);
    return NULL;
}

/* ---- sleeps and events ------------------------------------------------------------ */

static void *sleeper(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++)
        if (cio_sleep(0.001) != 0)
            return NULL;
    return (void *)1;
}

static void *event_waiter(void *arg)
{
    return cio_event_wait(arg) == 0 ? (void *)2 : NULL;
}

static void *t_sleep_and_event(void *arg)
{
    (void)arg;
    cio_event *ev = cio_event_new();
    cio_task *a = cio_spawn_ex(NULL, sleeper, NULL, &compact);
    cio_task *b = cio_spawn_ex(NULL, event_waiter, ev, &compact);
    cio_sleep(0.002);
    cio_event_set(ev);
    void *va = NULL, *vb = NULL;
    CHECK_EQ(cio_await(a, &va), 0);
    CHECK_EQ(cio_await(b, &vb), 0);
    CHECK(va == (void *)1);
    CHECK(vb == (void *)2);
    cio_release(a);
    cio_release(b);
    cio_event_free(ev);
    return NULL;
}

/* ---- cio's suspending calls fit, with room to spare ------------------------------ */

typedef struct waits {
    cio_future *fut;
    cio_event *ev;
    cio_lock *lock;
    cio_sem *sem;
    cio_queue *q;
    int pipe[2];
} waits;

static void *w_await(void *a) { return (void *)(intptr_t)cio_await(((waits *)a)->fut, NULL); }
static void *w_wait_for(void *a) { return (void *)(intptr_t)cio_wait_for(((waits *)a)->fut, 3600, NULL); }
static void *w_sleep(void *a) { (void)a; return (void *)(intptr_t)cio_sleep(3600); }
static void *w_event(void *a) { return (void *)(intptr_t)cio_event_wait(((waits *)a)->ev); }
static void *w_lock(void *a) { return (void *)(intptr_t)cio_lock_acquire(((waits *)a)->lock); }
static void *w_sem(void *a) { return (void *)(intptr_t)cio_sem_acquire(((waits *)a)->sem); }
static void *w_queue(void *a)
{
    void *item;
    return (void *)(intptr_t)cio_queue_get(((waits *)a)->q, &item);
}
static void *w_fd(void *a) { return (void *)(intptr_t)cio_wait_readable(((waits *)a)->pipe[0]); }
static void *w_timeout(void *a)
{
    cio_timeout to;
    int rc = cio_timeout_enter(&to, 3600);
    if (rc == 0)
        rc = cio_timeout_exit(&to, cio_await(((waits *)a)->fut, NULL));
    return (void *)(intptr_t)rc;
}
static void *w_gather(void *a)
{
    cio_future *fs[2] = {((waits *)a)->fut, ((waits *)a)->fut};
    void *res[2];
    return (void *)(intptr_t)cio_gather(fs, 2, res, NULL, 0);
}

/* The calls cio.h promises fit in CIO_STACK_COMPACT, and gather in
 * CIO_STACK_COMPACT_GATHER, each leaving at least ROOM bytes for the body's
 * own frames. */
#define ROOM 128

static void *t_waits_fit(void *arg)
{
    (void)arg;
    static const struct {
        const char *what;
        cio_task_fn fn;
        size_t size;
    } ws[] = {
        {"await", w_await, CIO_STACK_COMPACT},
        {"wait_for", w_wait_for, CIO_STACK_COMPACT},
        {"sleep", w_sleep, CIO_STACK_COMPACT},
        {"event", w_event, CIO_STACK_COMPACT},
        {"lock", w_lock, CIO_STACK_COMPACT},
        {"semaphore", w_sem, CIO_STACK_COMPACT},
        {"queue get", w_queue, CIO_STACK_COMPACT},
        {"fd readable", w_fd, CIO_STACK_COMPACT},
        {"timeout scope", w_timeout, CIO_STACK_COMPACT},
        {"gather", w_gather, CIO_STACK_COMPACT_GATHER},
    };
    enum { NW = sizeof ws / sizeof ws[0] };
    waits w = {cio_future_new(NULL), cio_event_new(), cio_lock_new(), cio_sem_new(0), cio_queue_new(0), {-1, -1}};
    CHECK(pipe(w.pipe) == 0);
    CHECK_EQ(cio_lock_acquire(w.lock), 0); /* held: w_lock parks */
    cio_task *ts[NW];
    for (int i = 0; i < NW; i++)
        ts[i] = cio_spawn_ex(NULL, ws[i].fn, &w, &(cio_task_opts){.stack_size = ws[i].size});
    cio_yield();
    for (int i = 0; i < NW; i++) {
        cio__stack *s = stack_of(ts[i]);
        size_t used = cio__stack_high_water(s);
        CHECK_EQ(cio__task_of(ts[i])->tstate, CIO__TS_SUSPENDED);
        CHECK_EQ(s->size, want_size(ws[i].size));
        if (used + ROOM * SCALE > s->size || getenv("CIO_TEST_VERBOSE"))
            fprintf(stderr, "compact %s: %zu of %zu bytes\n", ws[i].what, used, s->size);
        CHECK(used + ROOM * SCALE <= s->size);
    }
    for (int i = 0; i < NW; i++) {
        void *v = NULL;
        cio_cancel(ts[i], NULL);
        int rc = cio_await(ts[i], &v);
        /* The wait returned -ECANCELED: the task either ended cancelled or
         * (wait_for, timeout scope, gather: the cancellation reached it as
         * the awaited future's) returned that code. */
        CHECK(rc == -ECANCELED || (rc == 0 && (intptr_t)v == -ECANCELED));
        cio_release(ts[i]);
    }
    cio_lock_release(w.lock);
    cio_close(w.pipe[0]);
    cio_close(w.pipe[1]);
    cio_release(w.fut);
    cio_event_free(w.ev);
    cio_lock_free(w.lock);
    cio_sem_free(w.sem);
    cio_queue_free(w.q);
    return NULL;
}

/* ---- per loop and per task ------------------------------------------------------ */

static void *nothing(void *arg)
{
    cio_yield();
    return arg;
}

static void *t_per_loop(void *arg)
{
    (void)arg;
    cio_loop_set_stack_size(cio_loop_current(), CIO_STACK_COMPACT);
    cio_task *c = cio_spawn(nothing, NULL);
    cio_task *d = cio_spawn_ex(NULL, nothing, NULL, &(cio_task_opts){.stack_size = 64 * 1024});
    cio_loop_set_stack_size(cio_loop_current(), 0);
    cio_task *e = cio_spawn(nothing, NULL);
    cio_yield();
    CHECK_EQ(stack_of(c)->size, want_size(CIO_STACK_COMPACT));
    CHECK_EQ(stack_of(d)->size, 64 * 1024);
    CHECK_EQ(stack_of(e)->size, 128 * 1024);
    /* sizes below the minimum are raised to it */
    cio_task *f = cio_spawn_ex(NULL, nothing, NULL, &(cio_task_opts){.stack_size = 100});
    cio_yield();
    CHECK_EQ(stack_of(f)->size, want_size(100));
    cio_task *all[] = {c, d, e, f};
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(cio_await(all[i], NULL), 0);
        cio_release(all[i]);
    }
    return NULL;
}

/* ---- cancellation ------------------------------------------------------------------ */

static void *forever(void *arg)
{
    (void)arg;
    int rc = cio_sleep(3600);
    return (void *)(intptr_t)rc;
}

static void *t_cancel(void *arg)
{
    (void)arg;
    cio_task *parked = cio_spawn_ex(NULL, forever, NULL, &compact);
    cio_task *unstarted = cio_spawn_ex(NULL, forever, NULL, &compact);
    cio_yield(); /* both parked in their sleep */
    CHECK(cio__task_of(parked)->has_stack);
    CHECK(cio_cancel(parked, "bye"));
    CHECK_EQ(cio_await(parked, NULL), -ECANCELED);
    CHECK(cio_cancelled(parked));
    /* cancelled before its first step: never gets a stack */
    cio_task *late = cio_spawn_ex(NULL, forever, NULL, &compact);
    CHECK(cio_cancel(late, NULL));
    CHECK_EQ(cio_await(late, NULL), -ECANCELED);
    CHECK(!cio__task_of(late)->has_stack);
    CHECK(cio_cancel(unstarted, NULL));
    CHECK_EQ(cio_await(unstarted, NULL), -ECANCELED);
    cio_release(parked);
    cio_release(late);
    cio_release(unstarted);
    return NULL;
}

/* ---- pointers into a parked compact stack stay valid --------------------------- */

typedef struct shared {
    cio_event *go;
    int *slot; /* points into the owner's stack */
} shared;

static void *owner(void *arg)
{
    shared *sh = arg;
    int local = 0;
    sh->slot = &local;
    cio_event_wait(sh->go);  /* parked: the writer runs on another compact stack */
    cio_yield();
    return (void *)(intptr_t)local;
}

static void *writer(void *arg)
{
    shared *sh = arg;
    int filler[32]; /* use this task's own stack meanwhile */
    for (int i = 0; i < 32; i++)
        filler[i] = i;
    cio_yield();
    *sh->slot = 42 + filler[31] - 31;
    cio_event_set(sh->go);
    return NULL;
}

static void *t_pointer_into_stack(void *arg)
{
    (void)arg;
    shared sh = {cio_event_new(), NULL};
    cio_task *o = cio_spawn_ex(NULL, owner, &sh, &compact);
    cio_yield();
    cio_task *w = cio_spawn_ex(NULL, writer, &sh, &compact);
    void *v = NULL;
    CHECK_EQ(cio_await(o, &v), 0);
    CHECK_EQ((intptr_t)v, 42);
    CHECK_EQ(cio_await(w, NULL), 0);
    cio_release(o);
    cio_release(w);
    cio_event_free(sh.go);
    return NULL;
}

/* ---- reuse -------------------------------------------------------------------------- */

static void *t_reuse(void *arg)
{
    (void)arg;
    cio_loop *l = cio_loop_current();
    size_t out0 = l->stacks.nout;
    void *first = NULL;
    for (int round = 0; round < 3; round++) {
        cio_task *t = cio_spawn_ex(NULL, nothing, NULL, &compact);
        cio_yield();
        if (round == 0)
            first = stack_of(t)->lo;
        else
            CHECK(stack_of(t)->lo == first); /* LIFO: the slot just freed */
        CHECK_EQ(cio_await(t, NULL), 0);
        cio_release(t);
    }
    CHECK_EQ(l->stacks.nout, out0);
    return NULL;
}

/* ---- resident memory ----------------------------------------------------------------- */

#if !defined(CIO__ASAN) && !defined(CIO__TSAN)
static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    size_t n = strlen(key);
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':') {
            kb = atol(line + n + 1);
            break;
        }
    fclose(f);
    return kb;
}

enum { NRSS = 20000 };

static void *t_resident(void *arg)
{
    (void)arg;
    static cio_task *ts[NRSS];
    gate = cio_future_new(NULL);
    woken = 0;
    long kb0 = status_kb("VmRSS");
    for (int i = 0; i < NRSS; i++)
        CHECK((ts[i] = cio_spawn_ex(NULL, park_on_gate, gate, &compact)) != NULL);
    cio_yield();
    long kb1 = status_kb("VmRSS");
    /* Default mode costs more than 4 KiB each; compact about 1 KiB. */
    long per = (kb1 - kb0) * 1024 / NRSS;
    if (per >= 2048)
        fprintf(stderr, "compact parked task: %ld bytes resident\n", per);
    CHECK(per < 2048);
    cio_future_set_result(gate, gate);
    for (int i = 0; i < NRSS; i++) {
        CHECK_EQ(cio_await(ts[i], NULL), 0);
        cio_release(ts[i]);
    }
    CHECK_EQ(woken, NRSS);
    cio_release(gate);
    return NULL;
}

/* Default mode: a parked task costs the one stack page its frames touched,
 * its record (a malloc chunk: the record and malloc's 8-byte header, in
 * 16-byte steps) and the pool's 32 bytes of bookkeeping for its stack;
 * nothing else.  Before issue 13 it was 4096 + 288 + 48.  The references
 * are given back at once, as bench/parked does, so that no array of ours
 * is counted; run first in the process, so that no memory freed by an
 * earlier test is reused unseen. */
static int default_woken;

static void *park_default(void *arg)
{
    (void)arg;
    void *v = NULL;
    if (cio_await(gate, &v) == 0 && v == gate)
        default_woken++;
    return NULL;
}

static void *t_resident_default(void *arg)
{
    (void)arg;
    long page = sysconf(_SC_PAGESIZE);
    gate = cio_future_new(NULL);
    default_woken = 0;
    long kb0 = status_kb("VmRSS");
    for (int i = 0; i < NRSS; i++) {
        cio_task *t = cio_spawn(park_default, NULL);
        CHECK(t != NULL);
        cio_release(t); /* the task runs on */
    }
    cio_yield();
    long kb1 = status_kb("VmRSS");
    long per = (kb1 - kb0) * 1024 / NRSS;
    long chunk = ((long)sizeof(cio__task) + 8 + 15) / 16 * 16;
    /* plus what the run costs once, whatever N (the loop's first pages of
     * slab bookkeeping, stdio): 256 KiB, 13 bytes a task */
    long bound = page + chunk + 32 + (256 << 10) / NRSS;
    if (per > bound)
        fprintf(stderr, "default-mode parked task: %ld bytes resident (bound %ld)\n", per, bound);
    CHECK(per <= bound);
    cio_future_set_result(gate, gate);
    for (int i = 0; i < 4 && default_woken < NRSS; i++)
        cio_yield();
    CHECK_EQ(default_woken, NRSS);
    cio_release(gate);
    return NULL;
}
#endif

/* ---- overflow (child process) ------------------------------------------------------- */

/* Each frame fills its 256 bytes, as frames that use their locals do (an
 * overflow whose frames skip the canary word goes unseen: cio.h). */
static int recurse(int n)
{
    volatile char pad[256];
    for (int i = 0; i < 256; i++)
        pad[i] = (char)n;
    if (n == 0)
        return pad[0];
    return recurse(n - 1) + pad[255];
}

static void *diver(void *arg)
{
    (void)arg;
    /* About two slots deep, so into the neighbours' slots below, which
     * exist: the parked tasks spawned before took the lower slots. */
    int r = recurse((int)(want_size(CIO_STACK_COMPACT) * 2 / 256 + 2));
    cio_yield(); /* the switch out finds the canary gone */
    return (void *)(intptr_t)r;
}

static void *overflow_main(void *arg)
{
    (void)arg;
    cio_task *pad[4];
    gate = cio_future_new(NULL);
    for (int i = 0; i < 4; i++)
        pad[i] = cio_spawn_ex(NULL, park_on_gate, gate, &compact);
    cio_yield();
    cio_task *t = cio_spawn_ex(NULL, diver, NULL, &(cio_task_opts){.name = "diver", .stack_size = CIO_STACK_COMPACT});
    cio_await(t, NULL);
    (void)pad;
    return NULL;
}

static void overflow_child(void *arg)
{
    (void)arg;
    cio_run(overflow_main, NULL, NULL);
    _exit(1); /* not reached */
}

static void test_overflow(void)
{
    static char out[65536];
    int st = child_stderr(overflow_child, NULL, out, sizeof out);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
#if defined(CIO__ASAN)
    /* ASan may see the dive write into the neighbours' redzones first. */
    CHECK(strstr(out, "stack overflow in task diver") || strstr(out, "AddressSanitizer"));
#else
    CHECK(strstr(out, "stack overflow in task diver") != NULL);
#endif
    if (check_failures)
        fprintf(stderr, "child (wait status %#x) said: %s\n", st, out);
}

int main(void)
{
#if !defined(CIO__ASAN) && !defined(CIO__TSAN)
    if (!UNDER_VALGRIND())
        RUN_TASK_TEST(t_resident_default);
#endif
    RUN_TASK_TEST(t_packed);
    RUN_TASK_TEST(t_sleep_and_event);
    RUN_TASK_TEST(t_waits_fit);
    RUN_TASK_TEST(t_per_loop);
    RUN_TASK_TEST(t_cancel);
    RUN_TASK_TEST(t_pointer_into_stack);
    RUN_TASK_TEST(t_reuse);
#if !defined(CIO__ASAN) && !defined(CIO__TSAN)
    if (!UNDER_VALGRIND())
        RUN_TASK_TEST(t_resident);
#endif
    check_current = "overflow";
    RUN_TEST(test_overflow);
    return check_exit();
}
