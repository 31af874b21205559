"""up / plan / status / outputs / down: run the steps in order and record each id the moment it exists.

Each entry point takes a StackConfig and a progress callback and returns plain data for render.py;
it never prints. Any botocore error that escapes a step is translated here into an S3gwError.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from s3gw import state as state_file
from s3gw.aws import Aws, overdue_call
from s3gw.config import SETTINGS, StackConfig, check_state_dir, settle, validate_resources, validate_settings
from s3gw.errors import CheckFailed, S3gwError, StateError, UsageError, translate
from s3gw.graph import Walked, walk
from s3gw.steps import STEPS, UP_NEEDS, Context, Step
from s3gw.steps.base import ADOPTED, adopted
from s3gw.steps.bucket import bucket_name, refuse_unowned
from s3gw.steps.function import wait_for_enis
from s3gw.steps.subnets import capture_warnings, check_brought, region_zones, zone_names
from s3gw.steps.summary import attributes

P = ParamSpec("P")
R = TypeVar("R")
Progress = Callable[[str], None]

OUTPUT_KEYS = (
    "vpc_id", "subnet_ids", "route_table_ids", "endpoint_id", "prefix_list_id", "bucket",
    "security_group_id", "role_name", "role_arn", "function_name", "function_arn",
    "app_function_name", "app_function_arn", "app_role_name", "app_role_arn", "adopted_functions",
    "dynamodb_endpoint_id", "dynamodb_prefix_list_id", "table_name", "table_arn",
)
LIST_KEYS = ("subnet_ids", "route_table_ids", "adopted_functions")

# What a recorded key stands for, in the words messages use (never the key itself).
KINDS = {
    "vpc_id": "VPC", "subnet_ids": "private subnets", "route_table_ids": "route tables",
    "endpoint_id": "S3 gateway endpoint", "prefix_list_id": "S3 gateway endpoint", "bucket": "bucket",
    "bucket_pending": "bucket", "security_group_id": "security group", "role_name": "IAM role",
    "role_arn": "IAM role", "function_name": "Lambda function", "function_arn": "Lambda function",
    "eni_function": "Lambda network interfaces of function",
    "app_function_name": "your Lambda function", "app_function_arn": "your Lambda function",
    "app_role_name": "IAM role of your function", "app_role_arn": "IAM role of your function",
    "adopted_functions": "your adopted functions",
    "dynamodb_endpoint_id": "DynamoDB gateway endpoint", "dynamodb_prefix_list_id": "DynamoDB gateway endpoint",
    "table_name": "DynamoDB table", "table_arn": "DynamoDB table",
}
# The key whose value names the resource in a message (the others of the same kind are its details).
_NAMING_KEYS = ("vpc_id", "subnet_ids", "route_table_ids", "endpoint_id", "bucket", "bucket_pending",
                "security_group_id", "role_name", "function_name", "eni_function", "app_role_name",
                "app_function_name", "adopted_functions", "dynamodb_endpoint_id", "table_name")


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
    left: dict[str, Any]  # still in AWS and kept in the state file
    problems: list[str] = field(default_factory=list)  # why: one line each
    already_gone: list[str] = field(default_factory=list)  # recorded, but AWS said it no longer exists

    @property
    def complete(self) -> bool:
        return not self.left and not self.problems


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
        if ctx is not None:
            ctx.seen.clear()  # a context handed in (tests) may hold an earlier run's reads
        ctx = concurrent(ctx or open_context(config, progress, persist=True, store=store, region=True))
        if ctx.config.max_concurrency > 1:
            progress = serialised(progress)
        zone_names(ctx)  # --azs against the region's zones, before anything is created
        check_brought(ctx)  # --vpc-id, --subnet-ids, --bucket --adopt: they exist, before anything is written
        refuse_unowned(ctx, before_anything=True)  # a bucket by the stack's name that is not the stack's: --adopt
        for line in capture_warnings(ctx):  # as plan says them: the run that attaches the endpoint says them too
            progress(line)
        for line in adopted_bucket_warnings(ctx):  # before the seal is written, as plan says them
            progress(line)
        refuse_setting_changes(ctx)
        prepare_steps(ctx)  # local checks of what the steps will upload (--code), before anything is written
        settings = {key: _setting(value) for key in SETTINGS if (value := getattr(ctx.config, key)) is not None}
        if ADOPTED in ctx.state.settings:  # what the steps recorded of what they adopted (steps.base.ADOPTED)
            settings[ADOPTED] = ctx.state.settings[ADOPTED]
        if ctx.state.settings != settings:
            ctx.state.settings = settings
            ctx.state.save()
        reports: dict[str, StepReport] = {}

        def make(step: Step) -> None:
            found = step.find(ctx)
            if found is None:
                progress(f"creating {step.title}")
                step.create(ctx)
                reports[step.name] = StepReport(step.title, "created")
            else:
                for key, value in found.items():
                    ctx.record(key, value)
                reports[step.name] = StepReport(step.title, "unchanged")

        def configure(step: Step) -> None:
            report = reports[step.name]
            drifts = step.check(ctx)
            if report.action == "created":
                # A resource just made is bare: configuring it (policy, rules, attributes) is part of its
                # create, not a repair, and what was "wrong" with it is not news.
                if drifts:
                    progress(f"configuring {step.title}")
                    step.repair(ctx, drifts)
                report.details = _attributes(ctx, step)
            elif drifts:
                progress(f"repairing {step.title}: " + "; ".join(d.detail for d in drifts))
                step.repair(ctx, drifts)
                report.action, report.details = "repaired", [d.detail for d in drifts]
            report.ids = _ids(ctx, step)
            progress(f"{report.action} {step.title} " + " ".join(_flat(report.ids)))

        try:
            if not _converged(ctx, reports, progress):
                walk_steps(ctx, make, configure).raise_first()
        finally:
            ctx.reread()  # a view of this run ("new", "none yet"): a later look with this context reads again
        in_order = [reports[step.name] for step in STEPS if step.name in reports]
        return StackReport(config.stack, config.region, _with_adoption(_with_exemptions(in_order, ctx.config), ctx),
                           outputs_of(ctx.outputs))


def prepare_steps(ctx: Context) -> None:
    """What the steps check before anything changes (Step.prepare: the --code zip and Lambda's size limit; the
    functions to adopt, and the record of what they are now)."""
    for step in STEPS:
        step.prepare(ctx)


def _converged(ctx: Context, reports: dict[str, StepReport], progress: Progress) -> bool:
    """A re-run of `up` on a stack the state records whole: first a look at everything at once, as `status` takes
    it (every find by its recorded ids, without waiting for the earlier steps). When each step is found with the
    ids recorded and none drifts, there is nothing to make or repair: `up` is done, each step "unchanged".
    Otherwise what was read is dropped and the steps run as ever (find, create, check, repair, in the graph)."""
    if not all(step.recorded(ctx) for step in STEPS if step.active(ctx)):
        return False
    recorded = dict(ctx.outputs)
    differs: list[str] = []

    def look(step: Step) -> None:
        found = step.find(ctx)
        if found is None or any(recorded.get(key) != value for key, value in found.items()):
            differs.append(step.name)
            raise _Differs(step.name)

    def compare(step: Step) -> None:
        if step.check(ctx):
            differs.append(step.name)
            raise _Differs(step.name)

    walked = walk_steps(ctx, look, compare, read_only=True)
    for error in walked.failed.values():
        if not isinstance(error, Exception):  # Ctrl-C and the like end the run
            raise error
    if differs or walked.failed or walked.skipped:
        ctx.reread()  # the steps read again what they use, now in the graph's order
        ctx.outputs.clear()
        ctx.outputs.update(recorded)
        return False
    for step in STEPS:
        if not step.active(ctx):
            continue
        reports[step.name] = StepReport(step.title, "unchanged", _ids(ctx, step))
        progress(f"unchanged {step.title} " + " ".join(_flat(reports[step.name].ids)))
    return True


class _Differs(Exception):
    """_converged's look met a step that `up` must make or repair: the look stops there."""


