"""``radlake sql``: the SQL endpoint for BI tools (PostgreSQL's protocol over the published marts), its accounts."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.commands import ConfigOption

app = typer.Typer(
    help="SQL endpoint for BI tools: serve the marts over PostgreSQL's protocol; accounts.", no_args_is_help=True
)


@app.command("serve")
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on (default sql.host).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default sql.port, 5433).")] = None,
) -> None:
    """Serve the published marts read-only: database ``warehouse`` (analysts), ``stewards_warehouse`` (stewards)."""
    import asyncio
    import logging

    from radlake.config import load_settings
    from sqlendpoint import serve as run_server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = load_settings(config)
    # Ctrl-C ends it: the command line's entry point says "interrupted" (the audit rows are flushed first).
    asyncio.run(run_server(settings, host=host, port=port))


@app.command("account")
def account(
    name: Annotated[str, typer.Argument(help="The login name.")],
    space: Annotated[str, typer.Option("--space", help="The data space it is bound to (stewards, analysts, ...).")],
    config: ConfigOption = None,
) -> None:
    """Create (or reset) an account bound to a data space; prints its new password once (only a hash is kept)."""
    from radlake.config import load_settings
    from sqlendpoint import create_account, database_name

    settings = load_settings(config)
    password = create_account(settings, name, space)
    typer.echo(f"account {name} (space {space}, database {database_name(space)})")
    typer.echo(f"password: {password}")
    typer.echo(f"stored as a hash in {settings.sql_accounts_path}; the password is not shown again")
