"""The import graph of s3gw/ is acyclic and layered: a module imports only from its own layer or the layers below it.

Every import counts, wherever it is written: at the top of a module, inside a function (the lazy imports that keep
`s3gw --help` fast), under `if TYPE_CHECKING:`. A cycle through a function-level import is still a cycle: the two
modules cannot be understood, tested or moved one without the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "s3gw"

# The layers, lowest first: layer -> (its modules: a name covers the package's modules too, the longest name
# wins; the layers it may import besides its own). A new module must be placed here, or this test fails.
LAYERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # No AWS session and no state: input validation, botocore's shipped data, the documents s3gw writes, the
    # operator's IAM table, prices, the graph walker, the function's zip (its code, lambda_handler/, imports no s3gw).
    "0 pure": (("s3gw", "s3gw.errors", "s3gw.words", "s3gw.config", "s3gw.botocore_data", "s3gw.graph",
                "s3gw.waits", "s3gw.pricing", "s3gw.package", "s3gw.policy",
                "s3gw.policy.documents", "s3gw.permissions"), ()),
    # The AWS session, the state and its lock, and the two judges verify and the sandbox share (policy, path).
    "1 core": (("s3gw.aws", "s3gw.state", "s3gw.state.s3", "s3gw.policy.evaluator", "s3gw.reach"), ("0 pure",)),
    # The embedded emulator: its own branch, which only the commands above it start.
    "2 sandbox": (("s3gw.sandbox",), ("0 pure", "1 core")),
    # One resource kind per step, and what reads or calls a stack's resources (verify, test-invoke, inventory).
    "2 steps": (("s3gw.steps", "s3gw.inventory", "s3gw.verify", "s3gw.invoke", "s3gw.invoke_dynamodb",
                "s3gw.verify_dynamodb", "s3gw.function_calls", "s3gw.audit"),
                ("0 pure", "1 core")),
    # The commands: the Run every command opens, one module per command family, the demo, the path drawn from
    # their reports.
    "3 commands": (("s3gw.run", "s3gw.commands", "s3gw.demo", "s3gw.pathgraph", "s3gw.audit_command"),
                 ("0 pure", "1 core", "2 steps", "2 sandbox")),
    # Options in, rendering out; no step and no AWS client of its own (DESIGN.md: AWS calls never in cli.py).
    "4 cli": (("s3gw.cli", "s3gw.cli_options", "s3gw.render"), ("0 pure", "1 core", "3 commands", "2 sandbox")),
}


def module_files() -> dict[str, Path]:
    modules = {}
    for path in sorted(SOURCE.rglob("*.py")):
        parts = path.relative_to(SOURCE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The s3gw modules `name` imports anywhere in its text (`from s3gw.x import y` is s3gw.x.y when y is a
    module, else s3gw.x; the package a module sits in is not counted: Python runs it first, but the module
    does not use it)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import s3gw.steps.base as b`: the module itself
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def layer_of(module: str) -> str | None:
    best = None
    for layer, (names, _) in LAYERS.items():
        for prefix in names:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[1])):
                best = (layer, prefix)
    return best[0] if best else None


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path a -> b -> ... -> a, or None (depth-first, the grey set is the path being walked)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_walker_sees_top_level_relative_and_function_level_imports() -> None:
    graph = import_graph()
    assert "s3gw.errors" in graph["s3gw.run"]  # top level
    assert "s3gw.commands" in graph["s3gw.cli"]  # inside the command functions
    assert "s3gw.sandbox.moto_glue" in graph["s3gw.sandbox.lifecycle"]  # `from . import moto_glue as glue`
    assert "s3gw.steps" in graph["s3gw.pathgraph"]  # `from s3gw.steps import STEPS`, inside a function


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Cycles until none is left, each found after cutting the last edge of the ones before it."""
    graph = {node: set(targets) for node, targets in graph.items()}
    cycles = []
    while cycle := find_cycle(graph):
        cycles.append(cycle)
        graph[cycle[-2]].discard(cycle[-1])
    return cycles


def test_the_import_graph_has_no_cycle() -> None:
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_every_module_has_a_layer_and_imports_no_layer_above_its_own() -> None:
    graph = import_graph()
    unplaced = sorted(module for module in graph if layer_of(module) is None)
    assert not unplaced, f"modules in no layer (place them in LAYERS): {unplaced}"
    climbs = []
    for module, targets in sorted(graph.items()):
        layer = layer_of(module)
        allowed = {layer, *LAYERS[str(layer)][1]}
        climbs += [f"{module} ({layer}) imports {target} ({layer_of(target)})"
                   for target in sorted(targets) if layer_of(target) not in allowed]
    assert not climbs, "imports that climb a layer:\n" + "\n".join(climbs)


def test_the_layers_themselves_only_look_down() -> None:
    """The table cannot allow a cycle between layers: each layer may import only layers declared before it."""
    order = list(LAYERS)
    for index, (layer, (_, below)) in enumerate(LAYERS.items()):
        assert set(below) <= set(order[:index]), f"{layer} may import a layer declared after it: {below}"
