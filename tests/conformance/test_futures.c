/* SPDX-License-Identifier: MIT */
/* CPython Lib/test/test_asyncio/test_futures.py, ported (see conformance.h).
 *
 * Future(loop=...) is cio_future_new(loop); set_result / set_exception /
 * cancel / result / exception / add_done_callback / remove_done_callback
 * are their cio_ counterparts (done callbacks take (fn, arg): a "callback"
 * of CPython's tests is a (fn, arg) pair here).  asyncio.wrap_future of a
 * concurrent future from executor.submit is cio_run_in_executor, which
 * returns the loop's future of the job directly.  The logger asyncio's
 * default exception handler writes to is the loop's exception handler. */
#define CONF_FILE "test_futures"
#include "conformance.h"

#include <pthread.h>
#include <unistd.h>

/* ---- helpers ----------------------------------------------------------------- */

/* bag_appender: appends its thing to the bag (check.h's order recorder) */
static void bag_cb(cio_future *f, void *thing)
{
    (void)f;
    order_push((int)(intptr_t)thing);
}

/* test_utils.run_briefly: one loop iteration for what is scheduled */
static void run_briefly(void) { CHECK_EQ(cio_yield(), 0); }

/* the loop's exception handler, standing in for asyncio's logger.error */
typedef struct logged {
    int calls;
    char message[64];
    int error;
} logged;

static void log_handler(cio_loop *loop, const cio_exception_context *ctx, void *arg)
{
    (void)loop;
    logged *lg = arg;
    lg->calls++;
    snprintf(lg->message, sizeof lg->message, "%s", ctx->message);
    lg->error = ctx->error;
}

static logged *mock_logger(void)
{
    static logged lg;
    memset(&lg, 0, sizeof lg);
    cio_loop_set_exception_handler(cio_loop_current(), log_handler, &lg);
    return &lg;
}

/* ---- BaseFutureTests ------------------------------------------------------------ */

CONF_TASK(test_initial_state)
{
    cio_future *f = cio_future_new(NULL);
    CHECK(!cio_cancelled(f));
    CHECK(!cio_done(f));
    cio_cancel(f, NULL);
    CHECK(cio_cancelled(f));
    cio_release(f);
    return NULL;
}

/* RuntimeError 'no current event loop': NULL with errno -CIO_ENOLOOP */
CONF_PLAIN(test_constructor_without_loop)
{
    CHECK(cio_loop_current() == NULL);
    errno = 0;
    CHECK(cio_future_new(NULL) == NULL);
    CHECK_EQ(errno, -CIO_ENOLOOP);
}

static void *new_future_task(void *arg)
{
    (void)arg;
    return cio_future_new(NULL);
}

CONF_PLAIN(test_constructor_use_running_loop)
{
    cio_loop *l = cio_loop_new();
    cio_task *t = cio_spawn_ex(l, new_future_task, NULL, NULL);
    void *f = NULL;
    CHECK_EQ(cio_loop_run_until_complete(l, t, &f), 0);
    CHECK(f != NULL);
    CHECK(cio_future_loop(f) == l);
    cio_release(f);
    cio_release(t);
    CHECK_EQ(cio_loop_close(l), 0);
}

CONF_PLAIN(test_constructor_use_global_loop)
{
    cio_loop *l = cio_loop_new();
    CHECK_EQ(cio_loop_set_current(l), 0);
    cio_future *f = cio_future_new(NULL);
    CHECK(f != NULL);
    CHECK(cio_future_loop(f) == l);
    cio_release(f);
    cio_loop_set_current(NULL);
    CHECK_EQ(cio_loop_close(l), 0);
}

CONF_PLAIN(test_future_cancel_message_getter)
{
    cio_loop *l = cio_loop_new();
    cio_future *f = cio_future_new(l);
    CHECK(cio_error_message(f) == NULL);
    cio_cancel(f, "my message");
    CHECK_EQ(cio_loop_run_until_complete(l, f, NULL), -ECANCELED);
    CHECK(cio_error_message(f) && strcmp(cio_error_message(f), "my message") == 0);
    cio_release(f);
    CHECK_EQ(cio_loop_close(l), 0);
}

