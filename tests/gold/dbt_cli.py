"""Run the dbt project in a subprocess against one lake and warehouse (as Dagster's dbt resource does)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radlake.config import Settings
from radlake.pseudonym import KEY_ENV
from radlake.warehouse import DBT_PROJECT_DIR, dbt_env

PSEUDONYM_KEY = secrets.token_hex(32)
"""The site key of every dbt run of the gold tests (a fresh random one per session)."""


@dataclass
class BuiltGold:
    """A lake's settings, where dbt worked (target, logs), and the outcome of its ``dbt build``."""

    settings: Settings
    work: Path
    returncode: int
    output: str
    results: dict[str, Any]


class DbtRun:
    """``dbt <args>`` going on in a child process, with the settings' environment and :data:`PSEUDONYM_KEY`; target
    and logs under ``work``. Started at once: other work (another build) can go on meanwhile."""

    def __init__(self, settings: Settings, args: list[str], work: Path, **extra_env: str) -> None:
        env = {**os.environ, **dbt_env(settings), KEY_ENV: PSEUDONYM_KEY, **extra_env}
        self.target = work / "target"
        cmd = [
            str(Path(sys.executable).parent / "dbt"),
            *args,
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(self.target),
            "--log-path",
            str(work / "logs"),
        ]
        # Into a file, not a pipe: a build's output outgrows a pipe's buffer, and dbt would wait for a reader.
        work.mkdir(parents=True, exist_ok=True)
        self.output = work / "dbt-output.txt"
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)

    def result(self, timeout: float = 300) -> tuple[int, str, dict[str, Any]]:
        """Wait for dbt: exit code, combined output, and the parsed run_results.json (empty when dbt wrote none)."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise
        results_file = self.target / "run_results.json"
        results = json.loads(results_file.read_text(encoding="utf-8")) if results_file.exists() else {}
        return code, self.output.read_text(encoding="utf-8", errors="replace"), results

    def stop(self) -> None:
        """Kill dbt if it still runs (a test that failed before waiting for it)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def run_dbt(settings: Settings, args: list[str], work: Path, **extra_env: str) -> tuple[int, str, dict[str, Any]]:
    """``dbt <args>`` with the settings' environment and :data:`PSEUDONYM_KEY`; target and logs under ``work``.

    Returns
    -------
    tuple
        Exit code, combined output, and the parsed run_results.json (empty when dbt wrote none).
    """
    return DbtRun(settings, args, work, **extra_env).result()


def manifest(work: Path) -> dict[str, Any]:
    """The manifest dbt wrote under ``work``."""
    return json.loads((work / "target" / "manifest.json").read_text(encoding="utf-8"))
