"""The demo run on a Spark Connect URL in a process of its own, its summary written as JSON.

Run as ``python -m tests.cluster.cluster_demo WORKDIR URL SIZE_JSON OUT_JSON`` (tests/cluster/conftest.py): a
process of its own lets the cluster run overlap the shared embedded run (demo_run) on the machine's cores.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(workdir: str, url: str, size: str, out: str) -> None:
    from orchestration.demo import run_demo

    summary = run_demo(Path(workdir), spark=url, **json.loads(size))
    fields = {k: getattr(summary, k) for k in ("tables", "marts", "checks", "success")}
    Path(out).write_text(json.dumps({"config": str(summary.config), **fields}), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:5])
