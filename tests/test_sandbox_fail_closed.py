"""The sandbox fails closed (issue 20 item 14): EVERY S3 operation of the installed botocore model, sent from the
host to a sealed bucket, is refused unless the seal leaves it open (its NotAction: MANAGEMENT_ACTIONS) or it
names no bucket; in either addressing style; and a request the sandbox cannot map is refused, naming it."""

from __future__ import annotations

import contextlib
import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.utils import ArgumentGenerator

from s3gw.policy.documents import MANAGEMENT_ACTIONS, bucket_policy
from s3gw.sandbox import Behaviours, Sandbox

REGION = "eu-west-1"
SEALED = "sealed-bucket"
VPCE = "vpce-0123456789abcdef0"
# The operations the seal leaves open: those authorised by an action of its NotAction (MANAGEMENT_ACTIONS), by the
# Service Authorization Reference's S3 table (DeleteBucketTagging needs s3:PutBucketTagging, GetPublicAccessBlock
# s3:GetBucketPublicAccessBlock, the Bucket*Encryption calls s3:*EncryptionConfiguration).
OPEN_UNDER_THE_SEAL = {
    "GetBucketPolicy": "s3:GetBucketPolicy", "PutBucketPolicy": "s3:PutBucketPolicy",
    "DeleteBucketPolicy": "s3:DeleteBucketPolicy", "GetBucketLocation": "s3:GetBucketLocation",
    "GetBucketTagging": "s3:GetBucketTagging", "PutBucketTagging": "s3:PutBucketTagging",
    "DeleteBucketTagging": "s3:PutBucketTagging",
    "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock", "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration", "PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "DeleteBucketEncryption": "s3:PutEncryptionConfiguration",
}
# No bucket policy is asked: they name no bucket, or create it.
NO_BUCKET = {"ListBuckets", "ListDirectoryBuckets", "WriteGetObjectResponse", "CreateBucket"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0, behaviours=Behaviours()) as running:
        s3 = client(running)
        s3.create_bucket(Bucket=SEALED, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(Bucket=SEALED, Key="secret.txt", Body=b"data")
        seal(s3)
        yield running


def seal(s3: Any) -> None:
    s3.put_bucket_policy(Bucket=SEALED, Policy=json.dumps(bucket_policy(SEALED, VPCE)))


def client(sandbox: Sandbox, **config: Any) -> Any:
    return boto3.client("s3", region_name=REGION, endpoint_url=sandbox.endpoint_url, aws_access_key_id="testing",
                        aws_secret_access_key="testing",
                        config=Config(retries={"total_max_attempts": 1}, **config))


def _arguments(operation: Any) -> dict[str, Any]:
    """The operation's required members, filled in by botocore's own skeleton generator; the sealed bucket."""
    shape = operation.input_shape
    if shape is None:
        return {}
    skeleton = ArgumentGenerator(use_member_names=True).generate_skeleton(shape)
    arguments = {k: b"x" if v is None else v for k, v in skeleton.items() if k in shape.required_members}  # blobs
    if "Bucket" in shape.members:
        arguments["Bucket"] = SEALED
    if "Key" in arguments:
        arguments["Key"] = "secret.txt"
    if "Policy" in arguments:  # S3 refuses a malformed policy (MalformedPolicy); moto would store it
        arguments["Policy"] = json.dumps(bucket_policy(SEALED, VPCE))
    if "CopySource" in arguments:
        arguments["CopySource"] = f"{SEALED}/secret.txt"
    return arguments


def _answer(s3: Any, name: str, arguments: dict[str, Any]) -> tuple[int, bytes]:
    """The sandbox's HTTP status and body for the call, whatever botocore makes of them."""
    seen: dict[str, Any] = {}

    def keep(response_dict: dict[str, Any], **_: Any) -> None:
        seen.setdefault("answer", (response_dict["status_code"], response_dict["body"] or b""))

    s3.meta.events.register(f"before-parse.s3.{name}", keep)
    method = {api: snake for snake, api in s3.meta.method_to_api_mapping.items()}[name]
    with contextlib.suppress(Exception):  # moto's answers to made-up arguments may not parse: the status counts
        getattr(s3, method)(**arguments)
    return seen.get("answer", (0, b""))


def test_every_operation_of_the_model_is_refused_under_the_seal_unless_the_seal_leaves_it_open(
        sandbox: Sandbox) -> None:
    s3, admin = client(sandbox, parameter_validation=False), client(sandbox)
    model = botocore.session.get_session().get_service_model("s3")
    wrong: list[str] = []
    for name in model.operation_names:
        if name in NO_BUCKET:
            continue  # ListBuckets is checked below
        seal(admin)  # DeleteBucketPolicy and PutBucketPolicy stay open under the seal: each call meets it whole
        status, body = _answer(s3, name, _arguments(model.operation_model(name)))
        refused = status == 403 and (b"AccessDenied" in body or not body)  # HEAD answers carry no body
        if name == "DeleteObjects":  # S3 answers 200 with an AccessDenied error for each key
            refused = status == 200 and b"<Code>AccessDenied</Code>" in body and b"<Deleted>" not in body
        if refused == (name in OPEN_UNDER_THE_SEAL):
            wrong.append(f"{name}: {status} {body[:120]!r}")
    assert wrong == [], "\n".join(wrong)
    assert sorted(set(OPEN_UNDER_THE_SEAL.values())) == sorted(MANAGEMENT_ACTIONS)
    assert SEALED in [b["Name"] for b in s3.list_buckets()["Buckets"]]


@pytest.mark.parametrize("operation", ["PutBucketInventoryConfiguration", "PutBucketMetricsConfiguration",
                                       "PutBucketAnalyticsConfiguration",
                                       "PutBucketIntelligentTieringConfiguration"])
def test_the_report_configurations_are_refused_and_nothing_is_configured(sandbox: Sandbox, operation: str) -> None:
    """An inventory lists every key into another bucket: under the seal S3 refuses these from outside."""
    s3 = client(sandbox, parameter_validation=False)
    model = botocore.session.get_session().get_service_model("s3")
    status, body = _answer(s3, operation, _arguments(model.operation_model(operation)))
    assert status == 403 and b"AccessDenied" in body, body


def _signed_get(sandbox: Sandbox, host: str, path: str) -> tuple[int, bytes]:
    """A SigV4-signed GET with this Host header, sent to the sandbox's address."""
    request = AWSRequest("GET", f"http://{host}{path}")
    SigV4Auth(Credentials("testing", "testing"), "s3", REGION).add_auth(request)
    address = urlsplit(sandbox.endpoint_url)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=30)
    try:
        connection.request("GET", path, headers={**dict(request.headers.items()), "Host": host})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("host", [f"{SEALED}.127.0.0.1", f"{SEALED}.localhost", f"{SEALED}.s3.{REGION}.amazonaws.com",
                                  f"{SEALED}.s3.amazonaws.com", f"www.{SEALED}.example.test"])
