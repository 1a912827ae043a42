"""A one-hospital registry of a handful of patients (``radlake demo --institutions 1 --exams-per-day 5``).

Too few records agree on an ID number, a phone or a birth date for Splink to estimate the prior or run EM: the
training falls back (and says so in the log) instead of failing, and a patient registered twice still links.
"""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from simulator.people import generate_registry
from transforms.empi.features import record_features
from transforms.empi.linkage import LinkageConfig, score_links, train_model


def test_a_tiny_registry_trains_on_priors_and_links_its_duplicate(caplog: pytest.LogCaptureFixture) -> None:
    registry = generate_registry(6, ["h01"], seed=7).drop(columns=["person_id"]).reset_index(drop=True)
    # The same woman registered again under a new record number, without her ID card this time.
    again = registry.iloc[[1]].assign(record_id="h01:09999999", mrn="09999999", id_number=None)
    registry = pd.concat([registry, again], ignore_index=True)
    features = record_features(registry)
    config = LinkageConfig(u_max_pairs=1e4, em_max_pairs=1e4)
    with caplog.at_level(logging.WARNING, logger="transforms.empi.linkage"):
        model = train_model(features, config)
    said = caplog.text
    assert "share an ID number: the prior of a match is set to" in said
    assert said.count("EM training on") == 3 and "skipped" in said

    pairs = score_links(features, model, config)
    linked = {(int(r.rid_l), int(r.rid_r)) for r in pairs.itertuples() if r.match_probability >= config.auto_link}
    # The duplicate (row 1 and the last row) links; no two different people do (names, birth dates all differ).
    assert linked == {(1, len(registry) - 1)}, pairs
