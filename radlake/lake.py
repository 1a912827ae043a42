"""The lake's one write path: every Delta commit of radlake is made here (and its reads are offered here).

Why two engines: Spark (Sail or a cluster) does the set-based work (reads, ``replaceWhere``, ``MERGE``).
Landing from a source (files, a replication stream) and small steward tables happen in plain Python with
Arrow; there delta-rs commits directly and can carry a Delta *app transaction* (app id + version) in the
same commit, which is what makes a replayed batch a no-op after a crash.

Concurrency: several writers (folder ingests, the receiver, a CDC sync, Dagster runs in other pods) may
commit to one table at once. Both engines commit optimistically (a put-if-absent of the next log version,
see :mod:`radlake.storage`); a commit that loses the race and conflicts with what won is retried here a few
times with backoff. A retried idempotent append first re-reads the table's app transaction, so a batch that
did land is never written twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Literal, NamedTuple, TypeVar

import pyarrow as pa

from radlake.config import Settings
from radlake.errors import DataError, LakeError
from radlake.storage import filesystem, fs_path, list_dir, list_sizes, storage_options

if TYPE_CHECKING:
    import pyarrow.dataset
    from deltalake import DeltaTable
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "SchemaMismatchError",
    "TableIdentity",
    "add_columns",
    "added_after",
    "append_idempotent",
    "checkpoint",
    "clean_log",
    "commit_retries",
    "committed_version",
    "delete_where",
    "ensure_writable",
    "head",
    "last_checkpoint_version",
    "last_commit_ms",
    "list_dir",
    "list_sizes",
    "mark_applied",
    "merge",
    "open_table",
    "overwrite",
    "quote_identifier",
    "read",
    "read_arrow",
    "replace",
    "restore",
    "rewrite_small_files",
    "scan_batches",
    "set_table_properties",
    "storage_options",
    "table_identity",
    "table_version",
    "upsert",
    "vacuum",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

COMMIT_ATTEMPTS = 6  # bounded: a table that keeps conflicting after this is a real problem to report
_BACKOFF_S = 0.2
_retries = 0
_retries_lock = threading.Lock()


class SchemaMismatchError(DataError):
    """Rows whose column types no longer match the table's."""


def commit_retries() -> int:
    """How many conflicting commits this process has retried (for benches and run metadata)."""
    return _retries


def _is_conflict(exc: BaseException) -> bool:
    """A commit lost the race for the next version and conflicts with the winner (worth retrying)."""
    from deltalake.exceptions import CommitFailedError

    if isinstance(exc, CommitFailedError):
        return True
    text = f"{type(exc).__name__}: {exc}".lower()
    return any(w in text for w in ("concurrent", "conflict", "has been updated", "version already exists"))


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _one_line(exc: BaseException) -> str:
    # delta-rs reports a tree of causes over several coloured lines: one plain line for a person.
    text = " ".join(_ANSI.sub("", str(exc)).replace("↳", "").split())
    return text[:300] + ("..." if len(text) > 300 else "")


def _commit(uri: str, what: str, attempt: Callable[[], T], *, attempts: int = COMMIT_ATTEMPTS) -> T:
    """Run one commit, retrying a lost race with backoff; storage failures become a one-line LakeError.

    ``attempts=1`` for a stream of rows that cannot be read twice (delta-rs still retries the log write
    of an append itself).
    """
    global _retries
    from deltalake.exceptions import DeltaError
    from deltalake.exceptions import SchemaMismatchError as DeltaSchemaMismatch

    for n in range(1, attempts + 1):
        try:
            return attempt()
        except DeltaSchemaMismatch as exc:
            raise SchemaMismatchError(f"{uri}: {_one_line(exc)}") from None
        except (LakeError, DataError):
            raise
        except Exception as exc:
            if _is_conflict(exc) and n < attempts:
                with _retries_lock:
                    _retries += 1
                delay = _BACKOFF_S * 2 ** (n - 1) * (0.5 + random.random())
                log.info("commit conflict on %s (%s), retry %d in %.2fs", uri, what, n, delay)
                time.sleep(delay)
                continue
            engine = type(exc).__module__.startswith("pyspark")  # Spark reports store failures as its own types
            if isinstance(exc, DeltaError | OSError) or engine or _is_conflict(exc):
                raise LakeError(f"{what} {uri} failed: {_one_line(exc)}") from None
            raise
    raise AssertionError("unreachable")


