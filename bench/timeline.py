"""Every AWS request of s3gw commands, with start and end times and the thread, on the in-process sandbox.

    python bench/timeline.py [--latency-ms 100] up down        (commands: up, plan, status, down)

A warm-up stack is brought up and down first (moto's backends, botocore's models). Figures only: nothing is
asserted. Requests that overlap in time went at once; a command's latency cost is roughly its rounds x latency.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any


def rounds(events: list[tuple[float, float, str, str]]) -> int:
    """The longest chain of requests one after another (a request after one that ended before it started), as
    tests/test_rounds.py counts them."""
    depth: dict[int, int] = {}
    ordered = sorted(events)
    for index, (start, _, _, _) in enumerate(ordered):
        depth[index] = 1 + max((depth[i] for i in depth if ordered[i][1] <= start), default=0)
    return max(depth.values(), default=0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("commands", nargs="+", choices=("up", "plan", "status", "down"))
    arguments = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1")
    os.environ.pop("AWS_PROFILE", None)

    from s3gw import commands
    from s3gw.aws import Aws
    from s3gw.config import make_config
    from s3gw.sandbox import Behaviours, Sandbox

    events: list[tuple[float, float, str, str]] = []
    started: dict[int, tuple[str, float]] = {}
    lock = threading.Lock()
    original = Aws.client

    def client(self: Aws, service: str, **options: Any) -> Any:
        made = original(self, service, **options)

        def before(model: Any, **_: Any) -> None:
            started[threading.get_ident()] = (model.name, time.perf_counter())

        def after(model: Any, **_: Any) -> None:
            name, began = started.pop(threading.get_ident(), (model.name, time.perf_counter()))
            with lock:
                events.append((began, time.perf_counter(), name, threading.current_thread().name))

        made.meta.events.register("before-call", before)
        made.meta.events.register("after-call", after)
        made.meta.events.register("after-call-error", after)
        return made

    Aws.client = client  # type: ignore[method-assign]

    def show(label: str, action: Callable[[], Any]) -> None:
        events.clear()
        began = time.perf_counter()
        action()
        print(f"\n== {label}: {time.perf_counter() - began:.2f} s, {len(events)} requests, {rounds(events)} rounds")
        for start, end, name, thread in sorted(events):
            print(f"  {start - began:6.2f} {end - began:6.2f}  {name:40} {thread}")

    def quiet(message: str) -> None:
        pass

    with Sandbox(port=0, behaviours=Behaviours()) as sandbox:
        with tempfile.TemporaryDirectory() as state_dir:
            config = make_config(stack="warm", region="us-east-1", endpoint_url=sandbox.endpoint_url,
                                 state_dir=state_dir)
            commands.up.up(config, quiet)
            commands.down.down(config, quiet, wait=60)
        sandbox.behaviours = Behaviours(latency=arguments.latency_ms / 1000)
        with tempfile.TemporaryDirectory() as state_dir:
            config = make_config(stack="tl", region="us-east-1", endpoint_url=sandbox.endpoint_url,
                                 state_dir=state_dir)
            actions = {"up": lambda: commands.up.up(config, quiet),
                       "plan": lambda: commands.inspect.plan(config, quiet),
                       "status": lambda: commands.inspect.status(config, quiet),
                       "down": lambda: commands.down.down(config, quiet, wait=60)}
            for command in arguments.commands:
                show(command, actions[command])


if __name__ == "__main__":
    main()
