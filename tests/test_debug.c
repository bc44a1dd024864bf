/* SPDX-License-Identifier: MIT */
/* Debug mode: slow steps and callbacks reported by name, errors never
 * retrieved, tasks pending at close (the loop's exception handler, also
 * outside debug mode), stack overflow by task name (child
 * processes), task dumps (cio_dump_tasks and SIGQUIT).
 *
 * Exit 0 = pass. */
#include "check.h"
#include "lib/child.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- capturing stderr ------------------------------------------------------ */

static int cap_saved = -1, cap_rd = -1;
static char cap_buf[65536];

static void cap_begin(void)
{
    int p[2];
    fflush(stderr);
    if (pipe(p) < 0)
        abort();
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    cap_saved = dup(2);
    dup2(p[1], 2);
    close(p[1]);
    cap_rd = p[0];
}

/* Ends the capture; returns what was written to stderr meanwhile. */
static const char *cap_end(void)
{
    fflush(stderr);
    dup2(cap_saved, 2);
    close(cap_saved);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < sizeof cap_buf && (r = read(cap_rd, cap_buf + n, sizeof cap_buf - 1 - n)) > 0)
        n += (size_t)r;
    cap_buf[n] = 0;
    close(cap_rd);
    return cap_buf;
}

#define CHECK_HAS(hay, needle)                                                                       \
    do {                                                                                             \
        if (!strstr((hay), (needle))) {                                                              \
            fprintf(stderr, "FAIL %s: %s:%d: output lacks \"%s\"; got:\n%s\n", check_current,        \
                    __FILE__, __LINE__, (needle), (hay));                                            \
            check_failures++;                                                                        \
        }                                                                                            \
    } while (0)

#define CHECK_HASNT(hay, needle)                                                                     \
    do {                                                                                             \
        if (strstr((hay), (needle))) {                                                               \
            fprintf(stderr, "FAIL %s: %s:%d: output has \"%s\"; got:\n%s\n", check_current,          \
                    __FILE__, __LINE__, (needle), (hay));                                            \
            check_failures++;                                                                        \
        }                                                                                            \
    } while (0)

static int fails0, fds0;
static void begin(const char *name)
{
    check_current = name;
    fails0 = check_failures;
    fds0 = check_count_fds();
}
static void end(void)
{
    CHECK_EQ(check_count_fds(), fds0);
    fprintf(stderr, "%s %s\n", check_failures == fails0 ? "ok  " : "FAIL", check_current);
}

/* Runs fn on a fresh loop with debug on (or not), then one more iteration. */
static void run_on_loop(cio_loop *l, cio_task_fn fn, const char *name)
{
    cio_task *t = cio_spawn_ex(l, fn, NULL, &(cio_task_opts){.name = name});
    cio_loop_run_until_complete(l, t, NULL);
    cio_release(t);
    check_run_briefly(l);
}

/* ---- slow steps and callbacks ----------------------------------------------- */

static void *slow_step(void *arg)
{
    (void)arg;
    cio_yield();
    usleep(150000); /* holds the loop for 150 ms */
    cio_yield();
    return NULL;
}

static void slow_cb(void *arg)
{
    (void)arg;
    usleep(150000);
}

static void *spawn_slowpoke(void *arg)
{
    (void)arg;
    cio_task *t = cio_spawn_ex(NULL, slow_step, NULL, &(cio_task_opts){.name = "slowpoke"});
    cio_await(t, NULL);
    cio_release(t);
    cio_call_soon(cio_loop_current(), slow_cb, NULL, NULL);
    cio_sleep(0.001);
    return NULL;
}