def walk_steps(ctx: Context, make: Callable[[Step], None], configure: Callable[[Step], None], *,
               read_only: bool = False) -> Walked:
    """Walk UP_NEEDS: `make` (find, create) and `configure` (check, repair) of each step, each once what it needs
    is done, up to --max-concurrency at once. Every id is recorded (in the state, under its lock) by the step that
    learns it, before any step that needs it starts. After a failure nothing new starts; what is running ends.

    `read_only` (plan, status): a find that would wait for another step's ids starts at once when the state
    records them; it reads by those ids, and nothing is made from what it finds. (`up` waits: a step it makes
    must use the ids the earlier step found, not a stale record.)"""
    by_name = {step.name: step for step in STEPS}
    needs: dict[str, tuple[str, ...]] = {}
    for name, (before_make, before_configure) in UP_NEEDS.items():
        if read_only:
            before_make = tuple(need for need in before_make
                                if not by_name[need.removesuffix(" made")].recorded(ctx))
        needs[f"{name} made"] = before_make
        needs[name] = (f"{name} made", *before_configure)

    def run(node: str) -> None:
        name = node.removesuffix(" made")
        if by_name[name].active(ctx):  # a kind this stack does not have (your function, without --code): passed
            (make if node.endswith(" made") else configure)(by_name[name])

    return walk(needs, run, workers=ctx.config.max_concurrency, watch=overdue_call)


