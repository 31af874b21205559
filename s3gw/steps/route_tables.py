"""One route table per private subnet, explicitly associated; and route-table discovery.

A subnet with no explicit association silently uses the VPC's main table (the "main-table trap"):
`reach.effective_route_table` resolves that, so the endpoint is attached to the table the subnet really uses.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from s3gw.reach import effective_route_table
from s3gw.steps.base import (
    STACK_TAG,
    Context,
    Drift,
    Step,
    at_once,
    call,
    create_once,
    delete_retrying,
    describe_by_id,
    tag_dict,
)


def vpc_route_tables(ctx: Context, *, fresh: bool = False) -> list[dict[str, Any]]:
    """Every route table of the VPC (ours, the main table, others'), from one describe per run. A subnet can be
    associated only with a table of its own VPC, so this also answers which table each subnet uses. What this
    run changes (a table made, an association moved) is written into the list as it happens."""
    vpc_id = ctx.outputs.get("vpc_id")
    if not vpc_id:
        return []
    if fresh:
        ctx.unsee("route_tables")
    return ctx.remember("route_tables", lambda: list(call(
        "looking up the route tables", ctx.aws.ec2.describe_route_tables,
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]))


class RouteTablesStep(Step):
    name = "route_tables"
    title = "route tables"
    keys = ("route_table_ids",)

    def _ours(self, ctx: Context, *, fresh: bool = False) -> dict[str, dict[str, Any]]:
        """Our route tables in the VPC, by the subnet they are for (tag s3gw:subnet)."""
        by_subnet: dict[str, dict[str, Any]] = {}
        for table in vpc_route_tables(ctx, fresh=fresh):
            tags = tag_dict(table.get("Tags"))
            if tags.get(STACK_TAG) == ctx.config.stack and tags.get("s3gw:subnet"):
                by_subnet[tags["s3gw:subnet"]] = table
        return by_subnet

    def find(self, ctx: Context) -> dict[str, Any] | None:
        if ctx.config.endpoint_only:  # the tables the user named (check_brought saw them in the VPC)
            return {"route_table_ids": list(ctx.config.route_table_ids or ())}
        if ctx.config.vpc_id:  # the user's VPC: the tables its subnets already use, never new ones
            ids = effective_tables(ctx, fresh=True)  # find starts a run's look, as below
            return {"route_table_ids": ids} if ids else None
        # find starts a run's look: check, repair and the endpoint reuse it (in a VPC this run made, nothing to read)
        ours = self._ours(ctx, fresh=ctx.seen.get("vpc_new") != ctx.outputs.get("vpc_id"))
        subnet_ids = ctx.outputs.get("subnet_ids") or []
        ids = [ours[s]["RouteTableId"] for s in subnet_ids if s in ours]
        return {"route_table_ids": ids} if ids else None

    def create(self, ctx: Context) -> None:
        """The tables only, each recorded the moment it exists: the endpoint is made with their ids while the
        associations (check finds them missing, repair makes them) go at once with it."""
        self._place(ctx, [d for d in self.check(ctx) if d.key.startswith("create:")], associate=False)

    def check(self, ctx: Context) -> list[Drift]:
        if ctx.config.vpc_id:
            return []
        ours = self._ours(ctx)
        drifts = []
        for subnet_id in ctx.outputs.get("subnet_ids") or []:
            table = ours.get(subnet_id)
            if table is None:
                drifts.append(Drift(f"create:{subnet_id}", f"no route table for {subnet_id}"))
            elif not any(a.get("SubnetId") == subnet_id for a in table.get("Associations", [])):
                drifts.append(Drift(f"associate:{subnet_id}",
                                    f"{subnet_id} is not associated with its table {table['RouteTableId']}"))
        wanted = set(ctx.outputs.get("subnet_ids") or [])
        for subnet_id, table in ours.items():
            if subnet_id not in wanted:  # its subnet was deleted: the table would be left behind by `down`
                drifts.append(Drift(f"stale:{table['RouteTableId']}",
                                    f"route table {table['RouteTableId']} is for {subnet_id}, which is gone"))
        return drifts

    def repair(self, ctx: Context, drifts: list[Drift]) -> None:
        """Each subnet's table made (recorded the moment it exists) and associated, the subnets at once (up to
        --max-concurrency); then the tables of subnets that are gone are deleted."""
        if not drifts:
            return
        self._place(ctx, drifts, associate=True)
        for drift in drifts:
            if drift.key.startswith("stale:"):
                self._delete_table(ctx, drift.key.split(":", 1)[1])
                ctx.unsee("route_tables")

    def _place(self, ctx: Context, drifts: list[Drift], *, associate: bool) -> None:
        """Make the tables of the `create:` drifts; with `associate`, associate them and the `associate:` ones."""
        lock = threading.Lock()  # the tables made at once write the run's view and the state in turn

        def place(action: str, subnet_id: str) -> None:
            if action == "create":
                # One ClientToken per table, the same on every try (CreateRouteTable takes one: botocore's ec2
                # model, idempotencyToken): EC2 answers a re-sent request with the table the first one made, which
                # a look by tag may not show yet. As the endpoint's create, and create_once covers moto (no tokens).
                token = uuid.uuid4().hex
                table = create_once(
                    ctx, f"creating the route table for {subnet_id}",
                    lambda: ctx.aws.ec2_once.create_route_table(
                        VpcId=ctx.outputs["vpc_id"], ClientToken=token,
                        TagSpecifications=ctx.tag_spec("route-table", f"{ctx.config.stack}-private-{subnet_id}",
                                                       subnet=subnet_id),
                    )["RouteTable"],
                    lambda: self._made_for(ctx, subnet_id),
                )
                with lock:
                    known = {t["RouteTableId"] for t in vpc_route_tables(ctx)}
                    if table["RouteTableId"] not in known:  # made now: the tags it was made with, no association
                        table = {**table, "Tags": ctx.tags(f"{ctx.config.stack}-private-{subnet_id}",
                                                           subnet=subnet_id),
                                 "Associations": list(table.get("Associations") or [])}
                        vpc_route_tables(ctx).append(table)
                    ours = self._ours(ctx)
                    self._record(ctx, ours)
            else:
                ours = self._ours(ctx)
            if associate:
                self._associate(ctx, subnet_id, ours[subnet_id]["RouteTableId"])

        placed = [drift.key.split(":", 1) for drift in drifts if not drift.key.startswith("stale:")]
        at_once(ctx, *[lambda a=action, s=subnet_id: place(a, s) for action, subnet_id in placed])

    def _made_for(self, ctx: Context, subnet_id: str) -> dict[str, Any] | None:
        """Whether a lost try made the table for `subnet_id`: a look of its own, never the run's shared view. The
        tables are made at once, and a fresh read of the shared view here could finish after another thread added
        the table it just made, and drop that one from the view: `repair` would then make it a second time."""
        found = call("looking up the route tables", ctx.aws.ec2.describe_route_tables, Filters=[
            {"Name": "vpc-id", "Values": [ctx.outputs["vpc_id"]]},
            {"Name": f"tag:{STACK_TAG}", "Values": [ctx.config.stack]},
            {"Name": "tag:s3gw:subnet", "Values": [subnet_id]}])["RouteTables"]
        return found[0] if found else None

    def _associate(self, ctx: Context, subnet_id: str, table_id: str) -> None:
        ec2 = ctx.aws.ec2
        tables = vpc_route_tables(ctx)
        for table in tables:
            for association in table.get("Associations", []):
                if association.get("SubnetId") == subnet_id:
                    # The subnet uses another explicit table: move it to ours in one call.
                    answer = call(f"moving {subnet_id} to {table_id}", ec2.replace_route_table_association,
                                  retry_not_found=ctx, already_done=("InvalidAssociationID.NotFound",),
                                  AssociationId=association["RouteTableAssociationId"],
                                  RouteTableId=table_id)
                    table["Associations"].remove(association)
                    self._associated(ctx, table_id, subnet_id, (answer or {}).get("NewAssociationId"))
                    return
        answer = call(f"associating {table_id} with {subnet_id}", ec2.associate_route_table, retry_not_found=ctx,
                      already_done=("Resource.AlreadyAssociated",), RouteTableId=table_id, SubnetId=subnet_id)
        self._associated(ctx, table_id, subnet_id, (answer or {}).get("AssociationId"))

    def _associated(self, ctx: Context, table_id: str, subnet_id: str, association_id: str | None) -> None:
        """Write an association just made into the run's view of the tables; without its id (the reply was lost
        and the retry met 'already associated') the view is dropped, to be read again when next needed."""
        table = next((t for t in vpc_route_tables(ctx) if t["RouteTableId"] == table_id), None)
        if table is None or not association_id:
            ctx.unsee("route_tables")
            return
        table.setdefault("Associations", []).append(
            {"SubnetId": subnet_id, "RouteTableId": table_id, "RouteTableAssociationId": association_id,
             "Main": False})

    def _record(self, ctx: Context, ours: dict[str, dict[str, Any]]) -> None:
        subnet_ids = ctx.outputs.get("subnet_ids") or []
        ctx.record("route_table_ids", [ours[s]["RouteTableId"] for s in subnet_ids if s in ours])

    def delete(self, ctx: Context) -> bool:
        if ctx.config.vpc_id:
            ctx.forget("route_table_ids")  # the user's: the endpoint step took back the routes s3gw added
            return False
        remaining = list(ctx.outputs.get("route_table_ids") or [])
        lock = threading.Lock()  # the tables go at once (up to --max-concurrency); each is forgotten once gone

        def delete(table_id: str) -> bool:
            deleted = self._delete_table(ctx, table_id)
            with lock:
                remaining.remove(table_id)
                ctx.record("route_table_ids", remaining) if remaining else ctx.forget("route_table_ids")
            return deleted

        return any(at_once(ctx, *[lambda t=table_id: delete(t) for table_id in list(remaining)]))

    def _delete_table(self, ctx: Context, table_id: str) -> bool:
        ec2 = ctx.aws.ec2
        # `down`'s look (commands.down._discover) read the stack's tables a moment ago, under the stack's lock: their
        # associations as they are now (one gone since answers InvalidAssociationID.NotFound, counted as done).
        known = (ctx.seen.get("stack_route_tables") or {}).get(table_id)
        tables = [known] if known else describe_by_id(
            ec2.describe_route_tables, "RouteTables", gone=("InvalidRouteTableID.NotFound",), RouteTableIds=[table_id])
        endpoint_id = ctx.outputs.get("endpoint_id")
        if tables and endpoint_id and any(r.get("GatewayId") == endpoint_id for r in tables[0].get("Routes", [])):
            call(f"detaching {table_id} from the endpoint", ec2.modify_vpc_endpoint,  # either gone: nothing to detach
                 already_done=("InvalidVpcEndpointId.NotFound", "InvalidRouteTableID.NotFound",
                               "InvalidRouteTableId.NotFound"),
                 VpcEndpointId=endpoint_id, RemoveRouteTableIds=[table_id])
        # moto (and a crash mid-way) can leave associations behind: drop them before the table.
        for table in tables:
            for association in table.get("Associations", []):
                if not association.get("Main"):
                    delete_retrying(
                        ctx, f"disassociating {table_id}",
                        lambda a=association["RouteTableAssociationId"]: ec2.disassociate_route_table(AssociationId=a),
                        waiting_for="the association to go",
                    )
        return delete_retrying(  # gone: InvalidRouteTableID.NotFound (any *.NotFound, see delete_retrying)
            ctx, f"deleting route table {table_id}", lambda: ec2.delete_route_table(RouteTableId=table_id),
            waiting_for=f"{table_id} to be free",
        )


def effective_tables(ctx: Context, *, fresh: bool = False) -> list[str]:
    """The tables the recorded subnets really use (explicit association, else the VPC's main table), from the
    run's one describe of the VPC's tables (vpc_route_tables)."""
    if ctx.config.endpoint_only:
        return list(ctx.config.route_table_ids or ())
    vpc_id = ctx.outputs["vpc_id"]
    in_vpc = vpc_route_tables(ctx, fresh=fresh)
    ids: list[str] = []
    for subnet_id in ctx.outputs.get("subnet_ids") or []:
        table = effective_route_table(subnet_id, vpc_id, in_vpc)
        if table and table["RouteTableId"] not in ids:
            ids.append(table["RouteTableId"])
    return ids
