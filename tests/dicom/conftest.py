"""Fixtures for DICOM ingestion: a fresh corpus of every case of issue 3, a fresh lake, an instance builder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dicom_corpus import Corpus, build_corpus, dataset_bytes, make_dataset

from radlake.config import Settings


@pytest.fixture()
def corpus(tmp_path: Path) -> Corpus:
    """A fresh corpus (per test: tests add files to it)."""
    return build_corpus(tmp_path / "in")


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh local lake."""
    return Settings(lake=str(tmp_path / "lake"))


@pytest.fixture()
def make_instance() -> Callable[..., bytes]:
    """Build the bytes of a small instance: ``make_instance(sop_uid, **dataset values)``."""

    def build(sop: str, *, implicit: bool = False, preamble: bool = True, **values: Any) -> bytes:
        return dataset_bytes(make_dataset(sop, **values), implicit=implicit, preamble=preamble)

    return build
