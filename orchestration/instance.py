"""A Dagster home for a radlake deployment: persistent run history, telemetry off (air-gapped sites)."""

from __future__ import annotations

import os
from pathlib import Path

DAGSTER_YAML = """\
# Written by radlake. Telemetry off and no newsletter prompt: hospital networks are often air-gapped and
# must not call out.
telemetry:
  enabled: false
nux:
  enabled: false
"""


def prepare_dagster_home(path: Path) -> Path:
    """Create ``path`` with a dagster.yaml (if absent) and point ``DAGSTER_HOME`` at it."""
    path = path.resolve()
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(path)
    return path