def concurrent(ctx: Context) -> Context:
    """Ready a context for steps that run at once: every client made now, in this thread (a boto3 session is not
    thread-safe), and progress lines written one at a time."""
    if ctx.config.max_concurrency > 1 and not getattr(ctx.progress, "serialised", False):
        ctx.aws.prepare()
        ctx.progress = serialised(ctx.progress)
        if ctx.live is not None:
            ctx.live = serialised(ctx.live)
    return ctx


# One lock for every serialised callback: `up` and `down` serialise both their `progress` and ctx.progress (often
# the same function); a lock each would let their lines interleave. Re-entrant: a callback may call another.
_OUTPUT_LOCK = threading.RLock()


def serialised(fn: Callable[[Any], None]) -> Callable[[Any], None]:
    def one_at_a_time(value: Any) -> None:
        with _OUTPUT_LOCK:
            fn(value)

    one_at_a_time.serialised = True  # type: ignore[attr-defined]
    return one_at_a_time


def _attributes(ctx: Context, step: Step) -> list[str]:
    try:
        return attributes(ctx, step.name)
    except KeyError:  # an earlier resource is not there, so some attribute is not known yet
        return []


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


def _inspect(ctx: Context, missing: str, drift: str, ok: str, describe_missing: bool = False) -> list[StepReport]:
    """find + check for every step, read-only. A step whose inputs are missing is reported, not checked."""
    concurrent(ctx)
    reports: dict[str, StepReport] = {}

    def look(step: Step) -> None:
        found = step.find(ctx)
        if found is None:
            reports[step.name] = StepReport(step.title, missing)
            return
        ctx.outputs.update(found)

    def compare(step: Step) -> None:
        if step.name in reports:  # missing
            return
        try:
            drifts = step.check(ctx)
        except KeyError as exc:  # an earlier resource is missing, so this one cannot be compared
            reports[step.name] = StepReport(step.title, drift, _ids(ctx, step),
                                            [f"cannot compare: the {kind_of(str(exc.args[0]))} is missing"])
            return
        reports[step.name] = StepReport(step.title, drift if drifts else ok, _ids(ctx, step),
                                        [d.detail for d in drifts])

    walk_steps(ctx, look, compare, read_only=True).raise_first()
    if describe_missing:  # what would be made, once every lookup is done
        for step in STEPS:
            if step.name in reports and reports[step.name].action == missing:
                reports[step.name].details = _attributes(ctx, step)
    return [reports[step.name] for step in STEPS if step.name in reports]


def _with_exemptions(reports: list[StepReport], config: StackConfig) -> list[StepReport]:
    """The principals the seal lets in from outside the endpoint (--allow-principal), on the bucket's line."""
    for report in reports:
        if report.step == "bucket" and config.allow_principals:
            report.details.append("seal exempts (aws:PrincipalArn): " + ", ".join(config.allow_principals))
        if report.step == "bucket" and config.allow_aws_services:
            report.details.append("seal exempts AWS services (--allow-aws-services): service principals, forward "
                                  "access sessions, service-linked roles")
    return reports


