/* SPDX-License-Identifier: MIT */
/* Misuse is detected, not silent (issue 14 §3):
 *
 *   - a second cio_release (or a cio_ref) of a task or future whose last
 *     reference is gone aborts with the object's name on stderr, as does a
 *     release that takes the loop's own reference of a running task: a task
 *     record still in the pool (any mode), a task or future in debug mode
 *     even after dozens of other tasks were spawned since (the released
 *     record is quarantined, not reused at once); each in a forked child;
 *   - balanced references in debug mode never abort, and a loop closed with
 *     records in quarantine leaks nothing;
 *   - cio_spawn / cio_future_new without a loop: NULL, errno = -CIO_ENOLOOP;
 *   - cio_task_start twice, on a running task, on a future, on a closed
 *     loop's task;
 *   - the cio_sock_* calls outside a task: CIO_ENOTASK at once, even on a
 *     ready socket, which is left untouched;
 *   - servers: start without a loop / outside a task, every call after
 *     close (close again, serve_forever, wait_closed, sockets, port),
 *     serve_forever / wait_closed outside a task.
 *
 * Exit 0 = pass. */
#include "check.h"
#include "lib/child.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- children that must abort ------------------------------------------- */

/* child_stderr's fn takes an argument: here it is the plain function to run. */
static void run_plain(void *fn) { (*(void (**)(void))fn)(); }

static void expect_abort(const char *name, void (*fn)(void), const char *want1, const char *want2)
{
    check_current = name;
    int fails = check_failures;
    char err[4096];
    int st = child_stderr(run_plain, &fn, err, sizeof err);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    CHECK(strstr(err, want1) != NULL);
    CHECK(!want2 || strstr(err, want2) != NULL);
    if (!want2) { /* the child said what it wants on a "want: " line */
        const char *w = strstr(err, "want: ");
        char line[64] = "";
        CHECK(w && sscanf(w + 6, "%63[^\n]", line) == 1);
        CHECK(line[0] && strstr(strchr(w, '\n') ? strchr(w, '\n') : w, line) != NULL);
    }
    if (check_failures != fails)
        fprintf(stderr, "  child status 0x%x, stderr: %s\n", st, err);
    fprintf(stderr, "%s %s\n", check_failures == fails ? "ok  " : "FAIL", name);
}

static void *nothing(void *arg) { return arg; }

static void *drop_conn(cio_stream *s, void *arg)
{
    (void)s;
    return arg;
}

/* Spawns n short tasks and waits for each: a pool that hands records out
 * again at once gives them the record released just before. */
static void churn(int n)
{
    for (int i = 0; i < n; i++) {
        cio_task *t = cio_spawn(nothing, NULL);
        cio_await(t, NULL);
        cio_release(t);
    }
}

static void *double_release_task(void *arg)
{
    int nchurn = (int)(intptr_t)arg;
    cio_task *t = cio_spawn_ex(NULL, nothing, NULL, &(cio_task_opts){.name = "victim-task"});
    cio_await(t, NULL);
    cio_release(t); /* the last reference: the loop's went when it finished */
    churn(nchurn);
    cio_release(t); /* misuse */
    return NULL;
}

/* An unnamed task: its dead record still names it "Task-<id>", whether its
 * name was asked for while it lived (arg non-NULL: the name made then is
 * kept) or not (made from the id by the report). */
static void *double_release_unnamed(void *arg)
{
    cio_task *t = cio_spawn(nothing, NULL);
    char want[48];
    snprintf(want, sizeof want, "Task <Task-%llu>", (unsigned long long)cio_task_id(t));
    if (arg)
        (void)cio_task_name(t);
    fprintf(stderr, "want: %s\n", want);
    cio_await(t, NULL);
    cio_release(t);
    cio_release(t); /* misuse */
    return NULL;
}

