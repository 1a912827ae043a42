"""Benchmark concurrent commits to one Delta table on S3 (moto): commits/s and lost races, 1 vs 4 writers.

Usage: ``.venv/bin/python bench/lake_commits.py [--commits 100] [--writers 4]``.

The same number of small idempotent appends (``radlake.lake.append_idempotent``, one app id per writer) is
made once by one process (the baseline) and once by ``--writers`` processes at the same time, into one table
on a local moto S3 server. Each commit creates the next log entry with a conditional put; a put refused with
412 is a lost race that delta-rs retries (or, when the commit then conflicts, radlake.lake). The bench checks
the outcome before printing: every batch's row exactly once, log versions 0..N without a gap.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from radlake import lake  # noqa: E402
from radlake.config import Settings  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _writer(args: tuple[str, str, int, int]) -> tuple[int, int]:
    uri, warehouse, writer, commits = args
    settings = Settings(lake=uri.rsplit("/", 2)[0], warehouse=warehouse)
    for n in range(1, commits + 1):
        batch = pa.table({"writer": [writer] * 10, "batch": [n] * 10, "row": list(range(10))})
        assert lake.append_idempotent(settings, uri, batch, app_id=f"bench:{writer}", txn_version=n)
    return writer, lake.commit_retries()


def _run(bucket: str, writers: int, commits: int, log: Path) -> dict[str, float]:
    uri = f"s3://{bucket}/lake/bronze/commits"
    with tempfile.TemporaryDirectory() as tmp:
        warehouse = str(Path(tmp) / "radlake.duckdb")
        settings = Settings(lake=f"s3://{bucket}/lake", warehouse=warehouse)
        lake.append_idempotent(
            settings, uri, pa.table({"writer": [-1], "batch": [0], "row": [0]}), app_id="init", txn_version=1
        )
        refused_before = log.read_text(errors="replace").count('" 412 ')
        per = commits // writers
        started = time.perf_counter()
        with get_context("spawn").Pool(writers) as pool:
            results = pool.map(_writer, [(uri, warehouse, w, per) for w in range(writers)])
        seconds = time.perf_counter() - started
        refused = log.read_text(errors="replace").count('" 412 ') - refused_before
        data = lake.read_arrow(settings, uri)
        assert data is not None
        seen = sorted(zip(data.column("writer").to_pylist(), data.column("batch").to_pylist(), strict=True))
        want = sorted([(-1, 0)] + [(w, n) for w in range(writers) for n in range(1, per + 1) for _ in range(10)])
        assert seen == want, "rows lost or doubled: refusing to print figures of a wrong run"
        dt = lake.open_table(settings, uri)
        assert dt is not None and dt.version() == writers * per, "log versions do not add up"
        return {
            "commits": writers * per,
            "seconds": seconds,
            "per_s": writers * per / seconds,
            "refused": refused,
            "retries": sum(r for _, r in results),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=100)
    parser.add_argument("--writers", type=int, default=4)
    opts = parser.parse_args()
    import boto3

    port = _free_port()
    log = Path(tempfile.mkdtemp()) / "moto.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
               "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}  # fmt: skip
        os.environ.update(env)
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("moto did not start")
            time.sleep(0.2)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket="bench-one")
        s3.create_bucket(Bucket="bench-many")
        one = _run("bench-one", 1, opts.commits, log)
        many = _run("bench-many", opts.writers, opts.commits, log)
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"commits to one table on moto S3, {opts.commits} small appends each run:")
    for name, r in (("1 writer", one), (f"{opts.writers} writers", many)):
        print(
            f"  {name:>10}: {r['per_s']:6.1f} commits/s ({r['seconds']:.1f} s), {r['refused']} log puts refused "
            f"(lost races), {r['retries']} commits retried by radlake.lake"
        )
    print(f"  ratio {opts.writers} writers / 1 writer: {many['per_s'] / one['per_s']:.2f}x commits/s")


if __name__ == "__main__":
    main()
