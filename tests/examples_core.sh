#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CIO_TEST: RUN_SERIAL
#
# examples_core: runs the ports of the articles' core asyncio examples
# (countasync, makerandom, chained, coro_gather, as_completed, task_states,
# wait_modes, shield, futures) and checks what they print, strictly: the
# lines and their order, the results, the counts, which tasks ended
# cancelled or completed.  Where concurrency is the point of the example,
# time is checked either exactly, on virtual time (CIO_VIRTUAL_TIME=1:
# countasync, chained, wait_modes run unscaled and print their loop-clock
# durations, which must be exactly the article's), or, for the examples that
# print no durations, on the real clock with a small time scale (-s) and
# only from below (each stdout line is stamped with the time it arrived;
# the examples line-buffer stdout), each line no earlier than the sleeps
# before it: a sleep is never early, but how late a loaded machine makes
# it is not the example's business.
# Env: CIO_EXAMPLES_DIR (the built examples).  Exit 0 pass, 1 fail.
set -u
export LC_ALL=C # byte-wise comparisons; EPOCHREALTIME with a '.'

EX=${CIO_EXAMPLES_DIR:?CIO_EXAMPLES_DIR is not set}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/examples_core.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT

failures=0
CUR=-
fail() {
    echo "FAIL [$CUR]: $*"
    failures=$((failures + 1))
}

# stamp T0US: prefixes each line of stdin with the seconds since T0US
# (microseconds, as ${EPOCHREALTIME/./}) and a tab. No fork per line.
stamp() {
    local t0=$1 line now d
    while IFS= read -r line || [[ -n $line ]]; do
        now=${EPOCHREALTIME/./}
        d=$((now - t0))
        printf '%d.%06d\t%s\n' $((d / 1000000)) $((d % 1000000)) "$line"
    done
}

# run NAME [ARGS...]: runs $EX/NAME.  Sets OUT (its stdout), TS (the same
# lines as "seconds<TAB>line"), ERR (its stderr), RC and WALL (seconds).
# Returns 1 (after reporting) if it could not run or did not exit 0.
run() {
    local name=$1
    shift
    CUR=$name
    OUT=$WORK/$name.out TS=$WORK/$name.ts ERR=$WORK/$name.err
    : >"$OUT"
    : >"$TS"
    if [[ ! -x $EX/$name ]]; then
        fail "$EX/$name is not built"
        return 1
    fi
    local t0=${EPOCHREALTIME/./}
    "$EX/$name" "$@" 2>"$ERR" </dev/null | stamp "$t0" >"$TS"
    RC=${PIPESTATUS[0]}
    local d=$((${EPOCHREALTIME/./} - t0))
    WALL=$(printf '%d.%06d' $((d / 1000000)) $((d % 1000000)))
    cut -f2- "$TS" >"$OUT"
    echo "--- $name $* (exit $RC, ${WALL} s)"
    if ((RC != 0)); then
        fail "exit status $RC; stderr:"
        sed 's/^/    /' "$ERR"
        return 1
    fi
    if [[ -s $ERR ]]; then
        fail "unexpected output on stderr:"
        sed 's/^/    /' "$ERR"
    fi
    return 0
}

# atleast WHAT X LO: checks X >= LO (decimals).  X is a time stamp (since
# just before the program started), never an interval between two stamps:
# a line read late makes the gap after it look short, so only "this line
# came at least LO after the start" holds however loaded the machine is.
atleast() {
    if [[ -z $2 ]] || ! awk -v x="$2" -v lo="$3" 'BEGIN { exit !(x >= lo) }'; then
        fail "$1 = ${2:-<missing>}, expected at least $3"
        return 1
    fi
}

# exactly WHAT X WANT: X == WANT to a microsecond (virtual time).
exactly() {
    if [[ -z $2 ]] || ! awk -v x="$2" -v w="$3" 'BEGIN { d = x - w; exit !(d < 1e-6 && d > -1e-6) }'; then
        fail "$1 = ${2:-<missing>}, expected exactly $3"
        return 1
    fi
}

# at LINE: the time stamp of the first output line equal to LINE (empty if none).
at() { awk -F'\t' -v l="$1" 'substr($0, index($0, "\t") + 1) == l { print $1; exit }' "$TS"; }

