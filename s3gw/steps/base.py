"""What every step shares: the context it runs in, drift findings, and bounded retries."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from s3gw.aws import Aws
from s3gw.config import StackConfig
from s3gw.errors import WaitTimeout, error_code, error_message, translate
from s3gw.state import State
from s3gw.waits import Wait, elapsed_text, every

T = TypeVar("T")
Progress = Callable[[str], None]

STACK_TAG = "s3gw:stack"
# What a run reads of the region, not of the stack (Context.seen keys): the same for the whole run.
REGION = ("s3_prefix_lists", "gateway_services", "s3_service_name", "dynamodb_prefix_list", "dynamodb_service_name")
# `down --wait` default: 45 min, as terraform-provider-aws waits for Lambda's ENIs (the Lambda team's P99 is
# ~35 min; internal/service/ec2/vpc_network_interface.go, deleteLingeringLambdaENIs).
DELETE_WAIT = 2700.0


@dataclass(frozen=True)
class Drift:
    """One way a resource differs from what `up` would make it. `key` tells repair() what to fix."""

    key: str
    detail: str


@dataclass
class Context:
    config: StackConfig
    aws: Aws
    state: State
    progress: Progress = lambda message: None  # noqa: E731 - a quiet default for tests
    persist: bool = True  # False for plan and status: ids found are kept in memory, never written
    outputs: dict[str, Any] = field(default_factory=dict)
    iam_propagation_wait: float = 150.0
    active_wait: float = 300.0
    delete_wait: float = DELETE_WAIT  # `down --wait`: how long to wait out lingering ENIs and dependencies
    wait_deadline: float | None = None  # time.monotonic() when `down`'s whole bound (delete_wait) runs out
    live: Callable[[str | None], None] | None = None  # a live status line (a terminal); None ends it
    sleep: Callable[[float], None] = time.sleep
    progress_every: float = field(default_factory=every)  # seconds between a wait's lines (s3gw.waits)
    zones: list[str] | None = None  # the region's availability zones, read once per run (steps.subnets)
    # What this run has read (or just made) of each resource, by name: a later find/check/repair uses it rather
    # than ask AWS again. A step that changes a resource updates its entry or drops it (unsee); `down` drops all.
    seen: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.outputs.update(self.state.resources)

    def record(self, key: str, value: Any) -> None:
        """Remember an id; in `up` it is written to the state file before the next API call."""
        self.outputs[key] = value
        if self.persist:
            self.state.set(key, value)

    def remember(self, name: str, read: Callable[[], T]) -> T:
        """What `read` answered earlier in this run, else its answer now (kept for the rest of the run)."""
        if name not in self.seen:
            self.seen[name] = read()
        return self.seen[name]  # type: ignore[no-any-return]

    def reread(self) -> None:
        """Drop what this run read of the stack's resources, to read it again; the region's facts stay (REGION)."""
        kept = {name: self.seen[name] for name in REGION if name in self.seen}
        self.seen.clear()
        self.seen.update(kept)

    def unsee(self, *names: str) -> None:
        for name in names:
            self.seen.pop(name, None)

    def forget(self, key: str) -> None:
        self.outputs.pop(key, None)
        if self.persist:
            self.state.drop(key)

    def tags(self, name: str, **extra: str) -> list[dict[str, str]]:
        tags = [{"Key": STACK_TAG, "Value": self.config.stack}, {"Key": "Name", "Value": name}]
        tags += [{"Key": f"s3gw:{key}", "Value": value} for key, value in extra.items()]
        return tags

    def tag_spec(self, resource_type: str, name: str, **extra: str) -> list[dict[str, Any]]:
        return [{"ResourceType": resource_type, "Tags": self.tags(name, **extra)}]

    def stack_filter(self) -> dict[str, Any]:
        return {"Name": f"tag:{STACK_TAG}", "Values": [self.config.stack]}


# Bring your own (issue 15). What the stack uses but did not make: recorded like the rest, never deleted by `down`,
# which undoes only what s3gw added to it (its policy statements, the route tables it attached to an endpoint).
# The bucket and VPC follow the recorded settings (--adopt, --vpc-id); an endpoint s3gw found in the VPC is
# recorded in settings["adopted"] = {"endpoint_id": ..., "route_tables_added": [...]}, and the bucket's policy as it
# was before s3gw added to it in settings["adopted"]["policy_before"] ("" for none).
ADOPTED = "adopted"


def adopted(ctx: Context, key: str) -> bool:
    """Whether the resource recorded under `key` is one the user brought (s3gw must not delete it)."""
    if key in ("bucket", "bucket_pending"):
        return bool(ctx.config.adopt)
    if key in ("vpc_id", "subnet_ids", "route_table_ids"):
        return bool(ctx.config.vpc_id)
    if key in ("endpoint_id", "prefix_list_id"):
        return bool(adoption(ctx).get("endpoint_id"))
    return key == "adopted_functions"  # up --function NAME --adopt (steps.adopted_functions): always brought


def adoption(ctx: Context) -> dict[str, Any]:
    record = ctx.state.settings.get(ADOPTED)
    return dict(record) if isinstance(record, dict) else {}


def record_adoption(ctx: Context, **values: Any) -> None:
    """Write (or, with None, drop) an adoption detail; saved at once in `up` and `down`, kept in memory in plan."""
    def change(settings: dict[str, Any]) -> None:
        record = adoption(ctx)
        for key, value in values.items():
            if value is None:
                record.pop(key, None)
            else:
                record[key] = value
        if record:
            settings[ADOPTED] = record
        else:
            settings.pop(ADOPTED, None)

    # Under the state's lock: the endpoint's and the bucket's adoption details may be recorded at once.
    ctx.state.change_settings(change, save=ctx.persist)


# What AWS answers for a resource it does not have: one that is gone, or (right after its create) one that
# exists but is not yet visible to another call.
NOT_FOUND = ("NoSuchBucket", "NoSuchEntity", "ResourceNotFoundException")
VISIBLE_WAIT = 60.0


def is_not_found(exc: BaseException) -> bool:
    code = error_code(exc)
    return code.endswith(".NotFound") or code in NOT_FOUND


def tag_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    """AWS's [{"Key": k, "Value": v}] tag list as a dict."""
    return {t["Key"]: t["Value"] for t in tags or []}


