"""Tests of name normalisation and pinyin keys: homophones, traditional characters, pinyin-only names."""

from __future__ import annotations

import pytest

from transforms.empi.names import (
    dicom_pinyin,
    is_pinyin_name,
    is_syllable_run,
    name_key,
    normalize_name,
    parse_name,
    pinyin_order_ambiguous,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("张伟", "张伟"),
        (" 张 伟 ", "张伟"),
        ("张\u3000伟", "张伟"),
        ("ZHANG^WEI", "zhang wei"),
        ("Zhang  Wei", "zhang wei"),
        ("ＺＨＡＮＧ　ＷＥＩ", "zhang wei"),
        ("阿依古丽·买买提", "阿依古丽买买提"),
        (None, ""),
        (float("nan"), ""),
    ],
)
def test_normalize_name(raw: object, expected: str) -> None:
    assert normalize_name(raw) == expected


@pytest.mark.parametrize(
    "variant",
    ["张伟", "張偉", "张玮", "张炜", "ZHANG^WEI", "Zhang Wei", "zhang wei", "ZHANG WEI", "Zhang^Wei"],
)
def test_homophones_traditional_and_pinyin_share_one_key(variant: str) -> None:
    assert name_key(variant) == "zhangwei"


def test_different_names_have_different_keys() -> None:
    assert name_key("张伟") != name_key("张强")
    assert name_key("张伟") != name_key("章伟明")


@pytest.mark.parametrize(
    ("name", "surname", "given", "surname_py", "given_py"),
    [
        ("欧阳娜娜", "欧阳", "娜娜", "ouyang", "nana"),
        ("曾志伟", "曾", "志伟", "zeng", "zhiwei"),  # 曾 is read zeng as a surname
        ("单田芳", "单", "田芳", "shan", "tianfang"),
        ("zhang xiao ming", "", "", "zhang", "xiaoming"),
        ("lyu bu", "", "", "lv", "bu"),  # passports write 吕 LYU, clerks LV
    ],
)
def test_parse_name(name: str, surname: str, given: str, surname_py: str, given_py: str) -> None:
    assert parse_name(normalize_name(name)) == (surname, given, surname_py, given_py)


def test_dicom_pinyin_form() -> None:
    assert dicom_pinyin("张晓明") == "ZHANG^XIAOMING"
    assert dicom_pinyin("吕布") == dicom_pinyin("LYU^BU") == "LV^BU"
    assert dicom_pinyin("李") == "LI"
    assert dicom_pinyin("") == ""


def test_is_pinyin_name() -> None:
    assert is_pinyin_name("zhang wei")
    assert not is_pinyin_name("张伟")
    assert not is_pinyin_name("")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("ming", True), ("xiaoming", True), ("n", False), ("", False), ("ng", False), ("qinqin", True)],
)
def test_is_syllable_run(text: str, expected: bool) -> None:
    assert is_syllable_run(text) is expected


@pytest.mark.parametrize(
    ("typed", "surname", "given", "ambiguous"),
    [
        ("Xiaoming Zhang", "zhang", "xiaoming", False),  # given name first: the surname is the word that is one
        ("Huaqiang Li", "li", "huaqiang", False),
        ("ZHANG, XIAOMING", "zhang", "xiaoming", False),
        ("Zhang Xiao Ming", "zhang", "xiaoming", False),
        ("Fang Wang", "fang", "wang", True),  # 王芳 or 方旺: either word may be the surname
        ("Xiao Ming ZHANG", "zhang", "xiaoming", False),  # the surname in capitals, wherever it stands
        ("Xiaoming ZHANG", "zhang", "xiaoming", False),
        ("ZHANG/XIAOMING", "zhang", "xiaoming", False),  # airline style
        ("ZHANGXIAOMING", "zhang", "xiaoming", False),  # no separator: the surname, then whole syllables
        ("LYUXIAOMING", "lv", "xiaoming", False),
        ("OUYANGNANA", "ouyang", "nana", False),
    ],
)
def test_pinyin_order(typed: str, surname: str, given: str, ambiguous: bool) -> None:
    name = normalize_name(typed)
    assert parse_name(name)[2:] == (surname, given)
    assert pinyin_order_ambiguous(name) is ambiguous
