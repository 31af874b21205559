"""StackConfig and the validation of every user input, done before the first AWS call."""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

from s3gw.errors import StateError, UsageError

DEFAULT_STACK = "s3gw"
DEFAULT_VPC_CIDR = "10.0.0.0/16"
DEFAULT_AZS = 3
MAX_AZS = 6
EGRESS_CHOICES = ("prefix-list", "anywhere")
# --ip-address-type: the function's path to S3 over IPv4 only, or over IPv4 and IPv6 (issue 23). S3 gateway endpoints
# take IpAddressType ipv4 or dualstack (AWS PrivateLink guide, "Gateway endpoints", IP address type:
# docs.aws.amazon.com/vpc/latest/privatelink/gateway-endpoints.html#gateway-endpoint-ip-address-type); s3gw's
# function keeps IPv4 in every case, so "ipv6" (IPv6-only subnets) is not offered.
IP_ADDRESS_TYPES = ("ipv4", "dualstack")
OUTPUT_CHOICES = ("text", "json")

# Every pattern is used with fullmatch: `$` alone also matches before a trailing newline ("nl\n").
_STACK_RE = re.compile(r"[a-z][a-z0-9-]{0,30}[a-z0-9]|[a-z]")
# Any partition's region shape (aws, aws-cn, aws-us-gov, aws-iso*, aws-eusc: botocore's endpoints.json
# regionRegex); the known-region check below then uses botocore's list.
_REGION_RE = re.compile(r"[a-z]{2,4}(-[a-z]+)?(-[a-z]+)+-\d{1,2}")
# The longest region code botocore knows has 14 characters; a region is one label of every endpoint's host name,
# which DNS caps at 63 (RFC 1035).
MAX_REGION_LENGTH = 32
# S3 User Guide, "General purpose bucket naming rules" (docs.aws.amazon.com/AmazonS3/latest/userguide/
# bucketnamingrules.html): no xn--, sthree- or amzn-s3-demo- prefix; no -s3alias (access point aliases), --ol-s3
# (Object Lambda access point aliases), .mrap (Multi-Region Access Points) or --x-s3 (directory buckets) suffix.
RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3")
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PROFILE_RE = re.compile(r"[\w.@+=,/-]{1,128}", re.ASCII)
_IP_LIKE_RE = re.compile(r"\d+\.\d+\.\d+\.\d+")
# An IAM role or user ARN, or an account root. No * or ?: the seal's condition is ArnNotLike, where they are
# wildcards, so `role/*` would exempt every role of the account from the seal.
_PRINCIPAL_RE = re.compile(r"arn:(aws[a-z-]*):iam::\d{12}:(root|(role|user)/[\w+=,.@/-]{1,512})", re.ASCII)
_SESSION_RE = re.compile(r"arn:[^:]+:sts::\d{12}:assumed-role/([^/]+)/")
_VPC_ID_RE = re.compile(r"vpc-[0-9a-f]{8,17}")
_SUBNET_ID_RE = re.compile(r"subnet-[0-9a-f]{8,17}")

# Blocks a VPC cannot use. AWS takes any /16../28 block, RFC 1918 or publicly routable ("You can create a VPC
# with a publicly routable CIDR block that falls outside of the private IPv4 address ranges specified in RFC
# 1918": https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html), 100.64.0.0/10 included; it
# refuses "this network", loopback, link-local and multicast (CreateVpc answers InvalidVpc.Range).
_REFUSED_BLOCKS = {
    "0.0.0.0/8": "'this network' (RFC 1122)",
    "127.0.0.0/8": "loopback",
    "169.254.0.0/16": "link-local (used by the instance metadata service)",
    "224.0.0.0/4": "multicast",
    # "Reserved" (RFC 6890, RFC 1112 section 4), 255.255.255.255 included: neither RFC 1918 nor publicly routable,
    # the two kinds of block the VPC User Guide ("VPC CIDR blocks") says a VPC takes.
    "240.0.0.0/4": "reserved (RFC 6890): neither RFC 1918 nor publicly routable",
}


# Steps that run at once (each makes one request at a time): 8 covers the widest round of the graph (steps'
# UP_NEEDS) with room; boto3's default connection pool per client is 10 (botocore Config max_pool_connections).
DEFAULT_MAX_CONCURRENCY = 8
MAX_CONCURRENCY_LIMIT = 64


@dataclass(frozen=True)

class StackConfig:
    stack: str = DEFAULT_STACK
    region: str = "us-east-1"
    profile: str | None = None
    endpoint_url: str | None = None
    state_dir: Path = field(default_factory=lambda: Path(".s3gw"))
    output: str = "text"
    verbose: bool = False
    vpc_cidr: str = DEFAULT_VPC_CIDR
    azs: int = DEFAULT_AZS
    bucket: str | None = None
    egress: str = "prefix-list"
    # Principals exempt from the seal's endpoint condition (aws:PrincipalArn), e.g. a CI role.
    allow_principals: tuple[str, ...] = ()
    # --allow-aws-services: the seal also spares AWS services (service principals, forward access sessions,
    # service-linked roles: policy.bucket_policy). None when never given, so nothing is recorded for it.
    allow_aws_services: bool | None = None
    zones: str | None = None  # --zones, comma-separated full zone names; None: the first --azs that work
    # The settings the user gave on this command line; the others come from the state file, else defaults.
    given: frozenset[str] = frozenset()
    state_url: str | None = None  # --state s3://BUCKET/PREFIX: the state and lock in S3, not in state_dir
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY  # AWS requests in flight at once; 1: one step after another
    # Bring your own (issue 15): an existing bucket (--bucket NAME --adopt), an existing VPC and its subnets.
    # None when not given, so that nothing is recorded for a stack that adopts nothing.
    adopt: bool | None = None
    vpc_id: str | None = None
    subnet_ids: tuple[str, ...] | None = None
    # `up --retag-bucket`: the user confirms that the bucket the state records as the stack's, whose s3gw:stack tag
    # is gone, is the stack's: up tags it again (steps.bucket). Never recorded.
    retag_bucket: bool = False
    # The user's function (issue 21), `up --code PATH --handler MODULE.FUNCTION ...`: None when not given, so that
    # nothing is recorded for a stack without one. `code` is an absolute path; `env` the --env pairs, sorted.
    code: str | None = None
    handler: str | None = None
    runtime: str | None = None
    memory: int | None = None
    timeout: int | None = None
    env: tuple[tuple[str, str], ...] | None = None
    app_name: str | None = None
    # `up --function NAME --adopt` (repeatable): existing functions put on the path; recorded, and added to.
    adopt_functions: tuple[str, ...] | None = None
    # The DynamoDB lane (issue 22): `up --table NAME [--table-key pk]` makes the table; with --adopt (and no
    # --bucket) the table is the user's (table_adopt). None when not given, so nothing is recorded for it.
    table: str | None = None
    table_key: str | None = None
    table_adopt: bool | None = None
    keep_security_groups: bool | None = None
    ip_address_type: str = "ipv4"  # --ip-address-type; recorded in the settings
    # An endpoint-only stack (issue 24, `up --endpoint-only`): only the gateway endpoint(s) of --services on the
    # --route-table-ids of --vpc-id; AWS's default full-access endpoint policy unless --endpoint-policy scoped.
    endpoint_only: bool | None = None
    route_table_ids: tuple[str, ...] | None = None
    services: tuple[str, ...] | None = None
    endpoint_policy: str | None = None

    @property
    def dualstack(self) -> bool:
        return self.ip_address_type == "dualstack"

    @property
    def app_function_name(self) -> str:
        return self.app_name or f"{self.stack}-app"

    @property
    def app_role_name(self) -> str:
        return f"{self.stack}-app-role"

    @property
    def state_path(self) -> Path:
        return self.state_dir / f"{self.stack}.json"

    @property
    def state_where(self) -> str:
        """Where the stack's state is, for messages."""
        if self.state_url:
            return f"{self.state_url.rstrip('/')}/{self.stack}.json"
        return str(self.state_path)

    @property
    def function_name(self) -> str:
        return f"{self.stack}-lister"

    @property
    def role_name(self) -> str:
        return f"{self.stack}-lambda-role"

    @property
    def security_group_name(self) -> str:
        # CreateSecurityGroup refuses a GroupName that starts with "sg-" (botocore's EC2 model, GroupName).
        name = f"{self.stack}-lambda-https-out"
        return f"s3gw-{name}" if name.startswith("sg-") else name

    def default_bucket(self, account: str) -> str:
        check_default_bucket(self.stack, self.bucket)
        return f"{self.stack}-{account}-{self.region}"


