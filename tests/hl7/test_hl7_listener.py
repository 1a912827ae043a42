"""``radlake hl7 listen`` driven by python-hl7's MLLP client (written by others) with a simulated RIS feed:
GBK labelled and unlabelled, escapes, a resend, AE/AR, a cut frame, a 10 MB message, a bounded flood and
kill -9 between store and ACK. Outcomes are read back from the lake, not from the listener's counters."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from hl7.client import MLLPClient

from ingestion.hl7.orders import apply_messages
from radlake import catalog, lake
from radlake.config import load_settings
from simulator.hl7_feed import FeedOrder, merge_message, order_message, report_message

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FAC = "H03RIS"
T0 = datetime(2026, 11, 3, 9, 30)


def _config(tmp_path: Path, **hl7: object) -> Path:
    cfg = tmp_path / "radlake.yaml"
    body = {"lake": "lake", "hl7": {"allowed_facilities": {FAC: "h03"}, "land_every_seconds": 0.5, **hl7}}
    cfg.write_text(yaml.safe_dump(body), encoding="utf-8")
    return cfg


class Listener:
    """``radlake hl7 listen`` as its own process on a free port."""

    def __init__(self, cfg: Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from cli.main import main; main()",
                "hl7",
                "listen",
                "--config",
                str(cfg),
                "--port",
                "0",
            ],
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        assert self.proc.stderr is not None
        line = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            match = re.search(r"on 127\.0\.0\.1:(\d+)", line)
            if match:
                self.port = int(match.group(1))
                break
        else:
            self.proc.kill()
            raise AssertionError(f"the listener did not start: {line}")
        self.tail: list[str] = []
        threading.Thread(target=lambda: self.tail.extend(self.proc.stderr), daemon=True).start()  # type: ignore[arg-type]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(60) == 0, "".join(self.tail)


def _code(ack: bytes) -> str:
    text = ack.decode("gb18030", errors="replace")
    msa = next(seg for seg in text.strip("\x0b\x1c\r").split("\r") if seg.startswith("MSA"))
    return msa.split("|")[1]


def _send(port: int, message: str, encoding: str = "gb18030") -> str:
    with MLLPClient("127.0.0.1", port) as client:
        return _code(client.send_message(message.encode(encoding)))


def _order(n: int, **kw: object) -> FeedOrder:
    base = dict(
        accession_number=f"H03A{n:05d}",
        order_id=f"O{n}",
        mrn=f"M{n:04d}",
        patient_name="张三^丰",
        raw_exam_name="CT头颅|平扫",  # a delimiter inside a value: sent escaped (\F\)
        modality="CT",
        priority="R",
        department="急诊科",
        ordered_at=T0,
        started_at=T0.replace(hour=10),
        ended_at=T0.replace(hour=10, minute=12),
    )
    base.update(kw)
    return FeedOrder(**base)  # type: ignore[arg-type]


def _bronze(settings) -> list[dict]:
    data = lake.read_arrow(settings, catalog.uri(settings, "bronze", "hl7_messages"))
    return [] if data is None else data.to_pylist()


def test_feed_lands_once_decoded_and_malformed_messages_are_refused(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    settings = load_settings(cfg)
    listener = Listener(cfg)
    try:
        port = listener.port
        o1, o2 = _order(1), _order(2, priority="S", raw_exam_name="MR颅脑")
        codes = {
            "order GBK labelled": _send(port, order_message(FAC, o1, "C1")),
            "order GBK unlabelled": _send(port, order_message(FAC, o2, "C2", charset=None)),
            "resend": _send(port, order_message(FAC, o1, "C1")),
            "report prelim": _send(port, report_message(FAC, o1, "C3", T0.replace(hour=11), final=False)),
            "report final": _send(port, report_message(FAC, o1, "C4", T0.replace(hour=12), final=True)),
            "merge": _send(port, merge_message(FAC, "M0001", "M0009", "C5", T0), "utf-8"),
            "no PID-3": _send(port, order_message(FAC, _order(3, mrn=""), "C6")),
            "unknown type": _send(port, order_message(FAC, _order(4), "C7").replace("ORM^O01", "SIU^S12")),
            "other facility": _send(port, order_message("EVIL", _order(5), "C8")),
            "same id, other bytes": _send(port, order_message(FAC, _order(6), "C1")),
        }
        # A frame cut mid-way, then the connection closes: nothing stored, nothing answered.
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"\x0b" + order_message(FAC, _order(7), "C9").encode("gb18030")[:60])
        # A frame cut mid-way and a new one started on the same connection: only the whole one is taken.
        with MLLPClient("127.0.0.1", port) as client:
            whole = order_message(FAC, _order(8), "C10").encode("gb18030")
            codes["after a cut frame"] = _code(client.send(b"\x0b" + whole[:50] + b"\x0b" + whole + b"\x1c\r"))
        # A 10 MB report (an OBX of text) is one message like any other.
        big = report_message(FAC, _order(8), "C11", T0.replace(hour=13), final=True)
        big = big.replace("未见明确异常", "未见明确异常" * (10_000_000 // 12))
        assert len(big.encode("gb18030")) > 10_000_000
        codes["10 MB"] = _send(port, big)
    finally:
        listener.stop()
    assert codes == {
        "order GBK labelled": "AA",
        "order GBK unlabelled": "AA",
        "resend": "AA",
        "report prelim": "AA",
        "report final": "AA",
        "merge": "AA",
        "no PID-3": "AE",
        "unknown type": "AR",
        "other facility": "AR",
        "same id, other bytes": "AE",
        "after a cut frame": "AA",
        "10 MB": "AA",
    }
    rows = {r["control_id"]: r for r in _bronze(settings)}
    assert sorted(rows) == sorted(["C1", "C2", "C3", "C4", "C5", "C10", "C11"])  # the resend is no new row
    assert rows["C2"]["encoding"] == "gb18030" and rows["C2"]["encoding_inferred"]
    assert rows["C1"]["encoding"] == "gb18030" and not rows["C1"]["encoding_inferred"]
    assert "张三" in rows["C2"]["message_text"] and rows["C11"]["message_bytes"] > 10_000_000

    orders, links, patients = apply_messages(settings)
    assert (orders, links) == (3, 1)
    silver = {
        r["accession_number"]: r
        for r in lake.read_arrow(settings, catalog.uri(settings, "silver", "hl7_orders")).to_pylist()
    }
    a1, a2 = silver["H03A00001"], silver["H03A00002"]
    assert a1["institution"] == "h03" and a1["raw_exam_name"] == "CT头颅|平扫" and a1["mrn"] == "M0001"
    assert a1["ordering_department"] == "急诊科" and a1["status"] == "completed" and a1["report_status"] == "signed"
    # 11:30 and 12:30 Shanghai time are 03:30 and 04:30 UTC; the order's 09:30 is 01:30 UTC.
    assert a1["report_written_at"] == datetime(2026, 11, 3, 3, 30, tzinfo=UTC)
    assert a1["report_signed_at"] == datetime(2026, 11, 3, 4, 30, tzinfo=UTC)
    assert a1["ordered_at"] == datetime(2026, 11, 3, 1, 30, tzinfo=UTC) and a1["messages"] == 3
    assert a2["raw_exam_name"] == "MR颅脑" and a2["priority"] == "emergency" and a2["status"] == "scheduled"
    link = lake.read_arrow(settings, catalog.uri(settings, "silver", "hl7_patient_links")).to_pylist()[0]
    assert (link["record_id_a"], link["record_id_b"], link["surviving_record_id"]) == (
        "h03:M0001",
        "h03:M0009",
        "h03:M0001",
    )
    assert apply_messages(settings) == (orders, links, patients)  # a re-run changes nothing


def test_kill_9_between_store_and_ack_then_resend_lands_once(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    settings = load_settings(cfg)
    message = order_message(FAC, _order(1), "K1").encode("gb18030")
    crashing = Listener(cfg, {"RADLAKE_HL7_CRASH_AT": "after_store"})
    with MLLPClient("127.0.0.1", crashing.port) as client:
        try:
            answer = client.send_message(message)
        except ConnectionError:
            answer = b""
    assert answer == b"", "the listener acknowledged before the kill: the test proves nothing"
    assert crashing.proc.wait(30) == -signal.SIGKILL
    assert _bronze(settings) == []  # stored in the write-ahead only

    listener = Listener(cfg)
    try:
        assert _send(listener.port, message.decode("gb18030")) == "AA"  # the sender's resend
    finally:
        listener.stop()
    assert [r["control_id"] for r in _bronze(settings)] == ["K1"]
    assert apply_messages(settings) == (1, 0, 0)


def test_bounded_flood_every_ack_is_a_stored_message(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    settings = load_settings(cfg)
    listener = Listener(cfg)
    senders, per_sender, deadline = 4, 150, time.monotonic() + 20
    acked: list[str] = []

    def send(s: int) -> None:
        with MLLPClient("127.0.0.1", listener.port) as client:
            for i in range(per_sender):
                if time.monotonic() > deadline:
                    return
                cid = f"F{s}-{i}"
                msg = order_message(FAC, _order(s * 1000 + i), cid).encode("gb18030")
                if _code(client.send_message(msg)) == "AA":
                    acked.append(cid)

    try:
        threads = [threading.Thread(target=send, args=(s,)) for s in range(senders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        listener.stop()
    assert len(acked) > 100
    assert sorted(r["control_id"] for r in _bronze(settings)) == sorted(acked)
