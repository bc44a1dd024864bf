#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CIO_TEST: TIMEOUT=60
# http_hello: "Hello, World!" as text/plain on every GET, keep-alive and
# pipelining, 405 for other methods, graceful exit 0 on SIGTERM; the same
# with several threads sharing the port.
set -u
EX=${CIO_EXAMPLES_DIR:?}
# shellcheck source=lib/free_port.sh
. "${CIO_TESTS_DIR:?}/lib/free_port.sh"
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$work" || exit 1

start() {   # start ARGS...: runs http_hello, sets pid and port
  "$EX/http_hello" "$@" > out 2> err &
  pid=$!
  for _ in $(seq 400); do grep -q '^Serving on ' out && break; sleep 0.05; done # up to 20 s
  port=$(sed -n 's/^Serving on .*:\([0-9]*\)$/\1/p' out)
  [ -n "$port" ] || fail "http_hello $* did not start: $(cat err)"
}

# raw: sends stdin on a fresh connection, prints what comes back (until close)
raw() {
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  cat >&3
  timeout 20 cat <&3
  exec 3<&-
}

stop() {    # SIGTERM: graceful shutdown, exit 0
  kill -TERM "$pid"
  wait "$pid"
  local rc=$?
  pid=
  [ "$rc" = 0 ] || fail "exit status $rc after SIGTERM"
}

start 0
# one request, keep-alive headers
resp=$(printf 'GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' | raw | tr -d '\r')
grep -q '^HTTP/1.1 200 OK$' <<<"$resp" || fail "no 200: $resp"
grep -q '^Content-Type: text/plain$' <<<"$resp" || fail "no text/plain: $resp"
grep -q '^Content-Length: 13$' <<<"$resp" || fail "no Content-Length: $resp"
[ "$(tail -n1 <<<"$resp")" = "Hello, World!" ] || fail "body: $resp"
# three pipelined requests on one keep-alive connection, the last one closing
resp=$(printf 'GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b?x=1 HTTP/1.1\r\nHost: t\r\n\r\nGET /c HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' | raw | tr -d '\r')
[ "$(grep -o 'HTTP/1.1 200 OK' <<<"$resp" | wc -l)" = 3 ] || fail "pipelining: $resp"
[ "$(grep -o 'Hello, World!' <<<"$resp" | wc -l)" = 3 ] || fail "pipelined bodies: $resp"
# HEAD: no body; POST: 405
resp=$(printf 'HEAD / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' | raw | tr -d '\r')
grep -q '^Content-Length: 13$' <<<"$resp" && ! grep -q 'Hello' <<<"$resp" || fail "HEAD: $resp"
resp=$(printf 'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx' | raw | tr -d '\r')
grep -q '^HTTP/1.1 405 Method Not Allowed$' <<<"$resp" || fail "POST: $resp"
grep -q '^Allow: GET, HEAD$' <<<"$resp" || fail "no Allow: $resp"
# HTTP/1.0
resp=$(printf 'GET / HTTP/1.0\r\n\r\n' | raw | tr -d '\r')
grep -q '^Connection: close$' <<<"$resp" && [ "$(tail -n1 <<<"$resp")" = "Hello, World!" ] || fail "HTTP/1.0: $resp"
stop

# two threads, one port
p=$(free_port)
start -t 2 "$p"
for _ in 1 2 3 4; do
  resp=$(printf 'GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' | raw | tr -d '\r')
  [ "$(tail -n1 <<<"$resp")" = "Hello, World!" ] || fail "threads: $resp"
done
stop

"$EX/http_hello" 2>/dev/null && fail "no port accepted"
echo "ok: http_hello"
