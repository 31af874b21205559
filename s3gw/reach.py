"""The path model: can traffic from a function's subnets and security groups reach S3, and why not.

Pure functions over the dicts boto3's EC2 describe_* calls return, so that `verify` (against AWS)
and the sandbox (against its emulator) judge the path with the same code. Only `fetch_snapshot`
talks to EC2, through a client it is given; nothing here imports boto3.

A subnet reaches S3 when its effective route table (explicit association, else the VPC's main
table) routes the region's S3 prefix list to a usable gateway endpoint, and the security groups
let TCP 443 out to that prefix list. Lambda may place an ENI in any of the function's subnets,
so the path is good only when every subnet reaches S3.

Route priority (VPC User Guide, "Route tables", Route priority: docs.aws.amazon.com/vpc/latest/userguide/
VPC_Route_Tables.html#route-tables-priority): "we direct traffic using the most specific route that matches the
traffic. This is known as the longest prefix match"; "for routes that overlap, more specific routes always take
priority irrespective of whether they are propagated routes, static routes, or routes that reference prefix lists";
at the same specificity, "If your route table contains a static route with a destination CIDR block that overlaps a
static route with a prefix list, the static route with the CIDR block takes priority", while "If your route table
contains a propagated route that matches a route that references a prefix list, the route that references the prefix
list takes priority"; and a static route wins over a propagated one with the same destination. `s3_hops` applies
these to each range of the S3 prefix list (its entries), so a route to a NAT gateway, transit gateway, peering
connection, firewall (Gateway Load Balancer) endpoint or anything else that is as specific as an entry, or more,
takes that range away from the endpoint, and a default route split in two (0.0.0.0/1 + 128.0.0.0/1) is a way out
like 0.0.0.0/0.

Ways out other than the endpoint (issue 15, issue 20): through a NAT gateway a request reaches S3's public addresses
without aws:SourceVpce (IAM User Guide, global condition keys: the key is in the request context only when the
request is made through a VPC endpoint), so a seal refuses it: AccessDenied, not a timeout. A Lambda ENI has no
public IP, so a route to an internet gateway alone gives a function no way out (Lambda Developer Guide, "Enable
internet access for VPC-connected Lambda functions"). Through a transit gateway, peering connection, virtual private
gateway or firewall, what lies beyond decides whether S3 answers, but never through this VPC's gateway endpoint:
"Endpoint connections cannot be extended out of a VPC. Resources on the other side of a VPN connection, VPC peering
connection, transit gateway, or AWS Direct Connect connection in your VPC cannot use a gateway endpoint to
communicate with Amazon S3" (PrivateLink guide, "Gateway endpoints for Amazon S3").

Not modelled: network ACLs, endpoint policies, and the entries of customer-managed prefix lists (a route to one is
not judged against S3's ranges). Without the S3 prefix list's entries (an answer without "Entries"), its route is
taken as more specific than any route shorter than /8 and nothing else is compared.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

HTTPS_PORT = 443
Snapshot = Mapping[str, Any]


@dataclass(frozen=True)
class Link:
    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Reach:
    ok: bool
    endpoint_id: str | None  # the gateway endpoint the traffic leaves through, when ok
    links: list[Link] = field(default_factory=list)

    @property
    def reason(self) -> Link | None:
        """The first failing link: why the path is broken; None when it is good."""
        return next((link for link in self.links if not link.ok), None)


def s3_service_name(region: str) -> str:
    return f"com.amazonaws.{region}.s3"


def effective_route_table(
    subnet_id: str, vpc_id: str, route_tables: Iterable[Snapshot]
) -> dict[str, Any] | None:
    """The table that routes the subnet: its explicit association, else its VPC's main table."""
    tables = list(route_tables)
    for table in tables:
        for association in table.get("Associations", []):
            if association.get("SubnetId") == subnet_id and _associated(association):
                return dict(table)
    for table in tables:
        if table.get("VpcId") != vpc_id:
            continue
        if any(a.get("Main") and _associated(a) for a in table.get("Associations", [])):
            return dict(table)
    return None


# --- route priority ---------------------------------------------------------------------------------

# Route fields that name a target (botocore's EC2 model, shape Route), in the order they are read.
_TARGET_FIELDS = ("GatewayId", "NatGatewayId", "TransitGatewayId", "VpcPeeringConnectionId", "NetworkInterfaceId",
                  "InstanceId", "CarrierGatewayId", "LocalGatewayId", "EgressOnlyInternetGatewayId", "CoreNetworkArn")
_KINDS = (("nat-", "NAT gateway"), ("igw-", "internet gateway"), ("tgw-", "transit gateway"),
          ("pcx-", "VPC peering connection"), ("vgw-", "virtual private gateway"), ("eni-", "network interface"),
          ("i-", "instance"), ("vpce-", "endpoint"), ("cagw-", "carrier gateway"), ("lgw-", "local gateway"),
          ("eigw-", "egress-only internet gateway"), ("arn:", "core network"))
_UNKNOWN_ENTRY_PREFIX = 8  # the S3 list's route, when its entries are unknown, counts as this specific
_HALVES = (ipaddress.ip_network("0.0.0.0/1"), ipaddress.ip_network("128.0.0.0/1"))


@dataclass(frozen=True)
class Hop:
    """The route a table sends one range of S3's addresses to, by route priority; `route` None: none matches."""

    cidr: str  # an entry of the S3 prefix list, or the part of one that a more specific route takes
    route: Snapshot | None

    @property
    def target(self) -> str:
        return route_target(self.route) if self.route is not None else ""

    @property
    def destination(self) -> str:
        route = self.route or {}
        return str(route.get("DestinationPrefixListId") or route.get("DestinationCidrBlock")
                   or route.get("DestinationIpv6CidrBlock") or "")

    @property
    def leaves(self) -> bool:
        """Out of the VPC by another way than a gateway endpoint's prefix-list route."""
        return bool(self.target) and self.target != "local" and not _blackhole(self.route or {}) and \
            not self.route.get("DestinationPrefixListId")  # type: ignore[union-attr]


def route_target(route: Snapshot) -> str:
    return next((str(route[name]) for name in _TARGET_FIELDS if route.get(name)), "")


