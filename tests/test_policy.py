"""The policy evaluator, checked against AWS's documented examples and against s3gw's own documents."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from s3gw.policy.documents import (
    DATA_ACTIONS,
    FUNCTION_ACTIONS,
    MANAGEMENT_ACTIONS,
    action_resource,
    bucket_policy,
    endpoint_policy,
    lambda_trust_policy,
    role_bucket_policy,
)
from s3gw.policy.evaluator import Request, decide, evaluate

ACCOUNT = "123456789012"
OTHER = "444455556666"
BUCKET = "s3gw-data"
ENDPOINT = "vpce-0a1b2c3d4e5f67890"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/s3gw-fn"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/s3gw-fn/s3gw-fn-session"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
OBJECT_ARN = f"arn:aws:s3:::{BUCKET}/data/report.csv"
RESOURCE_OF = {"s3:ListBucket": BUCKET_ARN}  # every other sealed action works on an object
TLS_VIA_ENDPOINT = {"aws:SourceVpce": ENDPOINT, "aws:SecureTransport": True}


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(**fields: Any) -> dict[str, Any]:
    return {"Effect": "Allow", **fields}


def deny(**fields: Any) -> dict[str, Any]:
    return {"Effect": "Deny", **fields}


def call(
    action: str = "s3:GetObject",
    resource: str = OBJECT_ARN,
    principal: str = SESSION,
    account: str = ACCOUNT,
    **context: Any,
) -> Request:
    return Request(action, resource, principal, account, context)


def fn_call(action: str, context: dict[str, Any]) -> Request:
    """A call by the function's role session on the sealed bucket."""
    return Request(action, RESOURCE_OF.get(action, OBJECT_ARN), SESSION, ACCOUNT, context)


# --- s3gw's own documents ------------------------------------------------------------------------

SEALED = bucket_policy(BUCKET, ENDPOINT)
ROLE_POLICY = role_bucket_policy(BUCKET)


@pytest.mark.parametrize("action", FUNCTION_ACTIONS)
def test_sealed_bucket_lets_the_role_through_the_endpoint(action: str) -> None:
    request = fn_call(action, TLS_VIA_ENDPOINT)
    assert evaluate(SEALED, request).effect == "ImplicitDeny"  # the bucket policy only denies
    decision = decide(request, [ROLE_POLICY], SEALED, ACCOUNT)
    assert decision.effect == "Allow"
    assert decision.statement in ("ListTheBucket", "UseItsObjects")


@pytest.mark.parametrize("action", FUNCTION_ACTIONS)
@pytest.mark.parametrize(
    "context",
    [
        {"aws:SecureTransport": True},  # from the host: no endpoint at all
        {"aws:SourceVpce": "vpce-11111111111111111", "aws:SecureTransport": True},  # another endpoint
        {"aws:SourceVpc": "vpc-0123456789abcdef0", "aws:SecureTransport": True},  # the VPC is not enough
    ],
    ids=["no-endpoint", "other-endpoint", "source-vpc-only"],
)
def test_sealed_bucket_denies_the_same_call_off_the_endpoint(action: str, context: dict[str, Any]) -> None:
    request = fn_call(action, context)
    alone = evaluate(SEALED, request)
    assert (alone.effect, alone.statement) == ("Deny", "DenyUnlessThroughEndpoint")
    decision = decide(request, [ROLE_POLICY], SEALED, ACCOUNT)
    assert decision.effect == "Deny"
    assert decision.statement == "DenyUnlessThroughEndpoint"
    assert "aws:SourceVpce" in decision.reason


@pytest.mark.parametrize("action", FUNCTION_ACTIONS)
def test_sealed_bucket_denies_plain_http_even_through_the_endpoint(action: str) -> None:
    request = fn_call(action, {"aws:SourceVpce": ENDPOINT, "aws:SecureTransport": False})
    decision = decide(request, [ROLE_POLICY], SEALED, ACCOUNT)
    assert (decision.effect, decision.statement) == ("Deny", "DenyWithoutTLS")


@pytest.mark.parametrize("action", ["s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:GetBucketPolicy"])
def test_sealed_bucket_never_locks_the_operator_out_of_its_policy(action: str) -> None:
    operator = f"arn:aws:iam::{ACCOUNT}:user/admin"
    request = call(action, BUCKET_ARN, operator, **{"aws:SecureTransport": True})  # from the host
    assert evaluate(SEALED, request).effect == "ImplicitDeny"
    admin = doc(allow(Action="s3:*", Resource="*"))
    assert decide(request, [admin], SEALED, ACCOUNT).effect == "Allow"


def test_sealed_bucket_denies_the_operator_object_calls_from_the_host() -> None:
    # Why `down` must delete the bucket policy before emptying the bucket.
    operator = f"arn:aws:iam::{ACCOUNT}:user/admin"
    request = call("s3:DeleteObject", OBJECT_ARN, operator, **{"aws:SecureTransport": True})
    admin = doc(allow(Action="s3:*", Resource="*"))
    assert decide(request, [admin], SEALED, ACCOUNT).effect == "Deny"


def test_sealed_bucket_denies_anonymous_and_other_accounts_off_the_endpoint() -> None:
    anonymous = Request("s3:GetObject", OBJECT_ARN, context={"aws:SecureTransport": True})
    assert evaluate(SEALED, anonymous).effect == "Deny"
    stranger = call(
        principal=f"arn:aws:iam::{OTHER}:user/eve", account=OTHER, **{"aws:SecureTransport": True}
    )
    assert evaluate(SEALED, stranger).effect == "Deny"


