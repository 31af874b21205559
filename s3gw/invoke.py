"""`s3gw test-invoke`: invoke the function through Lambda's Invoke API and say what most likely broke.

The same call on real AWS and on the sandbox: there is no local path here.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

from s3gw.errors import AwsError, UsageError, error_code, error_message
from s3gw.steps.base import Context
from s3gw.steps.bucket import location_region

_TIMEOUT_TYPES = ("ConnectTimeoutError", "ReadTimeoutError", "ConnectTimeout", "EndpointConnectionError",
                  "ConnectionClosedError")


@dataclass
class InvokeReport:
    function: str
    bucket: str
    ok: bool
    objects: list[dict[str, Any]] = field(default_factory=list)
    written: str | None = None
    error_type: str = ""
    error: str = ""
    diagnosis: str = ""
    fix: str = ""
    log_tail: str = ""
    # The operator's own reads from outside the endpoint (list, versions, versioned get): True only when S3 said the
    # bucket policy refused every one; None when something else refused one (the operator's own permissions) or the
    # operator is exempt (--allow-principal); False when one got through to a caller the seal does not exempt.
    outside_refused: bool | None = None
    outside_detail: str = ""
    outside_by: dict[str, str] = field(default_factory=dict)  # read -> the policy S3 named in refusing it
    other_bucket: str | None = None  # the bucket of the stack's region the function tried besides its own
    other_refused: bool | None = None  # True: the function could not reach it (other_by says which policy refused)
    other_detail: str = ""
    other_by: str = ""  # the policy S3 named: "VPC endpoint policy" proves the endpoint keeps the function off it
    family: str | None = None  # "ipv6" / "ipv4": the address family the lister's S3 calls took (its handler says)
    s3_host: str | None = None  # the S3 name the lister called (s3.dualstack.<region>.amazonaws.com when dual-stack)
    table: Any = None  # the DynamoDB lane's proofs (invoke_dynamodb.TableReport), with --table


def test_invoke(ctx: Context, put_key: str | None = None,
                put_body: str = "written by s3gw test-invoke", other_bucket: str | None = None) -> InvokeReport:
    function = ctx.outputs.get("function_name")
    bucket = ctx.outputs.get("bucket")
    if not function or not bucket:
        raise UsageError(f"stack {ctx.config.stack} has no function recorded", "run 's3gw up' first")
    event: dict[str, Any] = {"put": {"key": put_key, "body": put_body}} if put_key else {}
    if other_bucket:  # named by the operator: a bucket that would take the write, so only the endpoint refuses it
        _same_region(ctx, other_bucket)
        event.update(other_bucket=other_bucket, other_write=True)
    elif (other_bucket := _another_bucket(ctx, bucket)):
        event["other_bucket"] = other_bucket
    table = ctx.outputs.get("table_name")
    if table:  # the DynamoDB lane: the lister writes and reads one item, and tries another table
        from s3gw import invoke_dynamodb

        event["table"], table_key = invoke_dynamodb.event(ctx, table)
    answer = _invoke(ctx, function, json.dumps(event).encode())
    report = InvokeReport(function=function, bucket=bucket, ok=False,
                          log_tail=base64.b64decode(answer.get("LogResult", "") or "").decode(errors="replace"))
    payload_text = answer["Payload"].read().decode(errors="replace")
    try:
        payload: Any = json.loads(payload_text) if payload_text else None
    except json.JSONDecodeError:
        payload = {"errorMessage": payload_text}
    if answer.get("FunctionError"):
        payload = payload if isinstance(payload, dict) else {"errorMessage": str(payload)}
        report.error_type = str(payload.get("errorType", answer["FunctionError"]))
        report.error = str(payload.get("errorMessage", ""))
        report.diagnosis, report.fix = diagnose(report.error_type, report.error)
        denied = "AccessDenied" in report.error or "AccessDenied" in report.error_type
        timed_out = report.diagnosis.startswith("the connection to S3 timed out")
        if denied or timed_out:
            report.diagnosis, report.fix = _not_over_ipv6(ctx, function, timed_out) or _not_through_endpoint(
                ctx, function, timed_out=timed_out) or (report.diagnosis, report.fix)
    elif isinstance(payload, dict) and isinstance(payload.get("objects"), list):
        report.ok = True
        report.objects = payload["objects"]
        report.written = payload.get("written")
        report.other_bucket, report.other_refused, report.other_detail, report.other_by = _other_outcome(
            payload.get("other"))
        report.family, report.s3_host = payload.get("family"), payload.get("s3_host")
        if ctx.config.dualstack and report.family != "ipv6":
            report.ok = False
            report.diagnosis = (f"the stack is dualstack, but the function reached S3 over {report.family or 'IPv4'}"
                                f" ({report.s3_host or 'S3'}): its IPv6 path is not tested")
            report.fix = "run 's3gw up' (Ipv6AllowedForDualStack and the dual-stack endpoint), then 's3gw verify'"
        elif ctx.config.dualstack and (broken := _other_family_broken(ctx, function)):
            report.ok = False
            report.diagnosis, report.fix = broken
    else:
        report.error = f"unexpected answer: {payload_text[:300]}"
        report.diagnosis = "the function returned something that is not s3gw's handler's answer"
        report.fix = "run 's3gw up' to deploy the handler again"
    if table and report.ok:
        report.table = invoke_dynamodb.judge(ctx, table, table_key, payload.get("table"))
        if not report.table.ok:
            report.ok = False
            report.diagnosis, report.fix = invoke_dynamodb.diagnose(ctx, function, report.table)
    probe_key = put_key or next((str(o["key"]) for o in report.objects), "s3gw-probe.txt")
    report.outside_refused, report.outside_detail, report.outside_by = _outside_reads(ctx, bucket, probe_key)
    if report.outside_refused is False:
        report.ok = False
        report.diagnosis = report.diagnosis or "the seal does not hold: the bucket answers outside the endpoint"
        report.fix = report.fix or "run 's3gw verify', then 's3gw up' to put the policy back"
    if report.other_refused is False:
        report.ok = False
        report.diagnosis = report.diagnosis or ("the endpoint lets the function reach another bucket: its policy "
                                                "does not keep it to the stack's bucket")
        report.fix = report.fix or "run 's3gw verify', then 's3gw up' to put the endpoint policy back"
    return report


def _another_bucket(ctx: Context, bucket: str) -> str | None:
    """A bucket of the account in the stack's region other than the stack's, for the function to try: a gateway
    endpoint carries only its own region's traffic ("A gateway endpoint is available only in the Region where you
    created it", PrivateLink guide, "Gateway endpoints for Amazon S3"), so one elsewhere would time out on the way
    and prove nothing (inventory.region_buckets)."""
    from s3gw.inventory import region_buckets

    try:
        names = region_buckets(ctx)
    except Exception:  # no s3:ListAllMyBuckets: then only --other-bucket proves that direction
        return None
    return next((name for name in sorted(names) if name != bucket), None)


def _same_region(ctx: Context, bucket: str) -> None:
    """--other-bucket must be in the stack's region: through a gateway endpoint a call to another region's bucket
    times out (see _another_bucket), which proves nothing about the endpoint policy."""
    try:
        region = location_region(ctx.aws.s3.get_bucket_location(Bucket=bucket))
    except Exception as exc:
        if error_code(exc) == "NoSuchBucket":
            raise UsageError(f"--other-bucket {bucket} does not exist", "name an existing bucket") from None
        return  # not ours to read: the function's call still says what it can
    if region != ctx.config.region:
        raise UsageError(f"--other-bucket {bucket} is in {region}, not {ctx.config.region}: a gateway endpoint carries "
                         "traffic to buckets of its own region only, so the call would time out and prove nothing",
                         f"name a bucket in {ctx.config.region}")


# AccessDenied messages for a same-account request name the kind of policy that refused it: "with an explicit deny
# in a <type> policy" or "because no <type> policy allows the <action> action" (IAM User Guide, "Troubleshooting
# access denied error messages"; S3 User Guide, "Troubleshoot access denied (403 Forbidden) errors in Amazon S3",
# Access denied message examples). "If multiple policy types deny an authorization request, AWS includes only one
# of those policy types in the error message", so a message proves what it names, and nothing about the others.
_REFUSED_BY = re.compile(r"(?:with an explicit deny in an?|because no) ((?:[\w-]+ )*?(?:policy|permissions boundary))",
                         re.IGNORECASE)


def refused_by(message: str) -> tuple[str, bool] | None:
    """("VPC endpoint policy", explicit?) from an AccessDenied message; None when it names no policy."""
    match = _REFUSED_BY.search(message or "")
    if match is None:
        return None
    return match.group(1), match.group(0).lower().startswith("with an explicit deny")


def _other_outcome(other: Any) -> tuple[str | None, bool | None, str, str]:
    """(bucket, refused, what it proves, the policy S3 named) for the function's call on another bucket."""
    if not isinstance(other, dict):
        return None, None, ("no other bucket in the stack's region to try (none, or ListBuckets refused): name one "
                            "whose own policy lets the function's role write with --other-bucket"), ""
    name, call, code = other.get("bucket"), other.get("call"), other.get("code") or ""
    if other.get("error"):
        return name, None, f"could not tell: {call} on {name} failed on the way: {other['error']}", ""
    if not other.get("refused"):
        if code:
            return name, None, f"could not tell: {call} on {name} answered {code}", ""
        return name, False, f"{call} on {name} through the endpoint succeeded: the endpoint reaches other buckets", ""
    named = refused_by(str(other.get("message", "")))
    if named is None:
        return name, True, (f"{call} on {name} refused, but S3 did not say by which policy: the function did not "
                            "reach it; whether the endpoint policy would refuse it is not shown ('s3gw verify' reads "
                            "it)"), ""
    policy, explicit = named
    how = f"the {policy} ({'an explicit deny' if explicit else 'no statement allows it'})"
    if policy.lower() == "vpc endpoint policy":
        proves = "the endpoint keeps the function off other buckets"
    elif policy.lower() == "identity-based policy":
        proves = ("the function's role keeps it off that bucket; the endpoint policy's verdict is not shown (S3 names "
                  "one policy when several refuse): name a bucket whose own policy lets the role write with "
                  "--other-bucket, or run 's3gw verify'")
    elif policy.lower() == "resource-based policy":
        proves = (f"{name}'s own bucket policy keeps the function out; neither the endpoint policy nor the role was "
                  "tested by this call")
    else:
        proves = f"the {policy} keeps the function off it; the endpoint policy's verdict is not shown"
    return name, True, f"{call} on {name} through the endpoint refused by {how}: {proves}", policy


