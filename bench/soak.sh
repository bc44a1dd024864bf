#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Soak: cio's example servers under a long mixed load, watched for leaks.
# Runs only with SOAK=1 (`make bench` skips it otherwise); SOAK_SECONDS
# (default 600) is the length of the load.
#
# Servers, for each back end in SOAK_BACKENDS ("io_uring epoll"):
#   examples/echo_server and examples/http_hello, with -t 2 (two loops,
#   SO_REUSEPORT) on the first back end and -t 1 on the others.
# Load on every server, all at once, from bench/loadgen:
#   steady      20 keep-alive connections, ping-pong (echo: 1 KiB; http: GET /)
#   churn       10 connections, each closed and reopened after every message
#               (connect / one request / disconnect)
#   timeouts    5 clients that give up after 50 ms, half of them with a reset:
#               echo: 1 MiB sent and never read back, so the server is left
#               blocked writing; http: half a request head, so the server is
#               left waiting for the rest
#   stalls      (http only) 3 clients that send half a head and wait 12 s:
#               the server's own 10 s head timeout fires first (408, close)
# Every 10 s: each server's VmRSS (/proc/PID/status) and open fds
# (/proc/PID/fd).  At the end: the first minute against the last minute
# (the mean of the samples of each; the largest RSS sample goes to the
# notes), "flat" when the last minute is within SOAK_TOLERANCE percent (5)
# of the first (fds: or within 3 fds); the fds of the idle server before
# the load and after it (every client gone); whether each server still
# exits 0 on SIGTERM.
#
# Output: `#` lines while it runs (the samples), then one line per figure:
#   soak_rss_SERVER cio=LAST_MINUTE first_minute=FIRST_MINUTE unit=KiB change=+x.x% flat=yes|no
#   soak_fds_SERVER cio=LAST_MINUTE first_minute=FIRST_MINUTE unit=fds change=... flat=yes|no
#   soak_idle_fds_SERVER cio=AFTER before=BEFORE unit=fds flat=yes|no
#   soak_msgs_SERVER cio=MESSAGES unit=msgs errors=N
# A benchmark reports; it never fails on a target.
#
# Env: CIO_BENCH_DIR (bench/loadgen), CIO_EXAMPLES_DIR (the servers), SOAK,
# SOAK_SECONDS, SOAK_BACKENDS, SOAK_TOLERANCE.
set -u
export LC_ALL=C

if [ "${SOAK:-0}" != 1 ]; then
    echo "# soak: skipped (SOAK=1 runs it; SOAK_SECONDS=${SOAK_SECONDS:-600} s of load)"
    exit 0
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/runner.sh
. "$here/lib/runner.sh"
bench_dir=${CIO_BENCH_DIR:-$here/../build/bench}
ex_dir=${CIO_EXAMPLES_DIR:-$here/../build/examples}
dur=${SOAK_SECONDS:-600}
backends=${SOAK_BACKENDS:-io_uring epoll}
tol=${SOAK_TOLERANCE:-5}
interval=10
loadgen=$bench_dir/loadgen

if [ "$dur" -lt 60 ] 2>/dev/null; then
    echo "# soak: SOAK_SECONDS=$dur is under a minute; using 60"
    dur=60
fi
for p in "$loadgen" "$ex_dir/echo_server" "$ex_dir/http_hello"; do
    if [ ! -x "$p" ]; then
        echo "# soak: $p not built"
        exit 0
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/cio-bench-soak.XXXXXX") || exit 1
trap cleanup EXIT # our own servers and load generators

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo na; }
nfds() { if [ -d "/proc/$1/fd" ]; then ls "/proc/$1/fd" 2>/dev/null | wc -l; else echo na; fi; }

