"""A lost state file (`down --from-tags`), and nothing outside the stack touched, with look-alikes around."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from click.testing import CliRunner, Result
from fault_helpers import EMPTY, ONE_STACK, REGION, client_error, count_resources, on_every_client

from s3gw.cli import cli
from s3gw.policy import lambda_trust_policy

ACCOUNT = "123456789012"


def run(state_dir: Path, *args: str, stack: str = "t") -> Result:
    return CliRunner().invoke(cli, [*args, "--stack", stack, "--region", REGION, "--state-dir", str(state_dir)])


def test_down_from_tags_after_the_state_file_is_lost(mocked: None, tmp_path: Path) -> None:
    assert run(tmp_path, "up").exit_code == 0
    (tmp_path / "t.json").unlink()
    assert "nothing to delete" in run(tmp_path, "down", "--yes").stderr  # without the option: nothing known
    assert count_resources() == ONE_STACK

    down = run(tmp_path, "down", "--from-tags", "--yes")
    assert down.exit_code == 0, down.output
    assert count_resources() == EMPTY
    assert not (tmp_path / "t.json").exists()


def test_down_from_tags_finds_a_custom_bucket_by_its_tag(mocked: None, tmp_path: Path) -> None:
    assert run(tmp_path, "up", "--bucket", "my-custom-sealed-bucket").exit_code == 0
    (tmp_path / "t.json").unlink()
    down = run(tmp_path, "down", "--from-tags", "--yes")
    assert down.exit_code == 0, down.output
    assert count_resources() == EMPTY


def look_alikes() -> dict[str, Any]:
    """Resources that look like stack t's but are not: untagged, or tagged for stack `other`."""
    ec2, s3, iam = (boto3.client(s, region_name=REGION) for s in ("ec2", "s3", "iam"))

    def tag(stack: str | None, kind: str) -> list[dict[str, Any]]:
        tags = [{"Key": "Name", "Value": "t"}] + ([{"Key": "s3gw:stack", "Value": stack}] if stack else [])
        return [{"ResourceType": kind, "Tags": tags}]

    made: dict[str, Any] = {}
    for owner, cidr in ((None, "10.0.0.0/16"), ("other", "10.0.0.0/16")):
        vpc = ec2.create_vpc(CidrBlock=cidr, TagSpecifications=tag(owner, "vpc"))["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/20", AvailabilityZone=f"{REGION}a",
                                   TagSpecifications=tag(owner, "subnet"))["Subnet"]["SubnetId"]
        table = ec2.create_route_table(VpcId=vpc, TagSpecifications=tag(owner, "route-table"))["RouteTable"]
        group = ec2.create_security_group(GroupName="t-lambda-https-out", Description="x", VpcId=vpc,
                                          TagSpecifications=tag(owner, "security-group"))["GroupId"]
        made[str(owner)] = {"vpc": vpc, "subnet": subnet, "table": table["RouteTableId"], "group": group}
    s3.create_bucket(Bucket=f"t-{ACCOUNT}-{REGION}-copy", CreateBucketConfiguration={"LocationConstraint": REGION})
    iam.create_role(RoleName="other-lambda-role", AssumeRolePolicyDocument=json.dumps(
        lambda_trust_policy("123456789012")),
                    Tags=[{"Key": "s3gw:stack", "Value": "t"}])  # our tag, but not a name this stack makes
    return made


