"""An analyst's process holding a warehouse file open read-only (a DuckDB shell, a notebook), driven over stdin.

Run as ``python -m tests.gold.warehouse_reader PATH``: it opens PATH read-only as an analyst would (the
published name, not a build's), starts a long streaming query, and answers one JSON line per command:
``answer`` (the marts' institutions and row count now), ``fetch N`` (N more rows of the long query),
``hammer_start`` / ``hammer_stop`` (ask ``answer`` in a loop meanwhile, report every distinct answer seen),
``exit``.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import duckdb

ANSWER_SQL = (
    "select list(distinct institution order by institution), count(*), "
    "(select count(*) from exam_standard_items) from exam_volume_daily"
)
LONG_SQL = "select v.institution, v.exam_count, r.range from exam_volume_daily v, range(20000) r order by r.range"


def main(path: str) -> None:
    con = duckdb.connect(path, read_only=True)
    long_cur = con.cursor()
    long_cur.execute(LONG_SQL)
    fetched = 0
    exam_sum = 0
    seen: set[str] = set()
    queries = 0
    stop = threading.Event()

    def answer(cur: duckdb.DuckDBPyConnection) -> str:
        return json.dumps(cur.execute(ANSWER_SQL).fetchone())

    def hammer() -> None:
        nonlocal queries
        cur = con.cursor()
        while not stop.is_set():
            seen.add(answer(cur))
            queries += 1
            time.sleep(0.1)  # a person re-running a query, not a load test: the build shares 2 cores

    thread: threading.Thread | None = None
    print(json.dumps({"ready": True, "answer": json.loads(answer(con.cursor()))}), flush=True)
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "answer":
            out: dict[str, object] = {"answer": json.loads(answer(con.cursor()))}
        elif cmd == "fetch":
            rows = long_cur.fetchmany(int(args[0]))
            fetched += len(rows)
            exam_sum += sum(r[1] for r in rows)
            out = {"fetched": fetched, "exam_sum": exam_sum}
        elif cmd == "hammer_start":
            thread = threading.Thread(target=hammer, daemon=True)
            thread.start()
            out = {"hammering": True}
        elif cmd == "hammer_stop":
            stop.set()
            if thread is not None:
                thread.join()
            out = {"seen": sorted(json.loads(s) for s in seen), "queries": queries}
        else:
            break
        print(json.dumps(out), flush=True)
    con.close()


if __name__ == "__main__":
    main(sys.argv[1])
