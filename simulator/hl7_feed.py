"""An HL7-speaking RIS: ORM^O01 orders, ORU^R01 reports and ADT^A40 merges for one hospital's exams.

The messages are what a Chinese RIS sends: GB18030 (labelled in MSH-18, or unlabelled for a RIS that never
fills it), escape sequences where a value holds a delimiter, several patient identifiers as repetitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class FeedOrder:
    """One order as the RIS knows it (times in local wall-clock time)."""

    accession_number: str
    order_id: str
    mrn: str
    patient_name: str
    raw_exam_name: str
    modality: str
    priority: str  # S (stat), R (routine)
    department: str
    ordered_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None


def _ts(t: datetime | None) -> str:
    return t.strftime("%Y%m%d%H%M%S") if t else ""


def _esc(text: str) -> str:
    out = text.replace("\\", "\\E\\")
    for ch, code in (("|", "F"), ("^", "S"), ("~", "R"), ("&", "T")):
        out = out.replace(ch, f"\\{code}\\")
    return out


def _msh(facility: str, kind: str, control_id: str, sent: datetime, charset: str | None) -> str:
    msh18 = "" if charset is None else charset
    return f"MSH|^~\\&|RIS|{facility}|RADLAKE|RADLAKE|{_ts(sent)}||{kind}|{control_id}|P|2.5|||||CHN|{msh18}"


def _pid(order: FeedOrder) -> str:
    # Two identifiers as repetitions: the MRN first, then the outpatient card number.
    return f"PID|1||{_esc(order.mrn)}^^^MRN~C{_esc(order.mrn)}^^^CARD||{_esc(order.patient_name)}||||"


def order_message(
    facility: str, order: FeedOrder, control_id: str, *, status: str = "SC", charset: str | None = "GB 18030-2000"
) -> str:
    """An ORM^O01 for ``order`` (``status`` is ORC-5: SC scheduled, IP in progress, CM completed, CA cancelled)."""
    control = "CA" if status == "CA" else ("NW" if status == "SC" else "SC")
    dept = f"D1^{_esc(order.department)}"
    segments = [
        _msh(facility, "ORM^O01", control_id, order.ordered_at, charset),
        _pid(order),
        f"ORC|{control}|{_esc(order.order_id)}|||{status}||||{_ts(order.ordered_at)}||||||||{dept}",
        f"OBR|1|{_esc(order.order_id)}||X^{_esc(order.raw_exam_name)}|{order.priority}||{_ts(order.started_at)}|"
        f"{_ts(order.ended_at)}||||||||||{_esc(order.accession_number)}||||||{order.modality}",
    ]
    return "\r".join(segments) + "\r"


def report_message(
    facility: str,
    order: FeedOrder,
    control_id: str,
    at: datetime,
    *,
    final: bool,
    charset: str | None = "GB 18030-2000",
) -> str:
    """An ORU^R01 for ``order``: a preliminary (``final=False``) or final report written at ``at``."""
    text = "双肺纹理清晰\\.br\\未见明确异常"
    segments = [
        _msh(facility, "ORU^R01", control_id, at, charset),
        _pid(order),
        f"OBR|1|{_esc(order.order_id)}||X^{_esc(order.raw_exam_name)}|||{_ts(order.started_at)}|{_ts(order.ended_at)}"
        f"||||||||||{_esc(order.accession_number)}||||{_ts(at)}||{order.modality}|{'F' if final else 'P'}",
        f"OBX|1|TX|IMP^Impression||{text}||||||{'F' if final else 'P'}",
    ]
    return "\r".join(segments) + "\r"


def merge_message(facility: str, mrn: str, prior_mrn: str, control_id: str, sent: datetime) -> str:
    """An ADT^A40: patient record ``prior_mrn`` merged into ``mrn``."""
    return (
        "\r".join(
            [
                _msh(facility, "ADT^A40", control_id, sent, "UNICODE UTF-8"),
                "EVN|A40|" + _ts(sent),
                f"PID|1||{_esc(mrn)}^^^MRN||",
                f"MRG|{_esc(prior_mrn)}^^^MRN",
            ]
        )
        + "\r"
    )