def target_kind(target: str, endpoints: Iterable[Snapshot] = ()) -> str:
    """"NAT gateway nat-…", "Gateway Load Balancer endpoint vpce-… (a firewall)", …"""
    if target.startswith("vpce-"):
        kind = next((str(e.get("VpcEndpointType", "")) for e in endpoints if e.get("VpcEndpointId") == target), "")
        if kind.lower() == "gatewayloadbalancer":  # AWS Network Firewall's endpoints are of this type too
            return f"Gateway Load Balancer endpoint {target} (a firewall)"
    name = next((kind for prefix, kind in _KINDS if target.startswith(prefix)), "target")
    return f"{name} {target}"


def s3_hops(table: Snapshot, prefix_list: Snapshot | None, endpoint_id: str | None = None) -> list[Hop]:
    """Where the table sends each range of the S3 prefix list, by the VPC User Guide's route priority (above).

    `endpoint_id`: judge the table as if that endpoint's prefix-list route were in it (moto leaves it out on
    modify_vpc_endpoint; plan asks what a new endpoint would change)."""
    routes = [dict(r) for r in table.get("Routes", [])]
    prefix_list_id = (prefix_list or {}).get("PrefixListId")
    if endpoint_id and prefix_list_id and not any(r.get("DestinationPrefixListId") == prefix_list_id for r in routes):
        routes.append({"DestinationPrefixListId": prefix_list_id, "GatewayId": endpoint_id, "State": "active",
                       "Origin": "CreateRoute"})
    entries = [ipaddress.ip_network(str(e["Cidr"]), strict=False) for e in (prefix_list or {}).get("Entries") or []
               if e.get("Cidr")]
    known = bool(entries)
    hops: list[Hop] = []
    for entry in entries or list(_HALVES):
        if not isinstance(entry, ipaddress.IPv4Network):
            continue
        ranked: list[tuple[tuple[int, int], Snapshot]] = []
        for route in routes:
            if route.get("DestinationPrefixListId"):
                if route["DestinationPrefixListId"] == prefix_list_id:
                    ranked.append(((entry.prefixlen if known else _UNKNOWN_ENTRY_PREFIX, 1), route))
                continue
            network = _ipv4(route.get("DestinationCidrBlock"))
            if network is not None and entry.subnet_of(network):
                ranked.append(((network.prefixlen, 0 if _propagated(route) else 2), route))
        best = max(ranked, key=lambda pair: pair[0])[1] if ranked else None
        hops.append(Hop(str(entry), best))
        if known:  # a route inside the entry is more specific than anything covering all of it: it takes its part
            for route in routes:
                network = _ipv4(route.get("DestinationCidrBlock"))
                if network is not None and network != entry and network.subnet_of(entry):
                    hops.append(Hop(str(network), route))
    return hops


def internet_exit(table: Snapshot) -> str | None:
    """The target of the table's way to the internet: what 0.0.0.0/0, or the two halves 0.0.0.0/1 and
    128.0.0.0/1, go to, when that is not the VPC itself or a blackhole; else None."""
    for half in _HALVES:
        covering = [(network.prefixlen, 0 if _propagated(route) else 2, index, route)
                    for index, route in enumerate(table.get("Routes", []))
                    if (network := _ipv4(route.get("DestinationCidrBlock"))) is not None and half.subnet_of(network)]
        if not covering:
            continue
        route = max(covering, key=lambda item: item[:3])[3]
        target = route_target(route)
        if target and target != "local" and not _blackhole(route):
            return target
    return None


def s3_exits(
    subnet_ids: Sequence[str],
    *,
    subnets: Iterable[Snapshot],
    route_tables: Iterable[Snapshot],
    endpoints: Iterable[Snapshot],
    prefix_lists: Iterable[Snapshot],
    region: str,
    **_: Any,
) -> dict[str, tuple[str, str]]:
    """Subnets whose S3 traffic, all or some of it, leaves by another way than a usable gateway endpoint:
    subnet → (route table, the target it leaves through: nat-…, igw-…, tgw-…, pcx-…, vpce-… of a firewall, …).
    A NAT gateway is named first when there are several (it is the one that answers AccessDenied)."""
    service = s3_service_name(region)
    prefix_list = next((p for p in prefix_lists if p.get("PrefixListName") == service), None)
    tables = list(route_tables)
    endpoint_by_id = {e["VpcEndpointId"]: e for e in endpoints if e.get("VpcEndpointId")}
    exits: dict[str, tuple[str, str]] = {}
    for subnet in subnets:
        subnet_id = subnet.get("SubnetId", "")
        if subnet_id not in subnet_ids:
            continue
        table = effective_route_table(subnet_id, subnet.get("VpcId", ""), tables)
        if table is None:
            continue
        usable = next((e_id for e_id, route in _candidate_endpoints(table, endpoint_by_id, prefix_list)
                       if _endpoint_problem(e_id, route, endpoint_by_id.get(e_id), table["RouteTableId"],
                                            subnet.get("VpcId", ""), service) is None), None)
        leaving = sorted({hop.target for hop in s3_hops(table, prefix_list, usable) if hop.leaves},
                         key=lambda target: (not target.startswith("nat-"), target))
        if leaving:
            exits[subnet_id] = (str(table["RouteTableId"]), leaving[0])
    return exits


def taken_from_endpoint(table: Snapshot, prefix_list: Snapshot | None, endpoint_id: str) -> list[Hop]:
    """The S3 ranges that another route wins over the endpoint's prefix-list route (route priority, above)."""
    return [hop for hop in s3_hops(table, prefix_list, endpoint_id) if hop.route is None or
            hop.route.get("DestinationPrefixListId") is None or route_target(hop.route) != endpoint_id]


def describe_hop(hop: Hop, endpoints: Iterable[Snapshot] = ()) -> str:
    """'52.216.0.0/15 → NAT gateway nat-1 (route 52.216.0.0/15, static)'."""
    if hop.route is None:
        return f"{hop.cidr} → no route (dropped)"
    how = "propagated" if _propagated(hop.route) else "static"
    state = ", blackhole" if _blackhole(hop.route) else ""
    return f"{hop.cidr} → {target_kind(hop.target, endpoints)} (route {hop.destination}, {how}{state})"