def _invoke(ctx: Context, function: str, payload: bytes) -> dict[str, Any]:
    """Invoke; a function that is not ready is waited for once: an Inactive one (idle for weeks) answers
    ResourceNotReadyException and wakes up (Lambda developer guide, "Lambda function states"), a Pending one
    answers ResourceConflictException. A Failed one is diagnosed with Lambda's reason."""
    from s3gw.steps.function import wait_active

    for attempt in (1, 2):
        try:
            return dict(ctx.aws.lambda_.invoke(FunctionName=function, Payload=payload, LogType="Tail"))
        except Exception as exc:
            code = error_code(exc)
            if code == "ResourceNotFoundException":
                raise AwsError(f"function {function} does not exist", "run 's3gw up' to create it again") from None
            if attempt == 2 or code not in ("ResourceNotReadyException", "ResourceConflictException"):
                raise
            ctx.progress(f"waiting: function {function} is not ready ({code}: {error_message(exc)}); "
                         "invoking wakes an Inactive function")
            wait_active(ctx, fail_ok=True)
            state = ctx.aws.lambda_.get_function_configuration(FunctionName=function)
            if state.get("State") != "Active":
                raise AwsError(f"function {function} is {state.get('State')}: "
                               f"{state.get('StateReason') or 'no reason given'}",
                               "run 's3gw up' (it replaces a Failed function), then test-invoke again") from None
    raise AssertionError("unreachable")


