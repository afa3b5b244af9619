"""The package's layout holds: imports point one way between the stage folders, and no
module imports itself round a circle (imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pipeline"

# cli -> jobs -> report | notify -> analysis | ingest -> metadata -> lake -> core
RANK = {"core": 0, "lake": 1, "metadata": 2, "ingest": 3, "analysis": 3, "engines": 3, "report": 4, "notify": 4, "jobs": 5, "cli": 6}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in RANK) else "core"


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Every pipeline module ``path`` imports (a ``from pkg import mod`` names the module)."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("pipeline")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if not base.startswith("pipeline"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return {m for m in found if m in modules and m != me}


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {m: imports_of(p, set(files)) for m, p in files.items()}


def bad_arrows(edges: dict[str, set[str]]) -> list[str]:
    bad = []
    for src, targets in edges.items():
        for dst in targets:
            a, b = stage(src), stage(dst)
            if a == b or dst == "pipeline":
                continue
            if RANK[b] > RANK[a] or {a, b} == {"ingest", "analysis"}:
                bad.append(f"{src} ({a}) imports {dst} ({b})")
    return sorted(bad)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_stage_folder_is_known_and_says_what_it_may_import():
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert folders <= set(RANK), folders - set(RANK)
    for folder in folders:
        doc = ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text()))
        assert doc and "import" in doc.lower(), f"pipeline/{folder}/__init__.py must say what it may import"


def test_imports_point_one_way():
    assert bad_arrows(graph()) == []


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_core_modules_import_no_stage():
    edges = graph()
    for src, targets in edges.items():
        if stage(src) == "core" and src != "pipeline.docs":
            assert all(stage(t) == "core" for t in targets), (src, targets)


@pytest.mark.parametrize("edges, expect_bad, expect_cycle", [
    ({"pipeline.lake.store": {"pipeline.ingest.conform"}, "pipeline.ingest.conform": set()}, 1, 0),
    ({"pipeline.analysis.findings": {"pipeline.ingest.load"}, "pipeline.ingest.load": set()}, 1, 0),
    ({"pipeline.report.a": {"pipeline.report.b"}, "pipeline.report.b": {"pipeline.report.a"}}, 0, 1),
    ({"pipeline.cli.x": {"pipeline.lake.store"}, "pipeline.lake.store": set()}, 0, 0),
])
def test_the_checks_catch_what_they_guard(edges, expect_bad, expect_cycle):
    assert len(bad_arrows(edges)) == expect_bad
    assert len(cycles(edges)) == expect_cycle
