"""s3gw.reach on hand-written snapshots in the shape AWS's describe calls return."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from s3gw.reach import Reach, effective_route_table, internet_exit, s3_exits, s3_hops, s3_reach

REGION = "eu-west-1"
VPC = "vpc-1"
PL = "pl-6da54004"  # eu-west-1's S3 prefix list
S3_CIDRS = ["52.218.0.0/17", "3.5.64.0/21"]


def _subnet(subnet_id: str) -> dict[str, Any]:
    return {"SubnetId": subnet_id, "VpcId": VPC, "CidrBlock": "10.0.1.0/24", "State": "available"}


def _table(table_id: str, *subnet_ids: str, main: bool = False, routes: list[dict] | None = None) -> dict[str, Any]:
    associations = [
        {"Main": False, "RouteTableId": table_id, "SubnetId": s, "AssociationState": {"State": "associated"}}
        for s in subnet_ids
    ]
    if main:
        associations.append({"Main": True, "RouteTableId": table_id, "AssociationState": {"State": "associated"}})
    local = {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"}
    return {"RouteTableId": table_id, "VpcId": VPC, "Associations": associations, "Routes": [local, *(routes or [])]}


def _s3_route(endpoint_id: str, prefix_list: str = PL) -> dict[str, Any]:
    return {"DestinationPrefixListId": prefix_list, "GatewayId": endpoint_id, "State": "active"}


def _endpoint(endpoint_id: str, *tables: str, kind: str = "Gateway", service: str = f"com.amazonaws.{REGION}.s3",
              state: str = "available") -> dict[str, Any]:
    return {"VpcEndpointId": endpoint_id, "VpcEndpointType": kind, "VpcId": VPC, "ServiceName": service,
            "State": state, "RouteTableIds": list(tables)}


def _group(group_id: str, *egress: dict[str, Any]) -> dict[str, Any]:
    return {"GroupId": group_id, "VpcId": VPC, "IpPermissions": [], "IpPermissionsEgress": list(egress)}


def _egress(protocol: str = "tcp", low: int | None = 443, high: int | None = 443, *, cidr: str | None = None,
            prefix_list: str | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"IpProtocol": protocol, "IpRanges": [], "PrefixListIds": [], "UserIdGroupPairs": []}
    if low is not None:
        rule.update(FromPort=low, ToPort=high)
    if cidr:
        rule["IpRanges"].append({"CidrIp": cidr})
    if prefix_list:
        rule["PrefixListIds"].append({"PrefixListId": prefix_list})
    return rule


def _good() -> dict[str, Any]:
    """Two subnets, each with its own table, both served by one gateway endpoint; egress 443 to the list."""
    return {
        "subnets": [_subnet("subnet-a"), _subnet("subnet-b")],
        "route_tables": [
            _table("rtb-main", main=True),
            _table("rtb-a", "subnet-a", routes=[_s3_route("vpce-1")]),
            _table("rtb-b", "subnet-b", routes=[_s3_route("vpce-1")]),
        ],
        "endpoints": [_endpoint("vpce-1", "rtb-a", "rtb-b")],
        "security_groups": [_group("sg-1", _egress(prefix_list=PL))],
        "prefix_lists": [{"PrefixListId": PL, "PrefixListName": f"com.amazonaws.{REGION}.s3",
                          "Entries": [{"Cidr": c} for c in S3_CIDRS]}],
    }


def _reach(
    snapshot: dict[str, Any], subnets: tuple[str, ...] = ("subnet-a", "subnet-b"), groups: tuple[str, ...] = ("sg-1",)
) -> Reach:
    return s3_reach(REGION, list(subnets), list(groups), **snapshot)


def test_good_path_names_the_endpoint() -> None:
    reach = _reach(_good())
    assert reach.ok
    assert reach.endpoint_id == "vpce-1"
    assert reach.reason is None
    assert all(link.ok for link in reach.links)


def test_no_route_to_the_prefix_list() -> None:
    snapshot = _good()
    snapshot["route_tables"][1]["Routes"] = snapshot["route_tables"][1]["Routes"][:1]  # only "local"
    snapshot["endpoints"][0]["RouteTableIds"] = ["rtb-b"]
    reach = _reach(snapshot)
    assert not reach.ok and reach.endpoint_id is None
    assert reach.reason is not None
    assert reach.reason.name == "subnet-a: route to S3"
    assert "rtb-a has no route" in reach.reason.detail
    assert "rtb-a" in reach.reason.fix


def test_route_to_another_endpoint() -> None:
    snapshot = _good()
    snapshot["route_tables"][1]["Routes"][1] = _s3_route("vpce-gone")
    reach = _reach(snapshot)
    assert not reach.ok
    assert reach.reason is not None and reach.reason.name == "subnet-a: route to S3"
    assert "vpce-gone" in reach.reason.detail and "does not exist" in reach.reason.detail


def test_interface_endpoint_instead_of_gateway() -> None:
    snapshot = _good()
    for table in snapshot["route_tables"]:
        table["Routes"] = table["Routes"][:1]
    snapshot["endpoints"] = [_endpoint("vpce-if", kind="Interface")]
    reach = _reach(snapshot)
    assert not reach.ok
    assert reach.reason is not None
    assert "vpce-if is an Interface endpoint" in reach.reason.detail
    assert "Gateway" in reach.reason.fix


def test_endpoint_of_another_regions_service() -> None:
    snapshot = _good()
    snapshot["endpoints"] = [_endpoint("vpce-1", "rtb-a", "rtb-b", service="com.amazonaws.us-east-1.s3")]
    reach = _reach(snapshot)
    assert not reach.ok
    assert reach.reason is not None
    assert "com.amazonaws.us-east-1.s3, not com.amazonaws.eu-west-1.s3" in reach.reason.detail


def test_endpoint_not_available() -> None:
    snapshot = _good()
    snapshot["endpoints"][0]["State"] = "pending"
    reach = _reach(snapshot)
    assert not reach.ok
    assert reach.reason is not None and "vpce-1 is pending" in reach.reason.detail


def test_main_table_trap() -> None:
    """subnet-b has no explicit association: it uses the main table, which the endpoint does not serve."""
    snapshot = _good()
    snapshot["route_tables"] = [snapshot["route_tables"][0], snapshot["route_tables"][1]]
    snapshot["endpoints"][0]["RouteTableIds"] = ["rtb-a"]
    table = effective_route_table("subnet-b", VPC, snapshot["route_tables"])
    assert table is not None and table["RouteTableId"] == "rtb-main"
    reach = _reach(snapshot)
    assert not reach.ok
    assert reach.reason is not None
    assert reach.reason.name == "subnet-b: route to S3"
    assert "uses the main table" in reach.reason.detail and "vpce-1 serves rtb-a" in reach.reason.detail
    table_link = next(link for link in reach.links if link.name == "subnet-b: route table")
    assert "main table" in table_link.detail


def test_effective_route_table_prefers_explicit_association() -> None:
    tables = [_table("rtb-main", main=True), _table("rtb-a", "subnet-a")]
    assert effective_route_table("subnet-a", VPC, tables)["RouteTableId"] == "rtb-a"  # type: ignore[index]
    assert effective_route_table("subnet-x", "vpc-other", tables) is None


def test_security_group_without_443_egress() -> None:
    snapshot = _good()
    snapshot["security_groups"] = [_group("sg-1")]
    reach = _reach(snapshot)
    assert not reach.ok
    assert reach.reason is not None
    assert reach.reason.name == "security groups: egress 443"
    assert "no egress rules" in reach.reason.detail
    assert f"PrefixListId={PL}" in reach.reason.fix


def test_security_group_egress_only_80() -> None:
    snapshot = _good()
    snapshot["security_groups"] = [_group("sg-1", _egress(low=80, high=80, cidr="0.0.0.0/0"))]
    reach = _reach(snapshot)
    assert not reach.ok
    assert reach.reason is not None and reach.reason.name == "security groups: egress 443"
    assert "tcp 80-80" in reach.reason.detail


def test_security_group_443_to_anywhere_is_enough() -> None:
    snapshot = _good()
    snapshot["security_groups"] = [_group("sg-1", _egress(cidr="0.0.0.0/0"))]
    assert _reach(snapshot).ok


@pytest.mark.parametrize(
    ("rule", "ok"),
    [
        (_egress("-1", None, None, cidr="0.0.0.0/0"), True),  # all traffic
        (_egress(low=0, high=65535, prefix_list=PL), True),  # a port range covering 443
        (_egress(cidr="128.0.0.0/1"), False),  # the list's CIDRs are not inside it
        (_egress(cidr="52.218.0.0/16"), False),  # one of the list's CIDRs only
        (_egress("udp", cidr="0.0.0.0/0"), False),
        (_egress(prefix_list="pl-dynamodb"), False),
    ],
)
def test_egress_rule_shapes(rule: dict[str, Any], ok: bool) -> None:
    snapshot = _good()
    snapshot["security_groups"] = [_group("sg-1", rule)]
    assert _reach(snapshot).ok is ok


def test_cidrs_covering_the_prefix_list_entries_count() -> None:
    snapshot = _good()
    snapshot["security_groups"] = [_group("sg-1", _egress(cidr="52.218.0.0/16"), _egress(cidr="3.5.0.0/16"))]
    assert _reach(snapshot).ok
    snapshot["prefix_lists"][0].pop("Entries")  # entries unknown: only 0.0.0.0/0 is sure to cover S3
    assert not _reach(snapshot).ok


def test_egress_is_the_union_of_the_groups() -> None:
    snapshot = _good()
    snapshot["security_groups"] = [_group("sg-1"), _group("sg-2", _egress(prefix_list=PL))]
    assert _reach(snapshot, groups=("sg-1", "sg-2")).ok


def test_missing_security_group() -> None:
    reach = _reach(_good(), groups=("sg-1", "sg-gone"))
    assert not reach.ok
    assert reach.reason is not None and "sg-gone not found" in reach.reason.detail


def test_one_broken_subnet_of_several() -> None:
    snapshot = _good()
    snapshot["route_tables"][2]["Routes"] = snapshot["route_tables"][2]["Routes"][:1]
    snapshot["endpoints"][0]["RouteTableIds"] = ["rtb-a"]
    reach = _reach(snapshot)
    assert not reach.ok
    failing = [link.name for link in reach.links if not link.ok]
    assert failing == ["subnet-b: route to S3"]
    assert _reach(snapshot, subnets=("subnet-a",)).ok


def test_missing_subnet() -> None:
    reach = _reach(_good(), subnets=("subnet-a", "subnet-gone"))
    assert not reach.ok
    assert reach.reason is not None and reach.reason.name == "subnet-gone: route table"


def test_moto_shape_endpoint_lists_the_table_without_a_route() -> None:
    """moto's modify_vpc_endpoint(AddRouteTableIds) records no route: the endpoint's list counts."""
    snapshot = _good()
    snapshot["route_tables"][1]["Routes"] = snapshot["route_tables"][1]["Routes"][:1]
    assert _reach(snapshot).ok


def test_moto_shape_stale_route_after_the_endpoint_dropped_the_table() -> None:
    """moto's RemoveRouteTableIds leaves the route behind: the endpoint no longer serving it decides."""
    snapshot = copy.deepcopy(_good())
    snapshot["endpoints"][0]["RouteTableIds"] = ["rtb-b"]
    reach = _reach(snapshot)
    assert not reach.ok
    assert reach.reason is not None and "vpce-1 does not list rtb-a" in reach.reason.detail


