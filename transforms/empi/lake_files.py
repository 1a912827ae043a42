"""The lake's EMPI tables to and from Parquet files, batch by batch: what the out-of-core run reads and writes.

:func:`transforms.empi.outofcore.link_registry` links a registry in a Parquet file and reads the previous run
from Parquet files (:class:`transforms.empi.outofcore.RegistryFiles`). The lake's run (``radlake empi run``)
feeds it from the silver tables without a frame of the whole registry in Python:

- :func:`write_patient_registry`: every patient record of the lake (the CDC sources' patient tables, HL7
  registrations, patients seen only in DICOM headers) into one Parquet file. The Delta tables are streamed as
  Arrow record batches into a DuckDB file (spilling past ``empi.memory_limit``), which derives the record ids
  and keeps the first record of each, exactly as :func:`transforms.empi.job.read_patient_records` does;
- :func:`export_previous`: the previous run's master, events, review queue and golden records, from the silver
  tables (the lake stays the source of truth: nothing of a crashed run is taken for a previous one);
- :func:`parquet_batches`: an output file as a stream of record batches in a table's catalog columns, for one
  Delta commit that never holds the whole table in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from radlake import catalog
from radlake.errors import LakeError
from radlake.lake import Lake

if TYPE_CHECKING:
    from radlake.config import Settings
    from radlake.lake import Table

__all__ = ["NO_RECORDS", "export_previous", "parquet_batches", "write_patient_registry"]

NO_RECORDS = "no patient records in the lake yet: run `radlake cdc sync` or a DICOM ingest first"

BATCH_ROWS = 65_536
"""Rows per Arrow batch read from a Delta table or written to one."""

_TEXT = ("name", "sex", "birth_date", "id_number", "phone", "address")
"""The input columns taken as text (each parser reads text, a date or a number alike: see features)."""

_ROWS_SQL = (
    "create table rows (pos bigint, record_id varchar, source_system varchar, mrn varchar, "
    + ", ".join(f"{c} varchar" for c in _TEXT)
    + ")"
)


def _snapshot(table: Table) -> tuple[pa.Schema, list[str]] | None:
    """The columns and data files of a table's current snapshot; None when there is no table."""
    dt = table.delta()
    if dt is None:
        return None
    return pa.schema(dt.schema().to_arrow()), list(dt.file_uris())


def _stream(table: Table, wanted: Sequence[str]) -> tuple[list[str], Iterator[pa.Table]] | None:
    """The ``wanted`` columns the table has, and its rows in those columns batch by batch; None when there is no
    table or no data file.

    A data file written before a column was added lacks it: its batches get the column as nulls.
    """
    snapshot = _snapshot(table)
    if snapshot is None or not snapshot[1]:
        return None
    schema, files = snapshot
    present = [c for c in wanted if c in schema.names]
    target = pa.schema([schema.field(c) for c in present])
    batches = table.scan_batches(present, files=files, batch_rows=BATCH_ROWS)
    return present, (_conformed(pa.Table.from_batches([b]), target) for b in batches)


def _text(column: str, present: Sequence[str]) -> str:
    return f"cast({column} as varchar)" if column in present else "cast(null as varchar)"


class _Rows:
    """The registry's rows in a DuckDB table, each with its position in the order the records are read."""

    def __init__(self, con: Any) -> None:
        self.con = con
        self.next = 0
        con.execute(_ROWS_SQL)

    def add(self, batches: Iterator[pa.Table], select: str) -> bool:
        """Insert ``select`` over each batch (as ``b``); True when a row came."""
        added = False
        for batch in batches:
            if not batch.num_rows:
                continue
            self.con.register("b", _numbered(batch, self.next))
            self.con.execute(f"insert into rows select i, {select} from b")
            self.con.unregister("b")
            self.next += batch.num_rows
            added = True
        return added


def _numbered(batch: pa.Table, start: int) -> pa.Table:
    """The batch with column ``i``: each row's number from ``start`` (DuckDB keeps no row order of its own)."""
    return batch.append_column("i", pa.array(np.arange(start, start + batch.num_rows)))


