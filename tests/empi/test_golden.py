"""Tests of golden records: the best-supported value of each attribute per person."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from transforms.empi.features import record_features
from transforms.empi.golden import GOLDEN_COLUMNS, build_golden
from transforms.empi.id_number import check_digit

NUMBER = "33010619800101123"
NUMBER += check_digit(NUMBER)


def test_golden_picks_the_best_supported_values() -> None:
    records = pd.DataFrame(
        {
            "record_id": ["h03:9", "h01:1", "h02:5", "h01:7", "h02:8"],
            "name": ["ZHANG^WEI", "张伟", "张玮", "张伟", "LI^NA"],
            "sex": ["M", "M", "M", None, "F"],
            "birth_date": ["1980-01-01", "1980-10-01", None, "1980-01-01", "1990-02-02"],
            "id_number": [None, None, NUMBER, None, None],
            "phone": ["138 0000 0001", "13800000002", "+86 13800000001", None, "13900000009"],
            "address": None,
        }
    )
    features = record_features(records)
    stamp = pd.Timestamp("2025-01-01", tz="UTC")
    master = pd.DataFrame(
        {
            "record_id": features["record_id"],
            "empi_id": ["E0000000002", "E0000000002", "E0000000002", "E0000000002", "E0000000001"],
            "linked_at": [stamp, stamp, stamp + pd.Timedelta(days=1), stamp, stamp],
        }
    )
    golden = build_golden(features, master).set_index("empi_id")
    assert list(golden.reset_index().columns) == list(GOLDEN_COLUMNS)
    zhang = golden.loc["E0000000002"]
    assert zhang["name"] == "张伟"  # Chinese characters over pinyin, commonest first
    assert zhang["sex"] == "M"
    assert zhang["id_number"] == NUMBER
    assert zhang["birth_date"] == dt.date(1980, 1, 1)  # from the ID number, not the commonest typed date
    assert zhang["phones"] == ["13800000001", "13800000002"]  # commonest first
    assert zhang["source_records"] == ["h01:1", "h01:7", "h02:5", "h03:9"]
    assert zhang["updated_at"] == stamp + pd.Timedelta(days=1)
    li = golden.loc["E0000000001"]
    assert li["name"] == "LI^NA"  # only pinyin known: DICOM form
    assert li["id_number"] is None
    assert li["birth_date"] == dt.date(1990, 2, 2)
