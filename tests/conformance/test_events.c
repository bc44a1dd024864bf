/* SPDX-License-Identifier: MIT */
/* CPython Lib/test/test_asyncio/test_events.py, ported (see conformance.h).
 *
 * The event loop's own API (run_until_complete, run_forever, stop,
 * call_soon / call_later / call_at and their handles, the thread-safe
 * call, run_in_executor, readers and writers, signal handlers, closing)
 * maps onto cio_loop_* / cio_call_* / cio_add_* one to one; the current
 * loop is cio_loop_current / cio_loop_set_current.  The subprocess tests
 * run on cio_process (asyncio.create_subprocess_*'s counterpart) instead
 * of SubprocessProtocol: echo.py is cat, echo2.py a shell line writing
 * OUT:<input> to stdout and ERR:<input> to stderr; transport.close() kills
 * the child.  Servers, connections and datagram endpoints run on streams,
 * cio_start_server and cio_udp_open instead of transports and protocols:
 * MyProto is a connection handler (events_fixture.h) whose states and byte
 * counts are asserted as CPython asserts the protocol's. */
#define CONF_FILE "test_events"
#include "conformance.h"
#include "events_fixture.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

/* ---- run_until_complete ------------------------------------------------------- */

static void *coro2_nested(void *arg)
{
    cio_loop *l = arg;
    CHECK(cio_loop_is_running(l));
    cio_future *f = cio_future_new(l);
    int rc = cio_loop_run_until_complete(l, f, NULL);
    cio_cancel(f, NULL);
    cio_release(f);
    return (void *)(intptr_t)rc;
}

/* RuntimeError: run_until_complete inside the running loop */
CONF_PLAIN(test_run_until_complete_nesting)
{
    cio_loop *l = cio_loop_new();
    cio_task *t = cio_spawn_ex(l, coro2_nested, l, NULL);
    void *rc = NULL;
    CHECK_EQ(cio_loop_run_until_complete(l, t, &rc), 0);
    CHECK_EQ((intptr_t)rc, CIO_ERUNNING);
    cio_release(t);
    close_clean(l);
}

static void *sleep_task(void *arg)
{
    cio_sleep(*(double *)arg);
    return NULL;
}

CONF_PLAIN(test_run_until_complete)
{
    cio_loop *l = cio_loop_new();
    double delay = 0.100;
    double t0 = cio_loop_time(l);
    cio_task *t = cio_spawn_ex(l, sleep_task, &delay, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), 0);
    double dt = cio_loop_time(l) - t0;
    CHECK(dt >= delay - 0.001); /* assertGreaterEqual(dt, delay - CLOCK_RES) */
    cio_release(t);
    close_clean(l);
}

static void *stop_then_sleep(void *arg)
{
    cio_loop_stop(arg);
    cio_sleep(0.1);
    return NULL;
}

/* RuntimeError 'Event loop stopped before Future completed' */
CONF_PLAIN(test_run_until_complete_stopped)
{
    cio_loop *l = cio_loop_new();
    cio_task *t = cio_spawn_ex(l, stop_then_sleep, l, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), CIO_EINVALSTATE);
    CHECK(!cio_done(t));
    cio_cancel(t, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), -ECANCELED);
    cio_release(t);
    close_clean(l);
}

/* ---- callbacks ------------------------------------------------------------------ */

CONF_PLAIN(test_call_later)
{
    cio_loop *l = cio_loop_new();
    results r = {.loop = l, .stop_at = 1};
    call c = {&r, "hello world", NULL};
    CHECK_EQ(cio_call_later(l, 0.1, append_cb, &c, NULL), 0);
    CHECK_EQ(cio_loop_run_forever(l), 0);
    CHECK_EQ(r.n, 1);
    CHECK(strcmp(r.got[0], "hello world") == 0);
    close_clean(l);
}

CONF_PLAIN(test_call_soon)
{
    cio_loop *l = cio_loop_new();
    results r = {.loop = l, .stop_at = 1};
    call c = {&r, "hello", "world"}; /* callback(arg1, arg2) */
    CHECK_EQ(cio_call_soon(l, append_cb, &c, NULL), 0);
    CHECK_EQ(cio_loop_run_forever(l), 0);
    CHECK_EQ(r.n, 2);
    CHECK(strcmp(r.got[0], "hello") == 0 && strcmp(r.got[1], "world") == 0);
    close_clean(l);
}

