"""Issue 15 in-process (moto): the policy merge, bad input, refusals before any change, an adopted endpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from conftest import REGION, make_test_config

from s3gw import commands
from s3gw.cli import cli
from s3gw.errors import S3gwError
from s3gw.policy.documents import POLICY_SIZE_LIMIT, bucket_policy, merge_seal, own_part, strip_seal

SEAL = bucket_policy("data", "vpce-1")
USERS = {"Version": "2012-10-17", "Id": "theirs", "Statement": [
    {"Sid": "Read", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/a"},
     "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*"},
    {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket", "Resource": "arn:aws:s3:::data"}]}


def quiet(message: str) -> None:
    pass


# --- the merge: pure functions --------------------------------------------------------------------------------


def test_the_seal_is_added_beside_every_statement_and_taken_back_exactly() -> None:
    merged = merge_seal(json.dumps(USERS), SEAL)
    assert merged["Id"] == "theirs" and merged["Statement"][:2] == USERS["Statement"]
    assert [s["Sid"] for s in own_part(json.dumps(merged))] == ["S3gwDenyUnlessThroughEndpoint", "S3gwDenyWithoutTLS"]
    again = merge_seal(json.dumps(merged), bucket_policy("data", "vpce-2"))  # a new endpoint replaces, not adds
    assert len(again["Statement"]) == 4 and "vpce-2" in json.dumps(again["Statement"][2:])
    assert strip_seal(json.dumps(again)) == USERS


def test_no_policy_before_means_no_policy_after() -> None:
    merged = merge_seal(None, SEAL)
    assert len(merged["Statement"]) == 2
    assert strip_seal(json.dumps(merged)) is None


def test_a_lone_statement_is_kept_and_a_policy_without_s3gws_statements_is_left_as_it_is() -> None:
    single = {"Version": "2012-10-17", "Statement": USERS["Statement"][0]}
    assert strip_seal(json.dumps(merge_seal(json.dumps(single), SEAL)))["Statement"] == [single["Statement"]]
    assert strip_seal(json.dumps(single)) == single  # nothing of s3gw's: left as it is


# --- bad input: one line, exit 2 --------------------------------------------------------------------------------

BAD = [
    (["up", "--adopt"], "--adopt needs --bucket NAME"),
    (["up", "--subnet-ids", "subnet-0123456789abcdef0"], "--subnet-ids needs --vpc-id"),
    (["up", "--vpc-id", "vpc-0123456789abcdef0", "--azs", "2"], "--vpc-id uses an existing VPC"),
    (["up", "--vpc-id", "vpc-nope"], "invalid --vpc-id"),
    (["up", "--vpc-id", "vpc-0123456789abcdef0", "--subnet-ids", "subnet-1,subnet-1"], "invalid --subnet-ids"),
]


@pytest.mark.parametrize(("args", "says"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_byo_options_are_one_line_and_exit_2(args: list[str], says: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, [*args, "--state-dir", str(tmp_path), "--region", REGION])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert list(tmp_path.iterdir()) == []


def vpc_with_subnets(ec2: Any, cidr: str = "10.5.0.0/16") -> tuple[str, list[str], str]:
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    base = cidr.split(".")[1]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{base}.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
        "Subnet"]["SubnetId"] for i, z in ((1, "a"), (2, "b"))]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    for subnet in subnets:
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    return vpc, subnets, table


def test_a_subnet_of_another_vpc_and_a_bucket_that_does_not_exist_exit_2(mocked: None, tmp_path: Path) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc, _, _ = vpc_with_subnets(ec2)
    _, elsewhere, _ = vpc_with_subnets(ec2, "10.6.0.0/16")
    runner = CliRunner()
    stray = runner.invoke(cli, ["up", "--vpc-id", vpc, "--subnet-ids", elsewhere[0], "--state-dir", str(tmp_path),
                                "--region", REGION])
    assert stray.exit_code == 2 and f"{elsewhere[0]} is not a subnet of {vpc}" in stray.stderr, stray.output
    missing = runner.invoke(cli, ["up", "--bucket", "not-there-at-all", "--adopt", "--state-dir", str(tmp_path),
                                  "--region", REGION])
    assert missing.exit_code == 2 and "--adopt uses an existing bucket" in missing.stderr, missing.output
    assert boto3.client("s3", region_name=REGION).list_buckets()["Buckets"] == []  # nothing made


# --- refusals before the policy is touched -----------------------------------------------------------------------


def adoptable_bucket(policy: dict[str, Any]) -> str:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="their-data", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_policy(Bucket="their-data", Policy=json.dumps(policy))
    return "their-data"


def test_a_deny_that_would_lock_the_function_out_is_refused_and_the_policy_left_alone(
        mocked: None, state_dir: Path) -> None:
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "NoReadsAtAll", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::their-data/*"}]}
    bucket = adoptable_bucket(policy)
    config = make_test_config(state_dir, bucket=bucket, adopt=True, azs=1)
    planned = commands.inspect.plan(config, quiet)
    bucket_line = next(s for s in planned.steps if s.step == "bucket")
    assert any("denies the function s3:GetObject" in d and "NoReadsAtAll" in d for d in bucket_line.details)
    with pytest.raises(S3gwError, match="statement NoReadsAtAll"):
        commands.up.up(config, quiet)
    assert json.loads(boto3.client("s3", region_name=REGION).get_bucket_policy(Bucket=bucket)["Policy"]) == policy


def test_a_policy_that_would_pass_the_20_kb_limit_is_refused(mocked: None, state_dir: Path) -> None:
    filler = [{"Sid": f"Read{i}", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::123456789012:role/r{i:04d}"},
               "Action": "s3:GetObject", "Resource": "arn:aws:s3:::their-data/*"} for i in range(129)]
    policy = {"Version": "2012-10-17", "Statement": filler}
    assert len(json.dumps(policy, separators=(",", ":"))) < POLICY_SIZE_LIMIT
    bucket = adoptable_bucket(policy)
    with pytest.raises(S3gwError, match="over S3's 20480-byte limit"):
        commands.up.up(make_test_config(state_dir, bucket=bucket, adopt=True, azs=1), quiet)
    assert json.loads(boto3.client("s3", region_name=REGION).get_bucket_policy(Bucket=bucket)["Policy"]) == policy


# --- an S3 gateway endpoint already in the VPC -------------------------------------------------------------------


def test_an_existing_endpoint_is_adopted_and_down_takes_back_only_the_tables_s3gw_added(
        mocked: None, state_dir: Path) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc, subnets, table = vpc_with_subnets(ec2)
    other_table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    endpoint = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3",
                                       VpcEndpointType="Gateway", RouteTableIds=[other_table])["VpcEndpoint"]
    config = make_test_config(state_dir, vpc_id=vpc)

    made = commands.up.up(config, quiet)
    assert made.outputs["endpoint_id"] == endpoint["VpcEndpointId"]
    assert made.outputs["route_table_ids"] == [table] and sorted(made.outputs["subnet_ids"]) == sorted(subnets)
    adopted = {s.step for s in made.steps if s.details and s.details[0].startswith("(adopted)")}
    assert adopted == {"VPC", "private subnets", "route tables", "S3 gateway endpoint"}
    attached = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint["VpcEndpointId"]])["VpcEndpoints"][0]
    assert sorted(attached["RouteTableIds"]) == sorted([other_table, table])
    assert commands.inspect.plan(config, quiet).clean or all(
        s.action == "ok" for s in commands.inspect.plan(config, quiet).steps if s.step != "S3 traffic today")

    down = commands.down.down(config, quiet)
    assert down.complete, down
    kept = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint["VpcEndpointId"]])["VpcEndpoints"][0]
    assert kept["State"].lower() == "available" and kept["RouteTableIds"] == [other_table]
    assert ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"] and len(ec2.describe_subnets(SubnetIds=subnets)["Subnets"]) == 2
    assert ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"]
    assert not config.state_path.exists()


def test_a_deleted_endpoint_is_not_taken_for_one_to_adopt_by_the_warnings(mocked: None, state_dir: Path) -> None:
    """EC2 lists a deleted endpoint for a while (State "deleted"): s3gw makes a new endpoint then, so plan and up
    say who else its route would capture, as with no endpoint at all (steps.endpoint.adoptable)."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc, subnets, table = vpc_with_subnets(ec2, "10.6.0.0/16")
    old = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3", VpcEndpointType="Gateway",
                                  RouteTableIds=[table])["VpcEndpoint"]["VpcEndpointId"]
    ec2.delete_vpc_endpoints(VpcEndpointIds=[old])
    config = make_test_config(state_dir, vpc_id=vpc, subnet_ids=(subnets[0],))
    warning = f"warning: {table} is also the route table of {subnets[1]}"

    traffic = [s for s in commands.inspect.plan(config, quiet).steps if s.step == "S3 traffic today"]
    assert traffic and any(line.startswith(warning) for line in traffic[0].details), traffic
    said: list[str] = []
    made = commands.up.up(config, said.append)
    assert made.outputs["endpoint_id"] != old
    assert any(line.startswith(warning) for line in said), said
    assert commands.down.down(config, quiet).complete