def open_table(settings: Settings, uri: str) -> DeltaTable | None:
    """The Delta table at ``uri``, or None when there is none yet.

    Raises
    ------
    LakeError
        The store cannot be reached or the log cannot be read (never mistaken for "no table").
    """
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError, TableNotFoundError

    try:
        return DeltaTable(uri, storage_options=storage_options(settings) or None)
    except TableNotFoundError:
        return None
    except (DeltaError, OSError) as exc:
        raise LakeError(f"cannot read the lake table {uri}: {_one_line(exc)}") from None


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
    data: pa.Table | pa.RecordBatchReader,
    *,
    app_id: str,
    txn_version: int,
    partition_by: Sequence[str] = (),
    schema_mode: Literal["merge", "overwrite"] | None = "merge",
    configuration: dict[str, str | None] | None = None,
) -> bool:
    """Append ``data`` in one commit tagged with an app transaction, unless that commit already happened.

    Parameters
    ----------
    app_id
        Who writes (e.g. ``cdc:ris_h01:exam_orders``); one monotonically increasing ``txn_version`` per app.
    txn_version
        The batch number. A batch whose number is not above the table's recorded version is skipped.
    configuration
        Delta table properties, used only when this commit creates the table.

    Returns
    -------
    bool
        True if a commit was made, False if the batch had already landed (or ``data`` is empty and the
        table exists).

    Raises
    ------
    SchemaMismatchError
        The rows' column types no longer match the table's.
    LakeError
        The store failed, or the commit kept conflicting with other writers.
    """
    from deltalake import CommitProperties, Transaction, write_deltalake

    # A stream (a snapshot larger than memory) cannot be replayed: one attempt, delta-rs retries the commit.
    attempts = 1 if isinstance(data, pa.RecordBatchReader) else COMMIT_ATTEMPTS

    tries = 0

    def attempt() -> bool:
        nonlocal tries
        tries += 1
        dt = open_table(settings, uri)
        if dt is not None:
            done = dt.transaction_version(app_id)
            if done is not None and done >= txn_version:
                if tries > 1:
                    # Our last attempt lost a clean race (it did not land), yet the batch number is now taken:
                    # another process writes under the same app id. Skipping would drop this batch silently.
                    raise LakeError(
                        f"{uri}: batch {txn_version} of {app_id} was committed by another writer meanwhile; "
                        "each concurrent writer needs its own app id"
                    )
                return False
            if isinstance(data, pa.Table) and data.num_rows == 0:
                return False
        write_deltalake(
            uri,
            data,
            mode="append",
            partition_by=list(partition_by) or None,
            schema_mode=schema_mode if dt is not None else None,
            configuration=configuration if dt is None else None,
            storage_options=storage_options(settings) or None,
            commit_properties=CommitProperties(app_transactions=[Transaction(app_id, txn_version)]),
        )
        return True

    return _commit(uri, "append to", attempt, attempts=attempts)


def mark_applied(settings: Settings, uri: str, app_id: str, txn_version: int) -> bool:
    """Record in the table that ``app_id`` applied batch ``txn_version``: a commit holding only that.

    Returns False (and commits nothing) when there is no table or it already records that batch.
    """
    from deltalake import CommitProperties, Transaction

    def attempt() -> bool:
        dt = open_table(settings, uri)
        if dt is None:
            return False
        done = dt.transaction_version(app_id)
        if done is not None and done >= txn_version:
            return False
        dt.create_write_transaction(
            [],
            mode="append",
            schema=dt.schema(),
            partition_by=dt.metadata().partition_columns or None,
            commit_properties=CommitProperties(app_transactions=[Transaction(app_id, txn_version)]),
        )
        return True

    return _commit(uri, "record a batch in", attempt)


