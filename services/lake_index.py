"""The lake's people and imaging as the services ask for them: an in-process DuckDB, rebuilt when silver changes.

FHIR and the patient 360 page answer from here, never from the Delta tables per request: the needed columns
of silver's snapshots are read once (each table again only when its Delta version changes), joined once
(order ⟗ DICOM study, person resolved through the master index and its merges, report text from the RIS)
and kept sorted on their search keys with ART indexes on the equality keys. A background thread polls the
tables' versions every ``serve.refresh_seconds``; a rebuild happens beside the serving copy and replaces it
in one step, so a request sees one consistent generation.

Tables of the index (each request reads them through :meth:`LakeIndex.cursor`):

==============  ==============================================================================================
person          one row per golden person: empi_id, name, sex, birth_date, id_number, phones, updated_at, and
                what a Patient resource needs besides: ``idents`` (its rows of ``ident``) and ``replaces``
                (the ids merged into it), so a page of Patients is one read by id
ident           (kind, institution, value, empi_id): ``mrn`` per institution, ``resident`` ID number
person_name     ``person`` again with ``name_key`` (the lower-cased name) in front, sorted by it: a prefix search is
                a range on sorted data (the zone maps skip the rest), and a page of its Patients is read from
                the same few blocks (a read of 100 persons scattered by id costs several times more)
person_phone    (phone, empi_id), sorted
alias           (old_id, survivor): merged-away empi_ids and the person they now are (chains resolved)
imaging         one row per order and/or DICOM study (see ``_IMAGING_SQL``), newest first
series          one row per DICOM series of a study in ``imaging``
==============  ==============================================================================================
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from radlake import catalog
from radlake.config import Settings
from radlake.lake import Lake, Table
from services.shared_db import open_shared, shared_folder

log = logging.getLogger(__name__)

# The columns read from each silver table: the index holds nothing a page or resource does not show.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "patient_golden": ("empi_id", "name", "sex", "birth_date", "id_number", "phones", "updated_at"),
    "patient_master": ("record_id", "source_system", "mrn", "empi_id"),
    "empi_events": ("event", "empi_id", "other_empi_ids", "occurred_at"),
    "exams": (
        "institution", "accession_number", "order_id", "empi_id", "priority", "ordering_department",
        "raw_exam_name", "modality", "status", "ordered_at", "exam_started_at", "exam_ended_at", "device_station",
        "report_status", "report_written_at", "report_signed_at", "study_instance_uid", "exam_codes",
    ),
    "exam_name_map": ("institution", "raw_name", "codes", "standard_names"),
    "dicom_studies": (
        "study_instance_uid", "accession_number", "patient_id", "study_date", "study_description",
        "institution_name", "modalities", "series_count", "instance_count", "first_acquired_at",
    ),
    "dicom_series": (
        "series_instance_uid", "study_instance_uid", "modality", "series_number", "series_description",
        "body_part_examined", "instance_count",
    ),
    "cohort_members": ("cohort", "study_instance_uid"),
}  # fmt: skip
_REPORT_COLUMNS = ("order_id", "radiologist", "impression", "updated_at")
_HL7_REPORTS = "reports:@hl7"  # no source name holds "@"
_HL7_REPORT_COLUMNS = ("order_id", "report_radiologist", "report_impression", "updated_at", "institution")

_PEOPLE_SQL = """
CREATE TABLE ident AS
  SELECT * FROM (
    SELECT 'mrn' AS kind, source_system AS institution, mrn AS value, empi_id FROM patient_master
    WHERE mrn IS NOT NULL AND empi_id IS NOT NULL
    UNION ALL
    SELECT 'resident', NULL, id_number, empi_id FROM patient_golden WHERE id_number IS NOT NULL
  ) ORDER BY value;
CREATE INDEX ident_value ON ident(value);
CREATE INDEX ident_person ON ident(empi_id);
CREATE TABLE alias AS SELECT * FROM alias_rows;
CREATE INDEX alias_old ON alias(old_id);
CREATE INDEX alias_survivor ON alias(survivor);
CREATE TABLE person AS
  SELECT g.empi_id, g.name, g.sex, g.birth_date, g.id_number, g.phones, g.updated_at,
         coalesce(i.idents, []) AS idents, coalesce(a.replaces, []) AS replaces
  FROM patient_golden g
  LEFT JOIN (SELECT empi_id, list({'kind': kind, 'institution': institution, 'value': value}) AS idents
             FROM ident GROUP BY empi_id) i USING (empi_id)
  LEFT JOIN (SELECT survivor AS empi_id, list(old_id) AS replaces FROM alias GROUP BY survivor) a USING (empi_id)
  ORDER BY empi_id;
