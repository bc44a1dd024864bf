/* SPDX-License-Identifier: MIT */
/* HTTP client (aiohttp.ClientSession / httpx.AsyncClient) on libcurl's
 * multi-socket interface, driven by the cio loop.
 *
 * A session is one CURLM: its connection cache is the pool (keep-alive,
 * per-host and total limits), and libcurl brings HTTP/2, TLS verification,
 * redirects, proxies, cookies and decompression.  libcurl tells us which
 * sockets to watch (CURLMOPT_SOCKETFUNCTION: registered as loop
 * readers/writers) and when to call it back (CURLMOPT_TIMERFUNCTION: one
 * loop timer); each request suspends only its own task until its transfer
 * is done (or, in streaming mode, until the response head has arrived).
 * Cancelling the task removes the transfer from the multi handle at once.
 * Sockets are closed through us (CURLOPT_CLOSESOCKETFUNCTION) so the loop
 * forgets them before their fd numbers can be reused. */
#include "core/internal.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define STREAM_HIGH (256 * 1024) /* buffered body bytes before the transfer is paused */

struct cio_http_session {
    CURLM *multi;
    cio_loop *loop;
    cio_handle *timer;
    cio_http_session_opts opts;
    char *ca_file, *user_agent;
    size_t inflight;
    bool in_action; /* inside curl_multi_socket_action: defer re-entry */
};

typedef struct hsock {
    cio_http_session *s;
    curl_socket_t fd;
} hsock;

