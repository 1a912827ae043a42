"""The warehouse files published to an S3 lake: immutable objects per build and one pointer each (issue 31).

A reader elsewhere (DuckDB attaching the object over S3) keeps the build it attached while two more builds
publish; a new reader follows the pointer to the newest; old builds go only past the retention.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from radlake import publish, warehouse
from radlake.config import Settings


def _build(settings: Settings, rows: int) -> publish.Build:
    """A build whose two files hold ``rows`` rows (dbt's part, made by hand: the subject is the publishing)."""
    build = publish.begin_build(settings)
    for stewards in (False, True):
        with duckdb.connect(str(build.path(stewards))) as con:
            con.execute(f"create or replace table marts as select range as n from range({rows})")
    publish.publish_build(settings, build)
    return build


def _attach(settings: Settings, uri: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config=warehouse.duckdb_settings())  # type: ignore[arg-type]
    con.execute(warehouse.s3_secret_sql(settings))
    con.execute(f"attach '{uri}' as w (read_only)")
    return con


def test_s3_readers_keep_their_build_and_new_ones_follow_the_pointer(
    s3_settings: Settings, s3_keys, tmp_path: Path
) -> None:
    first = _build(s3_settings, 10)
    uri = publish.current_s3_uri(s3_settings)
    assert uri == publish.s3_object_uri(s3_settings, first.build_id, False)
    old_reader = _attach(s3_settings, uri)
    assert old_reader.execute("select count(*) from w.marts").fetchone() == (10,)

    _build(s3_settings, 20)
    third = _build(s3_settings, 30)
    # The reader that attached the first build still reads it; a new reader gets the third.
    assert old_reader.execute("select count(*), sum(n) from w.marts").fetchone() == (10, 45)
    new_uri = publish.current_s3_uri(s3_settings, stewards=True)
    assert new_uri == publish.s3_object_uri(s3_settings, third.build_id, True)
    assert _attach(s3_settings, new_uri).execute("select count(*) from w.marts").fetchone() == (30,)
    # The local link names the same build as the pointer.
    with duckdb.connect(s3_settings.warehouse_path, read_only=True) as con:
        assert con.execute("select count(*) from marts").fetchone() == (30,)

    prefix = f"{s3_settings.lake}/{publish.S3_PREFIX}"
    objects = [k for k in s3_keys(prefix) if k.endswith(".duckdb")]
    assert len(objects) == 6  # three builds × two files: nothing removed within the retention
    publish.prune_builds(s3_settings, now=time.time() + 3 * 3600)
    kept = sorted({k.split("/")[-2] for k in s3_keys(prefix) if k.endswith(".duckdb")})
    assert kept == sorted([third.build_id, kept[0]]) and first.build_id not in kept  # current + previous
    assert len(list((Path(s3_settings.warehouse_path).parent / publish.BUILDS_DIR).iterdir())) == 2
