#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Synchronisation, queue and executor figures of cio next to the same
# figures for Go (GOMAXPROCS=1), asyncio and uvloop, measured in the same run:
#
#   queue_handoff            ns per item: a producer task cio_queue_put()s 1M
#                            items into a queue of maxsize 1, a consumer task
#                            cio_queue_get()s them (Go: unbuffered channel
#                            between two goroutines; asyncio.Queue(1))
#   queue_handoff_unbounded  the same with an unbounded queue: put never
#                            suspends (Go: a channel buffered for all N items;
#                            asyncio.Queue())
#   lock_handoff             ns per acquire/release: two tasks, each 500k
#                            times (1M acquires in all) acquire, yield,
#                            release on one lock (Go:
#                            sync.Mutex with runtime.Gosched(); asyncio.Lock
#                            with sleep(0))
#   to_thread                us per round trip: cio_to_thread(empty fn) 100k
#                            times in a row (asyncio.to_thread; floor: a bare
#                            condvar + eventfd + epoll round trip)
#   sem_contend              tasks per second: 100k tasks on a semaphore of
#                            100, each acquire, yield, release (Go: buffered
#                            channel of 100 as the semaphore; asyncio.Semaphore)
#
# Output: one line per figure, `NAME cio=V PEER=V ... unit=U` followed by
# ratio_vs_PEER, always oriented as "how many times cio beats the peer"
# (PEER / cio for times, cio / PEER for tasks/s; < 1 means the peer is
# better; for the floor, floor / cio: 1.0 means no overhead over it).  A peer that is missing or fails prints PEER=na.  Lines starting
# with `#` are details (medians, sizes, fairness counts, failures).  The
# Python peers run fewer iterations than cio and Go (the figure is per item
# either way).  A benchmark reports; it never fails on a target.
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

work=$(mktemp -d "${TMPDIR:-/tmp}/cio-bench-sync.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

if [ "${BENCH_QUICK:-0}" = 1 ]; then
    export BENCH_QUEUE_N=100000 BENCH_LOCK_N=100000 BENCH_TO_THREAD_N=5000 BENCH_SEM_N=10000 \
        BENCH_REPS=2 BENCH_TO_THREAD_REPS=2 BENCH_PY_REPS=2 BENCH_PY_QUEUE_N=5000 \
        BENCH_PY_QUEUE_UNBOUNDED_N=20000 BENCH_PY_LOCK_N=2000 BENCH_PY_TO_THREAD_N=1000 \
        BENCH_PY_SEM_N=10000
fi

# Keep the source tree clean of __pycache__.
export PYTHONDONTWRITEBYTECODE=1

# Every figure's notes end with how long it took to measure (the whole
# runner should stay within ~90 s).
notes=()

# Every Go and Python peer prints its figures on its first line: one or more
# numbers separated by spaces (go chan: maxsize 1, then unbounded).
peer_re='^[0-9]+(\.[0-9]+)?( [0-9]+(\.[0-9]+)?)*$'
build_go_peers chan mutex sem

# nth "A B ..." N: the N-th (1-based) word, or na.
nth() {
    local w
    read -r -a w <<<"$1"
    echo "${w[$(($2 - 1))]:-na}"
}

# ---- 1. queue_handoff (maxsize 1) and queue_handoff_unbounded -------------
t_start=$SECONDS
run_cio queue_handoff 60 queue_handoff; line=$R
c1=$(field "$line" cio)
cu=$(field "$line" cio_unbounded)
go_run chan 60; g=$R
g1=$(nth "$g" 1) gu=$(nth "$g" 2)
py_run sync_queue uvloop 40 --maxsize 1; uv1=$R
py_run sync_queue asyncio 40 --maxsize 1; as1=$R
BENCH_PY_QUEUE_N=${BENCH_PY_QUEUE_UNBOUNDED_N:-200000} py_run sync_queue uvloop 40 --maxsize 0; uvu=$R
BENCH_PY_QUEUE_N=${BENCH_PY_QUEUE_UNBOUNDED_N:-200000} py_run sync_queue asyncio 40 --maxsize 0; asu=$R
result queue_handoff ns lower "$c1" go="$g1" uvloop="$uv1" asyncio="$as1"
result queue_handoff_unbounded ns lower "$cu" go="$gu" uvloop="$uvu" asyncio="$asu"
notes+=("# queue_handoff: maxsize 1 vs Go unbuffered channel / asyncio.Queue(1); unbounded vs Go channel buffered for all N items / asyncio.Queue(); Python peers: ${BENCH_PY_QUEUE_N:-50000} items (maxsize 1), ${BENCH_PY_QUEUE_UNBOUNDED_N:-200000} (unbounded)")
flush_notes queue_handoff

# ---- 2. lock_handoff ------------------------------------------------------
t_start=$SECONDS
run_cio lock_handoff 60 lock_handoff; line=$R
c=$(field "$line" cio)
go_run mutex 60; g=$R
py_run sync_lock uvloop 40; uv=$R
py_run sync_lock asyncio 40; as=$R
notes+=("# lock_handoff: Python peers: 2 tasks x ${BENCH_PY_LOCK_N:-20000} iterations")
result lock_handoff ns lower "$c" go="$g" uvloop="$uv" asyncio="$as"
flush_notes lock_handoff

# ---- 3. to_thread ---------------------------------------------------------
t_start=$SECONDS
run_cio to_thread 90 to_thread; line=$R
c=$(field "$line" cio)
fl=$(field "$line" floor)
py_run sync_to_thread uvloop 40; uv=$R
py_run sync_to_thread asyncio 40; as=$R
notes+=("# to_thread: Python peers: ${BENCH_PY_TO_THREAD_N:-5000} round trips; floor = bare pthread cond signal + eventfd + epoll_wait round trip (ratio_vs_floor = floor / cio, 1.0 = no overhead)")
result to_thread us lower "$c" floor="$fl" uvloop="$uv" asyncio="$as"
flush_notes to_thread

# ---- 4. sem_contend -------------------------------------------------------
t_start=$SECONDS
run_cio sem_contend 60 sem_contend; line=$R
c=$(field "$line" cio)
go_run sem 60; g=$R
py_run sync_sem uvloop 60; uv=$R
py_run sync_sem asyncio 60; as=$R
notes+=("# sem_contend: Python peers: ${BENCH_PY_SEM_N:-50000} tasks")
result sem_contend tasks/s higher "$c" go="$g" uvloop="$uv" asyncio="$as"
flush_notes sem_contend
exit 0
