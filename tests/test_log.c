/* SPDX-License-Identifier: MIT */
/* The logger (src/util/log.c): Python logging's
 *     "%(asctime)s %(levelname)s:%(name)s: %(message)s", datefmt "%H:%M:%S"
 *
 *   - the format exactly, with the local time of the record, NULL name ->
 *     "root", cio_logv, a sink that is appended to, stderr by default;
 *   - levels and filtering: cio_log_set_level (clamped), out-of-range record
 *     levels, CIO_LOG_LEVEL read at first use (in exec'd children with their
 *     own environment: names in any case, a bad name -> INFO, later changes
 *     ignored, cio_log_set_level before first use wins);
 *   - very long messages and names: cut with "...", always one whole line;
 *   - many threads at once: every line intact, each thread's records in
 *     order, records + reported drops == records logged;
 *   - a sink nobody reads (a full pipe) never blocks the caller: 100k calls
 *     return quickly, the surplus is dropped and a "(N log records
 *     dropped)" note appears once the pipe is drained, with the exact count;
 *   - switching sinks while the writer is stuck on the old one.
 *
 * Exit 0 = pass. */
/* CIO_TEST: TIMEOUT=120 */
#include "check.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[64];
static char self_exe[4096];

static void path_of(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, size_t *len)
{
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            buf = realloc(buf, (cap *= 2) + 1);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Splits text into lines (without their '\n'); returns the count, and
 * whether the text ended with a newline (no partial last line). */
static size_t split_lines(char *text, size_t len, char ***lines, bool *whole)
{
    size_t n = 0, cap = 64;
    char **v = malloc(cap * sizeof *v);
    char *p = text, *end = text + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (n == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[n++] = p;
        if (!nl) {
            *whole = false;
            *lines = v;
            return n;
        }
        *nl = 0;
        p = nl + 1;
    }
    *whole = true;
    *lines = v;
    return n;
}

static bool digits2(const char *p) { return p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9'; }

/* "HH:MM:SS " at the start of line: its second of the day, or -1. */
static int stamp_secs(const char *line)
{
    if (strlen(line) < 9 || !digits2(line) || line[2] != ':' || !digits2(line + 3) || line[5] != ':' ||
        !digits2(line + 6) || line[8] != ' ')
        return -1;
    int h = atoi(line), m = atoi(line + 3), s = atoi(line + 6);
    if (h > 23 || m > 59 || s > 60)
        return -1;
    return h * 3600 + m * 60 + s;
}

static int local_secs(void)
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    return tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
}

/* Within a few seconds of "now", across midnight too. */
static bool near_now(int secs, int before)
{
    int after = local_secs();
    int d1 = (secs - before + 86400) % 86400, d2 = (after - secs + 86400) % 86400;
    return d1 <= 2 && d2 <= 2;
}

/* The line after its "HH:MM:SS " stamp (which must be there and recent). */
static const char *after_stamp(const char *line, int before)
{
    int s = stamp_secs(line);
    if (s < 0 || !near_now(s, before))
        return NULL;
    return line + 9;
}

static void vlog_wrapper(int level, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cio_logv(level, name, fmt, ap);
    va_end(ap);
}

/* Logs to a fresh file in dir, returns its lines. */
static char *log_file(const char *name, char *path, size_t pathn)
{
    path_of(path, pathn, name);
    unlink(path);
    CHECK_EQ(cio_log_set_file(path), 0);
    return path;
}

#define BEGIN(name)                                                                                  \
    check_current = name;                                                                            \
    int fails_ = check_failures
#define END(name) fprintf(stderr, "%s %s\n", check_failures == fails_ ? "ok  " : "FAIL", name)

/* ---- format ------------------------------------------------------------------ */

static void t_format(void)
{
    BEGIN("t_format");
    char path[128];
    path_of(path, sizeof path, "format.log");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK_EQ(write(fd, "old line\n", 9), 9);
    close(fd);
    CHECK_EQ(cio_log_set_file(path), 0); /* appended to, not truncated */
    cio_log_set_level(CIO_LOG_DEBUG);
    CHECK_EQ(cio_log_level(), CIO_LOG_DEBUG);
    int before = local_secs();
    cio_log(CIO_LOG_INFO, "areq", "Got response [%d] for URL: %s", 200, "https://www.example.org/");
    cio_log(CIO_LOG_DEBUG, "areq", "debug %s %05.1f %%", "detail", 3.14159);
    cio_log(CIO_LOG_WARNING, "w.sub", "careful");
    cio_log(CIO_LOG_ERROR, "e", "bad %d", -42);
    cio_log(CIO_LOG_CRITICAL, "c", "worse");
    cio_log(CIO_LOG_INFO, NULL, "no name");
    cio_log(CIO_LOG_INFO, "", "empty name");
    cio_log(CIO_LOG_INFO, "x", "%s", "");
    vlog_wrapper(CIO_LOG_ERROR, "v", "through %s: %d", "cio_logv", 7);
    cio_log(99, "hi", "above CRITICAL");
    cio_log_flush();
    const char *want[] = {
        "INFO:areq: Got response [200] for URL: https://www.example.org/",
        "DEBUG:areq: debug detail 003.1 %",
        "WARNING:w.sub: careful",
        "ERROR:e: bad -42",
        "CRITICAL:c: worse",
        "INFO:root: no name",
        "INFO:: empty name",
        "INFO:x: ",
        "ERROR:v: through cio_logv: 7",
        "CRITICAL:hi: above CRITICAL",
    };
    size_t nwant = sizeof want / sizeof *want;
    size_t len;
    char *text = slurp(path, &len);
    char **lines = NULL;
    bool whole = false;
    size_t n = text ? split_lines(text, len, &lines, &whole) : 0;
    CHECK(whole);
    CHECK_EQ(n, nwant + 1);
    if (n == nwant + 1) {
        CHECK(strcmp(lines[0], "old line") == 0);
        for (size_t i = 0; i < nwant; i++) {
            const char *rest = after_stamp(lines[i + 1], before);
            if (!rest || strcmp(rest, want[i]) != 0)
                fprintf(stderr, "  line %zu: \"%s\", expected \"HH:MM:SS %s\"\n", i + 1, lines[i + 1], want[i]);
            CHECK(rest && strcmp(rest, want[i]) == 0);
        }
    }
    free(lines);
    free(text);

    /* a sink that cannot be opened: an error, the old sink stays */
    char bad[128];
    path_of(bad, sizeof bad, "no/such/dir/x.log");
    CHECK_EQ(cio_log_set_file(bad), -ENOENT);
    CHECK_EQ(cio_log_set_file(dir), -EISDIR);
    cio_log(CIO_LOG_INFO, "still", "here");
    cio_log_flush();
    text = slurp(path, &len);
    const char *tail = " INFO:still: here\n";
    CHECK(text && len > strlen(tail) && strcmp(text + len - strlen(tail), tail) == 0);
    free(text);
    END("t_format");
}

/* ---- levels -------------------------------------------------------------------- */

static void t_levels(void)
{
    BEGIN("t_levels");
    char path[128];
    log_file("levels.log", path, sizeof path);
    const char *lname[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};
    for (int threshold = CIO_LOG_DEBUG; threshold <= CIO_LOG_CRITICAL + 1; threshold++) {
        cio_log_set_level(threshold);
        CHECK_EQ(cio_log_level(), threshold);
        for (int lv = CIO_LOG_DEBUG; lv <= CIO_LOG_CRITICAL; lv++)
            cio_log(lv, "lv", "threshold %d level %d", threshold, lv);
    }
    cio_log_flush();
    size_t len;
    char *text = slurp(path, &len);
    char **lines = NULL;
    bool whole = false;
    size_t n = text ? split_lines(text, len, &lines, &whole) : 0;
    CHECK(whole);
    /* threshold t lets 5 - t levels through */
    CHECK_EQ(n, 5 + 4 + 3 + 2 + 1 + 0);
    size_t k = 0;
    for (int threshold = CIO_LOG_DEBUG; threshold <= CIO_LOG_CRITICAL; threshold++)
        for (int lv = threshold; lv <= CIO_LOG_CRITICAL && k < n; lv++, k++) {
            char want[128];
            snprintf(want, sizeof want, "%s:lv: threshold %d level %d", lname[lv], threshold, lv);
            const char *rest = stamp_secs(lines[k]) >= 0 ? lines[k] + 9 : NULL;
            CHECK(rest && strcmp(rest, want) == 0);
        }
    free(lines);
    free(text);

    /* clamping of the threshold */
    cio_log_set_level(-7);
    CHECK_EQ(cio_log_level(), CIO_LOG_DEBUG);
    cio_log_set_level(1000);
    CHECK_EQ(cio_log_level(), CIO_LOG_CRITICAL + 1);
    cio_log(CIO_LOG_CRITICAL, "off", "not even this");
    cio_log_flush();
    text = slurp(path, &len);
    CHECK(text && strstr(text, "not even this") == NULL);
    free(text);
    cio_log_set_level(CIO_LOG_INFO);
    END("t_levels");
}

/* ---- CIO_LOG_LEVEL, in exec'd children ------------------------------------------------ */

/* Child: logs one record per level, then changes the environment (too late
 * to matter) and logs a DEBUG record; exits with cio_log_level(). */
static int env_child(const char *how, const char *path)
{
    if (strcmp(how, "set-first") == 0)
        cio_log_set_level(CIO_LOG_ERROR); /* before any use: the environment is never read */
    if (strcmp(path, "-") != 0 && cio_log_set_file(path) != 0)
        return 100;
    for (int lv = CIO_LOG_DEBUG; lv <= CIO_LOG_CRITICAL; lv++)
        cio_log(lv, "env", "level %d", lv);
    setenv("CIO_LOG_LEVEL", "DEBUG", 1);
    cio_log(CIO_LOG_DEBUG, "env", "late debug");
    int l = cio_log_level();
    cio_log_flush();
    return l;
}

/* Runs the child with CIO_LOG_LEVEL=value (NULL: unset); its stderr goes
 * to errpath.  Returns its exit status (or -1). */
static int run_child(const char *value, const char *how, const char *logpath, const char *errpath)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || dup2(fd, 2) < 0)
            _exit(101);
        if (value)
            setenv("CIO_LOG_LEVEL", value, 1);
        else
            unsetenv("CIO_LOG_LEVEL");
        char *argv[] = {self_exe, "--env-child", (char *)how, (char *)logpath, NULL};
        execv(self_exe, argv);
        _exit(102);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* The levels of the "env" records in text, as a bit mask. */