def _with_adoption(reports: list[StepReport], ctx: Context) -> list[StepReport]:
    """Mark what the stack uses but did not make (--adopt, --vpc-id): `down` keeps it."""
    by_title = {step.title: step for step in STEPS}
    for report in reports:
        step = by_title.get(report.step)
        if step and any(adopted(ctx, key) for key in step.keys):
            report.details.insert(0, "(adopted) s3gw did not make it; down keeps it and undoes only s3gw's changes")
    return reports


def _setting(value: Any) -> Any:
    """A setting as the state file holds it (JSON: a tuple is a list)."""
    return list(value) if isinstance(value, tuple) else value


@translated("planning")
def plan(config: StackConfig, progress: Progress) -> StackReport:
    ctx = open_context(config, progress, persist=False, region=True)
    zone_names(ctx)
    check_brought(ctx)
    refuse_unowned(ctx, before_anything=True)
    refuse_setting_changes(ctx)
    prepare_steps(ctx)
    # What is left to show: the recorded settings this run changes and `up` converges (more --azs, --egress).
    recorded = {"bucket": ctx.state.resources.get("bucket"), **ctx.state.settings}
    given = {key: _setting(getattr(ctx.config, key)) for key in SETTINGS if key in config.given}
    changes = [f"{key}: {recorded[key]} -> {value}" for key, value in given.items()
               if recorded.get(key) is not None and recorded[key] != value]
    reports = _with_exemptions(_inspect(ctx, missing="create", drift="change", ok="ok", describe_missing=True),
                               ctx.config)
    reports = _with_adoption(reports, ctx) + traffic_reports(ctx)
    for report in reports:
        if report.step == "bucket":
            report.details += adopted_bucket_warnings(ctx)
    return StackReport(config.stack, config.region, reports, outputs_of(ctx.outputs), changes)


def adopted_bucket_warnings(ctx: Context) -> list[str]:
    """--adopt: the AWS services the seal would cut off the bucket (steps.bucket.services_cut)."""
    from s3gw.steps.bucket import bucket_name, services_cut

    if not ctx.config.adopt:
        return []
    return [f"warning: {line}" for line in services_cut(ctx, bucket_name(ctx))]


def traffic_reports(ctx: Context) -> list[StepReport]:
    """plan on a VPC the user brought: which subnets send S3 traffic through a NAT or internet gateway today."""
    from s3gw.steps.subnets import s3_traffic

    lines = s3_traffic(ctx)
    return [StepReport("S3 traffic today", "change" if any(line.startswith("moves") for line in lines) else "ok",
                       {}, lines)] if lines else []


@translated("checking the stack")
def status(config: StackConfig, progress: Progress) -> StackReport:
    ctx = open_context(config, progress, persist=False, needs_state=True, region=True)
    reports = _with_adoption(_inspect(ctx, missing="missing", drift="drift", ok="ok"), ctx)
    return StackReport(config.stack, config.region, reports, outputs_of(ctx.outputs))


@translated("reading the state")
def recorded_outputs(config: StackConfig, *, required: bool = False) -> dict[str, Any]:
    """The recorded ids, from the state alone: no AWS call (but S3's for an S3 state), so it is fast."""
    state = load_state(config)
    if required:
        require_state(config, state)
    return outputs_of(state.resources)


def state_exists(config: StackConfig) -> bool:
    """Whether the stack has a state (file or S3 object); `down` without --from-tags needs one."""
    return load_state(config).exists_on_disk


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
    kept = _adopted_lines(config, state)
    lines = [line for line in describe_resources(resources) if line not in kept]
    lines += [f"(keeping, adopted: {line}; only s3gw's changes to it are undone)" for line in kept]
    if not bucket or f"bucket {bucket}" in kept:
        return lines, 0  # an adopted bucket's objects are never deleted
    ctx = open_context(config, lambda message: None, persist=False)
    return lines, count_object_versions(ctx, bucket)


