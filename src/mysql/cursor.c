/* SPDX-License-Identifier: MIT */
/* Cursors (aiomysql.Cursor): %s parameters formatted into escaped
 * literals, execute, executemany batched into multi-row INSERTs, and the
 * buffered result's rows as cio_mysql_value arrays. */
#include "mysql/mysql.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cio_mysql_cursor {
    cio_mysql *c;
    MYSQL_RES *res;
    cio_mysql_value *vals; /* nrows * ncols */
    size_t nrows, ncols, pos;
    int64_t rowcount;
    uint64_t lastrowid;
};

/* aiomysql's Cursor.max_stmt_length: the SQL of one multi-row INSERT. */
#define MAX_STMT_LENGTH 1024000

/* ---- A growing SQL text ------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static int sb_reserve(sbuf *b, size_t more)
{
    if (b->n + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + more + 1) {
        if (cap > SIZE_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p)
        return -ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int sb_add(sbuf *b, const char *s, size_t n)
{
    if (sb_reserve(b, n) < 0)
        return -ENOMEM;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

/* The connection's buffer for SQL text: reused by every call, so a point
 * select allocates nothing for its statement; one grown past 64 KiB (a
 * big executemany) is given back rather than kept. */
static sbuf sb_take(cio_mysql *c)
{
    sbuf b = {c->scratch, 0, c->scratch_cap};
    c->scratch = NULL;
    c->scratch_cap = 0;
    return b;
}

static void sb_give(cio_mysql *c, sbuf *b)
{
    if (b->cap > 64 * 1024 || c->scratch) {
        free(b->p);
        return;
    }
    c->scratch = b->p;
    c->scratch_cap = b->cap;
}

/* ---- Parameters --------------------------------------------------------- */

/* An integer in decimal (printf's machinery was a fifth of a point
 * select's formatting). */
static int decimal(sbuf *b, bool neg, uint64_t u)
{
    char num[24], *p = num + sizeof num;
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10));
    if (neg)
        *--p = '-';
    return sb_add(b, p, (size_t)(num + sizeof num - p));
}

/* One value as an SQL literal: escaped by the library (it knows the
 * connection's character set and the server's NO_BACKSLASH_ESCAPES), hex
 * for binary data, so no value can end its literal early. */
static int literal(cio_mysql *c, sbuf *b, const cio_mysql_value *v)
{
    char num[32];
    static const char hex[] = "0123456789ABCDEF";
    switch (v->type) {
    case CIO_MYSQL_NULL:
        return sb_add(b, "NULL", 4);
    case CIO_MYSQL_INT: /* the magnitude as unsigned, so INT64_MIN negates */
        return decimal(b, v->i < 0, v->i < 0 ? 0 - (uint64_t)v->i : (uint64_t)v->i);
    case CIO_MYSQL_UINT:
        return decimal(b, false, v->u);
    case CIO_MYSQL_DOUBLE:
        if (!isfinite(v->d))
            return -EINVAL;
        return sb_add(b, num, (size_t)snprintf(num, sizeof num, "%.17g", v->d));
    case CIO_MYSQL_TEXT:
        if (!v->s && v->len)
            return -EINVAL;
        if (v->len > (SIZE_MAX - 3) / 2 || sb_reserve(b, 2 * v->len + 3) < 0)
            return -ENOMEM;
        b->p[b->n++] = '\'';
        b->n += mysql_real_escape_string(c->my, b->p + b->n, v->s ? v->s : "", (unsigned long)v->len);
        b->p[b->n++] = '\'';
        b->p[b->n] = 0;
        return 0;
    case CIO_MYSQL_BLOB:
        if (!v->s && v->len)
            return -EINVAL;
        if (v->len > (SIZE_MAX - 4) / 2 || sb_reserve(b, 2 * v->len + 3) < 0)
            return -ENOMEM;
        b->p[b->n++] = 'X';
        b->p[b->n++] = '\'';
        for (size_t i = 0; i < v->len; i++) {
            b->p[b->n++] = hex[(unsigned char)v->s[i] >> 4];
            b->p[b->n++] = hex[(unsigned char)v->s[i] & 15];
        }
        return sb_add(b, "'", 1);
    default:
        return -EINVAL;
    }
}

