"""Lake job: read patient records (RIS/HIS silver tables, DICOM headers), run the EMPI, write its silver tables.

Inputs: ``silver/<source>__patients`` of every configured source (record_id ``<institution>:<mrn>``), the
records the RIS registered over HL7 (``silver/hl7_patients``, ADT^A01/A04/A08, the same record ids), and
``silver/dicom_studies`` for patients seen only in DICOM headers (PatientID = the institution's mrn; the
institution is the configured code the accession number starts with, ``h01...``). A DICOM patient whose
record_id a RIS/HIS table already holds is that same record and adds nothing.

Outputs: ``silver/patient_master`` and ``silver/patient_golden`` (replaced), ``silver/empi_events``
(this run's events, added in one commit), ``silver/empi_review_queue`` (replaced). The trained model is kept in
``<state_dir>/empi/model.json`` and reused by later runs until ``retrain`` is asked for; the records' features are
kept beside it (a cache) so that a later run parses only new or changed records.

On DuckDB (the default) the run is out of core, in bounded memory whatever the registry's size: the silver
tables are streamed into a Parquet registry (:mod:`transforms.empi.lake_files`), linked by
:func:`transforms.empi.outofcore.link_registry`, and its output files streamed back into the silver tables, one
commit per table. On Spark the records are read into pandas (:func:`read_patient_records`) and linked by
:func:`transforms.empi.master.link_patients`. Both give the same tables.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from radlake import catalog, lake
from radlake.config import Settings
from radlake.errors import LakeError
from radlake.lake import Lake
from radlake.private import owner_only_dir, state_folder
from radlake.progress import Progress, silent
from transforms.empi.features import INPUT_COLUMNS
from transforms.empi.lake_files import NO_RECORDS, export_previous, parquet_batches, rows_in, write_patient_registry
from transforms.empi.linkage import LinkageConfig
from transforms.empi.master import EmpiRun, PreviousRun, link_patients
from transforms.empi.outofcore import RegistryFiles, RegistryRun, link_registry

__all__ = ["read_patient_records", "run_empi", "run_event_counts"]


def _read(settings: Settings, layer: catalog.Layer, name: str) -> pd.DataFrame | None:
    table = Lake(settings).at(f"{layer}/{name}").read_arrow()
    return None if table is None else table.to_pandas()


def with_hl7_links(decisions: pd.DataFrame | None, links: pd.DataFrame | None) -> pd.DataFrame | None:
    """Steward decisions plus the RIS's ADT^A40 merges as ``link`` decisions of the same grade.

    A merge the RIS announced is a person's decision made at the source; a steward's own decision on the same
    pair wins (it may undo a wrong merge), so a merge only fills pairs no steward decided.
    """
    if links is None or links.empty:
        return decisions
    merges = pd.DataFrame(
        {
            "record_id_a": links["record_id_a"],
            "record_id_b": links["record_id_b"],
            "decision": "link",
            "decided_by": "hl7:" + links["sending_facility"].astype(str),
            "decided_at": pd.Timestamp(0, tz="UTC"),  # older than any steward's: theirs stay in force
            "note": "ADT^A40 " + links["control_id"].astype(str),
        }
    )
    if decisions is None or decisions.empty:
        return merges
    return pd.concat([merges, decisions], ignore_index=True)


def read_patient_records(settings: Settings) -> pd.DataFrame:
    """Every patient record of the lake, in the EMPI's input columns.

    Parameters
    ----------
    settings
        Lake location and sources.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`transforms.empi.features.INPUT_COLUMNS`, one row per record_id.

    Raises
    ------
    radlake.errors.LakeError
        No patient table in the lake yet.
    """
    frames = []
    for name, source in settings.sources.items():
        patients = _read(settings, "silver", catalog.cdc_table_name(name, "patients"))
        if patients is None or patients.empty:
            continue
        institution = source.institution or name
        frame = pd.DataFrame(
            {
                "record_id": institution + ":" + patients["mrn"].astype(str),
                "source_system": institution,
                "mrn": patients["mrn"].astype(str),
                **{c: patients.get(c) for c in INPUT_COLUMNS[3:]},
            }
        )
        frames.append(frame)
    hl7 = _read(settings, "silver", "hl7_patients")
    if hl7 is not None and not hl7.empty:
        # Registered by HL7 (ADT^A01/A04/A08), the same record as a RIS table's row would be.
        frames.append(hl7.rename(columns={"institution": "source_system"})[list(INPUT_COLUMNS)])
    studies = _read(settings, "silver", "dicom_studies")
    if studies is not None and not studies.empty:
        codes = [source.institution or name for name, source in settings.sources.items()]
        codes += list(settings.hl7.allowed_facilities.values())
        dicom = _dicom_records(studies, codes)
        known = set().union(*(set(f["record_id"]) for f in frames)) if frames else set()
        frames.append(dicom[~dicom["record_id"].isin(known)])
    if not frames:
        raise LakeError(NO_RECORDS)
    records = pd.concat(frames, ignore_index=True)
    return records.drop_duplicates("record_id", keep="first").reset_index(drop=True)


def _dicom_records(studies: pd.DataFrame, institutions: list[str]) -> pd.DataFrame:
    """One record per (institution, PatientID) seen in DICOM studies: its most recent name, sex, birth date."""
    # Accession numbers start with the institution code (h01250101...): the longest code that fits wins.
    codes = sorted(set(institutions), key=len, reverse=True)
    accession = studies["accession_number"].astype(object)
    inst = accession.map(
        lambda a: next((c for c in codes if isinstance(a, str) and a.startswith(c)), None) if codes else None
    )
    frame = studies.assign(institution=inst).dropna(subset=["institution", "patient_id"])
    order = "last_ingested_at" if "last_ingested_at" in frame else "study_date"
    frame = frame.sort_values(order, ascending=False, kind="stable").drop_duplicates(["institution", "patient_id"])
    return pd.DataFrame(
        {
            "record_id": frame["institution"] + ":" + frame["patient_id"].astype(str),
            "source_system": frame["institution"],
            "mrn": frame["patient_id"].astype(str),
            "name": frame["patient_name"],
            "sex": frame["patient_sex"],
            "birth_date": frame["patient_birth_date"],
            "id_number": None,
            "phone": None,
            "address": None,
        }
    )


def _model_path(settings: Settings) -> Path:
    return settings.state_dir / "empi" / "model.json"


def _features_path(settings: Settings) -> Path:
    return settings.state_dir / "empi" / "features.parquet"


def _load_features(path: Path) -> pd.DataFrame | None:
    """The previous run's features (a cache: unreadable or missing means every record is parsed again)."""
    if not path.is_file():
        return None
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError, pa.ArrowException):
        return None


