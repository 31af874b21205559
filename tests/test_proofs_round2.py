"""Issue 20 items 8, 10-12 and issue 26 item 9: what test-invoke, verify, plan and the prices claim, and no more."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import REGION, make_test_config

from s3gw import commands
from s3gw.errors import UsageError
from s3gw.invoke import diagnose, refused_by
from s3gw.pricing import NAT_RATES, nat_cost_line
from s3gw.sandbox import Behaviours, Sandbox


def test_verify_passes_a_stack_made_with_egress_anywhere(mocked: None, state_dir: Path) -> None:
    """`up --egress anywhere` is a supported setting: verify checks what the stack was asked for (item 11)."""
    config = make_test_config(state_dir, egress="anywhere")
    commands.up.up(config, lambda message: None)
    report = commands.verify.verify(make_test_config(state_dir), lambda message: None)
    assert report.ok, [(c.name, c.detail) for c in report.broken]
    egress = next(c for c in report.checks if c.name == "egress is HTTPS only")
    assert "0.0.0.0/0" in egress.detail


def _vpc_through_a_nat(ec2: Any) -> tuple[str, str, str, str, str]:
    """A VPC whose two private subnets reach the internet through a NAT gateway by the default route split in two
    halves (0.0.0.0/1 + 128.0.0.0/1); the second subnet's table also has a static route to the NAT for one of S3's
    own ranges."""
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    public, first, second = (ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.7.{i}.0/24", AvailabilityZone=f"{REGION}a")[
        "Subnet"]["SubnetId"] for i in (1, 2, 3))
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=allocation)["NatGateway"]["NatGatewayId"]
    s3_range = ec2.get_managed_prefix_list_entries(PrefixListId=ec2.describe_managed_prefix_lists(Filters=[
        {"Name": "prefix-list-name", "Values": [f"com.amazonaws.{REGION}.s3"]}])["PrefixLists"][0]["PrefixListId"])[
        "Entries"][0]["Cidr"]
    for subnet, extra in ((first, []), (second, [s3_range])):
        table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
        for cidr in ("0.0.0.0/1", "128.0.0.0/1", *extra):
            ec2.create_route(RouteTableId=table, DestinationCidrBlock=cidr, NatGatewayId=nat)
    return vpc, first, second, nat, s3_range


def test_plan_weighs_routes_by_priority_and_keeps_the_nat_hourly_charge(mocked: None, state_dir: Path) -> None:
    """Items 10 and 12: a default route split in two is a way out; the endpoint's route takes S3 from it, but not
    from a static route as specific as one of S3's ranges; and the NAT's hourly charge is not said to go away."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc, first, second, nat, s3_range = _vpc_through_a_nat(ec2)
    config = make_test_config(state_dir, vpc_id=vpc, subnet_ids=(first, second))
    traffic = next(s for s in commands.inspect.plan(config, lambda message: None).steps if s.step == "S3 traffic today")
    lines = {line.split(":")[0]: line for line in traffic.details}
    moved, kept = lines[f"moves {first}"], lines[f"moves {second}"]
    assert f"leaves today through NAT gateway {nat} (route 0.0.0.0/1)" in moved
    assert "S3 traffic takes the endpoint instead" in moved
    assert "hourly charge goes on" in moved and "no charge)" not in moved
    assert "still go elsewhere by route priority" in kept
    assert f"{s3_range} → NAT gateway {nat} (route {s3_range}, static)" in kept


def test_every_nat_price_names_its_source_and_when_it_was_read() -> None:
    """Item 12: no figure without where it came from and a date; a region with no traced figure gets the page."""
    assert NAT_RATES
    for region, rate in NAT_RATES.items():
        assert re.search(r"\b20\d\d-\d\d-\d\d\b", rate.source), (region, rate.source)
        assert rate.source in nat_cost_line(region)
    assert "$" not in nat_cost_line("eu-west-1") and "https://aws.amazon.com/vpc/pricing/" in nat_cost_line("eu-west-1")


# --- item 8: each proof says which policy refused, and claims no more (on the sandbox) -------------------------

