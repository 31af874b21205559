"""What each step makes, in words: the attributes `plan` shows for a create and `up` for what it created.

Read-only; built from the config and what is already known (ids found or just made). Policies are summarized
from the documents the steps write, so a change to a document shows here without touching this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from s3gw.config import subnet_cidrs
from s3gw.policy.documents import (
    LAMBDA_VPC_POLICY_ARN,
    lambda_trust_policy,
    role_bucket_policy,
    role_table_statement,
    statements_of,
)
from s3gw.steps.base import STACK_TAG, Context

NEW = "(known after create)"


def attributes(ctx: Context, step_name: str) -> list[str]:
    """`name = value` lines describing the resource the step makes, or [] for an unknown step."""
    describe = _BY_STEP.get(step_name)
    return describe(ctx) if describe else []


def policy_lines(document: Any) -> list[str]:
    """One line per statement: effect, actions, principal and conditions (resources left out: they are the
    stack's own bucket or objects)."""
    lines = []
    for statement in statements_of(document):
        if "NotAction" in statement:
            actions = "every action but " + ", ".join(_strings(statement["NotAction"]))
        else:
            actions = ", ".join(_strings(statement.get("Action")))
        line = f"{statement.get('Effect')} {actions}"
        principal = statement.get("Principal")
        if isinstance(principal, dict):
            line += " to " + ", ".join(v for value in principal.values() for v in _strings(value))
        elif principal:
            line += f" to {principal}"
        conditions = [f"{key} {operator} {', '.join(_strings(value))}"
                      for operator, pairs in (statement.get("Condition") or {}).items()
                      for key, value in pairs.items()]
        if conditions:
            line += " when " + " and ".join(conditions)
        lines.append(line)
    return lines


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)] if value is not None else []


def _vpc(ctx: Context) -> list[str]:
    ipv6 = ["ipv6_cidr_block = Amazon-provided /56 (--ip-address-type dualstack)"] if ctx.config.dualstack else []
    return [f"cidr_block = {ctx.config.vpc_cidr}", *ipv6, "dns_support = on, dns_hostnames = on",
            f"tags = {STACK_TAG}={ctx.config.stack}"]


def _subnets(ctx: Context) -> list[str]:
    from s3gw.steps.subnets import zone_names

    zones = zone_names(ctx)
    cidrs = subnet_cidrs(ctx.config.vpc_cidr, ctx.config.azs)
    ids = list(ctx.outputs.get("subnet_ids") or [])
    ipv6 = " and the /64 of its index in the VPC's IPv6 block" if ctx.config.dualstack else ""
    return [f"subnet {ids[i] if i < len(ids) else NEW} = {cidr}{ipv6} in {zone}, no public IPs"
            for i, (zone, cidr) in enumerate(zip(zones, cidrs, strict=False))]


def _route_tables(ctx: Context) -> list[str]:
    ids = ctx.outputs.get("route_table_ids") or []
    return [f"route tables = one per subnet ({ctx.config.azs}), explicitly associated, local route only"
            + (f": {' '.join(ids)}" if ids else "")]


def _endpoint(ctx: Context) -> list[str]:
    from s3gw.steps.endpoint import s3_service_name, wanted_policy

    kind = "dualstack (S3's IPv4 and IPv6 prefix lists routed to it)" if ctx.config.dualstack else "ipv4"
    return [f"endpoint {ctx.outputs.get('endpoint_id') or NEW} = Gateway, {s3_service_name(ctx)}",
            f"ip_address_type = {kind}",
            "route_table_ids = the subnets' route tables "
            + (" ".join(ctx.outputs.get("route_table_ids") or []) or NEW),
            f"prefix_list_id = {ctx.outputs.get('prefix_list_id') or NEW}",
            *(f"policy: {line}" for line in policy_lines(wanted_policy(ctx)))]


def _dynamodb_endpoint(ctx: Context) -> list[str]:
    from s3gw.steps.dynamodb_endpoint import dynamodb_prefix_list_id, dynamodb_service_name, wanted_policy

    return [f"endpoint {ctx.outputs.get('dynamodb_endpoint_id') or NEW} = Gateway, {dynamodb_service_name(ctx)}",
            "route_table_ids = the subnets' route tables (the S3 endpoint's) "
            + (" ".join(ctx.outputs.get("route_table_ids") or []) or NEW),
            f"prefix_list_id = {ctx.outputs.get('dynamodb_prefix_list_id') or dynamodb_prefix_list_id(ctx)}",
            *(f"policy: {line}" for line in policy_lines(wanted_policy(ctx)))]


def _table(ctx: Context) -> list[str]:
    from s3gw.steps.dynamodb_endpoint import table_arn_of
    from s3gw.steps.table import DEFAULT_KEY, table_seal

    endpoint = ctx.outputs.get("dynamodb_endpoint_id") or "(the new DynamoDB endpoint)"
    seal = [f"policy: {line}" for line in policy_lines(table_seal(ctx, table_arn_of(ctx), endpoint))]
    if ctx.config.table_adopt:
        return [f"table = {ctx.config.table} (yours: never deleted, its items never touched)",
                *(line.replace("policy:", "merged into its policy:", 1) for line in seal)]
    return [f"table = {ctx.config.table} in {ctx.config.region}",
            f"key = {ctx.config.table_key or DEFAULT_KEY} (string, partition)", "billing = on-demand",
            "encryption = on (SSE)", "deletion_protection = off (down deletes it)", *seal]


