"""The EMPI over a registry larger than memory: records in Parquet, features and pairs in DuckDB on disk.

:func:`transforms.empi.master.link_patients` holds the records and their features as pandas frames: about 3 GiB
at a million records, so ten million would not fit a 24 GiB machine. :func:`link_registry` runs the same
linkage, with the same results, on a registry in a Parquet file:

- features: the records to parse are read in batches of ``batch_records`` (only the file's row groups that
  hold some); each batch's per-record columns (names, dates, ID numbers, phones, addresses parsed,
  :func:`transforms.empi.features._per_record`) go into a DuckDB table in a database file in
  ``LinkageConfig.temp_directory``; an incremental run copies the columns of unchanged records (same
  fingerprint) from the previous run's features instead of parsing them again. The columns that depend on the
  whole registry (placeholder and household phones) are one SQL query.
- blocking: the codes of :func:`transforms.empi.linkage.blocking_columns` are SQL (hashes of the values, so a
  code means the same in every run); scoring: Splink on the same DuckDB connection, under
  ``LinkageConfig.memory_limit``, spilling to the temporary directory; the pairs come back as three numeric
  columns (pairs at or above the review band, about one per record). ID-number pairs are SQL.
- an incremental run compares only the new records (and those of persons a new never-link splits): the other
  records that share a blocking key with one of them are found by a join on the keys, and Splink scores the
  compared records against those only. Clustering, ids, master rows, golden records and the review queue then
  work on the records of the persons this run may change (those in a scored pair or a steward's decision,
  those whose input changed, with every record of their previous persons); every other record keeps its
  person and its master row, copied by DuckDB. The results are those of clustering every record.
- clustering, ids and outputs load only the columns they read (the guards' five, the golden record's
  seven), as arrays of one value per record whose equal texts share one Python object; no frame of every
  feature column of the registry is ever built in Python.

The outputs are Parquet files in ``out`` (:class:`RegistryFiles`): ``master``, ``golden``, ``events``,
``review`` and ``features`` (the cache the next, incremental run reads). Training runs on a sample of
``LinkageConfig.train_records`` records drawn as :func:`transforms.empi.linkage.train_model` draws it, so a
model trained here equals one trained in memory on the same records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from radlake import catalog
from radlake.errors import DataError
from radlake.progress import Phase, Progress, silent
from transforms.empi.birth_dates import GENERATION_YEARS
from transforms.empi.clusters import EVENT_COLUMNS, assign_empi_ids, cluster_records, parse_empi_id
from transforms.empi.features import FEATURE_COLUMNS, INPUT_COLUMNS, _per_record
from transforms.empi.golden import build_golden
from transforms.empi.linkage import (
    _MODEL_COLUMNS,
    BLOCKING_RULES,
    RARE_NAME_RECORDS,
    LinkageConfig,
    _blocked_pairs_duckdb,
    _model_for,
    _release,
    _side,
    combined_pairs,
    make_db_api,
    train_model,
)
from transforms.empi.master import (
    MASTER_COLUMNS,
    MasterInputs,
    master_rows,
    merge_reasons,
    review_candidates,
    run_stats,
)
from transforms.empi.review import carry_forward, latest_decisions, review_queue

__all__ = ["RegistryFiles", "RegistryRun", "link_registry"]

_PER_RECORD = tuple(c for c in FEATURE_COLUMNS if c not in ("phone", "phone_household"))
_INTEGERS = ("birth_year", "birth_month", "birth_day", "fingerprint", "phone_household", "rid")
_STORED = pa.schema([(c, pa.int64() if c in _INTEGERS else pa.string()) for c in (*_PER_RECORD, "mrn")])
_BLOCKING = ("name_set", "name_rare", "birth_md", "address_block")
_EVENTS = pa.schema([f for f in catalog.schemas.EMPI_EVENTS if f.name in EVENT_COLUMNS])


@dataclass(frozen=True)
class RegistryFiles:
    """The Parquet files of one run, in ``folder``."""

    folder: Path

    @property
    def master(self) -> Path:
        """``silver/patient_master`` rows."""
        return self.folder / "master.parquet"

    @property
    def golden(self) -> Path:
        """``silver/patient_golden`` rows, sorted by empi_id."""
        return self.folder / "golden.parquet"

    @property
    def events(self) -> Path:
        """This run's ``silver/empi_events`` rows (without ``empi_run``)."""
        return self.folder / "events.parquet"

    @property
    def review(self) -> Path:
        """The steward review queue."""
        return self.folder / "review.parquet"

    @property
    def features(self) -> Path:
        """The records' per-record features (the next run's cache), with ``mrn``."""
        return self.folder / "features.parquet"


@dataclass
class RegistryRun:
    """What :func:`link_registry` did: its files, the model, counts and seconds per phase."""

    files: RegistryFiles
    model: dict[str, Any]
    stats: dict[str, int]
    timings: dict[str, float]
    blocking: dict[str, int]


