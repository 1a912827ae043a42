"""Shared fixtures: one embedded Spark engine (Sail) per test session."""

from __future__ import annotations

import pytest

from radlake.config import Settings


@pytest.fixture(scope="session")
def spark():
    """A Spark Connect session on the in-process Sail engine."""
    from radlake.spark import spark_session, stop_embedded

    session = spark_session(Settings())
    yield session
    stop_embedded()
