"""The must-show test: the whole lifecycle as an IAM user whose ONLY policy is `s3gw permissions`' output, on the
sandbox with IAM enforcement on (every EC2, S3, IAM, STS and Lambda call checked against the user's policy); and
with one permission removed, one clear line naming it, exit 1, and nothing orphaned.

In-process (sandbox thread + click's runner) to stay lean: the real handler still runs in a subprocess."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from s3gw.cli import cli
from s3gw.permissions import Target, policy_document, without
from s3gw.policy.documents import endpoint_policy
from s3gw.sandbox import Behaviours, Sandbox

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(behaviours=Behaviours(enforce_iam=True)) as running:
        yield running


def admin(sandbox: Sandbox, service: str, region: str = REGION) -> Any:
    return boto3.client(service, region_name=region, endpoint_url=sandbox.endpoint_url,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def operator(sandbox: Sandbox, name: str, policy: dict[str, Any], region: str = REGION) -> dict[str, str]:
    """An IAM user with exactly this one managed policy; its keys as environment variables."""
    iam = admin(sandbox, "iam", region)
    iam.create_user(UserName=name)
    arn = iam.create_policy(PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=name, PolicyArn=arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


def run(sandbox: Sandbox, env: dict[str, str], state_dir: Path, stack: str, *args: str, region: str = REGION) -> Result:
    return CliRunner().invoke(cli, [*args, "--stack", stack, "--endpoint-url", sandbox.endpoint_url,
                                    "--region", region, "--state-dir", str(state_dir)], env={**env, "CI": "true"})


def printed_policy(stack: str, state_dir: Path, region: str = REGION) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["permissions", "--output", "json", "--account", ACCOUNT, "--stack", stack,
                                      "--region", region, "--state-dir", str(state_dir)])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def tagged(sandbox: Sandbox, stack: str) -> list[str]:
    """Everything in the sandbox carrying the stack's tag (as the account's administrator sees it)."""
    ec2, s3 = admin(sandbox, "ec2"), admin(sandbox, "s3")
    stack_filter = [{"Name": "tag:s3gw:stack", "Values": [stack]}]
    found = [v["VpcId"] for v in ec2.describe_vpcs(Filters=stack_filter)["Vpcs"]]
    found += [s["SubnetId"] for s in ec2.describe_subnets(Filters=stack_filter)["Subnets"]]
    found += [g["GroupId"] for g in ec2.describe_security_groups(Filters=stack_filter)["SecurityGroups"]]
    found += [r["RoleName"] for r in admin(sandbox, "iam").list_roles()["Roles"] if r["RoleName"].startswith(stack)]
    found += [f["FunctionName"] for f in admin(sandbox, "lambda").list_functions()["Functions"]
              if f["FunctionName"].startswith(stack)]
    found += [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith(stack)]
    return found


def test_the_whole_lifecycle_needs_nothing_beyond_the_printed_policy(sandbox: Sandbox, tmp_path: Path) -> None:
    env = operator(sandbox, "least", printed_policy("lp", tmp_path))
    for command in (["up"], ["status"], ["verify"], ["test-invoke", "--put", "a.txt"], ["up"],
                    ["down", "--yes"], ["down", "--yes", "--from-tags"]):
        result = run(sandbox, env, tmp_path, "lp", *command)
        assert result.exit_code == 0, (command, result.stdout, result.stderr)
        if command[0] == "test-invoke":
            assert "a.txt" in result.stdout and "the seal holds" in result.stdout, result.stdout
    assert tagged(sandbox, "lp") == []


@pytest.mark.parametrize(("region", "partition"), [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")])
def test_china_and_govcloud_every_arn_and_policy_in_the_partition(sandbox: Sandbox, tmp_path: Path, region: str,
                                                                 partition: str) -> None:
    """The printed policy (in the partition) is enough, verify passes (its ARNs follow the partition) and the
    seal holds: a policy written for arn:aws: would match nothing there and seal nothing."""
    stack = "cn" if partition == "aws-cn" else "gov"
    env = operator(sandbox, f"op-{stack}", printed_policy(stack, tmp_path, region), region)
    assert run(sandbox, env, tmp_path, stack, "up", "--azs", "2", region=region).exit_code == 0
    outputs = json.loads((tmp_path / f"{stack}.json").read_text())["resources"]
    assert outputs["role_arn"].startswith(f"arn:{partition}:iam::")
    assert outputs["function_arn"].startswith(f"arn:{partition}:lambda:{region}:")
    seal = json.loads(admin(sandbox, "s3", region).get_bucket_policy(Bucket=outputs["bucket"])["Policy"])
    assert all(r.startswith(f"arn:{partition}:s3:::") for s in seal["Statement"] for r in s["Resource"])
    for command in (["verify"], ["test-invoke"], ["down", "--yes"]):
        result = run(sandbox, env, tmp_path, stack, *command, region=region)
        assert result.exit_code == 0, (command, result.stdout, result.stderr)
        if command == ["test-invoke"]:
            assert "the seal holds" in result.stdout


def test_the_sandbox_refuses_what_the_policy_does_not_allow(sandbox: Sandbox, tmp_path: Path) -> None:
    """Without this the test above proves nothing: an empty policy is refused at the first call."""
    env = operator(sandbox, "nobody", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ec2:DescribeAvailabilityZones", "Resource": "*"}]})
    result = run(sandbox, env, tmp_path, "np", "up")
    assert result.exit_code == 1
    # The first refusal of the run's first round (the account and the region's reads, open_context).
    assert "the operator may not ec2:DescribeManagedPrefixLists" in result.stderr, result.stderr
    assert tagged(sandbox, "np") == []


def _target(stack: str) -> Target:
    return Target("aws", REGION, ACCOUNT, stack, f"{stack}-{ACCOUNT}-{REGION}", f"{stack}-lambda-role",
                  f"{stack}-lister")


def test_without_create_function_up_names_it_and_down_leaves_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    env = operator(sandbox, "nofn", policy_document(_target("nf"), without("lambda:CreateFunction")))
    result = run(sandbox, env, tmp_path, "nf", "up")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert "lambda:CreateFunction" in lines[-1] and "s3gw permissions" in lines[-1], result.stderr
    recorded = json.loads((tmp_path / "nf.json").read_text())["resources"]
    assert recorded["vpc_id"] and recorded["role_name"] and recorded["bucket"]  # all made so far is recorded
    gone = run(sandbox, env, tmp_path, "nf", "down", "--yes")
    assert gone.exit_code == 0, gone.stderr
    assert tagged(sandbox, "nf") == []


def test_without_delete_vpc_down_names_it_and_keeps_the_vpc_recorded(sandbox: Sandbox, tmp_path: Path) -> None:
    env = operator(sandbox, "novpcdel", policy_document(_target("nd"), without("ec2:DeleteVpc")))
    assert run(sandbox, env, tmp_path, "nd", "up").exit_code == 0
    result = run(sandbox, env, tmp_path, "nd", "down", "--yes")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert any("the operator may not ec2:DeleteVpc" in line for line in errors), result.stderr
    recorded = json.loads((tmp_path / "nd.json").read_text())["resources"]
    assert list(recorded) == ["vpc_id"]  # the one thing left is still recorded: `down` can finish it
    assert tagged(sandbox, "nd") == [recorded["vpc_id"]]
    admin(sandbox, "ec2").delete_vpc(VpcId=recorded["vpc_id"])


def test_without_list_tags_get_function_has_no_tags_so_the_function_is_not_recognised(sandbox: Sandbox,
                                                                                         tmp_path: Path) -> None:
    """botocore's GetFunction model: "Lambda returns tag data only if you have explicit allow permissions for
    lambda:ListTags". Without it a second `up` would call the stack's own function someone else's."""
    env = operator(sandbox, "notags", policy_document(_target("nt"), without("lambda:ListTags")))
    assert run(sandbox, env, tmp_path, "nt", "up").exit_code == 0
    client = boto3.client("lambda", region_name=REGION, endpoint_url=sandbox.endpoint_url,
                          aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    assert "Tags" not in client.get_function(FunctionName="nt-lister")
    assert admin(sandbox, "lambda").get_function(FunctionName="nt-lister")["Tags"] == {"s3gw:stack": "nt"}
    again = run(sandbox, env, tmp_path, "nt", "up")
    assert again.exit_code == 1 and "is not this stack's" in again.stderr
    admin_env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    assert run(sandbox, admin_env, tmp_path, "nt", "down", "--yes").exit_code == 0


def test_with_the_state_in_s3_the_printed_policy_is_enough(sandbox: Sandbox, tmp_path: Path) -> None:
    state = "s3://pe-state/team"
    printed = CliRunner().invoke(cli, ["permissions", "--output", "json", "--account", ACCOUNT, "--stack", "ps",
                                       "--region", REGION, "--state", state])
    assert printed.exit_code == 0, printed.stderr
    env = operator(sandbox, "stateop", json.loads(printed.stdout))
    made = CliRunner().invoke(cli, ["state", "init", state, "--region", REGION, "--endpoint-url",
                                    sandbox.endpoint_url], env=env)  # the bucket is made with the printed policy too
    assert made.exit_code == 0, made.stderr
    for command in (["up", "--azs", "1"], ["status"], ["down", "--yes"]):
        result = run(sandbox, env, tmp_path, "ps", *command, "--state", state)
        assert result.exit_code == 0, (command, result.stderr)
    assert tagged(sandbox, "ps") == []


def _users_network(sandbox: Sandbox, name: str) -> dict[str, Any]:
    """What a user already has, none of it tagged by s3gw: a VPC with two private subnets on one route table, an S3
    gateway endpoint serving another table only (so that s3gw adopts it and adds the subnets' table: ModifyVpcEndpoint
    on an endpoint and a table of the user's), and a bucket with data and a policy of its own."""
    ec2, s3 = admin(sandbox, "ec2"), admin(sandbox, "s3")
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    for attribute in ("EnableDnsSupport", "EnableDnsHostnames"):
        ec2.modify_vpc_attribute(VpcId=vpc, **{attribute: {"Value": True}})
    private, other = (ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"] for _ in range(2))
    subnets = []
    for index, zone in ((1, "a"), (2, "b")):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.7.{index}.0/24", AvailabilityZone=f"{REGION}{zone}")
        subnets.append(subnet["Subnet"]["SubnetId"])
        ec2.associate_route_table(RouteTableId=private, SubnetId=subnets[-1])
    bucket = f"{name}-data-{ACCOUNT}"
    # their endpoint is already limited to the bucket (else verify rightly calls it an exfiltration path)
    endpoint = ec2.create_vpc_endpoint(
        VpcEndpointType="Gateway", VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3", RouteTableIds=[other],
        PolicyDocument=json.dumps(endpoint_policy(bucket, ACCOUNT)))["VpcEndpoint"]["VpcEndpointId"]
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=bucket, Key="keep.txt", Body=b"the user's data")
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={  # S3's default since April 2023
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "TheirOwn", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket",
         "Resource": f"arn:aws:s3:::{bucket}"}]})
    s3.put_bucket_policy(Bucket=bucket, Policy=policy)
    return {"vpc": vpc, "table": private, "endpoint": endpoint, "bucket": bucket, "policy": policy}


