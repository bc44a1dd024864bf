#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CIO_TEST: TIMEOUT=120
# areq, the C port of article 000's areq.py (examples/areq.c), against the
# article's own program (tests/areq.py, Python with aiohttp and aiofiles)
# on the same local demo site: the same log lines, and foundurls.txt files
# equal as sets.  Without Python's aiohttp/aiofiles the C side is still
# checked, then the test says so and exits 77 (skipped, not passed).
set -u
EX=${CIO_EXAMPLES_DIR:?}
# shellcheck source=lib/free_port.sh
. "${CIO_TESTS_DIR:?}/lib/free_port.sh"
# shellcheck source=lib/demo_site.sh
. "$CIO_TESTS_DIR/lib/demo_site.sh"
work=$(mktemp -d)
srv_pid=
cleanup() { [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$work" || exit 1

# the demo site of `make demo`, 60 pages
demo_site 60
closed=$(free_port) # a closed port: a connection error

# urls.txt: 30 pages, one of them padded with blanks and one twice (the
# programs read a set of stripped lines), a 404, a refused connection
mkdir c py
{
  for k in $(seq 0 29); do echo "$base/page/$k.html"; done
  printf '  %s\t\n' "$base/page/2.html"
  echo "$base/missing/x.html"
  echo "http://127.0.0.1:$closed/"
  echo "$base/page/1.html"
} > c/urls.txt
cp c/urls.txt py/urls.txt

# ---- the C port ----
(cd c && "$EX/areq") > c/out 2> c/err || fail "areq exited $?: $(tail -5 c/err)"
grep -Eq '^[0-9]{2}:[0-9]{2}:[0-9]{2} INFO:areq: Got response \[200\] for URL: '"$base/page/1.html"'$' c/err ||
  fail "no 'Got response' line for page 1"
[ "$(grep -c "Got response \[200\] for URL: $base/page/1.html\$" c/err)" = 1 ] || fail "a URL listed twice was fetched twice"
grep -q "INFO:areq: Got response \[200\] for URL: $base/page/2.html\$" c/err || fail "padded line not stripped"
grep -q "ERROR:areq: aiohttp exception for $base/missing/x.html \[404\]: Not Found\$" c/err || fail "404 not logged as error"
grep -q "ERROR:areq: aiohttp exception for http://127.0.0.1:$closed/ \[None\]: " c/err || fail "connection error not logged"
links1=$(sed -n "s|.*INFO:areq: Found \([0-9]*\) links for $base/page/1.html\$|\1|p" c/err)
[ -n "$links1" ] || fail "no 'Found N links' line for page 1"
grep -q "INFO:areq: Wrote results for source URL: $base/page/1.html\$" c/err || fail "no 'Wrote results' line"
[ "$(head -1 c/foundurls.txt)" = "$(printf 'source_url\tparsed_url')" ] || fail "bad header line"
[ "$(grep -c "^$base/page/1.html	" c/foundurls.txt)" = "$links1" ] || fail "foundurls.txt lines for page 1 != $links1"
[ -z "$(sort c/foundurls.txt | uniq -d)" ] || fail "a line written twice"
! grep -q "missing/x.html	" c/foundurls.txt || fail "the 404 page produced links"
# the article's regex, href="(.*?)": double-quoted hrefs only, taken as
# written (no entity decoding), joined with urljoin
grep -q "^$base/page/1.html	$base/page/[0-9]*.html?a=1&amp;b=2\$" c/foundurls.txt || fail "../ link not joined as written"
grep -q "^$base/page/1.html	mailto:site@example.invalid\$" c/foundurls.txt || fail "mailto link missing (urljoin keeps it)"
! grep -q "#top\$" c/foundurls.txt || fail "a single-quoted href was matched: not the article's regex"

# bad input: a clear error, exit 1
(cd c && "$EX/areq" -i nothere.txt) > /dev/null 2> c/bad.err && fail "areq with a missing urls.txt exited 0"
grep -q "areq: nothere.txt: No such file or directory" c/bad.err || fail "missing urls.txt: $(cat c/bad.err)"
(cd c && "$EX/areq" -o nodir/f.txt) > /dev/null 2> c/bad.err && fail "areq with an unwritable output exited 0"
grep -q "areq: nodir/f.txt: No such file or directory" c/bad.err || fail "unwritable output: $(cat c/bad.err)"

# ---- the article's program ----
PY=
for p in /usr/bin/python3 python3; do
  "$p" -c 'import aiohttp, aiofiles' 2>/dev/null && { PY=$p; break; }
done
if [ -z "$PY" ]; then
  echo "SKIP: no python3 with aiohttp and aiofiles (Debian: python3-aiohttp python3-aiofiles); only the C side was checked"
  exit 77
fi
cp "$CIO_TESTS_DIR/areq.py" py/
(cd py && "$PY" areq.py) > py/out 2> py/err || fail "areq.py exited $?: $(tail -5 py/err)"

[ "$(head -1 py/foundurls.txt)" = "$(head -1 c/foundurls.txt)" ] || fail "header lines differ"
tail -n +2 c/foundurls.txt | sort > c/set
tail -n +2 py/foundurls.txt | sort -u > py/set
[ "$(wc -l < py/set)" -gt 100 ] || fail "areq.py found only $(wc -l < py/set) links: $(tail -3 py/err)"
diff py/set c/set > set.diff || fail "foundurls.txt differ as sets (< areq.py, > areq): $(head -20 set.diff)"
# the same log lines, timestamps aside: every INFO line, and the 404
info() { sed -n 's/^[0-9:]* \(INFO:areq: .*\)$/\1/p; s/^[0-9:]* \(ERROR:areq: .*\[404\].*\)$/\1/p' "$1" | sort; }
info py/err > py/log
info c/err > c/log
diff py/log c/log > log.diff || fail "log lines differ (< areq.py, > areq): $(head -20 log.diff)"
echo "ok: areq and areq.py agree on $(wc -l < c/set) links from $(grep -c 'Got response' c/err) pages"
