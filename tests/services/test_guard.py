"""Every request to the services is denied by default, rate limited per token and audited in the lake."""

from __future__ import annotations

import json
import os
import stat

import httpx
import pyarrow.parquet as pq
import pytest
from service_harness import running

from radlake import catalog, lake
from radlake.config import Settings
from radlake.errors import ConfigError
from services import create_app, issue_token
from services.auth import tokens_path


def _audit_rows(settings: Settings) -> list[dict]:
    uri = catalog.table_uri(settings, catalog.table("audit", "service_requests"))
    dt = lake.open_table(settings, uri)
    assert dt is not None, "no audit table was written"
    return pq.read_table(dt.file_uris()).to_pylist()


def test_tokens_are_stored_as_hashes_owner_only(service_settings: Settings) -> None:
    token = issue_token(service_settings, "group")
    path = tokens_path(service_settings)
    text = path.read_text()
    secret = token.partition(".")[2]
    assert secret not in text and token not in text
    assert json.loads(text)["tokens"][0]["spaces"] == ["group"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with pytest.raises(ConfigError, match="no space 'nope'"):
        issue_token(service_settings, "nope")


def test_deny_by_default_and_audit(service_settings: Settings) -> None:
    group = issue_token(service_settings, "group")
    research = issue_token(service_settings, "research")
    tampered = group[:-2] + ("AA" if not group.endswith("AA") else "BB")
    app = create_app(service_settings)
    cases = [
        ("/health", None, 200),
        ("/spaces/group/dicomweb/studies", None, 401),
        ("/spaces/group/dicomweb/studies", "not-a-token", 401),
        ("/spaces/group/dicomweb/studies", tampered, 401),
        ("/spaces/group/dicomweb/studies", research, 403),  # a token of another space
        ("/spaces/nowhere/dicomweb/studies", group, 403),  # an unknown space answers like a foreign one
        ("/spaces/../etc/passwd", group, 404),
        ("/admin", group, 404),
        ("/spaces/group/nosuchservice/x", group, 404),  # past the guard: no route
        ("/spaces/group/dicomweb/fails", group, 500),  # a route that fails: the error shape, audited
    ]

    def fails() -> None:
        raise RuntimeError("a failure inside a route")

    app.add_api_route("/spaces/{space}/dicomweb/fails", fails)
    with running(app) as base:
        for path, token, status in cases:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            r = httpx.get(base + path, headers=headers)
            assert r.status_code == status, (path, r.status_code, r.text)
            if status >= 400:
                assert "reason" in r.json() or "detail" in r.json()
                assert r.headers["x-content-type-options"] == "nosniff"
            if status == 401:
                assert r.headers["www-authenticate"].startswith("Bearer")
    rows = _audit_rows(service_settings)
    audited = [r for r in rows if r["path"] != "/health"]
    assert len(audited) == len(cases) - 1  # the health check is not audited
    refused = next(r for r in audited if r["status"] == 403 and r["space"] == "group")
    assert refused["token_id"] == research.removeprefix("rlk_").partition(".")[0]
    assert refused["reason"] == "the token does not open this space"
    failed = next(r for r in audited if r["path"] == "/spaces/group/dicomweb/fails")
    assert (failed["status"], failed["reason"]) == (500, "internal error")
    # No secret of a token ever reaches the audit.
    flat = json.dumps(rows, default=str)
    assert group.partition(".")[2] not in flat and research.partition(".")[2] not in flat


def test_rate_limit_per_token(service_settings: Settings) -> None:
    first = issue_token(service_settings, "group")
    second = issue_token(service_settings, "group")
    with running(create_app(service_settings)) as base, httpx.Client(base_url=base) as client:
        statuses = [
            client.get("/spaces/group/x/y", headers={"Authorization": f"Bearer {first}"}).status_code for _ in range(40)
        ]
        other = client.get("/spaces/group/x/y", headers={"Authorization": f"Bearer {second}"})
    # 30 a minute: the first 30 pass the guard (404: no route), then 429 until the bucket refills.
    assert statuses[:30] == [404] * 30
    assert statuses[-1] == 429
    assert other.status_code == 404  # another token's budget is its own


def test_token_issued_while_serving_works_at_once(service_settings: Settings) -> None:
    with running(create_app(service_settings)) as base:
        token = issue_token(service_settings, "group")
        import time

        time.sleep(1.1)  # the store re-reads a changed file at most once a second
        r = httpx.get(base + "/spaces/group/x/y", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 404