def _save_features(path: Path, features: pd.DataFrame) -> None:
    # The cache holds names, ID numbers, phones and addresses: owner-only, whoever else reads the state folder.
    owner_only_dir(path.parent.parent)
    owner_only_dir(path.parent)
    tmp = path.with_suffix(".parquet.tmp")
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
        features.to_parquet(fh, index=False)
    os.replace(tmp, path)


def _write(
    settings: Settings, name: str, data: pd.DataFrame | pa.RecordBatchReader, predicate: str | None = None
) -> None:
    # Conformed to the catalog: a run whose frame holds only nulls in a column (no event names another id, no
    # queued pair is decided) still writes the column's type, and a partial replace needs the same schema. A
    # stream of batches is one commit too, its batches written as they are read.
    Lake(settings).table("silver", name).replace(data, where=predicate)


def _write_run_events(settings: Settings, events: pd.DataFrame, run_number: int) -> None:
    """Replace this run's events in one commit: a re-run after a crash rewrites them, never adds them twice."""
    _write(settings, "empi_events", events.assign(empi_run=run_number), predicate=f"empi_run = {run_number}")


def _save_model(path: Path, model: dict[str, Any]) -> None:
    # A half-written model would break every later run: write aside, then rename (atomic on one file system).
    owner_only_dir(path.parent.parent)
    owner_only_dir(path.parent)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(model), encoding="utf-8")
    os.replace(tmp, path)


