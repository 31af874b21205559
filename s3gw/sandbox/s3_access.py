"""Which IAM action an S3 request needs, on which resource: what the bucket policy is asked about.

The request is matched to an operation of botocore's S3 model (the installed one: HTTP method, the
requestUri's path and subresource, its required query parameters and headers), and the operation to its IAM
action by the Service Authorization Reference's S3 table ("Actions, resources, and condition keys for Amazon
S3", docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html, whose "API operations"
table maps each operation to the actions it authorises) and each operation's "Permissions" paragraph in the
S3 API reference. A request that matches no operation, matches two that need different actions, or is an
operation the table below does not map, is refused: the sandbox fails closed, naming what it could not map.

Both addressing styles (S3 User Guide, "Virtual hosting of general purpose buckets": path style
http://host/bucket/key, virtual-hosted style http://bucket.host/key) are read as moto reads them
(moto_glue.s3_bucket_from_host), so the bucket judged is always the bucket moto acts on.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, unquote
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from . import moto_glue as glue


@dataclass(frozen=True)
class S3Call:
    action: str  # "" when the sandbox cannot map the request to an action: it is refused (fail closed)
    bucket: str
    key: str | None = None  # None: the bucket itself; "*" for a batch on every key
    partition: str = "aws"  # aws-cn, aws-us-gov: S3 ARNs name the partition of the region called
    operation: str = ""  # botocore's name for it, or what could not be mapped

    @property
    def resource(self) -> str:
        bucket_arn = f"arn:{self.partition}:s3:::{self.bucket}"
        return bucket_arn if self.key is None else f"{bucket_arn}/{self.key}"


# Operation → the IAM action it needs (Service Authorization Reference, S3's "API operations" table, and the
# S3 API reference's "Permissions" of each operation). Where the names differ it is said: the configuration
# deletes need the Put action, Head* the Get/List action, multipart steps s3:PutObject.
OPERATION_ACTIONS: dict[str, str] = {
    # objects
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "CompleteMultipartUpload": "s3:PutObject", "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject", "UploadPartCopy": "s3:PutObject",  # and s3:GetObject on the source
    "CopyObject": "s3:PutObject",  # and s3:GetObject(Version) on the source (copy_source)
    "PutObject": "s3:PutObject",
    "DeleteObject": "s3:DeleteObject", "DeleteObjects": "s3:DeleteObject",  # each key (authorize.py)
    "GetObject": "s3:GetObject", "HeadObject": "s3:GetObject", "SelectObjectContent": "s3:GetObject",
    "GetObjectAcl": "s3:GetObjectAcl", "PutObjectAcl": "s3:PutObjectAcl",
    "GetObjectAttributes": "s3:GetObjectAttributes",
    "GetObjectTagging": "s3:GetObjectTagging", "PutObjectTagging": "s3:PutObjectTagging",
    "DeleteObjectTagging": "s3:DeleteObjectTagging",
    "GetObjectLegalHold": "s3:GetObjectLegalHold", "PutObjectLegalHold": "s3:PutObjectLegalHold",
    "GetObjectRetention": "s3:GetObjectRetention", "PutObjectRetention": "s3:PutObjectRetention",
    "GetObjectTorrent": "s3:GetObjectTorrent",
    "RestoreObject": "s3:RestoreObject",
    "ListParts": "s3:ListMultipartUploadParts",
    # These four name their action in botocore's model (the operation's documentation: "You must have the
    # s3:… permission").
    "UpdateObjectEncryption": "s3:UpdateObjectEncryption",
    "GetObjectAnnotation": "s3:GetObjectAnnotation", "PutObjectAnnotation": "s3:PutObjectAnnotation",
    "DeleteObjectAnnotation": "s3:DeleteObjectAnnotation", "ListObjectAnnotations": "s3:ListObjectAnnotations",
    # the bucket: listing
    "ListObjects": "s3:ListBucket", "ListObjectsV2": "s3:ListBucket", "HeadBucket": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions", "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    # the bucket itself
    "CreateBucket": "s3:CreateBucket", "DeleteBucket": "s3:DeleteBucket",
    "GetBucketLocation": "s3:GetBucketLocation",
    "GetBucketPolicy": "s3:GetBucketPolicy", "PutBucketPolicy": "s3:PutBucketPolicy",
    "DeleteBucketPolicy": "s3:DeleteBucketPolicy", "GetBucketPolicyStatus": "s3:GetBucketPolicyStatus",
    "GetBucketAcl": "s3:GetBucketAcl", "PutBucketAcl": "s3:PutBucketAcl",
    "GetBucketTagging": "s3:GetBucketTagging", "PutBucketTagging": "s3:PutBucketTagging",
    "DeleteBucketTagging": "s3:PutBucketTagging",
    "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock", "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration", "PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "DeleteBucketEncryption": "s3:PutEncryptionConfiguration",
    "GetBucketVersioning": "s3:GetBucketVersioning", "PutBucketVersioning": "s3:PutBucketVersioning",
    "GetBucketLifecycle": "s3:GetLifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "PutBucketLifecycle": "s3:PutLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "DeleteBucketLifecycle": "s3:PutLifecycleConfiguration",
    "GetBucketCors": "s3:GetBucketCORS", "PutBucketCors": "s3:PutBucketCORS", "DeleteBucketCors": "s3:PutBucketCORS",
    "GetBucketWebsite": "s3:GetBucketWebsite", "PutBucketWebsite": "s3:PutBucketWebsite",
    "DeleteBucketWebsite": "s3:DeleteBucketWebsite",
    "GetBucketLogging": "s3:GetBucketLogging", "PutBucketLogging": "s3:PutBucketLogging",
    "GetBucketNotification": "s3:GetBucketNotification",
    "GetBucketNotificationConfiguration": "s3:GetBucketNotification",
    "PutBucketNotification": "s3:PutBucketNotification",
    "PutBucketNotificationConfiguration": "s3:PutBucketNotification",
    "GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
    "PutObjectLockConfiguration": "s3:PutBucketObjectLockConfiguration",
    "GetBucketOwnershipControls": "s3:GetBucketOwnershipControls",
    "PutBucketOwnershipControls": "s3:PutBucketOwnershipControls",
    "DeleteBucketOwnershipControls": "s3:PutBucketOwnershipControls",
    "GetBucketAccelerateConfiguration": "s3:GetAccelerateConfiguration",
    "PutBucketAccelerateConfiguration": "s3:PutAccelerateConfiguration",
    "GetBucketRequestPayment": "s3:GetBucketRequestPayment", "PutBucketRequestPayment": "s3:PutBucketRequestPayment",
    "GetBucketReplication": "s3:GetReplicationConfiguration", "PutBucketReplication": "s3:PutReplicationConfiguration",
    "DeleteBucketReplication": "s3:PutReplicationConfiguration",
    # the bucket's reports: Get/List need the Get action, Put/Delete the Put action (issue 20 item 14: an
    # inventory lists every key into another bucket, so these are data paths the seal must close)
    "GetBucketInventoryConfiguration": "s3:GetInventoryConfiguration",
    "ListBucketInventoryConfigurations": "s3:GetInventoryConfiguration",
    "PutBucketInventoryConfiguration": "s3:PutInventoryConfiguration",
    "DeleteBucketInventoryConfiguration": "s3:PutInventoryConfiguration",
    "GetBucketMetricsConfiguration": "s3:GetMetricsConfiguration",
    "ListBucketMetricsConfigurations": "s3:GetMetricsConfiguration",
    "PutBucketMetricsConfiguration": "s3:PutMetricsConfiguration",
    "DeleteBucketMetricsConfiguration": "s3:PutMetricsConfiguration",
    "GetBucketAnalyticsConfiguration": "s3:GetAnalyticsConfiguration",
    "ListBucketAnalyticsConfigurations": "s3:GetAnalyticsConfiguration",
    "PutBucketAnalyticsConfiguration": "s3:PutAnalyticsConfiguration",
    "DeleteBucketAnalyticsConfiguration": "s3:PutAnalyticsConfiguration",
    "GetBucketIntelligentTieringConfiguration": "s3:GetIntelligentTieringConfiguration",
    "ListBucketIntelligentTieringConfigurations": "s3:GetIntelligentTieringConfiguration",
    "PutBucketIntelligentTieringConfiguration": "s3:PutIntelligentTieringConfiguration",
    "DeleteBucketIntelligentTieringConfiguration": "s3:PutIntelligentTieringConfiguration",
    # S3 Metadata: the action each names in botocore's model (its documentation)
    "CreateBucketMetadataConfiguration": "s3:CreateBucketMetadataTableConfiguration",
    "CreateBucketMetadataTableConfiguration": "s3:CreateBucketMetadataTableConfiguration",
    "GetBucketMetadataConfiguration": "s3:GetBucketMetadataTableConfiguration",
    "GetBucketMetadataTableConfiguration": "s3:GetBucketMetadataTableConfiguration",
    "DeleteBucketMetadataConfiguration": "s3:DeleteBucketMetadataTableConfiguration",
    "DeleteBucketMetadataTableConfiguration": "s3:DeleteBucketMetadataTableConfiguration",
    "UpdateBucketMetadataAnnotationTableConfiguration": "s3:UpdateBucketMetadataAnnotationTableConfiguration",
    "UpdateBucketMetadataInventoryTableConfiguration": "s3:UpdateBucketMetadataInventoryTableConfiguration",
    "UpdateBucketMetadataJournalTableConfiguration": "s3:UpdateBucketMetadataJournalTableConfiguration",
    "PutBucketAbac": "s3:PutBucketABAC",  # the S3 API reference, PutBucketAbac: "You must have s3:PutBucketABAC"
    # Not in the model: the browser-form upload (S3 API reference, "POST Object": needs s3:PutObject).
    "PostObject": "s3:PutObject",
}
# Operations on no bucket: ListBuckets (s3:ListAllMyBuckets, Resource "*"), ListDirectoryBuckets (S3 Express),
# WriteGetObjectResponse (S3 Object Lambda). Left out of OPERATION_ACTIONS on purpose, and so refused when a
# request names a bucket: CreateSession and RenameObject (directory buckets only: s3express:CreateSession, which
# the sandbox does not model) and GetBucketAbac (no action named in the model or the API reference read).
NO_BUCKET = ("ListBuckets", "ListDirectoryBuckets", "WriteGetObjectResponse")
# With ?versionId the call acts on one version and needs the *Version action (the same reference).
_VERSIONED = {
    "s3:GetObject": "s3:GetObjectVersion", "s3:GetObjectAcl": "s3:GetObjectVersionAcl",
    "s3:GetObjectTagging": "s3:GetObjectVersionTagging", "s3:PutObjectAcl": "s3:PutObjectVersionAcl",
    "s3:PutObjectTagging": "s3:PutObjectVersionTagging", "s3:DeleteObject": "s3:DeleteObjectVersion",
    "s3:DeleteObjectTagging": "s3:DeleteObjectVersionTagging",
    "s3:GetObjectAttributes": "s3:GetObjectVersionAttributes",
    "s3:GetObjectTorrent": "s3:GetObjectVersionTorrent",
}
# Signing and addressing parameters any operation may carry (SigV4 query authentication; "x-id" names the
# operation in newer SDKs' requestUri).
_ANY_OPERATION = {"x-id"}


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    on_key: bool  # the requestUri names {Key+}
    literal: dict[str, str]  # the requestUri's own query: {"inventory": ""}, {"list-type": "2"}
    required_query: frozenset[str]
    required_headers: frozenset[str]
    query_members: frozenset[str]  # every query parameter the operation takes


@lru_cache(maxsize=1)
def operations() -> tuple[Operation, ...]:
    """Every operation of the installed botocore S3 model that names a bucket.

    Read by a loader of its own: botocore edits the shared model in place when a client first calls an operation
    (handlers.remove_bucket_from_url_paths_from_model strips "/{Bucket}" from its requestUri)."""
    import os

    from botocore.loaders import create_loader
    from botocore.model import ServiceModel

    model = ServiceModel(create_loader(os.environ.get("AWS_DATA_PATH")).load_service_model("s3", "service-2"), "s3")
    found = []
    for name in model.operation_names:
        op = model.operation_model(name)
        path, _, query = op.http["requestUri"].partition("?")
        if "{Bucket}" not in path:
            continue
        literal = {k: v for k, v in parse_qsl(query, keep_blank_values=True) if k not in _ANY_OPERATION}
        found.append(Operation(name, op.http["method"], "{Key+}" in path, literal, _located(op, "querystring", True),
                               _located(op, "header", True), _located(op, "querystring", False)))
    return tuple(found)


def _located(op: Any, where: str, only_required: bool) -> frozenset[str]:
    """The wire names of the operation's members sent in the query string or as headers (headers lower-case)."""
    shape = op.input_shape
    if shape is None:
        return frozenset()
    names = set()
    for member, member_shape in shape.members.items():
        wanted = member in shape.required_members or not only_required
        if wanted and member_shape.serialization.get("location") == where:
            name = str(member_shape.serialization.get("name", member))
            names.add(name.lower() if where == "header" else name)
    return frozenset(names)