static void test_slow_step(void)
{
    begin("slow_step");
    cio_loop *l = cio_loop_new();
    cio_loop_set_debug(l, true);
    cap_begin();
    run_on_loop(l, spawn_slowpoke, "main");
    const char *out = cap_end();
    /* the figure from below only: a loaded machine holds the loop longer */
    const char *took = strstr(out, "Executing <Task slowpoke> took ");
    CHECK(took != NULL);
    CHECK(took && atof(took + strlen("Executing <Task slowpoke> took ")) >= 0.15);
    CHECK_HASNT(out, "<Task main>");
    CHECK_HAS(out, "Executing <Handle");
    check_loop_clean(l);
    cio_loop_close(l);
    /* not in normal mode */
    l = cio_loop_new();
    cap_begin();
    run_on_loop(l, spawn_slowpoke, "main");
    out = cap_end();
    CHECK_HASNT(out, "slowpoke");
    CHECK_HASNT(out, "Executing");
    cio_loop_close(l);
    /* nor above the threshold */
    l = cio_loop_new();
    cio_loop_set_debug(l, true);
    cio_loop_set_slow_duration(l, 60); /* far above the 150 ms, even under load */
    cap_begin();
    run_on_loop(l, spawn_slowpoke, "main");
    out = cap_end();
    CHECK_HASNT(out, "Executing");
    cio_loop_close(l);
    /* CIO_DEBUG=1 at creation turns it on */
    setenv("CIO_DEBUG", "1", 1);
    l = cio_loop_new();
    unsetenv("CIO_DEBUG");
    CHECK(cio_loop_get_debug(l));
    cap_begin();
    run_on_loop(l, spawn_slowpoke, "main");
    out = cap_end();
    CHECK_HAS(out, "Executing <Task slowpoke>");
    cio_loop_close(l);
    setenv("CIO_DEBUG", "0", 1);
    l = cio_loop_new();
    unsetenv("CIO_DEBUG");
    CHECK(!cio_loop_get_debug(l));
    cio_loop_close(l);
    end();
}

/* Turned on from inside a running loop (how a cio_run user gets it). */
static void *enable_debug_then_slow(void *arg)
{
    (void)arg;
    cio_loop_set_debug(cio_loop_current(), true);
    return spawn_slowpoke(NULL);
}

static void test_debug_enabled_while_running(void)
{
    begin("debug_enabled_while_running");
    cap_begin();
    int rc = cio_run(enable_debug_then_slow, NULL, NULL);
    const char *out = cap_end();
    CHECK_EQ(rc, 0);
    CHECK_HAS(out, "Executing <Task slowpoke>");
    end();
}

/* ---- errors never retrieved ------------------------------------------------- */

static void *lingerer(void *arg)
{
    (void)arg;
    cio_sleep(100);
    return NULL;
}

static void *failing(void *arg)
{
    (void)arg;
    return cio_fail(-EIO, "disk said no");
}

static void *t_unretrieved(void *arg)
{
    (void)arg;
    cio_task *t = cio_spawn_ex(NULL, failing, NULL, &(cio_task_opts){.name = "failer"});
    cio_release(t); /* nobody will ever look at its error */
    cio_task *u = cio_spawn_ex(NULL, failing, NULL, &(cio_task_opts){.name = "looked-at"});
    cio_sleep(0.001);
    CHECK_EQ(cio_result(u, NULL), -EIO);
    cio_release(u);
    cio_task *w = cio_spawn_ex(NULL, failing, NULL, &(cio_task_opts){.name = "awaited"});
    CHECK_EQ(cio_await(w, NULL), -EIO);
    cio_release(w);
    cio_task *x = cio_spawn_ex(NULL, failing, NULL, &(cio_task_opts){.name = "exception-read"});
    cio_sleep(0.001);
    CHECK_EQ(cio_exception(x), -EIO);
    cio_release(x);
    /* plain futures */
    cio_future *f = cio_future_new(NULL);
    cio_future_set_error(f, -ENOSPC, "future error");
    cio_release(f);
    cio_future *g = cio_future_new(NULL);
    cio_future_set_error(g, -ENOSPC, "seen future error");
    cio_result(g, NULL);
    cio_release(g);
    /* cancelled: not an error */
    cio_task *c = cio_spawn_ex(NULL, failing, NULL, &(cio_task_opts){.name = "cancelled-one"});
    cio_cancel(c, NULL);
    cio_release(c);
    cio_sleep(0.001);
    return NULL;
}

