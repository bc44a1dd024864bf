/* SPDX-License-Identifier: MIT */
/*
 * cio -- Python's asyncio, rebuilt as a C library.
 *
 * One event loop per thread; tasks are stackful coroutines, so plain
 * sequential C code can wait without blocking anyone else.
 *
 * ---------------------------------------------------------------------------
 * Conventions that hold for every function in this header
 * ---------------------------------------------------------------------------
 *
 * Errors.  A call that can fail returns an int: 0 (or a non-negative count)
 * on success, or a negative error code: a negated errno value (-ECANCELED,
 * -ETIMEDOUT, -ENOMEM, -EBADF...) or one of cio's own codes below, which
 * stand for asyncio's own exceptions.  cio_strerror() names any of them.
 * Calls that return a pointer return NULL on failure and set errno to the
 * positive code: ENOMEM, EINVAL..., and for cio's own codes their negation
 * too (errno == -CIO_ENOLOOP), so cio_strerror(-errno) names any of them.
 *
 * Suspension.  A function marked "suspends" may park the calling task and let
 * the loop run others; it must be called from inside a task (otherwise it
 * returns CIO_ENOTASK).  Every suspending call is a cancellation point: if
 * the task is cancelled while parked there (or was cancelled before it got
 * there) the call returns -ECANCELED, exactly once per cancel().  A call
 * that can complete without suspending does not look at pending
 * cancellations (as `await` on a finished future does not in asyncio).
 * Calls not marked "suspends" never switch tasks.
 *
 * Ownership.  Objects that can be shared (futures, tasks, handles) are
 * reference counted; the same rule holds for all of them: the function that
 * creates an object returns one reference that belongs to the caller, who
 * gives it back with the matching release call.  The loop holds its own
 * reference while it needs the object (a task until it has finished running,
 * a handle until its callback ran or was cancelled), so releasing early is
 * always safe: a released task keeps running.  Releasing more often than
 * referencing is caught where it can be: a cio_release or cio_ref of an
 * object whose last reference is gone aborts, naming the object (see
 * cio_release).  Pointers marked "borrowed"
 * are valid until the caller next suspends.  Objects belong to the loop that
 * created them and may only be touched from that loop's thread, except
 * where a function says "thread-safe".
 *
 * Closing and freeing.  Objects that are not reference counted have exactly
 * one call that frees them, by one rule: cio_X_free() if the type has one,
 * otherwise cio_X_close().  So a stream, a file, a loop, a browser, a page,
 * a MySQL connection or cursor is freed by its close (always, also when
 * close fails or is cancelled).  A type has both calls only where asyncio's
 * object stays usable after close(): a server (wait_closed(), its sockets
 * and port), a MySQL pool (wait_closed()) and a generator (next() after
 * aclose() answers "done"); there cio_X_close() is asyncio's close() and
 * cio_X_free() frees, closing first if needed.  The names stay asyncio's
 * rather than one verb for all, so that a port reads like its Python.
 * (tests/packaging_header.sh checks that no other type has both.)
 *
 * Threads.  One loop per thread; several loops in several threads are fine.
 * cio_call_soon_threadsafe(), cio_future_set_result_threadsafe(),
 * cio_future_set_error_threadsafe() and cio_loop_stop_threadsafe() are the
 * ways in from another thread.
 *
 * Time.  Seconds as double on the loop's monotonic clock (CLOCK_MONOTONIC,
 * or a virtual clock: CIO_LOOP_VIRTUAL_TIME), as asyncio's loop.time().
 * Timeouts and deadlines given to a call behave as asyncio's: a timeout
 * <= 0 (a deadline already past) has expired, so the call times out at once
 * unless it can complete without waiting, and CIO_NO_TIMEOUT (asyncio's
 * None) means none.  Option structs whose zero means "the default" (stream,
 * TLS and HTTP options) say what they do.
 */
#ifndef CIO_H
#define CIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <netdb.h>
#include <math.h>

/* Everything this header declares is the library's public API, and only
 * that is exported: libcio is compiled with -fvisibility=hidden, and this
 * one block (with its pop at the end of the file) gives every declaration
 * in between default visibility, so a new section is exported without a
 * macro on each declaration.  A no-op for compilers without the pragma. */
#if defined(__GNUC__) && __GNUC__ >= 4
#define CIO__VISIBILITY_PUSHED 1
#pragma GCC visibility push(default)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Declared here too: <netdb.h> defines it only for POSIX (_POSIX_C_SOURCE,
 * _GNU_SOURCE...), and a strict -std=c99 or c11 build would otherwise see
 * a new struct in cio_getaddrinfo's parameter list. */
struct addrinfo;

#define CIO_VERSION_MAJOR 0
#define CIO_VERSION_MINOR 1
#define CIO_VERSION_PATCH 0

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/* "No timeout" (asyncio's timeout=None) for every timeout and deadline
 * argument: a negative value is a timeout that already expired. */
#define CIO_NO_TIMEOUT INFINITY

/* cio's own error codes (all negative, outside the errno range). */
enum {
    CIO_EINVALSTATE = -10001,   /* InvalidStateError: result of a pending future, setting a done one */
    CIO_ENOTASK = -10002,       /* a suspending call was made outside a task */
    CIO_ENOLOOP = -10003,       /* no current event loop in this thread */
    CIO_ELOOPCLOSED = -10004,   /* the loop is closed */
    CIO_ERUNNING = -10005,      /* the loop is already running */
    CIO_EDONE = -10006,         /* iteration finished (StopIteration / StopAsyncIteration) */
    CIO_EINCOMPLETE = -10007,   /* IncompleteReadError: EOF before the requested bytes */
    CIO_ELIMITOVERRUN = -10008, /* LimitOverrunError: buffer limit exceeded */
    CIO_EQUEUEFULL = -10009,    /* QueueFull */
    CIO_EQUEUEEMPTY = -10010,   /* QueueEmpty */
    CIO_EQUEUESHUTDOWN = -10011,/* QueueShutDown */
    CIO_EBROKENBARRIER = -10012,/* BrokenBarrierError */
    CIO_EGROUPABORTED = -10013, /* spawning into a task group that is shutting down */
    CIO_EGENCLOSED = -10014,    /* GeneratorExit: the consumer closed the generator */
    CIO_ETLS = -10020,          /* TLS failure (handshake, protocol, bad configuration) */
    CIO_ECERTUNTRUSTED = -10021,/* peer certificate not trusted (self-signed, unknown CA, bad chain) */
    CIO_ECERTEXPIRED = -10022,  /* peer certificate expired or not yet valid */
    CIO_ECERTHOSTNAME = -10023, /* peer certificate does not match the host name */
    CIO_EDNS = -10030,          /* name resolution failed (no such host, server failure) */
    CIO_EHTTP = -10040,         /* HTTP protocol or transfer error */
    CIO_EHTTPSTATUS = -10041,   /* raise_for_status: the response status is 400 or more */
    CIO_EHTTPREDIRECTS = -10042,/* too many redirects */
    CIO_ENOTACQUIRED = -10060,  /* RuntimeError: lock is not acquired (release, or Condition wait/notify without it) */
    CIO_ETASKDONE = -10061,     /* ValueError: task_done() called too many times */
    CIO_ESEMOVERFLOW = -10062,  /* ValueError: BoundedSemaphore released too many times */
    /* Modules declare their own codes in their sections, each in its own
     * range: CIO_EBROWSER -10070 (headless browser), CIO_EMYSQL -10080 (MySQL). */
};

/* A static, human-readable description of any error code this library
 * returns (negated errno values included). Never NULL. */
const char *cio_strerror(int err);

/* ------------------------------------------------------------------------ */
/* Types                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct cio_loop cio_loop;
/* A future: a result that will be available later.  A task *is* a future
 * (with a stack), so every function taking a cio_future* takes a cio_task*. */
typedef struct cio_future cio_future;
typedef struct cio_future cio_task;
/* A scheduled callback (call_soon / call_later / call_at). */
typedef struct cio_handle cio_handle;
/* A pool of worker threads for blocking work (ThreadPoolExecutor). */
typedef struct cio_executor cio_executor;

/* The body of a task: runs on the task's own stack; its return value is the
 * task's result (see cio_fail() for ending with an error). */
typedef void *(*cio_task_fn)(void *arg);
/* A plain callback run by the loop. */
typedef void (*cio_callback)(void *arg);
/* A done callback: called by the loop (never synchronously from the call
 * that completed the future) with the future and the user pointer. */
typedef void (*cio_done_fn)(cio_future *f, void *arg);

/* ------------------------------------------------------------------------ */
/* Running: asyncio.run                                                     */
/* ------------------------------------------------------------------------ */

/* asyncio.run(main(arg)): creates a loop, makes it current for this thread
 * (the previous current loop is current again afterwards), runs main as a
 * task until it finishes, then cancels every task still alive and waits for
 * them (each that ends with an error instead of cancelled is reported to
 * the loop's exception handler: "unhandled exception during cio_run()
 * shutdown"), shuts down executors, closes the loop.
 * Returns main's outcome: 0 and *result (if result is not NULL) set to what
 * main returned, or main's error code (-ECANCELED if it was cancelled;
 * -EINVAL if main is NULL).
 * SIGINT (Ctrl-C) while cio_run is in progress cancels the main task, as
 * asyncio does since 3.11; if main then ends cancelled, cio_run returns
 * -EINTR (KeyboardInterrupt), or -ECANCELED if main had also been cancelled
 * by someone else.  (A second SIGINT after that gets the default action.)
 * SIGINT is only taken over if its disposition is the default one.
 * Returns CIO_ERUNNING if a loop is already running in this thread.
 * Blocks the calling thread. */
int cio_run(cio_task_fn main, void *arg, void **result);

/* One loop per core (shared nothing): runs main(arg) as cio_run does in
 * nthreads threads at once (0: one per online CPU), each with its own loop;
 * the calling thread is thread 0.  Servers started in each thread with
 * cio_server_opts.reuse_port on the same port share the connections; loops
 * reach each other only through cio_call_soon_threadsafe and
 * cio_run_coroutine_threadsafe.  pin_cpus pins thread i to CPU i (best
 * effort).  results (room for nthreads, may be NULL) receives each main's
 * result.  Ctrl-C (SIGINT) cancels every thread's main (thread 0's loop
 * receives it; thread 0 then returns -EINTR as cio_run does).  Returns 0
 * when every main succeeded, else the first failing thread's code (in
 * thread order), or -errno if a thread could not be created (then no main
 * runs at all).  Blocks. */
int cio_run_threads(size_t nthreads, cio_task_fn main, void *arg, bool pin_cpus, void **results);

/* The index (0 .. nthreads-1) of the calling thread in cio_run_threads;
 * 0 elsewhere. */
size_t cio_thread_index(void);

/* ------------------------------------------------------------------------ */
/* Event loops                                                              */
/* ------------------------------------------------------------------------ */

/* Creates a loop (asyncio.new_event_loop).  The back end is chosen by the
 * environment variable CIO_BACKEND: "epoll" (the default; also for an unset
 * or unknown value), "io_uring" or "poll".  io_uring falls back to epoll,
 * silently, when the kernel refuses it (too old, disabled by the
 * kernel.io_uring_disabled sysctl or a seccomp filter, or lacking an
 * operation cio needs); cio_loop_backend() then says "epoll".
 * Returns NULL with errno set on failure.  The caller owns the loop and ends
 * it with cio_loop_close(). Does not make it current. */
cio_loop *cio_loop_new(void);

/* Options for cio_loop_new_ex(); all zero means cio_loop_new()'s choice. */
typedef struct cio_loop_opts {
    const char *backend; /* "epoll", "io_uring" or "poll"; NULL: as cio_loop_new() */
    unsigned flags;      /* CIO_LOOP_NO_FALLBACK, CIO_LOOP_VIRTUAL_TIME */
} cio_loop_opts;

/* CIO_LOOP_NO_FALLBACK: fail instead of falling back to epoll when the
 * kernel refuses io_uring.
 *
 * CIO_LOOP_VIRTUAL_TIME: the loop runs on a virtual clock (as CPython's
 * test loop and trio's MockClock with autojump), for tests and for
 * simulations: it starts at the real CLOCK_MONOTONIC value and then moves
 * only by jumps.  Whenever every task is parked, nothing is ready and a
 * timer is armed, the loop first polls its file descriptors without
 * blocking and handles whatever has already arrived at the current loop
 * time; only if nothing did, it sets its clock to the next timer's deadline
 * at once.  So cio_sleep(3600) returns at once in real time with
 * cio_loop_time() exactly 3600 s later; timers, call_later/call_at,
 * timeouts and wait_for fire in the same order and at the same loop times
 * as on the real clock, and durations measured with cio_loop_time() are
 * exact (to the nanosecond).  Work that takes no loop time takes none:
 * running tasks and callbacks never moves the clock.  A loop with no timer
 * armed waits for I/O for real, as usual.
 * I/O is never skipped past when it is already there (data in a socket or
 * pipe, a peer's write on the same machine made before the loop went idle,
 * an io_uring completion), but the loop does not wait for what has not
 * happened yet: a reply from another process or host, a result posted by
 * another thread (executor jobs, cio_call_soon_threadsafe) that comes while
 * a timer is pending arrives after the clock jumped to that timer.  Run
 * code whose timeouts race with such events on the real clock.
 * The environment variable CIO_VIRTUAL_TIME=1 (any non-empty value but
 * "0") at loop creation sets it for every loop, cio_run's included, so
 * that unmodified programs can be run on virtual time. */
enum { CIO_LOOP_NO_FALLBACK = 1, CIO_LOOP_VIRTUAL_TIME = 2 };

/* cio_loop_new() with options (NULL: none).  On io_uring everything works
 * as on epoll, with one system call per loop iteration for submitting and
 * waiting together: streams, servers and the cio_sock_* task calls run on
 * completions (RECV, SEND, RECVMSG, SENDMSG, multishot ACCEPT, CONNECT in
 * the kernel; CIO_URING_SOCKETS=0 in the environment keeps them on readiness),
 * fd waits are polls through the ring, and the async file calls go through
 * the ring instead of the executor's threads.
 * Returns NULL with errno set: EINVAL for an unknown back end name, or with
 * CIO_LOOP_NO_FALLBACK the kernel's reason for refusing io_uring (EPERM,
 * ENOSYS...).  Owned by the caller, as cio_loop_new(). */
cio_loop *cio_loop_new_ex(const cio_loop_opts *opts);

/* Closes a loop that is not running.  Tasks still pending are abandoned:
 * reported in debug mode, their stacks freed without resuming them (as
 * asyncio's "Task was destroyed but it is pending").  References that users
 * still hold to tasks/futures of the loop stay valid (release them as
 * usual).  Returns 0, or CIO_ERUNNING if the loop is running. If the loop
 * was this thread's current loop, the thread has none afterwards. */
int cio_loop_close(cio_loop *loop);

/* The loop running in this thread, or else the one set with
 * cio_loop_set_current(), or NULL (asyncio.get_event_loop without the
 * implicit creation).  Borrowed. */
cio_loop *cio_loop_current(void);

/* Makes loop this thread's current loop (asyncio.set_event_loop); NULL
 * clears it.  Returns CIO_ERUNNING if another loop is running here. */
int cio_loop_set_current(cio_loop *loop);

/* Runs the loop until f is done (loop.run_until_complete).  Returns f's
 * outcome as cio_result() does, storing the result in *result if not NULL;
 * CIO_ERUNNING if a loop already runs in this thread, CIO_ELOOPCLOSED if
 * closed.  If the loop is stopped before f is done, returns
 * CIO_EINVALSTATE ("Event loop stopped before Future completed").
 * As in asyncio, the loop stops through a done callback of f: what was
 * ready when f completed (a task it spawned just before) still gets its
 * step.  Blocks the calling thread. */
int cio_loop_run_until_complete(cio_loop *loop, cio_future *f, void **result);

/* Runs the loop until cio_loop_stop() (loop.run_forever).  Returns 0, or
 * CIO_ERUNNING / CIO_ELOOPCLOSED. Blocks the calling thread. */
int cio_loop_run_forever(cio_loop *loop);

/* Asks a running loop to stop after the current iteration (loop.stop).
 * Loop thread only. */
