"""Shared fixtures: fake credentials, moto in-process, a config in a temp state dir, a mutating-call counter."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Before anything imports boto3 or moto: no real account can be reached from the tests.
for _name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "S3GW_STACK",
              "S3GW_STATE_DIR", "S3GW_STATE", "S3GW_OUTPUT"):
    os.environ.pop(_name, None)
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="eu-west-1",
    AWS_REGION="eu-west-1",
    AWS_CONFIG_FILE=os.devnull,
    AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    MOTO_IAM_LOAD_MANAGED_POLICIES="true",
)

from s3gw.sandbox import moto_glue  # noqa: E402  (after the environment above: it imports moto)

# moto drops the tags CreateBucket takes (CreateBucketConfiguration.Tags); S3 applies them. Every test's moto
# behaves as S3 here (see moto_glue.honour_create_bucket_tags for the source).
moto_glue.honour_create_bucket_tags()
moto_glue.route_gateway_endpoint_tables()  # moto leaves out the route ModifyVpcEndpoint adds (the same source)
moto_glue.page_list_buckets()  # moto cuts ListBuckets at MaxBuckets with no ContinuationToken (the same source)
moto_glue.answer_gone_endpoints_as_ec2()  # EC2's Unsuccessful InvalidVpcEndpoint.NotFound for an endpoint gone
moto_glue.model_s3_ipv6()  # S3's IPv6 prefix list, a gateway endpoint's IpAddressType and its IPv6 routes


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """moto's own server on a free port, for one test module; stopped after it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{server._server.server_port}"  # port 0: ask the server which it took
    finally:
        server.stop()


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    """The embedded sandbox, in this process, on a free port, for one test module; stopped after it."""
    from s3gw.sandbox import Behaviours, Sandbox

    sandbox = Sandbox(port=0, behaviours=Behaviours()).start()
    try:
        yield sandbox.endpoint_url
    finally:
        sandbox.stop()


REGION = "eu-west-1"
READ_PREFIXES = ("Describe", "Get", "List", "Head")


class CallLog:
    """Every AWS operation the code under test makes, by name."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)

    @property
    def mutating(self) -> list[str]:
        return [name for name in self.calls if not name.startswith(READ_PREFIXES)]


@pytest.fixture
def call_log(monkeypatch: pytest.MonkeyPatch) -> CallLog:
    """Hook every client s3gw makes, so a test can count (mutating) calls."""
    from s3gw.aws import Aws

    log = CallLog()
    original = Aws.client

    def client(self: Aws, service: str, **options: Any) -> Any:
        made = original(self, service, **options)
        made.meta.events.register("before-call", log)
        return made

    monkeypatch.setattr(Aws, "client", client)
    return log


@pytest.fixture
def mocked() -> Iterator[None]:
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


def make_test_config(state_dir: Path, **overrides: Any) -> Any:
    from s3gw.config import make_config

    arguments: dict[str, Any] = {"stack": "t", "region": REGION, "state_dir": state_dir}
    arguments.update(overrides)
    return make_config(**arguments)


def s3gw_command(*args: str, url: str, state_dir: Path, stack: str) -> list[str]:
    """The installed `s3gw` executable against a server on 127.0.0.1."""
    executable = shutil.which("s3gw")
    assert executable, "the s3gw console script is not installed (pip install -e .)"
    return [executable, *args, "--stack", stack, "--endpoint-url", url, "--region", REGION,
            "--state-dir", str(state_dir)]


# No terminal, as in CI; AWS_ENDPOINT_URL emptied so that only --endpoint-url decides.
S3GW_ENV = {**os.environ, "AWS_ENDPOINT_URL": "", "CI": "true"}


def run_s3gw(*args: str, url: str, state_dir: Path, stack: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(s3gw_command(*args, url=url, state_dir=state_dir, stack=stack), capture_output=True,
                          text=True, env=S3GW_ENV, timeout=300, stdin=subprocess.DEVNULL)
