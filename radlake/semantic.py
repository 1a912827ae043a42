"""The marts' measures and metrics, defined once in the dbt project (``config.meta.semantic`` of a mart's YAML).

The offline dashboards build their chart SQL from these (:func:`query`), and the BI datasets of the SQL
endpoint get them as saved metrics (:func:`metric_sql`): one definition of "exam volume", "advanced-exam
share", "report timeliness", "turnaround percentiles", "device utilisation" and "standard coverage".

A mart's ``semantic`` block names its ``dimensions`` (columns a question groups by), its ``time_dimension``,
its ``measures`` (additive SQL aggregates, ``{expr, label}``) and its ``metrics``: a ``ratio`` of two
measures, or a ``percentile`` ``of`` a column (``where`` a condition holds).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from radlake.errors import ConfigError

MARTS_DIR = Path(__file__).resolve().parent.parent / "dbt_project" / "models" / "marts"


@dataclass(frozen=True)
class Measure:
    """An additive aggregate of a mart: its name (the column a query returns), SQL and label."""

    name: str
    expr: str
    label: str


@dataclass(frozen=True)
class Metric:
    """A ratio of two measures, or a percentile of a column."""

    name: str
    label: str
    ratio: tuple[str, str] | None = None
    percentile: float | None = None
    of: str | None = None
    where: str | None = None


@dataclass(frozen=True)
class SemanticModel:
    """One mart's semantic definitions."""

    mart: str
    label: str
    dimensions: tuple[str, ...]
    time_dimension: str | None
    measures: dict[str, Measure]
    metrics: dict[str, Metric]


def _model(mart: str, raw: dict[str, Any], origin: Path) -> SemanticModel:
    try:
        measures = {
            name: Measure(name, str(m["expr"]), str(m.get("label", name)))
            for name, m in (raw.get("measures") or {}).items()
        }
        metrics = {}
        for name, m in (raw.get("metrics") or {}).items():
            ratio = tuple(m["ratio"]) if "ratio" in m else None
            if ratio is not None and (len(ratio) != 2 or not set(ratio) <= set(measures)):
                raise ConfigError(f"{origin}: metric {name}: a ratio names two measures of {mart}")
            metrics[name] = Metric(
                name, str(m.get("label", name)), ratio,  # type: ignore[arg-type]
                m.get("percentile"), m.get("of"), m.get("where"),
            )  # fmt: skip
        return SemanticModel(
            mart, str(raw.get("label", mart)), tuple(raw.get("dimensions") or ()), raw.get("time_dimension"),
            measures, metrics,
        )  # fmt: skip
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{origin}: semantic definitions of {mart}: missing or wrong {exc}") from None


@cache
def models(marts_dir: Path = MARTS_DIR) -> dict[str, SemanticModel]:
    """Every mart with a ``semantic`` block, by mart name (read once per process)."""
    found: dict[str, SemanticModel] = {}
    for path in sorted(marts_dir.glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for model in doc.get("models", []):
            raw = ((model.get("config") or {}).get("meta") or {}).get("semantic")
            if raw:
                found[model["name"]] = _model(model["name"], raw, path)
    return found


def model(mart: str) -> SemanticModel:
    """The semantic definitions of one mart.

    Raises
    ------
    KeyError
        The mart has none.
    """
    return models()[mart]


def query(
    mart: str, dimensions: tuple[str, ...], measures: tuple[str, ...], *, aliases: dict[str, str] | None = None
) -> str:
    """``select <dimensions>, <measure expr> as <name>... from <mart> group by ... order by ...``.

    ``aliases`` renames a measure in the result (``{"exams": "performed_exams"}`` returns the measure
    ``performed_exams`` under the name ``exams``).
    """
    sem = model(mart)
    unknown = [d for d in dimensions if d not in sem.dimensions]
    if unknown:
        raise KeyError(f"{mart} has no dimension {unknown[0]!r}")
    names = dict(aliases or {})
    selected = [f"{sem.measures[names.get(m, m)].expr} as {m}" for m in measures]
    dims = ", ".join(dimensions)
    return f"select {', '.join([*dimensions, *selected])}\nfrom {mart}\ngroup by {dims}\norder by {dims}"


def metric_sql(mart: str, name: str) -> str:
    """One measure or metric as a SQL aggregate expression over the mart's rows (a BI tool's saved metric)."""
    sem = model(mart)
    if name in sem.measures:
        return sem.measures[name].expr
    metric = sem.metrics[name]
    if metric.ratio is not None:
        num, den = (sem.measures[m].expr for m in metric.ratio)
        return f"({num}) / nullif({den}, 0)"
    where = f" filter (where {metric.where})" if metric.where else ""
    return f"quantile_cont({metric.of}, {metric.percentile}){where}"
