#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Network figures of cio's example servers next to the same figures for
# hand-written epoll and io_uring floors and nginx, measured in the same run:
#
#   echo_cN_BACKEND          msg/s: examples/echo_server on BACKEND (io_uring,
#                            epoll) vs bench/echo_floor (floor: minimal
#                            level-triggered epoll echo server in C), N = 50
#                            and 1000 connections, each sending 1 KiB and
#                            waiting for its echo (ping-pong), from
#                            bench/loadgen.  The io_uring lines also give
#                            bench/echo_uring_floor, the best a hand-written
#                            io_uring server does here: uring_floor (single-
#                            shot RECV and SEND per message, two buffers per
#                            connection, as cio's streams) and
#                            uring_floor_mb (-m: one multishot RECV per
#                            connection on a provided buffer ring); a note
#                            says whether the buffer ring pays (uring_floor_mb
#                            vs uring_floor)
#   echo_cN_cpu_BACKEND      us of server CPU (utime+stime from
#                            /proc/PID/stat) per message, same runs, same peers
#   echo_cN_syscalls_BACKEND system calls the server makes per message
#                            (perf stat on the raw_syscalls tracepoint, or
#                            strace -c -f, over a separate run), same peers
#   http_hello_BACKEND       req/s: examples/http_hello vs nginx (one worker,
#                            bench/nginx/nginx.conf.in), GET / ->
#                            "Hello, World!", wrk with 50 keep-alive
#                            connections (bench/loadgen -m http without wrk)
#   http_hello_cpu_BACKEND   us of server CPU per request
#   http_hello_syscalls_BACKEND  system calls per request
#   echo_2loops_BACKEND      msg/s: echo_server -t 2 (two loops, SO_REUSEPORT)
#                            vs -t 1, 200 connections, nothing pinned (and
#                            the load generator sleeps when idle: the loops
#                            need its CPU)
#   echo_2loops_cpu_BACKEND  us of server CPU per message, -t 2 vs -t 1
#
# The machine has few cores and the load generator shares them: for the
# single-loop figures the server is pinned to CPU 0 and the load generator
# to CPU 1 (when there are 2+ CPUs), where bench/loadgen busy-polls (-S):
# a sleeping load generator makes the server pay for waking it (an
# inter-processor interrupt, a costly exit in a VM), which made the
# server's CPU per message swing 2x between identical runs.  Throughput is
# bounded by both sides; CPU time per message is the fairer figure.  (On loopback the sender's
# CPU also does the receiving socket's TCP work, so a server's CPU is its
# own user time and system calls plus the delivery of what it sends.)
# Every figure is the best of NET_REPS runs (the same run's rate and CPU
# need not coincide), the servers interleaved round by round; all runs,
# medians and the median of the per-round ratios go to the notes.  Other processes on the machine make every figure
# noisy: each section's note says how busy the CPUs were.
#
# Output: one line per figure, `NAME cio=V PEER=V ... unit=U` followed by
# ratio_vs_PEER, always "how many times cio beats the peer" (cio / PEER for
# rates, PEER / cio for costs; < 1 means the peer is better).  A peer that
# is missing or fails prints PEER=na.  Lines starting with `#` are details
# (medians, load generator CPU, syscall breakdowns, the issue's targets).
# A benchmark reports; it never fails on a target.
#
# Env (set by `make bench`): CIO_BENCH_DIR (bench/echo_floor,
# bench/echo_uring_floor, bench/loadgen),
# CIO_EXAMPLES_DIR (echo_server, http_hello).  NET_REPS (4), NET_SECS (2,
# seconds per echo run), NET_HTTP_SECS (3, per wrk run), NET_QUICK=1 (one
# short run each: a smoke test, figures not comparable), NET_COUNTER=strace
# (count system calls with strace even when perf works).
# Peers: nginx and wrk (Debian packages nginx, wrk), perf (linux-perf) or
# strace; each one missing only makes its figures na.
set -u
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/runner.sh
. "$here/lib/runner.sh"
bench_dir=${CIO_BENCH_DIR:-$here/../build/bench}
ex_dir=${CIO_EXAMPLES_DIR:-$here/../build/examples}

