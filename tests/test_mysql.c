/* SPDX-License-Identifier: MIT */
/* CIO_TEST: TIMEOUT=600 LABELS=mysql
 *
 * The MySQL/MariaDB client (src/mysql) against a real MariaDB server that
 * this program starts itself in a private directory under the build's
 * tests/ folder (examples/lib/mariadb_srv.c): values both ways (NULL,
 * binary, 64-bit integers, UTF-8, hostile strings), executemany in one
 * round trip, transactions, the pool (FIFO waiters, timeouts,
 * cancellation, guard, close/wait_closed, stale connections), and the
 * failure modes: wrong password, no server, SQL errors, query timeout, a
 * task cancelled mid-query, the server killed mid-query.  Exits 77 only
 * when mariadbd is not installed. */
#include "check.h"
#include "mariadb_srv.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static mariadb_srv srv;

static cio_mysql_opts tcp_opts(void)
{
    return (cio_mysql_opts){.host = "127.0.0.1", .port = (unsigned)srv.port, .user = MARIADB_SRV_USER,
                            .password = MARIADB_SRV_PASSWORD, .db = MARIADB_SRV_DB, .autocommit = true,
                            .connect_timeout = 60};
}

/* Runs sql on c and returns the first column of its first row as an
 * integer (-1 if none). */
static int64_t scalar(cio_mysql *c, const char *sql)
{
    cio_mysql_cursor *cur = cio_mysql_cursor_new(c);
    int64_t v = -1;
    const cio_mysql_value *row;
    int rc = cio_mysql_execute(cur, sql, NULL, 0);
    CHECK_EQ(rc, 0);
    if (rc == 0 && cio_mysql_fetchone(cur, &row) == 1 && row[0].type == CIO_MYSQL_INT)
        v = row[0].i;
    cio_mysql_cursor_close(cur);
    return v;
}

static cio_mysql *connect_ok(const cio_mysql_opts *o)
{
    cio_mysql *c = NULL;
    int rc = cio_mysql_connect(o, &c);
    CHECK_EQ(rc, 0);
    if (rc)
        fprintf(stderr, "  connect: %u %s\n", cio_mysql_errno(), cio_mysql_error());
    return c;
}

/* ---- Values ------------------------------------------------------------- */

