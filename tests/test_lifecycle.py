"""The whole `up → up → status → outputs → down` through Click's runner on moto, counting what is left."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result
from conftest import REGION, CallLog

from s3gw.cli import cli


def run(*args: str, state_dir: Path) -> Result:
    return CliRunner().invoke(cli, [*args, "--stack", "life", "--region", REGION, "--state-dir", str(state_dir)])


def count_stack_resources() -> dict[str, int]:
    """What exists in the (mocked) account, by kind, apart from the default VPC and its parts."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpcs = [v for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")]
    default_vpcs = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v.get("IsDefault")}
    return {
        "vpcs": len(vpcs),
        "subnets": len([s for s in ec2.describe_subnets()["Subnets"] if s["VpcId"] not in default_vpcs]),
        "route_tables": len([t for t in ec2.describe_route_tables()["RouteTables"] if t["VpcId"] not in default_vpcs]),
        # AWS (and moto) list a deleted endpoint for a while, in state "deleted"
        "endpoints": len([e for e in ec2.describe_vpc_endpoints()["VpcEndpoints"] if e["State"].lower() != "deleted"]),
        "security_groups": len([g for g in ec2.describe_security_groups()["SecurityGroups"]
                                if g["VpcId"] not in default_vpcs]),
        "roles": len(boto3.client("iam").list_roles()["Roles"]),
        "functions": len(boto3.client("lambda", region_name=REGION).list_functions()["Functions"]),
        "buckets": len(boto3.client("s3", region_name=REGION).list_buckets()["Buckets"]),
    }


def test_up_up_status_outputs_down(mocked: None, state_dir: Path, call_log: CallLog) -> None:
    first = run("up", state_dir=state_dir)
    assert first.exit_code == 0, first.output
    made = count_stack_resources()
    # VPC, 3 subnets, 3 own tables + the main table, endpoint, SG + the VPC's default SG, role, function, bucket
    assert made == {"vpcs": 1, "subnets": 3, "route_tables": 4, "endpoints": 1, "security_groups": 2,
                    "roles": 1, "functions": 1, "buckets": 1}
    state = json.loads((state_dir / "life.json").read_text())
    assert (state_dir / "life.json").stat().st_mode & 0o777 == 0o600
    assert state["stack"] == "life" and state["region"] == REGION and state["account"] == "123456789012"

    calls_before = len(call_log.calls)
    mutating_before = len(call_log.mutating)
    second = run("up", state_dir=state_dir)
    assert second.exit_code == 0, second.output
    assert call_log.mutating[mutating_before:] == [], "a re-run of up on a complete stack must not mutate"
    assert len(call_log.calls) > calls_before  # it did look
    assert count_stack_resources() == made

    status = run("status", "--output", "json", state_dir=state_dir)
    assert status.exit_code == 0, status.output
    report = json.loads(status.stdout)
    assert [s["action"] for s in report["steps"]] == ["ok"] * 8

    outputs = run("outputs", "--output", "json", state_dir=state_dir)
    values = json.loads(outputs.stdout)
    assert values["vpc_id"] == state["resources"]["vpc_id"]
    assert set(values) == {"schema", "vpc_id", "subnet_ids", "route_table_ids", "endpoint_id", "prefix_list_id",
                           "bucket", "security_group_id", "role_name", "role_arn", "function_name", "function_arn"}
    bare = run("outputs", "bucket", state_dir=state_dir)
    assert bare.stdout == f"life-123456789012-{REGION}\n"
    assert len(run("outputs", "subnet_ids", state_dir=state_dir).stdout.split()) == 3  # space-separated
    assert json.loads(run("outputs", "subnet_ids", "--output", "json", state_dir=state_dir).stdout)["value"] == \
        state["resources"]["subnet_ids"]

    down = run("down", "--yes", state_dir=state_dir)
    assert down.exit_code == 0, down.output
    assert count_stack_resources() == {"vpcs": 0, "subnets": 0, "route_tables": 0, "endpoints": 0,
                                       "security_groups": 0, "roles": 0, "functions": 0, "buckets": 0}
    assert not (state_dir / "life.json").exists()
    again = run("down", "--yes", state_dir=state_dir)
    assert again.exit_code == 0 and "nothing to delete" in again.output


