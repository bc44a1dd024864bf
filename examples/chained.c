/* SPDX-License-Identifier: MIT */
/*
 * chained -- chained coroutines (seed 000), ported line by line:
 *
 *     async def part1(n: int) -> str:
 *         i = random.randint(0, 10)
 *         print(f"part1({n})  sleeping for {i} seconds.")
 *         await asyncio.sleep(i)
 *         result = f"result{n}-1"
 *         print(f"Returning part1({n})  == {result}.")
 *         return result
 *
 *     async def part2(n: int, arg: str) -> str:
 *         i = random.randint(0, 10)
 *         print(f"part2{n, arg} sleeping for {i} seconds.")
 *         await asyncio.sleep(i)
 *         result = f"result{n}-2 derived from {arg}"
 *         print(f"Returning part2{n, arg} == {result}.")
 *         return result
 *
 *     async def chain(n: int) -> None:
 *         start = time.perf_counter()
 *         p1 = await part1(n)
 *         p2 = await part2(n, p1)
 *         end = time.perf_counter() - start
 *         print(f"-->Chained result{n} => {p2} (took {end:0.2f} seconds) .")
 *
 *     async def main(*args):
 *         await asyncio.gather(*(chain(n) for n in args))
 *
 *     random.seed(444)
 *     args = [1, 2, 3] if len(sys.argv) == 1 else map(int, sys.argv[1:])
 *     start = time.perf_counter()
 *     asyncio.run(main(*args))
 *     end = time.perf_counter() - start
 *     print(f"Program finished in {end:0.2f} seconds.")
 *
 * `await part1(n)` awaits a coroutine, not a task: in C that is a plain call
 * of a function that suspends, on the calling task's own stack.  The chains
 * run concurrently, so the program takes as long as the longest chain.
 * The random numbers come from a port of Python's generator, so with the
 * article's seed `chained 9 6 3` prints the article's numbers.
 *
 * Usage: chained [-s|--scale FACTOR] [--seed N] [n ...]
 *   -s, --scale FACTOR  multiply every sleep by FACTOR (default 1.0)
 *   --seed N            seed of the random generator (default 444)
 */
#include <cio.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "pyrandom.h"


/* ---- the program ----------------------------------------------------------- */

static double scale = 1.0;

/* time.perf_counter() on the loop's clock (cio_time), so that durations are
 * exact when the program runs on virtual time (CIO_VIRTUAL_TIME=1). */
static double perf_counter(void) { return cio_time(); }

/* The program's time: from main's start to its end, on the loop's clock
 * (Python measures around asyncio.run, a few microseconds more). */
static double program_time;

/* async def part1(n) -> str: the string goes to out. Returns 0 or an error
 * (-ECANCELED if the chain is cancelled while it sleeps). */
static int part1(int n, char *out, size_t outsz)
{
    int i = py_randint(0, 10);
    printf("part1(%d)  sleeping for %d seconds.\n", n, i);
    int rc = cio_sleep(i * scale);
    if (rc)
        return rc;
    snprintf(out, outsz, "result%d-1", n);
    printf("Returning part1(%d)  == %s.\n", n, out);
    return 0;
}

/* async def part2(n, arg) -> str */
static int part2(int n, const char *arg, char *out, size_t outsz)
{
    int i = py_randint(0, 10);
    printf("part2(%d, '%s') sleeping for %d seconds.\n", n, arg, i);
    int rc = cio_sleep(i * scale);
    if (rc)
        return rc;
    snprintf(out, outsz, "result%d-2 derived from %s", n, arg);
    printf("Returning part2(%d, '%s') == %s.\n", n, arg, out);
    return 0;
}

/* async def chain(n) -> None */
static void *chain(void *arg)
{
    int n = *(const int *)arg;
    char p1[64], p2[128];
    double start = perf_counter();
    int rc = part1(n, p1, sizeof p1);
    if (rc)
        return cio_fail(rc, NULL);
    rc = part2(n, p1, p2, sizeof p2);
    if (rc)
        return cio_fail(rc, NULL);
    double end = perf_counter() - start;
    printf("-->Chained result%d => %s (took %0.2f seconds) .\n", n, p2, end);
    return NULL;
}

typedef struct main_args {
    const int *ns;
    size_t count;
} main_args;

/* async def main(*args): await asyncio.gather(*(chain(n) for n in args)) */
static void *main_task(void *arg)
{
    const main_args *a = arg;
    double start = perf_counter();
    if (a->count == 0)
        return NULL;
    cio_task **tasks = calloc(a->count, sizeof *tasks);
    if (!tasks)
        return cio_fail(-ENOMEM, NULL);
    size_t n = 0;
    int rc = 0;
    for (; n < a->count; n++) {
        if (!(tasks[n] = cio_spawn(chain, (void *)&a->ns[n]))) {
            rc = -errno;
            break;
        }
    }
    if (!rc)
        rc = cio_gather(tasks, n, NULL, NULL, 0);
    for (size_t i = 0; i < n; i++)
        cio_release(tasks[i]);
    free(tasks);
    program_time = perf_counter() - start;
    return rc ? cio_fail(rc, NULL) : NULL;
}

static void usage(FILE *out, const char *prog)
{
    fprintf(out, "usage: %s [-s|--scale FACTOR] [--seed N] [n ...]\n", prog);
}

int main(int argc, char **argv)
{
    unsigned long long seed = 444;
    static const struct option opts[] = {
        {"scale", required_argument, NULL, 's'},
        {"seed", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    char *end;
    while ((opt = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        switch (opt) {
        case 's':
            scale = strtod(optarg, &end);
            if (*end || end == optarg || !(scale >= 0)) {
                fprintf(stderr, "%s: bad scale '%s'\n", argv[0], optarg);
                return 2;
            }
            break;
        case 'S':
            seed = strtoull(optarg, &end, 10);
            if (*end || end == optarg) {
                fprintf(stderr, "%s: bad seed '%s'\n", argv[0], optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout, argv[0]);
            return 0;
        default:
            usage(stderr, argv[0]);
            return 2;
        }
    }

    /* args = [1, 2, 3] if len(sys.argv) == 1 else map(int, sys.argv[1:]) */
    static const int defaults[] = {1, 2, 3};
    int *ns = NULL;
    main_args a = {.ns = defaults, .count = 3};
    if (optind < argc) {
        a.count = (size_t)(argc - optind);
        if (!(ns = calloc(a.count, sizeof *ns))) {
            perror(argv[0]);
            return 1;
        }
        for (size_t i = 0; i < a.count; i++) {
            const char *s = argv[optind + (int)i];
            errno = 0;
            long v = strtol(s, &end, 10);
            if (*end || end == s || errno || v < INT_MIN || v > INT_MAX) {
                fprintf(stderr, "%s: invalid literal for int(): '%s'\n", argv[0], s);
                free(ns);
                return 2;
            }
            ns[i] = (int)v;
        }
        a.ns = ns;
    }

    setvbuf(stdout, NULL, _IOLBF, 0); /* show each line as it happens, also through a pipe */
    py_seed(seed);
    int rc = cio_run(main_task, &a, NULL);
    double elapsed = program_time;
    free(ns);
    if (rc) {
        fprintf(stderr, "%s: %s\n", argv[0], cio_strerror(rc));
        return 1;
    }
    printf("Program finished in %0.2f seconds.\n", elapsed);
    return 0;
}
