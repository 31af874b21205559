"""Real `s3gw` processes on the sandbox and the stack's lock: SIGTERM mid-run; (below) the state in S3."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from conftest import REGION, S3GW_ENV, run_s3gw, s3gw_command


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    from s3gw.sandbox import Behaviours, Sandbox

    sandbox = Sandbox(port=0, behaviours=Behaviours()).start()
    try:
        yield sandbox.endpoint_url
    finally:
        sandbox.stop()


def start(*args: str, url: str, state_dir: Path, stack: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(s3gw_command(*args, url=url, state_dir=state_dir, stack=stack), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=S3GW_ENV, stdin=subprocess.DEVNULL, cwd=cwd)


def wait_until(condition: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"never saw {what} (exit {process.poll()})")


def recorded(path: Path) -> dict[str, object]:
    try:
        return dict(json.loads(path.read_text())["resources"])
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def stack_counts(url: str, stack: str) -> dict[str, int]:
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=url)
    tag = [{"Name": "tag:s3gw:stack", "Values": [stack]}]
    functions = boto3.client("lambda", region_name=REGION, endpoint_url=url).list_functions()["Functions"]
    return {"vpcs": len(ec2.describe_vpcs(Filters=tag)["Vpcs"]),
            "subnets": len(ec2.describe_subnets(Filters=tag)["Subnets"]),
            "route_tables": len(ec2.describe_route_tables(Filters=tag)["RouteTables"]),
            "endpoints": sum(e["State"].lower() != "deleted"  # moto lists deleted endpoints for a while
                             for e in ec2.describe_vpc_endpoints(Filters=tag)["VpcEndpoints"]),
            "security_groups": len(ec2.describe_security_groups(Filters=tag)["SecurityGroups"]),
            "functions": sum(f["FunctionName"] == f"{stack}-lister" for f in functions)}


WHOLE = {"vpcs": 1, "subnets": 3, "route_tables": 3, "endpoints": 1, "security_groups": 1, "functions": 1}
NONE = dict.fromkeys(WHOLE, 0)


def test_sigterm_during_up_says_so_once_frees_the_lock_and_the_next_up_converges(sandbox_url: str,
                                                                                  tmp_path: Path) -> None:
    state = tmp_path / "term.json"
    run = start("up", url=sandbox_url, state_dir=tmp_path, stack="term")
    try:
        wait_until(lambda: "subnet_ids" in recorded(state), run, "the subnets recorded")
        run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 143, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "terminated (SIGTERM)" in errors[0], stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "term.lock").exists()  # freed and removed on the way out
    assert "vpc_id" in recorded(state)  # the state is whole and keeps what was made

    again = run_s3gw("up", url=sandbox_url, state_dir=tmp_path, stack="term")
    assert again.returncode == 0, again.stderr
    assert stack_counts(sandbox_url, "term") == WHOLE  # nothing made twice
    down = run_s3gw("down", "--yes", url=sandbox_url, state_dir=tmp_path, stack="term")
    assert down.returncode == 0, down.stderr
    assert stack_counts(sandbox_url, "term") == NONE
