"""Progress and tables on stderr/stdout with rich; exactly one JSON document on stdout with --output json."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from typing import Any

from rich.console import Console
from rich.status import Status
from rich.table import Table

_MARKS = {
    "created": "[green]+[/]", "repaired": "[yellow]~[/]", "unchanged": "[dim]=[/]",
    "create": "[green]+[/]", "change": "[yellow]~[/]", "ok": "[green]✓[/]",
    "drift": "[yellow]~[/]", "missing": "[red]✗[/]", "pass": "[green]✓[/]", "fail": "[red]✗[/]",
}


class Renderer:
    def __init__(self, output: str = "text", verbose: bool = False) -> None:
        self.output = output
        self.verbose = verbose
        no_color = bool(os.environ.get("NO_COLOR"))
        # rich already drops colour and animation when the stream is not a terminal.
        self.err = Console(stderr=True, no_color=no_color, highlight=False, soft_wrap=True)
        self.out = Console(no_color=no_color, highlight=False, soft_wrap=True)

    def live_line(self) -> Callable[[str | None], None] | None:
        """On a terminal, a live status line (rich Status) that long waits update; None elsewhere."""
        if not self.err.is_terminal or self.output == "json":
            return None
        status: list[Status] = []

        def show(text: str | None) -> None:
            if text is None:
                if status:
                    status.pop().stop()
                return
            if status:
                status[0].update(f"[yellow]{_escape(text)}[/]")
            else:
                status.append(self.err.status(f"[yellow]{_escape(text)}[/]"))
                status[0].start()

        return show

    def progress(self, message: str) -> None:
        style = "yellow" if message.startswith("waiting") else "dim"
        self.err.print(f"[{style}]{_escape(message)}[/]")

    def error(self, line: str) -> None:
        self.err.print(f"[red]error:[/] {_escape(line)}")

    def note(self, line: str) -> None:
        self.err.print(_escape(line))

    def json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(_plain(data), indent=2, sort_keys=False) + "\n")
        sys.stdout.flush()

    def steps(self, title: str, report: Any) -> None:
        if self.output == "json":
            self.json(report)
            return
        table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
        table.add_column("", width=1)
        table.add_column("resource")
        table.add_column("state")
        table.add_column("ids / details", overflow="fold")
        for step in report.steps:
            ids = " ".join(", ".join(v) if isinstance(v, list) else str(v) for v in step.ids.values())
            text = "\n".join([ids, *step.details]) if ids else "\n".join(step.details)
            table.add_row(_MARKS.get(step.action, " "), step.step, step.action, _escape(text))
        self.out.print(table)

    def checks(self, report: Any) -> None:
        if self.output == "json":
            self.json({"ok": report.ok, "function": report.function, "bucket": report.bucket,
                       "endpoint_id": report.endpoint_id, "checks": [asdict(c) for c in report.checks]})
            return
        for check in report.checks:
            mark = "[green]✓[/]" if check.ok else "[red]✗[/]"
            self.out.print(f"{mark} {_escape(check.name)}: {_escape(check.detail)}")
            if not check.ok and check.fix:
                self.out.print(f"    [bold]fix:[/] {_escape(check.fix)}")
        broken = [c for c in report.checks if not c.ok]
        verdict = f"; first broken: {_escape(broken[0].name)}" if broken else ": the path is private and sealed"
        self.out.print(f"{len(report.checks) - len(broken)} of {len(report.checks)} links hold{verdict}")

    def invocation(self, report: Any) -> None:
        if self.output == "json":
            self.json(report)
            return
        if report.objects or report.error_type == "" and report.error == "":
            table = Table(title=f"{report.function} listed {report.bucket} through the endpoint",
                          title_justify="left", show_edge=False, pad_edge=False)
            table.add_column("key")
            table.add_column("size", justify="right")
            for item in report.objects:
                table.add_row(_escape(str(item.get("key"))), str(item.get("size")))
            self.out.print(table)
            self.out.print(f"{len(report.objects)} object(s)" + (f"; wrote {report.written}" if report.written else ""))
        if report.error:
            self.out.print(f"[red]✗[/] the function failed: {_escape(report.error_type)}: {_escape(report.error)}")
        if report.outside_detail:
            mark = {True: "[green]✓[/]", False: "[red]✗[/]"}.get(report.outside_refused, "?")
            self.out.print(f"{mark} outside the endpoint: {_escape(report.outside_detail)}")
        if report.other_detail:
            mark = {True: "[green]✓[/]", False: "[red]✗[/]"}.get(report.other_refused, "?")
            self.out.print(f"{mark} another bucket: {_escape(report.other_detail)}")
        if report.diagnosis:
            self.out.print(f"[bold]likely cause:[/] {_escape(report.diagnosis)}")
            self.out.print(f"[bold]fix:[/] {_escape(report.fix)}")
        if self.verbose and report.log_tail:
            self.err.print(_escape(report.log_tail))

    def outputs(self, values: dict[str, Any]) -> None:
        if self.output == "json":
            self.json(values)
            return
        table = Table(show_header=False, show_edge=False, pad_edge=False, box=None)
        for key, value in values.items():
            table.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
        self.out.print(table)

    def permissions(self, rows: list[dict[str, str]], policy: dict[str, Any]) -> None:
        """The table of actions (the policy document itself with --output json)."""
        table = Table(show_edge=False, pad_edge=False)
        for column in ("action", "on", "used by", "why"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(row["action"], _escape(row["on"]), row["commands"], _escape(row["why"]))
        self.out.print(table)
        self.err.print(f"{len(rows)} actions in {len(policy['Statement'])} statements; "
                       "the IAM policy document: s3gw permissions --output json")

    def bare(self, value: Any) -> None:
        """One value for $(...): lists comma-joined (as AWS CLI arguments take them); JSON with --output json."""
        if self.output == "json":
            self.json(value)
            return
        sys.stdout.write((",".join(value) if isinstance(value, list) else str(value)) + "\n")


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


def _plain(data: Any) -> Any:
    if is_dataclass(data) and not isinstance(data, type):
        return asdict(data)
    return data
