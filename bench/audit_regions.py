"""`s3gw audit` of 5 regions x 20 VPCs on the in-process sandbox at 100 ms a request: wall time, requests, rounds.

    python bench/audit_regions.py [--regions 5] [--vpcs 20] [--latency-ms 100]

Figures only: nothing is asserted. Each VPC: a public subnet with a NAT gateway, two private subnets routed
0.0.0.0/0 -> nat on one table, and half the VPCs an S3 gateway endpoint on it; NAT metrics for every NAT gateway,
a flow log into one CloudWatch Logs group per region with a record per VPC (in-region S3 only: other regions' S3
lists are read only when a record needs them). The seeding runs at 0 ms; the audit at --latency-ms, which the
sandbox adds to every request (Behaviours.latency). "rounds" is wall time / latency: how many request round
trips deep the audit is (reads that go at once share a round).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections import Counter
from typing import Any

import boto3

from s3gw.audit import run_audit
from s3gw.audit_command import client_factory
from s3gw.sandbox import Behaviours, Sandbox

REGIONS = ("us-east-1", "us-east-2", "eu-west-1", "eu-central-1", "ap-southeast-2", "ap-northeast-1", "sa-east-1")
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def seed(url: str, region: str, vpcs: int) -> None:
    ec2 = boto3.client("ec2", region_name=region, endpoint_url=url, **KEYS)
    cw = boto3.client("cloudwatch", region_name=region, endpoint_url=url, **KEYS)
    logs = boto3.client("logs", region_name=region, endpoint_url=url, **KEYS)
    logs.create_log_group(logGroupName="flows")
    now = time.time()
    s3_list = ec2.describe_managed_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": [f"com.amazonaws.{region}.s3"]}])["PrefixLists"][0]
    cidr = ec2.get_managed_prefix_list_entries(PrefixListId=s3_list["PrefixListId"])["Entries"][0]["Cidr"]
    s3_address = cidr.split("/")[0][:-1] + "9"
    for index in range(vpcs):
        vpc = ec2.create_vpc(CidrBlock=f"10.{index}.0.0/16")["Vpc"]["VpcId"]
        public = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{index}.0.0/24")["Subnet"]["SubnetId"]
        nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=ec2.allocate_address(Domain="vpc")[
            "AllocationId"])["NatGateway"]["NatGatewayId"]
        table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
        for part in (1, 2):
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{index}.{part}.0/24")["Subnet"]["SubnetId"]
            ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
        eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]
        if index % 2:
            ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.{region}.s3", VpcEndpointType="Gateway",
                                    RouteTableIds=[table])
        cw.put_metric_data(Namespace="AWS/NATGateway", MetricData=[
            {"MetricName": "BytesOutToDestination", "Dimensions": [{"Name": "NatGatewayId", "Value": nat}],
             "Timestamp": now - 3600, "Value": 1e9}])
        ec2.create_flow_logs(ResourceIds=[vpc], ResourceType="VPC", TrafficType="ALL", LogGroupName="flows",
                             DeliverLogsPermissionArn="arn:aws:iam::123456789012:role/flows")
        logs.create_log_stream(logGroupName="flows", logStreamName=f"{eni['NetworkInterfaceId']}-all")
        logs.put_log_events(logGroupName="flows", logStreamName=f"{eni['NetworkInterfaceId']}-all", logEvents=[{
            "timestamp": int(now - 3600) * 1000, "message": f"2 123456789012 {eni['NetworkInterfaceId']} "
            f"{eni['PrivateIpAddress']} {s3_address} 49152 443 6 10 1000000 {int(now) - 3600} {int(now)} ACCEPT OK"}])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--regions", type=int, default=5)
    parser.add_argument("--vpcs", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=100)
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")  # the sandbox's keys
    regions = list(REGIONS[:args.regions])
    with Sandbox() as sandbox:
        url = sandbox.endpoint_url
        started = time.monotonic()
        for region in regions:
            seed(url, region, args.vpcs)
        print(f"seeded {len(regions)} regions x {args.vpcs} VPCs in {time.monotonic() - started:.1f}s (0 ms)")
        made = client_factory(None, url)
        account = made("sts", regions[0]).get_caller_identity()["Account"]
        run_audit(lambda _: made, [account], regions, regions[0], 14 * 86400)  # warm-up: the clients are made once
        for latency in (0.0, args.latency_ms / 1000):
            sandbox.behaviours = Behaviours(latency=latency)
            measure(made, account, regions, args.vpcs, latency)


def measure(made: Any, account: str, regions: list[str], vpcs: int, latency: float) -> None:
    calls: Counter[str] = Counter()
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()
    hooked: set[int] = set()

    def counted(service: str, region: str) -> Any:
        client = made(service, region)
        if id(client) not in hooked:
            hooked.add(id(client))

            def begin(model: Any, context: dict[str, Any], **_: Any) -> None:
                context["bench_start"] = time.monotonic()
                with lock:
                    calls[f"{service}:{model.name}"] += 1

            def end(context: dict[str, Any], **_: Any) -> None:
                with lock:
                    spans.append((context.get("bench_start", 0.0), time.monotonic()))

            client.meta.events.register("before-call", begin)
            client.meta.events.register("after-call", end)
        return client

    started = time.monotonic()
    report = run_audit(lambda _: counted, [account], regions, regions[0], 14 * 86400)
    elapsed = time.monotonic() - started
    totals = report.totals()
    print(f"audit: {len(regions)} regions x {vpcs} VPCs at {latency * 1000:g} ms a request: {elapsed:.2f}s, "
          f"{sum(calls.values())} requests, {rounds(spans)} rounds (the longest chain of requests each of which "
          "starts after the one before it ended)")
    print(f"  findings {totals['findings']}, by path {totals['by_path']}")
    print("  " + ", ".join(f"{name} {count}" for name, count in sorted(calls.items())))


def rounds(spans: list[tuple[float, float]]) -> int:
    depth: list[int] = []
    ordered = sorted(spans)
    for index, (start, _) in enumerate(ordered):
        before = [depth[i] for i, (_, end) in enumerate(ordered[:index]) if end <= start]
        depth.append(1 + max(before, default=0))
    return max(depth, default=0)


if __name__ == "__main__":
    main()
