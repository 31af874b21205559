"""`s3gw audit`: which subnets send their S3 and DynamoDB traffic through a NAT gateway (or another way than a
gateway endpoint), what that traffic weighs and costs, and the command that moves it onto an endpoint. Read only.

Per region, in rounds of concurrent reads: round 1 the VPCs, subnets, route tables, endpoints, NAT gateways, network
interfaces, the region's S3 and DynamoDB prefix lists and the flow logs; round 2 the lists' entries, the NAT gateways'
CloudWatch metrics and the flow-log records. Regions go at once (bounded); a region the caller may not read is one
line of the report.

Sources:
- The path: `reach.service_path`, the VPC User Guide's route priority (cited in reach.py).
- NAT bytes: CloudWatch namespace AWS/NATGateway, dimension NatGatewayId, BytesOutToDestination ("the number of
  bytes sent out through the NAT gateway to the destination") + BytesInFromDestination ("the number of bytes received
  by the NAT gateway from the destination"), statistic Sum (VPC User Guide, "CloudWatch metrics for your NAT
  gateway": docs.aws.amazon.com/vpc/latest/userguide/metrics-dimensions-nat-gateway.html). They count all of the
  NAT's traffic, S3's or not: a ceiling for S3's share, said so where used.
- Flow-log records: the default format, version 2, "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr}
  ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}" (VPC User Guide,
  "Flow log records", Default format: docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html); a custom
  LogFormat is read by its field names. In CloudWatch Logs each network interface has its own log stream in the flow
  log's group (VPC User Guide, "Publish flow logs to CloudWatch Logs"). A NAT gateway does not change the
  destination address, so a workload's own interface logs S3's public address as the other end; the NAT gateway's
  interface logs the same bytes again (VPC User Guide, "Flow log record examples", NAT gateway), so only workload
  interfaces are counted, never a NAT gateway's.
- In-region vs cross-region: the region's AWS-managed prefix lists com.amazonaws.<region>.s3 / .dynamodb hold the
  service's ranges in that region; a gateway endpoint serves only its own region ("Gateway endpoints for Amazon S3":
  "The gateway endpoint ... does not support cross-Region requests"), so bytes to another region's S3 list are
  counted apart and never priced as a saving.
- The price: pricing.NAT_RATES, each with its source and date; a region without one gets no figure, only the page.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from s3gw.config import ENDPOINT_ONLY_SERVICES
from s3gw.errors import UsageError
from s3gw.pricing import NAT_RATES, PAGE, nat_cost_line
from s3gw.reach import ServicePath, service_path

SCHEMA = 1
SERVICES = ("s3", "dynamodb")
DEFAULT_FORMAT = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end "
                  "action log-status")
GIB = 2**30  # a GB of the NAT's per-GB charge, taken as 2^30 bytes
MONTH_SECONDS = 30 * 86400
LAMBDA_ENI_PREFIX = "AWS Lambda VPC ENI-"  # Lambda's description of its ENIs (steps/function.py cites it)
REGION_WORKERS = 8  # regions read at once
READS_PER_REGION = 8  # requests in flight per region
MAX_FLOW_EVENTS = 1_000_000  # per log group and region: past it the figure is a lower bound, and says so
_NO_ACCESS = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthFailure", "OptInRequired",
              "InvalidClientTokenId", "UnrecognizedClientException")
_FIXABLE = ("nat",)  # the path that costs per GB; tgw, firewall, peering are steered on purpose


@dataclass
class Workload:
    kind: str  # lambda, ec2, or the interface type (nat_gateway, vpc_endpoint, interface, ...)
    name: str  # the function, the instance, or the interface's description / id
    interfaces: list[str] = field(default_factory=list)
    bytes: int | None = None  # in-region bytes to the finding's service, from flow logs
    cross_region_bytes: int | None = None  # S3 in other regions, from flow logs (no gateway endpoint carries it)


@dataclass
class Finding:
    account: str
    region: str
    vpc_id: str
    subnet_id: str
    route_table_id: str
    service: str
    path: str
    via: str
    workloads: list[Workload]
    bytes: int | None
    bytes_source: str | None  # flow-logs | nat-metrics | None
    monthly_cost_usd: float | None
    fix: str | None
    cross_region_bytes: int | None = None
    nat_gateway_id: str | None = None
    cost_source: str | None = None
    bucket_policies: list[str] = field(default_factory=list)  # buckets whose aws:SourceIp names this NAT's address
    notes: list[str] = field(default_factory=list)


@dataclass
class RegionResult:
    account: str
    region: str
    status: str  # ok | empty | denied | failed
    message: str = ""
    findings: list[Finding] = field(default_factory=list)
    nat_gateways: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> bytes, public_ips, subnet_id


@dataclass
class AuditReport:
    since_seconds: float
    regions: list[RegionResult]

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.regions for f in r.findings]

    def totals(self) -> dict[str, Any]:
        on_nat = [f for f in self.findings if f.path == "nat"]
        measured = [f for f in on_nat if f.bytes_source == "flow-logs"]
        costs = [f.monthly_cost_usd for f in measured if f.monthly_cost_usd is not None]
        return {
            "regions": len(self.regions),
            "regions_not_read": sum(r.status in ("denied", "failed") for r in self.regions),
            "findings": len(self.findings),
            "by_path": {path: sum(f.path == path for f in self.findings)
                        for path in sorted({f.path for f in self.findings})},
            "nat_findings": len(on_nat),
            "nat_bytes_flow_logs": sum(f.bytes or 0 for f in measured),
            "cross_region_bytes": sum(f.cross_region_bytes or 0 for f in self.findings),
            "nat_gateway_bytes": sum(n.get("bytes") or 0 for r in self.regions for n in r.nat_gateways.values()),
            "monthly_cost_usd": round(sum(costs), 2) if costs else None,
            "unmeasured_nat_findings": len(on_nat) - len(measured),
        }

    def as_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "since_seconds": self.since_seconds,
                "regions": [{"account": r.account, "region": r.region, "status": r.status, "message": r.message,
                             "nat_gateways": r.nat_gateways} for r in self.regions],
                "findings": [asdict(f) for f in self.findings], "totals": self.totals()}


# --- inputs -----------------------------------------------------------------------------------------------------


def parse_regions(text: str | None, default: str | None) -> list[str] | None:
    """--regions a,b (each checked), 'all' (None: every region the account has enabled), or the default region."""
    from s3gw.config import validate_region

    if text is None:
        if not default:
            raise UsageError("no region given", "pass --regions a,b or --regions all, or set AWS_REGION")
        return [default]
    if text.strip() == "all":
        return None
    names = [part.strip() for part in text.split(",")]
    if not all(names):
        raise UsageError(f"invalid --regions {text!r}", "a comma-separated list such as us-east-1,eu-west-1, or all")
    return list(dict.fromkeys(validate_region(name) for name in names))


def parse_window(text: str) -> float:
    """--since 14d (s, m, h, d); at most 455 days, CloudWatch's 15 months of metrics."""
    from s3gw.config import parse_since

    seconds = parse_since(text)
    if seconds <= 0 or seconds > 455 * 86400:
        raise UsageError(f"invalid --since {text!r}", "a window from 1s to 455d (CloudWatch keeps 15 months)")
    return seconds


