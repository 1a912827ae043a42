"""Layers import downward only, and the architecture document names every table of the catalog."""

from __future__ import annotations

import ast
from pathlib import Path

from radlake import catalog

ROOT = Path(__file__).resolve().parents[2]
ORDER = {"radlake": 0, "ingestion": 1, "transforms": 1, "expectations": 1, "dashboards": 1, "orchestration": 2}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """Top-level package of every import, and whether it happens at module level."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module_level = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name.split(".")[0], id(node) in module_level) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module.split(".")[0], id(node) in module_level))
    return found


def test_layers_import_downward_only() -> None:
    offenders = []
    for package, rank in ORDER.items():
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            entry_point = rel == "radlake/cli.py" or rel.startswith("radlake/commands/")
            for imported, at_module_level in _imports(path):
                if imported in ORDER and ORDER[imported] > rank:
                    # The CLI is an entry point like orchestration, but loads layers only inside commands.
                    if entry_point and not at_module_level:
                        continue
                    offenders.append(f"{rel} imports {imported}")
                elif imported in ORDER and imported != package and ORDER[imported] == rank:
                    offenders.append(f"{rel} imports sibling layer {imported}")
    assert offenders == []


def test_simulator_stands_beside_the_product() -> None:
    """The simulator is a demo and test tool: it may use the shared core, and only entry points may load it."""
    offenders = []
    for path in (ROOT / "simulator").rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        offenders += [f"{rel} imports {i}" for i, _ in _imports(path) if i in ORDER and i != "radlake"]
    for package in ORDER:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            entry_point = rel == "orchestration/demo.py" or rel.startswith("radlake/commands/")
            for imported, at_module_level in _imports(path):
                if imported == "simulator" and (at_module_level or not entry_point):
                    offenders.append(f"{rel} imports simulator")
    assert offenders == []


def test_architecture_lists_every_catalog_table() -> None:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    missing = [spec.key for spec in catalog.tables() if f"`{spec.key}`" not in text]
    assert missing == []


def test_architecture_lists_every_gold_mart() -> None:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    marts = sorted(p.stem for p in (ROOT / "dbt_project" / "models" / "marts").glob("*.sql"))
    assert marts, "no marts found"
    assert [m for m in marts if f"`{m}`" not in text] == []