def write_patient_registry(settings: Settings, path: Path, work: Path) -> int:
    """Write every patient record of the lake to ``path`` (Parquet), as :func:`read_patient_records` reads them.

    The same records in the same order: each source's ``silver/<source>__patients`` (record id
    ``<institution>:<mrn>``), then ``silver/hl7_patients``, then one record per (institution, PatientID) of
    ``silver/dicom_studies`` (its most recent study's name, sex and birth date, most recent first); a record id
    already read keeps its first record. The columns are text (the parsers read text as they read dates or
    numbers).

    Parameters
    ----------
    settings
        Lake location, sources and HL7 facilities.
    path
        The Parquet file to write (replaced).
    work
        A folder for DuckDB's database file and its spill (removed afterwards).

    Returns
    -------
    int
        Records written.

    Raises
    ------
    radlake.errors.LakeError
        No patient table in the lake yet.
    """
    import duckdb

    work.mkdir(parents=True, exist_ok=True)
    database = work / "registry.duckdb"
    database.unlink(missing_ok=True)
    config: dict[str, Any] = {"preserve_insertion_order": False, "temp_directory": str(work / "spill")}
    if settings.empi.memory_limit:
        config["memory_limit"] = settings.empi.memory_limit
    con = duckdb.connect(str(database), config=config)
    try:
        rows = _Rows(con)
        lake = Lake(settings)
        found = False
        for name, source in settings.sources.items():
            institution = source.institution or name
            table = lake.at(f"silver/{catalog.cdc_table_name(name, 'patients')}")
            stream = _stream(table, ("mrn", *_TEXT))
            if stream is None:
                continue
            present, batches = stream
            if "mrn" not in present:
                raise LakeError(f"{table.key}: no mrn column, so its patients have no record id")
            # pandas' astype(str) writes a missing mrn as "None": the same record id as the in-memory read.
            mrn = "coalesce(cast(mrn as varchar), 'None')"
            code = _literal(institution)
            select = f"{code} || ':' || {mrn}, {code}, {mrn}, " + ", ".join(_text(c, present) for c in _TEXT)
            found = rows.add(batches, select) or found
        hl7 = _stream(lake.table("silver", "hl7_patients"), ("record_id", "institution", "mrn", *_TEXT))
        if hl7 is not None:
            select = "record_id, institution, mrn, " + ", ".join(_text(c, hl7[0]) for c in _TEXT)
            found = rows.add(hl7[1], select) or found
        found = _dicom_rows(settings, lake, con, rows) or found
        if not found:
            raise LakeError(NO_RECORDS)
        columns = "record_id, source_system, mrn, " + ", ".join(_TEXT)
        path.parent.mkdir(parents=True, exist_ok=True)
        con.execute(
            f"copy (select {columns} from rows qualify row_number() over (partition by record_id order by pos) = 1 "
            f"order by pos) to {_literal(str(path))} (format parquet)"
        )
        written = rows_in(path)
        if not written:  # studies whose accession numbers name no configured institution
            raise LakeError(NO_RECORDS)
        return written
    finally:
        con.close()
        database.unlink(missing_ok=True)
        Path(f"{database}.wal").unlink(missing_ok=True)


