"""`s3gw verify`: check every link of the private path with describe calls only, and say how to fix a broken one.

Works on a stack s3gw made (ids from the state file) and on a setup people bring (`--function`, `--bucket`).
The path model is s3gw.reach and the bucket-policy judge is s3gw.policy.evaluator: the same code the sandbox enforces.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from s3gw import reach
from s3gw.errors import AwsError, UsageError
from s3gw.permissions import vpc_access_policy_arn
from s3gw.policy.documents import DATA_ACTIONS, FUNCTION_ACTIONS, action_resource, is_own, statements_of
from s3gw.policy.evaluator import Request, decide, evaluate
from s3gw.reach import Link
from s3gw.steps.base import Context, is_code
from s3gw.steps.bucket import location_region, public_access_off
from s3gw.steps.bucket import policy_text as bucket_policy_text
from s3gw.steps.security_group import Rule, describe_rule, flatten, wanted_egress
from s3gw.words import plural

_ENI_ACTIONS = ("ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface")
_POLICY_ACTIONS = ("s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy")


# One link of the path: name, ok, what was seen, and the fix. reach's Link is exactly that.
Check = Link


@dataclass
class VerifyReport:
    function: str
    bucket: str
    endpoint_id: str | None
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def broken(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]


def verify(ctx: Context, function_name: str | None = None, bucket: str | None = None) -> VerifyReport:
    """Every link, in the order traffic meets them: function → subnets/SG → route → endpoint → bucket."""
    own_stack = not function_name and not bucket
    if own_stack and ctx.config.endpoint_only:
        return _endpoint_only(ctx)
    function_name = function_name or ctx.outputs.get("function_name")
    bucket = bucket or ctx.outputs.get("bucket")
    if not function_name or not bucket:
        raise UsageError(f"stack {ctx.config.stack} has no function and bucket recorded",
                         "run 's3gw up', or name an existing setup with --function NAME --bucket NAME")
    repair = "run 's3gw up' (it repairs this)" if own_stack else ""
    report = VerifyReport(function_name, bucket, None)
    checks = report.checks

    configuration = _function_configuration(ctx, function_name)
    vpc = configuration.get("VpcConfig") or {}
    subnet_ids, group_ids = list(vpc.get("SubnetIds") or []), list(vpc.get("SecurityGroupIds") or [])
    checks.append(_function_check(configuration, ctx, own_stack, subnet_ids, group_ids, repair))

    snapshot = reach.fetch_snapshot(ctx.aws.ec2, subnet_ids, group_ids)
    path = reach.s3_reach(ctx.config.region, subnet_ids, group_ids, **snapshot)
    endpoint_id = ctx.outputs.get("endpoint_id") if own_stack else None
    endpoint_id = endpoint_id or path.endpoint_id or _endpoint_in(snapshot, ctx.config.region)
    report.endpoint_id = endpoint_id
    endpoint = next((e for e in snapshot["endpoints"] if e.get("VpcEndpointId") == endpoint_id), None)
    if endpoint is None and endpoint_id:
        endpoint = _describe_endpoint(ctx, endpoint_id)
    checks.extend(_endpoint_checks(endpoint, endpoint_id, ctx.config.region, repair))
    checks.extend(replace(link, fix="" if link.ok else (repair or link.fix)) for link in path.links)
    checks.append(_egress_only_check(snapshot, group_ids, repair, wanted_egress(ctx) if own_stack else None))
    if ctx.config.dualstack if own_stack else takes_ipv6(configuration):
        checks.extend(_ipv6_checks(ctx, configuration, snapshot, endpoint, endpoint_id, own_stack, repair))

    location = _bucket_region(ctx, bucket)
    checks.append(Check(
        "bucket region", location == ctx.config.region,
        f"{bucket} is in {location}" + ("" if location == ctx.config.region else
                                         f"; a gateway endpoint in {ctx.config.region} cannot reach it"),
        "" if location == ctx.config.region else f"use a bucket in {ctx.config.region}, or run s3gw in {location}",
    ))
    policy_text = bucket_policy_text(ctx, bucket)
    role_arn = str(configuration.get("Role", ""))
    traffic_endpoint = path.endpoint_id or endpoint_id  # what aws:SourceVpce will say on the function's calls
    wanted = ctx.config.allow_principals if own_stack else None
    partition = ctx.aws.partition
    checks.extend(_policy_checks(policy_text, bucket, role_arn, traffic_endpoint, snapshot, function_name, repair,
                                 wanted, partition, bool(ctx.config.allow_aws_services) if own_stack else None))
    checks.extend(_endpoint_policy_checks(endpoint, bucket, role_arn, function_name, repair, partition))
    checks.append(_public_access_check(ctx, bucket, repair))
    checks.extend(_role_checks(ctx, role_arn, bucket, function_name, repair, partition))
    if own_stack and ctx.outputs.get("table_name"):  # the DynamoDB lane (--table)
        from s3gw.verify_dynamodb import dynamodb_checks

        checks.extend(dynamodb_checks(ctx, configuration, snapshot, repair,
                                      _role_policies(ctx, role_arn.rsplit("/", 1)[-1])))
    if own_stack:  # your functions (up --code, up --function NAME --adopt) take the probe's path: each is checked
        from s3gw.function_calls import user_functions

        for name in user_functions(ctx):
            checks.extend(_user_function_checks(ctx, name, bucket, policy_text, endpoint, traffic_endpoint, repair))
    return report


def _endpoint_only(ctx: Context) -> VerifyReport:
    """An endpoint-only stack (`up --endpoint-only`): its endpoints are there and available, and every subnet that
    uses one of the stack's tables sends each service's traffic to the stack's endpoint for it, by route priority
    (reach.service_path, as `s3gw audit` judges it)."""
    from s3gw.steps.base import endpoint_only_services

    ec2, region, vpc_id = ctx.aws.ec2, ctx.config.region, str(ctx.outputs.get("vpc_id") or ctx.config.vpc_id)
    services = endpoint_only_services(ctx)
    ids = {"s3": ctx.outputs.get("endpoint_id"), "dynamodb": ctx.outputs.get("dynamodb_endpoint_id")}
    report = VerifyReport("", "", ids["s3"] if "s3" in services else ids["dynamodb"])
    in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    names = {service: f"com.amazonaws.{region}.{service}" for service in services}
    subnets = reach._all(ec2, "describe_subnets", "Subnets", Filters=in_vpc)
    tables = reach._all(ec2, "describe_route_tables", "RouteTables", Filters=in_vpc)
    endpoints = reach._all(ec2, "describe_vpc_endpoints", "VpcEndpoints", Filters=in_vpc)
    lists = {p["PrefixListName"]: p for p in reach._all(ec2, "describe_managed_prefix_lists", "PrefixLists", Filters=[
        {"Name": "prefix-list-name", "Values": list(names.values())}])}
    for prefix_list in lists.values():
        prefix_list["Entries"] = reach._all(ec2, "get_managed_prefix_list_entries", "Entries",
                                            PrefixListId=prefix_list["PrefixListId"])
    repair = "run 's3gw up' (it repairs this)"
    if "s3" in services:
        endpoint = next((e for e in endpoints if e.get("VpcEndpointId") == ids["s3"]), None)
        report.checks.extend(_endpoint_checks(endpoint, ids["s3"], region, repair))
    mine = set(ctx.outputs.get("route_table_ids") or ())
    for service, name in names.items():
        for subnet in sorted(subnets, key=lambda s: str(s.get("SubnetId"))):
            way = reach.service_path(subnet, tables, endpoints, lists.get(name), name)
            if way.table_id not in mine:
                continue
            ok = way.path == "endpoint" and way.target == ids[service]
            label = "S3" if service == "s3" else "DynamoDB"
            report.checks.append(Check(f"{subnet['SubnetId']}: {label} path", ok,
                                       f"{way.table_id}: {way.via} ({way.path})", "" if ok else repair))
    return report


def _user_function_checks(ctx: Context, name: str, bucket: str, policy: str | None, endpoint: dict[str, Any] | None,
                          endpoint_id: str | None, repair: str) -> list[Check]:
    """One of your functions: in the stack's subnets, behind the stack's group (443 to the S3 prefix list: the path
    model), its role allowed what the bucket needs (its real policies), the seal and the endpoint policy letting its
    calls through. Each check named after the function."""
    configuration = _function_configuration(ctx, name)
    vpc = configuration.get("VpcConfig") or {}
    subnet_ids, group_ids = list(vpc.get("SubnetIds") or []), list(vpc.get("SecurityGroupIds") or [])
    problems = []
    if sorted(subnet_ids) != sorted(ctx.outputs.get("subnet_ids") or []):
        problems.append(f"its subnets {', '.join(subnet_ids) or 'none (not in a VPC)'} are not the stack's")
    if ctx.outputs.get("security_group_id") not in group_ids:
        problems.append(f"its security groups {', '.join(group_ids) or 'none'} leave out the stack's")
    checks = [Check("function", not problems, "; ".join(problems) if problems else
                    f"in the stack's {plural(len(subnet_ids), 'subnet')}, behind {', '.join(group_ids)}",
                    repair if problems else "")]
    snapshot = reach.fetch_snapshot(ctx.aws.ec2, subnet_ids, group_ids)
    path = reach.s3_reach(ctx.config.region, subnet_ids, group_ids, **snapshot)
    checks.extend(replace(link, fix="" if link.ok else (repair or link.fix)) for link in path.links)
    role_arn = str(configuration.get("Role", ""))
    partition = ctx.aws.partition
    account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
    caller = f"arn:{partition}:sts::{account}:assumed-role/{role_arn.rsplit('/', 1)[-1]}/{name}"
    through = {"aws:SourceVpce": path.endpoint_id or endpoint_id, "aws:SecureTransport": True,
               "aws:PrincipalArn": role_arn, "aws:PrincipalAccount": account,
               "aws:SourceVpc": next((s.get("VpcId") for s in snapshot["subnets"]), None)}
    try:
        denied = [a for a in FUNCTION_ACTIONS if policy is not None and decide(
            Request(a, action_resource(a, bucket, partition), caller, account, through),
            resource_policy=policy).effect == "Deny"]
    except ValueError as exc:
        denied = [f"(cannot evaluate the bucket policy: {exc})"]
    checks.append(Check("seal lets it through", not denied, f"the bucket policy denies {', '.join(denied)} to it"
                        if denied else f"the bucket policy lets its calls through {through['aws:SourceVpce']}",
                        repair if denied else ""))
    checks.extend(_endpoint_policy_checks(endpoint, bucket, role_arn, name, repair, partition)[:1])
    checks.extend(_role_checks(ctx, role_arn, bucket, name, repair, partition))
    return [replace(check, name=f"{name}: {check.name}") for check in checks]


# --- the function ---------------------------------------------------------------------------------


def _function_configuration(ctx: Context, name: str) -> dict[str, Any]:
    try:
        return dict(ctx.aws.lambda_.get_function_configuration(FunctionName=name))
    except Exception as exc:
        if is_code(exc, "ResourceNotFoundException"):
            raise AwsError(f"function {name} not found in {ctx.config.region}",
                           "check --function and --region, or run 's3gw up'") from None
        raise


def _function_check(configuration: dict[str, Any], ctx: Context, own_stack: bool, subnet_ids: list[str],
                    group_ids: list[str], repair: str) -> Check:
    name = configuration.get("FunctionName", "")
    state = configuration.get("State") or "Active"
    problems = []
    if state not in ("Active", "Inactive"):  # Inactive wakes on the next invoke
        problems.append(f"it is {state} ({configuration.get('StateReason', 'no reason given')})")
    if not subnet_ids:
        problems.append("it is not in a VPC, so its traffic never meets the endpoint")
    if own_stack:
        if sorted(subnet_ids) != sorted(ctx.outputs.get("subnet_ids") or []):
            problems.append(f"its subnets {', '.join(subnet_ids) or 'none'} are not the stack's")
        if group_ids != [ctx.outputs.get("security_group_id")]:
            problems.append(f"its security groups {', '.join(group_ids) or 'none'} are not the stack's")
    if problems:
        return Check("function", False, f"{name}: " + "; ".join(problems),
                     repair or f"aws lambda update-function-configuration --function-name {name} --vpc-config ...")
    return Check("function", True,
                 f"{name} is {state}, in {plural(len(subnet_ids), 'subnet')} behind {', '.join(group_ids)}")


# --- the endpoint ---------------------------------------------------------------------------------


def _endpoint_in(snapshot: dict[str, Any], region: str) -> str | None:
    """For a setup we did not make: the VPC's S3 endpoint, gateway first."""
    candidates = [e for e in snapshot["endpoints"] if str(e.get("ServiceName", "")).endswith(".s3")
                  and str(e.get("State", "")).lower() not in ("deleted", "deleting")]
    candidates.sort(key=lambda e: (e.get("VpcEndpointType") != "Gateway",
                                   e.get("ServiceName") != reach.s3_service_name(region)))
    return str(candidates[0]["VpcEndpointId"]) if candidates else None