CREATE UNIQUE INDEX person_id ON person(empi_id);
CREATE TABLE person_name AS
  SELECT lower(name) AS name_key, * FROM person WHERE name IS NOT NULL ORDER BY name_key, empi_id;
CREATE TABLE person_phone AS
  SELECT DISTINCT phone, empi_id FROM (SELECT unnest(phones) AS phone, empi_id FROM patient_golden)
  WHERE phone IS NOT NULL ORDER BY phone;
CREATE INDEX person_phone_value ON person_phone(phone);
"""

# One row per order and/or study. The order is the authority on the person (its empi_id); a study without
# an order is the person of its DICOM Patient ID at the institution its accession names. Either way the id
# goes through ``alias``, so a person merged after silver/exams was built still gets all of it.
_IMAGING_SQL = """
CREATE TABLE institutions AS SELECT DISTINCT source_system AS code FROM patient_master WHERE source_system IS NOT NULL
  UNION SELECT DISTINCT institution FROM exams;
CREATE TABLE study_inst AS
  SELECT s.study_instance_uid, arg_max(i.code, length(i.code)) AS institution
  FROM dicom_studies s JOIN institutions i ON starts_with(s.accession_number, i.code)
  GROUP BY s.study_instance_uid;
CREATE TABLE report_text AS
  SELECT institution, order_id, arg_max(radiologist, updated_at) AS radiologist,
         arg_max(impression, updated_at) AS impression
  FROM reports GROUP BY institution, order_id;
CREATE TABLE imaging AS
WITH ex AS (
  SELECT e.*, nm.standard_names, r.radiologist, r.impression
  FROM exams e
  LEFT JOIN exam_name_map nm ON nm.institution = e.institution AND nm.raw_name = e.raw_exam_name
  LEFT JOIN report_text r ON r.institution = e.institution AND r.order_id = e.order_id
), st AS (
  SELECT s.*, si.institution AS inst, m.empi_id AS dicom_empi
  FROM dicom_studies s
  LEFT JOIN study_inst si USING (study_instance_uid)
  LEFT JOIN patient_master m ON m.record_id = si.institution || ':' || s.patient_id
), joined AS (
  SELECT
    coalesce(st.study_instance_uid, ex.study_instance_uid) AS study_uid,
    st.study_instance_uid IS NOT NULL AS has_study,
    coalesce(ex.institution, st.inst) AS institution,
    coalesce(ex.accession_number, st.accession_number) AS accession,
    ex.order_id, coalesce(ex.empi_id, st.dicom_empi) AS person_id,
    -- the exam's start (UTC) else the first acquisition (the modality's local time) else the study day
    coalesce(ex.exam_started_at, timezone(getvariable('tz'), st.first_acquired_at),
             timezone(getvariable('tz'), st.study_date::TIMESTAMP)) AS started,
    coalesce(st.modalities, CASE WHEN ex.modality IS NULL THEN [] ELSE [ex.modality] END) AS modalities,
    st.series_count, st.instance_count, st.study_description, st.institution_name,
    ex.priority, ex.ordering_department, ex.raw_exam_name, ex.status, ex.ordered_at, ex.exam_ended_at,
    ex.device_station, ex.report_status, ex.report_written_at, ex.report_signed_at, ex.exam_codes,
    ex.standard_names, ex.radiologist, ex.impression
  FROM ex FULL OUTER JOIN st ON st.study_instance_uid = ex.study_instance_uid
)
SELECT j.* EXCLUDE (person_id), coalesce(a.survivor, j.person_id) AS empi_id,
       -- a legal FHIR id (A-Z a-z 0-9 - .), so a DiagnosticReport is read back by the id it was given
       left(regexp_replace(j.institution || '-' || j.accession, '[^A-Za-z0-9.-]', '-', 'g'), 64) AS report_id
