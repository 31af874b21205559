"""Lists the bucket named by BUCKET_NAME, through whatever path the function's subnets give it.

Runs in the Lambda python3.12 runtime: standard library and boto3 only.
Event (all optional):
  {"put": {"key": "probe.txt", "body": "text"}}   writes that object first;
  {"other_bucket": "name", "other_write": false}  then tries another bucket (a list, or with other_write a
                                                  one-byte put) and reports whether S3 refused it, with
                                                  S3's message (it names the policy that refused): the
                                                  endpoint policy should let the function reach its own
                                                  bucket only. A timeout on that call is reported, not
                                                  raised.
"""

import os
import socket
import time
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# Short timeouts and one attempt: when the path is broken the connection hangs, and we want
# the error named (ConnectTimeoutError) well inside the function's own timeout.
_CONFIG = Config(connect_timeout=2, read_timeout=3, retries={"total_max_attempts": 1})


def handler(event, context):
    bucket = os.environ["BUCKET_NAME"]
    s3 = boto3.client("s3", config=_CONFIG)
    started = time.monotonic()
    event = event if isinstance(event, dict) else {}
    put = event.get("put")
    written = None
    if put:
        written = str(put["key"])
        s3.put_object(Bucket=bucket, Key=written, Body=str(put.get("body", "written by s3gw")).encode())
    objects = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"MaxItems": 1000}):
        for item in page.get("Contents", []):
            objects.append({"key": item["Key"], "size": item["Size"]})
    answer = {
        "bucket": bucket,
        "count": len(objects),
        "objects": objects,
        "written": written,
        "s3_host": urlsplit(s3.meta.endpoint_url).hostname,
        "family": _family(s3.meta.endpoint_url),
    }
    if event.get("other_bucket"):
        answer["other"] = _try_other(s3, str(event["other_bucket"]), bool(event.get("other_write")))
    if event.get("table") and os.environ.get("TABLE_NAME"):
        answer["table"] = _table(event["table"])
    answer["elapsed_ms"] = round((time.monotonic() - started) * 1000)
    return answer


def _try_other(s3, bucket, write):
    """One call on another bucket: {"bucket", "call", "refused", "code"}; refused means AccessDenied."""
    call = "PutObject" if write else "ListObjectsV2"
    try:
        if write:
            s3.put_object(Bucket=bucket, Key="s3gw-probe.txt", Body=b"s3gw")
        else:
            s3.list_objects_v2(Bucket=bucket, MaxKeys=1)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        return {"bucket": bucket, "call": call, "refused": code in ("AccessDenied", "403"), "code": code,
                "message": error.get("Message", "")}
    except BotoCoreError as exc:  # a timeout on this call only: said as such, not taken for a broken path
        return {"bucket": bucket, "call": call, "refused": False, "code": "", "message": "",
                "error": f"{type(exc).__name__}: {exc}"}
    return {"bucket": bucket, "call": call, "refused": False, "code": "", "message": ""}


def _family(url):
    """"ipv6" or "ipv4": the family of the first address S3's name resolves to here, the one the SDK connects to first
    (urllib3 tries getaddrinfo's answers in order). s3.dualstack.<region>.amazonaws.com answers both; the function
    gets IPv6 first when it has IPv6 (Ipv6AllowedForDualStack on dual-stack subnets). None when it does not resolve."""
    parts = urlsplit(url)
    try:
        found = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError:
        return None
    return "ipv6" if found and found[0][0] == socket.AF_INET6 else "ipv4"


def _table(asked):
    """The DynamoDB lane (TABLE_NAME): PutItem then GetItem of one item, and a GetItem on another table (which the
    endpoint policy should refuse). {"table", "key", "written", "read", "error", "other": {...}}; an error is said,
    not raised, so the S3 half of the answer still shows."""
    table = os.environ["TABLE_NAME"]
    asked = asked if isinstance(asked, dict) else {}
    attribute, value = str(asked.get("attribute") or "pk"), str(asked.get("value") or "s3gw-probe")
    dynamodb = boto3.client("dynamodb", config=_CONFIG)
    key = {attribute: {"S": value}}
    result = {"table": table, "key": value, "written": False, "read": None, "error": "", "code": "", "message": ""}
    try:
        dynamodb.put_item(TableName=table, Item={**key, "by": {"S": "s3gw test-invoke"}})
        result["written"] = True
        item = dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item") or {}
        result["read"] = item.get("by", {}).get("S")
    except ClientError as exc:
        error = exc.response.get("Error", {})
        result.update(code=error.get("Code", ""), message=error.get("Message", ""),
                      error=f"{error.get('Code', '')}: {error.get('Message', '')}")
    except BotoCoreError as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    other = asked.get("other_table")
    if other and not result["error"]:
        try:
            dynamodb.get_item(TableName=str(other), Key=key)
            result["other"] = {"table": other, "refused": False, "code": "", "message": ""}
        except ClientError as exc:
            error = exc.response.get("Error", {})
            result["other"] = {"table": other, "refused": error.get("Code") == "AccessDeniedException",
                               "code": error.get("Code", ""), "message": error.get("Message", "")}
        except BotoCoreError as exc:
            result["other"] = {"table": other, "refused": False, "code": "", "message": "",
                               "error": f"{type(exc).__name__}: {exc}"}
    return result
