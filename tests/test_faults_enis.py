"""Lambda's ENIs linger after DeleteFunction and block the security group and subnets (DependencyViolation).

moto makes no Lambda ENIs and raises no DependencyViolation: the tests create the ENIs (in-use, described as
Lambda describes them) and a `before-call` hook refuses DeleteSecurityGroup/DeleteSubnet while any ENI in
moto still uses the group or subnet. "AWS" releases the ENIs as the polls go by.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fault_helpers import EMPTY, ONE_STACK, REGION, client_error, count_resources, on_every_client

from s3gw.cli import cli
from s3gw.run import open_context

ACCOUNT = "123456789012"
STACK = "eni"


def backend() -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[ACCOUNT][REGION]


def run(state_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--stack", STACK, "--region", REGION, "--state-dir", str(state_dir)])


def lambda_enis_in(state_dir: Path) -> list[str]:
    """What Lambda leaves behind: one in-use ENI per subnet, in the function's security group."""
    import boto3

    outputs = json.loads(run(state_dir, "outputs", "--output", "json").stdout)
    ec2 = boto3.client("ec2", region_name=REGION)
    ids = []
    for subnet in outputs["subnet_ids"]:
        eni = ec2.create_network_interface(SubnetId=subnet, Groups=[outputs["security_group_id"]],
                                           Description=f"AWS Lambda VPC ENI-{STACK}-lister")  # as AWS names it
        ids.append(eni["NetworkInterface"]["NetworkInterfaceId"])
        backend().enis[ids[-1]].status = "in-use"
    return ids


class Aws:
    """Plays AWS around the ENIs: blocks deletes they hold, releases them poll by poll, logs the calls."""

    def __init__(self, enis: list[str], release: dict[int, tuple[str, list[str]]] | None) -> None:
        self.enis = enis
        self.release = release  # poll number -> ("available" | "gone", ENI ids); None: never
        self.polls = 0
        self.log: list[str] = []
        self.blocked: list[str] = []
        self.role_gone_while_enis: bool = False

    def before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.log.append(model.name)
        live = [backend().enis[e] for e in self.enis if e in backend().enis]
        if model.name == "DescribeNetworkInterfaces":
            self.polls += 1
            action, ids = (self.release or {}).get(self.polls, ("", []))
            for eni in [e for e in live if e.id in ids]:
                if action == "available":
                    eni.status = "available"
                else:
                    backend().delete_network_interface(eni.id)
        elif model.name == "DeleteRole" and live:
            self.role_gone_while_enis = True
        elif model.name == "DeleteSecurityGroup" and any(
                params["GroupId"] in [g.id for g in e.group_set] for e in live):
            self.blocked.append(model.name)
            raise client_error("DependencyViolation", f"resource {params['GroupId']} has a dependent object",
                               model.name)
        elif model.name == "DeleteSubnet" and any(e.subnet.id == params["SubnetId"] for e in live):
            self.blocked.append(model.name)
            raise client_error("DependencyViolation", f"The subnet '{params['SubnetId']}' has dependencies",
                               model.name)


@pytest.fixture
def stack(mocked: None, tmp_path: Path) -> Path:
    assert run(tmp_path, "up").exit_code == 0
    assert count_resources() == ONE_STACK
    return tmp_path


def play(monkeypatch: pytest.MonkeyPatch, aws: Aws, sleep: Any) -> list[float]:
    slept: list[float] = []
    opened = open_context

    def context(*args: Any, **kwargs: Any) -> Any:
        ctx = opened(*args, **kwargs)
        ctx.sleep = lambda seconds: (slept.append(seconds), sleep(seconds))
        return ctx

    monkeypatch.setattr("s3gw.run.open_context", context)
    on_every_client(monkeypatch, lambda client, service: client.meta.events.register("before-call", aws.before))
    return slept


