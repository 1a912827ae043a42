"""The stewards' quality report: offline GX Data Docs plus a one-page summary with trends and failing rows."""

from __future__ import annotations

import json
import os
import threading
from collections import defaultdict
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from expectations.failing_rows import failing_dir, read_samples
from expectations.offline_docs import make_offline
from radlake.config import Settings
from radlake.private import stewards_folder

TREND_RUNS = 20
"""Runs per suite the summary's trend shows."""

LAYER_ORDER = {"bronze": 0, "silver": 1, "gold": 2}


def data_docs_site(settings: Settings) -> Path:
    """The GX Data Docs site folder (its ``index.html`` is the Data Docs home)."""
    return settings.quality_dir / "gx" / "gx" / "uncommitted" / "data_docs" / "local_site"


def summary_path(settings: Settings) -> Path:
    """The one-page summary: ``<quality_dir>/index.html``."""
    return settings.quality_dir / "index.html"


def read_history(settings: Settings) -> list[dict[str, Any]]:
    """Every recorded suite result (oldest first); unreadable lines are skipped (a run killed mid-write)."""
    path = settings.quality_dir / "history.jsonl"
    if not path.is_file():
        return []
    runs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            runs.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return runs


def _verdict(run: dict[str, Any]) -> str:
    if run.get("success"):
        return "pass"
    return "fail" if run.get("blocking") else "warn"


def _trend_svg(runs: list[dict[str, Any]]) -> str:
    """Small squares, oldest left: green passed, amber failed on warnings only, red failed a critical one."""
    colours = {"pass": "#2e7d32", "warn": "#f9a825", "fail": "#c62828"}
    cells = []
    for i, run in enumerate(runs):
        verdict = _verdict(run)
        failed = sum(1 for o in run.get("outcomes", []) if not o.get("success"))
        title = f"{run.get('run_at', '')}: {verdict}, {failed} failed expectation(s), {run.get('rows', 0)} rows"
        cells.append(
            f'<rect x="{i * 12}" y="0" width="10" height="14" rx="2" fill="{colours[verdict]}">'
            f"<title>{escape(title)}</title></rect>"
        )
    width = max(12 * len(runs), 12)
    return f'<svg class="trend" width="{width}" height="14" role="img" aria-label="trend">{"".join(cells)}</svg>'