static void run_in_loop(bool debug, cio_task_fn fn, void *arg)
{
    cio_loop *l = cio_loop_new();
    cio_loop_set_debug(l, debug);
    cio_loop_set_current(l);
    cio_task *m = cio_spawn_ex(l, fn, arg, NULL);
    cio_loop_run_until_complete(l, m, NULL);
    cio_release(m);
    cio_loop_close(l);
}

static void c_task_plain(void) { run_in_loop(false, double_release_task, (void *)0); }
static void c_task_debug_after_churn(void) { run_in_loop(true, double_release_task, (void *)64); }

static void c_unnamed_plain(void) { run_in_loop(false, double_release_unnamed, NULL); }
static void c_unnamed_asked_debug(void) { run_in_loop(true, double_release_unnamed, (void *)1); }

static void *double_release_future(void *arg)
{
    (void)arg;
    cio_future *f = cio_future_new(NULL);
    cio_future_set_result(f, NULL);
    cio_release(f);
    churn(8);
    cio_release(f);
    return NULL;
}
static void c_future_debug(void) { run_in_loop(true, double_release_future, NULL); }

static void *ref_after_release(void *arg)
{
    (void)arg;
    cio_task *t = cio_spawn_ex(NULL, nothing, NULL, &(cio_task_opts){.name = "late-ref"});
    cio_await(t, NULL);
    cio_release(t);
    cio_ref(t);
    return NULL;
}
static void c_ref_debug(void) { run_in_loop(true, ref_after_release, NULL); }

static void *sleep_long(void *arg)
{
    (void)arg;
    cio_sleep(3600);
    return NULL;
}

/* The caller has one reference, the loop the other until the task ends. */
static void *release_running(void *arg)
{
    (void)arg;
    cio_task *t = cio_spawn_ex(NULL, sleep_long, NULL, &(cio_task_opts){.name = "still-running"});
    cio_yield();
    cio_release(t);
    cio_release(t); /* misuse: the loop's */
    return NULL;
}
static void c_release_running(void) { run_in_loop(false, release_running, NULL); }

static void t_double_release(void)
{
    expect_abort("release_running_task", c_release_running, "cio_release", "still-running");
    expect_abort("double_release_pooled_task", c_task_plain, "cio_release", "victim-task");
    expect_abort("double_release_debug_after_64_spawns", c_task_debug_after_churn, "cio_release", "victim-task");
    expect_abort("double_release_unnamed_task", c_unnamed_plain, "cio_release", NULL);
    expect_abort("double_release_unnamed_named_debug", c_unnamed_asked_debug, "cio_release", NULL);
    expect_abort("double_release_future_debug", c_future_debug, "cio_release", "Future");
    expect_abort("ref_after_release_debug", c_ref_debug, "cio_ref", "late-ref");
}

/* Balanced references in debug mode: no abort; the loop closes with records
 * still in quarantine (leak-checked under ASan, fds and tasks by the
 * harness). */
static void *t_balanced_debug(void *arg)
{
    (void)arg;
    cio_loop_set_debug(cio_loop_current(), true);
    for (int i = 0; i < 100; i++) {
        cio_task *t = cio_spawn(nothing, NULL);
        cio_ref(t);
        cio_await(t, NULL);
        cio_release(t);
        cio_release(t);
        cio_future *f = cio_future_new(NULL);
        cio_future_set_result(f, NULL);
        cio_release(f);
    }
    return NULL;
}

/* ---- error codes -------------------------------------------------------- */

static void t_no_loop(void)
{
    check_current = "no_loop";
    int fails = check_failures;
    CHECK(cio_loop_current() == NULL);
    errno = 0;
    CHECK(cio_spawn(nothing, NULL) == NULL);
    CHECK_EQ(errno, -CIO_ENOLOOP);
    CHECK(strcmp(cio_strerror(-errno), cio_strerror(CIO_ENOLOOP)) == 0);
    errno = 0;
    CHECK(cio_future_new(NULL) == NULL);
    CHECK_EQ(errno, -CIO_ENOLOOP);
    cio_server *srv = (cio_server *)1;
    CHECK_EQ(cio_start_server(drop_conn, NULL, "127.0.0.1", "0", NULL, &srv), CIO_ENOLOOP);
    CHECK(srv == NULL);
    fprintf(stderr, "%s %s\n", check_failures == fails ? "ok  " : "FAIL", check_current);
}