def test_sealed_bucket_does_not_cover_other_buckets() -> None:
    request = call(resource="arn:aws:s3:::another-bucket/k", **{"aws:SecureTransport": True})
    assert evaluate(SEALED, request).effect == "ImplicitDeny"


def test_sealed_bucket_reads_the_same_as_json_and_as_url_encoded_text() -> None:
    off = fn_call("s3:GetObject", {"aws:SecureTransport": True})
    on = fn_call("s3:GetObject", TLS_VIA_ENDPOINT)
    for form in (json.dumps(SEALED), quote(json.dumps(SEALED))):
        assert evaluate(form, off).effect == "Deny"
        assert evaluate(form, on).effect == "ImplicitDeny"


def test_context_keys_are_case_insensitive() -> None:
    request = fn_call("s3:GetObject", {"AWS:SOURCEVPCE": ENDPOINT, "aws:securetransport": "true"})
    assert evaluate(SEALED, request).effect == "ImplicitDeny"


def test_role_policy_grants_only_its_bucket_and_only_the_right_resource_kind() -> None:
    assert evaluate(ROLE_POLICY, call("s3:GetObject", OBJECT_ARN)).effect == "Allow"
    assert evaluate(ROLE_POLICY, call("s3:ListBucket", BUCKET_ARN)).statement == "ListTheBucket"
    assert evaluate(ROLE_POLICY, call("s3:GetObject", "arn:aws:s3:::other/k")).effect == "ImplicitDeny"
    assert evaluate(ROLE_POLICY, call("s3:GetObject", BUCKET_ARN)).effect == "ImplicitDeny"
    assert evaluate(ROLE_POLICY, call("s3:ListBucket", f"{BUCKET_ARN}/x")).effect == "ImplicitDeny"
    assert evaluate(ROLE_POLICY, call("s3:PutBucketPolicy", BUCKET_ARN)).effect == "ImplicitDeny"


def test_lambda_trust_policy_trusts_only_the_lambda_service_for_this_account() -> None:
    trust = lambda_trust_policy(ACCOUNT)
    role = f"arn:aws:iam::{ACCOUNT}:role/s3gw-fn"
    ours = {"aws:SourceAccount": ACCOUNT}
    assert evaluate(trust, Request("sts:AssumeRole", role, "lambda.amazonaws.com", context=ours)).effect == "Allow"
    # the confused deputy: Lambda acting for a function of another account
    theirs = {"aws:SourceAccount": OTHER}
    assert evaluate(trust, Request("sts:AssumeRole", role, "lambda.amazonaws.com", context=theirs)).effect \
        == "ImplicitDeny"
    assert evaluate(trust, Request("sts:AssumeRole", role, "ec2.amazonaws.com", context=ours)).effect \
        == "ImplicitDeny"
    user = f"arn:aws:iam::{ACCOUNT}:user/u"
    assert evaluate(trust, Request("sts:AssumeRole", role, user, ACCOUNT, ours)).effect == "ImplicitDeny"


# --- the seal: every data action, NotAction, exemptions ------------------------------------------

ALL_DATA = sorted({a for actions in DATA_ACTIONS.values() for a in actions})
HOST = f"arn:aws:iam::{ACCOUNT}:user/admin"
CI_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ci-deploy"


def outside(action: str, principal: str = HOST, principal_arn: str | None = None) -> Request:
    context = {"aws:SecureTransport": True, "aws:PrincipalArn": principal_arn or principal}
    return Request(action, action_resource(action, BUCKET), principal, ACCOUNT, context)


@pytest.mark.parametrize("action", ALL_DATA)
def test_the_seal_denies_every_data_action_off_the_endpoint(action: str) -> None:
    assert evaluate(SEALED, outside(action)).statement == "DenyUnlessThroughEndpoint"
    through = {**TLS_VIA_ENDPOINT, "aws:PrincipalArn": ROLE_ARN}
    assert evaluate(SEALED, Request(action, action_resource(action, BUCKET), SESSION, ACCOUNT, through)).effect \
        == "ImplicitDeny"


@pytest.mark.parametrize("action", ["s3:ReplicateObject", "s3:PutBucketVersioning", "s3:PutLifecycleConfiguration",
                                    "s3:DeleteBucket", "s3:PutBucketAcl", "S3:GETOBJECT", "s3:GetObjectVersionAcl"])
def test_the_seal_covers_actions_it_does_not_name(action: str) -> None:
    # NotAction: everything not listed is denied, whatever its case (action names are case-insensitive).
    assert evaluate(SEALED, outside(action)).effect == "Deny"


@pytest.mark.parametrize("action", MANAGEMENT_ACTIONS)
def test_the_seal_leaves_bucket_management_open(action: str) -> None:
    assert evaluate(SEALED, outside(action)).effect == "ImplicitDeny"
    assert not any(action.startswith(p) for p in ("s3:GetObject", "s3:PutObject", "s3:List", "s3:DeleteObject"))


def test_not_action_with_wildcards() -> None:
    policy = doc(deny(Principal="*", NotAction=["s3:Get*", "s3:ListBucket"], Resource="*"))
    assert evaluate(policy, call("s3:GetObjectVersion")).effect == "ImplicitDeny"
    assert evaluate(policy, call("s3:ListBucket", BUCKET_ARN)).effect == "ImplicitDeny"
    assert evaluate(policy, call("s3:ListBucketVersions", BUCKET_ARN)).effect == "Deny"
    assert evaluate(policy, call("ec2:DescribeVpcs", "*")).effect == "Deny"


