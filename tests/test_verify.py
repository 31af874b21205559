"""`s3gw verify`: each pitfall of this setup broken on purpose, named, with exit 3 and the right hint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from conftest import REGION, make_test_config

from s3gw import commands
from s3gw.cli import cli
from s3gw.policy.documents import DATA_ACTIONS, LAMBDA_VPC_POLICY_ARN, bucket_policy
from s3gw.verify import VerifyReport


@pytest.fixture
def stack(mocked: None, state_dir: Path) -> Iterator[dict[str, Any]]:
    config = make_test_config(state_dir)
    commands.up.up(config, lambda message: None)
    yield {"config": config, **commands.inspect.recorded_outputs(config)}


def verify(stack: dict[str, Any], **kwargs: Any) -> VerifyReport:
    return commands.verify.verify(stack["config"], lambda message: None, **kwargs)


def broken(report: VerifyReport) -> dict[str, Any]:
    return {check.name: check for check in report.broken}


def ec2() -> Any:
    return boto3.client("ec2", region_name=REGION)


def test_a_healthy_stack_passes_every_link(stack: dict[str, Any]) -> None:
    report = verify(stack)
    assert report.ok, [c for c in report.checks if not c.ok]
    names = {c.name for c in report.checks}
    assert {"endpoint type", "endpoint service", "endpoint state", "egress is HTTPS only", "bucket region",
            "policy leaves the policy editable", "block public access", "role manages ENIs",
            "role reaches the bucket", "function"} <= names
    assert sum(1 for n in names if n.endswith(": route to S3")) == 3
    result = CliRunner().invoke(cli, ["verify", "--output", "json", "--stack", "t", "--region", REGION,
                                      "--state-dir", str(stack["config"].state_dir)])
    assert result.exit_code == 0 and json.loads(result.stdout)["ok"] is True


def test_security_group_without_https_egress_is_named(stack: dict[str, Any]) -> None:
    to_s3 = [{"PrefixListId": stack["prefix_list_id"]}]
    ec2().revoke_security_group_egress(GroupId=stack["security_group_id"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": to_s3}])
    ec2().authorize_security_group_egress(GroupId=stack["security_group_id"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    result = CliRunner().invoke(cli, ["verify", "--stack", "t", "--region", REGION,
                                      "--state-dir", str(stack["config"].state_dir)])
    assert result.exit_code == 3
    assert "✗ security groups: egress 443" in result.stdout and "allow no TCP 443" in result.stdout
    assert "run 's3gw up' (it repairs this)" in result.stdout


def test_the_default_allow_all_egress_left_in_place_is_named(stack: dict[str, Any]) -> None:
    ec2().authorize_security_group_egress(GroupId=stack["security_group_id"], IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    failures = broken(verify(stack))
    assert list(failures) == ["egress is HTTPS only"]
    assert "all traffic to 0.0.0.0/0" in failures["egress is HTTPS only"].detail


def test_the_main_table_trap_is_named(stack: dict[str, Any]) -> None:
    subnet = stack["subnet_ids"][0]
    table = ec2().describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])
    association = next(a for a in table["RouteTables"][0]["Associations"] if a.get("SubnetId") == subnet)
    ec2().disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
    failures = broken(verify(stack, function_name=stack["function_name"], bucket=stack["bucket"]))
    route = failures[f"{subnet}: route to S3"]
    assert "uses the main table" in route.detail
    assert f"associate {subnet} with a table the endpoint serves" in route.fix


def test_a_route_table_detached_from_the_endpoint_is_named(stack: dict[str, Any]) -> None:
    table = stack["route_table_ids"][1]
    ec2().modify_vpc_endpoint(VpcEndpointId=stack["endpoint_id"], RemoveRouteTableIds=[table])
    failures = broken(verify(stack, function_name=stack["function_name"], bucket=stack["bucket"]))
    route = failures[f"{stack['subnet_ids'][1]}: route to S3"]
    assert table in route.detail and "--add-route-table-ids" in route.fix


def replace_endpoint(stack: dict[str, Any], **create: Any) -> str:
    """Swap the stack's endpoint for a misconfigured one, and point the policy at it."""
    client = ec2()
    client.delete_vpc_endpoints(VpcEndpointIds=[stack["endpoint_id"]])
    made = client.create_vpc_endpoint(VpcId=stack["vpc_id"], **create)["VpcEndpoint"]["VpcEndpointId"]
    boto3.client("s3", region_name=REGION).put_bucket_policy(
        Bucket=stack["bucket"], Policy=json.dumps(bucket_policy(stack["bucket"], made)))
    return str(made)


