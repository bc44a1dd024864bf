#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CIO_TEST: RUN_SERIAL TIMEOUT=300
#
# examples_net: the streams echo server and client (seed 001).
#
#   - echo_server on a free port (PORT 0: it prints "Serving on HOST:PORT"
#     with the port it got), then on that port given explicitly
#   - echo_client's message round trip, its default message, positional
#     arguments, a name instead of an address
#   - 1000 lines from 20 concurrent echo_client -s invocations, each
#     checked line by line, plus bash /dev/tcp clients
#   - a large payload (8 MiB) through one client
#   - the server prints nothing per message, keeps serving after clients
#     vanish mid-way, exits 0 on SIGTERM; afterwards the port is closed and
#     the client fails cleanly (exit 1, a message)
#   - bad arguments: exit 2
#
# Env: CIO_EXAMPLES_DIR (the built examples).  Exit 0 pass, 1 fail.
set -u
export LC_ALL=C

EX=${CIO_EXAMPLES_DIR:?CIO_EXAMPLES_DIR is not set}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/examples_net.XXXXXX") || exit 1
SERVER_PID=
cleanup() {
    [[ -n $SERVER_PID ]] && kill -KILL "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

failures=0
CUR=-
fail() {
    echo "FAIL [$CUR]: $*"
    failures=$((failures + 1))
}
ok() { echo "ok   [$CUR] $*"; }

for prog in echo_server echo_client; do
    if [[ ! -x $EX/$prog ]]; then
        echo "FAIL: $EX/$prog is not built"
        exit 1
    fi
done

# start_server ARGS...: starts echo_server in the background, waits for its
# "Serving on" line; sets SERVER_PID and PORT. Returns 1 if it did not start.
start_server() {
    : >"$WORK/server.out"
    "$EX/echo_server" "$@" >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    local i
    for ((i = 0; i < 400; i++)); do # up to 20 s: a loaded machine starts slowly
        if grep -q '^Serving on ' "$WORK/server.out"; then
            PORT=$(sed -n 's/^Serving on .*:\([0-9][0-9]*\)$/\1/p' "$WORK/server.out")
            [[ -n $PORT ]] && return 0
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            break
        fi
        sleep 0.05
    done
    fail "echo_server $* did not start: $(cat "$WORK/server.out" "$WORK/server.err")"
    return 1
}

# stop_server: SIGTERM, then its exit status must be 0 within 20 s.
stop_server() {
    kill -TERM "$SERVER_PID"
    local i rc
    for ((i = 0; i < 400; i++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        fail "echo_server did not exit on SIGTERM"
        kill -KILL "$SERVER_PID"
    fi
    wait "$SERVER_PID"
    rc=$?
    SERVER_PID=
    ((rc == 0)) || fail "echo_server exited with $rc after SIGTERM"
}

client() { timeout 20 "$EX/echo_client" "$@"; }

# ---- a free port ---------------------------------------------------------------
CUR=start
start_server 0 || exit 1
ok "echo_server 0 -> port $PORT"

# ---- one message -----------------------------------------------------------------
CUR=message
out=$(client -p "$PORT" -m "hello cio")
rc=$?
if ((rc == 0)) && [[ $out == "hello cio" ]]; then ok "echoed '$out'"; else fail "rc=$rc out='$out'"; fi

out=$(client -H 127.0.0.1 --port "$PORT" --message "spaces  and	tabs, ünïcödé")
[[ $out == "spaces  and	tabs, ünïcödé" ]] && ok "long options, odd bytes" || fail "got '$out'"

out=$(client "$PORT")
[[ $out == "Hello World!" ]] && ok "default message" || fail "default message: '$out'"

out=$(client "$PORT" "positional message")
[[ $out == "positional message" ]] && ok "positional PORT MESSAGE" || fail "positional: '$out'"

out=$(client -H localhost -p "$PORT" -m "by name")
[[ $out == "by name" ]] && ok "host by name" || fail "by name: '$out'"

# ---- 1000 lines from 20 concurrent clients --------------------------------------------
CUR=concurrent
for c in $(seq 1 20); do
    for l in $(seq 1 50); do
        echo "client $c line $l $RANDOM$RANDOM"
    done >"$WORK/in.$c"
done
t0=${EPOCHREALTIME/./}
pids=()
for c in $(seq 1 20); do
    client -s -p "$PORT" <"$WORK/in.$c" >"$WORK/out.$c" 2>"$WORK/err.$c" &
    pids+=($!)
done
bad=0
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { bad=$((bad + 1)); echo "  client $((i + 1)) exited $?: $(cat "$WORK/err.$((i + 1))")"; }
done
dt=$(((${EPOCHREALTIME/./} - t0) / 1000))
lines=0
for c in $(seq 1 20); do
    if cmp -s "$WORK/in.$c" "$WORK/out.$c"; then
        lines=$((lines + $(wc -l <"$WORK/out.$c")))
    else
        bad=$((bad + 1))
        echo "  client $c: echo differs ($(wc -l <"$WORK/out.$c") lines back)"
    fi
done
((bad == 0 && lines == 1000)) && ok "20 clients, $lines lines echoed intact in ${dt} ms" || fail "$bad bad clients, $lines lines"

# bash's own /dev/tcp, several connections open at once, lines interleaved
CUR=dev-tcp
if exec 5<>"/dev/tcp/127.0.0.1/$PORT" && exec 6<>"/dev/tcp/127.0.0.1/$PORT"; then
    good=0
    for i in $(seq 1 20); do
        echo "five $i" >&5
        echo "six $i" >&6
        IFS= read -r -t 5 a <&5
        IFS= read -r -t 5 b <&6
        [[ $a == "five $i" && $b == "six $i" ]] && good=$((good + 1))
    done
    exec 5>&- 6>&-
    ((good == 20)) && ok "two interleaved /dev/tcp connections" || fail "$good/20 exchanges right"
else
    fail "cannot open /dev/tcp/127.0.0.1/$PORT"
fi

# ---- a large payload -------------------------------------------------------------------
CUR=large
head -c 8388608 /dev/urandom >"$WORK/big.in"
client -s -p "$PORT" <"$WORK/big.in" >"$WORK/big.out"
rc=$?
if ((rc == 0)) && cmp -s "$WORK/big.in" "$WORK/big.out"; then ok "8 MiB echoed intact"; else fail "rc=$rc, $(wc -c <"$WORK/big.out") bytes back"; fi

# ---- clients that vanish mid-way do not hurt the server --------------------------------------
CUR=robust
vpids=()
for i in $(seq 1 10); do
    # sends a lot without reading, then is killed
    (head -c 4194304 /dev/zero | timeout -s KILL 0.2 "$EX/echo_client" -s -p "$PORT") >/dev/null 2>&1 &
    vpids+=($!)
done
wait "${vpids[@]}" 2>/dev/null # (not the server, which is a background job too)
exec 5<>"/dev/tcp/127.0.0.1/$PORT" && exec 5>&- # connect and hang up at once
out=$(client -p "$PORT" -m "still here")
[[ $out == "still here" ]] && ok "serving after 11 clients vanished" || fail "after vanished clients: '$out'"

# ---- quiet, then SIGTERM -----------------------------------------------------------------
CUR=quiet
nout=$(wc -l <"$WORK/server.out")
if ((nout == 1)) && [[ ! -s $WORK/server.err ]]; then
    ok "the server printed only its 'Serving on' line"
else
    fail "server stdout: $(cat "$WORK/server.out") / stderr: $(cat "$WORK/server.err")"
fi
CUR=stop
stop_server
ok "SIGTERM: exit 0"
out=$(client -p "$PORT" -m "anyone?" 2>"$WORK/err")
rc=$?
if ((rc == 1)) && [[ -z $out ]] && grep -q 'refused' "$WORK/err"; then
    ok "after the server: exit 1, $(cat "$WORK/err")"
else
    fail "client against a closed port: rc=$rc out='$out' err='$(cat "$WORK/err")'"
fi

# ---- an explicit port ----------------------------------------------------------------------
CUR=explicit-port
FIXED=$PORT # free again now
if start_server "$FIXED"; then
    [[ $PORT == "$FIXED" ]] || fail "asked for $FIXED, got $PORT"
    out=$(client -p "$PORT" -m "fixed port")
    [[ $out == "fixed port" ]] && ok "echo_server $FIXED" || fail "fixed port: '$out'"
    # the port is taken now: a second server fails cleanly
    timeout 5 "$EX/echo_server" "$FIXED" >"$WORK/second.out" 2>"$WORK/second.err"
    rc=$?
    ((rc == 1)) && grep -q 'cannot listen' "$WORK/second.err" && ok "second server on the same port: exit 1" ||
        fail "second server: rc=$rc $(cat "$WORK/second.err")"
    stop_server
fi

# ---- bad arguments ---------------------------------------------------------------------------
CUR=usage
timeout 5 "$EX/echo_server" >/dev/null 2>&1
rc=$?
((rc == 2)) && ok "echo_server without PORT: exit 2" || fail "echo_server without PORT: rc=$rc"
timeout 5 "$EX/echo_server" notaport >/dev/null 2>&1
rc=$?
((rc == 2)) && ok "echo_server notaport: exit 2" || fail "echo_server notaport: rc=$rc"
timeout 5 "$EX/echo_client" --bogus >/dev/null 2>&1
rc=$?
((rc == 2)) && ok "echo_client --bogus: exit 2" || fail "echo_client --bogus: rc=$rc"

if ((failures)); then
    echo "$failures failure(s)"
    exit 1
fi
echo "all passed"
exit 0
