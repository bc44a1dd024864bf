/* SPDX-License-Identifier: MIT */
/* mysql: the MySQL client (src/mysql) under load, next to the blocking C
 * client used from threads; bench/mysql.sh adds Python's aiomysql and
 * runs all three against one private MariaDB.
 *
 *   mysql serve            starts a private MariaDB (examples/lib/mariadb_srv.c),
 *                          fills bench.kv (10000 rows) and warms bench.bulk
 *                          (200000 rows), prints `socket=PATH`,
 *                          and stops it when stdin reaches EOF
 *   mysql cio SOCKET       50 tasks over a pool of 10: point selects, then
 *                          bulk inserts with executemany (100 rows each)
 *   mysql threads SOCKET   the same work from 10 threads, each with its own
 *                          blocking connection (libmariadb), the inserts as
 *                          hand-built multi-row INSERTs
 *
 * A client prints `select=QPS select_cpu=US insert=ROWS_PER_S insert_cpu=US`:
 * queries (rows) per second of wall time, and the client process's CPU time
 * (user + system, getrusage) per query and per executemany of 100 rows.
 * Env: BENCH_MYSQL_SELECTS (default 20000), BENCH_MYSQL_BATCHES (1000).
 */
#include "bench_common.h"
#include "cio.h"
#include "mariadb_srv.h"

#include <mysql.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

enum { TASKS = 50, POOL = 10, THREADS = 10, ROWS = 100, KEYS = 10000 };

static unsigned long n_select, n_batch;
static const char *sock;

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

typedef struct figure {
    double wall, cpu;
} figure;

static figure fig_select, fig_insert;
static int failed;

/* ---- cio ----------------------------------------------------------------- */

static cio_mysql_pool *pool;

static void *select_task(void *arg)
{
    uint64_t rnd = (uintptr_t)arg * 7919 + 1;
    for (unsigned long i = 0; i < n_select / TASKS; i++) {
        CIO_GUARD(g);
        cio_mysql *c;
        if (cio_mysql_pool_guard(pool, CIO_NO_TIMEOUT, &c, &g) < 0)
            return failed = 1, NULL;
        cio_mysql_cursor *cur = cio_mysql_cursor_new(c);
        cio_mysql_value id = CIO_MYSQL_V_INT((int64_t)(bench_rnd(&rnd) % KEYS) + 1);
        const cio_mysql_value *row;
        if (cio_mysql_execute(cur, "SELECT v FROM kv WHERE id = %s", &id, 1) < 0 || cio_mysql_fetchone(cur, &row) != 1)
            failed = 1;
        cio_mysql_cursor_close(cur);
    }
    return NULL;
}

static void *insert_task(void *arg)
{
    cio_mysql_value rows[ROWS * 2];
    for (unsigned long b = 0; b < n_batch / TASKS; b++) {
        for (int r = 0; r < ROWS; r++) {
            rows[2 * r] = CIO_MYSQL_V_INT((int64_t)((uintptr_t)arg * 1000000 + b * ROWS + (unsigned long)r));
            rows[2 * r + 1] = CIO_MYSQL_V_TEXT("a bulk row's text, 'quoted'");
        }
        CIO_GUARD(g);
        cio_mysql *c;
        if (cio_mysql_pool_guard(pool, CIO_NO_TIMEOUT, &c, &g) < 0)
            return failed = 1, NULL;
        cio_mysql_cursor *cur = cio_mysql_cursor_new(c);
        if (cio_mysql_executemany(cur, "INSERT INTO bulk (a, s) VALUES (%s, %s)", rows, ROWS, 2) < 0)
            failed = 1;
        cio_mysql_cursor_close(cur);
    }
    return NULL;
}

static void run_tasks(cio_task_fn fn, figure *f)
{
    cio_task *t[TASKS];
    double c0 = cpu_s();
    uint64_t t0 = bench_now_ns();
    for (uintptr_t i = 0; i < TASKS; i++)
        t[i] = cio_spawn(fn, (void *)i);
    for (int i = 0; i < TASKS; i++) {
        cio_await(t[i], NULL);
        cio_release(t[i]);
    }
    f->wall = (double)(bench_now_ns() - t0) / 1e9;
    f->cpu = cpu_s() - c0;
}

static void *cio_main(void *arg)
{
    (void)arg;
    cio_mysql_opts o = {.unix_socket = sock, .user = MARIADB_SRV_USER, .password = MARIADB_SRV_PASSWORD,
                        .db = "bench", .autocommit = true, .minsize = POOL, .maxsize = POOL};
    if (cio_mysql_pool_create(&o, &pool) < 0) {
        fprintf(stderr, "pool: %s\n", cio_mysql_error());
        return failed = 1, NULL;
    }
    run_tasks(select_task, &fig_select);
    run_tasks(insert_task, &fig_insert);
    cio_mysql_pool_close(pool);
    cio_mysql_pool_wait_closed(pool);
    cio_mysql_pool_free(pool);
    return NULL;
}

/* ---- blocking client, one connection per thread ------------------------- */