def check_default_bucket(stack: str, bucket: str | None) -> None:
    """With no --bucket the bucket is <stack>-<account>-<region>: a stack name S3 refuses as a bucket's start is
    refused before anything is made (S3 User Guide, "General purpose bucket naming rules": reserved prefixes)."""
    if bucket is None and stack.startswith(RESERVED_BUCKET_PREFIXES):
        raise UsageError(f"stack name {stack!r} makes the default bucket {stack}-<account>-<region>, whose prefix "
                         "S3 reserves", "pass --bucket NAME, or choose another --stack")


def validate_stack(stack: str) -> str:
    if not _STACK_RE.fullmatch(stack or ""):
        raise UsageError(
            f"invalid stack name {stack!r}",
            "use 1-32 lowercase letters, digits and hyphens, starting with a letter",
        )
    return stack


def validate_region(region: str | None, endpoint_url: str | None = None) -> str:
    if not region:
        raise UsageError("no region given", "pass --region or set AWS_REGION")
    if len(region) > MAX_REGION_LENGTH or not _REGION_RE.fullmatch(region):
        raise UsageError(f"invalid region {region!r}", "use a region code such as us-east-1 or eu-west-1")
    if not endpoint_url and region not in known_regions() and not partition_pattern_matches(region):
        # An emulator may name any region it likes. A region of a partition other than aws (cn, us-gov, iso*,
        # eusc) newer than this botocore still matches its partition's regionRegex (botocore's endpoints.json)
        # and is let through; in aws, where a typo also matches the pattern, the region must be known.
        raise UsageError(f"unknown region {region!r}",
                         "check the spelling (aws ec2 describe-regions), or upgrade boto3 if the region is new")
    return region


def known_regions() -> set[str]:
    from s3gw.botocore_data import botocore_session  # here, not at the top: `s3gw --help` must not import botocore

    # The list of regions ships with botocore; it must not depend on AWS_PROFILE (a profile that does not
    # exist would raise here, before the error that names it properly).
    session = botocore_session(profile=(None, None, None, None))
    return {region for partition in session.get_available_partitions()
            for region in session.get_available_regions("ec2", partition_name=partition)}


def partition_pattern_matches(region: str) -> bool:
    from s3gw.botocore_data import botocore_session

    endpoints = botocore_session().get_data("endpoints")
    return any(re.match(p["regionRegex"], region) for p in endpoints["partitions"] if p["partition"] != "aws")


def profile_region(profile: str | None) -> str | None:
    """boto3's own resolution when no --region/AWS_REGION is given: AWS_DEFAULT_REGION, then the profile's
    `region` in ~/.aws/config (every AWS CLI user's setup). Reads files only; no AWS call."""
    from botocore.exceptions import ProfileNotFound

    from s3gw.botocore_data import botocore_session

    try:
        session = botocore_session()
        if profile is not None:
            session.set_config_variable("profile", profile)
        return session.get_config_variable("region") or None
    except ProfileNotFound:
        raise UsageError(f"profile {profile!r} not found", "check --profile / AWS_PROFILE against ~/.aws/config") \
            from None


def validate_cidr(cidr: str) -> str:
    if not isinstance(cidr, str) or not re.fullmatch(r"[0-9./]+", cidr):
        raise UsageError(f"invalid VPC CIDR {cidr!r}", "use a block such as 10.0.0.0/16")
    try:
        network = ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as exc:
        raise UsageError(f"invalid VPC CIDR {cidr!r}: {exc}", "use a block such as 10.0.0.0/16") from None
    if str(network) != cidr:  # "10.0.0.0/016": Python reads it, CreateVpc need not
        raise UsageError(f"invalid VPC CIDR {cidr!r}", f"write it as {network}")
    if not 16 <= network.prefixlen <= 24:
        raise UsageError(f"VPC CIDR {cidr} has a /{network.prefixlen} prefix",
                         "AWS accepts /16 to /28 and s3gw needs room for subnets: use /16 to /24")
    for block, why in _REFUSED_BLOCKS.items():
        if network.subnet_of(ipaddress.IPv4Network(block)):
            raise UsageError(f"VPC CIDR {cidr} is in {block}, {why}, which a VPC cannot use",
                             "use a block in 10/8, 172.16/12, 192.168/16 or 100.64/10")
    return str(network)


