"""Your function (issue 21, `up --code PATH --handler MODULE.FUNCTION`): the user's code in the stack's subnets and
security group, with a role of its own and BUCKET_NAME set, beside the probe (the lister, steps.function).

Both are generalised steps: AppFunctionStep is FunctionStep with its own name, keys, code and configuration;
AppRoleStep is RoleStep with its own name and keys (AWSLambdaVPCAccessExecutionRole and the bucket's access, as the
lister's). They run only when the stack has --code (recorded in its settings).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from s3gw.config import DEFAULT_MEMORY, DEFAULT_RUNTIME, DEFAULT_TIMEOUT
from s3gw.package import user_code
from s3gw.steps.base import Context
from s3gw.steps.function import FunctionStep
from s3gw.steps.role import RoleStep


def has_app(ctx: Context) -> bool:
    return bool(ctx.config.code)


class AppRoleStep(RoleStep):
    name = "app_role"
    title = "IAM role of your function"
    keys = ("app_role_name", "app_role_arn")

    def role_name(self, ctx: Context) -> str:
        return ctx.config.app_role_name

    def active(self, ctx: Context) -> bool:
        return super().active(ctx) and has_app(ctx)


class AppFunctionStep(FunctionStep):
    name = "app"
    title = "your Lambda function"
    keys = ("app_function_name", "app_function_arn")
    code_source = "--code"

    def active(self, ctx: Context) -> bool:
        return super().active(ctx) and has_app(ctx)

    def function_name(self, ctx: Context) -> str:
        return ctx.config.app_function_name

    def prepare(self, ctx: Context) -> None:
        """Before anything changes: the code is zipped and checked (a path gone, a zip over Lambda's 50 MB
        direct-upload limit: one line, exit 2)."""
        if has_app(ctx):
            self.code(ctx)

    def code(self, ctx: Context) -> bytes:
        """The zip of --code, made once per run (package.user_code: deterministic, so the same tree gives the same
        CodeSha256 and an unchanged `up` uploads nothing)."""
        path = str(ctx.config.code)
        return ctx.remember(f"app_code {path}", lambda: user_code(Path(path)))  # type: ignore[no-any-return]

    def wanted(self, ctx: Context) -> dict[str, Any]:
        config = ctx.config
        variables = {**dict(config.env or ()), "BUCKET_NAME": ctx.outputs["bucket"]}
        if config.table:  # the DynamoDB lane: its role may use the table (steps.role.inline_policy), as the probe's
            variables["TABLE_NAME"] = ctx.outputs.get("table_name") or config.table
        return {
            "Runtime": config.runtime or DEFAULT_RUNTIME,
            "Handler": config.handler,
            "Role": ctx.outputs["app_role_arn"],
            "Timeout": config.timeout or DEFAULT_TIMEOUT,
            "MemorySize": config.memory or DEFAULT_MEMORY,
            "Environment": {"Variables": variables},
            # IPv6 out in a dual-stack stack, as the probe (steps.function.wanted_configuration cites it); said either
            # way, since an update that leaves it out keeps it.
            "VpcConfig": {"SubnetIds": list(ctx.outputs["subnet_ids"]),
                          "SecurityGroupIds": [ctx.outputs["security_group_id"]],
                          "Ipv6AllowedForDualStack": bool(config.dualstack)},
        }

    def description(self, ctx: Context) -> str:
        return f"s3gw {ctx.config.stack}: your function, on the private path to {ctx.outputs['bucket']}"

