"""infra/compose: the services a deployment needs, built from files that exist, running commands that exist;
only the proxy and the DICOM port published, images pinned, each container with only its own secrets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from infra_files import INFRA, ROOT, load_all

COMPOSE = INFRA / "compose" / "docker-compose.yml"
REQUIRED = {
    "webserver", "daemon", "code-location", "postgres", "minio", "spark-connect", "proxy", "dicom-receiver",
    "data-services",
}  # fmt: skip
SECRET_VARS = ("DAGSTER_PG_PASSWORD", "MINIO_ROOT_PASSWORD", "RADLAKE_S3_SECRET_KEY", "RADLAKE_PSEUDONYM_KEY")


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


# --- exposure and secrets (issue 12, item 6) -------------------------------------------------------------------

# Variables of .env that are secrets, and which services may see each one.
SECRETS_OF = {
    "proxy": set(),
    "postgres": {"DAGSTER_PG_PASSWORD"},
    "minio": {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"},
    "minio-init": {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "RADLAKE_S3_ACCESS_KEY", "RADLAKE_S3_SECRET_KEY"},
    "spark-connect": {"RADLAKE_S3_ACCESS_KEY", "RADLAKE_S3_SECRET_KEY"},
    "code-location": {
        "DAGSTER_PG_PASSWORD",
        "RADLAKE_S3_ACCESS_KEY",
        "RADLAKE_S3_SECRET_KEY",
        "RADLAKE_SOURCES_PGPASSWORD",
        "RADLAKE_PSEUDONYM_KEY",
        "RADLAKE_ALERT_WEBHOOK",
    },
    "webserver": {"DAGSTER_PG_PASSWORD"},
    "daemon": {"DAGSTER_PG_PASSWORD"},
    "dicom-receiver": {"RADLAKE_S3_ACCESS_KEY", "RADLAKE_S3_SECRET_KEY"},
    # De-identified data spaces answer with keyed pseudonymous UIDs: the service needs the key.
    "data-services": {"RADLAKE_S3_ACCESS_KEY", "RADLAKE_S3_SECRET_KEY", "RADLAKE_PSEUDONYM_KEY"},
}
SECRET_NAMES = set().union(*SECRETS_OF.values())
INTERNAL_ONLY = ("webserver", "postgres", "minio", "spark-connect", "daemon", "code-location", "data-services")


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation: ${VAR}, ${VAR:-default}, ${VAR:?message}; $$ is a literal $."""

    def one(match: re.Match) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if op == ":?":
            raise AssertionError(f"{name} is required: {arg}")
        return arg or ""

    text = value.replace("$$", "\0")
    text = re.sub(r"\$\{([A-Z_][A-Z0-9_]*)(?:(:-|:\?)([^}]*))?\}", one, text)
    return text.replace("\0", "$")


def _env_file() -> dict[str, str]:
    env = {}
    for line in (INFRA / "compose" / ".env.example").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key] = value
    return env


def _render(node, env: dict[str, str]):
    if isinstance(node, str):
        return _interpolate(node, env)
    if isinstance(node, list):
        return [_render(n, env) for n in node]
    if isinstance(node, dict):
        return {k: _render(v, env) for k, v in node.items()}
    return node


@pytest.fixture(scope="module")
def rendered(compose: dict) -> dict:
    """The compose model as `docker compose config` would make it from .env.example (merge keys resolved)."""
    return _render(compose, _env_file())


def _variables(node) -> set[str]:
    """Names of the variables a part of the (unrendered) compose file interpolates."""
    text = yaml.safe_dump(node)
    return set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", text))


def test_only_the_proxy_and_the_dicom_port_are_published(rendered: dict) -> None:
    published = {name: s["ports"] for name, s in rendered["services"].items() if s.get("ports")}
    assert set(published) == {"proxy", "dicom-receiver"}
    assert [p.rsplit(":", 1)[1] for p in published["proxy"]] == ["8443", "8444"]
    assert [p.rsplit(":", 1)[1] for p in published["dicom-receiver"]] == ["11112"]
    for name, service in rendered["services"].items():
        assert service.get("network_mode") != "host", name
        assert "expose" not in service or name in INTERNAL_ONLY


