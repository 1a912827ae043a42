"""The stewards' console: data problems by institution and device, red/amber/green, trends over builds."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from radlake.config import Settings
from radlake.private import stewards_folder


@dataclass(frozen=True)
class Problem:
    """A kind of data problem: how many per institution (and device), out of what base, and where to act.

    ``by_institution`` returns ``institution, date, problems, base`` (base null: the threshold is on the
    count); ``by_device`` returns ``institution, date, device, problems``. ``date`` names their day or month
    column (``date_grain``), so the page's date range filters every tile and table (every problem's mart keeps
    a date). ``worklist`` names where a steward finds the rows:
    a table of the stewards' warehouse file or a command.
    """

    id: str
    by_institution: str
    by_device: str | None
    worklist: str
    date: str
    date_grain: str = "day"


UNLINKED = "(unlinked)"
"""The institution of studies linked to no order, as the marts name it (one spelling everywhere)."""

_OPEN_NAMES = """with total as (
    select exam_date, institution, sum(exam_count) as exams from exam_volume_daily group by exam_date, institution
),
open_names as (
    select exam_date, institution, sum(exam_count) filter (where {condition}) as problems
    from exam_volume_by_item_daily
    where standard_code is null
    group by exam_date, institution
)
select total.institution, total.exam_date, coalesce(open_names.problems, 0) as problems, total.exams as base
from total left join open_names
    on open_names.institution = total.institution and open_names.exam_date = total.exam_date
order by total.institution, total.exam_date"""

PROBLEMS: tuple[Problem, ...] = (
    Problem(
        "unmapped_exam_names",
        _OPEN_NAMES.format(condition="mapping_status not in ('matched', 'review')"),
        None,
        "radlake standardize review export",
        date="exam_date",
    ),
    Problem(
        "review_exam_names",
        _OPEN_NAMES.format(condition="mapping_status = 'review'"),
        None,
        "radlake standardize review export",
        date="exam_date",
    ),
    Problem(
        "timeliness_breaches",
        """select institution, exam_date, sum(late) + sum(missing) as problems, sum(exams) - sum(pending) as base
from report_timeliness_daily
group by institution, exam_date
order by institution, exam_date""",
        """select institution, exam_date, coalesce(device_station, '—') as device, count(*) as problems
from report_timeliness
where timeliness in ('late', 'missing')
group by institution, exam_date, device
order by institution, exam_date, device""",
        "report_timeliness_breaches",
        date="exam_date",
    ),
    Problem(
        "missing_header_fields",
        """select institution, study_date, sum(instances) - sum(instances_present) as problems,
    sum(instances) as base
from dicom_header_completeness
group by institution, study_date
order by institution, study_date""",
        """select institution, study_date, coalesce(station_name, '—') as device,
    sum(instances) - sum(instances_present) as problems
from dicom_header_completeness
group by institution, study_date, device
having sum(instances) > sum(instances_present)
order by institution, study_date, device""",
        "dicom_header_completeness",
        date="study_date",
    ),
    Problem(
        "rule_violations",
        # Months on both sides: the base (studies) is kept by study month.
        f"""with violations as (
    select coalesce(institution, '{UNLINKED}') as institution,
        cast(date_trunc('month', study_date) as date) as study_month, count(*) as problems
    from acquisition_rule_violations group by 1, 2
),
studies as (
    select institution, study_month, sum(studies) as base from data_assets_monthly group by institution, study_month
)
select studies.institution, studies.study_month, coalesce(violations.problems, 0) as problems, studies.base
from studies left join violations
    on violations.institution = studies.institution and violations.study_month is not distinct from studies.study_month
order by studies.institution, studies.study_month""",
        f"""select coalesce(institution, '{UNLINKED}') as institution,
    cast(date_trunc('month', study_date) as date) as study_month, coalesce(station_name, '—') as device,
    count(*) as problems
from acquisition_rule_violations
group by 1, 2, 3
order by 1, 2, 3""",
        "acquisition_rule_violations",
        date="study_month",
        date_grain="month",
    ),
    Problem(
        "exams_without_images",
        """select institution, exam_date, sum(exams_without_images) as problems, sum(performed_exams) as base
from link_quality_summary
group by institution, exam_date
order by institution, exam_date""",
        None,
        "link_quality_exams_without_images",
        date="exam_date",
    ),
    Problem(
        "orphan_studies",
        # Studies linked to no order count under (unlinked) in data_assets_monthly (the list is the stewards').
        f"""select '{UNLINKED}' as institution, study_month,
    coalesce(sum(studies) filter (where institution = '{UNLINKED}'), 0) as problems, sum(studies) as base
