"""The VPC: the stack's private network, DNS support and hostnames on (Lambda needs them to resolve S3)."""

from __future__ import annotations

from typing import Any

from s3gw.errors import AwsError, UsageError
from s3gw.steps.base import (
    Context,
    Drift,
    Step,
    ahead,
    at_once,
    call,
    create_once,
    delete_retrying,
    describe_by_id,
    is_code,
    look_ahead,
    not_visible,
    retry,
)

_DNS_ATTRIBUTES = {"enableDnsSupport": "EnableDnsSupport", "enableDnsHostnames": "EnableDnsHostnames"}


class VpcStep(Step):
    name = "vpc"
    title = "VPC"
    keys = ("vpc_id",)

    def find(self, ctx: Context) -> dict[str, Any] | None:
        ctx.unsee("vpc_dns")  # find starts a run's look at the resource: what check reads after it is kept
        ec2 = ctx.aws.ec2
        if ctx.config.vpc_id:  # brought by the user (--vpc-id): never made, changed or deleted by s3gw
            vpcs = describe_by_id(ec2.describe_vpcs, "Vpcs", gone=("InvalidVpcID.NotFound",),
                                  VpcIds=[ctx.config.vpc_id])
            if not vpcs:
                raise UsageError(f"--vpc-id {ctx.config.vpc_id} does not exist in {ctx.config.region}",
                                 "check the id and --region")
            return {"vpc_id": ctx.config.vpc_id}
        vpc_id = ctx.outputs.get("vpc_id")
        if vpc_id:
            reads = [lambda: describe_by_id(ec2.describe_vpcs, "Vpcs", gone=("InvalidVpcID.NotFound",),
                                            VpcIds=[vpc_id])]
            if look_ahead(ctx):  # its DNS settings at once with it, for check()
                reads.append(lambda: ahead(ctx, "vpc_dns", lambda: self._dns(ctx, retrying=False)))
            vpcs = at_once(ctx, *reads)[0]
            if vpcs:
                ctx.seen["vpc_cidr"] = vpcs[0].get("CidrBlock")
                ctx.seen["vpc_ipv6"] = amazon_ipv6_block(vpcs[0])
                return {"vpc_id": vpcs[0]["VpcId"]}
            ctx.unsee("vpc_dns")  # of a VPC that is gone
        vpcs = call("looking up the VPC by tag", ec2.describe_vpcs, Filters=[ctx.stack_filter()])["Vpcs"]
        if len(vpcs) > 1:
            ids = ", ".join(v["VpcId"] for v in vpcs)
            raise AwsError(f"several VPCs carry the tag s3gw:stack={ctx.config.stack}: {ids}",
                           "delete the extra ones, or use another --stack")
        if vpcs:
            ctx.seen["vpc_cidr"] = vpcs[0].get("CidrBlock")
            ctx.seen["vpc_ipv6"] = amazon_ipv6_block(vpcs[0])
        return {"vpc_id": vpcs[0]["VpcId"]} if vpcs else None

    def create(self, ctx: Context) -> None:
        answered: list[str] = []  # what CreateVpc answered (not a VPC a retry found by tag)

        # --ip-address-type dualstack: an Amazon-provided /56 with the VPC (CreateVpc AmazonProvidedIpv6CidrBlock;
        # "You can't choose the range of IPv6 addresses", VPC User Guide, "IPv6 VPC CIDR blocks").
        ipv6 = {"AmazonProvidedIpv6CidrBlock": True} if ctx.config.dualstack else {}

        def create_vpc() -> str:
            answered.append(ctx.aws.ec2_once.create_vpc(
                CidrBlock=ctx.config.vpc_cidr, TagSpecifications=ctx.tag_spec("vpc", ctx.config.stack),
                **ipv6)["Vpc"]["VpcId"])
            return answered[-1]

        vpc_id = create_once(ctx, "creating the VPC", create_vpc, lambda: (self.find(ctx) or {}).get("vpc_id"))
        ctx.record("vpc_id", vpc_id)
        ctx.seen["vpc_cidr"] = ctx.config.vpc_cidr
        ctx.unsee("vpc_ipv6")  # the block is read when the subnets need it (it may still be associating)
        # What CreateVpc makes, not read back: "If you create a VPC any other way [than the console wizard], DNS
        # hostnames is disabled and DNS resolution is enabled by default" (Amazon VPC User Guide, "DNS attributes
        # for your VPC"). A re-run reads both attributes and repairs any that differ.
        ctx.seen["vpc_dns"] = {"enableDnsSupport": True, "enableDnsHostnames": False}
        if vpc_id in answered:
            # Made by this very call: it holds no subnet, table, endpoint or security group of the stack yet. Those
            # steps start from nothing rather than read it (their main table no subnet of the stack keeps: each is
            # associated with its own); whatever drops these views (unsee, a create's retry) reads the VPC again.
            ctx.seen.update(vpc_new=vpc_id, subnets={}, route_tables=[], endpoint=None, security_group=None)

    def _dns(self, ctx: Context, *, retrying: bool = True) -> dict[str, bool]:
        ec2 = ctx.aws.ec2
        vpc_id = ctx.outputs["vpc_id"]

        def read(attribute: str) -> bool:
            if not retrying:
                answer = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attribute)
                return bool(answer[_DNS_ATTRIBUTES[attribute]]["Value"])
            answer = retry(
                ctx,
                "reading the VPC's DNS settings",
                lambda: ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attribute),
                retry_if=lambda exc: is_code(exc, "InvalidVpcID.NotFound"),
                waiting_for="the new VPC to be visible",
                timeout=60,
            )
            return bool(answer[_DNS_ATTRIBUTES[attribute]]["Value"])

        values = at_once(ctx, *[lambda a=attribute: read(a) for attribute in _DNS_ATTRIBUTES])
        return dict(zip(_DNS_ATTRIBUTES, values, strict=True))

    def check(self, ctx: Context) -> list[Drift]:
        if ctx.config.vpc_id:
            return []  # the user's VPC: its DNS settings are theirs (Lambda resolves S3 with them on, the default)
        dns = ctx.remember("vpc_dns", lambda: self._dns(ctx))
        drifts = [Drift(attribute, f"{attribute} is off") for attribute in _DNS_ATTRIBUTES if not dns[attribute]]
        block = ctx.seen.get("vpc_cidr")  # what find read (a VPC's primary block cannot change)
        if block and block != ctx.config.vpc_cidr:
            drifts.append(Drift("cidr", f"its block is {block}, not the recorded {ctx.config.vpc_cidr}"))
        made_now = ctx.seen.get("vpc_new") == ctx.outputs.get("vpc_id")  # asked with its block (associating)
        if ctx.config.dualstack and not made_now and not vpc_ipv6_block(ctx, wait=False):
            drifts.append(Drift("ipv6", "it has no Amazon-provided IPv6 block (--ip-address-type dualstack)"))
        return drifts

    def repair(self, ctx: Context, drifts: list[Drift]) -> None:
        cidr = next((drift for drift in drifts if drift.key == "cidr"), None)
        if cidr is not None:
            raise UsageError(f"VPC {ctx.outputs['vpc_id']}: {cidr.detail}; a VPC's primary block cannot change",
                             f"set settings.vpc_cidr in {ctx.state.where} to {ctx.seen.get('vpc_cidr')}")
        for drift in drifts:
            if drift.key == "ipv6":
                call("adding an Amazon-provided IPv6 block to the VPC", ctx.aws.ec2.associate_vpc_cidr_block,
                     retry_not_found=ctx, VpcId=ctx.outputs["vpc_id"], AmazonProvidedIpv6CidrBlock=True)
                ctx.unsee("vpc_ipv6")
                continue
            call(f"turning on {drift.key}", ctx.aws.ec2.modify_vpc_attribute, retry_not_found=ctx,
                 VpcId=ctx.outputs["vpc_id"], **{_DNS_ATTRIBUTES[drift.key]: {"Value": True}})
        ctx.unsee("vpc_dns")

    def delete(self, ctx: Context) -> bool:
        vpc_id = ctx.outputs.get("vpc_id")
        deleted = False
        if vpc_id and not ctx.config.vpc_id:
            deleted = delete_retrying(ctx, f"deleting VPC {vpc_id}", lambda: ctx.aws.ec2.delete_vpc(VpcId=vpc_id),
                                      waiting_for=f"the last dependencies of {vpc_id} to go")
        ctx.forget("vpc_id")
        return deleted


