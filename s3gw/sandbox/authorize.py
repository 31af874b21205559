"""IAM enforcement for IAM users' calls: which actions a request needs, and the caller's policies' verdict.

moto can enforce IAM itself (INITIAL_NO_AUTH_ACTION_COUNT), but in a trial it refused every Lambda call with
SignatureDoesNotMatch, and it matches EC2 calls against Resource "*" only, ignoring tag conditions. So the
sandbox checks the action itself, when `Behaviours.enforce_iam` is on and the caller's access key belongs to
an IAM user: the operation → IAM action(s), resource ARN(s) and condition keys come from AWS's Service
Authorization Reference (EC2, S3, IAM, Lambda: "Actions, resources, and condition keys"), and the verdict
from s3gw.policy.evaluator over the user's identity policies. The refusal carries the message AWS sends
("User: … is not authorized to perform: <action> on resource: <arn> because no identity-based policy allows
the <action> action": IAM User Guide, "Troubleshoot access denied error messages").
Calls of the account's own keys (the "root" test keys) and of function invocations are not checked here.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.etree import ElementTree

from s3gw.botocore_data import partition_of
from s3gw.policy.evaluator import Request, decide

from . import moto_glue as glue
from . import s3_access

Answer = tuple[int, list[tuple[str, str]], bytes]


@dataclass(frozen=True)
class Need:
    action: str
    resource: str
    context: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Where:
    account: str
    region: str
    partition: str


def where(account: str, region: str) -> Where:
    return Where(account, region, partition_of(region))


def first_denied(user_arn: str, policies: list[dict[str, Any]], needs: list[Need], account: str) -> Need | None:
    for need in needs:
        request = Request(need.action, need.resource, user_arn, account, need.context)
        if decide(request, identity_policies=policies).effect != "Allow":
            return need
    return None


def allowed(user_arn: str, policies: list[dict[str, Any]], need: Need, account: str) -> bool:
    return first_denied(user_arn, policies, [need], account) is None


def denial_message(user_arn: str, need: Need) -> str:
    return (f"User: {user_arn} is not authorized to perform: {need.action} on resource: {need.resource} "
            f"because no identity-based policy allows the {need.action} action")


# --- EC2 (query protocol) -------------------------------------------------------------------------

# Request parameters that name an existing resource, by resource type (lists arrive as Name.N).
# Every resource an action authorises is judged (Service Authorization Reference, EC2: e.g. ModifyVpcEndpoint's
# vpc-endpoint*, route-table, security-group, subnet; CreateVpcEndpoint's vpc*, vpc-endpoint*, route-table,
# security-group, subnet, as the PrivateLink guide's CreateVpcEndpoint example grants them; AssociateRouteTable's
# route-table* and subnet; CreateRoute's route-table* and the gateway it names).
_EC2_ID_PARAMS = {
    "VpcId": "vpc", "SubnetId": "subnet", "RouteTableId": "route-table", "GroupId": "security-group",
    "SecurityGroupId": "security-group", "VpcEndpointId": "vpc-endpoint", "NetworkInterfaceId": "network-interface",
    "AddRouteTableId": "route-table", "RemoveRouteTableId": "route-table", "AddSubnetId": "subnet",
    "RemoveSubnetId": "subnet", "AddSecurityGroupId": "security-group", "RemoveSecurityGroupId": "security-group",
    "GatewayId": "internet-gateway", "NatGatewayId": "natgateway",
}
_EC2_CREATES = {"CreateVpc": "vpc", "CreateSubnet": "subnet", "CreateRouteTable": "route-table",
                "CreateSecurityGroup": "security-group", "CreateVpcEndpoint": "vpc-endpoint"}


def ec2_needs(params: dict[str, str], at: Where) -> list[Need]:
    action = params.get("Action", "")
    if action.startswith(("Describe", "Get")):  # no resource-level permissions: Resource "*"
        return [Need(f"ec2:{action}", "*")]
    arn = f"arn:{at.partition}:ec2:{at.region}:{at.account}"
    needs: list[Need] = []
    created = _EC2_CREATES.get(action)
    if created:
        request_tags = _ec2_request_tags(params)
        needs.append(Need(f"ec2:{action}", f"{arn}:{created}/*", request_tags))
        if any(k.startswith("TagSpecification.") for k in params):  # tag on create needs ec2:CreateTags too
            needs.append(Need("ec2:CreateTags", f"{arn}:{created}/*", {**request_tags, "ec2:CreateAction": action}))
    named = [(_EC2_ID_PARAMS.get(re.sub(r"\.\d+$", "", name)), value) for name, value in params.items()]
    if params.get("AssociationId") and action in ("DisassociateRouteTable", "ReplaceRouteTableAssociation"):
        # Named by the association only: AWS authorises the table it belongs to and the subnet (or gateway) on it.
        found = glue.route_table_association(at.account, at.region, params["AssociationId"])
        if found:
            named += [("route-table", found[0]), ("subnet" if found[1].startswith("subnet-") else None, found[1])]
    for kind, value in named:
        if kind and value:
            if kind == "internet-gateway" and value.startswith("vpce-"):
                kind = "vpc-endpoint"
            needs.append(Need(f"ec2:{action}", f"{arn}:{kind}/{value}", _ec2_context(at, value)))
    return needs or [Need(f"ec2:{action}", f"{arn}:*")]


def _ec2_context(at: Where, resource_id: str) -> dict[str, str]:
    """The resource's tags (aws:ResourceTag, ec2:ResourceTag) and its VPC (ec2:Vpc), as EC2 gives them."""
    tags = glue.ec2_tags(at.account, at.region, resource_id)
    context = {f"aws:ResourceTag/{k}": v for k, v in tags.items()}
    context.update({f"ec2:ResourceTag/{k}": v for k, v in tags.items()})
    vpc = glue.ec2_vpc_of(at.account, at.region, resource_id)
    if vpc:
        context["ec2:Vpc"] = f"arn:{at.partition}:ec2:{at.region}:{at.account}:vpc/{vpc}"
    return context


