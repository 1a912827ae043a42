"""Candidate links between patient records: deterministic on ID numbers, Fellegi–Sunter (Splink) for the rest.

Two kinds of evidence come out of :func:`score_links`, as one frame of pairs (``rid_l < rid_r`` are row
positions in the feature frame):

- ``id_number``: both records carry the same trusted 18-digit ID number (see :mod:`transforms.empi.features`)
  and no guard objects; match probability 1.
- ``splink``: a Splink 5 Fellegi–Sunter model scores the pairs the blocking rules bring together. Its m
  probabilities are trained by expectation maximisation, its u probabilities by random sampling; name
  agreement is weighted by the name's frequency (many people are called 张伟). Comparisons use standard SQL
  functions only (equality, ``levenshtein``, ``substr``), so the same model runs on DuckDB and on Spark
  without Splink's JVM UDFs (Sail, Spark Connect).

Which pairs become links is decided later, in :mod:`transforms.empi.clusters`: pairs at or above
``LinkageConfig.auto_link`` link unless a guard vetoes; pairs between ``review`` and ``auto_link`` go to the
steward review queue.

Incremental runs score only pairs that involve a new record: new against existing
(``linker.inference.predict_between``) and new against new (``predict_within``).

Engines: DuckDB in process (``splink.DuckDBAPI``, the default) or Spark (``splink.SparkAPI`` without its
JVM UDF jar and writing plain Spark SQL, so it runs on Sail and over Spark Connect). Scoring, the part that
grows with the registry, runs on the configured engine; training always runs on DuckDB in this process, on
a sample of at most ``LinkageConfig.train_records`` records (see :func:`train_model`), so both engines score
with the same model. A model trained on one engine scores on the other: :func:`score_links` re-expresses it
in the engine's SQL dialect.
"""

from __future__ import annotations

import itertools
import logging
import os
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = [
    "BLOCKING_RULES",
    "BlockingRule",
    "LinkageConfig",
    "blocking_columns",
    "blocking_pair_counts",
    "blocking_rules",
    "deterministic_links",
    "make_db_api",
    "pair_completeness",
    "score_links",
    "splink_settings",
    "train_model",
]

log = logging.getLogger(__name__)

Engine = Literal["duckdb", "spark"]
_DATABASES = itertools.count()
RECORDS_PER_PARTITION = 250_000
"""Records per shuffle partition of the Spark scoring when ``LinkageConfig.spark_partitions`` is not set."""
ID_PAIR_SHARE = 0.45
"""The share of true pairs whose two records carry the same trusted ID number (the model's prior)."""
MIN_EM_PAIRS = 20
"""An EM session needs at least this many blocked pairs; with fewer it is skipped (logged) and the m
probabilities stay at what earlier sessions learned or at Splink's defaults."""
GENERATION_APART_M = 5e-4
"""The share of one person's record pairs whose birth years are a generation apart (a century digit typed wrong):
fixed, see :func:`_birth_comparison`."""
PAIR_COLUMNS = ("rid_l", "rid_r", "match_probability", "rule")
_MODEL_COLUMNS = (
    "rid", "name_norm", "surname_py", "given_py", "name_py", "sex", "birth_date", "birth_year", "birth_month",
    "birth_day", "id18", "id_text", "phone", "phone_household", "address", "name_set", "name_rare",
    "birth_md", "address_block",
)  # fmt: skip


@dataclass(frozen=True)
class LinkageConfig:
    """Thresholds and engine of a linkage run.

    Attributes
    ----------
    auto_link
        Match probability at or above which a scored pair links (unless a guard vetoes it).
    review
        Match probability at or above which a pair below ``auto_link`` goes to the review queue.
    engine
        ``"duckdb"`` (embedded, the default) or ``"spark"`` (Splink's Spark backend; pass ``spark``).
    spark
        A ``pyspark.sql.SparkSession`` when ``engine == "spark"`` (Spark Connect and Sail work).
    u_max_pairs
        Pairs sampled to estimate u probabilities. Ten million, not Splink's customary half million: two records
        share an exact birth date about 3.6 times in 100,000 pairs, so half a million pairs see that about 18 times
        and the estimate moved by half either way from one training sample to the next (1M hard: 4.5e-5, 3M hard:
        2.5e-5, counted from the whole registry: 3.6e-5). At 3M the lower draw made a shared name and birth date
        weigh a bit more than it should, and strangers of a common name born the same day linked (precision
        0.9940). Ten million pairs keep the estimates within about 10% of the counted ones, for about a minute
        more of training.
    em_max_pairs
        Cap on the blocked pairs each EM session trains on.
    train_records
        Train on a random sample of at most this many records (the model's parameters are proportions,
        which a random sample of records estimates without bias; term frequencies come from all records).
    seed
        Seed of the u sampling, for reproducible models.
    memory_limit, temp_directory
        DuckDB's ``memory_limit`` (``"4GB"``; ``None``: DuckDB's default) and the directory it spills to past it
        (``None``: DuckDB's default, a ``.tmp`` folder in the working directory).
    spark_partitions
        Shuffle partitions of the Spark scoring (``None``: one per :data:`RECORDS_PER_PARTITION` records, at
        least two). Spark's and Sail's default of 200 splits a million-record registry into slivers whose
        per-task overhead outweighs their work: on embedded Sail, scoring 50k records took 2.7 s on 200 and 1.7 s
        on 4. The session's own number is put back after the run (it is shared with the process's other work).
    spark_scratch
        A folder (path or URI) the Spark engine and all its executors reach, where the Spark scoring writes its
        input and Splink's intermediate tables as Parquet (in a folder of its own, deleted after the run).
        ``None``: they stay Spark plans, which Sail recomputes wherever they are read (``persist`` is a no-op
        on Sail) and whose input a cluster ships inside every task: scoring 50k records on a Sail local cluster
        took 13.4 s without a scratch folder and 3.7 s with one.
    """

    auto_link: float = 0.8
    review: float = 0.4
    engine: Engine = "duckdb"
    spark: Any = None
    u_max_pairs: float = 1e7
    em_max_pairs: float = 5e5
    train_records: int = 300_000
    seed: int = 42
    memory_limit: str | None = None
    temp_directory: str | None = None
    spark_partitions: int | None = None
    spark_scratch: str | None = None

    def __post_init__(self) -> None:
        if not 0 < self.review <= self.auto_link <= 1:
            raise ValueError(f"need 0 < review <= auto_link <= 1, got {self.review} and {self.auto_link}")
        if self.engine not in ("duckdb", "spark"):
            raise ValueError(f"engine must be 'duckdb' or 'spark', got {self.engine!r}")
        if self.engine == "spark" and self.spark is None:
            raise ValueError("engine 'spark' needs a SparkSession in LinkageConfig.spark")


