/* SPDX-License-Identifier: MIT */
/* io_uring back end (CIO_BACKEND=io_uring, or cio_loop_opts.backend).
 *
 * One ring per loop serves two interfaces.
 *
 * Readiness (cio__backend), so that everything written for the epoll model
 * (streams, servers, DNS, curl, signals, the loop's wake-up eventfd) runs
 * unchanged.  ctl arms an IORING_OP_POLL_ADD for the mask the loop wants; a
 * different mask removes the request (IORING_OP_POLL_REMOVE) and arms a new
 * one.  Polls are one-shot and re-armed after their completion while the
 * loop still wants the fd.  Multishot polls would save that SQE, but they
 * are edge-triggered: a reader callback that leaves data unread (curl and
 * c-ares may) would never hear of it again, where epoll, level-triggered,
 * tells it on the next wait.  Re-arming costs no system call (it rides with
 * the next submission), and the common pattern -- a task waits, is woken,
 * the loop drops the interest -- costs one SQE per wait either way.  Only
 * the loop's own fds (the wake-up eventfd, the signal pipe), whose readers
 * always drain them, are re-armed as multishot (IORING_POLL_ADD_MULTI), and
 * re-armed again if the kernel ends one (a CQE without IORING_CQE_F_MORE).
 * A poll's user_data carries the fd and a per-fd arm sequence number:
 * completions of an arm removed or replaced since are recognised and
 * dropped, and the loop's generation number filters the rest.
 *
 * A poll request holds a reference to its file: until its removal reaches
 * the kernel, close() does not release the file (a socket's FIN waits).  So
 * a removal asks the loop to submit at the start of the next iteration
 * (be_work), instead of waiting for the next blocking poll.
 *
 * Completions (cio__op, backend/backend.h; raw SQEs in uring.h): a task
 * queues an SQE tied to a cio__op on its stack and parks until the CQE; cancellation goes through the kernel
 * (IORING_OP_ASYNC_CANCEL) and the task stays parked until the original CQE,
 * so no kernel write lands in memory its owner has given up.
 *
 * Batched submission.  SQEs accumulate during an iteration and reach the
 * kernel with the loop's next wait, in one io_uring_submit_and_wait_timeout
 * (one io_uring_enter, with the timeout passed as IORING_ENTER_EXT_ARG).
 * When tasks are ready the loop does not wait; it then calls poll(0) every
 * iteration while operations are in flight or a removal is queued
 * (loop->be_work), which enters the kernel only if there is something to
 * submit or the kernel asks for it (IORING_SQ_TASKRUN, CQ overflow), and
 * otherwise just reads the completion ring.  At most one io_uring_enter per
 * iteration, then, except when more than RING_ENTRIES SQEs are queued within
 * one (the full queue is submitted early).
 *
 * Set-up asks for COOP_TASKRUN (no inter-processor interrupts to run
 * completions while the loop is busy; the kernel flags the ring instead)
 * and SUBMIT_ALL, dropping what an older kernel refuses.  Not
 * SINGLE_ISSUER|DEFER_TASKRUN: a loop may be made in one thread and run in
 * another (asyncio allows it; examples/multi_loop does it), and the issuer
 * is fixed when the ring is made; measured on the echo benchmark it made
 * no difference above the noise either (the server's time is TCP's).  The kernel must
 * have IORING_FEAT_NODROP and IORING_FEAT_EXT_ARG (5.11) and the opcodes
 * POLL_ADD, POLL_REMOVE and ASYNC_CANCEL; otherwise init fails and the loop
 * falls back to epoll (the interface's fallback entry).  Other opcodes are
 * optional: an operation the kernel lacks is answered -EOPNOTSUPP
 * (ur_op_supported) and its caller takes another path (readiness, or the
 * executor for files).
 * Without multishot poll (before 5.13) every poll is one-shot. */
#include "backend/uring.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

extern const cio__backend cio__backend_epoll; /* the fallback */
extern const cio__backend cio__backend_uring;

int cio__uring_test_refuse;
int cio__uring_test_hide_op = -1;

#define RING_ENTRIES 256
#define CQ_ENTRIES 4096
#define BATCH 128
#define UD_POLL (UINT64_C(1) << 63)
#define SEQ_MASK 0x7fffffffu
#define NSLOTS 2

