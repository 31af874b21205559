"""Bad input, round 3 (issue 26: 17-20, 22): each refused with one line and exit 2 before any AWS call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import REGION

from s3gw.cli import cli
from s3gw.sandbox.behaviours import Behaviours


@pytest.mark.parametrize(("name", "value", "says"), [
    ("S3GW_SANDBOX_PENDING", "soon", "S3GW_SANDBOX_PENDING must be a number of seconds"),  # today: ValueError
    ("S3GW_SANDBOX_IAM_MESSAGE", "bogus", "S3GW_SANDBOX_IAM_MESSAGE must be one of"),  # today: ValueError
])
def test_the_sandbox_with_a_bad_setting_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch, name: str,
                                                                        value: str, says: str) -> None:
    monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["sandbox", "--port", "0"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in result.output, result.output


@pytest.mark.parametrize(("name", "value", "says"), [
    ("S3GW_SANDBOX_LATENCY_MS", "nan", "must be a finite number"),  # today: accepted, then every answer is a 500
    ("S3GW_SANDBOX_ENI_LINGER", "inf", "must be a finite number"),
    ("S3GW_SANDBOX_S3_CONFLICTS", "two", "must be a whole number"),
])
def test_sandbox_settings_without_a_bound_are_refused(name: str, value: str, says: str) -> None:
    with pytest.raises(ValueError, match=f"{name} {says}"):
        Behaviours.from_env({name: value})


def test_a_sandbox_made_in_code_refuses_nan_too() -> None:
    with pytest.raises(ValueError, match="latency must be a finite number"):
        Behaviours(latency=float("nan"))


def test_the_sandbox_reads_its_409_switch() -> None:
    assert Behaviours.from_env({"S3GW_SANDBOX_S3_CONFLICTS": "3"}).s3_conflicts == 3


STATE = {"schema": 1, "stack": "t", "region": REGION, "account": "123456789012"}
ROLE = "arn:aws:iam::123456789012:role/ci"

# (id, arguments, environment, the state's resources and settings (None: no state file), what the one line says)
TABLE: list[tuple[str, list[str], dict[str, str], dict[str, Any] | None, str]] = [
    # 19: accepted, then refused late
    ("stack whose default bucket starts xn--", ["plan", "--stack", "xn--abc"], {}, None, "whose prefix S3 reserves"),
    ("stack whose default bucket starts sthree-", ["up", "--stack", "sthree-x"], {}, None, "whose prefix S3 reserves"),
    ("stack whose default bucket starts amzn-s3-demo-", ["up", "--stack", "amzn-s3-demo-x"], {}, None,
     "whose prefix S3 reserves"),
    ("bucket ending .mrap", ["up", "--bucket", "data.mrap"], {}, None, "invalid bucket name"),
    ("zones with a line break", ["up", "--zones", f"{REGION}a\n"], {}, None, "invalid --zones"),
    ("cidr prefix written /016", ["up", "--vpc-cidr", "10.0.0.0/016"], {}, None, "write it as 10.0.0.0/16"),
    ("cidr 240/16", ["up", "--vpc-cidr", "240.0.0.0/16"], {}, None, "240.0.0.0/4, reserved"),
    ("cidr 255.255/16", ["up", "--vpc-cidr", "255.255.0.0/16"], {}, None, "240.0.0.0/4, reserved"),
    ("call timeout nan", ["plan"], {"S3GW_CALL_TIMEOUT": "nan"}, None, "S3GW_CALL_TIMEOUT must be a finite"),
    ("max attempts abc", ["plan"], {"AWS_MAX_ATTEMPTS": "abc"}, None, "AWS_MAX_ATTEMPTS must be a whole number"),
    ("retry mode bogus", ["plan"], {"AWS_RETRY_MODE": "bogus"}, None, "AWS_RETRY_MODE must be one of"),
    ("down --wait -0", ["down", "--yes", "--wait", "-0"], {}, {"resources": {"vpc_id": "vpc-1"}}, "invalid --wait"),
    ("account in full-width digits", ["permissions", "--account", "１２３４５６７８９０１２"], {}, None,
     "invalid account id"),
    ("verify a function name with a shell command", ["verify", "--function", "x;rm -rf /", "--bucket", "okbucket"],
     {}, None, "invalid --function"),
    ("verify a bucket name S3 refuses", ["verify", "--function", "f", "--bucket", "Bad..B"], {}, None,
     "invalid bucket name"),
    ("64-character region", ["plan", "--region", "us-" + "a" * 59 + "-1", "--endpoint-url", "http://127.0.0.1:9"],
     {}, None, "invalid region"),
    # 20: a wildcard exemption, a principal of another partition
    ("principal with a wildcard", ["up", "--allow-principal", "arn:aws:iam::123456789012:role/*"], {}, None,
     "has a wildcard"),
    ("principal with ?", ["plan", "--allow-principal", "arn:aws:iam::123456789012:user/ci?"], {}, None,
     "has a wildcard"),
    ("principal of another partition", ["up", "--allow-principal", "arn:aws-cn:iam::123456789012:role/x"], {}, None,
     "is of partition aws-cn"),
    ("settings.allow_principals with a wildcard", ["up"], {},
     {"settings": {"allow_principals": ["arn:aws:iam::123456789012:role/*"]}}, "settings.allow_principals"),
    ("settings.allow_principals of another partition", ["status"], {},
     {"resources": {"vpc_id": "vpc-1"}, "settings": {"allow_principals": ["arn:aws-us-gov:iam::123456789012:root"]}},
     "settings.allow_principals"),
    # 18: hand-edited settings
    ("settings.zones a number", ["status"], {}, {"resources": {"vpc_id": "vpc-1"}, "settings": {"zones": 3}},
     "settings.zones"),
    ("settings.zones a list", ["up"], {}, {"settings": {"zones": [f"{REGION}a"]}}, "settings.zones"),
    ("settings.subnet_ids a string", ["up"], {},
     {"settings": {"vpc_id": "vpc-0123456789abcdef0", "subnet_ids": "subnet-0123abcd"}}, "settings.subnet_ids"),
    ("settings.bucket not the stack's bucket", ["up"], {},
     {"resources": {"bucket": "old-bucket"}, "settings": {"bucket": "new-bucket"}}, "is not the stack's bucket"),
    # 17: ids of the wrong kind
    ("vpc_id a subnet's id", ["up"], {}, {"resources": {"vpc_id": "subnet-0123abcd"}}, "resources.vpc_id"),
    ("security_group_id the VPC's id", ["down", "--yes"], {}, {"resources": {"security_group_id": "vpc-1"}},
     "resources.security_group_id"),
    ("endpoint_id a route table's id", ["status"], {}, {"resources": {"endpoint_id": "rtb-1"}},
     "resources.endpoint_id"),
    ("function_name the role's name", ["down", "--yes"], {},
     {"resources": {"role_name": "t-lambda-role", "function_name": "t-lambda-role"}}, "the role's name"),
    ("role_arn of another role", ["status"], {},
     {"resources": {"role_name": "t-lambda-role", "role_arn": ROLE}}, "resources.role_arn"),
    ("bucket not a bucket name", ["status"], {}, {"resources": {"bucket": "Bad..B"}}, "resources.bucket"),
]


@pytest.fixture(scope="module")
def one_moto() -> Iterator[None]:
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.mark.parametrize(("args", "env", "state", "says"), [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_refused_in_one_line_before_any_call(one_moto: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             call_log: Any, args: list[str], env: dict[str, str],
                                             state: dict[str, Any] | None, says: str) -> None:
    state_dir = tmp_path / "state"
    if state is not None:
        state_dir.mkdir()
        (state_dir / "t.json").write_text(json.dumps({**STATE, "resources": {}, **state}))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    defaults = ["--state-dir", str(state_dir)] + ([] if "--stack" in args else ["--stack", "t"])
    defaults += [] if "--region" in args else ["--region", REGION]
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    result = CliRunner().invoke(cli, [*args, *defaults])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert call_log.calls == []  # before any AWS call
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_valid_retry_settings_from_the_environment_are_honoured_not_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    from s3gw.aws import RETRY_CONFIG, retry_config

    assert retry_config() == RETRY_CONFIG
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    assert retry_config() == {"mode": "adaptive", "total_max_attempts": 3}  # today: 8 tries, standard, whatever is set


def test_status_reports_drift_when_the_recorded_vpc_cidr_is_not_the_vpcs(mocked: None, tmp_path: Path) -> None:
    """settings.vpc_cidr hand-edited: status exits 3 naming both blocks (today: 0); up refuses in one line."""
    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, [*args, "--stack", "t", "--region", REGION, "--azs", "1",
                                        "--state-dir", str(tmp_path)] if args[0] == "up" else
                                  [*args, "--stack", "t", "--region", REGION, "--state-dir", str(tmp_path)])

    assert run("up").exit_code == 0
    path = tmp_path / "t.json"
    state = json.loads(path.read_text())
    state["settings"]["vpc_cidr"] = "10.9.0.0/16"
    path.write_text(json.dumps(state))
    status = run("status")
    assert status.exit_code == 3, status.output
    assert "its block is 10.0.0.0/16, not the recorded 10.9.0.0/16" in status.stdout
    again = CliRunner().invoke(cli, ["up", "--stack", "t", "--region", REGION, "--state-dir", str(tmp_path)])
    assert again.exit_code == 2 and "a VPC's primary block cannot change" in again.stderr, again.output
