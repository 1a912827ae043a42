"""Helpers of the CDC tests: a source database, a seeded random workload over all types, row-by-row checks."""

from __future__ import annotations

import json
import random
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import yaml

from radlake.config import Settings

# Every type the issue names: integers, numeric with its scale (and unconstrained), text with Chinese,
# timestamptz, timestamp, date, boolean, jsonb; plus float, varchar and a long text that PostgreSQL TOASTs.
ORDERS_DDL = """
CREATE TABLE ris.orders (
    order_id    bigint PRIMARY KEY,
    dept        smallint,
    qty         integer,
    name        text,
    fee         numeric(10, 2),
    ratio       numeric,
    ordered_at  timestamptz,
    local_at    timestamp,
    exam_date   date,
    contrast    boolean,
    info        jsonb,
    code        varchar(16),
    score       double precision,
    findings    text,
    updated_at  timestamptz NOT NULL DEFAULT now()
)
"""
ORDER_COLUMNS = [
    *("order_id", "dept", "qty", "name", "fee", "ratio", "ordered_at", "local_at", "exam_date", "contrast"),
    *("info", "code", "score", "findings"),
]

HANZI = (
    "张王李赵刘陈杨黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
    "苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史"
    "顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
)
EXAMS = ["胸部CT平扫", "头颅MR增强", "腹部彩超", "胶片费", "乳腺钼靶", "腰椎DR正侧位"]


@dataclass
class SourceDb:
    """A test database on the session's embedded server."""

    pgdata: Path
    name: str
    uri: str
    conn: psycopg.Connection

    def settings(self, lake: Path, **source: Any) -> Settings:
        """Settings with one source ``src`` on this database."""
        spec = {"embedded_pgdata": str(self.pgdata), "database": self.name, "schema": "ris", **source}
        return Settings(lake=str(lake), sources={"src": spec})

    def write_config(self, folder: Path, lake: Path, **source: Any) -> Path:
        """A radlake.yaml for subprocesses."""
        spec = {"embedded_pgdata": str(self.pgdata), "database": self.name, "schema": "ris", **source}
        path = folder / "radlake.yaml"
        path.write_text(yaml.safe_dump({"lake": str(lake), "sources": {"src": spec}}, allow_unicode=True))
        return path


def random_name(rng: random.Random) -> str:
    return "".join(rng.choice(HANZI) for _ in range(rng.randint(2, 3)))


def random_findings(rng: random.Random) -> str | None:
    """Mostly short text; sometimes a few thousand random Hanzi (incompressible: stored out of line, TOAST)."""
    roll = rng.random()
    if roll < 0.15:
        return None
    if roll < 0.3:
        return "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(rng.randint(3000, 4000)))
    return f"{rng.choice(EXAMS)}：未见明显异常。\n印象：{random_name(rng)}"


def random_values(rng: random.Random) -> dict[str, Any]:
    """A random row (without its key); about 10% NULLs per column."""

    def maybe(value: Any) -> Any:
        return None if rng.random() < 0.1 else value

    tz = timezone(timedelta(hours=rng.choice([0, 8, -5, 5.5])))
    return {
        "dept": maybe(rng.randint(-32768, 32767)),
        "qty": maybe(rng.randint(-(2**31), 2**31 - 1)),
        "name": maybe(random_name(rng) + rng.choice(["", " ", "·", "'", '"', ",", "\n"])),
        "fee": maybe(Decimal(rng.randint(-99_999_999, 99_999_999)) / 100),
        "ratio": maybe(Decimal(rng.randint(-(10**12), 10**12)) / Decimal(10) ** rng.randint(0, 14)),
        "ordered_at": maybe(datetime(2020, 1, 1, tzinfo=tz) + timedelta(microseconds=rng.randint(0, 10**14))),
        "local_at": maybe(datetime(2020, 1, 1) + timedelta(microseconds=rng.randint(0, 10**14))),
        "exam_date": maybe(date(1930, 1, 1) + timedelta(days=rng.randint(0, 40_000))),
        "contrast": maybe(rng.random() < 0.5),
        "info": maybe(
            json.dumps(
                {"主诉": random_name(rng), "n": rng.randint(0, 9), "x": [1.5, None, True], "嵌套": {"a": ""}},
                ensure_ascii=False,
            )
        ),
        "code": maybe(rng.choice(["", "CT", "MR-01", "检查"])),
        "score": maybe(rng.uniform(-1e6, 1e6)),
        "findings": random_findings(rng),
    }


def insert_order(conn: psycopg.Connection, order_id: int, values: dict[str, Any]) -> None:
    cols = ["order_id", *values]
    conn.execute(
        f"INSERT INTO ris.orders ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})",
        [order_id, *values.values()],
    )