# --- reading one region -----------------------------------------------------------------------------------------


ClientFactory = Callable[[str, str], Any]  # (service, region) -> a boto3 client


def _code(exc: BaseException) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _all(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    if client.can_paginate(operation):
        return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page.get(key, [])]
    return list(getattr(client, operation)(**kwargs).get(key, []))


def at_once(*reads: Callable[[], Any], workers: int = READS_PER_REGION) -> list[Any]:
    """Independent reads at once; their answers in order; the first failure (in order) raised once all ended."""
    if len(reads) < 2:
        return [read() for read in reads]
    with ThreadPoolExecutor(max_workers=min(workers, len(reads))) as pool:
        futures = [pool.submit(read) for read in reads]
    return [future.result() for future in futures]


class CrossRegion:
    """Other regions' S3 ranges, read once per account and only when a flow-log record needs them."""

    def __init__(self, client: ClientFactory, home: str) -> None:
        self.client, self.home = client, home
        self._lock = threading.Lock()
        self._ranges: list[tuple[str, ipaddress.IPv4Network]] | None = None

    def region_of(self, address: ipaddress.IPv4Address, exclude: str) -> str | None:
        with self._lock:
            if self._ranges is None:
                self._ranges = self._read()
        return next((region for region, net in self._ranges if region != exclude and address in net), None)

    def _read(self) -> list[tuple[str, ipaddress.IPv4Network]]:
        try:
            regions = [r["RegionName"] for r in self.client("ec2", self.home).describe_regions()["Regions"]]
        except Exception:
            return []

        def one(region: str) -> list[tuple[str, ipaddress.IPv4Network]]:
            try:
                ec2 = self.client("ec2", region)
                lists = ec2.describe_managed_prefix_lists(Filters=[{"Name": "prefix-list-name",
                                                                    "Values": [f"com.amazonaws.{region}.s3"]}])
                found = []
                for prefix_list in lists.get("PrefixLists", []):
                    for entry in _all(ec2, "get_managed_prefix_list_entries", "Entries",
                                      PrefixListId=prefix_list["PrefixListId"]):
                        net = _ipv4(entry.get("Cidr"))
                        if net is not None:
                            found.append((region, net))
                return found
            except Exception:  # a region this caller may not read: its ranges stay unknown
                return []

        return [pair for pairs in at_once(*[lambda r=r: one(r) for r in regions]) for pair in pairs]


