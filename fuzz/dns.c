/* SPDX-License-Identifier: MIT */
/* Fuzz target: name resolution (src/net/dns.c over c-ares) with hostile
 * answers.  A fake DNS server on 127.0.0.1, in the same loop (UDP, and TCP
 * on the same port for truncated answers), answers every query with the
 * input's bytes; c-ares asks only it (cio__dns_use_servers, 10 ms per try,
 * one try).  cio_getaddrinfo / cio_getnameinfo must return results or a
 * clear error, never crash, hang or leak.
 *
 * Input: byte 0 the mode (bit 0: the answer is built around the query: its
 * id and question, then flags, counts and records from the input; else the
 * input is the whole answer, its id patched in; bit 1: a PTR lookup
 * (cio_getnameinfo) instead of A/AAAA; bit 2: AF_INET only; bit 3:
 * AI_CANONNAME), then the answer. */
#include "net/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct fz {
    const uint8_t *ans;
    size_t len;
    int mode;
    int udp;
} fz;

static void require(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "dns: %s\n", what);
        abort();
    }
}

/* The answer to query q (qlen bytes) into out (cap bytes): its length. */
static size_t answer(const fz *f, const uint8_t *q, size_t qlen, uint8_t *out, size_t cap)
{
    size_t n = 0;
    if (qlen < 12)
        return 0;
    if (!(f->mode & 1)) {
        n = f->len < cap ? f->len : cap;
        memcpy(out, f->ans, n);
    } else {
        /* id, then flags (QR forced) and three counts from the input,
         * QDCOUNT 1 and the query's question, then the input's records */
        uint8_t hdr[8] = {0};
        size_t h = f->len < 8 ? f->len : 8;
        memcpy(hdr, f->ans, h);
        memcpy(out, q, 12);
        out[2] = hdr[0] | 0x80;
        out[3] = hdr[1];
        out[4] = 0;
        out[5] = 1;
        memcpy(out + 6, hdr + 2, 6);
        n = qlen < cap ? qlen : cap; /* header and question (c-ares adds no OPT record) */
        memcpy(out + 12, q + 12, n - 12);
        size_t rest = f->len - h < cap - n ? f->len - h : cap - n;
        memcpy(out + n, f->ans + h, rest);
        n += rest;
    }
    if (n >= 2)
        memcpy(out, q, 2); /* the query id */
    return n;
}

static void on_udp(void *arg)
{
    fz *f = arg;
    uint8_t q[512], out[4096];
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    ssize_t k = recvfrom(f->udp, q, sizeof q, 0, (struct sockaddr *)&from, &fl);
    if (k <= 0)
        return;
    size_t n = answer(f, q, (size_t)k, out, sizeof out);
    if (n)
        sendto(f->udp, out, n, 0, (struct sockaddr *)&from, fl);
}

static void *on_tcp(cio_stream *s, void *arg)
{
    fz *f = arg;
    uint8_t len[2], q[512], out[4098];
    size_t got;
    while (cio_stream_readexactly(s, len, 2, &got) == 0) {
        size_t ql = (size_t)len[0] << 8 | len[1];
        if (ql > sizeof q || cio_stream_readexactly(s, q, ql, &got) < 0)
            break;
        size_t n = answer(f, q, ql, out + 2, sizeof out - 2);
        out[0] = (uint8_t)(n >> 8);
        out[1] = (uint8_t)n;
        if (cio_stream_write(s, out, n + 2) < 0 || cio_stream_drain(s) < 0)
            break;
    }
    cio_stream_close(s);
    return NULL;
}

static void lookup(const fz *f)
{
    if (f->mode & 2) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(80)};
        inet_pton(AF_INET, "192.0.2.7", &sa.sin_addr);
        char host[NI_MAXHOST], serv[NI_MAXSERV];
        int rc = cio_getnameinfo((struct sockaddr *)&sa, sizeof sa, host, sizeof host, serv, sizeof serv, 0);
        if (getenv("FUZZ_VERBOSE"))
            fprintf(stderr, "dns: getnameinfo %d (%s) %s\n", rc, cio_strerror(rc), rc ? "" : host);
        require(rc <= 0, "positive result");
        if (rc == 0)
            require(memchr(host, 0, sizeof host) != NULL, "host not terminated");
        return;
    }
    struct addrinfo hints = {.ai_family = f->mode & 4 ? AF_INET : AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = f->mode & 8 ? AI_CANONNAME : 0};
    struct addrinfo *res = NULL;
    int rc = cio_getaddrinfo("fuzz.example.", "80", &hints, &res);
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "dns: getaddrinfo %d (%s)%s\n", rc, cio_strerror(rc),
                res && res->ai_canonname ? res->ai_canonname : "");
    require(rc <= 0, "positive result");
    require((rc == 0) == (res != NULL), "result and list disagree");
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        require(ai->ai_family == AF_INET || ai->ai_family == AF_INET6, "family");
        require(ai->ai_addrlen == (ai->ai_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)),
                "address length");
        if (ai->ai_canonname)
            (void)strlen(ai->ai_canonname);
    }
    cio_freeaddrinfo(res);
}

static void *fuzz_main(void *arg)
{
    fz *f = arg;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    f->udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (f->udp < 0 || bind(f->udp, (struct sockaddr *)&sa, sl) < 0 || getsockname(f->udp, (struct sockaddr *)&sa, &sl) < 0)
        abort();
    char port[16], csv[64];
    snprintf(port, sizeof port, "%d", ntohs(sa.sin_port));
    snprintf(csv, sizeof csv, "127.0.0.1:%s", port);
    cio__dns_use_servers(csv, 10, 1);
    cio_server *tcp = NULL; /* the same port for TCP, when it is free */
    cio_start_server(on_tcp, f, "127.0.0.1", port, NULL, &tcp);
    cio_add_reader(cio_loop_current(), f->udp, on_udp, f);
    lookup(f);
    cio_remove_reader(cio_loop_current(), f->udp);
    close(f->udp);
    if (tcp) {
        cio_server_close(tcp);
        cio_server_wait_closed(tcp);
        cio_server_free(tcp);
    }
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fz f = {.ans = data + 1, .len = size - 1, .mode = data[0]};
    if (cio_run(fuzz_main, &f, NULL) != 0)
        abort();
    return 0;
}
