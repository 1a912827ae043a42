"""The Dagster webserver on the demo's lake: the asset graph through GraphQL, and as a person sees it."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.orchestration.dagster_servers import graphql as _graphql
from tests.orchestration.dagster_servers import webserver as dagster_webserver

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
EXPECTED = ["bronze/dicom_instances", "silver/exams", "gold/exam_volume_daily"]


@pytest.fixture(scope="module")
def webserver(demo_run):
    workdir, summary = demo_run
    with dagster_webserver(workdir, summary.config) as port:
        yield port


def test_asset_graph_through_graphql(webserver: int) -> None:
    deadline = time.monotonic() + 60
    while True:  # the code location loads after the server answers
        data = _graphql(webserver, "{ assetNodes { assetKey { path } groupName hasAssetChecks } }")
        nodes = (data.get("data") or {}).get("assetNodes") or []
        if nodes or time.monotonic() > deadline:
            break
        time.sleep(1)
    by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    for key in EXPECTED:
        assert key in by_key, sorted(by_key)
        assert by_key[key]["groupName"] == key.split("/")[0]
    assert by_key["silver/exams"]["hasAssetChecks"]


def _chromium(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1600,1000",
        "--virtual-time-budget=20000",
    ]
    return subprocess.run(["chromium", *flags, *args, url], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium not installed (make test installs it)")
def test_asset_graph_page_in_chromium(webserver: int, tmp_path: Path) -> None:
    """The global lineage shows the three layers as groups; the graph around silver/exams shows its inputs.

    A group's own graph is drawn lazily (only the nodes in view are in the page), so the picture kept is the
    upstream lineage of silver/exams, which fits one screen.
    """
    base = f"http://127.0.0.1:{webserver}"
    lineage = _chromium(f"{base}/asset-groups", tmp_path / "chrome", "--dump-dom").stdout
    for group in ("bronze", "silver", "gold"):
        assert f">{group}<" in lineage, group
    assert ">default<" not in lineage, "every asset belongs to a layer's group"

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dagster_asset_graph.png"
    shot.unlink(missing_ok=True)
    graph = f"{base}/assets/silver/exams?view=lineage&lineageScope=upstream&lineageDepth=1"
    dom = _chromium(graph, tmp_path / "chrome", "--dump-dom").stdout
    _chromium(graph, tmp_path / "chrome", f"--screenshot={shot}")
    assert shot.exists() and shot.stat().st_size > 10_000
    assert "Join the Dagster community" not in dom, "the newsletter prompt hides the graph (nux not disabled)"
    for name in ("dicom_studies", "exam_name_map", "patient_master", "exams"):
        assert name in dom, name
