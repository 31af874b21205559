"""End to end on the sandbox with lingering Lambda ENIs: the real `s3gw down` waits them out, bounded."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from conftest import run_s3gw

REGION = "eu-west-1"


@pytest.fixture
def lingering() -> Iterator[str]:
    from s3gw.sandbox import Behaviours, Sandbox

    sandbox = Sandbox(port=0, behaviours=Behaviours(eni_linger=2.0)).start()
    try:
        yield sandbox.endpoint_url
    finally:
        sandbox.stop()


def s3gw(*args: str, url: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    return run_s3gw(*args, url=url, state_dir=state_dir, stack="linger")


def test_down_on_the_sandbox_waits_for_lingering_enis_and_can_be_run_again(lingering: str, tmp_path: Path) -> None:
    assert s3gw("up", url=lingering, state_dir=tmp_path).returncode == 0
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=lingering)
    enis = ec2.describe_network_interfaces(
        Filters=[{"Name": "description", "Values": ["AWS Lambda VPC ENI-linger-lister"]}])["NetworkInterfaces"]
    assert enis, "the sandbox made no Lambda ENIs"

    cut_short = s3gw("down", "--yes", "--wait", "0", url=lingering, state_dir=tmp_path)
    assert cut_short.returncode == 1
    errors = [line for line in cut_short.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and "Lambda ENIs in use" in errors[0], errors  # why, then what is left
    assert all(f"{kind} " in errors[1] for kind in ("VPC", "private subnets", "security group", "IAM role")), errors
    assert "_id" not in errors[1] and "role_name" not in errors[1]  # kinds and ids, never the state's keys
    kept = json.loads((tmp_path / "linger.json").read_text())["resources"]
    assert {"security_group_id", "subnet_ids", "role_name", "vpc_id"} <= set(kept)

    again = s3gw("down", "--yes", "--wait", "120", url=lingering, state_dir=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "deleted Lambda ENI" in again.stderr  # s3gw deletes them once available: AWS would take much longer
    tag = [{"Name": "tag:s3gw:stack", "Values": ["linger"]}]
    assert ec2.describe_vpcs(Filters=tag)["Vpcs"] == []
    assert ec2.describe_security_groups(Filters=tag)["SecurityGroups"] == []
    assert [e["NetworkInterfaceId"] for e in ec2.describe_network_interfaces()["NetworkInterfaces"]
            if e["Description"].startswith("AWS Lambda VPC ENI-linger-")] == []
    assert not (tmp_path / "linger.json").exists()