def test_route_to_another_services_prefix_list_is_not_a_route_to_s3() -> None:
    snapshot = _good()
    snapshot["route_tables"][1]["Routes"][1] = _s3_route("vpce-ddb", prefix_list="pl-dynamodb")
    snapshot["endpoints"] = [_endpoint("vpce-1", "rtb-b"),
                             _endpoint("vpce-ddb", "rtb-a", service=f"com.amazonaws.{REGION}.dynamodb")]
    reach = _reach(snapshot)
    assert not reach.ok
    assert reach.reason is not None and reach.reason.name == "subnet-a: route to S3"


# --- route priority (issue 20 item 10): VPC User Guide, "Route tables", Route priority ---------------------------


def _cidr_route(cidr: str, propagated: bool = False, **target: str) -> dict[str, Any]:
    origin = "EnableVgwRoutePropagation" if propagated else "CreateRoute"
    return {"DestinationCidrBlock": cidr, "State": "active", "Origin": origin, **target}


def _no_endpoint(*routes: dict[str, Any]) -> dict[str, Any]:
    """subnet-a's table has no route to the S3 list, only `routes`; no endpoint in the VPC."""
    snapshot = _good()
    snapshot["route_tables"][1]["Routes"] = snapshot["route_tables"][1]["Routes"][:1] + list(routes)
    snapshot["endpoints"] = [_endpoint("vpce-1", "rtb-b")]
    return snapshot