static unsigned env_mask(const char *text, bool *late)
{
    unsigned m = 0;
    const char *lname[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};
    for (int lv = 0; lv <= CIO_LOG_CRITICAL; lv++) {
        char want[64];
        snprintf(want, sizeof want, " %s:env: level %d\n", lname[lv], lv);
        if (strstr(text, want))
            m |= 1u << lv;
    }
    *late = strstr(text, "late debug") != NULL;
    return m;
}

static void t_env(void)
{
    BEGIN("t_env");
    struct {
        const char *value, *how;
        int level;
    } cases[] = {
        {NULL, "plain", CIO_LOG_INFO},          {"WARNING", "plain", CIO_LOG_WARNING},
        {"debug", "plain", CIO_LOG_DEBUG},      {"Error", "plain", CIO_LOG_ERROR},
        {"CRITICAL", "plain", CIO_LOG_CRITICAL}, {"bogus", "plain", CIO_LOG_INFO},
        {"", "plain", CIO_LOG_INFO},            {"DEBUG", "set-first", CIO_LOG_ERROR},
    };
    char logpath[128], errpath[128];
    path_of(logpath, sizeof logpath, "env.log");
    path_of(errpath, sizeof errpath, "env.err");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        unlink(logpath);
        int st = run_child(cases[i].value, cases[i].how, logpath, errpath);
        if (st != cases[i].level)
            fprintf(stderr, "  CIO_LOG_LEVEL=%s (%s): level %d, expected %d\n", cases[i].value ? cases[i].value : "(unset)",
                    cases[i].how, st, cases[i].level);
        CHECK_EQ(st, cases[i].level);
        size_t len;
        char *text = slurp(logpath, &len);
        bool late = true;
        unsigned m = text ? env_mask(text, &late) : 0;
        unsigned want = (0x1fu << cases[i].level) & 0x1fu;
        CHECK_EQ(m, want);
        CHECK_EQ(late, cases[i].level == CIO_LOG_DEBUG);
        free(text);
    }
    /* without cio_log_set_file: stderr */
    int st = run_child("WARNING", "plain", "-", errpath);
    CHECK_EQ(st, CIO_LOG_WARNING);
    size_t len;
    char *text = slurp(errpath, &len);
    bool late = true;
    CHECK_EQ(text ? env_mask(text, &late) : 0, 0x1cu);
    CHECK(!late);
    free(text);
    unlink(logpath);
    unlink(errpath);
    END("t_env");
}