def render_summary(
    history: list[dict[str, Any]],
    failing: dict[str, list[tuple[str, str, int]]],
    *,
    docs_href: str | None,
    generated_at: str,
) -> str:
    """The summary page (pure: history and sample links in, HTML out; no external resources).

    Parameters
    ----------
    history
        Suite results as recorded in history.jsonl, oldest first.
    failing
        Suite name → (label, relative href, rows) of its failing-row CSVs.
    docs_href
        Relative link to the Data Docs home, None when there are none.
    generated_at
        Timestamp shown in the header.
    """
    by_suite: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in history:
        by_suite[run["suite"]].append(run)
    latest = {name: runs[-1] for name, runs in by_suite.items()}
    order = sorted(latest, key=lambda n: (LAYER_ORDER.get(latest[n].get("layer", ""), 9), n))
    counts = {"pass": 0, "warn": 0, "fail": 0}
    for run in latest.values():
        counts[_verdict(run)] += 1

    rows = []
    for name in order:
        run = latest[name]
        verdict = _verdict(run)
        label = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}[verdict]
        failed = [o for o in run.get("outcomes", []) if not o.get("success")]
        items = []
        for o in failed:
            what = f"{o['expectation'].removeprefix('expect_')}"
            if o.get("column"):
                what += f" ({o['column']})"
            n = o.get("unexpected_count")
            count = f", {n} rows" if n is not None else ""
            severity = escape(o["severity"])
            items.append(f"<li><span class='sev {severity}'>{severity}</span> {escape(what)}{count}</li>")
        links = [
            f"<li><a href='{escape(href)}'>{escape(text)}</a> ({rows_n} rows)</li>"
            for text, href, rows_n in failing.get(name, [])
        ]
        details = ""
        if items:
            details += f"<ul class='failed'>{''.join(items)}</ul>"
        if links:
            details += f"<div class='rows'>Failing rows:<ul>{''.join(links)}</ul></div>"
        runs = by_suite[name][-TREND_RUNS:]
        failures = sum(1 for r in runs if not r.get("success"))
        rows.append(
            "<tr>"
            f"<td><span class='verdict {verdict}'>{label}</span></td>"
            f"<td><b>{escape(name)}</b><div class='muted'>{escape(run.get('table', ''))}</div></td>"
            f"<td>{escape(run.get('layer', ''))}</td>"
            f"<td class='num'>{int(run.get('rows', 0)):,}</td>"
            f"<td>{escape(run.get('run_at', ''))}</td>"
            f"<td>{_trend_svg(runs)}<div class='muted'>{failures} of the last {len(runs)} runs failed</div></td>"
            f"<td>{details or '—'}</td>"
            "</tr>"
        )
    docs = (
        f"<a href='{escape(docs_href)}'>Great Expectations Data Docs</a> (every validation in detail)"
        if docs_href
        else ""
    )
    body = (
        "<table><thead><tr><th>verdict</th><th>suite</th><th>layer</th><th>rows</th><th>last run (UTC)</th>"
        "<th>trend (oldest → newest)</th><th>failed expectations</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        if rows
        else "<p>No suite has run yet: <code>radlake quality run</code>.</p>"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>radlake quality report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, "Noto Sans CJK SC", sans-serif; margin: 24px; color: #1b1b1b; }}
h1 {{ margin: 0 0 4px 0; font-size: 24px; }}
.muted {{ color: #666; font-size: 12px; }}
.totals span {{ display: inline-block; margin-right: 16px; font-weight: 600; }}
table {{ border-collapse: collapse; width: 100%; margin-top: 16px; font-size: 14px; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 8px; text-align: left; vertical-align: top; }}
th {{ background: #f3f4f6; }}
td.num {{ text-align: right; }}
.verdict {{ padding: 2px 8px; border-radius: 4px; color: white; font-weight: 700; }}
.verdict.pass {{ background: #2e7d32; }} .verdict.warn {{ background: #f9a825; color: #1b1b1b; }}
.verdict.fail {{ background: #c62828; }}
.sev {{ font-size: 11px; padding: 1px 4px; border-radius: 3px; background: #eee; }}
.sev.critical {{ background: #fdecea; color: #c62828; }} .sev.warning {{ background: #fff8e1; color: #8d6e00; }}
ul {{ margin: 4px 0; padding-left: 18px; }}
</style></head>
<body>
<h1>radlake quality report</h1>
<div class="muted">Generated {escape(generated_at)} · latest result of each suite, trend from history.jsonl</div>
<p class="totals"><span>{counts["pass"]} passed</span><span>{counts["warn"]} failed (warnings only)</span>
<span>{counts["fail"]} failed (blocking)</span></p>
<p>{docs}</p>
{body}
</body></html>
"""


def write_report(settings: Settings) -> Path:
    """Make the Data Docs offline and (re)write the summary page; returns the summary's path."""
    site = data_docs_site(settings)
    make_offline(site)
    stewards_folder(settings)
    quality = settings.quality_dir
    quality.mkdir(parents=True, exist_ok=True)
    history = read_history(settings)
    failing: dict[str, list[tuple[str, str, int]]] = {}
    for name in {run["suite"] for run in history}:
        folder = failing_dir(settings, name)
        failing[name] = [
            (Path(s["file"]).stem, (folder / s["file"]).relative_to(quality).as_posix(), int(s["rows"]))
            for s in read_samples(settings, name)
        ]
    docs_href = (site / "index.html").relative_to(quality).as_posix() if (site / "index.html").is_file() else None
    html = render_summary(
        history, failing, docs_href=docs_href, generated_at=datetime.now(UTC).isoformat(timespec="seconds")
    )
    target = summary_path(settings)
    # One temporary file per writer: checks running in parallel processes each replace the page whole.
    tmp = target.with_suffix(f".html.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(target)
    return target
