/* SPDX-License-Identifier: MIT */
/*
 * coro_gather -- create_task and gather (seeds 000 and 004), ported line by
 * line.  The two snippets of the article, each run by its own asyncio.run:
 *
 *     async def coro(seq) -> list:
 *         """'IO' wait time is proportional to the max element."""
 *         await asyncio.sleep(max(seq))
 *         return list(reversed(seq))
 *
 *     async def main():
 *         t = asyncio.create_task(coro([3, 2, 1]))
 *         await t
 *         print(f't: type {type(t)}')
 *         print(f't done: {t.done()}')
 *
 *     t = asyncio.run(main())
 *
 *     async def main():
 *         t = asyncio.create_task(coro([3, 2, 1]))
 *         t2 = asyncio.create_task(coro([10, 5, 0]))
 *         print('Start:', time.strftime('%X'))
 *         a = await asyncio.gather(t, t2)
 *         print('End:', time.strftime('%X'))  # Should be 10 seconds
 *         print(f'Both tasks done: {all((t.done(), t2.done()))}')
 *         return a
 *
 *     a = asyncio.run(main())
 *     a                      # [[1, 2, 3], [0, 5, 10]]
 *
 * The gather takes max(seq) = 10 seconds, not 3 + 10: the two tasks sleep at
 * the same time, and the results come back in argument order.
 *
 * Usage: coro_gather [-s|--scale FACTOR]
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

static void print_time(const char *label)
{
    char buf[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(buf, sizeof buf, "%X", localtime_r(&now, &tm));
    printf("%s %s\n", label, buf);
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

/* The first main(): one task, awaited. */
static void *main_one(void *arg)
{
    (void)arg;
    static const seq s1 = {seq1, 3};
    cio_task *t = cio_spawn(coro, (void *)&s1);
    if (!t)
        return cio_fail(-errno, NULL);
    void *res = NULL;
    int rc = cio_await(t, &res);
    if (rc) {
        cio_release(t);
        return cio_fail(rc, NULL);
    }
    free(res);
    printf("t: type cio_task (name '%s', state %s)\n", cio_task_name(t), cio_task_state_name(cio_task_state(t)));
    printf("t done: %s\n", cio_done(t) ? "True" : "False");
    cio_release(t);
    return NULL;
}

/* The second main(): two tasks, gathered. Returns a, a malloc'd array of
 * two lists. */
static void *main_gather(void *arg)
{
    (void)arg;
    static const seq s1 = {seq1, 3}, s2 = {seq2, 3};
    cio_task *t = cio_spawn(coro, (void *)&s1);
    if (!t)
        return cio_fail(-errno, NULL);
    cio_task *t2 = cio_spawn(coro, (void *)&s2);
    if (!t2) {
        int err = errno;
        cio_release(t);
        return cio_fail(-err, NULL);
    }
    print_time("Start:");
    cio_task *both[2] = {t, t2};
    list **a = calloc(2, sizeof *a);
    int rc = a ? cio_gather(both, 2, (void **)a, NULL, 0) : -ENOMEM;
    if (rc) {
        /* gather stops at the first error; a task that still finishes
         * afterwards leaves a list nobody reads. */
        if (a)
            for (size_t i = 0; i < 2; i++)
                free(a[i]);
        free(a);
        cio_release(t);
        cio_release(t2);
        return cio_fail(rc, NULL);
    }
    print_time("End:"); /* Should be 10 seconds */
    printf("Both tasks done: %s\n", cio_done(t) && cio_done(t2) ? "True" : "False");
    cio_release(t);
    cio_release(t2);
    return a;
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
    /* t = asyncio.run(main()) */
    int rc = cio_run(main_one, NULL, NULL);
    if (rc) {
        fprintf(stderr, "%s: %s\n", argv[0], cio_strerror(rc));
        return 1;
    }

    /* a = asyncio.run(main()); a */
    void *res = NULL;
    rc = cio_run(main_gather, NULL, &res);
    if (rc) {
        fprintf(stderr, "%s: %s\n", argv[0], cio_strerror(rc));
        return 1;
    }
    list **a = res;
    printf("[");
    for (size_t i = 0; i < 2; i++) {
        printf("%s", i ? ", " : "");
        print_list(a[i]);
        free(a[i]);
    }
    printf("]\n");
    free(a);
    return 0;
}