@lru_cache(maxsize=1)
def _subresources() -> frozenset[str]:
    return frozenset(k for op in operations() for k in op.literal)


def operation_of(method: str, on_key: bool, query: Mapping[str, str], headers: Mapping[str, str]) -> str:
    """The model's operation for a request on a bucket; "" when none or two that need different actions match.

    The most specific match wins (most subresource keys, then most required parameters): PutBucketInventory-
    Configuration (?inventory&id) over ListObjects, UploadPartCopy (uploadId, partNumber, x-amz-copy-source) over
    UploadPart over PutObject. A subresource key the operation does not take (?inventory on a GET object) makes
    the request one the sandbox cannot place: "".
    """
    if method == "POST" and not on_key and not query:
        return "PostObject"
    candidates = [
        op for op in operations()
        if op.method == method and op.on_key == on_key
        and all(k in query and (not v or query[k] == v) for k, v in op.literal.items())
        and op.required_query <= query.keys() and op.required_headers <= headers.keys()
    ]
    if not candidates:
        return ""

    def rank(op: Operation) -> tuple[int, int]:
        return len(op.literal), len(op.required_query) + len(op.required_headers)

    best = max(rank(op) for op in candidates)
    chosen = [op for op in candidates if rank(op) == best]
    if len({OPERATION_ACTIONS.get(op.name, op.name) for op in chosen}) > 1:
        return ""  # two operations that need different actions: no way to tell which S3 would run
    op = chosen[0]
    if any(key in _subresources() and key not in op.literal and key not in op.query_members for key in query):
        return ""
    return op.name