ACCOUNT = "123456789012"
EXEMPT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ci-deploy"  # --allow-principal: let in from outside the endpoint
READER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ci-reader"  # may list, not read versions
HERE = {"LocationConstraint": REGION}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0, behaviours=Behaviours()) as running:
        yield running


def _client(sandbox: Sandbox, service: str, region: str = REGION, **keys: str) -> Any:
    keys = keys or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client(service, region_name=region, endpoint_url=sandbox.endpoint_url,
                        config=Config(retries={"total_max_attempts": 1}), **keys)


@pytest.fixture(scope="module")
def stack(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    iam = _client(sandbox, "iam")
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]}
    for arn, actions in ((EXEMPT_ROLE, ["s3:*"]), (READER_ROLE, ["s3:ListBucket", "s3:ListBucketVersions"])):
        name = arn.rsplit("/", 1)[1]
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(RoleName=name, PolicyName="s3", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
    config = make_test_config(tmp_path_factory.mktemp("state"), endpoint_url=sandbox.endpoint_url,
                              allow_principals=[EXEMPT_ROLE])
    with _sandbox_credentials():
        commands.up.up(config, lambda message: None)
        yield {"config": config, **commands.inspect.recorded_outputs(config)}


@contextmanager
def _sandbox_credentials(**keys: str) -> Iterator[None]:
    """The operator's credentials for command calls: the sandbox's test keys, or an AssumeRole session's."""
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    os.environ.update({"AWS_ACCESS_KEY_ID": keys.get("key", "testing"),
                       "AWS_SECRET_ACCESS_KEY": keys.get("secret", "testing")})
    os.environ.pop("AWS_SESSION_TOKEN", None)
    if keys.get("token"):
        os.environ["AWS_SESSION_TOKEN"] = keys["token"]
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _as_role(sandbox: Sandbox, role_arn: str) -> dict[str, str]:
    answer = _client(sandbox, "sts").assume_role(RoleArn=role_arn, RoleSessionName="proof")["Credentials"]
    return {"key": answer["AccessKeyId"], "secret": answer["SecretAccessKey"], "token": answer["SessionToken"]}


def _message(call: Any) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    return str(refused.value.response["Error"]["Message"])


def test_the_sandbox_names_the_policy_that_refused(sandbox: Sandbox, stack: dict[str, Any]) -> None:
    """S3's same-account AccessDenied messages name the kind of policy that refused (S3 User Guide, "Troubleshoot
    access denied (403 Forbidden) errors"; IAM User Guide, "Troubleshooting access denied error messages")."""
    bucket = stack["bucket"]
    sealed = _message(lambda: _client(sandbox, "s3").list_objects_v2(Bucket=bucket))
    assert sealed == (f"User: arn:aws:iam::{ACCOUNT}:user/operator is not authorized to perform: s3:ListBucket on "
                      f'resource: "arn:aws:s3:::{bucket}" with an explicit deny in a resource-based policy')
    keys = _as_role(sandbox, READER_ROLE)
    reader = _client(sandbox, "s3", aws_access_key_id=keys["key"], aws_secret_access_key=keys["secret"],
                     aws_session_token=keys["token"])
    _client(sandbox, "s3").create_bucket(Bucket="proof-plain", CreateBucketConfiguration=HERE)
    try:
        own = _message(lambda: reader.get_object(Bucket="proof-plain", Key="k", VersionId="null"))
    finally:
        _client(sandbox, "s3").delete_bucket(Bucket="proof-plain")
    assert own.endswith("because no identity-based policy allows the s3:GetObjectVersion action"), own


def test_an_iam_users_s3_refusal_has_s3s_shape(sandbox: Sandbox, stack: dict[str, Any]) -> None:
    """With IAM enforcement on, an IAM user's S3 call its policies do not allow is refused in S3's message shape."""
    iam = _client(sandbox, "iam")
    iam.create_user(UserName="proof-nobody")
    key = iam.create_access_key(UserName="proof-nobody")["AccessKey"]
    nobody = _client(sandbox, "s3", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    sandbox.behaviours = Behaviours(enforce_iam=True)
    try:
        message = _message(lambda: nobody.list_objects_v2(Bucket=stack["bucket"]))
    finally:
        sandbox.behaviours = Behaviours()
    assert message == (f"User: arn:aws:iam::{ACCOUNT}:user/proof-nobody is not authorized to perform: s3:ListBucket on "
                       f'resource: "arn:aws:s3:::{stack["bucket"]}" because no identity-based policy allows the '
                       "s3:ListBucket action")


def test_the_other_bucket_proof_says_which_policy_refused(sandbox: Sandbox, stack: dict[str, Any]) -> None:
    """The default other bucket is one of the stack's region; its list is refused by the role's own policy, which
    says nothing about the endpoint; a bucket whose own policy takes the function's write is refused by the
    endpoint policy, which proves it; a named bucket of another region is refused before the function runs."""
    config, s3 = stack["config"], _client(sandbox, "s3")
    s3.create_bucket(Bucket="proof-plain", CreateBucketConfiguration=HERE)
    _client(sandbox, "s3", "us-east-1").create_bucket(Bucket="proof-elsewhere")  # us-east-1: no LocationConstraint
    s3.create_bucket(Bucket="proof-takes-writes", CreateBucketConfiguration=HERE)
    s3.put_bucket_policy(Bucket="proof-takes-writes", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": stack["role_arn"]}, "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::proof-takes-writes/*"}]}))
    try:
        with _sandbox_credentials():
            listed = commands.invoke.test_invoke(config, lambda message: None)
            assert listed.ok, listed
            assert listed.other_bucket == "proof-plain" and listed.other_refused is True
            assert listed.other_by == "identity-based policy"
            assert "the endpoint policy's verdict is not shown" in listed.other_detail

            written = commands.invoke.test_invoke(config, lambda message: None, other_bucket="proof-takes-writes")
            assert written.ok and written.other_refused is True and written.other_by == "VPC endpoint policy"
            assert "the endpoint keeps the function off other buckets" in written.other_detail

            with pytest.raises(UsageError) as elsewhere:
                commands.invoke.test_invoke(config, lambda message: None, other_bucket="proof-elsewhere")
            assert f"is in us-east-1, not {REGION}" in str(elsewhere.value)
    finally:
        s3.delete_bucket_policy(Bucket="proof-takes-writes")
        for name in ("proof-plain", "proof-takes-writes"):
            s3.delete_bucket(Bucket=name)
        _client(sandbox, "s3", "us-east-1").delete_bucket(Bucket="proof-elsewhere")


def test_the_outside_proof_counts_only_refusals_by_the_bucket_policy(sandbox: Sandbox, stack: dict[str, Any]) -> None:
    """An operator exempted by --allow-principal is told so, not that the seal does not hold; a read refused by
    the operator's own permissions under a seal that does not deny it proves nothing, and is not counted."""
    config, s3, bucket = stack["config"], _client(sandbox, "s3"), stack["bucket"]
    with _sandbox_credentials(**_as_role(sandbox, EXEMPT_ROLE)):
        exempt = commands.invoke.test_invoke(config, lambda message: None)
    assert exempt.ok and exempt.outside_refused is None, exempt
    assert f"the seal exempts you ({EXEMPT_ROLE})" in exempt.outside_detail

    sealed = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    weak = json.loads(sealed)
    weak["Statement"][0]["NotAction"] = [*weak["Statement"][0]["NotAction"], "s3:GetObjectVersion"]
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(weak))  # the seal no longer denies a versioned get
    try:
        with _sandbox_credentials(**_as_role(sandbox, READER_ROLE)):
            reader = commands.invoke.test_invoke(config, lambda message: None)
    finally:
        s3.put_bucket_policy(Bucket=bucket, Policy=sealed)
    assert reader.outside_refused is None, reader
    bucket_policy = "resource-based policy"
    assert reader.outside_by == {"ListObjectsV2": bucket_policy, "ListObjectVersions": bucket_policy,
                                 "GetObject?versionId=null": "identity-based policy"}
    assert ("GetObject?versionId=null (by the identity-based policy: no statement allows it) refused by something "
            "other than the bucket policy, which proves nothing about the seal") in reader.outside_detail


def test_a_static_route_taking_an_s3_range_to_a_transit_gateway_is_named(sandbox: Sandbox,
                                                                          stack: dict[str, Any]) -> None:
    """Item 10 end to end: a static route as specific as one of S3's ranges wins over the endpoint's route (VPC
    User Guide, Route priority); the sandbox sends the function's S3 traffic there (nothing answers: a timeout),
    test-invoke names the route's target, and verify the range it takes."""
    ec2 = _client(sandbox, "ec2")
    table = stack["route_table_ids"][0]
    prefix_list = ec2.describe_managed_prefix_lists(Filters=[
        {"Name": "prefix-list-name", "Values": [f"com.amazonaws.{REGION}.s3"]}])["PrefixLists"][0]["PrefixListId"]
    s3_range = ec2.get_managed_prefix_list_entries(PrefixListId=prefix_list)["Entries"][0]["Cidr"]
    gateway = ec2.create_transit_gateway()["TransitGateway"]["TransitGatewayId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock=s3_range, TransitGatewayId=gateway)
    try:
        with _sandbox_credentials():
            invoked = commands.invoke.test_invoke(stack["config"], lambda message: None)
            verified = commands.verify.verify(stack["config"], lambda message: None)
    finally:
        ec2.delete_route(RouteTableId=table, DestinationCidrBlock=s3_range)
    assert not invoked.ok and invoked.error_type in ("ConnectTimeoutError", "ReadTimeoutError"), invoked
    assert f"send S3's addresses to transit gateway {gateway} by route priority" in invoked.diagnosis
    broken = [check for check in verified.broken if check.name.endswith(": route to S3")]
    assert broken and f"{s3_range} → transit gateway {gateway} (route {s3_range}, static)" in broken[0].detail


# --- issue 26 item 9: the demo proves both directions ------------------------------------------------------------


def test_the_demo_proves_the_endpoint_keeps_the_function_off_a_decoy(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run([sys.executable, "-m", "s3gw.cli", "demo", "--output", "json"], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    invoked = document["test_invoke"]
    assert document["ok"] is True and document["left_in_aws"] == {}
    assert invoked["other_bucket"] == "s3gw-demo-decoy" and invoked["other_refused"] is True
    assert invoked["other_by"] == "VPC endpoint policy" and invoked["outside_refused"] is True


@pytest.mark.parametrize(("message", "named", "says"), [
    ('User: arn:aws:sts::1:assumed-role/r/f is not authorized to perform: s3:ListBucket on resource: "arn:aws:s3:::b" '
     "with an explicit deny in a resource-based policy", ("resource-based policy", True), "by the bucket policy"),
    ('User: arn:aws:sts::1:assumed-role/r/f is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::b/k" '
     "because no VPC endpoint policy allows the s3:GetObject action", ("VPC endpoint policy", False),
     "by the VPC endpoint policy"),
    ("User: arn:aws:sts::1:assumed-role/r/f is not authorized to perform: s3:PutObject on resource: "
     '"arn:aws:s3:::b/k" because no identity-based policy allows the s3:PutObject action',
     ("identity-based policy", False), "by the function's role"),
    ("User: arn:aws:sts::1:assumed-role/r/f is not authorized to perform: SNS:Publish on resource: arn:aws:sns:x "
     "with an explicit deny in a VPC endpoint policy transitively through a service control policy",
     ("VPC endpoint policy", True), "by the VPC endpoint policy"),
    ("Access Denied", None, "the bucket policy and the endpoint disagree"),
])
def test_a_failed_call_is_diagnosed_by_the_policy_s3_names(message: str, named: Any, says: str) -> None:
    """The function's own AccessDenied is diagnosed by the policy S3's message names (IAM User Guide's shapes)."""
    assert refused_by(message) == named
    assert says in diagnose("ClientError", f"An error occurred (AccessDenied) when calling X: {message}")[0]
