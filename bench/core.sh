#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Core runtime figures of cio next to the same figures for Go, asyncio and
# uvloop, measured in the same run:
#
#   yield_roundtrip   ns per task -> loop -> same task round trip
#                     (cio_yield / bare cio__ctx_switch round trip / Go
#                     runtime.Gosched, GOMAXPROCS=1 / await asyncio.sleep(0))
#   spawn_join        ns per task: spawn 100k trivial tasks, join them all
#                     (gather), best round after the first
#   parked_1m         resident bytes per parked task (VmRSS delta / N):
#                     1M cio tasks and 1M goroutines, 200k asyncio tasks
#   parked_compact    the same for cio in compact mode (CIO_STACK_COMPACT)
#   fresh_spawn_park  us per task to spawn and park 100k tasks on memory
#                     the process never used (cio default and compact; the
#                     `#` lines give page faults per task next to it)
#   timer_add_cancel  ns per call_later + cancel with 1M timers pending
#
# Output: one line per figure, `NAME cio=V PEER=V ... unit=U` followed by
# ratio_vs_PEER = PEER / cio (every unit here is lower-is-better, so the
# ratio is how many times cio beats the peer; < 1 means the peer is better;
# for the floor it is floor / cio, 1.0 meaning no overhead over a bare
# switch).  A peer that is missing or fails prints PEER=na.  Lines starting
# with `#` are details (mapping counts, cold rounds, component costs).
# A benchmark reports; it never fails on a target.
#
# Env (set by `make bench`): CIO_BENCH_DIR (built benchmarks), CIO_PYTHON
# (Debian's python3, which has uvloop), CIO_GO (go binary), CIO_BUILD_DIR.
# BENCH_QUICK=1 shrinks every size for a smoke run (figures not comparable).
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/runner.sh
. "$here/lib/runner.sh"
bench_dir=${CIO_BENCH_DIR:-$here/../build/bench}
py=${CIO_PYTHON:-/usr/bin/python3}
go=${CIO_GO:-$(command -v go || true)}
build_dir=${CIO_BUILD_DIR:-$here/../build}

work=$(mktemp -d "${TMPDIR:-/tmp}/cio-bench-core.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

if [ "${BENCH_QUICK:-0}" = 1 ]; then
    export BENCH_YIELD_N=100000 BENCH_PY_YIELD_N=10000 BENCH_REPS=3 BENCH_PY_REPS=2 \
        BENCH_SPAWN_N=10000 BENCH_PARKED_N=50000 BENCH_PY_PARKED_N=20000 BENCH_QUICK_FRESH_N=20000 \
        BENCH_TIMERS_PENDING=100000 BENCH_TIMERS_OPS=200000 BENCH_GO_TIMERS_OPS=200000 \
        BENCH_PY_TIMERS_OPS=20000
fi

# Keep the source tree clean of __pycache__.
export PYTHONDONTWRITEBYTECODE=1

# Every figure's notes end with how long it took to measure (the whole
# runner should stay within ~3 minutes).
notes=()

# Every Go and Python peer prints its figure, one number, on its first line.
peer_re='^[0-9]+(\.[0-9]+)?$'
build_go_peers yield spawn parked timers

# ---- 1. yield_roundtrip ---------------------------------------------------
t_start=$SECONDS
run_cio yield_roundtrip 60 yield; line=$R
c=$(field "$line" cio)
fl=$(field "$line" floor)
go_run yield 60; g=$R
py_run yield uvloop 60; uv=$R
py_run yield asyncio 60; as=$R
if [ -x "$build_dir/tests/test_ctx" ]; then
    t=$(timeout 30 "$build_dir/tests/test_ctx" --bench 2>/dev/null | grep -o 'ctx_switch_roundtrip ns=[0-9.]*' | head -n1)
    [ -n "$t" ] && notes+=("# yield_roundtrip: tests/test_ctx --bench says $t")
fi
result yield_roundtrip ns lower "$c" floor="$fl" go="$g" uvloop="$uv" asyncio="$as"
flush_notes yield_roundtrip

# ---- 2. spawn_join --------------------------------------------------------
t_start=$SECONDS
run_cio spawn_join 120 spawn; line=$R
c=$(field "$line" cio)
go_run spawn 60; g=$R
py_run spawn uvloop 90; uv=$R
py_run spawn asyncio 90; as=$R
result spawn_join ns lower "$c" go="$g" uvloop="$uv" asyncio="$as"
flush_notes spawn_join

# ---- 3. parked_1m ---------------------------------------------------------
t_start=$SECONDS
# A million parked tasks need ~4.5 GiB (cio) and ~2.7 GiB (Go): on a small
# machine measure fewer (the figure is per task either way).
avail_kb=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo 2>/dev/null)
if [ -z "${BENCH_PARKED_N:-}" ] && [ -n "$avail_kb" ] && [ "$avail_kb" -lt $((8 * 1024 * 1024)) ]; then
    export BENCH_PARKED_N=$((avail_kb / 8 / 1000 * 1000))
    notes+=("# parked_1m: only $((avail_kb / 1024)) MiB available: $BENCH_PARKED_N tasks instead of 1000000")
fi
run_cio parked_1m 150 parked; line=$R
c=$(field "$line" cio)
go_run parked 120 2; g=$R
py_run parked asyncio 90; as=$R
result parked_1m bytes lower "$c" go="$g" asyncio="$as"
flush_notes parked_1m

# ---- 3b. parked_compact and fresh_spawn_park -------------------------------
t_start=$SECONDS
BENCH_PARKED_STACK=640 run_cio parked_compact 150 parked; line=$R
cc=$(field "$line" cio)
result parked_compact bytes lower "$cc" go="$g" asyncio="$as"
flush_notes parked_compact
t_start=$SECONDS
# The fresh-memory figure is the spawn+park time of a first run of 100k.
fresh() {
    local n=${BENCH_QUICK_FRESH_N:-100000} out
    out=$(BENCH_PARKED_N=$n BENCH_PARKED_STACK=$1 timeout 120 "$bench_dir/parked" 2>/dev/null | grep '^#')
    notes+=("$out")
    sed -n 's/.* = \([0-9.]*\) us\/task.*/\1/p' <<<"$out"
}
fd=$(fresh 0)
fc=$(fresh 640)
echo "fresh_spawn_park cio_default=${fd:-na} cio_compact=${fc:-na} unit=us"
flush_notes fresh_spawn_park

# ---- 4. timer_add_cancel --------------------------------------------------
t_start=$SECONDS
run_cio timer_add_cancel 60 timers; line=$R
c=$(field "$line" cio)
go_run timers 90; g=$R
py_run timers uvloop 90; uv=$R
py_run timers asyncio 90; as=$R
result timer_add_cancel ns lower "$c" go="$g" uvloop="$uv" asyncio="$as"
flush_notes timer_add_cancel
exit 0
