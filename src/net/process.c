/* SPDX-License-Identifier: MIT */
/* Subprocesses (asyncio.create_subprocess_exec / _shell).
 *
 * The child is started with posix_spawn (vfork-fast, and exec failures such
 * as ENOENT come back as return values), with every fd above 2 closed in
 * the child (asyncio's close_fds=True).  Its pipes are cio streams.  Exit
 * is awaited through a pidfd, which is an ordinary readable fd for the
 * loop; kernels without pidfd_open fall back to SIGCHLD plus waitpid. */
#include "net/net.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct cio_process {
    pid_t pid;
    int pidfd; /* -1 without pidfd support */
    int returncode;
    bool reaped;
    bool kill_on_cancel;
    cio_stream *io[3];
};

static int pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) {
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        return fd;
    }
#else
    (void)pid;
#endif
    return -1;
}

static int code_of(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return -WTERMSIG(status);
    return 0;
}

/* Reaps the child if it has exited; true when reaped. */
static bool try_reap(cio_process *p)
{
    if (p->reaped)
        return true;
    int status;
    pid_t r;
    do
        r = waitpid(p->pid, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == p->pid) {
        p->returncode = code_of(status);
        p->reaped = true;
    } else if (r < 0 && errno == ECHILD) {
        /* reaped by someone else (a SIGCHLD handler of the application) */
        p->returncode = 0;
        p->reaped = true;
    }
    if (p->reaped && p->pidfd >= 0) {
        cio_close(p->pidfd);
        p->pidfd = -1;
    }
    return p->reaped;
}

