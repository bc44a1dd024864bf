/* SPDX-License-Identifier: MIT */
/* Thread pool executors: to_thread, run_in_executor,
 * run_coroutine_threadsafe.
 *
 * A job is a plain future of the submitting loop with the job's fields in
 * the same allocation.  The worker that runs it holds one reference, which
 * travels back with the completion through the loop's coalesced thread-safe
 * inbox (one eventfd write wakes the loop for any number of completions) and
 * is released on the loop thread.  Cancelling the future marks the job: a
 * job not yet started never starts, a running one can poll
 * cio_job_cancelled().
 *
 * A user executor may outlive the loops that submit to it.  Every job is
 * therefore registered with its loop until its completion has been handed
 * to that loop, and closing the loop orphans the jobs still registered
 * (under reg_mu, which the workers also hold while they post): an orphaned
 * job counts as cancelled, never posts to the dead loop, and is freed by its
 * worker when nobody else holds its future (else it is leaked, since the
 * holder may release it at any time on its own thread). */
#include "core/internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The jobs of one loop that the loop may still hear from. */
typedef struct loop_reg {
    struct loop_reg *next;
    cio_loop *loop;
    cio__link jobs;
} loop_reg;

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static loop_reg *regs; /* under reg_mu */

typedef struct job {
    cio_future f; /* first: freed with free() like any plain future */
    cio__fcb cancel_hook;
    cio_task_fn fn;
    void *arg;
    struct job *next; /* in the executor's queue (under its lock) */
    atomic_int cancelled;
    int fail_code;
    char *fail_msg;
    /* under reg_mu: */
    cio__link reg_link; /* in reg->jobs while registered */
    loop_reg *reg;      /* NULL once unregistered or orphaned */
    bool orphan;        /* its loop closed first */
    bool orphan_free;   /* ... and nobody else holds the future: the worker frees it */
    bool posted_cb;     /* a plain callback carrying the worker's reference is posted */
} job;

struct cio_executor {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_mutex_t join_mu; /* one shutdown(wait) joins at a time */
    job *head, *tail;
    size_t nqueued; /* jobs in the queue, not yet taken by a worker */
    size_t max_workers, nthreads, nidle, nlive;
    pthread_t *threads;
    bool shutdown;
};

static _Thread_local job *current_job;

bool cio_job_cancelled(void)
{
    job *j = current_job;
    return j && atomic_load_explicit(&j->cancelled, memory_order_acquire);
}

/* cio_fail on a worker thread (cio__fail_outside_task). */
static bool job_fail(int code, const char *fmt, va_list ap)
{
    job *j = current_job;
    if (!j)
        return false;
    j->fail_code = code < 0 ? code : -EINVAL;
    free(j->fail_msg);
    j->fail_msg = NULL;
    if (fmt && vasprintf(&j->fail_msg, fmt, ap) < 0)
        j->fail_msg = NULL;
    return true;
}

/* ---- registration of jobs with their loop -------------------------------- */

static loop_reg *reg_lookup(cio_loop *l)
{
    pthread_mutex_lock(&reg_mu);
    loop_reg *r = regs;
    while (r && r->loop != l)
        r = r->next;
    pthread_mutex_unlock(&reg_mu);
    return r;
}

/* Unregisters j (reg_mu held). */
static void reg_unlink(job *j)
{
    if (j->reg) {
        cio__list_remove(&j->reg_link);
        j->reg = NULL;
    }
}

/* The loop is closing (a shutdown hook, on the loop thread, before it drops
 * what is still scheduled and detaches its futures). */