def diagnose(error_type: str, message: str) -> tuple[str, str]:
    """What most likely broke, from what the function raised."""
    if error_type in _TIMEOUT_TYPES or "Task timed out" in message or "timed out" in message.lower():
        return ("the connection to S3 timed out: no route to the S3 prefix list through the gateway endpoint, "
                "or no egress on 443 in the security group", "run 's3gw verify' to see which link is broken")
    if "AccessDenied" in message or "AccessDenied" in error_type:
        named = refused_by(message)
        policy = named[0].lower() if named else ""
        if policy == "resource-based policy":
            return ("S3 refused the call by the bucket policy: the seal's aws:SourceVpce is not the endpoint the "
                    "function's traffic takes (stale or wrong), or the traffic did not come through an endpoint",
                    "run 's3gw verify' to see which")
        if policy == "vpc endpoint policy":
            return ("S3 refused the call by the VPC endpoint policy: it does not allow the function's call on its "
                    "bucket", "run 's3gw verify' (endpoint policy checks), then 's3gw up' to put the policy back")
        if policy == "identity-based policy":
            return ("S3 refused the call by the function's role (identity-based policy): it lacks the permission",
                    "run 's3gw verify' (role checks), then 's3gw up' to repair the role's policy")
        return ("S3 refused the call: the bucket policy and the endpoint disagree (a stale or wrong "
                "aws:SourceVpce), or the role lacks the permission", "run 's3gw verify' to see which")
    if "role" in message.lower() or "AssumeRole" in message or "ExpiredToken" in message:
        return "the function's role could not be used", "run 's3gw verify' (role checks), then 's3gw up'"
    if error_type in ("KeyError",) and "BUCKET_NAME" in message:
        return "the function has no BUCKET_NAME in its environment", "run 's3gw up' to repair its configuration"
    return f"the function failed with {error_type or 'an error'}", "read the log tail (-v) and run 's3gw verify'"