def test_an_allowed_principal_is_exempt_and_no_one_else() -> None:
    sealed = bucket_policy(BUCKET, ENDPOINT, allow_principals=[CI_ROLE])
    for action in ("s3:ListBucket", "s3:PutObject", "s3:GetObjectVersion"):
        # a session of the CI role: aws:PrincipalArn is the role's ARN, not the session's
        session = f"arn:aws:sts::{ACCOUNT}:assumed-role/ci-deploy/build-42"
        assert evaluate(sealed, outside(action, session, CI_ROLE)).effect == "ImplicitDeny"
        other = f"arn:aws:iam::{ACCOUNT}:role/ci-other"
        assert evaluate(sealed, outside(action, other)).effect == "Deny"
        assert evaluate(sealed, outside(action)).effect == "Deny"
    # both conditions ANDed: the endpoint still works for anyone
    through = {**TLS_VIA_ENDPOINT, "aws:PrincipalArn": ROLE_ARN}
    assert evaluate(sealed, Request("s3:GetObject", OBJECT_ARN, SESSION, ACCOUNT, through)).effect == "ImplicitDeny"
    # anonymous callers carry no aws:PrincipalArn: ArnNotLike holds for a missing key, so they are denied
    assert evaluate(sealed, Request("s3:GetObject", OBJECT_ARN, context={"aws:SecureTransport": True})).effect \
        == "Deny"


def test_endpoint_policy_reaches_only_the_bucket_for_the_account() -> None:
    policy = endpoint_policy(BUCKET, ACCOUNT)

    def through(action: str, resource: str, principal_account: str = ACCOUNT, resource_account: str = ACCOUNT) -> str:
        context = {"aws:PrincipalAccount": principal_account, "aws:ResourceAccount": resource_account}
        return evaluate(policy, Request(action, resource, SESSION, principal_account, context)).effect

    assert through("s3:PutObject", OBJECT_ARN) == "Allow"
    assert through("s3:ListBucket", BUCKET_ARN) == "Allow"
    assert through("s3:PutObject", "arn:aws:s3:::another-bucket/k") == "ImplicitDeny"
    assert through("s3:PutObject", OBJECT_ARN, resource_account=OTHER) == "ImplicitDeny"  # same name, other owner
    assert through("s3:PutObject", OBJECT_ARN, principal_account=OTHER) == "ImplicitDeny"
    assert through("dynamodb:PutItem", "*") == "ImplicitDeny"


# --- evaluation logic (IAM User Guide: policy evaluation logic) ---------------------------------


def test_no_policy_is_an_implicit_deny() -> None:
    for policy in (None, "", "  ", {}):
        decision = evaluate(policy, call())
        assert decision.effect == "ImplicitDeny"
        assert decision.statement is None
    assert decide(call()).effect == "ImplicitDeny"


def test_explicit_deny_overrides_allow_in_the_same_policy_whatever_the_order() -> None:
    statements = [
        allow(Action="s3:*", Resource="*"),
        deny(Sid="NoDelete", Action="s3:DeleteObject", Resource="*"),
    ]
    for order in (statements, statements[::-1]):
        decision = evaluate(doc(*order), call("s3:DeleteObject"))
        assert (decision.effect, decision.statement) == ("Deny", "NoDelete")
    assert evaluate(doc(*statements), call("s3:GetObject")).effect == "Allow"


def test_statement_without_sid_is_named_by_its_index() -> None:
    policy = doc(
        allow(Sid="First", Action="s3:PutObject", Resource="*"), allow(Action="s3:GetObject", Resource="*")
    )
    assert evaluate(policy, call("s3:GetObject")).statement == "#1"


def test_single_statement_object_instead_of_list() -> None:
    policy = {"Version": "2012-10-17", "Statement": allow(Action="s3:GetObject", Resource="*")}
    assert evaluate(policy, call()).effect == "Allow"


def test_deny_in_either_policy_wins_in_decide() -> None:
    grant = doc(allow(Action="s3:*", Resource="*"))
    refuse = doc(deny(Sid="Refuse", Principal="*", Action="s3:*", Resource="*"))
    assert decide(call(), [grant], refuse, ACCOUNT).statement == "Refuse"
    assert (
        decide(call(), [doc(deny(Sid="Mine", Action="s3:*", Resource="*"))], grant, ACCOUNT).effect == "Deny"
    )
    assert decide(call(), [grant, doc(deny(Action="s3:GetObject", Resource="*"))]).effect == "Deny"


def test_same_account_either_allow_is_enough() -> None:
    identity = doc(allow(Action="s3:GetObject", Resource=f"{BUCKET_ARN}/*"))
    resource = doc(allow(Principal={"AWS": ROLE_ARN}, Action="s3:GetObject", Resource=f"{BUCKET_ARN}/*"))
    assert decide(call(), [identity], None, ACCOUNT).effect == "Allow"
    assert decide(call(), [], resource, ACCOUNT).effect == "Allow"
    assert decide(call(), [], resource).effect == "Allow"  # resource account unknown: treated as the same
    assert decide(call("s3:PutObject"), [identity], resource, ACCOUNT).effect == "ImplicitDeny"


