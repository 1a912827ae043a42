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


def _bronze_row(control: str, text: str, minute: int) -> dict[str, object]:
    return {
        "sending_facility": "H9RIS",
        "control_id": control,
        "message_text": text,
        "message_datetime": text.split("|")[6],
        "received_at": datetime(2026, 11, 3, 8, minute, tzinfo=UTC),
    }


def test_registrations_and_updates_fold_into_patient_records() -> None:
    from ingestion.hl7.orders import fold_messages

    msh = "MSH|^~\\&|RIS|H9RIS|RL|RL|{}||ADT^{}|{}|P|2.5|||||CHN|UNICODE UTF-8"
    a04 = "\r".join(
        [
            msh.format("20261103080000", "A04", "C1"),
            "EVN|A04|20261103080000",
            "PID|1||M7^^^MRN~110101199001011234^^^CHN^NNCHN||王小明||19900101|M|||北京市东城区\\F\\1号||13800000000",
        ]
    )
    # An update at the front desk: a new phone, the rest left empty (an HL7 update need not repeat every field).
    a08 = "\r".join([msh.format("20261103090000", "A08", "C2"), "PID|1||M7^^^MRN||||||||||13900000000"])
    a01 = "\r".join([msh.format("20261103070000", "A01", "C3"), "PID|1||M8^^^MRN||李^四||19800229|F"])
    # Any arrival order gives the same records: the fold goes by MSH-7.
    rows = [_bronze_row("C2", a08, 1), _bronze_row("C1", a04, 2), _bronze_row("C3", a01, 3)]
    _, _, patients = fold_messages(rows, {"H9RIS": "h09"}, "Asia/Shanghai")
    records = {r["record_id"]: r for r in patients.to_pylist()}
    assert set(records) == {"h09:M7", "h09:M8"}
    m7 = records["h09:M7"]
    assert (m7["name"], m7["sex"], str(m7["birth_date"])) == ("王小明", "M", "1990-01-01")
    assert (m7["id_number"], m7["address"], m7["phone"]) == ("110101199001011234", "北京市东城区|1号", "13900000000")
    assert (m7["last_event"], m7["last_control_id"]) == ("ADT^A08", "C2")
    assert records["h09:M8"]["name"] == "李 四" and str(records["h09:M8"]["birth_date"]) == "1980-02-29"


def test_a_registration_with_a_bad_birth_date_is_answered_ae() -> None:
    from ingestion.hl7.orders import message_facts

    raw = "MSH|^~\\&|RIS|H9RIS|RL|RL|20261103||ADT^A04|C9|P|2.5\rPID|1||M7^^^MRN||王小明||19901301|M"
    with pytest.raises(Hl7Reject) as err:
        message_facts(parse_message(raw.encode("utf-8")), "Asia/Shanghai")
    assert err.value.code == "AE" and "PID-7" in err.value.reason


def test_a_report_carries_its_text_and_its_reader() -> None:
    from ingestion.hl7.orders import message_facts

    raw = (
        "MSH|^~\\&|RIS|H9RIS|RL|RL|20261103||ORU^R01|C9|P|2.5|||||CHN|UNICODE UTF-8\r"
        "PID|1||M7^^^MRN\r"
        + "|".join(["OBR", "1", "O1", "", "X^CT", *[""] * 13, "A1", "", "", "", "20261103100000", "", "CT", "F"])
        + "|" * 7
        + "^张医生\r"
        "OBX|1|TX|IMP||第一行\\.br\\第二行||||||F\r"
        "OBX|2|TX|IMP||第三行||||||F"
    )
    (fact,) = message_facts(parse_message(raw.encode("utf-8")), "Asia/Shanghai")  # type: ignore[misc]
    assert fact.values["report_radiologist"] == "张医生"
    assert fact.values["report_impression"] == "第一行\n第二行\n第三行"
