"""HL7 acknowledgements: AA once a message is durable, AE/AR with the reason when it is not taken."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count

from ingestion.hl7.message import Delimiters, Message

_ACK_IDS = count(1)


def _escape(text: str, d: Delimiters) -> str:
    out = text.replace(d.escape, f"{d.escape}E{d.escape}")
    for ch, code in ((d.field, "F"), (d.component, "S"), (d.repetition, "R"), (d.subcomponent, "T")):
        out = out.replace(ch, f"{d.escape}{code}{d.escape}")
    return out.replace("\r", " ").replace("\n", " ")


def build_ack(msg: Message | None, code: str, reason: str = "", *, app: str = "RADLAKE") -> bytes:
    """The ACK for a message (or for bytes that were no message: then with an empty MSA-2).

    Parameters
    ----------
    msg
        The parsed message, or None when it could not be parsed.
    code
        ``AA``, ``AE`` or ``AR``.
    reason
        Why a message was not taken (MSA-3 and ERR-8); never patient data.

    Returns
    -------
    bytes
        The ACK in the message's character set (UTF-8 when unknown), without MLLP framing.
    """
    d = msg.delimiters if msg is not None else Delimiters()
    enc = f"{d.component}{d.repetition}{d.escape}{d.subcomponent}"
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    to_app = _escape(msg.get("MSH", 3) or "", d) if msg else ""
    to_fac = _escape(msg.get("MSH", 4) or "", d) if msg else ""
    control = _escape(msg.control_id or "", d) if msg else ""
    event = _escape(msg.get("MSH", 9, 2) or "", d) if msg else ""
    version = _escape(msg.get("MSH", 12) or "2.5", d) if msg else "2.5"
    charset = "UNICODE UTF-8" if msg is None or msg.encoding == "utf-8" else "GB 18030-2000"
    f = d.field
    msh = f.join(
        [
            "MSH",
            enc,
            app,
            app,
            to_app,
            to_fac,
            now,
            "",
            f"ACK{d.component}{event}{d.component}ACK",
            f"A{next(_ACK_IDS)}",
            "P",
            version,
            *[""] * 5,
            charset,
        ]
    )
    segments = [msh, f.join(["MSA", code, control, _escape(reason, d)[:80]])]
    if code != "AA":
        severity = "E"
        hl7_code = "207" if code == "AE" else "200"
        segments.append(
            f.join(
                [
                    "ERR",
                    "",
                    "",
                    f"{hl7_code}{d.component}{d.component}HL70357",
                    severity,
                    "",
                    "",
                    "",
                    _escape(reason, d),
                ]
            )
        )
    encoding = "utf-8" if msg is None or msg.encoding not in ("gb18030",) else "gb18030"
    return ("\r".join(segments) + "\r").encode(encoding)
