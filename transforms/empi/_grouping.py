"""Group rows into Python lists fast (pandas' ``groupby().agg(list)`` runs Python per group)."""

from __future__ import annotations

import numpy as np

__all__ = ["lists_by_key"]


def lists_by_key(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, list[list[object]]]:
    """Split ``values`` into one list per distinct key, keys sorted, values in their input order.

    Parameters
    ----------
    keys, values
        Arrays of equal length.

    Returns
    -------
    tuple
        The sorted distinct keys and, for each, the list of its values.
    """
    if len(keys) == 0:
        return keys[:0], []
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], len(sorted_keys)]
    as_list = sorted_values.tolist()
    return sorted_keys[starts], [as_list[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]