def _ipv4(cidr: Any) -> ipaddress.IPv4Network | None:
    try:
        net = ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        return None
    return net if isinstance(net, ipaddress.IPv4Network) else None


def _workload_of(eni: dict[str, Any]) -> tuple[str, str]:
    description = str(eni.get("Description") or "")
    if eni.get("InterfaceType") == "lambda" or description.startswith(LAMBDA_ENI_PREFIX):
        return "lambda", description[len(LAMBDA_ENI_PREFIX):] if description.startswith(LAMBDA_ENI_PREFIX) \
            else description
    instance = (eni.get("Attachment") or {}).get("InstanceId")
    if instance:
        return "ec2", str(instance)
    return str(eni.get("InterfaceType") or "interface"), description or str(eni.get("NetworkInterfaceId"))


@dataclass
class _Flow:
    """Bytes per (interface, service) in the region, and to other regions' S3, from flow-log records."""

    in_region: dict[tuple[str, str], int] = field(default_factory=dict)
    cross_region: dict[str, int] = field(default_factory=dict)
    events: int = 0
    truncated: bool = False


def _read_flow_events(logs: Any, group: str, start_ms: int, end_ms: int) -> tuple[list[str], bool]:
    messages: list[str] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"logGroupName": group, "startTime": start_ms, "endTime": end_ms}
        if token:
            kwargs["nextToken"] = token
        page = logs.filter_log_events(**kwargs)
        messages += [str(e.get("message", "")) for e in page.get("events", [])]
        token = page.get("nextToken")
        if len(messages) >= MAX_FLOW_EVENTS:
            return messages, bool(token)
        if not token:
            return messages, False


def _fields(log_format: str | None) -> list[str]:
    text = log_format or DEFAULT_FORMAT
    return [word.strip("${}") for word in text.split()]


def _classify(flow: _Flow, messages: Iterable[str], fields: list[str], interfaces: set[str],
              lists: dict[str, list[ipaddress.IPv4Network]], region: str, cross: CrossRegion) -> None:
    index = {name: i for i, name in enumerate(fields)}
    needed = ("interface-id", "srcaddr", "dstaddr", "bytes")
    if not all(name in index for name in needed):
        return
    for message in messages:
        parts = message.split()
        if len(parts) < len(fields):
            continue
        interface = parts[index["interface-id"]]
        if interface not in interfaces:  # a NAT gateway's or an unknown interface: not a workload's
            continue
        if "action" in index and parts[index["action"]] != "ACCEPT":
            continue
        try:
            size = int(parts[index["bytes"]])
            ends = [ipaddress.ip_address(parts[index["dstaddr"]]), ipaddress.ip_address(parts[index["srcaddr"]])]
        except ValueError:  # "-" in a NODATA / SKIPDATA record
            continue
        flow.events += 1
        ends4 = [a for a in ends if isinstance(a, ipaddress.IPv4Address)]
        service = next((name for name, nets in lists.items() for a in ends4 if any(a in n for n in nets)), None)
        if service:
            key = (interface, service)
            flow.in_region[key] = flow.in_region.get(key, 0) + size
            continue
        public = [a for a in ends4 if a.is_global]
        if public and cross.region_of(public[0], region):
            flow.cross_region[interface] = flow.cross_region.get(interface, 0) + size


def audit_region(client: ClientFactory, account: str, region: str, since: float, now: float,
                 cross: CrossRegion, fix_options: Sequence[str] = ()) -> RegionResult:
    try:
        return _audit_region(client, account, region, since, now, cross, fix_options)
    except Exception as exc:
        code = _code(exc)
        if code in _NO_ACCESS:
            message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", "")) or code
            return RegionResult(account, region, "denied", f"not read: {code}: {message[:160]}")
        if code:
            return RegionResult(account, region, "failed", f"not read: {code}: {exc}"[:200])
        raise