def _describe_endpoint(ctx: Context, endpoint_id: str) -> dict[str, Any] | None:
    try:
        found = ctx.aws.ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"]
    except Exception as exc:
        if is_code(exc, "InvalidVpcEndpointId.NotFound"):
            return None
        raise
    return dict(found[0]) if found else None


def _endpoint_checks(endpoint: dict[str, Any] | None, endpoint_id: str | None, region: str,
                     repair: str) -> list[Check]:
    service = reach.s3_service_name(region)
    if endpoint is None or str(endpoint.get("State", "")).lower() in ("deleted", "deleting"):
        what = f"endpoint {endpoint_id} does not exist" if endpoint_id else "the VPC has no S3 endpoint"
        return [Check("endpoint exists", False, what,
                      repair or f"aws ec2 create-vpc-endpoint --vpc-endpoint-type Gateway --service-name {service} "
                                "--vpc-id VPC --route-table-ids RTB...")]
    checks = [Check("endpoint exists", True, f"{endpoint_id} in {endpoint.get('VpcId')}")]
    kind = endpoint.get("VpcEndpointType", "")
    checks.append(Check(
        "endpoint type", kind == "Gateway",
        f"{endpoint_id} is of type {kind}" + ("" if kind == "Gateway" else
                                                 ": an Interface endpoint adds no route and needs its own DNS name; "
                                                 "aws:SourceVpce still names it, but the route tables never use it"),
        "" if kind == "Gateway" else (repair or f"create a Gateway endpoint for {service} on the subnets' tables"),
    ))
    actual_service = endpoint.get("ServiceName", "")
    checks.append(Check(
        "endpoint service", actual_service == service,
        f"{endpoint_id} serves {actual_service}" + ("" if actual_service == service else
                                                    f", not {service}: a gateway endpoint serves S3 of its own region"),
        "" if actual_service == service else (repair or f"recreate the endpoint with --service-name {service}"),
    ))
    state = str(endpoint.get("State", ""))
    checks.append(Check("endpoint state", state.lower() == "available", f"{endpoint_id} is {state}",
                        "" if state.lower() == "available" else "wait for it, or recreate it"))
    return checks


