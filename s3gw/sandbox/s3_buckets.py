"""What S3 answers about buckets that moto does not: regions that refuse tags in CreateBucket, and buckets of an
opt-in region asked about through another region's endpoint. Each answer cites its source."""

from __future__ import annotations

import uuid
from xml.sax.saxutils import escape

Answer = tuple[int, list[tuple[str, str]], bytes]

# The regions enabled by default: "Regions launched before March 20, 2019 are enabled by default" (AWS Account
# Management guide, "Enable or disable AWS Regions in your account"); every later region of the aws partition is
# an opt-in region. S3 redirects a request for a bucket of another region only between these ("For S3 buckets in
# Regions launched after March 20, 2019, the DNS server doesn't route your request directly to the AWS Region
# where your bucket resides", S3 User Guide, "Request redirection and the REST API").
DEFAULT_REGIONS = frozenset({
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ap-south-1", "ap-northeast-1", "ap-northeast-2",
    "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "ca-central-1", "eu-central-1", "eu-west-1", "eu-west-2",
    "eu-west-3", "eu-north-1", "sa-east-1",
})


def s3_error(status: int, code: str, message: str) -> Answer:
    request_id = uuid.uuid4().hex[:16].upper()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message><RequestId>{request_id}</RequestId>"
        f"<HostId>{uuid.uuid4().hex}</HostId></Error>"
    ).encode()
    return status, [("x-amz-request-id", request_id), ("Content-Type", "application/xml")], body


def create_bucket_tags_refused(body: bytes) -> Answer | None:
    """CreateBucket with CreateBucketConfiguration.Tags where S3 does not take them (Behaviours.no_create_bucket_tags):
    "400 ... api error UnsupportedArgument: The request contained an unsupported argument." and no bucket made
    (hashicorp/terraform-provider-aws#45684 in aws-eusc, #45566, #45784; the provider retries without the tags
    since #46122)."""
    if b"<Tags" not in body:
        return None
    return s3_error(400, "UnsupportedArgument", "The request contained an unsupported argument.")


def illegal_location(bucket_region: str | None, request_region: str, partition: str) -> Answer | None:
    """A request about a bucket of another region, when either region is an opt-in one: S3 does not redirect it
    but answers 400 IllegalLocationConstraintException, "The me-south-1 location constraint is incompatible for the
    region specific endpoint this request was sent to." (GetBucketTagging: cloud-custodian/cloud-custodian#8005;
    GetBucketPolicy: prowler-cloud/prowler#1155). Between two default regions S3 redirects (301), which clients
    follow, and moto answers at once: left to moto."""
    if bucket_region is None or bucket_region == request_region or partition != "aws":
        return None
    if bucket_region in DEFAULT_REGIONS and request_region in DEFAULT_REGIONS:
        return None
    return s3_error(400, "IllegalLocationConstraintException", f"The {bucket_region} location constraint is "
                    "incompatible for the region specific endpoint this request was sent to.")
