"""Decoder of PostgreSQL's ``pgoutput`` logical replication messages (protocol version 1) into table changes.

Pure: bytes in, :class:`ingestion.cdc.log.TableChanges` out. Message layouts follow the PostgreSQL manual,
"Logical Replication Message Formats": Begin, Commit, Origin, Relation, Type, Insert, Update, Delete, Truncate.
Values arrive in PostgreSQL's text output form; tuples of an Update carry the old key (``K``) when the key
changed, or the whole old row (``O``) under ``REPLICA IDENTITY FULL``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ingestion.cdc.log import TableChanges
from radlake.errors import DataError

PG_EPOCH_US = 946_684_800_000_000  # PostgreSQL timestamps count µs from 2000-01-01 UTC

_BEGIN = struct.Struct("!qqI")
_COMMIT = struct.Struct("!bqqq")
_INT32 = struct.Struct("!i")
_INT16 = struct.Struct("!h")
_COLUMN = struct.Struct("!Ii")

UNCHANGED = object()  # marker of an unchanged TOAST value in a tuple


@dataclass(frozen=True)
class Relation:
    """A Relation message: the columns (and types) of a table as of the changes that follow it."""

    relid: int
    schema: str
    name: str
    replica_identity: str
    columns: tuple[str, ...]
    types: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Transaction:
    """One decoded source transaction: where its commit record ends, when it committed, how many changes."""

    end_lsn: int
    commit_us: int
    changes: int


@dataclass
class Decoded:
    """What a run of messages held: changes per table, the transactions, and the last commit's end LSN."""

    tables: dict[str, TableChanges] = field(default_factory=dict)
    transactions: list[Transaction] = field(default_factory=list)
    last_end_lsn: int | None = None
    relations: dict[int, Relation] = field(default_factory=dict)


def _cstring(buf: bytes, pos: int) -> tuple[str, int]:
    end = buf.index(b"\x00", pos)
    return buf[pos:end].decode("utf-8"), end + 1


def _tuple(buf: bytes, pos: int) -> tuple[list, int]:
    """A TupleData: the column values (str, None for NULL, UNCHANGED) and the position after it."""
    (n,) = _INT16.unpack_from(buf, pos)
    pos += 2
    out: list = []
    append = out.append
    for _ in range(n):
        kind = buf[pos]
        pos += 1
        if kind == 0x74:  # 't': text
            length = int.from_bytes(buf[pos : pos + 4], "big")
            pos += 4
            append(buf[pos : pos + length].decode("utf-8"))
            pos += length
        elif kind == 0x6E:  # 'n': NULL
            append(None)
        elif kind == 0x75:  # 'u': unchanged TOAST value, not sent
            append(UNCHANGED)
        else:
            raise DataError(f"pgoutput sent a value in an unexpected format {chr(kind)!r} (binary mode is off)")
    return out, pos


