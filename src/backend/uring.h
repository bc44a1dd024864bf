/* SPDX-License-Identifier: MIT */
/* The io_uring back end's own interface (src/backend/uring.c), for its
 * tests.  The rest of the library reaches its completions through the
 * neutral operations (cio__op, core/internal.h); this adds raw SQEs, the
 * probe, statistics and fault injection.
 *
 * A raw operation, from inside a task on a loop that runs on io_uring:
 *
 *     struct io_uring_sqe *sqe;
 *     int rc = cio__uring_get_sqe(&sqe);        // may return -ECANCELED, CIO_ENOTASK
 *     if (rc)
 *         return rc;
 *     io_uring_prep_nop(sqe);                    // any single-CQE operation
 *     cio__op op = {0};                          // on the task's stack
 *     ssize_t res = cio__uring_wait(&op, sqe, -1); // the CQE's res
 *
 * Nothing reaches the kernel before the loop's next poll: every SQE queued
 * during an iteration goes in the same io_uring_enter (see uring.c).
 *
 * Cancellation (the same for cio__op_run).  A task cancelled while parked
 * is not woken at once: the kernel may still be writing into its buffers.
 * The cancel hook queues an IORING_OP_ASYNC_CANCEL for the operation and
 * the task stays parked until the operation's own CQE arrives.  Then:
 *   - the kernel cancelled it (res -ECANCELED, or -EINTR from an io-wq
 *     worker that was interrupted): -ECANCELED is returned and the
 *     cancellation counts as delivered;
 *   - it completed first: its result is returned (a read's bytes are not
 *     lost) and the cancellation stays pending for the task's next
 *     suspension point.
 * Either way the operation's memory is never touched by the kernel after
 * the call returns.  Closing a loop with tasks still parked here cancels
 * their operations and waits for them before the tasks' stacks go.
 *
 * Between the two calls the caller must not suspend; an SQE fetched must be
 * handed to cio__uring_wait (turn it into io_uring_prep_nop if in doubt).
 * io_uring_sqe_set_data is done by cio__uring_wait: do not set user_data.
 */
#ifndef CIO_BACKEND_URING_H
#define CIO_BACKEND_URING_H

#include "backend/backend.h"

#include <liburing.h>

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
int cio__uring_wait(cio__op *op, struct io_uring_sqe *sqe, int fd);

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
