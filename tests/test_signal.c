/* SPDX-License-Identifier: MIT */
/* Signals: cio_signal_wait, add/remove_signal_handler (and the previous
 * disposition coming back), delivery while the loop is busy, and cio_run's
 * SIGINT handling (in child processes).
 *
 * Exit 0 = pass. */
#include "check.h"
#include "lib/child.h"

#include <stdatomic.h>

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void raise_cb(void *arg) { raise((int)(intptr_t)arg); }

static void *kill_thread(void *arg)
{
    usleep(5000);
    kill(getpid(), (int)(intptr_t)arg);
    return NULL;
}

static bool same_disposition(int signo, const struct sigaction *before)
{
    struct sigaction now;
    sigaction(signo, NULL, &now);
    return now.sa_handler == before->sa_handler;
}

/* ---- cio_signal_wait ------------------------------------------------------- */

static int handler_calls;
static void count_handler(void *arg)
{
    handler_calls += (int)(intptr_t)arg;
}

/* Lets the loop run until the handler has been called n times (bounded):
 * how long a signal takes to come through depends on the scheduler. */
static void wait_calls(int n)
{
    for (int i = 0; i < 2000 && handler_calls < n; i++)
        cio_sleep(0.001);
}


static int sig_rc[4];
static void *sig_waiter(void *arg)
{
    int i = (int)(intptr_t)arg;
    sig_rc[i] = cio_signal_wait(SIGUSR1);
    return NULL;
}

static void *t_signal_wait(void *arg)
{
    (void)arg;
    cio_loop *l = cio_loop_current();
    struct sigaction before;
    sigaction(SIGUSR1, NULL, &before);
    CHECK(before.sa_handler == SIG_DFL);
    /* raised from a timer callback */
    cio_call_later(l, 0.005, raise_cb, (void *)SIGUSR1, NULL);
    CHECK_EQ(cio_signal_wait(SIGUSR1), SIGUSR1);
    CHECK(same_disposition(SIGUSR1, &before)); /* no waiter left: back to default */
    /* sent by another thread with kill() */
    memset(sig_rc, 0, sizeof sig_rc);
    cio_task *k = cio_spawn(sig_waiter, (void *)0);
    cio_yield(); /* parked: the handler is in place before the thread starts */
    pthread_t th;
    pthread_create(&th, NULL, kill_thread, (void *)SIGUSR1);
    cio_await(k, NULL);
    CHECK_EQ(sig_rc[0], SIGUSR1);
    cio_release(k);
    pthread_join(th, NULL);
    /* several waiters all wake */
    memset(sig_rc, 0, sizeof sig_rc);
    cio_task *a = cio_spawn(sig_waiter, (void *)0), *b = cio_spawn(sig_waiter, (void *)1);
    cio_yield();
    raise(SIGUSR1);
    cio_await(a, NULL);
    cio_await(b, NULL);
    CHECK_EQ(sig_rc[0], SIGUSR1);
    CHECK_EQ(sig_rc[1], SIGUSR1);
    cio_release(a);
    cio_release(b);
    /* a different signal does not wake it */
    memset(sig_rc, 0, sizeof sig_rc);
    a = cio_spawn(sig_waiter, (void *)0);
    cio_yield();
    handler_calls = 0;
    CHECK_EQ(cio_add_signal_handler(l, SIGUSR2, count_handler, (void *)1), 0);
    cio_call_soon(l, raise_cb, (void *)SIGUSR2, NULL);
    wait_calls(1);
    CHECK_EQ(handler_calls, 1);
    CHECK_EQ(sig_rc[0], 0);
    CHECK(!cio_done(a));
    CHECK(cio_remove_signal_handler(l, SIGUSR2));
    raise(SIGUSR1);
    cio_await(a, NULL);
    CHECK_EQ(sig_rc[0], SIGUSR1);
    cio_release(a);
    /* bad signals */
    CHECK_EQ(cio_signal_wait(SIGKILL), -EINVAL);
    CHECK_EQ(cio_signal_wait(SIGSTOP), -EINVAL);
    CHECK_EQ(cio_signal_wait(0), -EINVAL);
    CHECK_EQ(cio_signal_wait(1000), -EINVAL);
    CHECK(same_disposition(SIGUSR1, &before));
    return NULL;
}

