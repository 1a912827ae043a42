"""Tests of linkage on the hard cases: look-alike strangers stay apart, one person's variants link."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from transforms.empi.features import record_features
from transforms.empi.id_number import check_digit
from transforms.empi.linkage import LinkageConfig, deterministic_links, score_links
from transforms.empi.master import link_patients


def _id(region: str, birth: str, seq: str) -> str:
    body = region + birth.replace("-", "") + seq
    return body + check_digit(body)


def _record(record_id: str, name: str, sex: str, birth: str | None, **extra: Any) -> dict[str, Any]:
    institution, mrn = record_id.split(":")
    row = {"record_id": record_id, "source_system": institution, "mrn": mrn, "name": name, "sex": sex,
           "birth_date": birth, "id_number": None, "phone": None, "address": None}  # fmt: skip
    row.update(extra)
    return row


def _link(background: pd.DataFrame, model: dict[str, Any], rows: list[dict[str, Any]]) -> pd.Series:
    records = pd.concat([background, pd.DataFrame(rows)], ignore_index=True)
    run = link_patients(records, model=model, config=LinkageConfig(u_max_pairs=3e5, em_max_pairs=2e5))
    return run.master.set_index("record_id")["empi_id"]


def test_twins_never_merge(background: pd.DataFrame, model: dict[str, Any]) -> None:
    home = {"phone": "13957112345", "address": "浙江省杭州市西湖区文三路88号3幢1单元502室"}
    rows = [
        _record("x1:T1", "欧思雨", "F", "2012-05-06", id_number=_id("330106", "2012-05-06", "122"), **home),
        _record("x2:T1", "欧思雨", "F", "2012-05-06", **home),
        _record("x1:T2", "欧思雪", "F", "2012-05-06", id_number=_id("330106", "2012-05-06", "124"), **home),
        _record("x2:T2", "欧思雪", "F", "2012-05-06", **home),
        # Twin brothers without any ID number on file: the given names alone keep them apart.
        _record("x1:T3", "欧子涵", "M", "2015-09-01", **home),
        _record("x1:T4", "欧子轩", "M", "2015-09-01", **home),
    ]
    empi = _link(background, model, rows)
    assert empi["x1:T1"] == empi["x2:T1"]
    assert empi["x1:T2"] == empi["x2:T2"]
    assert empi["x1:T1"] != empi["x1:T2"]
    assert empi["x1:T3"] != empi["x1:T4"]


def test_parent_and_child_sharing_phone_and_address_never_merge(
    background: pd.DataFrame, model: dict[str, Any]
) -> None:
    home = {"phone": "13857154321", "address": "杭州市拱墅区湖墅南路12号2幢3单元301室"}
    father_id = _id("330105", "1978-02-14", "153")
    rows = [
        _record("x1:P1", "鲍建国", "M", "1978-02-14", id_number=father_id, **home),
        _record("x2:P1", "鲍建国", "M", "1978-02-14", **home),
        _record("x1:C1", "鲍晨阳", "M", "2009-07-30", **home),
        # The child registered under the father's ID card at a second hospital.
        _record("x2:C1", "鲍晨阳", "M", "2009-07-30", id_number=father_id, **home),
    ]
    empi = _link(background, model, rows)
    assert empi["x1:P1"] == empi["x2:P1"]
    assert empi["x1:C1"] == empi["x2:C1"]
    assert empi["x1:P1"] != empi["x1:C1"]


def test_many_people_called_zhang_wei_born_the_same_year_stay_apart(
    background: pd.DataFrame, model: dict[str, Any]
) -> None:
    rows = [
        _record(
            f"x1:Z{i}",
            "张伟",
            "M",
            f"1985-{i + 1:02d}-{3 + i:02d}",
            phone=f"1390000{i:04d}",
            address=f"杭州市滨江区江南大道{100 + i}号",
        )
        for i in range(8)
    ]
    # Two more with the very same birth date, told apart by their ID numbers.
    rows.append(_record("x1:Z8", "张伟", "M", "1985-06-15", id_number=_id("330108", "1985-06-15", "011")))
    rows.append(_record("x2:Z9", "张伟", "M", "1985-06-15", id_number=_id("330108", "1985-06-15", "013")))
    empi = _link(background, model, rows)
    ids = [empi[r["record_id"]] for r in rows]
    assert len(set(ids)) == len(rows)


def test_one_persons_variants_link(background: pd.DataFrame, model: dict[str, Any]) -> None:
    rows = [
        # Homophone and traditional characters, phone written differently.
        _record("x1:H1", "戚晓玲", "F", "1991-03-08", phone="13612340001", address="杭州市上城区解放路5号1幢101室"),
        _record("x2:H1", "戚晓灵", "F", "1991-03-08", phone="+86 136 1234 0001"),
        _record("x3:H1", "戚曉玲", "F", "1991-08-03", phone="136-1234-0001"),  # day and month swapped
        # A DICOM header: pinyin only, birth date and sex, nothing else.
        _record("x4:H1", "QI^XIAOLING", "F", "1991-03-08", address="浙江省杭州市上城区解放路5号1幢101室"),
    ]
    empi = _link(background, model, rows)
    assert len({empi[r["record_id"]] for r in rows}) == 1


def test_fifteen_digit_id_links_to_the_eighteen_digit_one(background: pd.DataFrame, model: dict[str, Any]) -> None:
    number = _id("330102", "1962-11-23", "041")
    old_form = number[:6] + number[8:17]
    rows = [
        _record("x1:O1", "竺国庆", "M", "1962-11-23", id_number=number, phone="13700001111"),
        _record("x2:O1", "Zhu Guoqing", "M", None, id_number=old_form, phone="13700002222"),
    ]
    empi = _link(background, model, rows)
    assert empi["x1:O1"] == empi["x2:O1"]


def test_changed_phone_still_links(background: pd.DataFrame, model: dict[str, Any]) -> None:
    rows = [
        _record("x1:M1", "闻雅婷", "F", "1987-12-01", phone="18800001234", address="杭州市余杭区文一西路998号"),
        _record("x2:M1", "闻雅婷", "F", "1987-12-01", phone="15900005678", address="杭州市余杭区文一西路998号"),
    ]
    empi = _link(background, model, rows)
    assert empi["x1:M1"] == empi["x2:M1"]


def test_deterministic_links_join_trusted_id_groups_as_stars() -> None:
    number = _id("330106", "1980-01-01", "123")
    records = pd.DataFrame(
        [
            _record("a:1", "甲乙", "M", "1980-01-01", id_number=number),
            _record("b:1", "甲乙", "M", None, id_number=number),
            _record("c:1", "甲乙", "M", "1980-01-01", id_number=number.lower()),
            _record("d:1", "甲乙", "F", "2001-05-05", id_number=number),  # contradicts the number: untrusted
            _record("e:1", "丙丁", "M", "1980-01-01"),
        ]
    )
    pairs = deterministic_links(record_features(records))
    assert sorted(map(tuple, pairs[["rid_l", "rid_r"]].to_numpy().tolist())) == [(0, 1), (0, 2)]
    assert set(pairs["rule"]) == {"id_number"}


def test_incremental_scoring_only_compares_new_records(
    background: pd.DataFrame, model: dict[str, Any], config: LinkageConfig
) -> None:
    features = record_features(background)
    new = pd.Series(False, index=features.index)
    new.iloc[-50:] = True
    pairs = score_links(features, model, config, new=new.to_numpy())
    involved = new.to_numpy()[pairs["rid_l"].to_numpy()] | new.to_numpy()[pairs["rid_r"].to_numpy()]
    assert len(pairs) > 0
    assert involved.all()
    full = score_links(features, model, config)
    full_new = full[new.to_numpy()[full["rid_l"].to_numpy()] | new.to_numpy()[full["rid_r"].to_numpy()]]
    assert set(map(tuple, full_new[["rid_l", "rid_r"]].to_numpy().tolist())) == set(
        map(tuple, pairs[["rid_l", "rid_r"]].to_numpy().tolist())
    )


def test_config_validates_thresholds() -> None:
    with pytest.raises(ValueError):
        LinkageConfig(review=0.9, auto_link=0.5)
    with pytest.raises(ValueError):
        LinkageConfig(engine="spark")
