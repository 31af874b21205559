"""The commands that look and change nothing: `plan`, `status`, `outputs`, and what is left in AWS by the tag."""

from __future__ import annotations

from typing import Any

from s3gw.commands.checks import adopted_bucket_warnings, as_setting, prepare_steps, refuse_setting_changes
from s3gw.commands.reports import (
    OUTPUT_KEYS,
    StackReport,
    StepReport,
    kind_of,
    outputs_of,
    step_attributes,
    step_ids,
    translated,
    with_adoption,
    with_exemptions,
)
from s3gw.commands.walk import concurrent, walk_steps
from s3gw.config import SETTINGS, StackConfig
from s3gw.errors import CheckFailed, UsageError
from s3gw.run import Progress, Run, load_state, require_state
from s3gw.steps import STEPS, Context, Step
from s3gw.steps.bucket import refuse_unowned
from s3gw.steps.subnets import check_brought, zone_names


@translated("planning")
def plan(config: StackConfig, progress: Progress) -> StackReport:
    with Run.open(config, progress, region=True) as run:
        return _plan(config, run.ctx)


def _plan(config: StackConfig, ctx: Context) -> StackReport:
    zone_names(ctx)
    check_brought(ctx)
    refuse_unowned(ctx, before_anything=True)
    refuse_setting_changes(ctx)
    prepare_steps(ctx)
    # What is left to show: the recorded settings this run changes and `up` converges (more --azs, --egress).
    recorded = {"bucket": ctx.state.resources.get("bucket"), **ctx.state.settings}
    given = {key: as_setting(getattr(ctx.config, key)) for key in SETTINGS if key in config.given}
    changes = [f"{key}: {recorded[key]} -> {value}" for key, value in given.items()
               if recorded.get(key) is not None and recorded[key] != value]
    reports = with_exemptions(_inspect(ctx, missing="create", drift="change", ok="ok", describe_missing=True),
                               ctx.config)
    reports = with_adoption(reports, ctx) + traffic_reports(ctx)
    for report in reports:
        if report.step == "bucket":
            report.details += adopted_bucket_warnings(ctx)
    return StackReport(config.stack, config.region, reports, outputs_of(ctx.outputs), changes)


def traffic_reports(ctx: Context) -> list[StepReport]:
    """plan on a VPC the user brought: which subnets send S3 traffic through a NAT or internet gateway today."""
    from s3gw.steps.subnets import s3_traffic

    lines = s3_traffic(ctx)
    return [StepReport("S3 traffic today", "change" if any(line.startswith("moves") for line in lines) else "ok",
                       {}, lines)] if lines else []


@translated("checking the stack")
def status(config: StackConfig, progress: Progress) -> StackReport:
    with Run.open(config, progress, needs_state=True, region=True) as run:
        reports = with_adoption(_inspect(run.ctx, missing="missing", drift="drift", ok="ok"), run.ctx)
        return StackReport(config.stack, config.region, reports, outputs_of(run.ctx.outputs))


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
            reports[step.name] = StepReport(step.title, drift, step_ids(ctx, step),
                                            [f"cannot compare: the {kind_of(str(exc.args[0]))} is missing"])
            return
        reports[step.name] = StepReport(step.title, drift if drifts else ok, step_ids(ctx, step),
                                        [d.detail for d in drifts])

    walk_steps(ctx, look, compare, read_only=True).raise_first()
    if describe_missing:  # what would be made, once every lookup is done
        for step in STEPS:
            if step.name in reports and reports[step.name].action == missing:
                reports[step.name].details = step_attributes(ctx, step)
    return [reports[step.name] for step in STEPS if step.name in reports]


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


@translated("listing what the stack has in AWS")
def leftovers(config: StackConfig) -> dict[str, list[str]]:
    """Every resource carrying the stack's tag, whatever the state file says."""
    from s3gw.inventory import stack_resources

    with Run.open(config) as run:
        return stack_resources(run.ctx)