def _adopted_lines(config: StackConfig, state: state_file.State) -> list[str]:
    settled = settle(config, state.settings)
    probe = Context(config=settled, aws=None, state=state)  # type: ignore[arg-type]  # adopted() reads no AWS
    return describe_resources({k: v for k, v in state.resources.items() if adopted(probe, k)})


# The order of `down`, each with what must be gone first. Work that does not depend on Lambda's ENIs (bucket,
# endpoint, route tables) runs while they linger; what they block (security group, subnets, the role they
# use, the VPC) after. A step whose prerequisite failed is kept, not tried. Lambda's ENIs are waited out from
# the moment the function is out of the VPC (FunctionStep.detach: a function Lambda will not update yet is
# deleted then), while DeleteFunction runs; the role goes once both are done.
_DOWN_ORDER: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("function_detached", ()),
    ("function", ("function_detached",)),
    ("app_detached", ()),  # your function (steps.app), as the probe
    ("app", ("app_detached",)),
    ("adopted_functions", ()),  # put back as they were (never deleted); their ENIs in the stack's group linger
    ("bucket", ()),
    ("endpoint", ()),
    ("table", ()),  # the DynamoDB lane: a table of the stack's is deleted, an adopted one gets its policy back
    ("dynamodb_endpoint", ()),
    ("route_tables", ("endpoint", "dynamodb_endpoint")),
    ("enis", ("function_detached", "app_detached", "adopted_functions")),
    ("security_group", ("enis",)),
    ("subnets", ("enis",)),
    ("role_policies", ()),  # read only: what must come off the role, read while the ENIs are waited out
    ("role", ("enis", "function", "role_policies")),
    ("app_role_policies", ()),
    ("app_role", ("enis", "app", "app_role_policies")),
    ("vpc", ("endpoint", "dynamodb_endpoint", "route_tables", "security_group", "subnets")),
)
# Keys of older s3gw versions: read by the steps, never written now.
_LEGACY_KEYS = ("eni_function",)
_LIST_KEYS = ("subnet_ids", "route_table_ids")
# inventory.stack_resources kind -> state key
_TAGGED_KINDS = {"vpcs": "vpc_id", "subnets": "subnet_ids", "route_tables": "route_table_ids",
                 "endpoints": "endpoint_id", "security_groups": "security_group_id", "roles": "role_name",
                 "functions": "function_name", "buckets": "bucket", "app_roles": "app_role_name",
                 "app_functions": "app_function_name", "tables": "table_name"}
_MAX_PASSES = 4


def known_keys() -> set[str]:
    return {key for step in STEPS for key in step.keys} | set(_LEGACY_KEYS)


@translated("taking the stack down")
def down(config: StackConfig, progress: Progress, *, wait: float | None = None, ctx: Context | None = None,
         from_tags: bool = False, live: Callable[[str | None], None] | None = None) -> DownReport:
    """Find the stack by recorded id and by its tag, delete it in safe order, and say what is left and why.

    A resource is deleted only if it carries the stack's tag. Passes repeat while a new one turns up (a second
    VPC from a crashed run, an endpoint whose VPC is gone), so that nothing of the stack remains."""
    if not config.state_url:
        check_state_dir(config.state_dir, writing=True)
    Aws(config)  # a profile that does not exist is refused before anything is written
    store = ctx.state.store if ctx else state_file.open_store(config)
    with state_file.locked(store, "down"):
        ctx = ctx or open_context(config, progress, persist=True, store=store)
        if wait is not None:
            ctx.delete_wait = wait
        ctx.live = live
        concurrent(ctx)
        if ctx.config.max_concurrency > 1:
            progress = serialised(progress)
        if not ctx.state.exists_on_disk and not from_tags:
            nothing_tagged(ctx)  # no state file: only --from-tags deletes what a look by tag finds
            return DownReport(config.stack, [], {})
        _drop_unknown_keys(ctx, progress)
        ctx.wait_deadline = time.monotonic() + ctx.delete_wait  # one bound for the whole run, whatever the passes
        try:
            return _down_passes(ctx, progress, from_tags=from_tags)
        finally:
            ctx.wait_deadline = None  # the bound is this run's: a context used again (tests) waits as ever


