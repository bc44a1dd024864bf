/* SPDX-License-Identifier: MIT */
/* epoll back end (the default on Linux).
 *
 * Level-triggered, with the interest set cached by the loop: a registration
 * is changed only when the set of wanted directions changes (see
 * fd_set_interest in core/loop.c), not on every wait.  The event's data word
 * carries the fd and the loop's generation number for it, so an event
 * queued for a file that was closed and whose number was reused within the
 * same iteration is recognised as stale and dropped. */
#include "core/internal.h"

#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAX_EVENTS 256

typedef struct epoll_be {
    int epfd;
    struct epoll_event events[MAX_EVENTS];
} epoll_be;

static int ep_init(cio_loop *l)
{
    epoll_be *b = malloc(sizeof *b);
    if (!b)
        return -ENOMEM;
    b->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (b->epfd < 0) {
        int e = errno;
        free(b);
        return -e;
    }
    l->be_data = b;
    return 0;
}

static void ep_destroy(cio_loop *l)
{
    epoll_be *b = l->be_data;
    if (!b)
        return;
    close(b->epfd);
    free(b);
    l->be_data = NULL;
}

static int ep_ctl(cio_loop *l, int fd, uint32_t gen, unsigned old_mask, unsigned new_mask)
{
    epoll_be *b = l->be_data;
    struct epoll_event ev = {0};
    ev.events = (new_mask & CIO_READABLE ? EPOLLIN | EPOLLRDHUP : 0) | (new_mask & CIO_WRITABLE ? EPOLLOUT : 0);
    ev.data.u64 = (uint64_t)gen << 32 | (uint32_t)fd;
    int op = old_mask == 0 ? EPOLL_CTL_ADD : new_mask == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    int rc = epoll_ctl(b->epfd, op, fd, &ev);
    if (rc < 0 && errno == EEXIST && op == EPOLL_CTL_ADD) /* registered by a previous owner of the number */
        rc = epoll_ctl(b->epfd, EPOLL_CTL_MOD, fd, &ev);
    else if (rc < 0 && errno == ENOENT && op == EPOLL_CTL_MOD)
        rc = epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &ev);
    return rc < 0 ? -errno : 0;
}

static int ep_poll(cio_loop *l, int timeout_ms)
{
    epoll_be *b = l->be_data;
    int n = epoll_wait(b->epfd, b->events, MAX_EVENTS, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        uint32_t e = b->events[i].events;
        unsigned m = 0;
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLPRI))
            m |= CIO_READABLE;
        if (e & EPOLLOUT)
            m |= CIO_WRITABLE;
        if (e & (EPOLLERR | EPOLLHUP))
            m |= CIO_READABLE | CIO_WRITABLE;
        uint64_t d = b->events[i].data.u64;
        cio__io_event(l, (int)(uint32_t)d, (uint32_t)(d >> 32), m);
    }
    return n;
}

const cio__backend cio__backend_epoll = {.name = "epoll", .init = ep_init, .destroy = ep_destroy, .ctl = ep_ctl, .poll = ep_poll};
