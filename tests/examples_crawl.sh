#!/usr/bin/env bash
# CIO_TEST: TIMEOUT=120
# The crawler: areq (the article's program) and cio-crawl against the
# generated demo site served by cio on 127.0.0.1.
set -u
EX=${CIO_EXAMPLES_DIR:?}
# shellcheck source=lib/free_port.sh
. "${CIO_TESTS_DIR:?}/lib/free_port.sh"
work=$(mktemp -d)
srv_pid=
cleanup() { [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$work" || exit 1

# a site of 200 pages
"$EX/cio-crawl" --serve 200 > serve.out 2>serve.err &
srv_pid=$!
for _ in $(seq 100); do grep -q '^port ' serve.out && break; sleep 0.05; done
port=$(awk '/^port /{print $2}' serve.out)
[ -n "$port" ] || fail "site did not start: $(cat serve.err)"
base="http://127.0.0.1:$port"

# a closed port for a connection error
closed=$(free_port)

# ---- areq ----
printf '%s\n' "$base/page/1.html" "  $base/page/2.html  " "$base/missing/x.html" "http://127.0.0.1:$closed/" "$base/page/1.html" > urls.txt
"$EX/areq" > areq.out 2> areq.err || fail "areq exited $?: $(tail -5 areq.err)"
grep -Eq '^[0-9]{2}:[0-9]{2}:[0-9]{2} INFO:areq: Got response \[200\] for URL: '"$base/page/1.html"'$' areq.err || fail "no 'Got response' line for page 1"
grep -q "INFO:areq: Got response \[200\] for URL: $base/page/2.html\$" areq.err || fail "page 2 (stripped) not fetched"
grep -q "ERROR:areq: aiohttp exception for $base/missing/x.html \[404\]: Not Found" areq.err || fail "404 not logged as error"
grep -q "ERROR:areq: aiohttp exception for http://127.0.0.1:$closed/ \[None\]: Connection refused" areq.err || fail "connection error not logged"
[ "$(grep -c "Got response \[200\] for URL: $base/page/1.html\$" areq.err)" = 1 ] || fail "duplicate URL fetched twice (urls.txt is a set)"
grep -Eq "INFO:areq: Found [0-9]+ links for $base/page/1.html\$" areq.err || fail "no 'Found N links' line"
grep -q "INFO:areq: Wrote results for source URL: $base/page/1.html\$" areq.err || fail "no 'Wrote results' line"
[ "$(head -1 foundurls.txt)" = "$(printf 'source_url\tparsed_url')" ] || fail "bad header line"
n1=$(grep -Ec "Found ([0-9]+) links for $base/page/1.html" areq.err)
links1=$(sed -n "s|.*Found \([0-9]*\) links for $base/page/1.html\$|\1|p" areq.err)
[ "$(grep -c "^$base/page/1.html	" foundurls.txt)" = "$links1" ] || fail "foundurls.txt lines for page 1 != $links1"
# links resolved per RFC 3986: relative, ../, single-quoted, entity, absolute
grep -q "^$base/page/1.html	$base/page/2.html\$" foundurls.txt || fail "sequential link not resolved"
grep -q "^$base/page/1.html	$base/page/[0-9]*.html?a=1&b=2\$" foundurls.txt || fail "../ link with &amp; not resolved"
grep -q "^$base/page/1.html	$base/page/[0-9]*.html#top\$" foundurls.txt || fail "single-quoted link not found"
grep -q "^$base/page/1.html	mailto:site@example.invalid\$" foundurls.txt || fail "mailto link missing (urljoin keeps it)"
! grep -q "missing/x.html	" foundurls.txt || fail "404 page produced links"
[ "$n1" = 1 ] || fail "page 1 reported $n1 times"

# ---- cio-crawl: whole site, limits ----
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
echo "ok: areq and cio-crawl against a $pages-page local site"