class StackWithoutState(S3gwError):
    """`down` found no state, but AWS has resources carrying the stack's tag (exit 1: the stack is not gone)."""


@translated("looking for the stack by its tag")
def down_without_state(config: StackConfig) -> None:
    """`down` with no state: look by the stack's tag, read-only, taking no lock and writing nothing. Returns when
    nothing carries the tag (the stack is gone); raises StackWithoutState naming what does."""
    nothing_tagged(open_context(config, lambda message: None, persist=False))


def nothing_tagged(ctx: Context) -> None:
    """What a look by the stack's tag finds (EC2 in the whole region, the role and function by the stack's names,
    the bucket by the name `plan` would use) must be nothing, or a runbook would record as gone a stack that is up."""
    from s3gw.inventory import stack_resources

    found = stack_resources(ctx, buckets=[bucket_name(ctx)])
    if found:
        what = describe_resources({_TAGGED_KINDS[kind]: ids for kind, ids in found.items()})
        config = ctx.config
        raise StackWithoutState(
            f"stack {config.stack} has no state at {config.state_where}, but AWS has resources tagged "
            f"s3gw:stack={config.stack} in {config.region}: " + "; ".join(what),
            "pass the --state-dir (or --state) it was made with, or run 'down --from-tags' to delete them by their tag")


def _down_passes(ctx: Context, progress: Progress, *, from_tags: bool) -> DownReport:
    deleted: list[str] = []
    gone: list[str] = []  # recorded, and found already gone
    problems: dict[str, str] = {}
    refusals: list[str] = []  # buckets not proven the stack's: reported, whatever later passes do
    for _ in range(_MAX_PASSES):
        all_recorded, looked_at = _discover(ctx, scan_buckets=from_tags)
        _disown_foreign(ctx, progress)
        if not _left(ctx):
            break
        done_before = len(deleted) + len(gone)
        problems = _delete_pass(ctx, progress, deleted, gone, refusals)
        if len(deleted) + len(gone) == done_before:
            break  # nothing more can go now: what is left, and why, is in `problems`
        if not problems and not _left(ctx) and all_recorded and (
                looked_at is None or bucket_name(ctx) in looked_at):
            # No look to confirm: it would find nothing. This one read every kind by the stack's tag in the
            # whole region (and the role, function and bucket by the names the next would read); all it found
            # was recorded, and every delete answered done or already gone (DeleteVpc only once nothing is
            # left in the VPC). The stack's lock keeps other runs from making more meanwhile.
            break
        from_tags = False  # one scan of every bucket is enough
    else:
        _discover(ctx, scan_buckets=False)  # what is left after the last pass, found as ever
        _disown_foreign(ctx, progress)
    left = _left(ctx)
    if not left:
        ctx.state.remove()
        problems = {}
    return DownReport(ctx.config.stack, deleted, left, refusals + sorted(set(problems.values()) - set(refusals)),
                      [title for title in gone if title not in deleted])


