"""`s3gw up`: open the run, check before anything is written, make or repair each step in the graph, report.

Every id is recorded the moment it exists (Context.record), so a run that dies anywhere is resumed by the next.
"""

from __future__ import annotations

from collections.abc import Callable

from s3gw.commands.checks import adopted_bucket_warnings, as_setting, prepare_steps, refuse_setting_changes
from s3gw.commands.reports import (
    StackReport,
    StepReport,
    flat_ids,
    outputs_of,
    step_attributes,
    step_ids,
    translated,
    with_adoption,
    with_exemptions,
)
from s3gw.commands.walk import concurrent, serialised, walk_steps
from s3gw.config import SETTINGS, StackConfig
from s3gw.run import Progress, Run
from s3gw.steps import STEPS, Context, Step
from s3gw.steps.base import ADOPTED
from s3gw.steps.bucket import refuse_unowned
from s3gw.steps.subnets import capture_warnings, check_brought, zone_names


@translated("bringing the stack up")
def up(config: StackConfig, progress: Progress, *, ctx: Context | None = None) -> StackReport:
    if ctx is not None:
        ctx.seen.clear()  # a context handed in (tests) may hold an earlier run's reads
    with Run.open(config, progress, locked="up", persist=True, region=True, ctx=ctx) as run:
        ctx = concurrent(run.ctx)
        if ctx.config.max_concurrency > 1:
            progress = serialised(progress)
        _check_before_anything(ctx, progress)
        _record_settings(ctx)
        reports: dict[str, StepReport] = {}
        try:
            if not _converged(ctx, reports, progress):
                walk_steps(ctx, *_makers(ctx, reports, progress)).raise_first()
        finally:
            ctx.reread()  # a view of this run ("new", "none yet"): a later look with this context reads again
        in_order = [reports[step.name] for step in STEPS if step.name in reports]
        return StackReport(config.stack, config.region, with_adoption(with_exemptions(in_order, ctx.config), ctx),
                           outputs_of(ctx.outputs))


def _check_before_anything(ctx: Context, progress: Progress) -> None:
    """What needs AWS but changes nothing, and what the steps check locally: all of it before the first write."""
    zone_names(ctx)  # --azs against the region's zones, before anything is created
    check_brought(ctx)  # --vpc-id, --subnet-ids, --bucket --adopt: they exist, before anything is written
    refuse_unowned(ctx, before_anything=True)  # a bucket by the stack's name that is not the stack's: --adopt
    for line in capture_warnings(ctx):  # as plan says them: the run that attaches the endpoint says them too
        progress(line)
    for line in adopted_bucket_warnings(ctx):  # before the seal is written, as plan says them
        progress(line)
    refuse_setting_changes(ctx)
    prepare_steps(ctx)  # local checks of what the steps will upload (--code), before anything is written


def _record_settings(ctx: Context) -> None:
    """What this `up` was asked for, saved before the first resource is made."""
    settings = {key: as_setting(value) for key in SETTINGS if (value := getattr(ctx.config, key)) is not None}
    if ADOPTED in ctx.state.settings:  # what the steps recorded of what they adopted (steps.base.ADOPTED)
        settings[ADOPTED] = ctx.state.settings[ADOPTED]
    if ctx.state.settings != settings:
        ctx.state.settings = settings
        ctx.state.save()


def _makers(ctx: Context, reports: dict[str, StepReport],
            progress: Progress) -> tuple[Callable[[Step], None], Callable[[Step], None]]:
    """The two halves of each step in the walk: make (find, else create) and configure (check, then repair)."""

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
            report.details = step_attributes(ctx, step)
        elif drifts:
            progress(f"repairing {step.title}: " + "; ".join(d.detail for d in drifts))
            step.repair(ctx, drifts)
            report.action, report.details = "repaired", [d.detail for d in drifts]
        report.ids = step_ids(ctx, step)
        progress(f"{report.action} {step.title} " + " ".join(flat_ids(report.ids)))

    return make, configure


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
        reports[step.name] = StepReport(step.title, "unchanged", step_ids(ctx, step))
        progress(f"unchanged {step.title} " + " ".join(flat_ids(reports[step.name].ids)))
    return True


class _Differs(Exception):
    """_converged's look met a step that `up` must make or repair: the look stops there."""