CONF_TASK(test_cancel)
{
    cio_future *f = cio_future_new(NULL);
    CHECK(cio_cancel(f, NULL));
    CHECK(cio_cancelled(f));
    CHECK(cio_done(f));
    CHECK_EQ(cio_result(f, NULL), -ECANCELED);
    CHECK_EQ(cio_exception(f), -ECANCELED);
    CHECK_EQ(cio_future_set_result(f, NULL), CIO_EINVALSTATE);
    CHECK_EQ(cio_future_set_error(f, -EIO, NULL), CIO_EINVALSTATE);
    CHECK(!cio_cancel(f, NULL));
    cio_release(f);
    return NULL;
}

CONF_TASK(test_result)
{
    cio_future *f = cio_future_new(NULL);
    CHECK_EQ(cio_result(f, NULL), CIO_EINVALSTATE);
    CHECK_EQ(cio_future_set_result(f, (void *)42), 0);
    CHECK(!cio_cancelled(f));
    CHECK(cio_done(f));
    void *v = NULL;
    CHECK_EQ(cio_result(f, &v), 0);
    CHECK_EQ((intptr_t)v, 42);
    CHECK_EQ(cio_exception(f), 0); /* exception() is None */
    CHECK_EQ(cio_future_set_result(f, NULL), CIO_EINVALSTATE);
    CHECK_EQ(cio_future_set_error(f, -EIO, NULL), CIO_EINVALSTATE);
    CHECK(!cio_cancel(f, NULL));
    cio_release(f);
    return NULL;
}

/* StopIteration cannot be raised into a future: in C the codes that cannot
 * be an error are refused with -EINVAL (a non-negative one, and
 * -ECANCELED, which only cancel() sets); the future stays pending. */
CONF_TASK(test_exception)
{
    cio_future *f = cio_future_new(NULL);
    CHECK_EQ(cio_exception(f), CIO_EINVALSTATE);
    CHECK_EQ(cio_future_set_error(f, 0, NULL), -EINVAL);
    CHECK_EQ(cio_future_set_error(f, -ECANCELED, NULL), -EINVAL);
    CHECK(!cio_done(f));
    CHECK_EQ(cio_future_set_error(f, -EIO, "runtime"), 0);
    CHECK(!cio_cancelled(f));
    CHECK(cio_done(f));
    CHECK_EQ(cio_result(f, NULL), -EIO);
    CHECK_EQ(cio_exception(f), -EIO);
    CHECK(strcmp(cio_error_message(f), "runtime") == 0);
    CHECK_EQ(cio_future_set_result(f, NULL), CIO_EINVALSTATE);
    CHECK_EQ(cio_future_set_error(f, -EIO, NULL), CIO_EINVALSTATE);
    CHECK(!cio_cancel(f, NULL));
    cio_release(f);
    return NULL;
}

/* ---- the traceback logger: "exception was never retrieved" --------------------- */

CONF_TASK(test_tb_logger_abandoned)
{
    logged *lg = mock_logger();
    cio_release(cio_future_new(NULL));
    CHECK_EQ(lg->calls, 0);
    return NULL;
}

CONF_TASK(test_tb_logger_not_called_after_cancel)
{
    logged *lg = mock_logger();
    cio_future *f = cio_future_new(NULL);
    cio_future_set_error(f, -EIO, NULL);
    cio_cancel(f, NULL);
    cio_release(f);
    CHECK_EQ(lg->calls, 0);
    return NULL;
}

CONF_TASK(test_tb_logger_result_unretrieved)
{
    logged *lg = mock_logger();
    cio_future *f = cio_future_new(NULL);
    cio_future_set_result(f, (void *)42);
    cio_release(f);
    CHECK_EQ(lg->calls, 0);
    return NULL;
}

CONF_TASK(test_tb_logger_result_retrieved)
{
    logged *lg = mock_logger();
    cio_future *f = cio_future_new(NULL);
    cio_future_set_result(f, (void *)42);
    cio_result(f, NULL);
    cio_release(f);
    CHECK_EQ(lg->calls, 0);
    return NULL;
}