def s3_reach(
    region: str,
    subnet_ids: Sequence[str],
    security_group_ids: Sequence[str],
    *,
    subnets: Iterable[Snapshot],
    route_tables: Iterable[Snapshot],
    endpoints: Iterable[Snapshot],
    security_groups: Iterable[Snapshot],
    prefix_lists: Iterable[Snapshot],
) -> Reach:
    """Whether TCP 443 to the region's S3 prefix list leaves every subnet through a gateway endpoint.

    `prefix_lists` are describe_managed_prefix_lists entries, optionally with an "Entries" key holding
    get_managed_prefix_list_entries' answer (their CIDRs let a CIDR egress rule count as covering S3).
    """
    service = s3_service_name(region)
    prefix_list = next((p for p in prefix_lists if p.get("PrefixListName") == service), None)
    tables = list(route_tables)
    endpoint_by_id = {e["VpcEndpointId"]: e for e in endpoints if e.get("VpcEndpointId")}
    subnet_by_id = {s["SubnetId"]: s for s in subnets if s.get("SubnetId")}

    links = [_egress_link(security_group_ids, list(security_groups), prefix_list)]
    if not subnet_ids:
        links.append(Link("subnets", False, "the function is in no subnet", "give it the stack's subnets"))
    used: list[str] = []
    for subnet_id in subnet_ids:
        subnet_links, endpoint_id = _subnet_links(
            subnet_id, subnet_by_id.get(subnet_id), tables, endpoint_by_id, prefix_list, service
        )
        links.extend(subnet_links)
        if endpoint_id:
            used.append(endpoint_id)
    distinct = list(dict.fromkeys(used))
    if len(distinct) > 1:  # still a path, but requests carry a different aws:SourceVpce per subnet
        links.append(Link("one endpoint", True, f"the subnets use different endpoints: {', '.join(distinct)}"))
    ok = all(link.ok for link in links)
    return Reach(ok=ok, endpoint_id=distinct[0] if ok and distinct else None, links=links)


def fetch_snapshot(ec2_client: Any, subnet_ids: Sequence[str], security_group_ids: Sequence[str]) -> dict:
    """The read-only describe calls s3_reach needs, as its keyword arguments.

    Filters rather than id lists, so that a deleted subnet or group is reported by s3_reach
    ("not found") instead of raising here.
    """
    region = ec2_client.meta.region_name
    subnets = (
        _all(ec2_client, "describe_subnets", "Subnets", Filters=[_filter("subnet-id", subnet_ids)])
        if subnet_ids
        else []
    )
    vpc_ids = sorted({s["VpcId"] for s in subnets})
    route_tables: list[dict] = []
    endpoints: list[dict] = []
    if vpc_ids:
        vpc_filter = [_filter("vpc-id", vpc_ids)]
        route_tables = _all(ec2_client, "describe_route_tables", "RouteTables", Filters=vpc_filter)
        endpoints = _all(ec2_client, "describe_vpc_endpoints", "VpcEndpoints", Filters=vpc_filter)
    security_groups = (
        _all(
            ec2_client,
            "describe_security_groups",
            "SecurityGroups",
            Filters=[_filter("group-id", security_group_ids)],
        )
        if security_group_ids
        else []
    )
    prefix_lists = _all(
        ec2_client,
        "describe_managed_prefix_lists",
        "PrefixLists",
        Filters=[_filter("prefix-list-name", [s3_service_name(region), s3_ipv6_prefix_list_name(region)])],
    )
    for prefix_list in prefix_lists:
        prefix_list["Entries"] = _all(
            ec2_client, "get_managed_prefix_list_entries", "Entries", PrefixListId=prefix_list["PrefixListId"]
        )
    return {
        "subnets": subnets,
        "route_tables": route_tables,
        "endpoints": endpoints,
        "security_groups": security_groups,
        "prefix_lists": prefix_lists,
    }


# --- subnets, routes and endpoints ---------------------------------------------------------------


def _subnet_links(
    subnet_id: str,
    subnet: Snapshot | None,
    tables: list[Snapshot],
    endpoint_by_id: Mapping[str, Snapshot],
    prefix_list: Snapshot | None,
    service: str,
) -> tuple[list[Link], str | None]:
    table_link = f"{subnet_id}: route table"
    route_link = f"{subnet_id}: route to S3"
    if subnet is None:
        return [Link(table_link, False, f"subnet {subnet_id} not found", "give the function existing subnets")], None
    vpc_id = subnet.get("VpcId", "")
    table = effective_route_table(subnet_id, vpc_id, tables)
    if table is None:
        return [Link(table_link, False, f"no route table found for {subnet_id} (nor a main table of {vpc_id})")], None
    table_id = table["RouteTableId"]
    explicit = any(a.get("SubnetId") == subnet_id for a in table.get("Associations", []))
    how = "explicit association" if explicit else f"no explicit association: the main table of {vpc_id}"
    links = [Link(table_link, True, f"{table_id} ({how})")]

    problems: list[str] = []
    for endpoint_id, route in _candidate_endpoints(table, endpoint_by_id, prefix_list):
        problem = _endpoint_problem(endpoint_id, route, endpoint_by_id.get(endpoint_id), table_id, vpc_id, service)
        if problem is None:
            taken = taken_from_endpoint(table, prefix_list, endpoint_id)
            if taken:  # a route as specific as the list's entry, or more, wins over the endpoint's (route priority)
                where = "; ".join(describe_hop(hop, endpoint_by_id.values()) for hop in taken)
                links.append(Link(route_link, False, (
                    f"{table_id} routes S3 to {endpoint_id}, but by route priority (VPC User Guide: the longest prefix "
                    f"wins, and a static CIDR route wins over a prefix-list route as specific) part of S3 goes "
                    f"elsewhere: {where}"),
                    f"delete or narrow those routes in {table_id} (aws ec2 delete-route --route-table-id {table_id} "
                    f"--destination-cidr-block {taken[0].destination or taken[0].cidr})"))
                return links, None
            target = route.get("DestinationPrefixListId") if route else (prefix_list or {}).get("PrefixListId")
            detail = f"{table_id}: {target or service} → {endpoint_id} (Gateway, {service})"
            links.append(Link(route_link, True, detail))
            return links, endpoint_id
        problems.append(problem)
    if problems:
        fix = f"route {table_id} through a gateway endpoint for {service} (modify-vpc-endpoint --add-route-table-ids)"
        links.append(Link(route_link, False, "; ".join(problems), fix))
    else:
        links.append(_no_route_link(route_link, table, explicit, subnet_id, vpc_id, endpoint_by_id, service,
                                    prefix_list))
    return links, None


