/* SPDX-License-Identifier: MIT */
/* MySQL/MariaDB connections (aiomysql.Connection) on Connector/C's
 * non-blocking API: every _start / _cont step that would block tells us
 * what to wait for on the socket, and the task waits for exactly that. */
#include "mysql/mysql.h"

#include <errno.h>
#include <errmsg.h>
#include <mysqld_error.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- The last error of this thread (MySQLError's args) ------------------ */

static _Thread_local struct {
    unsigned code;
    char sqlstate[6];
    char msg[512];
} last;

unsigned cio_mysql_errno(void) { return last.code; }
const char *cio_mysql_sqlstate(void) { return last.sqlstate; }
const char *cio_mysql_error(void) { return last.msg; }

int mysql__fail_plain(int rc)
{
    last.code = 0;
    snprintf(last.sqlstate, sizeof last.sqlstate, "HY000");
    snprintf(last.msg, sizeof last.msg, "%s", cio_strerror(rc));
    return rc;
}

/* The codes mysql__fail returns: the server's or library's error is
 * already recorded for cio_mysql_errno(); anything else is recorded by
 * mysql__fail_plain. */
static bool recorded(int rc) { return rc == CIO_EMYSQL || rc == -ECONNRESET || rc == -ECONNREFUSED; }

int mysql__fail(cio_mysql *c)
{
    last.code = mysql_errno(c->my);
    snprintf(last.sqlstate, sizeof last.sqlstate, "%s", mysql_sqlstate(c->my));
    snprintf(last.msg, sizeof last.msg, "%s", mysql_error(c->my));
    switch (last.code) {
    case CR_CONNECTION_ERROR: /* no unix socket */
    case CR_CONN_HOST_ERROR:  /* nothing listening on host:port */
        return -ECONNREFUSED;
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_SERVER_LOST_EXTENDED:
        return -ECONNRESET;
    default:
        return CIO_EMYSQL;
    }
}

/* ---- Driving the library from the loop --------------------------------- */

/* The library may close and open its socket while connecting: the loop
 * must not keep a registration of a number it no longer uses. */
static void watch(cio_mysql *c, int fd)
{
    if (c->fd != fd && c->fd >= 0)
        cio_fd_forget(c->loop, c->fd);
    c->fd = fd;
}

int mysql__wait(cio_mysql *c, int status)
{
    int fd = (int)mysql_get_socket(c->my);
    int ev = 0;
    if (status & (MYSQL_WAIT_READ | MYSQL_WAIT_EXCEPT))
        ev |= CIO_READABLE;
    if (status & MYSQL_WAIT_WRITE)
        ev |= CIO_WRITABLE;
    if (fd >= 0 && ev)
        watch(c, fd);
    else
        ev = 0;
    cio_timeout t;
    bool timed = status & MYSQL_WAIT_TIMEOUT;
    if (timed && cio_timeout_enter(&t, mysql_get_timeout_value_ms(c->my) / 1000.0) < 0)
        return CIO_ENOTASK;
    int rc = ev ? cio_wait_fd(fd, ev) : cio_sleep(timed ? 1e9 : 0);
    if (timed)
        rc = cio_timeout_exit(&t, rc);
    /* while connecting, the library may close its socket and open another
     * (the next address) under the same number: the loop's registration of
     * the old one must not be taken for one of the new one */
    if (c->connecting)
        watch(c, -1);
    if (rc == -ETIMEDOUT)
        return MYSQL_WAIT_TIMEOUT;
    if (rc < 0)
        return rc;
    int out = 0;
    if (rc & CIO_READABLE)
        out |= status & (MYSQL_WAIT_READ | MYSQL_WAIT_EXCEPT);
    if (rc & CIO_WRITABLE)
        out |= status & MYSQL_WAIT_WRITE;
    return out ? out : status & (MYSQL_WAIT_READ | MYSQL_WAIT_WRITE);
}

/* A connection whose protocol state is unknown (a call abandoned half way,
 * or the peer gone) cannot be used again: shut the socket now, so the
 * server sees the client leave, and refuse every later call. */
static void mark_broken(cio_mysql *c)
{
    if (c->broken)
        return;
    c->broken = true;
    watch(c, -1);
    int fd = (int)mysql_get_socket(c->my);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
}

int mysql__op_begin(cio_mysql *c, cio_timeout *t)
{
    if (!cio_current_task())
        return mysql__fail_plain(CIO_ENOTASK);
    if (c->broken)
        return mysql__fail_plain(-ENOTCONN);
    if (c->busy)
        return mysql__fail_plain(-EBUSY);
    if (c->query_timeout > 0 && cio_timeout_enter(t, c->query_timeout) < 0)
        return mysql__fail_plain(CIO_ENOTASK);
    c->busy = true;
    return 0;
}

int mysql__op_end(cio_mysql *c, cio_timeout *t, int rc)
{
    if (c->query_timeout > 0)
        rc = cio_timeout_exit(t, rc);
    c->busy = false;
    if (rc == -ECANCELED || rc == -ETIMEDOUT || rc == -ECONNRESET)
        mark_broken(c);
    if (rc < 0 && !recorded(rc))
        mysql__fail_plain(rc);
    return rc;
}

