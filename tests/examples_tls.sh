#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CIO_TEST: RUN_SERIAL TIMEOUT=120
#
# Runs http_status, the streams example of seed 001 (status lines of several
# https:// URLs, checked concurrently over TLS), against local servers only:
# a CA and server certificates are made here with the openssl command line,
# and `openssl s_server -www` serves on 127.0.0.1 (port 0: the kernel picks a
# free one, read back from its "ACCEPT" line):
#   good   certificate for localhost / 127.0.0.1, signed by the CA
#   wrong  certificate for other.example, signed by the CA
#   stuck  the good certificate, but the server is stopped (SIGSTOP): the
#          kernel accepts the connection, nobody answers the ClientHello
#   closed a port where a server listened and was killed: connection refused
# Checks the lines (one per URL, in argument order, in the article's
# `URL:<TAB>status` format), the error kinds, exit status 0 despite the
# failures, and the wall time: under the per-URL timeout when nothing should
# wait for it, and, with two stuck servers, under the two timeouts one after
# the other (they run concurrently).  Upper bounds are set by those
# timeouts, not by a guess at how fast the machine is.
#
# Skipped (77) only when the openssl command line tool is missing.
#
# Env: CIO_EXAMPLES_DIR (built examples), CIO_SANITIZE (sanitizer list or empty).
set -u

EX=${CIO_EXAMPLES_DIR:?CIO_EXAMPLES_DIR is not set}
if ! command -v openssl >/dev/null 2>&1 || ! openssl version >/dev/null 2>&1; then
    echo "skip: no openssl command line tool"
    exit 77
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cio_examples_tls.XXXXXX")
PIDS=()
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null # KILL also ends the stopped one
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
cd "$WORK" || exit 1
OUT=$WORK/out
ERR=$WORK/err

failures=0
current=""
fail() {
    echo "FAIL $current: $*" >&2
    failures=$((failures + 1))
}
ok_or_fail() {
    local before=$1
    # the last run's wall time, to see how far a loaded machine is from the bounds
    if [ "$failures" = "$before" ]; then echo "ok   $current (${WALL:-?} s)"; else echo "FAIL $current"; fi
}


# ---- certificates -------------------------------------------------------------

