"""Bad input: one clear line on stderr, the right exit code, no traceback, nothing changed in AWS or on disk."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
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
    (["up", "--vpc-cidr", "127.0.0.0/16"], "loopback"),
    (["up", "--vpc-cidr", "0.0.0.0/16"], "'this network'"),
    (["up", "--vpc-cidr", "169.254.0.0/16"], "link-local"),
    (["up", "--vpc-cidr", "224.0.0.0/16"], "multicast"),
    (["up", "--vpc-cidr", " 10.0.0.0/16"], "invalid VPC CIDR"),
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
    result = CliRunner().invoke(cli, ["up", "--azs", "three"], prog_name="s3gw")
    assert result.exit_code == 2, result.output
    assert result.stderr == "error: invalid value for --azs: 'three' is not a valid integer — see 's3gw up --help'\n"


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
        real_open = os.open

        def refuse(name: object, *args: object, **kwargs: object) -> int:
            if Path(str(name)) == path:
                raise PermissionError(13, "Permission denied", str(name))
            return real_open(name, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "open", refuse)
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


# --- the CLI contract's table (issue 12): every input that once got through -----------------------------

NESTED = '{"a":' * 5_000 + "1" + "}" * 5_000  # deeper than Python's recursion limit


def _write_state(path: Path, **changes: object) -> None:
    path.write_text(json.dumps({**STATE, "resources": {}, **changes}))


# (id, arguments, environment, how to prepare tmp_path, exit code, what the one line says)
TABLE: list[tuple[str, list[str], dict[str, str], str, int, str]] = [
    ("stack with a trailing newline", ["up", "--stack", "nl\n"], {}, "", 2, "invalid stack name"),
    ("bucket with a trailing newline", ["up", "--bucket", "name\n"], {}, "", 2, "invalid bucket name"),
    ("region with a trailing newline and an endpoint",
     ["status", "--region", "us-east-1\n", "--endpoint-url", "http://127.0.0.1:9"], {}, "state", 2, "invalid region"),
    ("region with a trailing newline before the command",
     ["--region", "us-east-1\n", "up"], {}, "", 2, "invalid region"),
    ("vpc cidr 127/16", ["up", "--vpc-cidr", "127.0.0.0/16"], {}, "", 2, "loopback"),
    ("vpc cidr 0.0.0.0/16", ["up", "--vpc-cidr", "0.0.0.0/16"], {}, "", 2, "'this network'"),
    ("vpc cidr 169.254/16", ["up", "--vpc-cidr", "169.254.0.0/16"], {}, "", 2, "link-local"),
    ("vpc cidr /28 (AWS takes it, the subnets would not fit)", ["up", "--vpc-cidr", "10.0.0.0/28"], {}, "", 2,
     "use /16 to /24"),
    ("empty vpc cidr", ["up", "--vpc-cidr", ""], {}, "", 2, "--vpc-cidr is empty"),
    ("empty bucket", ["up", "--bucket", ""], {}, "", 2, "--bucket is empty"),
    ("empty stack", ["up", "--stack", ""], {}, "", 2, "--stack is empty"),
    ("empty profile", ["up", "--profile", ""], {}, "", 2, "--profile is empty"),
    ("empty endpoint", ["up", "--endpoint-url", ""], {}, "", 2, "--endpoint-url is empty"),
    ("empty region", ["up", "--region", ""], {}, "", 2, "--region is empty"),
    ("empty state dir", ["up", "--state-dir", ""], {}, "", 2, "--state-dir is empty"),
    ("profile that does not exist, no endpoint", ["up"], {"AWS_PROFILE": "nonexistent"}, "", 2,
     "profile (nonexistent) could not be found"),
    ("profile that does not exist, status", ["status"], {"AWS_PROFILE": "nonexistent"}, "state", 2,
     "profile (nonexistent) could not be found"),
    ("endpoint with a bad port", ["up", "--endpoint-url", "http://127.0.0.1:99999"], {}, "", 2, "bad host or port"),
    ("endpoint with no host", ["up", "--endpoint-url", "http://:80"], {}, "", 2, "invalid endpoint URL"),
    ("state dir is a file", ["up", "--state-dir", "{tmp}/file"], {}, "file", 2, "is not a directory"),
    ("state dir is /dev/null", ["status", "--state-dir", "/dev/null"], {}, "", 2, "is not a directory"),
    ("state dir is a dangling symlink", ["up", "--state-dir", "{tmp}/dangling"], {}, "dangling", 2,
     "dangling symbolic link"),
    ("state dir not writable", ["up", "--state-dir", "{tmp}/readonly"], {}, "readonly", 2, "cannot write in"),
    ("state file nested deeply", ["status"], {}, "nested", 2, "nested too deeply"),
    ("settings.azs a string", ["up"], {}, "settings:azs=3s", 2, "settings.azs"),
    ("settings.vpc_cidr loopback", ["plan"], {}, "settings:vpc_cidr=127.0.0.0/16", 2, "settings.vpc_cidr"),
    ("settings.egress bogus", ["status"], {}, "settings:egress=bogus", 2, "settings.egress"),
    ("settings.bucket a number", ["up"], {}, "settings:bucket=123", 2, "settings.bucket"),
    ("resources.subnet_ids not a list", ["down", "--yes"], {}, "resources:subnet_ids=subnet-1", 2,
     "resources.subnet_ids"),
    ("outputs KEY unknown", ["outputs", "nope"], {}, "state", 2, "unknown output"),
    ("no state file: outputs", ["outputs"], {}, "", 2, "has no state at"),
    ("no state file: outputs KEY", ["outputs", "bucket"], {}, "", 2, "has no state at"),
    ("no state file: status", ["status"], {}, "", 2, "has no state at"),
    ("no state file: test-invoke", ["test-invoke"], {}, "", 2, "has no state at"),
    ("no state file: verify", ["verify"], {}, "", 2, "has no state at"),
    ("state file without the key: outputs KEY", ["outputs", "bucket"], {}, "state", 3, "has no bucket recorded"),
]


def _prepare(tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state" / "t.json"
    state.parent.mkdir()
    if how == "state":
        _write_state(state, resources={"vpc_id": "vpc-1"})
    elif how == "file":
        (tmp_path / "file").write_text("not a directory")
    elif how == "dangling":
        (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    elif how == "readonly":
        (tmp_path / "readonly").mkdir()
        real_access = os.access
        # The tests may run as root, for whom a mode-0500 directory is writable: refuse as it would for a user.
        monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if Path(path) == tmp_path / "readonly"
                            else real_access(path, mode, **kw))
    elif how == "nested":
        state.write_text(NESTED)
    elif how.startswith(("settings:", "resources:")):
        where, _, pair = how.partition(":")
        key, _, raw = pair.partition("=")
        value: object = int(raw) if raw.isdigit() else raw[:-1] if raw.endswith("s") and raw[:-1].isdigit() else raw
        _write_state(state, **{where: {key: value}})


def _snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p): (p.read_bytes() if p.is_file() and not p.is_symlink() else None) for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def one_moto() -> Iterator[None]:
    """One emulator for the whole table (its first EC2 and S3 calls cost seconds): each case proves it made
    nothing, so none can hide another's leftovers."""
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.mark.parametrize(("args", "env", "how", "code", "says"), [row[1:] for row in TABLE],
                         ids=[row[0] for row in TABLE])