def test_cross_account_needs_both_allows() -> None:
    # IAM User Guide, cross-account policy evaluation logic: the identity policy in the caller's
    # account and the resource policy in the owner's account must both allow.
    caller = f"arn:aws:iam::{OTHER}:user/Bob"
    request = call(principal=caller, account=OTHER)
    identity = doc(allow(Action="s3:GetObject", Resource=f"{BUCKET_ARN}/*"))
    resource = doc(
        allow(Sid="BobReads", Principal={"AWS": OTHER}, Action="s3:GetObject", Resource=f"{BUCKET_ARN}/*")
    )
    assert decide(request, [identity], None, ACCOUNT).effect == "ImplicitDeny"
    only_resource = decide(request, [], resource, ACCOUNT)
    assert only_resource.effect == "ImplicitDeny"
    assert "identity" in only_resource.reason
    both = decide(request, [identity], resource, ACCOUNT)
    assert (both.effect, both.statement) == ("Allow", "BobReads")
    assert decide(request, [identity], resource, OTHER).effect == "Allow"  # same account: either suffices
    assert decide(request, [], resource, OTHER).effect == "Allow"


def test_anonymous_caller_is_allowed_by_a_public_resource_policy_alone() -> None:
    public = doc(allow(Sid="PublicRead", Principal="*", Action="s3:GetObject", Resource=f"{BUCKET_ARN}/*"))
    anonymous = Request("s3:GetObject", OBJECT_ARN)
    assert decide(anonymous, [], public, ACCOUNT).statement == "PublicRead"
    assert (
        decide(anonymous, [doc(allow(Action="s3:*", Resource="*"))], None, ACCOUNT).effect == "ImplicitDeny"
    )


# --- Action / NotAction, Resource / NotResource -------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        ("s3:GetObject", "s3:GetObject", True),
        ("s3:getobject", "S3:GetObject", True),  # actions are case-insensitive
        ("s3:Get*", "s3:GetObjectVersion", True),
        ("s3:Get*", "s3:PutObject", False),
        ("s3:?etObject", "s3:GetObject", True),
        ("s3:?etObject", "s3:GGetObject", False),
        ("*", "ec2:RunInstances", True),
        ("s3:*", "s3express:CreateSession", False),
        ("s3:GetObject", "s3:GetObjectAcl", False),  # whole-name match, not a prefix
        ("s3:Get[O]bject", "s3:GetObject", False),  # brackets are literal, not a character class
    ],
)
def test_action_patterns(pattern: str, action: str, matches: bool) -> None:
    decision = evaluate(doc(allow(Action=pattern, Resource="*")), call(action))
    assert (decision.effect == "Allow") is matches


def test_not_action_allow_everything_except_iam() -> None:
    # IAM User Guide, NotAction: allow all actions except IAM's.
    policy = doc(allow(NotAction="iam:*", Resource="*"))
    assert evaluate(policy, call("s3:GetObject")).effect == "Allow"
    assert evaluate(policy, call("iam:CreateUser", "*")).effect == "ImplicitDeny"


def test_not_action_deny_without_mfa_uses_bool_if_exists() -> None:
    # IAM User Guide, NotAction with Deny: deny everything but IAM unless signed in with MFA.
    policy = doc(
        allow(Action="*", Resource="*"),
        deny(
            Sid="DenyAllUsersNotUsingMFA",
            NotAction="iam:*",
            Resource="*",
            Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
        ),
    )
    assert evaluate(policy, call("s3:GetObject")).statement == "DenyAllUsersNotUsingMFA"  # key missing
    mfa_false = call("s3:GetObject", **{"aws:MultiFactorAuthPresent": False})
    assert evaluate(policy, mfa_false).effect == "Deny"
    assert evaluate(policy, call("s3:GetObject", **{"aws:MultiFactorAuthPresent": True})).effect == "Allow"
    assert evaluate(policy, call("iam:ChangePassword", "*")).effect == "Allow"


@pytest.mark.parametrize(
    ("pattern", "resource", "matches"),
    [
        (f"{BUCKET_ARN}/*", OBJECT_ARN, True),
        (f"{BUCKET_ARN}/*", BUCKET_ARN, False),  # the objects pattern does not cover the bucket
        (BUCKET_ARN, OBJECT_ARN, False),
        ("arn:aws:s3:::S3GW-DATA/*", OBJECT_ARN, False),  # resources are case-sensitive
        ("arn:aws:s3:::s3gw-*", "arn:aws:s3:::s3gw-other/x", True),
        ("arn:aws:s3:::s3gw-dat?", BUCKET_ARN, True),
        ("arn:aws:s3:::s3gw-dat?", f"{BUCKET_ARN}a", False),
        ("*", OBJECT_ARN, True),
        ("arn:aws:s3:::*", OBJECT_ARN, True),
        ("arn:aws:sqs:*:123456789012:q", "arn:aws:sqs:us-east-1:123456789012:q", True),
        # a wildcard stays inside its ARN part: * may not swallow the account
        ("arn:aws:sqs:*:123456789012:q", "arn:aws:sqs:us-east-1:999999999999:123456789012:q", False),
    ],
)
def test_resource_patterns(pattern: str, resource: str, matches: bool) -> None:
    decision = evaluate(doc(allow(Action="*", Resource=pattern)), call(resource=resource))
    assert (decision.effect == "Allow") is matches


