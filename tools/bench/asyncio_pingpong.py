#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Python asyncio: two tasks ping-ponging with `await asyncio.sleep(0)`; ns per switch.

The same shape as switch.c: each sleep(0) hands the loop to the other task. Prints one
machine-readable line, "BENCH switch impl=asyncio ns_per_switch=... median=...".
"""
import argparse
import asyncio
import statistics
import time


async def pinger(n):
    for _ in range(n):
        await asyncio.sleep(0)


async def one_round(per_task):
    t0 = time.perf_counter_ns()
    await asyncio.gather(asyncio.create_task(pinger(per_task)),
                         asyncio.create_task(pinger(per_task)))
    return time.perf_counter_ns() - t0


async def main(args):
    per_task = args.switches // 2
    for _ in range(args.warmup):
        await one_round(per_task)
    ns = [await one_round(per_task) / (2 * per_task) for _ in range(args.rounds)]
    print(f"BENCH switch impl=asyncio ns_per_switch={min(ns):.3f} "
          f"median={statistics.median(ns):.3f} rounds={args.rounds} "
          f"switches={2 * per_task}", flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--switches", type=int, default=100000, help="switches per round")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds")
    p.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    a = p.parse_args()
    if a.switches < 2 or a.rounds < 1:
        p.error("need at least 2 switches and 1 round")
    asyncio.run(main(a))