def test_a_vpc_and_bucket_the_user_brought_need_nothing_beyond_the_printed_policy(sandbox: Sandbox,
                                                                                   tmp_path: Path) -> None:
    """`s3gw permissions --vpc-id … --adopt` is enough for up, verify and down on them: the sandbox checks every
    resource each EC2 action authorises (ModifyVpcEndpoint: the endpoint and each route table), so a policy that
    grants it only on resources tagged s3gw:stack is refused here, as on AWS."""
    mine = _users_network(sandbox, "byo")
    printed = CliRunner().invoke(cli, ["permissions", "--output", "json", "--account", ACCOUNT, "--stack", "by",
                                       "--region", REGION, "--vpc-id", mine["vpc"], "--bucket", mine["bucket"],
                                       "--adopt", "--state-dir", str(tmp_path)])
    assert printed.exit_code == 0, printed.stderr
    env = operator(sandbox, "byo-op", json.loads(printed.stdout))
    for command in (["up", "--vpc-id", mine["vpc"], "--bucket", mine["bucket"], "--adopt"], ["verify"],
                    ["down", "--yes"]):
        result = run(sandbox, env, tmp_path, "by", *command)
        assert result.exit_code == 0, (command, result.stdout, result.stderr)
    ec2, s3 = admin(sandbox, "ec2"), admin(sandbox, "s3")
    endpoint = ec2.describe_vpc_endpoints(VpcEndpointIds=[mine["endpoint"]])["VpcEndpoints"][0]
    assert mine["table"] not in endpoint["RouteTableIds"]  # down took back what up added, and only that
    assert s3.get_bucket_policy(Bucket=mine["bucket"])["Policy"] == mine["policy"]
    assert s3.get_object(Bucket=mine["bucket"], Key="keep.txt")["Body"].read() == b"the user's data"


