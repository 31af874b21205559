"""What exists in AWS under a stack's tag, whatever the state file says (read calls only).

`demo` and the tests use it to prove that `down` left nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from s3gw.steps.base import STACK_TAG, Context, at_once, is_code, is_not_found, tag_dict

# Buckets per ListBuckets page: MaxBuckets is 1 to 10,000 (botocore's S3 model).
BUCKETS_PAGE = 1000


def region_buckets(ctx: Context) -> list[str]:
    """The names of the account's buckets in the stack's region, every page: the one way s3gw lists buckets.

    Paged (MaxBuckets, ContinuationToken): "All unpaginated ListBuckets requests will be rejected for Amazon Web
    Services accounts with a general purpose bucket quota greater than 10,000" (botocore's S3 model, ListBuckets).
    BucketRegion = the stack's region: a gateway endpoint serves only its own region's buckets, and a bucket in an
    opt-in region answers GetBucketTagging from another region's endpoint with IllegalLocationConstraintException
    (cloud-custodian/cloud-custodian#8005), so the others are not even listed. The client is the stack region's,
    as BucketRegion requires ("the request must be made to an endpoint in Region us-west-2", the same model)."""
    pages = ctx.aws.s3.get_paginator("list_buckets").paginate(
        BucketRegion=ctx.config.region, PaginationConfig={"PageSize": BUCKETS_PAGE})
    return [str(bucket["Name"]) for page in pages for bucket in page.get("Buckets", [])]


def stack_resources(ctx: Context, buckets: list[str] | None = None,
                    described: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, list[str]]:
    """Everything carrying the stack's tag, in any VPC (an endpoint or group whose VPC is gone included). The
    role and function are looked up by the names the stack gives them; the buckets among `buckets`, or, when
    None, among all the account's buckets in the region (region_buckets, then a GetBucketTagging each). The reads are
    independent: they go at once (up to --max-concurrency). `described` (down): filled with each kind's
    resources as AWS described them, so that what down does next need not read them again."""
    ec2, stack = ctx.aws.ec2, ctx.config.stack
    tag = [{"Name": f"tag:{STACK_TAG}", "Values": [stack]}]

    def role(name: str) -> list[dict[str, Any]]:
        try:
            found = ctx.aws.iam.get_role(RoleName=name)["Role"]
        except Exception as exc:
            if not is_code(exc, "NoSuchEntity"):
                raise
            return []
        return [found] if tag_dict(found.get("Tags")).get(STACK_TAG) == stack else []

    def function(name: str) -> list[dict[str, Any]]:
        try:
            found: dict[str, Any] = ctx.aws.lambda_.get_function(FunctionName=name)
        except Exception as exc:
            if not is_code(exc, "ResourceNotFoundException"):
                raise
            return []
        return [found] if (found.get("Tags") or {}).get(STACK_TAG) == stack else []

    def ours(name: str) -> bool:
        try:
            tags = ctx.aws.s3.get_bucket_tagging(Bucket=name)["TagSet"]
        except Exception as exc:
            # IllegalLocationConstraintException: a bucket of another region (one listed before BucketRegion
            # filtered it out, or an endpoint that ignores it) is no bucket of the stack's.
            if is_code(exc, "NoSuchTagSet", "NoSuchBucket", "AccessDenied", "404", "403",
                       "IllegalLocationConstraintException"):
                return False
            raise
        return tag_dict(tags).get(STACK_TAG) == stack

    def stack_buckets() -> list[dict[str, Any]]:
        names = region_buckets(ctx) if buckets is None else buckets
        return [{"Name": name} for name, mine in
                zip(names, at_once(ctx, *[lambda n=n: ours(n) for n in names]), strict=True) if mine]

    reads = {
        "vpcs": lambda: ec2.describe_vpcs(Filters=tag)["Vpcs"],
        "subnets": lambda: ec2.describe_subnets(Filters=tag)["Subnets"],
        "route_tables": lambda: ec2.describe_route_tables(Filters=tag)["RouteTables"],
        "endpoints": lambda: [e for e in ec2.describe_vpc_endpoints(Filters=tag)["VpcEndpoints"]
                              if e.get("State", "").lower() not in ("deleted", "deleting")],
        "security_groups": lambda: ec2.describe_security_groups(Filters=tag)["SecurityGroups"],
        "roles": lambda: role(ctx.config.role_name),
        "functions": lambda: function(ctx.config.function_name),
        "buckets": stack_buckets,
    }
    # Your function and its role (steps.app), by the names the stack gives them: when the stack has one, or when
    # the look is the widest (down --from-tags: the state that would say so is lost).
    if ctx.config.code or ctx.outputs.get("app_function_name") or buckets is None:
        reads["app_roles"] = lambda: role(ctx.outputs.get("app_role_name") or ctx.config.app_role_name)
        reads["app_functions"] = lambda: function(ctx.outputs.get("app_function_name") or ctx.config.app_function_name)
    # The DynamoDB table (steps.table), by the name the stack was given, when it carries the stack's tag (an adopted
    # table carries none of s3gw's and is never found here).
    # With the widest look (down --from-tags: the state that names the table is lost), every table of the region.
    table = ctx.outputs.get("table_name") or ctx.config.table
    if table and not ctx.config.table_adopt:
        reads["tables"] = lambda: stack_table(ctx, str(table))
    elif buckets is None and not ctx.config.table_adopt:
        reads["tables"] = lambda: [t for name in region_tables(ctx) for t in stack_table(ctx, name)]
    found = dict(zip(reads, at_once(ctx, *reads.values()), strict=True))
    if described is not None:
        described.update(found)
    return {kind: [_ID_OF[kind](item) for item in items] for kind, items in found.items() if items}


# Each kind's id in what AWS describes (a bucket: {"Name": name}).
_ID_OF: dict[str, Callable[[dict[str, Any]], str]] = {
    "vpcs": lambda item: str(item["VpcId"]),
    "subnets": lambda item: str(item["SubnetId"]),
    "route_tables": lambda item: str(item["RouteTableId"]),
    "endpoints": lambda item: str(item["VpcEndpointId"]),
    "security_groups": lambda item: str(item["GroupId"]),
    "roles": lambda item: str(item["RoleName"]),
    "functions": lambda item: str(item["Configuration"]["FunctionName"]),
    "app_roles": lambda item: str(item["RoleName"]),
    "app_functions": lambda item: str(item["Configuration"]["FunctionName"]),
    "buckets": lambda item: str(item["Name"]),
    "tables": lambda item: str(item["TableName"]),
}


def region_tables(ctx: Context) -> list[str]:
    pages = ctx.aws.dynamodb.get_paginator("list_tables").paginate()
    return [name for page in pages for name in page.get("TableNames", [])]


def stack_table(ctx: Context, name: str) -> list[dict[str, Any]]:
    try:
        table = ctx.aws.dynamodb.describe_table(TableName=name)["Table"]
        tags = ctx.aws.dynamodb.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags")
    except Exception as exc:
        if is_not_found(exc):
            return []
        raise
    return [table] if tag_dict(tags).get(STACK_TAG) == ctx.config.stack else []


_EC2_DESCRIBE = {
    "vpc_id": ("describe_vpcs", "VpcIds", "Vpcs"),
    "subnet_ids": ("describe_subnets", "SubnetIds", "Subnets"),
    "route_table_ids": ("describe_route_tables", "RouteTableIds", "RouteTables"),
    "endpoint_id": ("describe_vpc_endpoints", "VpcEndpointIds", "VpcEndpoints"),
    "security_group_id": ("describe_security_groups", "GroupIds", "SecurityGroups"),
}


def _stack_tag_of(ctx: Context, key: str, value: str) -> str | None:
    """The s3gw:stack tag of one recorded resource; "" if it has none; None if it is gone."""
    try:
        if key in _EC2_DESCRIBE:
            method, ids, listed = _EC2_DESCRIBE[key]
            found = getattr(ctx.aws.ec2, method)(**{ids: [value]})[listed]
            found = [f for f in found if str(f.get("State", "")).lower() not in ("deleted", "deleting")]
            tags = tag_dict(found[0].get("Tags")) if found else None
        elif key in ("role_name", "app_role_name"):
            tags = tag_dict(ctx.aws.iam.get_role(RoleName=value)["Role"].get("Tags"))
        elif key in ("function_name", "app_function_name"):
            tags = ctx.aws.lambda_.get_function(FunctionName=value).get("Tags") or {}
        else:
            return ctx.config.stack
    except Exception as exc:
        if is_not_found(exc):
            return None
        raise
    return None if tags is None else tags.get(STACK_TAG, "")


def foreign_ids(ctx: Context, tagged: dict[str, set[str]] | None = None) -> dict[str, list[str]]:
    """Recorded ids of resources that exist but do not carry this stack's tag (read calls only).

    Everything s3gw makes in EC2, IAM and Lambda is tagged at creation, so such an id was not made by this
    stack (a hand-edited or mixed-up state file): `down` must leave it alone. The bucket checks itself.
    `tagged` (state key -> ids): what a look by the stack's tag (stack_resources) has just found, so carries the
    tag; only the other recorded ids are read.
    """
    tagged = tagged or {}
    foreign: dict[str, list[str]] = {}
    recorded = [(key, one) for key in (*_EC2_DESCRIBE, "role_name", "function_name", "app_role_name",
                                       "app_function_name")
                for value in [ctx.outputs.get(key)]
                for one in (value if isinstance(value, list) else [value] if value else [])
                if one not in tagged.get(key, ())]
    tags = at_once(ctx, *[lambda k=key, o=one: _stack_tag_of(ctx, k, o) for key, one in recorded])  # independent
    for (key, one), tag in zip(recorded, tags, strict=True):
        if tag is not None and tag != ctx.config.stack:
            foreign.setdefault(key, []).append(one)
    return foreign
