"""The Dagster UI behind the shipped nginx, in a real browser: a forged cross-site mutation is refused, the UI works.

A real Dagster webserver (a one-sensor code location, the sensor stopped) behind nginx running
infra/nginx/dagster.conf; headless Chromium logs in once (so it holds the password, as a steward's browser
does), then opens a page of another site that auto-submits ``POST /graphql?query=mutation{startSensor...}`` as
``text/plain`` (a "simple" request: no CORS preflight) and loads the same mutation as an image. Whether the
sensor started is asked of the webserver directly, bypassing nginx. Then the UI, from its own origin, starts
the sensor through nginx: the same mutation works when it comes from the UI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from ui_proxy_server import NGINX, PASSWORD, USER, free_port, run_proxy

from tests.quality.chromium import chromium

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(NGINX is None, reason="needs nginx (apt-get install nginx-light; make sysdeps installs it)"),
    pytest.mark.skipif(chromium() is None, reason="needs chromium (make sysdeps installs it)"),
]

DEFS = """
import dagster as dg


@dg.op
def noop() -> None:
    pass


@dg.job
def probe_job() -> None:
    noop()


@dg.sensor(job=probe_job, default_status=dg.DefaultSensorStatus.STOPPED)
def csrf_probe(context):
    return dg.SkipReason("a probe")


defs = dg.Definitions(jobs=[probe_job], sensors=[csrf_probe])
"""
LOCATION = "csrfprobe"
SELECTOR = f'{{repositoryLocationName:"{LOCATION}",repositoryName:"__repository__",sensorName:"csrf_probe"}}'
MUTATION = f"mutation{{startSensor(sensorSelector:{SELECTOR}){{__typename}}}}"
STATUS = f"{{sensorOrError(sensorSelector:{SELECTOR}){{... on Sensor{{sensorState{{status}}}}}}}}"


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real Dagster webserver on loopback; yields its port."""
    home = tmp_path_factory.mktemp("dagster-home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\nnux:\n  enabled: false\n")
    (home / "defs.py").write_text(DEFS)
    (home / "workspace.yaml").write_text(
        f"load_from:\n  - python_file:\n      relative_path: defs.py\n      location_name: {LOCATION}\n"
    )
    port = free_port()
    exe = Path(sys.executable).parent / "dagster-webserver"
    proc = subprocess.Popen(
        [str(exe), "-h", "127.0.0.1", "-p", str(port), "-w", str(home / "workspace.yaml")],
        env={**os.environ, "DAGSTER_HOME": str(home)},
        cwd=home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5):
                    break
            except OSError:
                assert proc.poll() is None, "dagster-webserver exited"
                assert time.monotonic() < deadline, "dagster-webserver did not start"
                time.sleep(0.5)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _sensor_status(port: int) -> str:
    """Asked of the webserver directly (no nginx): RUNNING or STOPPED."""
    body = json.dumps({"query": STATUS}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        data = json.load(response)
    return str(data["data"]["sensorOrError"]["sensorState"]["status"])


@pytest.fixture(scope="module")
def attacker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """Another site (another origin: http://127.0.0.1:<port>), serving the files of a folder."""
    root = tmp_path_factory.mktemp("attacker")
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, server.server_address[1]
    server.shutdown()
    server.server_close()


def test_forged_mutation_is_refused_and_the_ui_still_works(
    webserver: int, attacker: tuple[Path, int], tmp_path: Path
) -> None:
    from tests.quality.cdp import Browser

    assert _sensor_status(webserver) == "STOPPED"
    root, attacker_port = attacker
    with run_proxy(tmp_path, f"http://127.0.0.1:{webserver}") as (port, _ca):
        ui = f"https://localhost:{port}"
        forged = f"{ui}/graphql?query={urllib.parse.quote(MUTATION)}"
        (root / "evil.html").write_text(
            "<!doctype html><html><body>"
            f"<img referrerpolicy='no-referrer' src='{forged}'>"
            f"<form method='POST' enctype='text/plain' action='{forged}'>"
            "<input name='{\"x\":\"' value='\"}'></form>"
            "<script>setTimeout(() => document.forms[0].submit(), 300)</script></body></html>"
        )
        # Loopback only: nothing else is reachable (a proxy on a closed port catches the rest).
        with Browser(loopback=True, flags=("--ignore-certificate-errors",)) as browser:
            # The steward logs in once; the browser keeps the password for this origin from now on.
            # (A small page: the UI itself cannot run from a URL that carries credentials.)
            login = f"https://{USER}:{urllib.parse.quote(PASSWORD)}@localhost:{port}/server_info"
            browser.open(login, ready="document.body && document.body.innerText.includes('dagster')")
            log = browser.open(
                f"{ui}/automation", ready="document.body && document.body.innerText.includes('csrf_probe')", timeout=90
            )
            csp = [e for e in log.errors if "Content Security Policy" in e or "Content-Security-Policy" in e]
            assert csp == [], csp
            # The other site's page: an image and an auto-submitted form, both carrying the mutation.
            browser.open(
                f"http://127.0.0.1:{attacker_port}/evil.html",
                ready=f"location.port === '{port}' && document.readyState === 'complete'",
            )
            answer = browser.evaluate("document.body.innerText")
            assert "403" in answer, f"the forged POST was not refused by the proxy: {answer[:200]!r}"
            time.sleep(0.5)
            assert _sensor_status(webserver) == "STOPPED", "a page of another site started the sensor"

            # The UI's own origin: the same mutation, as the UI sends it, goes through.
            browser.open(f"{ui}/automation", ready="document.body.innerText.includes('csrf_probe')", timeout=60)
            status = browser.evaluate(
                "fetch('/graphql', {method: 'POST', headers: {'Content-Type': 'application/json'},"
                f" body: JSON.stringify({{query: {json.dumps(MUTATION)}}})}}).then(r => r.status)"
            )
            assert status == 200
            assert _sensor_status(webserver) == "RUNNING"