CONF_PLAIN(test_call_soon_threadsafe)
{
    cio_loop *l = cio_loop_new();
    results r = {.loop = l, .stop_at = 2};
    call hello = {&r, "hello", NULL}, world = {&r, "world", NULL};
    ts_thread t = {.loop = l, .c = &hello};
    sem_init(&t.lock, 0, 0); /* lock.acquire() */
    pthread_t th;
    pthread_create(&th, NULL, run_in_thread, &t);
    sem_wait(&t.lock); /* with lock: */
    cio_call_soon(l, append_cb, &world, NULL);
    CHECK_EQ(cio_loop_run_forever(l), 0);
    pthread_join(th, NULL);
    sem_destroy(&t.lock);
    CHECK_EQ(r.n, 2);
    CHECK(strcmp(r.got[0], "hello") == 0 && strcmp(r.got[1], "world") == 0);
    close_clean(l);
}

CONF_PLAIN(test_call_soon_threadsafe_same_thread)
{
    cio_loop *l = cio_loop_new();
    results r = {.loop = l, .stop_at = 2};
    call hello = {&r, "hello", NULL}, world = {&r, "world", NULL};
    CHECK_EQ(cio_call_soon_threadsafe(l, append_cb, &hello), 0);
    CHECK_EQ(cio_call_soon(l, append_cb, &world, NULL), 0);
    CHECK_EQ(cio_loop_run_forever(l), 0);
    CHECK_EQ(r.n, 2);
    CHECK(strcmp(r.got[0], "hello") == 0 && strcmp(r.got[1], "world") == 0);
    close_clean(l);
}

/* ---- executors ---------------------------------------------------------------- */

static _Thread_local int thread_mark; /* threading.get_ident() */

static void *ident_job(void *arg)
{
    *(void **)arg = &thread_mark;
    return (void *)"yo";
}

CONF_PLAIN(test_run_in_executor)
{
    cio_loop *l = cio_loop_new();
    cio_loop_set_current(l);
    void *ident = NULL;
    cio_future *f2 = cio_run_in_executor(NULL, ident_job, &ident);
    void *res = NULL;
    CHECK_EQ(cio_loop_run_until_complete(l, f2, &res), 0);
    CHECK(res && strcmp(res, "yo") == 0);
    CHECK(ident != NULL && ident != &thread_mark);
    cio_release(f2);
    cio_loop_set_current(NULL);
    close_clean(l);
}

static void *sleepy_job(void *arg)
{
    usleep(50000);
    atomic_store((atomic_int *)arg, 1);
    return NULL;
}

/* the future cancelled, the executor shut down, the loop closed: nothing
 * reaches the closed loop afterwards (the job's completion is dropped) */
CONF_PLAIN(test_run_in_executor_cancel)
{
    cio_loop *l = cio_loop_new();
    cio_loop_set_current(l);
    atomic_int finished = 0;
    cio_future *f2 = cio_run_in_executor(NULL, sleepy_job, &finished);
    CHECK(cio_cancel(f2, NULL));
    cio_executor_shutdown(cio_default_executor(l), true, false);
    CHECK_EQ(cio_loop_close(l), 0);
    usleep(100000);
    CHECK(cio_cancelled(f2)); /* still as it was: no completion came in */
    cio_release(f2);
}

/* ---- readers and writers ----------------------------------------------------- */

