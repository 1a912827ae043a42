"""Tests of phone and address normalisation."""

from __future__ import annotations

import pytest

from transforms.empi.contact import normalize_address, normalize_phone


@pytest.mark.parametrize(
    "raw",
    ["13812345678", "138 1234 5678", "138-1234-5678", "+86 138 1234 5678", "8613812345678", "008613812345678",
     "１３８１２３４５６７８", "+86-138-1234-5678"],
)  # fmt: skip
def test_mobile_numbers_in_any_format_normalise_alike(raw: str) -> None:
    assert normalize_phone(raw) == "13812345678"


def test_landlines_keep_their_area_code() -> None:
    assert normalize_phone("0571-8888 6666") == "057188886666"
    assert normalize_phone("+86 571 8888 6666") == "057188886666"


@pytest.mark.parametrize("raw", ["", None, "12345", "23812345678", "无", float("nan")])
def test_non_numbers_give_empty(raw: object) -> None:
    assert normalize_phone(raw) == ""


def test_address_variants_normalise_alike() -> None:
    variants = [
        "浙江省杭州市西湖区文三路20号5幢2单元603室",
        "杭州市西湖区文三路20号5幢2单元603室",
        "浙江省杭州市西湖区文三路２０号５栋２单元６０３",
        "浙江省 杭州市 西湖区 文三路20号 5号楼 2单元 603室",
    ]
    assert {normalize_address(v) for v in variants} == {"西湖区文三路20号5幢2单元603"}


def test_municipality_and_autonomous_region_prefixes_go() -> None:
    assert normalize_address("北京市东城区人民路1号2幢") == "东城区人民路1号2幢"
    assert normalize_address("广西壮族自治区南宁市青秀区人民路1号") == "青秀区人民路1号"


def test_different_addresses_stay_different() -> None:
    assert normalize_address("杭州市西湖区文三路20号") != normalize_address("杭州市西湖区文三路21号")
    assert normalize_address(None) == ""