def _audit_region(client: ClientFactory, account: str, region: str, since: float, now: float, cross: CrossRegion,
                  fix_options: Sequence[str]) -> RegionResult:
    ec2 = client("ec2", region)
    names = [f"com.amazonaws.{region}.{service}" for service in SERVICES]
    vpcs, subnets, tables, endpoints, nats, enis, prefix_lists, flow_logs = at_once(
        lambda: _all(ec2, "describe_vpcs", "Vpcs"),
        lambda: _all(ec2, "describe_subnets", "Subnets"),
        lambda: _all(ec2, "describe_route_tables", "RouteTables"),
        lambda: _all(ec2, "describe_vpc_endpoints", "VpcEndpoints"),
        lambda: _all(ec2, "describe_nat_gateways", "NatGateways"),
        lambda: _all(ec2, "describe_network_interfaces", "NetworkInterfaces"),
        lambda: _all(ec2, "describe_managed_prefix_lists", "PrefixLists",
                     Filters=[{"Name": "prefix-list-name", "Values": names}]),
        lambda: _all(ec2, "describe_flow_logs", "FlowLogs"),
    )
    if not subnets:
        return RegionResult(account, region, "empty", f"{len(vpcs)} VPCs, no subnets: nothing to report")
    endpoints = [e for e in endpoints if str(e.get("State", "")).lower() not in ("deleted", "deleting")]
    live_nats = {n["NatGatewayId"]: n for n in nats if str(n.get("State", "")).lower() in ("available", "pending")}
    by_name = {p["PrefixListName"]: p for p in prefix_lists}
    start_ms, end_ms = int((now - since) * 1000), int(now * 1000)
    logs_groups = {f["LogGroupName"]: f.get("LogFormat") for f in flow_logs
                   if f.get("LogDestinationType", "cloud-watch-logs") == "cloud-watch-logs" and f.get("LogGroupName")
                   and str(f.get("FlowLogStatus", "ACTIVE")).upper() == "ACTIVE"}

    def entries(prefix_list: dict[str, Any]) -> None:
        prefix_list["Entries"] = _all(ec2, "get_managed_prefix_list_entries", "Entries",
                                      PrefixListId=prefix_list["PrefixListId"])

    reads: list[Callable[[], Any]] = [lambda p=p: entries(p) for p in prefix_lists]
    reads.append(lambda: _nat_bytes(client("cloudwatch", region), list(live_nats), now - since, now))
    reads += [lambda g=g: _read_flow_events(client("logs", region), g, start_ms, end_ms) for g in logs_groups]
    answers = at_once(*reads)
    nat_bytes: dict[str, int | None] = answers[len(prefix_lists)]
    flow_answers = answers[len(prefix_lists) + 1:]

    # Workloads: every interface of a subnet but the NAT gateways' own (their bytes are the workloads' again).
    nat_interfaces = {a.get("NetworkInterfaceId") for n in nats for a in n.get("NatGatewayAddresses", [])}
    workloads: dict[str, dict[tuple[str, str], Workload]] = {}
    subnet_of_interface: dict[str, tuple[str, tuple[str, str]]] = {}
    for eni in enis:
        eni_id = str(eni.get("NetworkInterfaceId"))
        if eni_id in nat_interfaces or eni.get("InterfaceType") in ("natGateway", "nat_gateway"):
            continue
        key = _workload_of(eni)
        subnet_id = str(eni.get("SubnetId"))
        workload = workloads.setdefault(subnet_id, {}).setdefault(key, Workload(*key))
        workload.interfaces.append(eni_id)
        subnet_of_interface[eni_id] = (subnet_id, key)

    lists = {service: [n for e in (by_name.get(f"com.amazonaws.{region}.{service}") or {}).get("Entries", [])
                       if (n := _ipv4(e.get("Cidr"))) is not None] for service in SERVICES}
    flow = _Flow()
    for log_format, (messages, truncated) in zip(logs_groups.values(), flow_answers, strict=True):
        _classify(flow, messages, _fields(log_format), set(subnet_of_interface), lists, region, cross)
        flow.truncated = flow.truncated or truncated
    covered = _flow_logged(flow_logs, subnets, enis, set(logs_groups))

    findings: list[Finding] = []
    for subnet in sorted(subnets, key=lambda s: (s.get("VpcId", ""), s.get("SubnetId", ""))):
        subnet_id, vpc_id = str(subnet["SubnetId"]), str(subnet.get("VpcId"))
        for service in SERVICES:
            prefix_list = by_name.get(f"com.amazonaws.{region}.{service}")
            if prefix_list is None:
                continue
            way = service_path(subnet, tables, endpoints, prefix_list, f"com.amazonaws.{region}.{service}")
            findings.append(_finding(account, region, subnet_id, vpc_id, service, way, workloads.get(subnet_id, {}),
                                     flow, subnet_id in covered, nat_bytes, since))
    to_s3 = {f.get("ResourceId") for f in flow_logs if f.get("LogDestinationType") == "s3"}
    for finding in findings:  # flow logs in S3 are not read: said, so that "no measurement" is not misread
        if finding.bytes_source != "flow-logs" and {finding.vpc_id, finding.subnet_id} & to_s3:
            finding.notes.append(f"{finding.vpc_id} has flow logs in S3, which s3gw audit does not read (Athena can)")
    _add_fixes(findings, region, fix_options)
    nat_report = {nat_id: {"bytes": nat_bytes.get(nat_id), "subnet_id": n.get("SubnetId"), "vpc_id": n.get("VpcId"),
                           "public_ips": [a["PublicIp"] for a in n.get("NatGatewayAddresses", []) if a.get("PublicIp")]}
                  for nat_id, n in live_nats.items()}
    result = RegionResult(account, region, "ok", f"{len(vpcs)} VPCs, {len(subnets)} subnets", findings, nat_report)
    if flow.truncated:
        for finding in findings:
            if finding.bytes_source == "flow-logs":
                finding.notes.append(f"flow logs: the first {MAX_FLOW_EVENTS} records only: a lower bound")
    return result