def validate_azs(azs: object) -> int:
    if isinstance(azs, bool) or not isinstance(azs, int) or not 1 <= azs <= MAX_AZS:
        raise UsageError(f"--azs must be between 1 and {MAX_AZS}, got {azs!r}")
    return azs


def validate_zones(zones: str, region: str) -> str:
    """--zones a,b or eu-west-1a,eu-west-1b: full zone names of the region, distinct, comma-separated."""
    if not isinstance(zones, str) or not re.fullmatch(r"[a-z0-9,-]+", zones, re.ASCII):
        raise UsageError(f"invalid --zones {zones!r}", f"name zones of {region}, comma-separated, e.g. --zones a,b")
    names = [z for z in zones.split(",") if z]
    full = [z if z.startswith(region) else f"{region}{z}" for z in names]
    bad = [z for z in full if not re.fullmatch(re.escape(region) + r"[a-z]", z)]
    if not names or bad:
        raise UsageError(f"invalid --zones {zones!r}",
                         f"name zones of {region}, e.g. --zones a,b or {region}a,{region}b")
    if len(set(full)) != len(full) or len(full) > MAX_AZS:
        raise UsageError(f"invalid --zones {zones!r}", f"name 1 to {MAX_AZS} distinct zones")
    return ",".join(full)


def validate_bucket(bucket: object) -> str:
    problem = ""
    if not isinstance(bucket, str) or not _BUCKET_RE.fullmatch(bucket):
        problem = "use 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit"
    elif ".." in bucket or ".-" in bucket or "-." in bucket:
        problem = "no two dots in a row and no dot next to a hyphen"
    elif _IP_LIKE_RE.fullmatch(bucket):
        problem = "a bucket name may not look like an IP address"
    elif bucket.startswith(RESERVED_BUCKET_PREFIXES) or bucket.endswith(RESERVED_BUCKET_SUFFIXES):
        problem = "that prefix or suffix is reserved by S3"
    if problem:
        raise UsageError(f"invalid bucket name {bucket!r}", problem)
    return bucket


def finite_seconds(text: str) -> float | None:
    """`text` as a finite number of seconds, zero or more; else None (nan compares false with every bound, so it
    would be no bound at all, and inf never ends)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def validate_wait(text: str) -> float:
    """`down --wait`: a finite number of seconds, zero or more (nan or inf would make a wait without a bound)."""
    seconds = finite_seconds(text)
    if seconds is None or text.strip().startswith("-"):
        raise UsageError(f"invalid --wait {text!r}", "give a finite number of seconds, zero or more (default 2700)")
    return seconds


def validate_endpoint_url(url: str | None) -> str | None:
    if url is None:
        return None
    from urllib.parse import urlsplit

    hint = "use http://host:port or https://host"
    if not re.fullmatch(r"https?://[^\s/?#]+(/\S*)?", url, re.ASCII):
        raise UsageError(f"invalid endpoint URL {url!r}", hint)
    try:
        port = urlsplit(url).port  # ValueError for a port that is not a number in 0..65535
    except ValueError:
        port = 0
    if port == 0 or not urlsplit(url).hostname:
        raise UsageError(f"invalid endpoint URL {url!r}: bad host or port", hint)
    return url


def validate_state_url(url: str | None) -> str | None:
    """--state s3://BUCKET[/PREFIX] → "s3://BUCKET/PREFIX" (no trailing slash)."""
    if not url:
        return None
    if not url.startswith("s3://"):
        raise UsageError(f"invalid --state {url!r}", "use s3://BUCKET/PREFIX (a local directory is --state-dir)")
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    validate_bucket(bucket)
    prefix = prefix.strip("/")
    if "//" in prefix or len(prefix) > 900:
        raise UsageError(f"invalid --state prefix {prefix!r}", "use a short path such as team/s3gw")
    return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"


def validate_profile(profile: str | None) -> str | None:
    if profile is not None and not _PROFILE_RE.fullmatch(profile):
        raise UsageError(f"invalid profile name {profile!r}")
    return profile


def validate_principal(arn: str, region: str = "") -> str:
    """An exemption from the seal: one role, user or account root, of the stack's partition (the region's)."""
    session = _SESSION_RE.match(arn) if isinstance(arn, str) else None
    if session:
        raise UsageError(f"--allow-principal {arn} is a role session",
                         f"name the role (arn:...:iam::ACCOUNT:role/{session.group(1)}): aws:PrincipalArn of "
                         "an assumed-role session is its role's ARN")
    if isinstance(arn, str) and ("*" in arn or "?" in arn):
        raise UsageError(f"--allow-principal {arn} has a wildcard: it would exempt every principal it matches "
                         "from the seal", "name each role or user in full (repeat --allow-principal)")
    matched = _PRINCIPAL_RE.fullmatch(arn) if isinstance(arn, str) else None
    if not matched:
        raise UsageError(f"invalid --allow-principal {arn!r}",
                         "use an IAM role or user ARN, e.g. arn:aws:iam::123456789012:role/ci-deploy")
    if region:
        from s3gw.botocore_data import partition_of

        if matched.group(1) != partition_of(region):
            raise UsageError(f"--allow-principal {arn} is of partition {matched.group(1)}, the stack's region "
                             f"{region} of {partition_of(region)}",
                             f"name a principal arn:{partition_of(region)}:iam::… (no other partition's can call)")
    return arn


def validate_account(account: str) -> str:
    """`permissions --account`: twelve ASCII digits (str.isdigit also takes other scripts' digits)."""
    if not re.fullmatch(r"[0-9]{12}", account, re.ASCII):
        raise UsageError(f"invalid account id {account!r}", "use the 12-digit account number")
    return account


# GetFunction's FunctionName (botocore's Lambda model, NamespacedFunctionName): a name, a partial or a full ARN.
_FUNCTION_RE = re.compile(r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
                          r"(\d{12}:)?(function:)?([a-zA-Z0-9-_.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?", re.ASCII)


def validate_function_name(name: str) -> str:
    if len(name) > 170 or not _FUNCTION_RE.fullmatch(name):
        raise UsageError(f"invalid --function {name!r}", "name a Lambda function (letters, digits, - and _) or its ARN")
    return name


ENV_CALL_TIMEOUT = "S3GW_CALL_TIMEOUT"
RETRY_MODES = ("standard", "adaptive", "legacy")


