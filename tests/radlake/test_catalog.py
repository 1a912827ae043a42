"""The catalog is the one contract per table: writers resolve, dbt and the docs agree with it."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from radlake import catalog

ROOT = Path(__file__).resolve().parents[2]
DBT_MODELS = ROOT / "dbt_project" / "models"
SPECS = [*catalog.tables(), *catalog.cdc_patterns()]


def _resolve(writer: str) -> object:
    module, _, path = writer.partition(":")
    obj: object = importlib.import_module(module)
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.key)
def test_each_writer_resolves_to_a_function_that_writes_through_a_table_handle(spec: catalog.TableSpec) -> None:
    writer = _resolve(spec.writer)
    assert callable(writer), spec.writer
    # The named function (or a helper of its module it calls) calls a write method of a radlake.lake.Table.
    module = importlib.import_module(spec.writer.partition(":")[0])
    source = Path(module.__file__).read_text(encoding="utf-8")
    writes = {"append", "create", "replace", "upsert", "mark_applied", "spark_overwrite", "spark_merge", "spark_delete"}
    called = {
        n.func.attr
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
    }
    assert called & writes, f"{spec.writer}: its module never calls a write method of a table handle"
    # Its handles come from radlake.lake (directly, or through a helper of its domain that hands one out).
    assert "from radlake.lake import" in source or "_table(" in source, spec.writer


def test_table_keys_and_partitions_are_columns_of_the_schema() -> None:
    for spec in catalog.tables():
        if spec.schema is None:
            continue
        assert isinstance(spec.schema, pa.Schema)
        missing = [c for c in (*spec.keys, *spec.partition_by) if c not in spec.schema.names]
        assert not missing, (spec.key, missing)


def test_decisions_tables_share_their_audit_columns() -> None:
    audit = pa.schema(list(catalog.DECISION_AUDIT))
    for name in ("exam_name_decisions", "empi_decisions"):
        schema = catalog.table("silver", name).schema
        assert schema is not None
        assert [schema.field(f.name) for f in audit] == list(audit), name


def test_spark_schemas_follow_the_arrow_ones() -> None:
    from pyspark.sql import types as T

    series = catalog.spark_schema(catalog.table("silver", "dicom_series"))
    assert series["series_instance_uid"] == T.StructField("series_instance_uid", T.StringType(), False)
    assert series["first_acquired_at"].dataType == T.TimestampNTZType()  # the modality's local time
    assert series["last_ingested_at"].dataType == T.TimestampType()  # an instant (UTC)
    with pytest.raises(KeyError, match="no fixed schema"):  # a CDC table's columns follow its source
        catalog.spark_schema(catalog.cdc_patterns()[1])


def test_every_fixed_table_has_its_schema_in_the_catalog() -> None:
    assert [s.key for s in catalog.tables() if s.schema is None] == []


# --- dbt ------------------------------------------------------------------------------------------------------


def _sources() -> list[dict]:
    return yaml.safe_load((DBT_MODELS / "staging" / "__sources.yml").read_text(encoding="utf-8"))["sources"]


def test_dbt_sources_are_catalog_tables_at_the_catalog_paths() -> None:
    names = {(s.layer, s.name) for s in catalog.tables()}
    for source in _sources():
        layer = source["name"]
        location = source["config"]["external_location"]
        # The catalog's path: <lake>/<layer>/<name>.
        assert location == f"delta_scan('{{{{ env_var('RADLAKE_LAKE') }}}}/{layer}/{{name}}')", location
        for tbl in source["tables"]:
            assert (layer, tbl["name"]) in names, f"dbt source {layer}.{tbl['name']} is not in the catalog"
            spec = catalog.table(layer, tbl["name"])
            stated = re.search(r"Keys: ([a-z_, ]+)\.", " ".join(tbl.get("description", "").split()))
            if stated:
                assert tuple(k.strip() for k in stated.group(1).split(",")) == spec.keys, spec.key
            for column in tbl.get("columns", []):
                if spec.schema is not None:
                    assert column["name"] in spec.schema.names, (spec.key, column["name"])


# Columns whose values a catalog list names; the marts may add values of their own (listed here).
VALUE_LISTS = {
    "priority": (catalog.PRIORITIES, ("(other)",)),  # the folded small-cell row (privacy.min_cell)
    "mapping_status": (catalog.MAPPING_STATUSES, ("unmapped",)),
    "exam_name_status": (catalog.MAPPING_STATUSES, ("unmapped",)),
    "status": (catalog.ORDER_STATUSES, ()),
    "outcome": (catalog.FILE_OUTCOMES, ()),
    "decision": (catalog.EMPI_DECISIONS, ()),
}


def _accepted_values() -> list[tuple[str, str, list[str]]]:
    found = []
    for path in sorted(DBT_MODELS.rglob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for model in doc.get("models", []):
            for column in model.get("columns", []):
                for test in column.get("data_tests", column.get("tests", [])) or []:
                    if isinstance(test, dict) and "accepted_values" in test:
                        spec = test["accepted_values"]
                        values = spec.get("arguments", spec).get("values")
                        found.append((f"{model['name']}.{column['name']}", column["name"], values))
    return found


def test_dbt_accepted_values_come_from_the_catalog_lists() -> None:
    checked = 0
    for where, column, values in _accepted_values():
        if column not in VALUE_LISTS:
            continue
        allowed, extra = VALUE_LISTS[column]
        assert set(values) <= set(allowed) | set(extra), f"{where}: {sorted(set(values) - set(allowed))}"
        if column in ("priority", "mapping_status"):
            # Every value the catalog names is accepted (a mart may add its own, e.g. ``unmapped``).
            assert set(values) - set(extra) == set(allowed), f"{where} lists {values}, the catalog {allowed}"
        checked += 1
    assert checked >= 3  # the marts do test these columns: a parser that finds nothing must not pass


# --- docs -----------------------------------------------------------------------------------------------------


def test_architecture_names_each_tables_writer() -> None:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = text.split("## Tables", 1)[1].split("\n### ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells[4].strip("`")
    for spec in SPECS:
        assert rows.get(spec.key) == spec.writer, f"ARCHITECTURE names {rows.get(spec.key)!r} for {spec.key}"
