"""What S3 traffic through a NAT gateway costs, for `plan`, `verify` and `test-invoke`: a few list prices, each
with where it came from and when it was read.

A NAT gateway is charged "for each hour that your NAT gateway is available and each gigabyte of data that it
processes" (VPC User Guide, "Pricing" for NAT gateways: https://docs.aws.amazon.com/vpc/latest/userguide/
nat-gateway-pricing.html), whatever the
destination, S3 in the same region included. A gateway endpoint has no charge ("There is no additional charge for
using gateway endpoints", PrivateLink guide, https://docs.aws.amazon.com/vpc/latest/privatelink/gateway-endpoints.html).
So moving S3 onto the endpoint ends the per-GB charge for S3's bytes; the NAT's hourly charge goes on for as long
as the NAT gateway exists (other traffic still needs it, and s3gw never deletes it).

AWS's pricing page renders its per-region table by script, which this machine cannot fetch; only its worked example
is plain text. So the table holds the figures that can be traced, each with its source and date, and any other
region is shown the page's address instead of a guessed figure.
"""

from __future__ import annotations

from dataclasses import dataclass

PAGE = "https://aws.amazon.com/vpc/pricing/"


@dataclass(frozen=True)
class NatRate:
    per_gb: float  # USD per GB processed
    per_hour: float  # USD per NAT gateway hour
    source: str  # where the figure came from and when it was read: shown with it


NAT_RATES: dict[str, NatRate] = {
    # The page's own worked example is for US East (Ohio): "$0.045 per hour" and "a charge of $0.045 per GB" of
    # data processing. Read on 2026-12-04 in the transcription of the page taken on 2026-09-20, which states that
    # every price it quotes was found verbatim in the page's text (api-evangelist/amazon-vpc,
    # plans/amazon-vpc-plans-pricing.yml).
    "us-east-2": NatRate(0.045, 0.045, f"AWS's worked example on {PAGE}, as that page read on 2026-09-20"),
    # Not read from AWS's page (its region table is rendered by script): the N. Virginia list price as 2026
    # summaries of the page state it, read on 2026-12-04 (rajesh.medampudi.com/blog/aws-nat-gateway-hidden-tax:
    # "In us-east-1 (N. Virginia) and us-east-2 (Ohio) this is $0.045 per NAT Gateway-hour", $0.045 per GB;
    # basavytix.com/blog/aws-nat-gateway-pricing: "These are the us-east-1 rates").
    "us-east-1": NatRate(0.045, 0.045, f"the list price as 2026 summaries of {PAGE} quote it, read 2026-12-04; "
                                       "not read from AWS's page itself"),
}


def nat_cost_line(region: str) -> str:
    """'$0.045/GB processed, plus $0.045/h per NAT gateway, in us-east-2 (<source>)', or where to find the figure."""
    rate = NAT_RATES.get(region)
    if rate is None:
        return f"NAT gateway charges per GB processed and per hour in {region}: see {PAGE}"
    return (f"${rate.per_gb:.3f}/GB processed, plus ${rate.per_hour:.3f}/h per NAT gateway, in {region} "
            f"({rate.source})")


def endpoint_saving_line(service: str = "S3") -> str:
    """What moving S3 (or DynamoDB: gateway endpoints serve only those two, and both at no charge, PrivateLink guide
    above) onto its gateway endpoint changes in the bill, and what it does not."""
    return (f"the endpoint has no charge and {service}'s bytes stop counting toward the NAT's per-GB charge; the NAT "
            "gateway's hourly charge goes on for as long as it exists")
