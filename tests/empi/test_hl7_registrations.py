"""ADT registrations feed the master index: the demo's HL7-only hospital registers its patients only by
ADT^A04/A08/A01, and a person registered there and by CDC at another hospital is one person in
silver/patient_master, as the simulator's people say (truth/persons.csv)."""

from __future__ import annotations

import csv
from collections import defaultdict

import pytest

from radlake import catalog, lake
from radlake.config import load_settings
from simulator.simulate import read_manifest

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_hl7_registrations_are_records_the_empi_links(demo_run) -> None:
    workdir, summary = demo_run
    settings = load_settings(summary.config)
    (hl7_house,) = [i["code"] for i in read_manifest(workdir)["institutions"] if i["ris"] == "hl7"]
    records: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    with (workdir / "truth" / "persons.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            records[row["person_id"]][row["institution"]].append(row["record_id"])
    registered = {r for houses in records.values() for r in houses.get(hl7_house, [])}

    hl7 = lake.read_arrow(settings, catalog.uri(settings, "silver", "hl7_patients"), ["record_id", "id_number"])
    assert set(hl7.column("record_id").to_pylist()) == registered  # every registration, by HL7 alone
    assert any(hl7.column("id_number").to_pylist())  # demographics came with them (PID-3 NNCHN)

    master = lake.read_arrow(settings, catalog.uri(settings, "silver", "patient_master"), ["record_id", "empi_id"])
    empi = dict(zip(master.column("record_id").to_pylist(), master.column("empi_id").to_pylist(), strict=True))
    assert registered <= set(empi)
    both = [houses for houses in records.values() if hl7_house in houses and len(houses) > 1]
    assert both, "no person registered at the HL7 hospital and another one: the test proves nothing"
    linked = [h for h in both if len({empi[r] for rs in h.values() for r in rs}) == 1]
    assert len(linked) >= 0.9 * len(both), (len(linked), len(both))