static void *t_task_start(void *arg)
{
    (void)arg;
    cio_task *lazy = cio_spawn_ex(NULL, nothing, NULL, &(cio_task_opts){.flags = CIO_TASK_LAZY});
    CHECK_EQ(cio_task_state(lazy), CIO_TASK_CREATED);
    CHECK_EQ(cio_task_start(lazy), 0);
    CHECK_EQ(cio_task_start(lazy), CIO_EINVALSTATE); /* twice */
    CHECK_EQ(cio_await(lazy, NULL), 0);
    CHECK_EQ(cio_task_start(lazy), CIO_EINVALSTATE); /* done */
    cio_release(lazy);
    CHECK_EQ(cio_task_start(cio_current_task()), CIO_EINVALSTATE); /* running, never lazy */
    cio_future *f = cio_future_new(NULL);
    CHECK_EQ(cio_task_start(f), CIO_EINVALSTATE); /* not a task */
    cio_release(f);
    return NULL;
}

static void t_task_start_closed_loop(void)
{
    check_current = "task_start_closed_loop";
    int fails = check_failures;
    cio_loop *l = cio_loop_new();
    cio_task *lazy = cio_spawn_ex(l, nothing, NULL, &(cio_task_opts){.flags = CIO_TASK_LAZY});
    CHECK(lazy != NULL);
    CHECK_EQ(cio_loop_close(l), 0);
    CHECK_EQ(cio_task_start(lazy), CIO_ELOOPCLOSED);
    cio_release(lazy);
    fprintf(stderr, "%s %s\n", check_failures == fails ? "ok  " : "FAIL", check_current);
}

/* ---- sockets outside a task --------------------------------------------- */