def replace(
    settings: Settings,
    uri: str,
    data: pa.Table | pa.RecordBatchReader,
    *,
    predicate: str | None = None,
    partition_by: Sequence[str] = (),
    configuration: dict[str, str | None] | None = None,
    app_id: str | None = None,
    txn_version: int | None = None,
) -> None:
    """Replace a whole table with ``data`` (creating it), or with ``predicate`` only the rows matching it.

    A whole-table replace may change the schema; a partial one appends ``data`` and removes the matching
    rows in the same commit (the first write of a table is a plain create). ``app_id``/``txn_version``
    record a batch in the same commit.
    """
    from deltalake import CommitProperties, Transaction, write_deltalake

    attempts = 1 if isinstance(data, pa.RecordBatchReader) else COMMIT_ATTEMPTS
    txn = [Transaction(app_id, txn_version)] if app_id is not None and txn_version is not None else []

    def attempt() -> None:
        exists = open_table(settings, uri) is not None
        write_deltalake(
            uri,
            data,
            mode="overwrite",
            predicate=predicate if exists else None,
            schema_mode=None if predicate and exists else "overwrite",
            partition_by=list(partition_by) or None,
            configuration=configuration,
            storage_options=storage_options(settings) or None,
            commit_properties=CommitProperties(app_transactions=txn) if txn else None,
        )

    _commit(uri, "replace", attempt, attempts=attempts)


def upsert(settings: Settings, uri: str, data: pa.Table, keys: Sequence[str]) -> int:
    """Insert or update ``data`` by ``keys`` in one commit (creating the table); the last row of a key wins.

    Returns
    -------
    int
        The number of distinct keys written.
    """
    from deltalake import write_deltalake

    if data.num_rows == 0:
        return 0
    # Keep the last row of each key: a MERGE refuses several source rows for one target row.
    index = pa.array(range(data.num_rows))
    last = data.append_column("_row", index).group_by(list(keys)).aggregate([("_row", "max")])
    data = data.take(last.column("_row_max").combine_chunks().sort())
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)

    def attempt() -> None:
        dt = open_table(settings, uri)
        if dt is None:
            write_deltalake(uri, data, mode="append", storage_options=storage_options(settings) or None)
            return
        (
            # merge_schema: a column the table lacks is added (a table written before its schema grew).
            dt.merge(source=data, predicate=on, source_alias="s", target_alias="t", merge_schema=True)
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )

    _commit(uri, "upsert into", attempt)
    return data.num_rows


def add_columns(settings: Settings, uri: str, fields: Sequence[pa.Field]) -> None:
    """Add nullable columns to an existing table (a schema change at a source reaching silver)."""
    from deltalake import Schema

    if not fields:
        return
    nullable = pa.schema([f.with_nullable(True) for f in fields])

    def attempt() -> None:
        dt = open_table(settings, uri)
        if dt is None:
            raise LakeError(f"no Delta table at {uri} to add columns to")
        have = pa.schema(dt.schema().to_arrow()).names
        missing = [f for f in Schema.from_arrow(nullable).fields if f.name not in have]
        if missing:
            dt.alter.add_columns(missing)

    _commit(uri, "add columns to", attempt)


def committed_version(settings: Settings, uri: str, app_id: str) -> int | None:
    """The last batch number ``app_id`` committed to the table (None when never, or no table)."""
    dt = open_table(settings, uri)
    return None if dt is None else dt.transaction_version(app_id)


def _dataset(settings: Settings, dt: DeltaTable, uri: str) -> pyarrow.dataset.Dataset:
    """The snapshot's data files as a pyarrow dataset (partition columns read from the paths).

    Reads the snapshot's own file list: globbing the folder would resurrect deleted or overwritten rows.
    """
    import pyarrow.dataset as ds

    schema = pa.schema(dt.schema().to_arrow())
    return ds.dataset(
        [fs_path(settings, f) for f in dt.file_uris()],
        schema=schema,
        filesystem=filesystem(settings),
        format="parquet",
        partitioning=ds.partitioning(
            pa.schema([schema.field(c) for c in dt.metadata().partition_columns]), flavor="hive"
        ),
        partition_base_dir=fs_path(settings, uri),
    )


def read_arrow(settings: Settings, uri: str, columns: Sequence[str] | None = None) -> pa.Table | None:
    """Read a whole (small) Delta table into Arrow without Spark; None when there is no table."""
    dt = open_table(settings, uri)
    if dt is None:
        return None
    if not dt.file_uris():
        table = pa.Table.from_batches([], schema=pa.schema(dt.schema().to_arrow()))
        return table.select(list(columns)) if columns else table
    # Project in the scan: a wide column (e.g. header_json) is then never read when it is not asked for.
    table = _dataset(settings, dt, uri).to_table(columns=list(columns) if columns else None)
    return table.select(list(columns)) if columns else table


