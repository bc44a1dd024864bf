#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# MySQL client figures: cio's pool (src/mysql) next to Python's aiomysql
# (asyncio and uvloop) and the blocking C client (libmariadb) used from 10
# threads, all against one private MariaDB started here
# (build/bench/mysql serve: a temporary data directory, its own unix
# socket; every client connects through that socket):
#
#   mysql_point_select      queries/s: 50 tasks over a pool of 10, each
#                           acquire, SELECT v FROM kv WHERE id = %s (random
#                           key of 10000), fetchone, release (threads: 10
#                           threads, one blocking connection each)
#   mysql_point_select_cpu  us of client CPU (user + system) per query
#   mysql_executemany       rows/s: the same tasks inserting 100-row batches
#                           with executemany (one multi-row INSERT each;
#                           threads: the same INSERT built by hand)
#   mysql_executemany_cpu   us of client CPU per 100-row batch
#
# The server's own CPU is the same work for every client and is not
# counted.  Output: `NAME cio=V PEER=V ... unit=U ratio_vs_PEER=...` as
# bench/sync.sh (ratios say how many times cio beats the peer).  The
# Python peers run fewer queries (the figure is per query either way).
# Env: CIO_BENCH_DIR, CIO_PYTHON; BENCH_QUICK=1 for a smoke run.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/runner.sh
. "$here/lib/runner.sh"
bench_dir=${CIO_BENCH_DIR:-$here/../build/bench}
py=${CIO_PYTHON:-/usr/bin/python3}
build_dir=${CIO_BUILD_DIR:-$here/../build}
export PYTHONDONTWRITEBYTECODE=1

work=$(mktemp -d "${TMPDIR:-/tmp}/cio-bench-mysql.XXXXXX") || exit 1
trap cleanup EXIT
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    export BENCH_MYSQL_SELECTS=2000 BENCH_MYSQL_BATCHES=500 BENCH_PY_MYSQL_SELECTS=500 BENCH_PY_MYSQL_BATCHES=50
fi
notes=()
t_start=$SECONDS

if [ ! -x "$bench_dir/mysql" ] || { [ ! -x /usr/sbin/mariadbd ] && [ ! -x /usr/sbin/mysqld ]; }; then
    echo "# mysql: $bench_dir/mysql not built or mariadbd not installed: skipped"
    exit 0
fi
mkfifo "$work/hold"
"$bench_dir/mysql" serve <"$work/hold" >"$work/serve.out" 2>"$work/serve.err" &
srv=$!
exec 3>"$work/hold" # the server stops when this closes
for _ in $(seq 1200); do
    grep -q '^socket=' "$work/serve.out" && break
    kill -0 "$srv" 2>/dev/null || break
    sleep 0.1
done
sock=$(sed -n 's/^socket=//p' "$work/serve.out")
if [ -z "$sock" ]; then
    echo "# mysql: the private MariaDB did not start: $(tail -n3 "$work/serve.err" | tr '\n' ' ')"
    exit 0
fi

peer_re='^[0-9]+(\.[0-9]+)?( [0-9]+(\.[0-9]+)?)*$'
run_matching '^select=' cio 300 "$bench_dir/mysql" cio "$sock"; c=$R
run_matching '^select=' threads 300 "$bench_dir/mysql" threads "$sock"; t=$R
py_run mysql asyncio 300 "$sock"; as=$R
py_run mysql uvloop 300 "$sock"; uv=$R
nth() { local w; read -r -a w <<<"$1"; echo "${w[$(($2 - 1))]:-na}"; }
peers() { echo "aiomysql=$(nth "$as" "$1") aiomysql_uvloop=$(nth "$uv" "$1") threads=$(field "$t" "$2")"; }
# shellcheck disable=SC2046 # one word per peer
result mysql_point_select queries/s higher "$(field "$c" select)" $(peers 1 select)
# shellcheck disable=SC2046
result mysql_point_select_cpu us_cpu/query lower "$(field "$c" select_cpu)" $(peers 2 select_cpu)
# shellcheck disable=SC2046
result mysql_executemany rows/s higher "$(field "$c" insert)" $(peers 3 insert)
# shellcheck disable=SC2046
result mysql_executemany_cpu us_cpu/batch lower "$(field "$c" insert_cpu)" $(peers 4 insert_cpu)
notes+=("# mysql: cio and threads: ${BENCH_MYSQL_SELECTS:-20000} selects, ${BENCH_MYSQL_BATCHES:-1000} batches; aiomysql: ${BENCH_PY_MYSQL_SELECTS:-5000} selects, ${BENCH_PY_MYSQL_BATCHES:-250} batches")
notes+=("# load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) on $(nproc) CPUs")
exec 3>&-
flush_notes mysql
exit 0