CONF_TASK(test_tb_logger_exception_unretrieved)
{
    logged *lg = mock_logger();
    cio_future *f = cio_future_new(NULL);
    cio_future_set_error(f, -EIO, "boom");
    cio_release(f);
    run_briefly();
    CHECK(lg->calls > 0);
    return NULL;
}

CONF_TASK(test_tb_logger_exception_retrieved)
{
    logged *lg = mock_logger();
    cio_future *f = cio_future_new(NULL);
    cio_future_set_error(f, -EIO, "boom");
    cio_exception(f);
    cio_release(f);
    CHECK_EQ(lg->calls, 0);
    return NULL;
}

CONF_TASK(test_tb_logger_exception_result_retrieved)
{
    logged *lg = mock_logger();
    cio_future *f = cio_future_new(NULL);
    cio_future_set_error(f, -EIO, "boom");
    CHECK_EQ(cio_result(f, NULL), -EIO);
    cio_release(f);
    CHECK_EQ(lg->calls, 0);
    return NULL;
}

static void check_future_exception_never_retrieved(bool debug)
{
    cio_loop_set_debug(cio_loop_current(), debug);
    logged *lg = mock_logger();
    cio_future *f = cio_future_new(NULL);
    cio_future_set_error(f, -ENOMEM, NULL);
    cio_release(f);
    run_briefly();
    CHECK_EQ(lg->calls, 1); /* assert_called_once_with(..., exc_info=the error) */
    CHECK_EQ(lg->error, -ENOMEM);
    CHECK(strncmp(lg->message, "Future exception was never retrieved", 36) == 0);
    cio_loop_set_debug(cio_loop_current(), false);
}

CONF_TASK(test_future_exception_never_retrieved)
{
    check_future_exception_never_retrieved(false);
    return NULL;
}

CONF_TASK(test_future_exception_never_retrieved_debug)
{
    check_future_exception_never_retrieved(true);
    return NULL;
}

/* ---- wrap_future (executor jobs) -------------------------------------------------- */

/* threading.get_ident(): the address of a thread-local variable */
static _Thread_local int thread_mark;

static void *run_job(void *arg)
{
    *(void **)arg = &thread_mark; /* (arg, threading.get_ident()) */
    return arg;
}

CONF_PLAIN(BaseFutureTests__test_wrap_future)
{
    cio_loop *l = cio_loop_new();
    cio_loop_set_current(l);
    cio_executor *ex = cio_executor_new(1);
    void *ident = NULL;
    cio_future *f2 = cio_run_in_executor(ex, run_job, &ident);
    CHECK(f2 != NULL);
    CHECK(cio_future_loop(f2) == l);
    void *res = NULL;
    CHECK_EQ(cio_loop_run_until_complete(l, f2, &res), 0);
    CHECK(res == &ident);               /* the result, 'oi' */
    CHECK(ident != NULL && ident != &thread_mark); /* another thread */
    cio_release(f2);
    cio_executor_free(ex);
    cio_loop_set_current(NULL);
    CHECK_EQ(cio_loop_close(l), 0);
}

/* RuntimeError 'no current event loop': NULL with errno ENOENT */
CONF_PLAIN(test_wrap_future_without_loop)
{
    cio_executor *ex = cio_executor_new(1);
    void *ident = NULL;
    errno = 0;
    CHECK(cio_run_in_executor(ex, run_job, &ident) == NULL);
    CHECK_EQ(errno, -CIO_ENOLOOP);
    cio_executor_free(ex);
}

static void *wrap_ident;

static void *wrap_in_task(void *arg)
{
    return cio_run_in_executor(arg, run_job, &wrap_ident);
}