def _delete_pass(ctx: Context, progress: Progress, deleted: list[str], already_gone: list[str],
                 refusals: list[str]) -> dict[str, str]:
    """One walk of _DOWN_ORDER. Each step's delete says whether it deleted something or found it all gone. An
    error on one resource is reported and keeps only what depends on it (graph.walk keep_going): the rest goes."""
    from s3gw.steps.bucket import NotOwned

    by_name = {step.name: step for step in STEPS}
    problems: dict[str, str] = {}
    gone: list[str] = []
    were_gone: list[str] = []

    def run(name: str) -> None:
        if name == "enis":
            if ctx.outputs.get("security_group_id"):
                wait_for_enis(ctx)
            return
        if name.endswith("_policies"):  # role_policies, app_role_policies
            by_name[name.removesuffix("_policies")].read_policies(ctx)  # type: ignore[attr-defined]
            return
        if name.endswith("_detached"):  # function_detached, app_detached
            by_name[name.removesuffix("_detached")].detach(ctx)  # type: ignore[attr-defined]
            return
        step = by_name[name]
        if not step.recorded(ctx):
            return
        kept = any(adopted(ctx, key) for key in step.keys)  # brought by the user: let go of, never deleted
        progress(("keeping (adopted; undoing s3gw's changes to it) " if kept else "deleting ")
                 + f"{step.title} " + " ".join(_flat(_ids(ctx, step))))
        if step.delete(ctx) and not kept:
            gone.append(name)
        elif not kept:
            progress(f"already gone: {step.title}")
            were_gone.append(name)

    walked = walk(dict(_DOWN_ORDER), run, workers=ctx.config.max_concurrency, keep_going=True, watch=overdue_call)
    for name, error in walked.failed.items():
        if not isinstance(error, Exception):  # Ctrl-C, a call past its bound: the run ends here
            raise error
        title = by_name[name].title if name in by_name else name.replace("_", " ")
        problems[name] = translate(error, f"deleting the {title}").line()  # an S3gwError as it is
        if isinstance(error, NotOwned):
            refusals.append(error.line())  # the bucket: left alone, and `down` says so (exit 1)
    for name, blocker in walked.skipped.items():  # a step whose prerequisite failed is kept, not tried
        while blocker in walked.skipped:
            blocker = walked.skipped[blocker]
        problems[name] = problems[blocker]
    deleted.extend(by_name[name].title for name, _ in _DOWN_ORDER if name in gone)
    already_gone.extend(by_name[name].title for name, _ in _DOWN_ORDER if name in were_gone)
    return problems


def _discover(ctx: Context, *, scan_buckets: bool) -> tuple[bool, list[str] | None]:
    """Record what exists of the stack, one read per kind: by the stack's tag in the whole region (what a crashed
    run made before recording it, whatever its VPC), the role and function by the names the stack gives them, the
    buckets by name. Returns whether every tagged resource found is now recorded (one per pass of a kind that holds
    one id: the next pass takes the next), and the bucket names looked at (None: all the account's).

    Not each step's find, as `up` makes them: in `down` they read what this reads again. A find by recorded id
    only confirms an id already recorded (whose tag _disown_foreign checks), and a find by VPC, name or tag finds
    only what carries the stack's tag (the finds check it), which this look finds in the whole region."""
    from s3gw.inventory import stack_resources

    ctx.seen.clear()  # deletes since the last look changed what there is: read it all again
    buckets = None if scan_buckets else [bucket_name(ctx)]
    described: dict[str, list[dict[str, Any]]] = {}
    tagged = stack_resources(ctx, buckets=buckets, described=described)
    # What the deletes use of it: the function's VPC configuration (its detach) and each table's associations.
    ctx.seen["stack_route_tables"] = {t["RouteTableId"]: t for t in described.get("route_tables", [])}
    if described.get("functions"):
        ctx.seen["function"] = described["functions"][0]
    # What carries the stack's tag now: _disown_foreign checks the tag only of recorded ids not among these.
    ctx.seen["stack_tagged"] = {_TAGGED_KINDS[kind]: set(ids) for kind, ids in tagged.items()}
    for kind, ids in tagged.items():
        key = _TAGGED_KINDS[kind]
        if key in _LIST_KEYS:
            _record_merged(ctx, key, ids)
        elif not ctx.outputs.get(key) and not (key == "bucket" and ctx.outputs.get("bucket_pending")):
            ctx.record(key, ids[0])  # one per pass: the next pass finds the next
    recorded = all(any(one == value or isinstance(value, list) and one in value
                       for value in (ctx.outputs.get(k) for k in _RECORDED_AS.get(key, (key,))))
                   for kind, ids in tagged.items() for key in [_TAGGED_KINDS[kind]] for one in ids)
    return recorded, buckets


_RECORDED_AS = {"bucket": ("bucket", "bucket_pending"), "endpoint_id": ("endpoint_id", "dynamodb_endpoint_id")}


def _record_merged(ctx: Context, key: str, value: Any) -> None:
    if key in _LIST_KEYS:
        current = list(ctx.outputs.get(key) or [])
        merged = current + [v for v in value if v not in current]
        if merged:
            ctx.record(key, merged)
    elif not ctx.outputs.get(key):
        ctx.record(key, value)


