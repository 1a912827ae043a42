"""dbt's staging models read the lake tables the catalog describes: each model's SQL binds against the catalog's
columns and types, its documented columns exist, and the columns it passes on keep the catalog's types."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest
import yaml

from radlake import catalog, dbt_columns
from radlake.config import Settings
from radlake.dbt_pseudonyms import register
from radlake.warehouse import DBT_PROJECT_DIR, dbt_env

STAGING = sorted((DBT_PROJECT_DIR / "models" / "staging").glob("stg_*.sql"))
SOURCE_CALL = re.compile(r"\{\{\s*(?:optional_)?source\('(\w+)',\s*'(\w+)'\)\s*\}\}")


def bind(model: Path) -> tuple[catalog.TableSpec, dict[str, str]]:
    """The model's output columns and DuckDB types, its source standing in as an empty table of the catalog's
    schema (the SQL is the model's own, only the source call replaced)."""
    sql = model.read_text(encoding="utf-8")
    ((layer, name),) = set(SOURCE_CALL.findall(sql))
    rendered = SOURCE_CALL.sub(f'"{layer}__{name}"', sql)
    assert "{{" not in rendered and "{%" not in rendered, f"{model.name}: Jinja this test does not render"
    spec = catalog.table(layer, name)  # type: ignore[arg-type]
    assert spec.schema is not None
    with duckdb.connect() as con:
        register(con, bytes(32))
        con.register(f"{layer}__{name}", spec.schema.empty_table())
        relation = con.sql(rendered)
        return spec, {c: str(t) for c, t in zip(relation.columns, relation.types, strict=True)}


def documented(model: Path) -> list[str]:
    doc = yaml.safe_load(model.with_suffix(".yml").read_text(encoding="utf-8"))
    (entry,) = [m for m in doc["models"] if m["name"] == model.stem]
    return [c["name"] for c in entry.get("columns", [])]


def test_every_staging_model_is_checked() -> None:
    assert {m.stem for m in STAGING} >= {
        "stg_silver__exams",
        "stg_silver__patient_master",
        "stg_bronze__dicom_instances",
    }


@pytest.mark.parametrize("model", STAGING, ids=lambda p: p.stem)
def test_staging_model_matches_the_catalog(model: Path) -> None:
    spec, columns = bind(model)
    catalog_types = dict(dbt_columns.duckdb_columns(spec))
    assert set(documented(model)) <= set(columns), f"{model.stem} documents columns it does not have"
    passed_on = {c: t for c, t in columns.items() if c in catalog_types}
    assert passed_on, model.stem
    changed = {c: (catalog_types[c], t) for c, t in passed_on.items() if t != catalog_types[c]}
    assert changed == {}, f"{model.stem} changes the catalog type of a column it keeps the name of"


def test_dbt_runs_get_the_catalogs_columns(tmp_path: Path) -> None:
    env = dbt_env(Settings(lake=str(tmp_path / "lake")))
    tables = json.loads(env[dbt_columns.ENV])
    assert list(tables["silver.exams"]) == catalog.table("silver", "exams").schema.names  # type: ignore[union-attr]
    assert tables["silver.patient_master"]["linked_at"] == "TIMESTAMP WITH TIME ZONE"
    assert tables["bronze.dicom_instances"]["acquisition_datetime"] == "TIMESTAMP"  # a local time: no zone


def test_marts_carry_enforced_contracts() -> None:
    for path in sorted((DBT_PROJECT_DIR / "models" / "marts").glob("*.yml")):
        for model in yaml.safe_load(path.read_text(encoding="utf-8"))["models"]:
            assert model["config"]["contract"] == {"enforced": True}, model["name"]
            untyped = [c["name"] for c in model["columns"] if not c.get("data_type")]
            assert model["columns"] and not untyped, (model["name"], untyped)
