"""Progress and tables on stderr/stdout with rich; exactly one JSON document on stdout with --output json."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, is_dataclass
from typing import Any

from rich.console import Console
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

    def outputs(self, values: dict[str, Any]) -> None:
        if self.output == "json":
            self.json(values)
            return
        table = Table(show_header=False, show_edge=False, pad_edge=False, box=None)
        for key, value in values.items():
            table.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
        self.out.print(table)

    def bare(self, value: str) -> None:
        sys.stdout.write(value + "\n")


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


def _plain(data: Any) -> Any:
    if is_dataclass(data) and not isinstance(data, type):
        return asdict(data)
    return data
