/* SPDX-License-Identifier: MIT */
/* title_crawler: article 004's aiomysql exercise, ported function by
 * function: a crawler that collects the article titles of a site and
 * stores them in MySQL/MariaDB through a connection pool with
 * executemany.
 *
 *   request(url, client)        GET; the response if 200, else nothing
 *   filter_link(link)           the regex ^/.*\/.* (POSIX)
 *   extract_urls(response)      XPath .//a/@href, filtered, urljoin'ed onto
 *                               start_url, appended to waiting_url
 *   extract_title(pool, resp)   XPath .//h3[@class='info-title shuang']//text(),
 *                               inserted with executemany through the pool
 *   consumer(pool)              pops waiting_url, visits each URL once
 *   init_urls(start_url)        fills waiting_url from the start page
 *   main(loop)                  creates the pool, runs init_urls then consumer
 *
 * One difference: the article's consumer never ends (when the queue is
 * empty it prints its line and calls asyncio.sleep(3) without await, so it
 * spins); with one consumer nothing can refill the queue, so the port
 * prints the same line and stops there.
 *
 *     title_crawler [--demo] [--pages N]       the default: a private site and MariaDB
 *     title_crawler START_URL [--db-host H] [--db-port P] [--db-socket PATH]
 *                   [--db-user U] [--db-password P] [--db-name D]
 *
 * --demo starts the generated local site (examples/lib/site.c) and a
 * private MariaDB in a temporary directory (examples/lib/mariadb_srv.c),
 * crawls, prints the article's lines and a summary, and stops both. */
#include "crawl.h"
#include "mariadb_srv.h"

#include <errno.h>
#include <libxml/HTMLparser.h>
#include <libxml/xpath.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The article's globals ---------------------------------------------- */

static bool STARTING = true;     /* 消费模型判断变量 */
static const char *start_url;    /* 起始url */
static strset visited_url;       /* 已访问过的url */
static char **waiting_url;       /* 待访问的url (a list used as a stack: pop() takes the last) */
static size_t n_waiting, cap_waiting;
static const char *const user_agent =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/86.0.4240.198 "
    "Safari/537.36";

static cio_mysql_opts db = {.host = "127.0.0.1", .port = 3306, .user = "root", .db = "test", .autocommit = true};
static regex_t link_re;
static size_t pages_fetched, titles_stored; /* for the summary */

static bool waiting_append(const char *url)
{
    if (n_waiting == cap_waiting) {
        size_t cap = cap_waiting ? cap_waiting * 2 : 64;
        char **nu = realloc(waiting_url, cap * sizeof *nu);
        if (!nu)
            return false;
        waiting_url = nu;
        cap_waiting = cap;
    }
    return (waiting_url[n_waiting] = strdup(url)) != NULL && ++n_waiting;
}

/* ---- request, filter_link, extract_urls, extract_title ------------------- */

/* 发包程序: the response when the status is 200, else NULL; a failed
 * request prints the article's line. */
static cio_http_client_response *request(const char *url, cio_http_session *client)
{
    cio_http_client_response *r = NULL;
    if (cio_http_get(client, url, &r) < 0) {
        printf("访问出错url >>%s\n", url);
        return NULL;
    }
    if (cio_http_client_response_status(r) == 200) {
        pages_fetched++;
        return r;
    }
    cio_http_client_response_free(r);
    return NULL;
}

/* 过滤规则,过滤出 /test/aa.html 之类的url: re.findall("^/.*\/.*", link) */
static bool filter_link(const char *link) { return regexec(&link_re, link, 0, NULL, 0) == 0; }

/* The nodes an XPath expression selects relative to the document's root
 * element, as lxml's tree.xpath(".//...") on etree.HTML(text).  The
 * caller frees the document and the result. */