# ---- servers ---------------------------------------------------------------------
names=()
declare -A PID PORT KIND
first=1
for b in $backends; do
    t=1
    [ $first = 1 ] && t=2
    first=0
    for kind in echo http; do
        name=${kind}_${b}_t$t
        prog=$ex_dir/echo_server
        [ $kind = http ] && prog=$ex_dir/http_hello
        ok=0
        for ((try = 0; try < 3 && ok == 0; try++)); do
            port=$(free_port)
            CIO_BACKEND=$b "$prog" -t $t "$port" >"$work/$name.out" 2>"$work/$name.err" &
            pid=$!
            for ((i = 0; i < 100; i++)); do
                grep -q '^Serving on ' "$work/$name.out" 2>/dev/null && { ok=1; break; }
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.05
            done
            if [ $ok = 0 ]; then
                mine "$pid" && kill -KILL "$pid" 2>/dev/null
                wait "$pid" 2>/dev/null
                grep -qi 'in use' "$work/$name.err" || break # another port only for EADDRINUSE
            fi
        done
        if [ $ok = 0 ]; then
            echo "# soak: $name did not start: $(tail -n2 "$work/$name.err" | tr '\n' ' ')"
            continue
        fi
        if [ "$b" = io_uring ] && ! is_uring "$pid"; then
            echo "# soak: $name: the kernel refused io_uring, it runs on epoll"
        fi
        names+=("$name")
        PID[$name]=$pid PORT[$name]=$port KIND[$name]=$kind
    done
