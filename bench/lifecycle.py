"""Time each command of the lifecycle on the in-process sandbox, and count the AWS requests each makes.

    python bench/lifecycle.py [--runs N] [--no-demo] [--latencies 0,100] [--iam-delay S] [--state-backends]

Figures only: nothing here is asserted. Printed, in one run:
  1. every command at 0 ms (s3gw's own work, and its request count);
  2. up (new), up (re-run), status, plan, down with the sandbox adding each of --latencies ms to every request
     (S3GW_SANDBOX_LATENCY_MS, a stand-in for AWS's round trips), concurrent (the default --max-concurrency)
     and serial (--max-concurrency 1), and the latency cost t(highest) - t(0);
  3. `up` on a sandbox where a new role reaches Lambda only after --iam-delay seconds (at the highest latency),
     serial and concurrent;
  4. with --state-backends, what keeping the state in S3 costs against the local file.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

READS = ("Describe", "Get", "List", "Head")
MATRIX = ("up (new stack)", "up (re-run)", "status", "plan", "down")
calls: Counter[str] = Counter()
_calls_lock = threading.Lock()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-demo", action="store_true", help="skip timing `s3gw demo` in a new process")
    parser.add_argument("--latencies", default="0,100", help="ms added to every request, comma-separated")
    parser.add_argument("--iam-delay", type=float, default=3.0, help="seconds a new role is not usable (0: skip)")
    parser.add_argument("--state-backends", action="store_true", help="also compare the local and S3 state")
    parser.add_argument("--matrix-runs", type=int, default=1, help="runs of each latency x mode cell")
    arguments = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1")
    os.environ.pop("AWS_PROFILE", None)

    started = time.perf_counter()
    from s3gw import commands
    from s3gw.aws import Aws
    from s3gw.sandbox import Behaviours, Sandbox

    print(f"import s3gw + sandbox: {time.perf_counter() - started:.2f} s")
    original = Aws.client

    def counting_client(self: Aws, service: str, **options: Any) -> Any:
        made = original(self, service, **options)
        made.meta.events.register("before-call", _count)
        return made

    Aws.client = counting_client  # type: ignore[method-assign]
    with Sandbox(port=0, behaviours=Behaviours()) as sandbox:
        every_command(sandbox, commands, arguments.runs)
        print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
        # The sandbox (moto) shares this process, unlike a user's s3gw: its heap made each full collection of the
        # cyclic GC take 0.25-0.3 s here, landing at random in the timed commands below. What exists now (moto's
        # state, botocore's models) is frozen out of later collections (gc.freeze, Python docs), as if s3gw ran alone.
        gc.freeze()
        latencies = [float(ms) for ms in arguments.latencies.split(",")]
        matrix(sandbox, commands, latencies, arguments.matrix_runs)
        if arguments.iam_delay > 0:
            iam_delay(sandbox, commands, arguments.iam_delay, arguments.matrix_runs, max(latencies))
        if arguments.state_backends:
            state_backends(sandbox, commands, arguments.runs)
        sandbox.behaviours = Behaviours()

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


def _count(model: Any, **_: Any) -> None:
    with _calls_lock:
        calls.update([model.name])


def config_for(sandbox: Any, stack: str, state_dir: str, **settings: Any) -> Any:
    from s3gw.config import make_config

    return make_config(stack=stack, region="us-east-1", endpoint_url=sandbox.endpoint_url, state_dir=state_dir,
                       **settings)


def modes() -> dict[str, dict[str, Any]]:
    """concurrent (the default) and serial (--max-concurrency 1), where this s3gw has the option."""
    from s3gw.config import StackConfig

    if "max_concurrency" not in {f.name for f in dataclasses.fields(StackConfig)}:
        return {"serial": {}}
    return {"concurrent": {}, "serial": {"max_concurrency": 1}}


def timed(action: Callable[[], Any]) -> tuple[float, int, int]:
    """Seconds, requests, mutating requests."""
    calls.clear()
    began = time.perf_counter()
    action()
    seconds = time.perf_counter() - began
    mutating = sum(n for op, n in calls.items() if not op.startswith(READS))
    return seconds, sum(calls.values()), mutating


def every_command(sandbox: Any, commands: Any, runs: int) -> None:
    figures: dict[str, list[float]] = {}
    counts: dict[str, tuple[int, int]] = {}
    for run in range(runs):
        with tempfile.TemporaryDirectory() as state_dir:
            config = config_for(sandbox, f"bench{run}", state_dir)
            steps = [
                ("up (new stack)", lambda c=config: commands.up.up(c, _quiet)),
                ("up (complete stack)", lambda c=config: commands.up.up(c, _quiet)),
                ("plan", lambda c=config: commands.inspect.plan(c, _quiet)),
                ("status", lambda c=config: commands.inspect.status(c, _quiet)),
                ("test-invoke --put", lambda c=config: commands.invoke.test_invoke(c, _quiet, put_key="k")),
                ("test-invoke", lambda c=config: commands.invoke.test_invoke(c, _quiet)),
                ("verify", lambda c=config: commands.verify.verify(c, _quiet)),
                ("down", lambda c=config: commands.down.down(c, _quiet)),
            ]
            for name, action in steps:
                seconds, total, mutating = timed(action)
                figures.setdefault(name, []).append(seconds)
                counts[name] = (total, mutating)
    print(f"{'command':<22} {'median s':>9} {'min s':>7} {'AWS calls':>10} {'mutating':>9}")
    for name, times in figures.items():
        total, mutating = counts[name]
        print(f"{name:<22} {statistics.median(times):>9.3f} {min(times):>7.3f} {total:>10} {mutating:>9}")


def lifecycle(sandbox: Any, commands: Any, stack: str, settings: dict[str, Any]) -> dict[str, tuple[float, int]]:
    with tempfile.TemporaryDirectory() as state_dir:
        config = config_for(sandbox, stack, state_dir, **settings)
        actions = {"up (new stack)": lambda: commands.up.up(config, _quiet),
                   "up (re-run)": lambda: commands.up.up(config, _quiet),
                   "status": lambda: commands.inspect.status(config, _quiet),
                   "plan": lambda: commands.inspect.plan(config, _quiet),
                   "down": lambda: commands.down.down(config, _quiet, wait=120)}
        return {name: timed(action)[:2] for name, action in actions.items()}


def matrix(sandbox: Any, commands: Any, latencies: list[float], runs: int) -> None:
    from s3gw.sandbox import Behaviours

    results: dict[tuple[float, str, str], tuple[float, int]] = {}
    for latency in latencies:
        sandbox.behaviours = Behaviours(latency=latency / 1000)
        for mode, settings in modes().items():
            seconds: dict[str, list[float]] = {}
            requests: dict[str, int] = {}
            for run in range(runs):
                for name, (took, total) in lifecycle(sandbox, commands, f"m{int(latency)}{mode[0]}{run}",
                                                     settings).items():
                    seconds.setdefault(name, []).append(took)
                    requests[name] = total
            for name in MATRIX:
                results[(latency, mode, name)] = (statistics.median(seconds[name]), requests[name])
    sandbox.behaviours = Behaviours()
    print(f"\nper request latency added by the sandbox (S3GW_SANDBOX_LATENCY_MS); median of {runs} run(s)")
    print(f"{'command':<16} {'mode':<11} " + " ".join(f"{f'{int(ms)} ms s':>9}" for ms in latencies)
          + f" {'requests':>9} {'latency cost s':>15}")
    for name in MATRIX:
        for mode in modes():
            times = [results[(ms, mode, name)][0] for ms in latencies]
            requests = results[(latencies[-1], mode, name)][1]
            cost = times[-1] - times[0]
            print(f"{name:<16} {mode:<11} " + " ".join(f"{t:>9.2f}" for t in times) + f" {requests:>9} {cost:>15.2f}")


def iam_delay(sandbox: Any, commands: Any, delay: float, runs: int, latency_ms: float) -> None:
    """`up` of a new stack when a new role reaches Lambda only after `delay` s: the role made early overlaps it.
    CreateFunction's retries back off with jitter (first 1-2 s), so single runs vary by a second or two."""
    from s3gw.sandbox import Behaviours

    sandbox.behaviours = Behaviours(iam_propagation=delay, latency=latency_ms / 1000)
    print(f"\nup (new stack) with a new role usable by Lambda only after {delay:.1f} s (S3GW_SANDBOX_IAM_DELAY), "
          f"{latency_ms:.0f} ms a request, {runs} run(s)")
    for mode, settings in modes().items():
        times, total = [], 0
        for run in range(runs):
            with tempfile.TemporaryDirectory() as state_dir:
                config = config_for(sandbox, f"iam{mode[0]}{run}", state_dir, **settings)
                took, total, _ = timed(lambda c=config: commands.up.up(c, _quiet))
                times.append(took)
                commands.down.down(config, _quiet, wait=120)
        print(f"  {mode:<11} median {statistics.median(times):6.2f} s  min {min(times):6.2f} s  {total} requests")
    sandbox.behaviours = Behaviours()