class PgOutputDecoder:
    """Decode pgoutput messages of one batch for the tables being captured.

    Parameters
    ----------
    schema
        The source schema; changes of other schemas are ignored.
    keys
        Captured table name → its row keys. Changes of tables not listed are ignored (not captured, or not
        snapshotted yet: their snapshot will hold those changes).
    skip_before
        Table name → a position: transactions whose commit record starts before it are already in that table's
        change log (a batch replayed after a crash) and are skipped for that table.
    seq_start
        ``_seq`` of the first change.
    """

    def __init__(
        self,
        schema: str,
        keys: Mapping[str, tuple[str, ...]],
        skip_before: Mapping[str, int] | None = None,
        *,
        seq_start: int = 0,
    ) -> None:
        self.schema = schema
        self.keys = dict(keys)
        self.skip_before = dict(skip_before or {})
        self.out = Decoded()
        self._seq = seq_start
        self._in_txn = False
        self._final_lsn = 0
        self._commit_us = 0
        self._touched: set[str] = set()
        self._txn_changes = 0
        self._layout: dict[str, tuple[tuple[str, ...], int]] = {}  # table → (relation columns, relid) last applied

    def feed_all(self, messages: Iterable[bytes]) -> Decoded:
        """Decode a sequence of messages (whole transactions) and return the result."""
        for message in messages:
            self.feed(message)
        if self._in_txn:
            raise DataError("logical decoding returned an incomplete transaction; retry the batch")
        return self.out

    def feed(self, buf: bytes) -> None:
        """Decode one message."""
        tag = buf[0]
        if tag == 0x42:  # 'B' Begin
            self._final_lsn, ts, _xid = _BEGIN.unpack_from(buf, 1)
            self._commit_us = ts + PG_EPOCH_US
            self._in_txn = True
            self._touched.clear()
            self._txn_changes = 0
        elif tag == 0x43:  # 'C' Commit
            _flags, _commit_lsn, end_lsn, ts = _COMMIT.unpack_from(buf, 1)
            for name in self._touched:
                tc = self.out.tables[name]
                tc.positions.extend([end_lsn] * (len(tc.ops) - len(tc.positions)))
            self.out.transactions.append(Transaction(end_lsn, ts + PG_EPOCH_US, self._txn_changes))
            self.out.last_end_lsn = end_lsn
            self._in_txn = False
        elif tag == 0x52:  # 'R' Relation
            self._relation(buf)
        elif tag in (0x49, 0x55, 0x44):  # 'I', 'U', 'D'
            self._change(tag, buf)
        elif tag == 0x54:  # 'T' Truncate
            self._truncate(buf)
        # 'O' Origin, 'Y' Type and 'M' Message carry nothing radlake stores.

    def _relation(self, buf: bytes) -> None:
        (relid,) = _INT32.unpack_from(buf, 1)
        relid &= 0xFFFFFFFF
        namespace, pos = _cstring(buf, 5)
        name, pos = _cstring(buf, pos)
        replident = chr(buf[pos])
        (ncols,) = _INT16.unpack_from(buf, pos + 1)
        pos += 3
        columns: list[str] = []
        types: list[tuple[int, int]] = []
        for _ in range(ncols):
            pos += 1  # flags: part of the replica identity; radlake takes keys from the catalog
            colname, pos = _cstring(buf, pos)
            oid, typmod = _COLUMN.unpack_from(buf, pos)
            pos += 8
            columns.append(colname)
            types.append((oid, typmod))
        self.out.relations[relid] = Relation(
            relid, namespace or "pg_catalog", name, replident, tuple(columns), tuple(types)
        )

    def _target(self, relid: int) -> tuple[Relation, TableChanges] | None:
        rel = self.out.relations.get(relid)
        if rel is None:
            raise DataError(f"pgoutput sent a change of relation {relid} before describing it")
        if rel.schema != self.schema or rel.name not in self.keys:
            return None
        if self._final_lsn < self.skip_before.get(rel.name, 0):
            return None
        tc = self.out.tables.get(rel.name)
        if tc is None:
            tc = self.out.tables[rel.name] = TableChanges(self.schema, rel.name, self.keys[rel.name])
        layout = self._layout.get(rel.name)
        if layout is None or layout[1] != relid or layout[0] != rel.columns:
            for colname, (oid, typmod) in zip(rel.columns, rel.types, strict=True):
                tc.add_column(colname, oid, typmod)
            self._layout[rel.name] = (rel.columns, relid)
        self._touched.add(rel.name)
        return rel, tc

    def _change(self, tag: int, buf: bytes) -> None:
        (relid,) = _INT32.unpack_from(buf, 1)
        target = self._target(relid & 0xFFFFFFFF)
        if target is None:
            return
        rel, tc = target
        kind = buf[5]
        old: list | None = None
        if tag == 0x49:  # Insert: 'N' + new tuple
            new, _ = _tuple(buf, 6)
            op = "insert"
        elif tag == 0x55:  # Update: optional 'K'/'O' + old tuple, then 'N' + new tuple
            pos = 5
            if kind in (0x4B, 0x4F):
                old, pos = _tuple(buf, 6)
            new, _ = _tuple(buf, pos + 1)
            op = "update"
        else:  # Delete: 'K'/'O' + old tuple: the key (or the whole row) of the deleted row
            new, _ = _tuple(buf, 6)
            op = "delete"
        self._append(rel, tc, op, new, old)

    def _append(self, rel: Relation, tc: TableChanges, op: str, values: list, old: list | None) -> None:
        row = len(tc.ops)
        columns = tc.columns
        for i, colname in enumerate(rel.columns):
            value = values[i]
            if value is UNCHANGED:
                prior = old[i] if old is not None else None
                if prior is None or prior is UNCHANGED:
                    tc.unchanged.append((row, colname))
                    value = None
                else:
                    value = prior
            columns[colname].append(value)
        if len(columns) != len(rel.columns):  # columns the relation no longer has (dropped at the source)
            for colvalues in columns.values():
                if len(colvalues) == row:
                    colvalues.append(None)
        key_changed = False
        if old is not None:
            index = {c: i for i, c in enumerate(rel.columns)}
            olds = [old[index[k]] if k in index else None for k in tc.keys]
            news = [values[index[k]] if k in index else None for k in tc.keys]
            key_changed = olds != news
        for j, key in enumerate(tc.keys):
            tc.old_keys[key].append(olds[j] if key_changed else None)
        tc.ops.append(op)
        tc.seq.append(self._seq)
        tc.commit_us.append(self._commit_us)
        self._seq += 1
        self._txn_changes += 1

    def _truncate(self, buf: bytes) -> None:
        (nrels,) = _INT32.unpack_from(buf, 1)
        for i in range(nrels):
            (relid,) = _INT32.unpack_from(buf, 6 + 4 * i)
            target = self._target(relid & 0xFFFFFFFF)
            if target is None:
                continue
            rel, tc = target
            self._append(rel, tc, "truncate", [None] * len(rel.columns), None)
