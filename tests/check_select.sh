#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_select: one test at a time (tests/check.h, tests/lib/select.h).
# `test_future NAME` runs the RUN_TASK_TEST called NAME and no other; two
# names run both; a name the program lacks fails the run, saying so; no name
# runs every test.  A test that runs its own loops (RUN_TEST) is selected
# the same way; so are test_timer's and test_ctx's (own CHECK macros, only
# lib/select.h) and the conformance cases (conformance.h).  The names are
# read from the source, so renaming a test does not break this one.
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

# RUN_TEST: one "ok" line each, like RUN_TASK_TEST's, named by the test.
oks() { grep -cE '^ok ' "$1"; }
plain=$(sed -n 's/.*RUN_TEST(\([A-Za-z0-9_]*\)).*/\1/p' "$src" | head -n1)
[ -n "$plain" ] || fail "no RUN_TEST in $src"
"$prog" "$plain" > out 2> err || fail "$plain: exit $?: $(cat err)"
[ -z "$(ran)" ] && [ "$(oks err)" = 1 ] || fail "$plain alone: ran '$(ran)', $(oks err) ok lines: $(cat err)"
"$prog" "${names[0]}" > out 2> err || fail "${names[0]}: exit $?: $(cat err)"
[ "$(oks err)" = 1 ] || fail "${names[0]} alone: $(oks err) ok lines (a RUN_TEST ran unasked?): $(cat err)"
echo "ok   a RUN_TEST test is selected the same way"

# test_timer and test_ctx: their own harness, the same selection.
for p in test_timer test_ctx; do
  mapfile -t tn < <(sed -n 's/.*RUN_TEST(\([A-Za-z0-9_]*\)).*/\1/p' "$CIO_TESTS_DIR/$p.c")
  [ ${#tn[@]} -ge 3 ] || fail "fewer than 3 RUN_TESTs in $p.c"
  "$B/tests/$p" "${tn[0]}" > out 2>&1 || fail "$p ${tn[0]}: exit $?: $(cat out)"
  "$B/tests/$p" "${tn[0]}" no_such_test > out 2>&1 && fail "$p: a missing name passed"
  grep -q 'no test named no_such_test' out || fail "$p: missing name not reported: $(cat out)"
done
"$B/tests/test_timer" test_empty > out 2>&1
[ "$(oks out)" = 1 ] || fail "test_timer test_empty: $(oks out) ok lines: $(cat out)"
echo "ok   test_timer and test_ctx run one test by name, and fail on a missing one"

# conformance: every name must match a case, not only the first.
conf=$B/tests/conf_test_locks
case1=$(sed -n 's/^CONF_TASK(\([A-Za-z0-9_]*\)).*/\1/p' "$CIO_TESTS_DIR/conformance/test_locks.c" | head -n1)
case1=${case1##*__}
"$conf" "$case1" > out 2> err || fail "conf_test_locks $case1: exit $?: $(cat err)"
"$conf" "$case1" no_such_case > out 2> err && fail "conf_test_locks: a missing second name passed"
grep -q 'no case named no_such_case' err || fail "conformance: missing name not reported: $(cat err)"
echo "ok   a conformance name that matches no case fails the run"