def call(doing: str, fn: Callable[..., T], *args: Any, retry_not_found: Context | None = None,
         already_done: tuple[str, ...] = (), **kwargs: Any) -> T | None:
    """Make one AWS call; turn a failure into an S3gwError that says what was being done.

    With `retry_not_found=ctx`, a `*.NotFound` (NoSuchBucket, NoSuchEntity, ResourceNotFoundException) is
    retried for up to VISIBLE_WAIT seconds: AWS is eventually consistent, and a call that uses a resource
    made a moment ago (CreateSubnet in a new VPC, AssociateRouteTable on a new table) may not see it yet.
    An error whose code is in `already_done` returns None: it is what a re-sent request meets when the
    first one acted but its reply was lost (botocore re-sends after a reset), e.g. InvalidPermission.Duplicate.
    """

    def attempt() -> T | None:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if already_done and is_code(exc, *already_done):
                return None
            raise

    if retry_not_found is not None:
        return retry(retry_not_found, doing, attempt, retry_if=is_not_found,
                     waiting_for=f"what {doing} uses to be visible (it was just made)",
                     timeout=VISIBLE_WAIT)
    try:
        return attempt()
    except Exception as exc:
        raise translate(exc, doing) from exc


def at_once(ctx: Context, *reads: Callable[[], Any]) -> list[Any]:
    """Independent reads of one step, up to --max-concurrency at once; their answers in order. The first to fail
    (in order) raises, once all have ended. With --max-concurrency 1, one after another in this thread."""
    if ctx.config.max_concurrency < 2 or len(reads) < 2:
        return [read() for read in reads]
    from s3gw.aws import overdue_call
    from s3gw.graph import walk

    # The graph's walker, not a bare thread pool: its threads are daemons and it watches the calls in flight
    # (aws.overdue_call), so a read that never gets an answer ends the run within S3GW_CALL_TIMEOUT even when
    # at_once runs in the main thread, where SIGALRM cannot reach the reading threads.
    answers: dict[int, Any] = {}

    def run(node: str) -> None:
        answers[int(node)] = reads[int(node)]()

    walk({str(index): () for index in range(len(reads))}, run, workers=min(len(reads), ctx.config.max_concurrency),
         keep_going=True, watch=overdue_call).raise_first()
    return [answers[index] for index in range(len(reads))]


def ahead(ctx: Context, name: str, read: Callable[[], Any]) -> None:
    """Read now what check() will ask ctx.remember for under `name`, at once with a find that reads by recorded ids:
    status, plan and a re-run of `up` then read the whole stack in one round. A read that fails is left to check(),
    which reads again (retrying what is not visible yet) and reports what still fails."""
    with contextlib.suppress(Exception):  # check() reads again and says why
        ctx.seen[name] = read()


