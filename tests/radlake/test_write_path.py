"""One write path: no code outside radlake/lake/ commits to a Delta table (by import or by API use)."""

from __future__ import annotations

import ast
import itertools
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


# --- jobs write through table handles ---------------------------------------------------------------------

# Where jobs live (benches and the simulator measure or seed the lake with the functions below on purpose).
JOB_PACKAGES = (
    "radlake",
    "ingestion",
    "transforms",
    "expectations",
    "orchestration",
    "dashboards",
    "services",
    "sqlendpoint",
    "cli",
)
# The catalog knows where tables live; the lake package turns that into handles.
PATH_KEEPERS = {ROOT / "radlake" / "catalog.py"}
# The CLI's commands move above the domains this session (issue 28, items 4-6): they still read a few tables by
# URI; their writes go through handles like every job's.
URI_EXEMPT = (ROOT / "radlake" / "commands", ROOT / "cli")
# The module functions of radlake.lake that commit rows: a job calls them only through a handle's methods.
LOW_LEVEL_WRITERS = {
    "append_idempotent",
    "replace",
    "upsert",
    "merge",
    "overwrite",
    "delete_where",
    "mark_applied",
    "add_columns",
}
# Upkeep commits (radlake.lake.deltars_upkeep): radlake.maintenance is their one caller.
UPKEEP = {"vacuum", "restore", "checkpoint", "clean_log", "rewrite_small_files", "set_table_properties"}
UPKEEP_CALLER = ROOT / "radlake" / "maintenance.py"
URI_BUILDERS = {"uri", "table_uri"}
LAYERS = {"bronze", "silver", "audit"}  # the lake tables (gold holds warehouse files)
LAKE_MODULES = {
    "radlake.lake",
    "radlake.lake.deltars_writes",
    "radlake.lake.spark_writes",
    "radlake.lake.deltars_upkeep",
}


def _lake_aliases(tree: ast.AST) -> tuple[set[str], set[str], set[str]]:
    """Names bound to the radlake.lake modules, to ``radlake.catalog``, and low-level functions imported by name."""
    modules, catalogs, functions = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in LAKE_MODULES:
                    modules.add(a.asname or a.name)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            for a in node.names:
                bound = a.asname or a.name
                if (module == "radlake" and a.name == "lake") or f"{module}.{a.name}" in LAKE_MODULES:
                    modules.add(bound)
                elif module == "radlake" and a.name == "catalog":
                    catalogs.add(bound)
                elif a.name in (LOW_LEVEL_WRITERS | UPKEEP if module in LAKE_MODULES else set()) | (
                    URI_BUILDERS if module == "radlake.catalog" else set()
                ):
                    functions.add(f"{bound}={a.name}")
    return modules, catalogs, functions


def _layer_literal(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip("/").split("/")[0] in LAYERS
    )


def bypasses(source: str, *, upkeep_allowed: bool = False, uris_allowed: bool = False) -> list[str]:
    """What in ``source`` writes a lake table other than through a handle, or builds a table's URI itself."""
    tree = ast.parse(source)
    modules, catalogs, imported = _lake_aliases(tree)
    banned = LOW_LEVEL_WRITERS | (set() if upkeep_allowed else UPKEEP)
    found = [f"0: from radlake.lake import {i.split('=')[1]}" for i in imported if i.split("=")[1] in banned]
    if not uris_allowed:
        found += [
            f"0: from radlake.catalog import {i.split('=')[1]}" for i in imported if i.split("=")[1] in URI_BUILDERS
        ]
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver = node.func.value
            name = node.func.attr
            owner = receiver.id if isinstance(receiver, ast.Name) else None
            dotted = ast.unparse(receiver)
            if (owner in modules or dotted in LAKE_MODULES) and name in banned:
                found.append(f"{line}: {dotted}.{name}(...)")
            elif not uris_allowed and (owner in catalogs or dotted == "radlake.catalog") and name in URI_BUILDERS:
                found.append(f"{line}: catalog.{name}(...)")
        elif not uris_allowed and isinstance(node, ast.JoinedStr):
            parts = node.values
            for a, b in itertools.pairwise(parts):
                lake_root = isinstance(a, ast.FormattedValue) and isinstance(a.value, ast.Attribute)
                if lake_root and a.value.attr == "lake" and _layer_literal(b):  # type: ignore[attr-defined]
                    found.append(f"{line}: f-string path of a lake table")
        elif not uris_allowed and isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            left = node.left
            is_lake = isinstance(left, ast.Call) and any(
                isinstance(arg, ast.Attribute) and arg.attr == "lake" for arg in left.args
            )
            if is_lake and _layer_literal(node.right):
                found.append(f"{line}: Path(...lake) / layer")
    return sorted(set(found), key=lambda f: int(f.split(":")[0]))