/* ---- long messages --------------------------------------------------------------------- */

static void t_long(void)
{
    BEGIN("t_long");
    char path[128];
    log_file("long.log", path, sizeof path);
    cio_log_set_level(CIO_LOG_DEBUG);
    /* lengths around any plausible record limit, each with a final marker */
    enum { MINL = 3900, MAXL = 4200, HUGE = 100000 };
    char *msg = malloc(HUGE + 1);
    for (size_t i = 0; i < HUGE; i++)
        msg[i] = (char)('a' + i % 26);
    int nrec = 0;
    for (int l = MINL; l <= MAXL; l++, nrec++) {
        char save = msg[l];
        msg[l] = 0;
        cio_log(CIO_LOG_INFO, "long", "%d:%s#", l, msg);
        msg[l] = save;
        cio_log_flush(); /* 4 KiB records: keep the ring from overflowing */
    }
    msg[HUGE] = 0;
    cio_log(CIO_LOG_WARNING, "huge", "%s", msg);
    nrec++;
    char *name = malloc(20001);
    memset(name, 'N', 20000);
    name[20000] = 0;
    cio_log(CIO_LOG_ERROR, name, "after a long name");
    nrec++;
    cio_log(CIO_LOG_INFO, "short", "fine");
    nrec++;
    cio_log_flush();

    size_t len;
    char *text = slurp(path, &len);
    char **lines = NULL;
    bool whole = false;
    size_t n = text ? split_lines(text, len, &lines, &whole) : 0;
    CHECK(whole); /* never a partial line */
    CHECK_EQ(n, nrec);
    int full = 0, cut = 0, bad = 0;
    size_t longest = 0;
    for (size_t i = 0; i < n; i++) {
        size_t ll = strlen(lines[i]);
        if (ll > longest)
            longest = ll;
        if (stamp_secs(lines[i]) < 0) {
            if (bad++ < 3)
                fprintf(stderr, "  bad line %zu: %.60s\n", i, lines[i]);
            continue;
        }
        const char *rest = lines[i] + 9;
        if (i < (size_t)(MAXL - MINL + 1)) {
            int l = MINL + (int)i;
            char head[32];
            int hl = snprintf(head, sizeof head, "INFO:long: %d:", l);
            if (strncmp(rest, head, (size_t)hl) != 0) {
                if (bad++ < 3)
                    fprintf(stderr, "  line %zu is not record %d: %.60s\n", i, l, lines[i]);
                continue;
            }
            const char *body = rest + hl;
            size_t bl = strlen(body);
            if (bl == (size_t)l + 1 && body[l] == '#' && memcmp(body, msg, (size_t)l) == 0)
                full++;
            else if (bl >= 3 && strcmp(body + bl - 3, "...") == 0 && memcmp(body, msg, bl - 3) == 0)
                cut++;
            else
                bad++;
        } else if (i == (size_t)(MAXL - MINL + 1)) {
            size_t bl = strlen(rest);
            CHECK(strncmp(rest, "WARNING:huge: abcdef", 20) == 0);
            CHECK(bl > 3 && strcmp(rest + bl - 3, "...") == 0);
            CHECK(bl > 1000);
        } else if (i == (size_t)(MAXL - MINL + 2)) {
            size_t bl = strlen(rest);
            CHECK(strncmp(rest, "ERROR:NNNN", 10) == 0);
            CHECK(bl > 3 && strcmp(rest + bl - 3, "...") == 0);
        } else {
            CHECK(strcmp(rest, "INFO:short: fine") == 0);
        }
    }
    CHECK_EQ(bad, 0);
    CHECK(full > 0);  /* the short ones are whole */
    CHECK(cut > 0);   /* the long ones are cut */
    CHECK(longest < 70000); /* cut to a bounded record, not 100000 bytes */
    fprintf(stderr, "  lengths %d..%d: %d whole, %d cut; longest line %zu bytes\n", MINL, MAXL, full, cut, longest);
    free(lines);
    free(text);
    free(msg);
    free(name);
    cio_log_set_level(CIO_LOG_INFO);
    END("t_long");
}

