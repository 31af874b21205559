"""Functions you already run, put on the private path (issue 21, `up --function NAME --adopt`, repeatable).

Adopted, by the ownership rule (steps.base ADOPTED): before the first change s3gw records each function's VpcConfig
(none included), its role, and what its role had; then it moves the function into the stack's subnets and security
group (added to the groups it has, with --keep-security-groups) and gives its role the bucket's access in an
inline policy of s3gw's own (fixed name), attaching AWSLambdaVPCAccessExecutionRole when the role lacks it (Lambda
needs ec2:CreateNetworkInterface and the rest to put a function in a VPC: Lambda developer guide, "Giving Lambda
functions access to resources in an Amazon VPC", execution role permissions). `down` puts back the recorded
VpcConfig and takes off only what s3gw added; it never deletes the function or its role.
"""

from __future__ import annotations

import json
from typing import Any

from s3gw.errors import AwsError, UsageError, error_code
from s3gw.policy.documents import canonical
from s3gw.steps.base import Context, Drift, Step, adoption, at_once, call, is_code, record_adoption, retry
from s3gw.steps.function import is_iam_propagation, wait_updated
from s3gw.steps.role import inline_policy, vpc_policy_arn

KEY = "adopted_functions"


def inline_policy_name(ctx: Context) -> str:
    """s3gw's own inline policy on an adopted function's role: one fixed name per stack (two stacks may share
    a role; the user's own policies never carry it)."""
    return f"s3gw-{ctx.config.stack}-bucket-access"


def records(ctx: Context) -> dict[str, dict[str, Any]]:
    """What was recorded of each adopted function before s3gw changed it: {name: {"vpc", "role", "attached",
    "inline", "keep_security_groups", "attached_vpc_access"}}."""
    found = adoption(ctx).get("functions")
    return dict(found) if isinstance(found, dict) else {}


def role_name_of(role_arn: str) -> str:
    return role_arn.rsplit("/", 1)[-1]