def validate_environment(environ: dict[str, str] | None = None) -> None:
    """Settings read from the environment are input too: a bad one is one line, before any call, never ignored."""
    environ = dict(os.environ) if environ is None else environ
    text = environ.get(ENV_CALL_TIMEOUT, "").strip()
    if text and finite_seconds(text) is None:
        raise UsageError(f"{ENV_CALL_TIMEOUT} must be a finite number of seconds (0: no bound), not {text!r}")
    attempts = environ.get("AWS_MAX_ATTEMPTS", "").strip()
    if attempts and not (re.fullmatch(r"[0-9]{1,3}", attempts, re.ASCII) and int(attempts) >= 1):
        raise UsageError(f"AWS_MAX_ATTEMPTS must be a whole number of attempts, 1 or more, not {attempts!r}")
    mode = environ.get("AWS_RETRY_MODE", "").strip()
    if mode and mode not in RETRY_MODES:
        raise UsageError(f"AWS_RETRY_MODE must be one of {', '.join(RETRY_MODES)}, not {mode!r}")


def make_config(
    *,
    stack: str,
    region: str | None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    state_dir: str | Path = ".s3gw",
    output: str = "text",
    verbose: bool = False,
    vpc_cidr: str | None = None,
    azs: int | None = None,
    bucket: str | None = None,
    egress: str | None = None,
    allow_principals: tuple[str, ...] | list[str] | None = None,
    allow_aws_services: bool | None = None,
    zones: str | None = None,
    state_url: str | None = None,
    max_concurrency: int | None = None,
    adopt: bool | None = None,
    vpc_id: str | None = None,
    subnet_ids: str | None = None,
    retag_bucket: bool = False,
    code: str | None = None,
    handler: str | None = None,
    runtime: str | None = None,
    memory: int | None = None,
    timeout: int | None = None,
    env: tuple[str, ...] | list[str] | None = None,
    app_name: str | None = None,
    adopt_functions: tuple[str, ...] | list[str] | None = None,
    keep_security_groups: bool | None = None,
    ip_address_type: str | None = None,
    endpoint_only: bool | None = None,
    route_table_ids: str | None = None,
    services: str | None = None,
    endpoint_policy: str | None = None,
    table: str | None = None,
    table_key: str | None = None,
) -> StackConfig:
    """Validate every input. Settings left None are taken later from the state file, else defaulted.
    An empty string is refused, never taken to mean the default."""
    given = frozenset(k for k, v in {"vpc_cidr": vpc_cidr, "azs": azs, "bucket": bucket, "egress": egress,
                                     "allow_principals": allow_principals, "zones": zones,
                                     "allow_aws_services": allow_aws_services,
                                     "adopt": adopt or None, "vpc_id": vpc_id, "subnet_ids": subnet_ids,
                                     "code": code, "handler": handler, "runtime": runtime, "memory": memory,
                                     "timeout": timeout, "env": env or None, "app_name": app_name,
                                     "adopt_functions": adopt_functions or None,
                                     "keep_security_groups": keep_security_groups or None,
                                     "ip_address_type": ip_address_type, "endpoint_only": endpoint_only or None,
                                     "route_table_ids": route_table_ids, "services": services,
                                     "endpoint_policy": endpoint_policy, "table": table,
                                     "table_key": table_key}.items()
                      if v is not None)
    for name, value in {"stack": stack, "region": region, "profile": profile, "endpoint_url": endpoint_url,
                        "state_dir": state_dir, "state": state_url, "vpc_cidr": vpc_cidr, "bucket": bucket,
                        "egress": egress, "zones": zones, "vpc_id": vpc_id, "subnet_ids": subnet_ids,
                        "code": code, "handler": handler, "runtime": runtime, "function_name": app_name,
                        "ip_address_type": ip_address_type, "route_table_ids": route_table_ids,
                        "services": services, "endpoint_policy": endpoint_policy, "table": table,
                        "table_key": table_key}.items():
        if value == "":
            raise UsageError(f"--{name.replace('_', '-')} is empty", "give a value, or leave the option out")
    if adopt_functions and not adopt:
        raise UsageError("--function NAME needs --adopt", "put an existing function on the path: --function NAME "
                         "--adopt")
    if keep_security_groups and not adopt_functions:
        raise UsageError("--keep-security-groups goes with --function NAME --adopt")
    if table_key is not None and table is None:
        raise UsageError("--table-key goes with --table NAME", "name the table: --table NAME --table-key pk")
    table_adopt = True if adopt and table is not None else None
    if table_adopt and table_key is not None:
        raise UsageError("--table-key shapes a table s3gw makes; an adopted table keeps its own key",
                         "leave out --table-key, or --adopt")
    if table_adopt:
        given = given | {"table_adopt"}
    if (adopt_functions or table_adopt) and bucket is None:  # --adopt names functions or the table only
        adopt, given = None, given - {"adopt"}
    check_bring_your_own(bool(adopt), bucket, vpc_id, subnet_ids, given)
    check_endpoint_only(bool(endpoint_only), given)
    if output not in OUTPUT_CHOICES:
        raise UsageError(f"invalid output {output!r}", "use text or json")
    validate_environment()
    profile = validate_profile(profile)
    region = region or profile_region(profile)
    if zones is not None:
        zones = validate_zones(zones, region or "")
        if "azs" in given and azs != len(zones.split(",")):
            raise UsageError(f"--azs {azs} but --zones names {len(zones.split(','))}", "give one of them")
        azs = len(zones.split(","))
    made = StackConfig(
        stack=validate_stack(stack),
        region=validate_region(region, endpoint_url),
        profile=profile,
        endpoint_url=validate_endpoint_url(endpoint_url),
        state_dir=_state_dir(state_dir),
        output=output,
        verbose=verbose,
        vpc_cidr=validate_cidr(DEFAULT_VPC_CIDR if vpc_cidr is None else vpc_cidr),
        azs=validate_azs(DEFAULT_AZS if azs is None else azs),
        bucket=None if bucket is None else validate_bucket(bucket),
        egress=validate_egress("prefix-list" if egress is None else egress),
        allow_principals=tuple(sorted({validate_principal(a, region or "") for a in allow_principals or ()})),
        allow_aws_services=allow_aws_services,
        zones=zones,
        given=given,
        state_url=validate_state_url(state_url),
        max_concurrency=validate_max_concurrency(DEFAULT_MAX_CONCURRENCY if max_concurrency is None
                                                 else max_concurrency),
        adopt=True if adopt else None,
        vpc_id=None if vpc_id is None else validate_vpc_id(vpc_id),
        subnet_ids=None if subnet_ids is None else validate_subnet_ids(subnet_ids),
        retag_bucket=bool(retag_bucket),
        code=None if code is None else validate_code_path(code),
        handler=None if handler is None else validate_handler(handler),
        runtime=None if runtime is None else validate_runtime(runtime),
        memory=None if memory is None else validate_memory(memory),
        timeout=None if timeout is None else validate_timeout(timeout),
        env=None if not env else validate_env(env),
        app_name=None if app_name is None else validate_app_name(app_name, stack),
        adopt_functions=None if not adopt_functions else tuple(sorted({validate_app_name(n, stack, "--function")
                                                                     for n in adopt_functions})),
        keep_security_groups=True if keep_security_groups else None,
        ip_address_type=validate_ip_address_type("ipv4" if ip_address_type is None else ip_address_type),
        endpoint_only=True if endpoint_only else None,
        route_table_ids=None if route_table_ids is None else validate_route_table_ids(route_table_ids),
        services=None if services is None else validate_services(services),
        endpoint_policy=None if endpoint_policy is None else validate_endpoint_policy(endpoint_policy),
        table=None if table is None else validate_table(table),
        table_key=None if table_key is None else validate_table_key(table_key),
        table_adopt=table_adopt,
    )
    check_ip_address_type(made)  # settle checks it again with the recorded settings
    return made


