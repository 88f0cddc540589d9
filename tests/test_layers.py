"""capsviz is a house of floors: each subpackage imports only from the floors below it (model at the bottom, bench at
the top), only the app and the benchmark that drives it import streamlit, and nothing outside bench imports bench.
The rules are read off the source with ``ast`` (imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "capsviz"
# Lowest first; a subpackage may import itself and any subpackage before it in this list.
FLOORS = ("model", "data", "export", "figures", "training", "inspect", "testsets", "app", "bench")
STREAMLIT_FLOORS = {"app", "bench"}  # bench speaks the app's websocket protocol and starts its server
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


def imports_of(source: str) -> set[str]:
    """Every module a source file imports, absolute names, at any depth of the file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def floor_of(module: str) -> str | None:
    """'capsviz.model.routing' -> 'model'; None for the package root and its command doors."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in FLOORS) else None


def violations(modules: dict[str, str]) -> list[str]:
    """The broken rules in a tree given as {dotted module name: source}: one line per module and floor it reaches."""
    found = []
    for module, source in sorted(modules.items()):
        here = floor_of(module)
        imported = imports_of(source)
        if any(name.split(".")[0] == "streamlit" for name in imported) and here not in STREAMLIT_FLOORS:
            found.append(f"{module} imports streamlit")
        for there in sorted({floor_of(name) for name in imported if name.startswith("capsviz.")} - {None}):
            if there == "bench" and here != "bench":
                found.append(f"{module} imports the benchmark")
            elif here is not None and FLOORS.index(there) > FLOORS.index(here):
                found.append(f"{module} (floor {here}) imports upwards, from {there}")
    return found


def _tree() -> dict[str, str]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path.read_text()
    return modules


def test_every_subpackage_has_a_floor():
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert subpackages == set(FLOORS)


def test_the_tree_keeps_its_import_direction():
    assert violations(_tree()) == []


@pytest.mark.parametrize(
    "module, source, broken",
    [
        ("capsviz.model.capsnet", "from capsviz.app import state", "imports upwards"),
        ("capsviz.model.routing", "def f():\n    import capsviz.data.mnist", "imports upwards"),
        ("capsviz.figures.core", "import streamlit as st", "imports streamlit"),
        ("capsviz.app.inputs", "from capsviz.bench.browser import free_port", "imports the benchmark"),
        ("capsviz.train", "from capsviz.bench import table", "imports the benchmark"),
    ],
)
def test_a_wrong_import_is_caught(module, source, broken):
    tree = _tree() | {module: source}
    (found,) = violations(tree)
    assert module in found and broken in found


def test_no_library_module_is_over_500_lines():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_library_function_is_over_60_lines():
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
                if (n := node.end_lineno - node.lineno + 1) > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({n} lines)")
    assert long == []
