"""AWS saying "not yet": IAM propagation on CreateFunction, and `*.NotFound` right after a create.

The answers are injected from a `before-call` hook (they are not throttling: botocore must not retry them,
s3gw must). Context.sleep is replaced, so the waits cost no time.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fault_helpers import ONE_STACK, REGION, client_error, count_resources, on_every_client

from s3gw import commands
from s3gw.cli import cli
from s3gw.config import make_config
from s3gw.run import open_context

ASSUME = "The role defined for the function cannot be assumed by Lambda."
ENI = ("The provided execution role does not have permissions to call CreateNetworkInterface on EC2")


class Refuse:
    """Answer the first `times` calls of each listed operation with an error (times=None: forever)."""

    def __init__(self, answers: dict[str, tuple[str, str]], times: int | None) -> None:
        self.answers, self.times = answers, times
        self.refused: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    def __call__(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1
        if model.name in self.answers and (self.times is None or self.refused[model.name] < self.times):
            self.refused[model.name] += 1
            code, message = self.answers[model.name]
            raise client_error(code, message, model.name)


def refuse(monkeypatch: pytest.MonkeyPatch, answers: dict[str, tuple[str, str]], times: int | None) -> Refuse:
    hook = Refuse(answers, times)
    on_every_client(monkeypatch, lambda client, service: client.meta.events.register("before-call", hook))
    return hook


def run_up(tmp_path: Path, stack: str) -> tuple[list[str], list[float]]:
    """`up` with a recording progress and a sleep that only records."""
    said: list[str] = []
    slept: list[float] = []
    config = make_config(stack=stack, region=REGION, state_dir=tmp_path)
    ctx = open_context(config, said.append, persist=True)
    ctx.sleep = slept.append
    commands.up.up(config, said.append, ctx=ctx)
    return said, slept


def test_create_function_waits_for_the_new_role_to_reach_lambda(mocked: None, monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    hook = refuse(monkeypatch, {"CreateFunction": ("InvalidParameterValueException", ASSUME)}, times=3)
    said, slept = run_up(tmp_path, "iam")
    assert hook.calls["CreateFunction"] == 4  # three refusals, then created
    assert any(line.startswith("waiting: the new IAM role to reach Lambda (InvalidParameterValueException)")
               for line in said), said
    assert len(slept) == 3 and all(0 < s <= 10 for s in slept)  # bounded backoff between tries
    assert count_resources() == ONE_STACK


def test_the_eni_permission_message_is_waited_out_too(mocked: None, monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    hook = refuse(monkeypatch, {"CreateFunction": ("InvalidParameterValueException", ENI)}, times=2)
    run_up(tmp_path, "iameni")
    assert hook.calls["CreateFunction"] == 3 and count_resources()["functions"] == 1


def test_a_role_that_never_reaches_lambda_is_a_clean_timeout(mocked: None, monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    import time

    opened = open_context

    def short(*args: Any, **kwargs: Any) -> Any:
        ctx = opened(*args, **kwargs)
        ctx.iam_propagation_wait = 1.0
        ctx.sleep = lambda seconds: time.sleep(min(seconds, 0.05))  # a short real wait: the bound is real time
        return ctx

    monkeypatch.setattr("s3gw.run.open_context", short)
    hook = refuse(monkeypatch, {"CreateFunction": ("InvalidParameterValueException", ASSUME)}, times=None)
    args = ["--stack", "never", "--region", REGION, "--state-dir", str(tmp_path)]
    result = CliRunner().invoke(cli, ["up", *args])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "still the new IAM role to reach Lambda after 1s" in errors[0], result.stderr
    assert "Traceback" not in result.output
    assert hook.refused["CreateFunction"] >= 2
    recorded = commands.inspect.recorded_outputs(make_config(stack="never", region=REGION, state_dir=tmp_path))
    assert {"vpc_id", "subnet_ids", "endpoint_id", "bucket", "security_group_id", "role_name"} <= set(recorded)
    assert "function_name" not in recorded

    hook.times = 0  # the role has reached Lambda now
    assert CliRunner().invoke(cli, ["up", *args]).exit_code == 0
    assert count_resources() == ONE_STACK


# What real AWS answers, right after a create, to a call that uses the new resource.
# (A new VPC's DNS attributes are no longer read back: CreateVpc's defaults are known, steps/vpc.py.)
NOT_YET = {
    "ModifyVpcAttribute": ("InvalidVpcID.NotFound", "The vpc ID 'vpc-1' does not exist"),
    "CreateSubnet": ("InvalidVpcID.NotFound", "The vpc ID 'vpc-1' does not exist"),
    "CreateRouteTable": ("InvalidVpcID.NotFound", "The vpc ID 'vpc-1' does not exist"),
    "AssociateRouteTable": ("InvalidRouteTableID.NotFound", "The routeTable ID 'rtb-1' does not exist"),
    "CreateVpcEndpoint": ("InvalidRouteTableId.NotFound", "The routeTable ID 'rtb-1' does not exist"),
    "PutPublicAccessBlock": ("NoSuchBucket", "The specified bucket does not exist"),
    "AuthorizeSecurityGroupEgress": ("InvalidGroup.NotFound", "The security group 'sg-1' does not exist"),
    "AttachRolePolicy": ("NoSuchEntity", "The role with name t-lambda-role cannot be found."),
    "PutRolePolicy": ("NoSuchEntity", "The role with name t-lambda-role cannot be found."),
    "GetFunctionConfiguration": ("ResourceNotFoundException", "Function not found"),
}


@pytest.mark.parametrize("times", [1, 3])
def test_not_found_right_after_a_create_is_retried(mocked: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   times: int) -> None:
    hook = refuse(monkeypatch, NOT_YET, times=times)
    said, slept = run_up(tmp_path, f"ec{times}")
    assert {name: hook.refused[name] for name in NOT_YET} == dict.fromkeys(NOT_YET, times)
    assert count_resources() == ONE_STACK
    waits = [line for line in said if line.startswith("waiting:")]
    # One line per waiting call: the subnets, and the route tables, are made at once, so the `times` refusals of
    # CreateSubnet (CreateRouteTable, AssociateRouteTable) may fall on one of them or on several, each saying so.
    most = len(NOT_YET) + 3 * (times - 1)
    assert len(NOT_YET) <= len(waits) <= most and all("NotFound" in w or "NoSuch" in w or "ResourceNotFound" in w
                                                      for w in waits), waits
    assert len(slept) == times * len(NOT_YET)


def test_another_not_found_code_on_association_is_retried(mocked: None, monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    hook = refuse(monkeypatch, {"AssociateRouteTable": ("InvalidSubnetID.NotFound", "no subnet")}, times=2)
    run_up(tmp_path, "ecsub")
    assert hook.refused["AssociateRouteTable"] == 2 and count_resources() == ONE_STACK


def test_a_not_found_that_never_clears_is_a_bounded_error(mocked: None, monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    import s3gw.steps.base as base
    from s3gw.errors import WaitTimeout

    monkeypatch.setattr(base, "VISIBLE_WAIT", 0.0)
    refuse(monkeypatch, {"CreateSubnet": NOT_YET["CreateSubnet"]}, times=None)
    with pytest.raises(WaitTimeout, match="creating the subnet in eu-west-1a: still what .* uses to be visible"):
        run_up(tmp_path, "ecnever")


def test_a_table_made_while_a_lost_try_looks_is_not_made_twice(mocked: None, monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    """The tables are made at once. One CreateRouteTable answers 'not yet'; its retry first looks whether it made
    the table. That look must not replace the run's view of the tables: finished after the others were made and
    written into the view, it would drop them, and `up` would make them a second time (seen in CI: 5 tables)."""
    import threading
    import time

    hook = refuse(monkeypatch, {"CreateRouteTable": NOT_YET["CreateRouteTable"]}, times=1)
    refused_in: list[int] = []
    made = threading.Semaphore(0)
    held: list[bool] = []

    def before(model: Any, **_: Any) -> None:
        if model.name == "CreateRouteTable" and not refused_in and hook.refused["CreateRouteTable"] == 0:
            refused_in.append(threading.get_ident())

    def after(model: Any, **_: Any) -> None:
        if model.name == "CreateRouteTable":
            made.release()
        elif (model.name == "DescribeRouteTables" and refused_in == [threading.get_ident()] and not held):
            held.append(True)  # the lost try's look, read before the other two tables exist, answers after them
            for _ in range(2):
                assert made.acquire(timeout=20)
            time.sleep(0.3)  # their threads write them into the view

    def register(client: Any, service: str) -> None:
        client.meta.events.register_first("before-call", before)
        client.meta.events.register("after-call", after)

    on_every_client(monkeypatch, register)
    run_up(tmp_path, "ectwice")
    assert hook.refused["CreateRouteTable"] == 1 and held == [True]
    assert count_resources() == ONE_STACK
