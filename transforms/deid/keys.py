"""Keyed, one-way replacements: UIDs, patient pseudonyms and date offsets, stable per project.

Every value derives from a project key (HMAC of the site key and the project's name), so the same source
gives the same replacement in every export of one project and a different one in another project, and
nobody without the site key can go back or link two projects.
"""

from __future__ import annotations

import hashlib
import hmac

UID_ROOT = "2.25."  # PS3.5 B.2: a UID from a 128-bit number needs no registered root
MIN_SHIFT_DAYS = 365
SHIFT_SPAN_DAYS = 3285  # offsets of 1 to 10 years back


def project_key(site_key: bytes, project: str) -> bytes:
    """The key of one project (cohort export), derived from the site's pseudonym key."""
    return hmac.new(site_key, b"radlake-deid-project:" + project.encode("utf-8"), hashlib.sha256).digest()


def _mac(key: bytes, kind: bytes, value: str) -> bytes:
    return hmac.new(key, kind + b":" + value.encode("utf-8"), hashlib.sha256).digest()


def keyed_uid(key: bytes, uid: str) -> str:
    """A replacement UID: ``2.25.`` and a 128-bit number from the keyed hash (at most 44 characters)."""
    return UID_ROOT + str(int.from_bytes(_mac(key, b"uid", uid.strip())[:16], "big"))


def keyed_patient_id(key: bytes, patient_key: str) -> str:
    """A pseudonymous patient id (``P`` and 15 hex digits: fits SH and LO)."""
    return "P" + _mac(key, b"patient", patient_key).hex()[:15].upper()


def date_shift_days(key: bytes, patient_key: str) -> int:
    """Days to add to every date of one patient in one project (negative: 1 to 10 years back)."""
    n = int.from_bytes(_mac(key, b"date", patient_key)[:4], "big")
    return -(MIN_SHIFT_DAYS + n % SHIFT_SPAN_DAYS)