CONF_PLAIN(test_wrap_future_use_running_loop)
{
    cio_loop *l = cio_loop_new();
    cio_executor *ex = cio_executor_new(1);
    cio_task *t = cio_spawn_ex(l, wrap_in_task, ex, NULL);
    void *f2 = NULL;
    CHECK_EQ(cio_loop_run_until_complete(l, t, &f2), 0);
    CHECK(f2 != NULL && cio_future_loop(f2) == l);
    if (f2) {
        cio_cancel(f2, NULL);
        cio_release(f2);
    }
    cio_release(t);
    cio_executor_free(ex);
    CHECK_EQ(cio_loop_close(l), 0);
}

CONF_PLAIN(test_wrap_future_use_global_loop)
{
    cio_loop *l = cio_loop_new();
    cio_loop_set_current(l);
    cio_executor *ex = cio_executor_new(1);
    void *ident = NULL;
    cio_future *f2 = cio_run_in_executor(ex, run_job, &ident);
    CHECK(f2 != NULL && cio_future_loop(f2) == l);
    CHECK_EQ(cio_loop_run_until_complete(l, f2, NULL), 0);
    cio_release(f2);
    cio_executor_free(ex);
    cio_loop_set_current(NULL);
    CHECK_EQ(cio_loop_close(l), 0);
}

/* A job that blocks its worker until released, so that the next job queued
 * behind it has not started. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open, started, ran;
} gate;

static void *gate_job(void *arg)
{
    gate *g = arg;
    pthread_mutex_lock(&g->mu);
    g->started = true;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

static void *mark_job(void *arg)
{
    ((gate *)arg)->ran = true;
    return (void *)42;
}

static void gate_wait_started(gate *g)
{
    pthread_mutex_lock(&g->mu);
    while (!g->started)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_open(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* cancelling the loop's future cancels the job (f1.cancelled()): a job
 * not yet started never runs */
CONF_TASK(test_wrap_future_cancel)
{
    cio_executor *ex = cio_executor_new(1);
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, false};
    cio_future *busy = cio_run_in_executor(ex, gate_job, &g);
    gate_wait_started(&g);
    cio_future *f2 = cio_run_in_executor(ex, mark_job, &g);
    cio_cancel(f2, NULL);
    run_briefly();
    CHECK(cio_cancelled(f2));
    gate_open(&g);
    CHECK_EQ(cio_await(busy, NULL), 0);
    cio_executor_shutdown(ex, true, false);
    CHECK(!g.ran); /* f1 cancelled: it never ran */
    cio_release(busy);
    cio_release(f2);
    cio_executor_free(ex);
    return NULL;
}

/* the job finished (f1 has its result) before the loop's future was
 * cancelled: the job keeps its result, the future is cancelled */
CONF_TASK(test_wrap_future_cancel2)
{
    cio_executor *ex = cio_executor_new(1);
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, false};
    cio_future *f2 = cio_run_in_executor(ex, mark_job, &g);
    cio_executor_shutdown(ex, true, false); /* the job has run to its end */
    CHECK(g.ran);
    CHECK(cio_cancel(f2, NULL));
    run_briefly();
    CHECK(cio_cancelled(f2));
    cio_release(f2);
    cio_executor_free(ex);
    return NULL;
}

/* ---- BaseFutureDoneCallbackTests ---------------------------------------------- */

/* a future with the callbacks cb1, cb2, cb3 appending 42, 17, 100 */
static cio_future *three_callbacks(void)
{
    order_reset();
    cio_future *f = cio_future_new(NULL);
    cio_add_done_callback(f, bag_cb, (void *)42);
    cio_add_done_callback(f, bag_cb, (void *)17);
    cio_add_done_callback(f, bag_cb, (void *)100);
    return f;
}

/* bag still empty; f.set_result('foo'); run_briefly() */
static void set_foo(cio_future *f)
{
    CHECK_EQ(norder, 0);
    cio_future_set_result(f, (void *)"foo");
    run_briefly();
}

/* f.result() == 'foo'; then f is released */
static void check_foo(cio_future *f)
{
    void *v = NULL;
    CHECK_EQ(cio_result(f, &v), 0);
    CHECK(v && strcmp(v, "foo") == 0);
    cio_release(f);
}

