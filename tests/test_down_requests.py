"""What `down` asks AWS, counted per operation (issue 13): one look at the stack reads each kind once, the deletes
use what it read, and a pass after which nothing of the stack can be left is not looked at again. And what makes
those cuts safe: a look that found more than one pass takes still loops, and a policy put on the role after its
lists were read is taken off too."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
from conftest import REGION, CallLog, make_test_config
from fault_helpers import EMPTY, count_resources, on_every_client

from s3gw import commands

# The reads of `down`'s look at the stack (commands.down._discover): once each, whatever the step that uses them.
LOOK = ("DescribeVpcs", "DescribeSubnets", "DescribeRouteTables", "DescribeVpcEndpoints", "DescribeSecurityGroups",
        "GetRole", "GetFunction", "GetBucketTagging")


def quiet(message: str) -> None:
    pass


def test_down_reads_each_kind_once_and_does_not_look_again_after_a_clean_pass(
        sandbox_url: str, state_dir: Path, call_log: CallLog) -> None:
    config = make_test_config(state_dir, stack="dr", endpoint_url=sandbox_url, azs=2)
    commands.up.up(config, quiet)
    before = len(call_log.calls)

    report = commands.down.down(config, quiet, wait=60)

    assert report.complete, report
    calls = Counter(call_log.calls[before:])
    # One look: DescribeRouteTables once, not again per table before its disassociation; GetBucketTagging twice
    # (the look by tag, and the ownership proof that goes with GetBucketLocation just before the bucket's delete).
    assert {name: calls[name] for name in LOOK} == {**dict.fromkeys(LOOK, 1), "GetBucketTagging": 2}, calls
    # The function's detach uses the look's GetFunction; the role's two lists are read once.
    assert calls["GetFunctionConfiguration"] == 0 and calls["ListRolePolicies"] == 1, calls
    assert count_resources(sandbox_url) == EMPTY
    assert not config.state_path.exists()


def test_a_look_that_finds_a_second_tagged_vpc_takes_another_pass(mocked: None, state_dir: Path,
                                                                    call_log: CallLog) -> None:
    """A crashed run's VPC carries the stack's tag: one VPC is recorded per pass, so the pass that deleted the
    stack's own does not end `down`: the next look records the other, and deletes it."""
    config = make_test_config(state_dir, azs=1)
    commands.up.up(config, quiet)
    tags = [{"ResourceType": "vpc", "Tags": [{"Key": "s3gw:stack", "Value": "t"}]}]
    boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.8.0.0/16", TagSpecifications=tags)
    before = len(call_log.calls)

    report = commands.down.down(config, quiet, wait=60)

    assert report.complete, report
    assert Counter(call_log.calls[before:])["DeleteVpc"] == 2
    assert count_resources() == EMPTY and not config.state_path.exists()


def test_a_policy_put_on_the_role_after_its_lists_were_read_does_not_leave_it(
        mocked: None, state_dir: Path, monkeypatch: Any, call_log: CallLog) -> None:
    """The role's policies are listed early, while Lambda's ENIs are waited out (on AWS, minutes): one put on it
    meanwhile makes IAM refuse DeleteRole (DeleteConflict); the role stays recorded, and the next pass lists its
    policies again and takes it down."""
    config = make_test_config(state_dir, azs=1)
    commands.up.up(config, quiet)
    iam = boto3.client("iam")
    put: list[str] = []

    def put_one_more(**_: Any) -> None:
        if not put:
            put.append("late")
            iam.put_role_policy(RoleName=config.role_name, PolicyName="late", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket",
                                                         "Resource": "*"}]}))

    on_every_client(monkeypatch, lambda client, service: client.meta.events.register(
        "after-call.iam.ListRolePolicies", put_one_more))

    before = len(call_log.calls)
    report = commands.down.down(config, quiet, wait=60)
    calls = call_log.calls[before:]

    assert put and report.complete, report
    assert count_resources() == EMPTY and not config.state_path.exists()  # the role too, the late policy off
    assert Counter(calls)["DeleteRole"] == 2  # refused once, then taken down in the next pass
