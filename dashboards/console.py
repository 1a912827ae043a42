"""The stewards' console: data problems by institution and device, red/amber/green, trends over builds."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from radlake.config import Settings, Threshold
from radlake.private import stewards_folder


@dataclass(frozen=True)
class Problem:
    """A kind of data problem: how many per institution (and device), out of what base, and where to act.

    ``by_institution`` returns ``institution, problems, base`` (base null: the threshold is on the count);
    ``by_device`` returns ``institution, device, problems``. ``worklist`` names where a steward finds the rows:
    a table of the stewards' warehouse file or a command.
    """

    id: str
    by_institution: str
    by_device: str | None
    worklist: str


_OPEN_NAMES = """with total as (
    select institution, sum(exam_count) as exams from exam_volume_daily group by institution
),
open_names as (
    select institution, sum(exam_count) filter (where {condition}) as problems
    from exam_volume_by_item_daily
    where standard_code is null
    group by institution
)
select total.institution, coalesce(open_names.problems, 0) as problems, total.exams as base
from total left join open_names on open_names.institution = total.institution
order by total.institution"""

PROBLEMS: tuple[Problem, ...] = (
    Problem(
        "unmapped_exam_names",
        _OPEN_NAMES.format(condition="mapping_status not in ('matched', 'review')"),
        None,
        "radlake standardize review export",
    ),
    Problem(
        "review_exam_names",
        _OPEN_NAMES.format(condition="mapping_status = 'review'"),
        None,
        "radlake standardize review export",
    ),
    Problem(
        "timeliness_breaches",
        """select institution, sum(late) + sum(missing) as problems, sum(exams) - sum(pending) as base
from report_timeliness_daily
group by institution
order by institution""",
        """select institution, coalesce(device_station, '—') as device, count(*) as problems
from report_timeliness
where timeliness in ('late', 'missing')
group by institution, device
order by institution, device""",
        "report_timeliness_breaches",
    ),
    Problem(
        "missing_header_fields",
        """select institution, sum(instances) - sum(instances_present) as problems, sum(instances) as base
from dicom_header_completeness
group by institution
order by institution""",
        """select institution, coalesce(station_name, '—') as device,
    sum(instances) - sum(instances_present) as problems
from dicom_header_completeness
group by institution, device
having sum(instances) > sum(instances_present)
order by institution, device""",
        "dicom_header_completeness",
    ),
    Problem(
        "rule_violations",
        """with violations as (
    select coalesce(institution, 'unlinked') as institution, count(*) as problems
    from acquisition_rule_violations group by 1
),
studies as (select institution, sum(studies) as base from data_assets_monthly group by institution)
select studies.institution, coalesce(violations.problems, 0) as problems, studies.base
from studies left join violations on violations.institution = studies.institution
order by studies.institution""",
        """select coalesce(institution, 'unlinked') as institution, coalesce(station_name, '—') as device,
    count(*) as problems
from acquisition_rule_violations
group by 1, 2
order by 1, 2""",
        "acquisition_rule_violations",
    ),
    Problem(
        "exams_without_images",
        """select institution, sum(exams_without_images) as problems, sum(performed_exams) as base
from link_quality_summary
group by institution
order by institution""",
        None,
        "link_quality_exams_without_images",
    ),
    Problem(
        "orphan_studies",
        # Studies linked to no order count under 'unlinked' in data_assets_monthly (the list is the stewards').
        """select 'unlinked' as institution,
    coalesce(sum(studies) filter (where institution = 'unlinked'), 0) as problems, sum(studies) as base
from data_assets_monthly""",
        None,
        "link_quality_orphan_studies",
    ),
    Problem(
        "patient_candidates",
        """select institution, sum(records_with_several_empi_ids) as problems, cast(null as bigint) as base
