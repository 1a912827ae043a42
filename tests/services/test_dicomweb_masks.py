"""Modality and date searches answered from arrays (services.dicomweb.masks) against a plain Python filter.

The index is bench/dicomweb.py's synthetic one, small (about 40 studies), written through the lake; the truth is
worked out from the synthetic rows themselves: filter, then the answer order (study date newest first, then
study UID, series number, series UID), then the page. Randomised queries cover lists, unknown values, open and
one-day ranges, pages past the end, and the 413 of a search broader than ``max_matches``.
"""

from __future__ import annotations

import importlib.util
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from radlake.config import Settings, SpaceConfig
from services.dicomweb.index import DicomwebIndex
from services.dicomweb.masks import positions
from services.dicomweb.query import parse_query
from services.dicomweb.search import search
from services.errors import ServiceError
from services.spaces import Space

_BENCH = Path(__file__).resolve().parents[2] / "bench" / "dicomweb.py"


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("dicomweb_bench", _BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _truth(studies: list[dict], series: list[dict], level: str, modalities: list[str] | None,
           low: date | None, high: date | None) -> list[str]:  # fmt: skip
    def dated(d: date) -> bool:
        return (low is None or d >= low) and (high is None or d <= high)

    if level == "study":
        found = [s for s in studies if dated(s["study_date"])]
        found.sort(key=lambda s: s["study_instance_uid"])
        found.sort(key=lambda s: (s["study_date"], s["study_time"]), reverse=True)
        return [s["study_instance_uid"] for s in found]
    hits = [se for se in series if dated(se["study"]["study_date"])]
    hits = [se for se in hits if modalities is None or se["modality"] in modalities]
    hits.sort(key=lambda se: (se["study_instance_uid"], se["series_number"], se["series_instance_uid"]))
    hits.sort(key=lambda se: se["study"]["study_date"], reverse=True)
    return [se["series_instance_uid"] for se in hits]


def test_modality_and_date_pages_match_a_python_filter(tmp_path: Path) -> None:
    bench = _bench()
    studies, series, instances = bench.synthesize(4000, seed=5)
    settings = Settings(lake=str(tmp_path / "lake"), spaces={"group": {"identified": True}})
    bench.write_index(settings, studies, series, instances)
    snapshot = DicomwebIndex(settings).snapshot()
    space = Space(name="group", config=SpaceConfig(identified=True))
    rng = random.Random(3)
    first = min(s["study_date"] for s in studies)
    for _ in range(80):
        level = rng.choice(("study", "series"))
        params: list[tuple[str, str]] = []
        modalities = None
        if level == "series" and rng.random() < 0.8:
            modalities = rng.sample(["CT", "MR", "DX", "US", "XA"], rng.choice((1, 1, 2, 3)))
            params.append(("Modality", "\\".join(modalities)))
        low = first + timedelta(days=rng.randrange(-5, 300)) if rng.random() < 0.7 else None
        high = low + timedelta(days=rng.choice((0, 0, 3, 40))) if low and rng.random() < 0.8 else None
        if low is None and rng.random() < 0.5:
            high = first + timedelta(days=rng.randrange(300))
        if low or high:
            ends = [f"{d:%Y%m%d}" if d else "" for d in (low, high)]
            text = ends[0] if low and high == low else "-".join(ends)
            params.append(("StudyDate", text))
        limit, offset = rng.choice((1, 7, 100)), rng.choice((0, 0, 3, 50, 500))
        params += [("limit", str(limit)), ("offset", str(offset))]
        query = parse_query(params, level, default_limit=100, max_limit=1000)  # type: ignore[arg-type]
        assert positions(snapshot.arrays[level], query.conditions, 0) is not None  # the arrays answer it
        truth = _truth(studies, series, level, modalities, low, high)
        max_matches = rng.choice((5, 100000))
        uid = "st.study_instance_uid" if level == "study" else "se.series_instance_uid"
        if len(truth) > max_matches:
            with pytest.raises(ServiceError) as refused:
                search(snapshot, space, level, query, [], max_matches=max_matches)  # type: ignore[arg-type]
            assert refused.value.status == 413
            continue
        found = search(snapshot, space, level, query, [], max_matches=max_matches).rows  # type: ignore[arg-type]
        assert [r[uid] for r in found] == truth[offset : offset + limit], params
        if level == "series":  # each series row carries its own study's columns
            assert all(r["st.study_instance_uid"] == r["se.study_instance_uid"] for r in found)