CONF_PLAIN(test_reader_callback)
{
    cio_loop *l = cio_loop_new();
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    rd x = {.loop = l, .r = sv[0]};
    CHECK_EQ(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    CHECK_EQ(cio_add_reader(l, sv[0], reader_cb, &x), 0);
    sender abc = {sv[1], "abc"}, def = {sv[1], "def"}, fin = {sv[1], NULL};
    cio_call_soon(l, send_cb, &abc, NULL);
    run_until(l, have3, &x);
    cio_call_soon(l, send_cb, &def, NULL);
    run_until(l, have6, &x);
    cio_call_soon(l, send_cb, &fin, NULL);
    cio_call_soon(l, stop_cb, l, NULL);
    cio_loop_run_forever(l);
    for (int i = 0; i < 100 && !x.closed; i++) { /* the EOF may need one more round */
        cio_call_later(l, 0.01, stop_cb, l, NULL);
        cio_loop_run_forever(l);
    }
    CHECK_EQ(x.n, 6);
    CHECK(memcmp(x.bytes, "abcdef", 6) == 0);
    CHECK(x.closed);
    close_clean(l);
}

CONF_PLAIN(test_writer_callback)
{
    cio_loop *l = cio_loop_new();
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    wr x = {.loop = l, .w = sv[1]};
    memset(x.data, 'x', sizeof x.data);
    CHECK_EQ(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
    CHECK_EQ(cio_add_writer(l, sv[1], writer_cb, &x), 0);
    CHECK_EQ(cio_loop_run_forever(l), 0);
    CHECK(cio_remove_writer(l, sv[1]));
    CHECK(!cio_remove_writer(l, sv[1]));
    close(sv[1]);
    char buf[2048];
    ssize_t n = recv(sv[0], buf, sizeof buf, 0);
    close(sv[0]);
    CHECK_EQ(n, 1024);
    CHECK(n == 1024 && memcmp(buf, x.data, 1024) == 0);
    close_clean(l);
}

/* ---- signals ------------------------------------------------------------------- */

static int caught;

static void my_handler(void *arg)
{
    caught++;
    if (arg)
        cio_loop_stop(arg);
}

static bool have_caught(void *arg)
{
    (void)arg;
    return caught > 0;
}

/* bad signal numbers: ValueError / TypeError are -EINVAL; SIGKILL's
 * RuntimeError too; removing one that has no handler returns false */
CONF_PLAIN(test_add_signal_handler)
{
    cio_loop *l = cio_loop_new();
    caught = 0;
    CHECK_EQ(cio_add_signal_handler(l, NSIG + 1, my_handler, NULL), -EINVAL);
    CHECK(!cio_remove_signal_handler(l, NSIG + 1));
    CHECK_EQ(cio_add_signal_handler(l, 0, my_handler, NULL), -EINVAL);
    CHECK(!cio_remove_signal_handler(l, 0));
    CHECK_EQ(cio_add_signal_handler(l, -1, my_handler, NULL), -EINVAL);
    CHECK(!cio_remove_signal_handler(l, -1));
    CHECK_EQ(cio_add_signal_handler(l, SIGKILL, my_handler, NULL), -EINVAL);
    CHECK(!cio_remove_signal_handler(l, SIGKILL));
    /* now set a handler and handle it */
    struct sigaction before;
    sigaction(SIGINT, NULL, &before);
    CHECK_EQ(cio_add_signal_handler(l, SIGINT, my_handler, NULL), 0);
    kill(getpid(), SIGINT);
    run_until(l, have_caught, NULL);
    /* removing it restores the previous handler */
    CHECK(cio_remove_signal_handler(l, SIGINT));
    struct sigaction after;
    sigaction(SIGINT, NULL, &after);
    CHECK(after.sa_handler == before.sa_handler);
    CHECK(!cio_remove_signal_handler(l, SIGINT));
    close_clean(l);
}

/* a signal arriving while the loop blocks in the back end */
CONF_PLAIN(test_signal_handling_while_selecting)
{
    cio_loop *l = cio_loop_new();
    caught = 0;
    CHECK_EQ(cio_add_signal_handler(l, SIGALRM, my_handler, l), 0);
    struct itimerval it = {.it_value = {0, 10000}}; /* SIGALRM once, 10 ms */
    setitimer(ITIMER_REAL, &it, NULL);
    cio_handle *h;
    cio_call_later(l, 60, stop_cb, l, &h);
    CHECK_EQ(cio_loop_run_forever(l), 0);
    CHECK_EQ(caught, 1);
    cio_handle_cancel(h);
    cio_remove_signal_handler(l, SIGALRM);
    close_clean(l);
}

typedef struct sig_args {
    cio_loop *loop;
    int value;
} sig_args;

static void handler_with_args(void *arg)
{
    sig_args *a = arg;
    caught++;
    CHECK_EQ(a->value, 42); /* args == (42,) */
    cio_loop_stop(a->loop);
}

CONF_PLAIN(test_signal_handling_args)
{
    cio_loop *l = cio_loop_new();
    caught = 0;
    sig_args a = {l, 42};
    CHECK_EQ(cio_add_signal_handler(l, SIGALRM, handler_with_args, &a), 0);
    struct itimerval it = {.it_value = {0, 100000}}; /* SIGALRM once, 100 ms */
    setitimer(ITIMER_REAL, &it, NULL);
    cio_handle *h;
    cio_call_later(l, 60, stop_cb, l, &h);
    CHECK_EQ(cio_loop_run_forever(l), 0);
    CHECK_EQ(caught, 1);
    cio_handle_cancel(h);
    cio_remove_signal_handler(l, SIGALRM);
    close_clean(l);
}

/* ---- cancellation of a socket call ------------------------------------------- */

static void *recv_one(void *arg)
{
    char b;
    ssize_t n = cio_sock_recv(*(int *)arg, &b, 1);
    return n == -ECANCELED ? cio_fail(-ECANCELED, NULL) : (void *)n;
}

static void cancel_cb(void *arg) { cio_cancel(arg, NULL); }

static void *prompt_main(void *arg)
{
    cio_task *f = arg;
    const char *res;
    cio_call_soon(cio_loop_current(), cancel_cb, f, NULL);
    if (cio_await(f, NULL) == -ECANCELED)
        res = "cancelled";
    else
        res = NULL;
    cio_task_uncancel(cio_current_task()); /* except CancelledError: res = 'cancelled' */
    cio_loop_stop(cio_loop_current());
    return (void *)res;
}

CONF_PLAIN(test_prompt_cancellation)
{
    cio_loop *l = cio_loop_new();
    cio_loop_set_current(l);
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    cio_task *f = cio_spawn_ex(l, recv_one, &sv[0], NULL);
    cio_task *t = cio_spawn_ex(l, prompt_main, f, NULL);
    CHECK_EQ(cio_loop_run_forever(l), 0);
    void *res = NULL;
    CHECK_EQ(cio_result(t, &res), 0);
    CHECK(res && strcmp(res, "cancelled") == 0);
    CHECK_EQ(cio_result(f, NULL), -ECANCELED);
    cio_release(f);
    cio_release(t);
    cio_close(sv[0]);
    cio_close(sv[1]);
    cio_loop_set_current(NULL);
    close_clean(l);
}

/* ---- closing -------------------------------------------------------------------- */

static void *close_loop(void *arg)
{
    int rc = cio_loop_close(arg);
    return rc ? cio_fail(rc, NULL) : NULL;
}

/* RuntimeError: closing the running loop */
CONF_PLAIN(test_close_running_event_loop)
{
    cio_loop *l = cio_loop_new();
    cio_task *t = cio_spawn_ex(l, close_loop, l, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), CIO_ERUNNING);
    CHECK(!cio_loop_is_closed(l));
    cio_release(t);
    close_clean(l);
}

/* ---- subprocesses (cio_process) ------------------------------------------------ */

CONF_TASK(test_subprocess_exec)
{
    cio_process *p;
    CHECK_EQ(cio_process_exec("cat", (char *const[]){"cat", NULL}, &pipes3, &p), 0);
    CHECK_EQ(cio_stream_write(cio_process_stdin(p), "Python The Winner", 17), 0);
    char buf[17];
    read_exactly(cio_process_stdout(p), buf, 17);
    CHECK(memcmp(buf, "Python The Winner", 17) == 0);
    close_killed(p);
    return NULL;
}

CONF_TASK(test_subprocess_interactive)
{
    cio_process *p;
    CHECK_EQ(cio_process_exec("cat", (char *const[]){"cat", NULL}, &pipes3, &p), 0);
    char buf[10];
    CHECK_EQ(cio_stream_write(cio_process_stdin(p), "Python ", 7), 0);
    read_exactly(cio_process_stdout(p), buf, 7);
    CHECK(memcmp(buf, "Python ", 7) == 0);
    CHECK_EQ(cio_stream_write(cio_process_stdin(p), "The Winner", 10), 0);
    read_exactly(cio_process_stdout(p), buf, 10);
    CHECK(memcmp(buf, "The Winner", 10) == 0);
    close_killed(p);
    return NULL;
}

CONF_TASK(test_subprocess_shell)
{
    cio_process *p;
    CHECK_EQ(cio_process_shell("echo Python", &pipes3, &p), 0);
    CHECK_EQ(cio_process_close_stdin(p), 0);
    char *out = NULL, *err = NULL;
    size_t nout = 0, nerr = 0;
    CHECK_EQ(cio_stream_read_all(cio_process_stdout(p), &out, &nout), 0);
    CHECK_EQ(cio_stream_read_all(cio_process_stderr(p), &err, &nerr), 0);
    CHECK_EQ(cio_process_wait(p), 0);
    CHECK(nout == 7 && memcmp(out, "Python\n", 7) == 0); /* rstrip(b'\r\n') == b'Python' */
    CHECK_EQ(nerr, 0);
    free(out);
    free(err);
    cio_process_free(p);
    return NULL;
}

CONF_TASK(test_subprocess_exitcode)
{
    cio_process *p;
    CHECK_EQ(cio_process_shell("exit 7", NULL, &p), 0);
    CHECK_EQ(cio_process_wait(p), 7);
    cio_process_free(p);
    return NULL;
}

CONF_TASK(test_subprocess_close_after_finish)
{
    cio_process *p;
    CHECK_EQ(cio_process_shell("exit 7", NULL, &p), 0);
    CHECK(cio_process_stdin(p) == NULL);
    CHECK(cio_process_stdout(p) == NULL);
    CHECK(cio_process_stderr(p) == NULL);
    CHECK_EQ(cio_process_wait(p), 7);
    CHECK_EQ(cio_process_returncode(p), 7);
    cio_process_free(p);
    return NULL;
}

CONF_TASK(test_subprocess_kill)
{
    cio_process *p;
    CHECK_EQ(cio_process_exec("cat", (char *const[]){"cat", NULL}, &pipes3, &p), 0);
    CHECK_EQ(cio_process_kill(p), 0);
    CHECK_EQ(cio_process_wait(p), -SIGKILL);
    cio_process_free(p);
    return NULL;
}

CONF_TASK(test_subprocess_terminate)
{
    cio_process *p;
    CHECK_EQ(cio_process_exec("cat", (char *const[]){"cat", NULL}, &pipes3, &p), 0);
    CHECK_EQ(cio_process_terminate(p), 0);
    CHECK_EQ(cio_process_wait(p), -SIGTERM);
    cio_process_free(p);
    return NULL;
}

CONF_TASK(test_subprocess_send_signal)
{
    /* the default SIGHUP action in the child, whatever ours is */
    struct sigaction dfl, old;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGHUP, &dfl, &old);
    cio_process *p;
    CHECK_EQ(cio_process_exec("cat", (char *const[]){"cat", NULL}, &pipes3, &p), 0);
    CHECK_EQ(cio_process_send_signal(p, SIGHUP), 0);
    CHECK_EQ(cio_process_wait(p), -SIGHUP);
    cio_process_free(p);
    sigaction(SIGHUP, &old, NULL);
    return NULL;
}

