"""The plugin's layout: layers and capabilities, and which way imports run.

Reads every module's imports (at the top, inside functions and under
``TYPE_CHECKING`` alike) and fails on an import circle, on an import
against the direction written in the README's developer section, and on
any Qt or QGIS import under ``core/``. The order of the capabilities is
read from the README, so that the text a newcomer reads and the rule the
suite holds the code to are one and the same.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "stdm_plugin"
README = ROOT / "README.md"
ORDER_MARK = "<!-- import order"
LAYERS = ("core", "qgis", "gui")  # each may import only the layers before it
QT_OR_QGIS = ("qgis", "PyQt5", "PyQt6", "sip")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_names(path: Path) -> list[tuple[int, str, str]]:
    """(line, absolute module, name or '') of every import in ``path``, wherever it is."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, "") for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found += [(node.lineno, module, a.name) for a in node.names]
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, dict[str, int]]:
    """module -> {imported plugin module: line}; ``from pkg import mod`` counts as mod."""
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        edges: dict[str, int] = {}
        for line, module, imported in imported_names(path):
            if not module.startswith("stdm_plugin"):
                continue
            target = f"{module}.{imported}" if f"{module}.{imported}" in modules else module
            assert target in modules, f"{path}:{line} imports {target}, which does not exist"
            if target != name:
                edges.setdefault(target, line)
        graph[name] = edges
    return graph


def circles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def capability_order() -> list[str]:
    """The README's list, bottom first: a capability may import those before it."""
    text = README.read_text(encoding="utf-8")
    assert ORDER_MARK in text, f"README.md has no '{ORDER_MARK}' list"
    block = re.search(r"```[a-z]*\n(.*?)```", text[text.index(ORDER_MARK):], re.S)
    assert block, "the import order in README.md is not followed by a fenced list"
    names = [line.split()[0] for line in block.group(1).splitlines() if line.strip()]
    return list(reversed(names))


def place(module: str, order: list[str]) -> tuple[int, int]:
    """(layer rank, capability rank) of a plugin module."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] not in LAYERS:
        return len(LAYERS), 0  # stdm_plugin/__init__.py and plugin.py: above every layer
    layer = LAYERS.index(parts[1])
    if len(parts) == 2:
        return layer, len(order)  # a layer's own __init__: its front door, above its parts
    assert parts[2] in order, (
        f"{module}: '{parts[2]}' is not in the import order of README.md; add it there")
    return layer, order.index(parts[2])


def test_no_import_circles():
    found = circles(import_graph(all_modules()))
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_imports_run_down_the_layers_and_capabilities():
    order = capability_order()
    modules = all_modules()
    wrong = []
    for name, edges in import_graph(modules).items():
        for target, line in edges.items():
            if place(target, order) > place(name, order):
                wrong.append(f"{modules[name].relative_to(ROOT)}:{line} imports {target}")
    assert not wrong, ("imports against the order in README.md (gui -> qgis -> core, and "
                       "inside a layer only down the list):\n" + "\n".join(wrong))


def test_core_imports_no_qt_and_no_qgis():
    for path in (PACKAGE / "core").rglob("*.py"):
        for line, module, _ in imported_names(path):
            assert module.split(".")[0] not in QT_OR_QGIS, f"{path}:{line} imports {module}"


@pytest.mark.parametrize("init", sorted(p for p in PACKAGE.glob("*/*/__init__.py")),
                         ids=lambda p: str(p.parent.relative_to(PACKAGE)))
def test_every_capability_says_what_it_owns_and_imports_nothing(init):
    tree = ast.parse(init.read_text())
    doc = ast.get_docstring(tree)
    assert doc and len(doc.split()) >= 12, f"{init} should say what the capability owns"
    assert len(tree.body) == 1, f"{init} holds more than its docstring (no re-exports)"


def test_the_rule_itself_catches_a_circle_and_an_upward_import():
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}
    assert circles(graph) == [["a", "b", "c"]]
    order = ["store", "register", "certificates"]
    assert place("stdm_plugin.core.store.records", order) < place(
        "stdm_plugin.core.register.parties", order)
    assert place("stdm_plugin.gui.store.tables", order) > place(
        "stdm_plugin.core.certificates.qr", order)


#: "modules stay under about 400 lines": past this, split a module by what it does
MAX_MODULE_LINES = 450


def test_modules_stay_small():
    long = [f"{path.relative_to(ROOT)}: {n} lines"
            for path in sorted(PACKAGE.rglob("*.py"))
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES]
    assert not long, "modules to split by what they do:\n" + "\n".join(long)
