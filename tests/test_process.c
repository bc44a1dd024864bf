/* SPDX-License-Identifier: MIT */
/* Subprocesses (asyncio.create_subprocess_exec / _shell):
 *
 *   exec with pipes and communicate, the shell, exit codes, death by a
 *   signal (negated signal number), ENOENT for a missing program, cwd and
 *   environment, terminate / kill / send_signal (-ESRCH once reaped), wait
 *   and communicate cancelled with kill_on_cancel (child killed and reaped:
 *   no zombie), stdin closed early, a child that exits without reading its
 *   input (no SIGPIPE for us), 1 MiB and more through the pipes, stderr into
 *   stdout, freeing a running child, many children at once, and a child
 *   that inherits no fd of ours besides 0-2.
 *
 * Exit 0 = pass. */
/* CIO_TEST: TIMEOUT=300 */
#include "check.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* The child is gone: reaped (no zombie left) and no such process. */
static bool reaped_and_gone(pid_t pid)
{
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    bool not_ours = r < 0 && errno == ECHILD;
    bool gone = kill(pid, 0) < 0 && errno == ESRCH;
    return not_ours && gone;
}

static void *t_exec_communicate(void *arg)
{
    (void)arg;
    cio_process *p;
    cio_process_opts o = {.stdin_mode = CIO_PIPE, .stdout_mode = CIO_PIPE};
    char *argv[] = {"cat", NULL};
    CHECK_EQ(cio_process_exec("cat", argv, &o, &p), 0);
    CHECK(cio_process_pid(p) > 0);
    CHECK(cio_process_stdin(p) != NULL);
    CHECK(cio_process_stdout(p) != NULL);
    CHECK(cio_process_stderr(p) == NULL);
    CHECK_EQ(cio_process_returncode(p), CIO_EINVALSTATE);
    char *out, *err;
    size_t outlen, errlen;
    CHECK_EQ(cio_process_communicate(p, "hello\n", 6, &out, &outlen, &err, &errlen), 0);
    CHECK(outlen == 6 && memcmp(out, "hello\n", 6) == 0);
    CHECK(err == NULL && errlen == 0);
    free(out);
    CHECK_EQ(cio_process_returncode(p), 0);
    pid_t pid = cio_process_pid(p);
    cio_process_free(p);
    CHECK(reaped_and_gone(pid));

    /* stdout and stderr apart, an exit code */
    o = (cio_process_opts){.stdout_mode = CIO_PIPE, .stderr_mode = CIO_PIPE};
    char *argv2[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    CHECK_EQ(cio_process_exec("sh", argv2, &o, &p), 0);
    CHECK_EQ(cio_process_communicate(p, NULL, 0, &out, &outlen, &err, &errlen), 3);
    CHECK(outlen == 4 && memcmp(out, "out\n", 4) == 0);
    CHECK(errlen == 4 && memcmp(err, "err\n", 4) == 0);
    free(out);
    free(err);
    CHECK_EQ(cio_process_returncode(p), 3);
    CHECK_EQ(cio_process_wait(p), 3); /* again: the same */
    cio_process_free(p);

    /* stderr into stdout's pipe; stdin from /dev/null */
    o = (cio_process_opts){.stdin_mode = CIO_DEVNULL, .stdout_mode = CIO_PIPE, .stderr_mode = CIO_STDOUT};
    CHECK_EQ(cio_process_shell("echo a; echo b >&2; cat; echo c", &o, &p), 0);
    CHECK(cio_process_stderr(p) == NULL);
    CHECK_EQ(cio_process_communicate(p, NULL, 0, &out, &outlen, NULL, NULL), 0);
    CHECK(outlen == 6 && memcmp(out, "a\nb\nc\n", 6) == 0);
    free(out);
    cio_process_free(p);

    /* output to /dev/null: nothing to read, just the code */
    o = (cio_process_opts){.stdout_mode = CIO_DEVNULL};
    CHECK_EQ(cio_process_shell("echo hidden; exit 7", &o, &p), 0);
    CHECK_EQ(cio_process_wait(p), 7);
    cio_process_free(p);
    return NULL;
}

static void *t_shell_codes(void *arg)
{
    (void)arg;
    int codes[] = {0, 1, 2, 42, 255};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        char cmd[32];
        snprintf(cmd, sizeof cmd, "exit %d", codes[i]);
        cio_process *p;
        CHECK_EQ(cio_process_shell(cmd, NULL, &p), 0);
        CHECK_EQ(cio_process_wait(p), codes[i]);
        CHECK_EQ(cio_process_returncode(p), codes[i]);
        cio_process_free(p);
    }
    cio_process *p;
    cio_process_opts o = {.stdout_mode = CIO_PIPE};
    CHECK_EQ(cio_process_shell("echo $((6 * 7)) \"$0\"", &o, &p), 0);
    char *out;
    size_t n;
    CHECK_EQ(cio_process_communicate(p, NULL, 0, &out, &n, NULL, NULL), 0);
    CHECK(n == 11 && memcmp(out, "42 /bin/sh\n", 11) == 0);
    free(out);
    cio_process_free(p);

    /* cwd and environment */
    char *env[] = {"CIO_TEST_VAR=from the test", "PATH=/usr/bin:/bin", NULL};
    o = (cio_process_opts){.stdout_mode = CIO_PIPE, .cwd = "/tmp", .envp = env};
    CHECK_EQ(cio_process_shell("pwd; echo \"$CIO_TEST_VAR\"; echo \"${HOME:-unset}\"", &o, &p), 0);
    CHECK_EQ(cio_process_communicate(p, NULL, 0, &out, &n, NULL, NULL), 0);
    const char *want = "/tmp\nfrom the test\nunset\n";
    CHECK(n == strlen(want) && memcmp(out, want, n) == 0);
    free(out);
    cio_process_free(p);

    /* lines as they come, through the stdout stream */
    o = (cio_process_opts){.stdout_mode = CIO_PIPE};
    CHECK_EQ(cio_process_shell("for i in 1 2 3; do echo line $i; sleep 0.02; done", &o, &p), 0);
    cio_stream *so = cio_process_stdout(p);
    for (int i = 1; i <= 3; i++) {
        const char *d;
        CHECK_EQ(cio_stream_readline(so, &d, &n), 0);
        char line[32];
        snprintf(line, sizeof line, "line %d\n", i);
        CHECK(n == strlen(line) && memcmp(d, line, n) == 0);
    }
    const char *d;
    CHECK_EQ(cio_stream_readline(so, &d, &n), 0);
    CHECK_EQ(n, 0); /* EOF */
    CHECK_EQ(cio_process_wait(p), 0);
    cio_process_free(p);
    return NULL;
}