typedef struct ufd {
    uint32_t gen;       /* the loop's generation, passed back with events */
    uint32_t seq;       /* of the latest arm */
    uint8_t mask;       /* what the loop wants */
    uint8_t armed;      /* the latest arm is live (queued or in the kernel) */
    uint8_t armed_mask; /* what it watches */
    uint8_t multi;      /* it is multishot */
    uint32_t nops;      /* completion operations in flight on this fd number */
    /* Where ur_forget_fd finds them: the first two here (a stream
     * has a RECV and a SEND at most), any more in uring_be.more. */
    cio__op *slot[NSLOTS];
} ufd;

typedef struct uring_be {
    struct io_uring ring;
    ufd *fds;
    size_t nfds;
    uint32_t nops;    /* cio__op in flight */
    cio__link more;   /* those without a slot in their fd's record (fd -1, or a third) */
    uint32_t nurgent; /* queued SQEs that should not wait for a blocking poll */
    bool no_multishot;
    bool sockets;  /* sockets on completions (cio__uring_sockets) */
    bool hooked;   /* the close-time drain is registered */
    bool draining; /* the loop is closing: complete ops without waking anyone */
    uint8_t probe[32]; /* supported opcodes, one bit each */
    cio__uring_stats st;
} uring_be;

static void update_work(cio_loop *l, uring_be *b) { l->be_work = b->nops + b->nurgent; }

static bool probed(const uring_be *b, int op) { return op >= 0 && op < 256 && (b->probe[op >> 3] >> (op & 7) & 1); }

static void submitted(cio_loop *l, uring_be *b)
{
    b->nurgent = 0;
    update_work(l, b);
}

static struct io_uring_sqe *get_sqe(cio_loop *l, uring_be *b)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
    if (CIO__UNLIKELY(!sqe)) {
        b->st.enters++;
        b->st.flushes++;
        io_uring_submit(&b->ring);
        submitted(l, b);
        sqe = io_uring_get_sqe(&b->ring);
    }
    if (sqe)
        b->st.sqes++;
    return sqe;
}

/* ---- readiness ------------------------------------------------------------ */

static uint64_t poll_ud(int fd, uint32_t seq) { return UD_POLL | (uint64_t)(seq & SEQ_MASK) << 32 | (uint32_t)fd; }

static ufd *fd_rec(uring_be *b, int fd, bool create)
{
    if ((size_t)fd >= b->nfds) {
        if (!create)
            return NULL;
        size_t n = b->nfds ? b->nfds : 64;
        while (n <= (size_t)fd)
            n *= 2;
        ufd *a = realloc(b->fds, n * sizeof *a);
        if (!a)
            return NULL;
        memset(a + b->nfds, 0, (n - b->nfds) * sizeof *a);
        b->fds = a;
        b->nfds = n;
    }
    return &b->fds[fd];
}

static int arm(cio_loop *l, uring_be *b, int fd, bool multi)
{
    struct io_uring_sqe *sqe = get_sqe(l, b);
    if (!sqe)
        return -EBUSY;
    ufd *u = &b->fds[fd]; /* get_sqe does not move b->fds */
    u->seq = (u->seq + 1) & SEQ_MASK;
    unsigned ev = (u->mask & CIO_READABLE ? POLLIN | POLLRDHUP : 0) | (u->mask & CIO_WRITABLE ? POLLOUT : 0);
    multi = multi && !b->no_multishot;
    if (multi)
        io_uring_prep_poll_multishot(sqe, fd, ev);
    else
        io_uring_prep_poll_add(sqe, fd, ev);
    io_uring_sqe_set_data64(sqe, poll_ud(fd, u->seq));
    u->armed = 1;
    u->armed_mask = u->mask;
    u->multi = multi;
    b->st.arms++;
    return 0;
}

static void disarm(cio_loop *l, uring_be *b, int fd)
{
    ufd *u = &b->fds[fd];
    u->armed = 0; /* whatever it still reports is stale from now on */
    struct io_uring_sqe *sqe = get_sqe(l, b);
    if (!sqe)
        return; /* it stays in the kernel until it fires; its CQE is dropped */
    io_uring_prep_poll_remove(sqe, poll_ud(fd, u->seq));
    io_uring_sqe_set_data64(sqe, 0);
    b->nurgent++;
    update_work(l, b);
}