def _candidate_endpoints(
    table: Snapshot, endpoint_by_id: Mapping[str, Snapshot], prefix_list: Snapshot | None
) -> list[tuple[str, Snapshot | None]]:
    """Endpoints that may carry the table's S3 traffic, each with its route (None: no route seen).

    Real AWS: a gateway endpoint's route table gets a route {DestinationPrefixListId: pl-…,
    GatewayId: vpce-…}, added and removed together with the endpoint's RouteTableIds.
    moto 5.2 (verified): create_vpc_endpoint(RouteTableIds=…) adds that route, but
    modify_vpc_endpoint(AddRouteTableIds=…) adds no route and RemoveRouteTableIds leaves the old one.
    So with no S3 route in the table, an endpoint that lists the table counts (moto's shape; in AWS
    the two always agree), and a route whose endpoint no longer lists the table is judged stale.
    """
    prefix_list_id = (prefix_list or {}).get("PrefixListId")
    table_id = table.get("RouteTableId")
    found: dict[str, Snapshot | None] = {}
    for route in table.get("Routes", []):
        gateway = route.get("GatewayId") or route.get("VpcEndpointId") or ""
        destination = route.get("DestinationPrefixListId")
        if not gateway.startswith("vpce-") or not destination:
            continue
        if prefix_list_id and destination != prefix_list_id:
            continue  # another service's prefix list (DynamoDB): not a route to S3
        found.setdefault(gateway, route)
    if found:  # a table has one route per prefix list: where it points is where traffic goes
        return list(found.items())
    return [(e_id, None) for e_id, e in endpoint_by_id.items() if table_id in e.get("RouteTableIds", [])]


def _endpoint_problem(
    endpoint_id: str,
    route: Snapshot | None,
    endpoint: Snapshot | None,
    table_id: str,
    vpc_id: str,
    service: str,
) -> str | None:
    if route and str(route.get("State", "active")).lower() == "blackhole":
        return f"the route to {endpoint_id} is a blackhole (the endpoint was deleted)"
    if endpoint is None:
        return f"{table_id} routes S3 to {endpoint_id}, which does not exist"
    kind = endpoint.get("VpcEndpointType", "")
    if kind.lower() != "gateway":
        return f"{endpoint_id} is an {kind} endpoint; a route needs a Gateway endpoint"
    if endpoint.get("ServiceName") != service:
        served = endpoint.get("ServiceName")
        return f"{endpoint_id} serves {served}, not {service} (a gateway endpoint serves its own region only)"
    state = str(endpoint.get("State", "")).lower()
    if state != "available":
        return f"{endpoint_id} is {endpoint.get('State') or 'in an unknown state'}, not available"
    if endpoint.get("VpcId") not in (None, vpc_id):
        return f"{endpoint_id} belongs to {endpoint.get('VpcId')}, not {vpc_id}"
    if table_id not in endpoint.get("RouteTableIds", []):
        return f"{endpoint_id} does not list {table_id} among its route tables"
    return None


def leaving_detail(hop: Hop, endpoints: Iterable[Snapshot], region: str, sealed: bool = True) -> str:
    """What becomes of S3 traffic that leaves by `hop` (the sources are in the module's docstring); `sealed`: the
    bucket's seal is in place (plan speaks of a seal still to come)."""
    from s3gw.pricing import nat_cost_line

    what, route = target_kind(hop.target, endpoints), f"route {hop.destination}"
    refused = "so the seal refuses it" if sealed else "which the seal will refuse"
    if hop.target.startswith("nat-"):
        return f"{what} ({route}), without aws:SourceVpce, {refused}; NAT charges: {nat_cost_line(region)}"
    if hop.target.startswith("igw-"):
        return (f"{what} ({route}), which gives a Lambda ENI (no public IP) no way out, and other hosts' S3 "
                "traffic no aws:SourceVpce")
    return (f"{what} ({route}): out of the VPC, where this VPC's gateway endpoint cannot carry it; whatever answers "
            f"beyond it, the request carries no aws:SourceVpce of this endpoint, {refused}")


def _no_route_link(
    name: str,
    table: Snapshot,
    explicit: bool,
    subnet_id: str,
    vpc_id: str,
    endpoint_by_id: Mapping[str, Snapshot],
    service: str,
    prefix_list: Snapshot | None = None,
) -> Link:
    table_id = table["RouteTableId"]
    detail = f"{table_id} has no route to the S3 prefix list through a gateway endpoint"
    fix = f"add {table_id} to the S3 gateway endpoint (modify-vpc-endpoint --add-route-table-ids {table_id})"
    hops = [hop for hop in s3_hops(table, prefix_list) if hop.leaves]
    if hops:
        detail += f"; S3 traffic from {subnet_id} leaves through " + leaving_detail(
            hops[0], endpoint_by_id.values(), service.split(".")[2])
    in_vpc = [e for e in endpoint_by_id.values() if e.get("VpcId") in (None, vpc_id)]
    for_s3 = [e for e in in_vpc if e.get("ServiceName") == service]
    gateways = [e for e in for_s3 if e.get("VpcEndpointType", "").lower() == "gateway"]
    interfaces = [e for e in for_s3 if e.get("VpcEndpointType", "").lower() == "interface"]
    if gateways and not explicit:
        served = ", ".join(t for e in gateways for t in e.get("RouteTableIds", [])) or "no table"
        detail += (
            f"; {subnet_id} has no explicit association so it uses the main table, while "
            f"{gateways[0]['VpcEndpointId']} serves {served}"
        )
        fix = f"associate {subnet_id} with a table the endpoint serves, or add {table_id} to the endpoint"
    elif interfaces and not gateways:
        detail += f"; {interfaces[0]['VpcEndpointId']} is an Interface endpoint, which needs no route but its own DNS"
        fix = f"create a Gateway endpoint for {service} on {table_id}"
    elif not gateways:
        detail += f"; the VPC has no gateway endpoint for {service}"
        fix = f"create a Gateway endpoint for {service} with route table {table_id}"
    return Link(name, False, detail, fix)