static xmlXPathObjectPtr xpath(const cio_http_client_response *r, const char *expr, htmlDocPtr *doc)
{
    size_t len;
    const char *body = cio_http_client_response_body(r, &len);
    *doc = htmlReadMemory(body, (int)len, cio_http_client_response_url(r), "utf-8",
                          HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET);
    if (!*doc || !xmlDocGetRootElement(*doc))
        return NULL;
    xmlXPathContextPtr ctx = xmlXPathNewContext(*doc);
    if (!ctx)
        return NULL;
    ctx->node = xmlDocGetRootElement(*doc);
    xmlXPathObjectPtr res = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
    xmlXPathFreeContext(ctx);
    return res;
}

static size_t nodes(xmlXPathObjectPtr res) { return res && res->nodesetval ? (size_t)res->nodesetval->nodeNr : 0; }

/* 从响应体中提取a标签的连接: the links that pass filter_link, joined onto
 * start_url and appended to waiting_url.  Returns how many (0: False). */
static size_t extract_urls(const cio_http_client_response *r)
{
    htmlDocPtr doc;
    xmlXPathObjectPtr a_links = xpath(r, ".//a/@href", &doc);
    size_t urls = 0;
    for (size_t i = 0; i < nodes(a_links); i++) {
        xmlChar *href = xmlNodeGetContent(a_links->nodesetval->nodeTab[i]);
        if (href && filter_link((const char *)href)) {
            char *u = crawl_urljoin(start_url, (const char *)href);
            urls += u && waiting_append(u);
            free(u);
        }
        xmlFree(href);
    }
    xmlXPathFreeObject(a_links);
    xmlFreeDoc(doc);
    return urls;
}

/* Python's repr() of a str, for printing a list as the article does. */
static void print_repr(const char *s)
{
    char q = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';
    putchar(q);
    for (; *s; s++) {
        if (*s == q || *s == '\\')
            printf("\\%c", *s);
        else if (*s == '\n' || *s == '\r' || *s == '\t')
            printf("\\%c", *s == '\n' ? 'n' : *s == '\r' ? 'r' : 't');
        else
            putchar(*s);
    }
    putchar(q);
}

/* 提取响应体的文章标题: prints them, inserts them with executemany through
 * a connection of the pool.  Returns how many titles (0: False) or a
 * negative code. */
static ssize_t extract_title(cio_mysql_pool *pool, const cio_http_client_response *r)
{
    htmlDocPtr doc;
    xmlXPathObjectPtr a_title = xpath(r, ".//h3[@class='info-title shuang']//text()", &doc);
    size_t n = nodes(a_title);
    ssize_t rc = (ssize_t)n;
    if (n > 0) {
        char **text = calloc(n, sizeof *text);
        cio_mysql_value *insert_content = calloc(n, sizeof *insert_content);
        printf("标题结果为[");
        for (size_t k = 0; text && insert_content && k < n; k++) {
            text[k] = (char *)xmlNodeGetContent(a_title->nodesetval->nodeTab[k]);
            insert_content[k] = CIO_MYSQL_V_TEXT(text[k] ? text[k] : "");
            printf(k ? ", " : "");
            print_repr(insert_content[k].s);
        }
        printf("],url是%s\n", cio_http_client_response_url(r));
        CIO_GUARD(g); /* async with pool.acquire() as conn */
        cio_mysql *conn;
        int err = text && insert_content ? cio_mysql_pool_guard(pool, CIO_NO_TIMEOUT, &conn, &g) : -ENOMEM;
        if (err == 0) {
            cio_mysql_cursor *cur = cio_mysql_cursor_new(conn); /* async with conn.cursor() as cur */
            const char *sql = "insert into aiotest (title) values (%s);";
            err = cur ? cio_mysql_executemany(cur, sql, insert_content, n, 1) : -ENOMEM;
            if (err == 0)
                titles_stored += (size_t)cio_mysql_rowcount(cur);
            cio_mysql_cursor_close(cur);
        }
        if (err < 0) {
            fprintf(stderr, "title_crawler: insert: %s (%u %s)\n", cio_strerror(err), cio_mysql_errno(),
                    cio_mysql_error());
            rc = err;
        }
        for (size_t k = 0; text && k < n; k++)
            xmlFree(text[k]);
        free(text);
        free(insert_content);
    }
    xmlXPathFreeObject(a_title);
    xmlFreeDoc(doc);
    return rc;
}