static void *t_signals(void *arg)
{
    (void)arg;
    cio_process *p;
    /* killed by a signal: the negated signal number */
    CHECK_EQ(cio_process_shell("kill -TERM $$; sleep 5", NULL, &p), 0);
    CHECK_EQ(cio_process_wait(p), -SIGTERM);
    cio_process_free(p);

    char *argv[] = {"sleep", "30", NULL};
    CHECK_EQ(cio_process_exec("sleep", argv, NULL, &p), 0);
    cio_sleep(0.01);
    CHECK_EQ(cio_process_terminate(p), 0);
    CHECK_EQ(cio_process_wait(p), -SIGTERM);
    CHECK_EQ(cio_process_kill(p), -ESRCH); /* reaped */
    cio_process_free(p);

    CHECK_EQ(cio_process_exec("sleep", argv, NULL, &p), 0);
    CHECK_EQ(cio_process_kill(p), 0);
    CHECK_EQ(cio_process_wait(p), -SIGKILL);
    pid_t pid = cio_process_pid(p);
    CHECK(reaped_and_gone(pid));
    CHECK_EQ(cio_process_send_signal(p, SIGTERM), -ESRCH);
    cio_process_free(p);

    /* a signal the child handles (sent once it says its trap is set) */
    cio_process_opts o = {.stdout_mode = CIO_PIPE};
    CHECK_EQ(cio_process_shell("trap 'exit 9' USR1; echo ready; while :; do sleep 0.01; done", &o, &p), 0);
    char ready[6];
    CHECK_EQ(cio_stream_readexactly(cio_process_stdout(p), ready, sizeof ready, NULL), 0);
    CHECK(memcmp(ready, "ready\n", 6) == 0);
    CHECK_EQ(cio_process_send_signal(p, SIGUSR1), 0);
    CHECK_EQ(cio_process_wait(p), 9);
    cio_process_free(p);
    return NULL;
}

