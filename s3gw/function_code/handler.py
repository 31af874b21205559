"""Lists the bucket named by BUCKET_NAME, through whatever path the function's subnets give it.

Runs in the Lambda python3.12 runtime: standard library and boto3 only.
Event (all optional): {"put": {"key": "probe.txt", "body": "text"}} writes that object first.
"""

import os
import time

import boto3
from botocore.config import Config

# Short timeouts and one attempt: when the path is broken the connection hangs, and we want
# the error named (ConnectTimeoutError) well inside the function's own timeout.
_CONFIG = Config(connect_timeout=2, read_timeout=3, retries={"total_max_attempts": 1})


def handler(event, context):
    bucket = os.environ["BUCKET_NAME"]
    s3 = boto3.client("s3", config=_CONFIG)
    started = time.monotonic()
    put = (event or {}).get("put") if isinstance(event, dict) else None
    written = None
    if put:
        written = str(put["key"])
        s3.put_object(Bucket=bucket, Key=written, Body=str(put.get("body", "written by s3gw")).encode())
    objects = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"MaxItems": 1000}):
        for item in page.get("Contents", []):
            objects.append({"key": item["Key"], "size": item["Size"]})
    return {
        "bucket": bucket,
        "count": len(objects),
        "objects": objects,
        "written": written,
        "elapsed_ms": round((time.monotonic() - started) * 1000),
    }
