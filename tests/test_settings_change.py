"""A recorded setting changed on a later `up`: converged when `up` can do it, else refused (exit 2, one line
naming the way), never silently recorded."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
from click.testing import CliRunner, Result
from conftest import REGION

from s3gw.cli import cli


def run(state_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--stack", "t", "--region", REGION, "--state-dir", str(state_dir)])


def test_a_new_bucket_name_on_a_stack_with_a_bucket_is_refused(mocked: None, tmp_path: Path) -> None:
    assert run(tmp_path, "up").exit_code == 0
    before = (tmp_path / "t.json").read_text()
    for command in ("up", "plan"):
        refused = run(tmp_path, command, "--bucket", "a-new-bucket-name")
        assert refused.exit_code == 2, refused.output
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and "--bucket a-new-bucket-name would leave it behind" in lines[0]
        assert "run 's3gw down' first" in lines[0]
    assert (tmp_path / "t.json").read_text() == before  # nothing recorded
    assert [b["Name"] for b in boto3.client("s3", region_name=REGION).list_buckets()["Buckets"]] == [
        json.loads(before)["resources"]["bucket"]]
    assert run(tmp_path, "up", "--bucket", json.loads(before)["resources"]["bucket"]).exit_code == 0  # same: fine


def test_more_azs_are_converged_and_fewer_refused(mocked: None, tmp_path: Path) -> None:
    assert run(tmp_path, "up", "--azs", "1").exit_code == 0
    grown = run(tmp_path, "up", "--azs", "2")
    assert grown.exit_code == 0, grown.output
    state = json.loads((tmp_path / "t.json").read_text())
    subnets = state["resources"]["subnet_ids"]
    assert len(subnets) == 2 and state["settings"]["azs"] == 2 and len(state["resources"]["route_table_ids"]) == 2
    function = boto3.client("lambda", region_name=REGION).get_function_configuration(FunctionName="t-lister")
    assert sorted(function["VpcConfig"]["SubnetIds"]) == sorted(subnets)
    endpoint = boto3.client("ec2", region_name=REGION).describe_vpc_endpoints(
        VpcEndpointIds=[state["resources"]["endpoint_id"]])["VpcEndpoints"][0]
    assert sorted(endpoint["RouteTableIds"]) == sorted(state["resources"]["route_table_ids"])
    assert run(tmp_path, "status").exit_code == 0

    shrunk = run(tmp_path, "up", "--azs", "1")
    assert shrunk.exit_code == 2
    lines = shrunk.stderr.strip().splitlines()
    assert len(lines) == 1 and "has 2 subnets; --azs 1 would remove some" in lines[0] and "'s3gw down'" in lines[0]
    assert json.loads((tmp_path / "t.json").read_text())["settings"]["azs"] == 2  # not silently recorded