static void *t_enoent(void *arg)
{
    (void)arg;
    cio_process *p = (cio_process *)1;
    cio_process_opts o = {.stdin_mode = CIO_PIPE, .stdout_mode = CIO_PIPE, .stderr_mode = CIO_PIPE};
    char *argv[] = {"cio-no-such-program-xyz", NULL};
    CHECK_EQ(cio_process_exec("cio-no-such-program-xyz", argv, &o, &p), -ENOENT);
    CHECK(p == NULL);
    char *argv2[] = {"/nonexistent/dir/prog", NULL};
    CHECK_EQ(cio_process_exec("/nonexistent/dir/prog", argv2, &o, &p), -ENOENT);
    CHECK(p == NULL);
    /* not executable */
    char path[] = "/tmp/cio-test-noexec.XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    fchmod(fd, 0644);
    close(fd);
    char *argv3[] = {path, NULL};
    CHECK_EQ(cio_process_exec(path, argv3, NULL, &p), -EACCES);
    CHECK(p == NULL);
    unlink(path);
    CHECK_EQ(cio_process_exec(NULL, argv, NULL, &p), -EINVAL);
    CHECK_EQ(cio_process_shell(NULL, NULL, &p), -EINVAL);
    /* a missing program run by the shell: the shell's 127 */
    CHECK_EQ(cio_process_shell("cio-no-such-program-xyz 2>/dev/null", NULL, &p), 0);
    CHECK_EQ(cio_process_wait(p), 127);
    cio_process_free(p);
    return NULL;
}

typedef struct waiter {
    cio_process *p;
    int rc;
    bool communicate;
} waiter;

static void *waiter_task(void *arg)
{
    waiter *w = arg;
    if (w->communicate) {
        char *out = NULL;
        size_t n;
        w->rc = cio_process_communicate(w->p, "input\n", 6, &out, &n, NULL, NULL);
        free(out);
    } else {
        w->rc = cio_process_wait(w->p);
    }
    return NULL;
}

