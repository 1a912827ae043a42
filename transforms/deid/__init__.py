"""De-identification (DICOM PS3.15 Annex E).

One engine, keyed per project: the research export, routing and the research spaces of the data services all
rewrite data sets with the Annex E table and a project's options (:func:`deidentify`); the services' QIDO
answers and headers go through it as data sets built from DICOM JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from radlake.faces import lazy_face

if TYPE_CHECKING:
    from transforms.deid.dataset import METHOD, DeidPolicy, deidentify
    from transforms.deid.keys import date_shift_days, keyed_patient_id, keyed_uid, project_key
    from transforms.deid.profile import OPTIONS, action_for

__all__ = [
    "METHOD",
    "OPTIONS",
    "DeidPolicy",
    "action_for",
    "date_shift_days",
    "deidentify",
    "keyed_patient_id",
    "keyed_uid",
    "project_key",
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
        "keyed_patient_id": "keys",
        "keyed_uid": "keys",
        "project_key": "keys",
    },
)
