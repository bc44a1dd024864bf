/* SPDX-License-Identifier: MIT */
/* CPython Lib/test/test_asyncio/test_pep492.py, ported (see conformance.h).
 *
 * `async with lock` is a guard (cio.h, "Scoped acquire/release"); `async
 * for line in stream` is a cio_stream_readline() loop; an awaited
 * coroutine is a C call. */
#define CONF_FILE "test_pep492"
#include "conformance.h"

#include <sys/socket.h>
#include <unistd.h>

/* ---- LockTests ------------------------------------------------------------ */

/* One of Lock, Condition, Semaphore, BoundedSemaphore behind one interface. */
typedef struct prim {
    const char *name;
    int (*acquire)(void *p);
    void (*release)(void *p);
    bool (*locked)(const void *p);
    void *p;
} prim;

static int lock_acquire(void *p) { return cio_lock_acquire(p); }
static void lock_release(void *p) { CHECK_EQ(cio_lock_release(p), 0); }
static bool lock_locked(const void *p) { return cio_lock_locked(p); }
static int cond_acquire(void *p) { return cio_cond_acquire(p); }
static void cond_release(void *p) { CHECK_EQ(cio_cond_release(p), 0); }
static bool cond_locked(const void *p) { return cio_cond_locked(p); }
static int sem_acquire(void *p) { return cio_sem_acquire(p); }
static void sem_release(void *p) { CHECK_EQ(cio_sem_release(p), 0); }
static bool sem_locked(const void *p) { return cio_sem_locked(p); }

static void *async_with(void *arg)
{
    prim *pr = arg;
    cio_sleep(0.01);
    CHECK(!pr->locked(pr->p));
    {
        /* async with lock: */
        CIO_GUARD(g);
        CHECK_EQ(pr->acquire(pr->p), 0);
        cio_guard_arm(&g, pr->p, pr->release);
        CHECK(pr->locked(pr->p));
        cio_sleep(0.01);
        CHECK(pr->locked(pr->p));
    }
    CHECK(!pr->locked(pr->p));
    return NULL;
}

CONF_PLAIN(test_context_manager_async_with)
{
    cio_loop *l = cio_loop_new();
    cio_loop_set_current(l);
    cio_lock *lock = cio_lock_new();
    cio_cond *cond = cio_cond_new(NULL);
    cio_sem *sem = cio_sem_new(1), *bsem = cio_sem_new_bounded(1);
    prim prims[] = {
        {"Lock", lock_acquire, lock_release, lock_locked, lock},
        {"Condition", cond_acquire, cond_release, cond_locked, cond},
        {"Semaphore", sem_acquire, sem_release, sem_locked, sem},
        {"BoundedSemaphore", sem_acquire, sem_release, sem_locked, bsem},
    };
    for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++) {
        cio_task *t = cio_spawn_ex(l, async_with, &prims[i], NULL);
        CHECK_EQ(cio_loop_run_until_complete(l, t, NULL), 0);
        cio_release(t);
        CHECK(!prims[i].locked(prims[i].p));
    }
    cio_lock_free(lock);
    cio_cond_free(cond);
    cio_sem_free(sem);
    cio_sem_free(bsem);
    check_loop_clean(l);
    CHECK_EQ(cio_loop_close(l), 0);
}

/* ---- StreamReaderTests -------------------------------------------------- */

CONF_TASK(test_readline)
{
    static const char DATA[] = "line1\nline2\nline3";
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    /* feed_data(DATA); feed_eof() */
    CHECK_EQ(write(sv[1], DATA, sizeof DATA - 1), (ssize_t)(sizeof DATA - 1));
    close(sv[1]);
    cio_stream *s = NULL;
    CHECK_EQ(cio_stream_from_fd(sv[0], NULL, false, &s), 0);
    /* async for line in stream: data.append(line) */
    char got[3][16];
    size_t n = 0;
    for (;;) {
        const char *line;
        size_t len;
        CHECK_EQ(cio_stream_readline(s, &line, &len), 0);
        if (len == 0)
            break;
        if (n < 3)
            snprintf(got[n], sizeof got[n], "%.*s", (int)len, line);
        n++;
    }
    CHECK_EQ(n, 3);
    CHECK(!strcmp(got[0], "line1\n"));
    CHECK(!strcmp(got[1], "line2\n"));
    CHECK(!strcmp(got[2], "line3"));
    CHECK_EQ(cio_stream_close(s), 0);
    return NULL;
}

/* ---- CoroutineTests --------------------------------------------------- */

static const char *bar(void) { return "spam"; }
static void *foo(void *arg)
{
    (void)arg;
    return (void *)bar();
}

CONF_PLAIN(test_async_def_coroutines)
{
    cio_loop *l = cio_loop_new();
    cio_loop_set_current(l);
    for (int debug = 0; debug < 2; debug++) { /* production mode, then debug mode */
        cio_loop_set_debug(l, debug);
        cio_task *t = cio_spawn_ex(l, foo, NULL, NULL);
        void *v = NULL;
        CHECK_EQ(cio_loop_run_until_complete(l, t, &v), 0);
        CHECK(v && !strcmp(v, "spam"));
        cio_release(t);
    }
    check_loop_clean(l);
    CHECK_EQ(cio_loop_close(l), 0);
}

CONF_MAIN()
