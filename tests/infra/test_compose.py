"""infra/compose: the services a deployment needs, built from files that exist, running commands that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from infra_files import INFRA, ROOT, load_all

COMPOSE = INFRA / "compose" / "docker-compose.yml"
REQUIRED = {"webserver", "daemon", "code-location", "postgres", "minio", "spark-connect"}
SECRET_VARS = ("DAGSTER_PG_PASSWORD", "MINIO_ROOT_PASSWORD", "RADLAKE_S3_SECRET_KEY")


@pytest.fixture(scope="module")
def compose() -> dict:
    (doc,) = load_all(COMPOSE)
    return doc


def test_the_deployment_has_every_service(compose: dict) -> None:
    assert set(compose["services"]) >= REQUIRED


def test_builds_point_at_dockerfiles_and_targets_that_exist(compose: dict) -> None:
    base = COMPOSE.parent
    builds = [s["build"] for s in compose["services"].values() if "build" in s]
    assert builds
    for build in builds:
        context = (base / build["context"]).resolve()
        assert context == ROOT, "images are built from the repository root"
        dockerfile = context / build["dockerfile"]
        assert dockerfile.is_file()
        stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", dockerfile.read_text(), flags=re.MULTILINE | re.IGNORECASE)
        assert build["target"] in stages


def test_commands_exist(compose: dict, check_command) -> None:
    for service in compose["services"].values():
        command = service.get("command")
        if command is None or service.get("image", "").startswith(("postgres", "minio")):
            continue
        argv = [re.sub(r"\$\{[^}]*\}", "8g", a) for a in command]  # compose interpolation, not a path
        check_command(argv)


def test_config_mount_is_a_valid_radlake_yaml(compose: dict) -> None:
    from radlake.config import load_settings

    mounts = [
        v
        for s in compose["services"].values()
        for v in s.get("volumes", [])
        if isinstance(v, dict) and v.get("target") == "/etc/radlake/radlake.yaml"
    ]
    assert mounts
    source = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", mounts[0]["source"])
    settings = load_settings(COMPOSE.parent / source)
    host, port = settings.spark.removeprefix("sc://").split(":")
    assert host in compose["services"] and port == "15002"
    assert settings.lake_is_s3


def test_every_variable_dagster_reads_is_set(compose: dict) -> None:
    """dagster.yaml and workspace.yaml read env vars: each radlake service sets all of them."""
    wanted = set(re.findall(r"env:\s*([A-Z_]+)", (INFRA / "dagster" / "dagster.yaml").read_text()))
    wanted |= set(re.findall(r"env:\s*([A-Z_]+)", (INFRA / "dagster" / "workspace.yaml").read_text()))
    assert "DAGSTER_PG_PASSWORD" in wanted
    for name in ("webserver", "daemon", "code-location"):
        env = compose["services"][name]["environment"]
        assert wanted <= set(env), f"{name} lacks {wanted - set(env)}"
        assert env["RADLAKE_CODE_LOCATION_HOST"] in compose["services"]


def test_secrets_only_come_from_the_environment(compose: dict) -> None:
    text = COMPOSE.read_text()
    for var in SECRET_VARS:
        # Required from .env (fail fast when unset), never given a default value in the file.
        assert re.search(rf"\$\{{{var}:\?", text), var
        assert not re.search(rf"\$\{{{var}:-", text), var
    example = (INFRA / "compose" / ".env.example").read_text()
    for var in SECRET_VARS:
        assert re.search(rf"^{var}=change-me", example, flags=re.MULTILINE), var
    ignored = (INFRA / "compose" / ".gitignore").read_text().split()
    assert ".env" in ignored


def test_dockerignore_beside_each_dockerfile() -> None:
    for dockerfile in (INFRA / "docker").glob("Dockerfile*"):
        if dockerfile.suffix == ".dockerignore":
            continue
        ignore = Path(f"{dockerfile}.dockerignore")
        assert ignore.is_file(), ignore
        assert ".venv" in ignore.read_text().split()
