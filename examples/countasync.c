/* SPDX-License-Identifier: MIT */
/*
 * countasync -- the "hello world" of the first article (seed 000), ported
 * line by line:
 *
 *     async def count():
 *         print("One")
 *         await asyncio.sleep(1)
 *         print("Two")
 *
 *     async def main():
 *         await asyncio.gather(count(), count(), count())
 *
 *     s = time.perf_counter()
 *     asyncio.run(main())
 *     elapsed = time.perf_counter() - s
 *     print(f"{__file__} executed in {elapsed:0.2f} seconds.")
 *
 * Prints One One One Two Two Two and takes one second, not three: the three
 * sleeps overlap.  (argv[0] stands in for Python's __file__.)
 */
#include <cio.h>

#include <errno.h>
#include <stdio.h>
#include <time.h>

/* time.perf_counter() on the loop's clock (cio_time), so that the time is
 * exact when the program runs on virtual time (CIO_VIRTUAL_TIME=1); taken
 * from main's start to its end (Python measures around asyncio.run, a few
 * microseconds more). */
static double perf_counter(void) { return cio_time(); }
static double elapsed;

/* async def count() */
static void *count(void *arg)
{
    (void)arg;
    printf("One\n");
    int rc = cio_sleep(1);
    if (rc)
        return cio_fail(rc, NULL);
    printf("Two\n");
    return NULL;
}

/* async def main(): await asyncio.gather(count(), count(), count()) */
static void *main_task(void *arg)
{
    (void)arg;
    double s = perf_counter();
    cio_task *tasks[3];
    size_t n = 0;
    int rc = 0;
    for (; n < 3; n++) {
        if (!(tasks[n] = cio_spawn(count, NULL))) {
            rc = -errno;
            break;
        }
    }
    if (!rc)
        rc = cio_gather(tasks, n, NULL, NULL, 0);
    for (size_t i = 0; i < n; i++)
        cio_release(tasks[i]);
    elapsed = perf_counter() - s;
    return rc ? cio_fail(rc, NULL) : NULL;
}

int main(int argc, char **argv)
{
    (void)argc;
    setvbuf(stdout, NULL, _IOLBF, 0); /* show each line as it happens, also through a pipe */
    int rc = cio_run(main_task, NULL, NULL);
    if (rc) {
        fprintf(stderr, "countasync: %s\n", cio_strerror(rc));
        return 1;
    }
    printf("%s executed in %0.2f seconds.\n", argv[0], elapsed);
    return 0;
}
