# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034,SC2154 # sourced: the runner sets and reads these globals
# Helpers shared by the benchmark runners (bench/core.sh, sync.sh, net.sh,
# soak.sh).  Sourced, never run: it lives in bench/lib/ so that `make bench`
# (which runs every bench/*.sh) does not take it for a runner.  A runner
# sources it with
#
#   here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
#   . "$here/lib/runner.sh"
#
# It defines functions only (no variables, no traps); they use the runner's
# globals: work (the runner's temporary directory), notes (array of `#`
# lines), t_start (SECONDS when the current figure began), bench_dir (built
# benchmarks), here, go, py, build_dir and peer_re.
#
# Processes
#   mine PID             is PID a child of this shell?
#   cleanup              TERM then KILL our own remaining jobs, remove $work
#                        (for `trap cleanup EXIT`)
#   free_port            a free TCP port below the ephemeral range
#   is_uring PID         does the process hold an io_uring instance?
# Running a measurement (answer in R, notes added to notes)
#   run_matching RE NOTE_TAG TIMEOUT CMD...   first output line if it matches RE
#   run_cio NOTE_TAG TIMEOUT PROGRAM          `cio=V k=v ...` line of a cio bench
# Peers (their first output line must match $peer_re, set by the runner)
#   build_go_peers PROG...   build bench/go/PROG/main.go into $work/go_PROG;
#                            sets have_go
#   go_run PROG TIMEOUT [GOMAXPROCS]         run $work/go_PROG (GOMAXPROCS=1)
#   py_run SCRIPT LOOP TIMEOUT [ARGS...]     run bench/py/SCRIPT.py --loop LOOP
# Results and notes
#   field "k=v ..." KEY                 value of KEY, or na
#   ratios lower|higher CIO PEER=V...   " ratio_vs_PEER=..." for each peer
#   result NAME UNIT lower|higher CIO PEER=V...
#                                       prints a figure's line:
#                                       `NAME cio=CIO PEER=V ... unit=UNIT ratio_vs_PEER=...`
#   flush_notes NAME [MORE]             print and clear the notes, with the
#                                       time the figure took (and MORE)

# ---- processes ----------------------------------------------------------------

# Only our own children are ever signalled: a job still in the shell's
# table whose parent is this shell (never a number that may have been
# reused since).
mine() { [ "$(awk '{ print $4 }' "/proc/$1/stat" 2>/dev/null)" = "$$" ]; }
cleanup() {
    local p
    for p in $(jobs -p); do mine "$p" && kill -TERM "$p" 2>/dev/null; done
    sleep 0.3
    for p in $(jobs -p); do mine "$p" && kill -KILL "$p" 2>/dev/null; done
    rm -rf "$work"
}

