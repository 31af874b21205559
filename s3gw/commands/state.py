"""`s3gw state init|push|pull` and `s3gw unlock --force`: the state's own housekeeping, no stack touched."""

from __future__ import annotations

from typing import Any

from s3gw import state as state_file
from s3gw.commands.reports import (
    translated,
)
from s3gw.config import StackConfig
from s3gw.errors import UsageError
from s3gw.run import Progress


@translated("removing the lock")
def force_unlock(config: StackConfig) -> dict[str, Any] | None:
    """`unlock --force`: remove the stack's lock (S3), or say who still holds it (local: a live process)."""
    return state_file.open_store(config).force_unlock()


@translated("setting up the state bucket")
def state_init(config: StackConfig, progress: Progress) -> list[str]:
    from s3gw.state.s3 import init_bucket

    if not config.state_url:
        raise UsageError("state init needs an s3://BUCKET[/PREFIX]", "pass it, or set S3GW_STATE")
    return init_bucket(config, config.state_url, progress)


@translated("copying the state")
def state_copy(config: StackConfig, direction: str, *, force: bool) -> str:
    """`state push` (local → S3) or `state pull` (S3 → local), each side locked while it is copied."""
    if not config.state_url:
        raise UsageError(f"state {direction} needs --state s3://BUCKET[/PREFIX]", "or set S3GW_STATE")
    local, remote = state_file.LocalStore(config.state_path), state_file.open_store(config)
    source, target = (local, remote) if direction == "push" else (remote, local)
    with state_file.locked(local, f"state {direction}"), state_file.locked(remote, f"state {direction}"):
        return state_file.copy_state(source, target, config.stack, config.region, force=force)
