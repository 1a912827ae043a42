"""Pieces of the HL7 side on their own: decoding and escapes, the write-ahead's torn tail, the peer parser,
the pull window, the HL7/PACS config sections."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingestion.hl7.message import Hl7Reject, parse_message
from ingestion.hl7.wal import Record, WriteAhead, read_segment, segments
from ingestion.pacs.throttle import in_window
from radlake.config import Settings
from radlake.dicom_peer import parse_peer
from radlake.errors import ConfigError


def test_escapes_repetitions_components_and_utf8_label() -> None:
    raw = (
        "MSH|^~\\&|RIS|H1|RL|RL|20261103||ORU^R01|X1|P|2.5|||||CHN|UNICODE UTF-8\r"
        "PID|1||A\\F\\1~B2^^^CARD||李^四\r"
        "OBX|1|TX|||第一行\\.br\\第二行\\X41\\"
    )
    msg = parse_message(raw.encode("utf-8"))
    assert msg.encoding == "utf-8" and not msg.encoding_inferred
    assert msg.get("PID", 3) == "A|1" and msg.get("PID", 3, repetition=1) == "B2"
    assert msg.get("PID", 3, 4, repetition=1) == "CARD" and msg.get("PID", 5, 2) == "四"
    assert msg.get("OBX", 5) == "第一行\n第二行A"


def test_labelled_utf8_that_is_really_gbk_is_detected_and_unknown_labels_are_refused() -> None:
    raw = "MSH|^~\\&|RIS|H1|RL|RL|20261103||ADT^A08|X2|P|2.5\rPID|1||M1||王五"
    msg = parse_message(raw.encode("gbk"))
    assert (msg.encoding, msg.encoding_inferred, msg.get("PID", 5)) == ("gb18030", True, "王五")
    with pytest.raises(Hl7Reject, match="unknown character set") as err:
        parse_message((raw.replace("2.5", "2.5|||||CHN|KLINGON")).encode("ascii", errors="ignore"))
    assert err.value.code == "AR"
    with pytest.raises(Hl7Reject, match="MSH-10"):
        parse_message(raw.replace("X2", "").encode("gbk"))


def test_a_torn_record_ends_the_segment(tmp_path: Path) -> None:
    wal = WriteAhead(tmp_path, 1)
    for i in range(3):
        wal.store(Record(f"MSH|^~\\&|m{i}".encode(), datetime.now(UTC)))
    wal.close()
    (path,) = segments(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:-5])  # a crash in the middle of the last write
    assert [r.raw[-2:] for r in read_segment(path)] == [b"m0", b"m1"]


def test_peer_parser_and_config_sections() -> None:
    assert parse_peer("dicom://PACS 1@10.0.0.5:104").ae_title == "PACS 1"
    for bad in ("dicom://@h:1", "dicom://A@h", "http://A@h:1", "dicom://A@h:70000", "dicom://ABCDEFGHIJKLMNOPQ@h:1"):
        with pytest.raises(ConfigError):
            parse_peer(bad)
    s = Settings(hl7={"encoding": "GBK"}, pacs={"window": "20:00-06:00", "peers": {"a": {"peer": "dicom://A@h:1"}}})
    assert s.hl7.encoding == "gb18030" and s.pacs.peers["a"].peer == "dicom://A@h:1"
    with pytest.raises(ValueError):
        Settings(pacs={"window": "8pm-6am"})


def test_pull_window_wraps_midnight() -> None:
    at = lambda h: datetime(2026, 12, 1, h, 30)  # noqa: E731
    assert [in_window(at(h), "20:00-06:00") for h in (19, 20, 23, 0, 5, 6)] == [False, True, True, True, True, False]
    assert in_window(at(12), "") and in_window(at(12), "08:00-18:00") and not in_window(at(19), "08:00-18:00")
