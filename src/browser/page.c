/* SPDX-License-Identifier: MIT */
/* Tabs of the headless browser (pyppeteer's Page): one DevTools session
 * each (Target.attachToTarget with flatten: the page's commands and events
 * carry its sessionId on the browser's pipe). */
#include "browser/browser.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* pyppeteer's default viewport. */
#define VIEW_W 800
#define VIEW_H 600
#define VIEW_MAX 16384

void cio__page_free(cio_page *p)
{
    cio__list_remove(&p->link);
    free(p->target_id);
    free(p->session_id);
    free(p);
}

void cio__page_fail(cio_page *p, int err)
{
    if (p->nav) {
        cio__cdp_wake(p->nav, err);
        p->nav = NULL;
    }
}

static const char *str_of(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The load of a navigation: Page.lifecycleEvent "load" carries the
 * navigation's loaderId (Page.loadEventFired, the same moment, does not, so
 * a late load of an earlier navigation could not be told apart). */
static void on_load(cio_page *p, const char *loader)
{
    snprintf(p->loads[p->nloads++ % CIO__RECENT_LOADS], CIO__LOADER_ID, "%s", loader);
    if (p->nav && !strcmp(p->nav_loader, loader)) {
        cio__cdp_wake(p->nav, 0);
        p->nav = NULL;
    }
}

void cio__page_event(cio_page *p, const char *method, const cJSON *params)
{
    if (!strcmp(method, "Page.lifecycleEvent")) {
        const char *name = str_of(params, "name"), *loader = str_of(params, "loaderId");
        if (name && loader && !strcmp(name, "load"))
            on_load(p, loader);
    } else if (!strcmp(method, "Inspector.targetCrashed") || !strcmp(method, "Target.detachedFromTarget")) {
        p->dead = cio__browser_fail(p->b, CIO_EBROWSER, "the page %s",
                                    method[0] == 'I' ? "crashed" : "was closed by the browser");
        cio__page_fail(p, p->dead);
    }
}

/* A call on the page's session with the browser's timeout. */
static int page_call(cio_page *p, const char *method, cJSON *params, cJSON **result)
{
    if (p->dead) {
        cJSON_Delete(params);
        return p->dead;
    }
    return cio__cdp_call(p->b, p->session_id, method, params, p->b->timeout, result);
}

int cio_page_set_viewport(cio_page *p, int width, int height)
{
    if (width < 1 || height < 1 || width > VIEW_MAX || height > VIEW_MAX)
        return -EINVAL;
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "width", width);
    cJSON_AddNumberToObject(a, "height", height);
    cJSON_AddNumberToObject(a, "deviceScaleFactor", 1);
    cJSON_AddBoolToObject(a, "mobile", false);
    return page_call(p, "Emulation.setDeviceMetricsOverride", a, NULL);
}

/* A browser-level call whose answer's string field name is wanted: 0 with
 * *out (malloc'd), or an error. */
static int call_for_string(cio_browser *b, const char *method, cJSON *params, const char *name, char **out)
{
    cJSON *res;
    int rc = cio__cdp_call(b, NULL, method, params, b->timeout, &res);
    if (rc < 0)
        return rc;
    const char *v = str_of(res, name);
    *out = v ? strdup(v) : NULL;
    cJSON_Delete(res);
    if (!*out)
        return v ? -ENOMEM : cio__browser_fail(b, CIO_EBROWSER, "%s: no %s in the answer", method, name);
    return 0;
}

/* Target.createTarget then attach: the page's target and session ids. */
static int open_target(cio_browser *b, cio_page *p)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "url", "about:blank");
    int rc = call_for_string(b, "Target.createTarget", a, "targetId", &p->target_id);
    if (rc < 0)
        return rc;
    a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "targetId", p->target_id);
    cJSON_AddBoolToObject(a, "flatten", true);
    return call_for_string(b, "Target.attachToTarget", a, "sessionId", &p->session_id);
}

