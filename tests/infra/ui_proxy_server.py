"""Run the repository's nginx config for the Dagster UI for real (loopback, a free port, temporary secrets).

The secrets come from infra/compose/make-ui-secrets.sh; the secret paths, upstream and port of
infra/nginx/dagster.conf are pointed at a temporary folder, an upstream of the test's choosing and a free port.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from infra_files import INFRA

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
USER = "steward"
PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_secrets(folder: Path) -> Path:
    """Run make-ui-secrets.sh (a copy, so its secrets/ folder lands in ``folder``) for :data:`USER`."""
    script = folder / "make-ui-secrets.sh"
    shutil.copy(INFRA / "compose" / "make-ui-secrets.sh", script)
    env = {**os.environ, "RADLAKE_UI_PASSWORD": PASSWORD}
    done = subprocess.run(
        ["bash", str(script), USER, "localhost"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return folder / "secrets"


@contextlib.contextmanager
def run_proxy(folder: Path, upstream: str) -> Iterator[tuple[int, Path]]:
    """nginx with the repository's dagster.conf in front of ``upstream``; yields its port and the CA to trust."""
    assert NGINX is not None, "needs nginx (apt-get install nginx-light; make sysdeps installs it)"
    secrets = make_secrets(folder)
    port = free_port()
    conf = (INFRA / "nginx" / "dagster.conf").read_text()
    replacements = {
        "/run/secrets/ui_htpasswd": str(secrets / "ui.htpasswd"),
        "/run/secrets/ui_tls_cert": str(secrets / "ui.crt"),
        "/run/secrets/ui_tls_key": str(secrets / "ui.key"),
        "http://webserver:3000": upstream,
        "listen 8443 ssl;": f"listen 127.0.0.1:{port} ssl;",
    }
    for old, new in replacements.items():
        assert old in conf, f"dagster.conf no longer has {old!r}"
        conf = conf.replace(old, new)
    (folder / "dagster.conf").write_text(conf)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / sub).mkdir()
    main = folder / "nginx.conf"
    main.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\nevents {{}}\n"
        + "http {\n  access_log off;\n"
        + "".join(f"  {sub}_temp_path {folder}/{sub};\n" for sub in ("proxy", "fastcgi", "uwsgi", "scgi"))
        + f"  client_body_temp_path {folder}/body;\n  include {folder}/dagster.conf;\n}}\n"
    )
    check = subprocess.run([NGINX, "-t", "-p", str(folder), "-c", str(main)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    server = subprocess.Popen(
        [NGINX, "-p", str(folder), "-c", str(main), "-g", "daemon off;"],
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
            server.wait(timeout=10)
