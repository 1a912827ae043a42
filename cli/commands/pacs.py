"""``radlake pacs``: pulling studies from a PACS (C-FIND, then C-MOVE to radlake's receiver or C-GET)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from cli.commands import ConfigOption, LakeOption

app = typer.Typer(help="Pull studies from a PACS.", no_args_is_help=True)


@app.command("pull")
def pull(
    peer: Annotated[str, typer.Option(help="The PACS: dicom://AETITLE@HOST:PORT.")],
    since: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="First study day (YYYY-MM-DD).")],
    until: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="Last study day (YYYY-MM-DD).")],
    get: Annotated[bool, typer.Option("--get", help="C-GET on radlake's association instead of C-MOVE.")] = False,
    config: ConfigOption = None,
    lake: LakeOption = None,
) -> None:
    """Find the studies of the days since..until at the PACS and retrieve those not complete yet.

    Without --get the PACS sends them by C-MOVE to dicom.receiver.ae_title (the peer's move_destination),
    which must be registered at the PACS and running (`radlake dicom listen`). Each study's state is kept in
    bronze/pacs_pull_state: run the same command again to continue a stopped pull.
    """
    from ingestion.pacs import pull_studies
    from radlake.config import load_settings
    from radlake.errors import ConfigError

    if until < since:
        raise ConfigError(f"--until {until:%Y-%m-%d} is before --since {since:%Y-%m-%d}")
    settings = load_settings(config, lake=lake)
    report = pull_studies(settings, peer, since.date(), until.date(), get=get)
    typer.echo(
        f"{report.peer}: {report.found} studies found ({report.queries} C-FIND, {report.splits} windows split), "
        f"{report.already_complete} already complete, {report.complete} completed, {report.failed} failed, "
        f"{report.instances_received} instances in bronze"
    )
    for window in report.capped:
        typer.echo(f"warning: still capped at {window}: studies may be missing there", err=True)
    if report.stopped:
        typer.echo(f"stopped: {report.stopped} ({report.not_started} studies left for the next run)", err=True)
    if report.failed:
        raise typer.Exit(3)
