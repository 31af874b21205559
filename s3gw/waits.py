"""How a long wait shows itself, as Terraform shows one: `still creating … [10s elapsed]`.

Terraform prints "<resource>: Still creating... [10s elapsed]" every 10 s while a resource is being made
(hashicorp/terraform internal/command/views/hook_ui.go: defaultPeriodicUiTimer = 10 * time.Second,
stillRunning). s3gw does the same for every wait (IAM propagation, a function Pending or being updated, an endpoint
pending, DependencyViolation retries, Lambda's ENIs): a line every 10 s on a terminal, every 30 s in a log (a
CI job's log need not grow as fast), or, where the command has one, a live status line updated in place.
S3GW_PROGRESS_INTERVAL sets the interval in seconds (0: at every poll; tests use it).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping

from s3gw.config import finite_seconds
from s3gw.errors import UsageError

ENV_INTERVAL = "S3GW_PROGRESS_INTERVAL"
TERMINAL_EVERY = 10.0  # Terraform's period
LOG_EVERY = 30.0  # stderr is not a terminal


def every(environ: Mapping[str, str] | None = None, terminal: bool | None = None) -> float:
    """Seconds between two progress lines of one wait: S3GW_PROGRESS_INTERVAL, else by whether stderr is a terminal."""
    environ = os.environ if environ is None else environ
    text = environ.get(ENV_INTERVAL, "").strip()
    if text:
        value = finite_seconds(text)
        if value is None:
            raise UsageError(f"invalid {ENV_INTERVAL}={text!r}", "give a finite number of seconds, zero or more")
        return value
    if terminal is None:
        terminal = sys.stderr.isatty()
    return TERMINAL_EVERY if terminal else LOG_EVERY


def elapsed_text(seconds: float) -> str:
    """`10s`, `1m05s`: as Terraform's `[1m05s elapsed]`."""
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Wait:
    """One wait in progress. The caller says its first line ("waiting: …"); then each poll calls tick(), which
    updates the live line if there is one, else says `still <doing>… [Ns elapsed]` once `interval` has passed
    since the last line. end() takes the live line down."""

    def __init__(self, say: Callable[[str], None], doing: str, *, interval: float = LOG_EVERY,
                 live: Callable[[str | None], None] | None = None, bound: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.say = say
        self.doing = doing
        self.interval = interval
        self.live = live
        self.bound = bound
        self.clock = clock
        self.started = clock()
        self.said_at = self.started
        self.shown = False

    def elapsed(self) -> float:
        return self.clock() - self.started

    def line(self, detail: str = "") -> str:
        bound = f", up to {elapsed_text(self.bound)}" if self.bound is not None else ""
        line = f"still {self.doing}… [{elapsed_text(self.elapsed())} elapsed{bound}]"
        return line + (f": {detail}" if detail else "")

    def show(self, line: str) -> None:
        """Say a line now: on the live line when there is one, else as a line."""
        if self.live is not None:
            self.live(line)
        else:
            self.say(line)
            self.said_at = self.clock()
        self.shown = True

    def tick(self, detail: str = "") -> None:
        if self.live is not None or self.clock() - self.said_at >= self.interval:
            self.show(self.line(detail))

    def end(self) -> None:
        if self.shown and self.live is not None:
            self.live(None)