void mysql__destroy(cio_mysql *c)
{
    if (!c)
        return;
    watch(c, -1);
    /* healthy: mysql_close writes a few bytes of COM_QUIT to an idle
     * socket, which never blocks; broken: the socket is shut, the write
     * fails at once */
    mysql_close(c->my);
    free(c->scratch);
    free(c);
}

/* ---- Connecting --------------------------------------------------------- */

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void) { mysql_library_init(0, NULL, NULL); }

static int do_connect(cio_mysql *c, const cio_mysql_opts *o)
{
    const char *host = o->unix_socket ? "localhost" : o->host ? o->host : "127.0.0.1";
    MYSQL *ret = NULL;
    int rc;
    c->connecting = true;
    MYSQL__RUN(c, rc, ret,
               mysql_real_connect_start(&ret, c->my, host, o->user, o->password, o->db, o->port ? o->port : 3306,
                                        o->unix_socket, 0),
               mysql_real_connect_cont);
    c->connecting = false;
    if (rc < 0)
        return rc;
    if (!ret)
        return mysql__fail(c);
    my_bool b = 0;
    MYSQL__RUN(c, rc, b, mysql_autocommit_start(&b, c->my, o->autocommit), mysql_autocommit_cont);
    if (rc == 0 && b)
        rc = mysql__fail(c);
    return rc;
}

int cio_mysql_connect(const cio_mysql_opts *o, cio_mysql **out)
{
    *out = NULL;
    if (!o)
        return mysql__fail_plain(-EINVAL);
    if (!cio_current_task())
        return mysql__fail_plain(CIO_ENOTASK);
    pthread_once(&lib_once, lib_init);
    cio_mysql *c = calloc(1, sizeof *c);
    if (!c || !(c->my = mysql_init(NULL))) {
        free(c);
        return mysql__fail_plain(-ENOMEM);
    }
    c->loop = cio_loop_current();
    c->fd = -1;
    c->query_timeout = o->query_timeout;
    mysql_options(c->my, MYSQL_OPT_NONBLOCK, 0);
    mysql_options(c->my, MYSQL_SET_CHARSET_NAME, o->charset ? o->charset : "utf8mb4");
    double limit = o->connect_timeout == 0 ? 10 : o->connect_timeout;
    cio_timeout t;
    cio_timeout_enter(&t, limit);
    int rc = cio_timeout_exit(&t, do_connect(c, o));
    if (rc < 0) {
        if (!recorded(rc))
            mysql__fail_plain(rc);
        mark_broken(c);
        mysql__destroy(c);
        return rc;
    }
    *out = c;
    return 0;
}

void cio_mysql_close(cio_mysql *c) { mysql__destroy(c); }

bool cio_mysql_broken(const cio_mysql *c) { return c->broken; }

bool cio_mysql_in_transaction(const cio_mysql *c)
{
    unsigned st = 0;
    return !c->broken && mariadb_get_infov(c->my, MARIADB_CONNECTION_SERVER_STATUS, &st) == 0 &&
           (st & SERVER_STATUS_IN_TRANS);
}

/* ---- Simple calls ------------------------------------------------------- */

int cio_mysql_ping(cio_mysql *c)
{
    cio_timeout t;
    int rc = mysql__op_begin(c, &t), ret = 0;
    if (rc < 0)
        return rc;
    MYSQL__RUN(c, rc, ret, mysql_ping_start(&ret, c->my), mysql_ping_cont);
    if (rc == 0 && ret)
        rc = mysql__fail(c);
    return mysql__op_end(c, &t, rc);
}

/* commit, rollback and autocommit share their shape: a my_bool result. */
enum { TX_COMMIT, TX_ROLLBACK, TX_AUTOCOMMIT };
static int tx(cio_mysql *c, int what, bool on)
{
    cio_timeout t;
    int rc = mysql__op_begin(c, &t);
    if (rc < 0)
        return rc;
    my_bool b = 0;
    if (what == TX_COMMIT)
        MYSQL__RUN(c, rc, b, mysql_commit_start(&b, c->my), mysql_commit_cont);
    else if (what == TX_ROLLBACK)
        MYSQL__RUN(c, rc, b, mysql_rollback_start(&b, c->my), mysql_rollback_cont);
    else
        MYSQL__RUN(c, rc, b, mysql_autocommit_start(&b, c->my, on), mysql_autocommit_cont);
    if (rc == 0 && b)
        rc = mysql__fail(c);
    return mysql__op_end(c, &t, rc);
}

int cio_mysql_commit(cio_mysql *c) { return tx(c, TX_COMMIT, false); }
int cio_mysql_rollback(cio_mysql *c) { return tx(c, TX_ROLLBACK, false); }
int cio_mysql_autocommit(cio_mysql *c, bool on) { return tx(c, TX_AUTOCOMMIT, on); }