/* ---- consumer, init_urls, main ------------------------------------------- */

/* waiting_url 列表模拟了一个队列: visits each URL once, extracting its
 * links and titles. */
static void *consumer(void *arg)
{
    cio_mysql_pool *pool = arg;
    cio_http_session *client2 = cio_http_session_new(&(cio_http_session_opts){.user_agent = user_agent});
    if (!client2)
        return cio_fail(-errno, "http session");
    int err = 0;
    while (STARTING && err == 0) {
        if (n_waiting == 0) {
            printf("消费队列已空,等3秒\n");
            STARTING = false; /* see the top comment: nothing can refill it */
            continue;
        }
        char *prepare_visit_url = waiting_url[--n_waiting];
        if (!strset_has(&visited_url, prepare_visit_url)) {
            printf("准备访问:%s\n", prepare_visit_url);
            strset_add(&visited_url, prepare_visit_url);
            cio_http_client_response *url_response = request(prepare_visit_url, client2);
            size_t len = 0;
            if (url_response && (cio_http_client_response_body(url_response, &len), len > 10)) {
                extract_urls(url_response);
                ssize_t response = extract_title(pool, url_response);
                if (response > 0)
                    printf("<Response [%d %s]>获取的title%zd个\n", cio_http_client_response_status(url_response),
                           cio_http_client_response_reason(url_response), response);
                else if (response == 0)
                    printf("url:%s 未获取标题\n", prepare_visit_url);
                else
                    err = (int)response;
            }
            cio_http_client_response_free(url_response);
        }
        free(prepare_visit_url);
    }
    cio_http_session_free(client2);
    return err < 0 ? cio_fail(err, NULL) : NULL;
}

/* 刚开始没有请求的url: the start page's links fill waiting_url. */
static void *init_urls(void *arg)
{
    cio_http_session *client = cio_http_session_new(NULL);
    if (!client)
        return cio_fail(-errno, "http session");
    printf("起始url开始抓取\n");
    cio_http_client_response *response = request(arg, client);
    if (response)
        extract_urls(response);
    cio_http_client_response_free(response);
    cio_http_session_free(client);
    return NULL;
}

/* 调度器: the pool, then init_urls and consumer, each awaited.  Returns the
 * pool (still open) for the summary, or NULL. */
static int article_main(cio_mysql_pool **out)
{
    cio_mysql_pool *pool;
    int rc = cio_mysql_pool_create(&db, &pool);
    if (rc < 0) {
        fprintf(stderr, "title_crawler: create_pool: %s (%u %s)\n", cio_strerror(rc), cio_mysql_errno(),
                cio_mysql_error());
        return rc;
    }
    cio_task_fn steps[] = {init_urls, consumer};
    void *args[] = {(void *)start_url, pool};
    for (int i = 0; i < 2 && rc == 0; i++) {
        cio_task *t = cio_spawn(steps[i], args[i]); /* await asyncio.ensure_future(...) */
        rc = t ? cio_await(t, NULL) : -errno;
        cio_release(t);
    }
    *out = pool;
    return rc;
}

/* ---- The program around it ------------------------------------------------ */

typedef struct run {
    size_t pages; /* --demo: the site's size */
    int rc;
} run;

static int64_t count_rows(cio_mysql_pool *pool)
{
    CIO_GUARD(g);
    cio_mysql *c;
    int64_t n = -1;
    if (cio_mysql_pool_guard(pool, 30, &c, &g) < 0)
        return -1;
    cio_mysql_cursor *cur = cio_mysql_cursor_new(c);
    const cio_mysql_value *row;
    if (cur && cio_mysql_execute(cur, "SELECT COUNT(*) FROM aiotest", NULL, 0) == 0 &&
        cio_mysql_fetchone(cur, &row) == 1)
        n = row[0].i;
    cio_mysql_cursor_close(cur);
    return n;
}

