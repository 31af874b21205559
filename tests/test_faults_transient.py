"""Throttling and transient errors at the HTTP layer: botocore's standard retry mode must carry `up` and `down`.

A `before-send` hook answers for AWS on every 3rd call, once: throttling (in each
service's own error format), a 503, or a connection reset. The real retry handler decides and retries.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError
from click.testing import CliRunner
from fault_helpers import EMPTY, ONE_STACK, REGION, count_resources, no_backoff, on_every_client

from s3gw.cli import cli


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def throttled(protocol: str, url: str) -> AWSResponse:
    """What each service answers when it throttles, in its own protocol."""
    if protocol == "ec2":
        body = b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded." \
               b"</Message></Error></Errors><RequestID>r</RequestID></Response>"
        return AWSResponse(url, 503, {}, _Raw(body))
    if protocol == "query":  # IAM, STS
        body = b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>" \
               b"</Error><RequestId>r</RequestId></ErrorResponse>"
        return AWSResponse(url, 400, {}, _Raw(body))
    if protocol == "rest-xml":  # S3
        return AWSResponse(url, 503, {}, _Raw(b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate."
                                              b"</Message></Error>"))
    return AWSResponse(url, 429, {"x-amzn-errortype": "TooManyRequestsException"},  # Lambda
                       _Raw(json.dumps({"message": "Rate exceeded"}).encode()))


class Flaky:
    """Every 3rd call fails once (its retry goes through), cycling through throttling, 5xx and a reset."""

    KINDS = ("throttling", "5xx", "reset")

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self.failed_last: set[str] = set()

    def register(self, client: Any, service: str) -> None:
        protocol = client.meta.service_model.protocol
        # First, ahead of moto's own before-send handler: the request must fail before "AWS" sees it.
        client.meta.events.register_first("before-send", lambda request, event_name, **_: self.send(
            protocol, request, event_name))

    def send(self, protocol: str, request: Any, event_name: str) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        if operation in self.failed_last:  # the retry of a failed call goes through
            self.failed_last.discard(operation)
            return None
        self.calls[operation] += 1
        if sum(self.calls.values()) % 3:
            return None
        kind = self.KINDS[sum(self.injected.values()) % len(self.KINDS)]
        self.injected[kind] += 1
        self.failed_last.add(operation)
        if kind == "reset":
            raise ConnectionClosedError(endpoint_url=request.url)
        request.s3gw_fault = True  # moto's handler must not act on it (see the fixture)
        if kind == "5xx":
            return AWSResponse(request.url, 503, {}, _Raw(b""))
        return throttled(protocol, request.url)


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> Flaky:
    from moto.core.botocore_stubber import BotocoreStubber

    no_backoff(monkeypatch)
    # botocore calls every before-send handler and takes the first answer; moto's handler would still act
    # on a request we answered with an error. Here the error means "AWS did nothing", so moto skips it.
    acting = BotocoreStubber.__call__

    def unless_faulted(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        return None if getattr(request, "s3gw_fault", False) else acting(self, event_name, request, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", unless_faulted)
    injector = Flaky()
    on_every_client(monkeypatch, injector.register)
    return injector


def test_up_and_down_complete_through_throttling_5xx_and_resets(mocked: None, flaky: Flaky, tmp_path: Path) -> None:
    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, [*args, "--stack", "flaky", "--region", REGION, "--state-dir", str(tmp_path)])

    up = run("up")
    assert up.exit_code == 0, up.output
    assert count_resources() == ONE_STACK
    during_up = sum(flaky.injected.values())
    # Every 3rd request fails once: a new stack's `up` makes ~40 requests (63 before issue 13 cut the reads).
    assert during_up >= 12 and set(flaky.injected) == set(Flaky.KINDS), flaky.injected

    status = run("status")
    assert status.exit_code == 0, status.output
    down = run("down", "--yes")
    assert down.exit_code == 0, down.output
    assert count_resources() == EMPTY
    assert sum(flaky.injected.values()) > during_up  # down met faults too
