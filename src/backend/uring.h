/* The io_uring back end's completion interface (src/backend/uring.c).
 *
 * The back end serves the loop's readiness interface (cio__backend) like
 * epoll does; this header is for modules that would rather hand the kernel
 * a whole operation and park until it is done (files today; sockets later).
 *
 * Use, from inside a task, when cio__uring_active() says the loop runs on
 * io_uring:
 *
 *     struct io_uring_sqe *sqe;
 *     int rc = cio__uring_get_sqe(&sqe);        // may return -ECANCELED, CIO_ENOTASK
 *     if (rc)
 *         return rc;
 *     io_uring_prep_read(sqe, fd, buf, n, off);  // any single-CQE operation
 *     cio__uring_op op;                          // on the task's stack
 *     ssize_t res = cio__uring_wait(&op, sqe, fd); // the CQE's res
 *
 * Nothing reaches the kernel before the loop's next poll: every SQE queued
 * during an iteration goes in the same io_uring_enter (see uring.c).
 *
 * Cancellation.  A task cancelled while parked here is not woken at once:
 * the kernel may still be writing into its buffers.  The cancel hook queues
 * an IORING_OP_ASYNC_CANCEL for the operation and the task stays parked
 * until the operation's own CQE arrives.  Then:
 *   - the kernel cancelled it (res -ECANCELED, or -EINTR from an io-wq
 *     worker that was interrupted): cio__uring_wait returns -ECANCELED and
 *     the cancellation counts as delivered;
 *   - it completed first: its result is returned (a read's bytes are not
 *     lost) and the cancellation stays pending for the task's next
 *     suspension point.
 * Either way the operation's memory is never touched by the kernel after
 * cio__uring_wait returns.  Closing a loop with tasks still parked here
 * cancels their operations and waits for them before the tasks' stacks go.
 *
 * Between the two calls the caller must not suspend; an SQE fetched must be
 * handed to cio__uring_wait (turn it into io_uring_prep_nop if in doubt).
 * io_uring_sqe_set_data is done by cio__uring_wait: do not set user_data.
 */
#ifndef CIO_BACKEND_URING_H
#define CIO_BACKEND_URING_H

#include "core/internal.h"

#ifdef CIO_HAVE_LIBURING
#include <liburing.h>
#endif

struct io_uring_sqe;

typedef struct cio__uring_op cio__uring_op;

/* Called on the loop with the CQE's result in op->res (callback operations,
 * cio__uring_start). */
typedef void (*cio__uring_cb)(cio__uring_op *op);

struct cio__uring_op {
    cio__wait w;        /* task operations: the parked task */
    cio__link link;     /* in the ring's list, when not in its fd's record */
    cio__uring_cb cb;   /* callback operations: run at completion */
    int32_t res;        /* the CQE's result */
    uint32_t cqe_flags; /* the CQE's flags */
    int fd;             /* the fd it works on, -1 for none (see cio__uring_forget_fd) */
    uint8_t opcode;
    uint8_t cancel_sent; /* an IORING_OP_ASYNC_CANCEL was queued for it */
    uint8_t fd_closed;   /* cancelled because its fd was closed */
    int8_t slot;         /* in its fd's record (-1: in the ring's list) */
};

/* Whether l (NULL: the current loop) runs on the io_uring back end. */
bool cio__uring_active(const cio_loop *l);

/* Whether l's kernel supports opcode (IORING_OP_*), as probed when the
 * ring was set up.  False when l does not run on io_uring. */
bool cio__uring_supports(const cio_loop *l, int opcode);

/* Whether l (NULL: the current loop) runs sockets on completions: it is on
 * io_uring, the kernel has IORING_OP_RECV, SEND and ACCEPT, and
 * CIO_URING_SOCKETS=0 was not set when the ring was made (that setting
 * keeps sockets on readiness polls through the ring, for comparison). */
bool cio__uring_sockets(const cio_loop *l);

/* Checks that the current task may suspend (cio__enter: CIO_ENOTASK, or
 * -ECANCELED consuming a pending cancellation) and returns in *sqe a free
 * SQE of its loop's ring.  A full queue is handed to the kernel first (the
 * only io_uring_enter not made by the loop's poll).  Returns 0, those codes,
 * -EOPNOTSUPP when the loop does not run on io_uring, or -EBUSY when no SQE
 * can be had.  Does not suspend. */
int cio__uring_get_sqe(struct io_uring_sqe **sqe);

/* Ties sqe (from cio__uring_get_sqe, prepared by the caller) to op, parks
 * the current task until the operation's CQE and returns its res (see the
 * top of this file for cancellation).  fd is the descriptor the operation
 * works on (-1: none): when it is closed (cio_fd_forget, cio_close) while
 * the operation is in flight, the operation is cancelled in the kernel and
 * this returns -EBADF, as a readiness wait would.  Suspends. */
int cio__uring_wait(cio__uring_op *op, struct io_uring_sqe *sqe, int fd);

/* For work started outside a task (callback operations): a free SQE of l's
 * ring, or -EOPNOTSUPP (l not on io_uring) / -EBUSY.  Does not suspend. */
int cio__uring_loop_sqe(cio_loop *l, struct io_uring_sqe **sqe);

/* Ties sqe (from cio__uring_loop_sqe, prepared) to op, which must stay
 * valid until cb(op) runs on the loop with op->res set.  Nobody parks; the
 * operation is cancelled only when fd is closed (cio_fd_forget), and cb
 * then runs with the kernel's verdict.  A loop closed with the operation
 * still in flight cancels it and never runs cb.  A multishot operation
 * stays in flight, cb running once per CQE, until a CQE without
 * IORING_CQE_F_MORE in op->cqe_flags. */
void cio__uring_start(cio_loop *l, cio__uring_op *op, struct io_uring_sqe *sqe, int fd, cio__uring_cb cb);

/* Asks the kernel to cancel op (a callback operation; no-op if already
 * asked).  Its callback runs with the outcome, as for any completion. */
void cio__uring_cancel(cio_loop *l, cio__uring_op *op);

/* fd is being closed: cancels l's operations in flight on it (called by
 * cio_fd_forget; a no-op when l is not on io_uring).  Their memory stays
 * theirs until their CQEs arrive: the kernel keeps the file until then, so
 * the number can be reused at once without a stale completion reaching the
 * new owner. */
void cio__uring_forget_fd(cio_loop *l, int fd);

/* ---- for tests ------------------------------------------------------------ */

typedef struct cio__uring_stats {
    uint64_t enters;  /* io_uring_enter calls made (submit, wait, flush) */
    uint64_t sqes;    /* SQEs queued */
    uint64_t cqes;    /* CQEs reaped */
    uint64_t flushes; /* submissions forced by a full queue */
    uint64_t arms;    /* poll requests armed */
    uint32_t ops;     /* completion operations in flight */
    bool multishot;   /* multishot polls are in use */
} cio__uring_stats;

/* Fills *st for a loop on io_uring; false (and zeros) otherwise. */
bool cio__uring_get_stats(const cio_loop *l, cio__uring_stats *st);

/* Fault injection, read when a loop sets up its ring:
 *   cio__uring_test_refuse   non-zero: the set-up fails with this code (a
 *                            negative errno, as io_uring_queue_init would)
 *   cio__uring_test_hide_op  an IORING_OP_* value the probe reports missing
 *                            (-1: none) */
extern int cio__uring_test_refuse;
extern int cio__uring_test_hide_op;

#endif
