"""Progress and tables on stderr/stdout with rich; exactly one JSON document on stdout with --output json."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from typing import Any

from rich.console import Console
from rich.status import Status

from s3gw.errors import redact
from s3gw.words import plural

# The version of every JSON document's shape ("schema": 1 first in each); raised when a key changes meaning or goes.
JSON_SCHEMA = 1

_MARKS = {
    "created": "[green]+[/]", "repaired": "[yellow]~[/]", "unchanged": "[dim]=[/]",
    "create": "[green]+[/]", "change": "[yellow]~[/]", "ok": "[green]✓[/]",
    "drift": "[yellow]~[/]", "missing": "[red]✗[/]", "pass": "[green]✓[/]", "fail": "[red]✗[/]",
}
# The closing line of each kind of report: (prefix, [(action, words)]); the JSON summary's keys are the words.
_SUMMARIES = {
    "up": [("created", "created"), ("repaired", "repaired"), ("unchanged", "unchanged")],
    "plan": [("create", "to create"), ("change", "to change"), ("ok", "unchanged")],
    "status": [("ok", "ok"), ("drift", "drifted"), ("missing", "missing")],
}


class Renderer:
    """Text for people and for runbooks alike: plain lines, never wrapped or padded (a pipe gets the same
    lines a terminal does, without colour); with --output json, exactly one document on stdout."""

    def __init__(self, output: str = "text", verbose: bool = False, color: bool = True) -> None:
        self.output = output
        self.verbose = verbose
        self.started = time.monotonic()  # made as the command starts: its JSON's "elapsed"
        no_color = not color or bool(os.environ.get("NO_COLOR"))
        # soft_wrap: rich never breaks a line at the console width (80 columns when stdout is a pipe).
        # color_system None: no escape codes at all with --no-color; rich drops them anyway off a terminal.
        options: dict[str, Any] = {"highlight": False, "soft_wrap": True, "emoji": False}
        if no_color:
            options["color_system"] = None
        self.err = Console(stderr=True, **options)
        self.out = Console(**options)

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

    def result(self, line: str) -> None:
        """One line of the command's result, on stdout."""
        self.out.print(_escape(line))

    def json(self, data: Any, summary: dict[str, int] | None = None, *, elapsed: bool = True) -> None:
        """One document: "schema" first, the data's keys, then the counts of the text's summary line and the
        seconds since the command started (not for `outputs`, whose keys are the output keys)."""
        document: dict[str, Any] = {"schema": JSON_SCHEMA, **_plain(data)}
        if summary is not None:
            document["summary"] = summary
        if elapsed:
            document["elapsed"] = round(time.monotonic() - self.started, 1)
        self.raw_json(document)

    def raw_json(self, data: Any) -> None:
        """A document as it is (`permissions`: an IAM policy, which takes no other top-level key)."""
        sys.stdout.write(json.dumps(_plain(data), indent=2, sort_keys=False) + "\n")
        sys.stdout.flush()

    def steps(self, title: str, report: Any, kind: str = "", elapsed: float | None = None) -> None:
        """One line per resource (mark, resource, action, ids), its details indented below, then a summary."""
        if self.output == "json":
            self.json(report, summary_counts(kind, report) if kind in _SUMMARIES else None)
            return
        self.out.print(_escape(title))
        for change in getattr(report, "setting_changes", []):
            self.out.print(f"[yellow]~[/] setting {_escape(change)} (recorded by the last up)")
        for step in report.steps:
            ids = " ".join(" ".join(v) if isinstance(v, list) else str(v) for v in step.ids.values())
            self.out.print(f"{_MARKS.get(step.action, ' ')} {_escape(step.step)}: {step.action}"
                           + (f" {_escape(ids)}" if ids else ""))
            for detail in step.details:
                self.out.print(f"    {_escape(detail)}")
        if kind in _SUMMARIES:
            self.out.print(summary_line(kind, report, elapsed))

    def checks(self, report: Any) -> None:
        if self.output == "json":
            self.json(verify_document(report), verify_counts(report))
            return
        for check in report.checks:
            mark = "[green]✓[/]" if check.ok else "[red]✗[/]"
            self.out.print(f"{mark} {_escape(check.name)}: {_escape(check.detail)}")
            if not check.ok and check.fix:
                self.out.print(f"    [bold]fix:[/] {_escape(check.fix)}")
        self.out.print(_escape(verdict_line(report)))

    def path_graph(self, document: Any, graph: Any, fmt: str, closing: str, title: str = "",
                   summary: dict[str, int] | None = None) -> None:
        """`status --graph`, `verify --graph`: the path as a tree (rich on a terminal, plain lines in a pipe or with
        NO_COLOR) then the command's closing line; a Mermaid flowchart with --format mermaid; with --output json,
        the command's document with a "graph" object (pathgraph.Node as a dict)."""
        from s3gw import pathgraph

        if self.output == "json":
            self.json({**_plain(document), "graph": graph.as_dict()}, summary)
            return
        if fmt == "mermaid":
            sys.stdout.write(pathgraph.mermaid(graph) + "\n")
            sys.stdout.flush()
            return
        if title:
            self.out.print(_escape(title))
        if self.out.is_terminal and self.out.color_system is not None:
            self.out.print(_rich_tree(graph))
        else:
            sys.stdout.write("".join(line + "\n" for line in pathgraph.text_lines(graph)))
            sys.stdout.flush()
        self.out.print(_escape(closing))

    def invocation(self, report: Any) -> None:
        if self.output == "json":
            self.json(report, {"objects": len(report.objects)})
            return
        if report.objects or report.error_type == "" and report.error == "":
            over = f" over {'IPv6' if report.family == 'ipv6' else 'IPv4'}" if report.family else ""
            self.out.print(f"{_escape(report.function)} listed {_escape(report.bucket)}{over} through the endpoint:")
            for item in report.objects:
                self.out.print(f"  {_escape(str(item.get('key')))} ({item.get('size')} bytes)")
            wrote = f"; wrote {report.written}" if report.written else ""
            self.out.print(plural(len(report.objects), "object") + wrote)
        if report.error:
            self.out.print(f"[red]✗[/] the function failed: {_escape(report.error_type)}: {_escape(report.error)}")
        if report.outside_detail:
            mark = {True: "[green]✓[/]", False: "[red]✗[/]"}.get(report.outside_refused, "?")
            self.out.print(f"{mark} outside the endpoint: {_escape(report.outside_detail)}")
        if report.other_detail:
            mark = {True: "[green]✓[/]", False: "[red]✗[/]"}.get(report.other_refused, "?")
            self.out.print(f"{mark} another bucket: {_escape(report.other_detail)}")
        table = getattr(report, "table", None)
        if table is not None:
            ok = "[green]✓[/]" if table.written and table.read is not None and not table.error else "[red]✗[/]"
            done = (f"wrote and read item {table.key}={_escape(str(table.read and 's3gw-probe'))} through the "
                    "DynamoDB endpoint") if not table.error else f"failed: {_escape(table.error)}"
            self.out.print(f"{ok} table {_escape(table.table)}: {done}")
            for refused, detail, what in ((table.outside_refused, table.outside_detail, "outside the endpoint"),
                                          (table.other_refused, table.other_detail, "another table")):
                if detail:
                    mark = {True: "[green]✓[/]", False: "[red]✗[/]"}.get(refused, "?")
                    self.out.print(f"{mark} {what}: {_escape(detail)}")
        if report.diagnosis:
            self.out.print(f"[bold]likely cause:[/] {_escape(report.diagnosis)}")
            self.out.print(f"[bold]fix:[/] {_escape(report.fix)}")
        if self.verbose and report.log_tail:
            self.err.print(_escape(report.log_tail))

    def outputs(self, values: dict[str, Any]) -> None:
        """`key<TAB>value` lines, a list space-separated: `s3gw outputs | awk '$1=="subnet_ids"'` works."""
        if self.output == "json":
            self.json(values, elapsed=False)
            return
        for key, value in values.items():
            sys.stdout.write(f"{key}\t{_flat(value)}\n")
        sys.stdout.flush()

    def permissions(self, rows: list[dict[str, str]], policy: dict[str, Any]) -> None:
        """The table of actions (the policy document itself with --output json)."""
        # `action<TAB>on<TAB>used by<TAB>why` lines, like `outputs`: never wrapped, easy to cut.
        for row in rows:
            sys.stdout.write("\t".join((row["action"], row["on"], row["commands"], row["why"])) + "\n")
        sys.stdout.flush()
        self.err.print(f"{plural(len(rows), 'action')} in {plural(len(policy['Statement']), 'statement')}; "
                       "the IAM policy document: s3gw permissions --output json")

    def bare(self, key: str, value: Any) -> None:
        """One value for $(...): a list space-separated (word-split by the shell); with --output json, a document
        that names the key (a bare JSON value could not carry "schema")."""
        if self.output == "json":
            self.json({"key": key, "value": value}, elapsed=False)
            return
        sys.stdout.write(_flat(value) + "\n")
        sys.stdout.flush()


