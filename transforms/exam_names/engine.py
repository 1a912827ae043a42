"""The exam-name engine: raw name (per institution) → standard codes, status and confidence."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from radlake import catalog
from radlake.exam_standard import ExamStandard, load_standard
from transforms.exam_names.decisions import ANY_INSTITUTION, Decision
from transforms.exam_names.lexicon import Lexicon, Term, learned_term, load_lexicon
from transforms.exam_names.normalize import Normalized, normalize
from transforms.exam_names.recognize import SoundIndex, Token, tokenize
from transforms.exam_names.rules import Parse, RuleBook

STATUSES = catalog.MAPPING_STATUSES  # what silver/exam_name_map.status may hold
MATCHED, REVIEW, UNMATCHED, NOT_EXAM = STATUSES
# A name that normalises like a steward-decided one is that decision (noise never changes the code).
LEARNED_CONFIDENCE = 0.97
# A confident-enough guess that agrees with the decision on a very similar name is accepted.
NEIGHBOUR_CONFIDENCE = 0.93
NEIGHBOUR_MIN_SIMILARITY = 85.0


@dataclass(frozen=True)
class NameMapping:
    """The mapping of one raw name: what silver/exam_name_map stores per (institution, raw_name).

    Attributes
    ----------
    status
        ``matched`` (accepted automatically), ``review`` (a best guess a steward must confirm),
        ``unmatched`` (no guess) or ``not_exam`` (a billing line).
    mapped_by
        ``steward`` when a steward decision on this exact name and institution gave the codes, else ``engine``.
    reasons
        Why the confidence is below 1 (empty when sure).
    unrecognised
        The parts of the name the engine did not understand, as written after normalisation ("眼底照相" of
        "胸部CT+眼底照相"): a name with such a part is never accepted automatically, and the review queue
        names the part for the steward.
    """

    raw_name: str
    codes: tuple[str, ...]
    standard_names: tuple[str, ...]
    status: str
    confidence: float
    standard_version: str
    mapped_by: str
    institution: str | None = None
    reasons: tuple[str, ...] = ()
    unrecognised: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class _Result:
    codes: tuple[str, ...]
    status: str
    confidence: float
    reasons: tuple[str, ...]
    unrecognised: tuple[str, ...] = ()


def _unknown_runs(tokens: list[Token], text: str) -> list[tuple[int, str]]:
    """Stretches of a name made of unknown text and harmless words only (听骨链: 听 + 骨 + 链), as (start, text)."""
    runs: list[tuple[int, int, bool]] = []  # start, end, holds unknown text
    for tok in tokens:
        loose = tok.term is None or (tok.term.has("filler") and not tok.term.has("sep"))
        end = tok.start + len(tok.text)
        if loose and runs and runs[-1][1] == tok.start:
            runs[-1] = (runs[-1][0], end, runs[-1][2] or tok.term is None)
        elif loose:
            runs.append((tok.start, end, tok.term is None))
    return [(a, text[a:b]) for a, b, unknown in runs if unknown]


class ExamNameEngine:
    """Maps raw exam names onto the standard (rules 1-14), with steward decisions winning.

    Parameters
    ----------
    standard
        The exam standard (default: the newest shipped version).
    decisions
        Steward decisions. A decision on the exact (institution, raw name) always wins; a name that
        normalises like a decided one takes its codes; a word the engine did not know in a decided name is
        learned as a synonym; and a doubtful guess that agrees with the decision on a very similar name is
        accepted.
    lexicon
        Vocabulary (default: the CSV files under ``transforms/exam_names/lexicon``).
    matched_at, review_at
        Confidence from which a guess is ``matched`` (accepted), or ``review`` (shown to a steward).
    other_styles
        Read the conventions of other hospitals too (scanner prefixes, pinyin, shape-confused characters;
        issue 19). False runs the engine as it was before them: the speed baseline of ``bench/standardize.py``.
    """

    def __init__(
        self,
        standard: ExamStandard | None = None,
        decisions: Iterable[Decision] = (),
        *,
        lexicon: Lexicon | None = None,
        matched_at: float = 0.9,
        review_at: float = 0.5,
        other_styles: bool = True,
    ) -> None:
        self.standard = standard or load_standard()
        self.other_styles = other_styles
        self.matched_at = matched_at
        self.review_at = review_at
        base = lexicon or load_lexicon(self.standard)
        self._decisions: dict[tuple[str, str], Decision] = {}
        for d in decisions:
            self._decisions[d.key] = d
        self._by_norm: dict[str, Decision] = {}
        for d in self._decisions.values():
            self._by_norm[normalize(d.raw_name, base, other_styles=other_styles).key] = d
        self.learned_terms = self._learn(base)
        self.lexicon = base.with_terms(self.learned_terms) if self.learned_terms else base
        self._rules = RuleBook(self.standard, self.lexicon)
        self._sound = SoundIndex(self.lexicon, shapes=other_styles)
        self._neighbour_keys = list(self._by_norm)
        self._cache: dict[str, _Result] = {}
        self._names: dict[str, str] = {}
        # Billing markers by their first character: a name is checked only for markers it could hold.
        self._markers: dict[str, tuple[str, ...]] = {}
        for marker in (*self.lexicon.billing_strong, *self.lexicon.billing_weak):
            self._markers[marker[0]] = (*self._markers.get(marker[0], ()), marker)

    @property
    def version(self) -> str:
        return self.standard.version

    def _learn(self, base: Lexicon) -> list[Term]:
        """Words of decided names the engine did not know, learned as the part or modality they must name."""
        sound = SoundIndex(base, shapes=self.other_styles)
        learned: dict[str, Term] = {}
        for d in self._decisions.values():
            if d.not_exam or len(d.codes) != 1:
                continue
            text_norm = normalize(d.raw_name, base, other_styles=self.other_styles).text
            tokens = tokenize(text_norm, base, sound)
            runs = _unknown_runs(tokens, text_norm)
            if len(runs) != 1 or len(runs[0][1]) < 2:
                continue
            start, text = runs[0]
            terms = [t.term for t in tokens if t.term is not None and not start <= t.start < start + len(text)]
            code = self.standard.split_code(d.codes[0])
            has_body = any(t.body or t.vessel_body or t.default_body for t in terms)
            has_mod = any(t.mod for t in terms) or any(t.view for t in terms)
            if not has_body:
                learned[text] = learned_term(text, body=code.body_part)
            elif not has_mod:
                learned[text] = learned_term(text, mod=self.standard.modality(code.modality).abbrev)
        return list(learned.values())

    # -- mapping --------------------------------------------------------------------------------
    def map(self, raw_name: str, institution: str | None = None) -> NameMapping:
        """Map one raw name.

        Parameters
        ----------
        raw_name
            The name exactly as the institution wrote it.
        institution
            Institution code (``h01``); decisions on this institution's names apply first.

        Returns
        -------
        NameMapping
        """
        decision = self._decisions.get((institution or ANY_INSTITUTION, raw_name)) or self._decisions.get(
            (ANY_INSTITUTION, raw_name)
        )
        if decision is not None:
            return self._mapping(
                raw_name,
                institution,
                _Result(decision.codes, NOT_EXAM if decision.not_exam else MATCHED, 1.0, ()),
                "steward",
            )
        norm = normalize(raw_name if isinstance(raw_name, str) else "", self.lexicon, other_styles=self.other_styles)
        key = norm.key
        starts = self._markers.keys() & set(norm.billing_text)
        if any(m in norm.billing_text and m not in norm.text for c in starts for m in self._markers[c]):
            key = "\x1f" + norm.billing_text  # a marker only the un-noised text shows
        result = self._cache.get(key)
        if result is None:
            result = self._analyse(norm)
            self._cache[key] = result
        return self._mapping(raw_name, institution, result, "engine")

    def _mapping(self, raw: str, institution: str | None, r: _Result, by: str) -> NameMapping:
        return NameMapping(
            raw_name=raw,
            codes=r.codes,
            standard_names=tuple(self.standard_name(c) for c in r.codes),
            status=r.status,
            confidence=r.confidence,
            standard_version=self.standard.version,
            mapped_by=by,
            institution=institution,
            reasons=r.reasons,
            unrecognised=r.unrecognised,
        )

    def standard_name(self, code: str) -> str:
        """The standard name of a code (cached)."""
        name = self._names.get(code)
        if name is None:
            name = self._names[code] = self.standard.standard_name(code)
        return name

    def _status(self, parse: Parse) -> str:
        if parse.not_exam:
            return NOT_EXAM if parse.confidence >= self.matched_at else REVIEW
        if not parse.codes:
            return UNMATCHED
        if parse.confidence >= self.matched_at:
            return MATCHED
        return REVIEW if parse.confidence >= self.review_at else UNMATCHED

    def _analyse(self, norm: Normalized) -> _Result:
        decided = self._by_norm.get(norm.key)
        if decided is not None:
            return _Result(
                decided.codes,
                NOT_EXAM if decided.not_exam else MATCHED,
                LEARNED_CONFIDENCE,
                (f"written like the decided name {decided.raw_name!r}",),
            )
        tokens = tokenize(norm.text, self.lexicon, self._sound)
        parse = self._rules.parse(tokens, norm.billing_text, norm.code_hint)
        status = self._status(parse)
        unknown = () if parse.not_exam else tuple(text for _, text in _unknown_runs(tokens, norm.text))
        reasons = parse.reasons
        if status == MATCHED and unknown:
            # Half understood stays uncertain (issue 19): whatever the confidence, a steward sees it.
            status = REVIEW
            reasons = (*reasons, "part of the name not understood: " + ", ".join(repr(u) for u in unknown))
        if status == UNMATCHED and parse.codes:
            # Too weak to show as a guess: unmatched means no codes; the reasons keep what was read.
            weak = "weak reading " + "|".join(parse.codes)
            result = _Result((), status, parse.confidence, (*reasons, weak), unknown)
        else:
            result = _Result(parse.codes, status, parse.confidence, reasons, unknown)
        if result.status in (MATCHED, NOT_EXAM) or not self._neighbour_keys or not norm.text:
            return result
        return self._with_neighbour(norm.key, parse, result)

    def _with_neighbour(self, text: str, parse: Parse, result: _Result) -> _Result:
        from rapidfuzz import fuzz, process

        hit = process.extractOne(text, self._neighbour_keys, scorer=fuzz.ratio, score_cutoff=NEIGHBOUR_MIN_SIMILARITY)
        if hit is None:
            return result
        decision = self._by_norm[hit[0]]
        why = f"similar to the decided name {decision.raw_name!r} ({hit[1]:.0f}%)"
        agrees = decision.codes == parse.codes and decision.not_exam == parse.not_exam
        if agrees and parse.confidence >= self.review_at and not result.unrecognised:
            status = NOT_EXAM if parse.not_exam else MATCHED
            return _Result(parse.codes, status, max(parse.confidence, NEIGHBOUR_CONFIDENCE), (*result.reasons, why))
        if not parse.codes and not parse.not_exam:
            # No guess of its own: the neighbour's decision is the suggestion a steward confirms.
            return _Result(decision.codes, REVIEW, self.review_at, (*result.reasons, why), result.unrecognised)
        return result
