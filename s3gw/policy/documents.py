"""The policy documents s3gw writes (the seal, the endpoint's, the role's), as pure functions; reading AWS's
policy text back (parse, statements, a canonical form to compare); and the seal merged into a policy s3gw did not write.

The IAM evaluator that `verify` and the sandbox judge these documents with is s3gw.policy.evaluator.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
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


# What AWS attaches to an endpoint created without a policy: "the default policy, which allows full access to the
# service" (PrivateLink guide, "Control access to VPC endpoints using endpoint policies", Default endpoint policy).
# An endpoint-only stack (`up --endpoint-only`) keeps it: the VPC's other workloads keep reaching every bucket.
DEFAULT_ENDPOINT_POLICY: PolicyDoc = {
    "Version": "2008-10-17",
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}],
}


def account_endpoint_policy(account: str, service: str = "s3") -> PolicyDoc:
    """`--endpoint-policy scoped`: the service's actions on the account's own resources only (aws:ResourceAccount,
    IAM User Guide, global condition keys). It also shuts out AWS-owned buckets some workloads read (package
    repositories, ECR's layers): asked for, never the default."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "OnlyTheAccountsOwnResources", "Effect": "Allow", "Principal": "*",
                       "Action": f"{service}:*", "Resource": "*",
                       "Condition": {"StringEquals": {"aws:ResourceAccount": account}}}],
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


# --- DynamoDB: the table's seal (a resource-based policy), its endpoint's policy, the role's item actions ---------
# DynamoDB Developer Guide, "Using resource-based policies for DynamoDB" (access-control-resource-based.html): a
# table's policy covers the table and its indexes; "DynamoDB resource-based policy considerations"
# (rbac-considerations.html): "The maximum size supported for a resource-based policy document is 20 KB. DynamoDB
# counts whitespaces when calculating the size", and a policy update blocks the next one on that resource for 15 s;
# "Resource-based policy examples" (rbac-examples.html): a statement takes effect only where its Resource ARN matches
# the resource the policy is attached to (so the table's ARN and its indexes' ARN, not a wildcard of another table).
# aws:SourceVpce, aws:PrincipalArn and aws:PrincipalAccount are global condition keys (IAM User Guide, "AWS global
# condition context keys"), evaluated for DynamoDB requests; aws:SourceVpce is present only through a VPC endpoint.
TABLE_POLICY_SIZE_LIMIT = 20 * 1024
# The function's item actions (the role's inline statement, the endpoint policy, what verify expects to work).
TABLE_ITEM_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                      "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:Scan"]
# What the seal leaves open from outside the endpoint: what s3gw needs to manage the table (up/status/verify/down),
# none of which reads or writes an item. The policy actions above all, so that the seal can always be repaired.
TABLE_MANAGEMENT_ACTIONS = [
    "dynamodb:GetResourcePolicy", "dynamodb:PutResourcePolicy", "dynamodb:DeleteResourcePolicy",
    "dynamodb:DescribeTable", "dynamodb:DeleteTable", "dynamodb:UpdateTable",
    "dynamodb:ListTagsOfResource", "dynamodb:TagResource", "dynamodb:UntagResource",
    "dynamodb:DescribeContinuousBackups", "dynamodb:DescribeTimeToLive",
]
# Each class of data call, with the actions DynamoDB authorises it as (Service Authorization Reference, "Actions,
# resources, and condition keys for Amazon DynamoDB"): a class is sealed when all are denied outside the endpoint.
TABLE_DATA_ACTIONS: dict[str, list[str]] = {
    "read": ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan",
             "dynamodb:ConditionCheckItem"],
    "write": ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"],
    "PartiQL": ["dynamodb:PartiQLSelect", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate",
                "dynamodb:PartiQLDelete"],
    "export": ["dynamodb:ExportTableToPointInTime"],
}
TABLE_SEAL_SID = "DenyItemsUnlessThroughEndpoint"
TABLE_INLINE_SID = "UseTheTableItems"


def table_arns(table_arn: str) -> tuple[str, str]:
    """The table's ARN and its indexes' (a table's policy and an endpoint's scope cover both)."""
    return table_arn, f"{table_arn}/index/*"


def table_policy(table_arn: str, endpoint_id: str, allow_principals: Sequence[str] = ()) -> PolicyDoc:
    """The table's seal: deny every call but table management unless it comes through the DynamoDB endpoint (or
    from an allowed principal), as the bucket's seal does (bucket_policy)."""
    condition: dict[str, Any] = {"StringNotEquals": {"aws:SourceVpce": endpoint_id}}
    if allow_principals:
        condition["ArnNotLike"] = {"aws:PrincipalArn": sorted(allow_principals)}
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": TABLE_SEAL_SID,
            "Effect": "Deny",
            "Principal": "*",
            "NotAction": list(TABLE_MANAGEMENT_ACTIONS),
            "Resource": list(table_arns(table_arn)),
            "Condition": condition,
        }],
    }


def table_endpoint_policy(table_arn: str, account: str) -> PolicyDoc:
    """The DynamoDB gateway endpoint lets through the function's item actions on the stack's table and its indexes,
    by the stack's account only (aws:PrincipalAccount, aws:ResourceAccount: see endpoint_policy)."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "OnlyTheStackTableFromTheStackAccount",
            "Effect": "Allow",
            "Principal": "*",
            "Action": list(TABLE_ITEM_ACTIONS),
            "Resource": list(table_arns(table_arn)),
            "Condition": {"StringEquals": {"aws:PrincipalAccount": account, "aws:ResourceAccount": account}},
        }],
    }


def role_table_statement(table_arn: str) -> dict[str, Any]:
    """The function's item actions on the table and its indexes (added to the role's inline policy)."""
    return {"Sid": TABLE_INLINE_SID, "Effect": "Allow", "Action": list(TABLE_ITEM_ACTIONS),
            "Resource": list(table_arns(table_arn))}