void cio_loop_stop(cio_loop *loop);

/* cio_loop_stop() from any thread.  Thread-safe. Returns 0 or -ENOMEM. */
int cio_loop_stop_threadsafe(cio_loop *loop);

/* Whether the loop is running (loop.is_running) / closed (loop.is_closed). */
bool cio_loop_is_running(const cio_loop *loop);
bool cio_loop_is_closed(const cio_loop *loop);

/* The loop's clock in seconds (loop.time()): CLOCK_MONOTONIC, or the
 * virtual clock of a CIO_LOOP_VIRTUAL_TIME loop. */
double cio_loop_time(const cio_loop *loop);

/* cio_loop_time() of the current loop; the monotonic clock if there is none. */
double cio_time(void);

/* The name of the loop's back end ("epoll", "io_uring" or "poll"): the one
 * actually in use, after any fallback. Static string. */
const char *cio_loop_backend(const cio_loop *loop);

/* Turns debug mode on or off (loop.set_debug); also on when the environment
 * has CIO_DEBUG=1 at loop creation.  Debug mode reports, on stderr: task
 * steps and callbacks that hold the loop longer than the slow threshold
 * (100 ms), stack overflows by task name (from an alternate signal stack,
 * then abort), and dumps every task on SIGQUIT; it records where each task
 * is spawned, for the exception handler's context (spawned_at).  It also
 * holds released task and future records back for the next 1024 releases
 * instead of reusing them at once, so that a second cio_release of one is
 * caught (see cio_release).  (Errors nobody retrieved and tasks pending at
 * loop close are reported in every mode: see cio_loop_set_exception_handler.) */
void cio_loop_set_debug(cio_loop *loop, bool on);
bool cio_loop_get_debug(const cio_loop *loop);

/* Sets the threshold (seconds) above which debug mode reports a slow task
 * step or callback (loop.slow_callback_duration). Default 0.1. */
void cio_loop_set_slow_duration(cio_loop *loop, double seconds);

/* Sets how long the loop spins before it sleeps (seconds, default 50 us,
 * 0: never).  When nothing is ready and the iteration before ran a task or
 * a callback, the loop polls its file descriptors without blocking for up
 * to this long (never past the next timer) before it blocks in the kernel,
 * as Go's scheduler spins before parking a thread.  A peer that answers
 * within that time then costs no sleep and wake-up of the loop's thread,
 * which is most of the cost of a ping-pong exchange on a virtual machine
 * (a wake-up there is an interrupt into a halted virtual CPU); the price is
 * at most that much CPU per burst of work.  It adapts: after two spins in
 * a row that caught nothing (a peer slower than the spin), the loop spins
 * only at every 16th chance until a spin catches something again.  A loop
 * with nothing to do does not spin, nor does a virtual-time loop with a
 * timer armed (its clock jumps instead).  The environment variable
 * CIO_SPIN_US at loop creation sets it in microseconds for every loop.
 * asyncio has no such setting: this only changes when the loop's thread
 * sleeps, never what runs or in which order. */
void cio_loop_set_spin(cio_loop *loop, double seconds);

/* Sets the default stack size of tasks spawned on this loop (0 = 128 KiB).
 * Stacks are committed lazily: a task only costs the pages it touches.  A
 * size below a page (CIO_STACK_COMPACT) makes compact mode the loop's
 * default: see "Stack modes" at cio_task_opts. */
void cio_loop_set_stack_size(cio_loop *loop, size_t bytes);

/* ---- the exception handler (loop.set_exception_handler) ----------------
 * The loop reports errors that no one else can see through its exception
 * handler, debug mode or not, exactly when asyncio does:
 *   "Task exception was never retrieved" / "Future exception was never
 *   retrieved": the last reference to a future or task that failed (with an
 *   error, not a cancellation) is released and its error was never
 *   retrieved (by cio_result, cio_exception, cio_await, or a combinator
 *   that reports it: gather, wait_for, a task group...);
 *   "Task was destroyed but it is pending!": cio_loop_close() abandons a
 *   task that has not finished.
 * A future released after its loop was closed is reported by the default
 * handler (loop NULL). */
typedef struct cio_exception_context {
    const char *message;       /* what happened (asyncio's context['message']) */
    cio_future *future;        /* the future or task concerned (borrowed, valid during the call;
                                  the handler must not keep it or take a reference), or NULL */
    int error;                 /* its error code, or 0 (a pending task) */
    const char *error_message; /* the message given with the error, or NULL */
    const char *spawned_at;    /* debug mode only: the call stack where the task was spawned,
                                  one frame per line (source_traceback), else NULL */
} cio_exception_context;

/* An exception handler: called on the loop's thread (or the thread that
 * released the future), synchronously, from inside the call that triggered
 * it (cio_release, cio_loop_close); it must not suspend.  loop is NULL for
 * a future released after its loop was closed. */
typedef void (*cio_exception_handler)(cio_loop *loop, const cio_exception_context *ctx, void *arg);

/* Sets the loop's exception handler (fn NULL: the default one again);
 * arg is passed to it. */
void cio_loop_set_exception_handler(cio_loop *loop, cio_exception_handler fn, void *arg);

/* The handler set (NULL for the default), and its arg in *arg if not NULL. */
cio_exception_handler cio_loop_get_exception_handler(const cio_loop *loop, void **arg);

/* Calls the loop's exception handler with ctx (loop.call_exception_handler);
 * the default one if none is set or loop is NULL. */
void cio_loop_call_exception_handler(cio_loop *loop, const cio_exception_context *ctx);

/* The default handler (loop.default_exception_handler): writes the
 * message, the future (its name and state), the error and spawned_at to
 * stderr, in one write per report. */
void cio_loop_default_exception_handler(cio_loop *loop, const cio_exception_context *ctx);

/* ------------------------------------------------------------------------ */
/* Callbacks                                                                */
/* ------------------------------------------------------------------------ */

/* For each of the three calls below: if out is not NULL, *out receives a
 * reference to the handle, which the caller gives back with
 * cio_handle_release() or cio_handle_cancel(); with out NULL the loop alone
 * owns it.  Loop thread only.  Return 0, -ENOMEM, or CIO_ELOOPCLOSED. */

/* Runs cb(arg) on the next loop iteration (loop.call_soon).  Callbacks run
 * in the order they were scheduled, cio_call_soon_threadsafe's included (a
 * thread-safe call made before a call_soon runs before it). */
int cio_call_soon(cio_loop *loop, cio_callback cb, void *arg, cio_handle **out);

/* Runs cb(arg) after delay seconds (loop.call_later).  Timers are a
 * hierarchical timing wheel: schedule and cancel are O(1); resolution is
 * about 1 ms; a callback never runs early; callbacks due at the same time
 * run in deadline order, then in scheduling order. */
int cio_call_later(cio_loop *loop, double delay, cio_callback cb, void *arg, cio_handle **out);

/* Runs cb(arg) at loop time `when` (loop.call_at). */
int cio_call_at(cio_loop *loop, double when, cio_callback cb, void *arg, cio_handle **out);

/* Runs cb(arg) on the loop from any thread (loop.call_soon_threadsafe).
 * Wake-ups are coalesced: many calls between two loop iterations cost one
 * eventfd write.  Thread-safe.  Returns 0, -ENOMEM, or CIO_ELOOPCLOSED. */
int cio_call_soon_threadsafe(cio_loop *loop, cio_callback cb, void *arg);

/* Cancels the callback if it has not run yet (Handle.cancel) and gives back
 * the caller's reference.  Safe from inside the callback itself. */
void cio_handle_cancel(cio_handle *h);

/* Gives back the caller's reference without cancelling. */
void cio_handle_release(cio_handle *h);

/* Whether the handle was cancelled (Handle.cancelled). */
bool cio_handle_cancelled(const cio_handle *h);

/* The loop time at which a call_later/call_at handle is due (TimerHandle.when);
 * for call_soon handles, the time it was scheduled. */
double cio_handle_when(const cio_handle *h);

/* ------------------------------------------------------------------------ */
/* Futures                                                                  */
/* ------------------------------------------------------------------------ */

/* A new pending future on loop (loop.create_future); NULL loop means the
 * current loop. Returns a reference owned by the caller, or NULL with errno
 * set: ENOMEM, -CIO_ENOLOOP when there is no current loop, -CIO_ELOOPCLOSED
 * for a closed one. */
cio_future *cio_future_new(cio_loop *loop);

/* Takes another reference / gives one back (for futures and tasks alike).
 * When the last one is gone the object is freed; a task keeps running while
 * the loop holds its own reference.  Loop thread only.  cio_release(NULL)
 * does nothing.  Misuse: a cio_release or cio_ref of an object whose last
 * reference is already gone aborts with "cio: cio_release of Task <name>
 * after its last reference was released" on stderr, and so does a release
 * that would take the loop's own reference of a task still running.  Task
 * records are recycled, so a late second release is caught for sure only
 * in debug mode (which holds released records back for 1024 releases);
 * otherwise for a task while its record was not handed to a new task, and
 * a future's memory is freed at once (AddressSanitizer or Valgrind then
 * report the second release). */
cio_future *cio_ref(cio_future *f);
void cio_release(cio_future *f);

/* Completes f with a result (Future.set_result).  Waiting tasks are woken
 * and done callbacks scheduled.  Returns 0, or CIO_EINVALSTATE if f is
 * already done.  Not for tasks (CIO_EINVALSTATE). */
int cio_future_set_result(cio_future *f, void *value);

/* Completes f with an error (Future.set_exception): code is a negative error
 * code (-ECANCELED is refused with -EINVAL: use cio_cancel), msg an optional
 * message, copied.  Returns 0, CIO_EINVALSTATE if done, -EINVAL. */
int cio_future_set_error(cio_future *f, int code, const char *msg);

/* set_result / set_error from any thread: the completion is carried out on
 * f's loop through the call_soon_threadsafe path.  The caller hands one of
 * its references to f over to this call (take it on the loop thread with
 * cio_ref() before passing f to the other thread); it is released after the
 * completion ran.  Thread-safe.  Returns 0, -ENOMEM, CIO_ELOOPCLOSED. */
int cio_future_set_result_threadsafe(cio_future *f, void *value);
int cio_future_set_error_threadsafe(cio_future *f, int code, const char *msg);

/* Cancels a future or requests cancellation of a task (Future/Task.cancel).
 * msg is optional (copied).  A pending future becomes cancelled at once.
 * A task gets -ECANCELED from the suspending call it is parked in, or from
 * its next one (or never runs, if it has not started); its cancelling count
 * goes up by one.  Returns false if f is already done, else true.  Either
 * way f's error no longer counts as never retrieved (as asyncio's cancel()
 * clears _log_traceback first). */
bool cio_cancel(cio_future *f, const char *msg);

/* Whether f is done (result, error or cancelled) / cancelled. */
bool cio_done(const cio_future *f);
bool cio_cancelled(const cio_future *f);

/* The outcome of f (Future.result): 0 with *value set (if value is not
 * NULL) when f has a result; f's error code if it failed; -ECANCELED if it
 * was cancelled; CIO_EINVALSTATE if it is still pending.  Marks the error as
 * retrieved. Never suspends. */
int cio_result(cio_future *f, void **value);

/* Future.exception(): 0 if f has a result, its error code if it failed,
 * -ECANCELED if cancelled (asyncio raises CancelledError here),
 * CIO_EINVALSTATE if pending.  Marks the error as retrieved. */
int cio_exception(cio_future *f);

/* The message given with the error or the cancellation, or NULL.
 * Borrowed: valid while f is alive. */
const char *cio_error_message(const cio_future *f);

/* Adds a done callback (add_done_callback with functools.partial's extra
 * argument as arg).  Callbacks are scheduled with call_soon, in the order
 * added, when f completes; if f is already done, fn is scheduled now.
 * Returns 0 or -ENOMEM. */
int cio_add_done_callback(cio_future *f, cio_done_fn fn, void *arg);

/* Removes every done callback equal to (fn, arg) that has not been
 * scheduled yet.  Returns how many were removed. */
int cio_remove_done_callback(cio_future *f, cio_done_fn fn, void *arg);

/* Waits for f (await fut).  Suspends.  Returns f's outcome as cio_result().
 * If the waiting task is cancelled, f is cancelled too (as asyncio does;
 * use cio_shield() to prevent that) and the call returns when f is done:
 * -ECANCELED if f ended cancelled, else f's own outcome.  The same holds
 * when the cancellation was already pending at the call (bpo-34872): it
 * goes to f rather than failing the call without touching f.  A done f
 * returns its outcome at once without looking at a pending cancellation. */
int cio_await(cio_future *f, void **value);

/* The loop f belongs to (NULL once that loop is closed). Borrowed. */
cio_loop *cio_future_loop(const cio_future *f);

/* ------------------------------------------------------------------------ */
/* Tasks                                                                    */
/* ------------------------------------------------------------------------ */

enum cio_task_state {
    CIO_TASK_CREATED,   /* spawned lazily, not started yet */
    CIO_TASK_SCHEDULED, /* in the ready queue */
    CIO_TASK_RUNNING,   /* the current task */
    CIO_TASK_SUSPENDED, /* parked in a suspending call */
    CIO_TASK_DONE,      /* finished: result, error or cancelled */
};

enum {
    CIO_TASK_EAGER = 1u << 0, /* run the task right away until its first suspension (eager_task_factory) */
    CIO_TASK_LAZY = 1u << 1,  /* create it in CIO_TASK_CREATED; it starts at cio_task_start() */
};

/* Stack modes, chosen by size (cio_task_opts.stack_size per task,
 * cio_loop_set_stack_size for a loop's default):
 *
 * Default mode: 0 (the loop's default, 128 KiB) or any size of a page
 * (4 KiB) or more.  The task gets a stack of its own, committed lazily and
 * guarded by a page the kernel faults on (past the kernel's mapping budget,
 * a canary checked at every switch).  A parked task costs the pages its
 * stack touched, at least one, plus its record (about 4.3 KiB in all).
 * Use it for everything that calls deep C code: printf and friends,
 * getaddrinfo, TLS (OpenSSL), the HTTP client (libcurl) and server,
 * recursion, large local buffers, any library whose call depth you do not
 * know, and tasks on which handlers without SA_ONSTACK may run.
 *
 * Compact mode: a size below a page, e.g. CIO_STACK_COMPACT.  The stack is
 * a slot of that size (rounded up to 128 bytes, at least 512; under
 * AddressSanitizer, whose interceptors take kilobytes of stack, four times
 * that plus 8 KiB) packed back to back with other compact
 * stacks, several to a page: a parked task costs under 1 KiB with
 * CIO_STACK_COMPACT (640 bytes of stack, the task record and the pool's
 * bookkeeping), so ten million fit in 10 GiB.  For very many small tasks
 * that mostly wait (idle connections, fan-out of timers and futures) and
 * call nothing deeper than cio's own suspending calls: cio_await,
 * cio_wait_for, cio_sleep, events, locks, semaphores, queues, raw fd waits
 * (cio_wait_fd) and timeout scopes park in at most about 400 bytes of a
 * CIO_STACK_COMPACT stack, leaving the task's own frames 240 bytes;
 * cio_gather and the other combinators need CIO_STACK_COMPACT_GATHER
 * (tests/test_stack.c checks every one of these).
 *   - Addresses never move: a pointer into a compact task's stack stays
 *     valid while it is parked, exactly as in default mode, so passing
 *     &local to another task, to a callback or to a library that keeps it
 *     across a suspension is allowed in both modes (the stack is not
 *     copied out when the task parks).
 *   - Not allowed: anything that needs more stack than the slot.  There is
 *     no guard page: the canary at the bottom of the slot is checked at
 *     every switch out of the task, so an overflow aborts the process
 *     ("cio: stack overflow in task NAME"), but only after the fact: the
 *     frames of the compact task below it may already be damaged, and an
 *     overflow whose frames never write the canary word goes unseen.  Do not
 *     call printf, getaddrinfo, TLS, HTTP or stream calls, or any deep C
 *     chain from a compact task; spawn a default-mode task for that and
 *     await it.
 *   - Signal handlers run on the interrupted stack unless installed with
 *     SA_ONSTACK, and the kernel's signal frame (up to 3.4 KiB with
 *     AVX-512) does not fit in a slot.  While a loop runs, its thread has
 *     an alternate signal stack (its own if it has one of 16 KiB or more,
 *     else one the loop lends it and takes back when the run ends), and
 *     cio's own handlers (cio_add_signal_handler, cio_signal_wait, cio_run's
 *     SIGINT, debug mode's overflow report) use SA_ONSTACK.  A handler of
 *     your own that may fire while a compact task runs must be installed
 *     with SA_ONSTACK too.
 *   - Link with -Wl,-z,now (libcio.so is) or run with LD_BIND_NOW=1:
 *     glibc's lazy binding resolves a function at its first call on the
 *     calling stack, saving every vector register there (about 3 KiB), and
 *     that first call may come from a compact task.
 *   - Compact slots are reused LIFO and never handed back to the kernel
 *     (a slot is smaller than a page): a loop keeps the peak number of its
 *     compact stacks. */
