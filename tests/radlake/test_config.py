"""Settings: found via --config / RADLAKE_CONFIG, typed, and one line naming the key when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from radlake.config import load_settings
from radlake.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "radlake.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_resolve_relative_to_the_file(tmp_path: Path) -> None:
    cfg = _write(tmp_path, "spark: embedded\n")
    s = load_settings(cfg)
    assert s.lake == str(tmp_path / "lake")
    assert s.warehouse_path == str(tmp_path / "lake" / "gold" / "radlake.duckdb")
    # The stewards' file, the quality pages and the state each in a folder of their own, beside the analysts'.
    assert s.stewards_warehouse_path == str(tmp_path / "lake" / "stewards" / "stewards.duckdb")
    assert s.quality_dir == tmp_path / "lake" / "stewards" / "quality"
    assert s.state_dir == tmp_path / "lake" / "_state"
    assert s.analysts_dir == tmp_path / "lake" / "gold"
    assert s.timezone == "Asia/Shanghai" and s.sources == {}


def test_env_variable_finds_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _write(tmp_path, "lake: data/lake\n")
    monkeypatch.setenv("RADLAKE_CONFIG", str(cfg))
    monkeypatch.chdir("/")
    assert load_settings().lake == str(tmp_path / "data" / "lake")


def test_s3_lake_and_cluster_url(tmp_path: Path) -> None:
    s = load_settings(
        _write(tmp_path, "lake: s3://bucket/prefix/\nspark: sc://spark:15002\nwarehouse: gold/radlake.duckdb\n")
    )
    assert s.lake == "s3://bucket/prefix" and s.lake_is_s3 and s.spark == "sc://spark:15002"
    assert s.warehouse_path == str(tmp_path / "gold" / "radlake.duckdb")  # relative to the file, not the cwd
    assert s.stewards_warehouse_path == str(tmp_path / "stewards" / "stewards.duckdb")
    assert s.state_dir == tmp_path / "_state"  # no longer inside the warehouse folder for an S3 lake
    s = load_settings(_write(tmp_path, "warehouse: a/analysts.duckdb\nstewards_warehouse: b/stewards.duckdb\n"))
    assert s.stewards_warehouse_path == str(tmp_path / "b" / "stewards.duckdb")
    with pytest.raises(ConfigError, match=r"^.*warehouse.*required when the lake is on S3"):
        load_settings(_write(tmp_path, "lake: s3://bucket/prefix/\n"))


def test_source_with_the_cdc_issue_format(tmp_path: Path) -> None:
    s = load_settings(
        _write(
            tmp_path,
            "sources:\n  ris:\n    kind: postgres\n    dsn: postgresql://radlake@db:5432/ris\n"
            "    schema: ris\n    tables: ['*']\n    mode: query\n    watermark_column: updated_at\n",
        )
    )
    src = s.sources["ris"]
    assert (src.db_schema, src.mode, src.watermark_column, src.tables) == ("ris", "query", "updated_at", ["*"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("spark: local[2]\n", "spark: must be 'embedded' or a Spark Connect URL"),
        ("lake: hdfs://x/y\n", "lake: must be a local path or s3://bucket/prefix"),
        ("sources:\n  ris:\n    dsn: x\n    mode: binlog\n", "sources.ris.mode: Input should be 'logical' or 'query'"),
        ("sources:\n  ris:\n    dsn: x\n    mode: query\n", "sources.ris: mode 'query' needs watermark_column"),
        ("sources:\n  ris:\n    mode: logical\n", "sources.ris: needs a dsn"),
        ("dicom:\n  receiver:\n    port: 99999\n", "dicom.receiver.port: Input should be less than or equal to 65535"),
        ("timezone: Mars/Olympus\n", "timezone: unknown time zone"),
        (f"timezone: {'x' * 255}\n", "timezone: unknown time zone 'xxxxxx"),  # past NAME_MAX: no traceback
        ("lakes: /x\n", "lakes: Extra inputs are not permitted"),
        ('"lake\\nname\\x1b[31m": /x\n', "'lake\\nname\\x1b[31m': Extra inputs are not permitted"),
        ('dicom:\n  receiver:\n    ae_title: "CT\\e[2J"\n', "'CT\\x1b[2J': an AE title has 1 to 16 printable"),
        ('dicom:\n  receiver:\n    allowed_calling_aets: ["A\\nB"]\n', "'A\\nB': an AE title has"),
        ("lake: [unclosed\n", "is not valid YAML"),
        ("- a list\n", "expected a mapping"),
    ],
)
def test_bad_values_give_one_line_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    cfg = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    message = str(err.value)
    assert "\n" not in message and "\x1b" not in message and len(message) < 400
    assert message.startswith(str(cfg))
    assert expected in message


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml")


def test_override_wins_over_file(tmp_path: Path) -> None:
    cfg = _write(tmp_path, "lake: /somewhere\n")
    assert load_settings(cfg, lake=str(tmp_path / "other")).lake == str(tmp_path / "other")


@pytest.mark.parametrize(
    ("dsn", "holds_password"),
    [
        ("dbname='x'password=secret", True),  # libpq reads the next keyword right after a quoted value
        ("host=h password = secret", True),
        ("host=h PASSWORD=secret", True),
        ("postgresql://u:secret@h/db", True),
        ("postgresql://h/db?password=secret", True),
        ("postgres://postgres:@host/db", False),  # an empty password is no secret
        ("host=h password=''", False),
        ("host=h passwordfile=x dbname='pass word=1'", False),
        ("host=h user=postgres", False),
    ],
)
def test_dsn_password_check_reads_the_dsn_as_libpq_does(dsn: str, holds_password: bool) -> None:
    from radlake.config import dsn_has_password

    assert dsn_has_password(dsn) is holds_password
