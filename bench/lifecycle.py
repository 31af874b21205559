"""Time each command of the lifecycle on the in-process sandbox, and count the AWS calls each makes.

    python bench/lifecycle.py [--runs N] [--no-demo]

Figures only: nothing here is asserted. The sandbox has no network latency, so these measure s3gw's
own work and the number of calls (which, on real AWS, is what costs time).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from typing import Any

READS = ("Describe", "Get", "List", "Head")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-demo", action="store_true", help="skip timing `s3gw demo` in a new process")
    arguments = parser.parse_args()
    runs = arguments.runs
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1")
    os.environ.pop("AWS_PROFILE", None)

    started = time.perf_counter()
    from s3gw import engine
    from s3gw.aws import Aws
    from s3gw.config import make_config
    from s3gw.sandbox import Behaviours, Sandbox

    print(f"import s3gw + sandbox: {time.perf_counter() - started:.2f} s")
    calls: Counter[str] = Counter()
    original = Aws.client

    def counting_client(self: Aws, service: str, **options: Any) -> Any:
        made = original(self, service, **options)
        made.meta.events.register("before-call", lambda model, **_: calls.update([model.name]))
        return made

    Aws.client = counting_client  # type: ignore[method-assign]
    figures: dict[str, list[float]] = {}
    counts: dict[str, tuple[int, int]] = {}
    with Sandbox(port=0, behaviours=Behaviours()) as sandbox:
        for run in range(runs):
            with tempfile.TemporaryDirectory() as state_dir:
                config = make_config(stack=f"bench{run}", region="us-east-1", endpoint_url=sandbox.endpoint_url,
                                     state_dir=state_dir)
                steps = [
                    ("up (new stack)", lambda c=config: engine.up(c, _quiet)),
                    ("up (complete stack)", lambda c=config: engine.up(c, _quiet)),
                    ("plan", lambda c=config: engine.plan(c, _quiet)),
                    ("status", lambda c=config: engine.status(c, _quiet)),
                    ("test-invoke --put", lambda c=config: engine.test_invoke(c, _quiet, put_key="k")),
                    ("test-invoke", lambda c=config: engine.test_invoke(c, _quiet)),
                    ("verify", lambda c=config: engine.verify(c, _quiet)),
                    ("down", lambda c=config: engine.down(c, _quiet)),
                ]
                for name, action in steps:
                    calls.clear()
                    began = time.perf_counter()
                    action()
                    figures.setdefault(name, []).append(time.perf_counter() - began)
                    mutating = sum(n for op, n in calls.items() if not op.startswith(READS))
                    counts[name] = (sum(calls.values()), mutating)
    print(f"{'command':<22} {'median s':>9} {'min s':>7} {'AWS calls':>10} {'mutating':>9}")
    for name, times in figures.items():
        total, mutating = counts[name]
        print(f"{name:<22} {statistics.median(times):>9.3f} {min(times):>7.3f} {total:>10} {mutating:>9}")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")

    help_times = []
    for _ in range(5):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "s3gw.cli", "--help"], capture_output=True, check=True)
        help_times.append(time.perf_counter() - began)
    print(f"s3gw --help (new process): median {statistics.median(help_times):.3f} s")
    if arguments.no_demo:
        return
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "s3gw.cli", "demo"], capture_output=True, text=True)
    print(f"s3gw demo (new process): {time.perf_counter() - began:.1f} s, exit {done.returncode}")


def _quiet(message: str) -> None:
    pass


if __name__ == "__main__":
    main()
