"""`s3gw plan`: read calls only, and the same findings that `up` then acts on."""

from __future__ import annotations

from pathlib import Path

import boto3
from conftest import REGION, CallLog, make_test_config

from s3gw import engine


def quiet(message: str) -> None:
    pass


def test_plan_on_a_new_a_complete_and_a_drifted_stack(mocked: None, state_dir: Path, call_log: CallLog) -> None:
    config = make_test_config(state_dir)

    new = engine.plan(config, quiet)
    assert [s.action for s in new.steps] == ["create"] * 8
    assert call_log.mutating == [] and not config.state_path.exists()  # read calls only, nothing written

    made = engine.up(config, quiet)
    assert [s.action for s in made.steps] == ["created"] * 8

    complete = engine.plan(config, quiet)
    assert [s.action for s in complete.steps] == ["ok"] * 8

    outputs = engine.recorded_outputs(config)
    ec2 = boto3.client("ec2", region_name=REGION)
    ec2.authorize_security_group_egress(GroupId=outputs["security_group_id"], IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.modify_vpc_endpoint(VpcEndpointId=outputs["endpoint_id"], RemoveRouteTableIds=[outputs["route_table_ids"][0]])
    boto3.client("lambda", region_name=REGION).update_function_configuration(
        FunctionName=outputs["function_name"], MemorySize=128)

    before = len(call_log.mutating)
    drifted = engine.plan(config, quiet)
    assert call_log.mutating[before:] == []
    changes = {s.step: s.details for s in drifted.steps if s.action == "change"}
    assert set(changes) == {"S3 gateway endpoint", "security group", "Lambda function"}
    assert changes["security group"] == ["extra egress rule: all traffic to 0.0.0.0/0"]
    assert "MemorySize" in changes["Lambda function"][0]

    repaired = engine.up(config, quiet)
    acted = {s.step: s.details for s in repaired.steps if s.action == "repaired"}
    assert acted == changes  # up acted on exactly what plan found
    assert [s.action for s in engine.plan(config, quiet).steps] == ["ok"] * 8
