"""The patient 360 page in Chromium (network restricted to loopback): login by token into an HttpOnly cookie,
search in Chinese, a person's exams checked against the simulator's truth; screenshots in artifacts/."""

from __future__ import annotations

import json
from datetime import date
from zoneinfo import ZoneInfo

import httpx
import pytest
from fhir_checks import demo_service_settings
from service_harness import running
from test_fhir import _silver, _truth_studies

from services import create_app, issue_token
from services.p360 import page
from services.p360.session import COOKIE
from tests.conftest import ARTIFACTS
from tests.quality.cdp import Browser

pytestmark = pytest.mark.slow


def test_everything_on_the_page_is_escaped() -> None:
    hostile = '<img src=x onerror="alert(1)">'
    person = {"empi_id": "E0000000001", "name": hostile, "sex": "F", "birth_date": date(1990, 1, 2),
              "id_number": hostile, "phones": [hostile]}  # fmt: skip
    exam = {"modalities": [hostile], "ordering_department": hostile, "institution": hostile, "raw_exam_name": hostile,
            "standard_names": [hostile], "report_status": hostile, "has_study": True, "study_uid": '1.2"><b>'}  # fmt: skip  # noqa: E501
    html = page.person_page("group", person, [{"institution": hostile, "value": hostile}], [exam], ZoneInfo("UTC"))
    html += page.search_page("group", hostile, "auto", [person | {"records": hostile, "exams": 1}])
    assert "<img" not in html and "<i>" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


def test_patient_360_in_chromium(demo_run, tmp_path) -> None:
    workdir, _ = demo_run
    settings = demo_service_settings(workdir, tmp_path)
    token = issue_token(settings, "group")
    truth = _truth_studies(workdir)
    golden = _silver(settings, "patient_golden", ["empi_id", "name", "source_records"]).to_pylist()
    # The person with the most studies in the truth, found through their record ids (institution:mrn).
    persons = _person_of_records(workdir)
    person_id = max(truth, key=lambda p: len(truth[p]))
    records = {r for r, p in persons.items() if p == person_id}
    chosen = next(g for g in golden if set(g["source_records"]) & records)
    with running(create_app(settings)) as base:
        space = f"{base}/spaces/group/p360"
        # Not a browser: the login refuses a post from another origin, the cookie never opens FHIR.
        forged = httpx.post(f"{space}/login", data={"token": token}, headers={"Origin": "http://evil.example"})
        assert forged.status_code == 403
        assert httpx.get(f"{base}/spaces/group/fhir/Patient", cookies={COOKIE: token}).status_code == 401
        with Browser(loopback=True) as browser:
            log = browser.goto(f"{space}/")  # no cookie yet: the guard sends the browser to the login form
            assert browser.evaluate("location.pathname").endswith("/p360/login")
            browser.screenshot(ARTIFACTS / "p360_login.png", width=900)
            browser.evaluate(f"document.querySelector('input[name=token]').value = {json.dumps(token)}; true")
            browser.evaluate("document.querySelector('main form').submit(), true")
            browser.wait("location.pathname.endsWith('/p360/') && document.querySelector('form.search') !== null")
            assert browser.evaluate("document.cookie") == ""  # HttpOnly: no script can read the token
            surname = chosen["name"][0]
            browser.evaluate(f"document.querySelector('input[name=q]').value = {json.dumps(surname)}; true")
            browser.evaluate("document.querySelector('form.search').submit(), true")
            browser.wait("document.querySelector('table.people') !== null")
            names = browser.evaluate(
                "[...document.querySelectorAll('table.people tbody tr td:first-child')].map(t => t.textContent)"
            )
            expected = sorted(g["name"] for g in golden if (g["name"] or "").startswith(surname))
            assert sorted(names) == expected
            browser.screenshot(ARTIFACTS / "p360_search.png")
            browser.goto(f"{space}/person/{chosen['empi_id']}", ready="document.querySelector('section.day') !== null")
            links = browser.evaluate(
                "[...document.querySelectorAll('a[href*=\"/dicomweb/studies/\"]')].map(a => a.getAttribute('href'))"
            )
            uids = {link.split("/studies/")[1].split("/")[0] for link in links}
            assert uids == truth[person_id]  # every study of the person at every institution, nobody else's
            assert all(link.endswith("/metadata") for link in links)
            days = browser.evaluate("[...document.querySelectorAll('section.day h3')].map(h => h.textContent)")
            assert days == sorted(days, reverse=True)
            assert browser.evaluate("document.documentElement.lang") == "zh-CN"
            browser.screenshot(ARTIFACTS / "p360_person.png")
            assert log.errors == [] and browser.log.errors == [], (log.errors, browser.log.errors)
            assert not [u for u in log.requests + browser.log.requests if not u.startswith(base)]


def _person_of_records(workdir) -> dict[str, str]:
    import csv

    with (workdir / "truth" / "persons.csv").open() as fh:
        return {r["record_id"]: r["person_id"] for r in csv.DictReader(fh)}
