"""Layers import downward only, and the architecture document names every table of the catalog."""

from __future__ import annotations

import ast
from pathlib import Path

from radlake import catalog

ROOT = Path(__file__).resolve().parents[2]
ORDER = {
    "radlake": 0,
    "ingestion": 1,
    "transforms": 1,
    "expectations": 1,
    "dashboards": 1,
    "sqlendpoint": 1,
    "orchestration": 2,
    "services": 2,
    "cli": 3,
}


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
            for imported, _ in _imports(path):
                if imported in ORDER and ORDER[imported] > rank:
                    offenders.append(f"{rel} imports {imported}")
                elif imported in ORDER and imported != package and ORDER[imported] == rank:
                    offenders.append(f"{rel} imports sibling layer {imported}")
    assert offenders == []


# Packages whose sub-packages are domains of their own (ingestion.dicom, transforms.empi, services.fhir, ...); in
# the others the top-level package is the domain (expectations, dashboards, sqlendpoint, orchestration, ...).
NESTED = {"ingestion", "transforms", "services"}


def _domain(module: str) -> str:
    parts = module.split(".")
    if parts[0] in NESTED and len(parts) > 1 and (ROOT / parts[0] / parts[1]).is_dir():
        return ".".join(parts[:2])
    return parts[0]


def _face(domain: str) -> set[str]:
    """The names a domain's ``__init__`` lists in ``__all__``."""
    tree = ast.parse((ROOT / domain.replace(".", "/") / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        named_all = any(getattr(t, "id", None) == "__all__" for t in getattr(node, "targets", ()))
        if isinstance(node, ast.Assign) and named_all and isinstance(node.value, ast.List | ast.Tuple):
            return {str(e.value) for e in node.value.elts if isinstance(e, ast.Constant)}
    return set()


def test_other_layers_import_a_domain_through_its_face() -> None:
    """Across domains only the face is imported: ``from transforms.empi import run_empi``, not ``...empi.job``.

    The shared core (``radlake``) is exempt (one concept per module), and so is a sub-package using its parent
    package's own modules (``services.fhir`` importing ``services.errors``).
    """
    offenders = []
    for package in [*ORDER, "simulator"]:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT)
            mine = _domain(".".join(rel.with_suffix("").parts).removesuffix(".__init__"))
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                modules: list[tuple[str, set[str]]]
                if isinstance(node, ast.Import):
                    modules = [(a.name, set()) for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    modules = [(node.module, {a.name for a in node.names})]
                else:
                    continue
                for module, names in modules:
                    target = _domain(module)
                    if target.split(".")[0] == "radlake" or target.split(".")[0] not in [*ORDER, "simulator"]:
                        continue
                    if target == mine or mine.startswith(f"{target}."):
                        continue
                    if module != target:
                        offenders.append(f"{rel} imports {module} (use the face {target})")
                    elif names - _face(target):
                        offenders.append(f"{rel} imports {sorted(names - _face(target))} not in {target}.__all__")
    assert offenders == []


def test_every_face_name_resolves_to_what_it_names() -> None:
    """Each name of each face loads, and is the object, not a submodule that shadows it (see radlake.faces)."""
    import importlib
    import pkgutil
    import types

    domains = {_domain(".".join(p.relative_to(ROOT).parts[:-1])) for pkg in ORDER for p in (ROOT / pkg).rglob("*.py")}
    wrong = []
    for domain in sorted(domains | {"simulator"}):
        face = importlib.import_module(domain)
        submodules = {info.name for info in pkgutil.iter_modules(face.__path__)}
        for name in sorted(_face(domain)):
            if name in submodules:  # loaded first, as another import may have done: the shadowing case
                importlib.import_module(f"{domain}.{name}")
            value = getattr(face, name, None)
            if value is None or isinstance(value, types.ModuleType):
                wrong.append(f"{domain}.{name}")
    assert wrong == []


def test_simulator_stands_beside_the_product() -> None:
    """The simulator is a demo and test tool: it may use the shared core, and only the CLI and the demo may load it."""
    offenders = []
    for path in (ROOT / "simulator").rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        offenders += [f"{rel} imports {i}" for i, _ in _imports(path) if i in ORDER and i != "radlake"]
    for package in ORDER.keys() - {"cli"}:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            # The demo's job drives the simulated hospitals; it loads them only when it runs.
            for imported, at_module_level in _imports(path):
                if imported == "simulator" and (at_module_level or rel != "orchestration/demo.py"):
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


def _module_graph(root: Path) -> dict[str, set[str]]:
    """Every product module and the product modules it imports: lazily, eagerly or for types only.

    ``from pkg import name`` depends on ``pkg.name`` when that is a module, else on ``pkg``; a package importing
    its own submodules is no edge (the submodule loads its package first in any case).
    """
    files = {}
    for package in [*ORDER, "simulator"]:
        for path in (root / package).rglob("*.py"):
            name = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
            files[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = {f"{node.module}.{a.name}" for a in node.names} & files.keys()
                targets |= subs if len(subs) == len(node.names) else {node.module, *subs}
        graph[name] = {t for t in targets if t in files and t != name and not t.startswith(f"{name}.")}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while (w := stack.pop()) != v:
                group.append(w)
            if group:
                found.append(sorted([v, *group]))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_between_modules() -> None:
    """A lazy or type-only import hides a cycle from Python but not from the design: none is allowed."""
    assert _cycles(_module_graph(ROOT)) == []
