"""Fill "unchanged TOAST" values: large column values an update did not touch, which pgoutput does not resend.

The value is taken from the row's previous version: earlier in the same batch when there is one, else from
the silver state (which holds the row as of the batch start). Under ``REPLICA IDENTITY FULL`` the decoder
already took it from the old row.
"""

from __future__ import annotations

import bisect
from decimal import Decimal
from typing import TYPE_CHECKING

import pyarrow as pa

from ingestion.cdc import state
from ingestion.cdc.log import TableChanges
from ingestion.cdc.types import to_arrow
from radlake.config import Settings
from radlake.errors import DataError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_LIVE_OPS = ("insert", "update", "snapshot")


def fill_from_batch(changes: TableChanges) -> dict[tuple[int, str], tuple[str | None, ...]]:
    """Fill unchanged cells from earlier rows of the batch.

    Returns
    -------
    dict
        The cells still unknown: ``(row, column)`` → the row's key (as text) to look up in silver.
    """
    if not changes.unchanged:
        return {}
    keys = changes.keys
    rows_by_key: dict[tuple[str | None, ...], list[int]] = {}
    for row in range(len(changes.ops)):
        if changes.ops[row] in _LIVE_OPS:
            rows_by_key.setdefault(tuple(changes.columns[k][row] for k in keys), []).append(row)
    unknown: dict[tuple[int, str], tuple[str | None, ...]] = {}
    for row, column in sorted(changes.unchanged):
        if changes.old_keys[keys[0]][row] is not None:
            lookup = tuple(changes.old_keys[k][row] for k in keys)
        else:
            lookup = tuple(changes.columns[k][row] for k in keys)
        earlier = rows_by_key.get(lookup, [])
        at = bisect.bisect_left(earlier, row) - 1
        if at >= 0:
            previous = earlier[at]
            if (previous, column) in unknown:
                unknown[(row, column)] = unknown[(previous, column)]
            else:
                changes.columns[column][row] = changes.columns[column][previous]
        else:
            unknown[(row, column)] = lookup
    changes.unchanged = []
    return unknown


def _as_text(value: object) -> str | None:
    """A silver value back in PostgreSQL's text output form (only TOAST-able types reach here)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def fill_from_state(
    spark: SparkSession,
    settings: Settings,
    source: str,
    changes: TableChanges,
    unknown: dict[tuple[int, str], tuple[str | None, ...]],
) -> None:
    """Fill the remaining unchanged cells from silver.

    Raises
    ------
    DataError
        Silver does not hold the row (its state no longer matches the source: take a new snapshot).
    """
    if not unknown:
        return
    from ingestion.cdc.apply import col

    keys = changes.keys
    wanted = sorted(set(unknown.values()), key=lambda k: tuple("" if v is None else v for v in k))
    key_arrays = {
        k: to_arrow([w[i] for w in wanted], *changes.types[k], where=f"{changes.schema}.{changes.name}.{k}")
        for i, k in enumerate(keys)
    }
    columns = sorted({column for _, column in unknown})
    silver = state.state_table(settings, source, changes.name).read_spark(spark)
    found = (
        silver.join(spark.createDataFrame(pa.table(key_arrays)), list(keys), "inner")
        .select(*[col(k) for k in keys], *[col(c) for c in columns])
        .toArrow()
    )
    # Match on typed keys, not on text: PostgreSQL writes a timestamptz or a boolean key differently from
    # Python (``+00`` / ``t``), so text would miss rows silver does hold.
    typed = dict(zip(wanted, zip(*(key_arrays[k].to_pylist() for k in keys), strict=True), strict=True))
    values = {c: found.column(c).to_pylist() for c in columns}
    index = {key: i for i, key in enumerate(zip(*(found.column(k).to_pylist() for k in keys), strict=True))}
    for (row, column), key in unknown.items():
        at = index.get(typed[key])
        if at is None:
            raise DataError(
                f"{changes.schema}.{changes.name}: an update left column {column!r} unchanged but silver does not "
                "hold the row; the state is out of step with the source, take a new snapshot"
            )
        changes.columns[column][row] = _as_text(values[column][at])
