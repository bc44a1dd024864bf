# SPDX-License-Identifier: MIT
# Sourced by the crawler tests (tests/lib/ is outside the tests/*.sh glob).
# demo_site PAGES: starts the demo site of `make demo` (cio-crawl --serve)
# with PAGES pages on 127.0.0.1 in the background, its output in serve.out
# and serve.err of the current directory; sets srv_pid (the caller's
# cleanup kills it) and base (http://127.0.0.1:PORT), or calls fail.
# Needs EX (the built examples' directory) and fail.
demo_site() {
  local port=
  "$EX/cio-crawl" --serve "$1" > serve.out 2> serve.err &
  srv_pid=$!
  for _ in $(seq 100); do port=$(awk '/^port /{print $2}' serve.out); [ -n "$port" ] && break; sleep 0.05; done
  [ -n "$port" ] || fail "site did not start: $(cat serve.err)"
  base="http://127.0.0.1:$port"
}