#define CIO_STACK_COMPACT 640
#define CIO_STACK_COMPACT_GATHER 1536

typedef struct cio_task_opts {
    const char *name;  /* copied; NULL gives "Task-N" */
    size_t stack_size; /* 0: the loop's default (128 KiB, lazily committed); below a page: compact (above) */
    unsigned flags;    /* CIO_TASK_EAGER or CIO_TASK_LAZY */
} cio_task_opts;

/* Spawns fn(arg) as a task on the current loop (asyncio.create_task).  It is
 * scheduled to start on a later loop iteration.  Returns a reference owned
 * by the caller (cio_release it; the task keeps running), or NULL with errno
 * set: ENOMEM, EINVAL (fn NULL), -CIO_ENOLOOP (no current loop),
 * -CIO_ELOOPCLOSED (the loop is closed). */
cio_task *cio_spawn(cio_task_fn fn, void *arg);

/* cio_spawn with a loop (NULL: current) and options (NULL: defaults). */
cio_task *cio_spawn_ex(cio_loop *loop, cio_task_fn fn, void *arg, const cio_task_opts *opts);

/* Schedules a task spawned with CIO_TASK_LAZY.  Returns 0, CIO_EINVALSTATE
 * if it was already started (or was not lazy, or is not a task), or
 * CIO_ELOOPCLOSED if its loop was closed before it started. */
int cio_task_start(cio_task *t);

/* The task running now (asyncio.current_task), or NULL outside a task.
 * Borrowed. */
cio_task *cio_current_task(void);

/* Ends the current task's body with an error: records code (negative) and
 * an optional printf-style message as the task's outcome once its function
 * returns, and returns NULL so it reads `return cio_fail(rc, "...")`.
 * With code -ECANCELED the task ends cancelled (CancelledError propagating).
 * Outside a task it does nothing but return NULL. */
void *cio_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* How a task ends: with cio_fail()'s error if it called it; otherwise
 * cancelled if a cancellation of this task is still pending when its
 * function returns, or if one was delivered to it (a suspending call
 * returned -ECANCELED because this task was cancelled) and it did not catch
 * it afterwards: the CancelledError propagated; otherwise with the
 * function's return value.  To swallow a cancellation, as an asyncio task
 * that catches CancelledError and goes on, call cio_task_catch_cancel().
 * An -ECANCELED that only reports that an awaited future or task was
 * cancelled (by someone else) is an ordinary error code: the body handles
 * it as it likes. */

/* Task.cancelling(): the number of pending cancellation requests. */
int cio_task_cancelling(const cio_task *t);

/* `except CancelledError: pass` in the current task: the cancellation it
 * was given stops propagating (the task no longer ends cancelled because of
 * it).  cancelling() is left as it is, as asyncio leaves it; only a new
 * cancel() makes a later -ECANCELED count as delivered again.  Returns
 * cancelling(), or CIO_ENOTASK outside a task.  Never suspends. */
int cio_task_catch_cancel(void);

/* Task.uncancel(): decrements the count and returns the new value; at zero
 * a pending, undelivered cancellation is withdrawn and the task no longer
 * counts as cancelled when it returns.  This is what a scope that cancelled
 * its own task calls to withdraw its request (cio_timeout_exit and the task
 * groups do); swallowing a cancellation is cio_task_catch_cancel(), which
 * leaves the count as asyncio does. */
int cio_task_uncancel(cio_task *t);

/* The task's state (enum cio_task_state); CIO_TASK_DONE for a plain future
 * that is done, CIO_TASK_SUSPENDED for one that is pending. */
int cio_task_state(const cio_task *t);

/* Static name of a state ("created", "scheduled", ...). */
const char *cio_task_state_name(int state);

/* The task's name (get_name).  Borrowed, valid until the name changes or the
 * task is freed. For a plain future: "Future".  An unnamed task's default
 * "Task-<id>" is made (malloc'd) at the first call; without memory for it,
 * it is a per-thread copy, valid until the next such call. */
const char *cio_task_name(const cio_task *t);

/* Renames the task (set_name); the string is copied. Returns 0 or -ENOMEM. */
int cio_task_set_name(cio_task *t, const char *name);

/* The task's unique id (the N of "Task-N"). */
uint64_t cio_task_id(const cio_task *t);

/* The function and argument the task runs (get_coro). */
cio_task_fn cio_task_fn_of(const cio_task *t, void **arg);

/* Whether f is a task (rather than a plain future). */
bool cio_is_task(const cio_future *f);

/* The tasks of loop (NULL: current) that are not done (asyncio.all_tasks):
 * stores up to cap borrowed pointers in out and returns how many there are
 * in all (may exceed cap). */
size_t cio_all_tasks(cio_loop *loop, cio_task **out, size_t cap);

/* Prints every task of the current loop (or of every loop of this thread's
 * current loop when called outside) to out: id, name, state, what it waits
 * on, cancelling count, stack size, stack used now and its high-water mark.
 * In debug mode SIGQUIT triggers it on stderr. */
void cio_dump_tasks(FILE *out);

/* Same for a given loop. */
void cio_loop_dump_tasks(cio_loop *loop, FILE *out);

/* ------------------------------------------------------------------------ */
/* Sleeping and yielding                                                    */
/* ------------------------------------------------------------------------ */

/* asyncio.sleep(seconds).  Suspends.  seconds <= 0 yields to the other ready
 * tasks and callbacks (sleep(0)).  Returns 0, -ECANCELED or CIO_ENOTASK. */
int cio_sleep(double seconds);

/* cio_sleep(0). */
int cio_yield(void);

/* ------------------------------------------------------------------------ */
/* Waiting on file descriptors, readers and writers                         */
/* ------------------------------------------------------------------------ */

enum { CIO_READABLE = 1, CIO_WRITABLE = 2 };

/* Waits until fd is readable and/or writable (events: CIO_READABLE |
 * CIO_WRITABLE).  Suspends.  Returns the events that are ready (a mask,
 * >0); errors and hang-ups count as both readable and writable so that the
 * next read/write reports them.  -ECANCELED; -EBADF if fd is forgotten or
 * closed through cio_close() while waiting; -EINVAL for bad arguments;
 * other negative errno from the back end (e.g. -EPERM for a regular file
 * under epoll).  Registration is cached: waiting on the same fd again costs
 * no system call. */
int cio_wait_fd(int fd, int events);
int cio_wait_readable(int fd);
int cio_wait_writable(int fd);

/* Calls cb(arg) whenever fd is readable / writable (loop.add_reader /
 * add_writer), level-triggered, until removed.  Replaces an existing reader
 * (writer) of fd.  Returns 0 or a negative errno. */
int cio_add_reader(cio_loop *loop, int fd, cio_callback cb, void *arg);
int cio_add_writer(cio_loop *loop, int fd, cio_callback cb, void *arg);
/* Remove them; return true if there was one. */
bool cio_remove_reader(cio_loop *loop, int fd);
bool cio_remove_writer(cio_loop *loop, int fd);

/* Tells the loop that fd is about to be closed: unregisters it, wakes tasks
 * waiting on it with -EBADF and drops its reader/writer.  Any event still
 * queued for that fd number is discarded, so a new file that reuses the
 * number never sees a stale event.  Call it before close(); cio_close()
 * does both. */
void cio_fd_forget(cio_loop *loop, int fd);

/* cio_fd_forget() on the current loop (if any), then close(fd).
 * Returns 0 or -errno from close. */
int cio_close(int fd);

/* ------------------------------------------------------------------------ */
/* Signals                                                                  */
/* ------------------------------------------------------------------------ */

/* Calls cb(arg) on the loop each time signo arrives (loop.add_signal_handler).
 * A signal can be handled by one loop at a time (the last one to add it).
 * Returns 0, -EINVAL (bad signo, or SIGKILL/SIGSTOP), -ENOMEM. */
int cio_add_signal_handler(cio_loop *loop, int signo, cio_callback cb, void *arg);

/* Removes the handler and restores the signal's previous disposition.
 * Returns true if there was one. */
bool cio_remove_signal_handler(cio_loop *loop, int signo);

/* Waits until signo arrives.  Suspends.  Returns signo, -ECANCELED, -EINVAL. */
int cio_signal_wait(int signo);

/* ------------------------------------------------------------------------ */
/* Combinators (over futures: tasks, futures and executor jobs alike)       */
/* ------------------------------------------------------------------------ */

enum { CIO_RETURN_EXCEPTIONS = 1 };

/* asyncio.gather(*futs).  Suspends until every future is done, or until the
 * first error when CIO_RETURN_EXCEPTIONS is not in flags (the others keep
 * running, as in asyncio).  results[i] (if results is not NULL) receives the
 * i-th result (NULL for an unfinished or failed one); errors[i] (if not NULL)
 * its code (0, an error, -ECANCELED, or CIO_EINVALSTATE if not finished).
 * Returns 0 when all succeeded (always with CIO_RETURN_EXCEPTIONS, unless
 * the waiting task itself was cancelled), else the first error in
 * completion order.  Cancelling the waiting task cancels every child; the
 * call then returns -ECANCELED once they are all done.  n == 0 returns 0 at
 * once.  -EXDEV (asyncio's ValueError) if the futures belong to different
 * loops, or to another loop than the calling task's.  Tasks created with
 * CIO_TASK_LAZY are started (asyncio takes
 * coroutines here).  As asyncio's done callbacks, the completion of a child
 * is looked at on the loop's next pass, after whatever else became ready
 * with it (the same holds for every combinator, task groups and shield). */
int cio_gather(cio_future *const *futs, size_t n, void **results, int *errors, int flags);

/* asyncio.gather() as an object (_GatheringFuture): a new future (owned by
 * the caller; it takes a reference to every child) that completes as
 * cio_gather() would return: with result NULL when every child succeeded
 * (read each child's result with cio_result()), or, without
 * CIO_RETURN_EXCEPTIONS, as soon as a child fails or is cancelled, with its
 * error (cancelled if it was cancelled).  It can be awaited, shielded,
 * passed to any combinator, later.  cio_cancel() on it cancels every child
 * still pending and returns whether any accepted; it then ends cancelled
 * (once the children report, as above).  Lazy tasks are started.  Never
 * suspends; NULL with errno set (ENOMEM; -CIO_ENOLOOP without a loop;
 * EXDEV for futures of different loops).  n == 0 gives a future already
 * done. */
cio_future *cio_gather_future(cio_future *const *futs, size_t n, int flags);

enum cio_wait_mode { CIO_ALL_COMPLETED, CIO_FIRST_COMPLETED, CIO_FIRST_EXCEPTION };

/* asyncio.wait(futs, timeout, return_when).  Suspends until the condition
 * holds or timeout seconds pass (CIO_NO_TIMEOUT: none; <= 0: returns on
 * the loop's next pass).  Never cancels
 * anything.  done / pending (each may be NULL; room for n) receive the done
 * and the pending futures in argument order, their counts in *ndone /
 * *npending.  Returns 0 (also on timeout, as asyncio), -ECANCELED if the
 * waiting task was cancelled, -EINVAL for an empty set. */
int cio_wait(cio_future *const *futs, size_t n, int mode, double timeout, cio_future **done, size_t *ndone,
             cio_future **pending, size_t *npending);

/* asyncio.wait_for(f, timeout).  Suspends.  Returns f's outcome (result in
 * *value) if f finishes in time.  On timeout f is cancelled, the call waits
 * for it to finish and returns -ETIMEDOUT (f's own outcome if it did not
 * end cancelled); a result that arrives together with the timeout wins.
 * CIO_NO_TIMEOUT waits as cio_await(); a timeout <= 0 times out at once
 * unless f is already done.  A lazy task stands for the coroutine asyncio
 * takes: it is started and run up to its first suspension before the wait
 * (asyncio 3.12+ awaits the coroutine inline), or, with a timeout <= 0,
 * cancelled before it ever runs.  Cancelling the waiting task cancels f
 * and waits for it; the
 * call then returns f's outcome (-ECANCELED if it ended cancelled), as
 * cio_await() and asyncio 3.12+ do. */
int cio_wait_for(cio_future *f, double timeout, void **value);

/* asyncio.as_completed(futs, timeout): an iterator yielding the futures in
 * the order they complete.  Returns NULL with errno set on failure.  Takes a
 * reference to every future; the caller owns the iterator and frees it with
 * cio_as_completed_free() (which never cancels anything).  timeout is
 * overall (CIO_NO_TIMEOUT: none; <= 0: it passes on the loop's next
 * pass).  Lazy tasks are started.  As asyncio takes a set, a future passed
 * more than once is yielded once. */
typedef struct cio_as_completed cio_as_completed;
cio_as_completed *cio_as_completed_new(cio_future *const *futs, size_t n, double timeout);

/* Next completed future (borrowed; valid until the iterator is freed).
 * Suspends.  Returns 0, CIO_EDONE when all were returned, -ETIMEDOUT when
 * the overall timeout passed first, -ECANCELED. */
int cio_as_completed_next(cio_as_completed *it, cio_future **out);
void cio_as_completed_free(cio_as_completed *it);

/* asyncio.shield(inner): returns a new future (owned by the caller) that
 * completes as inner does.  Cancelling it (or a task awaiting it) does not
 * cancel inner; inner being cancelled cancels it.  NULL with errno set on
 * failure. */
cio_future *cio_shield(cio_future *inner);

/* ------------------------------------------------------------------------ */
/* Task groups (asyncio.TaskGroup)                                          */
/* ------------------------------------------------------------------------ */

typedef struct cio_group cio_group;

/* Opens a task group whose body is the current task (`async with
 * TaskGroup() as g`). NULL with errno set (ENOMEM, or EPERM outside a task). */
cio_group *cio_group_new(void);

/* Spawns a child into the group.  Returns the child (borrowed: valid until
 * cio_group_free), or NULL with errno set; errno is the positive
 * CIO_EGROUPABORTED value when the group is shutting down (a child failed,
 * or the body left with an error) or finished (left, with no child left
 * running).  Children may spawn siblings while the body waits in
 * cio_group_exit(). */
cio_task *cio_group_spawn(cio_group *g, cio_task_fn fn, void *arg, const cio_task_opts *opts);

/* Leaves the group with the status the body ended with (`async with`'s
 * __aexit__): rc is 0, or the body's error code, -ECANCELED when it ends
 * cancelled.  Suspends until every child is done.  The first child that
 * fails (with an error other than cancellation) cancels all its siblings
 * and the group's body (its current or next suspending call returns
 * -ECANCELED; that cancellation is withdrawn here).  A body error (rc other
 * than 0 and -ECANCELED) cancels the children too and joins the error set,
 * last, with child NULL; rc == -ECANCELED cancels the children and is
 * propagated unless it was only the group's own cancellation.  Returns the
 * first error of the set when there is one (the ExceptionGroup; a
 * cancellation of the body then no longer propagates), else -ECANCELED when
 * the body was cancelled (from outside, before or while waiting), else 0.
 * Only the body's task may call it (-EPERM from another); a second call
 * returns the first error again, or 0. */
int cio_group_exit(cio_group *g, int rc);

/* cio_group_exit() with the status guessed from the body's task: -ECANCELED
 * if a cancellation from outside (not the group's own) reached the body
 * since the group opened or is pending, else 0.  A body that fails must use
 * cio_group_exit() for its error to count. */
int cio_group_wait(cio_group *g);

