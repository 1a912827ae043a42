"""The pseudonym key: refused when empty, short, a placeholder or not random (one line naming the variable, never
the value); HMAC-SHA256 as the standard library computes it; the demo's key file; the SQL function dbt uses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from pathlib import Path

import duckdb
import pytest

from radlake.config import load_settings
from radlake.dbt_pseudonyms import register
from radlake.errors import ConfigError
from radlake.pseudonym import KEY_ENV, KEY_FILE_ENV, keyed_pseudonym, load_key, parse_key, pseudonym, write_key_file


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("change-me", "holds a placeholder"),
        ("CHANGE_ME_TO_A_LONG_RANDOM_SECRET_0123456789abcdef", "holds a placeholder"),
        ("00" * 32, "does not look random"),
        ("ab" * 40, "does not look random"),
        (secrets.token_hex(16), "is too short (16 bytes)"),
        ("not a key at all!", "is neither hex nor base64"),
    ],
)
def test_unusable_keys_are_refused_in_one_line(monkeypatch: pytest.MonkeyPatch, value: str, reason: str) -> None:
    monkeypatch.setenv(KEY_ENV, value)
    with pytest.raises(ConfigError) as err:
        load_key()
    message = str(err.value)
    assert message.startswith(f"{KEY_ENV} {reason}") and "\n" not in message
    if value.strip():
        assert value.strip() not in message


def test_no_key_at_all_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=rf"^{KEY_ENV} is not set"):
        load_key()


def test_hex_and_base64_keys_give_the_standard_hmac(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = secrets.token_bytes(32)
    expected = hmac.new(raw, b"h01:H01A0001", hashlib.sha256).hexdigest()[:16]
    for text in (raw.hex(), base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")):
        assert parse_key(text) == raw
        monkeypatch.setenv(KEY_ENV, text)
        assert pseudonym("h01:H01A0001") == expected
    assert pseudonym(None) is None


def test_the_demo_key_file_serves_without_the_variable(tmp_path: Path) -> None:
    from orchestration.demo import PSEUDONYM_KEY_FILE

    key_file = write_key_file(tmp_path / PSEUDONYM_KEY_FILE)
    first = key_file.read_text(encoding="ascii")
    assert write_key_file(key_file).read_text(encoding="ascii") == first  # kept on re-runs
    assert key_file.stat().st_mode & 0o777 == 0o600
    cfg = tmp_path / "radlake.yaml"
    cfg.write_text(f"pseudonym_key_file: {PSEUDONYM_KEY_FILE}\n", encoding="utf-8")
    settings = load_settings(cfg)
    assert load_key(settings) == bytes.fromhex(first.strip())


def test_the_sql_function_equals_the_python_one(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = secrets.token_bytes(32)
    monkeypatch.setenv(KEY_ENV, raw.hex())
    con = duckdb.connect()
    register(con, raw)
    values = ["1.2.826.0.1.1", "h02:H02B0002", None]
    got = [
        r[0] for r in con.cursor().execute("select radlake_pseudonym(v) from unnest(?) as t(v)", [values]).fetchall()
    ]
    assert got == [pseudonym(v) for v in values]


def test_cursors_of_one_database_register_side_by_side() -> None:
    """dbt's threads configure their own cursors of one database at once: each registration must succeed."""
    import threading

    raw = secrets.token_bytes(32)
    con = duckdb.connect()
    errors: list[Exception] = []

    def configure(cursor: duckdb.DuckDBPyConnection) -> None:
        try:
            register(cursor, raw)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    cursors = [con.cursor() for _ in range(4)]
    threads = [threading.Thread(target=configure, args=(c,)) for c in cursors]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert cursors[-1].execute("select radlake_pseudonym('x')").fetchone()[0] == keyed_pseudonym(raw, "x")
