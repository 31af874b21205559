"""`s3gw verify`'s DynamoDB links (issue 22), in the order the function's item calls meet them: the DynamoDB gateway
endpoint, the group's 443 egress to DynamoDB's prefix list and each subnet's route to it (reach.dynamodb_reach, the
model the sandbox enforces), the table, its seal per class of data action (policy.evaluator: a caller from outside
the endpoint is refused, the function through it is not), the endpoint policy's scope, and the role's item actions.
Describe and Get calls only."""

from __future__ import annotations

from typing import Any

from s3gw import reach
from s3gw.policy.documents import TABLE_DATA_ACTIONS, TABLE_ITEM_ACTIONS
from s3gw.policy.evaluator import Request, decide, evaluate
from s3gw.reach import Link
from s3gw.steps.base import Context, is_code
from s3gw.steps.table import read_policy

Check = Link


def dynamodb_checks(ctx: Context, configuration: dict[str, Any], snapshot: dict[str, Any], repair: str,
                    role_documents: list[Any]) -> list[Check]:
    table, table_arn = ctx.outputs.get("table_name"), ctx.outputs.get("table_arn")
    if not table or not table_arn:
        return []
    region, account = ctx.config.region, ctx.aws.account
    vpc = configuration.get("VpcConfig") or {}
    subnets, groups = list(vpc.get("SubnetIds") or []), list(vpc.get("SecurityGroupIds") or [])
    endpoint_id = ctx.outputs.get("dynamodb_endpoint_id")
    endpoint = next((e for e in snapshot["endpoints"] if e.get("VpcEndpointId") == endpoint_id), None)
    service = reach.dynamodb_service_name(region)
    fine = endpoint is not None and endpoint.get("ServiceName") == service and \
        str(endpoint.get("VpcEndpointType", "")).lower() == "gateway" and \
        str(endpoint.get("State", "")).lower() == "available"
    checks = [Check("DynamoDB endpoint", fine,
                    f"{endpoint_id} (Gateway, {service}, {endpoint.get('State')})" if endpoint else
                    f"{endpoint_id or 'no DynamoDB endpoint'} not found in the function's VPC",
                    "" if fine else repair or f"create a Gateway endpoint for {service} on the subnets' route tables")]
    path = reach.dynamodb_reach(region, subnets, groups, **snapshot,
                                prefix_list=reach.fetch_dynamodb_prefix_list(ctx.aws.ec2))
    checks += [Link(link.name, link.ok, link.detail, "" if link.ok else (repair or link.fix)) for link in path.links]

    try:
        ctx.aws.dynamodb.describe_table(TableName=table)
    except Exception as exc:
        if not is_code(exc, "ResourceNotFoundException"):
            raise
        return [*checks, Check("table", False, f"table {table} does not exist", repair or "create it")]
    checks.append(Check("table", True, f"{table} ({table_arn})"))

    policy, _ = read_policy(ctx, table_arn)
    role_arn = str(configuration.get("Role", ""))
    role_name = role_arn.rsplit("/", 1)[-1]
    function = f"arn:{ctx.aws.partition}:sts::{account}:assumed-role/{role_name}/{configuration.get('FunctionName')}"
    outsider = f"arn:{ctx.aws.partition}:iam::{account}:user/someone"
    through = {"aws:SourceVpce": path.endpoint_id or endpoint_id or "", "aws:PrincipalArn": role_arn,
               "aws:PrincipalAccount": account}
    outside = {"aws:PrincipalArn": outsider, "aws:PrincipalAccount": account}
    for kind, actions in TABLE_DATA_ACTIONS.items():
        try:
            open_outside = [a for a in actions if evaluate(policy, Request(a, table_arn, outsider, account, outside))
                            .effect != "Deny"]
            refused_through = [a for a in actions if a in TABLE_ITEM_ACTIONS and evaluate(
                policy, Request(a, table_arn, function, account, through)).effect == "Deny"]
        except ValueError as problem:
            checks.append(Check(f"table seal: {kind}", False, f"the table's policy cannot be evaluated: {problem}",
                                repair))
            continue
        ok = not open_outside and not refused_through
        detail = (f"{', '.join(open_outside)} not denied outside {endpoint_id}" if open_outside else
                  f"{', '.join(refused_through)} denied to the function through {through['aws:SourceVpce']}"
                  if refused_through else f"denied unless through {endpoint_id}")
        checks.append(Check(f"table seal: {kind}", ok, detail, "" if ok else repair or
                            f"put the seal back: aws dynamodb put-resource-policy --resource-arn {table_arn} ..."))

    document = (endpoint or {}).get("PolicyDocument")
    scoped = {**through, "aws:ResourceAccount": account}
    other = table_arn.rsplit("/", 1)[0] + "/another-table"
    try:
        denied = [a for a in TABLE_ITEM_ACTIONS if document and evaluate(
            document, Request(a, table_arn, function, account, scoped)).effect != "Allow"]
        wide = bool(document) and evaluate(document, Request("dynamodb:GetItem", other, function, account,
                                                             scoped)).effect == "Allow"
    except ValueError as problem:
        denied, wide = [f"unreadable ({problem})"], False
    ok = bool(document) and not denied and not wide
    checks.append(Check("DynamoDB endpoint policy", ok,
                        "no policy (full access)" if not document else
                        f"refuses the function {', '.join(denied)} on {table}" if denied else
                        "lets the function reach other tables" if wide else
                        f"the function's item actions on {table} and its indexes only",
                        "" if ok else repair or "scope the endpoint policy to the table"))
    refused = [a for a in TABLE_ITEM_ACTIONS if decide(Request(a, table_arn, function, account),
                                                       identity_policies=role_documents).effect != "Allow"]
    checks.append(Check("role reaches the table", not refused,
                        f"{role_name} is not allowed {', '.join(refused)} on {table}" if refused else
                        f"{role_name} may use the items of {table} (and its indexes)",
                        (repair or f"allow {', '.join(refused)} on {table_arn} in a policy of {role_name}")
                        if refused else ""))
    return checks