def _dicom_rows(settings: Settings, lake: Lake, con: Any, rows: _Rows) -> bool:
    """Patients of ``silver/dicom_studies``: one per (institution, PatientID), its most recent study first."""
    wanted = ("accession_number", "patient_id", "patient_name", "patient_sex", "patient_birth_date")
    stream = _stream(lake.table("silver", "dicom_studies"), (*wanted, "last_ingested_at", "study_date"))
    if stream is None:
        return False
    order = "last_ingested_at" if "last_ingested_at" in stream[0] else "study_date"
    con.execute(
        "create table studies (i bigint, accession_number varchar, patient_id varchar, name varchar, sex varchar, "
        f"birth_date varchar, recent {'timestamptz' if order == 'last_ingested_at' else 'date'})"
    )
    seen = 0
    for batch in stream[1]:
        con.register("b", _numbered(batch, seen))
        con.execute(
            "insert into studies select i, cast(accession_number as varchar), "
            f"cast(patient_id as varchar), {_text('patient_name', stream[0])}, {_text('patient_sex', stream[0])}, "
            f"{_text('patient_birth_date', stream[0])}, {order} from b"
        )
        con.unregister("b")
        seen += batch.num_rows
    if not seen:
        return False
    codes = [source.institution or name for name, source in settings.sources.items()]
    codes += list(settings.hl7.allowed_facilities.values())
    con.register("codes", pa.table({"code": pa.array(sorted(set(codes)), type=pa.string())}))
    # The institution is the longest configured code the accession number starts with (h01250101...). Most
    # recent study first (missing times last); equal times keep the table's order, as a stable sort does.
    con.execute(
        "insert into rows select "
        f"{rows.next} + row_number() over (order by recent desc nulls last, i) - 1, institution || ':' || "
        f"patient_id, institution, patient_id, name, sex, birth_date, null, null, null from ("
        "select s.*, c.code as institution from studies as s "
        "join codes as c on starts_with(s.accession_number, c.code) "
        "where s.patient_id is not null "
        "qualify row_number() over (partition by s.i order by length(c.code) desc) = 1) "
        "qualify row_number() over (partition by institution, patient_id order by recent desc nulls last, i) = 1"
    )
    con.unregister("codes")
    rows.next += seen
    con.execute("drop table studies")
    return True  # as in the in-memory read, studies count as found even when none names a known institution


def _literal(text: str) -> str:
    """A text as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def export_previous(settings: Settings, folder: Path, run_number: int) -> bool:
    """Write the lake's previous run into ``folder`` as :class:`RegistryFiles` name them; False when there is
    no master yet (a first run).

    The master, review queue and golden records are copied whole; the events only those of runs before
    ``run_number`` (a crashed run's leftover events are not a previous run's), without ``empi_run``. Each
    table is read from one snapshot, batch by batch.
    """
    from transforms.empi.outofcore import RegistryFiles

    files = RegistryFiles(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lake = Lake(settings)
    wrote = {}
    for name, path in (
        ("patient_master", files.master),
        ("empi_review_queue", files.review),
        ("patient_golden", files.golden),
        ("empi_events", files.events),
    ):
        path.unlink(missing_ok=True)
        table = lake.table("silver", name)
        snapshot = _snapshot(table)
        if snapshot is None:
            wrote[name] = False
            continue
        schema = table.schema
        if name == "empi_events":
            schema = pa.schema([f for f in schema if f.name != "empi_run"])
        # Only the columns the table has (an older table may lack a newer one: it is written null).
        wanted = [c for c in (*schema.names, "empi_run") if c in snapshot[0].names]
        batches = table.scan_batches(wanted, files=snapshot[1], batch_rows=BATCH_ROWS)
        with pq.ParquetWriter(path, schema) as writer:
            for batch in batches:
                if "empi_run" in batch.schema.names:
                    import pyarrow.compute as pc

                    batch = batch.filter(pc.less(batch.column("empi_run"), run_number))
                writer.write_table(_conformed(pa.Table.from_batches([batch]), schema))
        wrote[name] = True
    return wrote["patient_master"]


def _conformed(data: pa.Table, schema: pa.Schema) -> pa.Table:
    """``data`` in ``schema``'s columns and types; a column it lacks is null."""
    columns = [
        data.column(f.name).cast(f.type) if f.name in data.column_names else pa.nulls(len(data), f.type) for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def parquet_batches(path: Path, schema: pa.Schema, extra: dict[str, object] | None = None) -> pa.RecordBatchReader:
    """A Parquet file as a stream of batches in ``schema``'s columns (a lacking one null; ``extra`` columns
    set to one value each): one Delta commit then reads it batch by batch, never the whole table.
    """
    extra = extra or {}

    def batches() -> Iterator[pa.RecordBatch]:
        source = pq.ParquetFile(path)
        for batch in source.iter_batches(batch_size=BATCH_ROWS):
            table = pa.Table.from_batches([batch])
            for name, value in extra.items():
                table = table.append_column(name, pa.array([value] * len(table), type=schema.field(name).type))
            yield from _conformed(table, schema).to_batches()

    return pa.RecordBatchReader.from_batches(schema, batches())


def rows_in(path: Path) -> int:
    """The rows of a Parquet file (from its footer)."""
    return pq.ParquetFile(path).metadata.num_rows