static void test_unretrieved(void)
{
    /* debug mode or not, the default handler reports them on stderr */
    for (int debug = 1; debug >= 0; debug--) {
        begin(debug ? "unretrieved (debug)" : "unretrieved");
        cio_loop *l = cio_loop_new();
        cio_loop_set_debug(l, debug);
        cap_begin();
        run_on_loop(l, t_unretrieved, "main");
        const char *out = cap_end();
        CHECK_HAS(out, "cio: Task exception was never retrieved\n  task: <failer state=done>\n"
                       "  error: Input/output error (-5): disk said no\n");
        CHECK_HAS(out, "cio: Future exception was never retrieved\n  future: <Future state=done>\n"
                       "  error: No space left on device (-28): future error\n");
        CHECK_HASNT(out, "looked-at");
        CHECK_HASNT(out, "awaited");
        CHECK_HASNT(out, "exception-read");
        CHECK_HASNT(out, "seen future error");
        CHECK_HASNT(out, "cancelled-one");
        /* where the task was spawned: in debug mode only */
        if (debug)
            CHECK_HAS(out, "  spawned at:\n");
        else
            CHECK_HASNT(out, "spawned at");
        check_loop_clean(l);
        cio_loop_close(l);
        end();
    }
}

/* ---- the exception handler -------------------------------------------------- */

typedef struct report {
    char message[64], name[32], error_message[32];
    cio_loop *loop;
    int error;
    bool spawned_at;
} report;

static report reports[8];
static int nreports;

static void record(cio_loop *loop, const cio_exception_context *ctx, void *arg)
{
    CHECK(arg == (void *)reports);
    if (nreports == 8)
        return;
    report *r = &reports[nreports++];
    memset(r, 0, sizeof *r);
    r->loop = loop;
    snprintf(r->message, sizeof r->message, "%s", ctx->message);
    snprintf(r->name, sizeof r->name, "%s", ctx->future ? cio_task_name(ctx->future) : "-");
    snprintf(r->error_message, sizeof r->error_message, "%s", ctx->error_message ? ctx->error_message : "-");
    r->error = ctx->error;
    r->spawned_at = ctx->spawned_at != NULL;
}

static void *t_handler(void *arg)
{
    (void)arg;
    cio_loop *l = cio_loop_current();
    void *got = NULL;
    CHECK(cio_loop_get_exception_handler(l, &got) == NULL);
    cio_loop_set_exception_handler(l, record, reports);
    CHECK(cio_loop_get_exception_handler(l, &got) == record);
    CHECK(got == reports);
    nreports = 0;

    /* fires when the last reference goes, not before */
    cio_future *f = cio_future_new(NULL);
    cio_ref(f);
    cio_future_set_error(f, -EPIPE, "broken");
    cio_release(f);
    CHECK_EQ(nreports, 0);
    cio_release(f);
    CHECK_EQ(nreports, 1);
    CHECK(strcmp(reports[0].message, "Future exception was never retrieved") == 0);
    CHECK(strcmp(reports[0].name, "Future") == 0);
    CHECK_EQ(reports[0].error, -EPIPE);
    CHECK(strcmp(reports[0].error_message, "broken") == 0);
    CHECK(reports[0].loop == l);
    CHECK(!reports[0].spawned_at);

    /* retrieved in any of the three ways, cancelled, or a result: never */
    cio_future *g = cio_future_new(NULL);
    cio_future_set_error(g, -EPIPE, NULL);
    CHECK_EQ(cio_exception(g), -EPIPE);
    cio_release(g);
    g = cio_future_new(NULL);
    cio_future_set_error(g, -EPIPE, NULL);
    CHECK_EQ(cio_await(g, NULL), -EPIPE);
    cio_release(g);
    g = cio_future_new(NULL);
    cio_cancel(g, "no");
    cio_release(g);
    g = cio_future_new(NULL);
    cio_future_set_result(g, NULL);
    cio_release(g);
    CHECK_EQ(nreports, 1);

    /* a task released while running: reported when the loop lets it go */
    cio_task *t = cio_spawn_ex(NULL, failing, NULL, &(cio_task_opts){.name = "t-failer"});
    cio_release(t);
    CHECK_EQ(nreports, 1);
    CHECK_EQ(cio_sleep(0.001), 0);
    CHECK_EQ(nreports, 2);
    CHECK(strcmp(reports[1].message, "Task exception was never retrieved") == 0);
    CHECK(strcmp(reports[1].name, "t-failer") == 0);
    CHECK_EQ(reports[1].error, -EIO);
    CHECK(strcmp(reports[1].error_message, "disk said no") == 0);

    /* cio_loop_call_exception_handler reaches the handler set; NULL puts
     * the default one back */
    cio_loop_call_exception_handler(l, &(cio_exception_context){.message = "by hand", .error = -EAGAIN});
    CHECK_EQ(nreports, 3);
    CHECK(strcmp(reports[2].message, "by hand") == 0);
    CHECK_EQ(reports[2].error, -EAGAIN);
    cio_loop_set_exception_handler(l, NULL, reports);
    CHECK(cio_loop_get_exception_handler(l, &got) == NULL);
    CHECK(got == NULL);
    cap_begin();
    cio_loop_call_exception_handler(l, &(cio_exception_context){.message = "by hand"});
    const char *out = cap_end();
    CHECK(strcmp(out, "cio: by hand\n") == 0);
    CHECK_EQ(nreports, 3);
    return NULL;
}

