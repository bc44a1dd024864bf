/* SPDX-License-Identifier: MIT */
/* The headless-browser driver's internals, shared by browser.c (process,
 * pipe transport, protocol calls) and page.c (tabs). */
#ifndef CIO_BROWSER_INTERNAL_H
#define CIO_BROWSER_INTERNAL_H

#include "cio.h"
#include "util/list.h"

#include <cjson/cJSON.h>
#include <limits.h>

/* A loaderId is 32 hex digits; room to spare. */
#define CIO__LOADER_ID 64
/* How many recent load events a page remembers: the load of a navigation
 * may arrive before Page.navigate's own answer. */
#define CIO__RECENT_LOADS 4

struct cio_browser {
    cio_process *proc;
    cio_stream *in;       /* the browser's fd 3: we write commands */
    cio_stream *out;      /* its fd 4: the reader task reads messages */
    cio_task *reader;
    int next_id;
    int dead;             /* 0, or why every call now fails (-EPIPE...) */
    double timeout;       /* per command; CIO_NO_TIMEOUT for none */
    size_t max_message;
    cio__link pending;    /* struct cio__cdp_wait: commands awaiting their answer */
    cio__link pages;      /* cio_page: open tabs */
    char err[512];
    char dir[PATH_MAX];   /* temporary: profile/ and tmp/ */
};

struct cio_page {
    cio_browser *b;
    cio__link link;       /* in b->pages */
    char *target_id;
    char *session_id;
    int dead;             /* 0, or CIO_EBROWSER once crashed or detached */
    struct cio__cdp_wait *nav; /* goto waiting for the load of nav_loader */
    char nav_loader[CIO__LOADER_ID];
    char loads[CIO__RECENT_LOADS][CIO__LOADER_ID];
    unsigned nloads;
};

/* One task's wait: for a command's answer (id > 0) or a page's load. */
struct cio__cdp_wait {
    cio__link link;
    int id;
    cio_future *f;
    cJSON *msg;           /* the answer, owned by the waiter once delivered */
    int err;              /* or why there will be none */
};

/* Sends method(params) (params consumed, may be NULL) to the browser, or to
 * the page of session when not NULL, and waits for the answer for up to
 * timeout seconds.  0 with *result (may be NULL to ignore; cJSON_Delete it) the
 * answer's "result"; a negative code, with b->err set, otherwise. */
int cio__cdp_call(cio_browser *b, const char *session, const char *method, cJSON *params, double timeout,
                  cJSON **result);

/* Waits on w (registered by the caller) for up to timeout; unregisters it.
 * Returns 0 or the error, recording it in b->err. */
int cio__cdp_wait(cio_browser *b, struct cio__cdp_wait *w, double timeout);

/* Wakes w with err (0: its msg is set). */
void cio__cdp_wake(struct cio__cdp_wait *w, int err);

/* Records an error's text for cio_browser_error(); returns err. */
int cio__browser_fail(cio_browser *b, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The live (not zombie) processes in process group pgid, from /proc, or
 * -errno. */
int cio__proc_group_live(pid_t pgid);

/* page.c: an event for a page's session (the reader task calls it). */
void cio__page_event(cio_page *p, const char *method, const cJSON *params);
/* page.c: the browser died: fail the page's waits with err. */
void cio__page_fail(cio_page *p, int err);
/* page.c: frees a page without talking to the browser. */
void cio__page_free(cio_page *p);

#endif
