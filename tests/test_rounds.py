"""How many rounds of requests each command waits for (issue 13), and that it reads nothing it already knows.

A request is in round k+1 when it starts after a request of round k has ended: the longest chain of requests one
after another. The sandbox adds LATENCY to every request, so the requests of one round start long before any of
them ends; the rounds are told apart by the order of starts and ends, and no time is asserted.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import REGION

from s3gw import commands
from s3gw.aws import Aws
from s3gw.config import make_config
from s3gw.sandbox import Behaviours, Sandbox

LATENCY = 0.5  # s a request: a thread late by less than this cannot pass for a later round


@dataclass(frozen=True)
class Request:
    name: str
    start: float
    end: float


class Timeline:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._started: dict[int, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def before(self, model: Any, **_: Any) -> None:
        self._started[threading.get_ident()] = (model.name, time.monotonic())

    def after(self, model: Any, **_: Any) -> None:
        name, start = self._started.pop(threading.get_ident())
        with self._lock:
            self.requests.append(Request(name, start, time.monotonic()))

    def rounds(self) -> int:
        depth: dict[Request, int] = {}
        for request in sorted(self.requests, key=lambda r: r.start):
            depth[request] = 1 + max((depth[q] for q in depth if q.end <= request.start), default=0)
        return max(depth.values(), default=0)

    def count(self) -> Counter[str]:
        return Counter(request.name for request in self.requests)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0, behaviours=Behaviours()) as running:
        yield running


@pytest.fixture
def timeline(monkeypatch: pytest.MonkeyPatch) -> Timeline:
    recorded = Timeline()
    original = Aws.client

    def client(self: Aws, service: str, **options: Any) -> Any:
        made = original(self, service, **options)
        made.meta.events.register("before-call", recorded.before)
        made.meta.events.register("after-call", recorded.after)
        made.meta.events.register("after-call-error", recorded.after)
        return made

    monkeypatch.setattr(Aws, "client", client)
    return recorded


def measured(sandbox: Sandbox, timeline: Timeline, command: Any, latency: float = LATENCY) -> Timeline:
    timeline.requests.clear()
    sandbox.behaviours = Behaviours(latency=latency)
    try:
        command()
    finally:
        sandbox.behaviours = Behaviours()
    return timeline


def config(sandbox: Sandbox, state_dir: Path, stack: str, **settings: Any) -> Any:
    return make_config(stack=stack, region=REGION, endpoint_url=sandbox.endpoint_url, state_dir=state_dir, **settings)


def quiet(message: str) -> None:
    pass


def test_one_request_at_a_time_is_a_round_each(sandbox: Sandbox, timeline: Timeline, tmp_path: Path) -> None:
    """The measure itself: with --max-concurrency 1 every request waits for the one before it."""
    serial = config(sandbox, tmp_path, "serial", max_concurrency=1)
    measured(sandbox, timeline, lambda: commands.inspect.plan(serial, quiet), latency=0.05)
    assert len(timeline.requests) > 5
    assert timeline.rounds() == len(timeline.requests)


def test_a_new_stack_takes_seven_rounds_and_reads_nothing_it_knows(sandbox: Sandbox, timeline: Timeline,
                                                                    tmp_path: Path) -> None:
    stack = config(sandbox, tmp_path, "rounds")
    try:
        measured(sandbox, timeline, lambda: commands.up.up(stack, quiet))
        # 1 the account and the region; 2 the finds; 3 CreateVpc, CreateBucket, CreateRole; 4 subnets, group,
        # the role's policies; 5 route tables, the group's rules read, GetFunction; 6 the endpoint with the
        # associations, CreateFunction; 7 the bucket's settings and seal, the function Active.
        assert timeline.rounds() <= 7, sorted(timeline.requests, key=lambda r: r.start)
        counted = timeline.count()
        assert sum(counted.values()) <= 40, counted  # the bound for a new stack
        # A VPC made by this run holds no endpoint or group to look up; a VPC made now is not described again.
        assert counted["DescribeVpcEndpoints"] == 0 and counted["DescribeVpcAttribute"] == 0, counted
        assert counted["DescribeSecurityGroups"] == 1, counted  # the new group's default rules, read once
        for region_read in ("DescribeAvailabilityZones", "DescribeManagedPrefixLists", "DescribeVpcEndpointServices"):
            assert counted[region_read] == 1, counted

        for command in (lambda: commands.up.up(stack, quiet), lambda: commands.inspect.status(stack, quiet),
                        lambda: commands.inspect.plan(stack, quiet)):
            measured(sandbox, timeline, command)
            # The account and the region's reads, then everything the state records, at once.
            assert timeline.rounds() == 2, sorted(timeline.requests, key=lambda r: r.start)
            assert sum(timeline.count().values()) <= 20 and max(timeline.count().values()) <= 2, timeline.count()
    finally:
        commands.down.down(stack, quiet)
