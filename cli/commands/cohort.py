"""``radlake cohort build`` and ``radlake export``: research cohorts and their de-identified export."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.commands import ConfigOption

app = typer.Typer(help="Research cohorts: rules in cohorts/<name>.yaml, membership in the lake.", no_args_is_help=True)

NameArgument = Annotated[str, typer.Argument(help="The cohort: cohorts/NAME.yaml beside the config.")]


@app.command("build")
def build(name: NameArgument, config: ConfigOption = None) -> None:
    """Select the cohort's studies into silver/cohort_members; print its size and what joined and left."""
    from radlake.config import load_settings
    from radlake.spark import spark_session
    from transforms.cohorts import build_cohort, load_cohort

    settings = load_settings(config)
    rule = load_cohort(settings, name)
    result = build_cohort(spark_session(settings), settings, rule)
    typer.echo(
        f"cohort {result.cohort}: build {result.build}, {result.members} studies "
        f"(+{len(result.joined)} joined, -{len(result.left)} left), rule {result.rule_hash[:12]}"
    )


def export(
    name: NameArgument,
    to: Annotated[str, typer.Option("--to", help="A folder or s3://bucket/prefix for the bag.")],
    config: ConfigOption = None,
) -> None:
    """De-identify the cohort's instances (PS3.15 Annex E) into a BagIt bag; exit 1 when any instance failed."""
    from radlake.config import load_settings
    from radlake.progress import Progress
    from transforms.cohorts import load_cohort
    from transforms.export import ExportRun

    settings = load_settings(config)
    run = ExportRun(settings, load_cohort(settings, name), to)
    with Progress(f"radlake export {name}") as progress, progress.phase("instances") as step:
        summary = run.run(lambda done, total: step.update(done, total))
    typer.echo(
        f"export {summary.cohort} → {summary.destination}: {summary.exported} exported, "
        f"{summary.quarantined} quarantined, {summary.failed} failed ({summary.skipped} done by an earlier run)"
    )
    if summary.failed:
        raise typer.Exit(1)
