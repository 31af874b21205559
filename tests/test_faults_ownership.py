"""A lost state file (`down --from-tags`), and nothing outside the stack touched, with look-alikes around."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result
from fault_helpers import EMPTY, ONE_STACK, REGION, client_error, count_resources, on_every_client

from s3gw.cli import cli
from s3gw.policy.documents import lambda_trust_policy

ACCOUNT = "123456789012"


def run(state_dir: Path, *args: str, stack: str = "t") -> Result:
    return CliRunner().invoke(cli, [*args, "--stack", stack, "--region", REGION, "--state-dir", str(state_dir)])


def test_down_from_tags_after_the_state_file_is_lost(mocked: None, tmp_path: Path) -> None:
    assert run(tmp_path, "up").exit_code == 0
    (tmp_path / "t.json").unlink()
    lost = run(tmp_path, "down", "--yes")  # without the option: the look by tag finds the stack, deletes nothing
    assert lost.exit_code == 1 and "--from-tags" in lost.stderr, lost.output
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


def foreign_things(owner: str | None) -> dict[str, str]:
    """A bucket (with an object and a policy), VPC, role and function that are not stack t's: untagged, or
    tagged for stack `owner`."""
    ec2, s3, iam = (boto3.client(s, region_name=REGION) for s in ("ec2", "s3", "iam"))
    tags = [{"Key": "s3gw:stack", "Value": owner}] if owner else []
    bucket = f"precious-{owner or 'untagged'}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION, **(
        {"Tags": tags} if tags else {})})
    s3.put_object(Bucket=bucket, Key="data.csv", Body=b"1,2,3")
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket", "Resource": f"arn:aws:s3:::{bucket}",
         "Condition": {"StringEquals": {"aws:PrincipalAccount": "000000000000"}}}]}))
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": tags}]
                         if tags else [])["Vpc"]["VpcId"]
    role = iam.create_role(RoleName=f"{bucket}-role", Tags=tags,
                           AssumeRolePolicyDocument=json.dumps(lambda_trust_policy("123456789012")))["Role"]
    function_arn = boto3.client("lambda", region_name=REGION).create_function(
        FunctionName=f"{bucket}-fn", Runtime="python3.12", Role=role["Arn"], Handler="h.h",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18}, Tags={"s3gw:stack": owner} if owner else {})["FunctionArn"]
    # a state consistent in itself (the ARN names the function), so that it passes the state's read checks and
    # reaches down's ownership checks
    return {"bucket": bucket, "vpc_id": vpc, "role_name": role["RoleName"], "role_arn": role["Arn"],
            "function_name": f"{bucket}-fn", "function_arn": function_arn}


@pytest.mark.parametrize("owner", [None, "other"], ids=["untagged", "another-stack"])
@pytest.mark.parametrize("down_args", [("down", "--yes"), ("down", "--from-tags", "--yes")], ids=["down", "from-tags"])
def test_down_never_deletes_a_foreign_bucket_vpc_role_or_function_the_state_names(
        mocked: None, tmp_path: Path, owner: str | None, down_args: tuple[str, ...]) -> None:
    foreign = foreign_things(owner)
    assert run(tmp_path, "up").exit_code == 0
    path = tmp_path / "t.json"
    state = json.loads(path.read_text())
    state["resources"].update(foreign)  # a mixed-up state file names them all
    path.write_text(json.dumps(state))

    down = run(tmp_path, *down_args)
    assert down.exit_code == 1, down.output
    errors = [line for line in down.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"not emptying or deleting bucket {foreign['bucket']}: it lacks the tag s3gw:stack=t" \
        in errors[0], down.stderr
    s3 = boto3.client("s3", region_name=REGION)
    assert s3.get_object(Bucket=foreign["bucket"], Key="data.csv")["Body"].read() == b"1,2,3"
    assert "aws:PrincipalAccount" in s3.get_bucket_policy(Bucket=foreign["bucket"])["Policy"]  # not even the policy
    assert boto3.client("ec2", region_name=REGION).describe_vpcs(VpcIds=[foreign["vpc_id"]])["Vpcs"]
    assert boto3.client("iam").get_role(RoleName=foreign["role_name"])
    assert boto3.client("lambda", region_name=REGION).get_function(FunctionName=foreign["function_name"])
    # ...and the stack itself is gone, found by its tag and its names
    assert count_resources() == {**EMPTY, "vpcs": 1, "buckets": 1, "roles": 1, "functions": 1,
                                 "security_groups": 1, "route_tables": 1}  # the foreign VPC's default SG and table
    assert not path.exists()


def test_an_old_untagged_bucket_pending_is_never_deleted(mocked: None, tmp_path: Path) -> None:
    """s3gw once recorded `bucket_pending` before an untagged CreateBucket: that bucket's ownership is not proven."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="pending-unproven", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="pending-unproven", Key="k", Body=b"v")
    state = {"schema": 1, "stack": "t", "region": REGION, "account": ACCOUNT,
             "resources": {"bucket_pending": "pending-unproven"}, "settings": {}}
    (tmp_path / "t.json").write_text(json.dumps(state))
    down = run(tmp_path, "down", "--yes")
    assert down.exit_code == 1
    assert "not emptying or deleting bucket pending-unproven" in down.stderr
    assert s3.get_object(Bucket="pending-unproven", Key="k")["Body"].read() == b"v"


