"""Tests of simulator.exam_names: the catalogue, house spellings and billing lines."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from radlake.exam_standard import load_standard
from simulator.exam_names import ExamItem, billing_lines, exam_items, spell

ALL_DICOM = {"CT", "MR", "DX", "MG", "US", "RF", "NM", "PT", "XA"}


@pytest.fixture(scope="module")
def items() -> list[ExamItem]:
    return exam_items()


def test_catalogue_is_large_valid_and_weighted(items):
    std = load_standard()
    assert len(items) >= 80
    assert {i.dicom_modality for i in items} == {"CT", "MR", "DX", "MG", "US"}
    for item in items:
        assert item.codes and all(std.is_valid_code(c) for c in item.codes)
        assert item.standard_names == tuple(std.standard_name(c) for c in item.codes)
        assert item.body_part_examined and item.body_part_examined.upper() == item.body_part_examined
        assert item.weight > 0
    assert len({i.key for i in items}) == len(items)
    assert any(len(i.codes) > 1 for i in items)
    heaviest = max(items, key=lambda i: i.weight)
    assert heaviest.weight >= 10 * min(i.weight for i in items)


def test_other_modalities_on_request():
    more = exam_items(dicom_modalities=ALL_DICOM)
    assert {"RF", "NM", "PT", "XA"} <= {i.dicom_modality for i in more}


def test_contrast_flag_follows_the_scan_method(items):
    for item in items:
        scans = {c[8:10] for c in item.codes}
        assert item.contrast == bool(scans & {"02", "03", "04", "05", "07"})


def test_spelling_is_deterministic(items):
    a = [spell(i, "h01", random.Random(7)) for i in items]
    b = [spell(i, "h01", random.Random(7)) for i in items]
    assert a == b


def test_each_house_has_a_stable_usual_name_and_houses_differ(items):
    item = max(items, key=lambda i: i.weight)
    rng = random.Random(3)
    per_house = {h: Counter(spell(item, h, rng) for _ in range(300)) for h in ("h01", "h02", "h03", "h04")}
    for counts in per_house.values():
        # One catalogue line dominates, noise makes the rest.
        assert counts.most_common(1)[0][1] >= 300 * 0.4
        assert len(counts) > 3
    assert len({c.most_common(1)[0][0] for c in per_house.values()}) >= 3


def test_noise_kinds_appear(items):
    rng = random.Random(11)
    names = [spell(i, f"h{n:02d}", rng) for n in range(1, 11) for i in items for _ in range(5)]
    text = "\n".join(names)
    for mark in ("急", "ＣＴ", "锥", "*"):
        assert mark in text, mark
    assert any(n.isascii() and " " in n for n in names)  # English names
    assert any(ch.isdigit() for n in names for ch in n[:3])  # local code prefixes
    assert len(set(names)) > len(items) * 5


def test_billing_lines_are_no_exam_names(items):
    lines = billing_lines()
    assert {"胶片费", "造影剂", "CT增强材料费", "加急费"} <= set(lines)
    names = {spell(i, "h01", random.Random(1)) for i in items}
    assert not names & set(lines)


def test_spellings_keep_the_codes_of_their_item(items):
    """Every spelling means its item's codes: the engine reads (nearly) all of them back."""
    from transforms.exam_names.engine import ExamNameEngine

    engine = ExamNameEngine()
    rng = random.Random(5)
    pairs = [(spell(i, f"h{n:02d}", rng), i.codes) for n in range(1, 6) for i in items for _ in range(3)]
    wrong = [(name, codes, engine.map(name).codes) for name, codes in pairs if engine.map(name).codes != codes]
    assert len(wrong) <= len(pairs) // 100, wrong[:10]
    assert all(engine.map(line).status == "not_exam" for line in billing_lines())
