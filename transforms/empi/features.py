"""Patient records → the normalised comparison columns linkage works on (one row per record).

Input columns (any may be missing or empty except ``record_id``): ``record_id``, ``source_system``, ``mrn``,
``name``, ``sex``, ``birth_date``, ``id_number``, ``phone``, ``address``.

Output columns (:data:`FEATURE_COLUMNS`; missing values are ``None``, never ``""``):

=================  ===================================================================================
record_id          the input key
source_system      institution code
name_norm          name without spaces; Chinese characters, or lowercase pinyin words
surname, given     Chinese surname and given name (``None`` for pinyin-only names)
surname_py         toneless pinyin of the surname (``zhang``; 曾 → ``zeng``)
given_py           toneless pinyin of the given name, no spaces (``xiaoming``)
name_py            ``surname_py || given_py``: equal for homophones, traditional and pinyin spellings
sex                ``M``/``F``
birth_date         ``YYYY-MM-DD``; a trusted ID number's date when there is one
birth_year         int
birth_month        int
birth_day          int
id18               the record's valid 18-digit ID number (15-digit ones converted) when its birth date
                   and sex agree with the record: such a number identifies the person
id_text            ``id18``, or the cleaned text of an invalid number (typos still compare)
phone_norm         the phone normalised (11-digit mobile or landline with area code), ``""`` when unreadable
phone              ``phone_norm``, but placeholders shared by many records dropped
phone_household    1 when the phone's records look like several persons (birth years a generation apart,
                   or different given names born the same day: parent and child, twins), else 0
address            normalised address (from the district on)
fingerprint        64-bit hash of the record's input columns (an unchanged record keeps its features)
=================  ===================================================================================
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from transforms.empi.birth_dates import GENERATION_YEARS, birth_dates_consistent_frame
from transforms.empi.contact import normalize_address, normalize_phone
from transforms.empi.id_number import parse_id_numbers
from transforms.empi.names import normalize_name, parse_name

__all__ = ["FEATURE_COLUMNS", "INPUT_COLUMNS", "parse_birth_date", "record_features"]

INPUT_COLUMNS = ("record_id", "source_system", "mrn", "name", "sex", "birth_date", "id_number", "phone", "address")
FEATURE_COLUMNS = (
    "record_id", "source_system", "name_norm", "surname", "given", "surname_py", "given_py", "name_py", "sex",
    "birth_date", "birth_year", "birth_month", "birth_day", "id18", "id_text", "phone_norm", "phone",
    "phone_household", "address", "fingerprint",
)  # fmt: skip

_DATE = re.compile(r"^\s*(\d{4})[-/.年]?(\d{1,2})[-/.月]?(\d{1,2})日?(?:[ T].*)?$")
_SEX = {"M": "M", "MALE": "M", "男": "M", "1": "M", "F": "F", "FEMALE": "F", "女": "F", "2": "F"}


def parse_birth_date(value: object) -> dt.date | None:
    """Read a birth date written as a date, a timestamp or text (``1980-01-02``, ``19800102``, ``1980年1月2日``).

    Parameters
    ----------
    value
        The raw value.

    Returns
    -------
    datetime.date or None
        ``None`` for empty or impossible dates (1880 or earlier is taken as a placeholder).
    """
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value if value.year > 1880 else None
    match = _DATE.match(str(value))
    if not match:
        return None
    try:
        parsed = dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None
    return parsed if parsed.year > 1880 else None


def _map_unique(series: pd.Series, func: Callable[[Any], Any]) -> np.ndarray:
    # Names, dates and phones repeat a lot: compute once per distinct value.
    codes, uniques = pd.factorize(series.astype(object), use_na_sentinel=True)
    results = [func(v) for v in uniques.tolist()]
    results.append(func(None))  # code -1: missing
    lookup = np.empty(len(results), dtype=object)
    lookup[:] = results
    return lookup[codes]


def _column(records: pd.DataFrame, name: str) -> pd.Series:
    if name in records.columns:
        return records[name]
    return pd.Series([None] * len(records), index=records.index, dtype=object)


def _sex(value: object) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return _SEX.get(str(value).strip().upper())


def _household_phones(out: pd.DataFrame, phone: np.ndarray) -> np.ndarray:
    """1 for records whose phone (as integer codes, -1: none) several persons share (a generation apart, or
    twins), 0 otherwise."""
    known = phone >= 0
    if not known.any():
        return np.zeros(len(out), dtype=np.int64)
    # Integer codes: grouping on them is many times quicker than on the text.
    frame = pd.DataFrame(
        {
            "phone": phone,
            "year": out["birth_year"].to_numpy(dtype="float64", na_value=np.nan),
            "date": pd.factorize(out["birth_date"].to_numpy(dtype=object))[0],
            "given": pd.factorize(out["given_py"].to_numpy(dtype=object))[0],
        }
    )[known]
    by_phone = frame.groupby("phone")["year"]
    span = (by_phone.transform("max") - by_phone.transform("min")).fillna(0)
    household = frame["phone"][span.to_numpy() >= GENERATION_YEARS]
    named = frame[(frame["date"] >= 0) & (frame["given"] >= 0)]
    twins = named.groupby(["phone", "date"])["given"].transform("nunique") > 1
    shared = np.union1d(household.unique(), named["phone"][twins.to_numpy()].unique())
    return np.isin(phone, shared).astype(np.int64)


def record_features(
    records: pd.DataFrame, *, max_phone_records: int = 30, previous: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Compute the comparison columns of patient records.

    Parameters
    ----------
    records
        One row per record with a unique ``record_id`` (see the module docstring for columns).
    max_phone_records
        A phone number on more records than this is a placeholder (a ward's or a registration desk's
        number) and is dropped: it says nothing about identity.
    previous
        The features of an earlier run: records whose input is unchanged (same ``fingerprint``) take their
        per-record columns from it instead of parsing names, dates, IDs and addresses again. The columns that
        depend on the whole registry (placeholder phones, household phones) are always recomputed.

    Returns
    -------
    pandas.DataFrame
        :data:`FEATURE_COLUMNS`, in the input's row order, with a fresh ``RangeIndex``.

    Raises
    ------
    ValueError
        If ``record_id`` is missing, empty or not unique.
    """
    if "record_id" not in records.columns:
        raise ValueError("patient records need a record_id column")
    record_id = records["record_id"].astype(object)
    if record_id.isna().any() or (record_id.astype(str).str.strip() == "").any():
        row = int(record_id.reset_index(drop=True).isna().to_numpy().argmax())
        raise ValueError(f"record_id is empty in row {row + 1}")
    duplicated = record_id.duplicated()
    if duplicated.any():
        raise ValueError(f"record_id {record_id[duplicated].iloc[0]!r} occurs more than once")
    records = records.reset_index(drop=True)
    fingerprint = _fingerprints(records)
    if previous is not None and len(previous) and "fingerprint" in previous.columns:
        ids = records["record_id"].astype(str).to_numpy(dtype=object)
        before = previous["record_id"].to_numpy(dtype=object)
        if len(ids) >= len(before) and np.array_equal(ids[: len(before)], before):
            at = np.r_[np.arange(len(before)), np.full(len(ids) - len(before), np.nan)]  # the usual case: appended
        else:
            at = pd.Series(np.arange(len(before)), index=before).reindex(ids).to_numpy()
        found = ~np.isnan(at)
        reuse = np.zeros(len(records), dtype=bool)
        reuse[found] = previous["fingerprint"].to_numpy()[at[found].astype(np.int64)] == fingerprint[found]
        if reuse.any():
            fresh = _per_record(records[~reuse], fingerprint[~reuse])
            columns = list(fresh.columns)
            if reuse[: len(before)].all() and not reuse[len(before) :].any():  # nothing changed, only appended
                return _registry_columns(pd.concat([previous[columns], fresh], ignore_index=True), max_phone_records)
            kept = previous.iloc[at[reuse].astype(np.int64)][columns]
            out = pd.concat([kept.set_axis(np.flatnonzero(reuse)), fresh.set_axis(np.flatnonzero(~reuse))])
            return _registry_columns(out.sort_index().reset_index(drop=True), max_phone_records)
    return _registry_columns(_per_record(records, fingerprint), max_phone_records)