def test_the_tag_scoped_policy_is_refused_on_the_users_route_table(sandbox: Sandbox, tmp_path: Path) -> None:
    """Without the --vpc-id statement (the policy as printed before), up stops at ModifyVpcEndpoint on the user's
    untagged endpoint and route table: the sandbox judges every resource the action authorises."""
    mine = _users_network(sandbox, "tag")
    target = Target("aws", REGION, ACCOUNT, "tg", mine["bucket"], "tg-lambda-role", "tg-lister")  # no vpc_id
    env = operator(sandbox, "tag-op", policy_document(target))
    result = run(sandbox, env, tmp_path, "tg", "up", "--vpc-id", mine["vpc"], "--bucket", mine["bucket"], "--adopt")
    assert result.exit_code == 1
    assert "the operator may not ec2:ModifyVpcEndpoint" in result.stderr, result.stderr
    admin_env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    assert run(sandbox, admin_env, tmp_path, "tg", "down", "--yes").exit_code == 0


def test_verify_of_a_setup_s3gw_did_not_make_needs_nothing_beyond_permissions_function(sandbox: Sandbox,
                                                                                        tmp_path: Path) -> None:
    """`verify --function F --bucket B` reads F, its role and managed policies, and B: `s3gw permissions --function F
    --bucket B` grants those (the role is not known offline: the account's roles, read only)."""
    admin_env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    made = tmp_path / "made"
    assert run(sandbox, admin_env, made, "vf", "up", "--azs", "1").exit_code == 0
    recorded = json.loads((made / "vf.json").read_text())["resources"]
    setup = ["--function", recorded["function_name"], "--bucket", recorded["bucket"]]
    printed = CliRunner().invoke(cli, ["permissions", "--output", "json", "--account", ACCOUNT, "--stack", "auditor",
                                       "--region", REGION, "--state-dir", str(tmp_path), *setup])
    assert printed.exit_code == 0, printed.stderr
    env = operator(sandbox, "auditor", json.loads(printed.stdout))
    result = run(sandbox, env, tmp_path / "audit", "auditor", "verify", *setup)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert run(sandbox, admin_env, made, "vf", "down", "--yes").exit_code == 0


def test_without_tag_role_the_tagged_create_role_is_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    """CreateRole with Tags is authorised as iam:CreateRole AND iam:TagRole: the sandbox checks both."""
    env = operator(sandbox, "notagrole", policy_document(_target("tr"), without("iam:TagRole")))
    result = run(sandbox, env, tmp_path, "tr", "up", "--azs", "1")
    assert result.exit_code == 1
    assert "the operator may not iam:TagRole" in result.stderr, result.stderr
    admin_env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    assert run(sandbox, admin_env, tmp_path, "tr", "down", "--yes").exit_code == 0