def link_registry(
    records: Path,
    out: Path,
    *,
    previous: RegistryFiles | None = None,
    decisions: pd.DataFrame | None = None,
    model: dict[str, Any] | None = None,
    config: LinkageConfig | None = None,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
    batch_records: int = 250_000,
) -> RegistryRun:
    """Link the patient records of a Parquet file into persons, out of core; write the outputs to ``out``.

    Parameters
    ----------
    records
        A Parquet file of patient records (:data:`transforms.empi.features.INPUT_COLUMNS`); ``record_id``
        unique. A record's row position is its number in this run.
    out
        Folder for the outputs (:class:`RegistryFiles`); created. It may be the folder of ``previous``.
    previous
        The files of the previous run: an incremental run (its empi_ids kept, only new records compared).
    decisions
        Steward decisions (``silver/empi_decisions`` rows).
    model
        A trained model; trained on a sample of the records when ``None``.
    config
        Thresholds, DuckDB's ``memory_limit`` and ``temp_directory`` (default: ``out/spill``). DuckDB only.
    now
        Time stamp of the run (default: now, UTC).
    progress
        Where to show the phases.
    batch_records
        Records parsed per batch (the features phase holds one batch in pandas).

    Returns
    -------
    RegistryRun

    Raises
    ------
    radlake.errors.DataError
        If ``record_id`` is missing, empty or repeated, or a previous empi_id is not one.
    """
    config = config or LinkageConfig()
    if config.engine != "duckdb":
        raise ValueError("link_registry runs on DuckDB; use link_patients for the Spark engine")
    config = replace(config, temp_directory=config.temp_directory or str(out / "spill"))
    out.mkdir(parents=True, exist_ok=True)
    db_api = make_db_api(config)
    try:
        return _Run(db_api, config, progress or silent(), now or dt.datetime.now(dt.UTC)).run(
            records, RegistryFiles(out), previous, decisions, model, batch_records
        )
    finally:
        _release(db_api)


def _int64(frame_type: pa.DataType) -> Any:
    return pd.Int64Dtype() if pa.types.is_integer(frame_type) else None


