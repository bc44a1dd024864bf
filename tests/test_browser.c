/* SPDX-License-Identifier: MIT */
/* The headless-browser driver (cio_browser_*, cio_page_*) against the real
 * Chromium, on pages served by cio's own HTTP server; and the article's
 * examples/screenshot.  Skipped (77) only where chromium is not installed.
 *
 * Chromium is heavy: each test launches it once and does everything it can
 * with that instance.  Screenshots are decoded with libpng and checked
 * pixel by pixel.  After every close the browser's process group has no
 * live process left (its zombies, orphaned to an init that may not reap,
 * are not counted), and its temporary directory is gone: the tests run
 * with TMPDIR set to a scratch directory of their own, which must be empty
 * at the end of each.
 *
 * CIO_TEST: TIMEOUT=300
 */
#include "check.h"
#include "browser/browser.h" /* cio__proc_group_live */

#include <cio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <png.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

/* Generous, one-sided bounds: the machine may be loaded. */
#define LAUNCH_TIMEOUT 120.0
#define GOTO_TIMEOUT 60.0

/* The page colour, distinctive enough not to appear by accident. */
#define R 0x33
#define G 0x66
#define B 0xcc

static char tmpdir[PATH_MAX];
/* Scratch files in the working directory, named after our pid: the
 * back-end variants of this test run at once in the same directory. */
static char shot[64], mute[64];

/* ---- the local site --------------------------------------------------------- */

static cio_event *hang_started, *hang_release;

static int h_colour(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req, (void)arg;
    cio_http_response_header(res, "Content-Type", "text/html");
    static const char page[] = "<!doctype html><html><head><title>colour</title>"
                               "<style>html,body{margin:0;height:100%;background:#3366cc}</style>"
                               "</head><body></body></html>";
    return cio_http_response_body(res, page, sizeof page - 1);
}

static int h_title(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req, (void)arg;
    cio_http_response_header(res, "Content-Type", "text/html");
    static const char page[] = "<!doctype html><html><head><title>cio: a title</title></head>"
                               "<body><p>hello</p></body></html>";
    return cio_http_response_body(res, page, sizeof page - 1);
}

/* Answers only when released: a navigation that hangs. */
static int h_hang(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req, (void)arg;
    cio_event_set(hang_started);
    int rc = cio_event_wait(hang_release);
    return rc < 0 ? rc : cio_http_response_text(res, 200, "late");
}

struct site {
    cio_http_server *srv;
    char base[64];
};

static void site_start(struct site *s)
{
    hang_started = cio_event_new();
    hang_release = cio_event_new();
    s->srv = cio_http_server_new(NULL);
    CHECK(s->srv != NULL);
    CHECK_EQ(cio_http_server_route(s->srv, "GET", "/colour", h_colour, NULL), 0);
    CHECK_EQ(cio_http_server_route(s->srv, "GET", "/title", h_title, NULL), 0);
    CHECK_EQ(cio_http_server_route(s->srv, "GET", "/hang", h_hang, NULL), 0);
    CHECK_EQ(cio_http_server_listen(s->srv, "127.0.0.1", "0"), 0);
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", cio_http_server_port(s->srv));
}

static void site_stop(struct site *s)
{
    cio_event_set(hang_release);
    CHECK(cio_http_server_shutdown(s->srv, 10) >= -ETIMEDOUT);
    cio_http_server_free(s->srv);
    cio_event_free(hang_started);
    cio_event_free(hang_release);
}

static const char *url(const struct site *s, const char *path)
{
    static char buf[2][128];
    static int i;
    i ^= 1;
    snprintf(buf[i], sizeof buf[i], "%s%s", s->base, path);
    return buf[i];
}

/* ---- checks ----------------------------------------------------------------- */

