"""A small simulated group shared by the simulator tests, with its PostgreSQL server left running."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from radlake.postgres import embedded_server, stop_embedded_server, with_database
from simulator.ris import PRIMARY_KEYS, TABLE_COLUMNS
from simulator.simulate import SimulationSummary, simulate

SMALL = {"institutions": 2, "days": 2, "exams_per_day": 20, "seed": 11}


@dataclass
class Simulated:
    """A finished simulation and a way into its databases."""

    out: Path
    summary: SimulationSummary

    def uri(self, institution: str) -> str:
        return with_database(embedded_server(self.out / "postgres"), f"ris_{institution}")

    def table(self, institution: str, table: str) -> pd.DataFrame:
        import psycopg

        with psycopg.connect(self.uri(institution)) as conn:
            cur = conn.execute(f"SELECT * FROM ris.{table} ORDER BY {PRIMARY_KEYS[table]}")
            return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])

    def dump(self) -> dict[tuple[str, str], list[tuple]]:
        """Every row of every table, in key order (for comparing two databases)."""
        import psycopg

        out = {}
        for inst in self.summary.institutions:
            with psycopg.connect(self.uri(inst)) as conn:
                for table in TABLE_COLUMNS:
                    rows = conn.execute(f"SELECT * FROM ris.{table} ORDER BY {PRIMARY_KEYS[table]}").fetchall()
                    out[(inst, table)] = rows
        return out

    def truth(self, name: str) -> pd.DataFrame:
        return pd.read_csv(self.out / "truth" / f"{name}.csv", dtype=str, keep_default_na=False)


def run_small(out: Path, **overrides: int) -> Simulated:
    """Simulate the small group into ``out`` and keep its server running."""
    summary = simulate(out, **{**SMALL, **overrides}, keep_server=True)
    return Simulated(out, summary)


@pytest.fixture(scope="session")
def sim_root() -> Iterator[Path]:
    """A folder outside pytest's basetemp for simulations.

    The embedded server runs as another user when tests run as root, and every pytest session that starts
    resets pytest's ``/tmp/pytest-of-<user>`` to mode 0700, which would lock that user out mid-test.
    """
    root = Path(tempfile.mkdtemp(prefix="radlake-simtest-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def workdir(sim_root: Path, request: pytest.FixtureRequest) -> Path:
    """A fresh folder for one test's simulation."""
    path = sim_root / request.node.name.replace("[", "_").replace("]", "")
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def make_small():
    """``make_small(out, **overrides)``: run the small simulation again (the caller stops its server)."""
    return run_small


@pytest.fixture(scope="session")
def small(sim_root: Path) -> Iterator[Simulated]:
    """2 institutions × 2 days × 20 orders a day; read-only for the tests that use it."""
    sim = run_small(sim_root / "small")
    yield sim
    stop_embedded_server(sim.out / "postgres")
