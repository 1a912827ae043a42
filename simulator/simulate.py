"""Simulate a hospital group: RIS/HIS databases on one embedded PostgreSQL, DICOM files, and the truth.

With ``third_way`` the last hospital offers neither: its RIS only sends HL7 v2 (``hl7/<code>.mllp``, no
database) and its images are only in its PACS (``pacs/<code>/...``, served by :mod:`simulator.pacs`).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from radlake.errors import ConfigError, DataError

DEFAULT_START_DATE = date(2026, 11, 1)
MANIFEST_NAME = "simulation.json"
PERSONS_COLUMNS = ("record_id", "institution", "mrn", "person_id")
EXAMS_COLUMNS = (
    "accession_number", "institution", "mrn", "person_id", "exam_date", "modality", "raw_exam_name", "codes",
    "kind", "performed", "has_images",
)  # fmt: skip
FILES_COLUMNS = (
    "path", "institution", "accession_number", "study_instance_uid", "series_instance_uid", "sop_instance_uid",
    "modality", "kind", "corrupt", "duplicate_of", "orphan", "charset", "name_form", "defects",
)  # fmt: skip
# Persons per order: with ~1.5 registrations a person, about half as many patients as orders per house.
_PERSONS_PER_ORDER = 0.35
# Below this many files the spawn of worker processes costs more than it saves.
_POOL_MIN_FILES = 3000

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: stages ``plan``, ``postgres``, ``dicom``, ``truth``."""


@dataclass
class SimulationSummary:
    """What a simulation produced and how long it took."""

    out_dir: Path
    institutions: list[str]
    tables: dict[str, int]
    per_institution: dict[str, dict[str, int]]
    persons: int
    registrations: int
    studies: int
    dicom_files: int
    corrupt_files: int
    duplicate_files: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """A short human-readable summary (no patient data)."""
        out = [
            f"simulated {len(self.institutions)} institutions ({', '.join(self.institutions)}) into {self.out_dir}",
            f"persons {self.persons}, registrations {self.registrations}",
        ]
        out += [f"ris.{table}: {n} rows" for table, n in self.tables.items()]
        out.append(
            f"DICOM: {self.studies} studies, {self.dicom_files} files "
            f"({self.corrupt_files} corrupt, {self.duplicate_files} duplicates)"
        )
        out.append(f"took {self.seconds:.1f} s")
        return out


def _check_args(institutions: int, days: int, exams_per_day: int) -> None:
    if not 1 <= institutions <= 99:
        raise ConfigError(f"--institutions must be between 1 and 99, got {institutions}")
    if days < 1:
        raise ConfigError(f"--days must be at least 1, got {days}")
    if exams_per_day < 1:
        raise ConfigError(f"--exams-per-day must be at least 1, got {exams_per_day}")


def _prepare(out_dir: Path) -> None:
    """Start from a clean slate in the simulator's own sub-folders; anything else in ``out_dir`` stays."""
    from radlake.postgres import stop_embedded_server

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{out_dir}: cannot create the output folder: {exc.strerror}") from None
    if not os.access(out_dir, os.W_OK):
        raise DataError(f"{out_dir}: output folder is not writable")
    pgdata = out_dir / "postgres"
    if pgdata.exists():
        if any(pgdata.iterdir()) and not (pgdata / "PG_VERSION").exists():
            raise DataError(f"{pgdata}: exists and is no PostgreSQL data folder; refusing to replace it")
        if (pgdata / "postmaster.pid").exists():
            # A stale pid file of a server that is gone leaves nothing to stop.
            with contextlib.suppress(subprocess.CalledProcessError):
                stop_embedded_server(pgdata)
        shutil.rmtree(pgdata)
    for sub in ("dicom", "truth", "hl7", "pacs"):
        if (out_dir / sub).exists():
            shutil.rmtree(out_dir / sub)
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)


def _load_postgres(pgdata: Path, ris_data: list[Any], progress: Progress | None) -> None:
    import psycopg

    from radlake.postgres import embedded_server, with_database
    from simulator.ris import create_schema, load_rows

    uri = embedded_server(pgdata)
    with psycopg.connect(uri, autocommit=True) as admin:
        for n, data in enumerate(ris_data, start=1):
            db = data.institution.database
            admin.execute(f"CREATE DATABASE \"{db}\" TEMPLATE template0 ENCODING 'UTF8'")
            # The hospital's clock: timestamps read back in China time, as its own applications show them.
            admin.execute(f"ALTER DATABASE \"{db}\" SET timezone TO 'Asia/Shanghai'")
            with psycopg.connect(with_database(uri, db)) as conn:
                create_schema(conn)
                load_rows(conn, data.rows)
            if progress:
                progress("postgres", n, len(ris_data))