int cio_browser_new_page(cio_browser *b, cio_page **out)
{
    if (!b || !out)
        return -EINVAL;
    *out = NULL;
    cio_page *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->b = b;
    cio__list_init(&p->link);
    cio__list_push_back(&b->pages, &p->link);
    int rc = open_target(b, p);
    if (rc == 0)
        rc = page_call(p, "Page.enable", NULL, NULL);
    if (rc == 0) /* for Inspector.targetCrashed */
        rc = page_call(p, "Inspector.enable", NULL, NULL);
    if (rc == 0) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddBoolToObject(a, "enabled", true);
        rc = page_call(p, "Page.setLifecycleEventsEnabled", a, NULL);
    }
    if (rc == 0)
        rc = cio_page_set_viewport(p, VIEW_W, VIEW_H);
    if (rc < 0) {
        if (p->target_id)
            cio_page_close(p); /* a tab half set up is closed, not leaked */
        else
            cio__page_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

/* Page.navigate's errorText ("net::ERR_CONNECTION_REFUSED") as a code. */
static int nav_error(cio_page *p, const char *url, const char *text)
{
    static const struct {
        const char *text;
        int code;
    } map[] = {
        {"net::ERR_CONNECTION_REFUSED", -ECONNREFUSED},
        {"net::ERR_NAME_NOT_RESOLVED", CIO_EDNS},
        {"net::ERR_CONNECTION_TIMED_OUT", -ETIMEDOUT},
        {"net::ERR_TIMED_OUT", -ETIMEDOUT},
    };
    int code = CIO_EBROWSER;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(text, map[i].text))
            code = map[i].code;
    return cio__browser_fail(p->b, code, "%s: %s", url, text);
}

/* Waits for the load of loader, unless it came already. */
static int wait_load(cio_page *p, const char *url, const char *loader, double timeout)
{
    for (unsigned i = 0; i < CIO__RECENT_LOADS; i++)
        if (!strcmp(p->loads[i], loader))
            return 0;
    if (p->nav) /* another task's goto on this page: it is replaced */
        cio__page_fail(p, cio__browser_fail(p->b, CIO_EBROWSER, "replaced by another navigation"));
    struct cio__cdp_wait w = {0};
    cio__list_init(&w.link);
    if (!(w.f = cio_future_new(NULL)))
        return -errno;
    snprintf(p->nav_loader, sizeof p->nav_loader, "%s", loader);
    p->nav = &w;
    int rc = cio__cdp_wait(p->b, &w, timeout);
    if (p->nav == &w)
        p->nav = NULL;
    if (rc == -ETIMEDOUT)
        cio__browser_fail(p->b, rc, "%s: no load event in time", url);
    return rc;
}

/* After a goto that timed out or was cancelled: stops the page loading,
 * and waits (at most STOP_GRACE) for Chrome's answer, so that the stop is
 * done before the page's next navigation starts; a stop still on its way
 * could abort that one instead (seen as net::ERR_ABORTED).  The goto's
 * error text is kept. */
#define STOP_GRACE 5.0
static void stop_loading(cio_page *p)
{
    char err[sizeof p->b->err];
    memcpy(err, p->b->err, sizeof err);
    cio__cdp_call(p->b, p->session_id, "Page.stopLoading", NULL, STOP_GRACE, NULL);
    memcpy(p->b->err, err, sizeof err);
}

int cio_page_goto(cio_page *p, const char *url, double timeout)
{
    if (!p || !url)
        return -EINVAL;
    if (p->dead)
        return p->dead;
    double deadline = cio_time() + timeout;
    cJSON *res, *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "url", url);
    int rc = cio__cdp_call(p->b, p->session_id, "Page.navigate", a, timeout, &res);
    if (rc == 0) {
        const char *err = str_of(res, "errorText"), *loader = str_of(res, "loaderId");
        if (err && *err)
            rc = nav_error(p, url, err);
        else if (loader) /* none: a same-document navigation, done at once */
            rc = wait_load(p, url, loader, deadline - cio_time());
        cJSON_Delete(res);
    }
    if (rc == -ETIMEDOUT || rc == -ECANCELED)
        stop_loading(p);
    return rc;
}

