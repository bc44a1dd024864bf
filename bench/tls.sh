#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# TLS figures of cio next to Go crypto/tls (GOMAXPROCS=1), Python asyncio on
# uvloop with ssl, and nginx (one worker), measured in the same run, with
# the same certificate and parameters: TLS 1.3, TLS_AES_128_GCM_SHA256,
# X25519, an ECDSA P-256 certificate made at run time.
#
#   tls_echo_cN            msg/s: bench/tls_server -m echo vs bench/go/tls
#                          and bench/py/tls_server.py, N = 50 and 1000
#                          connections, each sending 1 KiB and waiting for
#                          its echo (bench/tls_loadgen -m echo)
#   tls_echo_cN_cpu        us of server CPU per message, same runs
#   tls_echo_c50_io_uring  msg/s, cio on the io_uring back end (TLS moves
#                          bytes with recv/send there too; the peers as above)
#   tls_handshake          full handshakes per second: connect, handshake,
#                          one byte echoed, close_notify, close; 50 at a time
#                          (tls_loadgen -m hs), no resumption
#   tls_handshake_cpu      us of server CPU per handshake
#   tls_resume, tls_resume_cpu   the same, resuming the previous session
#                          (tls_loadgen -m hs -r: session tickets)
#   https_hello            req/s: tls_server -m http (cio's HTTP server) vs
#                          nginx (bench/nginx/tls.conf.in), the Go net/http
#                          server and the Python loop; wrk, 50 keep-alive
#                          connections, one thread
#   https_hello_cpu        us of server CPU per request
#   tls_echo_syscalls      system calls the server makes per echo message
#                          (strace -c -f over a separate run, 50 connections)
#   tls_handshake_syscalls system calls per handshake (same way)
#
# The server is pinned to CPU 0, the load generator to CPU 1 (with 2+ CPUs);
# tls_loadgen busy-polls (-S) and reports its own CPU (a note says how
# busy it was: the client must not be the limit) and the server's CPU over
# the measurement (-P).  Every figure is the median of TLS_REPS runs, the
# servers interleaved round by round.  OpenSSL-based peers (cio, Python,
# nginx, wrk) get the suite and group from OPENSSL_CONF, which this script
# points at a file of its own; Go's TLS 1.3 suite is AES-128-GCM on a CPU
# with AES-NI.
#
# Output: `NAME cio=V go=V uvloop=V nginx=V unit=U ratio_vs_PEER=...`
# (ratio: how many times cio beats the peer; < 1: the peer is better); a
# peer that is missing or fails prints PEER=na.  `#` lines are details.
# Env: CIO_BENCH_DIR (tls_server, tls_loadgen), CIO_GO, CIO_PYTHON,
# TLS_REPS (3), TLS_SECS (2), TLS_QUICK=1 (one short run each), TLS_ONLY
# (an extended regex: only the figures whose name matches), TLS_BASE (the
# tls_server of another build, e.g. before a change: an extra peer "base"
# in the echo and handshake figures).
# shellcheck disable=SC2034,SC2154 # globals shared with lib/runner.sh
# shellcheck disable=SC2086 # $SRV_PIN / $GEN_PIN: a command prefix or nothing
set -u
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/runner.sh
. "$here/lib/runner.sh"
bench_dir=${CIO_BENCH_DIR:-$here/../build/bench}
build_dir=$(dirname "$bench_dir")
go=${CIO_GO:-$(command -v go || true)}
py=${CIO_PYTHON:-/usr/bin/python3}
reps=${TLS_REPS:-3}
secs=${TLS_SECS:-2}
[ "${TLS_QUICK:-0}" = 1 ] && reps=1 secs=0.5

work=$(mktemp -d "${TMPDIR:-/tmp}/cio-bench-tls.XXXXXX") || exit 1
trap cleanup EXIT
notes=()
peer_re='.'

SRV_PIN='' GEN_PIN=''
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
    SRV_PIN='taskset -c 0' GEN_PIN='taskset -c 1'
