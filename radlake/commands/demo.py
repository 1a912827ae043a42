"""``radlake demo``: simulate a hospital group and run the whole pipeline (embedded engine or a cluster)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


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
) -> None:
    """Simulate a hospital group into WORKDIR, materialise every asset in-process, print a summary."""
    import warnings

    from orchestration.demo import run_demo
    from radlake.progress import Progress

    # Dagster flags single-run backfill policies as beta; that is for the developers, not the demo's reader.
    warnings.filterwarnings("ignore", message=".*currently in beta.*")
    console = Console()
    with Progress("radlake demo") as progress:

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
    console.print(f"config:          {summary.config}")
    console.print(f"warehouse:       {summary.warehouse}   (analysts: no direct identifiers)")
    console.print(f"stewards' file:  {summary.stewards_warehouse}   (work lists with accession numbers)")
    console.print(f"quality report:  {summary.quality_report}")
    console.print(f"Dagster UI:      make ui   (RADLAKE_CONFIG={summary.config} DAGSTER_HOME={workdir / '.dagster'})")
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in summary.seconds.items())
    console.print(f"time:            {timing}")
    if not summary.success:
        console.print("[red]radlake demo: some steps failed; see the Dagster run above (make ui)[/]")
        raise typer.Exit(1)
