"""The demo's third way in: the last hospital's RIS sends its orders and reports over MLLP; the truth file says
what must land, and silver/exams still has one exam per order (they came by CDC too)."""

from __future__ import annotations

import csv
from collections import Counter

import pytest

from radlake import catalog, lake
from radlake.config import load_settings

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_the_simulated_hl7_feed_lands_once_and_merges(demo_run) -> None:
    workdir, summary = demo_run
    settings = load_settings(summary.config)
    (truth_file,) = sorted((workdir / "truth").glob("hl7_*.csv"))
    institution = truth_file.stem.removeprefix("hl7_")
    with truth_file.open(encoding="utf-8") as fh:
        truth = list(csv.DictReader(fh))
    bronze = lake.read_arrow(
        settings, catalog.uri(settings, "bronze", "hl7_messages"), ["control_id", "encoding_inferred"]
    )
    assert sorted(bronze.column("control_id").to_pylist()) == sorted(r["control_id"] for r in truth)
    assert any(bronze.column("encoding_inferred").to_pylist())  # the unlabelled GB18030 ones were detected
    orders = lake.read_arrow(
        settings, catalog.uri(settings, "silver", "hl7_orders"), ["institution", "accession_number"]
    )
    assert set(orders.column("accession_number").to_pylist()) == {r["accession_number"] for r in truth}
    assert set(orders.column("institution").to_pylist()) == {institution}
    exams = lake.read_arrow(settings, catalog.uri(settings, "silver", "exams"), ["institution", "accession_number"])
    keys = Counter(
        zip(exams.column("institution").to_pylist(), exams.column("accession_number").to_pylist(), strict=True)
    )
    assert max(keys.values()) == 1  # one exam per order, whichever way it came
    with (workdir / "truth" / "exams.csv").open(encoding="utf-8") as fh:
        ordered = {r["accession_number"] for r in csv.DictReader(fh) if r["institution"] == institution}
    assert {a for i, a in keys if i == institution} == ordered