CONF_TASK(test_subprocess_stderr)
{
    cio_process *p;
    CHECK_EQ(cio_process_shell(echo2, &pipes3, &p), 0);
    CHECK_EQ(cio_stream_write(cio_process_stdin(p), "test", 4), 0);
    CHECK_EQ(cio_process_close_stdin(p), 0);
    char *out = NULL, *err = NULL;
    size_t nout = 0, nerr = 0;
    CHECK_EQ(cio_stream_read_all(cio_process_stdout(p), &out, &nout), 0);
    CHECK_EQ(cio_stream_read_all(cio_process_stderr(p), &err, &nerr), 0);
    CHECK_EQ(cio_process_wait(p), 0);
    CHECK(nout == 8 && memcmp(out, "OUT:test", 8) == 0);
    CHECK(nerr >= 8 && memcmp(err, "ERR:test", 8) == 0);
    free(out);
    free(err);
    cio_process_free(p);
    return NULL;
}

CONF_TASK(test_subprocess_stderr_redirect_to_stdout)
{
    cio_process_opts o = {.stdin_mode = CIO_PIPE, .stdout_mode = CIO_PIPE, .stderr_mode = CIO_STDOUT};
    cio_process *p;
    CHECK_EQ(cio_process_shell(echo2, &o, &p), 0);
    CHECK(cio_process_stdout(p) != NULL);
    CHECK(cio_process_stderr(p) == NULL);
    CHECK_EQ(cio_stream_write(cio_process_stdin(p), "test", 4), 0);
    CHECK_EQ(cio_process_close_stdin(p), 0);
    char *out = NULL;
    size_t nout = 0;
    CHECK_EQ(cio_stream_read_all(cio_process_stdout(p), &out, &nout), 0);
    CHECK(nout >= 16 && memcmp(out, "OUT:testERR:test", 16) == 0);
    free(out);
    CHECK_EQ(cio_process_wait(p), 0);
    cio_process_free(p);
    return NULL;
}

