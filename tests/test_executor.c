/* SPDX-License-Identifier: MIT */
/* Thread pool executors: to_thread, run_in_executor, executor shutdown, the
 * default executor, run_coroutine_threadsafe, and a stress run with
 * cancellations in flight (meant to be run under TSan too).
 *
 * Exit 0 = pass. */
/* CIO_TEST: RUN_SERIAL TIMEOUT=300 */
#include "check.h"

#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void msleep(int ms) { usleep((useconds_t)ms * 1000); }

/* Plain (non-task) futures still alive on the current loop: executor jobs
 * whose completion has not come back yet. */
static size_t live_futures(void)
{
    cio_loop *l = cio_loop_current();
    size_t n = 0;
    for (cio__link *it = l->all.next; it != &l->all; it = it->next)
        if (!CIO__CONTAINER_OF(it, cio_future, all)->is_task)
            n++;
    return n;
}

/* Waits (in a task) until every job's completion came back to the loop, so
 * that no worker still holds a reference when the test ends. */
static void drain_jobs(void)
{
    double end = now() + 10;
    while (live_futures() > 0 && now() < end)
        cio_sleep(0.002);
    CHECK_EQ(live_futures(), 0);
}

/* Waits (in a task) until *flag becomes at least v. */
static bool wait_flag(atomic_int *flag, int v, double timeout)
{
    double end = now() + timeout;
    while (atomic_load(flag) < v) {
        if (now() > end)
            return false;
        cio_sleep(0.001);
    }
    return true;
}

/* Blocks a worker thread until *flag becomes at least v (or 10 s pass). */
static bool spin_flag(atomic_int *flag, int v)
{
    double end = now() + 10;
    while (atomic_load(flag) < v) {
        if (now() > end)
            return false;
        usleep(200);
    }
    return true;
}

/* ---- to_thread ---------------------------------------------------------- */

static pthread_t loop_thread;
static atomic_int other_thread;

static atomic_int ticks;

/* Blocks its thread until the loop has run another task a few times: that
 * can only happen if to_thread suspended just the calling task. */
static void *answer_job(void *arg)
{
    CHECK(spin_flag(&ticks, 5));
    msleep(20);
    atomic_store(&other_thread, !pthread_equal(pthread_self(), loop_thread));
    CHECK(cio_current_task() == NULL);
    CHECK(!cio_job_cancelled());
    return (void *)((intptr_t)arg * 2);
}

static void *ticker(void *arg)
{
    atomic_int *stop = arg;
    while (!atomic_load(stop)) {
        if (cio_sleep(0.002) < 0)
            break;
        atomic_fetch_add(&ticks, 1);
    }
    return NULL;
}

static void *t_to_thread(void *arg)
{
    (void)arg;
    loop_thread = pthread_self();
    atomic_int stop = 0;
    atomic_store(&ticks, 0);
    cio_task *tk = cio_spawn(ticker, &stop);
    CHECK(tk != NULL);
    void *res = NULL;
    double t0 = now();
    int rc = cio_to_thread(answer_job, (void *)21, &res);
    double dt = now() - t0;
    CHECK_EQ(rc, 0);
    CHECK_EQ((intptr_t)res, 42);
    CHECK(atomic_load(&other_thread));
    CHECK(dt >= 0.02);
    /* the loop kept running other tasks while the job blocked its thread */
    CHECK(atomic_load(&ticks) >= 5);
    atomic_store(&stop, 1);
    CHECK_EQ(cio_await(tk, NULL), 0);
    cio_release(tk);
    CHECK(!cio_job_cancelled()); /* not a job */
    return NULL;
}

/* Three blocking jobs at once run on three threads: each waits until all
 * three have started (which proves it without a clock), then sleeps, so
 * that together they take at least one job's time. */
static void *sleep_job(void *arg)
{
    msleep((int)(intptr_t)arg);
    return arg;
}

static atomic_int rendezvous;
static void *rendezvous_job(void *arg)
{
    (void)arg;
    atomic_fetch_add(&rendezvous, 1);
    return (void *)(intptr_t)spin_flag(&rendezvous, 3);
}

static void *to_thread_task(void *arg)
{
    void *res = NULL;
    int rc = cio_to_thread(sleep_job, arg, &res);
    if (rc)
        return cio_fail(rc, NULL);
    return res;
}

/* Meets the two others on worker threads, then sleeps arg ms there: the
 * result is 1 if all three met. */
static void *met_then_sleep_task(void *arg)
{
    void *met = NULL;
    int rc = cio_to_thread(rendezvous_job, NULL, &met);
    if (rc == 0)
        rc = cio_to_thread(sleep_job, arg, NULL);
    if (rc)
        return cio_fail(rc, NULL);
    return met;
}

static void *t_to_thread_parallel(void *arg)
{
    (void)arg;
    /* one job first, so a worker already sits idle when the three come */
    CHECK_EQ(cio_to_thread(sleep_job, (void *)10, NULL), 0);
    atomic_store(&rendezvous, 0);
    cio_task *t[3];
    double t0 = now();
    for (int i = 0; i < 3; i++)
        CHECK((t[i] = cio_spawn(met_then_sleep_task, (void *)(intptr_t)200)) != NULL);
    void *res[3];
    CHECK_EQ(cio_gather(t, 3, res, NULL, 0), 0);
    double dt = now() - t0;
    for (int i = 0; i < 3; i++) {
        CHECK_EQ((intptr_t)res[i], 1); /* all three met: they ran at once */
        cio_release(t[i]);
    }
    CHECK(dt >= 0.19);
    return NULL;
}

/* A worker that sits idle must not be counted twice: three jobs that can only
 * finish together must get three threads. */

static void *t_idle_workers(void *arg)
{
    (void)arg;
    cio_executor *ex = cio_executor_new(4);
    CHECK(ex != NULL);
    cio_future *f = cio_run_in_executor(ex, sleep_job, (void *)1);
    CHECK_EQ(cio_await(f, NULL), 0);
    cio_release(f);
    cio_sleep(0.02); /* the worker is idle now */
    atomic_store(&rendezvous, 0);
    cio_future *fs[3];
    for (int i = 0; i < 3; i++)
        CHECK((fs[i] = cio_run_in_executor(ex, rendezvous_job, NULL)) != NULL);
    void *res[3];
    CHECK_EQ(cio_gather(fs, 3, res, NULL, 0), 0);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ((intptr_t)res[i], 1);
        cio_release(fs[i]);
    }
    drain_jobs();
    cio_executor_free(ex);
    return NULL;
}