CONF_TASK(test_callbacks_remove_first_callback)
{
    cio_future *f = three_callbacks();
    cio_remove_done_callback(f, bag_cb, (void *)42);
    cio_remove_done_callback(f, bag_cb, (void *)42);
    set_foo(f);
    CHECK_ORDER(17, 100);
    check_foo(f);
    return NULL;
}

CONF_TASK(test_callbacks_remove_first_and_second_callback)
{
    cio_future *f = three_callbacks();
    cio_remove_done_callback(f, bag_cb, (void *)42);
    cio_remove_done_callback(f, bag_cb, (void *)17);
    cio_remove_done_callback(f, bag_cb, (void *)42);
    set_foo(f);
    CHECK_ORDER(100);
    check_foo(f);
    return NULL;
}

CONF_TASK(test_callbacks_remove_third_callback)
{
    cio_future *f = three_callbacks();
    cio_remove_done_callback(f, bag_cb, (void *)100);
    cio_remove_done_callback(f, bag_cb, (void *)100);
    set_foo(f);
    CHECK_ORDER(42, 17);
    check_foo(f);
    return NULL;
}

CONF_TASK(test_callbacks_invoked_on_set_result)
{
    order_reset();
    cio_future *f = cio_future_new(NULL);
    cio_add_done_callback(f, bag_cb, (void *)42);
    cio_add_done_callback(f, bag_cb, (void *)17);
    CHECK_EQ(norder, 0);
    cio_future_set_result(f, (void *)"foo");
    CHECK_EQ(norder, 0); /* scheduled, not called, by set_result */
    run_briefly();
    CHECK_ORDER(42, 17);
    check_foo(f);
    return NULL;
}

CONF_TASK(test_callbacks_invoked_on_set_exception)
{
    order_reset();
    cio_future *f = cio_future_new(NULL);
    cio_add_done_callback(f, bag_cb, (void *)100);
    CHECK_EQ(norder, 0);
    cio_future_set_error(f, -EIO, NULL);
    run_briefly();
    CHECK_ORDER(100);
    CHECK_EQ(cio_exception(f), -EIO);
    cio_release(f);
    return NULL;
}

CONF_TASK(test_remove_done_callback)
{
    order_reset();
    cio_future *f = cio_future_new(NULL);
    /* one cb1 and one cb2 */
    cio_add_done_callback(f, bag_cb, (void *)1);
    cio_add_done_callback(f, bag_cb, (void *)2);
    CHECK_EQ(cio_remove_done_callback(f, bag_cb, (void *)2), 1);
    CHECK_EQ(cio_remove_done_callback(f, bag_cb, (void *)3), 0); /* never had a cb3 */
    /* six cb1 and one cb2 */
    cio_add_done_callback(f, bag_cb, (void *)2);
    for (int i = 0; i < 5; i++)
        cio_add_done_callback(f, bag_cb, (void *)1);
    CHECK_EQ(cio_remove_done_callback(f, bag_cb, (void *)1), 6);
    set_foo(f);
    CHECK_ORDER(2);
    check_foo(f);
    return NULL;
}

/* mut(f): f.remove_done_callback(str) while the callbacks run: they were
 * all scheduled when the future completed, so nothing is removed any more
 * and the two others still run */
static void str_cb(cio_future *f, void *arg)
{
    (void)f, (void)arg;
    order_push(2);
}

static void mut_cb(cio_future *f, void *arg)
{
    (void)arg;
    order_push(1);
    CHECK_EQ(cio_remove_done_callback(f, str_cb, NULL), 0);
}

CONF_TASK(test_schedule_callbacks_list_mutation_1)
{
    order_reset();
    cio_future *f = cio_future_new(NULL);
    cio_add_done_callback(f, mut_cb, NULL);
    cio_add_done_callback(f, str_cb, NULL);
    cio_add_done_callback(f, str_cb, NULL);
    cio_future_set_result(f, (void *)1);
    run_briefly();
    CHECK_ORDER(1, 2, 2);
    cio_release(f);
    return NULL;
}

CONF_MAIN()
