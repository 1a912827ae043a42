"""A real BI tool on the SQL endpoint: Apache Superset (from PyPI, in its own venv) charts the marts.

Superset connects with its own PostgreSQL driver (psycopg2, SQLAlchemy's dialect), lists the schema and a
mart's columns to make a dataset, takes the dataset's metrics from the semantic layer in the dbt project, and
answers one chart per mart family through its chart-data API. Every figure is compared with DuckDB's answer
on the published file.

Superset is large (about 640 MB installed; its metadata database takes minutes to migrate on two cores), so
its venv and a migrated metadata database are kept in ``$RADLAKE_TEST_CACHE`` (default
``~/.cache/radlake-tests``) and reused while ``SUPERSET`` stays the same; the first run builds them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from radlake import semantic
from tests.gold.dbt_cli import BuiltGold
from tests.gold.sql_server import RunningServer, publish_copy, self_signed, start

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
# Flask-Caching 2.4+ passes an argument Superset 6.1's metastore cache does not take; its CLI imports rich and its
# AWS IAM engine spec cachetools, which it does not declare.
SUPERSET = (
    "apache-superset==6.1.0",
    "psycopg2-binary==2.9.13",
    "flask-caching==2.3.1",
    "rich==15.0.0",
    "cachetools==8.0.3",
)
CACHE = Path(os.environ.get("RADLAKE_TEST_CACHE") or Path.home() / ".cache" / "radlake-tests") / "superset-6.1.0"
ADMIN = ("admin", "radlake-test-admin")

# One chart per mart family: the dataset (mart), what the chart groups by, and its semantic metric.
FAMILIES = (
    ("exam_volume_daily", "institution", "exams"),
    ("advanced_exam_share", "institution", "advanced_share"),
    ("report_timeliness_daily", "institution", "on_time_share"),
    ("report_timeliness", "priority", "turnaround_p90_min"),
    ("device_utilisation_daily", "device_station", "busy_share"),
    ("standard_coverage", "institution", "coverage_share"),
)


def _uv() -> str:
    uv = ROOT / ".uv" / "bin" / "uv"
    found = str(uv) if uv.exists() else shutil.which("uv")
    assert found, "uv is needed to make Superset's venv (make env installs it under .uv/)"
    return found


def _config(folder: Path, metadata: Path) -> Path:
    path = folder / "superset_config.py"
    path.write_text(
        f'SECRET_KEY = "{os.urandom(24).hex()}"\n'
        f'SQLALCHEMY_DATABASE_URI = "sqlite:///{metadata}"\n'
        "WTF_CSRF_ENABLED = False\nTALISMAN_ENABLED = False\nCONTENT_SECURITY_POLICY_WARNING = False\n",
        encoding="utf-8",
    )
    return path


def _superset(venv: Path, config: Path, *args: str, timeout: float = 900) -> None:
    env = {**os.environ, "SUPERSET_CONFIG_PATH": str(config), "PYTHONWARNINGS": "ignore"}
    run = subprocess.run([str(venv / "bin" / "superset"), *args], env=env, capture_output=True, text=True,
                         timeout=timeout, check=False)  # fmt: skip
    assert run.returncode == 0, f"superset {args[0]}: {run.stderr[-2000:]}"


def _prepared(tmp: Path) -> tuple[Path, Path]:
    """Superset's venv and a copy of a migrated metadata database with an admin (built once into CACHE)."""
    venv, ready = CACHE / "venv", CACHE / "ready"
    if not ready.exists():
        shutil.rmtree(CACHE, ignore_errors=True)
        CACHE.mkdir(parents=True)
        subprocess.run([_uv(), "venv", "-q", "--python", sys.executable, str(venv)], check=True)
        subprocess.run([_uv(), "pip", "install", "-q", "--python", str(venv / "bin" / "python"), *SUPERSET],
                       check=True, timeout=1200)  # fmt: skip
        config = _config(CACHE, CACHE / "superset.db")
        _superset(venv, config, "db", "upgrade")
        _superset(venv, config, "fab", "create-admin", "--username", ADMIN[0], "--password", ADMIN[1],
                  "--firstname", "radlake", "--lastname", "test", "--email", "admin@example.invalid")  # fmt: skip
        _superset(venv, config, "init")
        ready.write_text(" ".join(SUPERSET), encoding="utf-8")
    metadata = tmp / "superset.db"
    shutil.copyfile(CACHE / "superset.db", metadata)
    return venv, _config(tmp, metadata)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def superset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    tmp = tmp_path_factory.mktemp("superset")
    venv, config = _prepared(tmp)
    port = _free_port()
    log = (tmp / "superset.log").open("wb")
    env = {**os.environ, "SUPERSET_CONFIG_PATH": str(config), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen([str(venv / "bin" / "superset"), "run", "-h", "127.0.0.1", "-p", str(port),
                             "--with-threads"], env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp / "superset.log").read_text()[-3000:]
            time.sleep(2)
        login = {"username": ADMIN[0], "password": ADMIN[1], "provider": "db", "refresh": False}
        client.headers["Authorization"] = (
            "Bearer " + client.post("/api/v1/security/login", json=login).json()["access_token"]
        )
        yield client
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(timeout=5)  # it exits at once on SIGTERM here; its teardown once took the whole 30 s it had
        except subprocess.TimeoutExpired:  # one process (threads), a copy of the metadata: nothing to keep
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def endpoint(gold: BuiltGold, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("superset_sql")
    cert, key = self_signed(root)
    settings = publish_copy(gold.settings, root, sql={"tls": {"cert": str(cert), "key": str(key)}})
    running = start(settings.model_copy(update={"lake": str(root / "lake")}))
    yield running
    running.stop()


def _ok(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), f"{response.request.url}: {response.status_code} {response.text[:1500]}"
    return response.json()


def test_superset_charts_every_mart_family_through_the_endpoint(
    superset: httpx.Client, endpoint: RunningServer, gold: BuiltGold
) -> None:
    uri = (f"postgresql+psycopg2://ana:{endpoint.passwords['ana']}@127.0.0.1:{endpoint.port}/warehouse"
           "?sslmode=require")  # fmt: skip
    database = _ok(superset.post("/api/v1/database/", json={"database_name": "radlake warehouse",
                                                               "sqlalchemy_uri": uri}))["id"]  # fmt: skip
    schemas = _ok(superset.get(f"/api/v1/database/{database}/schemas/"))["result"]
    assert "main" in schemas
    for mart, group_by, metric in FAMILIES:
        sem = semantic.model(mart)
        dataset = _ok(superset.post("/api/v1/dataset/", json={"database": database, "schema": "main",
                                                               "table_name": mart}))["id"]  # fmt: skip
        # The dataset's metrics are the semantic layer's, not SQL written here.
        metrics = [{"metric_name": n, "expression": semantic.metric_sql(mart, n),
                    "verbose_name": (sem.measures.get(n) or sem.metrics[n]).label}
                   for n in [*sem.measures, *sem.metrics]]  # fmt: skip
        _ok(superset.put(f"/api/v1/dataset/{dataset}?override_columns=false", json={"metrics": metrics}))
        query = {
            "datasource": {"id": dataset, "type": "table"},
            "queries": [{"columns": [group_by], "metrics": [metric], "orderby": [[group_by, True]],
                         "row_limit": 1000}],
            "result_format": "json",
            "result_type": "full",
        }  # fmt: skip
        chart = _ok(superset.post("/api/v1/chart/", json={
            "slice_name": f"{sem.label} by {group_by}", "viz_type": "table", "datasource_id": dataset,
            "datasource_type": "table", "params": json.dumps({"groupby": [group_by], "metrics": [metric]}),
            "query_context": json.dumps(query),
        }))["id"]  # fmt: skip
        data = _ok(superset.get(f"/api/v1/chart/{chart}/data/"))["result"][0]["data"]
        got = {row[group_by]: row[metric] for row in data}
        with duckdb.connect(gold.settings.warehouse_path, read_only=True) as con:
            expected = dict(con.execute(
                f"select {group_by}, {semantic.metric_sql(mart, metric)} from {mart} group by 1"
            ).fetchall())  # fmt: skip
        assert set(got) == set(expected), mart
        for key, value in expected.items():
            if value is None:
                assert got[key] is None, (mart, key)
            else:
                assert got[key] == pytest.approx(float(value)), (mart, key)
