# SPDX-License-Identifier: MIT
"""mysql peer (aiomysql): the work of bench/mysql.c's cio client, written as
an aiomysql user writes it.  50 tasks over a pool of 10: point selects
(`async with pool.acquire() as conn: async with conn.cursor() as cur:
await cur.execute(...)`), then bulk inserts with cur.executemany of 100
rows each.  Prints one line: selects/s, CPU us per select, rows/s, CPU us
per executemany (process CPU time, user + system)."""
import argparse
import asyncio
import random
import time

import aiomysql

from common import env_int

TASKS, POOL, ROWS, KEYS = 50, 10, 100, 10000


async def bench(sock, n_select, n_batch):
    pool = await aiomysql.create_pool(unix_socket=sock, user="cio", password="cio-secret", db="bench",
                                      minsize=POOL, maxsize=POOL, autocommit=True)

    async def selects(seed):
        rnd = random.Random(seed)
        for _ in range(n_select // TASKS):
            async with pool.acquire() as conn:
                async with conn.cursor() as cur:
                    await cur.execute("SELECT v FROM kv WHERE id = %s", (rnd.randrange(KEYS) + 1,))
                    assert await cur.fetchone()

    async def inserts(seed):
        for b in range(n_batch // TASKS):
            rows = [(seed * 1000000 + b * ROWS + r + 900000000, "a bulk row's text, 'quoted'") for r in range(ROWS)]
            async with pool.acquire() as conn:
                async with conn.cursor() as cur:
                    await cur.executemany("INSERT INTO bulk (a, s) VALUES (%s, %s)", rows)

    figures = []
    for fn in (selects, inserts):
        c0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(fn(i) for i in range(TASKS)))
        figures.append((time.perf_counter() - t0, time.process_time() - c0))
    pool.close()
    await pool.wait_closed()
    return figures


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    p.add_argument("socket")
    a = p.parse_args()
    n_select = env_int("BENCH_PY_MYSQL_SELECTS", 5000)
    n_batch = env_int("BENCH_PY_MYSQL_BATCHES", 250)
    if a.loop == "uvloop":
        import uvloop

        uvloop.install()
    (sw, sc), (iw, ic) = asyncio.run(bench(a.socket, n_select, n_batch))
    print(f"{n_select / sw:.0f} {sc / n_select * 1e6:.1f} {n_batch * ROWS / iw:.0f} {ic / n_batch * 1e6:.1f}")


main()
