"""Tests of ``radlake empi`` through typer's CliRunner: batch link, review export/import, errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from radlake.errors import DataError
from simulator.people import generate_registry

runner = CliRunner()


@pytest.fixture(scope="module")
def registry() -> pd.DataFrame:
    # The hard registry: enough look-alikes that some pairs need a steward.
    return generate_registry(1500, ["h01", "h02", "h03"], seed=31, hard=True)


def _pairs(labels: pd.Series) -> int:
    sizes = labels.value_counts()
    return int((sizes * (sizes - 1) // 2).sum())


@pytest.mark.slow
def test_link_review_import_and_relink(registry: pd.DataFrame, tmp_path: Path) -> None:
    records = tmp_path / "records.csv"
    registry.drop(columns=["person_id"]).to_csv(records, index=False)
    links, queue = tmp_path / "links.csv", tmp_path / "queue.csv"
    result = runner.invoke(
        app, ["empi", "link", "--input", str(records), "--output", str(links), "--review", str(queue)]
    )
    assert result.exit_code == 0, result.output
    out = pd.read_csv(links, dtype={"record_id": str, "empi_id": str})
    assert list(out.columns) == ["record_id", "empi_id", "match_probability"]
    assert out["record_id"].tolist() == registry["record_id"].tolist()
    assert out["empi_id"].notna().all()
    assert out["match_probability"].dropna().between(0, 1).all()
    merged = registry.merge(out, on="record_id")
    true_pos = _pairs(merged["person_id"] + "|" + merged["empi_id"])
    assert true_pos / _pairs(merged["empi_id"]) > 0.99

    # A steward decides the first two queued pairs; the decisions go to a CSV.
    reviewed = pd.read_csv(queue, dtype=str).head(2)
    assert len(reviewed) == 2
    reviewed["decision"] = ["never_link", "link"]
    filled, decisions = tmp_path / "filled.csv", tmp_path / "decisions.csv"
    reviewed.to_csv(filled, index=False)
    result = runner.invoke(
        app, ["empi", "review", "import", str(filled), "--by", "steward1", "--to-csv", str(decisions)]
    )
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(decisions)) == 2

    again = tmp_path / "links2.csv"
    args = [
        "empi",
        "link",
        "-i",
        str(records),
        "-o",
        str(again),
        "--decisions",
        str(decisions),
        "--previous",
        str(links),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    second = pd.read_csv(again, dtype={"record_id": str, "empi_id": str}).set_index("record_id")["empi_id"]
    first = out.set_index("record_id")["empi_id"]
    assert (second == first).mean() > 0.99  # ids kept
    never, link = reviewed.iloc[0], reviewed.iloc[1]
    assert second[never["record_id_a"]] != second[never["record_id_b"]]
    assert second[link["record_id_a"]] == second[link["record_id_b"]]


def test_link_without_record_id_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"name": ["张伟"], "sex": ["M"]}).to_csv(bad, index=False)
    result = runner.invoke(app, ["empi", "link", "--input", str(bad), "--output", str(tmp_path / "o.csv")])
    assert result.exit_code != 0
    assert isinstance(result.exception, DataError)
    assert "bad.csv" in str(result.exception) and "record_id" in str(result.exception)


def test_link_with_repeated_record_id_names_the_row(tmp_path: Path) -> None:
    bad = tmp_path / "dup.csv"
    pd.DataFrame({"record_id": ["h01:1", "h01:2", "h01:1"], "name": ["张伟", "李娜", "张伟"]}).to_csv(bad, index=False)
    result = runner.invoke(app, ["empi", "link", "--input", str(bad), "--output", str(tmp_path / "o.csv")])
    assert isinstance(result.exception, DataError)
    assert "row 4" in str(result.exception)


def test_review_import_rejects_unknown_decisions(tmp_path: Path) -> None:
    filled = tmp_path / "filled.csv"
    pd.DataFrame({"record_id_a": ["a:1"], "record_id_b": ["b:1"], "decision": ["maybe"]}).to_csv(filled, index=False)
    result = runner.invoke(
        app, ["empi", "review", "import", str(filled), "--by", "s", "--to-csv", str(tmp_path / "d.csv")]
    )
    assert isinstance(result.exception, DataError)
    assert str(result.exception) == f"{filled}: row 2: decision must be link or never_link, got 'maybe'"


def test_missing_input_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["empi", "link", "-i", str(tmp_path / "none.csv"), "-o", str(tmp_path / "o.csv")])
    assert isinstance(result.exception, DataError)
    assert "not found" in str(result.exception)
