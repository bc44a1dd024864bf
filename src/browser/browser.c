/* SPDX-License-Identifier: MIT */
/* A headless-browser driver (pyppeteer's launch / Browser): Chromium over
 * the DevTools protocol on two pipes.
 *
 * The browser is started through /bin/sh so that the two pipes cio's
 * process calls give it (stdin, stdout) become the fds 3 and 4 that
 * --remote-debugging-pipe reads and writes, and through setsid(1) so that
 * it leads a process group: killing the group ends the renderers and
 * helpers it forked, too.  One reader task per browser splits the
 * NUL-terminated messages and hands each answer to the task waiting for
 * it (by id) and each event to its page (by session). */
#include "browser/browser.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

/* What a read asks for at least: big messages (screenshots) come in big
 * pieces. */
#define READ_CHUNK (64 * 1024)
/* How long close() lets the browser quit by itself before killing it. */
#define QUIT_GRACE 5.0
/* The longest $TMPDIR the browser's directory is made in (see make_dir). */
#define MAX_TMPDIR 38
/* How long close() waits for the browser's helpers to die after SIGKILL,
 * looking every GROUP_POLL seconds. */
#define GROUP_GRACE 5.0
#define GROUP_POLL 0.01

/* Flags every launch passes (pyppeteer's defaults plus the brief's):
 * --no-sandbox because Chromium's sandbox refuses to run as root. */
static const char *const base_flags[] = {
    "--no-sandbox",          "--disable-gpu",  "--disable-quic",
    "--no-first-run",        "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--hide-scrollbars",
    "--mute-audio",          "--remote-debugging-pipe",
};
#define NBASE (sizeof base_flags / sizeof base_flags[0])

/* sh -c SCRIPT exe args...: the pipes become fds 3 and 4, stdin is
 * /dev/null, stdout joins stderr; setsid starts a new session (and group)
 * without forking, so the pid stays the browser's. */
static const char launch_script[] = "exec setsid \"$0\" \"$@\" 3<&0 4>&1 0</dev/null 1>&2";

int cio__browser_fail(cio_browser *b, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, sizeof b->err, fmt, ap);
    va_end(ap);
    return err;
}

pid_t cio_browser_pid(const cio_browser *b) { return cio_process_pid(b->proc); }
const char *cio_browser_dir(const cio_browser *b) { return b->dir; }
const char *cio_browser_error(const cio_browser *b) { return b->err; }

/* ---- waits and calls ----------------------------------------------------- */

void cio__cdp_wake(struct cio__cdp_wait *w, int err)
{
    w->err = err;
    cio__list_remove(&w->link);
    cio_future_set_result(w->f, NULL);
}

int cio__cdp_wait(cio_browser *b, struct cio__cdp_wait *w, double timeout)
{
    int rc = cio_wait_for(w->f, timeout, NULL);
    cio__list_remove(&w->link);
    cio_release(w->f);
    w->f = NULL;
    if (rc == 0)
        rc = w->err;
    if (rc < 0 && w->msg) { /* an answer that came with the timeout or cancel */
        cJSON_Delete(w->msg);
        w->msg = NULL;
    }
    if (rc == -ETIMEDOUT)
        cio__browser_fail(b, rc, "the browser did not answer in time");
    else if (rc == -ECANCELED)
        cio__browser_fail(b, rc, "cancelled");
    else if (rc < 0 && rc == b->dead)
        cio__browser_fail(b, rc, "the browser is gone (it exited or was killed)");
    return rc;
}

/* Writes one command; its answer, if any, goes to the waiter with its id.
 * Returns the id or a negative code. */