fi
server=$bench_dir/tls_server
gen=$bench_dir/tls_loadgen
if [ ! -x "$server" ] || [ ! -x "$gen" ]; then
    echo "# $server or $gen not built: nothing to measure"
    exit 0
fi

# ---- certificate and OpenSSL configuration ------------------------------------
cert=$work/cert.pem key=$work/key.pem
if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$key" -out "$cert" >"$work/req.log" 2>&1; then
    echo "# openssl could not make a certificate: $(tail -n1 "$work/req.log")"
    exit 0
fi
cat >"$work/openssl.cnf" <<'EOF'
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MinProtocol = TLSv1.3
Ciphersuites = TLS_AES_128_GCM_SHA256
Groups = X25519
EOF
export OPENSSL_CONF=$work/openssl.cnf

build_go_peers tls
have_py=0
"$py" -c 'import uvloop' 2>/dev/null && have_py=1 || notes+=("# $py has no uvloop: uvloop=na")
have_nginx=0
command -v nginx >/dev/null 2>&1 && have_nginx=1 || notes+=("# nginx not found: nginx=na")
have_wrk=0
command -v wrk >/dev/null 2>&1 && have_wrk=1 || notes+=("# wrk not found: https figures are na")

# ---- servers ---------------------------------------------------------------------

# start PEER MODE [ENV]: starts PEER's server (cio, cio_uring, go, uvloop,
# nginx) in MODE (echo, http) pinned to CPU 0; SPID = the process that
# serves (nginx: its worker), SPORT its port; empty on failure.
start() {
    local peer=$1 mode=$2 port i out=$work/srv.out
    SPID='' SPORT=''
    port=$(free_port)
    : >"$out"
    case $peer in
    cio) $SRV_PIN "$server" -m "$mode" -p "$port" -c "$cert" -k "$key" >"$out" 2>"$work/srv.err" & ;;
    base) $SRV_PIN "$TLS_BASE" -m "$mode" -p "$port" -c "$cert" -k "$key" >"$out" 2>"$work/srv.err" & ;;
    cio_uring) CIO_BACKEND=io_uring $SRV_PIN "$server" -m "$mode" -p "$port" -c "$cert" -k "$key" >"$out" 2>"$work/srv.err" & ;;
    go)
        [ "$have_go" = 1 ] && [ -x "$work/go_tls" ] || return 1
        GOMAXPROCS=1 $SRV_PIN "$work/go_tls" -m "$mode" -p "$port" -c "$cert" -k "$key" >"$out" 2>"$work/srv.err" &
        ;;
    uvloop)
        [ "$have_py" = 1 ] || return 1
        $SRV_PIN "$py" "$here/py/tls_server.py" --mode "$mode" --port "$port" --cert "$cert" --key "$key" \
            >"$out" 2>"$work/srv.err" &
        ;;
    nginx)
        [ "$have_nginx" = 1 ] || return 1
        mkdir -p "$work/nginx"
        sed -e "s|@DIR@|$work/nginx|g" -e "s|@PORT@|$port|g" -e "s|@CERT@|$cert|g" -e "s|@KEY@|$key|g" \
            "$here/nginx/tls.conf.in" >"$work/nginx/nginx.conf"
        $SRV_PIN nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" >"$out" 2>"$work/srv.err" &
        ;;
    esac
    local pid=$!
    for ((i = 0; i < 100; i++)); do
        if [ "$peer" = nginx ]; then
            SPID=$(pgrep -P "$pid" nginx 2>/dev/null | head -n1)
            [ -n "$SPID" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && SPORT=$port MPID=$pid && return 0
        elif grep -q '^Serving on' "$out" 2>/dev/null; then
            SPID=$pid SPORT=$port MPID=$pid
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    notes+=("# $peer ($mode) did not start: $(tail -n2 "$work/srv.err" | tr '\n' ' ')")
    kill -KILL "$pid" 2>/dev/null
    SPID='' SPORT=''
    return 1
}

