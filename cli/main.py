"""The ``radlake`` command line: thin commands that resolve config and call the layers' functions."""

from __future__ import annotations

import sys

import typer

from radlake.errors import RadlakeError

app = typer.Typer(
    name="radlake",
    help="radlake: a lakehouse for medical imaging data (DICOM + RIS/HIS → bronze → silver → gold).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _register() -> None:
    # Each topic's commands live in their own module; importing them is cheap (layers load lazily inside).
    from cli.commands import cohort, demo, serve, simulate

    app.command("simulate")(simulate.simulate)
    app.command("demo")(demo.demo)
    app.command("serve")(serve.serve)
    app.add_typer(serve.app, name="space")
    app.command("export")(cohort.export)
    app.add_typer(cohort.app, name="cohort")
    for module_name, group in (
        ("ingest", "ingest"),
        ("dicom", "dicom"),
        ("pacs", "pacs"),
        ("hl7", "hl7"),
        ("cdc", "cdc"),
        ("standardize", "standardize"),
        ("empi", "empi"),
        ("quality", "quality"),
        ("dashboard", "dashboard"),
        ("lake", "lake"),
        ("sql", "sql"),
        ("route", "route"),
    ):
        try:
            module = __import__(f"cli.commands.{module_name}", fromlist=["app"])
        except ModuleNotFoundError as exc:
            if exc.name != f"cli.commands.{module_name}":
                raise
            continue
        app.add_typer(module.app, name=group)


def plain_help(doc: str | None) -> str | None:
    """A command's docstring as ``--help`` shows it: reStructuredText's literal backticks become plain quotes."""
    if doc is None:
        return None
    import re

    return re.sub(r"`([^`]+)`", r"'\1'", re.sub(r"``([^`]+)``", r"'\1'", doc))


def _plain_help(typer_app: typer.Typer) -> None:
    # Typer shows a command's docstring as written; the docstrings are numpydoc/reStructuredText for the API docs.
    import inspect

    for info in typer_app.registered_commands:
        if info.help is None and info.callback is not None:
            info.help = plain_help(inspect.getdoc(info.callback))
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _plain_help(group.typer_instance)


_register()
_plain_help(app)


def main() -> None:
    """Entry point: run the app, turning a RadlakeError into one line on stderr and a non-zero exit."""
    try:
        # Without standalone mode click returns a typer.Exit's code instead of exiting with it.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except RadlakeError as err:
        typer.echo(f"radlake: error: {err}", err=True)
        sys.exit(err.exit_code)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code or 0)
    except KeyboardInterrupt:
        typer.echo("radlake: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # click's usage errors and the like
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        raise