struct cio_http_client_response {
    CURL *easy;
    cio_http_session *sess;
    struct curl_slist *req_headers;
    int status;
    char **hdr; /* "Name: value" of the final response */
    size_t nhdr, caphdr;
    char *body;
    size_t blen, bcap, bpos; /* bpos: streaming read position */
    size_t total, max_body;  /* decompressed body bytes taken so far, and their limit */
    bool streaming, head_done, done, paused, in_multi;
    bool too_big;            /* the body went past max_body: the transfer was aborted */
    int result;       /* 0 or a cio error once done */
    cio__task *waiter; /* parked in request or read */
    cio__wait w;
    char *url;
    bool follow;         /* redirects are followed */
    cio_handle *rtimer;  /* timeout_read */
    double readt;        /* timeout_read, seconds (0: none) */
    double last_rx;      /* loop time of the last progress of the transfer */
    curl_off_t last_dl, last_ul;
    char reason[64]; /* reason phrase of the final status line */
    char err[CURL_ERROR_SIZE];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_global(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* ---- loop glue ---------------------------------------------------------- */

static void check_done(cio_http_session *s);

static void wake(cio_http_client_response *r)
{
    if (r->waiter) {
        cio__task *t = r->waiter;
        r->waiter = NULL;
        cio__wake(t, 0);
    }
}

static void stop_read_timer(cio_http_client_response *r)
{
    if (r->rtimer) {
        cio_handle_cancel(r->rtimer);
        r->rtimer = NULL;
    }
}

static void set_url(cio_http_client_response *r)
{
    char *eff = NULL;
    if (curl_easy_getinfo(r->easy, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff) {
        free(r->url);
        r->url = strdup(eff);
    }
}

static void action(cio_http_session *s, curl_socket_t fd, int ev)
{
    int running;
    s->in_action = true;
    curl_multi_socket_action(s->multi, fd, ev, &running);
    s->in_action = false;
    check_done(s);
}

static void on_timer(void *arg)
{
    cio_http_session *s = arg;
    cio_handle_release(s->timer);
    s->timer = NULL;
    action(s, CURL_SOCKET_TIMEOUT, 0);
}

static int timer_cb(CURLM *m, long ms, void *arg)
{
    (void)m;
    cio_http_session *s = arg;
    if (s->timer) {
        cio_handle_cancel(s->timer);
        s->timer = NULL;
    }
    if (ms >= 0)
        cio_call_later(s->loop, (double)ms / 1000.0, on_timer, s, &s->timer);
    return 0;
}

static void on_in(void *arg)
{
    hsock *h = arg;
    action(h->s, h->fd, CURL_CSELECT_IN);
}

static void on_out(void *arg)
{
    hsock *h = arg;
    action(h->s, h->fd, CURL_CSELECT_OUT);
}

static int socket_cb(CURL *e, curl_socket_t fd, int what, void *arg, void *sockp)
{
    (void)e;
    cio_http_session *s = arg;
    hsock *h = sockp;
    if (what == CURL_POLL_REMOVE) {
        cio_remove_reader(s->loop, fd);
        cio_remove_writer(s->loop, fd);
        free(h);
        curl_multi_assign(s->multi, fd, NULL);
        return 0;
    }
    if (!h) {
        if (!(h = malloc(sizeof *h)))
            return -1;
        h->s = s;
        h->fd = fd;
        curl_multi_assign(s->multi, fd, h);
    }
    if (what & CURL_POLL_IN)
        cio_add_reader(s->loop, fd, on_in, h);
    else
        cio_remove_reader(s->loop, fd);
    if (what & CURL_POLL_OUT)
        cio_add_writer(s->loop, fd, on_out, h);
    else
        cio_remove_writer(s->loop, fd);
    return 0;
}

static int close_cb(void *arg, curl_socket_t fd)
{
    cio_http_session *s = arg;
    cio_fd_forget(s->loop, fd);
    return close(fd);
}

static int map_curl(CURLcode c, const char *msg, long os_errno)
{
    switch (c) {
    case CURLE_OK:
        return 0;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return CIO_EDNS;
    case CURLE_COULDNT_CONNECT:
        return os_errno ? -(int)os_errno : -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_PEER_FAILED_VERIFICATION:
        if (strstr(msg, "expired") || strstr(msg, "not yet valid"))
            return CIO_ECERTEXPIRED;
        if (strstr(msg, "match") || strstr(msg, "hostname"))
            return CIO_ECERTHOSTNAME;
        return CIO_ECERTUNTRUSTED;
    case CURLE_SSL_CONNECT_ERROR:
        if (strstr(msg, "expired"))
            return CIO_ECERTEXPIRED;
        if (strstr(msg, "self-signed") || strstr(msg, "self signed") || strstr(msg, "unable to get local issuer"))
            return CIO_ECERTUNTRUSTED;
        return CIO_ETLS;
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        return CIO_ETLS;
    case CURLE_TOO_MANY_REDIRECTS:
        return CIO_EHTTPREDIRECTS;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    case CURLE_GOT_NOTHING:
        return os_errno ? -(int)os_errno : -ECONNRESET;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR: /* without an errno: the response broke the protocol (a bad chunk) */
        return os_errno ? -(int)os_errno : CIO_EHTTP;
    case CURLE_UNSUPPORTED_PROTOCOL: /* also "Received HTTP/0.9": a response without a status line */
        return strstr(msg, "HTTP/0.9") ? CIO_EHTTP : -EINVAL;
    case CURLE_URL_MALFORMAT:
        return -EINVAL;
    default:
        return CIO_EHTTP;
    }
}

static void check_done(cio_http_session *s)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(s->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        cio_http_client_response *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (!r)
            continue;
        long oserr = 0;
        curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &oserr);
        r->result = r->too_big ? -EFBIG : map_curl(m->data.result, r->err, oserr);
        curl_off_t connected = 0;
        if (r->result == -ENOMEM && !r->head_done &&
            curl_easy_getinfo(r->easy, CURLINFO_CONNECT_TIME_T, &connected) == CURLE_OK && connected > 0)
            r->result = CIO_EHTTP; /* libcurl refusing a header line over 100 KiB says "out of memory" */
        long code = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
        r->status = (int)code;
        set_url(r);
        stop_read_timer(r);
        curl_multi_remove_handle(s->multi, r->easy);
        r->in_multi = false;
        s->inflight--;
        r->done = true;
        r->head_done = true;
        wake(r);
    }
}

/* ---- transfer callbacks ------------------------------------------------- */

/* Body bytes, already decompressed by libcurl: the max_body check is here
 * (CURLOPT_MAXFILESIZE only sees the wire size).  Of a body that goes past
 * the limit, the bytes up to it are kept (a streaming reader gets them
 * before -EFBIG) and the transfer is aborted (a short count is
 * CURLE_WRITE_ERROR to libcurl). */
static size_t write_cb(char *data, size_t sz, size_t nm, void *arg)
{
    cio_http_client_response *r = arg;
    size_t n = sz * nm, take = n;
    r->last_rx = cio_loop_time(r->sess->loop);
    if (r->streaming && r->blen - r->bpos > STREAM_HIGH) {
        r->paused = true;
        return CURL_WRITEFUNC_PAUSE; /* the reader unpauses */
    }
    if (n > r->max_body - r->total) {
        r->too_big = true;
        take = r->max_body - r->total;
    }
    r->total += take;
    if (r->streaming && r->bpos == r->blen)
        r->bpos = r->blen = 0;
    if (r->bcap - r->blen < take + 1) {
        size_t cap = r->bcap ? r->bcap : 16 * 1024;
        while (cap - r->blen < take + 1)
            cap *= 2;
        if (!r->streaming && r->max_body < SIZE_MAX && cap > r->max_body + 1)
            cap = r->max_body + 1; /* blen + take <= max_body: a body at the limit takes no more */
        char *nb = realloc(r->body, cap);
        if (!nb)
            return 0; /* CURLE_WRITE_ERROR */
        r->body = nb;
        r->bcap = cap;
    }
    memcpy(r->body + r->blen, data, take);
    r->blen += take;
    r->body[r->blen] = 0;
    if (!r->head_done) {
        r->head_done = true;
        long code = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
        r->status = (int)code;
        set_url(r);
    }
    wake(r);
    return take;
}

/* Whether the response whose head just ended is an interim one: 1xx, or a
 * redirect that libcurl is about to follow. */
static bool interim(cio_http_client_response *r, long code)
{
    if (code < 200)
        return true;
    if (!r->follow || !(code == 300 || code == 301 || code == 302 || code == 303 || code == 307 || code == 308))
        return false;
    for (size_t i = 0; i < r->nhdr; i++)
        if (strncasecmp(r->hdr[i], "Location:", 9) == 0)
            return true;
    return false;
}

static void clear_headers(cio_http_client_response *r)
{
    for (size_t i = 0; i < r->nhdr; i++)
        free(r->hdr[i]);
    r->nhdr = 0;
}

static size_t header_cb(char *data, size_t sz, size_t nm, void *arg)
{
    cio_http_client_response *r = arg;
    size_t n = sz * nm;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        clear_headers(r); /* a new response of a redirect chain (or 100 Continue) */
        /* "HTTP/1.1 404 Not Found": keep the reason phrase (HTTP/2 has none) */
        const char *p = memchr(data, ' ', n);
        p = p ? memchr(p + 1, ' ', n - (size_t)(p + 1 - data)) : NULL;
        size_t k = 0;
        if (p)
            for (p++; p < data + n && *p != '\r' && *p != '\n' && k + 1 < sizeof r->reason; p++)
                r->reason[k++] = *p;
        r->reason[k] = 0;
        return n;
    }
    r->last_rx = cio_loop_time(r->sess->loop);
    size_t len = n;
    while (len && (data[len - 1] == '\r' || data[len - 1] == '\n'))
        len--;
    if (len == 0) {
        /* the end of a head: in streaming mode the request returns now if
         * this is the final response (not only once body bytes arrive) */
        long code = 0;
        if (r->streaming && !r->head_done && curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
            !interim(r, code)) {
            r->head_done = true;
            r->status = (int)code;
            set_url(r);
            wake(r);
        }
        return n;
    }
    if (r->nhdr == r->caphdr) {
        size_t cap = r->caphdr ? 2 * r->caphdr : 16;
        char **nh = realloc(r->hdr, cap * sizeof *nh);
        if (!nh)
            return 0;
        r->hdr = nh;
        r->caphdr = cap;
    }
    char *h = strndup(data, len);
    if (!h)
        return 0;
    r->hdr[r->nhdr++] = h;
    return n;
}