stop() {
    [ -n "${MPID:-}" ] || return 0
    kill -TERM "$MPID" 2>/dev/null
    local i
    for ((i = 0; i < 50; i++)); do
        kill -0 "$MPID" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$MPID" 2>/dev/null
    wait "$MPID" 2>/dev/null
    MPID=''
}

# ---- one measurement -----------------------------------------------------------

# measure PEER MODE GENARGS...: RATE and CPU (us per message) of one run of
# tls_loadgen against PEER, na when it fails; the load generator's CPU
# share goes to GENLOAD.
measure() {
    local peer=$1 line
    shift
    RATE=na CPU=na
    start "$peer" echo || return 0
    line=$(timeout 200 $GEN_PIN "$gen" -p "$SPORT" -P "$SPID" -S -d "$secs" "$@" 2>"$work/gen.err")
    stop
    [[ $line =~ ^msgs= ]] || {
        notes+=("# $peer: tls_loadgen $*: $(tail -n1 "$work/gen.err")")
        return 0
    }
    RATE=$(field "$line" rate)
    CPU=$(awk -v c="$(field "$line" srv_cpu_s)" -v m="$(field "$line" msgs)" 'BEGIN { if (m > 0 && c != "na") printf "%.2f", c * 1e6 / m; else print "na" }')
    GENLOAD+=" $(awk -v c="$(field "$line" cpu_s)" -v s="$(field "$line" secs)" 'BEGIN { printf "%.0f%%", 100 * c / s }')"
    [ "$(field "$line" errors)" = 0 ] || notes+=("# $peer: $(field "$line" errors) errors")
    RESUMED=$(field "$line" resumed)
}