# --- IPv6 (issue 23) --------------------------------------------------------------------------------


def takes_ipv6(configuration: dict[str, Any]) -> bool:
    """A function whose S3 calls take IPv6 (the sandbox's rule, s3gw.sandbox.app._takes_ipv6, cites why): IPv6
    allowed on dual-stack subnets, and its SDK told to use dual-stack endpoints."""
    variables = (configuration.get("Environment") or {}).get("Variables") or {}
    return bool((configuration.get("VpcConfig") or {}).get("Ipv6AllowedForDualStack")) and \
        str(variables.get("AWS_USE_DUALSTACK_ENDPOINT", "")).lower() == "true"


def _ipv6_checks(ctx: Context, configuration: dict[str, Any], snapshot: dict[str, Any],
                 endpoint: dict[str, Any] | None, endpoint_id: str | None, own_stack: bool, repair: str) -> list[Check]:
    """The IPv6 family of the path: the function takes IPv6, the endpoint is dualstack, every function subnet's
    table routes S3's IPv6 prefix list to it, and the group lets 443 out to it (each a link, named)."""
    vpc = configuration.get("VpcConfig") or {}
    subnet_ids, group_ids = list(vpc.get("SubnetIds") or []), list(vpc.get("SecurityGroupIds") or [])
    checks = []
    if own_stack:
        ok = takes_ipv6(configuration)
        checks.append(Check(
            "function takes IPv6", ok,
            f"{configuration.get('FunctionName')}: Ipv6AllowedForDualStack on, S3's dual-stack endpoint" if ok else
            f"{configuration.get('FunctionName')} has Ipv6AllowedForDualStack off or no AWS_USE_DUALSTACK_ENDPOINT: "
            "its S3 calls never take IPv6", "" if ok else repair))
    kind = reach.endpoint_address_type(endpoint)
    if endpoint is not None:
        checks.append(Check(
            "endpoint IP address type", kind == "dualstack", f"{endpoint_id} is {kind}" + (
                "" if kind == "dualstack" else ": its route tables get no route for S3's IPv6 prefix list, so the "
                "function's IPv6 calls to S3 are dropped"),
            "" if kind == "dualstack" else (repair or f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {endpoint_id} "
                                            "--ip-address-type dualstack")))
    path = reach.s3_reach_v6(ctx.config.region, subnet_ids, group_ids, **snapshot)
    checks.extend(replace(link, fix="" if link.ok else (repair or link.fix)) for link in path.links)
    return checks


