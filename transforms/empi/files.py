"""The EMPI over files and the steward's queue: what ``radlake empi link`` and ``empi review`` do.

Records come from a CSV (UTF-8) or a Parquet registry (``radlake simulate --registry``); every file radlake
writes for a person goes through :func:`radlake.csvfiles.write_frame` (formula triggers escaped).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from radlake.csvfiles import unescape_frame, write_frame
from radlake.errors import DataError, LakeError
from transforms.empi.master import EmpiRun, PreviousRun, link_patients
from transforms.empi.review import REVIEW_COLUMNS, DecisionError, decisions_from_review

if TYPE_CHECKING:
    import pandas as pd

    from radlake.config import Settings
    from radlake.progress import Progress
    from transforms.empi.linkage import LinkageConfig
    from transforms.empi.outofcore import RegistryRun


def read_records_file(path: Path, what: str) -> pd.DataFrame:
    """A CSV (UTF-8) or Parquet file of ``what`` as text columns, empty cells as ``None``.

    Raises
    ------
    radlake.errors.DataError
        If the file is missing, empty, not UTF-8 or not readable, naming the file and the reason.
    """
    import pandas as pd

    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.suffix.lower() == ".parquet":  # a registry from `radlake simulate --registry`
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except pa.ArrowInvalid as err:
            raise DataError(f"{path}: not a readable Parquet file of {what} ({err})") from None
        text = pa.table({c: table[c].cast(pa.string()) for c in table.column_names})
        return text.to_pandas().replace({"": None})
    from radlake.textfiles import not_utf8_reason

    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: empty: a CSV of {what} needs a header row") from None
    except UnicodeDecodeError:
        raise DataError(not_utf8_reason(path)) from None
    except pd.errors.ParserError as err:
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else "unreadable"
        raise DataError(f"{path}: not a readable CSV of {what} ({reason})") from None
    # Files radlake wrote (a review queue, earlier links) come back with their formula quoting undone.
    return unescape_frame(frame).replace({"": None})


def _check_record_ids(path: Path, records: pd.DataFrame) -> None:
    if "record_id" not in records.columns:
        raise DataError(f"{path}: no record_id column (columns: {', '.join(records.columns) or 'none'})")
    empty = records["record_id"].isna()
    if empty.any():
        raise DataError(f"{path}: row {int(empty.to_numpy().argmax()) + 2}: record_id is empty")
    repeated = records["record_id"].duplicated()
    if repeated.any():
        row = int(repeated.to_numpy().argmax()) + 2
        raise DataError(f"{path}: row {row}: record_id {records['record_id'][repeated].iloc[0]!r} repeats")


def link_records_file(
    input: Path,
    output: Path,
    *,
    config: Callable[[], LinkageConfig],
    progress: Progress,
    decisions: Path | None = None,
    previous: Path | None = None,
    review: Path | None = None,
) -> EmpiRun | RegistryRun:
    """Link the records of ``input`` and write ``output``: record_id, empi_id, match_probability per record.

    Parameters
    ----------
    input, output
        The patient records (CSV or Parquet) and the links CSV to write.
    config
        Makes the thresholds and engine; called once the files are read, so that bad input is refused before a
        Spark session starts.
    progress
        Where the phases are shown.
    decisions
        Steward decisions (record_id_a, record_id_b, decision), or a filled-in queue.
    previous
        An earlier links CSV: its empi_ids are kept (an incremental run).
    review
        Where to write the steward review queue too.

    Returns
    -------
    EmpiRun or RegistryRun
        A Parquet registry on DuckDB is linked out of core (:func:`transforms.empi.outofcore.link_registry`):
        its run describes files, not frames; both carry ``stats``.

    Raises
    ------
    radlake.errors.DataError
        If a file is unreadable, a record_id is missing, empty or repeated, or a decision row is unusable.
    """
    decided = read_records_file(decisions, "steward decisions") if decisions else None
    previous_master = None
    if previous is not None:
        previous_master = read_records_file(previous, "earlier links")
        if not {"record_id", "empi_id"} <= set(previous_master.columns):
            raise DataError(f"{previous}: needs record_id and empi_id columns")
        previous_master = previous_master.dropna(subset=["empi_id"])
    if input.suffix.lower() == ".parquet":
        _check_parquet(input)
        linkage = config()
        if linkage.engine == "duckdb":
            # A registry in Parquet may be larger than memory: linked out of core, from the file.
            return _link_parquet(input, output, linkage, progress, decided, previous_master, review)
    with progress.phase("read input"):
        records = read_records_file(input, "patient records")
    _check_record_ids(input, records)
    linkage = config()
    try:
        run = link_patients(
            records, previous=PreviousRun(master=previous_master), decisions=decided, config=linkage, progress=progress
        )
    except DecisionError as err:
        raise DataError(f"{decisions}: {err}") from None
    except ValueError as err:  # a bad empi_id in --previous and the like
        raise DataError(f"{input}: {err}") from None
    with progress.phase("write output"):
        write_frame(output, run.master[["record_id", "empi_id", "match_probability"]], float_format="%.6f")
        if review is not None:
            write_frame(review, run.review, float_format="%.6f")
    return run


def _check_parquet(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        names = pq.ParquetFile(path).schema_arrow.names
    except (pa.ArrowInvalid, OSError) as err:
        raise DataError(f"{path}: not a readable Parquet file of patient records ({err})") from None
    if "record_id" not in names:
        raise DataError(f"{path}: no record_id column (columns: {', '.join(names) or 'none'})")


def _link_parquet(
    input: Path,
    output: Path,
    linkage: LinkageConfig,
    progress: Progress,
    decided: pd.DataFrame | None,
    previous_master: pd.DataFrame | None,
    review: Path | None,
) -> RegistryRun:
    """:func:`link_records_file` for a Parquet registry: out of core, the links CSV written batch by batch."""
    import shutil
    import tempfile

    import pyarrow.parquet as pq

    from transforms.empi.outofcore import RegistryFiles, link_registry

    spill = Path(linkage.temp_directory) if linkage.temp_directory else output.parent
    spill.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="empi-link-", dir=spill))
    try:
        earlier = None
        if previous_master is not None:
            earlier = RegistryFiles(work / "previous")
            earlier.folder.mkdir()
            previous_master[["record_id", "empi_id"]].to_parquet(earlier.master, index=False)
        try:
            run = link_registry(
                input, work / "run", previous=earlier, decisions=decided, config=linkage, progress=progress
            )
        except DecisionError as err:
            raise DataError(f"{input}: steward decisions: {err}") from None
        except DataError as err:  # named by the file
            raise DataError(f"{input}: {str(err).removeprefix('patient records: ')}") from None
        with progress.phase("write output"):
            tmp = output.with_name(output.name + ".tmp")
            columns = ["record_id", "empi_id", "match_probability"]
            for i, batch in enumerate(pq.ParquetFile(run.files.master).iter_batches(500_000, columns=columns)):
                write_frame(tmp, batch.to_pandas(), float_format="%.6f", append=i > 0)
            tmp.replace(output)
            if review is not None:
                write_frame(
                    review, pq.read_table(run.files.review).to_pandas()[list(REVIEW_COLUMNS)], float_format="%.6f"
                )
        return run
    finally:
        shutil.rmtree(work, ignore_errors=True)


def export_review_queue(settings: Settings, output: Path) -> int:
    """Write the lake's review queue (``silver/empi_review_queue``) to ``output``; returns the pairs written.

    Raises
    ------
    radlake.errors.LakeError
        If no run has written a review queue yet.
    """
    from radlake.lake import Lake

    table = Lake(settings).table("silver", "empi_review_queue").read_arrow()
    if table is None:
        raise LakeError("no EMPI review queue in the lake yet: run `radlake empi run` first")
    queue = table.to_pandas()[list(REVIEW_COLUMNS)]
    write_frame(output, queue, float_format="%.6f")
    return len(queue)


def import_review_file(reviewed: Path, *, decided_by: str, to_csv: Path | None = None) -> pd.DataFrame:
    """The decisions of a filled-in queue; with ``to_csv``, appended to that CSV (all of its decisions returned).

    Raises
    ------
    radlake.errors.DataError
        If the file is unreadable or a row's decision is unusable, naming the file.
    """
    import pandas as pd

    try:
        decisions = decisions_from_review(read_records_file(reviewed, "reviewed pairs"), decided_by=decided_by)
    except DecisionError as err:
        raise DataError(f"{reviewed}: {err}") from None
    if to_csv is not None:
        if to_csv.is_file():
            decisions = pd.concat([read_records_file(to_csv, "steward decisions"), decisions], ignore_index=True)
        write_frame(to_csv, decisions)
    return decisions


def store_review_decisions(settings: Settings, decisions: pd.DataFrame, reviewed: Path) -> int:
    """Store decisions read by :func:`import_review_file` in ``silver/empi_decisions``; returns the pairs stored.

    Raises
    ------
    radlake.errors.DataError
        If a decision is unusable, naming the reviewed file it came from.
    """
    from radlake import lake as lake_io
    from transforms.empi.store import save_decisions

    lake_io.ensure_writable(settings)
    try:
        return save_decisions(settings, decisions)
    except DecisionError as err:
        raise DataError(f"{reviewed}: {err}") from None