def values_present(settings: Settings, uri: str, column: str, values: Iterable[str]) -> set[str]:
    """Which of ``values`` occur in a text ``column`` of the table.

    The filter is applied batch by batch as the files are scanned: memory follows the values asked about, not
    the table (a bronze table holding years of rows).
    """
    import pyarrow.dataset as ds

    wanted = pa.array(sorted(set(values)), type=pa.string())
    dt = open_table(settings, uri) if len(wanted) else None
    if dt is None or not dt.file_uris():
        return set()
    found = _dataset(settings, dt, uri).to_table(columns=[column], filter=ds.field(column).isin(wanted))
    return set(found.column(column).to_pylist())


def rows_matching(
    settings: Settings, uri: str, column: str, values: Iterable[str], columns: Sequence[str]
) -> pa.Table | None:
    """The ``columns`` of the rows whose text ``column`` is one of ``values`` (filtered as the files are scanned);
    None when there is no table."""
    import pyarrow.dataset as ds

    dt = open_table(settings, uri)
    if dt is None:
        return None
    wanted = pa.array(sorted(set(values)), type=pa.string())
    if not dt.file_uris() or not len(wanted):
        schema = pa.schema(dt.schema().to_arrow())
        return pa.Table.from_batches([], schema=pa.schema([schema.field(c) for c in columns]))
    return _dataset(settings, dt, uri).to_table(columns=list(columns), filter=ds.field(column).isin(wanted))


class TableIdentity(NamedTuple):
    """A table's Delta id (new when a table is created again at the same place) and current version."""

    table_id: str
    version: int


def table_identity(settings: Settings, uri: str) -> TableIdentity | None:
    """The table's id and version, or None when there is no table."""
    dt = open_table(settings, uri)
    return None if dt is None else TableIdentity(str(dt.metadata().id), dt.version())


def added_after(settings: Settings, uri: str, version: int) -> tuple[int, list[str]] | None:
    """The data files the commits after ``version`` added, read from the Delta log alone (no snapshot).

    Returns (the newest version read, the added files' URIs). Files a compaction re-adds (``dataChange``
    false) hold rows already counted and are left out.

    Returns None when the log cannot answer and the caller must scan the whole table: a commit after
    ``version`` is no longer in the log (cleaned up past it) while the table is newer, or one of those commits
    removed rows (a delete, overwrite or restore).
    """
    import json
    from urllib.parse import unquote

    fs = filesystem(settings)
    log_dir = f"{fs_path(settings, uri)}/_delta_log"
    added: list[str] = []
    seen = version
    while True:
        name = f"{log_dir}/{seen + 1:020d}.json"
        try:
            if fs is None:
                with open(name, "rb") as fh:
                    text = fh.read()
            else:
                with fs.open_input_stream(name) as stream:
                    text = stream.read()
        except FileNotFoundError:
            break
        except OSError:
            import pyarrow.fs as pafs

            if fs is not None and fs.get_file_info(name).type == pafs.FileType.NotFound:
                break  # an object store's "no such key"
            raise
        for line in text.splitlines():
            if not line.strip():
                continue
            action = json.loads(line)
            if "remove" in action and action["remove"].get("dataChange", True):
                return None
            add = action.get("add")
            if add is not None and add.get("dataChange", True):
                path = unquote(add["path"])
                added.append(path if "://" in path or path.startswith("/") else f"{uri.rstrip('/')}/{path}")
        seen += 1
    if seen == version:
        current = table_version(settings, uri)
        if current is not None and current > version:
            return None  # the log was cleaned past ``version``
    return seen, added


def scan_batches(
    settings: Settings, uri: str, columns: Sequence[str], files: Sequence[str] | None = None, batch_rows: int = 65536
) -> Iterator[pa.RecordBatch]:
    """Stream ``columns`` (not partition columns) of the table's current snapshot, or of the data ``files``
    given, in record batches.

    Memory follows ``batch_rows`` and one row group, not the table: for reading every key of a bronze table of
    billions of rows. Files are read one at a time through a buffered stream (a third less memory than a
    dataset scan, which reads ahead and holds whole column chunks).
    """
    import pyarrow.parquet as pq

    if files is None:
        dt = open_table(settings, uri)
        if dt is None:
            return
        files = dt.file_uris()
    fs = filesystem(settings)
    for f in files:
        with contextlib.ExitStack() as stack:
            source = f if fs is None else stack.enter_context(fs.open_input_file(fs_path(settings, f)))
            reader = pq.ParquetFile(source, buffer_size=1 << 20, pre_buffer=False)
            yield from reader.iter_batches(batch_size=batch_rows, columns=list(columns))


