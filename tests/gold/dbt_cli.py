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


def run_dbt(settings: Settings, args: list[str], work: Path, **extra_env: str) -> tuple[int, str, dict[str, Any]]:
    """``dbt <args>`` with the settings' environment and :data:`PSEUDONYM_KEY`; target and logs under ``work``.

    Returns
    -------
    tuple
        Exit code, combined output, and the parsed run_results.json (empty when dbt wrote none).
    """
    env = {**os.environ, **dbt_env(settings), KEY_ENV: PSEUDONYM_KEY, **extra_env}
    target = work / "target"
    cmd = [
        str(Path(sys.executable).parent / "dbt"),
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target),
        "--log-path",
        str(work / "logs"),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    results_file = target / "run_results.json"
    results = json.loads(results_file.read_text(encoding="utf-8")) if results_file.exists() else {}
    return proc.returncode, proc.stdout + proc.stderr, results


def manifest(work: Path) -> dict[str, Any]:
    """The manifest dbt wrote under ``work``."""
    return json.loads((work / "target" / "manifest.json").read_text(encoding="utf-8"))