/* ---- errors ------------------------------------------------------------- */

static void *failing_job(void *arg)
{
    return cio_fail((int)(intptr_t)arg, "disk %d on fire", 7);
}

static void *self_cancelling_job(void *arg)
{
    (void)arg;
    return cio_fail(-ECANCELED, "gave up");
}

static void *t_job_errors_and_self_cancel(void *arg)
{
    (void)arg;
    CHECK_EQ(cio_to_thread(failing_job, (void *)(intptr_t)-EIO, NULL), -EIO);
    cio_future *f = cio_run_in_executor(NULL, failing_job, (void *)(intptr_t)-EPIPE);
    CHECK(f != NULL);
    CHECK_EQ(cio_await(f, NULL), -EPIPE);
    CHECK_EQ(cio_exception(f), -EPIPE);
    CHECK(cio_error_message(f) && strcmp(cio_error_message(f), "disk 7 on fire") == 0);
    cio_release(f);
    /* a positive code is not an error code: reported as -EINVAL */
    CHECK_EQ(cio_to_thread(failing_job, (void *)(intptr_t)5, NULL), -EINVAL);
    /* a job may end cancelled on its own (CancelledError raised in the job) */
    f = cio_run_in_executor(NULL, self_cancelling_job, NULL);
    CHECK(f != NULL);
    size_t nd = 0;
    CHECK_EQ(cio_wait(&f, 1, CIO_ALL_COMPLETED, 5.0, NULL, &nd, NULL, NULL), 0);
    CHECK_EQ(nd, 1);
    CHECK(cio_cancelled(f));
    CHECK(cio_error_message(f) && strcmp(cio_error_message(f), "gave up") == 0);
    CHECK_EQ(cio_await(f, NULL), -ECANCELED); /* an ordinary error here */
    cio_release(f);
    /* bad arguments */
    errno = 0;
    CHECK(cio_run_in_executor(NULL, NULL, NULL) == NULL);
    CHECK_EQ(errno, EINVAL);
    drain_jobs();
    return NULL;
}

static void *no_loop_thread(void *arg)
{
    (void)arg;
    errno = 0;
    cio_future *f = cio_run_in_executor(NULL, sleep_job, NULL);
    CHECK(f == NULL);
    CHECK_EQ(errno, -CIO_ENOLOOP);
    CHECK_EQ(cio_to_thread(sleep_job, NULL, NULL), CIO_ENOTASK);
    CHECK(!cio_job_cancelled());
    return NULL;
}

static void test_outside(void)
{
    check_current = "outside";
    int fails = check_failures;
    CHECK_EQ(cio_to_thread(sleep_job, NULL, NULL), CIO_ENOTASK);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, no_loop_thread, NULL), 0);
    pthread_join(th, NULL);
    fprintf(stderr, "%s outside\n", check_failures == fails ? "ok  " : "FAIL");
}

/* ---- combinators -------------------------------------------------------- */

static atomic_int gate, gate_started;
/* Holds its worker until the test opens the gate. */
static void *gated_job(void *arg)
{
    atomic_fetch_add(&gate_started, 1);
    spin_flag(&gate, 1);
    return arg;
}

static atomic_int cj_started, cj_saw_cancel, cj_finished, cj_hold;
/* Runs until cancelled (at most 5 s), then, while cj_hold is set, lingers
 * until the test clears it (at most 10 s): still running after its waiter
 * was told it is cancelled, whatever the machine's load. */
static void *cancellable_job(void *arg)
{
    (void)arg;
    atomic_store(&cj_started, 1);
    double end = now() + 5;
    while (!cio_job_cancelled() && now() < end)
        usleep(500);
    atomic_store(&cj_saw_cancel, cio_job_cancelled());
    end = now() + 10;
    while (atomic_load(&cj_hold) && now() < end)
        usleep(200);
    atomic_store(&cj_finished, 1);
    return (void *)1;
}

/* hold: the next cancellable_job lingers after its cancellation until
 * cj_hold is cleared. */
static void reset_cj(int hold)
{
    atomic_store(&cj_started, 0);
    atomic_store(&cj_saw_cancel, 0);
    atomic_store(&cj_finished, 0);
    atomic_store(&cj_hold, hold);
}