def _write_dicom(
    root: Path, plans: list[Any], workers: int, progress: Progress | None, during: Callable[[], None]
) -> int:
    """Write the studies (in worker processes when it pays), running ``during`` meanwhile in this process."""
    from simulator.dicom_writer import chunk_plans, write_studies

    total = sum(p.n_files + len(p.extras) for p in plans)
    if workers <= 1 or total < _POOL_MIN_FILES:
        during()
        done = 0
        for chunk in chunk_plans(plans, 200):
            done += write_studies(root, chunk)
            if progress:
                progress("dicom", done, total)
        return done
    # spawn, not fork: the caller may already run threads (an in-process Spark engine, DuckDB, a test
    # session), and a child forked from them can abort when it exits. Callers guard their __main__.
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures: list[Future[int]] = [pool.submit(write_studies, root, chunk) for chunk in chunk_plans(plans, 500)]
        during()
        done = 0
        for future in futures:
            done += future.result()
            if progress:
                progress("dicom", done, total)
    return done


def _csv(path: Path, columns: Iterable[str], rows: Iterable[dict[str, Any]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("true" if v is True else "false" if v is False else v) for k, v in row.items()})
            n += 1
    return n


def simulate(
    out_dir: Path,
    institutions: int = 3,
    days: int = 7,
    exams_per_day: int = 300,
    seed: int = 7,
    start_date: date = DEFAULT_START_DATE,
    progress: Progress | None = None,
    *,
    keep_server: bool = False,
    workers: int | None = None,
    third_way: bool = False,
) -> SimulationSummary:
    """Simulate a hospital group into ``out_dir``.

    Writes ``out_dir/postgres`` (one ``ris_<inst>`` database per institution), ``out_dir/dicom/<inst>/...``,
    ``out_dir/truth/{persons,exams,files}.csv`` and ``out_dir/simulation.json``. The same arguments give the
    same database contents and DICOM headers.

    Parameters
    ----------
    out_dir
        Output folder; its ``postgres``, ``dicom`` and ``truth`` sub-folders are replaced.
    institutions, days, exams_per_day
        Size: institutions ``h01``..., simulated days, mean orders per day and institution.
    seed
        Seed of every random choice.
    start_date
        First simulated day (local China time).
    progress
        Called as ``progress(stage, done, total)`` while working.
    keep_server
        Leave the embedded PostgreSQL running (tests, a pipeline that continues); by default it is stopped.
    workers
        Processes writing DICOM files (default: up to 2, one per core).
    third_way
        The last institution (of two or more) is reached only through HL7 and its PACS: its RIS is no database
        but an MLLP feed (orders, reports, ADT registrations), its files are written under ``out_dir/pacs``.

    Returns
    -------
    SimulationSummary
        Rows per table, files written and the time taken.

    Raises
    ------
    ConfigError
        If a size argument is out of range.
    DataError
        If ``out_dir`` cannot be written.
    """
    from radlake.postgres import stop_embedded_server
    from simulator.dicom_writer import file_rows, plan_dicom
    from simulator.exam_names import billing_lines, exam_items, spell
    from simulator.hl7_feed import write_feed
    from simulator.people import generate_registry, pinyin_name
    from simulator.ris import build_ris
    from simulator.ris import institutions as make_institutions

    _check_args(institutions, days, exams_per_day)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    out_dir = Path(out_dir).resolve()
    _prepare(out_dir)
    pgdata, dicom_root = out_dir / "postgres", out_dir / "dicom"

    insts = make_institutions(institutions)
    n_persons = max(8, round(_PERSONS_PER_ORDER * institutions * days * exams_per_day))
    registry = generate_registry(n_persons, [i.code for i in insts], seed)
    items, billing = exam_items(), billing_lines()
    ris_data, dicom_plans = [], []
    for n, inst in enumerate(insts, start=1):
        regs = registry[registry["source_system"] == inst.code]
        data = build_ris(
            inst, regs, items, billing, start_date=start_date, days=days, exams_per_day=exams_per_day,
            seed=seed, spell=spell,
        )  # fmt: skip
        ris_data.append(data)
        dicom_plans.append(plan_dicom(inst, data.exams, seed, pinyin_name))
        if progress:
            progress("plan", n, len(insts))
    timings["plan"] = time.perf_counter() - t0

    pacs_code = insts[-1].code if third_way and len(insts) > 1 else None
    studies = [s for plan in dicom_plans for s in plan.studies]
    in_pacs = [s for s in studies if s.institution == pacs_code]
    n_workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    t1 = time.perf_counter()

    def load() -> None:
        t = time.perf_counter()
        _load_postgres(pgdata, [d for d in ris_data if d.institution.code != pacs_code], progress)
        timings["postgres"] = time.perf_counter() - t

    try:
        files_written = _write_dicom(
            dicom_root, [s for s in studies if s.institution != pacs_code], n_workers, progress, load
        )
        files_written += _write_dicom(out_dir / "pacs", in_pacs, n_workers, progress, lambda: None)
        timings["dicom+postgres"] = time.perf_counter() - t1

        t2 = time.perf_counter()
        truth = out_dir / "truth"
        n_persons_rows = _csv(
            truth / "persons.csv",
            PERSONS_COLUMNS,
            (
                {"record_id": r.record_id, "institution": r.source_system, "mrn": r.mrn, "person_id": r.person_id}
                for r in registry.sort_values("record_id").itertuples(index=False)
            ),
        )
        rows = file_rows(studies)
        for row in rows:
            # The PACS hospital's files are its PACS's storage, not a folder radlake watches.
            top = "pacs" if row["institution"] == pacs_code else "dicom"
            row["path"] = f"{top}/{row['path']}"
            if row["duplicate_of"]:
                row["duplicate_of"] = f"{top}/{row['duplicate_of']}"
        _csv(truth / "files.csv", FILES_COLUMNS, rows)
        _write_manifest(out_dir, insts, seed, start_date, days, exams_per_day, ris_data, pacs_code)
        # The last hospital's RIS speaks HL7 (also, or with ``third_way`` only): its registrations, orders and
        # reports as an MLLP feed, and what must land.
        write_feed(out_dir, ris_data[-1])
        # Last: callers take exams.csv as the mark of a finished simulation.
        _csv(truth / "exams.csv", EXAMS_COLUMNS, _exam_rows(ris_data, dicom_plans))
        if progress:
            progress("truth", 1, 1)
        timings["truth"] = time.perf_counter() - t2
    finally:
        if not keep_server and (pgdata / "postmaster.pid").exists():
            stop_embedded_server(pgdata)

    tables: dict[str, int] = {}
    for data in ris_data:
        for table, count in data.counts.items():
            tables[table] = tables.get(table, 0) + count
    return SimulationSummary(
        out_dir=out_dir,
        institutions=[i.code for i in insts],
        tables=tables,
        per_institution={d.institution.code: dict(d.counts) for d in ris_data},
        persons=int(registry["person_id"].nunique()),
        registrations=n_persons_rows,
        studies=len(studies),
        dicom_files=files_written,
        corrupt_files=sum(1 for r in rows if r["corrupt"] and r["kind"] != "duplicate"),
        duplicate_files=sum(1 for r in rows if r["kind"] == "duplicate"),
        seconds=time.perf_counter() - t0,
        timings=timings,
    )


