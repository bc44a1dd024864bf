/* SPDX-License-Identifier: MIT */
/* Completion operations: what the modules above the loop (net/, fs/) hand
 * whole to a back end that has them (the back-end interface itself, struct
 * cio__backend, is in core/internal.h). */
#ifndef CIO_BACKEND_BACKEND_H
#define CIO_BACKEND_BACKEND_H

#include "core/internal.h"

#include <sys/socket.h>

/* ---- completion operations ---------------------------------------------- */

/* An operation handed whole to the kernel, which does the attempt and the
 * waiting, instead of a readiness wait followed by the system call.  A
 * caller fills in the request and submits it (cio__op_run, cio__op_start);
 * a back end without completions (epoll, poll), or without this kind,
 * answers -EOPNOTSUPP and the caller takes its readiness path (or the
 * executor, for files).  Closing the fd of a socket operation (cio_fd_forget)
 * cancels it: it then ends with -EBADF, as a readiness wait would.  File
 * operations are not tied to their fd that way. */
typedef enum cio__op_kind {
    CIO__OP_RECV,    /* fd, buf, len, flags (MSG_*) */
    CIO__OP_SEND,    /* fd, buf, len, flags */
    CIO__OP_ACCEPT,  /* fd, addr, addrlen (may be NULL), flags (SOCK_*); CIO__OPF_MULTISHOT */
    CIO__OP_CONNECT, /* fd, addr, *addrlen */
    CIO__OP_RECVMSG, /* fd, buf: a struct msghdr, flags */
    CIO__OP_SENDMSG, /* fd, buf: a struct msghdr, flags */
    CIO__OP_READ,    /* fd, buf, len, off ((uint64_t)-1: the file position) */
    CIO__OP_WRITE,   /* fd, buf, len, off */
    CIO__OP_OPENAT,  /* fd (AT_FDCWD), path, flags (O_*), mode */
    CIO__OP_STATX,   /* fd, path, flags (AT_*), mode: the mask, buf: a struct statx */
    CIO__OP_FSYNC,   /* fd */
    CIO__OP_CLOSE,   /* fd */
    CIO__OP_KINDS
} cio__op_kind;

#define CIO__OPF_POLL_FIRST 1u /* recv: the socket was just emptied, wait for data before trying */
#define CIO__OPF_ASYNC 2u      /* long: straight to the kernel's workers, not inline in the loop's submission */
#define CIO__OPF_MULTISHOT 4u  /* accept (callback operations): one completion per client until ended */

typedef void (*cio__op_cb)(cio__op *op);

struct cio__op {
    /* the request, set by the caller */
    uint8_t kind;  /* cio__op_kind */
    uint8_t oflags; /* CIO__OPF_* */
    int fd;
    int flags;
    unsigned mode;
    void *buf;
    size_t len; /* clamped by the back end to what one operation moves: a short count follows */
    uint64_t off;
    const char *path;
    struct sockaddr *addr;
    socklen_t *addrlen;
    /* the outcome */
    int32_t res;  /* the result: >= 0, or a negative errno */
    bool more;    /* multishot: further completions follow this one */
    cio__op_cb cb; /* callback operations: run on the loop at each completion */
    /* the back end's bookkeeping */
    cio__wait w; /* task operations: the parked task */
    cio__link link;
    uint8_t cancel_sent, fd_closed;
    int8_t slot;
    int watch_fd;
};

/* Whether l (NULL: the current loop) can run kind as a completion. */
bool cio__op_supported(const cio_loop *l, cio__op_kind kind);

/* Runs op from the current task, parked until its completion, and returns
 * its result.  -EOPNOTSUPP (before anything else) when the loop cannot;
 * otherwise CIO_ENOTASK or -ECANCELED as cio__enter says.  A cancellation
 * while parked goes to the kernel and the task stays parked until the
 * operation ends: -ECANCELED if it was stopped, else its result (a read's
 * bytes are not lost) with the cancellation left pending.  The kernel
 * never touches op's memory after this returns.  Suspends. */
int cio__op_run(cio__op *op);

/* Starts a callback operation on l: op (which must stay valid until its
 * last completion) gets cb(op) on the loop with op->res set, once, or once
 * per completion while op->more.  0, -EOPNOTSUPP, or -EBUSY (no room).
 * A loop closed with it still in flight cancels it and never runs cb.
 * Does not suspend. */
int cio__op_start(cio_loop *l, cio__op *op, cio__op_cb cb);

/* Asks the kernel to stop a callback operation (no-op if asked already);
 * cb runs with the outcome. */
void cio__op_cancel(cio_loop *l, cio__op *op);

#endif
