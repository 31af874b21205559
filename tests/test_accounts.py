"""A real operator's account: region from the profile, regions of every partition, a region not enabled,
endpoints that never answer, and what AWS says when a permission is missing."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from s3gw.cli import cli
from s3gw.errors import translate


def _permissions(tmp_path: Path, *extra: str, env: dict[str, str | None]) -> object:
    return CliRunner().invoke(cli, ["permissions", "--output", "json", "--state-dir", str(tmp_path), *extra], env=env)


def test_the_region_comes_from_the_profile(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("[profile work]\nregion = eu-central-1\n")
    env = {"AWS_CONFIG_FILE": str(config), "AWS_PROFILE": "work", "AWS_REGION": None, "AWS_DEFAULT_REGION": None}
    result = _permissions(tmp_path, env=env)
    assert result.exit_code == 0, result.output
    assert "arn:aws:lambda:eu-central-1:" in result.stdout
    # The flag still wins over the profile.
    assert "arn:aws:lambda:eu-west-3:" in _permissions(tmp_path, "--region", "eu-west-3", env=env).stdout


def test_an_unknown_profile_is_one_line(tmp_path: Path) -> None:
    result = _permissions(tmp_path, env={"AWS_PROFILE": "nope", "AWS_REGION": None, "AWS_DEFAULT_REGION": None})
    assert result.exit_code == 2 and "profile 'nope' not found" in result.stderr


@pytest.mark.parametrize("region", ["cn-north-1", "cn-northwest-1", "us-gov-west-1", "us-gov-east-1",
                                    "eusc-de-east-1", "us-isob-east-1", "ap-southeast-7"])
def test_regions_of_every_partition_are_accepted(tmp_path: Path, region: str) -> None:
    result = _permissions(tmp_path, "--region", region, env={})
    assert result.exit_code == 0, result.output


def test_a_typo_of_a_region_is_still_refused(tmp_path: Path) -> None:
    result = _permissions(tmp_path, "--region", "eu-westt-1", env={})
    assert result.exit_code == 2 and "unknown region" in result.stderr


def _client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "DescribeVpcs")


def test_a_region_not_enabled_is_not_called_an_invalid_key() -> None:
    line = translate(_client_error("AuthFailure", "AWS was not able to validate the provided access credentials"),
                     "looking up the VPC").line()
    assert "opt-in region" in line and "enabled" in line
    line = translate(_client_error("OptInRequired", "The region ap-east-1 is not enabled for this account"), "x").line()
    assert "the region is not enabled for this account" in line


def test_access_denied_names_the_missing_permission() -> None:
    message = ("User: arn:aws:iam::123456789012:user/op is not authorized to perform: lambda:ListTags on resource: "
               "arn:aws:lambda:eu-west-1:123456789012:function:s-lister because no identity-based policy allows "
               "the lambda:ListTags action")
    line = translate(_client_error("AccessDeniedException", message), "reading the function").line()
    assert "lambda:ListTags" in line and "s3gw permissions" in line and "\n" not in line


# --- endpoints that never answer ------------------------------------------------------------------


@pytest.fixture(params=["silent", "drip"])
def bad_endpoint(request: pytest.FixtureRequest) -> Iterator[str]:
    """A TCP server that accepts and then never answers ("silent") or drips a header byte every 0.2 s ("drip")."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()
    accepted: list[socket.socket] = []

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            accepted.append(connection)
            if request.param == "drip":
                threading.Thread(target=drip, args=(connection,), daemon=True).start()

    def drip(connection: socket.socket) -> None:
        try:
            connection.sendall(b"HTTP/1.1 200 OK\r\n")
            while not stop.wait(0.2):
                connection.sendall(b"X")
        except OSError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_an_endpoint_that_never_answers_gets_one_line_and_exit_1(bad_endpoint: str, tmp_path: Path) -> None:
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["up", "--stack", "t", "--region", "eu-west-1", "--endpoint-url", bad_endpoint,
                                      "--state-dir", str(tmp_path)], env={"S3GW_CALL_TIMEOUT": "1.5"})
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    # The account and the region's reads go at once (open_context): any of them may be the call named.
    assert len(lines) == 1 and "within 2s" in lines[0], lines
    assert re.search(r"no answer to (GetCallerIdentity|DescribeAvailabilityZones|DescribeManagedPrefixLists|"
                     r"DescribeVpcEndpointServices) from", lines[0]), lines
    print(f"answered after {time.monotonic() - started:.1f}s")  # a figure, not asserted


def test_an_account_read_that_never_answers_holds_up_no_other_aws(tmp_path: Path) -> None:
    """Each Aws reads its own account: a GetCallerIdentity stuck in one (a command given up on, its thread still
    blocked) must not stop another from reading its own (functools.cached_property's lock on Python 3.11 did)."""
    from s3gw.aws import Aws
    from s3gw.config import make_config

    config = make_config(stack="t", region="eu-west-1", state_dir=tmp_path)
    stuck, other = Aws(config), Aws(config)
    entered, release = threading.Event(), threading.Event()

    class Hanging:
        def get_caller_identity(self) -> dict[str, str]:
            entered.set()
            release.wait(30)
            return {"Account": "111111111111"}

    class Answering:
        def get_caller_identity(self) -> dict[str, str]:
            return {"Account": "222222222222"}

    stuck.__dict__["sts"], other.__dict__["sts"] = Hanging(), Answering()
    threading.Thread(target=lambda: stuck.account, daemon=True).start()
    assert entered.wait(5)
    answered: list[str] = []
    reader = threading.Thread(target=lambda: answered.append(other.account), daemon=True)
    reader.start()
    reader.join(5)
    release.set()
    assert answered == ["222222222222"]
