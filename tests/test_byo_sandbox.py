"""Issue 15 on the sandbox: bring your own VPC (with a NAT route) and bucket (with a policy and objects).

`up --vpc-id … --bucket … --adopt` seals the bucket through an endpoint on the VPC's own route tables; `down`
leaves the VPC, subnets, NAT route, bucket, objects and original policy exactly as they were. A subnet that
reaches S3 through the NAT is refused (AccessDenied, no aws:SourceVpce), and verify names it with its cost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

REGION = "us-east-1"
ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's s3gw, whatever is installed


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    server = subprocess.Popen([sys.executable, "-m", "s3gw.sandbox", "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, env=ENV)
    try:
        line = server.stdout.readline() if server.stdout else ""
        assert "AWS_ENDPOINT_URL=" in line, line
        yield line.split("AWS_ENDPOINT_URL=")[1].split()[0]
    finally:
        server.terminate()
        server.wait(timeout=20)


def s3gw(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from s3gw.cli import main; main()", *args], capture_output=True,
                          text=True, env=env, timeout=180, stdin=subprocess.DEVNULL)


def client(service: str, url: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=url)


def hand_made(url: str, name: str) -> dict[str, Any]:
    """What a user already has: a VPC with a public subnet (IGW), a NAT gateway, two private subnets whose table
    sends 0.0.0.0/0 to the NAT; a bucket with objects and a two-statement policy, Block Public Access on (the S3
    default for new buckets since April 2023)."""
    ec2, s3 = client("ec2", url), client("s3", url)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.0.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    public_table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=public_table, SubnetId=public)
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=allocation)["NatGateway"]["NatGatewayId"]
    private_table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=private_table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    private = []
    for index, zone in ((1, "a"), (2, "b")):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{index}.0/24", AvailabilityZone=f"{REGION}{zone}")
        private.append(subnet["Subnet"]["SubnetId"])
        ec2.associate_route_table(RouteTableId=private_table, SubnetId=private[-1])
    bucket = f"{name}-data"
    s3.create_bucket(Bucket=bucket)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    for key in ("reports/2026-11.csv", "readme.txt"):
        s3.put_object(Bucket=bucket, Key=key, Body=f"data of {key}".encode())
    policy = {"Version": "2012-10-17", "Id": "team-policy", "Statement": [
        {"Sid": "AnalystsRead", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/analyst"},
         "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"},
        {"Sid": "NeverDeleteTheBucket", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket",
         "Resource": f"arn:aws:s3:::{bucket}"},
    ]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    return {"vpc": vpc, "public": public, "private": private, "nat": nat, "igw": igw, "bucket": bucket,
            "private_table": private_table, "public_table": public_table, "policy": policy}


def snapshot(url: str, made: dict[str, Any]) -> dict[str, Any]:
    """Everything of the user's that s3gw must leave as it was."""
    ec2, s3 = client("ec2", url), client("s3", url)
    vpc = [{"Name": "vpc-id", "Values": [made["vpc"]]}]
    tables = ec2.describe_route_tables(Filters=vpc)["RouteTables"]
    objects = s3.list_objects_v2(Bucket=made["bucket"]).get("Contents", [])
    return {
        "vpc": ec2.describe_vpcs(VpcIds=[made["vpc"]])["Vpcs"],
        "subnets": sorted((s["SubnetId"], s["CidrBlock"]) for s in ec2.describe_subnets(Filters=vpc)["Subnets"]),
        "routes": sorted((t["RouteTableId"], json.dumps(sorted(
            (r.get("DestinationCidrBlock") or r.get("DestinationPrefixListId"), r.get("GatewayId") or
             r.get("NatGatewayId")) for r in t["Routes"]))) for t in tables),
        "associations": sorted((a.get("SubnetId") or "main", a["RouteTableId"]) for t in tables
                               for a in t.get("Associations", [])),
        "nat": [(n["NatGatewayId"], n["State"]) for n in ec2.describe_nat_gateways(
            NatGatewayIds=[made["nat"]])["NatGateways"]],
        "endpoints": [e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints(Filters=vpc)["VpcEndpoints"]
                      if e["State"].lower() not in ("deleted", "deleting")],
        "security_groups": sorted(g["GroupId"] for g in ec2.describe_security_groups(Filters=vpc)["SecurityGroups"]),
        "objects": sorted((o["Key"], o["ETag"]) for o in objects),
        "policy": json.loads(s3.get_bucket_policy(Bucket=made["bucket"])["Policy"]),
        "buckets": sorted(b["Name"] for b in s3.list_buckets()["Buckets"]),
    }


