"""Bad input to DICOMweb: every refusal is a 4xx with a one-line reason that repeats nothing it was sent, the
literal characters of SQL and LIKE stay literal, and the service keeps answering; a fuzz test over the
query grammar (hypothesis) finds no 5xx."""

from __future__ import annotations

import httpx
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from service_harness import running

from radlake import catalog, lake
from radlake.config import Settings
from services import create_app, issue_token

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INJECTIONS = ["' OR '1'='1", "1; DROP TABLE studies; --", "%", "_", "%' --", "\\", "x' UNION SELECT 1 --"]

BAD = [
    # (path below the space's DICOMweb root, parameters, status)
    ("studies", {"StudyDate": "2020"}, 400),
    ("studies", {"StudyDate": "20261301"}, 400),
    ("studies", {"StudyDate": "20261231-20260101"}, 400),
    ("studies", {"StudyTime": "2561"}, 400),
    ("studies", {"StudyInstanceUID": "1.2.abc"}, 400),
    ("studies", {"StudyInstanceUID": "1.2.3' OR 1=1 --"}, 400),
    ("studies", {"StudyInstanceUID": "1." + "2" * 70}, 400),
    ("studies", {"NoSuchKeyword": "x"}, 400),
    ("studies", {"99990010": "x"}, 400),
    ("studies", {"SOPInstanceUID": "1.2.3"}, 400),  # an instance key in a study search
    ("studies", {"SliceThickness": "5"}, 400),  # a real attribute, but no matching key
    ("studies", {"includefield": "NoSuchKeyword"}, 400),
    ("studies", {"limit": "-1"}, 400),
    ("studies", {"limit": "100000000000000000000000"}, 400),
    ("studies", {"limit": "51"}, 400),  # above serve.max_limit
    ("studies", {"limit": "ten"}, 400),
    ("studies", {"offset": "-5"}, 400),
    ("studies", {"fuzzymatching": "maybe"}, 400),
    ("studies", {"PatientID": "a\x00b"}, 400),
    ("studies", {"PatientID": "x" * 1000}, 400),
    ("series", {"SeriesNumber": "one"}, 400),
    ("studies/not-a-uid/series", {}, 400),
    ("studies/1.2.3/metadata", {}, 404),
    ("studies/1.2.3/series/1.2.4/instances/1.2.5", {}, 404),
    ("instances", {}, 413),  # broader than serve.max_matches
]


def _audit(settings: Settings) -> list[dict]:
    dt = lake.open_table(settings, catalog.table_uri(settings, catalog.table("audit", "service_requests")))
    assert dt is not None
    return pq.read_table(dt.file_uris()).to_pylist()


def test_bad_input_is_refused_with_a_reason(dicomweb_settings: Settings) -> None:
    token = issue_token(dicomweb_settings, "group")
    research = issue_token(dicomweb_settings, "research")
    auth = {"Authorization": f"Bearer {token}"}
    with running(create_app(dicomweb_settings)) as base, httpx.Client(base_url=base, headers=auth) as client:
        root = "/spaces/group/dicomweb/"
        for path, params, status in BAD:
            r = client.get(root + path, params=params)
            assert r.status_code == status, (path, params, r.status_code, r.text)
            reason = r.json()["reason"]
            assert "\n" not in reason and len(reason) < 300
            for name, value in params.items():
                if len(value) > 3 and name != "includefield":  # an attribute name may be named back
                    assert value not in reason  # a value never is
        # Injection: SQL and LIKE characters are literal text, matching nothing, in every text key.
        for key in ("PatientID", "AccessionNumber", "StudyDescription", "PatientName", "StudyID"):
            for value in INJECTIONS:
                r = client.get(root + "studies", params={key: value})
                assert r.status_code in (204, 400), (key, value, r.status_code)
        # Another space's token, a path outside the space.
        other = httpx.get(base + "/spaces/group/dicomweb/studies", headers={"Authorization": f"Bearer {research}"})
        assert other.status_code == 403
        assert client.get("/spaces/group/dicomweb/../../etc/passwd").status_code in (403, 404)  # client-normalised
        assert client.get("/spaces/group/dicomweb/studies/..%2F..%2Fetc%2Fpasswd/metadata").status_code in (400, 404)
        # Still answering, with everything.
        assert client.get(root + "studies").status_code == 200
    rows = _audit(dicomweb_settings)
    refused = [r for r in rows if r["status"] == 413]
    assert refused and refused[0]["reason"].startswith("the search matches more than")
    assert all(r["result_count"] is None for r in rows if r["status"] >= 400)


KEYS = ["StudyDate", "StudyTime", "AccessionNumber", "ModalitiesInStudy", "ReferringPhysicianName", "PatientName",
        "PatientID", "StudyInstanceUID", "StudyID", "Modality", "SeriesInstanceUID", "SeriesNumber",
        "PerformedProcedureStepStartDate", "RequestAttributesSequence.ScheduledProcedureStepID", "SOPClassUID",
        "SOPInstanceUID", "InstanceNumber", "0020000D", "00100010", "includefield", "limit", "offset",
        "fuzzymatching", "Bogus", "0008"]  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(
        [
            "",
            "*",
            "?",
            "20261101",
            "20261101-",
            "-20261101",
            "20261101-20261102",
            "0830-0900",
            "1.2.3",
            "1.2.3\\1.2.4",
            "1.2.3,1.2.4",
            "CT",
            "CT\\MR",
            "zhang*",
            "张伟",
            "true",
            "all",
            "5",
            "0",
            "-1",
            "PatientName,00100020",
        ]
    ),
    st.text(max_size=80),
    st.from_regex(r"[0-9*?\\,.\-]{0,20}", fullmatch=True),
)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.lists(st.tuples(st.sampled_from(KEYS), VALUES), max_size=4),
       level=st.sampled_from(["studies", "series", "instances"]))  # fmt: skip
def test_fuzz_query_grammar(fuzz_service: tuple[httpx.Client, str], query: list[tuple[str, str]], level: str) -> None:
    client, root = fuzz_service
    r = client.get(root + level, params=query)
    assert r.status_code in (200, 204, 400, 413), (query, r.status_code, r.text[:200])
    if r.status_code == 200:
        assert r.headers["content-type"] == "application/dicom+json"
        assert isinstance(r.json(), list) and r.json()
    elif r.status_code != 204:
        assert r.json()["reason"] and "\n" not in r.json()["reason"]


@pytest.fixture(scope="module")
def fuzz_service(dicomweb_lake, tmp_path_factory: pytest.TempPathFactory):
    """One running service for all fuzz examples (a generous rate limit)."""
    from radlake.pseudonym import write_key_file

    tmp = tmp_path_factory.mktemp("fuzz")
    settings = Settings(
        lake=str(dicomweb_lake.lake),
        pseudonym_key_file=str(write_key_file(tmp / "key")),
        spaces={"group": {"identified": True}},
        serve={"tokens_file": str(tmp / "tokens.json"), "rate_per_minute": 100_000, "max_matches": 40},
    )
    token = issue_token(settings, "group")
    with (
        running(create_app(settings)) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client,
    ):
        yield client, "/spaces/group/dicomweb/"
