"""The demo: simulate a hospital group, run every asset in-process on the embedded engine, summarise.

The last simulated hospital is reached the third way: its RIS only sends HL7 v2 (replayed into an HL7 listener)
and its images are only in its PACS (a simulated Query/Retrieve SCP the demo pulls from, as `radlake pacs pull
--get` does); the others come by CDC from their RIS databases and by the watched DICOM folder.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from radlake.config import Settings, load_settings, write_settings
from radlake.errors import DataError

SIMULATION_MARKER = "truth/exams.csv"


@dataclass
class DemoSummary:
    """What the demo built and where to look."""

    workdir: Path
    config: Path
    tables: dict[str, int] = field(default_factory=dict)
    marts: dict[str, int] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)
    warehouse: str = ""
    stewards_warehouse: str = ""
    quality_report: str = ""
    success: bool = False
    seconds: dict[str, float] = field(default_factory=dict)
    pacs: dict[str, int] = field(default_factory=dict)


def simulated_days(workdir: Path) -> tuple[date, date]:
    """First and last exam day of the simulation in ``workdir`` (from its truth file)."""
    with (workdir / SIMULATION_MARKER).open(encoding="utf-8") as fh:
        days = {row["exam_date"] for row in csv.DictReader(fh) if row["exam_date"]}
    return date.fromisoformat(min(days)), date.fromisoformat(max(days))


PACS_FOLDER = "pacs"
"""The simulated PACS's storage (the third-way hospital's files), served by :class:`simulator.pacs.SimulatedPacs`."""
PACS_PORT_FILE = "pacs.port"
"""The simulated PACS's port, kept so a re-run calls the same peer (the pull's state is per peer)."""

PSEUDONYM_KEY_FILE = "pseudonym.key"
"""The demo's own random pseudonym key (mode 0600, in the workdir): the demo needs no set-up."""


DEMO_COHORT = "demo-chest-ct"
DEMO_COHORT_RULE = """\
# Every chest CT of the demo: CT (20) of the chest (03) in the 14-digit standard code. `radlake cohort build
# demo-chest-ct` selects its studies; `radlake export demo-chest-ct --to DIR` writes them de-identified.
description: every chest CT of the demo (example research cohort)
space: research
filters:
  modalities: [CT]
  exam_code_prefixes: ["2003"]
export:
  options: [retain_long_modified_dates, retain_patient_characteristics, retain_device_identity, clean_descriptors]
"""


def write_demo_cohort(workdir: Path) -> Path:
    """The demo's example cohort rule, ``cohorts/demo-chest-ct.yaml`` beside its config (kept if edited)."""
    path = workdir / "cohorts" / f"{DEMO_COHORT}.yaml"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(DEMO_COHORT_RULE, encoding="utf-8")
    return path


def demo_config(workdir: Path, first_day: date, spark: str = "embedded") -> dict[str, Any]:
    """The radlake.yaml of a simulated group in ``workdir`` (lake under ``workdir/lake``).

    The pseudonym key is a file the config names, never a value in it (``$RADLAKE_PSEUDONYM_KEY`` wins).
    """
    from simulator import TABLE_COLUMNS, facility_of, source_configs

    sources = source_configs(workdir)
    for source in sources.values():
        # Name the tables, so each one is its own asset in the UI (with "*" a source is a single asset).
        source["tables"] = list(TABLE_COLUMNS)
    feeds = sorted((workdir / "hl7").glob("*.mllp"))
    return {
        "hl7": {"allowed_facilities": {facility_of(f.stem): f.stem for f in feeds}},
        "lake": "lake",
        "spark": spark,
        "sources": sources,
        "dicom": {"watch": ["dicom"]},
        "schedule": {"partitions_start": first_day.isoformat()},
        "alerts": {"file": "alerts.jsonl"},
        "pseudonym_key_file": PSEUDONYM_KEY_FILE,
        # The data services' two spaces (radlake serve): the whole group, identified; a pseudonymized research
        # space. `radlake space token group` prints a token to query them.
        "spaces": {
            "group": {"identified": True, "description": "every institution of the group, identified"},
            "research": {
                "identified": False,
                "description": "research: pseudonymous UIDs, no names or IDs; the studies of one cohort",
                "cohort": DEMO_COHORT,
            },
        },
    }


