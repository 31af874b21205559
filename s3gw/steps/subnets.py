"""One private subnet in each of N availability zones, CIDRs carved from the VPC's block."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from s3gw.config import subnet_cidrs
from s3gw.errors import AwsError, UsageError, error_message
from s3gw.reach import effective_route_table, internet_exit, s3_ipv6_prefix_list_name, subnet_ipv6
from s3gw.steps.base import (
    Context,
    Drift,
    Step,
    adoption,
    at_once,
    call,
    create_once,
    delete_retrying,
    is_code,
    tag_dict,
)
from s3gw.words import plural

# An account may be refused subnets in some zones of a region (older accounts in us-east-1, for one). EC2 says
# so (InvalidParameterValue; the text as users report it, e.g. widdix/aws-cf-templates#36):
_ZONE_REFUSED = "Subnets can currently only be created in the following availability zones"


def region_zones(ctx: Context) -> list[str]:
    """The region's available zones, sorted, read once per run."""
    if ctx.zones is None:
        zones = call(
            "listing the region's availability zones",
            ctx.aws.ec2.describe_availability_zones,
            Filters=[{"Name": "state", "Values": ["available"]},
                     {"Name": "zone-type", "Values": ["availability-zone"]}],
        )["AvailabilityZones"]
        ctx.zones = sorted(zone["ZoneName"] for zone in zones)
    return ctx.zones


def zone_names(ctx: Context) -> list[str]:
    """The zones the subnets go in: --zones as named, else the first --azs of the region. Without --azs (given
    or recorded) that is min(3, the zones the region offers): us-west-1 has two."""
    names = region_zones(ctx)
    config = ctx.config
    if config.zones:
        named = config.zones.split(",")
        unknown = [z for z in named if z not in names]
        if unknown:
            raise UsageError(f"--zones: {', '.join(unknown)} is not an available zone of {config.region}",
                             f"the region has {', '.join(names)}")
        return named
    if "azs" not in config.given and not ctx.state.settings.get("azs") and config.azs > len(names):
        ctx.config = config = replace(config, azs=len(names))
    if config.azs > len(names):
        raise UsageError(f"--azs {config.azs} is more than the {len(names)} availability zones of "
                         f"{config.region}", f"use --azs {len(names)} or fewer")
    return names[: config.azs]