def _flow_logged(flow_logs: list[dict[str, Any]], subnets: list[dict[str, Any]], enis: list[dict[str, Any]],
                 groups: set[str]) -> set[str]:
    """The subnets whose interfaces a flow log in CloudWatch Logs records (on the VPC, the subnet, or an interface)."""
    resources = {f.get("ResourceId") for f in flow_logs if f.get("LogGroupName") in groups}
    covered = {str(s["SubnetId"]) for s in subnets if s.get("VpcId") in resources or s.get("SubnetId") in resources}
    covered |= {str(e.get("SubnetId")) for e in enis if e.get("NetworkInterfaceId") in resources}
    return covered


def _nat_bytes(cloudwatch: Any, nat_ids: list[str], start: float, end: float) -> dict[str, int | None]:
    """BytesOutToDestination + BytesInFromDestination per NAT gateway over the window (Sum by day); None: no data."""
    if not nat_ids:
        return {}
    queries = [{"Id": f"m{i}_{j}", "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": "AWS/NATGateway", "MetricName": metric,
                   "Dimensions": [{"Name": "NatGatewayId", "Value": nat_id}]},
        "Period": 86400, "Stat": "Sum"}}
        for i, nat_id in enumerate(nat_ids) for j, metric in enumerate(("BytesOutToDestination",
                                                                        "BytesInFromDestination"))]
    found: dict[str, int | None] = {nat_id: None for nat_id in nat_ids}
    for chunk in range(0, len(queries), 500):  # GetMetricData takes up to 500 queries a call
        kwargs: dict[str, Any] = {"MetricDataQueries": queries[chunk:chunk + 500],
                                  "StartTime": start, "EndTime": end}
        while True:
            page = cloudwatch.get_metric_data(**kwargs)
            for result in page.get("MetricDataResults", []):
                nat_id = nat_ids[int(result["Id"][1:].split("_")[0])]
                if result.get("Values"):
                    found[nat_id] = (found[nat_id] or 0) + int(sum(result["Values"]))
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    return found


def monthly_cost(bytes_: int, since: float, region: str) -> float | None:
    rate = NAT_RATES.get(region)
    if rate is None:
        return None
    return round(bytes_ / since * MONTH_SECONDS / GIB * rate.per_gb, 2)


def _finding(account: str, region: str, subnet_id: str, vpc_id: str, service: str, way: ServicePath,
             workloads: dict[tuple[str, str], Workload], flow: _Flow, logged: bool,
             nat_bytes: dict[str, int | None], since: float) -> Finding:
    mine = [Workload(w.kind, w.name, list(w.interfaces)) for w in workloads.values()]
    finding = Finding(account, region, vpc_id, subnet_id, way.table_id, service, way.path, way.via, mine,
                      None, None, None, None, nat_gateway_id=way.target if way.path == "nat" else None)
    if logged:
        for workload in mine:
            workload.bytes = sum(flow.in_region.get((i, service), 0) for i in workload.interfaces)
            if service == "s3":
                workload.cross_region_bytes = sum(flow.cross_region.get(i, 0) for i in workload.interfaces)
        finding.bytes, finding.bytes_source = sum(w.bytes or 0 for w in mine), "flow-logs"
        if service == "s3":
            finding.cross_region_bytes = sum(w.cross_region_bytes or 0 for w in mine)
    elif way.path == "nat" and nat_bytes.get(way.target) is not None:
        finding.bytes, finding.bytes_source = nat_bytes[way.target], "nat-metrics"
        finding.notes.append(f"no flow logs in CloudWatch Logs for {vpc_id}: {way.target}'s own bytes "
                             "(BytesOutToDestination + BytesInFromDestination), all its traffic, not only "
                             f"{service}'s, and shared by every subnet routed to it: a ceiling")
    elif way.path == "nat":
        finding.notes.append(f"no measurement: no flow logs in CloudWatch Logs for {vpc_id} and no AWS/NATGateway "
                             f"metrics for {way.target}; the rate: {nat_cost_line(region)}")
    if way.path == "nat" and finding.bytes is not None:
        finding.monthly_cost_usd = monthly_cost(finding.bytes, since, region)
        rate = NAT_RATES.get(region)
        finding.cost_source = rate.source if rate else None
        if rate is None:
            finding.notes.append(f"no NAT rate on record for {region}: see {PAGE}")
    if way.path == "endpoint":
        finding.monthly_cost_usd = 0.0 if finding.bytes is not None else None
    return finding