reps=${NET_REPS:-4}
secs=${NET_SECS:-2}
http_secs=${NET_HTTP_SECS:-3}
if [ "${NET_QUICK:-0}" = 1 ]; then
    reps=1 secs=0.5 http_secs=1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/cio-bench-net.XXXXXX") || exit 1
trap cleanup EXIT # our own servers, load generators and counters

notes=()
clk_tck=$(getconf CLK_TCK 2>/dev/null || echo 100)
ncpu=$(nproc 2>/dev/null || echo 1)
# pin CPU: the taskset prefix for CPU n (nothing on a single CPU or without taskset)
pin() {
    if [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
        echo "taskset -c $1"
    fi
}
SRV_PIN=$(pin 0)
GEN_PIN=$(pin 1)

loadgen=$bench_dir/loadgen
floor=$bench_dir/echo_floor
ufloor=$bench_dir/echo_uring_floor
have_loadgen=0
[ -x "$loadgen" ] && have_loadgen=1 || notes+=("# $loadgen not built: every echo figure is na")

# ---- helpers ----------------------------------------------------------------

# start_server TAG ENVASSIGN CMD...: starts CMD in the background
# (ENVASSIGN: "" or "VAR=value"), waits for its "Serving on HOST:PORT"
# line.  An argument @PORT@ is replaced by a free port (another one is
# tried if that one is taken meanwhile).  Sets SPID and SPORT (SPORT empty on
# failure, with a note).
start_server() {
    local tag=$1 envs=$2 i try port a
    shift 2
    local -a cmd
    for ((try = 0; try < 3; try++)); do
        SPID='' SPORT=''
        port=$(free_port)
        cmd=()
        for a in "$@"; do
            [ "$a" = @PORT@ ] && a=$port
            cmd+=("$a")
        done
        if [ -n "$envs" ]; then
            env "$envs" "${cmd[@]}" >"$work/$tag.out" 2>"$work/$tag.err" &
        else
            "${cmd[@]}" >"$work/$tag.out" 2>"$work/$tag.err" &
        fi
        SPID=$!
        for ((i = 0; i < 100; i++)); do
            SPORT=$(sed -n 's/^Serving on .*:\([0-9][0-9]*\)$/\1/p' "$work/$tag.out" 2>/dev/null | head -n1)
            [ -n "$SPORT" ] && return 0
            kill -0 "$SPID" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$SPID" 2>/dev/null
        wait "$SPID" 2>/dev/null
        grep -qi 'in use' "$work/$tag.err" || break
    done
    notes+=("# $tag did not start: $(tail -n2 "$work/$tag.err" | tr '\n' ' ')")
    SPID='' SPORT=''
    return 1
}

stop_server() { # stop_server PID
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null
    local i
    for ((i = 0; i < 60; i++)); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# ticks PID: utime+stime of the process (all its threads), in clock ticks.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# best / median of numbers (na when none); best = max for rates, min for costs
best_of() { # best_of max|min V...
    local dir=$1
    shift
    printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g | { if [ "$dir" = max ]; then tail -n1; else head -n1; fi; } |
        awk 'NF { print; found = 1 } END { if (!found) print "na" }'
}
median_of() {
    printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "na"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# paired higher|lower "CIO RUNS" "PEER RUNS": the median over the runs of
# the per-run ratio (runs of the same round ran back to back, under the
# same conditions: this is the figure least disturbed by whatever else the
# machine was doing), or na.
paired() {
    awk -v d="$1" -v a="$2" -v b="$3" 'BEGIN {
        n = split(a, x, " "); m = split(b, y, " "); k = 0
        for (i = 1; i <= n && i <= m; i++) {
            if (x[i] !~ /^[0-9.]+$/ || y[i] !~ /^[0-9.]+$/ || x[i] <= 0 || y[i] <= 0) continue
            r[++k] = d == "lower" ? y[i] / x[i] : x[i] / y[i]
        }
        if (!k) { print "na"; exit }
        for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
        printf "%.2f\n", k % 2 ? r[(k + 1) / 2] : (r[k / 2] + r[k / 2 + 1]) / 2 }'
}

# ratio1 higher|lower CIO PEER: how many times cio beats the peer, or na
ratio1() {
    awk -v d="$1" -v c="$2" -v p="$3" 'BEGIN {
        if (c == "na" || p == "na" || c == "" || p == "") { print "na"; exit }
        if (d == "lower") { if (c > 0) printf "%.2f\n", p / c; else print "na" }
        else { if (p > 0) printf "%.2f\n", c / p; else print "na" } }'
}

# per CPU_TICKS COUNT: microseconds of CPU per item
per_us() { awk -v t="$1" -v n="$2" -v hz="$clk_tck" 'BEGIN { if (n > 0 && t != "na") printf "%.2f", t / hz * 1e6 / n; else print "na" }'; }

# The machine's state over a section: the CPUs are shared with whatever else
# runs (and, in a VM, with other guests: steal), which makes every figure
# here noisy; the note says how busy the machine was.
stat_cpu() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $5 + $6, $9 }' /proc/stat 2>/dev/null; }
mach0=$(stat_cpu)
mach_note() { # the note for the section now ending, in MACH; the next one counts from here
    local now
    now=$(stat_cpu)
    MACH=$(awk -v a="$mach0" -v b="$now" -v la="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null)" 'BEGIN {
        split(a, x, " "); split(b, y, " "); t = y[1] - x[1]
        if (t > 0) printf "machine: CPUs %.0f%% busy, steal %.0f%%, load average %s", 100 * (t - (y[2] - x[2]) - (y[3] - x[3])) / t, 100 * (y[3] - x[3]) / t, la }')
    mach0=$now
}

