"""The recogniser's vocabulary: terms (synonyms, typos, English words) loaded from CSV data, and a trie over them."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from radlake.errors import DataError
from radlake.exam_standard import ExamStandard

LEXICON_DIR = Path(__file__).parent / "lexicon"
_FLAGS = frozenset({"filler", "sep", "vessel", "zaoying", "film", "generic", "weakmod"})
_END = "\0"  # key of a trie node that holds the term ending there


@dataclass(frozen=True, slots=True)
class Term:
    """One known word and what it says about the exam.

    ``body`` is the meaning for most modalities, ``body_dr`` for DR (rule 2: 头颅 is 颅骨 on a radiograph),
    ``vessel_body`` the meaning inside a vessel exam (rule 5), ``default_body`` the part implied when the
    name writes none (MRCP, 钡餐, LDCT). ``source`` is ``lexicon``, ``standard`` (a body-part name of the
    standard's own table) or ``learned`` (taught by a steward decision).
    """

    text: str
    mod: str | None = None
    body: str | None = None
    body_dr: str | None = None
    vessel_body: str | None = None
    default_body: str | None = None
    scan: str | None = None
    post: str | None = None
    view: str | None = None
    lat: str | None = None
    flags: frozenset[str] = frozenset()
    source: str = "lexicon"

    def has(self, flag: str) -> bool:
        return flag in self.flags

    def body_for(self, modality: str | None, vessel: bool) -> str | None:
        """The body part this term names for a modality, inside or outside a vessel exam."""
        if vessel and self.vessel_body:
            return self.vessel_body
        if modality == "DR" and self.body_dr:
            return self.body_dr
        return self.body


@dataclass
class Lexicon:
    """All vocabulary of the engine with a character trie for longest-first matching."""

    terms: dict[str, Term]
    typos: list[tuple[str, str]]
    package_words: list[str]
    mark_words: list[str]
    billing_strong: list[str]
    billing_weak: list[str]
    scanner_vendors: list[str] = field(default_factory=list)
    scanner_models: list[str] = field(default_factory=list)
    confusables: dict[str, str] = field(default_factory=dict)
    trie: dict = field(default_factory=dict, repr=False)
    # Built on first use by the normaliser (transforms.exam_names.pinyin / normalize): not part of the data.
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.trie:
            self.trie = _build_trie(self.terms.values())

    def with_terms(self, extra: Iterable[Term]) -> Lexicon:
        """A copy that also knows ``extra`` (learned terms never replace a known word)."""
        terms = dict(self.terms)
        for term in extra:
            terms.setdefault(term.text, term)
        return Lexicon(
            terms,
            self.typos,
            self.package_words,
            self.mark_words,
            self.billing_strong,
            self.billing_weak,
            self.scanner_vendors,
            self.scanner_models,
            self.confusables,
        )

    def longest_match(self, text: str, start: int) -> Term | None:
        """The longest term that starts at ``text[start]`` and respects Latin word boundaries."""
        node: dict | None = self.trie
        best: Term | None = None
        i = start
        n = len(text)
        while i < n:
            node = node.get(text[i]) if node is not None else None
            if node is None:
                break
            i += 1
            term = node.get(_END)
            if term is not None and _boundary_ok(text, start, i):
                best = term
        return best


def _is_latin(ch: str) -> bool:
    return "a" <= ch <= "z"


def _boundary_ok(text: str, start: int, end: int) -> bool:
    # A Latin word must not be cut out of a longer one ("us" in "thus", "pa" in "pancreas").
    if _is_latin(text[start]) and start > 0 and _is_latin(text[start - 1]):
        return False
    return not (_is_latin(text[end - 1]) and end < len(text) and _is_latin(text[end]))


def _build_trie(terms: Iterable[Term]) -> dict:
    root: dict = {}
    for term in terms:
        node = root
        for ch in term.text:
            node = node.setdefault(ch, {})
        node[_END] = term
    return root


def _rows(path: Path) -> Iterable[tuple[int, dict[str, str]]]:
    if not path.is_file():
        raise DataError(f"{path}: lexicon file missing")
    with path.open(encoding="utf-8", newline="") as fh:
        lines = [(i, line) for i, line in enumerate(fh, start=1) if line.strip() and not line.startswith("#")]
    if not lines:
        return
    header = next(csv.reader([lines[0][1]]))
    for lineno, line in lines[1:]:
        values = next(csv.reader([line]))
        if len(values) != len(header):
            raise DataError(f"{path} line {lineno}: expected {len(header)} columns, got {len(values)}")
        yield lineno, dict(zip(header, values, strict=True))


def _check_code(std: ExamStandard, path: Path, lineno: int, column: str, value: str) -> str | None:
    if not value:
        return None
    tables: dict[str, Mapping[str, object]] = {
        "body": std.body_parts,
        "body_dr": std.body_parts,
        "vessel_body": std.body_parts,
        "default_body": std.body_parts,
        "scan": std.scan_methods,
        "post": std.post_processings,
        "view": std.post_processings,
        "lat": std.addons,
    }
    if value not in tables[column]:
        raise DataError(f"{path} line {lineno}: {column} {value!r} is not in exam standard {std.version}")
    return value


def load_lexicon(standard: ExamStandard, folder: Path = LEXICON_DIR) -> Lexicon:
    """Load the vocabulary from ``folder`` and add the standard's own body-part names.

    Parameters
    ----------
    standard
        The standard whose codes the terms must use (every code in the files is checked against it).
    folder
        Holds ``terms.csv``, ``typos.csv``, ``noise.csv``, ``billing.csv``, ``scanners.csv`` (vendor and model
        words that carry no exam meaning) and ``confusables.csv`` (characters confused by shape).

    Raises
    ------
    DataError
        A file is missing, or a row is malformed or names a code the standard does not have (the message
        names the file and line).
    """
    terms: dict[str, Term] = {}
    path = folder / "terms.csv"
    for lineno, row in _rows(path):
        text = row["term"].strip().lower()
        if not text:
            raise DataError(f"{path} line {lineno}: empty term")
        if text in terms:
            raise DataError(f"{path} line {lineno}: term {text!r} listed twice")
        flags = frozenset(f for f in row["flags"].split(";") if f)
        if not flags <= _FLAGS:
            raise DataError(f"{path} line {lineno}: unknown flag(s) {sorted(flags - _FLAGS)}")
        mod = row["mod"].strip() or None
        if mod is not None:
            try:
                standard.modality(mod)
            except KeyError:
                raise DataError(f"{path} line {lineno}: modality {mod!r} not in the standard") from None
        body = _check_code(standard, path, lineno, "body", row["body"])
        terms[text] = Term(
            text=text,
            mod=mod,
            body=body,
            body_dr=_check_code(standard, path, lineno, "body_dr", row["body_dr"]) or body,
            vessel_body=_check_code(standard, path, lineno, "vessel_body", row["vessel_body"]),
            default_body=_check_code(standard, path, lineno, "default_body", row["default_body"]),
            scan=_check_code(standard, path, lineno, "scan", row["scan"]),
            post=_check_code(standard, path, lineno, "post", row["post"]),
            view=_check_code(standard, path, lineno, "view", row["view"]),
            lat=_check_code(standard, path, lineno, "lat", row["lat"]),
            flags=flags,
        )
    # The standard's own names of level-2/3 parts (and 全身) are words of their own (颈部软组织, 冠状动脉 ...).
    for bp in standard.body_parts.values():
        if bp.level == 1 and bp.code != "100000":
            continue
        text = bp.name_zh.lower()
        if text in terms:
            continue
        vessel = bp.code.startswith("09")
        terms[text] = Term(
            text=text,
            body=bp.code,
            body_dr=bp.code,
            vessel_body=bp.code if vessel else None,
            flags=frozenset({"vessel"}) if vessel else frozenset(),
            source="standard",
        )
    typos = [(r["wrong"], r["right"]) for _, r in _rows(folder / "typos.csv") if r["wrong"] != r["right"]]
    # Longer slips first, so a whole-word fix wins over a single character.
    typos.sort(key=lambda p: -len(p[0]))
    noise = list(_rows(folder / "noise.csv"))
    billing = list(_rows(folder / "billing.csv"))
    for lineno, r in noise:
        if r["stage"] not in ("package", "mark"):
            raise DataError(f"{folder / 'noise.csv'} line {lineno}: stage must be package or mark")
    for lineno, r in billing:
        if r["strength"] not in ("strong", "weak"):
            raise DataError(f"{folder / 'billing.csv'} line {lineno}: strength must be strong or weak")
    by_len = lambda words: sorted(words, key=lambda w: -len(w))  # noqa: E731
    scanners = list(_rows(folder / "scanners.csv"))
    for lineno, r in scanners:
        if r["kind"] not in ("vendor", "model") or not r["word"].strip():
            raise DataError(f"{folder / 'scanners.csv'} line {lineno}: kind must be vendor or model, word non-empty")
    return Lexicon(
        terms=terms,
        typos=typos,
        package_words=by_len(r["word"] for _, r in noise if r["stage"] == "package"),
        mark_words=by_len(r["word"] for _, r in noise if r["stage"] == "mark"),
        billing_strong=[r["marker"] for _, r in billing if r["strength"] == "strong"],
        billing_weak=[r["marker"] for _, r in billing if r["strength"] == "weak"],
        scanner_vendors=by_len(r["word"].strip().lower() for _, r in scanners if r["kind"] == "vendor"),
        scanner_models=by_len(r["word"].strip().lower() for _, r in scanners if r["kind"] == "model"),
        confusables=_confusable_classes(folder / "confusables.csv"),
    )


def _confusable_classes(path: Path) -> dict[str, str]:
    """Each character of ``confusables.csv`` mapped to one representative of its class (union of the pairs)."""
    parent: dict[str, str] = {}

    def find(c: str) -> str:
        while parent.setdefault(c, c) != c:
            c = parent[c]
        return c

    for lineno, r in _rows(path):
        a, b = r["right"].strip(), r["wrong"].strip()
        if len(a) != 1 or len(b) != 1:
            raise DataError(f"{path} line {lineno}: one character per column")
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra
    return {c: find(c) for c in parent}


def learned_term(text: str, *, body: str | None = None, mod: str | None = None) -> Term:
    """A term taught by a steward decision: a word the engine did not know, with the part or modality it names."""
    return replace(Term(text=text.lower()), body=body, body_dr=body, mod=mod, source="learned")