def test_an_endpoint_for_another_regions_s3_is_named(stack: dict[str, Any]) -> None:
    made = replace_endpoint(stack, VpcEndpointType="Gateway", ServiceName="com.amazonaws.us-east-1.s3",
                            RouteTableIds=stack["route_table_ids"])
    report = verify(stack, function_name=stack["function_name"], bucket=stack["bucket"])
    failures = broken(report)
    assert report.endpoint_id == made
    assert "not com.amazonaws.eu-west-1.s3" in failures["endpoint service"].detail
    assert "--service-name com.amazonaws.eu-west-1.s3" in failures["endpoint service"].fix


def test_an_interface_endpoint_instead_of_a_gateway_is_named(stack: dict[str, Any]) -> None:
    made = replace_endpoint(stack, VpcEndpointType="Interface", ServiceName=f"com.amazonaws.{REGION}.s3",
                            SubnetIds=stack["subnet_ids"][:1])
    failures = broken(verify(stack, function_name=stack["function_name"], bucket=stack["bucket"]))
    assert f"{made} is of type Interface" in failures["endpoint type"].detail
    assert "Gateway endpoint" in failures["endpoint type"].fix


def test_a_bucket_in_another_region_is_named(stack: dict[str, Any]) -> None:
    s3 = boto3.client("s3", region_name="us-west-2")
    s3.create_bucket(Bucket="far-away-bucket", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    failures = broken(verify(stack, function_name=stack["function_name"], bucket="far-away-bucket"))
    assert "is in us-west-2" in failures["bucket region"].detail
    assert "use a bucket in eu-west-1" in failures["bucket region"].fix


def test_a_policy_naming_a_stale_endpoint_is_named(stack: dict[str, Any]) -> None:
    boto3.client("s3", region_name=REGION).put_bucket_policy(
        Bucket=stack["bucket"], Policy=json.dumps(bucket_policy(stack["bucket"], "vpce-0ld0000000000000")))
    result = CliRunner().invoke(cli, ["verify", "--function", stack["function_name"], "--bucket", stack["bucket"],
                                      "--region", REGION, "--state-dir", str(stack["config"].state_dir)])
    assert result.exit_code == 3
    assert "✗ seal: list: s3:ListBucket from" in result.stdout
    assert "vpce-0ld0000000000000" in result.stdout and "a stale endpoint id" in result.stdout


def test_source_vpc_confused_with_source_vpce_is_named(stack: dict[str, Any]) -> None:
    policy = bucket_policy(stack["bucket"], stack["endpoint_id"])
    condition = policy["Statement"][0]["Condition"]["StringNotEquals"]
    condition["aws:SourceVpc"] = condition.pop("aws:SourceVpce")
    boto3.client("s3", region_name=REGION).put_bucket_policy(Bucket=stack["bucket"], Policy=json.dumps(policy))
    failures = broken(verify(stack))
    assert "use aws:SourceVpce" in failures["seal: get"].fix


def test_a_policy_that_locks_the_operator_out_is_named(stack: dict[str, Any]) -> None:
    policy = bucket_policy(stack["bucket"], stack["endpoint_id"])
    del policy["Statement"][0]["NotAction"]
    policy["Statement"][0]["Action"] = "s3:*"
    boto3.client("s3", region_name=REGION).put_bucket_policy(Bucket=stack["bucket"], Policy=json.dumps(policy))
    failures = broken(verify(stack))
    check = failures["policy leaves the policy editable"]
    assert "s3:PutBucketPolicy" in check.detail and "only the account root" in check.detail
    assert "never deny s3:*BucketPolicy" in check.fix


def test_no_bucket_policy_at_all_is_named(stack: dict[str, Any]) -> None:
    boto3.client("s3", region_name=REGION).delete_bucket_policy(Bucket=stack["bucket"])
    assert "answers from anywhere" in broken(verify(stack))["seal (bucket policy)"].detail


def test_block_public_access_off_is_named(stack: dict[str, Any]) -> None:
    boto3.client("s3", region_name=REGION).delete_public_access_block(Bucket=stack["bucket"])
    assert "BlockPublicPolicy" in broken(verify(stack))["block public access"].detail


def test_a_role_without_eni_permissions_is_named(stack: dict[str, Any]) -> None:
    boto3.client("iam").detach_role_policy(RoleName=stack["role_name"], PolicyArn=LAMBDA_VPC_POLICY_ARN)
    failures = broken(verify(stack, function_name=stack["function_name"], bucket=stack["bucket"]))
    assert "ec2:CreateNetworkInterface" in failures["role manages ENIs"].detail
    assert "AWSLambdaVPCAccessExecutionRole" in failures["role manages ENIs"].fix


def test_a_role_without_bucket_access_is_named(stack: dict[str, Any]) -> None:
    boto3.client("iam").delete_role_policy(RoleName=stack["role_name"], PolicyName="s3gw-bucket-access")
    assert "s3:ListBucket" in broken(verify(stack))["role reaches the bucket"].detail


def test_a_function_moved_out_of_the_stacks_subnets_is_named(stack: dict[str, Any]) -> None:
    boto3.client("lambda", region_name=REGION).update_function_configuration(
        FunctionName=stack["function_name"], VpcConfig={"SubnetIds": stack["subnet_ids"][:1],
                                                        "SecurityGroupIds": [stack["security_group_id"]]})
    assert "are not the stack's" in broken(verify(stack))["function"].detail


def test_verify_on_a_missing_function_is_one_line(stack: dict[str, Any]) -> None:
    result = CliRunner().invoke(cli, ["verify", "--function", "nope", "--bucket", stack["bucket"],
                                      "--region", REGION, "--state-dir", str(stack["config"].state_dir)])
    assert result.exit_code == 1 and "function nope not found" in result.stderr
    lonely = CliRunner().invoke(cli, ["verify", "--function", "nope", "--region", REGION])
    assert lonely.exit_code == 2 and "go together" in lonely.stderr


def the_old_four_action_seal(bucket: str, endpoint_id: str) -> dict[str, Any]:
    """What s3gw wrote before: only ListBucket and Get/Put/DeleteObject denied off the endpoint."""
    policy = bucket_policy(bucket, endpoint_id)
    del policy["Statement"][0]["NotAction"]
    policy["Statement"][0]["Action"] = ["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    return policy


def test_a_healthy_stack_seals_every_data_action_class(stack: dict[str, Any]) -> None:
    checks = {c.name: c for c in verify(stack).checks}
    for kind in DATA_ACTIONS:
        assert checks[f"seal: {kind}"].ok, checks[f"seal: {kind}"]
    assert checks["endpoint policy scope"].ok and checks["endpoint policy lets the function through"].ok
    assert "none" in checks["seal exemptions"].detail


def test_the_old_four_action_policy_is_reported_as_leaking_versions(stack: dict[str, Any]) -> None:
    boto3.client("s3", region_name=REGION).put_bucket_policy(
        Bucket=stack["bucket"], Policy=json.dumps(the_old_four_action_seal(stack["bucket"], stack["endpoint_id"])))
    # a setup s3gw did not make: --function/--bucket
    failures = broken(verify(stack, function_name=stack["function_name"], bucket=stack["bucket"]))
    versions = failures["seal: list versions"]
    assert "s3:ListBucketVersions" in versions.detail and "leaks every key and version id" in versions.detail
    assert "NotAction" in versions.fix and stack["endpoint_id"] in versions.fix
    assert "versionId=null" in failures["seal: get version"].detail
    for kind in ("delete version", "ACL", "tagging", "multipart", "restore"):
        assert f"seal: {kind}" in failures
    assert "s3:GetObjectAttributes" in failures["seal: get"].detail  # GetObject it sealed, not this
    for kind in ("list", "put", "delete"):  # these it did seal
        assert f"seal: {kind}" not in failures


def test_a_full_access_endpoint_policy_is_reported_as_an_exfiltration_path(stack: dict[str, Any]) -> None:
    full = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}
    ec2().modify_vpc_endpoint(VpcEndpointId=stack["endpoint_id"], PolicyDocument=json.dumps(full))
    failures = broken(verify(stack, function_name=stack["function_name"], bucket=stack["bucket"]))
    scope = failures["endpoint policy scope"]
    assert "exfiltration path" in scope.detail and "write to a bucket of another account" in scope.detail
    assert "aws:PrincipalAccount" in scope.fix
    own = broken(verify(stack))["endpoint policy scope"]  # on the stack: up repairs it
    assert "s3gw up" in own.fix


def test_an_endpoint_policy_that_shuts_out_the_function_is_named(stack: dict[str, Any]) -> None:
    other = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*",
                            "Resource": ["arn:aws:s3:::elsewhere", "arn:aws:s3:::elsewhere/*"]}]}
    ec2().modify_vpc_endpoint(VpcEndpointId=stack["endpoint_id"], PolicyDocument=json.dumps(other))
    assert "refuses s3:ListBucket" in broken(verify(stack))["endpoint policy lets the function through"].detail