static void *t_values(void *arg)
{
    (void)arg;
    cio_mysql_opts o = tcp_opts();
    cio_mysql *c = connect_ok(&o);
    if (!c)
        return NULL;
    cio_mysql_cursor *cur = cio_mysql_cursor_new(c);
    CHECK_EQ(cio_mysql_rowcount(cur), -1);
    CHECK_EQ(cio_mysql_execute(cur, "DROP TABLE IF EXISTS v", NULL, 0), 0);
    CHECK_EQ(cio_mysql_execute(cur,
                               "CREATE TABLE v (id BIGINT AUTO_INCREMENT PRIMARY KEY, big BIGINT, ubig BIGINT UNSIGNED, "
                               "d DOUBLE, t VARCHAR(100), b VARBINARY(100), n INT)",
                               NULL, 0),
         0);
    static const char bin[] = {0, '\'', '\\', 0x1a, (char)0xff, '"', 0, 'x'};
    const char *evil = "'); DROP TABLE v; -- \\' \" %s";
    const char *utf8 = "h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x8e\x89";
    cio_mysql_value p[] = {
        CIO_MYSQL_V_INT(INT64_MIN), {.type = CIO_MYSQL_UINT, .u = UINT64_MAX}, CIO_MYSQL_V_DOUBLE(0.1),
        CIO_MYSQL_V_TEXT(evil), CIO_MYSQL_V_BLOB(bin, sizeof bin), CIO_MYSQL_V_NULL,
    };
    CHECK_EQ(cio_mysql_execute(cur, "INSERT INTO v (big, ubig, d, t, b, n) VALUES (%s, %s, %s, %s, %s, %s)", p, 6), 0);
    CHECK_EQ(cio_mysql_rowcount(cur), 1);
    CHECK_EQ(cio_mysql_lastrowid(cur), 1);
    cio_mysql_value q[] = {CIO_MYSQL_V_INT((int64_t)1 << 40), CIO_MYSQL_V_TEXT(utf8)};
    CHECK_EQ(cio_mysql_execute(cur, "INSERT INTO v (big, t) VALUES (%s, %s)", q, 2), 0);
    CHECK_EQ(cio_mysql_lastrowid(cur), 2);

    CHECK_EQ(cio_mysql_execute(cur, "SELECT big, ubig, d, t, b, n, id FROM v ORDER BY id", NULL, 0), 0);
    CHECK_EQ(cio_mysql_rowcount(cur), 2);
    CHECK_EQ(cio_mysql_ncols(cur), 7);
    CHECK(strcmp(cio_mysql_colname(cur, 3), "t") == 0);
    CHECK(cio_mysql_colname(cur, 7) == NULL);
    const cio_mysql_value *r;
    CHECK_EQ(cio_mysql_fetchone(cur, &r), 1);
    CHECK(r[0].type == CIO_MYSQL_INT && r[0].i == INT64_MIN);
    CHECK(r[1].type == CIO_MYSQL_UINT && r[1].u == UINT64_MAX);
    CHECK(r[2].type == CIO_MYSQL_DOUBLE && r[2].d == 0.1);
    CHECK(r[3].type == CIO_MYSQL_TEXT && r[3].len == strlen(evil) && memcmp(r[3].s, evil, r[3].len) == 0);
    CHECK(r[4].type == CIO_MYSQL_BLOB && r[4].len == sizeof bin && memcmp(r[4].s, bin, sizeof bin) == 0);
    CHECK(r[5].type == CIO_MYSQL_NULL);
    CHECK_EQ(cio_mysql_fetchone(cur, &r), 1);
    CHECK(r[0].type == CIO_MYSQL_INT && r[0].i == (int64_t)1 << 40);
    CHECK(r[3].type == CIO_MYSQL_TEXT && strcmp(r[3].s, utf8) == 0);
    CHECK(r[1].type == CIO_MYSQL_NULL && r[4].type == CIO_MYSQL_NULL);
    CHECK_EQ(cio_mysql_fetchone(cur, &r), 0);
    CHECK_EQ(scalar(c, "SELECT CHAR_LENGTH(t) FROM v WHERE id = 2"), 10); /* characters, not bytes: utf8mb4 */

    /* fetchmany / fetchall over a longer result */
    CHECK_EQ(cio_mysql_execute(cur, "SELECT seq FROM seq_1_to_10", NULL, 0), 0);
    const cio_mysql_value *rows;
    CHECK_EQ(cio_mysql_fetchmany(cur, 3, &rows), 3);
    CHECK(rows[0].i == 1 && rows[2].i == 3);
    CHECK_EQ(cio_mysql_fetchone(cur, &r), 1);
    CHECK_EQ(r[0].i, 4);
    CHECK_EQ(cio_mysql_fetchall(cur, &rows), 6);
    CHECK(rows[0].i == 5 && rows[5].i == 10);
    CHECK_EQ(cio_mysql_fetchall(cur, &rows), 0);

    /* bad calls: placeholders and values must match; NaN has no literal */
    CHECK_EQ(cio_mysql_execute(cur, "SELECT %s, %s", p, 1), -EINVAL);
    CHECK_EQ(cio_mysql_execute(cur, "SELECT %s", p, 2), -EINVAL);
    CHECK_EQ(cio_mysql_execute(cur, "SELECT %d", p, 1), -EINVAL);
    cio_mysql_value nan = CIO_MYSQL_V_DOUBLE(NAN);
    CHECK_EQ(cio_mysql_execute(cur, "SELECT %s", &nan, 1), -EINVAL);
    cio_mysql_value pct = CIO_MYSQL_V_TEXT("a");
    CHECK_EQ(cio_mysql_execute(cur, "SELECT '100%%', %s", &pct, 1), 0);
    CHECK_EQ(cio_mysql_fetchone(cur, &r), 1);
    CHECK(strcmp(r[0].s, "100%") == 0 && strcmp(r[1].s, "a") == 0);
    CHECK_EQ(scalar(c, "SELECT COUNT(*) FROM v"), 2); /* the hostile string dropped nothing */
    CHECK_EQ(cio_mysql_ping(c), 0);
    cio_mysql_cursor_close(cur);
    cio_mysql_close(c);

    /* the same server through its unix socket */
    o = tcp_opts();
    o.host = NULL;
    o.port = 0;
    o.unix_socket = srv.socket;
    c = connect_ok(&o);
    if (c)
        CHECK_EQ(scalar(c, "SELECT COUNT(*) FROM v"), 2);
    cio_mysql_close(c);
    return NULL;
}