def state_backends(sandbox: Any, commands: Any, runs: int) -> None:
    """What keeping the state in S3 costs, against the local file: seconds and AWS calls per command."""
    init = config_for(sandbox, "init", tempfile.gettempdir(), state_url="s3://bench-state/s3gw")
    commands.state.state_init(init, _quiet)
    seconds: dict[tuple[str, str], list[float]] = {}
    counted: dict[tuple[str, str], Counter[str]] = {}
    names = ("up (new stack)", "up (complete stack)", "status", "down")
    for run in range(runs):
        for backend in ("local", "s3"):
            with tempfile.TemporaryDirectory() as state_dir:
                config = config_for(sandbox, f"b{backend}{run}", state_dir,
                                    state_url="s3://bench-state/s3gw" if backend == "s3" else None)
                runs = (lambda c=config: commands.up.up(c, _quiet), lambda c=config: commands.up.up(c, _quiet),
                            lambda c=config: commands.inspect.status(c, _quiet),
                            lambda c=config: commands.down.down(c, _quiet, wait=60))
                for name, command in zip(names, runs, strict=True):
                    seconds.setdefault((name, backend), []).append(timed(command)[0])
                    counted[(name, backend)] = Counter(calls)
    print(f"\n{'command':22} {'local s':>8} {'S3 s':>8} {'calls':>6} {'S3 calls':>8}  extra calls with S3 state")
    for name in names:
        local, s3 = counted[(name, "local")], counted[(name, "s3")]
        extra = s3 - local
        print(f"{name:22} {statistics.median(seconds[(name, 'local')]):8.2f} "
              f"{statistics.median(seconds[(name, 's3')]):8.2f} {sum(local.values()):6} {sum(s3.values()):8}  "
              + " ".join(f"{op}×{n}" for op, n in sorted(extra.items())))


def _quiet(message: str) -> None:
    pass


if __name__ == "__main__":
    main()
