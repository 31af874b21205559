"""The sandbox as a program (python -m s3gw.sandbox), its settings, and how it reads S3 requests."""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import sys

import boto3
import pytest
from botocore.config import Config

from s3gw.sandbox import Behaviours
from s3gw.sandbox.s3_access import classify, copy_source


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError(f"no line on stdout within {timeout} s")
    return process.stdout.readline()


def test_the_module_serves_until_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "s3gw.sandbox", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )
    try:
        line = _read_line(process, timeout=60)
        match = re.fullmatch(r"AWS_ENDPOINT_URL=(http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        s3 = boto3.client(
            "s3", region_name="eu-west-1", endpoint_url=match[1], aws_access_key_id="testing",
            aws_secret_access_key="testing", config=Config(retries={"total_max_attempts": 1}),
        )
        s3.create_bucket(Bucket="e2e-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["e2e-bucket"]
    finally:
        process.terminate()
        returncode = process.wait(timeout=30)
    assert returncode == 0, process.stderr.read() if process.stderr else ""


def test_the_module_refuses_a_bad_setting() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "s3gw.sandbox"], capture_output=True, text=True, timeout=60,
        env={**os.environ, "S3GW_SANDBOX_PENDING": "soon"}, stdin=subprocess.DEVNULL,
    )
    assert finished.returncode == 2
    assert "S3GW_SANDBOX_PENDING must be a number of seconds" in finished.stderr
    assert finished.stdout == ""


def test_behaviours_from_env() -> None:
    environ = {"S3GW_SANDBOX_IAM_DELAY": "8", "S3GW_SANDBOX_PENDING": "0.5", "S3GW_SANDBOX_ENI_LINGER": ""}
    assert Behaviours.from_env(environ) == Behaviours(iam_propagation=8.0, pending=0.5, eni_linger=0.0)
    assert Behaviours.from_env({}) == Behaviours()
    with pytest.raises(ValueError, match="S3GW_SANDBOX_ENI_LINGER"):
        Behaviours.from_env({"S3GW_SANDBOX_ENI_LINGER": "-1"})


@pytest.mark.parametrize(
    ("method", "path", "query", "action", "resource"),
    [
        ("GET", "/b", {"list-type": "2"}, "s3:ListBucket", "arn:aws:s3:::b"),
        ("HEAD", "/b", {}, "s3:ListBucket", "arn:aws:s3:::b"),
        ("GET", "/b", {"versions": ""}, "s3:ListBucketVersions", "arn:aws:s3:::b"),
        ("GET", "/b", {"policy": ""}, "s3:GetBucketPolicy", "arn:aws:s3:::b"),
        ("DELETE", "/b", {"policy": ""}, "s3:DeleteBucketPolicy", "arn:aws:s3:::b"),
        ("PUT", "/b", {"policy": ""}, "s3:PutBucketPolicy", "arn:aws:s3:::b"),
        ("DELETE", "/b", {"tagging": ""}, "s3:PutBucketTagging", "arn:aws:s3:::b"),
        ("POST", "/b", {"delete": ""}, "s3:DeleteObject", "arn:aws:s3:::b/*"),
        ("GET", "/b/dir/k.txt", {}, "s3:GetObject", "arn:aws:s3:::b/dir/k.txt"),
        ("HEAD", "/b/k", {}, "s3:GetObject", "arn:aws:s3:::b/k"),
        ("GET", "/b/k", {"versionId": "v1"}, "s3:GetObjectVersion", "arn:aws:s3:::b/k"),
        ("PUT", "/b/k", {}, "s3:PutObject", "arn:aws:s3:::b/k"),
        ("PUT", "/b/k", {"partNumber": "1", "uploadId": "u"}, "s3:PutObject", "arn:aws:s3:::b/k"),
        ("POST", "/b/k", {"uploads": ""}, "s3:PutObject", "arn:aws:s3:::b/k"),
        ("DELETE", "/b/k", {}, "s3:DeleteObject", "arn:aws:s3:::b/k"),
        ("DELETE", "/b/k", {"versionId": "v1"}, "s3:DeleteObjectVersion", "arn:aws:s3:::b/k"),
        ("DELETE", "/b/k", {"uploadId": "u"}, "s3:AbortMultipartUpload", "arn:aws:s3:::b/k"),
    ],
)
def test_s3_requests_map_to_the_actions_a_policy_names(
    method: str, path: str, query: dict[str, str], action: str, resource: str
) -> None:
    call = classify(method, path, "127.0.0.1:4566", query)
    assert call is not None
    assert (call.action, call.resource) == (action, resource)


def test_calls_without_a_bucket_policy_to_consult() -> None:
    assert classify("GET", "/", "127.0.0.1:4566", {}) is None  # ListBuckets
    assert classify("PUT", "/new-bucket", "127.0.0.1:4566", {}) is None  # CreateBucket
    virtual = classify("GET", "/k", "b.localhost:4566", {})
    assert virtual is not None and virtual.resource == "arn:aws:s3:::b/k"
    source = copy_source("/src-bucket/a%20b.txt?versionId=v2")
    assert source is not None
    assert (source.action, source.resource) == ("s3:GetObjectVersion", "arn:aws:s3:::src-bucket/a b.txt")


def test_moto_keeps_its_own_bucket_policy_judge_outside_the_sandbox(mocked: None) -> None:
    """The sandbox silences moto's judge only for requests it has judged itself."""
    import json

    from botocore.exceptions import ClientError

    from s3gw.sandbox import moto_glue

    moto_glue.silence_moto_bucket_policy()
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="plain", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="plain", Key="k", Body=b"x")
    deny = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::plain/*"}]}
    s3.put_bucket_policy(Bucket="plain", Policy=json.dumps(deny))
    with pytest.raises(ClientError) as refused:
        s3.get_object(Bucket="plain", Key="k")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_access_keys_are_found_without_building_other_partitions(mocked: None) -> None:
    """moto_glue.look_up_keys_in_existing_partitions: the same accounts as moto's lookup, no idle IAM backends."""
    from moto.iam.models import iam_backends

    from s3gw.sandbox import moto_glue

    moto_glue.look_up_keys_in_existing_partitions()
    iam = boto3.client("iam", region_name="eu-west-1")
    iam.create_user(UserName="u")
    own_key = iam.create_access_key(UserName="u")["AccessKey"]["AccessKeyId"]
    other = iam_backends["111122223333"]["aws-cn"]  # a key of another account, in another partition
    other.create_user("cn-north-1", "v")
    other_key = other.create_access_key("v").access_key_id
    assert moto_glue.account_of(own_key) == moto_glue.ACCOUNT_ID
    assert moto_glue.account_of(other_key) == "111122223333"
    assert moto_glue.account_of("AKIANOBODYHASTHIS000") == moto_glue.ACCOUNT_ID
    assert sorted(dict.keys(iam_backends[moto_glue.ACCOUNT_ID])) == ["aws"]
    # The AWS managed policies are still there for the partition in use (the demo attaches this one).
    arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
    assert iam.get_policy(PolicyArn=arn)["Policy"]["PolicyName"] == "AWSLambdaVPCAccessExecutionRole"