static void t_sock_outside_task(void)
{
    check_current = "sock_outside_task";
    int fails = check_failures;
    cio_loop *l = cio_loop_new();
    cio_loop_set_current(l);
    int sp[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp), 0);
    CHECK_EQ(write(sp[1], "x", 1), 1); /* sp[0] is readable: recv could complete */
    char c;
    CHECK_EQ(cio_sock_recv(sp[0], &c, 1), CIO_ENOTASK);
    CHECK_EQ(cio_sock_sendall(sp[0], "y", 1), CIO_ENOTASK);
    CHECK_EQ(cio_sock_recvfrom(sp[0], &c, 1, NULL, NULL), CIO_ENOTASK);
    CHECK_EQ(cio_sock_sendto(sp[0], "y", 1, NULL, 0), CIO_ENOTASK);
    /* nothing was consumed nor sent */
    CHECK_EQ(recv(sp[0], &c, 1, 0), 1);
    CHECK_EQ(c, 'x');
    CHECK_EQ(recv(sp[1], &c, 1, 0), -1);
    CHECK_EQ(errno, EAGAIN);
    int lfd = cio_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    CHECK_EQ(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    CHECK_EQ(listen(lfd, 4), 0);
    CHECK_EQ(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
    int cfd = cio_socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(cio_sock_connect(cfd, (struct sockaddr *)&a, sizeof a), CIO_ENOTASK);
    CHECK_EQ(connect(cfd, (struct sockaddr *)&a, sizeof a) == 0 || errno == EINPROGRESS, 1);
    struct pollfd pf = {.fd = lfd, .events = POLLIN};
    CHECK_EQ(poll(&pf, 1, 5000), 1); /* a connection is waiting: accept could complete */
    CHECK_EQ(cio_sock_accept(lfd, NULL, NULL), CIO_ENOTASK);
    int afd = accept(lfd, NULL, NULL);
    CHECK(afd >= 0); /* still there */
    close(afd);
    close(cfd);
    close(lfd);
    close(sp[0]);
    close(sp[1]);
    CHECK_EQ(cio_loop_close(l), 0);
    fprintf(stderr, "%s %s\n", check_failures == fails ? "ok  " : "FAIL", check_current);
}

/* ---- servers ------------------------------------------------------------ */

static void t_server_outside_task(void)
{
    check_current = "server_outside_task";
    int fails = check_failures;
    cio_loop *l = cio_loop_new();
    cio_loop_set_current(l);
    cio_server *srv = (cio_server *)1;
    /* resolving a host name suspends: a task is needed */
    CHECK_EQ(cio_start_server(drop_conn, NULL, "localhost", "0", NULL, &srv), CIO_ENOTASK);
    CHECK(srv == NULL);
    /* a numeric address needs no lookup, so no task (as cio_getaddrinfo) */
    CHECK_EQ(cio_start_server(drop_conn, NULL, "127.0.0.1", "0", NULL, &srv), 0);
    CHECK(srv != NULL && cio_server_port(srv) > 0);
    cio_server_free(srv);
    CHECK_EQ(cio_loop_close(l), 0);
    fprintf(stderr, "%s %s\n", check_failures == fails ? "ok  " : "FAIL", check_current);
}

static cio_server *outside_srv;
static void serve_outside(void *arg)
{
    int *rc = arg;
    rc[0] = cio_server_serve_forever(outside_srv);
    rc[1] = cio_server_wait_closed(outside_srv);
}

static void *t_server_after_close(void *arg)
{
    (void)arg;
    cio_server *srv = NULL;
    CHECK_EQ(cio_start_server(drop_conn, NULL, "127.0.0.1", "0", NULL, &srv), 0);
    if (!srv)
        return NULL;
    int port = cio_server_port(srv);
    CHECK(port > 0);
    /* serve_forever / wait_closed from a callback (no task) on an open server */
    int rc[2] = {1, 1};
    outside_srv = srv;
    CHECK_EQ(cio_call_soon(cio_loop_current(), serve_outside, rc, NULL), 0);
    cio_yield();
    CHECK_EQ(rc[0], CIO_ENOTASK);
    CHECK_EQ(rc[1], CIO_ENOTASK);
    int fd;
    CHECK_EQ(cio_server_sockets(srv, &fd, 1), 1);
    cio_server_close(srv);
    cio_server_close(srv); /* again: nothing */
    CHECK_EQ(cio_server_sockets(srv, &fd, 1), 0);
    CHECK_EQ(cio_server_port(srv), port);
    CHECK_EQ(cio_server_serve_forever(srv), 0); /* closed: returns at once */
    CHECK_EQ(cio_server_wait_closed(srv), 0);
    CHECK_EQ(cio_server_active(srv), 0);
    /* closed and idle: these need not suspend, so they work from a callback */
    rc[0] = rc[1] = 1;
    CHECK_EQ(cio_call_soon(cio_loop_current(), serve_outside, rc, NULL), 0);
    cio_yield();
    CHECK_EQ(rc[0], 0);
    CHECK_EQ(rc[1], 0);
    /* nothing listens any more */
    int c = cio_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_EQ(cio_sock_connect(c, (struct sockaddr *)&a, sizeof a), -ECONNREFUSED);
    cio_close(c);
    cio_server_free(srv);
    cio_server_free(NULL);
    return NULL;
}

int main(void)
{
    RUN_TEST(t_double_release);
    RUN_TASK_TEST(t_balanced_debug);
    RUN_TEST(t_no_loop);
    RUN_TASK_TEST(t_task_start);
    RUN_TEST(t_task_start_closed_loop);
    RUN_TEST(t_sock_outside_task);
    RUN_TEST(t_server_outside_task);
    RUN_TASK_TEST(t_server_after_close);
    return check_exit();
}
