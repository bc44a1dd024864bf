/* SPDX-License-Identifier: MIT */
/* One loop per core: cio_run_threads() runs the same main task in N
 * threads, each with its own loop (shared nothing).  Servers in each thread
 * bind the same port with reuse_port, and the kernel spreads connections
 * over the threads.  Loops talk to each other only through
 * cio_call_soon_threadsafe and cio_run_coroutine_threadsafe.
 *
 * Ctrl-C: only thread 0's cio_run hooks SIGINT (a signal has one owning
 * loop); when it cancels thread 0's main, every other thread's main is
 * cancelled through its loop's thread-safe queue, so the program winds
 * down as one cio_run would. */
#include "core/internal.h"

#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

static _Thread_local size_t thread_index;

size_t cio_thread_index(void) { return thread_index; }

/* Threads start their main only once all of them exist; if one cannot be
 * created, none runs. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state; /* 0 wait, 1 go, -1 abort */
    bool interrupted; /* Ctrl-C reached thread 0 */
} gate;

typedef struct worker {
    pthread_t th;
    gate *g;
    struct worker *all; /* the n workers */
    cio_loop *loop;     /* while its main runs (under g->mu) */
    cio_task *task;     /* its main, read only by its own thread's callbacks */
    size_t index, n;
    bool pin;
    cio_task_fn main;
    void *arg;
    int rc;
    void *result;
} worker;

static _Thread_local worker *cur_worker;

bool cio__threads_hook_sigint(void) { return !cur_worker || cur_worker->index == 0; }

void cio__threads_started(cio_loop *l, cio_task *main)
{
    worker *w = cur_worker;
    if (!w)
        return;
    w->task = main;
    pthread_mutex_lock(&w->g->mu);
    w->loop = l;
    bool late = w->g->interrupted; /* Ctrl-C came before this main started */
    pthread_mutex_unlock(&w->g->mu);
    if (late)
        cio_cancel(main, "interrupted by SIGINT");
}

void cio__threads_ending(void)
{
    worker *w = cur_worker;
    if (!w)
        return;
    pthread_mutex_lock(&w->g->mu);
    w->loop = NULL; /* no more posts: the loop is about to close */
    pthread_mutex_unlock(&w->g->mu);
    w->task = NULL;
}

/* On the worker's own loop: its main may have finished meanwhile (then
 * task is NULL, or done and cancelling it does nothing). */
static void cancel_main(void *arg)
{
    worker *w = arg;
    if (w->task)
        cio_cancel(w->task, "interrupted by SIGINT");
}

void cio__threads_interrupted(void)
{
    worker *me = cur_worker;
    if (!me)
        return;
    pthread_mutex_lock(&me->g->mu);
    me->g->interrupted = true;
    for (size_t i = 0; i < me->n; i++)
        if (&me->all[i] != me && me->all[i].loop)
            cio_call_soon_threadsafe(me->all[i].loop, cancel_main, &me->all[i]);
    pthread_mutex_unlock(&me->g->mu);
}

static void *run_one(void *p)
{
    worker *w = p;
    pthread_mutex_lock(&w->g->mu);
    while (w->g->state == 0)
        pthread_cond_wait(&w->g->cv, &w->g->mu);
    int go = w->g->state;
    pthread_mutex_unlock(&w->g->mu);
    if (go < 0)
        return NULL;
    thread_index = w->index;
    if (w->pin) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        if (ncpu > 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET((int)(w->index % (size_t)ncpu), &set);
            pthread_setaffinity_np(pthread_self(), sizeof set, &set); /* best effort */
        }
    }
    cur_worker = w;
    w->rc = cio_run(w->main, w->arg, &w->result);
    cur_worker = NULL;
    return NULL;
}

int cio_run_threads(size_t nthreads, cio_task_fn main, void *arg, bool pin_cpus, void **results)
{
    if (nthreads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = n > 0 ? (size_t)n : 1;
    }
    worker *ws = calloc(nthreads, sizeof *ws);
    if (!ws)
        return -ENOMEM;
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false};
    int rc = 0;
    size_t started = 0; /* threads 1..started exist */
    for (size_t i = 0; i < nthreads; i++) {
        ws[i] = (worker){.g = &g, .all = ws, .index = i, .n = nthreads, .pin = pin_cpus, .main = main, .arg = arg};
        if (i == 0)
            continue; /* thread 0 is the caller's */
        int e = pthread_create(&ws[i].th, NULL, run_one, &ws[i]);
        if (e) {
            rc = -e;
            break;
        }
        started = i;
    }
    pthread_mutex_lock(&g.mu);
    g.state = rc == 0 ? 1 : -1;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    if (rc == 0)
        run_one(&ws[0]);
    for (size_t i = 1; i <= started; i++)
        pthread_join(ws[i].th, NULL);
    thread_index = 0;
    for (size_t i = 0; i < nthreads && rc == 0; i++)
        if (i == 0 || i <= started)
            rc = ws[i].rc;
    if (results)
        for (size_t i = 0; i < nthreads; i++)
            results[i] = ws[i].result;
    free(ws);
    return rc;
}
