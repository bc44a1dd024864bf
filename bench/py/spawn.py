# SPDX-License-Identifier: MIT
"""spawn_join peer: each round creates N tasks with create_task() (each
returns its argument), awaits asyncio.gather() on all of them and checks the
results.  Prints the best round after the first, in ns per task."""
import asyncio
import time

from common import env_int, parse_args, run


async def child(i):
    return i


def main():
    args = parse_args(__doc__)
    n = env_int("BENCH_SPAWN_N", 100000)
    rounds = max(2, env_int("BENCH_PY_SPAWN_ROUNDS", 2))

    async def bench():
        best = None
        for r in range(rounds):
            t0 = time.perf_counter_ns()
            tasks = [asyncio.create_task(child(i)) for i in range(n)]
            res = await asyncio.gather(*tasks)
            del tasks
            ns = (time.perf_counter_ns() - t0) / n
            if res != list(range(n)):
                raise SystemExit("spawn: wrong results")
            if r > 0:
                best = ns if best is None else min(best, ns)
        return best

    print(f"{run(bench, args.loop):.1f}")


main()