def test_resource_list_any_matches() -> None:
    policy = doc(allow(Action="s3:*", Resource=[BUCKET_ARN, f"{BUCKET_ARN}/*"]))
    assert evaluate(policy, call("s3:ListBucket", BUCKET_ARN)).effect == "Allow"
    assert evaluate(policy, call()).effect == "Allow"
    assert evaluate(policy, call(resource="arn:aws:s3:::x/y")).effect == "ImplicitDeny"


def test_not_resource_deny_outside_the_bucket() -> None:
    policy = doc(
        allow(Action="s3:*", Resource="*"),
        deny(Sid="OnlyThisBucket", Action="s3:*", NotResource=[BUCKET_ARN, f"{BUCKET_ARN}/*"]),
    )
    assert evaluate(policy, call()).effect == "Allow"
    assert evaluate(policy, call(resource="arn:aws:s3:::elsewhere/k")).statement == "OnlyThisBucket"


# --- Principal / NotPrincipal -------------------------------------------------------------------


def grant_to(principal: Any) -> dict[str, Any]:
    return doc(allow(Principal=principal, Action="s3:GetObject", Resource=f"{BUCKET_ARN}/*"))


@pytest.mark.parametrize(
    ("principal", "caller", "account", "matches"),
    [
        ("*", "*", "", True),
        ({"AWS": "*"}, "*", "", True),
        ({"AWS": "*"}, SESSION, ACCOUNT, True),
        ({"AWS": ACCOUNT}, SESSION, ACCOUNT, True),
        ({"AWS": ACCOUNT}, f"arn:aws:iam::{ACCOUNT}:user/alice", ACCOUNT, True),
        ({"AWS": ACCOUNT}, f"arn:aws:iam::{OTHER}:user/alice", OTHER, False),
        ({"AWS": ACCOUNT}, "*", "", False),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, SESSION, ACCOUNT, True),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, SESSION, "", True),  # account read from the ARN
        ({"AWS": [f"arn:aws:iam::{OTHER}:root", ROLE_ARN]}, SESSION, ACCOUNT, True),
        ({"AWS": ROLE_ARN}, SESSION, ACCOUNT, True),  # a role covers its sessions
        ({"AWS": ROLE_ARN}, ROLE_ARN, ACCOUNT, True),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:role/team/s3gw-fn"}, SESSION, ACCOUNT, True),  # path not in session
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:role/other"}, SESSION, ACCOUNT, False),
        ({"AWS": f"arn:aws:iam::{OTHER}:role/s3gw-fn"}, SESSION, ACCOUNT, False),
        ({"AWS": SESSION}, SESSION, ACCOUNT, True),
        ({"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/s3gw-fn/other"}, SESSION, ACCOUNT, False),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"}, f"arn:aws:iam::{ACCOUNT}:user/alice", ACCOUNT, True),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"}, f"arn:aws:iam::{ACCOUNT}:user/bob", ACCOUNT, False),
        ({"Service": "lambda.amazonaws.com"}, "lambda.amazonaws.com", "", True),
        ({"Service": ["lambda.amazonaws.com"]}, SESSION, ACCOUNT, False),
    ],
)
def test_principal_matching(principal: Any, caller: str, account: str, matches: bool) -> None:
    decision = evaluate(grant_to(principal), Request("s3:GetObject", OBJECT_ARN, caller, account))
    assert (decision.effect == "Allow") is matches


def test_statement_without_principal_applies_to_the_caller() -> None:
    policy = doc(allow(Action="s3:GetObject", Resource="*"))
    assert evaluate(policy, call(principal=f"arn:aws:iam::{OTHER}:user/x", account=OTHER)).effect == "Allow"


BOB = "arn:aws:iam::444455556666:user/Bob"
AUDIT_SESSION = "arn:aws:sts::444455556666:assumed-role/cross-account-read-only-role/cross-account-audit-app"
AUDIT_ROLE = "arn:aws:iam::444455556666:role/cross-account-read-only-role"


def deny_all_but(*names: str) -> dict[str, Any]:
    return doc(deny(Sid="AllButThese", NotPrincipal={"AWS": list(names)}, Action="s3:*", Resource="*"))


def test_not_principal_deny_spares_the_user_named_with_its_account() -> None:
    # IAM User Guide, NotPrincipal example: user Bob and his account arn:aws:iam::444455556666:root.
    policy = deny_all_but(BOB, "arn:aws:iam::444455556666:root")
    assert evaluate(policy, call(principal=BOB, account=OTHER)).effect == "ImplicitDeny"
    alice = call(principal="arn:aws:iam::444455556666:user/Alice", account=OTHER)
    assert evaluate(policy, alice).statement == "AllButThese"
    assert evaluate(policy, call()).effect == "Deny"
    assert evaluate(policy, Request("s3:GetObject", OBJECT_ARN)).effect == "Deny"  # anonymous


def test_not_principal_deny_without_the_account_denies_the_user_too() -> None:
    # The docs warn that naming only Bob may deny Bob's account, and Bob with it.
    assert evaluate(deny_all_but(BOB), call(principal=BOB, account=OTHER)).effect == "Deny"


def test_not_principal_deny_spares_a_session_only_with_role_and_account() -> None:
    # IAM User Guide, NotPrincipal example for an assumed-role session.
    request = call(principal=AUDIT_SESSION, account=OTHER)
    everything = deny_all_but(AUDIT_SESSION, AUDIT_ROLE, "arn:aws:iam::444455556666:root")
    assert evaluate(everything, request).effect == "ImplicitDeny"
    assert evaluate(deny_all_but(AUDIT_SESSION, "arn:aws:iam::444455556666:root"), request).effect == "Deny"
    assert evaluate(deny_all_but(AUDIT_ROLE, "arn:aws:iam::444455556666:root"), request).effect == "Deny"
    other_session = call(principal=AUDIT_SESSION.replace("audit-app", "other"), account=OTHER)
    assert evaluate(everything, other_session).effect == "Deny"