class SubnetsStep(Step):
    name = "subnets"
    title = "private subnets"
    keys = ("subnet_ids",)

    def _existing(self, ctx: Context) -> dict[int, str]:
        """Our subnets in the VPC, by their s3gw:index tag."""
        return {index: subnet["SubnetId"] for index, subnet in self._ours(ctx).items()}

    def _ours(self, ctx: Context, *, fresh: bool = False) -> dict[int, dict[str, Any]]:
        """Read once per run (one describe for all of them); the subnets this run makes are added as made."""
        vpc_id = ctx.outputs.get("vpc_id")
        if not vpc_id:
            return {}
        if fresh:
            ctx.unsee("subnets")
        return ctx.remember("subnets", lambda: self._read(ctx, vpc_id))

    def _read(self, ctx: Context, vpc_id: str) -> dict[int, dict[str, Any]]:
        subnets = call(
            "looking up the subnets",
            ctx.aws.ec2.describe_subnets,
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, ctx.stack_filter()],
        )["Subnets"]
        by_index: dict[int, dict[str, Any]] = {}
        for subnet in subnets:
            tags = tag_dict(subnet.get("Tags"))
            if tags.get("s3gw:index", "").isdigit():
                by_index[int(tags["s3gw:index"])] = subnet
        return by_index

    def find(self, ctx: Context) -> dict[str, Any] | None:
        if ctx.seen.get("vpc_new") != ctx.outputs.get("vpc_id"):  # a VPC this run made has none (steps.vpc)
            ctx.unsee("subnets")  # find starts a run's look at the resource: what it reads, check and repair reuse
        if ctx.config.vpc_id:
            return {"subnet_ids": chosen_subnets(ctx)}
        existing = self._existing(ctx)
        if not existing:
            return None
        return {"subnet_ids": [existing[i] for i in sorted(existing)]}

    def create(self, ctx: Context) -> None:
        self.repair(ctx, self.check(ctx))

    def check(self, ctx: Context) -> list[Drift]:
        if ctx.config.vpc_id:
            return []  # the user's subnets
        ours = self._ours(ctx)
        zones = zone_names(ctx)
        drifts = [Drift(str(i), f"no subnet in {zone}") for i, zone in enumerate(zones) if i not in ours]
        if ctx.config.dualstack:  # each subnet of the stack a /64 of the VPC's block (issue 23)
            drifts += [Drift(f"ipv6:{i}", f"{subnet['SubnetId']} has no IPv6 block")
                       for i, subnet in sorted(ours.items()) if subnet_ipv6(subnet) is None]
        return drifts

    def repair(self, ctx: Context, drifts: list[Drift]) -> None:
        """Each missing subnet is made in its own zone, all at once (up to --max-concurrency), each recorded the
        moment it exists; one whose zone EC2 refuses then tries the region's spare zones, one after another."""
        for drift in [d for d in drifts if d.key.startswith("ipv6:")]:
            self._add_ipv6(ctx, int(drift.key.split(":")[1]))
        drifts = [d for d in drifts if not d.key.startswith("ipv6:")]
        if not drifts:
            return
        zones = zone_names(ctx)
        cidrs = subnet_cidrs(ctx.config.vpc_cidr, ctx.config.azs)
        ours = self._ours(ctx)
        existing = {index: subnet["SubnetId"] for index, subnet in ours.items()}
        used = {subnet.get("AvailabilityZone") for subnet in ours.values()}
        # A zone that refuses subnets is skipped for the next one of the region, unless the user named the zones.
        spare = [] if ctx.config.zones else [z for z in region_zones(ctx) if z not in zones]
        lock = threading.Lock()  # the subnets made at once write `existing`, the run's view and the state in turn

        def make(index: int, zone: str) -> bool:
            """The subnet for `index` in `zone`, recorded; False when EC2 refuses subnets in that zone."""
            try:
                subnet_id = self._create(ctx, index, zone, cidrs[index])
            except Exception as failure:
                exc = failure.__cause__ or failure  # create_once hands back the translated error
                if not (is_code(exc, "InvalidParameterValue") and _ZONE_REFUSED in error_message(exc)):
                    raise
                with lock:
                    used.add(zone)
                if ctx.config.zones:
                    raise AwsError(f"EC2 refuses subnets in {zone} for this account: {error_message(exc)}",
                                   "name other zones with --zones") from None
                ctx.progress(f"skipping {zone}: EC2 refuses subnets there for this account")
                return False
            with lock:
                existing[index] = subnet_id
                used.add(zone)
                made: dict[str, Any] = {"SubnetId": subnet_id, "AvailabilityZone": zone}
                if ctx.config.dualstack:  # made with its /64 (_create)
                    made["Ipv6CidrBlockAssociationSet"] = [{"Ipv6CidrBlock": ipv6_subnet(ctx, index),
                                                            "Ipv6CidrBlockState": {"State": "associated"}}]
                self._ours(ctx)[index] = made
                ctx.record("subnet_ids", [existing[i] for i in sorted(existing)])
            return True

        own_zone = [int(d.key) for d in drifts if zones[int(d.key)] not in used]
        tried = at_once(ctx, *[lambda i=index: make(i, zones[i]) for index in own_zone])
        left = [int(d.key) for d in drifts if int(d.key) not in own_zone]
        left += [index for index, ok in zip(own_zone, tried, strict=True) if not ok]
        for index in sorted(left):  # the spare zones, one subnet at a time: two must not take the same zone
            if not any(make(index, zone) for zone in spare if zone not in used):
                raise AwsError(f"no zone of {ctx.config.region} left that accepts a subnet for index {index}",
                               "use a smaller --azs")
        view = self._ours(ctx)  # a create_once retry may have read the view again meanwhile: nothing made is lost
        for index, subnet_id in existing.items():
            view.setdefault(index, {"SubnetId": subnet_id})

    def _create(self, ctx: Context, index: int, zone: str, cidr: str) -> str:
        # dualstack: the subnet's /64, the index-th of the VPC's /56 (CreateSubnet Ipv6CidrBlock: "The subnet size must
        # use a /64 prefix length", EC2 API Reference). AssignIpv6AddressOnCreation and MapPublicIpOnLaunch are left
        # at CreateSubnet's false: nothing in the subnet gets a public address by default.
        ipv6 = {"Ipv6CidrBlock": ipv6_subnet(ctx, index)} if ctx.config.dualstack else {}
        return create_once(
            ctx, f"creating the subnet in {zone}",
            lambda: ctx.aws.ec2_once.create_subnet(
                VpcId=ctx.outputs["vpc_id"], CidrBlock=cidr, AvailabilityZone=zone,
                TagSpecifications=ctx.tag_spec("subnet", f"{ctx.config.stack}-private-{zone}", index=str(index)),
                **ipv6,
            )["Subnet"]["SubnetId"],
            lambda: {i: s["SubnetId"] for i, s in self._ours(ctx, fresh=True).items()}.get(index),
            # EC2's error for a CIDR another subnet holds (EC2 API reference, "Error codes": InvalidSubnet.Conflict):
            # when it is the stack's own subnet of that index (a run that took the lock after this one's was
            # force-removed), it is taken, so that this run stops at its next state write, not here.
            conflicts=("InvalidSubnet.Conflict",),
        )

    def _add_ipv6(self, ctx: Context, index: int) -> None:
        """A subnet of the stack made before the stack was dualstack: its /64 associated now."""
        subnet = self._ours(ctx)[index]
        call(f"adding an IPv6 block to {subnet['SubnetId']}", ctx.aws.ec2.associate_subnet_cidr_block,
             retry_not_found=ctx, SubnetId=subnet["SubnetId"], Ipv6CidrBlock=ipv6_subnet(ctx, index))
        ctx.unsee("subnets")

    def delete(self, ctx: Context) -> bool:
        if ctx.config.vpc_id:
            ctx.forget("subnet_ids")  # the user's: let go of, never deleted
            return False
        remaining = list(ctx.outputs.get("subnet_ids") or [])
        lock = threading.Lock()  # the subnets go at once (up to --max-concurrency); each is forgotten once gone

        def delete(subnet_id: str) -> bool:
            deleted = delete_retrying(
                ctx, f"deleting subnet {subnet_id}", lambda: ctx.aws.ec2.delete_subnet(SubnetId=subnet_id),
                waiting_for=f"network interfaces in {subnet_id} to go",
            )
            with lock:
                remaining.remove(subnet_id)
                ctx.record("subnet_ids", remaining) if remaining else ctx.forget("subnet_ids")
            return deleted

        return any(at_once(ctx, *[lambda s=subnet_id: delete(s) for subnet_id in list(remaining)]))


