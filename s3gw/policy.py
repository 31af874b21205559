"""Policy documents as pure functions, and the IAM policy evaluator that `verify` and the sandbox use."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import unquote

PolicyDoc = dict[str, Any]

# What the seal leaves open from outside the endpoint: only what s3gw needs to manage the bucket
# (up/status/verify/unseal/down), none of which reads, writes or lists data. The bucket-policy actions
# above all, so that the policy can always be repaired or removed by the operator (DESIGN.md).
# DeleteBucketTagging is authorised as s3:PutBucketTagging (S3's "actions, resources and condition keys").
MANAGEMENT_ACTIONS = [
    "s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy",
    "s3:GetBucketLocation",
    "s3:GetBucketTagging", "s3:PutBucketTagging",
    "s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock",
    "s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration",
]
# What the function does with its bucket (its role's inline policy, and what verify expects to work).
FUNCTION_ACTIONS = ["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
# Every class of data call, with the actions S3 authorises it as (a class is sealed when all are denied
# outside the endpoint). From S3's API reference, "Permissions" of each operation: GetObject with a
# versionId needs s3:GetObjectVersion; ListObjectVersions needs s3:ListBucketVersions; multipart listing
# s3:ListBucketMultipartUploads / s3:ListMultipartUploadParts.
DATA_ACTIONS: dict[str, list[str]] = {
    "list": ["s3:ListBucket"],
    "list versions": ["s3:ListBucketVersions"],
    "get": ["s3:GetObject", "s3:GetObjectAttributes"],
    "get version": ["s3:GetObjectVersion", "s3:GetObjectVersionAttributes"],
    "put": ["s3:PutObject"],
    "delete": ["s3:DeleteObject"],
    "delete version": ["s3:DeleteObjectVersion"],
    "ACL": ["s3:GetObjectAcl", "s3:PutObjectAcl", "s3:GetBucketAcl", "s3:PutBucketAcl"],
    "tagging": ["s3:GetObjectTagging", "s3:PutObjectTagging", "s3:DeleteObjectTagging"],
    "multipart": ["s3:ListBucketMultipartUploads", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"],
    "restore": ["s3:RestoreObject"],
}
BUCKET_LEVEL = {"s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads", "s3:GetBucketAcl",
                "s3:PutBucketAcl"}
LAMBDA_VPC_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
INLINE_POLICY_NAME = "s3gw-bucket-access"
SEAL_SID = "DenyUnlessThroughEndpoint"


def bucket_arns(bucket: str, partition: str = "aws") -> tuple[str, str]:
    return f"arn:{partition}:s3:::{bucket}", f"arn:{partition}:s3:::{bucket}/*"


def action_resource(action: str, bucket: str, partition: str = "aws") -> str:
    """The resource an action is authorised on: the bucket for bucket-level calls, else an object."""
    bucket_arn, _ = bucket_arns(bucket, partition)
    return bucket_arn if action in BUCKET_LEVEL else f"{bucket_arn}/s3gw-probe"


# --allow-aws-services: the network-perimeter exceptions of aws-samples/data-perimeter-policy-examples
# (resource_control_policies/network_perimeter_sourcevpc_rcp.json and README.md; for a resource-based policy,
# resource_control_policies/service_specific_controls/sns_topic_policy.json). aws:PrincipalIsAWSService is true when a
# service principal calls with its own identity (logging.s3.amazonaws.com delivering server access logs,
# s3.amazonaws.com delivering Inventory reports, config.amazonaws.com); aws:ViaAWSService is true on a forward
# access session (a service calling on with the caller's own credentials). BoolIfExists: a request without the
# key (an anonymous one) is still denied. Service-linked roles (Macie, AWS Config's, ...) are roles of the
# account under the path aws-service-role/, which the samples exempt by aws:PrincipalArn. A service *role* the
# user made (S3 replication's, AWS Backup's) is neither: it needs --allow-principal.
AWS_SERVICE_KEYS = ("aws:PrincipalIsAWSService", "aws:ViaAWSService")


def service_linked_roles(account: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account}:role/aws-service-role/*"


def bucket_policy(bucket: str, endpoint_id: str, partition: str = "aws",
                  allow_principals: Sequence[str] = (), allow_aws_services: bool = False,
                  account: str = "*") -> PolicyDoc:
    """The seal: deny every S3 call but bucket management unless it comes through the endpoint.

    AWS's own example for "Restricting access to a specific VPC endpoint" denies s3:* with
    StringNotEquals aws:SourceVpce (docs.aws.amazon.com/AmazonS3/latest/userguide/
    example-bucket-policies-vpc-endpoint.html); NotAction keeps management open, so the operator is
    never locked out. The condition keys of one statement are ANDed: with allowed principals the call is
    denied only when it is not through the endpoint AND the caller is not one of them. aws:PrincipalArn
    is the role's ARN for an assumed-role session (IAM User Guide, global condition keys,
    aws:PrincipalArn), so a role ARN exempts each of its sessions.
    """
    bucket_arn, objects_arn = bucket_arns(bucket, partition)
    condition: dict[str, Any] = {"StringNotEquals": {"aws:SourceVpce": endpoint_id}}
    if allow_principals:
        condition["ArnNotLike"] = {"aws:PrincipalArn": sorted(allow_principals)}
    if allow_aws_services:
        condition["BoolIfExists"] = {key: "false" for key in AWS_SERVICE_KEYS}
        condition["ArnNotLikeIfExists"] = {"aws:PrincipalArn": service_linked_roles(account, partition)}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": SEAL_SID,
                "Effect": "Deny",
                "Principal": "*",
                "NotAction": list(MANAGEMENT_ACTIONS),
                "Resource": [bucket_arn, objects_arn],
                "Condition": condition,
            },
            {
                "Sid": "DenyWithoutTLS",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, objects_arn],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def endpoint_policy(bucket: str, account: str, partition: str = "aws") -> PolicyDoc:
    """The gateway endpoint lets through the function's S3 calls on the stack's bucket only, by the stack's
    account only (not s3:*: most S3 actions are on other resource kinds, which parliament rightly flags).

    An endpoint policy must name a Principal; without one AWS attaches full access (PrivateLink guide,
    "Control access to VPC endpoints using endpoint policies"). aws:PrincipalAccount and aws:ResourceAccount
    are global keys (IAM User Guide, "AWS global condition context keys"); AWS forbids wildcards with
    them in endpoint policies, so they are compared with StringEquals. aws:ResourceAccount also refuses
    a bucket of the same name re-created by another account.
    """
    bucket_arn, objects_arn = bucket_arns(bucket, partition)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OnlyTheStackBucketFromTheStackAccount",
                "Effect": "Allow",
                "Principal": "*",
                "Action": list(FUNCTION_ACTIONS),
                "Resource": [bucket_arn, objects_arn],
                "Condition": {"StringEquals": {"aws:PrincipalAccount": account, "aws:ResourceAccount": account}},
            }
        ],
    }


def lambda_trust_policy(account: str) -> PolicyDoc:
    """Lambda may assume the role, for functions of this account only (aws:SourceAccount: the confused-deputy
    guard the IAM User Guide recommends for service principals; AWS's own Lambda trust template in
    aws/agent-toolkit-for-aws lambda-trust-policy.json has the same condition)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            }
        ],
    }


