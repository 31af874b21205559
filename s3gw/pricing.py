"""What S3 traffic through a NAT gateway costs: a small table of published rates, for `plan` and `verify`.

Source: Amazon VPC pricing, "NAT Gateway Pricing" (https://aws.amazon.com/vpc/pricing/), which this machine cannot
fetch: the us-east-1 figure is the page's own worked example (also quoted in issue 15); the others are the page's
figures as third-party summaries of it quote them (2026: e.g. basavytix.com/blog/aws-nat-gateway-pricing for
ap-southeast-1 $0.059, cloudpipelines.pages.dev's 2026 guide for Europe $0.048-0.052), not checked against the page
itself here. Every line that shows a figure names the page, so a reader checks it before relying on it. A NAT
gateway charges per hour and per GB it processes, whatever the destination, S3 in the same region included; a
gateway endpoint has no charge ("There is no additional charge for using gateway endpoints",
https://docs.aws.amazon.com/vpc/latest/privatelink/gateway-endpoints.html). Regions not in the table are shown
without a figure rather than with a guess.
"""

from __future__ import annotations

SOURCE = "https://aws.amazon.com/vpc/pricing/ (table of 2026-11)"
# region: (USD per GB processed, USD per NAT gateway hour)
NAT_RATES: dict[str, tuple[float, float]] = {
    "us-east-1": (0.045, 0.045),
    "us-east-2": (0.045, 0.045),
    "us-west-2": (0.045, 0.045),
    "eu-west-1": (0.048, 0.048),
    "eu-central-1": (0.052, 0.052),
    "ap-southeast-1": (0.059, 0.059),
    "ap-northeast-1": (0.062, 0.062),
}


def nat_cost_line(region: str) -> str:
    """'$0.045/GB (+ $0.045/h per NAT gateway) in us-east-1, per <source>', or where to find the figure."""
    rate = NAT_RATES.get(region)
    if rate is None:
        return f"NAT gateway data processing per GB in {region}: see {SOURCE}"
    per_gb, per_hour = rate
    return f"${per_gb:.3f}/GB (+ ${per_hour:.3f}/h per NAT gateway) in {region}, per {SOURCE}"