class _Run:
    """One run's DuckDB tables (``features``, ``model_input``) and the arrays the Python steps share."""

    def __init__(self, db_api: Any, config: LinkageConfig, progress: Progress, now: dt.datetime) -> None:
        self.db_api = db_api
        self.con = db_api.duckdb_con
        self.config = config
        self.progress = progress
        self.now = now
        self.n = 0

    # --- reading columns back -------------------------------------------------------------------------------
    def arrow(self, sql: str, parameters: Sequence[object] = ()) -> pa.Table:
        table: pa.Table = self.con.execute(sql, list(parameters)).fetch_arrow_table()
        return table

    def columns(self, names: Sequence[str], table: str = "features", rids: np.ndarray | None = None) -> pd.DataFrame:
        """Columns of every record (or of ``rids``, in that order) in row order; equal texts share one object,
        integers are ``Int64``."""
        listed = ", ".join(f"t.{c}" for c in names)
        if rids is None:
            data = self.arrow(f"select {listed} from {table} as t order by t.rid")
        else:
            self.con.register(
                "__rids", pa.table({"rid": np.asarray(rids, dtype=np.int64), "ord": np.arange(len(rids))})
            )
            data = self.arrow(f"select {listed} from {table} as t join __rids using (rid) order by __rids.ord")
            self.con.unregister("__rids")
        return data.to_pandas(types_mapper=_int64, deduplicate_objects=True)

    def text(self, name: str, rids: np.ndarray | None = None) -> np.ndarray:
        """One text column of every record (or of ``rids``) as an object array (``None`` for missing)."""
        column = self.columns([name], rids=rids)[name]
        return np.asarray(column.to_numpy(dtype=object))

    def rids_of(self, mask: np.ndarray, name: str) -> None:
        """Register the records of ``mask`` as table ``name`` (one column, ``rid``)."""
        self.con.register(name, pa.table({"rid": np.flatnonzero(mask).astype(np.int64)}))

    # --- phases ---------------------------------------------------------------------------------------------
    def run(
        self,
        records: Path,
        files: RegistryFiles,
        previous: RegistryFiles | None,
        decisions: pd.DataFrame | None,
        model: dict[str, Any] | None,
        batch_records: int,
    ) -> RegistryRun:
        has = {
            name: previous is not None and getattr(previous, name).is_file()
            for name in ("master", "events", "review", "features", "golden")
        }
        with self.progress.phase("features") as step:
            self.features(records, previous.features if previous and has["features"] else None, batch_records, step)
        prior = previous if has["master"] else None
        next_number = self.next_number(prior, has["events"])  # first: it names an id that is not one
        prev_num = self.previous_ids(prior)
        is_new = prev_num < 0
        in_force = latest_decisions(decisions)
        steward_links, never_links = self.decided(in_force)
        # A new never-link inside a previous person: that person's records are re-linked from scratch.
        to_split = {int(prev_num[a]) for a, b in never_links if prev_num[a] >= 0 and prev_num[a] == prev_num[b]}
        relink = is_new | np.isin(prev_num, list(to_split)) if to_split else is_new.copy()
        incremental = not is_new.all()

        with self.progress.phase("blocking") as step:
            blocking = self.blocking(relink if incremental else None)
            for rule, count in blocking.items():
                step.note(f"{count:,} pairs on {rule}")
        with self.progress.phase("train") as step:
            if model is None:
                model = train_model(self.sample(), self.config)
            else:
                step.note("saved model reused")
        with self.progress.phase("score"):
            pairs = self.score(model, relink if incremental else None)
            # DuckDB keeps what it read cached up to its limit; the Python steps after scoring want that memory.
            self.con.execute(f"set memory_limit = '{_after_scoring(self.config.memory_limit)}'")

        with self.progress.phase("cluster", total=len(pairs)) as step:
            same = self.same_input(previous.features) if previous is not None and has["features"] else None
            part = None
            if incremental and same is not None and has["golden"]:
                part = _affected(prev_num, relink, ~same, pairs, [*steward_links, *never_links])
                step.note(f"{len(part):,} records in persons this run may change")
            local = _Part(part)
            # Labels of the previous persons (the records of one start joined), -1 for records compared anew.
            initial = np.where(relink, -1, prev_num)
            initial = initial if part is None else initial[part]
            result = cluster_records(
                self.columns(["id18", "given_py", "name_norm", "birth_date", "sex"], rids=part),
                local.pairs(pairs),
                auto_link=self.config.auto_link,
                initial=initial,
                steward_links=local.links(steward_links),
                never_links=local.links(never_links),
                on_progress=step.update,
            )
        with self.progress.phase("ids"):
            record_ids = self.text("record_id", part)
            prev_rows, prev_pos = self.previous_rows(part)
            prev_ids = np.full(len(record_ids), None, dtype=object)
            prev_ids[prev_pos] = prev_rows["empi_id"].astype(str).to_numpy(dtype=object)
            accepted = result.accepted
            empi_ids, events, _ = assign_empi_ids(
                result.root,
                prev_ids,
                next_number=next_number,
                record_ids=record_ids,
                occurred_at=self.now,
                merge_reasons=merge_reasons(accepted, result.root),
                split_reason="steward never_link" if to_split else "relinked",
            )
            vetoed = result.vetoed
            del result
            empi = np.asarray(empi_ids, dtype=object)
            del empi_ids
            _write(events, _EVENTS, files.events)  # a full run's creates are one row per person: written now
            del events
        with self.progress.phase("outputs"):
            source = self.columns(["source_system", "mrn"], rids=part)
            master = master_rows(
                MasterInputs(record_ids, source["source_system"].to_numpy(), source["mrn"].to_numpy()),
                accepted,
                empi,
                prev_ids,
                prev_rows,
                prev_pos,
                self.now,
            )
            del source, prev_rows
            self.write_master(master, part, files.master)
            if part is not None and same is not None and previous is not None:
                self.golden_incremental(files, previous, master, empi, prev_ids, same[local.rids], part)
                persons = self.count("select count(distinct empi_id) from read_parquet(?)", files.master)
            else:
                golden = build_golden(self.golden_columns(record_ids), master)
                _write(golden, catalog.schemas.PATIENT_GOLDEN, files.golden)
                del golden
                persons = int(pd.unique(empi).size)
            del master
            candidates = review_candidates(local.pairs(pairs), vetoed, self.config)
            review = self.review_queue(
                candidates, empi, in_force, record_ids, part, previous if has["review"] else None, files
            )
            _write(review, catalog.schemas.EMPI_REVIEW_QUEUE, files.review)
            self.con.execute(
                f"copy (select {', '.join(_STORED.names)} from features order by rid) to {_literal(files.features)} "
                "(format parquet)"
            )
        stats = run_stats(is_new, relink, blocking, pairs, accepted, vetoed, persons=persons, review_pairs=len(review))
        return RegistryRun(files, model, stats, dict(self.progress.timings), blocking)

    def count(self, sql: str, *paths: Path) -> int:
        """The one number a query over files returns."""
        row = self.con.execute(sql, [str(p) for p in paths]).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def previous_ids(self, previous: RegistryFiles | None) -> np.ndarray:
        """Table ``__prev`` (the previous master's rows of current records, by ``rid``); each record's previous
        empi_id as its number, -1 for records new to this run."""
        numbers = np.full(self.n, -1, dtype=np.int64)
        if previous is None:
            return numbers
        self.con.execute(
            "create temp table __prev as select f.rid, m.*, cast(substr(m.empi_id, 2) as bigint) as __num "
            "from features as f join read_parquet(?) as m on f.record_id = m.record_id where m.empi_id is not null",
            [str(previous.master)],
        )
        found = self.con.execute("select rid, __num from __prev").fetchnumpy()
        numbers[np.asarray(found["rid"], dtype=np.int64)] = np.asarray(found["__num"], dtype=np.int64)
        return numbers

    def previous_rows(self, part: np.ndarray | None) -> tuple[pd.DataFrame, np.ndarray]:
        """The previous master's rows of the records of ``part`` (or of all), and their positions in it."""
        columns = list(MASTER_COLUMNS)
        if not self.con.execute("select 1 from duckdb_tables() where table_name = '__prev'").fetchall():
            return pd.DataFrame(columns=columns), np.zeros(0, dtype=np.int64)
        listed = ", ".join(f"p.{c}" for c in columns)
        if part is None:
            rows = self.arrow(f"select p.rid as __pos, {listed} from __prev as p order by p.rid")
        else:
            self.con.register("__rids", pa.table({"rid": part, "ord": np.arange(len(part))}))
            rows = self.arrow(
                f"select r.ord as __pos, {listed} from __prev as p join __rids as r using (rid) order by r.ord"
            )
            self.con.unregister("__rids")
        frame = rows.to_pandas(deduplicate_objects=True)
        return frame[columns], frame["__pos"].to_numpy(dtype=np.int64)

    def same_input(self, previous: Path) -> np.ndarray:
        """Which records the previous run read with the same input (same fingerprint)."""
        same = np.zeros(self.n, dtype=bool)
        kept = self.con.execute(
            "select f.rid from features as f join read_parquet(?) as p on p.record_id = f.record_id "
            "and p.fingerprint = f.fingerprint",
            [str(previous)],
        ).fetchnumpy()["rid"]
        same[np.asarray(kept, dtype=np.int64)] = True
        return same

    def write_master(self, master: pd.DataFrame, part: np.ndarray | None, path: Path) -> None:
        """The master: the rows of ``part`` from ``master``, every other record's row as the previous run wrote
        it (its person did not change), in record order."""
        schema = catalog.schemas.PATIENT_MASTER
        if part is None:
            _write(master, schema, path)
            return
        table = pa.Table.from_pandas(master[list(schema.names)], schema=schema, preserve_index=False)
        self.con.register("__changed", table.append_column("rid", pa.array(part, type=pa.int64())))
        listed = ", ".join(schema.names)
        kept = ", ".join(f"f.{c}" if c in ("record_id", "source_system", "mrn") else f"p.{c}" for c in schema.names)
        rows = self.con.execute(
            f"select {listed} from (select rid, {listed} from __changed union all select f.rid, {kept} "
            "from features as f join __prev as p using (rid) anti join __changed as c using (rid)) order by rid"
        ).fetch_record_batch(1_000_000)
        with pq.ParquetWriter(path, schema) as writer:
            for batch in rows:
                writer.write_table(pa.Table.from_batches([batch]).cast(schema))
        self.con.unregister("__changed")

    def features(self, records: Path, previous: Path | None, batch_records: int, step: Phase) -> None:
        """Table ``features``: the per-record columns batch by batch, then the registry-wide phone columns."""
        source = pq.ParquetFile(records)
        names = source.schema_arrow.names
        if "record_id" not in names:
            raise DataError(f"{records}: no record_id column (columns: {', '.join(names) or 'none'})")
        wanted = [c for c in INPUT_COLUMNS if c in names]
        stored = ", ".join(_STORED.names)
        self.con.execute(
            "create table per_record (rid bigint, "
            + ", ".join(f"{f.name} {'bigint' if f.name in _INTEGERS else 'varchar'}" for f in _STORED)
            + ")"
        )
        # Each record's number (its row in the file) and the fingerprint of its input (record_id and mrn left
        # out), by DuckDB in one pass: unchanged records are found, and their columns copied from the previous
        # run, without converting them to Python.
        hashed = [c for c in wanted if c not in ("record_id", "mrn")]
        self.con.execute(
            "create temp table __keys as select file_row_number as rid, cast(record_id as varchar) as record_id, "
            f"cast(hash({', '.join(hashed) or 'null'}) >> 1 as bigint) as fp "
            "from read_parquet(?, file_row_number = true)",
            [str(records)],
        )
        empty = self.con.execute("select min(rid) from __keys where record_id is null or trim(record_id) = ''")
        row = empty.fetchone()
        if row is not None and row[0] is not None:
            raise DataError(f"patient records: record_id is empty in row {int(row[0]) + 1}")
        repeated = self.con.execute(
            "select record_id from __keys group by record_id having count(*) > 1 limit 1"
        ).fetchone()
        if repeated:
            raise DataError(f"patient records: record_id {repeated[0]!r} occurs more than once")
        count = self.con.execute("select count(*) from __keys").fetchone()
        n = int(count[0]) if count else 0
        fresh = np.ones(n, dtype=bool)
        if previous is not None:
            # An unchanged record (same fingerprint) takes its columns from the previous run: not parsed again.
            # Read from the file where it is joined: copying it into the database first cost a quarter of the phase.
            reused = self.con.execute(
                f"insert into per_record select k.rid, {', '.join('p.' + c for c in _STORED.names)} "
                "from __keys as k join read_parquet(?) as p on p.record_id = k.record_id "
                "and p.fingerprint = k.fp returning rid",
                [str(previous)],
            ).fetchnumpy()["rid"]
            fresh[np.asarray(reused, dtype=np.int64)] = False
        fingerprints = np.asarray(self.con.execute("select fp from __keys order by rid").fetchnumpy()["fp"])
        self.con.execute("drop table __keys")
        # Only the row groups holding records to parse are read (an incremental run's new records are a few).
        sizes = [source.metadata.row_group(g).num_rows for g in range(source.num_row_groups)]
        offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
        needed = [g for g in range(len(sizes)) if fresh[offsets[g] : offsets[g + 1]].any()]
        for run in _consecutive(needed):
            start = int(offsets[run[0]])
            for batch in source.iter_batches(batch_size=batch_records, columns=wanted, row_groups=run):
                rid = np.arange(start, start + batch.num_rows, dtype=np.int64)
                parse = fresh[start : start + batch.num_rows]
                if parse.any():
                    frame = batch.take(pa.array(np.flatnonzero(parse))).to_pandas()
                    frame["record_id"] = frame["record_id"].astype(str)
                    part = _per_record(frame, fingerprints[rid[parse]])
                    mrn = frame["mrn"] if "mrn" in frame else pd.Series(None, index=part.index, dtype=object)
                    part["mrn"] = np.where(pd.notna(mrn).to_numpy(), mrn.astype(str).to_numpy(), None)
                    table = pa.Table.from_pandas(part[list(_STORED.names)], schema=_STORED, preserve_index=False)
                    self.con.register("__part", table.append_column("rid", pa.array(rid[parse])))
                    self.con.execute(f"insert into per_record select rid, {stored} from __part")
                    self.con.unregister("__part")
                start += batch.num_rows
                step.update(start)
        self.n = n
        self.con.execute(_REGISTRY_COLUMNS_SQL.format(max_phone_records=30, generation=GENERATION_YEARS))
        self.con.execute("drop table per_record")

    def decided(self, in_force: pd.DataFrame) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The steward's links and never-links between current records, as record positions."""
        if in_force.empty:
            return [], []
        table = pa.table(
            {
                "a": in_force["record_id_a"].astype(str).to_numpy(),
                "b": in_force["record_id_b"].astype(str).to_numpy(),
                "decision": in_force["decision"].astype(str).to_numpy(),
                "ord": np.arange(len(in_force)),
            }
        )
        self.con.register("__decided", table)
        rows = self.con.execute(
            "select fa.rid, fb.rid, d.decision from __decided as d join features as fa on fa.record_id = d.a "
            "join features as fb on fb.record_id = d.b order by d.ord"
        ).fetchall()
        self.con.unregister("__decided")
        links = [(int(a), int(b)) for a, b, k in rows if k == "link"]
        never = [(int(a), int(b)) for a, b, k in rows if k == "never_link"]
        return links, never

    def blocking(self, new: np.ndarray | None) -> dict[str, int]:
        """Table ``model_input`` (the model's columns with the blocking columns); pairs per blocking rule."""
        listed = ", ".join(f"c.{c}" for c in _MODEL_COLUMNS if c != "name_rare")
        self.con.execute(
            f"create table model_input as select {listed}, case when count(*) over (partition by c.name_set) "
            f"<= {RARE_NAME_RECORDS} then c.name_set end as name_rare from ({_BLOCKING_CODES_SQL}) as c"
        )
        if new is None:
            return self.pair_counts(None, "model_input")
        # An incremental run: the compared records (model_new), and the others that share a blocking key with
        # one of them (model_old; a join on the keys): no other record can be in a pair this run scores, and
        # every record of a group holding a compared record is in one of the two, so the counts are those of
        # all records.
        self.rids_of(new, "__new")
        self.con.execute("create table model_new as select * from model_input where rid in (select rid from __new)")
        self.con.unregister("__new")
        # One pass: each rule's key as a hash, looked up among the compared records' (a collision only adds a
        # record that no rule pairs).
        hashes = [f"hash({', '.join(_side(k, 'm') for k in rule.keys)})" for rule in BLOCKING_RULES]
        present = [" and ".join(f"{_side(k, 'm')} is not null" for k in rule.keys) for rule in BLOCKING_RULES]
        self.con.execute(
            "create temp table __keys as "
            + " union all ".join(
                f"select {i} as rule, {h} as h from model_new as m where {p}"
                for i, (h, p) in enumerate(zip(hashes, present, strict=True))
            )
        )
        near = " or ".join(f"{h} in (select h from __keys where rule = {i})" for i, h in enumerate(hashes))
        self.con.execute(
            f"create table model_old as select * from model_input as m where ({near}) "
            "and m.rid not in (select rid from model_new)"
        )
        self.con.execute("drop table __keys")
        return self.pair_counts(new, "(select * from model_new union all select * from model_old)")

    def pair_counts(self, new: np.ndarray | None, records: str) -> dict[str, int]:
        """Pairs each blocking rule brings together on its own in ``records`` (with a record of ``new``, when
        given): what :func:`transforms.empi.linkage.blocking_pair_counts` counts, counted by DuckDB group by
        group."""
        if new is not None:
            self.rids_of(new, "__new")
        fresh = "rid in (select rid from __new)" if new is not None else "true"
        counts = {}
        for rule in BLOCKING_RULES:
            keys = ", ".join(rule.keys)
            present = " and ".join(f"{k} is not null" for k in rule.keys)
            gone = f"{rule.missing} is null" if rule.missing else "false"
            groups = (
                f"select count(*) as size, count(*) filter (where {fresh}) as fresh, "
                f"count(*) filter (where {gone}) as gone, count(*) filter (where {gone} and {fresh}) as fresh_gone "
                f"from {records} where {present} group by {keys}"
            )
            if rule.missing is None:
                # Pairs with at least one compared record: all pairs of a group less those of two others.
                pairs = "size * (size - 1) // 2 - (size - fresh) * (size - fresh - 1) // 2"
            else:
                # One side missing: pairs of a missing record with any other, counted once when both are missing.
                pairs = "gone * (size - gone) + gone * (gone - 1) // 2"
                if new is not None:
                    old, old_gone = "(size - fresh)", "(gone - fresh_gone)"
                    pairs += f" - ({old_gone} * ({old} - {old_gone}) + {old_gone} * ({old_gone} - 1) // 2)"
            total = self.con.execute(f"select coalesce(sum({pairs}), 0) from ({groups})").fetchone()
            counts[rule.label] = int(total[0]) if total else 0
        if new is not None:
            self.con.unregister("__new")
        return counts

    def sample(self) -> pd.DataFrame:
        """The records training runs on: the rows :func:`train_model` would draw from the whole feature frame."""
        n, size = self.n, self.config.train_records
        # pandas' DataFrame.sample(n=size, random_state=seed) draws exactly these positions.
        rids = np.random.RandomState(self.config.seed).choice(n, size=size, replace=False) if n > size else np.arange(n)
        names = [*FEATURE_COLUMNS, *_BLOCKING]
        self.con.execute(
            "create or replace view __training as select f.*, "
            + ", ".join(f"m.{c}" for c in _BLOCKING)
            + " from features as f join model_input as m using (rid)"
        )
        sample = self.columns(names, "__training", rids)
        self.con.execute("drop view __training")
        return sample

    def score(self, model: dict[str, Any], new: np.ndarray | None) -> pd.DataFrame:
        """Scored pairs at or above the review band (all pairs, or those of ``new`` records) and ID-number pairs."""
        from splink import Linker

        linker = Linker(self.db_api.register("model_input"), _model_for(model, self.config), log_level=None)
        review = self.config.review
        if new is None:
            blocked = _blocked_pairs_duckdb(self.db_api, "model_input")
            linker.table_management.register_blocked_pairs_for_predict(blocked)
            outputs = [linker.inference.predict(threshold_match_probability=review, warning_mode="never")]
        else:
            for column in ("name_norm", "name_py"):  # term frequencies from all records, new and existing
                linker.table_management.compute_tf_table(column)
            outputs = []  # model_new and model_old: made by blocking()
            new_sdf = self.db_api.register("model_new")
            if (~new).any() and new.any():
                old_sdf = self.db_api.register("model_old")
                outputs.append(
                    linker.inference.predict_between(
                        old_sdf, new_sdf, threshold_match_probability=review, warning_mode="never"
                    )
                )
            if new.sum() > 1:
                outputs.append(
                    linker.inference.predict_within(new_sdf, threshold_match_probability=review, warning_mode="never")
                )
        parts = []
        for scored in outputs:
            parts.append(self.arrow(f"select rid_l, rid_r, match_probability from {scored.physical_name}").to_pandas())
            scored.drop_table_from_database_and_remove_from_cache()
        raw = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        return combined_pairs(raw, self.id_pairs(new))

    def id_pairs(self, new: np.ndarray | None) -> pd.DataFrame:
        """:func:`transforms.empi.linkage.deterministic_links` by DuckDB: each group of records sharing a trusted
        ID number as a star on its first record (with ``new``: the stars' pairs that reach a new record)."""
        if new is not None:
            self.rids_of(new, "__new")
        fresh = "rid in (select rid from __new)" if new is not None else "true"
        found = self.con.execute(
            f"with f as (select rid, id18, {fresh} as fresh from features where id18 is not null), "
            "g as (select id18, min(rid) as head, arg_min(fresh, rid) as head_fresh, bool_or(fresh) as touched "
            "from f group by id18) "
            "select g.head as rid_l, f.rid as rid_r from f join g using (id18) "
            "where g.touched and f.rid <> g.head and (f.fresh or g.head_fresh) order by f.rid"
        ).fetchnumpy()
        if new is not None:
            self.con.unregister("__new")
        return pd.DataFrame(
            {
                "rid_l": np.asarray(found["rid_l"], dtype=np.int64),
                "rid_r": np.asarray(found["rid_r"], dtype=np.int64),
                "match_probability": 1.0,
                "rule": "id_number",
            }
        )

    def next_number(self, previous: RegistryFiles | None, has_events: bool) -> int:
        """One more than the largest empi_id the previous master or its events ever named."""
        if previous is None:
            return 1
        parts = ["select empi_id as id from read_parquet(?)"]
        arguments = [str(previous.master)]
        if has_events:
            parts.append("select empi_id from read_parquet(?)")
            parts.append("select unnest(other_empi_ids) from read_parquet(?)")
            arguments += [str(previous.events)] * 2
        ids = f"select id from ({' union all '.join(parts)}) where id is not null"
        bad = self.con.execute(f"{ids} and not regexp_full_match(id, 'E[0-9]+') limit 1", arguments).fetchone()
        if bad:
            try:
                parse_empi_id(str(bad[0]))
            except ValueError as err:
                raise DataError(f"previous run: {err}") from None
        top = self.con.execute(f"select max(cast(substr(id, 2) as bigint)) from ({ids})", arguments).fetchone()
        return 1 if top is None or top[0] is None else int(top[0]) + 1

    def golden_columns(self, record_ids: np.ndarray, rids: np.ndarray | None = None) -> pd.DataFrame:
        """The feature columns :func:`build_golden` reads, of every record or of ``rids`` (whose ids are
        ``record_ids``)."""
        frame = self.columns(["name_norm", "surname", "sex", "birth_date", "id18", "phone"], rids=rids)
        frame.insert(0, "record_id", record_ids)
        return frame

    def golden_incremental(
        self,
        files: RegistryFiles,
        previous: RegistryFiles,
        master: pd.DataFrame,
        empi: np.ndarray,
        prev_ids: np.ndarray,
        same: np.ndarray,
        part: np.ndarray,
    ) -> None:
        """Golden records rebuilt for persons whose records moved, arrived or changed; the others copied.

        ``master``, ``empi``, ``prev_ids`` and ``same`` (input unchanged) are those of the records of ``part``,
        which holds every record of every person that may have changed.
        """
        moved = (empi != prev_ids) | ~same
        touched = pd.unique(np.concatenate([empi[moved], prev_ids[moved & pd.notna(prev_ids)]]))
        rebuild = np.flatnonzero(pd.Series(empi).isin(touched).to_numpy())
        record_ids = master["record_id"].to_numpy(dtype=object)
        fresh = build_golden(
            self.golden_columns(record_ids[rebuild], part[rebuild]), master.iloc[rebuild].reset_index(drop=True)
        )
        golden = catalog.schemas.PATIENT_GOLDEN
        # No person touched (a re-run over unchanged records): an empty frame's columns may have any dtype.
        fresh_rows = (
            golden.empty_table() if fresh.empty else pa.Table.from_pandas(fresh, schema=golden, preserve_index=False)
        )
        self.con.register("__fresh", fresh_rows)
        self.con.register("__touched", pa.table({"id": pa.array(list(touched), type=pa.string())}))
        listed = ", ".join(catalog.schemas.PATIENT_GOLDEN.names)
        target = files.golden.with_suffix(".parquet.tmp")  # the previous file may be the one replaced
        self.con.execute(
            f"copy (select * from (select {listed} from read_parquet(?) where empi_id not in (select id from "
            f"__touched) and empi_id in (select empi_id from read_parquet(?)) union all select {listed} from "
            f"__fresh) order by empi_id) to {_literal(target)} (format parquet)",
            [str(previous.golden), str(files.master)],
        )
        for name in ("__fresh", "__touched"):
            self.con.unregister(name)
        target.replace(files.golden)

    def review_queue(
        self,
        candidates: pd.DataFrame,
        empi: np.ndarray,
        in_force: pd.DataFrame,
        record_ids: np.ndarray,
        part: np.ndarray | None,
        previous: RegistryFiles | None,
        files: RegistryFiles,
    ) -> pd.DataFrame:
        """The steward queue, from the columns of the records in candidate pairs only.

        ``candidates``, ``empi`` and ``record_ids`` are those of the records of ``part`` (or of all), which
        holds every record of the candidates' persons.
        """
        at = np.unique(np.concatenate([candidates["rid_l"].to_numpy(), candidates["rid_r"].to_numpy()]))
        sub = self.columns(["name_norm", "birth_date", "id18", "given_py", "birth_year"], rids=_Part(part).rid(at))
        sub.insert(0, "record_id", record_ids[at])
        local = candidates.assign(
            rid_l=np.searchsorted(at, candidates["rid_l"].to_numpy()),
            rid_r=np.searchsorted(at, candidates["rid_r"].to_numpy()),
        )
        # The queue counts each person's records over all ids: the candidates' own first, then every other one.
        others = np.ones(len(empi), dtype=bool)
        others[at] = False
        ids = np.concatenate([empi[at], empi[others]]).tolist()
        review = review_queue(local, sub, ids, in_force)
        if previous is None:
            return review
        before = pq.read_table(previous.review).to_pandas()
        if not len(before):
            return review
        empi_of = dict(zip(record_ids.tolist(), empi.tolist(), strict=True))
        persons = None
        if part is not None:
            # The previous queue's records now (from the master just written), and the sizes of the persons
            # the queue names: every other record's person is as the previous run left it.
            asked = pd.unique(pd.concat([before["record_id_a"], before["record_id_b"]]).astype(str))
            self.con.register("__asked", pa.table({"record_id": pa.array(asked, type=pa.string())}))
            now = self.arrow(
                "select m.record_id, m.empi_id from read_parquet(?) as m join __asked using (record_id)",
                [str(files.master)],
            ).to_pandas()
            self.con.unregister("__asked")
            empi_of.update(zip(now["record_id"].tolist(), now["empi_id"].tolist(), strict=True))
            named = pd.unique(pd.Series(list(empi_of.values()), dtype=object))
            self.con.register("__named", pa.table({"empi_id": pa.array(named, type=pa.string())}))
            sizes = self.arrow(
                "select empi_id, count(*) as size from read_parquet(?) join __named using (empi_id) group by empi_id",
                [str(files.master)],
            ).to_pandas()
            self.con.unregister("__named")
            persons = pd.Series(np.repeat(sizes["empi_id"].to_numpy(dtype=object), sizes["size"].to_numpy()))
        return carry_forward(before, review, empi_of, in_force, persons=persons)