/* The number of errors, and the i-th of them (children in failure order,
 * then the body's): returns its error code and stores the (borrowed) child
 * in *child (NULL for the body's own error). */
size_t cio_group_nerrors(const cio_group *g);
int cio_group_error(const cio_group *g, size_t i, cio_task **child);

/* Frees the group.  Children still running (cio_group_wait not called) are
 * cancelled and left to finish on their own. */
void cio_group_free(cio_group *g);

/* ------------------------------------------------------------------------ */
/* Scoped timeouts (asyncio.timeout / timeout_at)                           */
/* ------------------------------------------------------------------------ */

/* Storage for a timeout scope, on the caller's stack.  Private fields. */
typedef struct cio_timeout {
    uint64_t priv_[12];
} cio_timeout;

/* Opens a scope in the current task: when the deadline passes, the task is
 * cancelled, so the suspending call it is in (or its next one) returns
 * -ECANCELED; cio_timeout_exit() then turns that into -ETIMEDOUT.  Scopes
 * nest, and compose with task groups and outer cancellations through the
 * cancelling count.  CIO_NO_TIMEOUT: no deadline until rescheduled; a delay
 * <= 0 (a deadline already past) expires on the loop's next pass, as
 * asyncio's.  Returns 0, CIO_ENOTASK. */
int cio_timeout_enter(cio_timeout *s, double delay);
int cio_timeout_enter_at(cio_timeout *s, double when);

/* Moves the deadline (Timeout.reschedule); CIO_NO_TIMEOUT removes it, one
 * in the past expires at once.  Only an entered scope that has not expired
 * nor been exited can be rescheduled (a zeroed one has not been entered):
 * otherwise CIO_EINVALSTATE. */
int cio_timeout_reschedule(cio_timeout *s, double when);

/* The scope's deadline (loop time), or CIO_NO_TIMEOUT if none. */
double cio_timeout_when(const cio_timeout *s);

/* Whether the deadline passed and cancelled the task (Timeout.expired). */
bool cio_timeout_expired(const cio_timeout *s);

/* Closes the scope; pass the status the body ended with.  Returns
 * -ETIMEDOUT if this scope's deadline cancelled the body and rc is
 * -ECANCELED with no other cancellation pending (that cancellation is
 * withdrawn and stops propagating; cancelling() is back to its value at
 * entry), otherwise rc unchanged.  Scopes must be exited in reverse order of
 * entry, in the task that entered them. */
int cio_timeout_exit(cio_timeout *s, int rc);

/* ------------------------------------------------------------------------ */
/* Scoped acquire/release (async with)                                      */
/* ------------------------------------------------------------------------ */

/* C has no `async with`; a guard is the idiom.  Declare it with CIO_GUARD
 * (zeroed, and released automatically when it goes out of scope, with GCC's
 * and Clang's cleanup attribute), arm it with cio_lock_guard(),
 * cio_sem_guard() or cio_guard_arm(), and an early return can no longer
 * forget the release:
 *
 *     CIO_GUARD(g);
 *     int rc = cio_sem_guard(sem, &g);      // waits; may be cancelled
 *     if (rc < 0)
 *         return cio_fail(rc, NULL);         // nothing to release
 *     ... every return from here releases sem ...
 *
 * cio_guard_release() releases early.  The release function may itself
 * suspend (an async __aexit__): it runs in the task like any call. */
typedef struct cio_guard {
    void *obj;
    void (*release)(void *obj);
} cio_guard;

/* Releases an armed guard now and disarms it (no-op if not armed). */
void cio__guard_release(cio_guard *g);
static inline void cio_guard_release(cio_guard *g) { cio__guard_release(g); }

#define CIO_GUARD(name) __attribute__((cleanup(cio__guard_release))) cio_guard name = {0, 0}

/* Arms g to call release(obj) when it goes out of scope. */
static inline void cio_guard_arm(cio_guard *g, void *obj, void (*release)(void *obj))
{
    g->obj = obj;
    g->release = release;
}

/* ------------------------------------------------------------------------ */
/* Synchronisation primitives (asyncio.Lock, Event, Condition, Semaphore,   */
/* BoundedSemaphore, Barrier)                                               */
/* ------------------------------------------------------------------------ */

/* All waits are FIFO-fair, cancellable and deadline-aware (through
 * cio_timeout scopes), and behave as asyncio's locks.py.  A wake-up does not
 * hand anything over: a released lock, a free permit, a notification or a
 * barrier release is taken by the woken task when it runs again (until
 * then it still counts among the waiters, so nobody can jump the queue).
 * If it is cancelled in between, the cancellation wins: its call returns
 * -ECANCELED and the wake-up passes to the next waiter, so nothing is lost,
 * duplicated, or left held with no owner.  The acquire calls (lock,
 * semaphore, condition) return CIO_ENOTASK outside a task even when they
 * could succeed at once; the other waits only when they would have to wait.
 * Objects are created by *_new (NULL with errno ENOMEM on failure), owned
 * by the caller, freed by *_free (which must not be called while tasks wait
 * on them).  Loop thread only. */

typedef struct cio_lock cio_lock;
cio_lock *cio_lock_new(void);
void cio_lock_free(cio_lock *l);
/* Lock.acquire: suspends while locked or while others wait.  Returns 0,
 * -ECANCELED or CIO_ENOTASK. */
int cio_lock_acquire(cio_lock *l);
/* Lock.release: unlocks and wakes the first waiter, if any (it takes the
 * lock when it runs).  Returns 0 or CIO_ENOTACQUIRED if the lock is not
 * locked.  Never suspends. */
int cio_lock_release(cio_lock *l);
bool cio_lock_locked(const cio_lock *l);
/* The number of tasks waiting in acquire (len(lock._waiters)): woken ones
 * that have not run yet included. */
size_t cio_lock_waiters(const cio_lock *l);
/* cio_lock_acquire, then arms g to release it. Suspends. */
int cio_lock_guard(cio_lock *l, cio_guard *g);

typedef struct cio_event cio_event;
cio_event *cio_event_new(void);
void cio_event_free(cio_event *e);
/* Event.set: wakes every waiter.  Event.clear, Event.is_set. */
void cio_event_set(cio_event *e);
void cio_event_clear(cio_event *e);
bool cio_event_is_set(const cio_event *e);
/* Event.wait: suspends until set (returns 0 at once if set).  0,
 * -ECANCELED (also when set but cancelled before running), CIO_ENOTASK. */
int cio_event_wait(cio_event *e);
/* The number of tasks in cio_event_wait (woken ones not run yet included). */
size_t cio_event_waiters(const cio_event *e);

typedef struct cio_cond cio_cond;
/* A condition variable using lock (NULL: a lock of its own). */
cio_cond *cio_cond_new(cio_lock *lock);
void cio_cond_free(cio_cond *c);
cio_lock *cio_cond_lock(cio_cond *c);
/* The lock's acquire / release / locked (see cio_lock_*). */
int cio_cond_acquire(cio_cond *c);
int cio_cond_release(cio_cond *c);
bool cio_cond_locked(const cio_cond *c);
/* Condition.wait: the lock must be held (else CIO_ENOTACQUIRED); releases
 * it, waits for a notify, re-acquires it (always, even when cancelled) and
 * returns 0 or -ECANCELED (cancelled while waiting or while re-acquiring;
 * a notification this task received is then passed to another waiter, as
 * asyncio 3.13 does).  Suspends. */
int cio_cond_wait(cio_cond *c);
/* Condition.wait_for: waits until pred(arg) is true (returns 0 at once if
 * it is, lock held or not). Suspends. */
int cio_cond_wait_for(cio_cond *c, bool (*pred)(void *arg), void *arg);
/* Condition.notify(n) / notify_all: the lock must be held (else
 * CIO_ENOTACQUIRED).  Never suspends. */
int cio_cond_notify(cio_cond *c, size_t n);
int cio_cond_notify_all(cio_cond *c);
/* The number of tasks in cio_cond_wait waiting for a notification. */
size_t cio_cond_waiters(const cio_cond *c);

typedef struct cio_sem cio_sem;
/* Semaphore(value) / BoundedSemaphore(value). */
cio_sem *cio_sem_new(size_t value);
cio_sem *cio_sem_new_bounded(size_t value);
void cio_sem_free(cio_sem *s);
/* Semaphore.acquire: suspends while locked (no free permit, or others
 * waiting).  0, -ECANCELED or CIO_ENOTASK. */
int cio_sem_acquire(cio_sem *s);
/* Semaphore.release: frees a permit and reserves it for the first waiter,
 * if any.  A bounded semaphore released more often than acquired returns
 * CIO_ESEMOVERFLOW and changes nothing.  Never suspends. */
int cio_sem_release(cio_sem *s);
/* Semaphore.locked: no permit free, or tasks waiting. */
bool cio_sem_locked(const cio_sem *s);
/* Free permits (Semaphore._value; permits reserved for woken waiters are
 * not counted). */
size_t cio_sem_value(const cio_sem *s);
/* The number of tasks in cio_sem_acquire (woken ones not run yet included). */
size_t cio_sem_waiters(const cio_sem *s);
/* cio_sem_acquire, then arms g to release it. Suspends. */
int cio_sem_guard(cio_sem *s, cio_guard *g);

typedef struct cio_barrier cio_barrier;
/* Barrier(parties); NULL with errno EINVAL for 0 parties. */
cio_barrier *cio_barrier_new(size_t parties);
void cio_barrier_free(cio_barrier *b);
/* Barrier.wait: first waits while the previous cycle drains or resets,
 * then suspends until `parties` tasks are waiting; returns this task's
 * arrival index (0 .. parties-1), CIO_EBROKENBARRIER if the barrier is or
 * gets broken, or reset while waiting, or -ECANCELED (the task leaves the
 * barrier).  CIO_ENOTASK outside a task if it would have to wait. */
int cio_barrier_wait(cio_barrier *b);
/* Barrier.abort: breaks it; waiters (now and later) get CIO_EBROKENBARRIER. */
void cio_barrier_abort(cio_barrier *b);
/* Barrier.reset: waiters get CIO_EBROKENBARRIER and the barrier is usable
 * again once they (and tasks still draining out of the last cycle) have
 * left: newcomers wait until then. */
void cio_barrier_reset(cio_barrier *b);
size_t cio_barrier_parties(const cio_barrier *b);
/* Tasks waiting for the barrier to fill (0 unless it is filling). */
size_t cio_barrier_n_waiting(const cio_barrier *b);
bool cio_barrier_broken(const cio_barrier *b);
/* asyncio's state name: "filling", "draining", "resetting" or "broken".
 * Static. */
const char *cio_barrier_state(const cio_barrier *b);

/* ------------------------------------------------------------------------ */
/* Queues (asyncio.Queue, LifoQueue, PriorityQueue)                         */
/* ------------------------------------------------------------------------ */

/* Items are pointers, owned by whoever holds them: the queue never frees
 * them.  maxsize 0 means unbounded.  NULL with errno set on failure.
 * Loop thread only. */
typedef struct cio_queue cio_queue;
cio_queue *cio_queue_new(size_t maxsize);
cio_queue *cio_queue_new_lifo(size_t maxsize);
/* cmp orders items (negative: a first); equal items leave in insertion order. */
cio_queue *cio_queue_new_priority(size_t maxsize, int (*cmp)(const void *a, const void *b));
/* Frees the queue (not the items still in it). No task may be waiting on it. */
void cio_queue_free(cio_queue *q);
/* Queue.put: suspends while full.  Returns 0, -ECANCELED (the item was not
 * added and is still the caller's), CIO_EQUEUESHUTDOWN, -ENOMEM, or
 * CIO_ENOTASK outside a task if it would have to wait. */
int cio_queue_put(cio_queue *q, void *item);
/* Queue.get: suspends while empty.  Returns 0 with *item set, -ECANCELED
 * (no item taken: one that arrived for this getter stays in the queue for
 * the next), CIO_EQUEUESHUTDOWN (shut down and empty), or CIO_ENOTASK
 * outside a task if it would have to wait.  As in asyncio, put wakes the
 * first waiting getter, which takes an item when it runs. */
int cio_queue_get(cio_queue *q, void **item);
/* put_nowait / get_nowait: never suspend; CIO_EQUEUEFULL / CIO_EQUEUEEMPTY,
 * CIO_EQUEUESHUTDOWN. */
int cio_queue_put_nowait(cio_queue *q, void *item);
int cio_queue_get_nowait(cio_queue *q, void **item);
/* Queue.task_done: CIO_ETASKDONE if called more times than items were put. */
int cio_queue_task_done(cio_queue *q);
/* Queue.join: suspends until every item put has been marked task_done.
 * 0, -ECANCELED, or CIO_ENOTASK outside a task if it would have to wait. */
int cio_queue_join(cio_queue *q);
size_t cio_queue_qsize(const cio_queue *q);
size_t cio_queue_maxsize(const cio_queue *q);
size_t cio_queue_unfinished(const cio_queue *q);
bool cio_queue_empty(const cio_queue *q);
bool cio_queue_full(const cio_queue *q);
bool cio_queue_is_shutdown(const cio_queue *q);
/* Tasks waiting in get / put (len(q._getters) / len(q._putters)). */
size_t cio_queue_getters(const cio_queue *q);
size_t cio_queue_putters(const cio_queue *q);
/* Queue.shutdown (Python 3.13): later puts fail with CIO_EQUEUESHUTDOWN,
 * waiting putters are released with it (their items stay theirs), waiting
 * getters too; gets go on returning what is left, then fail.  immediate
 * also empties the queue now, passing each item to drop (if not NULL) and
 * counting it as done, which releases join(). Never suspends. */
void cio_queue_shutdown(cio_queue *q, bool immediate, void (*drop)(void *item));

/* ------------------------------------------------------------------------ */
/* Generators (async generators, async for, anext)                          */
/* ------------------------------------------------------------------------ */

typedef struct cio_gen cio_gen;
/* The producer: runs as a task of its own (started by the first
 * cio_gen_next) and hands values out with cio_gen_yield; its return value is
 * ignored, cio_fail() reports an error to the consumer. */
typedef void *(*cio_gen_fn)(cio_gen *g, void *arg);

/* A generator running fn(g, arg); opts as for cio_spawn_ex (name, stack
 * size).  Owned by the caller (cio_gen_free).  NULL with errno on failure. */
cio_gen *cio_gen_new(cio_gen_fn fn, void *arg, const cio_task_opts *opts);
/* anext(): suspends until the producer yields (0, *value set), ends
 * (CIO_EDONE, then CIO_EDONE again on every call), or fails (its error
 * code once, then CIO_EDONE).  Cancelling the consumer cancels the
 * producer, as asyncio throws CancelledError into the generator.  A
 * consumer cancelled after a value was yielded to it but before it ran
 * returns -ECANCELED, and the value is kept for the next cio_gen_next
 * (cio_gen_close drops it). */
int cio_gen_next(cio_gen *g, void **value);
/* In the producer: hands value to the consumer and suspends until the next
 * request.  Returns 0 (produce the next value), CIO_EGENCLOSED when the
 * consumer closed the generator (free what you hold and return), or
 * -ECANCELED; -EPERM when called from another task. */
int cio_gen_yield(cio_gen *g, void *value);
/* aclose(): stops the generator early: its pending yield returns
 * CIO_EGENCLOSED, and (inside a task) waits until the producer returned.
 * Returns 0 or the producer's own error. */
int cio_gen_close(cio_gen *g);
/* Closes the generator if needed (without waiting) and frees it. */
void cio_gen_free(cio_gen *g);
/* [x async for x in g]: collects every value into a malloc'd array (*values,
 * free it) of *n items.  Suspends.  Returns 0 or the first error (then
 * nothing is returned). */
int cio_gen_collect(cio_gen *g, void ***values, size_t *n);

/* ------------------------------------------------------------------------ */
/* Thread pool executors                                                    */
/* ------------------------------------------------------------------------ */

/* An executor with a fixed maximum of worker threads (ThreadPoolExecutor
 * (max_workers)); 0 means min(32, cores + 4), Python's default.  Threads
 * start on demand.  NULL with errno on failure.  Thread-safe. */
cio_executor *cio_executor_new(size_t workers);
size_t cio_executor_workers(const cio_executor *ex);
/* Executor.shutdown(wait, cancel_futures): no new jobs; with cancel_pending
 * the jobs not yet started never start and their futures are cancelled;
 * with wait, blocks the calling thread until every worker has exited.
 * Returns 0. */
