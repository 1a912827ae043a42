"""``radlake simulate``: make a simulated hospital group (RIS/HIS databases, DICOM files, truth)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from radlake.errors import ConfigError

_STAGES = {
    "plan": "planning institutions",
    "postgres": "loading RIS/HIS databases",
    "dicom": "writing DICOM files",
    "truth": "writing truth",
}


def _start_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--start-date: expected YYYY-MM-DD, got {value!r}") from None


def simulate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write postgres/, dicom/ and truth/ into.")],
    institutions: Annotated[int, typer.Option(help="Number of institutions (h01, h02, ...).", min=1, max=99)] = 3,
    days: Annotated[int, typer.Option(help="Simulated days.", min=1)] = 7,
    exams_per_day: Annotated[int, typer.Option(help="Mean orders per day and institution.", min=1)] = 300,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same data.")] = 7,
    start_date: Annotated[str, typer.Option(help="First simulated day (YYYY-MM-DD).")] = "2026-11-01",
    live: Annotated[
        bool, typer.Option("--live", help="After the load, keep changing the databases until stopped.")
    ] = False,
    rate: Annotated[float, typer.Option(help="With --live: changes per second.", min=0.01)] = 5.0,
    duration: Annotated[
        float | None, typer.Option(help="With --live: stop after this many seconds (default: until Ctrl-C/SIGTERM).")
    ] = None,
    registry: Annotated[
        int | None,
        typer.Option(
            help="Write only a patient registry of about this many records to OUT/registry.parquet, in bounded "
            "memory (record_id ... address, and the truth in person_id): input for radlake empi link.",
            min=1,
        ),
    ] = None,
    hard: Annotated[
        bool, typer.Option("--hard", help="With --registry: the hard registry (look-alikes, held-out spellings).")
    ] = False,
) -> None:
    """Simulate a hospital group: one RIS/HIS database per institution, PACS-style DICOM files, and the truth."""
    if registry is not None:
        _write_registry(out, registry, institutions, seed, hard)
        return
    if hard:
        raise ConfigError("--hard needs --registry (it shapes the patient registry only)")
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from radlake.postgres import stop_embedded_server
    from simulator import simulate as run_simulation

    first_day = _start_date(start_date)
    console = Console(stderr=True)
    pgdata = out.resolve() / "postgres"
    try:
        with Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as bars:
            tasks: dict[str, TaskID] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bars.add_task(_STAGES.get(stage, stage), total=total)
                bars.update(tasks[stage], completed=done, total=total)

            summary = run_simulation(
                out,
                institutions=institutions,
                days=days,
                exams_per_day=exams_per_day,
                seed=seed,
                start_date=first_day,
                progress=progress,
                keep_server=live,
            )
        for line in summary.lines():
            typer.echo(line)
        if live:
            _run_live(out, rate, duration, seed, console)
    finally:
        if live and (pgdata / "postmaster.pid").exists():
            stop_embedded_server(pgdata)


def _write_registry(out: Path, records: int, institutions: int, seed: int, hard: bool) -> None:
    from simulator import write_registry

    path = out / "registry.parquet"
    codes = [f"h{i:02d}" for i in range(1, institutions + 1)]
    written = write_registry(
        path, records, codes, seed, hard=hard, on_part=lambda n: typer.echo(f"{n:,} records", err=True)
    )
    typer.echo(f"{path}: {written:,} records ({'hard' if hard else 'standard'} registry, {institutions} institutions)")


def _run_live(out: Path, rate: float, duration: float | None, seed: int, console: object) -> None:
    from rich.console import Console

    from simulator import run_live

    assert isinstance(console, Console)
    until = f"for {duration:g} s" if duration is not None else "until Ctrl-C or SIGTERM"
    typer.echo(f"live: changing the RIS/HIS databases at {rate:g} changes/s {until}")
    with console.status("live changes: 0") as status:
        count = 0

        def tick(kind: str, institution: str) -> None:
            nonlocal count
            count += 1
            if count % 10 == 0:
                status.update(f"live changes: {count}")

        summary = run_live(out, rate=rate, duration=duration, seed=seed, on_change=tick)
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(summary.changes.items()))
    typer.echo(f"live: {summary.total} changes in {summary.seconds:.1f} s ({kinds})")