# measure_wrk PEER: RATE and CPU per request of one wrk run (50 connections,
# one thread) against PEER's https hello.
measure_wrk() {
    local peer=$1 c0 c1 out
    RATE=na CPU=na
    [ "$have_wrk" = 1 ] || return 0
    start "$peer" http || return 0
    c0=$(awk '{ print $14 + $15 }' "/proc/$SPID/stat")
    out=$(timeout 60 $GEN_PIN wrk -t1 -c50 -d"$(awk -v s="$secs" 'BEGIN { printf "%d", s < 1 ? 1 : s }')s" "https://127.0.0.1:$SPORT/" 2>&1)
    c1=$(awk '{ print $14 + $15 }' "/proc/$SPID/stat")
    stop
    RATE=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
    local n
    n=$(awk '/requests in/ { print $1 }' <<<"$out")
    [ -n "$RATE" ] || {
        RATE=na
        notes+=("# $peer: wrk: $(tail -n1 <<<"$out")")
        return 0
    }
    grep -q 'Non-2xx\|Socket errors' <<<"$out" && notes+=("# $peer: wrk: $(grep 'Non-2xx\|Socket errors' <<<"$out")")
    CPU=$(awk -v t=$((c1 - c0)) -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN { if (n > 0) printf "%.2f", t / hz * 1e6 / n; else print "na" }')
}

median() {
    printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "na"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# figure NAME PEERS KIND ARGS...: REPS rounds over PEERS (interleaved), the
# medians printed as NAME (rate) and NAME_cpu.  KIND: gen (tls_loadgen
# ARGS) or wrk.
figure() {
    local name=$1 peers=$2 kind=$3 p r unit=msg/s
    shift 3
    [[ $name =~ ${TLS_ONLY:-.} ]] || return 0
    [ "$kind" = wrk ] && unit=req/s
    [[ $name == *handshake* || $name == *resume* ]] && unit=hs/s
    t_start=$SECONDS
    declare -A rates=() cpus=()
    GENLOAD=''
    for ((r = 0; r < reps; r++)); do
        for p in $peers; do
            if [ "$kind" = wrk ]; then measure_wrk "${p%%:*}"; else measure "${p%%:*}" "$@"; fi
            rates[$p]+=" $RATE" cpus[$p]+=" $CPU"
            [ "${RESUMED:-na}" != na ] && [ "$name" = tls_resume ] && notes+=("# $p resumed $RESUMED")
        done
    done
    local first=${peers%% *} rl='' cl=''
    for p in ${peers#* }; do
        rl+=" ${p#*:}=$(median ${rates[$p]})"
        cl+=" ${p#*:}=$(median ${cpus[$p]})"
    done
    notes+=("# runs (rate):$(for p in $peers; do printf ' %s=[%s ]' "${p#*:}" "${rates[$p]}"; done)")
    notes+=("# runs (us/msg):$(for p in $peers; do printf ' %s=[%s ]' "${p#*:}" "${cpus[$p]}"; done)")
    [ -n "$GENLOAD" ] && notes+=("# load generator CPU share per run:$GENLOAD")
    # shellcheck disable=SC2086 # word splitting wanted
    result "$name" "$unit" higher "$(median ${rates[$first]})" $rl
    # shellcheck disable=SC2086
    result "${name}_cpu" "us/${unit%/s}" lower "$(median ${cpus[$first]})" $cl
    flush_notes "$name" "$(awk '{ printf "load average %s", $1 }' /proc/loadavg)"
}

# syscalls NAME GENARGS...: system calls per message of each server, from
# strace -c -f over one run (connections opened before are included: over
# thousands of messages they weigh little; for handshakes they are the
# point).
syscalls() {
    local name=$1 p line vals=''
    shift
    [[ $name =~ ${TLS_ONLY:-.} ]] || return 0
    command -v strace >/dev/null 2>&1 || return 0
    t_start=$SECONDS
    for p in cio go uvloop ${TLS_BASE:+base}; do
        start "$p" echo || {
            vals+=" $p=na"
            continue
        }
        strace -c -f -p "$SPID" -o "$work/strace.$p" >/dev/null 2>&1 &
        local spid=$!
        sleep 0.5
        line=$(timeout 200 $GEN_PIN "$gen" -p "$SPORT" -w 0 -d 1 "$@" 2>/dev/null)
        kill -INT "$spid" 2>/dev/null
        wait "$spid" 2>/dev/null
        stop
        local n
        n=$(field "$line" total)
        # strace -c: "% time, seconds, usecs/call, calls, [errors,] syscall"
        vals+=" $p=$(awk -v n="$n" '$NF == "total" && $4 ~ /^[0-9]+$/ { if (n > 0) printf "%.2f", $4 / n }' "$work/strace.$p")"
        notes+=("# $p, per message (of $n): $(awk -v n="$n" '$1 ~ /^[0-9.]+$/ && $NF != "total" && n > 0 && $4 / n >= 0.005 {
                printf "%s=%.3f ", $NF, $4 / n }' "$work/strace.$p")")
    done
    local per=msg
    [[ $name == *handshake* ]] && per=handshake
    # shellcheck disable=SC2046 # one argument per peer
    result "$name" "syscalls/$per" lower "$(field "$vals" cio)" $(for v in $vals; do [ "${v%%=*}" = cio ] || echo "$v"; done)
    flush_notes "$name"
}

gen_peers='cio:cio go:go uvloop:uvloop'
[ -n "${TLS_BASE:-}" ] && [ -x "$TLS_BASE" ] && gen_peers+=' base:base'
figure tls_echo_c50 "$gen_peers" gen -m echo -c 50 -s 1024
figure tls_echo_c1000 "$gen_peers" gen -m echo -c 1000 -s 1024
figure tls_echo_c50_io_uring "cio_uring:cio go:go uvloop:uvloop" gen -m echo -c 50 -s 1024
figure tls_handshake "$gen_peers" gen -m hs -c 50
figure tls_resume "$gen_peers" gen -m hs -c 50 -r
figure https_hello "cio:cio nginx:nginx go:go uvloop:uvloop" wrk
syscalls tls_echo_syscalls -m echo -c 50 -s 1024
syscalls tls_handshake_syscalls -m hs -c 50