# --- the security groups --------------------------------------------------------------------------


def _egress_only_check(snapshot: dict[str, Any], group_ids: list[str], repair: str,
                       asked: set[Rule] | None = None) -> Check:
    """Reach says whether 443 gets out; this says whether anything else does (the default allow-all rule).

    `asked` is the rules the stack was made with (`up --egress anywhere`: TCP 443 to 0.0.0.0/0, and ::/0 when
    dualstack), which is what is verified for a stack s3gw made: the setting up supports is not a broken link."""
    to_s3 = {("tcp", 443, 443, "prefix-list", p.get("PrefixListId")) for p in snapshot["prefix_lists"]}
    to_s3 |= asked or set()
    extra = [f"{group['GroupId']}: {describe_rule(rule)}"
             for group in snapshot["security_groups"] if group.get("GroupId") in group_ids
             for rule in sorted(flatten(group.get("IpPermissionsEgress", [])) - to_s3)]
    if extra:
        first = group_ids[0] if group_ids else "GROUP"
        return Check("egress is HTTPS only", False, "more egress than HTTPS to S3 is open: " + "; ".join(extra),
                     repair or f"aws ec2 revoke-security-group-egress --group-id {first} --ip-permissions "
                               "IpProtocol=-1,IpRanges=[{CidrIp=0.0.0.0/0}]")
    cidrs = sorted(rule[4] for rule in asked or set() if rule[3] in ("cidr", "cidr6"))
    if cidrs:
        return Check("egress is HTTPS only", True,
                     f"no egress but TCP 443 to {', '.join(cidrs)} (up --egress anywhere)")
    return Check("egress is HTTPS only", True, "no egress but TCP 443 to S3")


