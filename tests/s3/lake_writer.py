"""One writer of a shared lake, run as its own process (as a pod would be): ``python lake_writer.py ROLE ...``.

Roles (each through radlake's real code paths, each with its own local state folder, so no local lock file
is shared between them):

- ``folder LAKE HOME FOLDER``: a folder ingest (``ingest_dicom``) in small commit batches;
- ``receiver LAKE HOME FOLDER``: what the C-STORE receiver does with received files: parse, then land through
  a :class:`~ingestion.dicom.landing.Lander` under the receiver's app id, a few files per commit;
- ``cdc LAKE HOME BATCHES``: what a CDC sync does: append a change-log batch (app transaction), MERGE it into
  silver with Spark (Sail), record the batch in silver.

Prints one JSON line: role, commits made, commit retries seen, seconds.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pyarrow as pa

from radlake import lake
from radlake.config import Settings

CDC_ROWS = 20  # keys per change-log batch
CDC_APP = "radlake-cdc:sim:orders"


def cdc_batch(version: int) -> pa.Table:
    """Batch ``version`` of a simulated source: keys ``version*10 .. +CDC_ROWS`` (overlapping batches update)."""
    keys = list(range(version * 10, version * 10 + CDC_ROWS))
    return pa.table(
        {
            "order_id": pa.array(keys, pa.int64()),
            "status": pa.array([f"v{version}"] * len(keys)),
            "_batch_id": pa.array([version] * len(keys), pa.int64()),
            "_seq": pa.array(range(len(keys)), pa.int64()),
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
    from radlake.spark import spark_session, stop_embedded

    spark = spark_session(settings)
    log_uri, state_uri = f"{settings.lake}/bronze/sim__orders", f"{settings.lake}/silver/sim__orders"
    commits = 0
    try:
        for version in range(1, batches + 1):
            batch = cdc_batch(version)
            commits += lake.append_idempotent(settings, log_uri, batch, app_id=CDC_APP, txn_version=version)
            rows = spark.createDataFrame(batch.select(["order_id", "status"]))
            lake.merge(spark, rows, state_uri, ["order_id"], settings=settings)
            commits += 1 + lake.mark_applied(settings, state_uri, CDC_APP, version)
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
