"""Real `s3gw` processes on the sandbox and the stack's lock: SIGTERM mid-run; (below) the state in S3."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from conftest import REGION, S3GW_ENV, run_s3gw, s3gw_command


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


# The state in S3: two working directories, one --state s3://…, as two machines of a team would.
STATE = "s3://proc-state/team"


@pytest.fixture(scope="module")
def state_bucket(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> object:
    made = run_s3gw("state", "init", STATE, url=sandbox_url, state_dir=tmp_path_factory.mktemp("init"), stack="x")
    assert made.returncode == 0, made.stderr
    return boto3.client("s3", region_name=REGION, endpoint_url=sandbox_url)


def shared(*args: str, url: str, home: Path, stack: str) -> list[str]:
    """`s3gw ARGS` run from the directory `home`, with its own (unused) .s3gw and the state in S3."""
    return [*s3gw_command(*args, url=url, state_dir=home / ".s3gw", stack=stack), "--state", STATE]


def in_dir(home: Path, *args: str, url: str, stack: str) -> subprocess.CompletedProcess[str]:
    home.mkdir(exist_ok=True)
    return subprocess.run(shared(*args, url=url, home=home, stack=stack), capture_output=True, text=True,
                          env=S3GW_ENV, timeout=300, stdin=subprocess.DEVNULL, cwd=home)


def start_in(home: Path, *args: str, url: str, stack: str) -> subprocess.Popen[str]:
    home.mkdir(exist_ok=True)
    return subprocess.Popen(shared(*args, url=url, home=home, stack=stack), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=S3GW_ENV, stdin=subprocess.DEVNULL, cwd=home)


def s3_object(s3: object, key: str) -> dict[str, object] | None:
    try:
        answer = s3.get_object(Bucket="proc-state", Key=key)  # type: ignore[attr-defined]
    except Exception:
        return None
    return {"etag": answer["ETag"], "body": json.loads(answer["Body"].read() or b"{}")}


def s3_recorded(s3: object, stack: str) -> dict[str, object]:
    found = s3_object(s3, f"team/{stack}.json")
    return dict(found["body"]["resources"]) if found else {}  # type: ignore[index]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_two_directories_share_a_stack_through_s3_state(sandbox_url: str, state_bucket: object,
                                                        tmp_path: Path) -> None:
    first_home, second_home = tmp_path / "laptop", tmp_path / "ci"
    first = start_in(first_home, "up", url=sandbox_url, stack="team")
    try:
        wait_until(lambda: s3_object(state_bucket, "team/team.lock") is not None, first, "the S3 lock")
        first.send_signal(signal.SIGSTOP)  # hold it there, lock taken, while the second tries
        refused = in_dir(second_home, "up", url=sandbox_url, stack="team")
        first.send_signal(signal.SIGCONT)
        assert refused.returncode == 4, refused.stderr
        assert len(error_lines(refused.stderr)) == 1
        assert f"locked by 'up' (pid {first.pid} on " in refused.stderr and "wait for it to finish" in refused.stderr
        _, stderr = first.communicate(timeout=240)
        assert first.returncode == 0, stderr
    finally:
        if first.poll() is None:
            first.send_signal(signal.SIGCONT)
            first.kill()
            first.communicate()
    assert not (first_home / ".s3gw" / "team.json").exists()  # nothing kept locally
    status = in_dir(second_home, "status", "--output", "json", url=sandbox_url, stack="team")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert [s["action"] for s in report["steps"]] == ["ok"] * len(report["steps"]) and len(report["steps"]) >= 7
    assert report["outputs"]["vpc_id"] == s3_recorded(state_bucket, "team")["vpc_id"]

    down = in_dir(second_home, "down", "--yes", url=sandbox_url, stack="team")
    assert down.returncode == 0, down.stderr
    assert stack_counts(sandbox_url, "team") == NONE
    assert s3_object(state_bucket, "team/team.json") is None and s3_object(state_bucket, "team/team.lock") is None


def test_a_run_whose_s3_lock_was_force_removed_is_stopped_at_its_next_state_write(
        sandbox_url: str, state_bucket: object, tmp_path: Path) -> None:
    lost = start_in(tmp_path / "a", "up", url=sandbox_url, stack="cas")
    try:
        wait_until(lambda: "vpc_id" in s3_recorded(state_bucket, "cas"), lost, "the VPC recorded in S3")
        lost.send_signal(signal.SIGSTOP)
        removed = in_dir(tmp_path / "b", "unlock", "--force", url=sandbox_url, stack="cas")
        assert removed.returncode == 0 and f"was locked by 'up' (pid {lost.pid}" in removed.stderr, removed.stderr
        taker = in_dir(tmp_path / "b", "up", url=sandbox_url, stack="cas")
        assert taker.returncode == 0, taker.stderr
        written = s3_object(state_bucket, "team/cas.json")
        lost.send_signal(signal.SIGCONT)
        _, stderr = lost.communicate(timeout=240)
    finally:
        if lost.poll() is None:
            lost.send_signal(signal.SIGCONT)
            lost.kill()
            lost.communicate()
    assert lost.returncode == 4, stderr
    assert len(error_lines(stderr)) == 1 and "changed since this run read it" in stderr, stderr
    assert s3_object(state_bucket, "team/cas.json") == written  # the taker's state, untouched
    assert s3_object(state_bucket, "team/cas.lock") is None  # the lost run removed no lock but its own
    assert in_dir(tmp_path / "b", "down", "--yes", url=sandbox_url, stack="cas").returncode in (0, 1)


def test_up_sigkilled_with_s3_state_then_up_from_another_directory_loses_nothing(
        sandbox_url: str, state_bucket: object, tmp_path: Path) -> None:
    killed = start_in(tmp_path / "a", "up", url=sandbox_url, stack="crash")
    try:
        wait_until(lambda: "subnet_ids" in s3_recorded(state_bucket, "crash"), killed, "the subnets recorded in S3")
        killed.send_signal(signal.SIGKILL)
    finally:
        killed.kill()
        killed.communicate()
    kept = s3_recorded(state_bucket, "crash")
    refused = in_dir(tmp_path / "b", "up", url=sandbox_url, stack="crash")  # the dead run's S3 lock stays
    assert refused.returncode == 4 and f"(pid {killed.pid} on " in refused.stderr, refused.stderr
    assert "that process is gone from this host" in refused.stderr and "s3gw unlock --force" in refused.stderr
    assert in_dir(tmp_path / "b", "unlock", "--force", url=sandbox_url, stack="crash").returncode == 0

    again = in_dir(tmp_path / "b", "up", url=sandbox_url, stack="crash")
    assert again.returncode == 0, again.stderr
    assert stack_counts(sandbox_url, "crash") == WHOLE  # nothing made twice
    now = s3_recorded(state_bucket, "crash")
    for key, value in kept.items():  # nothing lost: what the killed run recorded is still there, in use
        assert set(value) <= set(now[key]) if isinstance(value, list) else now[key] == value, (key, kept, now)
    down = in_dir(tmp_path / "b", "down", "--yes", url=sandbox_url, stack="crash")
    assert down.returncode == 0, down.stderr
    assert stack_counts(sandbox_url, "crash") == NONE
