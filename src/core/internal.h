/* SPDX-License-Identifier: MIT */
/* Internal structures of the core runtime, shared by src/core and the other
 * modules (which use only the cio__ functions declared here). */
#ifndef CIO_CORE_INTERNAL_H
#define CIO_CORE_INTERNAL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cio.h"
#include "core/ctx.h"
#include "core/stack.h"
#include "core/timer.h"
#include "util/list.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <time.h>


#define CIO__LIKELY(x) __builtin_expect(!!(x), 1)
#define CIO__UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- futures ------------------------------------------------------------ */

enum { CIO__PENDING = 0, CIO__RESULT, CIO__ERROR, CIO__CANCELLED };

/* A completion hook on a future.  Internal hooks (waiting tasks,
 * combinators) live in the waiter's own memory and are called synchronously
 * when the future completes, after being unlinked; they must not run user
 * code, only wake tasks or update combinator state.  User done callbacks are
 * hooks too, whose fn schedules the user's function with call_soon. */
typedef struct cio__fcb cio__fcb;
struct cio__fcb {
    cio__link link;
    void (*fn)(cio__fcb *cb, cio_future *f);
};

struct cio_future {
    cio_loop *loop;      /* NULL once the loop is closed */
    cio__link callbacks; /* cio__fcb, in the order added */
    cio__link all;       /* the loop's list of live futures and tasks */
    void *result;
    char *msg; /* error or cancel message (malloc'd) */
    int32_t err;
    uint32_t refs;
    uint8_t state;
    uint8_t is_task;
    uint8_t retrieved;
    uint8_t in_all;
    uint8_t gathering; /* a cio_gather_future: cio_cancel cancels its children (cio__gathering_cancel) */
};

/* Completes a pending future (state CIO__RESULT/ERROR/CANCELLED, msg owned
 * by the future afterwards); runs hooks.  f must be pending. */
void cio__future_complete(cio_future *f, int state, void *result, int err, char *msg);
void cio__fcb_add(cio_future *f, cio__fcb *cb, void (*fn)(cio__fcb *, cio_future *));
/* A pending future of loop l with one reference, listed in l->all; for the
 * future types built around one (tasks, shields, gathering futures). */
void cio__future_init(cio_future *f, cio_loop *l, bool is_task);
static inline void cio__fcb_remove(cio__fcb *cb) { cio__list_remove(&cb->link); }
/* The outcome code of a done future without marking it retrieved. */
int cio__future_code(const cio_future *f);
/* The loop a new future or task goes to (loop, or the current one), or NULL
 * with errno set (-CIO_ENOLOOP, -CIO_ELOOPCLOSED). */
cio_loop *cio__loop_for_new(cio_loop *loop);
/* Whether cb is a user done callback (a heap record) rather than an
 * internal hook living in its waiter's memory. */
bool cio__fcb_is_user(const cio__fcb *cb);

/* Completion hooks that run as asyncio runs done callbacks: from the ready
 * queue (call_soon), not inside the call that completed the future, so
 * whatever else became ready in the same pass (a sibling whose timer fired
 * too) runs first.  The combinators, task groups and shield decide on them
 * (first error, abort the siblings), as asyncio's callbacks do.  A batch
 * queues one handle for all its hooks that fired before it runs (one per
 * combinator, not one per child), and runs them in completion order.  Hooks
 * and batch live in the waiter's memory: initialise them, and remove every
 * hook and close the batch before that memory goes. */
typedef struct cio__dbatch cio__dbatch;
typedef struct cio__dhook cio__dhook;
struct cio__dbatch {
    cio_handle *h;   /* queued, not run yet */
    cio__link ready; /* hooks whose future completed, in that order */
};
struct cio__dhook {
    cio__fcb cb; /* on the future's list, then on the batch's */
    cio__dbatch *b;
    cio_future *f;
    void (*fn)(cio__dhook *d, cio_future *f);
};
void cio__dbatch_init(cio__dbatch *b);
void cio__dbatch_close(cio__dbatch *b);
void cio__dhook_init(cio__dhook *d);
/* Hooks d on f in batch b; if f is already done, d is queued at once. */
void cio__dhook_add(cio__dbatch *b, cio_future *f, cio__dhook *d, void (*fn)(cio__dhook *, cio_future *));
static inline void cio__dhook_remove(cio__dhook *d) { cio__list_remove(&d->cb.link); }