def _other_family_broken(ctx: Context, function: str) -> tuple[str, str] | None:
    """A dual-stack stack whose lister got through over IPv6: its IPv4 family checked too, from the describe calls
    (s3gw.reach.s3_reach): an SDK client without the dual-stack endpoint, or an IPv4-only resolver, takes it."""
    from s3gw.reach import fetch_snapshot, s3_reach

    vpc = ctx.aws.lambda_.get_function_configuration(FunctionName=function).get("VpcConfig") or {}
    subnet_ids, group_ids = list(vpc.get("SubnetIds") or []), list(vpc.get("SecurityGroupIds") or [])
    path = s3_reach(ctx.config.region, subnet_ids, group_ids, **fetch_snapshot(ctx.aws.ec2, subnet_ids, group_ids))
    broken = path.reason
    if broken is None:
        return None
    return (f"the function reached S3 over IPv6, but the IPv4 family of the path is broken: {broken.name}: "
            f"{broken.detail}", "run 's3gw up' (it repairs this), then test-invoke again")


def _not_over_ipv6(ctx: Context, function: str, timed_out: bool) -> tuple[str, str] | None:
    """A function whose S3 calls take IPv6 (verify.takes_ipv6): the first broken link of the IPv6 family, named
    (s3gw.reach.s3_reach_v6): the endpoint's IpAddressType, a table without the IPv6 route, the group's IPv6 egress;
    or the way out its IPv6 calls took instead (::/0 → eigw-…: no aws:SourceVpce, so the seal refused them)."""
    from s3gw.reach import fetch_snapshot, s3_paths_v6, s3_reach_v6
    from s3gw.verify import takes_ipv6

    try:
        configuration = ctx.aws.lambda_.get_function_configuration(FunctionName=function)
        if not takes_ipv6(configuration):
            return None
        vpc = configuration.get("VpcConfig") or {}
        subnet_ids, group_ids = list(vpc.get("SubnetIds") or []), list(vpc.get("SecurityGroupIds") or [])
        snapshot = fetch_snapshot(ctx.aws.ec2, subnet_ids, group_ids)
    except Exception:  # the diagnosis is a best effort: the error stays as S3 gave it
        return None
    path = s3_reach_v6(ctx.config.region, subnet_ids, group_ids, **snapshot)
    exits = [p for p in s3_paths_v6(subnet_ids, region=ctx.config.region, **snapshot) if p.exit]
    if exits and not timed_out:
        where = ", ".join(f"{p.subnet_id} ({p.table_id}: {p.destination} → {p.exit})" for p in exits)
        return (f"the function's S3 calls took IPv6 and left through {exits[0].exit}, not the endpoint: {where}; the "
                "request carried no aws:SourceVpce, so the seal refused it (AccessDenied)",
                "run 's3gw up' (a dualstack endpoint's IPv6 prefix-list route is more specific than ::/0)")
    broken = path.reason
    if broken is None:
        return None
    how = "timed out" if timed_out else "was refused"
    return (f"the function's S3 calls take IPv6 (dual-stack endpoint) and {how}: {broken.name}: {broken.detail}",
            "run 's3gw up' (it repairs this), then test-invoke again" if ctx.outputs.get("endpoint_id")
            else broken.fix or "run 's3gw verify'")