@dataclass
class Workload:
    """A seeded random workload of inserts, updates, deletes and key changes; it counts what it committed."""

    seed: int
    next_id: int = 1
    live: list[int] = field(default_factory=list)
    ops: Counter = field(default_factory=Counter)
    key_changes: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def seed_rows(self, conn: psycopg.Connection, n: int) -> None:
        for _ in range(n):
            insert_order(conn, self.next_id, random_values(self.rng))
            self.live.append(self.next_id)
            self.next_id += 1

    def run(self, conn: psycopg.Connection, n: int) -> None:
        """``n`` single-row changes, grouped in transactions of 1 to 5 statements."""
        rng = self.rng
        done = 0
        while done < n:
            with conn.transaction():
                for _ in range(min(rng.randint(1, 5), n - done)):
                    self._one(conn)
                    done += 1

    def _one(self, conn: psycopg.Connection) -> None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.3 or len(self.live) < 5:
            insert_order(conn, self.next_id, random_values(self.rng))
            self.live.append(self.next_id)
            self.next_id += 1
            self.ops["insert"] += 1
        elif roll < 0.75:
            order_id = rng.choice(self.live)
            values = random_values(rng)
            # Only some columns: the rest (often a TOASTed `findings`) stays as it was.
            chosen = rng.sample(sorted(values), rng.randint(1, 4))
            sets = ", ".join(f"{c} = %s" for c in chosen)
            conn.execute(
                f"UPDATE ris.orders SET {sets}, updated_at = clock_timestamp() WHERE order_id = %s",
                [values[c] for c in chosen] + [order_id],
            )
            self.ops["update"] += 1
        elif roll < 0.87:
            order_id = self.live.pop(rng.randrange(len(self.live)))
            conn.execute("DELETE FROM ris.orders WHERE order_id = %s", [order_id])
            self.ops["delete"] += 1
        else:  # a key change: one update in the source, the old key gone and the new key present in silver
            old = self.live.pop(rng.randrange(len(self.live)))
            conn.execute(
                "UPDATE ris.orders SET order_id = %s, updated_at = clock_timestamp() WHERE order_id = %s",
                [self.next_id, old],
            )
            self.live.append(self.next_id)
            self.next_id += 1
            self.ops["update"] += 1
            self.key_changes += 1


# --- comparison ------------------------------------------------------------------------------------------


def _normal(value: Any) -> Any:
    """A value in one comparable form, whichever side it came from (never through radlake's conversion)."""
    if isinstance(value, Decimal):
        return ("decimal", str(value))
    if isinstance(value, datetime) and value.tzinfo is not None:
        return ("instant", value.astimezone(UTC))
    if isinstance(value, dict | list):
        return ("json", json.dumps(value, sort_keys=True, ensure_ascii=False))
    return value


def source_rows(conn: psycopg.Connection, table: str, key: str, columns: list[str] | None = None) -> dict:
    """The source table through psycopg's own type loaders: key → {column: value}."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM ris.{table}")
        names = [d.name for d in cur.description]
        rows = cur.fetchall()
    out = {}
    for row in rows:
        record = dict(zip(names, row, strict=True))
        out[record[key]] = {c: _normal(record[c]) for c in (columns or names)}
    return out


def silver_rows(spark, uri: str, key: str, columns: list[str], json_columns=(), text_numeric=()) -> dict:
    """A silver table through Spark: key → {column: value}, JSON text parsed, exact-text numerics as Decimal."""
    table = spark.read.format("delta").load(uri).toArrow()
    out = {}
    for record in table.to_pylist():
        row = {}
        for c in columns:
            value = record[c]
            if c in json_columns and value is not None:
                value = json.loads(value)
            if c in text_numeric and value is not None:
                value = Decimal(value)
            row[c] = _normal(value)
        out[record[key]] = row
    return out


def assert_orders_match(spark, settings: Settings, conn: psycopg.Connection) -> int:
    """Silver ``src__orders`` equals the source table row for row and value for value."""
    uri = f"{settings.lake}/silver/src__orders"
    expected = source_rows(conn, "orders", "order_id", [*ORDER_COLUMNS, "updated_at"])
    got = silver_rows(
        spark, uri, "order_id", [*ORDER_COLUMNS, "updated_at"], json_columns=("info",), text_numeric=("ratio",)
    )
    assert set(got) == set(expected), (
        f"keys differ: {len(set(expected) - set(got))} missing, {len(set(got) - set(expected))} extra"
    )
    for key, row in expected.items():
        assert got[key] == row, f"order {key} differs: " + ", ".join(
            f"{c}: {got[key][c]!r} != {row[c]!r}" for c in row if got[key][c] != row[c]
        )
    return len(expected)


def assert_table_matches(spark, settings: Settings, source: str, conn: psycopg.Connection, table: str) -> int:
    """Any captured table: silver equals the source, row for row (keys from the source's primary key)."""
    key = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = %s::regclass AND i.indisprimary",
        (f"ris.{table}",),
    ).fetchall()
    assert len(key) == 1, f"{table}: the generic check wants a one-column key"
    types = dict(
        conn.execute(
            "SELECT column_name, data_type || coalesce(numeric_precision::text, '') FROM information_schema.columns "
            "WHERE table_schema = 'ris' AND table_name = %s",
            (table,),
        ).fetchall()
    )
    columns = list(types)
    expected = source_rows(conn, table, key[0][0], columns)
    got = silver_rows(
        spark,
        f"{settings.lake}/silver/{source}__{table}",
        key[0][0],
        columns,
        json_columns=[c for c, t in types.items() if t.startswith("json")],
        text_numeric=[c for c, t in types.items() if t == "numeric"],
    )
    assert set(got) == set(expected), f"{table}: {len(set(expected) ^ set(got))} keys differ"
    for k, row in expected.items():
        assert got[k] == row, f"{table} {k}: " + ", ".join(c for c in row if got[k][c] != row[c])
    return len(expected)