/* ---- TimerTests --------------------------------------------------------------------- */

CONF_TASK(test_when)
{
    cio_loop *l = cio_loop_current();
    double when = cio_loop_time(l) + 100;
    cio_handle *h;
    CHECK_EQ(cio_call_at(l, when, stop_cb, l, &h), 0);
    CHECK(cio_handle_when(h) == when);
    cio_handle_cancel(h);
    return NULL;
}

/* ---- the current loop (PolicyTests, GetEventLoopTestsMixin) ---------------------- */

/* RuntimeError after set_event_loop(None): no current loop */
CONF_PLAIN(test_get_event_loop_after_set_none)
{
    CHECK_EQ(cio_loop_set_current(NULL), 0);
    CHECK(cio_loop_current() == NULL);
}

static void *current_in_thread(void *arg)
{
    *(cio_loop **)arg = cio_loop_current();
    return NULL;
}

/* in another thread there is no current loop */
CONF_PLAIN(test_get_event_loop_thread)
{
    cio_loop *l = cio_loop_new();
    cio_loop_set_current(l);
    cio_loop *seen = l;
    pthread_t th;
    pthread_create(&th, NULL, current_in_thread, &seen);
    pthread_join(th, NULL);
    CHECK(seen == NULL);
    cio_loop_set_current(NULL);
    CHECK_EQ(cio_loop_close(l), 0);
}

