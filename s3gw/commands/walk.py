"""The walker glue: UP_NEEDS walked through graph.walk, and a context readied for steps that run at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from s3gw.aws import overdue_call
from s3gw.graph import Walked, walk
from s3gw.steps import STEPS, UP_NEEDS, Context, Step


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