def _bucket(ctx: Context) -> list[str]:
    from s3gw.steps.bucket import bucket_name, seal

    bucket = bucket_name(ctx)
    endpoint = ctx.outputs.get("endpoint_id") or "(the new endpoint)"
    return [f"bucket = {bucket} in {ctx.config.region}",
            "block_public_access = all four on", "default_encryption = SSE-S3 (AES256)",
            *(f"policy: {line}" for line in policy_lines(seal(ctx, bucket, endpoint)))]


def _security_group(ctx: Context) -> list[str]:
    from s3gw.steps.endpoint import s3_prefix_list_id

    if ctx.config.egress == "anywhere":
        target = "0.0.0.0/0" + (" and ::/0" if ctx.config.dualstack else "")
    else:
        target = f"the S3 prefix list {ctx.outputs.get('prefix_list_id') or s3_prefix_list_id(ctx)}"
        if ctx.config.dualstack:
            from s3gw.steps.endpoint import s3_ipv6_prefix_list_id

            target += f" and S3's IPv6 prefix list {s3_ipv6_prefix_list_id(ctx)}"
    if ctx.config.table and ctx.config.egress != "anywhere":
        from s3gw.steps.dynamodb_endpoint import dynamodb_prefix_list_id

        target += " and the DynamoDB prefix list " + (ctx.outputs.get("dynamodb_prefix_list_id") or
                                                      dynamodb_prefix_list_id(ctx))
    return [f"name = {ctx.config.security_group_name}", "ingress = none",
            f"egress = TCP 443 to {target} only (the default allow-all rule revoked)"]


def _role(ctx: Context) -> list[str]:
    from s3gw.steps.bucket import bucket_name
    from s3gw.steps.dynamodb_endpoint import table_arn_of

    managed = LAMBDA_VPC_POLICY_ARN.replace("arn:aws:", f"arn:{ctx.aws.partition}:")
    return [f"name = {ctx.outputs.get('role_name') or ctx.config.role_name}",
            *(f"trust: {line}" for line in policy_lines(lambda_trust_policy(ctx.aws.account))),
            f"managed policy = {managed}",
            *(f"inline policy: {line}" for line in
              policy_lines(role_bucket_policy(bucket_name(ctx), ctx.aws.partition)))] + (
        [f"inline policy: {line}" for line in policy_lines({"Statement": [role_table_statement(table_arn_of(ctx))]})]
        if ctx.config.table else [])


def _function(ctx: Context) -> list[str]:
    from s3gw.steps.bucket import bucket_name
    from s3gw.steps.function import MEMORY_MB, RUNTIME, TIMEOUT_SECONDS

    subnets = " ".join(ctx.outputs.get("subnet_ids") or []) or f"the {ctx.config.azs} private subnets"
    return [f"name = {ctx.outputs.get('function_name') or ctx.config.function_name}",
            f"runtime = {RUNTIME}, memory = {MEMORY_MB} MB, timeout = {TIMEOUT_SECONDS} s",
            f"environment = BUCKET_NAME={bucket_name(ctx)}"
            + (", AWS_USE_DUALSTACK_ENDPOINT=true" if ctx.config.dualstack else "")
            + (f", TABLE_NAME={ctx.config.table}" if ctx.config.table else ""),
            f"vpc = {subnets}, security group {ctx.outputs.get('security_group_id') or NEW}"
            + (", Ipv6AllowedForDualStack" if ctx.config.dualstack else "")]


def _app_role(ctx: Context) -> list[str]:
    return [f"name = {ctx.outputs.get('app_role_name') or ctx.config.app_role_name}", *_role(ctx)[1:]]


def _app(ctx: Context) -> list[str]:
    from s3gw.config import DEFAULT_MEMORY, DEFAULT_RUNTIME, DEFAULT_TIMEOUT
    from s3gw.package import code_sha256
    from s3gw.steps.app import AppFunctionStep
    from s3gw.steps.bucket import bucket_name

    config = ctx.config
    subnets = " ".join(ctx.outputs.get("subnet_ids") or []) or f"the {config.azs} private subnets"
    pairs = [*(config.env or ()), ("BUCKET_NAME", bucket_name(ctx))]
    if config.table:
        pairs.append(("TABLE_NAME", ctx.outputs.get("table_name") or config.table))
    variables = ", ".join(f"{k}={v}" for k, v in pairs)
    return [f"name = {ctx.outputs.get('app_function_name') or config.app_function_name}",
            f"code = {config.code} (CodeSha256 {code_sha256(AppFunctionStep().code(ctx))}), handler = {config.handler}",
            f"runtime = {config.runtime or DEFAULT_RUNTIME}, memory = {config.memory or DEFAULT_MEMORY} MB, "
            f"timeout = {config.timeout or DEFAULT_TIMEOUT} s",
            f"environment = {variables}",
            f"vpc = {subnets}, security group {ctx.outputs.get('security_group_id') or NEW}"]


_BY_STEP: dict[str, Callable[[Context], list[str]]] = {
    "vpc": _vpc, "subnets": _subnets, "route_tables": _route_tables, "endpoint": _endpoint, "bucket": _bucket,
    "security_group": _security_group, "role": _role, "function": _function, "app_role": _app_role, "app": _app,
    "dynamodb_endpoint": _dynamodb_endpoint, "table": _table,
}