class _Part:
    """The records a step works on (``rids``, sorted; ``None``: all) and positions among them."""

    def __init__(self, rids: np.ndarray | None) -> None:
        self.rids = rids

    def rid(self, at: np.ndarray) -> np.ndarray:
        """The record numbers of positions ``at``."""
        return at if self.rids is None else self.rids[at]

    def at(self, rids: np.ndarray) -> np.ndarray:
        """The positions of record numbers ``rids`` (all in the part)."""
        return rids if self.rids is None else np.searchsorted(self.rids, rids)

    def pairs(self, pairs: pd.DataFrame) -> pd.DataFrame:
        """Pairs with positions in place of record numbers."""
        if self.rids is None:
            return pairs
        return pairs.assign(
            rid_l=self.at(pairs["rid_l"].to_numpy(dtype=np.int64)),
            rid_r=self.at(pairs["rid_r"].to_numpy(dtype=np.int64)),
        )

    def links(self, links: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Record pairs with positions in place of record numbers."""
        if self.rids is None or not links:
            return links
        at = self.at(np.asarray(links, dtype=np.int64).reshape(-1))
        return list(zip(at[0::2].tolist(), at[1::2].tolist(), strict=True))


def _affected(
    prev_num: np.ndarray,
    relink: np.ndarray,
    changed: np.ndarray,
    pairs: pd.DataFrame,
    decided: list[tuple[int, int]],
) -> np.ndarray:
    """The records an incremental run may move or must rebuild: those compared anew, those in a scored pair
    or a steward's decision, those whose input changed, and every record of their previous persons.

    Every other record stays in its previous person, alone with that person's records (no pair and no decision
    reaches them), keeps its id and its master row: clustering only these records gives what clustering all
    would, and the untouched rest is copied.
    """
    seeds = relink | changed
    seeds[pairs["rid_l"].to_numpy(dtype=np.int64)] = True
    seeds[pairs["rid_r"].to_numpy(dtype=np.int64)] = True
    if decided:
        seeds[np.asarray(decided, dtype=np.int64).reshape(-1)] = True
    persons = np.unique(prev_num[seeds])
    return np.flatnonzero(seeds | np.isin(prev_num, persons[persons >= 0]))


AFTER_SCORING_BYTES = 1 << 30
"""DuckDB's memory limit once the pairs are scored (or the configured one, if lower): the later queries are
small, and its cache of the records would otherwise sit beside the clustering's arrays."""
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KIB": 2**10, "MIB": 2**20,
          "GIB": 2**30, "TIB": 2**40}  # fmt: skip