/* The PNG at path is w x h and every pixel is the page colour. */
static void check_png(const char *path, unsigned w, unsigned h)
{
    png_image img = {.version = PNG_IMAGE_VERSION};
    CHECK(png_image_begin_read_from_file(&img, path));
    if (img.warning_or_error & 2) {
        fprintf(stderr, "%s: %s\n", path, img.message);
        return;
    }
    CHECK_EQ(img.width, w);
    CHECK_EQ(img.height, h);
    img.format = PNG_FORMAT_RGB;
    unsigned char *px = malloc(PNG_IMAGE_SIZE(img));
    CHECK(px && png_image_finish_read(&img, NULL, px, 0, NULL));
    size_t wrong = 0, n = (size_t)img.width * img.height;
    for (size_t i = 0; px && i < n; i++)
        wrong += px[3 * i] != R || px[3 * i + 1] != G || px[3 * i + 2] != B;
    CHECK_EQ(wrong, 0);
    if (wrong)
        fprintf(stderr, "first pixel %02x%02x%02x\n", px[0], px[1], px[2]);
    free(px);
}

/* Nothing of a closed browser is left: no live process, no directory. */
static void check_gone(pid_t pid, const char *dir)
{
    CHECK(pid > 0);
    CHECK_EQ(cio__proc_group_live(pid), 0);
    CHECK(kill(pid, 0) < 0 && errno == ESRCH); /* reaped, not a zombie of ours */
    struct stat st;
    CHECK(stat(dir, &st) < 0 && errno == ENOENT);
}

/* The scratch TMPDIR holds nothing. */
static void check_tmp_empty(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++, fprintf(stderr, "left in TMPDIR: %s\n", e->d_name);
    if (d)
        closedir(d);
    CHECK_EQ(n, 0);
}

/* A site and a browser launched for it (with that max_message; 0: the
 * default), and what must be gone once the browser is closed. */
struct fixture {
    struct site s;
    cio_browser *b;
    pid_t pid;
    char dir[PATH_MAX];
};

static bool fixture_start(struct fixture *f, size_t max_message)
{
    site_start(&f->s);
    f->b = NULL;
    cio_browser_opts o = {.timeout = LAUNCH_TIMEOUT, .max_message = max_message};
    int rc = cio_browser_launch(&o, &f->b);
    CHECK_EQ(rc, 0);
    if (rc < 0) {
        site_stop(&f->s);
        return false;
    }
    f->pid = cio_browser_pid(f->b);
    CHECK_EQ(cio__proc_group_live(f->pid) > 0, 1);
    snprintf(f->dir, sizeof f->dir, "%s", cio_browser_dir(f->b));
    CHECK(!strncmp(f->dir, tmpdir, strlen(tmpdir)));
    return true;
}

/* After the browser was closed: nothing of it left. */
static void fixture_end(struct fixture *f)
{
    check_gone(f->pid, f->dir);
    site_stop(&f->s);
    check_tmp_empty();
}

static void check_eval(cio_page *p, const char *expr, const char *want)
{
    char *json = NULL;
    int rc = cio_page_evaluate(p, expr, &json);
    CHECK_EQ(rc, 0);
    CHECK(json && !strcmp(json, want));
    if (json && strcmp(json, want))
        fprintf(stderr, "evaluate(%s) = %s, want %s\n", expr, json, want);
    free(json);
}

/* A port nothing listens on (bound, then closed). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    CHECK(bind(fd, (struct sockaddr *)&a, len) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- a goto in its own task --------------------------------------------------- */

struct nav {
    cio_page *page;
    const char *url;
    int rc;
    cio_browser *close; /* if set: closed by the task when goto fails */
    int close_rc;
};

static void *nav_task(void *arg)
{
    struct nav *n = arg;
    n->rc = cio_page_goto(n->page, n->url, CIO_NO_TIMEOUT);
    if (n->rc < 0 && n->close)
        n->close_rc = cio_browser_close(n->close);
    return NULL;
}