/* ---- handlers ----------------------------------------------------------------- */


static volatile sig_atomic_t prev_handler_calls;
static void prev_handler(int signo)
{
    (void)signo;
    prev_handler_calls++;
}

static void *t_handlers(void *arg)
{
    (void)arg;
    cio_loop *l = cio_loop_current();
    struct sigaction prev = {.sa_handler = prev_handler}, saved;
    sigemptyset(&prev.sa_mask);
    sigaction(SIGUSR2, &prev, &saved);
    handler_calls = 0;
    prev_handler_calls = 0;
    CHECK_EQ(cio_add_signal_handler(l, SIGUSR2, count_handler, (void *)1), 0);
    cio_call_later(l, 0.002, raise_cb, (void *)SIGUSR2, NULL);
    wait_calls(1);
    cio_sleep(0.005);
    CHECK_EQ(handler_calls, 1);
    CHECK_EQ(prev_handler_calls, 0); /* replaced while installed */
    /* each delivery calls it once; never from inside the signal handler */
    raise(SIGUSR2);
    CHECK_EQ(handler_calls, 1);
    wait_calls(2);
    CHECK_EQ(handler_calls, 2);
    raise(SIGUSR2);
    wait_calls(3);
    raise(SIGUSR2);
    wait_calls(4);
    cio_sleep(0.002);
    CHECK_EQ(handler_calls, 4);
    /* replacing the callback */
    CHECK_EQ(cio_add_signal_handler(NULL, SIGUSR2, count_handler, (void *)10), 0);
    raise(SIGUSR2);
    wait_calls(14);
    CHECK_EQ(handler_calls, 14);
    /* a waiter and a handler for the same signal both get it */
    cio_call_later(l, 0.002, raise_cb, (void *)SIGUSR2, NULL);
    CHECK_EQ(cio_signal_wait(SIGUSR2), SIGUSR2);
    wait_calls(24);
    CHECK_EQ(handler_calls, 24);
    /* removing restores the previous disposition */
    CHECK(cio_remove_signal_handler(l, SIGUSR2));
    CHECK(!cio_remove_signal_handler(l, SIGUSR2));
    CHECK(same_disposition(SIGUSR2, &prev));
    raise(SIGUSR2);
    CHECK_EQ(prev_handler_calls, 1);
    cio_sleep(0.002);
    CHECK_EQ(handler_calls, 24);
    /* SIG_IGN comes back too */
    struct sigaction ign = {.sa_handler = SIG_IGN};
    sigaction(SIGUSR2, &ign, NULL);
    CHECK_EQ(cio_add_signal_handler(l, SIGUSR2, count_handler, (void *)1), 0);
    CHECK(cio_remove_signal_handler(l, SIGUSR2));
    CHECK(same_disposition(SIGUSR2, &ign));
    sigaction(SIGUSR2, &saved, NULL);
    /* bad arguments */
    CHECK_EQ(cio_add_signal_handler(l, SIGKILL, count_handler, NULL), -EINVAL);
    CHECK_EQ(cio_add_signal_handler(l, SIGSTOP, count_handler, NULL), -EINVAL);
    CHECK_EQ(cio_add_signal_handler(l, 0, count_handler, NULL), -EINVAL);
    CHECK_EQ(cio_add_signal_handler(l, 65, count_handler, NULL), -EINVAL);
    CHECK_EQ(cio_add_signal_handler(l, SIGUSR1, NULL, NULL), -EINVAL);
    CHECK(!cio_remove_signal_handler(l, SIGKILL));
    CHECK(!cio_remove_signal_handler(l, SIGUSR1));
    return NULL;
}

/* Closing a loop with a handler still installed puts the disposition back. */
static void test_close_restores(void)
{
    check_current = "close_restores";
    int fails = check_failures;
    struct sigaction before;
    sigaction(SIGUSR1, NULL, &before);
    cio_loop *l = cio_loop_new();
    CHECK_EQ(cio_add_signal_handler(l, SIGUSR1, count_handler, NULL), 0);
    CHECK(!same_disposition(SIGUSR1, &before));
    cio_loop_close(l);
    CHECK(same_disposition(SIGUSR1, &before));
    fprintf(stderr, "%s %s\n", check_failures == fails ? "ok  " : "FAIL", check_current);
}