def _not_through_endpoint(ctx: Context, function: str, timed_out: bool = False) -> tuple[str, str] | None:
    """A function whose subnets send S3 traffic (some or all) by another way than the endpoint: a NAT gateway, a
    transit gateway, a firewall... (route priority, s3gw/reach.py). Refused (AccessDenied): the request arrived
    without aws:SourceVpce. Timed out: nothing beyond that way answered."""
    from s3gw.pricing import nat_cost_line
    from s3gw.reach import fetch_snapshot, s3_exits, target_kind

    try:
        vpc = ctx.aws.lambda_.get_function_configuration(FunctionName=function).get("VpcConfig") or {}
        subnet_ids = list(vpc.get("SubnetIds") or [])
        snapshot = fetch_snapshot(ctx.aws.ec2, subnet_ids, [])
        exits = s3_exits(subnet_ids, region=ctx.config.region, **snapshot)
    except Exception:  # the diagnosis is a best effort: the error stays as S3 gave it
        return None
    out = {subnet: (table, target) for subnet, (table, target) in exits.items()
           if timed_out or not target.startswith("igw-")}  # an internet gateway alone gives a Lambda ENI no way out
    if not out:
        return None
    where = ", ".join(f"{subnet} ({table} → {target})" for subnet, (table, target) in sorted(out.items()))
    targets = sorted({target for _, target in out.values()}, key=lambda t: (not t.startswith("nat-"), t))
    first = target_kind(targets[0], snapshot["endpoints"])
    tables = " ".join(sorted({table for table, _ in out.values()}))
    fix = (f"add {tables} to the S3 gateway endpoint (modify-vpc-endpoint --add-route-table-ids {tables}; "
           "'s3gw up' does it for the stack's subnets) and remove routes as specific as S3's ranges, then "
           "test-invoke again")
    if timed_out:
        return (f"the function's S3 traffic leaves by another way than the endpoint and nothing answered: {where} "
                f"send S3's addresses to {first} by route priority, not to the endpoint's prefix-list route", fix)
    cost = f"; that traffic also costs {nat_cost_line(ctx.config.region)}" if targets[0].startswith("nat-") else ""
    return (f"the function reached S3 through {first}, not the endpoint: {where} send S3's addresses there (by route "
            f"priority, not to the S3 prefix list's endpoint route), so the request carried no aws:SourceVpce and "
            f"the seal refused it (AccessDenied){cost}", fix)