def fix_stack_name(vpc_id: str) -> str:
    return f"ep-{vpc_id}"


def _add_fixes(findings: list[Finding], region: str, options: Sequence[str]) -> None:
    """One command per VPC: its tables with traffic on a fixable path, for every service that has some."""
    by_vpc: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.path in _FIXABLE and finding.route_table_id:
            by_vpc.setdefault(finding.vpc_id, []).append(finding)
    for vpc_id, found in by_vpc.items():
        for finding in found:
            if finding.service not in ENDPOINT_ONLY_SERVICES:
                finding.notes.append(f"s3gw cannot make a {finding.service} endpoint-only stack yet: no fix command")
        mine = [f for f in found if f.service in ENDPOINT_ONLY_SERVICES]
        if not mine:
            continue
        tables = sorted({f.route_table_id for f in mine})
        services = [s for s in SERVICES if any(f.service == s for f in mine)]
        command = " ".join(["s3gw up", "--stack", fix_stack_name(vpc_id), "--region", region, *options, "--vpc-id",
                            vpc_id, "--endpoint-only", "--route-table-ids", ",".join(tables), "--services",
                            ",".join(services)])
        for finding in mine:
            finding.fix = command
    for finding in findings:
        if finding.path in ("tgw", "firewall", "peering"):
            finding.notes.append(f"{finding.path}: steered on purpose; a gateway endpoint's route would bypass it")


# --- bucket policies naming a NAT gateway's address ------------------------------------------------------------


def source_ip_buckets(s3: Any, addresses: set[str], unread: list[str] | None = None) -> dict[str, list[str]]:
    """Bucket -> the NAT addresses its policy names under aws:SourceIp. Through a gateway endpoint S3 sees the
    private address instead, so such a condition stops matching once the traffic leaves the NAT (S3 User Guide,
    "Controlling access from VPC endpoints with bucket policies": aws:SourceIp cannot name a VPC's private
    addresses; use aws:SourceVpce)."""
    if not addresses:
        return {}
    unread = [] if unread is None else unread  # what could not be read, said rather than taken as "none"
    try:
        names = [b["Name"] for page in s3.get_paginator("list_buckets").paginate() for b in page.get("Buckets", [])]
    except Exception as exc:
        unread.append(f"the account's buckets ({_code(exc) or type(exc).__name__})")
        return {}

    def one(name: str) -> list[str]:
        try:
            document = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
        except Exception as exc:
            if _code(exc) not in ("NoSuchBucketPolicy", "NoSuchBucket"):
                unread.append(f"{name} ({_code(exc) or type(exc).__name__})")
            return []
        return sorted(a for a in addresses if _names_address(document, ipaddress.ip_address(a)))

    found = at_once(*[lambda n=n: one(n) for n in names])
    return {name: hits for name, hits in zip(names, found, strict=True) if hits}


def _names_address(document: Any, address: ipaddress._BaseAddress) -> bool:
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    for statement in statements if isinstance(statements, list) else [statements]:
        for operator, pairs in (statement.get("Condition") or {}).items():
            if "IpAddress" not in operator or not isinstance(pairs, dict):
                continue
            for key, values in pairs.items():
                if key.lower() != "aws:sourceip":
                    continue
                for value in values if isinstance(values, list) else [values]:
                    try:
                        if address in ipaddress.ip_network(str(value), strict=False):
                            return True
                    except ValueError:
                        continue
    return False


# --- the whole audit --------------------------------------------------------------------------------------------