class AdoptedFunctionsStep(Step):
    name = KEY
    title = "your adopted functions"
    keys = (KEY,)

    def active(self, ctx: Context) -> bool:
        return super().active(ctx) and bool(ctx.config.adopt_functions)

    def _names(self, ctx: Context) -> list[str]:
        return sorted(ctx.config.adopt_functions or ())

    def _configuration(self, ctx: Context, name: str) -> dict[str, Any] | None:
        try:
            return dict(ctx.aws.lambda_.get_function_configuration(FunctionName=name))
        except Exception as exc:
            if is_code(exc, "ResourceNotFoundException"):
                return None
            raise

    def _configurations(self, ctx: Context) -> dict[str, dict[str, Any] | None]:
        names = self._names(ctx)
        read = ctx.remember(KEY, lambda: at_once(ctx, *[lambda n=n: self._configuration(ctx, n) for n in names]))
        return dict(zip(names, read, strict=True))

    def prepare(self, ctx: Context) -> None:
        """Before anything changes: each function exists, is in no VPC or in the stack's (Lambda cannot span VPCs),
        and what it is now is recorded (once: a later `up` must not record s3gw's own changes as the user's)."""
        if not self.active(ctx):
            return
        stack_vpc = ctx.outputs.get("vpc_id") or ctx.config.vpc_id
        known = records(ctx)
        for name, configuration in self._configurations(ctx).items():
            if configuration is None:
                raise UsageError(f"--function {name}: no such Lambda function in {ctx.config.region}",
                                 "name an existing function of the stack's account and region")
            vpc_id = (configuration.get("VpcConfig") or {}).get("VpcId") or ""
            if name not in known and vpc_id and vpc_id != stack_vpc:
                raise UsageError(f"--function {name} is in {vpc_id}, not the stack's VPC "
                                 f"({stack_vpc or 'one s3gw will make'}): a Lambda function runs in one VPC only",
                                 f"bring that VPC with --vpc-id {vpc_id}, or take the function out of it first")
        if not ctx.persist:
            return
        for name, configuration in self._configurations(ctx).items():
            if name not in known and configuration is not None:
                known[name] = self._as_it_is(ctx, configuration)
        record_adoption(ctx, functions=known)

    def _as_it_is(self, ctx: Context, configuration: dict[str, Any]) -> dict[str, Any]:
        role = role_name_of(configuration["Role"])
        vpc = configuration.get("VpcConfig") or {}
        iam = ctx.aws.iam
        attached = [p["PolicyArn"] for page in iam.get_paginator("list_attached_role_policies").paginate(
            RoleName=role) for p in page["AttachedPolicies"]]
        inline = [n for page in iam.get_paginator("list_role_policies").paginate(RoleName=role)
                  for n in page["PolicyNames"]]
        return {"vpc": {"SubnetIds": list(vpc.get("SubnetIds") or []),
                        "SecurityGroupIds": list(vpc.get("SecurityGroupIds") or [])},
                "role": role, "attached": sorted(attached), "inline": sorted(inline),
                "keep_security_groups": bool(ctx.config.keep_security_groups)}

    def find(self, ctx: Context) -> dict[str, Any] | None:
        ctx.unsee(KEY)
        configurations = self._configurations(ctx)
        if any(c is None for c in configurations.values()):
            return None
        return {KEY: sorted(configurations)}

    def create(self, ctx: Context) -> None:
        gone = sorted(name for name, c in self._configurations(ctx).items() if c is None)
        raise AwsError(f"adopted function {', '.join(gone)} no longer exists",
                       "run 'down' to restore the others, or create it again")

    def _wanted_vpc(self, ctx: Context, name: str) -> dict[str, list[str]]:
        record = records(ctx).get(name) or {}
        groups = [ctx.outputs["security_group_id"]]
        if record.get("keep_security_groups"):
            groups = sorted({*groups, *(record.get("vpc") or {}).get("SecurityGroupIds", [])})
        return {"SubnetIds": sorted(ctx.outputs["subnet_ids"]), "SecurityGroupIds": groups}

    def check(self, ctx: Context) -> list[Drift]:
        drifts = []
        document = inline_policy(ctx)  # the bucket's access, and the table's with --table, as the probe's role
        for name, configuration in self._configurations(ctx).items():
            if configuration is None:
                raise AwsError(f"adopted function {name} vanished while checking it")
            vpc = configuration.get("VpcConfig") or {}
            wanted = self._wanted_vpc(ctx, name)
            if sorted(vpc.get("SubnetIds") or []) != wanted["SubnetIds"] or \
                    sorted(vpc.get("SecurityGroupIds") or []) != wanted["SecurityGroupIds"]:
                drifts.append(Drift(f"vpc {name}", f"{name} is not in the stack's subnets and security group"))
            role = role_name_of(configuration["Role"])
            try:
                current = ctx.aws.iam.get_role_policy(RoleName=role, PolicyName=inline_policy_name(ctx))
            except Exception as exc:
                if error_code(exc) != "NoSuchEntity":
                    raise
                current = None
            if current is None or canonical(current["PolicyDocument"]) != canonical(document):
                drifts.append(Drift(f"access {name}", f"{name}'s role {role} lacks s3gw's bucket-access policy "
                                                      f"({inline_policy_name(ctx)})"))
            attached = [p["PolicyArn"] for page in ctx.aws.iam.get_paginator("list_attached_role_policies")
                        .paginate(RoleName=role) for p in page["AttachedPolicies"]]
            if vpc_policy_arn(ctx) not in attached:
                drifts.append(Drift(f"eni {name}", f"{name}'s role {role} may not make network interfaces "
                                                   "(AWSLambdaVPCAccessExecutionRole)"))
        return drifts

    def repair(self, ctx: Context, drifts: list[Drift]) -> None:
        keys = {d.key for d in drifts}
        configurations = self._configurations(ctx)
        ctx.unsee(KEY)
        iam, lam = ctx.aws.iam, ctx.aws.lambda_
        document = json.dumps(inline_policy(ctx))
        for name, configuration in configurations.items():
            assert configuration is not None
            role = role_name_of(configuration["Role"])
            if f"eni {name}" in keys:
                record_adoption(ctx, functions={**records(ctx), name: {**records(ctx)[name],
                                                                       "attached_vpc_access": True}})
                call(f"attaching AWSLambdaVPCAccessExecutionRole to {role}", iam.attach_role_policy,
                     RoleName=role, PolicyArn=vpc_policy_arn(ctx))
            if f"access {name}" in keys:
                call(f"giving {role} the bucket's access", iam.put_role_policy, RoleName=role,
                     PolicyName=inline_policy_name(ctx), PolicyDocument=document)
            if f"vpc {name}" in keys:
                wait_updated(ctx, name=name)
                wanted = self._wanted_vpc(ctx, name)
                # The role's new permissions may take a moment to reach Lambda (IAM is eventually consistent):
                # the same answers terraform-provider-aws retries (steps.function.is_iam_propagation).
                retry(ctx, f"putting {name} in the stack's subnets", lambda n=name, w=wanted:
                      lam.update_function_configuration(FunctionName=n, VpcConfig=w),
                      retry_if=is_iam_propagation, waiting_for="the function to accept an update",
                      timeout=ctx.iam_propagation_wait)
                wait_updated(ctx, name=name)

    def detach(self, ctx: Context) -> None:
        """`down`: each adopted function back to its recorded VpcConfig, first (Lambda then releases its ENIs
        in the stack's group while the rest goes)."""
        for name, record in sorted(records(ctx).items()):
            before = record.get("vpc") or {"SubnetIds": [], "SecurityGroupIds": []}
            try:
                current = ctx.aws.lambda_.get_function_configuration(FunctionName=name)
            except Exception as exc:
                if is_code(exc, "ResourceNotFoundException"):
                    continue  # deleted by its owner meanwhile: nothing to restore
                raise
            vpc = current.get("VpcConfig") or {}
            if sorted(vpc.get("SubnetIds") or []) == sorted(before["SubnetIds"]) and \
                    sorted(vpc.get("SecurityGroupIds") or []) == sorted(before["SecurityGroupIds"]):
                continue
            ctx.progress(f"putting {name} back in its own network configuration "
                         f"({', '.join(before['SubnetIds']) or 'no VPC'})")
            wait_updated(ctx, name=name)
            retry(ctx, f"restoring {name}'s network configuration", lambda n=name, b=before:
                  ctx.aws.lambda_.update_function_configuration(FunctionName=n, VpcConfig=b),
                  retry_if=lambda exc: is_code(exc, "ResourceConflictException"),
                  waiting_for="the function to accept an update", timeout=ctx.active_wait)
            wait_updated(ctx, name=name)

    def delete(self, ctx: Context) -> bool:
        """Undo what s3gw added, never delete: the VpcConfig back (detach), s3gw's inline policy off the role, and
        AWSLambdaVPCAccessExecutionRole detached if s3gw attached it."""
        self.detach(ctx)
        iam = ctx.aws.iam
        for name, record in sorted(records(ctx).items()):
            role = record["role"]
            call(f"taking s3gw's policy off {role}", iam.delete_role_policy, RoleName=role,
                 PolicyName=inline_policy_name(ctx), already_done=("NoSuchEntity",))
            if record.get("attached_vpc_access") and vpc_policy_arn(ctx) not in record.get("attached", []):
                call(f"detaching AWSLambdaVPCAccessExecutionRole from {role}", iam.detach_role_policy,
                     RoleName=role, PolicyArn=vpc_policy_arn(ctx), already_done=("NoSuchEntity",))
            record_adoption(ctx, functions={k: v for k, v in records(ctx).items() if k != name} or None)
        ctx.forget(KEY)
        return False
