#!/usr/bin/env python3
"""Threads' CPU time from /proc, against what `taskscope top --json` said of their tasks.

  thread-cpu.py sample PID TID...   prints "# TID...", then "MONOTONIC_NS CPU_NS..." (schedstat's
                                    first field, one per TID) every few ms until killed
  thread-cpu.py check FRAMES LOG TID TASK... [--tol PTS] [--split] [--idle REGEX]
      for every frame after the first, over the interval since the frame before it: the CPU%
      of the TASKs (summed) and top's own CPU% of thread TID lie within TOL points (5) of the
      thread's CPU% measured in LOG. The log's readings bracket the frames' refreshes: the
      thread's CPU over the interval lies between what the readings inside it and the readings
      around it saw, and that whole range, widened by TOL, is accepted. With --split, each
      TASK holds at least a quarter of the sum (when the sum is above 10%). With --idle, every
      task whose name matches holds under 2%.
"""
import json
import re
import sys
import time


def sample(pid, tids):
    paths = [f"/proc/{pid}/task/{t}/schedstat" for t in tids]
    print("#", *tids, flush=True)
    while True:
        t0 = time.monotonic_ns()
        vals = []
        for p in paths:
            with open(p) as f:
                vals.append(f.read().split()[0])
        t1 = time.monotonic_ns()
        print((t0 + t1) // 2, *vals, flush=True)
        time.sleep(0.004)


def thread_range(log, col, a, b):
    """(lo, hi) CPU% of a thread over [a, b] from the readings, or None when they do not
    bracket it."""
    before = [r for r in log if r[0] <= a]
    after = [r for r in log if r[0] >= b]
    inside = [r for r in log if a <= r[0] <= b]
    if not before or not after:
        return None
    d = (b - a) / 100.0
    hi = (after[0][col] - before[-1][col]) / d
    lo = (inside[-1][col] - inside[0][col]) / d if len(inside) >= 2 else 0.0
    return lo, min(hi, 100.0)


def check(frames_path, log_path, tid, names, tol, split, idle):
    with open(frames_path) as f:
        frames = [json.loads(l) for l in f if l.strip()]
    with open(log_path) as f:
        head = f.readline().split()
        log = [[int(x) for x in l.split()] for l in f if l.strip()]
    if str(tid) not in head[1:]:
        sys.exit(f"no thread {tid} in the /proc log")
    col = head.index(str(tid))
    if len(frames) < 3:
        sys.exit(f"only {len(frames)} frames")
    bad = []
    for prev, cur in zip(frames, frames[1:]):
        r = thread_range(log, col, prev["taken_ns"], cur["taken_ns"])
        if r is None:
            sys.exit(f"the /proc log does not cover frame {cur['frame']}")
        lo, hi = r
        tasks = {t["name"]: t for t in cur["tasks"]}
        missing = [n for n in names if n not in tasks]
        if missing:
            sys.exit(f"frame {cur['frame']}: no task {missing}")
        got = sum(tasks[n]["cpu_pct"] for n in names)
        th = [t for t in cur["threads"] if t["tid"] == tid]
        if not th:
            sys.exit(f"frame {cur['frame']}: no thread {tid}")
        line = (f"frame {cur['frame']}: {'+'.join(names)} {got:.1f}%, top's thread "
                f"{th[0]['cpu_pct']:.1f}%, /proc's thread {lo:.1f}..{hi:.1f}%")
        print(line)
        if not lo - tol <= got <= hi + tol:
            bad.append(line + ": the tasks are off")
        if not lo - tol <= th[0]["cpu_pct"] <= hi + tol:
            bad.append(line + ": top's thread is off")
        if split and got > 10:
            for n in names:
                if tasks[n]["cpu_pct"] < got / 4:
                    bad.append(line + f": {n} at {tasks[n]['cpu_pct']}%")
        if idle:
            busy = [(t["name"], t["cpu_pct"]) for t in cur["tasks"]
                    if re.search(idle, t["name"]) and t["cpu_pct"] >= 2]
            if busy:
                bad.append(f"frame {cur['frame']}: busy idle tasks {busy}")
    if bad:
        sys.exit("\n".join(bad))


def main(argv):
    if len(argv) >= 3 and argv[0] == "sample":
        sample(argv[1], argv[2:])
    elif len(argv) >= 4 and argv[0] == "check":
        args, tol, split, idle = [], 5.0, False, None
        it = iter(argv[1:])
        for a in it:
            if a == "--tol":
                tol = float(next(it))
            elif a == "--split":
                split = True
            elif a == "--idle":
                idle = next(it)
            else:
                args.append(a)
        check(args[0], args[1], int(args[2]), args[3:], tol, split, idle)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