def make_db_api(config: LinkageConfig, records: int = 0) -> Any:
    """The Splink database API for the configured engine.

    Parameters
    ----------
    config
        The run's configuration.
    records
        Records the run scores: Spark's shuffle partitions follow it (see ``LinkageConfig.spark_partitions``).

    Returns
    -------
    splink.DuckDBAPI or splink.SparkAPI
        DuckDB in process; or Spark without Splink's JVM UDF jar (``register_udfs_automatically=False``),
        so it also runs on Sail and over Spark Connect.
    """
    if config.engine == "spark":
        partitions = config.spark_partitions or max(2, -(-records // RECORDS_PER_PARTITION))
        return _plain_spark_api(config.spark, partitions, config.spark_scratch)
    import duckdb
    from splink import DuckDBAPI

    # Pairs come back in no particular order anyway (score_links sorts them); keeping the order would pin
    # whole result blocks in memory that a limited run must be free to spill.
    settings: dict[str, str | bool | int | float | list[str]] = {"preserve_insertion_order": False}
    if config.memory_limit:
        settings["memory_limit"] = config.memory_limit
    if config.temp_directory:
        Path(config.temp_directory).mkdir(parents=True, exist_ok=True)
        settings["temp_directory"] = config.temp_directory
    database = ":memory:"
    if config.temp_directory:
        # Splink's intermediate tables in a database file, which DuckDB can evict from memory; an in-memory
        # database keeps them resident whatever the limit.
        database = str(Path(config.temp_directory) / f"splink-{os.getpid()}-{next(_DATABASES)}.duckdb")
    api = DuckDBAPI(connection=duckdb.connect(database, config=settings))
    api.radlake_database = database  # type: ignore[attr-defined]  # for _release to delete
    return api


def _release(db_api: Any) -> None:
    """Close a DuckDB API's connection and delete its database file: a run leaves nothing in the spill folder."""
    database = getattr(db_api, "radlake_database", ":memory:")
    if _on_spark(db_api):
        db_api.release()
        return
    db_api.duckdb_con.close()
    if database != ":memory:":
        for leftover in (Path(database), Path(database + ".wal")):
            leftover.unlink(missing_ok=True)


def _on_spark(db_api: Any) -> bool:
    # By name: importing Splink's SparkAPI imports pyspark, which a DuckDB run does without.
    return type(db_api).__name__.endswith("SparkAPI")


def _plain_spark_api(spark: Any, partitions: int, scratch: str | None) -> Any:
    """Splink's Spark backend, writing plain Spark SQL and registering no JVM UDFs, on ``partitions`` shuffle
    partitions (the session's own number is put back by :func:`_release`), materialising its tables as Parquet
    in a new folder under ``scratch`` (deleted by :func:`_release`) when one is given.

    Splink transpiles its SQL through its own sqlglot dialect, a subclass of sqlglot's Spark generator. With
    sqlglot's compiled build installed (``sqlglotc``, which dagster-dbt pulls in) Python cannot subclass
    that generator, so this backend transpiles to sqlglot's own Spark dialect instead: the SQL is the same
    apart from how double literals are spelt.
    """
    import sqlglot
    from splink import SparkAPI

    class PlainSparkAPI(SparkAPI):  # type: ignore[misc, valid-type]
        radlake_session_partitions: str | None = None
        radlake_scratch: str | None = None

        def _setup_for_execute_sql(self, sql: str, physical_name: str) -> str:
            return str(sqlglot.transpile(sql, read="spark", write="spark", pretty=True)[0])

        def _break_lineage_and_repartition(self, spark_df: Any, templated_name: str, physical_name: str) -> Any:
            table = super()._break_lineage_and_repartition(spark_df, templated_name, physical_name)
            if self.break_lineage_method == "parquet" and not table.columns:
                # Sail writes no file for an empty result, and reading the folder back finds no columns.
                table = self.spark.createDataFrame([], spark_df.schema)
            return table

        def _get_checkpoint_dir_path(self, spark_df: Any) -> str:
            # Splink asks the JVM for its checkpoint folder, which Spark Connect has not: ours instead.
            return str(self.radlake_scratch)

        def register_input(self, table: pa.Table, ddl: str) -> Any:
            if self.radlake_scratch is None:
                return self.register(self.spark.createDataFrame(table.to_pandas(), schema=ddl))
            # Read back from Parquet: a frame sent from the client is a local relation, which every task of every
            # query reading it carries along. A local folder is written here (quicker than sending the frame);
            # a URI (the lake's object store, whose credentials the engine holds) by the engine.
            path = f"{self.radlake_scratch}/input-{next(_DATABASES)}.parquet"
            if "://" in path:
                self.spark.createDataFrame(table.to_pandas(), schema=ddl).write.mode("overwrite").parquet(path)
            else:
                import pyarrow.parquet as pq

                Path(path).parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(table, path)
            return self.register(self.spark.read.schema(ddl).parquet(path))

        def release(self) -> None:
            self.spark.conf.set(_SHUFFLE_PARTITIONS, self.radlake_session_partitions)
            if self.radlake_scratch is not None:
                _delete_folder(self.radlake_scratch)

    session_partitions = spark.conf.get(_SHUFFLE_PARTITIONS)
    spark.conf.set(_SHUFFLE_PARTITIONS, str(partitions))
    # Parquet in our scratch folder breaks the lineage of Splink's tables. Without one: persist (the default,
    # parquet checkpoints, asks the JVM for its folder), a no-op on Sail, so each table is recomputed where read.
    api = PlainSparkAPI(
        spark_session=spark,
        break_lineage_method="persist" if scratch is None else "parquet",
        register_udfs_automatically=False,
        num_partitions_on_repartition=partitions,
    )
    api.radlake_session_partitions = session_partitions
    api.radlake_scratch = None if scratch is None else f"{scratch.rstrip('/')}/splink-{uuid.uuid4().hex}"
    return api


def _delete_folder(uri: str) -> None:
    """Delete a scratch folder, a local path or a URI (``s3://``): a run leaves nothing behind."""
    import pyarrow.fs

    try:
        filesystem, path = pyarrow.fs.FileSystem.from_uri(uri if "://" in uri else str(Path(uri).resolve()))
        if filesystem.get_file_info(path).type != pyarrow.fs.FileType.NotFound:
            filesystem.delete_dir(path)
    except OSError as exc:  # an object store this process holds no credentials for: the run's result stands
        log.warning(f"the EMPI's Spark scratch folder {uri} was not deleted ({type(exc).__name__}); delete it")


_SHUFFLE_PARTITIONS = "spark.sql.shuffle.partitions"
_BYTE_TEXT_COLUMNS = ("given_py", "id_text", "address")
"""Columns the model compares by ``levenshtein``: DuckDB counts edits in UTF-8 bytes (中山路 and 凤起路 are
six apart), Spark in characters (two). The model's levels were set on DuckDB, so Spark receives these columns
with one character per byte (UTF-8 read as Latin-1): equal texts stay equal, prefixes stay prefixes, and the
edit distance is DuckDB's."""


def _name_comparison() -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return cl.CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.NullLevel("name_py"),
            cll.ExactMatchLevel("name_norm", term_frequency_adjustments=True).configure(
                label_for_charts="same characters"
            ),
            cll.ExactMatchLevel("name_py", term_frequency_adjustments=True).configure(
                label_for_charts="same pinyin (homophone, traditional or pinyin spelling)"
            ),
            cll.ExactMatchLevel("name_set").configure(
                label_for_charts="same pinyin, given name written first (Xiaoming Zhang)"
            ),
            cll.CustomLevel(
                "surname_py_l = surname_py_r and given_py_l is not null and given_py_r is not null and "
                "(substr(given_py_l, 1, length(given_py_r)) = given_py_r "
                "or substr(given_py_r, 1, length(given_py_l)) = given_py_l)",
                label_for_charts="same surname, one given name starts the other (a character missing)",
                base_dialect_str="duckdb",
            ),
            cll.And(cll.ExactMatchLevel("surname_py"), cll.LevenshteinLevel("given_py", 1)).configure(
                label_for_charts="same surname, given name one letter apart"
            ),
            cll.ExactMatchLevel("surname_py").configure(label_for_charts="same surname only"),
            cll.ExactMatchLevel("given_py").configure(label_for_charts="same given name only"),
            cll.ElseLevel(),
        ],
        comparison_description="name by characters and by toneless pinyin",
    )