static void *t_combinators(void *arg)
{
    (void)arg;
    /* gather: results in argument order */
    cio_future *fs[3];
    int ms[3] = {60, 20, 40};
    for (int i = 0; i < 3; i++)
        CHECK((fs[i] = cio_run_in_executor(NULL, sleep_job, (void *)(intptr_t)ms[i])) != NULL);
    void *res[3];
    int errs[3];
    CHECK_EQ(cio_gather(fs, 3, res, errs, 0), 0);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ((intptr_t)res[i], ms[i]);
        CHECK_EQ(errs[i], 0);
        cio_release(fs[i]);
    }
    /* gather with an error and return_exceptions */
    fs[0] = cio_run_in_executor(NULL, sleep_job, (void *)(intptr_t)5);
    fs[1] = cio_run_in_executor(NULL, failing_job, (void *)(intptr_t)-EIO);
    CHECK(fs[0] && fs[1]);
    CHECK_EQ(cio_gather(fs, 2, res, errs, CIO_RETURN_EXCEPTIONS), 0);
    CHECK_EQ((intptr_t)res[0], 5);
    CHECK_EQ(errs[0], 0);
    CHECK_EQ(errs[1], -EIO);
    cio_release(fs[0]);
    cio_release(fs[1]);

    /* wait: FIRST_COMPLETED, a timeout that cancels nothing, ALL_COMPLETED */
    atomic_store(&gate, 0);
    fs[0] = cio_run_in_executor(NULL, gated_job, (void *)1);
    fs[1] = cio_run_in_executor(NULL, sleep_job, (void *)(intptr_t)10);
    CHECK(fs[0] && fs[1]);
    cio_future *done[2], *pending[2];
    size_t nd = 0, np = 0;
    CHECK_EQ(cio_wait(fs, 2, CIO_FIRST_COMPLETED, 5.0, done, &nd, pending, &np), 0);
    CHECK_EQ(nd, 1);
    CHECK_EQ(np, 1);
    CHECK(done[0] == fs[1] && pending[0] == fs[0]);
    CHECK_EQ(cio_wait(fs, 2, CIO_ALL_COMPLETED, 0.02, done, &nd, pending, &np), 0);
    CHECK_EQ(nd, 1);
    CHECK_EQ(np, 1);
    CHECK(!cio_done(fs[0]));
    atomic_store(&gate, 1);
    CHECK_EQ(cio_wait(fs, 2, CIO_ALL_COMPLETED, 5.0, done, &nd, pending, &np), 0);
    CHECK_EQ(nd, 2);
    CHECK_EQ(np, 0);
    void *v = NULL;
    CHECK_EQ(cio_result(fs[0], &v), 0);
    CHECK_EQ((intptr_t)v, 1);
    cio_release(fs[0]);
    cio_release(fs[1]);

    /* wait_for: in time */
    cio_future *f = cio_run_in_executor(NULL, sleep_job, (void *)(intptr_t)10);
    CHECK_EQ(cio_wait_for(f, 5.0, &v), 0);
    CHECK_EQ((intptr_t)v, 10);
    cio_release(f);
    /* wait_for: timeout cancels the future, and the job sees it */
    reset_cj(1);
    f = cio_run_in_executor(NULL, cancellable_job, NULL);
    CHECK(wait_flag(&cj_started, 1, 5));
    double t0 = now();
    CHECK_EQ(cio_wait_for(f, 0.05, NULL), -ETIMEDOUT);
    CHECK(now() - t0 >= 0.045);
    CHECK(cio_cancelled(f));
    /* it returned without waiting for the job, which the test still holds */
    CHECK(!atomic_load(&cj_finished));
    atomic_store(&cj_hold, 0);
    CHECK(wait_flag(&cj_finished, 1, 10));
    CHECK(atomic_load(&cj_saw_cancel));
    cio_release(f);

    /* as_completed: completion order */
    fs[0] = cio_run_in_executor(NULL, sleep_job, (void *)(intptr_t)80);
    fs[1] = cio_run_in_executor(NULL, sleep_job, (void *)(intptr_t)5);
    cio_as_completed *it = cio_as_completed_new(fs, 2, CIO_NO_TIMEOUT);
    CHECK(it != NULL);
    cio_future *got = NULL;
    CHECK_EQ(cio_as_completed_next(it, &got), 0);
    CHECK(got == fs[1]);
    CHECK_EQ(cio_as_completed_next(it, &got), 0);
    CHECK(got == fs[0]);
    CHECK_EQ(cio_as_completed_next(it, &got), CIO_EDONE);
    cio_as_completed_free(it);
    cio_release(fs[0]);
    cio_release(fs[1]);
    drain_jobs();
    return NULL;
}

/* ---- cancellation ------------------------------------------------------- */

static void *cancellable_to_thread(void *arg)
{
    double *when = arg;
    int rc = cio_to_thread(cancellable_job, NULL, NULL);
    *when = now();
    CHECK_EQ(rc, -ECANCELED);
    return NULL;
}

static void *t_cancel_waiter(void *arg)
{
    (void)arg;
    reset_cj(1);
    double returned = 0;
    cio_task *t = cio_spawn(cancellable_to_thread, &returned);
    CHECK(wait_flag(&cj_started, 1, 5));
    CHECK(cio_cancel(t, NULL));
    CHECK_EQ(cio_await(t, NULL), -ECANCELED);
    CHECK(cio_cancelled(t));
    /* the task got -ECANCELED at once, while its job still runs (held) */
    CHECK(returned > 0);
    CHECK(!atomic_load(&cj_finished));
    atomic_store(&cj_hold, 0);
    cio_release(t);
    CHECK(wait_flag(&cj_finished, 1, 10));
    CHECK(atomic_load(&cj_saw_cancel));
    drain_jobs();

    /* a running job polls cio_job_cancelled() after its future is cancelled */
    reset_cj(0);
    cio_future *f = cio_run_in_executor(NULL, cancellable_job, NULL);
    CHECK(wait_flag(&cj_started, 1, 5));
    CHECK(!cio_job_cancelled());
    CHECK(cio_cancel(f, "stop it"));
    CHECK(cio_cancelled(f));
    CHECK(!cio_cancel(f, NULL)); /* already done */
    CHECK_EQ(cio_result(f, NULL), -ECANCELED);
    CHECK(wait_flag(&cj_finished, 1, 10));
    CHECK(atomic_load(&cj_saw_cancel));
    cio_release(f);
    drain_jobs();
    return NULL;
}

static atomic_int queued_ran;
static void *mark_job(void *arg)
{
    (void)arg;
    atomic_fetch_add(&queued_ran, 1);
    return arg;
}

static void *await_task(void *arg)
{
    int rc = cio_await(arg, NULL);
    return rc ? cio_fail(rc, NULL) : NULL;
}

