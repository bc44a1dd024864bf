#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Make sure the Debian packages cio needs are installed.
#
#   scripts/deps.sh          build dependencies (CIO_REQUIRED) and what the
#                            tests start (CIO_TEST_DEPS). Missing ones are
#                            installed with apt-get when run as root; otherwise the
#                            exact `sudo apt-get install` line is printed and the
#                            script exits 1.
#   scripts/deps.sh bench    benchmark peers (CIO_BENCH_PEERS). Installed when root;
#                            otherwise the apt-get line is printed and the script
#                            exits 0, so the benchmarks run with the peers there are.
#   scripts/deps.sh fuzz     build dependencies and the fuzzers' (clang, libFuzzer).
#   scripts/deps.sh list     print "debian-package pkg-config-module" for CIO_REQUIRED.
#
# When everything is present this costs one dpkg-query call: no apt, no network.
# On a system without dpkg it only warns.
set -euo pipefail

# Debian package -> pkg-config module, for every library cio may use.
# To make cio depend on one: add its Debian package to CIO_REQUIRED below and
# its pkg-config module to CIO_LIB_PKGS (or CIO_EXAMPLE_PKGS) in CMakeLists.txt.
CIO_DEBS=(
  libssl-dev:openssl
  libc-ares-dev:libcares
  liburing-dev:liburing
  libcurl4-openssl-dev:libcurl
  libxml2-dev:libxml-2.0
  node-llhttp:            # no .pc file: the C sources are built into cio
  libmariadb-dev:libmariadb   # MariaDB Connector/C: the async MySQL client
  libcjson-dev:libcjson       # JSON for the DevTools protocol (browser driver)
  libpng-dev:libpng           # test_browser decodes the screenshots it takes
  openssl:                # the command-line tool: tests/test_tls.c makes its certificates with it
  pkg-config:             # the tool itself
)

# Installed by the build, before cmake runs.
CIO_REQUIRED=(
  pkg-config
  libc-ares-dev
  libssl-dev
  openssl
  libcurl4-openssl-dev
  liburing-dev
  node-llhttp
  libxml2-dev
  libmariadb-dev
  libcjson-dev
  libpng-dev
)

# Servers and programs the tests start themselves (a private MariaDB, headless
# Chromium) and the articles' Python programs the ports are compared against.
# Installed with the build dependencies: `make test` needs them.
CIO_TEST_DEPS=(
  mariadb-server
  mariadb-client
  chromium
  python3
  python3-aiohttp
  python3-aiofiles
)

# The fuzzers (make fuzz): clang with libFuzzer and its sanitizer runtimes.
CIO_FUZZ_DEPS=(
  clang
  libclang-rt-dev
)

# Peers the benchmarks compare against (make bench).
CIO_BENCH_PEERS=(
  python3
  python3-uvloop
  golang-go
  nginx
  wrk
  python3-aiomysql
)

missing_of() {   # prints the packages among "$@" that are not installed
  command -v dpkg-query >/dev/null 2>&1 || return 0
  local installed
  installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "$@" 2>/dev/null |
              awk '$2 == "ii" { print $1 }') || true
  local p
  for p in "$@"; do
    grep -qxF -- "$p" <<<"$installed" || printf '%s\n' "$p"
  done
}

apt_install() {
  echo "deps: installing: $*" >&2
  apt-get update -qq || echo "deps: apt-get update failed; trying the install anyway" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

ensure() {   # ensure MODE PKG...   (MODE: strict | lenient)
  local mode=$1; shift
  [ $# -gt 0 ] || return 0
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps: no dpkg-query here; make sure these (Debian names) are installed: $*" >&2
    return 0
  fi
  local -a miss
  mapfile -t miss < <(missing_of "$@")
  [ ${#miss[@]} -gt 0 ] || return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    if apt_install "${miss[@]}"; then
      return 0
    fi
    echo "deps: apt-get failed for: ${miss[*]}" >&2
    [ "$mode" = lenient ] && return 0
    return 1
  fi
  echo "deps: missing Debian packages. Install them with:" >&2
  echo "    sudo apt-get install -y ${miss[*]}" >&2
  [ "$mode" = lenient ] && return 0
  return 1
}

case "${1:-build}" in
  build|check)
    ensure strict "${CIO_REQUIRED[@]}" "${CIO_TEST_DEPS[@]}"
    ;;
  bench)
    ensure lenient "${CIO_BENCH_PEERS[@]}"
    ;;
  fuzz)
    ensure strict "${CIO_REQUIRED[@]}" "${CIO_TEST_DEPS[@]}" "${CIO_FUZZ_DEPS[@]}"
    ;;
  list)
    for p in "${CIO_REQUIRED[@]}"; do
      pc=""
      for e in "${CIO_DEBS[@]}"; do
        [ "${e%%:*}" = "$p" ] && pc=${e#*:}
      done
      echo "$p $pc"
    done
    ;;
  *)
    echo "usage: $0 [build|bench|fuzz|list]" >&2
    exit 2
    ;;
esac