static MYSQL *blocking_connect(void)
{
    MYSQL *m = mysql_init(NULL);
    mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (!mysql_real_connect(m, NULL, MARIADB_SRV_USER, MARIADB_SRV_PASSWORD, "bench", 0, sock, 0)) {
        fprintf(stderr, "connect: %s\n", mysql_error(m));
        failed = 1;
    }
    return m;
}

static void *select_thread(void *arg)
{
    MYSQL *m = blocking_connect();
    uint64_t rnd = (uintptr_t)arg * 7919 + 1;
    char q[80];
    for (unsigned long i = 0; !failed && i < n_select / THREADS; i++) {
        snprintf(q, sizeof q, "SELECT v FROM kv WHERE id = %d", (int)(bench_rnd(&rnd) % KEYS) + 1);
        MYSQL_RES *r = mysql_query(m, q) == 0 ? mysql_store_result(m) : NULL;
        if (!r || !mysql_fetch_row(r))
            failed = 1;
        mysql_free_result(r);
    }
    mysql_close(m);
    return NULL;
}

static void *insert_thread(void *arg)
{
    MYSQL *m = blocking_connect();
    static const char text[] = "a bulk row's text, 'quoted'";
    char esc[2 * sizeof text + 1];
    size_t cap = ROWS * (sizeof esc + 40) + 64;
    char *q = malloc(cap);
    for (unsigned long b = 0; q && !failed && b < n_batch / THREADS; b++) {
        size_t n = (size_t)snprintf(q, cap, "INSERT INTO bulk (a, s) VALUES ");
        for (int r = 0; r < ROWS; r++) {
            mysql_real_escape_string(m, esc, text, sizeof text - 1); /* each value, as a client must */
            n += (size_t)snprintf(q + n, cap - n, "%s(%lu, '%s')", r ? "," : "",
                                  (unsigned long)((uintptr_t)arg * 1000000 + b * ROWS + (unsigned long)r) + 500000000ul,
                                  esc);
        }
        if (mysql_real_query(m, q, n) != 0)
            failed = 1;
    }
    free(q);
    mysql_close(m);
    return NULL;
}

static void run_threads(void *(*fn)(void *), figure *f)
{
    pthread_t th[THREADS];
    double c0 = cpu_s();
    uint64_t t0 = bench_now_ns();
    for (uintptr_t i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, fn, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    f->wall = (double)(bench_now_ns() - t0) / 1e9;
    f->cpu = cpu_s() - c0;
}

/* ---- the server ------------------------------------------------------------ */

static int serve(void)
{
    mariadb_srv srv;
    if (mariadb_srv_start(&srv, NULL) < 0)
        return 1;
    int rc = mariadb_srv_sql(&srv, "CREATE DATABASE bench") |
             mariadb_srv_sql(&srv, "CREATE TABLE bench.kv (id INT PRIMARY KEY, v VARCHAR(64))") |
             mariadb_srv_sql(&srv, "INSERT INTO bench.kv SELECT seq, CONCAT('value ', seq) FROM bench.seq_1_to_10000") |
             mariadb_srv_sql(&srv, "CREATE TABLE bench.bulk (id BIGINT AUTO_INCREMENT PRIMARY KEY, a BIGINT, "
                                   "s VARCHAR(64))") |
             /* warm: the first client would otherwise pay for the new
              * table's first extents and log writes */
             mariadb_srv_sql(&srv, "INSERT INTO bench.bulk (a, s) SELECT seq, 'warm-up row' FROM "
                                   "bench.seq_1_to_200000");
    if (rc == 0) {
        printf("socket=%s\n", srv.socket);
        fflush(stdout);
        char buf[64];
        while (read(0, buf, sizeof buf) > 0)
            ;
    }
    mariadb_srv_stop(&srv);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "serve") == 0)
        return serve();
    if (argc != 3 || (strcmp(argv[1], "cio") && strcmp(argv[1], "threads"))) {
        fprintf(stderr, "usage: %s serve | cio SOCKET | threads SOCKET\n", argv[0]);
        return 2;
    }
    sock = argv[2];
    n_select = bench_env_ul("BENCH_MYSQL_SELECTS", 20000);
    n_batch = bench_env_ul("BENCH_MYSQL_BATCHES", 1000);
    n_select -= n_select % (TASKS * THREADS);
    n_batch -= n_batch % (TASKS * THREADS);
    if (!n_select || !n_batch)
        return 2;
    if (strcmp(argv[1], "cio") == 0) {
        if (cio_run(cio_main, NULL, NULL) < 0)
            failed = 1;
    } else {
        mysql_library_init(0, NULL, NULL);
        run_threads(select_thread, &fig_select);
        run_threads(insert_thread, &fig_insert);
    }
    if (failed)
        return 1;
    printf("select=%.0f select_cpu=%.1f insert=%.0f insert_cpu=%.1f\n", n_select / fig_select.wall,
           fig_select.cpu / n_select * 1e6, n_batch * ROWS / fig_insert.wall, fig_insert.cpu / n_batch * 1e6);
    return 0;
}
