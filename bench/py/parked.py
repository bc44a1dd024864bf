# SPDX-License-Identifier: MIT
"""parked_1m peer: N tasks each awaiting one shared Future.  Prints the VmRSS
delta per task (bytes) once all are parked, then a "#" detail line; setting
the future's result wakes them all and the script checks they all finished."""
import asyncio
import gc
import time

from common import env_int, parse_args, run, vm_bytes


def main():
    args = parse_args(__doc__)
    n = env_int("BENCH_PY_PARKED_N", 200000)
    state = {"parked": 0, "woken": 0}

    async def waiter(gate):
        state["parked"] += 1
        if await gate is state:
            state["woken"] += 1

    async def bench():
        loop = asyncio.get_running_loop()
        gate = loop.create_future()
        gc.collect()
        rss0 = vm_bytes("VmRSS")
        t0 = time.perf_counter()
        tasks = [loop.create_task(waiter(gate)) for _ in range(n)]
        await asyncio.sleep(0)  # every task runs up to its await
        spawn = time.perf_counter() - t0
        rss1 = vm_bytes("VmRSS")
        if state["parked"] != n:
            raise SystemExit("parked: not all tasks parked")
        t0 = time.perf_counter()
        gate.set_result(state)
        await asyncio.gather(*tasks)
        wake = time.perf_counter() - t0
        if state["woken"] != n:
            raise SystemExit("parked: not all tasks finished")
        return rss0, rss1, spawn, wake

    rss0, rss1, spawn, wake = run(bench, args.loop)
    print(f"{(rss1 - rss0) / n:.0f}")
    print(f"# parked_1m: {args.loop} {n} tasks on one Future (the task list included): VmRSS "
          f"+{(rss1 - rss0) / 1048576:.1f} MiB; spawn+park {spawn:.2f} s, wake+finish {wake:.2f} s")


main()