/* sql[0..len) with its %s placeholders replaced by the n values, "%%" by
 * '%'; any other '%' sequence, or a count that does not match, is -EINVAL
 * (Python's `query % args` raises likewise). */
static int format(cio_mysql *c, sbuf *b, const char *sql, size_t len, const cio_mysql_value *v, size_t n)
{
    size_t used = 0;
    for (size_t i = 0; i < len; i++) {
        size_t j = i;
        while (j < len && sql[j] != '%')
            j++;
        if (sb_add(b, sql + i, j - i) < 0)
            return -ENOMEM;
        if (j == len)
            break;
        if (j + 1 < len && sql[j + 1] == '%') {
            if (sb_add(b, "%", 1) < 0)
                return -ENOMEM;
        } else if (j + 1 < len && sql[j + 1] == 's' && used < n) {
            int rc = literal(c, b, &v[used++]);
            if (rc < 0)
                return rc;
        } else {
            return -EINVAL;
        }
        i = j + 1;
    }
    return used == n ? 0 : -EINVAL;
}

/* ---- Results ------------------------------------------------------------ */

static void clear_result(cio_mysql_cursor *cur)
{
    if (cur->res)
        mysql_free_result(cur->res);
    free(cur->vals);
    cur->res = NULL;
    cur->vals = NULL;
    cur->nrows = cur->ncols = cur->pos = 0;
}

static bool is_integer(enum enum_field_types t)
{
    return t == MYSQL_TYPE_TINY || t == MYSQL_TYPE_SHORT || t == MYSQL_TYPE_LONG || t == MYSQL_TYPE_INT24 ||
           t == MYSQL_TYPE_LONGLONG || t == MYSQL_TYPE_YEAR;
}

/* A field of the text protocol as a typed value; the text stays in s. */
static cio_mysql_value field_value(const MYSQL_FIELD *f, const char *s, unsigned long len)
{
    cio_mysql_value v = {.type = CIO_MYSQL_TEXT, .s = s, .len = len};
    if (!s)
        return (cio_mysql_value){.type = CIO_MYSQL_NULL};
    if (is_integer(f->type)) {
        errno = 0;
        v.type = CIO_MYSQL_INT;
        v.i = strtoll(s, NULL, 10);
        if (errno == ERANGE) { /* an unsigned BIGINT above INT64_MAX */
            v.type = CIO_MYSQL_UINT;
            v.u = strtoull(s, NULL, 10);
        }
    } else if (f->type == MYSQL_TYPE_FLOAT || f->type == MYSQL_TYPE_DOUBLE) {
        v.type = CIO_MYSQL_DOUBLE;
        v.d = strtod(s, NULL);
    } else if (f->charsetnr == 63 && f->type != MYSQL_TYPE_NEWDECIMAL && f->type != MYSQL_TYPE_DECIMAL &&
               (f->flags & BINARY_FLAG) && !(f->type >= MYSQL_TYPE_TIMESTAMP && f->type <= MYSQL_TYPE_DATETIME)) {
        v.type = CIO_MYSQL_BLOB; /* charset 63 is "binary": BLOB, BINARY, VARBINARY */
    }
    return v;
}

/* Converts the buffered result set into rows of values. */
static int load_rows(cio_mysql_cursor *cur)
{
    cur->ncols = mysql_num_fields(cur->res);
    cur->nrows = (size_t)mysql_num_rows(cur->res);
    if (cur->nrows && cur->ncols > SIZE_MAX / sizeof(cio_mysql_value) / cur->nrows)
        return -ENOMEM;
    cur->vals = calloc(cur->nrows * cur->ncols + 1, sizeof(cio_mysql_value));
    if (!cur->vals)
        return -ENOMEM;
    MYSQL_FIELD *f = mysql_fetch_fields(cur->res);
    for (size_t r = 0; r < cur->nrows; r++) {
        MYSQL_ROW row = mysql_fetch_row(cur->res); /* buffered: never blocks */
        unsigned long *len = mysql_fetch_lengths(cur->res);
        if (!row || !len)
            return -EIO;
        for (size_t i = 0; i < cur->ncols; i++)
            cur->vals[r * cur->ncols + i] = field_value(&f[i], row[i], len[i]);
    }
    cur->rowcount = (int64_t)cur->nrows;
    return 0;
}