# --- security groups ------------------------------------------------------------------------------


def _egress_link(
    security_group_ids: Sequence[str], security_groups: list[Snapshot], prefix_list: Snapshot | None
) -> Link:
    name = "security groups: egress 443"
    by_id = {g.get("GroupId"): g for g in security_groups}
    missing = [g for g in security_group_ids if g not in by_id]
    if missing:
        return Link(name, False, f"security group {', '.join(missing)} not found", "give the function existing groups")
    if not security_group_ids:
        return Link(name, False, "the function has no security group", "give it the stack's security group")
    rules = [rule for g in security_group_ids for rule in by_id[g].get("IpPermissionsEgress", [])]
    prefix_list_id = (prefix_list or {}).get("PrefixListId")
    entries = (prefix_list or {}).get("Entries")
    covered_cidrs = [ipaddress.ip_network(e["Cidr"], strict=False) for e in entries or [] if e.get("Cidr")]
    allowed_lists: set[str] = set()
    allowed_cidrs: list[ipaddress.IPv4Network] = []
    for rule in rules:
        if not _allows_https(rule):
            continue
        allowed_lists.update(p.get("PrefixListId", "") for p in rule.get("PrefixListIds", []))
        for ip_range in rule.get("IpRanges", []):
            network = ipaddress.ip_network(ip_range.get("CidrIp", ""), strict=False)
            if isinstance(network, ipaddress.IPv4Network):
                allowed_cidrs.append(network)
    groups = ", ".join(security_group_ids)
    if prefix_list_id and prefix_list_id in allowed_lists:
        return Link(name, True, f"{groups} allow TCP 443 to {prefix_list_id}")
    everywhere = any(n.prefixlen == 0 for n in allowed_cidrs)
    # Unknown prefix-list CIDRs: only 0.0.0.0/0 is sure to cover S3's addresses.
    covers_all = bool(covered_cidrs) and all(any(c.subnet_of(a) for a in allowed_cidrs) for c in covered_cidrs)
    if everywhere or covers_all:
        cidrs = ", ".join(sorted({str(n) for n in allowed_cidrs}))
        return Link(name, True, f"{groups} allow TCP 443 to {cidrs}")
    target = prefix_list_id or "the S3 prefix list"
    summary = "; ".join(_describe_rule(r) for r in rules) or "no egress rules"
    fix = (
        f"authorize-security-group-egress --group-id {security_group_ids[0]} --ip-permissions "
        f"IpProtocol=tcp,FromPort=443,ToPort=443,PrefixListIds=[{{PrefixListId={target}}}]"
    )
    return Link(name, False, f"{groups} allow no TCP 443 to {target} (egress: {summary})", fix)


def _allows_https(rule: Snapshot) -> bool:
    protocol = str(rule.get("IpProtocol", "")).lower()
    if protocol in ("-1", "all"):
        return True
    if protocol not in ("tcp", "6"):
        return False
    low, high = rule.get("FromPort"), rule.get("ToPort")
    if low is None or high is None or low == -1:
        return True  # no port range on a TCP rule means every port
    return int(low) <= HTTPS_PORT <= int(high)


def _describe_rule(rule: Snapshot) -> str:
    protocol = str(rule.get("IpProtocol", ""))
    ports = "all" if protocol == "-1" else f"{protocol} {rule.get('FromPort')}-{rule.get('ToPort')}"
    targets = [r.get("CidrIp", "") for r in rule.get("IpRanges", [])]
    targets += [p.get("PrefixListId", "") for p in rule.get("PrefixListIds", [])]
    targets += [g.get("GroupId", "") for g in rule.get("UserIdGroupPairs", [])]
    return f"{ports} → {', '.join(targets) or 'nowhere'}"


# --- helpers --------------------------------------------------------------------------------------


def _ipv4(cidr: Any) -> ipaddress.IPv4Network | None:
    if not cidr:
        return None
    try:
        network = ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        return None
    return network if isinstance(network, ipaddress.IPv4Network) else None


def _propagated(route: Snapshot) -> bool:
    return route.get("Origin") == "EnableVgwRoutePropagation"


def _blackhole(route: Snapshot) -> bool:
    return str(route.get("State", "active")).lower() == "blackhole"


def _associated(association: Snapshot) -> bool:
    state = association.get("AssociationState", {}).get("State", "associated")
    return state in ("associated", "associating")


def _filter(name: str, values: Iterable[str]) -> dict[str, Any]:
    return {"Name": name, "Values": list(values)}


def _all(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict]:
    if client.can_paginate(operation):
        return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page.get(key, [])]
    return list(getattr(client, operation)(**kwargs).get(key, []))


# --- IPv6 (issue 23) ----------------------------------------------------------------------------------
#
# A gateway endpoint carries IPv6 only when its IpAddressType is dualstack (AWS PrivateLink guide, "Gateway
# endpoints", IP address type: docs.aws.amazon.com/vpc/latest/privatelink/gateway-endpoints.html
# #gateway-endpoint-ip-address-type; S3 since November 2025). A prefix list holds one address family ("A prefix list
# supports a single type of IP addressing only (IPv4 or IPv6). You cannot combine IPv4 and IPv6 CIDR blocks in a
# single prefix list": VPC User Guide, "Prefix lists", concepts and rules; DescribeManagedPrefixLists answers one
# AddressFamily per list), so S3's IPv6 ranges are a second AWS-managed list, and a dual-stack endpoint's tables get
# a second route, to that list. Without it "the routing tables only get propagated with the S3/DynamoDB IPv4 prefix
# list routes and clients using IPv6 ... can not route request to S3 and hang if no external egress"
# (terraform-aws-modules/terraform-aws-vpc#1091). AWS names its IPv6 managed lists com.amazonaws.<region>.ipv6.<service>
# (com.amazonaws.<region>.ipv6.vpc-lattice, as moto's EC2 models it too). An egress-only internet gateway takes IPv6
# out to S3's public dual-stack endpoint: the request arrives without aws:SourceVpce, so a seal refuses it
# (IAM User Guide, global condition keys: aws:SourceVpce is present only through a VPC endpoint).

