"""One run of a command: what every command opens before its work, written once.

`with Run.open(config, progress, locked="up", persist=True) as run:` checks the state directory when the run
writes, refuses a profile that does not exist before anything is written, opens the store (the local file, or
S3 with --state), takes the stack's lock when asked, loads the state and settles the recorded settings into the
config, reads the account (and, with `region`, the region's facts) in one round, checks the account against the
state's, and hands the commands the Context (`run.ctx`). The lock is released on every way out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from s3gw import state as state_file
from s3gw.aws import Aws
from s3gw.config import StackConfig, check_state_dir, settle, validate_resources, validate_settings
from s3gw.errors import StateError, UsageError
from s3gw.steps import Context
from s3gw.steps.subnets import region_zones

Progress = Callable[[str], None]


def load_state(config: StackConfig, store: state_file.Store | None = None) -> state_file.State:
    """The state, checked like any input: its structure, its ids, its settings."""
    path = config.state_where
    try:
        state = state_file.load(store or state_file.open_store(config), config.stack, config.region)
    except RecursionError:
        raise StateError(f"state file {path} is nested too deeply to be an s3gw state file",
                         "move it aside or use another --state-dir") from None
    validate_resources(state.resources, state.settings, f"state file {path}")
    validate_settings(state.settings, f"state file {path}", config.region)
    return state


def _tighten(store: state_file.Store, progress: Progress, *, change: bool) -> None:
    """A state file others can read names the account's resources: `up` and `down` make it 0600 (every save
    does too) and say so; the read-only commands only say so."""
    import os
    import stat

    path = getattr(store, "path", None)  # a local file; S3 has no mode
    if path is None:
        return
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if not mode & 0o077:
            return
        if change:
            os.chmod(path, 0o600)
            progress(f"state file {path} was mode {mode:04o}, readable by others; set it to 0600")
        else:
            progress(f"warning: state file {path} is mode {mode:04o}, readable by others (up or down sets 0600)")
    except OSError:
        return  # not there, or not ours to change: reading it is all this run needs


def require_state(config: StackConfig, state: state_file.State) -> None:
    """No state file: the same exit (2) and words for every command that reads one."""
    if not state.exists_on_disk:
        raise UsageError(f"stack {config.stack} has no state at {config.state_where}",
                         "run 's3gw up' first, or pass the --stack/--state-dir it was made with")


def open_context(config: StackConfig, progress: Progress, *, persist: bool,
                 store: state_file.Store | None = None, needs_state: bool = False, region: bool = False) -> Context:
    """The run's context, the account checked against the state's. With `region` (up, plan, status), what the
    steps read of the region is read at once with the account, in the run's first round: its availability zones
    (steps.subnets.region_zones), its S3 prefix list (the security group's egress rule, the endpoint's record)
    and, when no endpoint is recorded, its S3 gateway service (the endpoint's create)."""
    from s3gw.steps.base import at_once
    from s3gw.steps.bucket import probe_ahead
    from s3gw.steps.endpoint import s3_prefix_list_id, s3_service_name

    state = load_state(config, store)
    if needs_state:
        require_state(config, state)
    config = settle(config, state.settings)
    aws = Aws(config)
    ctx = Context(config=config, aws=aws, state=state, progress=progress, persist=persist)
    # ...and the bucket the stack would make, when its name is known then (steps.bucket.probe_ahead).
    reads = [lambda: region_zones(ctx), lambda: s3_prefix_list_id(ctx), lambda: probe_ahead(ctx)] if region else []
    if region and not state.resources.get("endpoint_id"):
        reads.append(lambda: s3_service_name(ctx))
    if reads:
        aws.ec2  # noqa: B018 - made here: the reads below share it from other threads
    at_once(ctx, lambda: aws.account, *reads)
    state_file.check_account(state, aws.account)
    _tighten(state.store, progress, change=persist)
    return ctx


def quiet(message: str) -> None:
    """The progress of a run that says nothing (a look the user does not watch)."""


@dataclass
class Run:
    ctx: Context

    @classmethod
    @contextmanager
    def open(cls, config: StackConfig, progress: Progress = quiet, *, locked: str | None = None,
             persist: bool = False, needs_state: bool = False, region: bool = False,
             ctx: Context | None = None) -> Iterator[Run]:
        """The run's prelude. `locked`: the command the lock names (up, down, unseal), or None for a run that
        takes no lock. `persist`: the run writes the state (checked first: the state directory, the profile).
        `needs_state`: no state is one line and exit 2. `region`: the region's facts read in the first round.
        `ctx`: a Context prepared beforehand (tests), used as it is, under the lock of its store."""
        if persist:
            if not config.state_url:
                check_state_dir(config.state_dir, writing=True)
            Aws(config)  # a profile that does not exist is refused before anything is written
        store = ctx.state.store if ctx else state_file.open_store(config)
        with ExitStack() as held:
            if locked:
                held.enter_context(state_file.locked(store, locked))
            yield cls(ctx or open_context(config, progress, persist=persist, store=store, needs_state=needs_state,
                                          region=region))
