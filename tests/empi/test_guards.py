"""Tests of the guards that keep look-alike strangers apart."""

from __future__ import annotations

import pytest

from transforms.empi.guards import given_names_conflict, ids_conflict, sexes_conflict


@pytest.mark.parametrize(
    ("a", "b", "conflict"),
    [
        ("siyu", "sixue", True),  # twins 思雨 / 思雪
        ("qinqin", "qinqi", True),  # 琴琴 / 琴琪: a letter prefix is not a missing character
        ("wei", "qiang", True),
        ("xiaoming", "xiaoming", False),  # homophones and traditional characters read alike
        ("xiaoming", "xiao", False),  # last character missing
        ("xiaoming", "ming", False),  # first character missing
        ("wei", None, False),
        ("", "wei", False),
    ],
)
def test_given_names_conflict(a: str | None, b: str | None, conflict: bool) -> None:
    assert given_names_conflict(a, b) is conflict
    assert given_names_conflict(b, a) is conflict


def test_ids_conflict_only_between_two_known_numbers() -> None:
    assert ids_conflict("330106198001011234", "330106198001011250")
    assert not ids_conflict("330106198001011234", "330106198001011234")
    assert not ids_conflict("330106198001011234", None)


def test_sexes_conflict_unless_a_name_is_shared() -> None:
    assert sexes_conflict({"M"}, {"F"}, {"si"}, {"siyu"})
    assert not sexes_conflict({"M"}, {"F"}, {"siyu"}, {"siyu"})  # one person, sex typed wrong once
    assert not sexes_conflict({"M", "F"}, {"F"}, {"si"}, {"siyu"})
    assert not sexes_conflict(set(), {"F"}, {"si"}, {"siyu"})
    # ``zhu lei`` reads either way (雷 is a surname too): no given name known, the sex slip is no guard evidence.
    assert not sexes_conflict({"M"}, {"F"}, {"lei"}, set())
