"""`s3gw audit` across accounts and with least privilege (issue 24): `s3gw permissions --audit` is all it needs (the
sandbox enforcing IAM on EC2, S3 and STS calls), a region it may not read is one line, `--accounts … --role-name …`
audits each account through an assumed role, and `s3gw audit merge` folds the per-account documents into one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from s3gw.cli import cli
from s3gw.sandbox import Behaviours, Sandbox

REGION = "us-east-1"
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "111111111111"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(behaviours=Behaviours(enforce_iam=True)) as running:
        yield running


def admin(sandbox: Sandbox, service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=sandbox.endpoint_url,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def operator(sandbox: Sandbox, name: str, policy: dict[str, Any]) -> dict[str, str]:
    iam = admin(sandbox, "iam")
    iam.create_user(UserName=name)
    arn = iam.create_policy(PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=name, PolicyArn=arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"], "CI": "true"}


def audit(sandbox: Sandbox, env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(cli, ["audit", "--region", REGION, "--endpoint-url", sandbox.endpoint_url, *args],
                              env=env)


def printed_policy() -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["permissions", "--audit", "--output", "json", "--region", REGION])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_the_audit_needs_nothing_beyond_permissions_audit(sandbox: Sandbox) -> None:
    policy = printed_policy()
    assert all(a.split(":")[1].startswith(("Describe", "Get", "List", "Filter")) for a in
               policy["Statement"][0]["Action"])  # read only
    result = audit(sandbox, operator(sandbox, "auditor", policy), "--output", "json")
    assert result.exit_code == 0, result.output
    regions = json.loads(result.stdout)["regions"]
    assert [(r["region"], r["status"]) for r in regions] == [(REGION, "ok")]


def test_a_region_the_operator_may_not_read_is_one_line_of_the_report(sandbox: Sandbox) -> None:
    policy = printed_policy()
    policy["Statement"][0]["Action"].remove("ec2:DescribeNatGateways")
    result = audit(sandbox, operator(sandbox, "narrow", policy), "--regions", f"{REGION},eu-west-1")
    assert result.exit_code == 0, result.output
    denied = [line for line in result.stdout.splitlines() if "not read" in line and "ec2:DescribeNatGateways" in line]
    assert sorted(line.split(":")[0] for line in denied) == [f"{ACCOUNT} eu-west-1", f"{ACCOUNT} {REGION}"]


def test_accounts_through_a_role_and_merged_documents(sandbox: Sandbox, tmp_path: Path) -> None:
    admin_env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "CI": "true"}
    for account in (ACCOUNT, OTHER_ACCOUNT):  # as a CI matrix would: one job per account
        result = audit(sandbox, admin_env, "--accounts", account, "--role-name", "OrganizationAccountAccessRole",
                       "--output", "json")
        assert result.exit_code == 0, result.output
        (tmp_path / f"{account}.json").write_text(result.stdout)
        assert {r["account"] for r in json.loads(result.stdout)["regions"]} == {account}
    both = audit(sandbox, admin_env, "--accounts", f"{ACCOUNT},{OTHER_ACCOUNT}", "--role-name", "Auditor",
                 "--output", "json")
    merged = CliRunner().invoke(cli, ["audit", "merge", str(tmp_path / f"{ACCOUNT}.json"),
                                      str(tmp_path / f"{OTHER_ACCOUNT}.json"), "--output", "json"])
    assert merged.exit_code == 0, merged.output
    together = json.loads(merged.stdout)
    assert {r["account"] for r in together["regions"]} == {ACCOUNT, OTHER_ACCOUNT}
    assert together["totals"] == json.loads(both.stdout)["totals"]
    text = CliRunner().invoke(cli, ["audit", "merge", str(tmp_path / f"{ACCOUNT}.json"),
                                    str(tmp_path / f"{OTHER_ACCOUNT}.json")])
    assert f"{OTHER_ACCOUNT} {REGION}" in text.stdout
    (tmp_path / "bad.json").write_text('{"findings": []}')
    refused = CliRunner().invoke(cli, ["audit", "merge", str(tmp_path / "bad.json")])
    assert refused.exit_code == 2 and "is not an s3gw audit document" in refused.output