/* cio_cancel() of a cio_gather_future (combinators.c). */
bool cio__gathering_cancel(cio_future *f, const char *msg);

/* ---- ready queue -------------------------------------------------------- */

enum { CIO__RN_TASK = 1, CIO__RN_HANDLE = 2 };
typedef struct cio__rnode {
    struct cio__rnode *next;
    uint8_t kind;
} cio__rnode;

/* ---- tasks -------------------------------------------------------------- */

typedef struct cio__task cio__task;

/* What a parked task waits on.  Lives on the task's stack, inside the
 * suspending call.  cancel() is called when the task is cancelled while
 * parked here: it must either unlink the wait and wake the task with
 * -ECANCELED, or pass the cancellation on (e.g. cancel the awaited future)
 * and keep waiting; return false to leave the cancellation pending instead. */
typedef struct cio__wait cio__wait;
struct cio__wait {
    cio__task *task;
    const char *what; /* for task dumps */
    bool (*cancel)(cio__wait *w);
    int status;
    /* Whether a result that arrived while the task was cancelled (but not yet
     * resumed) may be dropped in favour of -ECANCELED: true for sleeps,
     * readiness and futures (nothing is lost), false for waits that hand
     * over a resource (a lock, a queue item), which keep their result and
     * leave the cancellation pending for the next suspension. */
    bool droppable;
};

enum { CIO__TS_CREATED = CIO_TASK_CREATED, CIO__TS_SCHEDULED, CIO__TS_RUNNING, CIO__TS_SUSPENDED, CIO__TS_DONE };

struct cio__task {
    struct cio_future f; /* a task is a future: must be first */
    cio__rnode rn;
    cio__ctx ctx;
    /* The name a dead record keeps for misuse reports (a double release
     * names the task) shares the bytes of its stack descriptor, unused
     * once the task has finished and given its stack back: with it the
     * record is 248 bytes, one 256-byte malloc chunk (272 took 288). */
    union {
        cio__stack stack;
        char deadname[24];
    };
    cio_task_fn fn;
    void *arg;
    cio__wait *wait; /* while suspended */
    char *name;      /* NULL: "Task-<id>" (made into name when asked for) */
    uint64_t id;
    int32_t ncancel;
    int32_t nhandled; /* requests the body caught (cio_task_catch_cancel): -ECANCELED no longer counts as delivered */
    int32_t fail_code;
    char *fail_msg;
    char *cancel_msg;
    uint8_t tstate;
    uint8_t must_cancel; /* a cancellation not yet delivered */
    uint8_t saw_cancel;  /* a suspending call returned -ECANCELED to the body */
    uint8_t failed;      /* cio_fail() was called */
    uint8_t has_stack;
    uint8_t overflowed; /* canary found broken: reported from the loop's stack (cio__task_reap) */
    struct cio__spawn_bt *spawn_bt; /* debug mode: where it was spawned */
};

static inline cio__task *cio__task_of(cio_future *f) { return (cio__task *)f; }


/* Parks the current task on w until cio__wake(); returns the wake status
 * (see cio__wait.droppable for cancellations that race with the wake). */
int cio__park(cio__wait *w);

/* Makes a parked task ready again; its cio__park() returns status. */
void cio__wake(cio__task *t, int status);

bool cio__task_cancel(cio__task *t, const char *msg);

/* Starts a task created with CIO_TASK_LAZY and (the loop running) runs it
 * up to its first suspension before returning, as `await coro` runs a
 * coroutine inline; anything else is left alone. */
void cio__task_start_inline(cio_task *f);

