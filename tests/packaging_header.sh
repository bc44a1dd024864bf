#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# packaging_header: include/cio.h compiles cleanly, warnings as errors, as
# strict ISO C (-std=c99 and -std=c11 -pedantic, no feature macros) and as
# C++ (-std=c++11 and c++17 -pedantic), with gcc and clang where installed;
# and a C++ translation unit links against the C library (extern "C").
# Each compiler runs once per standard: a few seconds in all; in the plain
# build only (the header is the same in every flavour).
set -u
# shellcheck source=lib/packaging.sh
. "${CIO_TESTS_DIR:?}/lib/packaging.sh"
plain_build_only
failed=0

# Uses the inline helpers and macros, not only the declarations.
cat > "$work/use.c" <<'C'
#include <cio.h>
static void *body(void *arg)
{
    cio_guard g;
    cio_guard_arm(&g, arg, 0);
    cio_guard_release(&g);
    return cio_sleep(0.0) == 0 ? arg : cio_fail(CIO_EHTTP, "%s", cio_strerror(CIO_EHTTP));
}
int main(void) { return cio_run(body, 0, 0) == 0 ? 0 : 1; }
C
cp "$work/use.c" "$work/use.cc"

compile() { # compile COMPILER FILE FLAGS...
  local cc=$1 file=$2; shift 2
  if ! "$cc" "$@" -Wall -Wextra -Werror -I"$SRC/include" -c "$work/$file" -o "$work/out.o" 2> "$work/err"; then
    echo "FAIL: $cc $* $file:"; sed 's/^/  /' "$work/err"; failed=1
  else
    echo "ok   $cc $* $file"
  fi
}
n=0
for cc in gcc clang; do
  command -v "$cc" > /dev/null || { echo "note: $cc not installed"; continue; }
  for std in c99 c11; do compile "$cc" use.c -std=$std -pedantic; n=$((n+1)); done
done
for cxx in g++ clang++; do
  command -v "$cxx" > /dev/null || { echo "note: $cxx not installed"; continue; }
  for std in c++11 c++17; do compile "$cxx" use.cc -std=$std -pedantic; n=$((n+1)); done
done
[ $n -gt 0 ] || { echo "no C or C++ compiler found"; exit 77; }

# The C++ object links with the library: the names are the C ones.
if command -v g++ > /dev/null; then
  if g++ -std=c++11 -I"$SRC/include" "$work/use.cc" -o "$work/use" -L"$B" -lcio 2> "$work/err" &&
     LD_LIBRARY_PATH=$B "$work/use"; then
    echo "ok   C++ program linked with libcio.so and ran"
  else
    echo "FAIL: C++ program against libcio.so:"; sed 's/^/  /' "$work/err"; failed=1
  fi
fi
# cio.h's rule "Closing and freeing": a type has both cio_X_close and
# cio_X_free only where asyncio's object stays usable after close().
both=$(grep -E '^[a-z]' "$SRC/include/cio.h" | grep -oE '\bcio_[a-z_]+_(close|free)\(' | sed -E 's/_(close|free)\($//' |
       sort | uniq -d | tr '\n' ' ')
if [ "$both" = "cio_gen cio_mysql_pool cio_server " ]; then
  echo "ok   close-and-free types: $both"
else
  echo "FAIL: types with both _close and _free are [$both]; cio.h's rule names cio_gen cio_mysql_pool cio_server"
  failed=1
fi
exit $failed