int cio_executor_shutdown(cio_executor *ex, bool wait, bool cancel_pending);
/* Shuts down (waiting) and frees. */
void cio_executor_free(cio_executor *ex);
/* The default executor of loop (NULL: current), started on first use and
 * shut down (waiting) when the loop closes (so by cio_run). Borrowed. */
cio_executor *cio_default_executor(cio_loop *loop);

/* loop.run_in_executor(ex, fn, arg): runs fn(arg) on a worker thread of ex
 * (NULL: the default executor) and returns a future of the current loop
 * (owned by the caller) that completes with fn's result, or with the error
 * fn reported through cio_fail().  The future works with every combinator.
 * Cancelling it cancels the job: if it has not started it never will; a
 * running job can poll cio_job_cancelled().  NULL with errno on failure
 * (ESHUTDOWN after shutdown). Loop thread only. */
cio_future *cio_run_in_executor(cio_executor *ex, cio_task_fn fn, void *arg);

/* asyncio.to_thread(fn, arg): runs fn on the default executor; suspends only
 * the calling task.  Returns fn's outcome (result in *result), or
 * -ECANCELED at once when the task is cancelled (the job is cancelled as
 * above).  If the job had already finished when the cancellation came (its
 * result not yet taken), -ECANCELED still wins but *result receives the
 * result, so that nothing fn allocated is lost. */
int cio_to_thread(cio_task_fn fn, void *arg, void **result);

/* Inside an executor job: whether its future has been cancelled (a cancel
 * token to poll; asyncio cannot offer this).  False elsewhere. */
bool cio_job_cancelled(void);

/* asyncio.run_coroutine_threadsafe: from any thread, starts fn(arg) as a
 * task on loop and returns a thread-side future to block on.  The caller
 * owns it (cio_tfuture_free).  NULL with errno on failure.  Thread-safe. */
typedef struct cio_tfuture cio_tfuture;
cio_tfuture *cio_run_coroutine_threadsafe(cio_loop *loop, cio_task_fn fn, void *arg);
/* Blocks the calling thread (not a task!) until the task is done or
 * timeout seconds pass (CIO_NO_TIMEOUT: forever; <= 0: does not wait).
 * Returns the task's outcome as cio_result(), or -ETIMEDOUT. */
int cio_tfuture_wait(cio_tfuture *tf, double timeout, void **result);
/* The message of the task's error (cio_error_message() of the task, as the
 * exception's args travel in asyncio's concurrent future), once the task is
 * done with an error that has one; NULL otherwise.  Owned by tf, valid
 * until cio_tfuture_free().  Thread-safe. */
const char *cio_tfuture_error_message(cio_tfuture *tf);
bool cio_tfuture_done(cio_tfuture *tf);
/* Requests cancellation of the task; false if already done. */
bool cio_tfuture_cancel(cio_tfuture *tf);
void cio_tfuture_free(cio_tfuture *tf);

/* ------------------------------------------------------------------------ */
/* Sockets for tasks (loop.sock_*)                                          */
/* ------------------------------------------------------------------------ */

/* All fds given to these calls must be non-blocking; cio_socket() makes such
 * sockets.  Each call reads or writes first and waits only on EAGAIN, so a
 * ready socket costs no extra system call.  Sends use MSG_NOSIGNAL: a peer
 * that vanished gives -EPIPE, never SIGPIPE.  All suspend (loop thread,
 * inside a task) and return -ECANCELED when cancelled, leaving the fd open
 * and owned by the caller.  Outside a task they return CIO_ENOTASK at
 * once, even when the socket is ready, and touch nothing. */

/* socket(2) with SOCK_NONBLOCK | SOCK_CLOEXEC.  Returns the fd or -errno. */
int cio_socket(int domain, int type, int protocol);
/* Connects fd to addr.  0, or -errno (-ECONNREFUSED, -ENETUNREACH,
 * -ETIMEDOUT...). */
int cio_sock_connect(int fd, const struct sockaddr *addr, socklen_t len);
/* Accepts a connection: returns the new fd (non-blocking, close-on-exec,
 * owned by the caller) and fills addr/len when not NULL; or -errno
 * (-EMFILE when out of fds). */
int cio_sock_accept(int fd, struct sockaddr *addr, socklen_t *len);
/* Receives up to n bytes (loop.sock_recv / sock_recv_into): the count, 0 at
 * end of stream, or -errno. */
ssize_t cio_sock_recv(int fd, void *buf, size_t n);
/* Sends all n bytes (loop.sock_sendall).  0 or -errno; on error the number
 * of bytes already sent is unknown, as in asyncio. */
int cio_sock_sendall(int fd, const void *buf, size_t n);
/* Datagrams: recvfrom returns the size (addr/len filled when not NULL);
 * sendto returns the size sent. */
ssize_t cio_sock_recvfrom(int fd, void *buf, size_t n, struct sockaddr *addr, socklen_t *len);
ssize_t cio_sock_sendto(int fd, const void *buf, size_t n, const struct sockaddr *addr, socklen_t len);

/* ------------------------------------------------------------------------ */
/* Name resolution (c-ares on the loop)                                     */
/* ------------------------------------------------------------------------ */

/* getaddrinfo for tasks: resolves host (a name or a numeric address; NULL
 * with AI_PASSIVE for the wildcard) and service (a port number or name)
 * with c-ares on the current loop; /etc/hosts is honoured.  Suspends.
 * Returns 0 with *res set (free it with cio_freeaddrinfo), CIO_EDNS (no such
 * name, server failure), -EINVAL (a host name longer than DNS allows: never
 * truncated), -ECANCELED, -ETIMEDOUT, -ENOMEM. */
int cio_getaddrinfo(const char *host, const char *service, const struct addrinfo *hints, struct addrinfo **res);
void cio_freeaddrinfo(struct addrinfo *res);
/* getnameinfo for tasks (reverse lookup through c-ares).  Suspends.
 * Returns 0, CIO_EDNS, -ENOSPC (a buffer too small), -ECANCELED. */
int cio_getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, size_t hostlen, char *serv,
                    size_t servlen, int flags);

/* Connects a TCP socket to host:port: resolves, then tries every address in
 * turn (IPv6 and IPv4) and reports the last error; with happy_eyeballs
 * (RFC 8305) attempts are started 250 ms apart and the first to connect
 * wins.  timeout < 0: none.  Returns the connected non-blocking fd or a
 * negative code.  Suspends. */
int cio_connect_tcp(const char *host, const char *port, double timeout, bool happy_eyeballs);

/* ------------------------------------------------------------------------ */
/* Streams (asyncio.open_connection / start_server)                         */
/* ------------------------------------------------------------------------ */

/* TLS settings (OpenSSL).  Clients verify the peer's chain against the
 * system CA store (or ca_file/ca_path) and its host name by default. */
typedef struct cio_tls_opts {
    const char *server_hostname; /* SNI and name to verify; NULL: the host connected to */
    const char *ca_file;         /* PEM bundle to trust instead of the system store */
    const char *ca_path;         /* hashed directory of CAs */
    const char *cert_file;       /* our certificate chain (PEM): required for servers */
    const char *key_file;        /* our private key (PEM) */
    const char *const *alpn;     /* protocols to offer/accept, e.g. {"h2", "http/1.1"} */
    size_t nalpn;
    double handshake_timeout;    /* seconds; 0: 60 s */
    bool insecure_no_verify;     /* the explicitly named opt-out: no chain and no name check */
} cio_tls_opts;

typedef struct cio_stream_opts {
    size_t limit;               /* reader limit (readuntil/readline); 0: CIO_STREAM_LIMIT */
    size_t high_water;          /* writer: drain() waits above this; 0: 64 KiB */
    size_t low_water;           /* ... until the buffer is at or below this; 0: 16 KiB */
    bool write_blocks;          /* write() itself suspends at the high-water mark */
    const cio_tls_opts *tls;    /* NULL: plain TCP */
    double connect_timeout;     /* seconds; <= 0: none */
    bool happy_eyeballs;        /* RFC 8305 connection racing */
} cio_stream_opts;

/* A connected byte stream: reader and writer in one object (asyncio's
 * StreamReader + StreamWriter).  One task reads and one task writes at a
 * time.  Owned by whoever opened it (cio_stream_close / cio_stream_abort
 * free it); streams handed to server handlers are owned by the handler. */
typedef struct cio_stream cio_stream;

/* open_connection(host, port, ssl=...): resolves, connects, handshakes TLS
 * when opts->tls is set.  Suspends.  Returns 0 with *out set, or a negative
 * code (-ECONNREFUSED, -ETIMEDOUT, CIO_EDNS, CIO_ECERT*, CIO_ETLS...). */
int cio_open_connection(const char *host, const char *port, const cio_stream_opts *opts, cio_stream **out);
/* open_unix_connection(path). Suspends. */
int cio_open_unix_connection(const char *path, const cio_stream_opts *opts, cio_stream **out);
/* Wraps a connected non-blocking socket (or pipe); the stream owns fd from
 * then on (also on failure).  opts->tls makes it a TLS client (server when
 * server_side).  Suspends when TLS is requested. */
int cio_stream_from_fd(int fd, const cio_stream_opts *opts, bool server_side, cio_stream **out);

/* Reader: asyncio's StreamReader.  One task reads a stream at a time: a
 * read call (any of the ones below) made while another one is in progress
 * on the same stream returns -EBUSY at once (asyncio raises RuntimeError).
 * After cio_stream_set_error every read call returns that error, even with
 * data buffered (asyncio raises the exception first).
 *
 * read: n bytes at most; the count, 0 at EOF (or for n == 0).  Suspends
 * while the buffer is empty.  Returns -errno / CIO_ETLS on a broken
 * connection. */
ssize_t cio_stream_read(cio_stream *s, void *buf, size_t n);
/* readexactly(n): 0 when buf holds n bytes; CIO_EINCOMPLETE at EOF with the
 * *got bytes that did arrive in buf (IncompleteReadError.partial).  On any
 * other error too, the *got bytes already in buf are consumed. */
int cio_stream_readexactly(cio_stream *s, void *buf, size_t n, size_t *got);
/* readuntil(separator), with one or more separators (asyncio 3.13's tuple).
 * On success *data points at the shortest chunk of the stream that ends with
 * one of the separators (separator included), *len its count, consumed.  The
 * limit bounds the bytes before the separator, measured where it starts, so
 * a chunk of limit bytes plus its separator is fine; when two separators end
 * at the same byte the shorter one is the match.
 *   CIO_EINCOMPLETE at EOF: *data and *len give the partial bytes, consumed.
 *   CIO_ELIMITOVERRUN (LimitOverrunError): nothing is consumed; *data points
 *   at the buffered bytes and *len is asyncio's `consumed`: where the matched
 *   separator starts when it starts beyond the limit, else how many bytes
 *   were searched without finding one (more than the limit; the bytes may be
 *   read with the other calls).
 *   -EINVAL: no separator, or an empty one.
 * *data (never NULL) is valid until the next read call on s.  Suspends. */
int cio_stream_readuntil(cio_stream *s, const char *const *seps, size_t nseps, const char **data, size_t *len);
/* readline(): readuntil("\n"), except that at EOF the last partial line is
 * returned with 0 (an empty *len means EOF), and on CIO_ELIMITOVERRUN
 * (asyncio's ValueError) the line is dropped through its newline when that
 * was found, else everything buffered is dropped, as asyncio does; *len
 * then says how many bytes were dropped. */
int cio_stream_readline(cio_stream *s, const char **data, size_t *len);
/* read() to EOF: a malloc'd buffer (*data, free it) of *len bytes. */
int cio_stream_read_all(cio_stream *s, char **data, size_t *len);
/* at_eof(): EOF is known and nothing is buffered.  EOF is known once fed
 * (cio_stream_feed_eof) or seen by a read, or, while no read call is in
 * progress, found now by one non-blocking look at the transport (a peek on
 * a plain socket; on pipes and TLS a read into the buffer's free end, whose
 * bytes are kept for the next read call).  Does not suspend. */
bool cio_stream_at_eof(cio_stream *s);
/* The bytes buffered for reading and not yet consumed (*len of them),
 * borrowed: valid until the next call on s. */
const char *cio_stream_peek(const cio_stream *s, size_t *len);

/* The default reader limit, 64 KiB (asyncio's). */
#define CIO_STREAM_LIMIT (64 * 1024)

/* A standalone reader: asyncio.StreamReader() fed by the program (a
 * protocol's parser, another task, a callback) instead of a socket.  Every
 * read call above works on it, suspending until it is fed; writing calls
 * return -EBADF.  limit as cio_stream_opts.limit, but 0 is refused (asyncio:
 * "Limit cannot be <= 0").  Bound to no loop: any task of the thread may
 * read it.  Returns the reader, owned by the caller (free it with
 * cio_stream_close or cio_stream_abort; a task parked reading it then gets
 * -EBADF), or NULL with errno EINVAL or ENOMEM. */
cio_stream *cio_stream_new_reader(size_t limit);
/* feed_data(): appends a copy of n bytes and wakes the task parked reading.
 * Returns 0, CIO_EINVALSTATE after cio_stream_feed_eof (or close), -EINVAL
 * when s is not a standalone reader, -ENOMEM (nothing appended).  Does not
 * suspend; data returned by earlier read calls stays valid. */
int cio_stream_feed_data(cio_stream *s, const void *data, size_t n);
/* feed_eof(): no more data will come; wakes the task parked reading.
 * 0, or -EINVAL when s is not a standalone reader. */
int cio_stream_feed_eof(cio_stream *s);
/* set_exception(): from now on every read call on s returns err (a negative
 * code); a task parked reading a standalone reader is woken with it.  On a
 * stream with a socket a read already parked is not interrupted (the next
 * call sees err).  0, or -EINVAL when err is not negative. */
int cio_stream_set_error(cio_stream *s, int err);
/* exception(): the error given to cio_stream_set_error, or 0. */
int cio_stream_exception(const cio_stream *s);

/* Writer.  write copies the bytes and returns at once (unless write_blocks,
 * when it suspends at the high-water mark); on a plain stream data goes
 * straight to the socket when nothing is buffered.  Returns 0, or the
 * connection's error once it is broken (-EPIPE, -ECONNRESET...), or -EINVAL
 * after write_eof.
 * TLS streams coalesce: the bytes of writes made one after another stay
 * buffered (and counted by cio_stream_write_buffer_size) so that they leave
 * as one record and one send; each full record (16 KiB) goes at once, the
 * rest when the stream is next read from the socket, drained, half-closed
 * or closed, and at the latest in the loop's next iteration.  Bytes written
 * are never reordered, and never lost by a cancellation of the writing task
 * (abort drops them, as it drops all buffered data); the error of a
 * deferred send is reported by the next call. */
int cio_stream_write(cio_stream *s, const void *buf, size_t n);
int cio_stream_writev(cio_stream *s, const struct iovec *iov, int iovcnt);
/* drain(): sends what a TLS stream holds for coalescing, then suspends
 * while more than high_water bytes are buffered, until low_water or less
 * remain.  0 or the connection's error. */
int cio_stream_drain(cio_stream *s);
/* write_eof(): flushes, then half-closes (TLS: close_notify; TCP:
 * shutdown(SHUT_WR)); reading goes on.  Suspends. */
int cio_stream_write_eof(cio_stream *s);
bool cio_stream_can_write_eof(const cio_stream *s);
/* close(): flushes what is buffered (suspends), shuts TLS down cleanly,
 * closes and frees the stream (always, also when it returns an error or is
 * cancelled, in which case it aborts). */
int cio_stream_close(cio_stream *s);
/* abort(): drops buffered data, resets the connection (RST), frees. */
void cio_stream_abort(cio_stream *s);
bool cio_stream_is_closing(const cio_stream *s);
/* Bytes buffered for writing. */
size_t cio_stream_write_buffer_size(const cio_stream *s);

/* Extra info: the fd (still owned by the stream), peer and local address,
 * and for TLS the protocol version ("TLSv1.3"), cipher, ALPN protocol
 * (static or stream-owned strings, NULL for plain streams) and the peer
 * certificate's subject (0, or -ENOENT without one). */
