"""``radlake empi``: link patient records into persons (batch CSV or the lake), and the steward review loop."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.commands import ConfigOption, LakeOption

if TYPE_CHECKING:
    pass

app = typer.Typer(
    help=(
        "Patient master index: one empi_id per person across institutions.\n\n"
        "radlake empi link --input records.csv --output links.csv"
    ),
    no_args_is_help=True,
)
review_app = typer.Typer(help="Steward review loop: export uncertain pairs, import decisions.", no_args_is_help=True)
app.add_typer(review_app, name="review")

EngineOption = Annotated[
    str | None,
    typer.Option("--engine", help="duckdb (embedded) or spark (the configured Spark); default from radlake.yaml."),
]


def _engine(engine: str | None, config: str | None, lake: str | None) -> tuple[str, object]:
    """The engine to use and, for Spark, its session: DuckDB unless asked or radlake.yaml names a cluster."""
    from radlake.config import find_config, load_settings
    from radlake.errors import ConfigError

    if engine not in (None, "duckdb", "spark"):
        raise ConfigError(f"--engine must be duckdb or spark, got {engine!r}")
    if engine is None:
        configured = find_config(config) is not None
        engine = "spark" if configured and load_settings(config, lake=lake).spark != "embedded" else "duckdb"
    if engine == "duckdb":
        return "duckdb", None
    from radlake.spark import spark_session

    return "spark", spark_session(load_settings(config, lake=lake))


def _duckdb_limits(config: str | None, lake: str | None) -> dict[str, str | None]:
    """DuckDB's memory limit and spill directory from radlake.yaml's ``empi`` section (none without a file)."""
    from radlake.config import find_config, load_settings

    if find_config(config) is None:
        return {}
    settings = load_settings(config, lake=lake)
    spill = settings.empi.temp_directory or settings.state_dir / "empi" / "spill"
    return {"memory_limit": settings.empi.memory_limit, "temp_directory": str(spill)}


@app.command("link")
def link(
    input: Annotated[Path, typer.Option("--input", "-i", help="CSV (UTF-8) or Parquet of patient records.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV to write record_id, empi_id, match_probability.")],
    decisions: Annotated[
        Path | None,
        typer.Option(
            "--decisions", help="Steward decisions CSV (record_id_a, record_id_b, decision), or a filled queue."
        ),
    ] = None,
    previous: Annotated[
        Path | None,
        typer.Option("--previous", help="An earlier links CSV: its empi_ids are kept (incremental run)."),
    ] = None,
    review: Annotated[
        Path | None, typer.Option("--review", help="Also write the steward review queue to this CSV.")
    ] = None,
    auto_link: Annotated[float, typer.Option("--auto-link", help="Match probability that links.")] = 0.8,
    review_threshold: Annotated[
        float, typer.Option("--review-threshold", help="Match probability from which a pair is reviewed.")
    ] = 0.4,
    engine: EngineOption = None,
    config: ConfigOption = None,
    lake: LakeOption = None,
) -> None:
    """Link the records of INPUT (columns record_id, source_system, mrn, name, sex, birth_date, id_number,
    phone, address; any but record_id may be empty) and write one row per record: record_id, empi_id,
    match_probability (empty for a record alone)."""
    from radlake.errors import ConfigError
    from radlake.progress import Progress
    from transforms.empi import LinkageConfig, link_records_file

    logging.getLogger("splink").setLevel(logging.WARNING)
    started = time.perf_counter()
    with Progress("radlake empi link") as progress:

        def linkage() -> LinkageConfig:
            chosen, spark = _engine(engine, config, lake)
            try:
                return LinkageConfig(
                    auto_link=auto_link,
                    review=review_threshold,
                    engine=chosen,  # type: ignore[arg-type]
                    spark=spark,
                    **_duckdb_limits(config, lake),  # type: ignore[arg-type]
                )
            except ValueError as err:
                raise ConfigError(str(err)) from None

        run = link_records_file(
            input, output, config=linkage, progress=progress, decisions=decisions, previous=previous, review=review
        )
    seconds = time.perf_counter() - started
    typer.echo(
        f"{run.stats['records']:,} records → {run.stats['persons']:,} persons → {output} "
        f"({run.stats['links_accepted']:,} links, {run.stats['review_pairs']:,} pairs to review) [{seconds:.1f} s]",
        err=True,
    )


@app.command("run")
def run(
    retrain: Annotated[bool, typer.Option("--retrain", help="Train a new model even if one is stored.")] = False,
    engine: EngineOption = None,
    config: ConfigOption = None,
    lake: LakeOption = None,
) -> None:
    """Link every patient record of the lake (incremental after the first run) and write the silver EMPI tables."""
    from radlake.config import load_settings
    from radlake.progress import Progress
    from transforms.empi import run_empi, run_event_counts

    logging.getLogger("splink").setLevel(logging.WARNING)
    started = time.perf_counter()
    with Progress("radlake empi run") as progress:
        result = run_empi(load_settings(config, lake=lake), engine=engine, retrain=retrain, progress=progress)
    events = run_event_counts(result)
    typer.echo(
        f"{result.stats['records']:,} records ({result.stats['new_records']:,} new) → {result.stats['persons']:,} "
        f"persons; events {events}; {result.stats['review_pairs']:,} pairs to review "
        f"[{time.perf_counter() - started:.1f} s]",
        err=True,
    )


@review_app.command("export")
def review_export(
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV queue for the stewards.")],
    config: ConfigOption = None,
    lake: LakeOption = None,
) -> None:
    """Export the lake's review queue (written by `radlake empi run`), strongest pairs first; fill in the
    decision column with link or never_link and import it."""
    from radlake.config import load_settings
    from transforms.empi import export_review_queue

    pairs = export_review_queue(load_settings(config, lake=lake), output)
    typer.echo(f"{pairs:,} pairs to review → {output}", err=True)


@review_app.command("import")
def review_import(
    reviewed: Annotated[Path, typer.Argument(help="Filled-in queue: decision link or never_link per row.")],
    decided_by: Annotated[str, typer.Option("--by", help="Who decided (kept with each decision).")],
    to_csv: Annotated[
        Path | None,
        typer.Option(
            "--to-csv", help="Append the decisions to this CSV (for empi link --decisions) instead of the lake."
        ),
    ] = None,
    config: ConfigOption = None,
    lake: LakeOption = None,
) -> None:
    """Store steward decisions (silver/empi_decisions, or a CSV); every later run applies them."""
    from radlake.config import load_settings
    from transforms.empi import decisions_uri, import_review_file, store_review_decisions

    decisions = import_review_file(reviewed, decided_by=decided_by, to_csv=to_csv)
    if to_csv is not None:
        typer.echo(f"{len(decisions):,} decisions in {to_csv}", err=True)
        return
    settings = load_settings(config, lake=lake)
    pairs = store_review_decisions(settings, decisions, reviewed)
    typer.echo(f"{pairs:,} decisions stored in {decisions_uri(settings)}", err=True)
