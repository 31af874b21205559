"""`s3gw down` (and `unseal`): find the stack by recorded id and by its tag, delete it in safe order, say what is left.

`down` walks _DOWN_ORDER in passes until nothing of the stack is left (or nothing more can go). Only what carries
the stack's tag is deleted; what the user brought (--adopt, --vpc-id) is let go of, never deleted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from s3gw import state as state_file
from s3gw.aws import overdue_call
from s3gw.commands.reports import (
    DownReport,
    describe_resources,
    flat_ids,
    step_ids,
    translated,
)
from s3gw.commands.walk import concurrent, serialised
from s3gw.config import StackConfig, settle
from s3gw.errors import S3gwError, UsageError, translate
from s3gw.graph import walk
from s3gw.run import Progress, Run, load_state
from s3gw.steps import STEPS, Context
from s3gw.steps.base import adopted
from s3gw.steps.bucket import bucket_name
from s3gw.steps.function import wait_for_enis

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
    with Run.open(config, progress, locked="down", persist=True, ctx=ctx) as run:
        ctx = run.ctx
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
    with Run.open(config) as run:
        nothing_tagged(run.ctx)


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
                 + f"{step.title} " + " ".join(flat_ids(step_ids(ctx, step))))
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
    with Run.open(config) as run:
        return lines, count_object_versions(run.ctx, bucket)


def _adopted_lines(config: StackConfig, state: state_file.State) -> list[str]:
    settled = settle(config, state.settings)
    probe = Context(config=settled, aws=None, state=state)  # type: ignore[arg-type]  # adopted() reads no AWS
    return describe_resources({k: v for k, v in state.resources.items() if adopted(probe, k)})


@translated("unsealing the bucket")
def unseal(config: StackConfig, progress: Progress) -> str:
    """Remove the bucket policy only (the seal); everything else stays. `up` puts it back."""
    from s3gw.steps.bucket import unseal as remove_seal

    with Run.open(config, progress, locked="unseal") as run:
        bucket = run.ctx.outputs.get("bucket")
        if not bucket:
            raise UsageError(f"stack {config.stack} has no bucket recorded", "run 's3gw up' first")
        remove_seal(run.ctx, bucket)
        return str(bucket)