static void test_handler(void)
{
    begin("exception_handler");
    cio_loop *l = cio_loop_new();
    run_on_loop(l, t_handler, "main");
    check_loop_clean(l);

    /* pending at close: the handler hears of each task; a failed future
     * released after the close goes to the default handler */
    cio_loop_set_exception_handler(l, record, reports);
    nreports = 0;
    cio_loop_set_debug(l, true);
    cio_task *a = cio_spawn_ex(l, lingerer, NULL, &(cio_task_opts){.name = "left-behind"});
    cio_future *f = cio_future_new(l);
    cio_future_set_error(f, -EIO, "late");
    CHECK_EQ(cio_loop_close(l), 0);
    CHECK_EQ(nreports, 1);
    CHECK(strcmp(reports[0].message, "Task was destroyed but it is pending!") == 0);
    CHECK(strcmp(reports[0].name, "left-behind") == 0);
    CHECK_EQ(reports[0].error, 0);
    CHECK(reports[0].spawned_at); /* debug mode: where it was spawned */
    cio_release(a);
    cap_begin();
    cio_release(f);
    const char *out = cap_end();
    CHECK_HAS(out, "cio: Future exception was never retrieved\n");
    CHECK_HAS(out, "late");
    CHECK_EQ(nreports, 1);
    end();
}


/* ---- pending at close ----------------------------------------------------------- */

static void test_pending_at_close(void)
{
    begin("pending_at_close");
    cio_loop *l = cio_loop_new();
    /* reported without debug mode too */
    cio_task *a = cio_spawn_ex(l, lingerer, NULL, &(cio_task_opts){.name = "lingerer"});
    cio_task *b = cio_spawn_ex(l, lingerer, NULL, &(cio_task_opts){.name = "never-started"});
    cio_task *c = cio_spawn_ex(l, lingerer, NULL, &(cio_task_opts){.name = "lazy-one", .flags = CIO_TASK_LAZY});
    cio_task *d = cio_spawn_ex(l, failing, NULL, &(cio_task_opts){.name = "finished"});
    cio_future *f = cio_future_new(l);
    cio_call_later(l, 0.005, check_set_done, f, NULL);
    cio_loop_run_until_complete(l, f, NULL);
    cio_release(f);
    cio_release(b);
    b = cio_spawn_ex(l, lingerer, NULL, &(cio_task_opts){.name = "never-started"});
    cio_result(d, NULL);
    cap_begin();
    CHECK_EQ(cio_loop_close(l), 0);
    const char *out = cap_end();
    CHECK_HAS(out, "Task was destroyed but it is pending");
    CHECK_HAS(out, "<lingerer state=suspended>");
    CHECK_HAS(out, "<never-started state=scheduled>");
    CHECK_HAS(out, "<lazy-one state=created>");
    CHECK_HASNT(out, "finished");
    cio_release(a);
    cio_release(b);
    cio_release(c);
    cio_release(d);
    end();
}

/* ---- stack overflow (child processes) ------------------------------------------- */

static int recurse(int n)
{
    volatile char pad[512];
    pad[0] = (char)n;
    pad[511] = (char)n;
    if (n == 0)
        return pad[0];
    return recurse(n - 1) + pad[511];
}

static void *deep(void *arg)
{
    (void)arg;
    cio_yield();
    return (void *)(intptr_t)recurse(1 << 20); /* far deeper than 16 KiB */
}

static void *overflow_main(void *arg)
{
    if (arg) /* debug turned on from inside the running loop */
        cio_loop_set_debug(cio_loop_current(), true);
    cio_task *t = cio_spawn_ex(NULL, deep, NULL, &(cio_task_opts){.name = "deep-diver", .stack_size = 16384});
    cio_await(t, NULL);
    cio_release(t);
    return NULL;
}


