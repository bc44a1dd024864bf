#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CIO_TEST: LABELS=conformance
# docs/conformance.md against tests/conformance/*.c: every `ported` row names
# a case (CONF_TASK/CONF_PLAIN, "." written "__") in the file of its CPython
# file, and every case has a `ported` row.  Prints the table's counts per file.
set -euo pipefail
src=${CIO_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
doc=$src/docs/conformance.md
dir=$src/tests/conformance
fail=0

# rows: "name status"
rows=$(awk -F'|' '/^\| test_[a-z0-9_]+\./ { gsub(/ /, "", $2); gsub(/ /, "", $3); print $2, $3 }' "$doc")
dups=$(awk '{print $1}' <<<"$rows" | sort | uniq -d)
if [ -n "$dups" ]; then echo "conformance_table: rows listed twice: $dups"; fail=1; fi
bad=$(awk '$2 !~ /^(ported|n\/a|differs|todo)$/' <<<"$rows")
if [ -n "$bad" ]; then echo "conformance_table: unknown status in: $bad"; fail=1; fi

# cases: "name" from the C files
cases=$(for f in "$dir"/test_*.c; do
  [ -e "$f" ] || continue
  b=$(basename "$f" .c)
  { grep -oE '^CONF_(TASK|PLAIN)\([A-Za-z0-9_]+\)' "$f" || true; } | sed -E 's/^CONF_(TASK|PLAIN)\(([A-Za-z0-9_]+)\)/\2/; s/__/./g' |
    sed "s/^/$b./"
done | sort)
dupc=$(uniq -d <<<"$cases")
if [ -n "$dupc" ]; then echo "conformance_table: cases defined twice: $dupc"; fail=1; fi
ported=$(awk '$2 == "ported" {print $1}' <<<"$rows" | sort)
missing=$(comm -23 <(echo "$ported") <(echo "$cases") | sed '/^$/d')
extra=$(comm -13 <(echo "$ported") <(echo "$cases") | sed '/^$/d')
if [ -n "$missing" ]; then echo "conformance_table: 'ported' in the table but no case:"; sed 's/^/  /' <<<"$missing"; fail=1; fi
if [ -n "$extra" ]; then echo "conformance_table: cases with no 'ported' row in the table:"; sed 's/^/  /' <<<"$extra"; fail=1; fi

printf '%-26s %6s %6s %6s %6s %6s\n' file methods ported n/a differs todo
awk '{ split($1, p, "."); f = p[1]; n[f]++; s[f, $2]++; t[$2]++; tot++
       if (!(f in seen)) { seen[f] = 1; order[++k] = f } }
     END { for (i = 1; i <= k; i++) { f = order[i]
             printf "%-26s %6d %6d %6d %6d %6d\n", f, n[f], s[f,"ported"], s[f,"n/a"], s[f,"differs"], s[f,"todo"] }
           printf "%-26s %6d %6d %6d %6d %6d\n", "total", tot, t["ported"], t["n/a"], t["differs"], t["todo"] }' <<<"$rows"
exit $fail