static int ur_ctl(cio_loop *l, int fd, uint32_t gen, unsigned old_mask, unsigned new_mask)
{
    (void)old_mask;
    uring_be *b = l->be_data;
    ufd *u = fd_rec(b, fd, new_mask != 0);
    if (!u)
        return new_mask ? -ENOMEM : 0;
    u->gen = gen;
    u->mask = (uint8_t)new_mask;
    if (u->armed && u->armed_mask != new_mask)
        disarm(l, b, fd);
    if (new_mask && !b->fds[fd].armed)
        return arm(l, b, fd, false);
    return 0;
}

static unsigned to_mask(int32_t res)
{
    unsigned m = 0, e = (unsigned)res;
    if (e & (POLLIN | POLLRDHUP | POLLPRI))
        m |= CIO_READABLE;
    if (e & POLLOUT)
        m |= CIO_WRITABLE;
    if (e & (POLLERR | POLLHUP | POLLNVAL))
        m |= CIO_READABLE | CIO_WRITABLE;
    return m;
}

static void poll_done(cio_loop *l, uring_be *b, uint64_t ud, int32_t res, uint32_t flags)
{
    int fd = (int)(uint32_t)ud;
    uint32_t seq = (uint32_t)(ud >> 32) & SEQ_MASK;
    ufd *u = fd_rec(b, fd, false);
    if (!u || !u->armed || u->seq != seq)
        return; /* removed or replaced since */
    if (!(flags & IORING_CQE_F_MORE))
        u->armed = 0;
    if (b->draining)
        return;
    unsigned m = 0;
    bool rearm = true;
    if (res >= 0) {
        m = to_mask(res);
    } else if (res == -EINVAL && u->multi) {
        b->no_multishot = true; /* a kernel without multishot poll */
    } else if (res != -ECANCELED) {
        /* e.g. -EBADF: the fd was closed without cio_fd_forget.  Wake whoever
         * waits (their own call reports the error) and, as epoll drops a
         * closed fd, watch it no more until the loop changes its mask. */
        m = CIO_READABLE | CIO_WRITABLE;
        rearm = false;
    } /* -ECANCELED without our removal: the task that armed it exited */
    if (m)
        cio__io_event(l, fd, u->gen, m);
    u = fd_rec(b, fd, false); /* the callbacks may have grown the table */
    if (rearm && !u->armed && u->mask && u->seq == seq) {
        cio__fdent *e = cio__fdent_get(l, fd, false);
        arm(l, b, fd, e && e->internal);
    }
}

/* ---- completions ---------------------------------------------------------- */

static void op_done(cio_loop *l, uring_be *b, cio__op *op, int32_t res, uint32_t flags)
{
    if (!(flags & IORING_CQE_F_MORE)) { /* a multishot operation goes on otherwise */
        b->nops--;
        update_work(l, b);
        if (op->watch_fd >= 0)
            b->fds[op->watch_fd].nops--;
        if (op->slot >= 0)
            b->fds[op->watch_fd].slot[op->slot] = NULL;
        else
            cio__list_remove(&op->link);
    }
    op->res = res;
    op->more = flags & IORING_CQE_F_MORE;
    if (b->draining)
        return;
    if (op->cb)
        op->cb(op);
    else
        cio__wake(op->w.task, res);
}

static int reap(cio_loop *l, uring_be *b)
{
    struct {
        uint64_t ud;
        int32_t res;
        uint32_t flags;
    } ev[BATCH];
    int total = 0;
    /* Copied out first: what the callbacks queue may submit (a full queue)
     * and so add completions while these are dispatched.  Bounded, so that
     * a flood of completions cannot starve the ready tasks. */
    for (int round = 0; round < 8; round++) {
        unsigned head, n = 0;
        struct io_uring_cqe *cqe;
        io_uring_for_each_cqe(&b->ring, head, cqe)
        {
            ev[n].ud = cqe->user_data;
            /* an operation lives on its task's stack or in its stream,
             * most likely out of the cache with many connections: its
             * misses overlap this way instead of stalling one by one */
            if (!(cqe->user_data & UD_POLL))
                __builtin_prefetch((void *)(uintptr_t)cqe->user_data, 1);
            ev[n].res = cqe->res;
            ev[n].flags = cqe->flags;
            if (++n == BATCH)
                break;
        }
        if (!n)
            break;
        io_uring_cq_advance(&b->ring, n);
        b->st.cqes += n;
        for (unsigned i = 0; i < n; i++) {
            uint64_t ud = ev[i].ud;
            if (ud == 0) /* removals and cancellations */
                continue;
            if (ud & UD_POLL)
                poll_done(l, b, ud, ev[i].res, ev[i].flags);
            else
                op_done(l, b, (cio__op *)(uintptr_t)ud, ev[i].res, ev[i].flags);
        }
        total += (int)n;
        if (n < BATCH)
            break;
    }
    return total;
}

