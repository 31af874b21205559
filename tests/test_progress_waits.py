"""Issue 26 item 11: every long wait shows its progress as Terraform does (`still creating… [10s elapsed]`), not only
the wait for Lambda's ENIs. The sandbox makes each wait real (IAM propagation, a Pending function, a pending
endpoint, an update in progress, lingering ENIs); S3GW_PROGRESS_INTERVAL=0 makes every poll say where it is, so
the lines appear without waiting 30 s (no timing is asserted: only that each wait speaks)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner, Result

from s3gw.cli import cli
from s3gw.sandbox import Behaviours, Sandbox
from s3gw.waits import LOG_EVERY, TERMINAL_EVERY, Wait, every

REGION = "eu-west-1"
STILL = r"still {doing}… \[\d+s elapsed{bound}\]: {detail}"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


def s3gw(sandbox: Sandbox, state_dir: Path, *args: str, interval: str = "0") -> Result:
    return CliRunner().invoke(cli, [*args, "--stack", "pw", "--endpoint-url", sandbox.endpoint_url, "--region",
                                    REGION, "--state-dir", str(state_dir)],
                              env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "CI": "true",
                                   "S3GW_PROGRESS_INTERVAL": interval})


def said(pattern: str, stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if re.fullmatch(pattern, line)]


def test_every_wait_of_up_and_down_says_still_with_the_elapsed_time(sandbox: Sandbox, tmp_path: Path) -> None:
    # Long enough for at least two polls of each wait, with room for a loaded machine (the function's state is read
    # every 1 s, the endpoint's every 2 s, a refused create retried after 0.5-2 s): the first poll says
    # "waiting: …", the next "still … elapsed".
    sandbox.behaviours = Behaviours(iam_propagation=5.0, pending=3.0, endpoint_pending=4.0)
    try:
        up = s3gw(sandbox, tmp_path, "up", "--azs", "1")
        assert up.exit_code == 0, up.stderr
        lines = up.stderr
        iam = r"waiting for the new IAM role to reach Lambda \(InvalidParameterValueException\)"
        assert said(STILL.format(doing="creating the Lambda function", bound="", detail=iam), lines), lines
        assert said(STILL.format(doing="waiting for function pw-lister to be Active", bound="",
                                 detail="State Pending"),
                    lines), lines
        assert said(STILL.format(doing=r"creating S3 gateway endpoint vpce-\w+", bound="", detail="State pending"),
                    lines), lines

        # An update (the configuration drifted): Lambda answers LastUpdateStatus InProgress while it applies it.
        aws = boto3.client("lambda", region_name=REGION, endpoint_url=sandbox.endpoint_url,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        sandbox.behaviours = Behaviours()
        aws.update_function_configuration(FunctionName="pw-lister", Timeout=9)
        sandbox.behaviours = Behaviours(pending=3.0)  # s3gw's own update of it is in progress this long
        repair = s3gw(sandbox, tmp_path, "up")
        assert repair.exit_code == 0, repair.stderr
        assert said(STILL.format(doing="waiting for the update of function pw-lister to finish", bound="",
                                 detail="LastUpdateStatus InProgress"), repair.stderr), repair.stderr

        sandbox.behaviours = Behaviours(eni_linger=3.0)
        down = s3gw(sandbox, tmp_path, "down", "--yes")
        assert down.exit_code == 0, down.stderr
        assert said(STILL.format(doing="waiting for Lambda's network interfaces to go", bound=", up to 45m00s",
                                 detail=r"1 Lambda ENI in use .*"), down.stderr), down.stderr
    finally:
        sandbox.behaviours = Behaviours()


def test_a_dependency_violation_retry_says_still_deleting() -> None:
    """down's DependencyViolation retries (security group, subnets, VPC) go through the same helper."""
    from s3gw.steps.base import delete_retrying

    lines: list[str] = []
    refusals = iter(range(3))

    def delete() -> None:
        if next(refusals, None) is not None:
            raise ClientError({"Error": {"Code": "DependencyViolation", "Message": "has a dependent object"}},
                              "DeleteSecurityGroup")

    ctx = _context(lines)
    delete_retrying(ctx, "deleting security group sg-1", delete, gone=("InvalidGroup.NotFound",),
                    waiting_for="Lambda's network interfaces to release sg-1")
    assert lines[0].startswith("waiting: Lambda's network interfaces to release sg-1 (DependencyViolation)")
    detail = r"waiting for Lambda's network interfaces to release sg-1 \(DependencyViolation\)"
    still = said(STILL.format(doing="deleting security group sg-1", bound="", detail=detail), "\n".join(lines))
    assert len(still) == 2, lines  # a refusal after the first: each said at interval 0


def test_a_line_every_interval_or_a_live_line() -> None:
    clock = [0.0]
    lines: list[str] = []
    wait = Wait(lines.append, "creating X", interval=30.0, clock=lambda: clock[0])
    for now in (5.0, 29.0, 31.0, 40.0, 62.0):
        clock[0] = now
        wait.tick("pending")
    assert lines == ["still creating X… [31s elapsed]: pending", "still creating X… [1m02s elapsed]: pending"]
    shown: list[str | None] = []
    live = Wait(lines.append, "creating X", interval=30.0, live=shown.append, clock=lambda: clock[0])
    live.tick("pending")
    live.end()
    assert shown == ["still creating X… [0s elapsed]: pending", None] and len(lines) == 2  # live: no lines


def test_the_interval_comes_from_the_environment_or_the_terminal() -> None:
    from s3gw.errors import UsageError

    assert every({}, terminal=True) == TERMINAL_EVERY and every({}, terminal=False) == LOG_EVERY
    assert every({"S3GW_PROGRESS_INTERVAL": "0.5"}, terminal=True) == 0.5
    for bad in ("abc", "-1", "nan", "inf"):
        with pytest.raises(UsageError, match="S3GW_PROGRESS_INTERVAL"):
            every({"S3GW_PROGRESS_INTERVAL": bad})


def test_a_bad_interval_is_one_line_and_exit_2(sandbox: Sandbox, tmp_path: Path) -> None:
    result = s3gw(sandbox, tmp_path, "up", interval="soon")
    assert result.exit_code == 2 and "S3GW_PROGRESS_INTERVAL" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "pw.json").exists()


def _context(lines: list[str]) -> object:
    from s3gw.config import make_config
    from s3gw.state import State
    from s3gw.steps.base import Context

    state = State(store=None, stack="pw", region=REGION)  # type: ignore[arg-type]  # nothing is saved
    return Context(config=make_config(stack="pw", region=REGION), aws=None, state=state,  # type: ignore[arg-type]
                   progress=lines.append, sleep=lambda _: None, progress_every=0.0)