cat >cnf <<'EOF'
[req]
distinguished_name = dn
[dn]
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[v3_leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost, IP:127.0.0.1
[v3_wrong]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:other.example
EOF
KEY="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
# shellcheck disable=SC2086 # $KEY is several words on purpose
if ! {
    openssl req -config cnf -x509 $KEY -keyout ca.key -out ca.pem -days 30 \
        -subj '/CN=cio examples test CA' -extensions v3_ca &&
        openssl req -config cnf -new $KEY -keyout good.key -out good.csr -subj '/CN=localhost' &&
        openssl x509 -req -in good.csr -CA ca.pem -CAkey ca.key -set_serial 1001 -days 30 \
            -extfile cnf -extensions v3_leaf -out good.pem &&
        openssl req -config cnf -new $KEY -keyout wrong.key -out wrong.csr -subj '/CN=other.example' &&
        openssl x509 -req -in wrong.csr -CA ca.pem -CAkey ca.key -set_serial 1002 -days 30 \
            -extfile cnf -extensions v3_wrong -out wrong.pem
} >certs.log 2>&1; then
    echo "FAIL certificates: openssl could not make them:" >&2
    sed 's/^/  /' certs.log >&2
    exit 1
fi

# ---- servers --------------------------------------------------------------------

# serve NAME CERT KEY: starts `openssl s_server -www` on 127.0.0.1, a free
# port; sets PORT and PID (also remembered for the cleanup).
serve() {
    local name=$1 cert=$2 key=$3 i
    : >"$name.log"
    openssl s_server -accept 127.0.0.1:0 -cert "$cert" -key "$key" -www </dev/null >"$name.log" 2>&1 &
    PID=$!
    PIDS+=("$PID")
    PORT=""
    for ((i = 0; i < 200; i++)); do # up to 10 s
        PORT=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$name.log" | head -n 1)
        if [ -n "$PORT" ]; then return 0; fi
        if ! kill -0 "$PID" 2>/dev/null; then break; fi
        sleep 0.05
    done
    echo "FAIL servers: s_server $name did not start:" >&2
    sed 's/^/  /' "$name.log" >&2
    exit 1
}

serve good good.pem good.key
GOOD=$PORT
serve wrong wrong.pem wrong.key
WRONG=$PORT
serve stuck good.pem good.key
STUCK=$PORT
STUCK_PID=$PID
kill -STOP "$STUCK_PID"
serve closed good.pem good.key
CLOSED=$PORT
kill -KILL "$PID"
wait "$PID" 2>/dev/null

# ---- running the example ------------------------------------------------------

# run [ARGS...]: runs http_status, stdout in $OUT, stderr in $ERR, wall time
# in $WALL (seconds), exit status in $STATUS; fails unless it exited 0 with an
# empty stderr (failed URLs are not fatal).
run() {
    if [ ! -x "$EX/http_status" ]; then
        fail "$EX/http_status is missing"
        STATUS=127
        WALL=0
        : >"$OUT"
        return
    fi
    local t0 t1
    t0=$(date +%s.%N)
    timeout 60 "$EX/http_status" "$@" >"$OUT" 2>"$ERR"
    STATUS=$?
    t1=$(date +%s.%N)
    WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    if [ "$STATUS" != 0 ]; then
        fail "exit status $STATUS"
        sed 's/^/  stderr: /' "$ERR" >&2
    elif [ -s "$ERR" ]; then
        fail "unexpected stderr:"
        sed 's/^/  stderr: /' "$ERR" >&2
    fi
}

# expect_lines URL REGEX [URL REGEX]...: stdout has exactly these lines, in
# this order; line i is `URL<padding to 30>:<TAB>...` (the article's
# f'{url:30}:\t{status}') with the rest matching REGEX (ERE).
expect_lines() {
    local n=$(($# / 2)) i=0 url re line
    local -a got
    mapfile -t got <"$OUT"
    if [ "${#got[@]}" != "$n" ]; then
        fail "expected $n lines, got ${#got[@]}:"
        sed 's/^/  | /' "$OUT" >&2
        return
    fi
    while [ $# -ge 2 ]; do
        url=$1
        re=$2
        shift 2
        line=${got[$i]}
        local head
        head=$(printf '%-30s:\t' "$url")
        if [ "${line:0:${#head}}" != "$head" ]; then
            fail "line $((i + 1)) is not for $url (argument order): '$line'"
        elif ! [[ "${line:${#head}}" =~ $re ]]; then
            fail "line $((i + 1)): '$line' does not match /$re/"
        fi
        i=$((i + 1))
    done
    if [ "$failures" != "$before" ]; then sed 's/^/  | /' "$OUT" >&2; fi
}

# wall_below HI: $WALL < HI.  wall_between LO HI: also LO <= $WALL.
wall_below() {
    if ! awk -v w="$WALL" -v hi="$1" 'BEGIN { exit !(w < hi) }'; then
        fail "took ${WALL}s, expected less than $1s"
    fi
}
wall_between() {
    if ! awk -v w="$WALL" -v lo="$1" 'BEGIN { exit !(w >= lo) }'; then
        fail "took ${WALL}s, expected at least $1s"
    fi
    wall_below "$2"
}

STATUS_200='^HTTP/1\.[01] 200( .*)?$'
U_GOOD=https://localhost:$GOOD/
U_WRONG=https://localhost:$WRONG/
U_CLOSED=https://127.0.0.1:$CLOSED/
U_STUCK=https://localhost:$STUCK/

# ---- the three URLs of the brief, trusting the test CA -------------------------

current="http_status --cafile: good, wrong name, refused"
before=$failures
run --cafile ca.pem --timeout 20 "$U_GOOD" "$U_WRONG" "$U_CLOSED"
expect_lines "$U_GOOD" "$STATUS_200" \
    "$U_WRONG" "^error: .*(host name|hostname)" \
    "$U_CLOSED" "^error: .*[Cc]onnection refused"
wall_below 15 # under the 20 s timeout: nothing waited for it
ok_or_fail "$before"

# ---- the system store does not know the test CA --------------------------------

current="http_status without --cafile: not trusted"
before=$failures
run --timeout 20 "$U_GOOD"
expect_lines "$U_GOOD" "^error: .*not trusted"
wall_below 15
ok_or_fail "$before"

# ---- IP address in the URL (matched against the IP SAN), path and query --------

current="http_status: IP address host, path and query"
before=$failures
run --cafile ca.pem --timeout 20 "https://127.0.0.1:$GOOD/some/path?q=1&r=2" "https://localhost:$GOOD" \
    "ftp://localhost:$GOOD/" "https://localhost:99999/"
expect_lines "https://127.0.0.1:$GOOD/some/path?q=1&r=2" "$STATUS_200" \
    "https://localhost:$GOOD" "$STATUS_200" \
    "ftp://localhost:$GOOD/" "^error: .*scheme" \
    "https://localhost:99999/" "^error: .*port"
wall_below 15
ok_or_fail "$before"

# ---- timeout: a server that never answers, checked concurrently with the rest --

current="http_status --timeout 3: stuck servers time out together, the others do not wait"
before=$failures
run --cafile ca.pem --timeout 3 "$U_STUCK" "$U_GOOD" "${U_STUCK}again" "$U_WRONG" "$U_CLOSED"
expect_lines "$U_STUCK" "^error: .*timed out" \
    "$U_GOOD" "$STATUS_200" \
    "${U_STUCK}again" "^error: .*timed out" \
    "$U_WRONG" "^error: .*(host name|hostname)" \
    "$U_CLOSED" "^error: .*[Cc]onnection refused"
# the two timeouts of 3 s ran at the same time: one after the other they
# take 6 s at the least (2.5 s of room for a loaded machine)
wall_between 2.9 5.5
ok_or_fail "$before"

# ---- usage errors --------------------------------------------------------------

current="http_status: bad option"
before=$failures
if [ -x "$EX/http_status" ]; then
    "$EX/http_status" --timeout nope "$U_GOOD" >"$OUT" 2>"$ERR"
    st=$?
    if [ "$st" != 2 ]; then fail "--timeout nope: exit status $st, expected 2"; fi
    if [ -s "$OUT" ]; then fail "--timeout nope: printed to stdout"; fi
fi
ok_or_fail "$before"

if [ "$failures" != 0 ]; then
    echo "$failures failure(s)" >&2
    exit 1
fi
exit 0
