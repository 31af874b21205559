"""`s3gw verify` (every link of the path, read-only) and what `s3gw permissions` narrows its policy to."""

from __future__ import annotations

from typing import Any

from s3gw import state as state_file
from s3gw.commands.reports import (
    translated,
)
from s3gw.config import StackConfig, settle
from s3gw.run import Progress, Run


@translated("verifying the path")
def verify(config: StackConfig, progress: Progress, *, function_name: str | None = None,
           bucket: str | None = None) -> Any:
    """Every link of the path, read-only: for the stack, or for a setup named by function and bucket."""
    from s3gw.verify import verify as verify_links

    with Run.open(config, progress, needs_state=function_name is None) as run:
        return verify_links(run.ctx, function_name, bucket)


def permissions_target(config: StackConfig, account: str | None = None, function_name: str | None = None) -> Any:
    """What `s3gw permissions` narrows the policy to, from the options and the state file (no AWS call)."""
    from s3gw.botocore_data import partition_of
    from s3gw.permissions import Target

    # The local state file only: `permissions` makes no AWS call (state kept in S3: --account and --bucket).
    state = state_file.load(config.state_path, config.stack, config.region) if not config.state_url else None
    recorded = state.resources if state else {}
    config = settle(config, state.settings) if state else config
    account = account or (state.account if state else "") or "*"
    bucket = config.bucket or recorded.get("bucket") or recorded.get("bucket_pending") or config.default_bucket(account)
    return Target(partition=partition_of(config.region), region=config.region, account=account,
                  stack=config.stack, bucket=bucket, role_name=config.role_name, function_name=config.function_name,
                  state_url=config.state_url, vpc_id=config.vpc_id, verify_function=function_name,
                  app_function=config.app_function_name if config.code else None,
                  app_role=config.app_role_name if config.code else None, adopted=config.adopt_functions or (),
                  table=config.table)