# ---- system call counting -----------------------------------------------------

# The per-syscall tracepoints perf can count (those this kernel lacks are
# left out); one perf run gives the total and the breakdown.
sc_names="read write recvfrom sendto readv writev recvmsg sendmsg epoll_wait epoll_pwait epoll_pwait2 epoll_ctl io_uring_enter accept4 close setsockopt getsockopt clock_gettime futex"
counter=none
sc_events=''
if [ "${NET_COUNTER:-}" = strace ] && command -v strace >/dev/null 2>&1; then
    counter=strace
elif command -v perf >/dev/null 2>&1 && perf stat -e raw_syscalls:sys_enter -x, -- true >/dev/null 2>&1; then
    counter=perf
    sc_events=raw_syscalls:sys_enter
    for s in $sc_names; do
        perf stat -e "syscalls:sys_enter_$s" -x, -- true >/dev/null 2>&1 && sc_events+=",syscalls:sys_enter_$s"
    done
elif command -v strace >/dev/null 2>&1; then
    counter=strace
fi

# count_start PID: starts counting the server's system calls (CPID).
count_start() {
    CPID=''
    case $counter in
    perf)
        perf stat -x, -e "$sc_events" -p "$1" -o "$work/count.out" >/dev/null 2>&1 &
        CPID=$!
        ;;
    strace)
        strace -c -f -p "$1" -o "$work/count.out" >/dev/null 2>&1 &
        CPID=$!
        ;;
    esac
    [ -n "$CPID" ] && sleep 0.3
}