def _birth_comparison() -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    from transforms.empi.birth_dates import GENERATION_YEARS, birth_dates_consistent_sql, birth_dates_near_sql

    return cl.CustomComparison(
        output_column_name="birth_date",
        comparison_levels=[
            cll.NullLevel("birth_date"),
            cll.ExactMatchLevel("birth_date"),
            # Apart from the level below: strangers share a year and a month far more often than a swapped date,
            # so one level for all slips weighed a swapped date as little as a mistyped day.
            cll.CustomLevel(birth_dates_near_sql(), label_for_charts="day and month swapped, or a day apart"),
            cll.CustomLevel(birth_dates_consistent_sql(), label_for_charts="one of year/month/day differs"),
            # Parent and child share phone, address and often surname: a generation apart is strong evidence.
            cll.CustomLevel(
                f"abs(birth_year_l - birth_year_r) < {GENERATION_YEARS}",
                label_for_charts="less than a generation apart",
            ),
            # Fixed, not learnt: EM sessions blocked on a shared phone see parent–child pairs, which made this level
            # look ten times likelier among matches than it is (a typo moves a year by 1 or 10, never 15 or more).
            cll.ElseLevel().configure(
                label_for_charts="a generation apart or more", m_probability=GENERATION_APART_M, fix_m_probability=True
            ),
        ],
        comparison_description="birth date",
    )


def _id_comparison() -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return cl.CustomComparison(
        output_column_name="id_number",
        comparison_levels=[
            cll.NullLevel("id_text"),
            cll.ExactMatchLevel("id18").configure(label_for_charts="same valid ID number"),
            # Each person has one number: two trusted numbers that differ are twins, siblings, parent and child.
            cll.CustomLevel("id18_l is not null and id18_r is not null").configure(
                label_for_charts="two different trusted ID numbers"
            ),
            cll.CustomLevel(
                "(id18_l is null or id18_r is null) and levenshtein(id_text_l, id_text_r) <= 2",
                base_dialect_str="duckdb",
            ).configure(label_for_charts="an invalid ID within two edits of the other (a typo)"),
            cll.ElseLevel(),
        ],
        comparison_description="resident ID number",
    )


def _phone_comparison() -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return cl.CustomComparison(
        output_column_name="phone",
        comparison_levels=[
            cll.NullLevel("phone"),
            cll.CustomLevel("phone_l = phone_r and phone_household_l = 0").configure(
                label_for_charts="same phone, used by one person"
            ),
            cll.ExactMatchLevel("phone").configure(label_for_charts="same phone, a household's"),
            cll.ElseLevel(),
        ],
        comparison_description="phone (a household's phone says less: twins, parent and child share it)",
    )


