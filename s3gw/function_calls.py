"""`s3gw invoke` and `s3gw logs`: your function (steps.app, or one adopted with `up --function NAME --adopt`),
invoked through Lambda's Invoke API, and its CloudWatch log group read as `sam logs` reads it.

`test-invoke` (invoke.py) stays the probe's: it invokes the lister, which proves the network path.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from s3gw.errors import AwsError, UsageError, error_code
from s3gw.steps.base import Context


@dataclass
class FunctionAnswer:
    function: str
    payload: bytes  # as the function returned it
    log_tail: str
    function_error: str | None  # Lambda's X-Amz-Function-Error: "Unhandled" when the handler raised
    error_type: str = ""
    error_message: str = ""


def user_functions(ctx: Context) -> list[str]:
    """The stack's user functions: the one deployed with --code, then the adopted ones."""
    names = [ctx.outputs["app_function_name"]] if ctx.outputs.get("app_function_name") else []
    adopted = (ctx.state.settings.get("adopt_functions") or []) if ctx.state else []
    return names + [name for name in adopted if name not in names]


def which_function(ctx: Context, name: str | None) -> str:
    """--function NAME, else the one deployed with --code, else the only adopted one."""
    if name:
        return name
    names = user_functions(ctx)
    if ctx.outputs.get("app_function_name"):
        return str(ctx.outputs["app_function_name"])
    if len(names) == 1:
        return names[0]
    if not names:
        raise UsageError(f"stack {ctx.config.stack} has no function of yours",
                         "deploy one with 's3gw up --code PATH --handler MODULE.FUNCTION', or adopt one with "
                         "'s3gw up --function NAME --adopt' (test-invoke invokes the probe)")
    raise UsageError(f"stack {ctx.config.stack} has {len(names)} adopted functions: {', '.join(names)}",
                     "name one with --function NAME")


def invoke(ctx: Context, name: str | None, payload: bytes) -> FunctionAnswer:
    function = which_function(ctx, name)
    try:
        answer = ctx.aws.lambda_.invoke(FunctionName=function, Payload=payload, LogType="Tail")
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise AwsError(f"function {function} does not exist", "run 's3gw up' to deploy it again") from None
        raise
    body = answer["Payload"].read()
    result = FunctionAnswer(function, body, base64.b64decode(answer.get("LogResult") or "").decode(errors="replace"),
                            answer.get("FunctionError"))
    if result.function_error:
        try:
            error: Any = json.loads(body or b"{}")
        except ValueError:
            error = {"errorMessage": body.decode(errors="replace")}
        error = error if isinstance(error, dict) else {"errorMessage": str(error)}
        result.error_type = str(error.get("errorType") or result.function_error)
        result.error_message = " ".join(str(error.get("errorMessage", "")).split())  # one line
    return result


# How often --follow asks again: sam logs --tail polls FilterLogEvents at about this rate.
FOLLOW_EVERY = 2.0


def log_lines(ctx: Context, name: str | None, since: float, *, follow: bool = False,
              sleep: Callable[[float], None] = time.sleep, now: Callable[[], float] = time.time) -> Iterator[str]:
    """The function's log lines (its group /aws/lambda/NAME, Lambda's default: Lambda developer guide, "Sending
    Lambda function logs to CloudWatch Logs"), from `since` seconds ago; with `follow`, then the new ones as they
    come, until interrupted. Each event once (by its eventId)."""
    function = which_function(ctx, name)
    group = f"/aws/lambda/{function}"
    start = int((now() - since) * 1000)
    seen: set[str] = set()
    said_missing = False
    while True:
        try:
            pages = ctx.aws.logs.get_paginator("filter_log_events").paginate(logGroupName=group, startTime=start)
            events = [event for page in pages for event in page.get("events", [])]
        except Exception as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            events = []
            if not said_missing:  # Lambda makes the group at the function's first log line
                ctx.progress(f"no log group {group} yet: the function has not logged anything (invoke it first)")
                said_missing = True
        for event in sorted(events, key=lambda e: (e.get("timestamp", 0), e.get("eventId", ""))):
            if event.get("eventId") in seen:
                continue
            seen.add(event.get("eventId", ""))
            start = max(start, int(event.get("timestamp", 0)))
            yield str(event.get("message", "")).rstrip("\n")
        if not follow:
            return
        sleep(FOLLOW_EVERY)
