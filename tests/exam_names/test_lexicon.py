"""Tests of the vocabulary loader and its trie."""

from __future__ import annotations

import shutil

import pytest

from radlake.errors import DataError
from transforms.exam_names.lexicon import LEXICON_DIR, load_lexicon


@pytest.fixture(scope="module")
def lexicon(standard):
    return load_lexicon(standard)


def test_standard_body_names_are_terms(lexicon, standard):
    for bp in standard.body_parts.values():
        if bp.level > 1:
            assert bp.name_zh.lower() in lexicon.terms, bp.name_zh
    assert lexicon.terms["颈部软组织"].source == "standard"
    assert lexicon.terms["冠状动脉"].has("vessel")


def test_per_modality_meanings(lexicon):
    head = lexicon.terms["头颅"]
    assert head.body_for("CT", False) == "010100"
    assert head.body_for("DR", False) == "010900"
    assert head.body_for("CT", True) == "090200"


def test_longest_match_and_latin_boundaries(lexicon):
    assert lexicon.longest_match("颈椎正侧位", 2).text == "正侧位"
    assert lexicon.longest_match("ct head", 0).text == "ct"
    assert lexicon.longest_match("thus", 2) is None  # "us" inside a Latin word
    assert lexicon.longest_match("ctpa", 0).text == "ctpa"


def test_a_bad_code_in_the_lexicon_names_file_and_line(tmp_path, standard):
    folder = tmp_path / "lexicon"
    shutil.copytree(LEXICON_DIR, folder)
    with (folder / "terms.csv").open("a", encoding="utf-8") as fh:
        fh.write("坏词,,999999,,,,,,,,\n")
    lines = (folder / "terms.csv").read_text(encoding="utf-8").count("\n")
    with pytest.raises(DataError, match=rf"terms.csv line {lines}: body '999999'"):
        load_lexicon(standard, folder)


def test_a_duplicate_term_is_refused(tmp_path, standard):
    folder = tmp_path / "lexicon"
    shutil.copytree(LEXICON_DIR, folder)
    with (folder / "terms.csv").open("a", encoding="utf-8") as fh:
        fh.write("ct,CT,,,,,,,,,\n")
    with pytest.raises(DataError, match="listed twice"):
        load_lexicon(standard, folder)


@pytest.mark.parametrize(
    ("file", "line", "message"),
    [
        ("scanners.csv", "somatom,scanner\n", "scanners.csv line"),
        ("confusables.csv", "膝盖,漆\n", "confusables.csv line"),
    ],
)
def test_bad_scanner_or_confusable_rows_name_file_and_line(tmp_path, standard, file, line, message):
    folder = tmp_path / "lexicon"
    shutil.copytree(LEXICON_DIR, folder)
    with (folder / file).open("a", encoding="utf-8") as fh:
        fh.write(line)
    with pytest.raises(DataError, match=message):
        load_lexicon(standard, folder)


def test_confusable_pairs_form_classes(lexicon):
    # 宫/官 and 宫/管 are two rows: all three characters read as one class.
    classes = lexicon.confusables
    assert classes["官"] == classes["管"] == classes["宫"]
    assert classes["盆"] == classes["盘"] != classes["宫"]