_STARTS = "substr(address_{a}, 1, length(address_{b})) = address_{b}"
"""Address ``{a}`` starts with address ``{b}`` (SQL over Splink's pair columns)."""


def _address_comparison() -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return cl.CustomComparison(
        output_column_name="address",
        comparison_levels=[
            cll.NullLevel("address"),
            cll.ExactMatchLevel("address"),
            cll.LevenshteinLevel("address", 3),
            # A clerk in a hurry types the address up to the house number, the street or the district: the
            # shorter address starts the longer. Without these levels such a pair counted as two addresses. Cut
            # after the house number (a digit kept) it still names a few houses; a street or a district alone is
            # shared by thousands, a level of its own.
            cll.CustomLevel(
                f"({_STARTS.format(a='l', b='r')} and regexp_matches(address_r, '[0-9]')) "
                f"or ({_STARTS.format(a='r', b='l')} and regexp_matches(address_l, '[0-9]'))",
                base_dialect_str="duckdb",
            ).configure(label_for_charts="one address the other cut short after the house number"),
            cll.CustomLevel(
                f"{_STARTS.format(a='l', b='r')} or {_STARTS.format(a='r', b='l')}", base_dialect_str="duckdb"
            ).configure(label_for_charts="one address the other cut to its street or district"),
            cll.ElseLevel(),
        ],
        comparison_description="address (normalised, from the district on)",
    )


def _simple(column: str) -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return cl.CustomComparison(
        output_column_name=column,
        comparison_levels=[cll.NullLevel(column), cll.ExactMatchLevel(column), cll.ElseLevel()],
    )


@dataclass(frozen=True)
class BlockingRule:
    """One blocking rule: a pair is proposed when it holds every expression in ``keys`` equal.

    Attributes
    ----------
    keys
        SQL expressions over the model's input columns (a column name, or ``substr(column, start, length)``).
    missing
        A column that must be missing on one side: the rule then proposes a record whose ``missing`` is unknown
        with every record equal on ``keys`` (a record without a birth date against all of its name).
    """

    keys: tuple[str, ...]
    missing: str | None = None

    @property
    def label(self) -> str:
        """The rule as text (``"name_set & birth_year"``; ``"... & one birth_year missing"``)."""
        return " & ".join(self.keys) + (f" & one {self.missing} missing" if self.missing else "")

    def splink_rules(self) -> list[Any]:
        """The rule for Splink: one ``block_on``, or two one-sided rules (the missing value left or right).

        Returns
        -------
        list
        """
        from splink import block_on
        from splink.blocking_rule_library import CustomRule

        if self.missing is None:
            return [block_on(*self.keys)]
        return [CustomRule(condition) for condition in self.conditions()]

    def conditions(self) -> list[str]:
        """The rule as SQL join conditions over ``l`` and ``r`` (two for a one-sided ``missing`` rule).

        Returns
        -------
        list of str
        """
        equal = " and ".join(f"{_side(k, 'l')} = {_side(k, 'r')}" for k in self.keys)
        if self.missing is None:
            return [equal]
        return [f"{equal} and {side}.{self.missing} is null" for side in ("l", "r")]


def _blocked_pairs_duckdb(db_api: Any, records: str) -> Any:
    """The pairs :data:`BLOCKING_RULES` propose, computed rule by rule on DuckDB, for Splink to score.

    Splink blocks all rules in one query over a common table of every model column, which DuckDB holds in
    memory whatever its limit (a 200,000-record registry could not be scored under 300 MB). Here each rule
    is its own join over a narrow table of the keys, and the pairs are made distinct by a grouping: all
    operators DuckDB spills to its temporary directory. The pairs are the ones Splink's blocking finds.
    """
    con = db_api.duckdb_con
    columns = dict.fromkeys(
        c for rule in BLOCKING_RULES for k in (*rule.keys, *([rule.missing] if rule.missing else []))
        for c in [k[len("substr(") :].split(",")[0].strip() if k.startswith("substr(") else k]
    )  # fmt: skip
    con.execute(f"create or replace table __radlake_keys as select rid, {', '.join(columns)} from {records}")
    con.execute("create or replace table __radlake_pairs (rule integer, join_key_l bigint, join_key_r bigint)")
    conditions = [c for rule in BLOCKING_RULES for c in rule.conditions()]
    for i, condition in enumerate(conditions):
        con.execute(
            f"insert into __radlake_pairs select {i}, l.rid, r.rid from __radlake_keys as l "
            f"join __radlake_keys as r on {condition} where l.rid < r.rid"
        )
    con.execute(
        "create or replace table __radlake_blocked as select cast(min(rule) as varchar) as match_key, join_key_l, "
        "join_key_r from __radlake_pairs group by join_key_l, join_key_r"
    )
    con.execute("drop table __radlake_pairs; drop table __radlake_keys")
    return db_api.register("__radlake_blocked")


def _blocked_pairs_spark(db_api: Any, records: str) -> Any:
    """The pairs :data:`BLOCKING_RULES` propose, as :func:`_blocked_pairs_duckdb` finds them, in one Spark query.

    Splink's own blocking joins rule after rule, each excluding the pairs earlier rules found by evaluating
    their conditions again on every candidate pair; a union of the plain joins made distinct by a grouping
    does less work (embedded Sail, 289,553 records: scoring took 9.3 s with Splink's blocking, 6.3 s with this).
    """
    conditions = [c for rule in BLOCKING_RULES for c in rule.conditions()]
    joins = " union all ".join(
        f"select {i} as rule, l.rid as join_key_l, r.rid as join_key_r from {records} as l "
        f"join {records} as r on {condition} where l.rid < r.rid"
        for i, condition in enumerate(conditions)
    )
    pairs = db_api.spark.sql(
        f"select cast(min(rule) as string) as match_key, join_key_l, join_key_r from ({joins}) "
        "group by join_key_l, join_key_r"
    )
    if db_api.radlake_scratch is not None:
        path = f"{db_api.radlake_scratch}/blocked-{next(_DATABASES)}"
        pairs.write.mode("overwrite").parquet(path)
        pairs = db_api.spark.read.schema("match_key string, join_key_l bigint, join_key_r bigint").parquet(path)
    return db_api.register(pairs)