def _load_model(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        model: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise LakeError(f"{path}: the stored EMPI model is unreadable ({exc}); run with --retrain") from None
    return model


def _linkage_config(settings: Settings, engine: str) -> LinkageConfig:
    """Thresholds, DuckDB's memory limit and spill folder, or the Spark session and its scratch folder."""
    spark: Any = None
    if engine == "spark":
        from radlake.spark import spark_session

        spark = spark_session(settings)
    spill = settings.empi.temp_directory or settings.state_dir / "empi" / "spill"
    # Splink's tables on Spark go where the engine's executors reach them: this machine's state folder for the
    # embedded engine, the lake's for a cluster (which already reads and writes the lake).
    scratch = settings.state_dir / "empi" if settings.spark == "embedded" else f"{settings.lake.rstrip('/')}/_empi"
    return LinkageConfig(
        engine=engine,  # type: ignore[arg-type]
        spark=spark,
        memory_limit=settings.empi.memory_limit,
        temp_directory=str(spill),
        spark_scratch=f"{scratch}/spark-scratch",
    )


def run_empi(
    settings: Settings,
    *,
    engine: str | None = None,
    retrain: bool = False,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
) -> EmpiRun | RegistryRun:
    """Run the EMPI over the lake's patient records (incremental when a master exists) and write its tables.

    Parameters
    ----------
    settings
        The configuration; ``empi.engine`` chooses Splink's backend (DuckDB in this process, or the
        configured Spark) unless ``engine`` says otherwise.
    engine
        ``"duckdb"`` or ``"spark"`` to override the choice.
    retrain
        Train a new model even if one is stored.
    now
        Time stamp of the run (default: now, UTC).
    progress
        Where to show the phases (default: nowhere).

    Returns
    -------
    transforms.empi.master.EmpiRun or transforms.empi.outofcore.RegistryRun
        On DuckDB the run is out of core (:func:`transforms.empi.outofcore.link_registry`, bounded memory):
        its outputs are files in the state folder; on Spark the frames of :func:`link_patients`. Both carry
        ``stats``; :func:`run_event_counts` counts the events of either.
    """
    progress = progress or silent()
    lake.ensure_writable(settings)
    if engine not in (None, "duckdb", "spark"):
        from radlake.errors import ConfigError

        raise ConfigError(f"engine must be duckdb or spark, got {engine!r}")
    chosen = engine or settings.empi.engine
    model_path = _model_path(settings)
    model = None if retrain else _load_model(model_path)
    # Runs are numbered by the master's Delta version, which only the last write of a run moves: a run that
    # crashed before it is redone under the same number, and its leftover events are not "previous" ones.
    master_version = Lake(settings).table("silver", "patient_master").version()
    run_number = 0 if master_version is None else master_version + 1
    if chosen == "spark":
        return _run_in_memory(settings, chosen, model, run_number, now, progress)
    return _run_out_of_core(settings, model, master_version, now, progress)


def _decisions(settings: Settings) -> pd.DataFrame | None:
    """Steward decisions in force and the RIS's merges (small tables: people make them)."""
    return with_hl7_links(_read(settings, "silver", "empi_decisions"), _read(settings, "silver", "hl7_patient_links"))


def _run_out_of_core(
    settings: Settings,
    model: dict[str, Any] | None,
    master_version: int | None,
    now: dt.datetime | None,
    progress: Progress,
) -> RegistryRun:
    """The run on DuckDB: silver tables → Parquet files → :func:`link_registry` → silver tables, in batches.

    Files, in ``<state_dir>/empi/lake/``: ``records.parquet`` (the registry, removed after the run),
    ``previous/`` (the lake's previous run, exported each run, and the feature cache ``features.parquet``
    with ``features.json``, the master version it belongs to) and ``run/`` (this run's outputs, kept until
    the next run).
    """
    run_number = 0 if master_version is None else master_version + 1
    config = _linkage_config(settings, "duckdb")
    folder = state_folder(settings, "empi", "lake")
    records = folder / "records.parquet"
    previous = RegistryFiles(folder / "previous")
    with progress.phase("read records"):
        write_patient_registry(settings, records, Path(config.temp_directory or folder) / "registry")
    with progress.phase("read previous run"):
        has_master = export_previous(settings, previous.folder, run_number)
        _check_feature_cache(previous, master_version if has_master else None)
        decisions = _decisions(settings)
    run = link_registry(
        records,
        folder / "run",
        previous=previous if has_master else None,
        decisions=decisions,
        model=model,
        config=config,
        now=now,
        progress=progress,
    )
    files = run.files
    with progress.phase("write tables"):
        if run.model is not model:  # a model read from disk is not written back
            _save_model(_model_path(settings), run.model)
        # Each table is one commit streamed from its file: a reader sees the table before or after it, never
        # part of it. The master last: until it is written, the run has not happened and a re-run redoes it.
        if rows_in(files.events):
            events = parquet_batches(files.events, _table_schema("empi_events"), {"empi_run": run_number})
            _write(settings, "empi_events", events, predicate=f"empi_run = {run_number}")
        _write(settings, "patient_golden", parquet_batches(files.golden, _table_schema("patient_golden")))
        _write(settings, "empi_review_queue", parquet_batches(files.review, _table_schema("empi_review_queue")))
        _write(settings, "patient_master", parquet_batches(files.master, _table_schema("patient_master")))
        # The features become the next run's cache only now, tagged with the master they belong to.
        os.replace(files.features, previous.features)
        version = Lake(settings).table("silver", "patient_master").version()
        _feature_marker(previous).write_text(json.dumps({"master_version": version}), encoding="utf-8")
    for path in (records, previous.master, previous.events, previous.review, previous.golden):
        path.unlink(missing_ok=True)  # copies of lake tables: the lake holds them
    return run


def _table_schema(name: str) -> pa.Schema:
    return catalog.table("silver", name).schema or pa.schema([])


def _feature_marker(previous: RegistryFiles) -> Path:
    return previous.folder / "features.json"


def _check_feature_cache(previous: RegistryFiles, master_version: int | None) -> None:
    """Drop the feature cache unless it was written with the lake's current master (a crashed run, a Spark run or
    a restored table since would make the previous golden records and the cache disagree)."""
    marker = _feature_marker(previous)
    try:
        tagged = json.loads(marker.read_text(encoding="utf-8")).get("master_version")
        pq.ParquetFile(previous.features)
    except (OSError, ValueError, AttributeError, pa.ArrowException):
        tagged = None
    if master_version is None or tagged != master_version:
        previous.features.unlink(missing_ok=True)
        marker.unlink(missing_ok=True)


def run_event_counts(run: EmpiRun | RegistryRun) -> dict[str, int]:
    """Events of the run by kind (``create``, ``merge``, ``split``), read batch by batch from a run's file."""
    if isinstance(run, EmpiRun):
        return {str(k): int(v) for k, v in run.events["event"].value_counts().items()}
    counts: dict[str, int] = {}
    for batch in pq.ParquetFile(run.files.events).iter_batches(columns=["event"]):
        for kind, count in batch.column(0).value_counts().to_pylist():
            counts[str(kind)] = counts.get(str(kind), 0) + int(count)
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def _run_in_memory(
    settings: Settings,
    engine: str,
    model: dict[str, Any] | None,
    run_number: int,
    now: dt.datetime | None,
    progress: Progress,
) -> EmpiRun:
    """The run with every record in pandas (:func:`link_patients`): the Spark engine's path."""
    with progress.phase("read records"):
        records = read_patient_records(settings)
    config = _linkage_config(settings, engine)
    with progress.phase("read previous run"):
        previous_events = _read(settings, "silver", "empi_events")
        if previous_events is not None and "empi_run" in previous_events:
            previous_events = previous_events[previous_events["empi_run"] < run_number]
        previous_master = _read(settings, "silver", "patient_master")
        decisions = _decisions(settings)
        previous_review = _read(settings, "silver", "empi_review_queue")
    previous = PreviousRun(
        master=previous_master,
        events=previous_events,
        review=previous_review,
        features=_load_features(_features_path(settings)),
        golden=_read(settings, "silver", "patient_golden"),
    )
    run = link_patients(
        records, previous=previous, decisions=decisions, model=model, config=config, now=now, progress=progress
    )
    with progress.phase("write tables"):
        if run.model is not model:  # a model read from disk is not written back
            _save_model(_model_path(settings), run.model)
        # The master last: until it is written, the run has not happened and a re-run redoes all of it.
        if len(run.events):
            _write_run_events(settings, run.events, run_number)
        _write(settings, "patient_golden", run.golden)
        _write(settings, "empi_review_queue", run.review)
        _write(settings, "patient_master", run.master)
        if run.features is not None:
            _save_features(_features_path(settings), run.features)
    return run