/* ---- many threads ---------------------------------------------------------------------- */

#define NTHREADS 8
#define PER_THREAD 5000

static size_t rec_len(int th, int i) { return (size_t)((th * 7919 + i * 104729) % 300); }

static void fill_payload(char *out, int th, int i)
{
    size_t n = rec_len(th, i);
    for (size_t k = 0; k < n; k++)
        out[k] = (char)('A' + (th * 3 + (int)k + i) % 26);
    out[n] = 0;
}

static void *log_thread(void *arg)
{
    int th = (int)(intptr_t)arg;
    char payload[400];
    for (int i = 0; i < PER_THREAD; i++) {
        fill_payload(payload, th, i);
        cio_log(i % 2 ? CIO_LOG_WARNING : CIO_LOG_INFO, "mt", "thread %d seq %d [%s]", th, i, payload);
    }
    return NULL;
}

/* "(N log records dropped)": N, or -1 if line is not such a note. */
static long drop_note(const char *line)
{
    long n;
    char tail[32];
    if (sscanf(line, "(%ld log records dropped%31s", &n, tail) == 2 && strcmp(tail, ")") == 0 && n > 0)
        return n;
    return -1;
}

static void t_threads(void)
{
    BEGIN("t_threads");
    char path[128];
    log_file("threads.log", path, sizeof path);
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, log_thread, (void *)(intptr_t)i), 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    cio_log_flush();
    cio_log(CIO_LOG_INFO, "mt", "the end"); /* carries a drop count still unreported, if any */
    cio_log_flush();

    size_t len;
    char *text = slurp(path, &len);
    char **lines = NULL;
    bool whole = false;
    size_t n = text ? split_lines(text, len, &lines, &whole) : 0;
    CHECK(whole);
    int next[NTHREADS] = {0}, got = 0, bad = 0, order = 0;
    long dropped = 0;
    bool end = false;
    char want[512], payload[400];
    for (size_t i = 0; i < n; i++) {
        long d = drop_note(lines[i]);
        if (d > 0) {
            dropped += d;
            continue;
        }
        if (stamp_secs(lines[i]) < 0) {
            if (bad++ < 3)
                fprintf(stderr, "  bad line: %.80s\n", lines[i]);
            continue;
        }
        const char *rest = lines[i] + 9;
        if (strcmp(rest, "INFO:mt: the end") == 0) {
            end = i == n - 1;
            continue;
        }
        int t = -1, s = -1;
        if (sscanf(rest, "%*[A-Z]:mt: thread %d seq %d", &t, &s) != 2 || t < 0 || t >= NTHREADS || s < 0 ||
            s >= PER_THREAD) {
            if (bad++ < 3)
                fprintf(stderr, "  bad line: %.80s\n", lines[i]);
            continue;
        }
        fill_payload(payload, t, s);
        snprintf(want, sizeof want, "%s:mt: thread %d seq %d [%s]", s % 2 ? "WARNING" : "INFO", t, s, payload);
        if (strcmp(rest, want) != 0) {
            if (bad++ < 3)
                fprintf(stderr, "  mangled line: %.80s\n", lines[i]);
            continue;
        }
        if (s < next[t])
            order++;
        next[t] = s + 1;
        got++;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(order, 0);
    CHECK(end);
    CHECK_EQ(got + dropped, NTHREADS * PER_THREAD);
    fprintf(stderr, "  %d threads x %d records: %d written, %ld dropped (reported)\n", NTHREADS, PER_THREAD, got,
            dropped);
    free(lines);
    free(text);
    END("t_threads");
}

