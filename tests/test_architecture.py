"""The house stays as drawn (docs/ARCHITECTURE.md): layer contracts, no import cycle, small
modules and functions, benches that do not lean on the test tree.

Each check fails with the offending modules named, so the fix is obvious from the message.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "daemon"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    imported = graph.find_modules_directly_imported_by(child)
                    work.append((child, iter(sorted(imported))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_layer_contracts_are_kept() -> None:
    """The import-linter contracts in pyproject.toml (stages import downwards only).

    In a child process: import-linter configures logging with ``dictConfig``, which would
    disable every logger already created in this test process (and blind later caplogs)."""
    res = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache", "--config",
         str(ROOT / "pyproject.toml")], check=False, cwd=ROOT, capture_output=True, text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]


def test_no_import_cycle_between_modules() -> None:
    graph = grimp.build_graph("daemon")
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: two modules importing each other are one cycle."""
    graph = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(name)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.a")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    assert _cycles(graph) == [["pkg.a", "pkg.b"]]


def test_modules_and_functions_stay_small() -> None:
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(ROOT)
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{rel}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{rel}:{node.lineno} {node.name}(): {length} lines")
    assert too_long == []


def test_every_stage_package_says_what_it_does() -> None:
    """Each sub-package's __init__ docstring says what it receives and what it hands on."""
    missing = []
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        if not ("Receives" in doc and "Hands on" in doc):
            missing.append(str(init.relative_to(ROOT)))
    assert missing == []


def test_scripts_do_not_import_the_test_tree() -> None:
    leaning = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "scripts").rglob("*.py"))
        if re.search(r"^\s*(from|import) tests\b", path.read_text(encoding="utf-8"), re.M)
    ]
    assert leaning == []


def test_no_test_imports_another_test_module() -> None:
    """Shared helpers live in tests/support/ (or fixtures in a conftest), never in a test file."""
    leaning = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if re.search(r"^\s*from tests\.(\w+\.)*(test_\w+|conftest) import", text, re.M):
            leaning.append(str(path.relative_to(ROOT)))
    assert leaning == []