def materialize_all(settings: Settings, dagster_home: Path, first: date, last: date) -> tuple[bool, dict[str, str]]:
    """Run the nightly job over the days ``first``..``last`` in this process, as one run (one range).

    Returns
    -------
    tuple
        Whether the run succeeded, and each asset check's verdict.
    """
    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.instance import prepare_dagster_home
    from orchestration.partitions import range_tags
    from orchestration.schedules import NIGHTLY_JOB

    prepare_dagster_home(dagster_home)
    defs = build_definitions(settings)
    job = defs.resolve_job_def(NIGHTLY_JOB)
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            tags=range_tags(first, last),
            # The summary is the demo's output; Dagster's step-by-step log stays in the UI (make ui).
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
    checks: dict[str, str] = {}
    for evaluation in result.get_asset_check_evaluations():
        key = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        checks[key] = "passed" if evaluation.passed else f"FAILED ({evaluation.severity.value})"
    return result.success, checks


def run_demo(
    workdir: Path,
    *,
    institutions: int = 3,
    days: int = 7,
    exams_per_day: int = 300,
    seed: int = 7,
    spark: str = "embedded",
    progress: Callable[[str], None] | None = None,
) -> DemoSummary:
    """Simulate into ``workdir`` (unless a simulation is already there), write its config, run everything.

    Re-running over the same workdir reuses the simulation and leaves the lake as it was: every step is
    idempotent.
    """
    import time

    say = progress or (lambda _msg: None)
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    summary = DemoSummary(workdir=workdir, config=workdir / "radlake.yaml")

    t0 = time.perf_counter()
    if not (workdir / SIMULATION_MARKER).exists():
        from simulator import MAX_EXAM_LEAD_DAYS, simulate

        # The simulated exams end by yesterday (local time) whatever the date: the day partitions reach
        # them, and no exam lies in the future.
        local_today = datetime.now(ZoneInfo(Settings.model_fields["timezone"].default)).date()
        start = local_today - timedelta(days=days + MAX_EXAM_LEAD_DAYS)
        say(f"simulating {institutions} institutions × {days} days × {exams_per_day} exams/day into {workdir}")
        simulate(
            workdir, institutions=institutions, days=days, exams_per_day=exams_per_day, seed=seed, start_date=start,
            third_way=True,
        )  # fmt: skip
    else:
        say(f"reusing the simulation in {workdir}")
    summary.seconds["simulate"] = time.perf_counter() - t0

    first, last = simulated_days(workdir)
    from radlake.pseudonym import write_key_file

    write_key_file(workdir / PSEUDONYM_KEY_FILE)  # a new random key on the first run, kept on re-runs
    # ``spark``: "embedded" (Sail in this process) or a Spark Connect URL (a Sail or Spark cluster).
    write_demo_cohort(workdir)
    write_settings(demo_config(workdir, first, spark), summary.config)
    settings = load_settings(summary.config)
    today = datetime.now(ZoneInfo(settings.timezone)).date()
    if last > today:
        raise DataError(f"the simulation in {workdir} reaches {last}, after today: day partitions end today")

    t0 = time.perf_counter()
    for feed in sorted((workdir / "hl7").glob("*.mllp")):
        sent = send_feed(settings, feed)
        say(f"{feed.stem}'s RIS sent {sent} HL7 messages over MLLP (each stored before its ACK)")
    summary.seconds["hl7"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    summary.pacs = pull_from_pacs(settings, workdir, first, today)
    if summary.pacs:
        say(
            f"pulled {summary.pacs['complete']} of {summary.pacs['found']} studies from the PACS by C-FIND/C-GET "
            f"({summary.pacs['already_complete']} already complete, {summary.pacs['instances']} instances)"
        )
    summary.seconds["pacs"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    say(f"materialising all assets in-process, days {first}..{today} (bronze → silver → gold, with quality checks)")
    # Today too: the DICOM files' arrival day is the day they were written.
    summary.success, summary.checks = materialize_all(settings, workdir / ".dagster", first, today)
    summary.seconds["pipeline"] = time.perf_counter() - t0
    if summary.success:
        from radlake.spark import spark_session
        from transforms.cohorts import build_cohort, load_cohort

        say(f"building the example research cohort {DEMO_COHORT} (bound to the research space)")
        build_cohort(spark_session(settings), settings, load_cohort(settings, DEMO_COHORT))

    summary.tables = lake_table_rows(settings)
    summary.marts = mart_rows(settings)
    summary.warehouse = settings.warehouse_path
    summary.stewards_warehouse = settings.stewards_warehouse_path
    from expectations import summary_path

    summary.quality_report = str(summary_path(settings))
    return summary


def pull_from_pacs(settings: Settings, workdir: Path, first: date, last: date) -> dict[str, int]:
    """Serve the simulated PACS on loopback and pull the study days ``first``..``last`` from it by C-GET (the
    logic of `radlake pacs pull --get`): what lands goes through the DICOM ingest's own path into bronze.

    Returns
    -------
    dict
        The pull's figures (studies found, complete, already complete, failed; instances), empty without a PACS.
    """
    import contextlib

    from ingestion.pacs import pull_studies
    from simulator import PACS_AE_TITLE, SimulatedPacs

    folder = workdir / PACS_FOLDER
    if not folder.is_dir():
        return {}
    port_file = workdir / PACS_PORT_FILE
    with SimulatedPacs(folder) as pacs:
        port = None
        if port_file.exists():
            with contextlib.suppress(OSError, ValueError):
                port = pacs.start(int(port_file.read_text(encoding="utf-8")))
        if port is None:  # first run, or the port was taken meanwhile: a new peer, whose studies land once all the same
            port = pacs.start(0)
            port_file.write_text(str(port), encoding="utf-8")
        report = pull_studies(settings, f"dicom://{PACS_AE_TITLE}@127.0.0.1:{port}", first, last, get=True)
    return {
        "found": report.found,
        "complete": report.complete,
        "already_complete": report.already_complete,
        "failed": report.failed,
        "instances": report.instances_received,
    }


def send_feed(settings: Settings, feed: Path, senders: int = 4) -> int:
    """Replay a simulated RIS's MLLP feed into an HL7 listener in this process (loopback, a free port), as the
    RIS would send it; stop the listener once every message is acknowledged (it lands what it stored).

    Returns
    -------
    int
        Messages acknowledged AA (a re-run's resends are acknowledged and stored once).
    """
    import socket
    import threading

    from ingestion.hl7 import Hl7Listener

    frames = [f[1:] for f in feed.read_bytes().split(b"\x1c\r") if f.startswith(b"\x0b")]
    listener = Hl7Listener(settings)
    stop, ready = threading.Event(), threading.Event()
    port: list[int] = []

    def on_ready(bound: int) -> None:
        port.append(bound)
        ready.set()

    server = threading.Thread(
        target=listener.serve, args=("127.0.0.1", 0), kwargs={"stop_event": stop, "ready": on_ready}
    )
    server.start()
    ready.wait(60)
    acked = [0] * senders

    def send(n: int) -> None:
        with socket.create_connection(("127.0.0.1", port[0]), timeout=60) as sock:
            for frame in frames[n::senders]:
                sock.sendall(b"\x0b" + frame + b"\x1c\r")
                answer = b""
                while not answer.endswith(b"\x1c\r"):
                    chunk = sock.recv(4096)
                    if not chunk:
                        return
                    answer += chunk
                acked[n] += b"MSA|AA" in answer

    threads = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    server.join()
    return sum(acked)


def lake_table_rows(settings: Settings) -> dict[str, int]:
    """Rows of every Delta table in a local lake, by ``layer/name``."""
    import pyarrow as pa

    from radlake.lake import Lake

    rows: dict[str, int] = {}
    for layer in ("bronze", "silver"):
        for table in Lake(settings).layer_tables(layer):
            dt = table.delta()
            if dt is not None:
                counts = pa.table(dt.get_add_actions(flatten=True))["num_records"].to_pylist()
                rows[table.key] = sum(int(n) for n in counts if n)
    return rows


def mart_rows(settings: Settings) -> dict[str, int]:
    """Rows of every table in the analysts' and the stewards' warehouse files (main schema)."""
    from radlake import warehouse

    rows: dict[str, int] = {}
    for stewards, path in ((False, settings.warehouse_path), (True, settings.stewards_warehouse_path)):
        if not Path(path).exists():
            continue
        with warehouse.connect(settings, stewards=stewards) as con:
            names = [
                r[0]
                for r in con.execute(
                    "select table_name from information_schema.tables where table_schema = 'main' order by 1"
                ).fetchall()
            ]
            rows |= {n: con.execute(f'select count(*) from "{n}"').fetchone()[0] for n in names}  # type: ignore[index]
    return rows
