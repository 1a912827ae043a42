"""The compatibility lane: every pure Spark transform gives the same result on JVM Spark as on Sail."""

from __future__ import annotations

import ast
import datetime as dt
import decimal
import math
from pathlib import Path
from typing import Any

import pytest
from cases import CASES, Case

ROOT = Path(__file__).resolve().parents[2]
TRANSFORM_ROOTS = ("transforms", "ingestion")

pytestmark = pytest.mark.slow


def _canon(value: Any) -> Any:
    """A comparable, hashable form of one cell (floats to 12 significant digits, nested values recursively)."""
    if isinstance(value, float):
        return None if math.isnan(value) else float(f"{value:.12g}")
    if isinstance(value, decimal.Decimal):
        return value.normalize()
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    if isinstance(value, dict):
        return tuple(sorted((k, _canon(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_canon(v) for v in value)
    return value


def _sort_key(row: tuple) -> tuple:
    return tuple((v is None, repr(v)) for v in row)


def _result(case: Case, spark) -> tuple[list[tuple[str, str]], list[tuple]]:
    """(column name, Spark type) pairs and the rows in a canonical order, from one engine."""
    df = case.build(spark)
    schema = [(f.name, f.dataType.simpleString()) for f in df.schema.fields]
    table = df.toArrow()
    rows = []
    for record in table.to_pylist():
        row = []
        for name, value in record.items():
            if name in case.unordered_arrays and value is not None:
                value = sorted(value, key=lambda v: (v is None, repr(v)))
            row.append(_canon(value))
        rows.append(tuple(row))
    return schema, sorted(rows, key=_sort_key)


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_result_on_jvm_spark_and_sail(name: str, spark, jvm_spark) -> None:
    case = CASES[name]
    assert spark.sql("select version()").first()[0] != jvm_spark.sql("select version()").first()[0]
    sail_schema, sail_rows = _result(case, spark)
    jvm_schema, jvm_rows = _result(case, jvm_spark)
    assert jvm_schema == sail_schema, f"{name}: column names or types differ (JVM vs Sail)"
    assert sail_rows, f"{name}: the case returns no rows, so it proves nothing"
    assert len(jvm_rows) == len(sail_rows), f"{name}: {len(jvm_rows)} rows on JVM Spark, {len(sail_rows)} on Sail"
    for jvm_row, sail_row in zip(jvm_rows, sail_rows, strict=True):
        assert jvm_row == sail_row, f"{name}: first differing row (JVM vs Sail)"


def _pure_spark_transforms() -> list[str]:
    """``module:function`` of every public function that takes and returns a Spark DataFrame and no session.

    Found by reading the source (no imports): modules that import pyspark; functions whose return annotation
    is a (Spark) ``DataFrame``, with a DataFrame parameter and neither a ``spark`` nor a ``settings`` one
    (those are jobs: I/O adapters around the pure functions).
    """
    found = []
    for top in TRANSFORM_ROOTS:
        for path in sorted((ROOT / top).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            if "pyspark" not in source:
                continue
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for node in ast.parse(source).body:
                if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
                    continue
                returns = ast.unparse(node.returns) if node.returns else ""
                params = {a.arg: ast.unparse(a.annotation) if a.annotation else "" for a in node.args.args}
                params.update({a.arg: ast.unparse(a.annotation) if a.annotation else "" for a in node.args.kwonlyargs})
                spark_frame = returns.strip("'\"") in ("DataFrame", "DataFrame | None")
                takes_frame = any("DataFrame" in a and "pd." not in a for a in params.values())
                is_job = any(p in params for p in ("spark", "settings", "session"))
                if spark_frame and takes_frame and not is_job:
                    found.append(f"{module}:{node.name}")
    return found


def test_every_pure_spark_transform_has_a_case() -> None:
    transforms = _pure_spark_transforms()
    assert "transforms.exams.build:build_exams" in transforms  # the finder itself works
    covered = {c for case in CASES.values() for c in case.covers}
    missing = sorted(set(transforms) - covered)
    assert not missing, f"pure Spark transforms without a JVM-Spark compat case in tests/compat/cases.py: {missing}"