def _exam_rows(ris_data: list[Any], dicom_plans: list[Any]) -> Iterable[dict[str, Any]]:
    for data, plan in zip(ris_data, dicom_plans, strict=True):
        imaged = {s.accession_number for s in plan.studies if not s.orphan}
        for fact in data.exams:
            yield {
                "accession_number": fact.accession_number,
                "institution": fact.institution,
                "mrn": fact.mrn,
                "person_id": fact.person_id,
                "exam_date": fact.exam_date.isoformat(),
                "modality": fact.modality or "",
                "raw_exam_name": fact.raw_exam_name,
                "codes": "|".join(fact.item.codes) if fact.item else "",
                "kind": fact.kind,
                "performed": fact.performed,
                "has_images": fact.accession_number in imaged,
            }


def _write_manifest(
    out_dir: Path,
    insts: list[Any],
    seed: int,
    start_date: date,
    days: int,
    exams_per_day: int,
    ris_data: list[Any],
    third_way: str | None,
) -> None:
    from simulator.dicom_writer import house_style

    manifest = {
        "generator": "radlake simulate",
        "seed": seed,
        "start_date": start_date.isoformat(),
        "days": days,
        "exams_per_day": exams_per_day,
        # The moment the simulated data stands at; --live continues from here.
        "simulated_until": ris_data[0].sim_now.isoformat(),
        "institutions": [
            {
                "code": i.code,
                "name": i.name,
                "database": i.database,
                "dicom_charset": house_style(i).charset,
                # How radlake reaches it: the RIS's database (CDC) or its HL7 feed; a watched folder or a PACS.
                "ris": "hl7" if i.code == third_way else "postgres",
                "images": "pacs" if i.code == third_way else "folder",
            }
            for i in insts
        ],
    }
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def read_manifest(out_dir: Path) -> dict[str, Any]:
    """The parameters a simulation in ``out_dir`` was made with.

    Raises
    ------
    DataError
        If ``out_dir`` holds no simulation.
    """
    path = Path(out_dir) / MANIFEST_NAME
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: not found; run `radlake simulate --out {out_dir}` first") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    return manifest


def source_configs(out_dir: Path, institutions: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """The ``sources:`` mapping of radlake.yaml for a simulated group.

    Parameters
    ----------
    out_dir
        The folder given to :func:`simulate`.
    institutions
        Institution codes; by default those recorded in ``out_dir/simulation.json`` whose RIS is a database
        (not an HL7-only one).

    Returns
    -------
    dict
        ``{"ris_h01": {"kind": "postgres", "embedded_pgdata": ..., "database": "ris_h01", ...}, ...}``.
    """
    out_dir = Path(out_dir).resolve()
    if institutions is None:
        institutions = [i["code"] for i in read_manifest(out_dir)["institutions"] if i.get("ris") != "hl7"]
    codes = list(institutions)
    return {
        f"ris_{code}": {
            "kind": "postgres",
            "embedded_pgdata": str(out_dir / "postgres"),
            "database": f"ris_{code}",
            "schema": "ris",
            "tables": ["*"],
            "mode": "logical",
            "institution": code,
        }
        for code in codes
    }
