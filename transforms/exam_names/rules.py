"""The standard's rules 1-14: from recognised tokens to one 14-digit code per ordered exam, with a confidence.

The confidence starts at 1 and every doubt takes its share off (an unknown word, a guessed modality, two
body parts without a separator ...); the reasons are kept so that a steward sees why a name is in review.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from radlake.exam_standard import ExamStandard
from transforms.exam_names.lexicon import Lexicon, Term
from transforms.exam_names.recognize import Token

# Scan methods by precedence when a CT/MR name states several (rule 3: 平扫 and 增强 together are 03).
_SCAN_ORDER = ("11", "10", "06", "04", "03")
# Rule 6: DR views when none is written; spine, limbs and joints take 13.
_DR_DEFAULT_VIEW = {"030100": "11", "050600": "11", "040200": "20", "010800": "23"}
_DR_JOINT_PARTS = frozenset({"050700", "010600", "010900"})
# Two views that one code covers (rule 11 splits only views no single code covers).
_VIEW_PAIRS = {
    frozenset({"11", "12"}): "13",
    frozenset({"11", "13"}): "13",
    frozenset({"12", "13"}): "13",
    frozenset({"11", "14"}): "15",
    frozenset({"11", "15"}): "15",
    frozenset({"14", "15"}): "15",
    frozenset({"14", "16"}): "16",
}
# Letters of local catalogue codes that name a modality.
_HINT_MODALITY = {"ct": "CT", "mr": "MR", "mri": "MR", "dr": "DR", "cr": "DR", "dx": "DR", "us": "US", "mg": "MG"}
# How much each doubt costs.
COST_UNKNOWN = 0.2
COST_BY_SOUND = 0.04
COST_GUESSED_MODALITY = 0.35
COST_CONFLICT = 0.4
COST_AMBIGUOUS_PART = 0.3
COST_MERGED_PARTS = 0.2
COST_SEVERAL_PARTS = 0.15
COST_NO_DEFAULT_VIEW = 0.15
COST_INVALID = 0.3
COST_LEARNED = 0.02


@dataclass
class Parse:
    """What the rules make of one name."""

    codes: tuple[str, ...] = ()
    not_exam: bool = False
    confidence: float = 0.0
    reasons: tuple[str, ...] = ()


@dataclass
class _Seg:
    toks: list[Token] = field(default_factory=list)
    mod: str | None = None
    mod_explicit: bool = False

    def terms(self) -> list[Term]:
        return [t.term for t in self.toks if t.term is not None]

    def has_body(self) -> bool:
        return any(t.body or t.vessel_body or t.default_body for t in self.terms())

    def explicit_mods(self) -> list[str]:
        return [t.mod for t in self.terms() if t.mod and not t.has("film") and not t.has("weakmod")]

    def scans(self) -> list[str]:
        return [t.scan for t in self.terms() if t.scan]

    def views(self) -> list[str]:
        return [t.view for t in self.terms() if t.view]

    def any_flag(self, flag: str) -> bool:
        return any(t.has(flag) for t in self.terms())

    def is_angio_only(self) -> bool:
        return not self.has_body() and "05" in self.scans()


class _Costs:
    def __init__(self) -> None:
        self.total = 0.0
        self.reasons: list[str] = []

    def add(self, amount: float, reason: str) -> None:
        self.total += amount
        self.reasons.append(reason)


def _is_ancestor(a: str, b: str) -> bool:
    """Whether body part ``a`` encloses ``b`` in the three-level hierarchy."""
    if a == b:
        return False
    if a[2:] == "0000":
        return b[:2] == a[:2]
    if a[4:] == "00":
        return b[:4] == a[:4]
    return False


class RuleBook:
    """Applies the rules of one standard to token sequences."""

    def __init__(self, standard: ExamStandard, lexicon: Lexicon) -> None:
        self.std = standard
        self.lexicon = lexicon
        self._validity: dict[str, bool] = {}

    def _is_valid(self, code: str) -> bool:
        ok = self._validity.get(code)
        if ok is None:
            ok = self._validity[code] = self.std.is_valid_code(code)
        return ok

    # -- billing (rule 12) ----------------------------------------------------------------------
    def billing(self, billing_text: str, tokens: list[Token]) -> Parse | None:
        """A not_exam parse when the name is a billing line, else None."""
        for marker in self.lexicon.billing_strong:
            if marker in billing_text:
                return Parse(not_exam=True, confidence=0.97, reasons=(f"billing word {marker!r}",))
        for marker in self.lexicon.billing_weak:
            if marker in billing_text:
                ordered = any(
                    t.term is not None
                    and (t.term.mod or t.term.body or t.term.default_body or t.term.view or t.term.has("zaoying"))
                    for t in tokens
                )
                if not ordered:
                    return Parse(not_exam=True, confidence=0.93, reasons=(f"agent or service {marker!r}",))
        return None

    # -- segments (rule 11) ---------------------------------------------------------------------
    @staticmethod
    def _segments(tokens: list[Token]) -> list[_Seg]:
        raw: list[_Seg] = [_Seg()]
        for tok in tokens:
            if tok.term is not None and tok.term.has("sep"):
                if raw[-1].toks:
                    raw.append(_Seg())
                continue
            raw[-1].toks.append(tok)
        raw = [s for s in raw if s.toks]
        out: list[_Seg] = []
        pending: list[Token] = []
        for seg in raw:
            if seg.has_body():
                seg.toks = pending + seg.toks
                pending = []
                out.append(seg)
                continue
            if not out:
                pending.extend(seg.toks)
                continue
            prev = out[-1]
            if seg.is_angio_only() and not prev.any_flag("vessel") and "05" not in prev.scans():
                # 头颅MR平扫+MRA: the angiography is a second exam of the same region's vessels.
                carried = [t for t in prev.toks if t.term is not None and (t.term.body or t.term.lat)]
                out.append(_Seg(carried + seg.toks))
            else:
                # 平扫+增强, 平扫+DWI, 正侧位+双斜位: more about the exam before.
                prev.toks.extend(seg.toks)
        if pending:
            if out:
                out[-1].toks.extend(pending)
            else:
                out.append(_Seg(pending))
        return out

    # -- modality (rule 1, 6) -------------------------------------------------------------------
    def _explicit_modality(self, seg: _Seg, costs: _Costs) -> str | None:
        mods = list(dict.fromkeys(seg.explicit_mods()))
        if not mods:
            return None
        if len(mods) == 1:
            return mods[0]
        found = set(mods)
        for winner in ("PETCT", "PETMR", "MG"):
            if winner in found:
                return winner
        if found == {"DR", "RF"}:
            return "RF"
        if found == {"NM", "CT"}:
            return "NM"
        costs.add(COST_CONFLICT, f"several modalities ({', '.join(mods)}); took {mods[0]}")
        return mods[0]

    def _implied_modality(self, seg: _Seg, costs: _Costs) -> str | None:
        terms = seg.terms()
        if seg.views():
            return "DR"  # rule 6
        if any(t.has("film") for t in terms):
            return "DR"
        if seg.any_flag("zaoying"):
            return "DSA" if seg.any_flag("vessel") else "RF"
        if seg.scans():
            costs.add(COST_GUESSED_MODALITY, "no modality written; CT assumed from the scan method")
            return "CT"
        return None

    # -- one segment ----------------------------------------------------------------------------
    def _segment_codes(self, seg: _Seg, costs: _Costs) -> list[str]:
        mod = seg.mod
        terms = seg.terms()
        if mod is None:
            costs.add(1.0, "no modality")
            return []
        zaoying = seg.any_flag("zaoying")
        if mod == "DR" and zaoying:
            mod = "RF"
        scans = seg.scans()
        vessel = mod in ("CT", "MR", "DSA", "US") and (
            seg.any_flag("vessel") or "05" in scans or mod == "DSA" or (zaoying and mod in ("CT", "MR"))
        )
        # Body parts in the order named, with the meaning for this modality (rule 2) and vessel exams (rule 5).
        bodies: list[tuple[int, str, Term]] = []
        for i, tok in enumerate(seg.toks):
            term = tok.term
            if term is None:
                continue
            code = term.body_for(mod, vessel)
            if code is None:
                continue
            if mod == "MG":
                code = "030600"
            if mod == "DR" and code == "030600":
                mod = "MG"  # 乳腺X线 (rule 1)
            if all(code != b[1] for b in bodies):
                bodies.append((i, code, term))
        if mod == "MG":
            bodies = [b for b in bodies if b[1] == "030600"] or bodies
        if vessel and any(not b[1].startswith("09") for b in bodies):
            costs.add(COST_AMBIGUOUS_PART, "a vessel exam of a part without named vessels")
        defaults = [t.default_body for t in terms if t.default_body]
        bodies = self._refine_bodies(bodies, defaults, costs)
        if not bodies:
            costs.add(1.0, "no body part")
            return []
        scan = self._scan(mod, scans, vessel, zaoying, seg, costs)
        post = self._post(mod, terms, vessel, costs)
        codes: list[str] = []
        for _idx, body, _term in bodies:
            addon = self._laterality(seg, body, mod, vessel, costs)
            if mod == "DR":
                views = self._views(seg.views(), body, costs)
            elif mod == "MG":
                if any(v != "13" for v in seg.views()):
                    costs.add(COST_AMBIGUOUS_PART, "a mammography view other than 正侧位")
                views = ["13"]
            else:
                views = [post]
            for view in views:
                code = self._valid(mod, body, scan, view, addon, costs)
                if code and code not in codes:
                    codes.append(code)
        return codes

    def _refine_bodies(
        self, bodies: list[tuple[int, str, Term]], defaults: list[str], costs: _Costs
    ) -> list[tuple[int, str, Term]]:
        if not bodies:
            return [(-1, defaults[0], Term(text=""))] if defaults else []
        # A default part more specific than a written one wins (胃肠钡餐 → 上消化道, 全身骨显像 → 全身骨骼).
        for d in defaults:
            bodies = [(i, d if _is_ancestor(c, d) else c, t) for i, c, t in bodies]
        # The most specific part the name states (rule 2): drop enclosing parts and group words.
        codes = [c for _, c, _ in bodies]
        keep = [b for b in bodies if not any(_is_ancestor(b[1], c) for c in codes)]
        groups: dict[str, list[tuple[int, str, Term]]] = {}
        for b in keep:
            groups.setdefault(b[1][:2], []).append(b)
        out: list[tuple[int, str, Term]] = []
        for members in groups.values():
            specific = [b for b in members if not b[2].has("generic")]
            if specific and len(specific) < len(members):
                members = specific
            members = list({b[1]: b for b in members}.values())
            if len(members) == 1:
                out.append(members[0])
                continue
            parents = {m[1][:4] + "00" for m in members}
            parent = next(iter(parents))
            if len(parents) == 1 and parent in self.std.body_parts and self.std.body_parts[parent].level > 1:
                costs.add(COST_MERGED_PARTS, f"several parts of {self.std.body_parts[parent].name_zh}")
                out.append((members[0][0], parent, members[0][2]))
            else:
                names = "/".join(m[2].text for m in members)
                costs.add(COST_AMBIGUOUS_PART, f"ambiguous body part ({names}); took {members[0][2].text}")
                out.append(members[0])
        out.sort(key=lambda b: b[0])
        if len(out) > 1:
            costs.add(COST_SEVERAL_PARTS, "several body parts without a separator")
        return out

    def _scan(self, mod: str, scans: list[str], vessel: bool, zaoying: bool, seg: _Seg, costs: _Costs) -> str:
        if mod in ("CT", "MR"):
            if vessel:
                named_angio = "05" in scans or zaoying
                if not named_angio and "01" in scans:
                    costs.add(COST_AMBIGUOUS_PART, "vessels named with 平扫 but no angiography")
                return "05"  # rule 5
            if zaoying:
                costs.add(COST_AMBIGUOUS_PART, "造影 on CT/MR outside vessels")
            found = set(scans)
            for code in _SCAN_ORDER:
                if code in found:
                    return code
            if {"01", "02"} <= found:
                return "03"
            if "02" in found:
                return "02"
            return "01"  # rule 3: no scan method written
        if mod == "US":
            return "02" if ("02" in scans or zaoying) else "00"  # rule 9
        if mod == "RF":
            return "07"  # rule 14
        if mod == "DSA":
            return "05"
        return "00"

    def _post(self, mod: str, terms: list[Term], vessel: bool, costs: _Costs) -> str:
        if mod not in ("CT", "MR"):
            return "00"
        posts = [t.post for t in terms if t.post]
        if vessel or not posts:
            return "00"  # rule 5: the reconstruction is part of an angiography
        for post in posts:  # rule 4: the first named counts
            if self.std.post_processings[post].applies(mod):
                return post
        costs.add(COST_INVALID, f"post-processing {posts[0]} does not apply to {mod}")
        return "00"

    def _views(self, views: list[str], body: str, costs: _Costs) -> list[str]:
        views = list(dict.fromkeys(views))
        if len(views) == 2 and frozenset(views) in _VIEW_PAIRS:
            return [_VIEW_PAIRS[frozenset(views)]]
        if views:
            return views
        if body in _DR_DEFAULT_VIEW:
            return [_DR_DEFAULT_VIEW[body]]
        if body[:2] in ("06", "07", "08") or body in _DR_JOINT_PARTS:
            return ["13"]
        costs.add(COST_NO_DEFAULT_VIEW, f"no view written and no default view for {body}")
        return ["13"]

    def _laterality(self, seg: _Seg, body: str, mod: str, vessel: bool, costs: _Costs) -> str:
        part = self.std.body_parts.get(body)
        if part is None or not part.paired:
            return "00"  # rule 8
        default = "03" if mod == "MG" else "00"  # rule 7
        named: list[int] = []  # positions of words naming this part
        others: list[int] = []  # positions of words naming another part
        for i, tok in enumerate(seg.toks):
            term = tok.term
            if term is None:
                continue
            code = term.body_for(mod, vessel)
            if code is None:
                continue
            if code == body or (mod == "MG" and code == "030600"):
                if term.lat:
                    return term.lat
                named.append(i)
            else:
                others.append(i)
        lats = [(i, t.term.lat) for i, t in enumerate(seg.toks) if t.term is not None and t.term.lat]
        if not lats or not named:
            return default
        found: list[str] = []
        for p in named:
            before = [lat for i, lat in lats if i < p and not any(i < o < p for o in others)]
            after = [lat for i, lat in lats if i > p and not any(p < o < i for o in others)]
            found.extend(before[::-1] + after)
        if not found:
            return default
        if len(set(found)) > 1:
            costs.add(COST_AMBIGUOUS_PART, "conflicting laterality words")
        return found[0]

    def _valid(self, mod: str, body: str, scan: str, post: str, addon: str, costs: _Costs) -> str | None:
        modality = self.std.modality(mod).code
        code = modality + body + scan + post + addon
        if self._is_valid(code):
            return code
        fallback = modality + body + scan + "00" + addon
        if self._is_valid(fallback):
            costs.add(COST_INVALID, f"{post} does not combine with {mod} {body}")
            return fallback
        costs.add(1.0, "; ".join(self.std.code_problems(code)))
        return None

    # -- the whole name -------------------------------------------------------------------------
    def parse(self, tokens: list[Token], billing_text: str, code_hint: str = "") -> Parse:
        """Apply the rules to the tokens of one name.

        Parameters
        ----------
        tokens
            Tokens of the normalised name.
        billing_text
            The name before noise words were removed (read for billing markers, rule 12).
        code_hint
            Letters of a leading local code (``ct`` of "CT0012 "): the modality when the name names none.
        """
        billed = self.billing(billing_text, tokens)
        if billed is not None:
            return billed
        costs = _Costs()
        for tok in tokens:
            if tok.term is None:
                costs.add(COST_UNKNOWN, f"unknown word {tok.text!r}")
            elif tok.by_sound:
                costs.add(COST_BY_SOUND, f"{tok.text!r} read as {tok.term.text!r}")
            elif tok.term.source == "learned":
                costs.add(COST_LEARNED, f"{tok.text!r} learned from a steward decision")
        segs = self._segments(tokens)
        if not segs:
            return Parse(confidence=0.0, reasons=("nothing recognisable",))
        for seg in segs:
            seg.mod = self._explicit_modality(seg, costs)
            seg.mod_explicit = seg.mod is not None
        if code_hint in _HINT_MODALITY and not any(s.mod_explicit for s in segs):
            for seg in segs:
                seg.mod, seg.mod_explicit = _HINT_MODALITY[code_hint], True
        for i, seg in enumerate(segs):
            if seg.mod is None:
                before = [s.mod for s in segs[:i] if s.mod_explicit]
                after = [s.mod for s in segs[i + 1 :] if s.mod_explicit]
                seg.mod = before[-1] if before else (after[0] if after else None)
        implied = [s.mod or self._implied_modality(s, _Costs()) for s in segs]
        for i, seg in enumerate(segs):
            if seg.mod is None:
                # 左膝+右膝关节正侧位: a view written once names the modality of the whole order.
                own = self._implied_modality(seg, costs)
                others = [m for m in implied[i + 1 :] + implied[:i][::-1] if m]
                seg.mod = own or (others[0] if others else None)
        self._share(segs)
        codes: list[str] = []
        for seg in segs:
            for code in self._segment_codes(seg, costs):
                if code not in codes:
                    codes.append(code)
        confidence = max(0.0, min(1.0, 1.0 - costs.total)) if codes else 0.0
        return Parse(codes=tuple(codes), confidence=round(confidence, 4), reasons=tuple(costs.reasons))

    @staticmethod
    def _share(segs: list[_Seg]) -> None:
        """Scan methods and views written once for several exams (CT胸部+上腹部平扫, 颈椎+腰椎正侧位)."""
        if len(segs) < 2:
            return
        for i, seg in enumerate(segs):
            if seg.mod in ("CT", "MR") and not seg.scans() and not seg.any_flag("vessel"):
                donors = [s for s in segs[i + 1 :] + segs[:i][::-1] if s.mod == seg.mod and s.scans()]
                donors = [s for s in donors if "05" not in s.scans()]
                if donors:
                    seg.toks.extend(
                        Token(t.term, t.text, -1) for t in donors[0].toks if t.term is not None and t.term.scan
                    )
            if seg.mod == "DR" and not seg.views():
                donors = [s for s in segs[i + 1 :] + segs[:i][::-1] if s.mod == "DR" and s.views()]
                if donors:
                    seg.toks.extend(
                        Token(t.term, t.text, -1) for t in donors[0].toks if t.term is not None and t.term.view
                    )