static int send_command(cio_browser *b, const char *session, const char *method, cJSON *params)
{
    if (b->dead) {
        cJSON_Delete(params);
        return cio__browser_fail(b, b->dead, "the browser is gone (it exited or was killed)");
    }
    cJSON *m = cJSON_CreateObject();
    if (!m) {
        cJSON_Delete(params);
        return -ENOMEM;
    }
    b->next_id = b->next_id == INT_MAX ? 1 : b->next_id + 1;
    int id = b->next_id;
    cJSON_AddNumberToObject(m, "id", id);
    cJSON_AddStringToObject(m, "method", method);
    cJSON_AddItemToObject(m, "params", params ? params : cJSON_CreateObject());
    if (session)
        cJSON_AddStringToObject(m, "sessionId", session);
    char *text = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    if (!text)
        return -ENOMEM;
    size_t n = strlen(text) + 1; /* the NUL ends the message */
    int rc = n > b->max_message ? cio__browser_fail(b, CIO_ELIMITOVERRUN, "%s: a %zu-byte message is over the "
                                                    "limit (%zu)", method, n, b->max_message)
                                : cio_stream_write(b->in, text, n);
    free(text);
    return rc < 0 ? rc : id;
}

/* Answers from the browser: {"id":N,"result":{...}} or {"id":N,"error":{"message":...}}. */
int cio__cdp_call(cio_browser *b, const char *session, const char *method, cJSON *params, double timeout,
                  cJSON **result)
{
    if (result)
        *result = NULL;
    struct cio__cdp_wait w = {0};
    cio__list_init(&w.link);
    if (!(w.f = cio_future_new(NULL))) {
        cJSON_Delete(params);
        return -errno;
    }
    int rc = send_command(b, session, method, params);
    if (rc < 0) {
        cio_release(w.f);
        return rc;
    }
    w.id = rc;
    cio__list_push_back(&b->pending, &w.link);
    if ((rc = cio__cdp_wait(b, &w, timeout)) < 0)
        return rc;
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(w.msg, "error");
    if (err) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(err, "message");
        rc = cio__browser_fail(b, CIO_EBROWSER, "%s: %s", method, cJSON_IsString(msg) ? msg->valuestring : "error");
    } else if (result) {
        *result = cJSON_DetachItemFromObjectCaseSensitive(w.msg, "result");
    }
    cJSON_Delete(w.msg);
    return rc;
}

/* ---- the reader task ----------------------------------------------------- */

static struct cio__cdp_wait *pending_of(cio_browser *b, int id)
{
    cio__link *it, *tmp;
    cio__list_foreach_safe(it, tmp, &b->pending) {
        struct cio__cdp_wait *w = CIO__CONTAINER_OF(it, struct cio__cdp_wait, link);
        if (w->id == id)
            return w;
    }
    return NULL;
}

static cio_page *page_of(cio_browser *b, const char *session)
{
    cio__link *it, *tmp;
    cio__list_foreach_safe(it, tmp, &b->pages) {
        cio_page *p = CIO__CONTAINER_OF(it, cio_page, link);
        if (p->session_id && !strcmp(p->session_id, session))
            return p;
    }
    return NULL;
}

static void dispatch(cio_browser *b, const char *text, size_t len)
{
    cJSON *m = cJSON_ParseWithLength(text, len);
    if (!m)
        return; /* not JSON: nothing anyone waits for can be in it */
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "id");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(m, "method");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(m, "params");
    const cJSON *session = cJSON_GetObjectItemCaseSensitive(m, "sessionId");
    if (cJSON_IsNumber(id)) {
        struct cio__cdp_wait *w = pending_of(b, id->valueint);
        if (w) { /* else its waiter gave up (timeout, cancel): dropped */
            w->msg = m;
            cio__cdp_wake(w, 0);
            return;
        }
    } else if (cJSON_IsString(method)) {
        /* a page's events carry its session; the browser reports a
         * detached page with the session in params */
        if (!cJSON_IsString(session))
            session = cJSON_GetObjectItemCaseSensitive(params, "sessionId");
        cio_page *p = cJSON_IsString(session) ? page_of(b, session->valuestring) : NULL;
        if (p)
            cio__page_event(p, method->valuestring, params);
    }
    cJSON_Delete(m);
}

