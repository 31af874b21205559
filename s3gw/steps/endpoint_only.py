"""An endpoint-only stack (issue 24, `s3gw up --endpoint-only`): the checks and words around its one step.

The stack is the region's S3 gateway endpoint on route tables the user names, in the user's VPC: made, or the
VPC's existing one adopted and given those tables (steps.endpoint); `down` takes off exactly what s3gw added.
Before the traffic moves, the account's bucket policies whose aws:SourceIp names the addresses of the NAT gateways
those tables route to are named: through a gateway endpoint S3 sees the VPC's private addresses instead (S3 User
Guide, "Controlling access from VPC endpoints with bucket policies"), so those conditions stop matching.
"""

from __future__ import annotations

from typing import Any

from s3gw.errors import UsageError
from s3gw.reach import route_target
from s3gw.steps.base import Context, call


def check(ctx: Context, tables: list[dict[str, Any]]) -> None:
    """The named tables are the VPC's; a full stack is never turned into an endpoint-only one."""
    recorded = ctx.state.resources
    full = [key for key in ("bucket", "function_name", "subnet_ids", "security_group_id") if recorded.get(key)]
    if full:
        raise UsageError(f"stack {ctx.config.stack} is a full stack (it records {full[0]}); --endpoint-only is a "
                         "stack of its own", "use another --stack")
    if "dynamodb" in (ctx.config.services or ()):
        _no_foreign_dynamodb_endpoint(ctx)
    in_vpc = {t["RouteTableId"] for t in tables}
    stray = [t for t in ctx.config.route_table_ids or () if t not in in_vpc]
    if stray:
        raise UsageError(f"--route-table-ids: {', '.join(stray)} is not a route table of {ctx.config.vpc_id}",
                         f"{ctx.config.vpc_id} has {', '.join(sorted(in_vpc)) or 'no route tables'}")


def _no_foreign_dynamodb_endpoint(ctx: Context) -> None:
    """A DynamoDB gateway endpoint of the user's in the VPC: s3gw does not adopt those (the S3 one it does), and a
    second endpoint cannot route a table that has one (a table holds one route per prefix list), so: one line."""
    from s3gw.steps.base import STACK_TAG, tag_dict

    found = call("listing the VPC's endpoints", ctx.aws.ec2.describe_vpc_endpoints,
                 Filters=[{"Name": "vpc-id", "Values": [str(ctx.config.vpc_id)]}])["VpcEndpoints"]
    theirs = [e for e in found if str(e.get("ServiceName", "")).endswith(".dynamodb")
              and str(e.get("VpcEndpointType", "")).lower() == "gateway"
              and str(e.get("State", "")).lower() not in ("deleted", "deleting", "failed", "rejected", "expired")
              and tag_dict(e.get("Tags")).get(STACK_TAG) != ctx.config.stack]
    if theirs:
        endpoint_id = theirs[0]["VpcEndpointId"]
        tables = ",".join(ctx.config.route_table_ids or ())
        raise UsageError(f"{ctx.config.vpc_id} has a DynamoDB gateway endpoint already ({endpoint_id}); s3gw adopts "
                         "only S3 ones", f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {endpoint_id} "
                         f"--add-route-table-ids {tables.replace(',', ' ')}, and --services s3 here")


def nat_gateways(ctx: Context, tables: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The NAT gateways the named tables route to, with their public addresses."""
    wanted = set(ctx.config.route_table_ids or ())
    ids = sorted({target for t in tables if t["RouteTableId"] in wanted for route in t.get("Routes", [])
                  if (target := route_target(route)).startswith("nat-")})
    if not ids:
        return {}
    found = call("reading the NAT gateways", ctx.aws.ec2.describe_nat_gateways, NatGatewayIds=ids)["NatGateways"]
    return {str(n["NatGatewayId"]): [a["PublicIp"] for a in n.get("NatGatewayAddresses", []) if a.get("PublicIp")]
            for n in found}


def source_ip_lines(ctx: Context, tables: list[dict[str, Any]]) -> list[str]:
    """'warning: bucket B's policy names 203.0.113.7 (nat-…) in aws:SourceIp: …', one per bucket."""
    from s3gw.audit import source_ip_buckets

    nats = nat_gateways(ctx, tables)
    owner = {ip: nat_id for nat_id, ips in nats.items() for ip in ips}
    unread: list[str] = []
    buckets = source_ip_buckets(ctx.aws.s3, set(owner), unread)
    if unread:  # not read is not "none": the operator checks those by hand
        shown = ", ".join(unread[:5]) + (f" and {len(unread) - 5} more" if len(unread) > 5 else "")
        return [f"warning: could not read the bucket policies of {shown}: check them for aws:SourceIp naming "
                f"{', '.join(sorted(owner))} before the traffic moves"] + _lines(buckets, owner)
    return _lines(buckets, owner)


def _lines(buckets: dict[str, list[str]], owner: dict[str, str]) -> list[str]:
    return [f"warning: bucket {bucket}'s policy names {', '.join(f'{ip} ({owner[ip]})' for ip in ips)} in "
            "aws:SourceIp: through the endpoint S3 sees the VPC's private addresses and that condition stops "
            "matching; allow aws:SourceVpce too before the traffic moves" for bucket, ips in sorted(buckets.items())]


def traffic_lines(ctx: Context, tables: list[dict[str, Any]]) -> list[str]:
    """plan: each named table's way out for S3 today (its default route), what the endpoint moves, and the bucket
    policies that name the NAT gateways' addresses."""
    from s3gw.pricing import endpoint_saving_line, nat_cost_line
    from s3gw.reach import internet_exit, target_kind

    by_id = {t["RouteTableId"]: t for t in tables}
    lines = []
    for table_id in ctx.config.route_table_ids or ():
        exit_ = internet_exit(by_id[table_id]) if table_id in by_id else None
        if exit_:
            cost = f"; {nat_cost_line(ctx.config.region)}" if exit_.startswith("nat-") else ""
            lines.append(f"moves S3 traffic of {table_id} from {target_kind(exit_)} to the gateway endpoint{cost}")
        else:
            lines.append(f"{table_id}: no default route out; the endpoint gives it a way to S3")
    if any(line.startswith("moves") for line in lines):
        lines.append(endpoint_saving_line())
    return lines + source_ip_lines(ctx, tables)
