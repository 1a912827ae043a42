"""One writer of a shared lake, run as its own process (as a pod would be): ``python lake_writer.py ROLE ...``.

Roles (each through radlake's real code paths, each with its own local state folder, so no local lock file
is shared between them):

- ``folder LAKE HOME FOLDER``: a folder ingest (``ingest_dicom``) in small commit batches;
- ``receiver LAKE HOME FOLDER``: what the C-STORE receiver does with received files: parse, then land through
  a :class:`~ingestion.dicom.landing.Lander` under the receiver's app id, a few files per commit;
- ``cdc LAKE HOME BATCHES``: a CDC sync's writers (``ingestion.cdc``): append a change-log batch (app
  transaction), then replace silver with the snapshot or MERGE the batch into it with Spark (Sail).

Prints one JSON line: role, commits made, commit retries seen, seconds.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from radlake import lake
from radlake.config import Settings

CDC_ROWS = 20  # keys per change-log batch


def cdc_batch(version: int) -> pa.Table:
    """Change-log batch ``version`` of a simulated source table (as ingestion.cdc.log builds them).

    Batch 1 is the snapshot of keys 10..29; batch ``v`` then touches keys ``v*10 .. v*10+19``: updates of keys
    already there, inserts of new ones.
    """
    keys = list(range(version * 10, version * 10 + CDC_ROWS))
    known = set(range(10, version * 10 + 10))
    ops = ["snapshot"] * len(keys) if version == 1 else ["update" if k in known else "insert" for k in keys]
    now = datetime.now(UTC)
    return pa.table(
        {
            "order_id": pa.array(keys, pa.int64()),
            "status": pa.array([f"v{version}"] * len(keys)),
            "_old_order_id": pa.nulls(len(keys), pa.int64()),
            "_op": pa.array(ops),
            "_commit_time": pa.array([now] * len(keys), pa.timestamp("us", tz="UTC")),
            "_batch_id": pa.array([version] * len(keys), pa.int64()),
            "_seq": pa.array(range(len(keys)), pa.int64()),
            "_change_date": pa.array([now.date()] * len(keys), pa.date32()),
        }
    )


def run_folder(settings: Settings, folder: str) -> int:
    from ingestion.dicom.api import ingest_dicom

    before = lake.table_version(settings, f"{settings.lake}/bronze/dicom_files")
    ingest_dicom(settings, [folder], workers=0, batch_files=8)
    after = lake.table_version(settings, f"{settings.lake}/bronze/dicom_files")
    return (after or 0) - (before or 0)


def run_receiver(settings: Settings, folder: str) -> int:
    from ingestion.dicom.landing import Lander, load_state
    from ingestion.dicom.receiver import receiver_app_id
    from ingestion.dicom.workers import parse_paths

    paths = sorted(str(p) for p in Path(folder).rglob("*.dcm"))
    lander = Lander(settings, load_state(settings), app_id=receiver_app_id("RCV", 11112), batch_files=5)
    for i in range(0, len(paths), 5):
        lander.add(parse_paths(paths[i : i + 5]), "dicom:RCV")
    lander.close()
    return lander.batches_committed * 2


def run_cdc(settings: Settings, batches: int) -> int:
    from ingestion.cdc import apply, state
    from radlake.spark import spark_session, stop_embedded

    spark = spark_session(settings)
    commits = 0
    try:
        for version in range(1, batches + 1):
            batch = cdc_batch(version)
            # The CDC writers themselves: the change log first, then silver (a snapshot replaces it).
            commits += state.append_log(settings, "sim", "orders", batch, version=version)
            if version == 1:
                apply.replace_state(settings, "sim", "orders", batch.select(["order_id", "status"]), version=1)
                commits += 1
            else:
                apply.apply_batch(spark, settings, "sim", "orders", ("order_id",), batch, version=version)
                commits += 2  # the MERGE and the batch mark
    finally:
        stop_embedded()
    return commits


def main() -> None:
    role, lake_uri, home = sys.argv[1:4]
    settings = Settings(lake=lake_uri, warehouse=str(Path(home) / "gold" / "radlake.duckdb"), timezone="UTC")
    started = time.perf_counter()
    if role == "folder":
        commits = run_folder(settings, sys.argv[4])
    elif role == "receiver":
        commits = run_receiver(settings, sys.argv[4])
    elif role == "cdc":
        commits = run_cdc(settings, int(sys.argv[4]))
    else:
        raise SystemExit(f"unknown role {role!r}")
    seconds = time.perf_counter() - started
    print(json.dumps({"role": role, "commits": commits, "retries": lake.commit_retries(), "seconds": seconds}))


if __name__ == "__main__":
    main()