def test_a_virtual_hosted_style_list_is_judged_like_a_path_style_one(sandbox: Sandbox, host: str) -> None:
    port = urlsplit(sandbox.endpoint_url).port
    status, body = _signed_get(sandbox, f"{host}:{port}", "/?list-type=2")
    assert status == 403 and b"AccessDenied" in body, body
    assert b"secret.txt" not in body


def test_path_style_through_an_amazonaws_host_is_judged_too(sandbox: Sandbox) -> None:
    status, body = _signed_get(sandbox, f"s3.{REGION}.amazonaws.com", f"/{SEALED}?list-type=2")
    assert status == 403 and b"secret.txt" not in body, body


def test_a_request_the_sandbox_cannot_map_is_refused_naming_it(sandbox: Sandbox) -> None:
    """A subresource the operation does not take (?inventory on an object) matches no operation of the model."""
    status, body = _signed_get(sandbox, urlsplit(sandbox.endpoint_url).netloc, f"/{SEALED}/secret.txt?inventory")
    assert status == 403 and b"cannot map GET object ?inventory" in body, body
    status, body = _signed_get(sandbox, urlsplit(sandbox.endpoint_url).netloc, f"/{SEALED}?session")
    assert status == 403 and b"cannot map CreateSession" in body, body


def test_a_request_through_an_access_point_host_is_refused(sandbox: Sandbox) -> None:
    """moto resolves an access point's host to its bucket; S3 would judge the access point's policy too, which the
    sandbox does not model: refused, not let through."""
    status, body = _signed_get(sandbox, f"ap-123456789012.s3-accesspoint.{REGION}.amazonaws.com", "/?list-type=2")
    assert status == 403 and b"through an access point" in body, body
