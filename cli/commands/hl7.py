"""``radlake hl7``: the HL7 v2 listener (MLLP) and the step that folds its messages into silver."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.commands import ConfigOption, LakeOption, stop_on_signals

app = typer.Typer(help="HL7 v2: orders, reports and patient events from a RIS over MLLP.", no_args_is_help=True)


@app.command("listen")
def listen(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (default: hl7.host).")] = None,
    port: Annotated[
        int | None, typer.Option(help="TCP port (default: hl7.port; 0 picks a free one).", min=0, max=65535)
    ] = None,
    lake: LakeOption = None,
) -> None:
    """Receive HL7 v2 messages over MLLP; each is fsynced to the write-ahead file before its ACK (AA).

    Malformed messages are answered AE/AR with the reason and not stored; a resent control id is answered
    AA and stored once; only hl7.allowed_facilities may send (any, with a warning, when empty). Stored
    messages land in bronze/hl7_messages in batches. SIGTERM or Ctrl-C stops, landing what is stored.
    """
    import logging

    from ingestion.hl7 import listen as run_listen
    from radlake.config import load_settings

    settings = load_settings(config, lake=lake)
    cfg = settings.hl7
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = stop_on_signals()

    def ready(bound: int) -> None:
        tls = " over TLS" if cfg.tls is not None else ""
        who = f"{len(cfg.allowed_facilities)} allowed facilities" if cfg.allowed_facilities else "any facility"
        typer.echo(f"radlake hl7 listen: on {host or cfg.host}:{bound}{tls} ({who}, default {cfg.encoding})", err=True)

    counters = run_listen(settings, host or cfg.host, cfg.port if port is None else port, stop_event=stop, ready=ready)
    rejected = ", ".join(f"{k} {v}" for k, v in sorted(counters.rejected.items())) or "none"
    typer.echo(
        f"radlake hl7 listen: stopped; {counters.accepted} taken, {counters.duplicates} resends, rejected {rejected}, "
        f"{counters.cut_frames} cut frames, {counters.landed} landed",
        err=True,
    )


@app.command("apply")
def apply(config: ConfigOption = None, lake: LakeOption = None) -> None:
    """Fold bronze/hl7_messages into silver/hl7_orders, silver/hl7_patient_links and silver/hl7_patients (run
    before the exams and the EMPI)."""
    from ingestion.hl7 import apply_messages
    from radlake.config import load_settings

    orders, links, patients = apply_messages(load_settings(config, lake=lake))
    typer.echo(
        f"silver/hl7_orders: {orders} orders; silver/hl7_patient_links: {links} merges; "
        f"silver/hl7_patients: {patients} patient records"
    )
