"""One private subnet in each of N availability zones, CIDRs carved from the VPC's block."""

from __future__ import annotations

from typing import Any

from s3gw.config import subnet_cidrs
from s3gw.errors import UsageError
from s3gw.steps.base import Context, Drift, Step, call, create_once, delete_retrying, tag_dict


def zone_names(ctx: Context) -> list[str]:
    if ctx.zones is None:
        zones = call(
            "listing the region's availability zones",
            ctx.aws.ec2.describe_availability_zones,
            Filters=[{"Name": "state", "Values": ["available"]},
                     {"Name": "zone-type", "Values": ["availability-zone"]}],
        )["AvailabilityZones"]
        ctx.zones = sorted(zone["ZoneName"] for zone in zones)
    names = ctx.zones
    if ctx.config.azs > len(names):
        raise UsageError(f"--azs {ctx.config.azs} is more than the {len(names)} availability zones of "
                         f"{ctx.config.region}", f"use --azs {len(names)} or fewer")
    return names[: ctx.config.azs]


class SubnetsStep(Step):
    name = "subnets"
    title = "private subnets"
    keys = ("subnet_ids",)

    def _existing(self, ctx: Context) -> dict[int, str]:
        """Our subnets in the VPC, by their s3gw:index tag."""
        vpc_id = ctx.outputs.get("vpc_id")
        if not vpc_id:
            return {}
        subnets = call(
            "looking up the subnets",
            ctx.aws.ec2.describe_subnets,
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, ctx.stack_filter()],
        )["Subnets"]
        by_index: dict[int, str] = {}
        for subnet in subnets:
            tags = tag_dict(subnet.get("Tags"))
            if tags.get("s3gw:index", "").isdigit():
                by_index[int(tags["s3gw:index"])] = subnet["SubnetId"]
        return by_index

    def find(self, ctx: Context) -> dict[str, Any] | None:
        existing = self._existing(ctx)
        if not existing:
            return None
        return {"subnet_ids": [existing[i] for i in sorted(existing)]}

    def create(self, ctx: Context) -> None:
        self.repair(ctx, self.check(ctx))

    def check(self, ctx: Context) -> list[Drift]:
        existing = self._existing(ctx)
        zones = zone_names(ctx)
        return [Drift(str(i), f"no subnet in {zone}") for i, zone in enumerate(zones) if i not in existing]

    def repair(self, ctx: Context, drifts: list[Drift]) -> None:
        if not drifts:
            return
        zones = zone_names(ctx)
        cidrs = subnet_cidrs(ctx.config.vpc_cidr, ctx.config.azs)
        existing = self._existing(ctx)
        for drift in drifts:
            index = int(drift.key)
            zone = zones[index]
            existing[index] = create_once(
                ctx, f"creating the subnet in {zone}",
                lambda i=index, z=zone: ctx.aws.ec2_once.create_subnet(
                    VpcId=ctx.outputs["vpc_id"], CidrBlock=cidrs[i], AvailabilityZone=z,
                    TagSpecifications=ctx.tag_spec("subnet", f"{ctx.config.stack}-private-{z}", index=str(i)),
                )["Subnet"]["SubnetId"],
                lambda i=index: self._existing(ctx).get(i),
            )
            ctx.record("subnet_ids", [existing[i] for i in sorted(existing)])

    def delete(self, ctx: Context) -> None:
        remaining = list(ctx.outputs.get("subnet_ids") or [])
        for subnet_id in list(remaining):
            delete_retrying(
                ctx, f"deleting subnet {subnet_id}", lambda s=subnet_id: ctx.aws.ec2.delete_subnet(SubnetId=s),
                gone=("InvalidSubnetID.NotFound",), waiting_for=f"network interfaces in {subnet_id} to go",
            )
            remaining.remove(subnet_id)
            ctx.record("subnet_ids", remaining) if remaining else ctx.forget("subnet_ids")
