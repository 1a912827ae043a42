"""Lake job: read patient records (RIS/HIS silver tables, DICOM headers), run the EMPI, write its silver tables.

Inputs: ``silver/<source>__patients`` of every configured source (record_id ``<institution>:<mrn>``), and
``silver/dicom_studies`` for patients seen only in DICOM headers (PatientID = the institution's mrn; the
institution is the configured code the accession number starts with, ``h01...``). A DICOM patient whose
record_id a RIS/HIS table already holds is that same record and adds nothing.

Outputs: ``silver/patient_master`` and ``silver/patient_golden`` (replaced), ``silver/empi_events``
(appended, once per run), ``silver/empi_review_queue`` (replaced). The trained model is kept in
``<state_dir>/empi/model.json`` and reused by later runs until ``retrain`` is asked for.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from radlake import catalog, lake
from radlake.config import Settings
from transforms.empi.features import INPUT_COLUMNS
from transforms.empi.linkage import LinkageConfig
from transforms.empi.master import EmpiRun, link_patients

__all__ = ["read_patient_records", "run_empi"]


def _read(settings: Settings, layer: catalog.Layer, name: str) -> pd.DataFrame | None:
    table = lake.read_arrow(settings, catalog.uri(settings, layer, name))
    return None if table is None else table.to_pandas()


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
    studies = _read(settings, "silver", "dicom_studies")
    if studies is not None and not studies.empty:
        codes = [source.institution or name for name, source in settings.sources.items()]
        dicom = _dicom_records(studies, codes)
        known = set().union(*(set(f["record_id"]) for f in frames)) if frames else set()
        frames.append(dicom[~dicom["record_id"].isin(known)])
    if not frames:
        from radlake.errors import LakeError

        raise LakeError("no patient records in the lake yet: run `radlake cdc sync` or a DICOM ingest first")
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


def _write(settings: Settings, name: str, frame: pd.DataFrame, *, append: bool = False) -> None:
    from deltalake import write_deltalake

    uri = catalog.table_uri(settings, catalog.table("silver", name))
    table = pa.Table.from_pandas(frame, preserve_index=False)
    options = lake.storage_options(settings) or None
    if append:
        write_deltalake(uri, table, mode="append", schema_mode="merge", storage_options=options)
    else:
        write_deltalake(uri, table, mode="overwrite", schema_mode="overwrite", storage_options=options)


def run_empi(
    settings: Settings,
    *,
    engine: str | None = None,
    retrain: bool = False,
    now: dt.datetime | None = None,
) -> EmpiRun:
    """Run the EMPI over the lake's patient records (incremental when a master exists) and write its tables.

    Parameters
    ----------
    settings
        The configuration; ``settings.spark == "embedded"`` runs Splink on DuckDB, a Spark Connect URL runs
        it on that cluster, unless ``engine`` says otherwise.
    engine
        ``"duckdb"`` or ``"spark"`` to override the choice.
    retrain
        Train a new model even if one is stored.
    now
        Time stamp of the run (default: now, UTC).

    Returns
    -------
    transforms.empi.master.EmpiRun
    """
    lake.ensure_writable(settings)
    records = read_patient_records(settings)
    chosen = engine or ("duckdb" if settings.spark == "embedded" else "spark")
    spark: Any = None
    if chosen == "spark":
        from radlake.spark import spark_session

        spark = spark_session(settings)
    config = LinkageConfig(engine=chosen, spark=spark)  # type: ignore[arg-type]
    model_path = _model_path(settings)
    model = None if retrain or not model_path.is_file() else json.loads(model_path.read_text(encoding="utf-8"))
    run = link_patients(
        records,
        previous_master=_read(settings, "silver", "patient_master"),
        previous_events=_read(settings, "silver", "empi_events"),
        decisions=_read(settings, "silver", "empi_decisions"),
        previous_review=_read(settings, "silver", "empi_review_queue"),
        model=model,
        config=config,
        now=now,
    )
    model_path.parent.mkdir(parents=True, exist_ok=True)
    model_path.write_text(json.dumps(run.model), encoding="utf-8")
    _write(settings, "patient_master", run.master)
    _write(settings, "patient_golden", run.golden)
    if len(run.events):
        _write(settings, "empi_events", run.events, append=True)
    _write(settings, "empi_review_queue", run.review)
    return run
