"""docs/DEPLOY.md's air-gapped install, step by step: radlake's own wheel into a fresh venv, with no index.

The full wheelhouse (every locked package, about 1 GB) is too big to build in the suite, so this one holds
radlake's wheel and the locked versions of what ``radlake --help`` imports. Building the wheelhouse is the
connected machine's step (it downloads); the install is then made with ``--no-index``, as at the site.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
# What the command line imports before any command runs (typer, rich, the settings model).
CLI_PACKAGES = {
    "typer", "click", "shellingham", "rich", "markdown-it-py", "mdurl", "pygments", "typing-extensions",
    "pydantic", "pydantic-core", "annotated-types", "typing-inspection", "pyyaml", "annotated-doc",
}  # fmt: skip


def _uv() -> str:
    local = ROOT / ".uv" / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if not found:
        pytest.skip("uv is not installed (make env bootstraps it into .uv/)")
    return found


def _python_with_pip() -> str:
    """A Python 3.11 with pip (the project's .venv is made by uv and has none): uv's own venv or the system's."""
    for candidate in (ROOT / ".uv" / "bin" / "python", shutil.which("python3.11")):
        if (
            candidate
            and subprocess.run([str(candidate), "-m", "pip", "--version"], capture_output=True).returncode == 0
        ):
            return str(candidate)
    pytest.skip("no Python 3.11 with pip to build the wheelhouse and the site's venv")


def _locked_pins(uv: str) -> list[str]:
    """``name==version`` of the CLI's packages, as the lock file pins them (what build-wheelhouse.sh exports)."""
    export = subprocess.run(
        [uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    pins = []
    for line in export.splitlines():
        requirement = line.split(";")[0].strip()
        if "==" in requirement and requirement.split("==")[0].lower() in CLI_PACKAGES:
            pins.append(requirement)
    assert len(pins) == len(CLI_PACKAGES), f"not all pinned in uv.lock: {sorted(pins)}"
    return pins


def test_radlake_installs_from_a_wheelhouse_without_an_index(tmp_path: Path) -> None:
    uv, python = _uv(), _python_with_pip()
    wheelhouse = tmp_path / "wheelhouse"
    # The connected machine: radlake's wheel (as build-wheelhouse.sh builds it) and the locked dependencies.
    subprocess.run([uv, "build", "--wheel", "--out-dir", str(wheelhouse)], cwd=ROOT, check=True, capture_output=True)
    pins = _locked_pins(uv)
    (wheelhouse / "requirements.txt").write_text("\n".join(pins) + "\n", encoding="utf-8")
    download = subprocess.run(
        [python, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
         "--python-version", "3.11", "--dest", str(wheelhouse), *pins],
        capture_output=True, text=True,
    )  # fmt: skip
    if download.returncode != 0:
        pytest.skip(f"the package index cannot be reached to build the wheelhouse: {download.stderr[-300:]}")
    [wheel] = wheelhouse.glob("radlake-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "dbt_project/dbt_project.yml" in names
    assert not [n for n in names if n.startswith(("dbt_project/target/", "dbt_project/logs/")) or "__pycache__" in n]

    # The site: a fresh venv, no index, the steps of docs/DEPLOY.md.
    venv = tmp_path / "site" / ".venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-index",
        "--find-links",
        str(wheelhouse),
    ]
    offline = {**os.environ, "PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull}
    subprocess.run([*pip, "-r", str(wheelhouse / "requirements.txt")], check=True, env=offline)
    subprocess.run([*pip, "--no-deps", "radlake"], check=True, env=offline)

    result = subprocess.run([str(venv / "bin" / "radlake"), "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "lake" in result.stdout and "demo" in result.stdout
    # The docs' last step.
    result = subprocess.run(
        [str(venv / "bin" / "radlake"), "lake", "maintain", "--help"], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0 and "--dry-run" in result.stdout, result.stderr
    site = next((venv / "lib").glob("python3.*/site-packages"))
    assert (site / "radlake" / "__init__.py").is_file()  # installed, not a link back to the source tree
    assert (site / "dbt_project" / "dbt_project.yml").is_file()
    assert not list(site.glob("*.pth")) or all("radlake" not in p.read_text() for p in site.glob("*.pth"))
