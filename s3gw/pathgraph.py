"""The private path, drawn: function → subnets → route tables → endpoint → bucket, each hop ok, drifted or broken.

Pure: the tree is built from what `status` (commands.reports) or `verify` (verify.VerifyReport) already found,
and written as plain lines or as a Mermaid flowchart (https://mermaid.js.org/syntax/flowchart.html), which GitHub
draws in a README or a pull request. render.py draws it with rich on a terminal.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

OK, DRIFTED, BROKEN = "ok", "drifted", "broken"
MARKS = {OK: "✓", DRIFTED: "~", BROKEN: "✗"}
# The hops of the path, in the order traffic takes them, and what hangs off each (used, not passed through).
PATH = ("function", "subnets", "route_tables", "endpoint", "bucket")
SIDES = {"function": ("security_group", "role"), "subnets": ("vpc",)}
TITLES = {"function": "Lambda function", "subnets": "private subnets", "route_tables": "route tables",
          "endpoint": "S3 gateway endpoint", "bucket": "bucket", "security_group": "security group",
          "role": "IAM role", "vpc": "VPC"}
_KEYS = {"function": ("function_name",), "subnets": ("subnet_ids",), "route_tables": ("route_table_ids",),
         "endpoint": ("endpoint_id",), "bucket": ("bucket",), "security_group": ("security_group_id",),
         "role": ("role_name",), "vpc": ("vpc_id",)}
_STATUS = {"ok": OK, "drift": DRIFTED, "missing": BROKEN}
_STATUS_FIX = {DRIFTED: "run 's3gw up' (it repairs this)", BROKEN: "run 's3gw up' (it makes it again)"}


@dataclass
class Node:
    key: str  # a name of PATH or SIDES: the Mermaid node id
    title: str
    ids: list[str] = field(default_factory=list)
    state: str = OK
    notes: list[str] = field(default_factory=list)  # what differs, or which check fails
    fix: str = ""
    children: list[Node] = field(default_factory=list)

    @property
    def label(self) -> str:
        return " ".join([self.title, *self.ids])

    def walk(self) -> list[Node]:
        return [self, *(node for child in self.children for node in child.walk())]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _tree(nodes: dict[str, Node], sides: dict[str, tuple[str, ...]]) -> Node:
    """The hops chained, each one's sides first and the next hop last."""
    below: Node | None = None
    for key in reversed(PATH):
        node = nodes[key]
        node.children = [nodes[side] for side in sides.get(key, ())] + ([below] if below else [])
        below = node
    assert below is not None
    return below


def from_status(report: Any) -> Node:
    """`status`: each step's ok / drift / missing, the fix being `up`."""
    from s3gw.steps import STEPS

    names = {step.title: step.name for step in STEPS}
    nodes = {key: Node(key, TITLES[key], _ids(report.outputs, key)) for key in TITLES}
    for step in report.steps:
        key = names.get(step.step)
        if key not in nodes:
            continue
        node = nodes[key]
        node.state = _STATUS.get(step.action, BROKEN)
        node.ids = _ids(step.ids, key) or node.ids  # the naming id only: not the ARN, nor the prefix list
        if node.state != OK:
            node.notes = [detail for detail in step.details if not detail.startswith("(adopted)")]
            node.fix = _STATUS_FIX[node.state]
    return _tree(nodes, SIDES)


# verify's checks by the hop they are about: (the check's name, or a prefix of it, with the hop).
_CHECKS = (("function", "function"), ("security groups", "security_group"), ("egress", "security_group"),
           ("role", "role"), ("subnets", "subnets"), ("one endpoint", "subnets"), (": route table", "subnets"),
           (": route to S3", "route_tables"), (": IPv6 route to S3", "route_tables"), (": IPv6 block", "subnets"),
           ("endpoint", "endpoint"))