def read_since(
    settings: Settings, uri: str, since: int | None, columns: Sequence[str]
) -> tuple[pa.Table | None, int | None]:
    """Rows in data files added after version ``since`` (all rows when None), and the version read.

    A change feed for append-only tables (new rows are new files). Files rewritten by upkeep (compaction)
    come back too: callers drop rows they already handled. ``(None, None)`` when there is no table.
    """
    from deltalake import DeltaTable

    dt = open_table(settings, uri)
    if dt is None:
        return None, None
    version = dt.version()
    if since is not None and since >= version:
        return None, version
    now = dt.file_uris()
    if since is not None:
        before = set(DeltaTable(uri, version=since, storage_options=storage_options(settings) or None).file_uris())
        now = [f for f in now if f not in before]
    if not now:
        return None, version
    import pyarrow.dataset as ds

    full = _dataset(settings, dt, uri)
    wanted = {fs_path(settings, f) for f in now}
    picked = ds.FileSystemDataset(
        [frag for frag in full.get_fragments() if frag.path in wanted], full.schema, full.format, full.filesystem
    )
    return picked.to_table(columns=list(columns)), version


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
    fs = filesystem(settings)
    if fs is not None:
        with fs.open_input_file(fs_path(settings, files[0])) as fh:
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
    _commit(uri, "overwrite", lambda: writer.save(uri))


def delete_where(spark: SparkSession, uri: str, condition: str | None = None) -> None:
    """Delete the rows matching ``condition`` (every row when None) from the table at ``uri``."""
    where = f" WHERE {condition}" if condition else ""
    _commit(uri, "delete from", lambda: spark.sql(f"DELETE FROM delta.`{uri}`{where}").collect())


def merge(
    spark: SparkSession,
    df: DataFrame,
    uri: str,
    keys: Sequence[str],
    *,
    settings: Settings,
    delete_flag: str | None = None,
    explain: bool = False,
) -> None:
    """Upsert ``df`` into the Delta table at ``uri`` on ``keys`` (creating the table on first use).

    Column names may hold anything a source allows (spaces, dots, backticks, Chinese): every identifier is
    quoted with backticks, a backtick inside doubled.

    Parameters
    ----------
    settings
        For the lake's storage options: only a table that is really absent is created; any other failure to
        open it (a storage outage, a damaged log) raises instead of writing a new table over the old one.
    delete_flag
        A boolean column of ``df``; matched rows where it is true are deleted, and it is not stored.
    explain
        Only have the engine plan the MERGE (``EXPLAIN``): names and types are checked, nothing is written.
    """
    from pyspark.sql import functions as F

    columns = [c for c in df.columns if c != delete_flag]
    if open_table(settings, uri) is None:
        if explain:
            return
        first = df.filter(f"NOT {quote_identifier(delete_flag)}") if delete_flag else df
        out = first.select(*[F.col(quote_identifier(c)) for c in columns])
        _commit(uri, "create", lambda: out.write.format("delta").mode("overwrite").save(uri))
        return
    view = f"_radlake_merge_{abs(hash((uri, id(df))))}"
    df.createOrReplaceTempView(view)
    q = quote_identifier
    on = " AND ".join(f"t.{q(k)} <=> s.{q(k)}" for k in keys)
    sets = ", ".join(f"t.{q(c)} = s.{q(c)}" for c in columns)
    cols = ", ".join(q(c) for c in columns)
    vals = ", ".join(f"s.{q(c)}" for c in columns)
    clauses = []
    if delete_flag:
        clauses.append(f"WHEN MATCHED AND s.{q(delete_flag)} THEN DELETE")
        clauses.append(f"WHEN MATCHED THEN UPDATE SET {sets}")
        clauses.append(f"WHEN NOT MATCHED AND NOT s.{q(delete_flag)} THEN INSERT ({cols}) VALUES ({vals})")
    else:
        clauses.append(f"WHEN MATCHED THEN UPDATE SET {sets}")
        clauses.append(f"WHEN NOT MATCHED THEN INSERT ({cols}) VALUES ({vals})")
    statement = f"MERGE INTO delta.{q(uri)} AS t USING {view} AS s ON {on} " + " ".join(clauses)
    try:
        if explain:
            spark.sql("EXPLAIN " + statement).collect()
        else:
            _commit(uri, "merge into", lambda: spark.sql(statement).collect())
    finally:
        spark.catalog.dropTempView(view)