/* ---- executemany -------------------------------------------------------- */

static void *t_executemany(void *arg)
{
    (void)arg;
    cio_mysql_opts o = tcp_opts();
    cio_mysql *c = connect_ok(&o);
    if (!c)
        return NULL;
    cio_mysql_cursor *cur = cio_mysql_cursor_new(c);
    CHECK_EQ(cio_mysql_execute(cur, "DROP TABLE IF EXISTS m", NULL, 0), 0);
    CHECK_EQ(cio_mysql_execute(cur, "CREATE TABLE m (id INT PRIMARY KEY, title TEXT)", NULL, 0), 0);
    enum { N = 1000 };
    static cio_mysql_value rows[N * 2];
    static char titles[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(titles[i], sizeof titles[i], "title '%d'", i);
        rows[2 * i] = CIO_MYSQL_V_INT(i);
        rows[2 * i + 1] = CIO_MYSQL_V_TEXT(titles[i]);
    }
    /* one statement, so one round trip: the session's Questions counter
     * grows by 1 for it and 1 for the SHOW that reads it */
    int64_t q0 = -1, q1 = -1;
    const cio_mysql_value *r;
    CHECK_EQ(cio_mysql_execute(cur, "SHOW SESSION STATUS LIKE 'Questions'", NULL, 0), 0);
    if (cio_mysql_fetchone(cur, &r) == 1)
        q0 = strtoll(r[1].s, NULL, 10);
    CHECK_EQ(cio_mysql_executemany(cur, "insert into m (id, title) values (%s, %s);", rows, N, 2), 0);
    CHECK_EQ(cio_mysql_rowcount(cur), N);
    CHECK_EQ(cio_mysql_execute(cur, "SHOW SESSION STATUS LIKE 'Questions'", NULL, 0), 0);
    if (cio_mysql_fetchone(cur, &r) == 1)
        q1 = strtoll(r[1].s, NULL, 10);
    CHECK_EQ(q1 - q0, 2);
    CHECK_EQ(scalar(c, "SELECT COUNT(*) FROM m WHERE title = CONCAT('title ''', id, '''')"), N);

    /* ON DUPLICATE KEY UPDATE rides along; rowcount counts 2 per updated row */
    CHECK_EQ(cio_mysql_executemany(cur, "INSERT INTO m VALUES (%s,%s) ON DUPLICATE KEY UPDATE title = 'dup'", rows, 3,
                                   2),
             0);
    CHECK_EQ(cio_mysql_rowcount(cur), 6);
    CHECK_EQ(scalar(c, "SELECT COUNT(*) FROM m WHERE title = 'dup'"), 3);
    /* ... also when the update says VALUES(col): still one statement */
    CHECK_EQ(cio_mysql_execute(cur, "SHOW SESSION STATUS LIKE 'Questions'", NULL, 0), 0);
    if (cio_mysql_fetchone(cur, &r) == 1)
        q0 = strtoll(r[1].s, NULL, 10);
    CHECK_EQ(cio_mysql_executemany(cur, "INSERT INTO m VALUES (%s,%s) ON DUPLICATE KEY UPDATE title = VALUES(title)",
                                   rows, 3, 2),
             0);
    CHECK_EQ(cio_mysql_execute(cur, "SHOW SESSION STATUS LIKE 'Questions'", NULL, 0), 0);
    if (cio_mysql_fetchone(cur, &r) == 1)
        q1 = strtoll(r[1].s, NULL, 10);
    CHECK_EQ(q1 - q0, 2);
    CHECK_EQ(scalar(c, "SELECT COUNT(*) FROM m WHERE title = 'dup'"), 0);

    /* more than 1 MB of SQL: split into several statements, nothing lost */
    static char big[2000];
    memset(big, 'x', sizeof big - 1);
    for (int i = 0; i < N; i++) {
        rows[2 * i] = CIO_MYSQL_V_INT(N + i);
        rows[2 * i + 1] = CIO_MYSQL_V_TEXT(big);
    }
    CHECK_EQ(cio_mysql_executemany(cur, "INSERT INTO m (id, title) VALUES (%s, %s)", rows, N, 2), 0);
    CHECK_EQ(cio_mysql_rowcount(cur), N);
    CHECK_EQ(scalar(c, "SELECT COUNT(*) FROM m"), 2 * N);

    /* any other statement: once per row, rowcount summed */
    cio_mysql_value ids[] = {CIO_MYSQL_V_INT(1), CIO_MYSQL_V_INT(2), CIO_MYSQL_V_INT(-5)};
    CHECK_EQ(cio_mysql_executemany(cur, "UPDATE m SET title = 'u' WHERE id = %s", ids, 3, 1), 0);
    CHECK_EQ(cio_mysql_rowcount(cur), 2);
    /* an error in a batch: the server's code */
    CHECK_EQ(cio_mysql_executemany(cur, "INSERT INTO m (id, title) VALUES (%s, %s)", rows, 2, 2), CIO_EMYSQL);
    CHECK_EQ(cio_mysql_errno(), 1062);
    CHECK_EQ(cio_mysql_executemany(cur, "INSERT INTO m (id, title) VALUES (%s, %s)", rows, 0, 2), 0);
    CHECK_EQ(cio_mysql_rowcount(cur), 0);
    cio_mysql_cursor_close(cur);
    cio_mysql_close(c);
    return NULL;
}