/* A message over max_message: its waiter (answers start {"id":N,) learns
 * so; the rest of it is skipped by the caller. */
static void overrun(cio_browser *b, const char *buf, size_t len)
{
    static const char head[] = "{\"id\":";
    if (len <= sizeof head || memcmp(buf, head, sizeof head - 1))
        return; /* an event: dropped */
    struct cio__cdp_wait *w = pending_of(b, atoi(buf + sizeof head - 1));
    if (w) {
        cio__browser_fail(b, CIO_ELIMITOVERRUN, "an answer over the message limit (%zu bytes)", b->max_message);
        cio__cdp_wake(w, CIO_ELIMITOVERRUN);
    }
}

/* Reads and dispatches messages until the pipe ends (-EPIPE) or fails.
 * *bufp is the buffer (the caller frees it): it never grows beyond
 * max_message + READ_CHUNK. */
static int read_messages(cio_browser *b, char **bufp)
{
    size_t cap = 0, len = 0;
    bool skipping = false; /* inside a message over the limit */
    for (;;) {
        if (cap - len < READ_CHUNK) {
            size_t ncap = cap ? cap * 2 : 4 * READ_CHUNK;
            if (ncap > b->max_message + READ_CHUNK)
                ncap = b->max_message + READ_CHUNK;
            if (ncap < len + READ_CHUNK)
                ncap = len + READ_CHUNK;
            char *nb = realloc(*bufp, ncap);
            if (!nb)
                return -ENOMEM;
            *bufp = nb;
            cap = ncap;
        }
        char *buf = *bufp;
        ssize_t n = cio_stream_read(b->out, buf + len, cap - len);
        if (n <= 0)
            return n == 0 ? -EPIPE : (int)n;
        size_t scan = len, start = 0;
        len += (size_t)n;
        char *nul;
        while ((nul = memchr(buf + scan, 0, len - scan))) {
            size_t mlen = (size_t)(nul - buf) - start;
            if (!skipping && mlen > b->max_message) /* came whole in one read */
                overrun(b, buf + start, mlen);
            else if (!skipping)
                dispatch(b, buf + start, mlen);
            skipping = false;
            start = scan = (size_t)(nul - buf) + 1;
        }
        len -= start;
        memmove(buf, buf + start, len);
        if (!skipping && len > b->max_message) {
            overrun(b, buf, len);
            skipping = true;
        }
        if (skipping)
            len = 0;
    }
}

/* Everything waiting on a dead browser learns why. */
static void browser_died(cio_browser *b, int err)
{
    if (!b->dead)
        b->dead = err == -ECANCELED ? -EPIPE : err;
    while (!cio__list_empty(&b->pending))
        cio__cdp_wake(CIO__CONTAINER_OF(b->pending.next, struct cio__cdp_wait, link), b->dead);
    cio__link *it, *tmp;
    cio__list_foreach_safe(it, tmp, &b->pages)
        cio__page_fail(CIO__CONTAINER_OF(it, cio_page, link), b->dead);
}

static void *reader_main(void *arg)
{
    cio_browser *b = arg;
    char *buf = NULL;
    int rc = read_messages(b, &buf);
    free(buf);
    browser_died(b, rc);
    return NULL;
}

/* ---- the process and its directory -------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    remove(path);
    return 0; /* go on: remove what can be removed */
}

/* Removes the temporary directory (a profile is a few hundred small files:
 * done here, on the loop thread, in a few milliseconds). */
