/* SPDX-License-Identifier: MIT */
/* poll(2) back end: the portable fallback (CIO_BACKEND=poll).
 *
 * Keeps a dense pollfd array plus an fd -> slot index; removal swaps the
 * last slot into the hole, so ctl is O(1) and each poll is O(watched fds). */
#include "core/internal.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

typedef struct poll_be {
    struct pollfd *pfd;
    uint32_t *gen;
    size_t n, cap;
    int *slot; /* fd -> index + 1, 0 = absent */
    size_t nslot;
} poll_be;

static int pl_init(cio_loop *l)
{
    poll_be *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    l->be_data = b;
    return 0;
}

static void pl_destroy(cio_loop *l)
{
    poll_be *b = l->be_data;
    if (!b)
        return;
    free(b->pfd);
    free(b->gen);
    free(b->slot);
    free(b);
    l->be_data = NULL;
}

static short to_events(unsigned m) { return (short)((m & CIO_READABLE ? POLLIN : 0) | (m & CIO_WRITABLE ? POLLOUT : 0)); }

static int pl_ctl(cio_loop *l, int fd, uint32_t gen, unsigned old_mask, unsigned new_mask)
{
    (void)old_mask;
    poll_be *b = l->be_data;
    if ((size_t)fd >= b->nslot) {
        size_t n = b->nslot ? b->nslot : 64;
        while (n <= (size_t)fd)
            n *= 2;
        int *s = realloc(b->slot, n * sizeof *s);
        if (!s)
            return -ENOMEM;
        memset(s + b->nslot, 0, (n - b->nslot) * sizeof *s);
        b->slot = s;
        b->nslot = n;
    }
    int idx = b->slot[fd] - 1;
    if (new_mask == 0) {
        if (idx >= 0) {
            size_t last = --b->n;
            if ((size_t)idx != last) {
                b->pfd[idx] = b->pfd[last];
                b->gen[idx] = b->gen[last];
                b->slot[b->pfd[idx].fd] = idx + 1;
            }
            b->slot[fd] = 0;
        }
        return 0;
    }
    if (idx < 0) {
        if (b->n == b->cap) {
            size_t cap = b->cap ? b->cap * 2 : 64;
            struct pollfd *p = realloc(b->pfd, cap * sizeof *p);
            if (!p)
                return -ENOMEM;
            b->pfd = p;
            uint32_t *g = realloc(b->gen, cap * sizeof *g);
            if (!g)
                return -ENOMEM;
            b->gen = g;
            b->cap = cap;
        }
        idx = (int)b->n++;
        b->slot[fd] = idx + 1;
        b->pfd[idx].fd = fd;
    }
    b->pfd[idx].events = to_events(new_mask);
    b->pfd[idx].revents = 0;
    b->gen[idx] = gen;
    return 0;
}

static int pl_poll(cio_loop *l, int timeout_ms)
{
    poll_be *b = l->be_data;
    int n = poll(b->pfd, b->n, timeout_ms);
    if (n <= 0)
        return n < 0 && errno != EINTR ? -errno : 0;
    /* Collect first: callbacks may change the array while we dispatch. */
    struct {
        int fd;
        uint32_t gen;
        unsigned m;
    } evs[256];
    int done = 0;
    for (size_t i = 0; i < b->n && done < n;) {
        int k = 0;
        for (; i < b->n && k < 256; i++) {
            short r = b->pfd[i].revents;
            if (!r)
                continue;
            unsigned m = 0;
            if (r & (POLLIN | POLLPRI))
                m |= CIO_READABLE;
            if (r & POLLOUT)
                m |= CIO_WRITABLE;
            if (r & (POLLERR | POLLHUP | POLLNVAL))
                m |= CIO_READABLE | CIO_WRITABLE;
            b->pfd[i].revents = 0;
            evs[k].fd = b->pfd[i].fd;
            evs[k].gen = b->gen[i];
            evs[k].m = m;
            k++;
        }
        for (int j = 0; j < k; j++)
            cio__io_event(l, evs[j].fd, evs[j].gen, evs[j].m);
        done += k;
        if (k < 256)
            break;
    }
    return n;
}

const cio__backend cio__backend_poll = {.name = "poll", .init = pl_init, .destroy = pl_destroy, .ctl = pl_ctl, .poll = pl_poll};
