"""`s3gw audit` on the sandbox (issue 24): a hand-made VPC whose private subnets reach S3 through a NAT gateway, the
measurements seeded as a user of the real APIs would (PutMetricData into AWS/NATGateway; flow-log records in the
default format, version 2, put into the flow log's CloudWatch Logs group), then the audit's report."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from botocore.config import Config
from click.testing import CliRunner

from s3gw.cli import cli
from tests.sandbox_fixtures import KEYS, make_zip

REGION = "us-east-1"  # a region with a NAT rate on record (pricing.NAT_RATES)
OTHER = "eu-west-1"
GB = 2**30
DAY = 86400


def client(url: str, service: str, region: str = REGION) -> Any:
    return boto3.client(service, region_name=region, endpoint_url=url, aws_access_key_id="testing",
                        aws_secret_access_key="testing",
                        config=Config(retries={"mode": "standard", "total_max_attempts": 1}))


def s3_cidr(url: str, region: str) -> str:
    ec2 = client(url, "ec2", region)
    listed = ec2.describe_managed_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": [f"com.amazonaws.{region}.s3"]}])["PrefixLists"][0]
    return str(ec2.get_managed_prefix_list_entries(PrefixListId=listed["PrefixListId"])["Entries"][0]["Cidr"])


def address_in(cidr: str, host: int = 7) -> str:
    import ipaddress

    return str(ipaddress.ip_network(cidr)[host])


def audit(url: str, tmp_path: Any, *args: str) -> Any:
    return CliRunner().invoke(cli, ["audit", "--region", REGION, "--endpoint-url", url, *args], env=KEYS,
                              catch_exceptions=False)


@pytest.fixture(scope="module")
def scene(sandbox_url: str) -> dict[str, Any]:
    """VPC, a public subnet with an internet gateway and a NAT gateway, two private subnets on one table whose
    0.0.0.0/0 goes to the NAT, a Lambda function in the first; NAT metrics and flow-log records seeded."""
    url = sandbox_url
    ec2, logs, cw = client(url, "ec2"), client(url, "logs"), client(url, "cloudwatch")
    iam, lam = client(url, "iam"), client(url, "lambda")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.0.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    public_table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=public_table, SubnetId=public)
    allocation = ec2.allocate_address(Domain="vpc")
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=allocation["AllocationId"])["NatGateway"]
    nat_id, nat_eni = nat["NatGatewayId"], nat["NatGatewayAddresses"][0]["NetworkInterfaceId"]
    private_table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=private_table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat_id)
    privates = []
    for index, zone in ((1, "a"), (2, "b")):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{index}.0/24", AvailabilityZone=f"{REGION}{zone}")
        privates.append(subnet["Subnet"]["SubnetId"])
        ec2.associate_route_table(RouteTableId=private_table, SubnetId=privates[-1])
    group = ec2.create_security_group(GroupName="fn", Description="fn", VpcId=vpc)["GroupId"]
    role = iam.create_role(RoleName="audit-fn", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    lam.create_function(FunctionName="orders", Runtime="python3.12", Role=role, Handler="handler.handler",
                        Code={"ZipFile": make_zip({"handler.py": "def handler(e, c):\n    return 1\n"})},
                        VpcConfig={"SubnetIds": [privates[0]], "SecurityGroupIds": [group]})
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [privates[0]]}])
    lambda_eni = next(e for e in enis["NetworkInterfaces"] if e["Description"] == "AWS Lambda VPC ENI-orders")
    # NAT metrics: 300 GB over 14 days, a day's Sum at a time, both directions (as AWS publishes them).
    now = time.time()
    cw.put_metric_data(Namespace="AWS/NATGateway", MetricData=[
        {"MetricName": metric, "Dimensions": [{"Name": "NatGatewayId", "Value": nat_id}],
         "Timestamp": now - (day + 0.5) * DAY, "Value": share * GB / 14, "Unit": "Bytes"}
        for day in range(14) for metric, share in (("BytesOutToDestination", 100), ("BytesInFromDestination", 200))])
    # Flow logs on the VPC, into CloudWatch Logs; each interface's records in its own stream.
    logs.create_log_group(logGroupName="vpc-flow-logs")
    ec2.create_flow_logs(ResourceIds=[vpc], ResourceType="VPC", TrafficType="ALL", LogGroupName="vpc-flow-logs",
                         DeliverLogsPermissionArn="arn:aws:iam::123456789012:role/flow-logs")
    in_region, elsewhere = address_in(s3_cidr(url, REGION)), address_in(s3_cidr(url, OTHER))
    ip = lambda_eni["PrivateIpAddress"]
    start = int(now - 2 * DAY)

    def record(eni: str, src: str, dst: str, sport: int, dport: int, size: int, action: str = "ACCEPT") -> str:
        return f"2 123456789012 {eni} {src} {dst} {sport} {dport} 6 100 {size} {start} {start + 60} {action} OK"

    lambda_records = [
        record(lambda_eni["NetworkInterfaceId"], ip, in_region, 49152, 443, 3 * GB),  # to S3 in the region
        record(lambda_eni["NetworkInterfaceId"], in_region, ip, 443, 49152, 5 * GB),  # S3's answers
        record(lambda_eni["NetworkInterfaceId"], ip, elsewhere, 49153, 443, 2 * GB),  # a bucket in eu-west-1
        record(lambda_eni["NetworkInterfaceId"], ip, in_region, 49154, 443, 9 * GB, "REJECT"),  # never left
    ]
    nat_records = [record(nat_eni, ip, in_region, 49152, 443, 3 * GB)]  # the same bytes, seen again at the NAT
    for eni, records in ((lambda_eni["NetworkInterfaceId"], lambda_records), (nat_eni, nat_records)):
        stream = f"{eni}-all"
        logs.create_log_stream(logGroupName="vpc-flow-logs", logStreamName=stream)
        logs.put_log_events(logGroupName="vpc-flow-logs", logStreamName=stream,
                            logEvents=[{"timestamp": (start + 60) * 1000, "message": m} for m in records])
    return {"url": url, "vpc": vpc, "privates": privates, "public": public, "nat": nat_id, "table": private_table,
            "public_ip": allocation["PublicIp"]}


def findings(document: dict[str, Any], service: str = "s3") -> dict[str, dict[str, Any]]:
    return {f["subnet_id"]: f for f in document["findings"] if f["service"] == service}


def test_audit_reports_the_nat_path_its_bytes_and_cost(scene: dict[str, Any], tmp_path: Any) -> None:
    result = audit(scene["url"], tmp_path, "--output", "json", "--since", "14d")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["schema"] == 1
    s3 = findings(document)
    first, second = (s3[s] for s in scene["privates"])
    for finding in (first, second):
        assert finding["path"] == "nat"
        assert finding["via"] == f"0.0.0.0/0 → {scene['nat']}"
        assert finding["route_table_id"] == scene["table"]
        assert finding["vpc_id"] == scene["vpc"] and finding["region"] == REGION
        assert finding["account"] == "123456789012"
        assert finding["bytes_source"] == "flow-logs"
    assert {"kind": "lambda", "name": "orders"}.items() <= first["workloads"][0].items()
    # In-region S3 both ways (8 GB), the REJECTed record and the NAT's own copy left out; eu-west-1's S3 apart.
    assert first["bytes"] == 8 * GB
    assert first["cross_region_bytes"] == 2 * GB
    assert second["bytes"] == 0 and second["workloads"] == []
    # $0.045/GB (pricing.NAT_RATES us-east-1): 8 GB in 14 days is 8 / 14 * 30 GB a month.
    assert first["monthly_cost_usd"] == round(8 / 14 * 30 * 0.045, 2)
    assert "2026" in first["cost_source"]
    # The NAT's own metrics: 300 GB in 14 days.
    nat = document["regions"][0]["nat_gateways"][scene["nat"]]
    assert nat["bytes"] == pytest.approx(300 * GB, rel=1e-6)
    assert first["fix"] == (f"s3gw up --stack ep-{scene['vpc']} --region {REGION} --endpoint-url {scene['url']} "
                            f"--vpc-id {scene['vpc']} --endpoint-only --route-table-ids {scene['table']} "
                            "--services s3,dynamodb")
    dynamodb = findings(document, "dynamodb")[scene["privates"][0]]
    assert dynamodb["path"] == "nat" and dynamodb["bytes"] == 0 and dynamodb["fix"] == first["fix"]
    assert s3[scene["public"]]["path"] == "igw"


def test_text_and_markdown_say_the_same(scene: dict[str, Any], tmp_path: Any) -> None:
    text = audit(scene["url"], tmp_path).stdout
    markdown = audit(scene["url"], tmp_path, "--output", "markdown").stdout
    for output in (text, markdown):
        assert scene["privates"][0] in output and "nat" in output and "lambda:orders" in output
        assert "8.00 GB" in output and "$0.77/month" in output and f"--vpc-id {scene['vpc']}" in output
    assert "| VPC | subnet |" in markdown


def test_a_region_with_nothing_is_one_line(scene: dict[str, Any], tmp_path: Any) -> None:
    result = audit(scene["url"], tmp_path, "--regions", "ap-southeast-2")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    # The region's default VPC only (moto makes one, as AWS does): its subnets go out the internet gateway.
    assert len(lines) == 2 and lines[0].startswith("123456789012 ap-southeast-2: nothing through a NAT gateway")


def s3gw(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env=KEYS, catch_exceptions=False)


def test_the_fix_run_as_printed_moves_both_subnets_onto_the_endpoint_and_down_takes_it_back(
        scene: dict[str, Any], tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import shlex

    monkeypatch.chdir(tmp_path)
    s3 = client(scene["url"], "s3")
    # A bucket that lets in only the NAT gateway's address: through the endpoint S3 sees private addresses.
    s3.create_bucket(Bucket="reports")
    s3.put_bucket_policy(Bucket="reports", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "OnlyFromTheNat", "Effect": "Deny", "Principal": "*", "Action": ["s3:GetObject", "s3:PutObject"],
        "Resource": ["arn:aws:s3:::reports", "arn:aws:s3:::reports/*"],
        "Condition": {"NotIpAddress": {"aws:SourceIp": [f"{scene['public_ip']}/32"]}}}]}))
    before = json.loads(audit(scene["url"], tmp_path, "--output", "json").stdout)
    finding = findings(before)[scene["privates"][0]]
    assert finding["bucket_policies"] == ["reports"]
    fix = shlex.split(finding["fix"])
    assert fix[:2] == ["s3gw", "up"]
    plan = s3gw("plan", *fix[2:])
    assert plan.exit_code == 0, plan.output
    assert f"moves S3 traffic of {scene['table']} from NAT gateway {scene['nat']}" in plan.output
    assert f"bucket reports's policy names {scene['public_ip']} ({scene['nat']}) in aws:SourceIp" in plan.output

    made = s3gw(*fix[1:])
    assert made.exit_code == 0, made.output
    after = json.loads(audit(scene["url"], tmp_path, "--output", "json").stdout)
    for subnet_id in scene["privates"]:
        way = findings(after)[subnet_id]
        assert way["path"] == "endpoint" and way["via"].endswith(s3gw("outputs", "endpoint_id", *fix[2:4], *fix[4:8])
                                                                  .stdout.strip())
        assert way["fix"] is None
        assert findings(after, "dynamodb")[subnet_id]["path"] == "endpoint"
    made_endpoints = client(scene["url"], "ec2").describe_vpc_endpoints(
        Filters=[{"Name": "vpc-id", "Values": [scene["vpc"]]}])["VpcEndpoints"]
    assert sorted(e["ServiceName"].rsplit(".", 1)[1] for e in made_endpoints) == ["dynamodb", "s3"]
    assert all(json.loads(e["PolicyDocument"])["Statement"][0]["Action"] == "*" for e in made_endpoints)
    endpoint = [e for e in made_endpoints if e["ServiceName"].endswith(".s3")]
    again = s3gw(*fix[1:])  # a re-run changes nothing
    assert again.exit_code == 0 and "unchanged" in again.output
    status = s3gw("status", *fix[2:8])  # the stack is the endpoint and the user's VPC and tables, nothing else
    assert status.exit_code == 0 and "bucket" not in status.output and "function" not in status.output, status.output
    proved = s3gw("verify", *fix[2:8])  # verify proves it: each subnet on the stack's tables reaches the endpoint
    assert proved.exit_code == 0, proved.output
    assert all(f"{subnet_id}: {name} path" in proved.output for subnet_id in scene["privates"]
               for name in ("S3", "DynamoDB"))
    assert "links hold: S3 takes the endpoint from every subnet" in proved.output
    client(scene["url"], "ec2").modify_vpc_endpoint(VpcEndpointId=endpoint[0]["VpcEndpointId"],
                                                    RemoveRouteTableIds=[scene["table"]])
    broken = s3gw("verify", *fix[2:8])
    assert broken.exit_code == 3 and f"0.0.0.0/0 → {scene['nat']} (nat)" in broken.output, broken.output
    assert s3gw(*fix[1:]).exit_code == 0 and s3gw("verify", *fix[2:8]).exit_code == 0  # up repairs it

    gone = s3gw("down", "--yes", *fix[2:8])
    assert gone.exit_code == 0, gone.output
    ec2 = client(scene["url"], "ec2")
    assert [e for e in ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [scene["vpc"]]}])[
        "VpcEndpoints"] if e["State"].lower() not in ("deleted", "deleting")] == []
    assert ec2.describe_route_tables(RouteTableIds=[scene["table"]])["RouteTables"]  # the user's table stays
    assert ec2.describe_vpcs(VpcIds=[scene["vpc"]])["Vpcs"]
    back = json.loads(audit(scene["url"], tmp_path, "--output", "json").stdout)
    assert findings(back)[scene["privates"][0]]["path"] == "nat"


def test_the_fix_adopts_the_vpcs_own_endpoint_and_down_takes_back_only_its_table(
        sandbox_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import shlex

    monkeypatch.chdir(tmp_path)
    ec2 = client(sandbox_url, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.8.0.0/24")["Subnet"]["SubnetId"]
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=ec2.allocate_address(Domain="vpc")["AllocationId"])[
        "NatGateway"]["NatGatewayId"]
    served, private = (ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"] for _ in range(2))
    ec2.create_route(RouteTableId=private, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.8.1.0/24")["Subnet"]["SubnetId"]
    ec2.associate_route_table(RouteTableId=private, SubnetId=subnet)
    theirs = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3", VpcEndpointType="Gateway",
                                     RouteTableIds=[served])["VpcEndpoint"]["VpcEndpointId"]
    document = json.loads(audit(sandbox_url, tmp_path, "--output", "json").stdout)
    unmeasured = findings(document)[subnet]  # no flow logs, no NAT metrics: said, with the rate, never guessed
    assert (unmeasured["bytes"], unmeasured["bytes_source"], unmeasured["monthly_cost_usd"]) == (None, None, None)
    assert any(n.startswith("no measurement") and "$0.045/GB" in n for n in unmeasured["notes"])
    client(sandbox_url, "cloudwatch").put_metric_data(Namespace="AWS/NATGateway", MetricData=[{
        "MetricName": "BytesInFromDestination", "Dimensions": [{"Name": "NatGatewayId", "Value": nat}],
        "Timestamp": time.time() - DAY, "Value": 14 * GB, "Unit": "Bytes"}])
    document = json.loads(audit(sandbox_url, tmp_path, "--output", "json").stdout)
    ceiling = findings(document)[subnet]  # the NAT's own bytes: all its traffic, so a ceiling, and said so
    assert (ceiling["bytes"], ceiling["bytes_source"]) == (14 * GB, "nat-metrics")
    assert ceiling["monthly_cost_usd"] == round(14 / 14 * 30 * 0.045, 2)
    assert any("a ceiling" in n for n in ceiling["notes"])
    fix = shlex.split(findings(document)[subnet]["fix"])
    assert s3gw(*fix[1:]).exit_code == 0
    after = json.loads(audit(sandbox_url, tmp_path, "--output", "json").stdout)
    assert (findings(after)[subnet]["path"], findings(after)[subnet]["via"].split(" → ")[1]) == ("endpoint", theirs)
    live = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]
    assert [e["VpcEndpointId"] for e in live if e["ServiceName"].endswith(".s3")] == [theirs]  # adopted, not a 2nd
    assert s3gw("down", "--yes", *fix[2:8]).exit_code == 0
    left = ec2.describe_vpc_endpoints(VpcEndpointIds=[theirs])["VpcEndpoints"][0]
    assert left["State"].lower() == "available" and left["RouteTableIds"] == [served]
    assert [e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])[
        "VpcEndpoints"] if e["State"].lower() not in ("deleted", "deleting")] == [theirs]  # its DynamoDB one gone


def test_a_dynamodb_endpoint_of_the_users_is_refused_in_one_line(sandbox_url: str, tmp_path: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ec2 = client(sandbox_url, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    theirs = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.dynamodb",
                                     VpcEndpointType="Gateway", RouteTableIds=[table])["VpcEndpoint"]["VpcEndpointId"]
    common = ["--stack", "ep-ddb", "--region", REGION, "--endpoint-url", sandbox_url, "--vpc-id", vpc,
              "--endpoint-only", "--route-table-ids", table]
    refused = s3gw("up", *common, "--services", "s3,dynamodb")
    assert refused.exit_code == 2 and len(refused.output.strip().splitlines()) == 1, refused.output
    assert f"has a DynamoDB gateway endpoint already ({theirs})" in refused.output
    assert s3gw("up", *common, "--services", "s3").exit_code == 0  # the S3 one alone goes
    assert s3gw("down", "--yes", *common[:6]).exit_code == 0
