"""infra/docker: the images are built from the lock file, copy files that exist and start real commands."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from infra_files import INFRA, ROOT

DOCKERFILES = sorted(p for p in (INFRA / "docker").glob("Dockerfile*") if p.suffix != ".dockerignore")


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(instruction, arguments) pairs, with continuation lines joined and comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1] if " " in ln else "") for ln in lines]


def test_there_are_an_online_and_an_airgapped_dockerfile() -> None:
    names = {p.name for p in DOCKERFILES}
    assert {"Dockerfile", "Dockerfile.airgapped"} <= names


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_copied_file_exists(dockerfile: Path) -> None:
    copies = [args for ins, args in _instructions(dockerfile) if ins == "COPY"]
    assert copies
    for args in copies:
        words = [w for w in args.split() if not w.startswith("--")]
        if "--from=" in args:
            continue
        *sources, _dest = words
        for source in sources:
            assert (ROOT / source).exists(), f"{dockerfile.name}: COPY {source}: not in the repository"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_stages_and_commands(dockerfile: Path, check_command) -> None:
    instructions = _instructions(dockerfile)
    froms = [a for i, a in instructions if i == "FROM" and " AS " in a.upper()]
    stages = [re.split(r"\s+AS\s+", a, flags=re.IGNORECASE)[1] for a in froms]
    assert stages == ["radlake", "spark-connect", "sail"]
    commands = [json.loads(a) for i, a in instructions if i == "CMD"]
    assert len(commands) == 3
    for command in commands:
        check_command(command)


def test_online_build_syncs_the_lock_file() -> None:
    runs = " ".join(a for i, a in _instructions(INFRA / "docker" / "Dockerfile") if i == "RUN")
    assert "uv sync --frozen --no-dev" in runs
    pinned_uv = re.search(r"UV_VERSION := (\S+)", (ROOT / "Makefile").read_text())
    assert pinned_uv and f"UV_VERSION={pinned_uv.group(1)}" in (INFRA / "docker" / "Dockerfile").read_text()


def test_airgapped_build_never_reaches_an_index() -> None:
    text = (INFRA / "docker" / "Dockerfile.airgapped").read_text()
    assert "PIP_NO_INDEX=1" in text and "PIP_FIND_LINKS=/wheelhouse" in text
    assert "requirements.txt" in text


def test_images_install_the_locked_deploy_extra() -> None:
    """Production storage comes from the lock (the `deploy` extra), in the image and in the wheelhouse."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert any(d.startswith("dagster-postgres==") for d in pyproject["project"]["optional-dependencies"]["deploy"])
    assert "--extra deploy" in (INFRA / "docker" / "Dockerfile").read_text()
    assert "--extra deploy" in (INFRA / "docker" / "build-wheelhouse.sh").read_text()
    lock = (ROOT / "uv.lock").read_text()
    assert 'name = "dagster-postgres"' in lock


@pytest.mark.parametrize("script", ["docker/build-wheelhouse.sh", "spark/start-connect-server.sh"])
def test_shell_scripts_parse_and_are_executable(script: str) -> None:
    path = INFRA / script
    assert path.stat().st_mode & 0o111, f"{script} is not executable"
    done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_wheelhouse_requirements_come_from_the_lock() -> None:
    text = (INFRA / "docker" / "build-wheelhouse.sh").read_text()
    assert "export --frozen --no-dev" in text
    assert "--no-index" in text  # the install line it documents


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_the_sail_image_is_the_radlake_image(dockerfile: Path) -> None:
    """Sail's workers run Python UDFs that import radlake: the sail stage adds nothing fetched at build or run."""
    instructions = _instructions(dockerfile)
    start = next(i for i, (ins, args) in enumerate(instructions) if ins == "FROM" and args.endswith("AS sail"))
    assert instructions[start][1].split()[0] == "radlake"
    assert [ins for ins, _ in instructions[start + 1 :]] == ["EXPOSE", "CMD"]
    assert json.loads(instructions[-1][1])[:3] == ["sail", "spark", "server"]