/* ---- sessions ----------------------------------------------------------- */

cio_http_session *cio_http_session_new(const cio_http_session_opts *opts)
{
    cio_loop *l = cio_loop_current();
    if (!l) {
        errno = -CIO_ENOLOOP;
        return NULL;
    }
    pthread_once(&curl_once, curl_global);
    if (curl_init_rc != CURLE_OK) {
        errno = ENOSYS;
        return NULL;
    }
    cio_http_session *s = calloc(1, sizeof *s);
    if (!s || !(s->multi = curl_multi_init())) {
        free(s);
        errno = ENOMEM;
        return NULL;
    }
    s->loop = l;
    if (opts)
        s->opts = *opts;
    if (s->opts.ca_file)
        s->ca_file = strdup(s->opts.ca_file);
    if (s->opts.user_agent)
        s->user_agent = strdup(s->opts.user_agent);
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s);
    curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS, s->opts.limit_per_host > 0 ? s->opts.limit_per_host : 0L);
    curl_multi_setopt(s->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, s->opts.limit > 0 ? s->opts.limit : 100L);
    curl_multi_setopt(s->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    return s;
}

void cio_http_session_free(cio_http_session *s)
{
    if (!s)
        return;
    if (s->timer)
        cio_handle_cancel(s->timer);
    curl_multi_cleanup(s->multi); /* closes pooled connections through close_cb */
    free(s->ca_file);
    free(s->user_agent);
    free(s);
}

