"""``radlake route``: forward landed instances by rule (``run``), send a cohort (``send``), the queue (``status``)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.commands import ConfigOption, stop_on_signals

app = typer.Typer(help="Routing: instances forwarded by rule to AI nodes and archives.", no_args_is_help=True)


@app.command("run")
def run(config: ConfigOption = None) -> None:
    """Follow bronze and forward what the routing rules match, until SIGTERM or Ctrl-C."""
    import logging

    from ingestion.routing import Router
    from radlake.config import load_settings
    from transforms.export import routing_deidentifier

    settings = load_settings(config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    stop = stop_on_signals()
    router = Router(settings, deid=routing_deidentifier(settings))
    router.start()
    typer.echo(f"radlake route run: {len(router.workers)} destinations, {len(settings.routing.rules)} rules", err=True)
    try:
        router.follow(stop)
    finally:
        router.close()


@app.command("send")
def send(
    cohort: Annotated[str, typer.Option("--cohort", help="The cohort whose instances to send (built first).")],
    to: Annotated[str, typer.Option("--to", help="A destination of routing.destinations, or dicom://AE@HOST:PORT.")],
    deidentify: Annotated[
        bool, typer.Option("--deidentify/--as-stored", help="De-identify the copies for the cohort's project.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Give up waiting after this many seconds.")] = 3600.0,
    config: ConfigOption = None,
) -> None:
    """Send a cohort's instances through the routing queue; exit 1 when any ended in dead-letter."""
    from ingestion.routing import send_cohort
    from radlake.config import load_settings
    from radlake.progress import Progress
    from transforms.export import routing_deidentifier

    settings = load_settings(config)
    with Progress(f"radlake route send {cohort}") as progress:
        sent = send_cohort(
            settings,
            cohort,
            to,
            deid=routing_deidentifier(settings),
            deidentify=deidentify,
            timeout=timeout,
            progress=progress,
        )
    typer.echo(
        f"route {cohort} → {sent.destination}: {sent.queued} queued ({sent.already} sent or waiting before), "
        f"{sent.sent} sent, {sent.dead} dead-letter" + ("" if sent.done else f", gave up waiting after {timeout:.0f} s")
    )
    if sent.dead or not sent.done:
        raise typer.Exit(1)


@app.command("status")
def status(config: ConfigOption = None) -> None:
    """The queue per destination: waiting, oldest waiting (seconds since landing), sent, dead-letter."""
    from ingestion.routing import queue_metrics
    from radlake.config import load_settings

    metrics = queue_metrics(load_settings(config))
    if not metrics:
        typer.echo("routing queue: empty")
    for dest, m in sorted(metrics.items()):
        typer.echo(
            f"{dest}: {m['waiting']:.0f} waiting (oldest {m['oldest_waiting_seconds']:.0f} s), "
            f"{m['sent']:.0f} sent, {m['dead']:.0f} dead-letter"
        )


@app.command("results")
def results(
    folder: Annotated[
        str | None, typer.Option("--folder", help="A folder of JSON findings ({study_instance_uid, ai, ...}).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Link AI results (SR / secondary captures landed in bronze, JSON files) to their source studies."""
    from pathlib import Path

    from ingestion.routing import link_results
    from radlake.config import load_settings

    report = link_results(load_settings(config), Path(folder) if folder else None)
    for path, reason in report.skipped:
        typer.echo(f"{path}: skipped: {reason}", err=True)
    typer.echo(f"routing results: {report.linked} new results linked, {len(report.skipped)} files skipped")
