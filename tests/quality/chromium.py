"""Headless Chromium (Debian's ``chromium``): screenshots and rendered DOMs of local pages, offline."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def chromium() -> str | None:
    """The browser's executable, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    exe = chromium()
    assert exe, "chromium is not installed (Debian package chromium; make sysdeps)"
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        return subprocess.run(
            [exe, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def dump_dom(page: Path) -> str:
    """The page's DOM after its scripts ran."""
    proc = _run(page, "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def screenshot(page: Path, target: Path, size: str = "1280,1600") -> Path:
    """A PNG of the rendered page."""
    target.parent.mkdir(parents=True, exist_ok=True)
    proc = _run(page, f"--screenshot={target}", f"--window-size={size}")
    assert proc.returncode == 0 and target.is_file(), proc.stderr[-2000:]
    return target
