"""infra/nginx: the Dagster UI's proxy, run for real: no page without the password, and the password stays there.

nginx runs the repository's config (secret paths, upstream and port pointed at a temporary folder, a loopback
stand-in for the Dagster webserver and a free port); the secrets come from infra/compose/make-ui-secrets.sh.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from infra_files import INFRA

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
PASSWORD = "correct horse battery staple"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(NGINX is None, reason="needs nginx (apt-get install nginx-light; make sysdeps installs it)"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[int, list[dict[str, str]]]]:
    """A stand-in for the Dagster webserver: its port and the headers of every request that reached it."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({k.lower(): v for k, v in self.headers.items()})
            body = b"dagster webserver"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


def _secrets(folder: Path) -> Path:
    """Run make-ui-secrets.sh (a copy, so its secrets/ folder lands in ``folder``) for user ``steward``."""
    script = folder / "make-ui-secrets.sh"
    shutil.copy(INFRA / "compose" / "make-ui-secrets.sh", script)
    env = {**os.environ, "RADLAKE_UI_PASSWORD": PASSWORD}
    done = subprocess.run(
        ["bash", str(script), "steward", "localhost"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    secrets = folder / "secrets"
    assert (secrets.stat().st_mode & 0o777) == 0o700
    assert (secrets / "ui.key").stat().st_mode & 0o077 == 0, "the TLS key is readable by its owner only"
    htpasswd = (secrets / "ui.htpasswd").read_text()
    assert htpasswd.startswith("steward:$6$") and PASSWORD not in htpasswd
    return secrets


@pytest.fixture(scope="module")
def proxy(
    tmp_path_factory: pytest.TempPathFactory, upstream: tuple[int, list[dict[str, str]]]
) -> Iterator[tuple[int, Path]]:
    """nginx with the repository's dagster.conf; yields its port and the CA file to trust."""
    up_port, _ = upstream
    tmp_path = tmp_path_factory.mktemp("ui-proxy")
    secrets = _secrets(tmp_path)
    port = _free_port()
    conf = (INFRA / "nginx" / "dagster.conf").read_text()
    replacements = {
        "/run/secrets/ui_htpasswd": str(secrets / "ui.htpasswd"),
        "/run/secrets/ui_tls_cert": str(secrets / "ui.crt"),
        "/run/secrets/ui_tls_key": str(secrets / "ui.key"),
        "http://webserver:3000": f"http://127.0.0.1:{up_port}",
        "listen 8443 ssl;": f"listen 127.0.0.1:{port} ssl;",
    }
    for old, new in replacements.items():
        assert old in conf, f"dagster.conf no longer has {old!r}"
        conf = conf.replace(old, new)
    (tmp_path / "dagster.conf").write_text(conf)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / sub).mkdir()
    main = tmp_path / "nginx.conf"
    main.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"worker_processes 1;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        + "http {\n  access_log off;\n"
        + "".join(f"  {sub}_temp_path {tmp_path}/{sub};\n" for sub in ("proxy", "fastcgi", "uwsgi", "scgi"))
        + f"  client_body_temp_path {tmp_path}/body;\n  include {tmp_path}/dagster.conf;\n}}\n"
    )
    assert NGINX is not None
    check = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(main)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    server = subprocess.Popen(
        [NGINX, "-p", str(tmp_path), "-c", str(main), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline, "nginx did not open its port"
            time.sleep(0.1)
        yield port, secrets / "ui.crt"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def _get(port: int, ca: Path, path: str = "/", user: str | None = None, password: str = "") -> tuple[int, bytes]:
    context = ssl.create_default_context(cafile=str(ca))  # the proxy's own certificate, checked for "localhost"
    request = urllib.request.Request(f"https://localhost:{port}{path}")
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_no_page_without_the_password(proxy: tuple[int, Path], upstream) -> None:
    port, ca = proxy
    _, seen = upstream
    seen.clear()
    for path in ("/", "/graphql", "/runs", "/server_info"):
        status, _ = _get(port, ca, path)
        assert status == 401, path
    assert _get(port, ca, "/../server_info")[0] in (400, 401)  # nginx refuses to climb above the root
    assert _get(port, ca, "/", "steward", "wrong password")[0] == 401
    assert _get(port, ca, "/", "someone-else", PASSWORD)[0] == 401
    assert seen == [], "nothing reached the webserver without a valid login"


def test_the_login_reaches_the_ui_and_the_password_stays_at_the_proxy(proxy: tuple[int, Path], upstream) -> None:
    port, ca = proxy
    _, seen = upstream
    seen.clear()
    status, body = _get(port, ca, "/", "steward", PASSWORD)
    assert status == 200 and body == b"dagster webserver"
    (headers,) = seen
    assert "authorization" not in headers
    assert headers["x-forwarded-proto"] == "https"


def test_plain_http_is_not_served(proxy: tuple[int, Path], upstream) -> None:
    port, _ = proxy
    _, seen = upstream
    seen.clear()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            status = response.status
    except urllib.error.HTTPError as err:
        status = err.code
    assert status == 400  # nginx: "The plain HTTP request was sent to HTTPS port"
    assert seen == []
