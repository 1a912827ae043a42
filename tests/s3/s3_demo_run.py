"""The demo's pipeline on an S3 lake, in a process of its own, its outcome written as JSON (tests/s3/conftest.py).

Run as ``python -m tests.s3.s3_demo_run WORKDIR BUCKET OUT_JSON`` with the AWS variables pointing at the moto
server: simulate a small group, point its radlake.yaml at s3://BUCKET/lake and materialise everything.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo


def main(workdir: str, bucket: str, out: str) -> None:
    from orchestration.demo import demo_config, materialize_all, simulated_days
    from radlake.config import load_settings, write_settings
    from radlake.postgres import stop_embedded_server
    from simulator.simulate import simulate

    folder = Path(workdir)
    # Two recent days: the run covers the day partitions from the first exam day to today (the DICOM files'
    # arrival day), so a simulation ending yesterday keeps the range short.
    start = datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=2)
    simulate(folder, institutions=2, days=2, exams_per_day=30, seed=11, start_date=start)
    first, _last = simulated_days(folder)
    config = demo_config(folder, first)
    config.update(lake=f"s3://{bucket}/lake", warehouse="gold/radlake.duckdb")
    write_settings(config, folder / "radlake.yaml")
    settings = load_settings(folder / "radlake.yaml")
    # As run_demo: every day partition from the first exam day to today (DICOM arrival day).
    today = datetime.now(ZoneInfo(settings.timezone)).date()
    try:
        success, checks = materialize_all(settings, folder / ".dagster", first, today)
    finally:
        stop_embedded_server(folder / "postgres")
    Path(out).write_text(json.dumps({"success": success, "checks": checks}), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:4])
