"""Dagster resources: the radlake settings (one radlake.yaml) and the Spark session they describe."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

from radlake.config import Settings, load_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class RadlakeResource(dg.ConfigurableResource):
    """The radlake.yaml the code location runs with (``RADLAKE_CONFIG``)."""

    config_path: str | None = None

    def settings(self) -> Settings:
        """The validated settings (read once per process and path)."""
        return _settings_for(self.config_path)

    def spark(self) -> SparkSession:
        """The Spark session of these settings (in-process Sail unless a cluster URL is configured)."""
        from radlake.spark import spark_session

        return spark_session(self.settings())


_cache: dict[str | None, Settings] = {}


def _settings_for(path: str | None) -> Settings:
    if path not in _cache:
        _cache[path] = load_settings(path)
    return _cache[path]
