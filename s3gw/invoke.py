"""`s3gw test-invoke`: invoke the function through Lambda's Invoke API and say what most likely broke.

The same call on real AWS and on the sandbox: there is no local path here.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from s3gw.errors import AwsError, UsageError, error_code, error_message
from s3gw.steps.base import Context

_TIMEOUT_TYPES = ("ConnectTimeoutError", "ReadTimeoutError", "ConnectTimeout", "EndpointConnectionError",
                  "ConnectionClosedError")


@dataclass
class InvokeReport:
    function: str
    bucket: str
    ok: bool
    objects: list[dict[str, Any]] = field(default_factory=list)
    written: str | None = None
    error_type: str = ""
    error: str = ""
    diagnosis: str = ""
    fix: str = ""
    log_tail: str = ""
    outside_refused: bool | None = None  # the operator's own reads (list, versions, versioned get): refused = sealed
    outside_detail: str = ""
    other_bucket: str | None = None  # the bucket the function tried besides its own
    other_refused: bool | None = None  # refused means the endpoint policy keeps the function to its bucket
    other_detail: str = ""


def test_invoke(ctx: Context, put_key: str | None = None,
                put_body: str = "written by s3gw test-invoke", other_bucket: str | None = None) -> InvokeReport:
    function = ctx.outputs.get("function_name")
    bucket = ctx.outputs.get("bucket")
    if not function or not bucket:
        raise UsageError(f"stack {ctx.config.stack} has no function recorded", "run 's3gw up' first")
    event: dict[str, Any] = {"put": {"key": put_key, "body": put_body}} if put_key else {}
    if other_bucket:  # named by the operator: a bucket that would take the write, so only the endpoint refuses it
        event.update(other_bucket=other_bucket, other_write=True)
    elif (other_bucket := _another_bucket(ctx, bucket)):
        event["other_bucket"] = other_bucket
    answer = _invoke(ctx, function, json.dumps(event).encode())
    report = InvokeReport(function=function, bucket=bucket, ok=False,
                          log_tail=base64.b64decode(answer.get("LogResult", "") or "").decode(errors="replace"))
    payload_text = answer["Payload"].read().decode(errors="replace")
    try:
        payload: Any = json.loads(payload_text) if payload_text else None
    except json.JSONDecodeError:
        payload = {"errorMessage": payload_text}
    if answer.get("FunctionError"):
        payload = payload if isinstance(payload, dict) else {"errorMessage": str(payload)}
        report.error_type = str(payload.get("errorType", answer["FunctionError"]))
        report.error = str(payload.get("errorMessage", ""))
        report.diagnosis, report.fix = diagnose(report.error_type, report.error)
        if "AccessDenied" in report.error or "AccessDenied" in report.error_type:
            report.diagnosis, report.fix = _through_nat(ctx, function) or (report.diagnosis, report.fix)
    elif isinstance(payload, dict) and isinstance(payload.get("objects"), list):
        report.ok = True
        report.objects = payload["objects"]
        report.written = payload.get("written")
        report.other_bucket, report.other_refused, report.other_detail = _other_outcome(payload.get("other"))
    else:
        report.error = f"unexpected answer: {payload_text[:300]}"
        report.diagnosis = "the function returned something that is not s3gw's handler's answer"
        report.fix = "run 's3gw up' to deploy the handler again"
    probe_key = put_key or next((str(o["key"]) for o in report.objects), "s3gw-probe.txt")
    report.outside_refused, report.outside_detail = _outside_reads(ctx, bucket, probe_key)
    if report.outside_refused is False:
        report.ok = False
        report.diagnosis = report.diagnosis or "the seal does not hold: the bucket answers outside the endpoint"
        report.fix = report.fix or "run 's3gw verify', then 's3gw up' to put the policy back"
    if report.other_refused is False:
        report.ok = False
        report.diagnosis = report.diagnosis or ("the endpoint lets the function reach another bucket: its policy "
                                                "does not keep it to the stack's bucket")
        report.fix = report.fix or "run 's3gw verify', then 's3gw up' to put the endpoint policy back"
    return report


def _another_bucket(ctx: Context, bucket: str) -> str | None:
    """A bucket of the account in the stack's region other than the stack's, for the function to try: a gateway
    endpoint carries only its own region's traffic, so one elsewhere would prove nothing (inventory.region_buckets)."""
    from s3gw.inventory import region_buckets

    try:
        names = region_buckets(ctx)
    except Exception:  # no s3:ListAllMyBuckets: then only --other-bucket proves that direction
        return None
    return next((name for name in sorted(names) if name != bucket), None)


def _other_outcome(other: Any) -> tuple[str | None, bool | None, str]:
    if not isinstance(other, dict):
        return None, None, ("no other bucket to try (none in the account, or ListBuckets refused): "
                            "name one with --other-bucket")
    name, call, code = other.get("bucket"), other.get("call"), other.get("code") or ""
    if other.get("refused"):
        # S3 names the policy that refused a same-account call (IAM User Guide, access denied messages).
        by = "by the endpoint policy" if "VPC endpoint policy" in str(other.get("message")) else \
            "(S3 did not say by which policy; 's3gw verify' reads the endpoint policy)"
        return name, True, f"{call} on {name} through the endpoint refused {by}: the function reaches no other"
    if code:
        return name, None, f"could not tell: {call} on {name} answered {code}"
    return name, False, f"{call} on {name} through the endpoint succeeded: the endpoint reaches other buckets"
