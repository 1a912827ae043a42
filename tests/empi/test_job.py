"""Tests of the lake job: RIS/HIS and DICOM patients in, EMPI tables out, incremental runs, steward loop."""

from __future__ import annotations

import datetime as dt
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


def _write_patients(settings: Settings, code: str, rows: pd.DataFrame, mode: str = "overwrite") -> None:
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
    uri = catalog.uri(settings, "silver", catalog.cdc_table_name(f"ris_{code}", "patients"))
    write_deltalake(uri, pa.Table.from_pandas(table, preserve_index=False), mode=mode)


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