def run_audit(client_for: Callable[[str], ClientFactory], accounts: Sequence[str], regions: list[str] | None,
              home: str, since: float, *, now: float | None = None, fix_options: Sequence[str] = (),
              progress: Callable[[int, int, str], None] = lambda done, total, label: None) -> AuditReport:
    """Every (account, region) at once, up to REGION_WORKERS. `client_for(account)` gives that account's client
    factory (its own credentials, or an assumed role); `regions` None: every region each account has enabled."""
    now = time.time() if now is None else now
    jobs: list[tuple[str, str, ClientFactory, CrossRegion]] = []
    for account in accounts:
        client = client_for(account)
        names = regions
        if names is None:
            names = sorted(r["RegionName"] for r in client("ec2", home).describe_regions()["Regions"])
        cross = CrossRegion(client, home)
        jobs += [(account, region, client, cross) for region in names]
    done = 0
    lock = threading.Lock()

    def one(job: tuple[str, str, ClientFactory, CrossRegion]) -> RegionResult:
        nonlocal done
        account, region, client, cross = job
        result = audit_region(client, account, region, since, now, cross, fix_options)
        with lock:
            done += 1
            progress(done, len(jobs), f"{account} {region}")
        return result

    progress(0, len(jobs), "")
    with ThreadPoolExecutor(max_workers=max(1, min(REGION_WORKERS, len(jobs)))) as pool:
        results = list(pool.map(one, jobs))
    _name_policies(results, client_for, home)
    return AuditReport(since, results)


def _name_policies(results: list[RegionResult], client_for: Callable[[str], ClientFactory], home: str) -> None:
    """Per account with a NAT path for S3: the buckets whose policies name that NAT's public addresses."""
    for account in dict.fromkeys(r.account for r in results):
        mine = [r for r in results if r.account == account]
        nats = {nat_id: n for r in mine for nat_id, n in r.nat_gateways.items()}
        on_path = {f.nat_gateway_id for r in mine for f in r.findings if f.path == "nat" and f.service == "s3"}
        addresses = {ip for nat_id in on_path if nat_id in nats for ip in nats[nat_id]["public_ips"]}
        if not addresses:
            continue
        unread: list[str] = []
        buckets = source_ip_buckets(client_for(account)("s3", home), addresses, unread)
        for finding in (f for r in mine for f in r.findings if f.path == "nat" and f.service == "s3"):
            if unread:
                finding.notes.append(f"bucket policies not read: {', '.join(unread[:5])}"
                                     + (f" and {len(unread) - 5} more" if len(unread) > 5 else "")
                                     + ": check them for aws:SourceIp naming the NAT's address")
            ips = set(nats.get(finding.nat_gateway_id or "", {}).get("public_ips", []))
            finding.bucket_policies = sorted(b for b, hits in buckets.items() if ips & set(hits))
            for bucket in finding.bucket_policies:
                finding.notes.append(f"bucket {bucket}'s policy names {finding.nat_gateway_id}'s address in "
                                     "aws:SourceIp: through the endpoint S3 sees a private address and the "
                                     "condition stops matching (use aws:SourceVpce)")


# --- the report as text and Markdown (the same facts as the JSON) ---------------------------------------------


def _size(value: int | None) -> str:
    if value is None:
        return "not measured"
    return f"{value / GIB:.2f} GB" if value >= GIB // 100 else f"{value} B"


def _cost(finding: Finding) -> str:
    if finding.monthly_cost_usd is None:
        return "-" if finding.path != "nat" else "no figure"
    return f"${finding.monthly_cost_usd:,.2f}/month"


def _workloads(finding: Finding) -> str:
    return ", ".join(f"{w.kind}:{w.name}" + (f" ({_size(w.bytes)})" if w.bytes else "")
                     for w in finding.workloads) or "none"


def _days(seconds: float) -> str:
    return f"{seconds / 86400:g}d" if seconds >= 86400 else f"{seconds:g}s"


def region_line(result: RegionResult) -> str:
    return f"{result.account} {result.region}: {result.message}"


