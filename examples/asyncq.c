/* SPDX-License-Identifier: MIT */
/*
 * asyncq -- producers and consumers around a queue (seed 000), ported line
 * by line:
 *
 *     async def makeitem(size: int = 5) -> str:
 *         return os.urandom(size).hex()
 *
 *     async def randsleep(a: int = 1, b: int = 5, caller=None) -> None:
 *         i = random.randint(0, 10)
 *         if caller:
 *             print(f"{caller} sleeping for {i} seconds.")
 *         await asyncio.sleep(i)
 *
 *     async def produce(name: int, q: asyncio.Queue) -> None:
 *         n = random.randint(0, 10)
 *         for _ in it.repeat(None, n):  # Synchronous loop for each single producer
 *             await randsleep(caller=f"Producer {name}")
 *             i = await makeitem()
 *             t = time.perf_counter()
 *             await q.put((i, t))
 *             print(f"Producer {name} added <{i}> to queue.")
 *
 *     async def consume(name: int, q: asyncio.Queue) -> None:
 *         while True:
 *             await randsleep(caller=f"Consumer {name}")
 *             i, t = await q.get()
 *             now = time.perf_counter()
 *             print(f"Consumer {name} got element <{i}>"
 *                   f" in {now-t:0.5f} seconds.")
 *             q.task_done()
 *
 *     async def main(nprod: int, ncon: int):
 *         q = asyncio.Queue()
 *         producers = [asyncio.create_task(produce(n, q)) for n in range(nprod)]
 *         consumers = [asyncio.create_task(consume(n, q)) for n in range(ncon)]
 *         await asyncio.gather(*producers)
 *         await q.join()  # Implicitly awaits consumers, too
 *         for c in consumers:
 *             c.cancel()
 *
 *     random.seed(444)
 *     parser.add_argument("-p", "--nprod", type=int, default=5)
 *     parser.add_argument("-c", "--ncon", type=int, default=10)
 *     start = time.perf_counter()
 *     asyncio.run(main(**ns.__dict__))
 *     elapsed = time.perf_counter() - start
 *     print(f"Program completed in {elapsed:0.5f} seconds.")
 *
 * The random numbers come from a port of Python's own generator (MT19937
 * seeded as random.seed(int) does, randint drawn as Python draws it), so the
 * sleeps and counts are the Python program's; the items, which Python takes
 * from os.urandom, come from a second generator seeded alike, so that a run
 * is reproducible without disturbing the first one's sequence.  C has no tuples: an item is a small struct,
 * malloc'd by the producer and freed by the consumer that takes it.
 *
 * Usage: asyncq [-p|--nprod N] [-c|--ncon N] [-s|--scale FACTOR] [--seed N]
 *   -p, --nprod N       number of producers (default 5)
 *   -c, --ncon N        number of consumers (default 10)
 *   -s, --scale FACTOR  multiply every sleep by FACTOR (default 1.0); the
 *                       printed "sleeping for i seconds" keeps i
 *   --seed N            seed of the random generator (default 444)
 */
#include <cio.h>

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "pyrandom.h"


/* ---- the program ----------------------------------------------------------- */

static double scale = 1.0;

static double perf_counter(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The (i, t) tuple put on the queue. */
typedef struct item {
    char hex[11]; /* os.urandom(5).hex() */
    double t;
} item;

/* os.urandom() stand-in: a generator of its own (splitmix64), so that the
 * items do not shift random.randint()'s sequence, which Python's urandom
 * does not touch either. */
static uint64_t urandom_state;

static unsigned urandom_byte(void)
{
    uint64_t z = (urandom_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (unsigned)((z ^ (z >> 31)) >> 56);
}

/* async def makeitem(size=5) -> str */
static void makeitem(char *hex, size_t size)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t k = 0; k < size; k++) {
        unsigned byte = urandom_byte();
        hex[2 * k] = digits[byte >> 4];
        hex[2 * k + 1] = digits[byte & 15];
    }
    hex[2 * size] = '\0';
}

/* async def randsleep(a=1, b=5, caller=None) */
static int randsleep(const char *caller, int name)
{
    int i = py_randint(0, 10);
    if (caller)
        printf("%s %d sleeping for %d seconds.\n", caller, name, i);
    return cio_sleep(i * scale);
}

typedef struct worker_args {
    int name;
    cio_queue *q;
} worker_args;

/* async def produce(name, q) */
static void *produce(void *arg)
{
    worker_args *a = arg;
    int n = py_randint(0, 10);
    for (int k = 0; k < n; k++) { /* Synchronous loop for each single producer */
        int rc = randsleep("Producer", a->name);
        if (rc)
            return cio_fail(rc, NULL);
        item *it = malloc(sizeof *it);
        if (!it)
            return cio_fail(-ENOMEM, NULL);
        makeitem(it->hex, 5);
        it->t = perf_counter();
        if ((rc = cio_queue_put(a->q, it))) {
            free(it); /* not added: still ours */
            return cio_fail(rc, NULL);
        }
        printf("Producer %d added <%s> to queue.\n", a->name, it->hex);
    }
    return NULL;
}