# at_prefix PREFIX: the time stamp of the first output line starting with PREFIX.
at_prefix() { awk -F'\t' -v p="$1" 'index(substr($0, index($0, "\t") + 1), p) == 1 { print $1; exit }' "$TS"; }


# same WHAT EXPECTED FILE: the file must hold exactly EXPECTED (plus a final newline).
same() {
    local d
    if ! d=$(diff -u <(printf '%s\n' "$2") "$3"); then
        fail "$1 differs from what is expected (--- expected, +++ got):"
        printf '%s\n' "$d" | sed 's/^/    /'
        return 1
    fi
}

# has LINE: the output must contain LINE exactly.
has() { grep -qxF -- "$1" "$OUT" || fail "missing line: $1"; }
# hasnt LINE: the output must not contain LINE.
hasnt() { ! grep -qxF -- "$1" "$OUT" || fail "unexpected line: $1"; }

# ---------------------------------------------------------------------------
# countasync: One One One Two Two Two, then "... executed in 1.00 seconds.":
# on virtual time exactly one second (three concurrent sleeps of 1 s; 3.00 if
# they ran one after the other).
if CIO_VIRTUAL_TIME=1 run countasync; then
    same "output" "One
One
One
Two
Two
Two
$EX/countasync executed in 1.00 seconds." "$OUT"
fi