def to_text(report: AuditReport) -> str:
    lines: list[str] = []
    for result in report.regions:
        if result.status != "ok":
            lines.append(region_line(result))
            continue
        if not any(f.path == "nat" for f in result.findings):
            paths = ", ".join(f"{sum(f.path == p for f in result.findings)} {p}"
                              for p in sorted({f.path for f in result.findings}))
            lines.append(f"{result.account} {result.region}: nothing through a NAT gateway ({result.message}; "
                         f"S3/DynamoDB paths: {paths})")
            continue
        lines.append(f"{region_line(result)} (bytes over {_days(report.since_seconds)})")
        for f in result.findings:
            measured = f"{_size(f.bytes)} via {f.bytes_source}" if f.bytes_source else _size(f.bytes)
            cross = f", cross-region S3 {_size(f.cross_region_bytes)} (no endpoint carries it)" \
                if f.cross_region_bytes else ""
            lines.append(f"  {f.vpc_id} {f.subnet_id} {f.service}: {f.path} ({f.route_table_id}: {f.via}); "
                         f"workloads: {_workloads(f)}; {measured}{cross}; {_cost(f)}")
            lines += [f"    note: {note}" for note in f.notes]
        for fix in dict.fromkeys(f.fix for f in result.findings if f.fix):
            lines.append(f"  fix: {fix}")
        for nat_id, nat in result.nat_gateways.items():
            lines.append(f"  {nat_id}: {_size(nat['bytes'])} over {_days(report.since_seconds)} "
                         f"(AWS/NATGateway BytesOutToDestination + BytesInFromDestination)")
    totals = report.totals()
    cost = "no figure" if totals["monthly_cost_usd"] is None else f"${totals['monthly_cost_usd']:,.2f}/month"
    lines.append(f"total: {totals['findings']} findings, {totals['nat_findings']} through a NAT gateway, "
                 f"{_size(totals['nat_bytes_flow_logs'])} to in-region services measured by flow logs ({cost}: what "
                 "the endpoints would save; the NAT's hourly charge stays), "
                 f"{_size(totals['cross_region_bytes'])} to other regions' S3, "
                 f"{totals['regions_not_read']} regions not read")
    return "\n".join(lines)


def to_markdown(report: AuditReport) -> str:
    lines = [f"# s3gw audit (bytes over {_days(report.since_seconds)})", ""]
    for result in report.regions:
        lines.append(f"## {result.region} (account {result.account})")
        lines.append("")
        if result.status != "ok" or not result.findings:
            lines += [result.message, ""]
            continue
        lines.append("| VPC | subnet | service | path | via | workloads | bytes | source | cross-region S3 | "
                     "monthly cost |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for f in result.findings:
            lines.append(f"| {f.vpc_id} | {f.subnet_id} | {f.service} | {f.path} | `{f.via}` | {_workloads(f)} | "
                         f"{_size(f.bytes)} | {f.bytes_source or '-'} | {_size(f.cross_region_bytes)} | {_cost(f)} |")
        notes = [f"- {f.subnet_id} {f.service}: {note}" for f in result.findings for note in f.notes]
        fixes = [f"```sh\n{fix}\n```" for fix in dict.fromkeys(f.fix for f in result.findings if f.fix)]
        lines += ["", *notes, *(["", "Fix:", "", *fixes] if fixes else []), ""]
    totals = report.totals()
    cost = "no figure" if totals["monthly_cost_usd"] is None else f"${totals['monthly_cost_usd']:,.2f}"
    lines.append(f"Total: {totals['findings']} findings, {totals['nat_findings']} through a NAT gateway, "
                 f"{_size(totals['nat_bytes_flow_logs'])} measured by flow logs, monthly cost {cost} (what the "
                 "endpoints would save; the NAT's hourly charge stays).")
    return "\n".join(lines)


# --- merging documents (one per account or region, from a CI matrix) ---------------------------------------------


def from_dict(document: Any, where: str) -> AuditReport:
    """An `s3gw audit --output json` document back into a report; anything else is refused in one line."""
    if not isinstance(document, dict) or document.get("schema") != SCHEMA or not isinstance(
            document.get("findings"), list) or not isinstance(document.get("regions"), list):
        raise UsageError(f"{where} is not an s3gw audit document (schema {SCHEMA})",
                         "give the files `s3gw audit --output json` wrote")
    try:
        findings = [Finding(**{**f, "workloads": [Workload(**w) for w in f.get("workloads", [])]})
                    for f in document["findings"]]
        regions = [RegionResult(r["account"], r["region"], r["status"], r.get("message", ""),
                                [f for f in findings if (f.account, f.region) == (r["account"], r["region"])],
                                r.get("nat_gateways") or {}) for r in document["regions"]]
        return AuditReport(float(document.get("since_seconds") or 0), regions)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{where}: a finding or region does not read as s3gw wrote it ({exc})",
                         "give the files `s3gw audit --output json` wrote, unedited") from None


def merge(reports: Sequence[AuditReport]) -> AuditReport:
    """One report of many: every (account, region) once (a later document's wins); windows must agree."""
    windows = {r.since_seconds for r in reports}
    if len(windows) > 1:
        shown = ", ".join(_days(w) for w in sorted(windows))
        raise UsageError(f"the documents cover different --since windows ({shown})",
                         "merge documents of the same --since")
    by_key: dict[tuple[str, str], RegionResult] = {}
    for report in reports:
        for region in report.regions:
            by_key[(region.account, region.region)] = region
    return AuditReport(next(iter(windows), 0.0), [by_key[k] for k in sorted(by_key)])