@pytest.mark.parametrize(("routes", "target", "named"), [
    ([_cidr_route("0.0.0.0/0", TransitGatewayId="tgw-1")], "tgw-1", "transit gateway tgw-1"),
    ([_cidr_route("0.0.0.0/0", VpcPeeringConnectionId="pcx-1")], "pcx-1", "VPC peering connection pcx-1"),
    ([_cidr_route("0.0.0.0/0", GatewayId="vpce-fw")], "vpce-fw", "Gateway Load Balancer endpoint vpce-fw (a firewall)"),
    ([_cidr_route("0.0.0.0/1", NatGatewayId="nat-1"), _cidr_route("128.0.0.0/1", NatGatewayId="nat-1")], "nat-1",
     "NAT gateway nat-1"),
])
def test_every_way_out_of_the_vpc_is_seen(routes: list[dict[str, Any]], target: str, named: str) -> None:
    """Not only an exact 0.0.0.0/0 to a NAT or internet gateway: a default route to a transit gateway, a peering
    connection or a firewall endpoint, or the default route split in two halves, also takes S3's traffic."""
    snapshot = _no_endpoint(*routes)
    snapshot["endpoints"].append(_endpoint("vpce-fw", kind="GatewayLoadBalancer", service="com.amazonaws.vpce.x"))
    assert s3_exits(["subnet-a", "subnet-b"], region=REGION, **snapshot) == {"subnet-a": ("rtb-a", target)}
    reach = _reach(snapshot)
    assert reach.reason is not None and reach.reason.name == "subnet-a: route to S3"
    assert f"leaves through {named}" in reach.reason.detail
    assert internet_exit(snapshot["route_tables"][1]) == target


