"""The function's security group: no ingress, and egress TCP 443 to S3 only.

CreateSecurityGroup adds an allow-all egress rule; check() sees it as drift and repair() revokes it.
"""

from __future__ import annotations

from typing import Any

from s3gw.errors import AwsError
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
    is_code,
    not_visible,
    retry,
    tag_dict,
)
from s3gw.steps.dynamodb_endpoint import dynamodb_prefix_list_id
from s3gw.steps.endpoint import s3_ipv6_prefix_list_id, s3_prefix_list_id

# One rule in a comparable form: (protocol, from port, to port, target kind, target).
Rule = tuple[str, int, int, str, str]


def flatten(permissions: list[dict[str, Any]]) -> set[Rule]:
    rules: set[Rule] = set()
    for perm in permissions:
        proto = str(perm.get("IpProtocol", "-1"))
        low, high = int(perm.get("FromPort", -1)), int(perm.get("ToPort", -1))
        if proto == "-1":
            low, high = -1, -1
        for item in perm.get("IpRanges", []):
            rules.add((proto, low, high, "cidr", item["CidrIp"]))
        for item in perm.get("Ipv6Ranges", []):
            rules.add((proto, low, high, "cidr6", item["CidrIpv6"]))
        for item in perm.get("PrefixListIds", []):
            rules.add((proto, low, high, "prefix-list", item["PrefixListId"]))
        for item in perm.get("UserIdGroupPairs", []):
            rules.add((proto, low, high, "group", item["GroupId"]))
    return rules


def permission(rule: Rule) -> dict[str, Any]:
    proto, low, high, kind, target = rule
    perm: dict[str, Any] = {"IpProtocol": proto}
    if proto != "-1":
        perm.update(FromPort=low, ToPort=high)
    key, item = {
        "cidr": ("IpRanges", {"CidrIp": target}),
        "cidr6": ("Ipv6Ranges", {"CidrIpv6": target}),
        "prefix-list": ("PrefixListIds", {"PrefixListId": target}),
        "group": ("UserIdGroupPairs", {"GroupId": target}),
    }[kind]
    perm[key] = [item]
    return perm


def describe_rule(rule: Rule) -> str:
    proto, low, high, _, target = rule
    ports = "all traffic" if proto == "-1" else f"{proto} {low}" + (f"-{high}" if high != low else "")
    return f"{ports} to {target}"


def wanted_egress(ctx: Context) -> set[Rule]:
    """TCP 443 to S3, per address family the stack uses: IPv4 always; IPv6 with --ip-address-type dualstack, to S3's
    IPv6 prefix list (a list holds one family: s3gw.reach cites it), or ::/0 with --egress anywhere."""
    if ctx.config.egress == "anywhere":
        rules = {("tcp", 443, 443, "cidr", "0.0.0.0/0")}
        return rules | ({("tcp", 443, 443, "cidr6", "::/0")} if ctx.config.dualstack else set())
    # The region's S3 prefix list, as recorded with the endpoint, else read (once a run): the group's rules need
    # not wait for the endpoint, whose prefix list is the region's (com.amazonaws.<region>.s3).
    rules = {("tcp", 443, 443, "prefix-list", ctx.outputs.get("prefix_list_id") or s3_prefix_list_id(ctx))}
    if ctx.config.dualstack:
        rules.add(("tcp", 443, 443, "prefix-list", s3_ipv6_prefix_list_id(ctx)))
    if ctx.config.table and not ctx.config.endpoint_only:  # the DynamoDB lane: 443 to DynamoDB's prefix list too
        rules.add(("tcp", 443, 443, "prefix-list",
                   ctx.outputs.get("dynamodb_prefix_list_id") or dynamodb_prefix_list_id(ctx)))
    return rules


