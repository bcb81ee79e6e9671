"""The layers import downward only (ARCHITECTURE.md): the import-linter contracts in
pyproject.toml hold, every ninety module is placed in a layer, there are no import cycles,
and no module outside the command layer hides an import inside a function (the way a
cycle gets dodged). Pure reading of the source: no node, no server."""
from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ninety", "indexer", "backend")
COMMANDS = "ninety.cli"  # the command layer: may import anything, lazily (start-up time)


def _contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def _core_modules() -> set[str]:
    (core,) = [c for c in _contracts() if "ninety.cli" in c.get("forbidden_modules", ())
               and "indexer" in c.get("forbidden_modules", ())]
    return set(core["source_modules"])


def test_the_import_contracts_hold():
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"lint-imports found imports against the layers:\n{done.stdout}\n{done.stderr}"


def test_every_ninety_module_is_in_a_layer():
    """A new module of ninety is either core (listed in the contract, so it is checked) or
    a command (under ninety/cli): none escapes the contracts by being in neither."""
    found = {f"ninety.{p.stem if p.is_file() else p.name}" for p in (ROOT / "ninety").iterdir()
             if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").exists()}
    unplaced = found - _core_modules() - {COMMANDS}
    assert not unplaced, f"add these to the core contract in pyproject.toml, or move them into ninety/cli: {unplaced}"
    assert not _core_modules() - found, f"the core contract lists modules that are gone: {_core_modules() - found}"


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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


def test_no_import_cycles():
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    cycles = _cycles(graph)
    assert not cycles, "modules that import each other (directly or around a loop):\n" + "\n".join(
        " <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for a, b in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")):
        graph.add_import(importer=a, imported=b)
    assert _cycles(graph) == [["p.a", "p.b", "p.c"]]


def _function_level_imports(path: Path) -> list[str]:
    """`file:line module` of every import of a project module inside a function."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if in_function and isinstance(child, (ast.Import, ast.ImportFrom)):
                if isinstance(child, ast.ImportFrom):
                    names = ["." * child.level + (child.module or "")] if child.level else [child.module or ""]
                else:
                    names = [alias.name for alias in child.names]
                for name in names:
                    if name.startswith(".") or name.split(".")[0] in PACKAGES:
                        found.append(f"{path.relative_to(ROOT)}:{child.lineno} {name}")
            visit(child, inside)

    visit(tree, False)
    return found


def test_no_function_level_imports_of_project_modules_outside_the_commands():
    """Imports at the top say what a module depends on; one inside a function hides it
    (and is how a cycle gets dodged). Only ninety/cli imports lazily, to start fast."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if (ROOT / "ninety" / "cli") in path.parents:
                continue
            found += _function_level_imports(path)
    assert not found, "project imports inside functions:\n" + "\n".join(found)
