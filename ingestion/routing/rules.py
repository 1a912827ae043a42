"""Routing rules against landed rows: which (instance, destination) pairs a batch of bronze rows gives."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from radlake.config import MATCH_FIELDS, RouteTLS, RuleConfig, Settings
from radlake.dicom_peer import DicomPeer, parse_peer
from radlake.errors import ConfigError
from radlake.lake import Lake, Table

ROW_COLUMNS = [
    "sop_instance_uid",
    "study_instance_uid",
    "series_instance_uid",
    "sop_class_uid",
    "transfer_syntax_uid",
    "patient_id",
    "study_date",
    "exam_codes_key",
    *MATCH_FIELDS,
    "file_path",
    "file_sha256",
    "ingested_at",
]
"""Columns of bronze/dicom_instances the router reads (``exam_codes_key`` is derived, not read)."""

BRONZE_COLUMNS = [c for c in dict.fromkeys(ROW_COLUMNS) if c != "exam_codes_key"]


@dataclass(frozen=True)
class Destination:
    """Where copies go: a DICOM peer (``peer``) or a folder / S3 prefix (``folder``), under a queue name."""

    name: str
    peer: DicomPeer | None = None
    folder: str | None = None
    tls: RouteTLS | None = None
    calling_ae: str = "RADLAKE"


def resolve_destination(settings: Settings, name: str) -> Destination:
    """A destination by its name in ``routing.destinations``, or inline as ``dicom://AE@HOST:PORT``.

    Raises
    ------
    radlake.errors.ConfigError
        Neither a configured name nor a valid inline peer.
    """
    if name.startswith("dicom://"):
        return Destination(name=str(parse_peer(name)), peer=parse_peer(name))
    cfg = settings.routing.destinations.get(name)
    if cfg is None:
        known = ", ".join(sorted(settings.routing.destinations)) or "none configured"
        raise ConfigError(f"unknown routing destination {name[:60]!r} (known: {known}; or dicom://AE@HOST:PORT)")
    peer = parse_peer(cfg.dicom) if cfg.dicom else None
    return Destination(name=name, peer=peer, folder=cfg.folder, tls=cfg.tls, calling_ae=cfg.calling_ae)


@dataclass(frozen=True)
class Match:
    """The pairs one rule gave one destination: row indices in the batch, rule, destination, de-identification
    project."""

    rows: list[int]
    rule: str
    destination: str
    deidentify: str


class Lookups:
    """Lake tables rules consult (cohort membership, exam codes), re-read when their version changes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._cache: dict[str, tuple[int | None, object]] = {}

    def _fresh(self, key: str, table: Table, build: object) -> object:
        version = table.version()
        have = self._cache.get(key)
        if have is None or have[0] != version:
            assert callable(build)
            self._cache[key] = (version, build())
        return self._cache[key][1]

    def cohort_studies(self, cohort: str) -> set[str]:
        members = Lake(self.settings).table("silver", "cohort_members")

        def build() -> set[str]:
            table = members.read_arrow(["cohort", "study_instance_uid"])
            if table is None:
                return set()
            return set(table.filter(pc.equal(table["cohort"], cohort))["study_instance_uid"].to_pylist())

        return self._fresh(f"cohort:{cohort}", members, build)  # type: ignore[return-value]

    def exam_codes(self) -> dict[str, set[str]]:
        """Study description (upper-cased) → standard exam codes, from silver/exam_name_map."""
        name_map = Lake(self.settings).table("silver", "exam_name_map")

        def build() -> dict[str, set[str]]:
            table = name_map.read_arrow(["raw_name", "codes"])
            out: dict[str, set[str]] = {}
            for raw, codes in zip(*(table[c].to_pylist() for c in ("raw_name", "codes")), strict=True) if table else ():
                out.setdefault(str(raw or "").strip().upper(), set()).update(codes or [])
            return out

        return self._fresh("exam_codes", name_map, build)  # type: ignore[return-value]


def _upper(values: list[str]) -> pa.Array:
    return pa.array(sorted({v.strip().upper() for v in values}), pa.string())


def _mask(settings: Settings, rows: pa.Table, rule: RuleConfig, lookups: Lookups) -> pa.ChunkedArray | pa.Array:
    """Which rows the rule matches (every given condition holds)."""
    m = rule.match
    mask = pa.array([True] * rows.num_rows, pa.bool_())
    for field in MATCH_FIELDS:
        wanted = getattr(m, field)
        if wanted:
            values = pc.utf8_upper(pc.utf8_trim_whitespace(pc.fill_null(rows[field], "")))
            mask = pc.and_(mask, pc.is_in(values, _upper(wanted)))
    if m.exam_codes:
        codes = lookups.exam_codes()
        wanted_codes = set(m.exam_codes)
        descs = rows["study_description"].to_pylist()
        hit = [bool(codes.get(str(d or "").strip().upper(), set()) & wanted_codes) for d in descs]
        mask = pc.and_(mask, pa.array(hit, pa.bool_()))
    cohorts = [m.cohort] if m.cohort else []
    if m.space is not None:
        space = settings.spaces[m.space]
        if space.institutions:
            inst = pc.utf8_upper(pc.fill_null(rows["institution_name"], ""))
            mask = pc.and_(mask, pc.is_in(inst, _upper(space.institutions)))
        if space.modalities:
            mod = pc.utf8_upper(pc.fill_null(rows["modality"], ""))
            mask = pc.and_(mask, pc.is_in(mod, _upper(space.modalities)))
        for bound, op in ((space.date_from, pc.greater_equal), (space.date_to, pc.less_equal)):
            if bound is not None:
                mask = pc.and_(mask, pc.fill_null(op(rows["study_date"], pa.scalar(bound, pa.date32())), False))
        if space.cohort:
            cohorts.append(space.cohort)
    for cohort in cohorts:
        members = pa.array(sorted(lookups.cohort_studies(cohort)), pa.string())
        mask = pc.and_(mask, pc.is_in(rows["study_instance_uid"], members))
    return pc.fill_null(mask, False)


def match_rows(settings: Settings, rows: pa.Table, lookups: Lookups) -> list[Match]:
    """The (row, destination) pairs the enabled rules give, grouped by rule and destination; a pair matched by
    two rules is kept once (the first rule by name)."""
    out: list[Match] = []
    taken: dict[str, set[int]] = {}  # destination → rows an earlier rule already gave it
    for name in sorted(settings.routing.rules):
        rule = settings.routing.rules[name]
        if not rule.enabled or rows.num_rows == 0:
            continue
        hits = pc.indices_nonzero(_mask(settings, rows, rule, lookups)).to_pylist()
        for dest in rule.to:
            qname = str(parse_peer(dest)) if dest.startswith("dicom://") else dest
            seen = taken.setdefault(qname, set())
            new = [i for i in hits if i not in seen]
            seen.update(new)
            if new:
                out.append(Match(new, name, qname, rule.deidentify or ""))
    return out