static void reg_closed(cio_loop *l, void *arg)
{
    loop_reg *r = arg;
    job *release = NULL;
    pthread_mutex_lock(&reg_mu);
    for (loop_reg **pp = &regs; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    cio__link *it;
    while ((it = cio__list_pop_front(&r->jobs))) {
        job *j = CIO__CONTAINER_OF(it, job, reg_link);
        j->reg = NULL;
        if (j->posted_cb) {
            /* Its worker is done and the callback that carries its
             * reference will never run: give the reference back here. */
            j->posted_cb = false;
            j->next = release;
            release = j;
            continue;
        }
        /* Queued or running: it must not post to this loop any more. */
        j->orphan = true;
        atomic_store_explicit(&j->cancelled, 1, memory_order_release);
        if (j->f.refs == 1) {
            /* Only the worker holds it: detach it from the loop now, so
             * that the worker can free it whenever it is done. */
            if (j->f.in_all) {
                cio__list_remove(&j->f.all);
                j->f.in_all = 0;
            }
            j->f.loop = NULL;
            j->orphan_free = true;
        }
    }
    pthread_mutex_unlock(&reg_mu);
    (void)l;
    free(r);
    while (release) {
        job *j = release;
        release = j->next;
        free(j->fail_msg);
        j->fail_msg = NULL;
        cio_release(&j->f);
    }
}

/* The registry of loop l, created (with its shutdown hook) on first use.
 * Loop thread only. */
static loop_reg *reg_for(cio_loop *l)
{
    loop_reg *r = reg_lookup(l);
    if (r)
        return r;
    if (!(r = calloc(1, sizeof *r)))
        return NULL;
    r->loop = l;
    cio__list_init(&r->jobs);
    pthread_mutex_lock(&reg_mu);
    r->next = regs;
    regs = r;
    pthread_mutex_unlock(&reg_mu);
    cio__loop_add_shutdown_hook(l, reg_closed, r);
    return reg_lookup(l); /* NULL if the hook could not be kept and ran at once */
}

/* ---- completion ----------------------------------------------------------- */

/* A job that ended with cio_fail(-ECANCELED) (CancelledError raised in the
 * job): its future ends cancelled, which cio_future_set_error() refuses to
 * do, so the cancellation is carried out on the loop thread. */
static void job_cancel_cb(void *arg)
{
    job *j = arg;
    pthread_mutex_lock(&reg_mu);
    reg_unlink(j);
    j->posted_cb = false;
    pthread_mutex_unlock(&reg_mu);
    cio_cancel(&j->f, j->fail_msg);
    free(j->fail_msg);
    j->fail_msg = NULL;
    cio_release(&j->f); /* the worker's reference */
}

/* Hands the outcome back to the loop.  Once posted, the worker's reference
 * belongs to the loop, which may free the job at any moment: j is not
 * touched after a successful post.  reg_mu is held while posting, so the
 * loop cannot close (and be freed) in between. */
static void finish(job *j, void *res)
{
    int rc, code = j->fail_code;
    char *msg = j->fail_msg;
    j->fail_msg = NULL;
    pthread_mutex_lock(&reg_mu);
    if (j->orphan) {
        bool mine = j->orphan_free;
        pthread_mutex_unlock(&reg_mu);
        free(msg);
        if (mine)
            cio_release(&j->f); /* detached from its loop: nobody else sees it */
        return;
    }
    cio_loop *l = j->reg->loop;
    if (code == -ECANCELED && !atomic_load_explicit(&j->cancelled, memory_order_acquire)) {
        j->fail_msg = msg; /* job_cancel_cb frees it */
        j->posted_cb = true;
        if (cio_call_soon_threadsafe(l, job_cancel_cb, j) < 0) {
            /* out of memory: the job is leaked, its waiters wait on */
            j->posted_cb = false;
            reg_unlink(j);
            free(j->fail_msg);
            j->fail_msg = NULL;
        }
        pthread_mutex_unlock(&reg_mu);
        return;
    }
    reg_unlink(j);
    if (code == -ECANCELED) /* already cancelled on the loop side: only the reference travels back */
        rc = cio_future_set_result_threadsafe(&j->f, NULL);
    else if (code)
        rc = cio_future_set_error_threadsafe(&j->f, code, msg);
    else
        rc = cio_future_set_result_threadsafe(&j->f, res);
    pthread_mutex_unlock(&reg_mu);
    free(msg);
    (void)rc; /* -ENOMEM: the job is leaked */
}

static void *worker(void *arg)
{
    cio_executor *ex = arg;
    pthread_mutex_lock(&ex->mu);
    for (;;) {
        while (!ex->head && !ex->shutdown) {
            ex->nidle++;
            pthread_cond_wait(&ex->cv, &ex->mu);
            ex->nidle--;
        }
        job *j = ex->head;
        if (!j)
            break; /* shut down and drained */
        ex->head = j->next;
        if (!ex->head)
            ex->tail = NULL;
        ex->nqueued--;
        pthread_mutex_unlock(&ex->mu);
        void *res = NULL;
        if (!atomic_load_explicit(&j->cancelled, memory_order_acquire)) {
            current_job = j;
            res = j->fn(j->arg);
            current_job = NULL;
        }
        finish(j, res);
        pthread_mutex_lock(&ex->mu);
    }
    ex->nlive--;
    pthread_mutex_unlock(&ex->mu);
    return NULL;
}

static pthread_once_t fail_once = PTHREAD_ONCE_INIT;
static void fail_hook_set(void) { cio__fail_outside_task = job_fail; }

cio_executor *cio_executor_new(size_t workers)
{
    pthread_once(&fail_once, fail_hook_set); /* before any worker of ours starts */
    if (workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        workers = (size_t)(n > 0 ? n : 1) + 4;
        if (workers > 32)
            workers = 32;
    }
    cio_executor *ex = calloc(1, sizeof *ex);
    if (!ex || !(ex->threads = calloc(workers, sizeof *ex->threads))) {
        free(ex);
        errno = ENOMEM;
        return NULL;
    }
    ex->max_workers = workers;
    pthread_mutex_init(&ex->mu, NULL);
    pthread_mutex_init(&ex->join_mu, NULL);
    pthread_cond_init(&ex->cv, NULL);
    return ex;
}

size_t cio_executor_workers(const cio_executor *ex) { return ex->max_workers; }

static void job_cancelled(cio__fcb *cb, cio_future *f)
{
    job *j = CIO__CONTAINER_OF(cb, job, cancel_hook);
    if (f->state == CIO__CANCELLED)
        atomic_store_explicit(&j->cancelled, 1, memory_order_release);
}

/* Takes back a job that was never queued (loop thread). */
static void job_unsubmit(job *j)
{
    pthread_mutex_lock(&reg_mu);
    reg_unlink(j);
    pthread_mutex_unlock(&reg_mu);
    cio__fcb_remove(&j->cancel_hook);
    j->f.refs = 1;
    cio_release(&j->f);
}

cio_future *cio_run_in_executor(cio_executor *ex, cio_task_fn fn, void *arg)
{
    cio_loop *l = cio__loop_get(NULL);
    if (!l) {
        errno = -CIO_ENOLOOP;
        return NULL;
    }
    if (!fn) {
        errno = EINVAL;
        return NULL;
    }
    if (!ex) {
        if (!(ex = cio__default_executor(l)))
            return NULL;
    }
    loop_reg *r = reg_for(l);
    job *j = r ? calloc(1, sizeof *j) : NULL;
    if (!j) {
        errno = ENOMEM;
        return NULL;
    }
    cio_future *f = &j->f;
    f->loop = l;
    cio__list_init(&f->callbacks);
    f->refs = 2; /* the caller's and the worker's */
    f->in_all = 1;
    cio__list_push_back(&l->all, &f->all);
    j->fn = fn;
    j->arg = arg;
    cio__fcb_add(f, &j->cancel_hook, job_cancelled);
    pthread_mutex_lock(&reg_mu);
    cio__list_push_back(&r->jobs, &j->reg_link);
    j->reg = r;
    pthread_mutex_unlock(&reg_mu);

    pthread_mutex_lock(&ex->mu);
    if (ex->shutdown) {
        pthread_mutex_unlock(&ex->mu);
        job_unsubmit(j);
        errno = ESHUTDOWN;
        return NULL;
    }
    if (ex->tail)
        ex->tail->next = j;
    else
        ex->head = j;
    ex->tail = j;
    ex->nqueued++;
    /* Start a worker when the idle ones are not enough for the queued jobs
     * (as ThreadPoolExecutor does).  A worker that was signalled but has not
     * woken up yet still counts as idle, and the job it will take as queued:
     * comparing the two counts keeps one idle worker from standing in for
     * several jobs submitted in a row. */
    if (ex->nqueued > ex->nidle && ex->nthreads < ex->max_workers) {
        if (pthread_create(&ex->threads[ex->nthreads], NULL, worker, ex) == 0) {
            ex->nthreads++;
            ex->nlive++;
        }
    }
    if (ex->nthreads == 0) { /* could not start any thread */
        ex->head = ex->tail = NULL;
        ex->nqueued = 0;
        pthread_mutex_unlock(&ex->mu);
        job_unsubmit(j);
        errno = EAGAIN;
        return NULL;
    }
    bool idle = ex->nidle > 0;
    pthread_mutex_unlock(&ex->mu);
    /* signalled after unlocking: a worker woken while we still held the
     * lock would only block on it again */
    if (idle)
        pthread_cond_signal(&ex->cv);
    return f;
}

int cio_to_thread(cio_task_fn fn, void *arg, void **result)
{
    if (result)
        *result = NULL;
    if (!cio__current())
        return CIO_ENOTASK;
    cio_future *f = cio_run_in_executor(NULL, fn, arg);
    if (!f)
        return -errno;
    int rc = cio_await(f, result);
    /* The job finished, then this task was cancelled before it ran again:
     * the cancellation wins, but the result is still handed over (it may be
     * memory to free) instead of dying with the future. */
    if (rc == -ECANCELED && result && cio_done(f) && !cio_cancelled(f))
        cio_result(f, result);
    cio_release(f);
    return rc;
}

/* A queued job dropped by shutdown(cancel_pending), on its loop's thread. */
static void cancel_queued(void *arg)
{
    job *j = arg;
    pthread_mutex_lock(&reg_mu);
    reg_unlink(j);
    j->posted_cb = false;
    pthread_mutex_unlock(&reg_mu);
    cio_cancel(&j->f, "executor shut down");
    cio_release(&j->f); /* the worker's reference: it will never run */
}

int cio_executor_shutdown(cio_executor *ex, bool wait, bool cancel_pending)
{
    pthread_mutex_lock(&ex->mu);
    ex->shutdown = true;
    job *pending = NULL;
    if (cancel_pending) {
        pending = ex->head;
        ex->head = ex->tail = NULL;
        ex->nqueued = 0;
    }
    pthread_cond_broadcast(&ex->cv);
    pthread_mutex_unlock(&ex->mu);
    while (pending) {
        job *j = pending;
        pending = j->next;
        atomic_store_explicit(&j->cancelled, 1, memory_order_release);
        pthread_mutex_lock(&reg_mu);
        if (j->orphan) { /* its loop is gone */
            bool mine = j->orphan_free;
            pthread_mutex_unlock(&reg_mu);
            if (mine)
                cio_release(&j->f);
            continue;
        }
        cio_loop *l = j->reg->loop;
        if (cio__tls_running == l) { /* on its loop, running: cancel now */
            reg_unlink(j);
            pthread_mutex_unlock(&reg_mu);
            cio_cancel(&j->f, "executor shut down");
            cio_release(&j->f);
            continue;
        }
        j->posted_cb = true;
        if (cio_call_soon_threadsafe(l, cancel_queued, j) < 0) {
            j->posted_cb = false; /* out of memory: leaked */
            reg_unlink(j);
        }
        pthread_mutex_unlock(&reg_mu);
    }
    if (wait) {
        /* After shutdown is set nthreads no longer grows; join_mu keeps two
         * waiting shutdowns from joining the same thread twice. */
        pthread_mutex_lock(&ex->join_mu);
        pthread_mutex_lock(&ex->mu);
        size_t n = ex->nthreads;
        pthread_mutex_unlock(&ex->mu);
        for (size_t i = 0; i < n; i++)
            pthread_join(ex->threads[i], NULL);
        pthread_mutex_lock(&ex->mu);
        ex->nthreads = 0;
        pthread_mutex_unlock(&ex->mu);
        pthread_mutex_unlock(&ex->join_mu);
    }
    return 0;
}

void cio_executor_free(cio_executor *ex)
{
    if (!ex)
        return;
    cio_executor_shutdown(ex, true, false);
    pthread_mutex_destroy(&ex->mu);
    pthread_mutex_destroy(&ex->join_mu);
    pthread_cond_destroy(&ex->cv);
    free(ex->threads);
    free(ex);
}

/* ---- the loop's default executor ---------------------------------------- */

/* The default executor is the arg of this hook (cio__loop_hook_arg). */
static void default_shutdown(cio_loop *l, void *arg)
{
    (void)l;
    cio_executor_free(arg);
}

cio_executor *cio__default_executor(cio_loop *l)
{
    cio_executor *ex = cio__loop_hook_arg(l, default_shutdown);
    if (!ex) {
        /* Shutdown hooks run last-added first: registering the loop's job
         * registry before the default executor's hook lets the default
         * executor be joined (its completions posted as usual) before the
         * jobs of other executors are orphaned. */
        if (!reg_for(l)) {
            errno = ENOMEM;
            return NULL;
        }
        if (!(ex = cio_executor_new(0)))
            return NULL;
        cio__loop_add_shutdown_hook(l, default_shutdown, ex);
        if (!(ex = cio__loop_hook_arg(l, default_shutdown)))
            errno = ENOMEM; /* no memory for the hook: it ran at once */
    }
    return ex;
}

bool cio__default_executor_started(const cio_loop *l) { return cio__loop_hook_arg(l, default_shutdown) != NULL; }

cio_executor *cio_default_executor(cio_loop *loop)
{
    cio_loop *l = cio__loop_get(loop);
    if (!l) {
        errno = -CIO_ENOLOOP;
        return NULL;
    }
    return cio__default_executor(l);
}

/* ---- run_coroutine_threadsafe ------------------------------------------- */

struct cio_tfuture {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs; /* under mu: the caller's and the loop side's */
    bool done, cancel_requested;
    int code;
    void *result;
    char *msg; /* the task's error message (a copy), or NULL */
    cio_loop *loop;
    cio_task_fn fn;
    void *arg;
    cio_task *task; /* loop thread only */
    cio__fcb hook;  /* on task: completes tf when the task is done */
};

static void tf_unref(cio_tfuture *tf)
{
    pthread_mutex_lock(&tf->mu);
    int left = --tf->refs;
    pthread_mutex_unlock(&tf->mu);
    if (left == 0) {
        pthread_mutex_destroy(&tf->mu);
        pthread_cond_destroy(&tf->cv);
        free(tf->msg);
        free(tf);
    }
}

static void tf_complete(cio_tfuture *tf, int code, void *result, char *msg)
{
    pthread_mutex_lock(&tf->mu);
    tf->done = true;
    tf->code = code;
    tf->result = result;
    tf->msg = msg;
    pthread_cond_broadcast(&tf->cv);
    pthread_mutex_unlock(&tf->mu);
    tf_unref(tf);
}

/* An internal completion hook rather than a done callback: it runs the
 * moment the task completes, not on a later loop iteration, so a task that
 * cio_run() cancels on its way out (after which the loop closes and drops
 * any callback still scheduled) still reports to the waiting thread.  It
 * only touches tf and gives back the spawn reference, which is safe here:
 * the loop holds its own reference to a task until it has been reaped. */
static void tf_task_done(cio__fcb *cb, cio_future *f)
{
    cio_tfuture *tf = CIO__CONTAINER_OF(cb, cio_tfuture, hook);
    void *res = NULL;
    int code = cio_result(f, &res);
    /* the message travels with the error, as the exception object does in
     * asyncio's concurrent future (a failed copy leaves it out) */
    const char *m = code < 0 ? cio_error_message(f) : NULL;
    tf->task = NULL;
    char *msg = m ? strdup(m) : NULL;
    cio_release(f);
    tf_complete(tf, code, res, msg);
}

static void tf_start(void *arg)
{
    cio_tfuture *tf = arg;
    pthread_mutex_lock(&tf->mu);
    bool cancelled = tf->cancel_requested;
    pthread_mutex_unlock(&tf->mu);
    if (cancelled) {
        tf_complete(tf, -ECANCELED, NULL, NULL);
        return;
    }
    tf->task = cio_spawn_ex(tf->loop, tf->fn, tf->arg, NULL);
    if (!tf->task) {
        tf_complete(tf, -errno, NULL, NULL);
        return;
    }
    cio__fcb_add(tf->task, &tf->hook, tf_task_done);
}

static void tf_cancel(void *arg)
{
    cio_tfuture *tf = arg;
    if (tf->task)
        cio_cancel(tf->task, NULL);
    tf_unref(tf);
}

cio_tfuture *cio_run_coroutine_threadsafe(cio_loop *loop, cio_task_fn fn, void *arg)
{
    if (!loop || !fn) {
        errno = EINVAL;
        return NULL;
    }
    cio_tfuture *tf = calloc(1, sizeof *tf);
    if (!tf) {
        errno = ENOMEM;
        return NULL;
    }
    pthread_mutex_init(&tf->mu, NULL);
    /* timed waits on the monotonic clock: a wall-clock step must not cut a
     * timeout short or stretch it */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&tf->cv, &ca);
    pthread_condattr_destroy(&ca);
    tf->refs = 2;
    tf->loop = loop;
    tf->fn = fn;
    tf->arg = arg;
    int rc = cio_call_soon_threadsafe(loop, tf_start, tf);
    if (rc < 0) {
        pthread_mutex_destroy(&tf->mu);
        pthread_cond_destroy(&tf->cv);
        free(tf);
        errno = -rc;
        return NULL;
    }
    return tf;
}

