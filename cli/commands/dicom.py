"""``radlake dicom``: the DICOM network side (``radlake dicom listen``: a C-STORE receiver)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.commands import ConfigOption, LakeOption, stop_on_signals

app = typer.Typer(help="DICOM network services.", no_args_is_help=True)


@app.command("listen")
def listen(
    port: Annotated[int | None, typer.Option(help="TCP port (default: dicom.receiver.port).", min=0, max=65535)] = None,
    ae_title: Annotated[str | None, typer.Option("--ae-title", help="AE title to answer as.")] = None,
    storage: Annotated[
        Path | None, typer.Option(help="Folder for received files (default: dicom.receiver.storage).")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (default: dicom.receiver.host).")] = None,
    lake: LakeOption = None,
    config: ConfigOption = None,
    flush_seconds: Annotated[float, typer.Option(help="Longest wait before a received header is committed.")] = 1.0,
) -> None:
    """Receive instances by C-STORE, store them losslessly, land their headers in bronze within seconds.

    Only calling AE titles in dicom.receiver.allowed_calling_aets may send (any, with a warning, when the list
    is empty); dicom.receiver.tls turns on TLS. Receiving goes on while another ingest holds the lake: stored
    files are landed when it is free. SIGTERM or Ctrl-C stops accepting associations, lands the current
    micro-batch (or leaves it stored for the next start when the lake stays busy) and exits.
    """
    import logging

    from ingestion.dicom import listen as run_listen
    from radlake.config import ae_title_ok, load_settings
    from radlake.errors import ConfigError

    settings = load_settings(config, lake=lake)
    rec = settings.dicom.receiver
    ae = ae_title or rec.ae_title
    if not ae_title_ok(ae):
        raise ConfigError(f"--ae-title {ae!r}: an AE title has 1 to 16 printable characters and no backslash")
    if rec.require_allow_list and not rec.allowed_calling_aets:
        raise ConfigError(
            f"{settings.config_path or 'settings'}: dicom.receiver.allowed_calling_aets is empty and "
            "dicom.receiver.require_allow_list is set: list the modalities' AE titles (or set require_allow_list: "
            "false to accept any peer)"
        )
    folder = storage or rec.storage
    if folder is None:
        from radlake.private import state_folder

        folder = state_folder(settings, "dicom-received")  # whole DICOM files: owner-only, like all state
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    stop = stop_on_signals()

    def ready(bound: int) -> None:
        tls = " over TLS" if rec.tls is not None else ""
        peers = f"{len(rec.allowed_calling_aets)} allowed calling AEs" if rec.allowed_calling_aets else "any calling AE"
        typer.echo(
            f"radlake dicom listen: {ae} on {host or rec.host}:{bound}{tls} ({peers}), storing into {folder}", err=True
        )

    run_listen(
        settings,
        host or rec.host,
        rec.port if port is None else port,
        ae,
        folder,
        stop_event=stop,
        flush_seconds=flush_seconds,
        ready=ready,
    )
    typer.echo("radlake dicom listen: stopped (anything stored but not landed lands at the next start)", err=True)
