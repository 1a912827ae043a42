"""The demo's HL7-only hospital: its RIS is no database radlake may replicate, only an MLLP feed of registrations,
orders and reports. The truth files say what must land; its exams reach silver/exams and the marts like the
others', counted per hospital against the simulator's own list of orders."""

from __future__ import annotations

import csv
from collections import Counter

import pytest

from radlake import catalog, lake, warehouse
from radlake.config import load_settings
from simulator.simulate import read_manifest

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _truth(workdir, name: str) -> list[dict[str, str]]:
    with (workdir / "truth" / name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_the_hl7_only_hospital_lands_once_and_reaches_the_marts(demo_run) -> None:
    workdir, summary = demo_run
    settings = load_settings(summary.config)
    (institution,) = [i["code"] for i in read_manifest(workdir)["institutions"] if i["ris"] == "hl7"]
    assert not [s for s in settings.sources.values() if s.institution == institution]  # no CDC for it
    truth = _truth(workdir, f"hl7_{institution}.csv")
    bronze = lake.read_arrow(
        settings, catalog.uri(settings, "bronze", "hl7_messages"), ["control_id", "encoding_inferred"]
    )
    assert sorted(bronze.column("control_id").to_pylist()) == sorted(r["control_id"] for r in truth)
    assert any(bronze.column("encoding_inferred").to_pylist())  # the unlabelled GB18030 ones were detected
    assert {r["message_type"] for r in truth} >= {"ADT^A04", "ORM^O01", "ORU^R01"}
    orders = lake.read_arrow(
        settings, catalog.uri(settings, "silver", "hl7_orders"), ["institution", "accession_number"]
    )
    assert set(orders.column("accession_number").to_pylist()) == {r["accession_number"] for r in truth} - {""}
    assert set(orders.column("institution").to_pylist()) == {institution}

    # silver/exams: one exam per order for every hospital, whichever way it came.
    exams = lake.read_arrow(settings, catalog.uri(settings, "silver", "exams"), ["institution", "accession_number"])
    keys = Counter(
        zip(exams.column("institution").to_pylist(), exams.column("accession_number").to_pylist(), strict=True)
    )
    assert max(keys.values()) == 1
    ordered = Counter(r["institution"] for r in _truth(workdir, "exams.csv"))
    assert Counter(i for i, _ in keys) == ordered and ordered[institution] > 0
    performed = Counter(r["institution"] for r in _truth(workdir, "exams.csv") if r["performed"] == "true")
    with warehouse.connect(settings) as con:
        mart = dict(con.execute("select institution, sum(exam_count) from exam_volume_daily group by 1").fetchall())
    assert mart == dict(performed)