CONF_PLAIN(test_new_event_loop)
{
    cio_loop *l = cio_loop_new();
    CHECK(l != NULL);
    CHECK(!cio_loop_is_closed(l));
    CHECK(!cio_loop_is_running(l));
    CHECK_EQ(cio_loop_close(l), 0);
}

CONF_PLAIN(test_set_event_loop)
{
    cio_loop *old_loop = cio_loop_new();
    CHECK_EQ(cio_loop_set_current(old_loop), 0);
    cio_loop *l = cio_loop_new();
    CHECK_EQ(cio_loop_set_current(l), 0);
    CHECK(cio_loop_current() == l);
    CHECK(cio_loop_current() != old_loop);
    cio_loop_set_current(NULL);
    CHECK_EQ(cio_loop_close(l), 0);
    CHECK_EQ(cio_loop_close(old_loop), 0);
}

static void *running_is_current(void *arg)
{
    CHECK(cio_loop_current() == arg); /* get_event_loop() and get_running_loop() */
    return NULL;
}

CONF_PLAIN(test_get_event_loop_returns_running_loop2)
{
    cio_loop *l = cio_loop_new();
    cio_loop *l2 = cio_loop_new();
    cio_loop_set_current(l2);
    CHECK_EQ(cio_loop_set_current(NULL), 0);
    CHECK(cio_loop_current() == NULL); /* 'no current' / 'no running' */
    /* while l runs it is the current loop */
    cio_task *t = cio_spawn_ex(l, running_is_current, l, NULL);
    CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), 0);
    cio_release(t);
    CHECK_EQ(cio_loop_set_current(l), 0);
    CHECK(cio_loop_current() == l);
    CHECK_EQ(cio_loop_set_current(NULL), 0);
    CHECK(cio_loop_current() == NULL);
    close_clean(l2);
    close_clean(l);
    CHECK(cio_loop_current() == NULL); /* 'no running' afterwards */
}

/* ---- servers, connections, datagrams (streams for protocols) -------------------- */

CONF_TASK(test_create_server)
{
    my_proto p = {.state = "INITIAL", .want = 3, .done = cio_event_new()};
    cio_server *srv;
    CHECK_EQ(cio_start_server(proto_handler, &p, "0.0.0.0", "0", NULL, &srv), 0);
    int fds[2];
    CHECK_EQ(cio_server_sockets(srv, fds, 2), 1);
    struct sockaddr_in sa;
    socklen_t n = sizeof sa;
    CHECK_EQ(getsockname(fds[0], (struct sockaddr *)&sa, &n), 0);
    CHECK_EQ(sa.sin_addr.s_addr, htonl(INADDR_ANY)); /* '0.0.0.0' */
    int c = client_connect(ntohs(sa.sin_port));
    CHECK(c >= 0);
    CHECK_EQ(send(c, "xxx", 3, 0), 3);
    CHECK_EQ(cio_event_wait(p.done), 0);
    CHECK_EQ(p.nbytes, 3);
    CHECK(p.nsockname); /* extra info is available */
    CHECK(p.npeername && ((struct sockaddr_in *)&p.peername)->sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    CHECK(strcmp(p.state, "CLOSED") == 0);
    close(c);
    cio_server_close(srv);
    CHECK_EQ(cio_server_wait_closed(srv), 0);
    cio_server_free(srv);
    cio_event_free(p.done);
    return NULL;
}

CONF_TASK(test_create_server_reuse_port)
{
    cio_server *srv;
    CHECK_EQ(cio_start_server(no_handler, NULL, "0.0.0.0", "0", NULL, &srv), 0);
    CHECK_EQ(reuseport_of(srv), 0);
    cio_server_free(srv);
    CHECK_EQ(cio_yield(), 0);
    CHECK_EQ(cio_start_server(no_handler, NULL, "0.0.0.0", "0", &(cio_server_opts){.reuse_port = true}, &srv), 0);
    CHECK(reuseport_of(srv) != 0);
    cio_server_free(srv);
    return NULL;
}

CONF_TASK(test_create_unix_server)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/cio-conf-%d.sock", (int)getpid());
    unlink(path);
    my_proto p = {.state = "INITIAL", .want = 3, .done = cio_event_new()};
    cio_server *srv;
    CHECK_EQ(cio_start_unix_server(proto_handler, &p, path, NULL, &srv), 0);
    CHECK_EQ(cio_server_sockets(srv, NULL, 0), 1);
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    CHECK_EQ(connect(c, (struct sockaddr *)&a, sizeof a), 0);
    CHECK_EQ(send(c, "xxx", 3, 0), 3);
    CHECK_EQ(cio_event_wait(p.done), 0);
    CHECK_EQ(p.nbytes, 3);
    CHECK(strcmp(p.state, "CLOSED") == 0);
    close(c);
    cio_server_free(srv);
    unlink(path);
    cio_event_free(p.done);
    return NULL;
}