static cio_task *start_hanging_goto(struct nav *n)
{
    cio_event_clear(hang_started);
    cio_task *t = cio_spawn(nav_task, n);
    CHECK(t != NULL);
    cio_timeout to;
    cio_timeout_enter(&to, GOTO_TIMEOUT);
    int rc = cio_timeout_exit(&to, cio_event_wait(hang_started)); /* the browser is at the server */
    CHECK_EQ(rc, 0);
    if (rc < 0)
        fprintf(stderr, "goto %s never reached the server: %s (rc %d)\n", n->url,
                cio_done(t) ? "the goto ended" : "the goto is still waiting", n->rc);
    return t;
}

/* ---- tests ---------------------------------------------------------------------- */

/* One browser: screenshot, viewport, evaluate, navigation errors, two tasks
 * at once, cancelling a goto; at the end chromium is killed under the
 * driver: every call fails with -EPIPE, none hangs, close cleans up. */
static void *t_browser(void *arg)
{
    (void)arg;
    struct fixture f;
    if (!fixture_start(&f, 0))
        return NULL;
    cio_browser *b = f.b;
    const struct site *s = &f.s;

    cio_page *p = NULL, *p2 = NULL;
    CHECK_EQ(cio_browser_new_page(b, &p), 0);
    CHECK_EQ(cio_browser_new_page(b, &p2), 0);

    /* the page, in the default 800x600 viewport, then in 320x200 */
    CHECK_EQ(cio_page_goto(p, url(s, "/colour"), GOTO_TIMEOUT), 0);
    CHECK_EQ(cio_page_screenshot(p, shot), 0);
    check_png(shot, 800, 600);
    CHECK_EQ(cio_page_set_viewport(p, 320, 200), 0);
    CHECK_EQ(cio_page_screenshot(p, shot), 0);
    check_png(shot, 320, 200);
    CHECK_EQ(cio_page_set_viewport(p, 0, 200), -EINVAL);
    CHECK_EQ(cio_page_screenshot(p, "no_such_dir/x.png"), -ENOENT);
    unlink(shot);

    /* evaluate */
    CHECK_EQ(cio_page_goto(p, url(s, "/title"), GOTO_TIMEOUT), 0);
    check_eval(p, "document.title", "\"cio: a title\"");
    check_eval(p, "document.querySelector('p').textContent", "\"hello\"");
    check_eval(p, "({a: [1, 2.5], b: null, c: 'x'})", "{\"a\":[1,2.5],\"b\":null,\"c\":\"x\"}");
    check_eval(p, "undefined", "null");
    check_eval(p, "new Promise(r => setTimeout(() => r(7), 10))", "7");
    char *json = (char *)"untouched";
    CHECK_EQ(cio_page_evaluate(p, "throw new Error('boom')", &json), CIO_EBROWSER);
    CHECK(json == NULL);
    CHECK(strstr(cio_browser_error(b), "boom") != NULL);
    CHECK(strstr(cio_strerror(CIO_EBROWSER), "browser") != NULL); /* cio_strerror knows the code */
    CHECK_EQ(cio_page_evaluate(p, "NaN", &json), CIO_EBROWSER);
    CHECK_EQ(cio_page_evaluate(p, "window", &json), CIO_EBROWSER); /* not serialisable */
    CHECK_EQ(cio_page_evaluate(p, "1 +", &json), CIO_EBROWSER);    /* syntax error */

    /* navigation errors */
    char refused[64];
    snprintf(refused, sizeof refused, "http://127.0.0.1:%d/", closed_port());
    CHECK_EQ(cio_page_goto(p, refused, GOTO_TIMEOUT), -ECONNREFUSED);
    CHECK(strstr(cio_browser_error(b), "ERR_CONNECTION_REFUSED") != NULL);
    CHECK_EQ(cio_page_goto(p, "http://127.0.0.1:1/", GOTO_TIMEOUT), CIO_EBROWSER); /* ERR_UNSAFE_PORT */
    CHECK_EQ(cio_page_goto(p, "not a url", GOTO_TIMEOUT), CIO_EBROWSER);
    CHECK_EQ(cio_page_goto(p, url(s, "/hang"), 0.5), -ETIMEDOUT);

    /* a goto waiting suspends only its task: the other page answers
     * meanwhile; cancelled, it returns -ECANCELED and the page goes on */
    struct nav n = {.page = p, .url = url(s, "/hang?goto=2")}; /* not the URL of the goto that timed out */
    cio_task *t = start_hanging_goto(&n);
    check_eval(p2, "6 * 7", "42");
    CHECK(!cio_done(t));
    cio_cancel(t, NULL);
    CHECK_EQ(cio_await(t, NULL), -ECANCELED); /* it returned while cancelled: it stays cancelled */
    cio_release(t);
    CHECK_EQ(n.rc, -ECANCELED);
    CHECK_EQ(cio_page_goto(p, url(s, "/title"), GOTO_TIMEOUT), 0);
    check_eval(p, "document.title", "\"cio: a title\"");
    CHECK_EQ(cio_page_close(p2), 0);

    /* chromium killed under a goto: it fails at once with -EPIPE, as does
     * every later call; close reaps and cleans up */
    n.url = url(s, "/hang?goto=3");
    t = start_hanging_goto(&n);
    CHECK_EQ(kill(f.pid, SIGKILL), 0);
    CHECK_EQ(cio_await(t, NULL), 0);
    cio_release(t);
    CHECK_EQ(n.rc, -EPIPE);
    CHECK_EQ(cio_page_evaluate(p, "1", &json), -EPIPE);
    CHECK_EQ(cio_browser_new_page(b, &p2), -EPIPE);
    CHECK(strstr(cio_browser_error(b), "gone") != NULL);
    CHECK_EQ(cio_browser_close(b), 0); /* frees p too */
    fixture_end(&f);
    return NULL;
}

