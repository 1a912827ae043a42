"""Bench: HL7 messages acknowledged per second, every one fsynced before its ACK (python-hl7's MLLP client).

Runs the listener in this process on a free loopback port, then sends a simulated GB18030 order feed from
1 sender (the baseline: one fsync per message, nothing to share) and from N senders at once (group commit),
each bounded in messages and seconds. Prints messages/s, the listener process's CPU seconds per 1,000
messages, the ratio, and the load. Usage: ``python bench/hl7_listener.py [--senders 8] [--seconds 10]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from hl7.client import MLLPClient

from ingestion.hl7.listener import Hl7Listener
from radlake import catalog, lake
from radlake.config import Settings
from simulator.hl7_feed import FeedOrder, order_message


def _feed(sender: int, count: int) -> list[bytes]:
    t = datetime(2026, 11, 3, 9, 30)
    out = []
    for i in range(count):
        o = FeedOrder(f"H03B{sender:02d}{i:06d}", f"O{i}", f"M{i:05d}", "张三", "CT头颅平扫", "CT", "R", "急诊科", t)
        out.append(order_message("H03RIS", o, f"B{sender}-{i}").encode("gb18030"))
    return out


def run(settings: Settings, senders: int, seconds: float, per_sender: int) -> tuple[int, float, float]:
    """(messages acknowledged AA, wall seconds, listener CPU seconds) of one bounded flood."""
    listener = Hl7Listener(settings)
    stop, bound = threading.Event(), threading.Event()
    port: list[int] = []
    server = threading.Thread(
        target=listener.serve,
        args=("127.0.0.1", 0),
        kwargs={"stop_event": stop, "ready": lambda p: (port.append(p), bound.set())},
    )
    server.start()
    bound.wait(30)
    feeds = [_feed(s, per_sender) for s in range(senders)]
    acked = [0] * senders
    deadline = time.monotonic() + seconds

    def send(s: int) -> None:
        with MLLPClient("127.0.0.1", port[0]) as client:
            for raw in feeds[s]:
                if time.monotonic() > deadline:
                    return
                if b"MSA|AA" in client.send_message(raw):
                    acked[s] += 1

    cpu0, t0 = time.process_time(), time.perf_counter()
    threads = [threading.Thread(target=send, args=(s,)) for s in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    stop.set()
    server.join(120)
    landed = lake.read_arrow(settings, catalog.uri(settings, "bronze", "hl7_messages"), ["control_id"])
    assert landed is not None and landed.num_rows == sum(acked), "an acknowledged message did not land"
    return sum(acked), wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--per-sender", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for name, senders in (("baseline, 1 sender", 1), (f"{args.senders} senders", args.senders)):
            lake_dir = Path(tmp) / name.replace(" ", "_").replace(",", "")
            settings = Settings(
                lake=str(lake_dir), hl7={"allowed_facilities": {"H03RIS": "h03"}, "wal_dir": str(lake_dir / "wal")}
            )
            n, wall, cpu = run(settings, senders, args.seconds, args.per_sender)
            # The client threads share this process: CPU seconds cover sender and listener.
            results[name] = n / wall
            print(
                f"{name:>20}: {n} messages AA in {wall:.1f} s = {n / wall:.0f}/s; "
                f"{1000 * cpu / max(n, 1):.2f} CPU s per 1,000 (sender + listener)"
            )
        base, best = results["baseline, 1 sender"], results[f"{args.senders} senders"]
        print(f"ratio {args.senders} senders / 1 sender: {best / base:.2f}x; load: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