static void *t_wait_cancelled(void *arg)
{
    (void)arg;
    char *argv[] = {"sleep", "30", NULL};
    /* kill_on_cancel: the child is killed and reaped */
    cio_process *p;
    cio_process_opts o = {.kill_on_cancel = true};
    CHECK_EQ(cio_process_exec("sleep", argv, &o, &p), 0);
    pid_t pid = cio_process_pid(p);
    waiter w = {.p = p};
    cio_task *t = cio_spawn(waiter_task, &w);
    cio_sleep(0.05);
    CHECK(!cio_done(t));
    cio_cancel(t, NULL);
    cio_await(t, NULL);
    CHECK_EQ(w.rc, -ECANCELED);
    CHECK(cio_cancelled(t));
    cio_release(t);
    CHECK(reaped_and_gone(pid));
    CHECK_EQ(cio_process_returncode(p), -SIGKILL);
    cio_process_free(p);

    /* through a timeout scope */
    CHECK_EQ(cio_process_exec("sleep", argv, &o, &p), 0);
    pid = cio_process_pid(p);
    cio_timeout to;
    cio_timeout_enter(&to, 0.1);
    CHECK_EQ(cio_timeout_exit(&to, cio_process_wait(p)), -ETIMEDOUT);
    CHECK(reaped_and_gone(pid));
    cio_process_free(p);

    /* communicate cancelled: the child (which keeps its stdout open) too */
    o = (cio_process_opts){.stdin_mode = CIO_PIPE, .stdout_mode = CIO_PIPE, .kill_on_cancel = true};
    CHECK_EQ(cio_process_shell("cat; exec sleep 30", &o, &p), 0);
    pid = cio_process_pid(p);
    w = (waiter){.p = p, .communicate = true};
    t = cio_spawn(waiter_task, &w);
    cio_sleep(0.1);
    CHECK(!cio_done(t));
    double t0 = cio_time();
    cio_cancel(t, NULL);
    cio_await(t, NULL);
    CHECK(cio_time() - t0 < 10.0); /* killed, not waited for (sleep 30) */
    CHECK_EQ(w.rc, -ECANCELED);
    cio_release(t);
    CHECK(reaped_and_gone(pid));
    cio_process_free(p);

    /* without kill_on_cancel the child lives on; free kills and reaps it */
    CHECK_EQ(cio_process_exec("sleep", argv, NULL, &p), 0);
    pid = cio_process_pid(p);
    w = (waiter){.p = p};
    t = cio_spawn(waiter_task, &w);
    cio_sleep(0.05);
    cio_cancel(t, NULL);
    cio_await(t, NULL);
    CHECK_EQ(w.rc, -ECANCELED);
    cio_release(t);
    CHECK_EQ(kill(pid, 0), 0); /* still running */
    CHECK_EQ(cio_process_returncode(p), CIO_EINVALSTATE);
    cio_process_free(p); /* killed, reaped in the background */
    for (int i = 0; i < 2000 && !reaped_and_gone(pid); i++)
        cio_sleep(0.005);
    CHECK(reaped_and_gone(pid));
    return NULL;
}

static void *t_stdin(void *arg)
{
    (void)arg;
    /* stdin closed early: cat sees EOF and ends */
    cio_process *p;
    cio_process_opts o = {.stdin_mode = CIO_PIPE, .stdout_mode = CIO_PIPE};
    char *argv[] = {"cat", NULL};
    CHECK_EQ(cio_process_exec("cat", argv, &o, &p), 0);
    CHECK_EQ(cio_stream_write(cio_process_stdin(p), "abc", 3), 0);
    CHECK_EQ(cio_process_close_stdin(p), 0);
    CHECK(cio_process_stdin(p) == NULL);
    CHECK_EQ(cio_process_close_stdin(p), 0); /* again: nothing to do */
    char *out;
    size_t n;
    CHECK_EQ(cio_stream_read_all(cio_process_stdout(p), &out, &n), 0);
    CHECK(n == 3 && memcmp(out, "abc", 3) == 0);
    free(out);
    CHECK_EQ(cio_process_wait(p), 0);
    cio_process_free(p);

    /* a child that never reads its input and exits: communicate is fine
     * with that (no SIGPIPE kills us: the test keeps the default action) */
    o = (cio_process_opts){.stdin_mode = CIO_PIPE};
    size_t big = 4u << 20;
    char *in = malloc(big);
    memset(in, 'i', big);
    CHECK_EQ(cio_process_shell("exit 5", &o, &p), 0);
    CHECK_EQ(cio_process_communicate(p, in, big, NULL, NULL, NULL, NULL), 5);
    cio_process_free(p);
    /* and writing into its stdin afterwards (it says when it closed it): -EPIPE */
    o.stdout_mode = CIO_PIPE;
    CHECK_EQ(cio_process_shell("exec 0<&-; echo closed; sleep 0.05", &o, &p), 0);
    char closed[7];
    CHECK_EQ(cio_stream_readexactly(cio_process_stdout(p), closed, sizeof closed, NULL), 0);
    CHECK(memcmp(closed, "closed\n", 7) == 0);
    int rc = cio_stream_write(cio_process_stdin(p), in, 1);
    if (rc == 0)
        rc = cio_stream_drain(cio_process_stdin(p));
    CHECK_EQ(rc, -EPIPE);
    CHECK_EQ(cio_process_wait(p), 0);
    cio_process_free(p);
    free(in);
    return NULL;
}

