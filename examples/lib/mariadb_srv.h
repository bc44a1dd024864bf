/* SPDX-License-Identifier: MIT */
/* A private MariaDB server for the tests, the benchmark and the title
 * crawler's --demo: a data directory made by mariadb-install-db in a fresh
 * temporary directory, mariadbd on its own unix socket and a free port of
 * 127.0.0.1, stopped (and its directory removed) by mariadb_srv_stop.
 * Nothing depends on a system-wide service.  Blocking calls, made before
 * and after the loop runs. */
#ifndef CIO_EXAMPLES_MARIADB_SRV_H
#define CIO_EXAMPLES_MARIADB_SRV_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct mariadb_srv {
    char dir[256];    /* the temporary directory (data, socket, log) */
    char socket[300]; /* unix socket path */
    int port;         /* TCP port on 127.0.0.1 */
    pid_t pid;        /* mariadbd, or 0 */
} mariadb_srv;

/* The user and database made for the clients (root keeps the socket). */
#define MARIADB_SRV_USER "cio"
#define MARIADB_SRV_PASSWORD "cio-secret"
#define MARIADB_SRV_DB "test"

/* Whether mariadbd and mariadb-install-db are installed. */
bool mariadb_srv_available(void);

/* Makes the directory under parent (NULL: $TMPDIR or /tmp), installs the
 * system tables, starts the server, waits until it answers (up to 120 s,
 * for a loaded machine) and creates MARIADB_SRV_USER with
 * MARIADB_SRV_PASSWORD and all rights on MARIADB_SRV_DB.  Returns 0, or -1
 * with a message on stderr (the server's log included) and nothing left
 * running.  The server dies with the calling process (PR_SET_PDEATHSIG). */
int mariadb_srv_start(mariadb_srv *s, const char *parent);

/* Runs one SQL statement as root through the socket (blocking client).
 * Returns 0 or -1 with a message on stderr. */
int mariadb_srv_sql(const mariadb_srv *s, const char *sql);

/* SIGKILL, as a crash: the server stops answering at once. */
void mariadb_srv_kill(mariadb_srv *s);

/* Stops the server (SIGTERM, then SIGKILL after 30 s) and removes the
 * directory.  Safe to call twice and on a server never started. */
void mariadb_srv_stop(mariadb_srv *s);

#endif