def summary_counts(kind: str, report: Any) -> dict[str, int]:
    """The summary line's counts by its words: {"created": 5, "repaired": 1, "unchanged": 2}."""
    counts = {words.replace(" ", "_"): sum(1 for s in report.steps if s.action == action)
              for action, words in _SUMMARIES[kind]}
    settings = getattr(report, "setting_changes", [])
    if settings:
        counts["settings_changed"] = len(settings)
    return counts


def summary_line(kind: str, report: Any, elapsed: float | None = None) -> str:
    """`up: 5 created, 1 repaired, 2 unchanged in 41.2s`; `plan: 2 to create, 0 to change, 6 unchanged`."""
    counts = [f"{sum(1 for s in report.steps if s.action == action)} {words}" for action, words in _SUMMARIES[kind]]
    settings = getattr(report, "setting_changes", [])
    if settings:
        counts.append(plural(len(settings), "setting") + " changed")
    return f"{kind}: " + ", ".join(counts) + (f" in {elapsed:.1f}s" if elapsed is not None else "")


def verify_document(report: Any) -> dict[str, Any]:
    return {"ok": report.ok, "function": report.function, "bucket": report.bucket,
            "endpoint_id": report.endpoint_id, "checks": [asdict(c) for c in report.checks]}


def verify_counts(report: Any) -> dict[str, int]:
    """verify's last line's counts: {"links": 23, "hold": 23, "broken": 0}."""
    broken = sum(1 for c in report.checks if not c.ok)
    return {"links": len(report.checks), "hold": len(report.checks) - broken, "broken": broken}


