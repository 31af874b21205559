"""Issue 23 in-process: --ip-address-type (a setting), the dual-stack steps made and repaired on moto, the IPv6 path
model (route priority per family, the endpoint's IpAddressType, the group's IPv6 egress), and DynamoDB refused."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import REGION, make_test_config

from s3gw import commands
from s3gw.config import check_ip_address_type
from s3gw.errors import UsageError
from s3gw.reach import s3_paths_v6, s3_reach_v6
from s3gw.run import open_context
from s3gw.steps import STEPS

V6_LIST = {"PrefixListId": "pl-v6", "PrefixListName": f"com.amazonaws.{REGION}.ipv6.s3", "AddressFamily": "IPv6",
           "Entries": [{"Cidr": "2600:1fa0::/32"}]}
V4_LIST = {"PrefixListId": "pl-v4", "PrefixListName": f"com.amazonaws.{REGION}.s3", "AddressFamily": "IPv4",
           "Entries": [{"Cidr": "52.216.0.0/15"}]}
SUBNET = {"SubnetId": "subnet-1", "VpcId": "vpc-1",
          "Ipv6CidrBlockAssociationSet": [{"Ipv6CidrBlock": "2001:db8:0:1::/64"}]}
GROUP = {"GroupId": "sg-1", "IpPermissionsEgress": [
    {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": "pl-v4"}]},
    {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": "pl-v6"}]}]}


def endpoint(kind: str) -> dict[str, Any]:
    return {"VpcEndpointId": "vpce-1", "VpcEndpointType": "Gateway", "ServiceName": f"com.amazonaws.{REGION}.s3",
            "State": "available", "VpcId": "vpc-1", "RouteTableIds": ["rtb-1"], "IpAddressType": kind}


def table(*routes: dict[str, Any]) -> dict[str, Any]:
    return {"RouteTableId": "rtb-1", "VpcId": "vpc-1", "Associations": [{"SubnetId": "subnet-1"}],
            "Routes": [{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local"}, *routes]}


EIGW = {"DestinationIpv6CidrBlock": "::/0", "EgressOnlyInternetGatewayId": "eigw-1", "State": "active"}
V6_ROUTE = {"DestinationPrefixListId": "pl-v6", "GatewayId": "vpce-1", "State": "active"}


def reach(routes: list[dict[str, Any]], kind: str, group: dict[str, Any] = GROUP) -> Any:
    return s3_reach_v6(REGION, ["subnet-1"], ["sg-1"], subnets=[SUBNET], route_tables=[table(*routes)],
                       endpoints=[endpoint(kind)], security_groups=[group], prefix_lists=[V4_LIST, V6_LIST])


def test_ipv6_takes_the_dualstack_endpoint_over_an_egress_only_default_route() -> None:
    good = reach([EIGW, V6_ROUTE], "dualstack")
    assert good.ok and good.endpoint_id == "vpce-1"
    # moto's shape: no IPv6 prefix-list route shown, the dualstack endpoint lists the table
    assert reach([EIGW], "dualstack").ok


def test_an_ipv4_endpoint_leaves_ipv6_to_the_egress_only_gateway_or_drops_it() -> None:
    paths = s3_paths_v6(["subnet-1"], subnets=[SUBNET], route_tables=[table(EIGW)], endpoints=[endpoint("ipv4")],
                        prefix_lists=[V6_LIST], region=REGION)
    assert [(p.exit, p.destination) for p in paths] == [("eigw-1", "::/0")]
    dropped = reach([], "ipv4")
    assert not dropped.ok
    assert "vpce-1 has IpAddressType ipv4" in (dropped.reason.detail if dropped.reason else "")
    # an IPv6 route left on a table while the endpoint is ipv4: not a way, and said why
    stale = reach([V6_ROUTE], "ipv4")
    assert not stale.ok and "IpAddressType ipv4" in (stale.reason.detail if stale.reason else "")


def test_the_groups_ipv6_egress_is_its_own_link() -> None:
    ipv4_only = {**GROUP, "IpPermissionsEgress": GROUP["IpPermissionsEgress"][:1]}
    broken = reach([V6_ROUTE], "dualstack", ipv4_only)
    assert broken.reason is not None and broken.reason.name == "security groups: egress 443 (IPv6)"
    anywhere = {**GROUP, "IpPermissionsEgress": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                                                  "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}]}
    assert reach([V6_ROUTE], "dualstack", anywhere).links[0].ok


def test_ip_address_type_is_checked_and_dynamodb_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--ip-address-type"):
        make_test_config(tmp_path, ip_address_type="ipv6")
    assert make_test_config(tmp_path).ip_address_type == "ipv4"
    # The DynamoDB lane's --table (helper ddb): a DynamoDB gateway endpoint carries IPv4 only.
    with pytest.raises(UsageError, match="DynamoDB gateway endpoints carry IPv4 only"):
        check_ip_address_type(SimpleNamespace(dualstack=True, table="orders"))  # type: ignore[arg-type]
    check_ip_address_type(SimpleNamespace(dualstack=False, table="orders"))  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="DynamoDB gateway endpoints carry IPv4 only"):
        make_test_config(tmp_path, table="orders", ip_address_type="dualstack")  # the lane's own --table


def test_an_ipv4_stack_turned_dualstack_converges_and_repairs_each_family(mocked: None, tmp_path: Path) -> None:
    config = make_test_config(tmp_path)
    commands.up.up(config, lambda message: None)
    dual = make_test_config(tmp_path, ip_address_type="dualstack")
    lines: list[str] = []
    commands.up.up(dual, lines.append)
    ctx = open_context(dual, lambda message: None, persist=False, needs_state=True)
    ec2, lam = ctx.aws.ec2, ctx.aws.lambda_
    assert ctx.state.settings["ip_address_type"] == "dualstack"
    vpc = ec2.describe_vpcs(VpcIds=[ctx.outputs["vpc_id"]])["Vpcs"][0]
    assert vpc["Ipv6CidrBlockAssociationSet"], "no IPv6 block added to the stack's VPC"
    subnets = ec2.describe_subnets(SubnetIds=ctx.outputs["subnet_ids"])["Subnets"]
    assert all(s["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"].endswith("/64") for s in subnets)
    endpoint_id = ctx.outputs["endpoint_id"]
    assert ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]["IpAddressType"] == "dualstack"
    configuration = lam.get_function_configuration(FunctionName=ctx.outputs["function_name"])
    assert configuration["VpcConfig"]["Ipv6AllowedForDualStack"] is True
    assert configuration["Environment"]["Variables"]["AWS_USE_DUALSTACK_ENDPOINT"] == "true"

    # break each family's links by hand; `up` names and repairs every one
    group = ctx.outputs["security_group_id"]
    v6_rule = next(r for r in ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissionsEgress"]
                   for p in r["PrefixListIds"] if p["PrefixListId"] != ctx.outputs["prefix_list_id"])
    ec2.revoke_security_group_egress(GroupId=group, IpPermissions=[
        {k: v6_rule[k] for k in ("IpProtocol", "FromPort", "ToPort", "PrefixListIds")}])
    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint_id, IpAddressType="ipv4")
    lam.update_function_configuration(FunctionName=ctx.outputs["function_name"], VpcConfig={
        "SubnetIds": ctx.outputs["subnet_ids"], "SecurityGroupIds": [group], "Ipv6AllowedForDualStack": False})
    report = commands.up.up(dual, lambda message: None)
    repaired = {r.step: r.action for r in report.steps}
    assert {step.title for step in STEPS if step.name in ("security_group", "endpoint", "function")} <= \
        {title for title, action in repaired.items() if action == "repaired"}, repaired
    again = commands.up.up(dual, lambda message: None)
    assert [r.step for r in again.steps if r.action != "unchanged"] == []


def test_a_brought_vpc_is_never_given_ipv6_nor_its_endpoint_retyped(mocked: None, tmp_path: Path) -> None:
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION)
    plain = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    ec2.create_subnet(VpcId=plain, CidrBlock="10.8.0.0/24", AvailabilityZone=f"{REGION}a")
    with pytest.raises(UsageError, match="has no IPv6 block; s3gw never adds one"):
        commands.up.up(make_test_config(tmp_path, vpc_id=plain, ip_address_type="dualstack"), lambda message: None)
    assert ec2.describe_vpcs(VpcIds=[plain])["Vpcs"][0].get("Ipv6CidrBlockAssociationSet", []) == []

    dual = ec2.create_vpc(CidrBlock="10.9.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    block = dual["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"].replace("/56", "/64")
    ec2.create_subnet(VpcId=dual["VpcId"], CidrBlock="10.9.0.0/24", AvailabilityZone=f"{REGION}a",
                      Ipv6CidrBlock=block)
    table = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [dual["VpcId"]]}])["RouteTables"][0]
    theirs = ec2.create_vpc_endpoint(VpcId=dual["VpcId"], ServiceName=f"com.amazonaws.{REGION}.s3",
                                     VpcEndpointType="Gateway", RouteTableIds=[table["RouteTableId"]])["VpcEndpoint"]
    with pytest.raises(UsageError, match=f"{theirs['VpcEndpointId']} is ipv4 and not s3gw's to change"):
        commands.inspect.plan(make_test_config(tmp_path, vpc_id=dual["VpcId"], ip_address_type="dualstack"),
                              lambda m: None)
    assert ec2.describe_vpc_endpoints(VpcEndpointIds=[theirs["VpcEndpointId"]])["VpcEndpoints"][0][
        "IpAddressType"] == "ipv4"


def test_the_ipv6_links_hang_under_their_hops_in_the_graph() -> None:
    from s3gw.pathgraph import _hop_of

    assert _hop_of("subnet-1: IPv6 route to S3") == "route_tables"
    assert _hop_of("subnet-1: IPv6 block") == "subnets"
    assert _hop_of("endpoint IP address type") == "endpoint"
    assert _hop_of("security groups: egress 443 (IPv6)") == "security_group"