def test_bad_input_table(one_moto: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str],
                         env: dict[str, str], how: str, code: int, says: str) -> None:
    _prepare(tmp_path, how, monkeypatch)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    defaults = [] if "--state-dir" in args else ["--state-dir", str(tmp_path / "state")]
    defaults += [] if "--stack" in args else ["--stack", "t"]
    defaults += [] if "--region" in args else ["--region", REGION]
    before = _snapshot(tmp_path)
    result = CliRunner().invoke(cli, [*args, *defaults])
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert result.stdout == ""
    for secret in ("Traceback", "Signature=", "Credential=", "AKIA"):
        assert secret not in result.output
    assert _snapshot(tmp_path) == before  # nothing written, tightened or removed on disk
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    assert [v for v in boto3.client("ec2", region_name=REGION).describe_vpcs()["Vpcs"] if not v["IsDefault"]] == []
    assert boto3.client("s3", region_name=REGION).list_buckets()["Buckets"] == []


ACCEPTED_CIDRS = ["10.0.0.0/16", "172.16.0.0/20", "192.168.0.0/24", "100.64.0.0/16", "8.8.0.0/16"]


@pytest.mark.parametrize("cidr", ACCEPTED_CIDRS)
def test_cidrs_aws_accepts_are_accepted(one_moto: None, tmp_path: Path, cidr: str) -> None:
    """100.64.0.0/10 (shared address space) and public blocks are valid VPC blocks on AWS."""
    result = CliRunner().invoke(cli, ["plan", "--vpc-cidr", cidr, "--stack", "t", "--region", REGION,
                                      "--state-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"cidr_block = {cidr}" in result.stdout


def test_a_secret_in_an_error_is_never_printed() -> None:
    from s3gw.errors import AwsError

    quoted = ("x: ValueError: Invalid header value b'AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261125/us-east-1\n"
              "/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123abcd'")
    line = AwsError(quoted, "X-Amz-Signature=feed&X-Amz-Credential=AKIAEXAMPLE").line()
    assert "AKIAEXAMPLE" not in line and "0123abcd" not in line and "feed" not in line, line


def test_sandbox_on_a_port_in_use_is_one_line_exit_2() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = CliRunner().invoke(cli, ["sandbox", "--port", str(taken.getsockname()[1])])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot serve on 127.0.0.1" in lines[0] and "Traceback" not in result.output
