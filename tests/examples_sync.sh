#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CIO_TEST: RUN_SERIAL
#
# Runs the example programs ported from the articles' queue, semaphore,
# thread pool, generator, async-with, callback and multi-loop sections and
# checks their output strictly: the lines, their order and counts, and the
# point of each program (at most 3 requests in flight, three blocking jobs in
# about one job's time, 1000 results through 5 workers, two loops running at
# the same time...).  Times are bounded from below (the sleeps were waited
# for); from above only where the point is concurrency, and then below what
# the same work one after the other takes at the least, so that a loaded
# machine cannot fail them.
#
# Env: CIO_EXAMPLES_DIR (built examples), CIO_SANITIZE (sanitizer list or empty).
set -u

EX=${CIO_EXAMPLES_DIR:?CIO_EXAMPLES_DIR is not set}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cio_examples_sync.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
OUT=$WORK/out
ERR=$WORK/err

failures=0
current=""
fail() {
    echo "FAIL $current: $*" >&2
    failures=$((failures + 1))
}

# run NAME [ARGS...]: runs the example, stdout in $OUT, stderr in $ERR, wall
# time in $WALL (seconds), exit status in $STATUS.
run() {
    local name=$1
    shift
    if [ ! -x "$EX/$name" ]; then
        fail "$EX/$name is missing"
        STATUS=127
        : >"$OUT"
        return
    fi
    local t0 t1
    t0=$(date +%s.%N)
    timeout 120 "$EX/$name" "$@" >"$OUT" 2>"$ERR"
    STATUS=$?
    t1=$(date +%s.%N)
    WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}

# run_ok NAME [ARGS...]: run, and fail unless it exited 0 with an empty stderr.
run_ok() {
    run "$@"
    if [ "$STATUS" != 0 ]; then
        fail "exit status $STATUS"
        sed 's/^/  stderr: /' "$ERR" >&2
    elif [ -s "$ERR" ]; then
        fail "unexpected stderr:"
        sed 's/^/  stderr: /' "$ERR" >&2
    fi
}

# expect_output: stdin is the exact expected stdout.
expect_output() {
    if ! diff -u - "$OUT" >"$WORK/diff"; then
        fail "output differs (- expected, + got):"
        sed 's/^/  /' "$WORK/diff" >&2
    fi
}

# wall_at_least LO: LO <= $WALL (the program waited for its sleeps).
wall_at_least() {
    if ! awk -v w="$WALL" -v lo="$1" 'BEGIN { exit !(w >= lo) }'; then
        fail "took ${WALL}s, expected at least ${1}s"
    fi
}

# wall_below_serial HI: $WALL < HI, where HI is under the least time the
# same sleeps take one after the other: they overlapped.
wall_below_serial() {
    if ! awk -v w="$WALL" -v hi="$1" 'BEGIN { exit !(w < hi) }'; then
        fail "took ${WALL}s, expected less than ${1}s (the sleeps did not overlap)"
    fi
}

# check_awk 'PROGRAM' [awk -v args...]: an awk program over $OUT that prints
# one line per problem (and nothing when all is well).
check_awk() {
    local prog=$1
    shift
    local problems
    problems=$(awk "$@" "$prog" "$OUT" 2>&1)
    if [ -n "$problems" ]; then
        fail "$(printf '%s\n' "$problems" | head -n 20)"
    fi
}

ok_or_fail() {
    local before=$1
    # the last run's wall time, to see how far a loaded machine is from the bounds
    if [ "$failures" = "$before" ]; then echo "ok   $current (${WALL:-?} s)"; else echo "FAIL $current"; fi
}

# ---- asyncq (seed 000): producers, consumers, join, cancel -------------------

