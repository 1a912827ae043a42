"""Keyed pseudonyms: HMAC-SHA256 under a site key that lives only in the environment (or a file it names).

The key never enters SQL text, dbt's Jinja or any configuration radlake writes: dbt receives the pseudonym as a
DuckDB function registered by :mod:`radlake.dbt_pseudonyms`, quality output calls :func:`pseudonym` here.
Without the key, nothing that writes pseudonyms runs (one line naming the variable, never the value).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from radlake.errors import ConfigError

if TYPE_CHECKING:
    from radlake.config import Settings

KEY_ENV = "RADLAKE_PSEUDONYM_KEY"
"""The key itself: at least 32 random bytes, written as hex or base64 (``openssl rand -hex 32``)."""
KEY_FILE_ENV = "RADLAKE_PSEUDONYM_KEY_FILE"
"""A file holding the key (a mounted secret; the demo's generated key): read when ``KEY_ENV`` is unset."""
MIN_KEY_BYTES = 32
PSEUDONYM_HEX_DIGITS = 16
"""64 bits: collisions stay unlikely up to hundreds of millions of values, and without the key nothing can be
recomputed, so the truncation costs no secrecy."""

# Words of five letters and more: a random base64 key holds one by chance about once in 10^7 keys.
_PLACEHOLDERS = re.compile(r"change|example|placeholder|secret|password|dummy|replace|insert", re.IGNORECASE)
_HEX = re.compile(r"[0-9a-fA-F]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
# 32 random bytes hold about 30 distinct values; a handful betrays a typed pattern (all zeros, "abab...").
_MIN_DISTINCT_BYTES = 16


def parse_key(text: str, origin: str = KEY_ENV) -> bytes:
    """The key bytes of a hex or base64 text; :class:`ConfigError` naming ``origin`` when it is no usable key.

    Raises
    ------
    ConfigError
        Empty, a placeholder, not hex or base64, shorter than 32 bytes, or visibly not random. The message
        never quotes the value.
    """
    value = text.strip()
    hint = f"set it to at least {MIN_KEY_BYTES} random bytes as hex, e.g. the output of `openssl rand -hex 32`"
    if not value:
        raise ConfigError(f"{origin} is empty: {hint}")
    if _PLACEHOLDERS.search(value):
        raise ConfigError(f"{origin} holds a placeholder, not a key: {hint}")
    key: bytes | None = None
    if _HEX.fullmatch(value) and len(value) % 2 == 0:
        key = bytes.fromhex(value)
    elif _BASE64.fullmatch(value):
        padded = value + "=" * (-len(value) % 4)
        try:
            key = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            key = None
    if key is None:
        raise ConfigError(f"{origin} is neither hex nor base64: {hint}")
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"{origin} is too short ({len(key)} bytes): {hint}")
    if len(set(key)) < _MIN_DISTINCT_BYTES:
        raise ConfigError(f"{origin} does not look random (too few distinct bytes): {hint}")
    return key


@lru_cache(maxsize=4)
def _key_from(env_key: str | None, key_file: str | None) -> bytes:
    if env_key is not None:
        return parse_key(env_key, KEY_ENV)
    if key_file:
        path = Path(key_file)
        try:
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a text file"
            raise ConfigError(f"{KEY_FILE_ENV} / pseudonym_key_file {path}: cannot be read ({reason})") from None
        return parse_key(text, f"pseudonym key file {path}")
    raise ConfigError(
        f"{KEY_ENV} is not set: pseudonyms need a site key of at least {MIN_KEY_BYTES} random bytes "
        "(e.g. `openssl rand -hex 32`; or pseudonym_key_file in radlake.yaml naming a file that holds it)"
    )


def load_key(settings: Settings | None = None) -> bytes:
    """The site key: ``$RADLAKE_PSEUDONYM_KEY``, else the file ``$RADLAKE_PSEUDONYM_KEY_FILE`` or
    ``settings.pseudonym_key_file`` names.

    Raises
    ------
    ConfigError
        No key, or one that :func:`parse_key` refuses.
    """
    key_file = os.environ.get(KEY_FILE_ENV) or (
        str(settings.pseudonym_key_file) if settings is not None and settings.pseudonym_key_file else None
    )
    return _key_from(os.environ.get(KEY_ENV), key_file)


def keyed_pseudonym(key: bytes, value: str | None) -> str | None:
    """The pseudonym of ``value`` under ``key``: the first 16 hex digits of HMAC-SHA256 (None stays None)."""
    if value is None:
        return None
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_DIGITS]


def pseudonym(value: str | None, settings: Settings | None = None) -> str | None:
    """The pseudonym of ``value`` under the site key (:func:`load_key`); the same as the SQL function
    ``radlake_pseudonym`` dbt uses, so quality output and the marts name a thing by the same key."""
    return keyed_pseudonym(load_key(settings), value)


def write_key_file(path: Path) -> Path:
    """Write a new random key (hex) to ``path``, readable by its owner only; an existing file is kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(MIN_KEY_BYTES) + "\n")
    return path
