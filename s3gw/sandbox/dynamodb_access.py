"""Which IAM action a DynamoDB request needs, on which resource, and DynamoDB's refusal (issue 22).

DynamoDB's JSON protocol names the operation in the X-Amz-Target header (botocore's dynamodb model: protocol json,
targetPrefix DynamoDB_20120810), and each operation is authorised as the action of the same name (Service
Authorization Reference, "Actions, resources, and condition keys for Amazon DynamoDB": GetItem -> dynamodb:GetItem,
...). The resource is the table's ARN, arn:<partition>:dynamodb:<region>:<account>:table/<name>, or an index's,
<table ARN>/index/<name>, for a Query or Scan with IndexName. A batch (BatchGetItem, BatchWriteItem) names its tables
in RequestItems and is authorised on each (DynamoDB API Reference, BatchGetItem: "you must have permission" on every
table it reads); TransactGet/WriteItems likewise name a table per item and need the item's action on each.
A request whose table the sandbox cannot tell is refused (the sandbox fails closed, as for S3).

The refusal is DynamoDB's AccessDeniedException (HTTP 400, JSON body {"__type": "...#AccessDeniedException",
"message": ...}), its message in IAM's shape naming the kind of policy that refused it (IAM User Guide,
"Troubleshooting access denied error messages"; s3_access.denied_message cites the same page).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .s3_access import denied_message

TARGET_PREFIX = "DynamoDB_20120810."
_TRANSACT = {"Get": "dynamodb:GetItem", "Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem",
             "Delete": "dynamodb:DeleteItem", "ConditionCheck": "dynamodb:ConditionCheckItem"}
# Operations on no table (ListTables, DescribeLimits, DescribeEndpoints): not judged by a table's policy.
_NO_TABLE = {"ListTables", "DescribeLimits", "DescribeEndpoints", "ListBackups", "ListGlobalTables",
             "ListExports", "ListImports", "ListContributorInsights"}


@dataclass(frozen=True)
class DynamoCall:
    action: str
    table: str
    resource: str


def classify(target: str, body: bytes, region: str, account: str, partition: str) -> list[DynamoCall] | None:
    """Each (action, table) a request needs; None for a request on no table; [] when it cannot be mapped."""
    operation = target.removeprefix(TARGET_PREFIX) if target.startswith(TARGET_PREFIX) else ""
    if operation in _NO_TABLE:
        return None
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return []
    if not operation or not isinstance(request, dict):
        return []

    def arn(table: str, index: str | None = None) -> str:
        # DynamoDB takes a table's ARN where it takes its name
        base = table if table.startswith("arn:") else f"arn:{partition}:dynamodb:{region}:{account}:table/{table}"
        return f"{base}/index/{index}" if index else base

    def name(table: str) -> str:
        return table.rsplit("/", 1)[-1] if table.startswith("arn:") else table

    if operation in ("BatchGetItem", "BatchWriteItem"):
        tables = list((request.get("RequestItems") or {}).keys())
        return [DynamoCall(f"dynamodb:{operation}", name(t), arn(t)) for t in tables] or []
    if operation in ("TransactGetItems", "TransactWriteItems"):
        calls = []
        for item in request.get("TransactItems") or []:
            for kind, action in _TRANSACT.items():
                if isinstance(item, dict) and isinstance(item.get(kind), dict) and item[kind].get("TableName"):
                    table = item[kind]["TableName"]
                    calls.append(DynamoCall(action, name(table), arn(table)))
        return calls
    table = request.get("TableName") or request.get("ResourceArn") or request.get("TableArn")
    if not isinstance(table, str) or not table:
        return []
    if table.startswith("arn:") and "/stream/" in table:
        return []  # streams: not served by this sandbox
    return [DynamoCall(f"dynamodb:{operation}", name(table), arn(table, request.get("IndexName")))]


def access_denied(message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    body = {"__type": "com.amazon.coral.service#AccessDeniedException", "message": message}
    return 400, [("Content-Type", "application/x-amz-json-1.0")], json.dumps(body).encode()


def message(principal: str, call: DynamoCall, policy: str, explicit: bool) -> str:
    """IAM's shape, without S3's quotes round the resource."""
    return denied_message(principal, call.action, call.resource, policy, explicit).replace(
        f'"{call.resource}"', call.resource)
