/* SPDX-License-Identifier: MIT */
/* Running one test by name: `build/tests/test_x NAME...` runs only the tests
 * named, `make test T=NAME` finds the program (the one with RUN_...(NAME)
 * in it) and does the same in each flavour.
 *
 *   check_selected(name)     whether the test called name is to run: no
 *                            names given, or name is one of them
 *   RUN_TEST(fn)             fn() if selected: a test that makes and closes
 *                            its own loops (or needs none)
 *   check_unmatched_names()  prints a FAIL line for every name given that
 *                            matched no test and returns how many: a typo
 *                            cannot pass for a run
 *
 * check.h's RUN_TASK_TEST selects the same way and its check_exit() counts
 * the unmatched names; test_ctx and test_timer, which have their own CHECK
 * macros, include only this header.  The names are read from
 * /proc/self/cmdline, so no main() has to pass its argv along.  A first
 * argument starting with '-' is the program's own (a mode, a child it
 * re-executes, an option such as test_timer's --seed) and leaves every test
 * selected. */
#ifndef CIO_TESTS_LIB_SELECT_H
#define CIO_TESTS_LIB_SELECT_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The names given on the command line: check_names[0..check_nnames), each
 * with whether a test of that name ran; check_nnames -1 until read. */
#define CHECK_MAX_NAMES 32
static char check_cmdline[4096];
static const char *check_names[CHECK_MAX_NAMES];
static bool check_name_ran[CHECK_MAX_NAMES];
static int check_nnames = -1;

static inline void check_read_names(void)
{
    check_nnames = 0;
    FILE *f = fopen("/proc/self/cmdline", "r");
    if (!f)
        return;
    size_t n = fread(check_cmdline, 1, sizeof check_cmdline - 1, f);
    fclose(f);
    check_cmdline[n] = '\0'; /* NUL-separated argv; skip argv[0] */
    const char *end = check_cmdline + n, *p = check_cmdline + strlen(check_cmdline) + 1;
    if (p >= end || *p == '-')
        return;
    for (; p < end && check_nnames < CHECK_MAX_NAMES; p += strlen(p) + 1)
        check_names[check_nnames++] = p;
}

/* Whether the test called name runs: no names given, or one of them. */
static inline bool check_selected(const char *name)
{
    if (check_nnames < 0)
        check_read_names();
    bool any = check_nnames == 0;
    for (int i = 0; i < check_nnames; i++)
        if (strcmp(check_names[i], name) == 0)
            any = check_name_ran[i] = true;
    return any;
}

#define RUN_TEST(fn)                                                                                 \
    do {                                                                                             \
        if (check_selected(#fn))                                                                     \
            fn();                                                                                    \
    } while (0)

static inline int check_unmatched_names(void)
{
    int n = 0;
    for (int i = 0; i < check_nnames; i++)
        if (!check_name_ran[i]) {
            fprintf(stderr, "FAIL no test named %s in this program\n", check_names[i]);
            n++;
        }
    return n;
}

#endif
