"""Tests of the lake job: RIS/HIS and DICOM patients in, EMPI tables out, incremental runs, steward loop."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import write_deltalake
from typer.testing import CliRunner

from cli.main import app
from radlake import catalog, lake
from radlake.config import Settings
from simulator.people import generate_registry
from transforms.empi.job import read_patient_records, run_empi


def _settings(tmp_path: Path) -> Settings:
    sources = {f"ris_{code}": {"dsn": "postgresql://localhost/none", "institution": code} for code in ("h01", "h02")}
    return Settings(lake=str(tmp_path / "lake"), sources=sources)


def _patients_table(rows: pd.DataFrame) -> pa.Table:
    table = pd.DataFrame(
        {
            "patient_id": range(len(rows)),
            "mrn": rows["mrn"],
            "name": rows["name"],
            "sex": rows["sex"],
            "birth_date": rows["birth_date"],
            "id_number": rows["id_number"],
            "phone": rows["phone"],
            "address": rows["address"],
            "vip": False,
            "updated_at": pd.Timestamp("2025-01-01", tz="UTC"),
        }
    )
    return pa.Table.from_pandas(table, preserve_index=False)


def _write_patients(settings: Settings, code: str, rows: pd.DataFrame, mode: str = "overwrite") -> None:
    uri = catalog.uri(settings, "silver", catalog.cdc_table_name(f"ris_{code}", "patients"))
    write_deltalake(uri, _patients_table(rows), mode=mode)


def _read(settings: Settings, name: str) -> pd.DataFrame:
    table = lake.read_arrow(settings, catalog.uri(settings, "silver", name))
    assert table is not None, name
    return table.to_pandas()


@pytest.fixture()
def registry() -> pd.DataFrame:
    # The hard registry: its look-alikes leave pairs for the steward loop below (the standard one leaves none).
    return generate_registry(1200, ["h01", "h02"], seed=8, hard=True)


@pytest.mark.slow
def test_job_reads_ris_and_dicom_and_runs_incrementally(registry: pd.DataFrame, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    h01 = registry[registry["source_system"] == "h01"]
    h02 = registry[registry["source_system"] == "h02"]
    _write_patients(settings, "h01", h01.iloc[:-100])
    _write_patients(settings, "h02", h02)
    known = h02.iloc[0]
    studies = pd.DataFrame(
        {
            "study_instance_uid": ["1.2.3", "1.2.4"],
            "accession_number": ["h02250101000001", "h02250101000002"],
            "patient_id": [known["mrn"], "DICOMONLY1"],  # one RIS patient, one seen only in DICOM
            "patient_name": ["WHATEVER^NAME", "QIAN^DUODUO"],
            "patient_sex": ["F", "F"],
            "patient_birth_date": [dt.date(1990, 1, 1), dt.date(2001, 2, 3)],
            "last_ingested_at": pd.Timestamp("2025-01-02", tz="UTC"),
        }
    )
    write_deltalake(catalog.uri(settings, "silver", "dicom_studies"), pa.Table.from_pandas(studies))
    records = read_patient_records(settings)
    assert len(records) == len(h01) - 100 + len(h02) + 1
    assert records.set_index("record_id").loc[f"h02:{known['mrn']}", "name"] == known["name"]  # RIS wins
    assert "h02:DICOMONLY1" in set(records["record_id"])

    run_empi(settings, now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    master = _read(settings, "patient_master")
    assert len(master) == len(records)
    assert len(_read(settings, "patient_golden")) == master["empi_id"].nunique()
    assert (_read(settings, "empi_events")["event"] == "create").all()
    assert (Path(settings.state_dir) / "empi" / "model.json").is_file()

    _write_patients(settings, "h01", h01)  # 100 more registrations arrive
    second = run_empi(settings, now=dt.datetime(2025, 1, 2, tzinfo=dt.UTC))
    assert second.stats["new_records"] == 100
    master2 = _read(settings, "patient_master").set_index("record_id")["empi_id"]
    before = master.set_index("record_id")["empi_id"]
    assert (master2.reindex(before.index) == before).mean() > 0.99
    events = _read(settings, "empi_events")
    assert events["occurred_at"].nunique() == 2  # appended, not replaced

    # Steward loop through the CLI against the lake.
    runner = CliRunner()
    queue_csv = tmp_path / "queue.csv"
    result = runner.invoke(app, ["empi", "review", "export", "--output", str(queue_csv), "--lake", settings.lake])
    assert result.exit_code == 0, result.output
    queue = pd.read_csv(queue_csv, dtype=str)
    assert len(queue) > 0
    pick = queue.head(1).assign(decision="link")
    pick.to_csv(tmp_path / "filled.csv", index=False)
    result = runner.invoke(
        app, ["empi", "review", "import", str(tmp_path / "filled.csv"), "--by", "steward1", "--lake", settings.lake]
    )
    assert result.exit_code == 0, result.output
    assert len(_read(settings, "empi_decisions")) == 1
    run_empi(settings, now=dt.datetime(2025, 1, 3, tzinfo=dt.UTC))
    master3 = _read(settings, "patient_master").set_index("record_id")["empi_id"]
    assert master3[pick.iloc[0]["record_id_a"]] == master3[pick.iloc[0]["record_id_b"]]


def test_job_without_patients_says_what_to_do(tmp_path: Path) -> None:
    from radlake.errors import LakeError

    with pytest.raises(LakeError, match="no patient records"):
        read_patient_records(_settings(tmp_path))
    with pytest.raises(LakeError, match="no patient records"):
        run_empi(_settings(tmp_path))  # the out-of-core run's own read says the same


@pytest.mark.slow
def test_crash_before_the_master_then_rerun_equals_a_clean_run(
    registry: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that dies after its events and before its master is redone whole: same tables as a clean run."""
    from transforms.empi import job

    h01 = registry[registry["source_system"] == "h01"]
    h02 = registry[registry["source_system"] == "h02"]
    lakes = {name: _settings(tmp_path / name) for name in ("crashed", "clean")}
    for settings in lakes.values():
        _write_patients(settings, "h01", h01.iloc[:-150])
        _write_patients(settings, "h02", h02)
        run_empi(settings, now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
        _write_patients(settings, "h01", h01)

    real_write = job._write

    def dies_at_master(settings: Settings, name: str, frame: pd.DataFrame, predicate: str | None = None) -> None:
        if name == "patient_master":
            raise KeyboardInterrupt("killed")
        real_write(settings, name, frame, predicate)

    second = dt.datetime(2025, 1, 2, tzinfo=dt.UTC)
    monkeypatch.setattr(job, "_write", dies_at_master)
    with pytest.raises(KeyboardInterrupt):
        run_empi(lakes["crashed"], now=second)
    assert _read(lakes["crashed"], "empi_events")["empi_run"].max() == 1  # the dead run's events landed
    monkeypatch.setattr(job, "_write", real_write)
    run_empi(lakes["crashed"], now=second)
    run_empi(lakes["clean"], now=second)

    for name, key in (
        ("patient_master", ["record_id"]),
        ("patient_golden", ["empi_id"]),
        ("empi_events", ["event_id"]),
        ("empi_review_queue", ["record_id_a", "record_id_b"]),
    ):
        crashed = _read(lakes["crashed"], name).sort_values(key).reset_index(drop=True)
        clean = _read(lakes["clean"], name).sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(crashed, clean, check_like=True, obj=name)
    events = _read(lakes["clean"], "empi_events")
    assert events["event_id"].is_unique and set(events["empi_run"]) == {0, 1}


@pytest.mark.slow
def test_incremental_runs_reuse_the_saved_model_until_retrain_is_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from splink.internals.linker_components.training import LinkerTraining

    trainings: list[int] = []
    real = LinkerTraining.estimate_u_using_random_sampling

    def counted(self: LinkerTraining, *args: object, **kwargs: object) -> object:
        trainings.append(1)  # every training, whoever starts it, estimates u first
        return real(self, *args, **kwargs)

    monkeypatch.setattr(LinkerTraining, "estimate_u_using_random_sampling", counted)
    settings = _settings(tmp_path)
    registry = generate_registry(400, ["h01", "h02"], seed=12)
    h01 = registry[registry["source_system"] == "h01"]
    _write_patients(settings, "h01", h01.iloc[:-30])
    _write_patients(settings, "h02", registry[registry["source_system"] == "h02"])
    run_empi(settings, now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    model_file = Path(settings.state_dir) / "empi" / "model.json"
    saved = model_file.read_bytes()
    assert len(trainings) == 1

    _write_patients(settings, "h01", h01)  # 30 new registrations
    second = run_empi(settings, now=dt.datetime(2025, 1, 2, tzinfo=dt.UTC))
    assert second.stats["new_records"] == 30
    assert len(trainings) == 1  # the saved model scored them
    assert model_file.read_bytes() == saved

    run_empi(settings, retrain=True, now=dt.datetime(2025, 1, 3, tzinfo=dt.UTC))
    assert len(trainings) == 2


def _same_table(settings: Settings, name: str, memory: pd.DataFrame, key: list[str]) -> None:
    stored = _read(settings, name).drop(columns=["empi_run"], errors="ignore")
    assert len(memory) > 0, name
    pd.testing.assert_frame_equal(
        stored.sort_values(key, ignore_index=True),
        memory.sort_values(key, ignore_index=True)[list(stored.columns)],
        check_dtype=False,
        obj=name,
    )


def _hl7_and_dicom(settings: Settings, registry: pd.DataFrame) -> None:
    """HL7 registrations (one of a RIS record, one new) and DICOM studies: a RIS patient, DICOM-only patients
    (one seen twice, two seen at the same time), a study without PatientID and one of no known institution."""
    h02 = registry[registry["source_system"] == "h02"]
    ris = h02.iloc[0]
    hl7 = pd.DataFrame(
        {
            "record_id": [f"h02:{ris['mrn']}", "h01:HL7NEW1"],
            "institution": ["h02", "h01"],
            "mrn": [ris["mrn"], "HL7NEW1"],
            "name": ["OTHER^NAME", "赵丽"],
            "sex": ["M", "F"],
            "birth_date": [dt.date(1950, 1, 1), dt.date(1988, 3, 4)],
            "id_number": [None, None],
            "phone": [None, "13800001111"],
            "address": [None, None],
            "last_event": "ADT^A04",
            "last_control_id": ["1", "2"],
            "updated_at": pd.Timestamp("2025-01-02", tz="UTC"),
        }
    )
    write_deltalake(
        catalog.uri(settings, "silver", "hl7_patients"),
        pa.Table.from_pandas(hl7, schema=catalog.schemas.HL7_PATIENTS, preserve_index=False),
    )
    times = pd.to_datetime(["2025-01-01", "2025-01-03", "2025-01-02", "2025-01-02", "2025-01-02", None, None], utc=True)
    studies = pd.DataFrame(
        {
            "study_instance_uid": [f"1.2.{i}" for i in range(7)],
            "accession_number": [f"h02{i:06d}" for i in range(5)] + ["zz0001", "h01000009"],
            "patient_id": ["DICOM1", "DICOM1", "DICOM2", "DICOM3", ris["mrn"], "DICOM4", None],
            "patient_name": ["OLD^NAME", "QIAN^DUODUO", "SUN^LI", "SUN^LEI", "WHATEVER", "NOBODY", "NOBODY"],
            "patient_sex": ["F", "F", "M", "M", "F", "F", "F"],
            "patient_birth_date": [dt.date(2001, 2, 3)] * 7,
            "last_ingested_at": times,
        }
    )
    write_deltalake(catalog.uri(settings, "silver", "dicom_studies"), pa.Table.from_pandas(studies))


@pytest.mark.slow
def test_lake_run_out_of_core_equals_the_in_memory_path(registry: pd.DataFrame, tmp_path: Path) -> None:
    """The lake's run (silver tables → Parquet registry → out-of-core linkage → silver, in batches) writes the
    master, golden records, review queue and events that ``link_patients`` over ``read_patient_records`` gives,
    in a full run and in an incremental one with steward decisions."""
    from transforms.empi.job import with_hl7_links
    from transforms.empi.lake_files import write_patient_registry
    from transforms.empi.linkage import LinkageConfig
    from transforms.empi.master import PreviousRun, link_patients
    from transforms.empi.store import save_decisions

    settings = _settings(tmp_path)
    h01 = registry[registry["source_system"] == "h01"]
    _write_patients(settings, "h01", h01.iloc[:-100])
    # h02's table gained its address column later: its first data file has none (read as missing).
    h02 = registry[registry["source_system"] == "h02"]
    uri = catalog.uri(settings, "silver", catalog.cdc_table_name("ris_h02", "patients"))
    early = h02.iloc[:50][["mrn", "name", "sex", "birth_date", "id_number", "phone"]]
    write_deltalake(uri, pa.Table.from_pandas(early, preserve_index=False))
    write_deltalake(uri, _patients_table(h02.iloc[50:]), mode="append", schema_mode="merge")
    _hl7_and_dicom(settings, registry)

    records = read_patient_records(settings)
    write_patient_registry(settings, tmp_path / "registry.parquet", tmp_path / "work")
    streamed = pd.read_parquet(tmp_path / "registry.parquet")
    as_text = records.map(lambda v: None if v is None or v is pd.NaT or v != v else str(v))
    pd.testing.assert_frame_equal(streamed, as_text[list(streamed.columns)], check_dtype=False)
    assert {"h01:HL7NEW1", "h02:DICOM1", "h02:DICOM2", "h02:DICOM3"} <= set(streamed["record_id"])
    assert streamed.set_index("record_id").loc["h02:DICOM1", "name"] == "QIAN^DUODUO"  # the latest study's

    first, second = dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 1, 2, tzinfo=dt.UTC)
    run_empi(settings, now=first)
    model = json.loads((Path(settings.state_dir) / "empi" / "model.json").read_text(encoding="utf-8"))
    memory = link_patients(records, model=model, config=LinkageConfig(), now=first)
    for name, frame, key in (
        ("patient_master", memory.master, ["record_id"]),
        ("patient_golden", memory.golden, ["empi_id"]),
        ("empi_review_queue", memory.review, ["record_id_a", "record_id_b"]),
        ("empi_events", memory.events, ["event_id"]),
    ):
        _same_table(settings, name, frame, key)

    # 100 new registrations; a steward splits a person of two records and joins two persons.
    _write_patients(settings, "h01", h01)
    master = memory.master
    sizes = master["empi_id"].map(master["empi_id"].value_counts())
    pair = master[sizes == 2].sort_values(["empi_id", "record_id"]).head(2)["record_id"].tolist()
    singles = master[sizes == 1]["record_id"].head(2).tolist()
    decided = pd.DataFrame(
        {
            "record_id_a": [pair[0], singles[0]],
            "record_id_b": [pair[1], singles[1]],
            "decision": ["never_link", "link"],
            "decided_by": "steward1",
            "decided_at": pd.Timestamp("2025-01-02", tz="UTC"),
        }
    )
    save_decisions(settings, decided)
    run_empi(settings, now=second)
    again = link_patients(
        read_patient_records(settings),
        previous=PreviousRun(memory.master, memory.events, memory.review, memory.features, memory.golden),
        decisions=with_hl7_links(_read(settings, "empi_decisions"), None),
        model=model,
        config=LinkageConfig(),
        now=second,
    )
    assert again.stats["new_records"] == 100
    for name, frame, key in (
        ("patient_master", again.master, ["record_id"]),
        ("patient_golden", again.golden, ["empi_id"]),
        ("empi_review_queue", again.review, ["record_id_a", "record_id_b"]),
    ):
        _same_table(settings, name, frame, key)
    events = _read(settings, "empi_events")
    _same_table(settings, "empi_events", pd.concat([memory.events, again.events], ignore_index=True), ["event_id"])
    assert set(events["empi_run"]) == {0, 1}
    assert {"split", "merge"} <= set(again.events["event"])