int cio_tfuture_wait(cio_tfuture *tf, double timeout, void **result)
{
    if (result)
        *result = NULL;
    pthread_mutex_lock(&tf->mu);
    if (timeout <= 0) {
        /* expired already (asyncio's concurrent Future.result(timeout<=0)) */
    } else if (!tf->done && timeout < 1e9) {
        /* the deadline in whole nanoseconds: tv_nsec stays below 1e9 */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)(timeout * 1e9);
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        while (!tf->done)
            if (pthread_cond_timedwait(&tf->cv, &tf->mu, &ts) == ETIMEDOUT)
                break;
    } else { /* CIO_NO_TIMEOUT (or 30 years and more, which is the same) */
        while (!tf->done)
            pthread_cond_wait(&tf->cv, &tf->mu);
    }
    int rc = tf->done ? tf->code : -ETIMEDOUT;
    if (tf->done && result)
        *result = tf->result;
    pthread_mutex_unlock(&tf->mu);
    return rc;
}

const char *cio_tfuture_error_message(cio_tfuture *tf)
{
    pthread_mutex_lock(&tf->mu);
    const char *m = tf->done ? tf->msg : NULL;
    pthread_mutex_unlock(&tf->mu);
    return m;
}

bool cio_tfuture_done(cio_tfuture *tf)
{
    pthread_mutex_lock(&tf->mu);
    bool d = tf->done;
    pthread_mutex_unlock(&tf->mu);
    return d;
}

bool cio_tfuture_cancel(cio_tfuture *tf)
{
    pthread_mutex_lock(&tf->mu);
    if (tf->done || tf->cancel_requested) {
        pthread_mutex_unlock(&tf->mu);
        return false;
    }
    tf->cancel_requested = true;
    tf->refs++;
    pthread_mutex_unlock(&tf->mu);
    if (cio_call_soon_threadsafe(tf->loop, tf_cancel, tf) < 0) {
        tf_unref(tf);
        return false;
    }
    return true;
}

void cio_tfuture_free(cio_tfuture *tf)
{
    if (tf)
        tf_unref(tf);
}
