"""Every request s3gw builds, recorded during a lifecycle on the in-process sandbox, and the request members it
uses ("s3.CreateBucket.CreateBucketConfiguration.Tags"). Used by tests/test_boto3_floor.py and by
bench/boto3_floor.py (which also runs it in a fresh venv with boto3 pinned at the declared floor).

Recorded at botocore's `before-parameter-build` event, first: the parameters exactly as s3gw passed them, before
botocore's own handlers add theirs (idempotency tokens, checksums), which its own model always has.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

REGION = "eu-west-1"


@dataclass(frozen=True)
class Call:
    service: str  # botocore's service name: "s3", "ec2"
    operation: str  # "CreateBucket"
    params: dict[str, Any]


@contextmanager
def recording() -> Iterator[list[Call]]:
    """Every API call made by s3gw's own clients (s3gw.aws.Aws.client) while inside; the sandbox's are not."""
    from s3gw.aws import Aws

    calls: list[Call] = []
    original = Aws.client

    def client(self: Aws, service: str, **kwargs: Any) -> Any:
        made = original(self, service, **kwargs)
        name = made.meta.service_model.service_name

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            calls.append(Call(name, model.name, copy.deepcopy(params)))

        made.meta.events.register_first(f"before-parameter-build.{made.meta.service_model.endpoint_prefix}", record)
        return made

    with mock.patch.object(Aws, "client", client):
        yield calls


def members(call: Call, service_model: Any) -> set[str]:
    """The operation and every member path its parameters use, e.g. s3.PutObject and s3.PutObject.IfNoneMatch."""
    operation = f"{call.service}.{call.operation}"
    found = {operation}
    shape = service_model.operation_model(call.operation).input_shape

    def walk(value: Any, shape: Any, path: str) -> None:
        if shape is None:
            return
        if shape.type_name == "structure" and isinstance(value, dict):
            for key, item in value.items():
                member = shape.members.get(key)
                found.add(f"{path}.{key}")
                walk(item, member, f"{path}.{key}")
        elif shape.type_name == "list" and isinstance(value, list | tuple):
            for item in value:
                walk(item, shape.member, path)
        elif shape.type_name == "map" and isinstance(value, dict):
            for item in value.values():
                walk(item, shape.value, path)

    walk(call.params, shape, operation)
    return found


def validate(calls: list[Call]) -> list[str]:
    """Each call checked against the installed botocore's model, as botocore checks it before sending."""
    from botocore.session import get_session
    from botocore.validate import ParamValidator

    session, validator, problems = get_session(), ParamValidator(), []
    for call in calls:
        model = session.get_service_model(call.service)
        if call.operation not in model.operation_names:
            problems.append(f"{call.service}.{call.operation}: no such operation in botocore")
            continue
        report = validator.validate(call.params, model.operation_model(call.operation).input_shape)
        if report.has_errors():
            problems.append(f"{call.service}.{call.operation}: {report.generate_report()}")
    return problems


def used_members(calls: list[Call]) -> set[str]:
    from botocore.session import get_session

    session = get_session()
    return {m for call in calls for m in members(call, session.get_service_model(call.service))}


def lifecycle(endpoint_url: str, work: Path) -> list[str]:
    """Every command s3gw has that calls AWS, on the sandbox: a full stack (up, plan, status, verify, test-invoke,
    unseal, up, down), a stack that adopts an existing bucket and VPC, the state in S3 (state init, push, pull, a
    run under the S3 lock) and down --from-tags. Returns what went wrong (a command's unexpected exit code)."""
    import boto3
    from click.testing import CliRunner

    from s3gw.cli import cli

    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "CI": "true",
           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    problems: list[str] = []

    def s3gw(stack: str, *args: str, codes: tuple[int, ...] = (0,)) -> Any:
        result = CliRunner().invoke(cli, [*args, "--stack", stack, "--endpoint-url", endpoint_url, "--region", REGION,
                                          "--state-dir", str(work)], env=env)
        if result.exit_code not in codes:
            problems.append(f"s3gw {' '.join(args)} (stack {stack}) exited {result.exit_code}: {result.output[-600:]}")
        return result

    s3gw("full", "plan")
    s3gw("full", "up")
    s3gw("full", "up")
    for command in (["status"], ["outputs"], ["verify"], ["test-invoke", "--put", "probe.txt"], ["test-invoke"]):
        s3gw("full", *command)
    s3gw("full", "unseal", "--yes")
    s3gw("full", "up")

    # An existing bucket and VPC, brought along.
    keys = {"region_name": REGION, "endpoint_url": endpoint_url, "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing"}
    s3, ec2 = boto3.client("s3", **keys), boto3.client("ec2", **keys)
    s3.create_bucket(Bucket="floor-adopted", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_public_access_block(Bucket="floor-adopted", PublicAccessBlockConfiguration={  # verify asks for it
        key: True for key in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")})
    vpc_id = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.9.1.0/24", AvailabilityZone=f"{REGION}a")
    brought = ["--bucket", "floor-adopted", "--adopt", "--vpc-id", vpc_id, "--subnet-ids",
               subnet_id["Subnet"]["SubnetId"]]
    s3gw("byo", "plan", *brought)
    s3gw("byo", "up", *brought)
    s3gw("byo", "verify")
    s3gw("byo", "down", "--yes")
    s3gw("full", "down", "--yes")

    # The state in S3, and a run under its lock.
    url = "s3://floor-state/team"
    s3gw("remote", "state", "init", url)
    s3gw("remote", "up", "--azs", "1")
    s3gw("remote", "state", "push", "--state", url)
    s3gw("remote", "status", "--state", url)
    s3gw("remote", "state", "pull", "--state", url, "--force")
    s3gw("remote", "down", "--yes", "--state", url)
    s3gw("remote", "down", "--yes", "--from-tags")
    return problems
