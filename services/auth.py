"""Bearer tokens bound to data spaces: issued once, kept only as hashes, checked in constant time.

A token reads ``rlk_<id>.<secret>``. The id is public (it names the token in the audit table); the secret
is 32 random bytes, so a plain SHA-256 of it is as strong as a slow password hash would be. The store is a
JSON file (a secret mounted read-only in production) or the ``RADLAKE_SERVICE_TOKENS`` environment
variable holding the same JSON; the running service re-reads the file when it changes, so a token issued
with ``radlake space token`` works without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from radlake.config import Settings
from radlake.errors import ConfigError

TOKENS_ENV = "RADLAKE_SERVICE_TOKENS"
PREFIX = "rlk_"


@dataclass(frozen=True)
class TokenRecord:
    """One issued token as stored: its public id, the spaces it opens, and the SHA-256 of its secret."""

    token_id: str
    spaces: tuple[str, ...]
    sha256: str


def tokens_path(settings: Settings) -> Path:
    """The token file: ``serve.tokens_file``, else ``service_tokens.json`` in the state folder."""
    return settings.serve.tokens_file or settings.state_dir / "service_tokens.json"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _parse(text: str, origin: str) -> dict[str, TokenRecord]:
    try:
        raw = json.loads(text)
        rows = raw["tokens"]
        return {
            str(r["id"]): TokenRecord(str(r["id"]), tuple(str(s) for s in r["spaces"]), str(r["sha256"])) for r in rows
        }
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f'{origin}: not a token file (expected {{"tokens": [{{id, spaces, sha256}}]}})') from None


def issue_token(settings: Settings, space: str) -> str:
    """Make a new token for one configured space, store its hash, and return the token (shown once).

    Raises
    ------
    ConfigError
        The space is not configured, or the token file is unreadable or comes from the environment.
    """
    if space not in settings.spaces:
        known = ", ".join(sorted(settings.spaces)) or "none configured"
        raise ConfigError(f"no space {space!r} in the config (spaces: {known})")
    if os.environ.get(TOKENS_ENV):
        raise ConfigError(f"tokens come from ${TOKENS_ENV}: issue them where that secret is managed")
    path = tokens_path(settings)
    rows: list[dict[str, object]] = []
    if path.exists():
        rows = [
            {"id": r.token_id, "spaces": list(r.spaces), "sha256": r.sha256}
            for r in _parse(path.read_text(encoding="utf-8"), str(path)).values()
        ]
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    rows.append(
        {"id": token_id, "spaces": [space], "sha256": _digest(secret), "created_at": datetime.now(UTC).isoformat()}
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    # Owner-only from the first byte: the hashes are not secrets, but who holds which space is.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"tokens": rows}, fh, indent=1)
    os.replace(tmp, path)
    return f"{PREFIX}{token_id}.{secret}"


class TokenStore:
    """The tokens a running service accepts, re-read when the file changes (checked at most once a second)."""

    def __init__(self, settings: Settings) -> None:
        self._path = tokens_path(settings)
        self._env = os.environ.get(TOKENS_ENV)
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._checked = 0.0
        self._records: dict[str, TokenRecord] = {}
        if self._env:
            self._records = _parse(self._env, f"${TOKENS_ENV}")
        else:
            self._reload()

    def _reload(self) -> None:
        try:
            mtime = self._path.stat().st_mtime
        except FileNotFoundError:
            self._records, self._mtime = {}, None
            return
        if mtime != self._mtime:
            self._records = _parse(self._path.read_text(encoding="utf-8"), str(self._path))
            self._mtime = mtime

    def lookup(self, token: str) -> TokenRecord | None:
        """The record of a presented token, or None when it is malformed, unknown or its secret is wrong."""
        if not token.startswith(PREFIX) or "." not in token or len(token) > 200:
            return None
        token_id, _, secret = token[len(PREFIX) :].partition(".")
        if not self._env:
            now = time.monotonic()
            with self._lock:
                if now - self._checked > 1.0:
                    self._checked = now
                    self._reload()
        record = self._records.get(token_id)
        if record is None or not hmac.compare_digest(record.sha256, _digest(secret)):
            return None
        return record


class RateLimiter:
    """A token bucket per token id: ``per_minute`` requests of burst, refilled evenly over a minute."""

    def __init__(self, per_minute: int) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> float:
        """0.0 when the request may go ahead, else the seconds until it could."""
        now = time.monotonic()
        with self._lock:
            level, last = self._buckets.get(key, (self._capacity, now))
            level = min(self._capacity, level + (now - last) * self._rate)
            if level >= 1.0:
                self._buckets[key] = (level - 1.0, now)
                return 0.0
            self._buckets[key] = (level, now)
            return (1.0 - level) / self._rate