static bool cq_needs_enter(uring_be *b)
{
    return IO_URING_READ_ONCE(*b->ring.sq.kflags) & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN);
}

static int ur_poll(cio_loop *l, int timeout_ms)
{
    uring_be *b = l->be_data;
    struct io_uring *r = &b->ring;
    int rc = 0;
    if (timeout_ms != 0 && io_uring_cq_ready(r) == 0) {
        struct __kernel_timespec ts, *tsp = NULL;
        if (timeout_ms > 0) {
            ts.tv_sec = timeout_ms / 1000;
            ts.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
            tsp = &ts;
        }
        struct io_uring_cqe *cqe;
        b->st.enters++;
        rc = io_uring_submit_and_wait_timeout(r, &cqe, 1, tsp, NULL);
        submitted(l, b);
    } else if (io_uring_sq_ready(r) || cq_needs_enter(b)) {
        b->st.enters++;
        rc = io_uring_sq_ready(r) ? io_uring_submit(r) : io_uring_get_events(r);
        submitted(l, b);
    }
    int n = reap(l, b);
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY && !n)
        return rc;
    return n;
}

/* ---- set-up and tear-down ------------------------------------------------- */

static int ur_init(cio_loop *l)
{
    if (cio__uring_test_refuse)
        return cio__uring_test_refuse < 0 ? cio__uring_test_refuse : -cio__uring_test_refuse;
    uring_be *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    static const unsigned setups[] = {
        IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
        IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL,
        IORING_SETUP_CQSIZE,
    };
    struct io_uring_params p;
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof setups / sizeof setups[0] && rc == -EINVAL; i++) {
        memset(&p, 0, sizeof p);
        p.flags = setups[i];
        p.cq_entries = CQ_ENTRIES;
        rc = io_uring_queue_init_params(RING_ENTRIES, &b->ring, &p);
    }
    if (rc < 0) {
        free(b);
        return rc;
    }
    rc = -ENOSYS;
    if (!(p.features & IORING_FEAT_NODROP) || !(p.features & IORING_FEAT_EXT_ARG))
        goto refuse;
    struct io_uring_probe *pr = io_uring_get_probe_ring(&b->ring);
    if (!pr)
        goto refuse;
    for (int op = 0; op <= pr->last_op && op < 256; op++)
        if (io_uring_opcode_supported(pr, op) && op != cio__uring_test_hide_op)
            b->probe[op >> 3] |= (uint8_t)(1u << (op & 7));
    io_uring_free_probe(pr);
    if (!probed(b, IORING_OP_POLL_ADD) || !probed(b, IORING_OP_POLL_REMOVE) || !probed(b, IORING_OP_ASYNC_CANCEL))
        goto refuse;
    const char *env = getenv("CIO_URING_SOCKETS");
    b->sockets = probed(b, IORING_OP_RECV) && probed(b, IORING_OP_SEND) && probed(b, IORING_OP_ACCEPT) &&
                 !(env && strcmp(env, "0") == 0);
    (void)io_uring_ring_dontfork(&b->ring); /* a forked child cannot scribble on our rings */
    cio__list_init(&b->more);
    l->be_data = b;
    l->be_work = 0;
    return 0;
refuse:
    io_uring_queue_exit(&b->ring);
    free(b);
    return rc;
}

static void send_cancel(cio_loop *l, uring_be *b, cio__op *op);

/* Closing a loop abandons its pending tasks and gives their stacks back, so
 * operations they still have in the kernel must be finished first: this
 * runs among the loop's shutdown hooks, before the tasks go.  Each one is
 * cancelled and its CQE awaited; the tasks are not woken. */
static void drain(cio_loop *l, void *arg)
{
    uring_be *b = arg;
    b->hooked = false;
    if (!b->nops)
        return;
    b->draining = true;
    for (size_t fd = 0; fd < b->nfds; fd++)
        for (int i = 0; i < NSLOTS; i++)
            if (b->fds[fd].slot[i])
                send_cancel(l, b, b->fds[fd].slot[i]);
    for (cio__link *it = b->more.next; it != &b->more; it = it->next)
        send_cancel(l, b, CIO__CONTAINER_OF(it, cio__op, link));
    while (b->nops) {
        struct __kernel_timespec ts = {.tv_sec = 1};
        struct io_uring_cqe *cqe;
        b->st.enters++;
        int rc = io_uring_submit_and_wait_timeout(&b->ring, &cqe, 1, &ts, NULL);
        submitted(l, b);
        reap(l, b);
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
            break;
    }
}

