"""Text decoding: declared character sets, ISO 2022 escapes, Chinese bytes under a missing or wrong one."""

from __future__ import annotations

import pytest

from ingestion.dicom.charset import character_set, decode_text


@pytest.mark.parametrize(
    ("declared", "raw", "text"),
    [
        ("GB18030", "ZHANG^WEI=张^伟".encode("gb18030"), "ZHANG^WEI=张^伟"),
        ("GBK", "王^喆".encode("gbk"), "王^喆"),  # 喆 is outside GB2312: still trusted under a GB declaration
        ("ISO_IR 192", "李^娜".encode(), "李^娜"),
        ("ISO_IR 100", "Müller^Jürgen".encode("latin-1"), "Müller^Jürgen"),
        ("ISO_IR 144", "Иванов^Иван".encode("iso8859_5"), "Иванов^Иван"),
        ("", b"SMITH^JOHN", "SMITH^JOHN"),
        ("\\ISO 2022 IR 87", "Yamada^Tarou=山田^太郎".encode("iso2022_jp"), "Yamada^Tarou=山田^太郎"),
    ],
)
def test_declared_sets_decode_without_inference(declared: str, raw: bytes, text: str) -> None:
    assert decode_text(raw, character_set(declared)) == (text, None)


def test_iso2022_ir58_escape_sequences_are_not_part_of_the_value() -> None:
    # PS3.5 Annex K example: G1 designated to GB2312 by ESC $ ) A, before each component group.
    raw = b"Zhang^XiaoDong=\x1b$)A\xd5\xc5^\x1b$)A\xd0\xa1\xb6\xab="
    text, inferred = decode_text(raw, character_set("\\ISO 2022 IR 58"))
    assert text == "Zhang^XiaoDong=张^小东="
    assert "\x1b" not in text and inferred is None
    # Writers that designate G1 once and keep it across "^" decode the same.
    once = b"Zhang^XiaoDong=\x1b$)A\xd5\xc5^\xd0\xa1\xb6\xab\x1b(B="
    assert decode_text(once, character_set("\\ISO 2022 IR 58"))[0] == "Zhang^XiaoDong=张^小东="


@pytest.mark.parametrize(
    ("declared", "codec", "expected_inferred"),
    [
        ("", "gb18030", "GB18030"),
        ("ISO_IR 6", "gb18030", "GB18030"),
        ("ISO_IR 100", "gb18030", "GB18030"),
        ("ISO_IR 192", "gb18030", "GB18030"),
        ("", "utf-8", "ISO_IR 192"),
        ("ISO_IR 100", "utf-8", "ISO_IR 192"),
        ("GB18030", "utf-8", "ISO_IR 192"),
    ],
)
def test_chinese_bytes_under_a_wrong_character_set_are_detected(
    declared: str, codec: str, expected_inferred: str
) -> None:
    for name in ("张^伟", "欧阳^娜娜", "第一人民医院"):
        text, inferred = decode_text(name.encode(codec), character_set(declared))
        assert text == name
        assert inferred == expected_inferred


def test_latin_text_is_not_mistaken_for_chinese() -> None:
    # Accented Latin letters read as GB give rare characters, often beside ASCII letters: rejected.
    for name in ("Müller", "KÖNIG^JÖRG", "Hélène^Dupré", "Ñoño"):
        text, inferred = decode_text(name.encode("latin-1"), character_set("ISO_IR 100"))
        assert (text, inferred) == (name, None)
    # With no declaration, Latin-1 is the fallback and it is recorded as inferred.
    assert decode_text("Müller".encode("latin-1"), character_set("")) == ("Müller", "ISO_IR 100")


def test_misspelled_terms_are_understood() -> None:
    assert decode_text("张".encode("gb18030"), character_set("gb18030")) == ("张", None)
    assert decode_text("张".encode(), character_set("ISO-IR 192")) == ("张", None)


@pytest.mark.parametrize("declared", ["ISO 2022 IR 100\\ISO 2022 IR 999", "ISO_IR 100\\X-UNKNOWN"])
def test_utf8_under_a_declaration_with_an_unknown_term_is_detected_not_read_as_latin1(declared: str) -> None:
    for name in ("张^伟", "Müller^Jürgen", "第一人民医院"):
        assert decode_text(name.encode(), character_set(declared)) == (name, "ISO_IR 192")
    # Latin-1 bytes under the same declaration are still read with its known (Latin-1) part.
    assert decode_text("Müller".encode("latin-1"), character_set(declared)) == ("Müller", None)
