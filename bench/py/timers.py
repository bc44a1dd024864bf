# SPDX-License-Identifier: MIT
"""timer_add_cancel peer: with PENDING loop.call_later() handles pending
(delays uniform over 60 s .. 1 h), time NOPS pairs of
loop.call_later(d, cb) + handle.cancel().  Prints the best of BENCH_PY_REPS
repetitions in ns per pair."""
import os
import random
import sys
import time

from common import env_int, parse_args, run


fired = 0


def never():
    global fired
    fired += 1


def main():
    args = parse_args(__doc__)
    npending = env_int("BENCH_TIMERS_PENDING", 1000000)
    nops = env_int("BENCH_PY_TIMERS_OPS", 25000)
    reps = env_int("BENCH_PY_REPS", 8)
    rng = random.Random(42)
    delays = [60.0 + rng.random() * 3540.0 for _ in range(65536)]

    async def bench():
        import asyncio

        loop = asyncio.get_running_loop()
        # The loop keeps the handles; the list only keeps them from looking unused.
        pending = [loop.call_later(60.0 + rng.random() * 3540.0, never) for _ in range(npending)]
        call_later = loop.call_later
        best = None
        for _ in range(reps):
            t0 = time.perf_counter_ns()
            for i in range(nops):
                call_later(delays[i & 65535], never).cancel()
            ns = (time.perf_counter_ns() - t0) / nops
            best = ns if best is None else min(best, ns)
        if len(pending) != npending:
            raise SystemExit("timers: lost handles")
        return best

    best = run(bench, args.loop)
    print(f"{best:.1f}")
    if fired:
        print(f"# timer_add_cancel: {args.loop}: {fired} timers fired during the run (none should)")
    sys.stdout.flush()
    # Skip tearing down a million handles: it is not what is measured.
    os._exit(0)


main()
