"""The sandbox's real-AWS timing behaviours: IAM propagation, Pending functions, lingering Lambda ENIs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sandbox_fixtures import Clients, build_network, clients, create_role, make_zip

from s3gw.sandbox import Behaviours, Sandbox

ASSUME_ROLE_REFUSED = "The role defined for the function cannot be assumed by Lambda."
QUICK_WAITER = {"Delay": 1, "MaxAttempts": 5}
CODE = make_zip({"handler.py": "def handler(event, context):\n    return 'ok'\n"})


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0) as running:
        yield running


@pytest.fixture
def aws(sandbox: Sandbox) -> Iterator[Clients]:
    yield clients(sandbox.endpoint_url)
    sandbox.behaviours = Behaviours()  # each test switches on only what it tests


def _create(aws: Clients, name: str, role_arn: str, **options: Any) -> dict[str, Any]:
    return aws.lambda_.create_function(
        FunctionName=name, Runtime="python3.12", Role=role_arn, Handler="handler.handler", Code={"ZipFile": CODE},
        **options,
    )


def _error_code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return error.value.response["Error"]["Code"]


def test_a_new_role_cannot_be_assumed_until_it_propagates(sandbox: Sandbox, aws: Clients) -> None:
    # The refusal is tested with a window no pause of a loaded machine outlasts (a 1.5 s one failed 1 run in 3);
    # the window's end by shortening it below the role's age, which is what waiting it out would do.
    sandbox.behaviours = Behaviours(iam_propagation=60.0)
    role_arn = create_role(aws, "iam-delay-role", "any-bucket")
    created = time.monotonic()  # after CreateRole answered: the role is at least this old
    with pytest.raises(ClientError) as refused:
        _create(aws, "iam-delay-fn", role_arn)
    assert _error_code(refused) == "InvalidParameterValueException"
    assert refused.value.response["Error"]["Message"] == ASSUME_ROLE_REFUSED
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    time.sleep(max(0.0, 0.5 - (time.monotonic() - created)))
    sandbox.behaviours = Behaviours(iam_propagation=0.4)  # the role is older than 0.5 s now
    assert _create(aws, "iam-delay-fn", role_arn)["FunctionName"] == "iam-delay-fn"


def test_a_new_function_is_pending_then_active(sandbox: Sandbox, aws: Clients) -> None:
    # Pending is checked in a window no pause of a loaded machine outlasts (a 1 s one failed in CI: the invoke came
    # after it); the way to Active on a second function with a short window, which the waiter must wait out.
    sandbox.behaviours = Behaviours(pending=60.0)
    role_arn = create_role(aws, "pending-role", "any-bucket")
    assert _create(aws, "pending-fn", role_arn)["State"] == "Pending"
    config = aws.lambda_.get_function(FunctionName="pending-fn")["Configuration"]
    assert (config["State"], config["StateReasonCode"]) == ("Pending", "Creating")
    with pytest.raises(ClientError) as conflict:  # Lambda refuses to invoke a Pending function
        aws.lambda_.invoke(FunctionName="pending-fn", Payload=b"{}")
    assert _error_code(conflict) == "ResourceConflictException"
    sandbox.behaviours = Behaviours(pending=0.5)
    _create(aws, "soon-active-fn", role_arn)
    aws.lambda_.get_waiter("function_active_v2").wait(FunctionName="soon-active-fn", WaiterConfig=QUICK_WAITER)
    assert aws.lambda_.get_function_configuration(FunctionName="soon-active-fn")["State"] == "Active"
    assert aws.lambda_.invoke(FunctionName="soon-active-fn", Payload=b"{}")["Payload"].read() == b'"ok"'
    assert aws.lambda_.get_function_configuration(FunctionName="pending-fn")["State"] == "Pending"  # its own deadline


def test_an_update_is_in_progress_for_a_while(sandbox: Sandbox, aws: Clients) -> None:
    role_arn = create_role(aws, "update-role", "any-bucket")
    _create(aws, "update-fn", role_arn)
    _create(aws, "soon-updated-fn", role_arn)
    sandbox.behaviours = Behaviours(pending=60.0)  # a window no pause outlasts, as above
    aws.lambda_.update_function_configuration(FunctionName="update-fn", Timeout=5)
    assert aws.lambda_.get_function_configuration(FunctionName="update-fn")["LastUpdateStatus"] == "InProgress"
    with pytest.raises(ClientError) as conflict:
        aws.lambda_.update_function_configuration(FunctionName="update-fn", Timeout=6)
    assert _error_code(conflict) == "ResourceConflictException"
    sandbox.behaviours = Behaviours(pending=0.5)
    aws.lambda_.update_function_configuration(FunctionName="soon-updated-fn", Timeout=5)
    aws.lambda_.get_waiter("function_updated_v2").wait(FunctionName="soon-updated-fn", WaiterConfig=QUICK_WAITER)
    assert aws.lambda_.get_function_configuration(FunctionName="soon-updated-fn")["LastUpdateStatus"] == "Successful"


def _lambda_enis(aws: Clients, function_name: str) -> list[dict[str, Any]]:
    found = aws.ec2.describe_network_interfaces()["NetworkInterfaces"]
    return [e for e in found if e["Description"] == f"AWS Lambda VPC ENI-{function_name}"]  # no suffix, as on AWS


def test_lambda_enis_linger_and_block_deleting_the_group_and_subnets(sandbox: Sandbox, aws: Clients) -> None:
    # A window no pause of a loaded machine outlasts before the three refusals below (1 s ones failed in CI).
    sandbox.behaviours = Behaviours(eni_linger=5.0)
    _, subnet_ids, _, _, _, group_id = build_network(aws, "linger")
    role_arn = create_role(aws, "linger-role", "any-bucket")
    _create(aws, "linger-fn", role_arn, VpcConfig={"SubnetIds": subnet_ids, "SecurityGroupIds": [group_id]})
    enis = _lambda_enis(aws, "linger-fn")
    assert sorted(e["SubnetId"] for e in enis) == sorted(subnet_ids)  # one per subnet
    assert {(e["Status"], e["RequesterManaged"], e["InterfaceType"]) for e in enis} == {("in-use", True, "lambda")}
    assert all(e["Groups"][0]["GroupId"] == group_id for e in enis)

    aws.lambda_.delete_function(FunctionName="linger-fn")
    deleted = time.monotonic()
    with pytest.raises(ClientError) as blocked:
        aws.ec2.delete_security_group(GroupId=group_id)
    assert _error_code(blocked) == "DependencyViolation"
    with pytest.raises(ClientError) as subnet_blocked:
        aws.ec2.delete_subnet(SubnetId=subnet_ids[0])
    assert _error_code(subnet_blocked) == "DependencyViolation"
    with pytest.raises(ClientError) as in_use:
        aws.ec2.delete_network_interface(NetworkInterfaceId=enis[0]["NetworkInterfaceId"])
    assert _error_code(in_use) == "InvalidParameterValue"

    time.sleep(max(0.0, 5.1 - (time.monotonic() - deleted)))
    enis = _lambda_enis(aws, "linger-fn")
    assert {e["Status"] for e in enis} == {"available"}
    with pytest.raises(ClientError) as still_blocked:  # an available ENI is still a dependency
        aws.ec2.delete_security_group(GroupId=group_id)
    assert _error_code(still_blocked) == "DependencyViolation"
    for eni in enis:
        aws.ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    aws.ec2.delete_security_group(GroupId=group_id)
    aws.ec2.delete_subnet(SubnetId=subnet_ids[0])
    assert not aws.ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [group_id]}])["SecurityGroups"]


def test_without_linger_the_enis_go_with_the_function(aws: Clients) -> None:
    _, subnet_ids, _, _, _, group_id = build_network(aws, "nolinger")
    role_arn = create_role(aws, "nolinger-role", "any-bucket")
    _create(aws, "nolinger-fn", role_arn, VpcConfig={"SubnetIds": subnet_ids, "SecurityGroupIds": [group_id]})
    assert len(_lambda_enis(aws, "nolinger-fn")) == 2
    with pytest.raises(ClientError) as blocked:
        aws.ec2.delete_security_group(GroupId=group_id)
    assert _error_code(blocked) == "DependencyViolation"
    aws.lambda_.delete_function(FunctionName="nolinger-fn")
    assert _lambda_enis(aws, "nolinger-fn") == []
    aws.ec2.delete_security_group(GroupId=group_id)


def test_create_function_checks_the_vpc_config(aws: Clients) -> None:
    role_arn = create_role(aws, "badvpc-role", "any-bucket")
    with pytest.raises(ClientError) as refused:
        _create(aws, "badvpc-fn", role_arn, VpcConfig={"SubnetIds": ["subnet-0missing"], "SecurityGroupIds": []})
    assert _error_code(refused) == "InvalidParameterValueException"
    assert "subnet-0missing" in refused.value.response["Error"]["Message"]


def test_a_vpc_with_a_security_group_or_an_endpoint_cannot_be_deleted(aws: Clients) -> None:
    """As on AWS (moto would delete the VPC and leave them behind, in no VPC)."""
    vpc_id, subnet_ids, table_ids, endpoint_id, _, group_id = build_network(aws, "vpcdeps")
    aws.ec2.modify_vpc_endpoint(VpcEndpointId=endpoint_id, RemoveRouteTableIds=table_ids)
    for table in aws.ec2.describe_route_tables(RouteTableIds=table_ids)["RouteTables"]:
        for association in table["Associations"]:
            aws.ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
        aws.ec2.delete_route_table(RouteTableId=table["RouteTableId"])
    for subnet_id in subnet_ids:
        aws.ec2.delete_subnet(SubnetId=subnet_id)
    for blocker in (endpoint_id, group_id):
        with pytest.raises(ClientError) as blocked:
            aws.ec2.delete_vpc(VpcId=vpc_id)
        assert _error_code(blocked) == "DependencyViolation"
        if blocker.startswith("vpce-"):
            aws.ec2.delete_vpc_endpoints(VpcEndpointIds=[blocker])
        else:
            aws.ec2.delete_security_group(GroupId=blocker)
    aws.ec2.delete_vpc(VpcId=vpc_id)
    assert not aws.ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"]