@pytest.fixture
def byo(sandbox_url: str, tmp_path: Path) -> dict[str, Any]:
    name = "byo" + os.urandom(3).hex()
    made = hand_made(sandbox_url, name)
    env = {**ENV, "AWS_ENDPOINT_URL": sandbox_url, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
           "S3GW_STACK": name, "S3GW_STATE_DIR": str(tmp_path), "CI": "true", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing"}
    return {**made, "env": env, "url": sandbox_url}


def test_adopted_vpc_and_bucket_are_sealed_then_left_exactly_as_they_were(byo: dict[str, Any]) -> None:
    env, url = byo["env"], byo["url"]
    before = snapshot(url, byo)

    plan = s3gw("plan", "--vpc-id", byo["vpc"], "--bucket", byo["bucket"], "--adopt", env=env)
    assert plan.returncode == 0, plan.stderr
    for subnet in byo["private"]:
        assert f"moves {subnet}: S3 traffic leaves today through NAT gateway {byo['nat']}" in plan.stdout
    assert "$0.045/GB" in plan.stdout and "(adopted)" in plan.stdout
    assert byo["public"] not in plan.stdout  # its table routes 0.0.0.0/0 to the IGW: not a private subnet
    assert "warning" not in plan.stdout  # both private subnets are the function's, and nothing else is in them

    made = s3gw("up", "--vpc-id", byo["vpc"], "--bucket", byo["bucket"], "--adopt", env=env)
    assert made.returncode == 0, made.stderr
    outputs = json.loads(s3gw("outputs", "--output", "json", env=env).stdout)
    assert outputs["vpc_id"] == byo["vpc"] and sorted(outputs["subnet_ids"]) == sorted(byo["private"])
    assert outputs["route_table_ids"] == [byo["private_table"]]
    policy = json.loads(client("s3", url).get_bucket_policy(Bucket=byo["bucket"])["Policy"])
    assert policy["Statement"][:2] == byo["policy"]["Statement"] and policy["Id"] == "team-policy"
    assert {s["Sid"] for s in policy["Statement"][2:]} == {"S3gwDenyUnlessThroughEndpoint", "S3gwDenyWithoutTLS"}

    status = s3gw("status", env=env)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "(adopted)" in status.stdout

    invoked = s3gw("test-invoke", "--output", "json", env=env)
    assert invoked.returncode == 0, invoked.stdout + invoked.stderr
    report = json.loads(invoked.stdout)
    assert sorted(o["key"] for o in report["objects"]) == ["readme.txt", "reports/2026-11.csv"]
    assert report["outside_refused"] is True
    verified = s3gw("verify", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    gone = s3gw("down", "--yes", env=env)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert snapshot(url, byo) == before
    assert s3gw("status", env=env).returncode == 2  # no state left: everything s3gw made is gone
    assert not client("lambda", url).list_functions()["Functions"] or all(
        f["FunctionName"] != f"{env['S3GW_STACK']}-lister" for f in client("lambda", url).list_functions()["Functions"])
    roles = [r["RoleName"] for r in client("iam", url).list_roles()["Roles"]]
    assert f"{env['S3GW_STACK']}-lambda-role" not in roles


def test_a_subnet_through_the_nat_is_refused_and_named_with_its_cost(byo: dict[str, Any]) -> None:
    env, url = byo["env"], byo["url"]
    first = byo["private"][0]
    made = s3gw("up", "--vpc-id", byo["vpc"], "--subnet-ids", first, "--bucket", byo["bucket"], "--adopt", env=env)
    assert made.returncode == 0, made.stderr
    ec2 = client("ec2", url)
    # The other private subnet gets a table of its own, still 0.0.0.0/0 -> NAT, not on the endpoint; the function
    # is given it too (as a user widening the function's subnets by hand would).
    nat_table = ec2.create_route_table(VpcId=byo["vpc"])["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=nat_table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=byo["nat"])
    association = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [byo["private"][1]]}])
    old = next(a for a in association["RouteTables"][0]["Associations"] if a.get("SubnetId") == byo["private"][1])
    ec2.replace_route_table_association(AssociationId=old["RouteTableAssociationId"], RouteTableId=nat_table)
    function = f"{env['S3GW_STACK']}-lister"
    lam = client("lambda", url)
    groups = lam.get_function_configuration(FunctionName=function)["VpcConfig"]["SecurityGroupIds"]
    lam.update_function_configuration(FunctionName=function,
                                      VpcConfig={"SubnetIds": byo["private"], "SecurityGroupIds": groups})

    invoked = s3gw("test-invoke", "--output", "json", env=env)
    assert invoked.returncode == 3, invoked.stdout + invoked.stderr
    report = json.loads(invoked.stdout)
    assert "AccessDenied" in report["error"], report  # refused by the seal, not a timeout
    assert f"{byo['private'][1]} ({nat_table} → {byo['nat']})" in report["diagnosis"]
    assert "aws:SourceVpce" in report["diagnosis"] and nat_table in report["fix"]

    verified = s3gw("verify", "--function", function, "--bucket", byo["bucket"], env=env)
    assert verified.returncode == 3, verified.stdout + verified.stderr
    text = verified.stdout + verified.stderr
    assert f"S3 traffic from {byo['private'][1]} leaves through NAT gateway {byo['nat']}" in text
    assert "$0.045/GB" in text and f"--add-route-table-ids {nat_table}" in text

    gone = s3gw("down", "--yes", env=env)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert json.loads(client("s3", url).get_bucket_policy(Bucket=byo["bucket"])["Policy"]) == byo["policy"]


