"""The DICOMweb index as the service reads it: the silver index tables in an in-process DuckDB, kept fresh.

The three silver/dicomweb_* tables (built by the pipeline's roll-up job) are loaded into an in-memory DuckDB
(instances sorted by UID so a lookup by study or series touches one row group; studies and series in answer
order), with the columns matching needs added once per load: lower-cased name groups, the fuzzy form of names,
and for each de-identified space the keys its project's export writes (UIDs, Patient ID, shifted Study Date,
patient key: :mod:`services.dicomweb.deid`; a keyed UID is one way, so the lookup column maps a request's UID
back). The load is repeated when one of the tables' Delta version changes (checked at most every
:data:`REFRESH_SECONDS`); requests keep using the previous snapshot until the new one is ready. Landed headers
(``header_json``) stay in the lake's files and are read per study from the study's bucket (WADO-RS metadata).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from radlake.config import Settings
from radlake.errors import RadlakeError
from radlake.lake import Lake
from radlake.storage import filesystem, fs_path
from services.dicomweb.deid import SpaceDeid, space_deids
from services.dicomweb.masks import Arrays, arrays
from services.dicomweb.names import fuzzy_form, name_groups
from services.errors import ServiceError
from services.shared_db import open_shared, shared_folder

log = logging.getLogger(__name__)

REFRESH_SECONDS = 5.0
_BUCKET = re.compile(r"/study_bucket=(\d+)/")
TABLES = ("dicomweb_studies", "dicomweb_series", "dicomweb_instances")
# The instances are stored by UID, so a search inside a study or series touches one row group. Studies and
# series are stored in answer order (``ord``): a filtered page then reads the table's head, and a deep one
# (offset 5,000 among 16,000 CT series) costs half; at a million instances each is one row group anyway.
_SORT = {
    "studies": "ord",
    "series": "ord",
    "instances": "study_instance_uid, series_instance_uid, instance_number, sop_instance_uid",
}
# Each table's answer order (the order of QIDO pages), stored once per load as the integer column ``ord`` so a
# page sorts one integer and a series search needs no join with its studies to be ordered by Study Date.
_ANSWER_ORDER = {
    "studies": "study_date DESC NULLS LAST, study_time DESC NULLS LAST, study_instance_uid",
    "series": "st.study_date DESC NULLS LAST, se.study_instance_uid, se.series_number NULLS LAST, "
    "se.series_instance_uid",
    "instances": "study_instance_uid, series_instance_uid, instance_number NULLS LAST, sop_instance_uid",
}
FORMAT = 3
"""The layout of an index generation (bumped when its tables' columns change, so no older file is reused)."""
_UNSERVED = frozenset({"ingested_at", "last_ingested_at"})


@dataclass
class Snapshot:
    """One loaded version of the index: a DuckDB database, the versions it holds, each bucket's data files."""

    db: duckdb.DuckDBPyConnection
    versions: tuple[int | None, ...]
    bucket_files: dict[int, list[str]] = field(default_factory=dict)
    deid: dict[str, SpaceDeid] = field(default_factory=dict)  # each servable de-identified space's policy
    columns: dict[str, list[str]] = field(default_factory=dict)  # each table's columns
    counts: dict[str, int] = field(default_factory=dict)  # each table's rows
    # Every study's and series' row by UID, its columns named "st.<column>" / "se.<column>": a page's parents are
    # dict look-ups (tens of thousands of rows at a million instances; a DuckDB point read costs a millisecond).
    studies: dict[str, dict[str, Any]] = field(default_factory=dict)
    series: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_ord: dict[str, list[str]] = field(default_factory=dict)  # studies' and series' UIDs in answer order
    # The first and last instance ``ord`` of each study and series, by the instance column matched on.
    spans: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    # The study and series levels' common filter columns as arrays in answer order (services.dicomweb.masks).
    arrays: dict[str, Arrays] = field(default_factory=dict)
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _select: dict[tuple[str, str, tuple[str, ...]], str] = field(default_factory=dict, repr=False)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor (DuckDB cursors are not shared between threads; opening one per request cost
        more than a point read). A request reads each result whole before its next query."""
        cursor: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = self.db.cursor()
        return cursor

    def select_list(self, table: str, alias: str, omit: tuple[str, ...] = ()) -> str:
        """The select list of a table's columns but ``omit``, each named ``"<alias>.<column>"`` (never the load
        times, which nothing answers and whose conversion to time-zone aware datetimes is the costliest part of a
        row)."""
        found = self._select.get((table, alias, omit))
        if found is None:
            columns = [c for c in self.columns[table] if c not in _UNSERVED and c not in omit]
            found = self._select[table, alias, omit] = ", ".join(f'{alias}.{c} AS "{alias}.{c}"' for c in columns)
        return found


class DicomwebIndex:
    """The index of one lake for the service's lifetime (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        lake = Lake(settings)
        self._tables = [lake.table("silver", t) for t in TABLES]
        # A rebuilt cohort changes what its spaces see: its table's version is watched with the index's.
        self._cohort_table = lake.table("silver", "cohort_members")
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._checked = 0.0

    def fresh(self) -> Snapshot | None:
        """The current snapshot when its versions were checked less than :data:`REFRESH_SECONDS` ago (no lake
        read), else None: then :meth:`snapshot` checks (and reloads)."""
        current = self._snapshot
        if current is not None and time.monotonic() - self._checked < REFRESH_SECONDS:
            return current
        return None

    def snapshot(self) -> Snapshot:
        """The current snapshot, reloaded first when a table changed.

        Raises
        ------
        ServiceError
            503 when the pipeline has not built the index yet.
        """
        now = time.monotonic()
        current = self._snapshot
        if current is not None and now - self._checked < REFRESH_SECONDS:
            return current
        with self._lock:
            if self._snapshot is not None and time.monotonic() - self._checked < REFRESH_SECONDS:
                return self._snapshot
            versions = tuple(t.version() for t in (*self._tables, self._cohort_table))
            self._checked = time.monotonic()
            if self._snapshot is not None and self._snapshot.versions == versions:
                return self._snapshot
            if None in versions[: len(self._tables)]:
                raise ServiceError(503, "the DICOMweb index is not built yet (run the pipeline's DICOM roll-ups)")
            started = time.perf_counter()
            self._snapshot = self._load(versions)
            log.info("DICOMweb index loaded (versions %s) in %.1f s", versions, time.perf_counter() - started)
            return self._snapshot

    def _load(self, versions: tuple[int | None, ...]) -> Snapshot:
        settings = self._settings
        deids = space_deids(settings)
        if settings.serve.workers > 1:
            db = open_shared(shared_folder(settings), "dicomweb", (FORMAT, versions), lambda d: self._fill(d, deids))
        else:
            db = duckdb.connect(":memory:")
            self._fill(db, deids)
        columns: dict[str, list[str]] = defaultdict(list)
        for table, column in db.execute(
            "SELECT table_name, column_name FROM information_schema.columns ORDER BY table_name, ordinal_position"
        ).fetchall():
            columns[table].append(column)
        snapshot = Snapshot(db=db, versions=versions, bucket_files=self._buckets(), deid=deids, columns=dict(columns))
        for table in TABLES:
            name = table.removeprefix("dicomweb_")
            snapshot.counts[name] = int(db.execute(f"SELECT count(*) FROM {name}").fetchone()[0])  # type: ignore[index]
        cursor = snapshot.cursor()
        for table, alias, key in (("studies", "st", "study_instance_uid"), ("series", "se", "series_instance_uid")):
            found = rows(cursor, f"SELECT {snapshot.select_list(table, alias)} FROM {table} {alias} ORDER BY ord", [])
            setattr(snapshot, table, {r[f"{alias}.{key}"]: r for r in found})
            snapshot.by_ord[table] = [r[f"{alias}.{key}"] for r in found]
        studies = snapshot.studies
        snapshot.arrays["study"] = arrays(list(studies.values()), (), ("st.study_date",))
        dates = {uid: r["st.study_date"] for uid, r in studies.items()}
        in_study = [  # a series is filtered by its study's date
            {"se.modality": r["se.modality"], "st.study_date": dates.get(r["se.study_instance_uid"])}
            for r in snapshot.series.values()
        ]
        snapshot.arrays["series"] = arrays(in_study, ("se.modality",), ("st.study_date",))
        for key in ("study_instance_uid", "series_instance_uid"):
            spans = cursor.execute(f"SELECT {key}, min(ord), max(ord) FROM instances GROUP BY {key}").fetchall()
            snapshot.spans[f"i.{key}"] = {u: (lo, hi) for u, lo, hi in spans}
        return snapshot

    def _fill(self, db: duckdb.DuckDBPyConnection, deids: dict[str, SpaceDeid]) -> None:
        """Read the index tables and write them, with the columns matching needs, into an empty database."""
        settings = self._settings
        studies, series = (t.read_arrow() for t in self._tables[:2])
        # The landed headers stay in the lake's files (read per study for metadata), never in memory.
        instances = self._tables[2].read_arrow([n for n in self._tables[2].schema.names if n != "header_json"])
        if studies is None or series is None or instances is None:
            raise ServiceError(503, "the DICOMweb index is not built yet (run the pipeline's DICOM roll-ups)")
        members = {name: self._cohort(cfg.cohort) for name, cfg in settings.spaces.items() if cfg.cohort}
        studies = _with_name_columns(studies)
        for name, deid in deids.items():
            studies, series, instances = _with_keyed_columns(deid, members.get(name), studies, series, instances)
        for name, table in (("studies", studies), ("series", series), ("instances", instances)):
            db.register(f"{name}_arrow", table)
            alias = {"studies": "st", "series": "se", "instances": "i"}[name]
            # A series is ordered by its study's date: the order is computed once here, with the join.
            join = " LEFT JOIN studies st ON st.study_instance_uid = se.study_instance_uid" if name == "series" else ""
            db.execute(
                f"CREATE TABLE {name} AS SELECT * FROM (SELECT {alias}.*, row_number() OVER "
                f"(ORDER BY {_ANSWER_ORDER[name]}) AS ord FROM {name}_arrow {alias}{join}) ORDER BY {_SORT[name]}"
            )
            db.unregister(f"{name}_arrow")
        db.execute("CREATE TABLE cohort_members (space VARCHAR, study_instance_uid VARCHAR)")
        for space, uids in members.items():
            db.executemany("INSERT INTO cohort_members VALUES (?, ?)", [(space, u) for u in uids])

    def _cohort(self, name: str) -> dict[str, str]:
        """Study UID → patient key of a cohort's newest build (``silver/cohort_members``; empty before its first
        build)."""
        try:
            columns = ["cohort", "study_instance_uid", "patient_key", "build"]
            table = self._cohort_table.read_arrow(columns)
        except (RadlakeError, pa.ArrowInvalid) as exc:
            log.warning("cohort %s cannot be read (%s): its spaces see nothing", name, exc)
            return {}
        if table is None:
            return {}
        rows = [r for r in table.to_pylist() if r["cohort"] == name and r["study_instance_uid"]]
        newest = max((r["build"] or 0 for r in rows), default=0)
        return {r["study_instance_uid"]: r["patient_key"] or "" for r in rows if (r["build"] or 0) == newest}

    def _buckets(self) -> dict[int, list[str]]:
        dt = self._tables[2].delta()
        out: dict[int, list[str]] = defaultdict(list)
        if dt is None:
            return out
        for uri in dt.file_uris():
            match = _BUCKET.search(uri)
            if match:
                out[int(match.group(1))].append(uri)
        return dict(out)