def test_down_waits_out_lingering_enis_deletes_available_ones_and_keeps_the_role(
        stack: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    enis = lambda_enis_in(stack)
    # poll 2: the first ENI turns available (s3gw deletes it); poll 4: AWS removes the other two
    aws = Aws(enis, release={2: ("available", enis[:1]), 4: ("gone", enis[1:])})
    slept = play(monkeypatch, aws, sleep=lambda seconds: aws.log.append("sleep"))

    down = run(stack, "down", "--yes")
    assert down.exit_code == 0, down.output
    assert "waiting 0s (up to 45m00s): 3 Lambda ENIs in use (eni-" in down.stderr
    assert aws.log.count("DeleteNetworkInterface") == 1  # the available one, by s3gw; in-use ones never
    assert not aws.role_gone_while_enis
    assert aws.blocked == []  # the SG and subnets were not tried while the ENIs held them
    # ...and deleted as soon as the ENIs were gone: after the poll that found none, with no wait between (the group,
    # the subnets and the role are deleted at once, so their calls may interleave with each other's)
    last_poll = len(aws.log) - 1 - aws.log[::-1].index("DescribeNetworkInterfaces")
    after = aws.log[last_poll + 1:]
    assert "sleep" not in after
    assert sorted(c for c in after if c in ("DeleteSecurityGroup", "DeleteSubnet")) == \
        ["DeleteSecurityGroup"] + ["DeleteSubnet"] * 3
    assert aws.log.index("DeleteRole") > last_poll
    assert aws.polls == 4 and len(slept) == 3  # the 4th poll found none
    assert count_resources() == EMPTY
    assert not (stack / f"{STACK}.json").exists()


def test_the_wait_is_bounded_keeps_what_is_left_and_down_again_finishes(
        stack: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    enis = lambda_enis_in(stack)
    aws = Aws(enis, release=None)  # never released within the bound
    play(monkeypatch, aws, sleep=lambda seconds: time.sleep(0.02))  # the bound is real time: keep polls short

    down = run(stack, "down", "--yes", "--wait", "0.3")
    assert down.exit_code == 1, down.output
    errors = [line for line in down.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and "3 Lambda ENIs in use" in errors[0] and "after 0s" in errors[0], errors
    # What is left, by kind and id (never the state's keys), in up's order.
    assert re.fullmatch(r"error: left in AWS and recorded: VPC vpc-\w+; private subnets( subnet-\w+){3}; "
                        r"security group sg-\w+; IAM role eni-lambda-role; run 'down' again", errors[1]), errors[1]
    assert "Traceback" not in down.output
    kept = json.loads((stack / f"{STACK}.json").read_text())["resources"]
    assert {"security_group_id", "subnet_ids", "role_name", "vpc_id"} <= set(kept)
    assert not {"function_name", "bucket", "endpoint_id", "route_table_ids"} & set(kept)
    left = count_resources()
    assert left["roles"] == 1 and left["vpcs"] == 1 and left["subnets"] == 3 and left["functions"] == 0

    for eni in enis:  # later, AWS lets them go
        backend().delete_network_interface(eni)
    again = run(stack, "down", "--yes")
    assert again.exit_code == 0, again.output
    assert count_resources() == EMPTY
    assert not (stack / f"{STACK}.json").exists()


def test_dependency_violation_without_lambda_enis_is_retried_with_progress(
        stack: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SG refused twice (another ENI was leaving): retried, bounded, and said what it waits for."""
    refusals = {"DeleteSecurityGroup": 2}

    def refuse(model: Any, **_: Any) -> None:
        if refusals.get(model.name):
            refusals[model.name] -= 1
            raise client_error("DependencyViolation", "resource has a dependent object", model.name)

    play(monkeypatch, Aws([], release=None), sleep=lambda seconds: None)
    on_every_client(monkeypatch, lambda client, service: client.meta.events.register("before-call", refuse))
    down = run(stack, "down", "--yes")
    assert down.exit_code == 0, down.output
    assert "waiting: Lambda's network interfaces to release sg-" in down.stderr
    assert refusals == {"DeleteSecurityGroup": 0} and count_resources() == EMPTY
