"""``radlake cdc``: change data capture from RIS/HIS databases (``sync``, ``stream``, ``status``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cli.commands import ConfigOption, LakeOption, stop_on_signals

if TYPE_CHECKING:
    from ingestion.cdc import SyncReport

app = typer.Typer(
    help="Capture RIS/HIS database changes into bronze change logs and silver tables.", no_args_is_help=True
)


def _shown(name: str) -> str:
    """A source table name as printed: plain names as they are, any other quoted and escaped."""
    return name if name.isidentifier() else repr(name)


def _summary(report: SyncReport) -> str:
    """One line per sync or batch: what landed, where the source stands."""
    parts = [f"{report.source}: {report.kind}"]
    if report.tables:
        landed = ", ".join(
            f"{_shown(name)} {t.rows} ({' '.join(f'{op} {n}' for op, n in sorted(t.ops.items()))})"
            for name, t in sorted(report.tables.items())
        )
        parts.append(landed)
    if report.batches > 1:
        parts.append(f"{report.batches} batches")
    parts.append(f"position {report.position or '-'}")
    if report.lag_bytes is not None:
        parts.append(f"lag {report.lag_bytes} B / {report.lag_seconds or 0:.1f} s")
    parts.append(f"{report.duration_s:.2f} s")
    return "; ".join(parts)


def _warnings(report: SyncReport) -> None:
    for name in report.dropped_tables:
        typer.echo(f"radlake cdc: warning: table {_shown(name)} no longer exists at source {report.source!r}", err=True)
    for name, reason in sorted(report.refused_tables.items()):
        typer.echo(f"radlake cdc: warning: not capturing {_shown(name)}: {reason}", err=True)
    for name in report.recovered_tables:
        typer.echo(
            f"radlake cdc: silver of {_shown(name)} brought up to its change log after an interrupted batch", err=True
        )
    if report.warning:
        typer.echo(f"radlake cdc: warning: {report.warning}", err=True)


@app.command("sync")
def sync(
    source: Annotated[str, typer.Argument(help="Source name in radlake.yaml.")],
    config: ConfigOption = None,
    lake: LakeOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress messages.")] = False,
) -> None:
    """Land everything committed before now: the first time a consistent snapshot, then batch after batch.

    Stops when the lake holds every change committed before the command started, or after
    ``cdc.max_sync_seconds`` with a warning naming the lag left. Progress (batches, changes, lag) goes to
    stderr: a bar on a terminal, plain lines otherwise.
    """
    from ingestion.cdc import parse_lsn, sync_source
    from radlake.config import load_settings
    from radlake.progress import Progress

    settings = load_settings(config, lake=lake)
    with (
        Progress("radlake cdc sync", mode="off" if quiet else None) as progress,
        progress.phase(f"capture {source} (bytes of WAL)") as step,
    ):
        first: dict[str, int] = {}

        def on_batch(report: SyncReport) -> None:
            lag = "-" if report.lag_bytes is None else f"{report.lag_bytes:,} B / {report.lag_seconds or 0:.0f} s"
            step.note(f"batch {report.batches}: {report.changes:,} changes so far, lag {lag}")
            if report.target and report.position_lsn is not None:
                start = first.setdefault("lsn", report.position_lsn)
                total = max(1, parse_lsn(report.target) - start)
                step.update(min(total, max(0, report.position_lsn - start)), total)

        report = sync_source(settings, source, progress=progress.note, on_batch=on_batch)
    _warnings(report)
    typer.echo(_summary(report))


@app.command("stream")
def stream(
    source: Annotated[str, typer.Argument(help="Source name in radlake.yaml.")],
    config: ConfigOption = None,
    lake: LakeOption = None,
    poll: Annotated[float, typer.Option(help="Seconds between polls when idle.", min=0.01)] = 0.2,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only batches that landed something.")] = False,
) -> None:
    """Capture continuously with sub-second polling; SIGTERM or Ctrl-C finishes the current batch and exits."""
    from ingestion.cdc import stream_source
    from radlake.config import load_settings

    settings = load_settings(config, lake=lake)
    stop = stop_on_signals()
    warned: set[str] = set()

    def on_batch(report: SyncReport) -> None:
        key = repr((report.dropped_tables, sorted(report.refused_tables)))
        if key not in warned:
            warned.add(key)
            _warnings(report)
        if report.kind != "idle" or (not quiet and report.recovered_tables):
            typer.echo(_summary(report))

    typer.echo(f"radlake cdc stream: capturing {source!r} (polling every {poll:g} s)", err=True)
    stream_source(
        settings,
        source,
        stop,
        poll_interval=poll,
        progress=None if quiet else (lambda m: typer.echo(m, err=True)),
        on_batch=on_batch,
    )
    typer.echo("radlake cdc stream: stopped after a complete batch", err=True)


@app.command("status")
def status(config: ConfigOption = None, lake: LakeOption = None) -> None:
    """Show each source's position, lag and time since its last landed batch, and orphan replication slots."""
    from rich.console import Console
    from rich.table import Table

    from ingestion.cdc import source_status
    from radlake.config import load_settings

    settings = load_settings(config, lake=lake)
    rows = source_status(settings)
    table = Table(title="Change data capture")
    for column in ("source", "mode", "tables", "position", "lag", "WAL kept", "last batch"):
        table.add_column(column)
    for s in rows:
        lag = "-" if s.lag_bytes is None else f"{s.lag_bytes:,} B"
        if s.lag_seconds is not None:
            lag += f" / {s.lag_seconds:.1f} s"
        kept = "-" if s.wal_retained_bytes is None else f"{s.wal_retained_bytes:,} B"
        last = "-" if s.since_last_batch_s is None else f"{s.since_last_batch_s:.0f} s ago"
        name = s.source if s.kind == "source" else f"[red]{s.source} (orphan slot)[/]"
        table.add_row(name, s.mode or "-", str(s.tables), s.position or "-", lag, kept, last)
    console = Console()
    console.print(table)
    for s in rows:
        if s.problem:
            console.print(f"[yellow]{s.source}[/]: {s.problem}", highlight=False, soft_wrap=True)
    if not rows:
        console.print("no sources configured (sources: in radlake.yaml)")
    # Deployments use this command as a health check: a configured source with a problem fails it (an orphan
    # slot is listed above for a DBA, but says nothing about the sources radlake captures).
    troubled = [s.source for s in rows if s.problem and s.kind == "source"]
    if troubled:
        typer.echo(f"radlake cdc status: source(s) with a problem: {', '.join(troubled)}", err=True)
        raise typer.Exit(1)
