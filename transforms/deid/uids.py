"""Keyed pseudonymous UIDs: a real UID → a valid DICOM UID under the site's pseudonym key (one way)."""

from __future__ import annotations

import hashlib
import hmac

UID_ROOT = "2.25."
"""PS3.5 B.2: a UID made of a 128-bit number needs no registered root (``2.25.<decimal>``)."""

_DOMAIN = b"radlake-uid:"  # keeps these HMACs apart from the 16-hex pseudonyms of other values under one key


def pseudo_uid(key: bytes, uid: str) -> str:
    """The pseudonymous UID of ``uid``: ``2.25.`` and the first 128 bits of HMAC-SHA256 as a decimal number.

    Parameters
    ----------
    key
        The site's pseudonym key (:func:`radlake.pseudonym.load_key`).
    uid
        A real Study, Series or SOP Instance UID (surrounding spaces and NULs are ignored).

    Returns
    -------
    str
        At most 44 characters; the same for the same key and UID, unrelated for another key.

    Examples
    --------
    >>> pseudo_uid(bytes(range(32)), "1.2.3").startswith("2.25.")
    True
    """
    digest = hmac.new(key, _DOMAIN + uid.strip(" \x00").encode("ascii", "replace"), hashlib.sha256).digest()
    return UID_ROOT + str(int.from_bytes(digest[:16], "big"))