_IPV6_EVERYWHERE = ipaddress.ip_network("::/0")


def s3_ipv6_prefix_list_name(region: str) -> str:
    return f"com.amazonaws.{region}.ipv6.s3"


def ipv6_prefix_list(prefix_lists: Iterable[Snapshot], region: str) -> Snapshot | None:
    name = s3_ipv6_prefix_list_name(region)
    return next((p for p in prefix_lists if p.get("PrefixListName") == name
                 and str(p.get("AddressFamily", "IPv6")).lower() == "ipv6"), None)


def subnet_ipv6(subnet: Snapshot | None) -> str | None:
    """The subnet's IPv6 block, if it has one not on its way out (moto 5.2 answers the State as the text of a dict:
    only the states that mean "gone" are read)."""
    for association in (subnet or {}).get("Ipv6CidrBlockAssociationSet") or []:
        state = str((association.get("Ipv6CidrBlockState") or {}).get("State", "associated"))
        if state not in ("disassociating", "disassociated", "failing", "failed") and association.get("Ipv6CidrBlock"):
            return str(association["Ipv6CidrBlock"])
    return None


def endpoint_address_type(endpoint: Snapshot | None) -> str:
    """A gateway endpoint's IpAddressType; an answer without one is an endpoint from before IPv6 (ipv4)."""
    return str((endpoint or {}).get("IpAddressType") or "ipv4").lower()


def _ipv6(cidr: Any) -> ipaddress.IPv6Network | None:
    if not cidr:
        return None
    try:
        network = ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        return None
    return network if isinstance(network, ipaddress.IPv6Network) else None


def s3_hops_v6(table: Snapshot, prefix_list: Snapshot | None, endpoints: Mapping[str, Snapshot]) -> list[Hop]:
    """Where the table sends each IPv6 range of S3, by the VPC User Guide's route priority (as s3_hops for IPv4).

    moto's shape: a dual-stack endpoint that lists the table stands for its IPv6 prefix-list route when the table
    shows none (in AWS the two come and go together, with the endpoint's tables and its IpAddressType)."""
    routes = [dict(r) for r in table.get("Routes", [])]
    list_id = (prefix_list or {}).get("PrefixListId")
    if list_id and not any(r.get("DestinationPrefixListId") == list_id for r in routes):
        routes += [{"DestinationPrefixListId": list_id, "GatewayId": e_id, "State": "active", "Origin": "CreateRoute"}
                   for e_id, e in endpoints.items() if table.get("RouteTableId") in e.get("RouteTableIds", [])
                   and endpoint_address_type(e) == "dualstack" and str(e.get("VpcEndpointType")).lower() == "gateway"]
    entries = [n for e in (prefix_list or {}).get("Entries") or [] if (n := _ipv6(e.get("Cidr"))) is not None]
    hops = []
    for entry in entries or [_IPV6_EVERYWHERE]:
        ranked: list[tuple[tuple[int, int], Snapshot]] = []
        for route in routes:
            if route.get("DestinationPrefixListId"):
                if list_id and route["DestinationPrefixListId"] == list_id:
                    ranked.append(((entry.prefixlen if entries else _UNKNOWN_ENTRY_PREFIX, 1), route))
                continue
            network = _ipv6(route.get("DestinationIpv6CidrBlock"))
            if network is not None and entry.subnet_of(network):
                ranked.append(((network.prefixlen, 0 if _propagated(route) else 2), route))
        hops.append(Hop(str(entry), max(ranked, key=lambda pair: pair[0])[1] if ranked else None))
    return hops


@dataclass(frozen=True)
class Ipv6Path:
    """How one subnet's IPv6 traffic to S3 goes: through `endpoint_id`, out by `exit` (eigw-…), or nowhere."""

    subnet_id: str
    table_id: str
    endpoint_id: str | None = None
    exit: str | None = None  # the target IPv6 S3 traffic leaves through instead of the endpoint
    destination: str = ""  # the route it leaves by ("::/0")
    problem: str = ""  # why it takes no endpoint (no IPv6 block, no route, the endpoint is ipv4 …)
    fix: str = ""


def s3_paths_v6(subnet_ids: Sequence[str], *, subnets: Iterable[Snapshot], route_tables: Iterable[Snapshot],
                endpoints: Iterable[Snapshot], prefix_lists: Iterable[Snapshot], region: str, **_: Any
                ) -> list[Ipv6Path]:
    """Each subnet's IPv6 way to S3 (the subnets without an IPv6 block are left out)."""
    service = s3_service_name(region)
    prefix_list = ipv6_prefix_list(prefix_lists, region)
    tables = list(route_tables)
    endpoint_by_id = {e["VpcEndpointId"]: e for e in endpoints if e.get("VpcEndpointId")}
    paths = []
    for subnet in subnets:
        subnet_id = subnet.get("SubnetId", "")
        if subnet_id not in subnet_ids or subnet_ipv6(subnet) is None:
            continue
        vpc_id = subnet.get("VpcId", "")
        table = effective_route_table(subnet_id, vpc_id, tables)
        if table is None:
            paths.append(Ipv6Path(subnet_id, "", problem=f"no route table found for {subnet_id}"))
            continue
        paths.append(_ipv6_path(subnet_id, vpc_id, table, prefix_list, endpoint_by_id, service))
    return paths