# The checks that hold for every run: each line has one of the article's
# forms; every item added is got exactly once, after it was added; a
# producer sleeps once per item it adds; a consumer sleeps once more than
# the items it got (its last sleep or get is cut short by cancel()); the
# last line is the timing.
ASYNCQ_AWK='
function bad(msg) { print "line " NR ": " msg ": " $0; nbad++ }
BEGIN { h = "[0-9a-f]"; hex10 = "<" h h h h h h h h h h ">" } # (mawk has no {10})
/^Program completed in [0-9]+\.[0-9][0-9][0-9][0-9][0-9] seconds\.$/ { done_line = NR; next }
done_line { bad("output after the last line") ; next }
/^(Producer|Consumer) [0-9]+ sleeping for ([0-9]|10) seconds\.$/ {
    if ($1 == "Producer") { if ($2 >= np) bad("no such producer"); psleep[$2]++ }
    else { if ($2 >= nc) bad("no such consumer"); csleep[$2]++ }
    next
}
$0 ~ "^Producer [0-9]+ added " hex10 " to queue\\.$" {
    it = substr($4, 2, 10)
    if ($2 >= np) bad("no such producer")
    if (it in added) bad("item added twice")
    added[it] = NR; padded[$2]++; nadded++
    if (psleep[$2] != padded[$2]) bad("producer added without sleeping first")
    next
}
$0 ~ "^Consumer [0-9]+ got element " hex10 " in [0-9]+\\.[0-9][0-9][0-9][0-9][0-9] seconds\\.$" {
    it = substr($5, 2, 10)
    if ($2 >= nc) bad("no such consumer")
    if (!(it in added)) bad("item got before it was added")
    if (it in got) bad("item got twice")
    got[it] = NR; cgot[$2]++; ngot++
    if (csleep[$2] != cgot[$2]) bad("consumer got without sleeping first")
    next
}
{ bad("unexpected line") }
END {
    if (!done_line) print "no \"Program completed\" line"
    for (it in added) if (!(it in got)) print "item " it " was never got"
    for (p = 0; p < np; p++) {
        if (padded[p] > 10) print "producer " p " added " padded[p] " items (at most 10)"
        if (psleep[p] != padded[p]) print "producer " p ": " psleep[p] " sleeps for " padded[p] " items"
    }
    for (c = 0; c < nc; c++)
        if (csleep[c] != cgot[c] + 1) print "consumer " c ": " csleep[c] " sleeps for " cgot[c] " items"
    if (min_items != "" && nadded < min_items) print "only " nadded " items"
}'

current="asyncq -p 2 -c 5"
before=$failures
run_ok asyncq -p 2 -c 5 -s 0.01 --seed 444
check_awk "$ASYNCQ_AWK" -v np=2 -v nc=5 -v min_items=1
# Before the first await returns, the lines depend only on the seed and the
# order the tasks start in: these are the article's program's (Python 3,
# random.seed(444)); producer 1 draws n = 0 and never prints.
if ! diff -u - <(head -n 6 "$OUT") >"$WORK/diff" <<'EOF'
Producer 0 sleeping for 4 seconds.
Consumer 0 sleeping for 4 seconds.
Consumer 1 sleeping for 7 seconds.
Consumer 2 sleeping for 4 seconds.
Consumer 3 sleeping for 4 seconds.
Consumer 4 sleeping for 8 seconds.
EOF
then
    fail "first lines differ from Python's (- expected, + got):"
    sed 's/^/  /' "$WORK/diff" >&2
fi
ok_or_fail "$before"

current="asyncq --nprod 5 --ncon 10 (defaults)"
before=$failures
run_ok asyncq -s 0.01
check_awk "$ASYNCQ_AWK" -v np=5 -v nc=10 -v min_items=5
# the long options; the same seed gives the same number of items (each
# producer draws its count before its first await)
items=$(grep -c ' added <' "$OUT")
run_ok asyncq --nprod 5 --ncon 10 --scale 0.01 --seed 444
check_awk "$ASYNCQ_AWK" -v np=5 -v nc=10
[ "$(grep -c ' added <' "$OUT")" = "$items" ] || fail "the long options gave another item count"
ok_or_fail "$before"

current="asyncq -p 4 -c 100 (many consumers)"
before=$failures
run_ok asyncq -p 4 -c 100 -s 0.005 --seed 7
check_awk "$ASYNCQ_AWK" -v np=4 -v nc=100
ok_or_fail "$before"

# ---- semaphore (seed 004): at most 3 requests in flight ----------------------

# Every request starts once and ends once after it started; the number in
# flight, counted from the lines themselves, never exceeds the limit and
# reaches it; requests start in order (the semaphore is FIFO); the last line
# reports the same maximum.
SEM_AWK='
function bad(msg) { print "line " NR ": " msg ": " $0; nbad++ }
/^开始爬取,网页为[0-9]+$/ {
    u = substr($0, length("开始爬取,网页为") + 1) + 0
    if (u in started) bad("started twice")
    if (u != nstarted + 1) bad("started out of order")
    started[u] = NR; nstarted++
    if (++inflight > max) max = inflight
    next
}
/^网页[0-9]+爬取完毕$/ {
    u = substr($0, length("网页") + 1)
    sub(/爬取完毕$/, "", u); u += 0
    if (!(u in started)) bad("ended before it started")
    if (u in ended) bad("ended twice")
    ended[u] = NR; inflight--
    next
}
/^最大并发数: [0-9]+$/ { reported = $2; if (NR != nlines) bad("not the last line"); next }
{ bad("unexpected line") }
END {
    if (nstarted != n) print nstarted " requests started, expected " n
    for (u = 1; u <= n; u++) if (!(u in ended)) print "request " u " never ended"
    if (max != limit) print "at most " max " in flight, expected " limit
    if (reported != limit) print "reported " reported " in flight, expected " limit
}'