def role_bucket_policy(bucket: str, partition: str = "aws") -> PolicyDoc:
    """The function may list the bucket and read, write and delete its objects; nothing else."""
    bucket_arn, objects_arn = bucket_arns(bucket, partition)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ListTheBucket", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn},
            {
                "Sid": "UseItsObjects",
                "Effect": "Allow",
                "Action": [a for a in FUNCTION_ACTIONS if a != "s3:ListBucket"],
                "Resource": objects_arn,
            },
        ],
    }


def canonical(doc: PolicyDoc | str) -> str:
    """A stable text of a policy, so that two documents that say the same thing compare equal.

    AWS hands documents back reordered, URL-encoded (IAM), with one-element lists collapsed, a lone
    statement not in a list, and "*" for {"AWS": "*"}; Sids do not change what a policy allows.
    """
    if isinstance(doc, str):
        doc = parse_policy(doc)
    statements = doc.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    normalized = {"Version": doc.get("Version"), "Statement": sorted(
        json.dumps(_normalize_statement(s), sort_keys=True) for s in statements)}
    return json.dumps(normalized, sort_keys=True, separators=(",", ":"))


def _normalize_statement(statement: dict[str, Any]) -> dict[str, Any]:
    out = {key: _normalize(value) for key, value in statement.items() if key != "Sid"}
    for key in ("Action", "NotAction"):
        if key in out:
            out[key] = _normalize([a.lower() for a in _as_list(statement[key])])
    if statement.get("Principal") == "*":
        out["Principal"] = {"AWS": "*"}
    return out


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _normalize(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        items = sorted((_normalize(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
        return items[0] if len(items) == 1 else items
    if isinstance(value, bool):
        return str(value).lower()
    return value


# ---------------------------------------------------------------------------------------------
# The evaluator (see the sandbox and verify issues) goes below this line.
# ---------------------------------------------------------------------------------------------



@dataclass(frozen=True)
class Request:
    """One call to authorize. Context keys are matched case-insensitively, as in AWS."""

    action: str
    resource: str
    principal: str = "*"  # caller ARN, a service name, or "*" for anonymous
    account: str = ""  # caller's account id; "" when anonymous
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    effect: Literal["Allow", "Deny", "ImplicitDeny"]
    statement: str | None  # Sid of the deciding statement, else "#<index>"; None for an implicit deny
    reason: str


def evaluate(policy: PolicyDoc | str | None, request: Request) -> Decision:
    """Evaluate one policy document: any matching Deny wins, then any matching Allow, else ImplicitDeny.

    Statements with Principal/NotPrincipal apply only to the principals they name; statements without
    one (identity policies) apply to the caller. Raises ValueError for a malformed policy or an
    unsupported condition operator, whatever the request, so that verify can report it.
    """
    statements = statements_of(policy)
    target = f"{request.action} on {request.resource}"
    if not statements:
        return Decision("ImplicitDeny", None, f"no policy allows {target}")
    context = _signed_context(request)
    links = _caller_links(request)
    deny: Decision | None = None
    allow: Decision | None = None
    near_miss = ""
    for index, stmt in enumerate(statements):
        label = _label(stmt, index)
        _check_statement(stmt, label)  # every statement, so a bad one is reported even after a Deny
        if not (
            _element(stmt, "Action", lambda p: _glob(p, True).fullmatch(request.action) is not None)
            and _element(stmt, "Resource", lambda p: _arn_like(p, request.resource))
            and _principal_applies(stmt, links)
        ):
            continue
        holds, notes = _conditions(stmt.get("Condition", {}), context, label)
        if not holds:
            if stmt["Effect"] == "Allow":  # tell verify which Allow came close, and why it failed
                near_miss = near_miss or f"; statement {label} matches it but {notes[0]}"
            continue
        verb = "denies" if stmt["Effect"] == "Deny" else "allows"
        reason = f"statement {label} {verb} {target}" + (f" because {'; '.join(notes)}" if notes else "")
        if stmt["Effect"] == "Deny":
            deny = deny or Decision("Deny", label, reason)
        else:
            allow = allow or Decision("Allow", label, reason)
    if deny:
        return deny
    if allow:
        return allow
    return Decision("ImplicitDeny", None, f"no statement allows {target}{near_miss}")


def is_service_principal(principal: str) -> bool:
    """A service principal such as logging.s3.amazonaws.com (amazonaws.com.cn in China), not an ARN."""
    return not principal.startswith("arn:") and principal.endswith((".amazonaws.com", ".amazonaws.com.cn"))


def _signed_context(request: Request) -> dict[str, Any]:
    """The request's context keys (lower case), with those AWS puts in every signed request when the caller left
    them out: aws:PrincipalIsAWSService (true only for a service principal calling as itself) and aws:ViaAWSService
    (true only on a forward access session, which a caller says explicitly). IAM User Guide, "AWS global condition
    context keys": both are present in every signed request; an anonymous request has neither."""
    context = {key.lower(): value for key, value in request.context.items()}
    if request.principal != "*":
        context.setdefault("aws:principalisawsservice", is_service_principal(request.principal))
        context.setdefault("aws:viaawsservice", False)
    return context


def decide(
    request: Request,
    identity_policies: Sequence[PolicyDoc | str] = (),
    resource_policy: PolicyDoc | str | None = None,
    resource_account: str | None = None,
) -> Decision:
    """AWS's evaluation logic over the caller's identity policies and the resource's policy.

    An explicit Deny anywhere wins. In the resource's own account an Allow from either side is
    enough; a caller from another account needs an Allow from both. An anonymous caller has no
    identity policies, so only the resource policy can let it in.
    """
    anonymous = request.principal == "*"
    labelled = [] if anonymous else [("identity policy", p) for p in identity_policies]
    if len(labelled) > 1:
        labelled = [(f"identity policy {i + 1}", p) for i, (_, p) in enumerate(labelled)]
    identity = [(where, evaluate(p, request)) for where, p in labelled]
    resource = evaluate(resource_policy, request)
    for where, decision in [*identity, ("resource policy", resource)]:
        if decision.effect == "Deny":
            return Decision("Deny", decision.statement, f"{where}: {decision.reason}")
    id_allow = next(((w, d) for w, d in identity if d.effect == "Allow"), None)
    res_allow = ("resource policy", resource) if resource.effect == "Allow" else None
    target = f"{request.action} on {request.resource}"
    cross = not anonymous and resource_account is not None and _caller_account(request) != resource_account
    if cross:
        if id_allow and res_allow:
            reason = f"cross-account: {id_allow[0]}: {id_allow[1].reason}; resource policy: {resource.reason}"
            return Decision("Allow", resource.statement, reason)
        missing = " and ".join(
            side for side, found in (("identity", id_allow), ("resource", res_allow)) if not found
        )
        reason = f"cross-account caller needs an Allow from both sides for {target}; none in {missing} policy"
        return Decision("ImplicitDeny", None, reason)
    found = id_allow or res_allow
    if found:
        return Decision("Allow", found[1].statement, f"{found[0]}: {found[1].reason}")
    return Decision("ImplicitDeny", None, f"no identity or resource policy allows {target}")


# --- documents and statements -----------------------------------------------------------------


def parse_policy(text: str) -> Any:
    """A policy document from AWS's text: IAM hands documents back URL-encoded, S3 as plain JSON."""
    text = text.strip()
    return json.loads(text if text.startswith("{") else unquote(text))


def statements_of(policy: PolicyDoc | str | None) -> list[dict[str, Any]]:
    if not policy:
        return []
    if isinstance(policy, str):
        if not policy.strip():
            return []
        policy = parse_policy(policy)
    if not isinstance(policy, dict):
        raise ValueError("a policy document must be a JSON object")
    if "Statement" not in policy:
        raise ValueError("the policy document has no Statement")
    statements = policy["Statement"]
    if isinstance(statements, dict):  # a single statement may be given without the list
        statements = [statements]
    if not isinstance(statements, list) or not all(isinstance(s, dict) for s in statements):
        raise ValueError("Statement must be an object or a list of objects")
    return statements


def _label(stmt: dict[str, Any], index: int) -> str:
    sid = stmt.get("Sid")
    return str(sid) if sid else f"#{index}"


def _check_statement(stmt: dict[str, Any], label: str) -> None:
    if stmt.get("Effect") not in ("Allow", "Deny"):
        raise ValueError(f"statement {label}: Effect must be Allow or Deny, not {stmt.get('Effect')!r}")
    for name in ("Action", "Resource", "Principal"):
        if name in stmt and "Not" + name in stmt:
            raise ValueError(f"statement {label} has both {name} and Not{name}")
    if "Action" not in stmt and "NotAction" not in stmt:
        raise ValueError(f"statement {label} has neither Action nor NotAction")
    condition = stmt.get("Condition", {})
    if not isinstance(condition, dict) or not all(isinstance(v, dict) for v in condition.values()):
        raise ValueError(f"statement {label}: Condition must map operators to {{key: values}} objects")
    for name in condition:
        _operator(name)


def _element(stmt: dict[str, Any], name: str, matches: Callable[[str], bool]) -> bool:
    """Whether X / NotX covers the value. A missing element (Resource in a trust policy) covers all."""
    if name in stmt:
        return any(matches(p) for p in _strings(stmt[name]))
    if "Not" + name in stmt:
        return not any(matches(p) for p in _strings(stmt["Not" + name]))
    return True


def _strings(value: Any) -> list[str]:
    """Policy and context values as strings: one value or a list; JSON booleans as "true"/"false"."""
    if value is None:
        return []
    if isinstance(value, list | tuple | set | frozenset):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return [str(value)]


@lru_cache(maxsize=2048)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, (re.IGNORECASE | re.DOTALL) if ignore_case else re.DOTALL)


def _arn_like(pattern: str, value: str) -> bool:
    """Case-sensitive; each of an ARN's six colon-separated parts is matched on its own, as AWS does."""
    parts, values = pattern.split(":", 5), value.split(":", 5)
    if pattern == "*" or len(parts) != 6 or len(values) != 6:
        return _glob(pattern, False).fullmatch(value) is not None
    return all(_glob(p, False).fullmatch(v) is not None for p, v in zip(parts, values, strict=True))


# --- principals ---------------------------------------------------------------------------------
# A caller is a chain of links: its own ARN, the role behind an assumed-role session, its account.
# Principal matches when it names any link; a Deny's NotPrincipal spares the caller only when it
# names every link, which is why AWS's examples list the user (or session and role) and the account.

_ACCOUNT = re.compile(r"\d{12}")
_ROOT = re.compile(r"arn:[^:]+:iam::([^:]+):root")
_ROLE = re.compile(r"arn:([^:]+):iam::([^:]+):role/(?:.*/)?([^/]+)")
_SESSION = re.compile(r"arn:([^:]+):sts::([^:]+):assumed-role/([^/]+)/.+")


def _canonical_principal(value: str) -> str:
    if _ACCOUNT.fullmatch(value):
        return f"account:{value}"
    if m := _ROOT.fullmatch(value):
        return f"account:{m[1]}"
    if m := _ROLE.fullmatch(value):  # a role's path is not part of its sessions' ARNs
        return f"role:{m[1]}:{m[2]}:{m[3]}"
    return value


def _caller_account(request: Request) -> str:
    if request.account:
        return request.account
    parts = request.principal.split(":")
    return parts[4] if len(parts) > 5 and parts[0] == "arn" else ""


def _caller_links(request: Request) -> list[str]:
    if request.principal == "*":
        return []
    links = [_canonical_principal(request.principal)]
    if m := _SESSION.fullmatch(request.principal):
        links.append(f"role:{m[1]}:{m[2]}:{m[3]}")
    if account := _caller_account(request):
        links.append(f"account:{account}")
    return list(dict.fromkeys(links))


def _principal_entries(element: Any) -> set[str]:
    if element == "*":
        return {"*"}
    if not isinstance(element, dict):
        raise ValueError(f'Principal must be "*" or a map such as {{"AWS": [...]}}, not {element!r}')
    return {
        _canonical_principal(v) if kind == "AWS" else v
        for kind, values in element.items()
        for v in _strings(values)
    }


def _principal_applies(stmt: dict[str, Any], links: list[str]) -> bool:
    if "Principal" in stmt:
        entries = _principal_entries(stmt["Principal"])
        return "*" in entries or any(link in entries for link in links)
    if "NotPrincipal" in stmt:
        entries = _principal_entries(stmt["NotPrincipal"])
        if "*" in entries:
            return False
        if not links:  # anonymous: only "*" names it
            return True
        named = all if stmt.get("Effect") == "Deny" else any  # err on the side of denying
        return not named(link in entries for link in links)
    return True  # identity policy: it applies to the caller it is attached to


# --- conditions ---------------------------------------------------------------------------------


def _equals(value: str, wanted: str) -> bool:
    return value == wanted


def _equals_ignore_case(value: str, wanted: str) -> bool:
    return value.casefold() == wanted.casefold()


def _like(value: str, wanted: str) -> bool:
    return _glob(wanted, False).fullmatch(value) is not None


def _arn_matches(value: str, wanted: str) -> bool:
    return _arn_like(wanted, value)


# operator (lower case) -> (test of one request value against one policy value, negated)
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "stringequals": (_equals, False),
    "stringnotequals": (_equals, True),
    "stringequalsignorecase": (_equals_ignore_case, False),
    "stringnotequalsignorecase": (_equals_ignore_case, True),
    "stringlike": (_like, False),
    "stringnotlike": (_like, True),
    "arnequals": (_arn_matches, False),  # AWS gives ArnEquals and ArnLike the same meaning
    "arnlike": (_arn_matches, False),
    "arnnotequals": (_arn_matches, True),
    "arnnotlike": (_arn_matches, True),
    "bool": (_equals_ignore_case, False),
}
_SUPPORTED = (
    "StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, StringLike, "
    "StringNotLike, ArnEquals, ArnLike, ArnNotEquals, ArnNotLike, Bool (each also ...IfExists), Null; "
    "optionally prefixed ForAnyValue: or ForAllValues:"
)


@dataclass(frozen=True)
class _Operator:
    qualifier: str  # "", "foranyvalue" or "forallvalues"
    base: str  # lower case, without qualifier or IfExists
    if_exists: bool


@lru_cache(maxsize=256)
def _operator(name: str) -> _Operator:
    qualifier, _, rest = name.rpartition(":")
    qualifier = qualifier.lower()
    if qualifier not in ("", "foranyvalue", "forallvalues"):
        raise ValueError(f"unsupported condition set operator in {name!r}; supported: {_SUPPORTED}")
    base = rest.lower()
    if_exists = base.endswith("ifexists")
    if if_exists:
        base = base[: -len("ifexists")]
    if base == "null" and if_exists:
        raise ValueError(f"{name!r}: AWS does not allow IfExists on the Null operator")
    if base != "null" and base not in _OPERATORS:
        raise ValueError(f"unsupported condition operator {name!r}; supported: {_SUPPORTED}")
    return _Operator(qualifier, base, if_exists)


def _conditions(block: dict[str, Any], context: dict[str, Any], label: str) -> tuple[bool, list[str]]:
    """All operators and keys must hold (AND); a key's policy values are alternatives (OR).

    Returns whether the block holds and, for the reason, a note per test (or the first failing one).
    """
    notes = []
    for name, tests in block.items():
        op = _operator(name)
        for key, wanted in tests.items():
            actual = context.get(key.lower())
            holds = _condition_holds(op, _strings(wanted), _strings(actual), actual is not None)
            shown = "none" if actual is None else json.dumps(actual)
            note = f"{name} {key} {json.dumps(wanted)} {'holds' if holds else 'fails'} (request has {shown})"
            if not holds:
                return False, [note]
            notes.append(note)
    return True, notes


def _condition_holds(op: _Operator, wanted: list[str], values: list[str], present: bool) -> bool:
    present = present and bool(values)  # an empty multi-valued key counts as missing
    if op.base == "null":  # Null true: the key is missing; Null false: it is there
        return any((w.lower() == "true") != present for w in wanted)
    test, negated = _OPERATORS[op.base]

    def one(value: str) -> bool:
        return any(test(value, w) for w in wanted) != negated

    if op.qualifier == "forallvalues":  # vacuously true for a missing or empty key
        return all(one(v) for v in values)
    if not present:
        # ...IfExists skips a missing key. A negated operator holds for a missing key (nothing
        # equals the value), so a Deny on StringNotEquals aws:SourceVpce catches calls with no
        # endpoint; under ForAnyValue there is no value, so nothing holds.
        return op.if_exists or (negated and op.qualifier == "")
    return any(one(v) for v in values)


# --- the seal merged into a policy s3gw did not write (--bucket NAME --adopt) --------------------------------
# Terraform's aws_s3_bucket_policy replaces the whole document (hashicorp/terraform-provider-aws#409, #6334) and
# CDK cannot append to a policy it does not own (aws/aws-cdk#16379). s3gw adds its statements under Sids of its
# own and takes back exactly those. Sids: letters and digits only, as IAM's Sid grammar asks
# (docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_sid.html).
OWN_SID_PREFIX = "S3gw"
# "Bucket policies are limited to 20 KB in size" (S3 User Guide, "Bucket policies for Amazon S3",
# docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-policies.html).
POLICY_SIZE_LIMIT = 20 * 1024


def own_statements(seal_doc: PolicyDoc) -> list[dict[str, Any]]:
    """The seal's statements, each under s3gw's own Sid (S3gwDenyUnlessThroughEndpoint, S3gwDenyWithoutTLS)."""
    return [{**stmt, "Sid": OWN_SID_PREFIX + str(stmt.get("Sid", index))}
            for index, stmt in enumerate(seal_doc["Statement"])]


def is_own(statement: dict[str, Any]) -> bool:
    return str(statement.get("Sid", "")).startswith(OWN_SID_PREFIX)


def merge_seal(current: str | None, seal_doc: PolicyDoc) -> PolicyDoc:
    """The current policy with s3gw's statements put in (replacing older ones of its own); every other
    statement, and the document's Version and Id, kept as they are."""
    document = parse_policy(current) if current else {"Version": "2012-10-17"}
    others = [s for s in statements_of(document) if not is_own(s)] if current else []
    return {**document, "Statement": others + own_statements(seal_doc)}


def strip_seal(current: str | None) -> PolicyDoc | None:
    """The current policy without s3gw's statements; None when nothing else is left (delete the policy)."""
    if not current:
        return None
    document = parse_policy(current)
    statements = statements_of(document)
    others = [s for s in statements if not is_own(s)]
    if not others:
        return None
    if len(others) == len(statements):
        return document  # nothing of s3gw's in it: left exactly as it is
    single = isinstance(document.get("Statement"), dict)
    return {**document, "Statement": others[0] if single and len(others) == 1 else others}


def own_part(current: str | None) -> list[dict[str, Any]]:
    return [s for s in statements_of(current) if is_own(s)] if current else []