from data_assets_monthly
group by study_month
order by study_month""",
        None,
        "link_quality_orphan_studies",
        date="study_month",
        date_grain="month",
    ),
    Problem(
        "patient_candidates",
        # A record counts on the day of its latest exam (link_quality_summary).
        """select institution, exam_date, sum(records_with_several_empi_ids) as problems,
    cast(null as bigint) as base
from link_quality_summary
group by institution, exam_date
order by institution, exam_date""",
        None,
        "link_quality_patient_candidates",
        date="exam_date",
    ),
)
"""The problems on the console, in display order (their thresholds: ``ui.thresholds`` in radlake.yaml)."""


def history_path(settings: Settings) -> Path:
    """Problem counts of every build whose counts differed from the build before (one JSON line per build)."""
    return settings.quality_dir / "console_history.jsonl"


def record_history(settings: Settings, rows: list[dict[str, Any]], built_at: str) -> list[dict[str, Any]]:
    """Append this build's counts unless they equal the last recorded ones; returns the whole history.

    A rebuild over an unchanged warehouse records nothing, so the trend shows changes of the data, not how often
    the dashboards were built.
    """
    path = history_path(settings)
    digest = hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()
    history: list[dict[str, Any]] = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                history.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a build killed mid-write
    if history and history[-1].get("digest") == digest:
        return history
    entry = {"built_at": built_at, "digest": digest, "rows": rows}
    stewards_folder(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
    return [*history, entry]


def trend_rows(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """History flattened for the trend chart: one row per build × problem × institution."""
    out = []
    for entry in history:
        built = str(entry.get("built_at", ""))
        for row in entry.get("rows", []):
            out.append(
                {
                    "built_at": built[:16].replace("T", " "),
                    "build_date": built[:10],
                    "institution": row.get("institution"),
                    "problem": row.get("problem"),
                    "problems": row.get("problems"),
                }
            )
    return out


def suite_verdicts(settings: Settings) -> list[tuple[str, str, str]]:
    """(suite, verdict, last run) of each quality suite's latest result in ``history.jsonl``."""
    path = settings.quality_dir / "history.jsonl"
    latest: dict[str, dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                run = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(run, dict) and "suite" in run:
                latest[str(run["suite"])] = run
    out = []
    for name in sorted(latest):
        run = latest[name]
        verdict = "green" if run.get("success") else "red" if run.get("blocking") else "amber"
        out.append((name, verdict, str(run.get("run_at", ""))))
    return out


def console_config(settings: Settings) -> dict[str, Any]:
    """What dashboard.js needs to draw the tiles and tables: each problem's date column and thresholds."""
    return {
        "problems": [
            {
                "id": p.id,
                "date": p.date,
                "date_grain": p.date_grain,
                "devices": p.by_device is not None,
                "amber": settings.ui.thresholds[p.id].amber,
                "red": settings.ui.thresholds[p.id].red,
            }
            for p in PROBLEMS
        ]
    }


def data_ids(with_top_names: bool) -> list[str]:
    """The data files the console page loads (``data/<id>.js``) besides its trend."""
    ids = []
    for p in PROBLEMS:
        ids.append(f"console_{p.id}")
        if p.by_device:
            ids.append(f"console_{p.id}_devices")
    return ids + (["console_top_raw_names"] if with_top_names else [])


def render_console(
    settings: Settings,
    labels: dict[str, str],
    *,
    with_top_names: bool,
    quality_href: str | None,
    lagging: dict[str, str] | None = None,
    routing: dict[str, dict[str, float]] | None = None,
) -> str:
    """The console's frame: tiles, institution and device tables, top raw names, suite verdicts; text escaped.

    The numbers are drawn by dashboard.js from the console's data files, through the page's institution and
    date filters.
    ``lagging``: sources whose last sync did not catch up (source → why); shown first, as a red banner.
    ``routing``: the routing queue per destination (waiting, oldest_waiting_seconds, sent, dead), as the caller
    read it from audit/routing_queue; a destination with dead letters is marked red.
    """
    colour_word = {c: labels[c] for c in ("green", "amber", "red")}
    tiles = []
    stewards_file = Path(settings.stewards_warehouse_path).name
    for problem in PROBLEMS:
        if problem.worklist.startswith("radlake "):
            where = f"<code>{escape(problem.worklist)}</code>"
        else:
            target = f"{stewards_file} → {problem.worklist}"
            where = f"{escape(labels['stewards_file'])}: <code>{escape(target)}</code>"
        sample = f" · <a href='{escape(quality_href)}'>{escape(labels['quality_report'])}</a>" if quality_href else ""
        tiles.append(
            f"<div class='tile' id='tile-{escape(problem.id)}'>"
            f"<div>{escape(labels['problem_' + problem.id])}</div>"
            f"<div class='n'><span class='count'>—</span><span class='muted share'></span></div>"
            f"<div><span class='rag'></span></div>"
            f"<div class='muted'>{where}{sample}</div></div>"
        )
    head_inst = "".join(
        f"<th>{escape(labels[k])}</th>" for k in ("problem", "institution", "count", "base", "share", "status")
    )
    head_dev = "".join(f"<th>{escape(labels[k])}</th>" for k in ("problem", "institution", "device", "count"))
    names = ""
    if with_top_names:
        names = (
            f"<section class='card wide'><h2>{escape(labels['top_raw_names'])}</h2><table id='top-raw-names'><thead>"
            f"<tr><th>{escape(labels['institution'])}</th><th>{escape(labels['raw_name'])}</th>"
            f"<th>{escape(labels['status'])}</th><th>{escape(labels['exams'])}</th></tr></thead><tbody></tbody>"
            f"</table><p class='src'><a href='data/console_top_raw_names.json'>{escape(labels['source'])}</a>"
            f"<span class='muted'> · {escape(labels['date_ignored'])}</span></p></section>"
        )
    suites = "".join(
        f"<tr><td>{escape(name)}</td><td><span class='rag {v}'>{escape(colour_word[v])}</span></td>"
        f"<td>{escape(at)}</td></tr>"
        for name, v, at in suite_verdicts(settings)
    )
    suites_card = (
        f"<section class='card'><h2>{escape(labels['suites'])}</h2><table><tbody>{suites}</tbody></table>"
        f"<p class='src'>{escape(labels['whole_lake'])}"
        + (f" · <a href='{escape(quality_href)}'>{escape(labels['quality_report'])}</a>" if quality_href else "")
        + "</p></section>"
        if suites
        else ""
    )
    banner = ""
    if lagging:
        items = "".join(f"<li><b>{escape(src)}</b>: {escape(why)}</li>" for src, why in sorted(lagging.items()))
        banner = (
            f"<section class='card lagging' id='lagging'><h2>{escape(labels['lagging'])}</h2><ul>{items}</ul></section>"
        )
    return (
        f"{banner}<p class='muted'>{escape(labels['console_intro'])}</p><div class='tiles'>{''.join(tiles)}</div>"
        f"<div class='grid'><section class='card wide'><h2>{escape(labels['problem'])} · "
        f"{escape(labels['by_institution'])}</h2><table id='problems-by-institution'><thead><tr>{head_inst}</tr>"
        f"</thead><tbody></tbody></table></section>"
        f"<section class='card wide'><h2>{escape(labels['problem'])} · {escape(labels['by_device'])}</h2>"
        f"<table id='problems-by-device'><thead><tr>{head_dev}</tr></thead><tbody></tbody>"
        f"</table></section>{names}{suites_card}{routing_card(labels, routing or {})}</div>"
    )


def routing_card(labels: dict[str, str], routing: dict[str, dict[str, float]]) -> str:
    """The routing queue per destination: waiting, oldest waiting, sent, dead-letter (red when any)."""
    if not routing:
        return ""
    keys = ("destination", "routing_waiting", "routing_oldest", "routing_sent", "routing_dead")
    head = "".join(f"<th>{escape(labels[k])}</th>" for k in keys)
    rows = []
    for dest, m in sorted(routing.items()):
        dead = int(m.get("dead", 0))
        mark = f"<span class='rag red'>{dead}</span>" if dead else "0"
        rows.append(
            f"<tr><td>{escape(dest)}</td><td>{int(m.get('waiting', 0))}</td>"
            f"<td>{float(m.get('oldest_waiting_seconds', 0.0)):.0f}</td><td>{int(m.get('sent', 0))}</td>"
            f"<td>{mark}</td></tr>"
        )
    return (
        f"<section class='card wide' id='routing'><h2>{escape(labels['routing_queue'])}</h2>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f"<p class='src'><code>radlake route status</code></p></section>"
    )


def now_utc() -> str:
    """The build time shown and recorded (UTC, seconds)."""
    return datetime.now(UTC).isoformat(timespec="seconds")