def _invoke(ctx: Context, function: str, payload: bytes) -> dict[str, Any]:
    """Invoke; a function that is not ready is waited for once: an Inactive one (idle for weeks) answers
    ResourceNotReadyException and wakes up (Lambda developer guide, "Lambda function states"), a Pending one
    answers ResourceConflictException. A Failed one is diagnosed with Lambda's reason."""
    from s3gw.steps.function import wait_active

    for attempt in (1, 2):
        try:
            return dict(ctx.aws.lambda_.invoke(FunctionName=function, Payload=payload, LogType="Tail"))
        except Exception as exc:
            code = error_code(exc)
            if code == "ResourceNotFoundException":
                raise AwsError(f"function {function} does not exist", "run 's3gw up' to create it again") from None
            if attempt == 2 or code not in ("ResourceNotReadyException", "ResourceConflictException"):
                raise
            ctx.progress(f"waiting: function {function} is not ready ({code}: {error_message(exc)}); "
                         "invoking wakes an Inactive function")
            wait_active(ctx, fail_ok=True)
            state = ctx.aws.lambda_.get_function_configuration(FunctionName=function)
            if state.get("State") != "Active":
                raise AwsError(f"function {function} is {state.get('State')}: "
                               f"{state.get('StateReason') or 'no reason given'}",
                               "run 's3gw up' (it replaces a Failed function), then test-invoke again") from None
    raise AssertionError("unreachable")


def diagnose(error_type: str, message: str) -> tuple[str, str]:
    """What most likely broke, from what the function raised."""
    if error_type in _TIMEOUT_TYPES or "Task timed out" in message or "timed out" in message.lower():
        return ("the connection to S3 timed out: no route to the S3 prefix list through the gateway endpoint, "
                "or no egress on 443 in the security group", "run 's3gw verify' to see which link is broken")
    if "AccessDenied" in message or "AccessDenied" in error_type:
        return ("S3 refused the call: the bucket policy and the endpoint disagree (a stale or wrong "
                "aws:SourceVpce), or the role lacks the permission", "run 's3gw verify' to see which")
    if "role" in message.lower() or "AssumeRole" in message or "ExpiredToken" in message:
        return "the function's role could not be used", "run 's3gw verify' (role checks), then 's3gw up'"
    if error_type in ("KeyError",) and "BUCKET_NAME" in message:
        return "the function has no BUCKET_NAME in its environment", "run 's3gw up' to repair its configuration"
    return f"the function failed with {error_type or 'an error'}", "read the log tail (-v) and run 's3gw verify'"


def _through_nat(ctx: Context, function: str) -> tuple[str, str] | None:
    """AccessDenied from a function whose subnet sends S3 traffic through a NAT gateway: the request arrived
    without aws:SourceVpce (s3gw/reach.py cites why), so the seal refused it."""
    from s3gw.pricing import nat_cost_line
    from s3gw.reach import fetch_snapshot, s3_exits

    try:
        vpc = ctx.aws.lambda_.get_function_configuration(FunctionName=function).get("VpcConfig") or {}
        subnet_ids = list(vpc.get("SubnetIds") or [])
        exits = s3_exits(subnet_ids, region=ctx.config.region, **fetch_snapshot(ctx.aws.ec2, subnet_ids, []))
    except Exception:  # the diagnosis is a best effort: the error stays as S3 gave it
        return None
    nat = {subnet: (table, gateway) for subnet, (table, gateway) in exits.items() if gateway.startswith("nat-")}
    if not nat:
        return None
    where = ", ".join(f"{subnet} ({table} → {gateway})" for subnet, (table, gateway) in sorted(nat.items()))
    tables = " ".join(sorted({table for table, _ in nat.values()}))
    return (f"the function reached S3 through a NAT gateway, not the endpoint: {where} route 0.0.0.0/0 to the NAT "
            f"and have no route to the S3 prefix list, so the request carried no aws:SourceVpce and the seal refused "
            f"it (AccessDenied); that traffic also costs {nat_cost_line(ctx.config.region)}",
            f"add {tables} to the S3 gateway endpoint (modify-vpc-endpoint --add-route-table-ids {tables}; "
            "'s3gw up' does it for the stack's subnets), then test-invoke again")


def _outside_reads(ctx: Context, bucket: str, key: str) -> tuple[bool | None, str]:
    """The reads that leak data, from this machine, outside the endpoint: the seal must refuse each.

    A versioned get with versionId=null: S3 authorises it as s3:GetObjectVersion, and "null" names the
    only version of an object in an unversioned bucket (S3 API reference, GetObject).
    """
    s3 = ctx.aws.s3
    reads = {
        "ListObjectsV2": lambda: s3.list_objects_v2(Bucket=bucket, MaxKeys=1),
        "ListObjectVersions": lambda: s3.list_object_versions(Bucket=bucket, MaxKeys=1),
        "GetObject?versionId=null": lambda: s3.get_object(Bucket=bucket, Key=key, VersionId="null"),
    }
    answered, unknown = [], []
    for name, read in reads.items():
        try:
            read()
        except Exception as exc:
            code = error_code(exc)
            if code in ("AccessDenied", "403"):
                continue
            if code in ("NoSuchKey", "NoSuchVersion", "404"):  # authorised, then not found: not sealed
                answered.append(f"{name} ({code})")
                continue
            unknown.append(f"{name}: {code or type(exc).__name__}: {error_message(exc)}")
            continue
        answered.append(name)
    if answered:
        return False, f"{', '.join(answered)} from this machine got through: the bucket is not sealed to the endpoint"
    if unknown:
        return None, "could not tell: " + "; ".join(unknown)
    return True, f"{', '.join(reads)} from this machine refused (AccessDenied): the seal holds"