/* Two loops, one signal: the last to add it gets it ("one loop at a time").
 * The first one removing its handler afterwards must not take the signal
 * away from the second (in a child: if it does, SIGUSR1 kills it). */
static int calls_a, calls_b;
static void cb_a(void *arg) { (void)arg; calls_a++; }
static void cb_b(void *arg) { (void)arg; calls_b++; }

static void run_loop_briefly(cio_loop *l)
{
    cio_future *f = cio_future_new(l);
    cio_call_later(l, 0.01, check_set_done, f, NULL);
    cio_loop_run_until_complete(l, f, NULL);
    cio_release(f);
}

static void test_two_loops_one_signal(void)
{
    check_current = "two_loops_one_signal";
    int fails = check_failures;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        cio_loop *a = cio_loop_new(), *b = cio_loop_new();
        cio_add_signal_handler(a, SIGUSR1, cb_a, NULL);
        cio_add_signal_handler(b, SIGUSR1, cb_b, NULL);
        raise(SIGUSR1);
        run_loop_briefly(b);
        run_loop_briefly(a);
        if (calls_b != 1 || calls_a != 0)
            _exit(2);
        cio_remove_signal_handler(a, SIGUSR1); /* a no longer has it */
        raise(SIGUSR1);
        run_loop_briefly(b);
        if (calls_b != 2)
            _exit(3);
        cio_loop_close(a);
        cio_loop_close(b);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st), 0);
    fprintf(stderr, "%s %s\n", check_failures == fails ? "ok  " : "FAIL", check_current);
}

/* ---- delivery while the loop is busy --------------------------------------- */

static volatile int got_flag;
static void flag_handler(void *arg)
{
    (void)arg;
    got_flag = 1;
}

static void *t_busy_loop_delivery(void *arg)
{
    (void)arg;
    cio_loop *l = cio_loop_current();
    got_flag = 0;
    CHECK_EQ(cio_add_signal_handler(l, SIGUSR1, flag_handler, NULL), 0);
    raise(SIGUSR1);
    /* the loop always has work (this task yields): the signal must still
     * get through within a bounded number of iterations */
    int i;
    for (i = 0; i < 100000 && !got_flag; i++)
        cio_yield();
    CHECK(got_flag);
    CHECK(i < 1000);
    /* the same for a waiting task while another one keeps the loop busy */
    CHECK(cio_remove_signal_handler(l, SIGUSR1));
    return NULL;
}

static volatile int spin_stop;
static void *spinner(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000 && !spin_stop; i++)
        cio_yield();
    return NULL;
}

static void *t_busy_loop_wait(void *arg)
{
    (void)arg;
    spin_stop = 0;
    cio_task *s = cio_spawn(spinner, NULL);
    cio_call_later(cio_loop_current(), 0.002, raise_cb, (void *)SIGUSR1, NULL);
    CHECK_EQ(cio_signal_wait(SIGUSR1), SIGUSR1);
    CHECK(!cio_done(s)); /* woken while the spinner still ran */
    spin_stop = 1;
    cio_await(s, NULL);
    cio_release(s);
    return NULL;
}

/* ---- cio_run and SIGINT -------------------------------------------------------- */

static int cleanup_marker = -1; /* a pipe write end in the child */

static void *run_main_sigint(void *arg)
{
    (void)arg;
    cio_call_later(cio_loop_current(), 0.01, raise_cb, (void *)SIGINT, NULL);
    int rc = cio_sleep(30);
    if (rc == -ECANCELED) {
        ssize_t w = write(cleanup_marker, "c", 1); /* cleanup ran */
        (void)w;
    }
    return NULL;
}

