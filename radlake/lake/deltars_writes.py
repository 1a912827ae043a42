"""Arrow in, delta-rs commits: landing from a source and small steward tables, in plain Python.

delta-rs can carry a Delta *app transaction* (app id + version) in the same commit, which is what makes a
replayed batch a no-op after a crash. A retried idempotent append first re-reads the table's app transaction,
so a batch that did land is never written twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pyarrow as pa

from radlake.config import Settings
from radlake.errors import LakeError
from radlake.lake.commit import COMMIT_ATTEMPTS, commit, open_table
from radlake.storage import storage_options


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
            dt if dt is not None else uri,  # the snapshot just read: no second log read
            data,
            mode="append",
            partition_by=list(partition_by) or None,
            schema_mode=schema_mode if dt is not None else None,
            configuration=configuration if dt is None else None,
            storage_options=storage_options(settings) or None,
            commit_properties=CommitProperties(app_transactions=[Transaction(app_id, txn_version)]),
        )
        return True

    return commit(uri, "append to", attempt, attempts=attempts)


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

    return commit(uri, "record a batch in", attempt)


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
        dt = open_table(settings, uri)
        exists = dt is not None
        write_deltalake(
            dt if dt is not None else uri,
            data,
            mode="overwrite",
            predicate=predicate if exists else None,
            schema_mode=None if predicate and exists else "overwrite",
            partition_by=list(partition_by) or None,
            configuration=configuration,
            storage_options=storage_options(settings) or None,
            commit_properties=CommitProperties(app_transactions=txn) if txn else None,
        )

    commit(uri, "replace", attempt, attempts=attempts)


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

    commit(uri, "upsert into", attempt)
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

    commit(uri, "add columns to", attempt)