/* ---- Transactions and SQL errors ---------------------------------------- */

static void *t_transactions(void *arg)
{
    (void)arg;
    cio_mysql_opts o = tcp_opts();
    o.autocommit = false; /* aiomysql's default */
    cio_mysql *c = connect_ok(&o);
    if (!c)
        return NULL;
    cio_mysql_cursor *cur = cio_mysql_cursor_new(c);
    CHECK_EQ(cio_mysql_execute(cur, "DROP TABLE IF EXISTS tx", NULL, 0), 0);
    CHECK_EQ(cio_mysql_execute(cur, "CREATE TABLE tx (a INT) ENGINE=InnoDB", NULL, 0), 0);
    CHECK(!cio_mysql_in_transaction(c));
    CHECK_EQ(cio_mysql_execute(cur, "INSERT INTO tx VALUES (1)", NULL, 0), 0);
    CHECK(cio_mysql_in_transaction(c));
    CHECK_EQ(cio_mysql_rollback(c), 0);
    CHECK(!cio_mysql_in_transaction(c));
    CHECK_EQ(scalar(c, "SELECT COUNT(*) FROM tx"), 0);
    CHECK_EQ(cio_mysql_execute(cur, "INSERT INTO tx VALUES (2)", NULL, 0), 0);
    CHECK_EQ(cio_mysql_commit(c), 0);
    CHECK_EQ(cio_mysql_autocommit(c, true), 0);
    CHECK_EQ(scalar(c, "SELECT CAST(SUM(a) AS SIGNED) FROM tx"), 2);

    /* SQL errors carry the server's code, SQLSTATE and message; the
     * connection stays usable */
    CHECK_EQ(cio_mysql_execute(cur, "SELEC 1", NULL, 0), CIO_EMYSQL);
    CHECK_EQ(cio_mysql_errno(), 1064);
    CHECK(strcmp(cio_mysql_sqlstate(), "42000") == 0);
    CHECK(strstr(cio_mysql_error(), "SQL syntax") != NULL);
    CHECK_EQ(cio_mysql_execute(cur, "SELECT * FROM no_such_table", NULL, 0), CIO_EMYSQL);
    CHECK_EQ(cio_mysql_errno(), 1146);
    CHECK(strstr(cio_mysql_error(), "no_such_table") != NULL);
    CHECK(!cio_mysql_broken(c));
    CHECK_EQ(cio_mysql_ping(c), 0);
    cio_mysql_cursor_close(cur);
    cio_mysql_close(c);
    return NULL;
}