static void *t_cancel_queued(void *arg)
{
    (void)arg;
    cio_executor *ex = cio_executor_new(1);
    CHECK(ex != NULL);
    CHECK_EQ(cio_executor_workers(ex), 1);
    atomic_store(&gate, 0);
    atomic_store(&queued_ran, 0);
    cio_future *busy = cio_run_in_executor(ex, gated_job, (void *)7);
    cio_future *q1 = cio_run_in_executor(ex, mark_job, NULL);
    cio_future *q2 = cio_run_in_executor(ex, mark_job, (void *)2);
    CHECK(busy && q1 && q2);
    CHECK(cio_cancel(q1, NULL));
    CHECK(cio_cancelled(q1));
    atomic_store(&gate, 1);
    void *v = NULL;
    CHECK_EQ(cio_await(busy, &v), 0);
    CHECK_EQ((intptr_t)v, 7);
    CHECK_EQ(cio_await(q2, &v), 0);
    CHECK_EQ((intptr_t)v, 2);
    CHECK_EQ(cio_await(q1, NULL), -ECANCELED);
    cio_release(busy);
    cio_release(q1);
    cio_release(q2);
    drain_jobs();
    CHECK_EQ(atomic_load(&queued_ran), 1); /* only q2: q1 never started */

    /* a task awaiting a queued job is cancelled: the job never starts */
    atomic_store(&gate, 0);
    busy = cio_run_in_executor(ex, gated_job, NULL);
    q1 = cio_run_in_executor(ex, mark_job, NULL);
    CHECK(busy && q1);
    cio_task *w = cio_spawn(await_task, q1);
    CHECK(w != NULL);
    cio_sleep(0.01);
    CHECK(cio_cancel(w, NULL));
    CHECK_EQ(cio_await(w, NULL), -ECANCELED);
    CHECK(cio_cancelled(q1)); /* cancelling the waiter cancelled the job */
    cio_release(w);
    atomic_store(&gate, 1);
    CHECK_EQ(cio_await(busy, NULL), 0);
    cio_release(busy);
    cio_release(q1);
    drain_jobs();
    CHECK_EQ(atomic_load(&queued_ran), 1);
    cio_executor_free(ex);
    return NULL;
}

/* ---- sizes -------------------------------------------------------------- */

static atomic_int in_flight, max_in_flight, total_ran;
static void *counting_job(void *arg)
{
    int cur = atomic_fetch_add(&in_flight, 1) + 1;
    int m = atomic_load(&max_in_flight);
    while (cur > m && !atomic_compare_exchange_weak(&max_in_flight, &m, cur)) {
    }
    usleep(3000);
    atomic_fetch_sub(&in_flight, 1);
    atomic_fetch_add(&total_ran, 1);
    return arg;
}

static void *t_max_workers(void *arg)
{
    (void)arg;
    for (size_t n = 1; n <= 4; n++) {
        cio_executor *ex = cio_executor_new(n);
        CHECK(ex != NULL);
        CHECK_EQ(cio_executor_workers(ex), n);
        atomic_store(&in_flight, 0);
        atomic_store(&max_in_flight, 0);
        atomic_store(&total_ran, 0);
        enum { N = 40 };
        cio_future *fs[N];
        for (int i = 0; i < N; i++)
            CHECK((fs[i] = cio_run_in_executor(ex, counting_job, (void *)(intptr_t)i)) != NULL);
        void *res[N];
        CHECK_EQ(cio_gather(fs, N, res, NULL, 0), 0);
        for (int i = 0; i < N; i++) {
            CHECK_EQ((intptr_t)res[i], i);
            cio_release(fs[i]);
        }
        CHECK_EQ(atomic_load(&total_ran), N);
        CHECK(atomic_load(&max_in_flight) <= (int)n);
        CHECK(atomic_load(&max_in_flight) >= 1);
        if (n > 1 && atomic_load(&max_in_flight) < 2)
            fprintf(stderr, "note: executor of %zu never ran two jobs at once\n", n);
        drain_jobs();
        cio_executor_free(ex);
    }
    return NULL;
}

static void *t_default_size(void *arg)
{
    (void)arg;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t want = (size_t)(cores > 0 ? cores : 1) + 4;
    if (want > 32)
        want = 32;
    cio_executor *d = cio_default_executor(NULL);
    CHECK(d != NULL);
    CHECK(d == cio_default_executor(cio_loop_current())); /* one per loop */
    CHECK_EQ(cio_executor_workers(d), want);
    cio_executor *ex = cio_executor_new(0);
    CHECK(ex != NULL);
    CHECK_EQ(cio_executor_workers(ex), want);
    cio_executor_free(ex);
    cio_executor_free(NULL);
    /* to_thread uses the default executor: at most `want` jobs at once */
    atomic_store(&in_flight, 0);
    atomic_store(&max_in_flight, 0);
    enum { N = 80 };
    cio_future *fs[N];
    for (int i = 0; i < N; i++)
        CHECK((fs[i] = cio_run_in_executor(NULL, counting_job, NULL)) != NULL);
    CHECK_EQ(cio_gather(fs, N, NULL, NULL, 0), 0);
    for (int i = 0; i < N; i++)
        cio_release(fs[i]);
    CHECK(atomic_load(&max_in_flight) <= (int)want);
    drain_jobs();
    return NULL;
}

/* ---- shutdown ----------------------------------------------------------- */

static void *t_shutdown_wait(void *arg)
{
    (void)arg;
    cio_executor *ex = cio_executor_new(1);
    atomic_store(&total_ran, 0);
    atomic_store(&in_flight, 0);
    enum { N = 5 };
    cio_future *fs[N];
    for (int i = 0; i < N; i++)
        CHECK((fs[i] = cio_run_in_executor(ex, counting_job, (void *)(intptr_t)(i + 1))) != NULL);
    /* blocks this thread until every queued job ran */
    CHECK_EQ(cio_executor_shutdown(ex, true, false), 0);
    CHECK_EQ(atomic_load(&total_ran), N);
    /* no new jobs */
    errno = 0;
    CHECK(cio_run_in_executor(ex, counting_job, NULL) == NULL);
    CHECK_EQ(errno, ESHUTDOWN);
    /* the results still come back to the loop */
    for (int i = 0; i < N; i++) {
        void *v = NULL;
        CHECK_EQ(cio_await(fs[i], &v), 0);
        CHECK_EQ((intptr_t)v, i + 1);
        cio_release(fs[i]);
    }
    CHECK_EQ(cio_executor_shutdown(ex, true, false), 0); /* twice is fine */
    drain_jobs();
    cio_executor_free(ex);
    return NULL;
}