def _side(expression: str, side: str) -> str:
    if expression.startswith("substr("):
        column, rest = expression[len("substr(") :].split(",", 1)
        return f"substr({side}.{column.strip()},{rest}"
    return f"{side}.{expression}"


BLOCKING_RULES: tuple[BlockingRule, ...] = (
    # The name (in any order of its syllables) and two of the three parts of the birth date: one typo in the
    # date, a day off, a year mistyped. A common name born the same year is a crowd (thousands of pairs of
    # strangers), which the month or day splits.
    BlockingRule(("name_set", "birth_year", "birth_month")),
    BlockingRule(("name_set", "birth_month", "birth_day")),
    BlockingRule(("name_set", "birth_year", "birth_day")),
    # Day and month swapped: the unordered pair of them.
    BlockingRule(("name_set", "birth_year", "birth_md")),
    # No birth date on one side: the name alone, but only for those records (about 2%) and only for names
    # on at most RARE_NAME_RECORDS records, so that the rule grows linearly with the registry. A pair that
    # agrees on a commoner name and nothing else could not be linked anyway.
    BlockingRule(("name_rare",), missing="birth_year"),
    BlockingRule(("phone",)),
    BlockingRule(("birth_date", "surname_py")),
    BlockingRule(("birth_date", "given_py")),
    BlockingRule(("id18",)),
    BlockingRule(("address_block", "surname_py")),
    # ID numbers with a typo: the first 14 digits (region, birth date), or region and the last four.
    BlockingRule(("substr(id_text, 1, 14)",)),
    BlockingRule(("substr(id_text, 7, 12)",)),
)
"""The rules that decide which pairs are scored: a pair is scored when any rule holds."""

RARE_NAME_RECORDS = 200
"""A name (:func:`blocking_columns`' ``name_set``) on at most this many records is rare enough to compare a
record without a birth date with every record of that name."""


def blocking_rules() -> list[Any]:
    """The Splink blocking rules of :data:`BLOCKING_RULES`, in order.

    Returns
    -------
    list
        Splink blocking rules; see :func:`blocking_columns` and :func:`blocking_pair_counts`.
    """
    return [r for rule in BLOCKING_RULES for r in rule.splink_rules()]


def blocking_columns(features: pd.DataFrame) -> pd.DataFrame:
    """The derived columns blocking rules and the model compare.

    - ``name_set``: the name's pinyin parts in sorted order (``Xiaoming Zhang`` and 张晓明 agree);
    - ``name_rare``: ``name_set`` for names on at most :data:`RARE_NAME_RECORDS` records;
    - ``birth_md``: month and day as an unordered pair (a swapped date agrees);
    - ``address_block``: the address when it names a building (``幢``); a street or a district alone is
      shared by thousands.

    ``name_set``, ``name_rare`` and ``address_block`` are integer codes, equal exactly when the values they
    stand for are equal within one frame (cheaper to build and to join than the text); they mean nothing
    outside the frame they were made from.

    Parameters
    ----------
    features
        The feature frame.

    Returns
    -------
    pandas.DataFrame
        ``name_set``, ``name_rare``, ``birth_md`` and ``address_block`` (``Int64``, missing when the values are), in the
        features' row order.
    """
    # Sorted on integer codes of the two parts (one code space for both), not on the text: far quicker.
    # ü folded to u: passports and clerks write 吕 as LV, LYU and LU.
    surname = features["surname_py"].to_numpy(dtype=object)
    given = features["given_py"].fillna("").to_numpy(dtype=object)
    codes, uniques = pd.factorize(np.concatenate([surname, given]))
    folded, _ = pd.factorize(pd.Series(uniques, dtype=object).str.replace("v", "u", regex=False))
    codes = np.where(codes >= 0, folded[np.maximum(codes, 0)], -1)
    first, second = codes[: len(surname)].astype(np.int64), codes[len(surname) :].astype(np.int64)
    low, high = np.minimum(first, second), np.maximum(first, second)
    name_set, _ = pd.factorize(low * (int(codes.max(initial=0)) + 2) + high)
    name_set_col = pd.array(name_set.astype(np.int64), dtype="Int64")
    name_set_col[first < 0] = pd.NA
    sizes = np.bincount(name_set[name_set >= 0], minlength=1)
    name_rare = name_set_col.copy()
    name_rare[(name_set < 0) | (sizes[np.maximum(name_set, 0)] > RARE_NAME_RECORDS)] = pd.NA
    month = features["birth_month"].to_numpy(dtype="float64", na_value=np.nan)
    day = features["birth_day"].to_numpy(dtype="float64", na_value=np.nan)
    md = np.fmin(month, day) * 100 + np.fmax(month, day)
    birth_md = pd.array(np.where(np.isnan(md), 0, md).astype(np.int64), dtype="Int64")
    birth_md[np.isnan(md)] = pd.NA
    address, uniques = pd.factorize(features["address"].to_numpy(dtype=object))
    building = np.array(["幢" in u for u in uniques.tolist()] + [False], dtype=bool)  # index -1: missing
    address_block = pd.array(address.astype(np.int64), dtype="Int64")
    address_block[~building[address]] = pd.NA
    return pd.DataFrame(
        {"name_set": name_set_col, "name_rare": name_rare, "birth_md": birth_md, "address_block": address_block}
    )