def test_internal_services_are_reachable_inside_the_deployment_only(rendered: dict) -> None:
    networks = rendered["networks"]
    internal = {n for n, spec in networks.items() if (spec or {}).get("internal")}
    members = {n: {s for s, spec in rendered["services"].items() if n in spec.get("networks", [])} for n in networks}
    for name in INTERNAL_ONLY:
        service = rendered["services"][name]
        assert service.get("networks"), f"{name} must name its networks (the default one is not internal)"
        assert not service.get("ports"), name
    # Data and the UI's backend sit on internal networks only.
    for name in ("webserver", "postgres", "minio", "daemon", "data-services"):
        assert set(rendered["services"][name]["networks"]) <= internal, name
    # The webserver shares a network with the proxy only (besides the internal backend); so do the data services.
    assert members["ui"] == {"proxy", "webserver"} and "ui" in internal
    assert members["services"] == {"proxy", "data-services"} and "services" in internal
    # Every network that reaches outside the host carries only published services or outbound traffic.
    for net in set(networks) - internal:
        for service in members[net]:
            assert service in {"proxy", "dicom-receiver", "code-location", "spark-connect"}, (net, service)


def test_images_are_pinned_by_version(rendered: dict) -> None:
    for name, service in rendered["services"].items():
        image = service["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest" and re.search(r"\d+\.\d+|^RELEASE\.\d{4}-", tag), (
            f"{name}: {image} is not pinned to a version"
        )


def test_each_container_gets_only_its_own_secrets(compose: dict) -> None:
    assert set(compose["services"]) == set(SECRETS_OF)
    for name, service in compose["services"].items():
        seen = _variables(service.get("environment", {})) & (SECRET_NAMES | {"RADLAKE_PSEUDONYM_SALT"})
        assert seen == SECRETS_OF[name], f"{name} sees {sorted(seen)}, should see {sorted(SECRETS_OF[name])}"
        if name != "proxy":
            assert not service.get("secrets"), name
    assert set(compose["services"]["proxy"]["secrets"]) == {"ui_htpasswd", "ui_tls_cert", "ui_tls_key"}
    # The pseudonym key under its current name, and the retired salt nowhere.
    assert "RADLAKE_PSEUDONYM_SALT" not in COMPOSE.read_text()
    assert "RADLAKE_PSEUDONYM_SALT" not in (INFRA / "compose" / ".env.example").read_text()


def test_secret_files_are_never_committed() -> None:
    ignored = (INFRA / "compose" / ".gitignore").read_text().split()
    assert "secrets/" in ignored
    (doc,) = load_all(COMPOSE)
    for spec in doc["secrets"].values():
        assert spec["file"].startswith("./secrets/"), spec


def test_the_proxy_serves_the_repository_config(rendered: dict) -> None:
    ui, services = rendered["services"]["proxy"]["volumes"]
    assert (COMPOSE.parent / ui["source"]).resolve() == INFRA / "nginx" / "dagster.conf"
    assert ui["target"] == "/etc/nginx/conf.d/default.conf" and ui["read_only"]
    assert (COMPOSE.parent / services["source"]).resolve() == INFRA / "nginx" / "services.conf"
    assert services["target"] == "/etc/nginx/conf.d/services.conf" and services["read_only"]
    secrets = {f"/run/secrets/{s}" for s in rendered["services"]["proxy"]["secrets"]}
    conf = (INFRA / "nginx" / "dagster.conf").read_text()
    assert set(re.findall(r"/run/secrets/\w+", conf)) == secrets
    # The data services: TLS with the same certificate, no password (bearer tokens, checked by the service).
    conf = (INFRA / "nginx" / "services.conf").read_text()
    assert set(re.findall(r"/run/secrets/\w+", conf)) == secrets - {"/run/secrets/ui_htpasswd"}
    assert "auth_basic" not in conf and "listen 8444 ssl;" in conf


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    """Where the compose plugin is installed, Docker's own renderer agrees (ports, networks)."""
    import shutil
    import subprocess

    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("docker compose is not installed here; the YAML model above is checked instead")
    env_file = tmp_path / ".env"
    env_file.write_text((INFRA / "compose" / ".env.example").read_text())
    done = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "--env-file", str(env_file), "config", "--format", "json"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    import json

    model = json.loads(done.stdout)
    published = {n for n, s in model["services"].items() if s.get("ports")}
    assert published == {"proxy", "dicom-receiver"}


def test_the_receiver_shares_no_state_with_the_pipeline(rendered: dict) -> None:
    """The receiver parses hostile bytes: it never mounts the volume holding the stewards' file and the EMPI cache."""

    def volumes(service: str) -> set[str]:
        named = set(rendered.get("volumes", {}))
        mounts = rendered["services"][service]["volumes"]
        sources = {m.split(":", 1)[0] if isinstance(m, str) else m["source"] for m in mounts}
        return sources & named

    shared = volumes("dicom-receiver") & volumes("code-location")
    assert "radlake-state" in volumes("code-location")
    assert shared == {"dicom-received"}, shared  # only the files it received, which the pipeline lands
