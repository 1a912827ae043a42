"""Script payloads for every text field a page can show, and the checks that none of them ran or stayed raw."""

from __future__ import annotations

from pathlib import Path

from tests.quality.cdp import Browser

MARK = "__radlake_pwned"
"""The global every payload sets when it runs."""

PAYLOADS = (
    f"<script>window.{MARK}=1;document.title='PWNED'</script>",
    f'"><img src=x onerror="window.{MARK}=2">',
    f"'><svg onload=window.{MARK}=3>",
    f"javascript:window.{MARK}=4",
    f"</script><script>window.{MARK}=5</script>",
    f'<iframe srcdoc="<script>parent.{MARK}=6</script>"></iframe>',
    f"{{{{7*7}}}}<b onmouseover=window.{MARK}=7>x</b>",
)
"""Payloads: a script element, attribute break-outs, a javascript: URL, a script-context break-out, template syntax.
Each holds a marker a raw-HTML scan can find."""

RAW_MARKERS = (
    "<script>window.",
    "<img src=x onerror",
    "<svg onload",
    "</script><script>",
    "<iframe srcdoc",
    "<b onmouseover",
)
"""Substrings that appear in a file only when a payload was written unescaped into HTML."""


def payload(i: int) -> str:
    """The i-th payload (cycling)."""
    return PAYLOADS[i % len(PAYLOADS)]


def raw_payloads(html: str) -> list[str]:
    """Payload fragments found unescaped in an HTML text."""
    return [m for m in RAW_MARKERS if m in html]


def assert_no_payload_ran(browser: Browser, page: Path, ready: str = "document.readyState === 'complete'") -> None:
    """Open the page (network blocked) and check that no payload set its marker or changed the title."""
    browser.open(page, ready=ready)
    ran = browser.evaluate(f"[window.{MARK} || null, document.title]")
    assert ran[0] is None, f"a payload ran in {page}: marker {ran[0]}"
    assert "PWNED" not in ran[1], f"a payload ran in {page}: title {ran[1]!r}"