def verdict_line(report: Any) -> str:
    """verify's last line: `23 of 23 links hold: the path is private and sealed`."""
    broken = [c for c in report.checks if not c.ok]
    whole = ": the path is private and sealed" if report.function else ": S3 takes the endpoint from every subnet"
    verdict = f"; first broken: {broken[0].name}" if broken else whole  # no function: an endpoint-only stack
    return f"{len(report.checks) - len(broken)} of {len(report.checks)} links hold{verdict}"


_GRAPH_STYLES = {"ok": "green", "drifted": "yellow", "broken": "red"}


def _rich_tree(root: Any) -> Any:
    """A pathgraph.Node as a rich Tree: each node's mark and state in colour, its notes dim, its fix in bold."""
    from rich.text import Text
    from rich.tree import Tree

    from s3gw.pathgraph import MARKS

    def label(node: Any) -> Text:
        style = _GRAPH_STYLES[node.state]
        text = Text.assemble((f"{MARKS[node.state]} ", style), (node.title, "bold"),
                             " " + " ".join(node.ids) if node.ids else "", (f": {node.state}", style))
        for note in node.notes:
            text.append(f"\n{note}", "dim")
        if node.fix:
            text.append("\nfix: ", "bold")
            text.append(node.fix)
        return text

    def grow(tree: Tree, node: Any) -> Tree:
        for child in node.children:
            grow(tree.add(label(child)), child)
        return tree

    return grow(Tree(label(root), guide_style="dim"), root)


def _flat(value: Any) -> str:
    return " ".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)


def _escape(text: str) -> str:
    """Printed as it is (rich markup escaped), without a secret or a URL's user:password (errors.redact)."""
    return redact(text).replace("[", "\\[")


def _plain(data: Any) -> Any:
    """Dataclasses (reports), nested anywhere, as dicts; tuples as lists; strings redacted (errors.redact)."""
    if is_dataclass(data) and not isinstance(data, type):
        return _plain(asdict(data))
    if isinstance(data, dict):
        return {str(key): _plain(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_plain(value) for value in data]
    return redact(data) if isinstance(data, str) else data
