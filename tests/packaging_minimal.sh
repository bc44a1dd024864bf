#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CIO_TEST: TIMEOUT=900
# packaging_minimal: the smallest combination the README promises builds:
# every optional module off (CIO_WITH_HTTP_CLIENT=OFF: no libcurl), library
# only, warnings as errors.  Checks that libcio.so then needs no libcurl and
# exports no HTTP client function, and that README's program (loop and
# tasks) links against it and runs.  -O0 (CMAKE_BUILD_TYPE=Debug) keeps the
# extra compile short; the plain build only (it is the same sources).
set -u
# shellcheck source=lib/packaging.sh
. "${CIO_TESTS_DIR:?}/lib/packaging.sh"
plain_build_only
cd "$work" || exit 1

# Every CIO_WITH_ option the build declares, turned off.
offs=$(grep -ohE '^ *cio_module\([A-Z0-9_]+' "$SRC/CMakeLists.txt" | sed -E 's/.*\(/-DCIO_WITH_/; s/$/=OFF/')
[ -n "$offs" ] || fail "no cio_module() in CMakeLists.txt"
echo "options: $offs"
# shellcheck disable=SC2086
cmake -S "$SRC" -B b -DCMAKE_BUILD_TYPE=Debug -DCIO_WERROR=ON $offs > configure.log 2>&1 ||
  { cat configure.log; fail "configure"; }
grep -q 'CIO_BUILD_TESTS:BOOL=OFF' b/CMakeCache.txt || fail "tests not off by default with modules off"
cmake --build b --parallel 2 > build.log 2>&1 || { tail -n 50 build.log; fail "build"; }

! readelf -d b/libcio.so | grep -q 'NEEDED.*libcurl' || fail "libcio.so needs libcurl without the HTTP client"
! nm -D --defined-only b/libcio.so | grep -q ' cio_http_get@' || fail "cio_http_get exported without the HTTP client"
nm -D --defined-only b/libcio.so | grep -q ' cio_spawn@' || fail "cio_spawn missing"
echo "ok   libcio.so without the optional modules: $(nm -D --defined-only b/libcio.so | grep -c ' cio_') functions, no libcurl"

readme_program prog.c
cc prog.c -o prog -I"$SRC/include" -Lb -lcio 2> cc.err || { cat cc.err; fail "README's program against the minimal libcio.so"; }
out=$(LD_LIBRARY_PATH=b ./prog) || fail "prog exited $?"
[ "$out" = "$README_OUTPUT" ] || fail "prog printed: $out"
echo "ok   README's program runs on it"
