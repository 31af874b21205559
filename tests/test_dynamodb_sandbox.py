"""The DynamoDB lane end to end on the sandbox (issue 22): `up --table` → test-invoke shows the item written and
read through the DynamoDB endpoint, a GetItem from this machine refused by the table's seal, another table refused by
the endpoint policy; `down` leaves nothing. An adopted table with its own policy and items gets both back exactly.
The DynamoDB egress rule removed by hand: test-invoke exit 3 naming the group; up repairs it.

On the sandbox, in this process (sandbox_url: conftest)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from sandbox_fixtures import REGION, s3gw_on

OTHER = "someone-elses"


def client(url: str, service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=url, aws_access_key_id="testing",
                        aws_secret_access_key="testing",
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=60))


def make_table(url: str, name: str, key: str = "id") -> str:
    return str(client(url, "dynamodb").create_table(
        TableName=name, KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST")["TableDescription"]["TableArn"])


def invoke_json(url: str, state_dir: Path, stack: str) -> tuple[int, dict[str, Any]]:
    result = s3gw_on(url, state_dir, stack, "test-invoke", "--output", "json")
    return result.exit_code, json.loads(result.output)


def test_up_table_proves_the_path_both_ways_and_down_leaves_nothing(sandbox_url: str, tmp_path: Path) -> None:
    if OTHER not in client(sandbox_url, "dynamodb").list_tables()["TableNames"]:
        arn = make_table(sandbox_url, OTHER)
        # Its own policy lets anyone read it: only the DynamoDB endpoint's policy keeps the function off it.
        client(sandbox_url, "dynamodb").put_resource_policy(ResourceArn=arn, Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "dynamodb:GetItem",
                                                   "Resource": arn}]}))
    up = s3gw_on(sandbox_url, tmp_path, "orders", "up", "--table", "orders")
    assert up.exit_code == 0, up.output
    code, report = invoke_json(sandbox_url, tmp_path, "orders")
    assert code == 0, json.dumps(report, indent=1)
    table = report["table"]
    assert table["written"] and table["read"] == "s3gw test-invoke" and table["error"] == ""
    assert table["outside_refused"] is True and "resource-based policy" in table["outside_detail"]
    assert table["other_table"] == OTHER and table["other_refused"] is True, table
    assert "VPC endpoint policy" in table["other_detail"]
    text = s3gw_on(sandbox_url, tmp_path, "orders", "test-invoke").output
    assert "table orders: wrote and read item pk=s3gw-probe through the DynamoDB endpoint" in text
    ddb = client(sandbox_url, "dynamodb")
    with pytest.raises(ddb.exceptions.ClientError, match="AccessDenied.*explicit deny in a resource-based policy"):
        ddb.get_item(TableName="orders", Key={"pk": {"S": "s3gw-probe"}})
    status = s3gw_on(sandbox_url, tmp_path, "orders", "status")
    assert status.exit_code == 0 and "DynamoDB table" in status.output and "DynamoDB gateway endpoint" in \
        status.output, status.output
    verify = s3gw_on(sandbox_url, tmp_path, "orders", "verify", "--output", "json")
    assert verify.exit_code == 0, verify.output
    names = {check["name"] for check in json.loads(verify.output)["checks"]}
    assert {"DynamoDB endpoint", "security groups: egress 443 to DynamoDB", "table", "table seal: read",
            "table seal: write", "DynamoDB endpoint policy", "role reaches the table"} <= names, names
    down = s3gw_on(sandbox_url, tmp_path, "orders", "down", "--yes")
    assert down.exit_code == 0, down.output
    assert "orders" not in ddb.list_tables()["TableNames"]
    ec2 = client(sandbox_url, "ec2")
    tagged = ec2.describe_vpc_endpoints(Filters=[{"Name": "tag:s3gw:stack", "Values": ["orders"]}])["VpcEndpoints"]
    assert [e for e in tagged if e["State"].lower() not in ("deleted", "deleting")] == []


def test_the_dynamodb_egress_rule_removed_is_named_by_test_invoke_and_up_repairs_it(
        sandbox_url: str, tmp_path: Path) -> None:
    up = s3gw_on(sandbox_url, tmp_path, "egress", "up", "--table", "egress-items")
    assert up.exit_code == 0, up.output
    outputs = json.loads(s3gw_on(sandbox_url, tmp_path, "egress", "outputs", "--output", "json").output)
    group, prefix_list = outputs["security_group_id"], outputs["dynamodb_prefix_list_id"]
    client(sandbox_url, "ec2").revoke_security_group_egress(GroupId=group, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": prefix_list}]}])
    broken = s3gw_on(sandbox_url, tmp_path, "egress", "test-invoke")
    assert broken.exit_code == 3, broken.output
    assert "security groups: egress 443 to DynamoDB" in broken.output and group in broken.output
    verify = s3gw_on(sandbox_url, tmp_path, "egress", "verify")
    assert verify.exit_code == 3 and "egress 443 to DynamoDB" in verify.output and group in verify.output, \
        verify.output
    assert s3gw_on(sandbox_url, tmp_path, "egress", "up").exit_code == 0
    assert s3gw_on(sandbox_url, tmp_path, "egress", "test-invoke").exit_code == 0
    assert s3gw_on(sandbox_url, tmp_path, "egress", "down", "--yes").exit_code == 0


THEIR_POLICY = ('{"Version":"2012-10-17","Statement":[{"Sid":"TheirReader","Effect":"Allow",'
                '"Principal":{"AWS":"arn:aws:iam::123456789012:role/reader"},"Action":"dynamodb:GetItem",'
                '"Resource":"%s"}]}')


def test_an_adopted_table_gets_the_same_proofs_and_back_exactly_as_it_was(sandbox_url: str, tmp_path: Path) -> None:
    ddb = client(sandbox_url, "dynamodb")
    arn = make_table(sandbox_url, "theirs")
    policy = THEIR_POLICY % arn
    ddb.put_resource_policy(ResourceArn=arn, Policy=policy)
    ddb.put_item(TableName="theirs", Item={"id": {"S": "kept"}, "n": {"N": "1"}})
    up = s3gw_on(sandbox_url, tmp_path, "adopts", "up", "--table", "theirs", "--adopt")
    assert up.exit_code == 0, up.output
    code, report = invoke_json(sandbox_url, tmp_path, "adopts")
    assert code == 0, report
    assert report["table"]["written"] and report["table"]["outside_refused"] is True
    assert report["table"]["key"] == "id"
    assert s3gw_on(sandbox_url, tmp_path, "adopts", "verify").exit_code == 0
    down = s3gw_on(sandbox_url, tmp_path, "adopts", "down", "--yes")
    assert down.exit_code == 0, down.output
    assert ddb.get_resource_policy(ResourceArn=arn)["Policy"] == policy
    items = sorted(ddb.scan(TableName="theirs")["Items"], key=lambda item: item["id"]["S"])
    # The probe's item is the function's write through the endpoint; the user's own item is untouched.
    assert {"id": {"S": "kept"}, "n": {"N": "1"}} in items


def test_a_route_table_taken_off_the_dynamodb_endpoint_times_out_and_is_named(sandbox_url: str, tmp_path: Path) -> None:
    up = s3gw_on(sandbox_url, tmp_path, "routes", "up", "--table", "route-items", "--azs", "1")
    assert up.exit_code == 0, up.output
    outputs = json.loads(s3gw_on(sandbox_url, tmp_path, "routes", "outputs", "--output", "json").output)
    table_id = outputs["route_table_ids"][0]
    client(sandbox_url, "ec2").modify_vpc_endpoint(VpcEndpointId=outputs["dynamodb_endpoint_id"],
                                                   RemoveRouteTableIds=[table_id])
    broken = s3gw_on(sandbox_url, tmp_path, "routes", "test-invoke")
    assert broken.exit_code == 3, broken.output
    assert "timed out" in broken.output and "route to DynamoDB" in broken.output and table_id in broken.output
    assert s3gw_on(sandbox_url, tmp_path, "routes", "up").exit_code == 0
    assert s3gw_on(sandbox_url, tmp_path, "routes", "test-invoke").exit_code == 0
    assert s3gw_on(sandbox_url, tmp_path, "routes", "down", "--yes").exit_code == 0