/* ---- requests ----------------------------------------------------------- */

void cio_http_client_response_free(cio_http_client_response *r)
{
    if (!r)
        return;
    stop_read_timer(r);
    if (r->in_multi) {
        curl_multi_remove_handle(r->sess->multi, r->easy);
        r->sess->inflight--;
    }
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->req_headers);
    clear_headers(r);
    free(r->hdr);
    free(r->body);
    free(r->url);
    free(r);
}

static bool resp_cancel(cio__wait *w)
{
    cio_http_client_response *r = CIO__CONTAINER_OF(w, cio_http_client_response, w);
    stop_read_timer(r);
    /* remove the transfer now: libcurl keeps or closes the connection */
    if (r->in_multi) {
        curl_multi_remove_handle(r->sess->multi, r->easy);
        r->in_multi = false;
        r->sess->inflight--;
    }
    r->waiter = NULL;
    r->done = true;
    r->result = -ECANCELED;
    cio__wake(w->task, -ECANCELED);
    return true;
}

static int park(cio_http_client_response *r, const char *what)
{
    cio__task *t;
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    r->w.what = what;
    r->w.cancel = resp_cancel;
    r->w.droppable = true;
    r->waiter = t;
    rc = cio__park(&r->w);
    r->waiter = NULL;
    return rc;
}

static long ms(double secs) { return secs > 0 ? (long)(secs * 1000 + 0.5) : 0; }

/* timeout_read: the transfer made no progress (no byte in, nor out while
 * uploading) for readt seconds.  libcurl's LOW_SPEED_* options cannot say
 * this: they average over several seconds, so bytes that arrived just
 * before a stall keep the speed up for that long.  Time spent paused
 * because our own reader is slow does not count. */
static void read_timer(void *arg)
{
    cio_http_client_response *r = arg;
    cio_handle_release(r->rtimer);
    r->rtimer = NULL;
    if (r->done || !r->in_multi)
        return;
    double now = cio_loop_time(r->sess->loop);
    if (r->paused)
        r->last_rx = now;
    double idle = now - r->last_rx;
    if (idle < r->readt) {
        cio_call_later(r->sess->loop, r->readt - idle, read_timer, r, &r->rtimer);
        return;
    }
    curl_multi_remove_handle(r->sess->multi, r->easy);
    r->in_multi = false;
    r->sess->inflight--;
    r->done = true;
    r->head_done = true;
    r->result = -ETIMEDOUT;
    wake(r);
}

static int xfer_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal;
    (void)ultotal;
    cio_http_client_response *r = arg;
    if (dlnow != r->last_dl || ulnow != r->last_ul) {
        r->last_dl = dlnow;
        r->last_ul = ulnow;
        r->last_rx = cio_loop_time(r->sess->loop);
    }
    return 0;
}