/* OSError with errno EADDRINUSE */
CONF_TASK(test_create_server_addr_in_use)
{
    cio_server *srv, *again = NULL;
    CHECK_EQ(cio_start_server(no_handler, NULL, "0.0.0.0", "0", NULL, &srv), 0);
    char port[16];
    snprintf(port, sizeof port, "%d", cio_server_port(srv));
    CHECK_EQ(cio_start_server(no_handler, NULL, "0.0.0.0", port, NULL, &again), -EADDRINUSE);
    CHECK(again == NULL);
    cio_server_free(srv);
    return NULL;
}

/* ConnectionRefusedError after server.close() */
CONF_TASK(test_server_close)
{
    cio_server *srv;
    CHECK_EQ(cio_start_server(no_handler, NULL, "0.0.0.0", "0", NULL, &srv), 0);
    int port = cio_server_port(srv);
    int c = client_connect(port);
    CHECK(c >= 0);
    CHECK_EQ(send(c, "xxx", 3, 0), 3);
    close(c);
    cio_server_close(srv);
    CHECK_EQ(client_connect(port), -ECONNREFUSED);
    CHECK_EQ(cio_server_wait_closed(srv), 0);
    cio_server_free(srv);
    return NULL;
}

CONF_TASK(test_create_datagram_endpoint)
{
    int s = cio_udp_open("127.0.0.1", "0", NULL, NULL);
    CHECK(s >= 0);
    struct sockaddr_in sa;
    socklen_t n = sizeof sa;
    CHECK_EQ(getsockname(s, (struct sockaddr *)&sa, &n), 0);
    char port[16];
    snprintf(port, sizeof port, "%d", ntohs(sa.sin_port));
    int c = cio_udp_open(NULL, NULL, "127.0.0.1", port); /* remote_addr=(host, port) */
    CHECK(c >= 0);
    cio_task *srv = cio_spawn(datagram_server, &s);
    CHECK_EQ(cio_sock_sendall(c, "xxx", 3), 0); /* transport.sendto(b'xxx') */
    void *nbytes = NULL;
    CHECK_EQ(cio_await(srv, &nbytes), 0);
    CHECK_EQ((intptr_t)nbytes, 3);
    char buf[64];
    CHECK_EQ(cio_sock_recv(c, buf, sizeof buf), 8); /* client.nbytes */
    CHECK(memcmp(buf, "resp:xxx", 8) == 0);
    struct sockaddr_storage cs; /* extra info: sockname */
    n = sizeof cs;
    CHECK_EQ(getsockname(c, (struct sockaddr *)&cs, &n), 0);
    cio_release(srv);
    cio_close(c);
    cio_close(s);
    return NULL;
}