def test_not_principal_star_spares_everyone_and_allow_with_not_principal_grants_the_rest() -> None:
    assert evaluate(deny_all_but("*"), call()).effect == "ImplicitDeny"
    everyone_else = doc(allow(NotPrincipal={"AWS": OTHER}, Action="s3:GetObject", Resource="*"))
    assert evaluate(everyone_else, call()).effect == "Allow"
    assert evaluate(everyone_else, Request("s3:GetObject", OBJECT_ARN)).effect == "Allow"  # even anonymous
    assert evaluate(everyone_else, call(principal=BOB, account=OTHER)).effect == "ImplicitDeny"


# --- conditions -----------------------------------------------------------------------------------


def allowed_when(condition: dict[str, Any], **context: Any) -> bool:
    policy = doc(allow(Action="s3:GetObject", Resource="*", Condition=condition))
    return evaluate(policy, call(**context)).effect == "Allow"


def test_s3_documented_restrict_to_a_specific_vpc_endpoint() -> None:
    # S3 User Guide: "Restricting access to a specific VPC endpoint" (Access-to-specific-VPCE-only).
    policy = {
        "Version": "2012-10-17",
        "Id": "Policy1415115909152",
        "Statement": [
            {
                "Sid": "Access-to-specific-VPCE-only",
                "Principal": "*",
                "Action": "s3:*",
                "Effect": "Deny",
                "Resource": ["arn:aws:s3:::awsexamplebucket1", "arn:aws:s3:::awsexamplebucket1/*"],
                "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}},
            }
        ],
    }
    obj = "arn:aws:s3:::awsexamplebucket1/k"
    assert (
        evaluate(policy, call(resource=obj, **{"aws:SourceVpce": "vpce-1a2b3c4d"})).effect == "ImplicitDeny"
    )
    assert evaluate(policy, call(resource=obj, **{"aws:SourceVpce": "vpce-9z9z9z9z"})).effect == "Deny"
    assert evaluate(policy, call(resource=obj)).effect == "Deny"
    assert evaluate(policy, call(resource="arn:aws:s3:::other/k")).effect == "ImplicitDeny"


def test_s3_documented_restrict_to_a_specific_vpc() -> None:
    # S3 User Guide: "Restricting access to a specific VPC" (Access-to-specific-VPC-only).
    policy = doc(
        deny(
            Sid="Access-to-specific-VPC-only",
            Principal="*",
            Action="s3:*",
            Resource=["arn:aws:s3:::awsexamplebucket1", "arn:aws:s3:::awsexamplebucket1/*"],
            Condition={"StringNotEquals": {"aws:SourceVpc": "vpc-111bbb22"}},
        )
    )
    obj = "arn:aws:s3:::awsexamplebucket1/k"
    assert evaluate(policy, call(resource=obj, **{"aws:SourceVpc": "vpc-111bbb22"})).effect == "ImplicitDeny"
    assert evaluate(policy, call(resource=obj, **{"aws:SourceVpce": "vpce-1a2b3c4d"})).effect == "Deny"


def test_documented_secure_transport_deny() -> None:
    # S3 User Guide / AWS security blog: deny any request that is not sent over HTTPS.
    policy = doc(
        deny(
            Sid="AllowSSLRequestsOnly",
            Principal="*",
            Action="s3:*",
            Resource=[BUCKET_ARN, f"{BUCKET_ARN}/*"],
            Condition={"Bool": {"aws:SecureTransport": "false"}},
        )
    )
    assert evaluate(policy, call(**{"aws:SecureTransport": False})).statement == "AllowSSLRequestsOnly"
    assert evaluate(policy, call(**{"aws:SecureTransport": "FALSE"})).effect == "Deny"
    assert evaluate(policy, call(**{"aws:SecureTransport": True})).effect == "ImplicitDeny"
    assert evaluate(policy, call()).effect == "ImplicitDeny"  # Bool with the key missing does not match


def test_bool_accepts_json_booleans_and_any_case() -> None:
    assert allowed_when({"Bool": {"aws:SecureTransport": True}}, **{"aws:SecureTransport": "True"})
    assert allowed_when({"Bool": {"aws:SecureTransport": "TRUE"}}, **{"aws:SecureTransport": True})
    assert not allowed_when({"Bool": {"aws:SecureTransport": "true"}}, **{"aws:SecureTransport": False})