/* Message limits (a small max_message; the browser stays usable after an
 * answer over it), then a task cancelled in the middle of a goto closes
 * the browser on its way out: killed, reaped, cleaned up. */
static void *t_limit_and_cancel(void *arg)
{
    (void)arg;
    enum { LIMIT = 16 * 1024 };
    struct fixture f;
    if (!fixture_start(&f, LIMIT))
        return NULL;
    cio_browser *b = f.b;
    const struct site *s = &f.s;
    cio_page *p = NULL;
    CHECK_EQ(cio_browser_new_page(b, &p), 0);
    CHECK_EQ(cio_page_goto(p, url(s, "/title"), GOTO_TIMEOUT), 0);

    char *json = NULL;
    /* answers: well under, then well over the limit (two read sizes) */
    check_eval(p, "'x'.repeat(8000).length", "8000");
    CHECK_EQ(cio_page_evaluate(p, "'x'.repeat(20000)", &json), CIO_ELIMITOVERRUN);
    CHECK_EQ(cio_page_evaluate(p, "'x'.repeat(1000000)", &json), CIO_ELIMITOVERRUN);
    check_eval(p, "'y'.repeat(8000).length", "8000");
    /* commands: one over the limit is refused before it is sent */
    char *big = malloc(LIMIT + 100);
    memset(big, ' ', LIMIT + 99);
    big[LIMIT + 99] = 0;
    big[0] = '1';
    CHECK_EQ(cio_page_evaluate(p, big, &json), CIO_ELIMITOVERRUN);
    big[LIMIT / 2] = 0;
    check_eval(p, big, "1");
    free(big);

    struct nav n = {.page = p, .url = url(s, "/hang"), .close = b};
    cio_task *t = start_hanging_goto(&n);
    cio_cancel(t, NULL);
    CHECK_EQ(cio_await(t, NULL), -ECANCELED); /* it returned while cancelled: it stays cancelled */
    cio_release(t);
    CHECK_EQ(n.rc, -ECANCELED);
    CHECK_EQ(n.close_rc, 0);
    fixture_end(&f);
    return NULL;
}