/* Sends one statement and buffers its whole result. */
static int run_query(cio_mysql_cursor *cur, const char *q, size_t len)
{
    cio_mysql *c = cur->c;
    int rc, err = 0;
    MYSQL__RUN(c, rc, err, mysql_real_query_start(&err, c->my, q, (unsigned long)len), mysql_real_query_cont);
    if (rc < 0)
        return rc;
    if (err)
        return mysql__fail(c);
    MYSQL_RES *res = NULL;
    MYSQL__RUN(c, rc, res, mysql_store_result_start(&res, c->my), mysql_store_result_cont);
    if (rc < 0)
        return rc;
    if (!res) {
        if (mysql_field_count(c->my))
            return mysql__fail(c); /* a result set was due but could not be read */
        cur->rowcount = (int64_t)mysql_affected_rows(c->my);
        cur->lastrowid = mysql_insert_id(c->my);
        return 0;
    }
    cur->res = res;
    return load_rows(cur);
}

/* ---- Public calls ------------------------------------------------------- */

cio_mysql_cursor *cio_mysql_cursor_new(cio_mysql *c)
{
    cio_mysql_cursor *cur = calloc(1, sizeof *cur);
    if (!cur) {
        errno = ENOMEM;
        return NULL;
    }
    cur->c = c;
    cur->rowcount = -1;
    return cur;
}

void cio_mysql_cursor_close(cio_mysql_cursor *cur)
{
    if (!cur)
        return;
    clear_result(cur);
    free(cur);
}

int cio_mysql_execute(cio_mysql_cursor *cur, const char *sql, const cio_mysql_value *params, size_t nparams)
{
    if (!sql || (nparams && !params))
        return mysql__fail_plain(-EINVAL);
    cio_timeout t;
    int rc = mysql__op_begin(cur->c, &t);
    if (rc < 0)
        return rc;
    clear_result(cur);
    cur->rowcount = -1;
    cur->lastrowid = 0;
    sbuf b = sb_take(cur->c);
    rc = params ? format(cur->c, &b, sql, strlen(sql), params, nparams) : 0;
    if (rc == 0)
        rc = params ? run_query(cur, b.p, b.n) : run_query(cur, sql, strlen(sql));
    sb_give(cur->c, &b);
    return mysql__op_end(cur->c, &t, rc);
}

/* Whether sql[row..] is "(%s, ...)" then nothing, "ON DUPLICATE ..." or
 * ';'s and spaces; sets *tail and *end (the tail without its ';'s). */
static bool row_then_tail(const char *sql, size_t row, size_t *tail, size_t *end)
{
    const char *q = sql + row + 1;
    for (bool want_ph = true;; want_ph = !want_ph) {
        while (isspace((unsigned char)*q))
            q++;
        if (want_ph && q[0] == '%' && q[1] == 's')
            q += 2;
        else if (!want_ph && *q == ',')
            q++;
        else if (!want_ph && *q == ')')
            break;
        else
            return false;
    }
    *tail = (size_t)(++q - sql);
    size_t n = strlen(sql);
    while (n > *tail && (isspace((unsigned char)sql[n - 1]) || sql[n - 1] == ';'))
        n--;
    while (isspace((unsigned char)*q))
        q++;
    *end = n;
    return (size_t)(q - sql) >= n || strncasecmp(q, "on duplicate", 12) == 0;
}

/* The parts of "INSERT ... VALUES (%s, ...) [ON DUPLICATE ...][;]" around
 * its row: [0, *row) is the head, [*row, *tail) the row, [*tail, *end)
 * the tail.  Like aiomysql's RE_INSERT_VALUES (a greedy match), the last
 * VALUE(S) keyword that fits wins, so "... ON DUPLICATE KEY UPDATE
 * a = VALUES(a)" still batches.  false for other statements. */
static bool split_insert(const char *sql, size_t *row, size_t *tail, size_t *end)
{
    const char *p = sql;
    while (isspace((unsigned char)*p))
        p++;
    if (strncasecmp(p, "insert", 6) && strncasecmp(p, "replace", 7))
        return false;
    for (const char *v = sql + strlen(sql); v-- > p;) {
        if (strncasecmp(v, "value", 5) || isalnum((unsigned char)v[-1]) || v[-1] == '_')
            continue;
        const char *q = v + 5 + (tolower((unsigned char)v[5]) == 's');
        while (isspace((unsigned char)*q))
            q++;
        *row = (size_t)(q - sql);
        if (*q == '(' && row_then_tail(sql, *row, tail, end))
            return true;
    }
    return false;
}

