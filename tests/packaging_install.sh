#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CIO_TEST: TIMEOUT=300
# packaging_install: what a user does with an installed cio works.
# `cmake --install` into a temporary prefix, then README's example program
#   1. with `cc prog.c $(pkg-config --cflags --libs cio)` (libcio.so), runs;
#   2. with `cc prog.c $(pkg-config --static --cflags --libs cio)` (links),
#      and with -lcio replaced by -l:libcio.a, as README says (no libcio.so);
#   3. against libcio.a alone (a static-only install: libcio.so* removed) with
#      the same command: no libcio.so needed at run time, runs;
#   4. with CMake's find_package(cio): cio::cio and cio::cio_static, and
#      cio::cio alone where pkg-config finds none of cio's dependencies
#      (libcio.so needs none of their development files);
# and cio.pc's Cflags carry no -I other than the prefix's include dir.
# The plain build only: sanitizer builds install a library that needs the
# sanitizer runtime, and the ucontext build installs the same API.
set -u
# shellcheck source=lib/packaging.sh
. "${CIO_TESTS_DIR:?}/lib/packaging.sh"
plain_build_only
cd "$work" || exit 1

cmake --install "$B" --prefix "$work/prefix" > install.log || { cat install.log; fail "cmake --install"; }
pcdir=$(dirname "$(find "$work/prefix" -name cio.pc)")
[ -d "$pcdir" ] || fail "no cio.pc installed"
export PKG_CONFIG_PATH=$pcdir
pc() { pkg-config "$@" cio || fail "pkg-config $* cio"; }
libdir=$(pc --variable=libdir)
[ -f "$libdir/libcio.a" ] && [ -f "$libdir/libcio.so" ] || fail "cio.pc's libdir $libdir has no libcio"

readme_program prog.c

cflags=$(pc --cflags)
for f in $cflags; do
  case $f in -I"$work/prefix"/*|-pthread) ;; *) fail "stray flag in Cflags: $f";; esac
done
echo "ok   Cflags: $cflags"

build_run() { # build_run NAME [LD_LIBRARY_PATH] -- CC-ARGS...
  local name=$1 ldpath=$2; shift 3
  cc prog.c -o "$name" "$@" 2> "$name.err" || { cat "$name.err"; fail "$name: cc prog.c $*"; }
  local out; out=$(LD_LIBRARY_PATH=$ldpath "./$name") || fail "$name exited $?"
  [ "$out" = "$README_OUTPUT" ] || fail "$name printed: $out"
  echo "ok   $name: cc prog.c $*"
}
build_run shared "$libdir" -- $(pc --cflags --libs)
readelf -d shared | grep -q 'NEEDED.*libcio\.so' || fail "shared: no libcio.so in NEEDED"
build_run static_flags "$libdir" -- $(pc --static --cflags --libs)
# README's way to pick libcio.a beside libcio.so.
build_run static_named "" -- $(pc --static --cflags --libs | sed 's/-lcio /-l:libcio.a /')
! readelf -d static_named | grep -q 'NEEDED.*libcio' || fail "static_named: still needs libcio.so"

# A static-only install: -lcio finds libcio.a, the private libraries follow.
rm -f "$libdir"/libcio.so*
build_run static "" -- $(pc --static --cflags --libs)
! readelf -d static | grep -q 'NEEDED.*libcio' || fail "static: still needs libcio.so"
cmake --install "$B" --prefix "$work/prefix" > /dev/null || fail "cmake --install (again)"

# find_package(cio), both targets.
mkdir consumer
cp prog.c consumer/
cat > consumer/CMakeLists.txt <<'CM'
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(cio REQUIRED)
add_executable(prog_shared prog.c)
target_link_libraries(prog_shared PRIVATE cio::cio)
add_executable(prog_static prog.c)
target_link_libraries(prog_static PRIVATE cio::cio_static)
CM
cmake -S consumer -B consumer/build -DCMAKE_PREFIX_PATH="$work/prefix" > cmake.log 2>&1 &&
  cmake --build consumer/build > build.log 2>&1 || { cat cmake.log build.log; fail "find_package(cio) consumer"; }
for p in prog_shared prog_static; do
  out=$(LD_LIBRARY_PATH=$libdir "consumer/build/$p") || fail "$p exited $?"
  [ "$out" = "$README_OUTPUT" ] || fail "$p printed: $out"
done
echo "ok   find_package(cio): cio::cio and cio::cio_static"

mkdir bare
cp prog.c bare/
sed '/prog_static/d' consumer/CMakeLists.txt > bare/CMakeLists.txt
mkdir empty_pc
PKG_CONFIG_LIBDIR=$work/empty_pc PKG_CONFIG_PATH= \
  cmake -S bare -B bare/build -DCMAKE_PREFIX_PATH="$work/prefix" > cmake.log 2>&1 &&
  cmake --build bare/build > build.log 2>&1 || { cat cmake.log build.log; fail "cio::cio without cio's dependencies' .pc files"; }
out=$(LD_LIBRARY_PATH=$libdir bare/build/prog_shared) || fail "bare prog_shared exited $?"
[ "$out" = "$README_OUTPUT" ] || fail "bare prog_shared printed: $out"
echo "ok   find_package(cio) and cio::cio where pkg-config knows none of cio's dependencies"