current="semaphore (limit 3)"
before=$failures
run_ok semaphore -n 12 -s 0.02 --seed 7
check_awk "$SEM_AWK" -v n=12 -v limit=3 -v nlines="$(wc -l <"$OUT")"
# the first three start at once, the fourth only when one of them ends
check_awk 'NR <= 3 && $0 != "开始爬取,网页为" NR { print "line " NR ": " $0 }
           NR == 4 && $0 !~ /爬取完毕$/ { print "line 4 should be an end: " $0 }'
# 12 requests of 1-3 s, 3 at a time: at least 12/3 s, scaled
wall_at_least 0.08
ok_or_fail "$before"

current="semaphore --limit 2, random seeds"
before=$failures
for seed in 1 2 3; do
    run_ok semaphore --requests 9 --limit 2 --scale 0.01 --seed "$seed"
    check_awk "$SEM_AWK" -v n=9 -v limit=2 -v nlines="$(wc -l <"$OUT")"
done
ok_or_fail "$before"

# ---- to_thread (seeds 001, 002) ------------------------------------------------

TO_THREAD_AWK='
function bad(msg) { print "line " NR ": " msg ": " $0 }
NR == 1 && $0 != "主协程正在执行阻塞任务" { bad("expected 主协程正在执行阻塞任务") }
NR == 2 && $0 != "主协程正在做其他事情" { bad("expected 主协程正在做其他事情") }
NR == 3 && $0 != "任务开始" { bad("expected 任务开始") }
NR == 4 && $0 != "任务完成" { bad("expected 任务完成") }
NR == 5 || NR == 12 { if ($0 !~ /^[0-9]+\.[0-9]+$/) bad("expected time()"); t[NR] = $0 + 0 }
NR >= 6 && NR <= 8 { if ($0 !~ /^thread id: [0-9]+$/) bad("expected thread id"); ids[$3]++ }
NR >= 9 && NR <= 11 && $0 != "job done!" { bad("expected job done!") }
NR > 12 { bad("unexpected line") }
END {
    if (NR != 12) print NR " lines, expected 12"
    n = 0; for (i in ids) n++
    if (n != want_ids) print n " distinct thread ids, expected " want_ids
    el = t[12] - t[5]
    if (el < lo || el >= hi) printf "main() took %.3fs by its own clock, expected [%s, %s)\n", el, lo, hi
}'

current="to_thread (three jobs in one job's time)"
before=$failures
# seed 001's job sleeps 2 s; seed 002's three jobs sleep 10 s (+ 1 s each,
# awaited): at 0.05 that is 0.1 s, then 0.55 s overlapped (at least 1.55 s
# in a row: the bound of 1.5 s is under that, not a guess at the load)
run_ok to_thread -s 0.05
check_awk "$TO_THREAD_AWK" -v want_ids=3 -v lo=0.55 -v hi=1.5
wall_at_least 0.65
ok_or_fail "$before"

current="to_thread --blocking (the loop blocked: three jobs in a row)"
before=$failures
run_ok to_thread --blocking -s 0.02
check_awk "$TO_THREAD_AWK" -v want_ids=1 -v lo=0.62 -v hi=100
ok_or_fail "$before"

# ---- executor (seed 004): 1000 blocking calls, 5 workers ---------------------

EXEC_AWK='
function bad(msg) { print "line " NR ": " msg ": " $0 }
/^第[0-9]+个foo开始运行$/ {
    i = substr($0, length("第") + 1); sub(/个foo开始运行$/, "", i); i += 0
    if (i < 0 || i >= n) bad("no such call")
    if (i in started) bad("started twice")
    started[i] = NR; nstarted++
    next
}
/^[0-9]+$/ {
    i = $0 + 0
    if (!(i in started)) bad("result before its call started")
    if (i in result) bad("result twice")
    result[i] = NR; nresults++
    next
}
/^[0-9]+ results, at most [0-9]+ at once$/ { summary = $0; if (NR != nlines) bad("not the last line"); next }
{ bad("unexpected line") }
END {
    if (nstarted != n) print nstarted " calls started, expected " n
    if (nresults != n) print nresults " results, expected " n
    if (want != "" && summary != want) print "summary \"" summary "\", expected \"" want "\""
    if (want == "") {
        split(summary, w, " ")
        if (w[1] != n || w[5] < 1 || w[5] > maxw) print "summary \"" summary "\": expected " n " results, 1.." maxw " at once"
    }
}'

current="executor (1000 calls, 5 workers)"
before=$failures
# 1000 calls of 2 s scaled to 4 ms, 5 at a time: at least 0.8 s (that 5
# ran at once the workers counted: "at most 5 at once" is the most seen)
run_ok executor -s 0.002
check_awk "$EXEC_AWK" -v n=1000 -v want="1000 results, at most 5 at once" -v nlines="$(wc -l <"$OUT")"
wall_at_least 0.8
ok_or_fail "$before"

