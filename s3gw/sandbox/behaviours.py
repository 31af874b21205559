"""Real-AWS timing behaviours the sandbox can switch on (all off by default)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

ENV_IAM_DELAY = "S3GW_SANDBOX_IAM_DELAY"
ENV_PENDING = "S3GW_SANDBOX_PENDING"
ENV_ENI_LINGER = "S3GW_SANDBOX_ENI_LINGER"
ENV_ENFORCE_IAM = "S3GW_SANDBOX_ENFORCE_IAM"
ENV_IAM_MESSAGE = "S3GW_SANDBOX_IAM_MESSAGE"
ENV_NO_SUBNET_ZONES = "S3GW_SANDBOX_NO_SUBNET_ZONES"
ENV_NO_LAMBDA_ZONES = "S3GW_SANDBOX_NO_LAMBDA_ZONES"
ENV_FAIL_PENDING = "S3GW_SANDBOX_FAIL_PENDING"
ENV_POLICY_LINGER = "S3GW_SANDBOX_POLICY_LINGER"
ENV_LATENCY_MS = "S3GW_SANDBOX_LATENCY_MS"
ENV_NO_CREATE_BUCKET_TAGS = "S3GW_SANDBOX_NO_CREATE_BUCKET_TAGS"
ENV_ENDPOINT_PENDING = "S3GW_SANDBOX_ENDPOINT_PENDING"
ENV_S3_CONFLICTS = "S3GW_SANDBOX_S3_CONFLICTS"

# What Lambda answers while a new role is not usable yet, one per shape Terraform's retryFunctionOp retries
# (terraform-provider-aws internal/service/lambda/function.go); the texts are Lambda's own, as users report
# them (serverless/serverless#3339 for the EC2 throttling one).
IAM_MESSAGES = {
    "assume": "The role defined for the function cannot be assumed by Lambda.",
    "ec2": "The provided execution role does not have permissions to call CreateNetworkInterface on EC2",
    "throttle": "Your request has been throttled by EC2, please make sure you have enough API rate limit. "
                "EC2 Error Code: RequestLimitExceeded. EC2 Error Message: Request limit exceeded.",
}


@dataclass(frozen=True)
class Behaviours:
    iam_propagation: float = 0.0  # seconds a new role cannot be used by Lambda
    pending: float = 0.0  # seconds a new/updated function stays Pending (update: InProgress)
    eni_linger: float = 0.0  # seconds Lambda's ENIs stay in-use after DeleteFunction
    enforce_iam: bool = False  # IAM users' calls are checked against their policies (authorize.py)
    iam_message: str = "assume"  # which of IAM_MESSAGES CreateFunction answers during `iam_propagation`
    no_subnet_zones: tuple[str, ...] = ()  # zones where CreateSubnet is refused for this account
    no_lambda_zones: tuple[str, ...] = ()  # zones Lambda does not support (CreateFunction refuses their subnets)
    fail_pending: bool = False  # a new function stays Pending for `pending` seconds, then turns Failed
    policy_linger: float = 0.0  # seconds a deleted bucket policy still applies (S3 is eventually consistent)
    # CreateBucket refuses CreateBucketConfiguration.Tags (UnsupportedArgument), as in some regions and partitions
    # (sandbox/s3_buckets.py cites the sources).
    no_create_bucket_tags: bool = False
    # Seconds added to every AWS request before it is answered. Not a behaviour of AWS that is modelled: a fixed
    # stand-in for one request's round trip to a regional endpoint (issue 13 measures with 100 ms), so that a
    # bench shows what requests made one after another cost, which a local emulator hides.
    latency: float = 0.0
    # Seconds a new VPC endpoint stays `pending` (moto: `available` at once). VpcEndpoint.State has `Pending` (EC2 API
    # Reference, VpcEndpoint), and terraform-provider-aws waits for pending → available after every CreateVpcEndpoint
    # (internal/service/ec2/vpc_endpoint.go, waitVPCEndpointAvailable).
    endpoint_pending: float = 0.0
    # The next N conditional writes and deletes of an object (If-Match / If-None-Match) answer 409
    # ConditionalRequestConflict, as S3 does while a conflicting write or delete of the same key is in flight:
    # "If a conflicting operation occurs during the upload S3 returns a 409 ConditionalRequestConflict response.
    # On a 409 failure you should retry the upload" (botocore's S3 model, PutObject IfMatch / IfNoneMatch; S3 User
    # Guide, "How to prevent object overwrites with conditional writes"). Counted from when this value is set.
    s3_conflicts: int = 0

    def __post_init__(self) -> None:
        if self.iam_message not in IAM_MESSAGES:
            raise ValueError(f"iam_message must be one of {', '.join(IAM_MESSAGES)}, not {self.iam_message!r}")
        for name in ("iam_propagation", "pending", "eni_linger", "policy_linger", "latency", "endpoint_pending"):
            if not math.isfinite(getattr(self, name)) or getattr(self, name) < 0:  # nan passes `< 0`
                raise ValueError(f"{name} must be a finite number of seconds, zero or more, not {getattr(self, name)}")
        if self.s3_conflicts < 0:
            raise ValueError(f"s3_conflicts must be zero or more, not {self.s3_conflicts}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Behaviours:
        environ = os.environ if environ is None else environ
        iam_message = environ.get(ENV_IAM_MESSAGE, "").strip() or "assume"
        if iam_message not in IAM_MESSAGES:
            raise ValueError(f"{ENV_IAM_MESSAGE} must be one of {', '.join(IAM_MESSAGES)}, not {iam_message!r}")
        return cls(
            iam_propagation=_seconds(environ, ENV_IAM_DELAY),
            pending=_seconds(environ, ENV_PENDING),
            eni_linger=_seconds(environ, ENV_ENI_LINGER),
            enforce_iam=_flag(environ, ENV_ENFORCE_IAM),
            iam_message=iam_message,
            no_subnet_zones=_names(environ, ENV_NO_SUBNET_ZONES),
            no_lambda_zones=_names(environ, ENV_NO_LAMBDA_ZONES),
            fail_pending=_flag(environ, ENV_FAIL_PENDING),
            policy_linger=_seconds(environ, ENV_POLICY_LINGER),
            no_create_bucket_tags=_flag(environ, ENV_NO_CREATE_BUCKET_TAGS),
            latency=_seconds(environ, ENV_LATENCY_MS) / 1000,
            endpoint_pending=_seconds(environ, ENV_ENDPOINT_PENDING),
            s3_conflicts=_count(environ, ENV_S3_CONFLICTS),
        )


def _flag(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _names(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in environ.get(name, "").split(",") if part.strip())


def _seconds(environ: Mapping[str, str], name: str) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {text!r}") from None
    if not math.isfinite(value) or value < 0:  # nan would make every request's sleep fail (a 500), inf never end
        raise ValueError(f"{name} must be a finite number, zero or more, not {text!r}")
    return value


def _count(environ: Mapping[str, str], name: str) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return 0
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"{name} must be a whole number, zero or more, not {text!r}")
    return int(text)