static void overflow_child(void *arg)
{
    cio_loop *l = cio_loop_new();
    if (!arg)
        cio_loop_set_debug(l, true);
    cio_loop_set_current(l);
    cio_task *t = cio_spawn_ex(l, overflow_main, arg, NULL);
    cio_loop_run_until_complete(l, t, NULL);
    _exit(1); /* not reached */
}

static void overflow_run_child(void *arg)
{
    (void)arg;
    cio_run(overflow_main, (void *)1, NULL);
    _exit(1);
}

static void test_stack_overflow(void)
{
    begin("stack_overflow");
    static char out[65536];
    /* debug on from the start */
    int st = child_stderr(overflow_child, NULL, out, sizeof out);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    CHECK_HAS(out, "stack overflow in task deep-diver");
    /* debug turned on inside cio_run's main task */
    st = child_stderr(overflow_run_child, NULL, out, sizeof out);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    CHECK_HAS(out, "stack overflow in task deep-diver");
    /* the same on a loop switched to debug mode while running */
    st = child_stderr(overflow_child, (void *)1, out, sizeof out);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    CHECK_HAS(out, "stack overflow in task deep-diver");
    end();
}

/* Debug mode on and off around runs leaves no handler behind. */
static void *noop(void *arg) { return arg; }

static void test_handlers_restored(void)
{
    begin("handlers_restored");
    struct sigaction segv0, quit0, segv1, quit1;
    sigaction(SIGSEGV, NULL, &segv0);
    sigaction(SIGQUIT, NULL, &quit0);
    cio_loop *l = cio_loop_new();
    cio_loop_set_debug(l, true);
    run_on_loop(l, noop, "noop");
    cio_loop_close(l);
    /* switched on while running, off while running */
    cap_begin();
    CHECK_EQ(cio_run(enable_debug_then_slow, NULL, NULL), 0);
    cap_end();
    sigaction(SIGSEGV, NULL, &segv1);
    sigaction(SIGQUIT, NULL, &quit1);
    CHECK(segv1.sa_handler == segv0.sa_handler);
    CHECK(quit1.sa_handler == quit0.sa_handler);
    end();
}

/* Debug mode in threads that come and go: nothing per thread is left
 * behind (LSan checks at exit), and the thread's own alternate signal stack
 * is given back. */
static void *debug_main(void *arg)
{
    (void)arg;
    cio_loop_set_debug(cio_loop_current(), true);
    cio_sleep(0.001);
    return (void *)1;
}

static void *debug_thread(void *arg)
{
    stack_t before, after;
    sigaltstack(NULL, &before);
    void *res = NULL;
    int rc = cio_run(debug_main, NULL, &res);
    cio_loop *l = cio_loop_new();
    cio_loop_set_debug(l, true);
    run_on_loop(l, noop, "noop");
    cio_loop_close(l);
    sigaltstack(NULL, &after);
    *(int *)arg = rc == 0 && res == (void *)1 && after.ss_sp == before.ss_sp && after.ss_flags == before.ss_flags;
    return NULL;
}

static void test_debug_threads(void)
{
    begin("debug_threads");
    for (int i = 0; i < 4; i++) {
        int ok = 0;
        pthread_t th;
        pthread_create(&th, NULL, debug_thread, &ok);
        pthread_join(th, NULL);
        CHECK(ok);
    }
    end();
}

/* ---- task dumps -------------------------------------------------------------- */

static void *dump_sleeper(void *arg)
{
    (void)arg;
    cio_sleep(10);
    return NULL;
}
static void *dump_waiter(void *arg)
{
    cio_await(arg, NULL);
    return NULL;
}
static void *dump_reader(void *arg)
{
    cio_wait_readable((int)(intptr_t)arg);
    return NULL;
}
static void *dump_signal(void *arg)
{
    (void)arg;
    cio_signal_wait(SIGUSR1);
    return NULL;
}

static char *dumped;
static size_t dumped_len;

static bool line_has(const char *text, const char *name, const char *a, const char *b)
{
    const char *p = strstr(text, name);
    if (!p)
        return false;
    const char *eol = strchr(p, '\n');
    size_t n = eol ? (size_t)(eol - p) : strlen(p);
    char line[512];
    if (n >= sizeof line)
        n = sizeof line - 1;
    memcpy(line, p, n);
    line[n] = 0;
    return strstr(line, a) && (!b || strstr(line, b));
}