static void *t_shutdown_cancel(void *arg)
{
    (void)arg;
    cio_executor *ex = cio_executor_new(1);
    atomic_store(&gate, 0);
    atomic_store(&gate_started, 0);
    atomic_store(&queued_ran, 0);
    cio_future *busy = cio_run_in_executor(ex, gated_job, (void *)3);
    CHECK(wait_flag(&gate_started, 1, 10)); /* the worker took the first job */
    enum { N = 4 };
    cio_future *fs[N];
    for (int i = 0; i < N; i++)
        CHECK((fs[i] = cio_run_in_executor(ex, mark_job, NULL)) != NULL);
    CHECK_EQ(cio_executor_shutdown(ex, false, true), 0);
    for (int i = 0; i < N; i++)
        CHECK(cio_cancelled(fs[i])); /* at once, on the loop thread */
    CHECK(!cio_done(busy));
    errno = 0;
    CHECK(cio_run_in_executor(ex, mark_job, NULL) == NULL);
    CHECK_EQ(errno, ESHUTDOWN);
    atomic_store(&gate, 1);
    void *v = NULL;
    CHECK_EQ(cio_await(busy, &v), 0); /* the running job finishes */
    CHECK_EQ((intptr_t)v, 3);
    cio_release(busy);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(cio_await(fs[i], NULL), -ECANCELED);
        cio_release(fs[i]);
    }
    cio_executor_free(ex);
    CHECK_EQ(atomic_load(&queued_ran), 0);
    drain_jobs();
    return NULL;
}

/* shutdown(cancel_pending) from another thread: the cancellations travel to
 * the loop through the thread-safe inbox */
static void *shutdown_thread(void *arg)
{
    cio_executor_shutdown(arg, true, true);
    return NULL;
}

static void *join_job(void *arg)
{
    pthread_join(*(pthread_t *)arg, NULL);
    return NULL;
}

static void *t_shutdown_foreign(void *arg)
{
    (void)arg;
    cio_executor *ex = cio_executor_new(1);
    atomic_store(&gate, 0);
    atomic_store(&gate_started, 0);
    atomic_store(&queued_ran, 0);
    cio_future *busy = cio_run_in_executor(ex, gated_job, NULL);
    CHECK(wait_flag(&gate_started, 1, 10));
    enum { N = 4 };
    cio_future *fs[N];
    for (int i = 0; i < N; i++)
        CHECK((fs[i] = cio_run_in_executor(ex, mark_job, NULL)) != NULL);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, shutdown_thread, ex), 0);
    for (int i = 0; i < N; i++)
        CHECK_EQ(cio_await(fs[i], NULL), -ECANCELED);
    atomic_store(&gate, 1); /* lets the worker exit, and shutdown_thread return */
    CHECK_EQ(cio_to_thread(join_job, &th, NULL), 0);
    CHECK_EQ(cio_await(busy, NULL), 0);
    cio_release(busy);
    for (int i = 0; i < N; i++)
        cio_release(fs[i]);
    drain_jobs();
    CHECK_EQ(atomic_load(&queued_ran), 0);
    cio_executor_free(ex);
    return NULL;
}

/* cio_run shuts the default executor down (waiting for running jobs). */
static atomic_int late_done;
static void *late_job(void *arg)
{
    (void)arg;
    msleep(150);
    atomic_store(&late_done, 1);
    return NULL;
}

static void *run_main(void *arg)
{
    (void)arg;
    cio_future *f = cio_run_in_executor(NULL, late_job, NULL);
    CHECK(f != NULL);
    cio_release(f);
    /* also a task left in to_thread: cio_run cancels it on the way out */
    reset_cj(0);
    static double when;
    cio_task *t = cio_spawn(cancellable_to_thread, &when);
    cio_release(t);
    wait_flag(&cj_started, 1, 5);
    return (void *)99;
}

static void test_run_shutdown(void)
{
    check_current = "run_shutdown";
    int fails = check_failures;
    atomic_store(&late_done, 0);
    void *res = NULL;
    CHECK_EQ(cio_run(run_main, NULL, &res), 0);
    CHECK_EQ((intptr_t)res, 99);
    CHECK_EQ(atomic_load(&late_done), 1);
    CHECK_EQ(atomic_load(&cj_finished), 1);
    CHECK_EQ(atomic_load(&cj_saw_cancel), 1);
    fprintf(stderr, "%s run_shutdown\n", check_failures == fails ? "ok  " : "FAIL");
}

/* A user executor outlives the loop that submitted to it: the loop's jobs
 * are orphaned when it closes (no post to a freed loop), queued ones never
 * start, and each is freed once nobody holds it. */
static atomic_int self_cancel_ran;
static void *self_cancel_flag_job(void *arg)
{
    (void)arg;
    atomic_store(&self_cancel_ran, 1);
    return cio_fail(-ECANCELED, "job gave up");
}

static void spin_until(atomic_int *flag, int v) { CHECK(spin_flag(flag, v)); }

