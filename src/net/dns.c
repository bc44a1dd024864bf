/* Name resolution.
 *
 * Numeric hosts and services are converted without any I/O.  Names are
 * resolved by the system resolver on the loop's default executor (as
 * asyncio's loop.getaddrinfo does), so only the calling task waits. */
#include "net/net.h"

#include <stdlib.h>
#include <string.h>

int cio__resolve_numeric(const char *host, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
    struct addrinfo h = hints ? *hints : (struct addrinfo){0};
    h.ai_flags |= AI_NUMERICHOST;
    int rc = getaddrinfo(host, service, &h, res);
    return rc == 0 ? 0 : CIO_EDNS;
}

typedef struct gai_job {
    const char *host, *service;
    struct addrinfo hints;
    struct addrinfo *res;
    int rc;
} gai_job;

static void *gai_run(void *arg)
{
    gai_job *j = arg;
    j->rc = getaddrinfo(j->host, j->service, &j->hints, &j->res);
    return NULL;
}

static bool host_too_long(const char *host)
{
    /* RFC 1035: 253 characters, labels of at most 63 */
    size_t n = strlen(host), label = 0;
    if (n > 253 && !(n == 254 && host[253] == '.'))
        return true;
    for (size_t i = 0; i < n; i++) {
        if (host[i] == '.')
            label = 0;
        else if (++label > 63)
            return true;
    }
    return false;
}

int cio_getaddrinfo(const char *host, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
    *res = NULL;
    if (host && host_too_long(host))
        return -EINVAL;
    if (!host || cio__resolve_numeric(host, service, hints, res) == 0) {
        if (*res)
            return 0;
        struct addrinfo h = hints ? *hints : (struct addrinfo){0};
        h.ai_flags |= AI_PASSIVE;
        return getaddrinfo(NULL, service, &h, res) == 0 ? 0 : CIO_EDNS;
    }
    gai_job *j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    j->host = strdup(host);
    j->service = service ? strdup(service) : NULL;
    if (!j->host || (service && !j->service)) {
        free((void *)j->host);
        free((void *)j->service);
        free(j);
        return -ENOMEM;
    }
    if (hints)
        j->hints = *hints;
    cio_future *f = cio_run_in_executor(NULL, gai_run, j);
    if (!f) {
        int e = -errno;
        free((void *)j->host);
        free((void *)j->service);
        free(j);
        return e;
    }
    int rc = cio_await(f, NULL);
    if (rc == 0) {
        rc = j->rc == 0 ? 0 : j->rc == EAI_MEMORY ? -ENOMEM : j->rc == EAI_SYSTEM ? -errno : CIO_EDNS;
        *res = j->res;
        free((void *)j->host);
        free((void *)j->service);
        free(j);
    }
    /* cancelled: the job may still be running and owns j; it is leaked only
     * if the executor never runs it, which shutdown prevents */
    cio_release(f);
    return rc;
}

void cio_freeaddrinfo(struct addrinfo *res)
{
    if (res)
        freeaddrinfo(res);
}

int cio_getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, size_t hostlen, char *serv,
                    size_t servlen, int flags)
{
    int rc = getnameinfo(sa, salen, host, (socklen_t)hostlen, serv, (socklen_t)servlen, flags | NI_NUMERICSERV);
    if (rc == EAI_OVERFLOW)
        return -ENOSPC;
    return rc == 0 ? 0 : CIO_EDNS;
}