# DynamoDB Developer Guide, "Supported data types and naming rules in Amazon DynamoDB": table names 3-255 characters
# of a-z, A-Z, 0-9, _ - . ; attribute names (a key's) 1-255 characters of any kind (a key attribute's name at most 255).
_TABLE_RE = re.compile(r"[A-Za-z0-9_.-]{3,255}")


def validate_table(table: object) -> str:
    if not isinstance(table, str) or not _TABLE_RE.fullmatch(table):
        raise UsageError(f"invalid table name {table!r}", "3 to 255 characters: letters, digits, _ - .")
    return table


def validate_table_key(key: object) -> str:
    if not isinstance(key, str) or not 1 <= len(key.encode()) <= 255:
        raise UsageError(f"invalid table key {key!r}", "an attribute name of 1 to 255 bytes")
    return key


# --- an endpoint-only stack (issue 24) -------------------------------------------------------------------------

# The services an endpoint-only stack makes a gateway endpoint for (steps.endpoint, steps.dynamodb_endpoint).
ENDPOINT_ONLY_SERVICES = ("s3", "dynamodb")
SERVICE_NAMES = ("s3", "dynamodb")
ENDPOINT_POLICIES = ("full", "scoped")
_RTB_ID_RE = re.compile(r"rtb-[0-9a-f]{8,17}")
# Options that shape the full stack (its bucket, function, subnets): not part of an endpoint-only stack.
_FULL_STACK_ONLY = ("bucket", "adopt", "subnet_ids", "code", "handler", "runtime", "memory", "timeout", "env",
                    "app_name", "adopt_functions", "keep_security_groups", "allow_principals", "allow_aws_services",
                    "egress", "vpc_cidr", "azs", "zones", "table", "table_key")


def check_endpoint_only(endpoint_only: bool, given: frozenset[str]) -> None:
    """--endpoint-only needs --vpc-id and --route-table-ids; --route-table-ids, --services and --endpoint-policy
    belong to it; the full stack's options do not."""
    own = sorted(given & {"route_table_ids", "services", "endpoint_policy"})
    if not endpoint_only:
        if own:
            raise UsageError(f"--{own[0].replace('_', '-')} goes with --endpoint-only",
                             "s3gw up --endpoint-only --vpc-id vpc-... --route-table-ids rtb-...")
        return
    for needed in ("vpc_id", "route_table_ids"):
        if needed not in given:
            raise UsageError(f"--endpoint-only needs --{needed.replace('_', '-')}",
                             "s3gw up --endpoint-only --vpc-id vpc-... --route-table-ids rtb-a,rtb-b")
    other = sorted(given & set(_FULL_STACK_ONLY))
    if other:
        raise UsageError(f"--{other[0].replace('_', '-')} is an option of the full stack, not of --endpoint-only",
                         "leave it out")


def validate_route_table_ids(value: object) -> tuple[str, ...]:
    names = [s.strip() for s in value.split(",")] if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not names or not all(
            isinstance(s, str) and _RTB_ID_RE.fullmatch(s) for s in names) or len(set(names)) != len(names):
        raise UsageError(f"invalid --route-table-ids {value!r}", "route table ids, each once, comma-separated: "
                         "rtb-a,rtb-b")
    return tuple(names)


def validate_services(value: object) -> tuple[str, ...]:
    names = [s.strip() for s in value.split(",")] if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not names or not all(s in SERVICE_NAMES for s in names) \
            or len(set(names)) != len(names):
        raise UsageError(f"invalid --services {value!r}", "s3, dynamodb, or s3,dynamodb")
    missing = [s for s in names if s not in ENDPOINT_ONLY_SERVICES]
    if missing:
        raise UsageError(f"--services {missing[0]}: s3gw cannot make a {missing[0]} endpoint-only stack yet",
                         f"use --services {','.join(ENDPOINT_ONLY_SERVICES)}")
    return tuple(s for s in SERVICE_NAMES if s in names)


def validate_endpoint_only(value: object) -> bool:
    if value is not True:
        raise UsageError(f"invalid endpoint_only {value!r}", "true, or left out")
    return True


def validate_endpoint_policy(value: object) -> str:
    if value not in ENDPOINT_POLICIES:
        raise UsageError(f"invalid --endpoint-policy {value!r}", "full (AWS's default) or scoped")
    return str(value)


# The user's function. Lambda's limits: MemorySize 128-10240 MB and Timeout 1-900 s (botocore's Lambda model,
# MemorySize and Timeout shapes; Lambda developer guide, "Lambda quotas"); when not given, Lambda's own defaults
# (CreateFunction API reference: "The default is 128 MB", "The default is 3 seconds").
DEFAULT_RUNTIME = "python3.12"
DEFAULT_MEMORY = 128
DEFAULT_TIMEOUT = 3
# An environment variable's name (botocore's Lambda model, EnvironmentVariableName: [a-zA-Z]([a-zA-Z0-9_])+).
_ENV_NAME_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9_]+", re.ASCII)
_APP_NAME_RE = re.compile(r"[a-zA-Z0-9_-]{1,64}", re.ASCII)


def validate_code_path(code: str) -> str:
    path = Path(code).expanduser()
    if not path.exists():
        raise UsageError(f"--code {code}: no such file or directory", "name a directory or a .zip")
    return str(path.resolve())


