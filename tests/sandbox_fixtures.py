"""Helpers for the sandbox tests: clients of a running sandbox, the s3gw stack built with boto3, zips."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from click.testing import CliRunner, Result

from s3gw.cli import cli
from s3gw.package import build_zip
from s3gw.policy.documents import LAMBDA_VPC_POLICY_ARN, bucket_policy, lambda_trust_policy, role_bucket_policy

REGION = "eu-west-1"
S3_SERVICE = f"com.amazonaws.{REGION}.s3"
KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "CI": "true"}


def s3gw_on(endpoint_url: str, state_dir: Any, stack: str, *args: str, region: str = REGION) -> Result:
    """The s3gw command line, in this process, against a running sandbox."""
    return CliRunner().invoke(cli, [*args, "--stack", stack, "--endpoint-url", endpoint_url, "--region", region,
                                    "--state-dir", str(state_dir)], env=KEYS)


@dataclass(frozen=True)
class Clients:
    ec2: Any
    s3: Any
    iam: Any
    lambda_: Any


def clients(endpoint_url: str) -> Clients:
    config = Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=60)
    options = dict(
        region_name=REGION, endpoint_url=endpoint_url, aws_access_key_id="testing",
        aws_secret_access_key="testing", config=config,
    )
    return Clients(*(boto3.client(service, **options) for service in ("ec2", "s3", "iam", "lambda")))


@dataclass(frozen=True)
class Stack:
    vpc_id: str
    subnet_ids: list[str]
    route_table_ids: list[str]
    endpoint_id: str
    prefix_list_id: str
    security_group_id: str
    bucket: str
    role_name: str
    role_arn: str
    function_name: str


def build_network(aws: Clients, name: str) -> tuple[str, list[str], list[str], str, str, str]:
    """VPC, two subnets each with its own table, the S3 gateway endpoint on both, SG: egress 443 to S3 only."""
    ec2 = aws.ec2
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet_ids, table_ids = [], []
    for index, zone in enumerate(("a", "b"), start=1):
        subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.0.{index}.0/24", AvailabilityZone=f"{REGION}{zone}")
        subnet_ids.append(subnet["Subnet"]["SubnetId"])
        table_ids.append(ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"])
        ec2.associate_route_table(RouteTableId=table_ids[-1], SubnetId=subnet_ids[-1])
    endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc_id, ServiceName=S3_SERVICE, VpcEndpointType="Gateway", RouteTableIds=table_ids
    )["VpcEndpoint"]["VpcEndpointId"]
    prefix_list_id = ec2.describe_managed_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": [S3_SERVICE]}]
    )["PrefixLists"][0]["PrefixListId"]
    group_id = ec2.create_security_group(GroupName=f"{name}-fn", Description="function", VpcId=vpc_id)["GroupId"]
    ec2.revoke_security_group_egress(
        GroupId=group_id, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=[https_to(prefix_list_id)])
    return vpc_id, subnet_ids, table_ids, endpoint, prefix_list_id, group_id


def https_to(prefix_list_id: str) -> dict[str, Any]:
    return {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": prefix_list_id}]}


def create_role(aws: Clients, name: str, bucket: str) -> str:
    arn = aws.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(
        lambda_trust_policy("123456789012")))["Role"]["Arn"]
    aws.iam.attach_role_policy(RoleName=name, PolicyArn=LAMBDA_VPC_POLICY_ARN)
    aws.iam.put_role_policy(RoleName=name, PolicyName="bucket", PolicyDocument=json.dumps(role_bucket_policy(bucket)))
    return arn


def build_stack(aws: Clients, name: str = "t") -> Stack:
    vpc_id, subnet_ids, table_ids, endpoint_id, prefix_list_id, group_id = build_network(aws, name)
    bucket = f"{name}-bucket"
    aws.s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    aws.s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(bucket_policy(bucket, endpoint_id)))
    role_name = f"{name}-role"
    role_arn = create_role(aws, role_name, bucket)
    function_name = f"{name}-fn"
    aws.lambda_.create_function(
        FunctionName=function_name, Runtime="python3.12", Role=role_arn, Handler="handler.handler",
        Code={"ZipFile": build_zip()}, Timeout=15, MemorySize=128,
        Environment={"Variables": {"BUCKET_NAME": bucket}},
        VpcConfig={"SubnetIds": subnet_ids, "SecurityGroupIds": [group_id]},
    )
    return Stack(vpc_id, subnet_ids, table_ids, endpoint_id, prefix_list_id, group_id, bucket, role_name, role_arn,
                 function_name)


def make_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@dataclass(frozen=True)
class Invocation:
    status: int
    function_error: str | None
    payload: Any
    log: str
    version: str | None


def invoke(aws: Clients, function_name: str, event: Any = None, **options: Any) -> Invocation:
    answer = aws.lambda_.invoke(
        FunctionName=function_name, Payload=json.dumps(event if event is not None else {}), LogType="Tail", **options
    )
    raw = answer["Payload"].read()
    return Invocation(
        status=answer["StatusCode"],
        function_error=answer.get("FunctionError"),
        payload=json.loads(raw) if raw else None,
        log=base64.b64decode(answer.get("LogResult", "")).decode(),
        version=answer.get("ExecutedVersion"),
    )
