"""up / plan / status / outputs / down: run the steps in order and record each id the moment it exists.

Each entry point takes a StackConfig and a progress callback and returns plain data for render.py;
it never prints. Any botocore error that escapes a step is translated here into an S3gwError.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from s3gw import state as state_file
from s3gw.aws import Aws
from s3gw.config import SETTINGS, StackConfig, check_state_dir, settle, validate_settings
from s3gw.errors import CheckFailed, S3gwError, StateError, UsageError, WaitTimeout, translate
from s3gw.steps import STEPS, Context, Step
from s3gw.steps.function import wait_for_enis
from s3gw.steps.subnets import zone_names
from s3gw.steps.summary import attributes

P = ParamSpec("P")
R = TypeVar("R")
Progress = Callable[[str], None]

OUTPUT_KEYS = (
    "vpc_id", "subnet_ids", "route_table_ids", "endpoint_id", "prefix_list_id", "bucket",
    "security_group_id", "role_name", "role_arn", "function_name", "function_arn",
)
LIST_KEYS = ("subnet_ids", "route_table_ids")

# What a recorded key stands for, in the words messages use (never the key itself).
KINDS = {
    "vpc_id": "VPC", "subnet_ids": "private subnets", "route_table_ids": "route tables",
    "endpoint_id": "S3 gateway endpoint", "prefix_list_id": "S3 gateway endpoint", "bucket": "bucket",
    "bucket_pending": "bucket", "security_group_id": "security group", "role_name": "IAM role",
    "role_arn": "IAM role", "function_name": "Lambda function", "function_arn": "Lambda function",
    "eni_function": "Lambda network interfaces of function",
}
# The key whose value names the resource in a message (the others of the same kind are its details).
_NAMING_KEYS = ("vpc_id", "subnet_ids", "route_table_ids", "endpoint_id", "bucket", "bucket_pending",
                "security_group_id", "role_name", "function_name", "eni_function")


def kind_of(key: str) -> str:
    return KINDS.get(key, key.replace("_", " "))


def describe_resources(resources: dict[str, Any]) -> list[str]:
    """'VPC vpc-1', 'private subnets subnet-1 subnet-2', … for recorded ids, in the order `up` makes them."""
    named = [key for key in _NAMING_KEYS if resources.get(key)]
    named += [key for key in resources if resources.get(key) and key not in KINDS]
    lines = []
    for key in named:
        value = resources[key]
        lines.append(f"{kind_of(key)} {' '.join(value) if isinstance(value, list) else value}")
    return lines


@dataclass
class StepReport:
    step: str
    action: str  # up: created / repaired / unchanged; plan: create / change / ok; status: ok / drift / missing
    ids: dict[str, Any] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)


@dataclass
class StackReport:
    stack: str
    region: str
    steps: list[StepReport]
    outputs: dict[str, Any]
    # plan: the settings recorded by the last `up` that this one changes, as "azs: 3 -> 2".
    setting_changes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return all(s.action in ("ok", "unchanged") for s in self.steps) and not self.setting_changes


@dataclass
class DownReport:
    stack: str
    deleted: list[str]
    left: dict[str, Any]


def translated(doing: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Map any AWS error that escaped a step to one S3gwError line (SAM CLI's decorator, in small)."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def inner(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except S3gwError:
                raise
            except Exception as exc:
                if type(exc).__module__.startswith(("botocore", "boto3", "urllib3")):
                    raise translate(exc, doing) from exc
                raise

        return inner

    return wrap


def load_state(config: StackConfig, store: state_file.Store | None = None) -> state_file.State:
    """The state, checked like any input: its structure, its ids, its settings."""
    path = config.state_where
    try:
        state = state_file.load(store or state_file.open_store(config), config.stack, config.region)
    except RecursionError:
        raise StateError(f"state file {path} is nested too deeply to be an s3gw state file",
                         "move it aside or use another --state-dir") from None
    for key, value in state.resources.items():
        wanted_list = key in LIST_KEYS
        if value is None or value == "" or value == []:
            continue
        if (wanted_list and not (isinstance(value, list) and all(isinstance(v, str) for v in value))
                or not wanted_list and not isinstance(value, str)):
            raise StateError(f"state file {path}: resources.{key} is {value!r}, not "
                             + ("a list of ids" if wanted_list else "an id"), "restore the file or correct it")
    validate_settings(state.settings, f"state file {path}")
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
                 store: state_file.Store | None = None, needs_state: bool = False) -> Context:
    state = load_state(config, store)
    if needs_state:
        require_state(config, state)
    config = settle(config, state.settings)
    aws = Aws(config)
    state_file.check_account(state, aws.account)
    _tighten(state.store, progress, change=persist)
    return Context(config=config, aws=aws, state=state, progress=progress, persist=persist)


def _ids(ctx: Context, step: Step) -> dict[str, Any]:
    return {key: ctx.outputs[key] for key in step.keys if ctx.outputs.get(key) and key in OUTPUT_KEYS}


def outputs_of(values: dict[str, Any]) -> dict[str, Any]:
    return {key: values[key] for key in OUTPUT_KEYS if values.get(key)}


@translated("bringing the stack up")
def up(config: StackConfig, progress: Progress, *, ctx: Context | None = None) -> StackReport:
    if not config.state_url:
        check_state_dir(config.state_dir, writing=True)
    Aws(config)  # a profile that does not exist is refused before anything is written
    store = ctx.state.store if ctx else state_file.open_store(config)
    with state_file.locked(store, "up"):
        ctx = ctx or open_context(config, progress, persist=True, store=store)
        zone_names(ctx)  # --azs against the region's zones, before anything is created
        settings = {key: getattr(ctx.config, key) for key in SETTINGS if getattr(ctx.config, key) is not None}
        if ctx.state.settings != settings:
            ctx.state.settings = settings
            ctx.state.save()
        reports = []
        for step in STEPS:
            found = step.find(ctx)
            if found is None:
                # A resource just made is bare: configuring it (policy, rules, attributes) is part of its
                # create, not a repair, and what was "wrong" with it is not news.
                progress(f"creating {step.title}")
                step.create(ctx)
                drifts = step.check(ctx)
                if drifts:
                    progress(f"configuring {step.title}")
                    step.repair(ctx, drifts)
                action, details = "created", _attributes(ctx, step)
            else:
                for key, value in found.items():
                    ctx.record(key, value)
                drifts = step.check(ctx)
                if drifts:
                    progress(f"repairing {step.title}: " + "; ".join(d.detail for d in drifts))
                    step.repair(ctx, drifts)
                action, details = ("repaired" if drifts else "unchanged"), [d.detail for d in drifts]
            reports.append(StepReport(step.title, action, _ids(ctx, step), details))
            progress(f"{action} {step.title} " + " ".join(_flat(_ids(ctx, step))))
        return StackReport(config.stack, config.region, reports, outputs_of(ctx.outputs))


def _attributes(ctx: Context, step: Step) -> list[str]:
    try:
        return attributes(ctx, step.name)
    except KeyError:  # an earlier resource is not there, so some attribute is not known yet
        return []


def _inspect(ctx: Context, missing: str, drift: str, ok: str, describe_missing: bool = False) -> list[StepReport]:
    """find + check for every step, read-only. A step whose inputs are missing is reported, not checked."""
    reports = []
    for step in STEPS:
        found = step.find(ctx)
        if found is None:
            reports.append(StepReport(step.title, missing, {}, _attributes(ctx, step) if describe_missing else []))
            continue
        ctx.outputs.update(found)
        try:
            drifts = step.check(ctx)
        except KeyError as exc:  # an earlier resource is missing, so this one cannot be compared
            reports.append(StepReport(step.title, drift, _ids(ctx, step),
                                      [f"cannot compare: the {kind_of(str(exc.args[0]))} is missing"]))
            continue
        action = drift if drifts else ok
        reports.append(StepReport(step.title, action, _ids(ctx, step), [d.detail for d in drifts]))
    return reports


@translated("planning")
def plan(config: StackConfig, progress: Progress) -> StackReport:
    ctx = open_context(config, progress, persist=False)
    zone_names(ctx)
    # A default bucket name is not a recorded setting, but the bucket made is recorded all the same.
    recorded = {"bucket": ctx.state.resources.get("bucket"), **ctx.state.settings}
    changes = [f"{key}: {recorded[key]} -> {getattr(ctx.config, key)}" for key in SETTINGS
               if key in config.given and recorded.get(key) is not None and recorded[key] != getattr(ctx.config, key)]
    if ctx.config.bucket and ctx.outputs.get("bucket") not in (None, ctx.config.bucket):
        # The role's policy and the function's BUCKET_NAME are compared with the bucket `up` would use.
        ctx.outputs["bucket"] = ctx.config.bucket
    reports = _inspect(ctx, missing="create", drift="change", ok="ok", describe_missing=True)
    return StackReport(config.stack, config.region, reports, outputs_of(ctx.outputs), changes)


@translated("checking the stack")
def status(config: StackConfig, progress: Progress) -> StackReport:
    ctx = open_context(config, progress, persist=False, needs_state=True)
    reports = _inspect(ctx, missing="missing", drift="drift", ok="ok")
    return StackReport(config.stack, config.region, reports, outputs_of(ctx.outputs))


@translated("reading the state")
def recorded_outputs(config: StackConfig, *, required: bool = False) -> dict[str, Any]:
    """The recorded ids, from the state alone: no AWS call (but S3's for an S3 state), so it is fast."""
    state = load_state(config)
    if required:
        require_state(config, state)
    return outputs_of(state.resources)


def output_value(config: StackConfig, key: str) -> Any:
    """One recorded value: a string, or a list for subnet_ids and route_table_ids."""
    if key not in OUTPUT_KEYS:
        raise UsageError(f"unknown output {key!r}", "use one of: " + ", ".join(OUTPUT_KEYS))
    value = recorded_outputs(config, required=True).get(key)
    if not value:  # the stack is incomplete, as `status` reports it (exit 3)
        raise CheckFailed(f"stack {config.stack} has no {key} recorded: its {kind_of(key)} is missing",
                          "run 's3gw up' to finish the stack")
    return value


@translated("reading what down would delete")
def down_preview(config: StackConfig) -> tuple[list[str], int | None]:
    """What `down` would delete, by kind and id, and how many object versions the bucket holds (None when
    they cannot be counted from here: the seal may refuse the listing until `down` lifts it)."""
    from s3gw.steps.bucket import count_object_versions

    state = load_state(config)
    resources = {key: value for key, value in state.resources.items() if key != "prefix_list_id"}
    bucket = resources.get("bucket")
    if not bucket:
        return describe_resources(resources), 0
    ctx = open_context(config, lambda message: None, persist=False)
    return describe_resources(resources), count_object_versions(ctx, bucket)


# The order of `down`. Work that does not depend on Lambda's ENIs (bucket, endpoint, route tables)
# runs while they linger; what they block (security group, subnets, the role they use, the VPC) after.
_BEFORE_ENIS = ("function", "bucket", "endpoint", "route_tables")
_AFTER_ENIS = ("security_group", "subnets", "role", "vpc")


@translated("taking the stack down")
def down(config: StackConfig, progress: Progress, *, wait: float | None = None,
         ctx: Context | None = None, from_tags: bool = False) -> DownReport:
    if not config.state_url:
        check_state_dir(config.state_dir, writing=True)
    Aws(config)  # a profile that does not exist is refused before anything is written
    store = ctx.state.store if ctx else state_file.open_store(config)
    with state_file.locked(store, "down"):
        ctx = ctx or open_context(config, progress, persist=True, store=store)
        if wait is not None:
            ctx.delete_wait = wait
        if from_tags:
            _record_from_tags(ctx, progress)
        _disown_foreign(ctx, progress)
        by_name = {step.name: step for step in STEPS}
        deleted: list[str] = []

        def run(name: str) -> None:
            step = by_name[name]
            if step.recorded(ctx):
                progress(f"deleting {step.title} " + " ".join(_flat(_ids(ctx, step))))
                step.delete(ctx)
                deleted.append(step.title)

        for name in _BEFORE_ENIS:
            run(name)
        if ctx.outputs.get("eni_function"):
            progress("waiting for Lambda to release the function's network interfaces")
            try:
                wait_for_enis(ctx)
            except WaitTimeout as exc:
                exc.message += "; kept: " + ", ".join(describe_resources(_left(ctx)))
                raise
        for name in _AFTER_ENIS:
            run(name)
        left = _left(ctx)
        if not left:
            ctx.state.remove()
        return DownReport(config.stack, deleted, left)


def _record_from_tags(ctx: Context, progress: Progress) -> None:
    """`down --from-tags` (the state file was lost): find each resource by the stack's tag, record it."""
    from s3gw.inventory import stack_resources
    from s3gw.steps.function import lambda_enis

    for step in STEPS:
        try:
            found = step.find(ctx)
        except S3gwError as exc:  # a look-alike with the stack's name but not its tag: not ours
            progress(f"not taking {step.title}: {exc.message}")
            continue
        if found is None and step.name == "bucket":  # a --bucket name: look for the tag on every bucket
            tagged = stack_resources(ctx).get("buckets", [])
            found = {"bucket": tagged[0]} if len(tagged) == 1 else None
        for key, value in (found or {}).items():
            ctx.record(key, value)
    if lambda_enis(ctx, ctx.config.function_name):  # the function is gone but its ENIs linger
        ctx.record("eni_function", ctx.config.function_name)


_COMPANIONS = {"endpoint_id": "prefix_list_id", "role_name": "role_arn", "function_name": "function_arn"}


def _disown_foreign(ctx: Context, progress: Progress) -> None:
    """Never delete what lacks the stack's tag: such a recorded id is dropped from the state, not deleted."""
    from s3gw.inventory import foreign_ids

    for key, foreign in foreign_ids(ctx).items():
        progress(f"not deleting {', '.join(foreign)}: it lacks the tag s3gw:stack={ctx.config.stack}")
        value = ctx.outputs.get(key)
        kept = [v for v in value if v not in foreign] if isinstance(value, list) else []
        if kept:
            ctx.record(key, kept)
        else:
            ctx.forget(key)
            if key in _COMPANIONS:
                ctx.forget(_COMPANIONS[key])


def _left(ctx: Context) -> dict[str, Any]:
    return {key: value for key, value in ctx.state.resources.items() if value}


def _flat(ids: dict[str, Any]) -> list[str]:
    return [", ".join(v) if isinstance(v, list) else str(v) for v in ids.values()]


@translated("listing what the stack has in AWS")
def leftovers(config: StackConfig) -> dict[str, list[str]]:
    """Every resource carrying the stack's tag, whatever the state file says."""
    from s3gw.inventory import stack_resources

    return stack_resources(open_context(config, lambda message: None, persist=False))


@translated("verifying the path")
def verify(config: StackConfig, progress: Progress, *, function_name: str | None = None,
           bucket: str | None = None) -> Any:
    """Every link of the path, read-only: for the stack, or for a setup named by function and bucket."""
    from s3gw.verify import verify as verify_links

    ctx = open_context(config, progress, persist=False, needs_state=function_name is None)
    return verify_links(ctx, function_name, bucket)


@translated("invoking the function")
def test_invoke(config: StackConfig, progress: Progress, *, put_key: str | None = None) -> Any:
    """Invoke the stack's function (it lists the bucket through the endpoint) and check the seal from outside."""
    from s3gw.invoke import test_invoke as invoke_function

    ctx = open_context(config, progress, persist=False, needs_state=True)
    return invoke_function(ctx, put_key)


@translated("removing the lock")
def force_unlock(config: StackConfig) -> dict[str, Any] | None:
    """`unlock --force`: remove the stack's lock (S3), or say who still holds it (local: a live process)."""
    return state_file.open_store(config).force_unlock()


@translated("setting up the state bucket")
def state_init(config: StackConfig, progress: Progress) -> list[str]:
    from s3gw.state_s3 import init_bucket

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
