"""One set of personal-data tags: the previews, the quality reports and the warehouse split each hide what the
tags say, seen from what each consumer actually writes, and no tag is hidden by halves."""

from __future__ import annotations

from pathlib import Path

import duckdb
import great_expectations.expectations as e
import pandas as pd
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from expectations.failing_rows import write_failing_rows
from expectations.runner import ExpectationOutcome, Suite, SuiteResult
from orchestration.metadata import table_metadata
from radlake import catalog, column_tags
from radlake.config import Settings
from radlake.errors import LakeError
from radlake.publish import check_audience, columns_hidden_from_readers
from tests.gold.phi_scan import PERSONAL_NAMES

PLAIN = ["institution", "modality"]  # no personal data: every consumer shows them
EVERY = [*PLAIN, *sorted(column_tags.COLUMN_TAGS)]

# Catalog columns whose names look personal but are not: codes, devices, counts, the hospital's own names.
UNTAGGED_ON_PURPOSE = {
    "sop_class_uid", "transfer_syntax_uid", "patient_sex", "institution_name", "station_name",
    "manufacturer_model_name", "raw_exam_name", "exam_name_status", "raw_name", "standard_names", "empi_run",
    "records_affected", "ai_name", "image_position_patient", "image_orientation_patient",  # geometry, not a person
}  # fmt: skip
LOOKS_PERSONAL = ("patient", "mrn", "birth", "phone", "address", "record", "uid", "accession", "json", "id_number",
                  "physician", "name", "empi", "path", "text", "statement", "params", "key")  # fmt: skip


def hidden_by_preview(tmp_path: Path) -> set[str]:
    uri = str(tmp_path / "lake" / "silver" / "everything")
    write_deltalake(uri, pa.table({c: [f"v-{c}"] for c in EVERY}))
    meta = table_metadata(Settings(lake=str(tmp_path / "lake")), uri, preview_columns=EVERY)
    header = meta["preview"].value.splitlines()[0]
    shown = {cell.strip() for cell in header.strip("|").split("|")}
    return set(EVERY) - shown


def hidden_by_quality_report(tmp_path: Path) -> set[str]:
    frame = pd.DataFrame({c: [f"v-{c}", f"v-{c}"] for c in EVERY})  # two equal rows: "institution" not unique
    suite = Suite(
        name="t",
        layer="silver",
        table="silver/t",
        build=lambda: [e.ExpectColumnValuesToBeUnique(column="institution")],
        description="every tagged column",
    )
    failed = ExpectationOutcome("expect_column_values_to_be_unique", "institution", "critical", False, 2)
    result = SuiteResult("t", "silver", "silver/t", 2, False, True, [failed], "2024-03-04T00:00:00+00:00")
    (sample,) = write_failing_rows(Settings(lake=str(tmp_path / "lake")), suite, frame, result)
    return set(EVERY) - set(pd.read_csv(sample.path).columns)


def hidden_by_warehouse_split(tmp_path: Path, stewards: bool) -> set[str]:
    path = tmp_path / f"split-{stewards}.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create table t as select " + ", ".join(f'1 as "{c}"' for c in EVERY))
    return {column for _table, column in columns_hidden_from_readers(path, stewards)}


def test_every_consumer_hides_what_the_tags_say(tmp_path: Path) -> None:
    views = {
        "ui": hidden_by_preview(tmp_path),
        "quality_report": hidden_by_quality_report(tmp_path),
        "analysts": hidden_by_warehouse_split(tmp_path, stewards=False),
        "stewards": hidden_by_warehouse_split(tmp_path, stewards=True),
    }
    by_tag: dict[str, set[str]] = {}
    for name, tag in column_tags.COLUMN_TAGS.items():
        by_tag.setdefault(tag, set()).add(name)
    for audience, hidden in views.items():
        assert hidden == column_tags.hidden_from(audience), audience  # type: ignore[arg-type]
        assert not hidden & set(PLAIN), audience
        # A tag is hidden whole or not at all: no column is personal in one view and not in another.
        for tag, names in by_tag.items():
            assert names <= hidden or not names & hidden, (audience, tag)
    personal = set.intersection(*views.values())
    assert personal == by_tag["personal"]
    # The UI and the analysts see no tagged column at all; the stewards more than the quality reports.
    assert views["ui"] == views["analysts"] == set(column_tags.COLUMN_TAGS)
    assert views["stewards"] < views["quality_report"] < views["ui"]


def test_the_gold_scan_names_only_tagged_columns() -> None:
    # tests/gold/phi_scan.py looks for these names in the analysts' file, independently of the tags.
    assert column_tags.hidden_from("analysts") >= PERSONAL_NAMES


def test_catalog_columns_that_look_personal_are_tagged() -> None:
    columns = {f.name: spec.key for spec in catalog.tables() if spec.schema is not None for f in spec.schema}
    untagged = {
        name: key
        for name, key in columns.items()
        if any(part in name for part in LOOKS_PERSONAL) and column_tags.tag(name) is None
    }
    assert set(untagged) <= UNTAGGED_ON_PURPOSE, untagged


@pytest.mark.parametrize("stewards", [False, True])
def test_publish_refuses_a_file_with_a_hidden_column(tmp_path: Path, stewards: bool) -> None:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create table clean as select 'h01' as institution, 3 as exams")
    check_audience(path, stewards)  # nothing tagged: published
    with duckdb.connect(str(path)) as con:
        con.execute("create table leak as select 'M8800001' as mrn")
    with pytest.raises(LakeError, match=r"leak\.mrn is personal data"):
        check_audience(path, stewards)