static void ur_destroy(cio_loop *l)
{
    uring_be *b = l->be_data;
    if (!b)
        return;
    if (b->nops) {
        /* Not drained by the shutdown hook (it could not be registered):
         * cancel everything without touching the operations' memory. */
        b->draining = true;
        struct io_uring_sqe *sqe = get_sqe(l, b);
        if (sqe) {
            io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
            io_uring_sqe_set_data64(sqe, 0);
        }
        while (b->nops) {
            struct __kernel_timespec ts = {.tv_sec = 1};
            struct io_uring_cqe *cqe;
            int rc = io_uring_submit_and_wait_timeout(&b->ring, &cqe, 1, &ts, NULL);
            unsigned head, n = 0;
            io_uring_for_each_cqe(&b->ring, head, cqe)
            {
                n++;
                if (cqe->user_data && !(cqe->user_data & UD_POLL))
                    b->nops--;
            }
            io_uring_cq_advance(&b->ring, n);
            if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
                break;
        }
    }
    io_uring_queue_exit(&b->ring);
    free(b->fds);
    free(b);
    l->be_data = NULL;
    l->be_work = 0;
}

/* ---- completions: the neutral operations and raw SQEs --------------------- */

bool cio__uring_active(const cio_loop *l)
{
    if (!l)
        l = cio__loop_get(NULL);
    return l && l->be == &cio__backend_uring;
}

bool cio__uring_supports(const cio_loop *l, int opcode)
{
    if (!cio__uring_active(l))
        return false;
    if (!l)
        l = cio__loop_get(NULL);
    return probed(l->be_data, opcode);
}

bool cio__uring_sockets(const cio_loop *l)
{
    if (!cio__uring_active(l))
        return false;
    if (!l)
        l = cio__loop_get(NULL);
    return ((const uring_be *)l->be_data)->sockets;
}

static const uint8_t opcodes[CIO__OP_KINDS] = {
    [CIO__OP_RECV] = IORING_OP_RECV,       [CIO__OP_SEND] = IORING_OP_SEND,
    [CIO__OP_ACCEPT] = IORING_OP_ACCEPT,   [CIO__OP_CONNECT] = IORING_OP_CONNECT,
    [CIO__OP_RECVMSG] = IORING_OP_RECVMSG, [CIO__OP_SENDMSG] = IORING_OP_SENDMSG,
    [CIO__OP_READ] = IORING_OP_READ,       [CIO__OP_WRITE] = IORING_OP_WRITE,
    [CIO__OP_OPENAT] = IORING_OP_OPENAT,   [CIO__OP_STATX] = IORING_OP_STATX,
    [CIO__OP_FSYNC] = IORING_OP_FSYNC,     [CIO__OP_CLOSE] = IORING_OP_CLOSE,
};

static bool is_socket_kind(unsigned kind) { return kind <= CIO__OP_SENDMSG; }

/* Sockets go on completions only as a whole (cio__uring_sockets); file
 * operations each as the kernel has them. */
static bool ur_op_supported(const cio_loop *l, unsigned kind)
{
    if ((unsigned)kind >= CIO__OP_KINDS)
        return false;
    const uring_be *b = l->be_data;
    return is_socket_kind(kind) ? b->sockets : probed(b, opcodes[kind]);
}

#define SOCK_MAX (1u << 30)    /* bytes per RECV or SEND (the length is 32 bits) */
#define RW_MAX 0x7ffff000u     /* the most one read/write moves (MAX_RW_COUNT) */

static unsigned clamp(size_t n, unsigned max) { return n > max ? max : (unsigned)n; }

