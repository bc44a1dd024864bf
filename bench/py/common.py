# SPDX-License-Identifier: MIT
"""Helpers for the Python peers of the core benchmarks (bench/core.sh).

Each peer script takes --loop asyncio|uvloop and prints one number on its
first line (and optionally "# ..." detail lines after it)."""
import argparse
import asyncio
import os


def parse_args(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    return p.parse_args()


def env_int(name, default):
    try:
        v = int(os.environ.get(name, ""))
        return v if v > 0 else default
    except ValueError:
        return default


def run(main, loop_kind):
    """Runs main() on a fresh loop of the requested kind and returns its result."""
    if loop_kind == "uvloop":
        import uvloop  # ImportError -> the runner prints uvloop=na

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(main())
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def vm_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return -1