def bucket_and_key(path: str, host: str) -> tuple[str, str | None]:
    """("", None) for the service itself (ListBuckets): the bucket from the Host when moto reads it from there."""
    bucket = glue.s3_bucket_from_host(host)
    if bucket is not None:
        key = unquote(path.lstrip("/"))
        return bucket, key or None
    bucket, _, key = path.lstrip("/").partition("/")
    return unquote(bucket), unquote(key) or None


def classify(method: str, path: str, host: str, query: Mapping[str, str], partition: str = "aws",
             headers: Mapping[str, str] | None = None) -> S3Call | None:
    """The action a request needs; None when no bucket is involved (ListBuckets) or it creates one.

    An S3Call with no action is a request the sandbox cannot map: the caller must refuse it."""
    bucket, key = bucket_and_key(path, host)
    if not bucket:
        return None
    if glue.s3_access_point_host(host):  # S3 then judges the access point's policy too: not modelled
        return S3Call("", bucket, key, partition, "a request through an access point")
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    operation = operation_of(method.upper(), key is not None, query, headers)
    if operation == "CreateBucket":
        return None  # no policy exists yet on a bucket being created
    action = OPERATION_ACTIONS.get(operation, "")
    if not action:
        described = operation or f"{method.upper()} {'object' if key else 'bucket'} ?{'&'.join(sorted(query))}"
        return S3Call("", bucket, key, partition, described)
    if key and "versionId" in query:
        action = _VERSIONED.get(action, action)
    if operation == "DeleteObjects":
        return S3Call("s3:DeleteObject", bucket, "*", partition, operation)  # judged once, for every key
    return S3Call(action, bucket, key, partition, operation)