/* ---- a sink nobody reads ------------------------------------------------------------------ */

#define FLOOD 100000

typedef struct drainer {
    int fd;
    char *buf; /* the drainer's own until it is joined */
    size_t len, cap;
    atomic_bool stop;
    atomic_bool saw_note; /* a "(N log records dropped)" line has arrived */
} drainer;

/* Reads the pipe (non-blocking, polling) until told to stop. */
static void *drain_main(void *arg)
{
    drainer *d = arg;
    static const char note[] = "log records dropped)\n";
    for (;;) {
        if (d->len + 65536 > d->cap)
            d->buf = realloc(d->buf, d->cap = d->cap * 2 + 65536);
        ssize_t r = read(d->fd, d->buf + d->len, 65536);
        if (r > 0) {
            size_t from = d->len > sizeof note ? d->len - sizeof note : 0;
            d->len += (size_t)r;
            if (memmem(d->buf + from, d->len - from, note, sizeof note - 1))
                atomic_store(&d->saw_note, true);
            continue;
        }
        if (atomic_load(&d->stop))
            break;
        usleep(1000);
    }
    return NULL;
}

/* Counts the flood's records and the drops reported in buf[0..len). */
static void count_flood(const char *buf, size_t len, long *records, long *dropped, int *bad, int *notes)
{
    *records = *dropped = 0;
    *bad = *notes = 0;
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            (*bad)++;
            break;
        }
        char line[256];
        size_t l = (size_t)(nl - p) < sizeof line - 1 ? (size_t)(nl - p) : sizeof line - 1;
        memcpy(line, p, l);
        line[l] = 0;
        long d = drop_note(line);
        int seq;
        if (d > 0) {
            *dropped += d;
            (*notes)++;
        } else if (stamp_secs(line) >= 0 && sscanf(line + 9, "INFO:flood: record %d of the flood", &seq) == 1) {
            (*records)++;
        } else if (!(stamp_secs(line) >= 0 && strstr(line, "INFO:flood: marker"))) {
            (*bad)++;
        }
        p = nl + 1;
    }
}