/* ---- Connect failures --------------------------------------------------- */

static void *t_connect_failures(void *arg)
{
    (void)arg;
    cio_mysql *c = NULL;
    cio_mysql_opts o = tcp_opts();
    o.password = "wrong";
    CHECK_EQ(cio_mysql_connect(&o, &c), CIO_EMYSQL);
    CHECK(c == NULL);
    CHECK_EQ(cio_mysql_errno(), 1045);
    CHECK(strstr(cio_mysql_error(), "Access denied") != NULL);
    cio_mysql_pool *p = NULL;
    CHECK_EQ(cio_mysql_pool_create(&o, &p), CIO_EMYSQL);
    CHECK(p == NULL);
    CHECK_EQ(cio_mysql_errno(), 1045);

    o = tcp_opts();
    o.db = "no_such_db";
    CHECK_EQ(cio_mysql_connect(&o, &c), CIO_EMYSQL);
    CHECK_EQ(cio_mysql_errno(), 1049);

    /* nothing listening: a port of ours that we do not accept on */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &al) == 0);
    o = tcp_opts();
    o.port = ntohs(a.sin_port);
    CHECK_EQ(cio_mysql_connect(&o, &c), -ECONNREFUSED);
    close(fd);
    o = tcp_opts();
    o.unix_socket = "/nonexistent/mysql.sock";
    CHECK_EQ(cio_mysql_connect(&o, &c), -ECONNREFUSED);

    /* a server that accepts but never speaks: connect_timeout */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    a = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 4) == 0 &&
          getsockname(fd, (struct sockaddr *)&a, &al) == 0);
    o = tcp_opts();
    o.port = ntohs(a.sin_port);
    o.connect_timeout = 0.2;
    double t0 = cio_time();
    CHECK_EQ(cio_mysql_connect(&o, &c), -ETIMEDOUT);
    CHECK(cio_time() - t0 >= 0.19);
    close(fd);
    return NULL;
}

/* ---- Timeouts and cancellation mid-query -------------------------------- */

/* Waits (up to 60 s) until no session runs a query containing marker: the
 * server noticed that the client went away. */
static void wait_query_gone(cio_mysql *admin, const char *marker)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE '%%%s%%' AND id <> CONNECTION_ID()",
             marker);
    int64_t n = -1;
    for (int i = 0; i < 600 && (n = scalar(admin, sql)) != 0; i++)
        cio_sleep(0.1);
    CHECK_EQ(n, 0);
}

static void *t_query_timeout(void *arg)
{
    (void)arg;
    cio_mysql_opts o = tcp_opts();
    cio_mysql *admin = connect_ok(&o);
    o.query_timeout = 0.3;
    cio_mysql *c = connect_ok(&o);
    if (!c || !admin)
        return NULL;
    cio_mysql_cursor *cur = cio_mysql_cursor_new(c);
    double t0 = cio_time();
    CHECK_EQ(cio_mysql_execute(cur, "SELECT SLEEP(30) /* qt-marker */", NULL, 0), -ETIMEDOUT);
    CHECK(cio_time() - t0 >= 0.29);
    CHECK(cio_mysql_broken(c));
    CHECK_EQ(cio_mysql_execute(cur, "SELECT 1", NULL, 0), -ENOTCONN);
    CHECK_EQ(cio_mysql_ping(c), -ENOTCONN);
    wait_query_gone(admin, "qt-marker");
    cio_mysql_cursor_close(cur);
    cio_mysql_close(c);
    cio_mysql_close(admin);
    return NULL;
}

typedef struct sleeper {
    cio_mysql_pool *pool;
    int rc;
    int64_t conn_id;
    const char *sql;
} sleeper;

static void *sleeper_task(void *arg)
{
    sleeper *s = arg;
    CIO_GUARD(g);
    cio_mysql *c;
    if ((s->rc = cio_mysql_pool_guard(s->pool, CIO_NO_TIMEOUT, &c, &g)) < 0)
        return NULL;
    s->conn_id = scalar(c, "SELECT CONNECTION_ID()");
    cio_mysql_cursor *cur = cio_mysql_cursor_new(c);
    s->rc = cio_mysql_execute(cur, s->sql, NULL, 0);
    cio_mysql_cursor_close(cur);
    cio_task_catch_cancel();
    return NULL;
}