# --- the bucket -----------------------------------------------------------------------------------


def _bucket_region(ctx: Context, bucket: str) -> str:
    try:
        answer = ctx.aws.s3.get_bucket_location(Bucket=bucket)
    except Exception as exc:
        if is_code(exc, "NoSuchBucket"):
            raise AwsError(f"bucket {bucket} does not exist", "check --bucket, or run 's3gw up'") from None
        raise
    return location_region(answer)


_LEAKS = {
    "list versions": "it leaks every key and version id (ListObjectVersions)",
    "get version": "GetObject?versionId= reads any object (versionId=null works on an unversioned bucket)",
    "delete version": "DeleteObject?versionId= destroys versions for good",
    "ACL": "an object or bucket ACL can be read or opened",
}
_OTHER_ACCOUNT = "000000000000"  # a stand-in for any account but the stack's


def _policy_checks(policy: str | None, bucket: str, role_arn: str, endpoint_id: str | None,
                   snapshot: dict[str, Any], function_name: str, repair: str,
                   allow_principals: tuple[str, ...] | None, partition: str,
                   allow_aws_services: bool | None = None) -> list[Check]:
    if policy is None:
        return [Check("seal (bucket policy)", False, f"{bucket} has no bucket policy: it is unsealed and answers "
                      "from anywhere, not only through the endpoint",
                      repair or "put a policy denying s3:* but bucket management unless aws:SourceVpce is it")]
    try:
        evaluate(policy, Request("s3:ListBucket", f"arn:{partition}:s3:::{bucket}"))
    except ValueError as exc:
        return [Check("seal (bucket policy)", False, f"cannot evaluate the policy: {exc}", repair)]
    account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
    role_name = role_arn.rsplit("/", 1)[-1]
    caller = f"arn:{partition}:sts::{account}:assumed-role/{role_name}/{function_name}"
    vpc_id = next((s.get("VpcId") for s in snapshot["subnets"]), None)
    through = {"aws:SourceVpce": endpoint_id, "aws:SourceVpc": vpc_id, "aws:SecureTransport": True,
               "aws:PrincipalArn": role_arn, "aws:PrincipalAccount": account}
    outsider = f"arn:{partition}:iam::{account}:user/s3gw-verify-outsider"  # anyone in the account, not exempted
    outside = {"aws:SecureTransport": True, "aws:PrincipalArn": outsider, "aws:PrincipalAccount": account}
    checks = []
    named = _named_endpoints(policy)
    fix = repair or (f"deny s3:* (NotAction: only the bucket-policy and bucket-setting actions) on {bucket} and "
                     f"{bucket}/* unless aws:SourceVpce is {endpoint_id}, as s3gw's seal does")
    for kind, actions in DATA_ACTIONS.items():
        resources = {a: action_resource(a, bucket, partition) for a in actions}
        blocked = [a for a in actions if a in FUNCTION_ACTIONS and decide(
            Request(a, resources[a], caller, account, through), resource_policy=policy).effect == "Deny"]
        if blocked:
            hint = _why_denied(named, endpoint_id, vpc_id) or repair or "let the endpoint through in the policy"
            checks.append(Check(f"seal: {kind}", False,
                                f"{', '.join(blocked)} from {role_name} via {endpoint_id} is denied", hint))
            continue
        open_outside = [a for a in actions if decide(Request(a, resources[a], outsider, account, outside),
                                                     resource_policy=policy).effect != "Deny"]
        if open_outside:
            leak = f": {_LEAKS[kind]}" if kind in _LEAKS else ""
            checks.append(Check(f"seal: {kind}", False, f"{', '.join(open_outside)} from outside the endpoint is not "
                                f"denied{leak}", fix))
            continue
        checks.append(Check(f"seal: {kind}", True, "denied outside the endpoint"))
    checks.append(_exemptions_check(policy, bucket, account, allow_principals, repair, partition, allow_aws_services))
    operator = f"arn:{partition}:iam::{account}:user/operator"
    locked = [a for a in _POLICY_ACTIONS if decide(Request(a, f"arn:{partition}:s3:::{bucket}", operator, account,
                                                           {**outside, "aws:PrincipalArn": operator}),
                                                   resource_policy=policy).effect == "Deny"]
    checks.append(Check(
        "policy leaves the policy editable", not locked,
        "the policy denies " + ", ".join(locked) + " from outside the endpoint: only the account root can now "
        "change or delete it" if locked else "bucket-policy actions are not denied",
        "as the account root: aws s3api delete-bucket-policy --bucket " + bucket + "; never deny s3:*BucketPolicy"
        if locked else "",
    ))
    return checks