CONF_TASK(test_connect_accepted_socket)
{
    int lsock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    acc_client cl = {.addr = {.sin_family = AF_INET}, .nresponse = -1};
    cl.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t n = sizeof cl.addr;
    CHECK_EQ(bind(lsock, (struct sockaddr *)&cl.addr, n), 0);
    CHECK_EQ(listen(lsock, 1), 0);
    CHECK_EQ(getsockname(lsock, (struct sockaddr *)&cl.addr, &n), 0);
    pthread_t th;
    pthread_create(&th, NULL, accepted_client, &cl);
    int conn = accept4(lsock, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    CHECK(conn >= 0);
    cio_stream *s;
    CHECK_EQ(cio_stream_from_fd(conn, NULL, true, &s), 0);
    my_proto p = {.state = "INITIAL", .want = 100, .reply = "roger", .done = cio_event_new()};
    proto_handler(s, &p); /* runs until the client closes (connection_lost) */
    pthread_join(th, NULL);
    close(lsock);
    CHECK(strcmp(p.state, "CLOSED") == 0);
    CHECK_EQ(p.nbytes, 9);
    CHECK_EQ(cl.nresponse, 5);
    CHECK(memcmp(cl.response, "roger", 5) == 0);
    cio_event_free(p.done);
    return NULL;
}

CONF_TASK(test_create_connection)
{
    cio_server *srv;
    CHECK_EQ(cio_start_server(http_handler, NULL, "127.0.0.1", "0", NULL, &srv), 0);
    char port[16];
    snprintf(port, sizeof port, "%d", cio_server_port(srv));
    cio_stream *c;
    CHECK_EQ(cio_open_connection("127.0.0.1", port, NULL, &c), 0);
    basetest_create_connection(c, true);
    cio_server_close(srv);
    CHECK_EQ(cio_server_wait_closed(srv), 0);
    cio_server_free(srv);
    return NULL;
}

CONF_TASK(test_create_unix_connection)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/cio-conf-c%d.sock", (int)getpid());
    unlink(path);
    cio_server *srv;
    CHECK_EQ(cio_start_unix_server(http_handler, NULL, path, NULL, &srv), 0);
    cio_stream *c;
    CHECK_EQ(cio_open_unix_connection(path, NULL, &c), 0);
    basetest_create_connection(c, true);
    cio_server_close(srv);
    CHECK_EQ(cio_server_wait_closed(srv), 0);
    cio_server_free(srv);
    unlink(path);
    return NULL;
}

CONF_TASK(test_create_server_ssl)
{
    create_server_ssl(false);
    return NULL;
}

CONF_TASK(test_create_unix_server_ssl)
{
    create_server_ssl(true);
    return NULL;
}

/* no CA loaded: certificate verify failed */
CONF_TASK(test_create_server_ssl_verify_failed)
{
    pki_once();
    ssl_refused(false, srv_pem, srv_key, &(cio_tls_opts){0}, CIO_ECERTUNTRUSTED);
    return NULL;
}

CONF_TASK(test_create_unix_server_ssl_verify_failed)
{
    pki_once();
    ssl_refused(true, srv_pem, srv_key, &(cio_tls_opts){.server_hostname = "invalid"}, CIO_ECERTUNTRUSTED);
    return NULL;
}

/* the CA loaded, a certificate for another name: CertificateError */
CONF_TASK(test_create_server_ssl_match_failed)
{
    pki_once();
    ssl_refused(false, wrong_pem, wrong_key, &(cio_tls_opts){.ca_file = ca_pem}, CIO_ECERTHOSTNAME);
    return NULL;
}

CONF_TASK(test_create_server_ssl_verified)
{
    ssl_verified(false);
    return NULL;
}

CONF_TASK(test_create_unix_server_ssl_verified)
{
    ssl_verified(true);
    return NULL;
}

CONF_TASK(test_create_ssl_connection)
{
    create_ssl_connection(false);
    return NULL;
}

CONF_TASK(test_create_ssl_unix_connection)
{
    create_ssl_connection(true);
    return NULL;
}

CONF_TASK(test_ssl_connect_accepted_socket)
{
    pki_once();
    int lsock = cio_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t n = sizeof a;
    CHECK_EQ(bind(lsock, (struct sockaddr *)&a, n), 0);
    CHECK_EQ(listen(lsock, 1), 0);
    CHECK_EQ(getsockname(lsock, (struct sockaddr *)&a, &n), 0);
    tls_client cl = {.n = -1};
    snprintf(cl.port, sizeof cl.port, "%d", ntohs(a.sin_port));
    cio_task *t = cio_spawn(tls_client_task, &cl);
    int conn = cio_sock_accept(lsock, NULL, NULL);
    CHECK(conn >= 0);
    cio_stream *s;
    cio_stream_opts o = {.tls = &(cio_tls_opts){.cert_file = srv_pem, .key_file = srv_key}};
    CHECK_EQ(cio_stream_from_fd(conn, &o, true, &s), 0);
    my_proto p = {.state = "INITIAL", .want = 100, .reply = "roger", .done = cio_event_new()};
    proto_handler(s, &p);
    CHECK_EQ(cio_await(t, NULL), 0);
    cio_release(t);
    cio_close(lsock);
    CHECK(strcmp(p.state, "CLOSED") == 0);
    CHECK_EQ(p.nbytes, 9);
    CHECK_EQ(cl.n, 5);
    CHECK(memcmp(cl.response, "roger", 5) == 0);
    cio_event_free(p.done);
    return NULL;
}

CONF_MAIN()
