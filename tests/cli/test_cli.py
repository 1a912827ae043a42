"""The command line: --help everywhere, and one-line errors with a non-zero exit instead of tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
from typer.testing import CliRunner

from cli.main import app

RADLAKE = Path(sys.executable).parent / "radlake"


def _walk(command: click.Command, path: list[str]):
    yield path
    if hasattr(command, "commands"):  # typer may bundle its own click, so no isinstance
        for name, sub in command.commands.items():
            yield from _walk(sub, [*path, name])


def test_help_everywhere() -> None:
    import typer.main

    root = typer.main.get_command(app)
    runner = CliRunner()
    paths = list(_walk(root, []))
    assert len(paths) > 3
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RADLAKE), *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_bad_config_value_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "radlake.yaml"
    cfg.write_text("spark: yarn\n")
    result = _run("demo", "--help", cwd=tmp_path)  # help never needs a config
    assert result.returncode == 0
    result = _run("cdc", "status", "--config", str(cfg), cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "spark" in lines[0] and str(cfg) in lines[0], result.stderr


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "radlake.yaml"
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    cfg.write_text("sources:\n  ris:\n    dsn: postgresql://radlake@127.0.0.1:1/ris\n")
    line = _one_line_error(_run("cdc", "sync", "ris", "--config", str(cfg), cwd=tmp_path))
    assert "ris" in line and "unreachable" in line


def test_unwritable_lake_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    (tmp_path / "in").mkdir()
    line = _one_line_error(_run("ingest", "dicom", str(tmp_path / "in"), "--lake", str(blocker / "lake"), cwd=tmp_path))
    assert "not writable" in line and str(blocker) in line


def test_no_help_shows_raw_backticks() -> None:
    """Every command's --help reads as prose: the docstrings' reStructuredText literals are not shown raw."""
    runner = CliRunner()
    commands = [["demo"], ["simulate"]] + [
        [group, name]
        for group, names in {
            "cdc": ["sync", "stream", "status"],
            "lake": ["maintain", "restore", "history"],
            "dicom": [],
            "quality": [],
        }.items()
        for name in names
    ]
    for args in commands:
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, (args, result.output)
        assert "`" not in result.output, (args, result.output)


def test_demo_stop_without_a_demo_says_so(tmp_path: Path) -> None:
    from radlake.errors import ConfigError

    result = CliRunner().invoke(app, ["demo", "--stop", "--workdir", str(tmp_path)])
    assert isinstance(result.exception, ConfigError) and "no demo here" in str(result.exception)