static void *t_dump(void *arg)
{
    (void)arg;
    int p[2];
    CHECK_EQ(pipe(p), 0);
    cio_future *f = cio_future_new(NULL);
    cio_task *ts[5];
    ts[0] = cio_spawn_ex(NULL, dump_sleeper, NULL, &(cio_task_opts){.name = "dumpsleeper"});
    ts[1] = cio_spawn_ex(NULL, dump_waiter, f, &(cio_task_opts){.name = "dumpwaiter"});
    ts[2] = cio_spawn_ex(NULL, dump_reader, (void *)(intptr_t)p[0], &(cio_task_opts){.name = "dumpreader"});
    ts[3] = cio_spawn_ex(NULL, dump_signal, NULL, &(cio_task_opts){.name = "dumpsignal"});
    cio_sleep(0.002);
    ts[4] = cio_spawn_ex(NULL, dump_sleeper, NULL, &(cio_task_opts){.name = "dumplazy", .flags = CIO_TASK_LAZY});
    FILE *m = open_memstream(&dumped, &dumped_len);
    cio_dump_tasks(m);
    fclose(m);
    const char *d = dumped;
    CHECK_HAS(d, "6 task(s)");
    CHECK(line_has(d, "t_dump", "running", NULL));
    CHECK(line_has(d, "dumpsleeper", "suspended", "sleep"));
    CHECK(line_has(d, "dumpwaiter", "suspended", "await"));
    CHECK(line_has(d, "dumpreader", "suspended", "fd readable"));
    CHECK(line_has(d, "dumpsignal", "suspended", "signal"));
    CHECK(line_has(d, "dumplazy", "created", NULL));
    CHECK(line_has(d, "dumpsleeper", "stack=", "high-water="));
    if (check_failures != fails0)
        fprintf(stderr, "%s", d);
    free(dumped);
    dumped = NULL;
    /* the same through cio_loop_dump_tasks, and cancelling counts */
    cio_cancel(ts[4], NULL); /* the lazy one finishes, cancelled */
    cio_cancel(ts[0], NULL);
    m = open_memstream(&dumped, &dumped_len);
    cio_loop_dump_tasks(cio_loop_current(), m);
    fclose(m);
    CHECK(line_has(dumped, "dumpsleeper", "scheduled", "cancelling=1"));
    free(dumped);
    dumped = NULL;
    /* SIGQUIT in debug mode dumps to stderr */
    cio_loop_set_debug(cio_loop_current(), true);
    cap_begin();
    raise(SIGQUIT);
    cio_sleep(0.005);
    cio_loop_set_debug(cio_loop_current(), false);
    const char *out = cap_end();
    CHECK_HAS(out, "task(s) on loop");
    CHECK_HAS(out, "dumpreader");
    for (int i = 1; i < 4; i++)
        cio_cancel(ts[i], NULL);
    for (int i = 0; i < 5; i++) {
        cio_await(ts[i], NULL);
        cio_release(ts[i]);
    }
    cio_release(f);
    cio_close(p[0]);
    cio_close(p[1]);
    /* no loop: nothing printed, no crash */
    return NULL;
}

static void test_dump_outside(void)
{
    begin("dump_outside");
    FILE *m = open_memstream(&dumped, &dumped_len);
    cio_dump_tasks(m); /* no current loop */
    cio_loop_dump_tasks(NULL, m);
    cio_loop *l = cio_loop_new();
    cio_task *t = cio_spawn_ex(l, dump_sleeper, NULL, &(cio_task_opts){.name = "outside-one"});
    cio_loop_set_current(l);
    cio_dump_tasks(m); /* outside a task: the thread's current loop */
    fclose(m);
    CHECK(line_has(dumped, "outside-one", "scheduled", NULL));
    free(dumped);
    dumped = NULL;
    cio_loop_close(l);
    cio_release(t);
    end();
}

int main(void)
{
    RUN_TEST(test_slow_step);
    RUN_TEST(test_debug_enabled_while_running);
    RUN_TEST(test_unretrieved);
    RUN_TEST(test_handler);
    RUN_TEST(test_pending_at_close);
    RUN_TEST(test_stack_overflow);
    RUN_TEST(test_handlers_restored);
    RUN_TEST(test_debug_threads);
    RUN_TASK_TEST(t_dump);
    RUN_TEST(test_dump_outside);
    return check_exit();
}
