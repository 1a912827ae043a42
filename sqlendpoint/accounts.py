"""Accounts of the SQL endpoint: a name bound to a data space, and only a salted hash of its password.

The file (``sql.accounts``, mode 0600) holds ``{name: {space, password_hash, created_at}}``; passwords are
made by :func:`create_account`, shown once, and never stored. Hashes are PBKDF2-HMAC-SHA256.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from radlake.config import Settings
from radlake.errors import ConfigError

ITERATIONS = 200_000
_NAME = re.compile(r"[a-z_][a-z0-9_.-]{0,62}")

STEWARDS_SPACE = "stewards"


def sees_stewards_file(space: str) -> bool:
    """Whether an account bound to ``space`` is served the stewards' file (else the analysts' ``warehouse``).

    The one place that maps data spaces to warehouse files. Data spaces are named here by string; when
    ``spaces:`` in radlake.yaml (the DICOMweb service's) marks a space ``stewards: true``, this is where to
    read it.
    """
    return space == STEWARDS_SPACE


def database_name(space: str) -> str:
    """The database name a client connects to for an account of ``space``."""
    from radlake.publish import CATALOG_NAMES

    return CATALOG_NAMES[sees_stewards_file(space)]


@dataclass(frozen=True)
class Account:
    """One login of the endpoint."""

    name: str
    space: str
    password_hash: str


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>``."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, ITERATIONS)
    return f"pbkdf2_sha256${ITERATIONS}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash of :func:`hash_password` (constant-time comparison)."""
    try:
        scheme, iterations, salt, digest = stored.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        mine = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), bytes.fromhex(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(mine.hex(), digest)


def load_accounts(path: Path) -> dict[str, Account]:
    """The accounts in ``path`` (none when it does not exist).

    Raises
    ------
    ConfigError
        The file is not a mapping of accounts (one line naming the file and the entry).
    """
    if not path.exists():
        return {}
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError):
        raise ConfigError(f"{path}: not a valid accounts file (YAML mapping of name: space, password_hash)") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of account names")
    accounts = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict) or not entry.get("space") or not entry.get("password_hash"):
            raise ConfigError(f"{path}: account {str(name)[:40]!r} needs space and password_hash")
        accounts[str(name)] = Account(str(name), str(entry["space"]), str(entry["password_hash"]))
    return accounts


def create_account(settings: Settings, name: str, space: str) -> str:
    """Add (or replace) account ``name`` bound to ``space``; returns its new password, which is not stored.

    Raises
    ------
    ConfigError
        The name or space is not a plain lower-case identifier.
    """
    for what, value in (("account name", name), ("space", space)):
        if not _NAME.fullmatch(value):
            raise ConfigError(f"{what} {value[:40]!r}: use lower-case letters, digits, '_', '.', '-' (63 at most)")
    path = settings.sql_accounts_path
    accounts = load_accounts(path)
    password = secrets.token_urlsafe(18)
    raw = {a.name: {"space": a.space, "password_hash": a.password_hash} for a in accounts.values()}
    raw[name] = {
        "space": space,
        "password_hash": hash_password(password),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        yaml.safe_dump(raw, fh, sort_keys=True)
    os.replace(tmp, path)
    return password