def _with_name_columns(studies: pa.Table) -> pa.Table:
    """Add the lower-cased groups and fuzzy forms of Patient Name and Referring Physician Name."""
    for column, prefix in (("patient_name", "pn"), ("referring_physician_name", "ref")):
        raw = studies.column(column).to_pylist()
        groups = [name_groups(v) for v in raw]
        for i, suffix in enumerate(("l", "a", "i")):
            studies = studies.append_column(f"{prefix}_{suffix}", pa.array([g[i] for g in groups], pa.string()))
        studies = studies.append_column(f"{prefix}_fuzzy", pa.array([fuzzy_form(v) for v in raw], pa.string()))
    return studies


def _keyed_uids(deid: SpaceDeid, uids: pa.ChunkedArray, studies: pa.ChunkedArray, seen: set[str] | None) -> pa.Array:
    """The space's keyed UIDs of one UID column (None outside the space's cohort: never served, never made)."""
    out = [
        deid.uid(u) if u and (seen is None or s in seen) else None
        for u, s in zip(uids.to_pylist(), studies.to_pylist(), strict=True)
    ]
    return pa.array(out, pa.string())


def _with_keyed_columns(
    deid: SpaceDeid, members: dict[str, str] | None, studies: pa.Table, series: pa.Table, instances: pa.Table
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Add one de-identified space's columns: its patient key, keyed UIDs and Patient ID, shifted Study Date.

    ``members``: study UID → patient key of the space's cohort (None: a space without a cohort, whose patients
    are keyed by institution and Patient ID).
    """
    study_uids = studies.column("study_instance_uid").to_pylist()
    if members is None:
        places, ids = studies.column("institution_name").to_pylist(), studies.column("patient_id").to_pylist()
        keys: list[str | None] = [f"{i or ''}:{p or ''}" for i, p in zip(places, ids, strict=True)]
    else:
        keys = [members.get(u) for u in study_uids]
    seen = None if members is None else set(members)
    dates = studies.column("study_date").to_pylist()
    shifted = [
        d + timedelta(days=deid.shift_days(k)) if d and k is not None else None
        for d, k in zip(dates, keys, strict=True)
    ]
    added = {
        "pkey": pa.array(keys, pa.string()),
        "study_p": _keyed_uids(deid, studies.column("study_instance_uid"), studies.column("study_instance_uid"), seen),
        "patient_id_p": pa.array([deid.patient_id(k) if k is not None else None for k in keys], pa.string()),
        "study_date_p": pa.array(shifted, pa.date32()),
    }
    for stem, values in added.items():
        studies = studies.append_column(deid.column(stem), values)
    series = series.append_column(
        deid.column("series_p"),
        _keyed_uids(deid, series.column("series_instance_uid"), series.column("study_instance_uid"), seen),
    )
    instances = instances.append_column(
        deid.column("sop_p"),
        _keyed_uids(deid, instances.column("sop_instance_uid"), instances.column("study_instance_uid"), seen),
    )
    return studies, series, instances


def read_headers(settings: Settings, files: list[str], study_uid: str, series_uid: str | None) -> list[tuple[str, str]]:
    """The landed headers (``header_json``) of a study's (or one series') instances from its bucket's files.

    Returns (header_json, series_instance_uid) pairs ordered by series, instance number and SOP Instance UID.
    """
    import pyarrow.dataset as ds

    if not files:
        return []
    dataset = ds.dataset([fs_path(settings, f) for f in files], filesystem=filesystem(settings), format="parquet")
    condition = ds.field("study_instance_uid") == study_uid
    if series_uid is not None:
        condition = condition & (ds.field("series_instance_uid") == series_uid)
    table = dataset.to_table(
        columns=["series_instance_uid", "instance_number", "sop_instance_uid", "header_json"], filter=condition
    )
    order = pc.sort_indices(
        table,
        sort_keys=[("series_instance_uid", "ascending"), ("instance_number", "ascending"),
                   ("sop_instance_uid", "ascending")],
    )  # fmt: skip
    table = table.take(order)
    pairs = zip(table.column("header_json").to_pylist(), table.column("series_instance_uid").to_pylist(), strict=True)
    return [(h, s) for h, s in pairs if h]


def rows(cursor: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    """Run one parameterised query and return its rows as dicts."""
    result = cursor.execute(sql, params)
    names = [d[0] for d in result.description]
    return [dict(zip(names, r, strict=True)) for r in result.fetchall()]