# --- subnets of a VPC the user brought (--vpc-id, --subnet-ids) -----------------------------------------------


def check_brought(ctx: Context) -> None:
    """What the user brings exists (--vpc-id, --subnet-ids in it, --bucket NAME --adopt), checked with read calls
    before `up` writes or makes anything: a typo is one line and exit 2, not a half-made stack."""
    from s3gw.steps.bucket import bucket_name, find_adopted
    from s3gw.steps.vpc import VpcStep

    recorded, settings = ctx.state.resources, ctx.state.settings
    if ctx.config.vpc_id and recorded.get("vpc_id") and not settings.get("vpc_id"):
        raise UsageError(f"stack {ctx.config.stack} has a VPC of its own ({recorded['vpc_id']}); --vpc-id would "
                         "leave it behind", "run 's3gw down' first, or use another --stack")
    if ctx.config.adopt and recorded.get("bucket") and not settings.get("adopt"):
        raise UsageError(f"stack {ctx.config.stack} made its bucket {recorded['bucket']}; --adopt would keep it "
                         "from ever being deleted", "leave out --adopt, or use another --stack")
    if ctx.config.endpoint_only:
        from s3gw.steps import endpoint_only

        VpcStep().find(ctx)
        endpoint_only.check(ctx, vpc_layout(ctx)[1])
        return
    if ctx.config.vpc_id:
        VpcStep().find(ctx)
        chosen = chosen_subnets(ctx)
        if ctx.config.dualstack:
            check_brought_ipv6(ctx, chosen)
    if ctx.config.adopt:
        find_adopted(ctx, bucket_name(ctx))


