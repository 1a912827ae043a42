"""Headless Chromium driven over the DevTools protocol (``--remote-debugging-pipe``, standard library only).

Tests load local pages with every network scheme blocked, read console errors and uncaught exceptions, run
JavaScript in the page (to read a global a payload would set, or to change a filter), and take screenshots.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.quality.chromium import FLAGS, chromium

BLOCKED = ["http://*", "https://*", "ws://*", "wss://*", "ftp://*"]


@dataclass
class PageLog:
    """What happened while a page was open: console errors, uncaught exceptions, and every request's URL."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class Browser:
    """One headless Chromium with one tab; use as a context manager."""

    def __init__(self, *, loopback: bool = False, flags: tuple[str, ...] = ()) -> None:
        """``loopback``: let pages reach servers on 127.0.0.1/localhost (nothing else: every other address goes
        to a proxy on a closed port); ``flags``: more command-line switches."""
        exe = chromium()
        assert exe, "chromium is not installed (Debian package chromium; make sysdeps)"
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-cdp-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire() -> None:  # the browser reads commands on fd 3 and writes replies on fd 4
            # Through fresh copies: the pipe ends may themselves be fds 3 or 4 (dup2 onto itself keeps them
            # non-inheritable), and one must not overwrite the other.
            read_end, write_end = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self._proc = subprocess.Popen(
            [
                exe,
                *FLAGS,
                "--remote-debugging-pipe",
                f"--user-data-dir={self._profile.name}",
                # Anything that escapes the blocked-URL list still goes nowhere: a proxy on a closed port.
                "--proxy-server=http://127.0.0.1:9",
                *(() if loopback else ("--proxy-bypass-list=<-loopback>",)),
                *flags,
                "about:blank",
            ],
            preexec_fn=wire,
            close_fds=False,  # would close fds 3 and 4 after wire(); Python's own fds are not inheritable anyway
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=True)
        self.send("Network.setBlockedURLs", {"urls": [] if loopback else BLOCKED}, session=True)
        self.log = PageLog()

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_browser, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self._cond:
                    if "id" in msg:
                        self._replies[msg["id"]] = msg
                    else:
                        self._events.append(msg)
                    self._cond.notify_all()

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: bool = False) -> dict[str, Any]:
        """Send one command and wait (30 s at most) for its reply's result."""
        self._next += 1
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + 30
        with self._cond:
            while self._next not in self._replies:
                left = deadline - time.monotonic()
                assert left > 0, f"no reply to {method}"
                self._cond.wait(left)
            reply = self._replies.pop(self._next)
        assert "error" not in reply, f"{method}: {reply['error']}"
        return dict(reply.get("result", {}))

    def _drain(self) -> None:
        with self._cond:
            events, self._events = self._events, []
        for ev in events:
            method, p = ev.get("method"), ev.get("params", {})
            if method == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                self.log.errors.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
            elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                self.log.errors.append(
                    "console: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"])
                )
            elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
                self.log.errors.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
            elif method == "Network.requestWillBeSent":
                self.log.requests.append(p["request"]["url"])
            elif method == "Network.loadingFailed":
                self.log.failed.append(f"{p.get('errorText')} {p.get('blockedReason', '')}")

    def open(
        self,
        page: Path | str,
        *,
        ready: str = "document.readyState === 'complete'",
        timeout: float = 30,
        fragment: str = "",
    ) -> PageLog:
        """Load a local page or a URL (with ``#fragment``) and wait until ``ready`` (JavaScript) is true; returns
        its log."""
        self._drain()
        self.log = PageLog()
        url = page if isinstance(page, str) else page.resolve().as_uri()
        url += f"#{fragment}" if fragment else ""
        self.send("Page.navigate", {"url": url}, session=True)
        self.wait(ready, timeout)
        return self.log

    def goto(self, url: str, *, ready: str = "document.readyState === 'complete'", timeout: float = 30) -> PageLog:
        """Load a URL (a local service's page) and wait until ``ready``; returns its log."""
        return self.open(url, ready=ready, timeout=timeout)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serialisable values only)."""
        reply = self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}, session=True
        )
        assert "exceptionDetails" not in reply, reply["exceptionDetails"]
        self._drain()
        return reply["result"].get("value")

    def wait(self, expression: str, timeout: float = 30) -> Any:
        """Poll ``expression`` until it is truthy (or fail after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.evaluate(expression)
            except AssertionError:
                value = None  # the page is between documents
            if value:
                return value
            assert time.monotonic() < deadline, f"timed out waiting for {expression}"
            time.sleep(0.05)

    def screenshot(self, target: Path, width: int = 1400) -> Path:
        """A PNG of the whole page."""
        height = int(self.evaluate("Math.ceil(document.documentElement.scrollHeight)") or 900)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": min(max(height, 600), 6000), "deviceScaleFactor": 1, "mobile": False},
            session=True,
        )
        self.evaluate("window.dispatchEvent(new Event('resize')), true")
        # Two animation frames: the charts have redrawn at the new size.
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))")
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(data["data"]))
        return target

    def close(self) -> None:
        """Stop the browser and its reader."""
        with contextlib.suppress(AssertionError, OSError):
            self.send("Browser.close")
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        self._profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
