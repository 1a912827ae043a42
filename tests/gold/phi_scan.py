"""Look for personal data in a warehouse: personal column names, and personal values taken from the lake."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from radlake import lake
from radlake.config import Settings

PERSONAL_NAMES = {
    "name",
    "patient_name",
    "mrn",
    "patient_id",
    "id_number",
    "phone",
    "address",
    "birth_date",
    "patient_birth_date",
    "record_id",
}

# Lake columns that hold personal values (table → columns); CDC patient tables are found by name.
_SOURCES = {
    "silver/exams": ("mrn", "patient_id"),
    "silver/patient_master": ("record_id", "mrn"),
    "bronze/dicom_instances": ("patient_name", "patient_id"),
}
_CDC_PATIENT_COLUMNS = ("name", "mrn", "patient_id", "id_number", "phone", "address")


def personal_values(settings: Settings) -> set[str]:
    """Every personal value the lake holds (names, mrns, patient ids, ID numbers, phones, addresses)."""
    tables = dict(_SOURCES)
    silver = Path(settings.lake) / "silver"
    if silver.is_dir():
        for folder in silver.iterdir():
            if folder.name.endswith("__patients"):
                tables[f"silver/{folder.name}"] = _CDC_PATIENT_COLUMNS
    values: set[str] = set()
    for table, columns in tables.items():
        data = lake.read_arrow(settings, f"{settings.lake}/{table}")
        if data is None:
            continue
        for column in columns:
            if column in data.column_names:
                values |= {str(v).strip() for v in data.column(column).to_pylist() if v is not None and str(v).strip()}
    return values


def find_personal_data(warehouse: str, values: set[str]) -> list[str]:
    """Columns of every table that are named like personal data or hold a personal value.

    Long values (8 characters and more: ID numbers, phones, most mrns) are searched inside every text cell;
    shorter ones (a two-character name, a small numeric id) must equal a whole cell, which keeps
    "1000" from matching inside a 14-digit exam code.
    """
    long_values = [v for v in values if len(v) >= 8]
    short_values = {v for v in values if len(v) < 8}
    findings = []
    with duckdb.connect(warehouse, read_only=True) as con:
        columns = con.execute(
            "select table_name, column_name, data_type from information_schema.columns where table_schema = 'main'"
        ).fetchall()
        for table, column, data_type in columns:
            if column.lower() in PERSONAL_NAMES:
                findings.append(f"{table}.{column}: personal column name")
                continue
            if "VARCHAR" not in data_type:
                continue
            cells = {
                str(r[0])
                for r in con.execute(f'select distinct cast("{column}" as varchar) from "{table}"').fetchall()
                if r[0] is not None
            }
            hits = cells & short_values
            hits |= {v for v in long_values for cell in cells if v in cell}
            if hits:
                findings.append(f"{table}.{column}: {len(hits)} personal value(s)")
    return findings


# Identifiers by their shape, wherever a clerk typed them: resident IDs (18 or 15 digits) and mobile numbers.
_IDENTIFIER_SHAPES = {
    "resident id": re.compile(r"(?<!\d)\d{17}[\dXx](?![\dA-Za-z])|(?<!\d)\d{15}(?!\d)"),
    "mobile number": re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)"),
}


def find_identifier_shapes(warehouse: str) -> list[str]:
    """Text cells of every table that hold something shaped like a resident ID or a mobile number.

    Keyed pseudonyms (columns ending in ``_key``: 16 hex digits) are left out: a key of digits only is chance.
    """
    findings = []
    with duckdb.connect(warehouse, read_only=True) as con:
        columns = con.execute(
            "select table_name, column_name from information_schema.columns "
            "where table_schema = 'main' and data_type like '%VARCHAR%'"
        ).fetchall()
        for table, column in columns:
            if column.endswith("_key"):
                continue
            for (cell,) in con.execute(f'select distinct cast("{column}" as varchar) from "{table}"').fetchall():
                for kind, shape in _IDENTIFIER_SHAPES.items():
                    if cell is not None and shape.search(cell):
                        findings.append(f"{table}.{column}: a {kind}")
    return findings
