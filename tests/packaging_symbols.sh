#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# packaging_symbols: libcio.so and libcio.a export exactly the public API.
#   - every symbol libcio.so exports is a function declared in cio.h, and
#     every function cio.h declares is exported (no internal cio__ helper,
#     no llhttp, nothing declared and missing);
#   - each carries the version of cmake/cio.map (name@@CIO_0.1);
#   - libcio.a's global symbols are the same set (its internals are local,
#     so an application's own llhttp cannot clash with cio's copy).
# The declared list comes from the compiler (gcc -aux-info), not a grep.
set -u
# shellcheck source=lib/packaging.sh
. "${CIO_TESTS_DIR:?}/lib/packaging.sh"
failed=0
command -v gcc > /dev/null || { echo "gcc (for -aux-info) not installed"; exit 77; }

echo '#include <cio.h>' > "$work/h.c"
gcc -std=gnu11 -I"$SRC/include" -aux-info "$work/aux" -c "$work/h.c" -o /dev/null || exit 1
grep -F "$SRC/include/cio.h:" "$work/aux" | grep -oP '^/\*[^*]*\*/ extern [^(]*?\K\b[A-Za-z_]\w*(?= \()' |
  sort -u > "$work/declared"
[ -s "$work/declared" ] || { echo "FAIL: no declaration found in cio.h"; exit 1; }

# nm -D: "<addr> <type> <name>@@<version>"; the version node itself is type A.
nm -D --defined-only "$B/libcio.so" | awk '$2 != "A" {print $3}' > "$work/so_versioned"
sed 's/@.*//' "$work/so_versioned" | sort -u > "$work/so"
nm -g --defined-only "$B/libcio.a" | awk 'NF == 3 {print $3}' | sort -u > "$work/a"
echo "cio.h declares $(wc -l < "$work/declared") functions; libcio.so exports $(wc -l < "$work/so"), libcio.a $(wc -l < "$work/a")"

report() { # report FILE WHAT
  if [ -s "$1" ]; then
    echo "FAIL: $2 ($(wc -l < "$1")):"; head -n 20 "$1" | sed 's/^/  /'; failed=1
  fi
}
comm -13 "$work/declared" "$work/so" > "$work/x"; report "$work/x" "exported by libcio.so, not declared in cio.h"
comm -23 "$work/declared" "$work/so" > "$work/x"; report "$work/x" "declared in cio.h, not exported by libcio.so"
grep -v '@@CIO_0\.1$' "$work/so_versioned" > "$work/x"; report "$work/x" "exported without the version CIO_0.1"
comm -3 "$work/so" "$work/a" > "$work/x"; report "$work/x" "global in only one of libcio.a (left) and libcio.so (right)"
grep -v '^cio_' "$work/so" > "$work/x"; report "$work/x" "exported without the cio_ prefix"
exit $failed
