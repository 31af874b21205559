"""The DynamoDB lane on moto in-process (issue 22): `up --table` makes the endpoint, the table and its seal, the
group's egress and the role's item actions; a second run makes nothing; each is repaired after breaking it; `down`
leaves nothing; an adopted table gets its policy back exactly and keeps its items."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import REGION, CallLog, make_test_config

from s3gw import commands
from s3gw.policy.documents import INLINE_POLICY_NAME, TABLE_ITEM_ACTIONS, canonical, parse_policy
from s3gw.run import open_context
from s3gw.steps import STEPS, Context, Step


def step(name: str) -> Step:
    return next(s for s in STEPS if s.name == name)


def up(state_dir: Path, **options: Any) -> Context:
    config = make_test_config(state_dir, **options)
    ctx = open_context(config, lambda message: None, persist=True)
    commands.up.up(config, lambda message: None, ctx=ctx)
    return ctx


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
    from moto import mock_aws

    with mock_aws():
        yield up(tmp_path_factory.mktemp("state"), table="orders")


def test_up_with_a_table_makes_the_dynamodb_lane(stack: Context) -> None:
    out, ec2, ddb = stack.outputs, boto3.client("ec2", REGION), boto3.client("dynamodb", REGION)
    endpoint = ec2.describe_vpc_endpoints(VpcEndpointIds=[out["dynamodb_endpoint_id"]])["VpcEndpoints"][0]
    assert endpoint["ServiceName"] == f"com.amazonaws.{REGION}.dynamodb" and endpoint["VpcEndpointType"] == "Gateway"
    assert sorted(endpoint["RouteTableIds"]) == sorted(out["route_table_ids"])
    scoped = parse_policy(endpoint["PolicyDocument"])["Statement"][0]
    assert scoped["Resource"] == [out["table_arn"], out["table_arn"] + "/index/*"]
    assert sorted(scoped["Action"]) == sorted(TABLE_ITEM_ACTIONS)
    table = ddb.describe_table(TableName="orders")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["SSEDescription"]["Status"] == "ENABLED" and table["DeletionProtectionEnabled"] is False
    tags = {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=out["table_arn"])["Tags"]}
    assert tags["s3gw:stack"] == "t"
    seal = json.loads(ddb.get_resource_policy(ResourceArn=out["table_arn"])["Policy"])["Statement"][0]
    assert seal["Effect"] == "Deny" and seal["Condition"]["StringNotEquals"] == {
        "aws:SourceVpce": out["dynamodb_endpoint_id"]}
    assert "dynamodb:GetItem" not in seal["NotAction"] and "dynamodb:PutResourcePolicy" in seal["NotAction"]
    group = ec2.describe_security_groups(GroupIds=[out["security_group_id"]])["SecurityGroups"][0]
    lists = {p["PrefixListId"] for rule in group["IpPermissionsEgress"] for p in rule.get("PrefixListIds", [])}
    assert lists == {out["prefix_list_id"], out["dynamodb_prefix_list_id"]}
    inline = boto3.client("iam").get_role_policy(RoleName=out["role_name"], PolicyName=INLINE_POLICY_NAME)
    table_statement = [s for s in inline["PolicyDocument"]["Statement"] if s.get("Sid") == "UseTheTableItems"][0]
    assert sorted(table_statement["Action"]) == sorted(TABLE_ITEM_ACTIONS)
    function = boto3.client("lambda", REGION).get_function_configuration(FunctionName=out["function_name"])
    assert function["Environment"]["Variables"]["TABLE_NAME"] == "orders"


def test_a_second_up_makes_no_call_that_changes_anything(stack: Context, call_log: CallLog) -> None:
    commands.up.up(stack.config, lambda message: None)
    assert call_log.mutating == []


def converges(ctx: Context, name: str, key: str) -> None:
    s = step(name)
    ctx.seen.clear()
    drifts = s.check(ctx)
    assert any(d.key.startswith(key) for d in drifts), drifts
    s.repair(ctx, drifts)
    ctx.seen.clear()
    assert s.check(ctx) == []


def test_a_removed_table_seal_is_put_back(stack: Context) -> None:
    boto3.client("dynamodb", REGION).delete_resource_policy(ResourceArn=stack.outputs["table_arn"])
    converges(stack, "table", "policy")


def test_a_widened_dynamodb_endpoint_policy_is_narrowed_and_a_table_added_back(stack: Context) -> None:
    ec2 = boto3.client("ec2", REGION)
    full = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}
    ec2.modify_vpc_endpoint(VpcEndpointId=stack.outputs["dynamodb_endpoint_id"], PolicyDocument=json.dumps(full),
                            RemoveRouteTableIds=[stack.outputs["route_table_ids"][0]])
    converges(stack, "dynamodb_endpoint", "policy")


def test_the_dynamodb_egress_rule_removed_is_allowed_again(stack: Context) -> None:
    boto3.client("ec2", REGION).revoke_security_group_egress(
        GroupId=stack.outputs["security_group_id"], IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
            "PrefixListIds": [{"PrefixListId": stack.outputs["dynamodb_prefix_list_id"]}]}])
    converges(stack, "security_group", "allow-egress")


def test_a_table_of_the_same_name_not_the_stacks_is_refused(mocked: None, state_dir: Path) -> None:
    boto3.client("dynamodb", REGION).create_table(
        TableName="someone", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    with pytest.raises(Exception, match="not this stack's"):
        up(state_dir, table="someone", stack="other")


def test_down_deletes_the_table_and_its_endpoint(mocked: None, state_dir: Path) -> None:
    ctx = up(state_dir, table="gone", stack="down")
    endpoint_id = ctx.outputs["dynamodb_endpoint_id"]
    commands.down.down(ctx.config, lambda message: None, wait=60)
    assert "gone" not in boto3.client("dynamodb", REGION).list_tables()["TableNames"]
    assert endpoint_id not in {e["VpcEndpointId"] for e in boto3.client("ec2", REGION).describe_vpc_endpoints()[
        "VpcEndpoints"] if e["State"] not in ("deleted", "deleting")}


USER_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Sid": "ReadersRead", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/reader"},
    "Action": "dynamodb:GetItem", "Resource": f"arn:aws:dynamodb:{REGION}:123456789012:table/theirs"}]}, indent=1)


def test_an_adopted_table_is_sealed_by_merge_and_down_restores_it_exactly(mocked: None, state_dir: Path) -> None:
    ddb = boto3.client("dynamodb", REGION)
    arn = ddb.create_table(
        TableName="theirs", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST")["TableDescription"]["TableArn"]
    ddb.put_resource_policy(ResourceArn=arn, Policy=USER_POLICY)
    ddb.put_item(TableName="theirs", Item={"id": {"S": "kept"}})
    ctx = up(state_dir, table="theirs", adopt=True, stack="adopts")
    merged = json.loads(ddb.get_resource_policy(ResourceArn=arn)["Policy"])
    assert [s["Sid"] for s in merged["Statement"]] == ["ReadersRead", "S3gwDenyItemsUnlessThroughEndpoint"]
    assert ctx.state.settings["table_adopt"] is True
    commands.down.down(ctx.config, lambda message: None, wait=60)
    assert ddb.get_resource_policy(ResourceArn=arn)["Policy"] == USER_POLICY  # the very text
    assert ddb.scan(TableName="theirs")["Items"] == [{"id": {"S": "kept"}}]
    assert canonical(USER_POLICY)  # readable


def test_an_adopted_table_without_a_policy_has_none_after_down(mocked: None, state_dir: Path) -> None:
    ddb = boto3.client("dynamodb", REGION)
    arn = ddb.create_table(
        TableName="bare", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST")["TableDescription"]["TableArn"]
    ctx = up(state_dir, table="bare", adopt=True, stack="bare")
    assert ddb.get_resource_policy(ResourceArn=arn)["Policy"]
    commands.down.down(ctx.config, lambda message: None, wait=60)
    with pytest.raises(ddb.exceptions.PolicyNotFoundException):
        ddb.get_resource_policy(ResourceArn=arn)
    assert "bare" in ddb.list_tables()["TableNames"]


def test_plan_names_the_table_and_its_endpoint_and_permissions_grant_only_that_table(
        mocked: None, state_dir: Path) -> None:
    from s3gw.permissions import policy_document

    config = make_test_config(state_dir, table="planned-orders", stack="planned")
    report = commands.inspect.plan(config, lambda message: None)
    text = json.dumps(report, default=lambda o: getattr(o, "__dict__", str(o)))
    assert "DynamoDB table" in text and "DynamoDB gateway endpoint" in text
    assert f"com.amazonaws.{REGION}.dynamodb" in text and "billing = on-demand" in text
    assert "TABLE_NAME=planned-orders" in text and "the DynamoDB prefix list" in text
    statements = policy_document(commands.verify.permissions_target(config, "123456789012", None))["Statement"]
    table = next(s for s in statements if s["Sid"] == "TheTable")
    assert table["Resource"] == f"arn:aws:dynamodb:{REGION}:123456789012:table/planned-orders"
    assert {"dynamodb:CreateTable", "dynamodb:PutResourcePolicy", "dynamodb:DeleteTable"} <= set(table["Action"])
    without = policy_document(commands.verify.permissions_target(make_test_config(state_dir), "123456789012", None))
    assert "dynamodb" not in json.dumps(without)


def test_plan_on_a_vpc_whose_dynamodb_traffic_takes_a_nat_names_its_cost(mocked: None, state_dir: Path) -> None:
    ec2 = boto3.client("ec2", REGION)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.0.0/24")["Subnet"]["SubnetId"]
    private = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=allocation)["NatGateway"]["NatGatewayId"]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    ec2.associate_route_table(RouteTableId=table, SubnetId=private)
    config = make_test_config(state_dir, table="nat-orders", vpc_id=vpc, subnet_ids=private, stack="natted")
    text = json.dumps(commands.inspect.plan(config, lambda message: None),
                      default=lambda o: getattr(o, "__dict__", str(o)))
    assert f"moves {private}: DynamoDB traffic leaves today through NAT gateway {nat}" in text
    assert "DynamoDB's bytes stop counting toward the NAT's per-GB charge" in text


def test_down_from_tags_finds_the_stacks_table_when_the_state_is_lost(mocked: None, state_dir: Path) -> None:
    ctx = up(state_dir, table="lost-table", stack="lost")
    ctx.config.state_path.unlink()
    commands.down.down(make_test_config(state_dir, stack="lost"), lambda message: None, wait=60, from_tags=True)
    assert "lost-table" not in boto3.client("dynamodb", REGION).list_tables()["TableNames"]


def test_an_adopted_table_whose_merged_policy_would_pass_20_kb_is_refused_untouched(
        mocked: None, state_dir: Path) -> None:
    ddb = boto3.client("dynamodb", REGION)
    arn = ddb.create_table(
        TableName="big", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST")["TableDescription"]["TableArn"]
    readers = [f"arn:aws:iam::123456789012:role/reader-{i:04d}" for i in range(432)]
    big = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "ManyReaders", "Effect": "Allow", "Principal": {"AWS": readers}, "Action": "dynamodb:GetItem",
        "Resource": arn}]})
    assert 19 * 1024 < len(big) < 20 * 1024  # under DynamoDB's 20 KB alone, over it with s3gw's statement
    ddb.put_resource_policy(ResourceArn=arn, Policy=big)
    with pytest.raises(Exception, match="over DynamoDB's 20480-byte limit"):
        up(state_dir, table="big", adopt=True, stack="big")
    assert ddb.get_resource_policy(ResourceArn=arn)["Policy"] == big
