"""The IAM policy evaluator that `verify` and the sandbox use: one document (`evaluate`), and AWS's evaluation
logic over the caller's identity policies and a resource's policy (`decide`)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from s3gw.policy.documents import PolicyDoc, statements_of


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


def _in_range(value: str, wanted: str) -> bool:
    """IpAddress: "The specified IP address or range" in CIDR notation (IAM User Guide, "IAM JSON policy elements:
    Condition operators", IP address condition operators); a value that is no address matches nothing."""
    import ipaddress

    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(wanted, strict=False)
    except ValueError:
        return False


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
    "ipaddress": (_in_range, False),
    "notipaddress": (_in_range, True),  # "All IP addresses except the specified IP address or range"
}
_SUPPORTED = (
    "StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, StringLike, "
    "StringNotLike, ArnEquals, ArnLike, ArnNotEquals, ArnNotLike, Bool, IpAddress, NotIpAddress (each also "
    "...IfExists), Null; "
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
