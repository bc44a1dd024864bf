/* One loop per core: cio_run_threads() runs the same main task in N
 * threads, each with its own loop (shared nothing).  Servers in each thread
 * bind the same port with reuse_port, and the kernel spreads connections
 * over the threads.  Loops talk to each other only through
 * cio_call_soon_threadsafe and cio_run_coroutine_threadsafe. */
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
} gate;

typedef struct worker {
    pthread_t th;
    gate *g;
    size_t index, n;
    bool pin;
    cio_task_fn main;
    void *arg;
    int rc;
    void *result;
} worker;

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
    w->rc = cio_run(w->main, w->arg, &w->result);
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
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    int rc = 0;
    size_t started = 0; /* threads 1..started exist */
    for (size_t i = 0; i < nthreads; i++) {
        ws[i] = (worker){.g = &g, .index = i, .n = nthreads, .pin = pin_cpus, .main = main, .arg = arg};
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
