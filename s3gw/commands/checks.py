"""What `up` and `plan` check before anything changes: the steps' local checks, the settings a run may not change."""

from __future__ import annotations

from typing import Any

from s3gw.errors import UsageError
from s3gw.steps import STEPS, Context


def prepare_steps(ctx: Context) -> None:
    """What the steps check before anything changes (Step.prepare: the --code zip and Lambda's size limit; the
    functions to adopt, and the record of what they are now)."""
    for step in STEPS:
        step.prepare(ctx)


def refuse_setting_changes(ctx: Context) -> None:
    """A recorded setting whose change `up` cannot converge is refused (exit 2), never silently recorded.

    --bucket: a new name would make a second bucket and leave the old one, sealed and holding data, outside
    the state. Fewer --azs: removing a subnet must first wait out the Lambda ENIs in it (up to ~45 min); more
    --azs are converged (subnets, route tables, endpoint and function follow). --vpc-cidr: config.settle."""
    config, state = ctx.config, ctx.state
    # Only a bucket the state records as made (or adopted) is left behind; a --bucket that an earlier `up` was given
    # but never made or adopted (refused: not the stack's) leaves nothing, and `down` would not touch it.
    recorded_bucket = state.resources.get("bucket") or state.resources.get("bucket_pending")
    if "bucket" in config.given and recorded_bucket and recorded_bucket != config.bucket:
        down_does = ("keeps it, taking out only s3gw's policy statements" if state.settings.get("adopt") else
                     "empties and deletes it, if it still carries the stack's tag")
        raise UsageError(f"stack {config.stack} has bucket {recorded_bucket}; --bucket {config.bucket} would "
                         f"leave it behind", f"run 's3gw down' first (it {down_does}), or use another --stack")
    recorded_azs = state.settings.get("azs")
    subnets = len(state.resources.get("subnet_ids") or [])
    had = max(recorded_azs if isinstance(recorded_azs, int) else 0, subnets)
    if "azs" in config.given and config.azs < had:
        raise UsageError(f"stack {config.stack} has {had} subnets; --azs {config.azs} would remove some, which "
                         "must wait out Lambda's network interfaces in them",
                         f"keep --azs {had} (or more), or run 's3gw down' first")


def adopted_bucket_warnings(ctx: Context) -> list[str]:
    """--adopt: the AWS services the seal would cut off the bucket (steps.bucket.services_cut)."""
    from s3gw.steps.bucket import bucket_name, services_cut

    if not ctx.config.adopt:
        return []
    return [f"warning: {line}" for line in services_cut(ctx, bucket_name(ctx))]


def as_setting(value: Any) -> Any:
    """A setting as the state file holds it (JSON: a tuple is a list)."""
    return list(value) if isinstance(value, tuple) else value
