"""Arrow reads of Delta tables (the snapshot's own file list through pyarrow; no Spark, no delta-rs scan).

``DeltaTable.to_pyarrow_table()`` can abort the process at exit (docs: STACK.md): the data files are read
with pyarrow instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from radlake.config import Settings
from radlake.lake.commit import open_table, table_version
from radlake.storage import filesystem, fs_path, storage_options

if TYPE_CHECKING:
    import pyarrow.dataset
    from deltalake import DeltaTable


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