static void *t_large(void *arg)
{
    (void)arg;
    /* 1 MiB of output read fully */
    cio_process *p;
    cio_process_opts o = {.stdout_mode = CIO_PIPE};
    char *argv[] = {"head", "-c", "1048576", "/dev/zero", NULL};
    CHECK_EQ(cio_process_exec("head", argv, &o, &p), 0);
    char *out;
    size_t n;
    CHECK_EQ(cio_process_communicate(p, NULL, 0, &out, &n, NULL, NULL), 0);
    CHECK_EQ(n, 1048576);
    bool zero = true;
    for (size_t i = 0; i < n; i++)
        if (out[i])
            zero = false;
    CHECK(zero);
    free(out);
    cio_process_free(p);

    /* 8 MiB through cat: in and out at the same time (a writer that waited
     * for the input to be consumed before reading would deadlock) */
    o = (cio_process_opts){.stdin_mode = CIO_PIPE, .stdout_mode = CIO_PIPE, .stderr_mode = CIO_PIPE};
    size_t big = 8u << 20;
    unsigned char *in = malloc(big);
    for (size_t i = 0; i < big; i++)
        in[i] = (unsigned char)(i * 7 + (i >> 12));
    char *argv2[] = {"cat", NULL};
    CHECK_EQ(cio_process_exec("cat", argv2, &o, &p), 0);
    char *err;
    size_t errlen;
    CHECK_EQ(cio_process_communicate(p, in, big, &out, &n, &err, &errlen), 0);
    CHECK_EQ(n, big);
    CHECK(n == big && memcmp(out, in, big) == 0);
    CHECK_EQ(errlen, 0);
    free(out);
    free(err);
    free(in);
    cio_process_free(p);
    return NULL;
}

/* The child inherits no fd of ours besides 0-2, even fds without
 * close-on-exec. */
static void *t_no_inherited_fds(void *arg)
{
    (void)arg;
    int leak1 = dup(2); /* no FD_CLOEXEC */
    int pp[2];
    CHECK_EQ(pipe(pp), 0); /* nor these */
    int sock = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(leak1 > 2 && sock > 2);
    cio_process *p;
    cio_process_opts o = {.stdin_mode = CIO_PIPE, .stdout_mode = CIO_PIPE, .stderr_mode = CIO_PIPE};
    /* "; true" keeps the shell from exec'ing ls, so $$ is the shell */
    CHECK_EQ(cio_process_shell("ls /proc/$$/fd; true", &o, &p), 0);
    char *out, *err;
    size_t n, en;
    CHECK_EQ(cio_process_communicate(p, NULL, 0, &out, &n, &err, &en), 0);
    CHECK(n == 6 && memcmp(out, "0\n1\n2\n", 6) == 0);
    if (!(n == 6 && memcmp(out, "0\n1\n2\n", 6) == 0))
        fprintf(stderr, "  child's fds: %.*s\n", (int)n, out);
    free(out);
    free(err);
    cio_process_free(p);
    /* with inherited stdio too */
    o = (cio_process_opts){.stdout_mode = CIO_PIPE};
    CHECK_EQ(cio_process_shell("ls /proc/$$/fd; true", &o, &p), 0);
    CHECK_EQ(cio_process_communicate(p, NULL, 0, &out, &n, NULL, NULL), 0);
    CHECK(n == 6 && memcmp(out, "0\n1\n2\n", 6) == 0);
    free(out);
    cio_process_free(p);
    close(leak1);
    close(pp[0]);
    close(pp[1]);
    close(sock);
    return NULL;
}

