"""DICOMweb behind the nginx of infra/ (infra/nginx/services.conf), run for real: TLS only, the bearer token
passes through, answers name the https address, and the health check needs no token."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import requests
import requests.adapters
from dicomweb_client.api import DICOMwebClient
from service_harness import free_port, running

from radlake.config import Settings
from services import create_app, issue_token

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(NGINX is None, reason="needs nginx (make sysdeps installs nginx-light)"),
]


def _nginx(tmp: Path, upstream: int) -> tuple[subprocess.Popen, int, Path]:
    script = tmp / "make-ui-secrets.sh"
    shutil.copy(ROOT / "infra" / "compose" / "make-ui-secrets.sh", script)
    env = {**os.environ, "RADLAKE_UI_PASSWORD": "not used by the services"}
    subprocess.run(["bash", str(script), "steward", "localhost"], env=env, check=True, capture_output=True, timeout=120)
    secrets = tmp / "secrets"
    port = free_port()
    conf = (ROOT / "infra" / "nginx" / "services.conf").read_text()
    for old, new in {
        "/run/secrets/ui_tls_cert": str(secrets / "ui.crt"),
        "/run/secrets/ui_tls_key": str(secrets / "ui.key"),
        "http://data-services:8080": f"http://127.0.0.1:{upstream}",
        "listen 8444 ssl;": f"listen 127.0.0.1:{port} ssl;",
    }.items():
        assert old in conf, f"services.conf no longer has {old!r}"
        conf = conf.replace(old, new)
    (tmp / "services.conf").write_text(conf)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / sub).mkdir()
    main = tmp / "nginx.conf"
    main.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"worker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\nevents {{}}\n"
        + "http {\n  access_log off;\n"
        + "".join(f"  {sub}_temp_path {tmp}/{sub};\n" for sub in ("proxy", "fastcgi", "uwsgi", "scgi"))
        + f"  client_body_temp_path {tmp}/body;\n  include {tmp}/services.conf;\n}}\n"
    )
    assert NGINX is not None
    server = subprocess.Popen([NGINX, "-p", str(tmp), "-c", str(main), "-g", "daemon off;"], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return server, port, secrets / "ui.crt"
        assert server.poll() is None and time.monotonic() < deadline, "nginx did not start"
        time.sleep(0.1)


class _Trusting(requests.adapters.HTTPAdapter):
    """Trusts one self-signed certificate (what make-ui-secrets.sh makes), through Python's ssl like a browser."""

    def __init__(self, ca: Path) -> None:
        self._context = ssl.create_default_context(cafile=str(ca))
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)


def test_dicomweb_through_the_tls_proxy(dicomweb_lake, dicomweb_settings: Settings, tmp_path: Path) -> None:
    token = issue_token(dicomweb_settings, "group")
    with running(create_app(dicomweb_settings)) as base:
        upstream = int(base.rsplit(":", 1)[1])
        server, port, ca = _nginx(tmp_path, upstream)
        try:
            session = requests.Session()
            session.mount("https://", _Trusting(ca))  # the proxy's own certificate, checked for "localhost"
            root = f"https://localhost:{port}"
            assert session.get(f"{root}/health").json() == {"status": "ok"}
            assert session.get(f"{root}/spaces/group/dicomweb/studies").status_code == 401
            assert session.get(f"{root}/admin").status_code == 404
            client = DICOMwebClient(
                f"{root}/spaces/group/dicomweb", headers={"Authorization": f"Bearer {token}"}, session=session
            )
            studies = client.search_for_studies(limit=3)
            assert len(studies) == 3
            url = studies[0]["00081190"]["Value"][0]
            assert url.startswith(f"https://localhost:{port}/spaces/group/dicomweb/studies/")
            with pytest.raises(requests.exceptions.SSLError):
                requests.get(f"{root}/health", timeout=10)  # an unknown certificate is refused by the client
        finally:
            server.terminate()
            server.wait(timeout=10)