def _consecutive(groups: list[int]) -> list[list[int]]:
    """Runs of consecutive numbers (``[1, 2, 5]`` → ``[[1, 2], [5]]``)."""
    runs: list[list[int]] = []
    for g in groups:
        if runs and runs[-1][-1] == g - 1:
            runs[-1].append(g)
        else:
            runs.append([g])
    return runs


def _after_scoring(limit: str | None) -> str:
    """The memory limit for the steps after scoring, in DuckDB's syntax."""
    import re

    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", limit or "")
    configured = float(match[1]) * _UNITS.get(match[2].upper(), 1) if match else float("inf")
    return f"{int(min(configured, AFTER_SCORING_BYTES)) // 2**20}MiB"


def _literal(path: Path) -> str:
    """A path as an SQL string literal (``COPY ... TO`` takes no parameters)."""
    return "'" + str(path).replace("'", "''") + "'"


def _write(frame: pd.DataFrame, schema: pa.Schema, path: Path, rows: int = 1_000_000) -> None:
    """Write a frame's columns of ``schema`` to Parquet, a million rows at a time (no Arrow copy of it all)."""
    columns = [c for c in schema.names if c in frame.columns]
    target = pa.schema([schema.field(c) for c in columns])
    with pq.ParquetWriter(path, target) as writer:
        for start in range(0, max(len(frame), 1), rows):
            part = frame.iloc[start : start + rows][columns]
            if part.empty:  # no rows: its columns' dtypes may be anything (an empty list column reads float64)
                writer.write_table(target.empty_table())
                continue
            writer.write_table(pa.Table.from_pandas(part, schema=target, preserve_index=False))


