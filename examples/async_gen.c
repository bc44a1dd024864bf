/* SPDX-License-Identifier: MIT */
/*
 * async_gen -- an async generator, `async for` and an async comprehension
 * (seeds 001 and 002), ported line by line:
 *
 *     # 定义一个异步生成器
 *     async def async_generator():
 *         for i in range(10):
 *             # 暂停并睡眠一会儿
 *             await asyncio.sleep(1)
 *             # 向调用者产生一个值
 *             yield i
 *
 *     async def main():
 *         # 异步迭代生成器并打印结果
 *         async for result in async_generator():
 *             print(result)
 *
 *         # 使用列表推导式收集所有结果
 *         results = [item async for item in async_generator()]
 *         print(results)
 *
 *     asyncio.run(main())
 *
 * The generator is a cio_gen: its body runs as a task of its own and hands
 * each value over with cio_gen_yield(); `async for` is a loop over
 * cio_gen_next() until CIO_EDONE, the comprehension is cio_gen_collect().
 * The values are small integers carried in the pointers.  Each pass takes
 * ten sleeps: 10 seconds, 20 in all (-s scales them).
 *
 * Usage: async_gen [-s|--scale FACTOR]
 *   -s, --scale FACTOR  multiply every sleep by FACTOR (default 1.0)
 */
#include <cio.h>

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static double scale = 1.0;

/* async def async_generator() */
static void *async_generator(cio_gen *g, void *arg)
{
    (void)arg;
    for (intptr_t i = 0; i < 10; i++) {
        /* 暂停并睡眠一会儿 */
        int rc = cio_sleep(1 * scale);
        if (rc)
            return cio_fail(rc, NULL);
        /* 向调用者产生一个值 */
        rc = cio_gen_yield(g, (void *)i);
        if (rc == CIO_EGENCLOSED)
            return NULL; /* the consumer stopped early (GeneratorExit) */
        if (rc)
            return cio_fail(rc, NULL);
    }
    return NULL;
}

static void *main_task(void *arg)
{
    (void)arg;
    /* 异步迭代生成器并打印结果: async for result in async_generator() */
    cio_gen *g = cio_gen_new(async_generator, NULL, &(cio_task_opts){.name = "async_generator"});
    if (!g)
        return cio_fail(-errno, NULL);
    void *result;
    int rc;
    while ((rc = cio_gen_next(g, &result)) == 0)
        printf("%ld\n", (long)(intptr_t)result);
    cio_gen_free(g);
    if (rc != CIO_EDONE)
        return cio_fail(rc, NULL);

    /* 使用列表推导式收集所有结果: [item async for item in async_generator()] */
    if (!(g = cio_gen_new(async_generator, NULL, &(cio_task_opts){.name = "async_generator"})))
        return cio_fail(-errno, NULL);
    void **results;
    size_t n;
    rc = cio_gen_collect(g, &results, &n);
    cio_gen_free(g);
    if (rc)
        return cio_fail(rc, NULL);
    printf("[");
    for (size_t i = 0; i < n; i++)
        printf("%s%ld", i ? ", " : "", (long)(intptr_t)results[i]);
    printf("]\n");
    free(results);
    return NULL;
}

static void usage(FILE *out, const char *prog) { fprintf(out, "usage: %s [-s|--scale FACTOR]\n", prog); }

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
    int rc = cio_run(main_task, NULL, NULL);
    if (rc) {
        fprintf(stderr, "%s: %s\n", argv[0], cio_strerror(rc));
        return 1;
    }
    return 0;
}
