"""What a real account does that the emulator did not: refused zones, IAM propagation shapes, functions that end
Failed or go Inactive, a bucket policy that lingers after its deletion, names AWS refuses. On the sandbox with
each behaviour switched on, or with injected answers; in-process to stay lean."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner, Result
from sandbox_fixtures import s3gw_on

from s3gw.cli import cli
from s3gw.errors import AwsError
from s3gw.sandbox import Behaviours, Sandbox
from s3gw.sandbox.behaviours import IAM_MESSAGES
from s3gw.steps.bucket import location_region
from s3gw.steps.function import is_iam_propagation

REGION = "eu-west-1"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


@pytest.fixture
def fresh(sandbox: Sandbox) -> Iterator[Sandbox]:
    yield sandbox
    sandbox.behaviours = Behaviours()  # each test switches on only what it tests


def s3gw(sandbox: Sandbox, state_dir: Path, stack: str, *args: str, region: str = REGION) -> Result:
    return s3gw_on(sandbox.endpoint_url, state_dir, stack, *args, region=region)


def recorded(state_dir: Path, stack: str) -> dict[str, Any]:
    return dict(json.loads((state_dir / f"{stack}.json").read_text())["resources"])


def subnet_zones(sandbox: Sandbox, subnet_ids: list[str], region: str = REGION) -> list[str]:
    import boto3

    ec2 = boto3.client("ec2", region_name=region, endpoint_url=sandbox.endpoint_url,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    return sorted(s["AvailabilityZone"] for s in ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"])


# --- zones ----------------------------------------------------------------------------------------


def test_a_zone_that_refuses_subnets_is_skipped_and_said(fresh: Sandbox, tmp_path: Path) -> None:
    fresh.behaviours = Behaviours(no_subnet_zones=("eu-west-1a",))
    result = s3gw(fresh, tmp_path, "za", "up", "--azs", "2")
    assert result.exit_code == 0, result.stderr
    assert "skipping eu-west-1a: EC2 refuses subnets there" in result.stderr
    assert subnet_zones(fresh, recorded(tmp_path, "za")["subnet_ids"]) == ["eu-west-1b", "eu-west-1c"]
    assert s3gw(fresh, tmp_path, "za", "up").exit_code == 0  # converged: no new subnet, no refusal met again
    assert s3gw(fresh, tmp_path, "za", "down", "--yes").exit_code == 0


def test_named_zones_are_used_and_a_refused_one_is_one_line(fresh: Sandbox, tmp_path: Path) -> None:
    fresh.behaviours = Behaviours(no_subnet_zones=("eu-west-1a",))
    result = s3gw(fresh, tmp_path, "zn", "up", "--zones", "a,c")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: EC2 refuses subnets in eu-west-1a")
    assert s3gw(fresh, tmp_path, "zn", "down", "--yes").exit_code == 0
    result = s3gw(fresh, tmp_path, "zn", "up", "--zones", "b,c")
    assert result.exit_code == 0, result.stderr
    assert subnet_zones(fresh, recorded(tmp_path, "zn")["subnet_ids"]) == ["eu-west-1b", "eu-west-1c"]
    assert s3gw(fresh, tmp_path, "zn", "down", "--yes").exit_code == 0


def test_a_zone_lambda_does_not_support_is_named_in_one_line(fresh: Sandbox, tmp_path: Path) -> None:
    fresh.behaviours = Behaviours(no_lambda_zones=("eu-west-1b",))
    result = s3gw(fresh, tmp_path, "zl", "up", "--azs", "2")
    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "Lambda does not support one of the subnets' zones (eu-west-1a, eu-west-1b)" in last
    assert "--zones" in last and "eu-west-1c" in last
    assert s3gw(fresh, tmp_path, "zl", "down", "--yes").exit_code == 0


def test_the_default_azs_is_what_the_region_has_when_fewer_than_3(fresh: Sandbox, tmp_path: Path) -> None:
    from s3gw.config import make_config
    from s3gw.steps.subnets import zone_names

    def ctx(zones: list[str], recorded: dict[str, Any], **given: Any) -> Any:
        config = make_config(stack="z", region="us-west-1", **given)
        return SimpleNamespace(zones=zones, config=config, state=SimpleNamespace(settings=recorded))

    two = ["us-west-1a", "us-west-1b"]
    assert zone_names(ctx(two, {})) == two  # not 3: us-west-1 offers two
    assert zone_names(ctx([*two, "us-west-1c", "us-west-1d"], {})) == [*two, "us-west-1c"]
    with pytest.raises(Exception, match="more than the 2"):
        zone_names(ctx(two, {}, azs=3))  # asked for, not defaulted
    with pytest.raises(Exception, match="more than the 2"):
        zone_names(ctx(two, {"azs": 3}))  # recorded by an earlier up
    assert s3gw(fresh, tmp_path, "zw", "plan", region="us-west-1").exit_code == 0
    refused = s3gw(fresh, tmp_path, "zw", "plan", "--azs", "3", region="us-west-1")
    assert refused.exit_code == 2 and "more than the 2 availability zones" in refused.stderr


@pytest.mark.parametrize(("zones", "problem"), [("a,a", "distinct"), ("x1", "name zones of"),
                                                 ("us-east-1a", "name zones of")])
def test_bad_zones_are_refused_before_any_call(tmp_path: Path, zones: str, problem: str) -> None:
    result = CliRunner().invoke(cli, ["plan", "--zones", zones, "--region", REGION, "--state-dir", str(tmp_path)])
    assert result.exit_code == 2 and problem in result.stderr


# --- IAM propagation ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", sorted(IAM_MESSAGES))
def test_every_propagation_shape_terraform_retries_is_retried(shape: str) -> None:
    error = ClientError({"Error": {"Code": "InvalidParameterValueException", "Message": IAM_MESSAGES[shape]}},
                        "CreateFunction")
    assert is_iam_propagation(error)
    assert is_iam_propagation(ClientError({"Error": {"Code": "ResourceConflictException", "Message": "x"}}, "x"))
    assert not is_iam_propagation(ClientError({"Error": {"Code": "InvalidParameterValueException",
                                                         "Message": "Runtime is not supported"}}, "CreateFunction"))


def test_up_waits_out_lambda_refusing_the_role_as_an_ec2_permission(fresh: Sandbox, tmp_path: Path) -> None:
    fresh.behaviours = Behaviours(iam_propagation=5.0, iam_message="ec2")
    result = s3gw(fresh, tmp_path, "ip", "up", "--azs", "1")
    assert result.exit_code == 0, result.stderr
    assert "waiting: the new IAM role to reach Lambda (InvalidParameterValueException)" in result.stderr
    assert s3gw(fresh, tmp_path, "ip", "down", "--yes").exit_code == 0


# --- Lambda states --------------------------------------------------------------------------------


def test_a_failed_function_is_replaced_by_the_next_up(fresh: Sandbox, tmp_path: Path) -> None:
    fresh.behaviours = Behaviours(pending=0.5, fail_pending=True)
    failed = s3gw(fresh, tmp_path, "lf", "up", "--azs", "1")
    assert failed.exit_code == 1
    assert "failed: Lambda was not able to create an ENI" in failed.stderr.strip().splitlines()[-1]
    fresh.behaviours = Behaviours(pending=0.5)
    again = s3gw(fresh, tmp_path, "lf", "up")
    assert again.exit_code == 0, again.stderr
    assert "the function is Failed" in again.stderr and "made again" in again.stderr
    invoked = s3gw(fresh, tmp_path, "lf", "test-invoke")
    assert invoked.exit_code == 0, invoked.stdout
    assert s3gw(fresh, tmp_path, "lf", "down", "--yes").exit_code == 0


def test_a_rerun_of_up_waits_for_a_pending_function(fresh: Sandbox, tmp_path: Path) -> None:
    """Before, a re-run after a timeout said "unchanged" while the function was still Pending."""
    from s3gw import commands
    from s3gw.config import make_config
    from s3gw.run import open_context

    fresh.behaviours = Behaviours(pending=600.0)  # Pending for the whole test: no timing window to miss
    config = make_config(stack="lp", region=REGION, endpoint_url=fresh.endpoint_url, state_dir=tmp_path, azs=1)
    for run in ("first", "rerun"):
        said: list[str] = []
        ctx = open_context(config, said.append, persist=True)
        ctx.active_wait, ctx.sleep = 0.2, lambda _: None
        with pytest.raises(AwsError, match="lp-lister still Pending"):
            commands.up.up(config, said.append, ctx=ctx)
        assert any(line.startswith("waiting: function lp-lister is Pending") for line in said), (run, said)
    # `down` does not wait out the creation to detach the function from the VPC (Lambda refuses that update
    # while Pending): it deletes the function as it is. With a 0.2 s bound, a wait would leave it behind.
    said = []
    ctx = open_context(config, said.append, persist=True)
    ctx.active_wait, ctx.sleep = 0.2, lambda _: None
    report = commands.down.down(config, said.append, ctx=ctx)
    assert report.complete, (report.left, report.problems)
    assert "lp-lister is still being created (Pending): deleting it as it is" in said


class _FakeLambda:
    """Lambda as an Inactive function answers: ResourceNotReadyException once, then Active."""

    def __init__(self, states: list[str]) -> None:
        self.states = states
        self.invoked = 0

    def invoke(self, **_: Any) -> dict[str, Any]:
        self.invoked += 1
        if self.invoked == 1:
            raise ClientError({"Error": {"Code": "ResourceNotReadyException",
                                         "Message": "The function is inactive and is being restored"}}, "Invoke")
        return {"Payload": io.BytesIO(b'{"objects": []}')}

    def get_function_configuration(self, **_: Any) -> dict[str, Any]:
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"State": state, "StateReason": "ENI limit reached" if state == "Failed" else ""}


class _FakeS3:
    def list_objects_v2(self, **_: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "ListObjectsV2")


def _fake_ctx(states: list[str]) -> Any:
    from s3gw.config import make_config

    # A real config: a fake one misses each setting added later (it broke on --ip-address-type's `dualstack`).
    return SimpleNamespace(
        outputs={"function_name": "f", "bucket": "b"}, config=make_config(stack="s", region=REGION), active_wait=5.0,
        aws=SimpleNamespace(lambda_=_FakeLambda(states), s3=_FakeS3()), progress=lambda _: None,
        sleep=lambda _: None, progress_every=30.0, live=None, wait_deadline=None)


def test_test_invoke_wakes_an_inactive_function() -> None:
    from s3gw.invoke import test_invoke

    ctx = _fake_ctx(["Pending", "Active"])
    report = test_invoke(ctx)
    assert report.ok and ctx.aws.lambda_.invoked == 2


def test_test_invoke_says_why_a_function_will_not_wake() -> None:
    from s3gw.invoke import test_invoke

    with pytest.raises(AwsError, match="function f is Failed: ENI limit reached"):
        test_invoke(_fake_ctx(["Failed"]))


# --- S3 eventual consistency, names AWS refuses ---------------------------------------------------


def test_down_waits_out_a_bucket_policy_that_lingers_after_its_deletion(fresh: Sandbox, tmp_path: Path) -> None:
    assert s3gw(fresh, tmp_path, "pl", "up", "--azs", "1").exit_code == 0
    assert s3gw(fresh, tmp_path, "pl", "test-invoke", "--put", "kept.txt").exit_code == 0
    fresh.behaviours = Behaviours(policy_linger=4.0)
    result = s3gw(fresh, tmp_path, "pl", "down", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "waiting: the deleted bucket policy to stop applying (AccessDenied)" in result.stderr


def test_a_stack_named_sg_gets_a_group_name_ec2_accepts() -> None:
    from s3gw.config import make_config

    for stack in ("sg", "sg-a", "sgx"):
        assert not make_config(stack=stack, region=REGION).security_group_name.startswith("sg-")
    assert make_config(stack="s3gw", region=REGION).security_group_name == "s3gw-lambda-https-out"


def test_legacy_bucket_locations_are_read_as_regions() -> None:
    assert location_region({"LocationConstraint": "EU"}) == "eu-west-1"
    assert location_region({"LocationConstraint": None}) == "us-east-1"
    assert location_region({}) == "us-east-1"
    assert location_region({"LocationConstraint": "ap-south-1"}) == "ap-south-1"


def test_the_sandbox_behaviours_come_from_the_environment() -> None:
    behaviours = Behaviours.from_env({
        "S3GW_SANDBOX_ENFORCE_IAM": "1", "S3GW_SANDBOX_IAM_MESSAGE": "throttle",
        "S3GW_SANDBOX_NO_SUBNET_ZONES": "us-east-1e", "S3GW_SANDBOX_NO_LAMBDA_ZONES": "us-east-1a, us-east-1b",
        "S3GW_SANDBOX_FAIL_PENDING": "yes", "S3GW_SANDBOX_POLICY_LINGER": "2"})
    assert behaviours == Behaviours(enforce_iam=True, iam_message="throttle", no_subnet_zones=("us-east-1e",),
                                    no_lambda_zones=("us-east-1a", "us-east-1b"), fail_pending=True,
                                    policy_linger=2.0)
    with pytest.raises(ValueError, match="iam_message"):
        Behaviours(iam_message="nope")
