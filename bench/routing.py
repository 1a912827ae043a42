"""Benchmark: routing beside DCMTK ``storescu`` sending the same files directly, in the same run; and latency.

1. Throughput. N small instances (64x64, 16-bit, explicit VR LE) are landed in a fresh lake, a slice per
   round. In each round DCMTK ``storescu`` sends the slice straight to a local ``storescp`` (one association),
   and the router sends the same landed instances through its queue (follow bronze, read, checksum,
   C-STORE over one association per batch of at most ``--batch``, journal, queue commits) to another local ``storescp``;
   the two take turns first, so load changes on a shared machine fall on both. The router runs throughout;
   its follow loop is paused while a slice lands, so its time starts once the slice is in bronze. Its transport is
   ``--sender`` (``auto``: DCMTK storescu for plain DICOM). Prints instances per second (wall) and per
   CPU-second of each and the ratio (target: router ≥ 0.9× storescu).
2. Latency. For ``--latency-seconds`` a DCMTK ``storescu`` sends ``--rate`` instances per second to radlake's
   C-STORE receiver, which lands them (micro-batches of 1 s); the router follows bronze and forwards every
   instance to a ``storescp``. Latency is the time from landing (``ingested_at`` in bronze) to the file's
   arrival at the peer (its mtime); prints p50/p95/max (target: p95 ≤ 5 s at 50 instances/s).

Run: ``.venv/bin/python bench/routing.py [--instances 20000] [--latency-seconds 60] [--rate 50]``
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "routing"))

CT = "1.2.840.10008.5.1.4.1.1.2"


def _write(folder: Path, n: int, seed: int) -> list[Path]:
    from routing_harness import write_instances

    out: list[Path] = []
    for start in range(0, n, 500):  # one study per 500 instances
        out += write_instances(folder / f"s{start:06d}", min(500, n - start), CT, seed=seed + start)
    return out


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _uptime() -> str:
    """The load now (other engineers share the machine): printed beside every figure."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _wait_files(folder: Path, n: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(1 for _ in folder.iterdir()) >= n:
            return True
        time.sleep(0.05)
    return False


