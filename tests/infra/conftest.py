"""Fixtures for checking the deployment files: which commands of radlake's entry points really exist."""

from __future__ import annotations

import importlib.util
import shlex
import sys
from collections.abc import Callable

import pytest
from infra_files import ENTRY_POINTS, ROOT, VENV_BIN, command_paths, image_path, leading_words

Commands = dict[str, set[tuple[str, ...]] | None]


@pytest.fixture(scope="session")
def cli_commands() -> Commands:
    """Leaf commands of each entry point the deployment runs (None: the program takes options only)."""
    import typer.main
    from dagster._cli import cli as dagster_cli
    from dagster._daemon.cli import cli as daemon_cli

    from cli.main import app

    return {
        "radlake": set(command_paths(typer.main.get_command(app))),
        "dagster": set(command_paths(dagster_cli)),
        "dagster-daemon": set(command_paths(daemon_cli)),
        "dagster-webserver": None,
        "dbt": None,
        "sail": None,  # a Rust CLI: tests/infra/test_k8s_sail.py runs its `spark server` for real
    }


@pytest.fixture(scope="session")
def check_command(cli_commands: Commands) -> Callable[[list[str] | str], None]:
    """``check(argv)``: fail unless the program, its subcommand and the module or files it names exist."""

    def check(argv: list[str] | str) -> None:
        args = shlex.split(argv) if isinstance(argv, str) else list(argv)
        assert args, "empty command"
        program = args[0]
        if program.startswith("/"):
            source = image_path(program)
            assert source is not None and source.is_file(), f"{program} is not a file of the image"
            return
        assert program in ENTRY_POINTS, f"{program}: not one of radlake's entry points {ENTRY_POINTS}"
        assert (VENV_BIN / program).exists(), f"{program} is not installed beside {sys.executable}"
        known = cli_commands[program]
        if known is not None:
            words = leading_words(args[1:])
            assert any(k and words[: len(k)] == k for k in known), f"{program} {' '.join(words)}: no such command"
        if "-m" in args:
            module = args[args.index("-m") + 1]
            assert importlib.util.find_spec(module) is not None, f"module {module} is not importable"
        for flag in ("-w", "--workspace"):
            if flag in args:
                target = args[args.index(flag) + 1]
                source = image_path(target) or ROOT / target  # in the image, or relative to the repo root
                assert source.is_file(), f"workspace {target} does not come from the repo"

    return check