/* Fills sqe from the neutral request. */
static void prep(struct io_uring_sqe *sqe, const cio__op *op)
{
    switch (op->kind) {
    case CIO__OP_RECV:
        io_uring_prep_recv(sqe, op->fd, op->buf, clamp(op->len, SOCK_MAX), op->flags);
        if (op->oflags & CIO__OPF_POLL_FIRST)
            sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
        break;
    case CIO__OP_SEND:
        io_uring_prep_send(sqe, op->fd, op->buf, clamp(op->len, SOCK_MAX), op->flags);
        break;
    case CIO__OP_ACCEPT:
        if (op->oflags & CIO__OPF_MULTISHOT)
            io_uring_prep_multishot_accept(sqe, op->fd, op->addr, op->addrlen, op->flags);
        else
            io_uring_prep_accept(sqe, op->fd, op->addr, op->addrlen, op->flags);
        break;
    case CIO__OP_CONNECT:
        io_uring_prep_connect(sqe, op->fd, op->addr, *op->addrlen);
        break;
    case CIO__OP_RECVMSG:
        io_uring_prep_recvmsg(sqe, op->fd, op->buf, (unsigned)op->flags);
        break;
    case CIO__OP_SENDMSG:
        io_uring_prep_sendmsg(sqe, op->fd, op->buf, (unsigned)op->flags);
        break;
    case CIO__OP_READ:
        io_uring_prep_read(sqe, op->fd, op->buf, clamp(op->len, RW_MAX), op->off);
        break;
    case CIO__OP_WRITE:
        io_uring_prep_write(sqe, op->fd, op->buf, clamp(op->len, RW_MAX), op->off);
        break;
    case CIO__OP_OPENAT:
        io_uring_prep_openat(sqe, op->fd, op->path, op->flags, op->mode);
        break;
    case CIO__OP_STATX:
        io_uring_prep_statx(sqe, op->fd, op->path, op->flags, op->mode, op->buf);
        break;
    case CIO__OP_FSYNC:
        io_uring_prep_fsync(sqe, op->fd, 0);
        break;
    case CIO__OP_CLOSE:
        io_uring_prep_close(sqe, op->fd);
        break;
    }
    if (op->oflags & CIO__OPF_ASYNC)
        io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
}

/* A free SQE of l's ring for an operation, with the close-time drain
 * registered; NULL when none can be had. */
static struct io_uring_sqe *op_sqe(cio_loop *l)
{
    uring_be *b = l->be_data;
    if (!b->hooked) {
        cio__loop_add_shutdown_hook(l, drain, b);
        /* (without memory it ran at once; ur_destroy then cancels instead) */
        b->hooked = l->shutdown_hooks && l->shutdown_hooks->fn == drain;
    }
    return get_sqe(l, b);
}

int cio__uring_get_sqe(struct io_uring_sqe **out)
{
    *out = NULL;
    cio__task *t;
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    if (!cio__uring_active(t->f.loop))
        return -EOPNOTSUPP;
    *out = op_sqe(t->f.loop);
    return *out ? 0 : -EBUSY;
}

/* Puts op in flight: shared by task and callback operations. */
static void track(cio_loop *l, uring_be *b, cio__op *op, struct io_uring_sqe *sqe, int fd)
{
    op->res = 0;
    op->more = false;
    op->cancel_sent = 0;
    op->fd_closed = 0;
    op->watch_fd = -1;
    op->slot = -1;
    if (fd >= 0 && fd_rec(b, fd, true)) { /* without memory it just cannot be cancelled by a close */
        ufd *u = &b->fds[fd];
        op->watch_fd = fd;
        u->nops++;
        for (int i = 0; i < NSLOTS; i++)
            if (!u->slot[i]) {
                u->slot[i] = op;
                op->slot = (int8_t)i;
                break;
            }
    }
    if (op->slot < 0)
        cio__list_push_back(&b->more, &op->link);
    io_uring_sqe_set_data(sqe, op);
    b->nops++;
    update_work(l, b);
}

static void send_cancel(cio_loop *l, uring_be *b, cio__op *op)
{
    if (op->cancel_sent)
        return;
    struct io_uring_sqe *sqe = get_sqe(l, b);
    if (!sqe)
        return; /* it completes by itself, later */
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, 0);
    io_uring_sqe_set_data64(sqe, 0);
    op->cancel_sent = 1;
    b->nurgent++;
    update_work(l, b);
}

static int ur_op_start(cio_loop *l, cio__op *op)
{
    struct io_uring_sqe *sqe = op_sqe(l);
    if (!sqe)
        return -EBUSY;
    prep(sqe, op);
    op->w.task = NULL;
    track(l, l->be_data, op, sqe, is_socket_kind(op->kind) ? op->fd : -1);
    return 0;
}

static void ur_op_cancel(cio_loop *l, cio__op *op) { send_cancel(l, l->be_data, op); }