static void remove_dir(cio_browser *b)
{
    if (b->dir[0])
        nftw(b->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int make_dir(cio_browser *b)
{
    /* Chromium makes unix sockets in its TMPDIR (our dir/tmp), whose paths
     * must fit in 108 bytes: TMPDIR/cio-browser-XXXXXX/tmp plus its
     * "/.org.chromium.Chromium.XXXXXX/SingletonSocket" is TMPDIR + 69. */
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp || strlen(tmp) > MAX_TMPDIR)
        tmp = "/tmp";
    char path[PATH_MAX + 16]; /* dir (checked above) + a subdirectory */
    if (snprintf(b->dir, sizeof b->dir, "%s/cio-browser-XXXXXX", tmp) >= (int)sizeof b->dir - 16)
        return -ENAMETOOLONG;
    if (!mkdtemp(b->dir)) {
        b->dir[0] = 0;
        return -errno;
    }
    snprintf(path, sizeof path, "%s/profile", b->dir);
    if (mkdir(path, 0700) < 0)
        return -errno;
    snprintf(path, sizeof path, "%s/tmp", b->dir);
    return mkdir(path, 0700) < 0 ? -errno : 0;
}

/* The environment with TMPDIR pointing into our directory, so the files
 * Chromium makes there go away with it.  NULL on ENOMEM. */
static char **child_env(const char *dir, char **tmpdir)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 2, sizeof *env);
    if (!env || asprintf(tmpdir, "TMPDIR=%s/tmp", dir) < 0) {
        free(env);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "TMPDIR=", 7))
            env[k++] = environ[i];
    env[k++] = *tmpdir;
    return env;
}

static int spawn(cio_browser *b, const cio_browser_opts *o, const char *exe)
{
    size_t argc = 0, cap = 8 + NBASE + o->nargs;
    const char **argv = calloc(cap, sizeof *argv);
    char *profile = NULL, *tmpdir = NULL;
    char **env = child_env(b->dir, &tmpdir);
    int rc = -ENOMEM;
    if (!argv || !env || asprintf(&profile, "--user-data-dir=%s/profile", b->dir) < 0)
        goto out;
    argv[argc++] = "/bin/sh";
    argv[argc++] = "-c";
    argv[argc++] = launch_script;
    argv[argc++] = exe; /* $0 */
    if (!o->headful)
        argv[argc++] = "--headless";
    for (size_t i = 0; i < NBASE; i++)
        argv[argc++] = base_flags[i];
    argv[argc++] = profile;
    for (size_t i = 0; i < o->nargs; i++)
        argv[argc++] = o->args[i];
    argv[argc++] = "about:blank";
    cio_process_opts po = {
        .stdin_mode = CIO_PIPE,
        .stdout_mode = CIO_PIPE,
        .stderr_mode = o->dumpio ? CIO_INHERIT : CIO_DEVNULL,
        .envp = env,
    };
    rc = cio_process_exec("/bin/sh", (char *const *)argv, &po, &b->proc);
out:
    free(argv);
    free(env);
    free(tmpdir);
    free(profile);
    return rc;
}

int cio__proc_group_live(pid_t pgid)
{
    DIR *d = opendir("/proc");
    if (!d)
        return -errno;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[300], buf[512];
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "re");
        if (!f)
            continue; /* gone meanwhile */
        size_t k = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[k] = 0;
        /* "pid (comm) state ppid pgrp ...": comm may hold anything, so
         * parse from its last ')' */
        const char *p = strrchr(buf, ')');
        char state;
        int ppid, pgrp;
        if (p && sscanf(p + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 && pgrp == pgid && state != 'Z' &&
            state != 'X')
            n++;
    }
    closedir(d);
    return n;
}

/* SIGKILL reaches the rest of the browser's group (renderers, helpers,
 * orphaned if the browser died first) some moments later: waits until none
 * is alive, for up to GROUP_GRACE.  While members are alive the group's id
 * cannot be reused, so killing it again is safe.  True if cancelled
 * meanwhile. */
static bool end_group(pid_t pgid)
{
    bool cancelled = false;
    for (double waited = 0; waited < GROUP_GRACE && cio__proc_group_live(pgid) > 0; waited += GROUP_POLL) {
        kill(-pgid, SIGKILL);
        int rc = cio_sleep(GROUP_POLL);
        if (rc == -ECANCELED)
            cancelled = true;
        else if (rc < 0)
            break;
    }
    return cancelled;
}