# ---------------------------------------------------------------------------
# makerandom (seed 444, as the article): each producer retries until above its
# threshold (9, 8, 7), sleeping idx+1 (scaled) between tries.  The values
# are drawn and printed without a suspension in between, so in output order
# they are exactly the stream of Python's random.seed(444); randint(0, 10).
S=0.05
if run makerandom -s $S; then
    stream=(4 4 0 4 7 4 4 8 10 7 8 4 7 1 6 9 3 9 7 10 0 1 0 1 9 0 5 10 5 8 2 5 5 0 3 1 5 6 10 5)
    colors=($'\e[36m' $'\e[91m' $'\e[35m')
    declare -a initiated=(0 0 0) finished=(-1 -1 -1) retries=(0 0 0)
    k=0 state=body stream_bad=0
    while IFS= read -r line; do
        if [[ $state == blank ]]; then
            [[ -z $line ]] || fail "expected an empty line before the results, got '$line'"
            state=results
            continue
        fi
        if [[ $state == results ]]; then
            want="r1: ${finished[0]}, r2: ${finished[1]}, r3: ${finished[2]}"
            [[ $line == "$want" ]] || fail "results line '$line', expected '$want'"
            state=end
            continue
        fi
        [[ $state == end ]] && {
            fail "unexpected line after the results: '$line'"
            continue
        }
        if [[ $line =~ ^$'\e'\[([0-9]+)m(Initiated\ makerandom\(([0-2])\)\ \.|makerandom\(([0-2])\)\ \ ==\ ([0-9]+)\ too\ low\;\ retrying\.|---\>\ Finished:\ makerandom\(([0-2])\)\ \ ==\ ([0-9]+)$'\e'\[0m)$ ]]; then
            idx=${BASH_REMATCH[3]}${BASH_REMATCH[4]}${BASH_REMATCH[6]}
            [[ $line == "${colors[idx]}"* ]] || fail "line '$line' not in the colour of makerandom($idx)"
            threshold=$((10 - idx - 1))
            if [[ -n ${BASH_REMATCH[3]} ]]; then
                ((initiated[idx]++ == 0)) || fail "makerandom($idx) initiated twice"
            else
                value=${BASH_REMATCH[5]}${BASH_REMATCH[7]}
                ((initiated[idx] == 1 && finished[idx] < 0)) || fail "makerandom($idx) drew outside its life: '$line'"
                if ((!stream_bad && k >= ${#stream[@]})); then
                    fail "more than ${#stream[@]} draws (later draws not compared)"
                    stream_bad=1
                elif ((!stream_bad && value != stream[k])); then
                    fail "draw #$((k + 1)) is $value, Python's random.seed(444) gives ${stream[k]} (later draws not compared)"
                    stream_bad=1
                fi
                k=$((k + 1))
                if [[ -n ${BASH_REMATCH[5]} ]]; then
                    ((value <= threshold)) || fail "'$line': $value is above the threshold $threshold"
                    retries[idx]=$((retries[idx] + 1))
                else
                    ((value > threshold)) || fail "'$line': finished with $value, not above $threshold"
                    finished[idx]=$value
                    if ((finished[0] >= 0 && finished[1] >= 0 && finished[2] >= 0)); then state=blank; fi
                fi
            fi
        else
            fail "unexpected line: '$(printf '%q' "$line")'"
        fi
    done <"$OUT"
    [[ $state == end ]] || fail "the output stops before the results line"
    # the first six lines: each producer starts and draws before anyone sleeps
    same "first lines" "${colors[0]}Initiated makerandom(0) .
${colors[0]}makerandom(0)  == 4 too low; retrying.
${colors[1]}Initiated makerandom(1) .
${colors[1]}makerandom(1)  == 4 too low; retrying.
${colors[2]}Initiated makerandom(2) .
${colors[2]}makerandom(2)  == 0 too low; retrying." <(head -n 6 "$OUT")
    # concurrency: the run takes the longest producer's sleeps, not the sum
    longest=0 total=0
    for i in 0 1 2; do
        t=$((retries[i] * (i + 1)))
        total=$((total + t))
        ((t > longest)) && longest=$t
    done
    echo "    retries ${retries[*]}: longest producer sleeps $longest x $S s, all together $total x $S s"
    atleast "wall time" "$WALL" "$(awk -v l=$longest -v s=$S 'BEGIN { print l * s }')"
fi

# ---------------------------------------------------------------------------
# chained 9 6 3 (seed 444): exactly the article's run, on virtual time
# unscaled: the chains overlap, so it takes the longest chain (4+7 = 11 s),
# not the sum (23 s), and each chain exactly its own sleeps.
if CIO_VIRTUAL_TIME=1 run chained 9 6 3; then
    same "output" "part1(9)  sleeping for 4 seconds.
part1(6)  sleeping for 4 seconds.
part1(3)  sleeping for 0 seconds.
Returning part1(3)  == result3-1.
part2(3, 'result3-1') sleeping for 4 seconds.
Returning part1(9)  == result9-1.
part2(9, 'result9-1') sleeping for 7 seconds.
Returning part1(6)  == result6-1.
part2(6, 'result6-1') sleeping for 4 seconds.
Returning part2(3, 'result3-1') == result3-2 derived from result3-1.
-->Chained result3 => result3-2 derived from result3-1 (took 4.00 seconds) .
Returning part2(6, 'result6-1') == result6-2 derived from result6-1.
-->Chained result6 => result6-2 derived from result6-1 (took 8.00 seconds) .
Returning part2(9, 'result9-1') == result9-2 derived from result9-1.
-->Chained result9 => result9-2 derived from result9-1 (took 11.00 seconds) .
Program finished in 11.00 seconds." "$OUT"
fi

# ---------------------------------------------------------------------------
# coro_gather: create_task + await, then gather of coro([3,2,1]) and
# coro([10,5,0]): results in argument order, after max(seq) = 10 units.
S=0.2
if run coro_gather -s $S; then
    same "output (clock times masked)" "t: type cio_task (name 'Task-N', state done)
t done: True
Start: HH:MM:SS
End: HH:MM:SS
Both tasks done: True
[[1, 2, 3], [0, 5, 10]]" <(sed -E "s/Task-[0-9]+/Task-N/; s/^(Start|End): [0-9]{2}:[0-9]{2}:[0-9]{2}$/\1: HH:MM:SS/" "$OUT")
    atleast "time of 't done' (one task of 3 units)" "$(at 't done: True')" 0.57
    atleast "time of End (10 units after Start)" "$(at_prefix 'End: ')" 1.9
    atleast "wall time (13 units)" "$WALL" 2.5
fi

# ---------------------------------------------------------------------------
# as_completed: the same two tasks, yielded in completion order: [1, 2, 3]
# after 3 units, [0, 5, 10] after 10.
S=0.2
if run as_completed -s $S; then
    same "output (clock times masked)" "Start: HH:MM:SS
res: [1, 2, 3] completed at HH:MM:SS
res: [0, 5, 10] completed at HH:MM:SS
End: HH:MM:SS
Both tasks done: True" <(sed -E 's/[0-9]{2}:[0-9]{2}:[0-9]{2}$/HH:MM:SS/' "$OUT")
    atleast "time of the first result (3 units after Start)" "$(at_prefix 'res: [1, 2, 3]')" 0.57
    atleast "time of the second result (10 units after Start)" "$(at_prefix 'res: [0, 5, 10]')" 1.9
    atleast "wall time (10 units)" "$WALL" 1.9
fi

# ---------------------------------------------------------------------------
# task_states: done/cancelled, result, exception, done callbacks,
# current_task, all_tasks (a set: its lines are compared sorted).
S=0.1
if run task_states -s $S; then
    same "output (all_tasks lines apart)" "== 任务的创建与生命周期 ==
任务名称: task
任务名称: MyTask
创建(Created): created
调度(Scheduled): scheduled
运行(Running): running
挂起(Suspended): suspended
完成(Done): done

== 任务完成与取消 ==
任务1正在执行
任务2正在执行
任务1完成
任务1已完成
任务2已取消

== 任务结果获取 ==
任务未完成时调用 result(): InvalidStateError
任务结果: 任务的返回值
任务已被取消, result(): CancelledError

== 任务异常处理 ==
任务异常: 协程中发生了错误。

== 任务的回调函数 ==
开始任务
任务完成
回调函数被调用
任务的返回结果是: 任务完成

== 当前任务获取 ==
主协程已启动
<Task pending name='Task-N' coro=<main_current_task() running>>

== 所有任务获取 ==
主协程已启动
任务 0 开始运行
任务 1 开始运行
任务 2 开始运行
任务 3 开始运行
任务 4 开始运行
任务 5 开始运行
任务 6 开始运行
任务 7 开始运行
任务 8 开始运行
任务 9 开始运行
ALL_TASKS
等待任务完成
任务 0 结束运行
任务 1 结束运行
任务 2 结束运行
任务 3 结束运行
任务 4 结束运行
任务 5 结束运行
任务 6 结束运行
任务 7 结束运行
任务 8 结束运行
任务 9 结束运行" <(sed -E 's/Task-[0-9]+/Task-N/' "$OUT" | awk '/^> / { if (!seen++) print "ALL_TASKS"; next } { print }')
    same "all_tasks lines (sorted)" "$(printf '%s\n' "> Task-N, <coroutine main_all_tasks()>" \
        "> 任务0, <coroutine task_coroutine(0)>" "> 任务1, <coroutine task_coroutine(1)>" \
        "> 任务2, <coroutine task_coroutine(2)>" "> 任务3, <coroutine task_coroutine(3)>" \
        "> 任务4, <coroutine task_coroutine(4)>" "> 任务5, <coroutine task_coroutine(5)>" \
        "> 任务6, <coroutine task_coroutine(6)>" "> 任务7, <coroutine task_coroutine(7)>" \
        "> 任务8, <coroutine task_coroutine(8)>" "> 任务9, <coroutine task_coroutine(9)>" | sort)" \
        <(grep '^> ' "$OUT" | sed -E 's/Task-[0-9]+/Task-N/' | sort)
    # the ten tasks of 1 unit run together: the whole program takes ~4.6 units
    # (it would be 13.6 with the ten in sequence)
    atleast "ten concurrent tasks, first start to last end (1 unit)" \
        "$(at '任务 9 结束运行')" 0.095
    atleast "wall time (4.6 units)" "$WALL" 0.44
fi

# ---------------------------------------------------------------------------
# wait_modes (seed 31, whose ten uniform(0, 2) draws keep clear of the
# timeout), on virtual time unscaled: FIRST_COMPLETED, ALL_COMPLETED,
# timeout, FIRST_EXCEPTION, wait_for.  What returns when shows in the
# order of the lines (FIRST_COMPLETED returns before task 2 ends, wait
# with timeout=1 leaves four pending...) and in the two measured times.
if CIO_VIRTUAL_TIME=1 run wait_modes --seed 31; then
    same "output (completion lines of the timeout section sorted, times masked)" "== FIRST_COMPLETED ==
任务 任务1 开始,预计耗时 1 秒
任务 任务2 开始,预计耗时 5 秒
任务 任务1 完成
任务1的执行结果:结果 任务1
已完成任务数:1
任务 任务2 完成

== ALL_COMPLETED ==
Task A finished
Task B finished
Task C finished

== timeout ==
> 任务 0 完成,执行时间 0.22 秒
> 任务 1 完成,执行时间 0.79 秒
> 任务 3 完成,执行时间 0.28 秒
> 任务 4 完成,执行时间 0.22 秒
> 任务 5 完成,执行时间 0.46 秒
> 任务 7 完成,执行时间 0.29 秒
已完成的任务数量: 6
待处理的任务数量: 4
以下任务未在超时时间内完成:
- 任务 2
- 任务 6
- 任务 8
- 任务 9

== FIRST_EXCEPTION ==
任务 1
任务 2
恢复任务 2
恢复任务 1
{<Task finished name='Task-N' coro=<task1()> result=1>, <Task finished name='Task-N' coro=<task2()> result=2>}
set()
运行时间 T

== FIRST_EXCEPTION (任务 3 出错) ==
任务 1
任务 2
任务 3
{<Task finished name='Task-N' coro=<task3()> exception=Invalid argument('任务 3 出错')>}
{<Task pending name='Task-N' coro=<task1()>>, <Task pending name='Task-N' coro=<task2()>>}
运行时间 T

== wait_for ==
>任务接收到 1.1365785243449302
放弃等待,任务已取消
task.cancelled(): True
The task took too long!
task.cancelled(): True" <(sed -E 's/Task-[0-9]+/Task-N/g; s/^运行时间 [0-9.e-]+$/运行时间 T/' "$OUT" |
        awk '/^> 任务 / { block[n++] = $0; next } n && !flushed { flush() } { print } END { if (n && !flushed) flush() }
             function flush(  i, j, t) { for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (block[j] < block[i]) { t = block[i]; block[i] = block[j]; block[j] = t }
                                         for (i = 0; i < n; i++) print block[i]; flushed = 1 }')
    # FIRST_EXCEPTION with both tasks succeeding returns when both are done
    # (2 s); with task 3 failing at 0.5 s, at once then
    rt() { sed -n "/^== $1 ==\$/,/^\$/s/^运行时间 //p" "$OUT"; }
    exactly "FIRST_EXCEPTION without a failure" "$(rt FIRST_EXCEPTION)" 2.0
    exactly "FIRST_EXCEPTION with task 3 failing at 0.5 s" "$(rt 'FIRST_EXCEPTION (任务 3 出错)')" 0.5
    hasnt ">任务完成"
fi

# ---------------------------------------------------------------------------
# shield: cancelling the shield leaves the task running to completion;
# cancelling the task cancels the shield; cancelling the shield a task
# awaits gives that task CancelledError at once, the inner task finishes.
S=0.2
if run shield -s $S; then
    same "output" "== 取消 shield ==
任务开始
任务完成
shield: <Future cancelled>

== 取消 task ==
任务被取消
shield: <Future cancelled>

== 取消 shielded ==
已取消: True
任务已被取消
保护任务: <Future cancelled>
任务: <Task finished name='Task-N' coro=<simple_task() done> result=1>" <(sed -E 's/Task-[0-9]+/Task-N/' "$OUT")
    atleast "inner task completing despite the cancelled shield (3 units)" \
        "$(at '任务完成')" 0.57
    atleast "CancelledError in main after the shield is cancelled (0.2 unit)" "$(at '任务已被取消')" 0.038
    atleast "end of case 3 (0.2 + 1 unit)" "$(at_prefix '任务: ')" 0.228
fi

# ---------------------------------------------------------------------------
# futures: set_result by hand, cancel by hand, two futures completed by
# tasks after 2 and 4 units and gathered, one completed by call_later.
S=0.1
if run futures -s $S; then
    same "output" "== 示例 1:手动设置 Future 的结果 ==
Setting future result manually...
Future received result: manual result

== 示例 2:手动取消 Future ==
Cancelling future manually...
Future was cancelled

== 组合多个 Future ==
Waiting for both futures...
Results from futures: ['result1', 'result2']

== call_later 设置 Future 的结果 ==
Waiting for the future set by call_later...
Done callback: future finished with 'result from call_later'
Future received result: result from call_later" "$OUT"
    atleast "gather of futures set after 2 and 4 units" \
        "$(at_prefix 'Results from futures: ')" 0.38
    atleast "future set by call_later after 1 unit" \
        "$(at 'Future received result: result from call_later')" 0.095
fi

echo
if ((failures)); then
    echo "examples_core: $failures check(s) failed"
    exit 1
fi
echo "examples_core: all checks passed"
exit 0
