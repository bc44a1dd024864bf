/* SPDX-License-Identifier: MIT */
/* For test programs whose every test depends on the back end: run them on
 * the one CIO_BACKEND names, epoll when it is unset.  CTest registers NAME,
 * NAME@poll and NAME@io_uring, so each back end runs once, and
 * `CIO_BACKEND=poll build/tests/NAME` runs one by hand.
 *
 * Sets *backend to the back end's name (tests branch on it) and returns 0
 * after run_all(), or 77 (CTest's skip) when this machine does not have that
 * back end: a kernel that refuses io_uring makes the loop fall back, which
 * the probe loop shows. */
#ifndef CIO_TESTS_LIB_BACKENDS_H
#define CIO_TESTS_LIB_BACKENDS_H

#include "cio.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline int check_on_backend(void (*run_all)(void), const char **backend)
{
    const char *env = getenv("CIO_BACKEND");
    const char *want = env && *env ? env : "epoll";
    if (strcmp(want, "uring") == 0)
        want = "io_uring";
    setenv("CIO_BACKEND", want, 1);
    cio_loop *probe = cio_loop_new();
    bool have = probe && strcmp(cio_loop_backend(probe), want) == 0;
    if (probe)
        cio_loop_close(probe);
    if (!have) {
        fprintf(stderr, "skipped: back end %s not available here\n", want);
        return 77;
    }
    *backend = want;
    fprintf(stderr, "-- back end %s\n", want);
    run_all();
    return 0;
}

#endif