# count_stop MSGS: stops counting; SC = system calls per message, SCB = the
# breakdown per message ("name=x.xx ...", the biggest first).
count_stop() {
    SC=na SCB=''
    [ -n "$CPID" ] || return 0
    kill -INT "$CPID" 2>/dev/null
    wait "$CPID" 2>/dev/null
    local n=$1
    [ "$n" != na ] && [ "$n" -gt 0 ] 2>/dev/null || return 0
    case $counter in
    perf)
        SC=$(awk -F, -v n="$n" '$3 == "raw_syscalls:sys_enter" && $1 ~ /^[0-9]+$/ { printf "%.2f", $1 / n }' "$work/count.out")
        SCB=$(awk -F, -v n="$n" '$3 ~ /^syscalls:sys_enter_/ && $1 ~ /^[0-9]+$/ && $1 > 0 {
                sub("syscalls:sys_enter_", "", $3); printf "%s %s\n", $1, $3 }' "$work/count.out" |
            sort -rn | awk -v n="$n" '$1 / n >= 0.005 { printf "%s=%.3f ", $2, $1 / n }')
        ;;
    strace)
        SC=$(awk -v n="$n" '$NF == "total" { printf "%.2f", $(NF - 2) / n }' "$work/count.out")
        SCB=$(awk -v n="$n" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { c = (NF == 6 ? $4 : $4); printf "%s %s\n", c, $NF }' "$work/count.out" |
            sort -rn | awk -v n="$n" '$1 / n >= 0.005 { printf "%s=%.3f ", $2, $1 / n }')
        ;;
    esac
    [ -n "$SC" ] || SC=na
}
[ $counter = none ] && notes+=("# neither perf nor strace: syscall figures are na")
[ $counter = strace ] && notes+=("# perf unavailable: syscalls counted with strace -c -f (it slows the server, so batching differs)")

# ---- 1. echo, 1 KiB, 50 and 1000 connections ---------------------------------------
#
# run_echo PID PORT CONNS: one measured run; sets RATE, CPUUS (us of server
# CPU per message over the whole run, connections included), GENCPU.
run_echo() {
    local pid=$1 port=$2 conns=$3 t0 t1 out
    RATE=na CPUUS=na GENCPU=na TOTAL=na
    [ $have_loadgen = 1 ] && [ -n "$pid" ] || return 0
    t0=$(ticks "$pid")
    out=$(timeout 60 $GEN_PIN "$loadgen" -p "$port" -m echo -c "$conns" -s 1024 -d "$secs" -w 0.5 ${GEN_PIN:+-S} 2>"$work/lg.err")
    t1=$(ticks "$pid")
    if [ -z "$out" ] || [ "$(field "$out" errors)" != 0 ]; then
        notes+=("# loadgen against port $port (-c $conns): ${out:-failed} $(tail -n1 "$work/lg.err")")
        [ -z "$out" ] && return 0
    fi
    RATE=$(field "$out" rate)
    TOTAL=$(field "$out" total)
    CPUUS=$(per_us $((t1 - t0)) "$TOTAL")
    GENCPU=$(awk -v c="$(field "$out" cpu_s)" -v s="$(field "$out" secs)" 'BEGIN { if (s > 0) printf "%.0f%%", 100 * c / s; else print "na" }')
}

# count_echo PID PORT CONNS: system calls per message over a separate run.
count_echo() {
    SC=na SCB=''
    [ $have_loadgen = 1 ] && [ -n "$1" ] && [ $counter != none ] || return 0
    count_start "$1"
    local out
    out=$(timeout 60 $GEN_PIN "$loadgen" -p "$2" -m echo -c "$3" -s 1024 -d 1 -w 0 ${GEN_PIN:+-S} 2>/dev/null)
    count_stop "$(field "$out" total)"
}

t_start=$SECONDS
kinds="floor uring_floor uring_floor_mb io_uring epoll"
declare -A SP SPT
for k in $kinds; do
    SP[$k]='' SPT[$k]=''
    case $k in
    floor)
        if [ -x "$floor" ]; then
            start_server echo_floor "" $SRV_PIN "$floor" 0 && SP[$k]=$SPID SPT[$k]=$SPORT
        else
            notes+=("# $floor not built: floor=na")
        fi
        ;;
    uring_floor | uring_floor_mb)
        if [ -x "$ufloor" ]; then
            mode=()
            [ "$k" = uring_floor_mb ] && mode=(-m)
            start_server "echo_$k" "" $SRV_PIN "$ufloor" "${mode[@]}" 0 && SP[$k]=$SPID SPT[$k]=$SPORT
        else
            notes+=("# $ufloor not built: $k=na")
        fi
        ;;
    *)
        if [ -x "$ex_dir/echo_server" ]; then
            start_server "echo_server_$k" "CIO_BACKEND=$k" $SRV_PIN "$ex_dir/echo_server" 0 && SP[$k]=$SPID SPT[$k]=$SPORT
        else
            notes+=("# $ex_dir/echo_server not built: cio=na")
        fi
        ;;
    esac