# --- an adopted bucket through the whole lifecycle, in-process ----------------------------------------------------


def test_an_adopted_bucket_is_never_emptied_and_unseal_takes_only_s3gws_statements(
        mocked: None, state_dir: Path) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    theirs = dict(USERS["Statement"][0], Resource="arn:aws:s3:::their-data/*")
    bucket = adoptable_bucket(USERS | {"Statement": [theirs]})
    s3.put_object(Bucket=bucket, Key="keep.txt", Body=b"theirs")
    before = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    config = make_test_config(state_dir, bucket=bucket, adopt=True, azs=1)
    commands.up.up(config, quiet)
    assert len(json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]) == 3

    lines, versions = commands.down.down_preview(config)
    assert versions == 0 and f"(keeping, adopted: bucket {bucket}; only s3gw's changes to it are undone)" in lines
    assert not any(line == f"bucket {bucket}" for line in lines)

    commands.down.unseal(config, quiet)
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"] == before  # the very text, not merely an equivalent
    commands.up.up(config, quiet)  # seals again

    down = commands.down.down(config, quiet)
    assert down.complete, down
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"] == before
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["keep.txt"]


def test_a_stack_that_made_its_bucket_cannot_call_it_adopted(mocked: None, state_dir: Path) -> None:
    """Re-labelled as adopted, the stack's own bucket would never be deleted by down."""
    own = make_test_config(state_dir, azs=1)
    made = commands.up.up(own, quiet)
    with pytest.raises(S3gwError, match="--adopt would keep it from ever being deleted"):
        commands.up.up(make_test_config(state_dir, bucket=made.outputs["bucket"], adopt=True, azs=1), quiet)
    assert commands.down.down(own, quiet).complete
