"""The boto3 session and its clients: region, profile, endpoint, retry mode, user agent."""

from __future__ import annotations

import functools
from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config

from s3gw import __version__
from s3gw.config import StackConfig
from s3gw.errors import translate

# Standard mode retries throttling, 5xx and connection errors with jittered backoff; s3gw adds only
# what it lacks (IAM propagation, DependencyViolation, NotFound right after a create) in the steps.
RETRY_CONFIG = {"mode": "standard", "total_max_attempts": 8}


class Aws:
    """Clients made once per run, lazily: a command that needs no S3 never builds an S3 client."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.session = boto3.session.Session(profile_name=config.profile, region_name=config.region)
        self._botocore_config = Config(
            region_name=config.region,
            retries=RETRY_CONFIG,  # type: ignore[arg-type]
            user_agent_extra=f"s3gw/{__version__}",
            connect_timeout=10,
            read_timeout=70,
        )

    def client(self, service: str, *, attempts: int | None = None) -> Any:
        config = self._botocore_config
        if attempts is not None:
            config = config.merge(Config(retries={"mode": "standard", "total_max_attempts": attempts}))
        return self.session.client(service, endpoint_url=self.config.endpoint_url, config=config)

    @cached_property
    def ec2(self) -> Any:
        return self.client("ec2")

    @cached_property
    def ec2_once(self) -> Any:
        """EC2 without botocore's retries, for creates that take no ClientToken (see steps.base.create_once)."""
        return self.client("ec2", attempts=1)

    @cached_property
    def s3(self) -> Any:
        return self.client("s3")

    @cached_property
    def iam(self) -> Any:
        return self.client("iam")

    @cached_property
    def lambda_(self) -> Any:
        return self.client("lambda")

    @cached_property
    def sts(self) -> Any:
        return self.client("sts")

    @cached_property
    def account(self) -> str:
        try:
            return str(self.sts.get_caller_identity()["Account"])
        except Exception as exc:
            raise translate(exc, "finding the AWS account (sts:GetCallerIdentity)") from exc

    @property
    def partition(self) -> str:
        return partition_of(self.config.region)


@functools.lru_cache(maxsize=64)
def partition_of(region: str) -> str:
    """The partition of a region (aws, aws-cn, aws-us-gov, …) from botocore's own endpoints data, whose
    regionRegex also places regions newer than this botocore."""
    import re

    for partition in _partitions():
        if region in partition["regions"]:
            return str(partition["partition"])
    for partition in _partitions():
        if partition["partition"] != "aws" and re.match(partition["regionRegex"], region):
            return str(partition["partition"])
    return "aws"


@functools.lru_cache(maxsize=1)
def _partitions() -> list[dict[str, Any]]:
    import botocore.session

    return list(botocore.session.get_session().get_data("endpoints")["partitions"])
