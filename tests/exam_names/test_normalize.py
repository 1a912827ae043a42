"""Tests of the normalisation of raw exam names (rule 13 noise, widths, local codes, typos)."""

from __future__ import annotations

import pytest

from transforms.exam_names.lexicon import load_lexicon
from transforms.exam_names.normalize import normalize


@pytest.fixture(scope="module")
def lexicon(standard):
    return load_lexicon(standard)


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("ＣＴ头颅平扫", "ct头颅平扫"),
        ("【急诊】头颅ＣＴ平扫", "头颅ct平扫"),
        ("*CT胸部平扫(含胶片)", "ct胸部平扫"),
        ("△MR腰椎平扫", "mr腰椎平扫"),
        ("  头 颅 CT  ", "头颅ct"),
        ("CT Head  W/O", "ct head w/o"),
        ("X-Ray C-Spine", "x ray c spine"),
        ("颈锥CT", "颈椎ct"),
        ("头颅CT平扫(64排)", "头颅ct平扫"),
        ("腰椎MRI(3.0T)", "腰椎mri"),
        ("腰椎CT(L4-5)", "腰椎ct"),
        ("床旁胸片", "胸片"),
        ("CT检查（头颅）", "ct检查头颅"),
    ],
)
def test_normalize_text(lexicon, raw, text):
    assert normalize(raw, lexicon).text == text


@pytest.mark.parametrize(
    ("raw", "text", "hint"),
    [
        ("CT0012 头颅平扫", "头颅平扫", "ct"),
        ("MR0033 颈椎平扫", "颈椎平扫", "mr"),
        ("[123]头颅CT", "头颅ct", ""),
        ("00123-头颅CT", "头颅ct", ""),
        ("【急诊】CT6896 CT胰腺", "ct胰腺", "ct"),
        ("RF0012 钡餐", "钡餐", ""),
    ],
)
def test_local_codes_are_stripped_and_their_modality_kept_as_a_hint(lexicon, raw, text, hint):
    n = normalize(raw, lexicon)
    assert (n.text, n.code_hint) == (text, hint)


def test_package_words_leave_the_billing_text(lexicon):
    assert "胶片" not in normalize("CT胸部平扫(含胶片)", lexicon).billing_text
    assert "胶片" in normalize("CT胶片费", lexicon).billing_text
    # urgency marks are removed only after the billing check reads the name
    assert "加收" in normalize("急诊加收", lexicon).billing_text


def test_typo_fixes_are_counted(lexicon):
    assert normalize("颈锥CT", lexicon).typo_fixes == 1
    assert normalize("颈椎CT", lexicon).typo_fixes == 0