/* Waits until the server runs a query containing marker. */
static void wait_query_running(cio_mysql *admin, const char *marker)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE '%%%s%%' AND id <> CONNECTION_ID()",
             marker);
    int64_t n = 0;
    for (int i = 0; i < 600 && (n = scalar(admin, sql)) != 1; i++)
        cio_sleep(0.05);
    CHECK_EQ(n, 1);
}

static void *t_cancel_mid_query(void *arg)
{
    (void)arg;
    cio_mysql_opts o = tcp_opts();
    cio_mysql *admin = connect_ok(&o);
    o.minsize = 1;
    o.maxsize = 1;
    cio_mysql_pool *p = NULL;
    CHECK_EQ(cio_mysql_pool_create(&o, &p), 0);
    if (!p || !admin)
        return NULL;
    sleeper s = {.pool = p, .sql = "SELECT SLEEP(30) /* cancel-marker */"};
    cio_task *t = cio_spawn(sleeper_task, &s);
    wait_query_running(admin, "cancel-marker");
    cio_cancel(t, NULL);
    cio_await(t, NULL);
    CHECK_EQ(s.rc, -ECANCELED);
    /* the connection was dropped, not pooled: the next one is new and clean */
    CHECK_EQ(cio_mysql_pool_size(p), 0);
    CHECK_EQ(cio_mysql_pool_freesize(p), 0);
    cio_mysql *c = NULL;
    CHECK_EQ(cio_mysql_pool_acquire(p, 60, &c), 0);
    if (c) {
        CHECK(scalar(c, "SELECT CONNECTION_ID()") != s.conn_id);
        CHECK_EQ(scalar(c, "SELECT 7"), 7);
        CHECK_EQ(cio_mysql_pool_release(p, c), 0);
        CHECK_EQ(cio_mysql_pool_release(p, c), -EINVAL);
    }
    wait_query_gone(admin, "cancel-marker");
    cio_release(t);
    cio_mysql_pool_close(p);
    CHECK_EQ(cio_mysql_pool_wait_closed(p), 0);
    cio_mysql_pool_free(p);
    cio_mysql_close(admin);
    return NULL;
}

/* ---- The pool ----------------------------------------------------------- */

typedef struct waiter {
    cio_mysql_pool *pool;
    int id;
    double timeout;
    int rc;
} waiter;

static void *waiter_task(void *arg)
{
    waiter *w = arg;
    cio_mysql *c;
    w->rc = cio_mysql_pool_acquire(w->pool, w->timeout, &c);
    if (w->rc < 0) {
        cio_task_catch_cancel();
        return NULL;
    }
    order_push(w->id);
    cio_sleep(0.01);
    cio_mysql_pool_release(w->pool, c);
    return NULL;
}

