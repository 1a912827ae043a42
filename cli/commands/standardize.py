"""``radlake standardize``: raw exam names onto the standard codes (batch CSV), and the steward review loop."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from cli.commands import ConfigOption, LakeOption

app = typer.Typer(
    help=(
        "Map raw exam names onto the 14-digit standard codes.\n\n"
        "radlake standardize --input names.csv --output result.csv [--column raw_name] [--institution h01]"
    ),
    invoke_without_command=True,
)
review_app = typer.Typer(help="Steward review loop: export the queue, import decisions.", no_args_is_help=True)
app.add_typer(review_app, name="review")


def _lake_decisions(config: str | None, lake: str | None) -> list:
    """Decisions stored in the lake, or none when there is no lake or no decisions table yet."""
    from radlake.config import find_config, load_settings
    from transforms.exam_names import read_decisions

    if lake is None and find_config(config) is None:
        return []
    return read_decisions(load_settings(config, lake=lake))


@app.callback()
def standardize(
    ctx: typer.Context,
    input: Annotated[Path | None, typer.Option("--input", "-i", help="CSV of raw names (UTF-8).")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="CSV to write the results to.")] = None,
    column: Annotated[str, typer.Option("--column", help="Input column holding the raw names.")] = "raw_name",
    institution: Annotated[
        str | None, typer.Option("--institution", help="Institution of every row (else an institution column).")
    ] = None,
    decisions: Annotated[
        Path | None, typer.Option("--decisions", help="Extra steward decisions (a filled-in review queue CSV).")
    ] = None,
    standard_version: Annotated[
        str | None, typer.Option("--standard", help="Exam standard version (default: newest).")
    ] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Processes (default: up to 2).")] = None,
    config: ConfigOption = None,
    lake: LakeOption = None,
) -> None:
    """Write one row per input row: raw_name (as given), codes, standard_names ('|' between several), status,
    confidence. Steward decisions stored in the lake (and --decisions) are applied."""
    if ctx.invoked_subcommand is not None:
        return
    if input is None or output is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0 if input is None and output is None else 2)
    from radlake.exam_standard import load_standard
    from radlake.progress import Progress
    from transforms.exam_names import read_decisions_csv, standardize_file

    started = time.perf_counter()
    with Progress("radlake standardize") as progress:
        with progress.phase("read steward decisions"):
            known = _lake_decisions(config, lake)
            if decisions is not None:
                known += read_decisions_csv(decisions, load_standard(standard_version))
        with progress.phase(f"standardize {input.name}"):
            report = standardize_file(
                input,
                output,
                column=column,
                institution=institution,
                decisions=known,
                standard_version=standard_version,
                workers=workers,
            )
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(report.statuses.items()))
    seconds = time.perf_counter() - started
    typer.echo(
        f"{report.rows:,} rows ({report.distinct:,} distinct) → {output}: {counts} "
        f"[{seconds:.1f} s, {report.workers} process{'es' if report.workers > 1 else ''}]",
        err=True,
    )


@review_app.command("export")
def review_export(
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV queue for the stewards.")],
    from_result: Annotated[
        Path | None,
        typer.Option("--from-result", help="Take the queue from a batch result CSV instead of the lake's name map."),
    ] = None,
    institution: Annotated[
        str | None, typer.Option("--institution", help="Institution of the names (with --from-result).")
    ] = None,
    config: ConfigOption = None,
    lake: LakeOption = None,
) -> None:
    """Export the names a steward should decide (status review or unmatched), most doubtful first."""
    from radlake.config import load_settings
    from transforms.exam_names import export_review_queue

    settings = None if from_result is not None else load_settings(config, lake=lake)
    n = export_review_queue(output, settings=settings, from_result=from_result, institution=institution)
    typer.echo(f"{n:,} names to review → {output}", err=True)


@review_app.command("import")
def review_import(
    decisions: Annotated[Path, typer.Argument(help="Filled-in queue: decision_codes or not_exam per row.")],
    config: ConfigOption = None,
    lake: LakeOption = None,
) -> None:
    """Store steward decisions in silver/exam_name_decisions; every later run applies them."""
    from radlake.config import load_settings
    from radlake.exam_standard import load_standard
    from transforms.exam_names import decisions_uri, read_decisions_csv, save_decisions

    settings = load_settings(config, lake=lake)
    n = save_decisions(settings, read_decisions_csv(decisions, load_standard()))
    typer.echo(f"{n:,} decisions stored in {decisions_uri(settings)}", err=True)