def look_ahead(ctx: Context) -> bool:
    """Whether a find reads ahead for check(): not one request at a time, where it would gain nothing."""
    return ctx.config.max_concurrency > 1


def describe_by_id(fn: Callable[..., dict[str, Any]], result_key: str, *, gone: tuple[str, ...],
                   **ids: Any) -> list[dict[str, Any]]:
    """A describe of recorded ids: what AWS has, or [] when it answers that the id no longer exists (the
    record is stale, and the caller falls back to a lookup by tag)."""
    try:
        return list(fn(**ids)[result_key])
    except Exception as exc:
        if not is_code(exc, *gone):
            raise
        return []


# Answers after which a create may or may not have taken effect: AWS can act before its reply is lost.
_THROTTLING = ("Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
               "RequestThrottled", "SlowDown", "InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable")


def is_transient(exc: BaseException) -> bool:
    from botocore.exceptions import ConnectionError as BotocoreConnectionError
    from botocore.exceptions import HTTPClientError

    if isinstance(exc, BotocoreConnectionError | HTTPClientError):
        return True
    status = (getattr(exc, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return error_code(exc) in _THROTTLING or status >= 500


def create_once(ctx: Context, doing: str, create: Callable[[], T], existing: Callable[[], T | None], *,
                conflicts: tuple[str, ...] = ()) -> T:
    """A create with no ClientToken (CreateVpc, CreateSubnet, CreateSecurityGroup): re-sending it blindly, as
    botocore's retries would, can make a second resource when the first try acted but its reply was lost.
    So `create` uses a client without retries, and before each new try `existing` looks whether it did.
    An error in `conflicts` (InvalidSubnet.Conflict: the CIDR is taken) also looks: when what holds it is the
    stack's own (another run of the stack made it meanwhile), it is taken rather than failed on."""
    tries = 0

    def attempt() -> T:
        nonlocal tries
        tries += 1
        found = existing() if tries > 1 else None
        if found is not None:
            return found
        try:
            return create()
        except Exception as exc:
            if conflicts and is_code(exc, *conflicts) and (found := existing()) is not None:
                return found
            raise

    return retry(ctx, doing, attempt, retry_if=lambda exc: is_transient(exc) or is_not_found(exc),
                 waiting_for=f"what {doing} uses to be visible (it was just made), or an answer from AWS",
                 timeout=VISIBLE_WAIT, first_delay=0.5)


def not_visible(code: str) -> Any:
    """Raise what AWS answers for a resource not yet visible after its create, so retry() waits it out."""
    from botocore.exceptions import ClientError

    raise ClientError({"Error": {"Code": code, "Message": "not visible yet"}}, "Describe")


def is_code(exc: BaseException, *codes: str) -> bool:
    return error_code(exc) in codes


def retry(
    ctx: Context,
    doing: str,
    fn: Callable[[], T],
    *,
    retry_if: Callable[[BaseException], bool],
    waiting_for: str,
    timeout: float,
    first_delay: float = 1.0,
    max_delay: float = 15.0,
) -> T:
    """Retry what AWS answers with 'not yet' (IAM propagation, DependencyViolation, NotFound after create).

    Bounded by `timeout` seconds; says what it waits for on the first retry, then shows the wait as Terraform does
    (`still <doing>… [Ns elapsed]`, s3gw.waits).
    """
    started = time.monotonic()
    deadline = started + timeout
    if ctx.wait_deadline is not None:  # `down --wait`: one bound for every wait of the run, these retries included
        deadline = min(deadline, ctx.wait_deadline)
    delay = first_delay
    wait: Wait | None = None
    attempt = 0
    try:
        while True:
            attempt += 1
            try:
                return fn()
            except Exception as exc:
                if not retry_if(exc):
                    raise translate(exc, doing) from exc
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout(
                        f"{doing}: still {waiting_for} after {max(deadline - started, 0):.0f}s "
                        f"({error_code(exc)}: {error_message(exc)})",
                        "run the command again later; everything created so far is recorded",
                    ) from exc
                code = error_code(exc) or type(exc).__name__
                if wait is None:
                    ctx.progress(f"waiting: {waiting_for} ({code}), up to {remaining:.0f}s more")
                    wait = start_wait(ctx, doing)
                else:
                    wait.tick(f"waiting for {waiting_for} ({code})")
                ctx.sleep(min(delay * (0.5 + random.random() / 2), remaining))
                delay = min(delay * 2, max_delay)
    finally:
        if wait is not None:
            wait.end()


def delete_retrying(ctx: Context, doing: str, fn: Callable[[], Any], *, gone: tuple[str, ...] = (),
                    waiting_for: str) -> bool:
    """Delete one resource, retrying DependencyViolation while `down`'s bound (--wait) lasts. True when this call
    deleted it; False when it was already gone: any `*.NotFound` (each delete call names that one resource, so a
    NotFound is about it: InvalidVpcID.NotFound, InvalidGroup.NotFound, …) or a code in `gone`."""
    deleted = True

    def attempt() -> None:
        nonlocal deleted
        try:
            fn()
        except Exception as exc:
            if not (is_not_found(exc) or is_code(exc, *gone)):
                raise
            deleted = False

    timeout = ctx.delete_wait if ctx.wait_deadline is None else ctx.wait_deadline - time.monotonic()
    retry(ctx, doing, attempt, retry_if=lambda exc: is_code(exc, "DependencyViolation"),
          waiting_for=waiting_for, timeout=max(timeout, 0.0))
    return deleted


duration = elapsed_text  # `1m05s`


def start_wait(ctx: Context, doing: str, bound: float | None = None) -> Wait:
    """A wait of this run, shown as every wait is (s3gw.waits): on ctx's live line, else ctx.progress lines."""
    return Wait(ctx.progress, doing, interval=ctx.progress_every, live=ctx.live, bound=bound)


class Waiting:
    """What a long bounded wait shows: its first line, then (s3gw.waits.Wait) a live line on a terminal (ctx.live),
    else a line every ctx.progress_every s, each with the elapsed time, the bound and what still blocks."""

    def __init__(self, ctx: Context, doing: str = "waiting for Lambda's network interfaces to go") -> None:
        self.ctx = ctx
        self.bound = ctx.delete_wait
        self.started = time.monotonic()
        self.deadline = ctx.wait_deadline if ctx.wait_deadline is not None else self.started + self.bound
        self.wait = start_wait(ctx, doing, bound=self.bound)
        self.shown = False

    @property
    def bound_text(self) -> str:
        return duration(self.bound)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def show(self, blocking: str) -> None:
        if self.shown:
            self.wait.tick(blocking)
        else:
            self.wait.show(f"waiting {duration(self.elapsed())} (up to {self.bound_text}): {blocking}")
        self.shown = True

    def done(self) -> None:
        self.wait.end()


# The steps of an endpoint-only stack: the user's VPC and tables (recorded, never made), and the endpoint.
ENDPOINT_ONLY_STEPS = ("vpc", "route_tables", "endpoint", "dynamodb_endpoint")


def endpoint_only_services(ctx: Context) -> tuple[str, ...]:
    """The services of an endpoint-only stack's endpoints (--services; s3 when not given)."""
    return ctx.config.services or ("s3",)


class Step:
    """One resource kind. `up` runs find → (create) → check → repair; `down` runs delete."""

    name: str = ""
    title: str = ""
    keys: tuple[str, ...] = ()

    def find(self, ctx: Context) -> dict[str, Any] | None:
        """Read-only: the outputs of the existing resource (by recorded id, else by tag), or None."""
        raise NotImplementedError

    def create(self, ctx: Context) -> None:
        """Create the bare resource, tagged, and record its ids at once. check/repair do the rest."""
        raise NotImplementedError

    def check(self, ctx: Context) -> list[Drift]:
        """Read-only: how the existing resource differs from what it should be."""
        return []

    def repair(self, ctx: Context, drifts: list[Drift]) -> None:
        """Make the changes that check() found; makes no call when `drifts` is empty."""

    def delete(self, ctx: Context) -> bool:
        """Delete what the state records; already gone counts as success. Forget each id once gone. True when
        this call deleted something, False when all of it was already gone (`down` reports it so)."""
        raise NotImplementedError

    def recorded(self, ctx: Context) -> bool:
        return any(ctx.outputs.get(key) for key in self.keys)

    def prepare(self, ctx: Context) -> None:
        """`up` and `plan`, before anything changes: local and read-only checks of what this step will do (the
        --code zip; functions to adopt), and, in `up`, the record of what an adopted resource is now."""

    def active(self, ctx: Context) -> bool:
        """Whether this stack has this kind at all (the user's function: only with --code). `up`, `plan` and
        `status` pass over an inactive step; `down` deletes whatever is recorded. An endpoint-only stack
        (`up --endpoint-only`) has the endpoint on the user's tables in the user's VPC, nothing else."""
        return not ctx.config.endpoint_only or self.name in ENDPOINT_ONLY_STEPS