def key_column(features: pd.DataFrame, expression: str) -> pd.Series:
    """The values a blocking expression (a column, or ``substr(column, start, length)``) takes per record.

    Parameters
    ----------
    features
        The feature frame with :func:`blocking_columns`.
    expression
        One of a :class:`BlockingRule`'s keys.

    Returns
    -------
    pandas.Series
    """
    if expression.startswith("substr("):
        column, start, length = (x.strip() for x in expression[len("substr(") : -1].split(","))
        begin = int(start) - 1
        return features[column].str.slice(begin, begin + int(length))
    return features[expression]


def blocking_pair_counts(features: pd.DataFrame, new: np.ndarray | None = None) -> dict[str, int]:
    """How many pairs each blocking rule brings together on its own (before pairs found by earlier rules are
    left out), to see which rule explodes on common values.

    Parameters
    ----------
    features
        The feature frame.
    new
        Boolean mask of the records compared in an incremental run: only pairs with at least one of them count.

    Returns
    -------
    dict
        Rule (:attr:`BlockingRule.label`) → pair count.
    """
    if "name_set" not in features.columns:
        features = pd.concat([features.reset_index(drop=True), blocking_columns(features)], axis=1)
    counts = {}
    codes: dict[str, np.ndarray] = {}  # each key column as integer codes (-1: missing), factorised once
    for rule in BLOCKING_RULES:
        for k in (*rule.keys, *([rule.missing] if rule.missing else [])):
            if k not in codes:
                codes[k] = pd.factorize(key_column(features, k))[0].astype(np.int64)
    fresh_mask = np.ones(len(features), dtype=bool) if new is None else np.asarray(new, dtype=bool)
    for rule in BLOCKING_RULES:
        combined = np.zeros(len(features), dtype=np.int64)
        present = np.ones(len(features), dtype=bool)
        for k in rule.keys:
            present &= codes[k] >= 0
            combined = combined * (int(codes[k].max()) + 2) + codes[k] + 1
        key = pd.factorize(combined[present])[0]
        size = np.bincount(key).astype(np.int64)
        fresh = np.bincount(key, weights=fresh_mask[present], minlength=len(size)).astype(np.int64)
        if rule.missing is None:
            # Pairs with at least one compared record: all pairs of a group less those of two others.
            old = size - fresh
            counts[rule.label] = int((size * (size - 1) // 2 - old * (old - 1) // 2).sum())
            continue
        # One side missing: pairs of a missing record with any other, counted once when both are missing.
        gone = codes[rule.missing][present] < 0
        n_gone = np.bincount(key, weights=gone, minlength=len(size)).astype(np.int64)
        pairs = n_gone * (size - n_gone) + n_gone * (n_gone - 1) // 2
        if new is not None:
            fresh_gone = np.bincount(key, weights=gone & fresh_mask[present], minlength=len(size)).astype(np.int64)
            old, old_gone = size - fresh, n_gone - fresh_gone
            pairs -= old_gone * (old - old_gone) + old_gone * (old_gone - 1) // 2
        counts[rule.label] = int(pairs.sum())
    return counts


def pair_completeness(features: pd.DataFrame, person: np.ndarray | pd.Series) -> dict[str, float]:
    """The share of true pairs each blocking rule proposes, and all rules together (``"any rule"``).

    A pair blocking misses is never scored, so recall can be no higher than the ``"any rule"`` share.

    Parameters
    ----------
    features
        The feature frame (with or without :func:`blocking_columns`).
    person
        The true person of each record (a simulated registry's ``person_id``), in the features' row order.

    Returns
    -------
    dict
        Rule (:attr:`BlockingRule.label`) → share of true pairs it proposes; ``"any rule"`` → share proposed
        by at least one; ``"true pairs"`` → their number.
    """
    if "name_set" not in features.columns:
        features = pd.concat([features.reset_index(drop=True), blocking_columns(features)], axis=1)
    code = pd.factorize(np.asarray(person, dtype=object))[0]
    order = np.argsort(code, kind="stable")
    starts = np.flatnonzero(np.r_[True, code[order][1:] != code[order][:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    # Every pair within each person: the true pairs (few per person, so this stays linear).
    left, right = [], []
    for size in np.unique(sizes[sizes > 1]).tolist():
        groups = order[starts[sizes == size][:, None] + np.arange(size)[None, :]]
        i, j = np.triu_indices(size, 1)
        left.append(groups[:, i].ravel())
        right.append(groups[:, j].ravel())
    lo = np.concatenate(left) if left else np.zeros(0, dtype=np.int64)
    hi = np.concatenate(right) if right else np.zeros(0, dtype=np.int64)
    shares: dict[str, float] = {}
    found = np.zeros(len(lo), dtype=bool)
    for rule in BLOCKING_RULES:
        hit = np.ones(len(lo), dtype=bool)
        for k in rule.keys:
            c = pd.factorize(key_column(features, k))[0]
            hit &= (c[lo] >= 0) & (c[lo] == c[hi])
        if rule.missing:
            gone = pd.isna(features[rule.missing]).to_numpy()
            hit &= gone[lo] | gone[hi]
        found |= hit
        shares[rule.label] = float(hit.mean()) if len(hit) else 1.0
    shares["any rule"] = float(found.mean()) if len(found) else 1.0
    shares["true pairs"] = float(len(found))
    return shares


def splink_settings() -> Any:
    """The untrained Splink settings: comparisons on the feature columns and the blocking rules.

    Returns
    -------
    splink.SettingsCreator
    """
    from splink import SettingsCreator

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="rid",
        comparisons=[
            _name_comparison(),
            _birth_comparison(),
            _id_comparison(),
            _phone_comparison(),
            _address_comparison(),
            _simple("sex"),
        ],
        blocking_rules_to_generate_predictions=blocking_rules(),
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
        additional_columns_to_retain=[],
        max_iterations=20,
        em_convergence=0.001,
    )


_INT_COLUMNS = (
    "rid", "birth_year", "birth_month", "birth_day", "phone_household", "name_set", "name_rare", "birth_md",
    "address_block",
)  # fmt: skip


_TRAINED_KEYS = ("m_probability", "u_probability", "tf_minimum_u_value")


def _model_for(model: dict[str, Any], config: LinkageConfig) -> dict[str, Any]:
    """The trained model in the SQL dialect of the configured engine.

    A saved Splink model holds SQL in the dialect it was trained with (DuckDB quotes identifiers with ``"``,
    which Spark reads as strings). The comparisons are ours, so the model is rebuilt from
    :func:`splink_settings` in the engine's dialect and the trained parameters copied level by level.
    """
    dialect = "spark" if config.engine == "spark" else "duckdb"
    if model.get("sql_dialect") == dialect:
        return model
    fresh = splink_settings().create_settings_dict(dialect)
    fresh["sql_dialect"] = dialect
    fresh["probability_two_random_records_match"] = model["probability_two_random_records_match"]
    for new_cmp, old_cmp in zip(fresh["comparisons"], model["comparisons"], strict=True):
        for new_level, old_level in zip(new_cmp["comparison_levels"], old_cmp["comparison_levels"], strict=True):
            for key in _TRAINED_KEYS:
                if key in old_level:
                    new_level[key] = old_level[key]
    return fresh


def _model_input(features: pd.DataFrame) -> pa.Table:
    """The columns the model reads, as Arrow with explicit types (an all-empty column has no type to infer);
    ``rid`` is the row position. Built column by column: no pandas copy of the frame."""
    if "name_set" not in features.columns:
        features = pd.concat([features.reset_index(drop=True), blocking_columns(features)], axis=1)
    arrays = [
        pa.array(np.arange(len(features), dtype=np.int64))
        if c == "rid"
        else pa.array(features[c], type=pa.int64() if c in _INT_COLUMNS else pa.string(), from_pandas=True)
        for c in _MODEL_COLUMNS
    ]
    return pa.Table.from_arrays(arrays, names=list(_MODEL_COLUMNS))


def _register(db_api: Any, table: pa.Table) -> Any:
    """Register a model-input table (:func:`_model_input`) with the engine."""
    if _on_spark(db_api):
        ddl = ", ".join(f"{c} {'bigint' if c in _INT_COLUMNS else 'string'}" for c in _MODEL_COLUMNS)
        for column in _BYTE_TEXT_COLUMNS:
            values = table.column(column).to_pandas().map(_one_char_per_byte, na_action="ignore")
            table = table.set_column(
                table.schema.get_field_index(column), column, pa.array(values, type=pa.string(), from_pandas=True)
            )
        return db_api.register_input(table, ddl)
    return db_api.register(table)


def _one_char_per_byte(text: str) -> str:
    return text.encode("utf-8").decode("latin-1") if not text.isascii() else text


def train_model(features: pd.DataFrame, config: LinkageConfig | None = None) -> dict[str, Any]:
    """Train the Fellegi–Sunter model on a feature frame: u by random sampling, m by EM.

    Parameters
    ----------
    features
        Output of :func:`transforms.empi.features.record_features` (all records, or a large sample).
    config
        Sampling sizes and DuckDB's memory limit and spill folder (training runs on DuckDB, whatever the engine).

    Returns
    -------
    dict
        The trained Splink settings (JSON-serialisable, DuckDB's SQL dialect), to pass to :func:`score_links`.
    """
    config = config or LinkageConfig()
    if len(features) > config.train_records:
        features = features.sample(n=config.train_records, random_state=config.seed)
    # On DuckDB whatever the engine: the sample is bounded, and EM's pair sampling hashes record ids with the
    # engine's own hash function, so a model trained on Spark differs from one trained on DuckDB (and scores
    # other pairs). On Sail, training also took twice DuckDB's time (10k records: 10.4 s against 5.0 s).
    db_api = make_db_api(replace(config, engine="duckdb", spark=None))
    try:
        return _trained(db_api, features, config)
    finally:
        _release(db_api)


def _trained(db_api: Any, features: pd.DataFrame, config: LinkageConfig) -> dict[str, Any]:
    from splink import Linker, block_on

    settings = splink_settings()
    shared_ids = _pairs_on(features, ("id18",)) > 0
    if not shared_ids:
        # No two records share an ID (a tiny or ID-less registry): Splink's estimate would be 0 and no pair could
        # ever link. Assume about one true pair per two records instead (1 / records of all pairs).
        settings.probability_two_random_records_match = min(0.5, 1 / max(len(features), 2))
        log.warning(
            f"no two of {len(features):,} records share an ID number: the prior of a match is set to "
            f"{settings.probability_two_random_records_match:.4g} instead of estimated"
        )
    # log_level=None: Splink logs through the standard hierarchy instead of its own INFO handler on stderr.
    linker = Linker(_register(db_api, _model_input(features)), settings, log_level=None)
    if shared_ids:
        # The prior: pairs sharing a trusted ID are near-certain matches. With no ID on about a third of the
        # records (as in the registries of issue 29), both records of a true pair carry the same trusted number in
        # about 40-45% of pairs; the 70% assumed before made every probability too low, and recall fell on such
        # registries.
        linker.training.estimate_probability_two_random_records_match([block_on("id18")], recall=ID_PAIR_SHARE)
    linker.training.estimate_u_using_random_sampling(max_pairs=config.u_max_pairs, seed=config.seed)
    # Each EM session fixes what its blocking rule holds equal and learns the other comparisons' m values. A
    # session with too few pairs to learn from is skipped: those m values keep what earlier sessions learned, or
    # Splink's default m values for the comparison levels (a tiny registry, such as a one-hospital demo's).
    for columns in (("phone",), ("birth_date", "surname_py"), ("name_py", "birth_year")):
        pairs = _pairs_on(features, columns)
        if pairs < MIN_EM_PAIRS:
            log.warning(
                f"EM training on {' + '.join(columns)} skipped: {pairs} record pairs agree on it "
                f"(fewer than {MIN_EM_PAIRS}); the default m probabilities stand"
            )
            continue
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on(*columns), max_pairs=config.em_max_pairs, estimate_without_term_frequencies=True
        )
    return linker.misc.save_model_to_json()


def _pairs_on(features: pd.DataFrame, columns: tuple[str, ...]) -> int:
    """Record pairs that agree on every one of ``columns`` (none of them empty): what a blocking rule yields."""
    keys = features[list(columns)].replace("", None).dropna()
    sizes = keys.groupby(list(columns), sort=False).size().to_numpy(dtype=np.int64)
    return int((sizes * (sizes - 1) // 2).sum())


def deterministic_links(features: pd.DataFrame, new: np.ndarray | None = None) -> pd.DataFrame:
    """Pairs of records carrying the same trusted ID number.

    Each group of records sharing a number is joined as a star on its first record (enough for clustering,
    linear in the group size). With ``new`` given, only stars that reach a new record are returned.

    Parameters
    ----------
    features
        The feature frame.
    new
        Boolean mask of new records (incremental run), or ``None`` for all.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PAIR_COLUMNS`, ``rule == "id_number"``, ``match_probability == 1``.
    """
    ids = features["id18"].reset_index(drop=True)
    frame = pd.DataFrame({"rid": np.arange(len(ids)), "id18": ids}).dropna(subset=["id18"])
    if new is not None:
        frame["new"] = np.asarray(new)[frame["rid"].to_numpy()]
        touched = frame.groupby("id18")["new"].transform("any")
        frame = frame[touched]
    head = frame.groupby("id18")["rid"].transform("min")
    pairs = frame[frame["rid"] != head]
    if new is not None:
        pairs = pairs[pairs["new"] | np.asarray(new)[head[pairs.index].to_numpy()]]
    out = pd.DataFrame(
        {
            "rid_l": head[pairs.index].to_numpy(dtype=np.int64),
            "rid_r": pairs["rid"].to_numpy(dtype=np.int64),
            "match_probability": 1.0,
            "rule": "id_number",
        }
    )
    return out


def _scored_pairs(
    db_api: Any, features: pd.DataFrame, model: dict[str, Any], config: LinkageConfig, new: np.ndarray | None
) -> pd.DataFrame:
    """Splink's scores of the blocked pairs at or above ``config.review`` (all pairs, or those of new records)."""
    from splink import Linker

    frame = _model_input(features)
    records = _register(db_api, frame)
    linker = Linker(records, _model_for(model, config), log_level=None)
    if new is None:
        blocking = _blocked_pairs_duckdb if config.engine == "duckdb" else _blocked_pairs_spark
        linker.table_management.register_blocked_pairs_for_predict(blocking(db_api, records.physical_name))
        scored = linker.inference.predict(threshold_match_probability=config.review, warning_mode="never")
        pairs = scored.as_pandas_dataframe()
        scored.drop_table_from_database_and_remove_from_cache()
    else:
        mask = np.asarray(new, dtype=bool)
        for column in ("name_norm", "name_py"):  # term frequencies from all records, new and existing
            linker.table_management.compute_tf_table(column)
        parts = []
        new_sdf = _register(db_api, frame.filter(pa.array(mask)))
        if (~mask).any() and mask.any():
            old_sdf = _register(db_api, frame.filter(pa.array(~mask)))
            between = linker.inference.predict_between(
                old_sdf, new_sdf, threshold_match_probability=config.review, warning_mode="never"
            )
            parts.append(between.as_pandas_dataframe())
        if mask.sum() > 1:
            within = linker.inference.predict_within(
                new_sdf, threshold_match_probability=config.review, warning_mode="never"
            )
            parts.append(within.as_pandas_dataframe())
        pairs = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return pairs


def score_links(
    features: pd.DataFrame,
    model: dict[str, Any],
    config: LinkageConfig | None = None,
    *,
    new: np.ndarray | None = None,
) -> pd.DataFrame:
    """Score candidate pairs with the trained model and add the deterministic ID-number pairs.

    Parameters
    ----------
    features
        Feature frame of all records (existing and new).
    model
        Trained settings from :func:`train_model`.
    config
        Thresholds and engine; only pairs at or above ``config.review`` are returned.
    new
        Boolean mask of the records new in this run; ``None`` scores all pairs (a full run). With a mask,
        only new-vs-existing and new-vs-new pairs are scored.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PAIR_COLUMNS` with ``rid_l < rid_r`` (row positions in ``features``), one row per pair
        (a deterministic pair wins over its Splink score).
    """
    config = config or LinkageConfig()
    db_api = make_db_api(config, len(features))
    try:
        pairs = _scored_pairs(db_api, features, model, config, new)
    finally:
        _release(db_api)
    return combined_pairs(pairs, deterministic_links(features, new))


def combined_pairs(pairs: pd.DataFrame, id_pairs: pd.DataFrame) -> pd.DataFrame:
    """Splink's scored pairs (``rid_l``, ``rid_r``, ``match_probability``, either order) and the ID-number pairs
    of :func:`deterministic_links` as one frame of :data:`PAIR_COLUMNS`, sorted by pair, an ID-number pair
    winning over its Splink score."""
    if pairs.empty:
        pairs = pd.DataFrame({"rid_l": [], "rid_r": [], "match_probability": []})
    left = pairs["rid_l"].to_numpy(dtype=np.int64)
    right = pairs["rid_r"].to_numpy(dtype=np.int64)
    splink_pairs = pd.DataFrame(
        {
            "rid_l": np.minimum(left, right),
            "rid_r": np.maximum(left, right),
            "match_probability": pairs["match_probability"].to_numpy(dtype=float),
            "rule": "splink",
        }
    )
    both = pd.concat([id_pairs, splink_pairs], ignore_index=True)
    both = both.drop_duplicates(["rid_l", "rid_r"], keep="first")
    # One order whatever order the engine returned them in: equal pairs, equal clusters.
    return both.sort_values(["rid_l", "rid_r"], kind="stable", ignore_index=True)
