"""AWS acted, but its reply was lost (a connection reset after the request went through).

A re-sent create must not make a second resource: s3gw's creates that take no ClientToken look first
whether the lost try took effect (steps.base.create_once); the others must take "already done" answers.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError
from click.testing import CliRunner
from fault_helpers import EMPTY, ONE_STACK, READ_PREFIXES, REGION, count_resources, no_backoff, on_every_client

from s3gw.cli import cli


class LostReplies:
    """The first call of every mutating operation reaches moto, then its reply is lost."""

    def __init__(self) -> None:
        self.lost: Counter[str] = Counter()

    def register(self, client: Any, service: str) -> None:
        # Last, after moto's own before-send handler: by then "AWS" has acted on the request.
        client.meta.events.register_last("before-send", self.send)

    def send(self, request: Any, event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        if operation.startswith(READ_PREFIXES) or self.lost[operation]:
            return
        self.lost[operation] += 1
        raise ConnectionClosedError(endpoint_url=request.url)


@pytest.fixture
def lost_replies(monkeypatch: pytest.MonkeyPatch) -> LostReplies:
    no_backoff(monkeypatch)
    injector = LostReplies()
    on_every_client(monkeypatch, injector.register)
    return injector


def test_up_and_down_make_no_duplicate_when_replies_are_lost(mocked: None, lost_replies: LostReplies,
                                                              tmp_path: Path) -> None:
    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, [*args, "--stack", "lost", "--region", REGION, "--state-dir", str(tmp_path)])

    up = run("up")
    assert up.exit_code == 0, up.output
    assert count_resources() == ONE_STACK
    assert {"CreateVpc", "CreateSubnet", "CreateRouteTable", "CreateVpcEndpoint", "CreateSecurityGroup",
            "CreateBucket", "CreateRole", "CreateFunction", "AssociateRouteTable",
            "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupEgress"} <= set(lost_replies.lost)
    assert run("status").exit_code == 0
    down = run("down", "--yes")
    assert down.exit_code == 0, down.output
    assert count_resources() == EMPTY
    assert {"DeleteFunction", "DeleteBucket", "DeleteVpcEndpoints", "DeleteSecurityGroup", "DeleteVpc"} <= set(
        lost_replies.lost)
