"""The gold warehouse: two DuckDB files whose readers never download an extension, and the dbt environment.

The analysts' file (``Settings.warehouse_path``) holds no direct identifiers; the stewards' file
(``Settings.stewards_warehouse_path``) holds the work lists that need real accession numbers and record ids.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from radlake import dbt_columns
from radlake.config import Settings
from radlake.errors import LakeError

if TYPE_CHECKING:
    import duckdb

    from radlake.publish import Build

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


def connect(settings: Settings, *, read_only: bool = True, stewards: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the analysts' warehouse file, or with ``stewards`` the stewards' file.

    The published path is a link to the current build's file (:mod:`radlake.publish`); the build's own path is
    opened, so a process holding an earlier build open still gets the current one.

    Raises
    ------
    LakeError
        The file does not exist yet (read-only) or cannot be opened.
    """
    import duckdb

    from radlake.publish import current_file

    path = str(current_file(settings, stewards))
    if read_only and not Path(path).exists():
        raise LakeError(f"warehouse {path} does not exist yet: build the marts first (radlake demo or dbt build)")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(path, read_only=read_only, config=duckdb_settings())  # type: ignore[arg-type]
    except duckdb.Error as exc:
        raise LakeError(f"warehouse {path} cannot be opened: {exc}") from None
    if settings.lake_is_s3:
        # Readers of the lake itself (delta_scan on s3://) need the object store's endpoint and keys.
        con.execute(s3_secret_sql(settings))
    return con


def s3_secret(settings: Settings) -> dict[str, str]:
    """DuckDB S3 secret parameters for an ``s3://`` lake, from the standard AWS environment variables.

    ``AWS_ENDPOINT_URL`` (MinIO, Ceph, a moto server) becomes a path-style endpoint, with TLS unless its scheme
    is ``http``; without it, AWS itself (virtual-host style). Empty for a local lake.
    """
    if not settings.lake_is_s3:
        return {}
    endpoint_url = os.environ.get("AWS_ENDPOINT_URL", "")
    secret = {
        "KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", ""),
        "SECRET": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
        "SESSION_TOKEN": os.environ.get("AWS_SESSION_TOKEN", ""),
        "REGION": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    }
    if endpoint_url:
        scheme, _, host = endpoint_url.partition("://")
        secret["ENDPOINT"] = (host or scheme).rstrip("/")
        secret["URL_STYLE"] = "path"
        secret["USE_SSL"] = "false" if scheme == "http" else "true"
    return secret


def s3_secret_sql(settings: Settings, name: str = "radlake_lake") -> str:
    """``CREATE OR REPLACE SECRET`` for the lake's bucket (a temporary secret: never written to the file)."""
    params = ", ".join(f"{k} '{v.replace(chr(39), chr(39) * 2)}'" for k, v in s3_secret(settings).items())
    return f"CREATE OR REPLACE SECRET {name} (TYPE s3, {params})"


def dbt_env(settings: Settings, build: Build | None = None) -> dict[str, str]:
    """Environment variables the dbt project's profile and sources read (absolute paths only).

    With ``build`` (:func:`radlake.publish.begin_build`) dbt writes that build's files, which
    :func:`radlake.publish.publish_build` then publishes; without, the configured paths themselves.
    Never the pseudonym key: the dbt plugin :mod:`radlake.dbt_pseudonyms` reads ``RADLAKE_PSEUDONYM_KEY`` (or
    the file ``RADLAKE_PSEUDONYM_KEY_FILE`` names, passed on here from ``pseudonym_key_file``) itself.
    """
    from radlake.private import stewards_folder
    from radlake.pseudonym import KEY_FILE_ENV

    analysts = str(build.analysts) if build else settings.warehouse_path
    stewards = str(build.stewards) if build else settings.stewards_warehouse_path
    for path in (analysts, stewards):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    stewards_folder(settings)  # owner-only: the stewards' file maps exam keys back to accession numbers
    s3 = s3_secret(settings)
    env = {
        "RADLAKE_LAKE": settings.lake,
        "RADLAKE_WAREHOUSE": analysts,
        "RADLAKE_STEWARDS_WAREHOUSE": stewards,
        "RADLAKE_DUCKDB_EXTENSIONS": extension_directory(),
        "RADLAKE_TIMEZONE": settings.timezone,
        "RADLAKE_MIN_CELL": str(settings.privacy.min_cell),
        # The catalog's columns, for the empty stand-in of a lake table that does not exist yet (optional_source).
        dbt_columns.ENV: dbt_columns.lake_columns_json(),
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        # The profile's S3 secret: where the object store is (keys stay in the AWS_* variables themselves).
        "RADLAKE_S3_ENDPOINT": s3.get("ENDPOINT", "s3.amazonaws.com"),
        "RADLAKE_S3_URL_STYLE": s3.get("URL_STYLE", "vhost"),
        "RADLAKE_S3_USE_SSL": s3.get("USE_SSL", "true"),
        "RADLAKE_S3_REGION": s3.get("REGION", "us-east-1"),
    }
    if settings.pseudonym_key_file and not os.environ.get(KEY_FILE_ENV):
        env[KEY_FILE_ENV] = str(settings.pseudonym_key_file)
    return env


def apply_dbt_env(settings: Settings, build: Build | None = None) -> None:
    """Put :func:`dbt_env` into this process's environment (dbt reads ``env_var`` from there)."""
    os.environ.update(dbt_env(settings, build))
