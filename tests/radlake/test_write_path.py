"""One write path: no code outside radlake/lake/ commits to a Delta table (by import or by API use)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "radlake",
    "ingestion",
    "transforms",
    "expectations",
    "orchestration",
    "simulator",
    "bench",
    "dashboards",
    "services",
    "sqlendpoint",
)
THE_WRITER = ROOT / "radlake" / "lake"

# deltalake names that only read or describe (anything else imported from deltalake is a way to write).
READ_ONLY_IMPORTS = {"DeltaTable", "Schema", "Field"}
# Methods that commit when called on a DeltaTable (or on what it hands back: alter, optimize).
TABLE_WRITES = {
    "merge",
    "delete",
    "update",
    "vacuum",
    "restore",
    "repair",
    "create_checkpoint",
    "cleanup_metadata",
    "create_write_transaction",
    "add_columns",
    "add_constraint",
    "drop_constraint",
    "set_table_properties",
    "compact",
    "z_order",
}
DELTA_HANDLES = {"DeltaTable", "open_table"}  # calls that hand back a DeltaTable
SPARK_SAVES = {"save", "saveAsTable", "insertInto", "writeTo"}
SQL_WRITE = re.compile(r"\b(MERGE\s+INTO|DELETE\s+FROM|UPDATE|INSERT\s+(INTO|OVERWRITE))\s+delta\.", re.IGNORECASE)


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _chain(node: ast.AST) -> list[str]:
    """Attribute and call names from the outermost receiver inwards: ``df.write.format("delta").save`` → all."""
    out: list[str] = []
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            out.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            if isinstance(node, ast.Name):
                out.append(node.id)
            return out


def _is_delta_handle(node: ast.AST, handles: set[str]) -> bool:
    """``DeltaTable(...)``, ``lake.open_table(...)`` or a name assigned from one of them."""
    if isinstance(node, ast.Call):
        return _name(node.func) in DELTA_HANDLES
    if isinstance(node, ast.Name):
        return node.id in handles
    if isinstance(node, ast.Attribute) and node.attr in {"alter", "optimize"}:
        return _is_delta_handle(node.value, handles)
    return False


def delta_writes(source: str) -> list[str]:
    """What in ``source`` writes Delta (one line per finding: line number and what)."""
    tree = ast.parse(source)
    found: list[str] = []
    handles: set[str] = set()
    for node in ast.walk(tree):
        value = getattr(node, "value", None) if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if isinstance(value, ast.Call) and _name(value.func) in DELTA_HANDLES:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            handles |= {t.id for t in targets if isinstance(t, ast.Name)}
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            found += [f"{line}: import {a.name}" for a in node.names if a.name.split(".")[0] == "deltalake"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "deltalake":
            if node.module == "deltalake.exceptions":
                continue
            found += [f"{line}: from deltalake import {a.name}" for a in node.names if a.name not in READ_ONLY_IMPORTS]
        elif isinstance(node, ast.Call):
            func = node.func
            name = _name(func)
            if name == "write_deltalake":
                found.append(f"{line}: write_deltalake(...)")
            elif isinstance(func, ast.Attribute):
                chain = _chain(func)
                if name in SPARK_SAVES and ("write" in chain or "writeTo" in chain):
                    found.append(f"{line}: DataFrame.write...{name}(...)")
                elif (
                    name == "format"
                    and "write" in chain
                    and any(isinstance(a, ast.Constant) and a.value == "delta" for a in node.args)
                ):
                    found.append(f'{line}: .write.format("delta")')
                elif name in TABLE_WRITES and _is_delta_handle(func.value, handles):
                    found.append(f"{line}: DeltaTable.{name}(...)")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_WRITE.search(node.value):
            found.append(f"{line}: SQL {SQL_WRITE.search(node.value).group(0)!r}")
    return sorted(set(found), key=lambda f: int(f.split(":")[0]))


def _project_files() -> list[Path]:
    files = [p for pkg in PACKAGES if (ROOT / pkg).is_dir() for p in (ROOT / pkg).rglob("*.py")]
    return sorted(p for p in files if THE_WRITER not in p.parents and "__pycache__" not in p.parts)


def test_nothing_outside_the_lake_module_writes_delta() -> None:
    offenders = {}
    for path in _project_files():
        hits = delta_writes(path.read_text(encoding="utf-8"))
        if hits:
            offenders[str(path.relative_to(ROOT))] = hits
    assert not offenders, f"Delta written outside radlake/lake/ (use a table handle): {offenders}"


def test_the_lake_module_itself_is_seen_writing() -> None:
    # The scan must recognise the real thing: the one module that writes is full of findings.
    hits = [h for p in sorted(THE_WRITER.glob("*.py")) for h in delta_writes(p.read_text(encoding="utf-8"))]
    kinds = " ".join(hits)
    for what in ("write_deltalake", "MERGE INTO", 'format("delta")', "DeltaTable.merge", "create_write_transaction"):
        assert what in kinds, (what, hits)


@pytest.mark.parametrize(
    "snippet",
    [
        "from deltalake import write_deltalake\nwrite_deltalake(u, t)",
        "import deltalake\n",
        "from deltalake import CommitProperties\n",
        "from deltalake import DeltaTable\nDeltaTable(u).merge(source=t, predicate='x').execute()",
        "from deltalake import DeltaTable\ndt = DeltaTable(u)\ndt.delete('x = 1')",
        "dt = lake.open_table(s, u)\ndt.vacuum(retention_hours=0)",
        "t = open_table(s, u)\nt.optimize.compact()",
        "t = lake.open_table(s, u)\nt.alter.add_columns([])",
        "df.write.format('delta').mode('append').save(u)",
        "df.write.mode('overwrite').saveAsTable('x')",
        "df.writeTo('x').append()",
        "spark.sql(f'MERGE INTO delta.`{u}` AS t USING v AS s ON t.k = s.k')",
        "spark.sql(f'DELETE FROM delta.`{u}`')",
    ],
)
def test_each_way_of_writing_delta_is_caught(snippet: str) -> None:
    assert delta_writes(snippet), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        "from deltalake import DeltaTable\nDeltaTable(u).version()",
        "from deltalake.exceptions import TableNotFoundError\n",
        "frame.merge(other, on='k')",  # pandas
        "lake.upsert(settings, uri, table, keys)",
        "cur.execute('DELETE FROM ris.reports WHERE report_id = %s', (1,))",  # a PostgreSQL source
        "ctx.variables.save()",
    ],
)
def test_reads_and_other_libraries_are_not_mistaken_for_writes(snippet: str) -> None:
    assert not delta_writes(snippet), snippet
