"""An s3:// lake (moto server on localhost, standard AWS variables): delta-rs landing and Sail roll-ups."""

from __future__ import annotations

import pytest
from dicom_corpus import FILES, INSTANCES, content, rows, versions

from ingestion.dicom.api import ingest_dicom
from radlake import catalog, lake
from radlake.config import Settings
from transforms.dicom.job import build_dicom_rollups

pytestmark = pytest.mark.integration


@pytest.fixture()
def s3_lake(monkeypatch):
    """A bucket on a moto S3 server on a free local port; yields the lake URI."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for key, value in {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
    }.items():
        monkeypatch.setenv(key, value)
    boto3.client("s3").create_bucket(Bucket="radlake-test")
    yield "s3://radlake-test/lake"
    server.stop()


def test_ingest_into_s3_and_rerun_commits_nothing(s3_lake, corpus, tmp_path, spark) -> None:
    settings = Settings(lake=s3_lake, warehouse=str(tmp_path / "gold.duckdb"))
    report = ingest_dicom(settings, [corpus.root], workers=0)
    assert report.files_new == len(corpus.expect)
    paths = sorted(r["file_path"] for r in rows(settings, FILES))
    assert paths == sorted(corpus.expect)
    before = versions(settings)
    again = ingest_dicom(settings, [corpus.root], workers=0)
    assert not again.committed and versions(settings) == before
    # Same content as a local lake.
    local = Settings(lake=str(tmp_path / "local"))
    ingest_dicom(local, [corpus.root], workers=0)
    assert content(settings) == content(local)
    # Sail reads bronze from and writes silver to the same bucket.
    counts = build_dicom_rollups(spark, settings)
    studies = {r["study_instance_uid"] for r in rows(settings, INSTANCES) if r["study_instance_uid"]}
    assert counts["silver/dicom_studies"] == len(studies)
    assert lake.table_version(settings, catalog.table_uri(settings, catalog.table("silver", "dicom_series"))) == 0
