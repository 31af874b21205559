"""Every document s3gw writes, linted by parliament (Duo Labs' IAM policy linter): no finding but the one the
README explains (a trust policy has no Resource, and parliament reads every document as an identity policy)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from parliament import analyze_policy_string

from s3gw.policy.documents import bucket_policy, endpoint_policy, lambda_trust_policy, role_bucket_policy

ACCOUNT = "123456789012"
BUCKET = "s3gw-123456789012-eu-west-1"
ENDPOINT = "vpce-0123456789abcdef0"

DOCUMENTS: dict[str, Any] = {
    "bucket seal": bucket_policy(BUCKET, ENDPOINT),
    "bucket seal with allowed principals": bucket_policy(
        BUCKET, ENDPOINT, allow_principals=[f"arn:aws:iam::{ACCOUNT}:role/ci-deploy",
                                            f"arn:aws:iam::{ACCOUNT}:user/me"]),
    "endpoint policy": endpoint_policy(BUCKET, ACCOUNT),
    "role's bucket access": role_bucket_policy(BUCKET),
    "bucket seal (aws-cn)": bucket_policy(BUCKET, ENDPOINT, "aws-cn"),
}


def findings(document: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(f.issue, f.detail) for f in analyze_policy_string(json.dumps(document)).findings]


@pytest.mark.parametrize("name", DOCUMENTS)
def test_parliament_finds_nothing(name: str) -> None:
    assert findings(DOCUMENTS[name]) == []


def test_the_trust_policy_has_only_the_explained_finding() -> None:
    assert findings(lambda_trust_policy(ACCOUNT)) == [
        ("MALFORMED", "Statement contains neither Resource nor NotResource")]


def test_the_linter_would_catch_a_bad_document() -> None:
    broad = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": [f"arn:aws:s3:::{BUCKET}"]}]}
    assert any(issue == "RESOURCE_MISMATCH" for issue, _ in findings(broad))