def _outside_reads(ctx: Context, bucket: str, key: str) -> tuple[bool | None, str, dict[str, str]]:
    """The reads that leak data, from this machine, outside the endpoint: the seal must refuse each, and S3 must say
    the bucket policy did ("with an explicit deny in a resource-based policy"; see refused_by). A refusal that
    names another policy (the operator's own permissions) proves nothing about the seal.

    A versioned get with versionId=null: S3 authorises it as s3:GetObjectVersion, and "null" names the
    only version of an object in an unversioned bucket (S3 API reference, GetObject).
    """
    s3 = ctx.aws.s3
    reads = {
        "ListObjectsV2": lambda: s3.list_objects_v2(Bucket=bucket, MaxKeys=1),
        "ListObjectVersions": lambda: s3.list_object_versions(Bucket=bucket, MaxKeys=1),
        "GetObject?versionId=null": lambda: s3.get_object(Bucket=bucket, Key=key, VersionId="null"),
    }
    answered, sealed, own, unknown = [], [], [], []
    by: dict[str, str] = {}
    for name, read in reads.items():
        try:
            read()
        except Exception as exc:
            code = error_code(exc)
            if code in ("NoSuchKey", "NoSuchVersion", "404"):  # authorised, then not found: not sealed
                answered.append(f"{name} ({code})")
                continue
            if code not in ("AccessDenied", "403"):
                unknown.append(f"{name}: {code or type(exc).__name__}: {error_message(exc)}")
                continue
            named = refused_by(error_message(exc))
            by[name] = named[0] if named else ""
            if named and named[1] and named[0].lower() == "resource-based policy":
                sealed.append(name)
            else:
                own.append(f"{name} (by the {named[0]}: {'an explicit deny' if named[1] else 'no statement allows it'})"
                           if named else f"{name} (S3 named no policy)")
            continue
        answered.append(name)
    if answered:
        exempt = _exempt_caller(ctx, bucket)
        if exempt:
            return None, (f"{', '.join(answered)} from this machine answered: the seal exempts you ({exempt}), as "
                          "--allow-principal asks; that it refuses everyone else cannot be shown from here: "
                          "'s3gw verify' judges the policy for any other caller"), by
        leak = f"{', '.join(answered)} from this machine got through: the bucket is not sealed to the endpoint"
        return False, leak, by
    parts = []
    if sealed:
        parts.append(f"{', '.join(sealed)} from this machine refused by the bucket policy (an explicit deny in the "
                     "resource-based policy): the seal holds for them")
    if own:
        parts.append(f"{', '.join(own)} refused by something other than the bucket policy, which proves nothing "
                     "about the seal ('s3gw permissions' prints what test-invoke needs)")
    if unknown:
        parts.append("could not tell: " + "; ".join(unknown))
    return (True if sealed and not own and not unknown else None), "; ".join(parts), by


def _exempt_caller(ctx: Context, bucket: str) -> str | None:
    """The caller's principal ARN when the bucket policy lets it in from outside the endpoint (an allowed
    principal), judged by policy.evaluator on the policy S3 holds; None otherwise. An assumed-role session is judged
    as its role (aws:PrincipalArn is the role's ARN: IAM User Guide, global condition keys); the role's path is
    not in the session's ARN, so a role with a path is judged without it."""
    from s3gw.policy.evaluator import Request, decide

    try:
        arn = str(ctx.aws.sts.get_caller_identity()["Arn"])
        policy = ctx.aws.s3.get_bucket_policy(Bucket=bucket)["Policy"]
    except Exception:
        return None
    parts = arn.split(":")
    if len(parts) < 6:
        return None
    principal = arn
    if parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        principal = f"arn:{parts[1]}:iam::{parts[4]}:role/{parts[5].split('/')[1]}"
    context = {"aws:PrincipalArn": principal, "aws:PrincipalAccount": parts[4], "aws:SecureTransport": True}
    request = Request("s3:ListBucket", f"arn:{parts[1]}:s3:::{bucket}", arn, parts[4], context)
    try:
        return principal if decide(request, resource_policy=policy).effect != "Deny" else None
    except ValueError:
        return None