static void test_loop_closed_first(void)
{
    check_current = "loop_closed_first";
    int fails = check_failures;
    /* 1: a running and a queued job of a user executor; the loop closes */
    cio_loop *l = cio_loop_new();
    cio_loop_set_current(l);
    cio_executor *ex = cio_executor_new(1);
    atomic_store(&gate, 0);
    atomic_store(&gate_started, 0);
    atomic_store(&queued_ran, 0);
    atomic_store(&self_cancel_ran, 0);
    cio_future *busy = cio_run_in_executor(ex, gated_job, NULL);
    cio_future *q1 = cio_run_in_executor(ex, mark_job, NULL);
    cio_future *q2 = cio_run_in_executor(ex, mark_job, NULL);
    CHECK(busy && q1 && q2);
    cio_release(busy);
    cio_release(q1);
    cio_release(q2);
    spin_until(&gate_started, 1);
    /* and a job whose completion (a cancellation) is posted but never run */
    cio_future *sc = cio_run_in_executor(NULL, self_cancel_flag_job, NULL);
    CHECK(sc != NULL);
    cio_release(sc);
    spin_until(&self_cancel_ran, 1);
    msleep(30);
    CHECK_EQ(cio_loop_close(l), 0);
    CHECK(cio_loop_current() == NULL);
    /* q1 is dropped by a shutdown after the loop is gone */
    CHECK_EQ(cio_executor_shutdown(ex, false, true), 0);
    atomic_store(&gate, 1); /* busy finishes: nothing to post it to */
    cio_executor_free(ex);
    CHECK_EQ(atomic_load(&queued_ran), 0);

    /* 2: shutdown(cancel_pending) while the loop is not running posts the
     * cancellations; the loop closes before they run */
    l = cio_loop_new();
    cio_loop_set_current(l);
    ex = cio_executor_new(1);
    atomic_store(&gate, 0);
    atomic_store(&gate_started, 0);
    busy = cio_run_in_executor(ex, gated_job, NULL);
    q1 = cio_run_in_executor(ex, mark_job, NULL);
    CHECK(busy && q1);
    spin_until(&gate_started, 1);
    CHECK_EQ(cio_executor_shutdown(ex, false, true), 0);
    CHECK(!cio_done(q1)); /* posted, not run yet */
    cio_release(q1);
    /* (a future still held when its loop closes under its running job is
     * never freed: the worker cannot tell when its holder lets go) */
    cio_release(busy);
    CHECK_EQ(cio_loop_close(l), 0);
    atomic_store(&gate, 1);
    cio_executor_free(ex);
    CHECK_EQ(atomic_load(&queued_ran), 0);

    /* 3: the loop is closed while a job whose future we still hold runs on
     * the loop's default executor: closing waits for it */
    l = cio_loop_new();
    cio_loop_set_current(l);
    atomic_store(&late_done, 0);
    cio_future *f = cio_run_in_executor(NULL, late_job, NULL);
    CHECK(f != NULL);
    CHECK_EQ(cio_loop_close(l), 0);
    CHECK_EQ(atomic_load(&late_done), 1);
    CHECK(!cio_done(f)); /* its completion was dropped with the loop */
    CHECK(cio_future_loop(f) == NULL);
    cio_release(f);
    fprintf(stderr, "%s loop_closed_first\n", check_failures == fails ? "ok  " : "FAIL");
}

/* Two threads wait in shutdown at once. */
static void *shutdown_wait_thread(void *arg)
{
    CHECK_EQ(cio_executor_shutdown(arg, true, false), 0);
    return NULL;
}

static void test_concurrent_shutdown(void)
{
    check_current = "concurrent_shutdown";
    int fails = check_failures;
    cio_loop *l = cio_loop_new();
    cio_loop_set_current(l);
    cio_executor *ex = cio_executor_new(3);
    atomic_store(&gate, 0);
    atomic_store(&gate_started, 0);
    cio_future *fs[3];
    for (int i = 0; i < 3; i++)
        CHECK((fs[i] = cio_run_in_executor(ex, gated_job, NULL)) != NULL);
    spin_until(&gate_started, 3);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, shutdown_wait_thread, ex), 0);
    msleep(20);
    atomic_store(&gate, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    /* the completions are waiting in the loop's inbox */
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(cio_loop_run_until_complete(l, fs[i], NULL), 0);
        cio_release(fs[i]);
    }
    cio_executor_free(ex);
    CHECK_EQ(cio_loop_close(l), 0);
    fprintf(stderr, "%s concurrent_shutdown\n", check_failures == fails ? "ok  " : "FAIL");
}

/* ---- many completions at once ------------------------------------------- */

static void *ident_job(void *arg) { return arg; }

static void *t_many_completions_at_once(void *arg)
{
    (void)arg;
    enum { N = 1000 };
    cio_executor *ex = cio_executor_new(8);
    cio_future **fs = calloc(N, sizeof *fs);
    void **res = calloc(N, sizeof *res);
    for (int i = 0; i < N; i++)
        CHECK((fs[i] = cio_run_in_executor(i % 2 ? ex : NULL, ident_job, (void *)(intptr_t)(i + 1))) != NULL);
    CHECK_EQ(cio_gather(fs, N, res, NULL, 0), 0);
    for (int i = 0; i < N; i++) {
        CHECK_EQ((intptr_t)res[i], i + 1);
        cio_release(fs[i]);
    }
    /* and through to_thread from 1000 tasks */
    cio_task **ts = calloc(N, sizeof *ts);
    for (int i = 0; i < N; i++)
        CHECK((ts[i] = cio_spawn(to_thread_task, (void *)(intptr_t)(i % 3))) != NULL);
    CHECK_EQ(cio_gather(ts, N, res, NULL, 0), 0);
    for (int i = 0; i < N; i++) {
        CHECK_EQ((intptr_t)res[i], i % 3);
        cio_release(ts[i]);
    }
    free(ts);
    free(fs);
    free(res);
    drain_jobs();
    cio_executor_free(ex);
    return NULL;
}

/* ---- run_coroutine_threadsafe ------------------------------------------- */

static void *double_coro(void *arg)
{
    if (cio_sleep(0.001) < 0)
        return cio_fail(-ECANCELED, NULL);
    return (void *)((intptr_t)arg * 2);
}

static void *sleepy_coro(void *arg)
{
    int rc = cio_sleep((double)(intptr_t)arg / 1000.0);
    return rc ? cio_fail(rc, NULL) : (void *)(intptr_t)7;
}

static void *failing_coro(void *arg)
{
    (void)arg;
    cio_sleep(0.001);
    return cio_fail(-EIO, "coroutine failed");
}

/* a coroutine that itself hands work to a thread */
static void *nested_coro(void *arg)
{
    void *res = NULL;
    int rc = cio_to_thread(ident_job, arg, &res);
    return rc ? cio_fail(rc, NULL) : res;
}

typedef struct rct_arg {
    cio_loop *loop;
    int id;
    atomic_int *done;
} rct_arg;

