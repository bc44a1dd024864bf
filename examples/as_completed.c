/* SPDX-License-Identifier: MIT */
/*
 * as_completed -- results in completion order (seeds 000 and 004), ported
 * line by line:
 *
 *     async def coro(seq) -> list:
 *         """'IO' wait time is proportional to the max element."""
 *         await asyncio.sleep(max(seq))
 *         return list(reversed(seq))
 *
 *     async def main():
 *         t = asyncio.create_task(coro([3, 2, 1]))
 *         t2 = asyncio.create_task(coro([10, 5, 0]))
 *         print('Start:', time.strftime('%X'))
 *         for res in asyncio.as_completed((t, t2)):
 *             compl = await res
 *             print(f'res: {compl} completed at {time.strftime("%X")}')
 *         print('End:', time.strftime('%X'))
 *         print(f'Both tasks done: {all((t.done(), t2.done()))}')
 *
 *     a = asyncio.run(main())
 *
 * The result of coro([3, 2, 1]) is there after 3 seconds, before
 * coro([10, 5, 0]) is done; gather would have waited for both.
 *
 * Usage: as_completed [-s|--scale FACTOR]
 *   -s, --scale FACTOR  multiply every sleep by FACTOR (default 1.0)
 */
#include <cio.h>

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double scale = 1.0;

/* A Python list of ints. */
typedef struct list {
    size_t n;
    int v[];
} list;

static const int seq1[] = {3, 2, 1};
static const int seq2[] = {10, 5, 0};

typedef struct seq {
    const int *v;
    size_t n;
} seq;

static void print_list(const list *l)
{
    printf("[");
    for (size_t i = 0; i < l->n; i++)
        printf("%s%d", i ? ", " : "", l->v[i]);
    printf("]");
}

static const char *now_x(char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    strftime(buf, size, "%X", localtime_r(&now, &tm));
    return buf;
}

/* async def coro(seq) -> list: the task's result is a malloc'd list that
 * whoever reads it frees. */
static void *coro(void *arg)
{
    const seq *s = arg;
    int max = s->v[0];
    for (size_t i = 1; i < s->n; i++)
        if (s->v[i] > max)
            max = s->v[i];
    int rc = cio_sleep(max * scale);
    if (rc)
        return cio_fail(rc, NULL);
    list *out = malloc(sizeof *out + s->n * sizeof out->v[0]);
    if (!out)
        return cio_fail(-ENOMEM, NULL);
    out->n = s->n;
    for (size_t i = 0; i < s->n; i++)
        out->v[i] = s->v[s->n - 1 - i];
    return out;
}

static void *main_task(void *arg)
{
    (void)arg;
    static const seq s1 = {seq1, 3}, s2 = {seq2, 3};
    char buf[32];
    cio_task *tasks[2] = {NULL, NULL};
    bool consumed[2] = {false, false};
    cio_as_completed *it = NULL;
    int rc = 0;

    if (!(tasks[0] = cio_spawn(coro, (void *)&s1)) || !(tasks[1] = cio_spawn(coro, (void *)&s2))) {
        rc = -errno;
        goto out;
    }
    printf("Start: %s\n", now_x(buf, sizeof buf));
    /* for res in asyncio.as_completed((t, t2)): */
    if (!(it = cio_as_completed_new(tasks, 2, CIO_NO_TIMEOUT))) {
        rc = -errno;
        goto out;
    }
    cio_future *res;
    while ((rc = cio_as_completed_next(it, &res)) == 0) {
        void *compl = NULL;
        /* compl = await res */
        if ((rc = cio_await(res, &compl)))
            goto out;
        consumed[res == tasks[0] ? 0 : 1] = true;
        printf("res: ");
        print_list(compl);
        printf(" completed at %s\n", now_x(buf, sizeof buf));
        free(compl);
    }
    if (rc != CIO_EDONE)
        goto out;
    rc = 0;
    printf("End: %s\n", now_x(buf, sizeof buf));
    printf("Both tasks done: %s\n", cio_done(tasks[0]) && cio_done(tasks[1]) ? "True" : "False");

out:
    cio_as_completed_free(it);
    for (size_t i = 0; i < 2; i++) {
        if (!tasks[i])
            continue;
        /* On an early exit a finished task may hold a list nobody read. */
        void *left = NULL;
        if (!consumed[i] && cio_done(tasks[i]) && cio_result(tasks[i], &left) == 0)
            free(left);
        cio_release(tasks[i]);
    }
    return rc ? cio_fail(rc, NULL) : NULL;
}

static void usage(FILE *out, const char *prog)
{
    fprintf(out, "usage: %s [-s|--scale FACTOR]\n", prog);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"scale", required_argument, NULL, 's'},
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
    int rc = cio_run(main_task, NULL, NULL);
    if (rc) {
        fprintf(stderr, "%s: %s\n", argv[0], cio_strerror(rc));
        return 1;
    }
    return 0;
}