/* Launch failures leave nothing behind. */
static void *t_launch_errors(void *arg)
{
    (void)arg;
    cio_browser *b = (cio_browser *)1;
    CHECK_EQ(cio_browser_launch(&(cio_browser_opts){.executable = "/nonexistent/chromium"}, &b), -ENOENT);
    CHECK(b == NULL);
    /* a program that exits at once */
    CHECK_EQ(cio_browser_launch(&(cio_browser_opts){.executable = "/bin/false"}, &b), -EPIPE);
    CHECK(b == NULL);
    /* one that never answers: the launch timeout */
    FILE *f = fopen(mute, "w");
    CHECK(f != NULL);
    fputs("#!/bin/sh\nexec sleep 600\n", f);
    fclose(f);
    chmod(mute, 0755);
    CHECK_EQ(cio_browser_launch(&(cio_browser_opts){.executable = mute, .timeout = 0.5}, &b),
             -ETIMEDOUT);
    unlink(mute);
    CHECK_EQ(cio_browser_launch(&(cio_browser_opts){.nargs = 1}, &b), -EINVAL);
    CHECK_EQ(cio_browser_close(NULL), 0);
    check_tmp_empty();
    return NULL;
}

/* examples/screenshot URL FILE, the article's program, on the local site. */
static void *t_example(void *arg)
{
    (void)arg;
    const char *dir = getenv("CIO_EXAMPLES_DIR");
    char exe[PATH_MAX];
    snprintf(exe, sizeof exe, "%s/screenshot", dir ? dir : "../examples");
    if (access(exe, X_OK) < 0) {
        fprintf(stderr, "FAIL: %s not built\n", exe);
        check_failures++;
        return NULL;
    }
    struct site s;
    site_start(&s);
    unlink(shot);
    char *argv[] = {exe, (char *)url(&s, "/colour"), shot, NULL};
    cio_process *proc;
    CHECK_EQ(cio_process_exec(exe, argv, &(cio_process_opts){.kill_on_cancel = true}, &proc), 0);
    CHECK_EQ(cio_process_wait(proc), 0);
    cio_process_free(proc);
    check_png(shot, 800, 600);
    unlink(shot);

    /* an error: said, exit status 1, nothing left */
    char refused[64];
    snprintf(refused, sizeof refused, "http://127.0.0.1:%d/", closed_port());
    argv[1] = refused;
    CHECK_EQ(cio_process_exec(exe, argv, &(cio_process_opts){.kill_on_cancel = true, .stderr_mode = CIO_PIPE},
                              &proc), 0);
    char *err = NULL;
    size_t errlen = 0;
    CHECK_EQ(cio_process_communicate(proc, NULL, 0, NULL, NULL, &err, &errlen), 1);
    CHECK(err && strstr(err, "ERR_CONNECTION_REFUSED"));
    free(err);
    cio_process_free(proc);
    CHECK(access(shot, F_OK) < 0);
    site_stop(&s);
    check_tmp_empty();
    return NULL;
}

static void t_outside_task(void)
{
    check_current = "outside a task";
    cio_browser *b = NULL;
    CHECK_EQ(cio_browser_launch(NULL, &b), CIO_ENOTASK);
    CHECK(b == NULL);
}

int main(void)
{
    const char *exe = getenv("CIO_CHROMIUM");
    if (!exe || !*exe)
        exe = "/usr/bin/chromium";
    if (access(exe, X_OK) < 0) {
        printf("SKIP: %s not installed (scripts/deps.sh installs chromium)\n", exe);
        return 77;
    }
    /* a TMPDIR of our own, so that leftovers can be seen */
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cio-test-browser-XXXXXX"); /* short: see cio_browser_launch */
    snprintf(shot, sizeof shot, "browser_shot.%d.png", (int)getpid());
    snprintf(mute, sizeof mute, "./browser_mute.%d.sh", (int)getpid());
    if (!mkdtemp(tmpdir) || setenv("TMPDIR", tmpdir, 1) < 0) {
        perror(tmpdir);
        return 1;
    }
    RUN_TEST(t_outside_task);
    RUN_TASK_TEST(t_launch_errors);
    RUN_TASK_TEST(t_browser);
    RUN_TASK_TEST(t_limit_and_cancel);
    RUN_TASK_TEST(t_example);
    rmdir(tmpdir);
    return check_exit();
}