def unmapped_message(call: S3Call) -> str:
    return (f"the sandbox cannot map {call.operation} on {call.bucket} to an IAM action, so it refuses it "
            "(it fails closed)")


def copy_source(header: str, partition: str = "aws") -> S3Call | None:
    """CopyObject / UploadPartCopy also read the source: s3:GetObject(Version) on it."""
    if not header:
        return None
    source, _, version = unquote(header).lstrip("/").partition("?versionId=")
    bucket, _, key = source.partition("/")
    if not bucket or not key:
        return None
    return S3Call("s3:GetObjectVersion" if version else "s3:GetObject", bucket, key, partition)


def access_denied(head: bool, message: str = "Access Denied") -> tuple[int, list[tuple[str, str]], bytes]:
    """S3's 403 AccessDenied (no body for HEAD, as S3 sends none)."""
    status, headers, body = s3_error(403, "AccessDenied", message)
    return status, headers, b"" if head else body


def s3_error(status: int, code: str, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """An S3 error document (S3 API Reference, "Error responses")."""
    request_id = uuid.uuid4().hex[:16].upper()
    headers = [("x-amz-request-id", request_id), ("x-amz-id-2", uuid.uuid4().hex), ("Content-Type", "application/xml")]
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message><RequestId>{request_id}</RequestId>"
        f"<HostId>{uuid.uuid4().hex}</HostId></Error>"
    ).encode()
    return status, headers, body


