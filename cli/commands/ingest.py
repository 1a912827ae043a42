"""``radlake ingest``: land sources in bronze (``radlake ingest dicom PATH...``)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cli.commands import ConfigOption, LakeOption

app = typer.Typer(help="Land sources in the bronze layer.", no_args_is_help=True)


class Engine(StrEnum):
    """Who parses DICOM headers."""

    pool = "pool"
    spark = "spark"


@app.command("dicom")
def dicom(
    paths: Annotated[list[Path], typer.Argument(help="Folders (scanned recursively) and/or files.")],
    lake: LakeOption = None,
    config: ConfigOption = None,
    workers: Annotated[
        int | None, typer.Option(help="Parsing processes (default: one per CPU; 0: in this process).", min=0)
    ] = None,
    batch_files: Annotated[int, typer.Option(help="Files per commit batch.", min=1)] = 2000,
    engine: Annotated[
        Engine,
        typer.Option(
            help="Who parses the headers: 'pool' (worker processes on this machine) or 'spark' (the configured "
            "Spark engine, `spark:` in radlake.yaml: a backfill spread over its workers; the files must be "
            "readable at the same paths there)."
        ),
    ] = Engine.pool,
    spark: Annotated[
        str | None,
        typer.Option(help="With --engine spark: 'embedded' or a Spark Connect URL (default: the config's spark:)."),
    ] = None,
    rollups: Annotated[
        bool,
        typer.Option(help="Rebuild silver/dicom_series and silver/dicom_studies when new instances landed."),
    ] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Land DICOM headers of every new file under PATHS in bronze/dicom_files and bronze/dicom_instances."""
    from rich.console import Console
    from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from ingestion.dicom import IngestProgress, ingest_dicom
    from radlake.config import load_settings
    from transforms.dicom import build_dicom_rollups, rollups_behind

    if engine is Engine.pool and spark is not None:
        raise typer.BadParameter("--spark needs --engine spark (the process pool does not use Spark)")
    if engine is Engine.spark and workers is not None:
        raise typer.BadParameter("--workers is for --engine pool (the Spark engine has its own workers)")
    settings = load_settings(config, lake=lake, spark=spark)
    console = Console(stderr=True)
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]ingest dicom[/]"),
        MofNCompleteColumn(),
        TextColumn("files  {task.fields[skipped]} already landed"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=True,
    ) as bar:
        task = bar.add_task("files", total=None, skipped=0)

        def show(p: IngestProgress) -> None:
            bar.update(
                task,
                completed=p.processed + p.skipped,
                total=p.discovered if p.walk_done else None,
                skipped=p.skipped,
            )

        if engine is Engine.spark:
            from ingestion.dicom import backfill_dicom

            report = backfill_dicom(settings, paths, progress=show, batch_files=batch_files)
        else:
            report = ingest_dicom(settings, paths, progress=show, workers=workers, batch_files=batch_files)
    o = report.outcomes
    typer.echo(
        f"files: {report.files_seen} seen, {report.files_skipped} already landed, {report.files_new} new "
        f"({o['instance']} instance, {o['duplicate']} duplicate, {o['conflict']} conflict, {o['reject']} reject)"
    )
    if report.files_vanished or report.files_unsettled:
        typer.echo(f"left for a later run: {report.files_vanished} vanished, {report.files_unsettled} still changing")
    versions = ", ".join(
        f"{k} {'new' if before is None else f'v{before}'}→v{after}"
        for k, (before, after) in report.table_versions.items()
    )
    typer.echo(f"tables: {versions if report.committed else 'unchanged'}")
    typer.echo(f"time: {report.seconds:.2f} s ({report.files_per_second:,.0f} files/s)")
    if rollups and (o["instance"] or rollups_behind(settings)):
        from radlake.spark import spark_session

        counts = build_dicom_rollups(spark_session(settings), settings)
        typer.echo("silver: " + ", ".join(f"{name} {rows:,} rows" for name, rows in counts.items()))
