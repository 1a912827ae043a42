"""Behaviour unchanged, provably: two demo runs compared table by table and row by row.

Every Delta table of every layer of the lake (``<lake>/<layer>/<name>``: bronze, silver, audit, the CDC tables)
and every table of both DuckDB warehouse files (analysts', stewards') of run A is compared with the same table
of run B: the same columns (names, order, types) and the same rows, leaving out the run-time columns of
:mod:`tests.pipeline_equality` (``VOLATILE``, ``VOLATILE_IN``: when a row was made, not what it holds) and
reading each run's own folder in a value as ``<workdir>``. It prints one line per table: rows in A, rows in B,
equal or not; it exits 1 when any table differs or exists on one side only.

Two ways to run it (from the repository root, with the project's venv):

- Two finished demo folders (``radlake demo --workdir A`` and ``--workdir B``, or ``make demo WORKDIR=A``)::

      .venv/bin/python bench/compare_runs.py --dirs A B

- Two git revisions: each is checked out as a detached worktree under ``--scratch`` (default a fresh temporary
  folder), and the demo of each tree runs through that tree's own ``radlake`` entry point (read from its
  pyproject.toml) with this venv's Python, the tree first on ``PYTHONPATH``::

      .venv/bin/python bench/compare_runs.py --revs main HEAD           # main against the working branch
      .venv/bin/python bench/compare_runs.py --revs 9d68718 main --keep  # keep both demo folders afterwards

Both runs get the same simulation size and seed (``--institutions/--days/--exams-per-day/--seed``, by default
the tests' small demo) and the same pseudonym key (``RADLAKE_PSEUDONYM_KEY``, a fixed test key unless set), so
the marts' pseudonyms agree. The simulator is deterministic for a seed and a day: it draws every value from
``random.Random(seed)`` and dates its exams back from today, so run both on the same day (the RIS database is
an embedded PostgreSQL loaded from the same rows; its own sequences and the CDC positions are left out as
volatile). A difference therefore comes from the pipeline, or from a change of the simulator between the two
revisions (compare the simulator's truth files then). The demo's embedded PostgreSQL is stopped afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from tests.pipeline_equality import normalised_rows  # noqa: E402

LAYERS = ("bronze", "silver", "audit")
SMALL_DEMO = {"institutions": 2, "days": 2, "exams_per_day": 40, "seed": 11}  # tests/conftest.py DEMO_SIZE
# A fixed key (32 random-looking bytes as hex) so both runs pseudonymise alike; no site's key is ever this.
TEST_KEY = hashlib.sha256(b"radlake bench/compare_runs").hexdigest()


@dataclass(frozen=True)
class Compared:
    """One table of both runs: its rows on each side (None: absent) and whether they agree."""

    table: str
    rows_a: int | None
    rows_b: int | None
    equal: bool


def _duckdb() -> Any:
    import duckdb

    from radlake.warehouse import duckdb_settings

    return duckdb.connect(config=duckdb_settings())  # type: ignore[arg-type]


def lake_tables(lake: Path) -> dict[str, Path]:
    """Every Delta table of the lake's layers, as ``layer/name`` → folder."""
    return {
        f"{layer}/{folder.name}": folder
        for layer in LAYERS
        if (lake / layer).is_dir()
        for folder in sorted((lake / layer).iterdir())
        if (folder / "_delta_log").is_dir()
    }


def _read_delta(con: Any, folder: Path) -> Any:
    # DuckDB's delta_scan reads the table's snapshot (partition columns included), never stray files.
    return con.execute("select * from delta_scan(?)", [str(folder)]).fetch_arrow_table()