def test_an_unknown_key_in_the_state_file_does_not_keep_down_failing(mocked: None, tmp_path: Path) -> None:
    assert run(tmp_path, "up").exit_code == 0
    path = tmp_path / "t.json"
    state = json.loads(path.read_text())
    state["resources"]["nat_gateway_id"] = "nat-0123"  # a newer version's key, or a hand edit
    path.write_text(json.dumps(state))
    down = run(tmp_path, "down", "--yes")
    assert down.exit_code == 0, down.output
    assert "ignoring nat_gateway_id='nat-0123' in the state file" in down.stderr
    assert count_resources() == EMPTY and not path.exists()


@pytest.mark.parametrize("from_tags", [False, True], ids=["down", "from-tags"])
def test_an_endpoint_and_a_group_whose_vpc_is_gone_are_found_by_tag(mocked: None, tmp_path: Path,
                                                                     from_tags: bool) -> None:
    """moto lets a VPC go while an endpoint and a security group are still in it (AWS refuses): what is left
    carries the stack's tag, and `down` finds it by that tag in any VPC."""
    ec2 = boto3.client("ec2", region_name=REGION)
    tags = [{"Key": "s3gw:stack", "Value": "t"}]
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": tags}])
    vpc_id = vpc["Vpc"]["VpcId"]
    ec2.create_security_group(GroupName="t-lambda-https-out", Description="x", VpcId=vpc_id,
                              TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}])
    ec2.create_vpc_endpoint(VpcId=vpc_id, ServiceName=f"com.amazonaws.{REGION}.s3", VpcEndpointType="Gateway",
                            TagSpecifications=[{"ResourceType": "vpc-endpoint", "Tags": tags}])
    ec2.delete_vpc(VpcId=vpc_id)
    assert count_resources() == {**EMPTY, "security_groups": 1, "endpoints": 1}
    if not from_tags:  # the state file of an `up` that died before recording anything
        state = {"schema": 1, "stack": "t", "region": REGION, "account": ACCOUNT, "resources": {}, "settings": {}}
        (tmp_path / "t.json").write_text(json.dumps(state))
    down = run(tmp_path, "down", "--yes", *(["--from-tags"] if from_tags else []))
    assert down.exit_code == 0, down.output
    assert count_resources() == EMPTY
    assert not (tmp_path / "t.json").exists()


def test_an_endpoint_that_drops_create_bucket_tags_still_gets_a_tagged_bucket(mocked: None, tmp_path: Path,
                                                                              monkeypatch: Any) -> None:
    """Not AWS (S3 applies CreateBucketConfiguration.Tags), but an emulator might drop them: the bucket this very
    run made is then tagged by PutBucketTagging, so `down` can later prove it the stack's."""
    def drop_tags(params: dict[str, Any], **_: Any) -> None:
        params.get("CreateBucketConfiguration", {}).pop("Tags", None)

    on_every_client(monkeypatch, lambda client, service: client.meta.events.register(
        "provide-client-params.s3.CreateBucket", drop_tags))
    up = run(tmp_path, "up")
    assert up.exit_code == 0, up.output
    bucket = json.loads((tmp_path / "t.json").read_text())["resources"]["bucket"]
    tags = boto3.client("s3", region_name=REGION).get_bucket_tagging(Bucket=bucket)["TagSet"]
    assert {"Key": "s3gw:stack", "Value": "t"} in tags
    assert run(tmp_path, "down", "--yes").exit_code == 0 and count_resources() == EMPTY
