"""``radlake demo``: simulate a hospital group and run the whole pipeline (embedded engine or a cluster)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from orchestration import DemoSummary


LOG_NAME = "demo.log"
"""The run's own output (dbt, Dagster, Splink), kept in the workdir; the terminal gets phases and the summary."""


@contextmanager
def _output_to(log: Path) -> Iterator[None]:
    """Send this process's stdout and stderr, and those of its children (dbt), to ``log`` at the descriptor level."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    with log.open("ab") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def stop_servers(workdir: Path) -> list[Path]:
    """Stop the embedded PostgreSQL servers (the simulated RIS) of the demo in ``workdir``; those that ran."""
    from radlake.config import load_settings
    from radlake.errors import ConfigError
    from radlake.postgres import stop_embedded_server

    config = workdir / "radlake.yaml"
    if not config.is_file():
        raise ConfigError(f"{config}: no demo here (run make demo first)")
    folders = sorted({s.embedded_pgdata for s in load_settings(config).sources.values() if s.embedded_pgdata})
    running = [p for p in folders if (p / "postmaster.pid").exists()]
    for pgdata in running:
        stop_embedded_server(pgdata)
    return running


def demo(
    workdir: Annotated[Path, typer.Option("--workdir", "-w", help="Folder for the simulation, lake and marts.")] = Path(
        "demo"
    ),
    institutions: Annotated[int, typer.Option(min=1, max=50, help="Simulated institutions.")] = 3,
    days: Annotated[int, typer.Option(min=1, max=366, help="Simulated days.")] = 7,
    exams_per_day: Annotated[int, typer.Option(min=1, help="Exams per day and institution.")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed of the simulation.")] = 7,
    spark: Annotated[
        str,
        typer.Option(help="'embedded' (Sail in this process) or a Spark Connect URL, e.g. sc://sail:50051."),
    ] = "embedded",
    stop: Annotated[
        bool, typer.Option("--stop", help="Only stop the demo's embedded PostgreSQL (the simulated RIS) and exit.")
    ] = False,
) -> None:
    """Simulate a hospital group into WORKDIR, materialise every asset in-process, print a summary.

    The phases show on the terminal; everything dbt, Dagster and Splink print goes to WORKDIR/demo.log. The
    simulated RIS (an embedded PostgreSQL) keeps running for `make ui`: `radlake demo --stop` stops it.
    """
    import warnings

    from orchestration import run_demo
    from radlake.progress import Progress

    console = Console()
    if stop:
        stopped = stop_servers(workdir.resolve())
        for pgdata in stopped:
            console.print(f"stopped the embedded PostgreSQL of {pgdata}")
        if not stopped:
            console.print(f"no embedded PostgreSQL of the demo in {workdir} is running")
        return
    # Dagster flags single-run backfill policies as beta; that is for the developers, not the demo's reader.
    warnings.filterwarnings("ignore", message=".*currently in beta.*")
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir.resolve() / LOG_NAME
    log.write_bytes(b"")
    # The phases go to the terminal (a copy of stderr made before it is sent to the log).
    terminal = os.fdopen(os.dup(2), "w", buffering=1)
    with Progress("radlake demo", stream=terminal) as progress, _output_to(log):

        def say(message: str) -> None:
            progress.step(message)

        summary = run_demo(
            workdir,
            institutions=institutions,
            days=days,
            exams_per_day=exams_per_day,
            seed=seed,
            spark=spark,
            progress=say,
        )
    terminal.close()
    _print_summary(console, summary, workdir, log)
    if not summary.success:
        console.print(f"[red]radlake demo: some steps failed; see {log} and the Dagster run (make ui)[/]")
        raise typer.Exit(1)


def _print_summary(console: Console, summary: DemoSummary, workdir: Path, log: Path) -> None:
    from dashboards import default_dir
    from radlake.config import load_settings

    tables = Table(title="Lake tables (Delta)")
    tables.add_column("table")
    tables.add_column("rows", justify="right")
    for name, rows in summary.tables.items():
        tables.add_row(name, f"{rows:,}")
    console.print(tables)
    marts = Table(title=f"Gold marts ({summary.warehouse})")
    marts.add_column("mart")
    marts.add_column("rows", justify="right")
    for name, rows in summary.marts.items():
        marts.add_row(name, f"{rows:,}")
    console.print(marts)
    # Hundreds of checks: one line per asset, and every check that did not pass by name.
    checks = Table(title="Quality checks (Great Expectations suites and dbt tests)")
    checks.add_column("asset")
    checks.add_column("passed", justify="right")
    checks.add_column("not passed")
    by_asset: dict[str, list[tuple[str, str]]] = {}
    for name, verdict in sorted(summary.checks.items()):
        asset, _, check = name.partition(":")
        by_asset.setdefault(asset, []).append((check, verdict))
    for asset, results in by_asset.items():
        bad = [f"{check} ({verdict})" for check, verdict in results if verdict != "passed"]
        checks.add_row(asset, str(len(results) - len(bad)), f"[red]{', '.join(bad)}[/]" if bad else "")
    console.print(checks)
    dashboards = default_dir(load_settings(summary.config)) / "index.html"
    console.print(f"config:          {summary.config}")
    console.print(f"warehouse:       {summary.warehouse}   (analysts: no direct identifiers)")
    console.print(f"stewards' file:  {summary.stewards_warehouse}   (work lists with accession numbers)")
    console.print(f"dashboards:      {dashboards}   (open in a browser; works offline)")
    console.print(f"quality report:  {summary.quality_report}")
    console.print(f"full log:        {log}   (dbt, Dagster and Splink output)")
    console.print(f"Dagster UI:      make ui   (RADLAKE_CONFIG={summary.config} DAGSTER_HOME={workdir / '.dagster'})")
    console.print(
        f"simulated RIS:   an embedded PostgreSQL still runs for make ui; stop it with "
        f"make demo-stop (radlake demo --stop --workdir {workdir})"
    )
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in summary.seconds.items())
    console.print(f"time:            {timing}")
