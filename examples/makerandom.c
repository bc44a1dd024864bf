/* SPDX-License-Identifier: MIT */
/*
 * makerandom -- three coloured producers (seed 000), ported line by line:
 *
 *     async def makerandom(idx: int, threshold: int = 6) -> int:
 *         print(c[idx + 1] + f"Initiated makerandom({idx}) .")
 *         i = random.randint(0, 10)
 *         while i <= threshold:
 *             print(c[idx + 1] + f"makerandom({idx})  == {i} too low; retrying.")
 *             await asyncio.sleep(idx + 1)
 *             i = random.randint(0, 10)
 *         print(c[idx + 1] + f"---> Finished: makerandom({idx})  == {i}" + c[0])
 *         return i
 *
 *     async def main():
 *         res = await asyncio.gather(*(makerandom(i, 10 - i - 1) for i in range(3)))
 *         return res
 *
 *     random.seed(444)
 *     r1, r2, r3 = asyncio.run(main())
 *     print()
 *     print(f"r1: {r1}, r2: {r2}, r3: {r3}")
 *
 * The random numbers come from a port of Python's own generator (MT19937,
 * seeded as random.seed(int) does, randint as Python draws it), so with the
 * article's seed 444 the program prints exactly what the Python does.
 *
 * Usage: makerandom [-s|--scale FACTOR] [--seed N]
 *   -s, --scale FACTOR  multiply every sleep by FACTOR (default 1.0)
 *   --seed N            seed of the random generator (default 444)
 */
#include <cio.h>

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "pyrandom.h"


/* ---- the program ----------------------------------------------------------- */

static double scale = 1.0;

/* ANSI colors */
static const char *const c[] = {
    "\033[0m",  /* End of color */
    "\033[36m", /* Cyan */
    "\033[91m", /* Red */
    "\033[35m", /* Magenta */
};

typedef struct makerandom_args {
    int idx;
    int threshold;
} makerandom_args;

/* async def makerandom(idx, threshold) -> int (the int travels as the
 * task's result pointer) */
static void *makerandom(void *arg)
{
    const makerandom_args *a = arg;
    int idx = a->idx;
    printf("%sInitiated makerandom(%d) .\n", c[idx + 1], idx);
    int i = py_randint(0, 10);
    while (i <= a->threshold) {
        printf("%smakerandom(%d)  == %d too low; retrying.\n", c[idx + 1], idx, i);
        int rc = cio_sleep((idx + 1) * scale);
        if (rc)
            return cio_fail(rc, NULL);
        i = py_randint(0, 10);
    }
    printf("%s---> Finished: makerandom(%d)  == %d%s\n", c[idx + 1], idx, i, c[0]);
    return (void *)(intptr_t)i;
}

/* async def main(): return await asyncio.gather(*(makerandom(i, 10 - i - 1) for i in range(3))) */
static void *main_task(void *arg)
{
    int *res = arg; /* room for the three results */
    makerandom_args args[3];
    cio_task *tasks[3];
    size_t n = 0;
    int rc = 0;
    for (; n < 3; n++) {
        args[n] = (makerandom_args){.idx = (int)n, .threshold = 10 - (int)n - 1};
        if (!(tasks[n] = cio_spawn(makerandom, &args[n]))) {
            rc = -errno;
            break;
        }
    }
    void *results[3] = {NULL, NULL, NULL};
    if (!rc)
        rc = cio_gather(tasks, n, results, NULL, 0);
    for (size_t i = 0; i < n; i++)
        cio_release(tasks[i]);
    if (rc)
        return cio_fail(rc, NULL);
    for (size_t i = 0; i < 3; i++)
        res[i] = (int)(intptr_t)results[i];
    return NULL;
}

static void usage(FILE *out, const char *prog)
{
    fprintf(out, "usage: %s [-s|--scale FACTOR] [--seed N]\n", prog);
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
    if (optind < argc) {
        usage(stderr, argv[0]);
        return 2;
    }

    setvbuf(stdout, NULL, _IOLBF, 0); /* show each line as it happens, also through a pipe */
    py_seed(seed);
    int r[3];
    int rc = cio_run(main_task, r, NULL);
    if (rc) {
        fprintf(stderr, "%s%s: %s\n", c[0], argv[0], cio_strerror(rc));
        return 1;
    }
    printf("\n");
    printf("r1: %d, r2: %d, r3: %d\n", r[0], r[1], r[2]);
    return 0;
}
