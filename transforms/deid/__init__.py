"""De-identification (DICOM PS3.15 Annex E).

Two faces, one key: the research export and routing rewrite whole data sets with the Annex E table and a
project's options (:func:`deidentify`, keyed per project); the research spaces of the data services answer with
pseudonymous UIDs and allow-listed attributes (:func:`deidentify_json`, keyed by the site key).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from radlake.faces import lazy_face

if TYPE_CHECKING:
    from transforms.deid.attributes import deidentify_dataset, deidentify_json, rule_for
    from transforms.deid.dataset import METHOD, DeidPolicy, deidentify
    from transforms.deid.keys import date_shift_days, keyed_patient_id, keyed_uid, project_key
    from transforms.deid.profile import OPTIONS, action_for
    from transforms.deid.uids import pseudo_uid

__all__ = [
    "METHOD",
    "OPTIONS",
    "DeidPolicy",
    "action_for",
    "date_shift_days",
    "deidentify",
    "deidentify_dataset",
    "deidentify_json",
    "keyed_patient_id",
    "keyed_uid",
    "project_key",
    "pseudo_uid",
    "rule_for",
]

__getattr__ = lazy_face(
    __name__,
    {
        "DeidPolicy": "dataset",
        "METHOD": "dataset",
        "OPTIONS": "profile",
        "action_for": "profile",
        "date_shift_days": "keys",
        "deidentify": "dataset",
        "deidentify_dataset": "attributes",
        "deidentify_json": "attributes",
        "keyed_patient_id": "keys",
        "keyed_uid": "keys",
        "project_key": "keys",
        "pseudo_uid": "uids",
        "rule_for": "attributes",
    },
)