def validate_handler(handler: str) -> str:
    # Handler (botocore's Lambda model): [^\s]+, up to 128 characters; a Python handler is module.function.
    module, _, function = handler.rpartition(".")
    if len(handler) > 128 or re.search(r"\s", handler) or not module or not function:
        raise UsageError(f"invalid --handler {handler!r}", "use MODULE.FUNCTION, e.g. app.handler")
    return handler


def validate_runtime(runtime: str) -> str:
    from s3gw.botocore_data import botocore_session

    known = botocore_session().get_service_model("lambda").shape_for("Runtime").enum
    if runtime not in known:
        raise UsageError(f"unknown --runtime {runtime!r}", "use a Lambda runtime such as python3.12")
    return runtime


def validate_memory(memory: object) -> int:
    if isinstance(memory, bool) or not isinstance(memory, int) or not 128 <= memory <= 10240:
        raise UsageError(f"--memory {memory!r} is not 128 to 10240 MB", "Lambda's range (default 128)")
    return memory


def validate_timeout(timeout: object) -> int:
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= 900:
        raise UsageError(f"--timeout {timeout!r} is not 1 to 900 seconds", "Lambda's range (default 3)")
    return timeout


def validate_env(pairs: object) -> tuple[tuple[str, str], ...]:
    """--env KEY=VALUE (repeatable), or a recorded list of [KEY, VALUE]: sorted by key, each key once."""
    found: dict[str, str] = {}
    for pair in pairs if isinstance(pairs, list | tuple) else [pairs]:
        if isinstance(pair, str):
            key, equals, value = pair.partition("=")
        elif isinstance(pair, list | tuple) and len(pair) == 2 and all(isinstance(v, str) for v in pair):
            (key, value), equals = pair, "="
        else:
            raise UsageError(f"invalid --env {pair!r}", "use KEY=VALUE")
        if not equals or not _ENV_NAME_RE.fullmatch(key):
            raise UsageError(f"invalid --env {pair!r}", "use KEY=VALUE, KEY of letters, digits and _")
        if key == "BUCKET_NAME":
            raise UsageError("--env BUCKET_NAME is s3gw's: it names the stack's bucket", "choose another name")
        if key in found:
            raise UsageError(f"--env {key} is given twice", "give each variable once")
        found[key] = value
    return tuple(sorted(found.items()))


def validate_app_name(name: object, stack: str, option: str = "--function-name") -> str:
    if not isinstance(name, str) or not _APP_NAME_RE.fullmatch(name):
        raise UsageError(f"invalid {option} {name!r}", "1-64 letters, digits, - and _")
    if name == f"{stack}-lister":
        raise UsageError(f"{option} {name} is the stack's probe (its lister)", "name your own function")
    return name