/* A suspending call is returning -ECANCELED to t's body: if t itself is being
 * cancelled, that cancellation has now been delivered (and t ends cancelled
 * unless it calls cio_task_uncancel).  An -ECANCELED that merely reports a
 * cancelled future t was awaiting is an ordinary error code the body can
 * handle. */
/* Whether task t (NULL outside a task) may wait for f: not itself, and on
 * its own loop.  0, CIO_ENOTASK, -EDEADLK or -EXDEV. */
static inline int cio__await_check(const cio__task *t, const cio_future *f)
{
    if (!t)
        return CIO_ENOTASK;
    if (&t->f == f)
        return -EDEADLK;
    if (f->loop != t->f.loop)
        return -EXDEV;
    return 0;
}

static inline void cio__note_cancel(cio__task *t)
{
    if (t->ncancel > t->nhandled)
        t->saw_cancel = 1;
}

/* ---- handles ------------------------------------------------------------ */

struct cio_handle {
    cio__rnode rn;
    cio__timer timer;
    cio_loop *loop;
    cio_callback cb;
    void *arg;
    cio_future *fut; /* done callbacks: fcb(fut, arg); holds a reference */
    cio_done_fn fcb;
    double when;
    uint16_t refs;
    uint8_t cancelled;
    uint8_t foreign; /* allocated by another thread (threadsafe inbox), or handed to the caller: freed with free(), never cached */
    struct cio_handle *ts_next;
};

/* ---- file descriptors and back ends ------------------------------------- */

typedef struct cio__fdwait {
    cio__wait w;
    cio__link link;
    int fd;
    int events;
} cio__fdwait;

typedef struct cio__fdent {
    cio__link waiters; /* cio__fdwait */
    cio_callback rcb, wcb;
    void *rarg, *warg;
    uint32_t gen;
    uint8_t interest; /* mask the back end currently watches */
    uint8_t internal; /* the loop's own wake-up / signal fds */
} cio__fdent;

#define CIO__FD_CHUNK 256

typedef struct cio__op cio__op; /* a completion operation: backend/backend.h */

/* The interface every back end implements (src/backend/). */
typedef struct cio__backend {
    const char *name;
    int (*init)(cio_loop *l);
    void (*destroy)(cio_loop *l);
    /* Changes the watched mask of fd from old to new (0 = not watched). */
    int (*ctl)(cio_loop *l, int fd, uint32_t gen, unsigned old_mask, unsigned new_mask);
    /* Waits up to timeout_ms (-1: forever) and reports each event with
     * cio__io_event(). Returns the number of events or a negative errno. */
    int (*poll)(cio_loop *l, int timeout_ms);
    /* Completion operations (cio__op, backend/backend.h; all NULL on a
     * readiness-only back end).  run parks the current task (t, of loop l). */
    bool (*op_supported)(const cio_loop *l, unsigned kind);
    int (*op_run)(cio_loop *l, cio__task *t, cio__op *op);
    int (*op_start)(cio_loop *l, cio__op *op);
    void (*op_cancel)(cio_loop *l, cio__op *op);
    /* fd is about to be closed (cio_fd_forget): stop what the kernel still
     * does on it.  NULL: nothing to do. */
    void (*forget_fd)(cio_loop *l, int fd);
    /* Used instead when init fails (unless CIO_LOOP_NO_FALLBACK). */
    const struct cio__backend *fallback;
} cio__backend;

/* The back end called name (NULL: unknown), and the default one
 * (src/backend/backend.c). */
const cio__backend *cio__backend_named(const char *name);
const cio__backend *cio__backend_default(void);

/* Called by back ends for every readiness event (mask of CIO_READABLE,
 * CIO_WRITABLE); events carrying a stale generation are dropped. */
void cio__io_event(cio_loop *l, int fd, uint32_t gen, unsigned events);

/* ---- the loop ----------------------------------------------------------- */