FROM joined j LEFT JOIN alias a ON a.old_id = j.person_id
ORDER BY started DESC NULLS LAST, study_uid, institution, accession;
CREATE INDEX imaging_empi ON imaging(empi_id);
CREATE INDEX imaging_study ON imaging(study_uid);
CREATE INDEX imaging_report ON imaging(report_id);
CREATE TABLE series AS
  SELECT * FROM dicom_series WHERE study_instance_uid IN (SELECT study_uid FROM imaging)
  ORDER BY study_instance_uid, series_number NULLS LAST, series_instance_uid;
CREATE INDEX series_study ON series(study_instance_uid);
"""

# Part of a generation's file name: a server whose index layout changed never opens an older layout's file.
_LAYOUT = hashlib.sha256((_PEOPLE_SQL + _IMAGING_SQL).encode("utf-8")).hexdigest()[:12]


def resolve_merges(events: pa.Table | None, active: set[str]) -> pa.Table:
    """``(old_id, survivor)`` for every merged-away empi_id, following chains to an id that is still a person.

    An id that is itself a golden person again (a later split brought it back) is not an alias.
    """
    survivor_of: dict[str, str] = {}
    if events is not None:
        for row in events.filter(pa.compute.equal(events["event"], "merge")).sort_by("occurred_at").to_pylist():
            for old in row["other_empi_ids"] or []:
                if old and old != row["empi_id"]:
                    survivor_of[old] = row["empi_id"]
    pairs: list[tuple[str, str]] = []
    for old in survivor_of:
        if old in active:
            continue
        seen, current = {old}, survivor_of[old]
        while current in survivor_of and current not in active and current not in seen:
            seen.add(current)
            current = survivor_of[current]
        pairs.append((old, current))
    return pa.table(
        {"old_id": [p[0] for p in pairs], "survivor": [p[1] for p in pairs]},
        schema=pa.schema([("old_id", pa.string()), ("survivor", pa.string())]),
    )


@dataclass
class _Generation:
    """One built copy of the index and the table versions it was built from."""

    db: duckdb.DuckDBPyConnection
    versions: dict[str, int | None]
    built_at: float
    local: threading.local = field(default_factory=threading.local)


class LakeIndex:
    """The serving copy of silver's people and imaging (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._arrow: dict[str, pa.Table] = {}
        self._gen: _Generation | None = None
        self._build_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_build_seconds = 0.0

    # --- the tables it reads ----------------------------------------------------------------------------------

    def _tables(self) -> dict[str, Table]:
        lake = Lake(self._settings)
        tables = {name: lake.table("silver", name) for name in _COLUMNS}
        for source in self._ris_sources():
            tables[f"reports:{source}"] = lake.cdc_state(source, "reports")
        tables[_HL7_REPORTS] = lake.table("silver", "hl7_orders")
        return tables

    def _ris_sources(self) -> list[str]:
        return list(self._settings.sources)

    def versions(self) -> dict[str, int | None]:
        """The current Delta version of every table the index reads (None: no table yet)."""
        return {key: table.version() for key, table in self._tables().items()}

    def _read(self, key: str, handle: Table) -> pa.Table | None:
        if key == _HL7_REPORTS:
            # Reports that came by HL7 (ORU^R01): in the same columns as a RIS's reports table.
            hl7 = handle.read_arrow()
            if hl7 is None or not set(_HL7_REPORT_COLUMNS) <= set(hl7.column_names):
                return None  # none yet, or written before orders carried their report
            return pa.table(
                [hl7[c].cast(pa.string()) for c in _HL7_REPORT_COLUMNS[:3]]
                + [hl7["updated_at"].cast(catalog.schemas.UTC_TS), hl7["institution"]],
                names=[*_REPORT_COLUMNS, "institution"],
            )
        if key.startswith("reports:"):
            source = key.partition(":")[2]
            table = handle.read_arrow()
            if table is None or not set(_REPORT_COLUMNS) <= set(table.column_names):
                return None
            institution = self._settings.sources[source].institution or source
            table = table.select(list(_REPORT_COLUMNS))
            table = table.set_column(0, "order_id", table["order_id"].cast(pa.string()))
            return table.append_column("institution", pa.array([institution] * len(table), pa.string()))
        return handle.read_arrow(_COLUMNS[key])

    # --- building -----------------------------------------------------------------------------------------------

    def refresh(self) -> bool:
        """Rebuild when a table's version changed since the serving copy (or none was built); True if rebuilt."""
        with self._build_lock:
            versions = self.versions()
            if self._gen is not None and versions == self._gen.versions:
                return False
            started = time.perf_counter()
            if self._settings.serve.workers > 1:
                # Several worker processes: one builds the generation's file, all open it read-only; the
                # Arrow copies are dropped after a build (a worker holds no table of its own).
                db = open_shared(
                    shared_folder(self._settings), "lake", (_LAYOUT, versions), lambda d: self._fill(d, versions)
                )
                self._arrow.clear()
            else:
                db = duckdb.connect(":memory:")
                self._fill(db, versions)
            db.execute("SET VARIABLE tz = ?", [self._settings.timezone])
            self._gen = _Generation(db=db, versions=versions, built_at=time.time())
            self.last_build_seconds = time.perf_counter() - started
            return True

    def _read_changed(self, versions: dict[str, int | None]) -> None:
        """Re-read the tables whose version changed since the last build (and forget tables that are gone)."""
        handles = self._tables()
        old = self._gen.versions if self._gen else {}
        for key, version in versions.items():
            if version is None:
                self._arrow.pop(key, None)
            elif old.get(key) != version or key not in self._arrow:
                table = self._read(key, handles[key])
                if table is None:
                    self._arrow.pop(key, None)
                else:
                    self._arrow[key] = table
        for key in set(self._arrow) - set(versions):
            self._arrow.pop(key)

    def _input(self, name: str) -> pa.Table:
        if name == "reports":
            parts = [t for k, t in self._arrow.items() if k.startswith("reports:")]
            if parts:
                return pa.concat_tables(parts)
            return pa.table(
                {c: pa.array([], pa.string()) for c in ("order_id", "radiologist", "impression", "institution")}
            ).append_column("updated_at", pa.array([], catalog.schemas.UTC_TS))
        table = self._arrow.get(name)
        if table is not None:
            return table
        schema = catalog.table("silver", name).schema
        assert schema is not None
        return schema.empty_table().select(list(_COLUMNS[name]))

    def _fill(self, db: duckdb.DuckDBPyConnection, versions: dict[str, int | None]) -> None:
        """Build the index's tables into an empty database from silver at ``versions``."""
        self._read_changed(versions)
        db.execute("SET enable_progress_bar = false")
        db.execute("SET VARIABLE tz = ?", [self._settings.timezone])
        golden = self._input("patient_golden")
        active = set(golden["empi_id"].to_pylist())
        inputs = {name: self._input(name) for name in (*_COLUMNS, "reports")}
        inputs["alias_rows"] = resolve_merges(self._arrow.get("empi_events"), active)
        for name, table in inputs.items():
            db.register(name, table)
        db.execute(_PEOPLE_SQL)
        db.execute(_IMAGING_SQL)
        # A space bound to a cohort sees the studies of the cohort's newest build only.
        db.execute("CREATE TABLE cohort_member AS SELECT DISTINCT cohort, study_instance_uid FROM cohort_members")
        for name in inputs:
            db.unregister(name)

    # --- serving ------------------------------------------------------------------------------------------------

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the serving copy for this thread (one per thread and copy: DuckDB cursors are not shared)."""
        gen = self._gen
        if gen is None:
            self.refresh()
            gen = self._gen
            assert gen is not None
        cur = getattr(gen.local, "cursor", None)
        if cur is None:
            cur = gen.db.cursor()
            gen.local.cursor = cur
        yield cur

    @property
    def built_at(self) -> float | None:
        """When the serving copy was built (epoch seconds), None before the first build."""
        return self._gen.built_at if self._gen else None

    def start(self) -> None:
        """Build the first copy now, then poll the tables' versions in the background (idempotent)."""
        self.refresh()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="radlake-lake-index", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._settings.serve.refresh_seconds):
            try:
                if self.refresh():
                    log.info("lake index rebuilt in %.2f s", self.last_build_seconds)
            except Exception:  # serving the previous copy beats serving nothing; the next poll tries again
                log.exception("lake index refresh failed")

    def close(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