/* async def consume(name, q) */
static void *consume(void *arg)
{
    worker_args *a = arg;
    for (;;) {
        int rc = randsleep("Consumer", a->name);
        if (rc)
            return cio_fail(rc, NULL);
        void *got;
        if ((rc = cio_queue_get(a->q, &got)))
            return cio_fail(rc, NULL);
        item *it = got;
        double now = perf_counter();
        printf("Consumer %d got element <%s> in %0.5f seconds.\n", a->name, it->hex, now - it->t);
        free(it);
        cio_queue_task_done(a->q);
    }
}

typedef struct main_args {
    int nprod, ncon;
} main_args;

/* async def main(nprod, ncon) */
static void *main_task(void *arg)
{
    const main_args *m = arg;
    int rc = 0;
    cio_queue *q = cio_queue_new(0);
    worker_args *wa = calloc((size_t)(m->nprod + m->ncon) + 1, sizeof *wa);
    cio_task **producers = calloc((size_t)m->nprod + 1, sizeof *producers);
    cio_task **consumers = calloc((size_t)m->ncon + 1, sizeof *consumers);
    int np = 0, nc = 0;
    if (!q || !wa || !producers || !consumers) {
        rc = -ENOMEM;
        goto out;
    }
    for (; np < m->nprod; np++) {
        wa[np] = (worker_args){np, q};
        if (!(producers[np] = cio_spawn(produce, &wa[np]))) {
            rc = -errno;
            goto out;
        }
    }
    for (; nc < m->ncon; nc++) {
        wa[m->nprod + nc] = (worker_args){nc, q};
        if (!(consumers[nc] = cio_spawn(consume, &wa[m->nprod + nc]))) {
            rc = -errno;
            goto out;
        }
    }
    if ((rc = cio_gather(producers, (size_t)np, NULL, NULL, 0)))
        goto out;
    rc = cio_queue_join(q); /* Implicitly awaits consumers, too */
out:
    for (int k = 0; k < nc; k++)
        cio_cancel(consumers[k], NULL);
    for (int k = 0; k < np; k++)
        cio_cancel(producers[k], NULL); /* only after an error: they are done otherwise */
    /* asyncio.run would reap the cancelled consumers after main; here they
     * are parked on q, which main frees, so main reaps them itself. */
    cio_gather(consumers, (size_t)nc, NULL, NULL, CIO_RETURN_EXCEPTIONS);
    cio_gather(producers, (size_t)np, NULL, NULL, CIO_RETURN_EXCEPTIONS);
    for (int k = 0; k < nc; k++)
        cio_release(consumers[k]);
    for (int k = 0; k < np; k++)
        cio_release(producers[k]);
    if (q) {
        void *left;
        while (cio_queue_get_nowait(q, &left) == 0)
            free(left);
        cio_queue_free(q);
    }
    free(wa);
    free(producers);
    free(consumers);
    return rc ? cio_fail(rc, NULL) : NULL;
}

static void usage(FILE *out, const char *prog)
{
    fprintf(out, "usage: %s [-p|--nprod N] [-c|--ncon N] [-s|--scale FACTOR] [--seed N]\n", prog);
}

static int parse_int(const char *prog, const char *what, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "%s: bad %s '%s'\n", prog, what, s);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"nprod", required_argument, NULL, 'p'}, {"ncon", required_argument, NULL, 'c'},
        {"scale", required_argument, NULL, 's'}, {"seed", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    main_args m = {5, 10};
    uint64_t seed = 444;
    int opt;
    long v;
    char *end;
    while ((opt = getopt_long(argc, argv, "p:c:s:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            if (parse_int(argv[0], "nprod", optarg, 0, 100000, &v))
                return 2;
            m.nprod = (int)v;
            break;
        case 'c':
            if (parse_int(argv[0], "ncon", optarg, 0, 100000, &v))
                return 2;
            m.ncon = (int)v;
            break;
        case 's':
            scale = strtod(optarg, &end);
            if (*end || end == optarg || !(scale >= 0)) {
                fprintf(stderr, "%s: bad scale '%s'\n", argv[0], optarg);
                return 2;
            }
            break;
        case 'S':
            errno = 0;
            seed = strtoull(optarg, &end, 10);
            if (errno || *end || end == optarg) {
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
    if (m.ncon == 0 && m.nprod > 0) {
        /* as in Python, join() would then wait forever */
        fprintf(stderr, "%s: warning: no consumers; the queue is never drained\n", argv[0]);
    }

    py_seed(seed);
    urandom_state = seed;
    double start = perf_counter();
    int rc = cio_run(main_task, &m, NULL);
    double elapsed = perf_counter() - start;
    if (rc) {
        fprintf(stderr, "%s: %s\n", argv[0], cio_strerror(rc));
        return 1;
    }
    printf("Program completed in %0.5f seconds.\n", elapsed);
    return 0;
}
