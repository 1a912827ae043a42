"""Shared fixtures: one embedded Spark engine (Sail) per session, one small simulated demo lake."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import pytest

from radlake.config import Settings
from radlake.pseudonym import KEY_ENV

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
"""Where tests keep what a person may want to look at afterwards (screenshots); git-ignored."""

# Everything that writes pseudonyms needs the site key: one random key per test session, known to the tests
# (tests/gold/test_key_leaks.py looks for it in every file a run wrote). Tests of a missing key remove it.
os.environ.setdefault(KEY_ENV, secrets.token_hex(32))

DEMO_SIZE = {"institutions": 2, "days": 2, "exams_per_day": 40, "seed": 11}

SLOW_TEARDOWN_SECONDS = 5.0
"""A fixture teardown this long is named in the summary (a server that ignores SIGTERM, a full stop sequence)."""


class SlowTeardowns:
    """Times every fixture's teardown: ``--durations`` charges a session fixture's to whichever test came last.

    A plugin, not conftest hooks: a conftest's hooks are not called for session fixtures (their node is the
    session, above tests/).
    """

    def __init__(self) -> None:
        self.started: dict[int, float] = {}
        self.slow: list[str] = []

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest):
        result = yield
        key = id(fixturedef)
        # Finalizers run last-in first-out: this one runs just before the fixture's own teardown.
        fixturedef.addfinalizer(lambda: self.started.__setitem__(key, time.monotonic()))
        return result

    def pytest_fixture_post_finalizer(self, fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest) -> None:
        started = self.started.pop(id(fixturedef), None)
        if started is not None and (took := time.monotonic() - started) >= SLOW_TEARDOWN_SECONDS:
            self.slow.append(f"{took:7.2f}s {fixturedef.scope} fixture {fixturedef.argname} ({fixturedef.baseid})")

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.slow:
            terminalreporter.section("slow fixture teardowns")
            for line in self.slow:
                terminalreporter.write_line(line)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(SlowTeardowns(), "radlake-slow-teardowns")


@pytest.fixture(scope="session")
def spark():
    """A Spark Connect session on the in-process Sail engine."""
    from radlake.spark import spark_session, stop_embedded

    session = spark_session(Settings())
    yield session
    stop_embedded()


@pytest.fixture(scope="session")
def demo_size() -> dict[str, int]:
    """The size of the shared demo simulation (small: the whole pipeline runs in well under a minute)."""
    return dict(DEMO_SIZE)


@pytest.fixture(scope="session")
def demo_run():
    """A small simulated group run end to end once per test session: (workdir, DemoSummary).

    Not under pytest's temporary folder: as root, the embedded PostgreSQL runs as its own user, and any pytest
    session that starts meanwhile (another engineer's) resets ``/tmp/pytest-of-root`` to 0700, locking it out.
    """
    import shutil
    import tempfile

    from orchestration.demo import run_demo
    from tests.demo_servers import stop_demo_postgres

    workdir = Path(tempfile.mkdtemp(prefix="radlake-demo-"))
    workdir.chmod(0o755)
    try:
        yield workdir, run_demo(workdir, **DEMO_SIZE)
    finally:
        stop_demo_postgres(workdir)
        shutil.rmtree(workdir, ignore_errors=True)
