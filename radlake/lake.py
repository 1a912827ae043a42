"""Delta I/O for the lake: Spark for transforms, delta-rs for idempotent landing and table upkeep.

Why two writers: Spark (Sail or a cluster) does the set-based work (reads, ``replaceWhere``, ``MERGE``).
Landing from a source (files, a replication stream) happens in plain Python with Arrow batches; there
delta-rs commits directly and carries a Delta *app transaction* (app id + version) in the same commit,
which is what makes a replayed batch a no-op after a crash.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from radlake.config import Settings
from radlake.errors import LakeError

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from pyspark.sql import DataFrame, SparkSession


def storage_options(settings: Settings) -> dict[str, str]:
    """Object-store options for delta-rs, from the standard AWS environment variables (empty for a local lake)."""
    if not settings.lake_is_s3:
        return {}
    opts: dict[str, str] = {}
    for env, key in (
        ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL"),
        ("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
        ("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
        ("AWS_SESSION_TOKEN", "AWS_SESSION_TOKEN"),
        ("AWS_REGION", "AWS_REGION"),
        ("AWS_ALLOW_HTTP", "AWS_ALLOW_HTTP"),
    ):
        if os.environ.get(env):
            opts[key] = os.environ[env]
    # A single-writer-per-table lake: no DynamoDB lock service in a hospital data centre.
    opts.setdefault("AWS_S3_ALLOW_UNSAFE_RENAME", "true")
    return opts


def open_table(settings: Settings, uri: str) -> DeltaTable | None:
    """The Delta table at ``uri``, or None when there is none yet."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(uri, storage_options=storage_options(settings) or None)
    except TableNotFoundError:
        return None


def table_version(settings: Settings, uri: str) -> int | None:
    """The table's current version, or None when there is no table."""
    dt = open_table(settings, uri)
    return None if dt is None else dt.version()


def last_commit_ms(settings: Settings, uri: str) -> int | None:
    """When the table's newest commit was made (ms since the epoch), or None when there is no table."""
    dt = open_table(settings, uri)
    history = dt.history(1) if dt is not None else []
    return int(history[0]["timestamp"]) if history and history[0].get("timestamp") else None


def ensure_writable(settings: Settings) -> None:
    """Fail early, in one line, when a local lake cannot be created or written.

    Raises
    ------
    LakeError
        The lake folder is not writable.
    """
    if settings.lake_is_s3:
        return
    path = settings.lake
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".radlake-write-probe")
        with open(probe, "w") as fh:
            fh.write("ok")
        os.remove(probe)
    except OSError as exc:
        raise LakeError(f"lake {path} is not writable: {exc.strerror or exc}") from None


def append_idempotent(
    settings: Settings,
    uri: str,
    data: pa.Table,
    *,
    app_id: str,
    txn_version: int,
    partition_by: Sequence[str] = (),
    schema_mode: str | None = "merge",
) -> bool:
    """Append ``data`` in one commit tagged with an app transaction, unless that commit already happened.

    Parameters
    ----------
    app_id
        Who writes (e.g. ``cdc:ris_h01:exam_orders``); one monotonically increasing ``txn_version`` per app.
    txn_version
        The batch number. A batch whose number is not above the table's recorded version is skipped.

    Returns
    -------
    bool
        True if a commit was made, False if the batch had already landed (or ``data`` is empty and the
        table exists).
    """
    from deltalake import CommitProperties, Transaction, write_deltalake

    dt = open_table(settings, uri)
    if dt is not None:
        done = dt.transaction_version(app_id)
        if done is not None and done >= txn_version:
            return False
        if data.num_rows == 0:
            return False
    write_deltalake(
        uri,
        data,
        mode="append",
        partition_by=list(partition_by) or None,
        schema_mode=schema_mode if dt is not None else None,
        storage_options=storage_options(settings) or None,
        commit_properties=CommitProperties(app_transactions=[Transaction(app_id, txn_version)]),
    )
    return True


def committed_version(settings: Settings, uri: str, app_id: str) -> int | None:
    """The last batch number ``app_id`` committed to the table (None when never, or no table)."""
    dt = open_table(settings, uri)
    return None if dt is None else dt.transaction_version(app_id)