done
if [ -n "${SP[io_uring]}" ] && ! is_uring "${SP[io_uring]}"; then
    notes+=("# CIO_BACKEND=io_uring fell back to epoll here (the kernel refused io_uring): the io_uring figures are epoll's")
fi

declare -A TARGET
for conns in 50 1000; do
    declare -A R C G
    for k in $kinds; do R[$k]='' C[$k]='' G[$k]=''; done
    for ((rep = 0; rep < reps; rep++)); do
        for k in $kinds; do
            run_echo "${SP[$k]}" "${SPT[$k]}" "$conns"
            R[$k]+=" $RATE" C[$k]+=" $CPUUS" G[$k]+=" $GENCPU"
        done
    done
    declare -A S SB
    for k in $kinds; do
        count_echo "${SP[$k]}" "${SPT[$k]}" "$conns"
        S[$k]=$SC SB[$k]=$SCB
    done
    # shellcheck disable=SC2086
    fr=$(best_of max ${R[floor]}) fc=$(best_of min ${C[floor]})
    declare -A UR UC US # the io_uring floors' best runs
    for u in uring_floor uring_floor_mb; do
        # shellcheck disable=SC2086
        UR[$u]=$(best_of max ${R[$u]}) UC[$u]=$(best_of min ${C[$u]}) US[$u]=${S[$u]}
    done
    for b in io_uring epoll; do
        # shellcheck disable=SC2086
        cr=$(best_of max ${R[$b]}) cc=$(best_of min ${C[$b]})
        ur=() uc=() us=() # io_uring's lines also set cio against the io_uring floors
        if [ "$b" = io_uring ]; then
            for u in uring_floor uring_floor_mb; do
                ur+=("$u=${UR[$u]}") uc+=("$u=${UC[$u]}") us+=("$u=${US[$u]}")
            done
        fi
        result "echo_c${conns}_$b" msg/s higher "$cr" floor="$fr" "${ur[@]}"
        result "echo_c${conns}_cpu_$b" us/msg lower "$cc" floor="$fc" "${uc[@]}"
        result "echo_c${conns}_syscalls_$b" syscalls/msg lower "${S[$b]}" floor="${S[floor]}" "${us[@]}"
        # shellcheck disable=SC2086
        pr=$(paired higher "${R[$b]}" "${R[floor]}") pc=$(paired lower "${C[$b]}" "${C[floor]}")
        notes+=("# echo_c${conns}_$b vs floor, median of the per-round ratios: msg/s ${pr}x, CPU per message ${pc}x")
        [ "$b" = io_uring ] && TARGET[echo_c$conns]="$(ratio1 higher "$cr" "$fr") $pr $(ratio1 lower "$cc" "$fc") $pc"
    done
    for u in uring_floor uring_floor_mb; do
        notes+=("# echo_c${conns}_io_uring vs $u, median of the per-round ratios: msg/s $(paired higher "${R[io_uring]}" "${R[$u]}")x, CPU per message $(paired lower "${C[io_uring]}" "${C[$u]}")x")
    done
    # does the provided buffer ring pay?  > 1: uring_floor_mb is the better one
    notes+=("# echo_c${conns} uring_floor_mb vs uring_floor (multishot RECV + buffer ring vs single-shot RECV): msg/s $(ratio1 higher "${UR[uring_floor_mb]}" "${UR[uring_floor]}")x best, $(paired higher "${R[uring_floor_mb]}" "${R[uring_floor]}")x paired; CPU per message $(ratio1 lower "${UC[uring_floor_mb]}" "${UC[uring_floor]}")x best, $(paired lower "${C[uring_floor_mb]}" "${C[uring_floor]}")x paired")
    unset UR UC US
    for k in $kinds; do
        # shellcheck disable=SC2086
        notes+=("# echo_c$conns $k: msg/s runs:${R[$k]} (median $(median_of ${R[$k]})); us/msg runs:${C[$k]}; loadgen CPU:${G[$k]}")
    done
    for k in $kinds; do
        notes+=("# echo_c$conns $k syscalls/msg (${counter}): ${SB[$k]:-na}")
    done
    unset R C G S SB
    mach_note
    flush_notes "echo_c$conns" "$MACH"
    t_start=$SECONDS
