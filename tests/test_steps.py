"""Each step on moto: created once, found (not re-created) on a second run, and repaired after breaking it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REGION, CallLog, make_test_config

from s3gw import commands
from s3gw import state as state_file
from s3gw.policy.documents import INLINE_POLICY_NAME, LAMBDA_VPC_POLICY_ARN, bucket_policy, canonical, endpoint_policy
from s3gw.run import open_context
from s3gw.steps import STEPS, Context, Step


def step(name: str) -> Step:
    return next(s for s in STEPS if s.name == name)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
    """One stack for the module, made by `up`; each test breaks one thing and leaves it healthy again."""
    from moto import mock_aws

    with mock_aws():
        config = make_test_config(tmp_path_factory.mktemp("state"))
        ctx = open_context(config, lambda message: None, persist=True)
        commands.up.up(config, lambda message: None, ctx=ctx)
        yield ctx


def converges(ctx: Context, name: str, expected_key_prefix: str) -> list[str]:
    """check() must see the damage, repair() must fix it, and a second check() must see nothing."""
    s = step(name)
    ctx.seen.clear()  # the damage was done after `up`: the run that meets it reads afresh
    drifts = s.check(ctx)
    assert drifts, f"{name}: the damage was not seen"
    assert any(d.key.startswith(expected_key_prefix) for d in drifts), drifts
    s.repair(ctx, drifts)
    assert s.check(ctx) == [], f"{name}: still drifted after repair"
    return [d.detail for d in drifts]


def test_every_step_runs_twice_without_a_second_create(mocked: None, state_dir: Path, call_log: CallLog) -> None:
    config = make_test_config(state_dir)
    ctx = open_context(config, lambda message: None, persist=True)
    for s in [s for s in STEPS if s.active(ctx)]:  # your function (--code): tests/test_app_function.py
        assert s.find(ctx) is None, f"{s.name} found before it was made"
        s.create(ctx)
        s.repair(ctx, s.check(ctx))
        first = {key: ctx.outputs.get(key) for key in s.keys}
        before = len(call_log.mutating)
        found = s.find(ctx)  # the second run: the resource is found, by id or tag, and nothing is created
        assert found is not None and all(found[k] == first[k] for k in found), (s.name, found, first)
        assert s.check(ctx) == []
        assert call_log.mutating[before:] == [], f"{s.name}: a second run made {call_log.mutating[before:]}"
    saved = json.loads(config.state_path.read_text())["resources"]
    assert len(saved["subnet_ids"]) == 3 and len(saved["route_table_ids"]) == 3
    assert saved["endpoint_id"].startswith("vpce-") and saved["function_name"] == "t-lister"


def test_steps_find_by_tag_when_the_state_file_is_lost(stack: Context) -> None:
    blank = Context(config=stack.config, aws=stack.aws, state=state_file.State(
        store=state_file.LocalStore(stack.config.state_dir / "lost.json"), stack="t", region=REGION),
        persist=False)
    for s in [s for s in STEPS if s.active(blank)]:
        found = s.find(blank)
        assert found is not None, f"{s.name} not found by tag"
        blank.outputs.update(found)
        assert all(found[k] == stack.outputs[k] for k in found), s.name


def test_vpc_dns_hostnames_turned_off_is_turned_back_on(stack: Context) -> None:
    stack.aws.ec2.modify_vpc_attribute(VpcId=stack.outputs["vpc_id"], EnableDnsHostnames={"Value": False})
    converges(stack, "vpc", "enableDnsHostnames")


def test_a_deleted_subnet_is_made_again_in_its_zone(stack: Context) -> None:
    ec2 = stack.aws.ec2
    lost = stack.outputs["subnet_ids"][1]
    zone = ec2.describe_subnets(SubnetIds=[lost])["Subnets"][0]["AvailabilityZone"]
    on_subnet = [{"Name": "association.subnet-id", "Values": [lost]}]
    for table in ec2.describe_route_tables(Filters=on_subnet)["RouteTables"]:
        for association in table["Associations"]:
            ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
    ec2.delete_subnet(SubnetId=lost)
    converges(stack, "subnets", "1")
    again = stack.outputs["subnet_ids"][1]
    assert again != lost
    assert ec2.describe_subnets(SubnetIds=[again])["Subnets"][0]["AvailabilityZone"] == zone
    # The new subnet needs its route table and the endpoint route: the later steps see that too.
    converges(stack, "route_tables", "create:")
    converges(stack, "endpoint", "rtb-")
    converges(stack, "function", "configuration")


def test_a_detached_route_table_is_associated_again(stack: Context) -> None:
    ec2 = stack.aws.ec2
    subnet = stack.outputs["subnet_ids"][0]
    table = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["RouteTables"][0]
    association = next(a for a in table["Associations"] if a.get("SubnetId") == subnet)
    ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
    converges(stack, "route_tables", f"associate:{subnet}")
    now = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["RouteTables"]
    assert [t["RouteTableId"] for t in now] == [table["RouteTableId"]]


def test_a_route_table_removed_from_the_endpoint_is_added_back(stack: Context) -> None:
    table = stack.outputs["route_table_ids"][2]
    stack.aws.ec2.modify_vpc_endpoint(VpcEndpointId=stack.outputs["endpoint_id"], RemoveRouteTableIds=[table])
    converges(stack, "endpoint", table)
    endpoint = stack.aws.ec2.describe_vpc_endpoints(VpcEndpointIds=[stack.outputs["endpoint_id"]])["VpcEndpoints"][0]
    assert set(endpoint["RouteTableIds"]) == set(stack.outputs["route_table_ids"])


@pytest.mark.parametrize("policy", [
    {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]},  # AWS's default
    {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::*"}]},
], ids=["full-access", "every-bucket"])
def test_a_widened_endpoint_policy_is_narrowed_again(stack: Context, policy: dict[str, Any]) -> None:
    endpoint_id = stack.outputs["endpoint_id"]
    stack.aws.ec2.modify_vpc_endpoint(VpcEndpointId=endpoint_id, PolicyDocument=json.dumps(policy))
    details = converges(stack, "endpoint", "policy")
    assert "not limited to the stack's bucket" in details[0]
    endpoint = stack.aws.ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]
    assert canonical(endpoint["PolicyDocument"]) == canonical(
        endpoint_policy(stack.outputs["bucket"], stack.aws.account))


def test_the_trust_policy_without_source_account_is_converged(stack: Context) -> None:
    open_trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    stack.aws.iam.update_assume_role_policy(RoleName=stack.outputs["role_name"], PolicyDocument=json.dumps(open_trust))
    details = converges(stack, "role", "trust")
    assert "this account's functions only" in details[0]
    trust = stack.aws.iam.get_role(RoleName=stack.outputs["role_name"])["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Condition"] == {"StringEquals": {"aws:SourceAccount": stack.aws.account}}


def test_a_subnet_moved_to_the_main_table_gets_the_endpoint_back(stack: Context) -> None:
    """The main-table trap: after the explicit association is gone, the subnet falls back to the main table."""
    ec2 = stack.aws.ec2
    subnet = stack.outputs["subnet_ids"][2]
    table = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["RouteTables"][0]
    association = next(a for a in table["Associations"] if a.get("SubnetId") == subnet)
    ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
    # The route-table step is the fix: the subnet is put back on its own table, which has the endpoint route.
    converges(stack, "route_tables", f"associate:{subnet}")
    assert step("endpoint").check(stack) == []


def test_a_changed_bucket_policy_is_sealed_again(stack: Context) -> None:
    s3, bucket = stack.aws.s3, stack.outputs["bucket"]
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(bucket_policy(bucket, "vpce-0123456789abcdef0")))
    details = converges(stack, "bucket", "policy")
    assert "differs" in details[0]
    sealed = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert sealed == bucket_policy(bucket, stack.outputs["endpoint_id"])


def test_a_deleted_policy_and_public_access_block_are_restored(stack: Context) -> None:
    s3, bucket = stack.aws.s3, stack.outputs["bucket"]
    s3.delete_bucket_policy(Bucket=bucket)
    s3.delete_public_access_block(Bucket=bucket)
    s3.delete_bucket_encryption(Bucket=bucket)
    details = converges(stack, "bucket", "")
    assert any("not sealed" in d for d in details) and any("Public Access" in d for d in details)


def test_the_allow_all_egress_rule_added_back_is_revoked(stack: Context) -> None:
    ec2, group = stack.aws.ec2, stack.outputs["security_group_id"]
    ec2.authorize_security_group_egress(GroupId=group, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    details = converges(stack, "security_group", "revoke-egress")
    assert "extra egress rule: all traffic to 0.0.0.0/0" in details
    described = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]
    assert described["IpPermissions"] == []
    assert [(p["IpProtocol"], p.get("FromPort"), [x["PrefixListId"] for x in p["PrefixListIds"]])
            for p in described["IpPermissionsEgress"]] == [("tcp", 443, [stack.outputs["prefix_list_id"]])]


def test_a_revoked_https_egress_rule_is_allowed_again(stack: Context) -> None:
    ec2, group = stack.aws.ec2, stack.outputs["security_group_id"]
    ec2.revoke_security_group_egress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "PrefixListIds": [{"PrefixListId": stack.outputs["prefix_list_id"]}]}])
    converges(stack, "security_group", "allow-egress")


def test_the_role_gets_its_policies_back(stack: Context) -> None:
    iam, role = stack.aws.iam, stack.outputs["role_name"]
    iam.detach_role_policy(RoleName=role, PolicyArn=LAMBDA_VPC_POLICY_ARN)
    iam.delete_role_policy(RoleName=role, PolicyName=INLINE_POLICY_NAME)
    details = converges(stack, "role", "vpc_access")
    assert len(details) == 2
    attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [LAMBDA_VPC_POLICY_ARN]


def test_a_changed_function_configuration_is_put_back(stack: Context) -> None:
    lam, name = stack.aws.lambda_, stack.outputs["function_name"]
    lam.update_function_configuration(FunctionName=name, Timeout=60, Environment={"Variables": {"BUCKET_NAME": "x"}})
    details = converges(stack, "function", "configuration")
    assert "Timeout" in details[0] and "Environment" in details[0]
    configuration = lam.get_function_configuration(FunctionName=name)
    assert configuration["Timeout"] == 5
    assert configuration["Environment"]["Variables"] == {"BUCKET_NAME": stack.outputs["bucket"]}


def test_changed_function_code_is_uploaded_again(stack: Context) -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return 'tampered'\n")
    lam, name = stack.aws.lambda_, stack.outputs["function_name"]
    lam.update_function_code(FunctionName=name, ZipFile=buffer.getvalue())
    converges(stack, "function", "code")


def test_a_table_added_to_an_endpoint_gets_its_route_and_loses_it_when_taken_off(mocked: None) -> None:
    """EC2 adds a gateway endpoint's route to a table given by ModifyVpcEndpoint as by CreateVpcEndpoint (moto_glue
    .route_gateway_endpoint_tables): `up` adds a table made after the endpoint that way, and `down` must delete it."""
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    first, second = (ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"] for _ in range(2))
    endpoint = ec2.create_vpc_endpoint(VpcEndpointType="Gateway", VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3",
                                       RouteTableIds=[first])["VpcEndpoint"]["VpcEndpointId"]

    def targets(table: str) -> list[str]:
        routes = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]["Routes"]
        return [r.get("GatewayId", "") for r in routes if r.get("DestinationPrefixListId")]

    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint, AddRouteTableIds=[second])
    assert targets(second) == [endpoint]
    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint, RemoveRouteTableIds=[first])
    assert targets(first) == []
    ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint])  # moto alone: InvalidRoute.NotFound on `second`
    assert targets(second) == []


def test_an_endpoint_deleted_outside_s3gw_is_made_again_and_the_bucket_resealed(mocked: None, state_dir: Path) -> None:
    """The recorded id is stale: find() must not trust it, up makes a new endpoint, and the policy follows it."""
    config = make_test_config(state_dir, stack="stale")  # not the module's stack "t": a fresh one of its own
    stack = open_context(config, lambda message: None, persist=True)
    commands.up.up(config, lambda message: None, ctx=stack)
    ec2, old = stack.aws.ec2, stack.outputs["endpoint_id"]
    ec2.delete_vpc_endpoints(VpcEndpointIds=[old])
    assert step("endpoint").find(stack) is None
    commands.up.up(stack.config, lambda message: None, ctx=stack)
    new = stack.outputs["endpoint_id"]
    assert new != old and json.loads(stack.config.state_path.read_text())["resources"]["endpoint_id"] == new
    endpoint = ec2.describe_vpc_endpoints(VpcEndpointIds=[new])["VpcEndpoints"][0]
    assert set(endpoint["RouteTableIds"]) == set(stack.outputs["route_table_ids"])
    policy = stack.aws.s3.get_bucket_policy(Bucket=stack.outputs["bucket"])["Policy"]
    assert new in policy and old not in policy


def test_a_healthy_stack_reports_no_drift_at_the_end(stack: Context) -> None:
    assert all(s.check(stack) == [] for s in STEPS if s.active(stack))


def outputs_of(ctx: Context) -> dict[str, Any]:
    return commands.reports.outputs_of(ctx.outputs)
