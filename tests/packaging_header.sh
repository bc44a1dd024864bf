#!/usr/bin/env bash
# packaging_header: include/cio.h compiles cleanly, warnings as errors, as
# strict ISO C (-std=c99 and -std=c11 -pedantic, no feature macros) and as
# C++ (-std=c++11 and c++17 -pedantic), with gcc and clang where installed;
# and a C++ translation unit links against the C library (extern "C").
# Each compiler runs once per standard: a few seconds in all; in the plain
# build only (the header is the same in every flavour).
set -u
if [ -n "${CIO_SANITIZE:-}" ] || [ "${CIO_CONTEXT:-asm}" != asm ]; then
  echo "skip: runs in the plain build (CIO_SANITIZE='${CIO_SANITIZE:-}' CIO_CONTEXT=${CIO_CONTEXT:-})"; exit 77
fi
SRC=${CIO_SOURCE_DIR:?}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

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
    echo "FAIL: $cc $* $file:"; sed 's/^/  /' "$work/err"; fail=1
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
if command -v g++ > /dev/null && [ -f "${CIO_BUILD_DIR:?}/libcio.so" ]; then
  if g++ -std=c++11 -I"$SRC/include" "$work/use.cc" -o "$work/use" -L"$CIO_BUILD_DIR" -lcio 2> "$work/err" &&
     LD_LIBRARY_PATH=$CIO_BUILD_DIR "$work/use"; then
    echo "ok   C++ program linked with libcio.so and ran"
  else
    echo "FAIL: C++ program against libcio.so:"; sed 's/^/  /' "$work/err"; fail=1
  fi
fi
exit $fail
