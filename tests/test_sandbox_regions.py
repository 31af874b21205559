"""A region AWS does not have (issue 26 item 7): the sandbox answers as a service at a fixed endpoint does
(403 SignatureDoesNotMatch, "Credential should be scoped to a valid region, not '…'."), not a 500 page; and s3gw
says so in one line, exit 2."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from click.testing import CliRunner

from s3gw.cli import cli
from s3gw.sandbox import Behaviours, Sandbox

TYPO = "us-est-1"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0, behaviours=Behaviours()) as running:
        yield running


def _client(sandbox: Sandbox, service: str) -> object:
    return boto3.client(service, region_name=TYPO, endpoint_url=sandbox.endpoint_url, aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=Config(retries={"total_max_attempts": 1}))


@pytest.mark.parametrize(("service", "call", "code"), [
    ("ec2", lambda c: c.describe_availability_zones(), "SignatureDoesNotMatch"),
    ("s3", lambda c: c.list_buckets(), "SignatureDoesNotMatch"),
    ("sts", lambda c: c.get_caller_identity(), "SignatureDoesNotMatch"),
    ("lambda", lambda c: c.list_functions(), "InvalidSignatureException"),
])
def test_a_region_aws_does_not_have_is_refused_as_aws_refuses_its_credential_scope(
        sandbox: Sandbox, service: str, call: object, code: str) -> None:
    with pytest.raises(ClientError) as refused:
        call(_client(sandbox, service))  # type: ignore[operator]
    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Error"]["Code"] == code
    assert f"Credential should be scoped to a valid region, not '{TYPO}'" in error["Error"]["Message"]


def test_s3gw_says_one_line_and_exits_2(sandbox: Sandbox, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["plan", "--region", TYPO, "--endpoint-url", sandbox.endpoint_url,
                                      "--state-dir", str(tmp_path)],
                                env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "CI": "true"})
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown region 'us-est-1'"), result.stderr
