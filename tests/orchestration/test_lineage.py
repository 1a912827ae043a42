"""The Dagster asset graph is the catalog's: each lake asset depends on what its table reads, and shows the
table's columns (``dagster/column_schema``) with their personal-data tags."""

from __future__ import annotations

import dagster as dg
import pytest

from radlake import catalog, column_tags
from radlake.config import load_settings, write_settings

RIS = ["departments", "devices", "patients", "visits", "exam_orders", "exam_records", "reports"]


@pytest.fixture(scope="module", params=[False, True], ids=["no-hl7", "hl7"])
def defs_and_sources(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dg.Definitions, bool]:
    from orchestration.definitions import build_definitions

    config = {
        "lake": "lake",
        "sources": {
            "ris_h01": {"embedded_pgdata": "pg", "database": "ris_h01", "tables": RIS},
            "his": {"dsn": "postgresql://x@db/his", "tables": ["*"]},
        },
    }
    if request.param:
        config["hl7"] = {"allowed_facilities": {"H01": "h01"}}
    settings = load_settings(write_settings(config, tmp_path_factory.mktemp("lineage") / "radlake.yaml"))
    return build_definitions(settings), request.param


def expected_parents(spec: catalog.TableSpec, hl7: bool) -> set[str]:
    """What the catalog says, resolved by hand for this test's two sources."""
    out = set()
    for read in spec.reads:
        if read.startswith("ris:"):
            table = read.removeprefix("ris:")
            out |= {"bronze/his"} | ({f"silver/ris_h01__{table}"} if table in RIS else set())
        elif "hl7" not in read or hl7:
            out.add(read)
    if spec.key == "silver/exams":
        out.add("bronze/dicom_instances")  # the day link of issue 33 (an order edge, not a read)
    return out


def test_asset_deps_are_what_the_catalog_says_each_table_reads(defs_and_sources) -> None:
    defs, hl7 = defs_and_sources
    graph = defs.resolve_asset_graph()
    lake_assets = [s for s in catalog.tables() if graph.has(dg.AssetKey([s.layer, s.name]))]
    # Every table a job of the graph writes, plus the stewards' and the HL7 listener's inputs.
    assert {s.key for s in lake_assets} >= {"silver/exams", "silver/patient_master", "silver/dicomweb_instances"}
    assert ("bronze/hl7_messages" in {s.key for s in lake_assets}) is hl7
    for spec in lake_assets:
        parents = {k.to_user_string() for k in graph.get(dg.AssetKey([spec.layer, spec.name])).parent_keys}
        assert parents == expected_parents(spec, hl7), spec.key
    # The catalog's RIS tables of silver/exams are the ones its job reads.
    from transforms.exams.job import RIS_TABLES

    assert {r.removeprefix("ris:") for r in catalog.table("silver", "exams").reads if r.startswith("ris:")} == set(
        RIS_TABLES
    )


def test_exams_follow_bronze_day_by_day(defs_and_sources) -> None:
    defs, _ = defs_and_sources
    exams = defs.resolve_assets_def(dg.AssetKey(["silver", "exams"]))
    mapping = exams.get_partition_mapping(dg.AssetKey(["bronze", "dicom_instances"]))
    assert isinstance(mapping, dg.TimeWindowPartitionMapping)
    assert (mapping.start_offset, mapping.end_offset) == (0, 0)


def test_every_lake_asset_shows_its_catalog_columns(defs_and_sources) -> None:
    defs, _ = defs_and_sources
    graph = defs.resolve_asset_graph()
    seen = 0
    for spec in catalog.tables():
        key = dg.AssetKey([spec.layer, spec.name])
        if not graph.has(key) or spec.schema is None:
            continue
        schema = graph.get(key).metadata.get("dagster/column_schema")
        assert schema is not None, spec.key
        assert [c.name for c in schema.columns] == spec.schema.names, spec.key
        for column, field in zip(schema.columns, spec.schema, strict=True):
            assert column.type == str(field.type)
            assert column.constraints.nullable == field.nullable
            assert column.tags == ({"privacy": column_tags.tag(field.name)} if column_tags.tag(field.name) else {})
        seen += 1
    assert seen >= 15
    exams = {c.name: c for c in graph.get(dg.AssetKey(["silver", "exams"])).metadata["dagster/column_schema"].columns}
    assert exams["mrn"].tags == {"privacy": "personal"} and exams["accession_number"].tags == {"privacy": "identifier"}
    assert exams["exam_date"].type == "date32[day]" and not exams["institution"].constraints.nullable
