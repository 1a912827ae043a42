"""Spark DataFrames in, Spark commits (Sail or a cluster): set-based rewrites (``replaceWhere``) and MERGE."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from radlake.config import Settings
from radlake.errors import LakeError
from radlake.lake.commit import commit, open_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


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
    commit(uri, "overwrite", lambda: writer.save(uri))


def delete_where(spark: SparkSession, uri: str, condition: str | None = None) -> None:
    """Delete the rows matching ``condition`` (every row when None) from the table at ``uri``."""
    where = f" WHERE {condition}" if condition else ""
    commit(uri, "delete from", lambda: spark.sql(f"DELETE FROM delta.`{uri}`{where}").collect())


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
        commit(uri, "create", lambda: out.write.format("delta").mode("overwrite").save(uri))
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
            commit(uri, "merge into", lambda: spark.sql(statement).collect())
    finally:
        spark.catalog.dropTempView(view)


def quote_identifier(name: str) -> str:
    """A Spark SQL identifier for any name: in backticks, a backtick inside doubled."""
    return "`" + name.replace("`", "``") + "`"
