"""`s3gw plan`: read calls only, and the same findings that `up` then acts on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
from conftest import REGION, CallLog, make_test_config

from s3gw import commands


def quiet(message: str) -> None:
    pass


def test_plan_on_a_new_a_complete_and_a_drifted_stack(mocked: None, state_dir: Path, call_log: CallLog) -> None:
    config = make_test_config(state_dir)

    new = commands.inspect.plan(config, quiet)
    assert [s.action for s in new.steps] == ["create"] * 8
    assert call_log.mutating == [] and not config.state_path.exists()  # read calls only, nothing written

    made = commands.up.up(config, quiet)
    assert [s.action for s in made.steps] == ["created"] * 8

    complete = commands.inspect.plan(config, quiet)
    assert [s.action for s in complete.steps] == ["ok"] * 8

    outputs = commands.inspect.recorded_outputs(config)
    ec2 = boto3.client("ec2", region_name=REGION)
    ec2.authorize_security_group_egress(GroupId=outputs["security_group_id"], IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.modify_vpc_endpoint(VpcEndpointId=outputs["endpoint_id"], RemoveRouteTableIds=[outputs["route_table_ids"][0]])
    boto3.client("lambda", region_name=REGION).update_function_configuration(
        FunctionName=outputs["function_name"], MemorySize=128)

    before = len(call_log.mutating)
    drifted = commands.inspect.plan(config, quiet)
    assert call_log.mutating[before:] == []
    changes = {s.step: s.details for s in drifted.steps if s.action == "change"}
    assert set(changes) == {"S3 gateway endpoint", "security group", "Lambda function"}
    assert changes["security group"] == ["extra egress rule: all traffic to 0.0.0.0/0"]
    assert "MemorySize" in changes["Lambda function"][0]

    repaired = commands.up.up(config, quiet)
    acted = {s.step: s.details for s in repaired.steps if s.action == "repaired"}
    assert acted == changes  # up acted on exactly what plan found
    assert [s.action for s in commands.inspect.plan(config, quiet).steps] == ["ok"] * 8


def _plan(state_dir: Path, *args: str) -> Any:
    from click.testing import CliRunner

    from s3gw.cli import cli

    return CliRunner().invoke(cli, ["plan", "--exit-code", "--stack", "t", "--region", REGION,
                                    "--state-dir", str(state_dir), *args])


def test_plan_command_shows_every_attribute_and_exits_3_on_pending_changes(mocked: None, state_dir: Path) -> None:
    """create, no-op, drift, --bucket change, --azs change: each with its exit code (0 nothing to do, 3 pending)."""
    new = _plan(state_dir, "--azs", "2")
    assert new.exit_code == 3, new.output
    text = new.stdout
    assert text.splitlines()[-1] == "plan: 8 to create, 0 to change, 0 unchanged"
    for attribute in ("+ VPC: create", "cidr_block = 10.0.0.0/16", "= 10.0.0.0/20 in eu-west-1a",
                      "= 10.0.16.0/20 in eu-west-1b", "name = t-lambda-https-out", "name = t-lambda-role",
                      "name = t-lister", "runtime = python3.12", "bucket = t-123456789012-eu-west-1",
                      "Gateway, com.amazonaws.eu-west-1.s3", "when aws:SourceVpce StringNotEquals (the new endpoint)",
                      "trust: Allow sts:AssumeRole to lambda.amazonaws.com"):
        assert attribute in text, (attribute, text)
    assert "eu-west-1c" not in text  # --azs 2
    assert not state_dir.exists()  # plan writes nothing

    assert commands.up.up(make_test_config(state_dir, azs=2), quiet).steps
    same = _plan(state_dir)
    assert same.exit_code == 0, same.output
    assert same.stdout.splitlines()[-1] == "plan: 0 to create, 0 to change, 8 unchanged"
    assert _plan(state_dir, "--azs", "2").exit_code == 0  # the recorded setting, repeated: nothing to do

    outputs = commands.inspect.recorded_outputs(make_test_config(state_dir))
    ec2 = boto3.client("ec2", region_name=REGION)
    ec2.authorize_security_group_egress(GroupId=outputs["security_group_id"], IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    drifted = _plan(state_dir)
    assert drifted.exit_code == 3, drifted.output
    assert f"~ security group: change {outputs['security_group_id']}" in drifted.stdout
    assert "    extra egress rule: all traffic to 0.0.0.0/0" in drifted.stdout
    assert drifted.stdout.splitlines()[-1] == "plan: 0 to create, 1 to change, 7 unchanged"
    assert _plan_without_exit_code(state_dir) == 0  # without --exit-code, plan exits 0 whatever it finds
    commands.up.up(make_test_config(state_dir), quiet)

    # A new --bucket would leave the recorded one behind: refused, as `up` refuses it (exit 2, one line).
    other_bucket = _plan(state_dir, "--bucket", "t-another-bucket")
    assert other_bucket.exit_code == 2, other_bucket.output
    assert len(other_bucket.stderr.strip().splitlines()) == 1 and "would leave it behind" in other_bucket.stderr
    assert other_bucket.stdout == ""

    more_zones = _plan(state_dir, "--azs", "3")
    assert more_zones.exit_code == 3, more_zones.output
    lines = more_zones.stdout.splitlines()
    assert "~ setting azs: 2 -> 3 (recorded by the last up)" in lines
    assert any(line.startswith("~ private subnets: change") for line in lines), lines
    assert "    no subnet in eu-west-1c" in lines
    assert lines[-1].endswith("1 setting changed")


def _plan_without_exit_code(state_dir: Path) -> int:
    from click.testing import CliRunner

    from s3gw.cli import cli

    arguments = ["plan", "--stack", "t", "--region", REGION, "--state-dir", str(state_dir)]
    return CliRunner().invoke(cli, arguments).exit_code
