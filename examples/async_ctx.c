/* SPDX-License-Identifier: MIT */
/*
 * async_ctx -- an async context manager, awaiting on the way in and on the
 * way out (seed 001), ported line by line:
 *
 *     # 定义异步上下文管理器
 *     class AsyncContextManager:
 *         # 进入异步上下文管理器
 *         async def __aenter__(self):
 *             # 报告消息
 *             print('>进入上下文管理器')
 *             # 暂停一段时间
 *             await asyncio.sleep(0.5)
 *
 *         # 退出异步上下文管理器
 *         async def __aexit__(self, exc_type, exc, tb):
 *             # 报告消息
 *             print('>退出上下文管理器')
 *             # 暂停一段时间
 *             await asyncio.sleep(0.5)
 *
 *     # 定义一个简单的协程
 *     async def custom_coroutine():
 *         # 创建并使用异步上下文管理器
 *         async with AsyncContextManager() as manager:
 *             # 输出当前状态
 *             print(f'在上下文管理器内部')
 *
 *     # 启动异步程序
 *     asyncio.run(custom_coroutine())
 *
 * C has no `async with`; the idiom is a guard.  aenter() is an ordinary
 * suspending call; once it succeeded, cio_guard_arm() ties aexit() to the
 * guard declared with CIO_GUARD, so every way out of the block (the end of
 * the scope, an early return, an error) runs aexit(), which may suspend in
 * its turn.  The run takes 0.5 + 0.5 seconds (-s scales them), which shows
 * that both sides were waited for.
 *
 * Usage: async_ctx [-s|--scale FACTOR] [--fail]
 *   -s, --scale FACTOR  multiply every sleep by FACTOR (default 1.0)
 *   --fail              leave the block early with an error: __aexit__ still runs
 */
#include <cio.h>

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static double scale = 1.0;
static bool fail;

/* 定义异步上下文管理器 */
typedef struct async_context_manager {
    int entered;
} async_context_manager;

/* 进入异步上下文管理器: async def __aenter__(self) */
static int aenter(async_context_manager *self)
{
    /* 报告消息 */
    printf(">进入上下文管理器\n");
    /* 暂停一段时间 */
    int rc = cio_sleep(0.5 * scale);
    if (rc == 0)
        self->entered = 1;
    return rc;
}

/* 退出异步上下文管理器: async def __aexit__(self, exc_type, exc, tb); the
 * guard's release function, run when the guard goes out of scope */
static void aexit(void *obj)
{
    async_context_manager *self = obj;
    /* 报告消息 */
    printf(">退出上下文管理器\n");
    /* 暂停一段时间 */
    cio_sleep(0.5 * scale);
    self->entered = 0;
}

/* 定义一个简单的协程: async def custom_coroutine() */
static void *custom_coroutine(void *arg)
{
    (void)arg;
    /* 创建并使用异步上下文管理器: async with AsyncContextManager() as manager: */
    async_context_manager manager = {0};
    {
        CIO_GUARD(g);
        int rc = aenter(&manager);
        if (rc)
            return cio_fail(rc, NULL); /* not entered: nothing to exit */
        cio_guard_arm(&g, &manager, aexit);

        /* 输出当前状态 */
        printf("在上下文管理器内部\n");
        if (fail)
            return cio_fail(-EIO, "failed inside the block"); /* aexit still runs */
    } /* aexit runs here */
    return NULL;
}

static void usage(FILE *out, const char *prog) { fprintf(out, "usage: %s [-s|--scale FACTOR] [--fail]\n", prog); }

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"scale", required_argument, NULL, 's'},
        {"fail", no_argument, NULL, 'f'},
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
        case 'f':
            fail = true;
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
    /* 启动异步程序 */
    int rc = cio_run(custom_coroutine, NULL, NULL);
    if (rc) {
        fprintf(stderr, "%s: %s\n", argv[0], cio_strerror(rc));
        return 1;
    }
    return 0;
}