def _job_files() -> list[Path]:
    files = [p for pkg in JOB_PACKAGES if (ROOT / pkg).is_dir() for p in (ROOT / pkg).rglob("*.py")]
    return sorted(p for p in files if THE_WRITER not in p.parents and "__pycache__" not in p.parts)


def test_jobs_write_only_through_table_handles() -> None:
    offenders = {}
    for path in _job_files():
        if path in PATH_KEEPERS:
            continue
        hits = bypasses(
            path.read_text(encoding="utf-8"),
            upkeep_allowed=path == UPKEEP_CALLER,
            uris_allowed=any(d in path.parents for d in URI_EXEMPT),
        )
        if hits:
            offenders[str(path.relative_to(ROOT))] = hits
    assert not offenders, f"write through Lake(settings).table(...), never by URI or module function: {offenders}"


def test_the_handle_check_sees_the_handles_own_module_writing() -> None:
    # The scan recognises the real thing: the handle module calls every low-level writer.
    hits = " ".join(bypasses((THE_WRITER / "table.py").read_text(encoding="utf-8")))
    for name in ("append_idempotent", "replace", "upsert", "overwrite", "merge", "mark_applied", "catalog.table_uri"):
        assert name in hits, (name, hits)


@pytest.mark.parametrize(
    "snippet",
    [
        "from radlake import lake\nlake.upsert(settings, uri, table, keys)",
        "from radlake import lake as io\nio.append_idempotent(s, u, t, app_id='a', txn_version=1)",
        "import radlake.lake\nradlake.lake.overwrite(df, uri)",
        "from radlake.lake import replace\nreplace(s, u, t)",
        "from radlake.lake.spark_writes import merge\n",
        "from radlake.lake import deltars_writes\ndeltars_writes.upsert(s, u, t, k)",
        "from radlake import lake\nlake.vacuum(s, u, retention_days=1, dry_run=False)",
        "from radlake import catalog\nuri = catalog.table_uri(settings, spec)",
        "from radlake import catalog\nuri = catalog.uri(settings, 'silver', 'exams')",
        "from radlake.catalog import table_uri\n",
        "uri = f'{settings.lake}/silver/exams'",
        "uri = f'{self.settings.lake}/bronze/{name}'",
        "path = Path(settings.lake) / 'silver'",
    ],
)
def test_each_way_around_a_handle_is_caught(snippet: str) -> None:
    assert bypasses(snippet), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        "from radlake.lake import Lake\nLake(settings).table('silver', 'exams').upsert(rows)",
        "from radlake import lake\nlake.ensure_writable(settings)",
        "from radlake import lake\nlake.read_arrow(settings, table.uri)",
        "frame.merge(other, on='k')",  # pandas
        "text.replace('a', 'b')",
        "path = f'{settings.lake}/{S3_PREFIX}/{build_id}.duckdb'",  # a warehouse file, not a table
    ],
)
def test_handles_and_other_calls_are_not_mistaken(snippet: str) -> None:
    assert not bypasses(snippet), snippet
