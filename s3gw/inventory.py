"""What exists in AWS under a stack's tag, whatever the state file says (read calls only).

`demo` and the tests use it to prove that `down` left nothing behind.
"""

from __future__ import annotations

from typing import Any

from s3gw.steps.base import STACK_TAG, Context, is_code


def stack_resources(ctx: Context) -> dict[str, list[str]]:
    ec2, stack = ctx.aws.ec2, ctx.config.stack
    tag = [{"Name": f"tag:{STACK_TAG}", "Values": [stack]}]
    found: dict[str, list[str]] = {
        "vpcs": [v["VpcId"] for v in ec2.describe_vpcs(Filters=tag)["Vpcs"]],
        "subnets": [s["SubnetId"] for s in ec2.describe_subnets(Filters=tag)["Subnets"]],
        "route_tables": [r["RouteTableId"] for r in ec2.describe_route_tables(Filters=tag)["RouteTables"]],
        "endpoints": [e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints(Filters=tag)["VpcEndpoints"]
                      if e.get("State", "").lower() not in ("deleted", "deleting")],
        "security_groups": [g["GroupId"] for g in ec2.describe_security_groups(Filters=tag)["SecurityGroups"]],
        "roles": [],
        "functions": [],
        "buckets": [],
    }
    try:
        role = ctx.aws.iam.get_role(RoleName=ctx.config.role_name)["Role"]
        if any(t["Key"] == STACK_TAG and t["Value"] == stack for t in role.get("Tags", [])):
            found["roles"].append(role["RoleName"])
    except Exception as exc:
        if not is_code(exc, "NoSuchEntity"):
            raise
    try:
        function: dict[str, Any] = ctx.aws.lambda_.get_function(FunctionName=ctx.config.function_name)
        if (function.get("Tags") or {}).get(STACK_TAG) == stack:
            found["functions"].append(function["Configuration"]["FunctionName"])
    except Exception as exc:
        if not is_code(exc, "ResourceNotFoundException"):
            raise
    for bucket in ctx.aws.s3.list_buckets().get("Buckets", []):
        try:
            tags = ctx.aws.s3.get_bucket_tagging(Bucket=bucket["Name"])["TagSet"]
        except Exception as exc:
            if is_code(exc, "NoSuchTagSet", "NoSuchBucket", "AccessDenied"):
                continue
            raise
        if any(t["Key"] == STACK_TAG and t["Value"] == stack for t in tags):
            found["buckets"].append(bucket["Name"])
    return {kind: ids for kind, ids in found.items() if ids}
