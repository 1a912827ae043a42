"""Build the batch a suite validates: a lake table (prepared), or a query over the lake and the warehouse."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from expectations.suites import Suite
from radlake.config import Settings
from radlake.errors import LakeError
from radlake.lake import Lake

if TYPE_CHECKING:
    import pandas as pd


def missing_tables(settings: Settings, suite: Suite) -> list[str]:
    """Lake tables (``layer/name``) and the warehouse the suite needs but that do not exist yet."""
    needed = list(suite.requires) if suite.sql else [suite.table]
    missing = [t for t in needed if not Lake(settings).at(t).exists()]
    if suite.reads_warehouse and not Path(settings.warehouse_path).exists():
        missing.append(f"warehouse {settings.warehouse_path}")
    return missing


def load_batch(settings: Settings, suite: Suite) -> pd.DataFrame:
    """The frame ``suite`` validates.

    Parameters
    ----------
    settings
        Where the lake and the warehouse are.
    suite
        A table suite (reads ``suite.table``, then ``suite.prepare``) or a query suite (``suite.sql``).

    Returns
    -------
    pandas.DataFrame
        The batch.

    Raises
    ------
    LakeError
        A table the suite reads does not exist (see :func:`missing_tables`), or its query fails.
    """
    missing = missing_tables(settings, suite)
    if missing:
        raise LakeError(f"suite {suite.name}: {', '.join(missing)} does not exist yet")
    if suite.sql:
        return _query(settings, suite)
    data = Lake(settings).at(suite.table).read_arrow(suite.columns)
    if data is None:  # removed between the check above and the read
        raise LakeError(f"suite {suite.name}: {suite.table} does not exist")
    frame = data.to_pandas()
    if suite.prepare is None:
        return frame
    if suite.keyed:  # the key of these settings (pseudonym_key_file), not only the environment's
        from radlake.pseudonym import load_key

        return suite.prepare(frame, load_key(settings))
    return suite.prepare(frame)


def _query(settings: Settings, suite: Suite) -> pd.DataFrame:
    import duckdb

    from radlake import warehouse

    assert suite.sql is not None
    con = duckdb.connect(config=warehouse.duckdb_settings())  # type: ignore[arg-type]
    try:
        con.execute(f"SET TimeZone = '{settings.timezone}'")
        if settings.lake_is_s3:
            con.execute(warehouse.s3_secret_sql(settings))
        if suite.reads_warehouse:
            # Read-only: the check must never hold a write lock on the file analysts and dbt open.
            path = settings.warehouse_path.replace("'", "''")
            con.execute(f"ATTACH '{path}' AS gold (READ_ONLY)")
        sql = suite.sql.replace("{lake}", settings.lake.replace("'", "''"))
        return con.execute(sql).df()
    except duckdb.Error as exc:
        raise LakeError(f"suite {suite.name}: its query failed: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
