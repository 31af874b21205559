"""The permissions table: docs/permissions.md lists it (generated), the policy covers it, ARNs follow the partition."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from s3gw.cli import cli
from s3gw.permissions import (
    ADOPTED_ATTACH,
    ADOPTED_FUNCTIONS,
    ADOPTED_ROLES,
    ANY_POLICY,
    ANY_ROLE,
    OTHER_FUNCTION,
    README_BEGIN,
    README_END,
    TABLE,
    USERS_VPC,
    Target,
    policy_document,
    readme_table,
    without,
)

PAGE = Path(__file__).resolve().parent.parent / "docs" / "permissions.md"


def test_the_readme_lists_exactly_the_table() -> None:
    text = PAGE.read_text()
    assert README_BEGIN in text and README_END in text
    listed = text.split(README_BEGIN, 1)[1].split(README_END, 1)[0].strip()
    assert listed == readme_table(), "regenerate docs/permissions.md's table from s3gw.permissions.readme_table()"


def test_every_action_is_in_the_policy_once() -> None:
    optional = (USERS_VPC, OTHER_FUNCTION, ANY_ROLE, ANY_POLICY, ADOPTED_FUNCTIONS, ADOPTED_ROLES,
                ADOPTED_ATTACH, "dynamodb-table", "dynamodb-list")  # only with --vpc-id, --function, --table
    actions = [row.action for row in TABLE if not row.scope.startswith("state-") and row.scope not in optional]
    assert len(actions) == len(set(actions))
    policy = policy_document(Target("aws", "eu-west-1", "123456789012", "s", "b", "s-lambda-role", "s-lister"))
    granted = [a for statement in policy["Statement"] for a in statement["Action"]]
    assert sorted(granted) == sorted(actions)
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])
    # Only the actions that support no resource-level permission get Resource "*".
    wildcard = {a for s in policy["Statement"] if s["Resource"] == "*" for a in s["Action"]}
    assert wildcard == {a for a in actions if a.startswith(("ec2:Describe", "ec2:Get")) or a == "s3:ListAllMyBuckets"}
    # IAM's managed-policy size quota is 6,144 characters, whitespace not counted.
    assert len(json.dumps(policy, separators=(",", ":"))) < 6144


@pytest.mark.parametrize(("region", "partition"), [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"),
                                                   ("eu-west-1", "aws")])
def test_the_printed_policy_is_built_for_the_region_s_partition(tmp_path: Path, region: str, partition: str) -> None:
    result = CliRunner().invoke(cli, ["permissions", "--output", "json", "--region", region, "--stack", "st",
                                      "--account", "123456789012", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    policy = json.loads(result.stdout)
    resources = [r for s in policy["Statement"] for r in ([s["Resource"]] if isinstance(s["Resource"], str)
                                                          else s["Resource"]) if r != "*"]
    assert resources and all(r.startswith(f"arn:{partition}:") for r in resources), resources
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["TheBucket"]["Resource"] == f"arn:{partition}:s3:::st-123456789012-{region}"
    assert by_sid["TheFunction"]["Resource"] == [f"arn:{partition}:lambda:{region}:123456789012:function:st-lister",
                                                 f"arn:{partition}:lambda:{region}:123456789012:function:st-app"]
    assert by_sid["Ec2ChangeStackResources"]["Condition"] == {"StringEquals": {"aws:ResourceTag/s3gw:stack": "st"}}
    assert by_sid["AttachVpcAccessPolicyOnly"]["Condition"]["ArnEquals"]["iam:PolicyARN"].startswith(
        f"arn:{partition}:iam::aws:policy/")


def test_without_an_account_the_arns_take_any_account(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["permissions", "--output", "json", "--region", "eu-west-1", "--stack", "st",
                                      "--state-dir", str(tmp_path)])
    by_sid = {s["Sid"]: s for s in json.loads(result.stdout)["Statement"]}
    # the probe's role, and your function's by the name the stack gives it (down --from-tags looks for it)
    assert by_sid["TheRole"]["Resource"] == ["arn:aws:iam::*:role/st-lambda-role", "arn:aws:iam::*:role/st-app-role"]
    assert by_sid["TheBucket"]["Resource"] == "arn:aws:s3:::st-*-eu-west-1"


def test_a_bad_account_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["permissions", "--region", "eu-west-1", "--account", "12", "--state-dir",
                                      str(tmp_path)])
    assert result.exit_code == 2 and "invalid account id" in result.stderr


def test_without_names_an_unknown_action() -> None:
    with pytest.raises(KeyError):
        without("ec2:NoSuchAction")


def test_with_the_state_in_s3_the_policy_reaches_the_state_objects_only(tmp_path: Path) -> None:
    policy = policy_document(Target("aws", "eu-west-1", "123456789012", "s", "b", "s-lambda-role", "s-lister",
                                    state_url="s3://team-state/s3gw"))
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["TheStateObjects"]["Resource"] == "arn:aws:s3:::team-state/s3gw/s.*"
    assert sorted(by_sid["TheStateObjects"]["Action"]) == ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    assert by_sid["TheStateBucket"]["Resource"] == "arn:aws:s3:::team-state"


@pytest.mark.parametrize(("args", "said"), [
    (["--function", "x;rm -rf /", "--bucket", "my-bucket"], "invalid function name"),
    (["--function", "my-fn"], "--function needs --bucket"),
])
def test_permissions_function_is_checked(tmp_path: Path, args: list[str], said: str) -> None:
    result = CliRunner().invoke(cli, ["permissions", "--region", "eu-west-1", "--state-dir", str(tmp_path), *args])
    assert result.exit_code == 2 and said in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_with_your_function_the_policy_reaches_it_its_role_its_logs_and_the_adopted(tmp_path: Path) -> None:
    """Issue 21: a stack with --code and an adopted function: the policy names your function and role beside the
    probe's, its log groups, and the adopted functions (their roles: any, read and s3gw's own policy only)."""
    (tmp_path / "st.json").write_text(json.dumps({
        "schema": 1, "stack": "st", "region": "eu-west-1", "account": "123456789012", "resources": {},
        "settings": {"code": str(tmp_path), "handler": "app.handler", "adopt_functions": ["theirs"]}}))
    result = CliRunner().invoke(cli, ["permissions", "--output", "json", "--region", "eu-west-1", "--stack", "st",
                                      "--state-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    by_sid = {s["Sid"]: s for s in json.loads(result.stdout)["Statement"]}
    assert by_sid["TheFunction"]["Resource"] == ["arn:aws:lambda:eu-west-1:123456789012:function:st-lister",
                                                 "arn:aws:lambda:eu-west-1:123456789012:function:st-app"]
    assert by_sid["TheRole"]["Resource"][1] == "arn:aws:iam::123456789012:role/st-app-role"
    assert "logs:FilterLogEvents" in by_sid["YourFunctionsLogs"]["Action"]
    assert by_sid["TheAdoptedFunctions"]["Resource"] == ["arn:aws:lambda:eu-west-1:123456789012:function:theirs"]
    assert "iam:PutRolePolicy" in by_sid["TheAdoptedFunctionsRoles"]["Action"]
    assert by_sid["AttachVpcAccessToAdoptedRoles"]["Condition"]["ArnEquals"]