typedef struct many {
    int i, rc;
    bool ok;
    const char *tally; /* a file each child adds a line to */
} many;

/* Each child adds its line to the tally, then waits (at most about 10 s)
 * until all MANY lines are there: a child prints "child i met" only if all
 * of them ran at the same time, a proof of concurrency without a clock. */
enum { MANY = 20 };
static void *many_task(void *arg)
{
    many *m = arg;
    char cmd[512], want[48];
    snprintf(cmd, sizeof cmd,
             "echo >> %s; n=0; while [ $(wc -l < %s) -lt %d ] && [ $n -lt 1000 ]; do sleep 0.01; n=$((n+1)); "
             "done; [ $(wc -l < %s) -ge %d ] && echo child %d met",
             m->tally, m->tally, MANY, m->tally, MANY, m->i);
    snprintf(want, sizeof want, "child %d met\n", m->i);
    cio_process *p;
    cio_process_opts o = {.stdout_mode = CIO_PIPE};
    m->rc = cio_process_shell(cmd, &o, &p);
    if (m->rc < 0)
        return NULL;
    char *out;
    size_t n;
    m->rc = cio_process_communicate(p, NULL, 0, &out, &n, NULL, NULL);
    m->ok = m->rc == 0 && n == strlen(want) && memcmp(out, want, n) == 0;
    free(out);
    cio_process_free(p);
    return NULL;
}

static void *t_children_run_concurrently(void *arg)
{
    (void)arg;
    char tally[] = "/tmp/cio-test-many.XXXXXX";
    int fd = mkstemp(tally);
    CHECK(fd >= 0);
    close(fd);
    many ms[MANY];
    cio_task *ts[MANY];
    for (int i = 0; i < MANY; i++) {
        ms[i] = (many){.i = i, .tally = tally};
        ts[i] = cio_spawn(many_task, &ms[i]);
    }
    CHECK_EQ(cio_gather(ts, MANY, NULL, NULL, 0), 0);
    for (int i = 0; i < MANY; i++) {
        CHECK_EQ(ms[i].rc, 0);
        CHECK(ms[i].ok); /* all MANY children ran at once */
        cio_release(ts[i]);
    }
    unlink(tally);
    return NULL;
}

/* Freeing a running child kills it and reaps it in the background. */
static void *t_free_running(void *arg)
{
    (void)arg;
    cio_process *p;
    cio_process_opts o = {.stdin_mode = CIO_PIPE, .stdout_mode = CIO_PIPE, .stderr_mode = CIO_PIPE};
    char *argv[] = {"sleep", "30", NULL};
    CHECK_EQ(cio_process_exec("sleep", argv, &o, &p), 0);
    pid_t pid = cio_process_pid(p);
    cio_process_free(p);
    for (int i = 0; i < 2000 && !reaped_and_gone(pid); i++)
        cio_sleep(0.005);
    CHECK(reaped_and_gone(pid));
    return NULL;
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test */
    RUN_TASK_TEST(t_exec_communicate);
    RUN_TASK_TEST(t_shell_codes);
    RUN_TASK_TEST(t_signals);
    RUN_TASK_TEST(t_enoent);
    RUN_TASK_TEST(t_wait_cancelled);
    RUN_TASK_TEST(t_stdin);
    RUN_TASK_TEST(t_large);
    RUN_TASK_TEST(t_no_inherited_fds);
    RUN_TASK_TEST(t_children_run_concurrently);
    RUN_TASK_TEST(t_free_running);
    struct sigaction sa;
    sigaction(SIGPIPE, NULL, &sa);
    CHECK(sa.sa_handler == SIG_DFL);
    return check_exit();
}