static void *run_main_sigint_ignored(void *arg)
{
    (void)arg;
    cio_call_later(cio_loop_current(), 0.01, raise_cb, (void *)SIGINT, NULL);
    int rc = cio_sleep(30);
    if (rc == -ECANCELED)
        cio_task_uncancel(cio_current_task());
    /* a second Ctrl-C gets the default action: the process dies */
    cio_call_later(cio_loop_current(), 0.01, raise_cb, (void *)SIGINT, NULL);
    cio_sleep(30);
    return NULL;
}

static void *child_of_main(void *arg)
{
    (void)arg;
    int rc = cio_sleep(30);
    if (rc == -ECANCELED) {
        ssize_t w = write(cleanup_marker, "k", 1);
        (void)w;
    }
    return NULL;
}

static void *run_main_sigint_child(void *arg)
{
    (void)arg;
    cio_task *c = cio_spawn(child_of_main, NULL);
    cio_release(c);
    return run_main_sigint(NULL);
}

/* cio_run_threads: Ctrl-C in thread 0 ends every thread's main (raised
 * once all three are running: a main cancelled before it starts never runs
 * its body, so it could not leave its mark) */
static atomic_int threads_started;

static void *threads_main_sigint(void *arg)
{
    (void)arg;
    size_t i = cio_thread_index();
    atomic_fetch_add(&threads_started, 1);
    if (i == 0) {
        while (atomic_load(&threads_started) < 3)
            cio_sleep(0.001);
        raise(SIGINT);
    }
    int rc = cio_sleep(30);
    if (rc == -ECANCELED) {
        char c = (char)('0' + i);
        ssize_t w = write(cleanup_marker, &c, 1);
        (void)w;
    }
    return NULL;
}

typedef struct run_job {
    cio_task_fn fn;
    size_t threads;
} run_job;

/* In the child: fn under cio_run (threads 0) or cio_run_threads(threads),
 * cleanup marks written to fd; the exit code says how it ended. */
static void run_in_child(void *arg, int fd)
{
    run_job *j = arg;
    signal(SIGINT, SIG_DFL);
    cleanup_marker = fd;
    int rc = j->threads ? cio_run_threads(j->threads, j->fn, NULL, false, NULL) : cio_run(j->fn, NULL, NULL);
    struct sigaction sa;
    sigaction(SIGINT, NULL, &sa);
    if (sa.sa_handler != SIG_DFL)
        _exit(3);
    _exit(rc == -EINTR ? 0 : rc == -ECANCELED ? 2 : 1);
}

/* Runs fn (run_in_child) in a child process, collecting what it writes to
 * cleanup_marker into marks and its wait status into *status. */
static int run_child_n(cio_task_fn fn, size_t threads, char *marks, size_t cap, int *status)
{
    run_job j = {fn, threads};
    *status = child_pipe(run_in_child, &j, marks, cap);
    return *status == -1 ? -1 : 0;
}

static int run_child(cio_task_fn fn, char *marks, size_t cap, int *status)
{
    return run_child_n(fn, 0, marks, cap, status);
}

static void test_cio_run_sigint(void)
{
    check_current = "cio_run_sigint";
    int fails = check_failures;
    char marks[16];
    int st = 0;
    /* SIGINT cancels the main task; cio_run returns -EINTR; the disposition
     * is the default again afterwards */
    CHECK_EQ(run_child(run_main_sigint, marks, sizeof marks, &st), 0);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);
    CHECK(strcmp(marks, "c") == 0);
    /* tasks left running are cancelled and awaited as usual */
    CHECK_EQ(run_child(run_main_sigint_child, marks, sizeof marks, &st), 0);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);
    CHECK(strchr(marks, 'c') && strchr(marks, 'k'));
    /* a second SIGINT: default action */
    CHECK_EQ(run_child(run_main_sigint_ignored, marks, sizeof marks, &st), 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGINT);
    /* cio_run_threads: thread 0 gets it, every thread's main is cancelled,
     * and the call returns thread 0's -EINTR */
    CHECK_EQ(run_child_n(threads_main_sigint, 3, marks, sizeof marks, &st), 0);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);
    CHECK(strlen(marks) == 3 && strchr(marks, '0') && strchr(marks, '1') && strchr(marks, '2'));
    fprintf(stderr, "%s %s\n", check_failures == fails ? "ok  " : "FAIL", check_current);
}

