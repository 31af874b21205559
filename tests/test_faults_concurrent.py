"""`up` runs independent steps at once: a real `s3gw up` process killed (SIGKILL) while several lanes are under way
leaves nothing that a re-run of `up` duplicates or `down` leaves behind, counted by listing the emulator."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import S3GW_ENV, run_s3gw, s3gw_command
from fault_helpers import EMPTY, count_resources

# Each request waits this long in the sandbox (S3GW_SANDBOX_LATENCY_MS), so that `up` is slow enough to be caught
# with the network, bucket and role lanes all under way.
LATENCY_MS = "150"
LANES = {"network": "vpc_id", "bucket": "bucket", "role": "role_name"}


@pytest.fixture(scope="module")
def slow_sandbox() -> Iterator[str]:
    env = {**os.environ, "S3GW_SANDBOX_LATENCY_MS": LATENCY_MS}
    process = subprocess.Popen([sys.executable, "-m", "s3gw.sandbox", "--port", "0"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, env=env)
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            assert selector.select(60), "the sandbox printed no address within 60 s"
        line = process.stdout.readline()
        assert line.startswith("AWS_ENDPOINT_URL="), line
        yield line.strip().split("=", 1)[1]
    finally:
        process.terminate()
        process.wait(timeout=30)


def recorded(state: Path) -> dict[str, object]:
    try:
        return dict(json.loads(state.read_text()).get("resources") or {})
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def test_up_killed_with_every_lane_under_way_then_up_and_down_leave_one_stack_then_nothing(
        slow_sandbox: str, tmp_path: Path) -> None:
    url, stack = slow_sandbox, "lanes"
    assert count_resources(url) == EMPTY
    state = tmp_path / f"{stack}.json"
    command = [*s3gw_command("up", url=url, state_dir=tmp_path, stack=stack), "--max-concurrency", "8"]
    process = subprocess.Popen(command,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=S3GW_ENV,
                               stdin=subprocess.DEVNULL)
    seen: dict[str, object] = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        seen = recorded(state)
        if all(seen.get(key) for key in LANES.values()):  # every lane has made something: kill it there
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL, (process.returncode, seen)
    assert not seen.get("function_name"), f"up got to the function before every lane had begun: {seen}"

    again = run_s3gw("up", url=url, state_dir=tmp_path, stack=stack)
    assert again.returncode == 0, again.stderr[-2000:]
    made = count_resources(url)
    one_stack = {"vpcs": 1, "subnets": 3, "route_tables": 4, "endpoints": 1, "security_groups": 2, "roles": 1,
                 "functions": 1, "buckets": 1}  # Lambda's ENIs (the sandbox makes them) are not counted here
    assert {kind: made[kind] for kind in one_stack} == one_stack, (made, seen)

    down = run_s3gw("down", "--yes", url=url, state_dir=tmp_path, stack=stack)
    assert down.returncode == 0, down.stderr[-2000:]
    assert count_resources(url) == EMPTY
    assert not state.exists()


def test_a_call_in_a_worker_thread_that_gets_no_answer_ends_the_run_within_the_bound(
        mocked: None, state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGALRM reaches only the main thread: a step running in another one is watched by the main thread, which
    gives up on the run (one line, what was made recorded) once the worker's call is older than the bound."""
    import threading

    from conftest import make_test_config
    from fault_helpers import on_every_client

    from s3gw import commands
    from s3gw.errors import NoAnswer

    released = threading.Event()

    def hang(event_name: str, **_: Any) -> None:
        if event_name.endswith(".CreateRole"):  # sent after the call's bound is armed (a before-call handler)
            assert threading.current_thread() is not threading.main_thread()
            released.wait(60)  # an endpoint that never answers, for this call only
            raise RuntimeError("released by the test: never sent")

    import boto3

    for service, warm in (("ec2", "describe_availability_zones"), ("iam", "list_roles"), ("s3", "list_buckets"),
                          ("lambda", "list_functions"), ("sts", "get_caller_identity")):
        getattr(boto3.client(service, region_name="eu-west-1"), warm)()  # moto's first call of a service is slow
    monkeypatch.setenv("S3GW_CALL_TIMEOUT", "3")
    on_every_client(monkeypatch, lambda client, service: client.meta.events.register_first("before-send", hang))
    began = time.monotonic()
    try:
        with pytest.raises(NoAnswer) as stopped:
            commands.up.up(make_test_config(state_dir, max_concurrency=4), lambda message: None)
    finally:
        released.set()
    took = time.monotonic() - began
    assert "no answer to CreateRole" in stopped.value.error.line(), stopped.value.error.line()
    assert took < 30, took  # the bound (3 s) and the calls already under way, not the 60 s hang
    assert "vpc_id" in json.loads((state_dir / "t.json").read_text())["resources"]  # the other lanes' ids kept
