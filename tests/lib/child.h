/* SPDX-License-Identifier: MIT */
/* Forked children whose output the test reads back:
 *
 *   child_pipe(fn, arg, out, cap)    runs fn(arg, fd) in a forked child, fd
 *       the write end of a pipe (no core file, killed by SIGALRM after 20 s);
 *       collects what the child writes to it into out (NUL-terminated, at
 *       most cap - 1 bytes) and returns its wait status (-1 if the pipe
 *       could not be made).  For tests of what cio_run does to a process.
 *   child_stderr(fn, arg, out, cap)  the same with fn(arg) and the child's
 *       stderr as the pipe.  For tests of what a program prints as it dies:
 *       aborts on misuse, stack overflows. */
#ifndef CIO_TESTS_LIB_CHILD_H
#define CIO_TESTS_LIB_CHILD_H

#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static inline int child_pipe(void (*fn)(void *, int), void *arg, char *out, size_t cap)
{
    int p[2];
    if (pipe(p) < 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        struct rlimit rl = {0, 0}; /* no core files */
        setrlimit(RLIMIT_CORE, &rl);
        alarm(20);
        fn(arg, p[1]);
        _exit(0);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(p[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    close(p[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return st;
}

typedef struct child_call {
    void (*fn)(void *);
    void *arg;
} child_call;

static inline void child_call_with_stderr(void *call, int fd)
{
    child_call *c = call;
    dup2(fd, 2);
    close(fd);
    c->fn(c->arg);
}

static inline int child_stderr(void (*fn)(void *), void *arg, char *out, size_t cap)
{
    child_call c = {fn, arg};
    return child_pipe(child_call_with_stderr, &c, out, cap);
}

#endif
