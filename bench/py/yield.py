# SPDX-License-Identifier: MIT
"""yield_roundtrip peer: one task doing `await asyncio.sleep(0)` in a loop.
Prints the best of BENCH_PY_REPS repetitions in ns per sleep(0)."""
import asyncio
import time

from common import env_int, parse_args, run


def main():
    args = parse_args(__doc__)
    n = env_int("BENCH_PY_YIELD_N", 20000)
    reps = env_int("BENCH_PY_REPS", 10)

    async def bench():
        for _ in range(1000):
            await asyncio.sleep(0)
        best = None
        for _ in range(reps):
            t0 = time.perf_counter_ns()
            for _ in range(n):
                await asyncio.sleep(0)
            ns = (time.perf_counter_ns() - t0) / n
            best = ns if best is None else min(best, ns)
        return best

    print(f"{run(bench, args.loop):.1f}")


main()
