"""The out-of-core EMPI (Parquet in, Parquet out, DuckDB on disk) gives what the in-memory EMPI gives."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from simulator.people import generate_registry
from transforms.empi.linkage import LinkageConfig
from transforms.empi.master import EmpiRun, PreviousRun, link_patients
from transforms.empi.outofcore import RegistryRun, link_registry

INSTITUTIONS = [f"h{i:02d}" for i in range(1, 9)]
# Training on a sample smaller than the registry: both paths must draw the same records.
CONFIG = LinkageConfig(u_max_pairs=1e5, em_max_pairs=1e5, train_records=2500)
FIRST = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SECOND = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)


def _same(name: str, memory: pd.DataFrame, files: Path, key: list[str]) -> None:
    disk = pq.read_table(files).to_pandas()
    assert len(memory) > 0, name
    pd.testing.assert_frame_equal(
        memory.sort_values(key, ignore_index=True)[list(disk.columns)],
        disk.sort_values(key, ignore_index=True),
        check_dtype=False,
        obj=name,
    )


def _compare(memory: EmpiRun, disk: RegistryRun) -> None:
    assert memory.stats == disk.stats
    _same("master", memory.master, disk.files.master, ["record_id"])
    _same("golden", memory.golden, disk.files.golden, ["empi_id"])
    _same("review", memory.review, disk.files.review, ["record_id_a", "record_id_b"])
    _same("events", memory.events, disk.files.events, ["event_id"])


@pytest.mark.slow
def test_out_of_core_run_equals_the_in_memory_run(tmp_path: Path) -> None:
    """A full run and an incremental one (new records, a steward's never-link splitting a person, a steward's
    link) give the same master, golden records, review queue and events from Parquet as from pandas; the
    incremental run parses only new records and leaves nothing in its spill folder."""
    registry = generate_registry(2000, INSTITUTIONS, seed=29, hard=True).sample(frac=1.0, random_state=3)
    records = registry.drop(columns=["person_id"]).reset_index(drop=True)
    held_back = len(records) // 10
    first, every = tmp_path / "first.parquet", tmp_path / "all.parquet"
    records.iloc[:-held_back].to_parquet(first)
    records.to_parquet(every)
    spill = tmp_path / "spill"
    config = LinkageConfig(**{**CONFIG.__dict__, "memory_limit": "500MB", "temp_directory": str(spill)})

    memory = link_patients(pd.read_parquet(first), config=CONFIG, now=FIRST)
    disk = link_registry(first, tmp_path / "run1", config=config, now=FIRST, batch_records=1500)
    assert memory.model["comparisons"][0]["comparison_levels"][1]["m_probability"] == pytest.approx(
        disk.model["comparisons"][0]["comparison_levels"][1]["m_probability"], rel=1e-9
    )
    _compare(memory, disk)

    # A person of two records a steward splits, and two persons a steward joins.
    master = memory.master
    sizes = master["empi_id"].map(master["empi_id"].value_counts())
    pair = master[sizes == 2].sort_values(["empi_id", "record_id"]).head(2)["record_id"].tolist()
    singles = master[sizes == 1]["record_id"].head(2).tolist()
    decisions = pd.DataFrame(
        {"record_id_a": [pair[0], singles[0]], "record_id_b": [pair[1], singles[1]], "decision": ["never_link", "link"]}
    )
    again = link_patients(
        pd.read_parquet(every),
        previous=PreviousRun(memory.master, memory.events, memory.review, memory.features, memory.golden),
        decisions=decisions,
        model=memory.model,
        config=CONFIG,
        now=SECOND,
    )
    disk_again = link_registry(
        every,
        tmp_path / "run2",
        previous=disk.files,
        decisions=decisions,
        model=memory.model,
        config=config,
        now=SECOND,
    )
    _compare(again, disk_again)
    assert disk_again.stats["new_records"] == held_back
    assert {"merge", "split"} <= set(again.events["event"])
    assert not any(spill.iterdir())