/* ---- a signal while a compact task runs ------------------------------------ */
/* The kernel writes its signal frame (1.5 to 3.4 KiB, by the CPU's vector
 * state) on the interrupted stack unless the handler has SA_ONSTACK and the
 * thread an alternate stack.  On a compact task's slot it would overwrite
 * the slots packed below it.  Compact tasks parked on both sides of the one
 * the signal interrupts keep a pattern in a local array; after the signal
 * they all wake and check it (and the slots' canaries are checked at every
 * switch out of a task). */
#define NPARKED 24

typedef struct parked_arg {
    cio_event *ev;
    int id;
    bool intact;
} parked_arg;

static void *parked_compact(void *arg)
{
    parked_arg *a = arg;
    volatile unsigned char pat[64];
    for (int i = 0; i < 64; i++)
        pat[i] = (unsigned char)(a->id * 7 + i);
    cio_event_wait(a->ev);
    bool ok = true;
    for (int i = 0; i < 64; i++)
        ok &= pat[i] == (unsigned char)(a->id * 7 + i);
    a->intact = ok;
    return NULL;
}

/* tgkill itself, not raise(): glibc's raise blocks every signal on a
 * 128-byte sigset_t of its own, more stack than the point of the test. */
static void *interrupted_compact(void *arg)
{
    (void)arg;
    syscall(SYS_tgkill, getpid(), gettid(), SIGUSR1);
    return NULL;
}

static void *t_signal_on_compact_task(void *arg)
{
    (void)arg;
    cio_loop *l = cio_loop_current();
    handler_calls = 0;
    CHECK_EQ(cio_add_signal_handler(l, SIGUSR1, count_handler, (void *)1), 0);
    struct sigaction sa;
    sigaction(SIGUSR1, NULL, &sa);
    CHECK(sa.sa_flags & SA_ONSTACK);
    stack_t ss;
    CHECK_EQ(sigaltstack(NULL, &ss), 0);
    CHECK(!(ss.ss_flags & SS_DISABLE) && ss.ss_size >= 16 * 1024);

    const cio_task_opts compact = {.stack_size = CIO_STACK_COMPACT};
    cio_event *ev = cio_event_new();
    parked_arg pa[NPARKED];
    cio_task *pt[NPARKED];
    for (int i = 0; i < NPARKED; i++) {
        pa[i] = (parked_arg){.ev = ev, .id = i};
        if (i == NPARKED / 2) {
            cio_task *k = cio_spawn_ex(l, interrupted_compact, NULL, &compact);
            CHECK(k != NULL);
            cio_release(k);
        }
        pt[i] = cio_spawn_ex(l, parked_compact, &pa[i], &compact);
        CHECK(pt[i] != NULL);
    }
    wait_calls(1);
    CHECK_EQ(handler_calls, 1);
    cio_event_set(ev);
    for (int i = 0; i < NPARKED; i++) {
        CHECK_EQ(cio_await(pt[i], NULL), 0);
        CHECK(pa[i].intact);
        cio_release(pt[i]);
    }
    cio_event_free(ev);
    CHECK_EQ(cio_remove_signal_handler(l, SIGUSR1), true);
    return NULL;
}

/* The loop lends its thread an alternate stack only while it runs: the
 * thread's own (none here) is back afterwards. */
static void test_compact_signal(void)
{
    stack_t before, after;
    CHECK_EQ(sigaltstack(NULL, &before), 0);
    check_run_task_test("t_signal_on_compact_task", t_signal_on_compact_task);
    CHECK_EQ(sigaltstack(NULL, &after), 0);
    CHECK_EQ(after.ss_flags, before.ss_flags);
    CHECK(after.ss_sp == before.ss_sp);
}

int main(void)
{
    RUN_TASK_TEST(t_signal_wait);
    RUN_TASK_TEST(t_handlers);
    RUN_TEST(test_close_restores);
    RUN_TEST(test_two_loops_one_signal);
    RUN_TASK_TEST(t_busy_loop_delivery);
    RUN_TASK_TEST(t_busy_loop_wait);
    RUN_TEST(test_cio_run_sigint);
    RUN_TEST(test_compact_signal);
    return check_exit();
}
