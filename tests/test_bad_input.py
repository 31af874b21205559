"""Bad input: one clear line on stderr, the right exit code, no traceback, nothing changed in AWS or on disk."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner
from conftest import REGION

from s3gw.cli import cli

STATE = {"schema": 1, "stack": "t", "region": REGION, "account": "123456789012", "resources": {"vpc_id": "vpc-1"}}

OPTIONS = [
    (["up", "--stack", "Bad_Name"], "invalid stack name"),
    (["up", "--stack", "-lead"], "invalid stack name"),
    (["up", "--stack", "x" * 40], "invalid stack name"),
    (["up", "--region", "mars-1"], "invalid region"),
    (["up", "--region", "eu-fake-9"], "unknown region"),
    (["up", "--vpc-cidr", "10.0.0.0/33"], "invalid VPC CIDR"),
    (["up", "--vpc-cidr", "10.0.0.1/16"], "invalid VPC CIDR"),  # host bits set
    (["up", "--vpc-cidr", "8.8.0.0/16"], "not a private range"),
    (["up", "--vpc-cidr", "10.0.0.0/8"], "prefix"),
    (["up", "--azs", "0"], "--azs must be between"),
    (["up", "--azs", "7"], "--azs must be between"),
    (["up", "--bucket", "ab"], "invalid bucket name"),
    (["up", "--bucket", "Upper-Case"], "invalid bucket name"),
    (["up", "--bucket", "192.168.1.1"], "invalid bucket name"),
    (["up", "--bucket", "a..b"], "invalid bucket name"),
    (["up", "--bucket", "xn--bucket"], "invalid bucket name"),
    (["up", "--endpoint-url", "not a url"], "invalid endpoint URL"),
    (["outputs", "nope"], "unknown output"),
    (["down", "--yes", "--wait", "nan"], "invalid --wait 'nan'"),  # a wait without a bound
    (["down", "--yes", "--wait", "inf"], "invalid --wait 'inf'"),
    (["down", "--yes", "--wait", "-1"], "invalid --wait '-1'"),
    (["down", "--yes", "--wait", "soon"], "invalid --wait 'soon'"),
]


@pytest.mark.parametrize(("args", "says"), OPTIONS, ids=[" ".join(a) for a, _ in OPTIONS])
def test_bad_option_is_one_line_and_exit_2(args: list[str], says: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, [*args, "--state-dir", str(tmp_path)] + (
        [] if "--region" in args else ["--region", REGION]))
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []  # nothing written on disk


def test_click_usage_errors_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["up", "--azs", "three"])
    assert result.exit_code == 2 and "Invalid value for '--azs'" in result.output


STATE_FILES = [
    ("{not json", "not valid JSON"),
    (json.dumps([1, 2]), "not an s3gw state file"),
    (json.dumps({**STATE, "schema": 99}), "schema 99"),
    (json.dumps({**STATE, "stack": "other"}), "belongs to stack 'other'"),
    (json.dumps({**STATE, "region": "us-east-1"}), "is for region us-east-1"),
    (json.dumps({**STATE, "account": "999999999999"}), "is for account 999999999999"),
    ("", "not valid JSON"),  # an empty file
    (b"\xff\xfe{\x00", "is not text (not UTF-8)"),
    (json.dumps({k: v for k, v in STATE.items() if k != "schema"}), "has schema None"),
    (json.dumps({**STATE, "schema": "1"}), "has schema '1'"),
    (json.dumps({**STATE, "resources": ["vpc-1"]}), "not an s3gw state file"),
    (json.dumps({**STATE, "settings": ["azs"]}), "not an s3gw state file"),
]


@pytest.mark.parametrize(("content", "says"), STATE_FILES, ids=[s for _, s in STATE_FILES])
@pytest.mark.parametrize("command", ["up", "status", "down --yes"])
def test_a_bad_state_file_is_refused_and_left_alone(mocked: None, tmp_path: Path, content: str | bytes, says: str,
                                                    command: str) -> None:
    path = tmp_path / "t.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = CliRunner().invoke(cli, [*command.split(), "--stack", "t", "--region", REGION,
                                      "--state-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert path.read_bytes() == (content if isinstance(content, bytes) else content.encode())  # never overwritten
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]  # no lock or temp file left either
    assert [v for v in boto3.client("ec2", region_name=REGION).describe_vpcs()["Vpcs"] if not v["IsDefault"]] == []


@pytest.mark.parametrize("how", ["a directory", "no permission"])
@pytest.mark.parametrize("command", ["up", "status", "down --yes"])
def test_an_unreadable_state_file_is_refused(mocked: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             how: str, command: str) -> None:
    path = tmp_path / "t.json"
    if how == "a directory":
        path.mkdir()  # unreadable as a file, even for root
    else:
        # What a mode-000 file gives a user who is not root (the tests may run as root, who reads it anyway).
        path.write_text(json.dumps(STATE))
        real_read_text = Path.read_text

        def refuse(self: Path, *args: object, **kwargs: object) -> str:
            if self == path:
                raise PermissionError(13, "Permission denied", str(self))
            return real_read_text(self, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(Path, "read_text", refuse)
    result = CliRunner().invoke(cli, [*command.split(), "--stack", "t", "--region", REGION,
                                      "--state-dir", str(tmp_path)])
    assert result.exit_code == 2 and "cannot read state file" in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]
    assert [v for v in boto3.client("ec2", region_name=REGION).describe_vpcs()["Vpcs"] if not v["IsDefault"]] == []


def test_more_azs_than_the_region_has_creates_nothing(mocked: None, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["up", "--azs", "4", "--region", REGION, "--state-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "more than the 3 availability zones" in result.stderr
    assert [v for v in boto3.client("ec2", region_name=REGION).describe_vpcs()["Vpcs"] if not v["IsDefault"]] == []


def test_down_without_a_terminal_needs_yes(mocked: None, tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text(json.dumps(STATE))
    result = CliRunner().invoke(cli, ["down", "--stack", "t", "--region", REGION, "--state-dir", str(tmp_path)])
    assert result.exit_code == 2 and "--yes" in result.stderr


def test_verbose_shows_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text("{")
    result = CliRunner().invoke(cli, ["status", "-v", "--stack", "t", "--region", REGION,
                                      "--state-dir", str(tmp_path)])
    assert result.exit_code == 2 and "Traceback" in result.stderr


def test_an_unexpected_s3_answer_is_one_line_naming_the_code_once(mocked: None, monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    """Not bad input but the same promise: an error s3gw has no special case for still reads as one line."""
    from fault_helpers import client_error, on_every_client

    def refuse_location(model: object, **_: object) -> None:
        if getattr(model, "name", "") == "GetBucketLocation":
            raise client_error("InvalidBucketState", "The bucket is in a transitional state", "GetBucketLocation")

    on_every_client(monkeypatch, lambda client, service: client.meta.events.register("before-call", refuse_location))
    result = CliRunner().invoke(cli, ["up", "--stack", "odd", "--region", REGION, "--state-dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "checking bucket odd-" in errors[0] and errors[0].count("InvalidBucketState") == 1, errors[0]
    assert "transitional state" in errors[0] and "Traceback" not in result.output
