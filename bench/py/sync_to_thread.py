# SPDX-License-Identifier: MIT
"""to_thread peer: one task runs `await asyncio.to_thread(f, i)` (f returns
its argument) N times in a row on the loop's default executor.  Prints the
best of BENCH_PY_REPS repetitions in microseconds per round trip."""
import asyncio
import time

from common import env_int, parse_args, run


def empty(x):
    return x


def main():
    args = parse_args(__doc__)
    n = env_int("BENCH_PY_TO_THREAD_N", 5000)
    reps = env_int("BENCH_PY_REPS", 3)

    async def trips(n):
        for i in range(n):
            if await asyncio.to_thread(empty, i) != i:
                raise SystemExit("to_thread: wrong result")

    async def bench():
        await trips(max(1, n // 20))  # warm up: start the workers
        best = None
        for _ in range(reps):
            t0 = time.perf_counter_ns()
            await trips(n)
            us = (time.perf_counter_ns() - t0) / 1000 / n
            best = us if best is None else min(best, us)
        return best

    print(f"{run(bench, args.loop):.3f}")


main()