from link_quality_summary
group by institution
order by institution""",
        None,
        "link_quality_patient_candidates",
    ),
)
"""The problems on the console, in display order (their thresholds: ``ui.thresholds`` in radlake.yaml)."""


def rag(problems: float, base: float | None, threshold: Threshold) -> str:
    """``green``, ``amber`` or ``red``: the share of the base (or the count when there is no base) vs limits."""
    if base is None:
        level = problems
    elif base == 0:
        level = 0.0
    else:
        level = problems / base
    if level >= threshold.red and level > 0:
        return "red"
    if level >= threshold.amber and level > 0:
        return "amber"
    return "green"


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


def render_console(
    by_institution: dict[str, list[dict[str, Any]]],
    by_device: dict[str, list[dict[str, Any]]],
    top_names: list[dict[str, Any]] | None,
    settings: Settings,
    labels: dict[str, str],
    *,
    quality_href: str | None,
    lagging: dict[str, str] | None = None,
) -> str:
    """The console's static part (tiles, institution and device tables, suite verdicts); all text escaped.

    ``lagging``: sources whose last sync did not catch up (source → why); shown first, as a red banner.
    """
    thresholds = settings.ui.thresholds
    colour_word = {c: labels[c] for c in ("green", "amber", "red")}
    tiles, inst_rows, dev_rows = [], [], []
    stewards_file = Path(settings.stewards_warehouse_path).name
    for problem in PROBLEMS:
        rows = by_institution.get(problem.id, [])
        th = thresholds[problem.id]
        total = sum(float(r["problems"] or 0) for r in rows)
        bases = [r["base"] for r in rows if r.get("base") is not None]
        base = float(sum(bases)) if bases else None
        colour = rag(total, base, th)
        share = f" · {total / base:.1%}" if base else ""
        if problem.worklist.startswith("radlake "):
            where = f"<code>{escape(problem.worklist)}</code>"
        else:
            target = f"{stewards_file} → {problem.worklist}"
            where = f"{escape(labels['stewards_file'])}: <code>{escape(target)}</code>"
        sample = f" · <a href='{escape(quality_href)}'>{escape(labels['quality_report'])}</a>" if quality_href else ""
        tiles.append(
            f"<div class='tile {colour}' id='tile-{escape(problem.id)}' data-problems='{total:g}'>"
            f"<div>{escape(labels['problem_' + problem.id])}</div>"
            f"<div class='n'>{total:,.0f}<span class='muted'>{escape(share)}</span></div>"
            f"<div><span class='rag {colour}'>{escape(colour_word[colour])}</span></div>"
            f"<div class='muted'>{where}{sample}</div></div>"
        )
        for r in rows:
            problems = float(r["problems"] or 0)
            row_base = float(r["base"]) if r.get("base") is not None else None
            c = rag(problems, row_base, th)
            share_text = f"{problems / row_base:.1%}" if row_base else "—"
            inst_rows.append(
                f"<tr><td>{escape(labels['problem_' + problem.id])}</td><td>{escape(str(r['institution']))}</td>"
                f"<td class='num'>{problems:,.0f}</td><td class='num'>"
                f"{'' if row_base is None else f'{row_base:,.0f}'}</td><td class='num'>{escape(share_text)}</td>"
                f"<td><span class='rag {c}'>{escape(colour_word[c])}</span></td></tr>"
            )
        for r in sorted(by_device.get(problem.id, []), key=lambda r: -float(r["problems"] or 0))[:15]:
            dev_rows.append(
                f"<tr><td>{escape(labels['problem_' + problem.id])}</td><td>{escape(str(r['institution']))}</td>"
                f"<td>{escape(str(r['device']))}</td><td class='num'>{float(r['problems'] or 0):,.0f}</td></tr>"
            )
    head_inst = "".join(
        f"<th>{escape(labels[k])}</th>" for k in ("problem", "institution", "count", "base", "share", "status")
    )
    head_dev = "".join(f"<th>{escape(labels[k])}</th>" for k in ("problem", "institution", "device", "count"))
    names = ""
    if top_names:
        cells = "".join(
            f"<tr><td>{escape(str(r['institution']))}</td><td>{escape(str(r['raw_name']))}</td>"
            f"<td>{escape(str(r['status']))}</td><td class='num'>{int(r['exams']):,}</td></tr>"
            for r in top_names
        )
        names = (
            f"<section class='card wide'><h2>{escape(labels['top_raw_names'])}</h2><table><thead><tr>"
            f"<th>{escape(labels['institution'])}</th><th>{escape(labels['raw_name'])}</th>"
            f"<th>{escape(labels['status'])}</th><th>{escape(labels['exams'])}</th></tr></thead>"
            f"<tbody>{cells}</tbody></table><p class='src'><a href='data/console_top_raw_names.json'>"
            f"{escape(labels['source'])}</a></p></section>"
        )
    suites = "".join(
        f"<tr><td>{escape(name)}</td><td><span class='rag {v}'>{escape(colour_word[v])}</span></td>"
        f"<td>{escape(at)}</td></tr>"
        for name, v, at in suite_verdicts(settings)
    )
    suites_card = (
        f"<section class='card'><h2>{escape(labels['suites'])}</h2><table><tbody>{suites}</tbody></table>"
        + (
            f"<p class='src'><a href='{escape(quality_href)}'>{escape(labels['quality_report'])}</a></p>"
            if quality_href
            else ""
        )
        + "</section>"
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
        f"</thead><tbody>{''.join(inst_rows)}</tbody></table></section>"
        f"<section class='card wide'><h2>{escape(labels['problem'])} · {escape(labels['by_device'])}</h2>"
        f"<table id='problems-by-device'><thead><tr>{head_dev}</tr></thead><tbody>{''.join(dev_rows)}</tbody>"
        f"</table></section>{names}{suites_card}</div>"
    )


def now_utc() -> str:
    """The build time shown and recorded (UTC, seconds)."""
    return datetime.now(UTC).isoformat(timespec="seconds")