typedef struct cio__shutdown_hook {
    struct cio__shutdown_hook *next;
    void (*fn)(cio_loop *l, void *arg);
    void *arg;
} cio__shutdown_hook;

struct cio__sigstate;

struct cio_loop {
    /* ready queue: tasks and handles, FIFO */
    cio__rnode *rhead;
    cio__rnode **rtail;
    size_t nready;
    cio__task *current;
    cio__ctx main_ctx;
    uint32_t iter;
    bool running, stopping, closed, debug, debug_sigquit;

    cio__wheel wheel;

    const cio__backend *be;
    void *be_data;
    /* Non-zero while the back end has work that should not wait for the
     * next blocking poll (completion operations in flight, queued removals):
     * the loop then polls (non-blocking) every iteration, not every 32nd. */
    uint32_t be_work;
    cio__fdent **fdchunks;
    size_t nfdchunks;
    size_t nwatched; /* fds with a non-zero interest mask */
    size_t ninternal;

    /* call_soon_threadsafe inbox */
    pthread_mutex_t ts_lock;
    cio_handle *ts_head, *ts_tail;
    atomic_int ts_pending;
    atomic_int ts_posters; /* threads between unlocking and writing the eventfd */
    int wake_fd;

    cio__link all; /* live futures and tasks */
    size_t ntasks; /* tasks not done */
    uint64_t next_task_id;

    cio__stack_pool stacks;
    size_t default_stack;

    cio__task *free_tasks; /* linked through rn.next */
    size_t nfree_tasks;
    size_t free_tasks_low;                /* fewest pooled since the last reclaim pass (task.c) */
#define CIO__TASKS_KEEP 1024                  /* pooled records an idle loop keeps (task.c) */
    struct cio__quarantine *quarantine;   /* debug mode: released records held back (task.c) */
    cio_handle *free_handles; /* linked through ts_next */
    size_t nfree_handles;

    double slow_duration;
    /* Spinning before blocking (cio_loop_set_spin, loop.c's spin()): for
     * up to spin_ns, when the iteration before ran something (worked);
     * spin_miss counts the spins in a row that caught nothing. */
    uint64_t spin_ns;
    bool worked;
    uint8_t spin_miss, spin_probe;
    /* Virtual time (CIO_LOOP_VIRTUAL_TIME): the loop's clock is vnow, which
     * moves only when the idle loop jumps it to the next timer. */
    bool vtime;
    uint64_t vnow;
    /* The exception handler (cio_loop_set_exception_handler); NULL: the
     * default one. */
    cio_exception_handler exc_handler;
    void *exc_arg;
    struct cio__sigstate *sig;
    /* Also where modules above core keep their per-loop state (made
     * lazily: the default executor, the resolver), as their hook's arg:
     * see cio__loop_hook_arg. */
    cio__shutdown_hook *shutdown_hooks;
};

extern _Thread_local cio_loop *cio__tls_loop;    /* set with set_current */
extern _Thread_local cio_loop *cio__tls_running; /* the loop running now */

/* cio_run inside cio_run_threads (threads.c): whether this thread hooks
 * SIGINT (thread 0 only), this thread's main task started on l / about to
 * go, and Ctrl-C cancelled this thread's main (the others' are cancelled
 * too).  No-ops outside cio_run_threads. */
bool cio__threads_hook_sigint(void);
void cio__threads_started(cio_loop *l, cio_task *main);
void cio__threads_ending(void);
void cio__threads_interrupted(void);

static inline uint64_t cio__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
uint64_t cio__secs_to_ns(double s); /* clamps, never overflows */

/* The loop's clock in ns: CLOCK_MONOTONIC, or the virtual clock.  Every
 * deadline on the loop's timer wheel is on this clock. */
static inline uint64_t cio__loop_now_ns(const cio_loop *l)
{
    return CIO__UNLIKELY(l->vtime) ? l->vnow : cio__now_ns();
}