def _exemptions_check(policy: str, bucket: str, account: str, wanted: tuple[str, ...] | None,
                      repair: str, partition: str = "aws", wanted_services: bool | None = None) -> Check:
    """Who the seal lets in from outside the endpoint: the aws:PrincipalArn values its Deny spares, and which
    kinds of AWS service caller (policy.bucket_policy, --allow-aws-services) it does not deny."""
    statements = statements_of(policy)
    if any(is_own(stmt) for stmt in statements):  # an adopted bucket: the seal is s3gw's statements, not the user's
        statements = [stmt for stmt in statements if is_own(stmt)]
    exempt = sorted({str(v) for stmt in statements if stmt.get("Effect") == "Deny"
                     for block in (stmt.get("Condition") or {}).values()
                     for key, values in block.items() if key.lower() == "aws:principalarn"
                     for v in (values if isinstance(values, list) else [values])
                     if ":role/aws-service-role/" not in str(v)})  # the service-linked roles: reported as a service
    services = aws_services_exempt({"Version": "2012-10-17", "Statement": statements}, bucket, account, partition)
    shown = ", ".join(exempt) if exempt else "none: only the endpoint reaches the data"
    shown_services = ", ".join(services) if services else "none (log delivery, Inventory, AWS Config, Macie refused)"
    detail = f"exempt from the endpoint condition (aws:PrincipalArn): {shown}; AWS services: {shown_services}"
    if wanted is not None and sorted(wanted) != exempt:
        return Check("seal exemptions", False, f"the seal exempts {shown}; the stack asks for "
                     f"{', '.join(sorted(wanted)) or 'none'}", repair)
    if wanted_services is not None and wanted_services != (len(services) == len(_SERVICE_CALLERS)):
        asked = "every AWS service caller (--allow-aws-services)" if wanted_services else "none"
        return Check("seal exemptions", False, f"the seal exempts AWS services: {shown_services}; the stack asks "
                     f"for {asked}", repair)
    return Check("seal exemptions", True, detail)