static int spawn(const char *file, char *const argv[], const cio_process_opts *opts, bool search, cio_process **out)
{
    *out = NULL;
    cio_process_opts o = opts ? *opts : (cio_process_opts){0};
    if (o.stdin_mode == CIO_STDOUT || o.stdout_mode == CIO_STDOUT)
        return -EINVAL;
    cio_process *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->pidfd = -1;
    p->kill_on_cancel = o.kill_on_cancel;
    int modes[3] = {o.stdin_mode, o.stdout_mode, o.stderr_mode};
    int parent[3] = {-1, -1, -1}, child[3] = {-1, -1, -1};
    int rc = 0;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    for (int i = 0; i < 3; i++) {
        if (modes[i] == CIO_PIPE) {
            int pp[2];
            if (pipe2(pp, O_CLOEXEC) < 0) {
                rc = -errno;
                goto out;
            }
            parent[i] = i == 0 ? pp[1] : pp[0];
            child[i] = i == 0 ? pp[0] : pp[1];
            fcntl(parent[i], F_SETFL, fcntl(parent[i], F_GETFL) | O_NONBLOCK);
            posix_spawn_file_actions_adddup2(&fa, child[i], i);
        } else if (modes[i] == CIO_DEVNULL) {
            posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
        } else if (modes[i] == CIO_STDOUT) { /* stderr into stdout */
            posix_spawn_file_actions_adddup2(&fa, 1, 2);
        }
    }
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (o.cwd)
        posix_spawn_file_actions_addchdir_np(&fa, o.cwd);
    /* The child starts with default signal dispositions for what we catch
     * and an empty mask. */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char *const *envp = o.envp ? o.envp : environ;
    int e = search ? posix_spawnp(&p->pid, file, &fa, &attr, argv, envp) : posix_spawn(&p->pid, file, &fa, &attr, argv, envp);
    if (e) {
        rc = -e;
        goto out;
    }
    p->pidfd = pidfd_open_(p->pid);
    for (int i = 0; i < 3; i++) {
        if (parent[i] >= 0) {
            int fd = parent[i];
            parent[i] = -1;
            if ((rc = cio__stream_new(fd, -1, NULL, &p->io[i])) < 0)
                goto out;
        }
    }
out:
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    for (int i = 0; i < 3; i++) {
        if (child[i] >= 0)
            close(child[i]);
        if (parent[i] >= 0)
            close(parent[i]);
    }
    if (rc < 0 && p->pid == 0) {
        for (int i = 0; i < 3; i++)
            if (p->io[i])
                cio_stream_abort(p->io[i]);
        free(p);
        return rc;
    }
    if (rc < 0) {
        cio_process_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int cio_process_exec(const char *file, char *const argv[], const cio_process_opts *opts, cio_process **out)
{
    if (!file || !argv)
        return -EINVAL;
    return spawn(file, argv, opts, true, out);
}

int cio_process_shell(const char *cmd, const cio_process_opts *opts, cio_process **out)
{
    if (!cmd)
        return -EINVAL;
    char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    return spawn("/bin/sh", argv, opts, false, out);
}

pid_t cio_process_pid(const cio_process *p) { return p->pid; }
cio_stream *cio_process_stdin(cio_process *p) { return p->io[0]; }
cio_stream *cio_process_stdout(cio_process *p) { return p->io[1]; }
cio_stream *cio_process_stderr(cio_process *p) { return p->io[2]; }

int cio_process_close_stdin(cio_process *p)
{
    cio_stream *s = p->io[0];
    if (!s)
        return 0;
    p->io[0] = NULL;
    int rc = cio_stream_close(s);
    return rc == -EPIPE ? 0 : rc;
}

int cio_process_returncode(const cio_process *p) { return p->reaped ? p->returncode : CIO_EINVALSTATE; }

static int wait_exit(cio_process *p)
{
    while (!try_reap(p)) {
        int rc;
        if (p->pidfd >= 0) {
            rc = cio_wait_readable(p->pidfd);
        } else {
            /* no pidfd: SIGCHLD wakes us; the timeout covers a signal that
             * arrived between the waitpid above and this wait */
            cio_timeout to;
            cio_timeout_enter(&to, 0.05);
            rc = cio_timeout_exit(&to, cio_signal_wait(SIGCHLD));
            if (rc == -ETIMEDOUT || rc == SIGCHLD)
                rc = 0;
        }
        if (rc < 0)
            return rc;
    }
    return p->returncode;
}

int cio_process_wait(cio_process *p)
{
    int rc = wait_exit(p);
    if (rc == -ECANCELED && p->kill_on_cancel && !p->reaped) {
        kill(p->pid, SIGKILL);
        /* the kill is immediate; reap without another cancellation point */
        int status;
        while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR) {
        }
        p->returncode = code_of(status);
        p->reaped = true;
        if (p->pidfd >= 0) {
            cio_close(p->pidfd);
            p->pidfd = -1;
        }
    }
    return rc;
}

int cio_process_send_signal(cio_process *p, int signo)
{
    if (try_reap(p))
        return -ESRCH;
    return kill(p->pid, signo) < 0 ? -errno : 0;
}

int cio_process_terminate(cio_process *p) { return cio_process_send_signal(p, SIGTERM); }
int cio_process_kill(cio_process *p) { return cio_process_send_signal(p, SIGKILL); }

typedef struct reader {
    cio_stream *s;
    char *data;
    size_t len;
} reader;

static void *read_all_task(void *arg)
{
    reader *r = arg;
    int rc = cio_stream_read_all(r->s, &r->data, &r->len);
    return rc < 0 ? cio_fail(rc, NULL) : NULL;
}

int cio_process_communicate(cio_process *p, const void *input, size_t inlen, char **out, size_t *outlen, char **err,
                            size_t *errlen)
{
    if (out)
        *out = NULL;
    if (outlen)
        *outlen = 0;
    if (err)
        *err = NULL;
    if (errlen)
        *errlen = 0;
    reader rd[2] = {{p->io[1], NULL, 0}, {p->io[2], NULL, 0}};
    cio_task *ts[2] = {NULL, NULL};
    int rc = 0;
    for (int i = 0; i < 2; i++)
        if (rd[i].s && !(ts[i] = cio_spawn(read_all_task, &rd[i])))
            rc = -errno;
    if (rc == 0 && p->io[0]) {
        if (input && inlen) {
            rc = cio_stream_write(p->io[0], input, inlen);
            if (rc == 0)
                rc = cio_stream_drain(p->io[0]);
            if (rc == -EPIPE || rc == -ECONNRESET)
                rc = 0; /* the child did not want it all: as asyncio, not an error */
        }
        int c = cio_process_close_stdin(p);
        if (rc == 0 && c == -ECANCELED)
            rc = c;
    }
    for (int i = 0; i < 2; i++) {
        if (!ts[i])
            continue;
        if (rc < 0)
            cio_cancel(ts[i], NULL);
        int r = cio_await(ts[i], NULL);
        if (rc == 0 && r < 0)
            rc = r;
        cio_release(ts[i]);
    }
    if (rc == 0)
        rc = cio_process_wait(p);
    else if (rc == -ECANCELED && p->kill_on_cancel && !p->reaped) {
        /* the cancellation was consumed above, so wait() alone would wait
         * for the child to end by itself: kill it first */
        kill(p->pid, SIGKILL);
        cio_process_wait(p);
    }
    if (rc >= 0) {
        if (out) {
            *out = rd[0].data;
            rd[0].data = NULL;
        }
        if (outlen)
            *outlen = rd[0].len;
        if (err) {
            *err = rd[1].data;
            rd[1].data = NULL;
        }
        if (errlen)
            *errlen = rd[1].len;
    }
    free(rd[0].data);
    free(rd[1].data);
    return rc;
}

static void *reap_task(void *arg)
{
    cio_process *p = arg;
    /* SIGKILL was sent; pidfd readiness follows promptly */
    while (!try_reap(p) && p->pidfd >= 0 && cio_wait_readable(p->pidfd) >= 0) {
    }
    if (!p->reaped) {
        int status;
        while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    if (p->pidfd >= 0)
        cio_close(p->pidfd);
    free(p);
    return NULL;
}

void cio_process_free(cio_process *p)
{
    if (!p)
        return;
    for (int i = 0; i < 3; i++)
        if (p->io[i])
            cio_stream_abort(p->io[i]);
    if (!try_reap(p)) {
        kill(p->pid, SIGKILL);
        cio_task *t = cio_loop_current() ? cio_spawn(reap_task, p) : NULL;
        if (t) {
            cio_release(t);
            return;
        }
        int status;
        while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    if (p->pidfd >= 0)
        cio_close(p->pidfd);
    free(p);
}