def _ipv6_path(subnet_id: str, vpc_id: str, table: Snapshot, prefix_list: Snapshot | None,
               endpoint_by_id: Mapping[str, Snapshot], service: str) -> Ipv6Path:
    table_id = str(table["RouteTableId"])
    hops = s3_hops_v6(table, prefix_list, endpoint_by_id)
    leaving = [hop for hop in hops if hop.leaves]
    if leaving:
        hop = leaving[0]
        return Ipv6Path(subnet_id, table_id, exit=hop.target, destination=hop.destination, problem=(
            f"{table_id} sends S3's IPv6 range {hop.cidr} to {target_kind(hop.target)} (route {hop.destination}), "
            "not to the endpoint: it arrives without aws:SourceVpce"),
            fix=f"make the S3 gateway endpoint dualstack on {table_id}")
    on_list = [hop for hop in hops if hop.route is not None and hop.route.get("DestinationPrefixListId")]
    for hop in on_list:
        endpoint_id = hop.target
        endpoint = endpoint_by_id.get(endpoint_id)
        problem = _endpoint_problem(endpoint_id, hop.route, endpoint, table_id, vpc_id, service)
        if problem is None and endpoint_address_type(endpoint) != "dualstack":
            problem = (f"{endpoint_id} has IpAddressType {endpoint_address_type(endpoint)}: a gateway endpoint "
                       "carries IPv6 only as dualstack")
        if problem:
            return Ipv6Path(subnet_id, table_id, problem=problem, fix=_dualstack_fix(endpoint_id))
    if on_list and len(on_list) == len(hops):
        return Ipv6Path(subnet_id, table_id, endpoint_id=on_list[0].target)
    ipv4_only = [e_id for e_id, e in endpoint_by_id.items() if table_id in e.get("RouteTableIds", [])
                 and endpoint_address_type(e) != "dualstack" and e.get("ServiceName") == service]
    if ipv4_only:
        endpoint_id = ipv4_only[0]
        return Ipv6Path(subnet_id, table_id, problem=(
            f"{endpoint_id} has IpAddressType {endpoint_address_type(endpoint_by_id[endpoint_id])}, so {table_id} has "
            "no route for S3's IPv6 prefix list: IPv6 calls to S3's dual-stack endpoint are dropped (they time out)"),
            fix=_dualstack_fix(endpoint_id))
    return Ipv6Path(subnet_id, table_id, problem=(
        f"{table_id} has no route for S3's IPv6 prefix list to a gateway endpoint, nor any other IPv6 way out: IPv6 "
        "calls to S3's dual-stack endpoint are dropped (they time out)"),
        fix=f"add {table_id} to a dualstack S3 gateway endpoint")


def _dualstack_fix(endpoint_id: str) -> str:
    return f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {endpoint_id} --ip-address-type dualstack"


def s3_reach_v6(region: str, subnet_ids: Sequence[str], security_group_ids: Sequence[str], *,
                subnets: Iterable[Snapshot], route_tables: Iterable[Snapshot], endpoints: Iterable[Snapshot],
                security_groups: Iterable[Snapshot], prefix_lists: Iterable[Snapshot]) -> Reach:
    """Whether TCP 443 to S3's IPv6 ranges leaves every subnet through a dual-stack gateway endpoint: the links
    named per family, as `verify` and `test-invoke` say them."""
    subnets, prefix_lists = list(subnets), list(prefix_lists)
    prefix_list = ipv6_prefix_list(prefix_lists, region)
    links = [_egress_link_v6(security_group_ids, list(security_groups), prefix_list)]
    by_id = {s.get("SubnetId"): s for s in subnets}
    for subnet_id in subnet_ids:
        if subnet_ipv6(by_id.get(subnet_id)) is None:
            links.append(Link(f"{subnet_id}: IPv6 block", False, f"{subnet_id} has no IPv6 block: a dual-stack "
                              "function needs dual-stack subnets", f"associate an IPv6 /64 with {subnet_id}"))
    used: list[str] = []
    for path in s3_paths_v6(subnet_ids, subnets=subnets, route_tables=route_tables, endpoints=endpoints,
                            prefix_lists=prefix_lists, region=region):
        name = f"{path.subnet_id}: IPv6 route to S3"
        if path.endpoint_id:
            links.append(Link(name, True, f"{path.table_id}: {(prefix_list or {}).get('PrefixListId', 'S3 IPv6')} → "
                              f"{path.endpoint_id} (Gateway, dualstack)"))
            used.append(path.endpoint_id)
        else:
            links.append(Link(name, False, path.problem, path.fix))
    distinct = list(dict.fromkeys(used))
    ok = all(link.ok for link in links)
    return Reach(ok=ok, endpoint_id=distinct[0] if ok and distinct else None, links=links)


def _egress_link_v6(security_group_ids: Sequence[str], security_groups: list[Snapshot],
                    prefix_list: Snapshot | None) -> Link:
    name = "security groups: egress 443 (IPv6)"
    by_id = {g.get("GroupId"): g for g in security_groups}
    rules = [rule for g in security_group_ids for rule in (by_id.get(g) or {}).get("IpPermissionsEgress", [])
             if _allows_https(rule)]
    list_id = (prefix_list or {}).get("PrefixListId")
    entries = [n for e in (prefix_list or {}).get("Entries") or [] if (n := _ipv6(e.get("Cidr"))) is not None]
    lists = {p.get("PrefixListId") for rule in rules for p in rule.get("PrefixListIds", [])}
    cidrs = [n for rule in rules for r in rule.get("Ipv6Ranges", []) if (n := _ipv6(r.get("CidrIpv6"))) is not None]
    groups = ", ".join(security_group_ids) or "no group"
    if list_id and list_id in lists:
        return Link(name, True, f"{groups} allow TCP 443 to {list_id}")
    if any(n.prefixlen == 0 for n in cidrs) or (entries and all(any(e.subnet_of(c) for c in cidrs) for e in entries)):
        return Link(name, True, f"{groups} allow TCP 443 to {', '.join(sorted(str(n) for n in cidrs))}")
    target = list_id or "S3's IPv6 prefix list"
    first = security_group_ids[0] if security_group_ids else "GROUP"
    return Link(name, False, f"{groups} allow no TCP 443 to {target}: the function's IPv6 calls to S3 are dropped",
                f"aws ec2 authorize-security-group-egress --group-id {first} --ip-permissions "
                f"IpProtocol=tcp,FromPort=443,ToPort=443,PrefixListIds=[{{PrefixListId={target}}}]")


# --- every subnet's way to a service (issue 24, `s3gw audit`) -----------------------------------------------------

