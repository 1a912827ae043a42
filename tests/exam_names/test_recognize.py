"""Tests of recognition: longest-first terms, unknown chunks, same-sound slips, glued Latin words."""

from __future__ import annotations

import pytest

from transforms.exam_names.lexicon import load_lexicon
from transforms.exam_names.recognize import SoundIndex, tokenize, unknown_chars


@pytest.fixture(scope="module")
def lexicon(standard):
    return load_lexicon(standard)


@pytest.fixture(scope="module")
def sound(lexicon):
    return SoundIndex(lexicon)


def texts(tokens):
    return [(t.text, t.known) for t in tokens]


def test_longest_terms_first(lexicon):
    assert texts(tokenize("颈椎正侧位+双斜位", lexicon)) == [
        ("颈椎", True),
        ("正侧位", True),
        ("+", True),
        ("双斜位", True),
    ]


def test_unknown_chunks(lexicon):
    tokens = tokenize("阴囊彩超", lexicon)
    assert texts(tokens) == [("阴囊", False), ("彩超", True)]
    assert unknown_chars(tokens) == 2


def test_same_sound_slip_is_read_when_it_explains_more(lexicon, sound):
    tokens = tokenize("胸部正为片", lexicon, sound)
    assert [t.term.text for t in tokens] == ["胸部", "正位", "片"]
    assert tokens[1].by_sound
    # A different-sounding unknown stays unknown.
    assert unknown_chars(tokenize("阴囊彩超", lexicon, sound)) == 2


def test_glued_latin_words_are_split_only_into_known_words(lexicon):
    assert [t.text for t in tokenize("mridwi", lexicon)] == ["mri", "dwi"]
    assert texts(tokenize("portablex", lexicon)) == [("portablex", False)]
