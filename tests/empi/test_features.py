"""Tests of the comparison columns computed from raw patient records."""

from __future__ import annotations

import pandas as pd
import pytest

from transforms.empi.features import FEATURE_COLUMNS, parse_birth_date, record_features
from transforms.empi.id_number import check_digit


def _number(body: str) -> str:
    return body + check_digit(body)


def test_columns_and_missing_values_are_none() -> None:
    features = record_features(pd.DataFrame({"record_id": ["a:1"], "name": [""], "phone": ["n/a"]}))
    assert list(features.columns) == list(FEATURE_COLUMNS)
    row = features.iloc[0]
    for column in ("name_norm", "name_py", "id18", "id_text", "phone", "address", "birth_date", "sex"):
        assert row[column] is None or pd.isna(row[column]), column


def test_id_numbers_trusted_only_when_the_record_agrees() -> None:
    father = _number("33010519780214153")
    records = pd.DataFrame(
        {
            "record_id": ["a:1", "a:2", "a:3", "a:4", "a:5"],
            "sex": ["M", "M", "M", "F", "M"],
            "birth_date": ["1978-02-14", "2009-07-30", "1978-14-02", "1978-02-14", None],
            "id_number": [father, father, father, father, father[:6] + father[8:17]],
        }
    )
    features = record_features(records).set_index("record_id")
    assert features.loc["a:1", "id18"] == father
    assert features.loc["a:2", "id18"] is None  # a child under the father's card: no evidence
    assert features.loc["a:2", "id_text"] is None
    assert features.loc["a:3", "id18"] == father  # an impossible typed date cannot contradict
    assert features.loc["a:4", "id18"] is None  # the sex disagrees
    assert features.loc["a:5", "id18"] == father  # 15 digits, converted
    assert features.loc["a:5", "birth_date"] == "1978-02-14"  # the number's date fills the gap


def test_a_mistyped_id_keeps_its_text_for_fuzzy_comparison() -> None:
    number = _number("33010619800101123")
    typo = number[:5] + str((int(number[5]) + 1) % 10) + number[6:]
    features = record_features(pd.DataFrame({"record_id": ["a:1"], "id_number": [typo]}))
    assert features.loc[0, "id18"] is None
    assert features.loc[0, "id_text"] == typo


def test_names_phones_and_addresses_are_normalised() -> None:
    records = pd.DataFrame(
        {
            "record_id": ["a:1", "a:2"],
            "name": ["張 偉", "ZHANG^WEI"],
            "phone": ["+86 138-0000-0001", "13800000001"],
            "address": ["浙江省杭州市西湖区文三路20号5栋", "杭州市西湖区文三路２０号５幢"],
        }
    )
    features = record_features(records)
    assert features["name_py"].tolist() == ["zhangwei", "zhangwei"]
    assert features["surname"].tolist() == ["張", None]
    assert features["phone"].nunique() == 1
    assert features["address"].nunique() == 1


def test_placeholder_phones_are_dropped() -> None:
    records = pd.DataFrame({"record_id": [f"a:{i}" for i in range(5)], "phone": ["13800000000"] * 5})
    assert record_features(records, max_phone_records=4)["phone"].isna().all()
    assert record_features(records, max_phone_records=5)["phone"].notna().all()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1980-01-02", "1980-01-02"), ("19800102", "1980-01-02"), ("1980年1月2日", "1980-01-02"),
     ("1980/1/2", "1980-01-02"), ("1980-02-30", None), ("", None), (None, None), ("1800-01-01", None)],
)  # fmt: skip
def test_parse_birth_date(raw: object, expected: str | None) -> None:
    parsed = parse_birth_date(raw)
    assert (parsed.isoformat() if parsed else None) == expected


def test_bad_record_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="row 2"):
        record_features(pd.DataFrame({"record_id": ["a:1", None]}))
    with pytest.raises(ValueError, match="more than once"):
        record_features(pd.DataFrame({"record_id": ["a:1", "a:1"]}))


def test_features_of_unchanged_records_reused_and_changed_ones_reparsed(monkeypatch: pytest.MonkeyPatch) -> None:
    from simulator.people import generate_registry
    from transforms.empi import features as module

    registry = generate_registry(300, ["h01", "h02"], seed=4, hard=True).drop(columns=["person_id"])
    before = record_features(registry.iloc[:-20])
    later = registry.iloc[::-1].reset_index(drop=True)  # another order, 20 new records, one record edited
    later.loc[100, "name"] = "欧阳娜娜"
    parsed: list[int] = []
    real = module._per_record

    def counting(records: pd.DataFrame, fingerprint: object) -> pd.DataFrame:
        parsed.append(len(records))
        return real(records, fingerprint)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "_per_record", counting)
    reused = record_features(later, previous=before)
    assert parsed == [21]  # the new records and the edited one
    appended = record_features(registry, previous=before)  # the usual case: the same order, 20 records added
    assert parsed == [21, 20]
    monkeypatch.setattr(module, "_per_record", real)
    pd.testing.assert_frame_equal(reused, record_features(later))
    pd.testing.assert_frame_equal(appended, record_features(registry))
    assert reused.loc[100, "name_norm"] == "欧阳娜娜"
