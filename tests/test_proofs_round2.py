"""Issue 20 items 8, 10-12 and issue 26 item 9: what test-invoke, verify, plan and the prices claim, and no more."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import boto3
from conftest import REGION, make_test_config

from s3gw import engine
from s3gw.pricing import NAT_RATES, nat_cost_line


def test_verify_passes_a_stack_made_with_egress_anywhere(mocked: None, state_dir: Path) -> None:
    """`up --egress anywhere` is a supported setting: verify checks what the stack was asked for (item 11)."""
    config = make_test_config(state_dir, egress="anywhere")
    engine.up(config, lambda message: None)
    report = engine.verify(make_test_config(state_dir), lambda message: None)
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
    traffic = next(s for s in engine.plan(config, lambda message: None).steps if s.step == "S3 traffic today")
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