# The AWS callers --allow-aws-services lets past the seal, each as AWS presents it (policy.bucket_policy).
_SERVICE_CALLERS = ("service principals", "forward access sessions", "service-linked roles")


def aws_services_exempt(policy: Any, bucket: str, account: str, partition: str) -> list[str]:
    """Which kinds of AWS service caller the policy does not deny a PutObject from outside the endpoint: a service
    principal (server access log delivery, as logging.s3.amazonaws.com), a forward access session (a caller's
    request passed on by a service: aws:ViaAWSService), a service-linked role (Macie's)."""
    resource = f"arn:{partition}:s3:::{bucket}/s3gw-probe"
    slr = f"arn:{partition}:iam::{account}:role/aws-service-role/macie.amazonaws.com/AWSServiceRoleForAmazonMacie"
    outsider = f"arn:{partition}:iam::{account}:user/s3gw-verify-outsider"
    callers = {
        "service principals": Request("s3:PutObject", resource, "logging.s3.amazonaws.com", "",
                                      {"aws:SecureTransport": True}),
        "forward access sessions": Request("s3:PutObject", resource, outsider, account, {
            "aws:SecureTransport": True, "aws:PrincipalArn": outsider, "aws:ViaAWSService": True}),
        "service-linked roles": Request(
            "s3:PutObject", resource, f"arn:{partition}:sts::{account}:assumed-role/AWSServiceRoleForAmazonMacie/m",
            account, {"aws:SecureTransport": True, "aws:PrincipalArn": slr}),
    }
    return [kind for kind, request in callers.items() if evaluate(policy, request).effect != "Deny"]


def _endpoint_policy_checks(endpoint: dict[str, Any] | None, bucket: str, role_arn: str, function_name: str,
                            repair: str, partition: str) -> list[Check]:
    """What the endpoint lets through: the function's calls on its bucket, and nothing else.

    AWS evaluates the endpoint policy on every request through the endpoint, besides the identity and
    bucket policies (PrivateLink guide, "Control access to VPC endpoints using endpoint policies").
    """
    if endpoint is None:
        return []
    document = endpoint.get("PolicyDocument") or ""
    endpoint_id = endpoint.get("VpcEndpointId")
    account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
    caller = f"arn:{partition}:sts::{account}:assumed-role/{role_arn.rsplit('/', 1)[-1]}/{function_name}"
    fix = repair or (f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {endpoint_id} --policy-document: allow s3:* on "
                     f"{bucket} and {bucket}/* only, with aws:PrincipalAccount and aws:ResourceAccount = {account}")

    def allowed(action: str, resource: str, principal_account: str, resource_account: str) -> bool:
        principal = caller if principal_account == account else f"arn:{partition}:iam::{principal_account}:user/someone"
        context = {"aws:PrincipalAccount": principal_account, "aws:ResourceAccount": resource_account,
                   "aws:PrincipalArn": role_arn if principal_account == account else principal}
        request = Request(action, resource, principal, principal_account, context)
        return evaluate(document, request).effect == "Allow"

    if not document:  # no policy at all: AWS attaches the full-access default
        document = '{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}'
    try:
        blocked = [a for a in FUNCTION_ACTIONS
                   if not allowed(a, action_resource(a, bucket, partition), account, account)]
        other_object = f"arn:{partition}:s3:::s3gw-verify-another-bucket/x"
        own_object = f"arn:{partition}:s3:::{bucket}/x"
        gaps = [what for what, (principal_account, resource_account, resource) in {
            "write to another bucket of the account": (account, account, other_object),
            "write to a bucket of another account": (account, _OTHER_ACCOUNT, other_object),
            "use another account's credentials on the bucket": (_OTHER_ACCOUNT, account, own_object),
        }.items() if allowed("s3:PutObject", resource, principal_account, resource_account)]
    except ValueError as exc:
        return [Check("endpoint policy", False, f"cannot evaluate the endpoint policy: {exc}", fix)]
    checks = [Check("endpoint policy lets the function through", not blocked,
                    f"{endpoint_id}'s policy refuses {', '.join(blocked)} on {bucket}" if blocked
                    else f"{endpoint_id}'s policy allows the function's calls on {bucket}", fix if blocked else "")]
    checks.append(Check(
        "endpoint policy scope", not gaps,
        f"{endpoint_id}'s policy lets code in the VPC " + "; ".join(gaps) + ": an exfiltration path" if gaps
        else f"{endpoint_id} reaches only {bucket}, for principals of {account}", fix if gaps else ""))
    return checks


