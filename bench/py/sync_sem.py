# SPDX-License-Identifier: MIT
"""sem_contend peer: N tasks (create_task) contend on an asyncio.Semaphore
of P permits: each does `async with sem: await asyncio.sleep(0)`; the main
task gathers them.  The clock runs from before the first create_task to
after the gather.  Prints the best of BENCH_PY_REPS repetitions in tasks
per second."""
import asyncio
import time

from common import env_int, parse_args, run


def main():
    args = parse_args(__doc__)
    n = env_int("BENCH_PY_SEM_N", 50000)
    permits = env_int("BENCH_SEM_PERMITS", 100)
    reps = env_int("BENCH_PY_REPS", 3)
    state = {"done": 0}

    async def contender(sem):
        async with sem:
            await asyncio.sleep(0)
        state["done"] += 1

    async def one_round(n):
        sem = asyncio.Semaphore(permits)
        state["done"] = 0
        t0 = time.perf_counter_ns()
        await asyncio.gather(*[asyncio.create_task(contender(sem)) for _ in range(n)])
        tps = n / ((time.perf_counter_ns() - t0) / 1e9)
        if state["done"] != n:
            raise SystemExit("sem: not every task finished")
        return tps

    async def bench():
        await one_round(max(1, n // 10))  # warm up
        return max([await one_round(n) for _ in range(reps)])

    print(f"{run(bench, args.loop):.0f}")


main()