static void t_slow_sink(void)
{
    BEGIN("t_slow_sink");
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    char ppath[64];
    snprintf(ppath, sizeof ppath, "/proc/self/fd/%d", p[1]);
    CHECK_EQ(cio_log_set_file(ppath), 0); /* the logger's own fd for the pipe */
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);

    double t0 = now_mono(), worst = 0;
    for (int i = 0; i < FLOOD; i++) {
        double a = i % 1000 == 0 ? now_mono() : 0;
        cio_log(CIO_LOG_INFO, "flood", "record %d of the flood, padded to look like a real one ......", i);
        if (a > 0 && now_mono() - a > worst)
            worst = now_mono() - a;
    }
    double took = now_mono() - t0;
    fprintf(stderr, "  %d records into a pipe nobody reads: %.0f ms (%.2f us each), slowest sampled call %.3f ms\n",
            FLOOD, took * 1000, took * 1e6 / FLOOD, worst * 1000);
    /* never blocked on the full pipe (that would hang: nobody reads it), nor
     * waited per record: some 20 ms in all, 0.02 ms at the most per call
     * when idle; bounded from above only, generously (a loaded machine
     * preempts a call now and then) */
    CHECK(took < 10.0);
    CHECK(worst < 1.0);

    /* nothing was read yet: only what fits in the pipe went out */
    drainer d = {.fd = p[0]};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, drain_main, &d), 0);
    /* the note comes by itself once the pipe drains (no further record) */
    double t1 = now_mono();
    while (!atomic_load(&d.saw_note) && now_mono() - t1 < 20.0)
        usleep(10000);
    CHECK(atomic_load(&d.saw_note));
    long records = 0, dropped = 0;
    int bad = 0, notes = 0;
    /* a record after the drain still arrives, after the note */
    cio_log(CIO_LOG_INFO, "flood", "marker after the drain");
    cio_log_flush();
    usleep(50000);
    atomic_store(&d.stop, true);
    pthread_join(th, NULL);
    count_flood(d.buf, d.len, &records, &dropped, &bad, &notes);
    fprintf(stderr, "  drained: %ld records, %ld dropped in %d note(s)\n", records, dropped, notes);
    CHECK_EQ(bad, 0);
    CHECK(notes >= 1);
    CHECK(dropped > 0);
    CHECK_EQ(records + dropped, FLOOD);
    CHECK(d.len >= 22 && memmem(d.buf, d.len, "INFO:flood: marker after the drain\n", 35) != NULL);
    free(d.buf);

    /* switching away from a sink the writer is stuck on: a second flood
     * blocks the writer in write(2) on the pipe; set_file waits (at most
     * 2 s) and switches; the old sink's fd must not be reused under the
     * writer's feet */
    for (int i = 0; i < FLOOD / 10; i++)
        cio_log(CIO_LOG_INFO, "flood", "record %d of the second flood ...........................", i);
    char path[128];
    path_of(path, sizeof path, "after-pipe.log");
    unlink(path);
    double t2 = now_mono();
    CHECK_EQ(cio_log_set_file(path), 0);
    double sw = now_mono() - t2;
    CHECK(sw < 10.0); /* it gave up waiting (after 2 s), generously */
    /* a file opened now may get the old sink's fd number: it must not
     * receive what the writer still had for the pipe */
    char vpath[128];
    path_of(vpath, sizeof vpath, "victim");
    int victim = open(vpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(victim >= 0);
    /* the pipe is drained now, after the switch: the writer finishes its
     * chunk into the old pipe, and only there */
    drainer d2 = {.fd = p[0]};
    CHECK_EQ(pthread_create(&th, NULL, drain_main, &d2), 0);
    cio_log_flush(); /* the ring drains: the rest of the flood into the file */
    cio_log(CIO_LOG_INFO, "after", "into the file");
    cio_log_flush();
    usleep(50000);
    atomic_store(&d2.stop, true);
    pthread_join(th, NULL);
    size_t len;
    char *text = slurp(path, &len);
    /* the file holds records only, all whole (the rest of the second flood,
     * perhaps a drop note, and ours) */
    CHECK(text && strstr(text, "INFO:after: into the file\n") != NULL);
    char **lines = NULL;
    bool whole = false;
    size_t n = text ? split_lines(text, len, &lines, &whole) : 0;
    CHECK(whole);
    int badf = 0;
    for (size_t i = 0; i < n; i++)
        if (drop_note(lines[i]) < 0 && stamp_secs(lines[i]) < 0 && badf++ < 3)
            fprintf(stderr, "  not a whole record: \"%.60s\"\n", lines[i]);
    CHECK_EQ(badf, 0);
    free(lines);
    free(text);
    free(d2.buf);
    CHECK(d2.len > 0); /* the writer's chunk for the pipe went to the pipe */
    struct stat vst;
    CHECK_EQ(fstat(victim, &vst), 0);
    CHECK_EQ(vst.st_size, 0);
    close(victim);
    close(p[0]);
    END("t_slow_sink");
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--env-child") == 0)
        return env_child(argv[2], argv[3]);
    ssize_t l = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (l <= 0) {
        perror("readlink");
        return 1;
    }
    self_exe[l] = 0;
    snprintf(dir, sizeof dir, "/tmp/cio-log-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    /* the environment must not decide the level of this process */
    unsetenv("CIO_LOG_LEVEL");

    RUN_TEST(t_format);
    RUN_TEST(t_levels);
    RUN_TEST(t_env);
    RUN_TEST(t_long);
    RUN_TEST(t_threads);
    RUN_TEST(t_slow_sink);

    cio_log_set_file(NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_exit();
}
