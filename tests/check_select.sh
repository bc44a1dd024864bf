#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_select: one test at a time (tests/check.h).  `test_future NAME` runs
# the RUN_TASK_TEST called NAME and no other; two names run both; a name
# the program lacks fails the run, saying so; no name runs every test.
# (Tests that run their own loop, outside RUN_TASK_TEST, always run.)
# The names are read from the source, so renaming a test does not break
# this one.
set -u
B=${CIO_BUILD_DIR:?}
prog=$B/tests/test_future
src=${CIO_TESTS_DIR:?}/test_future.c
fail() { echo "FAIL: $*"; exit 1; }
cd "$(mktemp -d)" || exit 1
trap 'rm -rf "$PWD"' EXIT

mapfile -t names < <(sed -n 's/.*RUN_TASK_TEST(\([A-Za-z0-9_]*\)).*/\1/p' "$src")
[ ${#names[@]} -ge 3 ] || fail "fewer than 3 RUN_TASK_TESTs in $src"
# The RUN_TASK_TESTs that ran, in order (a test that runs its own loop,
# outside RUN_TASK_TEST, is not selectable and not counted).
ran() {
  grep -oE '^(ok  |FAIL) [A-Za-z0-9_]+$' err | awk '{print $2}' | grep -xF -f <(printf '%s\n' "${names[@]}") |
    paste -sd' '
}

"$prog" > out 2> err || fail "all: exit $?: $(cat err)"
[ "$(ran)" = "${names[*]}" ] || fail "all: ran '$(ran)', want '${names[*]}'"
echo "ok   no name: all ${#names[@]} ran"

"$prog" "${names[1]}" > out 2> err || fail "${names[1]}: exit $?: $(cat err)"
[ "$(ran)" = "${names[1]}" ] || fail "one: ran '$(ran)', want '${names[1]}'"
echo "ok   ${names[1]} alone"

"$prog" "${names[2]}" "${names[0]}" > out 2> err || fail "two: exit $?: $(cat err)"
[ "$(ran)" = "${names[0]} ${names[2]}" ] || fail "two: ran '$(ran)', want '${names[0]} ${names[2]}'"
echo "ok   two names: both, in the program's order"

"$prog" "${names[0]}" no_such_test > out 2> err && fail "a missing name passed"
grep -q 'no test named no_such_test' err || fail "missing name not reported: $(cat err)"
[ "$(ran)" = "${names[0]}" ] || fail "with a missing name: ran '$(ran)'"
echo "ok   a name the program lacks fails the run"
