"""infra/nginx: the Dagster UI's proxy, run for real: no page without the password, and the password stays there.

nginx runs the repository's config (secret paths, upstream and port pointed at a temporary folder, a loopback
stand-in for the Dagster webserver and a free port); the secrets come from infra/compose/make-ui-secrets.sh.
"""

from __future__ import annotations

import base64
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from ui_proxy_server import NGINX, PASSWORD, run_proxy

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(NGINX is None, reason="needs nginx (apt-get install nginx-light; make sysdeps installs it)"),
]


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

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.do_GET()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def proxy(
    tmp_path_factory: pytest.TempPathFactory, upstream: tuple[int, list[dict[str, str]]]
) -> Iterator[tuple[int, Path]]:
    """nginx with the repository's dagster.conf; yields its port and the CA file to trust."""
    up_port, _ = upstream
    folder = tmp_path_factory.mktemp("ui-proxy")
    with run_proxy(folder, f"http://127.0.0.1:{up_port}") as (port, ca):
        secrets = ca.parent
        assert (secrets.stat().st_mode & 0o777) == 0o700
        assert (secrets / "ui.key").stat().st_mode & 0o077 == 0, "the TLS key is readable by its owner only"
        htpasswd = (secrets / "ui.htpasswd").read_text()
        assert htpasswd.startswith("steward:$6$") and PASSWORD not in htpasswd
        yield port, ca


def _request(
    port: int,
    ca: Path,
    path: str = "/",
    user: str | None = None,
    password: str = "",
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes, dict[str, str]]:
    context = ssl.create_default_context(cafile=str(ca))  # the proxy's own certificate, checked for "localhost"
    data = b"{}" if method == "POST" else None
    request = urllib.request.Request(f"https://localhost:{port}{path}", data=data, method=method)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, response.read(), {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as err:
        return err.code, err.read(), {k.lower(): v for k, v in err.headers.items()}


def _get(port: int, ca: Path, path: str = "/", user: str | None = None, password: str = "") -> tuple[int, bytes]:
    status, body, _ = _request(port, ca, path, user, password)
    return status, body


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


def test_requests_from_other_sites_are_refused_before_the_password(proxy: tuple[int, Path], upstream) -> None:
    port, ca = proxy
    _, seen = upstream
    me = f"https://localhost:{port}"
    login = {"user": "steward", "password": PASSWORD}
    mutation = "/graphql?query=mutation%7BstartSensor%7D"
    refused = [
        # Another site's page posting (a form as text/plain), with the browser's cached password.
        ("POST", mutation, {"Origin": "https://evil.example", "Content-Type": "text/plain"}),
        ("POST", "/graphql", {"Origin": "null"}),  # a sandboxed frame or a data: page
        ("POST", "/graphql", {"Origin": f"https://localhost:{port}.evil.example"}),
        ("POST", "/graphql", {"Origin": f"http://localhost:{port}"}),  # not the TLS origin
        ("POST", "/report_asset_materialization/x", {"Origin": "https://evil.example"}),
        ("POST", "/graphql", {"Referer": "https://evil.example/page"}),
        # GETs that would run ?query=mutation: an <img> (foreign Referer), or one with no Referer at all.
        ("GET", mutation, {"Referer": "https://evil.example/page"}),
        ("GET", mutation, {}),
        ("GET", "/graphql", {"Origin": "https://evil.example", "Upgrade": "websocket", "Connection": "Upgrade"}),
    ]
    seen.clear()
    for method, path, headers in refused:
        status, _, _ = _request(port, ca, path, **login, method=method, headers=headers)
        assert status == 403, (method, path, headers)
    assert seen == [], "a cross-site request reached the webserver"
    allowed = [
        ("POST", "/graphql", {"Origin": me, "Content-Type": "application/json"}),  # the UI itself
        ("POST", "/graphql", {"Referer": f"{me}/runs"}),
        ("POST", "/graphql", {}),  # a script with the password (no browser: no Origin, no Referer)
        ("GET", "/runs", {"Referer": "https://wiki.hospital.example/radlake"}),  # a link from another site
        ("GET", "/graphql", {}),  # GraphiQL's page
    ]
    for method, path, headers in allowed:
        status, _, _ = _request(port, ca, path, **login, method=method, headers=headers)
        assert status == 200, (method, path, headers)
    assert len(seen) == len(allowed)


def test_security_headers(proxy: tuple[int, Path]) -> None:
    port, ca = proxy
    for user in (None, "steward"):  # on the login challenge as on every page
        _, _, headers = _request(port, ca, "/", user, PASSWORD)
        csp = headers["content-security-policy"]
        for directive in ("default-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "object-src 'none'"):
            assert directive in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["strict-transport-security"].startswith("max-age=")
        assert headers["cross-origin-opener-policy"] == "same-origin"


def test_password_guessing_is_rate_limited(tmp_path: Path, upstream) -> None:
    """Guesses past the burst get 429 before the password is checked; the right password works again soon."""
    import http.client

    up_port, _ = upstream
    with run_proxy(tmp_path, f"http://127.0.0.1:{up_port}") as (port, ca):
        context = ssl.create_default_context(cafile=str(ca))
        conn = http.client.HTTPSConnection("localhost", port, context=context, timeout=10)
        statuses: list[int] = []
        started = time.monotonic()
        for n in range(400):
            token = base64.b64encode(f"steward:guess{n}".encode()).decode()
            conn.request("GET", "/", headers={"Authorization": f"Basic {token}"})
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
        elapsed = time.monotonic() - started
        conn.close()
        checked = statuses.count(401)
        assert set(statuses) <= {401, 429} and statuses.count(429) > 0
        # The burst (200) and 10 a second for the time the guessing took, with one second of slack.
        assert checked <= 200 + 10 * (elapsed + 1), (checked, elapsed)
        time.sleep(0.3)
        assert _get(port, ca, "/", "steward", PASSWORD)[0] == 200
