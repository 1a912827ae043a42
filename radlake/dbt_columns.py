"""The dbt project's view of the lake's columns, generated from the catalog: ``dbt_project/macros/_lake_columns.sql``.

dbt's staging models read lake tables through ``optional_source``; when a table does not exist yet, the macro
stands in an empty relation with the table's columns, which it takes from ``lake_columns(source, table)``, the
macro this module writes. A test fails when the file is out of date: run ``python -m radlake.dbt_columns``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from radlake import catalog

PATH = Path(__file__).resolve().parent.parent / "dbt_project" / "macros" / "_lake_columns.sql"


def duckdb_columns(spec: catalog.TableSpec) -> list[tuple[str, str]]:
    """The table's columns with the DuckDB types its Arrow schema reads as (what ``delta_scan`` returns)."""
    import duckdb

    if spec.schema is None:
        raise KeyError(f"{spec.key} has no fixed schema in the catalog")
    with duckdb.connect() as con:
        relation = con.from_arrow(spec.schema.empty_table())
        return [(name, str(kind)) for name, kind in zip(relation.columns, relation.types, strict=True)]


def render() -> str:
    """The macro file: ``lake_columns(source_name, table_name)`` → {column: DuckDB type} of every fixed table."""
    lines = [
        "{#- Generated from radlake's catalog (radlake/catalog.py, radlake/_schemas.py) by",
        "    `python -m radlake.dbt_columns`: do not edit (tests/gold/test_staging_columns.py checks it). -#}",
        "",
        "{% macro lake_columns(source_name, table_name) %}",
        "  {%- set tables = {",
    ]
    specs = [s for s in catalog.tables() if s.schema is not None]
    for n, spec in enumerate(specs):
        columns = ", ".join(f"'{name}': '{kind}'" for name, kind in duckdb_columns(spec))
        lines.append(f"    '{spec.layer}.{spec.name}': {{{columns}}}{',' if n < len(specs) - 1 else ''}")
    lines += [
        "  } -%}",
        "  {{ return(tables[source_name ~ '.' ~ table_name]) }}",
        "{% endmacro %}",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    """Write the macro file; 0 when it changed nothing."""
    text = render()
    changed = not PATH.exists() or PATH.read_text(encoding="utf-8") != text
    PATH.write_text(text, encoding="utf-8")
    print(f"{PATH}: {'written' if changed else 'unchanged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
