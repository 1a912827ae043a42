"""Tests of GB 11643 resident ID numbers: check digit, validation, what they encode, 15 → 18 digits."""

from __future__ import annotations

import datetime as dt

import pytest

from transforms.empi.id_number import check_digit, normalize_id_number, parse_id_number, to_18_digits

# The worked example of GB 11643-1999 (Beijing, born 1949-12-31, a man).
STANDARD_EXAMPLE = "11010519491231002X"


def _check_by_definition(body: str) -> str:
    # ISO 7064 MOD 11-2 from its definition: weights 2^(i-1) mod 11 counted from the check position.
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(body))
    return "0123456789X"[(12 - total % 11) % 11]


def test_check_digit_of_the_standard_example() -> None:
    assert check_digit(STANDARD_EXAMPLE[:17]) == "X"


@pytest.mark.parametrize("body", ["11010519491231002", "33010619800101123", "44030519991231999", "00000000000000000"])
def test_check_digit_matches_the_iso_7064_definition(body: str) -> None:
    assert check_digit(body) == _check_by_definition(body)


def test_check_digit_rejects_bodies_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError):
        check_digit("1234")
    with pytest.raises(ValueError):
        check_digit("1101051949123100X")


def test_parse_reads_region_birth_date_and_sex() -> None:
    parsed = parse_id_number(STANDARD_EXAMPLE)
    assert parsed is not None
    assert parsed.region == "110105"
    assert parsed.birth_date == dt.date(1949, 12, 31)
    assert parsed.sex == "F"  # digit 17 is 2: even, a woman
    assert not parsed.from_15


def test_sex_is_the_parity_of_digit_17() -> None:
    body = "33010619800101" + "12"
    for digit, sex in (("3", "M"), ("4", "F")):
        number = body + digit + check_digit(body + digit)
        parsed = parse_id_number(number)
        assert parsed is not None and parsed.sex == sex


@pytest.mark.parametrize(
    "raw",
    [" 11010519491231002x ", "110105-19491231-002X", "１１０１０５１９４９１２３１００２Ｘ"],
)
def test_formatting_noise_is_normalised(raw: str) -> None:
    assert normalize_id_number(raw) == STANDARD_EXAMPLE
    assert parse_id_number(raw) is not None


@pytest.mark.parametrize(
    "raw",
    [
        "110105194912310021",  # wrong check digit
        "110105194912310X2X",  # letter inside
        "11010519491231002",  # 17 characters
        "990105194912310028",  # no province 99
        "110105194913310020",  # month 13
        "110105209912310023",  # born in the future
        "",
        None,
        float("nan"),
    ],
)
def test_invalid_numbers_give_none(raw: object) -> None:
    assert parse_id_number(raw, today=dt.date(2025, 1, 1)) is None


def test_every_single_digit_error_and_adjacent_swap_is_caught() -> None:
    number = "330106198001011234"
    number = number[:17] + check_digit(number[:17])
    for pos in range(17):
        for digit in "0123456789":
            if digit != number[pos]:
                typo = number[:pos] + digit + number[pos + 1 :]
                assert parse_id_number(typo) is None
    for pos in range(16):
        if number[pos] != number[pos + 1]:
            swapped = number[:pos] + number[pos + 1] + number[pos] + number[pos + 2 :]
            assert parse_id_number(swapped) is None


def test_fifteen_digit_numbers_convert_to_eighteen() -> None:
    assert to_18_digits("110105491231002") == STANDARD_EXAMPLE
    parsed = parse_id_number("110105491231002")
    assert parsed is not None
    assert parsed.number == STANDARD_EXAMPLE
    assert parsed.birth_date == dt.date(1949, 12, 31)
    assert parsed.from_15
    with pytest.raises(ValueError):
        to_18_digits("11010549123100")


def test_the_vectorised_parser_production_uses_agrees_with_the_checked_one() -> None:
    """parse_id_numbers (what the EMPI runs) gives what parse_id_number (the reference above) gives, value by
    value, over every case of this file and the simulator's registry with its typos and 15-digit numbers."""
    import random

    from simulator.people import generate_registry
    from transforms.empi.id_number import parse_id_numbers

    today = dt.date(2025, 1, 1)
    values: list[object] = [STANDARD_EXAMPLE, "110105491231002", " 11010519491231002x ", "", None, "abc", 42]
    values += list(generate_registry(3000, ["h01", "h02", "h03"], seed=3)["id_number"])
    rng = random.Random(5)
    for _ in range(500):  # single-digit typos of valid numbers
        body = list(STANDARD_EXAMPLE)
        body[rng.randrange(18)] = str(rng.randrange(10))
        values.append("".join(body))
    frame = parse_id_numbers(values, today=today)
    for value, row in zip(values, frame.itertuples(index=False), strict=True):
        ref = parse_id_number(value, today=today)
        assert (row.number, row.birth_date, row.sex, bool(row.from_15)) == (
            (ref.number, ref.birth_date, ref.sex, ref.from_15) if ref else (None, None, None, False)
        ), value
