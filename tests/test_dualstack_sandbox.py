"""Issue 23 on the sandbox: the private path over IPv6 too (`up --ip-address-type dualstack`).

The stack's VPC gets an Amazon-provided IPv6 block, each subnet a /64, the S3 gateway endpoint IpAddressType
dualstack and the group 443 to both S3 prefix lists; the lister takes S3's dual-stack endpoint over IPv6 through the
endpoint. An endpoint switched back to ipv4 by hand drops those calls (test-invoke exit 3 naming its address type);
`up` repairs it. A dual-stack VPC the user brings, whose table sends ::/0 to an egress-only internet gateway: plan
names the subnet and that exit, and after `up` the IPv6 calls take the endpoint."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

REGION = "eu-west-1"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "s3gw.sandbox", "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, env=env)
    try:
        line = server.stdout.readline() if server.stdout else ""
        assert "AWS_ENDPOINT_URL=" in line, line
        yield line.split("AWS_ENDPOINT_URL=")[1].split()[0]
    finally:
        server.terminate()
        server.wait(timeout=20)


def client(service: str, url: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=url, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


@pytest.fixture
def env(sandbox_url: str, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "AWS_ENDPOINT_URL": sandbox_url, "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION, "S3GW_STACK": "ds" + os.urandom(3).hex(), "S3GW_STATE_DIR": str(tmp_path),
            "CI": "true", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def s3gw(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from s3gw.cli import main; main()", *args], capture_output=True,
                          text=True, env=env, timeout=180, stdin=subprocess.DEVNULL)


def invoke(env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    done = s3gw("test-invoke", "--output", "json", env=env)
    return done.returncode, json.loads(done.stdout)


def test_dualstack_stack_reaches_s3_over_ipv6_through_the_endpoint(env: dict[str, str], sandbox_url: str) -> None:
    made = s3gw("up", "--ip-address-type", "dualstack", env=env)
    assert made.returncode == 0, made.stderr
    outputs = json.loads(s3gw("outputs", "--output", "json", env=env).stdout)
    ec2 = client("ec2", sandbox_url)
    state = json.loads((Path(env["S3GW_STATE_DIR"]) / f"{env['S3GW_STACK']}.json").read_text())
    assert state["settings"]["ip_address_type"] == "dualstack"
    vpc = ec2.describe_vpcs(VpcIds=[outputs["vpc_id"]])["Vpcs"][0]
    block = ipaddress.ip_network(vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"])
    for subnet in ec2.describe_subnets(SubnetIds=outputs["subnet_ids"])["Subnets"]:
        ipv6 = ipaddress.ip_network(subnet["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"])
        assert ipv6.prefixlen == 64 and ipv6.subnet_of(block)  # type: ignore[arg-type]
        assert subnet["AssignIpv6AddressOnCreation"] is False and subnet["MapPublicIpOnLaunch"] is False
    endpoint_id = outputs["endpoint_id"]
    endpoint = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]
    assert endpoint["IpAddressType"] == "dualstack"
    lists = {p["AddressFamily"]: p["PrefixListId"] for p in ec2.describe_managed_prefix_lists(Filters=[
        {"Name": "prefix-list-name", "Values": [f"com.amazonaws.{REGION}.s3", f"com.amazonaws.{REGION}.ipv6.s3"]}])[
        "PrefixLists"]}
    group = ec2.describe_security_groups(GroupIds=[outputs["security_group_id"]])["SecurityGroups"][0]
    assert sorted(p["PrefixListId"] for rule in group["IpPermissionsEgress"] for p in rule["PrefixListIds"]) == \
        sorted([lists["IPv4"], lists["IPv6"]])
    for table in ec2.describe_route_tables(RouteTableIds=outputs["route_table_ids"])["RouteTables"]:
        routed = {r.get("DestinationPrefixListId"): r.get("GatewayId") for r in table["Routes"]}
        assert routed[lists["IPv6"]] == endpoint_id and routed[lists["IPv4"]] == endpoint_id

    code, report = invoke(env)
    assert code == 0, report
    assert report["family"] == "ipv6" and report["outside_refused"] is True
    text = s3gw("test-invoke", env=env).stdout
    assert "listed" in text and "over IPv6 through the endpoint" in text
    verified = s3gw("verify", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "endpoint IP address type" in verified.stdout and "IPv6 route to S3" in verified.stdout

    # By hand, the endpoint back to ipv4: AWS takes its IPv6 routes away, the lister's IPv6 calls are dropped.
    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint_id, IpAddressType="ipv4")
    code, report = invoke(env)
    assert code == 3, report
    assert f"{endpoint_id} has IpAddressType ipv4" in report["diagnosis"], report
    assert "timed out" in report["diagnosis"] and "s3gw up" in report["fix"]
    verified = s3gw("verify", env=env)
    assert verified.returncode == 3
    assert f"{endpoint_id} is ipv4" in verified.stdout

    # And the IPv4 family: its egress rule revoked by hand, the IPv6 call still gets through; test-invoke names it.
    ec2.revoke_security_group_egress(GroupId=outputs["security_group_id"], IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": lists["IPv4"]}]}])
    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint_id, IpAddressType="dualstack")
    code, report = invoke(env)
    assert code == 3 and report["family"] == "ipv6", report
    assert "IPv4 family of the path is broken: security groups: egress 443" in report["diagnosis"], report

    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint_id, IpAddressType="ipv4")
    repaired = s3gw("up", env=env)  # the recorded setting: no option needed
    assert repaired.returncode == 0, repaired.stderr
    assert "IpAddressType is ipv4, not dualstack" in repaired.stderr
    code, report = invoke(env)
    assert code == 0 and report["family"] == "ipv6", report

    gone = s3gw("down", "--yes", env=env)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    tag = [{"Name": "tag:s3gw:stack", "Values": [env["S3GW_STACK"]]}]
    assert ec2.describe_vpcs(Filters=tag)["Vpcs"] == [] and ec2.describe_subnets(Filters=tag)["Subnets"] == []
    assert [e for e in ec2.describe_vpc_endpoints(Filters=tag)["VpcEndpoints"] if e["State"].lower() != "deleted"] \
        == []
    assert outputs["bucket"] not in [b["Name"] for b in client("s3", sandbox_url).list_buckets()["Buckets"]]
    assert f"{env['S3GW_STACK']}-lister" not in [
        f["FunctionName"] for f in client("lambda", sandbox_url).list_functions()["Functions"]]


def brought_vpc(url: str) -> dict[str, Any]:
    """A user's dual-stack VPC: two private subnets, each with a /64, on one table whose only way out is
    ::/0 → an egress-only internet gateway (no IPv4 default route)."""
    ec2 = client("ec2", url)
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    block = ipaddress.ip_network(vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"])
    eigw = ec2.create_egress_only_internet_gateway(VpcId=vpc["VpcId"])["EgressOnlyInternetGateway"][
        "EgressOnlyInternetGatewayId"]
    table = ec2.create_route_table(VpcId=vpc["VpcId"])["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationIpv6CidrBlock="::/0", EgressOnlyInternetGatewayId=eigw)
    subnets = []
    for index, (zone, sixty_four) in enumerate(zip("ab", block.subnets(new_prefix=64), strict=False)):
        subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock=f"10.7.{index}.0/24",
                                   AvailabilityZone=f"{REGION}{zone}", Ipv6CidrBlock=str(sixty_four))
        subnet = subnet["Subnet"]["SubnetId"]
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
        subnets.append(subnet)
    return {"vpc": vpc["VpcId"], "eigw": eigw, "table": table, "subnets": subnets}


def test_a_brought_dualstack_vpc_whose_ipv6_leaves_by_an_egress_only_gateway(env: dict[str, str],
                                                                             sandbox_url: str) -> None:
    user = brought_vpc(sandbox_url)
    options = ("--vpc-id", user["vpc"], "--ip-address-type", "dualstack")
    plan = s3gw("plan", *options, env=env)
    assert plan.returncode == 0, plan.stderr
    for subnet in user["subnets"]:
        assert f"moves {subnet} (dual-stack" in plan.stdout, plan.stdout
    assert f"::/0 → {user['eigw']} ({user['table']})" in plan.stdout

    made = s3gw("up", *options, env=env)
    assert made.returncode == 0, made.stderr
    ec2 = client("ec2", sandbox_url)
    assert len(ec2.describe_vpcs(VpcIds=[user["vpc"]])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"]) == 1  # none added
    code, report = invoke(env)
    assert code == 0, report
    assert report["family"] == "ipv6" and report["outside_refused"] is True

    # The endpoint made ipv4 by hand: ::/0 → eigw now carries the IPv6 calls, out to S3 without aws:SourceVpce.
    endpoint_id = json.loads(s3gw("outputs", "--output", "json", env=env).stdout)["endpoint_id"]
    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint_id, IpAddressType="ipv4")
    code, report = invoke(env)
    assert code == 3, report
    assert "AccessDenied" in report["error"], report  # refused by the seal, not a timeout
    assert f"left through {user['eigw']}" in report["diagnosis"] and "aws:SourceVpce" in report["diagnosis"]
    assert s3gw("up", env=env).returncode == 0
    assert invoke(env)[0] == 0

    gone = s3gw("down", "--yes", env=env)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    routes = ec2.describe_route_tables(RouteTableIds=[user["table"]])["RouteTables"][0]["Routes"]
    assert [(r.get("DestinationIpv6CidrBlock"), r.get("EgressOnlyInternetGatewayId")) for r in routes
            if r.get("EgressOnlyInternetGatewayId")] == [("::/0", user["eigw"])]
    assert not [r for r in routes if r.get("DestinationPrefixListId")]  # the endpoint's routes went with it