_REGISTRY_COLUMNS_SQL = """
create table features as
with usable as (
    select phone_norm from per_record where phone_norm is not null and phone_norm <> ''
    group by phone_norm having count(*) <= {max_phone_records}
), phoned as (
    select p.*, u.phone_norm as phone from per_record as p left join usable as u on u.phone_norm = p.phone_norm
), households as (
    select phone from phoned where phone is not null
    group by phone having coalesce(max(birth_year) - min(birth_year), 0) >= {generation}
    union
    select phone from phoned where phone is not null and birth_date is not null and given_py is not null
    group by phone, birth_date having count(distinct given_py) > 1
)
select p.*, cast(case when h.phone is null then 0 else 1 end as bigint) as phone_household
from phoned as p left join households as h on h.phone = p.phone
"""
"""The columns that depend on every record, as :func:`transforms.empi.features._registry_columns` computes them:
a phone on more than ``max_phone_records`` records is a placeholder (dropped); a phone is a household's when
its records were born a generation apart, or on one day under different given names (twins)."""

_BLOCKING_CODES_SQL = """
select f.*,
    case when f.surname_py is not null then cast(hash(
        least(replace(f.surname_py, 'v', 'u'), replace(coalesce(f.given_py, ''), 'v', 'u')),
        greatest(replace(f.surname_py, 'v', 'u'), replace(coalesce(f.given_py, ''), 'v', 'u'))) >> 1 as bigint)
    end as name_set,
    least(f.birth_month, f.birth_day) * 100 + greatest(f.birth_month, f.birth_day) as birth_md,
    case when contains(f.address, '幢') then cast(hash(f.address) >> 1 as bigint) end as address_block
from features as f
"""
"""The codes of :func:`transforms.empi.linkage.blocking_columns`, by DuckDB and from the values alone: a code
is a 63-bit hash of what it stands for (the unordered pair of the name's folded pinyin parts; a building's
address), so codes are equal exactly when the values are, in this run and the next (the chance of any
collision among ten million distinct values is about 5 in a million). ``least``/``greatest`` skip a missing
month or day as ``numpy.fmin``/``fmax`` do."""
