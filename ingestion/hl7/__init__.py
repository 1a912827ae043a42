"""HL7 v2 over MLLP: the listener, its write-ahead file, landing in bronze and folding into silver."""

from __future__ import annotations

from typing import TYPE_CHECKING

from radlake.faces import lazy_face

if TYPE_CHECKING:
    from ingestion.hl7.listener import Hl7Listener, listen
    from ingestion.hl7.orders import apply_messages

__all__ = [
    "Hl7Listener",
    "apply_messages",
    "listen",
]

__getattr__ = lazy_face(
    __name__,
    {
        "Hl7Listener": "listener",
        "apply_messages": "orders",
        "listen": "listener",
    },
)