static void *t_pool(void *arg)
{
    (void)arg;
    cio_mysql_opts o = tcp_opts();
    o.minsize = 2;
    o.maxsize = 2;
    cio_mysql_pool *p = NULL;
    CHECK_EQ(cio_mysql_pool_create(&o, &p), 0);
    if (!p)
        return NULL;
    CHECK_EQ(cio_mysql_pool_size(p), 2);
    CHECK_EQ(cio_mysql_pool_freesize(p), 2);
    cio_mysql *a, *b;
    CHECK_EQ(cio_mysql_pool_acquire(p, CIO_NO_TIMEOUT, &a), 0);
    CHECK_EQ(cio_mysql_pool_acquire(p, CIO_NO_TIMEOUT, &b), 0);
    CHECK_EQ(cio_mysql_pool_freesize(p), 0);
    /* exhausted: a timeout, then FIFO waiters, one of them cancelled */
    cio_mysql *x = NULL;
    CHECK_EQ(cio_mysql_pool_acquire(p, 0.05, &x), -ETIMEDOUT);
    CHECK(x == NULL);
    order_reset();
    waiter w[4];
    cio_task *t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (waiter){.pool = p, .id = i + 1, .timeout = CIO_NO_TIMEOUT};
        t[i] = cio_spawn(waiter_task, &w[i]);
    }
    cio_sleep(0.01);
    CHECK_EQ(cio_mysql_pool_waiters(p), 4);
    cio_cancel(t[1], NULL);
    cio_sleep(0.01);
    CHECK_EQ(w[1].rc, -ECANCELED);
    CHECK_EQ(cio_mysql_pool_waiters(p), 3);
    CHECK_EQ(cio_mysql_pool_release(p, a), 0);
    for (int i = 0; i < 4; i++)
        cio_await(t[i], NULL);
    CHECK_ORDER(1, 3, 4);
    CHECK_EQ(cio_mysql_pool_size(p), 2);
    /* only a connection in use can be released */
    CHECK_EQ(cio_mysql_pool_release(p, NULL), -EINVAL);

    /* a free connection the server closed is not handed out: b kills a's
     * session, a goes back on top of the free list and is dropped by the
     * next acquire, which gets b */
    CHECK_EQ(cio_mysql_pool_acquire(p, CIO_NO_TIMEOUT, &a), 0);
    int64_t ida = scalar(a, "SELECT CONNECTION_ID()");
    char kill_sql[64];
    snprintf(kill_sql, sizeof kill_sql, "KILL %lld", (long long)ida);
    cio_mysql_cursor *cur = cio_mysql_cursor_new(b);
    CHECK_EQ(cio_mysql_execute(cur, kill_sql, NULL, 0), 0);
    cio_mysql_cursor_close(cur);
    int64_t idb = scalar(b, "SELECT CONNECTION_ID()");
    CHECK_EQ(cio_mysql_pool_release(p, b), 0);
    CHECK_EQ(cio_mysql_pool_release(p, a), 0);
    CHECK_EQ(cio_mysql_pool_freesize(p), 2);
    for (int i = 0; i < 100; i++) /* the server closes the socket soon after the KILL */
        cio_sleep(0.01);
    CHECK_EQ(cio_mysql_pool_acquire(p, CIO_NO_TIMEOUT, &b), 0);
    CHECK_EQ(scalar(b, "SELECT CONNECTION_ID()"), idb);
    CHECK_EQ(cio_mysql_pool_size(p), 1);

    /* a transaction left open is not handed to the next user */
    CHECK_EQ(cio_mysql_autocommit(b, false), 0);
    CHECK_EQ(scalar(b, "SELECT COUNT(*) FROM v"), 2);
    CHECK_EQ(cio_mysql_pool_release(p, b), 0);
    CHECK_EQ(cio_mysql_pool_size(p), 0); /* closed, not pooled */

    /* close: no more acquires; wait_closed until the last one comes back */
    CHECK_EQ(cio_mysql_pool_wait_closed(p), CIO_EINVALSTATE);
    {
        CIO_GUARD(g);
        CHECK_EQ(cio_mysql_pool_guard(p, CIO_NO_TIMEOUT, &a, &g), 0);
        cio_mysql_pool_close(p);
        CHECK_EQ(cio_mysql_pool_acquire(p, CIO_NO_TIMEOUT, &b), CIO_EINVALSTATE);
        CHECK_EQ(cio_mysql_pool_size(p), 1);
    }
    CHECK_EQ(cio_mysql_pool_wait_closed(p), 0);
    CHECK_EQ(cio_mysql_pool_size(p), 0);
    cio_mysql_pool_free(p);
    for (int i = 0; i < 4; i++)
        cio_release(t[i]);
    return NULL;
}

/* Waiters parked when the pool closes get CIO_EINVALSTATE, all of them. */
static void *t_pool_close_wakes(void *arg)
{
    (void)arg;
    cio_mysql_opts o = tcp_opts();
    o.maxsize = 1;
    cio_mysql_pool *p = NULL;
    CHECK_EQ(cio_mysql_pool_create(&o, &p), 0);
    if (!p)
        return NULL;
    cio_mysql *a;
    CHECK_EQ(cio_mysql_pool_acquire(p, CIO_NO_TIMEOUT, &a), 0);
    waiter w[3];
    cio_task *t[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (waiter){.pool = p, .id = i, .timeout = CIO_NO_TIMEOUT};
        t[i] = cio_spawn(waiter_task, &w[i]);
    }
    cio_sleep(0.01);
    cio_mysql_pool_close(p);
    for (int i = 0; i < 3; i++) {
        cio_await(t[i], NULL);
        CHECK_EQ(w[i].rc, CIO_EINVALSTATE);
        cio_release(t[i]);
    }
    CHECK_EQ(cio_mysql_pool_release(p, a), 0);
    CHECK_EQ(cio_mysql_pool_wait_closed(p), 0);
    cio_mysql_pool_free(p);
    return NULL;
}