int cio_http_session_request(cio_http_session *s, const char *method, const char *url,
                             const cio_http_client_request_opts *o, cio_http_client_response **out)
{
    *out = NULL;
    if (!s || !url)
        return -EINVAL;
    cio__task *t;
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    cio_http_client_response *r = calloc(1, sizeof *r);
    if (!r || !(r->easy = curl_easy_init())) {
        free(r);
        return -ENOMEM;
    }
    r->sess = s;
    r->streaming = o && o->stream;
    r->max_body = o && o->max_body ? o->max_body : s->opts.max_body;
    if (!r->max_body)
        r->max_body = r->streaming ? SIZE_MAX : CIO_HTTP_MAX_BODY;
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->err);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_cb);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, s);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* every decompression libcurl has */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    int maxredir = s->opts.max_redirects ? s->opts.max_redirects : 10;
    if (o && o->max_redirects)
        maxredir = o->max_redirects;
    r->follow = maxredir > 0;
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, maxredir > 0 ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)(maxredir > 0 ? maxredir : 0));
    double total = o && o->timeout_total > 0 ? o->timeout_total : s->opts.timeout_total;
    double connect = o && o->timeout_connect > 0 ? o->timeout_connect : s->opts.timeout_connect;
    double readt = o && o->timeout_read > 0 ? o->timeout_read : s->opts.timeout_read;
    if (total > 0 && !r->streaming)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms(total));
    if (connect > 0)
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms(connect));
    if (readt > 0) { /* no byte for readt seconds: read_timer */
        r->readt = readt;
        curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, xfer_cb);
        curl_easy_setopt(e, CURLOPT_XFERINFODATA, r);
        curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    }
    if (s->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, s->ca_file);
    if (s->opts.insecure_no_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_easy_setopt(e, CURLOPT_USERAGENT, s->user_agent ? s->user_agent : "cio/0.1");
    if (method && strcmp(method, "GET") != 0) {
        if (strcmp(method, "HEAD") == 0)
            curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        else
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    if (o && o->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
        if (!r->streaming) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, o->body); /* borrowed until the call returns */
        } else if (curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, o->body) != CURLE_OK) {
            /* streaming returns with the head, perhaps before the upload is
             * over (the server answered early): libcurl keeps a copy */
            cio_http_client_response_free(r);
            return -ENOMEM;
        }
        if (!method)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "POST");
    }
    if (o && o->headers)
        for (const char *const *h = o->headers; *h; h++) {
            struct curl_slist *nl = curl_slist_append(r->req_headers, *h);
            if (!nl) {
                cio_http_client_response_free(r);
                return -ENOMEM;
            }
            r->req_headers = nl;
        }
    if (r->req_headers)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->req_headers);
    if (curl_multi_add_handle(s->multi, e) != CURLM_OK) {
        cio_http_client_response_free(r);
        return -ENOMEM;
    }
    r->in_multi = true;
    s->inflight++;
    if (r->readt > 0) {
        r->last_rx = cio_loop_time(s->loop);
        cio_call_later(s->loop, r->readt, read_timer, r, &r->rtimer);
    }
    while (!(r->done || (r->streaming && r->head_done))) {
        rc = park(r, "http request");
        if (rc < 0) {
            cio_http_client_response_free(r);
            return rc;
        }
    }
    if (r->done && r->result < 0) {
        rc = r->result;
        cio_http_client_response_free(r);
        return rc;
    }
    *out = r;
    bool raise = (o && o->raise_for_status) || s->opts.raise_for_status;
    if (raise && r->status >= 400)
        return CIO_EHTTPSTATUS;
    return 0;
}

int cio_http_get(cio_http_session *s, const char *url, cio_http_client_response **out)
{
    return cio_http_session_request(s, "GET", url, NULL, out);
}

int cio_http_client_response_status(const cio_http_client_response *r) { return r->status; }
const char *cio_http_client_response_reason(const cio_http_client_response *r) { return r->reason; }
const char *cio_http_client_response_url(const cio_http_client_response *r) { return r->url; }

const char *cio_http_client_response_header(const cio_http_client_response *r, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < r->nhdr; i++) {
        const char *h = r->hdr[i];
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            h += nl + 1;
            while (*h == ' ' || *h == '\t')
                h++;
            return h;
        }
    }
    return NULL;
}

size_t cio_http_client_response_nheaders(const cio_http_client_response *r) { return r->nhdr; }
const char *cio_http_client_response_header_at(const cio_http_client_response *r, size_t i)
{
    return i < r->nhdr ? r->hdr[i] : NULL;
}

const char *cio_http_client_response_body(const cio_http_client_response *r, size_t *len)
{
    if (len)
        *len = r->streaming ? 0 : r->blen;
    if (r->streaming)
        return NULL;
    return r->body ? r->body : "";
}

ssize_t cio_http_client_response_read(cio_http_client_response *r, void *buf, size_t n)
{
    if (!r->streaming)
        return -EINVAL;
    for (;;) {
        if (r->bpos < r->blen) {
            size_t k = r->blen - r->bpos < n ? r->blen - r->bpos : n;
            memcpy(buf, r->body + r->bpos, k);
            r->bpos += k;
            if (r->paused && r->blen - r->bpos <= STREAM_HIGH / 2) {
                r->paused = false;
                r->last_rx = cio_loop_time(r->sess->loop);
                curl_easy_pause(r->easy, CURLPAUSE_CONT);
            }
            return (ssize_t)k;
        }
        if (r->paused) {
            r->paused = false;
            r->last_rx = cio_loop_time(r->sess->loop);
            curl_easy_pause(r->easy, CURLPAUSE_CONT);
            continue;
        }
        if (r->done)
            return r->result < 0 ? r->result : 0;
        int rc = park(r, "http body");
        if (rc < 0)
            return rc;
    }
}