def _direct(src: Path, port: int) -> None:
    from routing_harness import DCMTK_ENV

    subprocess.run(
        ["storescu", "-aec", "DIRECT", "+sd", "+r", "127.0.0.1", str(port), str(src)],
        check=True,
        env=DCMTK_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _routed(router: object, folder: Path, n: int, total: int) -> None:
    """Follow bronze until the worker answered ``n`` more instances; then check the peer holds ``total`` files."""
    worker = next(iter(router.workers.values()))  # type: ignore[attr-defined]
    goal = worker.counts["sent"] + worker.counts["dead"] + n
    stop = threading.Event()
    follow = threading.Thread(target=router.follow, args=(stop,), daemon=True)  # type: ignore[attr-defined]
    follow.start()
    deadline = time.monotonic() + 1800
    # The worker's counters, not the peer's folder: listing 20,000 files every few ms would cost this process
    # more CPU than the routing it measures.
    while worker.counts["sent"] + worker.counts["dead"] < goal and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    follow.join()
    assert worker.counts["dead"] == 0 and _wait_files(folder, total, 60)


def throughput(work: Path, n: int, rounds: int, sender: str, batch: int | None, warm: int) -> None:
    """Both senders take turns over ``rounds`` slices of the instances (the order alternating), so that a
    change of load on a shared machine falls on both alike. ``warm`` instances are sent by both first and
    counted in neither figure."""
    from routing_harness import StoreSCP, free_port

    from ingestion.dicom.api import ingest_dicom
    from radlake.config import Settings

    t = time.perf_counter()
    per = n // rounds
    for r in range(rounds):
        _write(work / f"src{r}", per, seed=7 + r * per)
    _write(work / "warm", warm, seed=7 + n)
    print(f"wrote {per * rounds} instances (and {warm} to warm up) in {time.perf_counter() - t:.1f} s")
    peer_a = StoreSCP(work / "peer-storescu", "DIRECT", free_port()).start()
    peer_b = StoreSCP(work / "peer-router", "ROUTED", free_port()).start()
    wall = {"direct": 0.0, "router": 0.0}
    cpu = {"direct": 0.0, "router": 0.0}
    own = {"direct": 0.0, "router": 0.0}  # this process alone (the router's Python, Arrow and Delta threads)
    try:
        settings = Settings(
            lake=str(work / "lake"),
            routing={
                "destinations": {"bench": {"dicom": peer_b.url}},
                "rules": {"all": {"match": {"modality": ["CT"]}, "to": ["bench"]}},
                **({"batch_instances": batch} if batch else {}),
                "poll_seconds": 0.2,
                "sender": sender,
            },
        )
        from ingestion.routing import Router

        print(f"batch_instances: {settings.routing.batch_instances}")
        t = time.perf_counter()
        router = Router(settings)
        router.start()
        print(f"router started in {time.perf_counter() - t:.2f} s (in neither figure)")
        if warm:  # both senders once, so that neither pays a cold peer, page cache or first association
            ingest_dicom(settings, [work / "warm"])
            _direct(work / "warm", peer_a.port)
            _routed(router, peer_b.folder, warm, warm)
            assert _wait_files(peer_a.folder, warm, 60)
            print(f"warm-up: {warm} instances sent by both (in neither figure)")
        ratios = []
        for r in range(rounds):
            t = time.perf_counter()
            ingest_dicom(settings, [work / f"src{r}"])
            print(f"round {r + 1}: landed {per} instances in {time.perf_counter() - t:.1f} s (in neither figure)")
            done = (r + 1) * per + warm
            order = ["direct", "router"] if r % 2 == 0 else ["router", "direct"]
            took_round = {}
            for who in order:
                self0, cpu0, t = _self_cpu(), _self_cpu() + _children_cpu(), time.perf_counter()
                if who == "direct":
                    _direct(work / f"src{r}", peer_a.port)
                    assert _wait_files(peer_a.folder, done, 60)
                else:
                    _routed(router, peer_b.folder, per, done)
                took = took_round[who] = time.perf_counter() - t
                wall[who] += took
                cpu[who] += _self_cpu() + _children_cpu() - cpu0
                own[who] += _self_cpu() - self0
                print(f"round {r + 1}: {who} {took:.2f} s ({per / took:.0f}/s), load {os.getloadavg()[0]:.1f}")
            ratios.append(took_round["direct"] / took_round["router"])
            print(f"round {r + 1}: ratio router/storescu {ratios[-1]:.2f}x")
        router.close()
    finally:
        peer_a.stop()
        peer_b.stop()
    m = per * rounds
    print()
    print(f"uptime: {_uptime()}")
    print(f"| sender (N = {m}, {rounds} alternating rounds) | wall s | instances/s | CPU s | instances per CPU-s |")
    print("|---|---:|---:|---:|---:|")
    for who, label in (("direct", "DCMTK storescu, direct"), ("router", f"radlake router (queue, {sender})")):
        print(f"| {label} | {wall[who]:.1f} | {m / wall[who]:.0f} | {cpu[who]:.1f} | {m / cpu[who]:.0f} |")
    print(f"ratio router/storescu (instances/s): {wall['direct'] / wall['router']:.2f}x overall")
    print(
        f"per-round ratios: {', '.join(f'{x:.2f}' for x in ratios)}; median {statistics.median(ratios):.2f}x "
        f"(the warm-up slice is in neither figure)"
    )
    print("(CPU s: this process and its children, storescu included; storescp peers excluded)")
    print(
        f"router CPU per instance: {cpu['router'] / m * 1000:.3f} ms, of it storescu "
        f"{(cpu['router'] - own['router']) / m * 1000:.3f} ms and this process {own['router'] / m * 1000:.3f} ms; "
        f"direct storescu {(cpu['direct'] - own['direct']) / m * 1000:.3f} ms"
    )


def latency(work: Path, seconds: float, rate: int) -> None:
    import pyarrow.compute as pc
    from routing_harness import DCMTK_ENV, StoreSCP, free_port, sop_uid_of

    from ingestion.dicom.api import listen
    from ingestion.routing import Router
    from radlake import catalog, lake
    from radlake.config import Settings

    n = int(seconds * rate)
    src = work / "feed"
    files = _write(src, n, seed=11)
    random.Random(1).shuffle(files)
    peer = StoreSCP(work / "peer-latency", "AINODE", free_port()).start()
    settings = Settings(
        lake=str(work / "lake-latency"),
        routing={
            "destinations": {"ai": {"dicom": peer.url}},
            "rules": {"all": {"match": {"modality": ["CT"]}, "to": ["ai"]}},
            "poll_seconds": 0.25,
        },
    )
    stop_rx = threading.Event()
    bound: list[int] = []
    rx = threading.Thread(
        target=listen,
        args=(settings, "127.0.0.1", 0, "RADLAKE", work / "received"),
        kwargs={"stop_event": stop_rx, "flush_seconds": 1.0, "ready": bound.append},
        daemon=True,
    )
    rx.start()
    while not bound:
        time.sleep(0.05)
    router = Router(settings)
    router.start()
    stop = threading.Event()
    follow = threading.Thread(target=router.follow, args=(stop,), daemon=True)
    follow.start()
    t0 = time.monotonic()
    try:
        for second in range(int(seconds)):
            batch = files[second * rate : (second + 1) * rate]
            subprocess.Popen(
                ["storescu", "-aec", "RADLAKE", "127.0.0.1", str(bound[0]), *map(str, batch)],
                env=DCMTK_ENV,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(max(0.0, t0 + second + 1 - time.monotonic()))
        ok = _wait_files(peer.folder, n, 120)
    finally:
        stop.set()
        follow.join()
        router.close()
        stop_rx.set()
        rx.join(60)
        peer.stop()
    arrived = {sop_uid_of(p): p.stat().st_mtime for p in peer.folder.iterdir()}
    bronze = lake.read_arrow(
        settings, catalog.uri(settings, "bronze", "dicom_instances"), ["sop_instance_uid", "ingested_at"]
    )
    assert bronze is not None
    landed = dict(
        zip(
            bronze["sop_instance_uid"].to_pylist(),
            pc.divide(pc.cast(bronze["ingested_at"], "int64"), 1_000_000.0).to_pylist(),
            strict=True,
        )
    )
    lat = sorted(arrived[s] - landed[s] for s in arrived if s in landed)
    q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]  # noqa: E731
    print()
    print(f"uptime: {_uptime()}")
    print("| steady feed | instances | arrived | p50 s | p95 s | max s |")
    print("|---|---:|---:|---:|---:|---:|")
    print(
        f"| {rate}/s for {seconds:.0f} s | {n} | {len(arrived)}{'' if ok else ' (timed out)'} | "
        f"{q(0.5):.2f} | {q(0.95):.2f} | {lat[-1]:.2f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=20000)
    ap.add_argument("--latency-seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=int, default=50)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/radlake-routing-bench"))
    ap.add_argument("--rounds", type=int, default=4, help="alternating slices of the throughput run")
    ap.add_argument("--warm", type=int, default=1000, help="instances both send first, in neither figure")
    ap.add_argument("--batch", type=int, default=None, help="routing.batch_instances (default: the config default)")
    ap.add_argument("--sender", default="auto", choices=["auto", "storescu", "pynetdicom"])
    ap.add_argument("--skip-throughput", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("RADLAKE_PSEUDONYM_KEY", "00" * 32)
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    import logging

    logging.basicConfig(level=logging.WARNING)
    print(f"load: {os.getloadavg()[0]:.1f} (1-min average) on {os.cpu_count()} cores")
    print(f"uptime: {_uptime()}")
    if not args.skip_throughput:
        throughput(args.workdir / "throughput", args.instances, args.rounds, args.sender, args.batch, args.warm)
    if args.latency_seconds > 0:
        latency(args.workdir / "latency", args.latency_seconds, args.rate)
    shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
