"""`s3gw audit` without a sandbox (issue 24): a region the caller may not read, the path kinds by route priority."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from s3gw.audit import AuditReport, CrossRegion, audit_region, to_text
from s3gw.reach import service_path


class _Denied:
    """EC2 of a region an SCP closes: every call UnauthorizedOperation."""

    def can_paginate(self, operation: str) -> bool:
        return False

    def __getattr__(self, operation: str) -> Any:
        def call(**_: Any) -> Any:
            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "You are not authorized to "
                                         "perform this operation."}}, operation)
        return call


def test_a_region_the_caller_may_not_read_is_one_line_not_a_failure() -> None:
    result = audit_region(lambda service, region: _Denied(), "111122223333", "eu-south-2", 86400, 0.0,
                          CrossRegion(lambda s, r: _Denied(), "eu-south-2"))
    assert result.status == "denied" and result.findings == []
    text = to_text(AuditReport(86400, [result]))
    assert text.splitlines()[0] == ("111122223333 eu-south-2: not read: UnauthorizedOperation: You are not "
                                    "authorized to perform this operation.")
    assert "1 regions not read" in text


PL = {"PrefixListId": "pl-s3", "PrefixListName": "com.amazonaws.us-east-1.s3", "Entries": [{"Cidr": "52.216.0.0/15"}]}
SUBNET = {"SubnetId": "subnet-1", "VpcId": "vpc-1"}
ENDPOINT = {"VpcEndpointId": "vpce-1", "VpcEndpointType": "Gateway", "ServiceName": "com.amazonaws.us-east-1.s3",
            "State": "available", "VpcId": "vpc-1", "RouteTableIds": ["rtb-1"]}


def table(*routes: dict[str, Any]) -> dict[str, Any]:
    return {"RouteTableId": "rtb-1", "VpcId": "vpc-1", "Associations": [{"SubnetId": "subnet-1"}],
            "Routes": [{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local"}, *routes]}


def test_path_kinds_by_route_priority() -> None:
    to_nat = {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1"}
    via_endpoint = {"DestinationPrefixListId": "pl-s3", "GatewayId": "vpce-1"}
    service = "com.amazonaws.us-east-1.s3"
    assert service_path(SUBNET, [table(to_nat)], [], PL, service).path == "nat"
    way = service_path(SUBNET, [table(to_nat, via_endpoint)], [ENDPOINT], PL, service)
    assert (way.path, way.via) == ("endpoint", "pl-s3 → vpce-1")
    # A static route as specific as the list's entry takes it from the endpoint (VPC User Guide, route priority).
    narrower = {"DestinationCidrBlock": "52.216.0.0/15", "TransitGatewayId": "tgw-1"}
    way = service_path(SUBNET, [table(to_nat, via_endpoint, narrower)], [ENDPOINT], PL, service)
    assert (way.path, way.via) == ("tgw", "52.216.0.0/15 → tgw-1")
    firewall = {"VpcEndpointId": "vpce-fw", "VpcEndpointType": "GatewayLoadBalancer"}
    way = service_path(SUBNET, [table({"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "vpce-fw"})], [firewall], PL,
                       service)
    assert way.path == "firewall"
    assert service_path(SUBNET, [table()], [], PL, service).path == "none"


def test_endpoint_only_bad_input_is_one_line_and_exit_2() -> None:
    from click.testing import CliRunner

    from s3gw.cli import cli

    base = ["up", "--region", "us-east-1", "--endpoint-url", "http://127.0.0.1:9"]
    cases = {
        ("--endpoint-only", "--vpc-id", "vpc-0123456789abcdef0", "--route-table-ids", "rtb-0123456789abcdef0",
         "--services", "s3,sqs"): "invalid --services 's3,sqs'",
        ("--route-table-ids", "rtb-0123456789abcdef0"): "--route-table-ids goes with --endpoint-only",
        ("--endpoint-only", "--vpc-id", "vpc-0123456789abcdef0"): "--endpoint-only needs --route-table-ids",
        ("--endpoint-only", "--vpc-id", "vpc-0123456789abcdef0", "--route-table-ids", "rtb-0123456789abcdef0",
         "--bucket", "b-1"): "--bucket is an option of the full stack, not of --endpoint-only",
        ("--endpoint-only", "--vpc-id", "vpc-0123456789abcdef0", "--route-table-ids", "subnet-1"):
            "invalid --route-table-ids",
    }
    for args, said in cases.items():
        result = CliRunner().invoke(cli, [*base, *args], env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"})
        assert result.exit_code == 2, (args, result.output)
        assert said in result.output and len(result.output.strip().splitlines()) == 1, result.output
