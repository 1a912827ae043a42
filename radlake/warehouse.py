"""The gold warehouse: a DuckDB file whose readers never download an extension, and the dbt environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from radlake.config import Settings
from radlake.errors import LakeError

if TYPE_CHECKING:
    import duckdb

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"


def extension_directory() -> str:
    """Where the ``duckdb-ext-*`` wheels put DuckDB's signed extensions (delta, httpfs, aws)."""
    import duckdb_ext

    # A namespace package (several wheels share it): no __file__, one folder on __path__.
    return str(Path(next(iter(duckdb_ext.__path__))).resolve() / "extensions")


def duckdb_settings() -> dict[str, str | bool]:
    """DuckDB settings that load extensions from the wheels and never try the network (air-gapped sites)."""
    return {
        "extension_directory": extension_directory(),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": True,
    }


def connect(settings: Settings, *, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """Open the warehouse DuckDB file.

    Raises
    ------
    LakeError
        The file does not exist yet (read-only) or cannot be opened.
    """
    import duckdb

    path = settings.warehouse_path
    if read_only and not Path(path).exists():
        raise LakeError(f"warehouse {path} does not exist yet: build the marts first (radlake demo or dbt build)")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        return duckdb.connect(path, read_only=read_only, config=duckdb_settings())  # type: ignore[arg-type]
    except duckdb.Error as exc:
        raise LakeError(f"warehouse {path} cannot be opened: {exc}") from None


def dbt_env(settings: Settings) -> dict[str, str]:
    """Environment variables the dbt project's profile and sources read (absolute paths only)."""
    Path(settings.warehouse_path).parent.mkdir(parents=True, exist_ok=True)
    return {
        "RADLAKE_LAKE": settings.lake,
        "RADLAKE_WAREHOUSE": settings.warehouse_path,
        "RADLAKE_DUCKDB_EXTENSIONS": extension_directory(),
        "RADLAKE_TIMEZONE": settings.timezone,
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def apply_dbt_env(settings: Settings) -> None:
    """Put :func:`dbt_env` into this process's environment (dbt reads ``env_var`` from there)."""
    os.environ.update(dbt_env(settings))
