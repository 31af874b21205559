"""`s3gw test-invoke` (the probe, and the seal from outside), `s3gw invoke` and `s3gw logs` (your function)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from s3gw.commands.reports import (
    translated,
)
from s3gw.config import StackConfig
from s3gw.run import Progress, Run


@translated("invoking the function")
def test_invoke(config: StackConfig, progress: Progress, *, put_key: str | None = None,
                other_bucket: str | None = None) -> Any:
    """Invoke the stack's function (it lists the bucket through the endpoint) and check the seal from outside."""
    from s3gw.invoke import test_invoke as invoke_function

    with Run.open(config, progress, needs_state=True) as run:
        return invoke_function(run.ctx, put_key, other_bucket=other_bucket)


@translated("invoking your function")
def invoke_function(config: StackConfig, progress: Progress, *, function_name: str | None, payload: bytes) -> Any:
    """Invoke your function (function_calls.invoke): the one deployed with --code, an adopted one, or --function."""
    from s3gw.function_calls import invoke

    with Run.open(config, progress, needs_state=function_name is None) as run:
        return invoke(run.ctx, function_name, payload)


@translated("reading your function's logs")
def function_logs(config: StackConfig, progress: Progress, emit: Callable[[str], None], *,
                  function_name: str | None, since: float, follow: bool) -> None:
    """Each line of your function's CloudWatch log group since `since` seconds ago to `emit`; with `follow`, on."""
    from s3gw.function_calls import log_lines

    with Run.open(config, progress, needs_state=function_name is None) as run:
        for line in log_lines(run.ctx, function_name, since, follow=follow):
            emit(line)