def _fingerprints(records: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each record's input columns: equal input, equal hash (a changed record is re-read).

    ``record_id`` (the key the hash is looked up by) and ``mrn`` (part of it) are left out: hashing a million
    distinct values of each would cost more than the rest together.
    """
    present = [c for c in INPUT_COLUMNS if c in records.columns and c not in ("record_id", "mrn")]
    # Hashed as they are (pandas hashes each distinct value once); a column of mixed types hashes as text.
    return pd.util.hash_pandas_object(records[present], index=False).to_numpy(dtype=np.uint64).astype(np.int64)


def _registry_columns(out: pd.DataFrame, max_phone_records: int) -> pd.DataFrame:
    """The columns that depend on every record: phones many share are placeholders; household phones."""
    codes, uniques = pd.factorize(out["phone_norm"].to_numpy(dtype=object))
    usable = (np.asarray(uniques, dtype=object) != "") & (
        np.bincount(codes[codes >= 0], minlength=len(uniques)) <= max_phone_records
    )
    codes = np.where((codes >= 0) & usable[np.maximum(codes, 0)], codes, -1)
    out["phone"] = np.where(codes >= 0, out["phone_norm"].to_numpy(dtype=object), None)
    out["phone_household"] = _household_phones(out, codes)
    return out[list(FEATURE_COLUMNS)]


def _per_record(records: pd.DataFrame, fingerprint: np.ndarray) -> pd.DataFrame:
    """The columns that depend on a record alone (the expensive parsing)."""
    records = records.reset_index(drop=True)
    out = pd.DataFrame({"record_id": records["record_id"].astype(str).to_numpy(), "fingerprint": fingerprint})
    out["source_system"] = _column(records, "source_system").astype(object).where(lambda s: s.notna(), None)

    name_norm = _map_unique(_column(records, "name"), normalize_name)
    codes, uniques = pd.factorize(name_norm)
    parts = [parse_name(u) for u in uniques.tolist()]
    out["name_norm"] = name_norm
    for i, column in enumerate(("surname", "given", "surname_py", "given_py")):
        values = np.array([p[i] for p in parts] + [""], dtype=object)
        out[column] = values[codes]
    out["name_py"] = out["surname_py"] + out["given_py"]
    out["sex"] = _map_unique(_column(records, "sex"), _sex)

    typed = pd.Series(_map_unique(_column(records, "birth_date"), parse_birth_date), dtype=object)
    id_raw = _column(records, "id_number")
    id_codes, id_uniques = pd.factorize(id_raw.astype(object), use_na_sentinel=True)
    parsed = parse_id_numbers([*id_uniques.tolist(), None])
    pick = np.where(id_codes < 0, len(id_uniques), id_codes)
    id_number = parsed["number"].to_numpy()[pick]
    id_birth = parsed["birth_date"].to_numpy()[pick]
    id_sex = parsed["sex"].to_numpy()[pick]
    id_text = parsed["text"].to_numpy()[pick]
    # A valid number is trusted when the record's own birth date and sex agree with it (a typo allowed);
    # one that contradicts its record (a child registered under a parent's card) is no evidence at all.
    # Dates typed with both month and day wrong still fall in the ID's year; a child on a parent's card never does.
    typed_ts = pd.to_datetime(typed, errors="coerce")
    id_ts = pd.to_datetime(pd.Series(id_birth, dtype=object), errors="coerce")
    typed_parts = pd.DataFrame({"year": typed_ts.dt.year, "month": typed_ts.dt.month, "day": typed_ts.dt.day})
    id_parts = pd.DataFrame({"year": id_ts.dt.year, "month": id_ts.dt.month, "day": id_ts.dt.day})
    birth_ok = birth_dates_consistent_frame(typed_parts, id_parts) | (typed_parts["year"] == id_parts["year"])
    sex_ok = pd.isna(out["sex"]) | (out["sex"].to_numpy() == id_sex)
    valid = pd.notna(id_number)
    trusted = valid & np.asarray(birth_ok) & np.asarray(sex_ok)
    out["id18"] = np.where(trusted, id_number, None)
    # Invalid numbers keep their text, so a typo still compares close to the true number.
    long_enough = pd.Series(id_text, dtype=object).str.len().fillna(0).to_numpy() >= 15
    out["id_text"] = np.where(trusted, id_number, np.where(~valid & long_enough, id_text, None))
    # A trusted number's date wins: it was read off an ID card, the record's own date was typed.
    birth_ts = id_ts.where(pd.Series(trusted), typed_ts)
    out["birth_date"] = birth_ts.dt.strftime("%Y-%m-%d").where(birth_ts.notna(), None)
    out["birth_year"] = birth_ts.dt.year.astype("Int64")
    out["birth_month"] = birth_ts.dt.month.astype("Int64")
    out["birth_day"] = birth_ts.dt.day.astype("Int64")

    out["phone_norm"] = _map_unique(_column(records, "phone"), normalize_phone)
    out["address"] = _map_unique(_column(records, "address"), normalize_address)

    for col in ("name_norm", "surname", "given", "surname_py", "given_py", "name_py", "address", "id_text"):
        out[col] = out[col].where(out[col].notna() & (out[col] != ""), None)
    return out[[c for c in FEATURE_COLUMNS if c not in ("phone", "phone_household")]]
