"""The golden record: one row per person (empi_id) with the best-supported value of each attribute.

``silver/patient_golden`` columns:

==============  ===========================================================================================
empi_id         the person
name            the commonest name written in Chinese characters among the person's records (pinyin in
                DICOM form, ``ZHANG^WEI``, when no record has characters)
sex             the commonest sex (``M``/``F``)
birth_date      the trusted ID number's birth date if there is one, else the commonest birth date
id_number       the commonest trusted 18-digit ID number
phones          distinct normalised phone numbers, commonest first
source_records  the record_ids linked to the person, sorted
updated_at      the latest ``linked_at`` of its records
==============  ===========================================================================================
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from radlake import catalog
from transforms.empi._grouping import lists_by_key
from transforms.empi.names import dicom_pinyin

__all__ = ["GOLDEN_COLUMNS", "build_golden"]

GOLDEN_COLUMNS: tuple[str, ...] = tuple(catalog.schemas.PATIENT_GOLDEN.names)


def _value_counts(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Count the distinct non-null (key, value) pairs.

    Returns ``(key, value_code, count, first_position)`` arrays, one entry per pair; value codes index
    ``pd.factorize(values)[1]``.
    """
    codes, _ = pd.factorize(values, use_na_sentinel=True)
    present = np.flatnonzero(codes >= 0)
    width = int(codes.max()) + 1 if len(present) else 1
    combo = keys[present].astype(np.int64) * width + codes[present]
    unique, first, counts = np.unique(combo, return_index=True, return_counts=True)
    return unique // width, unique % width, counts, present[first]


def _commonest(keys: np.ndarray, n_keys: int, values: np.ndarray, prefer: np.ndarray | None = None) -> np.ndarray:
    """The commonest non-null value per key 0..n_keys-1 (ties: preferred rows, then the first seen); else None."""
    out = np.full(n_keys, None, dtype=object)
    if len(values) == 0:
        return out
    uniques = pd.factorize(values, use_na_sentinel=True)[1]
    key, code, count, first = _value_counts(keys, values)
    if len(key) == 0:
        return out
    preferred = prefer[first].astype(np.int8) if prefer is not None else np.zeros(len(key), dtype=np.int8)
    order = np.lexsort((first, -count, -preferred, key))
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    out[sorted_key[starts]] = np.asarray(uniques, dtype=object)[code[order][starts]]
    return out


def _ordered_lists(keys: np.ndarray, n_keys: int, values: np.ndarray, rank: np.ndarray) -> list[list[object]]:
    """Per key, its values ordered by ``rank`` (ascending); empty lists for keys without values."""
    out: list[list[object]] = [[] for _ in range(n_keys)]
    order = np.lexsort((rank, keys))
    found, lists = lists_by_key(keys[order], values[order])
    for k, items in zip(found.tolist(), lists, strict=True):
        out[k] = items
    return out


def build_golden(features: pd.DataFrame, master: pd.DataFrame) -> pd.DataFrame:
    """Build the golden records of every person in the master.

    Parameters
    ----------
    features
        Feature frame of the records (:mod:`transforms.empi.features`).
    master
        ``silver/patient_master`` rows for the same records (``record_id``, ``empi_id``, ``linked_at``).

    Returns
    -------
    pandas.DataFrame
        :data:`GOLDEN_COLUMNS`, one row per empi_id, sorted by empi_id.
    """
    columns = ["record_id", "name_norm", "surname", "sex", "birth_date", "id18", "phone"]
    if np.array_equal(features["record_id"].to_numpy(), master["record_id"].to_numpy()):
        frame = features[columns].reset_index(drop=True)
        frame["empi_id"] = master["empi_id"].to_numpy()
        frame["linked_at"] = master["linked_at"].to_numpy()
    else:
        frame = features[columns].merge(
            master[["record_id", "empi_id", "linked_at"]], on="record_id", how="inner", validate="one_to_one"
        )
    keys, empi_ids = pd.factorize(frame["empi_id"], sort=True)
    n = len(empi_ids)
    chinese = frame["surname"].notna().to_numpy()
    name = _commonest(keys, n, frame["name_norm"].to_numpy(dtype=object), prefer=chinese)
    has_chinese = np.zeros(n, dtype=bool)
    has_chinese[keys[chinese]] = True
    name = np.array(
        [v if ok or not isinstance(v, str) else dicom_pinyin(v) for v, ok in zip(name, has_chinese, strict=True)],
        dtype=object,
    )
    id_number = _commonest(keys, n, frame["id18"].to_numpy(dtype=object))
    # A trusted number's birth date (digits 7-14) wins over the commonest typed date.
    from_id = pd.to_datetime(pd.Series(id_number, dtype=object).str[6:14], format="%Y%m%d", errors="coerce")
    typed = pd.to_datetime(
        pd.Series(_commonest(keys, n, frame["birth_date"].to_numpy(dtype=object)), dtype=object),
        format="%Y-%m-%d",
        errors="coerce",
    )
    birth = from_id.fillna(typed)
    phone_key, phone_code, phone_count, _ = _value_counts(keys, frame["phone"].to_numpy(dtype=object))
    phone_values = np.asarray(pd.factorize(frame["phone"].to_numpy(dtype=object))[1], dtype=object)
    phones = _ordered_lists(phone_key, n, phone_values[phone_code], -phone_count)
    record_rank = pd.factorize(frame["record_id"], sort=True)[0]
    records = _ordered_lists(keys, n, frame["record_id"].to_numpy(dtype=object), record_rank)
    # Grouped as a datetime column: .to_numpy() of a zoned column is an array of Python objects (slow).
    updated = frame["linked_at"].reset_index(drop=True).groupby(keys).max()
    golden = pd.DataFrame(
        {
            "empi_id": np.asarray(empi_ids, dtype=object),
            "name": name,
            "sex": _commonest(keys, n, frame["sex"].to_numpy(dtype=object)),
            "birth_date": np.where(birth.notna(), birth.dt.date.to_numpy(dtype=object), None),
            "id_number": id_number,
            "phones": phones,
            "source_records": records,
            "updated_at": updated.reindex(range(n)).to_numpy(),
        }
    )
    golden["updated_at"] = pd.to_datetime(golden["updated_at"], utc=True)
    return golden[list(GOLDEN_COLUMNS)]