static void closed_under(cio_loop *l, uring_be *b, cio__op *op)
{
    if (!op->cancel_sent) {
        op->fd_closed = 1;
        send_cancel(l, b, op);
    }
}

/* fd is being closed: cancels the operations in flight on it.  Their
 * memory stays theirs until their CQEs arrive: the kernel keeps the file
 * until then, so the number can be reused at once without a stale
 * completion reaching the new owner. */
static void ur_forget_fd(cio_loop *l, int fd)
{
    uring_be *b = l->be_data;
    ufd *u = fd_rec(b, fd, false);
    if (!u || !u->nops)
        return;
    /* Cancelled one by one (by user_data): IORING_ASYNC_CANCEL_FD would
     * also cancel the operations of other descriptors of the same file
     * (dup), which stay open. */
    uint32_t left = u->nops;
    for (int i = 0; i < NSLOTS; i++)
        if (u->slot[i]) {
            closed_under(l, b, u->slot[i]);
            left--;
        }
    for (cio__link *it = b->more.next; it != &b->more && left; it = it->next) {
        cio__op *op = CIO__CONTAINER_OF(it, cio__op, link);
        if (op->watch_fd == fd) {
            closed_under(l, b, op);
            left--;
        }
    }
    /* An SQE still in the queue names the fd by number, and the kernel
     * looks the number up only when it is submitted: after the caller's
     * close() that could be someone else's file.  So the queue goes to the
     * kernel now, before the close (the cancellations with it). */
    if (io_uring_sq_ready(&b->ring)) {
        b->st.enters++;
        io_uring_submit(&b->ring);
        submitted(l, b);
    }
}

static bool op_cancel(cio__wait *w)
{
    cio__op *op = CIO__CONTAINER_OF(w, cio__op, w);
    cio_loop *l = w->task->f.loop;
    send_cancel(l, l->be_data, op);
    /* Leave the cancellation pending and the task parked: the CQE decides
     * (see uring.h). */
    return false;
}

/* Parks t on op, whose SQE is prepared, until its CQE (see uring.h). */
static int park_on(cio_loop *l, cio__task *t, cio__op *op, struct io_uring_sqe *sqe, int fd)
{
    bool is_close = sqe->opcode == IORING_OP_CLOSE;
    op->cb = NULL;
    track(l, l->be_data, op, sqe, fd);
    op->w.what = "io_uring op";
    op->w.cancel = op_cancel;
    op->w.droppable = false; /* a result that made it is not dropped */
    int st = cio__park(&op->w);
    if (op->cancel_sent) {
        /* an io-wq worker interrupted by the cancellation (a close is done
         * even then, and says so) */
        if (st == -EINTR && !is_close)
            st = -ECANCELED;
        if (st == -ECANCELED && t->must_cancel) {
            t->must_cancel = 0; /* delivered by this return */
            cio__note_cancel(t);
        } else if (st == -ECANCELED && op->fd_closed) {
            st = -EBADF; /* closed under it, as a readiness wait would report */
        }
    }
    return st;
}

int cio__uring_wait(cio__op *op, struct io_uring_sqe *sqe, int fd)
{
    cio__task *t = cio__current();
    return park_on(t->f.loop, t, op, sqe, fd);
}

static int ur_op_run(cio_loop *l, cio__task *t, cio__op *op)
{
    struct io_uring_sqe *sqe = op_sqe(l);
    if (!sqe)
        return -EBUSY;
    prep(sqe, op);
    return park_on(l, t, op, sqe, is_socket_kind(op->kind) ? op->fd : -1);
}

bool cio__uring_get_stats(const cio_loop *l, cio__uring_stats *st)
{
    memset(st, 0, sizeof *st);
    if (!cio__uring_active(l))
        return false;
    if (!l)
        l = cio__loop_get(NULL);
    const uring_be *b = l->be_data;
    *st = b->st;
    st->ops = b->nops;
    st->multishot = !b->no_multishot;
    return true;
}

const cio__backend cio__backend_uring = {
    .name = "io_uring",
    .init = ur_init,
    .destroy = ur_destroy,
    .ctl = ur_ctl,
    .poll = ur_poll,
    .op_supported = ur_op_supported,
    .op_run = ur_op_run,
    .op_start = ur_op_start,
    .op_cancel = ur_op_cancel,
    .forget_fd = ur_forget_fd,
    .fallback = &cio__backend_epoll,
};
