/* SPDX-License-Identifier: MIT */
/* Harness for the conformance suite: CPython's test_asyncio ported to cio.
 *
 * One C file per CPython file (tests/conformance/test_tasks.c ports
 * Lib/test/test_asyncio/test_tasks.py), one case per CPython test method,
 * named after it: `test_tasks.test_cancel_yield`, or
 * `test_locks.LockTests.test_repr` where the method name repeats in the file.
 * docs/conformance.md accounts for every method; tests/conformance_table.sh
 * checks the table against the cases here and prints its counts.
 *
 *   #define CONF_FILE "test_locks"        before including this header
 *   CONF_TASK(test_acquire) { ...; return NULL; }
 *       the body runs as the main task of a fresh loop (as CPython's
 *       run_until_complete of the test coroutine), then the loop is checked
 *       for leaks (tasks, timers, fds, futures), as every cio test does.
 *   CONF_PLAIN(test_call_soon) { ... }
 *       the body runs outside any loop and manages loops itself; the fd
 *       count is checked afterwards.
 *   A "__" in the identifier is a "." in the case name:
 *       CONF_TASK(LockTests__test_repr) is test_locks.LockTests.test_repr.
 *
 * main() comes from CONF_MAIN(): `test_x` runs every case, `test_x NAME...`
 * (each the full name or only the method) runs those, and fails if a name
 * matches no case.  Assertions are check.h's
 * CHECK / CHECK_EQ / CHECK_ORDER: a failing one fails the case and the
 * program.  Each case assert what its CPython test asserts; never weaker.
 */
#ifndef CIO_CONFORMANCE_H
#define CIO_CONFORMANCE_H

#include "../check.h"

#ifndef CONF_FILE
#error "define CONF_FILE (the CPython file's name, e.g. \"test_tasks\") before including conformance.h"
#endif

typedef struct conf_case {
    const char *id;      /* C identifier, "__" for "." */
    cio_task_fn task;    /* CONF_TASK */
    void (*plain)(void); /* CONF_PLAIN */
} conf_case;

enum { CONF_MAX_CASES = 512 };
static conf_case conf_cases[CONF_MAX_CASES];
static int conf_ncases;

static inline void conf_register(const char *id, cio_task_fn task, void (*plain)(void))
{
    if (conf_ncases == CONF_MAX_CASES) {
        fprintf(stderr, "conformance: more than %d cases in " CONF_FILE "\n", CONF_MAX_CASES);
        abort();
    }
    conf_cases[conf_ncases++] = (conf_case){id, task, plain};
}

#define CONF_TASK(id)                                                                                \
    static void *id(void *arg);                                                                      \
    __attribute__((constructor)) static void conf_reg_##id(void) { conf_register(#id, id, NULL); } \
    static void *id(void *arg __attribute__((unused)))

#define CONF_PLAIN(id)                                                                               \
    static void id(void);                                                                            \
    __attribute__((constructor)) static void conf_reg_##id(void) { conf_register(#id, NULL, id); } \
    static void id(void)

/* "LockTests__test_repr" -> "test_locks.LockTests.test_repr" */
static inline void conf_name(const char *id, char *out, size_t n)
{
    size_t o = (size_t)snprintf(out, n, "%s.", CONF_FILE);
    for (const char *p = id; *p && o + 1 < n; p++) {
        if (p[0] == '_' && p[1] == '_' && p != id) {
            out[o++] = '.';
            p++;
        } else {
            out[o++] = *p;
        }
    }
    out[o < n ? o : n - 1] = '\0';
}

/* Whether the case called name is asked for (each argument naming it, by
 * its full name or only the method, is marked in matched[]). */
static inline bool conf_selected(const char *name, int argc, char **argv, bool *matched)
{
    if (argc < 2)
        return true;
    bool any = false;
    const char *dot = strrchr(name, '.');
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], name) || (dot && !strcmp(argv[i], dot + 1)))
            any = matched[i] = true;
    return any;
}

static inline void conf_run_plain(const char *name, void (*fn)(void))
{
    check_current = name;
    int before = check_count_fds();
    int fails = check_failures;
    fn();
    CHECK_EQ(check_count_fds(), before);
    fprintf(stderr, "%s %s\n", check_failures == fails ? "ok  " : "FAIL", name);
}

static inline int conf_main(int argc, char **argv)
{
    static char names[CONF_MAX_CASES][160];
    bool *matched = calloc((size_t)argc, sizeof *matched);
    if (!matched) {
        perror("calloc");
        return 2;
    }
    int run = 0, failed = 0, unknown = 0;
    for (int i = 0; i < conf_ncases; i++) {
        conf_name(conf_cases[i].id, names[i], sizeof names[i]);
        if (!conf_selected(names[i], argc, argv, matched))
            continue;
        int fails = check_failures;
        if (conf_cases[i].task)
            check_run_task_test(names[i], conf_cases[i].task);
        else
            conf_run_plain(names[i], conf_cases[i].plain);
        run++;
        failed += check_failures != fails;
    }
    for (int i = 1; i < argc; i++)
        if (!matched[i]) {
            fprintf(stderr, "conformance %s: no case named %s\n", CONF_FILE, argv[i]);
            unknown++;
        }
    free(matched);
    if (unknown)
        return 2;
    fprintf(stderr, "conformance %s: %d cases, %d passed, %d failed\n", CONF_FILE, run, run - failed, failed);
    return check_exit();
}

#define CONF_MAIN()                                                                                  \
    int main(int argc, char **argv) { return conf_main(argc, argv); }

#endif
