"""Which IAM action an S3 request needs, on which resource: what the bucket policy is asked about.

Path-style addressing (http://127.0.0.1:port/bucket/key), which is what clients use with an IP
endpoint; virtual-host style is recognised for "<bucket>.localhost" hosts only.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote
from xml.etree import ElementTree
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class S3Call:
    action: str
    bucket: str
    key: str | None = None  # None: the bucket itself; "*" for a batch on every key
    partition: str = "aws"  # aws-cn, aws-us-gov: S3 ARNs name the partition of the region called

    @property
    def resource(self) -> str:
        bucket_arn = f"arn:{self.partition}:s3:::{self.bucket}"
        return bucket_arn if self.key is None else f"{bucket_arn}/{self.key}"


# (method, subresource) → action, for a bucket and for an object. The first subresource present
# in the query string wins; "" is the plain call. From the S3 "actions, resources and condition
# keys" reference: e.g. DeleteBucketTagging needs s3:PutBucketTagging, HEAD needs the GET action.
_BUCKET_ACTIONS: dict[str, list[tuple[str, str]]] = {
    "GET": [
        ("policy", "GetBucketPolicy"), ("policyStatus", "GetBucketPolicyStatus"),
        ("versions", "ListBucketVersions"), ("uploads", "ListBucketMultipartUploads"),
        ("location", "GetBucketLocation"), ("versioning", "GetBucketVersioning"), ("acl", "GetBucketAcl"),
        ("tagging", "GetBucketTagging"), ("lifecycle", "GetLifecycleConfiguration"),
        ("encryption", "GetEncryptionConfiguration"), ("cors", "GetBucketCORS"), ("website", "GetBucketWebsite"),
        ("logging", "GetBucketLogging"), ("notification", "GetBucketNotification"),
        ("object-lock", "GetBucketObjectLockConfiguration"), ("ownershipControls", "GetBucketOwnershipControls"),
        ("publicAccessBlock", "GetBucketPublicAccessBlock"), ("accelerate", "GetAccelerateConfiguration"),
        ("requestPayment", "GetBucketRequestPayment"), ("replication", "GetReplicationConfiguration"),
        ("", "ListBucket"),
    ],
    "PUT": [
        ("policy", "PutBucketPolicy"), ("versioning", "PutBucketVersioning"), ("acl", "PutBucketAcl"),
        ("tagging", "PutBucketTagging"), ("lifecycle", "PutLifecycleConfiguration"),
        ("encryption", "PutEncryptionConfiguration"), ("cors", "PutBucketCORS"), ("website", "PutBucketWebsite"),
        ("logging", "PutBucketLogging"), ("notification", "PutBucketNotification"),
        ("object-lock", "PutBucketObjectLockConfiguration"), ("ownershipControls", "PutBucketOwnershipControls"),
        ("publicAccessBlock", "PutBucketPublicAccessBlock"), ("accelerate", "PutAccelerateConfiguration"),
        ("requestPayment", "PutBucketRequestPayment"), ("replication", "PutReplicationConfiguration"),
        ("", "CreateBucket"),
    ],
    "DELETE": [
        ("policy", "DeleteBucketPolicy"), ("tagging", "PutBucketTagging"), ("lifecycle", "PutLifecycleConfiguration"),
        ("encryption", "PutEncryptionConfiguration"), ("cors", "PutBucketCORS"), ("website", "DeleteBucketWebsite"),
        ("ownershipControls", "PutBucketOwnershipControls"), ("publicAccessBlock", "PutBucketPublicAccessBlock"),
        ("replication", "PutReplicationConfiguration"), ("", "DeleteBucket"),
    ],
    "POST": [("delete", "DeleteObject"), ("", "PutObject")],  # DeleteObjects batch; browser form upload
}
_OBJECT_ACTIONS: dict[str, list[tuple[str, str]]] = {
    "GET": [
        ("acl", "GetObjectAcl"), ("tagging", "GetObjectTagging"), ("uploadId", "ListMultipartUploadParts"),
        ("attributes", "GetObjectAttributes"), ("retention", "GetObjectRetention"),
        ("legal-hold", "GetObjectLegalHold"), ("", "GetObject"),
    ],
    "PUT": [
        ("acl", "PutObjectAcl"), ("tagging", "PutObjectTagging"), ("retention", "PutObjectRetention"),
        ("legal-hold", "PutObjectLegalHold"), ("", "PutObject"),  # also UploadPart and CopyObject
    ],
    "DELETE": [("uploadId", "AbortMultipartUpload"), ("tagging", "DeleteObjectTagging"), ("", "DeleteObject")],
    "POST": [("restore", "RestoreObject"), ("select", "GetObject"), ("", "PutObject")],  # multipart create/complete
}
# With ?versionId the call acts on one version and needs the *Version action.
_VERSIONED = {
    "GetObject": "GetObjectVersion", "GetObjectAcl": "GetObjectVersionAcl",
    "GetObjectTagging": "GetObjectVersionTagging", "PutObjectAcl": "PutObjectVersionAcl",
    "PutObjectTagging": "PutObjectVersionTagging", "DeleteObject": "DeleteObjectVersion",
    "DeleteObjectTagging": "DeleteObjectVersionTagging",
}
_VIRTUAL_HOST = re.compile(r"^(?P<bucket>[a-z0-9][a-z0-9.-]*)\.localhost(:\d+)?$")


def bucket_and_key(path: str, host: str) -> tuple[str, str | None]:
    """("", None) for the service itself (ListBuckets)."""
    match = _VIRTUAL_HOST.match(host or "")
    if match:
        key = unquote(path.lstrip("/"))
        return match.group("bucket"), key or None
    bucket, _, key = path.lstrip("/").partition("/")
    return unquote(bucket), unquote(key) or None


def classify(method: str, path: str, host: str, query: Mapping[str, str], partition: str = "aws") -> S3Call | None:
    """The action a request needs; None when no bucket is involved (ListBuckets) or it creates one."""
    bucket, key = bucket_and_key(path, host)
    if not bucket:
        return None
    verb = "GET" if method.upper() == "HEAD" else method.upper()
    table = _OBJECT_ACTIONS if key else _BUCKET_ACTIONS
    action = next((a for sub, a in table.get(verb, []) if sub == "" or sub in query), None)
    if action is None or action == "CreateBucket":
        return None  # no policy exists yet on a bucket being created
    if key and "versionId" in query:
        action = _VERSIONED.get(action, action)
    if not key and action == "DeleteObject":
        return S3Call("s3:DeleteObject", bucket, "*", partition)  # DeleteObjects: judged once, for every key
    return S3Call(f"s3:{action}", bucket, key, partition)


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
    request_id = uuid.uuid4().hex[:16].upper()
    headers = [("x-amz-request-id", request_id), ("x-amz-id-2", uuid.uuid4().hex), ("Content-Type", "application/xml")]
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>AccessDenied</Code><Message>{escape(message)}</Message><RequestId>{request_id}</RequestId>"
        f"<HostId>{uuid.uuid4().hex}</HostId></Error>"
    ).encode()
    return 403, headers, b"" if head else body


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


def endpoint_denied_message(principal: str, action: str, resource: str, explicit: bool) -> str:
    """S3 names the policy type in a same-account AccessDenied (IAM User Guide, "Troubleshoot access denied
    error messages": "...because no VPC endpoint policy allows the <action> action" / "...with an explicit
    deny in a VPC endpoint policy")."""
    why = "with an explicit deny in a VPC endpoint policy" if explicit else \
        f"because no VPC endpoint policy allows the {action} action"
    return f'User: {principal} is not authorized to perform: {action} on resource: "{resource}" {why}'
