"""``radlake dashboard``: build the static offline dashboards from the analysts' warehouse."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.commands import ConfigOption

app = typer.Typer(help="Offline dashboards (ECharts) built from the analysts' warehouse.", no_args_is_help=True)


@app.command("build")
def build(
    out: Annotated[
        Path | None, typer.Option("--out", help="Target folder (default: <warehouse folder>/dashboard).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Run every chart's SQL on the warehouse and write the pages, data/<chart>.json and the stewards' console."""
    from dashboards import build_dashboards
    from ingestion.cdc import lagging_sources
    from radlake.config import load_settings

    settings = load_settings(config)
    from ingestion.routing import queue_metrics

    result = build_dashboards(settings, out, lagging=lagging_sources(settings), routing=queue_metrics(settings))
    typer.echo(f"dashboards: {len(result.pages)} pages, {len(result.rows)} charts, {sum(result.rows.values())} rows")
    for chart_id, reason in sorted(result.missing.items()):
        typer.echo(f"  {chart_id}: no data ({reason})")
    typer.echo(f"open: {result.out / 'index.html'}")
