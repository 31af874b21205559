"""Where `s3gw demo`'s wall time goes: each phase of a demo run in a new process, median of --runs.

    python bench/demo_phases.py [--runs 5]

Figures only: nothing is asserted. Each run is `python -m s3gw.cli demo` wrapped (in that new process) so that
it records when imports end, each command and each function invocation (cold: a new execution
environment; warm: a reused one) take, and when the interpreter is done. The machine's load average is
printed with the figures: other processes on its cores stretch every phase.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict

_CHILD = r"""
import atexit, json, sys, time
started = time.monotonic()
phases = []
def note(name, seconds): phases.append((name, seconds))
atexit.register(lambda: print("PHASES " + json.dumps(phases + [("process total", time.monotonic() - started)]),
                              file=sys.stderr))
import s3gw.cli as cli
from s3gw import commands
from s3gw.sandbox import invoke, server
note("imports", time.monotonic() - started)

def timed(owner, name, label):
    original = getattr(owner, name)
    def wrapper(*args, **kwargs):
        began = time.monotonic()
        try:
            return original(*args, **kwargs)
        finally:
            note(label(args, kwargs) if callable(label) else label, time.monotonic() - began)
    setattr(owner, name, wrapper)

for owner, command in ((commands.up, "up"), (commands.invoke, "test_invoke"), (commands.inspect, "status"),
                       (commands.down, "down"), (commands.inspect, "leftovers")):
    timed(owner, command, command)
timed(server.Sandbox, "start", "sandbox start")
timed(server.Sandbox, "stop", "sandbox stop")
original_take = getattr(invoke.Runner, "_take", None)  # None: a runner without reused environments
def take(self, shape):
    environment = original_take(self, shape)
    note("invocation (warm)" if environment else "invocation (cold)", 0.0)
    return environment
if original_take is not None:
    invoke.Runner._take = take
timed(invoke.Runner, "run", "function run")
sys.argv = ["s3gw", "demo"]
cli.main()
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    arguments = parser.parse_args()
    figures: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, int] = {}
    walls = []
    for _ in range(arguments.runs):
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, env=os.environ)
        walls.append(time.perf_counter() - began)
        line = next((x for x in done.stderr.splitlines() if x.startswith("PHASES ")), None)
        if done.returncode != 0 or line is None:
            print(f"demo failed (exit {done.returncode}):\n{done.stderr[-2000:]}", file=sys.stderr)
            sys.exit(1)
        totals: dict[str, float] = defaultdict(float)
        seen: dict[str, int] = defaultdict(int)
        for name, seconds in json.loads(line.removeprefix("PHASES ")):
            totals[name] += seconds
            seen[name] += 1
        for name, seconds in totals.items():
            figures[name].append(seconds)
        counts.update(seen)
    print(f"s3gw demo, {arguments.runs} run(s) in new processes; load average {os.getloadavg()[0]:.2f}")
    print(f"{'phase':28} {'median s':>9} {'count':>6}")
    for name, values in figures.items():
        if not name.startswith("invocation"):
            print(f"{name:28} {statistics.median(values):9.3f} {counts[name]:6d}")
    cold, warm = counts.get("invocation (cold)", 0), counts.get("invocation (warm)", 0)
    print(f"{'invocations cold/warm':28} {'':9} {cold:>3}/{warm}")
    print(f"{'wall, parent-measured':28} {statistics.median(walls):9.3f}")


if __name__ == "__main__":
    main()
