"""--allow-aws-services (issue 20, item 9): the seal lets AWS services in as the data-perimeter samples do
(aws-samples/data-perimeter-policy-examples, resource_control_policies/network_perimeter_sourcevpc_rcp.json and
service_specific_controls/sns_topic_policy.json), the evaluator knows aws:PrincipalIsAWSService/aws:ViaAWSService,
and `plan`/`up --adopt` name what the seal would cut before it is written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result
from parliament import analyze_policy_string

from s3gw.cli import cli
from s3gw.policy.documents import bucket_policy, merge_seal
from s3gw.policy.evaluator import Request, evaluate
from s3gw.sandbox import Sandbox
from s3gw.verify import _exemptions_check, aws_services_exempt

ACCOUNT = "123456789012"
BUCKET = "data-bucket"
ENDPOINT = "vpce-0123456789abcdef0"
OBJECT = f"arn:aws:s3:::{BUCKET}/k"
REGION = "eu-west-1"
REPLICATION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/replication"

LOG_DELIVERY = Request("s3:PutObject", OBJECT, "logging.s3.amazonaws.com", "", {"aws:SecureTransport": True})
OUTSIDER = f"arn:aws:iam::{ACCOUNT}:user/someone"
FORWARDED = Request("s3:GetObject", OBJECT, OUTSIDER, ACCOUNT,
                    {"aws:PrincipalArn": OUTSIDER, "aws:ViaAWSService": True, "aws:SecureTransport": True})
MACIE = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/macie.amazonaws.com/AWSServiceRoleForAmazonMacie"
SERVICE_LINKED = Request("s3:GetObject", OBJECT, f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSServiceRoleForAmazonMacie/x",
                         ACCOUNT, {"aws:PrincipalArn": MACIE, "aws:SecureTransport": True})
# An ordinary caller from outside the endpoint, as a request arrives: no service keys given (AWS adds them).
PLAIN = Request("s3:GetObject", OBJECT, OUTSIDER, ACCOUNT, {"aws:PrincipalArn": OUTSIDER, "aws:SecureTransport": True})
ANONYMOUS = Request("s3:GetObject", OBJECT, "*", "", {"aws:SecureTransport": True})
FUNCTION = Request("s3:GetObject", OBJECT, f"arn:aws:sts::{ACCOUNT}:assumed-role/fn-role/fn", ACCOUNT,
                   {"aws:SourceVpce": ENDPOINT, "aws:SecureTransport": True})


def effect(policy: dict[str, Any], request: Request) -> str:
    return evaluate(policy, request).effect


def test_the_seal_shuts_out_aws_services_unless_asked() -> None:
    plain = bucket_policy(BUCKET, ENDPOINT, account=ACCOUNT)
    opened = bucket_policy(BUCKET, ENDPOINT, allow_aws_services=True, account=ACCOUNT)
    for request in (LOG_DELIVERY, FORWARDED, SERVICE_LINKED):
        assert effect(plain, request) == "Deny", request
        assert effect(opened, request) != "Deny", request
    # Nobody else gets in: an ordinary caller (its service keys are false) and an anonymous one (it has none).
    for request in (PLAIN, ANONYMOUS):
        assert effect(opened, request) == "Deny", request
    assert effect(opened, FUNCTION) != "Deny"
    # Another account's service-linked role is not one of the stack account's.
    foreign = "arn:aws:iam::000000000000:role/aws-service-role/macie.amazonaws.com/AWSServiceRoleForAmazonMacie"
    assert effect(opened, Request("s3:GetObject", OBJECT, "arn:aws:sts::000000000000:assumed-role/A/x",
                                  "000000000000", {"aws:PrincipalArn": foreign})) == "Deny"
    # The samples' shape: BoolIfExists on both keys, the account's aws-service-role/ path by aws:PrincipalArn.
    condition = opened["Statement"][0]["Condition"]
    assert condition["BoolIfExists"] == {"aws:PrincipalIsAWSService": "false", "aws:ViaAWSService": "false"}
    assert condition["ArnNotLikeIfExists"] == {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/*"}


def test_the_evaluator_puts_the_service_keys_in_every_signed_request() -> None:
    """Bool without IfExists fails on a missing key: only a request context that has the keys, as AWS's has
    (false for an ordinary signed caller, true for a service principal), makes these statements apply."""
    deny_people = {"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*",
                                  "Condition": {"Bool": {"aws:PrincipalIsAWSService": "false",
                                                         "aws:ViaAWSService": "false"}}}]}
    assert effect(deny_people, PLAIN) == "Deny"
    assert effect(deny_people, LOG_DELIVERY) != "Deny"
    assert effect(deny_people, FORWARDED) != "Deny"
    assert effect(deny_people, ANONYMOUS) != "Deny"  # an anonymous request carries neither key


def test_parliament_knows_every_key_but_via_aws_service() -> None:
    """parliament's global-key table predates aws:ViaAWSService (a global key in the IAM User Guide's list); that is
    its only complaint."""
    document = bucket_policy(BUCKET, ENDPOINT, allow_aws_services=True, account=ACCOUNT)
    findings = {(f.issue, f.detail.split(" for action ")[0]) for f in
                analyze_policy_string(json.dumps(document)).findings}
    assert findings == {("UNKNOWN_CONDITION_FOR_ACTION", "Unknown condition aws:ViaAWSService")}


def test_verify_reports_the_exemption_and_a_seal_that_is_not_what_the_stack_asks() -> None:
    opened = json.dumps(merge_seal(None, bucket_policy(BUCKET, ENDPOINT, allow_aws_services=True, account=ACCOUNT)))
    plain = json.dumps(merge_seal(None, bucket_policy(BUCKET, ENDPOINT, account=ACCOUNT)))
    assert aws_services_exempt(json.loads(opened), BUCKET, ACCOUNT, "aws") == [
        "service principals", "forward access sessions", "service-linked roles"]
    assert aws_services_exempt(json.loads(plain), BUCKET, ACCOUNT, "aws") == []
    asked = _exemptions_check(opened, BUCKET, ACCOUNT, (), "run 's3gw up'", "aws", True)
    assert asked.ok and "AWS services: service principals, forward access sessions, service-linked roles" in \
        asked.detail and "aws:PrincipalArn): none" in asked.detail  # the service-linked pattern is not a principal
    missing = _exemptions_check(plain, BUCKET, ACCOUNT, (), "run 's3gw up'", "aws", True)
    assert not missing.ok and "the stack asks for every AWS service caller" in missing.detail
    unasked = _exemptions_check(opened, BUCKET, ACCOUNT, (), "run 's3gw up'", "aws", False)
    assert not unasked.ok


# --- on the sandbox: an adopted bucket that AWS services use -------------------------------------------------


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


def s3gw(sandbox: Sandbox, state_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--stack", "svc", "--endpoint-url", sandbox.endpoint_url, "--region",
                                    REGION, "--state-dir", str(state_dir)],
                              env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "CI": "true"})


def used_by_services(sandbox: Sandbox, bucket: str) -> Any:
    """A bucket that logs into itself, receives its own Inventory reports, replicates as a role, and is the log
    target of another bucket (its policy grants logging.s3.amazonaws.com)."""
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=sandbox.endpoint_url, aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    for name in (bucket, f"{bucket}-replica"):
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        key: True for key in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")})
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "S3ServerAccessLogsPolicy", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/logs/*"}]}))
    s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus={"LoggingEnabled": {
        "TargetBucket": bucket, "TargetPrefix": "logs/"}})
    s3.put_bucket_inventory_configuration(Bucket=bucket, Id="weekly", InventoryConfiguration={
        "Id": "weekly", "IsEnabled": True, "IncludedObjectVersions": "Current", "Schedule": {"Frequency": "Weekly"},
        "Destination": {"S3BucketDestination": {"Bucket": f"arn:aws:s3:::{bucket}", "Format": "CSV"}}})
    s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration={"Role": REPLICATION_ROLE, "Rules": [{
        "ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": ""},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": f"arn:aws:s3:::{bucket}-replica"}}]})
    return s3


def test_plan_and_up_name_what_the_seal_would_cut_before_writing(sandbox: Sandbox, tmp_path: Path) -> None:
    bucket = "svc-used-by-services"
    s3 = used_by_services(sandbox, bucket)
    adopt = ("--bucket", bucket, "--adopt")
    planned = s3gw(sandbox, tmp_path, "plan", *adopt)
    assert planned.exit_code == 0, planned.output
    expected = [
        f"server access logging of {bucket} delivers into {bucket} itself (logging.s3.amazonaws.com)",
        f"Inventory configuration weekly writes its reports into {bucket} (s3.amazonaws.com)",
        f"exempt that role with --allow-principal {REPLICATION_ROLE}",
        "the bucket policy lets logging.s3.amazonaws.com s3:PutObject (statement S3ServerAccessLogsPolicy)",
    ]
    for line in expected:
        assert line in planned.output, planned.output

    # up says it too, before the seal is written (the policy is still the user's when the warning is given).
    made = s3gw(sandbox, tmp_path, "up", *adopt)
    assert made.exit_code == 0, made.output
    for line in expected:
        assert line in made.output, made.output
    sealed = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert "BoolIfExists" not in json.dumps(sealed)

    # --allow-aws-services: the services are let in; replication's role is a service role, still to be named.
    opened = s3gw(sandbox, tmp_path, "up", "--allow-aws-services")
    assert opened.exit_code == 0, opened.output
    assert "could not read" not in opened.output  # its own seal now refuses the reads: checked before it
    own = [s for s in json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
           if s.get("Sid") == "S3gwDenyUnlessThroughEndpoint"][0]
    assert own["Condition"]["BoolIfExists"] == {"aws:PrincipalIsAWSService": "false", "aws:ViaAWSService": "false"}
    state = json.loads((tmp_path / "svc.json").read_text())
    assert state["settings"]["allow_aws_services"] is True  # recorded: later runs keep it

    # verify (no flag given: the recorded setting) reports the exemption.
    checked = s3gw(sandbox, tmp_path, "verify")
    assert "AWS services: service principals, forward access sessions, service-linked roles" in checked.output, \
        checked.output
    assert checked.exit_code == 0, checked.output
    gone = s3gw(sandbox, tmp_path, "down", "--yes")
    assert gone.exit_code == 0, gone.output


def test_plan_with_the_services_and_the_role_allowed_names_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    bucket = "svc-all-allowed"
    used_by_services(sandbox, bucket)
    planned = s3gw(sandbox, tmp_path, "plan", "--bucket", bucket, "--adopt", "--allow-aws-services",
                   "--allow-principal", REPLICATION_ROLE)
    assert planned.exit_code == 0, planned.output
    assert "warning:" not in planned.output, planned.output
    assert "seal exempts AWS services (--allow-aws-services)" in planned.output