done
[ ${#names[@]} -gt 0 ] || exit 0
sleep 0.5
declare -A IDLE0
for n in "${names[@]}"; do IDLE0[$n]=$(nfds "${PID[$n]}"); done

# ---- load ------------------------------------------------------------------------
# The clients run a little past the last sample, so that every sample is
# taken under load.
ldur=$((dur + 3))
echo "# soak: ${#names[@]} servers (${names[*]}), $dur s of load, a sample every $interval s"
lg=()
for n in "${names[@]}"; do
    p=${PORT[$n]}
    if [ "${KIND[$n]}" = echo ]; then
        "$loadgen" -p "$p" -m echo -c 20 -s 1024 -d "$ldur" -w 0 >"$work/$n.steady" 2>&1 &
        lg+=($!)
        "$loadgen" -p "$p" -m echo -c 10 -s 1024 -k 1 -d "$ldur" -w 0 >"$work/$n.churn" 2>&1 &
        lg+=($!)
        "$loadgen" -p "$p" -m abort-echo -c 5 -s 1048576 -T 50 -d "$ldur" -w 0 >"$work/$n.timeouts" 2>&1 &
        lg+=($!)
    else
        "$loadgen" -p "$p" -m http -c 20 -d "$ldur" -w 0 >"$work/$n.steady" 2>&1 &
        lg+=($!)
        "$loadgen" -p "$p" -m http -c 10 -k 1 -d "$ldur" -w 0 >"$work/$n.churn" 2>&1 &
        lg+=($!)
        "$loadgen" -p "$p" -m abort-http -c 5 -T 50 -d "$ldur" -w 0 >"$work/$n.timeouts" 2>&1 &
        lg+=($!)
        "$loadgen" -p "$p" -m abort-http -c 3 -T 12000 -d "$ldur" -w 0 >"$work/$n.stalls" 2>&1 &
        lg+=($!)
    fi
done

# ---- samples ---------------------------------------------------------------------
declare -A S_RSS S_FDS # "t:value ..." per server
t0=$SECONDS
for ((t = interval; t <= dur; t += interval)); do
    while [ $((SECONDS - t0)) -lt $t ]; do sleep 0.5; done
    line="# t=${t}s"
    for n in "${names[@]}"; do
        r=$(rss_kb "${PID[$n]}") f=$(nfds "${PID[$n]}")
        S_RSS[$n]+=" $t:$r" S_FDS[$n]+=" $t:$f"
        line+="  $n rss=${r}KiB fds=$f"
    done
    echo "$line"
done
for p in "${lg[@]}"; do wait "$p" 2>/dev/null; done
sleep 2 # every client is gone: the servers close their side
declare -A IDLE1
for n in "${names[@]}"; do IDLE1[$n]=$(nfds "${PID[$n]}"); done

# ---- figures ----------------------------------------------------------------------
# window SAMPLES FROM TO max|mean: the max or mean of the samples with FROM < t <= TO
window() {
    tr ' ' '\n' <<<"$1" | awk -F: -v a="$2" -v b="$3" -v how="$4" '
        NF == 2 && $1 > a && $1 <= b && $2 ~ /^[0-9]+$/ { n++; s += $2; if (n == 1 || $2 > m) m = $2 }
        END { if (!n) print "na"; else if (how == "max") print m; else printf "%.1f\n", s / n }'
}
# verdict FIRST LAST SLACK: "change=+x.x% flat=yes|no"; flat when within tol % or SLACK
verdict() {
    awk -v a="$1" -v b="$2" -v tol="$tol" -v slack="$3" 'BEGIN {
        if (a == "na" || b == "na" || a <= 0) { print "change=na flat=na"; exit }
        d = b - a; c = 100 * d / a
        flat = (c <= tol && c >= -tol) || (d <= slack && d >= -slack)
        printf "change=%+.1f%% flat=%s\n", c, flat ? "yes" : "no" }'
}
last_from=$((dur - 60))
notflat=""
echo "# soak: first minute = samples at 10-60 s, last minute = samples after $last_from s; flat = within ${tol}% (fds: or 3)"
for n in "${names[@]}"; do
    r1=$(window "${S_RSS[$n]}" 0 60 mean) r2=$(window "${S_RSS[$n]}" "$last_from" "$dur" mean)
    m1=$(window "${S_RSS[$n]}" 0 60 max) m2=$(window "${S_RSS[$n]}" "$last_from" "$dur" max)
    f1=$(window "${S_FDS[$n]}" 0 60 mean) f2=$(window "${S_FDS[$n]}" "$last_from" "$dur" mean)
    v=$(verdict "$r1" "$r2" 0)
    [[ $v == *flat=yes ]] || notflat+=" rss:$n"
    echo "soak_rss_$n cio=$r2 first_minute=$r1 unit=KiB $v"
    echo "# $n: largest RSS sample $m1 KiB in the first minute, $m2 KiB in the last"
    v=$(verdict "$f1" "$f2" 3)
    [[ $v == *flat=yes ]] || notflat+=" fds:$n"
    echo "soak_fds_$n cio=$f2 first_minute=$f1 unit=fds $v"
    i0=${IDLE0[$n]} i1=${IDLE1[$n]}
    echo "soak_idle_fds_$n cio=$i1 before=$i0 unit=fds flat=$([ "$i0" = "$i1" ] && echo yes || echo no)"
    [ "$i0" = "$i1" ] || notflat+=" idle_fds:$n"
    msgs=0 errs=0 detail=""
    for part in steady churn timeouts stalls; do
        [ -f "$work/$n.$part" ] || continue
        out=$(grep -m1 '^msgs=' "$work/$n.$part" 2>/dev/null)
        if [ -z "$out" ]; then
            detail+=" $part=failed($(tail -n1 "$work/$n.$part" 2>/dev/null))"
            errs=$((errs + 1))
            continue
        fi
        m=$(sed -n 's/.*total=\([0-9]*\).*/\1/p' <<<"$out") e=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"$out")
        c=$(sed -n 's/.*connects=\([0-9]*\).*/\1/p' <<<"$out")
        k=$(sed -n 's/.*closed_by_server=\([0-9]*\).*/\1/p' <<<"$out")
        msgs=$((msgs + m))
        [ "$part" = steady ] || [ "$part" = churn ] && errs=$((errs + e))
        detail+=" $part=${m}msgs/${c}connects/${e}errors"
        case $part in timeouts | stalls) detail+="/${k:-0}closed_by_server" ;; esac
    done
    echo "soak_msgs_$n cio=$msgs unit=msgs errors=$errs"
    echo "# $n:$detail (timeouts, stalls: a message is one client giving up, or timed out by the server: closed_by_server)"
done
if [ -z "$notflat" ]; then
    echo "# soak verdict: flat (RSS and fds within ${tol}% from the first minute to the last; idle fds back to where they started)"
else
    echo "# soak verdict: NOT flat:$notflat"
fi
# A clean exit under SIGTERM after all that.
for n in "${names[@]}"; do
    kill -TERM "${PID[$n]}" 2>/dev/null
done
for n in "${names[@]}"; do
    for ((i = 0; i < 100; i++)); do
        kill -0 "${PID[$n]}" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "${PID[$n]}" 2>/dev/null; then
        echo "# $n: still running 10 s after SIGTERM (killed)"
        kill -KILL "${PID[$n]}" 2>/dev/null
    fi
    wait "${PID[$n]}" 2>/dev/null
    rc=$?
    echo "# $n: exit $rc after SIGTERM$([ -s "$work/$n.err" ] && echo "; stderr: $(head -c 300 "$work/$n.err" | tr '\n' ' ')")"
done
exit 0