static void *rct_thread(void *p)
{
    rct_arg *a = p;
    CHECK(cio_loop_current() == NULL); /* no loop in this thread */
    for (int i = 0; i < 50; i++) {
        intptr_t v = a->id * 1000 + i;
        cio_tfuture *tf = cio_run_coroutine_threadsafe(a->loop, i % 2 ? double_coro : nested_coro, (void *)v);
        CHECK(tf != NULL);
        void *res = NULL;
        CHECK_EQ(cio_tfuture_wait(tf, CIO_NO_TIMEOUT, &res), 0);
        CHECK_EQ((intptr_t)res, i % 2 ? v * 2 : v);
        CHECK(cio_tfuture_done(tf));
        CHECK(!cio_tfuture_cancel(tf)); /* already done */
        cio_tfuture_free(tf);
    }
    /* cancel */
    cio_tfuture *tf = cio_run_coroutine_threadsafe(a->loop, sleepy_coro, (void *)(intptr_t)10000);
    CHECK(tf != NULL);
    CHECK_EQ(cio_tfuture_wait(tf, 0.02, NULL), -ETIMEDOUT);
    CHECK(!cio_tfuture_done(tf));
    CHECK(cio_tfuture_cancel(tf));
    CHECK(!cio_tfuture_cancel(tf)); /* once */
    /* -ECANCELED within 5 s: the 10 s sleep was cut short */
    CHECK_EQ(cio_tfuture_wait(tf, 5, NULL), -ECANCELED);
    cio_tfuture_free(tf);
    /* cancel at once, maybe before the task even started */
    tf = cio_run_coroutine_threadsafe(a->loop, sleepy_coro, (void *)(intptr_t)10000);
    CHECK(cio_tfuture_cancel(tf));
    CHECK_EQ(cio_tfuture_wait(tf, 5, NULL), -ECANCELED);
    cio_tfuture_free(tf);
    /* timeout, then the result */
    tf = cio_run_coroutine_threadsafe(a->loop, sleepy_coro, (void *)(intptr_t)100);
    void *res = (void *)1;
    CHECK_EQ(cio_tfuture_wait(tf, 0.01, &res), -ETIMEDOUT);
    CHECK(res == NULL);
    CHECK_EQ(cio_tfuture_wait(tf, CIO_NO_TIMEOUT, &res), 0);
    CHECK_EQ((intptr_t)res, 7);
    CHECK_EQ(cio_tfuture_wait(tf, 0, &res), 0); /* done: again, at once */
    cio_tfuture_free(tf);
    /* an error */
    tf = cio_run_coroutine_threadsafe(a->loop, failing_coro, NULL);
    CHECK_EQ(cio_tfuture_wait(tf, CIO_NO_TIMEOUT, NULL), -EIO);
    cio_tfuture_free(tf);
    /* freed without waiting: the loop side still finishes cleanly */
    tf = cio_run_coroutine_threadsafe(a->loop, sleepy_coro, (void *)(intptr_t)5);
    cio_tfuture_free(tf);
    atomic_fetch_add(a->done, 1);
    return NULL;
}

static void *join_threads_job(void *arg)
{
    pthread_t *th = arg;
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    return NULL;
}

static void *t_threadsafe(void *arg)
{
    (void)arg;
    errno = 0;
    CHECK(cio_run_coroutine_threadsafe(NULL, sleepy_coro, NULL) == NULL);
    CHECK_EQ(errno, EINVAL);
    atomic_int done = 0;
    pthread_t th[4];
    rct_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (rct_arg){cio_loop_current(), i + 1, &done};
        CHECK_EQ(pthread_create(&th[i], NULL, rct_thread, &a[i]), 0);
    }
    CHECK_EQ(cio_to_thread(join_threads_job, th, NULL), 0);
    CHECK_EQ(atomic_load(&done), 4);
    /* the tasks of freed-unwaited tfutures finish on their own */
    double end = now() + 5;
    while (cio_all_tasks(NULL, NULL, 0) > 1 && now() < end)
        cio_sleep(0.002);
    CHECK_EQ(cio_all_tasks(NULL, NULL, 0), 1);
    drain_jobs();
    return NULL;
}

/* A coroutine submitted from another thread is still pending when cio_run
 * ends: cio_run cancels it, and the thread waiting on it hears so. */
typedef struct late_arg {
    cio_loop *loop;
    atomic_int submitted;
    int rc;
} late_arg;

static void *late_submitter(void *p)
{
    late_arg *a = p;
    cio_tfuture *tf = cio_run_coroutine_threadsafe(a->loop, sleepy_coro, (void *)(intptr_t)10000);
    atomic_store(&a->submitted, 1);
    a->rc = tf ? cio_tfuture_wait(tf, 5, NULL) : -errno;
    cio_tfuture_free(tf);
    return NULL;
}

static void *late_main(void *p)
{
    late_arg *a = p;
    a->loop = cio_loop_current();
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, late_submitter, a), 0);
    wait_flag(&a->submitted, 1, 5);
    cio_sleep(0.02); /* the coroutine is running (sleeping) now */
    CHECK_EQ(cio_all_tasks(NULL, NULL, 0), 2);
    /* main returns; cio_run cancels the coroutine; the thread is joined
     * after cio_run */
    return (void *)(uintptr_t)th;
}

static void test_threadsafe_cancelled_by_run(void)
{
    check_current = "threadsafe_cancelled_by_run";
    int fails = check_failures;
    late_arg a = {0};
    void *res = NULL;
    CHECK_EQ(cio_run(late_main, &a, &res), 0);
    pthread_join((pthread_t)(uintptr_t)res, NULL);
    CHECK_EQ(a.rc, -ECANCELED);
    fprintf(stderr, "%s threadsafe_cancelled_by_run\n", check_failures == fails ? "ok  " : "FAIL");
}

/* ---- stress ------------------------------------------------------------- */

static atomic_int st_started, st_finished, st_cancel_seen;

static void *stress_job(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    atomic_fetch_add(&st_started, 1);
    int spins = (int)(rand_r(&seed) % 50);
    for (int i = 0; i < spins; i++) {
        if (cio_job_cancelled()) {
            atomic_fetch_add(&st_cancel_seen, 1);
            break;
        }
        usleep(10);
    }
    atomic_fetch_add(&st_finished, 1);
    if (rand_r(&seed) % 8 == 0)
        return cio_fail(-EIO, "stress %u", seed);
    return arg;
}

static cio_executor *st_ex;