/* One call at a time on a connection. */
static bool busy_started;
static void *busy_task(void *arg)
{
    cio_mysql_cursor *cur = cio_mysql_cursor_new(arg);
    busy_started = true; /* the execute below marks the connection busy before it first suspends */
    int rc = cio_mysql_execute(cur, "SELECT SLEEP(0.3)", NULL, 0);
    CHECK_EQ(rc, 0);
    cio_mysql_cursor_close(cur);
    return NULL;
}

static void *t_busy(void *arg)
{
    (void)arg;
    cio_mysql_opts o = tcp_opts();
    cio_mysql *c = connect_ok(&o);
    if (!c)
        return NULL;
    busy_started = false;
    cio_task *t = cio_spawn(busy_task, c);
    while (!busy_started)
        cio_yield();
    CHECK_EQ(cio_mysql_ping(c), -EBUSY);
    CHECK(!cio_done(t));
    cio_await(t, NULL);
    cio_release(t);
    CHECK_EQ(cio_mysql_ping(c), 0);
    cio_mysql_close(c);
    return NULL;
}

/* ---- The server killed mid-query (last: it ends the server) ------------- */

static void *t_server_killed(void *arg)
{
    (void)arg;
    cio_mysql_opts o = tcp_opts();
    cio_mysql *admin = connect_ok(&o);
    o.maxsize = 2;
    cio_mysql_pool *p = NULL;
    CHECK_EQ(cio_mysql_pool_create(&o, &p), 0);
    if (!p || !admin)
        return NULL;
    sleeper s = {.pool = p, .sql = "SELECT SLEEP(30) /* kill-marker */"};
    cio_task *t = cio_spawn(sleeper_task, &s);
    wait_query_running(admin, "kill-marker");
    mariadb_srv_kill(&srv);
    cio_await(t, NULL);
    cio_release(t);
    CHECK_EQ(s.rc, -ECONNRESET);
    CHECK(cio_mysql_errno() == 2013 || cio_mysql_errno() == 2006 || cio_mysql_errno() == 0);
    CHECK_EQ(cio_mysql_pool_size(p), 0); /* dropped, never back in the pool */
    cio_mysql *c = NULL;
    CHECK_EQ(cio_mysql_pool_acquire(p, 5, &c), -ECONNREFUSED);
    CHECK_EQ(cio_mysql_pool_size(p), 0);
    CHECK_EQ(cio_mysql_ping(admin), -ECONNRESET);
    CHECK(cio_mysql_broken(admin));
    cio_mysql_close(admin);
    cio_mysql_pool_close(p);
    CHECK_EQ(cio_mysql_pool_wait_closed(p), 0);
    cio_mysql_pool_free(p);
    return NULL;
}

static void stop_server(void) { mariadb_srv_stop(&srv); }

int main(void)
{
    if (!mariadb_srv_available()) {
        fprintf(stderr, "skipped: mariadbd is not installed (scripts/deps.sh installs mariadb-server)\n");
        return 77;
    }
    if (mariadb_srv_start(&srv, NULL) < 0)
        return 1;
    atexit(stop_server);
    RUN_TASK_TEST(t_values);
    RUN_TASK_TEST(t_executemany);
    RUN_TASK_TEST(t_transactions);
    RUN_TASK_TEST(t_connect_failures);
    RUN_TASK_TEST(t_query_timeout);
    RUN_TASK_TEST(t_cancel_mid_query);
    RUN_TASK_TEST(t_pool);
    RUN_TASK_TEST(t_pool_close_wakes);
    RUN_TASK_TEST(t_busy);
    RUN_TASK_TEST(t_server_killed);
    return check_exit();
}