# --- exactly once, change by change --------------------------------------------------------------------------

_CHANGE = re.compile(r"table (?P<table>\S+): (?P<op>INSERT|UPDATE|DELETE): (?P<rest>.*)", re.S)
_OPS = {"INSERT": "insert", "UPDATE": "update", "DELETE": "delete"}


class WalTruth:
    """Every change committed after it was made, as PostgreSQL's own ``test_decoding`` plugin prints it.

    An independent record to hold the change log against: a second logical slot with another output plugin
    (not pgoutput, not radlake's decoder). Each change becomes ``(commit end LSN, op, key, old key)``.
    Create it after the first sync's snapshot (so the two cover the same changes); the ``source_db`` fixture
    drops it with the database.
    """

    def __init__(self, conn: psycopg.Connection) -> None:
        self.slot = f"truth_{uuid.uuid4().hex[:10]}"  # not radlake_*: status would list it as an orphan
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (self.slot,))

    def changes(self, conn: psycopg.Connection, table: str, key: str) -> Counter:
        """The changes of ``ris.<table>`` (a plain name; the key is its first, integer column)."""
        rows = conn.execute(
            "SELECT lsn::text, data FROM pg_logical_slot_peek_changes(%s, NULL, NULL, 'skip-empty-xacts', '1')",
            (self.slot,),
        ).fetchall()
        value = re.compile(rf"{re.escape(key)}\[[^\]]+\]:(-?\d+)")
        out: Counter = Counter()
        pending: list[tuple[str, int, int | None]] = []
        for lsn, data in rows:
            if data.startswith("BEGIN"):
                pending = []
            elif data.startswith("COMMIT"):
                end = _lsn_int(lsn)
                out.update((end, op, k, old) for op, k, old in pending)
            elif (m := _CHANGE.match(data)) and m["table"] == f"ris.{table}":
                rest, old = m["rest"], None
                if rest.startswith("old-key: "):
                    old_part, _, rest = rest.removeprefix("old-key: ").partition(" new-tuple: ")
                    found = value.match(old_part)
                    assert found, data[:200]
                    old = int(found[1])
                found = value.match(rest)
                assert found, data[:200]
                pending.append((_OPS[m["op"]], int(found[1]), old))
        return out


def _lsn_int(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def assert_each_change_logged_once(
    settings: Settings, truth: WalTruth, conn, table: str = "orders", key: str = "order_id"
) -> int:
    """Each source change since ``truth`` was made is exactly one change-log row: same commit LSN, op, key and
    old key (and the log holds nothing else but snapshot rows). Returns the number of changes."""
    from radlake.lake import read_arrow

    expected = truth.changes(conn, table, key)
    log = read_arrow(settings, f"{settings.lake}/bronze/src__{table}", ["_lsn", "_op", key, f"_old_{key}"])
    assert log is not None
    got = Counter(
        (lsn, op, k, old)
        for lsn, op, k, old in zip(*(log.column(i).to_pylist() for i in range(4)), strict=True)
        if op != "snapshot"
    )
    missing, extra = expected - got, got - expected
    assert not missing and not extra, (
        f"{sum(missing.values())} source changes without their change-log row (e.g. {sorted(missing)[:3]}), "
        f"{sum(extra.values())} change-log rows without their source change (e.g. {sorted(extra)[:3]})"
    )
    return sum(expected.values())
