/* SPDX-License-Identifier: MIT */
/* A private MariaDB server: see mariadb_srv.h. */
#include "mariadb_srv.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <mysql.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const mariadbd_paths[] = {"/usr/sbin/mariadbd", "/usr/sbin/mysqld", "/usr/libexec/mariadbd"};

static const char *find_mariadbd(void)
{
    for (size_t i = 0; i < sizeof mariadbd_paths / sizeof *mariadbd_paths; i++)
        if (access(mariadbd_paths[i], X_OK) == 0)
            return mariadbd_paths[i];
    return NULL;
}

static const char *find_install_db(void)
{
    static const char *const p[] = {"/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db"};
    for (size_t i = 0; i < 2; i++)
        if (access(p[i], X_OK) == 0)
            return p[i];
    return NULL;
}

bool mariadb_srv_available(void) { return find_mariadbd() && find_install_db(); }

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A port that was free a moment ago (the server is retried on another one
 * if it is taken meanwhile). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* fork + exec argv with stdout/stderr to log; the child dies with us. */
static pid_t spawn(char *const argv[], const char *log)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    int null = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
    }
    if (null >= 0)
        dup2(null, 0);
    execv(argv[0], argv);
    _exit(127);
}

static void print_log(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f))
        fprintf(stderr, "  | %s", line);
    fclose(f);
}

static int install(mariadb_srv *s)
{
    char datadir[300], log[300], arg_dd[320], arg_tmp[320];
    snprintf(datadir, sizeof datadir, "%s/data", s->dir);
    snprintf(log, sizeof log, "%s/install.log", s->dir);
    snprintf(arg_dd, sizeof arg_dd, "--datadir=%s", datadir);
    /* the bootstrap server's temporary tables in our directory, as the
     * server's own (--tmpdir below): in the shared /tmp, one of them once
     * vanished under a bootstrap while other servers ran ("Could not remove
     * temporary table ... error: 2", the install failing) */
    snprintf(arg_tmp, sizeof arg_tmp, "--tmpdir=%s", s->dir);
    char *argv[] = {(char *)find_install_db(), "--no-defaults", arg_dd, arg_tmp,
                    "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve",
                    geteuid() == 0 ? "--user=root" : "--force", NULL};
    pid_t pid = spawn(argv, log);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "mariadb-install-db failed (status %d); its log:\n", st);
        print_log(log);
        return -1;
    }
    return 0;
}

/* Starts mariadbd and waits until its socket answers; 1 if the port was
 * taken (retry), 0, -1. */
static int launch(mariadb_srv *s)
{
    char a[8][360];
    snprintf(a[0], sizeof a[0], "--datadir=%s/data", s->dir);
    snprintf(a[1], sizeof a[1], "--socket=%s", s->socket);
    snprintf(a[2], sizeof a[2], "--port=%d", s->port);
    snprintf(a[3], sizeof a[3], "--pid-file=%s/mariadbd.pid", s->dir);
    snprintf(a[4], sizeof a[4], "--log-error=%s/error.log", s->dir);
    snprintf(a[5], sizeof a[5], "--tmpdir=%s", s->dir);
    char *argv[] = {(char *)find_mariadbd(), "--no-defaults", a[0], a[1], a[2], a[3], a[4], a[5],
                    "--bind-address=127.0.0.1", "--skip-name-resolve", "--innodb-buffer-pool-size=32M",
                    "--innodb-log-file-size=16M", "--innodb-flush-log-at-trx-commit=2", "--skip-log-bin",
                    "--performance-schema=OFF", "--max-connections=500", geteuid() == 0 ? "--user=root" : "--skip-ssl",
                    NULL};
    char log[300];
    snprintf(log, sizeof log, "%s/error.log", s->dir);
    s->pid = spawn(argv, log);
    if (s->pid < 0) {
        s->pid = 0;
        return -1;
    }
    for (double end = now() + 120; now() < end;) {
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            FILE *f = fopen(log, "r");
            char buf[4096] = "";
            size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
            buf[n] = 0;
            if (f)
                fclose(f);
            if (strstr(buf, "Address already in use"))
                return 1;
            fprintf(stderr, "mariadbd exited during start-up; its log:\n");
            print_log(log);
            return -1;
        }
        MYSQL *m = mysql_init(NULL);
        bool up = m && mysql_real_connect(m, NULL, "root", "", NULL, 0, s->socket, 0);
        mysql_close(m);
        if (up)
            return 0;
        usleep(50 * 1000);
    }
    fprintf(stderr, "mariadbd did not answer within 120 s; its log:\n");
    print_log(log);
    return -1;
}

int mariadb_srv_sql(const mariadb_srv *s, const char *sql)
{
    MYSQL *m = mysql_init(NULL);
    int rc = -1;
    if (m && mysql_real_connect(m, NULL, "root", "", NULL, 0, s->socket, 0) && mysql_query(m, sql) == 0)
        rc = 0;
    else
        fprintf(stderr, "mariadb_srv_sql(%s): %s\n", sql, m ? mysql_error(m) : "out of memory");
    if (m) {
        MYSQL_RES *r = mysql_store_result(m);
        if (r)
            mysql_free_result(r);
        mysql_close(m);
    }
    return rc;
}

int mariadb_srv_start(mariadb_srv *s, const char *parent)
{
    memset(s, 0, sizeof *s);
    if (!mariadb_srv_available()) {
        fprintf(stderr, "mariadbd or mariadb-install-db is not installed\n");
        return -1;
    }
    if (!parent)
        parent = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    /* short: a unix socket path has room for 107 bytes */
    snprintf(s->dir, sizeof s->dir, "%s/mdb.XXXXXX", parent);
    if (strlen(s->dir) > 90 || !mkdtemp(s->dir)) {
        snprintf(s->dir, sizeof s->dir, "/tmp/mdb.XXXXXX");
        if (!mkdtemp(s->dir)) {
            perror("mkdtemp");
            s->dir[0] = 0;
            return -1;
        }
    }
    snprintf(s->socket, sizeof s->socket, "%s/sock", s->dir);
    int rc = install(s);
    for (int tries = 0; rc == 0 && tries < 5; tries++) {
        s->port = free_port();
        if ((rc = launch(s)) != 1)
            break;
    }
    if (rc == 0)
        rc = mariadb_srv_sql(s, "CREATE DATABASE " MARIADB_SRV_DB " CHARACTER SET utf8mb4");
    if (rc == 0)
        rc = mariadb_srv_sql(s, "CREATE USER '" MARIADB_SRV_USER "'@'%' IDENTIFIED BY '" MARIADB_SRV_PASSWORD "'");
    if (rc == 0)
        rc = mariadb_srv_sql(s, "GRANT ALL ON *.* TO '" MARIADB_SRV_USER "'@'%'");
    if (rc != 0) {
        mariadb_srv_stop(s);
        return -1;
    }
    return 0;
}

void mariadb_srv_kill(mariadb_srv *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

void mariadb_srv_stop(mariadb_srv *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        int st;
        double end = now() + 30;
        pid_t r;
        while ((r = waitpid(s->pid, &st, WNOHANG)) == 0 && now() < end)
            usleep(20 * 1000);
        if (r == s->pid)
            s->pid = 0; /* reaped: its number may be reused */
        mariadb_srv_kill(s);
    }
    if (s->dir[0])
        nftw(s->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    s->dir[0] = 0;
}
