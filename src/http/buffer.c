/* Zero-copy reading for the HTTP server: appends to a stream's read buffer
 * without compacting it (see http.h). */
#include "http/http.h"

#include <stdlib.h>
#include <string.h>

#define MIN_CAP (16 * 1024)

int cio__stream_reserve(cio_stream *s, size_t cap)
{
    if (s->rcap >= cap)
        return 0;
    char *nb = realloc(s->rbuf, cap);
    if (!nb)
        return -ENOMEM;
    s->rbuf = nb;
    s->rcap = cap;
    return 0;
}

static ssize_t fill_more(cio_stream *s, size_t max_cap, double deadline)
{
    if (s->rend == s->rcap) {
        if (s->rcap >= max_cap)
            return -ENOBUFS;
        size_t cap = s->rcap ? s->rcap * 2 : MIN_CAP;
        if (cap > max_cap)
            cap = max_cap;
        int rc = cio__stream_reserve(s, cap);
        if (rc < 0)
            return rc;
    }
    ssize_t r = cio__stream_recv(s, s->rbuf + s->rend, s->rcap - s->rend, deadline);
    if (r > 0)
        s->rend += (size_t)r;
    return r;
}

ssize_t cio__stream_fill_more(cio_stream *s, size_t max_cap, double deadline)
{
    if (s->eof)
        return 0;
    /* pinned like every suspending stream call (see stream.c) */
    s->busy++;
    ssize_t r = fill_more(s, max_cap, deadline);
    if (--s->busy == 0 && s->zombie)
        cio__stream_destroy(s);
    return r;
}