def warehouse_tables(path: Path) -> Iterator[tuple[str, Any]]:
    """``(name, Arrow table)`` of every table of a warehouse file."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        names = [r[0] for r in con.execute("select table_name from information_schema.tables order by 1").fetchall()]
        for name in names:
            yield name, con.execute(f'select * from "{name}"').fetch_arrow_table()


def _settings(workdir: Path) -> Any:
    from radlake.config import load_settings

    return load_settings(workdir / "radlake.yaml")


def _columns(table: Any) -> list[tuple[str, str]]:
    # Names, order and types: a mart that keeps its values but changes a column's type is not equal.
    return [(f.name, str(f.type)) for f in table.schema]


def _compare(key: str, left: Any, dir_a: Path, right: Any, dir_b: Path) -> Compared:
    rows_a = None if left is None else left.num_rows
    rows_b = None if right is None else right.num_rows
    equal = (
        left is not None
        and right is not None
        and _columns(left) == _columns(right)
        and normalised_rows(left, dir_a, key) == normalised_rows(right, dir_b, key)
    )
    return Compared(key, rows_a, rows_b, equal)


def compare_runs(dir_a: Path, dir_b: Path) -> list[Compared]:
    """Every lake table and warehouse table of two demo folders, compared row by row."""
    a, b = _settings(dir_a), _settings(dir_b)
    out: list[Compared] = []
    tables_a, tables_b = lake_tables(Path(a.lake)), lake_tables(Path(b.lake))
    con = _duckdb()
    for key in sorted(tables_a.keys() | tables_b.keys()):
        left = _read_delta(con, tables_a[key]) if key in tables_a else None
        right = _read_delta(con, tables_b[key]) if key in tables_b else None
        out.append(_compare(key, left, dir_a, right, dir_b))
    con.close()
    for label, path_a, path_b in (
        ("warehouse", a.warehouse_path, b.warehouse_path),
        ("stewards", a.stewards_warehouse_path, b.stewards_warehouse_path),
    ):
        marts_a = dict(warehouse_tables(Path(path_a).resolve())) if Path(path_a).exists() else {}
        marts_b = dict(warehouse_tables(Path(path_b).resolve())) if Path(path_b).exists() else {}
        for name in sorted(marts_a.keys() | marts_b.keys()):
            out.append(_compare(f"{label}:{name}", marts_a.get(name), dir_a, marts_b.get(name), dir_b))
    return out


def render(results: list[Compared], label_a: str = "A", label_b: str = "B") -> str:
    """A Markdown table: table | rows A | rows B | equal."""

    def n(rows: int | None) -> str:
        return "-" if rows is None else f"{rows:,}"

    lines = [f"| table | rows {label_a} | rows {label_b} | equal |", "|---|--:|--:|---|"]
    lines += [f"| {r.table} | {n(r.rows_a)} | {n(r.rows_b)} | {'yes' if r.equal else '**NO**'} |" for r in results]
    differ = sum(not r.equal for r in results)
    lines.append(f"\n{len(results)} tables, {differ} differ")
    return "\n".join(lines)


def _entry_point(tree: Path) -> str:
    """The tree's ``radlake`` console script, ``module:function`` (the CLI may move between revisions)."""
    scripts = tomllib.loads((tree / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    return str(scripts["radlake"])


def _radlake(tree: Path, args: list[str], log: Path) -> int:
    """Run the tree's ``radlake`` command with this venv's Python, the tree first on the import path."""
    module, _, function = _entry_point(tree).partition(":")
    code = f"import sys; sys.argv = ['radlake', *sys.argv[1:]]; from {module} import {function} as m; m()"
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "RADLAKE_PSEUDONYM_KEY": os.environ.get("RADLAKE_PSEUDONYM_KEY", TEST_KEY),
    }
    env.pop("RADLAKE_CONFIG", None)
    with log.open("ab") as out:
        return subprocess.run([sys.executable, "-c", code, *args], cwd=tree, env=env, stdout=out, stderr=out).returncode


def _name(side: str, rev: str) -> str:
    return f"{side}-{rev.replace('/', '_')}"


def build_revision(side: str, rev: str, scratch: Path, size: dict[str, int]) -> Path:
    """Check ``rev`` out under ``scratch`` and run its demo there (``side``: a or b); the demo folder."""
    tree = scratch / f"tree-{_name(side, rev)}"
    workdir = scratch / f"demo-{_name(side, rev)}"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--quiet", "--detach", str(tree), rev], check=True)
    workdir.mkdir(parents=True)
    workdir.chmod(0o755)  # the embedded PostgreSQL may run as another user (as root)
    log = scratch / f"demo-{_name(side, rev)}.log"
    args = ["demo", "--workdir", str(workdir), *[f"--{k.replace('_', '-')}={v}" for k, v in size.items()]]
    try:
        rc = _radlake(tree, args, log)
    finally:
        _radlake(tree, ["demo", "--stop", "--workdir", str(workdir)], log)
    if rc != 0:
        raise SystemExit(f"compare_runs: the demo of {rev} failed (exit {rc}); see {log}")
    return workdir


def _remove_tree(scratch: Path, side: str, rev: str) -> None:
    tree = scratch / f"tree-{_name(side, rev)}"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--dirs", nargs=2, type=Path, metavar=("A", "B"), help="two finished demo folders")
    which.add_argument("--revs", nargs=2, metavar=("REV_A", "REV_B"), help="two git revisions to build and run")
    parser.add_argument("--scratch", type=Path, help="where --revs puts its trees and demos (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the demo folders of --revs (trees are removed)")
    for name, default in SMALL_DEMO.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=default)
    args = parser.parse_args(argv)
    if args.dirs:
        results = compare_runs(args.dirs[0].resolve(), args.dirs[1].resolve())
        print(render(results))
        return 0 if all(r.equal for r in results) else 1
    scratch = (args.scratch or Path(tempfile.mkdtemp(prefix="radlake-compare-"))).resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    scratch.chmod(0o755)
    size = {k: getattr(args, k) for k in SMALL_DEMO}
    rev_a, rev_b = args.revs
    try:
        dir_a = build_revision("a", rev_a, scratch, size)
        dir_b = build_revision("b", rev_b, scratch, size)
        results = compare_runs(dir_a, dir_b)
    finally:
        for side, rev in (("a", rev_a), ("b", rev_b)):
            _remove_tree(scratch, side, rev)
    print(render(results, rev_a, rev_b))
    if not args.keep:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
    else:
        print(f"demo folders kept under {scratch}")
    return 0 if all(r.equal for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