# The path kinds `audit` names, by the target that wins (route priority, above). A Gateway Load Balancer endpoint is
# how a firewall sits in a route (AWS Network Firewall's endpoints are of that type); other targets (a virtual private
# gateway, a NAT instance's network interface, a local or carrier gateway) are "other".
PATH_KINDS = ("endpoint", "nat", "igw", "eigw", "tgw", "firewall", "peering", "none", "other")


def path_kind(target: str, endpoints: Iterable[Snapshot] = ()) -> str:
    if target.startswith("nat-"):
        return "nat"
    if target.startswith("igw-"):
        return "igw"
    if target.startswith("eigw-"):
        return "eigw"
    if target.startswith("tgw-"):
        return "tgw"
    if target.startswith("pcx-"):
        return "peering"
    if target.startswith("vpce-") and "firewall" in target_kind(target, endpoints):
        return "firewall"
    return "other"


@dataclass(frozen=True)
class ServicePath:
    """How a subnet's traffic to one AWS service's prefix list goes: `path` (PATH_KINDS) by `target`, decided by
    the route `via` ("0.0.0.0/0 → nat-…", "pl-… → vpce-…") of table `table_id`."""

    path: str
    target: str
    via: str
    table_id: str


def service_path(subnet: Snapshot, route_tables: Iterable[Snapshot], endpoints: Iterable[Snapshot],
                 prefix_list: Snapshot | None, service: str) -> ServicePath:
    """The way one subnet's traffic to `service` (com.amazonaws.<region>.s3 or .dynamodb, whose managed prefix list is
    `prefix_list`) takes, by the route priority rules above: a usable gateway endpoint of that service when every
    range of the list is routed to it, else the first way out that takes a range (a NAT gateway named first), else
    none (dropped)."""
    subnet_id, vpc_id = str(subnet.get("SubnetId", "")), str(subnet.get("VpcId", ""))
    endpoints = list(endpoints)
    table = effective_route_table(subnet_id, vpc_id, route_tables)
    if table is None:
        return ServicePath("none", "", f"no route table for {subnet_id}", "")
    table_id = str(table["RouteTableId"])
    by_id = {e["VpcEndpointId"]: e for e in endpoints if e.get("VpcEndpointId")}
    usable = next((e_id for e_id, route in _candidate_endpoints(table, by_id, prefix_list)
                   if _endpoint_problem(e_id, route, by_id.get(e_id), table_id, vpc_id, service) is None), None)
    hops = s3_hops(table, prefix_list, usable)
    leaving = sorted((hop for hop in hops if hop.leaves), key=lambda hop: (not hop.target.startswith("nat-"),
                                                                            hop.target))
    if leaving:
        hop = leaving[0]
        return ServicePath(path_kind(hop.target, endpoints), hop.target, f"{hop.destination} → {hop.target}", table_id)
    if usable and hops and all(hop.route is not None and hop.target == usable for hop in hops):
        list_id = (prefix_list or {}).get("PrefixListId") or service
        return ServicePath("endpoint", usable, f"{list_id} → {usable}", table_id)
    return ServicePath("none", "", f"{table_id} has no route to {service}", table_id)


# --- DynamoDB (issue 22) ---------------------------------------------------------------------------------------


def dynamodb_service_name(region: str) -> str:
    return f"com.amazonaws.{region}.dynamodb"


def dynamodb_reach(region: str, subnet_ids: Sequence[str], security_group_ids: Sequence[str], *,
                   subnets: Iterable[Snapshot], route_tables: Iterable[Snapshot], endpoints: Iterable[Snapshot],
                   security_groups: Iterable[Snapshot], prefix_list: Snapshot | None, **_: Any) -> Reach:
    """Whether TCP 443 to the region's DynamoDB prefix list leaves every subnet through a DynamoDB gateway endpoint:
    the same rules as for S3 (a DynamoDB gateway endpoint is routed by its own prefix list, com.amazonaws.<region>
    .dynamodb: PrivateLink guide, "Gateway endpoints for Amazon DynamoDB"). `prefix_list` is DynamoDB's, with its
    "Entries" when read. A link of a subnet whose DynamoDB traffic leaves through a NAT gateway says "nat-"."""
    service = dynamodb_service_name(region)
    tables, endpoints = list(route_tables), list(endpoints)
    by_id = {s["SubnetId"]: s for s in subnets if s.get("SubnetId")}
    egress = _egress_link(security_group_ids, list(security_groups), prefix_list)
    links = [Link("security groups: egress 443 to DynamoDB", egress.ok,
                  egress.detail.replace("the S3 prefix list", "the DynamoDB prefix list"), egress.fix)]
    used: list[str] = []
    for subnet_id in subnet_ids:
        subnet = by_id.get(subnet_id)
        name = f"{subnet_id}: route to DynamoDB"
        if subnet is None:
            links.append(Link(name, False, f"subnet {subnet_id} not found", "give the function existing subnets"))
            continue
        path = service_path(subnet, tables, endpoints, prefix_list, service)
        if path.path == "endpoint":
            used.append(path.target)
            links.append(Link(name, True, f"{path.table_id}: {path.via} (Gateway, {service})"))
            continue
        where = path.table_id or "its route table"
        links.append(Link(name, False, f"{path.via} ({path.path}{': ' + path.target if path.target else ''})",
                          f"add {where} to the DynamoDB gateway endpoint (modify-vpc-endpoint "
                          f"--add-route-table-ids {where}), or run 'up' again"))
    distinct = list(dict.fromkeys(used))
    ok = all(link.ok for link in links) and bool(subnet_ids)
    return Reach(ok=ok, endpoint_id=distinct[0] if ok and distinct else None, links=links)


def fetch_dynamodb_prefix_list(ec2_client: Any) -> dict | None:
    """The region's DynamoDB prefix list with its entries, or None."""
    lists = _all(ec2_client, "describe_managed_prefix_lists", "PrefixLists",
                 Filters=[_filter("prefix-list-name", [dynamodb_service_name(ec2_client.meta.region_name)])])
    if not lists:
        return None
    found = dict(lists[0])
    found["Entries"] = _all(ec2_client, "get_managed_prefix_list_entries", "Entries",
                            PrefixListId=found["PrefixListId"])
    return found