def _hop_of(check_name: str) -> str:
    for text, key in _CHECKS:
        if check_name.startswith(text) or (text.startswith(":") and check_name.endswith(text)):
            return key
    return "bucket"  # the bucket's region, its seal, its policy, Block Public Access


def from_verify(report: Any) -> Node:
    """`verify`: each link of the path under its hop; a hop with a failing link is broken, with the links' fixes."""
    nodes = {key: Node(key, TITLES[key]) for key in TITLES}
    nodes["function"].ids = [report.function]
    nodes["endpoint"].ids = [report.endpoint_id] if report.endpoint_id else []
    nodes["bucket"].ids = [report.bucket]
    for check in report.checks:
        key = _hop_of(check.name)
        node = nodes[key]
        if check.name.endswith(": route table"):  # "subnet-1: route table" says which table routes it
            _add(node.ids, [check.name.removesuffix(": route table")])
            _add(nodes["route_tables"].ids, re.findall(r"\brtb-[0-9a-f]+", check.detail)[:1])
        elif key == "security_group":
            _add(node.ids, re.findall(r"\bsg-[0-9a-f]+", check.detail))
        elif key == "role" and check.detail:  # "<role> may …", "role <role> does not exist"
            _add(node.ids, [check.detail.removeprefix("role ").split()[0]])
        if not check.ok:
            node.state = BROKEN
            node.notes.append(f"{check.name}: {check.detail}")
            if check.fix and check.fix not in node.fix:
                node.fix = "; ".join(filter(None, (node.fix, check.fix)))
    return _tree(nodes, {"function": SIDES["function"]})  # verify does not read the VPC as such


def _add(ids: list[str], more: list[str]) -> None:
    ids.extend(i for i in more if i not in ids)


def _ids(outputs: dict[str, Any], key: str) -> list[str]:
    return _flat(outputs.get(k) for k in _KEYS[key] if outputs.get(k))


def _flat(values: Any) -> list[str]:
    flat: list[str] = []
    for value in values:
        flat.extend(value if isinstance(value, list | tuple) else [str(value)])
    return flat


def text_lines(root: Node) -> list[str]:
    """The tree as plain lines (a pipe, NO_COLOR): `├─`/`└─` guides, the notes and fix under their node."""
    lines: list[str] = []

    def add(node: Node, lead: str, guide: str, last: bool) -> None:
        lines.append(f"{lead}{guide}{MARKS[node.state]} {node.label}: {node.state}")
        inner = lead + ("" if not guide else "   " if last else "│  ")
        bar = "│  " if node.children else "   "
        lines.extend(f"{inner}{bar}{note}" for note in node.notes)
        if node.fix:
            lines.append(f"{inner}{bar}fix: {node.fix}")
        for index, child in enumerate(node.children):
            final = index == len(node.children) - 1
            add(child, inner, "└─ " if final else "├─ ", final)

    add(root, "", "", True)
    return lines


_MERMAID_CLASSES = {OK: "fill:#dafbe1,stroke:#1a7f37", DRIFTED: "fill:#fff8c5,stroke:#9a6700",
                    BROKEN: "fill:#ffebe9,stroke:#cf222e"}


def mermaid(root: Node) -> str:
    """A Mermaid flowchart, left to right: the hops joined by arrows, what they use by dotted lines."""
    lines = ["flowchart LR"]
    for node in root.walk():
        text = [node.label, f"{MARKS[node.state]} {node.state}", *node.notes]
        if node.fix:
            text.append(f"fix: {node.fix}")
        lines.append(f'    {node.key}["{"<br/>".join(_mermaid_text(t) for t in text)}"]:::{node.state}')
    for node in root.walk():
        for child in node.children:
            lines.append(f"    {node.key} {'-->' if child.key in PATH else '-.-'} {child.key}")
    lines += [f"    classDef {state} {style}" for state, style in _MERMAID_CLASSES.items()]
    return "\n".join(lines)


def _mermaid_text(text: str) -> str:
    """Mermaid's entity codes for what would end or break a quoted label."""
    return (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;"))