def _drop_unknown_keys(ctx: Context, progress: Progress) -> None:
    """A key this s3gw does not know (a newer version's, a hand edit) names nothing `down` can delete: keeping
    it would keep the state file, and fail every `down`, forever."""
    for key in _LEGACY_KEYS:  # `down` now finds Lambda's ENIs by the stack's security group
        ctx.forget(key)
    for key in sorted(set(ctx.state.resources) - known_keys()):
        progress(f"ignoring {key}={ctx.state.resources[key]!r} in the state file: not a resource this s3gw knows")
        ctx.forget(key)


_COMPANIONS = {"endpoint_id": "prefix_list_id", "role_name": "role_arn", "function_name": "function_arn",
               "app_role_name": "app_role_arn", "app_function_name": "app_function_arn"}


def _disown_foreign(ctx: Context, progress: Progress) -> None:
    """Never delete what lacks the stack's tag: such a recorded id is dropped from the state, not deleted."""
    from s3gw.inventory import foreign_ids

    for key, foreign in foreign_ids(ctx, tagged=ctx.seen.get("stack_tagged") or {}).items():
        if adopted(ctx, key):
            continue  # brought by the user: its step lets go of it (and never deletes it)
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
    return {key: value for key, value in ctx.state.resources.items()
            if value and key in known_keys() and key not in ("prefix_list_id", "role_arn", "function_arn",
                                                             "app_role_arn", "app_function_arn")}


def _flat(ids: dict[str, Any]) -> list[str]:
    return [", ".join(v) if isinstance(v, list) else str(v) for v in ids.values()]


@translated("listing what the stack has in AWS")
def leftovers(config: StackConfig) -> dict[str, list[str]]:
    """Every resource carrying the stack's tag, whatever the state file says."""
    from s3gw.inventory import stack_resources

    return stack_resources(open_context(config, lambda message: None, persist=False))


@translated("unsealing the bucket")
def unseal(config: StackConfig, progress: Progress) -> str:
    """Remove the bucket policy only (the seal); everything else stays. `up` puts it back."""
    from s3gw.steps.bucket import unseal as remove_seal

    store = state_file.open_store(config)
    with state_file.locked(store, "unseal"):
        ctx = open_context(config, progress, persist=False, store=store)
        bucket = ctx.outputs.get("bucket")
        if not bucket:
            raise UsageError(f"stack {config.stack} has no bucket recorded", "run 's3gw up' first")
        remove_seal(ctx, bucket)
        return str(bucket)
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


@translated("verifying the path")
def verify(config: StackConfig, progress: Progress, *, function_name: str | None = None,
           bucket: str | None = None) -> Any:
    """Every link of the path, read-only: for the stack, or for a setup named by function and bucket."""
    from s3gw.verify import verify as verify_links

    ctx = open_context(config, progress, persist=False, needs_state=function_name is None)
    return verify_links(ctx, function_name, bucket)


@translated("invoking the function")
def test_invoke(config: StackConfig, progress: Progress, *, put_key: str | None = None,
                other_bucket: str | None = None) -> Any:
    """Invoke the stack's function (it lists the bucket through the endpoint) and check the seal from outside."""
    from s3gw.invoke import test_invoke as invoke_function

    ctx = open_context(config, progress, persist=False, needs_state=True)
    return invoke_function(ctx, put_key, other_bucket=other_bucket)


@translated("invoking your function")
def invoke_function(config: StackConfig, progress: Progress, *, function_name: str | None, payload: bytes) -> Any:
    """Invoke your function (function_calls.invoke): the one deployed with --code, an adopted one, or --function."""
    from s3gw.function_calls import invoke

    ctx = open_context(config, progress, persist=False, needs_state=function_name is None)
    return invoke(ctx, function_name, payload)


@translated("reading your function's logs")
def function_logs(config: StackConfig, progress: Progress, emit: Callable[[str], None], *,
                  function_name: str | None, since: float, follow: bool) -> None:
    """Each line of your function's CloudWatch log group since `since` seconds ago to `emit`; with `follow`, on."""
    from s3gw.function_calls import log_lines

    ctx = open_context(config, progress, persist=False, needs_state=function_name is None)
    for line in log_lines(ctx, function_name, since, follow=follow):
        emit(line)


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