@pytest.mark.parametrize(
    ("operator", "wanted", "actual", "holds"),
    [
        ("StringEquals", "vpce-1", "vpce-1", True),
        ("StringEquals", "vpce-1", "VPCE-1", False),
        ("StringNotEquals", "vpce-1", "vpce-2", True),
        ("StringNotEquals", "vpce-1", "vpce-1", False),
        ("StringEqualsIgnoreCase", "vpce-1", "VPCE-1", True),
        ("StringEqualsIgnoreCase", "vpce-1", "vpce-2", False),
        ("StringNotEqualsIgnoreCase", "vpce-1", "VPCE-1", False),
        ("StringNotEqualsIgnoreCase", "vpce-1", "vpce-2", True),
        ("StringLike", "vpce-*", "vpce-0abc", True),
        ("StringLike", "vpce-?", "vpce-12", False),
        ("StringLike", "VPCE-*", "vpce-1", False),
        ("StringNotLike", "vpce-*", "vpc-1", True),
        ("StringNotLike", "vpce-*", "vpce-1", False),
        ("ArnEquals", ROLE_ARN, ROLE_ARN, True),
        ("ArnLike", "arn:aws:iam::*:role/s3gw-*", ROLE_ARN, True),
        ("ArnEquals", "arn:aws:iam::*:role/s3gw-*", ROLE_ARN, True),  # AWS: ArnEquals behaves as ArnLike
        ("ArnLike", "arn:aws:iam::*:role/s3gw-*", "arn:aws:iam::1:user/s3gw-x", False),
        ("ArnLike", "arn:aws:iam::*:role/S3GW-*", ROLE_ARN, False),
        ("ArnNotEquals", ROLE_ARN, ROLE_ARN, False),
        ("ArnNotLike", "arn:aws:iam::*:role/x*", ROLE_ARN, True),
    ],
)
def test_condition_operators(operator: str, wanted: str, actual: str, holds: bool) -> None:
    assert allowed_when({operator: {"aws:Key": wanted}}, **{"aws:Key": actual}) is holds


@pytest.mark.parametrize(
    ("operator", "holds"),
    [
        ("StringEquals", False),
        ("StringLike", False),
        ("StringEqualsIgnoreCase", False),
        ("ArnEquals", False),
        ("ArnLike", False),
        ("Bool", False),
        ("StringNotEquals", True),  # why a Deny on StringNotEquals aws:SourceVpce catches host calls
        ("StringNotEqualsIgnoreCase", True),
        ("StringNotLike", True),
        ("ArnNotEquals", True),
        ("ArnNotLike", True),
        ("StringEqualsIfExists", True),
        ("StringLikeIfExists", True),
        ("ArnLikeIfExists", True),
        ("BoolIfExists", True),
        ("StringNotEqualsIfExists", True),
        ("ForAnyValue:StringEquals", False),
        ("ForAnyValue:StringNotEquals", False),
        ("ForAnyValue:StringEqualsIfExists", True),
        ("ForAllValues:StringEquals", True),
    ],
)
def test_missing_key(operator: str, holds: bool) -> None:
    assert allowed_when({operator: {"aws:Absent": "arn:aws:iam::1:role/x"}}) is holds


def test_if_exists_still_tests_a_present_key() -> None:
    # IAM User Guide, ...IfExists: allow instance types t1/t2/m3 only, and requests without the key.
    condition = {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}}
    assert allowed_when(condition)
    assert allowed_when(condition, **{"ec2:InstanceType": "t2.micro"})
    assert not allowed_when(condition, **{"ec2:InstanceType": "m5.large"})
    assert not allowed_when({"StringNotEqualsIfExists": {"aws:Key": "a"}}, **{"aws:Key": "a"})


def test_null_operator() -> None:
    # IAM User Guide, Null: true means the key is absent, false means it is present.
    temporary = {"Null": {"aws:TokenIssueTime": "false"}}
    assert allowed_when(temporary, **{"aws:TokenIssueTime": "2024-01-01T00:00:00Z"})
    assert not allowed_when(temporary)
    absent = {"Null": {"aws:TokenIssueTime": True}}
    assert allowed_when(absent)
    assert not allowed_when(absent, **{"aws:TokenIssueTime": "2024-01-01T00:00:00Z"})
    no_tags = {"Null": {"aws:TagKeys": "true"}}
    assert allowed_when(no_tags)
    assert allowed_when(no_tags, **{"aws:TagKeys": []})  # an empty multi-valued key counts as missing
    assert not allowed_when(no_tags, **{"aws:TagKeys": ["a"]})


def test_for_all_values_is_true_for_an_empty_set() -> None:
    # IAM User Guide warns: ForAllValues with no values in the request evaluates to true.
    condition = {"ForAllValues:StringLike": {"aws:TagKeys": ["key1*", "key2"]}}
    assert allowed_when(condition)
    assert allowed_when(condition, **{"aws:TagKeys": []})
    assert allowed_when(condition, **{"aws:TagKeys": ["key1a", "key2"]})
    assert not allowed_when(condition, **{"aws:TagKeys": ["key1a", "other"]})
    assert not allowed_when(condition, **{"aws:TagKeys": ["KEY1a"]})


