#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CIO_TEST: TIMEOUT=300 LABELS=mysql
# The title crawler of article 004 (examples/title_crawler.c) in --demo
# mode: the generated site and a private MariaDB it starts itself.  Every
# title on the site (article K carries 1 + K % 3) ends up as one row.
# Skips (77) only when mariadbd is not installed.
set -u
EX=${CIO_EXAMPLES_DIR:?}
fail() { echo "FAIL: $*"; exit 1; }
[ -x /usr/sbin/mariadbd ] || [ -x /usr/sbin/mysqld ] || { echo "skipped: mariadbd is not installed"; exit 77; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT

pages=40
want=0
for ((k = 0; k < pages; k++)); do want=$((want + 1 + k % 3)); done

"$EX/title_crawler" --demo --pages $pages > "$out" 2>&1 || fail "title_crawler exited $?: $(tail -20 "$out")"
line=$(grep '^summary: ' "$out") || fail "no summary line: $(tail -20 "$out")"
read -r fetched stored rows <<<"$(sed -n 's/^summary: \([0-9]*\) pages fetched, \([0-9]*\) titles stored, \([0-9-]*\) rows in aiotest$/\1 \2 \3/p' <<<"$line")"
[ "${rows:-}" = "$want" ] || fail "rows in aiotest: ${rows:-?}, titles on the site: $want ($line)"
[ "$stored" = "$want" ] || fail "titles stored: $stored, want $want"
[ "$fetched" -ge $((2 * pages)) ] || fail "only $fetched pages fetched of $pages pages + $pages articles"
# the article's lines
grep -q '^起始url开始抓取$' "$out" || fail "no start line"
grep -q '^准备访问:http://127.0.0.1:[0-9]*/article/7.html$' "$out" || fail "article 7 never visited"
grep -q "^标题结果为\['协程的那点事 7.1: asyncio & aiomysql', '协程的那点事 7.2: asyncio & aiomysql'\],url是http://127.0.0.1:[0-9]*/article/7.html\$" "$out" ||
  fail "titles of article 7 not printed as the article prints them"
grep -q '^<Response \[200 OK\]>获取的title2个$' "$out" || fail "no 'title N' line"
grep -q '^url:http://127.0.0.1:[0-9]*/page/3.html 未获取标题$' "$out" || fail "no 'no title' line"
[ "$(grep -c '^准备访问:http://127.0.0.1:[0-9]*/article/7.html$' "$out")" = 1 ] || fail "a URL visited twice"
! grep -q '/missing/' <(grep '获取的title' "$out") || fail "a 404 page gave titles"
tail -2 "$out" | grep -q '^消费队列已空,等3秒$' || fail "the queue-empty line is not last before the summary"
echo "ok: $rows rows for the $want titles of a $pages-page site"
