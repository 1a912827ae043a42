"""De-identified spaces answer through the research export's engine: its profile, options and project keys.

A de-identified space is de-identified for one project: its cohort's name when it is bound to a cohort (then
the cohort rule's export options, safe private list and burned-in rule apply, so a UID, date or attribute the
space serves is the one ``radlake export`` writes for that instance), else the space's own name with the
export's default options. The patient key (date offset, pseudonymous Patient ID) is the cohort build's
``patient_key``; a space without a cohort keys patients as ``<institution>:<patient id>``.

What a client may match follows the same profile: an attribute the profile keeps is matched as stored, a
replaced UID or Patient ID through its keyed value, a shifted Study Date on the shifted date; anything the
profile removes, empties or cleans cannot be matched (400), so a search never reveals a value the answers hide.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset

from radlake.config import Settings
from radlake.errors import ConfigError
from radlake.pseudonym import load_key
from services.dicomweb.keys import MatchKey
from services.errors import ServiceError
from transforms.deid import DeidPolicy, action_for, date_shift_days, deidentify, keyed_patient_id, keyed_uid
from transforms.deid import project_key as make_project_key
from transforms.export import burned_in_reason, export_instance

log = logging.getLogger(__name__)

PATIENT_ID = "00100020"
STUDY_DATE_COLUMN = "st.study_date"
UID_COLUMNS = {  # the real UID column → (its table, the table's UID column, the keyed column's stem)
    "st.study_instance_uid": ("studies", "study_instance_uid", "study_p"),
    "se.series_instance_uid": ("series", "series_instance_uid", "series_p"),
    "i.sop_instance_uid": ("instances", "sop_instance_uid", "sop_p"),
}


@dataclass(frozen=True)
class SpaceDeid:
    """How one de-identified space is de-identified: the export policy of its project.

    ``suffix`` names the space's keyed columns in the loaded index (``study_p_1``, ``patient_id_p_1``, ...).
    """

    project: str
    policy: DeidPolicy
    allow_burned_in: bool
    suffix: str

    @property
    def shifts_dates(self) -> bool:
        """Whether the profile moves Study Date by the patient's keyed offset (else kept, or removed)."""
        return action_for(0x00080020, self.policy.options) == "C"

    def uid(self, uid: str) -> str:
        """The keyed UID the export writes for a real UID."""
        return keyed_uid(self.policy.key, uid)

    def patient_id(self, patient_key: str) -> str:
        """The pseudonymous Patient ID (and Patient Name) the export writes for a patient."""
        return keyed_patient_id(self.policy.key, patient_key)

    def shift_days(self, patient_key: str) -> int:
        """Days added to the patient's dates (0 when the profile keeps or removes dates)."""
        return date_shift_days(self.policy.key, patient_key) if self.shifts_dates else 0

    def column(self, stem: str) -> str:
        """The name of this space's keyed column ``stem`` (``study_p`` → ``study_p_1``)."""
        return f"{stem}{self.suffix}"

    def match_column(self, key: MatchKey) -> str:
        """The index column a matching key is compared with in this space.

        Raises
        ------
        ServiceError
            400 when the profile removes, empties or cleans the attribute (no value to match against).
        """
        if key.path == PATIENT_ID:
            return "st." + self.column("patient_id_p")
        action = action_for(int(key.path.split(".")[0], 16), self.policy.options)
        if action is None or action == "K":
            return key.column
        if action == "C" and key.column == STUDY_DATE_COLUMN:
            return "st." + self.column("study_date_p")
        if action == "C" and key.kind == "time":
            return key.column  # the profile's cleaning moves dates, never times of day
        raise ServiceError(400, f"{key.keyword} cannot be matched in a de-identified space (the profile hides it)")

    def dataset_json(self, dataset: dict[str, Any], patient_key: str) -> dict[str, Any]:
        """A DICOM JSON header de-identified by the export's engine (the same values its files carry)."""
        ds = Dataset.from_json(dataset)
        deidentify(ds, self.policy, patient_key)
        return ds.to_json_dict()  # type: ignore[no-any-return]

    def file_bytes(self, data: bytes, patient_key: str) -> bytes:
        """A stored file as the export writes it (bytes already checked against the landed checksum).

        Raises
        ------
        ServiceError
            403 when the export would quarantine it (burned-in text and the project does not allow it), 500
            when it cannot be de-identified.
        """
        out = export_instance(data, None, self.policy, patient_key, allow_burned_in=self.allow_burned_in)
        if out.outcome == "quarantined":
            raise ServiceError(403, f"this instance is withheld from de-identified spaces: {out.reason}")
        if out.data is None:
            raise ServiceError(500, "this instance cannot be de-identified")
        return out.data

    def check_pixels(self, ds: Dataset) -> None:
        """Refuse (403) pixels the export would quarantine: burned-in text the project does not allow."""
        reason = None if self.allow_burned_in else burned_in_reason(ds)
        if reason:
            raise ServiceError(403, f"this instance's pixels are withheld from de-identified spaces: {reason}")


def space_deids(settings: Settings) -> dict[str, SpaceDeid]:
    """The de-identification of every de-identified space that can be served (see the module docstring).

    A space whose key or cohort rule cannot be read is left out and logged: its requests get 503, the other
    spaces are served.
    """
    from transforms.cohorts import ExportPolicy, load_cohort

    names = [n for n, s in settings.spaces.items() if not s.identified]
    if not names:
        return {}
    try:
        site_key = load_key(settings)
    except ConfigError as exc:
        log.warning("de-identified spaces cannot be served: %s", exc)
        return {}
    out: dict[str, SpaceDeid] = {}
    for n, name in enumerate(names, start=1):
        cohort = settings.spaces[name].cohort
        try:
            export = load_cohort(settings, cohort).export if cohort else ExportPolicy()
        except ConfigError as exc:
            log.warning("space %s cannot be served: %s", name, exc)
            continue
        project = cohort or name
        policy = DeidPolicy(
            key=make_project_key(site_key, project),
            options=frozenset(export.options),
            safe_private=export.safe_private_triples(),
        )
        out[name] = SpaceDeid(project, policy, export.allow_burned_in, f"_{n}")
    return out
