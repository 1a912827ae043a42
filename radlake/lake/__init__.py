"""The lake's one write path: every Delta commit of radlake is made in this package.

Jobs write through table handles (:class:`Lake`, :class:`Table`): ``Lake(settings).table("silver", "exams")``
knows the table's place, keys, partitioning and schema, conforms what is written, and commits on the engine its
method names. The modules below it say their engine:

- :mod:`radlake.lake.commit`: commit and retry (both engines), opening a table's log;
- :mod:`radlake.lake.deltars_writes`: Arrow in, delta-rs commits (idempotent appends, replace, upsert);
- :mod:`radlake.lake.spark_writes`: Spark DataFrames in, Spark commits (overwrite/``replaceWhere``, MERGE);
- :mod:`radlake.lake.arrow_reads`: Arrow reads of a snapshot's files;
- :mod:`radlake.lake.deltars_upkeep`: compaction, Z-order, checkpoints, vacuum, restore (delta-rs);
- :mod:`radlake.lake.table`: the handles.

Why two engines: Spark (Sail or a cluster) does the set-based work (reads, ``replaceWhere``, ``MERGE``).
Landing from a source (files, a replication stream) and small steward tables happen in plain Python with
Arrow; there delta-rs commits directly and can carry a Delta *app transaction* (app id + version) in the
same commit, which is what makes a replayed batch a no-op after a crash.

The module functions below are re-exported for upkeep, tests and benches; jobs use handles (a test checks it).
"""

from __future__ import annotations

from radlake.lake.arrow_reads import (
    added_after,
    head,
    read_arrow,
    read_since,
    rows_matching,
    scan_batches,
    values_present,
)
from radlake.lake.commit import (
    COMMIT_ATTEMPTS,
    SchemaMismatchError,
    TableIdentity,
    commit_retries,
    committed_version,
    ensure_writable,
    last_commit_ms,
    open_table,
    table_identity,
    table_version,
)
from radlake.lake.deltars_upkeep import (
    checkpoint,
    clean_log,
    last_checkpoint_version,
    restore,
    rewrite_small_files,
    set_table_properties,
    vacuum,
)
from radlake.lake.deltars_writes import add_columns, append_idempotent, mark_applied, replace, upsert
from radlake.lake.spark_writes import delete_where, merge, overwrite, quote_identifier, read
from radlake.lake.table import Lake, Table
from radlake.storage import list_dir, list_sizes, storage_options

__all__ = [
    "COMMIT_ATTEMPTS",
    "Lake",
    "SchemaMismatchError",
    "Table",
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
    "read_since",
    "replace",
    "restore",
    "rewrite_small_files",
    "rows_matching",
    "scan_batches",
    "set_table_properties",
    "storage_options",
    "table_identity",
    "table_version",
    "upsert",
    "vacuum",
    "values_present",
]