def all_ids() -> set[str]:
    ec2 = boto3.client("ec2", region_name=REGION)
    ids = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}
    ids |= {s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]}
    ids |= {t["RouteTableId"] for t in ec2.describe_route_tables()["RouteTables"]}
    ids |= {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    ids |= {b["Name"] for b in boto3.client("s3", region_name=REGION).list_buckets()["Buckets"]}
    ids |= {r["RoleName"] for r in boto3.client("iam").list_roles()["Roles"]}
    return ids


def test_up_and_down_leave_look_alikes_alone(mocked: None, tmp_path: Path) -> None:
    look_alikes()
    before = all_ids()
    up = run(tmp_path, "up")
    assert up.exit_code == 0, up.output
    recorded = json.loads((tmp_path / "t.json").read_text())["resources"]
    assert recorded["vpc_id"] not in before and not set(recorded["subnet_ids"]) & before  # nothing adopted

    assert run(tmp_path, "down", "--yes").exit_code == 0
    assert all_ids() == before

    assert run(tmp_path, "up").exit_code == 0
    (tmp_path / "t.json").unlink()
    down = run(tmp_path, "down", "--from-tags", "--yes")
    assert down.exit_code == 0, down.output
    assert all_ids() == before


def test_up_refuses_a_role_or_function_or_bucket_with_its_name_but_not_its_tag(mocked: None, tmp_path: Path) -> None:
    iam = boto3.client("iam")
    role = iam.create_role(RoleName="t-lambda-role", AssumeRolePolicyDocument=json.dumps(
        lambda_trust_policy("123456789012")),
                           Tags=[{"Key": "s3gw:stack", "Value": "other"}])["Role"]
    boto3.client("lambda", region_name=REGION).create_function(
        FunctionName="t-lister", Runtime="python3.12", Role=role["Arn"], Handler="h.h",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18}, Tags={"s3gw:stack": "other"})
    before = all_ids()

    up = run(tmp_path, "up")
    assert up.exit_code == 1 and "IAM role t-lambda-role exists but is not this stack's" in up.stderr

    for down_args in (("down", "--yes"), ("down", "--from-tags", "--yes")):
        down = run(tmp_path, *down_args)
        assert down.exit_code == 0, down.output
    assert all_ids() == before  # the foreign role (and the stack's partial VPC aside) untouched
    assert boto3.client("lambda", region_name=REGION).get_function(FunctionName="t-lister")
    assert iam.get_role(RoleName="t-lambda-role")["Role"]["Arn"] == role["Arn"]


def test_down_never_deletes_a_recorded_id_without_the_stack_tag(mocked: None, tmp_path: Path) -> None:
    """A mixed-up state file names another stack's VPC and security group: `down` drops them, deletes nothing."""
    made = look_alikes()
    assert run(tmp_path, "up").exit_code == 0
    path = tmp_path / "t.json"
    state = json.loads(path.read_text())
    ours = state["resources"]["vpc_id"], state["resources"]["security_group_id"]
    state["resources"]["security_group_id"] = made["other"]["group"]
    state["resources"]["subnet_ids"].append(made["None"]["subnet"])
    path.write_text(json.dumps(state))

    ec2 = boto3.client("ec2", region_name=REGION)
    ec2.delete_security_group(GroupId=ours[1])  # ours is now unrecorded: remove it so the VPC can go
    down = run(tmp_path, "down", "--yes")
    assert down.exit_code == 0, down.output
    assert f"not deleting {made['other']['group']}: it lacks the tag s3gw:stack=t" in down.stderr
    assert {x for m in made.values() for x in m.values()} <= all_ids()  # every look-alike is still there
    assert ours[0] not in all_ids() and count_resources()["vpcs"] == 2  # the stack's own VPC went


def test_a_bucket_name_taken_elsewhere_is_not_recorded_and_never_touched(mocked: None, tmp_path: Path,
                                                                         monkeypatch: Any) -> None:
    def taken(model: Any, **_: Any) -> None:
        if model.name == "CreateBucket":
            raise client_error("BucketAlreadyExists", "The requested bucket name is not available", model.name)

    on_every_client(monkeypatch, lambda client, service: client.meta.events.register("before-call", taken))
    up = run(tmp_path, "up")
    assert up.exit_code == 1 and "taken by another account" in up.stderr
    resources = json.loads((tmp_path / "t.json").read_text())["resources"]
    assert "bucket_pending" not in resources and "bucket" not in resources  # `down` will not touch that bucket