def read_arrow(settings: Settings, uri: str, columns: Sequence[str] | None = None) -> pa.Table | None:
    """Read a whole (small) Delta table into Arrow without Spark; None when there is no table.

    Reads the snapshot's own file list: globbing the folder would resurrect deleted or overwritten rows.
    """
    dt = open_table(settings, uri)
    if dt is None:
        return None
    schema = dt.schema().to_arrow()
    files = dt.file_uris()
    if not files:
        table = pa.Table.from_batches([], schema=pa.schema(schema))
        return table.select(list(columns)) if columns else table
    filesystem = None
    if settings.lake_is_s3:
        import s3fs

        filesystem = s3fs.S3FileSystem(
            endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
            client_kwargs={"region_name": os.environ.get("AWS_REGION", "us-east-1")},
        )
        files = [f.removeprefix("s3://") for f in files]
    import pyarrow.dataset as ds

    base = uri.removeprefix("s3://") if settings.lake_is_s3 else uri
    dataset = ds.dataset(
        files,
        schema=pa.schema(schema),
        filesystem=filesystem,
        format="parquet",
        partitioning=ds.partitioning(
            pa.schema([pa.schema(schema).field(c) for c in dt.metadata().partition_columns]), flavor="hive"
        ),
        partition_base_dir=base,
    )
    # Project in the scan: a wide column (e.g. header_json) is then never read when it is not asked for.
    table = dataset.to_table(columns=list(columns) if columns else None)
    return table.select(list(columns)) if columns else table


def head(settings: Settings, uri: str, columns: Sequence[str], n: int) -> pa.Table | None:
    """The first ``n`` rows of ``columns`` from one data file of the table (a preview, not a sample)."""
    dt = open_table(settings, uri)
    if dt is None:
        return None
    files = dt.file_uris()
    if not files:
        return None
    import pyarrow.parquet as pq

    present = [c for c in columns if c not in dt.metadata().partition_columns]
    if settings.lake_is_s3:
        import s3fs

        fs = s3fs.S3FileSystem(endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
        with fs.open(files[0].removeprefix("s3://"), "rb") as fh:
            return pq.ParquetFile(fh).read_row_group(0, columns=present).slice(0, n)
    return pq.ParquetFile(files[0]).read_row_group(0, columns=present).slice(0, n)


# --- Spark side -------------------------------------------------------------------------------------------


def read(spark: SparkSession, uri: str) -> DataFrame:
    """A Delta table as a Spark DataFrame.

    Raises
    ------
    LakeError
        No Delta table at ``uri``.
    """
    try:
        df = spark.read.format("delta").load(uri)
        df.schema  # noqa: B018 - forces the engine to resolve the table now, so a missing one fails here
    except Exception as exc:
        raise LakeError(f"no readable Delta table at {uri}: {type(exc).__name__}") from None
    return df


def overwrite(df: DataFrame, uri: str, *, partition_by: Sequence[str] = (), replace_where: str | None = None) -> None:
    """Replace a table (or, with ``replace_where``, only the rows matching it) with ``df``.

    ``replaceWhere`` rather than dynamic partition overwrite: Sail ignores the latter and replaces the table.
    """
    writer = df.write.format("delta").mode("overwrite")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    # A whole-table rewrite may change the schema; a partial one must not (delta-spark refuses both at once).
    option = ("replaceWhere", replace_where) if replace_where else ("overwriteSchema", "true")
    writer = writer.option(*option)
    writer.save(uri)


def merge(
    spark: SparkSession,
    df: DataFrame,
    uri: str,
    keys: Sequence[str],
    *,
    settings: Settings,
    delete_flag: str | None = None,
) -> None:
    """Upsert ``df`` into the Delta table at ``uri`` on ``keys`` (creating the table on first use).

    Parameters
    ----------
    settings
        For the lake's storage options: only a table that is really absent is created; any other failure to
        open it (a storage outage, a damaged log) raises instead of writing a new table over the old one.
    delete_flag
        A boolean column of ``df``; matched rows where it is true are deleted, and it is not stored.
    """
    columns = [c for c in df.columns if c != delete_flag]
    if open_table(settings, uri) is None:
        first = df.filter(f"NOT `{delete_flag}`") if delete_flag else df
        first.select(*columns).write.format("delta").mode("overwrite").save(uri)
        return
    view = f"_radlake_merge_{abs(hash((uri, id(df))))}"
    df.createOrReplaceTempView(view)
    on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    sets = ", ".join(f"t.`{c}` = s.`{c}`" for c in columns)
    cols = ", ".join(f"`{c}`" for c in columns)
    vals = ", ".join(f"s.`{c}`" for c in columns)
    clauses = []
    if delete_flag:
        clauses.append(f"WHEN MATCHED AND s.`{delete_flag}` THEN DELETE")
        clauses.append(f"WHEN MATCHED THEN UPDATE SET {sets}")
        clauses.append(f"WHEN NOT MATCHED AND NOT s.`{delete_flag}` THEN INSERT ({cols}) VALUES ({vals})")
    else:
        clauses.append(f"WHEN MATCHED THEN UPDATE SET {sets}")
        clauses.append(f"WHEN NOT MATCHED THEN INSERT ({cols}) VALUES ({vals})")
    spark.sql(f"MERGE INTO delta.`{uri}` AS t USING {view} AS s ON {on} " + " ".join(clauses))
    spark.catalog.dropTempView(view)