static void *serve(void *srv)
{
    cio_http_server_serve_forever(srv);
    cio_task_catch_cancel();
    return NULL;
}

static void *main_task(void *arg)
{
    run *r = arg;
    cio_http_server *srv = NULL;
    cio_task *site = NULL;
    char url[64];
    if (r->pages) {
        int port;
        if ((r->rc = crawl_site_start(r->pages, &srv, &port)) < 0)
            return NULL;
        site = cio_spawn(serve, srv);
        snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
        start_url = url;
    }
    cio_mysql_pool *pool = NULL;
    r->rc = article_main(&pool);
    if (pool) {
        int64_t rows = count_rows(pool);
        printf("summary: %zu pages fetched, %zu titles stored, %lld rows in aiotest\n", pages_fetched, titles_stored,
               (long long)rows);
        cio_mysql_pool_close(pool);
        cio_mysql_pool_wait_closed(pool);
        cio_mysql_pool_free(pool);
    }
    if (site) {
        cio_cancel(site, NULL);
        cio_await(site, NULL);
        cio_release(site);
        cio_http_server_free(srv);
    }
    return NULL;
}

static int usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--demo] [--pages N]\n"
            "       %s START_URL [--db-host H] [--db-port P] [--db-socket PATH] [--db-user U] [--db-password P] "
            "[--db-name D]\n",
            argv0, argv0);
    return 2;
}

int main(int argc, char **argv)
{
    run r = {.pages = 60};
    bool demo = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--demo") == 0)
            demo = true;
        else if (a[0] != '-' && !start_url)
            start_url = a, demo = false;
        else if (!v)
            return usage(argv[0]);
        else if (strcmp(a, "--pages") == 0 && (r.pages = strtoul(v, NULL, 10)) > 0)
            i++;
        else if (strcmp(a, "--db-host") == 0)
            db.host = v, i++;
        else if (strcmp(a, "--db-port") == 0)
            db.port = (unsigned)atoi(v), i++;
        else if (strcmp(a, "--db-socket") == 0)
            db.unix_socket = v, i++;
        else if (strcmp(a, "--db-user") == 0)
            db.user = v, i++;
        else if (strcmp(a, "--db-password") == 0)
            db.password = v, i++;
        else if (strcmp(a, "--db-name") == 0)
            db.db = v, i++;
        else
            return usage(argv[0]);
    }
    if (regcomp(&link_re, "^/.*/.*", REG_EXTENDED | REG_NOSUB) != 0)
        return 1;
    mariadb_srv srv = {0};
    if (demo) {
        start_url = NULL;
        printf("demo: starting a private MariaDB and a %zu-page site\n", r.pages);
        fflush(stdout);
        if (mariadb_srv_start(&srv, NULL) < 0)
            return 1;
        db = (cio_mysql_opts){.unix_socket = srv.socket, .user = MARIADB_SRV_USER, .password = MARIADB_SRV_PASSWORD,
                              .db = MARIADB_SRV_DB, .autocommit = true};
        if (mariadb_srv_sql(&srv, "CREATE TABLE " MARIADB_SRV_DB ".aiotest (id INT AUTO_INCREMENT PRIMARY KEY, "
                                  "title VARCHAR(255)) CHARACTER SET utf8mb4") < 0) {
            mariadb_srv_stop(&srv);
            return 1;
        }
    } else {
        r.pages = 0;
    }
    int rc = cio_run(main_task, &r, NULL);
    fflush(stdout);
    mariadb_srv_stop(&srv);
    for (size_t i = 0; i < n_waiting; i++)
        free(waiting_url[i]);
    free(waiting_url);
    strset_free(&visited_url);
    regfree(&link_re);
    if (rc == 0)
        rc = r.rc;
    if (rc < 0)
        fprintf(stderr, "title_crawler: %s\n", cio_strerror(rc));
    return rc < 0 ? 1 : 0;
}
