/* SPDX-License-Identifier: MIT */
/* CPython Lib/test/test_asyncio/test_runners.py, ported (see conformance.h).
 *
 * asyncio.run(main()) is cio_run(main, arg, &result); an exception out of
 * main is its error code (cio_fail), KeyboardInterrupt is -EINTR.  The
 * interrupt tests of asyncio.Runner are about the same Ctrl-C handling and
 * run on cio_run.  _thread.interrupt_main() is raise(SIGINT). */
#define CONF_FILE "test_runners"
#include "conformance.h"

#include <signal.h>

/* SIGINT at its default disposition, which cio_run only takes over; gives
 * the previous one back with sigint_restore. */
static struct sigaction sigint_prev;
static void sigint_default(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGINT, &sa, &sigint_prev);
}
static void sigint_restore(void) { sigaction(SIGINT, &sigint_prev, NULL); }

static void interrupt_self(void *arg)
{
    (void)arg;
    raise(SIGINT);
}

/* ---- RunTests ------------------------------------------------------------------ */

static void *main_return(void *arg)
{
    (void)arg;
    CHECK_EQ(cio_sleep(0), 0);
    return (void *)42;
}

CONF_PLAIN(test_asyncio_run_return)
{
    void *res = NULL;
    CHECK_EQ(cio_run(main_return, NULL, &res), 0);
    CHECK_EQ((intptr_t)res, 42);
}

static void *main_raises(void *arg)
{
    (void)arg;
    CHECK_EQ(cio_sleep(0), 0);
    return cio_fail(-EDOM, "spam"); /* ValueError('spam') */
}

/* cio_run returns the error code; the message stays with the task, which
 * cio_run does not hand out */
CONF_PLAIN(test_asyncio_run_raises)
{
    void *res = (void *)1;
    CHECK_EQ(cio_run(main_raises, NULL, &res), -EDOM);
    CHECK(res == NULL);
}

/* ValueError 'a coroutine was expected': no function to run */
CONF_PLAIN(test_asyncio_run_only_coro)
{
    CHECK_EQ(cio_run(NULL, NULL, NULL), -EINVAL);
    CHECK(cio_loop_current() == NULL);
}

static void *main_debug(void *arg)
{
    CHECK_EQ(cio_loop_get_debug(cio_loop_current()), *(bool *)arg);
    return NULL;
}

/* debug=True / False and the default from the environment (asyncio's
 * PYTHONASYNCIODEBUG / dev mode): cio_run has no debug argument, its loop
 * takes CIO_DEBUG */
CONF_PLAIN(test_asyncio_run_debug)
{
    const char *saved = getenv("CIO_DEBUG");
    char *keep = saved ? strdup(saved) : NULL;
    bool f = false, t = true;
    unsetenv("CIO_DEBUG");
    CHECK_EQ(cio_run(main_debug, &f, NULL), 0);
    setenv("CIO_DEBUG", "1", 1);
    CHECK_EQ(cio_run(main_debug, &t, NULL), 0);
    setenv("CIO_DEBUG", "0", 1);
    CHECK_EQ(cio_run(main_debug, &f, NULL), 0);
    if (keep) {
        setenv("CIO_DEBUG", keep, 1);
        free(keep);
    } else {
        unsetenv("CIO_DEBUG");
    }
}

static void *main_nested(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)cio_run(main_return, NULL, NULL);
}

/* RuntimeError 'cannot be called from a running event loop' */
CONF_PLAIN(test_asyncio_run_from_running_loop)
{
    void *res = NULL;
    CHECK_EQ(cio_run(main_nested, NULL, &res), 0);
    CHECK_EQ((intptr_t)res, CIO_ERUNNING);
}

static cio_task *lo_task;

static void *leftover(void *arg)
{
    (void)arg;
    cio_sleep(0.1);
    return NULL;
}

static void *main_hanging(void *arg)
{
    (void)arg;
    lo_task = cio_spawn(leftover, NULL);
    return (void *)123;
}

