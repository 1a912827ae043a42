"""A cohort rule: the YAML a research group's request becomes, kept in version control (``cohorts/<name>.yaml``).

Example::

    description: chest CT with contrast, over 60, report mentions a nodule, 2023-2024
    space: research
    filters:
      modalities: [CT]
      exam_code_prefixes: ["2003"]      # 14-digit standard codes: CT (20) of the chest (03...)
      date_from: 2023-01-01
      date_to: 2024-12-31
      age_min: 60
      report_keywords: [结节, nodule]
    export:
      options: [retain_long_modified_dates, retain_patient_characteristics, retain_device_identity,
                clean_descriptors]
      safe_private: ["0019,GEMS_ACQU_01,10"]
      allow_burned_in: false
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from radlake.config import Settings
from radlake.errors import ConfigError
from transforms.deid import OPTIONS

COHORT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
DEFAULT_OPTIONS = (
    "retain_long_modified_dates",
    "retain_patient_characteristics",
    "retain_device_identity",
    "clean_descriptors",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CohortFilters(_Strict):
    """What a study must be to belong; an empty list or None leaves that dimension open."""

    modalities: list[str] = Field(default_factory=list)
    exam_code_prefixes: list[str] = Field(default_factory=list)
    body_parts: list[str] = Field(default_factory=list)
    institutions: list[str] = Field(default_factory=list)
    date_from: date | None = None
    date_to: date | None = None
    age_min: int | None = Field(None, ge=0, le=150)
    age_max: int | None = Field(None, ge=0, le=150)
    sexes: list[Literal["M", "F", "O"]] = Field(default_factory=list)
    report_keywords: list[str] = Field(default_factory=list)

    @field_validator("exam_code_prefixes")
    @classmethod
    def _digits(cls, v: list[str]) -> list[str]:
        for prefix in v:
            if not re.fullmatch(r"\d{1,14}", prefix):
                raise ValueError(f"{prefix[:20]!r}: a code prefix is 1 to 14 digits of the standard code")
        return v

    @model_validator(mode="after")
    def _ranges(self) -> CohortFilters:
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise ValueError("date_to is before date_from")
        if self.age_min is not None and self.age_max is not None and self.age_max < self.age_min:
            raise ValueError("age_max is below age_min")
        return self


class ExportPolicy(_Strict):
    """How the cohort is de-identified when exported (PS3.15 Annex E options and the private safe list)."""

    options: list[str] = Field(default_factory=lambda: list(DEFAULT_OPTIONS))
    safe_private: list[str] = Field(default_factory=list)
    allow_burned_in: bool = False

    @field_validator("options")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        unknown = [o for o in v if o not in OPTIONS]
        if unknown:
            raise ValueError(f"unknown option {unknown[0]!r} (known: {', '.join(OPTIONS)})")
        if "retain_long_full_dates" in v and "retain_long_modified_dates" in v:
            raise ValueError("retain_long_full_dates and retain_long_modified_dates exclude each other")
        return v

    @field_validator("safe_private")
    @classmethod
    def _triples(cls, v: list[str]) -> list[str]:
        for entry in v:
            parts = entry.split(",")
            if len(parts) != 3 or not re.fullmatch(r"[0-9A-Fa-f]{4}", parts[0]) or int(parts[0], 16) % 2 == 0:
                raise ValueError(f"{entry[:40]!r}: a safe private element is 'gggg,CREATOR,ee' with an odd group")
            if not re.fullmatch(r"[0-9A-Fa-f]{2}", parts[2]) or not parts[1].strip():
                raise ValueError(f"{entry[:40]!r}: a safe private element is 'gggg,CREATOR,ee' (ee: two hex digits)")
        return v

    def safe_private_triples(self) -> frozenset[tuple[int, str, int]]:
        """The safe list as (group, creator, element byte)."""
        out = set()
        for entry in self.safe_private:
            group, creator, element = entry.split(",")
            out.add((int(group, 16), creator.strip(), int(element, 16)))
        return frozenset(out)


class CohortRule(_Strict):
    """One cohort: its filters, the space it may be bound to, and its export policy."""

    name: str
    description: str = ""
    space: str | None = None
    filters: CohortFilters = Field(default_factory=CohortFilters)
    export: ExportPolicy = Field(default_factory=ExportPolicy)

    @property
    def rule_hash(self) -> str:
        """SHA-256 of the rule's canonical JSON: two builds of the same rule carry the same hash."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_cohort(settings: Settings, name: str) -> CohortRule:
    """Read ``<cohorts dir>/<name>.yaml``.

    Raises
    ------
    ConfigError
        One line naming the file and what is wrong (no such cohort, bad YAML, a bad filter).
    """
    if not COHORT_NAME.fullmatch(name):
        raise ConfigError(f"{name[:40]!r}: a cohort name is lower-case letters, digits, - and _")
    path = settings.cohort_rules_dir / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"{path}: no such cohort rule")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError):
        raise ConfigError(f"{path}: not valid UTF-8 YAML") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping (description, filters, export)")
    try:
        rule = CohortRule(name=name, **raw)
    except (ValidationError, TypeError) as err:
        if isinstance(err, ValidationError):
            first = err.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"{path}: {key}: {first['msg'].removeprefix('Value error, ')}") from None
        raise ConfigError(f"{path}: {err}") from None
    if rule.space is not None and rule.space not in settings.spaces:
        raise ConfigError(f"{path}: space {rule.space!r} is not in the config's spaces")
    return rule
