"""Crash anywhere: `up` killed at every mutating call it makes on a fresh stack, before the call is sent
and after AWS acted but before s3gw saw the answer. The next `up` must finish the stack with no duplicate,
`status` must be clean, `down` must leave nothing, and the state file is never corrupt.

One moto account serves the whole module (a fresh mock_aws per case costs ~3 s more); each case uses its
own stack name and must leave the account empty again, which the next case checks before it starts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fault_helpers import (
    EMPTY,
    ONE_STACK,
    REGION,
    Crash,
    Injector,
    count_resources,
    on_every_client,
    share_botocore_loader,
)

from s3gw import commands
from s3gw.cli import cli
from s3gw.config import make_config
from s3gw.state import SCHEMA_VERSION

# Every mutating call of `up` on a fresh stack, in order with --max-concurrency 1 (3 AZs, default options). Steps
# run at once otherwise, so a case names its call and which of the calls so named (the order of each kind of call
# is the same in both modes: one step makes it, one call after another).
UP_MUTATIONS = [
    "CreateVpc", "ModifyVpcAttribute",
    "CreateSubnet", "CreateSubnet", "CreateSubnet",
    "CreateRouteTable", "CreateRouteTable", "CreateRouteTable",
    "AssociateRouteTable", "AssociateRouteTable", "AssociateRouteTable",
    "CreateVpcEndpoint",
    "CreateBucket", "PutPublicAccessBlock", "PutBucketEncryption", "PutBucketPolicy",
    "CreateSecurityGroup", "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupEgress",
    "CreateRole", "AttachRolePolicy", "PutRolePolicy",
    "CreateFunction",
]


@pytest.fixture(scope="module")
def account() -> Iterator[Any]:
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as patch:
        share_botocore_loader(patch)
        mock = mock_aws()
        mock.start()
        try:
            yield mock
        finally:
            mock.stop()


@pytest.fixture
def injector(account: Any, monkeypatch: pytest.MonkeyPatch) -> Injector:
    if count_resources() != EMPTY:  # an earlier case failed and left things behind: start clean
        account.reset()
    injector = Injector()

    def register(client: Any, service: str) -> None:
        client.meta.events.register("before-call", injector.before)
        client.meta.events.register("after-call", injector.after)

    on_every_client(monkeypatch, register)
    return injector


def cli_run(stack: str, state_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--stack", stack, "--region", REGION, "--state-dir", str(state_dir)])


def assert_state_file_whole(state_dir: Path, stack: str) -> None:
    path = state_dir / f"{stack}.json"
    if path.exists():
        data = json.loads(path.read_text())  # never half-written
        assert data["schema"] == SCHEMA_VERSION and data["stack"] == stack and isinstance(data["resources"], dict)
    assert [p.name for p in state_dir.glob(f".{stack}.json.*")] == [], "a temp file was left beside the state"


def test_the_list_of_mutating_calls_is_what_up_makes(injector: Injector, tmp_path: Path) -> None:
    """The crash cases below are indexed by this list: if `up` changes, update UP_MUTATIONS."""
    for stack, concurrency, same in (("enum1", 1, lambda calls: calls), ("enum8", 8, sorted)):
        injector.arm(at=10_000, when="before")
        commands.up.up(make_config(stack=stack, region=REGION, state_dir=tmp_path, max_concurrency=concurrency),
                  lambda message: None)
        assert same(injector.mutating) == same(UP_MUTATIONS), concurrency
        injector.armed = False
        assert cli_run(stack, tmp_path, "down", "--yes").exit_code == 0
        assert count_resources() == EMPTY


CASES = [(when, index) for when in ("before", "after") for index in range(len(UP_MUTATIONS))]


@pytest.mark.parametrize(("when", "index"), CASES, ids=[f"{w}-{i:02d}-{UP_MUTATIONS[i]}" for w, i in CASES])
def test_up_killed_at_a_mutating_call_resumes_without_duplicates(injector: Injector, tmp_path: Path, when: str,
                                                                  index: int) -> None:
    stack = f"c{when[0]}{index}"
    config = make_config(stack=stack, region=REGION, state_dir=tmp_path)
    name = UP_MUTATIONS[index]
    injector.arm(at_name=name, occurrence=UP_MUTATIONS[:index].count(name), when=when)
    with pytest.raises(Crash):
        commands.up.up(config, lambda message: None)
    assert injector.crashed_at == UP_MUTATIONS[index]
    assert_state_file_whole(tmp_path, stack)
    assert not (tmp_path / f"{stack}.lock").exists()

    again = cli_run(stack, tmp_path, "up", "--output", "json")
    assert again.exit_code == 0, again.output
    assert count_resources() == ONE_STACK  # nothing made twice, nothing missing
    assert_state_file_whole(tmp_path, stack)

    status = cli_run(stack, tmp_path, "status", "--output", "json")
    assert status.exit_code == 0, status.output
    assert {s["action"] for s in json.loads(status.stdout)["steps"]} == {"ok"}

    down = cli_run(stack, tmp_path, "down", "--yes")
    assert down.exit_code == 0, down.output
    assert count_resources() == EMPTY
    assert not (tmp_path / f"{stack}.json").exists()
