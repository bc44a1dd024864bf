/* SPDX-License-Identifier: MIT */
/* cio_strerror: the text of cio's own error codes and of -errno values. */
#include <cio.h>

#include <errno.h>
#include <string.h>

const char *cio_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case CIO_EINVALSTATE:
        return "invalid state (future not done, or already done)";
    case CIO_ENOTASK:
        return "suspending call made outside a task";
    case CIO_ENOLOOP:
        return "no current event loop";
    case CIO_ELOOPCLOSED:
        return "event loop is closed";
    case CIO_ERUNNING:
        return "an event loop is already running";
    case CIO_EDONE:
        return "iteration finished";
    case CIO_EINCOMPLETE:
        return "incomplete read: EOF before the expected bytes";
    case CIO_ELIMITOVERRUN:
        return "buffer limit overrun";
    case CIO_EQUEUEFULL:
        return "queue full";
    case CIO_EQUEUEEMPTY:
        return "queue empty";
    case CIO_EQUEUESHUTDOWN:
        return "queue shut down";
    case CIO_EBROKENBARRIER:
        return "broken barrier";
    case CIO_EGROUPABORTED:
        return "task group is shutting down";
    case CIO_EGENCLOSED:
        return "generator closed";
    case CIO_ENOTACQUIRED: return "lock is not acquired";
    case CIO_ETASKDONE: return "task_done() called too many times";
    case CIO_ESEMOVERFLOW: return "BoundedSemaphore released too many times";
    case CIO_ETLS:
        return "TLS error";
    case CIO_ECERTUNTRUSTED:
        return "certificate not trusted (self-signed, unknown CA or bad chain)";
    case CIO_ECERTEXPIRED:
        return "certificate expired or not yet valid";
    case CIO_ECERTHOSTNAME:
        return "certificate does not match the host name";
    case CIO_EDNS:
        return "name resolution failed";
    case CIO_EHTTP:
        return "HTTP transfer error";
    case CIO_EHTTPSTATUS:
        return "HTTP error status";
    case CIO_EHTTPREDIRECTS:
        return "too many HTTP redirects";
    case CIO_EBROWSER:
        return "browser error (see cio_browser_error)";
    case CIO_EMYSQL:
        return "MySQL error (see cio_mysql_errno, cio_mysql_error)";
    case -ECANCELED:
        return "cancelled";
    case -ETIMEDOUT:
        return "timed out";
    default:
        break;
    }
    if (err < 0 && err > -4096) {
        /* strerror's text for errno values; strerrordesc_np is thread-safe
         * and returns a static string. */
        const char *s = strerrordesc_np(-err);
        if (s)
            return s;
    }
    return "unknown error";
}