def _named_endpoints(policy: str) -> dict[str, list[str]]:
    """Which condition keys the policy compares, with the values it names (for the hints)."""
    named: dict[str, list[str]] = {}
    for statement in statements_of(policy):
        for block in (statement.get("Condition") or {}).values():
            for key, values in block.items():
                named.setdefault(key.lower(), []).extend(values if isinstance(values, list) else [values])
    return named


def _why_denied(named: dict[str, list[str]], endpoint_id: str | None, vpc_id: str | None) -> str:
    vpce_values = named.get("aws:sourcevpce", [])
    vpc_values = named.get("aws:sourcevpc", [])
    if any(str(v).startswith("vpce-") for v in vpc_values):
        return ("the policy compares aws:SourceVpc (a VPC id) with an endpoint id: use aws:SourceVpce for "
                f"{endpoint_id}, or aws:SourceVpc with {vpc_id}")
    if any(str(v).startswith("vpc-") for v in vpce_values):
        return f"the policy compares aws:SourceVpce (an endpoint id) with a VPC id: name {endpoint_id} there"
    stale = [v for v in vpce_values if v != endpoint_id]
    if stale:
        return (f"the policy names {', '.join(map(str, stale))}, but the function's traffic leaves through "
                f"{endpoint_id}: a stale endpoint id; put {endpoint_id} in the policy")
    return ""


def _public_access_check(ctx: Context, bucket: str, repair: str) -> Check:
    off = public_access_off(ctx, bucket)
    if off:
        return Check("block public access", False, f"{bucket}: off: {', '.join(off)}",
                     repair or f"aws s3api put-public-access-block --bucket {bucket} --public-access-block-"
                               "configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,"
                               "RestrictPublicBuckets=true")
    return Check("block public access", True, "all four settings on")


# --- the role -------------------------------------------------------------------------------------


def _role_policies(ctx: Context, role_name: str) -> list[Any]:
    iam = ctx.aws.iam
    documents: list[Any] = []
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name):
        for attached in page["AttachedPolicies"]:
            policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
            version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])
            documents.append(version["PolicyVersion"]["Document"])
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role_name):
        for name in page["PolicyNames"]:
            documents.append(iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"])
    return documents


def _role_checks(ctx: Context, role_arn: str, bucket: str, function_name: str, repair: str,
                 partition: str) -> list[Check]:
    role_name = role_arn.rsplit("/", 1)[-1]
    try:
        documents = _role_policies(ctx, role_name)
    except Exception as exc:
        if is_code(exc, "NoSuchEntity"):
            return [Check("role", False, f"role {role_name} does not exist", repair or "give the function a role")]
        raise
    account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
    caller = f"arn:{partition}:sts::{account}:assumed-role/{role_name}/{function_name}"

    def allowed(action: str, resource: str) -> bool:
        return decide(Request(action, resource, caller, account), identity_policies=documents).effect == "Allow"

    no_eni = [a for a in _ENI_ACTIONS if not allowed(a, "*")]
    checks = [Check(
        "role manages ENIs", not no_eni,
        f"{role_name} may not {', '.join(no_eni)}: Lambda cannot place the function in the subnets" if no_eni
        else f"{role_name} may create, describe and delete network interfaces",
        (repair or f"aws iam attach-role-policy --role-name {role_name} --policy-arn "
                   f"{vpc_access_policy_arn(partition)}") if no_eni else "",
    )]
    denied = [a for a in FUNCTION_ACTIONS
              if not allowed(a, f"arn:{partition}:s3:::{bucket}" + ("" if a == "s3:ListBucket" else "/probe"))]
    checks.append(Check(
        "role reaches the bucket", not denied,
        f"{role_name} is not allowed {', '.join(denied)} on {bucket}" if denied
        else f"{role_name} may list {bucket} and get, put and delete its objects",
        (repair or f"allow {', '.join(denied)} on {bucket} in a policy of {role_name}") if denied else "",
    ))
    return checks