static inline void cio__ready_push(cio_loop *l, cio__rnode *n)
{
    n->next = NULL;
    *l->rtail = n;
    l->rtail = &n->next;
    l->nready++;
}
void cio__ready_push_front(cio_loop *l, cio__rnode *n);
/* inbox.c: move what other threads posted to the ready queue; the loop's
 * eventfd reader (drains the eventfd, then the inbox). */
void cio__ts_drain(cio_loop *l);
void cio__wake_fd_readable(void *arg);
/* inbox.c: the loop is closing: refuse new posts, drop what is queued. */
void cio__ts_close(cio_loop *l);

cio_loop *cio__loop_get(cio_loop *l); /* l, or the current loop, or NULL */
cio_handle *cio__handle_new(cio_loop *l);
void cio__handle_unref(cio_handle *h);
void cio__schedule_done_callback(cio_loop *l, cio_future *f, cio_done_fn fn, void *arg);
void cio__loop_run_once(cio_loop *l);
/* The start and end of a run (run_forever), for cio_run's final
 * cancel-and-wait: begin returns 0, CIO_ELOOPCLOSED or CIO_ERUNNING. */
int cio__loop_run_begin(cio_loop *l);
void cio__loop_run_end(cio_loop *l);
void cio__task_finish_step(cio_loop *l, cio__task *t); /* loop side after a task switched back */
/* Frees what a dead task record owns besides the future (name, messages,
 * spawn backtrace), keeping its name for misuse reports (task.c). */
void cio__task_drop_fields(cio__task *t);
/* t's name for a report that must not allocate (a signal handler, a dead
 * record): its name, or the one it kept when its record died; NULL for
 * "Task-<id>", which the caller spells out (task.c). */
const char *cio__task_report_name(const cio__task *t);
/* Task and future records (records.c): a record for a new task (pooled or
 * malloc'd; NULL without memory); a dead record back to the pool or
 * malloc; a dead record retired (held back first in debug mode, for
 * double release detection); the reclaim pass scheduled after a burst. */
cio__task *cio__task_record_new(cio_loop *l);
void cio__record_dispose(cio_loop *l, cio_future *f);
void cio__record_retire(cio_loop *l, cio_future *f);
void cio__reclaim_arm(cio_loop *l);
/* cio_loop_close: abandons the tasks still pending (stacks freed, never
 * resumed), unlinks the internal hooks of pending futures and detaches every
 * future from the loop. */
void cio__loop_abandon(cio_loop *l);
/* Out-of-line parts of the switch paths below (task.c). */
bool cio__task_prepare(cio_loop *l, cio__task *t);
void cio__task_reap(cio_loop *l, cio__task *t);
void cio__switch_to_task_debug(cio_loop *l, cio__task *t);
void cio__loop_add_shutdown_hook(cio_loop *l, void (*fn)(cio_loop *, void *), void *arg);
/* The arg of l's shutdown hook fn not run yet (the latest, if several), or
 * NULL: a module's per-loop state, registered with the hook that frees it. */
void *cio__loop_hook_arg(const cio_loop *l, void (*fn)(cio_loop *, void *));
int cio__add_internal_reader(cio_loop *l, int fd, cio_callback cb, void *arg);
cio__fdent *cio__fdent_get(cio_loop *l, int fd, bool create);
void cio__signals_close(cio_loop *l);
/* A signal arrived since the loop last asked (for loops too busy to poll). */
bool cio__signals_pending(cio_loop *l);
void cio__debug_report_slow(cio_loop *l, cio__task *t, cio_handle *h, double secs);
/* Debug mode: records the call stack of a task being spawned (t->spawn_bt). */
void cio__debug_note_spawn(cio__task *t);
/* The exception handler's reports (debug.c): a failed future whose error
 * nobody retrieved is being freed; loop l is closing with task f pending. */
void cio__report_unretrieved(cio_future *f);
void cio__report_destroyed_pending(cio_loop *l, cio_future *f);
/* While a loop runs, its thread has an alternate signal stack (its own or
 * one cio lends), so that handlers installed with SA_ONSTACK (cio's own,
 * the overflow report) never write a signal frame into a compact task's
 * slot.  Counted per thread; signal.c. */