def delete_objects_denied(body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """DeleteObjects answers 200 with an AccessDenied error per key, as S3 does when none may go."""
    try:
        keys = [e.text or "" for e in ElementTree.fromstring(body).iter() if e.tag.rpartition("}")[2] == "Key"]
    except ElementTree.ParseError:
        keys = []
    errors = "".join(
        f"<Error><Key>{escape(key)}</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
        for key in keys
    )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{errors}</DeleteResult>'
    ).encode()
    return 200, [("Content-Type", "application/xml"), ("x-amz-request-id", uuid.uuid4().hex[:16].upper())], xml


def denied_message(principal: str, action: str, resource: str, policy: str, explicit: bool) -> str:
    """S3's AccessDenied message for a same-account request, naming the kind of policy that refused it.

    S3 User Guide, "Troubleshoot access denied (403 Forbidden) errors in Amazon S3" (Access denied message
    examples): messages "appear in the format User user-arn is not authorized to perform action on "resource-arn"
    because context", the context naming "the type of policy that denied access"; IAM User Guide, "Troubleshooting
    access denied error messages": "with an explicit deny in a <type> policy" or "because no <type> policy allows
    the <action> action". `policy` is "identity-based policy", "resource-based policy" or "VPC endpoint policy".
    """
    article = "an" if policy[0].lower() in "aeiou" else "a"
    why = f"with an explicit deny in {article} {policy}" if explicit else \
        f"because no {policy} allows the {action} action"
    return f'User: {principal} is not authorized to perform: {action} on resource: "{resource}" {why}'
