# SPDX-License-Identifier: MIT
"""lock_handoff peer: two tasks each run N times `await lock.acquire()`,
`await asyncio.sleep(0)` (so the other one runs and waits for the lock),
`lock.release()`.  Prints the best of BENCH_PY_REPS repetitions in ns per
acquire/release over both tasks, then a "#" line counting how often the
holder changed (asyncio.Lock is FIFO: it should alternate)."""
import asyncio
import time

from common import env_int, parse_args, run


def main():
    args = parse_args(__doc__)
    n = env_int("BENCH_PY_LOCK_N", 20000)
    reps = env_int("BENCH_PY_REPS", 3)
    state = {"last": 0, "switches": 0}

    async def contender(lock, ident, n):
        for _ in range(n):
            await lock.acquire()
            if state["last"] != ident:
                state["switches"] += 1
                state["last"] = ident
            await asyncio.sleep(0)
            lock.release()

    async def one_round(n):
        lock = asyncio.Lock()
        state["last"] = state["switches"] = 0
        t0 = time.perf_counter_ns()
        await asyncio.gather(contender(lock, 1, n), contender(lock, 2, n))
        return (time.perf_counter_ns() - t0) / (2 * n)

    async def bench():
        await one_round(max(1, n // 10))  # warm up
        return min([await one_round(n) for _ in range(reps)])

    print(f"{run(bench, args.loop):.1f}")
    print(f"# lock_handoff: {args.loop} holder changed {state['switches']} times in {2 * n} acquires")


main()