done
for k in $kinds; do stop_server "${SP[$k]}"; done

# ---- 2. HTTP plaintext: http_hello vs nginx ---------------------------------------------
t_start=$SECONDS
have_wrk=0
command -v wrk >/dev/null 2>&1 && have_wrk=1
[ $have_wrk = 0 ] && notes+=("# wrk not found (Debian: wrk): bench/loadgen -m http drives the HTTP runs")
http_conns=50

# run_http PID PORT SECS: sets HRATE, HREQS, HCPU (us per request), HERR.
run_http() {
    local pid=$1 port=$2 d=$3 t0 t1 out
    HRATE=na HREQS=na HCPU=na HERR=''
    [ -n "$pid" ] && [ -n "$port" ] || return 0
    t0=$(ticks "$pid")
    if [ $have_wrk = 1 ]; then
        out=$(timeout 60 $GEN_PIN wrk -t 1 -c $http_conns -d "${d}s" "http://127.0.0.1:$port/" 2>&1)
        t1=$(ticks "$pid")
        HREQS=$(awk '/requests in/ { print $1 }' <<<"$out")
        HRATE=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
        HERR=$(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ' | tr '\n' ' ')
    elif [ $have_loadgen = 1 ]; then
        out=$(timeout 60 $GEN_PIN "$loadgen" -p "$port" -m http -c $http_conns -d "$d" -w 0 2>/dev/null)
        t1=$(ticks "$pid")
        HREQS=$(field "$out" total)
        HRATE=$(field "$out" rate)
        [ "$(field "$out" errors)" = 0 ] || HERR="loadgen errors=$(field "$out" errors)"
    else
        return 0
    fi
    [ -n "$HREQS" ] || HREQS=na
    [ -n "$HRATE" ] || HRATE=na
    HCPU=$(per_us $((t1 - t0)) "$HREQS")
}

hkinds="nginx io_uring epoll"
declare -A HP HPT
HP[nginx]='' HPT[nginx]=''
ngx=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null || true)
if [ -n "$ngx" ] && [ -f "$here/nginx/nginx.conf.in" ]; then
    nd=$work/nginx
    mkdir -p "$nd"
    nport=$(free_port)
    sed -e "s|@DIR@|$nd|g" -e "s|@PORT@|$nport|g" "$here/nginx/nginx.conf.in" >"$nd/nginx.conf"
    $SRV_PIN "$ngx" -p "$nd" -c "$nd/nginx.conf" >"$work/nginx.out" 2>&1 &
    nmaster=$!
    for ((i = 0; i < 100; i++)); do
        nworker=$(pgrep -P "$nmaster" 2>/dev/null | head -n1)
        [ -n "$nworker" ] && (exec 3<>"/dev/tcp/127.0.0.1/$nport") 2>/dev/null && break
        nworker=''
        kill -0 "$nmaster" 2>/dev/null || break
        sleep 0.05
    done
    if [ -n "$nworker" ]; then
        HP[nginx]=$nworker HPT[nginx]=$nport
        notes+=("# nginx $("$ngx" -v 2>&1 | sed 's/.*version: //'), 1 worker (pid $nworker), keepalive_requests unlimited, access_log off")
    else
        notes+=("# nginx did not start: $(tail -n2 "$work/nginx.out" "$nd/error.log" 2>/dev/null | tr '\n' ' ')")
    fi