int cio_stream_fd(const cio_stream *s);
int cio_stream_peername(const cio_stream *s, struct sockaddr_storage *addr, socklen_t *len);
int cio_stream_sockname(const cio_stream *s, struct sockaddr_storage *addr, socklen_t *len);
const char *cio_stream_tls_version(const cio_stream *s);
const char *cio_stream_tls_cipher(const cio_stream *s);
const char *cio_stream_tls_alpn(const cio_stream *s);
int cio_stream_tls_peer_subject(const cio_stream *s, char *buf, size_t n);

/* start_tls(): upgrades an open plain stream to TLS (client, or server when
 * server_side).  Suspends for the handshake.  On failure the stream is
 * still valid (close or abort it). */
int cio_stream_start_tls(cio_stream *s, const cio_tls_opts *tls, bool server_side);

/* ---- Servers ------------------------------------------------------------ */

/* Called as a new task for each connection; the handler owns the stream (if
 * it returns without closing it, the server closes it). */
typedef void *(*cio_conn_handler)(cio_stream *s, void *arg);

typedef struct cio_server_opts {
    int backlog;             /* 0: 511 */
    bool no_reuse_address;   /* SO_REUSEADDR is on unless this is set */
    bool reuse_port;         /* SO_REUSEPORT (one listener per loop/thread on one port) */
    bool ipv6_only;          /* on an IPv6 wildcard: no dual-stack */
    const cio_tls_opts *tls; /* server certificate and key: TLS server (kept: must outlive the server) */
    cio_stream_opts stream;  /* reader/writer settings for accepted streams */
} cio_server_opts;

typedef struct cio_server cio_server;

/* start_server(handler, host, port): binds every address of host (NULL:
 * all interfaces, dual-stack) and starts accepting on the current loop.
 * port "0" picks a free port (see cio_server_port).  Returns 0 with *out
 * set (owned by the caller: cio_server_free) or a negative code: CIO_ENOLOOP
 * without a current loop; a host name (not a numeric address, not NULL) is
 * resolved with cio_getaddrinfo, which suspends, so it needs a task
 * (CIO_ENOTASK otherwise).  Limits (backlog, fds) in docs/limits.md.  Running
 * out of fds (EMFILE) while accepting does not stop the server nor make it
 * spin: it pauses accepting briefly and resumes when fds are free again. */
int cio_start_server(cio_conn_handler handler, void *arg, const char *host, const char *port,
                     const cio_server_opts *opts, cio_server **out);
int cio_start_unix_server(cio_conn_handler handler, void *arg, const char *path, const cio_server_opts *opts,
                          cio_server **out);
/* serve_forever(): suspends until the server is closed (returns 0) or the
 * task is cancelled (closes the server, returns -ECANCELED).  On a closed
 * server it returns 0 at once (no task needed); otherwise CIO_ENOTASK
 * outside a task. */
int cio_server_serve_forever(cio_server *srv);
/* close(): stops listening (closes the listening sockets); connections
 * being handled go on.  Closing again does nothing.  After close,
 * cio_server_sockets gives 0 sockets and cio_server_port still the port it
 * had. */
void cio_server_close(cio_server *srv);
/* wait_closed(): suspends until the server is closed and every handler task
 * has finished (returns 0 at once, without a task, if that is already so;
 * CIO_ENOTASK outside a task otherwise). */
int cio_server_wait_closed(cio_server *srv);
/* Closes (if needed), cancels the handlers still running and frees. */
void cio_server_free(cio_server *srv);
/* The bound listening sockets (fds owned by the server): their count, up
 * to cap of them stored in fds. */
size_t cio_server_sockets(const cio_server *srv, int *fds, size_t cap);
/* The port the first listening socket is bound to (0 for unix servers). */
int cio_server_port(const cio_server *srv);
/* Connections currently being handled. */
size_t cio_server_active(const cio_server *srv);

/* ---- Datagrams ---------------------------------------------------------- */

/* create_datagram_endpoint: a non-blocking UDP socket bound to local
 * host:port (NULL host: any; NULL port: ephemeral) and/or connected to
 * remote host:port (both may be NULL).  Use cio_sock_sendto/recvfrom
 * (or send/recv when connected); close with cio_close.  Suspends for name
 * resolution.  Returns the fd or a negative code. */
int cio_udp_open(const char *local_host, const char *local_port, const char *remote_host, const char *remote_port);

/* ------------------------------------------------------------------------ */
/* Subprocesses (asyncio.create_subprocess_exec / _shell)                   */
/* ------------------------------------------------------------------------ */

enum { CIO_INHERIT = 0, CIO_PIPE, CIO_DEVNULL, CIO_STDOUT /* stderr only: into stdout's pipe */ };

typedef struct cio_process_opts {
    int stdin_mode, stdout_mode, stderr_mode; /* CIO_INHERIT by default */
    const char *cwd;
    char *const *envp;   /* NULL: inherit the environment */
    bool kill_on_cancel; /* a cancelled cio_process_wait/communicate kills the child first */
} cio_process_opts;

typedef struct cio_process cio_process;

/* Starts file with argv (PATH searched); the child gets no other fd of ours.
 * Returns 0 with *out (owned by the caller: cio_process_free) or -errno
 * (-ENOENT when the program does not exist). */
int cio_process_exec(const char *file, char *const argv[], const cio_process_opts *opts, cio_process **out);
/* /bin/sh -c cmd. */
int cio_process_shell(const char *cmd, const cio_process_opts *opts, cio_process **out);
pid_t cio_process_pid(const cio_process *p);
/* The pipes as streams (NULL unless CIO_PIPE); owned by the process object,
 * but may be closed early with cio_process_close_stdin. */
cio_stream *cio_process_stdin(cio_process *p);
cio_stream *cio_process_stdout(cio_process *p);
cio_stream *cio_process_stderr(cio_process *p);
int cio_process_close_stdin(cio_process *p);
/* wait(): suspends until the child exits (pidfd, or SIGCHLD where pidfd is
 * missing).  Returns the exit status (>= 0) or the negated signal number
 * that killed it (asyncio's returncode), or -ECANCELED. */
int cio_process_wait(cio_process *p);
/* The return code once known (as wait), or CIO_EINVALSTATE while running. */
int cio_process_returncode(const cio_process *p);
/* communicate(input): writes input to stdin and closes it, reads stdout and
 * stderr to EOF (malloc'd, *out and *err may be NULL to ignore), waits.  Returns
 * the return code as cio_process_wait. */
int cio_process_communicate(cio_process *p, const void *input, size_t inlen, char **out, size_t *outlen, char **err,
                            size_t *errlen);
/* send_signal / terminate (SIGTERM) / kill (SIGKILL). 0 or -errno;
 * -ESRCH after the child was reaped. */
int cio_process_send_signal(cio_process *p, int signo);
int cio_process_terminate(cio_process *p);
int cio_process_kill(cio_process *p);
/* Frees; a child still running is killed and reaped in the background. */
void cio_process_free(cio_process *p);

/* ------------------------------------------------------------------------ */
/* Async files (aiofiles)                                                   */
/* ------------------------------------------------------------------------ */

/* Regular files never block the loop: every call runs on the loop's default
 * executor and suspends only the calling task; on the io_uring back end the
 * calls go through the ring instead (no threads).  A cancelled call returns
 * -ECANCELED once its system call has finished (the worker may be using
 * the caller's buffer until then).  On io_uring the kernel is asked to
 * cancel the operation; if it completed first, its result is returned
 * instead (the bytes a read consumed are not lost) and the cancellation is
 * delivered at the task's next suspending call.  Errors are negative errno
 * values. */
typedef struct cio_file cio_file;
/* open(path, mode) with fopen's modes: "r", "r+", "w", "w+", "a", "a+",
 * "x" ("b" ignored).  Created files get 0666 & ~umask.  Returns 0 with *out
 * (owned by the caller: cio_file_close) or -errno.  Suspends. */
int cio_file_open(const char *path, const char *mode, cio_file **out);
/* read at the current position: the count, 0 at end of file. Suspends. */
ssize_t cio_file_read(cio_file *f, void *buf, size_t n);
/* write all n bytes (continuing short writes): n, or -errno. Suspends. */
ssize_t cio_file_write(cio_file *f, const void *buf, size_t n);
/* pread / pwrite at an offset (pwrite writes all n bytes). Suspend. */
ssize_t cio_file_pread(cio_file *f, void *buf, size_t n, off_t off);
ssize_t cio_file_pwrite(cio_file *f, const void *buf, size_t n, off_t off);
int cio_file_fsync(cio_file *f);
int cio_file_stat(cio_file *f, struct stat *st);
int cio_stat(const char *path, struct stat *st);
/* The underlying fd (owned by f). */
int cio_file_fd(const cio_file *f);
/* Closes and frees f (always, also on error or cancellation). Suspends. */
int cio_file_close(cio_file *f);
/* Whole-file helpers: read into a malloc'd buffer (*data, free it); write
 * (create/truncate) or append. Suspend. */
int cio_file_read_all(const char *path, char **data, size_t *len);
int cio_file_write_all(const char *path, const void *data, size_t len);
int cio_file_append_all(const char *path, const void *data, size_t len);

/* ------------------------------------------------------------------------ */
/* Logging                                                                  */
/* ------------------------------------------------------------------------ */

enum { CIO_LOG_DEBUG, CIO_LOG_INFO, CIO_LOG_WARNING, CIO_LOG_ERROR, CIO_LOG_CRITICAL };

/* Logs one record as Python's logging with format
 * "%(asctime)s %(levelname)s:%(name)s: %(message)s" and datefmt
 * "%H:%M:%S", e.g. "14:02:11 INFO:areq: Got response [200] for URL: ...".
 * name is the logger's name (NULL: "root").  Records below the level are
 * dropped cheaply.  Output goes through a ring buffer written by a
 * background thread, so a slow terminal never blocks the loop; if the ring
 * fills up, records are dropped and the count is reported.  Thread-safe. */
