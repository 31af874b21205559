"""What the commands return (plain data for render.py), the words for recorded keys, and AWS errors in one line."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from s3gw.config import StackConfig
from s3gw.errors import S3gwError, translate
from s3gw.steps import STEPS, Context, Step
from s3gw.steps.base import adopted
from s3gw.steps.summary import attributes

P = ParamSpec("P")
R = TypeVar("R")


OUTPUT_KEYS = (
    "vpc_id", "subnet_ids", "route_table_ids", "endpoint_id", "prefix_list_id", "bucket",
    "security_group_id", "role_name", "role_arn", "function_name", "function_arn",
    "app_function_name", "app_function_arn", "app_role_name", "app_role_arn", "adopted_functions",
    "dynamodb_endpoint_id", "dynamodb_prefix_list_id", "table_name", "table_arn",
)


LIST_KEYS = ("subnet_ids", "route_table_ids", "adopted_functions")


# What a recorded key stands for, in the words messages use (never the key itself).
KINDS = {
    "vpc_id": "VPC", "subnet_ids": "private subnets", "route_table_ids": "route tables",
    "endpoint_id": "S3 gateway endpoint", "prefix_list_id": "S3 gateway endpoint", "bucket": "bucket",
    "bucket_pending": "bucket", "security_group_id": "security group", "role_name": "IAM role",
    "role_arn": "IAM role", "function_name": "Lambda function", "function_arn": "Lambda function",
    "eni_function": "Lambda network interfaces of function",
    "app_function_name": "your Lambda function", "app_function_arn": "your Lambda function",
    "app_role_name": "IAM role of your function", "app_role_arn": "IAM role of your function",
    "adopted_functions": "your adopted functions",
    "dynamodb_endpoint_id": "DynamoDB gateway endpoint", "dynamodb_prefix_list_id": "DynamoDB gateway endpoint",
    "table_name": "DynamoDB table", "table_arn": "DynamoDB table",
}


# The key whose value names the resource in a message (the others of the same kind are its details).
_NAMING_KEYS = ("vpc_id", "subnet_ids", "route_table_ids", "endpoint_id", "bucket", "bucket_pending",
                "security_group_id", "role_name", "function_name", "eni_function", "app_role_name",
                "app_function_name", "adopted_functions", "dynamodb_endpoint_id", "table_name")


def kind_of(key: str) -> str:
    return KINDS.get(key, key.replace("_", " "))


def describe_resources(resources: dict[str, Any]) -> list[str]:
    """'VPC vpc-1', 'private subnets subnet-1 subnet-2', … for recorded ids, in the order `up` makes them."""
    named = [key for key in _NAMING_KEYS if resources.get(key)]
    named += [key for key in resources if resources.get(key) and key not in KINDS]
    lines = []
    for key in named:
        value = resources[key]
        lines.append(f"{kind_of(key)} {' '.join(value) if isinstance(value, list) else value}")
    return lines


@dataclass
class StepReport:
    step: str
    action: str  # up: created / repaired / unchanged; plan: create / change / ok; status: ok / drift / missing
    ids: dict[str, Any] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)


@dataclass
class StackReport:
    stack: str
    region: str
    steps: list[StepReport]
    outputs: dict[str, Any]
    # plan: the settings recorded by the last `up` that this one changes, as "azs: 3 -> 2".
    setting_changes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return all(s.action in ("ok", "unchanged") for s in self.steps) and not self.setting_changes


@dataclass
class DownReport:
    stack: str
    deleted: list[str]
    left: dict[str, Any]  # still in AWS and kept in the state file
    problems: list[str] = field(default_factory=list)  # why: one line each
    already_gone: list[str] = field(default_factory=list)  # recorded, but AWS said it no longer exists

    @property
    def complete(self) -> bool:
        return not self.left and not self.problems


def translated(doing: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Map any AWS error that escaped a step to one S3gwError line (SAM CLI's decorator, in small)."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def inner(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except S3gwError:
                raise
            except Exception as exc:
                if type(exc).__module__.startswith(("botocore", "boto3", "urllib3")):
                    raise translate(exc, doing) from exc
                raise

        return inner

    return wrap


def step_ids(ctx: Context, step: Step) -> dict[str, Any]:
    return {key: ctx.outputs[key] for key in step.keys if ctx.outputs.get(key) and key in OUTPUT_KEYS}


def outputs_of(values: dict[str, Any]) -> dict[str, Any]:
    return {key: values[key] for key in OUTPUT_KEYS if values.get(key)}


def flat_ids(ids: dict[str, Any]) -> list[str]:
    return [", ".join(v) if isinstance(v, list) else str(v) for v in ids.values()]


def step_attributes(ctx: Context, step: Step) -> list[str]:
    try:
        return attributes(ctx, step.name)
    except KeyError:  # an earlier resource is not there, so some attribute is not known yet
        return []


def with_exemptions(reports: list[StepReport], config: StackConfig) -> list[StepReport]:
    """The principals the seal lets in from outside the endpoint (--allow-principal), on the bucket's line."""
    for report in reports:
        if report.step == "bucket" and config.allow_principals:
            report.details.append("seal exempts (aws:PrincipalArn): " + ", ".join(config.allow_principals))
        if report.step == "bucket" and config.allow_aws_services:
            report.details.append("seal exempts AWS services (--allow-aws-services): service principals, forward "
                                  "access sessions, service-linked roles")
    return reports


def with_adoption(reports: list[StepReport], ctx: Context) -> list[StepReport]:
    """Mark what the stack uses but did not make (--adopt, --vpc-id): `down` keeps it."""
    by_title = {step.title: step for step in STEPS}
    for report in reports:
        step = by_title.get(report.step)
        if step and any(adopted(ctx, key) for key in step.keys):
            report.details.insert(0, "(adopted) s3gw did not make it; down keeps it and undoes only s3gw's changes")
    return reports