else
    notes+=("# nginx not found (Debian: nginx): nginx=na")
fi
for b in io_uring epoll; do
    HP[$b]='' HPT[$b]=''
    if [ -x "$ex_dir/http_hello" ]; then
        start_server "http_hello_$b" "CIO_BACKEND=$b" $SRV_PIN "$ex_dir/http_hello" 0 && HP[$b]=$SPID HPT[$b]=$SPORT
    else
        notes+=("# $ex_dir/http_hello not built: cio=na")
    fi
done
declare -A R C S SB
for k in $hkinds; do R[$k]='' C[$k]=''; done
for ((rep = 0; rep < (reps > 3 ? 3 : reps); rep++)); do
    for k in $hkinds; do
        run_http "${HP[$k]}" "${HPT[$k]}" "$http_secs"
        R[$k]+=" $HRATE" C[$k]+=" $HCPU"
        [ -n "$HERR" ] && notes+=("# http $k: $HERR")
    done
done
for k in $hkinds; do
    S[$k]=na SB[$k]=''
    if [ -n "${HP[$k]}" ] && [ $counter != none ]; then
        count_start "${HP[$k]}"
        run_http "${HP[$k]}" "${HPT[$k]}" 1
        count_stop "$HREQS"
        S[$k]=$SC SB[$k]=$SCB
    fi
done
# shellcheck disable=SC2086
nr=$(best_of max ${R[nginx]}) nc=$(best_of min ${C[nginx]})
for b in io_uring epoll; do
    # shellcheck disable=SC2086
    cr=$(best_of max ${R[$b]}) cc=$(best_of min ${C[$b]})
    result "http_hello_$b" req/s higher "$cr" nginx="$nr"
    result "http_hello_cpu_$b" us/req lower "$cc" nginx="$nc"
    result "http_hello_syscalls_$b" syscalls/req lower "${S[$b]}" nginx="${S[nginx]}"
    # shellcheck disable=SC2086
    pr=$(paired higher "${R[$b]}" "${R[nginx]}") pc=$(paired lower "${C[$b]}" "${C[nginx]}")
    notes+=("# http_hello_$b vs nginx, median of the per-round ratios: req/s ${pr}x, CPU per request ${pc}x")
    TARGET[http_$b]="$(ratio1 higher "$cr" "$nr") $pr $(ratio1 lower "$cc" "$nc") $pc"
done
for k in $hkinds; do
    # shellcheck disable=SC2086
    notes+=("# http_hello $k: req/s runs:${R[$k]} (median $(median_of ${R[$k]})); us/req runs:${C[$k]}")
done
for k in $hkinds; do notes+=("# http_hello $k syscalls/req (${counter}): ${SB[$k]:-na}"); done
notes+=("# http_hello: $([ $have_wrk = 1 ] && echo "wrk -t 1" || echo "loadgen -m http") -c $http_conns, ${http_secs} s per run; both answer with Server, Date, Content-Length, Content-Type (nginx adds Connection: keep-alive)")
unset R C S SB
for k in $hkinds; do
    if [ "$k" = nginx ]; then stop_server "${nmaster:-}"; else stop_server "${HP[$k]}"; fi
done
mach_note
flush_notes http_hello "$MACH"

# ---- 3. two loops vs one loop ----------------------------------------------------------------
t_start=$SECONDS
loops_conns=200
declare -A R C P PT
for b in io_uring epoll floor; do
    for t in 1 2; do
        SPID='' SPORT=''
        if [ "$b" = floor ]; then
            [ -x "$floor" ] && start_server "floor_t$t" "" "$floor" -t "$t" @PORT@
        else
            [ -x "$ex_dir/echo_server" ] && start_server "echo_${b}_t$t" "CIO_BACKEND=$b" "$ex_dir/echo_server" -t "$t" @PORT@
        fi
        P[$b$t]=${SPID:-} PT[$b$t]=${SPORT:-}
    done
