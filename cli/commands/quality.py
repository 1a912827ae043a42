"""``radlake quality``: run the Great Expectations suites and write the stewards' report."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from cli.commands import ConfigOption

app = typer.Typer(help="Data-quality suites (Great Expectations) and the stewards' report.", no_args_is_help=True)


class Layer(StrEnum):
    """The layers that have suites."""

    bronze = "bronze"
    silver = "silver"
    gold = "gold"


@app.command("run")
def run(
    layer: Annotated[Layer | None, typer.Option("--layer", help="Only this layer's suites (default: all).")] = None,
    config: ConfigOption = None,
) -> None:
    """Run the suites, write the report (<warehouse folder>/quality/index.html), exit 1 on a critical failure."""
    from rich.console import Console
    from rich.table import Table

    from expectations import data_docs_site, run_suites, summary_path
    from radlake.config import load_settings
    from radlake.progress import Progress

    settings = load_settings(config)
    with Progress("radlake quality run") as progress:
        runs = run_suites(settings, layer.value if layer else None, progress=progress)
    console = Console()
    table = Table(title=f"Quality suites ({layer.value if layer else 'all layers'})")
    for column in ("suite", "table", "rows", "result", "failed expectations"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for r in runs:
        if r.result is None:
            table.add_row(r.suite.name, r.suite.table, "", "[dim]skipped[/]", r.skipped or "")
            continue
        failed = ", ".join(
            f"{o.expectation.removeprefix('expect_')}({o.column or ''}) [{o.severity}]" for o in r.result.failed
        )
        verdict = "[green]passed[/]" if r.result.success else "[red]FAILED[/]" if r.blocking else "[yellow]warn[/]"
        table.add_row(r.suite.name, r.suite.table, f"{r.result.rows:,}", verdict, failed)
    console.print(table)
    console.print(f"report:     {summary_path(settings)}")
    console.print(f"data docs:  {data_docs_site(settings) / 'index.html'}")
    blocking = [r.suite.name for r in runs if r.blocking]
    if blocking:
        console.print(f"[red]critical expectations failed in: {', '.join(blocking)}[/]")
        raise typer.Exit(1)