void cio__altstack_hold(void);
void cio__altstack_drop(void);
void cio__debug_install(cio_loop *l);
void cio__debug_uninstall(cio_loop *l);
void cio__stack_overflow_abort(cio__task *t);

/* src/exec: the loop's default executor (started on first use), and
 * cio_fail() inside an executor job (returns false outside jobs). */
cio_executor *cio__default_executor(cio_loop *l);
/* For tests: whether l's default executor has been started. */
bool cio__default_executor_started(const cio_loop *l);
/* cio_fail outside a task: set by src/exec (before its first worker
 * starts), which records the failure of the executor job running on this
 * thread; NULL, or false returned: not in a job, nothing to record. */
extern bool (*cio__fail_outside_task)(int code, const char *fmt, va_list ap);

/* ---- hot paths, inline --------------------------------------------------
 * A yield is two context switches plus what runs around them; every call
 * level on either side costs a mispredicted return after the stack switch,
 * so the switch paths are inline into the loop and into the suspending
 * calls. */

/* The task running in this thread, or NULL. */
static inline cio__task *cio__current(void)
{
    cio_loop *l = cio__tls_running;
    return l ? l->current : NULL;
}

/* Checks that a suspending call may proceed: returns 0, CIO_ENOTASK outside
 * a task, or -ECANCELED (consuming a pending cancellation). */
static inline int cio__enter(cio__task **out)
{
    cio__task *t = cio__current();
    if (CIO__UNLIKELY(!t))
        return CIO_ENOTASK;
    *out = t;
    if (CIO__UNLIKELY(t->must_cancel)) {
        t->must_cancel = 0;
        t->saw_cancel = 1;
        return -ECANCELED;
    }
    return 0;
}

/* Task -> loop.  ASan and TSan fiber annotations and the dying task's fake
 * stack are handled inside cio__ctx_switch / cio__ctx_switch_last
 * (core/ctx_asm.c, core/ctx_ucontext.c, core/ctx_tsan.h); the task's TSan
 * fiber is made at spawn (cio__ctx_reserve) and destroyed when the task is
 * reaped (cio__ctx_free).
 * Unguarded stacks (compact ones, and guarded ones past the kernel's
 * mapping budget) carry a canary that is checked on every switch out.  A
 * broken one is reported from the loop's stack, as if the task had ended
 * (cio__task_reap aborts): the overflowed stack has no room left for the
 * report (abort's signal frame alone is up to 3.4 KiB). */
static inline __attribute__((always_inline)) void cio__switch_to_loop(cio_loop *l, cio__task *t, bool dying)
{
    if (CIO__UNLIKELY(t->stack.guard_size_ == 0) && !cio__stack_canary_ok(&t->stack)) {
        t->overflowed = 1;
        t->tstate = CIO__TS_DONE;
    }
    if (dying)
        cio__ctx_switch_last(&t->ctx, &l->main_ctx);
    else
        cio__ctx_switch(&t->ctx, &l->main_ctx);
}

/* Loop -> task, and back when the task parks, yields or ends.  A task gets
 * its stack only here, at its first run (cio__task_prepare): spawning costs
 * no stack memory, a task cancelled before it starts never needs one, and a
 * short task reuses the stack the previous one just left, still in cache. */
static inline __attribute__((always_inline)) void cio__switch_to_task(cio_loop *l, cio__task *t)
{
    if (CIO__UNLIKELY(!t->has_stack) && !cio__task_prepare(l, t))
        return;
    if (CIO__UNLIKELY(l->debug)) {
        cio__switch_to_task_debug(l, t);
        return;
    }
    l->current = t;
    t->tstate = CIO__TS_RUNNING;
    cio__ctx_switch(&l->main_ctx, &t->ctx);
    l->current = NULL;
    if (CIO__UNLIKELY(t->tstate == CIO__TS_DONE))
        cio__task_reap(l, t);
}

#endif
