"""The patient 360 page's HTML: Chinese labels, every value escaped, no script, styles from one sheet.

Pure functions from rows to markup. Every value that came from the lake passes through :func:`e` (HTML
escaping of ``& < > " '``), including values inside attributes; URLs are built from escaped, URL-quoted parts.
"""

from __future__ import annotations

import html
from collections import Counter
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

Row = dict[str, Any]

LABELS = {
    "title": "患者360视图",
    "login": "登录",
    "logout": "退出",
    "token": "访问令牌",
    "token_hint": "请输入本数据空间的访问令牌（由管理员通过 radlake space token 签发）",
    "bad_token": "令牌无效或不属于本数据空间",
    "search": "查询",
    "query": "姓名 / 电话 / 身份证号 / 主索引号 / 病历号",
    "by": "查询方式",
    "auto": "自动识别",
    "name": "姓名",
    "phone": "电话",
    "resident": "身份证号",
    "empi": "主索引号",
    "mrn": "病历号",
    "sex": "性别",
    "birth": "出生日期",
    "exams": "检查",
    "no_match": "未找到匹配的患者",
    "date": "检查日期",
    "time": "检查时间",
    "modality": "检查类别",
    "department": "申请科室",
    "institution": "机构",
    "standard_name": "标准检查名称",
    "raw_name": "院内名称",
    "report": "报告状态",
    "turnaround": "报告时长",
    "images": "影像",
    "metadata": "DICOMweb 元数据",
    "no_images": "无影像",
    "records": "各院病历号",
    "by_modality": "按检查类别",
    "by_department": "按申请科室",
    "none": "无检查记录",
    "minutes": "分钟",
    "hours": "小时",
}
SEX = {"M": "男", "F": "女", "O": "其他"}
REPORT = {"draft": "草稿", "written": "已书写", "signed": "已审核", "amended": "已修订", None: "未出报告"}
STATUS = {
    "ordered": "已申请",
    "scheduled": "已预约",
    "in_progress": "检查中",
    "completed": "已完成",
    "cancelled": "已取消",
}


def e(value: object) -> str:
    """Escape a value for HTML text or a quoted attribute (None → empty)."""
    return "" if value is None else html.escape(str(value), quote=True)


def _layout(space: str, body: str, *, logged_in: bool = True) -> str:
    logout = (
        f'<form method="post" action="/spaces/{e(quote(space))}/p360/logout" class="logout">'
        f'<button type="submit">{LABELS["logout"]}</button></form>'
        if logged_in
        else ""
    )
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{LABELS["title"]}</title>'
        f'<link rel="icon" href="data:,"><link rel="stylesheet" href="/spaces/{e(quote(space))}/p360/p360.css"></head><body>'  # noqa: E501
        f'<header><a href="/spaces/{e(quote(space))}/p360/">{LABELS["title"]}</a>'
        f'<span class="space">{e(space)}</span>{logout}</header><main>{body}</main></body></html>'
    )


def login_page(space: str, failed: bool = False) -> str:
    """The token form (POSTed to the same path; the token never goes into a URL)."""
    error = f'<p class="error" role="alert">{LABELS["bad_token"]}</p>' if failed else ""
    body = (
        f'<h1>{LABELS["login"]}</h1>{error}<form method="post" action="/spaces/{e(quote(space))}/p360/login">'
        f'<label>{LABELS["token"]} <input type="password" name="token" autocomplete="off" required></label>'
        f'<p class="hint">{LABELS["token_hint"]}</p><button type="submit">{LABELS["login"]}</button></form>'
    )
    return _layout(space, body, logged_in=False)


def search_form(space: str, query: str = "", by: str = "auto") -> str:
    options = "".join(
        f'<option value="{k}"{" selected" if k == by else ""}>{LABELS[k]}</option>'
        for k in ("auto", "name", "phone", "resident", "empi", "mrn")
    )
    return (
        f'<form method="get" action="/spaces/{e(quote(space))}/p360/" class="search">'
        f'<input type="search" name="q" value="{e(query)}" placeholder="{LABELS["query"]}" aria-label="{LABELS["query"]}">'  # noqa: E501
        f'<select name="by" aria-label="{LABELS["by"]}">{options}</select>'
        f'<button type="submit">{LABELS["search"]}</button></form>'
    )


def search_page(space: str, query: str, by: str, people: list[Row] | None) -> str:
    """The search form, and the matching persons when a query was given."""
    body = search_form(space, query, by)
    if people is not None and not people:
        body += f'<p class="empty">{LABELS["no_match"]}</p>'
    elif people:
        head = "".join(f"<th>{LABELS[k]}</th>" for k in ("name", "sex", "birth", "empi", "records", "exams"))
        trs = "".join(
            f'<tr><td><a href="/spaces/{e(quote(space))}/p360/person/{e(quote(p["empi_id"]))}">{e(p["name"])}</a></td>'
            f"<td>{e(SEX.get(p['sex'] or '', ''))}</td><td>{e(p['birth_date'])}</td><td>{e(p['empi_id'])}</td>"
            f"<td>{e(p['records'])}</td><td>{e(p['exams'])}</td></tr>"
            for p in people
        )
        body += f'<table class="people"><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>'
    return _layout(space, body)


