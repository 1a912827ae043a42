"""De-identification (DICOM PS3.15 Annex E): the one implementation the research export and routing share."""

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
