/* SPDX-License-Identifier: MIT */
/* The back ends by name, and the completion operations' entry points
 * (cio__op, core/internal.h), which hand an operation to the loop's back end
 * or answer -EOPNOTSUPP when it has no completions. */
#include "backend/backend.h"

#include <string.h>

extern const cio__backend cio__backend_epoll;
extern const cio__backend cio__backend_poll;
extern const cio__backend cio__backend_uring;

const cio__backend *cio__backend_named(const char *name)
{
    if (strcmp(name, "epoll") == 0)
        return &cio__backend_epoll;
    if (strcmp(name, "poll") == 0)
        return &cio__backend_poll;
    if (strcmp(name, "io_uring") == 0 || strcmp(name, "uring") == 0)
        return &cio__backend_uring;
    return NULL;
}

const cio__backend *cio__backend_default(void) { return &cio__backend_epoll; }

bool cio__op_supported(const cio_loop *l, cio__op_kind kind)
{
    if (!l)
        l = cio__loop_get(NULL);
    return l && l->be->op_supported && l->be->op_supported(l, (unsigned)kind);
}

int cio__op_run(cio__op *op)
{
    if (!cio__op_supported(NULL, (cio__op_kind)op->kind))
        return -EOPNOTSUPP;
    cio__task *t;
    int rc = cio__enter(&t);
    if (rc)
        return rc;
    return t->f.loop->be->op_run(t->f.loop, t, op);
}

int cio__op_start(cio_loop *l, cio__op *op, cio__op_cb cb)
{
    if (!cio__op_supported(l, (cio__op_kind)op->kind))
        return -EOPNOTSUPP;
    op->cb = cb;
    return l->be->op_start(l, op);
}

void cio__op_cancel(cio_loop *l, cio__op *op)
{
    if (l->be->op_cancel)
        l->be->op_cancel(l, op);
}
