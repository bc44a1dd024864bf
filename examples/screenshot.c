/* SPDX-License-Identifier: MIT */
/*
 * screenshot -- the pyppeteer example of the first article (seed 000),
 * ported line by line:
 *
 *     async def main():
 *         browser = await launch()
 *         page = await browser.newPage()
 *         await page.goto('http://example.com')
 *         await page.screenshot({'path': 'example.png'})
 *         await browser.close()
 *
 *     asyncio.run(main())
 *
 * usage: screenshot [URL [FILE]]   (the article's http://example.com and
 * example.png by default).  Drives Debian's chromium headless over the
 * DevTools protocol (cio_browser_*); $CIO_CHROMIUM names another binary.
 * Each await is a call that suspends only this task.  On any error the
 * browser is still closed (killed and reaped, its profile removed) and the
 * program says why and exits 1.
 */
#include <cio.h>

#include <stdio.h>

/* pyppeteer's page.goto timeout: 30 s. */
#define GOTO_TIMEOUT 30.0

struct args {
    const char *url, *path;
};

/* async def main() */
static void *main_task(void *arg)
{
    const struct args *a = arg;
    cio_browser *browser;
    int rc = cio_browser_launch(NULL, &browser); /* browser = await launch() */
    if (rc < 0) {
        fprintf(stderr, "screenshot: launch: %s\n", cio_strerror(rc));
        return cio_fail(rc, NULL);
    }
    cio_page *page;
    if ((rc = cio_browser_new_page(browser, &page)) == 0 &&      /* page = await browser.newPage() */
        (rc = cio_page_goto(page, a->url, GOTO_TIMEOUT)) == 0)    /* await page.goto(url) */
        rc = cio_page_screenshot(page, a->path);                 /* await page.screenshot({'path': path}) */
    if (rc < 0) /* the driver's own account: the URL and Chromium's error, or what timed out */
        fprintf(stderr, "screenshot: %s\n", cio_browser_error(browser));
    int crc = cio_browser_close(browser); /* await browser.close() */
    if (rc == 0)
        rc = crc;
    return rc < 0 ? cio_fail(rc, NULL) : NULL;
}

int main(int argc, char **argv)
{
    if (argc > 3) {
        fprintf(stderr, "usage: %s [URL [FILE]]\n", argv[0]);
        return 2;
    }
    struct args a = {argc > 1 ? argv[1] : "http://example.com", argc > 2 ? argv[2] : "example.png"};
    return cio_run(main_task, &a, NULL) == 0 ? 0 : 1; /* asyncio.run(main()) */
}