def _turnaround(row: Row) -> str:
    if row.get("report_status") not in ("written", "signed", "amended"):
        return ""  # a draft is not a report yet
    done = row.get("report_signed_at") or row.get("report_written_at")
    start = row.get("exam_ended_at") or row.get("started")
    if not done or not start:
        return ""
    minutes = (done - start).total_seconds() / 60
    if minutes < 0:
        return ""
    return f"{minutes:.0f} {LABELS['minutes']}" if minutes < 120 else f"{minutes / 60:.1f} {LABELS['hours']}"


def _local_day(value: datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).date().isoformat() if value else "—"


def _exam_row(space: str, row: Row, tz: ZoneInfo) -> str:
    names = "、".join(row.get("standard_names") or [])
    if row.get("has_study") and row.get("study_uid"):
        url = f"/spaces/{quote(space)}/dicomweb/studies/{quote(row['study_uid'])}/metadata"
        images = f'<a href="{e(url)}">{LABELS["metadata"]}</a>'
    else:
        images = f'<span class="muted">{LABELS["no_images"]}</span>'
    started = row.get("started")
    time = started.astimezone(tz).strftime("%H:%M") if started else ""
    return (
        f"<tr><td>{e(time)}</td><td>{e('/'.join(row.get('modalities') or []))}</td>"
        f"<td>{e(row.get('ordering_department'))}</td><td>{e(row.get('institution'))}</td>"
        f'<td>{e(names) or "—"}<div class="raw">{e(row.get("raw_exam_name"))}</div></td>'
        f"<td>{e(REPORT.get(row.get('report_status'), row.get('report_status')))}</td>"
        f"<td>{e(_turnaround(row))}</td><td>{images}</td></tr>"
    )


def person_page(space: str, person: Row, records: list[Row], exams: list[Row], tz: ZoneInfo) -> str:
    """One person: the golden record, every institution's MRN, and every exam grouped by day, newest first;
    within a day by modality, then department. Counts by modality and department on top."""
    recs = "".join(f"<li>{e(r['institution'])}: {e(r['value'])}</li>" for r in records)
    facts = (
        f'<h1>{e(person["name"])}</h1><dl class="facts"><dt>{LABELS["sex"]}</dt><dd>{e(SEX.get(person["sex"] or "", ""))}</dd>'  # noqa: E501
        f"<dt>{LABELS['birth']}</dt><dd>{e(person['birth_date'])}</dd><dt>{LABELS['resident']}</dt>"
        f"<dd>{e(person['id_number'])}</dd><dt>{LABELS['empi']}</dt><dd>{e(person['empi_id'])}</dd>"
        f"<dt>{LABELS['phone']}</dt><dd>{e('、'.join(person.get('phones') or []))}</dd></dl>"
        f'<h2>{LABELS["records"]}</h2><ul class="records">{recs}</ul>'
    )
    by_modality = Counter("/".join(r.get("modalities") or []) or "—" for r in exams)
    by_department = Counter(r.get("ordering_department") or "—" for r in exams)
    summary = "".join(
        f'<div class="counts"><h3>{LABELS[label]}</h3>'
        + "".join(f'<span class="chip">{e(k)} <b>{n}</b></span>' for k, n in sorted(counts.items()))
        + "</div>"
        for label, counts in (("by_modality", by_modality), ("by_department", by_department))
    )
    days: dict[str, list[Row]] = {}
    for row in exams:
        days.setdefault(_local_day(row.get("started"), tz), []).append(row)
    head = "".join(
        f"<th>{LABELS[k]}</th>"
        for k in ("time", "modality", "department", "institution", "standard_name", "report", "turnaround", "images")
    )
    sections = "".join(
        f'<section class="day"><h3>{e(day)}</h3><table><thead><tr>{head}</tr></thead><tbody>'
        + "".join(
            _exam_row(space, r, tz)
            for r in sorted(
                rows, key=lambda r: ("/".join(r.get("modalities") or []), r.get("ordering_department") or "")
            )
        )
        + "</tbody></table></section>"
        for day, rows in sorted(days.items(), reverse=True)
    )
    body = (
        search_form(space)
        + facts
        + f"<h2>{LABELS['exams']} ({len(exams)})</h2>"
        + (summary + sections if exams else f'<p class="empty">{LABELS["none"]}</p>')
    )
    return _layout(space, body)


STYLE = """
body{font-family:"Noto Sans CJK SC","Noto Sans SC",sans-serif;margin:0;color:#1d2733;background:#f4f6f8}
header{display:flex;gap:1em;align-items:center;background:#14507a;color:#fff;padding:.6em 1.2em}
header a{color:#fff;font-weight:bold;text-decoration:none}.space{opacity:.8}.logout{margin-left:auto}
main{padding:1em 1.5em;max-width:1200px}table{border-collapse:collapse;width:100%;background:#fff;margin:.4em 0}
th,td{border:1px solid #d5dbe1;padding:.35em .5em;text-align:left;vertical-align:top;font-size:14px}
th{background:#e9eef3}.raw{color:#6b7785;font-size:12px}.muted{color:#8a96a3}
.search{margin:.5em 0 1em}.search input{width:26em;padding:.3em}.facts{display:grid;grid-template-columns:8em 1fr}
.facts dt{color:#6b7785}.chip{display:inline-block;background:#fff;border:1px solid #d5dbe1;border-radius:1em;
padding:.1em .7em;margin:.2em}.counts{display:inline-block;margin-right:2em;vertical-align:top}
.error{color:#b00020}.day h3{margin:1em 0 .2em}
"""