done
for b in io_uring epoll floor; do
    for t in 1 2; do R[$b$t]='' C[$b$t]=''; done
done
# Nothing pinned here: the loops and the load generator share the CPUs.
SAVED_PIN=$GEN_PIN
GEN_PIN=''
for ((rep = 0; rep < reps; rep++)); do # as many rounds as the other sections: with 2 the "paired" median is just a mean
    for b in io_uring epoll floor; do
        for t in 1 2; do
            run_echo "${P[$b$t]:-}" "${PT[$b$t]:-}" $loops_conns
            R[$b$t]+=" $RATE" C[$b$t]+=" $CPUUS"
        done
    done
done
GEN_PIN=$SAVED_PIN
# shellcheck disable=SC2086
for b in io_uring epoll; do
    r2=$(best_of max ${R[${b}2]}) r1=$(best_of max ${R[${b}1]})
    c2=$(best_of min ${C[${b}2]}) c1=$(best_of min ${C[${b}1]})
    result "echo_2loops_$b" msg/s higher "$r2" one_loop="$r1"
    result "echo_2loops_cpu_$b" us/msg lower "$c2" one_loop="$c1"
    # shellcheck disable=SC2086
    pc=$(paired lower "${C[${b}2]}" "${C[${b}1]}")
    notes+=("# echo_2loops_$b vs one loop, median of the per-round ratios: CPU per message ${pc}x")
    TARGET[loops_$b]="$(ratio1 lower "$c2" "$c1") $pc"
done
# shellcheck disable=SC2086
for k in io_uring1 io_uring2 epoll1 epoll2 floor1 floor2; do
    notes+=("# echo -t ${k: -1} ${k%?}: msg/s runs:${R[$k]}; us/msg runs:${C[$k]}")
done
# shellcheck disable=SC2086
notes+=("# floor reference, 2 threads vs 1: msg/s $(best_of max ${R[floor2]}) vs $(best_of max ${R[floor1]}), us/msg $(best_of min ${C[floor2]}) vs $(best_of min ${C[floor1]}); $loops_conns connections, nothing pinned")
for b in io_uring epoll floor; do
    for t in 1 2; do stop_server "${P[$b$t]:-}"; done
done
mach_note
flush_notes echo_2loops "$MACH"

# ---- the issue's targets (reported, never enforced) ------------------------------------------
# Judged on the median of the per-round ratios ("paired": each round runs
# the servers back to back), the ratio of the best runs given too: a single
# run on this shared machine can be off by 2x when something else runs.
met() { awk -v r="$1" -v t="$2" 'BEGIN { if (r == "" || r == "na") print "na"; else if (r + 0 >= t) print "met"; else print "not met" }'; }
quick=""
[ "${NET_QUICK:-0}" = 1 ] && quick=" [NET_QUICK: one short run, not comparable]"
for conns in 50 1000; do
    read -r rb rm cb cm <<<"${TARGET[echo_c$conns]:-na na na na}"
    echo "# target: echo_c${conns} io_uring >= 1.10x the floor's throughput: paired ${rm}x ($(met "$rm" 1.10)), best ${rb}x; CPU per message: paired ${cm}x, best ${cb}x$quick"
done
for b in io_uring epoll; do
    read -r rb rm cb cm <<<"${TARGET[http_$b]:-na na na na}"
    echo "# target: http_hello $b >= 1.15x nginx: throughput paired ${rm}x ($(met "$rm" 1.15)), best ${rb}x; CPU per request paired ${cm}x ($(met "$cm" 1.15)), best ${cb}x$quick"
done
for b in io_uring epoll; do
    read -r cb cm <<<"${TARGET[loops_$b]:-na na}"
    echo "# target: echo -t 2 $b uses no more CPU per message than -t 1 (one_loop/two_loops >= 1.00): paired $cm ($(met "$cm" 1.00)), best $cb$quick"
done
exit 0
