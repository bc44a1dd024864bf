/* SPDX-License-Identifier: MIT */
/* Internal to src/mysql: the connection, shared by the cursor and the pool. */
#ifndef CIO_MYSQL_INTERNAL_H
#define CIO_MYSQL_INTERNAL_H

#include <cio.h>
#include <mysql.h>

struct cio_mysql {
    MYSQL *my;
    cio_loop *loop;
    cio_mysql_pool *pool; /* the pool it belongs to, or NULL */
    double query_timeout;
    int fd;               /* the socket registered with the loop, or -1 */
    bool broken;          /* lost, timed out or cancelled mid-call: closed */
    bool busy;            /* a call is in progress (one at a time) */
    bool in_use;          /* handed out by its pool */
    bool connecting;      /* in mysql_real_connect: its socket may be replaced */
    double idle_since;    /* loop time it went back to its pool's free list */
    char *scratch;        /* the SQL text buffer, kept between calls (see cursor.c) */
    size_t scratch_cap;
};

/* An operation on c: checks it can start (-ENOTCONN, -EBUSY, CIO_ENOTASK),
 * enters the query_timeout scope; mysql__op_end leaves it and turns a
 * cancellation or a lost connection into a broken, closed connection. */
int mysql__op_begin(cio_mysql *c, cio_timeout *t);
int mysql__op_end(cio_mysql *c, cio_timeout *t, int rc);

/* Waits for what the library asked (a MYSQL_WAIT_* mask); returns the mask
 * of what happened for the *_cont call, or a negative code. */
int mysql__wait(cio_mysql *c, int status);

/* The code for the library's last error on c (recorded for
 * cio_mysql_errno()): CIO_EMYSQL, -ECONNREFUSED or -ECONNRESET. */
int mysql__fail(cio_mysql *c);

/* Records an error that is not the library's (code 0, a description). */
int mysql__fail_plain(int rc);

/* Runs a non-blocking call to its end: start is the *_start call, cont the
 * matching *_cont; ret receives its result.  Sets rc to 0 or the wait's
 * error (the library's own error is in ret, as with the blocking call). */
#define MYSQL__RUN(c, rc, ret, start, cont)                                                          \
    do {                                                                                             \
        int st_ = (start);                                                                           \
        (rc) = 0;                                                                                    \
        while (st_) {                                                                                \
            int ev_ = mysql__wait((c), st_);                                                         \
            if (ev_ < 0) {                                                                           \
                (rc) = ev_;                                                                          \
                break;                                                                               \
            }                                                                                        \
            st_ = cont(&(ret), (c)->my, ev_);                                                        \
        }                                                                                            \
    } while (0)

/* Drops the socket from the loop and frees the library's handle (sending
 * COM_QUIT only when healthy); frees c. */
void mysql__destroy(cio_mysql *c);

#endif
