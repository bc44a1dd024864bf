# SPDX-License-Identifier: MIT
# Sourced by tests/packaging_*.sh (tests/lib/ is outside the tests/*.sh glob).
#   SRC, B          the source and build directories (CTest's environment)
#   work            a fresh temporary directory, removed at exit
#   fail MESSAGE    prints "FAIL: MESSAGE", exits 1
#   plain_build_only  exits 77 (skipped) in sanitizer and ucontext builds: for
#                   checks with the same answer in every flavour, or whose
#                   products (a library installed or linked outside CMake)
#                   would need the sanitizer runtime
#   readme_program FILE  writes README's example program to FILE (its
#                   cio_sleep(1.0) made 0.0, to be quick); README_OUTPUT is
#                   what the program prints
SRC=${CIO_SOURCE_DIR:?}
B=${CIO_BUILD_DIR:?}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

plain_build_only() {
  if [ -n "${CIO_SANITIZE:-}" ] || [ "${CIO_CONTEXT:-asm}" != asm ]; then
    echo "skip: runs in the plain build (CIO_SANITIZE='${CIO_SANITIZE:-}' CIO_CONTEXT=${CIO_CONTEXT:-})"
    exit 77
  fi
}

README_OUTPUT=$'One\nOne\nOne\nTwo\nTwo\nTwo'
readme_program() {
  sed -n '/^```c$/,/^```$/p' "$SRC/README.md" | sed '1d;$d' | sed 's/cio_sleep(1\.0)/cio_sleep(0.0)/' > "$1"
  grep -q cio_gather "$1" || fail "README's example program not found"
}
