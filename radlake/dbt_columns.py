"""The lake's columns as dbt sees them, from the catalog: handed to every dbt run (``RADLAKE_LAKE_COLUMNS``).

dbt's staging models read lake tables through the macro ``optional_source``; when a table does not exist yet,
it stands in an empty relation with the table's columns, which the macro ``lake_columns`` reads from this
variable (:func:`radlake.warehouse.dbt_env` sets it), so the dbt project repeats no column list of the catalog.
"""

from __future__ import annotations

import json
from functools import cache

from radlake import catalog

ENV = "RADLAKE_LAKE_COLUMNS"


def duckdb_columns(spec: catalog.TableSpec) -> list[tuple[str, str]]:
    """The table's columns with the DuckDB types its Arrow schema reads as (what ``delta_scan`` returns)."""
    import duckdb

    if spec.schema is None:
        raise KeyError(f"{spec.key} has no fixed schema in the catalog")
    with duckdb.connect() as con:
        relation = con.from_arrow(spec.schema.empty_table())
        return [(name, str(kind)) for name, kind in zip(relation.columns, relation.types, strict=True)]


@cache
def lake_columns_json() -> str:
    """``{"<layer>.<name>": {column: DuckDB type, ...}}`` of every fixed table, as JSON (columns in order)."""
    return json.dumps(
        {f"{s.layer}.{s.name}": dict(duckdb_columns(s)) for s in catalog.tables() if s.schema is not None},
        separators=(",", ":"),
    )
