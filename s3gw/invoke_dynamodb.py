"""`s3gw test-invoke`'s DynamoDB half (issue 22): the function writes and reads one item through the DynamoDB
endpoint; a GetItem from this machine must be refused by the table's seal; a GetItem of the function on another table
must be refused by the endpoint policy. Each refusal is judged by the policy DynamoDB names in its message (IAM User
Guide, "Troubleshooting access denied error messages": "with an explicit deny in a resource-based policy", "... in a
VPC endpoint policy")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from s3gw.errors import error_code, error_message
from s3gw.steps.base import Context

PROBE_VALUE = "s3gw-probe"
_TIMEOUTS = ("ConnectTimeoutError", "ReadTimeoutError", "EndpointConnectionError", "ConnectionClosedError")


@dataclass
class TableReport:
    table: str
    key: str = "pk"
    written: bool = False
    read: str | None = None
    error: str = ""
    outside_refused: bool | None = None  # True: the seal refused this machine's GetItem
    outside_detail: str = ""
    other_table: str | None = None
    other_refused: bool | None = None  # True: the endpoint policy refused the function's GetItem on it
    other_detail: str = ""

    @property
    def ok(self) -> bool:
        return self.written and self.read is not None and not self.error and self.outside_refused is True \
            and self.other_refused is not False


def event(ctx: Context, table: str) -> tuple[dict[str, Any], str]:
    """What the lister is asked (its "table" event) and the table's partition key (an adopted table's own)."""
    key = ctx.config.table_key or "pk"
    described = ctx.aws.dynamodb.describe_table(TableName=table)["Table"]
    key = next((k["AttributeName"] for k in described.get("KeySchema", []) if k.get("KeyType") == "HASH"), key)
    asked: dict[str, Any] = {"attribute": key, "value": PROBE_VALUE}
    others = [t for t in ctx.aws.dynamodb.list_tables().get("TableNames", []) if t != table]
    if others:
        asked["other_table"] = others[0]
    return asked, key


def _refusal(message: str) -> str:
    for policy in ("resource-based policy", "VPC endpoint policy", "identity-based policy"):
        if policy in message:
            return policy
    return ""


def judge(ctx: Context, table: str, key: str, answer: Any) -> TableReport:
    report = TableReport(table=table, key=key)
    answer = answer if isinstance(answer, dict) else {"error": "the function did not try the table"}
    report.written, report.read = bool(answer.get("written")), answer.get("read")
    report.error = str(answer.get("error") or "")
    other = answer.get("other")
    if isinstance(other, dict):
        report.other_table = str(other.get("table"))
        by = _refusal(str(other.get("message") or ""))
        # Refused by the endpoint policy: proven. By another policy (the role's, which names only the stack's table):
        # nothing proven about the endpoint (None). Through: the endpoint does not keep the function to its table.
        report.other_refused = (by == "VPC endpoint policy") if other.get("refused") else False
        if other.get("refused") and by != "VPC endpoint policy":
            report.other_refused = None
        report.other_detail = (f"GetItem on {report.other_table} refused by the {by or 'table'}" + (
            "" if by == "VPC endpoint policy" else ": proves nothing about the endpoint (give that table a policy "
            "that lets the function's role read it)") if other.get("refused") else
                               f"GetItem on {report.other_table} got through the endpoint" if not other.get("error")
                               else f"GetItem on {report.other_table}: {other.get('error')}")
        if other.get("error"):
            report.other_refused = None
    try:
        ctx.aws.dynamodb.get_item(TableName=table, Key={key: {"S": PROBE_VALUE}})
    except Exception as exc:
        by = _refusal(error_message(exc))
        report.outside_refused = error_code(exc) == "AccessDeniedException" and by == "resource-based policy"
        report.outside_detail = (f"GetItem from this machine refused by the table's {by}" if by else
                                 f"GetItem from this machine failed: {error_code(exc)}: {error_message(exc)}")
        if by and by != "resource-based policy":
            report.outside_refused = None  # the operator's own permissions refused it: nothing proven about the seal
    else:
        report.outside_refused = False
        report.outside_detail = "GetItem from this machine got the item: the table's seal does not hold"
    return report


def diagnose(ctx: Context, function: str, report: TableReport) -> tuple[str, str]:
    """Why the function's item did not go through: a broken link of the DynamoDB path (reach.dynamodb_reach, the
    same model verify uses), else what DynamoDB said."""
    from s3gw.reach import dynamodb_reach, fetch_dynamodb_prefix_list, fetch_snapshot

    if report.outside_refused is False:
        return ("the table's seal does not hold: it answers outside the DynamoDB endpoint",
                "run 's3gw verify', then 's3gw up' to put the table's policy back")
    if not report.error:
        if report.other_refused is False:
            return ("the DynamoDB endpoint lets the function reach another table: its policy does not keep it to "
                    "the stack's table", "run 's3gw up' to put the endpoint policy back")
        return "", ""
    try:
        vpc = ctx.aws.lambda_.get_function_configuration(FunctionName=function).get("VpcConfig") or {}
        subnets, groups = list(vpc.get("SubnetIds") or []), list(vpc.get("SecurityGroupIds") or [])
        snapshot = fetch_snapshot(ctx.aws.ec2, subnets, groups)
        reach = dynamodb_reach(ctx.config.region, subnets, groups, **snapshot,
                               prefix_list=fetch_dynamodb_prefix_list(ctx.aws.ec2))
    except Exception:  # a best effort: the error stays as DynamoDB gave it
        reach = None
    broken = reach.reason if reach is not None else None
    timed_out = any(kind in report.error for kind in _TIMEOUTS)
    if broken is not None:
        what = "timed out" if timed_out else "was refused"
        return f"the function's DynamoDB call {what}: {broken.name}: {broken.detail}", broken.fix or \
            "run 's3gw up' to repair the path, then test-invoke again"
    return (f"the function's DynamoDB call failed: {report.error}",
            "run 's3gw verify' to see which DynamoDB link is broken")