/* Decodes base64 (OpenSSL's EVP_DecodeBlock counts the padding as zero
 * bytes: they are taken off).  *out malloc'd. */
static int base64_decode(const char *text, unsigned char **out, size_t *len)
{
    size_t n = strlen(text);
    if (n % 4 || n > INT_MAX)
        return -EINVAL;
    unsigned char *buf = malloc(n / 4 * 3 + 1);
    if (!buf)
        return -ENOMEM;
    int k = EVP_DecodeBlock(buf, (const unsigned char *)text, (int)n);
    if (k < 0) {
        free(buf);
        return -EINVAL;
    }
    for (size_t i = n; i > 0 && text[i - 1] == '=' && k > 0; i--)
        k--;
    *out = buf;
    *len = (size_t)k;
    return 0;
}

int cio_page_screenshot(cio_page *p, const char *path)
{
    if (!p || !path)
        return -EINVAL;
    /* a tab in the background draws no frames, and the capture would wait
     * for one: to the front first, as puppeteer does */
    int rc = page_call(p, "Page.bringToFront", NULL, NULL);
    if (rc < 0)
        return rc;
    cJSON *res, *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "format", "png");
    rc = page_call(p, "Page.captureScreenshot", a, &res);
    if (rc < 0)
        return rc;
    const char *data = str_of(res, "data");
    unsigned char *png = NULL;
    size_t len = 0;
    rc = data ? base64_decode(data, &png, &len) : -EINVAL;
    cJSON_Delete(res);
    if (rc == -EINVAL)
        return cio__browser_fail(p->b, CIO_EBROWSER, "Page.captureScreenshot: no image (bad base64)");
    if (rc == 0 && (rc = cio_file_write_all(path, png, len)) < 0)
        cio__browser_fail(p->b, rc, "%s: %s", path, cio_strerror(rc));
    free(png);
    return rc;
}

/* Runtime.evaluate's answer: {"result": {"type":..., "value":...}} or
 * {"exceptionDetails": {"text":..., "exception": {"description":...}}}. */
static int eval_result(cio_page *p, const cJSON *res, char **json)
{
    const cJSON *exc = cJSON_GetObjectItemCaseSensitive(res, "exceptionDetails");
    if (exc) {
        const char *d = str_of(cJSON_GetObjectItemCaseSensitive(exc, "exception"), "description");
        return cio__browser_fail(p->b, CIO_EBROWSER, "%s", d ? d : str_of(exc, "text") ? str_of(exc, "text")
                                                                                       : "exception");
    }
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(res, "result");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, "value");
    const char *type = str_of(r, "type"), *unser = str_of(r, "unserializableValue");
    if (unser) /* NaN, Infinity, -0, 12n: JSON has no spelling for them */
        return cio__browser_fail(p->b, CIO_EBROWSER, "not JSON-serialisable: %s", unser);
    if (v)
        *json = cJSON_PrintUnformatted(v);
    else if (type && !strcmp(type, "undefined"))
        *json = strdup("null");
    else
        return cio__browser_fail(p->b, CIO_EBROWSER, "no value returned (type %s)", type ? type : "?");
    return *json ? 0 : -ENOMEM;
}

int cio_page_evaluate(cio_page *p, const char *expression, char **json)
{
    if (!p || !expression || !json)
        return -EINVAL;
    *json = NULL;
    cJSON *res, *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "expression", expression);
    cJSON_AddBoolToObject(a, "returnByValue", true);
    cJSON_AddBoolToObject(a, "awaitPromise", true);
    int rc = page_call(p, "Runtime.evaluate", a, &res);
    if (rc < 0)
        return rc;
    rc = eval_result(p, res, json);
    cJSON_Delete(res);
    return rc;
}

int cio_page_close(cio_page *p)
{
    if (!p)
        return 0;
    cio_browser *b = p->b;
    cio__list_remove(&p->link); /* its events are dropped from now on */
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "targetId", p->target_id);
    int rc = cio__cdp_call(b, NULL, "Target.closeTarget", a, b->timeout, NULL);
    cio__page_free(p);
    return rc;
}
