"""The boto3 floor (issue 20, item 2): every request s3gw builds in a whole lifecycle on the sandbox is valid for the
installed botocore's model, and the floor pyproject.toml declares has every operation and member it uses.

Offline: tests/botocore_first_versions.json holds, for each member, the first botocore release whose model has it;
bench/boto3_floor.py writes it (it downloads the wheels) and runs the lifecycle in a venv pinned at the floor."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from request_shapes import Call, lifecycle, members, recording, used_members, validate

from s3gw.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
TABLE = json.loads((ROOT / "tests" / "botocore_first_versions.json").read_text())
REGENERATE = "run: python bench/boto3_floor.py table (then raise boto3>= in pyproject.toml to the floor it prints)"


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def declared(package: str) -> str:
    found = re.search(rf'"{package}>=([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert found, f"pyproject.toml declares no {package}>= floor"
    return found.group(1)


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Call]]:
    with Sandbox() as sandbox, recording() as made:
        problems = lifecycle(sandbox.endpoint_url, tmp_path_factory.mktemp("floor"))
    assert problems == []
    yield made


def test_every_request_s3gw_builds_is_valid_for_the_installed_botocore(calls: list[Call]) -> None:
    assert validate(calls) == []
    # The lifecycle reached the requests that carry the newer members, and each command's kind of call.
    operations = {f"{c.service}.{c.operation}" for c in calls}
    assert {"s3.CreateBucket", "s3.PutObject", "s3.DeleteObject", "s3.PutBucketPolicy", "s3.GetBucketLogging",
            "s3.ListBuckets", "ec2.CreateVpcEndpoint", "lambda.Invoke", "iam.CreateRole", "ec2.DeleteVpc",
            "sts.GetCallerIdentity"} <= operations


def test_the_declared_floor_has_every_member_s3gw_uses(calls: list[Call]) -> None:
    used = used_members(calls)
    table = TABLE["first_versions"]
    unknown = sorted(used - set(table))
    assert not unknown, f"members used but not in the table: {unknown}; {REGENERATE}"
    needed = max((table[m] for m in used), key=version)
    floor = declared("boto3")
    # boto3 X.Y.Z installs botocore X.Y.Z or later of the same minor: their versions move together.
    assert version(floor) >= version(needed), (
        f"pyproject.toml says boto3>={floor}, but {[m for m in used if table[m] == needed]} need botocore {needed}")
    # The members the issue names are among them, each newer than the old floor (boto3>=1.34).
    for member in ("s3.PutObject.IfNoneMatch", "s3.PutObject.IfMatch",
                   "s3.CreateBucket.CreateBucketConfiguration.Tags"):
        assert member in used and version(table[member]) > version("1.34.0"), member


def test_members_are_walked_through_nested_structures_and_lists() -> None:
    from botocore.session import get_session

    call = Call("s3", "CreateBucket", {"Bucket": "b", "CreateBucketConfiguration": {
        "LocationConstraint": "eu-west-1", "Tags": [{"Key": "k", "Value": "v"}]}})
    found = members(call, get_session().get_service_model("s3"))
    assert {"s3.CreateBucket", "s3.CreateBucket.Bucket", "s3.CreateBucket.CreateBucketConfiguration.Tags",
            "s3.CreateBucket.CreateBucketConfiguration.Tags.Key"} <= found