def quote_identifier(name: str) -> str:
    """A Spark SQL identifier for any name: in backticks, a backtick inside doubled."""
    return "`" + name.replace("`", "``") + "`"


# --- Upkeep (delta-rs): the commits of radlake.maintenance -------------------------------------------------


def _existing(settings: Settings, uri: str) -> DeltaTable:
    dt = open_table(settings, uri)
    if dt is None:
        raise LakeError(f"no Delta table at {uri}")
    return dt


def last_checkpoint_version(settings: Settings, uri: str) -> int | None:
    """The version of the table's newest checkpoint (``_delta_log/_last_checkpoint``), or None."""
    import json

    fs, path = filesystem(settings), f"{fs_path(settings, uri)}/_delta_log/_last_checkpoint"
    try:
        if fs is None:
            with open(path, "rb") as fh:
                return int(json.loads(fh.read())["version"])
        with fs.open_input_stream(path) as stream:
            return int(json.loads(stream.read())["version"])
    except (OSError, KeyError, ValueError):
        return None


def rewrite_small_files(
    settings: Settings,
    uri: str,
    partitions: Sequence[tuple[tuple[str, str], ...]],
    *,
    target_size: int,
    zorder_by: Sequence[str] = (),
) -> None:
    """Rewrite the small files of ``partitions`` into files of about ``target_size`` (Z-ordered if asked).

    Compaction is one commit for the table; Z-order one per partition (delta-rs Z-orders what a filter
    selects). Both rewrite the same rows: readers of any version see what they saw before. A rewrite that
    meets a concurrent commit on the same files is planned again (retried).
    """
    if not zorder_by:
        _commit(uri, "compact", lambda: _existing(settings, uri).optimize.compact(target_size=target_size))
        return
    for parts in partitions:
        filters = [(k, "=", v) for k, v in parts] or None

        def z_order(f: list[tuple[str, str, str]] | None = filters) -> object:
            return _existing(settings, uri).optimize.z_order(
                list(zorder_by), partition_filters=f, target_size=target_size
            )

        _commit(uri, "z-order", z_order)


def set_table_properties(settings: Settings, uri: str, properties: dict[str, str]) -> None:
    """Set table properties in one commit."""
    _commit(uri, "set properties of", lambda: _existing(settings, uri).alter.set_table_properties(properties))


def checkpoint(settings: Settings, uri: str) -> None:
    """Checkpoint the current version (it carries the app transactions: idempotent writers still find theirs)."""
    _commit(uri, "checkpoint", lambda: _existing(settings, uri).create_checkpoint())


def clean_log(settings: Settings, uri: str) -> None:
    """Drop log entries older than the table's ``delta.logRetentionDuration`` that a checkpoint covers."""
    _commit(uri, "clean the log of", lambda: _existing(settings, uri).cleanup_metadata())


def vacuum(settings: Settings, uri: str, *, retention_days: int, dry_run: bool) -> list[str]:
    """Delete data files no version of the last ``retention_days`` days references; returns them."""
    return list(
        _commit(
            uri,
            "vacuum",
            lambda: _existing(settings, uri).vacuum(
                retention_hours=retention_days * 24, dry_run=dry_run, enforce_retention_duration=False
            ),
        )
    )


def restore(settings: Settings, uri: str, version: int) -> dict[str, object]:
    """Make ``version`` the table's current state in a new commit.

    Raises
    ------
    LakeError
        The version is not in the table's history, or its log or files are gone (outside retention).
    """
    dt = _existing(settings, uri)
    if not 0 <= version <= dt.version():
        raise LakeError(f"{uri} has versions 0 to {dt.version()}, not {version}")
    try:
        return dict(dt.restore(version))
    except Exception as exc:  # delta-rs names no specific error for a version past retention
        text = str(exc).lower()
        if "missing file" in text or "no files in log segment" in text or "not found" in text:
            raise LakeError(
                f"version {version} of {uri} can no longer be restored (outside the retention window): {_one_line(exc)}"
            ) from None
        raise LakeError(f"restore {uri} failed: {_one_line(exc)}") from None
