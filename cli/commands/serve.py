"""``radlake serve`` (the data services: DICOMweb, FHIR, patient 360) and ``radlake space token``."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.commands import ConfigOption

app = typer.Typer(help="Data spaces of the services: tokens.", no_args_is_help=True)


def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on (default: serve.host).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on (default: serve.port).")] = None,
) -> None:
    """Serve every configured data space over HTTP: DICOMweb, FHIR R4 and the patient 360 page.

    Every request needs a bearer token of its space (see radlake space token); every request is audited in
    audit/service_requests. Put it behind the TLS proxy of infra/nginx in production.
    """
    from radlake.config import load_settings
    from services import serve

    settings = load_settings(config)
    if not settings.spaces:
        typer.echo("radlake: error: no spaces: in the config, so nothing could be served", err=True)
        raise typer.Exit(2)
    serve(settings, config, host, port)


@app.command("token")
def token(
    space: Annotated[str, typer.Argument(help="The space the token opens (a name under spaces: in the config).")],
    config: ConfigOption = None,
) -> None:
    """Print a new bearer token for SPACE once; only its hash is stored."""
    from radlake.config import load_settings
    from services import issue_token

    typer.echo(issue_token(load_settings(config), space))