def _ec2_request_tags(params: dict[str, str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for name, key in params.items():
        match = re.fullmatch(r"TagSpecification\.(\d+)\.Tag\.(\d+)\.Key", name)
        if match:
            tags[f"aws:RequestTag/{key}"] = params.get(f"TagSpecification.{match[1]}.Tag.{match[2]}.Value", "")
    return tags


# --- IAM and STS (query protocol) -----------------------------------------------------------------


def iam_needs(params: dict[str, str], at: Where) -> list[Need]:
    action = params.get("Action", "")
    if params.get("RoleName"):
        resource = f"arn:{at.partition}:iam::{at.account}:role/{params['RoleName']}"
    elif params.get("PolicyArn"):
        resource = params["PolicyArn"]
    elif params.get("UserName"):
        resource = f"arn:{at.partition}:iam::{at.account}:user/{params['UserName']}"
    else:
        resource = "*"
    context = {"iam:PolicyARN": params["PolicyArn"]} if params.get("PolicyArn") and params.get("RoleName") else {}
    needs = [Need(f"iam:{action}", resource, context)]
    if action == "CreateRole" and any(re.fullmatch(r"Tags\.member\.\d+\.Key", name) for name in params):
        # Tags in CreateRole need iam:TagRole too (IAM User Guide, "Tags for AWS Identity and Access Management
        # resources" → "Permissions required to tag IAM entities": CreateRole with tags, and iam:TagRole).
        needs.append(Need("iam:TagRole", resource))
    return needs


def sts_needs(params: dict[str, str], at: Where) -> list[Need]:
    action = params.get("Action", "")
    if action == "GetCallerIdentity":  # STS API reference: "No permissions are required to perform this operation"
        return []
    return [Need(f"sts:{action}", "*")]


# --- Lambda (REST-JSON) ---------------------------------------------------------------------------

_LAMBDA_FUNCTIONS = re.compile(r"^/[^/]+/functions/?$")
_LAMBDA_FUNCTION = re.compile(r"^/[^/]+/functions/(?P<name>[^/]+)(?P<rest>/[a-z-]+)?/?$")
_LAMBDA_TAGS = re.compile(r"^/[^/]+/tags/(?P<arn>.+)$")
# (method, path after the function name) → IAM action (Lambda API reference; Invoke needs InvokeFunction).
_LAMBDA_ACTIONS = {
    ("GET", ""): "GetFunction", ("GET", "/configuration"): "GetFunctionConfiguration",
    ("PUT", "/configuration"): "UpdateFunctionConfiguration", ("PUT", "/code"): "UpdateFunctionCode",
    ("DELETE", ""): "DeleteFunction", ("POST", "/invocations"): "InvokeFunction",
}


def function_arn(name: str, at: Where) -> str:
    if name.startswith("arn:"):
        return name.split(":qualifier")[0]
    return f"arn:{at.partition}:lambda:{at.region}:{at.account}:function:{name}"


def lambda_needs(method: str, path: str, body: dict[str, Any], at: Where) -> list[Need]:
    pass_role = [Need("iam:PassRole", str(body["Role"]), {"iam:PassedToService": "lambda.amazonaws.com"})] \
        if body.get("Role") else []
    # A function with VpcConfig: Lambda reads the subnets, groups and VPC with the caller's rights (Lambda Developer
    # Guide, "Giving Lambda functions access to resources in an Amazon VPC", IAM permissions for users:
    # ec2:DescribeSecurityGroups, ec2:DescribeSubnets, ec2:DescribeVpcs).
    vpc_reads = [Need(f"ec2:{read}", "*") for read in ("DescribeSecurityGroups", "DescribeSubnets", "DescribeVpcs")] \
        if (body.get("VpcConfig") or {}).get("SubnetIds") else []
    if _LAMBDA_FUNCTIONS.match(path) and method == "POST":
        resource = function_arn(str(body.get("FunctionName", "")), at)
        tags = [Need("lambda:TagResource", resource)] if body.get("Tags") else []
        return [Need("lambda:CreateFunction", resource), *pass_role, *tags, *vpc_reads]
    match = _LAMBDA_FUNCTION.match(path)
    if match:
        resource = function_arn(unquote(match["name"]), at)
        action = _LAMBDA_ACTIONS.get((method, match["rest"] or ""), f"Unknown:{method}{match['rest'] or ''}")
        extra = [*pass_role, *vpc_reads] if action == "UpdateFunctionConfiguration" else []
        return [Need(f"lambda:{action}", resource), *extra]
    match = _LAMBDA_TAGS.match(path)
    if match:
        action = {"GET": "ListTags", "POST": "TagResource", "DELETE": "UntagResource"}.get(method, "Unknown")
        return [Need(f"lambda:{action}", unquote(match["arn"]))]
    return [Need(f"lambda:Unknown:{method}{path}", "*")]


# --- S3 (REST-XML) --------------------------------------------------------------------------------


def s3_needs(method: str, path: str, host: str, query: dict[str, str], body: bytes, at: Where,
             headers: dict[str, str] | None = None) -> list[Need]:
    bucket, key = s3_access.bucket_and_key(path, host)
    arn = f"arn:{at.partition}:s3:::"
    if not bucket:
        return [Need("s3:ListAllMyBuckets", "*")]
    if method == "PUT" and key is None and not query:  # CreateBucket; with Tags it needs s3:TagResource too
        needs = [Need("s3:CreateBucket", f"{arn}{bucket}")]
        if b"<Tags>" in body or b"<Tags " in body:
            needs.append(Need("s3:TagResource", f"{arn}{bucket}"))
        return needs
    call = s3_access.classify(method, path, host, query, headers=headers)
    if call is None or not call.action:  # not mapped: app.s3 refuses it whoever calls (fails closed)
        return []
    if call.key == "*":  # DeleteObjects: each key on its own; a version needs DeleteObjectVersion
        return [Need("s3:DeleteObjectVersion" if version else "s3:DeleteObject", f"{arn}{bucket}/{k}")
                for k, version in _delete_objects_keys(body)]
    needs = [Need(call.action, f"{arn}{bucket}" + ("" if call.key is None else f"/{call.key}"))]
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    source = s3_access.copy_source(lowered.get("x-amz-copy-source", "") if method == "PUT" else "", at.partition)
    if source is not None:  # CopyObject / UploadPartCopy read their source (S3 API reference, CopyObject: Permissions)
        needs.append(Need(source.action, source.resource))
    if call.action == "s3:PutObject" and lowered.get("x-amz-tagging"):
        needs.append(Need("s3:PutObjectTagging", needs[0].resource))  # PutObject with tags (its Permissions)
    return needs


def _delete_objects_keys(body: bytes) -> list[tuple[str, bool]]:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return []
    found = []
    for element in root.iter():
        if element.tag.rpartition("}")[2] != "Object":
            continue
        parts = {child.tag.rpartition("}")[2]: child.text or "" for child in element}
        found.append((parts.get("Key", ""), bool(parts.get("VersionId"))))
    return found


# --- refusals in each protocol's shape --------------------------------------------------------------


def refusal(service: str, message: str, head: bool = False) -> Answer:
    request_id = str(uuid.uuid4())
    if service == "awslambda":
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", "AccessDeniedException"),
                   ("x-amzn-RequestId", request_id)]
        return 403, headers, json.dumps({"Type": "User", "Message": message}).encode()
    if service == "s3":
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                f"<Message>{_xml(message)}</Message><RequestId>{request_id}</RequestId></Error>").encode()
        return 403, [("Content-Type", "application/xml")], b"" if head else body
    if service == "ec2":
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>UnauthorizedOperation'
                f"</Code><Message>You are not authorized to perform this operation. {_xml(message)}</Message>"
                f"</Error></Errors><RequestID>{request_id}</RequestID></Response>").encode()
        return 403, [("Content-Type", "text/xml;charset=UTF-8")], body
    body = ("<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
            f"<Message>{_xml(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>").encode()
    return 403, [("Content-Type", "text/xml")], body


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def form(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode(errors="replace"), keep_blank_values=True).items()}