CONF_PLAIN(test_asyncio_run_cancels_hanging_tasks)
{
    void *res = NULL;
    CHECK_EQ(cio_run(main_hanging, NULL, &res), 0);
    CHECK_EQ((intptr_t)res, 123);
    CHECK(cio_done(lo_task));
    CHECK(cio_cancelled(lo_task));
    cio_release(lo_task);
}

/* call_exception_handler, mocked */
typedef struct handler_calls {
    int n, destroyed_pending;
    char message[96];
    cio_future *task;
    int error;
} handler_calls;
static handler_calls hc;

static void record_handler(cio_loop *loop, const cio_exception_context *ctx, void *arg)
{
    (void)loop, (void)arg;
    hc.n++;
    if (strstr(ctx->message, "destroyed but it is pending"))
        hc.destroyed_pending++;
    snprintf(hc.message, sizeof hc.message, "%s", ctx->message);
    hc.task = ctx->future;
    hc.error = ctx->error;
}

static void *leftover_divides(void *arg)
{
    (void)arg;
    if (cio_sleep(0.1) == -ECANCELED)
        return cio_fail(-EDOM, "division by zero"); /* 1 / 0 */
    return NULL;
}

static void *main_hanging_errors(void *arg)
{
    (void)arg;
    cio_loop_set_exception_handler(cio_loop_current(), record_handler, NULL);
    lo_task = cio_spawn(leftover_divides, NULL);
    return (void *)123;
}

CONF_PLAIN(test_asyncio_run_reports_hanging_tasks_errors)
{
    memset(&hc, 0, sizeof hc);
    void *res = NULL;
    CHECK_EQ(cio_run(main_hanging_errors, NULL, &res), 0);
    CHECK_EQ((intptr_t)res, 123);
    CHECK(cio_done(lo_task));
    /* assert_called_with({'message': r'asyncio.run.*shutdown', 'task':
     * lo_task, 'exception': ZeroDivisionError}) */
    CHECK(hc.n >= 1);
    CHECK(strstr(hc.message, "cio_run") && strstr(hc.message, "shutdown"));
    CHECK(hc.task == lo_task);
    CHECK_EQ(hc.error, -EDOM);
    cio_release(lo_task);
}

/* async def fidget(): while True: yield 1; await asyncio.sleep(1) */
static bool fidget_started, fidget_returned;

static void *fidget(cio_gen *g, void *arg)
{
    (void)arg;
    fidget_started = true;
    for (;;) {
        if (cio_gen_yield(g, (void *)1) != 0 || cio_sleep(1) != 0)
            break;
    }
    fidget_returned = true;
    return NULL;
}

static void *spin(void *arg)
{
    (void)arg;
    cio_gen *spinner = cio_gen_new(fidget, NULL, NULL);
    void *v;
    int rc;
    while ((rc = cio_gen_next(spinner, &v)) == 0) {
    }
    cio_gen_free(spinner);
    if (rc == -ECANCELED)
        return cio_fail(-EDOM, "division by zero");
    return NULL;
}

static void *main_fancy_exit(void *arg)
{
    (void)arg;
    cio_loop_set_exception_handler(cio_loop_current(), record_handler, NULL);
    lo_task = cio_spawn(spin, NULL); /* lazyboy */
    return cio_fail(-ENOTRECOVERABLE, "FancyExit");
}

CONF_PLAIN(test_asyncio_run_closes_gens_after_hanging_tasks_errors)
{
    memset(&hc, 0, sizeof hc);
    fidget_started = fidget_returned = false;
    CHECK_EQ(cio_run(main_fancy_exit, NULL, NULL), -ENOTRECOVERABLE);
    CHECK(cio_done(lo_task));
    /* the generator's frame is gone and it does not run: its producer task
     * returned if it ever started, and nothing was left pending when the
     * loop closed */
    CHECK(!fidget_started || fidget_returned);
    CHECK_EQ(hc.destroyed_pending, 0);
    cio_release(lo_task);
}

