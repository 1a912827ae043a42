"""No personal data in gold: every column of every mart, by name and by value, against the lake's own PHI."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.gold.dbt_cli import BuiltGold
from tests.gold.phi_scan import find_identifier_shapes, find_personal_data, personal_values
from tests.gold.tiny_lake import PERSONAL

pytestmark = [pytest.mark.slow]


def test_gold_holds_no_personal_data(gold: BuiltGold) -> None:
    values = personal_values(gold.settings)
    # The lake does hold personal data: the scan has something to find.
    assert set(PERSONAL["mrn"]) | set(PERSONAL["patient_name"]) <= values
    assert find_personal_data(gold.settings.warehouse_path, values) == []
    assert find_identifier_shapes(gold.settings.warehouse_path) == []


def test_the_scan_finds_a_leak(tmp_path: Path) -> None:
    path = str(tmp_path / "leaky.duckdb")
    with duckdb.connect(path) as con:
        con.execute("create table clean as select 'h01' as institution, 'CT胸部（平扫）' as item, 20010100010000 as n")
        con.execute("create table named as select '张伟' as patient_name")
        con.execute("create table hidden as select 'h01:M8800001' as key, ['E1', '13800138000'] as ids")
        con.execute("create table exact as select '张伟' as who")
    found = find_personal_data(path, {"张伟", "M8800001", "13800138000", "1000"})
    assert sorted(f.split(":")[0] for f in found) == ["exact.who", "hidden.ids", "hidden.key", "named.patient_name"]