static void *stress_task(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int it = 0; it < 30; it++) {
        int op = (int)(rand_r(&seed) % 5);
        void *jarg = (void *)(uintptr_t)rand_r(&seed);
        cio_future *f = NULL;
        int rc = 0;
        switch (op) {
        case 0: /* to_thread */
            rc = cio_to_thread(stress_job, jarg, NULL);
            break;
        case 1: /* submit, cancel at once */
            f = cio_run_in_executor(st_ex, stress_job, jarg);
            if (!f)
                break;
            cio_cancel(f, NULL);
            rc = cio_await(f, NULL);
            CHECK_EQ(rc, -ECANCELED);
            rc = 0;
            break;
        case 2: /* wait_for with a tiny timeout */
            f = cio_run_in_executor(st_ex, stress_job, jarg);
            if (!f)
                break;
            rc = cio_wait_for(f, (rand_r(&seed) % 3) / 1000.0, NULL);
            CHECK(rc == 0 || rc == -EIO || rc == -ETIMEDOUT || rc == -ECANCELED);
            if (rc == -ETIMEDOUT)
                rc = 0;
            break;
        case 3: { /* gather a few */
            cio_future *fs[3];
            size_t n = 0;
            for (; n < 3; n++)
                if (!(fs[n] = cio_run_in_executor(n % 2 ? st_ex : NULL, stress_job, jarg)))
                    break;
            rc = cio_gather(fs, n, NULL, NULL, CIO_RETURN_EXCEPTIONS);
            for (size_t i = 0; i < n; i++)
                cio_release(fs[i]);
            break;
        }
        default: /* cancel after a moment, on the loop side */
            f = cio_run_in_executor(st_ex, stress_job, jarg);
            if (!f)
                break;
            rc = cio_sleep((rand_r(&seed) % 2) / 1000.0);
            cio_cancel(f, NULL);
            break;
        }
        if (f)
            cio_release(f);
        if (rc == -ECANCELED && cio_task_cancelling(cio_current_task()) > 0)
            return cio_fail(-ECANCELED, NULL); /* this task was cancelled */
    }
    return NULL;
}

typedef struct stress_thread_arg {
    cio_loop *loop;
    unsigned seed;
} stress_thread_arg;

static void *stress_thread(void *p)
{
    stress_thread_arg *a = p;
    for (int i = 0; i < 40; i++) {
        cio_tfuture *tf = cio_run_coroutine_threadsafe(a->loop, i % 2 ? nested_coro : sleepy_coro,
                                                      (void *)(intptr_t)(rand_r(&a->seed) % 3));
        if (!tf)
            continue;
        switch (rand_r(&a->seed) % 3) {
        case 0:
            cio_tfuture_wait(tf, CIO_NO_TIMEOUT, NULL);
            break;
        case 1:
            cio_tfuture_cancel(tf);
            cio_tfuture_wait(tf, CIO_NO_TIMEOUT, NULL);
            break;
        default:
            cio_tfuture_wait(tf, 0.0005, NULL);
            break;
        }
        cio_tfuture_free(tf);
    }
    return NULL;
}

static void *t_stress(void *arg)
{
    (void)arg;
    atomic_store(&st_started, 0);
    atomic_store(&st_finished, 0);
    atomic_store(&st_cancel_seen, 0);
    st_ex = cio_executor_new(4);
    enum { NT = 120, NTH = 3 };
    cio_task *ts[NT];
    for (int i = 0; i < NT; i++)
        CHECK((ts[i] = cio_spawn(stress_task, (void *)(uintptr_t)(i * 7919 + 1))) != NULL);
    pthread_t th[NTH];
    stress_thread_arg ta[NTH];
    for (int i = 0; i < NTH; i++) {
        ta[i] = (stress_thread_arg){cio_loop_current(), (unsigned)i + 17};
        CHECK_EQ(pthread_create(&th[i], NULL, stress_thread, &ta[i]), 0);
    }
    /* cancel random tasks while they work */
    unsigned seed = 4242;
    for (int k = 0; k < 40; k++) {
        cio_sleep(0.002);
        cio_cancel(ts[rand_r(&seed) % NT], NULL);
    }
    int errs[NT];
    CHECK_EQ(cio_gather(ts, NT, NULL, errs, CIO_RETURN_EXCEPTIONS), 0);
    int cancelled = 0;
    for (int i = 0; i < NT; i++) {
        CHECK(errs[i] == 0 || errs[i] == -ECANCELED);
        cancelled += errs[i] == -ECANCELED;
        cio_release(ts[i]);
    }
    for (int i = 0; i < NTH; i++)
        CHECK_EQ(cio_to_thread(join_job, &th[i], NULL), 0);
    double end = now() + 10;
    while (cio_all_tasks(NULL, NULL, 0) > 1 && now() < end)
        cio_sleep(0.002);
    CHECK_EQ(cio_all_tasks(NULL, NULL, 0), 1);
    cio_executor_free(st_ex); /* waits for the workers; completions queue up */
    drain_jobs();
    CHECK_EQ(atomic_load(&st_started), atomic_load(&st_finished));
    fprintf(stderr, "  stress: %d jobs ran, %d saw a cancel, %d tasks cancelled\n", atomic_load(&st_started),
            atomic_load(&st_cancel_seen), cancelled);
    return NULL;
}

int main(void)
{
    RUN_TEST(test_outside);
    RUN_TASK_TEST(t_to_thread);
    RUN_TASK_TEST(t_to_thread_parallel);
    RUN_TASK_TEST(t_idle_workers);
    RUN_TASK_TEST(t_job_errors_and_self_cancel);
    RUN_TASK_TEST(t_combinators);
    RUN_TASK_TEST(t_cancel_waiter);
    RUN_TASK_TEST(t_cancel_queued);
    RUN_TASK_TEST(t_max_workers);
    RUN_TASK_TEST(t_default_size);
    RUN_TASK_TEST(t_shutdown_wait);
    RUN_TASK_TEST(t_shutdown_cancel);
    RUN_TASK_TEST(t_shutdown_foreign);
    RUN_TEST(test_run_shutdown);
    RUN_TEST(test_loop_closed_first);
    RUN_TEST(test_concurrent_shutdown);
    RUN_TASK_TEST(t_many_completions_at_once);
    RUN_TASK_TEST(t_threadsafe);
    RUN_TEST(test_threadsafe_cancelled_by_run);
    RUN_TASK_TEST(t_stress);
    return check_exit();
}
