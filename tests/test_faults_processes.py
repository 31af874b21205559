"""Real `s3gw` processes against moto's server: SIGKILL at random moments, and two runs at once on one stack."""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from conftest import S3GW_ENV, run_s3gw, s3gw_command
from fault_helpers import EMPTY, ONE_STACK, REGION, count_resources

from s3gw.state import SCHEMA_VERSION


def s3gw(*args: str, url: str, state_dir: Path, stack: str) -> subprocess.CompletedProcess[str]:
    return run_s3gw(*args, url=url, state_dir=state_dir, stack=stack)


def start(*args: str, url: str, state_dir: Path, stack: str) -> subprocess.Popen[str]:
    return subprocess.Popen(s3gw_command(*args, url=url, state_dir=state_dir, stack=stack), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=S3GW_ENV, stdin=subprocess.DEVNULL)


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=30)


def tagged(url: str, stack: str) -> dict[str, int]:
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=url)
    tag = [{"Name": "tag:s3gw:stack", "Values": [stack]}]
    return {"vpcs": len(ec2.describe_vpcs(Filters=tag)["Vpcs"]),
            "subnets": len(ec2.describe_subnets(Filters=tag)["Subnets"]),
            "security_groups": len(ec2.describe_security_groups(Filters=tag)["SecurityGroups"]),
            "route_tables": len(ec2.describe_route_tables(Filters=tag)["RouteTables"])}


def wait_for_lock(path: Path, pid: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if json.loads(path.read_text()).get("pid") == pid:
                return
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"pid {pid} never took {path} (exit {process.poll()})")


def test_up_killed_at_random_moments_then_up_finishes_and_down_cleans(moto_url: str, tmp_path: Path) -> None:
    assert count_resources(moto_url) == EMPTY
    durations = []
    for warm_up in range(2):  # how long one `up` takes here (the first on a fresh server is slower)
        began = time.monotonic()
        assert s3gw("up", url=moto_url, state_dir=tmp_path, stack=f"timing{warm_up}").returncode == 0
        durations.append(time.monotonic() - began)
        assert s3gw("down", "--yes", url=moto_url, state_dir=tmp_path, stack=f"timing{warm_up}").returncode == 0
    full = min(durations)

    seed = random.randrange(1_000_000)
    chooser = random.Random(seed)
    for round_ in range(4):
        stack = f"kill{round_}"
        delay = chooser.uniform(0.15, 0.8) * full
        for _ in range(3):  # should `up` finish before the kill, try again sooner: the kill must land inside it
            process = start("up", url=moto_url, state_dir=tmp_path, stack=stack)
            try:
                time.sleep(delay)  # the random moment (not an assertion)
                process.send_signal(signal.SIGKILL)
            finally:
                stop(process)
            if process.returncode == -signal.SIGKILL:
                break
            assert s3gw("down", "--yes", url=moto_url, state_dir=tmp_path, stack=stack).returncode == 0
            delay /= 2
        assert process.returncode == -signal.SIGKILL, f"seed {seed}: up finished before the kill at {delay:.2f}s"
        state = tmp_path / f"{stack}.json"
        if state.exists():
            assert json.loads(state.read_text())["schema"] == SCHEMA_VERSION, f"seed {seed}: state corrupt"

        again = s3gw("up", url=moto_url, state_dir=tmp_path, stack=stack)  # also takes over the dead lock
        assert again.returncode == 0, f"seed {seed}, killed at {delay:.2f}s: {again.stderr}"
        assert count_resources(moto_url) == ONE_STACK, f"seed {seed}, killed at {delay:.2f}s"
        assert tagged(moto_url, stack) == {"vpcs": 1, "subnets": 3, "security_groups": 1, "route_tables": 3}
        assert s3gw("status", url=moto_url, state_dir=tmp_path, stack=stack).returncode == 0
        down = s3gw("down", "--yes", url=moto_url, state_dir=tmp_path, stack=stack)
        assert down.returncode == 0, down.stderr
        assert count_resources(moto_url) == EMPTY
        assert not state.exists() and not (tmp_path / f"{stack}.lock").exists()


@pytest.fixture
def black_hole() -> Iterator[str]:
    """An endpoint that accepts connections and never answers: a run against it holds its lock for long."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def test_a_second_run_is_refused_and_a_killed_holders_lock_is_taken_over(moto_url: str, black_hole: str,
                                                                         tmp_path: Path) -> None:
    lock = tmp_path / "twice.lock"
    first = start("up", url=black_hole, state_dir=tmp_path, stack="twice")
    try:
        wait_for_lock(lock, first.pid, first)
        began = time.monotonic()
        second = s3gw("up", url=moto_url, state_dir=tmp_path, stack="twice")
        refused_after = time.monotonic() - began
        assert second.returncode == 4, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and f"locked by 'up' (pid {first.pid} on {socket.gethostname()}" in lines[0]
        assert refused_after < 20  # at once: it does not wait for the holder (which waits for 70 s)
        assert first.poll() is None, "the first run must still hold the lock"

        first.send_signal(signal.SIGKILL)
    finally:
        stop(first)
    assert json.loads(lock.read_text())["pid"] == first.pid  # the dead run's lock is still there

    third = s3gw("up", url=moto_url, state_dir=tmp_path, stack="twice")
    assert third.returncode == 0, third.stderr
    assert not lock.exists()
    assert tagged(moto_url, "twice")["vpcs"] == 1
    assert s3gw("down", "--yes", url=moto_url, state_dir=tmp_path, stack="twice").returncode == 0
    assert count_resources(moto_url) == EMPTY
