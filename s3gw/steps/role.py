"""The function's IAM role: Lambda trust, the VPC access managed policy, and bucket access only."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from s3gw.errors import AwsError
from s3gw.policy.documents import (
    INLINE_POLICY_NAME,
    LAMBDA_VPC_POLICY_ARN,
    canonical,
    lambda_trust_policy,
    role_bucket_policy,
    role_table_statement,
)
from s3gw.steps.base import (
    STACK_TAG,
    VISIBLE_WAIT,
    Context,
    Drift,
    Step,
    ahead,
    at_once,
    call,
    is_code,
    is_not_found,
    look_ahead,
    retry,
    tag_dict,
)


def inline_policy(ctx: Context) -> dict[str, Any]:
    """The role's inline policy: the bucket, and with --table the item actions on the table and its indexes."""
    document = role_bucket_policy(ctx.outputs["bucket"], ctx.aws.partition)
    if ctx.config.table and ctx.outputs.get("table_arn"):
        document["Statement"].append(role_table_statement(ctx.outputs["table_arn"]))
    return document


def vpc_policy_arn(ctx: Context) -> str:
    return LAMBDA_VPC_POLICY_ARN.replace("arn:aws:", f"arn:{ctx.aws.partition}:")


class RoleStep(Step):
    name = "role"
    title = "IAM role"
    keys = ("role_name", "role_arn")
    # The role is a generalised step: the user's function has its own (steps.app.AppRoleStep), the same but for its
    # name and keys; each instance keeps what it reads in ctx.seen under its own name.

    def role_name(self, ctx: Context) -> str:
        return ctx.config.role_name

    def _get(self, ctx: Context) -> dict[str, Any] | None:
        """The role, read once per run (or as this run made it)."""
        return ctx.remember(self.name, lambda: self._read(ctx))  # type: ignore[no-any-return]

    def _read(self, ctx: Context) -> dict[str, Any] | None:
        name = ctx.outputs.get(self.keys[0]) or self.role_name(ctx)
        try:
            return dict(ctx.aws.iam.get_role(RoleName=name)["Role"])
        except Exception as exc:
            if is_code(exc, "NoSuchEntity"):
                return None
            raise

    def find(self, ctx: Context) -> dict[str, Any] | None:
        # find starts a run's look: check reuses what it reads
        ctx.unsee(self.name, f"{self.name}_attached", f"{self.name}_inline")
        name = ctx.outputs.get(self.keys[0])
        if name and look_ahead(ctx):  # recorded: its policies are read at once with it, for check()
            at_once(ctx, lambda: self._get(ctx),
                    lambda: ahead(ctx, f"{self.name}_attached", lambda: self._attached(ctx, name)),
                    lambda: ahead(ctx, f"{self.name}_inline", lambda: self._inline(ctx, name)))
        role = self._get(ctx)
        if role is None:
            return None
        tags = tag_dict(role.get("Tags"))
        if tags.get(STACK_TAG) != ctx.config.stack:
            raise AwsError(f"IAM role {role['RoleName']} exists but is not this stack's",
                           "delete or rename it, or use another --stack")
        return {self.keys[0]: role["RoleName"], self.keys[1]: role["Arn"]}

    def create(self, ctx: Context) -> None:
        trust = lambda_trust_policy(ctx.aws.account)
        try:
            role = ctx.aws.iam.create_role(
                RoleName=self.role_name(ctx),
                AssumeRolePolicyDocument=json.dumps(trust),
                Description=f"s3gw {ctx.config.stack}: Lambda in private subnets, access to one bucket",
                Tags=ctx.tags(self.role_name(ctx)),
            )["Role"]
        except Exception as exc:
            if not is_code(exc, "EntityAlreadyExists"):  # a create retried after a crash: ours, tagged
                raise
            ctx.unsee(self.name)
            role = self._get(ctx) or {}
        else:
            # Made now, so known without a read: the trust policy sent, and no policies yet (CreateRole attaches
            # none: IAM API Reference, CreateRole; policies are added by AttachRolePolicy / PutRolePolicy).
            ctx.seen.update({self.name: {**role, "AssumeRolePolicyDocument": trust}, f"{self.name}_attached": [],
                             f"{self.name}_inline": None})
        ctx.record(self.keys[0], role["RoleName"])
        ctx.record(self.keys[1], role["Arn"])

    def check(self, ctx: Context) -> list[Drift]:
        name = ctx.outputs[self.keys[0]]
        role = self._get(ctx) or {}
        drifts = []
        if canonical(role.get("AssumeRolePolicyDocument") or "{}") != canonical(lambda_trust_policy(ctx.aws.account)):
            drifts.append(Drift("trust", "the trust policy is not Lambda's, for this account's functions only"))
        attached, inline = at_once(
            ctx,
            lambda: ctx.remember(f"{self.name}_attached", lambda: call(
                "listing the role's policies", self._attached, ctx, name, retry_not_found=ctx)),
            lambda: ctx.remember(f"{self.name}_inline", lambda: self._inline(ctx, name)))
        if vpc_policy_arn(ctx) not in attached:
            drifts.append(Drift("vpc_access", "AWSLambdaVPCAccessExecutionRole is not attached (no ENIs)"))
        wanted = inline_policy(ctx)
        if inline is None or canonical(inline) != canonical(wanted):
            drifts.append(Drift("bucket_access", "the inline bucket-access policy is missing or differs"))
        return drifts

    def _attached(self, ctx: Context, name: str) -> list[str]:
        """The ARNs of the managed policies attached to the role, every page."""
        return [p["PolicyArn"] for page in ctx.aws.iam.get_paginator("list_attached_role_policies").paginate(
            RoleName=name) for p in page["AttachedPolicies"]]

    def _inline(self, ctx: Context, name: str) -> Any:
        try:
            return ctx.aws.iam.get_role_policy(RoleName=name, PolicyName=INLINE_POLICY_NAME)["PolicyDocument"]
        except Exception as exc:
            if not is_code(exc, "NoSuchEntity"):
                raise
            return None

    def repair(self, ctx: Context, drifts: list[Drift]) -> None:
        ctx.unsee(self.name, f"{self.name}_attached", f"{self.name}_inline")
        iam = ctx.aws.iam
        name = ctx.outputs[self.keys[0]]
        keys = {drift.key for drift in drifts}
        writes: list[tuple[str, Callable[[], Any]]] = []
        if "trust" in keys:
            writes.append(("setting the role's trust policy", lambda: iam.update_assume_role_policy(
                RoleName=name, PolicyDocument=json.dumps(lambda_trust_policy(ctx.aws.account)))))
        if "vpc_access" in keys:
            writes.append(("attaching AWSLambdaVPCAccessExecutionRole", lambda: iam.attach_role_policy(
                RoleName=name, PolicyArn=vpc_policy_arn(ctx))))
        if "bucket_access" in keys:
            document = inline_policy(ctx)
            writes.append(("writing the role's bucket-access policy", lambda: iam.put_role_policy(
                RoleName=name, PolicyName=INLINE_POLICY_NAME, PolicyDocument=json.dumps(document))))
        # At once: IAM may refuse one of two changes to a role made together (ConcurrentModification), which is
        # waited out as terraform-provider-aws does for AttachRolePolicy (iam/role_policy_attachment.go,
        # attachPolicyToRole retries ConcurrentModificationException); a new role not yet visible, likewise.
        at_once(ctx, *[lambda d=doing, w=write: retry(
            ctx, d, w, retry_if=lambda exc: is_not_found(exc) or is_code(exc, "ConcurrentModification"),
            waiting_for="the role to accept the change", timeout=VISIBLE_WAIT) for doing, write in writes])

    def read_policies(self, ctx: Context) -> None:
        """`down`: the role's policies, read while the deletes before it run (it waits for Lambda's ENIs)."""
        name = ctx.outputs.get(self.keys[0])
        if name:
            ctx.seen[f"{self.name}_policies"] = (name, self._policies(ctx, name))

    def _policies(self, ctx: Context, name: str) -> tuple[list[str], list[str]]:
        """The managed policies attached and the inline policies' names; none when the role is gone already."""
        iam = ctx.aws.iam
        try:  # the two lists at once
            attached, inline = at_once(
                ctx,
                lambda: self._attached(ctx, name),
                lambda: [n for page in iam.get_paginator("list_role_policies").paginate(RoleName=name)
                         for n in page["PolicyNames"]])
        except Exception as exc:
            if not is_code(exc, "NoSuchEntity"):
                raise
            return [], []
        return attached, inline

    def delete(self, ctx: Context) -> bool:
        name = ctx.outputs.get(self.keys[0])
        deleted = False
        if name:
            iam = ctx.aws.iam
            # Listed early (read_policies) or now. A policy put on the role since makes IAM refuse DeleteRole
            # (DeleteConflict, IAM API Reference): the role stays recorded, and down's next pass lists it again.
            early = ctx.seen.pop(f"{self.name}_policies", None)
            attached, inline = early[1] if early and early[0] == name else self._policies(ctx, name)
            # NoSuchEntity on each call below: done already (by us, when a reply was lost and botocore re-sent).
            # The policies come off at once; the role goes once all have.
            at_once(ctx, *[lambda a=arn: call(f"detaching {a} from {name}", iam.detach_role_policy,
                                              already_done=("NoSuchEntity",), RoleName=name, PolicyArn=a)
                           for arn in attached],
                    *[lambda p=policy_name: call(f"deleting {p} of {name}", iam.delete_role_policy,
                                                 already_done=("NoSuchEntity",), RoleName=name, PolicyName=p)
                      for policy_name in inline])
            deleted = call(f"deleting role {name}", iam.delete_role, already_done=("NoSuchEntity",),
                           RoleName=name) is not None  # None: NoSuchEntity, gone
        ctx.forget(self.keys[0])
        ctx.forget(self.keys[1])
        return deleted