def test_plan_names_who_else_a_new_endpoint_route_would_capture(byo: dict[str, Any]) -> None:
    """One subnet given to the function, its table shared with the other private subnet, which holds another
    workload's network interface: plan names both, before anything changes."""
    env, url = byo["env"], byo["url"]
    first, second = byo["private"]
    ec2 = client("ec2", url)
    other = ec2.create_network_interface(SubnetId=first, Description="a database's interface")["NetworkInterface"]
    try:
        plan = s3gw("plan", "--vpc-id", byo["vpc"], "--subnet-ids", first, "--bucket", byo["bucket"], "--adopt",
                    env=env)
        assert plan.returncode == 0, plan.stdout + plan.stderr
        text = " ".join(plan.stdout.split())  # the renderer may wrap long lines
        assert f"warning: {byo['private_table']} is also the route table of {second}, which the function" in text
        assert (f"warning: {first} holds 1 network interface of other workloads "
                f"({other['NetworkInterfaceId']})") in text
        assert f"any bucket but {byo['bucket']} are refused" in text

        # `up`, which attaches the endpoint, says the same before it does; a re-run (the endpoint made) does not.
        made = s3gw("up", "--vpc-id", byo["vpc"], "--subnet-ids", first, "--bucket", byo["bucket"], "--adopt",
                    env=env)
        assert made.returncode == 0, made.stdout + made.stderr
        said = " ".join(made.stderr.split())
        assert f"warning: {byo['private_table']} is also the route table of {second}" in said, made.stderr
        assert f"warning: {first} holds 1 network interface of other workloads" in said, made.stderr
        again = s3gw("up", env=env)
        assert again.returncode == 0 and "warning:" not in again.stderr, again.stderr
        assert s3gw("down", "--yes", env=env).returncode == 0
    finally:
        ec2.delete_network_interface(NetworkInterfaceId=other["NetworkInterfaceId"])