def validate_max_concurrency(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY_LIMIT:
        raise UsageError(f"--max-concurrency {value!r} is not a whole number from 1 to {MAX_CONCURRENCY_LIMIT}",
                         "1 runs one step after another; the default is "
                         f"{DEFAULT_MAX_CONCURRENCY}")
    return value


def check_bring_your_own(adopt: bool, bucket: str | None, vpc_id: str | None, subnet_ids: str | None,
                         given: frozenset[str]) -> None:
    """--adopt names the bucket to adopt; --subnet-ids are subnets of --vpc-id; a VPC brought along has its own
    block and subnets, so the options that shape a VPC s3gw makes do not apply."""
    if adopt and bucket is None:
        raise UsageError("--adopt needs --bucket NAME", "name the existing bucket to seal: --bucket NAME --adopt")
    if subnet_ids is not None and vpc_id is None:
        raise UsageError("--subnet-ids needs --vpc-id", "name the VPC the subnets are in: --vpc-id vpc-...")
    shaping = sorted(given & {"vpc_cidr", "azs", "zones"})
    if vpc_id is not None and shaping:
        raise UsageError(f"--vpc-id uses an existing VPC; --{shaping[0].replace('_', '-')} shapes a VPC s3gw makes",
                         "leave it out (choose subnets with --subnet-ids)")


def validate_vpc_id(vpc_id: object) -> str:
    if not isinstance(vpc_id, str) or not _VPC_ID_RE.fullmatch(vpc_id):
        raise UsageError(f"invalid --vpc-id {vpc_id!r}", "use a VPC id such as vpc-0123456789abcdef0")
    return vpc_id


def validate_subnet_ids(subnet_ids: object) -> tuple[str, ...]:
    """--subnet-ids a,b (a string) or a recorded list: distinct subnet ids, in the order given."""
    names = [s.strip() for s in subnet_ids.split(",")] if isinstance(subnet_ids, str) else subnet_ids
    if not isinstance(names, list | tuple) or not names or not all(
            isinstance(s, str) and _SUBNET_ID_RE.fullmatch(s) for s in names):
        raise UsageError(f"invalid --subnet-ids {subnet_ids!r}", "use subnet ids, comma-separated: subnet-a,subnet-b")
    if len(set(names)) != len(names):
        raise UsageError(f"invalid --subnet-ids {subnet_ids!r}", "name each subnet once")
    return tuple(names)


def check_state_dir(state_dir: Path, *, writing: bool) -> None:
    """The state directory must be a directory (or not exist yet), not a symbolic link (whoever can write beside it
    could point it anywhere); `up` and `down` must be able to write there."""
    import stat

    too_long = next((part for part in state_dir.parts if len(os.fsencode(part)) > 255), None)  # NAME_MAX
    if too_long is not None:
        raise UsageError(f"--state-dir {state_dir}: the name {too_long[:20]}… is longer than 255 bytes",
                         "use shorter directory names")
    try:
        mode = os.lstat(state_dir).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:  # a component over the name limit (ENAMETOOLONG), a file used as a directory (ENOTDIR)
        raise UsageError(f"--state-dir {state_dir}: {exc.strerror}", "pass a directory s3gw can use") from None
    if mode is not None and stat.S_ISLNK(mode):
        if not state_dir.exists():
            raise UsageError(f"--state-dir {state_dir} is a dangling symbolic link", "point it at a directory")
        raise UsageError(f"--state-dir {state_dir} is a symbolic link; s3gw never keeps its state through one",
                         f"pass the directory itself: --state-dir {state_dir.resolve()}")
    if mode is not None and not stat.S_ISDIR(mode):
        raise UsageError(f"--state-dir {state_dir} is not a directory", "pass a directory (it is created if missing)")
    if writing:
        existing = next((p for p in (state_dir, *state_dir.absolute().parents) if os.path.lexists(p)), None)
        if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
            raise UsageError(f"--state-dir {state_dir}: cannot write in {existing}", "check its permissions")


def _state_dir(state_dir: str | Path) -> Path:
    path = Path(state_dir)
    if "\n" in str(path) or "\r" in str(path):
        raise UsageError(f"invalid --state-dir {str(path)!r}", "a directory name without line breaks")
    check_state_dir(path, writing=False)
    return path


def validate_egress(egress: object) -> str:
    if egress not in EGRESS_CHOICES:
        raise UsageError(f"invalid egress {egress!r}", "use prefix-list or anywhere")
    return str(egress)


def validate_ip_address_type(value: object) -> str:
    if value not in IP_ADDRESS_TYPES:
        raise UsageError(f"invalid --ip-address-type {value!r}", "use ipv4 or dualstack")
    return str(value)


def check_ip_address_type(config: StackConfig) -> None:
    """A DynamoDB table (helper ddb's --table, when that lane is there) and dualstack do not go together: the S3
    gateway endpoint takes IpAddressType dualstack since November 2025, but "the IP Family setting is currently only
    available for S3" (gardener/gardener-extension-provider-aws#1601, citing AWS's announcement
    aws.amazon.com/about-aws/whats-new/2025/11/ipv6-amazon-s3-gateway-interface-vpc-endpoints/ and the S3 User
    Guide, "AWS PrivateLink for Amazon S3", IP address types): a DynamoDB gateway endpoint carries IPv4 only. The
    dual-stack function sets AWS_USE_DUALSTACK_ENDPOINT, which every AWS SDK client in it reads (AWS SDKs and Tools
    Reference Guide, "Dual-stack and FIPS endpoints"), so its DynamoDB calls would resolve DynamoDB's dual-stack name,
    leave over IPv6 and miss the endpoint: refused, before anything is made."""
    table = getattr(config, "table", None)
    if config.dualstack and table:
        raise UsageError(f"--ip-address-type dualstack with a DynamoDB table ({table}): DynamoDB gateway endpoints "
                         "carry IPv4 only, so the function's IPv6 calls to DynamoDB would miss the endpoint",
                         "use --ip-address-type ipv4 with --table")


def validate_settings(settings: dict[str, object], where: str, region: str = "") -> dict[str, object]:
    """A state file's recorded settings, checked as the options are: a hand-edited file is input too."""

    def listed(check: Callable[[object], object]) -> Callable[[object], object]:
        def inner(value: object) -> object:  # a JSON list; a string would be read as its characters
            if not isinstance(value, list):
                raise UsageError(f"{value!r} is not a list")
            return check(value)
        return inner

    def zones(value: object) -> object:
        if not isinstance(value, str) or not region:
            raise UsageError(f"{value!r} is not a list of zones, comma-separated")
        if validate_zones(value, region) != value:
            raise UsageError(f"{value!r} is not written as s3gw records zones", f"e.g. {region}a,{region}b")
        return value

    checks: dict[str, Callable[[Any], object]] = {
        "vpc_cidr": validate_cidr, "azs": validate_azs, "bucket": validate_bucket, "egress": validate_egress,
        "allow_principals": listed(lambda v: validate_principals(v, region)), "vpc_id": validate_vpc_id,
        "subnet_ids": listed(validate_subnet_ids), "adopt": validate_adopt, "allow_aws_services": validate_flag,
        "zones": zones, "code": validate_recorded_code, "handler": validate_handler, "runtime": validate_runtime,
        "memory": validate_memory, "timeout": validate_timeout, "env": listed(validate_env),
        "app_name": lambda v: validate_app_name(v, ""), "keep_security_groups": validate_flag,
        "adopt_functions": listed(lambda v: [validate_app_name(n, "", "--function") for n in v]),
        "ip_address_type": validate_ip_address_type, "endpoint_only": validate_endpoint_only,
        "route_table_ids": listed(validate_route_table_ids), "services": listed(validate_services),
        "endpoint_policy": validate_endpoint_policy, "table": validate_table, "table_key": validate_table_key,
        "table_adopt": validate_adopt}
    for key, value in settings.items():
        if key not in checks or value is None:
            continue  # a setting another s3gw feature records is that feature's to check
        try:
            checks[key](value)
        except UsageError as exc:
            raise UsageError(f"{where}: settings.{key}: {exc.message}", "correct or remove it") from None
    return settings


def validate_principals(principals: object, region: str = "") -> list[str]:
    if not isinstance(principals, list):
        raise UsageError(f"invalid principals {principals!r}", "a list of IAM role or user ARNs")
    return [validate_principal(a, region) for a in principals]


def validate_flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise UsageError(f"invalid value {value!r}", "true or false")
    return value


def validate_adopt(adopt: object) -> bool:
    if adopt is not True:
        raise UsageError(f"invalid adopt {adopt!r}", "true, or left out")
    return True


def validate_recorded_code(code: object) -> str:
    """A recorded --code: an absolute path (it may be gone since: `up` then says so, plan and status compare
    nothing)."""
    if not isinstance(code, str) or not Path(code).is_absolute():
        raise UsageError(f"{code!r} is not an absolute path")
    return code


SETTINGS = ("vpc_cidr", "azs", "bucket", "egress", "allow_principals", "zones", "adopt", "vpc_id", "subnet_ids",
            "allow_aws_services", "code", "handler", "runtime", "memory", "timeout", "env", "app_name",
            "adopt_functions", "keep_security_groups", "ip_address_type", "endpoint_only", "route_table_ids",
            "services", "endpoint_policy", "table", "table_key", "table_adopt")


def settle(config: StackConfig, recorded: dict[str, object]) -> StackConfig:
    """Take what the user did not give from what the stack was made with, so `status` after
    `up --egress anywhere` does not call the stack drifted. A new VPC CIDR cannot be applied."""
    validate_settings(recorded, f"state file {config.state_where}", config.region)
    updates = {key: recorded[key] for key in SETTINGS if key not in config.given and recorded.get(key) is not None}
    for key in ("allow_principals", "subnet_ids", "adopt_functions", "route_table_ids", "services"):  # JSON lists
        if key in updates:
            updates[key] = tuple(updates[key])
    if "env" in updates:
        updates["env"] = validate_env(updates["env"])
    if "adopt_functions" in config.given and recorded.get("adopt_functions"):  # adding to those adopted before
        updates["adopt_functions"] = tuple(sorted({*(config.adopt_functions or ()), *recorded["adopt_functions"]}))
    if "code" in config.given and not (config.handler or recorded.get("handler")):
        raise UsageError("--code needs --handler MODULE.FUNCTION", "e.g. --handler app.handler")
    app_options = sorted(config.given & {"handler", "runtime", "memory", "timeout", "env", "app_name"})
    if app_options and not (config.code or recorded.get("code")):
        raise UsageError(f"--{app_options[0].replace('_', '-')} is a setting of your function, deployed with --code",
                         "give --code PATH too")
    if "vpc_cidr" in config.given and recorded.get("vpc_cidr") not in (None, config.vpc_cidr):
        raise UsageError(f"stack {config.stack} was made with --vpc-cidr {recorded['vpc_cidr']}",
                         "a VPC's block cannot change: run 'down' first, or use another --stack")
    settled = replace(config, **updates) if updates else config  # type: ignore[arg-type]
    check_default_bucket(settled.stack, settled.bucket)
    check_ip_address_type(settled)
    return settled


# What each recorded id must look like (the EC2 API Reference's id prefixes; IAM's and Lambda's name patterns in
# botocore's models): an id of another kind there (a subnet's as the VPC's) is refused before any call.
_IDS = {
    "vpc_id": r"vpc-[0-9a-f]+", "subnet_ids": r"subnet-[0-9a-f]+", "route_table_ids": r"rtb-[0-9a-f]+",
    "endpoint_id": r"vpce-[0-9a-f]+", "prefix_list_id": r"pl-[0-9a-f]+", "security_group_id": r"sg-[0-9a-f]+",
    "role_name": r"[\w+=,.@-]{1,64}", "function_name": r"[a-zA-Z0-9_-]{1,64}", "eni_function": r"[a-zA-Z0-9_-]{1,64}",
    "role_arn": r"arn:aws[a-z-]*:iam::\d{12}:role/(?:[\w+=,.@-]+/)*(?P<name>[\w+=,.@-]{1,64})",
    "function_arn": r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:(?P<name>[a-zA-Z0-9_-]{1,64})",
}
_IDS.update(app_role_name=_IDS["role_name"], app_role_arn=_IDS["role_arn"], app_function_name=_IDS["function_name"],
            app_function_arn=_IDS["function_arn"])
LIST_KEYS = ("subnet_ids", "route_table_ids", "adopted_functions")


def validate_resources(resources: dict[str, Any], settings: dict[str, Any], where: str) -> None:
    """The recorded ids: each a string (a list of them for the list keys) of its own kind, the names consistent with
    one another, and the bucket the one the settings name. A hand-edited state is input too."""

    def refuse(key: str, why: str) -> NoReturn:
        raise StateError(f"{where}: resources.{key} {why}", "restore the file or correct it")

    for key, value in resources.items():
        if value is None or value == "" or value == []:
            continue
        wanted_list = key in LIST_KEYS
        if (wanted_list and not (isinstance(value, list) and all(isinstance(v, str) for v in value))
                or not wanted_list and not isinstance(value, str)):
            refuse(key, f"is {value!r}, not " + ("a list of ids" if wanted_list else "an id"))
        if key in ("bucket", "bucket_pending"):
            try:
                validate_bucket(value)
            except UsageError as exc:
                refuse(key, f"is not a bucket name: {exc.message}")
        pattern = _IDS.get(key)
        for item in value if wanted_list else [value]:
            if pattern and not re.fullmatch(pattern, item, re.ASCII):
                refuse(key, f"is {item!r}, not the id of {_KIND_WORDS.get(key, key)}")
    if resources.get("function_name") and resources.get("function_name") == resources.get("role_name"):
        refuse("function_name", f"is {resources['function_name']!r}, the role's name")
    for arn_key, name_key in (("role_arn", "role_name"), ("function_arn", "function_name"),
                              ("app_role_arn", "app_role_name"), ("app_function_arn", "app_function_name")):
        arn, name = resources.get(arn_key), resources.get(name_key)
        if arn and name and re.fullmatch(_IDS[arn_key], arn).group("name") != name:  # type: ignore[union-attr]
            refuse(arn_key, f"{arn} names another than {name_key} {name}")
    recorded, wanted = resources.get("bucket"), settings.get("bucket")
    if recorded and wanted and recorded != wanted:
        raise StateError(f"{where}: settings.bucket {wanted} is not the stack's bucket {recorded}",
                         f"a stack keeps its bucket: set settings.bucket back to {recorded}, or run 'down' first")


_KIND_WORDS = {"vpc_id": "a VPC (vpc-…)", "subnet_ids": "a subnet (subnet-…)", "route_table_ids": "a route table "
               "(rtb-…)", "endpoint_id": "a VPC endpoint (vpce-…)", "prefix_list_id": "a prefix list (pl-…)",
               "security_group_id": "a security group (sg-…)", "role_name": "an IAM role name",
               "function_name": "a Lambda function name", "eni_function": "a Lambda function name",
               "role_arn": "an IAM role ARN", "function_arn": "a Lambda function ARN",
               "app_role_name": "an IAM role name", "app_role_arn": "an IAM role ARN",
               "app_function_name": "a Lambda function name", "app_function_arn": "a Lambda function ARN"}


def subnet_cidrs(vpc_cidr: str, count: int) -> list[str]:
    """Carve `count` equal subnets from the VPC block: /20s from a /16, always at least 4 slots."""
    network = ipaddress.IPv4Network(vpc_cidr)
    new_prefix = min(network.prefixlen + 4, 28)
    return [str(s) for s, _ in zip(network.subnets(new_prefix=new_prefix), range(count), strict=False)]


# `s3gw invoke --payload` and `s3gw logs --since`.


def read_payload(text: str | None) -> bytes:
    """--payload JSON, or @file.json; the event must be JSON (Lambda answers InvalidRequestContentException)."""
    if text is None:
        return b"{}"
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--payload {text}: cannot read {path}: {getattr(exc, 'strerror', None) or exc}",
                             "name a JSON file: --payload @event.json") from None
    try:
        json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--payload is not JSON: {exc}", "give a JSON document, or @file.json") from None
    return text.encode()


_SINCE = re.compile(r"(\d+)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str) -> float:
    """--since 10m: a number and a unit (s, m, h, d), as `sam logs --start-time` takes '10mins ago'."""
    match = _SINCE.fullmatch(text.strip())
    if not match:
        raise UsageError(f"invalid --since {text!r}", "use a number and s, m, h or d, e.g. 10m or 2h")
    return int(match.group(1)) * _UNIT[match.group(2)]