def check_brought_ipv6(ctx: Context, chosen: list[str]) -> None:
    """--ip-address-type dualstack on a VPC the user brought: s3gw uses the IPv6 the VPC has and never adds a block to
    it or its subnets; every subnet of the function must be dual-stack (Lambda's Ipv6AllowedForDualStack is for
    "functions that are connected to dual-stack subnets", botocore's Lambda model, VpcConfig)."""
    from s3gw.steps.vpc import vpc_ipv6_block

    vpc_id = str(ctx.config.vpc_id)
    if not vpc_ipv6_block(ctx, wait=False):
        raise UsageError(f"{vpc_id} has no IPv6 block; s3gw never adds one to a VPC it did not make",
                         "associate one yourself (aws ec2 associate-vpc-cidr-block --amazon-provided-ipv6-cidr-block), "
                         "or use --ip-address-type ipv4")
    subnets, _ = vpc_layout(ctx)
    by_id = {s["SubnetId"]: s for s in subnets}
    ipv4_only = [s for s in chosen if subnet_ipv6(by_id.get(s)) is None]
    if ipv4_only:
        raise UsageError(f"--ip-address-type dualstack: {', '.join(ipv4_only)} of {vpc_id} has no IPv6 block",
                         "name dual-stack subnets with --subnet-ids, or use --ip-address-type ipv4")
    from s3gw.reach import endpoint_address_type
    from s3gw.steps.endpoint import adoptable

    endpoints = call("listing the VPC's endpoints", ctx.aws.ec2.describe_vpc_endpoints,
                     Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["VpcEndpoints"]
    own = ctx.state.resources.get("endpoint_id") if not adoption(ctx).get("endpoint_id") else None
    theirs = [e for e in adoptable(endpoints, ctx.config.region) if e["VpcEndpointId"] != own]
    ipv4 = [e["VpcEndpointId"] for e in theirs[:1] if endpoint_address_type(e) != "dualstack"]
    if ipv4:  # s3gw would adopt it, and changes only the route tables of an endpoint it did not make
        raise UsageError(f"{vpc_id}'s S3 gateway endpoint {ipv4[0]} is ipv4 and not s3gw's to change",
                         f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {ipv4[0]} --ip-address-type dualstack, or "
                         "use --ip-address-type ipv4")


def ipv6_subnet(ctx: Context, index: int) -> str:
    """The index-th /64 of the VPC's IPv6 block."""
    import ipaddress

    from s3gw.steps.vpc import vpc_ipv6_block

    block = vpc_ipv6_block(ctx)
    if not block:
        raise AwsError(f"VPC {ctx.outputs.get('vpc_id')} has no IPv6 block", "run 'up' again (it adds one)")
    network = ipaddress.IPv6Network(block)
    return str(ipaddress.IPv6Network((int(network.network_address) + (index << 64), 64)))


def vpc_layout(ctx: Context) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The VPC's subnets and route tables (two describe calls, at once), read once per run: in a VPC the user
    brought s3gw changes neither which subnets there are nor which table each uses."""
    vpc = [{"Name": "vpc-id", "Values": [ctx.outputs.get("vpc_id") or ctx.config.vpc_id]}]

    def read() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        subnets, tables = at_once(
            ctx, lambda: call("listing the VPC's subnets", ctx.aws.ec2.describe_subnets, Filters=vpc)["Subnets"],
            lambda: call("listing the VPC's route tables", ctx.aws.ec2.describe_route_tables,
                         Filters=vpc)["RouteTables"])
        return subnets, tables

    return ctx.remember(f"vpc_layout:{vpc[0]['Values'][0]}", read)


def capture_warnings(ctx: Context) -> list[str]:
    """For `up` on a VPC the user brought, before it makes the stack's endpoint: who else the endpoint's route would
    capture (what plan says, shared_route_warnings). None once the stack has its endpoint, nor when the VPC has an
    S3 gateway endpoint already (s3gw adopts it; its policy stays the user's)."""
    from s3gw.steps.endpoint import adoptable

    if ctx.config.endpoint_only:
        from s3gw.steps import endpoint_only

        return endpoint_only.source_ip_lines(ctx, vpc_layout(ctx)[1])
    if not ctx.config.vpc_id or ctx.state.resources.get("endpoint_id"):
        return []
    endpoints = call("listing the VPC's endpoints", ctx.aws.ec2.describe_vpc_endpoints,
                     Filters=[{"Name": "vpc-id", "Values": [ctx.config.vpc_id]}])["VpcEndpoints"]
    if adoptable(endpoints, ctx.config.region):
        return []
    subnets, tables = vpc_layout(ctx)
    return shared_route_warnings(ctx, chosen_subnets(ctx), subnets, tables)


def chosen_subnets(ctx: Context) -> list[str]:
    """--subnet-ids, each checked to be in the VPC; else the VPC's private subnets: those whose effective route
    table (explicit association, else the main table) has no default route to an internet gateway."""
    vpc_id = str(ctx.config.vpc_id)
    subnets, tables = vpc_layout(ctx)
    in_vpc = [s["SubnetId"] for s in subnets]
    if ctx.config.subnet_ids:
        stray = [s for s in ctx.config.subnet_ids if s not in in_vpc]
        if stray:
            raise UsageError(f"--subnet-ids: {', '.join(stray)} is not a subnet of {vpc_id}",
                             f"{vpc_id} has {', '.join(sorted(in_vpc)) or 'no subnets'}")
        return list(ctx.config.subnet_ids)
    private = []
    for subnet_id in sorted(in_vpc):
        table = effective_route_table(subnet_id, vpc_id, tables)
        if table is None or not (internet_exit(table) or "").startswith("igw-"):
            private.append(subnet_id)
    if not private:
        raise UsageError(f"{vpc_id} has no private subnet (every one routes 0.0.0.0/0 to an internet gateway)",
                         "name the function's subnets with --subnet-ids")
    return private


def s3_traffic(ctx: Context) -> list[str]:
    """For plan on a VPC the user brought: how each chosen subnet reaches S3 today, and what the endpoint moves.

    By the VPC User Guide's route priority (s3gw.reach): the endpoint's prefix-list route takes S3's ranges from a
    less specific route (0.0.0.0/0, or its halves), but not from a static route as specific as an entry or more."""
    from s3gw.pricing import endpoint_saving_line
    from s3gw.reach import describe_hop, leaving_detail, route_target, s3_exits, s3_hops, taken_from_endpoint
    from s3gw.steps.endpoint import adoptable

    if ctx.config.endpoint_only:
        from s3gw.steps import endpoint_only

        return endpoint_only.traffic_lines(ctx, vpc_layout(ctx)[1])
    if not ctx.config.vpc_id or not ctx.outputs.get("subnet_ids"):
        return []
    subnets, tables = vpc_layout(ctx)
    endpoints = call("listing the VPC's endpoints", ctx.aws.ec2.describe_vpc_endpoints,
                     Filters=[{"Name": "vpc-id", "Values": [ctx.config.vpc_id]}])["VpcEndpoints"]
    service = f"com.amazonaws.{ctx.config.region}.s3"
    names = [service, s3_ipv6_prefix_list_name(ctx.config.region)]
    prefix_lists = call("looking up the S3 prefix lists", ctx.aws.ec2.describe_managed_prefix_lists,
                        Filters=[{"Name": "prefix-list-name", "Values": names}])["PrefixLists"]
    for prefix_list in prefix_lists:  # its ranges, to weigh other routes against the endpoint's (route priority)
        prefix_list["Entries"] = call("reading the S3 prefix list's ranges",
                                      ctx.aws.ec2.get_managed_prefix_list_entries,
                                      PrefixListId=prefix_list["PrefixListId"])["Entries"]
    prefix_list = next((p for p in prefix_lists if p.get("PrefixListName") == service), None)
    wanted = list(ctx.outputs["subnet_ids"])
    exits = s3_exits(wanted, subnets=subnets, route_tables=tables, endpoints=endpoints, prefix_lists=prefix_lists,
                     region=ctx.config.region)
    lines = []
    for subnet_id in wanted:
        table_row = effective_route_table(subnet_id, ctx.config.vpc_id, tables)
        table_id = table_row["RouteTableId"] if table_row else "no table"
        if table_row is None:
            lines.append(f"{subnet_id}: no route table")
            continue
        on_list = [r for r in table_row.get("Routes", []) if prefix_list and
                   r.get("DestinationPrefixListId") == prefix_list["PrefixListId"]]
        kept = taken_from_endpoint(table_row, prefix_list, route_target(on_list[0]) if on_list else "vpce-(new)")
        if subnet_id in exits:
            today = next((hop for hop in s3_hops(table_row, prefix_list) if hop.leaves
                          and hop.target == exits[subnet_id][1]), None)
            how = leaving_detail(today, endpoints, ctx.config.region, sealed=False) if today else exits[subnet_id][1]
            line = f"moves {subnet_id}: S3 traffic leaves today through {how} ({table_id})"
            if kept:
                line += ("; after the endpoint's prefix-list route is added, these S3 ranges still go elsewhere by "
                         "route priority (a static route as specific as the list's entry, or more, wins): "
                         + "; ".join(describe_hop(hop, endpoints) for hop in kept))
            else:
                line += (f"; the endpoint's prefix-list route on {table_id} is more specific than that route for every "
                         f"S3 range, so S3 traffic takes the endpoint instead and arrives with aws:SourceVpce; "
                         f"{endpoint_saving_line()}")
            lines.append(line)
        elif kept:
            lines.append(f"{subnet_id} ({table_id}): the endpoint's route would not carry all of S3: "
                         + "; ".join(describe_hop(hop, endpoints) for hop in kept))
        else:
            lines.append(f"{subnet_id} ({table_id}): no S3 traffic leaves by another way than a gateway endpoint today")
    lines += ipv6_traffic(ctx, wanted, subnets, tables, endpoints, prefix_lists)
    if ctx.config.table:
        lines += dynamodb_traffic(ctx, wanted, subnets, tables, endpoints)
    if not adoptable(endpoints, ctx.config.region):
        lines.append("note: the endpoint s3gw makes has a policy that allows only the stack's bucket: other S3 "
                     "traffic from subnets on the same route tables is refused once it takes the endpoint; choose "
                     "the function's own subnets with --subnet-ids")
        lines += shared_route_warnings(ctx, wanted, subnets, tables)
    return lines


def dynamodb_traffic(ctx: Context, wanted: list[str], subnets: list[dict[str, Any]], tables: list[dict[str, Any]],
                     endpoints: list[dict[str, Any]]) -> list[str]:
    """plan with --table on a VPC the user brought: how each subnet's DynamoDB traffic goes today (reach.service_path,
    the same route priority as S3's), and what the DynamoDB gateway endpoint moves, with the NAT's per-GB charge."""
    from s3gw.pricing import endpoint_saving_line, nat_cost_line
    from s3gw.reach import dynamodb_service_name, fetch_dynamodb_prefix_list, service_path

    prefix_list = fetch_dynamodb_prefix_list(ctx.aws.ec2)
    by_id = {s["SubnetId"]: s for s in subnets}
    lines = []
    for subnet_id in wanted:
        if subnet_id not in by_id:
            continue
        path = service_path(by_id[subnet_id], tables, endpoints, prefix_list, dynamodb_service_name(ctx.config.region))
        if path.path == "nat":
            lines.append(f"moves {subnet_id}: DynamoDB traffic leaves today through NAT gateway {path.target} "
                         f"({path.table_id}; NAT charges: {nat_cost_line(ctx.config.region)}); the DynamoDB gateway "
                         f"endpoint takes it: {endpoint_saving_line('DynamoDB')}")
        elif path.path == "endpoint":
            lines.append(f"{subnet_id} ({path.table_id}): DynamoDB traffic takes a gateway endpoint today ({path.via})")
        else:
            lines.append(f"moves {subnet_id}: DynamoDB traffic goes {path.path} today ({path.via}); the DynamoDB "
                         "gateway endpoint takes it")
    return lines


def ipv6_traffic(ctx: Context, wanted: list[str], subnets: list[dict[str, Any]], tables: list[dict[str, Any]],
                 endpoints: list[dict[str, Any]], prefix_lists: list[dict[str, Any]]) -> list[str]:
    """plan on a VPC the user brought: which of the function's subnets are dual-stack, and whether their IPv6 S3
    traffic takes the endpoint today or another way out (::/0 → eigw-…), by route priority (s3gw.reach)."""
    from s3gw.reach import s3_paths_v6

    by_id = {s["SubnetId"]: s for s in subnets}
    dual = [s for s in wanted if subnet_ipv6(by_id.get(s))]
    if not dual and not ctx.config.dualstack:
        return []
    lines = [f"IPv6: {s} has no IPv6 block (IPv4 only)" for s in wanted if s not in dual]
    after = ("with the dualstack endpoint s3gw sets up, its route for S3's IPv6 prefix list is more specific, so "
             "this traffic takes the endpoint" if ctx.config.dualstack else
             "--ip-address-type dualstack would move it to the endpoint")
    for path in s3_paths_v6(dual, subnets=subnets, route_tables=tables, endpoints=endpoints,
                            prefix_lists=prefix_lists, region=ctx.config.region):
        if path.exit:
            word = "moves" if ctx.config.dualstack else "IPv6:"
            lines.append(f"{word} {path.subnet_id} (dual-stack, {subnet_ipv6(by_id[path.subnet_id])}): its IPv6 S3 "
                         f"traffic leaves today through {path.destination} → {path.exit} ({path.table_id}), without "
                         f"aws:SourceVpce; {after}")
        elif path.endpoint_id:
            lines.append(f"IPv6: {path.subnet_id} (dual-stack): its IPv6 S3 traffic takes {path.endpoint_id} today")
        else:
            lines.append(f"IPv6: {path.subnet_id} (dual-stack): no IPv6 way to S3 today ({path.problem})")
    return lines


def shared_route_warnings(ctx: Context, wanted: list[str], subnets: list[dict[str, Any]],
                          tables: list[dict[str, Any]]) -> list[str]:
    """Who else a new endpoint's route would capture, by name: a route applies to every subnet on its table (VPC
    user guide, "Route tables": a subnet uses its associated table, else the main one), so other subnets on the
    function's tables, and other workloads' network interfaces in the function's subnets, would send their S3
    requests through an endpoint whose policy allows only the stack's bucket."""
    from s3gw.steps.bucket import bucket_name

    vpc_id, bucket = str(ctx.config.vpc_id), bucket_name(ctx)
    effective = {s["SubnetId"]: (effective_route_table(s["SubnetId"], vpc_id, tables) or {}).get("RouteTableId")
                 for s in subnets}
    targets = {effective.get(subnet_id) for subnet_id in wanted} - {None}
    lines = []
    for table in sorted(str(t) for t in targets):
        others = sorted(s for s, t in effective.items() if t == table and s not in wanted)
        if others:
            lines.append(f"warning: {table} is also the route table of {', '.join(others)}, which the function does "
                         f"not use: once the endpoint is on it, their S3 requests to any bucket but {bucket} are "
                         "refused; give the function subnets whose table is theirs alone (--subnet-ids)")
    interfaces = call("listing the network interfaces in the subnets", ctx.aws.ec2.describe_network_interfaces,
                      Filters=[{"Name": "subnet-id", "Values": wanted}])["NetworkInterfaces"]
    ours = ctx.outputs.get("security_group_id")  # the stack's function's own ENIs (on a re-run of plan)
    by_subnet: dict[str, list[str]] = {}
    for eni in interfaces:
        if not ours or ours not in {g.get("GroupId") for g in eni.get("Groups") or []}:
            by_subnet.setdefault(eni["SubnetId"], []).append(eni["NetworkInterfaceId"])
    for subnet_id, ids in sorted(by_subnet.items()):
        shown = ", ".join(sorted(ids)[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
        lines.append(f"warning: {subnet_id} holds {plural(len(ids), 'network interface')} of other workloads "
                     f"({shown}): once the endpoint is on its table, their S3 requests to any bucket but {bucket} "
                     "are refused")
    return lines