def test_status_reports_drift_with_exit_3(mocked: None, state_dir: Path) -> None:
    assert run("up", state_dir=state_dir).exit_code == 0
    bucket = run("outputs", "bucket", state_dir=state_dir).stdout.strip()
    boto3.client("s3", region_name=REGION).delete_bucket_policy(Bucket=bucket)
    status = run("status", state_dir=state_dir)
    assert status.exit_code == 3
    assert "not sealed" in status.stdout
    plan = run("plan", "--output", "json", state_dir=state_dir)
    assert plan.exit_code == 0
    assert [s["step"] for s in json.loads(plan.stdout)["steps"] if s["action"] == "change"] == ["bucket"]
    assert run("up", state_dir=state_dir).exit_code == 0
    assert run("status", state_dir=state_dir).exit_code == 0


def test_down_empties_a_bucket_whose_policy_denies_the_operator(mocked: None, state_dir: Path) -> None:
    """moto refuses object calls under the deny policy: down must drop the policy before emptying."""
    assert run("up", state_dir=state_dir).exit_code == 0
    s3 = boto3.client("s3", region_name=REGION)
    bucket = run("outputs", "bucket", state_dir=state_dir).stdout.strip()
    sealed = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    s3.delete_bucket_policy(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for key in ("a.txt", "b.txt", "a.txt"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    s3.delete_object(Bucket=bucket, Key="b.txt")  # a delete marker too
    s3.put_bucket_policy(Bucket=bucket, Policy=sealed)
    with pytest.raises(s3.exceptions.ClientError) as refused:
        s3.put_object(Bucket=bucket, Key="c.txt", Body=b"x")
    assert refused.value.response["Error"]["Code"] in ("AccessDenied", "403")  # the order matters, in fact

    down = run("down", "--yes", state_dir=state_dir)
    assert down.exit_code == 0, down.output
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_up_with_options_records_them_for_later_commands(mocked: None, state_dir: Path) -> None:
    made = run("up", "--azs", "2", "--egress", "anywhere", "--bucket", "my-sealed-bucket-1", "--vpc-cidr",
               "10.42.0.0/16", state_dir=state_dir)
    assert made.exit_code == 0, made.output
    outputs: dict[str, Any] = json.loads(run("outputs", "--output", "json", state_dir=state_dir).stdout)
    assert len(outputs["subnet_ids"]) == 2 and outputs["bucket"] == "my-sealed-bucket-1"
    ec2 = boto3.client("ec2", region_name=REGION)
    group = ec2.describe_security_groups(GroupIds=[outputs["security_group_id"]])["SecurityGroups"][0]
    assert group["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    assert ec2.describe_vpcs(VpcIds=[outputs["vpc_id"]])["Vpcs"][0]["CidrBlock"] == "10.42.0.0/16"
    # status without the options compares against what up was asked for, not the defaults
    assert run("status", state_dir=state_dir).exit_code == 0
    changed = run("up", "--vpc-cidr", "10.9.0.0/16", state_dir=state_dir)
    assert changed.exit_code == 2 and "cannot change" in changed.output
    assert run("down", "--yes", state_dir=state_dir).exit_code == 0


def test_help_does_not_import_boto3() -> None:
    import subprocess
    import sys

    code = ("import sys\nfrom s3gw.cli import main\nsys.argv = ['s3gw', '--help']\ntry:\n    main()\n"
            "except SystemExit:\n    pass\nprint('boto3' in sys.modules, 'botocore' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "False False"
    assert "s3gw up" in done.stdout


def test_up_with_the_state_file_deleted_finds_everything_by_tag(mocked: None, state_dir: Path,
                                                                 call_log: CallLog) -> None:
    assert run("up", state_dir=state_dir).exit_code == 0
    made = count_stack_resources()
    recorded = json.loads((state_dir / "life.json").read_text())["resources"]
    (state_dir / "life.json").unlink()
    before = len(call_log.mutating)
    again = run("up", state_dir=state_dir)
    assert again.exit_code == 0, again.output
    assert call_log.mutating[before:] == []  # found, not made again
    assert count_stack_resources() == made
    assert json.loads((state_dir / "life.json").read_text())["resources"] == recorded