# free_port: a TCP port nobody listens on now, below the ephemeral range
# (so that no client's local port can hold it, churning clients included).
free_port() {
    local p i lo
    lo=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
    [[ $lo =~ ^[0-9]+$ ]] && [ "$lo" -gt 11000 ] || lo=32768
    for ((i = 0; i < 200; i++)); do
        p=$((10000 + RANDOM % (lo - 10000)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    echo 0
}

# is_uring PID: does the process hold an io_uring instance?
is_uring() {
    local f
    for f in "/proc/$1/fd/"*; do
        [[ $(readlink "$f" 2>/dev/null) == *io_uring* ]] && return 0
    done
    return 1
}

# ---- running a measurement --------------------------------------------------------
# The run_* helpers leave their answer in R (not on stdout: they must run in
# this shell so that what they add to the notes survives).

# run_matching RE NOTE_TAG TIMEOUT CMD...: R = the first line of CMD's output
# (`#` lines aside) if it matches the extended regex RE, else "na"; `#` lines
# go to the notes, failures too.
run_matching() {
    local re=$1 tag=$2 limit=$3 out err first rc
    shift 3
    out=$work/out.$$ err=$work/err.$$
    timeout --kill-after=5 "$limit" "$@" >"$out" 2>"$err"
    rc=$?
    first=$(grep -v '^#' "$out" | head -n1)
    while IFS= read -r l; do notes+=("$l"); done < <(grep '^#' "$out")
    if [ $rc -eq 0 ] && [[ $first =~ $re ]]; then
        R=$first
    else
        notes+=("# $tag unavailable (exit $rc): $(tail -n2 "$err" | tr '\n' ' ')")
        R=na
    fi
}

# run_cio NOTE_TAG TIMEOUT PROGRAM: the cio program ($bench_dir/PROGRAM)
# prints `k=v ...` on its first line; R = that line (or cio=na).
run_cio() {
    local tag=$1 limit=$2 prog=$bench_dir/$3 out err first rc
    out=$work/out.$$ err=$work/err.$$
    if [ ! -x "$prog" ]; then
        notes+=("# $tag: $prog not built")
        R="cio=na"
        return
    fi
    timeout --kill-after=5 "$limit" "$prog" >"$out" 2>"$err"
    rc=$?
    first=$(grep -v '^#' "$out" | head -n1)
    while IFS= read -r l; do notes+=("$l"); done < <(grep '^#' "$out")
    if [ $rc -ne 0 ] || [[ ! $first =~ ^cio=[0-9] ]]; then
        notes+=("# $tag failed (exit $rc): $(tail -n2 "$err" | tr '\n' ' ')")
        R="cio=na"
        return
    fi
    R=$first
}

# ---- peers ------------------------------------------------------------------------

# build_go_peers PROG...: the Go peers, built once into the work dir as
# $work/go_PROG (no network, GOPATH mode); sets have_go (0 without go).
build_go_peers() {
    local p gocache
    have_go=0
    if [ -n "$go" ] && [ -x "$go" ]; then
        gocache=${GOCACHE:-}
        if [ -z "$gocache" ] || ! mkdir -p "$gocache" 2>/dev/null || [ ! -w "$gocache" ]; then
            gocache=$build_dir/bench-gocache
            mkdir -p "$gocache" 2>/dev/null && [ -w "$gocache" ] || gocache=$work/gocache
        fi
        case $gocache in /*) ;; *) gocache=$PWD/$gocache ;; esac # go wants an absolute path
        have_go=1
        for p in "$@"; do
            if ! (cd "$work" && GOCACHE=$gocache GOPATH=$work/gopath GO111MODULE=off GOFLAGS=-mod=mod GOTOOLCHAIN=local \
                GOPROXY=off "$go" build -o "$work/go_$p" "$here/go/$p/main.go") >"$work/gobuild.$p" 2>&1; then
                notes+=("# go peer $p did not build: $(tail -n2 "$work/gobuild.$p" | tr '\n' ' ')")
            fi
        done
    else
        notes+=("# go not found: Go peers are na")
    fi
}

# go_run PROG TIMEOUT [GOMAXPROCS]: R = what the Go peer PROG prints (run_matching
# with $peer_re), na without it; GOMAXPROCS is 1 unless given.
go_run() {
    if [ "$have_go" = 1 ] && [ -x "$work/go_$1" ]; then
        GOMAXPROCS=${3:-1} run_matching "$peer_re" "go $1" "$2" "$work/go_$1"
    else
        R=na
    fi
}

# py_run SCRIPT LOOP TIMEOUT [ARGS...]: R = what $py bench/py/SCRIPT.py
# --loop LOOP ARGS... prints (run_matching with $peer_re), na without $py.
py_run() {
    local script=$1 loop=$2 limit=$3
    shift 3
    if [ -x "$py" ] || command -v "$py" >/dev/null 2>&1; then
        run_matching "$peer_re" "$loop $script${*:+ $*}" "$limit" "$py" "$here/py/$script.py" --loop "$loop" "$@"
    else
        R=na
    fi
}

# ---- results and notes ------------------------------------------------------------

# field "k=v ..." KEY: value of KEY in a `k=v ...` line, or na.
field() {
    local line=$1 key=$2 kv
    for kv in $line; do
        if [ "${kv%%=*}" = "$key" ]; then
            echo "${kv#*=}"
            return
        fi
    done
    echo na
}

# ratios lower|higher CIO PEER=V...: ratio_vs_PEER for every numeric peer,
# always "how many times cio beats the peer": PEER / CIO when lower is
# better, CIO / PEER when higher is better.
ratios() {
    local dir=$1 c=$2 kv k v out=""
    shift 2
    for kv in "$@"; do
        k=${kv%%=*} v=${kv#*=}
        if [ "$c" != na ] && [ "$v" != na ]; then
            out+=" ratio_vs_$k=$(awk -v p="$v" -v c="$c" -v d="$dir" 'BEGIN {
                if (d == "lower") { if (c > 0) printf "%.2f", p / c; else printf "na" }
                else { if (p > 0) printf "%.2f", c / p; else printf "na" } }')"
        fi
    done
    echo "$out"
}

# result NAME UNIT lower|higher CIO PEER=V...: prints the figure's line,
# `NAME cio=CIO PEER=V ... unit=UNIT ratio_vs_PEER=...`.
result() {
    local name=$1 unit=$2 dir=$3 c=$4
    shift 4
    echo "$name cio=$c${*:+ $*} unit=$unit$(ratios "$dir" "$c" "$@")"
}

# flush_notes NAME [MORE]: print the notes gathered for figure NAME and how
# long it took to measure (and MORE, when given), then clear them.
flush_notes() {
    local n
    notes+=("# ($1 took $((SECONDS - t_start)) s${2+; $2})")
    for n in "${notes[@]+"${notes[@]}"}"; do echo "$n"; done
    notes=()
}