class SecurityGroupStep(Step):
    name = "security_group"
    title = "security group"
    keys = ("security_group_id",)

    def _describe(self, ctx: Context, *, fresh: bool = False) -> dict[str, Any] | None:
        """The group, read once per run; dropped when this run changes it."""
        if fresh:
            ctx.unsee("security_group")
        return ctx.remember("security_group", lambda: self._read(ctx))  # type: ignore[no-any-return]

    def _read(self, ctx: Context) -> dict[str, Any] | None:
        ec2 = ctx.aws.ec2
        group_id = ctx.outputs.get("security_group_id")
        if group_id:
            groups = describe_by_id(ec2.describe_security_groups, "SecurityGroups",
                                    gone=("InvalidGroup.NotFound", "InvalidGroupId.NotFound"), GroupIds=[group_id])
            if groups:
                return dict(groups[0])
        vpc_id = ctx.outputs.get("vpc_id")
        if not vpc_id:
            return None
        groups = call(
            "looking up the security group",
            ec2.describe_security_groups,
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                     {"Name": "group-name", "Values": [ctx.config.security_group_name]}],
        )["SecurityGroups"]
        if groups and tag_dict(groups[0].get("Tags")).get(STACK_TAG) != ctx.config.stack:
            raise AwsError(f"security group {ctx.config.security_group_name} in {vpc_id} is not this stack's",
                           "rename or delete it; s3gw never adopts a group it did not create")
        return dict(groups[0]) if groups else None

    def find(self, ctx: Context) -> dict[str, Any] | None:
        # find starts a run's look: check and repair reuse it (a VPC this run made has no group of the stack yet)
        group = self._describe(ctx, fresh=ctx.seen.get("vpc_new") != ctx.outputs.get("vpc_id"))
        return {"security_group_id": group["GroupId"]} if group else None

    def create(self, ctx: Context) -> None:
        group = create_once(
            ctx, "creating the security group",
            lambda: ctx.aws.ec2_once.create_security_group(
                GroupName=ctx.config.security_group_name,
                Description=f"s3gw {ctx.config.stack}: Lambda egress HTTPS to S3 only",
                VpcId=ctx.outputs["vpc_id"],
                TagSpecifications=ctx.tag_spec("security-group", ctx.config.security_group_name),
            ),
            lambda: self._describe(ctx, fresh=True),
        )
        ctx.record("security_group_id", group["GroupId"])
        ctx.seen["security_group_new"] = group["GroupId"]
        # Its rules are read by check(), not assumed: the default egress rules depend on the VPC (IPv6 adds one).
        # Not here: the function waits for the group's id only, not for this read.
        ctx.unsee("security_group")

    def check(self, ctx: Context) -> list[Drift]:
        group = retry(
            ctx, "reading the security group",
            lambda: self._describe(ctx) or ctx.unsee("security_group") or not_visible("InvalidGroup.NotFound"),
            retry_if=lambda exc: is_code(exc, "InvalidGroup.NotFound"),
            waiting_for="the new security group to be visible", timeout=60,
        )
        wanted = wanted_egress(ctx)
        egress = flatten(group.get("IpPermissionsEgress", []))
        drifts = [Drift(f"revoke-egress:{i}", f"extra egress rule: {describe_rule(rule)}")
                  for i, rule in enumerate(sorted(egress - wanted))]
        drifts += [Drift(f"revoke-ingress:{i}", f"ingress rule: {describe_rule(rule)}")
                   for i, rule in enumerate(sorted(flatten(group.get("IpPermissions", []))))]
        drifts += [Drift(f"allow-egress:{i}", f"missing egress rule: {describe_rule(rule)}")
                   for i, rule in enumerate(sorted(wanted - egress))]
        return drifts

    def repair(self, ctx: Context, drifts: list[Drift]) -> None:
        if not drifts:
            return
        ec2 = ctx.aws.ec2
        group_id = ctx.outputs["security_group_id"]
        group = self._describe(ctx) or {}
        wanted = wanted_egress(ctx)
        current = flatten(group.get("IpPermissionsEgress", []))
        extra_egress = sorted(current - wanted)
        missing = sorted(wanted - current) if group else sorted(wanted)
        ingress = sorted(flatten(group.get("IpPermissions", [])))
        keys = {d.key.split(":")[0] for d in drifts}
        writes = []
        if "allow-egress" in keys and missing:
            writes.append(lambda: call(
                "allowing HTTPS egress to S3", ec2.authorize_security_group_egress, retry_not_found=ctx,
                already_done=("InvalidPermission.Duplicate",), GroupId=group_id,
                IpPermissions=[permission(rule) for rule in missing]))
        if "revoke-egress" in keys and extra_egress:
            writes.append(lambda: call(
                "revoking extra egress rules", ec2.revoke_security_group_egress, retry_not_found=ctx,
                already_done=("InvalidPermission.NotFound",), GroupId=group_id,
                IpPermissions=[permission(rule) for rule in extra_egress]))
        if "revoke-ingress" in keys and ingress:
            writes.append(lambda: call(
                "revoking ingress rules", ec2.revoke_security_group_ingress, retry_not_found=ctx,
                already_done=("InvalidPermission.NotFound",), GroupId=group_id,
                IpPermissions=[permission(rule) for rule in ingress]))
        if ctx.seen.get("security_group_new") == group_id:
            at_once(ctx, *writes)  # made by this run: no function uses it yet, the rules can change at once
        else:
            for write in writes:  # the wanted rule is allowed before the rest is revoked: no loss of the path to S3
                write()
        ctx.unsee("security_group")

    def delete(self, ctx: Context) -> bool:
        group_id = ctx.outputs.get("security_group_id")
        deleted = False
        if group_id:  # gone: InvalidGroup.NotFound (and any other *.NotFound, see delete_retrying)
            deleted = delete_retrying(
                ctx, f"deleting security group {group_id}",
                lambda: ctx.aws.ec2.delete_security_group(GroupId=group_id),
                waiting_for=f"Lambda's network interfaces to release {group_id}",
            )
        ctx.forget("security_group_id")
        return deleted

