"""Shared fixtures of the EMPI tests: a small synthetic registry and a model trained on it once."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import pytest

from simulator.people import generate_registry
from transforms.empi.features import record_features
from transforms.empi.linkage import LinkageConfig, train_model

logging.getLogger("splink").setLevel(logging.WARNING)

TEST_CONFIG = LinkageConfig(u_max_pairs=3e5, em_max_pairs=2e5)


@pytest.fixture(scope="session")
def config() -> LinkageConfig:
    """Linkage settings sized for small test registries."""
    return TEST_CONFIG


@pytest.fixture(scope="session")
def background() -> pd.DataFrame:
    """About 4,500 registrations of 3,000 persons at four hospitals, person_id dropped."""
    registry = generate_registry(3000, ["h01", "h02", "h03", "h04"], seed=2024)
    return registry.drop(columns=["person_id"])


@pytest.fixture(scope="session")
def model(background: pd.DataFrame) -> dict[str, Any]:
    """The Fellegi–Sunter model trained on the background registry."""
    return train_model(record_features(background), TEST_CONFIG)