static cio_loop *seen_loop;

static void *main_current(void *arg)
{
    (void)arg;
    seen_loop = cio_loop_current();
    CHECK(seen_loop != NULL && cio_loop_is_running(seen_loop));
    CHECK_EQ(cio_sleep(0), 0);
    return (void *)42;
}

/* the policy's set_event_loop is called: the loop is made current for the
 * run, and the previous one is current again afterwards */
CONF_PLAIN(test_asyncio_run_set_event_loop)
{
    cio_loop *prev = cio_loop_new();
    cio_loop_set_current(prev);
    void *res = NULL;
    CHECK_EQ(cio_run(main_current, NULL, &res), 0);
    CHECK_EQ((intptr_t)res, 42);
    CHECK(seen_loop != NULL && seen_loop != prev);
    CHECK(cio_loop_current() == prev);
    cio_loop_set_current(NULL);
    CHECK_EQ(cio_loop_close(prev), 0);
}

/* ---- RunnerTests: Ctrl-C ---------------------------------------------------------- */

static void *coro_yielding(void *arg)
{
    (void)arg;
    cio_call_later(cio_loop_current(), 0.1, interrupt_self, NULL, NULL);
    int rc;
    while ((rc = cio_sleep(0)) == 0) {
    }
    CHECK_EQ(rc, -ECANCELED); /* assertRaises(CancelledError) */
    return cio_fail(-ECANCELED, NULL);
}

/* the only case when the task is not suspended on a future: KeyboardInterrupt */
CONF_PLAIN(test_interrupt_call_soon)
{
    sigint_default();
    CHECK_EQ(cio_run(coro_yielding, NULL, NULL), -EINTR);
    sigint_restore();
}

static cio_future *waited;

static void *coro_waiting(void *arg)
{
    (void)arg;
    waited = cio_future_new(NULL);
    cio_call_later(cio_loop_current(), 0.1, interrupt_self, NULL, NULL);
    CHECK_EQ(cio_await(waited, NULL), -ECANCELED);
    return cio_fail(-ECANCELED, NULL);
}

/* interrupting when waiting a future cancels both the future and main */
CONF_PLAIN(test_interrupt_wait)
{
    sigint_default();
    CHECK_EQ(cio_run(coro_waiting, NULL, NULL), -EINTR);
    sigint_restore();
    CHECK(cio_cancelled(waited));
    cio_release(waited);
}

static void *subtask(void *arg)
{
    CHECK_EQ(cio_sleep(0), 0);
    cio_cancel(arg, NULL);
    raise(SIGINT);
    return NULL;
}

static void *coro_cancelled(void *arg)
{
    (void)arg;
    cio_task *t = cio_spawn(subtask, cio_current_task());
    cio_release(t);
    cio_sleep(10);
    return NULL;
}

/* interrupting a main task that was cancelled anyway: CancelledError, not
 * KeyboardInterrupt */
CONF_PLAIN(test_interrupt_cancelled_task)
{
    sigint_default();
    CHECK_EQ(cio_run(coro_cancelled, NULL, NULL), -ECANCELED);
    sigint_restore();
}

static void *coro_nothing(void *arg)
{
    (void)arg;
    return (void *)7;
}

/* signal.signal() failing is fine: cio_run does not take SIGINT over when
 * its disposition is not the default one (here: ignored), and runs */
CONF_PLAIN(test_signal_install_not_supported_ok)
{
    struct sigaction ign, prev;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGINT, &ign, &prev);
    void *res = NULL;
    CHECK_EQ(cio_run(coro_nothing, NULL, &res), 0);
    CHECK_EQ((intptr_t)res, 7);
    struct sigaction now;
    sigaction(SIGINT, NULL, &now);
    CHECK(now.sa_handler == SIG_IGN); /* left alone */
    sigaction(SIGINT, &prev, NULL);
}

CONF_MAIN()
