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
    outside_refused: bool | None = None  # the operator's own ListBucket: refused means the seal holds
    outside_detail: str = ""


def test_invoke(ctx: Context, put_key: str | None = None,
                put_body: str = "written by s3gw test-invoke") -> InvokeReport:
    function = ctx.outputs.get("function_name")
    bucket = ctx.outputs.get("bucket")
    if not function or not bucket:
        raise UsageError(f"stack {ctx.config.stack} has no function recorded", "run 's3gw up' first")
    event: dict[str, Any] = {"put": {"key": put_key, "body": put_body}} if put_key else {}
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
    elif isinstance(payload, dict) and isinstance(payload.get("objects"), list):
        report.ok = True
        report.objects = payload["objects"]
        report.written = payload.get("written")
    else:
        report.error = f"unexpected answer: {payload_text[:300]}"
        report.diagnosis = "the function returned something that is not s3gw's handler's answer"
        report.fix = "run 's3gw up' to deploy the handler again"
    report.outside_refused, report.outside_detail = _outside_list(ctx, bucket)
    if report.outside_refused is False:
        report.ok = False
        report.diagnosis = report.diagnosis or "the seal does not hold: the bucket answers outside the endpoint"
        report.fix = report.fix or "run 's3gw verify', then 's3gw up' to put the policy back"
    return report


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


def _outside_list(ctx: Context, bucket: str) -> tuple[bool | None, str]:
    """The same ListBucket from this machine, outside the endpoint: the seal must refuse it."""
    try:
        ctx.aws.s3.list_objects_v2(Bucket=bucket, MaxKeys=1)
    except Exception as exc:
        code = error_code(exc)
        if code in ("AccessDenied", "403"):
            return True, f"refused from this machine ({code}): the seal holds"
        return None, f"could not tell: {code or type(exc).__name__}: {error_message(exc)}"
    return False, "ListBucket from this machine succeeded: the bucket is not sealed to the endpoint"
