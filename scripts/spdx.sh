#!/usr/bin/env bash
# SPDX license identifiers (SPDX-License-Identifier: MIT, see LICENSE) on
# every source file of the repository.
#
#   scripts/spdx.sh check   list the source files without one; exit 1 if any
#                           (tests/packaging_spdx.sh runs this)
#   scripts/spdx.sh add     give each of those files its line (idempotent:
#                           a file that has one is left as it is)
#
# Source files: the repository's files (git ls-files: tracked, and new ones
# not ignored) named *.c *.h *.S *.go *.py *.sh *.cmake *.cmake.in *.pc.in
# *.map, CMakeLists.txt, Makefile and .ci/run.  The line goes first, in the
# file's comment syntax, or second after a #! line.  A file counts as having
# one when "SPDX-License-Identifier:" appears in its first 5 lines.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LICENSE_ID=MIT
TAG="SPDX-License-Identifier: $LICENSE_ID"

comment_for() { # the identifier line for file $1, or nothing if not a source file
  case $1 in
    *.c|*.h|*.S|*.map)                          echo "/* $TAG */" ;;
    *.go)                                       echo "// $TAG" ;;
    *.py|*.sh|*.cmake|*.cmake.in|*.pc.in|CMakeLists.txt|*/CMakeLists.txt|Makefile|.ci/run)
                                                echo "# $TAG" ;;
  esac
}
is_source() { # the same list as comment_for, without a subshell per file
  case $1 in
    tests/areq.py) return 1 ;; # the article's program, kept as written: not ours to license
    *.c|*.h|*.S|*.map|*.go|*.py|*.sh|*.cmake|*.cmake.in|*.pc.in|CMakeLists.txt|*/CMakeLists.txt|Makefile|.ci/run)
      return 0 ;;
  esac
  return 1
}

files() {
  if git rev-parse --git-dir > /dev/null 2>&1; then
    git ls-files -co --exclude-standard
  else
    find . -path ./build -prune -o -path './build-*' -prune -o -type f -print | sed 's|^\./||'
  fi
}

missing() { # source files without the identifier (one awk over them all: a
              # process per file costs a minute on a loaded machine)
  local f list=()
  while IFS= read -r f; do
    [ -f "$f" ] && [ -s "$f" ] && is_source "$f" && list+=("$f")
  done < <(files)
  [ ${#list[@]} -gt 0 ] || return 0
  awk 'FNR == 1 { if (NR > 1 && !found) print prev; found = 0; prev = FILENAME }
       FNR <= 5 && /SPDX-License-Identifier:/ { found = 1 }
       FNR > 5 { nextfile }
       END { if (!found) print prev }' "${list[@]}"
}

add() { # add FILE: the line first, or after a #! line
  local f=$1 line tmp
  line=$(comment_for "$f")
  tmp=$(mktemp "$f.spdx.XXXXXX")
  if head -c 2 "$f" | grep -q '^#!'; then
    { head -n 1 "$f"; printf '%s\n' "$line"; tail -n +2 "$f"; } > "$tmp"
  else
    { printf '%s\n' "$line"; cat "$f"; } > "$tmp"
  fi
  chmod --reference="$f" "$tmp"
  mv "$tmp" "$f"
}

case ${1:-} in
  check)
    list=$(missing)
    if [ -n "$list" ]; then
      echo "$(wc -l <<< "$list") source file(s) without \"$TAG\" (scripts/spdx.sh add):"
      sed 's/^/  /' <<< "$list"
      exit 1
    fi
    echo "every source file has \"$TAG\""
    ;;
  add)
    n=0
    while IFS= read -r f; do
      [ -n "$f" ] || continue
      add "$f"; n=$((n + 1))
    done < <(missing)
    echo "added \"$TAG\" to $n file(s)"
    ;;
  *) echo "usage: scripts/spdx.sh check|add" >&2; exit 2 ;;
esac
