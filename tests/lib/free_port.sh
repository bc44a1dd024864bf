# SPDX-License-Identifier: MIT
# Sourced by the example tests (tests/lib/ is outside the tests/*.sh glob).
# free_port: prints a TCP port nobody listens on now: a cio listener on port
# 0 (cio-crawl --serve) tells its number and goes away.  Needs EX (the
# built examples' directory).
free_port() {
  local out pid p=
  out=$(mktemp)
  "$EX/cio-crawl" --serve 1 > "$out" 2>/dev/null &
  pid=$!
  for _ in $(seq 100); do p=$(awk '/^port /{print $2}' "$out"); [ -n "$p" ] && break; sleep 0.05; done
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  rm -f "$out"
  echo "$p"
}
