#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CIO_TEST: TIMEOUT=120
# The crawler, cio-crawl, against the generated demo site served by cio on
# 127.0.0.1 (areq, the article's program, is tests/examples_areq.sh).
set -u
EX=${CIO_EXAMPLES_DIR:?}
# shellcheck source=lib/demo_site.sh
. "${CIO_TESTS_DIR:?}/lib/demo_site.sh"
work=$(mktemp -d)
srv_pid=
cleanup() { [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$work" || exit 1

# a site of 200 pages
demo_site 200

# one page's links, as libxml2 finds them and RFC 3986 resolves them:
# relative, ../ with an entity, single-quoted, uppercase unquoted, mailto
"$EX/cio-crawl" -n 1 -o one.txt "$base/page/1.html" > one.out 2>/dev/null || fail "cio-crawl -n 1 exited $?"
grep -q "^$base/page/1.html	$base/page/2.html\$" one.txt || fail "sequential link (HREF=, unquoted) not resolved"
grep -q "^$base/page/1.html	$base/page/[0-9]*.html?a=1&b=2\$" one.txt || fail "../ link with &amp; not resolved"
grep -q "^$base/page/1.html	$base/page/[0-9]*.html#top\$" one.txt || fail "single-quoted link not found"
grep -q "^$base/page/1.html	mailto:site@example.invalid\$" one.txt || fail "mailto link missing"

# whole site, limits
"$EX/cio-crawl" -o all.txt --same-host "$base/" > crawl.out 2> crawl.err || fail "cio-crawl exited $?"
grep -Eq '^Crawled [0-9]+ pages \([0-9]+ errors\), wrote [0-9]+ links' crawl.out || fail "no summary: $(cat crawl.out)"
pages=$(sed -n 's/^Crawled \([0-9]*\) pages.*/\1/p' crawl.out)
[ "$pages" -ge 200 ] || fail "crawl reached only $pages pages of a 200-page site"
for k in 0 57 199; do grep -q "	$base/page/$k.html\$" all.txt || fail "page $k never linked"; done
grep -q "crawl: [0-9]* pages, 0 in flight" crawl.err || fail "no plain progress line when stderr is not a terminal"
"$EX/cio-crawl" -n 10 -o ten.txt "$base/" > ten.out 2>/dev/null || fail "cio-crawl -n exited $?"
p10=$(sed -n 's/^Crawled \([0-9]*\) pages (\([0-9]*\) errors.*/\1 \2/p' ten.out)
set -- $p10
[ $(( $1 + $2 )) -le 10 ] || fail "-n 10 fetched $1 pages + $2 errors"
# --max-body: a page longer than that is skipped with an error line
"$EX/cio-crawl" -v --max-body 100 -o small.txt "$base/page/1.html" > small.out 2> small.err || fail "cio-crawl --max-body exited $?"
grep -q "ERROR:.*aiohttp exception for $base/page/1.html \[None\]: body longer than 100 bytes (skipped)" small.err ||
  fail "--max-body 100: no error line: $(cat small.err)"
grep -q "^Crawled 0 pages (1 errors)" small.out || fail "--max-body 100: $(cat small.out)"
echo "ok: cio-crawl against a $pages-page local site"