/* Kills the browser's process group and reaps the browser; then stops the
 * reader.  Finishes whatever cancellations come: true if one came. */
static bool end_process(cio_browser *b)
{
    bool cancelled = false;
    if (b->proc) {
        if (cio_process_returncode(b->proc) == CIO_EINVALSTATE) { /* not reaped yet */
            kill(-cio_process_pid(b->proc), SIGKILL); /* ESRCH before setsid ran: the pid alone then */
            cio_process_kill(b->proc);
        }
        while (cio_process_wait(b->proc) == -ECANCELED)
            cancelled = true;
        cancelled |= end_group(cio_process_pid(b->proc));
    }
    if (b->reader) {
        cio_cancel(b->reader, NULL);
        while (!cio_done(b->reader))
            if (cio_await(b->reader, NULL) == -ECANCELED && !cio_done(b->reader))
                cancelled = true;
        cio_release(b->reader);
        b->reader = NULL;
    }
    browser_died(b, -EPIPE);
    return cancelled;
}

static void browser_free(cio_browser *b)
{
    while (!cio__list_empty(&b->pages))
        cio__page_free(CIO__CONTAINER_OF(b->pages.next, cio_page, link));
    cio_process_free(b->proc); /* closes the pipes; the child was reaped */
    remove_dir(b);
    free(b);
}

/* ---- public ----------------------------------------------------------------- */

int cio_browser_launch(const cio_browser_opts *opts, cio_browser **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!cio_current_task()) /* the reader task and every wait need one */
        return CIO_ENOTASK;
    cio_browser_opts o = opts ? *opts : (cio_browser_opts){0};
    if (o.nargs && !o.args)
        return -EINVAL;
    const char *exe = o.executable ? o.executable : getenv("CIO_CHROMIUM");
    if (!exe || !*exe)
        exe = "/usr/bin/chromium";
    if (strchr(exe, '/') && access(exe, X_OK) < 0)
        return -errno;
    cio_browser *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    cio__list_init(&b->pending);
    cio__list_init(&b->pages);
    b->timeout = o.timeout == 0 ? 30.0 : o.timeout < 0 ? CIO_NO_TIMEOUT : o.timeout;
    b->max_message = o.max_message ? o.max_message : CIO_BROWSER_MAX_MESSAGE;
    int rc = make_dir(b);
    if (rc == 0)
        rc = spawn(b, &o, exe);
    if (rc == 0) {
        b->in = cio_process_stdin(b->proc);
        b->out = cio_process_stdout(b->proc);
        b->reader = cio_spawn(reader_main, b);
        rc = b->reader ? 0 : -errno;
    }
    if (rc == 0)
        rc = cio__cdp_call(b, NULL, "Browser.getVersion", NULL, b->timeout, NULL);
    if (rc < 0) {
        bool cancelled = end_process(b);
        if (rc == -EPIPE && cio_process_returncode(b->proc) >= 0)
            cio_log(CIO_LOG_WARNING, "cio.browser", "%s exited at start (status %d)", exe,
                    cio_process_returncode(b->proc));
        browser_free(b);
        return cancelled ? -ECANCELED : rc;
    }
    *out = b;
    return 0;
}

int cio_browser_close(cio_browser *b)
{
    if (!b)
        return 0;
    if (!cio_current_task()) /* reaping and stopping the reader wait */
        return CIO_ENOTASK;
    bool cancelled = false;
    if (!b->dead) { /* pyppeteer's way: ask, then wait a little, then kill */
        int rc = cio__cdp_call(b, NULL, "Browser.close", NULL, QUIT_GRACE, NULL);
        if (rc == 0) {
            cio_timeout t;
            cio_timeout_enter(&t, QUIT_GRACE);
            rc = cio_timeout_exit(&t, cio_process_wait(b->proc));
        }
        cancelled = rc == -ECANCELED;
    }
    cancelled |= end_process(b);
    browser_free(b);
    return cancelled ? -ECANCELED : 0;
}
