"""Table handles: the one write API of jobs. A handle knows its table's place, keys, partitioning and schema.

``Lake(settings).table("silver", "exams")`` gives a :class:`Table`. Its write methods conform what is written
to the catalog's schema (:meth:`Table.conform`, the one conform of radlake) and commit through
:mod:`radlake.lake.deltars_writes` (Arrow in: ``append``, ``replace``, ``upsert``...) or
:mod:`radlake.lake.spark_writes` (Spark DataFrames in: ``spark_overwrite``, ``spark_merge``,
``spark_delete``); the engine is in the method's name. Callers never pass a URI, keys or partition columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from radlake import catalog
from radlake.catalog import CDC_LOG_PARTITION_BY, Layer, TableSpec
from radlake.config import Settings
from radlake.errors import DataError
from radlake.lake import arrow_reads, commit, deltars_writes, spark_writes
from radlake.storage import list_dir

if TYPE_CHECKING:
    import pandas as pd
    from deltalake import DeltaTable
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

__all__ = ["Lake", "Table"]

CREATE_APP = "radlake:create"  # the app id of the empty commit that creates a table before its first rows


class Lake:
    """The lake of one configuration: hands out table handles.

    Parameters
    ----------
    settings
        Where the lake is and how to reach its store.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def table(self, layer: Layer | TableSpec, name: str | None = None) -> Table:
        """The handle of a catalog table, by ``layer, name`` or by its spec.

        Raises
        ------
        KeyError
            The catalog has no such table.
        """
        spec = layer if isinstance(layer, TableSpec) else catalog.table(layer, name or "")
        return Table(self.settings, spec)

    def tables(self, *names: str) -> dict[str, Table]:
        """Handles of several catalog tables named ``layer/name``, by that name."""
        return {key: self.at(key) for key in names}

    def at(self, key: str) -> Table:
        """The handle of the table named ``layer/name`` (a catalog table, a CDC table or any table found there)."""
        layer, _, name = key.partition("/")
        try:
            return self.table(layer, name)  # type: ignore[arg-type]
        except KeyError:
            pattern = catalog.cdc_patterns()[0 if layer == "bronze" else 1]
            return Table(self.settings, replace(pattern, layer=layer, name=name, keys=()))  # type: ignore[arg-type]

    def cdc_log(self, source: str, source_table: str) -> Table:
        """The append-only change log of one captured source table (``bronze/<source>__<table>``)."""
        spec = catalog.cdc_patterns()[0]
        name = catalog.cdc_table_name(source, source_table)
        return Table(self.settings, replace(spec, name=name, partition_by=CDC_LOG_PARTITION_BY))

    def cdc_state(self, source: str, source_table: str, keys: Sequence[str] = ()) -> Table:
        """The current state of one captured source table (``silver/<source>__<table>``), merged on ``keys``
        (the source's primary key)."""
        spec = catalog.cdc_patterns()[1]
        return Table(self.settings, replace(spec, name=catalog.cdc_table_name(source, source_table), keys=tuple(keys)))

    def table_names(self, layer: Layer) -> list[str]:
        """The names of the folders in a layer's folder (tables, or what is left of them)."""
        return list_dir(self.settings, f"{self.settings.lake}/{layer}")

    def layer_tables(self, layer: Layer) -> list[Table]:
        """Handles of every Delta table found in a layer's folder (catalog and CDC tables alike)."""
        handles = [self.at(f"{layer}/{name}") for name in self.table_names(layer)]
        return [h for h in handles if list_dir(self.settings, f"{h.uri}/_delta_log")]