def test_unseal_then_verify_names_the_missing_seal_then_up_seals_again(stack: dict[str, Any]) -> None:
    args = ["--stack", "t", "--region", REGION, "--state-dir", str(stack["config"].state_dir)]
    unsealed = CliRunner().invoke(cli, ["unseal", "--yes", *args])
    assert unsealed.exit_code == 0, unsealed.output
    assert "unsealed" in unsealed.stderr
    checked = CliRunner().invoke(cli, ["verify", *args])
    assert checked.exit_code == 3
    assert "✗ seal (bucket policy)" in checked.stdout and "unsealed" in checked.stdout
    status = CliRunner().invoke(cli, ["status", *args])
    assert status.exit_code == 3 and "not sealed" in status.stdout
    # everything else stays
    assert boto3.client("lambda", region_name=REGION).get_function(FunctionName=stack["function_name"])
    assert CliRunner().invoke(cli, ["up", *args]).exit_code == 0
    assert CliRunner().invoke(cli, ["verify", *args]).exit_code == 0


def test_allow_principal_is_recorded_shown_and_sealed_in(stack: dict[str, Any]) -> None:
    ci = "arn:aws:iam::123456789012:role/ci-deploy"
    args = ["--stack", "t", "--region", REGION, "--state-dir", str(stack["config"].state_dir)]
    plan = CliRunner().invoke(cli, ["plan", "--allow-principal", ci, *args])
    assert plan.exit_code == 0 and ci in plan.stdout
    assert CliRunner().invoke(cli, ["up", "--allow-principal", ci, *args]).exit_code == 0
    policy = json.loads(boto3.client("s3", region_name=REGION).get_bucket_policy(Bucket=stack["bucket"])["Policy"])
    assert policy["Statement"][0]["Condition"]["ArnNotLike"] == {"aws:PrincipalArn": [ci]}
    # recorded: a later verify (no option) expects it, and a changed policy is named
    checks = {c.name: c for c in verify(stack).checks}
    assert checks["seal exemptions"].ok and ci in checks["seal exemptions"].detail
    boto3.client("s3", region_name=REGION).put_bucket_policy(
        Bucket=stack["bucket"], Policy=json.dumps(bucket_policy(stack["bucket"], stack["endpoint_id"])))
    assert "the stack asks for " + ci in broken(verify(stack))["seal exemptions"].detail
    assert CliRunner().invoke(cli, ["up", "--no-allow-principals", *args]).exit_code == 0
    assert verify(stack).ok


@pytest.mark.parametrize("arn, said", [
    ("arn:aws:sts::123456789012:assumed-role/ci/session", "name the role"),
    ("ci-deploy", "invalid --allow-principal"),
    ("arn:aws:iam::12345:role/x", "invalid --allow-principal"),
])
def test_a_bad_allow_principal_is_one_line(arn: str, said: str) -> None:
    result = CliRunner().invoke(cli, ["plan", "--allow-principal", arn, "--region", REGION])
    assert result.exit_code == 2 and said in result.stderr and "Traceback" not in result.output