def test_for_any_value() -> None:
    condition = {"ForAnyValue:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}
    assert allowed_when(condition, **{"aws:TagKeys": ["owner", "cost-center"]})
    assert not allowed_when(condition, **{"aws:TagKeys": ["owner"]})
    assert not allowed_when(condition, **{"aws:TagKeys": []})
    assert allowed_when(
        {"ForAnyValue:StringNotEquals": {"aws:TagKeys": "owner"}}, **{"aws:TagKeys": ["owner", "x"]}
    )
    assert not allowed_when(
        {"ForAnyValue:StringNotEquals": {"aws:TagKeys": "owner"}}, **{"aws:TagKeys": ["owner"]}
    )


def test_single_value_operator_on_a_multi_valued_key_matches_any_value() -> None:
    assert allowed_when({"StringEquals": {"aws:TagKeys": "b"}}, **{"aws:TagKeys": ["a", "b"]})
    assert not allowed_when({"StringEquals": {"aws:TagKeys": "c"}}, **{"aws:TagKeys": ["a", "b"]})


def test_values_are_ored_keys_and_operators_anded() -> None:
    either = {"StringEquals": {"aws:SourceVpce": ["vpce-1", "vpce-2"]}}
    assert allowed_when(either, **{"aws:SourceVpce": "vpce-2"})
    assert not allowed_when(either, **{"aws:SourceVpce": "vpce-3"})
    # A negated operator with several values holds only when the value equals none of them.
    none_of = {"StringNotEquals": {"aws:SourceVpce": ["vpce-1", "vpce-2"]}}
    assert not allowed_when(none_of, **{"aws:SourceVpce": "vpce-2"})
    assert allowed_when(none_of, **{"aws:SourceVpce": "vpce-3"})
    both_keys = {"StringEquals": {"aws:SourceVpce": "vpce-1", "aws:SourceAccount": ACCOUNT}}
    assert allowed_when(both_keys, **{"aws:SourceVpce": "vpce-1", "aws:SourceAccount": ACCOUNT})
    assert not allowed_when(both_keys, **{"aws:SourceVpce": "vpce-1", "aws:SourceAccount": OTHER})
    both_ops = {"StringEquals": {"aws:SourceVpce": "vpce-1"}, "Bool": {"aws:SecureTransport": "true"}}
    assert allowed_when(both_ops, **{"aws:SourceVpce": "vpce-1", "aws:SecureTransport": True})
    assert not allowed_when(both_ops, **{"aws:SourceVpce": "vpce-1", "aws:SecureTransport": False})
    assert not allowed_when(both_ops, **{"aws:SecureTransport": True})


def test_condition_key_in_the_policy_is_case_insensitive() -> None:
    assert allowed_when({"StringEquals": {"AWS:SOURCEVPCE": "vpce-1"}}, **{"aws:sourceVpce": "vpce-1"})
    assert not allowed_when({"StringEquals": {"AWS:SOURCEVPCE": "vpce-1"}}, **{"aws:sourceVpce": "VPCE-1"})


def test_policy_variables_are_taken_literally() -> None:
    condition = {"StringEquals": {"aws:username": "${aws:username}"}}
    assert not allowed_when(condition, **{"aws:username": "alice"})
    assert allowed_when(condition, **{"aws:username": "${aws:username}"})


# --- reasons and errors ---------------------------------------------------------------------------


def test_reasons_name_the_statement_and_the_condition() -> None:
    denied = evaluate(SEALED, fn_call("s3:GetObject", {"aws:SecureTransport": True}))
    assert "DenyUnlessThroughEndpoint" in denied.reason and "none" in denied.reason
    via_endpoint = {"StringEquals": {"aws:SourceVpce": [ENDPOINT]}}
    policy = doc(allow(Sid="ViaEndpoint", Action="s3:*", Resource="*", Condition=via_endpoint))
    missed = evaluate(policy, call())
    assert missed.effect == "ImplicitDeny"
    assert "ViaEndpoint" in missed.reason and "aws:SourceVpce" in missed.reason
    assert decide(call(), [], SEALED, ACCOUNT).reason.startswith("resource policy: ")


def test_ip_address_operators_match_cidr_ranges() -> None:
    """IpAddress / NotIpAddress (IAM User Guide, condition operators): a bucket policy pinning aws:SourceIp to a NAT
    gateway's address, as `s3gw audit` names them."""
    pinned = {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24"]}}
    assert allowed_when(pinned, **{"aws:SourceIp": "203.0.113.7"})
    assert not allowed_when(pinned, **{"aws:SourceIp": "10.0.1.5"})  # what S3 sees through a gateway endpoint
    assert not allowed_when(pinned)
    assert allowed_when({"NotIpAddress": {"aws:SourceIp": "203.0.113.7/32"}}, **{"aws:SourceIp": "10.0.1.5"})


@pytest.mark.parametrize(
    "operator",
    ["NumericLessThan", "StringEqualz", "ForSomeValues:StringEquals", "NullIfExists", "DateLessThan"],
)
def test_unsupported_operator_raises_whatever_the_request(operator: str) -> None:
    policy = doc(
        deny(Action="s3:*", Resource="*"),  # matches first: the bad statement must still be reported
        allow(Action="ec2:*", Resource="*", Condition={operator: {"aws:Key": "1"}}),
    )
    with pytest.raises(ValueError, match=operator.split(":")[-1]):
        evaluate(policy, call())
    with pytest.raises(ValueError):
        decide(call(), [], policy, ACCOUNT)


@pytest.mark.parametrize(
    "policy",
    [
        "{not json",
        doc(allow(Action="s3:*", NotAction="s3:Get*", Resource="*")),
        doc({"Effect": "Permit", "Action": "s3:*", "Resource": "*"}),
        doc(allow(Resource="*")),
        doc(allow(Principal="arn:aws:iam::123456789012:root", Action="s3:*", Resource="*")),
        doc(allow(Action="s3:*", Resource="*", Condition={"StringEquals": "aws:SourceVpce"})),
        {"Version": "2012-10-17"},
        ["not", "a", "document"],
    ],
    ids=[
        "bad-json",
        "action-and-notaction",
        "bad-effect",
        "no-action",
        "bare-principal",
        "bad-condition",
        "no-statement",
        "not-an-object",
    ],
)
def test_malformed_policies_raise_value_error(policy: Any) -> None:
    with pytest.raises(ValueError):
        evaluate(policy, call())