void cio_log(int level, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void cio_logv(int level, const char *name, const char *fmt, va_list ap);
/* The threshold: CIO_LOG_INFO unless the environment variable
 * CIO_LOG_LEVEL names another level (DEBUG, INFO, WARNING, ERROR,
 * CRITICAL) or cio_log_set_level() set one. */
int cio_log_level(void);
void cio_log_set_level(int level);
/* Sends records to path (appended; NULL: stderr).  0 or -errno. */
int cio_log_set_file(const char *path);
/* Waits (at most 2 s) until every record so far has been written. */
void cio_log_flush(void);

/* ------------------------------------------------------------------------ */
/* HTTP client (aiohttp.ClientSession, httpx.AsyncClient)                   */
/* ------------------------------------------------------------------------ */

/* A session is a connection pool (keep-alive, per-host and total limits)
 * built on libcurl's multi-socket interface driven by the loop: HTTP/1.1,
 * HTTP/2, TLS verified by default (system CA store), redirects,
 * decompression.  Each request suspends only its task; thousands can be in
 * flight.  Loop thread only.
 *
 * Hostile responses are bounded: the body by max_body (-EFBIG), the head
 * by libcurl (a header line over 100 KiB or more than 300 KiB of headers:
 * CIO_EHTTP), content encodings by libcurl (at most 5 stacked: CIO_EHTTP);
 * a response without a status line or with a malformed chunk is CIO_EHTTP.
 *
 * Names: the client's objects say "client" where the server has one of the
 * same kind (cio_http_client_response beside the server's
 * cio_http_response, as aiohttp's ClientResponse beside web.Response), and
 * words are spelled out.  Ending: each object ends with its _free call,
 * which never suspends and ignores NULL. */
typedef struct cio_http_session cio_http_session;
typedef struct cio_http_client_response cio_http_client_response;

typedef struct cio_http_session_opts {
    long limit;             /* total connections; 0: 100 */
    long limit_per_host;    /* 0: no per-host limit */
    double timeout_total;   /* whole request, seconds; 0: none */
    double timeout_connect; /* connection set-up; 0: libcurl's default (300 s) */
    double timeout_read;    /* no byte received for this long; 0: none */
    int max_redirects;      /* 0: 10; -1: do not follow redirects */
    bool raise_for_status;  /* every request: status >= 400 gives CIO_EHTTPSTATUS */
    const char *ca_file;    /* PEM bundle to trust instead of the system store */
    bool insecure_no_verify;/* the explicitly named opt-out of TLS verification */
    const char *user_agent; /* NULL: "cio/0.1" */
    /* Most body bytes a response may have, counted after decompression
     * (Content-Encoding), so a small gzip bomb cannot grow without bound.
     * 0: CIO_HTTP_MAX_BODY for a buffered body, no limit when streaming (a
     * streamed body never holds more than a bounded window in memory);
     * SIZE_MAX: no limit.  One byte more ends the transfer with -EFBIG. */
    size_t max_body;
} cio_http_session_opts;

#define CIO_HTTP_MAX_BODY ((size_t)64 << 20) /* the default max_body of a buffered body: 64 MiB */

typedef struct cio_http_client_request_opts {
    const char *const *headers; /* NULL-terminated "Name: value" lines */
    const void *body;           /* request body (borrowed for the call), e.g. for POST */
    size_t body_len;
    double timeout_total, timeout_connect, timeout_read; /* 0: the session's */
    int max_redirects;          /* 0: the session's */
    bool raise_for_status;
    bool stream;                /* return once the head is in; read the body with
                                 * cio_http_client_response_read */
    size_t max_body;            /* 0: the session's (see cio_http_session_opts) */
} cio_http_client_request_opts;

/* A session on the current loop (opts may be NULL).  Owned by the caller:
 * cio_http_session_free() (after every request has returned) closes the
 * pooled connections without waiting and frees the session (NULL is
 * ignored; never suspends).  NULL with errno on failure. */
cio_http_session *cio_http_session_new(const cio_http_session_opts *opts);
void cio_http_session_free(cio_http_session *s);

/* Sends a request (method NULL: GET, or POST when a body is given) and
 * suspends until the whole response is in (or only its head, with
 * opts->stream).  Returns 0 with *out (owned by the caller:
 * cio_http_client_response_free); CIO_EHTTPSTATUS with *out set when
 * raise_for_status applies and the status is >= 400; or an error and *out
 * NULL: CIO_EDNS, -ECONNREFUSED, -ETIMEDOUT, CIO_ECERT* / CIO_ETLS,
 * CIO_EHTTPREDIRECTS, -ECONNRESET, CIO_EHTTP, -EINVAL (bad URL), -EFBIG
 * (the decompressed body is longer than max_body: the transfer is aborted
 * as soon as it is, and its connection closed), -ECANCELED (the transfer
 * is removed at once). */
int cio_http_session_request(cio_http_session *s, const char *method, const char *url,
                             const cio_http_client_request_opts *opts, cio_http_client_response **out);
/* cio_http_session_request(s, "GET", url, NULL, out). */
int cio_http_get(cio_http_session *s, const char *url, cio_http_client_response **out);
/* resp.status, the URL after redirects, a header of the final response
 * (case-insensitive; NULL if absent), and all of them as "Name: value". */
int cio_http_client_response_status(const cio_http_client_response *r);
/* The reason phrase of the final status line ("Not Found"; "" for HTTP/2). */
const char *cio_http_client_response_reason(const cio_http_client_response *r);
const char *cio_http_client_response_url(const cio_http_client_response *r);
const char *cio_http_client_response_header(const cio_http_client_response *r, const char *name);
size_t cio_http_client_response_nheaders(const cio_http_client_response *r);
const char *cio_http_client_response_header_at(const cio_http_client_response *r, size_t i);
/* The body (resp.read() / resp.text(): always NUL-terminated); NULL in
 * streaming mode.  Owned by r. */
const char *cio_http_client_response_body(const cio_http_client_response *r, size_t *len);
/* Streaming mode: the next bytes of the body (count, 0 at the end, or an
 * error).  Suspends.  The transfer pauses while unread data piles up.  A
 * body longer than max_body gives its first max_body bytes, then -EFBIG. */
ssize_t cio_http_client_response_read(cio_http_client_response *r, void *buf, size_t n);
/* Frees r and its body; a streamed transfer still running is stopped.
 * NULL is ignored.  Never suspends. */
void cio_http_client_response_free(cio_http_client_response *r);

/* ------------------------------------------------------------------------ */
/* HTTP server (aiohttp.web)                                                */
/* ------------------------------------------------------------------------ */

/* An HTTP/1.1 server on cio streams, parsing with llhttp in strict mode:
 * routes by method and path with parameters, one task per connection that
 * serves its requests in order (keep-alive, pipelining: responses to
 * requests that arrived together leave in one write), HTTP/1.0,
 * Content-Length and chunked bodies both ways, Expect: 100-continue,
 * static files, limits and timeouts, graceful shutdown.  Requests are
 * parsed in place in the connection's read buffer; serving a request
 * allocates nothing in the common case.
 *
 * Bad input is answered and the connection closed: 400 for malformed or
 * ambiguous requests (request smuggling: Content-Length with
 * Transfer-Encoding, several Content-Lengths, a bare CR, obsolete line
 * folding, bad chunk sizes (over 2^63-1 included), a chunk-size line with
 * its extensions over 4 KiB, chunk framing that outweighs the data (more
 * than 16 KiB beyond 16 bytes a chunk plus twice its size, as Go), empty
 * or invalid (non-token) header and trailer names, invalid values, a Host
 * missing or repeated in HTTP/1.1), 408 for a head or body that does not
 * arrive in time, 413 for a body over the limit (by Content-Length, or by a
 * chunk's declared size, before its bytes come), 414 for a request line
 * over the head limit, 431 for too many or too large headers (the trailers
 * of a chunked body count with the head), 417 for an unknown Expect, 505
 * for a version other than 1.x.  A connection idle between requests past
 * the keep-alive timeout is closed quietly.  There is no limit on the number of connections (see
 * cio_server_opts.backlog and the process's fd limit).
 *
 * Loop thread only.  Everything a handler receives is borrowed: valid until
 * the handler returns. */
typedef struct cio_http_server cio_http_server;
typedef struct cio_http_request cio_http_request;
typedef struct cio_http_response cio_http_response;

/* A request handler, run in the connection's task (it may suspend).  It
 * answers through res; whatever it has not finished when it returns is
 * finished for it (no response at all: an empty 200).  Returning a
 * negative code before anything was sent gives a 500; after a streamed
 * response was started, it aborts the connection (the client sees the
 * response cut short). */
typedef int (*cio_http_handler)(cio_http_request *req, cio_http_response *res, void *arg);

typedef struct cio_http_server_opts {
    size_t max_head_size;     /* request line + headers (+ trailers), bytes; 0: 16 KiB (414 / 431 beyond) */
    size_t max_headers;       /* header lines (+ trailer lines); 0: 100 (431 beyond) */
    size_t max_body_size;     /* request body, bytes; 0: 1 MiB (413 beyond); SIZE_MAX: no limit */
    double head_timeout;      /* whole request head from its first byte (slowloris); 0: 10 s (408);
                               * also a new connection's wait for its first byte (closed quietly) */
    double body_timeout;      /* whole request body from the handler's first read; 0: 30 s (408) */
    double keepalive_timeout; /* idle connection between requests; 0: 15 s (closed quietly) */
    double write_timeout;     /* each wait for a client to take a pending response; 0: 30 s (closed) */
    cio_server_opts server;   /* listening sockets and accepted streams; server.tls: HTTPS */
} cio_http_server_opts;
/* In every timeout above, a negative value means none. */

/* A server with no routes yet, not listening (opts may be NULL).  Owned by
 * the caller: cio_http_server_free().  NULL with errno set on failure. */
cio_http_server *cio_http_server_new(const cio_http_server_opts *opts);

/* Adds a route: requests whose method is method ("GET", "POST"...; NULL:
 * any) and whose decoded path matches pattern go to handler(req, res,
 * arg).  A pattern is a path whose segments may be parameters: "{name}"
 * matches one non-empty segment, "{name*}" (last segment only) the rest of
 * the path, slashes included, possibly empty; e.g. "/users/{id}",
 * "/files/{path*}".  Routes are tried in the order added; a GET route also
 * answers HEAD.  A path that matches only routes of other methods gets 405
 * with an Allow header; one that matches nothing, 404.  The strings are
 * copied.  Returns 0, -EINVAL (a bad pattern or unknown method), -ENOMEM.
 * Never suspends. */
int cio_http_server_route(cio_http_server *srv, const char *method, const char *pattern, cio_http_handler handler,
                          void *arg);

/* Serves the files under directory dir for GET and HEAD under the path
 * prefix (e.g. "/static": "/static/css/a.css" -> dir/css/a.css; a directory
 * gives its index.html), with Content-Type by extension, Content-Length,
 * Last-Modified and If-Modified-Since (304).  Paths are decoded and checked
 * before use: a ".." segment gets 403, and the file is opened with
 * RESOLVE_BENEATH where the kernel has openat2, so no symlink leads out of
 * dir; where it has not (before Linux 5.6, or a seccomp filter refusing
 * it) the path is opened one component at a time refusing ".." and every
 * symlink (403), so symlinks are not served at all there.  Plain
 * connections send with sendfile(2).  dir is opened now (the
 * server holds the fd).  Returns 0, -errno from opening dir, -EINVAL,
 * -ENOMEM.  Never suspends. */
int cio_http_server_static(cio_http_server *srv, const char *prefix, const char *dir);

/* Starts accepting on host:port (NULL host: all interfaces; port "0": a
 * free one, see cio_http_server_port) on the current loop.  Once per
 * server.  Suspends (name resolution).  Returns 0, CIO_EINVALSTATE if
 * already listening, or cio_start_server's errors. */
int cio_http_server_listen(cio_http_server *srv, const char *host, const char *port);

/* The port listened on (0 before cio_http_server_listen). */
int cio_http_server_port(const cio_http_server *srv);

/* Connections open now (idle ones included). */
size_t cio_http_server_connections(const cio_http_server *srv);

/* Suspends until the server stops accepting (cio_http_server_shutdown;
 * returns 0) or the calling task is cancelled: then stops at once: stops
 * accepting, cancels every connection, waits until they are all closed
 * and returns -ECANCELED.  CIO_EINVALSTATE if not listening. */
int cio_http_server_serve_forever(cio_http_server *srv);

/* Graceful shutdown: stops accepting, closes idle keep-alive connections
 * at once, lets the requests in flight finish (their responses say
 * Connection: close) for up to timeout seconds (< 0: no limit), then
 * cancels the connections left and waits until they are closed.  Suspends.
 * Returns 0 when everything finished in time, -ETIMEDOUT when connections
 * had to be cancelled, -ECANCELED if the calling task was cancelled (the
 * connections are then cancelled and waited for as well). */
int cio_http_server_shutdown(cio_http_server *srv, double timeout);

/* Stops accepting, cancels the connections still open (they close on their
 * own, without being waited for: use cio_http_server_shutdown() first for
 * that) and gives back the caller's reference; the memory goes when the
 * last connection is gone.  NULL is ignored.  Never suspends. */
void cio_http_server_free(cio_http_server *srv);

/* ---- Requests ----------------------------------------------------------- */

/* The method ("GET"). Static string. */
const char *cio_http_request_method(const cio_http_request *req);
/* The request target as sent, e.g. "/a%20b?x=1". */
const char *cio_http_request_target(const cio_http_request *req);
/* The path, percent-decoded ("/a b"); for an absolute-form target
 * ("http://host/p") its path.  Requests whose path decodes to a NUL byte
 * or has a malformed escape get 400 before any handler runs. */
const char *cio_http_request_path(const cio_http_request *req);
/* The raw query string, without the '?' ("" if none). */
const char *cio_http_request_query(const cio_http_request *req);
/* The value of query parameter name, decoded (%XX and '+'), "" for a
 * parameter without '='; NULL if absent.  The first one if repeated. */
const char *cio_http_request_query_value(cio_http_request *req, const char *name);
/* The value of the route's path parameter name (decoded), or NULL. */
const char *cio_http_request_param(const cio_http_request *req, const char *name);
/* The value of the first header called name (case-insensitive), without
 * surrounding whitespace, or NULL. */
const char *cio_http_request_header(const cio_http_request *req, const char *name);
/* The header count, and the i-th header in arrival order: returns its name
 * (and its value in *value), or NULL when i is out of range. */
size_t cio_http_request_nheaders(const cio_http_request *req);
const char *cio_http_request_header_at(const cio_http_request *req, size_t i, const char **value);
/* The HTTP version: 10 or 11. */
int cio_http_request_version(const cio_http_request *req);
/* The declared body size: Content-Length, 0 without a body, -1 for a
 * chunked body. */
int64_t cio_http_request_content_length(const cio_http_request *req);
/* The connection's stream, for its extra info (cio_stream_peername, TLS
 * details).  Borrowed; reading or writing it would corrupt the exchange. */
cio_stream *cio_http_request_stream(const cio_http_request *req);

/* Reads the whole (rest of the) body, de-chunked: *data (borrowed; in the
 * connection's buffers) and *len.  The first read of a request with
 * "Expect: 100-continue" sends "100 Continue".  Suspends until the body is
 * in.  Returns 0; CIO_ELIMITOVERRUN when it exceeds max_body_size (413),
 * -ETIMEDOUT past body_timeout (408), CIO_EHTTP for a malformed chunked
 * body (400), CIO_ELIMITOVERRUN also for trailers over the head limits
 * (431): in these cases the server answers with that status
 * (unless the handler already started a response) and closes the
 * connection; CIO_EINCOMPLETE if the client closed mid-body; -ECANCELED;
 * -ENOMEM. */
int cio_http_request_body(cio_http_request *req, const char **data, size_t *len);
/* Streaming body read: up to n bytes of the body into buf.  Returns the
 * count, 0 at the end of the body, or an error as cio_http_request_body.
 * Suspends. */
ssize_t cio_http_request_read(cio_http_request *req, void *buf, size_t n);

/* ---- Responses ---------------------------------------------------------- */

/* Sets the status (200 by default; 200..599).  Returns 0, -EINVAL,
 * CIO_EINVALSTATE once the head was sent. */
int cio_http_response_status(cio_http_response *res, int status);
/* Adds a header (copied).  Names must be tokens and values free of control
 * characters (so no response splitting): -EINVAL otherwise.
 * Content-Length and Transfer-Encoding are the server's (-EINVAL);
 * "Connection: close" closes the connection after this response.  Returns
 * 0, -EINVAL, -ENOMEM, CIO_EINVALSTATE once the head was sent. */
int cio_http_response_header(cio_http_response *res, const char *name, const char *value);
/* Sends the complete response with this body (copied or written before
 * returning) and a Content-Length (Content-Type:
 * application/octet-stream unless set; no body for HEAD, 204, 304).
 * Responses are batched: the bytes leave when the connection next waits
 * for input, or at once when much is pending.  A large body (over 16 KiB)
 * is sent from data itself as the client takes it, with at most the
 * stream's high-water mark plus 64 KiB of it buffered, however slow the
 * client: the call suspends meanwhile (write_timeout per wait).  Returns 0,
 * CIO_EINVALSTATE if a response was already started, or the connection's
 * error. */
int cio_http_response_body(cio_http_response *res, const void *data, size_t len);
/* cio_http_response_status(status), Content-Type "text/plain;
 * charset=utf-8", then cio_http_response_body(text). */
int cio_http_response_text(cio_http_response *res, int status, const char *text);
/* Streams a piece of the body: the first call sends the head, with
 * Transfer-Encoding: chunked (HTTP/1.0: no length, and the connection
 * closes after the body); each call is one chunk, flushed at once.  len 0
 * does nothing.  Suspends while the client reads slower than we write
 * (write_timeout).  Returns 0, CIO_EINVALSTATE after the response was
 * completed, or the connection's error. */
int cio_http_response_write(cio_http_response *res, const void *data, size_t len);
/* Completes the response: the last chunk of a streamed one, or an empty
 * body if nothing was sent.  Done automatically when the handler returns.
 * Returns 0 or the connection's error.  Never suspends. */
int cio_http_response_end(cio_http_response *res);
/* Sends the file at path (no path checks: see cio_http_server_static for
 * untrusted paths) as the complete response, as the static routes do.
 * Returns 0; -ENOENT, -EISDIR, -EACCES... when it cannot be opened (nothing
 * sent: the handler may still answer); CIO_EINVALSTATE if a response was
 * already started; a connection error.  Suspends. */
int cio_http_response_file(cio_http_response *res, const char *path);
/* Whether the head has been sent (status and headers can no longer change). */
bool cio_http_response_started(const cio_http_response *res);

/* The reason phrase of a status code ("Not Found"; "Unknown" for codes
 * without one).  Static string. */
const char *cio_http_status_reason(int status);

/* ------------------------------------------------------------------------ */
/* Headless browser (pyppeteer): Chromium over the DevTools protocol        */
/* ------------------------------------------------------------------------ */

/* Drives Chromium through the Chrome DevTools Protocol (CDP) on a pair of
 * pipes (--remote-debugging-pipe: the browser reads NUL-terminated JSON
 * messages on its fd 3 and writes its own on fd 4).  All I/O goes through
 * the loop: one task per browser reads the browser's messages and hands
 * each response to the task waiting for it, so a waiting call suspends only
 * its own task, and several tasks may use one browser (and its pages) at
 * once.  Loop thread only.
 *
 * The browser runs in its own session and process group, with a fresh
 * temporary directory, cio-browser-XXXXXX in $TMPDIR (in /tmp when $TMPDIR
 * is longer than 38 bytes: the unix sockets Chromium makes there need
 * short paths), that holds its profile and is its TMPDIR, so nothing it
 * leaves behind outlives it; cio_browser_close() (also when the caller is
 * cancelled, and on every error path of cio_browser_launch()) ends the
 * whole group, reaps the browser and removes that directory.
 *
 * Errors: besides the usual ones (-ETIMEDOUT when a wait passes its
 * timeout, -ECANCELED, -ENOMEM), every call may return
 *   -EPIPE             the browser is gone (it exited, was killed, or closed
 *                      its pipe); every later call on it says the same
 *   CIO_EBROWSER       the browser answered with an error: a protocol error,
 *                      a navigation error other than those below, a
 *                      JavaScript exception; cio_browser_error() has its text
 *   CIO_ELIMITOVERRUN  a message over the size limit (max_message); the
 *                      browser stays usable
 * and cio_browser_error() describes the last error of any call on the
 * browser or its pages. */
enum { CIO_EBROWSER = -10070 /* the browser reported an error (see cio_browser_error) */ };

typedef struct cio_browser cio_browser;
typedef struct cio_page cio_page;

/* The default bound on one protocol message, either way (a screenshot's
 * PNG travels base64-encoded in one message: 4/3 of its size).  See
 * docs/limits.md. */
#define CIO_BROWSER_MAX_MESSAGE (64u * 1024 * 1024)

typedef struct cio_browser_opts {
    const char *executable;  /* NULL: $CIO_CHROMIUM if set, else /usr/bin/chromium */
    bool headful;            /* show a window (pyppeteer's headless=False); default: --headless */
    const char *const *args; /* extra command-line flags, after cio's own */
    size_t nargs;
    double timeout;          /* launch, and each protocol command; 0: 30 s; negative: none */
    size_t max_message;      /* largest message taken or sent, bytes; 0: CIO_BROWSER_MAX_MESSAGE */
    bool dumpio;             /* browser's stdout and stderr to ours (pyppeteer's dumpio); default: /dev/null */
} cio_browser_opts;

/* pyppeteer's launch(): starts the browser (opts may be NULL) with
 * --remote-debugging-pipe, --no-sandbox (the sandbox cannot work as root),
 * --disable-gpu, --no-first-run, no background networking, component
 * updates or sync, a fresh profile, and waits until it answers.  Suspends.
 * Returns 0 with *out set (owned by the caller: cio_browser_close), or
 * -ENOENT (no such executable), -EPIPE (it exited at once), -ETIMEDOUT,
 * -ECANCELED, -EINVAL, -ENOMEM, CIO_ENOTASK outside a task; on failure
 * nothing is left running. */
int cio_browser_launch(const cio_browser_opts *opts, cio_browser **out);

/* browser.close(): asks the browser to quit, gives it a moment (5 s),
 * then kills its process group (SIGKILL), reaps it and waits (up to 5 s,
 * looking at /proc) until no process of the group is left alive, removes
 * its temporary directory and frees b, and with it every page still open (their
 * pointers become invalid).  Pages must not be in use by other tasks.
 * Always finishes, also when the calling task is cancelled meanwhile (it
 * then returns -ECANCELED after the clean-up) or the browser is already
 * dead (returns 0).  Suspends: outside a task it returns CIO_ENOTASK and
 * does nothing.  NULL is ignored. */
int cio_browser_close(cio_browser *b);

/* The browser's process id (its process group too), the temporary
 * directory it runs in (borrowed, valid until close), and the text of the
 * last error of a call on b or its pages ("" if none; borrowed, valid
 * until the next call). */
pid_t cio_browser_pid(const cio_browser *b);
const char *cio_browser_dir(const cio_browser *b);
const char *cio_browser_error(const cio_browser *b);

/* browser.newPage(): opens a tab (about:blank) with an 800x600 viewport
 * (pyppeteer's default).  Suspends.  Returns 0 with *out set (owned by the
 * caller: cio_page_close, or freed by cio_browser_close), or an error. */
int cio_browser_new_page(cio_browser *b, cio_page **out);

/* page.setViewport(): the page's size in CSS pixels (1 device pixel each),
 * 1..16384 each way (-EINVAL otherwise).  Suspends. */
int cio_page_set_viewport(cio_page *p, int width, int height);

/* page.goto(url): navigates and waits for that navigation's load event
 * (the page and its resources loaded; an HTTP error page loads too) for up
 * to timeout seconds (CIO_NO_TIMEOUT: no limit).  Suspends.  Returns 0, or
 * -ECONNREFUSED, CIO_EDNS (host not found), -ETIMEDOUT (the server or the
 * load took too long), CIO_EBROWSER (any other navigation error, e.g.
 * "net::ERR_UNSAFE_PORT", in cio_browser_error), -EPIPE, -ECANCELED.
 * After a timeout or cancellation it stops the page loading
 * (Page.stopLoading) and waits up to 5 s more for the browser to confirm,
 * so that the stop cannot abort the page's next goto. */
int cio_page_goto(cio_page *p, const char *url, double timeout);

/* page.screenshot({'path': path}): brings the page to the front (a tab in
 * the background draws nothing to capture), captures the viewport as a PNG
 * and writes it to path (created or truncated, through the async file
 * calls).  Two tasks taking screenshots of two pages of one browser at
 * once may each find the other's page in front: take them in turn.
 * Suspends.  Returns 0, or an error (CIO_ELIMITOVERRUN when the image's
 * message is over max_message; -errno from writing the file). */
int cio_page_screenshot(cio_page *p, const char *path);

/* page.evaluate(expression): runs JavaScript in the page (a promise is
 * awaited) and returns its value as JSON text in *json (malloc'd; free it):
 * "\"Hi\"", "42", "{\"a\":[1,2]}"; "null" for undefined.  Suspends.
 * Returns 0, or CIO_EBROWSER for an exception thrown (its description in
 * cio_browser_error) or a value that is not JSON-serialisable, or an
 * error as above; *json is NULL on failure. */
int cio_page_evaluate(cio_page *p, const char *expression, char **json);

/* page.close(): closes the tab and frees p (always, also on error).
 * Suspends.  Returns 0 or the browser's error (-EPIPE if it is gone). */
int cio_page_close(cio_page *p);

/* MySQL / MariaDB client (aiomysql)                                        */
/* ------------------------------------------------------------------------ */

/* Connections, cursors and a pool, on MariaDB Connector/C's non-blocking
 * API driven by the loop: each call waits on the connection's socket for
 * what the library asks (read, write, its timeout), so a query suspends
 * only its task; no thread per query.  Loop thread only; a connection
 * belongs to the loop that opened it and serves one call at a time
 * (another task calling meanwhile gets -EBUSY).
 *
 *     aiomysql                          cio
 *     create_pool(...)                  cio_mysql_pool_create
 *     async with pool.acquire() as c    cio_mysql_pool_guard (or _acquire / _release)
 *     pool.close(); wait_closed()       cio_mysql_pool_close; cio_mysql_pool_wait_closed
 *     connect(...) / conn.close()       cio_mysql_connect / cio_mysql_close
 *     conn.cursor()                     cio_mysql_cursor_new / cio_mysql_cursor_close
 *     cur.execute(sql, args)            cio_mysql_execute
 *     cur.executemany(sql, rows)        cio_mysql_executemany
 *     fetchone / fetchmany / fetchall   cio_mysql_fetchone / _fetchmany / _fetchall
 *     rowcount, lastrowid               cio_mysql_rowcount, cio_mysql_lastrowid
 *     commit, rollback, ping            cio_mysql_commit, _rollback, _ping
 *     MySQLError.args (code, message)   cio_mysql_errno(), cio_mysql_error()
 *
 * Errors.  CIO_EMYSQL: the server (or the client library) refused: wrong
 * password, SQL syntax, duplicate key...; cio_mysql_errno() and
 * cio_mysql_error() give the code (e.g. 1045, 1064, 1062) and message.
 * -ECONNREFUSED: no server at that address or socket.  -ECONNRESET: the
 * connection was lost (server gone).  -ETIMEDOUT: connect_timeout or
 * query_timeout passed.  -ECANCELED: the task was cancelled.  After
 * -ECONNRESET, -ETIMEDOUT or -ECANCELED in the middle of a query the
 * connection's state is unknown, so it is closed at once (the server sees
 * the client go away) and marked broken: every later call on it returns
 * -ENOTCONN, and the pool never hands it out again.  -EINVAL: bad
 * arguments (placeholder count not matching the parameters, NaN...).
 *
 * Parameters are never pasted into SQL: each %s placeholder becomes a
 * literal escaped by the library for the connection's character set
 * (mysql_real_escape_string), binary data a hex literal X'...', as
 * aiomysql does; "%%" is a literal '%'.  With params NULL the SQL is sent
 * as is (no % processing), as aiomysql with args=None. */

enum { CIO_EMYSQL = -10080 }; /* the server or the client library refused: see cio_mysql_errno() */

typedef struct cio_mysql cio_mysql;               /* a connection */
typedef struct cio_mysql_cursor cio_mysql_cursor; /* a result buffer on a connection */
typedef struct cio_mysql_pool cio_mysql_pool;

typedef struct cio_mysql_opts {
    const char *host;        /* NULL: 127.0.0.1 (numeric addresses: names are resolved by the library, blocking) */
    unsigned port;           /* 0: 3306 */
    const char *unix_socket; /* instead of host/port when set */
    const char *user, *password, *db; /* db NULL: none selected */
    const char *charset;     /* NULL: utf8mb4 */
    bool autocommit;         /* set on every new connection (aiomysql's default: false) */
    double connect_timeout;  /* seconds for the whole connect; 0: 10; CIO_NO_TIMEOUT: none */
    double query_timeout;    /* seconds for each call on the connection; 0: none */
    size_t minsize, maxsize; /* pool only: connections opened at creation, and at most; 0: 1 and 10 */
} cio_mysql_opts;

/* A value: a parameter given to execute, or a field of a fetched row. */
enum { CIO_MYSQL_NULL, CIO_MYSQL_INT, CIO_MYSQL_UINT, CIO_MYSQL_DOUBLE, CIO_MYSQL_TEXT, CIO_MYSQL_BLOB };
typedef struct cio_mysql_value {
    int type;     /* CIO_MYSQL_* */
    int64_t i;    /* INT */
    uint64_t u;   /* UINT (an unsigned BIGINT above INT64_MAX in a result) */
    double d;     /* DOUBLE (a NaN or infinite parameter is -EINVAL) */
    const char *s;/* TEXT (UTF-8 with the default charset), BLOB: the bytes; in a
                   * result every non-NULL field has its text here too, NUL-terminated */
    size_t len;
} cio_mysql_value;
#define CIO_MYSQL_V_NULL ((cio_mysql_value){.type = CIO_MYSQL_NULL})
#define CIO_MYSQL_V_INT(x) ((cio_mysql_value){.type = CIO_MYSQL_INT, .i = (x)})
#define CIO_MYSQL_V_DOUBLE(x) ((cio_mysql_value){.type = CIO_MYSQL_DOUBLE, .d = (x)})
#define CIO_MYSQL_V_TEXT(str) ((cio_mysql_value){.type = CIO_MYSQL_TEXT, .s = (str), .len = __builtin_strlen(str)})
#define CIO_MYSQL_V_BLOB(p, n) ((cio_mysql_value){.type = CIO_MYSQL_BLOB, .s = (const char *)(p), .len = (n)})

/* The server's (or the library's) error code, SQLSTATE and message of the
 * last call of this thread that failed with CIO_EMYSQL (or another error:
 * then a code of 0, or the library's 2xxx code, and a description).  Valid
 * until the calling task next calls a cio_mysql function or suspends. */
unsigned cio_mysql_errno(void);
const char *cio_mysql_sqlstate(void);
const char *cio_mysql_error(void);

/* ---- Connections -------------------------------------------------------- */

/* aiomysql.connect: opens a connection on the current loop, then sets
 * autocommit as opts says.  Suspends.  Returns 0 with *out (owned by the
 * caller: cio_mysql_close), or CIO_EMYSQL (wrong password: 1045, unknown
 * database: 1049...), -ECONNREFUSED, -ETIMEDOUT, -ECANCELED, -ENOMEM. */
int cio_mysql_connect(const cio_mysql_opts *opts, cio_mysql **out);

/* Closes the connection (a polite COM_QUIT when it is healthy) and frees
 * it; its cursors must be closed first.  A connection taken from a pool
 * goes back through cio_mysql_pool_release instead.  Must not be called
 * while a task is in a call on it.  Never suspends.  NULL ignored. */
void cio_mysql_close(cio_mysql *c);

/* Whether the connection was lost, timed out or cancelled mid-call. */
bool cio_mysql_broken(const cio_mysql *c);

/* Whether a transaction is open (autocommit off and statements since the
 * last commit/rollback). */
bool cio_mysql_in_transaction(const cio_mysql *c);

/* conn.ping(), conn.commit(), conn.rollback(), conn.autocommit(on).
 * Suspend.  Return 0 or an error as above. */
int cio_mysql_ping(cio_mysql *c);
int cio_mysql_commit(cio_mysql *c);
int cio_mysql_rollback(cio_mysql *c);
int cio_mysql_autocommit(cio_mysql *c, bool on);

/* ---- Cursors ------------------------------------------------------------ */

/* conn.cursor(): a cursor on c (owned by the caller: cio_mysql_cursor_close,
 * before c is closed or released).  NULL with errno ENOMEM.  Never suspends. */
cio_mysql_cursor *cio_mysql_cursor_new(cio_mysql *c);
void cio_mysql_cursor_close(cio_mysql_cursor *cur);

/* cur.execute(sql, params): formats nparams values into the %s
 * placeholders (see above), sends the statement and reads its whole result
 * (rows are buffered in the cursor, as aiomysql's default Cursor).
 * Suspends.  Returns 0 or an error; rowcount and lastrowid are then set. */
int cio_mysql_execute(cio_mysql_cursor *cur, const char *sql, const cio_mysql_value *params, size_t nparams);

/* cur.executemany(sql, rows): rows is nrows rows of ncols values (row r's
 * value c is rows[r * ncols + c]).  An INSERT or REPLACE of the form
 * "... VALUES (%s, ...) [ON DUPLICATE ...]" is sent as multi-row INSERTs,
 * each up to 1 MB of SQL (one round trip for most batches, as aiomysql);
 * any other statement is executed once per row.  Suspends.  Returns 0 or
 * the first error (rows before it stay sent: use a transaction for all or
 * nothing); rowcount is the sum of affected rows. */
int cio_mysql_executemany(cio_mysql_cursor *cur, const char *sql, const cio_mysql_value *rows, size_t nrows,
                          size_t ncols);

/* The next row (ncols values, borrowed until the next execute or close):
 * returns 1 with *row, 0 when there is none left (or no result set).
 * Never suspends (rows are buffered). */
int cio_mysql_fetchone(cio_mysql_cursor *cur, const cio_mysql_value **row);
/* Up to n next rows (n 0: cursor.arraysize, 1): returns the count (0 at
 * the end) with *rows pointing at count * ncols values.  Borrowed likewise. */
size_t cio_mysql_fetchmany(cio_mysql_cursor *cur, size_t n, const cio_mysql_value **rows);
/* All rows left. */
size_t cio_mysql_fetchall(cio_mysql_cursor *cur, const cio_mysql_value **rows);

/* cur.rowcount: rows of the result set, or rows affected (matched for
 * UPDATE: see the server's CLIENT_FOUND_ROWS), -1 before any execute. */
int64_t cio_mysql_rowcount(const cio_mysql_cursor *cur);
/* cur.lastrowid: the AUTO_INCREMENT id of the last INSERT (of its first row
 * for a multi-row INSERT), 0 if none. */
uint64_t cio_mysql_lastrowid(const cio_mysql_cursor *cur);
/* The result set's column count and the name of column i (NULL out of range;
 * borrowed like the rows). */
size_t cio_mysql_ncols(const cio_mysql_cursor *cur);
const char *cio_mysql_colname(const cio_mysql_cursor *cur, size_t i);

/* ---- Pool --------------------------------------------------------------- */

/* aiomysql.create_pool: a pool of at most opts->maxsize connections on the
 * current loop, minsize of them opened now.  The options are copied.
 * Suspends.  Returns 0 with *out (owned by the caller: close, wait_closed,
 * then cio_mysql_pool_free), or a connect error (nothing left open). */
int cio_mysql_pool_create(const cio_mysql_opts *opts, cio_mysql_pool **out);

/* pool.acquire(): a free connection (one idle for 0.25 s or more whose
 * socket shows the server closed it is dropped first), or a new one while fewer than maxsize are
 * open; otherwise waits, FIFO behind the tasks already waiting, for up to
 * timeout seconds (CIO_NO_TIMEOUT: no limit).  Suspends.  Returns 0 with
 * *out (give it back with cio_mysql_pool_release), -ETIMEDOUT,
 * -ECANCELED, CIO_EINVALSTATE once the pool is closing, or a connect error
 * (the slot is given back to the next waiter). */
int cio_mysql_pool_acquire(cio_mysql_pool *p, double timeout, cio_mysql **out);

/* pool.release(conn): back to the free connections, unless it is broken,
 * still in a transaction (it is rolled back by closing it, as aiomysql
 * warns and closes), or the pool is closing: then it is closed.  Wakes the
 * first waiter.  Returns 0, -EINVAL if c is not one of p's connections
 * in use, -EBUSY if another task is in a call on it.  Never suspends. */
int cio_mysql_pool_release(cio_mysql_pool *p, cio_mysql *c);

/* `async with pool.acquire() as conn`: cio_mysql_pool_acquire, then arms g
 * (a CIO_GUARD) to release the connection when it goes out of scope.
 * Suspends. */
int cio_mysql_pool_guard(cio_mysql_pool *p, double timeout, cio_mysql **out, cio_guard *g);

/* pool.close(): no more acquires (waiters get CIO_EINVALSTATE), free
 * connections closed now, the ones in use when released.  Never suspends. */
void cio_mysql_pool_close(cio_mysql_pool *p);
/* pool.wait_closed(): suspends until every connection in use was released
 * after close.  Returns 0, -ECANCELED, CIO_EINVALSTATE if not closed. */
int cio_mysql_pool_wait_closed(cio_mysql_pool *p);
/* Closes the pool (if not yet) and frees it.  Must not be called while
 * connections are in use or tasks wait in acquire.  NULL ignored. */
void cio_mysql_pool_free(cio_mysql_pool *p);

/* pool.size (connections open), pool.freesize, and the tasks waiting. */
size_t cio_mysql_pool_size(const cio_mysql_pool *p);
size_t cio_mysql_pool_freesize(const cio_mysql_pool *p);
size_t cio_mysql_pool_waiters(const cio_mysql_pool *p);

#ifdef __cplusplus
}
#endif

#ifdef CIO__VISIBILITY_PUSHED
#pragma GCC visibility pop
#undef CIO__VISIBILITY_PUSHED
#endif
#endif /* CIO_H */
