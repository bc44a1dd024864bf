# SPDX-License-Identifier: MIT
"""queue_handoff peer: a producer task puts the integers 1..N on an
asyncio.Queue(maxsize) (`await q.put(i)`), a consumer task gets them
(`await q.get()`) and checks the order; the main task gathers both.
--maxsize 1 makes every other put and get wait (a hand-off); --maxsize 0 is
unbounded (put never waits: the producer stores everything first).
Prints the best of BENCH_PY_REPS repetitions in ns per item."""
import argparse
import asyncio
import time

from common import env_int, run


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    p.add_argument("--maxsize", type=int, default=1)
    args = p.parse_args()
    n = env_int("BENCH_PY_QUEUE_N", 50000)
    reps = env_int("BENCH_PY_REPS", 3)

    async def producer(q, n):
        for i in range(1, n + 1):
            await q.put(i)

    async def consumer(q, n):
        for i in range(1, n + 1):
            if await q.get() != i:
                raise SystemExit("queue: wrong item")

    async def one_round(n):
        q = asyncio.Queue(args.maxsize)
        t0 = time.perf_counter_ns()
        await asyncio.gather(consumer(q, n), producer(q, n))
        return (time.perf_counter_ns() - t0) / n

    async def bench():
        await one_round(max(1, n // 10))  # warm up
        return min([await one_round(n) for _ in range(reps)])

    print(f"{run(bench, args.loop):.1f}")


main()