/* The multi-row INSERTs: as many rows per statement as fit in
 * MAX_STMT_LENGTH (at least one). */
static int insert_batched(cio_mysql_cursor *cur, const char *sql, size_t row, size_t tail, size_t end,
                          const cio_mysql_value *rows, size_t nrows, size_t ncols)
{
    int64_t total = 0;
    sbuf b = sb_take(cur->c);
    int rc = 0;
    for (size_t r = 0; r < nrows && rc == 0;) {
        b.n = 0;
        rc = sb_add(&b, sql, row);
        for (size_t first = r; rc == 0 && r < nrows; r++) {
            size_t mark = b.n; /* a row that does not fit is taken back */
            if ((r > first && (rc = sb_add(&b, ",", 1)) < 0) ||
                (rc = format(cur->c, &b, sql + row, tail - row, rows + r * ncols, ncols)) < 0)
                break;
            if (r > first && b.n + (end - tail) > MAX_STMT_LENGTH) {
                b.n = mark;
                break;
            }
        }
        if (rc == 0 && (rc = sb_add(&b, sql + tail, end - tail)) == 0 && (rc = run_query(cur, b.p, b.n)) == 0)
            total += cur->rowcount;
    }
    sb_give(cur->c, &b);
    cur->rowcount = total;
    return rc;
}

int cio_mysql_executemany(cio_mysql_cursor *cur, const char *sql, const cio_mysql_value *rows, size_t nrows,
                          size_t ncols)
{
    if (!sql || (nrows && ncols && !rows))
        return mysql__fail_plain(-EINVAL);
    cio_timeout t;
    int rc = mysql__op_begin(cur->c, &t);
    if (rc < 0)
        return rc;
    clear_result(cur);
    cur->rowcount = 0;
    cur->lastrowid = 0;
    size_t row, tail, end;
    if (nrows && split_insert(sql, &row, &tail, &end)) {
        rc = insert_batched(cur, sql, row, tail, end, rows, nrows, ncols);
    } else {
        int64_t total = 0;
        sbuf b = sb_take(cur->c);
        for (size_t r = 0; r < nrows && rc == 0; r++) {
            b.n = 0;
            clear_result(cur);
            if ((rc = format(cur->c, &b, sql, strlen(sql), rows + r * ncols, ncols)) == 0 &&
                (rc = run_query(cur, b.p, b.n)) == 0)
                total += cur->rowcount;
        }
        sb_give(cur->c, &b);
        cur->rowcount = total;
    }
    clear_result(cur);
    return mysql__op_end(cur->c, &t, rc);
}

size_t cio_mysql_fetchmany(cio_mysql_cursor *cur, size_t n, const cio_mysql_value **rows)
{
    size_t left = cur->nrows - cur->pos;
    if (n == 0)
        n = 1;
    if (n > left)
        n = left;
    *rows = cur->vals ? cur->vals + cur->pos * cur->ncols : NULL;
    cur->pos += n;
    return n;
}

int cio_mysql_fetchone(cio_mysql_cursor *cur, const cio_mysql_value **row)
{
    return cio_mysql_fetchmany(cur, 1, row) == 1;
}

size_t cio_mysql_fetchall(cio_mysql_cursor *cur, const cio_mysql_value **rows)
{
    return cio_mysql_fetchmany(cur, cur->nrows - cur->pos ? cur->nrows - cur->pos : 1, rows);
}

int64_t cio_mysql_rowcount(const cio_mysql_cursor *cur) { return cur->rowcount; }
uint64_t cio_mysql_lastrowid(const cio_mysql_cursor *cur) { return cur->lastrowid; }
size_t cio_mysql_ncols(const cio_mysql_cursor *cur) { return cur->ncols; }

const char *cio_mysql_colname(const cio_mysql_cursor *cur, size_t i)
{
    return cur->res && i < cur->ncols ? mysql_fetch_fields(cur->res)[i].name : NULL;
}