def amazon_ipv6_block(vpc: dict[str, Any]) -> str | None:
    """The VPC's associated (or associating) IPv6 block, if any."""
    for association in vpc.get("Ipv6CidrBlockAssociationSet") or []:
        state = (association.get("Ipv6CidrBlockState") or {}).get("State", "associated")
        if state in ("associated", "associating") and association.get("Ipv6CidrBlock"):
            return str(association["Ipv6CidrBlock"])
    return None


def vpc_ipv6_block(ctx: Context, *, wait: bool = True) -> str | None:
    """The VPC's IPv6 block, read once per run. With `wait`, a block just asked for is waited for: AWS answers
    CreateVpc and AssociateVpcCidrBlock with the association `associating`, its block filled in once associated."""
    if ctx.seen.get("vpc_ipv6"):
        return str(ctx.seen["vpc_ipv6"])
    vpc_id = ctx.outputs.get("vpc_id") or ctx.config.vpc_id

    def look() -> str | None:
        vpcs = describe_by_id(ctx.aws.ec2.describe_vpcs, "Vpcs", gone=("InvalidVpcID.NotFound",), VpcIds=[vpc_id])
        return amazon_ipv6_block(vpcs[0]) if vpcs else None

    block = look() if not wait else retry(
        ctx, "reading the VPC's IPv6 block", lambda: look() or not_visible("InvalidVpcID.NotFound"),
        retry_if=lambda exc: is_code(exc, "InvalidVpcID.NotFound"),
        waiting_for="the VPC's IPv6 block to be associated", timeout=60)
    ctx.seen["vpc_ipv6"] = block
    return block