@dataclass
class Table:
    """One Delta table of the lake: where it is, its contract, and the only way jobs write it.

    Attributes
    ----------
    spec
        The catalog's entry (keys, partitioning, schema; None for the columns of a CDC table).
    uri
        ``<lake>/<layer>/<name>``: a local path or an s3:// URI.
    """

    settings: Settings
    spec: TableSpec
    uri: str = field(init=False)
    _exists: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.uri = catalog.table_uri(self.settings, self.spec)

    # --- the contract ------------------------------------------------------------------------------------

    @property
    def key(self) -> str:
        """``layer/name``."""
        return self.spec.key

    @property
    def keys(self) -> tuple[str, ...]:
        """The columns that identify a row (what ``upsert`` and ``spark_merge`` match on)."""
        return self.spec.keys

    @property
    def partition_by(self) -> tuple[str, ...]:
        """The partition columns."""
        return self.spec.partition_by

    @property
    def schema(self) -> pa.Schema:
        """The catalog's columns (Arrow).

        Raises
        ------
        KeyError
            The table's columns follow a source (a CDC table).
        """
        if self.spec.schema is None:
            raise KeyError(f"{self.key} has no fixed schema in the catalog")
        return self.spec.schema

    @property
    def spark_schema(self) -> StructType:
        """The catalog's columns as a Spark StructType (for an engine function's declared output)."""
        return catalog.spark_schema(self.spec)

    def empty(self) -> pa.Table:
        """No rows, the table's columns."""
        return self.schema.empty_table()

    def conform(self, data: pa.Table | pd.DataFrame | list[dict[str, Any]]) -> pa.Table:
        """``data`` with exactly the table's columns, in the catalog's order and types.

        The one conform of radlake: every write method calls it. A table without a fixed schema (CDC) takes
        ``data`` as it is.

        Raises
        ------
        radlake.errors.DataError
            A column of the contract is missing, or a value does not fit its type (the message names both).
        """
        if isinstance(data, list):
            return self._from_rows(data)
        if not isinstance(data, pa.Table):
            data = pa.Table.from_pandas(data, preserve_index=False)
        if self.spec.schema is None:
            return data
        missing = [name for name in self.schema.names if name not in data.column_names]
        if missing:
            raise DataError(f"{self.key}: the rows to write lack column {missing[0]!r} of the catalog")
        columns = []
        for target in self.schema:
            column = data.column(target.name)
            if column.type != target.type:
                try:
                    column = column.cast(target.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise DataError(f"{self.key}.{target.name}: values do not fit {target.type} ({exc})") from None
            columns.append(column)
        return pa.Table.from_arrays(columns, schema=self.schema)

    def _from_rows(self, rows: list[dict[str, Any]]) -> pa.Table:
        # Python values go straight to the column's type: a value that does not fit is named with its column.
        if self.spec.schema is None:
            return pa.Table.from_pylist(rows)
        columns = []
        for target in self.schema:
            try:
                columns.append(pa.array([r.get(target.name) for r in rows], type=target.type))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as exc:
                raise DataError(f"{self.key}.{target.name}: values do not fit {target.type} ({exc})") from None
        return pa.Table.from_arrays(columns, schema=self.schema)

    def conform_spark(self, df: DataFrame) -> DataFrame:
        """A Spark DataFrame with exactly the table's columns, in the catalog's order and types (explicit casts:
        the written table has these types whatever the engine inferred). A CDC table takes ``df`` as it is."""
        if self.spec.schema is None:
            return df
        from pyspark.sql import functions as F

        have = set(df.columns)
        missing = [name for name in self.schema.names if name not in have]
        if missing:
            raise DataError(f"{self.key}: the rows to write lack column {missing[0]!r} of the catalog")
        return df.select(
            *[F.col(spark_writes.quote_identifier(f.name)).cast(f.dataType).alias(f.name) for f in self.spark_schema]
        )

    def _conformed(
        self, data: pa.Table | pa.RecordBatchReader | pd.DataFrame | list[dict[str, Any]]
    ) -> pa.Table | pa.RecordBatchReader:
        """``data`` conformed; a stream (larger than memory) batch by batch as the writer reads it."""
        if not isinstance(data, pa.RecordBatchReader):
            return self.conform(data)
        if self.spec.schema is None:
            return data
        batches = (self.conform(pa.Table.from_batches([b])).to_batches() for b in data)
        return pa.RecordBatchReader.from_batches(self.schema, (b for chunk in batches for b in chunk))

    # --- Arrow in, delta-rs commits ----------------------------------------------------------------------

    def append(
        self,
        data: pa.Table | pa.RecordBatchReader | pd.DataFrame | list[dict[str, Any]],
        *,
        app_id: str,
        txn_version: int,
        schema_mode: Literal["merge", "overwrite"] | None = "merge",
        configuration: dict[str, str | None] | None = None,
    ) -> bool:
        """Append ``data`` (delta-rs) in one commit tagged with batch ``txn_version`` of ``app_id``, unless that
        batch already landed; True when a commit was made. See :func:`radlake.lake.deltars_writes.append_idempotent`."""
        made = deltars_writes.append_idempotent(
            self.settings,
            self.uri,
            self._conformed(data),
            app_id=app_id,
            txn_version=txn_version,
            partition_by=self.partition_by,
            schema_mode=schema_mode,
            configuration=configuration,
        )
        self._exists = self._exists or made
        return made

    def create(self, configuration: dict[str, str | None] | None = None) -> bool:
        """Create the table with no rows when it does not exist yet (delta-rs); True when it was created."""
        if self.exists():
            return False
        return self.append(self.empty(), app_id=CREATE_APP, txn_version=0, configuration=configuration)

    def mark_applied(self, app_id: str, txn_version: int) -> bool:
        """Record that ``app_id`` applied batch ``txn_version`` in a commit holding only that (delta-rs)."""
        return deltars_writes.mark_applied(self.settings, self.uri, app_id, txn_version)

    def replace(
        self,
        data: pa.Table | pa.RecordBatchReader | pd.DataFrame | list[dict[str, Any]],
        *,
        where: str | None = None,
        app_id: str | None = None,
        txn_version: int | None = None,
        configuration: dict[str, str | None] | None = None,
    ) -> None:
        """Replace the whole table with ``data`` (delta-rs), or with ``where`` only the rows matching it;
        ``app_id``/``txn_version`` record a batch in the same commit."""
        deltars_writes.replace(
            self.settings,
            self.uri,
            self._conformed(data),
            predicate=where,
            partition_by=self.partition_by,
            configuration=configuration,
            app_id=app_id,
            txn_version=txn_version,
        )
        self._exists = True

    def upsert(self, data: pa.Table | pd.DataFrame | list[dict[str, Any]]) -> int:
        """Insert or update ``data`` on the table's keys (delta-rs); the last row of a key wins. Returns the
        number of keys written."""
        written = deltars_writes.upsert(self.settings, self.uri, self.conform(data), self.keys)
        self._exists = self._exists or written > 0
        return written

    def add_columns(self, fields: Sequence[pa.Field]) -> None:
        """Add nullable columns to the existing table (delta-rs; a schema change at a source)."""
        deltars_writes.add_columns(self.settings, self.uri, fields)

    # --- Spark DataFrames in, Spark commits --------------------------------------------------------------

    def spark_overwrite(self, df: DataFrame, *, replace_where: str | None = None) -> None:
        """Replace the table (or, with ``replace_where``, only the rows matching it) with ``df`` (Spark)."""
        spark_writes.overwrite(
            self.conform_spark(df), self.uri, partition_by=self.partition_by, replace_where=replace_where
        )
        self._exists = True

    def spark_merge(
        self, spark: SparkSession, df: DataFrame, *, delete_flag: str | None = None, explain: bool = False
    ) -> None:
        """Upsert ``df`` on the table's keys with a Spark MERGE (creating the table); ``delete_flag`` names a
        boolean column whose true rows are deleted. See :func:`radlake.lake.spark_writes.merge`."""
        spark_writes.merge(
            spark, df, self.uri, self.keys, settings=self.settings, delete_flag=delete_flag, explain=explain
        )

    def spark_delete(self, spark: SparkSession, where: str | None = None) -> None:
        """Delete the rows matching ``where`` (every row when None) with Spark."""
        spark_writes.delete_where(spark, self.uri, where)

    def read_spark(self, spark: SparkSession) -> DataFrame:
        """The table as a Spark DataFrame (raises LakeError when there is none)."""
        return spark_writes.read(spark, self.uri)

    # --- state and Arrow reads ---------------------------------------------------------------------------

    def delta(self) -> DeltaTable | None:
        """The table's Delta log, read now (None when there is no table)."""
        dt = commit.open_table(self.settings, self.uri)
        self._exists = dt is not None
        return dt

    def exists(self) -> bool:
        """Whether the table exists (remembered once seen: a table is not dropped under a running job)."""
        return self._exists or self.delta() is not None

    def version(self) -> int | None:
        """The current version, or None when there is no table."""
        dt = self.delta()
        return None if dt is None else dt.version()

    def identity(self) -> commit.TableIdentity | None:
        """The table's Delta id and version, or None when there is no table."""
        return commit.table_identity(self.settings, self.uri)

    def committed_version(self, app_id: str) -> int | None:
        """The last batch ``app_id`` committed to the table (None when never, or no table)."""
        return commit.committed_version(self.settings, self.uri, app_id)

    def last_commit_ms(self) -> int | None:
        """When the newest commit was made (ms since the epoch), or None when there is no table."""
        return commit.last_commit_ms(self.settings, self.uri)

    def read_arrow(self, columns: Sequence[str] | None = None) -> pa.Table | None:
        """The whole (small) table in Arrow, or None when there is none."""
        return arrow_reads.read_arrow(self.settings, self.uri, columns)

    def values_present(self, column: str, values: Iterable[str]) -> set[str]:
        """Which of ``values`` occur in the text ``column``."""
        return arrow_reads.values_present(self.settings, self.uri, column, values)

    def rows_matching(self, column: str, values: Iterable[str], columns: Sequence[str]) -> pa.Table | None:
        """The ``columns`` of the rows whose text ``column`` is one of ``values``."""
        return arrow_reads.rows_matching(self.settings, self.uri, column, values, columns)

    def read_since(self, since: int | None, columns: Sequence[str]) -> tuple[pa.Table | None, int | None]:
        """Rows in files added after version ``since`` (all when None), and the version read."""
        return arrow_reads.read_since(self.settings, self.uri, since, columns)

    def added_after(self, version: int) -> tuple[int, list[str]] | None:
        """The data files the commits after ``version`` added (None: scan the whole table)."""
        return arrow_reads.added_after(self.settings, self.uri, version)

    def scan_batches(
        self, columns: Sequence[str], files: Sequence[str] | None = None, batch_rows: int = 65536
    ) -> Iterator[pa.RecordBatch]:
        """Stream ``columns`` of the snapshot (or of the data ``files`` given) in record batches."""
        return arrow_reads.scan_batches(self.settings, self.uri, columns, files, batch_rows)

    def head(self, columns: Sequence[str], n: int) -> pa.Table | None:
        """The first ``n`` rows of ``columns`` from one data file (a preview)."""
        return arrow_reads.head(self.settings, self.uri, columns, n)
