/* SPDX-License-Identifier: MIT */
/* to_thread: the round trip of one job through the default executor.
 *
 * One task calls cio_to_thread(empty_fn) N times in a row: submit to the
 * default executor (a worker wakes up), the worker runs the empty function
 * and posts the completion through the loop's thread-safe inbox (eventfd),
 * the loop wakes up and resumes the task.  The executor's threads are
 * started by a warm-up before the clock runs.
 *
 *   floor  the same hand-off with nothing but the system calls it rests on:
 *          a bare worker thread waiting on a pthread condition variable,
 *          signalled under its mutex, answering through an eventfd that
 *          the main thread waits for in epoll_wait (what an ideal executor
 *          round trip costs on this machine and kernel).
 *
 * Prints `cio=US floor=US` (best of REPS repetitions, microseconds per
 * round trip) and a `#` line with the median and the CPU time.
 * Env: BENCH_TO_THREAD_N (round trips per repetition, default 100000),
 * BENCH_TO_THREAD_REPS (default 3).
 */
#include "bench_common.h"
#include "cio.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define DEFAULT_N 100000ul
#define DEFAULT_REPS 3ul
#define MAX_REPS 32

/* CPU time of the whole process (ns): next to the wall clock, it shows how
 * much of a figure is the machine being busy with something else. */
static uint64_t cpu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned long n_iter, n_reps;

static void *empty_fn(void *arg) { return arg; }

/* ---- floor: bare condition variable + eventfd + epoll ------------------- */

static pthread_mutex_t fl_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fl_cv = PTHREAD_COND_INITIALIZER;
static int fl_req, fl_efd = -1;
static bool fl_quit;

static void *fl_worker(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&fl_mu);
        while (!fl_req && !fl_quit)
            pthread_cond_wait(&fl_cv, &fl_mu);
        bool quit = fl_quit;
        fl_req = 0;
        pthread_mutex_unlock(&fl_mu);
        if (quit)
            return NULL;
        uint64_t one = 1;
        if (write(fl_efd, &one, sizeof one) != sizeof one)
            return NULL;
    }
}

/* us per round trip (best of n_reps), or -1. */
static double floor_us(unsigned long n)
{
    double best = -1;
    pthread_t th;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    fl_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    if (ep < 0 || fl_efd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fl_efd, &ev) < 0 ||
        pthread_create(&th, NULL, fl_worker, NULL) != 0) {
        if (ep >= 0)
            close(ep);
        if (fl_efd >= 0)
            close(fl_efd);
        return -1;
    }
    for (unsigned long r = 0; r <= n_reps; r++) { /* round 0 warms up */
        uint64_t t0 = bench_now_ns();
        for (unsigned long i = 0; i < n; i++) {
            pthread_mutex_lock(&fl_mu);
            fl_req = 1;
            pthread_cond_signal(&fl_cv);
            pthread_mutex_unlock(&fl_mu);
            uint64_t v;
            while (epoll_wait(ep, &ev, 1, -1) < 1) {
            }
            if (read(fl_efd, &v, sizeof v) != sizeof v)
                i--; /* spurious: wait again */
        }
        double us = (double)(bench_now_ns() - t0) / 1000.0 / (double)n;
        if (r > 0 && (best < 0 || us < best))
            best = us;
    }
    pthread_mutex_lock(&fl_mu);
    fl_quit = true;
    pthread_cond_signal(&fl_cv);
    pthread_mutex_unlock(&fl_mu);
    pthread_join(th, NULL);
    close(ep);
    close(fl_efd);
    return best;
}

/* ---- cio: cio_to_thread in one task --------------------------------------- */

typedef struct outcome {
    double us[MAX_REPS], cpu[MAX_REPS];
    int err;
} outcome;

static int round_trips(unsigned long n)
{
    for (unsigned long i = 0; i < n; i++) {
        void *res = NULL;
        int rc = cio_to_thread(empty_fn, (void *)(uintptr_t)(i + 1), &res);
        if (rc != 0)
            return rc;
        if (res != (void *)(uintptr_t)(i + 1))
            return -EINVAL;
    }
    return 0;
}

static void *bench_main(void *arg)
{
    outcome *o = arg;
    int rc = round_trips(n_iter / 20 ? n_iter / 20 : 1); /* warm up: start the workers */
    for (unsigned long r = 0; r < n_reps && rc == 0; r++) {
        uint64_t c0 = cpu_now_ns(), t0 = bench_now_ns();
        rc = round_trips(n_iter);
        o->us[r] = (double)(bench_now_ns() - t0) / 1000.0 / (double)n_iter;
        o->cpu[r] = (double)(cpu_now_ns() - c0) / 1000.0 / (double)n_iter;
    }
    if (rc != 0) {
        fprintf(stderr, "to_thread: cio_to_thread: %s\n", cio_strerror(rc));
        o->err = 1;
    }
    return NULL;
}

int main(void)
{
    static outcome o;

    n_iter = bench_env_ul("BENCH_TO_THREAD_N", DEFAULT_N);
    n_reps = bench_env_ul("BENCH_TO_THREAD_REPS", DEFAULT_REPS);
    if (n_reps > MAX_REPS)
        n_reps = MAX_REPS;
    double fl = floor_us(n_iter / 4 ? n_iter / 4 : 1);
    int rc = cio_run(bench_main, &o, NULL);
    if (rc != 0 || o.err) {
        fprintf(stderr, "to_thread: %s\n", rc ? cio_strerror(rc) : "a round failed");
        printf("cio=na floor=%.3f\n", fl);
        return 1;
    }
    printf("cio=%.3f floor=%.3f\n", bench_min(o.us, n_reps), fl);
    printf("# to_thread: cio %lu round trips x %lu reps, median %.3f us, CPU time (loop + worker) %.3f us per "
           "round trip; floor %lu round trips\n",
           n_iter, n_reps, bench_median(o.us, n_reps), bench_min(o.cpu, n_reps), n_iter / 4 ? n_iter / 4 : 1);
    return 0;
}
