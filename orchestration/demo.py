"""The demo: simulate a hospital group, run every asset in-process on the embedded engine, summarise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radlake.config import Settings, load_settings, write_settings

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
    quality_report: str = ""
    success: bool = False
    seconds: dict[str, float] = field(default_factory=dict)


def demo_config(workdir: Path) -> dict[str, Any]:
    """The radlake.yaml of a simulated group in ``workdir`` (lake under ``workdir/lake``)."""
    from radlake.simulator.simulate import source_configs

    return {
        "lake": "lake",
        "spark": "embedded",
        "sources": source_configs(workdir),
        "dicom": {"watch": ["dicom"]},
    }


def materialize_all(settings: Settings, dagster_home: Path) -> tuple[bool, dict[str, str]]:
    """Run every asset and check of these settings in this process; returns success and check verdicts."""
    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.instance import prepare_dagster_home

    prepare_dagster_home(dagster_home)
    defs = build_definitions(settings)
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
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
        from radlake.simulator.simulate import simulate

        say(f"simulating {institutions} institutions × {days} days × {exams_per_day} exams/day into {workdir}")
        simulate(workdir, institutions=institutions, days=days, exams_per_day=exams_per_day, seed=seed)
    else:
        say(f"reusing the simulation in {workdir}")
    summary.seconds["simulate"] = time.perf_counter() - t0

    write_settings(demo_config(workdir), summary.config)
    settings = load_settings(summary.config)

    t0 = time.perf_counter()
    say("materialising all assets in-process (bronze → silver → gold, with quality checks)")
    summary.success, summary.checks = materialize_all(settings, workdir / ".dagster")
    summary.seconds["pipeline"] = time.perf_counter() - t0

    summary.tables = lake_table_rows(settings)
    summary.marts = mart_rows(settings)
    summary.warehouse = settings.warehouse_path
    summary.quality_report = str(
        settings.quality_dir / "gx" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    )
    return summary


def lake_table_rows(settings: Settings) -> dict[str, int]:
    """Rows of every Delta table in a local lake, by ``layer/name``."""
    import pyarrow as pa

    from radlake import lake

    rows: dict[str, int] = {}
    for layer in ("bronze", "silver"):
        base = Path(settings.lake) / layer
        if not base.is_dir():
            continue
        for path in sorted(p for p in base.iterdir() if (p / "_delta_log").is_dir()):
            dt = lake.open_table(settings, str(path))
            if dt is not None:
                counts = pa.table(dt.get_add_actions(flatten=True))["num_records"].to_pylist()
                rows[f"{layer}/{path.name}"] = sum(int(n) for n in counts if n)
    return rows


def mart_rows(settings: Settings) -> dict[str, int]:
    """Rows of every table in the warehouse's main schema."""
    from radlake import warehouse

    if not Path(settings.warehouse_path).exists():
        return {}
    with warehouse.connect(settings) as con:
        names = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'main' order by 1"
            ).fetchall()
        ]
        return {n: con.execute(f'select count(*) from "{n}"').fetchone()[0] for n in names}  # type: ignore[index]
