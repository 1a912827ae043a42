"""``radlake lake``: table upkeep (compaction, checkpoints, retention) and restoring an earlier version."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.commands import ConfigOption, LakeOption

app = typer.Typer(help="Lake upkeep: compaction, checkpoints, vacuum, restore.", no_args_is_help=True)

TableOption = Annotated[str, typer.Option("--table", "-t", help="A table as layer/name, e.g. silver/exams.")]


def _mib(n: int) -> str:
    return f"{n / 1048576:.1f}"


@app.command("maintain")
def maintain(
    table: Annotated[
        list[str] | None, typer.Option("--table", "-t", help="Only this table (layer/name); repeatable.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be done; write nothing.")] = False,
    config: ConfigOption = None,
    lake: LakeOption = None,
) -> None:
    """Compact small files, checkpoint, clean the log and vacuum past retention; print what was done per table."""
    from rich.console import Console
    from rich.table import Table

    from radlake.config import load_settings
    from radlake.maintenance import maintain as run_maintain

    settings = load_settings(config, lake=lake)
    reports = run_maintain(settings, table or None, dry_run=dry_run)
    out = Table(title="Lake upkeep" + (" (dry run: nothing written)" if dry_run else ""))
    for column in ("table", "files", "MiB", "log files", "log KiB", "done", "s"):
        out.add_column(column, justify="left" if column in ("table", "done") else "right")
    for r in reports:
        out.add_row(
            r.table,
            f"{r.files_before} → {r.files_after}",
            f"{_mib(r.bytes_before)} → {_mib(r.bytes_after)}",
            f"{r.log_files_before} → {r.log_files_after}",
            f"{r.log_bytes_before // 1024} → {r.log_bytes_after // 1024}",
            "; ".join(r.steps) or "nothing to do",
            f"{r.seconds:.2f}",
        )
    Console(width=160).print(out)


@app.command("restore")
def restore(
    table: TableOption,
    version: Annotated[int, typer.Option("--version", "-v", help="The version to make current again.", min=0)],
    config: ConfigOption = None,
    lake: LakeOption = None,
) -> None:
    """Make an earlier version of a table current again, in a new commit (within the retention window)."""
    from radlake.config import load_settings
    from radlake.maintenance import restore as run_restore

    settings = load_settings(config, lake=lake)
    metrics = run_restore(settings, table, version)
    typer.echo(
        f"{table} restored to version {version} ({metrics.get('numRemovedFile', 0)} files removed, "
        f"{metrics.get('numRestoredFile', 0)} restored)"
    )


@app.command("history")
def history(
    table: TableOption,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many newest commits.")] = 20,
    config: ConfigOption = None,
    lake: LakeOption = None,
) -> None:
    """The newest commits of a table: version, time, operation (to choose a version to restore)."""
    from datetime import UTC, datetime

    from radlake.config import load_settings
    from radlake.maintenance import table_history

    settings = load_settings(config, lake=lake)
    for entry in table_history(settings, table, limit):
        when = datetime.fromtimestamp(int(entry.get("timestamp", 0)) / 1000, UTC).isoformat(timespec="seconds")
        typer.echo(f"{entry.get('version', '?'):>8}  {when}  {entry.get('operation', '')}")