current="executor -w 0 (the default executor)"
before=$failures
cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc)
maxw=$((cores + 4 > 32 ? 32 : cores + 4))
run_ok executor --calls 100 --workers 0 --scale 0.001
check_awk "$EXEC_AWK" -v n=100 -v want="" -v maxw="$maxw" -v nlines="$(wc -l <"$OUT")"
run_ok executor -n 20 -w 1 -s 0.001
check_awk "$EXEC_AWK" -v n=20 -v want="20 results, at most 1 at once" -v nlines="$(wc -l <"$OUT")"
# one worker: the calls run in order, each result before the next call
check_awk '/开始运行/ { i = substr($0, length("第") + 1); sub(/个.*/, "", i); if (i + 0 != k++) print "call " i " out of order" }'
ok_or_fail "$before"

# ---- async_gen (seeds 001, 002) --------------------------------------------------

current="async_gen"
before=$failures
run_ok async_gen -s 0.02
expect_output <<'EOF'
0
1
2
3
4
5
6
7
8
9
[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
EOF
# two passes of ten sleeps of 1 s, scaled
wall_at_least 0.4
ok_or_fail "$before"

# ---- async_ctx (seed 001) ----------------------------------------------------------

current="async_ctx"
before=$failures
run_ok async_ctx -s 0.4
expect_output <<'EOF'
>进入上下文管理器
在上下文管理器内部
>退出上下文管理器
EOF
# __aenter__ and __aexit__ each wait 0.5 s, scaled: both were waited for
wall_at_least 0.4
run async_ctx -s 0.1 --fail
[ "$STATUS" = 1 ] || fail "--fail: exit status $STATUS, expected 1"
expect_output <<'EOF'
>进入上下文管理器
在上下文管理器内部
>退出上下文管理器
EOF
wall_at_least 0.1
ok_or_fail "$before"

# ---- callbacks (seed 004) -----------------------------------------------------------

current="callbacks"
before=$failures
# On virtual time, unscaled: t1..t3 sleep from the same instant, so their
# timers fire in one pass as in the article's run (on a loaded machine real
# timers a few ms apart may fire in separate passes and interleave the done
# callbacks with the other tasks' output).
export CIO_VIRTUAL_TIME=1
run_ok callbacks
unset CIO_VIRTUAL_TIME
# What the article's program prints under Python 3.11 (tasks print without
# the "defined at FILE:LINE" part).
expect_output <<'EOF'
from test,开始阻塞,传入的参数是t1
from test,开始阻塞,传入的参数是t2
from test,开始阻塞,传入的参数是t3
from test,停止阻塞,传入的参数是t1
from test,停止阻塞,传入的参数是t2
from test,停止阻塞,传入的参数是t3
test的返回结果t1
test的返回结果t2
from test,开始阻塞,传入的参数是t4
from test,停止阻塞,传入的参数是t4
回调函数follow_named被调用,额外参数是f4,上一个test返回值是test的返回结果t4
from test,开始阻塞,传入的参数是t1
from test,开始阻塞,传入的参数是t2
from test,停止阻塞,传入的参数是t1
from test,停止阻塞,传入的参数是t2
follow2开始运行,传入的参数t是<Task finished name='Task-7' coro=<test() done> result='test的返回结果t1'>
follow2开始运行,传入的参数t是<Task finished name='Task-8' coro=<test() done> result='test的返回结果t2'>
from回调函数follow2,上一个test返回值是test的返回结果t1
from回调函数follow2,上一个test返回值是test的返回结果t2
EOF
# (t1..t3 overlap: the order shows it; the 1 + 1 + (1 + 2) virtual seconds
# take no real time, so there is no wall-clock figure to check)
ok_or_fail "$before"

# ---- multi_loop (seed 004) ------------------------------------------------------------

current="multi_loop (two loops in two threads)"
before=$failures
run_ok multi_loop -s 1 --seed 3
check_awk '
NR == 1 && $0 != "False" { print "line 1: expected False: " $0 }
(NR == 2 || NR == 3) && $0 !~ /^from rnd的结果是 [1-6] <class .int.>$/ { print "line " NR ": " $0 }
NR == 4 && $0 != "over" { print "line 4: expected over: " $0 }
END { if (NR != 4) print NR " lines, expected 4" }'
# rnd(2) on one loop and rnd(3) on the other at the same time: 3 s, not
# at least 5 (the bound of 4.5 s is under that, with room for the load)
wall_at_least 3
wall_below_serial 4.5
ok_or_fail "$before"

if [ "$failures" != 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
fi
exit 0
