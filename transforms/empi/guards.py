"""Evidence that two records are different people, whatever their scores say (twins, parent and child)."""

from __future__ import annotations

from transforms.empi.birth_dates import birth_dates_consistent
from transforms.empi.names import is_syllable_run

__all__ = ["birth_dates_consistent", "given_names_conflict", "ids_conflict", "sexes_conflict"]


def given_names_conflict(a: str | None, b: str | None) -> bool:
    """Whether two given names (toneless pinyin) cannot belong to one person.

    They conflict when both are known, differ, and the shorter is not the longer with whole syllables
    missing at its end or start: 思雨/思雪 (twins), 琴琴/琴琪 (``qinqi`` starts ``qinqin`` but ``n`` is
    no syllable), 伟/强. Homophones and traditional characters have equal pinyin, and a character missing
    or added leaves whole syllables (晓明/晓, 晓明/明); so those never conflict.

    Parameters
    ----------
    a, b
        Given-name pinyin without spaces (``"xiaoming"``), ``None``/``""`` when unknown.

    Returns
    -------
    bool
    """
    if not a or not b or a == b:
        return False
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    if long_.startswith(short) and is_syllable_run(long_[len(short) :]):
        return False
    return not (long_.endswith(short) and is_syllable_run(long_[: len(long_) - len(short)]))


def ids_conflict(a: str | None, b: str | None) -> bool:
    """Whether two trusted, valid 18-digit ID numbers differ (each person has exactly one).

    Parameters
    ----------
    a, b
        Valid ID numbers the records' own birth date and sex agree with, ``None`` otherwise.

    Returns
    -------
    bool
    """
    return bool(a) and bool(b) and a != b


def sexes_conflict(sexes_a: set[str], sexes_b: set[str], given_a: set[str], given_b: set[str]) -> bool:
    """Whether two groups of records differ in sex in a way a front-desk slip does not explain.

    Sexes conflict when each group has one known sex, they differ, each has a known given name and no given name
    is shared exactly:
    a twin brother whose record lost a character (思) next to his sister (思雨) stays apart, while one
    record of a person with a sex typed wrong still joins the records bearing the same name.

    Parameters
    ----------
    sexes_a, sexes_b
        Known sexes in each group.
    given_a, given_b
        Known given-name pinyin in each group.

    Returns
    -------
    bool
    """
    if len(sexes_a) != 1 or len(sexes_b) != 1 or sexes_a == sexes_b:
        return False
    # No given name known on one side (a pinyin name that reads in either order, ``zhu lei``): nothing tells a
    # sex typed wrong from a twin, and the scores decide.
    return bool(given_a) and bool(given_b) and given_a.isdisjoint(given_b)