def test_a_static_route_as_specific_as_an_s3_range_wins_over_the_endpoint() -> None:
    """On the endpoint, but a static route to a NAT gateway for one of S3's ranges, exactly: the CIDR route takes
    priority over the prefix-list route ("the static route with the CIDR block takes priority")."""
    snapshot = _good()
    snapshot["route_tables"][1]["Routes"].append(_cidr_route(S3_CIDRS[0], NatGatewayId="nat-1"))
    reach = _reach(snapshot)
    assert not reach.ok and reach.endpoint_id is None
    assert reach.reason is not None and reach.reason.name == "subnet-a: route to S3"
    assert f"{S3_CIDRS[0]} → NAT gateway nat-1 (route {S3_CIDRS[0]}, static)" in reach.reason.detail
    assert s3_exits(["subnet-a"], region=REGION, **snapshot) == {"subnet-a": ("rtb-a", "nat-1")}
    hops = s3_hops(snapshot["route_tables"][1], snapshot["prefix_lists"][0])
    assert [(hop.cidr, hop.target) for hop in hops] == [(S3_CIDRS[0], "nat-1"), (S3_CIDRS[1], "vpce-1")]


@pytest.mark.parametrize(("route", "on_endpoint"), [
    (_cidr_route(S3_CIDRS[0], propagated=True, GatewayId="vgw-1"), True),  # the prefix-list route wins a tie
    (_cidr_route("52.0.0.0/8", TransitGatewayId="tgw-1"), True),  # less specific than the list's entry
    (_cidr_route("0.0.0.0/0", NatGatewayId="nat-1"), True),
    (_cidr_route("52.218.7.0/24", propagated=True, GatewayId="vgw-1"), False),  # more specific: always wins
    (_cidr_route("3.5.64.0/21", TransitGatewayId="tgw-1"), False),  # as specific and static
])
def test_route_priority_as_the_vpc_user_guide_states_it(route: dict[str, Any], on_endpoint: bool) -> None:
    snapshot = _good()
    snapshot["route_tables"][1]["Routes"].append(route)
    reach = _reach(snapshot)
    assert reach.ok is on_endpoint, reach.reason
    assert ("subnet-a" in s3_exits(["subnet-a"], region=REGION, **snapshot)) is not on_endpoint
