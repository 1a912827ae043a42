"""The quality suites, one per lake table or mart, each tied to the layer it guards."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.expectations import Expectation


@dataclass(frozen=True)
class Suite:
    """A named set of expectations over one table.

    ``table`` is the catalog key (``silver/exams``) or ``gold/<mart>`` for a mart in the warehouse: the asset the
    suite runs on as a Dagster check. Each expectation carries GX's severity: ``critical`` blocks downstream
    assets (Dagster ERROR), ``warning`` is reported only (Dagster WARN).

    How the batch is built (see :mod:`expectations.batches`): by default the lake table ``table``, reading only
    ``columns`` when given, then ``prepare`` (a pure pandas function adding derived columns such as the first
    invalid code of a row; with ``keyed``, ``prepare`` also gets the site's pseudonym key from the settings,
    ``$RADLAKE_PSEUDONYM_KEY`` or ``pseudonym_key_file``). A suite with ``sql`` instead validates the result of
    that DuckDB query, which reads lake tables as ``{lake}/<layer>/<name>`` inside ``delta_scan('...')`` and
    the warehouse's marts as ``gold.<mart>``; ``requires`` names the lake tables it reads (the suite is
    skipped while one is missing).
    """

    name: str
    layer: str
    table: str
    build: Callable[[], list[Expectation]]
    description: str
    columns: tuple[str, ...] | None = None
    prepare: Callable[..., pd.DataFrame] | None = None
    keyed: bool = False
    sql: str | None = None
    requires: tuple[str, ...] = ()
    reads_warehouse: bool = False


def all_suites() -> dict[str, Suite]:
    """Every suite by name."""
    from expectations.suites import bronze, gold, silver

    suites = [*bronze.SUITES, *silver.SUITES, *gold.SUITES]
    return {s.name: s for s in suites}


def suites_for_layer(layer: str | None = None) -> list[Suite]:
    """The suites of one layer (bronze, silver, gold), or all of them in layer order."""
    order = {"bronze": 0, "silver": 1, "gold": 2}
    chosen = [s for s in all_suites().values() if layer is None or s.layer == layer]
    return sorted(chosen, key=lambda s: (order.get(s.layer, 9), s.name))
