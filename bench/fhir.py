"""Benchmark FHIR over a large registry: p50/p95 per request type, sequential and with concurrent clients.

Usage: ``.venv/bin/python bench/fhir.py [--records 1000000] [--clients 16] [--requests 400]``.

The registry is the EMPI bench's (:func:`simulator.people.generate_registry`, ~1.5 records a person); its
persons are taken as linked by the generator's truth (the bench measures serving, not matching), and each
record gets 1-3 synthetic exams with a DICOM study and one series. These silver tables are written to a
temporary lake, ``radlake serve``'s app is started on a loopback port, and four request types are timed:
Patient search by identifier (an MRN with its system), Patient search by name (a full name), ImagingStudy
search chained on ``patient.identifier``, and ``Patient/{id}/$everything``. Printed: the index build time,
p50/p95 per type for one client and for ``--clients`` clients at once, the CPU milliseconds per request of the
server (all its processes) and of the load generator (closed-loop threads on ``http.client`` keep-alive
connections), the load average beside each row, and the ratio of the concurrent p95 to the sequential one
(measured in the same run). ``--workers N`` runs ``radlake serve`` as its own process with ``serve.workers: N``
(the index shared as one read-only DuckDB file) instead of the app in the bench's process (then the server's
CPU column includes the clients'). ``--keep DIR`` writes the lake once into DIR and reuses it, with the index
file a previous run built from it, on later runs.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "services"))

from radlake import catalog  # noqa: E402
from radlake.config import Settings  # noqa: E402
from radlake.lake import Lake  # noqa: E402


def _write(settings: Settings, name: str, columns: dict[str, object]) -> None:
    target = Lake(settings).table("silver", name)
    table = pa.table(columns)
    for f in target.schema:  # the columns the bench does not need stay null
        if f.name not in table.column_names:
            table = table.append_column(f.name, pa.nulls(len(table), f.type))
    target.replace(table)


def build_lake(settings: Settings, records: int, seed: int) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """Write the silver tables; returns sample (institution, mrn) pairs, names and empi ids to query."""
    from simulator.people import generate_registry

    reg = generate_registry(round(records / 1.5), [f"h{i:02d}" for i in range(1, 7)], seed=seed)
    reg = reg.iloc[:records]
    persons = sorted(reg["person_id"].unique())
    empi = {p: f"E{i + 1:010d}" for i, p in enumerate(persons)}
    reg = reg.assign(empi_id=reg["person_id"].map(empi))
    first = reg.drop_duplicates("empi_id")
    now = datetime.now(UTC)
    _write(settings, "patient_golden", {
        "empi_id": first["empi_id"], "name": first["name"], "sex": first["sex"],
        "birth_date": pa.array(first["birth_date"].astype("datetime64[ns]").dt.date, pa.date32()),
        "id_number": first["id_number"], "phones": [[p] if isinstance(p, str) else [] for p in first["phone"]],
        "source_records": [[r] for r in first["record_id"]], "updated_at": pa.array([now] * len(first), catalog.schemas.UTC_TS),  # noqa: E501
    })  # fmt: skip
    _write(settings, "patient_master", {
        "record_id": reg["record_id"], "source_system": reg["source_system"], "mrn": reg["mrn"].astype(str),
        "empi_id": reg["empi_id"],
    })  # fmt: skip
    rng = np.random.default_rng(seed)
    per_record = rng.integers(1, 4, len(reg))
    idx = np.repeat(np.arange(len(reg)), per_record)
    n = len(idx)
    inst = reg["source_system"].to_numpy()[idx]
    accession = np.char.add(inst.astype(str), np.char.zfill(np.arange(n).astype(str), 10))
    uid = np.char.add("1.2.826.0.1.3680043.8.498.", np.arange(1, n + 1).astype(str))
    started = [now - timedelta(minutes=int(m)) for m in rng.integers(0, 3 * 365 * 24 * 60, n)]
    modality = rng.choice(["CT", "MR", "DX", "US"], n)
    _write(settings, "exams", {
        "institution": inst, "accession_number": accession, "order_id": np.arange(n).astype(str),
        "mrn": reg["mrn"].astype(str).to_numpy()[idx], "empi_id": reg["empi_id"].to_numpy()[idx],
        "modality": modality, "status": ["completed"] * n, "raw_exam_name": ["CT胸部平扫"] * n,
        "exam_started_at": pa.array(started, catalog.schemas.UTC_TS), "report_status": ["signed"] * n,
        "report_signed_at": pa.array([s + timedelta(hours=3) for s in started], catalog.schemas.UTC_TS),
        "study_instance_uid": uid, "has_images": [True] * n, "exam_codes": [["20030100100000"]] * n,
    })  # fmt: skip
    _write(settings, "dicom_studies", {
        "study_instance_uid": uid, "accession_number": accession, "patient_id": reg["mrn"].astype(str).to_numpy()[idx],
        "modalities": [[m] for m in modality], "series_count": [1] * n, "instance_count": [40] * n,
        "frame_count": [40] * n,
    })  # fmt: skip
    _write(settings, "dicom_series", {
        "series_instance_uid": np.char.add(uid, ".1"), "study_instance_uid": uid, "modality": modality,
        "series_number": [1] * n, "instance_count": [40] * n, "frame_count": [40] * n,
    })  # fmt: skip
    sample = reg.sample(2000, random_state=seed)
    return (
        list(zip(sample["source_system"], sample["mrn"].astype(str), strict=True)),
        [x for x in sample["name"] if isinstance(x, str)],
        list(sample["empi_id"]),
    )


def _requests(kind: str, k: int, mrns: list, names: list, ids: list, base: str) -> str:
    institution, mrn = mrns[k % len(mrns)]
    sid = f"{base}/sid/mrn/{institution}|{mrn}"
    return {
        "patient_identifier": f"Patient?identifier={sid}",
        "patient_name": f"Patient?name={names[k % len(names)]}",
        "study_chained": f"ImagingStudy?patient.identifier={sid}",
        "everything": f"Patient/{ids[k % len(ids)]}/$everything",
    }[kind]


def _run(url: str, token: str, paths: list[str], clients: int) -> list[float]:
    """Closed-loop clients, each on one keep-alive connection of the standard library's ``http.client`` (a few
    hundred microseconds of CPU a request: the load generator stays light beside the server on 2 cores)."""
    times: list[float] = []
    lock = threading.Lock()
    chunks = [paths[i::clients] for i in range(clients)]
    target = urlsplit(url)
    headers = {"Authorization": f"Bearer {token}"}

    def worker(chunk: list[str]) -> None:
        conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=60)
        try:
            for p in chunk:
                t = time.perf_counter()
                conn.request("GET", target.path + quote(p, safe="/?&=$"), headers=headers)
                r = conn.getresponse()
                body = r.read()
                dt = (time.perf_counter() - t) * 1000
                assert r.status == 200, (p, r.status, body[:200])
                with lock:
                    times.append(dt)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times


@contextmanager
def _server(settings: Settings, tmp: Path, workers: int) -> Iterator[tuple[str, float, Callable[[], float]]]:
    """The service: in this process (``workers`` 0), else ``radlake serve`` with that many worker processes.

    Yields its base URL, the index build seconds, and a function giving the server's CPU seconds so far.
    """
    if workers == 0:
        from service_harness import running

        from services import create_app

        app = create_app(settings)
        with running(app) as base:
            yield base, app.state.lake_index.last_build_seconds, time.process_time
        return
    from service_harness import free_port, tree_usage, wait_healthy

    port = free_port()
    config = tmp / "radlake.yaml"
    config.write_text(
        f"lake: {settings.lake}\nspaces:\n  group:\n    identified: true\nserve:\n  port: {port}\n"
        + (f"  workers: {workers}\n" if workers > 1 else "")
        + f"  tokens_file: {tmp / 'tokens.json'}\n  rate_per_minute: 10000000\n"
        "  audit_flush_seconds: 5\n",
        encoding="utf-8",
    )
    log = (tmp / "serve.log").open("wb")
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "radlake"), "serve", "--config", str(config)],
                              stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        t = time.perf_counter()
        wait_healthy(base, server, 600)
        build = time.perf_counter() - t

        def cpu() -> float:
            return tree_usage(server.pid)[0]

        pss = tree_usage(server.pid)[1]
        print(f"server memory (PSS, all its processes): {pss / 2**20:.0f} MiB")
        yield base, build, cpu
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=400, help="requests per type and run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="a folder to write the lake into once and reuse on later runs (default: a temporary one)",
    )
    parser.add_argument("--workers", type=int, default=0,
                        help="0: the app in this process; N: `radlake serve` with serve.workers N")  # fmt: skip
    args = parser.parse_args(argv)
    from services import issue_token

    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="fhir-bench-") as tmp:
        lake = args.keep / f"lake-{args.records}-{args.seed}" if args.keep else Path(tmp) / "lake"
        settings = Settings(
            lake=str(lake), spaces={"group": {"identified": True}},
            serve={"rate_per_minute": 10_000_000, "tokens_file": f"{tmp}/tokens.json", "audit_flush_seconds": 5},
        )  # fmt: skip
        t = time.perf_counter()
        samples = lake / "bench_samples.json"
        if samples.exists():
            mrns, names, ids = json.loads(samples.read_text(encoding="utf-8"))
            print(f"lake of {args.records:,} records reused from {lake}")
        else:
            mrns, names, ids = build_lake(settings, args.records, args.seed)
            samples.write_text(json.dumps([mrns, names, ids]), encoding="utf-8")
            print(f"lake of {args.records:,} records written in {time.perf_counter() - t:.1f} s")
        token = issue_token(settings, "group")
        t = time.perf_counter()
        with _server(settings, Path(tmp), args.workers) as (base, build_seconds, cpu):
            print(f"service up (index built) in {time.perf_counter() - t:.1f} s; index build {build_seconds:.1f} s")
            url = f"{base}/spaces/group/fhir/"
            fhir_base = settings.serve.fhir_base_uri
            cpu0 = cpu()
            print(f"{'request':<20} {'clients':>7} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>7} {'server CPU ms/req':>18} "
                  f"{'client CPU ms/req':>18}")  # fmt: skip
            for kind in ("patient_identifier", "patient_name", "study_chained", "everything"):
                seq_p95 = 0.0
                for clients in (1, args.clients):
                    offset = random.Random(clients).randrange(1000)
                    paths = [_requests(kind, offset + k, mrns, names, ids, fhir_base) for k in range(args.requests)]
                    _run(url, token, paths[:20], clients)  # warm-up
                    t, server0, client0 = time.perf_counter(), cpu(), time.process_time()
                    times = _run(url, token, paths, clients)
                    wall = time.perf_counter() - t
                    server_ms = (cpu() - server0) / len(times) * 1000
                    client_ms = (time.process_time() - client0) / len(times) * 1000
                    q = statistics.quantiles(times, n=100)
                    seq_p95 = q[94] if clients == 1 else seq_p95
                    ratio = f"  ({q[94] / seq_p95:.1f}x the sequential p95)" if clients > 1 else ""
                    print(f"{kind:<20} {clients:>7} {q[49]:>8.1f} {q[94]:>8.1f} {len(times) / wall:>7.0f} "
                          f"{server_ms:>18.1f} {client_ms:>18.1f}{ratio}  (load {os.getloadavg()[0]:.1f})")  # fmt: skip
            print(f"server CPU seconds while timing: {cpu() - cpu0:.1f}; load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
