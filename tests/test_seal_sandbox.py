"""The seal on the sandbox, as `s3gw up` makes it: from the host every data action is refused; through the
endpoint the function does its job and reaches no other bucket; an --allow-principal role is let in from the
host, another role is not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import REGION, make_test_config

from s3gw import commands
from s3gw.config import StackConfig
from s3gw.sandbox import Behaviours, Sandbox

ACCOUNT = "123456789012"
CI_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ci-deploy"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ci-other"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0, behaviours=Behaviours()) as running:
        yield running


def client(sandbox: Sandbox, service: str, **credentials: str) -> Any:
    keys = credentials or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client(service, region_name=REGION, endpoint_url=sandbox.endpoint_url,
                        config=Config(retries={"total_max_attempts": 1}), **keys)


@pytest.fixture(scope="module")
def stack(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    iam = client(sandbox, "iam")
    for arn in (CI_ROLE, OTHER_ROLE):  # two operator roles with full S3 rights of their own
        name = arn.rsplit("/", 1)[1]
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]}
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(RoleName=name, PolicyName="s3", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    config = make_test_config(tmp_path_factory.mktemp("state"), endpoint_url=sandbox.endpoint_url,
                              allow_principals=[CI_ROLE])
    commands.up.up(config, lambda message: None)
    yield {"config": config, **commands.inspect.recorded_outputs(config)}


def session_of(sandbox: Sandbox, role_arn: str) -> Any:
    """An S3 client with the credentials of an STS AssumeRole session of the role."""
    answer = client(sandbox, "sts").assume_role(RoleArn=role_arn, RoleSessionName="build-1")["Credentials"]
    return client(sandbox, "s3", aws_access_key_id=answer["AccessKeyId"],
                  aws_secret_access_key=answer["SecretAccessKey"], aws_session_token=answer["SessionToken"])


def code_of(call: Any) -> str:
    try:
        call()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "ok"


def test_from_the_host_every_data_action_is_refused(sandbox: Sandbox, stack: dict[str, Any]) -> None:
    s3, bucket = client(sandbox, "s3"), stack["bucket"]
    key = {"Bucket": bucket, "Key": "k.txt"}
    calls = {
        "list": lambda: s3.list_objects_v2(Bucket=bucket),
        "list versions": lambda: s3.list_object_versions(Bucket=bucket),
        "get": lambda: s3.get_object(**key),
        "get attributes": lambda: s3.get_object_attributes(**key, ObjectAttributes=["ETag"]),
        "get version": lambda: s3.get_object(**key, VersionId="null"),
        "put": lambda: s3.put_object(**key, Body=b"x"),
        "delete": lambda: s3.delete_object(**key),
        "delete version": lambda: s3.delete_object(**key, VersionId="null"),
        "object ACL": lambda: s3.get_object_acl(**key),
        "put object ACL": lambda: s3.put_object_acl(**key, ACL="public-read"),
        "bucket ACL": lambda: s3.get_bucket_acl(Bucket=bucket),
        "tagging": lambda: s3.get_object_tagging(**key),
        "put tagging": lambda: s3.put_object_tagging(**key, Tagging={"TagSet": []}),
        "multipart uploads": lambda: s3.list_multipart_uploads(Bucket=bucket),
        "create multipart": lambda: s3.create_multipart_upload(**key),
        "list parts": lambda: s3.list_parts(**key, UploadId="u"),
        "abort multipart": lambda: s3.abort_multipart_upload(**key, UploadId="u"),
        "restore": lambda: s3.restore_object(**key, RestoreRequest={"Days": 1}),
        "versioning": lambda: s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}),
    }
    answers = {name: code_of(call) for name, call in calls.items()}
    assert answers == {name: "AccessDenied" for name in calls}
    batch = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k.txt"}]})
    assert [e["Code"] for e in batch["Errors"]] == ["AccessDenied"]
    # what s3gw itself needs from outside is left open
    assert s3.get_bucket_location(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]["NotAction"]


def test_through_the_endpoint_the_function_works_and_reaches_no_other_bucket(
        sandbox: Sandbox, stack: dict[str, Any]) -> None:
    s3, ec2 = client(sandbox, "s3"), client(sandbox, "ec2")
    other = "exfil-target"
    s3.create_bucket(Bucket=other, CreateBucketConfiguration={"LocationConstraint": REGION})
    # the target welcomes anyone's writes: only the endpoint policy stands between the function and it
    s3.put_bucket_policy(Bucket=other, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{other}/*"}]}))
    report = commands.invoke.test_invoke(stack["config"], lambda message: None, put_key="via-endpoint.txt")
    assert report.ok, report
    assert "via-endpoint.txt" in [o["key"] for o in report.objects]
    assert report.outside_refused is True and "ListObjectVersions" in report.outside_detail
    assert report.other_bucket == other and report.other_refused is True  # a list (the role has no right there)

    def write_to_other() -> dict[str, Any]:
        answer = client(sandbox, "lambda").invoke(FunctionName=stack["function_name"], Payload=json.dumps(
            {"other_bucket": other, "other_write": True}))
        return dict(json.loads(answer["Payload"].read())["other"])

    refused = write_to_other()
    assert (refused["call"], refused["refused"], refused["code"]) == ("PutObject", True, "AccessDenied")
    assert "because no VPC endpoint policy allows the s3:PutObject action" in refused["message"]
    endpoint_id = stack["endpoint_id"]
    stored = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]["PolicyDocument"]
    full = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}
    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint_id, PolicyDocument=json.dumps(full))
    try:
        assert write_to_other()["refused"] is False  # AWS's default endpoint policy: the exfiltration path
        leaking = commands.invoke.test_invoke(stack["config"], lambda message: None, other_bucket=other)
        assert not leaking.ok and leaking.other_refused is False and "another bucket" in leaking.diagnosis
    finally:
        ec2.modify_vpc_endpoint(VpcEndpointId=endpoint_id, PolicyDocument=stored)
    # the write, sealed again
    named = commands.invoke.test_invoke(stack["config"], lambda message: None, other_bucket=other)
    assert named.ok and named.other_refused is True and "by the VPC endpoint policy" in named.other_detail


def test_an_allowed_principal_lists_and_uploads_from_the_host_another_role_cannot(
        sandbox: Sandbox, stack: dict[str, Any]) -> None:
    bucket = stack["bucket"]
    ci = session_of(sandbox, CI_ROLE)
    ci.put_object(Bucket=bucket, Key="from-ci.txt", Body=b"ci")
    assert "from-ci.txt" in [o["Key"] for o in ci.list_objects_v2(Bucket=bucket).get("Contents", [])]
    other = session_of(sandbox, OTHER_ROLE)
    assert code_of(lambda: other.list_objects_v2(Bucket=bucket)) == "AccessDenied"
    assert code_of(lambda: other.put_object(Bucket=bucket, Key="from-other.txt", Body=b"x")) == "AccessDenied"
    assert code_of(lambda: other.list_object_versions(Bucket=bucket)) == "AccessDenied"


def test_down_still_empties_and_deletes_the_sealed_bucket(sandbox: Sandbox, stack: dict[str, Any]) -> None:
    config: StackConfig = stack["config"]
    report = commands.down.down(config, lambda message: None)
    assert not report.left
    assert stack["bucket"] not in [b["Name"] for b in client(sandbox, "s3").list_buckets()["Buckets"]]
