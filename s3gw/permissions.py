"""The operator's least-privilege IAM policy: ONE table of every action s3gw needs, why, and for which command.

`s3gw permissions` prints the policy built from it; docs/permissions.md's table is generated from it too
(a test checks that they agree). A new AWS call in s3gw needs a row here, or the IAM-enforced end-to-end
test (tests/test_permissions_e2e.py) fails with the missing action.

Resources are narrowed where AWS allows it (Service Authorization Reference, "Actions, resources, and
condition keys" for EC2, S3, IAM and Lambda): the bucket and its objects by ARN, the stack's role and
function by name; EC2 changes to what s3gw made by its tag (aws:ResourceTag, as in IAM's example policy
"Amazon EC2: Allows managing security groups with a specific tag"); EC2 Describe* calls support no
resource-level permissions, so they take "*".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from s3gw.policy.documents import LAMBDA_VPC_POLICY_ARN

UP, PLAN, STATUS, VERIFY, INVOKE = "up", "plan", "status", "verify", "test-invoke"
CALL, LOGS = "invoke", "logs"  # your function (issue 21)
DOWN, FROM_TAGS = "down", "down --from-tags"
READERS = (UP, PLAN, STATUS, VERIFY, DOWN, FROM_TAGS)

# Scopes: which resources a row's action is granted on (see `_statement_for`).
ANY = "any"  # "*": the action supports no resource-level permission (EC2 Describe*, s3:ListAllMyBuckets)
EC2_REGION = "ec2-region"  # any EC2 resource of the region: creates, and what carries no stack tag
EC2_STACK = "ec2-stack"  # EC2 resources carrying the tag s3gw:stack=<stack>
EC2_TAG_ON_CREATE = "ec2-tag-on-create"  # ec2:CreateTags only as part of s3gw's own creates
BUCKET = "bucket"
OBJECTS = "objects"
ROLE = "role"
PASS_ROLE = "pass-role"  # the role, passed to Lambda only
ATTACH_VPC_ACCESS = "attach-vpc-access"  # the role, with AWSLambdaVPCAccessExecutionRole only
VPC_ACCESS_POLICY = "vpc-access-policy"
FUNCTION = "function"
STATE_BUCKET = "state-bucket"  # --state s3://BUCKET/PREFIX only
STATE_OBJECTS = "state-objects"
WITH_S3_STATE = "every command, with --state s3://"
STATE_INIT = "state init"
# --vpc-id: the VPC, its subnets and route tables, and an S3 gateway endpoint already in it (adopted) are the user's
# and carry no s3gw:stack tag; ModifyVpcEndpoint authorises the endpoint AND each route table it adds or removes
# (Service Authorization Reference, EC2: ModifyVpcEndpoint's resource types vpc-endpoint*, route-table,
# security-group, subnet; the PrivateLink guide's CreateVpcEndpoint example grants vpc, subnet, route-table,
# security-group and vpc-endpoint ARNs alike), so the tag condition would refuse them.
USERS_VPC = "users-vpc"
WITH_VPC_ID = "up/down --vpc-id"
# `verify --function NAME --bucket NAME` on a setup s3gw did not make: that function, and whatever role it has (not
# known offline: the account's roles, read only) with its managed policies. Only with `permissions --function`.
OTHER_FUNCTION = "other-function"
ANY_ROLE = "any-role"
ANY_POLICY = "any-policy"
WITH_FUNCTION = "verify --function"
# The DynamoDB lane (`up --table NAME`): that table only; only in the policy when a table is named or recorded.
DYNAMODB_TABLE = "dynamodb-table"
DYNAMODB_LIST = "dynamodb-list"  # ListTables: no resource-level permission ("*"), only with a table
WITH_TABLE = "up/down --table"
# Your function's log group (`s3gw logs`): Lambda's /aws/lambda/NAME groups of the region.
LOG_GROUPS = "log-groups"
# `up --function NAME --adopt`: those functions, and their roles (not known offline: the account's roles), on which
# s3gw puts and takes off its own inline policy and, with its ARN only, AWSLambdaVPCAccessExecutionRole.
ADOPTED_FUNCTIONS = "adopted-functions"
ADOPTED_ROLES = "adopted-roles"
ADOPTED_ATTACH = "adopted-attach"
WITH_ADOPTED = "up/down --function NAME --adopt"

# The creates that tag at creation (TagSpecifications): ec2:CreateTags is needed for each, with
# ec2:CreateAction naming it (EC2 User Guide, "Grant permission to tag Amazon EC2 resources during creation").
EC2_TAGGED_CREATES = ("CreateVpc", "CreateSubnet", "CreateRouteTable", "CreateSecurityGroup", "CreateVpcEndpoint")


@dataclass(frozen=True)
class Permission:
    action: str
    scope: str
    commands: tuple[str, ...]
    why: str


TABLE: tuple[Permission, ...] = (
    # --- EC2: reads (no resource-level permissions for Describe*) ---
    Permission("ec2:DescribeAvailabilityZones", ANY, (UP, PLAN), "the region's zones for the subnets"),
    Permission("ec2:DescribeVpcs", ANY, READERS, "find the VPC by id or tag"),
    Permission("ec2:DescribeVpcAttribute", ANY, (UP, PLAN, STATUS), "check DNS support and hostnames"),
    Permission("ec2:DescribeSubnets", ANY, READERS, "find the subnets; verify's path model"),
    Permission("ec2:DescribeRouteTables", ANY, READERS, "find the route tables; each subnet's effective table"),
    Permission("ec2:DescribeVpcEndpoints", ANY, READERS, "find and check the endpoint"),
    Permission("ec2:DescribeVpcEndpointServices", ANY, (UP,), "the region's S3 gateway service name"),
    Permission("ec2:DescribeManagedPrefixLists", ANY, (UP, PLAN, STATUS, VERIFY), "the S3 prefix list"),
    Permission("ec2:GetManagedPrefixListEntries", ANY, (PLAN, VERIFY),
               "S3's ranges: does a CIDR egress rule cover them; which route wins them (route priority)"),
    Permission("ec2:DescribeSecurityGroups", ANY, READERS, "find and check the security group"),
    Permission("ec2:DescribeNetworkInterfaces", ANY, (DOWN, FROM_TAGS), "wait for Lambda's ENIs to go"),
    # --- EC2: creates (tagged at creation) ---
    Permission("ec2:CreateVpc", EC2_REGION, (UP,), "the VPC"),
    Permission("ec2:CreateSubnet", EC2_REGION, (UP,), "the private subnets"),
    Permission("ec2:CreateRouteTable", EC2_REGION, (UP,), "one route table per subnet"),
    Permission("ec2:CreateVpcEndpoint", EC2_REGION, (UP,), "the S3 gateway endpoint"),
    Permission("ec2:CreateSecurityGroup", EC2_REGION, (UP,), "the function's security group"),
    Permission("ec2:CreateTags", EC2_TAG_ON_CREATE, (UP,), "tag each resource in its create call"),
    # --- EC2: changes and deletes of what the stack made (its tag) ---
    Permission("ec2:ModifyVpcAttribute", EC2_STACK, (UP,), "turn on DNS support and hostnames"),
    Permission("ec2:AssociateVpcCidrBlock", EC2_STACK, (UP,),
               "--ip-address-type dualstack: an Amazon-provided IPv6 block for a VPC made without one"),
    Permission("ec2:AssociateSubnetCidrBlock", EC2_STACK, (UP,),
               "--ip-address-type dualstack: a /64 for a subnet made without one"),
    Permission("ec2:AssociateRouteTable", EC2_STACK, (UP,), "associate each subnet with its table"),
    Permission("ec2:ReplaceRouteTableAssociation", EC2_STACK, (UP,), "move a subnet to its table"),
    Permission("ec2:ModifyVpcEndpoint", EC2_STACK, (UP, DOWN), "attach/detach route tables"),
    Permission("ec2:AuthorizeSecurityGroupEgress", EC2_STACK, (UP,), "egress TCP 443 to S3"),
    Permission("ec2:RevokeSecurityGroupEgress", EC2_STACK, (UP,), "revoke the default allow-all egress"),
    Permission("ec2:RevokeSecurityGroupIngress", EC2_STACK, (UP,), "revoke ingress added by hand"),
    Permission("ec2:DeleteVpcEndpoints", EC2_STACK, (DOWN, FROM_TAGS), "delete the endpoint"),
    Permission("ec2:DeleteRouteTable", EC2_STACK, (DOWN, FROM_TAGS), "delete the route tables"),
    Permission("ec2:DeleteSecurityGroup", EC2_STACK, (DOWN, FROM_TAGS), "delete the security group"),
    Permission("ec2:DeleteSubnet", EC2_STACK, (DOWN, FROM_TAGS), "delete the subnets"),
    Permission("ec2:DeleteVpc", EC2_STACK, (DOWN, FROM_TAGS), "delete the VPC"),
    # Named by association id only (no tagged resource in the request), and Lambda's ENIs carry no stack tag.
    Permission("ec2:DisassociateRouteTable", EC2_REGION, (DOWN, FROM_TAGS), "free a table before deleting it"),
    Permission("ec2:DeleteNetworkInterface", EC2_REGION, (DOWN, FROM_TAGS), "delete Lambda's released ENIs"),
    # --- S3 ---
    Permission("s3:ListAllMyBuckets", ANY, (FROM_TAGS, INVOKE),
               "find the stack's bucket by its tag; another bucket of the region for the function to try"),
    Permission("s3:CreateBucket", BUCKET, (UP,), "the bucket"),
    Permission("s3:TagResource", BUCKET, (UP,), "the bucket is tagged in its CreateBucket call"),
    Permission("s3:GetBucketLocation", BUCKET, READERS + (INVOKE,), "does the bucket exist; its region"),
    Permission("s3:GetBucketTagging", BUCKET, READERS, "is the bucket this stack's"),
    Permission("s3:PutBucketTagging", BUCKET, (UP,), "tag the bucket"),
    Permission("s3:GetBucketPublicAccessBlock", BUCKET, (UP, PLAN, STATUS, VERIFY), "check Block Public Access"),
    Permission("s3:PutBucketPublicAccessBlock", BUCKET, (UP,), "turn on Block Public Access"),
    Permission("s3:GetEncryptionConfiguration", BUCKET, (UP, PLAN, STATUS), "check default encryption"),
    Permission("s3:PutEncryptionConfiguration", BUCKET, (UP,), "turn on default encryption"),
    Permission("s3:GetBucketPolicy", BUCKET, (UP, PLAN, STATUS, VERIFY, INVOKE),
               "check the seal; does it exempt the operator (--allow-principal)"),
    Permission("s3:PutBucketPolicy", BUCKET, (UP,), "seal the bucket to the endpoint"),
    # --adopt: the deliveries the seal would cut, named before it is written (steps.bucket.services_cut).
    # ListBucketInventoryConfigurations is authorised as s3:GetInventoryConfiguration (S3 API reference).
    Permission("s3:GetBucketLogging", BUCKET, (UP, PLAN), "--adopt: does the bucket log into itself"),
    Permission("s3:GetInventoryConfiguration", BUCKET, (UP, PLAN), "--adopt: Inventory reports into itself"),
    Permission("s3:GetReplicationConfiguration", BUCKET, (UP, PLAN), "--adopt: replication's role"),
    Permission("s3:DeleteBucketPolicy", BUCKET, (DOWN, FROM_TAGS), "unseal before emptying (the seal refuses us)"),
    Permission("s3:ListBucket", BUCKET, (INVOKE,), "the outside list that the seal must refuse"),
    Permission("s3:ListBucketVersions", BUCKET, (DOWN, FROM_TAGS, INVOKE),
               "every version to delete; the outside versions list that the seal must refuse"),
    # Granted so that only the seal can refuse test-invoke's outside reads: a refusal by the operator's own
    # permissions proves nothing about the seal (invoke._outside_reads).
    Permission("s3:GetObjectVersion", OBJECTS, (INVOKE,), "the outside versionId=null get that the seal must refuse"),
    Permission("s3:DeleteObject", OBJECTS, (DOWN, FROM_TAGS), "empty the bucket"),
    Permission("s3:DeleteObjectVersion", OBJECTS, (DOWN, FROM_TAGS), "empty the bucket (versions, markers)"),
    Permission("s3:DeleteBucket", BUCKET, (DOWN, FROM_TAGS), "delete the bucket"),
    # --- IAM: the function's role ---
    Permission("iam:GetRole", ROLE, READERS, "find the role; is it this stack's"),
    Permission("iam:CreateRole", ROLE, (UP,), "the function's role"),
    Permission("iam:TagRole", ROLE, (UP,), "the role is tagged in its CreateRole call"),
    Permission("iam:UpdateAssumeRolePolicy", ROLE, (UP,), "repair the trust policy"),
    Permission("iam:ListAttachedRolePolicies", ROLE, (UP, PLAN, STATUS, VERIFY, DOWN, FROM_TAGS),
               "check/detach the managed policy"),
    Permission("iam:AttachRolePolicy", ATTACH_VPC_ACCESS, (UP,), "attach AWSLambdaVPCAccessExecutionRole only"),
    Permission("iam:DetachRolePolicy", ROLE, (DOWN, FROM_TAGS), "detach before deleting the role"),
    Permission("iam:GetRolePolicy", ROLE, (UP, PLAN, STATUS, VERIFY), "check the bucket-access policy"),
    Permission("iam:PutRolePolicy", ROLE, (UP,), "the bucket-access policy"),
    Permission("iam:ListRolePolicies", ROLE, (VERIFY, DOWN, FROM_TAGS), "inline policies to read/delete"),
    Permission("iam:DeleteRolePolicy", ROLE, (DOWN, FROM_TAGS), "delete before deleting the role"),
    Permission("iam:DeleteRole", ROLE, (DOWN, FROM_TAGS), "delete the role"),
    Permission("iam:PassRole", PASS_ROLE, (UP,), "give the role to the function (to Lambda only)"),
    Permission("iam:GetPolicy", VPC_ACCESS_POLICY, (VERIFY,), "read the attached managed policy"),
    Permission("iam:GetPolicyVersion", VPC_ACCESS_POLICY, (VERIFY,), "read the attached managed policy"),
    # --- Lambda: the function ---
    Permission("lambda:GetFunction", FUNCTION, READERS, "find the function; its code hash"),
    Permission("lambda:ListTags", FUNCTION, READERS, "GetFunction returns the tags (is it ours) only with this"),
    Permission("lambda:GetFunctionConfiguration", FUNCTION, (UP, VERIFY, INVOKE, DOWN, FROM_TAGS),
               "wait for Active or an update (wake an Inactive function); verify's checks"),
    Permission("lambda:CreateFunction", FUNCTION, (UP,), "the function"),
    Permission("lambda:TagResource", FUNCTION, (UP,), "the function is tagged in its CreateFunction call"),
    Permission("lambda:UpdateFunctionCode", FUNCTION, (UP,), "deploy changed code"),
    Permission("lambda:UpdateFunctionConfiguration", FUNCTION, (UP, DOWN, FROM_TAGS),
               "repair the configuration; take the function out of the VPC before deleting it"),
    Permission("lambda:InvokeFunction", FUNCTION, (INVOKE, CALL), "run the function"),
    Permission("logs:FilterLogEvents", LOG_GROUPS, (LOGS,), "your function's log lines"),
    Permission("lambda:DeleteFunction", FUNCTION, (DOWN, FROM_TAGS), "delete the function"),
    # --- the state in S3 (--state s3://BUCKET/PREFIX): only in the policy when the state is there ---
    Permission("s3:ListBucket", STATE_BUCKET, (WITH_S3_STATE,), "HeadBucket: the state bucket exists"),
    Permission("s3:GetBucketVersioning", STATE_BUCKET, (WITH_S3_STATE,), "the state bucket keeps versions"),
    # `s3gw state init s3://BUCKET/PREFIX` (state.s3.init_bucket) makes or finishes the state bucket:
    Permission("s3:CreateBucket", STATE_BUCKET, (STATE_INIT,), "create the state bucket"),
    Permission("s3:PutBucketPublicAccessBlock", STATE_BUCKET, (STATE_INIT,), "Block Public Access on it"),
    Permission("s3:PutBucketVersioning", STATE_BUCKET, (STATE_INIT,), "turn versioning on"),
    Permission("s3:PutEncryptionConfiguration", STATE_BUCKET, (STATE_INIT,), "default encryption (SSE-S3)"),
    Permission("s3:GetBucketPolicy", STATE_BUCKET, (STATE_INIT,), "keep the bucket policy's other statements"),
    Permission("s3:PutBucketPolicy", STATE_BUCKET, (STATE_INIT,), "its TLS-only statement"),
    Permission("s3:GetEncryptionConfiguration", STATE_BUCKET, (WITH_S3_STATE,), "the state bucket is encrypted"),
    Permission("s3:GetObject", STATE_OBJECTS, (WITH_S3_STATE,), "read the state and the lock"),
    Permission("s3:PutObject", STATE_OBJECTS, (WITH_S3_STATE,), "write the state, take the lock (conditional)"),
    Permission("s3:DeleteObject", STATE_OBJECTS, (WITH_S3_STATE,), "free the lock; remove the state after down"),
    # --- a VPC the user brought (--vpc-id): only in the policy when one is named ---
    Permission("ec2:ModifyVpcEndpoint", USERS_VPC, (WITH_VPC_ID,),
               "add/remove the route tables of the VPC you brought, on its adopted endpoint too (untagged)"),
    # --- verify --function NAME --bucket NAME (a setup s3gw did not make): only with `permissions --function` ---
    Permission("lambda:GetFunctionConfiguration", OTHER_FUNCTION, (WITH_FUNCTION,), "the function's VPC and role"),
    Permission("iam:ListAttachedRolePolicies", ANY_ROLE, (WITH_FUNCTION,), "read the function's role"),
    Permission("iam:ListRolePolicies", ANY_ROLE, (WITH_FUNCTION,), "read the function's role"),
    Permission("iam:GetRolePolicy", ANY_ROLE, (WITH_FUNCTION,), "read the function's role"),
    Permission("iam:GetPolicy", ANY_POLICY, (WITH_FUNCTION,), "read the role's managed policies"),
    Permission("iam:GetPolicyVersion", ANY_POLICY, (WITH_FUNCTION,), "read the role's managed policies"),
    Permission("lambda:GetFunctionConfiguration", ADOPTED_FUNCTIONS, (WITH_ADOPTED,), "its VpcConfig and role"),
    Permission("lambda:UpdateFunctionConfiguration", ADOPTED_FUNCTIONS, (WITH_ADOPTED,),
               "into the stack's subnets and group; back as it was"),
    Permission("lambda:InvokeFunction", ADOPTED_FUNCTIONS, (CALL,), "s3gw invoke on an adopted function"),
    Permission("iam:ListAttachedRolePolicies", ADOPTED_ROLES, (WITH_ADOPTED,), "record its role's policies"),
    Permission("iam:ListRolePolicies", ADOPTED_ROLES, (WITH_ADOPTED,), "record its role's policies"),
    Permission("iam:GetRolePolicy", ADOPTED_ROLES, (WITH_ADOPTED,), "check s3gw's bucket-access policy"),
    Permission("iam:PutRolePolicy", ADOPTED_ROLES, (WITH_ADOPTED,), "s3gw's bucket-access policy on its role"),
    Permission("iam:DeleteRolePolicy", ADOPTED_ROLES, (WITH_ADOPTED,), "take s3gw's policy off again (down)"),
    Permission("iam:AttachRolePolicy", ADOPTED_ATTACH, (WITH_ADOPTED,), "AWSLambdaVPCAccessExecutionRole only"),
    # --- the DynamoDB lane (--table NAME): only in the policy with a table ---
    Permission("dynamodb:CreateTable", DYNAMODB_TABLE, (WITH_TABLE,), "the table (not with --adopt)"),
    Permission("dynamodb:TagResource", DYNAMODB_TABLE, (WITH_TABLE,), "the table is tagged in its CreateTable call"),
    Permission("dynamodb:DescribeTable", DYNAMODB_TABLE, (WITH_TABLE, PLAN, STATUS, VERIFY, INVOKE),
               "does the table exist; its key, encryption, deletion protection"),
    Permission("dynamodb:ListTagsOfResource", DYNAMODB_TABLE, (WITH_TABLE, PLAN, STATUS), "is the table the stack's"),
    Permission("dynamodb:UpdateTable", DYNAMODB_TABLE, (WITH_TABLE,), "encryption on, deletion protection off"),
    Permission("dynamodb:GetResourcePolicy", DYNAMODB_TABLE, (WITH_TABLE, PLAN, STATUS, VERIFY),
               "check the seal; an adopted table's own statements"),
    Permission("dynamodb:PutResourcePolicy", DYNAMODB_TABLE, (WITH_TABLE,),
               "seal the table to the DynamoDB endpoint; put an adopted table's policy back"),
    Permission("dynamodb:DeleteResourcePolicy", DYNAMODB_TABLE, (WITH_TABLE,),
               "an adopted table that had no policy: take s3gw's off"),
    Permission("dynamodb:DeleteTable", DYNAMODB_TABLE, (WITH_TABLE,),
               "delete the stack's table (never an adopted one)"),
    Permission("dynamodb:GetItem", DYNAMODB_TABLE, (INVOKE,), "the outside GetItem that the seal must refuse"),
    Permission("dynamodb:ListTables", DYNAMODB_LIST, (INVOKE,), "another table of the region for the function to try"),
    Permission("iam:DetachRolePolicy", ADOPTED_ATTACH, (WITH_ADOPTED,), "only if s3gw attached it (down)"),
)

# sts:GetCallerIdentity (the account, for the bucket name and the state file) needs no permission
# (STS API reference, GetCallerIdentity: "No permissions are required to perform this operation").
NO_PERMISSION_NEEDED = ("sts:GetCallerIdentity",)

_SIDS = {
    ANY: "ReadEverywhere", EC2_REGION: "Ec2CreateInRegion", EC2_TAG_ON_CREATE: "Ec2TagOnCreate",
    EC2_STACK: "Ec2ChangeStackResources", BUCKET: "TheBucket", OBJECTS: "TheBucketObjects", ROLE: "TheRole",
    PASS_ROLE: "PassTheRoleToLambda", ATTACH_VPC_ACCESS: "AttachVpcAccessPolicyOnly",
    VPC_ACCESS_POLICY: "ReadVpcAccessPolicy", FUNCTION: "TheFunction", STATE_BUCKET: "TheStateBucket",
    STATE_OBJECTS: "TheStateObjects", USERS_VPC: "Ec2TheVpcYouBrought", OTHER_FUNCTION: "VerifyTheFunction",
    ANY_ROLE: "VerifyItsRole", ANY_POLICY: "VerifyItsManagedPolicies", LOG_GROUPS: "YourFunctionsLogs",
    ADOPTED_FUNCTIONS: "TheAdoptedFunctions", ADOPTED_ROLES: "TheAdoptedFunctionsRoles",
    ADOPTED_ATTACH: "AttachVpcAccessToAdoptedRoles", DYNAMODB_TABLE: "TheTable",
    DYNAMODB_LIST: "ListTheRegionsTables",
}


@dataclass(frozen=True)
class Target:
    """What the policy is narrowed to. "*" stands in for what is not known (the account, offline)."""

    partition: str
    region: str
    account: str
    stack: str
    bucket: str
    role_name: str
    function_name: str
    state_url: str | None = None  # s3://BUCKET/PREFIX when the state is kept in S3
    vpc_id: str | None = None  # --vpc-id: the user's VPC
    verify_function: str | None = None  # permissions --function: `verify --function NAME` on a setup of the user's
    app_function: str | None = None  # up --code: your function and its role, beside the probe's
    app_role: str | None = None
    adopted: tuple[str, ...] = ()  # up --function NAME --adopt
    table: str | None = None  # up --table NAME: the DynamoDB lane


def vpc_access_policy_arn(partition: str) -> str:
    return LAMBDA_VPC_POLICY_ARN.replace("arn:aws:", f"arn:{partition}:")


def _statement_for(scope: str, actions: list[str], t: Target) -> dict[str, Any]:
    p = t.partition
    role_arn: str | list[str] = f"arn:{p}:iam::{t.account}:role/{t.role_name}"
    function_arn: str | list[str] = f"arn:{p}:lambda:{t.region}:{t.account}:function:{t.function_name}"
    # Your function and its role, by the names the stack gives them (steps.app) even without --code: `down
    # --from-tags` looks for them by those names (inventory.stack_resources), since a lost state cannot say
    # whether the stack had one. Names of the stack's own, as its probe's are.
    app_role, app_function = t.app_role or f"{t.stack}-app-role", t.app_function or f"{t.stack}-app"
    role_arn = [str(role_arn), f"arn:{p}:iam::{t.account}:role/{app_role}"]
    function_arn = [str(function_arn), f"arn:{p}:lambda:{t.region}:{t.account}:function:{app_function}"]
    statement: dict[str, Any] = {"Sid": _SIDS[scope], "Effect": "Allow", "Action": sorted(actions)}
    resource: str | list[str]
    if scope == ANY:
        resource = "*"
    elif scope == EC2_REGION:
        resource = f"arn:{p}:ec2:{t.region}:*:*"  # the S3 prefix list is owned by account "aws"
    elif scope == EC2_TAG_ON_CREATE:
        resource = f"arn:{p}:ec2:{t.region}:{t.account}:*"
        statement["Condition"] = {"StringEquals": {"ec2:CreateAction": list(EC2_TAGGED_CREATES)}}
    elif scope == EC2_STACK:
        resource = f"arn:{p}:ec2:{t.region}:{t.account}:*"
        statement["Condition"] = {"StringEquals": {"aws:ResourceTag/s3gw:stack": t.stack}}
    elif scope == BUCKET:
        resource = f"arn:{p}:s3:::{t.bucket}"
    elif scope == OBJECTS:
        resource = f"arn:{p}:s3:::{t.bucket}/*"
    elif scope == ROLE:
        resource = role_arn
    elif scope == PASS_ROLE:
        resource = role_arn
        statement["Condition"] = {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}
    elif scope == ATTACH_VPC_ACCESS:
        resource = role_arn
        statement["Condition"] = {"ArnEquals": {"iam:PolicyARN": vpc_access_policy_arn(p)}}
    elif scope == VPC_ACCESS_POLICY:
        resource = vpc_access_policy_arn(p)
    elif scope == FUNCTION:
        resource = function_arn
    elif scope == LOG_GROUPS:
        resource = f"arn:{p}:logs:{t.region}:{t.account}:log-group:/aws/lambda/*"
    elif scope == ADOPTED_FUNCTIONS:
        resource = [f"arn:{p}:lambda:{t.region}:{t.account}:function:{name}" for name in t.adopted]
    elif scope in (ADOPTED_ROLES, ADOPTED_ATTACH):
        resource = f"arn:{p}:iam::{t.account}:role/*"
        if scope == ADOPTED_ATTACH:
            statement["Condition"] = {"ArnEquals": {"iam:PolicyARN": vpc_access_policy_arn(p)}}
    elif scope == DYNAMODB_LIST:
        resource = "*"
    elif scope == DYNAMODB_TABLE:
        resource = f"arn:{p}:dynamodb:{t.region}:{t.account}:table/{t.table}"
    elif scope == USERS_VPC:  # the region's route tables and endpoints of the account: the user's carry no tag
        resource = [f"arn:{p}:ec2:{t.region}:{t.account}:route-table/*",
                    f"arn:{p}:ec2:{t.region}:{t.account}:vpc-endpoint/*"]
    elif scope == OTHER_FUNCTION:
        resource = f"arn:{p}:lambda:{t.region}:{t.account}:function:{t.verify_function}"
    elif scope == ANY_ROLE:
        resource = f"arn:{p}:iam::{t.account}:role/*"
    elif scope == ANY_POLICY:  # AWS managed (account "aws") or the account's own
        resource = f"arn:{p}:iam::*:policy/*"
    elif scope in (STATE_BUCKET, STATE_OBJECTS):
        bucket, _, prefix = (t.state_url or "").removeprefix("s3://").partition("/")
        resource = f"arn:{p}:s3:::{bucket}" if scope == STATE_BUCKET else \
            f"arn:{p}:s3:::{bucket}/{prefix + '/' if prefix else ''}{t.stack}.*"
    else:
        raise ValueError(f"unknown scope {scope!r}")
    statement["Resource"] = resource
    return statement


def policy_document(target: Target, table: tuple[Permission, ...] = TABLE) -> dict[str, Any]:
    """The operator's policy: one statement per scope, in the table's order."""
    by_scope: dict[str, list[str]] = {}
    for row in table:
        if row.scope in (STATE_BUCKET, STATE_OBJECTS) and not target.state_url:
            continue
        if row.scope == USERS_VPC and not target.vpc_id:
            continue
        if row.scope in (OTHER_FUNCTION, ANY_ROLE, ANY_POLICY) and not target.verify_function:
            continue
        if row.scope in (ADOPTED_FUNCTIONS, ADOPTED_ROLES, ADOPTED_ATTACH) and not target.adopted:
            continue
        if row.scope in (DYNAMODB_TABLE, DYNAMODB_LIST) and not target.table:
            continue
        by_scope.setdefault(row.scope, []).append(row.action)
    return {"Version": "2012-10-17",
            "Statement": [_statement_for(scope, actions, target) for scope, actions in by_scope.items()]}


def without(action: str) -> tuple[Permission, ...]:
    """The table less one action (tests: what a missing permission looks like)."""
    rows = tuple(row for row in TABLE if row.action != action)
    if len(rows) == len(TABLE):
        raise KeyError(action)
    return rows


_SCOPE_TEXT = {
    ANY: "*", EC2_REGION: "the region's EC2 resources", EC2_TAG_ON_CREATE: "only within s3gw's own create calls",
    EC2_STACK: "EC2 resources tagged s3gw:stack=<stack>", BUCKET: "the bucket", OBJECTS: "the bucket's objects",
    ROLE: "the stack's role", PASS_ROLE: "the stack's role, passed to Lambda only",
    ATTACH_VPC_ACCESS: "the stack's role, AWSLambdaVPCAccessExecutionRole only",
    VPC_ACCESS_POLICY: "AWSLambdaVPCAccessExecutionRole", FUNCTION: "the stack's function",
    STATE_BUCKET: "the state bucket", STATE_OBJECTS: "PREFIX/<stack>.json and .lock",
    USERS_VPC: "the region's route tables and endpoints (--vpc-id only)",
    OTHER_FUNCTION: "the --function named (--function only)", ANY_ROLE: "the account's roles (--function only)",
    ANY_POLICY: "managed policies (--function only)", LOG_GROUPS: "the region's /aws/lambda/* log groups",
    ADOPTED_FUNCTIONS: "the functions adopted (--function NAME --adopt only)",
    ADOPTED_ROLES: "the account's roles (--function NAME --adopt only)",
    ADOPTED_ATTACH: "the account's roles, AWSLambdaVPCAccessExecutionRole only (--adopt of a function only)",
    DYNAMODB_TABLE: "the --table named (--table only)", DYNAMODB_LIST: "* (--table only)",
}


def rows() -> list[dict[str, str]]:
    """The table as plain rows (for `s3gw permissions` in text and for docs/permissions.md)."""
    return [{"action": r.action, "on": _SCOPE_TEXT[r.scope], "commands": ", ".join(r.commands), "why": r.why}
            for r in TABLE]


README_BEGIN = "<!-- permissions table: generated from s3gw/permissions.py; tests/test_permissions.py checks it -->"
README_END = "<!-- end of permissions table -->"


def readme_table() -> str:
    lines = ["| action | on | used by | why |", "|---|---|---|---|"]
    lines += [f"| `{r['action']}` | {r['on']} | {r['commands']} | {r['why']} |" for r in rows()]
    return "\n".join(lines)


# --- `s3gw audit`: read only (issue 24) --------------------------------------------------------------------------

# Each action `s3gw audit` calls, and why. Describe*, GetMetricData, ListAllMyBuckets and GetCallerIdentity support
# no resource-level permission (Service Authorization Reference); logs:FilterLogEvents and s3:GetBucketPolicy do,
# but the groups and buckets are whatever the account has, so "*" too. sts:AssumeRole only with --accounts.
AUDIT_ROWS: tuple[tuple[str, str], ...] = (
    ("ec2:DescribeRegions", "--regions all: the regions the account has enabled"),
    ("ec2:DescribeVpcs", "every VPC"),
    ("ec2:DescribeSubnets", "every subnet"),
    ("ec2:DescribeRouteTables", "each subnet's route table and routes (route priority)"),
    ("ec2:DescribeVpcEndpoints", "gateway endpoints and firewall (Gateway Load Balancer) endpoints"),
    ("ec2:DescribeNatGateways", "NAT gateways and their public addresses"),
    ("ec2:DescribeNetworkInterfaces", "the workloads in each subnet"),
    ("ec2:DescribeManagedPrefixLists", "the region's S3 and DynamoDB prefix lists"),
    ("ec2:GetManagedPrefixListEntries", "their ranges (in-region vs cross-region bytes)"),
    ("ec2:DescribeFlowLogs", "which VPCs log flows to CloudWatch Logs"),
    ("cloudwatch:GetMetricData", "AWS/NATGateway BytesOutToDestination + BytesInFromDestination"),
    ("logs:FilterLogEvents", "the flow-log records over --since"),
    ("s3:ListAllMyBuckets", "the buckets whose policies may name a NAT gateway's address"),
    ("s3:GetBucketPolicy", "aws:SourceIp conditions naming a NAT gateway's address"),
    ("sts:GetCallerIdentity", "the account audited"),
)


def audit_policy(role_arns: tuple[str, ...] = ()) -> dict[str, Any]:
    """The read-only policy `s3gw audit` needs; with `role_arns` (--accounts … --role-name …), AssumeRole on them."""
    statements: list[dict[str, Any]] = [{"Sid": "AuditReadOnly", "Effect": "Allow",
                                         "Action": sorted(action for action, _ in AUDIT_ROWS), "Resource": "*"}]
    if role_arns:
        statements.append({"Sid": "AuditAccounts", "Effect": "Allow", "Action": "sts:AssumeRole",
                           "Resource": sorted(role_arns)})
    return {"Version": "2012-10-17", "Statement": statements}
