"""dbt-duckdb plugin: the SQL functions ``radlake_pseudonym(text)``, keyed outside any SQL text dbt records, and
``radlake_scrub(text)`` (identifiers in free text replaced by markers, :mod:`radlake.freetext`).

The profile (dbt_project/profiles.yml) names this module; the key is read here from the environment
(:func:`radlake.pseudonym.load_key`), so it never passes through Jinja, ``env_var`` or a compiled model, and
never reaches dbt's manifest, run results, partial-parse file or logs. Without a key the dbt run stops before
any model is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow as pa
from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection
from duckdb.func import FunctionNullHandling, PythonUDFType
from duckdb.sqltypes import VARCHAR

from radlake.freetext import scrub
from radlake.pseudonym import keyed_pseudonym, load_key

FUNCTION_NAME = "radlake_pseudonym"
SCRUB_FUNCTION_NAME = "radlake_scrub"


def _arrow_text_function(conn: DuckDBPyConnection, name: str, fn: Callable[[str | None], str | None]) -> None:
    """Register ``name(varchar) -> varchar`` applying ``fn`` value by value (NULL passed to ``fn`` as None)."""

    def _apply(values: pa.Array) -> pa.Array:
        return pa.array([fn(v) for v in values.to_pylist()], pa.string())

    try:
        conn.create_function(
            name,
            _apply,
            [VARCHAR],
            VARCHAR,
            type=PythonUDFType.ARROW,
            null_handling=FunctionNullHandling.SPECIAL,
            side_effects=False,
        )
    except duckdb.CatalogException as exc:
        # dbt's threads configure their cursors of one database side by side; a second registration of the
        # same function (same key, this process) finds the first one there, which is what it would have made.
        if "already exists" not in str(exc):
            raise


def register(conn: DuckDBPyConnection, key: bytes) -> None:
    """Register ``radlake_pseudonym(varchar) -> varchar`` under ``key``, and ``radlake_scrub(varchar) -> varchar``,
    on a DuckDB connection (and its cursors)."""
    _arrow_text_function(conn, FUNCTION_NAME, lambda value: keyed_pseudonym(key, value))
    # Free text bound for the analysts' file: identifiers a clerk typed into it become markers (radlake.freetext).
    _arrow_text_function(conn, SCRUB_FUNCTION_NAME, scrub)


class Plugin(BasePlugin):
    """Registers :data:`FUNCTION_NAME` on every connection dbt opens."""

    def initialize(self, plugin_config: dict[str, Any]) -> None:
        # Fail at start, with the one-line reason, rather than at the first model that needs a pseudonym.
        self._key = load_key()

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        register(conn, self._key)
