"""The exam-code standard as versioned reference data: segment tables, code checks and standard names."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from radlake.errors import DataError

REFERENCE_ROOT = Path(__file__).parent / "reference" / "exam_standard"
CODE_LENGTH = 14
_CODE_RE = re.compile(r"^\d{14}$")
# Segment order of a code: (name, start, end) over the 14 digits.
SEGMENTS: tuple[tuple[str, int, int], ...] = (
    ("modality", 0, 2),
    ("body_part", 2, 8),
    ("scan_method", 8, 10),
    ("post_processing", 10, 12),
    ("addon", 12, 14),
)
# Modalities whose standard name has the view written straight after the body part (README templates).
_VIEW_MODALITIES = frozenset({"DR", "MG"})
_NO_CODE = "00"


@dataclass(frozen=True)
class Modality:
    """One row of modality.csv: the first two digits of a code."""

    code: str
    abbrev: str
    name_zh: str
    name_en: str
    dicom_modalities: tuple[str, ...]


@dataclass(frozen=True)
class BodyPart:
    """One row of body_part.csv: digits 3-8, a three-level hierarchy of two digits each."""

    code: str
    name_zh: str
    name_en: str
    paired: bool

    @property
    def level(self) -> int:
        """1 for ``xx0000`` rows, 2 for ``xxyy00``, 3 for ``xxyyzz``."""
        if self.code[2:] == "0000":
            return 1
        return 2 if self.code[4:] == "00" else 3

    @property
    def parent_code(self) -> str | None:
        """The code of the enclosing row (None for level 1)."""
        if self.level == 1:
            return None
        if self.level == 2:
            return self.code[:2] + "0000"
        return self.code[:4] + "00"


@dataclass(frozen=True)
class SegmentValue:
    """One row of scan_method.csv, post_processing.csv or addon.csv.

    ``applies_to`` lists the modality abbreviations the value may be used with; ``("*",)`` means any.
    """

    code: str
    name_zh: str
    name_en: str
    applies_to: tuple[str, ...] = ("*",)

    def applies(self, modality_abbrev: str) -> bool:
        """Whether this value may be combined with the modality (``DR``, ``CT``, ...)."""
        return "*" in self.applies_to or modality_abbrev in self.applies_to


@dataclass(frozen=True)
class ExamCode:
    """A 14-digit code split into its segments."""

    modality: str
    body_part: str
    scan_method: str
    post_processing: str
    addon: str

    @property
    def code(self) -> str:
        return self.modality + self.body_part + self.scan_method + self.post_processing + self.addon

    def __str__(self) -> str:
        return self.code


@dataclass(frozen=True)
class ExamStandard:
    """One version of the standard: its tables, code checks and name composition.

    Build it with :func:`load_standard`; the tables come from the CSV files of one reference folder.
    """

    version: str
    modalities: dict[str, Modality]
    body_parts: dict[str, BodyPart]
    scan_methods: dict[str, SegmentValue]
    post_processings: dict[str, SegmentValue]
    addons: dict[str, SegmentValue]
    source_dir: Path
    _by_abbrev: dict[str, Modality] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_abbrev", {m.abbrev: m for m in self.modalities.values()})

    # -- lookups -------------------------------------------------------------------------------
    def modality(self, abbrev_or_code: str) -> Modality:
        """The modality with this abbreviation (``CT``) or two-digit code (``20``).

        Raises
        ------
        KeyError
            If the standard has no such modality.
        """
        found = self._by_abbrev.get(abbrev_or_code) or self.modalities.get(abbrev_or_code)
        if found is None:
            raise KeyError(f"no modality {abbrev_or_code!r} in exam standard {self.version}")
        return found

    def body_part(self, code: str) -> BodyPart:
        """The body part with this six-digit code (KeyError if unknown)."""
        return self.body_parts[code]

    def body_parts_named(self, name_zh: str) -> list[BodyPart]:
        """Body parts whose Chinese name is exactly ``name_zh`` (胸部 is both 030000 and 030100)."""
        return [b for b in self.body_parts.values() if b.name_zh == name_zh]

    def dev_set_path(self) -> Path:
        """The dev set (raw names with their true codes) shipped with this version."""
        return self.source_dir / "dev_set.csv"

    # -- codes ---------------------------------------------------------------------------------
    @staticmethod
    def split_code(code: str) -> ExamCode:
        """Split a 14-digit code into its segments (no check against the tables).

        Raises
        ------
        ValueError
            If ``code`` is not 14 digits.
        """
        if not isinstance(code, str) or not _CODE_RE.match(code):
            raise ValueError(f"an exam code has 14 digits, got {code!r}")
        return ExamCode(*(code[a:b] for _, a, b in SEGMENTS))

    def compose_code(
        self,
        modality: str,
        body_part: str,
        scan_method: str = _NO_CODE,
        post_processing: str = _NO_CODE,
        addon: str = _NO_CODE,
    ) -> str:
        """Join segments into a code; ``modality`` may be an abbreviation (``CT``) or a code (``20``).

        Raises
        ------
        ValueError
            If the resulting code breaks a rule of the standard (see :meth:`code_problems`).
        """
        mod = self.modality(modality).code
        code = mod + body_part + scan_method + post_processing + addon
        problems = self.code_problems(code)
        if problems:
            raise ValueError(f"{code}: {'; '.join(problems)}")
        return code

    def code_problems(self, code: str) -> list[str]:
        """Every reason why ``code`` is not a valid code of this standard (empty when it is valid)."""
        try:
            parts = self.split_code(code)
        except ValueError as exc:
            return [str(exc)]
        problems: list[str] = []
        mod = self.modalities.get(parts.modality)
        if mod is None:
            problems.append(f"unknown modality {parts.modality}")
        bp = self.body_parts.get(parts.body_part)
        if bp is None:
            problems.append(f"unknown body part {parts.body_part}")
        elif bp.level == 1 and not self._is_whole_body(bp):
            problems.append(f"body part {bp.code} ({bp.name_zh}) is a level-1 group, never a code's part")
        checks = (
            ("scan method", parts.scan_method, self.scan_methods),
            ("post-processing/view", parts.post_processing, self.post_processings),
            ("add-on", parts.addon, self.addons),
        )
        for label, value, table in checks:
            row = table.get(value)
            if row is None:
                problems.append(f"unknown {label} {value}")
            elif mod is not None and not row.applies(mod.abbrev):
                problems.append(f"{label} {value} ({row.name_zh}) does not apply to {mod.abbrev}")
        if bp is not None and not bp.paired and parts.addon != _NO_CODE:
            problems.append(f"laterality {parts.addon} on unpaired body part {bp.code} ({bp.name_zh})")
        return problems

    def is_valid_code(self, code: str) -> bool:
        """Whether ``code`` names an item of this standard (segments known, combination allowed)."""
        return not self.code_problems(code)

    @staticmethod
    def _is_whole_body(bp: BodyPart) -> bool:
        # 全身 (100000) is the one level-1 row that is a body part of its own (README rule 2).
        return bp.code == "100000"

    # -- names ---------------------------------------------------------------------------------
    def laterality_word(self, addon: str) -> str:
        """How the add-on is written inside a standard name: 左, 右, 双侧 or nothing."""
        if addon == _NO_CODE:
            return ""
        name = self.addons[addon].name_zh
        # The names write 左/右 without 侧 (MR左膝关节) but keep 双侧 whole (MG双侧乳腺正侧位).
        return name[:-1] if addon in ("01", "02") else name

    def standard_name(self, code: str) -> str:
        """The standard name of a code, composed from the naming templates of the standard.

        CT, MR, PET, NM, DSA, US (and RF): ``{modality}{laterality}{body part}（{scan}[+{post}]）`` with the
        bracket holding the post-processing alone when the scan is 00, or left out when both are 00.
        DR, MG: ``{modality}{laterality}{body part}{view}``.

        Raises
        ------
        ValueError
            If the code is not valid in this standard.
        """
        problems = self.code_problems(code)
        if problems:
            raise ValueError(f"{code}: {'; '.join(problems)}")
        p = self.split_code(code)
        mod = self.modalities[p.modality]
        head = mod.abbrev + self.laterality_word(p.addon) + self.body_parts[p.body_part].name_zh
        if mod.abbrev in _VIEW_MODALITIES:
            view = self.post_processings[p.post_processing].name_zh if p.post_processing != _NO_CODE else ""
            return head + view
        inside = [
            table[value].name_zh
            for value, table in ((p.scan_method, self.scan_methods), (p.post_processing, self.post_processings))
            if value != _NO_CODE
        ]
        return head + (f"（{'+'.join(inside)}）" if inside else "")


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataError(f"{path}: reference table missing")
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(";") if v.strip())


def _segment_table(path: Path, width: int) -> dict[str, SegmentValue]:
    out: dict[str, SegmentValue] = {}
    for i, row in enumerate(_read_csv(path), start=2):
        code = (row.get("code") or "").strip()
        if len(code) != width or not code.isdigit():
            raise DataError(f"{path} line {i}: code {code!r} is not {width} digits")
        applies = _split_list(row["applies_to"]) if row.get("applies_to") else ("*",)
        out[code] = SegmentValue(code, row["name_zh"], row["name_en"], applies)
    return out


def available_versions(root: Path = REFERENCE_ROOT) -> dict[str, Path]:
    """Versions shipped under ``root``: ``{version string: folder}`` in folder order (v1, v2, ...)."""
    found: dict[str, Path] = {}
    folders = sorted(
        (d for d in root.iterdir() if d.is_dir() and (d / "VERSION").is_file()),
        key=lambda d: (len(d.name), d.name),
    )
    for d in folders:
        found[(d / "VERSION").read_text(encoding="utf-8").strip()] = d
    return found


def load_standard_from(folder: str | Path) -> ExamStandard:
    """Load the standard held in one folder (its CSV tables and VERSION file).

    Raises
    ------
    DataError
        If a table is missing or a row is malformed (the message names the file and line).
    """
    folder = Path(folder)
    version_file = folder / "VERSION"
    if not version_file.is_file():
        raise DataError(f"{folder}: no VERSION file; not an exam-standard folder")
    modalities: dict[str, Modality] = {}
    path = folder / "modality.csv"
    for i, row in enumerate(_read_csv(path), start=2):
        code = row["code"].strip()
        if len(code) != 2 or not code.isdigit():
            raise DataError(f"{path} line {i}: code {code!r} is not 2 digits")
        modalities[code] = Modality(
            code, row["abbrev"].strip(), row["name_zh"], row["name_en"], _split_list(row["dicom_modalities"])
        )
    body_parts: dict[str, BodyPart] = {}
    path = folder / "body_part.csv"
    for i, row in enumerate(_read_csv(path), start=2):
        code = row["code"].strip()
        if len(code) != 6 or not code.isdigit():
            raise DataError(f"{path} line {i}: code {code!r} is not 6 digits")
        if row["paired"].strip() not in ("0", "1"):
            raise DataError(f"{path} line {i}: paired must be 0 or 1, got {row['paired']!r}")
        body_parts[code] = BodyPart(code, row["name_zh"], row["name_en"], row["paired"].strip() == "1")
    return ExamStandard(
        version=version_file.read_text(encoding="utf-8").strip(),
        modalities=modalities,
        body_parts=body_parts,
        scan_methods=_segment_table(folder / "scan_method.csv", 2),
        post_processings=_segment_table(folder / "post_processing.csv", 2),
        addons=_segment_table(folder / "addon.csv", 2),
        source_dir=folder,
    )


@lru_cache(maxsize=8)
def load_standard(version: str | None = None) -> ExamStandard:
    """Load a shipped version of the exam standard.

    Parameters
    ----------
    version
        A version string (``2026.1``, the content of a folder's VERSION file) or a folder name (``v1``);
        None loads the newest shipped version.

    Returns
    -------
    ExamStandard
        The loaded tables; the same object for repeated calls with the same argument.

    Raises
    ------
    DataError
        If no shipped version matches, or the reference data is malformed.
    """
    versions = available_versions()
    if not versions:
        raise DataError(f"{REFERENCE_ROOT}: no exam-standard version shipped")
    if version is None:
        folder = list(versions.values())[-1]
    elif version in versions:
        folder = versions[version]
    elif (REFERENCE_ROOT / version / "VERSION").is_file():
        folder = REFERENCE_ROOT / version
    else:
        raise DataError(f"exam standard version {version!r} not shipped (have: {', '.join(versions)})")
    return load_standard_from(folder)
